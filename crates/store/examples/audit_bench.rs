//! Audit append throughput against plain INSERTs of the same rows, in one run (`bench/audit.mjs` runs it):
//! 100 tenants × 8 writers, then one hot tenant with 800 writers. Appends/s counts entries sealed into their
//! chains (queued by the writers, sequenced gap-free, checkpoints signed), measured until the queue is empty;
//! the plain side inserts rows of the same shape into a table with audit_entries' columns and indexes.
//!
//! `cargo run --release -p cfp-store --example audit_bench -- [rows per writer]` (CFP_TEST_DATABASE_URL).

use std::sync::Arc;
use std::time::{Duration, Instant};

use cfp_audit::{Actor, Event};
use cfp_store::audit::{run_sequencer, AuditOptions, KeySource};
use cfp_store::{Payloads, Store, StoreOptions};

fn event(tenant: usize, writer: usize, i: usize) -> Event {
    let mut e = Event::new("state.write", Actor::system());
    e.tenant = Some(format!("t{tenant}"));
    e.project = Some("p1".into());
    e.target = Some(("state".into(), Some(format!("g/{writer}-{i}"))));
    e.addr = Some("127.0.0.1".into());
    e.details.insert("group".into(), "g".into());
    e.details.insert("key".into(), format!("{writer}-{i}").into());
    e.details.insert("bytes".into(), 42.into());
    e
}

async fn plain(store: &Store, writers: usize, tenants: usize, per: usize) -> f64 {
    sqlx::query("TRUNCATE bench_plain").execute(store.pool()).await.unwrap();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let tenant = w % tenants;
            for i in 0..per {
                let e = event(tenant, w, i).to_json().to_string();
                let hash = cfp_audit::tree::leaf_hash(e.as_bytes());
                sqlx::query(
                    "INSERT INTO bench_plain (chain, seq, leaf, leaf_hash, time, kind, actor_type, tenant_id, project_id, status)
                     VALUES ($1, $2, $3, $4, now(), 'state.write', 'system', $5, 'p1', 'ok')",
                )
                .bind(format!("runtime:t{tenant}"))
                .bind((w * 1_000_000 + i) as i64)
                .bind(&e)
                .bind(hash.as_slice())
                .bind(format!("t{tenant}"))
                .execute(store.pool())
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (writers * per) as f64 / start.elapsed().as_secs_f64()
}

async fn audited(store: &Store, writers: usize, tenants: usize, per: usize) -> f64 {
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_entries")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let tenant = w % tenants;
            for i in 0..per {
                store.audit(&event(tenant, w, i)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let want = before + (writers * per) as i64;
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_entries")
            .fetch_one(store.pool())
            .await
            .unwrap();
        if n >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (writers * per) as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let per: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let url =
        std::env::var("CFP_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("bench_audit_{}", std::process::id());
    let store = Store::connect(
        &StoreOptions {
            database_url: url,
            schema: schema.clone(),
            max_connections: 32,
            payload_threshold: 1 << 20,
            acquire_timeout: Duration::from_secs(30),
        },
        Payloads::memory(),
    )
    .await
    .expect("PostgreSQL");
    sqlx::query("CREATE TABLE bench_plain (LIKE audit_entries INCLUDING DEFAULTS INCLUDING INDEXES)")
        .execute(store.pool())
        .await
        .unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let opts = AuditOptions {
        key: KeySource::Ephemeral,
        ..Default::default()
    };
    let sequencer = tokio::spawn(run_sequencer(store.clone(), opts, rx));
    let results = Arc::new(std::sync::Mutex::new(Vec::new()));
    for (name, writers, tenants) in [
        ("100 tenants x 8 writers", 800, 100),
        ("one hot tenant, 800 writers", 800, 1),
    ] {
        // warm-up, then plain and audited alternately (twice), best of each
        audited(&store, 64, tenants, 5).await;
        let (mut p, mut a) = (0f64, 0f64);
        for _ in 0..2 {
            p = p.max(plain(&store, writers, tenants, per).await);
            a = a.max(audited(&store, writers, tenants, per).await);
        }
        println!(
            "{name}: audited {a:.0} appends/s, plain {p:.0} inserts/s, ratio {:.2}",
            a / p
        );
        results.lock().unwrap().push(serde_json::json!({"case": name, "appends_per_s": a.round(), "plain_per_s": p.round(), "ratio": (a / p * 100.0).round() / 100.0}));
    }
    stop.send(true).unwrap();
    sequencer.await.unwrap();
    // the chains are intact
    for chain in ["runtime:t0", "runtime:t99"] {
        let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM audit_entries WHERE chain = $1 ORDER BY seq")
            .bind(chain)
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert!(
            seqs.iter().enumerate().all(|(i, s)| *s == i as i64),
            "{chain} has a gap"
        );
    }
    println!("{}", serde_json::json!({"audit": *results.lock().unwrap()}));
    sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .execute(store.pool())
        .await
        .ok();
}
