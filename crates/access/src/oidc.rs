//! End-user tokens: JWTs issued by a project's **own** OIDC provider (Auth0, Okta, Keycloak, Google…) to the
//! project's users, who call its API steps with them. The control plane stores the provider per project
//! (`PUT /v1/projects/{id}/auth`, `{ oidc: { issuer, audience, jwksUrl } }`); the runtime receives it in the
//! settings feed as [`ProjectSettings::oidc`](crate::ProjectSettings::oidc).
//!
//! One [`EndUserTokens`] per runtime (cheap to clone) verifies tokens for every project:
//!
//! ```no_run
//! # async fn demo(project: &cfp_access::ProjectSettings, bearer: &str) {
//! use cfp_access::oidc::{EndUserTokens, OidcOptions};
//!
//! let tokens = EndUserTokens::new(OidcOptions::default());
//! if let Some(cfg) = &project.oidc {
//!     match tokens.verify(bearer, cfg).await {
//!         Ok(user) => println!("end user {} ({})", user.sub, user.claims["email"]),
//!         Err(e) if e.is_transient() => { /* 503: the provider's JWKS cannot be fetched; retry */ }
//!         Err(e) => { /* 401; `e` says why, for the log only */ }
//!     }
//! }
//! # }
//! ```
//!
//! Rules ([`EndUserTokens::verify`]):
//! - compact JWS only, at most 16 KiB; `alg` **RS256** (RSA ≥ 2048 bits) or **ES256** (P-256) — `none`, HMAC
//!   and everything else are refused before any key is looked at; a `crit` header is refused;
//! - the key is the JWK with the token's `kid` and a matching key type (and `alg`/`use` when the JWK names
//!   them); a token without `kid` needs exactly one fitting key in the set;
//! - `iss` equals the configured issuer exactly; `aud` (string or array) contains the audience; `exp` is
//!   required and `nbf` honoured, both with 30 s of leeway; `sub` is a non-empty string;
//! - the JWKS is fetched from `jwksUrl` (https only; plain http on loopback only with
//!   [`OidcOptions::allow_loopback_http`]), at most 5 s and 256 KiB, redirects not followed, over rustls with
//!   the Mozilla roots compiled in; cached per URL: reused for 60 s, re-fetched on an unknown `kid` at most
//!   every 5 s, kept when a refresh fails (`oidc/jwks.rs`).

mod jwks;

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::jws;

/// A project's end-user identity provider, as the control plane sends it (`auth.oidc`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectOidc {
    /// `iss` of its tokens, compared exactly (`https://acme.eu.auth0.com/` ≠ `https://acme.eu.auth0.com`).
    pub issuer: String,
    /// Must be in the tokens' `aud`.
    pub audience: String,
    /// Where its signing keys are published.
    pub jwks_url: String,
}

/// A verified end user.
#[derive(Debug, Clone, PartialEq)]
pub struct EndUser {
    /// The provider's subject identifier (`sub`).
    pub sub: String,
    /// Every claim of the token, as the provider wrote them.
    pub claims: Value,
}

/// Why an end-user token was refused. Callers answer 401, except [`OidcError::is_transient`] ones (503).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    #[error("not a compact JWS")]
    Malformed,
    #[error("alg `{0}` is not accepted (RS256 or ES256 only)")]
    Algorithm(String),
    #[error("header: {0}")]
    Header(String),
    #[error("no signing key `{0}` in the provider's JWKS")]
    UnknownKey(String),
    #[error("signature does not verify")]
    Signature,
    #[error("claims: {0}")]
    Claims(String),
    #[error("expired")]
    Expired,
    #[error("not valid yet (nbf)")]
    NotYetValid,
    /// The JWKS could not be fetched or read, and there are no keys from earlier.
    #[error("the provider's JWKS is unavailable: {0}")]
    Jwks(String),
    /// The project's configuration cannot be used (e.g. a plain-http `jwksUrl`).
    #[error("configuration: {0}")]
    Config(String),
}

impl OidcError {
    /// The provider could not be reached: not the caller's fault, worth retrying.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Jwks(_))
    }
}

/// Tuning of [`EndUserTokens`]; the defaults are the documented behaviour.
#[derive(Debug, Clone)]
pub struct OidcOptions {
    /// Accept `http://` JWKS URLs on loopback hosts (tests, local IdPs). Default: off.
    pub allow_loopback_http: bool,
    /// A fetched JWKS is reused this long, then refreshed on the next token. Default 60 s.
    pub refresh_interval: Duration,
    /// Minimum time between two fetches of one JWKS (unknown `kid`, failures). Default 5 s.
    pub min_refetch_interval: Duration,
    /// Connect + response. Default 5 s.
    pub fetch_timeout: Duration,
    /// Largest JWKS document read. Default 256 KiB.
    pub max_jwks_bytes: usize,
    /// JWKS URLs cached at once (least recently used evicted). Default 1024.
    pub max_cached: usize,
    /// Clock skew tolerated on `exp` and `nbf`, seconds. Default 30.
    pub leeway_s: i64,
}

impl Default for OidcOptions {
    fn default() -> Self {
        Self {
            allow_loopback_http: false,
            refresh_interval: Duration::from_secs(60),
            min_refetch_interval: Duration::from_secs(5),
            fetch_timeout: Duration::from_secs(5),
            max_jwks_bytes: 256 * 1024,
            max_cached: 1024,
            leeway_s: 30,
        }
    }
}

