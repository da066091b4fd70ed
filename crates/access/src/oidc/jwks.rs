//! The providers' key sets: JWK parsing (RSA ≥ 2048 bits and P-256 signing keys; everything else is skipped)
//! and a bounded cache of JWKS documents by URL, fetched over HTTPS with a timeout and a size cap.
//!
//! Freshness: a fetched set is reused for [`OidcOptions::refresh_interval`]; a token whose `kid` is not in it
//! triggers a re-fetch, but never sooner than [`OidcOptions::min_refetch_interval`] after the last attempt
//! (so garbage `kid`s cannot hammer a provider). One fetch per URL is in flight at a time. When a refresh
//! fails the keys we have stay in use; a set that was never fetched answers [`OidcError::Jwks`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rsa::traits::PublicKeyParts;
use serde::Deserialize;

use super::{Alg, OidcError, OidcOptions};

/// RSA moduli below this are refused (NIST SP 800-131A).
const MIN_RSA_BITS: usize = 2048;
/// Keys read from one document; the rest are ignored.
const MAX_KEYS: usize = 64;

pub(super) enum PublicKey {
    Rsa(rsa::pkcs1v15::VerifyingKey<sha2::Sha256>),
    P256(p256::ecdsa::VerifyingKey),
}

pub(super) struct Key {
    pub kid: Option<String>,
    /// The JWK's own `alg`, when it names one.
    alg: Option<String>,
    pub key: PublicKey,
}

impl Key {
    pub fn fits(&self, alg: Alg) -> bool {
        let kind = matches!(
            (&self.key, alg),
            (PublicKey::Rsa(_), Alg::Rs256) | (PublicKey::P256(_), Alg::Es256)
        );
        kind && self.alg.as_deref().is_none_or(|a| a == alg.name())
    }
}

#[derive(Default)]
pub(super) struct Keys {
    keys: Vec<Key>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<serde_json::Value>,
}

fn b64(s: &Option<String>) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.as_deref()?).ok()
}

impl Jwk {
    fn public_key(&self) -> Option<PublicKey> {
        match self.kty.as_str() {
            "RSA" => {
                let (n, e) = (b64(&self.n)?, b64(&self.e)?);
                let key =
                    rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(&n), rsa::BigUint::from_bytes_be(&e)).ok()?;
                (key.n().bits() >= MIN_RSA_BITS).then(|| PublicKey::Rsa(rsa::pkcs1v15::VerifyingKey::new(key)))
            }
            "EC" if self.crv.as_deref() == Some("P-256") => {
                let (x, y) = (b64(&self.x)?, b64(&self.y)?);
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                let point =
                    p256::EncodedPoint::from_affine_coordinates(x.as_slice().into(), y.as_slice().into(), false);
                p256::ecdsa::VerifyingKey::from_encoded_point(&point)
                    .ok()
                    .map(PublicKey::P256)
            }
            _ => None,
        }
    }
}

impl Keys {
    /// Reads a JWKS document. Keys that are not RSA/P-256 signing keys, or are malformed, are skipped.
    pub fn from_jwks(doc: &[u8]) -> Result<Self, String> {
        let set: JwkSet = serde_json::from_slice(doc).map_err(|e| format!("not a JWKS document: {e}"))?;
        let keys = set
            .keys
            .into_iter()
            .take(MAX_KEYS)
            .filter_map(|v| serde_json::from_value::<Jwk>(v).ok())
            .filter(|j| j.use_.as_deref().is_none_or(|u| u == "sig"))
            .filter_map(|j| {
                Some(Key {
                    key: j.public_key()?,
                    kid: j.kid,
                    alg: j.alg,
                })
            })
            .collect();
        Ok(Self { keys })
    }

    /// The key for a token: the one with its `kid`; without a `kid`, the only key fitting `alg` (several
    /// candidates are ambiguous and none is chosen).
    pub fn find(&self, kid: Option<&str>, alg: Alg) -> Option<&Key> {
        match kid {
            Some(kid) => self.keys.iter().find(|k| k.kid.as_deref() == Some(kid) && k.fits(alg)),
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.fits(alg));
                let first = fitting.next()?;
                fitting.next().is_none().then_some(first)
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.keys.len()
    }
}

/// Whether a JWKS URL may be fetched: https, or http on a loopback host when the options allow it.
pub(super) fn check_url(url: &str, allow_loopback_http: bool) -> Result<hyper::Uri, OidcError> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|_| OidcError::Config(format!("jwksUrl `{url}` is not a URL")))?;
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(OidcError::Config(format!(
            "jwksUrl `{url}` needs a host and no credentials"
        )));
    }
    let loopback = uri.host().is_some_and(|h| {
        h == "localhost"
            || h.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if loopback && allow_loopback_http => Ok(uri),
        _ => Err(OidcError::Config(format!(
            "jwksUrl `{url}` must be https (plain http only on loopback, for tests)"
        ))),
    }
}

#[derive(Default)]
struct State {
    keys: Arc<Keys>,
    /// Last successful fetch.
    fetched: Option<Instant>,
    /// Last fetch, successful or not.
    attempted: Option<Instant>,
    /// Why the last fetch failed, while no fetch ever succeeded.
    error: Option<String>,
}

