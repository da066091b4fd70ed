//! The owner of the engine's short-lived tasks (a worker's call being answered, a delivery being failed, a NOTIFY
//! to other replicas, a purge): every such task is spawned through [`Engine::spawn`] into one set, and
//! [`Engine::shutdown`] waits for them (bounded), then aborts and awaits whatever is left. The long-lived tasks
//! (completer, log writer, listener, maintenance, deadline watch, cron, dispatchers, the settings follower) are
//! owned the same way and stopped after them.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::Engine;

/// A set of tasks; finished ones are reaped as new ones are spawned, so it holds only what still runs.
#[derive(Default)]
pub(crate) struct Owner {
    set: Mutex<JoinSet<()>>,
}

impl Owner {
    pub fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut set = self.set.lock().unwrap();
        while set.try_join_next().is_some() {}
        set.spawn(fut);
    }

    /// Tasks not yet reaped that still run.
    pub fn running(&self) -> usize {
        let mut set = self.set.lock().unwrap();
        while set.try_join_next().is_some() {}
        set.len()
    }

    /// Waits up to `within` for the tasks to finish, then aborts the rest and waits until they have stopped.
    /// Returns how many had to be aborted.
    pub async fn drain(&self, within: Duration) -> usize {
        let mut set = std::mem::take(&mut *self.set.lock().unwrap());
        let _ = tokio::time::timeout(within, async { while set.join_next().await.is_some() {} }).await;
        let left = set.len();
        set.shutdown().await;
        left
    }
}

impl Engine {
    /// Runs `fut` as a task of the engine: [`Engine::shutdown`] waits for it (a few seconds at most) and then
    /// aborts it, so no task of the engine outlives the shutdown.
    pub fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.inner().work.spawn(fut);
    }

    /// Tasks of the engine still running: the short-lived ones of [`Engine::spawn`] and the long-lived services.
    /// Zero once [`Engine::shutdown`] returned.
    pub fn running_tasks(&self) -> usize {
        self.inner().work.running() + self.inner().services.running()
    }
}
