//! The runtime verifying its own audit chains (docs/audit.md, "The control plane anchors and verifies by itself"), the counterpart of the
//! control plane's `--audit-verify-interval`: one replica at a time (a transaction-level advisory lock of the
//! schema) reads every chain — entries in `seq` order, checkpoints, public keys and the latest pruning record, and
//! nothing derived (heads, stored tree nodes) — from one REPEATABLE READ snapshot, so a pruning or an append during
//! the run cannot look like a gap, checks it with [`cfp_audit::verify::ChainVerifier`] (the Rust implementation of
//! the spec's verifier, held to the shared vectors), and records the run in `audit_verifications` together with an
//! `audit.verify` entry in `runtime:system`, in the transaction that held the lock.

use std::time::{Duration, Instant};

use cfp_audit::verify::{ChainStart, ChainVerifier, Failure, Options, Stored};
use cfp_audit::{Actor, Event, PublicKey};
use serde_json::{json, Value};
use sqlx::{PgConnection, Row};

use crate::audit::audit_in;
use crate::{Result, Store};

/// Entries read per round trip: large enough to stream fast, small enough to keep memory flat.
const PAGE: i64 = 5_000;

/// One verification run over every chain of the schema.
#[derive(Debug, Clone)]
pub struct VerifyRun {
    pub chains: usize,
    /// Entries verified in intact chains (pruned entries are not counted).
    pub entries: u64,
    /// The first problem found (chains are verified in name order; every chain is verified even after one fails).
    pub failure: Option<Failure>,
    /// Chains that failed, in name order.
    pub failed: Vec<String>,
    pub duration: Duration,
}

impl VerifyRun {
    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }
}

/// Every chain with an entry, a checkpoint or a pruning record: a chain truncated to nothing still has its
/// checkpoints, and one pruned to nothing its record.
async fn chains(conn: &mut PgConnection) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT chain FROM (SELECT DISTINCT chain FROM audit_entries
                            UNION SELECT DISTINCT chain FROM audit_checkpoints
                            UNION SELECT DISTINCT chain FROM audit_prunes) c ORDER BY chain",
    )
    .fetch_all(conn)
    .await?)
}

async fn public_keys(conn: &mut PgConnection) -> Result<Vec<PublicKey>> {
    let rows = sqlx::query("SELECT name, public_key FROM audit_keys ORDER BY id")
        .fetch_all(conn)
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let key: Vec<u8> = r.get(1);
            // a key of another length cannot have signed anything: leaving it out makes its checkpoints fail
            Some(PublicKey {
                name: r.get(0),
                key: key.try_into().ok()?,
            })
        })
        .collect())
}

/// The latest pruning record of a chain, as where its stored entries begin. Not trusted: the verifier requires a
/// signed checkpoint of exactly that size to sign the record's frontier (`bad_prune` otherwise).
async fn pruned(conn: &mut PgConnection, chain: &str) -> Result<Option<ChainStart>> {
    let row = sqlx::query("SELECT size, frontier, prev FROM audit_prunes WHERE chain = $1 ORDER BY size DESC LIMIT 1")
        .bind(chain)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| {
        let frontier: Vec<u8> = r.get(1);
        let prev: Vec<u8> = r.get(2);
        ChainStart {
            size: r.get::<i64, _>(0) as u64,
            frontier: frontier.chunks(32).map(hex::encode).collect(),
            prev: hex::encode(prev),
        }
    }))
}

