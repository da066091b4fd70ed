//! Gauges computed when `/metrics` is scraped, from cheap sources: the worker registry (in memory), the
//! database pool's counters, and one bounded query for the queue gauges. That query never runs in the scrape's
//! path: a scrape that finds the queue gauges older than [`crate::metrics::MetricsConfig::queue_cache`] starts
//! one refresh in the background (one at a time) and answers with the values it has, so a scrape costs no database
//! round trip and frequent scrapes cost the database nothing more.

use std::collections::HashMap;

use cfp_store::Scope;

use std::sync::atomic::Ordering;

use prometheus_client::metrics::counter::Counter;

use crate::metrics::{
    cap_series, MetricLabels, Metrics, OtlpDropLabels, ProjectLabels, SignalLabels, StateLabels, StepLabels, OVERFLOW,
};
use crate::Engine;

impl Engine {
    /// Refreshes the scrape-time gauges and returns the exposition (OpenMetrics text); `None` with metrics off.
    pub async fn scrape_metrics(&self) -> Option<String> {
        let m = self.metrics()?;
        self.refresh_workers(m);
        self.refresh_pool(m);
        self.refresh_queues_soon(m);
        self.refresh_otlp(m);
        Some(m.encode())
    }

    /// Brings `cfp_otlp_exported_total` and `cfp_otlp_dropped_total` up to the exporters' own counters.
    fn refresh_otlp(&self, m: &Metrics) {
        let _one = m.otlp_sync.lock().unwrap();
        if let Some(e) = &self.config().otlp {
            sync_otlp(m, "spans", e.stats());
        }
        if let Some(e) = &self.config().otlp_logs {
            sync_otlp(m, "logs", e.stats());
        }
    }

    fn refresh_workers(&self, m: &Metrics) {
        let mut per: HashMap<ProjectLabels, (i64, i64, i64)> = HashMap::new();
        {
            let reg = self.inner().reg.lock().unwrap();
            for w in reg.workers.values() {
                let e = per
                    .entry(ProjectLabels {
                        tenant: w.scope.tenant.clone(),
                        project: w.scope.project.clone(),
                    })
                    .or_default();
                e.0 += 1;
                e.1 += w.capacity as i64;
                e.2 += w.inflight as i64;
            }
        }
        let mut rows: Vec<_> = per.into_iter().collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.1 .0));
        let overflow = ProjectLabels {
            tenant: OVERFLOW.into(),
            project: OVERFLOW.into(),
        };
        let (rows, folded) = cap_series(rows, m.cfg.max_series, overflow, |a, b| {
            (a.0 + b.0, a.1 + b.1, a.2 + b.2)
        });
        if folded > 0 {
            m.overflow
                .get_or_create(&MetricLabels {
                    metric: "cfp_workers_connected",
                })
                .inc_by(folded);
        }
        m.workers_connected.clear();
        m.worker_capacity.clear();
        m.worker_in_flight.clear();
        for (labels, (n, capacity, inflight)) in rows {
            m.workers_connected.get_or_create(&labels).set(n);
            m.worker_capacity.get_or_create(&labels).set(capacity);
            m.worker_in_flight.get_or_create(&labels).set(inflight);
        }
    }

    fn refresh_pool(&self, m: &Metrics) {
        let pool = self.store().pool();
        let size = pool.size() as i64;
        let idle = pool.num_idle() as i64;
        m.db_pool.get_or_create(&StateLabels { state: "idle" }).set(idle);
        m.db_pool
            .get_or_create(&StateLabels { state: "used" })
            .set((size - idle).max(0));
        m.db_pool_max.set(pool.options().get_max_connections() as i64);
    }

    /// Starts a refresh of the queue gauges when the last one started longer ago than the cache time and none is
    /// running.
    fn refresh_queues_soon(&self, m: &std::sync::Arc<Metrics>) {
        let Ok(mut last) = m.queue_read.try_lock() else {
            return;
        };
        let now = tokio::time::Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < m.cfg.queue_cache) || self.is_shutting_down() {
            return;
        }
        *last = Some(now);
        let (engine, m) = (self.clone(), m.clone());
        self.spawn(async move {
            // Held while reading: a scrape meanwhile does not start another.
            let _running = m.queue_read.lock().await;
            engine.refresh_queues(&m).await;
        });
    }

    /// Queue depth, oldest ready age and dead letters per step. A failed read keeps the last values.
    async fn refresh_queues(&self, m: &Metrics) {
        let cap = m.cfg.max_series;
        // One group more than the cap: enough to know something was folded (summing beyond it would need the
        // unbounded read this avoids).
        let (queues, dead) = match self.store().queue_gauges(cap as i64 + 1).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "could not read the queue gauges; keeping the last values");
                return;
            }
        };
        let label = |scope: &Scope, step: &str| StepLabels::new(scope, step);
        let depth = queues
            .iter()
            .map(|q| (label(&q.scope, &q.step), (q.depth, q.oldest_ready_s)))
            .collect();
        let (depth, folded) = cap_series(depth, cap, StepLabels::overflow(), |a, b| (a.0 + b.0, a.1.max(b.1)));
        if folded > 0 {
            m.overflow
                .get_or_create(&MetricLabels {
                    metric: "cfp_queue_depth",
                })
                .inc_by(folded);
        }
        m.queue_depth.clear();
        m.oldest_ready.clear();
        for (labels, (n, oldest)) in depth {
            m.queue_depth.get_or_create(&labels).set(n);
            m.oldest_ready.get_or_create(&labels).set(oldest);
        }
        let dead = dead.iter().map(|d| (label(&d.scope, &d.step), d.count)).collect();
        let (dead, folded) = cap_series(dead, cap, StepLabels::overflow(), |a, b| a + b);
        if folded > 0 {
            m.overflow
                .get_or_create(&MetricLabels { metric: "cfp_dlq_size" })
                .inc_by(folded);
        }
        m.dlq_size.clear();
        for (labels, n) in dead {
            m.dlq_size.get_or_create(&labels).set(n);
        }
    }
}

fn sync_otlp(m: &Metrics, signal: &'static str, stats: &cfp_otel::ExportStats) {
    let up = |c: &Counter, to: u64| {
        let now = c.get();
        if to > now {
            c.inc_by(to - now);
        }
    };
    up(
        &m.otlp_exported.get_or_create(&SignalLabels { signal }),
        stats.exported.load(Ordering::Relaxed),
    );
    for (reason, n) in [
        ("buffer_full", &stats.dropped_full),
        ("export_failed", &stats.dropped_failed),
    ] {
        up(
            &m.otlp_dropped.get_or_create(&OtlpDropLabels { signal, reason }),
            n.load(Ordering::Relaxed),
        );
    }
}
