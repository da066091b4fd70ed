//! Background tasks of the engine: the batching completer, the log writer, the NOTIFY listener and the
//! maintenance loop (heartbeat, lease reaping, rollups, retention sweep).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cfp_protocol::WorkerError;

use cfp_store::logs::LogRecord;
use cfp_store::queue::{Completion, Woken, NOTIFY_CHANNEL};
use cfp_store::spans::SpanRecord;
use cfp_store::Scope;
use sqlx::postgres::PgListener;
use tokio::sync::mpsc;

use crate::invoke::Delivery;
use crate::metrics::Outcome;
use crate::registry::WorkerId;
use crate::{Engine, EngineConfig};

const MAX_BATCH: usize = 512;

/// How often a worker whose log lines were dropped gets a warning line saying how many.
pub const LOG_DROP_REPORT_EVERY: Duration = Duration::from_secs(10);

/// A successful attempt on its way to the completer, with what is needed to fail it on its own.
pub struct Finished {
    pub completion: Completion,
    pub delivery: Delivery,
    /// How long the attempt ran (invoke to result).
    pub took: Option<Duration>,
}

/// Commits successful attempts in batches: one transaction marks them done and publishes their emits.
/// A transient database failure keeps the batch and retries it, so no accepted result is lost while the
/// process lives (if it dies, the leases expire and the deliveries run again). A batch failing for another
/// reason is committed again one delivery at a time, so one bad result cannot hold up the others; a delivery
/// that fails alone is failed (not retried) with a message saying so.
pub(crate) async fn completer(engine: Engine, mut rx: mpsc::UnboundedReceiver<Finished>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let n = batch.len();
        let completions: Vec<Completion> = batch.iter().map(|f| f.completion.clone()).collect();
        match commit(&engine, &completions)
            .await
            .map(|accepted| count_ok(&engine, &batch, &accepted))
        {
            Err(e) if e.transient => {
                tracing::error!(error = %e, batch = n, "committing results failed; the deliveries will run again when their leases expire");
            }
            Err(e) => {
                if n > 1 {
                    tracing::warn!(error = %e, batch = n, "committing a batch of results failed; committing them one by one");
                }
                for f in &batch {
                    let alone = if n > 1 {
                        commit(&engine, std::slice::from_ref(&f.completion)).await
                    } else {
                        Err(e.clone_message())
                    };
                    match alone {
                        Err(e) if !e.transient => fail_uncommittable(&engine, f, e).await,
                        Err(e) => {
                            tracing::error!(error = %e, "committing a result failed; it runs again when its lease expires")
                        }
                        Ok(accepted) => count_ok(&engine, std::slice::from_ref(f), &accepted),
                    }
                }
            }
            Ok(()) => {}
        }
        // Committed (or failed): the deliveries stop counting against their step's concurrency.
        for f in &batch {
            engine.release_step_slot(&f.completion.scope, &f.completion.step);
        }
        engine.inner().unwritten.fetch_sub(n, Ordering::AcqRel);
    }
}

/// Counts the successful attempts whose completion committed (`accepted`: their sequence numbers); a result
/// of a lease that had expired is not counted (its attempt was counted when the lease was reaped).
fn count_ok(engine: &Engine, batch: &[Finished], accepted: &[i64]) {
    let Some(m) = engine.metrics() else { return };
    let accepted: std::collections::HashSet<i64> = accepted.iter().copied().collect();
    for f in batch {
        if accepted.contains(&f.completion.seq) {
            m.attempt(&f.completion.scope, &f.completion.step, Outcome::Ok, f.took);
        }
    }
}

/// Commits completions, retrying while the database is unreachable. Returns the sequence numbers accepted, or
/// the first other error.
async fn commit(engine: &Engine, batch: &[Completion]) -> Result<Vec<i64>, CommitError> {
    let n = batch.len();
    let mut backoff = Duration::from_millis(50);
    loop {
        match engine.store().complete(batch).await {
            Ok((accepted, woken)) => {
                if accepted.len() < n {
                    tracing::debug!(dropped = n - accepted.len(), "results of expired leases dropped");
                }
                engine.published(&woken);
                return Ok(accepted);
            }
            Err(e) if e.is_transient() && !engine.is_shutting_down() => {
                tracing::warn!(error = %e, batch = n, "committing results failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                return Err(CommitError {
                    transient: e.is_transient(),
                    message: e.to_string(),
                })
            }
        }
    }
}

