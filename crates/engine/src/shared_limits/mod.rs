//! Concurrency limits counted across runtime replicas (`--redis-url`): `maxConcurrentRequests` and
//! `maxConcurrentExecutions` of a project and of its tenant hold for the whole region, not for each replica.
//!
//! Each replica holds a **reservation** of places in Redis per (limit kind, project, limits): a hash per counted
//! set — the project's and, when it has one, the tenant's — maps each replica's reservation to its number of
//! places, and a sorted set beside it scores each reservation by its expiry in Redis's own clock. One Lua script
//! drops expired reservations, sums the others and grants places in every set at once, or names the set that
//! is full. A request or execution takes a place from its replica's reservation; only when the reservation is
//! used up does the replica ask Redis for more, and what it does not use it gives back:
//!
//! - Near a limit the replica reserves one place at a time and gives each back when its work ends, so the count
//!   is exact: N replicas never run more than the limit together.
//! - Far from it (the script also answers the room left after the grant) the replica reserves up to an eighth
//!   of that room at once ([`MAX_CHUNK`] at most) and keeps as much spare: a busy replica then goes to Redis once
//!   per batch instead of twice per request. Spare places idle for [`IDLE`] are given back, so another replica
//!   is refused for want of room only while this one was actually busy.
//! - A replica renews its reservations every [`RENEW_EVERY`]; one that dies leaves reservations that expire after
//!   [`LEASE`]. Places it failed to give back (Redis down) are retried until Redis takes them.
//! - Project and tenant keys share a `{tenant}` hash tag, so the script touches one Redis Cluster slot.
//!
//! The local counters of [`crate::limits`] and of the gateway stay in front: a replica never admits more than
//! the limit by itself. When Redis is unreachable or slow (> [`COMMAND_TIMEOUT`]), the replica counts on its
//! own for [`RETRY_AFTER_FAILURE`] and says so in the log (at most once a minute): a limit may then be exceeded
//! up to (replicas × limit), never refused for want of Redis.
//!
//! ```ignore
//! let shared = SharedCounters::new("redis://127.0.0.1:6379", "rt-1")?;
//! match shared.acquire("ex", &tenant, &project, [Some(4), Some(10)]).await {
//!     Acquired::Held(lease) => { /* run; dropping `lease` gives the place back */ }
//!     Acquired::Full { index, count } => { /* index 0: the project's limit, 1: the tenant's */ }
//!     Acquired::Unavailable => { /* counted locally only */ }
//! }
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How long a reservation lives without renewal (a crashed replica's places are free after this).
pub const LEASE: Duration = Duration::from_secs(30);
/// How often a replica renews its reservations.
pub const RENEW_EVERY: Duration = Duration::from_secs(10);
/// Spare places unused this long are given back.
pub const IDLE: Duration = Duration::from_millis(250);
/// The most places reserved in one call.
pub const MAX_CHUNK: u32 = 64;
/// A Redis call slower than this counts as a failure (the request then proceeds on local counts).
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, Redis is left alone this long before the next try.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// Drops the expired reservations of the set `KEYS[i]` (its expiries in `KEYS[i]..':exp'`) and returns the sum
/// of the others. Shared by the scripts below.
const SUM: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function live_sum(key)
  local exp = key .. ':exp'
  local dead = redis.call('ZRANGEBYSCORE', exp, '-inf', now)
  for _, m in ipairs(dead) do redis.call('HDEL', key, m) end
  if #dead > 0 then redis.call('ZREMRANGEBYSCORE', exp, '-inf', now) end
  local sum = 0
  for _, v in ipairs(redis.call('HVALS', key)) do sum = sum + tonumber(v) end
  return sum
end
";

/// KEYS: the sets; ARGV: lease ms, member, places wanted, then one limit per key. Grants up to the places wanted
/// in every set, as many as the fullest allows: `{granted, 0, room left after}`; or `{0, i, count}` when set `i`
/// (1-based) is full.
const ACQUIRE: &str = r"
local lease = tonumber(ARGV[1])
local grant = tonumber(ARGV[3])
local rooms = {}
for i, key in ipairs(KEYS) do
  local room = tonumber(ARGV[3 + i]) - live_sum(key)
  if room <= 0 then return {0, i, tonumber(ARGV[3 + i]) - room} end
  if room < grant then grant = room end
  rooms[i] = room
end
local left = nil
for i, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, ARGV[2], grant)
  redis.call('ZADD', key .. ':exp', now + lease, ARGV[2])
  redis.call('PEXPIRE', key, lease * 2)
  redis.call('PEXPIRE', key .. ':exp', lease * 2)
  if left == nil or rooms[i] - grant < left then left = rooms[i] - grant end
