//! Issue 9: a runtime following revocations must not turn a burst of revocations into a control-plane call per
//! held connection. Many `/live` feeds opened with one API key stay open while revocations of other users arrive
//! one after another (every one wakes every held connection); the fake control plane counts the credential
//! checks it answers. Then the key itself is revoked and every feed ends.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::control_plane::{api_key, project, FakeControlPlane};
use common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "cfp_live_burst0000_0123456789abcdef0123456789abcdef0123";
const FEEDS: usize = 40;

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
    let fake = FakeControlPlane::new(vec![project("t1", "tm1", "p1", "burst")])
        .with_key(KEY, api_key("key-1", "t1", "tm1", "p1", "project_viewer"));
    // A short credential cache, so that every wake after it would have to ask again were the key checked remotely.
    let (control, _stop) = fake.start_control(Duration::from_millis(300)).await;
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
