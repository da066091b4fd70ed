//! The runtime's side of the control plane's service API (`docs/control-plane.md`, "What the runtime must do"):
//! the JWKS (cached; re-fetched at most once a second on an unknown `kid`), the revocation feed (long-poll),
//! API key and worker token verification (positive answers cached a few seconds), and the settings of the
//! region's projects (polled every second). The runtime keeps its own copy and never reads control-plane tables.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, watch};

use crate::jwt::{self, Claims, KeySet, TokenError};
use crate::settings::ProjectSettings;

mod feeds;

#[derive(Debug, Clone)]
pub struct ControlConfig {
    /// Base URL of the control plane (`http://host:port`).
    pub url: String,
    /// `iss` of its access tokens (its public URL unless configured otherwise).
    pub issuer: String,
    /// Bearer token for `/v1/service/*`.
    pub service_token: String,
    /// This runtime's region: tokens and projects of other regions are refused.
    pub region: String,
    /// How long a positive credential answer is reused.
    pub credential_cache: Duration,
    /// The pause after a failed settings sync, and the poll interval for a control plane that cannot long-poll
    /// (settings are long-polled otherwise: a change arrives as soon as it is made).
    pub settings_interval: Duration,
    /// A private CA and/or client certificate for https (`None`: the public roots, no client certificate).
    pub tls: Option<crate::ControlTls>,
}

/// An API key or worker token as the control plane describes it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    pub id: String,
    /// `api_key` or `worker`.
    pub kind: String,
    pub tenant_id: String,
    pub team_id: String,
    pub project_id: String,
    pub region: String,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub actions: Option<Vec<String>>,
    /// RFC 3339, when the credential stops being valid (none: it does not expire).
    #[serde(default)]
    pub expires_at: Option<String>,
}

