//! Control-plane access tokens: compact JWS, `alg` ES256 only (no `none`, no HMAC confusion), `typ: at+jwt`,
//! a `kid` found in the control plane's JWKS, issuer, audience `cfp-runtime`, lifetime ≤ 900 s.
//!
//! Runtime tokens and control-plane tokens have disjoint audiences: a token that also names the control plane's
//! (`cfp-control`) is refused here, as the control plane refuses one naming `cfp-runtime`. A token a step could
//! harvest at a runtime is then worth nothing at the control plane (the workbench exchanges its control-plane
//! token for a runtime one, `POST /v1/tokens/runtime`).

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use serde::Deserialize;

use crate::jws;
use crate::policy::Binding;

pub const AUDIENCE: &str = "cfp-runtime";
/// The control plane's audience: never accepted by a runtime.
pub const CONTROL_AUDIENCE: &str = "cfp-control";
pub const MAX_TTL_S: i64 = 900;
/// Clock skew tolerated on `exp` and `iat`.
pub const LEEWAY_S: i64 = 30;

/// Why a token was refused. Callers answer 401 whatever the reason; the reason goes to the log only.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("not a compact JWS")]
    Malformed,
    #[error("header: {0}")]
    Header(String),
    #[error("unknown signing key `{0}`")]
    UnknownKey(String),
    #[error("signature does not verify")]
    Signature,
    #[error("claims: {0}")]
    Claims(String),
    #[error("expired")]
    Expired,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Claims {
    pub sub: String,
    pub sid: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    #[serde(default)]
    pub tid: Option<String>,
    pub region: String,
    pub rb: Vec<Binding>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    typ: Option<String>,
}

/// One JWK of the control plane's set (P-256 public keys only; others are skipped).
#[derive(Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default)]
    pub crv: Option<String>,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default)]
    pub y: Option<String>,
}

#[derive(Deserialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// Verification keys by `kid`.
#[derive(Default, Clone)]
pub struct KeySet {
    keys: HashMap<String, VerifyingKey>,
}

