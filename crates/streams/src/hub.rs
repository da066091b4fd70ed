//! The hub: which client connection subscribes to what, and fan-out of changes to them.
//!
//! Rooms are keyed by (project, stream, group). A room holds the connections subscribed to the whole group and,
//! per item id, the connections subscribed to that item — so an item subscription is always scoped by its group
//! (Motia keys item rooms by stream and id only, mixing items of different groups).
//!
//! Every connection has a bounded outbox (messages and bytes). A connection whose outbox is full is closed
//! with code 1013; fan-out never waits for a client.
//!
//! Joining is two-phase: [`Hub::begin_join`] registers the subscription paused (changes for it are held back),
//! the caller reads the current state, and [`Hub::finish_join`] sends the `sync` followed by the changes held
//! back. So a client never sees a `sync` older than a change it already missed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use cfp_store::streams::StreamChange;
use cfp_store::Scope;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::wire;

pub type ConnId = u64;

/// Items whose last write sequence a room remembers; beyond, it forgets them all (only the protection against
/// an older change arriving late from another replica is lost, for items changed long ago).
const MAX_SEEN: usize = 65_536;

/// A group of a stream in one project.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoomKey {
    pub scope: Scope,
    pub stream: String,
    pub group: String,
}

/// What a subscription follows: a whole group, or one item of a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub room: RoomKey,
    pub item: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Messages a connection may have waiting before it is closed as too slow.
    pub max_messages: usize,
    /// Bytes a connection may have waiting before it is closed as too slow.
    pub max_bytes: usize,
    /// Subscriptions one connection may hold.
    pub max_subscriptions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_messages: 1024,
            max_bytes: 8 << 20,
            max_subscriptions: 1024,
        }
    }
}

/// Why the runtime closes a client connection (WebSocket close code and reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    pub code: u16,
    pub reason: String,
}

impl Close {
    pub const TRY_AGAIN_LATER: u16 = 1013;
    pub const GOING_AWAY: u16 = 1001;

    fn too_slow(limits: &Limits) -> Close {
        Close {
            code: Self::TRY_AGAIN_LATER,
            reason: format!(
                "client too slow: more than {} messages or {} KiB waiting",
                limits.max_messages,
                limits.max_bytes >> 10
            ),
        }
    }
}

/// One client connection, shared by its session and the rooms it is in.
pub struct Conn {
    pub id: ConnId,
    pub scope: Scope,
    /// What is known of the caller; passed to `canAccess`.
    pub auth: Value,
    tx: mpsc::Sender<Arc<str>>,
    bytes: AtomicUsize,
    closed: AtomicBool,
    close: watch::Sender<Option<Close>>,
    /// Changes held back while a join of this connection reads its `sync` (joins run one at a time).
    held: Mutex<Option<Vec<Arc<str>>>>,
    subs: Mutex<HashMap<String, Target>>,
    limits: Limits,
}

impl Conn {
    /// Queues a message; a full outbox closes the connection. False when the message was not queued.
    pub fn push(&self, msg: Arc<str>) -> bool {
        if self.is_closed() {
            return false;
        }
        let len = msg.len();
        if self.bytes.fetch_add(len, Ordering::AcqRel) + len > self.limits.max_bytes {
            self.bytes.fetch_sub(len, Ordering::AcqRel);
            self.close(Close::too_slow(&self.limits));
            return false;
        }
        match self.tx.try_send(msg) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.bytes.fetch_sub(len, Ordering::AcqRel);
                self.close(Close::too_slow(&self.limits));
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.bytes.fetch_sub(len, Ordering::AcqRel);
                false
            }
        }
    }

    /// Asks the session to close the connection (the first reason wins).
    pub fn close(&self, close: Close) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            tracing::debug!(
                conn = self.id,
                code = close.code,
                "closing stream client: {}",
                close.reason
            );
            self.close.send_replace(Some(close));
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Resolves when the connection is to be closed, with the reason.
    pub async fn closed(&self) -> Close {
        let mut rx = self.close.subscribe();
        loop {
            if let Some(c) = rx.borrow_and_update().clone() {
                return c;
            }
            if rx.changed().await.is_err() {
                return Close {
                    code: Close::GOING_AWAY,
                    reason: String::new(),
                };
            }
        }
    }

    /// Holds a change back while a join is reading; false (and closed) when too many are held.
    fn hold(&self, msg: &Arc<str>) -> bool {
        let mut held = self.held.lock().unwrap();
        match held.as_mut() {
            Some(buf) if buf.len() < self.limits.max_messages => {
                buf.push(msg.clone());
                true
            }
            Some(_) => {
                drop(held);
                self.close(Close::too_slow(&self.limits));
                false
            }
            None => self.push(msg.clone()),
        }
    }

    /// Subscriptions this connection holds.
    pub fn subscriptions(&self) -> usize {
        self.subs.lock().unwrap().len()
    }
}

