"""Runs one `invoke` frame on a loaded step and builds its `result` frame (as JSON text).

- api: `handler(req, context)` with `req` = `{pathParams, queryParams, body, headers, rawBody, auth}` (a dict
  whose keys also read as attributes); `config["middleware"]` functions `(req, context, next)` run first; the
  handler returns `{"status", "body", "headers"?}`; a `bytes` body travels as base64.
- event: `handler(data, context)`; cron: `handler(context)`. Handlers may be `async def` or plain functions; a
  plain function runs in a bounded thread pool (CFP_PY_THREADS threads, default 8) so a CPU-bound handler does
  not stall the worker's event loop (heartbeats, other invocations); its context calls work from that thread.
- api with `config["webhook"]`: the request's signature is verified (webhook.py) before middleware and handler.
- A raised exception becomes a failed result (`NonRetriableError` -> not retried, `RetryAfterError` -> delayed);
  its traceback goes to the step's log and to the result's `error.stack`, which the runtime keeps with the
  delivery and never returns to an API caller.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextvars
import dataclasses
import datetime
import decimal
import enum
import inspect
import json
import os
import threading
import time
import uuid
from typing import Any, Callable, Optional

from .context import Context
from .errors import NonRetriableError, classify
from .loader import LoadedStep
from .webhook import verify as verify_webhook

MAX_FRAME_BYTES = 64 * 1024 * 1024


def _threads() -> int:
    try:
        return max(1, min(64, int(os.environ.get("CFP_PY_THREADS", "8"))))
    except ValueError:
        return 8


THREADS = _threads()
_pool: Optional[concurrent.futures.ThreadPoolExecutor] = None
_running = [0]  # sync handlers running in the pool now
_running_lock = threading.Lock()


def running_threads() -> int:
    """Sync handlers still running (a cancelled invocation's thread runs to its end)."""
    return _running[0]


def _in_thread(ctx: contextvars.Context, fn: Any, args: tuple) -> Any:
    with _running_lock:
        _running[0] += 1
    try:
        return ctx.run(fn, *args)
    finally:
        with _running_lock:
            _running[0] -= 1


def _is_async(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))


async def call_handler(fn: Any, *args: Any) -> Any:
    """Calls a step's handler: `async def` on the loop; a plain function in the thread pool (with a copy of the
    current contextvars, so the OpenTelemetry context follows it). Whatever it returns may be awaitable."""
    global _pool
    if _is_async(fn):
        return await fn(*args)
    if _pool is None:
        _pool = concurrent.futures.ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="cfp-step")
    ctx = contextvars.copy_context()
    return await _maybe_await(await asyncio.get_running_loop().run_in_executor(_pool, _in_thread, ctx, fn, args))


def json_default(v: Any) -> Any:
    """What `json.dumps` cannot encode by itself: pydantic models, dataclasses, dates, UUIDs, sets, bytes."""
    if hasattr(v, "model_dump") and not isinstance(v, type):
        return v.model_dump(mode="json")
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return dataclasses.asdict(v)
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, (uuid.UUID, decimal.Decimal)):
        return str(v)
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, (set, frozenset, tuple)):
        return list(v)
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(bytes(v)).decode()
    raise TypeError(f"Object of type {type(v).__name__} is not JSON serializable")


