//! A worker's session: everything a connected worker says after it authenticated, and what it is told.
//!
//! The gateway's `/__cfp/worker` endpoint is transport and authentication only: it upgrades the connection,
//! admits it among the connections waiting to authenticate, reads the `hello` within its deadline and size limit,
//! checks the token, then opens a [`Session`] and pumps raw text frames into [`Session::on_text`] and the frames of
//! the returned receiver out to the socket. Everything else lives here: parsing frames, registration (steps here,
//! stream definitions through [`Peers`]), results and logs (checked against the invocations this worker is
//! running), calls (state and webhook claims through [`Engine::worker_call`], `streams.*` through [`Peers`]) and
//! the worker's budgets (`too_many_workers`, `too_many_steps`, `too_many_calls`, its share of the log writer).
//!
//! The session ends when it is dropped: the worker leaves the registry (its in-flight invocations fail over) and
//! the peers forget it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use cfp_audit::{Actor, Event};
use cfp_protocol::frames::{parse_from_worker, RegistrationError, RpcError};
use cfp_protocol::{FromWorker, RpcCode, SocketCode, StreamManifest, ToWorker, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION};
use cfp_store::Scope;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::{Engine, WorkerId, WorkerResult};

/// Close code of a frame over the limit (RFC 6455 "message too big").
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Close code of a connection that did not authenticate (no, bad or late `hello`).
pub const CLOSE_UNAUTHENTICATED: u16 = 4401;
/// Close code of a `hello` with another protocol version.
pub const CLOSE_UNSUPPORTED_PROTOCOL: u16 = 4400;
/// Close code of a worker refused because its project has the most workers allowed.
pub const CLOSE_TOO_MANY_WORKERS: u16 = 4429;
/// Close code of a worker refused because the runtime is shutting down (RFC 6455 "service restart").
pub const CLOSE_SHUTTING_DOWN: u16 = 1012;

/// A boxed future, for the [`Peers`] methods that wait.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The answer of a worker to a request for a step's source file (the workbench's "view source").
#[derive(Debug, Clone)]
pub struct SourceAnswer {
    pub ok: bool,
    pub file: Option<String>,
    pub text: Option<String>,
    pub error: Option<String>,
}

/// What a session needs from services outside the engine (the engine does not depend on them): the stream
/// service and the source requests of the workbench. Implemented by the gateway.
pub trait Peers: Send + Sync + 'static {
    /// Replaces the streams the worker hosts; returns the refused definitions, or why nothing could be stored.
    fn register_streams<'a>(
        &'a self,
        worker: WorkerId,
        scope: &'a Scope,
        streams: Vec<StreamManifest>,
    ) -> BoxFuture<'a, Result<Vec<RegistrationError>, String>>;
    /// A `streams.*` call of the worker, within its own project.
    fn stream_call<'a>(
        &'a self,
        scope: &'a Scope,
        method: &'a str,
        params: &'a Value,
    ) -> BoxFuture<'a, Result<Value, RpcError>>;
    /// The worker's answer to a stream access check it was asked (`canAccess`).
    fn access_result(&self, worker: WorkerId, check: &str, allowed: bool);
    /// The worker's answer to a source request it was sent.
    fn source_result(&self, worker: WorkerId, request: &str, answer: SourceAnswer);
    /// The worker is gone.
    fn disconnect(&self, worker: WorkerId);
}

/// Why a connection ends before or instead of a session: the close code, and the code and message of the `error`
/// frame sent before closing ([`Refusal::frame`]).
#[derive(Debug)]
pub struct Refusal {
    pub close: u16,
    pub code: SocketCode,
    pub message: String,
}

impl Refusal {
    pub fn new(close: u16, code: SocketCode, message: impl Into<String>) -> Self {
        Self {
            close,
            code,
            message: message.into(),
        }
    }

    /// The `error` frame sent before the close.
    pub fn frame(&self) -> ToWorker {
        ToWorker::error(self.code, self.message.clone())
    }
}

/// The authentication part of a `hello` frame.
#[derive(Debug)]
pub struct Hello {
    pub token: String,
    /// The worker's name (`worker` when it gave none).
    pub name: String,
    pub capacity: Option<u32>,
    /// The protocol version the worker speaks (one this runtime speaks).
    pub protocol: u32,
}