/// The receiving end of a connection's outbox (the session's writer reads it).
pub struct Outbox {
    rx: mpsc::Receiver<Arc<str>>,
    conn: Arc<Conn>,
}

impl Outbox {
    pub async fn recv(&mut self) -> Option<Arc<str>> {
        let m = self.rx.recv().await?;
        self.conn.bytes.fetch_sub(m.len(), Ordering::AcqRel);
        Some(m)
    }

    pub fn try_recv(&mut self) -> Option<Arc<str>> {
        let m = self.rx.try_recv().ok()?;
        self.conn.bytes.fetch_sub(m.len(), Ordering::AcqRel);
        Some(m)
    }
}

struct Member {
    conn: Arc<Conn>,
    /// Subscription ids of this connection on this target.
    subs: u32,
    /// False while a join is reading its sync: changes are held back on the connection.
    live: bool,
}

#[derive(Default)]
struct Room {
    group: HashMap<ConnId, Member>,
    items: HashMap<String, HashMap<ConnId, Member>>,
    /// Highest write sequence seen per item: an older change arriving late (another replica) is dropped.
    seen: HashMap<String, i64>,
}

impl Room {
    fn members_mut(&mut self, item: &Option<String>) -> &mut HashMap<ConnId, Member> {
        match item {
            None => &mut self.group,
            Some(id) => self.items.entry(id.clone()).or_default(),
        }
    }

    fn is_empty(&self) -> bool {
        self.group.is_empty() && self.items.is_empty()
    }

    fn remove_member(&mut self, item: &Option<String>, conn: ConnId, all: bool) {
        let members = self.members_mut(item);
        if let Some(m) = members.get_mut(&conn) {
            m.subs = m.subs.saturating_sub(1);
            if all || m.subs == 0 {
                members.remove(&conn);
            }
        }
        if let Some(id) = item {
            if self.items.get(id).is_some_and(HashMap::is_empty) {
                self.items.remove(id);
            }
        }
    }
}

/// Current state sent as `sync` when a subscription starts.
#[derive(Debug, Clone)]
pub enum SyncData {
    Item(Option<Value>),
    Group(Vec<Value>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinError {
    TooManySubscriptions(usize),
    Closed,
}

#[derive(Default)]
pub struct Hub {
    rooms: Mutex<HashMap<RoomKey, Arc<Mutex<Room>>>>,
    conns: Mutex<HashMap<ConnId, Weak<Conn>>>,
    clock: AtomicI64,
    next_id: AtomicU64,
    limits: Limits,
}

impl Hub {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            ..Default::default()
        }
    }

