//! End-to-end tests of the runtime (engine + gateway + PostgreSQL) with a scripted worker.

#![allow(clippy::field_reassign_with_default)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn api_step(name: &str, method: &str, path: &str, emits: &[&str]) -> Value {
    json!({"name": name, "type": "api", "file": format!("steps/{name}.step.ts"), "method": method, "path": path, "emits": emits})
}

fn event_step(name: &str, subscribes: &[&str], emits: &[&str], infra: Value) -> Value {
    json!({"name": name, "type": "event", "file": format!("steps/{name}.step.ts"), "subscribes": subscribes, "emits": emits, "infrastructure": infra})
}

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
                Arc::new(|_: &Value| json!({"ok": false, "error": {"message": "kaboom"}})),
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
    let r = http(rt.addr, "GET", "/boom", &[auth], b"").await;
    assert_eq!(r.status, 500);
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("kaboom"));
    // No anonymous execution outside dev mode.
    let r = http(rt.addr, "POST", "/echo", &[("content-type", "text/plain")], b"hi").await;
    assert_eq!(r.status, 401);
    let r = http(rt.addr, "POST", "/echo", &[auth, ("content-type", "text/plain")], b"hi").await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hi"[..]));
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
async fn failing_events_retry_then_dead_letter_and_replay() {
    let rt = start(RuntimeOptions::default()).await;
    let fail = Arc::new(Mutex::new(true));
    let f2 = fail.clone();
    let steps = json!([event_step("Flaky", &["job"], &[], json!({"queue": {"maxRetries": 2}}))]);
    let (w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![(
            "Flaky",
            Arc::new(move |_: &Value| {
                if *f2.lock().unwrap() {
                    json!({"ok": false, "error": {"message": "nope"}})
                } else {
                    json!({"ok": true})
                }
            }),
        )]),
    )
    .await;
    let scope = cfp_store::Scope::new("default", "default");
    rt.engine
        .emit(&scope, "job", json!({"n": 1}), None, "trace-1".into())
        .await
        .unwrap();
    let store = rt.store.clone();
    let mut dead = Vec::new();
    for _ in 0..200 {
        dead = store.dead_letters(&scope, None, 10).await.unwrap();
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead.len(), 1, "the event reached the dead-letter table");
    assert_eq!(w.invocations_of("Flaky").len(), 3, "maxRetries 2 = 3 attempts");
    let attempts: Vec<u64> = w
        .invocations_of("Flaky")
        .iter()
        .map(|f| f["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, vec![1, 2, 3]);
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(dead[0].error["message"], "nope");
    let keys: std::collections::HashSet<String> = w
        .invocations_of("Flaky")
        .iter()
        .map(|f| f["idempotencyKey"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 1, "the idempotency key is stable across retries");

    // Replay through the runtime API.
    *fail.lock().unwrap() = false;
    let auth = ("authorization", "Bearer test-admin-token-0123456789");
    let r = http(rt.addr, "GET", "/__cfp/api/dlq", &[auth], b"").await;
    assert_eq!(r.json()["items"][0]["step"], "Flaky");
    let r = http(
        rt.addr,
        "POST",
        &format!("/__cfp/api/dlq/{}/replay", dead[0].id),
        &[auth],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(eventually(10, || w.invocations_of("Flaky").len() == 4).await);
    assert!(store.dead_letters(&scope, None, 10).await.unwrap().is_empty());
    let r = http(rt.addr, "DELETE", "/__cfp/api/dlq/999999", &[auth], b"").await;
    assert_eq!(r.status, 404);
    rt.stop().await;
}

#[tokio::test]
async fn non_retriable_errors_go_straight_to_the_dead_letter_table() {
    let rt = start(RuntimeOptions::default()).await;
    let steps = json!([event_step("Strict", &["t"], &[], json!(null))]);
    let (w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![(
            "Strict",
            Arc::new(|_: &Value| json!({"ok": false, "error": {"message": "bad input", "retriable": false}})),
        )]),
    )
    .await;
    let scope = cfp_store::Scope::new("default", "default");
    rt.engine.emit(&scope, "t", json!(1), None, "tr".into()).await.unwrap();
    let store = rt.store.clone();
    let mut n = 0;
    for _ in 0..100 {
        n = store.dead_letters(&scope, None, 10).await.unwrap().len();
        if n > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(n, 1);
    assert_eq!(w.invocations_of("Strict").len(), 1);
    rt.stop().await;
}

#[tokio::test]
async fn fifo_groups_run_in_order_and_deliver_every_message() {
    let rt = start(RuntimeOptions::default()).await;
    let order = Arc::new(Mutex::new(HashMap::<String, Vec<u64>>::new()));
    let o2 = order.clone();
    let steps = json!([event_step(
        "Fifo",
        &["orders"],
        &[],
        json!({"queue": {"type": "fifo", "concurrency": 8}})
    )]);
    let (w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![(
            "Fifo",
            Arc::new(move |f: &Value| {
                let group = f["input"]["messageGroupId"].as_str().unwrap().to_string();
                let n = f["input"]["data"]["n"].as_u64().unwrap();
                o2.lock().unwrap().entry(group).or_default().push(n);
                json!({"ok": true, "delay_ms": (n * 7) % 13})
            }),
        )]),
    )
    .await;
    let scope = cfp_store::Scope::new("default", "default");
    for n in 0..15u64 {
        for g in ["g1", "g2", "g3"] {
            rt.engine
                .emit(&scope, "orders", json!({"n": n}), Some(g.into()), format!("t-{g}-{n}"))
                .await
                .unwrap();
        }
    }
    assert!(
        eventually(20, || order.lock().unwrap().values().map(Vec::len).sum::<usize>() == 45).await,
        "every message of every group is delivered: {:?}",
        order.lock().unwrap()
    );
    for (g, seen) in order.lock().unwrap().iter() {
        assert_eq!(seen, &(0..15).collect::<Vec<_>>(), "group {g} out of order");
    }
    // A group never has two deliveries in flight: each invoke arrives after the previous result was sent.
    assert!(eventually(5, || w.timeline.lock().unwrap().values().all(|(_, e)| e.is_some())).await);
    let timeline = w.timeline.lock().unwrap().clone();
    let mut by_group: HashMap<String, Vec<(std::time::Instant, std::time::Instant)>> = HashMap::new();
    let mut overlapping_groups = 0;
    for f in w.invocations_of("Fifo") {
        let (start, end) = timeline[f["id"].as_str().unwrap()];
        by_group
            .entry(f["input"]["messageGroupId"].as_str().unwrap().into())
            .or_default()
            .push((start, end.unwrap()));
    }
    for (g, mut spans) in by_group {
        spans.sort();
        for pair in spans.windows(2) {
            assert!(
                pair[0].1 <= pair[1].0,
                "group {g}: a delivery started before the previous one finished"
            );
        }
        overlapping_groups += 1;
    }
    assert_eq!(overlapping_groups, 3);
    // Across groups deliveries do overlap (parallelism).
    let mut all: Vec<_> = timeline.values().map(|(s, e)| (*s, e.unwrap())).collect();
    all.sort();
    assert!(all.windows(2).any(|p| p[1].0 < p[0].1), "groups ran in parallel");
    drop(w);
    rt.stop().await;
}

#[tokio::test]
async fn a_disconnected_worker_s_deliveries_are_retried_elsewhere() {
    let rt = start(RuntimeOptions::default()).await;
    let steps = json!([event_step("Work", &["w"], &[], json!(null))]);
    let (w1, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps.clone(),
        handlers(vec![("Work", Arc::new(|_: &Value| json!({"never": true})))]),
    )
    .await;
    let scope = cfp_store::Scope::new("default", "default");
    rt.engine
        .emit(&scope, "w", json!({"x": 1}), None, "t".into())
        .await
        .unwrap();
    assert!(eventually(10, || w1.invocations_of("Work").len() == 1).await);
    w1.kill();
    let (w2, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![("Work", Arc::new(|_: &Value| json!({"ok": true})))]),
    )
    .await;
    assert!(
        eventually(10, || w2.invocations_of("Work").len() == 1).await,
        "the delivery was retried on the new worker"
    );
    assert_eq!(w2.invocations_of("Work")[0]["attempt"], 2);
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
async fn cron_with_seconds_ticks() {
    let rt = start(RuntimeOptions::default()).await;
    let steps =
        json!([{"name": "Tick", "type": "cron", "file": "steps/tick.step.ts", "cron": "* * * * * *", "emits": []}]);
    let (w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![("Tick", Arc::new(|_: &Value| json!({"ok": true})))]),
    )
    .await;
    assert!(
        eventually(6, || w.invocations_of("Tick").len() >= 2).await,
        "a every-second cron ran at least twice"
    );
    let ticks: Vec<String> = w
        .invocations_of("Tick")
        .iter()
        .map(|f| f["input"]["scheduledAt"].as_str().unwrap().to_string())
        .collect();
    let unique: std::collections::HashSet<_> = ticks.iter().collect();
    assert_eq!(unique.len(), ticks.len(), "each tick runs once: {ticks:?}");
    rt.stop().await;
}

#[tokio::test]
async fn large_payloads_travel_by_reference() {
    let opts = RuntimeOptions {
        payload_threshold: 1024,
        ..Default::default()
    };
    let rt = start(opts).await;
    let steps = json!([event_step("Big", &["big"], &[], json!(null))]);
    let (w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![("Big", Arc::new(|_: &Value| json!({"ok": true})))]),
    )
    .await;
    let blob = "x".repeat(5000);
    let scope = cfp_store::Scope::new("default", "default");
    rt.engine
        .emit(&scope, "big", json!({"blob": blob}), None, "t".into())
        .await
        .unwrap();
    assert!(eventually(10, || w.invocations_of("Big").len() == 1).await);
    assert_eq!(
        w.invocations_of("Big")[0]["input"]["data"]["blob"]
            .as_str()
            .unwrap()
            .len(),
        5000
    );
    let (inline, reference): (Option<Value>, Option<String>) =
        sqlx::query_as("SELECT data, payload_ref FROM queue LIMIT 1")
            .fetch_one(rt.store.pool())
            .await
            .unwrap();
    assert!(
        inline.is_none() && reference.is_some(),
        "the row holds a reference, not the payload"
    );
    rt.stop().await;
}