/// Parses the first frame of a connection, which must be a `hello` of a protocol version this runtime speaks
/// ([`MIN_PROTOCOL_VERSION`] to [`PROTOCOL_VERSION`]).
pub fn parse_hello(text: &str) -> Result<Hello, Refusal> {
    let not_hello = |why: String| Refusal::new(CLOSE_UNAUTHENTICATED, SocketCode::Unauthenticated, why);
    match parse_from_worker(text) {
        Ok(FromWorker::Hello {
            protocol,
            token,
            worker,
            capacity,
        }) => {
            if !(MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&protocol) {
                return Err(Refusal::new(
                    CLOSE_UNSUPPORTED_PROTOCOL,
                    SocketCode::UnsupportedProtocol,
                    format!(
                        "this runtime speaks protocols {MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION}; the worker sent {protocol}"
                    ),
                ));
            }
            Ok(Hello {
                token,
                name: worker.name.unwrap_or_else(|| "worker".into()),
                capacity,
                protocol,
            })
        }
        Ok(_) => Err(not_hello("the first frame must be `hello` with a worker token".into())),
        Err(e) => Err(not_hello(format!("the first frame must be `hello`: {e}"))),
    }
}

/// One authenticated worker connection. Dropping it ends the session.
pub struct Session {
    engine: Engine,
    id: WorkerId,
    scope: Scope,
    peers: Arc<dyn Peers>,
    /// When the session opened, for the `worker.deregister` audit entry.
    opened: std::time::Instant,
}

impl Session {
    /// Opens the session of a worker authenticated for `scope` and queues its `welcome`. The frames to send
    /// the worker arrive on the returned receiver; it ends when the session does.
    pub fn open(
        engine: &Engine,
        scope: Scope,
        hello: Hello,
        peers: Arc<dyn Peers>,
    ) -> Result<(Session, mpsc::UnboundedReceiver<ToWorker>), Refusal> {
        if engine.is_shutting_down() {
            return Err(Refusal::new(
                CLOSE_SHUTTING_DOWN,
                SocketCode::ShuttingDown,
                "the runtime is shutting down",
            ));
        }
        let (id, rx) = engine
            .connect_worker(scope.clone(), hello.name, hello.capacity, hello.protocol)
            .map_err(|message| Refusal::new(CLOSE_TOO_MANY_WORKERS, SocketCode::TooManyWorkers, message))?;
        let session = Session {
            engine: engine.clone(),
            id,
            scope,
            peers,
            opened: std::time::Instant::now(),
        };
        // The welcome names the worker's own version: the session speaks it.
        session.send(ToWorker::Welcome {
            protocol: hello.protocol,
            worker_id: id.to_string(),
            tenant: session.scope.tenant.clone(),
            project: session.scope.project.clone(),
            heartbeat_ms: engine.config().heartbeat_ms,
            payload_threshold: engine.store().payload_threshold() as u64,
        });
        Ok((session, rx))
    }

