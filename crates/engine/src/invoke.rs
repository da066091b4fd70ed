//! Invocations in flight: sending `invoke` frames, taking `result` frames, and synchronous API calls.
//! Timeouts, worker loss, failures and retries are in [`crate::failures`].

use std::sync::atomic::Ordering;
use std::time::Duration;

use cfp_protocol::{ApiInput, Emit, ErrorCode, InvokeFrame, ToWorker, Trigger, WorkerError};
use cfp_store::queue::{Completion, NewEvent};
use cfp_store::rollups::{AttemptEnd, Outcome};
use cfp_store::{Scope, StoreError};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::registry::WorkerId;
use crate::trace::SpanCtx;
use crate::{ids, Engine};

/// A delivery from a durable queue, in flight on a worker.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub seq: i64,
    pub attempt: i32,
    pub max_retries: i32,
    /// Stable across attempts: `<step>:<event id>`; emits derive their ids from it.
    pub key: String,
    pub trace_id: String,
}

pub enum PendingKind {
    Api {
        reply: oneshot::Sender<Result<WorkerResult, InvokeError>>,
        trace_id: String,
    },
    Queue(Delivery),
}

/// What a span needs of the invocation that started it.
#[derive(Debug, Clone)]
pub struct SpanStart {
    pub id: String,
    pub trace_id: String,
    pub trigger: Trigger,
    pub attempt: u32,
    pub started_ms: i64,
    /// When the invocation was sent (monotonic), for the attempt's duration in the step's rollups.
    pub started_at: Instant,
}

pub struct Pending {
    /// Set by `start_invocation` from the invoke frame.
    pub span: Option<SpanStart>,
    /// The attempt's span context (`docs/tracing.md`).
    pub ctx: SpanCtx,
    /// Child spans the worker relayed for this invocation so far.
    pub child_spans: u32,
    /// The execution's hold on its project's and tenant's `maxConcurrentExecutions`; released with the pending.
    pub permit: Option<crate::limits::Permit>,
    pub worker: WorkerId,
    pub scope: Scope,
    pub step: String,
    /// When the invocation times out, on the engine's monotonic clock ([`crate::clock::Clock::monotonic`]).
    pub deadline: Duration,
    pub timeout_ms: u64,
    pub kind: PendingKind,
}

#[derive(Debug, Clone)]
pub struct WorkerResult {
    pub ok: bool,
    pub output: Option<Value>,
    pub emits: Vec<Emit>,
    pub error: Option<WorkerError>,
}

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("no worker is connected that hosts step `{0}`")]
    NoWorker(String),
    #[error("step `{step}` did not respond within {ms} ms")]
    Timeout { step: String, ms: u64 },
    #[error("the worker running step `{0}` disconnected before it answered")]
    WorkerGone(String),
    #[error("the runtime is shutting down")]
    ShuttingDown,
    #[error("maxConcurrentExecutions ({}) of {} reached; retry shortly", .0.limit, if .0.scope == "project" { "the project" } else { "its tenant" })]
    LimitExceeded(crate::limits::LimitReached),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl InvokeError {
    /// The HTTP error code this failure is answered with (its status is the code's).
    pub fn code(&self) -> ErrorCode {
        match self {
            InvokeError::NoWorker(_) | InvokeError::WorkerGone(_) => ErrorCode::WorkerUnavailable,
            InvokeError::Timeout { .. } => ErrorCode::Timeout,
            InvokeError::ShuttingDown => ErrorCode::ShuttingDown,
            InvokeError::LimitExceeded(_) => ErrorCode::LimitExceeded,
            InvokeError::Store(e) if e.is_transient() => ErrorCode::Unavailable,
            InvokeError::Store(_) => ErrorCode::Internal,
        }
    }
}

/// A successful result whose emits failed strict validation: the attempt fails and is not retried (the same
/// code would emit the same data again); nothing it emitted is published.
fn rejected_emit(problem: String) -> WorkerResult {
    WorkerResult {
        ok: false,
        output: None,
        emits: Vec::new(),
        error: Some(WorkerError {
            message: format!("emit rejected by strict validation: {problem}"),
            name: Some("EmitValidationError".into()),
            retriable: Some(false),
            ..Default::default()
        }),
    }
}

