//! The runtime's audit chain in PostgreSQL: concurrent writers get a gap-free chain, the sequencer's crashes lose
//! nothing, the tables are append-only, a superuser's tampering behind the triggers is found, checkpoints verify,
//! and the project purge leaves audit tables alone.

use std::time::Duration;

use cfp_audit::verify::{verify_chain, Finding, Options, Stored};
use cfp_audit::{Actor, Event};
use cfp_store::audit::{run_sequencer, AuditOptions, KeySource};
use cfp_store::{Scope, Store};
use cfp_testkit::{drop_schema, fresh_store};

fn event(tenant: &str, writer: usize, i: usize) -> Event {
    let mut e = Event::new("state.write", Actor::system());
    e.tenant = Some(tenant.into());
    e.project = Some("p1".into());
    e.target = Some(("state".into(), Some(format!("g/{writer}-{i}"))));
    e.details.insert("group".into(), "g".into());
    e.details.insert("key".into(), format!("{writer}-{i}").into());
    e
}

async fn queued(store: &Store) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_queue")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

async fn drained(store: &Store) {
    for _ in 0..600 {
        if queued(store).await == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the audit queue was not drained");
}

async fn chain_entries(store: &Store, chain: &str) -> Vec<Stored> {
    let rows: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT leaf, leaf_hash FROM audit_entries WHERE chain = $1 ORDER BY seq")
            .bind(chain)
            .fetch_all(store.pool())
            .await
            .unwrap();
    rows.into_iter()
        .map(|(leaf, h)| Stored {
            leaf,
            leaf_hash: Some(hex::encode(h)),
        })
        .collect()
}

async fn verify(store: &Store, chain: &str) -> Result<cfp_audit::Verified, cfp_audit::Failure> {
    let notes: Vec<String> = store
        .audit_checkpoints(chain, -1, 100_000)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c["note"].as_str().unwrap().to_string())
        .collect();
    let keys: Vec<_> = store
        .audit_public_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.0)
        .collect();
    verify_chain(
        chain,
        chain_entries(store, chain).await,
        &notes,
        &keys,
        Options::default(),
    )
}

fn opts() -> AuditOptions {
    AuditOptions {
        key: KeySource::Ephemeral,
        checkpoint_every: 100,
        checkpoint_interval: Duration::from_millis(300),
        batch: 500,
        poll: Duration::from_millis(50),
    }
}