end
return {grant, 0, left}
";

/// KEYS: the sets; ARGV: member, places. Gives places back.
const RELEASE: &str = r"
for _, key in ipairs(KEYS) do
  if redis.call('HINCRBY', key, ARGV[1], -tonumber(ARGV[2])) <= 0 then
    redis.call('HDEL', key, ARGV[1])
    redis.call('ZREM', key .. ':exp', ARGV[1])
  end
end
return 0
";

/// KEYS: the sets; returns the live count of each.
const COUNT: &str = r"
local out = {}
for i, key in ipairs(KEYS) do out[i] = live_sum(key) end
return out
";

/// KEYS: the sets; ARGV: lease ms, member. Pushes the expiry of the member's reservation.
const RENEW: &str = r"
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key .. ':exp', 'XX', now + tonumber(ARGV[1]), ARGV[2])
  redis.call('PEXPIRE', key, tonumber(ARGV[1]) * 2)
  redis.call('PEXPIRE', key .. ':exp', tonumber(ARGV[1]) * 2)
end
return 0
";

/// The outcome of [`SharedCounters::acquire`].
pub enum Acquired {
    /// A place in every set with a limit; given back when dropped.
    Held(Lease),
    /// The set at `index` (0: project, 1: tenant) already holds `count` places.
    Full { index: usize, count: u32 },
    /// No limit applies, or Redis did not answer: only the local count applies.
    Unavailable,
}

/// This replica's reservation for one (kind, project, limits).
struct Reservation {
    keys: Vec<String>,
    /// The member naming this reservation in the sets.
    member: String,
    /// Places held in Redis.
    reserved: u32,
    /// Of which in use.
    used: u32,
    /// Places given back locally that Redis has not taken yet (it was unreachable).
    owed: u32,
    /// How many places the next top-up asks for, and how many spare places are kept.
    chunk: u32,
    last_acquire: Instant,
}

struct Inner {
    label: String,
    client: redis::Client,
    replica: String,
    conn: tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
    /// Reservations by slot (kind, tenant, project and limits).
    slots: Mutex<HashMap<String, Reservation>>,
    /// Until when Redis is skipped after a failure.
    skip_until: Mutex<Option<Instant>>,
    last_warning: Mutex<Option<Instant>>,
    acquire: redis::Script,
    release: redis::Script,
    count: redis::Script,
    renew: redis::Script,
    failures: AtomicU64,
    calls: AtomicU64,
    /// The give-backs in flight ([`Lease`] drops); `None` once [`SharedCounters::close`] took them.
    give_backs: Mutex<Option<tokio::task::JoinSet<()>>>,
}

/// Counters shared by the replicas of a region through Redis. Cheap to clone.
#[derive(Clone)]
pub struct SharedCounters(Arc<Inner>);

