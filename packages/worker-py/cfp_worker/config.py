"""Strict validation of a Python step file's `config` dict (Motia's classic keys) and its `StepManifest`.

The rules are the Node worker's (packages/sdk/src/config.ts, config-infra.ts, cron.ts): strict keys per step
type, handler timeout 1-900 s, delay 0-900 s, visibility timeout above the handler timeout, HTTP method, path
parameters, cron expression, response status codes. Every problem names the config key. Schemas may be pydantic
model classes (converted with `model_json_schema()`), pydantic `TypeAdapter`s, or plain JSON Schema dicts.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any, Optional

from .webhook import manifest as webhook_manifest
from .webhook import problems as webhook_problems

STEP_TYPES = ("api", "event", "cron", "noop")
API_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD")
_COMMON = ["type", "name", "description", "flows", "virtualEmits", "virtualSubscribes"]
KEYS = {
    "api": _COMMON + ["path", "method", "emits", "middleware", "bodySchema", "responseSchema", "queryParams", "includeFiles", "webhook", "slo"],
    "event": _COMMON + ["subscribes", "emits", "input", "includeFiles", "infrastructure", "slo"],
    "cron": _COMMON + ["cron", "emits", "includeFiles", "slo"],
    "noop": _COMMON,
}
_CRON_FIELD = re.compile(r"^(\*|\?|[0-9A-Za-z]+(-[0-9A-Za-z]+)?|L|[0-9]+W|[0-9A-Za-z]+#[0-9]+)(/[0-9]+)?$")
_CRON_NAMES = ["minute", "hour", "day of month", "month", "day of week"]


class ConfigProblem(Exception):
    """One problem of a config, at `key` (a dotted path such as `infrastructure.queue.maxRetries`)."""

    def __init__(self, key: str, reason: str):
        super().__init__(f"config.{key}: {reason}")
        self.key = key
        self.reason = reason


def describe(v: Any) -> str:
    if v is None:
        return "None"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, str):
        return f"'{v}'"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "a list"
    if isinstance(v, dict):
        return "a dict"
    if callable(v):
        return "a function"
    return f"a {type(v).__name__}"


class _Problems:
    def __init__(self) -> None:
        self.items: list[ConfigProblem] = []

    def add(self, key: str, reason: str) -> None:
        self.items.append(ConfigProblem(key, reason))

    def keys(self, d: dict, allowed: list[str], what: str, prefix: str = "") -> None:
        for k in d:
            if k not in allowed:
                self.add(f"{prefix}{k}", f"unknown key '{k}' in {what}; allowed keys: {', '.join(allowed)}")


def _string_list(p: _Problems, v: Any, key: str, non_empty: bool = False) -> None:
    if not isinstance(v, (list, tuple)) or any(not isinstance(x, str) or x == "" for x in v):
        p.add(key, f"must be a list of non-empty strings, got {describe(v)}")
    elif non_empty and len(v) == 0:
        p.add(key, "must name at least one topic")


def _emit_list(p: _Problems, v: Any, key: str) -> None:
    if not isinstance(v, (list, tuple)):
        p.add(key, f"must be a list of topics (strings or {{topic, label?, conditional?}}), got {describe(v)}")
        return
    for i, e in enumerate(v):
        k = f"{key}[{i}]"
        if isinstance(e, str):
            if e == "":
                p.add(k, "must be a non-empty topic")
            continue
        if not isinstance(e, dict):
            p.add(k, f"must be a topic string or {{topic, label?, conditional?}}, got {describe(e)}")
            continue
        if not isinstance(e.get("topic"), str) or e.get("topic") == "":
            p.add(f"{k}.topic", f"must be a non-empty string, got {describe(e.get('topic'))}")
        if "label" in e and not isinstance(e["label"], str):
            p.add(f"{k}.label", f"must be a string, got {describe(e['label'])}")
        if "conditional" in e and not isinstance(e["conditional"], bool):
            p.add(f"{k}.conditional", f"must be a boolean, got {describe(e['conditional'])}")
        p.keys(e, ["topic", "label", "conditional"], "an emit entry", f"{k}.")


def cron_problem(expr: str) -> Optional[str]:
    fields = expr.split()
    if len(fields) not in (5, 6):
        return (
            f"cron expression '{expr}' has {len(fields)} field{'' if len(fields) == 1 else 's'}; expected 5 "
            "(minute hour day-of-month month day-of-week) or 6 (with seconds first)"
        )
    names = _CRON_NAMES if len(fields) == 5 else ["second"] + _CRON_NAMES
    for i, field in enumerate(fields):
        if any(not _CRON_FIELD.match(part) for part in field.split(",")):
            return f"cron expression '{expr}': the {names[i]} field '{field}' is not valid"
    return None


def _number(p: _Problems, v: Any, key: str, lo=None, hi=None, above=None, whole=False, unit="") -> bool:
    u = f" {unit}" if unit else ""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        p.add(key, f"must be a number{f' (in{u})' if unit else ''}, got {describe(v)}")
    elif whole and not float(v).is_integer():
        p.add(key, f"must be a whole number{' of seconds' if unit == 's' else ''}, got {v}")
    elif lo is not None and hi is not None and not (lo <= v <= hi):
        p.add(key, f"{v}{u} is out of range: must be between {lo} and {hi}{u}")
    elif lo is not None and v < lo:
        p.add(key, f"{v}{u} is too small: must be at least {lo}{u}")
    elif above is not None and v <= above:
        p.add(key, f"must be greater than {above}{u}, got {v}")
    else:
        return True
    return False


def _infrastructure(p: _Problems, infra: Any) -> None:
    if not isinstance(infra, dict):
        p.add("infrastructure", f"must be a dict {{handler?, queue?}}, got {describe(infra)}")
        return
    p.keys(infra, ["handler", "queue"], "infrastructure", "infrastructure.")
    timeout = None
    handler, queue = infra.get("handler"), infra.get("queue")
    if handler is not None:
        if not isinstance(handler, dict):
            p.add("infrastructure.handler", f"must be a dict {{ram?, cpu?, timeout?}}, got {describe(handler)}")
        else:
            p.keys(handler, ["ram", "cpu", "timeout"], "infrastructure.handler", "infrastructure.handler.")
            if "timeout" in handler and _number(p, handler["timeout"], "infrastructure.handler.timeout", 1, 900, whole=True, unit="s"):
                timeout = handler["timeout"]
            if "ram" in handler:
                _number(p, handler["ram"], "infrastructure.handler.ram", 128, 10240, unit="MB")
            if "cpu" in handler:
                _number(p, handler["cpu"], "infrastructure.handler.cpu", above=0, unit="vCPU")
    if queue is None:
        return
    if not isinstance(queue, dict):
        p.add("infrastructure.queue", f"must be a dict {{type?, maxRetries?, visibilityTimeout?, delaySeconds?, concurrency?}}, got {describe(queue)}")
        return
    q = "infrastructure.queue"
    p.keys(queue, ["type", "maxRetries", "visibilityTimeout", "delaySeconds", "concurrency"], q, f"{q}.")
    if "type" in queue and queue["type"] not in ("standard", "fifo"):
        p.add(f"{q}.type", f"{describe(queue['type'])} is not a queue type; use 'standard' or 'fifo'")
    if "maxRetries" in queue:
        _number(p, queue["maxRetries"], f"{q}.maxRetries", lo=0, whole=True)
    if "delaySeconds" in queue:
        _number(p, queue["delaySeconds"], f"{q}.delaySeconds", 0, 900, whole=True, unit="s")
    if "concurrency" in queue:
        _number(p, queue["concurrency"], f"{q}.concurrency", lo=1, whole=True)
    if "visibilityTimeout" in queue:
        ok = _number(p, queue["visibilityTimeout"], f"{q}.visibilityTimeout", above=0, whole=True, unit="s")
        if ok and timeout is not None and queue["visibilityTimeout"] <= timeout:
            p.add(
                f"{q}.visibilityTimeout",
                f"{queue['visibilityTimeout']} s must be greater than infrastructure.handler.timeout ({timeout} s), "
                "or a delivery is handed out again while its handler still runs",
            )


def to_json_schema(schema: Any, key: str) -> Any:
    """A pydantic model class, a pydantic TypeAdapter, or a JSON Schema dict/bool -> JSON Schema (a copy)."""
    if isinstance(schema, bool):
        return schema
    if isinstance(schema, type) and hasattr(schema, "model_json_schema"):
        out = schema.model_json_schema()
    elif not isinstance(schema, dict) and hasattr(schema, "json_schema") and callable(schema.json_schema):
        out = schema.json_schema()
    elif isinstance(schema, dict):
        out = copy.deepcopy(schema)
    else:
        raise ConfigProblem(key, f"must be a pydantic model class or a JSON Schema dict, got {describe(schema)}")
    try:
        json.dumps(out, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ConfigProblem(key, f"the schema is not JSON: {err}") from None
    return out


def _schema(p: _Problems, config: dict, key: str) -> None:
    v = config.get(key)
    if v is None:
        return
    try:
        to_json_schema(v, key)
    except ConfigProblem as err:
        p.items.append(err)


def _api(p: _Problems, config: dict) -> None:
    if config.get("webhook") is not None:
        for key, reason in webhook_problems(config["webhook"]):
            p.add(key, reason)
    path, method = config.get("path"), config.get("method")
    if not isinstance(path, str):
        p.add("path", f"must be a string such as '/todo/:id', got {describe(path)}")
    else:
        if not path.startswith("/"):
            p.add("path", f"'{path}' must start with '/'")
        params = re.findall(r":([^/]*)", path)
        bad = next((n for n in params if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n)), None)
        if bad is not None:
            p.add("path", f"'{path}' has an invalid path parameter ':{bad}' (use letters, digits and _)")
        dup = next((n for i, n in enumerate(params) if n in params[:i]), None)
        if dup is not None:
            p.add("path", f"'{path}' names the path parameter ':{dup}' twice")
    if not isinstance(method, str) or method.upper() not in API_METHODS:
        p.add("method", f"{describe(method)} is not an HTTP method; use one of {', '.join(API_METHODS)}")
    mw = config.get("middleware")
    if mw is not None:
        if not isinstance(mw, (list, tuple)):
            p.add("middleware", f"must be a list of functions, got {describe(mw)}")
        else:
            for i, m in enumerate(mw):
                if not callable(m):
                    p.add(f"middleware[{i}]", f"must be a function (req, context, next), got {describe(m)}")
    _schema(p, config, "bodySchema")
    rs = config.get("responseSchema")
    if rs is not None:
        if not isinstance(rs, dict):
            p.add("responseSchema", f"must map status codes to schemas, got {describe(rs)}")
        else:
            for status, schema in rs.items():
                try:
                    code = int(status)
                except (TypeError, ValueError):
                    code = -1
                if isinstance(status, bool) or not (100 <= code <= 599) or str(code) != str(status).strip():
                    p.add(f"responseSchema.{status}", f"'{status}' is not an HTTP status code (100-599)")
                if schema is None:
                    p.add(f"responseSchema.{status}", "must be a pydantic model or a JSON Schema dict")
                else:
                    try:
                        to_json_schema(schema, f"responseSchema.{status}")
                    except ConfigProblem as err:
                        p.items.append(err)
    qp = config.get("queryParams")
    if qp is not None:
        if not isinstance(qp, (list, tuple)):
            p.add("queryParams", f"must be a list of {{name, description}}, got {describe(qp)}")
        else:
            for i, q in enumerate(qp):
                if not isinstance(q, dict) or not isinstance(q.get("name"), str) or q.get("name") == "":
                    p.add(f"queryParams[{i}].name", "must be a non-empty string")
                elif "description" in q and not isinstance(q["description"], str):
                    p.add(f"queryParams[{i}].description", "must be a string")
                if isinstance(q, dict):
                    p.keys(q, ["name", "description"], "a query parameter", f"queryParams[{i}].")


def validate_config(config: Any) -> list[ConfigProblem]:
    """Every problem of a step config (an empty list when it is valid)."""
    p = _Problems()
    if not isinstance(config, dict):
        p.add("config", f"the config must be a dict, got {describe(config)}")
        return p.items
    stype = config.get("type")
    if stype not in STEP_TYPES:
        p.add("type", f"{'is missing' if stype is None else f'{describe(stype)} is not a step type'}; use one of 'api', 'event', 'cron', 'noop'")
        return p.items
    article = "an" if stype in ("api", "event") else "a"
    p.keys(config, KEYS[stype], f"{article} {stype} step config")
    name = config.get("name")
    if not isinstance(name, str) or name.strip() == "":
        p.add("name", "is required (a non-empty string)" if name is None else f"must be a non-empty string, got {describe(name)}")
    if "description" in config and not isinstance(config["description"], str):
        p.add("description", f"must be a string, got {describe(config['description'])}")
    if config.get("flows") is not None:
        _string_list(p, config["flows"], "flows")
    if config.get("virtualSubscribes") is not None:
        _string_list(p, config["virtualSubscribes"], "virtualSubscribes")
    if config.get("virtualEmits") is not None:
        _emit_list(p, config["virtualEmits"], "virtualEmits")
    if stype == "noop":
        for k in ("virtualEmits", "virtualSubscribes"):
            if config.get(k) is None:
                p.add(k, "is required for noop steps (use [] for none)")
    else:
        if config.get("emits") is None:
            p.add("emits", f"is required for {stype} steps (use [] to allow any topic)")
        else:
            _emit_list(p, config["emits"], "emits")
        if config.get("includeFiles") is not None:
            _string_list(p, config["includeFiles"], "includeFiles")
        if config.get("slo") is not None:
            # CFP extension, passed on as the Node worker does: the runtime checks it at registration
            try:
                json.dumps(config["slo"], allow_nan=False)
                if not isinstance(config["slo"], dict):
                    p.add("slo", f"must be a dict of objectives, got {describe(config['slo'])}")
            except (TypeError, ValueError) as err:
                p.add("slo", f"is not JSON: {err}")
    if stype == "api":
        _api(p, config)
    elif stype == "event":
        if config.get("subscribes") is None:
            p.add("subscribes", "is required for event steps: list the topics this step handles")
        else:
            _string_list(p, config["subscribes"], "subscribes", non_empty=True)
        _schema(p, config, "input")
        if config.get("infrastructure") is not None:
            _infrastructure(p, config["infrastructure"])
    elif stype == "cron":
        cron = config.get("cron")
        if not isinstance(cron, str):
            p.add("cron", f"must be a cron expression string, got {describe(cron)}")
        else:
            problem = cron_problem(cron)
            if problem:
                p.add("cron", problem)
    return p.items


def _emits(v: Any) -> list:
    return [e if isinstance(e, str) else {k: e[k] for k in ("topic", "label", "conditional") if k in e} for e in (v or [])]


def to_manifest(config: dict, file: str) -> dict:
    """The `StepManifest` of a validated config: only the fields of its type, schemas as JSON Schema."""
    stype = config["type"]
    m: dict[str, Any] = {"name": config["name"], "type": stype, "file": file}
    if config.get("description") is not None:
        m["description"] = config["description"]
    for k in ("flows", "virtualSubscribes"):
        if config.get(k) is not None:
            m[k] = list(config[k])
    if config.get("virtualEmits") is not None:
        m["virtualEmits"] = _emits(config["virtualEmits"])
    if stype == "api":
        m["path"] = config["path"]
        m["method"] = config["method"].upper()
        m["emits"] = _emits(config["emits"])
        if config.get("bodySchema") is not None:
            m["bodySchema"] = to_json_schema(config["bodySchema"], "bodySchema")
        if config.get("responseSchema") is not None:
            m["responseSchema"] = {str(int(k)): to_json_schema(v, f"responseSchema.{k}") for k, v in config["responseSchema"].items()}
        if config.get("queryParams") is not None:
            m["queryParams"] = [dict(q) for q in config["queryParams"]]
        if config.get("webhook") is not None:
            m["webhook"] = webhook_manifest(config["webhook"])
    elif stype == "event":
        m["subscribes"] = list(config["subscribes"])
        m["emits"] = _emits(config["emits"])
        if config.get("input") is not None:
            m["input"] = to_json_schema(config["input"], "input")
        if config.get("infrastructure") is not None:
            m["infrastructure"] = _whole(json.loads(json.dumps(config["infrastructure"])))
    elif stype == "cron":
        m["cron"] = config["cron"]
        m["emits"] = _emits(config["emits"])
    if stype != "noop" and config.get("slo") is not None:
        m["slo"] = _whole(json.loads(json.dumps(config["slo"])))
    return m


def _whole(v: Any) -> Any:
    """Durations and counts travel as integers (the runtime reads them as such): 30.0 becomes 30."""
    if isinstance(v, dict):
        return {k: _whole(x) for k, x in v.items()}
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def emit_topics(emits: Any) -> list[str]:
    return [e if isinstance(e, str) else e.get("topic") for e in (emits or [])]
