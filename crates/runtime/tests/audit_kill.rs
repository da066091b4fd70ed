//! SIGKILL of the runtime in the middle of a burst of audited actions (state writes, then emits, through the
//! runtime API): after a restart, every acknowledged change has its audit entry, every entry has its change, and the chain has
//! no gap (the outbox row commits with the change; the sequencer appends it whenever it runs next).

mod support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::database_url;

const ADMIN: &str = "audit-kill-admin-token-0123456789";

/// Starts the runtime on a port it picks ([`support::start_runtime`]).
fn spawn(schema: &str, data: &std::path::Path) -> (Child, u16) {
    support::start_runtime(
        Command::new(env!("CARGO_BIN_EXE_cfp-runtime"))
            .args(["--schema", schema, "--dev-endpoints=true"])
            .arg("--data-dir")
            .arg(data)
            .env("DATABASE_URL", database_url())
            .env("CFP_ADMIN_TOKEN", ADMIN)
            .stderr(Stdio::null()),
    )
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

/// 8 writers send `act(writer, i)` until the runtime is SIGKILLed 1.5 s in; returns what was acknowledged.
fn burst(rt: &mut Child, port: u16, act: fn(u16, usize, usize) -> Option<String>) -> BTreeSet<String> {
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
                    match act(port, w, i) {
                        Some(id) => {
                            acked.lock().unwrap().insert(id);
                        }
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
    assert!(
        acked.len() > 20,
        "the burst was under way: {} acknowledged",
        acked.len()
    );
    acked
}

/// The chain's entries of `kind` (`detail` of each, and their sequence numbers), once the restarted runtime's
/// sequencer has appended at least `want` of them (or 30 s passed).
fn entries(port: u16, kind: &str, detail: &str, want: usize) -> (Vec<i64>, BTreeSet<String>) {
    let start = Instant::now();
    loop {
        let (mut seqs, mut ids, mut cursor) = (Vec::new(), BTreeSet::new(), String::new());
        loop {
            let (status, body) = request(
                port,
                "GET",
                &format!("/__cfp/api/audit/entries?chain=runtime:default&kind={kind}&limit=1000{cursor}"),
                "",
            )
            .unwrap();
            assert_eq!(status, 200, "{body}");
            let page = json(&body);
            for e in page["items"].as_array().unwrap() {
                seqs.push(e["seq"].as_i64().unwrap());
                ids.insert(e["entry"]["details"][detail].as_str().unwrap().to_string());
            }
            match page["next"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => break,
            }
        }
        if ids.len() >= want || start.elapsed() > Duration::from_secs(30) {
            return (seqs, ids);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

async fn sql(statement: &str) {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(&database_url()).await.unwrap();
    sqlx::query(statement).execute(&mut c).await.unwrap();
}

fn drop_schema(schema: &str, data: &std::path::Path) {
    std::fs::remove_dir_all(data).ok();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(sql(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")));
}

/// The chain's entries are exactly `changes`, each once, numbered 0..n (they are the chain's only entries).
fn assert_entries_match(changes: &BTreeSet<String>, (seqs, ids): (Vec<i64>, BTreeSet<String>)) {
    assert_eq!(&ids, changes, "every change has its entry and every entry its change");
    assert_eq!(seqs.len(), ids.len(), "no duplicate entry");
    let mut seqs = seqs;
    seqs.sort_unstable(); // pages come newest first
    assert_eq!(seqs, (0..seqs.len() as i64).collect::<Vec<_>>(), "no gap");
}

#[test]
fn sigkill_during_a_burst_loses_no_audit_entry_and_leaves_no_gap() {
    let schema = format!("t_{}", uuid_like());
    let data = std::env::temp_dir().join(format!("cfp-audit-kill-{schema}"));
    let (mut rt, port) = spawn(&schema, &data);
    wait_healthy(port);
    let acked = burst(&mut rt, port, |port, w, i| {
        let key = format!("w{w}-{i}");
        match request(port, "PUT", &format!("/__cfp/api/state/g/{key}"), "{\"v\":1}")? {
            (200, _) => Some(key),
            (status, body) => panic!("{status}: {body}"),
        }
    });

    let (mut rt, port) = spawn(&schema, &data);
    wait_healthy(port);
    let (_, body) = request(port, "GET", "/__cfp/api/state/g", "").unwrap();
    let state: BTreeSet<String> = json(&body)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_string())
        .collect();
    assert!(acked.is_subset(&state), "every acknowledged write is there");
    let found = entries(port, "state.write", "key", state.len());
    eprintln!(
        "acknowledged before the kill: {}, changes after it: {}, entries: {}",
        acked.len(),
        state.len(),
        found.1.len()
    );
    assert_entries_match(&state, found);
    rt.kill().unwrap();
    rt.wait().unwrap();
    drop_schema(&schema, &data);
}

/// The same for emits through the runtime API: an event queued for its subscriber (a step row, so that an emit
/// leaves a row to count) has its `event.emit` entry, and every entry its queued event.
#[test]
fn sigkill_during_a_burst_of_emits_loses_no_audit_entry_and_leaves_no_gap() {
    let schema = format!("t_{}", uuid_like());
    let data = std::env::temp_dir().join(format!("cfp-audit-kill-{schema}"));
    let (mut rt, port) = spawn(&schema, &data);
    wait_healthy(port);
    // a subscriber of `job` with no worker: its queue rows stay where the emits put them
    tokio::runtime::Runtime::new().unwrap().block_on(sql(&format!(
        "INSERT INTO \"{schema}\".steps (tenant_id, project_id, name, kind, subscribes, manifest)
         VALUES ('default', 'default', 'Job', 'event', '[\"job\"]',
                 '{{\"name\": \"Job\", \"type\": \"event\", \"subscribes\": [\"job\"], \"emits\": []}}')"
    )));
    let acked = burst(&mut rt, port, |port, w, i| {
        let body = format!("{{\"topic\":\"job\",\"data\":{{\"w\":{w},\"i\":{i}}}}}");
        match request(port, "POST", "/__cfp/api/emit", &body)? {
            (202, body) => Some(json(&body)["eventId"].as_str().unwrap().to_string()),
            (status, body) => panic!("{status}: {body}"),
        }
    });

    let (mut rt, port) = spawn(&schema, &data);
    wait_healthy(port);
    let queued: BTreeSet<String> = tokio::runtime::Runtime::new().unwrap().block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&database_url()).await.unwrap();
        sqlx::query_scalar::<_, String>(&format!("SELECT event_id::text FROM \"{schema}\".queue"))
            .fetch_all(&mut c)
            .await
            .unwrap()
            .into_iter()
            .collect()
    });
    assert!(acked.is_subset(&queued), "every acknowledged emit is queued");
    let found = entries(port, "event.emit", "event_id", queued.len());
    eprintln!(
        "emits acknowledged before the kill: {}, queued after it: {}, entries: {}",
        acked.len(),
        queued.len(),
        found.1.len()
    );
    assert_entries_match(&queued, found);
    rt.kill().unwrap();
    rt.wait().unwrap();
    drop_schema(&schema, &data);
}

fn uuid_like() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("{:x}{:x}", t.as_nanos(), std::process::id())
}