/// A successful result emitting something PostgreSQL cannot store (U+0000): the attempt fails and is not retried
/// (the same code would emit the same data again); nothing it emitted is published, and no other delivery of
/// its batch is held up.
fn unstorable_emit(field: String) -> WorkerResult {
    WorkerResult {
        ok: false,
        output: None,
        emits: Vec::new(),
        error: Some(WorkerError {
            message: format!(
                "emit refused: {field} contains the character U+0000 (NUL), which cannot be stored; remove or \
                 encode it"
            ),
            name: Some("UnstorableEmitError".into()),
            retriable: Some(false),
            ..Default::default()
        }),
    }
}

/// Converts a handler's emits into events with deterministic ids; they carry the emitting attempt's span as
/// their trace parent.
pub fn to_events(key: &str, trace_id: &str, ctx: &SpanCtx, emits: Vec<Emit>) -> Vec<NewEvent> {
    let traceparent = ctx.traceparent();
    emits
        .into_iter()
        .enumerate()
        .map(|(i, e)| NewEvent {
            event_id: ids::event_id(key, i),
            topic: e.topic,
            data: e.data,
            group_id: e.message_group_id,
            trace_id: trace_id.to_string(),
            traceparent: Some(traceparent.clone()),
            tracestate: ctx.tracestate.clone(),
        })
        .collect()
}

impl Engine {
    /// Sends an invocation to a worker and records it as pending. Returns false if the worker is gone.
    pub(crate) fn start_invocation(&self, worker: WorkerId, frame: InvokeFrame, mut pending: Pending) -> bool {
        let id = frame.id.clone();
        let span = SpanStart {
            id: id.clone(),
            trace_id: frame.trace_id.clone(),
            trigger: frame.trigger(),
            attempt: frame.attempt,
            started_ms: chrono::Utc::now().timestamp_millis(),
            started_at: Instant::now(),
        };
        self.publish_live(
            &pending.scope,
            "span",
            json!({
                "phase": "start", "traceId": span.trace_id, "step": pending.step, "trigger": span.trigger,
                "attempt": span.attempt, "startedMs": span.started_ms,
            }),
        );
        pending.span = Some(span);
        {
            let mut reg = self.inner().reg.lock().unwrap();
            let Some(w) = reg.workers.get_mut(&worker) else {
                return false;
            };
            w.inflight += 1;
            self.inner().pending.lock().unwrap().insert(id.clone(), pending);
            if w.tx.send(ToWorker::Invoke(frame)).is_err() {
                w.inflight -= 1;
                self.inner().pending.lock().unwrap().remove(&id);
                return false;
            }
        }
        true
    }

    /// How an attempt ended, with how long it ran (for the step's rollups).
    pub(crate) fn attempt_end(span: &Option<SpanStart>, outcome: Outcome) -> AttemptEnd {
        AttemptEnd {
            outcome,
            duration_ms: span.as_ref().map(|s| s.started_at.elapsed().as_secs_f64() * 1000.0),
        }
    }

    /// Counts an API step's attempt (API calls are not retried: counted when they end).
    pub(crate) fn count_api(&self, p: &Pending, outcome: Outcome) {
        let took = took(p);
        if let Some(m) = self.metrics() {
            m.attempt(&p.scope, &p.step, outcome, took);
        }
        self.inner()
            .api_outcomes
            .push(&p.scope, &p.step, outcome, took.map(|d| d.as_secs_f64() * 1000.0));
    }

