//! End-to-end tests of the runtime (engine + gateway + PostgreSQL) with a scripted worker.

#![allow(clippy::field_reassign_with_default)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn api_request_flows_through_an_event_chain() {
    // Dev mode: a loopback caller is the local developer (no token needed).
    let mut opts = RuntimeOptions::default();
    opts.gateway.dev = true;
    let rt = start(opts).await;
    let seen = Arc::new(Mutex::new(Vec::<Value>::new()));
    let seen2 = seen.clone();
    let steps = json!([
        api_step("Hello", "POST", "/hello/:name", &["greeted"]),
        event_step("Greeted", &["greeted"], &["done"], json!(null)),
        event_step("Done", &["done"], &[], json!(null)),
    ]);
    let (w, registered) = FakeWorker::connect(&rt.ws_url(), TOKEN, steps, handlers(vec![
        ("Hello", Arc::new(|f: &Value| {
            let input = &f["input"];
            json!({"ok": true,
                   "output": {"status": 201, "headers": {"x-step": "hello"}, "body": {"hi": input["pathParams"]["name"], "q": input["queryParams"]}},
                   "emits": [{"topic": "greeted", "data": {"name": input["pathParams"]["name"], "body": input["body"]}}]})
        })),
        ("Greeted", Arc::new(|f: &Value| json!({"ok": true, "emits": [{"topic": "done", "data": f["input"]["data"]}]}))),
        ("Done", Arc::new(move |f: &Value| { seen2.lock().unwrap().push(f.clone()); json!({"ok": true}) })),
    ])).await;
    assert_eq!(registered["steps"].as_array().unwrap().len(), 3, "{registered}");

    let r = http(
        rt.addr,
        "POST",
        "/hello/ada?x=1&x=2&y=z",
        &[("content-type", "application/json")],
        br#"{"n":1}"#,
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json(), json!({"hi": "ada", "q": {"x": ["1", "2"], "y": "z"}}));
    assert_eq!(r.headers["x-step"], "hello");
    let trace = r.headers["x-trace-id"].clone();

    assert!(
        eventually(10, || !seen.lock().unwrap().is_empty()).await,
        "the chain did not reach the last step"
    );
    let last = seen.lock().unwrap()[0].clone();
    assert_eq!(last["input"]["data"], json!({"name": "ada", "body": {"n": 1}}));
    assert_eq!(last["traceId"], json!(trace), "the trace id travels with every event");
    assert_eq!(last["trigger"], "event");
    assert!(last["idempotencyKey"].as_str().unwrap().starts_with("Done:"));
    drop(w);
    rt.stop().await;
}