impl Credential {
    /// [`Credential::expires_at`] in Unix seconds.
    pub fn expires_unix(&self) -> Option<i64> {
        self.expires_at.as_deref().and_then(parse_time)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the control plane cannot be reached: {0}")]
    Unavailable(String),
    #[error("the runtime has not completed its first sync with the control plane")]
    NotReady,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Token(#[from] TokenError),
    #[error("revoked")]
    Revoked,
    #[error("token of region `{0}`")]
    WrongRegion(String),
    #[error(transparent)]
    Control(#[from] ControlError),
}

#[derive(Default)]
struct Revocations {
    /// id → expiry (Unix seconds) for `session`, `token` and `credential` items.
    sessions: HashMap<String, i64>,
    tokens: HashMap<String, i64>,
    credentials: HashMap<String, i64>,
    /// user id → (issued before, Unix seconds; expiry).
    users: HashMap<String, (i64, i64)>,
    /// (user id, tenant id) → (issued before; expiry): a `user` item naming a tenant (the user left it or lost a
    /// binding there) ends only the tokens issued for that tenant.
    members: HashMap<(String, String), (i64, i64)>,
}

impl Revocations {
    fn revokes(&self, c: &Claims) -> bool {
        self.sessions.contains_key(&c.sid)
            || self.tokens.contains_key(&c.jti)
            || self.users.get(&c.sub).is_some_and(|(before, _)| c.iat <= *before)
            || c.tid.as_ref().is_some_and(|tid| {
                self.members
                    .get(&(c.sub.clone(), tid.clone()))
                    .is_some_and(|(before, _)| c.iat <= *before)
            })
    }

    /// Records one item of the feed; returns the id of a revoked credential.
    fn apply(&mut self, item: &Value, now: i64) -> Option<String> {
        let (Some(kind), Some(subject)) = (item["kind"].as_str(), item["subject"].as_str()) else {
            return None;
        };
        let expires = item["expiresAt"].as_str().and_then(parse_time).unwrap_or(now + 3600);
        match kind {
            "session" => {
                self.sessions.insert(subject.into(), expires);
            }
            "token" => {
                self.tokens.insert(subject.into(), expires);
            }
            "credential" => {
                self.credentials.insert(subject.into(), expires);
                return Some(subject.to_string());
            }
            "user" => {
                let before = item["issuedBefore"].as_str().and_then(parse_time).unwrap_or(now);
                // keep the latest cut-off when rows repeat (a later removal after a re-invite)
                let latest = |old: Option<&(i64, i64)>| match old {
                    Some(&(b, e)) => (b.max(before), e.max(expires)),
                    None => (before, expires),
                };
                match item["tenantId"].as_str() {
                    Some(tenant) => {
                        let key = (subject.to_string(), tenant.to_string());
                        let v = latest(self.members.get(&key));
                        self.members.insert(key, v);
                    }
                    None => {
                        let v = latest(self.users.get(subject));
                        self.users.insert(subject.into(), v);
                    }
                }
            }
            _ => {}
        }
        None
    }

    fn prune(&mut self, now: i64) {
        self.sessions.retain(|_, e| *e > now);
        self.tokens.retain(|_, e| *e > now);
        self.credentials.retain(|_, e| *e > now);
        self.users.retain(|_, (_, e)| *e > now);
        self.members.retain(|_, (_, e)| *e > now);
    }
}

struct Inner {
    cfg: ControlConfig,
    http: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    keys: RwLock<KeySet>,
    keys_fetched: tokio::sync::Mutex<Option<Instant>>,
    revocations: RwLock<Revocations>,
    revocations_synced: AtomicBool,
    credentials: Mutex<HashMap<String, (Credential, Instant)>>,
    /// Access tokens whose signature and claims verified: a repeat costs a lookup, not an ECDSA verification.
    /// Expiry, region and revocations are still checked on every use.
    verified: Mutex<HashMap<String, Arc<Claims>>>,
    projects: RwLock<HashMap<String, Arc<ProjectSettings>>>,
    /// The control plane's permission matrix when it differs from the one built in (see [`Control::policy`]).
    policy: RwLock<Option<(Value, Arc<crate::Policy>)>>,
    policy_synced: AtomicBool,
    /// Projects the control plane deleted, as (tenant, project), until [`Control::take_deleted`].
    deleted: Mutex<Vec<(String, String)>>,
    settings_synced: AtomicBool,
    settings_version: watch::Sender<u64>,
    revoked_credentials: broadcast::Sender<String>,
    /// Bumped whenever revocations arrive, so long-lived connections re-check their credential.
    revocations_version: watch::Sender<u64>,
    /// Tokens the control plane answered "not valid" for, with when: asked again only after
    /// [`NEGATIVE_CREDENTIAL_TTL`], so a flood of made-up `cfp_live_…` keys costs a lookup, not a call each.
    unknown_credentials: Mutex<HashMap<[u8; 32], Instant>>,
    /// The sync loops of [`Control::start`]; [`Control::stopped`] waits for them.
    loops: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// How long an API key or worker token the control plane did not know is refused without asking it again.
pub const NEGATIVE_CREDENTIAL_TTL: Duration = Duration::from_secs(10);
/// Most unknown tokens remembered (32-byte hashes).
const NEGATIVE_CACHE: usize = 50_000;

/// Handle to the control plane. Cheap to clone.
#[derive(Clone)]
pub struct Control {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("url", &self.inner.cfg.url)
            .field("region", &self.inner.cfg.region)
            .finish_non_exhaustive()
    }
}

/// Most verified access tokens remembered (each a few hundred bytes of claims).
const VERIFIED_CACHE: usize = 20_000;

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn parse_time(s: &str) -> Option<i64> {
    // RFC 3339 as the control plane writes it: 2026-11-27T12:00:00.000Z
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (n(0..4)?, n(5..7)?, n(8..10)?, n(11..13)?, n(14..16)?, n(17..19)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = if y2 >= 0 { y2 } else { y2 - 399 } / 400;
    let yoe = y2 - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + se)
}

/// How long a settings long-poll waits for a change before it answers with none.
const SETTINGS_WAIT_S: u64 = 10;

impl Control {
    /// Starts the background sync (revocations, settings, keys). Requests that need it answer 503 until the
    /// first sync completed ([`Control::ready`]).
    pub fn start(cfg: ControlConfig, shutdown: watch::Receiver<bool>) -> Self {
        let control = Self::new(cfg);
        let loops = vec![
            tokio::spawn(control.clone().revocation_loop(shutdown.clone())),
            tokio::spawn(control.clone().settings_loop(shutdown.clone())),
            tokio::spawn(control.clone().keys_loop(shutdown)),
        ];
        *control.inner.loops.lock().unwrap() = loops;
        control
    }

    /// Waits up to `within` for the sync loops to end (they end when the `shutdown` given to [`Control::start`]
    /// turns true), then aborts the rest and waits until they have stopped. Returns how many had to be aborted.
    pub async fn stopped(&self, within: Duration) -> usize {
        let loops = std::mem::take(&mut *self.inner.loops.lock().unwrap());
        let deadline = tokio::time::Instant::now() + within;
        let mut aborted = 0;
        for mut task in loops {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
                let _ = task.await;
                aborted += 1;
            }
        }
        aborted
    }

    fn new(cfg: ControlConfig) -> Self {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(Duration::from_secs(5)));
        tcp.set_nodelay(true);
        // https (rustls: the Mozilla roots compiled in, or the configured CA and client certificate) or plain
        // http on a private network / loopback.
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let connector = match &cfg.tls {
            Some(tls) => builder.with_tls_config((*tls.0).clone()),
            None => builder
                .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
                .expect("the ring provider supports rustls' default protocol versions"),
        }
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
        Self {
            inner: Arc::new(Inner {
                cfg,
                http: Client::builder(TokioExecutor::new()).build(connector),
                keys: RwLock::new(KeySet::default()),
                keys_fetched: tokio::sync::Mutex::new(None),
                revocations: RwLock::new(Revocations::default()),
                revocations_synced: AtomicBool::new(false),
                credentials: Mutex::new(HashMap::new()),
                verified: Mutex::new(HashMap::new()),
                projects: RwLock::new(HashMap::new()),
                deleted: Mutex::new(Vec::new()),
                policy: RwLock::new(None),
                policy_synced: AtomicBool::new(false),
                settings_synced: AtomicBool::new(false),
                settings_version: watch::channel(0).0,
                revoked_credentials: broadcast::channel(256).0,
                revocations_version: watch::channel(0).0,
                unknown_credentials: Mutex::new(HashMap::new()),
                loops: Mutex::default(),
            }),
        }
    }

    pub fn config(&self) -> &ControlConfig {
        &self.inner.cfg
    }

    /// Whether the first revocation and settings syncs completed.
    pub fn ready(&self) -> bool {
        self.inner.revocations_synced.load(Ordering::Acquire)
            && self.inner.settings_synced.load(Ordering::Acquire)
            && self.inner.policy_synced.load(Ordering::Acquire)
    }

    /// The permission matrix the control plane enforces, when it differs from the one compiled into this
    /// runtime (`None`: the same, or not known yet). The runtime then checks with the control plane's, so a
    /// change of `policy/permissions.json` needs no rebuilt runtime; it is fetched at start and every minute.
    pub fn policy(&self) -> Option<Arc<crate::Policy>> {
        self.inner.policy.read().unwrap().as_ref().map(|(_, p)| p.clone())
    }

    /// Waits (bounded) for the first sync; start-up uses it to print `ready` only once tokens can be checked.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.ready() {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }

    /// Settings of a project of this region, if the control plane knows it.
    pub fn project(&self, id: &str) -> Option<Arc<ProjectSettings>> {
        self.inner.projects.read().unwrap().get(id).cloned()
    }

    /// Every known project (the engine gets their execution limits and validation switch).
    pub fn projects(&self) -> Vec<Arc<ProjectSettings>> {
        self.inner.projects.read().unwrap().values().cloned().collect()
    }

    /// Projects deleted in the control plane since the last call, as (tenant, project): the runtime records them
    /// and purges their data after its retention. The feed says it again at every start, so nothing is lost
    /// when this runtime was down at the time.
    pub fn take_deleted(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.inner.deleted.lock().unwrap())
    }

