"""OpenTelemetry for Python step code (docs/tracing.md), the twin of packages/worker/src/runtime/tracing.ts.

Only when `opentelemetry-api` is installed in the project's environment (it is optional): the worker registers
its tracer provider with `opentelemetry.trace` before step files load, and runs each invocation with the invoke
frame's `traceparent` (the attempt's span) as the current span. So step code calling
`trace.get_tracer(__name__).start_as_current_span("charge card")` creates children of the attempt, in the
invocation's trace. The context lives in `contextvars`: each invocation's asyncio task has its own, and a sync
handler's thread gets a copy.

Spans are not exported from here: finished spans are collected per invocation and sent to the runtime in `spans`
frames (at most MAX_SPANS_PER_FRAME each) before the result; the runtime exports them with its own. Collection
is bounded: MAX_SPANS per invocation, MAX_ATTRIBUTES per span, strings cut, `cfp.*` attributes (the runtime's)
dropped; a span started outside an invocation, or ending after its result, records nothing.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import time
from typing import Any, Iterator, Optional

MAX_SPANS = 512
MAX_SPANS_PER_FRAME = 128
MAX_ATTRIBUTES = 32
MAX_STRING = 1024
MAX_NAME = 256
MAX_KEY = 128
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")

try:  # optional: only when the project's environment has opentelemetry-api
    from opentelemetry import context as otel_context
    from opentelemetry import trace as otel_trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
except ImportError:  # pragma: no cover - exercised by the e2e project without it
    otel_trace = None  # type: ignore[assignment]


class SpanCollector:
    """The finished spans of one invocation."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        self.dropped = 0
        self.open = True

    def add(self, span: dict) -> None:
        if self.open and len(self.spans) < MAX_SPANS:
            self.spans.append(span)
        else:
            self.dropped += 1

    def close(self) -> list[list[dict]]:
        """Closes the collector (spans ending later are dropped); its spans in batches, one per `spans` frame."""
        self.open = False
        return [self.spans[i : i + MAX_SPANS_PER_FRAME] for i in range(0, len(self.spans), MAX_SPANS_PER_FRAME)]


def parse_traceparent(value: Any) -> Optional[tuple[int, int, int]]:
    """(trace id, span id, sampled flag) of a version-00 `traceparent`; None when it is not a valid one."""
    m = _TRACEPARENT.match(value) if isinstance(value, str) else None
    if m is None:
        return None
    trace_id, span_id = int(m.group(1), 16), int(m.group(2), 16)
    if trace_id == 0 or span_id == 0:
        return None
    return trace_id, span_id, int(m.group(3), 16) & 1


def _cut(s: str, n: int) -> str:
    return s if len(s) <= n else s[:n]


def _new_span_id() -> int:
    while True:
        v = secrets.randbits(64)
        if v:
            return v


def _millis(ns: Optional[int]) -> float:
    return (time.time_ns() if ns is None else ns) / 1e6


