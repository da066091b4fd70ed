//! Changes across replicas over Redis pub/sub (`--redis-url`), instead of PostgreSQL LISTEN/NOTIFY.
//!
//! The messages are the NOTIFY payloads ([`cfp_store::streams::StreamNotice`]): a small change inline, a large
//! one by reference to `stream_changes`. The channel is the schema's NOTIFY channel name
//! (`cfp_streams_<hash of the schema>`), so deployments sharing a Redis never see each other's changes.
//!
//! - Writes are not NOTIFYed ([`cfp_store::Store::with_stream_notify`]); after a write commits its notice is
//!   queued and a publisher task sends it (in order, retrying across reconnects). A queue that fills up while
//!   Redis is unreachable drops notices (counted, logged).
//! - A subscriber task receives the other runtimes' notices. When Redis is unreachable it says so and retries
//!   with backoff; after the subscription was lost (or could not be made at first), every subscribed client
//!   gets a fresh `sync` from the database, as after a lost LISTEN connection.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::{fanout, FanoutStats, Streams};

/// Notices waiting to be published (Redis down or slow) before new ones are dropped.
const QUEUE: usize = 4096;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// The subscription is pinged this often: a connection that went silent is noticed.
const PING_EVERY: Duration = Duration::from_secs(10);
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The Redis side of a runtime's stream service.
pub struct RedisFanout {
    /// The URL with its password masked, for logs.
    label: String,
    client: Result<redis::Client, String>,
    tx: mpsc::Sender<String>,
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    subscribed: AtomicBool,
}

impl RedisFanout {
    pub(crate) fn new(url: &str) -> (Self, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let fanout = RedisFanout {
            label: redact(url),
            client: redis::Client::open(url).map_err(|e| e.to_string()),
            tx,
            published: AtomicU64::new(0),
            received: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            subscribed: AtomicBool::new(false),
        };
        (fanout, rx)
    }

    /// Queues a notice for the publisher; never waits.
    pub(crate) fn publish(&self, notice: String) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(notice) {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(
                dropped = n,
                "Redis at {} unreachable for too long: a stream change is not announced to other runtimes",
                self.label
            );
        }
    }

    pub(crate) fn stats(&self) -> FanoutStats {
        FanoutStats {
            transport: "redis",
            published: self.published.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            subscribed: self.subscribed.load(Ordering::Relaxed),
        }
    }

    fn client(&self) -> Option<&redis::Client> {
        match &self.client {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::error!(
                    "invalid Redis URL {}: {e}; stream changes do not cross runtimes",
                    self.label
                );
                None
            }
        }
    }
}

