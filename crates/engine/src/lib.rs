//! The CFP execution engine: routes invocations to connected workers and drives the durable queues.
//!
//! - [`registry`]: connected workers, the steps they host, per-project API route tables.
//! - [`routes`]: `/path/:param` matching and route-conflict detection.
//! - [`dispatch`]: one dispatcher per hosted event/cron step: claim from PostgreSQL, invoke, respect
//!   per-step concurrency and worker capacity.
//! - [`invoke`]: in-flight invocations, results, failures and retries, timeouts, API calls.
//! - [`tasks`]: background work — the batching completer, the log writer, the NOTIFY listener, lease reaping.
//! - [`cron`]: the scheduler (one execution per step and tick across replicas).
//! - [`slo`]: the built-in SLO evaluator (burn-rate alerts over the rollups); [`alerts`]: their delivery to
//!   webhooks, e-mail and Alertmanager.
//! - [`ids`]: deterministic event ids and retry backoff.
//!
//! ```no_run
//! # async fn demo(store: cfp_store::Store) {
//! let engine = cfp_engine::Engine::start(store, cfp_engine::EngineConfig::default());
//! // gateway: engine.connect_worker(..), engine.invoke_api(..), engine.emit(..)
//! engine.shutdown(std::time::Duration::from_secs(10)).await;
//! # }
//! ```

pub mod alerts;
pub mod api_outcomes;
mod audit;
pub mod bodies;
pub mod calls;
pub mod clock;
pub mod cron;
mod dead_letters;
pub mod dispatch;
mod failures;
pub mod ids;
pub mod invoke;
pub mod limits;
pub mod metrics;
mod metrics_scrape;
pub mod nul;
mod otlp_logs;
mod owner;
pub mod registry;
pub mod routes;
pub mod session;
pub mod settings;
pub mod shared_limits;
pub mod slo;
pub mod slo_cache;
pub mod tasks;
pub mod trace;
mod ui;
mod workers;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cfp_protocol::{StepKind, StepManifest, ToWorker};
use cfp_store::logs::LogRecord;
use cfp_store::queue::{NewEvent, Woken};
use cfp_store::{Scope, Store, StoreError};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, watch};

pub use invoke::{InvokeError, WorkerResult};
pub use registry::WorkerId;
pub use routes::RouteMatch;

