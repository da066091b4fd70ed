//! Motia's plugin endpoints: `/__motia/state…` answered with plugin-states' shapes, and every `/__motia/…` route
//! (these and the API steps a plugin registers) gated as a diagnostic endpoint.

#![allow(clippy::field_reassign_with_default)]

mod common;

use std::sync::Arc;

use common::*;
use serde_json::{json, Value};

const AUTH: (&str, &str) = ("authorization", "Bearer test-admin-token-0123456789");
const JSON: (&str, &str) = ("content-type", "application/json");

fn plugin_steps() -> Value {
    json!([
        {"name": "plugin p: GET /__motia/p/health", "type": "api", "file": "plugins/p.js", "method": "GET", "path": "/__motia/p/health", "emits": [], "flows": ["_plugin"]},
        {"name": "Ok", "type": "api", "file": "steps/ok.js", "method": "GET", "path": "/ok", "emits": []},
    ])
}

fn plugin_handlers() -> std::collections::HashMap<String, Handler> {
    let ok: Handler = Arc::new(|_: &Value| json!({"ok": true, "output": {"status": 200, "body": {"ok": true}}}));
    handlers(vec![("plugin p: GET /__motia/p/health", ok.clone()), ("Ok", ok)])
}

#[tokio::test]
async fn state_endpoints_answer_as_motia_plugin_states() {
    let mut opts = RuntimeOptions::default();
    opts.gateway.dev_endpoints = true;
    let rt = start(opts).await;
    let scope = cfp_store::Scope::new("default", "default");
    rt.store
        .state_set(&scope, "todos", "t2", &json!({"title": "Ship it"}))
        .await
        .unwrap();
    rt.store
        .state_set(&scope, "todos", "t1", &json!({"title": "Write docs"}))
        .await
        .unwrap();
    rt.store.state_set(&scope, "counts", "n", &json!(3)).await.unwrap();
    rt.store.state_set(&scope, "other", "s", &json!("text")).await.unwrap();

    let all = http(rt.addr, "GET", "/__motia/state", &[AUTH], b"").await;
    assert_eq!(all.status, 200);
    assert_eq!(
        all.json(),
        json!([
            {"groupId": "counts", "key": "n", "type": "number", "value": 3},
            {"groupId": "other", "key": "s", "type": "string", "value": "text"},
            {"groupId": "todos", "key": "t1", "type": "object", "value": {"title": "Write docs"}},
            {"groupId": "todos", "key": "t2", "type": "object", "value": {"title": "Ship it"}},
        ])
    );
    let group = http(rt.addr, "GET", "/__motia/state?groupId=todos", &[AUTH], b"")
        .await
        .json();
    assert_eq!(group.as_array().unwrap().len(), 2);
    assert_eq!(group[0]["key"], "t1");
    let none = http(rt.addr, "GET", "/__motia/state?groupId=missing", &[AUTH], b"").await;
    assert_eq!((none.status, none.json()), (200, json!([])));

    let keys = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["key"].as_str().unwrap().to_string())
            .collect()
    };
    let filter = |f: Value| format!("/__motia/state?groupId=todos&filter={}", urlencode(&f.to_string()));
    let f = filter(json!([{"valueKey": "title", "operation": "startsWith", "value": "Ship"}]));
    assert_eq!(keys(http(rt.addr, "GET", &f, &[AUTH], b"").await.json()), ["t2"]);
    let f = filter(json!([{"valueKey": "key", "operation": "eq", "value": "t1"}]));
    assert_eq!(keys(http(rt.addr, "GET", &f, &[AUTH], b"").await.json()), ["t1"]);
    let f = filter(
        json!([{"valueKey": "title", "operation": "notContains", "value": "docs"}, {"valueKey": "title", "operation": "isNotNull", "value": ""}]),
    );
    assert_eq!(keys(http(rt.addr, "GET", &f, &[AUTH], b"").await.json()), ["t2"]);
    let bad = http(
        rt.addr,
        "GET",
        &filter(json!([{"valueKey": "title", "operation": "like"}])),
        &[AUTH],
        b"",
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["code"], "invalid_query");

    let set = http(
        rt.addr,
        "POST",
        "/__motia/state",
        &[AUTH, JSON],
        br#"{"key":"k","groupId":"g","value":{"a":1}}"#,
    )
    .await;
    assert_eq!(set.status, 200);
    assert_eq!(set.json(), json!({"key": "k", "groupId": "g", "value": {"a": 1}}));
    assert_eq!(
        rt.store.state_get(&scope, "g", "k").await.unwrap(),
        Some(json!({"a": 1}))
    );
    let del = http(
        rt.addr,
        "POST",
        "/__motia/state/delete",
        &[AUTH, JSON],
        br#"{"ids":["g:k","todos:t1","todos:absent"]}"#,
    )
    .await;
    assert_eq!(del.status, 204);
    assert_eq!(rt.store.state_get(&scope, "g", "k").await.unwrap(), None);
    assert_eq!(rt.store.state_get(&scope, "todos", "t1").await.unwrap(), None);
    let bad = http(
        rt.addr,
        "POST",
        "/__motia/state/delete",
        &[AUTH, JSON],
        br#"{"ids":["no-colon"]}"#,
    )
    .await;
    assert_eq!(bad.status, 400);
    rt.stop().await;
}

