//! The runtime's network edge under attack: unauthenticated worker sockets (caps, hello deadline, pre-hello
//! frame limit), connections that never send a request head, oversized frames of an authenticated worker, the
//! database going away, and error answers that must be JSON with a code.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use cfp_gateway::GatewayConfig;
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;

fn with_gateway(f: impl FnOnce(&mut GatewayConfig)) -> RuntimeOptions {
    let mut opts = RuntimeOptions::default();
    f(&mut opts.gateway);
    opts
}

/// A TCP connection to the runtime from `from` (any 127.x.y.z address reaches the loopback listener).
async fn connect_from(addr: SocketAddr, from: Ipv4Addr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::V4(from), 0)).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Sends the WebSocket upgrade request for the worker endpoint; returns the status and the head's text.
async fn upgrade(stream: &mut TcpStream, addr: SocketAddr) -> (u16, String) {
    let req = format!(
        "GET /__cfp/worker HTTP/1.1\r\nhost: {addr}\r\nupgrade: websocket\r\nconnection: upgrade\r\n\
         sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// The header of a masked client text frame of `len` bytes (mask key 0: the payload goes as it is).
fn text_frame_header(len: usize) -> Vec<u8> {
    let mut h = vec![0x81u8];
    if len < 126 {
        h.push(0x80 | len as u8);
    } else if len <= 0xffff {
        h.push(0x80 | 126);
        h.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        h.push(0x80 | 127);
        h.extend_from_slice(&(len as u64).to_be_bytes());
    }
    h.extend_from_slice(&[0, 0, 0, 0]);
    h
}

/// Reads server frames until a close frame: Some(close code), or None when the connection ended without one.
async fn close_code(stream: &mut TcpStream) -> Option<u16> {
    loop {
        let mut h = [0u8; 2];
        stream.read_exact(&mut h).await.ok()?;
        let mut len = (h[1] & 0x7f) as usize;
        if len == 126 {
            let mut l = [0u8; 2];
            stream.read_exact(&mut l).await.ok()?;
            len = u16::from_be_bytes(l) as usize;
        } else if len == 127 {
            let mut l = [0u8; 8];
            stream.read_exact(&mut l).await.ok()?;
            len = u64::from_be_bytes(l) as usize;
        }
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload).await.ok()?;
        if h[0] & 0x0f == 0x8 {
            return Some(u16::from_be_bytes([payload[0], payload[1]]));
        }
    }
}

#[tokio::test]
async fn idle_unauthenticated_worker_sockets_are_closed_by_the_hello_deadline() {
    let rt = start(with_gateway(|g| {
        g.worker_hello_timeout = Duration::from_secs(1);
        g.worker_max_unauthenticated = 1000;
        g.worker_max_unauthenticated_per_peer = 1000;
    }))
    .await;
    let started = Instant::now();
    let mut sockets = Vec::new();
    for _ in 0..300 {
        let mut s = TcpStream::connect(rt.addr).await.unwrap();
        assert_eq!(upgrade(&mut s, rt.addr).await.0, 101);
        sockets.push(s);
    }
    let closes = futures_util::future::join_all(
        sockets
            .iter_mut()
            .map(|s| tokio::time::timeout(Duration::from_secs(4), close_code(s))),
    )
    .await;
    let closed_4401 = closes.iter().filter(|c| matches!(c, Ok(Some(4401)))).count();
    assert_eq!(
        closed_4401,
        300,
        "every idle socket is closed with 4401 ({:?})",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    rt.stop().await;
}

#[tokio::test]
async fn unauthenticated_worker_connections_are_capped_in_all_and_per_address() {
    let rt = start(with_gateway(|g| {
        g.worker_max_unauthenticated = 6;
        g.worker_max_unauthenticated_per_peer = 3;
    }))
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = connect_from(rt.addr, Ipv4Addr::new(127, 0, 0, 1)).await;
        assert_eq!(upgrade(&mut s, rt.addr).await.0, 101);
        held.push(s);
    }
    // A fourth from the same address is refused, before any upgrade, with a JSON answer.
    let mut s = connect_from(rt.addr, Ipv4Addr::new(127, 0, 0, 1)).await;
    let (status, head) = upgrade(&mut s, rt.addr).await;
    assert_eq!(status, 503, "{head}");
    assert!(head.to_ascii_lowercase().contains("retry-after: 1"), "{head}");
    assert!(head.to_ascii_lowercase().contains("connection: close"), "{head}");
    let mut rest = vec![0u8; 4096];
    let n = s.read(&mut rest).await.unwrap();
    let body: Value = serde_json::from_slice(&rest[..n]).unwrap();
    assert_eq!(body["error"]["code"], "too_many_connections");
    // Other addresses fill the global cap.
    for last in [2, 2, 2] {
        let mut s = connect_from(rt.addr, Ipv4Addr::new(127, 0, 0, last)).await;
        assert_eq!(upgrade(&mut s, rt.addr).await.0, 101);
        held.push(s);
    }
    let mut s = connect_from(rt.addr, Ipv4Addr::new(127, 0, 0, 3)).await;
    let (status, head) = upgrade(&mut s, rt.addr).await;
    assert_eq!(status, 503, "{head}");
    // Closed connections give their places back, and so does a connection that authenticates.
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stream = connect_from(rt.addr, Ipv4Addr::new(127, 0, 0, 1)).await;
    let (mut worker, _) = tokio_tungstenite::client_async(rt.ws_url(), stream).await.unwrap();
    worker
        .send(Message::Text(
            json!({"type":"hello","protocol":1,"token":TOKEN,"worker":{"name":"w"}})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let Some(Ok(Message::Text(welcome))) = worker.next().await else {
        panic!("no welcome")
    };
    assert!(welcome.contains("\"welcome\""), "{welcome}");
    let mut again = Vec::new();
    for _ in 0..3 {
        let mut s = connect_from(rt.addr, Ipv4Addr::new(127, 0, 0, 1)).await;
        assert_eq!(
            upgrade(&mut s, rt.addr).await.0,
            101,
            "the authenticated worker no longer counts"
        );
        again.push(s);
    }
    let mut s = connect_from(rt.addr, Ipv4Addr::new(127, 0, 0, 1)).await;
    assert_eq!(upgrade(&mut s, rt.addr).await.0, 503);
    rt.stop().await;
}

#[tokio::test]
async fn a_large_pre_hello_frame_is_refused_before_it_is_buffered() {
    let rt = start(RuntimeOptions::default()).await;
    let mut s = TcpStream::connect(rt.addr).await.unwrap();
    assert_eq!(upgrade(&mut s, rt.addr).await.0, 101);
    // The header announces 1 MiB; 20 KiB of it is sent, and the runtime must not wait for the rest.
    s.write_all(&text_frame_header(1 << 20)).await.unwrap();
    s.write_all(&vec![b'x'; 20 * 1024]).await.unwrap();
    let started = Instant::now();
    let code = tokio::time::timeout(Duration::from_secs(2), close_code(&mut s)).await;
    assert_eq!(code, Ok(Some(1009)), "after {:?}", started.elapsed());
    rt.stop().await;
}

#[tokio::test]
async fn connections_that_send_no_request_head_are_closed_by_the_header_deadline() {
    let mut opts = RuntimeOptions::default();
    opts.serve.header_read_timeout = Duration::from_secs(1);
    let rt = start(opts).await;
    let started = Instant::now();
    let mut silent = Vec::new();
    for _ in 0..50 {
        silent.push(TcpStream::connect(rt.addr).await.unwrap());
    }
    // A slow client: half a request line, then nothing.
    let mut slow = TcpStream::connect(rt.addr).await.unwrap();
    slow.write_all(b"GET /__cfp/health HT").await.unwrap();
    silent.push(slow);
    for s in &mut silent {
        let mut buf = [0u8; 512];
        let read = tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(
            read.is_ok(),
            "a silent connection is still open after {:?}",
            started.elapsed()
        );
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    // The server still serves.
    assert_eq!(http(rt.addr, "GET", "/__cfp/health", &[], b"").await.status, 200);
    rt.stop().await;
}

#[tokio::test]
async fn an_authenticated_worker_frame_over_the_limit_closes_1009() {
    let rt = start(with_gateway(|g| g.worker_max_frame = 128 * 1024)).await;
    let (mut worker, _) = tokio_tungstenite::connect_async(rt.ws_url()).await.unwrap();
    worker
        .send(Message::Text(
            json!({"type":"hello","protocol":1,"token":TOKEN,"worker":{"name":"w"}})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let Some(Ok(Message::Text(welcome))) = worker.next().await else {
        panic!("no welcome")
    };
    assert!(welcome.contains("\"welcome\""), "{welcome}");
    // Within the limit: an ordinary answer (an unknown frame type gets `bad_frame`, the socket stays open).
    let padding = "x".repeat(100 * 1024);
    worker
        .send(Message::Text(json!({"type":"nope","pad":padding}).to_string().into()))
        .await
        .unwrap();
    let Some(Ok(Message::Text(answer))) = worker.next().await else {
        panic!("no answer")
    };
    assert!(answer.contains("bad_frame"), "{answer}");
    let padding = "x".repeat(200 * 1024);
    let _ = worker
        .send(Message::Text(
            json!({"type":"log","entries":[],"pad":padding}).to_string().into(),
        ))
        .await;
    let mut code = None;
    let mut error = None;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(3), worker.next()).await {
        match msg {
            Ok(Message::Text(t)) => error = Some(t.to_string()),
            Ok(Message::Close(frame)) => {
                code = frame.map(|f| u16::from(f.code));
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert_eq!(code, Some(1009), "last frame: {error:?}");
    assert!(error.is_some_and(|e| e.contains("frame_too_large")));
    rt.stop().await;
}

/// A TCP proxy to PostgreSQL that the test can cut (the shared server cannot be stopped).
struct DbProxy {
    url: String,
    stop: tokio::sync::watch::Sender<bool>,
}

async fn db_proxy() -> DbProxy {
    let target: SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let cut = stop.subscribe();
    tokio::spawn(async move {
        loop {
            let (mut client, _) = tokio::select! {
                a = listener.accept() => a.unwrap(),
                _ = stopped.wait_for(|s| *s) => return,
            };
            let mut cut = cut.clone();
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(target).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    _ = cut.wait_for(|s| *s) => {}
                }
            });
        }
    });
    let base = database_url();
    let path = base.rsplit_once('/').map(|(_, db)| db).unwrap_or("test");
    DbProxy {
        url: format!("postgres://postgres@127.0.0.1:{port}/{path}"),
        stop,
    }
}

#[tokio::test]
async fn with_the_database_unreachable_requests_answer_503_promptly() {
    let proxy = db_proxy().await;
    let rt = start(RuntimeOptions {
        database_url: Some(proxy.url.clone()),
        ..Default::default()
    })
    .await;
    let auth = format!("Bearer {ADMIN}");
    let ok = http(rt.addr, "GET", "/__cfp/api/dlq", &[("authorization", &auth)], b"").await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    // The database goes away: every connection is cut and new ones are refused.
    let _ = proxy.stop.send(true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut slowest = Duration::ZERO;
    for path in ["/__cfp/api/dlq", "/__cfp/api/queues", "/__cfp/api/dlq"] {
        let started = Instant::now();
        let res = tokio::time::timeout(
            Duration::from_secs(5),
            http(rt.addr, "GET", path, &[("authorization", &auth)], b""),
        )
        .await
        .expect("an answer within 5 s");
        slowest = slowest.max(started.elapsed());
        assert_eq!(res.status, 503, "{path}: {}", String::from_utf8_lossy(&res.body));
        assert_eq!(res.json()["error"]["code"], "unavailable");
        assert!(res.headers.contains_key("retry-after"), "{path}: no Retry-After");
    }
    eprintln!("with the database unreachable, the slowest 503 took {slowest:?}");
    assert!(
        slowest < Duration::from_millis(3500),
        "the slowest answer took {slowest:?}"
    );
    // Stopping drops the schema through the cut proxy, which fails: drop it directly.
    let schema = rt.schema.clone();
    let _ = tokio::time::timeout(Duration::from_secs(5), rt.stop()).await;
    let pool = sqlx::PgPool::connect(&database_url()).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(&pool)
        .await
        .ok();
}

/// A request written as raw bytes; the whole answer.
async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).to_string()
}

fn status_and_json(answer: &str) -> (u16, Value) {
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let json = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {answer}"));
    (status, json)
}

#[tokio::test]
async fn error_answers_of_the_runtime_are_json_with_a_code() {
    let rt = start(with_gateway(|g| g.dev_endpoints = true)).await;
    let auth = format!("Bearer {ADMIN}");
    let h = [("authorization", auth.as_str())];
    let check = |res: HttpResponse, status: u16, code: &str| {
        assert_eq!(res.status, status, "{}", String::from_utf8_lossy(&res.body));
        assert_eq!(res.json()["error"]["code"], code);
        assert!(!res.json()["error"]["message"].as_str().unwrap_or("").is_empty());
    };
    // A `?limit=` that overflows its integer.
    let res = http(rt.addr, "GET", "/__cfp/api/dlq?limit=99999999999999999999999", &h, b"").await;
    check(res, 400, "invalid_query");
    let res = http(rt.addr, "GET", "/__cfp/api/traces?limit=-1x", &h, b"").await;
    check(res, 400, "invalid_query");
    // A path parameter that is not UTF-8.
    let res = http(rt.addr, "GET", "/__cfp/api/state/%FF%FE", &h, b"").await;
    check(res, 400, "invalid_path");
    // A method the endpoint does not answer.
    let res = http(rt.addr, "DELETE", "/__cfp/api/emit", &h, b"").await;
    check(res, 405, "method_not_allowed");
    let res = http(rt.addr, "POST", "/__cfp/health", &h, b"").await;
    check(res, 405, "method_not_allowed");
    // NUL in a path parameter or a query: PostgreSQL cannot compare such text (500 before).
    let res = http(rt.addr, "GET", "/__cfp/api/state/a%00b", &h, b"").await;
    check(res, 400, "invalid_path");
    let res = http(rt.addr, "DELETE", "/__cfp/api/state/g/k%00", &h, b"").await;
    check(res, 400, "invalid_path");
    let res = http(rt.addr, "GET", "/__cfp/api/dlq?step=%00", &h, b"").await;
    check(res, 400, "invalid_query");
    // NUL in JSON that would be stored.
    let ct = [("authorization", auth.as_str()), ("content-type", "application/json")];
    let res = http(
        rt.addr,
        "POST",
        "/__cfp/api/emit",
        &ct,
        br#"{"topic":"t","data":{"a":"x\u0000y"}}"#,
    )
    .await;
    check(res, 400, "invalid_body");
    let res = http(rt.addr, "PUT", "/__cfp/api/state/g/k", &ct, br#"{"v":"\u0000"}"#).await;
    check(res, 400, "invalid_body");
    rt.stop().await;
}

/// A runtime with one API step `POST /echo` answered by a fake worker.
async fn echo_runtime(body_limit: usize) -> (Runtime, FakeWorker) {
    let rt = start(with_gateway(|g| g.body_limit = body_limit)).await;
    let steps = json!([api_step("Echo", "POST", "/echo", &[])]);
    let mut handlers: std::collections::HashMap<String, Handler> = Default::default();
    handlers.insert(
        "Echo".into(),
        std::sync::Arc::new(|_f: &Value| json!({"ok": true, "output": {"status": 200, "body": {"ok": true}}})),
    );
    let (worker, registered) = FakeWorker::connect(&rt.ws_url(), TOKEN, steps, handlers).await;
    assert_eq!(registered["type"], "registered", "{registered}");
    (rt, worker)
}

#[tokio::test]
async fn a_malformed_chunked_body_is_400_and_a_413_is_readable_after_a_whole_body() {
    let (rt, _worker) = echo_runtime(1024).await;
    let addr = rt.addr;
    let ok = raw(
        addr,
        format!("POST /echo HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\nauthorization: Bearer {ADMIN}\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{{}}").as_bytes(),
    )
    .await;
    assert_eq!(status_and_json(&ok).0, 200, "{ok}");
    // Chunked, with a chunk size that is not hexadecimal.
    let bad = raw(
        addr,
        format!("POST /echo HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\nauthorization: Bearer {ADMIN}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n").as_bytes(),
    )
    .await;
    let (status, json) = status_and_json(&bad);
    assert_eq!(status, 400, "{bad}");
    assert_eq!(json["error"]["code"], "malformed_body");
    // 512 KiB against a 1 KiB limit, written whole before reading (as curl does): the 413 must arrive intact.
    for chunked in [false, true] {
        let body = vec![b'a'; 512 * 1024];
        let mut s = TcpStream::connect(addr).await.unwrap();
        let head = if chunked {
            format!("POST /echo HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {ADMIN}\r\ntransfer-encoding: chunked\r\n\r\n")
        } else {
            format!(
                "POST /echo HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {ADMIN}\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
        };
        s.write_all(head.as_bytes()).await.unwrap();
        if chunked {
            for part in body.chunks(16 * 1024) {
                s.write_all(format!("{:x}\r\n", part.len()).as_bytes()).await.unwrap();
                s.write_all(part).await.unwrap();
                s.write_all(b"\r\n").await.unwrap();
            }
            s.write_all(b"0\r\n\r\n").await.unwrap();
        } else {
            s.write_all(&body).await.unwrap();
        }
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await {
                Ok(Ok(0)) | Err(_) => break,
                Ok(Ok(n)) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}}") {
                        break;
                    }
                }
                Ok(Err(e)) => panic!("chunked={chunked}: the 413 was lost: {e}"),
            }
        }
        let answer = String::from_utf8_lossy(&answer).to_string();
        let (status, json) = status_and_json(&answer);
        assert_eq!(status, 413, "chunked={chunked}: {answer}");
        assert_eq!(json["error"]["code"], "body_too_large");
    }
    rt.stop().await;
}

#[tokio::test]
async fn nul_characters_in_an_api_request_do_not_answer_500() {
    let (rt, _worker) = echo_runtime(64 * 1024).await;
    let auth = format!("Bearer {ADMIN}");
    let h = [("authorization", auth.as_str()), ("content-type", "application/json")];
    for (path, body) in [
        ("/echo", br#"{"a":"x\u0000y"}"#.as_slice()),
        ("/echo?q=%00", b"{}".as_slice()),
        ("/echo", b"\"\\u0000\"".as_slice()),
    ] {
        let res = http(rt.addr, "POST", path, &h, body).await;
        assert!(
            res.status < 500,
            "{path}: {} {}",
            res.status,
            String::from_utf8_lossy(&res.body)
        );
    }
    rt.stop().await;
}
