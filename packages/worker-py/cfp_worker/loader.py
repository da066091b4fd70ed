"""Finds and imports a project's Python step and stream files.

Discovery is the Node loader's (packages/worker/src/loader/discover.ts) with Python names: `*_step.py` /
`*.step.py` and `*_stream.py` / `*.stream.py` under `steps/` and `src/`, recursively, skipping `node_modules`,
dot-directories, `dist` and `__pycache__`.

Modules are imported as Motia 0.17 imports them: the project's parent directory is put on `sys.path` and a file
`<project>/steps/a/b_step.py` becomes the module `<project>.steps.a.b_step`, so relative imports between a
project's files (`from .services import x`) work. The project directory itself is appended to `sys.path` too
(lowest priority), so `from steps.shared import x` works as well.

A file that fails (syntax error, exception while importing, missing `config` or `handler`, invalid config,
unconvertible schema, duplicate name) becomes a `LoadError` naming the file, the line and the config key; the
other files still load.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from . import motia_shim
from .config import ConfigProblem, describe, to_json_schema, to_manifest, validate_config

SOURCE_DIRS = ("steps", "src")
STEP_RE = re.compile(r"(?:\.step|_step)\.py$")
STREAM_RE = re.compile(r"(?:\.stream|_stream)\.py$")
STREAM_KEYS = ("name", "schema", "baseConfig", "canAccess")


def is_ignored_dir(name: str) -> bool:
    return name in ("node_modules", "dist", "__pycache__") or name.startswith(".")


@dataclass
class LoadError:
    file: str
    code: str  # load_failed | missing_export | invalid_config | invalid_schema | duplicate_step
    message: str
    key: Optional[str] = None
    line: Optional[int] = None

    def data(self) -> dict:
        d: dict[str, Any] = {"file": self.file, "code": self.code}
        if self.key is not None:
            d["key"] = self.key
        if self.line is not None:
            d["line"] = self.line
        return d


@dataclass
class LoadedStep:
    manifest: dict
    config: dict
    handler: Optional[Callable]
    middleware: list
    path: str


@dataclass
class LoadedStream:
    manifest: dict
    config: dict
    path: str


@dataclass
class LoadResult:
    steps: list[LoadedStep] = field(default_factory=list)
    streams: list[LoadedStream] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)


def discover(root: str) -> tuple[list[str], list[str]]:
    """Absolute paths of the project's Python step and stream files, sorted."""
    steps: list[str] = []
    streams: list[str] = []
    for sub in SOURCE_DIRS:
        base = os.path.join(root, sub)
        if not os.path.isdir(base):
            continue
        for d, dirs, files in os.walk(base, followlinks=False):
            dirs[:] = [x for x in dirs if not is_ignored_dir(x)]
            for f in files:
                if STEP_RE.search(f):
                    steps.append(os.path.join(d, f))
                elif STREAM_RE.search(f):
                    streams.append(os.path.join(d, f))
    return sorted(steps), sorted(streams)


def has_python_steps(root: str) -> bool:
    steps, streams = discover(root)
    return bool(steps or streams)


def _rel(root: str, path: str) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")


def _module_name(root: str, path: str) -> str:
    parent = os.path.dirname(root)
    parts = os.path.relpath(path, parent).split(os.sep)
    stem = parts[-1][: -len(".py")]
    parts[-1] = stem.replace(".", "_")
    return ".".join(parts)


def _error_line(err: BaseException, path: str) -> Optional[int]:
    if isinstance(err, SyntaxError) and err.filename and os.path.abspath(err.filename) == path:
        return err.lineno
    line = None
    for frame in traceback.extract_tb(err.__traceback__):
        if frame.filename and os.path.abspath(frame.filename) == path:
            line = frame.lineno
    return line


def _import(root: str, path: str, file: str, errors: list[LoadError]) -> Optional[Any]:
    name = _module_name(root, path)
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load a module from {path}")
        module = importlib.util.module_from_spec(spec)
        module.__package__ = name.rsplit(".", 1)[0] if "." in name else ""
        sys.modules[name] = module
        with motia_shim.installed():
            spec.loader.exec_module(module)
        return module
    except BaseException as err:  # noqa: BLE001 - a step file may raise anything, even SystemExit
        if isinstance(err, KeyboardInterrupt):
            raise
        sys.modules.pop(name, None)
        line = _error_line(err, path)
        where = f"{file}:{line}" if line else file
        if isinstance(err, SyntaxError):
            what = f"syntax error: {err.msg}"
        else:
            what = f"raised {type(err).__name__} while importing: {err}"
        errors.append(LoadError(file, "load_failed", f"{where}: failed to load: {what}", line=line))
        return None


def _assignment_node(tree: ast.Module, name: str) -> Optional[ast.AST]:
    found = None
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            found = node
    return found


def key_line(path: str, var: str, key: Optional[str]) -> Optional[int]:
    """The line of `var = {...}` in a file, or of the dict entry at `key` (a dotted path) when it is a literal."""
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), path)
    except (OSError, SyntaxError, ValueError):
        return None
    node = _assignment_node(tree, var)
    if node is None:
        return None
    line = node.lineno
    value = getattr(node, "value", None)
    for part in re.findall(r"[^.\[\]]+", key or ""):
        if isinstance(value, ast.Dict):
            hit = next(
                ((k, v) for k, v in zip(value.keys, value.values) if isinstance(k, ast.Constant) and str(k.value) == part),
                None,
            )
            if hit is None:
                break
            line, value = hit[0].lineno, hit[1]
        elif isinstance(value, (ast.List, ast.Tuple)) and part.isdigit() and int(part) < len(value.elts):
            value = value.elts[int(part)]
            line = value.lineno
        else:
            break
    return line


