//! Plugin tabs and node components (`register.ui`): listed by `GET /__cfp/api/ui`, served as sandbox documents,
//! behind the workbench's credential; a UI whose scripts are not keyed by their SHA-256 is dropped whole.

mod common;

use std::collections::HashMap;

use common::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const AUTH: (&str, &str) = ("authorization", "Bearer test-admin-token-0123456789");

fn register_with_ui(code: &str, key: &str) -> Value {
    json!({
        "type": "register",
        "steps": [api_step("Hello", "GET", "/hello", &[])],
        "ui": {
            "tabs": [{"plugin": "p", "label": "Probe", "position": "top", "bundle": key}],
            "nodes": [{"step": "Hello", "file": "steps/Hello.step.tsx", "bundle": key}],
            "bundles": {key: code}
        }
    })
}

async fn ui(rt: &Runtime) -> Value {
    http(rt.addr, "GET", "/__cfp/api/ui", &[AUTH], b"").await.json()
}

#[tokio::test]
async fn registered_ui_is_listed_and_served_sandboxed() {
    let rt = start(RuntimeOptions::default()).await;
    let (mut w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        json!([api_step("Hello", "GET", "/hello", &[])]),
        HashMap::new(),
    )
    .await;
    let code = "document.body.textContent = '</script><b>x</b>'";
    let key = hex::encode(Sha256::digest(code.as_bytes()));
    w.send(register_with_ui(code, &key));
    w.expect("registered").await;
    let listed = ui(&rt).await;
    assert_eq!(listed["tabs"][0]["label"], "Probe");
    assert_eq!(listed["nodes"]["Hello"]["bundle"], key.as_str());

    let doc = http(rt.addr, "GET", &format!("/__cfp/api/ui/bundles/{key}"), &[AUTH], b"").await;
    assert_eq!(doc.status, 200);
    let csp = &doc.headers["content-security-policy"];
    assert!(csp.starts_with("sandbox allow-scripts; default-src 'none'"), "{csp}");
    assert!(!csp.contains("allow-same-origin"));
    let body = String::from_utf8(doc.body.clone()).unwrap();
    assert_eq!(
        body.matches("</script>").count(),
        1,
        "the script cannot end its element: {body}"
    );

    // Behind the workbench's credential.
    let anon = http(rt.addr, "GET", &format!("/__cfp/api/ui/bundles/{key}"), &[], b"").await;
    assert_eq!(anon.status, 401);
    assert_eq!(http(rt.addr, "GET", "/__cfp/api/ui", &[], b"").await.status, 401);
    let missing = http(
        rt.addr,
        "GET",
        &format!("/__cfp/api/ui/bundles/{}", "0".repeat(64)),
        &[AUTH],
        b"",
    )
    .await;
    assert_eq!(missing.status, 404);

    // A forged key (not the SHA-256 of its script): the UI is dropped, the steps stay registered.
    w.send(register_with_ui("alert(1)", &key));
    w.expect("registered").await;
    assert_eq!(ui(&rt).await, json!({"tabs": [], "nodes": {}}));
    let steps = http(rt.addr, "GET", "/__cfp/api/steps", &[AUTH], b"").await.json();
    assert_eq!(steps["steps"][0]["name"], "Hello");

    // Gone with the worker.
    w.send(register_with_ui(code, &key));
    w.expect("registered").await;
    assert_eq!(ui(&rt).await["tabs"].as_array().unwrap().len(), 1);
    w.kill();
    let mut gone = false;
    for _ in 0..100 {
        if ui(&rt).await["tabs"].as_array().is_some_and(|t| t.is_empty()) {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(gone, "the UI went with its worker");
    rt.stop().await;
}
