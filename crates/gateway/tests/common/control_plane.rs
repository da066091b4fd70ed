//! A fake control plane for runtimes that follow one (`cfp_access::Control`): it verifies the API keys the test
//! registered (counting every check), lists the test's projects, and serves the revocations the test pushes as
//! a long-polled feed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::Json;
use serde_json::{json, Value};

use super::eventually;

#[derive(Clone, Default)]
pub struct FakeControlPlane {
    /// Token → the credential the control plane answers for it.
    keys: Arc<Mutex<HashMap<String, Value>>>,
    projects: Arc<Mutex<Vec<Value>>>,
    /// The revocation feed, in order; push to revoke.
    pub revocations: Arc<Mutex<Vec<Value>>>,
    /// Credential checks answered (valid or not).
    pub verifications: Arc<AtomicUsize>,
}

/// An API key of `project` (tenant `tenant`, team `team`) with `role`, valid until 2100, in region `r`.
pub fn api_key(id: &str, tenant: &str, team: &str, project: &str, role: &str) -> Value {
    json!({"id": id, "kind": "api_key", "tenantId": tenant, "teamId": team, "projectId": project,
           "region": "r", "role": role, "expiresAt": "2100-01-01T00:00:00.000Z"})
}

/// A project of the projects feed.
pub fn project(tenant: &str, team: &str, project: &str, slug: &str) -> Value {
    json!({"projectId": project, "tenantId": tenant, "teamId": team, "slug": slug, "version": 1})
}

impl FakeControlPlane {
    pub fn new(projects: Vec<Value>) -> Self {
        let fake = Self::default();
        *fake.projects.lock().unwrap() = projects;
        fake
    }

    /// Registers `token` as a valid credential.
    pub fn with_key(self, token: &str, credential: Value) -> Self {
        self.keys.lock().unwrap().insert(token.to_string(), credential);
        self
    }

    /// Serves the control plane on a port of loopback (for the test's lifetime).
    pub async fn serve(&self) -> SocketAddr {
        let app = axum::Router::new()
            .route("/v1/service/credentials/verify", post(verify))
            .route("/v1/service/revocations", get(revocations))
            .route("/v1/service/projects", get(projects))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }

    /// Serves the control plane and starts a runtime's follower of it (region `r`), synced. The sender stops the
    /// follower's loops when it turns true (or is dropped).
    pub async fn start_control(
        &self,
        credential_cache: Duration,
    ) -> (cfp_access::Control, tokio::sync::watch::Sender<bool>) {
        let cp = self.serve().await;
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let control = cfp_access::Control::start(
            cfp_access::ControlConfig {
                url: format!("http://{cp}"),
                issuer: format!("http://{cp}"),
                service_token: "service".into(),
                region: "r".into(),
                credential_cache,
                settings_interval: Duration::from_secs(1),
                tls: None,
            },
            shutdown,
        );
        assert!(eventually(10, || control.ready()).await, "the runtime never synced");
        (control, stop)
    }
}

async fn verify(State(f): State<FakeControlPlane>, Json(body): Json<Value>) -> Json<Value> {
    f.verifications.fetch_add(1, Ordering::SeqCst);
    let credential = body["token"]
        .as_str()
        .and_then(|t| f.keys.lock().unwrap().get(t).cloned());
    Json(match credential {
        Some(c) => json!({"valid": true, "credential": c}),
        None => json!({"valid": false}),
    })
}

/// The revocation feed: rows after `since`, long-polled (at most 1 s here).
async fn revocations(State(f): State<FakeControlPlane>, Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    let since: usize = q.get("since").and_then(|s| s.parse().ok()).unwrap_or(0);
    let wait = q.get("wait").is_some_and(|w| w != "0");
    let until = Instant::now() + Duration::from_secs(1);
    loop {
        let rows = f.revocations.lock().unwrap().clone();
        if rows.len() > since || !wait || Instant::now() >= until {
            let items: Vec<Value> = rows.into_iter().skip(since).collect();
            return Json(json!({"version": since + items.len(), "items": items}));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The projects feed: every project at first, then (long-polled) no change.
async fn projects(State(f): State<FakeControlPlane>, Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    if q.get("since").is_some_and(|s| s != "0") {
        tokio::time::sleep(Duration::from_millis(500)).await;
        return Json(json!({"version": 1, "items": []}));
    }
    Json(json!({"version": 1, "items": f.projects.lock().unwrap().clone()}))
}
