//! The runtime's audit chain over HTTP (`/__cfp/api/audit/…`, docs/runtime-api.md) and what the gateway records
//! into it ([`event`]: who did what, from where; [`crate::AppState::engine`]'s `audit` queues it).
//!
//! Reading needs `audit.runtime.read` on the selected project. The operator (admin token, local developer) reads
//! any chain of this runtime (`?chain=`, `runtime:system` included); everyone else reads their project's entries
//! of their tenant's chain (`runtime:<tenant>`), and only that chain's checkpoints and proofs.
//!
//! The answers have the control plane's shapes (`/v1/audit/…`): `{items, next}` pages newest first with an opaque
//! cursor, entries `{chain, seq, leafHash, entry}`, checkpoints `{chain, size, root, note, keyName, createdAt}`,
//! consistency `{…, firstRoot, secondRoot}`, keys `{name, keyId, publicKey, verifierKey, createdAt, retiredAt}`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Uri};
use axum::routing::get;
use axum::{Json, Router};
use cfp_audit::entry::valid_chain;
use cfp_audit::{Actor, Event};
use cfp_protocol::ErrorCode;
use cfp_store::audit_read::EntryQuery;
use serde_json::{json, Value};

use crate::auth::{Access, Principal};
use crate::error::ApiError;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/audit/entries", get(entries))
        .route("/audit/entries/{chain}/{seq}", get(entry))
        .route("/audit/checkpoints", get(checkpoints))
        .route("/audit/consistency", get(consistency))
        .route("/audit/keys", get(keys))
}

/// The runtime-plane action that reads the audit chain.
pub const READ: &str = "audit.runtime.read";
/// Proofs computed at once by one runtime; more wait up to [`PROOF_WAIT`], then get `429 limit_exceeded`. Each
/// proof reads O(log n) stored tree nodes (`audit_nodes`), never the chain's leaves, so this bounds database
/// connections and CPU, not memory that grows with the chain.
pub const PROOF_CONCURRENCY: usize = 4;
pub const PROOF_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The gate of proof computations ([`PROOF_CONCURRENCY`]).
pub struct ProofGate(tokio::sync::Semaphore);

impl Default for ProofGate {
    fn default() -> Self {
        Self(tokio::sync::Semaphore::new(PROOF_CONCURRENCY))
    }
}

impl ProofGate {
    async fn enter(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
        match tokio::time::timeout(PROOF_WAIT, self.0.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::new(
                ErrorCode::LimitExceeded,
                format!("more than {PROOF_CONCURRENCY} audit proofs are being computed; retry shortly"),
            )),
        }
    }

    /// Proofs being computed now.
    pub fn busy(&self) -> usize {
        PROOF_CONCURRENCY - self.0.available_permits()
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(256).collect())
}

/// The actor of a principal: never a secret (ids and names only).
pub fn actor(p: &Principal) -> (Actor, Option<String>) {
    let a = |kind, id: &str, name: Option<&str>, auth| Actor {
        kind,
        id: Some(id.to_string()),
        name: name.map(str::to_string),
        auth,
    };
    match p {
        Principal::LocalDeveloper => (a("user", "local-developer", Some("local developer"), None), None),
        Principal::Admin => (a("service", "admin", Some("admin token"), Some("runtime_token")), None),
        Principal::User(c) => (a("user", &c.sub, None, Some("session")), Some(c.sid.clone())),
        Principal::ApiKey(c) => (a("api_key", &c.id, None, Some("api_key")), None),
        Principal::EndUser { sub, .. } => (a("user", sub, None, Some("oidc")), None),
    }
}

/// An `ok` event of `kind` by an authorized caller on its project, with where the request came from.
pub fn event(access: &Access, peer: SocketAddr, headers: &HeaderMap, kind: &str) -> Event {
    let (actor, sid) = actor(&access.principal);
    let mut e = Event::new(kind, actor);
    e.sid = sid;
    e.tenant = Some(access.scope.tenant.clone());
    e.team = access.settings.as_ref().map(|s| s.path().team);
    e.project = Some(access.scope.project.clone());
    e.addr = Some(peer.ip().to_string());
    e.ua = header(headers, "user-agent");
    e.request_id = header(headers, "x-request-id");
    e
}

