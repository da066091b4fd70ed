//! The runtime's audit chain (docs/audit.md; docs/architecture.md "Audit"): the outbox writers insert into, the
//! sequencer that moves its rows into chains gap-free, checkpoints signed with the audit key, and the keys.
//!
//! - Writers call [`Store::audit`] (its own statement) or [`audit_in`] (inside the transaction of the change it
//!   records): a row in `audit_queue`, durable once committed.
//! - [`run_sequencer`] (one per runtime; one at a time per database, by a transaction-level advisory lock) takes
//!   queued rows in batches, seals each into `runtime:<tenant>` or `runtime:system` at the chain's next sequence
//!   number after its last leaf hash, inserts the entries, moves the chains' heads and deletes the rows — all in one
//!   transaction, so a crash at any point leaves each row either queued or appended, never both or neither.
//! - Every [`AuditOptions::checkpoint_every`] entries or [`AuditOptions::checkpoint_interval`] (when the chain
//!   grew), the sequencer recomputes the new root from the previous checkpoint's frontier and the leaf hashes
//!   stored since, checks the consistency proof from the previous signed root, and only then signs.
//! - With each leaf, the sequencer stores the tree nodes it completes (`audit_nodes`), so proofs read O(log n) rows
//!   ([`crate::audit_read`]).
//! - The Ed25519 audit key (never the token-signing key) is a file, `<data dir>/audit-key.json` (`{name, seed}`,
//!   mode 0600), made on first start; its public key goes to `audit_keys`, where retired keys stay.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cfp_audit::entry::valid_chain;
use cfp_audit::note::{checkpoint_body, origin, verify_note, AuditKey, PublicKey};
use cfp_audit::stored;
use cfp_audit::tree::{consistency_from_frontier, verify_consistency, Frontier, Hash};
use cfp_audit::{seal, Event, ZERO_HASH};
use serde_json::Value;
use sqlx::{PgConnection, Row};

use crate::{Result, Store, StoreError};

/// Where the audit key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A JSON file `{name, seed}` (made, mode 0600, when absent).
    File(PathBuf),
    /// A new key for this process only (tests): its public key is registered like any other.
    Ephemeral,
}

#[derive(Debug, Clone)]
pub struct AuditOptions {
    pub key: KeySource,
    /// A checkpoint after this many new entries of a chain...
    pub checkpoint_every: u64,
    /// ...or this long after the previous one, when the chain grew.
    pub checkpoint_interval: Duration,
    /// Queued rows sequenced per transaction.
    pub batch: i64,
    /// The sequencer looks at the queue at least this often (NOTIFY and local writes wake it sooner).
    pub poll: Duration,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            key: KeySource::Ephemeral,
            checkpoint_every: 1_000,
            checkpoint_interval: Duration::from_secs(60),
            batch: 2_000,
            poll: Duration::from_millis(500),
        }
    }
}

/// Wakes the sequencer: at once in this process, through NOTIFY (at most every [`NOTIFY_EVERY_MS`]) elsewhere.
#[derive(Default)]
pub(crate) struct Wake {
    pub notify: tokio::sync::Notify,
    last_pg_notify_ms: AtomicU64,
}

const NOTIFY_EVERY_MS: u64 = 100;
/// The channel of this store's schema, computed by PostgreSQL.
const CHANNEL_SQL: &str = "'cfp_audit_' || substr(md5(current_schema()), 1, 16)";
/// The advisory lock of this store's schema's sequencer.
const LOCK_SQL: &str = "SELECT pg_try_advisory_xact_lock(hashtext('cfp_audit_sequencer.' || current_schema()))";

/// The chain an event goes to: its tenant's, or the system chain.
pub fn chain_of(event: &Event) -> String {
    match event.tenant.as_deref().map(|t| format!("runtime:{t}")) {
        Some(c) if valid_chain(&c) => c,
        _ => "runtime:system".into(),
    }
}