#[tokio::test]
async fn eight_concurrent_writers_get_a_gap_free_chain_that_verifies_with_its_checkpoints() {
    let (store, schema) = fresh_store(16).await;
    let (stop, rx) = tokio::sync::watch::channel(false);
    // Two sequencers on one database: the advisory lock lets one at a time append.
    let seq1 = tokio::spawn(run_sequencer(store.clone(), opts(), rx.clone()));
    let seq2 = tokio::spawn(run_sequencer(store.clone(), opts(), rx));
    let mut writers = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..150 {
                let tenant = if i % 10 == 0 { "t2" } else { "t1" };
                store.audit(&event(tenant, w, i)).await.unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    drained(&store).await;
    tokio::time::sleep(Duration::from_millis(700)).await; // the time-based checkpoint of the tail
    stop.send(true).unwrap();
    seq1.await.unwrap();
    seq2.await.unwrap();

    for (chain, n) in [("runtime:t1", 8 * 135), ("runtime:t2", 8 * 15)] {
        let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM audit_entries WHERE chain = $1 ORDER BY seq")
            .bind(chain)
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(seqs, (0..n as i64).collect::<Vec<_>>(), "{chain}: no gap, no duplicate");
        let ok = verify(&store, chain).await.unwrap_or_else(|f| panic!("{f}"));
        assert_eq!(ok.size, n as u64);
        assert_eq!(ok.checkpointed, n as u64, "{chain}: the tail is checkpointed");
        assert!(ok.checkpoints >= 2, "{chain}: checkpoints every 100 entries");
    }
    // every writer's every event is there exactly once
    let keys: i64 = sqlx::query_scalar("SELECT count(DISTINCT leaf::jsonb #>> '{target,id}') FROM audit_entries")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(keys, 8 * 150);
    drop_schema(store, &schema).await;
}

#[tokio::test]
async fn a_sequencer_killed_mid_transaction_loses_no_entry_and_leaves_no_gap() {
    let (store, schema) = fresh_store(16).await;
    let (stop, rx) = tokio::sync::watch::channel(false);
    let sequencer = tokio::spawn(run_sequencer(store.clone(), opts(), rx));
    let killing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let killer = {
        let (store, killing) = (store.clone(), killing.clone());
        let app_name = format!("cfp/{schema}");
        tokio::spawn(async move {
            let mut killed = 0i64;
            while killing.load(std::sync::atomic::Ordering::Relaxed) {
                // Only this test's store's connections (named by schema): other tests share the database.
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                      WHERE pid <> pg_backend_pid() AND datname = current_database() AND application_name = $1
                        AND (query LIKE 'INSERT INTO audit_entries%' OR query LIKE 'SELECT id, chain, event FROM audit_queue%'
                             OR query LIKE 'INSERT INTO audit_heads%')
                        AND state <> 'idle'",
                )
                .bind(&app_name)
                .fetch_one(store.pool())
                .await
                .unwrap_or(0);
                killed += n;
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            killed
        })
    };
    let mut writers = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..100 {
                store.audit(&event("t1", w, i)).await.unwrap();
                if i % 20 == 0 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    killing.store(false, std::sync::atomic::Ordering::Relaxed);
    let killed = killer.await.unwrap();
    drained(&store).await;
    stop.send(true).unwrap();
    sequencer.await.unwrap();
    eprintln!("sequencer transactions killed: {killed}");
    assert!(killed > 0, "the killer found this store's sequencer statements to kill");
    let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM audit_entries WHERE chain = 'runtime:t1' ORDER BY seq")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(seqs, (0..800).collect::<Vec<_>>());
    verify(&store, "runtime:t1").await.unwrap_or_else(|f| panic!("{f}"));
    drop_schema(store, &schema).await;
}

#[tokio::test]
async fn audit_tables_refuse_changes_and_tampering_behind_the_triggers_is_named() {
    let (store, schema) = fresh_store(16).await;
    for i in 0..12 {
        store.audit(&event("t1", 0, i)).await.unwrap();
    }
    assert_eq!(store.audit_sequence(1000).await.unwrap(), 12);
    let key = store.audit_key(&KeySource::Ephemeral).await.unwrap();
    let mut o = opts();
    o.checkpoint_every = 5;
    assert_eq!(store.audit_checkpoint_due(&key, &o).await.unwrap(), 1);
    assert_eq!(verify(&store, "runtime:t1").await.unwrap().checkpointed, 12);

    for sql in [
        "UPDATE audit_entries SET kind = 'x' WHERE seq = 3",
        "DELETE FROM audit_entries WHERE seq = 3",
        "TRUNCATE audit_entries",
        "UPDATE audit_checkpoints SET note = 'x'",
        "DELETE FROM audit_checkpoints",
        "TRUNCATE audit_checkpoints",
        "DELETE FROM audit_keys",
    ] {
        let err = sqlx::query(sql).execute(store.pool()).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }

    // A superuser disables the triggers and tampers; each change is named.
    sqlx::query("ALTER TABLE audit_entries DISABLE TRIGGER USER")
        .execute(store.pool())
        .await
        .unwrap();
    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query("UPDATE audit_entries SET leaf = replace(leaf, '\"key\":\"0-4\"', '\"key\":\"0-X\"') WHERE seq = 4")
        .execute(&mut *tx)
        .await
        .unwrap();
    let entries = {
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT leaf, leaf_hash FROM audit_entries WHERE chain = 'runtime:t1' ORDER BY seq")
                .fetch_all(&mut *tx)
                .await
                .unwrap();
        rows
    };
    tx.rollback().await.unwrap();
    let stored: Vec<Stored> = entries
        .into_iter()
        .map(|(leaf, h)| Stored {
            leaf,
            leaf_hash: Some(hex::encode(h)),
        })
        .collect();
    let f = verify_chain("runtime:t1", stored, &[], &[], Options::default()).unwrap_err();
    assert_eq!((f.seq, f.finding), (4, Finding::Edited));

    sqlx::query("DELETE FROM audit_entries WHERE chain = 'runtime:t1' AND seq = 7")
        .execute(store.pool())
        .await
        .unwrap();
    let f = verify(&store, "runtime:t1").await.unwrap_err();
    assert_eq!((f.seq, f.finding), (7, Finding::Missing), "{f}");
    sqlx::query("DELETE FROM audit_entries WHERE chain = 'runtime:t1' AND seq >= 7")
        .execute(store.pool())
        .await
        .unwrap();
    let f = verify(&store, "runtime:t1").await.unwrap_err();
    assert_eq!((f.seq, f.finding), (7, Finding::Truncated), "{f}");
    // the sequencer refuses to sign a checkpoint over entries changed since the last one
    for i in 0..3 {
        store.audit(&event("t1", 1, i)).await.unwrap();
    }
    assert_eq!(store.audit_sequence(1000).await.unwrap(), 3);
    sqlx::query("UPDATE audit_entries SET leaf_hash = sha256(leaf_hash) WHERE chain = 'runtime:t1' AND seq = 13")
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("ALTER TABLE audit_entries ENABLE TRIGGER USER")
        .execute(store.pool())
        .await
        .unwrap();
    o.checkpoint_every = 1;
    let err = store.audit_checkpoint_due(&key, &o).await.unwrap_err();
    assert!(err.to_string().contains("runtime:t1"), "{err}");
    drop_schema(store, &schema).await;
}

#[tokio::test]
async fn the_project_purge_leaves_audit_tables_alone() {
    let (store, schema) = fresh_store(16).await;
    let scope = Scope::new("t1", "p1");
    store.state_set(&scope, "g", "k", &serde_json::json!(1)).await.unwrap();
    store.audit(&event("t1", 0, 0)).await.unwrap();
    store.audit_sequence(100).await.unwrap();
    store.mark_project_deleted(&scope).await.unwrap();
    let purged = store.purge_due(Duration::ZERO, "rt-test").await.unwrap();
    assert_eq!(purged.len(), 1);
    assert!(store.state_get(&scope, "g", "k").await.unwrap().is_none());
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_entries WHERE project_id = 'p1'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(n, 1);
    verify(&store, "runtime:t1").await.unwrap();
    drop_schema(store, &schema).await;
}

#[tokio::test]
async fn the_audit_key_file_is_made_once_and_reused() {
    let (store, schema) = fresh_store(16).await;
    let dir = std::env::temp_dir().join(format!("cfp-audit-key-{}", uuid::Uuid::new_v4().simple()));
    let path = dir.join("audit-key.json");
    let a = store.audit_key(&KeySource::File(path.clone())).await.unwrap();
    let b = store.audit_key(&KeySource::File(path.clone())).await.unwrap();
    assert_eq!(a.public(), b.public());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let keys = store.audit_public_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].0.name.starts_with("cfp-audit-runtime-"));
    std::fs::remove_dir_all(dir).ok();
    drop_schema(store, &schema).await;
}
