//! `/__cfp/worker`: the worker protocol over WebSocket (see `docs/protocol.md`).
//! A connection must authenticate with `hello` before anything else; then frames are routed to the engine.
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
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use cfp_engine::{Engine, WorkerId, WorkerResult};
use cfp_protocol::frames::{parse_from_worker, RpcError};
use cfp_protocol::{FromWorker, ToWorker, PROTOCOL_VERSION};
use cfp_store::Scope;
use cfp_streams::Streams;
use futures_util::{SinkExt, StreamExt};

use crate::conn::ReadMeter;
use crate::error::ApiError;
use crate::{AppState, GatewayConfig};

/// What a connection may send before its `hello` is authenticated (the hello frame is a few hundred bytes).
pub const HELLO_MAX_BYTES: usize = 16 * 1024;

/// Close code of a frame over the limit (RFC 6455 "message too big").
const CLOSE_TOO_BIG: u16 = 1009;

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
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_connections",
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
        .on_upgrade(move |socket| session(app, socket, waiting, meter))
}

async fn close_with(mut socket: WebSocket, code: u16, frame: ToWorker) {
    let _ = socket.send(Message::Text(frame.to_text().into())).await;
    let reason = match &frame {
        ToWorker::Error { code, .. } => code.clone(),
        _ => String::new(),
    };
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        })))
        .await;
}

/// The hello's token, worker name and capacity, or the close that ends the connection.
async fn read_hello(
    socket: &mut WebSocket,
    timeout: Duration,
    meter: Option<&ReadMeter>,
) -> Result<(String, String, Option<u32>), Option<(u16, ToWorker)>> {
    let too_big = || {
        Some((
            CLOSE_TOO_BIG,
            ToWorker::error(
                "frame_too_large",
                format!("before `welcome` a worker may send only its `hello` (at most {HELLO_MAX_BYTES} bytes)"),
            ),
        ))
    };
    let not_hello = |why: String| Some((4401, ToWorker::error("unauthenticated", why)));
    let first = match tokio::time::timeout(timeout, socket.next()).await {
        Ok(Some(Ok(Message::Text(t)))) if t.len() > HELLO_MAX_BYTES => return Err(too_big()),
        Ok(Some(Ok(Message::Text(t)))) => t,
        Ok(Some(Ok(Message::Close(_)))) | Ok(None) => return Err(None),
        Ok(Some(Ok(_))) => return Err(not_hello("the first frame must be `hello` (a text frame)".into())),
        Ok(Some(Err(_))) if meter.is_some_and(ReadMeter::exceeded) => return Err(too_big()),
        Ok(Some(Err(_))) => return Err(None),
        Err(_) => return Err(not_hello(format!("no hello frame within {} ms", timeout.as_millis()))),
    };
    match parse_from_worker(&first) {
        Ok(FromWorker::Hello {
            protocol,
            token,
            worker,
            capacity,
        }) => {
            if protocol != PROTOCOL_VERSION {
                return Err(Some((
                    4400,
                    ToWorker::error(
                        "unsupported_protocol",
                        format!("this runtime speaks protocol {PROTOCOL_VERSION}; the worker sent {protocol}"),
                    ),
                )));
            }
            Ok((token, worker.name.unwrap_or_else(|| "worker".into()), capacity))
        }
        Ok(_) => Err(not_hello("the first frame must be `hello` with a worker token".into())),
        Err(e) => Err(not_hello(format!("the first frame must be `hello`: {e}"))),
    }
}

