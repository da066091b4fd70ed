"""The `context` a Python handler receives, with Motia 0.17's Python names.

- `context.emit({"topic", "data", "messageGroupId"?})`: checked against the step's `emits`, buffered, sent
  only with a successful result (awaiting it is optional).
- `context.logger.info|warn|warning|error|debug(message, args=None)`: `args` (a dict, an object's `vars()`,
  or any value as `{"data": value}`) becomes the entry's data.
- `context.state.get(group, key)` / `set` / `delete` / `get_group(group)` (alias `getGroup`) / `clear(group)`.
  As in Motia 0.17's Python runtime, `get` wraps an absent value as `{"data": None}` and a dict value without a
  `"data"` key as `{"data": value}`; other values come back as they are.
- `context.streams.<name>.get(group_id, id)` / `set(group_id, id, data)` / `delete` / `get_group(group_id)`
  (alias `getGroup`) / `send(channel, event)`; items carry Motia's `__motia` marker.
- `context.trace_id`, `context.flows`, and CFP's `context.idempotency_key` and `context.attempt`.

State and stream calls return asyncio tasks that already run: a call the handler forgot to await still happens,
and the worker waits for every call an invocation started before it sends its result. From a plain (sync)
handler, which runs in a worker thread, they return `concurrent.futures.Future`s instead: `.result()` waits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any, Awaitable, Callable, Optional

from .config import emit_topics

Call = Callable[[str, dict], Awaitable[Any]]


class AttrDict(dict):
    """A dict whose keys also read as attributes (`req.body` and `req["body"]`); nested dicts too."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value


def attr_hook(d: dict) -> AttrDict:
    """`json.loads(..., object_hook=attr_hook)`: every JSON object becomes an `AttrDict`."""
    return AttrDict(d)


class EmitError(Exception):
    pass


class _Done:
    """What `emit` returns: awaiting it is optional (the emit is buffered at once)."""

    def __await__(self):  # noqa: ANN204
        return iter(())


class Logger:
    def __init__(self, sink: Callable[[str, str, Optional[dict]], None]):
        self._sink = sink

    @staticmethod
    def _data(args: Any) -> Optional[dict]:
        if args is None:
            return None
        if isinstance(args, dict):
            return args
        if hasattr(args, "model_dump"):
            try:
                return {"data": args.model_dump(mode="json")}
            except Exception:  # noqa: BLE001
                pass
        if hasattr(args, "__dict__") and not isinstance(args, type):
            return dict(vars(args))
        return {"data": args}

    def _log(self, level: str, message: Any, args: Any = None) -> None:
        self._sink(level, message if isinstance(message, str) else str(message), self._data(args))

    def info(self, message: Any, args: Any = None) -> None:
        self._log("info", message, args)

    def warn(self, message: Any, args: Any = None) -> None:
        self._log("warn", message, args)

    warning = warn

    def error(self, message: Any, args: Any = None) -> None:
        self._log("error", message, args)

    def debug(self, message: Any, args: Any = None) -> None:
        self._log("debug", message, args)


class _Ops:
    """Starts RPC calls as tasks owned by the invocation (awaited before its result is sent)."""

    def __init__(self, call: Call, tasks: set, loop: Optional[asyncio.AbstractEventLoop] = None):
        self._call = call
        self._tasks = tasks
        self._loop = loop or asyncio.get_running_loop()

    def _start(self, method: str, params: dict, shape: Callable[[Any], Any] = lambda r: r) -> Any:
        async def run() -> Any:
            return shape(await self._call(method, params))

        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False
        task: Any = asyncio.ensure_future(run()) if on_loop else asyncio.run_coroutine_threadsafe(run(), self._loop)
        self._tasks.add(task)
        return task


def _motia_get(result: Any) -> Any:
    if result is None:
        return {"data": None}
    if isinstance(result, dict) and "data" not in result:
        return {"data": result}
    return result


class State(_Ops):
    def get(self, group: str, key: str) -> "asyncio.Task[Any]":
        return self._start("state.get", {"group": group, "key": key}, _motia_get)

    def set(self, group: str, key: str, value: Any) -> "asyncio.Task[Any]":
        return self._start("state.set", {"group": group, "key": key, "value": value})

    def delete(self, group: str, key: str) -> "asyncio.Task[Any]":
        return self._start("state.delete", {"group": group, "key": key})

    def get_group(self, group: str) -> "asyncio.Task[Any]":
        return self._start("state.getGroup", {"group": group}, lambda r: [] if r is None else r)

    getGroup = get_group  # noqa: N815 - Motia's camelCase alias

    def clear(self, group: str) -> "asyncio.Task[Any]":
        return self._start("state.clear", {"group": group})


