//! `/__cfp/worker`: the worker protocol over WebSocket (see `docs/protocol.md`).
//! Transport and authentication only: a connection must authenticate with `hello` before anything else; then
//! its text frames go, unparsed, to the worker's [`Session`] in the engine (which parses and handles them), and
//! the session's frames go out to the socket.
//!
//! Until `hello` is authenticated a connection costs little and is bounded: at most
//! [`GatewayConfig::worker_max_unauthenticated`] such connections (and
//! [`GatewayConfig::worker_max_unauthenticated_per_peer`] from one address) wait at once, each may send
//! [`HELLO_MAX_BYTES`] (more closes it with 1009, after at most that much was read, whatever size its frame
//! announces) and must do so within
//! [`GatewayConfig::worker_hello_timeout`]. After `hello`, frames up to [`GatewayConfig::worker_max_frame`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use cfp_engine::session::{self, BoxFuture, Hello, Peers, Refusal, Session, SourceAnswer, CLOSE_TOO_BIG};
use cfp_engine::WorkerId;
use cfp_protocol::frames::{RegistrationError, RpcError};
use cfp_protocol::StreamManifest;
use cfp_store::Scope;
use cfp_streams::Streams;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;

use crate::conn::ReadMeter;
use crate::error::ApiError;
use crate::{AppState, GatewayConfig};
use cfp_protocol::{ErrorCode, SocketCode};

/// What a connection may send before its `hello` is authenticated (the hello frame is a few hundred bytes).
pub const HELLO_MAX_BYTES: usize = 16 * 1024;

/// The connections waiting to authenticate, in all and per peer address.
#[derive(Default)]
pub struct Admission {
    waiting: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// One place among the connections waiting to authenticate; given back on drop.
pub struct Waiting {
    admission: Arc<Admission>,
    peer: IpAddr,
}

impl Admission {
    /// A place for a connection from `peer`, or None when the runtime or that address has too many waiting.
    fn admit(self: &Arc<Self>, peer: IpAddr, cfg: &GatewayConfig) -> Option<Waiting> {
        let mut waiting = self.waiting.lock().unwrap();
        if waiting.0 >= cfg.worker_max_unauthenticated {
            return None;
        }
        let n = waiting.1.entry(peer).or_default();
        if *n >= cfg.worker_max_unauthenticated_per_peer {
            return None;
        }
        *n += 1;
        waiting.0 += 1;
        Some(Waiting {
            admission: self.clone(),
            peer,
        })
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut waiting = self.admission.waiting.lock().unwrap();
        waiting.0 -= 1;
        if let Some(n) = waiting.1.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                waiting.1.remove(&self.peer);
            }
        }
    }
}

pub async fn upgrade(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    meter: Option<Extension<Arc<ReadMeter>>>,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(waiting) = app.worker_admission.admit(peer.ip(), &app.cfg) else {
        tracing::warn!("refused a worker connection: too many connections waiting to authenticate");
        let mut res = ApiError::new(
            ErrorCode::TooManyConnections,
            "too many worker connections are waiting to authenticate; retry shortly",
        )
        .into_response();
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        // Nothing more is served to a refused connection: it closes instead of idling until the header deadline.
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return res;
    };
    let meter = meter.map(|Extension(m)| m);
    if let Some(m) = &meter {
        m.limit(HELLO_MAX_BYTES);
    }
    let max = app.cfg.worker_max_frame;
    ws.max_message_size(max)
        .max_frame_size(max)
        // Allocated per connection up front: small, it grows for larger frames.
        .read_buffer_size(8 * 1024)
        .on_upgrade(move |socket| serve_worker(app, socket, waiting, meter))
}

async fn close_with(mut socket: WebSocket, refusal: Refusal) {
    let _ = socket.send(Message::Text(refusal.frame().to_text().into())).await;
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: refusal.close,
            reason: Utf8Bytes::from_static(refusal.code.as_str()),
        })))
        .await;
}