    /// A timestamp in ms since the epoch, strictly greater than every one handed out before: Motia's clients
    /// drop a message whose timestamp is not newer than the last one they applied.
    pub fn next_ts(&self) -> i64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let mut last = self.clock.load(Ordering::Acquire);
        loop {
            let ts = now.max(last + 1);
            match self
                .clock
                .compare_exchange_weak(last, ts, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return ts,
                Err(actual) => last = actual,
            }
        }
    }

    /// Adds a client connection; its messages arrive on the returned outbox.
    pub fn connect(&self, scope: Scope, auth: Value) -> (Arc<Conn>, Outbox) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = mpsc::channel(self.limits.max_messages.max(1));
        let conn = Arc::new(Conn {
            id,
            scope,
            auth,
            tx,
            bytes: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            close: watch::Sender::new(None),
            held: Mutex::new(None),
            subs: Mutex::new(HashMap::new()),
            limits: self.limits,
        });
        self.conns.lock().unwrap().insert(id, Arc::downgrade(&conn));
        let outbox = Outbox { rx, conn: conn.clone() };
        (conn, outbox)
    }

    /// Removes every subscription of a connection.
    pub fn disconnect(&self, conn: &Arc<Conn>) {
        let subs: Vec<Target> = conn.subs.lock().unwrap().drain().map(|(_, t)| t).collect();
        let mut rooms = self.rooms.lock().unwrap();
        for t in subs {
            Self::drop_member(&mut rooms, &t, conn.id, true);
        }
        drop(rooms);
        self.conns.lock().unwrap().remove(&conn.id);
        *conn.held.lock().unwrap() = None;
    }

    fn drop_member(rooms: &mut HashMap<RoomKey, Arc<Mutex<Room>>>, t: &Target, conn: ConnId, all: bool) {
        let Some(room) = rooms.get(&t.room) else { return };
        let empty = {
            let mut r = room.lock().unwrap();
            r.remove_member(&t.item, conn, all);
            r.is_empty()
        };
        if empty {
            rooms.remove(&t.room);
        }
    }

    /// Starts a subscription, paused: changes for it are held back until [`Hub::finish_join`]. Returns the
    /// timestamp its `sync` must carry (older than every change held back). A subscription id already in use
    /// on the connection is replaced.
    pub fn begin_join(&self, conn: &Arc<Conn>, sub_id: &str, target: Target) -> Result<i64, JoinError> {
        if conn.is_closed() {
            return Err(JoinError::Closed);
        }
        {
            let mut subs = conn.subs.lock().unwrap();
            if let Some(old) = subs.remove(sub_id) {
                let mut rooms = self.rooms.lock().unwrap();
                Self::drop_member(&mut rooms, &old, conn.id, false);
            }
            if subs.len() >= self.limits.max_subscriptions {
                return Err(JoinError::TooManySubscriptions(self.limits.max_subscriptions));
            }
            subs.insert(sub_id.to_string(), target.clone());
        }
        let mut rooms = self.rooms.lock().unwrap();
        let room = rooms.entry(target.room.clone()).or_default().clone();
        let mut room = room.lock().unwrap();
        *conn.held.lock().unwrap() = Some(Vec::new());
        let member = room.members_mut(&target.item).entry(conn.id).or_insert_with(|| Member {
            conn: conn.clone(),
            subs: 0,
            live: false,
        });
        member.subs += 1;
        member.live = false;
        Ok(self.next_ts())
    }

    /// Sends the subscription's `sync` (stamped `ts`), then the changes held back, and makes it live.
    pub fn finish_join(&self, conn: &Arc<Conn>, target: &Target, ts: i64, data: &SyncData) {
        let msg: Arc<str> = wire::sync_message(target, data, ts).into();
        let rooms = self.rooms.lock().unwrap();
        let Some(room) = rooms.get(&target.room).cloned() else {
            *conn.held.lock().unwrap() = None;
            return;
        };
        let mut room = room.lock().unwrap();
        let held = conn.held.lock().unwrap().take().unwrap_or_default();
        if !conn.push(msg) {
            return;
        }
        for m in held {
            if !conn.push(m) {
                return;
            }
        }
        if let Some(member) = room.members_mut(&target.item).get_mut(&conn.id) {
            member.live = true;
        }
    }

    /// Undoes [`Hub::begin_join`] (reading the sync failed).
    pub fn abort_join(&self, conn: &Arc<Conn>, sub_id: &str) {
        self.leave(conn, sub_id);
        *conn.held.lock().unwrap() = None;
    }

    /// Ends a subscription; false when the connection has none with this id.
    pub fn leave(&self, conn: &Arc<Conn>, sub_id: &str) -> bool {
        let Some(t) = conn.subs.lock().unwrap().remove(sub_id) else {
            return false;
        };
        let mut rooms = self.rooms.lock().unwrap();
        Self::drop_member(&mut rooms, &t, conn.id, false);
        true
    }

    /// Delivers a change to the subscribers of its group and item, once per connection. Returns the number
    /// of connections it was queued (or held back) for.
    pub fn publish(&self, change: &StreamChange) -> usize {
        let key = RoomKey {
            scope: change.scope(),
            stream: change.stream.clone(),
            group: change.group.clone(),
        };
        let Some(room) = self.rooms.lock().unwrap().get(&key).cloned() else {
            return 0;
        };
        let mut room = room.lock().unwrap();
        if let (Some(id), Some(seq)) = (&change.id, change.seq) {
            if room.seen.get(id).is_some_and(|s| *s >= seq) {
                return 0;
            }
            if room.seen.len() >= MAX_SEEN {
                room.seen.clear();
            }
            room.seen.insert(id.clone(), seq);
        }
        let msg: Arc<str> = wire::change_message(change, self.next_ts()).into();
        let mut delivered = 0;
        let mut dead = false;
        let room = &mut *room;
        let mut item_conns = HashSet::new();
        if let Some(members) = change.id.as_ref().and_then(|id| room.items.get(id)) {
            for (cid, m) in members {
                let live = m.live || room.group.get(cid).is_some_and(|g| g.live);
                item_conns.insert(*cid);
                dead |= !deliver(&m.conn, &msg, live);
                delivered += 1;
            }
        }
        for (cid, m) in &room.group {
            if item_conns.contains(cid) {
                continue;
            }
            dead |= !deliver(&m.conn, &msg, m.live);
            delivered += 1;
        }
        if dead {
            room.group.retain(|_, m| !m.conn.is_closed());
            for members in room.items.values_mut() {
                members.retain(|_, m| !m.conn.is_closed());
            }
            room.items.retain(|_, m| !m.is_empty());
        }
        delivered
    }

    /// Sends a fresh `sync` to every live subscriber of `target` (after a gap in the change feed).
    pub fn resync(&self, target: &Target, data: &SyncData) {
        let Some(room) = self.rooms.lock().unwrap().get(&target.room).cloned() else {
            return;
        };
        let room = room.lock().unwrap();
        let members = match &target.item {
            None => Some(&room.group),
            Some(id) => room.items.get(id),
        };
        let msg: Arc<str> = wire::sync_message(target, data, self.next_ts()).into();
        for m in members.into_iter().flat_map(HashMap::values).filter(|m| m.live) {
            m.conn.push(msg.clone());
        }
    }

    /// Every group and item somebody subscribes to.
    pub fn targets(&self) -> Vec<Target> {
        let rooms = self.rooms.lock().unwrap();
        let mut out = Vec::new();
        for (key, room) in rooms.iter() {
            let room = room.lock().unwrap();
            if !room.group.is_empty() {
                out.push(Target {
                    room: key.clone(),
                    item: None,
                });
            }
            for id in room.items.keys() {
                out.push(Target {
                    room: key.clone(),
                    item: Some(id.clone()),
                });
            }
        }
        out
    }

    /// Closes every connection (runtime shutting down).
    pub fn close_all(&self, close: Close) {
        let conns: Vec<Arc<Conn>> = self.conns.lock().unwrap().values().filter_map(Weak::upgrade).collect();
        for c in conns {
            c.close(close.clone());
        }
    }

    /// (connections, rooms) — diagnostics and tests.
    pub fn counts(&self) -> (usize, usize) {
        (self.conns.lock().unwrap().len(), self.rooms.lock().unwrap().len())
    }
}

fn deliver(conn: &Arc<Conn>, msg: &Arc<str>, live: bool) -> bool {
    if live {
        conn.push(msg.clone()) || !conn.is_closed()
    } else {
        conn.hold(msg)
    }
}

#[cfg(test)]
mod tests;
