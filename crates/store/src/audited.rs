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

/// The runtime's anchoring turn (docs/audit.md "Anchors"): held by one replica at a time (a transaction-level
/// advisory lock of the schema), it carries the `audit.anchor` entry's outbox row when the anchor was written.
pub struct AnchorLease(sqlx::Transaction<'static, sqlx::Postgres>);

impl Store {
    /// Takes the anchoring turn and reads the latest checkpoint note of every runtime chain; `None` when another
    /// replica holds the turn. Dropping the lease gives it back.
    pub async fn audit_anchor_lease(&self) -> Result<Option<(AnchorLease, Vec<String>)>> {
        let mut tx = self.pool.begin().await?;
        let got: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || ':cfp-audit-anchor'))")
                .fetch_one(&mut *tx)
                .await?;
        if !got {
            return Ok(None);
        }
        let notes: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT ON (chain) note FROM audit_checkpoints WHERE chain LIKE 'runtime:%' ORDER BY chain, size DESC",
        )
        .fetch_all(&mut *tx)
        .await?;
        Ok(Some((AnchorLease(tx), notes)))
    }
}

impl AnchorLease {
    /// Queues the anchor's entry and gives the turn back.
    pub async fn record(mut self, store: &Store, event: &Event) -> Result<()> {
        audit_in(&mut self.0, event).await?;
        self.0.commit().await?;
        store.wake_audit().await;
        Ok(())
    }
}