async fn session(app: AppState, mut socket: WebSocket, waiting: Waiting, meter: Option<Arc<ReadMeter>>) {
    let engine = app.engine.clone();
    // 1. hello
    let (token, name, capacity) = match read_hello(&mut socket, app.cfg.worker_hello_timeout, meter.as_deref()).await {
        Ok(hello) => hello,
        Err(Some((code, frame))) => return close_with(socket, code, frame).await,
        Err(None) => return,
    };
    let (scope, credential) = match authenticate(&app, &token).await {
        Ok(found) => found,
        Err((code, message)) => return close_with(socket, code, ToWorker::error("unauthenticated", message)).await,
    };
    // Authenticated: the connection no longer counts as waiting, and may send frames up to the configured limit.
    drop(waiting);
    if let Some(m) = &meter {
        m.unlimit();
    }
    let mut revocations = app.cfg.control.as_ref().map(|c| c.credential_revocations());
    if engine.is_shutting_down() {
        return close_with(
            socket,
            1012,
            ToWorker::error("shutting_down", "the runtime is shutting down"),
        )
        .await;
    }
    let (id, mut rx) = match engine.connect_worker(scope.clone(), name, capacity) {
        Ok(connected) => connected,
        Err(message) => return close_with(socket, 4429, ToWorker::error("too_many_workers", message)).await,
    };
    let welcome = ToWorker::Welcome {
        protocol: PROTOCOL_VERSION,
        worker_id: id.to_string(),
        tenant: scope.tenant.clone(),
        project: scope.project.clone(),
        heartbeat_ms: engine.config().heartbeat_ms,
        payload_threshold: engine.store().payload_threshold() as u64,
    };
    engine.send_to_worker(id, welcome);
    let connected_at = std::time::Instant::now();

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
                    reason: Utf8Bytes::from_static("frame_too_large"),
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
                tracing::warn!(worker = id, "the worker's token was revoked; dropping the connection");
                engine.send_to_worker(id, ToWorker::error("unauthenticated", "the worker token was revoked"));
                break;
            }
        };
        let msg = match next {
            Ok(Some(Ok(m))) => m,
            Ok(Some(Err(e))) if is_too_big(&e) => {
                let max = app.cfg.worker_max_frame;
                tracing::warn!(
                    worker = id,
                    "the worker sent a frame over {max} bytes; closing with 1009"
                );
                engine.send_to_worker(
                    id,
                    ToWorker::error("frame_too_large", format!("frames may be at most {max} bytes")),
                );
                close_code.store(CLOSE_TOO_BIG, std::sync::atomic::Ordering::Release);
                break;
            }
            Ok(Some(Err(_))) | Ok(None) => break,
            Err(_) => {
                tracing::warn!(worker = id, "worker silent for {:?}; dropping the connection", idle);
                break;
            }
        };
        match msg {
            Message::Text(text) => on_frame(&engine, &app.streams, &app.sources, id, &scope, &text).await,
            Message::Binary(_) => {
                engine.send_to_worker(
                    id,
                    ToWorker::error("bad_frame", "binary frames are not part of the protocol"),
                );
            }
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
    // Dropping the worker from the registry drops its frame sender, which ends the writer.
    engine.disconnect_worker(id);
    app.streams.disconnect_worker(id);
    crate::audit::worker_left(&engine, id, &scope, "closed", connected_at.elapsed().as_secs()).await;
    if tokio::time::timeout(Duration::from_secs(1), writer).await.is_err() {
        tracing::debug!(worker = id, "writer did not finish closing in 1 s");
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

async fn on_frame(
    engine: &Engine,
    streams: &Streams,
    sources: &crate::source::Sources,
    id: WorkerId,
    scope: &Scope,
    text: &str,
) {
    let frame = match parse_from_worker(text) {
        Ok(f) => f,
        Err(message) => {
            engine.send_to_worker(id, ToWorker::error("bad_frame", message));
            return;
        }
    };
    match frame {
        FromWorker::Hello { .. } => {
            engine.send_to_worker(id, ToWorker::error("bad_frame", "already authenticated"));
        }
        FromWorker::Register { steps, streams: defs } => {
            let step_count = steps.len();
            if let Some(refusal) = engine.registration_refusal(&steps) {
                engine.send_to_worker(id, refusal);
                return;
            }
            // Streams first: once the engine has the steps, invocations may be sent, and `registered` should
            // follow the engine's registration without another database round trip in between.
            let stream_errors = streams.register_worker(id, scope, defs).await;
            let mut reply = match engine.register(id, steps).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "storing the registration failed");
                    ToWorker::error(
                        "registration_failed",
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
                        "registration_failed",
                        "the runtime could not store the streams; re-register",
                    );
                }
            }
            let registered = matches!(reply, ToWorker::Registered { .. });
            engine.send_to_worker(id, reply);
            if registered {
                crate::audit::worker_registered(engine, id, scope, text, step_count).await;
            }
        }
        FromWorker::AccessResult { id: check, allowed } => streams.access_result(id, &check, allowed),
        FromWorker::SourceResult {
            id: request,
            ok,
            file,
            text,
            error,
        } => sources.answer(id, &request, crate::source::Answer { ok, file, text, error }),
        FromWorker::Result {
            id: inv,
            ok,
            output,
            emits,
            error,
            ..
        } => {
            engine.on_result(
                id,
                &inv,
                WorkerResult {
                    ok,
                    output,
                    emits,
                    error,
                },
            );
        }
        FromWorker::Log { entries } => engine.worker_logs(id, entries),
        FromWorker::Call {
            id: call_id,
            method,
            params,
            invocation_id,
            ..
        } => {
            let refuse = |code: &str, message: String| {
                engine.send_to_worker(
                    id,
                    ToWorker::Reply {
                        id: call_id,
                        ok: false,
                        result: None,
                        error: Some(RpcError {
                            code: code.into(),
                            message,
                        }),
                    },
                );
            };
            if let Some(inv) = invocation_id.as_deref().filter(|inv| !engine.owns_invocation(id, inv)) {
                return refuse(
                    "unknown_invocation",
                    format!("`{method}` names invocation `{inv}`, which this worker is not running"),
                );
            }
            if let Some(path) = cfp_engine::nul::find(&params, "params") {
                return refuse(
                    "bad_request",
                    format!("{path} contains the character U+0000 (NUL), which cannot be stored"),
                );
            }
            let Some(permit) = engine.call_permit(id) else {
                return refuse(
                    "too_many_calls",
                    format!(
                        "this worker already has {} calls being answered; wait for their replies",
                        engine.config().max_calls_per_worker
                    ),
                );
            };
            let engine = engine.clone();
            let streams = streams.clone();
            let scope = scope.clone();
            tokio::spawn(async move {
                let result = if method.starts_with("streams.") {
                    streams.rpc(&scope, &method, &params).await
                } else {
                    engine.worker_call(&scope, &method, &params).await
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
                engine.send_to_worker(id, reply);
            });
        }
        FromWorker::Ping { ts } => {
            engine.send_to_worker(id, ToWorker::Pong { ts });
        }
        FromWorker::Pong { .. } => {}
        FromWorker::Drain {} => engine.drain_worker(id),
    }
}
