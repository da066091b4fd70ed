//! Connected workers and, per project, the steps they host and the API route table built from them.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use cfp_protocol::schema::Schema;
use cfp_protocol::{RegistrationCode, RegistrationError, StepKind, StepManifest, ToWorker};
use cfp_store::Scope;
use tokio::sync::mpsc;

use crate::routes::RouteTable;

pub type WorkerId = u64;

pub struct Worker {
    pub id: WorkerId,
    pub scope: Scope,
    pub name: String,
    pub tx: mpsc::UnboundedSender<ToWorker>,
    pub capacity: u32,
    /// The protocol version of its `hello` (API bodies reach a version 1 worker parsed).
    pub protocol: u32,
    pub inflight: u32,
    pub steps: HashMap<String, StepManifest>,
    /// Compiled `input` schemas of `steps` (compiled once, at registration).
    pub schemas: HashMap<String, Arc<Schema>>,
    pub draining: bool,
    /// Invocations this worker finished lately: its late log lines and calls may still name them.
    pub recent: RecentIds,
    /// The worker's share of the log writer's queue.
    pub logs: std::sync::Arc<crate::tasks::LogBudget>,
    /// Its `call` frames being answered (at most `EngineConfig::max_calls_per_worker`).
    pub calls: std::sync::Arc<tokio::sync::Semaphore>,
    /// The workbench UI of its last registration (plugin tabs, node components): crate::ui.
    pub ui: Option<Arc<cfp_protocol::UiManifest>>,
}

/// Per step of a registration, in order: its compiled input schema, or why it was refused (`None`: no schema).
pub type CompiledInputs = Vec<Option<Result<Arc<Schema>, String>>>;

impl Worker {
    pub fn has_room(&self) -> bool {
        !self.draining && self.inflight < self.capacity
    }
}

/// The last [`RecentIds::KEEP`] invocation ids a worker finished (a bounded set, oldest evicted first).
#[derive(Default)]
pub struct RecentIds {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl RecentIds {
    pub const KEEP: usize = 1024;

    pub fn insert(&mut self, id: String) {
        if self.set.insert(id.clone()) {
            self.order.push_back(id);
            if self.order.len() > Self::KEEP {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }

    pub fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }
}

#[derive(Default)]
pub struct Project {
    pub routes: RouteTable,
    /// step name -> workers hosting it
    pub hosts: HashMap<String, Vec<WorkerId>>,
    pub manifests: HashMap<String, StepManifest>,
    /// topic -> (subscribed step, its compiled input schema), by step name: what strict validation checks.
    pub inputs: HashMap<String, Vec<(String, Arc<Schema>)>>,
}

#[derive(Default)]
pub struct Registry {
    pub workers: HashMap<WorkerId, Worker>,
    pub projects: HashMap<Scope, Project>,
}

impl Registry {
    /// Validates a worker's step set against what other workers of the project host, stores the accepted
    /// steps (and their input schemas, compiled beforehand, outside the lock) on the worker, and rebuilds the
    /// project's tables. Returns accepted names and errors.
    pub fn register(
        &mut self,
        worker: WorkerId,
        steps: Vec<StepManifest>,
        compiled: CompiledInputs,
    ) -> (Vec<StepManifest>, Vec<RegistrationError>) {
        let Some(scope) = self.workers.get(&worker).map(|w| w.scope.clone()) else {
            return (Vec::new(), Vec::new());
        };
        // Steps hosted by the project's other workers.
        let mut others: HashMap<String, StepManifest> = HashMap::new();
        let mut routes = RouteTable::default();
        for w in self.workers.values().filter(|w| w.scope == scope && w.id != worker) {
            for m in w.steps.values() {
                others.insert(m.name.clone(), m.clone());
                if let (Some(method), Some(path)) = (&m.method, &m.path) {
                    let _ = routes.add(method, path, &m.name);
                }
            }
        }
        let mut accepted = Vec::new();
        let mut errors = Vec::new();
        let mut seen: HashMap<String, String> = HashMap::new();
        let mut schemas: HashMap<String, Arc<Schema>> = HashMap::new();
        let compiled = compiled.into_iter().chain(std::iter::repeat_with(|| None));
        for (step, schema) in steps.into_iter().zip(compiled) {
            let err = |code: RegistrationCode, message: String| RegistrationError {
                step: step.name.clone(),
                file: step.file.clone(),
                code,
                message,
            };
            if step.name.trim().is_empty() {
                errors.push(err(RegistrationCode::InvalidManifest, "step name is empty".into()));
                continue;
            }
            if let Some(file) = seen.get(&step.name) {
                errors.push(err(
                    RegistrationCode::DuplicateStep,
                    format!("step `{}` is defined in both {} and {}", step.name, file, step.file),
                ));
                continue;
            }
            if let Some(other) = others.get(&step.name) {
                if other.file != step.file || other.kind != step.kind {
                    errors.push(err(
                        RegistrationCode::DuplicateStep,
                        format!(
                            "step `{}` is already registered from {} by another worker",
                            step.name, other.file
                        ),
                    ));
                    continue;
                }
            }
            if let Some(e) = validate(&step) {
                errors.push(err(RegistrationCode::InvalidManifest, e));
                continue;
            }
            let schema = match schema {
                Some(Err(e)) => {
                    errors.push(err(
                        RegistrationCode::InvalidSchema,
                        format!("step `{}` ({}): input schema refused: {e}", step.name, step.file),
                    ));
                    continue;
                }
                Some(Ok(schema)) => Some(schema),
                None => None,
            };
            if step.kind == StepKind::Api {
                let (method, path) = (step.method.as_deref().unwrap_or(""), step.path.as_deref().unwrap_or(""));
                if let Err(e) = routes.add(method, path, &step.name) {
                    errors.push(err(
                        RegistrationCode::RouteConflict,
                        format!("step `{}` ({}): {e}", step.name, step.file),
                    ));
                    continue;
                }
            }
            seen.insert(step.name.clone(), step.file.clone());
            if let Some(schema) = schema {
                schemas.insert(step.name.clone(), schema);
            }
            accepted.push(step);
        }
        if let Some(w) = self.workers.get_mut(&worker) {
            w.steps = accepted.iter().map(|s| (s.name.clone(), s.clone())).collect();
            w.schemas = schemas;
        }
        self.rebuild(&scope);
        (accepted, errors)
    }