/// One request's or execution's place in the shared counts; given back on drop.
pub struct Lease {
    inner: Arc<Inner>,
    slot: String,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let give_back = {
            let mut slots = self.inner.slots.lock().unwrap();
            let Some(r) = slots.get_mut(&self.slot) else { return };
            r.used = r.used.saturating_sub(1);
            let keep = r.used + r.chunk;
            (r.reserved > keep).then(|| {
                let n = r.reserved - keep;
                r.reserved = keep;
                (r.keys.clone(), r.member.clone(), n)
            })
        };
        if let Some((keys, member, n)) = give_back {
            let slot = self.slot.clone();
            // Never block the dropping task: the give-back is a task of the counters, which their close waits for;
            // what Redis does not take is owed and retried. Outside a runtime the places are owed (the upkeep gives
            // them back); once closed, they expire with the reservation, which is no longer renewed.
            let spawned = tokio::runtime::Handle::try_current().is_ok_and(|rt| {
                let mut tasks = self.inner.give_backs.lock().unwrap();
                let Some(set) = tasks.as_mut() else { return true };
                while set.try_join_next().is_some() {}
                let owner = self.inner.clone();
                set.spawn_on(async move { owner.give_back(&slot, keys, member, n).await }, &rt);
                true
            });
            if !spawned {
                if let Some(r) = self.inner.slots.lock().unwrap().get_mut(&self.slot) {
                    r.owed += n;
                }
            }
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
    /// Counters over the Redis at `url` for the replica `replica` (its instance id). Connects lazily; renewing
    /// and trimming reservations is [`SharedCounters::upkeep`], which its owner runs ([`crate::Engine::share_limits`]
    /// spawns it into the engine's services, so it stops with the engine).
    pub fn new(url: &str, replica: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("--redis-url: {e}"))?;
        let script = |body: &str| redis::Script::new(&format!("{SUM}{body}"));
        let inner = Arc::new(Inner {
            label: redact(url),
            client,
            replica: replica.to_string(),
            conn: tokio::sync::Mutex::new(None),
            slots: Mutex::new(HashMap::new()),
            skip_until: Mutex::new(None),
            last_warning: Mutex::new(None),
            acquire: script(ACQUIRE),
            release: redis::Script::new(RELEASE),
            count: script(COUNT),
            renew: script(RENEW),
            failures: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            give_backs: Mutex::new(Some(tokio::task::JoinSet::new())),
        });
        Ok(Self(inner))
    }

    /// The task that gives back idle places and renews reservations; it ends by itself once every clone of the
    /// counters is dropped.
    pub fn upkeep(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        upkeep(Arc::downgrade(&self.0))
    }

    /// Takes a place of `kind` (`rq`: requests, `ex`: executions) for a project and its tenant, each against its
    /// limit (`None`: that scope has none and is not counted).
    pub async fn acquire(&self, kind: &str, tenant: &str, project: &str, limits: [Option<u32>; 2]) -> Acquired {
        let (keys, values) = sets(kind, tenant, project, limits);
        if keys.is_empty() {
            return Acquired::Unavailable;
        }
        let slot = format!("{kind}|{tenant}|{project}|{limits:?}");
        let want = {
            let mut slots = self.0.slots.lock().unwrap();
            match slots.get_mut(&slot) {
                Some(r) if r.used < r.reserved => {
                    r.used += 1;
                    r.last_acquire = Instant::now();
                    return self.held(slot);
                }
                Some(r) => r.chunk.max(1),
                None => 1,
            }
        };
        let member = format!("{}|{slot}", self.0.replica);
        let mut inv = self.0.acquire.prepare_invoke();
        for k in &keys {
            inv.key(k);
        }
        inv.arg(LEASE.as_millis() as u64).arg(&member).arg(want);
        for v in &values {
            inv.arg(*v);
        }
        let outcome: Option<(u32, usize, u32)> = self
            .0
            .run(|mut c| async move { inv.invoke_async::<(u32, usize, u32)>(&mut c).await })
            .await;
        match outcome {
            None => Acquired::Unavailable,
            Some((0, i, count)) => Acquired::Full {
                index: scope_index(limits, i.saturating_sub(1)),
                count,
            },
            Some((granted, _, left)) => {
                let mut slots = self.0.slots.lock().unwrap();
                let r = slots.entry(slot.clone()).or_insert_with(|| Reservation {
                    keys,
                    member,
                    reserved: 0,
                    used: 0,
                    owed: 0,
                    chunk: 0,
                    last_acquire: Instant::now(),
                });
                r.reserved += granted;
                r.used += 1;
                r.chunk = (left / 8).min(MAX_CHUNK);
                r.last_acquire = Instant::now();
                drop(slots);
                self.held(slot)
            }
        }
    }

    fn held(&self, slot: String) -> Acquired {
        Acquired::Held(Lease {
            inner: self.0.clone(),
            slot,
        })
    }