#[tokio::test]
async fn every_subscriber_gets_every_event() {
    let rt = start(RuntimeOptions::default()).await;
    let steps = json!([
        event_step("First", &["shared"], &[], json!(null)),
        event_step("Second", &["shared", "other"], &[], json!(null)),
        event_step("Unrelated", &["other"], &[], json!(null)),
    ]);
    let ok: Handler = Arc::new(|_: &Value| json!({"ok": true}));
    let (w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![("First", ok.clone()), ("Second", ok.clone()), ("Unrelated", ok)]),
    )
    .await;
    let scope = cfp_store::Scope::new("default", "default");
    for i in 0..5 {
        rt.engine
            .emit(&scope, "shared", json!({"i": i}), None, "t".into())
            .await
            .unwrap();
    }
    assert!(
        eventually(10, || w.invocations_of("First").len() == 5
            && w.invocations_of("Second").len() == 5)
        .await
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(w.invocations_of("Unrelated").len(), 0);
    rt.stop().await;
}

#[tokio::test]
async fn concurrency_caps_deliveries_in_flight() {
    let rt = start(RuntimeOptions::default()).await;
    let steps = json!([event_step("Capped", &["c"], &[], json!({"queue": {"concurrency": 2}}))]);
    let (w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![(
            "Capped",
            Arc::new(|_: &Value| json!({"ok": true, "delay_ms": 60})),
        )]),
    )
    .await;
    let scope = cfp_store::Scope::new("default", "default");
    for i in 0..8 {
        rt.engine
            .emit(&scope, "c", json!({"i": i}), None, "t".into())
            .await
            .unwrap();
    }
    assert!(
        eventually(10, || w
            .timeline
            .lock()
            .unwrap()
            .values()
            .filter(|(_, e)| e.is_some())
            .count()
            == 8)
        .await
    );
    let spans: Vec<_> = w
        .timeline
        .lock()
        .unwrap()
        .values()
        .map(|(s, e)| (*s, e.unwrap()))
        .collect();
    let max_overlap = spans
        .iter()
        .map(|(s, _)| spans.iter().filter(|(s2, e2)| s2 <= s && s < e2).count())
        .max()
        .unwrap();
    assert_eq!(max_overlap, 2, "at most `concurrency` deliveries run at once");
    rt.stop().await;
}

