//! Request bodies above the payload threshold (docs/architecture.md, "Ingress memory"): ingress streams one into
//! object storage part by part ([`BodyUpload`]), the worker of its invocation reads it back in chunks of at most
//! [`BODY_CHUNK`] bytes (`payload.get`), ingress deletes it when the invocation ends, and
//! [`Payloads::sweep_bodies`] removes what a crash left.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, WriteMultipart};
use sha2::{Digest, Sha256};

use super::Payloads;
use crate::{Result, Scope, StoreError};

/// Every request body is under this prefix (`bodies/{tenant}/{project}/{uuid}`), so the sweep lists only them.
const PREFIX: &str = "bodies";
/// The part size of an upload and the largest chunk a read answers.
pub const BODY_CHUNK: usize = 256 * 1024;
/// Parts being written at once: what an upload holds in memory is at most about this many parts.
const PARTS_IN_FLIGHT: usize = 2;

/// A stored request body: its key, size in bytes and SHA-256 (lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBody {
    pub key: String,
    pub size: u64,
    pub sha256: String,
}

/// A request body being written. Dropped unfinished, it is aborted (nothing is left behind).
pub struct BodyUpload {
    key: String,
    writer: Option<WriteMultipart>,
    hasher: Sha256,
    size: u64,
    store: Arc<dyn ObjectStore>,
}

impl BodyUpload {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends `chunk`, waiting while [`PARTS_IN_FLIGHT`] parts are still being written.
    pub async fn write(&mut self, chunk: Bytes) -> Result<()> {
        let writer = self.writer.as_mut().expect("an upload is written until it is finished");
        writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        self.hasher.update(&chunk);
        self.size += chunk.len() as u64;
        writer.put(chunk);
        Ok(())
    }

    /// Completes the object.
    pub async fn finish(mut self) -> Result<StoredBody> {
        let writer = self.writer.take().expect("finished once");
        writer.finish().await?;
        Ok(StoredBody {
            key: std::mem::take(&mut self.key),
            size: self.size,
            sha256: hex::encode(std::mem::take(&mut self.hasher).finalize()),
        })
    }

    /// Abandons the upload: written parts are removed, no object remains.
    pub async fn abort(mut self) {
        if let Some(writer) = self.writer.take() {
            if let Err(e) = writer.abort().await {
                tracing::warn!(error = %e, key = %self.key, "aborting a request body upload failed");
            }
        }
        let _ = self.store.delete(&Path::from(self.key.as_str())).await;
    }
}

impl Drop for BodyUpload {
    fn drop(&mut self) {
        // Dropped unfinished (the request was abandoned): abort in the background.
        if let (Some(writer), Ok(rt)) = (self.writer.take(), tokio::runtime::Handle::try_current()) {
            rt.spawn(async move {
                let _ = writer.abort().await;
            });
        }
    }
}

impl Payloads {
    /// Starts storing a request body of `scope` under a new random key.
    pub async fn body_upload(&self, scope: &Scope) -> Result<BodyUpload> {
        let key = format!("{PREFIX}/{}/{}/{}", scope.tenant, scope.project, uuid::Uuid::new_v4());
        let upload = self.store.put_multipart(&Path::from(key.as_str())).await?;
        Ok(BodyUpload {
            key,
            writer: Some(WriteMultipart::new_with_chunk_size(upload, BODY_CHUNK)),
            hasher: Sha256::new(),
            size: 0,
            store: self.store.clone(),
        })
    }

    /// At most [`BODY_CHUNK`] bytes of a stored body from `offset`, and the body's size. The caller checked that
    /// the key is one it may read.
    pub async fn body_chunk(&self, key: &str, offset: u64) -> Result<(Bytes, u64)> {
        let path = Path::from(key);
        let size = self.store.head(&path).await?.size;
        if offset > size {
            return Err(StoreError::Invalid(format!(
                "offset {offset} is past the end of the body ({size} bytes)"
            )));
        }
        let end = (offset + BODY_CHUNK as u64).min(size);
        let bytes = if end == offset {
            Bytes::new()
        } else {
            self.store.get_range(&path, offset..end).await?
        };
        Ok((bytes, size))
    }

