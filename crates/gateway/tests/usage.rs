//! Usage metering through a running runtime (docs/usage.md): exact counts under retries and worker loss,
//! refusals counted, read through `GET /__cfp/api/usage`; and tenant isolation of that route against project
//! credentials (a fake control plane issues the API keys).

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cfp_store::queue::NewEvent;
use cfp_store::Scope;
use common::control_plane::{api_key, project, FakeControlPlane};
use common::*;
use serde_json::{json, Value};

async fn usage(rt: &Runtime, query: &str, auth: (&str, &str)) -> (u16, Value) {
    let r = http(rt.addr, "GET", &format!("/__cfp/api/usage{query}"), &[auth], b"").await;
    (r.status, r.json())
}

fn admin() -> (&'static str, String) {
    ("authorization", format!("Bearer {ADMIN}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_exact_under_retries_and_worker_loss_and_counts_refusals() {
    let mut opts = RuntimeOptions::default();
    opts.gateway.body_limit = 1024;
    let rt = start(opts).await;
    let flaky = Arc::new(AtomicU32::new(0));
    let f = flaky.clone();
    let fail = || json!({"ok": false, "error": {"message": "nope"}});
    let steps = json!([
        api_step("Hello", "POST", "/hello", &[]),
        event_step("Good", &["good"], &[], json!({})),
        // fails twice, then succeeds: one invocation of three attempts
        event_step("Flaky", &["flaky"], &[], json!({"queue": {"maxRetries": 2}})),
        event_step("Hang", &["hang"], &[], json!({"queue": {"maxRetries": 0}})),
    ]);
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
            (
                "Flaky",
                Arc::new(move |_: &Value| {
                    if f.fetch_add(1, Ordering::SeqCst) < 2 {
                        fail()
                    } else {
                        json!({"ok": true})
                    }
                }),
            ),
            ("Hang", Arc::new(|_: &Value| json!({"never": true}))),
        ]),
    )
    .await;
    assert_eq!(registered["type"], "registered", "{registered}");
    let scope = Scope::new("default", "default");
    for topic in ["good", "flaky"] {
        rt.engine
            .emit(&scope, topic, json!({}), None, "trace".into())
            .await
            .unwrap();
    }
    let (name, value) = admin();
    assert_eq!(
        http(rt.addr, "POST", "/hello", &[(name, &value)], b"{}").await.status,
        200
    );
    let big = vec![b'x'; 2048];
    assert_eq!(
        http(rt.addr, "POST", "/hello", &[(name, &value)], &big).await.status,
        413
    );
    assert!(
        eventually(15, || flaky.load(Ordering::SeqCst) == 3).await,
        "Flaky ran three times"
    );
    // Worker loss: the invocation in flight when the worker goes away is one (dead-lettered) invocation.
    rt.engine
        .emit(&scope, "hang", json!({}), None, "trace".into())
        .await
        .unwrap();
    assert!(eventually(10, || !w.invocations_of("Hang").is_empty()).await);
    w.kill();

    // The maintenance loop folds and flushes every 5 s. The API call is an invocation (and an attempt) too.
    let expected = json!({
        "invocations": 4, "attempts": 6, "events": 3, "payloadBytes": 6,
        "streamMessages": 0, "refused413": 1, "refused429": 0, "refused504": 0
    });
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut last = Value::Null;
    while tokio::time::Instant::now() < until {
        let (status, body) = usage(&rt, "?granularity=hour", (name, &value)).await;
        assert_eq!(status, 200, "{body}");
        last = body["totals"].clone();
        if last["invocations"] == 4 && last["refused413"] == 1 && last["attempts"] == 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(&last[k], v, "{k} in {last}");
    }
    // A little later nothing more has been counted (each delivery once), and days agree with hours.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (_, hours) = usage(&rt, "", (name, &value)).await;
    let (_, days) = usage(&rt, "?granularity=day", (name, &value)).await;
    assert_eq!(hours["totals"], last);
    assert_eq!(days["totals"], last);
    assert_eq!(days["granularity"], "day");
    rt.stop().await;
}

const VIEWER_P1: &str = "cfp_live_usage0001_0123456789abcdef0123456789abcdef0123";
const ADMIN_P1: &str = "cfp_live_usage0002_0123456789abcdef0123456789abcdef0123";
const EDITOR_P1: &str = "cfp_live_usage0003_0123456789abcdef0123456789abcdef0123";

