//! SLOs and rollups through a running runtime: an invalid `config.slo` refuses only its step (the field named),
//! the steps that run fill the rollups readable at `/__cfp/api/rollups`, overrides are checked and set through
//! `/__cfp/api/slo/{step}`, and `/__cfp/api/slo` reports them.

mod common;

use std::sync::Arc;

use common::*;
use serde_json::{json, Value};

const AUTH: (&str, &str) = ("authorization", "Bearer test-admin-token-0123456789");

#[tokio::test]
async fn a_bad_slo_refuses_its_step_only_and_runs_fill_the_rollups() {
    let mut opts = RuntimeOptions::default();
    opts.gateway.dev_endpoints = true;
    opts.engine.metrics.extra_buckets = vec![0.2, 0.5];
    let rt = start(opts).await;
    let mut good = event_step("Good", &["go"], &[], json!(null));
    good["slo"] = json!({"errors": {"target": 0.99}, "latency": {"thresholdMs": 500, "target": 0.9}});
    let mut bad = event_step("Bad", &["go"], &[], json!(null));
    bad["slo"] = json!({"latency": {"thresholdMs": 333, "target": 0.9}});
    let (worker, registered) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        json!([good, bad]),
        handlers(vec![
            ("Good", Arc::new(|_: &Value| json!({"ok": true}))),
            ("Bad", Arc::new(|_: &Value| json!({"ok": true}))),
        ]),
    )
    .await;
    assert_eq!(registered["steps"], json!(["Good"]), "{registered}");
    let err = &registered["errors"][0];
    assert_eq!(err["step"], "Bad");
    assert!(
        err["message"].as_str().unwrap().contains("slo.latency.thresholdMs"),
        "{err}"
    );
    for i in 0..5 {
        let body = json!({"topic": "go", "data": {"i": i}}).to_string();
        let r = http(
            rt.addr,
            "POST",
            "/__cfp/api/emit",
            &[AUTH, ("content-type", "application/json")],
            body.as_bytes(),
        )
        .await;
        assert_eq!(r.status, 202, "{}", r.json());
    }
    let counted = eventually(20, || worker.invocations_of("Good").len() == 5).await;
    assert!(counted, "5 deliveries ran");
    // The maintenance loop rolls up within seconds.
    let mut rows = Value::Null;
    for _ in 0..100 {
        let r = http(
            rt.addr,
            "GET",
            "/__cfp/api/rollups?step=Good&granularity=minute",
            &[AUTH],
            b"",
        )
        .await;
        assert_eq!(r.status, 200);
        rows = r.json()["rollups"].clone();
        let total: i64 = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["total"].as_i64().unwrap())
            .sum();
        if total == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let total: i64 = rows.as_array().unwrap().iter().map(|r| r["ok"].as_i64().unwrap()).sum();
    assert_eq!(total, 5, "{rows}");
    let r = http(rt.addr, "GET", "/__cfp/api/rollups?granularity=week", &[AUTH], b"").await;
    assert_eq!(r.status, 400);

    // Overrides: the field is named; a valid one is stored and reported.
    let put = |step: &str, body: Value| {
        let path = format!("/__cfp/api/slo/{step}");
        let addr = rt.addr;
        async move {
            http(
                addr,
                "PUT",
                &path,
                &[AUTH, ("content-type", "application/json")],
                body.to_string().as_bytes(),
            )
            .await
        }
    };
    let r = put("Good", json!({"errors": {"target": 1.5}})).await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("slo.errors.target"),
        "{}",
        r.json()
    );
    assert_eq!(
        put("Other", json!({"errors": {"target": 0.999}, "window": "7d"}))
            .await
            .status,
        200
    );
    let status = http(rt.addr, "GET", "/__cfp/api/slo", &[AUTH], b"").await.json();
    let steps: Vec<(&str, &str)> = status["slos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap(), s["source"].as_str().unwrap()))
        .collect();
    assert_eq!(steps, vec![("Good", "step"), ("Other", "override")], "{status}");
    // the histogram's bounds, for `cfp slo rules` to check latency thresholds against: the built-in ones and the
    // extra ones, sorted, each once
    assert_eq!(
        status["metrics"]["durationBucketsSeconds"],
        json!([0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]),
        "{status}"
    );
    assert_eq!(status["metrics"]["enabled"], json!(true));
    let good = &status["slos"][0]["slis"];
    assert_eq!(good[0]["sli"], "errors");
    assert_eq!(good[0]["total"], 5);
    assert_eq!(good[0]["budgetRemaining"], 1.0);
    assert_eq!(
        http(rt.addr, "DELETE", "/__cfp/api/slo/Other", &[AUTH], b"")
            .await
            .status,
        200
    );
    assert_eq!(
        http(rt.addr, "DELETE", "/__cfp/api/slo/Other", &[AUTH], b"")
            .await
            .status,
        404
    );
    rt.stop().await;
}

