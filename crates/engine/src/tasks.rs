//! Background tasks of the engine: the batching completer, the log writer, the NOTIFY listener and the
//! maintenance loop (heartbeat, lease reaping, retention sweep).

use std::sync::atomic::Ordering;
use std::time::Duration;

use cfp_store::logs::LogRecord;
use cfp_store::queue::{Completion, Woken, NOTIFY_CHANNEL};
use cfp_store::spans::SpanRecord;
use cfp_store::Scope;
use sqlx::postgres::PgListener;
use tokio::sync::mpsc;

use crate::Engine;

const MAX_BATCH: usize = 512;

/// Commits successful attempts in batches: one transaction marks them done and publishes their emits.
/// A transient database failure keeps the batch and retries it, so no accepted result is lost while the
/// process lives (if it dies, the leases expire and the deliveries run again).
pub(crate) async fn completer(engine: Engine, mut rx: mpsc::UnboundedReceiver<Completion>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let n = batch.len();
        let mut backoff = Duration::from_millis(50);
        loop {
            match engine.store().complete(&batch).await {
                Ok((accepted, woken)) => {
                    if accepted.len() < n {
                        tracing::debug!(dropped = n - accepted.len(), "results of expired leases dropped");
                    }
                    engine.published(&woken);
                    break;
                }
                Err(e) if e.is_transient() => {
                    tracing::warn!(error = %e, batch = n, "committing results failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    tracing::error!(error = %e, batch = n, "committing results failed; the deliveries will run again when their leases expire");
                    break;
                }
            }
        }
        // Committed (or given up on): the deliveries stop counting against their step's concurrency.
        for c in &batch {
            engine.release_step_slot(&c.scope, &c.step);
        }
        engine.inner().unwritten.fetch_sub(n, Ordering::AcqRel);
    }
}

/// Observability rows written in batches, off the hot path.
pub enum Write {
    Log(Scope, LogRecord),
    Span(Scope, SpanRecord),
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
        for w in batch {
            match w {
                Write::Log(s, r) => logs.push((s, r)),
                Write::Span(s, r) => spans.push((s, r)),
            }
        }
        for attempt in 0..5 {
            let result = async {
                engine.store().insert_logs(&logs).await?;
                engine.store().insert_spans(&spans).await
            }
            .await;
            match result {
                Ok(()) => break,
                Err(e) if e.is_transient() && attempt < 4 => {
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await
                }
                Err(e) => {
                    tracing::warn!(error = %e, logs = logs.len(), spans = spans.len(), "could not store logs and spans");
                    break;
                }
            }
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
            match engine.store().reap_leases(engine.config().lease_stale_after_s).await {
                Ok(woken) if !woken.is_empty() => {
                    tracing::info!(steps = woken.len(), "expired leases returned to the queue");
                    engine.wake(&woken);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "lease reaping failed"),
            }
        }
        if n.is_multiple_of(60) {
            if let Err(e) = engine.store().sweep_done(engine.config().done_retention_s).await {
                tracing::warn!(error = %e, "retention sweep failed");
            }
        }
    }
}

/// True while completions or log lines wait to be written.
pub(crate) fn busy(engine: &Engine) -> bool {
    engine.inner().unwritten.load(Ordering::Acquire) > 0
}