    pub fn worker_id(&self) -> WorkerId {
        self.id
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    fn send(&self, frame: ToWorker) {
        self.engine.send_to_worker(self.id, frame);
    }

    /// The worker sent a binary frame: not part of the protocol (answered, the connection stays).
    pub fn on_binary(&self) {
        self.send(ToWorker::error(
            SocketCode::BadFrame,
            "binary frames are not part of the protocol",
        ));
    }

    /// The worker sent a frame over `max` bytes: tells it why; the transport then closes with the returned code.
    pub fn frame_too_large(&self, max: usize) -> u16 {
        tracing::warn!(
            worker = self.id,
            "the worker sent a frame over {max} bytes; closing with 1009"
        );
        self.send(ToWorker::error(
            SocketCode::FrameTooLarge,
            format!("frames may be at most {max} bytes"),
        ));
        CLOSE_TOO_BIG
    }

    /// The worker's token was revoked: tells it why before the transport closes.
    pub fn revoked(&self) {
        tracing::warn!(
            worker = self.id,
            "the worker's token was revoked; dropping the connection"
        );
        self.send(ToWorker::error(
            SocketCode::Unauthenticated,
            "the worker token was revoked",
        ));
    }

    /// One text frame of the worker. A frame that does not parse is answered `bad_frame`; nothing of it is applied.
    pub async fn on_text(&self, text: &str) {
        let frame = match parse_from_worker(text) {
            Ok(f) => f,
            Err(message) => return self.send(ToWorker::error(SocketCode::BadFrame, message)),
        };
        let (engine, id) = (&self.engine, self.id);
        match frame {
            FromWorker::Hello { .. } => self.send(ToWorker::error(SocketCode::BadFrame, "already authenticated")),
            FromWorker::Register { steps, streams, ui } => {
                // Before `registered` goes out: a workbench told of the registration finds its UI.
                self.engine.set_worker_ui(id, ui);
                self.register(steps, streams, text).await;
            }
            FromWorker::AccessResult { id: check, allowed } => self.peers.access_result(id, &check, allowed),
            FromWorker::SourceResult {
                id: request,
                ok,
                file,
                text,
                error,
            } => self
                .peers
                .source_result(id, &request, SourceAnswer { ok, file, text, error }),
            FromWorker::Result {
                id: inv,
                ok,
                output,
                emits,
                error,
                ..
            } => engine.on_result(
                id,
                &inv,
                WorkerResult {
                    ok,
                    output,
                    emits,
                    error,
                },
            ),
            FromWorker::Log { entries } => engine.worker_logs(id, entries),
            FromWorker::Spans { id: invocation, spans } => engine.worker_spans(id, &invocation, spans),
            FromWorker::Call {
                id: call_id,
                method,
                params,
                invocation_id,
                ..
            } => self.call(call_id, method, params, invocation_id),
            FromWorker::Ping { ts } => self.send(ToWorker::Pong { ts }),
            FromWorker::Pong { .. } => {}
            FromWorker::Drain {} => engine.drain_worker(id),
        }
    }

    async fn register(&self, steps: Vec<cfp_protocol::StepManifest>, streams: Vec<StreamManifest>, frame: &str) {
        if let Some(refusal) = self.engine.registration_refusal(&steps) {
            return self.send(refusal);
        }
        let step_count = steps.len();
        // Streams first: once the engine has the steps, invocations may be sent, and `registered` should follow
        // the engine's registration without another database round trip in between.
        let stream_errors = self.peers.register_streams(self.id, &self.scope, streams).await;
        // the registration's entry commits with the project's step set (docs/audit.md), once the streams are stored
        let audit = stream_errors.is_ok().then(|| {
            let mut e = self.worker_event("worker.register");
            e.details.insert("manifest_hash".into(), json!(manifest_hash(frame)));
            e.details.insert("steps".into(), json!(step_count));
            e
        });
        let mut reply = match self.engine.register(self.id, steps, audit).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "storing the registration failed");
                ToWorker::error(
                    SocketCode::RegistrationFailed,
                    "the runtime could not store the registration; it will retry when you re-register",
                )
            }
        };
        match (stream_errors, &mut reply) {
            (Ok(errors), ToWorker::Registered { errors: all, .. }) => all.extend(errors),
            (Ok(_), _) => {}
            (Err(e), _) => {
                tracing::error!(error = %e, "storing the stream definitions failed");
                reply = ToWorker::error(
                    SocketCode::RegistrationFailed,
                    "the runtime could not store the streams; re-register",
                );
            }
        }
        self.send(reply);
    }

    /// A `call` frame: checked (the invocation it names is this worker's, no NUL, within the worker's call budget)
    /// before anything is done, then answered by a task the engine owns.
    fn call(&self, call_id: u64, method: String, params: Value, invocation_id: Option<String>) {
        let engine = &self.engine;
        let refuse = |code: RpcCode, message: String| {
            self.send(ToWorker::Reply {
                id: call_id,
                ok: false,
                result: None,
                error: Some(RpcError { code, message }),
            })
        };
        if let Some(inv) = invocation_id
            .as_deref()
            .filter(|inv| !engine.owns_invocation(self.id, inv))
        {
            return refuse(
                RpcCode::UnknownInvocation,
                format!("`{method}` names invocation `{inv}`, which this worker is not running"),
            );
        }
        if let Some(path) = crate::nul::find(&params, "params") {
            return refuse(
                RpcCode::BadRequest,
                format!("{path} contains the character U+0000 (NUL), which cannot be stored"),
            );
        }
        let Some(permit) = engine.call_permit(self.id) else {
            return refuse(
                RpcCode::TooManyCalls,
                format!(
                    "this worker already has {} calls being answered; wait for their replies",
                    engine.config().max_calls_per_worker
                ),
            );
        };
        let (task_engine, peers, scope, id) = (engine.clone(), self.peers.clone(), self.scope.clone(), self.id);
        engine.spawn(async move {
            let result = if method == "payload.get" {
                task_engine.payload_get(id, invocation_id.as_deref(), &params).await
            } else if method.starts_with("streams.") {
                peers.stream_call(&scope, &method, &params).await
            } else {
                task_engine.worker_call(&scope, &method, &params).await
            };
            drop(permit);
            let reply = match result {
                Ok(result) => ToWorker::Reply {
                    id: call_id,
                    ok: true,
                    result: Some(result),
                    error: None,
                },
                Err(error) => ToWorker::Reply {
                    id: call_id,
                    ok: false,
                    result: None,
                    error: Some(error),
                },
            };
            task_engine.send_to_worker(id, reply);
        });
    }
}

