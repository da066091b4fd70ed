//! `canAccess` round trips: the runtime sends `access {id, stream, groupId, itemId?, authContext}` to a worker
//! hosting the stream and waits (bounded) for `access_result {id, allowed}`. No answer means no access.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::registry::WorkerId;

#[derive(Default)]
pub struct AccessChecks {
    next: AtomicU64,
    pending: Mutex<HashMap<String, (WorkerId, oneshot::Sender<bool>)>>,
}

impl AccessChecks {
    /// A new check sent to `worker`: its id and the receiver of the answer.
    pub fn start(&self, worker: WorkerId) -> (String, oneshot::Receiver<bool>) {
        // Unguessable, like invocation ids: a worker answers only checks it was asked, and cannot name others'.
        let id = format!(
            "a{}-{}",
            self.next.fetch_add(1, Ordering::Relaxed) + 1,
            uuid::Uuid::new_v4().simple()
        );
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id.clone(), (worker, tx));
        (id, rx)
    }

    /// An `access_result` from `worker`; answers from another worker than the one asked are ignored.
    pub fn resolve(&self, worker: WorkerId, id: &str, allowed: bool) {
        let mut pending = self.pending.lock().unwrap();
        if pending.get(id).is_some_and(|(w, _)| *w == worker) {
            if let Some((_, tx)) = pending.remove(id) {
                let _ = tx.send(allowed);
            }
        }
    }

    pub fn cancel(&self, id: &str) {
        self.pending.lock().unwrap().remove(id);
    }

    /// The worker is gone: its checks fail (no access).
    pub fn fail_worker(&self, worker: WorkerId) {
        self.pending.lock().unwrap().retain(|_, (w, _)| *w != worker);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_the_asked_worker_answers() {
        let checks = AccessChecks::default();
        let (id, rx) = checks.start(7);
        checks.resolve(8, &id, true);
        checks.resolve(7, &id, false);
        assert_eq!(rx.await, Ok(false));
        let (_, rx) = checks.start(7);
        checks.fail_worker(7);
        assert!(rx.await.is_err());
    }
}