    /// Bumps whenever settings changed.
    pub fn settings_changes(&self) -> watch::Receiver<u64> {
        self.inner.settings_version.subscribe()
    }

    /// Ids of revoked API keys and worker tokens, as they arrive (connected workers using one are dropped).
    pub fn credential_revocations(&self) -> broadcast::Receiver<String> {
        self.inner.revoked_credentials.subscribe()
    }

    /// Whether the revocation feed has revoked this API key or worker token (by credential id); local, no call.
    pub fn is_credential_revoked(&self, id: &str) -> bool {
        self.inner.revocations.read().unwrap().credentials.contains_key(id)
    }

    /// Changes whenever revocations of any kind arrive (sessions, tokens, users, credentials).
    pub fn revocation_changes(&self) -> watch::Receiver<u64> {
        self.inner.revocations_version.subscribe()
    }

    /// Verifies an access token: signature against the JWKS, claims, region, revocations.
    pub async fn verify_access_token(&self, token: &str) -> Result<Arc<Claims>, AuthError> {
        if !self.ready() {
            return Err(ControlError::NotReady.into());
        }
        let cached = self.inner.verified.lock().unwrap().get(token).cloned();
        let claims = match cached {
            Some(c) if c.exp + jwt::LEEWAY_S > now_s() => c,
            Some(_) => {
                self.inner.verified.lock().unwrap().remove(token);
                return Err(TokenError::Expired.into());
            }
            None => {
                if let Some(kid) = jwt::kid_of(token) {
                    if !self.inner.keys.read().unwrap().contains(&kid) {
                        self.refresh_keys(true).await;
                    }
                }
                let claims = {
                    let keys = self.inner.keys.read().unwrap();
                    Arc::new(jwt::verify(token, &keys, &self.inner.cfg.issuer, now_s())?)
                };
                let mut verified = self.inner.verified.lock().unwrap();
                if verified.len() >= VERIFIED_CACHE {
                    let now = now_s();
                    verified.retain(|_, c| c.exp + jwt::LEEWAY_S > now);
                    if verified.len() >= VERIFIED_CACHE {
                        verified.clear();
                    }
                }
                verified.insert(token.to_string(), claims.clone());
                claims
            }
        };
        if claims.region != self.inner.cfg.region {
            return Err(AuthError::WrongRegion(claims.region.clone()));
        }
        if self.inner.revocations.read().unwrap().revokes(&claims) {
            return Err(AuthError::Revoked);
        }
        Ok(claims)
    }

