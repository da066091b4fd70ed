//! The workbench's runtime API: traces, state, layout, live feed, and static serving.

#![allow(clippy::field_reassign_with_default)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const AUTH: (&str, &str) = ("authorization", "Bearer test-admin-token-0123456789");

#[tokio::test]
async fn traces_show_every_attempt_of_a_flow() {
    let rt = start(RuntimeOptions::default()).await;
    let steps = json!([
        {"name": "Start", "type": "api", "file": "s.ts", "method": "POST", "path": "/go", "emits": ["next"]},
        {"name": "Next", "type": "event", "file": "n.ts", "subscribes": ["next"], "emits": [], "infrastructure": {"queue": {"maxRetries": 1}}},
    ]);
    let (w, _) = FakeWorker::connect(&rt.ws_url(), TOKEN, steps, handlers(vec![
        ("Start", Arc::new(|_: &Value| json!({"ok": true, "output": {"status": 200, "body": "ok"}, "emits": [{"topic": "next", "data": {}}]}))),
        ("Next", Arc::new(|f: &Value| if f["attempt"] == 1 { json!({"ok": false, "error": {"message": "first try fails"}}) } else { json!({"ok": true}) })),
    ])).await;
    let r = http(rt.addr, "POST", "/go", &[AUTH], b"").await;
    assert_eq!(r.status, 200);
    let trace = r.headers["x-trace-id"].clone();
    assert!(eventually(10, || w.invocations_of("Next").len() == 2).await);
    let mut spans = Value::Null;
    for _ in 0..100 {
        let r = http(rt.addr, "GET", &format!("/__cfp/api/traces/{trace}"), &[AUTH], b"").await;
        if r.status == 200 && r.json()["spans"].as_array().unwrap().len() == 3 {
            spans = r.json()["spans"].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let summary: Vec<(String, i64, bool)> = spans
        .as_array()
        .expect("three spans")
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_string(),
                s["attempt"].as_i64().unwrap(),
                s["ok"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("Start".into(), 1, true),
            ("Next".into(), 1, false),
            ("Next".into(), 2, true)
        ]
    );
    assert_eq!(spans[1]["error"]["message"], "first try fails");
    let list = http(rt.addr, "GET", "/__cfp/api/traces", &[AUTH], b"").await.json();
    assert_eq!(list["traces"][0]["traceId"], json!(trace));
    assert_eq!(list["traces"][0]["status"], "error");
    let r = http(rt.addr, "GET", "/__cfp/api/traces/nope", &[AUTH], b"").await;
    assert_eq!(r.status, 404);
    let r = http(rt.addr, "GET", "/__cfp/api/traces", &[], b"").await;
    assert_eq!(r.status, 401, "observability needs authentication");
    rt.stop().await;
}

#[tokio::test]
async fn state_and_layout_endpoints() {
    let dir = std::env::temp_dir().join(format!("cfp-layout-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut opts = RuntimeOptions::default();
    opts.gateway.layout_file = Some(dir.join("motia-workbench.json"));
    let rt = start(opts).await;
    let scope = cfp_store::Scope::new("default", "default");
    rt.store
        .state_set(&scope, "users", "b", &json!({"n": 2}))
        .await
        .unwrap();
    rt.store
        .state_set(&scope, "users", "a", &json!({"n": 1}))
        .await
        .unwrap();
    let groups = http(rt.addr, "GET", "/__cfp/api/state", &[AUTH], b"").await.json();
    assert_eq!(groups["groups"], json!([{"group": "users", "keys": 2}]));
    let items = http(rt.addr, "GET", "/__cfp/api/state/users", &[AUTH], b"")
        .await
        .json();
    assert_eq!(
        items["items"],
        json!([{"key": "a", "value": {"n": 1}}, {"key": "b", "value": {"n": 2}}])
    );

    assert_eq!(
        http(rt.addr, "GET", "/__cfp/api/layout", &[AUTH], b"").await.json(),
        json!([])
    );
    let layout = json!([{"id": "hello", "config": {"steps/a.step.ts": {"x": 10, "y": 20}}}]);
    let r = http(
        rt.addr,
        "PUT",
        "/__cfp/api/layout",
        &[AUTH, ("content-type", "application/json")],
        layout.to_string().as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        http(rt.addr, "GET", "/__cfp/api/layout", &[AUTH], b"").await.json(),
        layout
    );
    let on_disk: Value = serde_json::from_slice(&std::fs::read(dir.join("motia-workbench.json")).unwrap()).unwrap();
    assert_eq!(on_disk, layout);
    rt.stop().await;
}

#[tokio::test]
async fn live_feed_streams_logs_and_spans() {
    let rt = start(RuntimeOptions::default()).await;
    let steps = json!([{"name": "Ping", "type": "api", "file": "p.ts", "method": "GET", "path": "/ping", "emits": []}]);
    let (w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![(
            "Ping",
            Arc::new(|_: &Value| json!({"ok": true, "output": {"status": 200, "body": "pong"}})),
        )]),
    )
    .await;
    let mut sse = tokio::net::TcpStream::connect(rt.addr).await.unwrap();
    let req = format!("GET /__cfp/api/live?access_token=test-admin-token-0123456789 HTTP/1.1\r\nhost: {}\r\naccept: text/event-stream\r\n\r\n", rt.addr);
    sse.write_all(req.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    w.send(
        json!({"type": "log", "entries": [{"ts": 1, "level": "info", "msg": "hello from a handler", "step": "Ping"}]}),
    );
    let r = http(rt.addr, "GET", "/ping", &[AUTH], b"").await;
    assert_eq!(r.status, 200);
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        let mut chunk = [0u8; 4096];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(200), sse.read(&mut chunk)).await {
            buf.extend_from_slice(&chunk[..n]);
        }
        let text = String::from_utf8_lossy(&buf);
        if text.contains("hello from a handler") && text.contains("\"phase\":\"end\"") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("event: log"), "{text}");
    assert!(text.contains("hello from a handler"), "{text}");
    assert!(
        text.contains("event: span") && text.contains("\"phase\":\"start\"") && text.contains("\"phase\":\"end\""),
        "{text}"
    );
    rt.stop().await;
}

#[tokio::test]
async fn workbench_is_served_with_spa_fallback_and_root_redirects() {
    let dir = std::env::temp_dir().join(format!("cfp-wb-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("index.html"), "<html>workbench</html>").unwrap();
    std::fs::write(dir.join("assets/app.js"), "console.log(1)").unwrap();
    let mut opts = RuntimeOptions::default();
    opts.gateway.workbench_dir = Some(dir.clone());
    let rt = start(opts).await;
    let r = http(rt.addr, "GET", "/", &[], b"").await;
    assert_eq!((r.status, r.headers["location"].as_str()), (307, "/__cfp/"));
    let r = http(rt.addr, "GET", "/__cfp/", &[], b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"<html>workbench</html>");
    let r = http(rt.addr, "GET", "/__cfp/flows/hello", &[], b"").await;
    assert_eq!(r.body, b"<html>workbench</html>", "client routes get the shell");
    let r = http(rt.addr, "GET", "/__cfp/assets/app.js", &[], b"").await;
    assert!(r.headers["content-type"].starts_with("text/javascript"));
    let r = http(rt.addr, "GET", "/__cfp/assets/missing.js", &[], b"").await;
    assert_eq!(r.status, 404);
    let r = http(rt.addr, "GET", "/__cfp/../Cargo.toml", &[], b"").await;
    assert_ne!(r.status, 200);
    let r = http(rt.addr, "GET", "/__cfp/api/nothing", &[], b"").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "no_endpoint");
    rt.stop().await;
}
