//! The permission matrix (`policy/permissions.json`), the same file the control plane evaluates: a role bound at
//! a scope may perform an action on a target when `grants[role][action]` lists the relation between the binding's
//! scope and the target (`self`, `ancestor`, `descendant`). Runtime targets are always projects.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

/// The matrix compiled into the runtime, so a runtime and the control plane built from one commit agree.
pub const BUILTIN: &str = include_str!("../../../policy/permissions.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Relation {
    SelfScope,
    Ancestor,
    Descendant,
}

impl Relation {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "self" => Some(Self::SelfScope),
            "ancestor" => Some(Self::Ancestor),
            "descendant" => Some(Self::Descendant),
            _ => None,
        }
    }
}

/// Where a binding sits: `{}` is the system, otherwise the deepest id present is its kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct BindingScope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Binding {
    pub role: String,
    pub scope: BindingScope,
}

/// The path of a project in the hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPath {
    pub tenant: String,
    pub team: String,
    pub project: String,
}

impl BindingScope {
    /// The relation of this scope to a project, or `None` when they are on unrelated branches.
    pub fn relation_to(&self, p: &ProjectPath) -> Option<Relation> {
        match (&self.tenant, &self.team, &self.project) {
            (_, _, Some(project)) => (project == &p.project).then_some(Relation::SelfScope),
            (_, Some(team), None) => (team == &p.team).then_some(Relation::Ancestor),
            (Some(tenant), None, None) => (tenant == &p.tenant).then_some(Relation::Ancestor),
            (None, None, None) => Some(Relation::Ancestor),
        }
    }
    /// The relation of this scope to a tenant (a team or project binding of the tenant is its descendant).
    pub fn relation_to_tenant(&self, tenant: &str) -> Option<Relation> {
        match (&self.tenant, &self.team, &self.project) {
            (None, None, None) => Some(Relation::Ancestor),
            (Some(t), None, None) => (t == tenant).then_some(Relation::SelfScope),
            (Some(t), _, _) => (t == tenant).then_some(Relation::Descendant),
            (None, _, _) => None,
        }
    }
}

/// Who asks, as far as the matrix is concerned.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// A user's access token: its role bindings, and the tenant it is confined to (`tid`), if any.
    User {
        tenant: Option<&'a str>,
        bindings: &'a [Binding],
    },
    /// A project API key: one role on its own project, optionally narrowed to a list of actions.
    ApiKey {
        role: &'a str,
        actions: Option<&'a [String]>,
        own: &'a ProjectPath,
    },
    /// A worker token: its own project only.
    Worker { own: &'a ProjectPath },
}

/// The answer of [`Policy::decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// The principal sees the project but may not perform the action (403).
    Forbidden,
    /// The principal has no relation to the project (404, as for one that does not exist).
    Invisible,
}

#[derive(Debug)]
pub struct Policy {
    grants: HashMap<String, HashMap<String, HashSet<Relation>>>,
    actions: HashMap<String, ActionInfo>,
    api_key_roles: HashSet<String>,
    worker_actions: HashSet<String>,
}

#[derive(Debug, Clone)]
pub struct ActionInfo {
    pub runtime: bool,
    /// Needs the project's diagnostics switch for it (and the runtime's dev endpoints) on.
    pub diagnostic: bool,
}

#[derive(Deserialize)]
struct RawPolicy {
    actions: HashMap<String, RawAction>,
    grants: HashMap<String, HashMap<String, Vec<String>>>,
    credentials: RawCredentials,
}