/// The hello (parsed by the engine's session), or the close that ends the connection (`None`: it closed).
async fn read_hello(
    socket: &mut WebSocket,
    timeout: Duration,
    meter: Option<&ReadMeter>,
) -> Result<Hello, Option<Refusal>> {
    let too_big = || {
        Some(Refusal::new(
            CLOSE_TOO_BIG,
            SocketCode::FrameTooLarge,
            format!("before `welcome` a worker may send only its `hello` (at most {HELLO_MAX_BYTES} bytes)"),
        ))
    };
    let not_hello = |why: String| {
        Some(Refusal::new(
            session::CLOSE_UNAUTHENTICATED,
            SocketCode::Unauthenticated,
            why,
        ))
    };
    let first = match tokio::time::timeout(timeout, socket.next()).await {
        Ok(Some(Ok(Message::Text(t)))) if t.len() > HELLO_MAX_BYTES => return Err(too_big()),
        Ok(Some(Ok(Message::Text(t)))) => t,
        Ok(Some(Ok(Message::Close(_)))) | Ok(None) => return Err(None),
        Ok(Some(Ok(_))) => return Err(not_hello("the first frame must be `hello` (a text frame)".into())),
        Ok(Some(Err(_))) if meter.is_some_and(ReadMeter::exceeded) => return Err(too_big()),
        Ok(Some(Err(_))) => return Err(None),
        Err(_) => return Err(not_hello(format!("no hello frame within {} ms", timeout.as_millis()))),
    };
    session::parse_hello(&first).map_err(Some)
}

