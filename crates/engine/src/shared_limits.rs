//! Concurrency limits counted across runtime replicas (`--redis-url`): `maxConcurrentRequests` and
//! `maxConcurrentExecutions` of a project and of its tenant hold for the whole region, not for each replica.
//!
//! Every request or execution that a limit applies to takes a lease in Redis: a member of a sorted set per
//! (limit, project) and per (limit, tenant), scored by its expiry in Redis's own clock. One Lua script drops
//! expired leases, checks the counts against the limits and adds the lease to every set — or to none, naming
//! the set that was full. Releasing removes the lease; a replica that dies leaves leases that expire after
//! [`LEASE`], and a live replica renews the ones it holds every [`RENEW_EVERY`] so long work keeps its place.
//! Project and tenant keys share a `{tenant}` hash tag, so the script touches one Redis Cluster slot.
//!
//! The local counters of [`crate::limits`] and of the gateway stay in front: a replica never admits more
//! than the limit by itself, and Redis is asked only when a limit is set. When Redis is unreachable or slow
//! (> [`COMMAND_TIMEOUT`]), the replica falls back to its local count for [`RETRY_AFTER_FAILURE`] and says so
//! in the log (at most once a minute): a limit may then be exceeded up to (replicas × limit), never refused
//! for want of Redis.
//!
//! ```ignore
//! let shared = SharedCounters::new("redis://127.0.0.1:6379", "rt-1")?;
//! match shared.acquire("ex", &tenant, &project, [Some(4), Some(10)]).await {
//!     Acquired::Held(lease) => { /* run; dropping `lease` releases it */ }
//!     Acquired::Full { index, count } => { /* index 0: the project's limit, 1: the tenant's */ }
//!     Acquired::Unavailable => { /* counted locally only */ }
//! }
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How long a lease lives without renewal (a crashed replica's leases are gone after this).
pub const LEASE: Duration = Duration::from_secs(30);
/// How often a replica renews the leases it holds.
pub const RENEW_EVERY: Duration = Duration::from_secs(10);
/// A Redis call slower than this counts as a failure (the request then proceeds on local counts).
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, Redis is left alone this long before the next try.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// KEYS: the sets; ARGV: lease ms, member, then one limit per key. Returns 0 when the lease was taken in every
/// set, else the 1-based index of the first full set and its count.
const ACQUIRE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local n = redis.call('ZCARD', key)
  if n >= tonumber(ARGV[2 + i]) then return {i, n} end
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + lease, ARGV[2])
  redis.call('PEXPIRE', key, lease * 2)
end
return {0, 0}
";

/// KEYS: the sets; returns the live count of each.
const COUNT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  out[i] = redis.call('ZCARD', key)
end
return out
";

/// KEYS: one set; ARGV: lease ms, then members. Pushes the expiry of the members still present.
const RENEW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], lease * 2)
return 0
";

/// The outcome of [`SharedCounters::acquire`].
pub enum Acquired {
    /// A lease in every set with a limit; released when dropped.
    Held(Lease),
    /// The set at `index` (0: project, 1: tenant) already holds `count` leases.
    Full { index: usize, count: u32 },
    /// No limit applies, or Redis did not answer: only the local count applies.
    Unavailable,
}

struct Inner {
    label: String,
    client: redis::Client,
    replica: String,
    conn: tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
    /// Leases held by this replica: member → sets (renewed by [`renew_loop`]).
    held: Mutex<HashMap<String, Vec<String>>>,
    next: AtomicU64,
    /// Until when Redis is skipped after a failure.
    skip_until: Mutex<Option<Instant>>,
    last_warning: Mutex<Option<Instant>>,
    acquire: redis::Script,
    count: redis::Script,
    renew: redis::Script,
    failures: AtomicU64,
}

/// Counters shared by the replicas of a region through Redis. Cheap to clone.
#[derive(Clone)]
pub struct SharedCounters(Arc<Inner>);

/// One request's or execution's place in the shared counts; given back on drop.
pub struct Lease {
    inner: Arc<Inner>,
    member: String,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(keys) = self.inner.held.lock().unwrap().remove(&self.member) else {
            return;
        };
        let inner = self.inner.clone();
        let member = std::mem::take(&mut self.member);
        // Never block the dropping task; if this fails the lease expires by itself.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let mut pipe = redis::pipe();
                for k in &keys {
                    pipe.cmd("ZREM").arg(k).arg(&member).ignore();
                }
                let _ = inner
                    .run(|mut c| async move { pipe.query_async::<()>(&mut c).await })
                    .await;
            });
        }
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lease")
    }
}

fn key(kind: &str, tenant: &str, project: Option<&str>) -> String {
    match project {
        Some(p) => format!("cfp:limits:{kind}:{{{tenant}}}:p:{p}"),
        None => format!("cfp:limits:{kind}:{{{tenant}}}:t"),
    }
}