def _problem(errors: list[LoadError], path: str, file: str, code: str, key: str, reason: str, var: str = "config") -> None:
    line = key_line(path, var, None if key == "config" else key)
    where = f"{file}:{line}" if line else file
    prefix = "config" if key == "config" else f"config.{key}"
    errors.append(LoadError(file, code, f"{where}: {prefix}: {reason}", key=key, line=line))


def _load_step(root: str, path: str, file: str, errors: list[LoadError]) -> Optional[LoadedStep]:
    module = _import(root, path, file, errors)
    if module is None:
        return None
    config = getattr(module, "config", None)
    if config is None:
        _problem(errors, path, file, "missing_export", "config", "the file defines no 'config' (expected config = {\"type\": ..., \"name\": ..., ...})")
        return None
    problems = validate_config(config)
    if problems:
        for pr in problems:
            code = "invalid_schema" if pr.reason.startswith(("must be a pydantic", "the schema is not JSON")) else "invalid_config"
            _problem(errors, path, file, code, pr.key, pr.reason)
        return None
    handler = getattr(module, "handler", None)
    if config["type"] != "noop" and not callable(handler):
        line = key_line(path, "handler", None)
        where = f"{file}:{line}" if line else file
        msg = f"{where}: defines no 'handler' function ({config['type']} step '{config['name']}' needs async def handler(...))"
        errors.append(LoadError(file, "missing_export", msg, key="handler", line=line))
        return None
    try:
        manifest = to_manifest(config, file)
    except ConfigProblem as err:
        _problem(errors, path, file, "invalid_schema", err.key, err.reason)
        return None
    except Exception as err:  # noqa: BLE001 - a pydantic model may fail to produce its schema
        _problem(errors, path, file, "invalid_schema", "config", f"a schema could not be converted: {type(err).__name__}: {err}")
        return None
    middleware = list(config.get("middleware") or []) if config["type"] == "api" else []
    return LoadedStep(manifest, config, handler if config["type"] != "noop" else None, middleware, path)


def _load_stream(root: str, path: str, file: str, errors: list[LoadError]) -> Optional[LoadedStream]:
    module = _import(root, path, file, errors)
    if module is None:
        return None
    config = getattr(module, "config", None)

    def fail(key: str, reason: str, code: str = "invalid_config") -> None:
        _problem(errors, path, file, code, key, reason)

    if not isinstance(config, dict):
        fail("config", "a stream file must define config = {\"name\", \"schema\", \"baseConfig\"}", "missing_export")
        return None
    unknown = next((k for k in config if k not in STREAM_KEYS), None)
    if unknown is not None:
        fail(unknown, f"unknown key '{unknown}' in a stream config; allowed keys: {', '.join(STREAM_KEYS)}")
        return None
    name = config.get("name")
    if not isinstance(name, str) or name == "":
        fail("name", f"must be a non-empty string, got {describe(name)}")
        return None
    can_access = config.get("canAccess")
    if can_access is not None and not callable(can_access):
        fail("canAccess", "must be a function (subscription, auth_context)")
        return None
    base = config.get("baseConfig")
    if not isinstance(base, dict) or base.get("storageType") not in ("default", "custom"):
        fail("baseConfig", "must be {\"storageType\": \"default\"} or {\"storageType\": \"custom\", ...}")
        return None
    manifest: dict[str, Any] = {"name": name, "file": file, "storageType": base["storageType"], "hasCanAccess": callable(can_access)}
    if config.get("schema") is not None:
        try:
            manifest["schema"] = to_json_schema(config["schema"], "schema")
        except ConfigProblem as err:
            fail("schema", err.reason, "invalid_schema")
            return None
    return LoadedStream(manifest, config, path)


def _prepare_path(root: str) -> None:
    parent = os.path.dirname(root)
    if parent not in sys.path:
        sys.path.insert(0, parent)
    if root not in sys.path:
        sys.path.append(root)


def load_project(root: str) -> LoadResult:
    """Imports every Python step and stream file of the project in `root`."""
    root = os.path.abspath(root)
    _prepare_path(root)
    step_files, stream_files = discover(root)
    result = LoadResult()
    by_name: dict[str, LoadedStep] = {}
    for path in step_files:
        file = _rel(root, path)
        step = _load_step(root, path, file, result.errors)
        if step is None:
            continue
        other = by_name.get(step.manifest["name"])
        if other is not None:
            _problem(
                result.errors,
                path,
                file,
                "duplicate_step",
                "name",
                f"a step named '{step.manifest['name']}' is already defined in {other.manifest['file']}; step names must be unique",
            )
            continue
        by_name[step.manifest["name"]] = step
        result.steps.append(step)
    for path in stream_files:
        stream = _load_stream(root, path, _rel(root, path), result.errors)
        if stream is not None:
            result.streams.append(stream)
    return result
