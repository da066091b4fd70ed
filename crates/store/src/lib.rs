//! PostgreSQL storage of the CFP runtime (sqlx), plus the object store for large payloads.
//!
//! - [`queue`]: durable topic queues — publish (fan-out to subscribers), claim with `SKIP LOCKED`, complete,
//!   fail/retry, dead letters, lease reaping.
//! - [`state`]: the key/value state of `ctx.state`.
//! - [`logs`]: handler and runtime log lines, queryable by trace and step.
//! - [`spans`]: finished invocation attempts, grouped into traces.
//! - [`steps`]: the registered step manifests of each project (subscriptions live here).
//! - [`streams`]: stream items, registered stream definitions, change notifications across replicas.
//! - [`payloads`]: payloads above the threshold go to object storage and travel as references (FR-7).
//! - [`rollups`]: per-step minute and hour rollups of finished attempts (kept 13 months); [`slo`]: SLO
//!   overrides and burn-rate alerts.
//! - [`usage`]: per-tenant and per-project usage counters per hour and day (kept 13 months and more).
//! - [`alert_outbox`]: delivery of SLO alert transitions to the alert targets (durable, leased, retried).
//! - [`purge`]: projects deleted in the control plane, and the purge of their data after the retention.
//!
//! - [`audit`]: the audit chain's outbox, sequencer, checkpoints and keys (docs/audit.md); [`audit_read`]: its
//!   queries. Audit tables are append-only and never purged.
//!
//! Every table is keyed by tenant and project ([`Scope`]).

pub mod alert_outbox;
pub mod audit;
pub mod audit_read;
pub mod audit_retention;
pub mod audit_verify;
pub mod audited;
pub mod logs;
pub mod metrics;
pub mod outcomes;
pub mod payloads;
pub mod purge;
pub mod queue;
pub mod rollups;
pub mod slo;
pub mod spans;
pub mod state;
pub mod steps;
pub mod streams;
pub mod usage;
mod webhooks;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

pub use payloads::Payloads;

/// The tenant and project every row belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub tenant: String,
    pub project: String,
}

impl Scope {
    pub fn new(tenant: impl Into<String>, project: impl Into<String>) -> Self {
        Self {
            tenant: tenant.into(),
            project: project.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("object storage error: {0}")]
    Payload(#[from] object_store::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("not found: {0}")]
    NotFound(String),
}

impl StoreError {
    /// Errors worth retrying: the database or object store was unreachable for a moment.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Db(e) => {
                matches!(
                    e,
                    sqlx::Error::Io(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::WorkerCrashed
                ) || e
                    .as_database_error()
                    .and_then(|d| d.code())
                    .is_some_and(|c| c.starts_with("08") || c == "57P01")
            }
            StoreError::Payload(_) => true,
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub database_url: String,
    /// PostgreSQL schema holding the runtime's tables (tests use one schema each).
    pub schema: String,
    pub max_connections: u32,
    /// Payloads whose JSON is larger than this many bytes are stored in object storage.
    pub payload_threshold: usize,
    /// How long a query waits for a pool connection (while the database is unreachable, new connections fail
    /// and are retried until then) before failing with a transient error (`PoolTimedOut`): callers answer
    /// `503 unavailable` promptly instead of hanging.
    pub acquire_timeout: Duration,
}

/// Handle to the runtime's database and payload storage. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    payloads: Arc<Payloads>,
    payload_threshold: usize,
    /// Stream writes NOTIFY the schema's channel (off when another transport fans changes out).
    stream_notify: bool,
    /// Wakes the audit sequencer.
    audit_wake: Arc<audit::Wake>,
    /// Usage counted in memory until the next [`Store::flush_usage`].
    usage: Arc<usage::Meter>,
    /// The alert targets each SLO alert transition is queued for ([`alert_outbox`]).
    alert_targets: Arc<[String]>,
}

impl Store {
    /// Connects, creates the schema if needed and runs migrations.
    pub async fn connect(opts: &StoreOptions, payloads: Payloads) -> Result<Self> {
        if !opts.schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || opts.schema.is_empty() {
            return Err(StoreError::Invalid(format!(
                "schema name `{}` must be [A-Za-z0-9_]+",
                opts.schema
            )));
        }
        let mut base = PgConnectOptions::from_str(&opts.database_url)?;
        // Named in `pg_stat_activity` by schema (unless the URL names it): operators, and tests that kill this
        // store's connections, tell the stores sharing a database apart.
        if base.get_application_name().is_none() {
            base = base.application_name(&format!("cfp/{}", opts.schema));
        }
        // One direct connection first: fails fast (connection refused) so the caller can report and retry.
        {
            use sqlx::Connection;
            let conn = sqlx::PgConnection::connect_with(&base).await?;
            conn.close().await?;
        }
        {
            let setup = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(base.clone())
                .await?;
            // Concurrent replicas may race here; IF NOT EXISTS plus a retry covers it.
            let sql = format!("CREATE SCHEMA IF NOT EXISTS \"{}\"", opts.schema);
            if let Err(e) = sqlx::query(&sql).execute(&setup).await {
                sqlx::query(&sql).execute(&setup).await.map_err(|_| e)?;
            }
            setup.close().await;
        }
        let with_schema = base.options([("search_path", opts.schema.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(with_schema)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self {
            pool,
            payloads: Arc::new(payloads),
            payload_threshold: opts.payload_threshold,
            stream_notify: true,
            audit_wake: Default::default(),
            usage: Default::default(),
            alert_targets: Arc::new([]),
        })
    }

    /// This store with stream writes announced (NOTIFY) or not: a runtime that fans stream changes out over
    /// Redis publishes the [`streams::Announced::notice`] of each write itself.
    pub fn with_stream_notify(mut self, on: bool) -> Self {
        self.stream_notify = on;
        self
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn payloads(&self) -> &Payloads {
        &self.payloads
    }

    pub fn payload_threshold(&self) -> usize {
        self.payload_threshold
    }

    /// Records this runtime instance as alive; leases held by instances that stop beating are reaped.
    pub async fn heartbeat(&self, instance: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO runtimes (id) VALUES ($1)
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()",
        )
        .bind(instance)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The text a `json` column stores for `v` (bound as text and cast with `::json`, never through `jsonb`, which
/// would reorder the keys: migration 0014). Objects keep their key order (serde_json's `preserve_order`).
pub(crate) fn json_text(v: &serde_json::Value) -> String {
    v.to_string()
}