    /// Records the end of an attempt: a span row (batched) and a live event.
    pub(crate) fn record_span(&self, p: &Pending, ok: bool, error: Option<&WorkerError>) {
        let Some(span) = &p.span else { return };
        let ended_ms = chrono::Utc::now().timestamp_millis();
        let error_ref = error;
        let error = error.map(|e| {
            let mut v = json!({ "message": e.message, "name": e.name });
            if let Some(stack) = &e.stack {
                v["stack"] = json!(stack);
            }
            v
        });
        let mut live = json!({
            "phase": "end", "traceId": span.trace_id, "step": p.step, "trigger": span.trigger,
            "attempt": span.attempt, "startedMs": span.started_ms, "endedMs": ended_ms, "ok": ok,
        });
        if let Some(e) = &error {
            live["error"] = e.clone();
        }
        self.publish_live(&p.scope, "span", live);
        let record = cfp_store::spans::SpanRecord {
            id: None,
            trace_id: span.trace_id.clone(),
            step: p.step.clone(),
            trigger: match span.trigger {
                Trigger::Api => "api",
                Trigger::Event => "event",
                Trigger::Cron => "cron",
            }
            .into(),
            attempt: span.attempt as i32,
            invocation_id: Some(span.id.clone()),
            started_ms: span.started_ms,
            ended_ms,
            ok,
            error,
        };
        let _ = self
            .inner()
            .writes
            .send(crate::tasks::Write::Span(p.scope.clone(), record));
        if let Some(exporter) = self.config().otlp.as_ref().filter(|_| p.ctx.sampled()) {
            exporter.submit(crate::trace::attempt_span(p, span, ended_ms, ok, error_ref));
        }
    }

    /// A `spans` frame: child spans of step code in the invocation `id`, exported in its trace. Only the worker
    /// running the invocation can add to it, and at most [`crate::trace::MAX_SPANS_PER_INVOCATION`] spans
    /// ([`crate::trace::MAX_SPANS_PER_FRAME`] per frame); everything else is dropped and counted.
    pub fn worker_spans(&self, worker: WorkerId, id: &str, spans: Vec<cfp_protocol::ChildSpan>) {
        use crate::trace::{MAX_SPANS_PER_FRAME, MAX_SPANS_PER_INVOCATION};
        let offered = spans.len() as u64;
        let taken = {
            let mut pending = self.inner().pending.lock().unwrap();
            match pending.get_mut(id).filter(|p| p.worker == worker) {
                Some(p) => {
                    let room = MAX_SPANS_PER_INVOCATION.saturating_sub(p.child_spans) as usize;
                    let n = spans.len().min(MAX_SPANS_PER_FRAME).min(room);
                    p.child_spans += n as u32;
                    Some((p.ctx.clone(), p.scope.clone(), n))
                }
                None => None,
            }
        };
        let Some((ctx, scope, n)) = taken else {
            self.inner().spans_dropped.fetch_add(offered, Ordering::Relaxed);
            tracing::debug!(
                worker,
                id,
                "spans for an invocation this worker is not running; dropped"
            );
            return;
        };
        let mut kept = 0u64;
        if let Some(exporter) = self.config().otlp.as_ref().filter(|_| ctx.sampled()) {
            for s in spans.iter().take(n) {
                if let Some(data) = crate::trace::child_span(&ctx, &scope.tenant, &scope.project, s) {
                    exporter.submit(data);
                    kept += 1;
                }
            }
        } else {
            kept = n as u64;
        }
        self.inner().spans_dropped.fetch_add(offered - kept, Ordering::Relaxed);
    }

    /// Child spans of workers refused so far (over a bound, not the sender's invocation, invalid ids).
    pub fn worker_spans_dropped(&self) -> u64 {
        self.inner().spans_dropped.load(Ordering::Relaxed)
    }

    /// Removes a pending invocation and frees its worker slot and dispatcher slot. With `owner`, only when that
    /// worker is the one running it: nothing is touched for any other worker.
    ///
    /// A successful queue delivery (`keep_step_slot`) keeps its step slot until the completer has committed it
    /// ([`Engine::release_step_slot`]), so claiming cannot outrun committing.
    pub(crate) fn finish_pending(&self, id: &str, owner: Option<WorkerId>, keep_step_slot: bool) -> Option<Pending> {
        let p = {
            let mut pending = self.inner().pending.lock().unwrap();
            let p = pending.get(id)?;
            if owner.is_some_and(|w| w != p.worker) {
                return None;
            }
            pending.remove(id)?
        };
        if let Some(w) = self.inner().reg.lock().unwrap().workers.get_mut(&p.worker) {
            w.inflight = w.inflight.saturating_sub(1);
            w.recent.insert(id.to_string());
        }
        if matches!(p.kind, PendingKind::Queue(_)) && !keep_step_slot {
            self.release_step_slot(&p.scope, &p.step);
        }
        Some(p)
    }