/// API steps have no queue row: their attempt ends are buffered and flushed into the same rollups, so an SLO on
/// an API step burns like one on an event step.
#[tokio::test]
async fn api_steps_fill_the_rollups_too() {
    let mut opts = RuntimeOptions::default();
    opts.gateway.dev_endpoints = true;
    let rt = start(opts).await;
    let mut api = api_step("Checkout", "POST", "/checkout", &[]);
    api["slo"] = json!({"errors": {"target": 0.99}});
    let (_worker, registered) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        json!([api]),
        handlers(vec![(
            "Checkout",
            Arc::new(|f: &Value| {
                if f["input"]["body"]["fail"] == json!(true) {
                    json!({"ok": false, "error": {"message": "card declined"}})
                } else {
                    json!({"ok": true, "output": {"status": 200, "body": {"ok": true}}})
                }
            }),
        )]),
    )
    .await;
    assert_eq!(registered["steps"], json!(["Checkout"]), "{registered}");
    for i in 0..6 {
        let body = json!({"fail": i % 3 == 0}).to_string();
        let r = http(
            rt.addr,
            "POST",
            "/checkout",
            &[AUTH, ("content-type", "application/json")],
            body.as_bytes(),
        )
        .await;
        assert_eq!(r.status, if i % 3 == 0 { 500 } else { 200 }, "{}", r.json());
    }
    let mut sums = (0, 0, 0);
    for _ in 0..100 {
        let r = http(
            rt.addr,
            "GET",
            "/__cfp/api/rollups?step=Checkout&granularity=minute",
            &[AUTH],
            b"",
        )
        .await;
        let rows = r.json()["rollups"].clone();
        let sum = |k: &str| -> i64 { rows.as_array().unwrap().iter().map(|r| r[k].as_i64().unwrap()).sum() };
        sums = (sum("total"), sum("ok"), sum("handlerError"));
        if sums.0 == 6 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(sums, (6, 4, 2), "total, ok, handlerError");
    let status = http(rt.addr, "GET", "/__cfp/api/slo", &[AUTH], b"").await.json();
    let sli = &status["slos"][0]["slis"][0];
    assert_eq!(
        (sli["total"].as_i64(), sli["bad"].as_i64()),
        (Some(6), Some(2)),
        "{status}"
    );
    rt.stop().await;
}

/// `GET /__cfp/api/queues` reports the lag: how long the oldest ready delivery has waited (the workbench's
/// Metrics page shows it next to the depth).
#[tokio::test]
async fn queues_report_the_oldest_ready_deliverys_wait() {
    let mut opts = RuntimeOptions::default();
    opts.gateway.dev_endpoints = true;
    let rt = start(opts).await;
    let step = event_step("Waits", &["wait"], &[], json!(null));
    let (worker, registered) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        json!([step]),
        handlers(vec![("Waits", Arc::new(|_: &Value| json!({"ok": true})))]),
    )
    .await;
    assert_eq!(registered["steps"], json!(["Waits"]), "{registered}");
    let waits = |addr| async move {
        let q = http(addr, "GET", "/__cfp/api/queues", &[AUTH], b"").await.json();
        let row = q["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == "Waits")
            .cloned();
        row.unwrap_or(Value::Null)
    };
    assert_eq!(waits(rt.addr).await["oldestReadyMs"], 0, "nothing ready: no lag");
    // With no worker left, an emitted event waits in the queue and its lag grows.
    worker.kill();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let body = json!({"topic": "wait", "data": {}}).to_string();
    let r = http(
        rt.addr,
        "POST",
        "/__cfp/api/emit",
        &[AUTH, ("content-type", "application/json")],
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.json());
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let row = waits(rt.addr).await;
    assert_eq!(row["ready"], 1, "{row}");
    let lag = row["oldestReadyMs"].as_i64().unwrap();
    assert!((500..60_000).contains(&lag), "{row}");
    rt.stop().await;
}