/// The schema's channel (read from PostgreSQL, retried until it answers).
async fn channel(streams: &Streams) -> String {
    let mut backoff = FIRST_BACKOFF;
    loop {
        match streams.store().streams_channel().await {
            Ok(c) => return c,
            Err(e) => {
                tracing::warn!(error = %e, "stream fan-out cannot reach the database; changes of other runtimes wait");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Receives other runtimes' changes until the caller stops it (shutdown).
pub(crate) async fn subscribe(streams: &Streams, redis: &RedisFanout) {
    let Some(client) = redis.client() else {
        return std::future::pending().await;
    };
    let channel = channel(streams).await;
    let mut backoff = FIRST_BACKOFF;
    // Changes may have been missed (no subscription yet, or a lost one): re-sync clients once subscribed.
    let mut gap = false;
    loop {
        let pubsub = match tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub()).await {
            Ok(Ok(p)) => Some(p),
            Ok(Err(e)) => {
                tracing::warn!(
                    "cannot reach Redis at {}: {e}; changes of other runtimes wait (retrying in {} ms)",
                    redis.label,
                    backoff.as_millis()
                );
                None
            }
            Err(_) => {
                tracing::warn!(
                    "cannot reach Redis at {}: no answer within {CONNECT_TIMEOUT:?}; changes of other runtimes wait (retrying in {} ms)",
                    redis.label,
                    backoff.as_millis()
                );
                None
            }
        };
        let mut pubsub = match pubsub {
            Some(p) => p,
            None => {
                gap = true;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        if let Err(e) = pubsub.subscribe(&channel).await {
            tracing::warn!("SUBSCRIBE {channel} on Redis at {} failed: {e}", redis.label);
            gap = true;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            continue;
        }
        backoff = FIRST_BACKOFF;
        redis.subscribed.store(true, Ordering::Relaxed);
        tracing::info!(
            "stream changes fan out over Redis at {} (channel {channel})",
            redis.label
        );
        if gap {
            fanout::resync_all(streams).await;
        }
        let (mut sink, mut messages) = pubsub.split();
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        loop {
            tokio::select! {
                msg = messages.next() => match msg {
                    Some(msg) => {
                        redis.received.fetch_add(1, Ordering::Relaxed);
                        match msg.get_payload::<String>() {
                            Ok(payload) => fanout::on_notice(streams, &payload).await,
                            Err(_) => tracing::debug!("ignoring a malformed stream message from Redis"),
                        }
                    }
                    None => {
                        tracing::warn!("lost the Redis subscription at {}; reconnecting", redis.label);
                        break;
                    }
                },
                _ = ping.tick() => {
                    if !matches!(tokio::time::timeout(COMMAND_TIMEOUT, sink.ping::<redis::Value>()).await, Ok(Ok(_))) {
                        tracing::warn!("the Redis subscription at {} stopped answering; reconnecting", redis.label);
                        break;
                    }
                }
            }
        }
        redis.subscribed.store(false, Ordering::Relaxed);
        gap = true;
    }
}

/// Publishes the notices of this runtime's writes, in order, until shutdown.
pub(crate) async fn publisher(streams: Streams, mut rx: mpsc::Receiver<String>) {
    let Some(redis) = streams.redis() else { return };
    tokio::select! {
        _ = publish_all(&streams, redis, &mut rx) => {}
        _ = streams.shutting_down() => {}
    }
}

async fn publish_all(streams: &Streams, redis: &RedisFanout, rx: &mut mpsc::Receiver<String>) {
    let Some(client) = redis.client() else {
        return std::future::pending().await;
    };
    let channel = channel(streams).await;
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    let mut backoff = FIRST_BACKOFF;
    while let Some(notice) = rx.recv().await {
        loop {
            if conn.is_none() {
                match tokio::time::timeout(CONNECT_TIMEOUT, client.get_multiplexed_async_connection()).await {
                    Ok(Ok(c)) => conn = Some(c),
                    outcome => {
                        let why = match outcome {
                            Ok(Err(e)) => e.to_string(),
                            _ => format!("no answer within {CONNECT_TIMEOUT:?}"),
                        };
                        tracing::warn!(
                            "cannot publish stream changes to Redis at {}: {why}; retrying in {} ms",
                            redis.label,
                            backoff.as_millis()
                        );
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                }
            }
            let c = conn.as_mut().expect("connected");
            let mut cmd = redis::cmd("PUBLISH");
            cmd.arg(&channel).arg(&notice);
            match tokio::time::timeout(COMMAND_TIMEOUT, cmd.query_async::<i64>(c)).await {
                Ok(Ok(_)) => {
                    redis.published.fetch_add(1, Ordering::Relaxed);
                    backoff = FIRST_BACKOFF;
                    break;
                }
                Ok(Err(e)) => tracing::warn!("PUBLISH to Redis at {} failed: {e}; reconnecting", redis.label),
                Err(_) => tracing::warn!("PUBLISH to Redis at {} timed out; reconnecting", redis.label),
            }
            conn = None;
        }
    }
}

/// `redis://user:secret@host` → `redis://user:***@host`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
            None => format!("{}***{}", &url[..s + 3], &url[at..]),
        },
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("redis://:pw@h:6379/0"), "redis://:***@h:6379/0");
        assert_eq!(redact("redis://u:pw@h"), "redis://u:***@h");
        assert_eq!(redact("redis://h:6379"), "redis://h:6379");
    }
}
