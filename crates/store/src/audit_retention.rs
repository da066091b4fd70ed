//! Retention and legal hold of the runtime's audit chain (docs/audit.md "Retention and legal hold", migration
//! 0015). Pruning removes the entry rows of a chain's oldest entries, only below a signed checkpoint, through the
//! database function `audit_prune` (SECURITY DEFINER, owned by `cfp_audit_pruner`, which the runtime's own role
//! cannot call unless granted): it refuses a size no checkpoint has, a chain under a legal hold, and a range whose
//! leaves do not give the checkpoint's root; it keeps the leaf hashes (level-0 nodes) and records the pruning in
//! `audit_prunes`. Each pruning, hold and retention change is itself an audit entry (`audit.pruned`,
//! `audit.hold.placed`, `audit.hold.released`, `audit.retention.set`) in the tenant's chain, in the same transaction.
//!
//! Retention: a tenant's row in `audit_retention`, else the runtime's `--audit-retention-days` (0 = forever), never
//! less than `--audit-retention-min-days` when pruning. The runtime has no settings channel for it from the control
//! plane yet: tenants' rows are set through the runtime API (`/__cfp/api/audit/retention`, crates/gateway, which
//! refuses days below the floor) with [`Store::audit_set_retention_by`], and the option is the default.

use std::time::{Duration, SystemTime};

use cfp_audit::{Actor, Event};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};

use crate::audit::audit_in;
use crate::{Result, Store, StoreError};

#[derive(Debug, Clone, Default)]
pub struct RetentionOptions {
    /// Days an entry is kept when its tenant has no retention of its own; 0 = forever (no pruning).
    pub default_days: u32,
    /// The floor: a tenant's retention below it (stored before the floor was raised) counts as it.
    pub min_days: u32,
    /// Between pruning rounds.
    pub interval: Duration,
    /// The connection pruning runs on (a login role granted `cfp_audit_pruner`); None: the store's own.
    pub database_url: Option<String>,
}

/// A legal hold (`audit_holds`); times are RFC 3339 UTC.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hold {
    pub id: i64,
    pub tenant: String,
    pub reason: String,
    pub placed_by: Option<String>,
    pub placed_at: String,
    pub released_by: Option<String>,
    pub released_at: Option<String>,
}

/// A pruning record of one of a tenant's chains (`audit_prunes`): entries below `size` are gone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PruneRecord {
    pub chain: String,
    pub size: u64,
    pub at: String,
    pub by: String,
}

/// A tenant's retention (None: the runtime's default), its holds (oldest first) and its chains' pruning records.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TenantRetention {
    pub days: Option<u32>,
    pub holds: Vec<Hold>,
    pub pruned: Vec<PruneRecord>,
}

const UTC_TEXT: &str = "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'";

/// Entries `[from, size)` of `chain` were pruned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned {
    pub chain: String,
    pub from: u64,
    pub size: u64,
    pub entries: u64,
}

/// `by` as an event of `kind` in `tenant`'s chain (`system`: the system chain).
fn tenant_event(kind: &str, by: Event, tenant: &str) -> Event {
    let mut e = by;
    e.kind = kind.to_string();
    e.tenant = None;
    e.team = None;
    e.project = None;
    e.target = None;
    e.details = Default::default();
    if tenant != "system" {
        e.tenant = Some(tenant.to_string());
    }
    e
}

fn retention_actor() -> Actor {
    Actor {
        name: Some("audit retention".into()),
        ..Actor::system()
    }
}

