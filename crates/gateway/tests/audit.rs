//! The runtime's audit chain end to end: actions through the runtime API and worker registrations are recorded,
//! no secret reaches an entry, entries come with inclusion proofs, checkpoints and consistency proofs verify
//! against the published keys, and malformed requests get 400 naming the parameter.

#![allow(clippy::field_reassign_with_default)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use cfp_audit::note::{verify_note, PublicKey};
use cfp_audit::tree::{verify_consistency, verify_inclusion, Hash};
use common::*;
use serde_json::{json, Value};

fn h(s: &Value) -> Hash {
    hex::decode(s.as_str().unwrap()).unwrap().try_into().unwrap()
}

fn path(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(h).collect()
}

async fn get(rt: &Runtime, p: &str) -> HttpResponse {
    http(rt.addr, "GET", p, &[("authorization", &format!("Bearer {ADMIN}"))], b"").await
}

async fn all_entries(rt: &Runtime) -> Vec<Value> {
    let r = get(rt, "/__cfp/api/audit/entries?limit=1000").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["items"].as_array().unwrap().clone()
}

async fn wait_for(rt: &Runtime, kinds: &[&str]) -> Vec<Value> {
    for _ in 0..200 {
        let entries = all_entries(rt).await;
        if kinds
            .iter()
            .all(|k| entries.iter().any(|e| e["entry"]["kind"] == json!(k)))
        {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("audit entries {kinds:?} did not appear: {:#?}", all_entries(rt).await);
}

#[tokio::test]
async fn runtime_actions_are_recorded_proven_and_signed_without_secrets() {
    let mut opts = RuntimeOptions::default();
    opts.gateway.dev_endpoints = true;
    opts.engine.audit = Some(cfp_store::audit::AuditOptions {
        checkpoint_every: 3,
        checkpoint_interval: Duration::from_millis(200),
        poll: Duration::from_millis(50),
        ..Default::default()
    });
    let rt = start(opts).await;
    let auth = format!("Bearer {ADMIN}");
    let json_headers = [("authorization", auth.as_str()), ("content-type", "application/json")];

    let (_w, registered) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        json!([event_step("Sink", &["audited"], &[], json!(null))]),
        HashMap::new(),
    )
    .await;
    assert_eq!(registered["type"], "registered", "{registered}");
    let secret = "s3cr3t-state-value-never-logged";
    let body = json!({"topic": "audited", "data": {"password": secret}}).to_string();
    let r = http(rt.addr, "POST", "/__cfp/api/emit", &json_headers, body.as_bytes()).await;
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let body = json!({"token": secret}).to_string();
    let r = http(rt.addr, "PUT", "/__cfp/api/state/g1/k1", &json_headers, body.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = http(rt.addr, "DELETE", "/__cfp/api/state/g1/k1", &json_headers, b"").await;
    assert_eq!(r.status, 200);

    let entries = wait_for(&rt, &["worker.register", "event.emit", "state.write", "state.delete"]).await;
    let text = serde_json::to_string(&entries).unwrap();
    assert!(!text.contains(secret), "a secret reached the audit log");
    assert!(
        !text.contains(ADMIN) && !text.contains(TOKEN),
        "a credential reached the audit log"
    );
    let reg = entries
        .iter()
        .find(|e| e["entry"]["kind"] == "worker.register")
        .unwrap();
    assert_eq!(reg["entry"]["details"]["manifest_hash"].as_str().unwrap().len(), 64);
    assert_eq!(reg["entry"]["actor"]["auth"], "worker_token");
    let write = entries.iter().find(|e| e["entry"]["kind"] == "state.write").unwrap();
    assert_eq!(write["chain"], "runtime:default");
    assert_eq!(write["entry"]["actor"]["type"], "service");
    assert_eq!(write["entry"]["details"]["key"], "k1");

    // the latest checkpoint verifies with the published key, and its consistency proofs and inclusion proofs hold
    // checkpoints come newest first; wait until the latest covers the whole chain
    let mut checkpoints = Vec::new();
    for _ in 0..100 {
        let c = get(&rt, "/__cfp/api/audit/checkpoints?chain=runtime:default")
            .await
            .json();
        checkpoints = c["items"].as_array().unwrap().clone();
        let size = all_entries(&rt)
            .await
            .iter()
            .filter(|e| e["chain"] == "runtime:default")
            .count() as u64;
        if checkpoints.first().is_some_and(|l| l["size"] == json!(size)) && size >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let keys: Vec<PublicKey> = get(&rt, "/__cfp/api/audit/keys").await.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| PublicKey::parse(k["verifierKey"].as_str().unwrap()).unwrap())
        .collect();
    let last = checkpoints.first().expect("a checkpoint");
    assert_eq!(last["keyName"].as_str(), Some(keys[0].name.as_str()));
    let signed = verify_note(last["note"].as_str().unwrap(), &keys).unwrap();
    assert_eq!(signed.origin, "cfp-audit/runtime:default");
    let size = signed.size;
    let first = checkpoints.last().unwrap()["size"].as_u64().unwrap();
    let c = get(
        &rt,
        &format!("/__cfp/api/audit/consistency?chain=runtime:default&first={first}&second={size}"),
    )
    .await;
    assert_eq!(c.status, 200, "{}", String::from_utf8_lossy(&c.body));
    let c = c.json();
    assert_eq!(h(&c["secondRoot"]), signed.root);
    assert!(verify_consistency(
        first,
        size,
        &h(&c["firstRoot"]),
        &signed.root,
        &path(&c["path"])
    ));
    for seq in 0..size {
        let e = get(
            &rt,
            &format!("/__cfp/api/audit/entries/runtime:default/{seq}?tree_size={size}"),
        )
        .await;
        assert_eq!(e.status, 200, "{}", String::from_utf8_lossy(&e.body));
        let e = e.json();
        let leaf = cfp_audit::tree::leaf_hash(cfp_audit::canonicalize(&e["entry"]).unwrap().as_bytes());
        assert_eq!(leaf, h(&e["leafHash"]));
        assert_eq!(
            e["leaf"].as_str(),
            Some(cfp_audit::canonicalize(&e["entry"]).unwrap().as_str())
        );
        assert!(
            verify_inclusion(&leaf, seq, size, &path(&e["proof"]["path"]), &signed.root),
            "seq {seq}"
        );
        assert_eq!(h(&e["root"]), signed.root);
        assert_eq!(
            e["checkpoint"]["note"], last["note"],
            "seq {seq}: proven in the signed checkpoint"
        );
    }

    // bad requests name the parameter
    for (q, param) in [
        ("/__cfp/api/audit/entries?limit=0", "`limit`"),
        ("/__cfp/api/audit/entries?from=yesterday", "`from`"),
        ("/__cfp/api/audit/entries?outcome=maybe", "`outcome`"),
        ("/__cfp/api/audit/entries?cursor=nope", "`cursor`"),
        ("/__cfp/api/audit/entries?colour=red", "`colour`"),
        ("/__cfp/api/audit/entries?chain=a%20b", "`chain`"),
        ("/__cfp/api/audit/consistency?first=2", "`second`"),
        ("/__cfp/api/audit/consistency?first=3&second=2", "`first`"),
        (
            "/__cfp/api/audit/entries/runtime:default/0?tree_size=999999",
            "`tree_size`",
        ),
    ] {
        let r = get(&rt, q).await;
        assert_eq!(r.status, 400, "{q}");
        let body = r.json();
        assert_eq!(body["error"]["code"], "invalid_query", "{q}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(param),
            "{q}: {body}"
        );
    }
    let r = get(&rt, "/__cfp/api/audit/entries/runtime:default/x").await;
    assert_eq!(r.status, 400);
    let r = get(&rt, "/__cfp/api/audit/entries/runtime:default/999999").await;
    assert_eq!(r.status, 404);
    // the cursor pages through everything exactly once
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = get(
            &rt,
            &format!("/__cfp/api/audit/entries?chain=runtime:default&limit=2{cursor}"),
        )
        .await
        .json();
        for e in r["items"].as_array().unwrap() {
            seen.push(e["seq"].as_i64().unwrap());
        }
        match r["next"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    // newest first
    assert_eq!(seen, (0..seen.len() as i64).rev().collect::<Vec<_>>());
    // without a credential: 401
    let r = http(rt.addr, "GET", "/__cfp/api/audit/entries", &[], b"").await;
    assert_eq!(r.status, 401);
    rt.stop().await;
}
