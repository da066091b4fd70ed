//! Durable queue semantics through the real runtime (engine + gateway + PostgreSQL) with a scripted worker:
//! retries and dead letters, FIFO groups, worker loss, cron, large payloads, fan-out, concurrency, delay, timeouts.

#![allow(clippy::field_reassign_with_default)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn failing_events_retry_then_dead_letter_and_replay() {
    // Replaying and discarding dead letters are diagnostic operations: on only with dev endpoints.
    let mut opts = RuntimeOptions::default();
    opts.gateway.dev_endpoints = true;
    let rt = start(opts).await;
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
    assert!(eventually(10, || w.finished() == 8).await);
    let max_overlap = w.max_overlap();
    assert_eq!(max_overlap, 2, "at most `concurrency` deliveries run at once");
    rt.stop().await;
}

#[tokio::test]
async fn max_concurrent_executions_caps_a_project_s_deliveries() {
    let rt = start(RuntimeOptions::default()).await;
    let scope = cfp_store::Scope::new("default", "default");
    // The step would take 8 at once; the project's maxConcurrentExecutions (from the control plane) says 3.
    rt.engine.set_execution_limits(&scope, Some(3), None);
    let steps = json!([
        event_step("Wide", &["w"], &[], json!({"queue": {"concurrency": 8}})),
        event_step("Other", &["o"], &[], json!({"queue": {"concurrency": 8}}))
    ]);
    let (w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![
            ("Wide", Arc::new(|_: &Value| json!({"ok": true, "delay_ms": 80}))),
            ("Other", Arc::new(|_: &Value| json!({"ok": true, "delay_ms": 80}))),
        ]),
    )
    .await;
    for i in 0..6 {
        rt.engine
            .emit(&scope, "w", json!({"i": i}), None, "t".into())
            .await
            .unwrap();
        rt.engine
            .emit(&scope, "o", json!({"i": i}), None, "t".into())
            .await
            .unwrap();
    }
    assert!(
        eventually(15, || w.finished() == 12).await,
        "every delivery ran: {}",
        w.finished()
    );
    let max_overlap = w.max_overlap();
    assert_eq!(max_overlap, 3, "both steps together stay within the project's limit");
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
