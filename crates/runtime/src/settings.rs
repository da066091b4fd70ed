//! The control plane as the engine's source of project settings ([`cfp_engine::settings`]).

use std::sync::Arc;

use cfp_engine::settings::{ProjectSwitches, SettingsSource};
use cfp_store::Scope;
use tokio::sync::watch;

struct ControlSettings(cfp_access::Control);

pub fn from_control(control: &cfp_access::Control) -> Arc<dyn SettingsSource> {
    Arc::new(ControlSettings(control.clone()))
}

impl SettingsSource for ControlSettings {
    fn changes(&self) -> watch::Receiver<u64> {
        self.0.settings_changes()
    }

    fn take_deleted(&self) -> Vec<Scope> {
        self.0
            .take_deleted()
            .iter()
            .map(|(tenant, project)| Scope::new(tenant, project))
            .collect()
    }

    fn projects(&self) -> Vec<ProjectSwitches> {
        self.0
            .projects()
            .iter()
            .map(|p| ProjectSwitches {
                scope: Scope::new(&p.tenant_id, &p.project_id),
                strict_validation: p.strict_validation,
                max_executions: p.limits.max_concurrent_executions,
                tenant_max_executions: p.tenant_limits.max_concurrent_executions,
                version: p.version,
                team: Some(p.team_id.clone()),
                parts: vec![
                    ("limits", format!("{:?}", p.limits)),
                    ("tenant_limits", format!("{:?}", p.tenant_limits)),
                    ("cors", format!("{:?}", p.cors)),
                    ("strict_validation", format!("{:?}", p.strict_validation)),
                    ("diagnostics", format!("{:?}", p.diagnostics)),
                    ("oidc", format!("{:?}", p.oidc.as_ref().map(|o| &o.issuer))),
                ],
            })
            .collect()
    }
}
