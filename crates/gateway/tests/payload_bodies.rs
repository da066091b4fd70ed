//! Request bodies above the payload threshold, for protocol 2 workers (docs/protocol.md, "API input" and
//! `payload.get`): streamed into object storage at ingress, read back by the invocation's worker in chunks of at
//! most 256 KiB, deleted when the invocation ends. Every other reader is refused and reads nothing: another worker
//! of the project, a worker of another project, the right worker naming a key that is not its invocation's. A body
//! over the limit or not JSON leaves no object behind.

mod common;

use std::time::Duration;

use cfp_store::Scope;
use common::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN_OTHER: &str = "test-worker-token-other-project-0123";
const LIMIT: usize = 1024 * 1024;

fn options() -> RuntimeOptions {
    let mut opts = RuntimeOptions::default();
    opts.gateway.body_limit = LIMIT;
    opts.engine
        .worker_tokens
        .push((TOKEN_OTHER.into(), Scope::new("default", "other")));
    opts
}

/// A protocol 2 worker hosting `step` on `POST path` that answers nothing by itself.
async fn worker(rt: &Runtime, token: &str, step: &str, path: &str) -> FakeWorker {
    let steps = json!([api_step(step, "POST", path, &[])]);
    let (w, welcome) = FakeWorker::connect_speaking(&rt.ws_url(), token, steps, handlers(vec![]), None, 2).await;
    assert_eq!(welcome["type"], "registered", "{welcome}");
    w
}

/// Sends `payload.get` and waits for its reply.
async fn get(w: &mut FakeWorker, call: u64, invocation: Option<&str>, key: &str, offset: u64) -> Value {
    let mut frame =
        json!({"type": "call", "id": call, "method": "payload.get", "params": {"key": key, "offset": offset}});
    if let Some(inv) = invocation {
        frame["invocationId"] = json!(inv);
    }
    w.send(frame);
    loop {
        let reply = w.expect("reply").await;
        if reply["id"] == call {
            return reply;
        }
    }
}

fn refused(reply: &Value, code: &str) {
    assert_eq!(reply["ok"], false, "{reply}");
    assert_eq!(reply["error"]["code"], code, "{reply}");
    assert!(
        reply.get("result").is_none_or(Value::is_null),
        "a refusal reads nothing: {reply}"
    );
}

/// A JSON body of about `size` bytes.
fn json_body(size: usize, tag: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"tag": tag, "data": "é".repeat(size / 2)})).unwrap()
}

async fn stored_keys(rt: &Runtime) -> Vec<String> {
    rt.store.payloads().body_keys(100).await.unwrap()
}