use dispatch::Dispatcher;
use invoke::Pending;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Unique id of this runtime process; leases carry it.
    pub instance_id: String,
    /// Worker tokens and the project each is bound to.
    pub worker_tokens: Vec<(String, Scope)>,
    pub heartbeat_ms: u64,
    /// First retry delay; doubles per attempt up to `retry_cap_ms` (with deterministic jitter).
    pub retry_base_ms: u64,
    pub retry_cap_ms: u64,
    /// Most deliveries claimed in one query.
    pub claim_batch: u32,
    /// Dispatchers poll this often when no notification arrives.
    pub poll_interval: Duration,
    /// Leases of a runtime whose heartbeat is older than this are reaped.
    pub lease_stale_after_s: u64,
    /// Done queue rows are kept this long (dedup window and recent runs).
    pub done_retention_s: u64,
    /// Logs and spans are kept this long.
    pub observability_retention_s: u64,
    pub default_worker_capacity: u32,
    /// Strict event validation for projects without their own setting: an emit whose data fails the topic's
    /// schema fails the handler (off: a warning in the logs).
    pub strict_validation: bool,
    /// Log lines (and their bytes) of one worker waiting to be written; beyond, its lines are dropped and
    /// counted.
    pub max_queued_log_lines: usize,
    pub max_queued_log_bytes: usize,
    /// `call` frames of one worker answered at the same time; beyond, a call is answered `too_many_calls`.
    pub max_calls_per_worker: usize,
    /// Steps in one `register` frame; beyond, the registration is refused (`too_many_steps`).
    pub max_steps_per_registration: usize,
    /// Connected workers per project; beyond, a connection is refused (`too_many_workers`).
    pub max_workers_per_project: usize,
    /// An idle dispatcher's safety poll starts at `poll_interval` and doubles up to this (it relies on
    /// wake-ups: local publishes, NOTIFY from other replicas, retry timers, freed slots).
    pub max_idle_poll: Duration,
    /// What time it is and how to wait, for cron ticks and retry wake-ups (tests use [`clock::ManualClock`]).
    pub clock: Arc<dyn clock::Clock>,
    /// The audit sequencer of this runtime (`None`: no sequencer here; events stay queued for another).
    pub audit: Option<cfp_store::audit::AuditOptions>,
    /// The SLO evaluator's rules and cycle (`None`: this runtime does not evaluate; another replica may).
    pub slo: Option<slo::SloPolicy>,
    /// Where SLO alert transitions are delivered (`None`: nowhere; they stay in the API and the audit chain).
    pub alerts: Option<alerts::AlertTargets>,
    /// Prometheus metrics (`/metrics`): on by default.
    pub metrics: metrics::MetricsConfig,
    /// Where finished attempts and the child spans workers relay are exported (OTLP/HTTP); `None`: nowhere.
    pub otlp: Option<cfp_otel::Exporter>,
    /// Where step log lines (and the runtime's lines in a step's trace) are exported as OTLP log records;
    /// `None`: nowhere (`docs/tracing.md`).
    pub otlp_logs: Option<cfp_otel::Exporter<cfp_otel::LogData>>,
    /// Share of new traces sampled for export (a trace with a remote parent follows the parent's flag).
    pub trace_sample_ratio: f64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            instance_id: format!("rt-{}", uuid::Uuid::new_v4()),
            worker_tokens: Vec::new(),
            heartbeat_ms: 10_000,
            retry_base_ms: 1_000,
            retry_cap_ms: 300_000,
            claim_batch: 64,
            poll_interval: Duration::from_millis(1_000),
            lease_stale_after_s: 15,
            done_retention_s: 24 * 3600,
            observability_retention_s: 7 * 24 * 3600,
            default_worker_capacity: 256,
            strict_validation: false,
            max_queued_log_lines: 10_000,
            max_queued_log_bytes: 16 << 20,
            max_calls_per_worker: 64,
            max_steps_per_registration: 1_000,
            max_workers_per_project: 64,
            max_idle_poll: Duration::from_secs(30),
            clock: clock::system(),
            audit: Some(Default::default()),
            slo: Some(Default::default()),
            alerts: None,
            metrics: Default::default(),
            otlp: None,
            otlp_logs: None,
            trace_sample_ratio: 1.0,
        }
    }
}

/// Something the workbench shows live: a log line, a span starting or ending, a registration change.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    pub scope: Scope,
    /// `log`, `span` or `steps`.
    pub kind: &'static str,
    pub data: Value,
}

/// Handle to the engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub store: Store,
    pub cfg: EngineConfig,
    pub reg: Mutex<registry::Registry>,
    pub pending: Mutex<HashMap<String, Pending>>,
    pub dispatchers: Mutex<HashMap<(Scope, String), Arc<Dispatcher>>>,
    pub completions: mpsc::UnboundedSender<tasks::Finished>,
    pub writes: mpsc::UnboundedSender<tasks::Write>,
    pub live: broadcast::Sender<LiveEvent>,
    pub next_worker: AtomicU64,
    /// Whether another runtime heart-beated recently: only then are NOTIFYs sent after publishing.
    pub others_alive: std::sync::atomic::AtomicBool,
    /// Claims that found nothing to deliver (idle polls), since the start.
    pub idle_claims: AtomicU64,
    /// Completions and log lines sent to the writers and not yet written.
    pub unwritten: std::sync::atomic::AtomicUsize,
    pub shutdown: watch::Sender<bool>,
    /// The long-lived tasks (stopped last at shutdown) and the short-lived ones (waited for, bounded).
    pub services: owner::Owner,
    pub work: owner::Owner,
    /// Per-project strict validation (from the control plane); absent: `cfg.strict_validation`.
    pub strict: std::sync::RwLock<HashMap<Scope, bool>>,
    /// `maxConcurrentExecutions` per project and tenant.
    pub exec_limits: limits::Limits,
    /// `None` with `--metrics off`.
    pub metrics: Option<Arc<metrics::Metrics>>,
    /// Child spans of workers dropped (bounds, not their invocation, invalid).
    pub spans_dropped: AtomicU64,
    /// API steps' attempt ends waiting to be written for the rollups.
    pub api_outcomes: api_outcomes::ApiOutcomes,
    /// Stored request bodies of API invocations in flight, by invocation id (`payload.get`, crate::bodies).
    pub bodies: Mutex<HashMap<String, String>>,
}

