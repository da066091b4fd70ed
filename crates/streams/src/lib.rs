//! CFP streams: Motia's `*.stream.ts` served by the runtime.
//!
//! - [`hub`]: client connections, rooms keyed by (project, stream, group[, item]), fan-out into bounded
//!   per-connection outboxes (a slow client is closed with 1013, never waited for).
//! - [`wire`]: Motia's client protocol (`join`/`leave` in; `sync`/`create`/`update`/`delete`/`event` out).
//! - [`client`]: what a client message does: find the stream, run `canAccess`, join with a `sync`.
//! - [`rpc`]: the worker RPC methods `streams.get|set|delete|getGroup|send` (`ctx.streams.<name>`).
//! - [`registry`]: streams registered by this runtime's workers; [`access`]: `canAccess` round trips.
//! - [`fanout`]: changes across replicas (PostgreSQL LISTEN/NOTIFY on the schema's channel), sweeping stored large changes.
//! - [`redis_fanout`]: the same over Redis pub/sub, when [`StreamsConfig::redis_url`] is set.
//!
//! Writes go to PostgreSQL (`cfp_store::streams`) and are announced with NOTIFY in the same transaction (or,
//! with Redis, published right after it commits); the runtime that made a change delivers it to its own clients
//! at once, the others when the notification arrives.
//!
//! ```no_run
//! # async fn demo(store: cfp_store::Store, shutdown: tokio::sync::watch::Receiver<bool>) {
//! use std::sync::Arc;
//! let send: cfp_streams::WorkerSender = Arc::new(|_worker, _frame| false);
//! let streams = cfp_streams::Streams::start(store, cfp_streams::StreamsConfig::default(), send, shutdown);
//! let (conn, mut outbox) = streams.connect(cfp_store::Scope::new("default", "default"), serde_json::json!({}));
//! streams.handle_client_text(&conn, r#"{"type":"join","data":{"streamName":"todo","groupId":"g","subscriptionId":"s"}}"#).await;
//! let sync_or_error = outbox.recv().await;
//! streams.disconnect(&conn);
//! # }
//! ```

pub mod access;
pub mod client;
pub mod fanout;
pub mod hub;
pub mod redis_fanout;
pub mod registry;
pub mod rpc;
pub mod wire;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cfp_protocol::{RegistrationError, StreamManifest, ToWorker};
use cfp_store::streams::{GroupCount, StreamChange};
use cfp_store::{Scope, Store, StoreError};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use hub::{Close, Conn, Limits, Outbox};
pub use registry::WorkerId;

/// Sends a frame to a connected worker; false when it is gone.
pub type WorkerSender = Arc<dyn Fn(WorkerId, ToWorker) -> bool + Send + Sync>;

#[derive(Debug, Clone)]
pub struct StreamsConfig {
    /// This runtime's instance id: notifications it sent itself are skipped (it delivered them directly).
    pub instance_id: String,
    pub limits: Limits,
    /// How long a join waits for the worker's `canAccess` answer before refusing.
    pub access_timeout: Duration,
    /// Stored large changes are swept after this long.
    pub changes_retention: Duration,
    /// Fan changes out across replicas over Redis pub/sub at this URL instead of PostgreSQL NOTIFY.
    pub redis_url: Option<String>,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        Self {
            instance_id: format!("rt-{}", std::process::id()),
            limits: Limits::default(),
            access_timeout: Duration::from_secs(5),
            changes_retention: Duration::from_secs(300),
            redis_url: None,
        }
    }
}

/// How long other replicas' stream definitions are cached before `stream_defs` is read again.
const DEFS_TTL: Duration = Duration::from_secs(2);

/// Another replica's view of a project's streams, and when it was read.
type CachedDefs = (Instant, Arc<Vec<StreamManifest>>);

/// Handle to the stream service. Cheap to clone.
#[derive(Clone)]
pub struct Streams {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    cfg: StreamsConfig,
    hub: hub::Hub,
    registry: Mutex<registry::Registry>,
    checks: access::AccessChecks,
    send: WorkerSender,
    defs: Mutex<HashMap<Scope, CachedDefs>>,
    shutdown: watch::Receiver<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Redis fan-out, when configured (NOTIFY otherwise).
    redis: Option<redis_fanout::RedisFanout>,
}