impl Store {
    /// Prunes `chain` below `size` (the size of one of its signed checkpoints) on `pool` (the pruning connection;
    /// the store's own when None) and records `audit.pruned` in the chain's tenant's chain in the same transaction.
    pub async fn audit_prune(&self, pool: Option<&PgPool>, chain: &str, size: u64, by: &str) -> Result<Pruned> {
        let mut tx = pool.unwrap_or(&self.pool).begin().await?;
        let row = sqlx::query("SELECT from_seq, size, entries FROM audit_prune($1, $2, $3)")
            .bind(chain)
            .bind(size as i64)
            .bind(by)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| match e.as_database_error() {
                Some(d) if matches!(d.code().as_deref(), Some("55006" | "23514" | "XX001")) => {
                    StoreError::Invalid(d.message().to_string())
                }
                _ => e.into(),
            })?;
        let p = Pruned {
            chain: chain.to_string(),
            from: row.get::<i64, _>(0) as u64,
            size: row.get::<i64, _>(1) as u64,
            entries: row.get::<i64, _>(2) as u64,
        };
        let tenant = chain.split_once(':').map_or("system", |(_, t)| t);
        let mut e = tenant_event("audit.pruned", Event::new("audit.pruned", retention_actor()), tenant);
        e.target = Some(("audit_chain".into(), Some(chain.to_string())));
        for (k, v) in [
            ("chain", serde_json::Value::from(chain)),
            ("from", p.from.into()),
            ("size", p.size.into()),
            ("entries", p.entries.into()),
            ("checkpoint", p.size.into()),
        ] {
            e.details.insert(k.into(), v);
        }
        audit_in(&mut tx, &e).await?;
        tx.commit().await?;
        self.wake_audit().await;
        Ok(p)
    }

    /// A tenant's retention, legal holds and pruning records (`system`: the system chain's).
    pub async fn audit_retention_of(&self, tenant: &str) -> Result<TenantRetention> {
        let days: Option<i32> = sqlx::query_scalar("SELECT days FROM audit_retention WHERE tenant = $1")
            .bind(tenant)
            .fetch_optional(&self.pool)
            .await?;
        let utc = |col: &str| format!("to_char({col} AT TIME ZONE 'UTC', {UTC_TEXT})");
        let holds = sqlx::query(&format!(
            "SELECT id, tenant, reason, placed_by, {}, released_by, {} FROM audit_holds WHERE tenant = $1 ORDER BY id",
            utc("placed_at"),
            utc("released_at")
        ))
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| Hold {
            id: r.get(0),
            tenant: r.get(1),
            reason: r.get(2),
            placed_by: r.get(3),
            placed_at: r.get(4),
            released_by: r.get(5),
            released_at: r.get(6),
        })
        .collect();
        let pruned = sqlx::query(&format!(
            "SELECT chain, size, {}, pruned_by FROM audit_prunes WHERE audit_chain_tenant(chain) = $1 ORDER BY chain, size",
            utc("pruned_at")
        ))
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| PruneRecord {
            chain: r.get(0),
            size: r.get::<i64, _>(1) as u64,
            at: r.get(2),
            by: r.get(3),
        })
        .collect();
        Ok(TenantRetention {
            days: days.map(|d| d as u32),
            holds,
            pruned,
        })
    }

    /// Each chain's largest checkpointed size whose last entry is older than its retention at `now`, above what
    /// is pruned already, for chains under no legal hold.
    pub async fn audit_prune_due(&self, default_days: u32, now: SystemTime) -> Result<Vec<(String, u64)>> {
        self.audit_prune_due_at_least(default_days, 0, now).await
    }

    /// [`Store::audit_prune_due`] where no retention counts as less than `min_days` (the floor).
    pub async fn audit_prune_due_at_least(
        &self,
        default_days: u32,
        min_days: u32,
        now: SystemTime,
    ) -> Result<Vec<(String, u64)>> {
        let now = cfp_audit::entry::format_time(now);
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT c.chain, max(c.size)
               FROM audit_checkpoints c
               JOIN audit_entries e ON e.chain = c.chain AND e.seq = c.size - 1
               LEFT JOIN audit_retention r ON r.tenant = audit_chain_tenant(c.chain)
              WHERE coalesce(r.days, $2::int) > 0
                AND e.time < $1::timestamptz - make_interval(days => greatest(coalesce(r.days, $2::int), $3::int))
                AND c.size > coalesce((SELECT max(p.size) FROM audit_prunes p WHERE p.chain = c.chain), 0)
                AND NOT EXISTS (SELECT 1 FROM audit_holds h
                                 WHERE h.tenant = audit_chain_tenant(c.chain) AND h.released_at IS NULL)
              GROUP BY c.chain ORDER BY c.chain",
        )
        .bind(now)
        .bind(default_days as i32)
        .bind(min_days as i32)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(c, s)| (c, s as u64)).collect())
    }

    /// Sets (Some) or clears (None) a tenant's retention in days; audited as `audit.retention.set`.
    pub async fn audit_set_retention(&self, tenant: &str, days: Option<u32>, actor: Actor) -> Result<()> {
        self.audit_set_retention_by(tenant, days, Event::new("audit.retention.set", actor))
            .await
    }

    /// [`Store::audit_set_retention`] recorded as `by` (who, from where) with kind, tenant, target and details set
    /// here.
    pub async fn audit_set_retention_by(&self, tenant: &str, days: Option<u32>, by: Event) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let before: Option<i32> = sqlx::query_scalar("SELECT days FROM audit_retention WHERE tenant = $1 FOR UPDATE")
            .bind(tenant)
            .fetch_optional(&mut *tx)
            .await?;
        match days {
            Some(d) => {
                sqlx::query(
                    "INSERT INTO audit_retention (tenant, days, set_by) VALUES ($1, $2, $3)
                     ON CONFLICT (tenant) DO UPDATE SET days = EXCLUDED.days, set_by = EXCLUDED.set_by,
                       set_at = clock_timestamp()",
                )
                .bind(tenant)
                .bind(d as i32)
                .bind(by.actor.id.clone())
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM audit_retention WHERE tenant = $1")
                    .bind(tenant)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let mut e = tenant_event("audit.retention.set", by, tenant);
        e.target = Some(("tenant".into(), Some(tenant.to_string())));
        e.details.insert("days".into(), days.into());
        e.details.insert("before".into(), before.into());
        audit_in(&mut tx, &e).await?;
        tx.commit().await?;
        self.wake_audit().await;
        Ok(())
    }

    /// Places a legal hold on a tenant's chains (`system` for the system chain); audited as `audit.hold.placed`.
    pub async fn audit_place_hold(&self, tenant: &str, reason: &str, actor: Actor) -> Result<i64> {
        self.audit_place_hold_by(tenant, reason, Event::new("audit.hold.placed", actor))
            .await
    }

    /// [`Store::audit_place_hold`] recorded as `by`.
    pub async fn audit_place_hold_by(&self, tenant: &str, reason: &str, by: Event) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        let id: i64 =
            sqlx::query_scalar("INSERT INTO audit_holds (tenant, reason, placed_by) VALUES ($1, $2, $3) RETURNING id")
                .bind(tenant)
                .bind(reason)
                .bind(by.actor.id.clone())
                .fetch_one(&mut *tx)
                .await?;
        let mut e = tenant_event("audit.hold.placed", by, tenant);
        e.target = Some(("audit_hold".into(), Some(id.to_string())));
        e.details.insert("reason".into(), reason.into());
        audit_in(&mut tx, &e).await?;
        tx.commit().await?;
        self.wake_audit().await;
        Ok(id)
    }

    /// Releases a hold in force; false when the tenant has no such hold in force. Audited as `audit.hold.released`.
    pub async fn audit_release_hold(&self, tenant: &str, id: i64, actor: Actor) -> Result<bool> {
        self.audit_release_hold_by(tenant, id, Event::new("audit.hold.released", actor))
            .await
    }

    /// [`Store::audit_release_hold`] recorded as `by`.
    pub async fn audit_release_hold_by(&self, tenant: &str, id: i64, by: Event) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let reason: Option<String> = sqlx::query_scalar(
            "UPDATE audit_holds SET released_at = clock_timestamp(), released_by = $3
              WHERE id = $1 AND tenant = $2 AND released_at IS NULL RETURNING reason",
        )
        .bind(id)
        .bind(tenant)
        .bind(by.actor.id.clone())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(reason) = reason else {
            return Ok(false);
        };
        let mut e = tenant_event("audit.hold.released", by, tenant);
        e.target = Some(("audit_hold".into(), Some(id.to_string())));
        e.details.insert("reason".into(), reason.into());
        audit_in(&mut tx, &e).await?;
        tx.commit().await?;
        self.wake_audit().await;
        Ok(true)
    }

    /// One pruning round: every chain with a checkpointed range past its retention. A chain that cannot be pruned
    /// is logged and skipped.
    pub async fn audit_prune_round(&self, pool: Option<&PgPool>, default_days: u32) -> Result<Vec<Pruned>> {
        self.audit_prune_round_at_least(pool, default_days, 0).await
    }

    /// [`Store::audit_prune_round`] with the floor `min_days`.
    pub async fn audit_prune_round_at_least(
        &self,
        pool: Option<&PgPool>,
        default_days: u32,
        min_days: u32,
    ) -> Result<Vec<Pruned>> {
        let mut out = Vec::new();
        for (chain, size) in self
            .audit_prune_due_at_least(default_days, min_days, SystemTime::now())
            .await?
        {
            match self.audit_prune(pool, &chain, size, "audit retention").await {
                Ok(p) => out.push(p),
                Err(e) => tracing::warn!(chain, size, error = %e, "audit chain not pruned"),
            }
        }
        Ok(out)
    }
}

