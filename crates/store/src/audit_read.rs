//! Reading the audit chain: search, one entry, proofs from stored tree nodes (O(log n) rows), checkpoints, heads.

use std::collections::HashMap;

use cfp_audit::stored::{self, NodeId, Range};
use cfp_audit::tree::Hash;
use serde_json::{json, Value};
use sqlx::Row;

use crate::{Result, Store, StoreError};

/// A search of entries; every filter is optional. Results are newest first (`time, chain, seq` descending) after
/// `after`, as the control plane's search answers.
#[derive(Debug, Clone, Default)]
pub struct EntryQuery {
    pub chain: Option<String>,
    pub tenant: Option<String>,
    pub project: Option<String>,
    pub kind: Option<String>,
    pub actor: Option<String>,
    pub sid: Option<String>,
    /// `ok`, `denied`, `error`.
    pub status: Option<String>,
    pub request: Option<String>,
    /// RFC 3339 bounds, `from` inclusive, `to` exclusive.
    pub from: Option<String>,
    pub to: Option<String>,
    /// The cursor: the last `(time, chain, seq)` of the previous page (time as [`EntryRow::time`]).
    pub after: Option<(String, String, i64)>,
    pub limit: i64,
}

/// A stored entry: the entry itself (its leaf parsed), and its leaf hash.
#[derive(Debug, Clone)]
pub struct EntryRow {
    pub chain: String,
    pub seq: i64,
    pub leaf: String,
    pub leaf_hash: Hash,
    /// RFC 3339 UTC with microseconds.
    pub time: String,
}

impl EntryRow {
    pub fn to_json(&self) -> Value {
        json!({
            "chain": self.chain,
            "seq": self.seq,
            "leafHash": hex::encode(self.leaf_hash),
            "entry": serde_json::from_str::<Value>(&self.leaf).unwrap_or(Value::Null),
        })
    }
}

/// An entry's time to the microsecond (what a cursor needs to continue exactly).
const TIME: &str = "to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";

fn row_to_entry(r: &sqlx::postgres::PgRow) -> Result<EntryRow> {
    let hash: Vec<u8> = r.get(3);
    Ok(EntryRow {
        chain: r.get(0),
        seq: r.get(1),
        leaf: r.get(2),
        leaf_hash: hash
            .try_into()
            .map_err(|_| StoreError::Invalid("a stored leaf hash is not 32 bytes".into()))?,
        time: r.get(4),
    })
}

/// A proof read from stored tree nodes: its path, the roots asked for, and how many stored hashes it read.
#[derive(Debug, Clone)]
pub struct Proof {
    pub path: Vec<Hash>,
    pub roots: Vec<Hash>,
    pub rows_read: usize,
}

/// A chain's head and latest checkpoint.
#[derive(Debug, Clone)]
pub struct Head {
    pub size: u64,
    pub checkpoint_size: u64,
}

impl Store {
    pub async fn audit_search(&self, q: &EntryQuery) -> Result<Vec<EntryRow>> {
        let (after_time, after_chain, after_seq) = q
            .after
            .clone()
            .map_or((None, None, None), |(t, c, s)| (Some(t), Some(c), Some(s)));
        let rows = sqlx::query(&format!(
            "SELECT chain, seq, leaf, leaf_hash, {TIME} FROM audit_entries
              WHERE ($1::text IS NULL OR chain = $1)
                AND ($2::text IS NULL OR tenant_id = $2)
                AND ($3::text IS NULL OR project_id = $3)
                AND ($4::text IS NULL OR kind = $4)
                AND ($5::text IS NULL OR actor_id = $5)
                AND ($6::text IS NULL OR sid = $6)
                AND ($7::text IS NULL OR status = $7)
                AND ($8::text IS NULL OR request_id = $8)
                AND ($9::timestamptz IS NULL OR time >= $9::timestamptz)
                AND ($10::timestamptz IS NULL OR time < $10::timestamptz)
                AND ($11::timestamptz IS NULL OR (time, chain, seq) < ($11::timestamptz, $12::text, $13::int8))
              ORDER BY time DESC, chain DESC, seq DESC LIMIT $14"
        ))
        .bind(&q.chain)
        .bind(&q.tenant)
        .bind(&q.project)
        .bind(&q.kind)
        .bind(&q.actor)
        .bind(&q.sid)
        .bind(&q.status)
        .bind(&q.request)
        .bind(&q.from)
        .bind(&q.to)
        .bind(after_time)
        .bind(after_chain)
        .bind(after_seq)
        .bind(q.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_entry).collect()
    }