/// Queues an event; a failure is logged (the action it records already happened).
pub async fn record(app: &AppState, event: Event) {
    app.engine.audit(event).await;
}

/// What a reader may read.
struct Reader {
    access: Access,
    operator: bool,
}

impl Reader {
    /// The chain asked for, or the caller's own; `chain` outside the caller's reach is not found.
    fn chain(&self, asked: Option<&str>) -> Result<String, ApiError> {
        let own = format!("runtime:{}", self.access.scope.tenant);
        match asked {
            None => Ok(own),
            Some(c) if !valid_chain(c) => Err(bad("chain", "is not a chain id ([A-Za-z0-9._:-], 1 to 200 bytes)")),
            Some(c) if self.operator || c == own => Ok(c.to_string()),
            Some(c) => Err(ApiError::not_found(format!("no audit chain `{c}` for this project"))),
        }
    }
}

async fn reader(app: &AppState, peer: SocketAddr, headers: &HeaderMap, uri: &Uri) -> Result<Reader, ApiError> {
    let access = crate::auth::access(app, peer, headers, uri.query(), READ).await?;
    let operator = matches!(access.principal, Principal::Admin | Principal::LocalDeveloper);
    Ok(Reader { access, operator })
}

fn bad(param: &str, why: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery, format!("`{param}` {why}"))
}

/// The query's parameters, refusing unknown ones, repeated ones and NUL by name.
fn params(uri: &Uri, allowed: &[&str]) -> Result<std::collections::HashMap<String, String>, ApiError> {
    let mut out = std::collections::HashMap::new();
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        if k == "project" {
            continue;
        }
        if !allowed.contains(&k.as_ref()) {
            return Err(bad(
                &k,
                &format!("is not a parameter of this endpoint (it takes {})", allowed.join(", ")),
            ));
        }
        if v.contains('\0') || v.len() > 512 {
            return Err(bad(&k, "must be at most 512 bytes without NUL"));
        }
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(bad(&k, "is given twice"));
        }
    }
    Ok(out)
}

fn int(p: &std::collections::HashMap<String, String>, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
    match p.get(name) {
        None => Ok(None),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(bad(name, &format!("must be an integer from {min} to {max}"))),
        },
    }
}

/// RFC 3339 with a time zone: `2026-12-07T17:10:01Z`, fractions and offsets allowed.
fn rfc3339(v: &str) -> bool {
    let b = v.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    if b.len() < 20 || !digits(0..4) || b[4] != b'-' || !digits(5..7) || b[7] != b'-' || !digits(8..10) {
        return false;
    }
    if !matches!(b[10], b'T' | b't') || !digits(11..13) || b[13] != b':' || !digits(14..16) || b[16] != b':' {
        return false;
    }
    if !digits(17..19) {
        return false;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start || i - start > 9 {
            return false;
        }
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

const ENTRY_PARAMS: [&str; 10] = [
    "chain", "kind", "actor", "sid", "outcome", "request", "from", "to", "cursor", "limit",
];

async fn entries(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let r = reader(&app, peer, &headers, &uri).await?;
    let p = params(&uri, &ENTRY_PARAMS)?;
    for t in ["from", "to"] {
        if p.get(t).is_some_and(|v| !rfc3339(v)) {
            return Err(bad(
                t,
                "must be an RFC 3339 time with a zone, e.g. 2026-12-07T17:10:01Z",
            ));
        }
    }
    if let Some(o) = p
        .get("outcome")
        .filter(|o| !["ok", "denied", "error"].contains(&o.as_str()))
    {
        return Err(bad("outcome", &format!("must be ok, denied or error, not `{o}`")));
    }
    let after = match p.get("cursor") {
        None => None,
        Some(c) => Some(decode_cursor(c).ok_or_else(|| bad("cursor", "is not a cursor this endpoint returned"))?),
    };
    let limit = int(&p, "limit", 1, 1000)?.unwrap_or(100);
    let chain = match (p.get("chain"), r.operator) {
        (None, true) => None,
        (asked, _) => Some(r.chain(asked.map(String::as_str))?),
    };
    let q = EntryQuery {
        chain,
        tenant: None,
        project: (!r.operator).then(|| r.access.scope.project.clone()),
        kind: p.get("kind").cloned(),
        actor: p.get("actor").cloned(),
        sid: p.get("sid").cloned(),
        status: p.get("outcome").cloned(),
        request: p.get("request").cloned(),
        from: p.get("from").cloned(),
        to: p.get("to").cloned(),
        after,
        limit,
    };
    let rows = app.engine.store().audit_search(&q).await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(encode_cursor))
        .flatten();
    Ok(Json(json!({
        "items": rows.iter().map(|e| e.to_json()).collect::<Vec<_>>(),
        "next": next,
    })))
}

/// A page's cursor, opaque to callers: base64url of `[time, chain, seq]` of its last entry (the control plane's
/// form).
fn encode_cursor(e: &cfp_store::audit_read::EntryRow) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!([e.time, e.chain, e.seq]).to_string())
}