/// Queues an audit event inside the caller's transaction (call [`Store::wake_audit`] after committing, or let the
/// sequencer's poll find it).
pub async fn audit_in(conn: &mut PgConnection, event: &Event) -> Result<()> {
    sqlx::query("INSERT INTO audit_queue (chain, event) VALUES ($1, $2)")
        .bind(chain_of(event))
        .bind(event.to_json().to_string())
        .execute(conn)
        .await?;
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn frontier_bytes(f: &Frontier) -> Vec<u8> {
    f.hashes().concat()
}

fn frontier_of(size: i64, bytes: &[u8]) -> Result<Frontier> {
    let hashes: Vec<Hash> = bytes
        .chunks(32)
        .map(|c| {
            c.try_into()
                .map_err(|_| StoreError::Invalid("a frontier hash is not 32 bytes".into()))
        })
        .collect::<Result<_>>()?;
    Frontier::from_hashes(size as u64, &hashes).map_err(|e| StoreError::Invalid(e.to_string()))
}

fn hash_of(bytes: &[u8]) -> Result<Hash> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Invalid("a stored hash is not 32 bytes".into()))
}

impl Store {
    /// Queues an audit event (its own statement) and wakes the sequencer.
    pub async fn audit(&self, event: &Event) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        audit_in(&mut conn, event).await?;
        self.wake_audit_with(&mut conn).await;
        Ok(())
    }

    /// Wakes the sequencer after a transaction that queued audit events committed.
    pub async fn wake_audit(&self) {
        if let Ok(mut conn) = self.pool.acquire().await {
            self.wake_audit_with(&mut conn).await;
        }
    }

    async fn wake_audit_with(&self, conn: &mut PgConnection) {
        self.audit_wake.notify.notify_one();
        let now = now_ms();
        let last = self.audit_wake.last_pg_notify_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= NOTIFY_EVERY_MS
            && self
                .audit_wake
                .last_pg_notify_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let _ = sqlx::query(&format!("SELECT pg_notify({CHANNEL_SQL}, '')"))
                .execute(conn)
                .await;
        }
    }

    /// The audit key of `source`, registering its public key.
    pub async fn audit_key(&self, source: &KeySource) -> Result<AuditKey> {
        let path = match source {
            KeySource::File(p) => p,
            KeySource::Ephemeral => return self.new_audit_key(None).await,
        };
        match std::fs::read(path) {
            Ok(bytes) => {
                let bad = |why: &str| StoreError::Invalid(format!("audit key file {}: {why}", path.display()));
                let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad("not JSON"))?;
                let (Some(name), Some(seed)) = (v["name"].as_str(), v["seed"].as_str()) else {
                    return Err(bad("needs `name` and `seed`"));
                };
                let seed: [u8; 32] = hex_decode(seed).ok_or_else(|| bad("`seed` is not 64 hex digits"))?;
                let key = AuditKey::from_seed(name, &seed).map_err(|e| bad(&e))?;
                let public = key.public();
                sqlx::query("INSERT INTO audit_keys (name, public_key) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                    .bind(&public.name)
                    .bind(public.key.as_slice())
                    .execute(&self.pool)
                    .await?;
                let stored: Vec<u8> = sqlx::query_scalar("SELECT public_key FROM audit_keys WHERE name = $1")
                    .bind(&public.name)
                    .fetch_one(&self.pool)
                    .await?;
                if stored != public.key {
                    return Err(bad("its key differs from the public key registered under its name"));
                }
                Ok(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.new_audit_key(Some(path.as_path())).await,
            Err(e) => Err(StoreError::Invalid(format!("audit key file {}: {e}", path.display()))),
        }
    }

    async fn new_audit_key(&self, file: Option<&std::path::Path>) -> Result<AuditKey> {
        let id: i64 = sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('audit_keys', 'id'))")
            .fetch_one(&self.pool)
            .await?;
        let name = format!("cfp-audit-runtime-{id}");
        let key = AuditKey::generate(&name).map_err(StoreError::Invalid)?;
        if let Some(path) = file {
            write_key_file(path, &key)
                .map_err(|e| StoreError::Invalid(format!("cannot write the audit key file {}: {e}", path.display())))?;
        }
        sqlx::query("INSERT INTO audit_keys (id, name, public_key) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(&name)
            .bind(key.public().key.as_slice())
            .execute(&self.pool)
            .await?;
        tracing::info!(key = %name, "made a new audit key");
        Ok(key)
    }

    /// The audit public keys, current and retired: `(key, created, retired)` (RFC 3339).
    pub async fn audit_public_keys(&self) -> Result<Vec<(PublicKey, String, Option<String>)>> {
        let rows = sqlx::query(
            "SELECT name, public_key, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),
                    to_char(retired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')
               FROM audit_keys ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let key: Vec<u8> = r.get(1);
                Ok((
                    PublicKey {
                        name: r.get(0),
                        key: hash_of(&key)?,
                    },
                    r.get(2),
                    r.get(3),
                ))
            })
            .collect()
    }

    /// Sequences one batch of queued events; returns how many entries were appended (0 when the queue is empty or
    /// another sequencer holds the lock).
    pub async fn audit_sequence(&self, batch: i64) -> Result<usize> {
        let mut tx = self.pool.begin().await?;
        let locked: bool = sqlx::query_scalar(LOCK_SQL).fetch_one(&mut *tx).await?;
        if !locked {
            return Ok(0);
        }
        let rows = sqlx::query("SELECT id, chain, event FROM audit_queue ORDER BY id LIMIT $1")
            .bind(batch)
            .fetch_all(&mut *tx)
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut chains: Vec<String> = rows.iter().map(|r| r.get::<String, _>(1)).collect();
        chains.sort();
        chains.dedup();
        let mut heads: std::collections::HashMap<String, (u64, String, Frontier)> = Default::default();
        // each chain's pending perfect subtrees by level, for the nodes its new leaves complete
        let mut pending: std::collections::HashMap<String, Vec<Option<Hash>>> = Default::default();
        for r in sqlx::query("SELECT chain, size, prev, frontier FROM audit_heads WHERE chain = ANY($1)")
            .bind(&chains)
            .fetch_all(&mut *tx)
            .await?
        {
            let size: i64 = r.get(1);
            let prev: Vec<u8> = r.get(2);
            let frontier: Vec<u8> = r.get(3);
            let frontier = frontier_of(size, &frontier)?;
            pending.insert(r.get(0), stored::pending_of(size as u64, &frontier.hashes()));
            heads.insert(r.get(0), (size as u64, hex::encode(prev), frontier));
        }
        let mut e = Columns::default();
        for r in &rows {
            let id: i64 = r.get(0);
            let chain: String = r.get(1);
            let text: String = r.get(2);
            e.ids.push(id);
            let Ok(event) = serde_json::from_str::<Value>(&text) else {
                tracing::error!(id, "a queued audit event is not JSON; dropped");
                continue;
            };
            let head = heads
                .entry(chain.clone())
                .or_insert_with(|| (0, ZERO_HASH.to_string(), Frontier::new()));
            let sealed = match seal(&event, &chain, head.0, &head.1) {
                Ok(s) => s,
                Err(err) => {
                    tracing::error!(id, error = %err, "a queued audit event has no canonical form; dropped");
                    continue;
                }
            };
            let s = |p: &str| event.pointer(p).and_then(Value::as_str).map(str::to_string);
            e.chain.push(chain.clone());
            e.seq.push(head.0 as i64);
            e.leaf.push(sealed.leaf);
            e.hash.push(sealed.hash.to_vec());
            e.time.push(s("/time").unwrap_or_default());
            e.kind.push(s("/kind").unwrap_or_default());
            e.actor_type.push(s("/actor/type").unwrap_or_default());
            e.actor_id.push(s("/actor/id"));
            e.sid.push(s("/sid"));
            e.tenant.push(s("/scope/tenant"));
            e.project.push(s("/scope/project"));
            e.status.push(s("/outcome/status").unwrap_or_default());
            e.request.push(s("/request/id"));
            e.trace.push(s("/request/trace"));
            for (id, hash) in stored::append(pending.entry(chain.clone()).or_default(), head.0, sealed.hash) {
                e.nodes.0.push(chain.clone());
                e.nodes.1.push(id.level as i16);
                e.nodes.2.push(id.idx as i64);
                e.nodes.3.push(hash.to_vec());
            }
            head.0 += 1;
            head.1 = hex::encode(sealed.hash);
            head.2.append(sealed.hash);
        }
        sqlx::query(
            "INSERT INTO audit_entries (chain, seq, leaf, leaf_hash, time, kind, actor_type, actor_id, sid, tenant_id,
                                        project_id, status, request_id, trace_id)
             SELECT c, s, l, h, t::timestamptz, k, at, ai, si, te, pr, st, rq, tr
               FROM unnest($1::text[], $2::int8[], $3::text[], $4::bytea[], $5::text[], $6::text[], $7::text[],
                           $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[])
                 AS x(c, s, l, h, t, k, at, ai, si, te, pr, st, rq, tr)",
        )
        .bind(&e.chain)
        .bind(&e.seq)
        .bind(&e.leaf)
        .bind(&e.hash)
        .bind(&e.time)
        .bind(&e.kind)
        .bind(&e.actor_type)
        .bind(&e.actor_id)
        .bind(&e.sid)
        .bind(&e.tenant)
        .bind(&e.project)
        .bind(&e.status)
        .bind(&e.request)
        .bind(&e.trace)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO audit_nodes (chain, level, idx, hash)
             SELECT * FROM unnest($1::text[], $2::int2[], $3::int8[], $4::bytea[])",
        )
        .bind(&e.nodes.0)
        .bind(&e.nodes.1)
        .bind(&e.nodes.2)
        .bind(&e.nodes.3)
        .execute(&mut *tx)
        .await?;
        let (mut hc, mut hs, mut hp, mut hf) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (chain, (size, prev, frontier)) in &heads {
            hc.push(chain.clone());
            hs.push(*size as i64);
            hp.push(hex_decode::<32>(prev).unwrap_or([0; 32]).to_vec());
            hf.push(frontier_bytes(frontier));
        }
        sqlx::query(
            "INSERT INTO audit_heads (chain, size, prev, frontier)
             SELECT * FROM unnest($1::text[], $2::int8[], $3::bytea[], $4::bytea[])
             ON CONFLICT (chain) DO UPDATE SET size = excluded.size, prev = excluded.prev, frontier = excluded.frontier",
        )
        .bind(&hc)
        .bind(&hs)
        .bind(&hp)
        .bind(&hf)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM audit_queue WHERE id = ANY($1)")
            .bind(&e.ids)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(e.chain.len())
    }

    /// Signs the checkpoints that are due (by count or by time); returns how many were signed. A chain whose new
    /// tree does not extend its previous checkpoint is not signed: the error names it.
    pub async fn audit_checkpoint_due(&self, key: &AuditKey, opts: &AuditOptions) -> Result<usize> {
        let mut tx = self.pool.begin().await?;
        let locked: bool = sqlx::query_scalar(LOCK_SQL).fetch_one(&mut *tx).await?;
        if !locked {
            return Ok(0);
        }
        let due = sqlx::query(
            "SELECT chain, size, frontier FROM audit_heads
              WHERE size > checkpoint_size
                AND (size - checkpoint_size >= $1 OR checkpoint_at <= now() - make_interval(secs => $2))
              ORDER BY chain",
        )
        .bind(opts.checkpoint_every as i64)
        .bind(opts.checkpoint_interval.as_secs_f64())
        .fetch_all(&mut *tx)
        .await?;
        if due.is_empty() {
            return Ok(0);
        }
        let keys: Vec<PublicKey> = self.audit_public_keys().await?.into_iter().map(|k| k.0).collect();
        let mut signed = 0;
        for r in &due {
            let (chain, size): (String, i64) = (r.get(0), r.get(1));
            let head = frontier_of(size, &r.get::<Vec<u8>, _>(2))?;
            checkpoint(&mut tx, &chain, &head, key, &keys).await?;
            signed += 1;
        }
        tx.commit().await?;
        Ok(signed)
    }
}