    pub async fn audit_entry(&self, chain: &str, seq: i64) -> Result<Option<EntryRow>> {
        let row = sqlx::query(&format!(
            "SELECT chain, seq, leaf, leaf_hash, {TIME} FROM audit_entries WHERE chain = $1 AND seq = $2"
        ))
        .bind(chain)
        .bind(seq)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(row_to_entry).transpose()
    }

    /// The entries of a chain from `from_seq` on, in order, at most `limit` (for verification and export).
    pub async fn audit_chain_page(&self, chain: &str, from_seq: i64, limit: i64) -> Result<Vec<EntryRow>> {
        let rows = sqlx::query(&format!(
            "SELECT chain, seq, leaf, leaf_hash, {TIME} FROM audit_entries WHERE chain = $1 AND seq >= $2
                  ORDER BY seq LIMIT $3"
        ))
        .bind(chain)
        .bind(from_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_entry).collect()
    }

    /// The stored tree nodes `ids` of a chain (leaf hashes for level 0, from the entry or, once it is pruned, from a
    /// level-0 node): two index lookups whatever their number.
    pub async fn audit_nodes(&self, chain: &str, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>> {
        let leaves: Vec<i64> = ids.iter().filter(|i| i.level == 0).map(|i| i.idx as i64).collect();
        let (mut levels, mut idxs): (Vec<i16>, Vec<i64>) = ids
            .iter()
            .filter(|i| i.level > 0)
            .map(|i| (i.level as i16, i.idx as i64))
            .unzip();
        let mut have = HashMap::with_capacity(ids.len());
        let hash = |h: Vec<u8>| -> Result<Hash> {
            h.try_into()
                .map_err(|_| StoreError::Invalid("a stored audit hash is not 32 bytes".into()))
        };
        if !leaves.is_empty() {
            let rows: Vec<(i64, Vec<u8>)> =
                sqlx::query_as("SELECT seq, leaf_hash FROM audit_entries WHERE chain = $1 AND seq = ANY($2)")
                    .bind(chain)
                    .bind(&leaves)
                    .fetch_all(&self.pool)
                    .await?;
            for (seq, h) in rows {
                have.insert(
                    NodeId {
                        level: 0,
                        idx: seq as u64,
                    },
                    hash(h)?,
                );
            }
            // a pruned entry's leaf hash is kept as a level-0 node (migration 0015)
            for &i in &leaves {
                let id = NodeId {
                    level: 0,
                    idx: i as u64,
                };
                if !have.contains_key(&id) {
                    levels.push(0);
                    idxs.push(i);
                }
            }
        }
        if !levels.is_empty() {
            let rows: Vec<(i16, i64, Vec<u8>)> = sqlx::query_as(
                "SELECT n.level, n.idx, n.hash FROM audit_nodes n
                   JOIN unnest($2::int2[], $3::int8[]) AS w(level, idx) ON w.level = n.level AND w.idx = n.idx
                  WHERE n.chain = $1",
            )
            .bind(chain)
            .bind(&levels)
            .bind(&idxs)
            .fetch_all(&self.pool)
            .await?;
            for (level, idx, h) in rows {
                have.insert(
                    NodeId {
                        level: level as u8,
                        idx: idx as u64,
                    },
                    hash(h)?,
                );
            }
        }
        Ok(have)
    }

    /// The hashes of `ranges` and the roots at `sizes`, from stored nodes.
    async fn audit_ranges(&self, chain: &str, ranges: &[Range], sizes: &[u64]) -> Result<Proof> {
        let all: Vec<Range> = ranges.iter().copied().chain(sizes.iter().map(|n| (0, *n))).collect();
        let have = self.audit_nodes(chain, &stored::wanted(&all)).await?;
        let missing = |e: cfp_audit::tree::ProofError| StoreError::Invalid(format!("audit chain {chain}: {e}"));
        let mut hashes = stored::hashes(&all, &have).map_err(missing)?;
        let roots = hashes.split_off(ranges.len());
        Ok(Proof {
            path: hashes,
            roots,
            rows_read: have.len(),
        })
    }

    /// The inclusion proof of entry `seq` in the chain's tree of `size` entries, and that tree's root (`roots[0]`).
    pub async fn audit_inclusion(&self, chain: &str, seq: u64, size: u64) -> Result<Proof> {
        let ranges = stored::inclusion_ranges(seq, size).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.audit_ranges(chain, &ranges, &[size]).await
    }

    /// The consistency proof between sizes `first` ≤ `second` of the chain's tree, and both roots (`roots`).
    pub async fn audit_consistency(&self, chain: &str, first: u64, second: u64) -> Result<Proof> {
        let ranges = stored::consistency_ranges(first, second).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.audit_ranges(chain, &ranges, &[first, second]).await
    }

    pub async fn audit_head(&self, chain: &str) -> Result<Option<Head>> {
        let row = sqlx::query("SELECT size, checkpoint_size FROM audit_heads WHERE chain = $1")
            .bind(chain)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| Head {
            size: r.get::<i64, _>(0) as u64,
            checkpoint_size: r.get::<i64, _>(1) as u64,
        }))
    }

    /// The chains of this database (`runtime:system` and one per tenant with entries).
    pub async fn audit_chains(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT chain FROM audit_heads ORDER BY chain")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Checkpoints of a chain with a size above `after`, oldest first (`{chain, size, root, note, keyName,
    /// createdAt}`, the control plane's shape).
    pub async fn audit_checkpoints(&self, chain: &str, after: i64, limit: i64) -> Result<Vec<Value>> {
        self.checkpoints_where(chain, "size > $2 ORDER BY size", after, limit)
            .await
    }

    /// Checkpoints of a chain with a size below `before`, newest first.
    pub async fn audit_checkpoints_before(&self, chain: &str, before: i64, limit: i64) -> Result<Vec<Value>> {
        self.checkpoints_where(chain, "size < $2 ORDER BY size DESC", before, limit)
            .await
    }

    async fn checkpoints_where(&self, chain: &str, cond: &str, bound: i64, limit: i64) -> Result<Vec<Value>> {
        let rows = sqlx::query(&format!(
            "SELECT size, root, note, key_name,
                    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')
               FROM audit_checkpoints WHERE chain = $1 AND {cond} LIMIT $3"
        ))
        .bind(chain)
        .bind(bound)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                json!({
                    "chain": chain,
                    "size": r.get::<i64, _>(0),
                    "root": hex::encode(r.get::<Vec<u8>, _>(1)),
                    "note": r.get::<String, _>(2),
                    "keyName": r.get::<String, _>(3),
                    "createdAt": r.get::<String, _>(4),
                })
            })
            .collect())
    }

    /// The signed note of the latest checkpoint of a chain at or below `size`.
    pub async fn audit_checkpoint_at_most(&self, chain: &str, size: i64) -> Result<Option<(i64, String)>> {
        let row = sqlx::query(
            "SELECT size, note FROM audit_checkpoints WHERE chain = $1 AND size <= $2 ORDER BY size DESC LIMIT 1",
        )
        .bind(chain)
        .bind(size)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }
}