#[derive(Deserialize)]
struct RawAction {
    plane: String,
    #[serde(default)]
    diagnostic: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCredentials {
    api_key: RawApiKey,
    worker_token: RawWorkerToken,
}

#[derive(Deserialize)]
struct RawApiKey {
    roles: Vec<String>,
}

#[derive(Deserialize)]
struct RawWorkerToken {
    actions: Vec<String>,
}

impl Policy {
    pub fn builtin() -> Self {
        Self::parse(BUILTIN).expect("policy/permissions.json compiled into the runtime is valid")
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: RawPolicy = serde_json::from_str(text).map_err(|e| format!("permission matrix: {e}"))?;
        let mut grants = HashMap::new();
        for (role, actions) in raw.grants {
            let mut per_action = HashMap::new();
            for (action, relations) in actions {
                if !raw.actions.contains_key(&action) {
                    return Err(format!(
                        "permission matrix: role `{role}` grants unknown action `{action}`"
                    ));
                }
                let set = relations
                    .iter()
                    .map(|r| Relation::parse(r).ok_or_else(|| format!("permission matrix: unknown relation `{r}`")))
                    .collect::<Result<HashSet<_>, _>>()?;
                per_action.insert(action, set);
            }
            grants.insert(role, per_action);
        }
        let actions = raw
            .actions
            .into_iter()
            .map(|(name, a)| {
                let info = ActionInfo {
                    runtime: a.plane == "runtime",
                    diagnostic: a.diagnostic,
                };
                (name, info)
            })
            .collect();
        Ok(Self {
            grants,
            actions,
            api_key_roles: raw.credentials.api_key.roles.into_iter().collect(),
            worker_actions: raw.credentials.worker_token.actions.into_iter().collect(),
        })
    }

    pub fn action(&self, action: &str) -> Option<&ActionInfo> {
        self.actions.get(action)
    }

    /// Whether `role` bound with `relation` to the target may perform `action`.
    pub fn grants(&self, role: &str, action: &str, relation: Relation) -> bool {
        self.grants
            .get(role)
            .and_then(|a| a.get(action))
            .is_some_and(|rels| rels.contains(&relation))
    }

    /// Whether any of `bindings` allows `action` on the project.
    pub fn allows(&self, bindings: &[Binding], action: &str, project: &ProjectPath) -> bool {
        bindings.iter().any(|b| {
            b.scope
                .relation_to(project)
                .is_some_and(|rel| self.grants(&b.role, action, rel))
        })
    }

    /// Whether any binding relates to the project at all (else the project is invisible: 404, not 403).
    pub fn sees(&self, bindings: &[Binding], project: &ProjectPath) -> bool {
        bindings.iter().any(|b| b.scope.relation_to(project).is_some())
    }

    /// An API key acts as its role on its own project, narrowed to `actions` when set.
    pub fn api_key_allows(&self, role: &str, actions: Option<&[String]>, action: &str) -> bool {
        self.api_key_roles.contains(role)
            && self.grants(role, action, Relation::SelfScope)
            && actions.is_none_or(|list| list.iter().any(|a| a == action))
    }

    pub fn worker_token_allows(&self, action: &str) -> bool {
        self.worker_actions.contains(action)
    }

    /// The decision for a principal on a project: what the runtime's routes enforce (`cfp-gateway::auth`), and
    /// what `policy/vectors/decisions.json` checks against the control plane's and the workbench's evaluators.
    /// A project the principal has no relation to is [`Decision::Invisible`] (answered like a missing one).
    pub fn decide(&self, who: &Subject<'_>, action: &str, project: &ProjectPath) -> Decision {
        let known = self.actions.get(action).is_some_and(|a| a.runtime);
        match who {
            Subject::User { tenant, bindings } => {
                if tenant.is_some_and(|t| t != project.tenant) || !self.sees(bindings, project) {
                    Decision::Invisible
                } else if known && self.allows(bindings, action, project) {
                    Decision::Allowed
                } else {
                    Decision::Forbidden
                }
            }
            Subject::ApiKey { role, actions, own } => {
                if *own != project {
                    Decision::Invisible
                } else if known && self.api_key_allows(role, *actions, action) {
                    Decision::Allowed
                } else {
                    Decision::Forbidden
                }
            }
            Subject::Worker { own } => {
                if *own != project {
                    Decision::Invisible
                } else if known && self.worker_token_allows(action) {
                    Decision::Allowed
                } else {
                    Decision::Forbidden
                }
            }
        }
    }

