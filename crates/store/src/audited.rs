//! Runtime changes that commit together with their audit entry's outbox row (`audit_queue`, docs/audit.md
//! "Atomic with what it records"): an emit through the runtime API and its queue rows, a worker registration and
//! the project's step set, a purge's completion and its record. A process killed at any point leaves either both
//! or neither; the sequencer appends the queued entry whenever it runs next. (State writes and deletes and
//! dead-letter replays and discards do the same in `audit.rs`.)

use cfp_audit::Event;

use crate::audit::audit_in;
use crate::queue::{NewEvent, Woken};
use crate::{Result, Scope, Store};

impl Store {
    /// Publishes events from outside any invocation (the runtime API's emit) with the audit entry of that emit.
    pub async fn publish_audited(&self, scope: &Scope, events: &[NewEvent], event: &Event) -> Result<Vec<Woken>> {
        let mut tx = self.pool.begin().await?;
        let items: Vec<(&Scope, &NewEvent)> = events.iter().map(|e| (scope, e)).collect();
        let woken = self.publish_on(&mut tx, &items).await?;
        audit_in(&mut tx, event).await?;
        tx.commit().await?;
        self.wake_audit().await;
        Ok(woken)
    }
}