if otel_trace is not None:
    _COLLECTOR = otel_context.create_key("cfp.invocation.spans")
    _KINDS = {SpanKind.INTERNAL: "internal", SpanKind.SERVER: "server", SpanKind.CLIENT: "client", SpanKind.PRODUCER: "producer", SpanKind.CONSUMER: "consumer"}

    class ChildSpan(otel_trace.Span):
        def __init__(self, ctx: SpanContext, parent: Optional[int], name: str, kind: SpanKind, collector: SpanCollector, start: Optional[int], attributes: Any):
            self._ctx = ctx
            self._parent = parent
            self._name = name
            self._kind = kind
            self._collector = collector
            self._start = _millis(start)
            self._attrs: dict[str, Any] = {}
            self._status: tuple[str, Optional[str]] = ("unset", None)
            self._ended = False
            if attributes:
                self.set_attributes(attributes)

        def get_span_context(self) -> SpanContext:
            return self._ctx

        def set_attribute(self, key: str, value: Any) -> None:
            if self._ended or value is None or not isinstance(key, str) or key.startswith("cfp."):
                return
            if isinstance(value, str):
                v: Any = _cut(value, MAX_STRING)
            elif isinstance(value, (bool, int, float)):
                v = value
            else:
                try:
                    v = _cut(json.dumps(list(value) if isinstance(value, (tuple, list)) else value, default=str), MAX_STRING)
                except (TypeError, ValueError):
                    v = _cut(repr(value), MAX_STRING)
            key = _cut(key, MAX_KEY)
            if key not in self._attrs and len(self._attrs) >= MAX_ATTRIBUTES:
                return
            self._attrs[key] = v

        def set_attributes(self, attributes: Any) -> None:
            for k, v in dict(attributes).items():
                self.set_attribute(k, v)

        def add_event(self, name: str, attributes: Any = None, timestamp: Optional[int] = None) -> None:
            return None

        def add_link(self, context: Any, attributes: Any = None) -> None:
            return None

        def update_name(self, name: str) -> None:
            if not self._ended:
                self._name = name

        def is_recording(self) -> bool:
            return not self._ended

        def set_status(self, status: Any, description: Optional[str] = None) -> None:
            if self._ended:
                return
            if isinstance(status, Status):
                code, description = status.status_code, status.description
            else:
                code = status
            name = {StatusCode.ERROR: "error", StatusCode.OK: "ok"}.get(code, "unset")
            self._status = (name, description if name == "error" else None)

        def record_exception(self, exception: BaseException, attributes: Any = None, timestamp: Optional[int] = None, escaped: bool = False) -> None:
            self.set_attribute("exception.type", type(exception).__name__)
            self.set_attribute("exception.message", str(exception))

        def end(self, end_time: Optional[int] = None) -> None:
            if self._ended:
                return
            self._ended = True
            span: dict[str, Any] = {
                "spanId": format(self._ctx.span_id, "016x"),
                "name": _cut(str(self._name), MAX_NAME),
                "kind": _KINDS.get(self._kind, "internal"),
                "startMs": self._start,
                "endMs": max(self._start, _millis(end_time)),
                "attributes": self._attrs,
                "status": self._status[0],
            }
            if self._parent is not None:
                span["parentSpanId"] = format(self._parent, "016x")
            if self._status[1]:
                span["statusMessage"] = _cut(self._status[1], MAX_STRING)
            self._collector.add(span)

    class CfpTracer(otel_trace.Tracer):
        def start_span(self, name: str, context: Any = None, kind: Any = SpanKind.INTERNAL, attributes: Any = None, links: Any = None,
                       start_time: Optional[int] = None, record_exception: bool = True, set_status_on_exception: bool = True) -> Any:
            collector = otel_context.get_value(_COLLECTOR, context)
            parent = otel_trace.get_current_span(context).get_span_context()
            # Outside an invocation (module load, work that outlives it) a span records nothing.
            if not isinstance(collector, SpanCollector) or not parent.is_valid:
                return otel_trace.INVALID_SPAN
            ctx = SpanContext(parent.trace_id, _new_span_id(), is_remote=False, trace_flags=parent.trace_flags)
            # A trace that is not sampled is not exported: its spans only propagate context.
            if not parent.trace_flags.sampled:
                return NonRecordingSpan(ctx)
            return ChildSpan(ctx, parent.span_id, name, kind, collector, start_time, attributes)

        @contextlib.contextmanager
        def start_as_current_span(self, name: str, context: Any = None, kind: Any = SpanKind.INTERNAL, attributes: Any = None, links: Any = None,
                                  start_time: Optional[int] = None, record_exception: bool = True, set_status_on_exception: bool = True,
                                  end_on_exit: bool = True) -> Iterator[Any]:
            span = self.start_span(name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception)
            with otel_trace.use_span(span, end_on_exit=end_on_exit, record_exception=record_exception, set_status_on_exception=set_status_on_exception) as s:
                yield s

    class CfpTracerProvider(otel_trace.TracerProvider):
        def __init__(self) -> None:
            self._tracer = CfpTracer()

        def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
            return self._tracer


_installed: Optional[bool] = None


def install() -> bool:
    """Registers the worker's tracer provider with opentelemetry (once; before step files load). False without it."""
    global _installed
    if _installed is None:
        if otel_trace is None:
            _installed = False
        else:
            otel_trace.set_tracer_provider(CfpTracerProvider())
            _installed = isinstance(otel_trace.get_tracer_provider(), CfpTracerProvider)
    return _installed


@contextlib.contextmanager
def invocation(traceparent: Any, collector: SpanCollector) -> Iterator[None]:
    """Makes the invocation's attempt span (its `traceparent`) the current span inside the block."""
    parsed = parse_traceparent(traceparent)
    if parsed is None or not install():
        yield
        return
    trace_id, span_id, sampled = parsed
    parent = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(sampled))
    ctx = otel_context.set_value(_COLLECTOR, collector, otel_trace.set_span_in_context(NonRecordingSpan(parent)))
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)
