//! A real Prometheus (Debian package `prometheus`) scrapes a running runtime's `/metrics` with the metrics token
//! and evaluates the rules `cfp slo rules` prints for the runtime's SLOs (docs/slo.md "Prometheus"): the step
//! that fails half its attempts fires `CFPStepSLOBurn`, the healthy one does not, and the recorded bad ratio is
//! what the traffic was. Everything is checked through Prometheus' HTTP API.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cfp_engine::slo::{BurnRule, SloPolicy};
use common::*;
use serde_json::{json, Value};

const METRICS_TOKEN: &str = "metrics-token-for-prometheus-0123";

fn escape(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn prometheus_scrapes_the_runtime_and_the_generated_rules_fire_for_the_burning_step_only() {
    let Some(prometheus) = tool(
        PathBuf::from("/usr/bin/prometheus"),
        "run scripts/setup.sh: it installs the Debian package prometheus",
    ) else {
        return;
    };
    let cli = repo_root().join("node_modules/.bin/cfp");
    let Some(cli) = tool(cli, "run scripts/setup.sh: it builds the CLI") else {
        return;
    };

    // A policy Prometheus can show within seconds: 2x burn over 2 min and 1 min, at least 5 attempts.
    let mut opts = RuntimeOptions::default();
    opts.gateway.metrics_token = Some(METRICS_TOKEN.into());
    opts.gateway.dev_endpoints = true;
    opts.engine.slo = Some(SloPolicy {
        rules: vec![BurnRule {
            name: "fast".into(),
            severity: "page".into(),
            long_secs: 120,
            short_secs: 60,
            factor: 2.0,
            for_secs: 0,
        }],
        min_events: 5,
        interval: Duration::from_secs(30),
    });
    let rt = start(opts).await;
    let slo = json!({"errors": {"target": 0.9}});
    let mut pay = event_step("Pay", &["pay"], &[], json!({"queue": {"maxRetries": 0}}));
    pay["slo"] = slo.clone();
    let mut fine = event_step("Fine", &["fine"], &[], json!({"queue": {"maxRetries": 0}}));
    fine["slo"] = slo;
    let n = Arc::new(AtomicU32::new(0));
    let (worker, registered) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        json!([pay, fine]),
        handlers(vec![
            (
                "Pay",
                Arc::new(move |_: &Value| {
                    if n.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
                        json!({"ok": false, "error": {"message": "card declined"}})
                    } else {
                        json!({"ok": true})
                    }
                }),
            ),
            ("Fine", Arc::new(|_: &Value| json!({"ok": true}))),
        ]),
    )
    .await;
    assert_eq!(registered["steps"], json!(["Pay", "Fine"]), "{registered}");

    // The rules, as a user gets them.
    // On the blocking pool: the CLI calls this test's runtime, served by this thread.
    let url = format!("http://{}", rt.addr);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(&cli)
            .args(["slo", "rules"])
            .env("CFP_URL", url)
            .env("CFP_TOKEN", ADMIN)
            .output()
    })
    .await
    .unwrap()
    .expect("run cfp slo rules");
    let rules = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && rules.contains("CFPStepSLOBurn"),
        "{rules}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dir = std::env::temp_dir().join(format!("cfp-prom-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("rules.yml"), &rules).unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nscrape_configs:\n  \
             - job_name: cfp\n    metrics_path: /metrics\n    authorization:\n      credentials: {METRICS_TOKEN}\n    \
             static_configs:\n      - targets: ['{}']\n",
            rt.addr
        ),
    )
    .unwrap();
    let (prom, port) = spawn_server(|port| {
        let mut c = std::process::Command::new(&prometheus);
        c.current_dir(&dir)
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    })
    .await;
    let prom_addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let query = |q: String| async move {
        let r = http(
            prom_addr,
            "GET",
            &format!("/api/v1/query?query={}", escape(&q)),
            &[],
            b"",
        )
        .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()["data"]["result"].clone()
    };

    // Traffic until the alert fires (or 45 s pass): ten events a step every 250 ms.
    let until = tokio::time::Instant::now() + Duration::from_secs(45);
    let mut firing = Vec::new();
    let mut i = 0;
    while tokio::time::Instant::now() < until {
        for topic in ["pay", "fine"] {
            for _ in 0..10 {
                i += 1;
                let body = json!({"topic": topic, "data": {"i": i}}).to_string();
                let r = http(
                    rt.addr,
                    "POST",
                    "/__cfp/api/emit",
                    &[
                        ("authorization", &format!("Bearer {ADMIN}")),
                        ("content-type", "application/json"),
                    ],
                    body.as_bytes(),
                )
                .await;
                assert_eq!(r.status, 202);
            }
        }
        let alerts = query(r#"ALERTS{alertname="CFPStepSLOBurn",alertstate="firing"}"#.into()).await;
        firing = alerts.as_array().cloned().unwrap_or_default();
        if !firing.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        query(r#"up{job="cfp"}"#.into()).await[0]["value"][1],
        "1",
        "the scrape with the metrics token works"
    );
    assert_eq!(firing.len(), 1, "one alert, for Pay: {firing:?}");
    let labels = &firing[0]["metric"];
    assert_eq!(
        (
            &labels["step"],
            &labels["sli"],
            &labels["slo_rule"],
            &labels["severity"]
        ),
        (&json!("Pay"), &json!("errors"), &json!("fast"), &json!("page"))
    );
    let ratio = query(r#"cfp_slo:bad_ratio:rate1m{step="Pay",sli="errors"}"#.into()).await;
    let r: f64 = ratio[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!((0.3..=0.7).contains(&r), "half of Pay's attempts fail: {r}");
    // Fine's ratio is recorded once Prometheus has two of its samples (it may lag Pay's alert by a scrape).
    let mut fine = Value::Null;
    for _ in 0..50 {
        fine = query(r#"cfp_slo:bad_ratio:rate1m{step="Fine",sli="errors"}"#.into()).await;
        if !fine[0]["value"][1].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(fine[0]["value"][1], "0", "{fine}");
    let all = query(r#"ALERTS{alertname="CFPStepSLOBurn"}"#.into()).await;
    assert!(
        all.as_array().unwrap().iter().all(|a| a["metric"]["step"] == "Pay"),
        "Fine never alerts: {all}"
    );
    assert!(worker.invocations_of("Pay").len() >= 5);
    drop(prom);
    rt.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}