/// The control plane: three projects of two tenants, and keys of p1 with three roles.
fn control_plane() -> FakeControlPlane {
    FakeControlPlane::new(vec![
        project("t1", "tm1", "p1", "one"),
        project("t1", "tm1", "p2", "two"),
        project("t2", "tm2", "p3", "three"),
    ])
    .with_key(
        VIEWER_P1,
        api_key("key-project_viewer", "t1", "tm1", "p1", "project_viewer"),
    )
    .with_key(
        ADMIN_P1,
        api_key("key-project_admin", "t1", "tm1", "p1", "project_admin"),
    )
    .with_key(
        EDITOR_P1,
        api_key("key-project_editor", "t1", "tm1", "p1", "project_editor"),
    )
}

fn events(n: usize) -> Vec<NewEvent> {
    (0..n)
        .map(|_| NewEvent {
            event_id: uuid::Uuid::new_v4(),
            topic: "t".into(),
            data: json!({}),
            group_id: None,
            trace_id: "trace".into(),
            traceparent: None,
            tracestate: None,
        })
        .collect()
}

/// A project's credential reads its project's usage and nothing else: not its tenant's, not a sibling
/// project's, not another tenant's; an editor key reads none; bad parameters are named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_credential_never_sees_another_projects_or_its_tenants_usage() {
    let (control, _stop) = control_plane().start_control(Duration::from_secs(5)).await;
    let mut opts = RuntimeOptions::default();
    opts.gateway.control = Some(control);
    let rt = start(opts).await;
    // Events published with no subscriber are counted: 1 in p1, 2 in p2 (same tenant), 4 in p3 (t2).
    for (t, p, n) in [("t1", "p1", 1), ("t1", "p2", 2), ("t2", "p3", 4)] {
        rt.store.publish(&Scope::new(t, p), &events(n)).await.unwrap();
    }
    while rt.store.roll_up(100).await.unwrap() > 0 {}

    let viewer = ("x-api-key", VIEWER_P1);
    let (s, own) = usage(&rt, "", viewer).await;
    assert_eq!(
        (s, own["project"].as_str(), own["totals"]["events"].as_i64()),
        (200, Some("p1"), Some(1)),
        "{own}"
    );
    let (s, _) = usage(&rt, "?scope=project&granularity=day", ("x-api-key", ADMIN_P1)).await;
    assert_eq!(s, 200);
    // a sibling project, another tenant's project: as if they did not exist
    for q in ["?project=p2", "?project=p3"] {
        let (s, body) = usage(&rt, q, viewer).await;
        assert_eq!(s, 404, "{q}: {body}");
    }
    // its own tenant: forbidden (project credentials never read tenant totals); another tenant: not found
    for key in [VIEWER_P1, ADMIN_P1] {
        let (s, body) = usage(&rt, "?scope=tenant", ("x-api-key", key)).await;
        assert_eq!((s, body["error"]["code"].as_str()), (403, Some("forbidden")), "{body}");
        let (s, _) = usage(&rt, "?scope=tenant&tenant=t1", ("x-api-key", key)).await;
        assert_eq!(s, 403);
        let (s, body) = usage(&rt, "?scope=tenant&tenant=t2", ("x-api-key", key)).await;
        assert_eq!(s, 404, "{body}");
        assert!(!body.to_string().contains("\"events\""), "{body}");
    }
    // an editor is not granted usage.read
    let (s, _) = usage(&rt, "", ("x-api-key", EDITOR_P1)).await;
    assert_eq!(s, 403);
    // the operator reads tenants: t1 sums p1 and p2 only
    let (name, value) = admin();
    let (s, t1) = usage(&rt, "?scope=tenant&tenant=t1", (name, &value)).await;
    assert_eq!(
        (s, t1["totals"]["events"].as_i64(), t1["scope"].as_str()),
        (200, Some(3), Some("tenant")),
        "{t1}"
    );
    let (_, p2) = usage(&rt, "?project=p2", (name, &value)).await;
    assert_eq!(p2["totals"]["events"], 2);
    // bad parameters: 400 naming the parameter
    for (q, field) in [
        ("?granularity=week", "`granularity`"),
        ("?scope=org", "`scope`"),
        ("?from=yesterday", "`from`"),
        ("?to=soon", "`to`"),
        ("?from=2000&to=1000", "`from`"),
        ("?granularity=hour&from=0&to=86400000000", "`from`"),
        ("?tenant=t1", "`tenant`"),
    ] {
        let (s, body) = usage(&rt, q, viewer).await;
        assert_eq!(s, 400, "{q}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{q}: {message}");
    }
    rt.stop().await;
}