impl KeySet {
    /// Reads a JWKS document; keys that are not P-256 or lack a `kid` are skipped.
    pub fn from_jwks(doc: &[u8]) -> Result<Self, String> {
        let set: JwkSet = serde_json::from_slice(doc).map_err(|e| format!("JWKS is not valid JSON: {e}"))?;
        let mut keys = HashMap::new();
        for k in set.keys {
            let (Some(kid), Some(x), Some(y)) = (k.kid, k.x, k.y) else {
                continue;
            };
            if k.kty != "EC" || k.crv.as_deref() != Some("P-256") {
                continue;
            }
            let (Ok(x), Ok(y)) = (URL_SAFE_NO_PAD.decode(x), URL_SAFE_NO_PAD.decode(y)) else {
                continue;
            };
            if x.len() != 32 || y.len() != 32 {
                continue;
            }
            let point = p256::EncodedPoint::from_affine_coordinates(x.as_slice().into(), y.as_slice().into(), false);
            if let Ok(key) = VerifyingKey::from_encoded_point(&point) {
                keys.insert(kid, key);
            }
        }
        Ok(Self { keys })
    }

    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The `kid` of a token's header, if it is a well-formed JWS header (to decide whether to re-fetch the JWKS).
pub fn kid_of(token: &str) -> Option<String> {
    jws::decode_json::<Header>(jws::split(token)?.header)?.kid
}

/// Verifies signature and claims. `now` is Unix seconds.
pub fn verify(token: &str, keys: &KeySet, issuer: &str, now: i64) -> Result<Claims, TokenError> {
    let token = jws::split(token).ok_or(TokenError::Malformed)?;
    let header: Header = jws::decode_json(token.header).ok_or(TokenError::Malformed)?;
    if header.alg != "ES256" {
        return Err(TokenError::Header(format!("alg `{}` is not accepted", header.alg)));
    }
    if header.typ.as_deref() != Some("at+jwt") {
        return Err(TokenError::Header("typ must be at+jwt".into()));
    }
    let kid = header.kid.ok_or_else(|| TokenError::Header("no kid".into()))?;
    let key = keys.keys.get(&kid).ok_or(TokenError::UnknownKey(kid))?;
    let sig = jws::decode(token.signature).ok_or(TokenError::Malformed)?;
    let sig = Signature::from_slice(&sig).map_err(|_| TokenError::Signature)?;
    key.verify(token.signing_input.as_bytes(), &sig)
        .map_err(|_| TokenError::Signature)?;

    let payload: serde_json::Value = jws::decode_json(token.payload).ok_or(TokenError::Malformed)?;
    let audiences: Vec<&str> = match &payload["aud"] {
        serde_json::Value::String(a) => vec![a.as_str()],
        serde_json::Value::Array(list) => list.iter().filter_map(|a| a.as_str()).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&AUDIENCE) {
        return Err(TokenError::Claims(format!("audience does not include {AUDIENCE}")));
    }
    if audiences.contains(&CONTROL_AUDIENCE) {
        return Err(TokenError::Claims(format!(
            "audience includes {CONTROL_AUDIENCE}: a control-plane token, not a runtime one"
        )));
    }
    let claims: Claims = serde_json::from_value(payload).map_err(|e| TokenError::Claims(e.to_string()))?;
    if claims.iss != issuer {
        return Err(TokenError::Claims(format!("issuer `{}` is not `{issuer}`", claims.iss)));
    }
    if claims.exp - claims.iat > MAX_TTL_S || claims.exp <= claims.iat {
        return Err(TokenError::Claims("lifetime longer than 900 s".into()));
    }
    if claims.iat > now + LEEWAY_S {
        return Err(TokenError::Claims("issued in the future".into()));
    }
    if claims.exp + LEEWAY_S <= now {
        return Err(TokenError::Expired);
    }
    // System-wide tokens carry no tenant bindings; tenant tokens only bindings of their tenant.
    let tenant_ok = claims.rb.iter().all(|b| match (&claims.tid, &b.scope.tenant) {
        (None, t) => t.is_none(),
        (Some(_), None) => true,
        (Some(tid), Some(t)) => t == tid,
    });
    if !tenant_ok {
        return Err(TokenError::Claims("a role binding outside the token's tenant".into()));
    }
    Ok(claims)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::SigningKey;

    pub(crate) struct TestKey {
        pub kid: String,
        pub key: SigningKey,
    }

    impl TestKey {
        pub fn new(kid: &str, seed: u8) -> Self {
            let mut bytes = [seed; 32];
            bytes[0] = 1;
            Self {
                kid: kid.into(),
                key: SigningKey::from_bytes((&bytes).into()).unwrap(),
            }
        }

        pub fn jwk(&self) -> serde_json::Value {
            let point = self.key.verifying_key().to_encoded_point(false);
            serde_json::json!({
                "kty": "EC", "crv": "P-256", "kid": self.kid, "alg": "ES256", "use": "sig",
                "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
                "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
            })
        }

        pub fn sign(&self, header: serde_json::Value, claims: serde_json::Value) -> String {
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let sig: Signature = self.key.sign(input.as_bytes());
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
        }

        pub fn token(&self, claims: serde_json::Value) -> String {
            self.sign(
                serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": self.kid}),
                claims,
            )
        }
    }

    pub(crate) fn claims(now: i64) -> serde_json::Value {
        serde_json::json!({
            "iss": "http://cp", "aud": "cfp-runtime", "sub": "u1", "sid": "s1", "jti": "j1",
            "iat": now, "exp": now + 600, "tid": "t1", "region": "eu",
            "rb": [{"role": "project_viewer", "scope": {"tenant": "t1", "team": "tm1", "project": "p1"}}]
        })
    }

    fn keyset(keys: &[&TestKey]) -> KeySet {
        let doc = serde_json::json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()});
        KeySet::from_jwks(doc.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn a_valid_token_verifies_and_yields_its_claims() {
        let k = TestKey::new("k1", 7);
        let now = 1_800_000_000;
        let c = verify(&k.token(claims(now)), &keyset(&[&k]), "http://cp", now).unwrap();
        assert_eq!(c.sub, "u1");
        assert_eq!(c.tid.as_deref(), Some("t1"));
        assert_eq!(c.rb[0].role, "project_viewer");
        assert_eq!(kid_of(&k.token(claims(now))).as_deref(), Some("k1"));
    }

    #[test]
    fn forged_and_confused_tokens_are_refused() {
        let k = TestKey::new("k1", 7);
        let other = TestKey::new("k1", 9); // same kid, different key: a forgery
        let keys = keyset(&[&k]);
        let now = 1_800_000_000;
        assert_eq!(
            verify(&other.token(claims(now)), &keys, "http://cp", now),
            Err(TokenError::Signature)
        );
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#),
            URL_SAFE_NO_PAD.encode(claims(now).to_string())
        );
        assert!(matches!(
            verify(&none, &keys, "http://cp", now),
            Err(TokenError::Header(_))
        ));
        let hs = k.sign(
            serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": "k1"}),
            claims(now),
        );
        assert!(matches!(
            verify(&hs, &keys, "http://cp", now),
            Err(TokenError::Header(_))
        ));
        let no_typ = k.sign(serde_json::json!({"alg": "ES256", "kid": "k1"}), claims(now));
        assert!(matches!(
            verify(&no_typ, &keys, "http://cp", now),
            Err(TokenError::Header(_))
        ));
        let unknown = TestKey::new("k2", 7);
        assert_eq!(
            verify(&unknown.token(claims(now)), &keys, "http://cp", now),
            Err(TokenError::UnknownKey("k2".into()))
        );
        // A payload swapped under a valid signature.
        let t = k.token(claims(now));
        let mut parts: Vec<&str> = t.split('.').collect();
        let mut c = claims(now);
        c["rb"][0]["role"] = "project_admin".into();
        let swapped = URL_SAFE_NO_PAD.encode(c.to_string());
        parts[1] = &swapped;
        assert_eq!(
            verify(&parts.join("."), &keys, "http://cp", now),
            Err(TokenError::Signature)
        );
        assert_eq!(verify("a.b", &keys, "http://cp", now), Err(TokenError::Malformed));
    }

