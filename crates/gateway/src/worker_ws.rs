//! `/__cfp/worker`: the worker protocol over WebSocket (see `docs/protocol.md`).
//! A connection must authenticate with `hello` before anything else; then frames are routed to the engine.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use cfp_engine::{Engine, WorkerId, WorkerResult};
use cfp_protocol::frames::{parse_from_worker, RpcError};
use cfp_protocol::{FromWorker, ToWorker, PROTOCOL_VERSION};
use cfp_store::Scope;
use cfp_streams::Streams;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

use crate::AppState;

const MAX_FRAME: usize = 64 << 20;
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn upgrade(State(app): State<AppState>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |socket| session(app, socket))
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

async fn session(app: AppState, mut socket: WebSocket) {
    let engine = app.engine.clone();
    // 1. hello
    let first = match tokio::time::timeout(HELLO_TIMEOUT, socket.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => t,
        Ok(_) => return,
        Err(_) => {
            return close_with(
                socket,
                4401,
                ToWorker::error("unauthenticated", "no hello frame within 10 s"),
            )
            .await
        }
    };
    let (token, name, capacity) = match parse_from_worker(&first) {
        Ok(FromWorker::Hello {
            protocol,
            token,
            worker,
            capacity,
        }) => {
            if protocol != PROTOCOL_VERSION {
                return close_with(
                    socket,
                    4400,
                    ToWorker::error(
                        "unsupported_protocol",
                        format!("this runtime speaks protocol {PROTOCOL_VERSION}; the worker sent {protocol}"),
                    ),
                )
                .await;
            }
            (token, worker.name.unwrap_or_else(|| "worker".into()), capacity)
        }
        Ok(_) => {
            return close_with(
                socket,
                4401,
                ToWorker::error("unauthenticated", "the first frame must be `hello` with a worker token"),
            )
            .await
        }
        Err(e) => {
            return close_with(
                socket,
                4401,
                ToWorker::error("unauthenticated", format!("the first frame must be `hello`: {e}")),
            )
            .await
        }
    };
    let (scope, credential) = match authenticate(&app, &token).await {
        Ok(found) => found,
        Err((code, message)) => return close_with(socket, code, ToWorker::error("unauthenticated", message)).await,
    };
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

    let (mut sink, mut stream) = socket.split();
    let heartbeat = Duration::from_millis(engine.config().heartbeat_ms.max(1000));
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
    if tokio::time::timeout(Duration::from_secs(1), writer).await.is_err() {
        tracing::debug!(worker = id, "writer did not finish closing in 1 s");
    }
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
            engine.send_to_worker(id, reply);
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
                    rpc(&engine, &scope, &method, &params).await
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

fn str_param<'a>(params: &'a Value, name: &str) -> Result<&'a str, RpcError> {
    params.get(name).and_then(Value::as_str).ok_or_else(|| RpcError {
        code: "bad_request".into(),
        message: format!("parameter `{name}` must be a string"),
    })
}

/// State RPC, always within the worker's own project.
async fn rpc(engine: &Engine, scope: &Scope, method: &str, params: &Value) -> Result<Value, RpcError> {
    let store = engine.store();
    let internal = |e: cfp_store::StoreError| {
        tracing::warn!(error = %e, method, "state call failed");
        RpcError {
            code: if e.is_transient() { "unavailable" } else { "internal" }.into(),
            message: format!("{method} failed: {e}"),
        }
    };
    match method {
        "state.get" => Ok(store
            .state_get(scope, str_param(params, "group")?, str_param(params, "key")?)
            .await
            .map_err(internal)?
            .unwrap_or(Value::Null)),
        "state.set" => {
            let value = params.get("value").cloned().unwrap_or(Value::Null);
            store
                .state_set(scope, str_param(params, "group")?, str_param(params, "key")?, &value)
                .await
                .map_err(internal)?;
            Ok(value)
        }
        "state.delete" => Ok(store
            .state_delete(scope, str_param(params, "group")?, str_param(params, "key")?)
            .await
            .map_err(internal)?
            .unwrap_or(Value::Null)),
        "state.getGroup" => Ok(json!(store
            .state_group(scope, str_param(params, "group")?)
            .await
            .map_err(internal)?)),
        "state.clear" => {
            store
                .state_clear(scope, str_param(params, "group")?)
                .await
                .map_err(internal)?;
            Ok(Value::Null)
        }
        other => Err(RpcError {
            code: "bad_request".into(),
            message: format!("unknown method `{other}`"),
        }),
    }
}