    /// Rebuilds a project's route table and host lists from its connected workers.
    pub fn rebuild(&mut self, scope: &Scope) {
        let mut project = Project::default();
        let mut ids: Vec<&Worker> = self.workers.values().filter(|w| &w.scope == scope).collect();
        ids.sort_by_key(|w| w.id);
        for w in ids {
            for m in w.steps.values() {
                project.hosts.entry(m.name.clone()).or_default().push(w.id);
                if let (StepKind::Api, Some(method), Some(path)) = (m.kind, &m.method, &m.path) {
                    let _ = project.routes.add(method, path, &m.name);
                }
                if project.manifests.contains_key(&m.name) {
                    continue;
                }
                project.manifests.insert(m.name.clone(), m.clone());
                if let Some(schema) = w.schemas.get(&m.name) {
                    for topic in &m.subscribes {
                        project
                            .inputs
                            .entry(topic.clone())
                            .or_default()
                            .push((m.name.clone(), schema.clone()));
                    }
                }
            }
        }
        for subscribers in project.inputs.values_mut() {
            subscribers.sort_by(|a, b| a.0.cmp(&b.0));
        }
        if project.manifests.is_empty() && !self.workers.values().any(|w| &w.scope == scope) {
            self.projects.remove(scope);
        } else {
            self.projects.insert(scope.clone(), project);
        }
    }

    /// The least-loaded worker with room that hosts `step`.
    ///
    /// `capacity` bounds queue deliveries (the backlog waits in PostgreSQL); API calls pass `false`: a
    /// caller is waiting, and a backlog of events must not turn requests away.
    pub fn pick_worker(&self, scope: &Scope, step: &str, capacity: bool) -> Option<WorkerId> {
        let hosts = self.projects.get(scope)?.hosts.get(step)?;
        hosts
            .iter()
            .filter_map(|id| self.workers.get(id))
            .filter(|w| if capacity { w.has_room() } else { !w.draining })
            .min_by_key(|w| w.inflight)
            .map(|w| w.id)
    }

    /// Free invocation slots over the workers hosting `step`.
    pub fn free_slots(&self, scope: &Scope, step: &str) -> u32 {
        let Some(hosts) = self.projects.get(scope).and_then(|p| p.hosts.get(step)) else {
            return 0;
        };
        hosts
            .iter()
            .filter_map(|id| self.workers.get(id))
            .filter(|w| !w.draining)
            .map(|w| w.capacity.saturating_sub(w.inflight))
            .sum()
    }

    pub fn is_hosted(&self, scope: &Scope, step: &str) -> bool {
        self.projects.get(scope).is_some_and(|p| p.hosts.contains_key(step))
    }

