//! Worker connections in the registry: token check, connect (with the per-project cap), the call budget,
//! registration, drain, disconnect and log intake. The worker's [`crate::session::Session`] calls these.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use cfp_protocol::{ApiBody, ApiInput, LogEntry, SocketCode, StepKind, StepManifest, ToWorker};
use cfp_store::logs::LogRecord;
use cfp_store::{Scope, StoreError};
use tokio::sync::mpsc;

use crate::{constant_time_eq, nul, registry, tasks, Engine, WorkerId};

impl Engine {
    /// The project a worker token is bound to, compared in constant time.
    pub fn authenticate_worker(&self, token: &str) -> Option<Scope> {
        self.inner
            .cfg
            .worker_tokens
            .iter()
            .find(|(t, _)| constant_time_eq(t.as_bytes(), token.as_bytes()))
            .map(|(_, s)| s.clone())
    }

    /// Adds an authenticated worker connection; frames for it arrive on the returned receiver. Refused (the
    /// message says why) when the project already has `max_workers_per_project` workers connected.
    pub fn connect_worker(
        &self,
        scope: Scope,
        name: String,
        capacity: Option<u32>,
        protocol: u32,
    ) -> Result<(WorkerId, mpsc::UnboundedReceiver<ToWorker>), String> {
        let id = self.inner.next_worker.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        let capacity = capacity
            .filter(|c| *c > 0)
            .unwrap_or(self.inner.cfg.default_worker_capacity);
        let max = self.inner.cfg.max_workers_per_project;
        let mut reg = self.inner.reg.lock().unwrap();
        if reg.workers.values().filter(|w| w.scope == scope).count() >= max {
            tracing::warn!(project = %scope.project, max, "worker refused: the project has the most workers allowed");
            return Err(format!(
                "project `{}` already has {max} workers connected, the most allowed; retry later",
                scope.project
            ));
        }
        let worker = registry::Worker {
            id,
            scope,
            name,
            tx,
            capacity,
            protocol,
            inflight: 0,
            steps: HashMap::new(),
            schemas: HashMap::new(),
            draining: false,
            recent: Default::default(),
            logs: Default::default(),
            calls: Arc::new(tokio::sync::Semaphore::new(self.inner.cfg.max_calls_per_worker.max(1))),
            ui: None,
        };
        reg.workers.insert(id, worker);
        Ok((id, rx))
    }