fn decode_cursor(c: &str) -> Option<(String, String, i64)> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let (time, chain, seq) = (v.get(0)?.as_str()?, v.get(1)?.as_str()?, v.get(2)?.as_i64()?);
    (v.as_array()?.len() == 3 && rfc3339(time) && valid_chain(chain) && seq >= 0)
        .then(|| (time.to_string(), chain.to_string(), seq))
}

fn hexes(h: &[cfp_audit::Hash]) -> Vec<String> {
    h.iter().map(hex::encode).collect()
}

async fn entry(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    Path((chain, seq)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let r = reader(&app, peer, &headers, &uri).await?;
    let p = params(&uri, &["tree_size"])?;
    let chain = r.chain(Some(&chain))?;
    let seq: i64 = seq
        .parse()
        .ok()
        .filter(|s| *s >= 0)
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidPath, format!("seq `{seq}` is not a sequence number")))?;
    let store = app.engine.store();
    let missing = || ApiError::not_found(format!("no audit entry {chain}/{seq}"));
    let e = store.audit_entry(&chain, seq).await?.ok_or_else(missing)?;
    if !r.operator && e.to_json()["entry"]["scope"]["project"] != json!(r.access.scope.project) {
        return Err(missing());
    }
    let head = store.audit_head(&chain).await?.map_or(0, |h| h.size as i64);
    // Proven in the latest checkpoint that holds it, else in the current tree (not yet signed).
    let size = match int(&p, "tree_size", 1, i64::MAX)? {
        Some(n) if n <= seq || n > head => {
            return Err(bad("tree_size", &format!("must be above {seq} and at most {head}")))
        }
        Some(n) => n,
        None => match store.audit_checkpoint_at_most(&chain, head).await? {
            Some((n, _)) if n > seq => n,
            _ => head,
        },
    };
    let proof = {
        let _permit = app.audit_proofs.enter().await?;
        store.audit_inclusion(&chain, seq as u64, size as u64).await?
    };
    let checkpoint = store
        .audit_checkpoints(&chain, size - 1, 1)
        .await?
        .into_iter()
        .find(|c| c["size"] == json!(size));
    let mut body = e.to_json();
    body["leaf"] = json!(e.leaf);
    body["proof"] = json!({"leaf_index": seq, "tree_size": size, "path": hexes(&proof.path)});
    body["root"] = json!(hex::encode(proof.roots[0]));
    if let Some(c) = checkpoint {
        body["checkpoint"] = c;
    }
    Ok(Json(body))
}

async fn checkpoints(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let r = reader(&app, peer, &headers, &uri).await?;
    let p = params(&uri, &["chain", "before", "limit"])?;
    let chain = r.chain(p.get("chain").map(String::as_str))?;
    let before = int(&p, "before", 1, i64::MAX)?.unwrap_or(i64::MAX);
    let limit = int(&p, "limit", 1, 1000)?.unwrap_or(100);
    let list = app
        .engine
        .store()
        .audit_checkpoints_before(&chain, before, limit)
        .await?;
    Ok(Json(json!({ "items": list })))
}

