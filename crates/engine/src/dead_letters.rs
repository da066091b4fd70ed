//! Dead letters put back on their queue or discarded, through the engine like every other enqueue: the runtime
//! API calls these, never the store around the engine.

use cfp_audit::Event;
use cfp_store::{Scope, StoreError};

use crate::Engine;

impl Engine {
    /// Puts dead letter `id` of the project back on its step's queue (attempts start again) and wakes the step's
    /// dispatcher here and on every other replica: the replaying statement sends the step's NOTIFY as it commits
    /// (as a cron tick's does), so a replica hosting the step claims it at once, not at its next poll. Returns
    /// the step, or `None` when the project has no such dead letter. `audit` is recorded in the replay's
    /// transaction (both commit or neither).
    pub async fn replay_dead_letter(
        &self,
        scope: &Scope,
        id: i64,
        audit: &Event,
    ) -> Result<Option<String>, StoreError> {
        let Some(woken) = self.store().replay_dead_letter_audited(scope, id, audit).await? else {
            return Ok(None);
        };
        self.wake(std::slice::from_ref(&woken));
        tracing::info!(project = %scope.project, step = %woken.step, id, "dead letter replayed");
        Ok(Some(woken.step))
    }

    /// Deletes dead letter `id` of the project, recording `audit` in the same transaction; false when it has none
    /// with that id.
    pub async fn discard_dead_letter(&self, scope: &Scope, id: i64, audit: &Event) -> Result<bool, StoreError> {
        let discarded = self.store().discard_dead_letter_audited(scope, id, audit).await?;
        if discarded {
            tracing::info!(project = %scope.project, id, "dead letter discarded");
        }
        Ok(discarded)
    }
}
