//! Changes across replicas. Every write is announced with a NOTIFY on the schema's stream channel in its
//! transaction; each runtime listens and delivers the changes other runtimes made to its own clients (it
//! delivered its own at once).
//! After the listening connection was lost, every subscription gets a fresh `sync`: changes made meanwhile are
//! not lost to clients.
//!
//! With Redis configured ([`crate::redis_fanout`]) the same notices travel over Redis pub/sub instead; reading
//! them ([`on_notice`]), stored large changes and the re-sync after a gap are shared.

use std::time::Duration;

use cfp_store::streams::StreamNotice;
use sqlx::postgres::PgListener;

use crate::hub::{Close, SyncData, Target};
use crate::Streams;

/// Delivers other runtimes' changes until shutdown; then closes every client connection (1001).
pub(crate) async fn listener(streams: Streams) {
    tokio::select! {
        _ = async {
            match streams.redis() {
                Some(redis) => crate::redis_fanout::subscribe(&streams, redis).await,
                None => listen(&streams).await,
            }
        } => {}
        _ = streams.shutting_down() => {}
    }
    streams.hub().close_all(Close {
        code: Close::GOING_AWAY,
        reason: "the runtime is shutting down".into(),
    });
}

async fn listen(streams: &Streams) {
    let mut backoff = Duration::from_millis(200);
    let mut first = true;
    loop {
        let channel = match streams.store().streams_channel().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "stream listener cannot reach the database; changes of other runtimes wait");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        let mut listener = match PgListener::connect_with(streams.store().pool()).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "stream listener cannot connect; changes of other runtimes wait");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        if let Err(e) = listener.listen(&channel).await {
            tracing::warn!(error = %e, "LISTEN {channel} failed");
            tokio::time::sleep(backoff).await;
            continue;
        }
        backoff = Duration::from_millis(200);
        if !first {
            resync_all(streams).await;
        }
        first = false;
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => on_notice(streams, n.payload()).await,
                Ok(None) => resync_all(streams).await,
                Err(e) => {
                    tracing::warn!(error = %e, "stream listener lost its connection; reconnecting");
                    break;
                }
            }
        }
    }
}

pub(crate) async fn on_notice(streams: &Streams, payload: &str) {
    let Some(notice) = StreamNotice::parse(payload) else {
        tracing::debug!("ignoring a malformed stream notification");
        return;
    };
    if notice.origin() == streams.config().instance_id {
        return;
    }
    let change = match notice {
        StreamNotice::Inline(c) => c,
        StreamNotice::Stored { seq, .. } => match streams.store().stream_change(seq).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                tracing::warn!(seq, "a stored stream change is gone (swept?); clients may miss it");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, seq, "cannot read a stored stream change; clients may miss it");
                return;
            }
        },
    };
    streams.deliver(&change);
}

/// Sends every subscription a fresh `sync` from the database.
pub(crate) async fn resync_all(streams: &Streams) {
    let targets = streams.hub().targets();
    if targets.is_empty() {
        return;
    }
    tracing::info!(
        subscriptions = targets.len(),
        "stream feed had a gap; re-syncing subscribed clients"
    );
    for t in targets {
        if let Some(data) = read(streams, &t).await {
            streams.hub().resync(&t, &data);
        }
    }
}

async fn read(streams: &Streams, t: &Target) -> Option<SyncData> {
    let store = streams.store();
    let (scope, stream, group) = (&t.room.scope, &t.room.stream, &t.room.group);
    let r = match &t.item {
        Some(id) => store.stream_get(scope, stream, group, id).await.map(SyncData::Item),
        None => store.stream_group(scope, stream, group).await.map(SyncData::Group),
    };
    r.map_err(|e| tracing::warn!(error = %e, "re-sync read failed")).ok()
}

/// Deletes stored large changes every replica has had time to read.
pub(crate) async fn sweeper(streams: Streams) {
    let retention = streams.config().changes_retention;
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = streams.shutting_down() => return,
        }
        if let Err(e) = streams.store().sweep_stream_changes(retention.as_secs() as i64).await {
            tracing::warn!(error = %e, "sweeping stored stream changes failed");
        }
    }
}