def _mark(stream: str, group_id: str, item: Any) -> Any:
    if not isinstance(item, dict):
        return None
    return {**item, "__motia": {"type": "state-stream", "streamName": stream, "groupId": group_id, "id": item.get("id")}}


def _unmarked(data: Any) -> Any:
    if isinstance(data, dict) and "__motia" in data:
        return {k: v for k, v in data.items() if k != "__motia"}
    return data


class Stream(_Ops):
    def __init__(self, name: str, call: Call, tasks: set, loop: Optional[asyncio.AbstractEventLoop] = None):
        super().__init__(call, tasks, loop)
        self.name = name

    def get(self, group_id: str, id: str) -> "asyncio.Task[Any]":  # noqa: A002 - Motia's parameter name
        return self._start("streams.get", {"stream": self.name, "groupId": group_id, "id": id}, lambda r: _mark(self.name, group_id, r))

    def set(self, group_id: str, id: str, data: Any) -> "asyncio.Task[Any]":  # noqa: A002
        params = {"stream": self.name, "groupId": group_id, "id": id, "data": _unmarked(data)}
        return self._start("streams.set", params, lambda r: _mark(self.name, group_id, r))

    def delete(self, group_id: str, id: str) -> "asyncio.Task[Any]":  # noqa: A002
        return self._start("streams.delete", {"stream": self.name, "groupId": group_id, "id": id}, lambda r: _mark(self.name, group_id, r))

    def get_group(self, group_id: str) -> "asyncio.Task[Any]":
        return self._start("streams.getGroup", {"stream": self.name, "groupId": group_id}, lambda r: [_mark(self.name, group_id, i) for i in r or []])

    getGroup = get_group  # noqa: N815

    def send(self, channel: dict, event: dict) -> "asyncio.Task[Any]":
        params: dict[str, Any] = {"stream": self.name, "groupId": channel.get("groupId"), "event": {"type": event.get("type"), "data": event.get("data")}}
        if channel.get("id") is not None:
            params["id"] = channel["id"]
        return self._start("streams.send", params)


class Streams:
    """`context.streams.<name>` for any name (the runtime answers an unknown one with the project's streams)."""

    def __init__(self, call: Call, tasks: set, names: Callable[[], list[str]]):
        self._call = call
        self._tasks = tasks
        self._names = names
        self._loop = asyncio.get_running_loop()
        self._cache: dict[str, Stream] = {}

    def __getattr__(self, name: str) -> Stream:
        if name.startswith("__"):
            raise AttributeError(name)
        s = self._cache.get(name)
        if s is None:
            s = self._cache[name] = Stream(name, self._call, self._tasks, self._loop)
        return s

    __getitem__ = __getattr__

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self):  # noqa: ANN204
        return iter(self._names())


class Context:
    def __init__(
        self,
        *,
        step: str,
        emits: Any,
        flows: list[str],
        trace_id: str,
        idempotency_key: str,
        attempt: int,
        call: Call,
        log: Callable[[str, str, Optional[dict]], None],
        stream_names: Callable[[], list[str]],
    ):
        self.trace_id = trace_id
        self.traceId = trace_id  # noqa: N815 - the TypeScript spelling, for ported code
        self.flows = flows
        self.idempotency_key = idempotency_key
        self.attempt = attempt
        self.pending: set[asyncio.Future | concurrent.futures.Future] = set()
        self.rpc = call
        self.emitted: list[dict] = []
        self._open = True
        self._step = step
        self._allowed = emit_topics(emits)
        self.logger = Logger(log)
        self.state = State(call, self.pending)
        self.streams = Streams(call, self.pending, stream_names)

    def emit(self, event: Any) -> _Done:
        step = self._step
        if not self._open:
            raise EmitError(f"step '{step}': context.emit was called after the handler returned; await every emit inside the handler")
        if not isinstance(event, dict):
            raise EmitError(f"step '{step}': context.emit expects {{'topic', 'data'}}, got {type(event).__name__}")
        topic = event.get("topic", event.get("type"))
        if not isinstance(topic, str) or topic == "":
            raise EmitError(f"step '{step}': context.emit needs a non-empty string 'topic', got {topic!r}")
        if self._allowed and topic not in self._allowed:
            allowed = ", ".join(f"'{t}'" for t in self._allowed)
            raise EmitError(
                f"step '{step}' emitted topic '{topic}', which its config does not declare. Allowed topics: {allowed}. "
                f"Add '{topic}' to the step's 'emits' or fix the topic."
            )
        group = event.get("messageGroupId")
        if group is not None and not isinstance(group, str):
            raise EmitError(f"step '{step}': context.emit 'messageGroupId' must be a string, got {type(group).__name__}")
        msg: dict[str, Any] = {"topic": topic, "data": event.get("data")}
        if group is not None:
            msg["messageGroupId"] = group
        self.emitted.append(msg)
        return _Done()

    def close(self) -> None:
        self._open = False