/// The cross-replica transport (`notify` or `redis`) and, for Redis, what went over it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FanoutStats {
    pub transport: &'static str,
    /// Notices published to Redis.
    pub published: u64,
    /// Notices received from Redis (other runtimes' and this one's own).
    pub received: u64,
    /// Notices dropped because Redis stayed unreachable and the publish queue filled up.
    pub dropped: u64,
    /// Whether the Redis subscription is currently up.
    pub subscribed: bool,
}

/// A registered stream with its groups (runtime API).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamInfo {
    pub name: String,
    pub file: String,
    pub has_can_access: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    pub groups: Vec<GroupCount>,
}

impl Streams {
    /// Starts the service and its background tasks (change listener, sweeper; with Redis also the
    /// publisher); they stop when `shutdown` turns true (or its sender is dropped), and every client connection
    /// is closed with 1001 then.
    pub fn start(store: Store, cfg: StreamsConfig, send: WorkerSender, shutdown: watch::Receiver<bool>) -> Self {
        let (redis, publish_rx) = match cfg.redis_url.as_deref() {
            Some(url) => {
                let (fanout, rx) = redis_fanout::RedisFanout::new(url);
                (Some(fanout), Some(rx))
            }
            None => (None, None),
        };
        // With Redis, writes are not NOTIFYed: this service publishes their notices itself.
        let store = store.with_stream_notify(redis.is_none());
        let streams = Streams {
            inner: Arc::new(Inner {
                store,
                hub: hub::Hub::new(cfg.limits),
                cfg,
                registry: Mutex::default(),
                checks: access::AccessChecks::default(),
                send,
                defs: Mutex::default(),
                shutdown,
                tasks: Mutex::default(),
                redis,
            }),
        };
        let mut tasks = vec![
            tokio::spawn(fanout::listener(streams.clone())),
            tokio::spawn(fanout::sweeper(streams.clone())),
        ];
        if let Some(rx) = publish_rx {
            tasks.push(tokio::spawn(redis_fanout::publisher(streams.clone(), rx)));
        }
        streams.inner.tasks.lock().unwrap().extend(tasks);
        streams
    }

