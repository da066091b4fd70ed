//! The runtime verifying its own audit chains on a schedule (`--audit-verify-interval-s`, docs/audit.md
//! "The control plane anchors and verifies by itself"): every interval one replica verifies every chain of the schema
//! ([`cfp_store::Store::audit_verify_turn`]) and records the run; a failure is logged as an error naming the chain,
//! the sequence number and the finding, and shows on the workbench's Audit page (`GET /__cfp/api/audit/status`).

use std::time::Duration;

use cfp_audit::Actor;
use cfp_store::Store;

/// The first run comes at most this long after start, so that `cfp dev` shows a verification soon.
const FIRST_WITHIN: Duration = Duration::from_secs(60);

pub async fn run(store: Store, interval: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let first = tokio::time::Instant::now() + interval.min(FIRST_WITHIN);
    let mut tick = tokio::time::interval_at(first, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        let turn = tokio::select! {
            r = store.audit_verify_turn(Actor::system()) => r,
            // a run in progress is abandoned at shutdown: its transaction rolls back and records nothing
            _ = shutdown.changed() => return,
        };
        match turn {
            Ok(Some(run)) => match &run.failure {
                None => tracing::info!(
                    chains = run.chains,
                    entries = run.entries,
                    ms = run.duration.as_millis() as u64,
                    "verified the audit chains: intact"
                ),
                Some(f) => tracing::error!(
                    chain = %f.chain,
                    seq = f.seq,
                    finding = f.finding.as_str(),
                    failed = ?run.failed,
                    "the audit chains do NOT verify: {f}"
                ),
            },
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "verifying the audit chains failed; retrying next interval"),
        }
    }
}
