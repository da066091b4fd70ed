//! The one entry point that records audit events on the runtime ([`Engine::audit`]) and the sequencer task that
//! turns the queued events into the audit chain (`cfp_store::audit`, docs/audit.md).

use cfp_audit::Event;

use crate::Engine;

impl Engine {
    /// Records an audit event: queued durably before this returns (the sequencer appends it to
    /// `runtime:<tenant>` or `runtime:system`). A failure to queue is logged as an error, never a panic: the
    /// action it records already happened.
    pub async fn audit(&self, event: Event) {
        if let Err(e) = self.store().audit(&event).await {
            tracing::error!(kind = %event.kind, error = %e, "could not queue an audit entry");
        }
    }

    /// Starts the audit sequencer when the configuration has one.
    /// Starts the audit sequencer (when configured) as one of the engine's long-lived services.
    pub(crate) fn start_audit(&self) {
        if let Some(opts) = self.config().audit.clone() {
            self.inner.services.spawn(cfp_store::audit::run_sequencer(
                self.store().clone(),
                opts,
                self.shutdown_signal(),
            ));
        }
    }
}
