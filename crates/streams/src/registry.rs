//! The streams workers registered on this runtime, per project, and which workers can run their `canAccess`.
//! Other replicas learn stream names from the `stream_defs` table (see [`crate::Streams::find`]).

use std::collections::{BTreeSet, HashMap};

use cfp_protocol::{RegistrationCode, RegistrationError, StorageType, StreamManifest};
use cfp_store::Scope;

pub type WorkerId = u64;

/// Stream names starting with this are internal to the runtime: never registered by a project, never joinable.
pub const INTERNAL_PREFIX: &str = "__";

#[derive(Default)]
pub struct Registry {
    workers: HashMap<WorkerId, (Scope, Vec<StreamManifest>)>,
}

impl Registry {
    /// Replaces the streams a worker hosts. Returns the accepted manifests, the refused ones (as registration
    /// errors), and the project's stream set on this runtime afterwards.
    pub fn set_worker(
        &mut self,
        worker: WorkerId,
        scope: &Scope,
        streams: Vec<StreamManifest>,
    ) -> (Vec<RegistrationError>, Vec<StreamManifest>) {
        let mut others: HashMap<String, StreamManifest> = HashMap::new();
        for (id, (s, list)) in &self.workers {
            if *id != worker && s == scope {
                for m in list {
                    others.insert(m.name.clone(), m.clone());
                }
            }
        }
        let mut accepted: Vec<StreamManifest> = Vec::new();
        let mut errors = Vec::new();
        for m in streams {
            let err = |code: RegistrationCode, message: String| RegistrationError {
                step: m.name.clone(),
                file: m.file.clone(),
                code,
                message,
            };
            if m.name.trim().is_empty() {
                errors.push(err(
                    RegistrationCode::InvalidManifest,
                    format!("{}: the stream name is empty", m.file),
                ));
            } else if m.name.starts_with(INTERNAL_PREFIX) {
                errors.push(err(
                    RegistrationCode::InvalidManifest,
                    format!(
                        "{}: stream `{}`: names starting with `{INTERNAL_PREFIX}` are reserved for the runtime's internal streams",
                        m.file, m.name
                    ),
                ));
            } else if let Some(first) = accepted.iter().find(|a| a.name == m.name) {
                errors.push(err(
                    RegistrationCode::DuplicateStream,
                    format!("stream `{}` is defined in both {} and {}", m.name, first.file, m.file),
                ));
            } else if let Some(other) = others.get(&m.name).filter(|o| o.file != m.file) {
                errors.push(err(
                    RegistrationCode::DuplicateStream,
                    format!(
                        "stream `{}` is already registered from {} by another worker",
                        m.name, other.file
                    ),
                ));
            } else {
                if m.storage_type == Some(StorageType::Custom) {
                    tracing::warn!(stream = %m.name, file = %m.file,
                        "stream uses storageType 'custom': CFP keeps every stream in PostgreSQL and does not call the factory");
                }
                accepted.push(m);
            }
        }
        self.workers.insert(worker, (scope.clone(), accepted));
        (errors, self.project(scope))
    }

    /// Forgets a worker's streams; returns its project.
    pub fn remove_worker(&mut self, worker: WorkerId) -> Option<Scope> {
        self.workers.remove(&worker).map(|(s, _)| s)
    }

    /// The project's streams hosted by this runtime's workers, by name.
    pub fn project(&self, scope: &Scope) -> Vec<StreamManifest> {
        let mut by_name: HashMap<&str, &StreamManifest> = HashMap::new();
        let mut ids: Vec<&WorkerId> = self.workers.keys().collect();
        ids.sort();
        for id in ids {
            let (s, list) = &self.workers[id];
            if s == scope {
                for m in list {
                    by_name.entry(&m.name).or_insert(m);
                }
            }
        }
        let mut out: Vec<StreamManifest> = by_name.into_values().cloned().collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    pub fn get(&self, scope: &Scope, name: &str) -> Option<StreamManifest> {
        self.workers
            .values()
            .filter(|(s, _)| s == scope)
            .flat_map(|(_, list)| list)
            .find(|m| m.name == name)
            .cloned()
    }

    pub fn names(&self, scope: &Scope) -> BTreeSet<String> {
        self.workers
            .values()
            .filter(|(s, _)| s == scope)
            .flat_map(|(_, list)| list.iter().map(|m| m.name.clone()))
            .collect()
    }

    /// Workers of the project that host `name` with a `canAccess`, by id.
    pub fn access_hosts(&self, scope: &Scope, name: &str) -> Vec<WorkerId> {
        let mut ids: Vec<WorkerId> = self
            .workers
            .iter()
            .filter(|(_, (s, list))| s == scope && list.iter().any(|m| m.name == name && m.has_can_access))
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(name: &str, file: &str, can: bool) -> StreamManifest {
        StreamManifest {
            name: name.into(),
            file: file.into(),
            schema: None,
            storage_type: Some(StorageType::Default),
            has_can_access: can,
        }
    }

    #[test]
    fn refuses_internal_duplicate_and_conflicting_names() {
        let scope = Scope::new("t", "p");
        let mut r = Registry::default();
        let (errors, set) = r.set_worker(
            1,
            &scope,
            vec![
                manifest("todo", "steps/todo.stream.ts", true),
                manifest("todo", "steps/other.stream.ts", false),
                manifest("__cfp.logs", "steps/logs.stream.ts", false),
            ],
        );
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].code, RegistrationCode::DuplicateStream);
        assert!(errors[1].message.contains("reserved"));
        assert_eq!(set.len(), 1);
        // the same stream from the same file on a second worker is fine; from another file it is not
        let (errors, _) = r.set_worker(2, &scope, vec![manifest("todo", "steps/todo.stream.ts", true)]);
        assert!(errors.is_empty());
        let (errors, _) = r.set_worker(3, &scope, vec![manifest("todo", "src/todo.stream.ts", true)]);
        assert_eq!(errors[0].code, RegistrationCode::DuplicateStream);
        assert_eq!(r.access_hosts(&scope, "todo"), vec![1, 2]);
        assert!(r.access_hosts(&Scope::new("t", "other"), "todo").is_empty());
        r.remove_worker(1);
        assert_eq!(r.access_hosts(&scope, "todo"), vec![2]);
    }
}