    /// Whether `worker` is running the invocation `id` or finished it lately (its late log lines and calls
    /// may name it). Frames naming any other invocation are not acted on.
    pub fn owns_invocation(&self, worker: WorkerId, id: &str) -> bool {
        let reg = self.inner().reg.lock().unwrap();
        let Some(w) = reg.workers.get(&worker) else {
            return false;
        };
        w.recent.contains(id)
            || self
                .inner()
                .pending
                .lock()
                .unwrap()
                .get(id)
                .is_some_and(|p| p.worker == worker)
    }

    /// Frees one in-flight slot of a step's dispatcher and wakes it.
    pub(crate) fn release_step_slot(&self, scope: &Scope, step: &str) {
        if let Some(d) = self
            .inner()
            .dispatchers
            .lock()
            .unwrap()
            .get(&(scope.clone(), step.to_string()))
        {
            d.inflight.fetch_sub(1, Ordering::AcqRel);
            d.notify.notify_one();
        }
    }

    /// A `result` frame from a worker. Only the worker running the invocation can end it: a result naming an
    /// invocation of another worker (or of none) changes nothing and is logged at debug level.
    pub fn on_result(&self, worker: WorkerId, id: &str, mut result: WorkerResult) {
        let Some(p) = self.finish_pending(id, Some(worker), result.ok) else {
            tracing::debug!(
                worker,
                id,
                "result for an invocation this worker is not running (finished, timed out, or not its own); ignored"
            );
            return;
        };
        if let Some(e) = result.error.as_mut() {
            crate::nul::scrub_error(e);
        }
        if result.ok {
            let trace = match &p.kind {
                PendingKind::Queue(d) => d.trace_id.clone(),
                PendingKind::Api { trace_id, .. } => trace_id.clone(),
            };
            let refused = match crate::nul::find_in_emits(&result.emits) {
                Some(field) => Some(unstorable_emit(field)),
                None => self
                    .check_emits(&p.scope, &p.step, &trace, &result.emits)
                    .err()
                    .map(rejected_emit),
            };
            if let Some(refused) = refused {
                result = refused;
                // The delivery fails after all: it stops counting against its step now.
                if matches!(p.kind, PendingKind::Queue(_)) {
                    self.release_step_slot(&p.scope, &p.step);
                }
            }
        }
        self.record_span(&p, result.ok, result.error.as_ref());
        let took = took(&p);
        match p.kind {
            PendingKind::Api { .. } => {
                let outcome = if result.ok { Outcome::Ok } else { Outcome::HandlerError };
                self.count_api(&p, outcome);
                if let PendingKind::Api { reply, trace_id } = p.kind {
                    if !result.ok {
                        // The caller gets a generic 500 outside dev mode: the exception text and its stack are
                        // here, in the step's log (and its span).
                        let error = result.error.clone().unwrap_or_default();
                        let message = if error.message.is_empty() {
                            "handler failed"
                        } else {
                            &error.message
                        };
                        self.system_log(
                            &p.scope,
                            "error",
                            &p.step,
                            &trace_id,
                            format!("step `{}` failed: {message}", p.step),
                            Some(json!({ "message": message, "name": error.name, "stack": error.stack })),
                        );
                    }
                    let _ = reply.send(Ok(result));
                }
            }
            PendingKind::Queue(d) if result.ok => {
                let emits = to_events(&d.key, &d.trace_id, &p.ctx, result.emits);
                self.inner().unwritten.fetch_add(1, Ordering::AcqRel);
                let completion = Completion {
                    duration_ms: Self::attempt_end(&p.span, Outcome::Ok).duration_ms,
                    scope: p.scope,
                    step: p.step,
                    seq: d.seq,
                    attempt: d.attempt,
                    emits,
                };
                let _ = self.inner().completions.send(crate::tasks::Finished {
                    completion,
                    delivery: d,
                    took,
                });
            }
            PendingKind::Queue(d) => {
                let error = result.error.unwrap_or_else(|| WorkerError {
                    message: "handler failed".into(),
                    ..Default::default()
                });
                let end = Self::attempt_end(&p.span, Outcome::HandlerError);
                let engine = self.clone();
                engine
                    .clone()
                    .spawn(async move { engine.fail_delivery(p.scope, p.step, d, error, end).await });
            }
        }
    }

