//! Delivery of SLO alert transitions (docs/slo.md "Delivery") through a running runtime whose evaluator runs on a
//! manual clock: a loopback webhook receiver checks the HMAC signature and gets every transition once, although
//! its first answers are 500 and the runtime delivering is killed mid-attempt (another one takes over when the
//! lease ends); a real SMTP server (Python `aiosmtpd`, from the venv `scripts/setup.sh` creates) receives the firing
//! and resolved mails; a real Alertmanager (Debian `prometheus-alertmanager`) shows the alert firing, then not.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use cfp_engine::alerts::AlertTargets;
use cfp_engine::clock::ManualClock;
use cfp_engine::slo::{BurnRule, SloPolicy};
use cfp_engine::{Engine, EngineConfig};
use cfp_store::rollups::{Granularity, Outcome, Rollup};
use cfp_store::Scope;
use common::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const MIN: i64 = 60_000;
const SECRET: &str = "alert-webhook-secret-0123456789";

/// One rule that fires at once when the last 10 minutes fail 50 % (a 50x burn of a 99 % SLO).
fn policy() -> SloPolicy {
    SloPolicy {
        rules: vec![BurnRule {
            name: "now".into(),
            severity: "page".into(),
            long_secs: 600,
            short_secs: 150,
            factor: 10.0,
            for_secs: 0,
        }],
        min_events: 10,
        interval: Duration::from_secs(30),
    }
}

/// Quick retries and short leases, so the test runs in seconds.
fn targets() -> AlertTargets {
    AlertTargets {
        timeout: Duration::from_secs(3),
        retry_base: Duration::from_millis(100),
        retry_cap: Duration::from_millis(500),
        poll: Duration::from_millis(100),
        resend: Duration::from_secs(1),
        link_base: Some("https://cfp.example".into()),
        ..Default::default()
    }
}

fn engine_config(clock: &ManualClock, targets: AlertTargets) -> EngineConfig {
    EngineConfig {
        clock: Arc::new(clock.clone()),
        slo: Some(policy()),
        alerts: Some(targets),
        ..RuntimeOptions::default().engine
    }
}

async fn runtime(clock: &ManualClock, targets: AlertTargets) -> Runtime {
    let rt = start(RuntimeOptions {
        engine: engine_config(clock, targets),
        ..Default::default()
    })
    .await;
    // Step `s` of the default project: a 99 % errors SLO, and ten minutes of 50 % failures before T0.
    let scope = Scope::new("default", "default");
    rt.store
        .set_slo_override(&scope, "s", Some(&json!({"errors": {"target": 0.99}})), "test")
        .await
        .unwrap();
    let rows: Vec<Rollup> = (1..=10)
        .map(|m| {
            let mut r = Rollup {
                step: "s".into(),
                start_ms: T0 - m * MIN,
                ..Default::default()
            };
            for i in 0..100 {
                r.add(if i < 50 { Outcome::HandlerError } else { Outcome::Ok }, Some(10.0));
            }
            r
        })
        .collect();
    rt.store.add_rollups(&scope, Granularity::Minute, rows).await.unwrap();
    rt
}

/// The next cycle (T0 + 30 s) opens the alert straight to firing: two transitions, pending and firing.
fn fire(clock: &ManualClock) {
    clock.advance(Duration::from_secs(30));
}

/// A cycle past the ten failing minutes resolves it.
fn resolve(clock: &ManualClock) {
    clock.advance(Duration::from_secs(700));
}