struct Entry {
    state: Mutex<State>,
    /// Held while fetching: one fetch per URL at a time.
    fetching: tokio::sync::Mutex<()>,
    used: Mutex<Instant>,
}

/// What a lookup needs before it can answer.
enum Due {
    Nothing,
    /// The set is old, but the token's key is in it: refresh if nobody else is, without waiting.
    Refresh,
    /// The token's key is not there (or there is no set yet): fetch, or wait for the fetch in flight.
    Fetch,
}

type HttpsClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

pub(super) struct Cache {
    opts: OidcOptions,
    http: HttpsClient,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
}

impl Cache {
    pub fn new(opts: OidcOptions) -> Self {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(opts.fetch_timeout));
        tcp.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .expect("the ring provider supports rustls' default protocol versions")
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        Self {
            opts,
            http: Client::builder(TokioExecutor::new()).build(https),
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn options(&self) -> &OidcOptions {
        &self.opts
    }

    fn entry(&self, url: &str) -> Arc<Entry> {
        let mut entries = self.entries.lock().unwrap();
        if let Some(e) = entries.get(url) {
            *e.used.lock().unwrap() = Instant::now();
            return e.clone();
        }
        if entries.len() >= self.opts.max_cached.max(1) {
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| *e.used.lock().unwrap())
                .map(|(u, _)| u.clone());
            if let Some(u) = oldest {
                entries.remove(&u);
            }
        }
        let e = Arc::new(Entry {
            state: Mutex::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
            used: Mutex::new(Instant::now()),
        });
        entries.insert(url.to_string(), e.clone());
        e
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }

    fn due(&self, entry: &Entry, kid: Option<&str>, alg: Alg) -> Due {
        let s = entry.state.lock().unwrap();
        let since = |t: Option<Instant>| t.map(|t| t.elapsed());
        let may_fetch = since(s.attempted).is_none_or(|d| d >= self.opts.min_refetch_interval);
        let has_key = s.keys.find(kid, alg).is_some();
        if s.attempted.is_none() || (!has_key && may_fetch) {
            Due::Fetch
        } else if may_fetch && since(s.fetched).is_none_or(|d| d >= self.opts.refresh_interval) {
            if has_key {
                Due::Refresh
            } else {
                Due::Fetch
            }
        } else {
            Due::Nothing
        }
    }

    /// The key set of `url`, fetched or refreshed as its state requires.
    pub async fn keys(&self, uri: &hyper::Uri, url: &str, kid: Option<&str>, alg: Alg) -> Result<Arc<Keys>, OidcError> {
        let entry = self.entry(url);
        match self.due(&entry, kid, alg) {
            Due::Nothing => {}
            Due::Refresh => {
                if let Ok(_guard) = entry.fetching.try_lock() {
                    if !matches!(self.due(&entry, kid, alg), Due::Nothing) {
                        self.fetch_into(&entry, uri, url).await;
                    }
                }
            }
            Due::Fetch => {
                let _guard = entry.fetching.lock().await;
                // Whoever held the lock may just have fetched what we need.
                if !matches!(self.due(&entry, kid, alg), Due::Nothing) {
                    self.fetch_into(&entry, uri, url).await;
                }
            }
        }
        let s = entry.state.lock().unwrap();
        match (&s.error, s.fetched) {
            (Some(e), None) => Err(OidcError::Jwks(e.clone())),
            _ => Ok(s.keys.clone()),
        }
    }

    async fn fetch_into(&self, entry: &Entry, uri: &hyper::Uri, url: &str) {
        let result = self.fetch(uri, url).await;
        let mut s = entry.state.lock().unwrap();
        let now = Instant::now();
        s.attempted = Some(now);
        match result {
            Ok(keys) => {
                s.keys = Arc::new(keys);
                s.fetched = Some(now);
                s.error = None;
            }
            Err(e) => {
                tracing::warn!(url, error = %e, "end-user OIDC: JWKS fetch failed; keeping the keys we have");
                if s.fetched.is_none() {
                    s.error = Some(e);
                }
            }
        }
    }

    async fn fetch(&self, uri: &hyper::Uri, url: &str) -> Result<Keys, String> {
        let req = hyper::Request::get(uri.clone())
            .header("accept", "application/json")
            .header("user-agent", "cfp-runtime")
            .body(Empty::new())
            .map_err(|e| format!("{url}: {e}"))?;
        let max = self.opts.max_jwks_bytes;
        let fut = async {
            let res = self.http.request(req).await.map_err(|e| format!("{url}: {e}"))?;
            let status = res.status();
            if status != hyper::StatusCode::OK {
                return Err(format!("{url} answered {status}"));
            }
            let body = Limited::new(res.into_body(), max)
                .collect()
                .await
                .map_err(|e| format!("{url}: {e} (limit {max} bytes)"))?
                .to_bytes();
            Keys::from_jwks(&body).map_err(|e| format!("{url}: {e}"))
        };
        match tokio::time::timeout(self.opts.fetch_timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(format!("{url}: no answer within {:?}", self.opts.fetch_timeout)),
        }
    }
}
