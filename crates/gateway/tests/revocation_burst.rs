//! Issue 9: a runtime following revocations must not turn a burst of revocations into a control-plane call per
//! held connection. Many `/live` feeds opened with one API key stay open while revocations of other users arrive
//! one after another (every one wakes every held connection); the fake control plane counts the credential
//! checks it answers. Then the key itself is revoked and every feed ends.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::Json;
use common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "cfp_live_burst0000_0123456789abcdef0123456789abcdef0123";
const FEEDS: usize = 40;

#[derive(Clone, Default)]
struct Fake {
    verifications: Arc<AtomicUsize>,
    revocations: Arc<Mutex<Vec<Value>>>,
}

async fn verify(State(f): State<Fake>, Json(body): Json<Value>) -> Json<Value> {
    f.verifications.fetch_add(1, Ordering::SeqCst);
    if body["token"] != KEY {
        return Json(json!({"valid": false}));
    }
    Json(json!({"valid": true, "credential": {
        "id": "key-1", "kind": "api_key", "tenantId": "t1", "teamId": "tm1", "projectId": "p1",
        "region": "r", "role": "project_viewer", "expiresAt": "2100-01-01T00:00:00.000Z"}}))
}

/// The revocation feed: rows after `since`, long-polled (at most 1 s here).
async fn revocations(State(f): State<Fake>, Query(q): Query<std::collections::HashMap<String, String>>) -> Json<Value> {
    let since: usize = q.get("since").and_then(|s| s.parse().ok()).unwrap_or(0);
    let wait = q.get("wait").is_some_and(|w| w != "0");
    let until = Instant::now() + Duration::from_secs(1);
    loop {
        let rows = f.revocations.lock().unwrap().clone();
        if rows.len() > since || !wait || Instant::now() >= until {
            let items: Vec<Value> = rows.into_iter().skip(since).collect();
            return Json(json!({"version": since + items.len(), "items": items}));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn projects(Query(q): Query<std::collections::HashMap<String, String>>) -> Json<Value> {
    if q.get("since").is_some_and(|s| s != "0") {
        tokio::time::sleep(Duration::from_millis(500)).await;
        return Json(json!({"version": 1, "items": []}));
    }
    Json(json!({"version": 1, "items": [
        {"projectId": "p1", "tenantId": "t1", "teamId": "tm1", "slug": "burst", "version": 1}
    ]}))
}

async fn fake_control_plane(f: Fake) -> SocketAddr {
    let app = axum::Router::new()
        .route("/v1/service/credentials/verify", post(verify))
        .route("/v1/service/revocations", get(revocations))
        .route("/v1/service/projects", get(projects))
        .with_state(f);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Opens `/live` with the key and reads the response head; the stream is kept open.
async fn open_feed(addr: SocketAddr) -> tokio::net::TcpStream {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET /__cfp/api/live HTTP/1.1\r\nhost: {addr}\r\nx-api-key: {KEY}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).await.unwrap(), 1, "closed before the head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    s
}

/// Reads until the feed ends (its last chunk, or the connection closed); what it said.
async fn until_closed(mut s: tokio::net::TcpStream) -> String {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
        if all.ends_with(b"\r\n0\r\n\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&all).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_revocations_costs_no_control_plane_call_per_held_connection() {
    let fake = Fake::default();
    let cp = fake_control_plane(fake.clone()).await;
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let control = cfp_access::Control::start(
        cfp_access::ControlConfig {
            url: format!("http://{cp}"),
            issuer: format!("http://{cp}"),
            service_token: "service".into(),
            region: "r".into(),
            // short, so that every wake after it would have to ask again were the key checked remotely
            credential_cache: Duration::from_millis(300),
            settings_interval: Duration::from_secs(1),
            tls: None,
        },
        shutdown,
    );
    assert!(eventually(10, || control.ready()).await, "the runtime never synced");
    let mut opts = RuntimeOptions::default();
    opts.gateway.control = Some(control);
    let rt = start(opts).await;

    let mut feeds = Vec::new();
    for _ in 0..FEEDS {
        feeds.push(open_feed(rt.addr).await);
    }
    let opened = fake.verifications.load(Ordering::SeqCst);
    assert!(opened >= 1, "the key was checked at least once");
    tokio::time::sleep(Duration::from_millis(400)).await; // the positive answer is no longer cached

    // 30 revocations of other users, one after another: each wakes every feed
    for i in 0..30 {
        fake.revocations.lock().unwrap().push(json!({
            "kind": "user", "subject": format!("someone-{i}"), "issuedBefore": "2026-01-01T00:00:00Z",
            "expiresAt": "2100-01-01T00:00:00Z"
        }));
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = fake.verifications.load(Ordering::SeqCst) - opened;
    println!("{FEEDS} feeds, 30 revocations: {during} credential checks at the control plane (opening: {opened})");
    assert_eq!(
        during, 0,
        "a revocation burst must not fan out into calls per held connection"
    );

    // the key itself is revoked: every feed ends, within 5 s, still without asking
    let revoked = Instant::now();
    fake.revocations.lock().unwrap().push(json!({
        "kind": "credential", "subject": "key-1", "expiresAt": "2100-01-01T00:00:00Z"
    }));
    let ends = futures_util::future::join_all(feeds.into_iter().map(until_closed));
    let said = tokio::time::timeout(Duration::from_secs(5), ends)
        .await
        .expect("every feed ends within 5 s of the revocation");
    println!(
        "all {FEEDS} feeds ended {:?} after the key's revocation",
        revoked.elapsed()
    );
    assert!(
        said.iter().all(|s| s.contains("credential_ended")),
        "{:?}",
        said.first()
    );
    assert_eq!(fake.verifications.load(Ordering::SeqCst) - opened, 0);
    rt.stop().await;
}
