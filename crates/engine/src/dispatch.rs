//! One dispatcher per hosted event or cron step: it claims ready deliveries from PostgreSQL and invokes
//! them on the step's workers, never exceeding the step's `concurrency` or the workers' capacity.
//! It wakes on local notifications (emits committed by this process), PostgreSQL NOTIFY (other
//! replicas), retry timers, freed slots, and a poll interval as the fallback.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cfp_protocol::{CronInput, EventInput, InvokeFrame, InvokeInput, QueueKind, StepKind};
use cfp_store::queue::Claimed;
use cfp_store::Scope;
use serde_json::Value;
use tokio::sync::Notify;

use crate::invoke::{Delivery, Pending, PendingKind};
use crate::Engine;

/// How often a dispatcher blocked by a region-wide execution limit asks Redis for room again.
const REGION_RECHECK: Duration = Duration::from_millis(100);

pub struct Dispatcher {
    pub scope: Scope,
    pub step: String,
    pub notify: Notify,
    /// Deliveries of this step in flight from this runtime.
    pub inflight: AtomicU32,
}

impl Dispatcher {
    pub fn new(scope: Scope, step: String) -> Self {
        Self {
            scope,
            step,
            notify: Notify::new(),
            inflight: AtomicU32::new(0),
        }
    }
}