/// Longest token accepted.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alg {
    Rs256,
    Es256,
}

impl Alg {
    fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
        }
    }
}

/// Verifies end users' tokens against their projects' providers, caching each provider's JWKS.
#[derive(Clone)]
pub struct EndUserTokens {
    cache: Arc<jwks::Cache>,
}

impl std::fmt::Debug for EndUserTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndUserTokens")
            .field("options", self.cache.options())
            .finish_non_exhaustive()
    }
}

struct Jws<'a> {
    alg: Alg,
    kid: Option<String>,
    signing_input: &'a str,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<Value>,
}

fn parse(token: &str) -> Result<Jws<'_>, OidcError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(OidcError::Malformed);
    }
    let parts = jws::split(token).ok_or(OidcError::Malformed)?;
    let header: Header = jws::decode_json(parts.header).ok_or(OidcError::Malformed)?;
    let alg = match header.alg.as_str() {
        "RS256" => Alg::Rs256,
        "ES256" => Alg::Es256,
        other => return Err(OidcError::Algorithm(other.to_string())),
    };
    if header.crit.is_some() {
        return Err(OidcError::Header("`crit` extensions are not understood".into()));
    }
    let payload = jws::decode(parts.payload).ok_or(OidcError::Malformed)?;
    let signature = jws::decode(parts.signature).ok_or(OidcError::Malformed)?;
    if signature.is_empty() {
        return Err(OidcError::Signature);
    }
    Ok(Jws {
        alg,
        kid: header.kid,
        signing_input: parts.signing_input,
        payload,
        signature,
    })
}

fn check_signature(jws: &Jws<'_>, key: &jwks::PublicKey) -> Result<(), OidcError> {
    use rsa::signature::Verifier as _;
    let msg = jws.signing_input.as_bytes();
    let ok = match key {
        jwks::PublicKey::Rsa(k) => {
            rsa::pkcs1v15::Signature::try_from(jws.signature.as_slice()).is_ok_and(|sig| k.verify(msg, &sig).is_ok())
        }
        jwks::PublicKey::P256(k) => {
            p256::ecdsa::Signature::from_slice(&jws.signature).is_ok_and(|sig| k.verify(msg, &sig).is_ok())
        }
    };
    ok.then_some(()).ok_or(OidcError::Signature)
}

/// Checks the claims of a token whose signature verified; returns `sub`. `now` is Unix seconds.
fn check_claims(claims: &Value, cfg: &ProjectOidc, now: i64, leeway: i64) -> Result<String, OidcError> {
    let bad = |m: String| Err(OidcError::Claims(m));
    if !claims.is_object() {
        return bad("the payload is not a JSON object".into());
    }
    if claims["iss"].as_str() != Some(cfg.issuer.as_str()) {
        return bad(format!("issuer is not `{}`", cfg.issuer));
    }
    let audience_ok = match &claims["aud"] {
        Value::String(a) => *a == cfg.audience,
        Value::Array(list) => list.iter().any(|a| a.as_str() == Some(cfg.audience.as_str())),
        _ => false,
    };
    if !audience_ok {
        return bad(format!("audience does not include `{}`", cfg.audience));
    }
    let (now, leeway) = (now as f64, leeway as f64);
    let Some(exp) = claims["exp"].as_f64() else {
        return bad("no numeric `exp`".into());
    };
    if exp + leeway <= now {
        return Err(OidcError::Expired);
    }
    match &claims["nbf"] {
        Value::Null => {}
        v => match v.as_f64() {
            Some(nbf) if nbf - leeway > now => return Err(OidcError::NotYetValid),
            Some(_) => {}
            None => return bad("`nbf` is not a number".into()),
        },
    }
    match claims["sub"].as_str() {
        Some(sub) if !sub.is_empty() => Ok(sub.to_string()),
        _ => bad("no `sub`".into()),
    }
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl EndUserTokens {
    pub fn new(options: OidcOptions) -> Self {
        Self {
            cache: Arc::new(jwks::Cache::new(options)),
        }
    }

    /// Verifies `token` (the bearer string, without `Bearer `) as issued by the project's provider `cfg`.
    pub async fn verify(&self, token: &str, cfg: &ProjectOidc) -> Result<EndUser, OidcError> {
        self.verify_at(token, cfg, now_s()).await
    }

    async fn verify_at(&self, token: &str, cfg: &ProjectOidc, now: i64) -> Result<EndUser, OidcError> {
        let jws = parse(token)?;
        let uri = jwks::check_url(&cfg.jwks_url, self.cache.options().allow_loopback_http)?;
        let keys = self
            .cache
            .keys(&uri, &cfg.jwks_url, jws.kid.as_deref(), jws.alg)
            .await?;
        let key = keys
            .find(jws.kid.as_deref(), jws.alg)
            .ok_or_else(|| OidcError::UnknownKey(jws.kid.clone().unwrap_or_else(|| "(no kid)".into())))?;
        check_signature(&jws, &key.key)?;
        let claims: Value = serde_json::from_slice(&jws.payload).map_err(|_| OidcError::Malformed)?;
        let sub = check_claims(&claims, cfg, now, self.cache.options().leeway_s)?;
        Ok(EndUser { sub, claims })
    }
}

#[cfg(test)]
mod tests;