impl SharedCounters {
    /// Counters over the Redis at `url` for the replica `replica` (its instance id). Connects lazily and
    /// starts renewing held leases on the current Tokio runtime.
    pub fn new(url: &str, replica: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("--redis-url: {e}"))?;
        let inner = Arc::new(Inner {
            label: redact(url),
            client,
            replica: replica.to_string(),
            conn: tokio::sync::Mutex::new(None),
            held: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
            skip_until: Mutex::new(None),
            last_warning: Mutex::new(None),
            acquire: redis::Script::new(ACQUIRE),
            count: redis::Script::new(COUNT),
            renew: redis::Script::new(RENEW),
            failures: AtomicU64::new(0),
        });
        tokio::spawn(renew_loop(Arc::downgrade(&inner)));
        Ok(Self(inner))
    }

    /// Takes a lease of `kind` (`rq`: requests, `ex`: executions) for a project and its tenant, each against its
    /// limit (`None`: that scope has none and is not counted).
    pub async fn acquire(&self, kind: &str, tenant: &str, project: &str, limits: [Option<u32>; 2]) -> Acquired {
        let (keys, values) = sets(kind, tenant, project, limits);
        if keys.is_empty() {
            return Acquired::Unavailable;
        }
        let n = self.0.next.fetch_add(1, Ordering::Relaxed);
        let member = format!("{}:{n}", self.0.replica);
        let mut inv = self.0.acquire.prepare_invoke();
        for k in &keys {
            inv.key(k);
        }
        inv.arg(LEASE.as_millis() as u64).arg(&member);
        for v in &values {
            inv.arg(*v);
        }
        let outcome: Option<(usize, u32)> = self
            .0
            .run(|mut c| async move { inv.invoke_async::<(usize, u32)>(&mut c).await })
            .await;
        match outcome {
            None => Acquired::Unavailable,
            Some((0, _)) => {
                self.0.held.lock().unwrap().insert(member.clone(), keys);
                Acquired::Held(Lease {
                    inner: self.0.clone(),
                    member,
                })
            }
            Some((i, count)) => Acquired::Full {
                index: scope_index(limits, i - 1),
                count,
            },
        }
    }

    /// How many more of `kind` the project may start now across all replicas (`None`: Redis did not answer, or
    /// no limit is set).
    pub async fn room(&self, kind: &str, tenant: &str, project: &str, limits: [Option<u32>; 2]) -> Option<u32> {
        let (keys, values) = sets(kind, tenant, project, limits);
        if keys.is_empty() {
            return None;
        }
        let mut inv = self.0.count.prepare_invoke();
        for k in &keys {
            inv.key(k);
        }
        let counts: Vec<u32> = self
            .0
            .run(|mut c| async move { inv.invoke_async::<Vec<u32>>(&mut c).await })
            .await?;
        counts.iter().zip(&values).map(|(n, l)| l.saturating_sub(*n)).min()
    }

    /// Redis calls that failed or timed out since start.
    pub fn failures(&self) -> u64 {
        self.0.failures.load(Ordering::Relaxed)
    }
}

fn sets(kind: &str, tenant: &str, project: &str, limits: [Option<u32>; 2]) -> (Vec<String>, Vec<u32>) {
    let mut keys = Vec::with_capacity(2);
    let mut values = Vec::with_capacity(2);
    if let Some(l) = limits[0] {
        keys.push(key(kind, tenant, Some(project)));
        values.push(l);
    }
    if let Some(l) = limits[1] {
        keys.push(key(kind, tenant, None));
        values.push(l);
    }
    (keys, values)
}

/// Which scope (0 project, 1 tenant) the `i`-th counted set is, given which limits were set.
fn scope_index(limits: [Option<u32>; 2], i: usize) -> usize {
    if limits[0].is_none() {
        1
    } else {
        i
    }
}

impl Inner {
    /// Runs one Redis call with a timeout, connecting first if needed; `None` on any failure (then Redis is
    /// skipped for [`RETRY_AFTER_FAILURE`]).
    async fn run<T, F, Fut>(&self, call: F) -> Option<T>
    where
        F: FnOnce(redis::aio::MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        if let Some(until) = *self.skip_until.lock().unwrap() {
            if Instant::now() < until {
                return None;
            }
        }
        let attempt = async {
            let conn = {
                let mut slot = self.conn.lock().await;
                if slot.is_none() {
                    *slot = Some(self.client.get_multiplexed_async_connection().await?);
                }
                slot.clone().expect("connected")
            };
            call(conn).await
        };
        let why = match tokio::time::timeout(COMMAND_TIMEOUT, attempt).await {
            Ok(Ok(v)) => return Some(v),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} ms", COMMAND_TIMEOUT.as_millis()),
        };
        self.failures.fetch_add(1, Ordering::Relaxed);
        *self.conn.lock().await = None;
        *self.skip_until.lock().unwrap() = Some(Instant::now() + RETRY_AFTER_FAILURE);
        let mut last = self.last_warning.lock().unwrap();
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
            *last = Some(Instant::now());
            tracing::warn!(
                "concurrency limits cannot reach Redis at {}: {why}; counting on this replica only until it answers",
                self.label
            );
        }
        None
    }
}