/// Signs the checkpoint of `chain` at its head, after checking it extends the previous checkpoint.
async fn checkpoint(
    conn: &mut PgConnection,
    chain: &str,
    head: &Frontier,
    key: &AuditKey,
    keys: &[PublicKey],
) -> Result<()> {
    let refuse = |why: String| StoreError::Invalid(format!("audit chain {chain}: not signing a checkpoint: {why}"));
    let prev = sqlx::query(
        "SELECT size, root, frontier, note FROM audit_checkpoints WHERE chain = $1 ORDER BY size DESC LIMIT 1",
    )
    .bind(chain)
    .fetch_optional(&mut *conn)
    .await?;
    let (old, old_root) = match &prev {
        Some(p) => {
            let size: i64 = p.get(0);
            let root = hash_of(&p.get::<Vec<u8>, _>(1))?;
            let signed = verify_note(&p.get::<String, _>(3), keys)
                .map_err(|e| refuse(format!("the previous checkpoint: {e}")))?;
            if signed.root != root || signed.size != size as u64 {
                return Err(refuse("the previous checkpoint's note and row differ".into()));
            }
            (frontier_of(size, &p.get::<Vec<u8>, _>(2))?, root)
        }
        None => (Frontier::new(), cfp_audit::tree::empty_root()),
    };
    let (m, n) = (old.size(), head.size());
    let rows = sqlx::query(
        "SELECT seq, leaf_hash FROM audit_entries WHERE chain = $1 AND seq >= $2 AND seq < $3 ORDER BY seq",
    )
    .bind(chain)
    .bind(m as i64)
    .bind(n as i64)
    .fetch_all(&mut *conn)
    .await?;
    let mut leaves = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        if r.get::<i64, _>(0) != (m + i as u64) as i64 {
            return Err(refuse(format!("seq {} is missing", m + i as u64)));
        }
        leaves.push(hash_of(&r.get::<Vec<u8>, _>(1))?);
    }
    if leaves.len() as u64 != n - m {
        return Err(refuse(format!(
            "the chain holds {} entries after {m}, its head says {}",
            leaves.len(),
            n - m
        )));
    }
    let (proof, root) = consistency_from_frontier(&old, &leaves).map_err(|e| refuse(e.to_string()))?;
    if root != head.root() {
        return Err(refuse("the stored entries do not give the head's root".into()));
    }
    if !verify_consistency(m, n, &old_root, &root, &proof) {
        return Err(refuse(format!(
            "the tree of size {n} does not extend the checkpoint of size {m}"
        )));
    }
    let mut frontier = old;
    leaves.iter().for_each(|h| frontier.append(*h));
    let note = key.sign(&checkpoint_body(&origin(chain), n, &root));
    sqlx::query(
        "INSERT INTO audit_checkpoints (chain, size, root, frontier, note, key_name) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(chain)
    .bind(n as i64)
    .bind(root.as_slice())
    .bind(frontier_bytes(&frontier))
    .bind(&note)
    .bind(&key.name)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_heads SET checkpoint_size = $2, checkpoint_at = now() WHERE chain = $1")
        .bind(chain)
        .bind(n as i64)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[derive(Default)]
struct Columns {
    ids: Vec<i64>,
    chain: Vec<String>,
    seq: Vec<i64>,
    leaf: Vec<String>,
    hash: Vec<Vec<u8>>,
    time: Vec<String>,
    kind: Vec<String>,
    actor_type: Vec<String>,
    actor_id: Vec<Option<String>>,
    sid: Vec<Option<String>>,
    tenant: Vec<Option<String>>,
    project: Vec<Option<String>>,
    status: Vec<String>,
    request: Vec<Option<String>>,
    trace: Vec<Option<String>>,
    /// The tree nodes the new leaves complete: chain, level, index, hash.
    nodes: (Vec<String>, Vec<i16>, Vec<i64>, Vec<Vec<u8>>),
}

fn hex_decode<const N: usize>(s: &str) -> Option<[u8; N]> {
    hex::decode(s).ok()?.try_into().ok()
}

fn write_key_file(path: &std::path::Path, key: &AuditKey) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    let body = serde_json::json!({"name": key.name, "seed": hex::encode(key.seed())});
    f.write_all(body.to_string().as_bytes())?;
    f.sync_all()
}