    /// Deletes a stored body (gone already is fine).
    pub async fn delete_body(&self, key: &str) -> Result<()> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The keys of stored request bodies, at most `max`.
    pub async fn body_keys(&self, max: usize) -> Result<Vec<String>> {
        let mut listing = self.store.list(Some(&Path::from(PREFIX)));
        let mut keys = Vec::new();
        while keys.len() < max {
            let Some(meta) = listing.try_next().await? else { break };
            keys.push(meta.location.to_string());
        }
        Ok(keys)
    }

    /// Deletes stored request bodies last written more than `age` ago that `in_flight` does not claim: a body is
    /// deleted when its invocation ends, so these are what a crash left. Looks at most `max` objects per call
    /// (bounded work; what is left waits for the next sweep). Returns how many were deleted.
    pub async fn sweep_bodies(&self, age: Duration, max: usize, in_flight: impl Fn(&str) -> bool) -> Result<usize> {
        let cutoff = chrono::Utc::now() - chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX);
        let mut listing = self.store.list(Some(&Path::from(PREFIX)));
        let (mut seen, mut deleted) = (0, 0);
        while seen < max {
            let Some(meta) = listing.try_next().await? else { break };
            seen += 1;
            if meta.last_modified < cutoff && !in_flight(meta.location.as_ref()) {
                self.delete_body(meta.location.as_ref()).await?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_is_stored_in_parts_read_in_chunks_and_swept() {
        let p = Payloads::memory();
        let scope = Scope::new("t", "p");
        let body: Vec<u8> = (0..BODY_CHUNK * 2 + 10).map(|i| (i % 251) as u8).collect();
        let mut up = p.body_upload(&scope).await.unwrap();
        for chunk in body.chunks(7000) {
            up.write(Bytes::copy_from_slice(chunk)).await.unwrap();
        }
        let stored = up.finish().await.unwrap();
        assert!(stored.key.starts_with("bodies/t/p/"), "{}", stored.key);
        assert_eq!(stored.size, body.len() as u64);
        assert_eq!(stored.sha256, hex::encode(Sha256::digest(&body)));
        let mut read = Vec::new();
        loop {
            let (chunk, size) = p.body_chunk(&stored.key, read.len() as u64).await.unwrap();
            assert_eq!(size, body.len() as u64);
            assert!(chunk.len() <= BODY_CHUNK);
            if chunk.is_empty() {
                break;
            }
            read.extend_from_slice(&chunk);
        }
        assert_eq!(read, body);
        assert!(p.body_chunk(&stored.key, size_past(&body)).await.is_err());
        // Young or in flight: kept. Old and not in flight: deleted.
        assert_eq!(
            p.sweep_bodies(Duration::from_secs(60), 100, |_| false).await.unwrap(),
            0
        );
        assert_eq!(
            p.sweep_bodies(Duration::ZERO, 100, |k| k == stored.key).await.unwrap(),
            0
        );
        assert_eq!(p.sweep_bodies(Duration::ZERO, 100, |_| false).await.unwrap(), 1);
        assert!(p.body_keys(10).await.unwrap().is_empty());
    }

    fn size_past(body: &[u8]) -> u64 {
        body.len() as u64 + 1
    }

    #[tokio::test]
    async fn an_aborted_upload_leaves_nothing() {
        let p = Payloads::memory();
        let mut up = p.body_upload(&Scope::new("t", "p")).await.unwrap();
        up.write(Bytes::from(vec![1u8; BODY_CHUNK + 1])).await.unwrap();
        up.abort().await;
        assert!(p.body_keys(10).await.unwrap().is_empty());
    }
}