    /// How many more of `kind` the project may start now across all replicas, counting this replica's spare
    /// places (`None`: Redis did not answer, or no limit is set).
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
        let slot = format!("{kind}|{tenant}|{project}|{limits:?}");
        let spare = self
            .0
            .slots
            .lock()
            .unwrap()
            .get(&slot)
            .map_or(0, |r| r.reserved.saturating_sub(r.used));
        let free = counts.iter().zip(&values).map(|(n, l)| l.saturating_sub(*n)).min()?;
        Some(free + spare)
    }

    /// Stops the counters' own work for a shutdown: waits up to `within` for the give-backs in flight (then
    /// aborts the rest), and gives back every place reserved and not in use, and every place owed, each call
    /// bounded by [`COMMAND_TIMEOUT`]. Leases dropped afterwards give nothing back: their places expire with the
    /// reservation after [`LEASE`]. Returns the give-backs that had to be aborted.
    pub async fn close(&self, within: Duration) -> usize {
        let set = self.0.give_backs.lock().unwrap().take();
        let mut aborted = 0;
        if let Some(mut set) = set {
            let _ = tokio::time::timeout(within, async { while set.join_next().await.is_some() {} }).await;
            aborted = set.len();
            set.shutdown().await;
        }
        let work: Vec<(String, Vec<String>, String, u32)> = {
            let mut slots = self.0.slots.lock().unwrap();
            slots
                .iter_mut()
                .filter_map(|(slot, r)| {
                    let n = std::mem::take(&mut r.owed) + r.reserved.saturating_sub(r.used);
                    r.reserved = r.used;
                    r.chunk = 0;
                    (n > 0).then(|| (slot.clone(), r.keys.clone(), r.member.clone(), n))
                })
                .collect()
        };
        let give = async {
            for (slot, keys, member, n) in work {
                self.0.give_back(&slot, keys, member, n).await;
            }
        };
        let _ = tokio::time::timeout(within, give).await;
        aborted
    }

    /// Redis calls that failed or timed out since start.
    pub fn failures(&self) -> u64 {
        self.0.failures.load(Ordering::Relaxed)
    }

    /// Redis calls made since start (successful or not).
    pub fn calls(&self) -> u64 {
        self.0.calls.load(Ordering::Relaxed)
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
        self.calls.fetch_add(1, Ordering::Relaxed);
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

    /// Gives `n` places of a reservation back to Redis; what it does not take is owed and retried by [`upkeep`].
    async fn give_back(&self, slot: &str, keys: Vec<String>, member: String, n: u32) {
        let mut inv = self.release.prepare_invoke();
        for k in &keys {
            inv.key(k);
        }
        inv.arg(&member).arg(n);
        let done = self
            .run(|mut c| async move { inv.invoke_async::<i64>(&mut c).await })
            .await
            .is_some();
        let mut slots = self.slots.lock().unwrap();
        if let Some(r) = slots.get_mut(slot) {
            if !done {
                r.owed += n;
            } else if r.reserved == 0 && r.used == 0 && r.owed == 0 {
                slots.remove(slot);
            }
        }
    }
}

/// Gives back spare places idle for [`IDLE`] and places owed, and renews reservations every [`RENEW_EVERY`].
async fn upkeep(inner: Weak<Inner>) {
    let mut last_renewal = Instant::now();
    loop {
        tokio::time::sleep(IDLE).await;
        let Some(inner) = inner.upgrade() else { return };
        let mut work = Vec::new();
        {
            let mut slots = inner.slots.lock().unwrap();
            for (slot, r) in slots.iter_mut() {
                let mut n = std::mem::take(&mut r.owed);
                if r.reserved > r.used && r.last_acquire.elapsed() >= IDLE {
                    n += r.reserved - r.used;
                    r.reserved = r.used;
                    r.chunk = 0;
                }
                if n > 0 {
                    work.push((slot.clone(), r.keys.clone(), r.member.clone(), n));
                }
            }
        }
        for (slot, keys, member, n) in work {
            inner.give_back(&slot, keys, member, n).await;
        }
        if last_renewal.elapsed() < RENEW_EVERY {
            continue;
        }
        last_renewal = Instant::now();
        let held: Vec<(Vec<String>, String)> = inner
            .slots
            .lock()
            .unwrap()
            .values()
            .filter(|r| r.reserved + r.owed > 0)
            .map(|r| (r.keys.clone(), r.member.clone()))
            .collect();
        for (keys, member) in held {
            let mut inv = inner.renew.prepare_invoke();
            for k in &keys {
                inv.key(k);
            }
            inv.arg(LEASE.as_millis() as u64).arg(&member);
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
mod tests;