    /// The decision for a principal on a whole tenant (runtime actions that target tenants, such as `usage.read`):
    /// an API key or a worker token acts on its own project only, so it is never allowed a tenant target.
    pub fn decide_tenant(&self, who: &Subject<'_>, action: &str, tenant: &str) -> Decision {
        let known = self.actions.get(action).is_some_and(|a| a.runtime);
        match who {
            Subject::User { tenant: tid, bindings } => {
                let allowed = bindings.iter().any(|b| {
                    b.scope
                        .relation_to_tenant(tenant)
                        .is_some_and(|rel| self.grants(&b.role, action, rel))
                });
                if tid.is_some_and(|t| t != tenant)
                    || !bindings.iter().any(|b| b.scope.relation_to_tenant(tenant).is_some())
                {
                    Decision::Invisible
                } else if known && allowed {
                    Decision::Allowed
                } else {
                    Decision::Forbidden
                }
            }
            Subject::ApiKey { own, .. } | Subject::Worker { own } => {
                if own.tenant != tenant {
                    Decision::Invisible
                } else {
                    Decision::Forbidden
                }
            }
        }
    }

    /// Runtime actions, sorted (for tests and docs).
    pub fn runtime_actions(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .actions
            .iter()
            .filter(|(_, a)| a.runtime)
            .map(|(n, _)| n.as_str())
            .collect();
        v.sort_unstable();
        v
    }

    pub fn roles(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.grants.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> ProjectPath {
        ProjectPath {
            tenant: "t1".into(),
            team: "tm1".into(),
            project: "p1".into(),
        }
    }

    fn bind(role: &str, tenant: Option<&str>, team: Option<&str>, project: Option<&str>) -> Binding {
        Binding {
            role: role.into(),
            scope: BindingScope {
                tenant: tenant.map(Into::into),
                team: team.map(Into::into),
                project: project.map(Into::into),
            },
        }
    }

    #[test]
    fn relations_follow_the_hierarchy() {
        let p = path();
        assert_eq!(BindingScope::default().relation_to(&p), Some(Relation::Ancestor));
        assert_eq!(
            bind("x", Some("t1"), None, None).scope.relation_to(&p),
            Some(Relation::Ancestor)
        );
        assert_eq!(bind("x", Some("t2"), None, None).scope.relation_to(&p), None);
        assert_eq!(
            bind("x", Some("t1"), Some("tm1"), None).scope.relation_to(&p),
            Some(Relation::Ancestor)
        );
        assert_eq!(bind("x", Some("t1"), Some("tm2"), None).scope.relation_to(&p), None);
        assert_eq!(
            bind("x", Some("t1"), Some("tm1"), Some("p1")).scope.relation_to(&p),
            Some(Relation::SelfScope)
        );
        assert_eq!(
            bind("x", Some("t1"), Some("tm1"), Some("p2")).scope.relation_to(&p),
            None
        );
    }

    #[test]
    fn every_role_and_runtime_action_matches_the_file() {
        let policy = Policy::builtin();
        let raw: serde_json::Value = serde_json::from_str(BUILTIN).unwrap();
        let p = path();
        assert_eq!(policy.roles().len(), 10);
        for role in policy.roles() {
            for action in policy.runtime_actions() {
                let listed = |rel: &str| {
                    raw["grants"][role][action]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|r| r == rel))
                };
                let own = [bind(role, Some("t1"), Some("tm1"), Some("p1"))];
                assert_eq!(policy.allows(&own, action, &p), listed("self"), "{role} {action} self");
                let tenant = [bind(role, Some("t1"), None, None)];
                assert_eq!(
                    policy.allows(&tenant, action, &p),
                    listed("ancestor"),
                    "{role} {action} ancestor"
                );
                let foreign = [
                    bind(role, Some("t2"), None, None),
                    bind(role, Some("t1"), Some("tm2"), None),
                    bind(role, Some("t1"), Some("tm1"), Some("p2")),
                ];
                assert!(!policy.allows(&foreign, action, &p), "{role} {action} foreign branch");
            }
        }
    }

