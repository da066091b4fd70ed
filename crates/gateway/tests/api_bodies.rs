//! Protocol 2 API bodies (docs/protocol.md, "API input"): a worker announcing version 1 keeps getting the body
//! parsed (`body` + `rawBody`); a version 2 worker gets the bytes once (`rawBody`) and how to parse them
//! (`bodyFrom`), never a parsed `body`; invalid JSON is refused at ingress whichever worker would have parsed it.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use serde_json::{json, Value};

/// A worker of `protocol` hosting `step` on `POST path`, keeping every `input` it is given.
async fn worker(rt: &Runtime, protocol: u32, step: &str, path: &str) -> (FakeWorker, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    let echo: Handler = Arc::new(move |f: &Value| {
        keep.lock().unwrap().push(f["input"].clone());
        json!({"ok": true, "output": {"status": 200, "body": "ok"}})
    });
    let steps = json!([api_step(step, "POST", path, &[])]);
    let (w, registered) =
        FakeWorker::connect_speaking(&rt.ws_url(), TOKEN, steps, handlers(vec![(step, echo)]), None, protocol).await;
    assert_eq!(registered["type"], "registered", "{registered}");
    (w, seen)
}

async fn post(rt: &Runtime, path: &str, content_type: &str, body: &[u8]) -> HttpResponse {
    http(
        rt.addr,
        "POST",
        path,
        &[("x-api-key", ADMIN), ("content-type", content_type)],
        body,
    )
    .await
}

#[tokio::test]
async fn each_worker_gets_the_body_in_its_protocols_form() {
    let rt = start(RuntimeOptions::default()).await;
    let (_v1, seen1) = worker(&rt, 1, "Old", "/old").await;
    let (_v2, seen2) = worker(&rt, 2, "New", "/new").await;
    let b64 = |b: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(b)
    };
    let cases: [(&str, &[u8], Value, &str); 4] = [
        (
            "application/json",
            br#"{"z":1,"a":[1.5,"x"]}"#,
            json!({"z": 1, "a": [1.5, "x"]}),
            "json",
        ),
        ("text/plain", b"caf\xe9", json!("caf\u{fffd}"), "text"),
        (
            "application/x-www-form-urlencoded",
            b"a=1&b=2",
            json!("a=1&b=2"),
            "text",
        ),
        ("application/octet-stream", b"\x00\x01\xff", Value::Null, "none"),
    ];
    for (i, (ct, body, parsed, from)) in cases.iter().enumerate() {
        assert_eq!(post(&rt, "/old", ct, body).await.status, 200, "{ct}");
        assert_eq!(post(&rt, "/new", ct, body).await.status, 200, "{ct}");
        let old = seen1.lock().unwrap()[i].clone();
        assert_eq!(old["body"], *parsed, "protocol 1, {ct}");
        assert_eq!(old["rawBody"], b64(body), "protocol 1, {ct}");
        assert!(
            old.get("bodyFrom").is_none(),
            "a protocol 1 worker gets no bodyFrom: {old}"
        );
        let new = seen2.lock().unwrap()[i].clone();
        assert!(
            new.get("body").is_none(),
            "a protocol 2 worker gets no parsed body: {new}"
        );
        assert_eq!(new["bodyFrom"], *from, "protocol 2, {ct}");
        assert_eq!(new["rawBody"], b64(body), "protocol 2, {ct}");
    }
    rt.stop().await;
}

#[tokio::test]
async fn invalid_json_is_refused_before_a_protocol_2_worker_sees_it() {
    let rt = start(RuntimeOptions::default()).await;
    let (_v2, seen) = worker(&rt, 2, "New", "/new").await;
    for body in [&b"{oops"[..], b"[1e400]", br#"["\ud800"]"#, b"[\"\xff\"]"] {
        let r = post(&rt, "/new", "application/json", body).await;
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(body));
        assert_eq!(r.json()["error"]["code"], "invalid_json");
    }
    assert!(seen.lock().unwrap().is_empty(), "no invalid body reached the worker");
    rt.stop().await;
}

#[tokio::test]
async fn the_welcome_names_the_workers_version_and_an_unknown_one_is_refused() {
    use futures_util::{SinkExt, StreamExt};
    let rt = start(RuntimeOptions::default()).await;
    for protocol in [1, 2] {
        let (mut ws, _) = tokio_tungstenite::connect_async(rt.ws_url()).await.unwrap();
        let hello = json!({"type": "hello", "protocol": protocol, "token": TOKEN, "worker": {}});
        ws.send(tokio_tungstenite::tungstenite::Message::Text(hello.to_string().into()))
            .await
            .unwrap();
        let Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) = ws.next().await else {
            panic!("no welcome")
        };
        let welcome: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        assert_eq!(welcome["protocol"], protocol, "{welcome}");
    }
    for protocol in [0, 3] {
        let (_w, answer) =
            FakeWorker::connect_speaking(&rt.ws_url(), TOKEN, json!([]), handlers(vec![]), None, protocol).await;
        assert_eq!(answer["type"], "error", "{answer}");
        assert_eq!(answer["code"], "unsupported_protocol", "{answer}");
    }
    rt.stop().await;
}