    /// Calls an API step and waits for its response; its emits are committed before this returns.
    pub async fn invoke_api(
        &self,
        scope: &Scope,
        step: &str,
        input: ApiInput,
        ctx: SpanCtx,
        idempotency_key: &str,
        timeout: Duration,
    ) -> Result<WorkerResult, InvokeError> {
        // The CFP trace id is the span context's trace id (docs/tracing.md).
        let trace_id = &cfp_protocol::trace::cfp_trace_id(&ctx.trace_id);
        if self.is_shutting_down() {
            return Err(InvokeError::ShuttingDown);
        }
        let (worker, protocol) = {
            let reg = self.inner().reg.lock().unwrap();
            let id = reg
                .pick_worker(scope, step, false)
                .ok_or_else(|| InvokeError::NoWorker(step.to_string()))?;
            (
                id,
                reg.workers
                    .get(&id)
                    .map_or(cfp_protocol::PROTOCOL_VERSION, |w| w.protocol),
            )
        };
        // Ingress shaped the input for the worker it expected (`Engine::api_protocol`); another one may have
        // been picked since.
        let input = crate::workers::api_input_for(self.store(), input, protocol).await?;
        let permit = self
            .inner()
            .exec_limits
            .try_acquire(scope)
            .await
            .map_err(InvokeError::LimitExceeded)?;
        let (tx, rx) = oneshot::channel();
        let id = format!("api-{}", uuid::Uuid::new_v4());
        // A stored body is readable by this invocation's worker while the call waits (`payload.get`).
        let _body = match &input.body {
            cfp_protocol::ApiBody::Stored { raw_body_ref, .. } => Some(self.claim_body(&id, &raw_body_ref.key)),
            _ => None,
        };
        let timeout_ms = timeout.as_millis() as u64;
        let frame = InvokeFrame {
            id: id.clone(),
            step: step.to_string(),
            attempt: 1,
            max_attempts: Some(1),
            trace_id: trace_id.to_string(),
            traceparent: Some(ctx.traceparent()),
            tracestate: ctx.tracestate.clone(),
            idempotency_key: idempotency_key.to_string(),
            timeout_ms,
            input: input.into(),
        };
        let pending = Pending {
            span: None,
            ctx: ctx.clone(),
            child_spans: 0,
            permit: Some(permit),
            worker,
            scope: scope.clone(),
            step: step.to_string(),
            deadline: self.deadline_after(timeout),
            timeout_ms,
            kind: PendingKind::Api {
                reply: tx,
                trace_id: trace_id.to_string(),
            },
        };
        if !self.start_invocation(worker, frame, pending) {
            return Err(InvokeError::WorkerGone(step.to_string()));
        }
        let mut result = rx.await.map_err(|_| InvokeError::WorkerGone(step.to_string()))??;
        if result.ok && !result.emits.is_empty() {
            let key = format!("{step}:{idempotency_key}");
            let events = to_events(&key, trace_id, &ctx, std::mem::take(&mut result.emits));
            let woken = self.inner().store.publish(scope, &events).await?;
            self.published(&woken);
        }
        Ok(result)
    }
}

/// How long an attempt ran, from its invoke frame to now.
fn took(p: &Pending) -> Option<Duration> {
    p.span.as_ref().map(|s| s.started_at.elapsed())
}
