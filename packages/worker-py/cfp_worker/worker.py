"""The Python worker's session with the runtime (docs/protocol.md), the twin of packages/worker/src/runtime/worker.ts.

hello -> welcome -> register (+ a `log` frame with the files that failed to load) -> registered, then invoke ->
result (emits, logs batched before it), call/reply for state and streams, access/access_result for a stream's
`canAccess`, source/source_result for the workbench's code view, ping/pong frames, WebSocket pings every
`heartbeatMs` (a runtime silent for two intervals is dropped), drain both ways. Reconnects with capped
exponential backoff and jitter, re-sending hello and register. `cancel` cancels the handler's task (a sync
handler's thread cannot be stopped: it runs to its end, and its result is dropped). Child spans that step code
made with opentelemetry (tracing.py) go out in `spans` frames just before the invocation's result.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import threading
import time
from typing import Any, Callable, Optional

import websockets
from websockets.asyncio.client import ClientConnection, connect

from . import __version__
from .context import Context, attr_hook
from .frames import PROTOCOL_VERSION, FrameError, validate_runtime_frame
from .invoke import MAX_FRAME_BYTES, dumps, encode, execute
from .loader import LoadedStep, LoadResult, load_project
from .tracing import SpanCollector, invocation
from .tracing import install as install_tracing

MAX_SOURCE_BYTES = 1024 * 1024
MAX_CALLS = 64
LEVELS = {"debug": 10, "info": 20, "warn": 30, "error": 40}


class RpcError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class FatalSession(Exception):
    pass


class Worker:
    def __init__(
        self,
        *,
        dir: str,  # noqa: A002
        url: str,
        token: str,
        name: Optional[str] = None,
        capacity: Optional[int] = None,
        print_logs: bool = True,
        out: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
        initial_delay: float = 0.25,
        max_delay: float = 10.0,
        drain_timeout: float = 10.0,
        rpc_timeout: float = 60.0,
    ):
        self.dir = os.path.abspath(dir)
        self.url = url
        self.token = token
        self.name = name or f"python-{os.getpid()}"
        self.capacity = capacity
        self.print_logs = print_logs
        self.out = out
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.drain_timeout = drain_timeout
        self.rpc_timeout = rpc_timeout
        self.loaded = LoadResult()
        self.steps: dict[str, LoadedStep] = {}
        self.ws: Optional[ClientConnection] = None
        self.welcomed = False
        self.draining = False
        self.stopping = False
        self.gen = 0
        self.inflight: dict[str, tuple[asyncio.Task, int]] = {}
        self.cancelled: dict[str, str] = {}
        self.pending: dict[int, tuple[asyncio.Future, str]] = {}
        self.next_id = 1
        self.logs: list[dict] = []
        self.log_timer: Optional[asyncio.TimerHandle] = None
        self.registered = asyncio.Event()
        self.last_registered: Optional[dict] = None
        self.exit_code: Optional[int] = None
        self._send_lock = asyncio.Lock()
        self._calls = asyncio.Semaphore(MAX_CALLS)
        self._stopped = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._log_level = LEVELS.get(os.environ.get("LOG_LEVEL", "info").lower(), 20)

    # ---- project -------------------------------------------------------------------------------------------
    def load(self) -> LoadResult:
        install_tracing()  # before step files load, so the worker's tracer provider is the one in force
        self.loaded = load_project(self.dir)
        self.steps = {s.manifest["name"]: s for s in self.loaded.steps}
        for e in self.loaded.errors:
            self.out(f"cfp-worker-py: {e.message}")
        return self.loaded

    def stream_names(self) -> list[str]:
        return [s.manifest["name"] for s in self.loaded.streams]

    # ---- sending -------------------------------------------------------------------------------------------
    async def send(self, frame: Any, gen: Optional[int] = None) -> bool:
        ws = self.ws
        if ws is None or (gen is not None and gen != self.gen):
            return False
        text = frame if isinstance(frame, str) else dumps(frame)
        try:
            async with self._send_lock:
                await ws.send(text)
            return True
        except websockets.ConnectionClosed:
            return False

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        task.add_done_callback(lambda t: t.cancelled() or t.exception() is None or self.out(f"cfp-worker-py: internal error: {t.exception()!r}"))

    # ---- logs ----------------------------------------------------------------------------------------------
    def add_log(self, entry: dict) -> None:
        if self.print_logs and LEVELS.get(entry["level"], 20) >= self._log_level:
            data = f" {json.dumps(entry['data'], default=str)}" if entry.get("data") else ""
            stamp = time.strftime("%H:%M:%S", time.localtime(entry["ts"] / 1000))
            line = f"{stamp} {entry['level'].upper():5} [{entry.get('step', '')}] {entry['msg']}{data}"
            print(line, file=sys.stderr if entry["level"] in ("warn", "error") else sys.stdout, flush=True)
        self.logs.append(entry)
        if len(self.logs) >= 200:
            self._spawn(self.flush_logs())
        elif self.log_timer is None:
            self.log_timer = asyncio.get_running_loop().call_later(0.05, lambda: self._spawn(self.flush_logs()))

    async def flush_logs(self) -> None:
        if self.log_timer is not None:
            self.log_timer.cancel()
            self.log_timer = None
        if not self.logs:
            return
        entries, self.logs = self.logs, []
        safe = []
        for e in entries:
            try:
                dumps(e)
                safe.append(e)
            except (TypeError, ValueError):
                safe.append({**e, "data": json.loads(json.dumps(e.get("data"), default=repr))})
        await self.send({"type": "log", "entries": safe})

    # ---- RPC -----------------------------------------------------------------------------------------------
    async def call(self, method: str, params: dict, trace_id: Optional[str] = None, invocation_id: Optional[str] = None) -> Any:
        async with self._calls:
            call_id = self.next_id
            self.next_id += 1
            fut: asyncio.Future = asyncio.get_running_loop().create_future()
            self.pending[call_id] = (fut, method)
            frame: dict[str, Any] = {"type": "call", "id": call_id, "method": method, "params": params}
            if trace_id is not None:
                frame["traceId"] = trace_id
            if invocation_id is not None:
                frame["invocationId"] = invocation_id
            try:
                if not await self.send(frame):
                    raise RpcError("unavailable", f"{method}: not connected to the runtime")
                return await asyncio.wait_for(fut, self.rpc_timeout)
            except asyncio.TimeoutError:
                raise RpcError("timeout", f"{method}: the runtime did not answer within {self.rpc_timeout:g} s") from None
            finally:
                self.pending.pop(call_id, None)

    def _reply(self, frame: dict) -> None:
        entry = self.pending.get(frame["id"])
        if entry is None or entry[0].done():
            return
        fut, method = entry
        if frame["ok"]:
            fut.set_result(frame.get("result"))
        else:
            err = frame.get("error") or {}
            fut.set_exception(RpcError(err.get("code", "internal"), f"{method}: {err.get('message', 'failed')}"))

    def _fail_calls(self, reason: str) -> None:
        for fut, method in list(self.pending.values()):
            if not fut.done():
                fut.set_exception(RpcError("unavailable", f"{method}: {reason}"))

    # ---- session -------------------------------------------------------------------------------------------
    def _hello(self) -> dict:
        v = sys.version_info
        hello: dict[str, Any] = {
            "type": "hello",
            "protocol": PROTOCOL_VERSION,
            "token": self.token,
            "worker": {"name": self.name, "pid": os.getpid(), "sdk": f"cfp-worker-py@{__version__}", "runtime": f"python {v.major}.{v.minor}.{v.micro}"},
        }
        if self.capacity is not None:
            hello["capacity"] = self.capacity
        return hello

    async def _register(self) -> None:
        steps = [s.manifest for s in self.loaded.steps]
        streams = [s.manifest for s in self.loaded.streams]
        await self.send({"type": "register", "steps": steps, "streams": streams})
        if self.loaded.errors:
            ts = int(time.time() * 1000)
            entries = [{"ts": ts, "level": "error", "msg": e.message, "data": e.data()} for e in self.loaded.errors]
            await self.send({"type": "log", "entries": entries})

    async def _handle(self, frame: dict) -> None:
        t = frame["type"]
        if t == "welcome":
            self.welcomed = True
            self.draining = False
            self._attempt = 0
            self._start_heartbeat(frame["heartbeatMs"])
            await self._register()
        elif t == "registered":
            self.last_registered = frame
            n_err = len(frame["errors"]) + len(self.loaded.errors)
            print(f"cfp-worker-py: registered {len(frame['steps'])} steps ({n_err} errors)", flush=True)
            for e in frame["errors"]:
                self.out(f"cfp-worker-py: {e['file']}: step '{e['step']}' rejected ({e['code']}): {e['message']}")
            self.registered.set()
        elif t == "invoke":
            self._start_invocation(frame)
        elif t == "reply":
            self._reply(frame)
        elif t == "cancel":
            entry = self.inflight.get(frame["id"])
            if entry is not None:
                self.cancelled[frame["id"]] = frame["reason"]
                entry[0].cancel()
        elif t == "access":
            self._spawn(self._access(frame))
        elif t == "source":
            self._spawn(self._source(frame))
        elif t == "ping":
            await self.send({"type": "pong", **({"ts": frame["ts"]} if frame.get("ts") is not None else {})})
        elif t == "drain":
            self.draining = True
            self.out(f"cfp-worker-py: the runtime is draining; finishing {len(self.inflight)} invocation(s) in flight")
        elif t == "error":
            code = frame["code"]
            if code in ("unauthenticated", "unsupported_protocol"):
                hint = " Check --token / CFP_WORKER_TOKEN." if code == "unauthenticated" else f" This worker speaks protocol {PROTOCOL_VERSION}."
                raise FatalSession(f"the runtime refused the session ({code}): {frame['message']}.{hint}")
            self.out(f"cfp-worker-py: runtime error {code}: {frame['message']}")

    def _context(self, step: LoadedStep, frame: dict) -> Context:
        name = step.manifest["name"]
        trace_id, inv_id = frame["traceId"], frame["id"]

        loop = asyncio.get_running_loop()
        loop_thread = threading.get_ident()

        def log(level: str, msg: str, data: Optional[dict]) -> None:
            entry: dict[str, Any] = {"ts": int(time.time() * 1000), "level": level, "msg": msg, "traceId": trace_id, "step": name, "invocationId": inv_id}
            if data:
                entry["data"] = data
            if threading.get_ident() == loop_thread:
                self.add_log(entry)
            else:  # a sync handler's thread
                loop.call_soon_threadsafe(self.add_log, entry)

        async def call(method: str, params: dict) -> Any:
            return await self.call(method, params, trace_id, inv_id)

        return Context(
            step=name,
            emits=step.config.get("emits"),
            flows=list(step.config.get("flows") or []),
            trace_id=trace_id,
            idempotency_key=frame["idempotencyKey"],
            attempt=frame["attempt"],
            call=call,
            log=log,
            stream_names=self.stream_names,
        )

    def _start_invocation(self, frame: dict) -> None:
        inv_id = frame["id"]
        if self.draining or self.stopping:
            err = {"message": "the worker is shutting down and takes no new invocations", "retriable": True}
            self._spawn(self.send({"type": "result", "id": inv_id, "ok": False, "error": err}))
            return
        gen = self.gen
        step = self.steps.get(frame["step"])

        def log_error(ctx: Context, msg: str, data: dict) -> None:
            ctx.logger.error(msg, data)

        async def run() -> None:
            collector = SpanCollector()
            try:
                with invocation(frame.get("traceparent"), collector):
                    result = await execute(step, frame, lambda s: self._context(s, frame), log_error)
            except asyncio.CancelledError:
                reason = self.cancelled.get(inv_id, "cancelled")
                self.out(f"cfp-worker-py: invocation {inv_id} of '{frame['step']}' was cancelled by the runtime ({reason})")
                return
            text = encode(result)
            await self.flush_logs()
            # Step code's spans go first: the runtime takes them only while the invocation is in flight.
            for batch in collector.close():
                await self.send({"type": "spans", "id": inv_id, "spans": batch}, gen)
            if not await self.send(text, gen):
                self.out(
                    f"cfp-worker-py: the result of invocation {inv_id} of '{frame['step']}' was not sent: "
                    "the connection it came on is gone (the runtime retries it)"
                )

        task = asyncio.ensure_future(run())
        self.inflight[inv_id] = (task, gen)
        self._idle.clear()

        def finished(_t: asyncio.Task) -> None:
            self.inflight.pop(inv_id, None)
            self.cancelled.pop(inv_id, None)
            if not self.inflight:
                self._idle.set()

        task.add_done_callback(finished)

    async def _access(self, frame: dict) -> None:
        stream = next((s for s in self.loaded.streams if s.manifest["name"] == frame["stream"]), None)
        allowed = False
        if stream is None:
            self.out(f"cfp-worker-py: the runtime asked canAccess of stream '{frame['stream']}', which this worker does not host; refused")
        elif not callable(stream.config.get("canAccess")):
            allowed = True
        else:
            try:
                res = stream.config["canAccess"]({"groupId": frame["groupId"], "id": frame.get("itemId")}, frame["authContext"])
                if asyncio.iscoroutine(res) or isinstance(res, asyncio.Future):
                    res = await res
                allowed = bool(res)
            except Exception as err:  # noqa: BLE001
                self.out(f"cfp-worker-py: canAccess of stream '{frame['stream']}' ({stream.manifest['file']}) raised; access refused: {err!r}")
        await self.send({"type": "access_result", "id": frame["id"], "allowed": allowed})

    async def _source(self, frame: dict) -> None:
        step = self.steps.get(frame["step"])
        if step is None:
            await self.send({"type": "source_result", "id": frame["id"], "ok": False, "error": f"this worker does not host step '{frame['step']}'"})
            return
        file = step.manifest["file"]
        try:
            size = os.path.getsize(step.path)
            if size > MAX_SOURCE_BYTES:
                err = f"{file} is {size} bytes; the code view shows files up to 1 MiB"
                await self.send({"type": "source_result", "id": frame["id"], "ok": False, "file": file, "error": err})
                return
            with open(step.path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
            await self.send({"type": "source_result", "id": frame["id"], "ok": True, "file": file, "text": text})
        except OSError as err:
            await self.send({"type": "source_result", "id": frame["id"], "ok": False, "file": file, "error": f"cannot read {file}: {err.strerror}"})

    # ---- heartbeat -----------------------------------------------------------------------------------------
    def _start_heartbeat(self, interval_ms: int) -> None:
        ws = self.ws
        if ws is None or interval_ms <= 0:
            return
        interval = interval_ms / 1000

        async def beat() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    waiter = await ws.ping()
                    await asyncio.wait_for(waiter, 2 * interval)
                except asyncio.TimeoutError:
                    self.out(f"cfp-worker-py: no answer from the runtime for {2 * interval:g}s; reconnecting")
                    await ws.close(1001, "heartbeat timeout")
                    return
                except websockets.ConnectionClosed:
                    return

        self._heartbeat = asyncio.ensure_future(beat())

    # ---- main loop -----------------------------------------------------------------------------------------
    async def _session(self, ws: ClientConnection) -> None:
        self.gen += 1
        self.ws = ws
        self._heartbeat: Optional[asyncio.Task] = None
        try:
            await self.send(self._hello())
            async for message in ws:
                if not isinstance(message, str):
                    continue
                try:
                    frame = validate_runtime_frame(json.loads(message, object_hook=attr_hook))
                except (FrameError, ValueError) as err:
                    self.out(f"cfp-worker-py: ignoring a bad frame from the runtime: {err}")
                    await self._reject_bad_invoke(message, str(err))
                    continue
                if not self.welcomed and frame["type"] not in ("welcome", "error"):
                    self.out(f"cfp-worker-py: ignoring a '{frame['type']}' frame received before 'welcome'")
                    continue
                await self._handle(frame)
        finally:
            if self._heartbeat is not None:
                self._heartbeat.cancel()
            self.welcomed = False
            self.ws = None
            self._fail_calls("the connection to the runtime was lost")

    async def _reject_bad_invoke(self, text: str, problem: str) -> None:
        try:
            v = json.loads(text)
        except ValueError:
            return
        if isinstance(v, dict) and v.get("type") == "invoke" and isinstance(v.get("id"), str) and v["id"] and self.welcomed:
            err = {"message": f"the worker could not read this invocation: {problem}", "retriable": False}
            await self.send({"type": "result", "id": v["id"], "ok": False, "error": err})

    async def run(self) -> int:
        """Connects (and reconnects) until `stop()` or a fatal session error; returns the exit code."""
        self._attempt = 0
        while not self.stopping:
            opened = False
            why = ""
            try:
                async with connect(self.url, max_size=MAX_FRAME_BYTES, ping_interval=None, open_timeout=5, compression=None, close_timeout=1) as ws:
                    opened = True
                    await self._session(ws)
                    why = f"closed ({ws.close_code}{f' {ws.close_reason}' if ws.close_reason else ''})"
                    if ws.close_code in (4400, 4401):
                        raise FatalSession(f"the runtime closed the session ({ws.close_code} {ws.close_reason})")
            except FatalSession as err:
                self.out(f"cfp-worker-py: {err}")
                self.exit_code = 1
                break
            except (OSError, websockets.WebSocketException, asyncio.TimeoutError) as err:
                why = str(err) or type(err).__name__
            if self.stopping:
                break
            delay = min(self.max_delay, self.initial_delay * 2**self._attempt) * (0.8 + random.random() * 0.4)
            self._attempt += 1
            what = "lost the connection to the runtime at" if opened else "cannot reach the runtime at"
            self.out(f"cfp-worker-py: {what} {self.url}: {why}; retrying in {delay:.1f}s")
            try:
                await asyncio.wait_for(self._stopped.wait(), delay)
            except asyncio.TimeoutError:
                pass
        self._stopped.set()
        return self.exit_code or 0

    async def stop(self) -> None:
        """Sends drain, lets in-flight invocations finish (up to drain_timeout), closes."""
        if self.stopping:
            return
        self.stopping = True
        await self.send({"type": "drain"})
        try:
            await asyncio.wait_for(self._idle.wait(), self.drain_timeout)
        except asyncio.TimeoutError:
            self.out(f"cfp-worker-py: {len(self.inflight)} invocation(s) still running after {self.drain_timeout:g}s; closing (the runtime retries them)")
        await self.flush_logs()
        ws = self.ws
        if ws is not None:
            await ws.close(1000, "worker shutting down")
        self._stopped.set()
