//! Trace context of invocation attempts: each attempt is a span (`docs/tracing.md`). Its context travels to
//! the worker in the invoke frame (`traceparent`) and to the steps its emits reach in the queue rows
//! (`traceparent`, `tracestate` columns); finished attempts and the child spans workers relay go to the OTLP
//! exporter when one is configured and the trace is sampled.

use cfp_otel::{AttrValue, SpanData, SpanKind, Status, StatusCode};
use cfp_protocol::trace::{self as w3c, SpanId, TraceId, TraceParent};
use cfp_protocol::ChildSpan;

/// Child spans taken from one `spans` frame; the rest are dropped (counted).
pub const MAX_SPANS_PER_FRAME: usize = 128;
/// Child spans taken for one invocation.
pub const MAX_SPANS_PER_INVOCATION: u32 = 512;
/// Attributes kept per child span; the rest are counted in `dropped_attributes_count`.
pub const MAX_ATTRIBUTES: usize = 32;
/// Longest span name, attribute key and string attribute value kept (longer ones are cut).
pub const MAX_NAME: usize = 256;
pub const MAX_KEY: usize = 128;
pub const MAX_VALUE: usize = 1024;

/// The context of one attempt's span.
#[derive(Debug, Clone)]
pub struct SpanCtx {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent: Option<SpanId>,
    pub flags: u8,
    pub tracestate: Option<String>,
}

/// A fresh span id: 8 random bytes (from a v4 UUID), never zero.
pub fn new_span_id() -> SpanId {
    let b = uuid::Uuid::new_v4().into_bytes();
    w3c::span_id_from(b[..8].try_into().unwrap_or([1; 8]))
}

/// The 16 bytes of a CFP trace id. Trace ids are UUIDs; one that is not (an old row) is hashed to 16 bytes so
/// its spans still share one W3C trace.
pub fn trace_bytes(trace_id: &str) -> TraceId {
    w3c::w3c_trace_id(trace_id).unwrap_or_else(|| {
        use sha2::Digest;
        let h = sha2::Sha256::digest(trace_id.as_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&h[..16]);
        out
    })
}

impl SpanCtx {
    /// The span of an attempt in trace `trace_id`, child of `parent` when the trace came with one (a request's
    /// `traceparent`, the emitting attempt of a queue row). Sampling is parent-based: a parent's `sampled` flag
    /// decides; a new trace is sampled by `ratio` on its id.
    pub fn attempt(trace_id: &str, parent: Option<&TraceParent>, ratio: f64) -> Self {
        let trace = trace_bytes(trace_id);
        // A parent of another trace (a row written before the trace id changed) is not this trace's parent.
        let parent = parent.filter(|p| p.trace_id == trace);
        let sampled = w3c::sample(&trace, parent.map(|p| p.flags), ratio);
        Self {
            trace_id: trace,
            span_id: new_span_id(),
            parent: parent.map(|p| p.parent_id),
            flags: if sampled { w3c::FLAG_SAMPLED } else { 0 },
            tracestate: parent.and_then(|p| p.tracestate.clone()),
        }
    }

    pub fn sampled(&self) -> bool {
        self.flags & w3c::FLAG_SAMPLED != 0
    }

    /// `traceparent` naming this span (as the parent of what it causes).
    pub fn traceparent(&self) -> String {
        w3c::format_traceparent(&self.trace_id, &self.span_id, self.flags)
    }
}

/// Parses the trace context stored with a queue row.
pub fn from_row(traceparent: Option<&str>, tracestate: Option<&str>) -> Option<TraceParent> {
    w3c::from_headers(traceparent, tracestate)
}

fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

fn hex8(s: &str) -> Option<SpanId> {
    if s.len() != 16 {
        return None;
    }
    let mut out = [0u8; 8];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    (out != [0; 8] && s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))).then_some(out)
}

/// A child span relayed by a worker, made safe: it is put in the invocation's trace whatever it claims, its
/// parent is the attempt's span unless it names another valid id, and its name, attributes and times are
/// bounded. `None` for a span without a valid id of its own.
pub fn child_span(ctx: &SpanCtx, tenant: &str, project: &str, s: &ChildSpan) -> Option<SpanData> {
    let span_id = hex8(&s.span_id)?;
    if span_id == ctx.span_id {
        return None;
    }
    let parent = s.parent_span_id.as_deref().and_then(hex8).unwrap_or(ctx.span_id);
    let mut attributes = Vec::new();
    let mut dropped = 0u32;
    for (k, v) in &s.attributes {
        if k.starts_with("cfp.") {
            // The runtime's attributes say who the span belongs to: step code cannot set them.
            dropped += 1;
            continue;
        }
        let value = match v {
            serde_json::Value::String(s) => AttrValue::Str(cut(s, MAX_VALUE)),
            serde_json::Value::Bool(b) => AttrValue::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => AttrValue::Int(i),
                None => AttrValue::Double(n.as_f64().unwrap_or(0.0)),
            },
            _ => {
                dropped += 1;
                continue;
            }
        };
        if attributes.len() >= MAX_ATTRIBUTES {
            dropped += 1;
            continue;
        }
        attributes.push((cut(k, MAX_KEY), value));
    }
    attributes.push(("cfp.tenant".into(), tenant.into()));
    attributes.push(("cfp.project".into(), project.into()));
    let start = cfp_otel::ms_to_nanos(s.start_ms);
    let end = cfp_otel::ms_to_nanos(s.end_ms).max(start);
    let status = match s.status.as_deref() {
        Some("error") => Status {
            code: StatusCode::Error,
            message: cut(s.status_message.as_deref().unwrap_or(""), MAX_VALUE),
        },
        Some("ok") => Status {
            code: StatusCode::Ok,
            message: String::new(),
        },
        _ => Status::default(),
    };
    Some(SpanData {
        trace_id: ctx.trace_id,
        span_id,
        parent_span_id: Some(parent),
        parent_is_remote: true,
        flags: ctx.flags,
        tracestate: ctx.tracestate.clone(),
        name: cut(&s.name, MAX_NAME),
        kind: SpanKind::from_name(s.kind.as_deref()),
        start_unix_nano: start,
        end_unix_nano: end,
        attributes,
        dropped_attributes: dropped,
        status,
        scope: "cfp-worker",
    })
}