    /// Every step of every project, for the scheduler and dispatchers.
    pub fn hosted_steps(&self) -> HashSet<(Scope, String)> {
        self.projects
            .iter()
            .flat_map(|(scope, p)| p.hosts.keys().map(move |s| (scope.clone(), s.clone())))
            .collect()
    }
}

fn validate(step: &StepManifest) -> Option<String> {
    if let Err(e) = step.slo_spec() {
        return Some(format!("step `{}` ({}): {e}", step.name, step.file));
    }
    match step.kind {
        StepKind::Api => {
            let method = step.method.as_deref().unwrap_or("");
            if !["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
                .contains(&method.to_ascii_uppercase().as_str())
            {
                return Some(format!(
                    "api step `{}` has method `{method}`; expected GET, POST, PUT, DELETE, PATCH, OPTIONS or HEAD",
                    step.name
                ));
            }
            match step.path.as_deref() {
                Some(p) if p.starts_with('/') => None,
                _ => Some(format!("api step `{}` needs a `path` starting with `/`", step.name)),
            }
        }
        StepKind::Event if step.subscribes.is_empty() => {
            Some(format!("event step `{}` subscribes to no topic", step.name))
        }
        StepKind::Cron => match step.cron.as_deref().map(crate::cron::parse) {
            Some(Ok(_)) => None,
            Some(Err(e)) => Some(format!("cron step `{}`: {e}", step.name)),
            None => Some(format!("cron step `{}` has no `cron` expression", step.name)),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    //! Two workers of one project with disjoint steps, as a project with TypeScript and Python steps has (the
    //! Node worker and the Python worker each register their own files).
    use super::*;

    fn manifest(v: serde_json::Value) -> StepManifest {
        serde_json::from_value(v).expect("a valid manifest")
    }

    fn connect(reg: &mut Registry, id: WorkerId, scope: &Scope) {
        let (tx, _rx) = mpsc::unbounded_channel();
        reg.workers.insert(
            id,
            Worker {
                id,
                scope: scope.clone(),
                name: format!("w{id}"),
                tx,
                capacity: 8,
                protocol: cfp_protocol::PROTOCOL_VERSION,
                inflight: 0,
                steps: HashMap::new(),
                schemas: HashMap::new(),
                draining: false,
                recent: RecentIds::default(),
                logs: Arc::default(),
                calls: Arc::new(tokio::sync::Semaphore::new(4)),
                ui: None,
            },
        );
    }

    fn names(steps: &[StepManifest]) -> Vec<&str> {
        steps.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn two_workers_of_one_project_host_disjoint_steps() {
        let scope = Scope::new("t", "p");
        let mut reg = Registry::default();
        connect(&mut reg, 1, &scope);
        connect(&mut reg, 2, &scope);
        let ts = vec![
            manifest(
                serde_json::json!({"name": "PlaceOrder", "type": "api", "file": "steps/place.step.ts", "path": "/orders", "method": "POST"}),
            ),
            manifest(
                serde_json::json!({"name": "Receipt", "type": "event", "file": "steps/receipt.step.ts", "subscribes": ["order.priced"]}),
            ),
        ];
        let py = vec![
            manifest(
                serde_json::json!({"name": "PriceOrder", "type": "event", "file": "steps/price_step.py", "subscribes": ["order.placed"]}),
            ),
            manifest(
                serde_json::json!({"name": "Audit", "type": "cron", "file": "steps/audit_step.py", "cron": "0 * * * *"}),
            ),
        ];
        let (ok, errors) = reg.register(1, ts.clone(), Vec::new());
        assert_eq!((names(&ok), errors.len()), (vec!["PlaceOrder", "Receipt"], 0));
        let (ok, errors) = reg.register(2, py.clone(), Vec::new());
        assert_eq!((names(&ok), errors.len()), (vec!["PriceOrder", "Audit"], 0));
        for (step, worker) in [("PlaceOrder", 1), ("Receipt", 1), ("PriceOrder", 2), ("Audit", 2)] {
            assert_eq!(reg.pick_worker(&scope, step, true), Some(worker), "{step}");
        }

        // a reload of one worker (register again) leaves the other's steps alone
        let (ok, _) = reg.register(1, ts[..1].to_vec(), Vec::new());
        assert_eq!(names(&ok), vec!["PlaceOrder"]);
        assert!(!reg.is_hosted(&scope, "Receipt"));
        assert_eq!(reg.pick_worker(&scope, "PriceOrder", true), Some(2));

        // the second worker cannot take the first one's route or step name from another file
        let clash = vec![
            manifest(
                serde_json::json!({"name": "PyOrders", "type": "api", "file": "steps/orders_step.py", "path": "/orders", "method": "POST"}),
            ),
            manifest(
                serde_json::json!({"name": "PlaceOrder", "type": "event", "file": "steps/place_step.py", "subscribes": ["x"]}),
            ),
            py[0].clone(),
        ];
        let (ok, errors) = reg.register(2, clash, Vec::new());
        assert_eq!(names(&ok), vec!["PriceOrder"]);
        let codes: Vec<&str> = errors.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(codes, vec!["route_conflict", "duplicate_step"]);

        // one worker leaving keeps the other's steps hosted
        reg.workers.remove(&2);
        reg.rebuild(&scope);
        assert!(reg.is_hosted(&scope, "PlaceOrder"));
        assert!(!reg.is_hosted(&scope, "PriceOrder"));
    }
}