impl Engine {
    /// Starts the engine's background tasks.
    pub fn start(store: Store, cfg: EngineConfig) -> Self {
        let alert_targets = cfg.alerts.as_ref().map(|a| std::sync::Arc::new(a.clone()));
        let store = match &alert_targets {
            Some(a) => store.with_alert_targets(a.names()),
            None => store,
        };
        let (ctx, crx) = mpsc::unbounded_channel();
        let (ltx, lrx) = mpsc::unbounded_channel();
        let (shutdown, _) = watch::channel(false);
        let metrics = cfg
            .metrics
            .enabled
            .then(|| Arc::new(metrics::Metrics::new(cfg.metrics.clone())));
        let engine = Engine {
            inner: Arc::new(Inner {
                store,
                cfg,
                reg: Mutex::new(Default::default()),
                pending: Mutex::new(HashMap::new()),
                dispatchers: Mutex::new(HashMap::new()),
                completions: ctx,
                writes: ltx,
                live: broadcast::channel(4096).0,
                next_worker: AtomicU64::new(1),
                idle_claims: AtomicU64::new(0),
                unwritten: Default::default(),
                others_alive: Default::default(),
                shutdown,
                services: Default::default(),
                work: Default::default(),
                strict: Default::default(),
                exec_limits: Default::default(),
                metrics,
                spans_dropped: AtomicU64::new(0),
                api_outcomes: Default::default(),
                bodies: Default::default(),
            }),
        };
        let services = &engine.inner.services;
        services.spawn(tasks::completer(engine.clone(), crx));
        services.spawn(tasks::writer(engine.clone(), lrx));
        services.spawn(tasks::listener(engine.clone()));
        services.spawn(tasks::maintenance(engine.clone()));
        services.spawn(failures::deadline_watch(engine.clone()));
        services.spawn(cron::scheduler(engine.clone()));
        services.spawn(bodies::sweeper(engine.clone()));
        if engine.inner.cfg.slo.is_some() {
            services.spawn(slo::evaluator(engine.clone()));
        }
        if let Some(targets) = alert_targets.filter(|a| !a.names().is_empty()) {
            services.spawn(alerts::deliverer(engine.clone(), targets));
        }
        engine.start_audit();
        engine
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.cfg
    }

