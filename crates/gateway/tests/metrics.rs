//! Prometheus metrics through the real runtime (engine + gateway + PostgreSQL) and a scripted worker: exact
//! counters per outcome under retries, timeouts, dead letters and worker loss; who may scrape `/metrics`; the
//! series cap.

#![allow(clippy::field_reassign_with_default)]

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const METRICS_TOKEN: &str = "metrics-token-0123456789";

/// The value of one sample (`name{labels}` exactly as exposed), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.split(' ').next())
        .and_then(|v| v.parse().ok())
}

fn inv(step: &str, outcome: &str) -> String {
    format!(r#"cfp_step_invocations_total{{tenant="default",project="default",step="{step}",outcome="{outcome}"}}"#)
}

fn per_step(name: &str, step: &str) -> String {
    format!(r#"{name}{{tenant="default",project="default",step="{step}"}}"#)
}

async fn scrape(rt: &Runtime) -> String {
    let r = http(
        rt.addr,
        "GET",
        "/metrics",
        &[("authorization", &format!("Bearer {ADMIN}"))],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    String::from_utf8(r.body).unwrap()
}

/// Scrapes until every expected sample has its value (or 15 s pass), then checks them all exactly.
async fn expect_samples(rt: &Runtime, expected: &[(String, f64)]) -> String {
    let until = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let text = scrape(rt).await;
        let done = expected.iter().all(|(s, v)| sample(&text, s) == Some(*v));
        if done || tokio::time::Instant::now() > until {
            for (s, v) in expected {
                assert_eq!(sample(&text, s), Some(*v), "{s}\n{text}");
            }
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn counters_are_exact_by_outcome_under_retries_timeouts_dead_letters_and_worker_loss() {
    let mut opts = RuntimeOptions::default();
    opts.gateway.body_limit = 1024;
    let rt = start(opts).await;
    let flaky_calls = Arc::new(AtomicU32::new(0));
    let fc = flaky_calls.clone();
    let steps = json!([
        api_step("Hello", "POST", "/hello", &[]),
        event_step("Good", &["good"], &[], json!({})),
        event_step("Bad", &["bad"], &[], json!({"queue": {"maxRetries": 0}})),
        event_step("Flaky", &["flaky"], &[], json!({"queue": {"maxRetries": 2}})),
        event_step("Doomed", &["doomed"], &[], json!({"queue": {"maxRetries": 1}})),
        event_step(
            "Slow",
            &["slow"],
            &[],
            json!({"handler": {"timeout": 1}, "queue": {"maxRetries": 0}})
        ),
        event_step("Hang", &["hang"], &[], json!({"queue": {"maxRetries": 0}})),
    ]);
    let fail = || json!({"ok": false, "error": {"message": "nope"}});
    let (w, registered) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![
            (
                "Hello",
                Arc::new(|_: &Value| json!({"ok": true, "output": {"status": 200, "body": {}}})),
            ),
            ("Good", Arc::new(|_: &Value| json!({"ok": true}))),
            ("Bad", Arc::new(move |_: &Value| fail())),
            ("Doomed", Arc::new(move |_: &Value| fail())),
            (
                "Flaky",
                Arc::new(move |_: &Value| {
                    if fc.fetch_add(1, Ordering::SeqCst) == 0 {
                        fail()
                    } else {
                        json!({"ok": true})
                    }
                }),
            ),
            ("Slow", Arc::new(|_: &Value| json!({"never": true}))),
            ("Hang", Arc::new(|_: &Value| json!({"never": true}))),
        ]),
    )
    .await;
    assert_eq!(registered["type"], "registered", "{registered}");
    let scope = cfp_store::Scope::new("default", "default");
    for topic in ["good", "bad", "flaky", "doomed", "slow"] {
        rt.engine
            .emit(&scope, topic, json!({}), None, "trace".into())
            .await
            .unwrap();
    }
    let ok = http(
        rt.addr,
        "POST",
        "/hello",
        &[("authorization", &format!("Bearer {ADMIN}"))],
        b"{}",
    )
    .await;
    assert_eq!(ok.status, 200);
    let big = vec![b'x'; 2048];
    let refused = http(
        rt.addr,
        "POST",
        "/hello",
        &[("authorization", &format!("Bearer {ADMIN}"))],
        &big,
    )
    .await;
    assert_eq!(refused.status, 413);
    let bad_token = http(
        rt.addr,
        "GET",
        "/__cfp/api/steps",
        &[("authorization", "Bearer cfp_live_not_a_real_key")],
        b"",
    )
    .await;
    assert_eq!(bad_token.status, 401);
    let no_token = http(rt.addr, "GET", "/__cfp/api/steps", &[], b"").await;
    assert_eq!(no_token.status, 401);

    let text = expect_samples(
        &rt,
        &[
            (inv("Hello", "ok"), 1.0),
            (inv("Good", "ok"), 1.0),
            (inv("Good", "handler_error"), 0.0),
            (inv("Bad", "handler_error"), 1.0),
            (inv("Bad", "dead_lettered"), 1.0),
            (per_step("cfp_step_retries_total", "Bad"), 0.0),
            (inv("Flaky", "handler_error"), 1.0),
            (inv("Flaky", "ok"), 1.0),
            (per_step("cfp_step_retries_total", "Flaky"), 1.0),
            (inv("Flaky", "dead_lettered"), 0.0),
            (inv("Doomed", "handler_error"), 2.0),
            (per_step("cfp_step_retries_total", "Doomed"), 1.0),
            (inv("Doomed", "dead_lettered"), 1.0),
            (inv("Slow", "timeout"), 1.0),
            (inv("Slow", "dead_lettered"), 1.0),
            (per_step("cfp_step_duration_seconds_count", "Good"), 1.0),
            (per_step("cfp_step_duration_seconds_count", "Flaky"), 2.0),
            (per_step("cfp_dlq_size", "Bad"), 1.0),
            (per_step("cfp_dlq_size", "Doomed"), 1.0),
            (
                r#"cfp_workers_connected{tenant="default",project="default"}"#.into(),
                1.0,
            ),
            (
                r#"cfp_limit_refusals_total{tenant="default",project="default",status="413",reason="body_too_large"}"#
                    .into(),
                1.0,
            ),
            (r#"cfp_auth_failures_total{reason="invalid_token"}"#.into(), 1.0),
            (r#"cfp_auth_failures_total{reason="unauthenticated"}"#.into(), 1.0),
            ("cfp_worker_sockets".into(), 1.0),
        ],
    )
    .await;
    // Five events, each claimed a first time once (retries are not claim lag).
    assert_eq!(sample(&text, "cfp_queue_claim_lag_seconds_count"), Some(5.0), "{text}");
    assert!(
        sample(&text, r#"cfp_db_pool_connections{state="used"}"#).is_some(),
        "{text}"
    );
    assert_eq!(sample(&text, "cfp_db_pool_max"), Some(8.0));
    // The bucket bounds are the documented ones (and +Inf).
    let bounds: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("cfp_step_duration_seconds_bucket{") && l.contains(r#"step="Good""#))
        .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next())
        .collect();
    let documented = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "30.0", "60.0", "+Inf",
    ];
    assert_eq!(bounds, documented, "{text}");

    // Worker loss: an invocation in flight when its worker goes away ends as lost_worker (and, with no retry
    // left, is dead-lettered), counted once.
    rt.engine
        .emit(&scope, "hang", json!({}), None, "trace".into())
        .await
        .unwrap();
    assert!(eventually(10, || !w.invocations_of("Hang").is_empty()).await);
    w.kill();
    expect_samples(
        &rt,
        &[
            (inv("Hang", "lost_worker"), 1.0),
            (inv("Hang", "dead_lettered"), 1.0),
            ("cfp_worker_sockets".into(), 0.0),
            (inv("Good", "ok"), 1.0),
            (inv("Flaky", "ok"), 1.0),
        ],
    )
    .await;
    rt.stop().await;
}

#[tokio::test]
async fn metrics_need_the_metrics_token_when_one_is_set() {
    let mut opts = RuntimeOptions::default();
    opts.gateway.metrics_token = Some(METRICS_TOKEN.into());
    let rt = start(opts).await;
    let get = |h: Vec<(&'static str, String)>| {
        let addr = rt.addr;
        async move {
            let headers: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
            http(addr, "GET", "/metrics", &headers, b"").await
        }
    };
    assert_eq!(get(vec![]).await.status, 401, "no token");
    assert_eq!(
        get(vec![("authorization", "Bearer wrong-token-0123456789".into())])
            .await
            .status,
        401
    );
    // Only the metrics token: the admin token is not it.
    assert_eq!(
        get(vec![("authorization", format!("Bearer {ADMIN}"))]).await.status,
        401
    );
    let ok = get(vec![("authorization", format!("Bearer {METRICS_TOKEN}"))]).await;
    assert_eq!(ok.status, 200);
    assert!(ok.headers["content-type"].starts_with("application/openmetrics-text"));
    let text = String::from_utf8(ok.body).unwrap();
    assert_eq!(
        sample(&text, r#"cfp_auth_failures_total{reason="metrics_token"}"#),
        Some(3.0),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"));
    rt.stop().await;
}

#[tokio::test]
async fn without_a_token_metrics_need_an_admin_credential_except_on_dev_loopback() {
    let rt = start(RuntimeOptions::default()).await;
    assert_eq!(http(rt.addr, "GET", "/metrics", &[], b"").await.status, 401);
    let other = http(
        rt.addr,
        "GET",
        "/metrics",
        &[("authorization", "Bearer nope-nope-nope-nope")],
        b"",
    )
    .await;
    assert_eq!(other.status, 401);
    let admin = http(
        rt.addr,
        "GET",
        "/metrics",
        &[("authorization", &format!("Bearer {ADMIN}"))],
        b"",
    )
    .await;
    assert_eq!(admin.status, 200);
    rt.stop().await;

    let mut dev = RuntimeOptions::default();
    dev.gateway.dev = true;
    let rt = start(dev).await;
    assert_eq!(
        http(rt.addr, "GET", "/metrics", &[], b"").await.status,
        200,
        "dev mode, loopback"
    );
    rt.stop().await;
}

#[tokio::test]
async fn a_separate_listener_serves_metrics_and_the_main_one_then_does_not() {
    let mut opts = RuntimeOptions::default();
    opts.gateway.metrics_separate = true;
    let rt = start(opts).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let maddr = listener.local_addr().unwrap();
    let app = cfp_gateway::metrics::listener_router(rt.engine.clone(), None);
    tokio::spawn(cfp_gateway::serve(listener, app, std::future::pending()));
    let r = http(maddr, "GET", "/metrics", &[], b"").await;
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("# TYPE cfp_db_pool_max gauge"));
    assert_eq!(http(maddr, "GET", "/__cfp/health", &[], b"").await.status, 200);
    assert_eq!(
        http(maddr, "GET", "/__cfp/api/steps", &[], b"").await.status,
        404,
        "metrics only"
    );
    // The main listener: `/metrics` is an ordinary path there (no step: 404, even for the admin).
    let main = http(
        rt.addr,
        "GET",
        "/metrics",
        &[("authorization", &format!("Bearer {ADMIN}"))],
        b"",
    )
    .await;
    assert_eq!(main.status, 404);
    assert!(!String::from_utf8_lossy(&main.body).contains("cfp_step"));

    // With a token as well, the separate listener needs it too.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let taddr = listener.local_addr().unwrap();
    let app = cfp_gateway::metrics::listener_router(rt.engine.clone(), Some(METRICS_TOKEN.into()));
    tokio::spawn(cfp_gateway::serve(listener, app, std::future::pending()));
    assert_eq!(http(taddr, "GET", "/metrics", &[], b"").await.status, 401);
    let auth = format!("Bearer {METRICS_TOKEN}");
    assert_eq!(
        http(taddr, "GET", "/metrics", &[("authorization", &auth)], b"")
            .await
            .status,
        200
    );
    rt.stop().await;
}

#[tokio::test]
async fn metrics_off_records_and_serves_nothing() {
    let mut opts = RuntimeOptions::default();
    opts.engine.metrics.enabled = false;
    let rt = start(opts).await;
    assert!(rt.engine.metrics().is_none());
    assert!(rt.engine.scrape_metrics().await.is_none());
    let r = http(
        rt.addr,
        "GET",
        "/metrics",
        &[("authorization", &format!("Bearer {ADMIN}"))],
        b"",
    )
    .await;
    assert_eq!(r.status, 404);
    rt.stop().await;
}

#[tokio::test]
async fn series_beyond_the_cap_go_to_one_overflow_series_and_are_counted() {
    let mut opts = RuntimeOptions::default();
    opts.engine.metrics.max_series = 3;
    let rt = start(opts).await;
    let names = ["S1", "S2", "S3", "S4", "S5"];
    let steps: Vec<Value> = names
        .iter()
        .map(|n| event_step(n, &[&n.to_lowercase()], &[], json!({})))
        .collect();
    let (_w, registered) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        json!(steps),
        handlers(
            names
                .iter()
                .map(|n| (*n, Arc::new(|_: &Value| json!({"ok": true})) as Handler))
                .collect(),
        ),
    )
    .await;
    assert_eq!(registered["type"], "registered");
    let scope = cfp_store::Scope::new("default", "default");
    // One at a time, so which steps get a series of their own is known: the first three.
    for (i, n) in names.iter().enumerate() {
        rt.engine
            .emit(&scope, &n.to_lowercase(), json!({}), None, "trace".into())
            .await
            .unwrap();
        let want = (i + 1) as f64;
        let until = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let text = scrape(&rt).await;
            let total: f64 = text
                .lines()
                .filter(|l| l.starts_with("cfp_step_invocations_total{") && l.contains(r#"outcome="ok""#))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum();
            if total == want || tokio::time::Instant::now() > until {
                assert_eq!(total, want, "{text}");
                break;
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
    let text = scrape(&rt).await;
    for n in &names[..3] {
        assert_eq!(sample(&text, &inv(n, "ok")), Some(1.0), "{text}");
    }
    for n in &names[3..] {
        assert!(
            !text.contains(&format!(r#"step="{n}""#)),
            "{n} has no series of its own: {text}"
        );
    }
    let overflow =
        r#"cfp_step_invocations_total{tenant="__overflow__",project="__overflow__",step="__overflow__",outcome="ok"}"#;
    assert_eq!(sample(&text, overflow), Some(2.0), "{text}");
    assert_eq!(
        sample(
            &text,
            r#"cfp_metrics_series_overflow_total{metric="cfp_step_invocations_total"}"#
        ),
        Some(2.0),
        "{text}"
    );
    rt.stop().await;
}