pub(crate) async fn run(engine: Engine, d: std::sync::Arc<Dispatcher>) {
    let mut shutdown = engine.shutdown_signal();
    let mut error_backoff = Duration::from_millis(100);
    // The safety poll of an idle step: doubles while claims find nothing, back to `poll_interval` on work.
    let mut idle_poll = engine.config().poll_interval;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let Some(manifest) = engine.manifest(&d.scope, &d.step) else {
            // No connected worker hosts the step any more: stop; registration starts a new dispatcher.
            let mut map = engine.inner().dispatchers.lock().unwrap();
            if engine.manifest(&d.scope, &d.step).is_none() {
                map.remove(&(d.scope.clone(), d.step.clone()));
                break;
            }
            continue;
        };
        let policy = manifest.queue_policy();
        let limit = policy
            .concurrency
            .unwrap_or(u32::MAX)
            .saturating_sub(d.inflight.load(Ordering::Acquire));
        let free = engine.inner().reg.lock().unwrap().free_slots(&d.scope, &d.step);
        let (room, gates) = engine.inner().exec_limits.room(&d.scope).await;
        let want = limit.min(free).min(engine.config().claim_batch).min(room);
        let mut claimed_full = false;
        // Set when a claim found nothing: how long until a deferred delivery becomes visible.
        let mut idle: Option<Option<Duration>> = None;
        if want > 0 {
            let lease_s = policy.visibility_timeout_s;
            let fifo = policy.kind == QueueKind::Fifo;
            match engine
                .store()
                .claim(
                    &d.scope,
                    &d.step,
                    fifo,
                    want as i64,
                    lease_s,
                    &engine.config().instance_id,
                    engine.config().clock.now(),
                )
                .await
            {
                Ok(rows) => {
                    error_backoff = Duration::from_millis(100);
                    claimed_full = rows.len() as u32 == want;
                    if rows.is_empty() {
                        engine.inner().idle_claims.fetch_add(1, Ordering::Relaxed);
                        let next = engine.store().next_visible_in(&d.scope, &d.step).await;
                        idle = Some(next.unwrap_or_else(|e| {
                            tracing::debug!(step = %d.step, error = %e, "could not look for deferred deliveries");
                            Some(engine.config().poll_interval)
                        }));
                    } else {
                        idle_poll = engine.config().poll_interval;
                    }
                    let cron = manifest.kind == StepKind::Cron;
                    deliver(&engine, &d, rows, cron, policy.timeout_s).await;
                }
                Err(e) => {
                    tracing::warn!(step = %d.step, error = %e, "claiming deliveries failed; retrying");
                    tokio::time::sleep(error_backoff).await;
                    error_backoff = (error_backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            }
        }
        if claimed_full {
            continue;
        }
        // Full project or tenant (maxConcurrentExecutions): also wake when one of their executions ends here; a
        // place freed on another replica (limits counted in Redis) is looked for every REGION_RECHECK.
        let [project_gate, tenant_gate] = &gates;
        let mut wait = engine.config().poll_interval;
        if let Some(next_visible) = idle {
            // Nothing to claim: wake-ups bring new work (local publishes, NOTIFY from other replicas, retry
            // timers, freed slots); the poll is only a safety net, and a deferred delivery is awaited exactly.
            wait = idle_poll;
            idle_poll = (idle_poll * 2).min(engine.config().max_idle_poll.max(engine.config().poll_interval));
            if let Some(next) = next_visible {
                wait = wait.min(next + Duration::from_millis(5));
            }
        }
        if room == 0 && engine.shared_limits().is_some() {
            wait = wait.min(REGION_RECHECK);
        }
        tokio::select! {
            _ = d.notify.notified() => {}
            _ = project_gate.freed.notified(), if room == 0 => {}
            _ = tenant_gate.freed.notified(), if room == 0 => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
}

async fn deliver(engine: &Engine, d: &Dispatcher, rows: Vec<Claimed>, cron: bool, timeout_s: u64) {
    let mut unplaced = Vec::new();
    if let Some(m) = engine.metrics() {
        // Publish to first claim: later attempts wait for their backoff on purpose.
        for row in rows.iter().filter(|r| r.attempt == 1) {
            m.claim_lag(row.lag_s);
        }
    }
    for row in rows {
        let worker = engine.inner().reg.lock().unwrap().pick_worker(&d.scope, &d.step, true);
        let Some(worker) = worker else {
            unplaced.push(row.seq);
            continue;
        };
        let key = format!("{}:{}", d.step, row.event_id);
        let input = if cron {
            let at = row.data.get("scheduledAt").and_then(Value::as_str).unwrap_or_default();
            InvokeInput::Cron(CronInput {
                scheduled_at: at.to_string(),
            })
        } else {
            InvokeInput::Event(EventInput {
                topic: row.topic,
                data: row.data,
                event_id: row.event_id.to_string(),
                message_group_id: row.group_id,
            })
        };
        let timeout_ms = timeout_s * 1000;
        let parent = crate::trace::from_row(row.traceparent.as_deref(), row.tracestate.as_deref());
        let ctx = crate::trace::SpanCtx::attempt(&row.trace_id, parent.as_ref(), engine.config().trace_sample_ratio);
        let frame = InvokeFrame {
            // Unguessable: only the worker it is sent to knows it (the sequence number and attempt stay in the
            // pending delivery).
            id: uuid::Uuid::new_v4().to_string(),
            step: d.step.clone(),
            attempt: row.attempt as u32,
            max_attempts: Some(row.max_retries.max(0) as u32 + 1),
            trace_id: row.trace_id.clone(),
            traceparent: Some(ctx.traceparent()),
            tracestate: ctx.tracestate.clone(),
            idempotency_key: key.clone(),
            timeout_ms,
            input,
        };
        let Ok(permit) = engine.inner().exec_limits.try_acquire(&d.scope).await else {
            unplaced.push(row.seq);
            continue;
        };
        let pending = Pending {
            span: None,
            ctx,
            child_spans: 0,
            permit: Some(permit),
            worker,
            scope: d.scope.clone(),
            step: d.step.clone(),
            deadline: engine.deadline_after(Duration::from_millis(timeout_ms)),
            timeout_ms,
            kind: PendingKind::Queue(Delivery {
                seq: row.seq,
                attempt: row.attempt,
                max_retries: row.max_retries,
                key,
                trace_id: row.trace_id,
            }),
        };
        d.inflight.fetch_add(1, Ordering::AcqRel);
        if !engine.start_invocation(worker, frame, pending) {
            d.inflight.fetch_sub(1, Ordering::AcqRel);
            unplaced.push(row.seq);
        }
    }
    if !unplaced.is_empty() {
        if let Err(e) = engine.store().release(&unplaced).await {
            tracing::warn!(error = %e, "could not give back deliveries; their leases will expire");
        }
    }
}