    #[test]
    fn claims_are_checked() {
        let k = TestKey::new("k1", 7);
        let keys = keyset(&[&k]);
        let now = 1_800_000_000;
        assert_eq!(
            verify(&k.token(claims(now - 700)), &keys, "http://cp", now),
            Err(TokenError::Expired)
        );
        assert!(matches!(
            verify(&k.token(claims(now)), &keys, "http://other", now),
            Err(TokenError::Claims(_))
        ));
        let mut c = claims(now);
        c["aud"] = "cfp-control".into();
        assert!(matches!(
            verify(&k.token(c), &keys, "http://cp", now),
            Err(TokenError::Claims(_))
        ));
        // A control-plane token that also names the runtime (what a step could harvest) is refused too.
        let mut c = claims(now);
        c["aud"] = serde_json::json!(["cfp-control", "cfp-runtime"]);
        assert!(matches!(
            verify(&k.token(c), &keys, "http://cp", now),
            Err(TokenError::Claims(_))
        ));
        let mut c = claims(now);
        c["exp"] = (now + 3600).into();
        assert!(matches!(
            verify(&k.token(c), &keys, "http://cp", now),
            Err(TokenError::Claims(_))
        ));
        let mut c = claims(now);
        c["rb"][0]["scope"]["tenant"] = "t2".into();
        assert!(matches!(
            verify(&k.token(c), &keys, "http://cp", now),
            Err(TokenError::Claims(_))
        ));
        let mut c = claims(now);
        c["iat"] = (now + 300).into();
        c["exp"] = (now + 600).into();
        assert!(matches!(
            verify(&k.token(c), &keys, "http://cp", now),
            Err(TokenError::Claims(_))
        ));
    }

    #[test]
    fn jwks_skips_keys_it_cannot_use() {
        let k = TestKey::new("k1", 7);
        let doc = serde_json::json!({"keys": [k.jwk(), {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "AA"}, {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "kid": "bad"}]});
        let set = KeySet::from_jwks(doc.to_string().as_bytes()).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.contains("k1"));
        assert!(KeySet::from_jwks(b"nope").is_err());
    }
}