#[tokio::test]
async fn a_large_body_reaches_only_its_invocations_worker_and_is_deleted_after() {
    let rt = start(options()).await;
    let mut a = worker(&rt, TOKEN, "Up", "/up").await;
    let mut b = worker(&rt, TOKEN, "Other", "/other").await;
    let mut c = worker(&rt, TOKEN_OTHER, "Up", "/up").await;
    let bodies = [json_body(600 * 1024, "one"), json_body(300 * 1024, "two")];
    let mut requests = Vec::new();
    let mut invocations = Vec::new();
    for body in &bodies {
        let (addr, body) = (rt.addr, body.clone());
        requests.push(tokio::spawn(async move {
            http(
                addr,
                "POST",
                "/up",
                &[("x-api-key", ADMIN), ("content-type", "application/json")],
                &body,
            )
            .await
        }));
        invocations.push(a.expect("invoke").await);
    }
    let refs: Vec<Value> = invocations.iter().map(|i| i["input"]["rawBodyRef"].clone()).collect();
    let ids: Vec<&str> = invocations.iter().map(|i| i["id"].as_str().unwrap()).collect();
    for (inv, body) in invocations.iter().zip(&bodies) {
        let input = &inv["input"];
        assert_eq!(input["bodyFrom"], "json", "{input}");
        assert!(
            input.get("rawBody").is_none() && input.get("body").is_none(),
            "by reference only: {input}"
        );
        let r = &input["rawBodyRef"];
        assert_eq!(r["size"], body.len());
        assert_eq!(r["sha256"], hex::encode(Sha256::digest(body)));
    }
    let key = refs[0]["key"].as_str().unwrap();
    let key2 = refs[1]["key"].as_str().unwrap();
    assert!(key.starts_with("bodies/default/default/"), "{key}");
    assert_eq!(stored_keys(&rt).await.len(), 2);

    // Another worker of the project, naming the invocation or not; a worker of another project.
    refused(&get(&mut b, 1, Some(ids[0]), key, 0).await, "unknown_invocation");
    refused(&get(&mut b, 2, None, key, 0).await, "bad_request");
    refused(&get(&mut c, 3, Some(ids[0]), key, 0).await, "unknown_invocation");
    refused(&get(&mut c, 4, None, key, 0).await, "bad_request");
    // The right worker: another invocation's key, a made-up key, no invocation named.
    refused(&get(&mut a, 5, Some(ids[0]), key2, 0).await, "not_found");
    refused(&get(&mut a, 6, Some(ids[1]), key, 0).await, "not_found");
    refused(
        &get(&mut a, 7, Some(ids[0]), "bodies/default/default/made-up", 0).await,
        "not_found",
    );
    refused(
        &get(&mut a, 8, Some(ids[0]), "default/default/payloads/x.json", 0).await,
        "not_found",
    );
    refused(&get(&mut a, 9, None, key, 0).await, "bad_request");

    // Its own body, in chunks of at most 256 KiB.
    let mut read = Vec::new();
    let mut call = 100;
    loop {
        let reply = get(&mut a, call, Some(ids[0]), key, read.len() as u64).await;
        call += 1;
        assert_eq!(reply["ok"], true, "{reply}");
        let result = &reply["result"];
        assert_eq!(result["size"], bodies[0].len());
        let chunk = base64_decode(result["data"].as_str().unwrap());
        assert!(chunk.len() <= 256 * 1024, "{} bytes", chunk.len());
        if chunk.is_empty() {
            break;
        }
        read.extend_from_slice(&chunk);
    }
    assert_eq!(read, bodies[0]);
    assert_eq!(call - 100, 4, "600 KiB in three chunks, then the end");

    for id in &ids {
        a.send(json!({"type": "result", "id": id, "ok": true, "output": {"status": 200, "body": "ok"}}));
    }
    for r in requests {
        assert_eq!(r.await.unwrap().status, 200);
    }
    assert!(
        gone(&rt).await,
        "the bodies are deleted when their invocations end: {:?}",
        stored_keys(&rt).await
    );
    // Ended: even its own worker reads nothing more.
    refused(&get(&mut a, 200, Some(ids[0]), key, 0).await, "unknown_invocation");
    rt.stop().await;
}

/// Whether every stored body is gone within 5 s (deletion runs in the background).
async fn gone(rt: &Runtime) -> bool {
    for _ in 0..50 {
        if stored_keys(rt).await.is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

/// A chunked request (no `Content-Length`: the limit is found while streaming) of `total` bytes of `byte`.
async fn post_chunked(addr: std::net::SocketAddr, content_type: &str, total: usize, byte: u8) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /up HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\nx-api-key: {ADMIN}\r\ncontent-type: {content_type}\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![byte; 64 * 1024];
    let mut sent = 0;
    while sent < total {
        let n = chunk.len().min(total - sent);
        let frame = [format!("{n:x}\r\n").as_bytes(), &chunk[..n], b"\r\n"].concat();
        if s.write_all(&frame).await.is_err() {
            break; // the runtime answered and closed
        }
        sent += n;
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    let head = String::from_utf8_lossy(&buf);
    head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn a_streamed_body_over_the_limit_or_not_json_leaves_no_object() {
    let rt = start(options()).await;
    let a = worker(&rt, TOKEN, "Up", "/up").await;
    // Over the limit, found while streaming (past the threshold: the object was being written).
    assert_eq!(
        post_chunked(rt.addr, "application/octet-stream", LIMIT + 200 * 1024, b'x').await,
        413
    );
    // Under the limit but not JSON: refused once the stream ends.
    assert_eq!(post_chunked(rt.addr, "application/json", 700 * 1024, b'[').await, 400);
    assert!(gone(&rt).await, "left behind: {:?}", stored_keys(&rt).await);
    assert!(
        a.invocations.lock().unwrap().is_empty(),
        "no invocation for a refused body"
    );
    rt.stop().await;
}