    /// A place for one `call` frame of the worker, held while the call is answered; `None` when the worker
    /// already has `max_calls_per_worker` calls being answered (or is gone): answer `too_many_calls` at once.
    pub fn call_permit(&self, worker: WorkerId) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let calls = self.inner.reg.lock().unwrap().workers.get(&worker)?.calls.clone();
        calls.try_acquire_owned().ok()
    }

    /// Why a `register` frame is refused whole before anything of it is applied: more steps than
    /// `max_steps_per_registration`.
    pub fn registration_refusal(&self, steps: &[StepManifest]) -> Option<ToWorker> {
        let max = self.inner.cfg.max_steps_per_registration;
        (steps.len() > max).then(|| {
            ToWorker::error(
                SocketCode::TooManySteps,
                format!(
                    "the registration has {} steps; at most {max} are allowed per registration (nothing was \
                     registered)",
                    steps.len()
                ),
            )
        })
    }

    /// Registers a worker's steps; persists the project's step set (with `audit`, the registration's entry, in
    /// the same transaction) and starts dispatchers. Input schemas are compiled here, once, on the blocking pool,
    /// before the registry is locked.
    pub async fn register(
        &self,
        worker: WorkerId,
        steps: Vec<StepManifest>,
        audit: Option<cfp_audit::Event>,
    ) -> Result<ToWorker, StoreError> {
        if let Some(refusal) = self.registration_refusal(&steps) {
            tracing::warn!(worker, steps = steps.len(), "registration refused: too many steps");
            return Ok(refusal);
        }
        // Compiling is bounded per schema but CPU work all the same: on the blocking pool, not on a thread
        // that serves requests.
        let compiling = tokio::task::spawn_blocking(move || {
            let compiled: registry::CompiledInputs = steps
                .iter()
                .map(|s| Some(cfp_protocol::schema::Schema::compile(s.input.as_ref()?).map(Arc::new)))
                .collect();
            (steps, compiled)
        });
        let Ok((steps, compiled)) = compiling.await else {
            tracing::error!(worker, "compiling input schemas failed");
            return Ok(ToWorker::error(
                SocketCode::InvalidSchema,
                "the input schemas could not be compiled",
            ));
        };
        let (scope, accepted, errors, manifests) = {
            let mut reg = self.inner.reg.lock().unwrap();
            let Some(scope) = reg.workers.get(&worker).map(|w| w.scope.clone()) else {
                return Ok(ToWorker::error(SocketCode::UnknownWorker, "connection is closed"));
            };
            let (accepted, errors) = reg.register(worker, steps, compiled);
            let manifests: Vec<StepManifest> = reg
                .projects
                .get(&scope)
                .map(|p| p.manifests.values().cloned().collect())
                .unwrap_or_default();
            (scope, accepted, errors, manifests)
        };
        self.inner
            .store
            .replace_steps_audited(&scope, &manifests, audit.as_ref())
            .await?;
        for step in &accepted {
            if matches!(step.kind, StepKind::Event | StepKind::Cron) {
                self.ensure_dispatcher(&scope, &step.name);
            }
        }
        for e in &errors {
            tracing::warn!(step = %e.step, file = %e.file, code = %e.code, "{}", e.message);
        }
        tracing::info!(project = %scope.project, worker, steps = accepted.len(), errors = errors.len(), "worker registered steps");
        self.publish_live(&scope, "steps", serde_json::json!({ "steps": accepted.len() }));
        Ok(ToWorker::Registered {
            steps: accepted.into_iter().map(|s| s.name).collect(),
            errors,
        })
    }

    /// Marks a worker as draining: it gets no new invocations.
    pub fn drain_worker(&self, worker: WorkerId) {
        if let Some(w) = self.inner.reg.lock().unwrap().workers.get_mut(&worker) {
            w.draining = true;
        }
    }

    /// Removes a worker; its in-flight invocations are failed (queue deliveries retry, API calls get 503).
    pub fn disconnect_worker(&self, worker: WorkerId) {
        let scope = {
            let mut reg = self.inner.reg.lock().unwrap();
            let gone = reg.workers.remove(&worker);
            if let Some(w) = &gone {
                if let Some(n) = w.logs.report(None) {
                    tasks::report_dropped_logs(self, &w.scope, worker, &w.name, n);
                }
            }
            let scope = gone.map(|w| w.scope);
            if let Some(scope) = &scope {
                reg.rebuild(scope);
            }
            scope
        };
        if let Some(scope) = scope {
            tracing::info!(project = %scope.project, worker, "worker disconnected");
            self.publish_live(&scope, "steps", serde_json::json!({}));
        }
        crate::failures::fail_worker_invocations(self, worker);
    }

    /// Stores log lines sent by a worker. A line naming an invocation the worker is not running (nor finished
    /// lately) is dropped; NULs become U+FFFD; lines beyond the worker's share of the writer's queue are dropped
    /// and counted (reported every [`tasks::LOG_DROP_REPORT_EVERY`]).
    pub fn worker_logs(&self, worker: WorkerId, entries: Vec<LogEntry>) {
        let Some((scope, budget)) = self
            .inner
            .reg
            .lock()
            .unwrap()
            .workers
            .get(&worker)
            .map(|w| (w.scope.clone(), w.logs.clone()))
        else {
            return;
        };
        let mut foreign = 0usize;
        for e in entries {
            if let Some(inv) = &e.invocation_id {
                if !self.owns_invocation(worker, inv) {
                    foreign += 1;
                    continue;
                }
            }
            let mut rec = LogRecord {
                id: None,
                ts_ms: e.ts,
                level: e.level.as_str().to_string(),
                msg: e.msg,
                trace_id: e.trace_id,
                step: e.step,
                invocation_id: e.invocation_id,
                data: e.data,
            };
            let Some(charge) = budget.charge(&rec, &self.inner.cfg) else {
                continue;
            };
            nul::scrub(&mut rec.msg);
            nul::scrub_opt(&mut rec.trace_id);
            nul::scrub_opt(&mut rec.step);
            if let Some(d) = rec.data.as_mut() {
                nul::scrub_value(d);
            }
            if self.inner.cfg.otlp_logs.is_some() {
                let link = rec.invocation_id.as_deref().and_then(|id| self.log_link(worker, id));
                self.export_log(&scope, &rec, Some(worker), link, "cfp-worker");
            }
            self.queue_log(&scope, rec, Some(charge));
        }
        if foreign > 0 {
            tracing::debug!(
                worker,
                lines = foreign,
                "log lines naming another worker's invocation dropped"
            );
        }
    }
}

impl Engine {
    /// The protocol version of the worker an API call of `step` would go to now (`None`: no worker hosts it).
    /// Ingress shapes the request body for it: parsed for version 1, raw for version 2.
    pub fn api_protocol(&self, scope: &Scope, step: &str) -> Option<u32> {
        let reg = self.inner.reg.lock().unwrap();
        let id = reg.pick_worker(scope, step, false)?;
        reg.workers.get(&id).map(|w| w.protocol)
    }
}

/// `input` as a worker speaking `protocol` takes it: a version 1 worker gets the body parsed (`body` +
/// `rawBody`), which the runtime does here when ingress left the parse to a version 2 worker that is no longer
/// the one picked (a race: the expected worker left). A version 2 worker takes every form.
pub(crate) async fn api_input_for(
    store: &cfp_store::Store,
    mut input: ApiInput,
    protocol: u32,
) -> Result<ApiInput, crate::InvokeError> {
    use base64::Engine as _;
    if protocol >= 2 {
        return Ok(input);
    }
    input.body = match input.body {
        ApiBody::Stored {
            body_from,
            raw_body_ref,
        } => {
            let mut bytes = Vec::with_capacity(raw_body_ref.size as usize);
            loop {
                let (chunk, _) = store
                    .payloads()
                    .body_chunk(&raw_body_ref.key, bytes.len() as u64)
                    .await?;
                if chunk.is_empty() {
                    break;
                }
                bytes.extend_from_slice(&chunk);
            }
            let raw_body = base64::engine::general_purpose::STANDARD.encode(&bytes);
            let body = cfp_protocol::body::parse(body_from, bytes)
                .map_err(|e| StoreError::Invalid(format!("request body is not valid JSON: {e}")))?;
            ApiBody::Parsed { body, raw_body }
        }
        ApiBody::Raw { body_from, raw_body } => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&raw_body)
                .map_err(|e| StoreError::Invalid(format!("request body: {e}")))?;
            let body = cfp_protocol::body::parse(body_from, bytes)
                .map_err(|e| StoreError::Invalid(format!("request body is not valid JSON: {e}")))?;
            ApiBody::Parsed { body, raw_body }
        }
        parsed @ ApiBody::Parsed { .. } => parsed,
    };
    Ok(input)
}
