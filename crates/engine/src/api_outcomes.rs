//! API steps' attempt ends, buffered for the rollups (docs/slo.md, "API steps").
//!
//! An API step's invocation has no queue row, so nothing writes its `step_outcomes` row in a transaction. Each
//! end is kept here (bounded: beyond [`MAX`] ends between flushes, they are dropped and counted) and written in one
//! batch by the maintenance loop before each rollup, before each SLO cycle and at shutdown. A runtime killed with
//! SIGKILL loses the ends since the last flush (at most ~5 s); API invocations are not durable either.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use cfp_store::outcomes::OutcomeRow;
use cfp_store::rollups::Outcome;
use cfp_store::Scope;

/// Ends held between two flushes at most.
pub const MAX: usize = 100_000;

#[derive(Debug, Default)]
pub struct ApiOutcomes {
    buf: Mutex<Vec<OutcomeRow>>,
    dropped: AtomicU64,
}

impl ApiOutcomes {
    pub fn push(&self, scope: &Scope, step: &str, outcome: Outcome, duration_ms: Option<f64>) {
        let mut buf = self.buf.lock().unwrap();
        if buf.len() >= MAX {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        buf.push(OutcomeRow {
            scope: scope.clone(),
            step: step.to_string(),
            outcome,
            duration_ms,
            finished_ms: chrono::Utc::now().timestamp_millis(),
        });
    }

    /// Ends dropped because the buffer was full, since the start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn take(&self) -> Vec<OutcomeRow> {
        std::mem::take(&mut *self.buf.lock().unwrap())
    }

    fn put_back(&self, mut rows: Vec<OutcomeRow>) {
        let mut buf = self.buf.lock().unwrap();
        rows.append(&mut buf);
        let over = rows.len().saturating_sub(MAX);
        if over > 0 {
            self.dropped.fetch_add(over as u64, Ordering::Relaxed);
            rows.truncate(MAX);
        }
        *buf = rows;
    }
}

/// Writes the buffered ends; on a database error they stay buffered (within the bound) for the next flush.
pub(crate) async fn flush(engine: &crate::Engine) {
    let outcomes = &engine.inner().api_outcomes;
    let rows = outcomes.take();
    if rows.is_empty() {
        return;
    }
    if let Err(e) = engine.store().record_outcomes(&rows).await {
        tracing::warn!(error = %e, ends = rows.len(), "writing API steps' attempt ends failed; kept for the next try");
        outcomes.put_back(rows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_is_bounded_and_counts_what_it_drops() {
        let o = ApiOutcomes::default();
        let scope = Scope::new("t", "p");
        for _ in 0..MAX + 3 {
            o.push(&scope, "s", Outcome::Ok, Some(1.0));
        }
        assert_eq!(o.dropped(), 3);
        let rows = o.take();
        assert_eq!(rows.len(), MAX);
        o.push(&scope, "s", Outcome::Timeout, None);
        o.put_back(rows);
        assert_eq!(o.take().len(), MAX);
        assert_eq!(o.dropped(), 4);
    }
}
