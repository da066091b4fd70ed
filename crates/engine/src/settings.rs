//! The settings follower and the purge job: keeps the engine's per-project switches (strict validation,
//! `maxConcurrentExecutions`) in step with the control plane's settings, records the projects it deleted and
//! purges their data once the retention has passed (checked at each change and every [`PURGE_CHECK`]).
//!
//! The runtime binary starts it ([`Engine::follow_settings`]) with the control plane as its [`SettingsSource`];
//! the task and every purge it starts are the engine's (stopped by [`Engine::shutdown`]).

use std::sync::Arc;
use std::time::Duration;

use cfp_audit::{Actor, Event};
use cfp_store::Scope;
use serde_json::json;
use tokio::sync::watch;

use crate::Engine;

/// How often a runtime looks for deleted projects whose retention has passed (at most).
pub const PURGE_CHECK: Duration = Duration::from_secs(600);

/// The switches of one project the engine applies.
#[derive(Debug, Clone)]
pub struct ProjectSwitches {
    pub scope: Scope,
    /// `None`: the runtime's default.
    pub strict_validation: Option<bool>,
    /// `maxConcurrentExecutions` of the project and of its tenant (`None`: unlimited).
    pub max_executions: Option<u32>,
    pub tenant_max_executions: Option<u32>,
    /// The settings' version and team, and each part of them as text (`("limits", "…")`): a new version is
    /// recorded as a `settings.applied` audit entry naming the parts that changed.
    pub version: u64,
    pub team: Option<String>,
    pub parts: Parts,
}

/// Where project settings come from (the control plane's feed).
pub trait SettingsSource: Send + Sync + 'static {
    /// Changes when the settings changed.
    fn changes(&self) -> watch::Receiver<u64>;
    /// The projects deleted since the last call.
    fn take_deleted(&self) -> Vec<Scope>;
    /// Every project's switches as known now.
    fn projects(&self) -> Vec<ProjectSwitches>;
}

impl Engine {
    /// Follows `source` until shutdown: applies each project's switches, records deleted projects and purges
    /// the data of those deleted more than `retention` ago.
    pub fn follow_settings(&self, source: Arc<dyn SettingsSource>, retention: Duration) {
        let engine = self.clone();
        self.inner().services.spawn(follow(engine, source, retention));
    }
}

async fn follow(engine: Engine, source: Arc<dyn SettingsSource>, retention: Duration) {
    let mut changes = source.changes();
    let mut shutdown = engine.shutdown_signal();
    let mut next_purge_check = tokio::time::Instant::now();
    let mut applied = Applied::default();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let deleted = source.take_deleted();
        for scope in &deleted {
            if let Err(e) = engine.store().mark_project_deleted(scope).await {
                tracing::warn!(project = %scope.project, error = %e, "cannot record a deleted project; its data is purged when the feed says it again");
            }
        }
        if !deleted.is_empty() || tokio::time::Instant::now() >= next_purge_check {
            next_purge_check = tokio::time::Instant::now() + PURGE_CHECK.min(retention.max(Duration::from_secs(1)));
            let (store, instance) = (engine.store().clone(), engine.config().instance_id.clone());
            engine.spawn(async move {
                // each purge's completion commits with its audit entry (docs/audit.md)
                match store.purge_due_audited(retention, &instance, Some(&purge_event)).await {
                    Ok(purged) => {
                        for (scope, rows) in purged {
                            tracing::info!(project = %scope.project, rows, "purged the data of a deleted project");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "purging deleted projects failed; retrying later"),
                }
            });
        }
        for p in source.projects() {
            if let Some(e) = applied.changed(&p) {
                engine.audit(e).await;
            }
            engine.set_strict_validation(&p.scope, p.strict_validation);
            engine.set_execution_limits(&p.scope, p.max_executions, p.tenant_max_executions);
        }
        tokio::select! {
            r = changes.changed() => if r.is_err() { return },
            _ = tokio::time::sleep_until(next_purge_check) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// A deleted project's data purged (`project.purge`, by the runtime itself).
fn purge_event(scope: &Scope, rows: u64) -> Event {
    let mut e = Event::new("project.purge", Actor::system());
    e.tenant = Some(scope.tenant.clone());
    e.project = Some(scope.project.clone());
    e.target = Some(("project".into(), Some(scope.project.clone())));
    e.details.insert("rows".into(), json!({ "all": rows }));
    e
}

/// The settings of each project last applied, to record `settings.applied` once per new version, naming the
/// parts that changed.
#[derive(Default)]
struct Applied {
    seen: std::collections::HashMap<Scope, (u64, Parts)>,
}

/// Each part of a project's settings as text, by name.
type Parts = Vec<(&'static str, String)>;

impl Applied {
    /// The `settings.applied` entry of `p`, or None when this version was recorded already.
    fn changed(&mut self, p: &ProjectSwitches) -> Option<Event> {
        let changed: Vec<&str> = match self.seen.get(&p.scope) {
            Some((v, _)) if *v == p.version => return None,
            Some((_, old)) => p
                .parts
                .iter()
                .filter(|(name, now)| old.iter().find(|(n, _)| n == name).map(|(_, was)| was) != Some(now))
                .map(|(name, _)| *name)
                .collect(),
            None => p.parts.iter().map(|(n, _)| *n).collect(),
        };
        self.seen.insert(p.scope.clone(), (p.version, p.parts.clone()));
        let mut e = Event::new("settings.applied", Actor::system());
        e.tenant = Some(p.scope.tenant.clone());
        e.team = p.team.clone();
        e.project = Some(p.scope.project.clone());
        e.target = Some(("project".into(), Some(p.scope.project.clone())));
        e.details.insert("version".into(), json!(p.version));
        e.details.insert("changed".into(), json!(changed));
        Some(e)
    }
}