#[tokio::test]
async fn gateway_errors_are_json_with_stable_codes() {
    let mut opts = RuntimeOptions::default();
    opts.gateway.body_limit = 1000;
    opts.gateway.request_timeout = Duration::from_millis(300);
    let rt = start(opts).await;
    let steps = json!([
        api_step("Echo", "POST", "/echo", &[]),
        api_step("Slow", "GET", "/slow", &[]),
        api_step("Boom", "GET", "/boom", &[])
    ]);
    let (_w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![
            (
                "Echo",
                Arc::new(|f: &Value| json!({"ok": true, "output": {"status": 200, "body": f["input"]["body"]}})),
            ),
            ("Slow", Arc::new(|_: &Value| json!({"never": true}))),
            (
                "Boom",
                Arc::new(|_: &Value| {
                    json!({"ok": false, "error": {"message": "kaboom: postgres://app:s3cret@db", "name": "Error", "stack": "Error: kaboom\n    at handler (boom.step.ts:3:9)"}})
                }),
            ),
        ]),
    )
    .await;
    let auth = ("authorization", "Bearer test-admin-token-0123456789");

    let r = http(
        rt.addr,
        "POST",
        "/echo",
        &[auth, ("content-type", "application/json")],
        b"{bad",
    )
    .await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (400, json!("invalid_json"))
    );
    let big = vec![b'a'; 2000];
    let r = http(rt.addr, "POST", "/echo", &[auth, ("content-type", "text/plain")], &big).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"]["code"], "body_too_large");
    let r = http(rt.addr, "GET", "/slow", &[auth], b"").await;
    assert_eq!(r.status, 504);
    assert_eq!(r.json()["error"]["code"], "timeout");
    let r = http(rt.addr, "GET", "/nowhere", &[auth], b"").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "not_found");
    let r = http(rt.addr, "GET", "/echo", &[auth], b"").await;
    assert_eq!(r.status, 405);
    // A thrown handler answers as Motia does; outside dev mode the exception text never reaches the caller...
    let r = http(rt.addr, "GET", "/boom", &[auth], b"").await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.json(),
        json!({"error": "Internal server error", "code": "handler_error"})
    );
    assert!(!String::from_utf8_lossy(&r.body).contains("s3cret"));
    // ...but goes, with its stack, to the step's log and its trace span.
    let trace = r.headers["x-trace-id"].clone();
    let mut logged = Value::Null;
    let mut span = Value::Null;
    for _ in 0..100 {
        let logs = http(
            rt.addr,
            "GET",
            &format!("/__cfp/api/logs?traceId={trace}"),
            &[auth],
            b"",
        )
        .await
        .json();
        let spans = http(rt.addr, "GET", &format!("/__cfp/api/traces/{trace}"), &[auth], b"")
            .await
            .json();
        if let (Some(l), Some(s)) = (logs["logs"].get(0), spans["spans"].get(0)) {
            (logged, span) = (l.clone(), s.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(logged["level"], "error", "{logged}");
    assert_eq!(logged["step"], "Boom");
    assert_eq!(logged["msg"], "step `Boom` failed: kaboom: postgres://app:s3cret@db");
    assert_eq!(
        logged["data"]["stack"],
        "Error: kaboom\n    at handler (boom.step.ts:3:9)"
    );
    assert_eq!(
        span["error"]["stack"],
        "Error: kaboom\n    at handler (boom.step.ts:3:9)"
    );
    // No anonymous execution outside dev mode.
    let r = http(rt.addr, "POST", "/echo", &[("content-type", "text/plain")], b"hi").await;
    assert_eq!(r.status, 401);
    let r = http(rt.addr, "POST", "/echo", &[auth, ("content-type", "text/plain")], b"hi").await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hi"[..]));
    rt.stop().await;
}

#[tokio::test]
async fn in_dev_mode_a_thrown_handler_s_message_reaches_the_caller() {
    let mut opts = RuntimeOptions::default();
    opts.gateway.dev = true;
    let rt = start(opts).await;
    let (_w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        json!([api_step("Boom", "GET", "/boom", &[])]),
        handlers(vec![(
            "Boom",
            Arc::new(|_: &Value| json!({"ok": false, "error": {"message": "kaboom", "stack": "Error: kaboom"}})),
        )]),
    )
    .await;
    let r = http(rt.addr, "GET", "/boom", &[], b"").await;
    assert_eq!(
        (r.status, r.json()),
        (
            500,
            json!({"error": "Internal server error", "code": "handler_error", "message": "step `Boom` failed: kaboom"})
        )
    );
    rt.stop().await;
}

#[tokio::test]
async fn unauthenticated_workers_cannot_register() {
    let rt = start(RuntimeOptions::default()).await;
    let (_w, reply) = FakeWorker::connect(
        &rt.ws_url(),
        "wrong-token-wrong-token",
        json!([api_step("X", "GET", "/x", &[])]),
        HashMap::new(),
    )
    .await;
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["code"], "unauthenticated");
    let r = http(
        rt.addr,
        "GET",
        "/x",
        &[("authorization", "Bearer test-admin-token-0123456789")],
        b"",
    )
    .await;
    assert_eq!(r.status, 404, "nothing was registered");
    rt.stop().await;
}

#[tokio::test]
async fn route_conflicts_are_reported_and_the_rest_registers() {
    let rt = start(RuntimeOptions::default()).await;
    let steps = json!([
        api_step("A", "GET", "/a/:id", &[]),
        api_step("B", "GET", "/a/:key", &[]),
        api_step("C", "POST", "/a/:key", &[])
    ]);
    let (_w, reply) = FakeWorker::connect(&rt.ws_url(), TOKEN, steps, HashMap::new()).await;
    assert_eq!(reply["steps"], json!(["A", "C"]));
    assert_eq!(reply["errors"][0]["code"], "route_conflict");
    assert_eq!(reply["errors"][0]["step"], "B");
    assert!(reply["errors"][0]["message"].as_str().unwrap().contains("`A`"));
    rt.stop().await;
}

#[tokio::test]
async fn state_rpc_round_trip() {
    let rt = start(RuntimeOptions::default()).await;
    let (mut w, _) = FakeWorker::connect(&rt.ws_url(), TOKEN, json!([]), HashMap::new()).await;
    w.send(json!({"type":"call","id":1,"method":"state.set","params":{"group":"g","key":"b","value":{"v":2}}}));
    assert_eq!(w.expect("reply").await["result"], json!({"v": 2}));
    w.send(json!({"type":"call","id":2,"method":"state.set","params":{"group":"g","key":"a","value":1}}));
    w.expect("reply").await;
    w.send(json!({"type":"call","id":3,"method":"state.getGroup","params":{"group":"g"}}));
    assert_eq!(w.expect("reply").await["result"], json!([1, {"v": 2}]));
    w.send(json!({"type":"call","id":4,"method":"state.delete","params":{"group":"g","key":"a"}}));
    assert_eq!(w.expect("reply").await["result"], json!(1));
    w.send(json!({"type":"call","id":5,"method":"state.get","params":{"group":"g","key":"a"}}));
    assert_eq!(w.expect("reply").await["result"], json!(null));
    w.send(json!({"type":"call","id":6,"method":"state.get","params":{"group":"g"}}));
    let r = w.expect("reply").await;
    assert_eq!(
        (r["ok"].clone(), r["error"]["code"].clone()),
        (json!(false), json!("bad_request"))
    );
    w.send(json!({"type":"nonsense"}));
    assert_eq!(w.expect("error").await["code"], "bad_frame");
    rt.stop().await;
}

#[tokio::test]
async fn a_known_route_without_a_worker_answers_503_not_404() {
    let rt = start(RuntimeOptions::default()).await;
    let steps = json!([api_step("Known", "GET", "/known/:id", &[])]);
    let (w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![(
            "Known",
            Arc::new(|_: &Value| json!({"ok": true, "output": {"status": 200, "body": "ok"}})),
        )]),
    )
    .await;
    let auth = ("authorization", "Bearer test-admin-token-0123456789");
    assert_eq!(http(rt.addr, "GET", "/known/1", &[auth], b"").await.status, 200);
    w.kill();
    let mut status = 0;
    for _ in 0..100 {
        let r = http(rt.addr, "GET", "/known/1", &[auth], b"").await;
        status = r.status;
        if status == 503 {
            assert_eq!(r.json()["error"]["code"], "worker_unavailable");
            assert_eq!(r.headers["retry-after"], "1");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 503);
    assert_eq!(http(rt.addr, "GET", "/unknown", &[auth], b"").await.status, 404);
    rt.stop().await;
}

#[tokio::test]
async fn a_busy_worker_still_takes_api_calls() {
    let rt = start(RuntimeOptions::default()).await;
    let steps = json!([
        api_step("Api", "GET", "/api", &[]),
        event_step("Busy", &["busy"], &[], json!(null))
    ]);
    let (w, _) = FakeWorker::connect_with(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![
            (
                "Api",
                Arc::new(|_: &Value| json!({"ok": true, "output": {"status": 200, "body": "served"}})),
            ),
            ("Busy", Arc::new(|_: &Value| json!({"never": true}))),
        ]),
        Some(1),
    )
    .await;
    let scope = cfp_store::Scope::new("default", "default");
    rt.engine
        .emit(&scope, "busy", json!({}), None, "t".into())
        .await
        .unwrap();
    rt.engine
        .emit(&scope, "busy", json!({}), None, "t".into())
        .await
        .unwrap();
    assert!(
        eventually(10, || w.invocations_of("Busy").len() == 1).await,
        "capacity 1 holds the event backlog back"
    );
    let r = http(
        rt.addr,
        "GET",
        "/api",
        &[("authorization", "Bearer test-admin-token-0123456789")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "an event backlog never turns API calls away");
    assert_eq!(w.invocations_of("Busy").len(), 1);
    rt.stop().await;
}

#[tokio::test]
async fn the_runtime_api_answers_cors_only_for_configured_workbench_origins() {
    let mut opts = RuntimeOptions::default();
    opts.gateway.workbench_origins = vec!["https://cfp.example".into()];
    let rt = start(opts).await;
    let preflight = |origin: &'static str| {
        let addr = rt.addr;
        async move {
            http(
                addr,
                "OPTIONS",
                "/__cfp/api/steps",
                &[
                    ("origin", origin),
                    ("access-control-request-method", "GET"),
                    ("access-control-request-headers", "authorization, x-cfp-project"),
                ],
                b"",
            )
            .await
        }
    };
    let ok = preflight("https://cfp.example").await;
    assert_eq!(ok.status, 204);
    assert_eq!(ok.headers["access-control-allow-origin"], "https://cfp.example");
    assert!(ok.headers["access-control-allow-headers"].contains("x-cfp-project"));
    assert!(!ok.headers.contains_key("access-control-allow-credentials"));
    let other = preflight("https://evil.example").await;
    assert!(!other.headers.contains_key("access-control-allow-origin"));
    let auth = ("authorization", "Bearer test-admin-token-0123456789");
    let get = http(
        rt.addr,
        "GET",
        "/__cfp/api/steps",
        &[auth, ("origin", "https://cfp.example")],
        b"",
    )
    .await;
    assert_eq!(get.status, 200);
    assert_eq!(get.headers["access-control-allow-origin"], "https://cfp.example");
    // refusals carry the header too, so the workbench can read why
    let refused = http(
        rt.addr,
        "GET",
        "/__cfp/api/steps",
        &[("origin", "https://cfp.example")],
        b"",
    )
    .await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.headers["access-control-allow-origin"], "https://cfp.example");
    rt.stop().await;
}