#[tokio::test]
async fn motia_routes_are_off_unless_dev_endpoints_are_on() {
    let rt = start(RuntimeOptions::default()).await;
    let (w, _) = FakeWorker::connect(&rt.ws_url(), TOKEN, plugin_steps(), plugin_handlers()).await;
    for (method, path, body) in [
        ("GET", "/__motia/state?groupId=todos", &b""[..]),
        ("POST", "/__motia/state", &br#"{"key":"k","groupId":"g","value":1}"#[..]),
        ("POST", "/__motia/state/delete", &br#"{"ids":["g:k"]}"#[..]),
        ("GET", "/__motia/p/health", &b""[..]),
    ] {
        let r = http(rt.addr, method, path, &[AUTH, JSON], body).await;
        assert_eq!(r.status, 403, "{method} {path} with dev endpoints off");
        assert_eq!(r.json()["error"]["code"], "dev_endpoint_disabled");
    }
    assert!(
        w.invocations_of("plugin p: GET /__motia/p/health").is_empty(),
        "the plugin never ran"
    );
    // Other API steps of the same worker are served as usual.
    let ok = http(rt.addr, "GET", "/ok", &[AUTH], b"").await;
    assert_eq!(ok.status, 200);
    let scope = cfp_store::Scope::new("default", "default");
    assert_eq!(rt.store.state_get(&scope, "g", "k").await.unwrap(), None);
    rt.stop().await;
}

#[tokio::test]
async fn motia_routes_need_a_credential_when_on() {
    let mut opts = RuntimeOptions::default();
    opts.gateway.dev_endpoints = true;
    let rt = start(opts).await;
    let (w, _) = FakeWorker::connect(&rt.ws_url(), TOKEN, plugin_steps(), plugin_handlers()).await;
    for (method, path) in [("GET", "/__motia/state"), ("GET", "/__motia/p/health")] {
        let r = http(rt.addr, method, path, &[], b"").await;
        assert_eq!(r.status, 401, "{method} {path} without credentials");
        let r = http(rt.addr, method, path, &[("authorization", "Bearer wrong-token")], b"").await;
        assert_eq!(r.status, 401, "{method} {path} with a wrong token");
    }
    assert!(w.invocations_of("plugin p: GET /__motia/p/health").is_empty());
    let r = http(rt.addr, "GET", "/__motia/p/health", &[AUTH], b"").await;
    assert_eq!((r.status, r.json()), (200, json!({"ok": true})));
    rt.stop().await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