impl Session {
    /// An audit event of this worker (actor and target: the worker; scope: its project).
    fn worker_event(&self, kind: &str) -> Event {
        let mut e = Event::new(
            kind,
            Actor {
                kind: "worker",
                id: Some(self.id.to_string()),
                name: None,
                auth: Some("worker_token"),
            },
        );
        e.tenant = Some(self.scope.tenant.clone());
        e.project = Some(self.scope.project.clone());
        e.target = Some(("worker".into(), Some(self.id.to_string())));
        e
    }
}

/// SHA-256 (hex) of the RFC 8785 form of a worker's `register` frame: what it registered, exactly.
fn manifest_hash(frame: &str) -> Option<String> {
    use sha2::Digest;
    let v: Value = serde_json::from_str(frame).ok()?;
    let canonical = cfp_audit::canonicalize(&v).ok()?;
    Some(hex::encode(sha2::Sha256::digest(canonical.as_bytes())))
}

impl Drop for Session {
    /// Dropping the worker from the registry drops its frame sender, which ends the transport's writer; the
    /// departure is recorded (`worker.deregister`) by a task the engine owns.
    fn drop(&mut self) {
        self.engine.disconnect_worker(self.id);
        self.peers.disconnect(self.id);
        let mut e = self.worker_event("worker.deregister");
        e.details.insert("reason".into(), json!("closed"));
        e.details
            .insert("seconds".into(), json!(self.opened.elapsed().as_secs()));
        let engine = self.engine.clone();
        self.engine.spawn(async move { engine.audit(e).await });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_hello_of_this_protocol_opens_a_session() {
        let hello = parse_hello(r#"{"type":"hello","protocol":1,"token":"t0","worker":{},"capacity":4}"#).unwrap();
        assert_eq!(
            (hello.token.as_str(), hello.name.as_str(), hello.capacity),
            ("t0", "worker", Some(4))
        );
        assert_eq!(hello.protocol, 1);
        let v2 = parse_hello(r#"{"type":"hello","protocol":2,"token":"t0","worker":{}}"#).unwrap();
        assert_eq!(v2.protocol, 2);

        for protocol in [0, 3] {
            let text = format!(r#"{{"type":"hello","protocol":{protocol},"token":"t0","worker":{{}}}}"#);
            let other = parse_hello(&text).unwrap_err();
            assert_eq!(
                (other.close, other.code),
                (CLOSE_UNSUPPORTED_PROTOCOL, SocketCode::UnsupportedProtocol)
            );
        }

        for text in [r#"{"type":"ping","ts":1}"#, "not json", r#"{"type":"hello"}"#] {
            let refused = parse_hello(text).unwrap_err();
            assert_eq!(
                (refused.close, refused.code),
                (CLOSE_UNAUTHENTICATED, SocketCode::Unauthenticated),
                "{text}"
            );
            assert!(
                matches!(refused.frame(), ToWorker::Error { code, .. } if code == SocketCode::Unauthenticated),
                "{text}"
            );
        }
    }
}