async fn consistency(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let r = reader(&app, peer, &headers, &uri).await?;
    let p = params(&uri, &["chain", "first", "second"])?;
    let chain = r.chain(p.get("chain").map(String::as_str))?;
    let head = app
        .engine
        .store()
        .audit_head(&chain)
        .await?
        .map_or(0, |h| h.size as i64);
    let first = int(&p, "first", 0, i64::MAX)?.ok_or_else(|| bad("first", "is required"))?;
    let second = int(&p, "second", 0, i64::MAX)?.ok_or_else(|| bad("second", "is required"))?;
    if first > second {
        return Err(bad("first", "must not be above `second`"));
    }
    if second > head {
        return Err(bad("second", &format!("must be at most the chain's size, {head}")));
    }
    let proof = {
        let _permit = app.audit_proofs.enter().await?;
        app.engine
            .store()
            .audit_consistency(&chain, first as u64, second as u64)
            .await?
    };
    Ok(Json(json!({
        "chain": chain,
        "first": first,
        "second": second,
        "path": hexes(&proof.path),
        "firstRoot": hex::encode(proof.roots[0]),
        "secondRoot": hex::encode(proof.roots[1]),
    })))
}

async fn keys(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    reader(&app, peer, &headers, &uri).await?;
    params(&uri, &[])?;
    let keys = app.engine.store().audit_public_keys().await?;
    Ok(Json(json!({
        "items": keys.iter().map(|(k, created, retired)| {
            use base64::Engine as _;
            json!({
                "name": k.name,
                "keyId": hex::encode(cfp_audit::note::key_id(&k.name, &k.key)),
                "publicKey": base64::engine::general_purpose::STANDARD.encode(k.key),
                "verifierKey": k.verifier_key(),
                "createdAt": created,
                "retiredAt": retired,
            })
        }).collect::<Vec<_>>(),
    })))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_flood_of_authentication_failures_is_one_window_per_address_with_its_count() {
        let f = super::Failures::default();
        for i in 0..10_000 {
            f.count("192.0.2.1", "unauthenticated", 1_000_020 + i % 30);
        }
        f.count("192.0.2.2", "unauthenticated", 1_000_021);
        assert!(f.take(1_000_030, false).is_empty(), "the window is still open");
        let mut done = f.take(1_000_081, false);
        done.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(done.len(), 2);
        assert_eq!(done[0].0, ("192.0.2.1".to_string(), 1_000_020));
        assert_eq!(done[0].1 .0, 10_000);
        assert_eq!(done[1].1 .0, 1);
        assert!(f.take(2_000_000, true).is_empty());
        // more addresses than a window keeps count under `*`
        for i in 0..(super::FAILURE_KEYS + 5) {
            f.count(&format!("a{i}"), "x", 60);
        }
        let all = f.take(0, true);
        assert_eq!(all.len(), super::FAILURE_KEYS + 1);
        assert_eq!(all.iter().find(|(k, _)| k.0 == "*").unwrap().1 .0, 5);
    }

    #[test]
    fn rfc3339_times_are_told_from_others() {
        for ok in [
            "2026-12-07T17:10:01Z",
            "2026-12-07T17:10:01.123Z",
            "2026-12-07T17:10:01+02:00",
        ] {
            assert!(super::rfc3339(ok), "{ok}");
        }
        for bad in [
            "2026-12-07",
            "2026-12-07T17:10:01",
            "yesterday",
            "2026-12-07T17:10:01.Z",
            "2026-12-07 17:10:01Z",
        ] {
            assert!(!super::rfc3339(bad), "{bad}");
        }
    }
}

/// Records an action of an authorized caller: `kind` on `target`, with `details` (never a secret or a value).
pub async fn record_action(
    app: &AppState,
    access: &Access,
    peer: SocketAddr,
    headers: &HeaderMap,
    kind: &str,
    target: (&str, Option<String>),
    details: Value,
) {
    record(app, action_event(access, peer, headers, kind, target, details)).await;
}