/// The OTLP span of a finished attempt: named after its step, SERVER for an API call, CONSUMER for an event
/// delivery, INTERNAL for a cron run.
pub(crate) fn attempt_span(
    p: &crate::invoke::Pending,
    span: &crate::invoke::SpanStart,
    ended_ms: i64,
    ok: bool,
    error: Option<&cfp_protocol::WorkerError>,
) -> cfp_otel::SpanData {
    use cfp_protocol::Trigger;
    let (kind, trigger) = match span.trigger {
        Trigger::Api => (SpanKind::Server, "api"),
        Trigger::Event => (SpanKind::Consumer, "event"),
        Trigger::Cron => (SpanKind::Internal, "cron"),
    };
    let outcome = match (ok, error.and_then(|e| e.name.as_deref())) {
        (true, _) => "ok",
        (false, Some("TimeoutError")) => "timeout",
        (false, Some("WorkerDisconnected")) => "worker_lost",
        (false, _) => "handler_error",
    };
    let mut attributes: Vec<(String, AttrValue)> = vec![
        ("cfp.tenant".into(), p.scope.tenant.as_str().into()),
        ("cfp.project".into(), p.scope.project.as_str().into()),
        ("cfp.step".into(), p.step.as_str().into()),
        ("cfp.trigger".into(), trigger.into()),
        ("cfp.attempt".into(), AttrValue::Int(i64::from(span.attempt))),
        ("cfp.invocation_id".into(), span.id.as_str().into()),
        ("cfp.outcome".into(), outcome.into()),
    ];
    if let Some(name) = error.and_then(|e| e.name.as_deref()) {
        attributes.push(("error.type".into(), name.into()));
    }
    let ms = |v: i64| u64::try_from(v).unwrap_or(0) * 1_000_000;
    cfp_otel::SpanData {
        trace_id: p.ctx.trace_id,
        span_id: p.ctx.span_id,
        parent_span_id: p.ctx.parent,
        parent_is_remote: p.ctx.parent.is_some(),
        flags: p.ctx.flags,
        tracestate: p.ctx.tracestate.clone(),
        name: p.step.clone(),
        kind,
        start_unix_nano: ms(span.started_ms),
        end_unix_nano: ms(ended_ms.max(span.started_ms)),
        attributes,
        dropped_attributes: 0,
        status: match error {
            Some(e) if !ok => Status {
                code: StatusCode::Error,
                message: e.message.chars().take(1024).collect(),
            },
            _ => Status::default(),
        },
        scope: "cfp-runtime",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> SpanCtx {
        SpanCtx::attempt("0af76519-16cd-43dd-8448-eb211c80319c", None, 1.0)
    }

    fn child(id: &str) -> ChildSpan {
        ChildSpan {
            span_id: id.into(),
            parent_span_id: None,
            name: "n".repeat(10_000),
            kind: Some("client".into()),
            start_ms: 1_700_000_000_000.5,
            end_ms: 1.0,
            attributes: serde_json::from_value(serde_json::json!({
                "cfp.tenant": "someone-else", "k": "v".repeat(5000), "n": 3, "f": 1.5, "o": { "nested": true },
            }))
            .unwrap(),
            status: Some("error".into()),
            status_message: Some("bad".into()),
        }
    }

    #[test]
    fn child_spans_are_bounded_and_kept_in_the_trace() {
        let c = ctx();
        let s = child_span(&c, "t", "p", &child("00f067aa0ba902b7")).unwrap();
        assert_eq!(s.trace_id, c.trace_id);
        assert_eq!(s.parent_span_id, Some(c.span_id));
        assert_eq!(s.name.len(), MAX_NAME);
        assert_eq!(s.end_unix_nano, s.start_unix_nano, "an end before the start is clamped");
        assert!(s.attributes.contains(&("cfp.tenant".into(), "t".into())));
        assert!(!s.attributes.contains(&("cfp.tenant".into(), "someone-else".into())));
        assert_eq!(s.dropped_attributes, 2);
        assert!(s
            .attributes
            .iter()
            .any(|(k, v)| k == "k" && matches!(v, AttrValue::Str(s) if s.len() == MAX_VALUE)));
        assert_eq!(s.status.code, StatusCode::Error);
        for bad in ["", "0000000000000000", "00F067AA0BA902B7", "xyz", "00f067aa0ba902b7ff"] {
            assert!(child_span(&c, "t", "p", &child(bad)).is_none(), "{bad}");
        }
    }

    #[test]
    fn attempts_follow_their_parent() {
        let tp = w3c::parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00").unwrap();
        let a = SpanCtx::attempt("0af76519-16cd-43dd-8448-eb211c80319c", Some(&tp), 1.0);
        assert_eq!(a.parent, Some(tp.parent_id));
        assert!(!a.sampled(), "the parent was not sampled");
        let other = SpanCtx::attempt("11111111-16cd-43dd-8448-eb211c80319c", Some(&tp), 1.0);
        assert_eq!(other.parent, None);
        assert_eq!(trace_bytes("not-a-uuid"), trace_bytes("not-a-uuid"));
    }
}