/// The sequencer: appends queued events and signs due checkpoints until `shutdown` turns true (then drains once
/// more). Woken by local writes, by NOTIFY from other processes on this schema, and every [`AuditOptions::poll`].
pub async fn run_sequencer(store: Store, opts: AuditOptions, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(200);
    let key = loop {
        match store.audit_key(&opts.key).await {
            Ok(k) => break k,
            Err(e) => {
                tracing::warn!(error = %e, "the audit sequencer has no key yet; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    };
    let listen = tokio::spawn(listen(store.clone()));
    loop {
        let stopping = *shutdown.borrow();
        let appended = match store.audit_sequence(opts.batch).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "audit sequencing failed; retrying");
                tokio::time::sleep(backoff).await;
                0
            }
        };
        if let Err(e) = store.audit_checkpoint_due(&key, &opts).await {
            tracing::error!(error = %e, "audit checkpoint refused");
        }
        if stopping {
            break;
        }
        if appended as i64 >= opts.batch {
            continue;
        }
        tokio::select! {
            _ = store.audit_wake.notify.notified() => {}
            _ = tokio::time::sleep(opts.poll) => {}
            _ = shutdown.changed() => {}
        }
    }
    listen.abort();
}

/// Turns NOTIFYs of other processes into local wake-ups, on a connection of its own (not one of the pool's, which
/// serve requests).
async fn listen(store: Store) {
    loop {
        let channel: Result<String> = sqlx::query_scalar(&format!("SELECT {CHANNEL_SQL}"))
            .fetch_one(&store.pool)
            .await
            .map_err(Into::into);
        let own = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy_with((*store.pool.connect_options()).clone());
        let listener = match channel {
            Ok(ch) => match sqlx::postgres::PgListener::connect_with(&own).await {
                Ok(mut l) => l.listen(&ch).await.map(|_| l),
                Err(e) => Err(e),
            },
            Err(_) => Err(sqlx::Error::PoolTimedOut),
        };
        let Ok(mut l) = listener else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        while let Ok(Some(_)) = l.try_recv().await {
            store.audit_wake.notify.notify_one();
        }
    }
}

/// Changes made through the runtime API together with their audit entry, in one transaction: both commit or
/// neither (the event is queued only when the change happened).
impl Store {
    pub async fn state_set_audited(
        &self,
        scope: &crate::Scope,
        group: &str,
        key: &str,
        value: &Value,
        event: &Event,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        crate::state::state_set_on(&mut *tx, scope, group, key, value).await?;
        audit_in(&mut tx, event).await?;
        tx.commit().await?;
        self.wake_audit().await;
        Ok(())
    }

    pub async fn state_delete_audited(
        &self,
        scope: &crate::Scope,
        group: &str,
        key: &str,
        event: &Event,
    ) -> Result<Option<Value>> {
        let mut tx = self.pool.begin().await?;
        let old = crate::state::state_delete_on(&mut *tx, scope, group, key).await?;
        if old.is_some() {
            audit_in(&mut tx, event).await?;
        }
        tx.commit().await?;
        self.wake_audit().await;
        Ok(old)
    }

    pub async fn replay_dead_letter_audited(
        &self,
        scope: &crate::Scope,
        id: i64,
        event: &Event,
    ) -> Result<Option<crate::queue::Woken>> {
        let mut tx = self.pool.begin().await?;
        let woken = crate::queue::replay_dead_letter_on(&mut *tx, scope, id).await?;
        if woken.is_some() {
            audit_in(&mut tx, event).await?;
        }
        tx.commit().await?;
        self.wake_audit().await;
        Ok(woken)
    }

    pub async fn discard_dead_letter_audited(&self, scope: &crate::Scope, id: i64, event: &Event) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = crate::queue::discard_dead_letter_on(&mut *tx, scope, id).await?;
        if done {
            audit_in(&mut tx, event).await?;
        }
        tx.commit().await?;
        self.wake_audit().await;
        Ok(done)
    }
}