    pub fn hub(&self) -> &hub::Hub {
        &self.inner.hub
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn config(&self) -> &StreamsConfig {
        &self.inner.cfg
    }

    /// Resolves when the runtime shuts down.
    pub async fn shutting_down(&self) {
        let mut rx = self.inner.shutdown.clone();
        let _ = rx.wait_for(|v| *v).await;
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    /// Waits (bounded) for the background tasks after shutdown was signalled.
    pub async fn stopped(&self, within: Duration) {
        let handles: Vec<JoinHandle<()>> = std::mem::take(&mut *self.inner.tasks.lock().unwrap());
        for h in handles {
            if tokio::time::timeout(within, &mut Box::pin(h)).await.is_err() {
                tracing::debug!("a stream task did not stop in time");
            }
        }
    }

    // ---- workers ----

    /// Replaces the streams a worker hosts (from `register`); returns the refused ones.
    pub async fn register_worker(
        &self,
        worker: WorkerId,
        scope: &Scope,
        streams: Vec<StreamManifest>,
    ) -> Result<Vec<RegistrationError>, StoreError> {
        let (errors, set) = self.inner.registry.lock().unwrap().set_worker(worker, scope, streams);
        for e in &errors {
            tracing::warn!(stream = %e.step, file = %e.file, code = %e.code, "{}", e.message);
        }
        self.inner.store.replace_stream_defs(scope, &set).await?;
        self.inner.defs.lock().unwrap().remove(scope);
        Ok(errors)
    }

    /// A worker disconnected: it no longer answers `canAccess`. The project's stream definitions stay (its
    /// items and subscriptions outlive workers).
    pub fn disconnect_worker(&self, worker: WorkerId) {
        self.inner.registry.lock().unwrap().remove_worker(worker);
        self.inner.checks.fail_worker(worker);
    }

    /// An `access_result` frame.
    pub fn access_result(&self, worker: WorkerId, id: &str, allowed: bool) {
        self.inner.checks.resolve(worker, id, allowed);
    }

    // ---- clients ----

    /// A new client connection of a project; `auth` is what is known of the caller (passed to `canAccess`).
    pub fn connect(&self, scope: Scope, auth: Value) -> (Arc<Conn>, Outbox) {
        self.inner.hub.connect(scope, auth)
    }

    pub fn disconnect(&self, conn: &Arc<Conn>) {
        self.inner.hub.disconnect(conn);
    }

    // ---- lookups ----

    /// A stream of the project that clients and workers may use: registered on this runtime, or (other
    /// replicas) in `stream_defs`. Internal streams are never found.
    pub async fn find(&self, scope: &Scope, name: &str) -> Result<Option<StreamManifest>, StoreError> {
        if name.starts_with(registry::INTERNAL_PREFIX) {
            return Ok(None);
        }
        if let Some(m) = self.inner.registry.lock().unwrap().get(scope, name) {
            return Ok(Some(m));
        }
        Ok(self.defs(scope).await?.iter().find(|m| m.name == name).cloned())
    }

    /// Names of the project's streams, for error messages.
    pub async fn names(&self, scope: &Scope) -> Vec<String> {
        let mut names: BTreeSet<String> = self.inner.registry.lock().unwrap().names(scope);
        if let Ok(defs) = self.defs(scope).await {
            names.extend(defs.iter().map(|m| m.name.clone()));
        }
        names.into_iter().collect()
    }

    async fn defs(&self, scope: &Scope) -> Result<Arc<Vec<StreamManifest>>, StoreError> {
        if let Some((at, defs)) = self.inner.defs.lock().unwrap().get(scope) {
            if at.elapsed() < DEFS_TTL {
                return Ok(defs.clone());
            }
        }
        let defs = Arc::new(self.inner.store.stream_defs(scope).await?);
        self.inner
            .defs
            .lock()
            .unwrap()
            .insert(scope.clone(), (Instant::now(), defs.clone()));
        Ok(defs)
    }

    /// `unknown stream `x`; this project's streams: a, b` (or that it has none).
    pub async fn unknown_stream(&self, scope: &Scope, name: &str) -> String {
        let names = self.names(scope).await;
        if names.is_empty() {
            format!("unknown stream `{name}`: this project has no streams (define one in a `*.stream.ts` file)")
        } else {
            format!("unknown stream `{name}`; this project's streams: {}", names.join(", "))
        }
    }

    /// Every registered stream with its groups and item counts (runtime API).
    pub async fn list(&self, scope: &Scope) -> Result<Vec<StreamInfo>, StoreError> {
        let mut by_name: HashMap<String, StreamManifest> = HashMap::new();
        for m in self.inner.store.stream_defs(scope).await? {
            by_name.insert(m.name.clone(), m);
        }
        for m in self.inner.registry.lock().unwrap().project(scope) {
            by_name.insert(m.name.clone(), m);
        }
        let mut names: Vec<String> = by_name.keys().cloned().collect();
        names.sort();
        let mut out = Vec::new();
        for name in names {
            let m = by_name.remove(&name).expect("name listed");
            let groups = self.inner.store.stream_groups(scope, &name).await?;
            out.push(StreamInfo {
                name,
                file: m.file,
                has_can_access: m.has_can_access,
                schema: m.schema,
                groups,
            });
        }
        Ok(out)
    }

    /// How changes reach the other replicas, with counters (diagnostics, tests).
    pub fn fanout_stats(&self) -> FanoutStats {
        match &self.inner.redis {
            None => FanoutStats {
                transport: "notify",
                ..FanoutStats::default()
            },
            Some(r) => r.stats(),
        }
    }

    pub(crate) fn redis(&self) -> Option<&redis_fanout::RedisFanout> {
        self.inner.redis.as_ref()
    }

    /// A write of this runtime committed: with Redis, its notice is published to the other replicas (NOTIFY
    /// went with the transaction otherwise).
    pub(crate) fn announced(&self, notice: String) {
        if let Some(r) = &self.inner.redis {
            r.publish(notice);
        }
    }

    /// Delivers a change to this runtime's clients.
    pub fn deliver(&self, change: &StreamChange) -> usize {
        self.inner.hub.publish(change)
    }
}