/// The event of an action of an authorized caller, for a change that queues it in its own transaction.
pub fn action_event(
    access: &Access,
    peer: SocketAddr,
    headers: &HeaderMap,
    kind: &str,
    target: (&str, Option<String>),
    details: Value,
) -> Event {
    let mut e = event(access, peer, headers, kind);
    e.target = Some((target.0.to_string(), target.1));
    if let Value::Object(d) = details {
        e.details = d;
    }
    e
}

/// Authentication failures of the runtime API, counted per (address, window): a flood writes one
/// `auth.failure` entry per address and window, with the count and the codes refused.
#[derive(Default)]
pub struct Failures {
    windows: std::sync::Mutex<std::collections::HashMap<WindowKey, Counted>>,
}

/// (address, window start in Unix seconds).
type WindowKey = (String, u64);
/// (failures, per reason code).
type Counted = (u64, std::collections::BTreeMap<String, u64>);

/// The aggregation window of authentication failures.
pub const FAILURE_WINDOW_S: u64 = 60;
/// Addresses counted per window at most; beyond, failures count under the address `*`.
const FAILURE_KEYS: usize = 10_000;

impl Failures {
    pub fn count(&self, addr: &str, code: &str, now_s: u64) {
        let window = now_s - now_s % FAILURE_WINDOW_S;
        let mut w = self.windows.lock().unwrap();
        let key = if w.len() >= FAILURE_KEYS && !w.contains_key(&(addr.to_string(), window)) {
            ("*".to_string(), window)
        } else {
            (addr.to_string(), window)
        };
        let slot = w.entry(key).or_default();
        slot.0 += 1;
        *slot.1.entry(code.chars().take(64).collect()).or_default() += 1;
    }

    /// The windows that ended before `now_s` (all of them when `all`), removed.
    fn take(&self, now_s: u64, all: bool) -> Vec<(WindowKey, Counted)> {
        let mut w = self.windows.lock().unwrap();
        let done: Vec<_> = w
            .keys()
            .filter(|(_, start)| all || start + FAILURE_WINDOW_S <= now_s)
            .cloned()
            .collect();
        done.into_iter().filter_map(|k| w.remove_entry(&k)).collect()
    }
}

fn unix_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Writes the ended windows of authentication failures every second, and all of them at shutdown. A task of the
/// engine ([`cfp_engine::Engine::spawn`]): its shutdown waits for the last windows to be written.
pub fn flush_failures(engine: cfp_engine::Engine, failures: std::sync::Arc<Failures>) {
    let mut shutdown = engine.shutdown_signal();
    engine.clone().spawn(async move {
        loop {
            let stopping = *shutdown.borrow();
            for ((addr, start), (count, reasons)) in failures.take(unix_s(), stopping) {
                let mut e = Event::new(
                    "auth.failure",
                    Actor {
                        kind: "anonymous",
                        id: None,
                        name: None,
                        auth: None,
                    },
                );
                e.status = "denied";
                e.code = Some("unauthenticated".into());
                e.addr = Some(addr.clone());
                e.target = Some(("principal".into(), None));
                let window_start = std::time::UNIX_EPOCH + std::time::Duration::from_secs(start);
                e.details = json!({
                    "principal": null, "addr": addr, "window_start": cfp_audit::entry::format_time(window_start),
                    "window_seconds": FAILURE_WINDOW_S, "count": count, "reasons": reasons,
                })
                .as_object()
                .cloned()
                .unwrap_or_default();
                engine.audit(e).await;
            }
            if stopping {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                _ = shutdown.changed() => {}
            }
        }
    });
}

/// Middleware of the runtime API: counts answers 401 (an absent or refused credential) per address.
pub async fn count_failures(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let res = next.run(req).await;
    if res.status() == axum::http::StatusCode::UNAUTHORIZED {
        app.auth_failures
            .count(&peer.ip().to_string(), "unauthenticated", unix_s());
    }
    res
}