/// Verifies one chain read through `conn` (which should hold a snapshot): `Ok(Err(failure))` when it does not
/// verify, `Err` when the database could not be read.
pub async fn verify_chain_in(
    conn: &mut PgConnection,
    chain: &str,
    keys: &[PublicKey],
) -> Result<std::result::Result<cfp_audit::verify::Verified, Failure>> {
    let notes: Vec<String> = sqlx::query_scalar("SELECT note FROM audit_checkpoints WHERE chain = $1 ORDER BY size")
        .bind(chain)
        .fetch_all(&mut *conn)
        .await?;
    let start = pruned(&mut *conn, chain).await?;
    let start_at = start.clone();
    let opts = Options {
        pruned: start.is_some(),
        start: start.clone(),
        ..Options::default()
    };
    let mut v = match ChainVerifier::new(chain, &notes, keys, opts) {
        Ok(v) => v,
        Err(f) => return Ok(Err(f)),
    };
    let mut after = start.map_or(-1, |s| s.size as i64 - 1);
    loop {
        let rows = sqlx::query(
            "SELECT seq, leaf, leaf_hash FROM audit_entries WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(chain)
        .bind(after)
        .bind(PAGE)
        .fetch_all(&mut *conn)
        .await?;
        let full = rows.len() as i64 == PAGE;
        let last_seq: Option<i64> = rows.last().map(|r| r.get(0));
        let batch: Vec<Stored> = rows
            .iter()
            .map(|r| Stored {
                leaf: r.get(1),
                leaf_hash: Some(hex::encode(r.get::<Vec<u8>, _>(2))),
            })
            .collect();
        // parsing, the RFC 8785 re-check and the leaf hashes run on the machine's cores, off the executor
        let (back, pushed) = tokio::task::spawn_blocking(move || {
            let r = v.push_all(batch);
            (v, r)
        })
        .await
        .map_err(|e| crate::StoreError::Invalid(format!("the verification thread failed: {e}")))?;
        v = back;
        if let Err(f) = pushed {
            return Ok(Err(f));
        }
        match last_seq {
            Some(last) if full => after = last,
            _ => break,
        }
    }
    let verified = v.finish();
    if let (Ok(_), Some(start)) = (&verified, &start_at) {
        if let Some((from, size)) = unrecorded_prune(&mut *conn, chain).await? {
            return Ok(Err(Failure {
                chain: chain.to_string(),
                seq: start.size.saturating_sub(1),
                finding: cfp_audit::Finding::BadPrune,
                detail: format!(
                    "the pruning record of {chain} [{from}, {size}) has no audit.pruned entry in the chain: entries were removed without the plane's pruning"
                ),
            }));
        }
    }
    Ok(verified)
}

fn records_pruning(e: &Value, chain: &str, from: i64, size: i64) -> bool {
    e["kind"] == "audit.pruned"
        && e["details"]["chain"] == chain
        && e["details"]["from"] == from
        && e["details"]["size"] == size
}

/// The latest pruning record `(from, size)` of `chain` when it has no `audit.pruned` entry (same chain, `from` and
/// `size`) at or after `size` in the chain, nor in the outbox (written in the pruning's own transaction); `None`
/// when it has one. The plane's pruning commits the record and its entry together, so a record without one was
/// made behind the plane. Only the latest record is checked (the one verification starts from): an earlier
/// record's entry may lie in a range pruned since. The same rule as `unrecordedPrune` in packages/audit-verify.
async fn unrecorded_prune(conn: &mut PgConnection, chain: &str) -> Result<Option<(i64, i64)>> {
    let Some(r) = sqlx::query("SELECT from_seq, size FROM audit_prunes WHERE chain = $1 ORDER BY size DESC LIMIT 1")
        .bind(chain)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let (from, size): (i64, i64) = (r.get(0), r.get(1));
    let leaves: Vec<String> = sqlx::query_scalar(
        "SELECT leaf FROM audit_entries WHERE chain = $1 AND seq >= $2 AND kind = 'audit.pruned' ORDER BY seq",
    )
    .bind(chain)
    .bind(size)
    .fetch_all(&mut *conn)
    .await?;
    let parse = |t: &str| serde_json::from_str::<Value>(t).unwrap_or(Value::Null);
    if leaves.iter().any(|l| records_pruning(&parse(l), chain, from, size)) {
        return Ok(None);
    }
    let queued: Vec<String> = sqlx::query_scalar(
        "SELECT event::text FROM audit_queue WHERE chain = $1 AND event::text LIKE '%audit.pruned%'",
    )
    .bind(chain)
    .fetch_all(&mut *conn)
    .await?;
    if queued.iter().any(|q| records_pruning(&parse(q), chain, from, size)) {
        return Ok(None);
    }
    Ok(Some((from, size)))
}

/// Verifies every chain through `conn`.
pub async fn verify_all_in(conn: &mut PgConnection) -> Result<VerifyRun> {
    let started = Instant::now();
    let keys = public_keys(&mut *conn).await?;
    let names = chains(&mut *conn).await?;
    let mut run = VerifyRun {
        chains: names.len(),
        entries: 0,
        failure: None,
        failed: Vec::new(),
        duration: Duration::ZERO,
    };
    for chain in &names {
        match verify_chain_in(&mut *conn, chain, &keys).await? {
            Ok(v) => run.entries += v.size - v.from,
            Err(f) => {
                run.failed.push(chain.clone());
                run.failure.get_or_insert(f);
            }
        }
    }
    run.duration = started.elapsed();
    Ok(run)
}

impl Store {
    /// One verification turn by `actor` (the system for scheduled runs): `Ok(None)` when another replica holds the
    /// turn. The run, its row and its `audit.verify` entry commit together; a run that could not read the database
    /// records nothing.
    pub async fn audit_verify_turn(&self, actor: Actor) -> Result<Option<VerifyRun>> {
        let mut tx = self.pool.begin().await?;
        // one snapshot for every read: an append or a pruning during the run cannot look like a gap
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .execute(&mut *tx)
            .await?;
        let got: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || ':cfp-audit-verify'))")
                .fetch_one(&mut *tx)
                .await?;
        if !got {
            return Ok(None);
        }
        let run = verify_all_in(&mut tx).await?;
        let f = run.failure.as_ref();
        sqlx::query(
            "INSERT INTO audit_verifications (ok, chains, entries, chain, seq, finding, detail, duration_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(run.ok())
        .bind(run.chains as i32)
        .bind(run.entries as i64)
        .bind(f.map(|f| f.chain.clone()))
        .bind(f.map(|f| f.seq as i64))
        .bind(f.map(|f| f.finding.as_str()))
        .bind(f.map(|f| truncate(&f.detail, 2000)))
        .bind(run.duration.as_millis().min(i32::MAX as u128) as i32)
        .execute(&mut *tx)
        .await?;
        audit_in(&mut tx, &verify_event(&run, actor)).await?;
        tx.commit().await?;
        self.wake_audit().await;
        Ok(Some(run))
    }

    /// The last verification run (`{createdAt, ok, chains, entries, chain, seq, finding, detail, durationMs}`, the
    /// control plane's shape), if any.
    pub async fn audit_last_verification(&self) -> Result<Option<Value>> {
        let row = sqlx::query(
            "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), ok, chains, entries,
                    chain, seq, finding, detail, duration_ms
               FROM audit_verifications ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| {
            json!({
                "createdAt": r.get::<String, _>(0),
                "ok": r.get::<bool, _>(1),
                "chains": r.get::<i32, _>(2),
                "entries": r.get::<i64, _>(3),
                "chain": r.get::<Option<String>, _>(4),
                "seq": r.get::<Option<i64>, _>(5),
                "finding": r.get::<Option<String>, _>(6),
                "detail": r.get::<Option<String>, _>(7),
                "durationMs": r.get::<i32, _>(8),
            })
        }))
    }

    /// The last anchor this runtime recorded (`{createdAt, digest, checkpoints, object}` from its `audit.anchor`
    /// entry in `runtime:system`), if any.
    pub async fn audit_last_anchor(&self) -> Result<Option<Value>> {
        let row = sqlx::query(
            "SELECT to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), leaf FROM audit_entries
              WHERE chain = 'runtime:system' AND kind = 'audit.anchor' ORDER BY seq DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| {
            let leaf: Value = serde_json::from_str(&r.get::<String, _>(1)).unwrap_or(Value::Null);
            let d = &leaf["details"];
            json!({
                "createdAt": r.get::<String, _>(0),
                "digest": d["digest"],
                "checkpoints": d["checkpoints"],
                "object": d["object"],
            })
        }))
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The run's `audit.verify` entry (docs/audit-events.md): outcome `error` with the finding as code when it failed.
fn verify_event(run: &VerifyRun, actor: Actor) -> Event {
    let mut e = Event::new("audit.verify", actor);
    e.target = Some(("system".into(), None));
    let f = run.failure.as_ref();
    if let Some(f) = f {
        e.status = "error";
        e.code = Some(f.finding.as_str().to_string());
    }
    e.details.insert("chains".into(), json!(run.chains));
    e.details.insert("entries".into(), json!(run.entries));
    e.details.insert("finding".into(), json!(f.map(|f| f.finding.as_str())));
    e.details.insert("chain".into(), json!(f.map(|f| f.chain.clone())));
    e.details.insert("seq".into(), json!(f.map(|f| f.seq)));
    e
}
