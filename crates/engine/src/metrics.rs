//! Prometheus metrics of the runtime (`/metrics`, `docs/metrics.md`): per-step counters and histograms recorded
//! where attempts end, and gauges computed when scraped ([`crate::metrics_scrape`]).
//!
//! The hot path is one read-locked map lookup per finished attempt: every step gets a [`StepHandles`] (its
//! counters and histogram, labels built once) the first time it records something. Series of the tenant/project/
//! step labels are capped (`max_series` per family): beyond the cap a step records into one series labelled
//! `__overflow__`, and `cfp_metrics_series_overflow_total{metric}` counts each such recording.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use cfp_store::Scope;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The buckets of `cfp_step_duration_seconds` (seconds), before any SLO threshold is added.
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The label value of the series that takes what is beyond the series cap.
pub const OVERFLOW: &str = "__overflow__";

#[derive(Debug, Clone)]
pub struct MetricsConfig {
    /// Off: nothing is recorded and `/metrics` is not served (`--metrics off`).
    pub enabled: bool,
    /// Series per metric family on the tenant/project/step labels, at most.
    pub max_series: usize,
    /// Bucket bounds (seconds) added to `cfp_step_duration_seconds`, e.g. every SLO latency threshold in use.
    pub extra_buckets: Vec<f64>,
    /// Queue gauges (depth, oldest ready age, dead letters) come from one query, reused this long.
    pub queue_cache: Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_series: 10_000,
            extra_buckets: Vec::new(),
            queue_cache: Duration::from_secs(2),
        }
    }
}

/// How an attempt ended (`outcome` label of `cfp_step_invocations_total`): the same classes the step's rollups
/// count (`cfp_store::rollups`).
pub use cfp_store::rollups::Outcome;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    pub tenant: String,
    pub project: String,
    pub step: String,
}

impl StepLabels {
    pub fn new(scope: &Scope, step: &str) -> Self {
        Self {
            tenant: scope.tenant.clone(),
            project: scope.project.clone(),
            step: step.to_string(),
        }
    }

