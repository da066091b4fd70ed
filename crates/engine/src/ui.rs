//! The workbench UI workers register (`register.ui`: plugin tabs and `*.step.tsx` node components, see
//! docs/workbench.md): kept in memory with the worker's registration, gone when the worker disconnects.

use std::sync::Arc;

use cfp_protocol::UiManifest;
use cfp_store::Scope;

use crate::{Engine, WorkerId};

impl Engine {
    /// Keeps (or clears) the UI a worker sent with its latest `register`. A UI over the limits, or whose
    /// scripts are not keyed by their SHA-256, is dropped whole (logged); the steps are registered regardless.
    pub fn set_worker_ui(&self, worker: WorkerId, ui: Option<UiManifest>) {
        let ui = ui.filter(|u| match u.check() {
            Ok(()) => true,
            Err(reason) => {
                tracing::warn!(worker, "the workbench UI of the registration was dropped: {reason}");
                false
            }
        });
        let mut reg = self.inner.reg.lock().unwrap();
        if let Some(w) = reg.workers.get_mut(&worker) {
            w.ui = ui.map(Arc::new);
        }
    }

    /// The UIs registered by the project's connected workers, oldest connection first.
    pub fn project_ui(&self, scope: &Scope) -> Vec<Arc<UiManifest>> {
        let reg = self.inner.reg.lock().unwrap();
        let mut out: Vec<(WorkerId, Arc<UiManifest>)> = reg
            .workers
            .values()
            .filter(|w| &w.scope == scope)
            .filter_map(|w| w.ui.clone().map(|u| (w.id, u)))
            .collect();
        out.sort_by_key(|(id, _)| *id);
        out.into_iter().map(|(_, u)| u).collect()
    }
}