/// Why a commit failed (the store error's text: logged, never sent to a worker).
#[derive(Debug)]
struct CommitError {
    /// The database is unreachable (only while shutting down: otherwise the commit is retried).
    transient: bool,
    message: String,
}

impl CommitError {
    fn clone_message(&self) -> CommitError {
        CommitError {
            transient: self.transient,
            message: self.message.clone(),
        }
    }
}

impl std::fmt::Display for CommitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A successful attempt whose result cannot be stored even alone: it fails, not retried (the same handler
/// would send the same result), instead of waiting for its lease to expire.
async fn fail_uncommittable(engine: &Engine, f: &Finished, e: CommitError) {
    let c = &f.completion;
    tracing::error!(error = %e, step = %c.step, seq = c.seq, "a result could not be stored; the attempt fails");
    let error = WorkerError {
        message: "the runtime could not store this attempt's result (its emitted events); the attempt fails and \
                  is not retried"
            .into(),
        name: Some("UnstorableResultError".into()),
        retriable: Some(false),
        ..Default::default()
    };
    engine
        .fail_delivery(
            c.scope.clone(),
            c.step.clone(),
            f.delivery.clone(),
            error,
            cfp_store::rollups::AttemptEnd {
                outcome: cfp_store::rollups::Outcome::HandlerError,
                duration_ms: c.duration_ms,
            },
        )
        .await;
}

/// Observability rows written in batches, off the hot path. A worker's log line carries its charge against the
/// worker's share of the queue, refunded once written.
pub enum Write {
    Log(Scope, LogRecord, Option<Charge>),
    Span(Scope, SpanRecord),
}

/// A worker's log lines and bytes waiting in the writer's queue, and the lines dropped beyond its share.
#[derive(Default)]
pub struct LogBudget {
    lines: AtomicUsize,
    bytes: AtomicUsize,
    dropped: AtomicU64,
    reported_at: Mutex<Option<Instant>>,
}

/// One queued line's share of a [`LogBudget`].
pub struct Charge {
    budget: Arc<LogBudget>,
    bytes: usize,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.lines.fetch_sub(1, Ordering::AcqRel);
        self.budget.bytes.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

impl LogBudget {
    /// Takes a place for `rec` in the queue, or counts it dropped when the worker's share is used up.
    pub fn charge(self: &Arc<Self>, rec: &LogRecord, cfg: &EngineConfig) -> Option<Charge> {
        let bytes = rec.msg.len() + rec.data.as_ref().map_or(0, approximate_size) + 64;
        let lines = self.lines.fetch_add(1, Ordering::AcqRel) + 1;
        let total = self.bytes.fetch_add(bytes, Ordering::AcqRel) + bytes;
        let charge = Charge {
            budget: self.clone(),
            bytes,
        };
        if lines > cfg.max_queued_log_lines || total > cfg.max_queued_log_bytes {
            drop(charge);
            self.dropped.fetch_add(1, Ordering::AcqRel);
            return None;
        }
        Some(charge)
    }

    /// The lines dropped since the last report, when there are some and a report is due (or `now` is `None`:
    /// the worker is gone).
    pub fn report(&self, now: Option<Instant>) -> Option<u64> {
        let mut at = self.reported_at.lock().unwrap();
        if let (Some(now), Some(last)) = (now, *at) {
            if now.duration_since(last) < LOG_DROP_REPORT_EVERY {
                return None;
            }
        }
        let n = self.dropped.swap(0, Ordering::AcqRel);
        if n == 0 {
            return None;
        }
        *at = now;
        Some(n)
    }
}

/// Roughly the bytes a JSON value takes (without serialising it).
fn approximate_size(v: &serde_json::Value) -> usize {
    use serde_json::Value;
    match v {
        Value::String(s) => s.len() + 2,
        Value::Array(items) => 2 + items.iter().map(approximate_size).sum::<usize>(),
        Value::Object(map) => {
            2 + map
                .iter()
                .map(|(k, v)| k.len() + 4 + approximate_size(v))
                .sum::<usize>()
        }
        _ => 8,
    }
}

/// Says, in the project's logs and the runtime's, how many log lines of a worker were dropped.
pub(crate) fn report_dropped_logs(engine: &Engine, scope: &Scope, worker: WorkerId, name: &str, n: u64) {
    let cfg = engine.config();
    tracing::warn!(worker, project = %scope.project, dropped = n, "log lines of a worker dropped: its queue was full");
    engine.log_record(
        scope,
        LogRecord {
            id: None,
            ts_ms: chrono::Utc::now().timestamp_millis(),
            level: "warn".into(),
            msg: format!(
                "{n} log lines of worker `{name}` were dropped: more than {} lines or {} bytes of its logs were \
                 waiting to be written",
                cfg.max_queued_log_lines, cfg.max_queued_log_bytes
            ),
            trace_id: None,
            step: None,
            invocation_id: None,
            data: Some(serde_json::json!({ "dropped": n, "worker": name })),
        },
    );
}

pub(crate) async fn writer(engine: Engine, mut rx: mpsc::UnboundedReceiver<Write>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        // Linger briefly so bursts become one insert.
        tokio::time::sleep(Duration::from_millis(20)).await;
        while batch.len() < 4000 {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let mut logs = Vec::new();
        let mut spans = Vec::new();
        let mut charges = Vec::new();
        for w in batch {
            match w {
                Write::Log(s, r, c) => {
                    logs.push((s, r));
                    charges.extend(c);
                }
                Write::Span(s, r) => spans.push((s, r)),
            }
        }
        match write_observability(&engine, &logs, &spans).await {
            Ok(()) => {}
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, logs = logs.len(), spans = spans.len(), "could not store logs and spans");
            }
            Err(e) => {
                // Not the database being away: some row cannot be stored. Write them one by one, so one bad row
                // loses only itself.
                tracing::warn!(error = %e, logs = logs.len(), spans = spans.len(), "could not store logs and spans as a batch; storing them one by one");
                let mut lost = 0usize;
                for row in logs.chunks(1) {
                    lost += write_observability(&engine, row, &[]).await.is_err() as usize;
                }
                for row in spans.chunks(1) {
                    lost += write_observability(&engine, &[], row).await.is_err() as usize;
                }
                if lost > 0 {
                    tracing::warn!(rows = lost, "log lines or spans could not be stored");
                }
            }
        }
        drop(charges);
    }
}