def dumps(v: Any) -> str:
    return json.dumps(v, default=json_default, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


async def _maybe_await(v: Any) -> Any:
    return await v if inspect.isawaitable(v) else v


def _header_text(step: str, header: str, v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    kind = "null" if v is None else "a list" if isinstance(v, (list, tuple)) else "an object" if isinstance(v, dict) else type(v).__name__
    raise NonRetriableError(
        f"API step '{step}' returned header '{header}' with {kind} as its value; a header value must be a string, "
        "a number, a boolean or a list of them"
    )


def _header_value(step: str, header: str, v: Any) -> Any:
    """Header values are strings on the wire (protocol/vectors/worker-frames.json, `apiOutputs`): numbers and
    booleans are sent as their text; anything else fails the step naming the header."""
    if isinstance(v, (list, tuple)):
        return [_header_text(step, header, item) for item in v]
    return _header_text(step, header, v)


def _api_output(step: LoadedStep, res: Any) -> dict:
    name = step.manifest["name"]
    if hasattr(res, "model_dump") and not isinstance(res, dict):
        res = res.model_dump()
    if not isinstance(res, dict):
        raise NonRetriableError(f"API step '{name}' returned {type(res).__name__}; return {{'status': ..., 'body': ...}}")
    status = res.get("status")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise NonRetriableError(f"API step '{name}' returned status {status!r}; it must be an integer HTTP status (100-599)")
    out: dict[str, Any] = {"status": status, "body": res.get("body")}
    headers = res.get("headers")
    if headers is not None:
        if not isinstance(headers, dict):
            raise NonRetriableError(f"API step '{name}' returned headers that are not a dict")
        out["headers"] = {h: _header_value(name, h, v) for h, v in headers.items()}
    if isinstance(out["body"], (bytes, bytearray, memoryview)):
        out["body"] = base64.b64encode(bytes(out["body"])).decode()
        out["bodyEncoding"] = "base64"
    return out


async def _run_api(step: LoadedStep, ctx: Context, inp: dict) -> Any:
    from .context import AttrDict

    raw = base64.b64decode(inp.get("rawBody") or "")
    webhook = step.config.get("webhook")
    if webhook is not None:
        check = verify_webhook(webhook, inp.get("headers") or {}, raw)
        if not check["ok"]:
            ctx.logger.warn(f"webhook request refused: {check['message']}", {"code": check["code"]})
            message = "the webhook is not configured" if check["status"] == 500 else check["message"]
            return _api_output(step, {"status": check["status"], "body": {"error": {"code": check["code"], "message": message}}})
        replay = check.get("replay")
        if replay is not None:
            claimed = await ctx.rpc("webhook.claim", {"digest": replay["digest"], "ttlSeconds": replay["windowSeconds"]})
            if not (isinstance(claimed, dict) and claimed.get("claimed")):
                message = f"this signed request was already accepted within the last {replay['windowSeconds']} s; a replay is refused"
                ctx.logger.warn(f"webhook request refused: {message}", {"code": "webhook_replayed"})
                return _api_output(step, {"status": 409, "body": {"error": {"code": "webhook_replayed", "message": message}}})
    req = AttrDict(
        pathParams=inp.get("pathParams") or AttrDict(),
        queryParams=inp.get("queryParams") or AttrDict(),
        body=inp.get("body"),
        headers=inp.get("headers") or AttrDict(),
        rawBody=raw.decode("utf-8", errors="replace"),
        auth=inp.get("auth"),
    )
    chain = step.middleware

    async def run(i: int, current: Any) -> Any:
        if i < len(chain):

            async def next_fn(new_req: Any = None) -> Any:
                return await run(i + 1, current if new_req is None else new_req)

            return await _maybe_await(chain[i](current, ctx, next_fn))
        return await call_handler(step.handler, current, ctx)

    return _api_output(step, await run(0, req))


async def execute(step: Optional[LoadedStep], frame: dict, ctx_factory: Callable[[LoadedStep], Context], log_error: Callable[[Context, str, dict], None]) -> dict:
    """The `result` frame (a dict) of one invocation."""
    started = time.perf_counter()
    inv_id = frame["id"]

    def done(**r: Any) -> dict:
        return {"type": "result", "id": inv_id, **r, "durationMs": round((time.perf_counter() - started) * 1000, 3)}

    if step is None:
        return done(ok=False, error={"message": f"step '{frame['step']}' is not hosted by this worker", "retriable": True})
    stype = step.config["type"]
    if stype == "noop" or step.handler is None:
        return done(ok=False, error={"message": f"step '{frame['step']}' is a noop step and cannot be invoked", "retriable": False})
    if frame["trigger"] != stype:
        msg = f"step '{frame['step']}' is an {stype} step but was invoked by a {frame['trigger']} trigger"
        return done(ok=False, error={"message": msg, "retriable": False})
    ctx = ctx_factory(step)
    try:
        output: Any = None
        if stype == "api":
            output = await _run_api(step, ctx, frame["input"])
        elif stype == "event":
            await call_handler(step.handler, frame["input"].get("data"), ctx)
        else:
            await call_handler(step.handler, ctx)
        await _settle(ctx.pending)
        ctx.close()
        return done(ok=True, output=output, emits=ctx.emitted)
    except asyncio.CancelledError:
        _cancel(ctx.pending)
        raise
    except Exception as err:  # noqa: BLE001 - whatever the step raised is reported, never crashes the worker
        ctx.close()
        _cancel(ctx.pending)
        error = classify(err)
        log_error(ctx, f"{error['name']}: {error['message']}", {"stack": error["stack"], "attempt": frame["attempt"]})
        return done(ok=False, error=error)


async def _settle(pending: set) -> None:
    """Waits for the state/stream calls the handler started (awaited or not); the first failure is raised."""
    while pending:
        batch = list(pending)
        pending.clear()
        for t in batch:
            await (asyncio.wrap_future(t) if isinstance(t, concurrent.futures.Future) else t)


def _cancel(pending: set) -> None:
    for t in pending:
        t.cancel()
    pending.clear()


def encode(result: dict) -> str:
    """A result's JSON text; one that cannot be serialised or is too large becomes a non-retriable failure."""
    try:
        text = dumps(result)
    except (TypeError, ValueError) as err:
        return encode(_failed(result, f"the handler's output or emitted data is not JSON-serialisable: {err}"))
    if len(text) > MAX_FRAME_BYTES // 4 and len(text.encode()) > MAX_FRAME_BYTES:
        mib = len(text.encode()) / 1048576
        return encode(_failed(result, f"the result is {mib:.1f} MiB, above the 64 MiB frame limit; store large data elsewhere and pass a reference"))
    return text


def _failed(result: dict, message: str) -> dict:
    out = {"type": "result", "id": result["id"], "ok": False, "error": {"message": message, "retriable": False}}
    if "durationMs" in result:
        out["durationMs"] = result["durationMs"]
    return out

