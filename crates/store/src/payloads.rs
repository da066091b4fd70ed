//! Large payloads in object storage (local directory by default), referenced from queue rows (FR-7).

use std::sync::Arc;

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use serde_json::Value;

use crate::{Result, Scope, StoreError};

mod bodies;
pub use bodies::{BodyUpload, StoredBody, BODY_CHUNK};

pub struct Payloads {
    store: Arc<dyn ObjectStore>,
    label: String,
}

impl Payloads {
    /// Payloads stored as files under `dir` (created if missing).
    pub fn local(dir: &std::path::Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Invalid(format!("cannot create payload directory {}: {e}", dir.display())))?;
        let fs = LocalFileSystem::new_with_prefix(dir)?;
        Ok(Self {
            store: Arc::new(fs),
            label: format!("file://{}", dir.display()),
        })
    }

    /// Payloads kept in memory (tests).
    pub fn memory() -> Self {
        Self {
            store: Arc::new(InMemory::new()),
            label: "memory://".into(),
        }
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub async fn put(&self, scope: &Scope, id: &str, value: &Value) -> Result<String> {
        let key = format!("{}/{}/payloads/{id}.json", scope.tenant, scope.project);
        let bytes = serde_json::to_vec(value).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.store
            .put(&Path::from(key.as_str()), PutPayload::from(Bytes::from(bytes)))
            .await?;
        Ok(key)
    }

    pub async fn get(&self, reference: &str) -> Result<Value> {
        let bytes = self.store.get(&Path::from(reference)).await?.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Invalid(format!("payload {reference}: {e}")))
    }

    /// Removes every payload of a project (its data is being purged); returns how many.
    pub async fn remove_project(&self, scope: &Scope) -> Result<u64> {
        use futures_util::TryStreamExt;
        let prefix = Path::from(format!("{}/{}", scope.tenant, scope.project).as_str());
        let objects: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        for o in &objects {
            match self.store.delete(&o.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(objects.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn removing_a_project_removes_its_payloads_only() {
        let p = Payloads::memory();
        let (a, b) = (Scope::new("t", "a"), Scope::new("t", "ab"));
        let ra = p.put(&a, "1", &serde_json::json!({"x": 1})).await.unwrap();
        p.put(&a, "2", &serde_json::json!({"x": 2})).await.unwrap();
        let rb = p.put(&b, "1", &serde_json::json!({"y": 1})).await.unwrap();
        assert_eq!(p.remove_project(&a).await.unwrap(), 2);
        assert!(p.get(&ra).await.is_err());
        assert_eq!(
            p.get(&rb).await.unwrap(),
            serde_json::json!({"y": 1}),
            "a project whose id starts alike keeps its own"
        );
        assert_eq!(p.remove_project(&a).await.unwrap(), 0);
    }
}