/// Inserts log lines and spans, retrying a few times while the database is unreachable.
async fn write_observability(
    engine: &Engine,
    logs: &[(Scope, LogRecord)],
    spans: &[(Scope, SpanRecord)],
) -> Result<(), cfp_store::StoreError> {
    let mut attempt = 0;
    loop {
        let result = async {
            engine.store().insert_logs(logs).await?;
            engine.store().insert_spans(spans).await
        }
        .await;
        match result {
            Err(e) if e.is_transient() && attempt < 4 => {
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Wakes local dispatchers when another replica publishes to their step.
pub(crate) async fn listener(engine: Engine) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let mut listener = match PgListener::connect_with(engine.store().pool()).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "queue listener cannot connect; dispatchers poll meanwhile");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        if let Err(e) = listener.listen(NOTIFY_CHANNEL).await {
            tracing::warn!(error = %e, "LISTEN failed");
            tokio::time::sleep(backoff).await;
            continue;
        }
        backoff = Duration::from_millis(200);
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => {
                    let mut parts = n.payload().splitn(3, '/');
                    if let (Some(t), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) {
                        engine.wake(&[Woken {
                            scope: Scope::new(t, p),
                            step: s.to_string(),
                        }]);
                    }
                }
                Ok(None) => {
                    // Connection lost and re-established: anything may have been published meanwhile.
                    let all: Vec<Woken> = engine
                        .inner()
                        .dispatchers
                        .lock()
                        .unwrap()
                        .keys()
                        .map(|(scope, step)| Woken {
                            scope: scope.clone(),
                            step: step.clone(),
                        })
                        .collect();
                    engine.wake(&all);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "queue listener lost its connection; reconnecting");
                    break;
                }
            }
        }
    }
}