#[tokio::test]
async fn delay_seconds_defers_delivery() {
    let rt = start(RuntimeOptions::default()).await;
    let steps = json!([event_step("Later", &["d"], &[], json!({"queue": {"delaySeconds": 1}}))]);
    let (w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![("Later", Arc::new(|_: &Value| json!({"ok": true})))]),
    )
    .await;
    let scope = cfp_store::Scope::new("default", "default");
    let t0 = std::time::Instant::now();
    rt.engine.emit(&scope, "d", json!({}), None, "t".into()).await.unwrap();
    assert!(eventually(5, || w.invocations_of("Later").len() == 1).await);
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(950), "delivered after {waited:?}");
    rt.stop().await;
}

#[tokio::test]
async fn event_handler_timeout_fails_the_attempt_and_retries() {
    let rt = start(RuntimeOptions::default()).await;
    let steps = json!([event_step(
        "Hangs",
        &["h"],
        &[],
        json!({"handler": {"timeout": 1}, "queue": {"maxRetries": 1}})
    )]);
    let calls = Arc::new(Mutex::new(0));
    let c2 = calls.clone();
    let (mut w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![(
            "Hangs",
            Arc::new(move |_: &Value| {
                let mut c = c2.lock().unwrap();
                *c += 1;
                if *c == 1 {
                    json!({"never": true})
                } else {
                    json!({"ok": true})
                }
            }),
        )]),
    )
    .await;
    let scope = cfp_store::Scope::new("default", "default");
    rt.engine.emit(&scope, "h", json!({}), None, "t".into()).await.unwrap();
    let cancel = w.expect("cancel").await;
    assert_eq!(cancel["reason"], "timeout");
    assert!(
        eventually(10, || w.invocations_of("Hangs").len() == 2).await,
        "retried after the timeout"
    );
    assert_eq!(w.invocations_of("Hangs")[1]["attempt"], 2);
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
