//! The stream websocket for clients: a WebSocket upgrade at `/` on the runtime's port (the same origin as the
//! API steps; a plain `GET /` still goes to the API steps or the workbench redirect). It speaks Motia's stream
//! protocol (`cfp_streams::wire`), so `@motiadev/stream-client-*` work unchanged.
//!
//! Authentication, checked before the upgrade (401 otherwise): in dev mode a loopback client is the local
//! developer — unless it is a browser page of another origin (an `Origin` that is not localhost/loopback: any
//! web page can open a WebSocket to localhost); otherwise the admin token, given as `?token=<t>`, as
//! `Authorization: Bearer <t>`, or as the WebSocket subprotocols `Authorization, <t>` (what Motia's clients send
//! with `{ protocols: ['Authorization', token] }`; the runtime answers with the subprotocol `Authorization`).
//!
//! Each connection has a reader (client messages, handled one at a time) and a writer (its bounded outbox,
//! pings every 30 s). A connection is closed with 1013 when its outbox overflows, with 1001 at shutdown, and
//! after 90 s without any frame from the client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cfp_engine::Engine;
use cfp_store::Scope;
use cfp_streams::{Close, Conn, Outbox, Streams, StreamsConfig};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

use crate::auth::{self, Principal};
use crate::error::ApiError;
use crate::AppState;
use cfp_protocol::ErrorCode;

/// Client messages are small (`join`/`leave`).
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
const PING_EVERY: Duration = Duration::from_secs(30);
const IDLE_LIMIT: Duration = Duration::from_secs(90);
/// Close code when the credential a client connected with stops allowing it (expired, revoked, binding removed,
/// project deleted); the reason is the refusal's error code (`invalid_token`, `forbidden`, `not_found`).
pub const CREDENTIAL_ENDED: u16 = 4401;
/// The subprotocol Motia's clients send before the token.
const AUTH_PROTOCOL: &str = "Authorization";

/// Starts the stream service of a runtime: it shares the engine's store, instance id and shutdown (and fans
/// changes out over Redis when the gateway is configured with a Redis URL).
pub fn start_streams(engine: &Engine, gateway: &crate::GatewayConfig) -> Streams {
    let cfg = StreamsConfig {
        instance_id: engine.config().instance_id.clone(),
        redis_url: gateway.redis_url.clone(),
        ..StreamsConfig::default()
    };
    let sender = engine.clone();
    Streams::start(
        engine.store().clone(),
        cfg,
        Arc::new(move |worker, frame| sender.send_to_worker(worker, frame)),
        engine.shutdown_signal(),
    )
}

/// Middleware in front of every route: a WebSocket upgrade of `/` is a stream client; anything else passes.
pub async fn intercept(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if req.uri().path() != "/" || !is_websocket_upgrade(req.headers()) {
        return next.run(req).await;
    }
    upgrade(app, req).await
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

async fn upgrade(app: AppState, req: Request) -> Response {
    let (mut parts, _body) = req.into_parts();
    let Some(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0) else {
        return ApiError::internal("stream upgrade without peer address").into_response();
    };
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &app).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let offered = offered_protocols(&ws);
    let (access, held) = match authenticate_client(&app, peer, &parts.headers, parts.uri.query(), &offered).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    if app.streams.is_shutting_down() {
        return ApiError::new(
            ErrorCode::ShuttingDown,
            "the runtime is shutting down; connect to another replica",
        )
        .into_response();
    }
    let auth = auth_context(&access.principal, peer);
    let mut ws = ws
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE);
    // Echo the client's own spelling: clients accept only a subprotocol they offered.
    if let Some(p) = offered.first().filter(|p| p.eq_ignore_ascii_case(AUTH_PROTOCOL)) {
        if let Ok(v) = HeaderValue::from_str(p) {
            ws.set_selected_protocol(v);
        }
    }
    let streams = app.streams.clone();
    let scope = access.scope.clone();
    // Counted in `cfp_stream_sockets` while the socket is open.
    let open = app
        .engine
        .metrics()
        .map(|m| m.socket(cfp_engine::metrics::SocketKind::Stream));
    let ended = crate::auth::credential_ended(app, access, held);
    ws.on_upgrade(move |socket| async move {
        session(streams, scope, auth, socket, ended).await;
        drop(open);
    })
}

/// What a stream's `canAccess` learns of the caller (never a secret): the same for a socket join and for the
/// runtime API's group read.
pub fn auth_context(principal: &Principal, peer: SocketAddr) -> Value {
    json!({
        "principal": match principal {
            Principal::LocalDeveloper => "developer",
            Principal::Admin => "admin",
            Principal::User(_) => "user",
            Principal::ApiKey(_) => "apiKey",
            Principal::EndUser { .. } => "endUser",
        },
        "userId": match principal { Principal::User(c) => Some(c.sub.clone()), _ => None },
        "apiKeyId": match principal { Principal::ApiKey(c) => Some(c.id.clone()), _ => None },
        "ip": peer.ip().to_string(),
    })
}

