//! The failure path of invocations: a failed attempt is retried after its backoff or dead-lettered
//! ([`Engine::fail_delivery`]); invocations of a worker that went away ([`fail_worker_invocations`]) and
//! invocations past their deadline ([`deadline_watch`]) fail through it.

use std::time::Duration;

use cfp_protocol::{ToWorker, WorkerError};
use cfp_store::queue::FailOutcome;
use cfp_store::rollups::{AttemptEnd, Outcome};
use cfp_store::Scope;
use serde_json::json;

use crate::invoke::{Delivery, InvokeError, Pending, PendingKind};
use crate::registry::WorkerId;
use crate::{ids, Engine};

impl Engine {
    /// Records a failed attempt: schedules the retry or dead-letters the delivery. The attempt is counted
    /// (`outcome`, `took`) once the failure is committed; a stale attempt (its lease moved on) is not.
    pub(crate) async fn fail_delivery(
        &self,
        scope: Scope,
        step: String,
        d: Delivery,
        mut error: WorkerError,
        end: AttemptEnd,
    ) {
        crate::nul::scrub_error(&mut error);
        let cfg = &self.inner().cfg;
        let retriable = error.retriable.unwrap_or(true);
        let delay = retriable.then(|| {
            error
                .retry_after_ms
                .unwrap_or_else(|| ids::backoff_ms(&d.key, d.attempt as u32, cfg.retry_base_ms, cfg.retry_cap_ms))
        });
        let error_json = json!({
            "message": error.message, "name": error.name, "stack": error.stack, "attempt": d.attempt,
            "retriable": retriable,
        });
        let mut backoff = Duration::from_millis(100);
        let failed = loop {
            match self.inner().store.fail(d.seq, d.attempt, &error_json, delay, end).await {
                Ok(o) => break o,
                Err(e) if e.is_transient() && !self.is_shutting_down() => {
                    tracing::warn!(error = %e, "recording a failed attempt failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    tracing::error!(error = %e, seq = d.seq, "could not record a failed attempt; its lease will expire");
                    return;
                }
            }
        };
        let total = d.max_retries + 1;
        let (outcome, took) = (
            end.outcome,
            end.duration_ms.map(|ms| Duration::from_secs_f64(ms / 1000.0)),
        );
        if let Some(m) = self.metrics().filter(|_| failed != FailOutcome::Stale) {
            m.attempt(&scope, &step, outcome, took);
            match failed {
                FailOutcome::Retrying => m.retry(&scope, &step),
                FailOutcome::DeadLettered => m.attempt(&scope, &step, Outcome::DeadLettered, None),
                FailOutcome::Stale => {}
            }
        }
        match failed {
            FailOutcome::Retrying => {
                let ms = delay.unwrap_or(0);
                self.system_log(
                    &scope,
                    "warn",
                    &step,
                    &d.trace_id,
                    format!(
                        "attempt {}/{total} of step `{step}` failed: {}; retrying in {ms} ms",
                        d.attempt, error.message
                    ),
                    Some(error_json),
                );
                let engine = self.clone();
                let woken = vec![cfp_store::queue::Woken { scope, step }];
                let wait = self.config().clock.sleep(Duration::from_millis(ms));
                self.spawn(async move {
                    wait.await;
                    engine.wake(&woken);
                });
            }
            FailOutcome::DeadLettered => {
                // The next message of a FIFO group is eligible now.
                self.wake(&[cfp_store::queue::Woken {
                    scope: scope.clone(),
                    step: step.clone(),
                }]);
                let why = if retriable {
                    format!("after {} attempts", d.attempt)
                } else {
                    "(not retriable)".into()
                };
                // For the operator (and `cfp dev`, which prints it as one line with the `cfp dlq` command to
                // inspect it): a stable message with the step, trace and attempts, never the tenant's error text.
                tracing::info!(
                    tenant = %scope.tenant,
                    project = %scope.project,
                    step = ?step,
                    trace_id = %d.trace_id,
                    attempts = d.attempt,
                    retriable,
                    "moved to the dead-letter queue"
                );
                self.system_log(
                    &scope,
                    "error",
                    &step,
                    &d.trace_id,
                    format!(
                        "step `{step}` failed {why}: {}; moved to the dead-letter queue",
                        error.message
                    ),
                    Some(error_json),
                );
            }
            FailOutcome::Stale => {}
        }
    }
}

/// Ends a pending invocation that failed without a result: an API caller gets `api_error`; a queue delivery
/// fails with `error` (retried or dead-lettered).
fn fail_pending(engine: &Engine, p: Pending, error: WorkerError, outcome: Outcome, api_error: InvokeError) {
    engine.record_span(&p, false, Some(&error));
    match p.kind {
        PendingKind::Api { .. } => {
            engine.count_api(&p, outcome);
            if let PendingKind::Api { reply, .. } = p.kind {
                let _ = reply.send(Err(api_error));
            }
        }
        PendingKind::Queue(d) => {
            let end = Engine::attempt_end(&p.span, outcome);
            let engine = engine.clone();
            engine
                .clone()
                .spawn(async move { engine.fail_delivery(p.scope, p.step, d, error, end).await });
        }
    }
}

/// Fails every invocation in flight on a worker that went away.
pub(crate) fn fail_worker_invocations(engine: &Engine, worker: WorkerId) {
    let ids: Vec<String> = engine
        .inner()
        .pending
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, p)| p.worker == worker)
        .map(|(k, _)| k.clone())
        .collect();
    for id in ids {
        let Some(p) = engine.finish_pending(&id, None, false) else {
            continue;
        };
        let error = WorkerError {
            message: "the worker running this step disconnected before it finished".into(),
            name: Some("WorkerDisconnected".into()),
            retriable: Some(true),
            retry_after_ms: Some(0),
            ..Default::default()
        };
        let gone = InvokeError::WorkerGone(p.step.clone());
        fail_pending(engine, p, error, Outcome::LostWorker, gone);
    }
}