async fn deliveries(rt: &Runtime) -> Value {
    let r = http(
        rt.addr,
        "GET",
        "/__cfp/api/slo/alerts/deliveries",
        &[("authorization", &format!("Bearer {ADMIN}"))],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    r.json()
}

/// HMAC-SHA256 (RFC 2104), written out so the check does not reuse the runtime's code.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(msg).finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// Checks `X-CFP-Signature: t=<unix s>,v1=<hex>` as a receiver would (and that `t` is recent).
fn signature_ok(header: &str, body: &str) -> bool {
    let Some((t, v1)) = header.split_once(",v1=") else {
        return false;
    };
    let Some(t) = t.strip_prefix("t=").and_then(|t| t.parse::<u64>().ok()) else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mac = hmac_sha256(SECRET.as_bytes(), format!("{t}.{body}").as_bytes());
    now.abs_diff(t) < 300 && v1 == hex::encode(mac)
}

#[derive(Default)]
struct Receiver {
    /// Requests answered 500 before any is accepted.
    fail_next: usize,
    /// The next request is held unanswered (and reported here).
    hang_next: Option<tokio::sync::mpsc::UnboundedSender<String>>,
    /// (alert id header, state) of every request received, and of those accepted (answered 200).
    received: Vec<(String, String)>,
    accepted: Vec<(String, String)>,
    bad_signatures: usize,
    bodies: Vec<Value>,
}

async fn start_receiver(state: Arc<Mutex<Receiver>>) -> SocketAddr {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let state = state.clone();
            async move {
                let id = headers
                    .get("x-cfp-alert-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let doc: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let st = doc["state"].as_str().unwrap_or("").to_string();
                let hang = {
                    let mut s = state.lock().unwrap();
                    s.received.push((id.clone(), st.clone()));
                    let sig = headers
                        .get("x-cfp-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    if !signature_ok(sig, &body) {
                        s.bad_signatures += 1;
                        return StatusCode::UNAUTHORIZED;
                    }
                    if s.fail_next > 0 {
                        s.fail_next -= 1;
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    match s.hang_next.take() {
                        Some(tx) => Some(tx),
                        None => {
                            s.accepted.push((id.clone(), st));
                            s.bodies.push(doc);
                            None
                        }
                    }
                };
                if let Some(tx) = hang {
                    let _ = tx.send(id);
                    // Never answered in time: the runtime is killed meanwhile.
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    addr
}

async fn wait_for<F: FnMut() -> bool>(secs: u64, what: &str, f: F) {
    assert!(eventually(secs, f).await, "timed out waiting for {what}");
}

#[tokio::test]
async fn every_transition_reaches_the_webhook_once_signed_through_500s_and_a_killed_runtime() {
    let state = Arc::new(Mutex::new(Receiver {
        fail_next: 2,
        ..Default::default()
    }));
    let hook = start_receiver(state.clone()).await;
    let clock = ManualClock::at_millis(T0);
    let mut t = targets();
    t.webhook = Some(cfp_engine::alerts::webhook::WebhookTarget::new(&format!("http://{hook}/hook"), SECRET).unwrap());
    let rt = runtime(&clock, t.clone()).await;

    fire(&clock);
    wait_for(20, "pending and firing accepted", || {
        state.lock().unwrap().accepted.len() == 2
    })
    .await;
    {
        let s = state.lock().unwrap();
        let states: Vec<&str> = s.accepted.iter().map(|(_, st)| st.as_str()).collect();
        assert_eq!(states, ["pending", "firing"], "in order, each once");
        assert_eq!(s.received.len(), 4, "two 500s, then one request per transition");
        assert_eq!(s.bad_signatures, 0);
        let b = &s.bodies[1];
        assert_eq!(
            (
                &b["type"],
                &b["tenant"],
                &b["project"],
                &b["step"],
                &b["slo"],
                &b["rule"],
                &b["severity"]
            ),
            (
                &json!("slo.alert"),
                &json!("default"),
                &json!("default"),
                &json!("s"),
                &json!("errors"),
                &json!("now"),
                &json!("page")
            )
        );
        assert!((b["burnRates"]["long"].as_f64().unwrap() - 50.0).abs() < 1e-6, "{b}");
        assert_eq!(b["link"], "https://cfp.example/?project=default&view=slo&step=s");
    }
    // The retries are visible: attempts and the last error through the API, counted in /metrics; no secret.
    let d = deliveries(&rt).await;
    assert!(!d.to_string().contains(SECRET));
    let rows = d["deliveries"].as_array().unwrap();
    let first = rows
        .iter()
        .find(|r| r["attempts"] == 3)
        .expect("the delivery that met the 500s");
    assert_eq!(first["status"], "delivered");
    assert!(first["lastError"].as_str().unwrap().contains("500"), "{first}");
    let metrics = http(
        rt.addr,
        "GET",
        "/metrics",
        &[("authorization", &format!("Bearer {ADMIN}"))],
        b"",
    )
    .await;
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(
        text.contains(r#"cfp_alert_deliveries_total{target="webhook",outcome="retrying"} 2"#),
        "{text}"
    );
    assert!(text.contains(r#"cfp_alert_deliveries_total{target="webhook",outcome="delivered"} 2"#));

    // The resolve: the receiver holds the request and the runtime dies mid-attempt; a second runtime (another
    // instance on the same database) sends it again once the first one's lease has ended.
    let (tx, mut held) = tokio::sync::mpsc::unbounded_channel();
    state.lock().unwrap().hang_next = Some(tx);
    resolve(&clock);
    let held_id = tokio::time::timeout(Duration::from_secs(20), held.recv())
        .await
        .expect("the resolve was sent")
        .unwrap();
    rt.engine.shutdown(Duration::from_millis(200)).await;
    let second = Engine::start(rt.store.clone(), engine_config(&clock, t));
    wait_for(30, "the resolve accepted", || state.lock().unwrap().accepted.len() == 3).await;
    {
        let s = state.lock().unwrap();
        assert_eq!(s.accepted[2], (held_id.clone(), "resolved".to_string()));
        let ids: std::collections::BTreeSet<&String> = s.accepted.iter().map(|(id, _)| id).collect();
        assert_eq!(ids.len(), 3, "each transition accepted once");
    }
    let d = deliveries(&rt).await;
    let resolved = d["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["eventId"].as_i64().map(|i| i.to_string()).as_deref() == Some(held_id.as_str()))
        .cloned();
    assert_eq!(resolved.as_ref().map(|r| r["attempts"].clone()), Some(json!(2)), "{d}");
    second.shutdown(Duration::from_secs(2)).await;
    rt.stop().await;
}

#[tokio::test]
async fn firing_and_resolved_alerts_are_mailed_through_a_real_smtp_server() {
    let python = std::env::var_os("CFP_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/cfp-pyenv/bin/python"));
    let Some(python) = tool(python, "run scripts/setup.sh: it creates the venv with aiosmtpd") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("cfp-smtp-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (smtp, port) = spawn_server(|port| {
        let mut c = std::process::Command::new(&python);
        c.args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ])
        .arg(dir.join("mail"))
        .stdout(Stdio::null());
        c
    })
    .await;

    let clock = ManualClock::at_millis(T0);
    let mut t = targets();
    t.email = Some(
        cfp_engine::alerts::smtp::EmailTarget::new(
            &format!("smtp://127.0.0.1:{port}"),
            "cfp@example.com",
            "oncall@example.com,lead@example.com",
        )
        .unwrap(),
    );
    let rt = runtime(&clock, t).await;
    let mails = || -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(dir.join("mail/new")) else {
            return Vec::new();
        };
        let mut m: Vec<String> = rd
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .collect();
        m.sort_by_key(|s| s.contains("RESOLVED"));
        m
    };
    fire(&clock);
    wait_for(20, "the firing mail", || mails().len() == 1).await;
    resolve(&clock);
    wait_for(20, "the resolved mail", || mails().len() == 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let m = mails();
    assert_eq!(m.len(), 2, "pending is not mailed, firing and resolved once each");
    assert!(
        m[0].contains("Subject: [CFP page] FIRING errors SLO of default/s (now, default)"),
        "{}",
        m[0]
    );
    assert!(m[1].contains("RESOLVED errors SLO of default/s"), "{}", m[1]);
    for mail in &m {
        assert!(mail.contains("To: oncall@example.com, lead@example.com"), "{mail}");
        assert!(mail.contains("https://cfp.example/?project=default&view=slo&step=s"));
    }
    let d = deliveries(&rt).await;
    let statuses: Vec<&str> = d["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["delivered", "delivered", "skipped"],
        "newest first: resolved, firing, pending"
    );
    rt.stop().await;
    drop(smtp);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn alertmanager_shows_the_alert_firing_then_resolved() {
    let Some(bin) = tool(
        PathBuf::from("/usr/bin/prometheus-alertmanager"),
        "run scripts/setup.sh: it installs the Debian package prometheus-alertmanager",
    ) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("cfp-am-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("am.yml"),
        "route:\n  receiver: none\nreceivers:\n  - name: none\n",
    )
    .unwrap();
    let (am, port) = spawn_server(|port| {
        let mut c = std::process::Command::new(&bin);
        c.arg(format!("--config.file={}", dir.join("am.yml").display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    })
    .await;
    let am_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let ours = || async move {
        let r = http(am_addr, "GET", "/api/v2/alerts", &[], b"").await;
        assert_eq!(r.status, 200);
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["labels"]["alertname"] == "CFPStepSLOBurn")
            .cloned()
            .collect::<Vec<Value>>()
    };

    let clock = ManualClock::at_millis(T0);
    let mut t = targets();
    t.alertmanager =
        Some(cfp_engine::alerts::alertmanager::AlertmanagerTarget::new(&format!("http://{am_addr}")).unwrap());
    let rt = runtime(&clock, t).await;
    fire(&clock);
    let mut firing = Vec::new();
    for _ in 0..200 {
        firing = ours().await;
        if !firing.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(firing.len(), 1, "{firing:?}");
    let labels = &firing[0]["labels"];
    for (k, v) in [
        ("severity", "page"),
        ("tenant", "default"),
        ("project", "default"),
        ("step", "s"),
        ("slo", "errors"),
    ] {
        assert_eq!(labels[k], v, "{labels}");
    }
    assert_eq!(firing[0]["status"]["state"], "active");
    // Still firing after several resend periods (it would expire by its endsAt if not re-sent).
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(ours().await.len(), 1, "kept firing by the re-sends");
    resolve(&clock);
    let mut gone = false;
    for _ in 0..200 {
        // Alertmanager lists only unresolved alerts: a resolved one (endsAt passed) leaves the list.
        if ours().await.is_empty() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "resolved in Alertmanager");
    let d = deliveries(&rt).await;
    let statuses: Vec<&str> = d["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["delivered", "delivered", "skipped"]);
    rt.stop().await;
    drop(am);
    std::fs::remove_dir_all(&dir).ok();
}