/// The connection of one worker: hello, token check, then frames in and out of its engine [`Session`].
async fn serve_worker(app: AppState, mut socket: WebSocket, waiting: Waiting, meter: Option<Arc<ReadMeter>>) {
    let engine = app.engine.clone();
    // Counted in `cfp_worker_sockets` while the socket is open (authenticated or not yet).
    let _open = engine
        .metrics()
        .map(|m| m.socket(cfp_engine::metrics::SocketKind::Worker));
    // 1. hello
    let hello = match read_hello(&mut socket, app.cfg.worker_hello_timeout, meter.as_deref()).await {
        Ok(hello) => hello,
        Err(Some(refusal)) => return close_with(socket, refusal).await,
        Err(None) => return,
    };
    let (scope, credential) = match authenticate(&app, &hello.token).await {
        Ok(found) => found,
        Err((close, message)) => {
            if let Some(m) = engine.metrics() {
                m.auth_failure("worker_token");
            }
            return close_with(socket, Refusal::new(close, SocketCode::Unauthenticated, message)).await;
        }
    };
    // Authenticated: the connection no longer counts as waiting, and may send frames up to the configured limit.
    drop(waiting);
    if let Some(m) = &meter {
        m.unlimit();
    }
    let mut revocations = app.cfg.control.as_ref().map(|c| c.credential_revocations());
    let peers = Arc::new(WorkerPeers {
        streams: app.streams.clone(),
        sources: app.sources.clone(),
    });
    let (session, mut rx) = match Session::open(&engine, scope, hello, peers) {
        Ok(opened) => opened,
        Err(refusal) => return close_with(socket, refusal).await,
    };
    let id = session.worker_id();

    let (mut sink, mut stream) = socket.split();
    let heartbeat = Duration::from_millis(engine.config().heartbeat_ms.max(1000));
    // The close code the writer ends with when the reader refused a frame (0: a plain close).
    let close_code = Arc::new(std::sync::atomic::AtomicU16::new(0));
    let writer_close = close_code.clone();
    let writer = tokio::spawn(async move {
        let mut ping = tokio::time::interval(heartbeat);
        ping.tick().await;
        loop {
            tokio::select! {
                frame = rx.recv() => {
                    let Some(frame) = frame else { break };
                    // Write everything that is queued before flushing once.
                    if sink.feed(Message::Text(frame.to_text().into())).await.is_err() { break }
                    let mut ok = true;
                    while let Ok(more) = rx.try_recv() {
                        if sink.feed(Message::Text(more.to_text().into())).await.is_err() { ok = false; break }
                    }
                    if !ok || sink.flush().await.is_err() { break }
                }
                _ = ping.tick() => {
                    if sink.send(Message::Ping(Default::default())).await.is_err() { break }
                }
            }
        }
        // Completes the close handshake when the worker closed, or closes from our side.
        let code = writer_close.load(std::sync::atomic::Ordering::Acquire);
        if code != 0 {
            let _ = sink
                .send(Message::Close(Some(CloseFrame {
                    code,
                    reason: Utf8Bytes::from_static(SocketCode::FrameTooLarge.as_str()),
                })))
                .await;
        }
        let _ = sink.close().await;
    });

    // Silence for three heartbeats means the worker is gone.
    let idle = heartbeat * 3;
    loop {
        let revoked = async {
            match (revocations.as_mut(), credential.as_deref()) {
                (Some(rx), Some(mine)) => loop {
                    match rx.recv().await {
                        Ok(id) if id == mine => return,
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                    }
                },
                _ => std::future::pending::<()>().await,
            }
        };
        let next = tokio::select! {
            next = tokio::time::timeout(idle, stream.next()) => next,
            _ = revoked => {
                session.revoked();
                break;
            }
        };
        let msg = match next {
            Ok(Some(Ok(m))) => m,
            Ok(Some(Err(e))) if is_too_big(&e) => {
                let code = session.frame_too_large(app.cfg.worker_max_frame);
                close_code.store(code, std::sync::atomic::Ordering::Release);
                break;
            }
            Ok(Some(Err(_))) | Ok(None) => break,
            Err(_) => {
                tracing::warn!(worker = id, "worker silent for {:?}; dropping the connection", idle);
                break;
            }
        };
        match msg {
            Message::Text(text) => session.on_text(&text).await,
            Message::Binary(_) => session.on_binary(),
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
    // Ending the session drops the worker from the registry and its frame sender, which ends the writer.
    drop(session);
    let mut writer = writer;
    if tokio::time::timeout(Duration::from_secs(1), &mut writer).await.is_err() {
        tracing::debug!(worker = id, "writer did not finish closing in 1 s; stopping it");
        writer.abort();
    }
}

/// The services outside the engine a worker's session reaches: the stream service and source requests.
struct WorkerPeers {
    streams: Streams,
    sources: Arc<crate::source::Sources>,
}

impl Peers for WorkerPeers {
    fn register_streams<'a>(
        &'a self,
        worker: WorkerId,
        scope: &'a Scope,
        streams: Vec<StreamManifest>,
    ) -> BoxFuture<'a, Result<Vec<RegistrationError>, String>> {
        Box::pin(async move {
            self.streams
                .register_worker(worker, scope, streams)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn stream_call<'a>(
        &'a self,
        scope: &'a Scope,
        method: &'a str,
        params: &'a Value,
    ) -> BoxFuture<'a, Result<Value, RpcError>> {
        Box::pin(self.streams.rpc(scope, method, params))
    }

    fn access_result(&self, worker: WorkerId, check: &str, allowed: bool) {
        self.streams.access_result(worker, check, allowed);
    }

    fn source_result(&self, worker: WorkerId, request: &str, answer: SourceAnswer) {
        let SourceAnswer { ok, file, text, error } = answer;
        self.sources
            .answer(worker, request, crate::source::Answer { ok, file, text, error });
    }

    fn disconnect(&self, worker: WorkerId) {
        self.streams.disconnect_worker(worker);
    }
}

/// Whether a read failed on a frame or message over the configured limit.
fn is_too_big(e: &axum::Error) -> bool {
    use std::error::Error;
    matches!(
        e.source().and_then(|inner| inner.downcast_ref::<tungstenite::Error>()),
        Some(tungstenite::Error::Capacity(_))
    )
}

/// The project a worker token binds the worker to: a token from the runtime's own list, or a control-plane
/// worker token (`cfp_wkr_…`) that allows `worker.connect`. Returns the credential id of the latter (a revocation
/// drops the connection). Errors are (close code, message).
async fn authenticate(app: &AppState, token: &str) -> Result<(Scope, Option<String>), (u16, String)> {
    if let Some(scope) = app.engine.authenticate_worker(token) {
        return Ok((scope, None));
    }
    let invalid = || (4401, "the worker token is not valid".to_string());
    let Some(control) = app.cfg.control.as_ref().filter(|_| token.starts_with("cfp_wkr_")) else {
        return Err(invalid());
    };
    match control.verify_credential(token).await {
        Ok(Some(c)) if c.kind == "worker" && app.policy().worker_token_allows("worker.connect") => {
            Ok((Scope::new(&c.tenant_id, &c.project_id), Some(c.id)))
        }
        Ok(_) => Err(invalid()),
        Err(e) => {
            tracing::warn!(error = %e, "worker token could not be checked");
            Err((
                1013,
                "the worker token cannot be checked right now (control plane unreachable); retrying".into(),
            ))
        }
    }
}