fn offered_protocols(ws: &WebSocketUpgrade) -> Vec<String> {
    ws.requested_protocols()
        .filter_map(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .collect()
}

/// Who the client is and which project it reads (`?project=`, else the runtime's default), checked for
/// `state.read`. The token may come as `?token=`, `Authorization: Bearer`, or the subprotocols
/// `Authorization, <token>`.
async fn authenticate_client(
    app: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    query: Option<&str>,
    offered: &[String],
) -> Result<(crate::auth::Access, crate::auth::Held), ApiError> {
    let from_query = query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    });
    let from_protocol = match offered {
        [first, token, ..] if first.eq_ignore_ascii_case(AUTH_PROTOCOL) => Some(token.clone()),
        _ => None,
    };
    // A page of a foreign origin gets no dev-mode trust: it must present a token like a remote client.
    // The same check as every other route's ([`auth::foreign_origin`]): `*.localhost` pages are the developer's.
    let foreign_page = auth::foreign_origin(headers);
    let token = from_query.or(from_protocol);
    let principal = auth::authenticate(app, peer, headers, token.as_deref(), !foreign_page).await?;
    let requested = auth::requested_project(headers, query);
    let (scope, settings) = auth::resolve_project(app, &principal, requested.as_deref())?;
    auth::authorize(app, &principal, &scope, settings.as_deref(), "state.read")?;
    let held = crate::auth::Held {
        peer,
        headers: headers.clone(),
        token,
        dev_trust: !foreign_page,
        action: "state.read",
    };
    let access = crate::auth::Access {
        principal,
        scope,
        settings,
    };
    Ok((access, held))
}

async fn session(
    streams: Streams,
    scope: Scope,
    auth: Value,
    socket: WebSocket,
    ended: impl std::future::Future<Output = ApiError>,
) {
    let (conn, outbox) = streams.connect(scope, auth);
    let (sink, mut stream) = socket.split();
    let mut writer = tokio::spawn(write_loop(conn.clone(), outbox, sink));
    let closed = conn.closed();
    tokio::pin!(closed);
    tokio::pin!(ended);
    loop {
        let next = tokio::select! {
            next = tokio::time::timeout(IDLE_LIMIT, stream.next()) => next,
            _ = &mut closed => break,
            e = &mut ended => {
                // The credential no longer allows reading this project: close with the refusal's code as reason.
                conn.close(Close { code: CREDENTIAL_ENDED, reason: e.code.to_string() });
                break;
            }
        };
        match next {
            Ok(Some(Ok(Message::Text(text)))) => streams.handle_client_text(&conn, &text).await,
            Ok(Some(Ok(Message::Binary(bytes)))) => match std::str::from_utf8(&bytes) {
                Ok(text) => streams.handle_client_text(&conn, text).await,
                Err(_) => streams.reject_client_message(&conn, "a binary frame must hold UTF-8 JSON"),
            },
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) => break,
            Err(_) => {
                conn.close(Close {
                    code: Close::GOING_AWAY,
                    reason: format!("no frame from the client for {} s", IDLE_LIMIT.as_secs()),
                });
                break;
            }
        }
    }
    streams.disconnect(&conn);
    conn.close(Close {
        code: 1000,
        reason: String::new(),
    });
    if tokio::time::timeout(Duration::from_secs(2), &mut writer).await.is_err() {
        tracing::debug!(conn = conn.id, "stream writer did not finish closing in 2 s; stopped");
        // Not left running detached (it holds the socket): stopped and waited for.
        writer.abort();
        let _ = writer.await;
    }
}

type Sink = SplitSink<WebSocket, Message>;

async fn write_loop(conn: Arc<Conn>, mut outbox: Outbox, mut sink: Sink) {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    // Created once: the loop runs per message and must stay cheap (10,000 clients of one group).
    let closed = conn.closed();
    tokio::pin!(closed);
    loop {
        tokio::select! {
            biased;
            close = &mut closed => {
                let frame = CloseFrame { code: close.code, reason: Utf8Bytes::from(close.reason) };
                let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(Message::Close(Some(frame)))).await;
                break;
            }
            ok = write_batch(&mut sink, &mut outbox) => if !ok { break },
            _ = ping.tick() => {
                if sink.send(Message::Ping(Default::default())).await.is_err() { break }
            }
        }
    }
}

/// Writes the next message and whatever else is queued, then flushes once.
async fn write_batch(sink: &mut Sink, outbox: &mut Outbox) -> bool {
    let Some(first) = outbox.recv().await else {
        return false;
    };
    if sink.feed(Message::Text(Utf8Bytes::from(&*first))).await.is_err() {
        return false;
    }
    for _ in 0..63 {
        let Some(more) = outbox.try_recv() else { break };
        if sink.feed(Message::Text(Utf8Bytes::from(&*more))).await.is_err() {
            return false;
        }
    }
    sink.flush().await.is_ok()
}