    /// Verifies an API key or worker token. `Ok(None)`: not valid (unknown, expired, revoked, other region).
    pub async fn verify_credential(&self, token: &str) -> Result<Option<Credential>, AuthError> {
        if !self.ready() {
            return Err(ControlError::NotReady.into());
        }
        let ttl = self.inner.cfg.credential_cache;
        if let Some((c, at)) = self.inner.credentials.lock().unwrap().get(token) {
            if at.elapsed() < ttl && !self.inner.revocations.read().unwrap().credentials.contains_key(&c.id) {
                return Ok(Some(c.clone()));
            }
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if self
            .inner
            .unknown_credentials
            .lock()
            .unwrap()
            .get(&digest)
            .is_some_and(|at| at.elapsed() < NEGATIVE_CREDENTIAL_TTL)
        {
            return Ok(None);
        }
        let body = serde_json::json!({ "token": token });
        let answer = self
            .request(
                "POST",
                "/v1/service/credentials/verify",
                Some(body),
                Duration::from_secs(10),
            )
            .await?;
        if answer["valid"] != Value::Bool(true) {
            let mut unknown = self.inner.unknown_credentials.lock().unwrap();
            if unknown.len() >= NEGATIVE_CACHE {
                unknown.retain(|_, at| at.elapsed() < NEGATIVE_CREDENTIAL_TTL);
                if unknown.len() >= NEGATIVE_CACHE {
                    unknown.clear();
                }
            }
            unknown.insert(digest, Instant::now());
            return Ok(None);
        }
        let c: Credential = serde_json::from_value(answer["credential"].clone())
            .map_err(|e| ControlError::Unavailable(format!("credentials/verify answered an unexpected shape: {e}")))?;
        if c.region != self.inner.cfg.region || self.inner.revocations.read().unwrap().credentials.contains_key(&c.id) {
            return Ok(None);
        }
        let mut cache = self.inner.credentials.lock().unwrap();
        if cache.len() > 10_000 {
            cache.retain(|_, (_, at)| at.elapsed() < ttl);
        }
        cache.insert(token.to_string(), (c.clone(), Instant::now()));
        Ok(Some(c))
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        timeout: Duration,
    ) -> Result<Value, ControlError> {
        let url = format!("{}{}", self.inner.cfg.url.trim_end_matches('/'), path);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(&url)
            .header("authorization", format!("Bearer {}", self.inner.cfg.service_token))
            .header("accept", "application/json");
        let bytes = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Bytes::from(b.to_string())
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(bytes))
            .map_err(|e| ControlError::Unavailable(format!("{url}: {e}")))?;
        let fut = async {
            let res = self.inner.http.request(req).await.map_err(|e| format!("{url}: {e}"))?;
            let status = res.status();
            let body = res
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("{url}: {e}"))?
                .to_bytes();
            if !status.is_success() {
                let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
                return Err(format!("{url} answered {status}: {text}"));
            }
            serde_json::from_slice::<Value>(&body).map_err(|e| format!("{url}: not JSON: {e}"))
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r.map_err(ControlError::Unavailable),
            Err(_) => Err(ControlError::Unavailable(format!(
                "{url}: no answer within {timeout:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests;