    #[test]
    fn viewers_read_editors_write_and_worker_tokens_only_connect() {
        let policy = Policy::builtin();
        let p = path();
        let viewer = [bind("project_viewer", Some("t1"), Some("tm1"), Some("p1"))];
        assert!(policy.allows(&viewer, "logs.read", &p));
        assert!(!policy.allows(&viewer, "emit", &p));
        let editor = [bind("project_editor", Some("t1"), Some("tm1"), Some("p1"))];
        assert!(policy.allows(&editor, "emit", &p));
        assert!(
            !policy.allows(&editor, "worker.connect", &p),
            "worker.connect is never a role's"
        );
        assert!(policy.worker_token_allows("worker.connect"));
        assert!(!policy.worker_token_allows("step.invoke"));
        assert!(policy.action("emit").unwrap().diagnostic);
        assert!(!policy.action("logs.read").unwrap().diagnostic);
    }

    #[test]
    fn api_keys_act_as_their_role_narrowed_by_actions() {
        let policy = Policy::builtin();
        assert!(policy.api_key_allows("project_editor", None, "step.invoke"));
        assert!(!policy.api_key_allows("project_viewer", None, "emit"));
        let only_invoke = vec!["step.invoke".to_string()];
        assert!(policy.api_key_allows("project_editor", Some(&only_invoke), "step.invoke"));
        assert!(!policy.api_key_allows("project_editor", Some(&only_invoke), "logs.read"));
        assert!(
            !policy.api_key_allows("tenant_admin", None, "step.invoke"),
            "not a role an API key may hold"
        );
    }

    /// `policy/vectors/decisions.json`, shared with the control plane's and the workbench's evaluators: every case
    /// with a project target and a runtime action gives its hand-written answer here too.
    #[test]
    fn the_shared_decision_vectors_pass() {
        let policy = Policy::builtin();
        let file: serde_json::Value =
            serde_json::from_str(include_str!("../../../policy/vectors/decisions.json")).unwrap();
        let text = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let mut checked = 0;
        for case in file["cases"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let runtime_case = case
                .get("evaluators")
                .and_then(|e| e.as_array())
                .is_none_or(|e| e.iter().any(|x| x == "runtime"));
            let t = &case["target"];
            let action = case["action"].as_str().unwrap();
            let runtime_action = policy.action(action).is_none_or(|a| a.runtime);
            if !runtime_case || !runtime_action {
                continue;
            }
            // A tenant target (runtime actions such as `usage.read` target tenants too) or a project target.
            let target = match (text(t, "tenant"), text(t, "team"), text(t, "project")) {
                (Some(tenant), Some(team), Some(project)) => Ok(ProjectPath { tenant, team, project }),
                (Some(tenant), None, None) => Err(tenant),
                _ => continue,
            };
            let p = &case["principal"];
            let bindings: Vec<Binding> = serde_json::from_value(p["bindings"].clone()).unwrap();
            let actions: Option<Vec<String>> = p.get("actions").map(|a| serde_json::from_value(a.clone()).unwrap());
            let own = bindings.first().map(|b| ProjectPath {
                tenant: b.scope.tenant.clone().unwrap_or_default(),
                team: b.scope.team.clone().unwrap_or_default(),
                project: b.scope.project.clone().unwrap_or_default(),
            });
            let tid = text(p, "tenantId");
            let subject = match p["kind"].as_str().unwrap() {
                "user" => Subject::User {
                    tenant: tid.as_deref(),
                    bindings: &bindings,
                },
                "api_key" => Subject::ApiKey {
                    role: &bindings[0].role,
                    actions: actions.as_deref(),
                    own: own.as_ref().unwrap(),
                },
                "worker" => Subject::Worker {
                    own: own.as_ref().unwrap(),
                },
                other => panic!("{name}: unknown principal kind {other}"),
            };
            let decision = match &target {
                Ok(project) => policy.decide(&subject, action, project),
                Err(tenant) => policy.decide_tenant(&subject, action, tenant),
            };
            let allowed = decision == Decision::Allowed;
            assert_eq!(allowed, case["allowed"].as_bool().unwrap(), "{name}");
            checked += 1;
        }
        assert!(checked >= 30, "only {checked} cases apply to the runtime");
    }

    #[test]
    fn a_bad_matrix_is_refused_with_the_reason() {
        let bad = r#"{"actions":{},"grants":{"r":{"nope":["self"]}},"credentials":{"apiKey":{"roles":[]},"workerToken":{"actions":[]}}}"#;
        assert!(Policy::parse(bad).unwrap_err().contains("unknown action `nope`"));
    }
}
