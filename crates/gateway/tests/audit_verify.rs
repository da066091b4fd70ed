//! The runtime verifies its own audit chains (docs/audit.md "The control plane anchors and verifies by itself"): `POST
//! /__cfp/api/audit/verify` runs the verification the schedule runs, records it (`audit_verifications` and an
//! `audit.verify` entry naming the caller), and `GET /__cfp/api/audit/status` shows it; a row a superuser edited
//! behind the triggers is named (chain, seq, finding) and the failure recorded; both routes are the operator's.

#![allow(clippy::field_reassign_with_default)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

async fn call(rt: &Runtime, method: &str, p: &str) -> (u16, Value) {
    let r = http(
        rt.addr,
        method,
        p,
        &[("authorization", &format!("Bearer {ADMIN}"))],
        b"",
    )
    .await;
    (r.status, r.json())
}

async fn entries_of(rt: &Runtime, chain: &str, kind: &str) -> Vec<Value> {
    let (s, page) = call(
        rt,
        "GET",
        &format!("/__cfp/api/audit/entries?chain={chain}&kind={kind}&limit=100"),
    )
    .await;
    assert_eq!(s, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn the_runtime_verifies_its_chains_names_an_edited_row_and_records_each_run() {
    let mut opts = RuntimeOptions::default();
    opts.gateway.dev_endpoints = true;
    opts.engine.audit = Some(cfp_store::audit::AuditOptions {
        checkpoint_every: 2,
        checkpoint_interval: Duration::from_millis(100),
        poll: Duration::from_millis(30),
        ..Default::default()
    });
    let rt = start(opts).await;

    let (s, status) = call(&rt, "GET", "/__cfp/api/audit/status").await;
    assert_eq!(s, 200, "{status}");
    assert_eq!(
        status,
        json!({"anchoring": false, "lastAnchor": null, "lastVerification": null})
    );
    // credentials are needed, as for every route of the API
    let r = http(rt.addr, "GET", "/__cfp/api/audit/status", &[], b"").await;
    assert_eq!(r.status, 401);
    let r = http(rt.addr, "POST", "/__cfp/api/audit/verify", &[], b"").await;
    assert_eq!(r.status, 401);

    let headers = [
        ("authorization", format!("Bearer {ADMIN}")),
        ("content-type", "application/json".into()),
    ];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for k in ["k1", "k2", "k3", "k4"] {
        let r = http(
            rt.addr,
            "PUT",
            &format!("/__cfp/api/state/g/{k}"),
            &headers,
            br#"{"v":1}"#,
        )
        .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    let mut head = None;
    for _ in 0..200 {
        head = rt
            .store
            .audit_head("runtime:default")
            .await
            .unwrap()
            .map(|h| (h.size, h.checkpoint_size));
        if head == Some((4, 4)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        head,
        Some((4, 4)),
        "the four entries were not sequenced and checkpointed"
    );

    let (s, run) = call(&rt, "POST", "/__cfp/api/audit/verify").await;
    assert_eq!(s, 200, "{run}");
    assert_eq!(
        (run["ok"].as_bool(), run["finding"].as_str()),
        (Some(true), None),
        "{run}"
    );
    assert!(
        run["chains"].as_i64().unwrap() >= 1 && run["entries"].as_i64().unwrap() >= 4,
        "{run}"
    );
    let (_, status) = call(&rt, "GET", "/__cfp/api/audit/status").await;
    assert_eq!(status["lastVerification"], run);
    // the run is itself an entry of the system chain, by the caller
    let mut recorded = Vec::new();
    for _ in 0..100 {
        recorded = entries_of(&rt, "runtime:system", "audit.verify").await;
        if !recorded.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let e = &recorded.first().expect("no audit.verify entry")["entry"];
    assert_eq!(
        (e["outcome"]["status"].as_str(), e["actor"]["id"].as_str()),
        (Some("ok"), Some("admin")),
        "{e}"
    );

    // a superuser edits entry 1 behind the triggers: the next run names it, and records the failure
    let mut conn = rt.store.pool().acquire().await.unwrap();
    for sql in [
        "ALTER TABLE audit_entries DISABLE TRIGGER USER",
        "UPDATE audit_entries SET leaf = replace(leaf, '\"k2\"', '\"kX\"') WHERE chain = 'runtime:default' AND seq = 1",
        "ALTER TABLE audit_entries ENABLE TRIGGER USER",
    ] {
        sqlx::query(sql).execute(&mut *conn).await.unwrap();
    }
    drop(conn);
    let (s, run) = call(&rt, "POST", "/__cfp/api/audit/verify").await;
    assert_eq!(s, 200, "{run}");
    assert_eq!(
        (
            run["ok"].as_bool(),
            run["chain"].as_str(),
            run["seq"].as_i64(),
            run["finding"].as_str()
        ),
        (Some(false), Some("runtime:default"), Some(1), Some("edited")),
        "{run}"
    );
    assert!(!run["detail"].as_str().unwrap_or("").is_empty(), "{run}");
    let (_, status) = call(&rt, "GET", "/__cfp/api/audit/status").await;
    assert_eq!(status["lastVerification"]["finding"], "edited");
    let mut failed = None;
    for _ in 0..100 {
        failed = entries_of(&rt, "runtime:system", "audit.verify")
            .await
            .into_iter()
            .find(|i| i["entry"]["outcome"]["status"] == "error");
        if failed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let e = &failed.expect("the failed run has no entry")["entry"];
    assert_eq!(
        (
            e["outcome"]["code"].as_str(),
            e["details"]["chain"].as_str(),
            e["details"]["seq"].as_i64()
        ),
        (Some("edited"), Some("runtime:default"), Some(1)),
        "{e}"
    );
    // the record of runs is append-only
    let err = sqlx::query("DELETE FROM audit_verifications")
        .execute(rt.store.pool())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    rt.stop().await;
}
