//! Reading the audit chain: search, one entry, leaf hashes for proofs, checkpoints, heads.

use cfp_audit::tree::Hash;
use serde_json::{json, Value};
use sqlx::Row;

use crate::{Result, Store, StoreError};

/// A search of entries; every filter is optional. Results are in `(chain, seq)` order after `after`.
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
    /// The cursor: the last `(chain, seq)` of the previous page.
    pub after: Option<(String, i64)>,
    pub limit: i64,
}

/// A stored entry: the entry itself (its leaf parsed), and its leaf hash.
#[derive(Debug, Clone)]
pub struct EntryRow {
    pub chain: String,
    pub seq: i64,
    pub leaf: String,
    pub leaf_hash: Hash,
}

impl EntryRow {
    pub fn to_json(&self) -> Value {
        json!({
            "chain": self.chain,
            "seq": self.seq,
            "entry": serde_json::from_str::<Value>(&self.leaf).unwrap_or(Value::Null),
            "leaf_hash": hex::encode(self.leaf_hash),
        })
    }
}

fn row_to_entry(r: &sqlx::postgres::PgRow) -> Result<EntryRow> {
    let hash: Vec<u8> = r.get(3);
    Ok(EntryRow {
        chain: r.get(0),
        seq: r.get(1),
        leaf: r.get(2),
        leaf_hash: hash
            .try_into()
            .map_err(|_| StoreError::Invalid("a stored leaf hash is not 32 bytes".into()))?,
    })
}

/// A chain's head and latest checkpoint.
#[derive(Debug, Clone)]
pub struct Head {
    pub size: u64,
    pub checkpoint_size: u64,
}

impl Store {
    pub async fn audit_search(&self, q: &EntryQuery) -> Result<Vec<EntryRow>> {
        let (after_chain, after_seq) = q.after.clone().map_or((None, None), |(c, s)| (Some(c), Some(s)));
        let rows = sqlx::query(
            "SELECT chain, seq, leaf, leaf_hash FROM audit_entries
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
                AND ($11::text IS NULL OR (chain, seq) > ($11, $12::int8))
              ORDER BY chain, seq LIMIT $13",
        )
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
        .bind(after_chain)
        .bind(after_seq)
        .bind(q.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_entry).collect()
    }

    pub async fn audit_entry(&self, chain: &str, seq: i64) -> Result<Option<EntryRow>> {
        let row = sqlx::query("SELECT chain, seq, leaf, leaf_hash FROM audit_entries WHERE chain = $1 AND seq = $2")
            .bind(chain)
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_entry).transpose()
    }

    /// The entries of a chain from `from_seq` on, in order, at most `limit` (for verification and export).
    pub async fn audit_chain_page(&self, chain: &str, from_seq: i64, limit: i64) -> Result<Vec<EntryRow>> {
        let rows = sqlx::query(
            "SELECT chain, seq, leaf, leaf_hash FROM audit_entries WHERE chain = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
        )
        .bind(chain)
        .bind(from_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_entry).collect()
    }

    /// The leaf hashes of entries `0..size` of a chain (fewer when the chain is shorter).
    pub async fn audit_leaf_hashes(&self, chain: &str, size: i64) -> Result<Vec<Hash>> {
        let rows: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT leaf_hash FROM audit_entries WHERE chain = $1 AND seq < $2 ORDER BY seq")
                .bind(chain)
                .bind(size)
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|h| {
                h.try_into()
                    .map_err(|_| StoreError::Invalid("a stored leaf hash is not 32 bytes".into()))
            })
            .collect()
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

    /// Checkpoints of a chain with a size above `after`, oldest first: `(size, root hex, note, key name, time)`.
    pub async fn audit_checkpoints(&self, chain: &str, after: i64, limit: i64) -> Result<Vec<Value>> {
        let rows = sqlx::query(
            "SELECT size, root, note, key_name,
                    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')
               FROM audit_checkpoints WHERE chain = $1 AND size > $2 ORDER BY size LIMIT $3",
        )
        .bind(chain)
        .bind(after)
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
                    "key": r.get::<String, _>(3),
                    "time": r.get::<String, _>(4),
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
