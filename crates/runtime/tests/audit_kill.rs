//! SIGKILL of the runtime in the middle of a burst of audited actions (state writes through the runtime API):
//! after a restart, every acknowledged change has its audit entry, every entry has its change, and the chain has
//! no gap (the outbox row commits with the change; the sequencer appends it whenever it runs next).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ADMIN: &str = "audit-kill-admin-token-0123456789";

fn database_url() -> String {
    std::env::var("CFP_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(port: u16, schema: &str, data: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cfp-runtime"))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--schema",
            schema,
            "--dev-endpoints=true",
        ])
        .arg("--data-dir")
        .arg(data)
        .env("DATABASE_URL", database_url())
        .env("CFP_ADMIN_TOKEN", ADMIN)
        .env_remove("CFP_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("runs")
}

/// One HTTP/1.1 request; `None` when the connection fails or breaks.
fn request(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\nauthorization: Bearer {ADMIN}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

fn json(body: &str) -> serde_json::Value {
    // chunked bodies: the JSON is the longest line starting with `{`
    body.lines()
        .filter(|l| l.starts_with('{'))
        .max_by_key(|l| l.len())
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON in {body}"))
}

fn wait_healthy(port: u16) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if request(port, "GET", "/__cfp/health", "").is_some_and(|(s, _)| s == 200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the runtime did not start");
}

#[test]
fn sigkill_during_a_burst_loses_no_audit_entry_and_leaves_no_gap() {
    let schema = format!("t_{}", uuid_like());
    let data = std::env::temp_dir().join(format!("cfp-audit-kill-{schema}"));
    let port = free_port();
    let mut rt = spawn(port, &schema, &data);
    wait_healthy(port);

    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (acked, stop) = (acked.clone(), stop.clone());
            std::thread::spawn(move || {
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let key = format!("w{w}-{i}");
                    match request(port, "PUT", &format!("/__cfp/api/state/g/{key}"), "{\"v\":1}") {
                        Some((200, _)) => {
                            acked.lock().unwrap().insert(key);
                        }
                        Some((status, body)) => panic!("{status}: {body}"),
                        None => return, // killed
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    rt.kill().unwrap(); // SIGKILL
    rt.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 20, "the burst was under way: {} writes", acked.len());

    let mut rt = spawn(port, &schema, &data);
    wait_healthy(port);
    let (_, body) = request(port, "GET", "/__cfp/api/state/g", "").unwrap();
    let state: BTreeSet<String> = json(&body)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_string())
        .collect();
    assert!(acked.is_subset(&state), "every acknowledged write is there");
    // the restarted runtime's sequencer appends what was queued
    let start = Instant::now();
    let (seqs, keys) = loop {
        let (mut seqs, mut keys, mut cursor) = (Vec::new(), BTreeSet::new(), String::new());
        loop {
            let (status, body) = request(
                port,
                "GET",
                &format!("/__cfp/api/audit/entries?chain=runtime:default&kind=state.write&limit=1000{cursor}"),
                "",
            )
            .unwrap();
            assert_eq!(status, 200, "{body}");
            let page = json(&body);
            for e in page["items"].as_array().unwrap() {
                seqs.push(e["seq"].as_i64().unwrap());
                keys.insert(e["entry"]["details"]["key"].as_str().unwrap().to_string());
            }
            match page["next"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => break,
            }
        }
        if keys.len() >= state.len() || start.elapsed() > Duration::from_secs(30) {
            break (seqs, keys);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!(
        "acknowledged before the kill: {}, changes after it: {}, entries: {}",
        acked.len(),
        state.len(),
        keys.len()
    );
    assert_eq!(keys, state, "every change has its entry and every entry its change");
    assert_eq!(seqs.len(), keys.len(), "no duplicate entry");
    let mut seqs = seqs;
    seqs.sort_unstable(); // pages come newest first
                          // state.write entries are the chain's only entries here (no worker, no emit), so they are 0..n
    assert_eq!(seqs, (0..seqs.len() as i64).collect::<Vec<_>>(), "no gap");
    rt.kill().unwrap();
    rt.wait().unwrap();
    std::fs::remove_dir_all(&data).ok();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&database_url()).await.unwrap();
        sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .execute(&mut c)
            .await
            .ok();
    });
}

fn uuid_like() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("{:x}{:x}", t.as_nanos(), std::process::id())
}