/// Takes every queue delivery still in flight (shutdown) and returns their sequence numbers.
pub(crate) fn take_queue_pending(engine: &Engine) -> Vec<i64> {
    let mut pending = engine.inner().pending.lock().unwrap();
    let ids: Vec<String> = pending
        .iter()
        .filter(|(_, p)| matches!(p.kind, PendingKind::Queue(_)))
        .map(|(k, _)| k.clone())
        .collect();
    ids.iter()
        .filter_map(|id| match pending.remove(id)?.kind {
            PendingKind::Queue(d) => Some(d.seq),
            PendingKind::Api { .. } => None,
        })
        .collect()
}

/// How often [`deadline_watch`] looks for invocations past their deadline, on the engine's clock.
pub(crate) const DEADLINE_TICK: Duration = Duration::from_millis(100);

impl Engine {
    /// The deadline of an invocation sent now that may run for `timeout`, on the engine's monotonic clock
    /// ([`crate::clock::Clock::monotonic`]).
    pub(crate) fn deadline_after(&self, timeout: Duration) -> Duration {
        self.config().clock.monotonic().saturating_add(timeout)
    }
}

/// Fails invocations that passed their deadline and tells their worker to stop waiting for them. It looks every
/// [`DEADLINE_TICK`] of the engine's clock ([`crate::EngineConfig::clock`]): a test with a
/// [`crate::clock::ManualClock`] times invocations out by advancing it.
pub(crate) async fn deadline_watch(engine: Engine) {
    let clock = engine.config().clock.clone();
    loop {
        clock.sleep(DEADLINE_TICK).await;
        let now = clock.monotonic();
        let expired: Vec<String> = engine
            .inner()
            .pending
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for id in expired {
            let Some(p) = engine.finish_pending(&id, None, false) else {
                continue;
            };
            engine.send_to_worker(
                p.worker,
                ToWorker::Cancel {
                    id: id.clone(),
                    reason: "timeout".into(),
                },
            );
            let error = WorkerError {
                message: format!("handler timed out after {} ms", p.timeout_ms),
                name: Some("TimeoutError".into()),
                retriable: Some(true),
                ..Default::default()
            };
            let timeout = InvokeError::Timeout {
                step: p.step.clone(),
                ms: p.timeout_ms,
            };
            fail_pending(&engine, p, error, Outcome::Timeout, timeout);
        }
    }
}