async fn renew_loop(inner: Weak<Inner>) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let Some(inner) = inner.upgrade() else { return };
        let mut by_key: HashMap<String, Vec<String>> = HashMap::new();
        for (member, keys) in inner.held.lock().unwrap().iter() {
            for k in keys {
                by_key.entry(k.clone()).or_default().push(member.clone());
            }
        }
        for (k, members) in by_key {
            let mut inv = inner.renew.prepare_invoke();
            inv.key(&k).arg(LEASE.as_millis() as u64);
            for m in &members {
                inv.arg(m);
            }
            let _ = inner
                .run(|mut c| async move { inv.invoke_async::<i64>(&mut c).await })
                .await;
        }
    }
}

/// `redis://user:secret@host` → `redis://user:***@host`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "redis://127.0.0.1:6379";

    fn ids() -> (String, String) {
        (uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string())
    }

    #[tokio::test]
    async fn two_replicas_share_project_and_tenant_counts() {
        let a = SharedCounters::new(URL, "rt-a").unwrap();
        let b = SharedCounters::new(URL, "rt-b").unwrap();
        let (tenant, p1) = ids();
        let p2 = uuid::Uuid::new_v4().to_string();
        let Acquired::Held(l1) = a.acquire("ex", &tenant, &p1, [Some(2), Some(3)]).await else {
            panic!("the first lease is taken (is Redis running at {URL}?)")
        };
        let Acquired::Held(l2) = b.acquire("ex", &tenant, &p1, [Some(2), Some(3)]).await else {
            panic!("the second lease is taken on the other replica")
        };
        assert!(matches!(
            a.acquire("ex", &tenant, &p1, [Some(2), Some(3)]).await,
            Acquired::Full { index: 0, count: 2 }
        ));
        assert_eq!(b.room("ex", &tenant, &p1, [Some(2), Some(3)]).await, Some(0));
        // another project of the tenant: its own limit is free, the tenant's has one place left
        let Acquired::Held(_l3) = b.acquire("ex", &tenant, &p2, [None, Some(3)]).await else {
            panic!("the tenant has room for a third")
        };
        assert!(matches!(
            a.acquire("ex", &tenant, &p2, [None, Some(3)]).await,
            Acquired::Full { index: 1, count: 3 }
        ));
        // requests are counted apart from executions
        assert!(matches!(
            a.acquire("rq", &tenant, &p1, [Some(2), Some(3)]).await,
            Acquired::Held(_)
        ));
        drop(l1);
        let mut room = None;
        for _ in 0..50 {
            room = a.room("ex", &tenant, &p1, [Some(2), Some(3)]).await;
            if room == Some(1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(room, Some(1), "a released lease frees its place on every replica");
        drop(l2);
        assert_eq!(a.failures() + b.failures(), 0);
    }

    #[tokio::test]
    async fn without_a_limit_nothing_is_counted() {
        let a = SharedCounters::new(URL, "rt-a").unwrap();
        let (tenant, p) = ids();
        assert!(matches!(
            a.acquire("rq", &tenant, &p, [None, None]).await,
            Acquired::Unavailable
        ));
        assert_eq!(a.room("rq", &tenant, &p, [None, None]).await, None);
    }

    #[tokio::test]
    async fn an_unreachable_redis_falls_back_to_local_counting_quickly() {
        // nothing listens on port 9 of loopback: connection refused at once
        let a = SharedCounters::new("redis://127.0.0.1:9", "rt-a").unwrap();
        let (tenant, p) = ids();
        let started = Instant::now();
        assert!(matches!(
            a.acquire("rq", &tenant, &p, [Some(1), None]).await,
            Acquired::Unavailable
        ));
        // skipped, not retried, during the back-off
        assert!(matches!(
            a.acquire("rq", &tenant, &p, [Some(1), None]).await,
            Acquired::Unavailable
        ));
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        assert_eq!(a.failures(), 1);
    }

    #[test]
    fn keys_of_a_tenant_share_a_cluster_slot() {
        assert_eq!(key("rq", "t1", Some("p1")), "cfp:limits:rq:{t1}:p:p1");
        assert_eq!(key("rq", "t1", None), "cfp:limits:rq:{t1}:t");
        assert_eq!(redact("redis://:pw@h:6379"), "redis://***@h:6379");
    }
}
