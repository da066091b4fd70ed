//! Step log lines as OTLP log records (`docs/tracing.md`, "Logs over OTLP"): every line stored in `logs` is
//! also handed to the log exporter when one is configured. The handoff never waits (a bounded buffer; overflow
//! dropped and counted in `cfp_otlp_dropped_total{signal="logs"}`).
//!
//! What says who a record belongs to comes from the runtime, never from the line: the tenant and project are
//! the worker's, and a line naming an invocation its worker is running carries that attempt's trace and span
//! (and step, attempt and flows). A line without such an invocation keeps the trace id it names (mapped to W3C
//! as the spans' are) and no span.

use cfp_otel::{AttrValue, LogData};
use cfp_store::logs::LogRecord;
use cfp_store::Scope;

use crate::registry::WorkerId;
use crate::trace::SpanCtx;
use crate::Engine;

/// Longest body exported (longer ones are cut at a character boundary).
pub const MAX_BODY: usize = 16 * 1024;
/// Longest `cfp.data` attribute (the line's structured data as JSON).
pub const MAX_DATA: usize = 4 * 1024;
/// Longest step name or flow list exported.
const MAX_NAME: usize = 256;

/// The attempt a log line belongs to, as the runtime knows it.
pub(crate) struct LogLink {
    ctx: SpanCtx,
    step: String,
    attempt: Option<u32>,
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

impl Engine {
    /// The attempt `id` when `worker` is running it now (`None` for another worker's, or a finished one).
    pub(crate) fn log_link(&self, worker: WorkerId, id: &str) -> Option<LogLink> {
        let pending = self.inner().pending.lock().unwrap();
        let p = pending.get(id).filter(|p| p.worker == worker)?;
        Some(LogLink {
            ctx: p.ctx.clone(),
            step: p.step.clone(),
            attempt: p.span.as_ref().map(|s| s.attempt),
        })
    }

    /// Hands a stored log line to the log exporter, if there is one. `worker`: the sender, whose registration
    /// names the step's flows.
    pub(crate) fn export_log(
        &self,
        scope: &Scope,
        rec: &LogRecord,
        worker: Option<WorkerId>,
        link: Option<LogLink>,
        source: &'static str,
    ) {
        let Some(exporter) = self.config().otlp_logs.as_ref() else {
            return;
        };
        let step = link.as_ref().map(|l| l.step.as_str()).or(rec.step.as_deref());
        let flows = match (worker, step) {
            (Some(w), Some(step)) => self
                .inner()
                .reg
                .lock()
                .unwrap()
                .workers
                .get(&w)
                .and_then(|w| w.steps.get(step))
                .map(|m| m.flows.join(","))
                .unwrap_or_default(),
            _ => String::new(),
        };
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        exporter.submit(log_data(scope, rec, link.as_ref(), &flows, source, now));
    }
}

/// The OTLP record of a log line.
pub(crate) fn log_data(
    scope: &Scope,
    rec: &LogRecord,
    link: Option<&LogLink>,
    flows: &str,
    source: &'static str,
    observed_nanos: i64,
) -> LogData {
    let mut attributes: Vec<(String, AttrValue)> = vec![
        ("cfp.tenant".into(), scope.tenant.as_str().into()),
        ("cfp.project".into(), scope.project.as_str().into()),
    ];
    let step = link.map(|l| l.step.as_str()).or(rec.step.as_deref());
    if let Some(step) = step {
        attributes.push(("cfp.step".into(), cut(step, MAX_NAME).into()));
    }
    if !flows.is_empty() {
        attributes.push(("cfp.flow".into(), cut(flows, MAX_NAME).into()));
    }
    if let Some(attempt) = link.and_then(|l| l.attempt) {
        attributes.push(("cfp.attempt".into(), AttrValue::Int(i64::from(attempt))));
    }
    if let Some(id) = link.and(rec.invocation_id.as_deref()) {
        attributes.push(("cfp.invocation_id".into(), cut(id, MAX_NAME).into()));
    }
    if let Some(t) = &rec.trace_id {
        attributes.push(("cfp.trace_id".into(), cut(t, MAX_NAME).into()));
    }
    if let Some(data) = &rec.data {
        attributes.push(("cfp.data".into(), cut(&data.to_string(), MAX_DATA).into()));
    }
    let (trace_id, span_id, flags) = match link {
        Some(l) => (Some(l.ctx.trace_id), Some(l.ctx.span_id), l.ctx.flags),
        None => (rec.trace_id.as_deref().map(crate::trace::trace_bytes), None, 0),
    };
    LogData {
        time_unix_nano: u64::try_from(rec.ts_ms).unwrap_or(0).saturating_mul(1_000_000),
        observed_unix_nano: u64::try_from(observed_nanos).unwrap_or(0),
        level: rec.level.clone(),
        body: cut(&rec.msg, MAX_BODY),
        attributes,
        trace_id,
        span_id,
        flags,
        scope: source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> LogRecord {
        LogRecord {
            id: None,
            ts_ms: 1_700_000_000_123,
            level: "warn".into(),
            msg: "é".repeat(MAX_BODY),
            trace_id: Some("0af76519-16cd-43dd-8448-eb211c80319c".into()),
            step: Some("Claimed".into()),
            invocation_id: Some("inv-1".into()),
            data: Some(serde_json::json!({ "k": "v".repeat(10_000) })),
        }
    }

    #[test]
    fn a_linked_line_takes_the_attempts_trace_span_and_step() {
        let ctx = SpanCtx::attempt("0af76519-16cd-43dd-8448-eb211c80319c", None, 1.0);
        let link = LogLink {
            ctx: ctx.clone(),
            step: "Real".into(),
            attempt: Some(2),
        };
        let l = log_data(&Scope::new("t", "p"), &rec(), Some(&link), "orders", "cfp-worker", 5);
        assert_eq!(l.trace_id, Some(ctx.trace_id));
        assert_eq!(l.span_id, Some(ctx.span_id));
        assert_eq!(l.flags, 1);
        assert_eq!(l.time_unix_nano, 1_700_000_000_123_000_000);
        assert!(l.body.len() <= MAX_BODY && l.body.len() > MAX_BODY - 2);
        let get = |k: &str| l.attributes.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        assert_eq!(
            get("cfp.step"),
            Some("Real".into()),
            "the runtime's step, not the line's"
        );
        assert_eq!(get("cfp.tenant"), Some("t".into()));
        assert_eq!(get("cfp.flow"), Some("orders".into()));
        assert_eq!(get("cfp.attempt"), Some(AttrValue::Int(2)));
        assert_eq!(get("cfp.invocation_id"), Some("inv-1".into()));
        match get("cfp.data") {
            Some(AttrValue::Str(s)) => assert_eq!(s.len(), MAX_DATA),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unlinked_line_keeps_its_trace_without_a_span() {
        let l = log_data(&Scope::new("t", "p"), &rec(), None, "", "cfp-worker", 5);
        assert_eq!(
            l.trace_id,
            Some(crate::trace::trace_bytes("0af76519-16cd-43dd-8448-eb211c80319c"))
        );
        assert_eq!((l.span_id, l.flags), (None, 0));
        assert!(!l
            .attributes
            .iter()
            .any(|(k, _)| k == "cfp.invocation_id" || k == "cfp.flow"));
    }
}