    pub fn overflow() -> Self {
        Self {
            tenant: OVERFLOW.into(),
            project: OVERFLOW.into(),
            step: OVERFLOW.into(),
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub tenant: String,
    pub project: String,
    pub step: String,
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProjectLabels {
    pub tenant: String,
    pub project: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    pub tenant: String,
    pub project: String,
    pub status: &'static str,
    pub reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SignalLabels {
    pub signal: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OtlpDropLabels {
    pub signal: &'static str,
    pub reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MetricLabels {
    pub metric: &'static str,
}

/// Builds duration histograms with the configured buckets.
#[derive(Debug, Clone)]
pub struct Buckets(Arc<Vec<f64>>);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

/// The sorted, deduplicated union of the default buckets and `extra` (positive, finite bounds only).
pub fn duration_buckets(extra: &[f64]) -> Vec<f64> {
    let mut all: Vec<f64> = DURATION_BUCKETS
        .iter()
        .chain(extra.iter().filter(|b| b.is_finite() && **b > 0.0))
        .copied()
        .collect();
    all.sort_by(f64::total_cmp);
    all.dedup();
    all
}

type F64Gauge = Gauge<f64, AtomicU64>;

/// The counters and histogram of one step (or of the overflow series), labels built once.
pub struct StepHandles {
    outcomes: [Counter; 5],
    duration: Histogram,
    retries: Counter,
    overflow: bool,
}

/// The runtime's metric families and their registry.
pub struct Metrics {
    pub(crate) cfg: MetricsConfig,
    registry: Registry,
    pub(crate) invocations: Family<OutcomeLabels, Counter>,
    pub(crate) duration: Family<StepLabels, Histogram, Buckets>,
    pub(crate) retries: Family<StepLabels, Counter>,
    pub(crate) queue_depth: Family<StepLabels, Gauge>,
    pub(crate) oldest_ready: Family<StepLabels, F64Gauge>,
    pub(crate) claim_lag: Histogram,
    pub(crate) dlq_size: Family<StepLabels, Gauge>,
    pub(crate) workers_connected: Family<ProjectLabels, Gauge>,
    pub(crate) worker_capacity: Family<ProjectLabels, Gauge>,
    pub(crate) worker_in_flight: Family<ProjectLabels, Gauge>,
    pub(crate) stream_sockets: Gauge,
    pub(crate) worker_sockets: Gauge,
    pub(crate) db_pool: Family<StateLabels, Gauge>,
    pub(crate) db_pool_max: Gauge,
    limit_refusals: Family<RefusalLabels, Counter>,
    auth_failures: Family<ReasonLabels, Counter>,
    pub(crate) overflow: Family<MetricLabels, Counter>,
    alert_deliveries: Family<DeliveryLabels, Counter>,
    pub(crate) otlp_exported: Family<SignalLabels, Counter>,
    pub(crate) otlp_dropped: Family<OtlpDropLabels, Counter>,
    /// Held while the OTLP counters catch up with the exporters' (one scrape at a time).
    pub(crate) otlp_sync: std::sync::Mutex<()>,
    handles: RwLock<HashMap<(Scope, String), Arc<StepHandles>>>,
    /// Built the first time a step is beyond the cap (no overflow series until then).
    overflow_handles: std::sync::OnceLock<Arc<StepHandles>>,
    /// Label sets of `cfp_limit_refusals_total` seen (capped like the step series).
    refusal_series: RwLock<std::collections::HashSet<ProjectLabels>>,
    /// When the queue gauges were last read from the database.
    pub(crate) queue_read: tokio::sync::Mutex<Option<tokio::time::Instant>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new(cfg: MetricsConfig) -> Self {
        let buckets = Buckets(Arc::new(duration_buckets(&cfg.extra_buckets)));
        let mut registry = Registry::default();
        let invocations = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "cfp_step_invocations",
            "Finished attempts per step by outcome (ok counted when the completion commits), and dead-lettered events",
            invocations.clone(),
        );
        let duration = Family::new_with_constructor(buckets);
        registry.register(
            "cfp_step_duration_seconds",
            "Duration of finished attempts (invoke to result), per step",
            duration.clone(),
        );
        let retries = Family::<StepLabels, Counter>::default();
        registry.register(
            "cfp_step_retries",
            "Retries scheduled after failed attempts",
            retries.clone(),
        );
        let queue_depth = Family::<StepLabels, Gauge>::default();
        registry.register(
            "cfp_queue_depth",
            "Deliveries waiting in a step's queue (ready or delayed, not leased)",
            queue_depth.clone(),
        );
        let oldest_ready = Family::<StepLabels, F64Gauge>::default();
        registry.register(
            "cfp_queue_oldest_ready_age_seconds",
            "Age of the oldest ready delivery of a step (since it became visible)",
            oldest_ready.clone(),
        );
        let claim_lag = Histogram::new(DURATION_BUCKETS.iter().copied());
        registry.register(
            "cfp_queue_claim_lag_seconds",
            "Time from publishing an event to the first claim of its delivery",
            claim_lag.clone(),
        );
        let dlq_size = Family::<StepLabels, Gauge>::default();
        registry.register("cfp_dlq_size", "Dead letters per step", dlq_size.clone());
        let workers_connected = Family::<ProjectLabels, Gauge>::default();
        registry.register(
            "cfp_workers_connected",
            "Workers connected to this runtime",
            workers_connected.clone(),
        );
        let worker_capacity = Family::<ProjectLabels, Gauge>::default();
        registry.register(
            "cfp_worker_capacity",
            "Invocations the connected workers accept at once, summed",
            worker_capacity.clone(),
        );
        let worker_in_flight = Family::<ProjectLabels, Gauge>::default();
        registry.register(
            "cfp_worker_in_flight",
            "Invocations running on the connected workers",
            worker_in_flight.clone(),
        );
        let stream_sockets = Gauge::default();
        registry.register("cfp_stream_sockets", "Open stream websockets", stream_sockets.clone());
        let worker_sockets = Gauge::default();
        registry.register(
            "cfp_worker_sockets",
            "Open worker websockets (authenticated or not yet)",
            worker_sockets.clone(),
        );
        let db_pool = Family::<StateLabels, Gauge>::default();
        registry.register(
            "cfp_db_pool_connections",
            "Database pool connections by state",
            db_pool.clone(),
        );
        let db_pool_max = Gauge::default();
        registry.register("cfp_db_pool_max", "Database pool size, at most", db_pool_max.clone());
        let limit_refusals = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "cfp_limit_refusals",
            "API requests refused by a limit (413 body size, 429 concurrency, 504 timeout)",
            limit_refusals.clone(),
        );
        let auth_failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "cfp_auth_failures",
            "Authentication failures by reason",
            auth_failures.clone(),
        );
        let overflow = Family::<MetricLabels, Counter>::default();
        registry.register(
            "cfp_metrics_series_overflow",
            "Recordings folded into the __overflow__ series (beyond --metrics-max-series)",
            overflow.clone(),
        );
        let alert_deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "cfp_alert_deliveries",
            "SLO alert delivery attempts by target and outcome (delivered, skipped, retrying, failed: given up)",
            alert_deliveries.clone(),
        );
        let otlp_exported = Family::<SignalLabels, Counter>::default();
        registry.register(
            "cfp_otlp_exported",
            "Spans and log records the OTLP endpoint accepted, by signal (only with --otlp-endpoint)",
            otlp_exported.clone(),
        );
        let otlp_dropped = Family::<OtlpDropLabels, Counter>::default();
        registry.register(
            "cfp_otlp_dropped",
            "Spans and log records the OTLP exporter dropped, by signal and reason (buffer_full: the bounded buffer \
             was full; export_failed: the endpoint did not accept the batch, after the retries)",
            otlp_dropped.clone(),
        );
        Self {
            alert_deliveries,
            otlp_exported,
            otlp_dropped,
            otlp_sync: Default::default(),
            cfg,
            registry,
            invocations,
            duration,
            retries,
            queue_depth,
            oldest_ready,
            claim_lag,
            dlq_size,
            workers_connected,
            worker_capacity,
            worker_in_flight,
            stream_sockets,
            worker_sockets,
            db_pool,
            db_pool_max,
            limit_refusals,
            auth_failures,
            overflow,
            handles: Default::default(),
            overflow_handles: Default::default(),
            refusal_series: Default::default(),
            queue_read: Default::default(),
        }
    }

    pub fn config(&self) -> &MetricsConfig {
        &self.cfg
    }

    /// The buckets of `cfp_step_duration_seconds` in use.
    pub fn duration_bucket_bounds(&self) -> Vec<f64> {
        duration_buckets(&self.cfg.extra_buckets)
    }

    fn build_handles(
        invocations: &Family<OutcomeLabels, Counter>,
        duration: &Family<StepLabels, Histogram, Buckets>,
        retries: &Family<StepLabels, Counter>,
        labels: &StepLabels,
        overflow: bool,
    ) -> StepHandles {
        let outcome = |o: Outcome| {
            invocations.get_or_create_owned(&OutcomeLabels {
                tenant: labels.tenant.clone(),
                project: labels.project.clone(),
                step: labels.step.clone(),
                outcome: o.as_str(),
            })
        };
        StepHandles {
            outcomes: Outcome::ALL.map(outcome),
            duration: duration.get_or_create_owned(labels),
            retries: retries.get_or_create_owned(labels),
            overflow,
        }
    }

    /// The handles of a step: built the first time, the overflow series' beyond the cap.
    fn step(&self, scope: &Scope, step: &str) -> Arc<StepHandles> {
        let key = (scope.clone(), step.to_string());
        if let Some(h) = self.handles.read().unwrap().get(&key) {
            return h.clone();
        }
        let mut map = self.handles.write().unwrap();
        if let Some(h) = map.get(&key) {
            return h.clone();
        }
        if map.len() >= self.cfg.max_series {
            return self
                .overflow_handles
                .get_or_init(|| {
                    Arc::new(Self::build_handles(
                        &self.invocations,
                        &self.duration,
                        &self.retries,
                        &StepLabels::overflow(),
                        true,
                    ))
                })
                .clone();
        }
        let h = Arc::new(Self::build_handles(
            &self.invocations,
            &self.duration,
            &self.retries,
            &StepLabels::new(scope, step),
            false,
        ));
        map.insert(key, h.clone());
        h
    }

    fn folded(&self, metric: &'static str) {
        self.overflow.get_or_create(&MetricLabels { metric }).inc();
    }

    /// One finished attempt of a step; `took` is its duration when known (a reaped lease has none).
    pub fn attempt(&self, scope: &Scope, step: &str, outcome: Outcome, took: Option<Duration>) {
        let h = self.step(scope, step);
        h.outcomes[outcome as usize].inc();
        if h.overflow {
            self.folded("cfp_step_invocations_total");
        }
        if let Some(took) = took {
            h.duration.observe(took.as_secs_f64());
            if h.overflow {
                self.folded("cfp_step_duration_seconds");
            }
        }
    }

    /// A retry of a failed attempt was scheduled.
    pub fn retry(&self, scope: &Scope, step: &str) {
        let h = self.step(scope, step);
        h.retries.inc();
        if h.overflow {
            self.folded("cfp_step_retries_total");
        }
    }

    /// Time from an event's publication to the first claim of one of its deliveries.
    pub fn claim_lag(&self, lag_s: f64) {
        self.claim_lag.observe(lag_s.max(0.0));
    }

    /// An API request refused by a limit: `status` 413, 429 or 504, `reason` the error code.
    pub fn limit_refusal(&self, scope: &Scope, status: &'static str, reason: &'static str) {
        let mut project = ProjectLabels {
            tenant: scope.tenant.clone(),
            project: scope.project.clone(),
        };
        let known = self.refusal_series.read().unwrap().contains(&project);
        if !known {
            let mut seen = self.refusal_series.write().unwrap();
            if seen.len() >= self.cfg.max_series && !seen.contains(&project) {
                project = ProjectLabels {
                    tenant: OVERFLOW.into(),
                    project: OVERFLOW.into(),
                };
                self.folded("cfp_limit_refusals_total");
            } else {
                seen.insert(project.clone());
            }
        }
        self.limit_refusals
            .get_or_create(&RefusalLabels {
                tenant: project.tenant,
                project: project.project,
                status,
                reason,
            })
            .inc();
    }

    /// An SLO alert delivery attempt ended (`target`: webhook, email, alertmanager, alertmanager_resend).
    pub fn alert_delivery(&self, target: &str, outcome: &'static str) {
        self.alert_deliveries
            .get_or_create(&DeliveryLabels {
                target: target.to_string(),
                outcome,
            })
            .inc();
    }

    /// A request whose credentials were refused (`reason`: a fixed word such as the error code).
    pub fn auth_failure(&self, reason: &'static str) {
        self.auth_failures.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// Counts an open socket until the guard is dropped.
    pub fn socket(self: &Arc<Self>, kind: SocketKind) -> SocketGuard {
        self.socket_gauge(kind).inc();
        SocketGuard {
            metrics: self.clone(),
            kind,
        }
    }

    fn socket_gauge(&self, kind: SocketKind) -> &Gauge {
        match kind {
            SocketKind::Stream => &self.stream_sockets,
            SocketKind::Worker => &self.worker_sockets,
        }
    }

    /// The exposition (OpenMetrics text) of what is recorded now; see [`crate::Engine::scrape_metrics`].
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(64 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    target: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub enum SocketKind {
    Stream,
    Worker,
}

/// An open socket counted in `cfp_stream_sockets` or `cfp_worker_sockets`.
pub struct SocketGuard {
    metrics: Arc<Metrics>,
    kind: SocketKind,
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.metrics.socket_gauge(self.kind).dec();
    }
}

/// Folds per-key values beyond `cap` keys into one overflow value (sum or max), counting the keys folded.
pub(crate) fn cap_series<K: Eq + std::hash::Hash, V: Copy>(
    rows: Vec<(K, V)>,
    cap: usize,
    overflow_key: K,
    fold: impl Fn(V, V) -> V,
) -> (Vec<(K, V)>, u64) {
    let mut out: Vec<(K, V)> = Vec::with_capacity(rows.len().min(cap + 1));
    let mut extra: Option<V> = None;
    let mut folded = 0u64;
    for (k, v) in rows {
        if out.len() < cap {
            out.push((k, v));
        } else {
            folded += 1;
            extra = Some(match extra {
                Some(e) => fold(e, v),
                None => v,
            });
        }
    }
    if let Some(v) = extra {
        out.push((overflow_key, v));
    }
    (out, folded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_buckets_are_merged_sorted_and_valid_only() {
        let b = duration_buckets(&[0.3, 0.5, f64::NAN, -1.0, 120.0]);
        assert!(b.contains(&0.3) && b.contains(&120.0));
        assert_eq!(b.iter().filter(|x| **x == 0.5).count(), 1);
        assert!(b.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(b.len(), DURATION_BUCKETS.len() + 2);
    }

    #[test]
    fn steps_beyond_the_cap_record_into_the_overflow_series() {
        let m = Metrics::new(MetricsConfig {
            max_series: 2,
            ..Default::default()
        });
        let scope = Scope::new("t", "p");
        for step in ["a", "b", "c", "d"] {
            m.attempt(&scope, step, Outcome::Ok, Some(Duration::from_millis(3)));
        }
        let text = m.encode();
        assert!(text.contains(r#"cfp_step_invocations_total{tenant="t",project="p",step="a",outcome="ok"} 1"#));
        assert!(!text.contains(r#"step="c""#), "{text}");
        assert!(
            !Metrics::new(MetricsConfig::default()).encode().contains(OVERFLOW),
            "no overflow series before one is needed"
        );
        assert!(text.contains(
            r#"cfp_step_invocations_total{tenant="__overflow__",project="__overflow__",step="__overflow__",outcome="ok"} 2"#
        ));
        assert!(text.contains(r#"cfp_metrics_series_overflow_total{metric="cfp_step_invocations_total"} 2"#));
    }

    #[test]
    fn gauge_rows_beyond_the_cap_are_folded() {
        let rows = vec![("a", 1i64), ("b", 2), ("c", 3), ("d", 4)];
        let (out, folded) = cap_series(rows, 2, "x", |a, b| a + b);
        assert_eq!(out, vec![("a", 1), ("b", 2), ("x", 7)]);
        assert_eq!(folded, 2);
    }
}