    /// The runtime's metrics (`None`: `--metrics off`).
    pub fn metrics(&self) -> Option<&Arc<metrics::Metrics>> {
        self.inner.metrics.as_ref()
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    /// Turns true when shutdown starts (the stream service closes its clients then).
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Counts concurrency limits across the region's replicas through Redis (`--redis-url`): executions here,
    /// and the gateway's requests through [`Engine::shared_limits`].
    /// The counters' upkeep (renewing and giving back reservations) runs as a service of the engine: it stops
    /// with [`Engine::shutdown`], which first closes the counters ([`shared_limits::SharedCounters::close`]: the
    /// give-backs in flight are waited for and the spare places given back).
    pub fn share_limits(&self, counters: shared_limits::SharedCounters) {
        self.inner.services.spawn(counters.upkeep());
        self.inner.exec_limits.share(counters);
    }

    pub fn shared_limits(&self) -> Option<&shared_limits::SharedCounters> {
        self.inner.exec_limits.shared()
    }

    /// Sets `maxConcurrentExecutions` of a project and of its tenant (`None`: unlimited).
    pub fn set_execution_limits(&self, scope: &Scope, project: Option<u32>, tenant: Option<u32>) {
        self.inner.exec_limits.set(scope, project, tenant);
    }

    /// Sets a project's strict-validation switch (`None`: the runtime's default).
    pub fn set_strict_validation(&self, scope: &Scope, strict: Option<bool>) {
        let mut map = self.inner.strict.write().unwrap();
        match strict {
            Some(v) => map.insert(scope.clone(), v),
            None => map.remove(scope),
        };
    }

    pub fn strict_validation(&self, scope: &Scope) -> bool {
        self.inner
            .strict
            .read()
            .unwrap()
            .get(scope)
            .copied()
            .unwrap_or(self.inner.cfg.strict_validation)
    }

    /// Checks an event's data against the input schema of every step of the project subscribed to the topic.
    /// `Err` names the subscriber and the failing field.
    pub fn check_event(&self, scope: &Scope, topic: &str, data: &Value) -> Result<(), String> {
        self.check_event_within(scope, topic, data, &mut cfp_protocol::schema::CHECK_BUDGET.clone())
    }

    /// [`Engine::check_event`] within what is left of a budget of schema applications. The compiled schemas
    /// are cloned out of the registry and checked after its lock is released: a slow check delays no other
    /// project.
    fn check_event_within(&self, scope: &Scope, topic: &str, data: &Value, budget: &mut u64) -> Result<(), String> {
        let subscribers = {
            let reg = self.inner.reg.lock().unwrap();
            match reg.projects.get(scope).and_then(|p| p.inputs.get(topic)) {
                Some(list) => list.clone(),
                None => return Ok(()),
            }
        };
        for (step, schema) in subscribers {
            schema
                .check(data, "data", budget)
                .map_err(|e| format!("event `{topic}` does not match the input schema of `{step}`: {e}"))?;
        }
        Ok(())
    }

    /// Checks a handler's emits: with strict validation the first failure is returned (the attempt fails,
    /// not retried); otherwise each failure becomes a warning in the project's logs. One budget covers all of
    /// a result's emits.
    pub(crate) fn check_emits(
        &self,
        scope: &Scope,
        step: &str,
        trace_id: &str,
        emits: &[cfp_protocol::Emit],
    ) -> Result<(), String> {
        if emits.is_empty() {
            return Ok(());
        }
        let strict = self.strict_validation(scope);
        let mut budget = cfp_protocol::schema::CHECK_BUDGET;
        for e in emits {
            if let Err(problem) = self.check_event_within(scope, &e.topic, &e.data, &mut budget) {
                if strict {
                    return Err(problem);
                }
                self.system_log(
                    scope,
                    "warn",
                    step,
                    trace_id,
                    format!("{problem} (strict validation is off: delivered anyway)"),
                    None,
                );
            }
        }
        Ok(())
    }

    pub fn resolve_route(&self, scope: &Scope, method: &str, path: &str) -> RouteMatch {
        let reg = self.inner.reg.lock().unwrap();
        match reg.projects.get(scope) {
            Some(p) => p.routes.resolve(method, path),
            None => RouteMatch::NotFound,
        }
    }

    /// The API step registered (last time a worker registered) for a route, whether or not a worker hosting
    /// it is connected now. Used to answer 503 rather than 404 while workers restart.
    pub async fn registered_route(
        &self,
        scope: &Scope,
        method: &str,
        path: &str,
    ) -> Result<Option<String>, StoreError> {
        let mut table = routes::RouteTable::default();
        for m in self.inner.store.list_steps(scope).await? {
            if let (StepKind::Api, Some(method), Some(path)) = (m.kind, &m.method, &m.path) {
                let _ = table.add(method, path, &m.name);
            }
        }
        Ok(match table.resolve(method, path) {
            RouteMatch::Found { step, .. } => Some(step),
            _ => None,
        })
    }

    /// The manifest of a step hosted by a connected worker.
    /// A connected worker hosting the step (the least loaded), for requests that are not invocations.
    pub fn worker_for(&self, scope: &Scope, step: &str) -> Option<WorkerId> {
        self.inner.reg.lock().unwrap().pick_worker(scope, step, false)
    }

    pub fn manifest(&self, scope: &Scope, step: &str) -> Option<StepManifest> {
        self.inner
            .reg
            .lock()
            .unwrap()
            .projects
            .get(scope)?
            .manifests
            .get(step)
            .cloned()
    }

    /// Publishes an event from outside any invocation (`cfp emit`, the runtime API).
    pub async fn emit(
        &self,
        scope: &Scope,
        topic: &str,
        data: Value,
        group_id: Option<String>,
        trace_id: String,
    ) -> Result<uuid::Uuid, StoreError> {
        let event_id = uuid::Uuid::new_v4();
        let ev = NewEvent {
            event_id,
            topic: topic.to_string(),
            data,
            group_id,
            trace_id,
            traceparent: None,
            tracestate: None,
        };
        let woken = self.inner.store.publish(scope, &[ev]).await?;
        self.published(&woken);
        Ok(event_id)
    }

    /// [`Engine::emit`] with its audit entry (`event_id` added to its details) committed in the same transaction
    /// as the event's queue rows: an emit through the runtime API never happens without its entry.
    pub async fn emit_audited(
        &self,
        scope: &Scope,
        topic: &str,
        data: Value,
        group_id: Option<String>,
        trace_id: String,
        mut audit: cfp_audit::Event,
    ) -> Result<uuid::Uuid, StoreError> {
        let event_id = uuid::Uuid::new_v4();
        audit
            .details
            .insert("event_id".into(), Value::String(event_id.to_string()));
        let ev = NewEvent {
            event_id,
            topic: topic.to_string(),
            data,
            group_id,
            trace_id,
            traceparent: None,
            tracestate: None,
        };
        let woken = self.inner.store.publish_audited(scope, &[ev], &audit).await?;
        self.published(&woken);
        Ok(event_id)
    }

    /// After a commit that published events: wakes local dispatchers now and, when other replicas run,
    /// tells them through one NOTIFY per step (sent outside the publishing transaction).
    pub(crate) fn published(&self, woken: &[Woken]) {
        if woken.is_empty() {
            return;
        }
        self.wake(woken);
        if self.inner.others_alive.load(Ordering::Relaxed) {
            let engine = self.clone();
            let woken = woken.to_vec();
            self.spawn(async move {
                if let Err(e) = engine.inner.store.notify_woken(&woken).await {
                    tracing::debug!(error = %e, "could not notify other replicas; they poll");
                }
            });
        }
    }

    /// Wakes the local dispatchers of the given steps.
    pub fn wake(&self, woken: &[Woken]) {
        let map = self.inner.dispatchers.lock().unwrap();
        for w in woken {
            if let Some(d) = map.get(&(w.scope.clone(), w.step.clone())) {
                d.notify.notify_one();
            }
        }
    }

    pub(crate) fn ensure_dispatcher(&self, scope: &Scope, step: &str) {
        let mut map = self.inner.dispatchers.lock().unwrap();
        let key = (scope.clone(), step.to_string());
        if let Some(d) = map.get(&key) {
            d.notify.notify_one();
            return;
        }
        let d = Arc::new(Dispatcher::new(scope.clone(), step.to_string()));
        map.insert(key, d.clone());
        self.inner.services.spawn(dispatch::run(self.clone(), d));
    }

    /// Queues a log line for storage and shows it live.
    pub(crate) fn log_record(&self, scope: &Scope, rec: LogRecord) {
        self.queue_log(scope, rec, None);
    }

    fn queue_log(&self, scope: &Scope, rec: LogRecord, charge: Option<tasks::Charge>) {
        if self.inner.live.receiver_count() > 0 {
            let data = serde_json::to_value(&rec).unwrap_or_default();
            let _ = self.inner.live.send(LiveEvent {
                scope: scope.clone(),
                kind: "log",
                data,
            });
        }
        let _ = self.inner.writes.send(tasks::Write::Log(scope.clone(), rec, charge));
    }

    /// Live events of every project; the subscriber filters by scope.
    pub fn subscribe_live(&self) -> broadcast::Receiver<LiveEvent> {
        self.inner.live.subscribe()
    }

    pub(crate) fn publish_live(&self, scope: &Scope, kind: &'static str, data: Value) {
        if self.inner.live.receiver_count() > 0 {
            let _ = self.inner.live.send(LiveEvent {
                scope: scope.clone(),
                kind,
                data,
            });
        }
    }

    /// A log line of the runtime itself, stored with the handler logs of the same trace.
    pub(crate) fn system_log(
        &self,
        scope: &Scope,
        level: &str,
        step: &str,
        trace_id: &str,
        msg: String,
        data: Option<Value>,
    ) {
        let rec = LogRecord {
            id: None,
            ts_ms: chrono::Utc::now().timestamp_millis(),
            level: level.into(),
            msg,
            trace_id: Some(trace_id.to_string()),
            step: Some(step.to_string()),
            invocation_id: None,
            data,
        };
        self.export_log(scope, &rec, None, None, "cfp-runtime");
        self.log_record(scope, rec);
    }

    pub fn send_to_worker(&self, worker: WorkerId, frame: ToWorker) -> bool {
        self.inner
            .reg
            .lock()
            .unwrap()
            .workers
            .get(&worker)
            .is_some_and(|w| w.tx.send(frame).is_ok())
    }

    pub fn worker_scope(&self, worker: WorkerId) -> Option<Scope> {
        self.inner
            .reg
            .lock()
            .unwrap()
            .workers
            .get(&worker)
            .map(|w| w.scope.clone())
    }

    /// Claims by dispatchers that found nothing to deliver, since the start (idle database polls).
    pub fn idle_claims(&self) -> u64 {
        self.inner.idle_claims.load(Ordering::Relaxed)
    }

    /// Number of connected workers (all projects).
    pub fn worker_count(&self) -> usize {
        self.inner.reg.lock().unwrap().workers.len()
    }

    /// Stops taking work, tells workers to drain, waits for in-flight invocations up to `deadline`, gives
    /// back what is still leased, and flushes completions and logs.
    pub async fn shutdown(&self, deadline: Duration) {
        if self.inner.shutdown.send_replace(true) {
            return;
        }
        {
            let reg = self.inner.reg.lock().unwrap();
            for w in reg.workers.values() {
                let _ = w.tx.send(ToWorker::Drain {});
            }
        }
        let until = tokio::time::Instant::now() + deadline;
        while tokio::time::Instant::now() < until && !self.inner.pending.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let leftover = failures::take_queue_pending(self);
        if !leftover.is_empty() {
            match self.inner.store.release(&leftover).await {
                Ok(n) => {
                    tracing::info!(released = n, "gave unfinished deliveries back to the queue")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not release leases; they expire on their own")
                }
            }
        }
        // Short-lived tasks (calls being answered, failed deliveries, notifies) finish or are stopped; then the
        // completer and log writer drain their channels, then every long-lived task stops.
        let aborted = self.inner.work.drain(Duration::from_secs(5)).await;
        if aborted > 0 {
            tracing::warn!(
                tasks = aborted,
                "stopped tasks that did not finish within 5 s of the shutdown"
            );
        }
        let drain_until = tokio::time::Instant::now() + Duration::from_secs(5);
        while tokio::time::Instant::now() < drain_until && tasks::busy(self) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // API steps' last attempt ends (no request is answered any more), bounded like the drains above.
        let _ = tokio::time::timeout(Duration::from_secs(5), api_outcomes::flush(self)).await;
        // The shared counters' give-backs in flight reach Redis, and the spare places are given back: the other
        // replicas get them now rather than when the reservations expire.
        if let Some(shared) = self.shared_limits() {
            let aborted = shared.close(Duration::from_secs(2)).await;
            if aborted > 0 {
                tracing::warn!(
                    tasks = aborted,
                    "stopped concurrency give-backs that Redis did not take within 2 s"
                );
            }
        }
        self.inner.services.drain(Duration::ZERO).await;
        // The usage metered in memory since the last flush (stream messages, refusals) is written now.
        if let Err(e) = self.inner.store.flush_usage().await {
            tracing::warn!(error = %e, "could not write the last usage counts");
        }
        // What was spawned while the services stopped (a last notify) does not outlive the shutdown either.
        self.inner.work.drain(Duration::ZERO).await;
    }
}

/// Compares secrets without an early exit on the first differing byte.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
