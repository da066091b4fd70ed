"""Frame validation for the worker protocol (docs/protocol.md).

`parse_frame(text)` validates what the runtime sends; `validate_worker_frame(value)` checks what the worker sends
(used by the tests, and by the worker before it sends a `register`). Both follow
`protocol/schema/worker-frames.schema.json` and are run against `protocol/vectors/worker-frames.json`, like the
Node worker's `frames.ts`. Unknown fields are ignored; an optional field that is `null` counts as absent.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Callable, Optional

PROTOCOL_VERSION = 1

Check = Callable[[Any, str], Optional[str]]


class FrameError(Exception):
    """A frame that is not JSON, not an object, of an unknown type or missing a field."""

    code = "bad_frame"


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def _any(_v: Any, _p: str) -> Optional[str]:
    return None


def s(min_length: int = 0, pattern: Optional[str] = None) -> Check:
    rx = re.compile(pattern) if pattern else None

    def check(v: Any, path: str) -> Optional[str]:
        if not isinstance(v, str):
            return f"{path} must be a string, got {_kind(v)}"
        if len(v) < min_length:
            return f"{path} must not be empty"
        if rx and not rx.search(v):
            return f"{path} does not match {pattern}"
        return None

    return check


def num(integer: bool = False, lo: Optional[float] = None, hi: Optional[float] = None) -> Check:
    def check(v: Any, path: str) -> Optional[str]:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not math.isfinite(v)):
            return f"{path} must be a number, got {_kind(v)}"
        if integer and not (isinstance(v, int) or float(v).is_integer()):
            return f"{path} must be an integer"
        if lo is not None and v < lo:
            return f"{path} must be >= {lo}"
        if hi is not None and v > hi:
            return f"{path} must be <= {hi}"
        return None

    return check


def integer(lo: Optional[float] = None, hi: Optional[float] = None) -> Check:
    return num(True, lo, hi)


def boolean(v: Any, path: str) -> Optional[str]:
    return None if isinstance(v, bool) else f"{path} must be a boolean, got {_kind(v)}"


def literal(*values: Any) -> Check:
    def check(v: Any, path: str) -> Optional[str]:
        if isinstance(v, str) and v in values:
            return None
        return f"{path} must be one of {', '.join(json.dumps(x) for x in values)}"

    return check


def arr(item: Check) -> Check:
    def check(v: Any, path: str) -> Optional[str]:
        if not isinstance(v, list):
            return f"{path} must be an array, got {_kind(v)}"
        for i, x in enumerate(v):
            e = item(x, f"{path}[{i}]")
            if e:
                return e
        return None

    return check


def obj(required: dict[str, Check], optional: Optional[dict[str, Check]] = None, extra: Optional[Check] = None) -> Check:
    optional = optional or {}

    def check(v: Any, path: str) -> Optional[str]:
        if not isinstance(v, dict):
            return f"{path} must be an object, got {_kind(v)}"
        for k, c in required.items():
            if k not in v:
                return f"{path}.{k} is required"
            e = c(v[k], f"{path}.{k}")
            if e:
                return e
        for k, c in optional.items():
            if v.get(k) is None:
                continue
            e = c(v[k], f"{path}.{k}")
            if e:
                return e
        return extra(v, path) if extra else None

    return check


def record(item: Check, key: Optional[str] = None) -> Check:
    rx = re.compile(key) if key else None

    def check(v: Any, path: str) -> Optional[str]:
        if not isinstance(v, dict):
            return f"{path} must be an object, got {_kind(v)}"
        for k, x in v.items():
            if rx and not rx.fullmatch(str(k)):
                return f"{path} has an invalid key '{k}'"
            e = item(x, f"{path}.{k}")
            if e:
                return e
        return None

    return check


def one_of(*checks: Check) -> Check:
    def check(v: Any, path: str) -> Optional[str]:
        errors = [c(v, path) for c in checks]
        return None if any(e is None for e in errors) else errors[0]

    return check


any_object = record(_any)
non_empty = s(1)
strings = arr(s())
string_or_strings = one_of(s(), strings)
json_schema_value = one_of(any_object, boolean)
emit_decl = one_of(non_empty, obj({"topic": non_empty}, {"label": s(), "conditional": boolean}))
emit = obj({"topic": non_empty, "data": _any}, {"messageGroupId": s()})

_NEEDS = {"api": ["path", "method"], "event": ["subscribes"], "cron": ["cron"]}


def _step_extra(v: Any, path: str) -> Optional[str]:
    for k in _NEEDS.get(v.get("type"), []):
        if k not in v:
            return f"{path}.{k} is required for {v.get('type')} steps"
    return None


step_manifest = obj(
    {"name": non_empty, "type": literal("api", "event", "cron", "noop"), "file": non_empty},
    {
        "description": s(),
        "flows": strings,
        "emits": arr(emit_decl),
        "virtualEmits": arr(emit_decl),
        "virtualSubscribes": strings,
        "path": s(pattern=r"^/"),
        "method": literal("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"),
        "bodySchema": json_schema_value,
        "responseSchema": record(json_schema_value, r"[1-5][0-9][0-9]"),
        "queryParams": arr(obj({"name": s()}, {"description": s()})),
        "subscribes": strings,
        "input": json_schema_value,
        "cron": s(),
        "webhook": obj(
            {"header": non_empty},
            {
                "algorithm": literal("sha256", "sha1", "sha512"),
                "encoding": literal("hex", "base64"),
                "prefix": s(),
                "timestampHeader": non_empty,
                "toleranceSeconds": integer(1),
            },
        ),
        "infrastructure": obj(
            {},
            {
                "handler": obj({}, {"ram": num(), "cpu": num(), "timeout": integer(1, 900)}),
                "queue": obj(
                    {},
                    {
                        "type": literal("standard", "fifo"),
                        "maxRetries": integer(0),
                        "visibilityTimeout": integer(1),
                        "delaySeconds": integer(0, 900),
                        "concurrency": integer(1),
                    },
                ),
            },
        ),
    },
    _step_extra,
)
stream_manifest = obj(
    {"name": non_empty, "file": s()},
    {"schema": json_schema_value, "storageType": literal("default", "custom"), "hasCanAccess": boolean},
)
log_entry = obj(
    {"ts": num(), "level": literal("debug", "info", "warn", "error"), "msg": s()},
    {"traceId": s(), "step": s(), "invocationId": s(), "data": any_object},
)

api_input = obj(
    {
        "method": s(),
        "path": s(),
        "pathParams": record(s()),
        "queryParams": record(string_or_strings),
        "headers": record(string_or_strings),
        "body": _any,
        "rawBody": s(),
    }
)
event_input = obj({"topic": s(), "data": _any, "eventId": s()}, {"messageGroupId": s()})
cron_input = obj({"scheduledAt": s()})
_INPUT_BY_TRIGGER = {"api": api_input, "event": event_input, "cron": cron_input}


def _invoke_extra(v: Any, path: str) -> Optional[str]:
    check = _INPUT_BY_TRIGGER.get(v.get("trigger"))
    return check(v.get("input"), f"{path}.input") if check else None


_SHA256 = r"^[0-9a-f]{64}$"


def _bounded(check: Check, most: int) -> Check:
    """`check`, and at most `most` items (arrays) or keys (objects)."""

    def bounded(v: Any, path: str) -> Optional[str]:
        if isinstance(v, (list, dict)) and len(v) > most:
            return f"{path} has more than {most} entries"
        return check(v, path)

    return bounded


def _bundles(v: Any, path: str) -> Optional[str]:
    if not isinstance(v, dict):
        return f"{path} must be an object, got {_kind(v)}"
    for k, x in v.items():
        if not re.search(_SHA256, k):
            return f"{path}: key {k!r} is not a sha256 (64 hex digits)"
        if not isinstance(x, str):
            return f"{path}.{k} must be a string, got {_kind(x)}"
    return None


# The workbench UI of a project (plugin tabs, *.step.tsx nodes; docs/workbench.md). The Python worker sends none,
# but it checks the protocol's frames as the other workers do (the shared vectors).
ui_manifest = obj(
    {
        "tabs": _bounded(
            arr(
                obj(
                    {"plugin": s(), "label": s(), "position": literal("top", "bottom"), "bundle": s(pattern=_SHA256)},
                    {"labelIcon": s(), "props": obj({})},
                )
            ),
            32,
        ),
        "nodes": _bounded(arr(obj({"step": s(1), "file": s(), "bundle": s(pattern=_SHA256)})), 32),
        "bundles": _bounded(_bundles, 32),
    }
)

_SPAN_ID = r"^[0-9a-f]{16}$"


def _span_attributes(v: Any, path: str) -> Optional[str]:
    if not isinstance(v, dict):
        return f"{path} must be an object, got {_kind(v)}"
    for k, x in v.items():
        if isinstance(x, bool) or isinstance(x, (str, int, float)):
            continue
        return f"{path}.{k} must be a string, number or boolean, got {_kind(x)}"
    return None


# A child span of step code (docs/tracing.md). The Python worker relays none yet; it checks the frame as the
# other workers do (the shared vectors).
child_span = obj(
    {"spanId": s(pattern=_SPAN_ID), "name": s(), "startMs": num(), "endMs": num()},
    {
        "parentSpanId": s(pattern=_SPAN_ID),
        "kind": literal("internal", "server", "client", "producer", "consumer"),
        "attributes": _span_attributes,
        "status": literal("unset", "ok", "error"),
        "statusMessage": s(),
    },
)

ping = obj({}, {"ts": num()})

WORKER_FRAMES: dict[str, Check] = {
    "hello": obj(
        {"protocol": integer(), "token": non_empty, "worker": obj({}, {"name": s(), "pid": integer(), "sdk": s(), "runtime": s()})},
        {"capacity": integer(1)},
    ),
    "register": obj({"steps": arr(step_manifest)}, {"streams": arr(stream_manifest), "ui": ui_manifest}),
    "spans": obj({"id": non_empty, "spans": arr(child_span)}),
    "result": obj(
        {"id": non_empty, "ok": boolean},
        {
            "output": _any,
            "emits": arr(emit),
            "error": obj({"message": s()}, {"name": s(), "stack": s(), "retriable": boolean, "retryAfterMs": num(lo=0)}),
            "durationMs": num(lo=0),
        },
    ),
    "log": obj({"entries": arr(log_entry)}),
    "call": obj({"id": integer(0), "method": non_empty, "params": any_object}, {"traceId": s(), "invocationId": s()}),
    "access_result": obj({"id": non_empty, "allowed": boolean}),
    "source_result": obj({"id": non_empty, "ok": boolean}, {"file": s(), "text": s(), "error": s()}),
    "ping": ping,
    "pong": ping,
    "drain": obj({}),
}

RUNTIME_FRAMES: dict[str, Check] = {
    "welcome": obj(
        {
            "protocol": integer(),
            "workerId": s(),
            "tenant": s(),
            "project": s(),
            "heartbeatMs": integer(0),
            "payloadThreshold": integer(0),
        }
    ),
    "registered": obj({"steps": strings, "errors": arr(obj({"step": s(), "file": s(), "code": s(), "message": s()}))}),
    "invoke": obj(
        {
            "id": non_empty,
            "step": non_empty,
            "trigger": literal("api", "event", "cron"),
            "attempt": integer(1),
            "traceId": s(),
            "idempotencyKey": s(),
            "timeoutMs": integer(0),
            "input": _any,
        },
        {},
        _invoke_extra,
    ),
    "reply": obj({"id": integer(0), "ok": boolean}, {"result": _any, "error": obj({"code": s(), "message": s()})}),
    "cancel": obj({"id": non_empty, "reason": s()}),
    "access": obj({"id": non_empty, "stream": non_empty, "groupId": s(), "authContext": any_object}, {"itemId": s()}),
    "source": obj({"id": non_empty, "step": non_empty}),
    "error": obj({"code": s(), "message": s()}),
    "ping": ping,
    "pong": ping,
    "drain": obj({}),
}


def _validate(value: Any, table: dict[str, Check], side: str) -> dict:
    if not isinstance(value, dict):
        raise FrameError(f"a frame must be a JSON object, got {'an array' if isinstance(value, list) else _kind(value)}")
    ftype = value.get("type")
    if not isinstance(ftype, str):
        raise FrameError('a frame needs a string "type"')
    check = table.get(ftype)
    if check is None:
        raise FrameError(f'unknown {side} frame type "{ftype}"')
    problem = check(value, ftype)
    if problem:
        raise FrameError(f'bad "{ftype}" frame: {problem}')
    return value


def parse_frame(text: str) -> dict:
    """Parses and validates a frame received from the runtime; raises `FrameError`."""
    try:
        value = json.loads(text)
    except ValueError as err:
        raise FrameError(f"frame is not JSON: {err}") from None
    return validate_runtime_frame(value)


def validate_runtime_frame(value: Any) -> dict:
    return _validate(value, RUNTIME_FRAMES, "runtime")


def validate_worker_frame(value: Any) -> dict:
    return _validate(value, WORKER_FRAMES, "worker")