/// Heartbeat (every second), lease reaping (every 2 s) and the retention sweep (every minute).
pub(crate) async fn maintenance(engine: Engine) {
    let id = engine.config().instance_id.clone();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        n += 1;
        report_all_dropped_logs(&engine);
        if let Err(e) = engine.store().heartbeat(&id).await {
            tracing::warn!(error = %e, "runtime heartbeat failed");
            continue;
        }
        match engine
            .store()
            .other_runtimes_alive(&id, engine.config().lease_stale_after_s)
            .await
        {
            Ok(alive) => engine.inner().others_alive.store(alive, Ordering::Relaxed),
            Err(e) => tracing::debug!(error = %e, "could not look for other runtimes"),
        }
        if n.is_multiple_of(2) {
            match engine
                .store()
                .reap_leases(engine.config().lease_stale_after_s, engine.config().clock.now())
                .await
            {
                Ok(reaped) => {
                    // Attempts that ended without a result (their runtime or worker was lost): counted once,
                    // here, when the reaping commits.
                    if let Some(m) = engine.metrics() {
                        for (scope, step, dead) in &reaped.lost {
                            m.attempt(scope, step, Outcome::LostWorker, None);
                            if *dead {
                                m.attempt(scope, step, Outcome::DeadLettered, None);
                            } else {
                                m.retry(scope, step);
                            }
                        }
                    }
                    if !reaped.woken.is_empty() {
                        tracing::info!(steps = reaped.woken.len(), "expired leases returned to the queue");
                        engine.wake(&reaped.woken);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "lease reaping failed"),
            }
        }
        if n.is_multiple_of(5) {
            roll_up(&engine).await;
            if let Err(e) = engine.store().flush_usage().await {
                tracing::warn!(error = %e, "writing usage counts failed; kept for the next flush");
            }
        }
        if n.is_multiple_of(60) {
            use cfp_store::rollups::{HOUR_RETENTION, MINUTE_RETENTION};
            if let Err(e) = engine.store().sweep_rollups(MINUTE_RETENTION, HOUR_RETENTION).await {
                tracing::warn!(error = %e, "sweeping old rollups failed");
            }
            use cfp_store::usage::{DAY_RETENTION, HOUR_RETENTION as USAGE_HOURS};
            if let Err(e) = engine.store().sweep_usage(USAGE_HOURS, DAY_RETENTION).await {
                tracing::warn!(error = %e, "sweeping old usage counters failed");
            }
            if let Err(e) = engine.store().sweep_done(engine.config().done_retention_s).await {
                tracing::warn!(error = %e, "retention sweep failed");
            }
            if let Err(e) = engine.store().sweep_webhooks().await {
                tracing::warn!(error = %e, "sweeping expired webhook records failed");
            }
        }
    }
}

/// Moves finished attempts into the rollups until none are left (a batch at a time; each batch is one
/// transaction, so a crash loses nothing and counts nothing twice).
pub(crate) async fn roll_up(engine: &Engine) {
    const BATCH: i64 = 10_000;
    crate::api_outcomes::flush(engine).await;
    loop {
        match engine.store().roll_up(BATCH).await {
            Ok(n) if n == BATCH as u64 => continue,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "rolling up finished attempts failed");
                return;
            }
        }
    }
}

/// Reports the dropped log lines of every worker that has some and is due.
fn report_all_dropped_logs(engine: &Engine) {
    let now = Instant::now();
    let due: Vec<(Scope, WorkerId, String, u64)> = engine
        .inner()
        .reg
        .lock()
        .unwrap()
        .workers
        .values()
        .filter_map(|w| Some((w.scope.clone(), w.id, w.name.clone(), w.logs.report(Some(now))?)))
        .collect();
    for (scope, worker, name, n) in due {
        report_dropped_logs(engine, &scope, worker, &name, n);
    }
}

/// True while completions or log lines wait to be written.
pub(crate) fn busy(engine: &Engine) -> bool {
    engine.inner().unwritten.load(Ordering::Acquire) > 0
}
