//! An API request's body for a protocol 2 worker (docs/architecture.md, "Ingress memory"): up to the payload
//! threshold it is read into one buffer and travels as `rawBody`; above, it is streamed part by part into object
//! storage while it is counted against the body limit (413 as for any body, the partial object removed), a JSON
//! body is checked as it streams (400 `invalid_json`, the object removed), and the input carries `rawBodyRef`.
//! The runtime then holds at most a few parts of a large body at a time. The object is deleted when the
//! invocation ends ([`StoredGuard`]); the engine's sweep removes what a crash left.

use axum::body::Body;
use bytes::Bytes;
use cfp_protocol::{BodyFrom, ErrorCode, PayloadRef};
use cfp_store::payloads::{BodyUpload, StoredBody};
use cfp_store::{Scope, Store};
use futures_util::StreamExt;

use crate::error::ApiError;
use crate::limits;

/// What was read.
pub enum Read {
    /// At most the threshold: the bytes.
    Inline(Vec<u8>),
    /// Above the threshold: in object storage, deleted when the guard drops.
    Stored {
        from: BodyFrom,
        body: PayloadRef,
        guard: StoredGuard,
    },
}

/// Deletes a stored body when dropped (the invocation ended, or the request was abandoned).
pub struct StoredGuard {
    store: Store,
    key: String,
}

impl Drop for StoredGuard {
    fn drop(&mut self) {
        let (store, key) = (self.store.clone(), std::mem::take(&mut self.key));
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = store.payloads().delete_body(&key).await {
                    tracing::warn!(error = %e, key, "deleting a stored request body failed (the sweep will)");
                }
            });
        }
    }
}

/// Reads the body of a request for a protocol 2 worker: inline up to `threshold` bytes, else into storage.
pub async fn read(
    store: &Store,
    scope: &Scope,
    body: Body,
    declared: Option<usize>,
    limit: usize,
    content_type: &str,
) -> Result<Read, ApiError> {
    let threshold = store.payload_threshold();
    let mut stream = body.into_data_stream();
    if declared.is_some_and(|n| n > limit) {
        return Err(limits::refuse_too_large(stream, limit).await);
    }
    let mut buf = Vec::with_capacity(declared.unwrap_or(0).min(threshold));
    let first_over = loop {
        match stream.next().await {
            None => return Ok(Read::Inline(buf)),
            Some(Err(e)) => return Err(limits::malformed_body(e)),
            Some(Ok(chunk)) if buf.len() + chunk.len() > limit => {
                drop(buf);
                return Err(limits::refuse_too_large(stream, limit).await);
            }
            Some(Ok(chunk)) if buf.len() + chunk.len() > threshold => break chunk,
            Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
        }
    };
    let from = BodyFrom::of(content_type, if buf.is_empty() { &first_over } else { &buf });
    let unavailable = |e: cfp_store::StoreError| {
        tracing::warn!(error = %e, "storing a request body failed");
        ApiError::new(
            if e.is_transient() {
                ErrorCode::Unavailable
            } else {
                ErrorCode::Internal
            },
            format!("the request body could not be stored: {e}"),
        )
    };
    let mut upload = store.payloads().body_upload(scope).await.map_err(unavailable)?;
    let mut check = (from == BodyFrom::Json).then(JsonCheck::start);
    let mut next = Some(Bytes::from(buf));
    let mut pending = Some(first_over);
    loop {
        let chunk = match (next.take(), pending.take()) {
            (Some(b), p) => {
                pending = p;
                b
            }
            (None, Some(p)) => p,
            (None, None) => match stream.next().await {
                None => break,
                Some(Err(e)) => {
                    upload.abort().await;
                    return Err(limits::malformed_body(e));
                }
                Some(Ok(chunk)) => chunk,
            },
        };
        if upload.size() as usize + chunk.len() > limit {
            upload.abort().await;
            drop(check);
            return Err(limits::refuse_too_large(stream, limit).await);
        }
        if let Some(check) = check.as_mut() {
            check.feed(chunk.clone()).await;
        }
        write(&mut upload, chunk).await.map_err(unavailable)?;
    }
    if let Some(check) = check {
        if let Err(e) = check.finish().await {
            upload.abort().await;
            return Err(ApiError::new(
                ErrorCode::InvalidJson,
                format!("request body is not valid JSON: {e}"),
            ));
        }
    }
    let StoredBody { key, size, sha256 } = upload.finish().await.map_err(unavailable)?;
    Ok(Read::Stored {
        from,
        body: PayloadRef {
            key: key.clone(),
            size,
            sha256,
        },
        guard: StoredGuard {
            store: store.clone(),
            key,
        },
    })
}

async fn write(upload: &mut BodyUpload, chunk: Bytes) -> cfp_store::Result<()> {
    if chunk.is_empty() {
        return Ok(());
    }
    upload.write(chunk).await
}

/// A JSON check of a body fed chunk by chunk: `cfp_protocol::body::check_json_reader` on a blocking thread, reading
/// the chunks through a small channel (a few chunks held at a time).
struct JsonCheck {
    tx: Option<tokio::sync::mpsc::Sender<Bytes>>,
    done: tokio::task::JoinHandle<Result<(), serde_json::Error>>,
}

impl JsonCheck {
    fn start() -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let done = tokio::task::spawn_blocking(move || {
            cfp_protocol::body::check_json_reader(Chunks {
                rx,
                current: Bytes::new(),
            })
        });
        Self { tx: Some(tx), done }
    }

    /// Hands the checker a chunk (a checker that already failed drops it: `finish` says why).
    async fn feed(&mut self, chunk: Bytes) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(chunk).await;
        }
    }

    async fn finish(mut self) -> Result<(), serde_json::Error> {
        drop(self.tx.take());
        match (&mut self.done).await {
            Ok(result) => result,
            Err(e) => Err(serde::de::Error::custom(format!("the JSON check stopped: {e}"))),
        }
    }
}

/// The body's chunks as a reader, for `serde_json::from_reader`.
struct Chunks {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl std::io::Read for Chunks {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}