/// Prunes every `opts.interval` until `shutdown`; rounds of several replicas do not collide (the database function
/// locks each chain and refuses a range already pruned).
pub async fn run_pruner(store: Store, opts: RetentionOptions, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    if opts.default_days == 0 && opts.interval.is_zero() {
        return;
    }
    let pool = match &opts.database_url {
        None => None,
        Some(url) => {
            let schema: std::result::Result<String, _> = sqlx::query_scalar("SELECT current_schema()")
                .fetch_one(store.pool())
                .await;
            let connect = |schema: String| -> std::result::Result<PgPool, sqlx::Error> {
                let o: PgConnectOptions = url.parse()?;
                Ok(PgPoolOptions::new()
                    .max_connections(1)
                    .connect_lazy_with(o.options([("search_path", schema.as_str())])))
            };
            match schema.map(connect) {
                Ok(Ok(p)) => Some(p),
                Ok(Err(e)) | Err(e) => {
                    tracing::error!(error = %e, "--audit-prune-database-url: cannot connect; audit pruning is off");
                    return;
                }
            }
        }
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(opts.interval) => {}
            _ = shutdown.changed() => return,
        }
        if let Err(e) = store
            .audit_prune_round_at_least(pool.as_ref(), opts.default_days, opts.min_days)
            .await
        {
            tracing::warn!(error = %e, "audit pruning round failed");
        }
    }
}
