//! End-user token tests against a JWKS served by a local axum server: RS256 and ES256 tokens, refused
//! algorithms and forgeries, issuer/audience/time claims, key rotation, fetch limits and the cache.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::*;
use crate::jwt::tests::TestKey;

/// A fixed 2048-bit test key (generating one is slow in debug builds). Never used outside these tests.
const RSA_PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC2NX8Ko6bj8NJm\n\
/NXksccmNZfuEoy2YJ81Pm3LseXNQRw4DgqNk+F3kluzlAQBbNKpQzVx+BvGGvew\n\
se6CSjRvElPNqicG5kIXldT35YlnzMMElofB0aOtXoUqgysYB997pJ++6c/hT17c\n\
hbMzDK2TooMy8EGW4G0796JLHMYpoj1ZKy3n05iUiNuVfd33b036gKR/CAsk1tKo\n\
dCaAWTGGBOzSBOZCKjqmtaXzmgUnhwacMyoIKglZ4OxT4g2X7CU9hO7szEtSpZ/x\n\
EZV8wzvo2RPUfEmHWKc/5jhxHG4ErqSIOYReWFtFLDEOyyu7tdYNyvp2LZVduv5A\n\
tGBzPWuVAgMBAAECggEAHPUKMvdTMe03OFAnm2gizZBoNtkSgnbUloeiDLnsWt8Q\n\
IbB0Pjp+80Z6oGLTnXkH+bJ0BKAjpIDrVaomzOSyHzzQaLez6sVz7NT5EEnrDmiy\n\
TZZcDjzHlb6XIex6pXUK2qw3tFrq7f8ehPln7fhZKu9W3no5p5q/LBqXhkxqXySO\n\
ZeDJ+2KtTdXsEel1Hr5h+rvMjenn8l715M4RwmE3UaGMvUviKzwzamgGdTPhkKtP\n\
Hhxw0x+NaxTBhUHNSdSHcLy3AEbcSZdWGERf959UkuDFn43O/hxmLV2w8W+TWqnv\n\
VV1fR5oj+sX78uiRsfIi3UFVmo/wFoesz4NlnYp3+QKBgQD0E1otYH5oLU44vCTA\n\
ByXNKKD9YrjkzB+pvsxax1dfpqxVrZqkBHgJ7pEEgrBCVrVxhq0CTtxd4Fp4P7N9\n\
ymiBiEbkMN2l/v8PuZWKFT7wbUALgbG1sZjrmJM+8ZwIlxvTxURjw9c6bUD7zoAT\n\
HwGa5hp24U1mMsgovwphfbEemwKBgQC/HGErnqqw8Ifh7FW3Trt/+Rt+9I/De39L\n\
CMo5ulfarwjtsG9zLNeRQFNG6RSXfmQ6DqLn+eu/5IF5QauCOk5WSQqHzRu1yJ+0\n\
jfFD0l8Tw9PQQjCVeb1VZMy/nG04sCa7m6FDjCoYev5+OrFlZq7m7dd5tAl2E0bH\n\
oYvZvVupjwKBgBfwffvNZxiYuP9flMsw6EhDH+c6c6AdVU205R5SRwOeuXB94pkL\n\
xypSN+8VUmxvTMShzP5Y9cxPYRBCTzybSbzKvQlMsbDCXgoQzdYJV28FiC6YvfFw\n\
Ret1v5uA3ykIiTYwNxEB+G5GoQURsAYwGFw1DYtzdb/8Yx17/2yog2LZAoGAZsPy\n\
+Iq8jKL63qDAQu7iYmFoyK7ns51wCMA0RjCO13gx2+Z5N7zQOjoVzda+DOyZJqMC\n\
NK2ueKR+ft6yRDfoMfva3sWLdgfo4SVGrEqud6lg9+bvyyEIj6fBdfO+w7HtUgrQ\n\
/8qaREm3Gdej1rwNpv4UVUxbnhOlhum2kyKA7L8CgYEAtHpqtn7eaqlmjv4pLJHz\n\
pKjlMtGKkYi+6clmB5QfOcLk70KS7Sw6X/lM2PDEYOOEgSth1zSvqSqb8Z2F1PjG\n\
7J0bS2WSwnRoWt7OXgudw+mSrJl+q/55F/YJzS8E7xIgeMr8Q1Lihxz0uroecY0l\n\
T3hrI64tnXhlBjPIeY9zxAo=\n\
-----END PRIVATE KEY-----";

const ISS: &str = "https://idp.example/";
const AUD: &str = "https://api.shop.example";

struct RsaKey {
    kid: String,
    key: rsa::RsaPrivateKey,
}

impl RsaKey {
    fn new(kid: &str) -> Self {
        Self {
            kid: kid.into(),
            key: rsa::RsaPrivateKey::from_pkcs8_pem(RSA_PEM).unwrap(),
        }
    }

    fn jwk(&self) -> Value {
        let n = self.key.n().to_bytes_be();
        let e = self.key.e().to_bytes_be();
        json!({"kty": "RSA", "kid": self.kid, "alg": "RS256", "use": "sig",
               "n": URL_SAFE_NO_PAD.encode(n), "e": URL_SAFE_NO_PAD.encode(e)})
    }

    fn sign(&self, header: Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(&header), b64(claims));
        let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(self.key.clone());
        let sig = signer.sign(input.as_bytes()).to_bytes();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    fn token(&self, claims: &Value) -> String {
        self.sign(json!({"alg": "RS256", "typ": "JWT", "kid": self.kid}), claims)
    }
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn es_token(k: &TestKey, claims: &Value) -> String {
    k.sign(json!({"alg": "ES256", "typ": "JWT", "kid": k.kid}), claims.clone())
}

fn claims() -> Value {
    let now = now_s();
    json!({"iss": ISS, "aud": [AUD, "other"], "sub": "auth0|42", "email": "ada@example.test",
           "iat": now, "exp": now + 600})
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<_>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(msg).finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// A provider: `GET /jwks` serves `jwks` (or fails with `status`), counting fetches; `/big` and `/slow` misbehave.
struct Idp {
    port: u16,
    jwks: Arc<Mutex<Value>>,
    status: Arc<Mutex<u16>>,
    fetches: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Idp {
    async fn start(keys: Vec<Value>) -> Self {
        let jwks = Arc::new(Mutex::new(json!({ "keys": keys })));
        let status = Arc::new(Mutex::new(200u16));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (j, s, f) = (jwks.clone(), status.clone(), fetches.clone());
        let app = axum::Router::new()
            .route(
                "/jwks",
                get(move || {
                    let (j, s, f) = (j.clone(), s.clone(), f.clone());
                    async move {
                        f.fetch_add(1, Ordering::SeqCst);
                        let code = axum::http::StatusCode::from_u16(*s.lock().unwrap()).unwrap();
                        (code, axum::Json(j.lock().unwrap().clone()))
                    }
                }),
            )
            .route(
                "/big",
                get(|| async { format!(r#"{{"keys": [], "pad": "{}"}}"#, "x".repeat(300_000)) }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    "{\"keys\": []}"
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            port,
            jwks,
            status,
            fetches,
            task,
        }
    }

    fn cfg(&self) -> ProjectOidc {
        self.cfg_at("/jwks")
    }

    fn cfg_at(&self, path: &str) -> ProjectOidc {
        ProjectOidc {
            issuer: ISS.into(),
            audience: AUD.into(),
            jwks_url: format!("http://127.0.0.1:{}{path}", self.port),
        }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    fn publish(&self, keys: Vec<Value>) {
        *self.jwks.lock().unwrap() = json!({ "keys": keys });
    }
}

fn tokens() -> EndUserTokens {
    EndUserTokens::new(OidcOptions {
        allow_loopback_http: true,
        min_refetch_interval: Duration::from_millis(300),
        fetch_timeout: Duration::from_millis(500),
        ..OidcOptions::default()
    })
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_and_the_jwks_is_fetched_once() {
    let (rsa, ec) = (RsaKey::new("r1"), TestKey::new("e1", 7));
    let idp = Idp::start(vec![rsa.jwk(), ec.jwk()]).await;
    let t = tokens();
    let user = t.verify(&rsa.token(&claims()), &idp.cfg()).await.unwrap();
    assert_eq!(user.sub, "auth0|42");
    assert_eq!(user.claims["email"], "ada@example.test");
    let user = t.verify(&es_token(&ec, &claims()), &idp.cfg()).await.unwrap();
    assert_eq!(user.sub, "auth0|42");
    let mut c = claims();
    c["aud"] = AUD.into();
    t.verify(&rsa.token(&c), &idp.cfg()).await.unwrap();
    assert_eq!(idp.fetches(), 1, "cached");

    // Concurrent first uses of a new provider share one fetch.
    let other = Idp::start(vec![rsa.jwk()]).await;
    let token = rsa.token(&claims());
    let all = futures_join(&t, &token, &other.cfg(), 8).await;
    assert!(all.iter().all(Result::is_ok));
    assert_eq!(other.fetches(), 1);
}

async fn futures_join(t: &EndUserTokens, token: &str, cfg: &ProjectOidc, n: usize) -> Vec<Result<EndUser, OidcError>> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (t, token, cfg) = (t.clone(), token.to_string(), cfg.clone());
        set.spawn(async move { t.verify(&token, &cfg).await });
    }
    set.join_all().await
}

#[tokio::test]
async fn none_hmac_other_algorithms_and_forgeries_are_refused() {
    let (rsa, ec) = (RsaKey::new("r1"), TestKey::new("e1", 7));
    let idp = Idp::start(vec![rsa.jwk(), ec.jwk()]).await;
    let (t, cfg, c) = (tokens(), idp.cfg(), claims());

    let none = format!("{}.{}.", b64(&json!({"alg": "none", "kid": "r1"})), b64(&c));
    assert_eq!(t.verify(&none, &cfg).await, Err(OidcError::Algorithm("none".into())));
    let none_lower = format!("{}.{}.", b64(&json!({"alg": "None"})), b64(&c));
    assert!(matches!(
        t.verify(&none_lower, &cfg).await,
        Err(OidcError::Algorithm(_))
    ));
    // HS256 with the provider's public key as the HMAC secret (the classic key-confusion forgery).
    let public_pem = rsa.key.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
    let input = format!("{}.{}", b64(&json!({"alg": "HS256", "kid": "r1"})), b64(&c));
    let mac = hmac_sha256(public_pem.as_bytes(), input.as_bytes());
    let hs = format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac));
    assert_eq!(t.verify(&hs, &cfg).await, Err(OidcError::Algorithm("HS256".into())));
    for alg in ["RS512", "PS256", "ES384", "EdDSA"] {
        let tok = rsa.sign(json!({"alg": alg, "kid": "r1"}), &c);
        assert_eq!(t.verify(&tok, &cfg).await, Err(OidcError::Algorithm(alg.into())));
    }
    // A token claiming ES256 for the RSA key's kid finds no fitting key.
    let confused = rsa.sign(json!({"alg": "ES256", "kid": "r1"}), &c);
    assert_eq!(t.verify(&confused, &cfg).await, Err(OidcError::UnknownKey("r1".into())));
    let crit = rsa.sign(json!({"alg": "RS256", "kid": "r1", "crit": ["exp"]}), &c);
    assert!(matches!(t.verify(&crit, &cfg).await, Err(OidcError::Header(_))));

    // Tampered payload (sub swapped under a valid signature), tampered signature, another key with the same kid.
    let good = rsa.token(&c);
    let mut parts: Vec<String> = good.split('.').map(String::from).collect();
    let mut evil = c.clone();
    evil["sub"] = "admin".into();
    parts[1] = b64(&evil);
    assert_eq!(t.verify(&parts.join("."), &cfg).await, Err(OidcError::Signature));
    let mut sig = URL_SAFE_NO_PAD.decode(good.rsplit('.').next().unwrap()).unwrap();
    sig[10] ^= 1;
    let flipped = format!("{}.{}", &good[..good.rfind('.').unwrap()], URL_SAFE_NO_PAD.encode(sig));
    assert_eq!(t.verify(&flipped, &cfg).await, Err(OidcError::Signature));
    let impostor = TestKey::new("e1", 9);
    assert_eq!(
        t.verify(&es_token(&impostor, &c), &cfg).await,
        Err(OidcError::Signature)
    );
    let es_good = es_token(&ec, &c);
    let mut parts: Vec<String> = es_good.split('.').map(String::from).collect();
    parts[1] = b64(&evil);
    assert_eq!(t.verify(&parts.join("."), &cfg).await, Err(OidcError::Signature));

    for junk in ["", "a.b", "a.b.c.d", "!!.??.xx", &format!("{}.{}", good, "x")] {
        assert_eq!(t.verify(junk, &cfg).await, Err(OidcError::Malformed), "{junk}");
    }
    assert_eq!(t.verify(&"a".repeat(20_000), &cfg).await, Err(OidcError::Malformed));
    t.verify(&good, &cfg).await.unwrap();
}

#[tokio::test]
async fn issuer_audience_expiry_and_sub_are_checked_end_to_end() {
    let rsa = RsaKey::new("r1");
    let idp = Idp::start(vec![rsa.jwk()]).await;
    let t = tokens();
    let wrong_issuer = ProjectOidc {
        issuer: "https://idp.example".into(), // no trailing slash: not the same issuer
        ..idp.cfg()
    };
    assert!(matches!(
        t.verify(&rsa.token(&claims()), &wrong_issuer).await,
        Err(OidcError::Claims(_))
    ));
    let wrong_audience = ProjectOidc {
        audience: "https://api.other.example".into(),
        ..idp.cfg()
    };
    assert!(matches!(
        t.verify(&rsa.token(&claims()), &wrong_audience).await,
        Err(OidcError::Claims(_))
    ));
    let mut c = claims();
    c["exp"] = (now_s() - 120).into();
    assert_eq!(t.verify(&rsa.token(&c), &idp.cfg()).await, Err(OidcError::Expired));
}

#[test]
fn claims_rules() {
    let cfg = ProjectOidc {
        issuer: ISS.into(),
        audience: AUD.into(),
        jwks_url: String::new(),
    };
    let now = 1_800_000_000;
    let base = json!({"iss": ISS, "aud": AUD, "sub": "u", "exp": now + 60});
    let with = |k: &str, v: Value| {
        let mut c = base.clone();
        c[k] = v;
        c
    };
    let without = |k: &str| {
        let mut c = base.clone();
        c.as_object_mut().unwrap().remove(k);
        c
    };
    let check = |c: &Value| check_claims(c, &cfg, now, 30);
    assert_eq!(check(&base), Ok("u".into()));
    assert!(check(&with("aud", json!(["x", AUD]))).is_ok());
    assert!(matches!(check(&with("aud", json!(["x"]))), Err(OidcError::Claims(_))));
    assert!(matches!(
        check(&with("aud", json!(AUD.to_uppercase()))),
        Err(OidcError::Claims(_))
    ));
    assert!(matches!(check(&without("aud")), Err(OidcError::Claims(_))));
    assert!(matches!(
        check(&with("iss", json!("https://evil.example/"))),
        Err(OidcError::Claims(_))
    ));
    assert!(matches!(check(&without("iss")), Err(OidcError::Claims(_))));
    // exp: 30 s of leeway, required, numeric (floats too).
    assert!(check(&with("exp", json!(now - 29))).is_ok());
    assert_eq!(check(&with("exp", json!(now - 30))), Err(OidcError::Expired));
    assert!(check(&with("exp", json!(now as f64 + 0.5))).is_ok());
    assert!(matches!(check(&without("exp")), Err(OidcError::Claims(_))));
    assert!(matches!(
        check(&with("exp", json!("tomorrow"))),
        Err(OidcError::Claims(_))
    ));
    // nbf: honoured with leeway.
    assert!(check(&with("nbf", json!(now + 30))).is_ok());
    assert_eq!(check(&with("nbf", json!(now + 31))), Err(OidcError::NotYetValid));
    assert!(matches!(check(&with("nbf", json!("soon"))), Err(OidcError::Claims(_))));
    // sub: a non-empty string.
    assert!(matches!(check(&without("sub")), Err(OidcError::Claims(_))));
    assert!(matches!(check(&with("sub", json!(""))), Err(OidcError::Claims(_))));
    assert!(matches!(check(&with("sub", json!(42))), Err(OidcError::Claims(_))));
    assert!(matches!(check(&json!([1])), Err(OidcError::Claims(_))));
}

#[tokio::test]
async fn an_unknown_kid_refetches_at_most_every_interval_and_finds_the_rotated_key() {
    let (rsa, ec) = (RsaKey::new("r1"), TestKey::new("e2", 5));
    let idp = Idp::start(vec![rsa.jwk()]).await;
    let (t, cfg) = (tokens(), idp.cfg());
    t.verify(&rsa.token(&claims()), &cfg).await.unwrap();
    assert_eq!(idp.fetches(), 1);

    // The provider rotates to a new key; a token signed with it arrives right away.
    idp.publish(vec![ec.jwk()]);
    let rotated = es_token(&ec, &claims());
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(t.verify(&rotated, &cfg).await.unwrap().sub, "auth0|42");
    assert_eq!(idp.fetches(), 2, "re-fetched for the unknown kid");

    // Unknown kids (garbage or not) do not hammer the provider: at most one fetch per interval.
    let stranger = TestKey::new("nope", 3);
    for _ in 0..5 {
        assert_eq!(
            t.verify(&es_token(&stranger, &claims()), &cfg).await,
            Err(OidcError::UnknownKey("nope".into()))
        );
    }
    assert_eq!(idp.fetches(), 2);
    // The retired key is gone with the old set.
    assert_eq!(
        t.verify(&rsa.token(&claims()), &cfg).await,
        Err(OidcError::UnknownKey("r1".into()))
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(t.verify(&es_token(&stranger, &claims()), &cfg).await.is_err());
    assert_eq!(idp.fetches(), 3, "one more fetch after the interval");
}

#[tokio::test]
async fn the_set_is_refreshed_periodically_and_kept_when_the_provider_fails() {
    let rsa = RsaKey::new("r1");
    let idp = Idp::start(vec![rsa.jwk()]).await;
    let t = EndUserTokens::new(OidcOptions {
        allow_loopback_http: true,
        refresh_interval: Duration::from_millis(200),
        min_refetch_interval: Duration::from_millis(100),
        ..OidcOptions::default()
    });
    let token = rsa.token(&claims());
    t.verify(&token, &idp.cfg()).await.unwrap();
    *idp.status.lock().unwrap() = 500;
    tokio::time::sleep(Duration::from_millis(250)).await;
    t.verify(&token, &idp.cfg()).await.unwrap();
    assert_eq!(idp.fetches(), 2, "refresh attempted; the known key still verifies");
    t.verify(&token, &idp.cfg()).await.unwrap();
    assert_eq!(idp.fetches(), 2, "no retry within the interval");
}

#[tokio::test]
async fn fetches_are_bounded_and_only_https_or_loopback_http_is_used() {
    let rsa = RsaKey::new("r1");
    let idp = Idp::start(vec![rsa.jwk()]).await;
    let (t, token) = (tokens(), rsa.token(&claims()));
    let err = |r: Result<EndUser, OidcError>| r.unwrap_err();

    let big = err(t.verify(&token, &idp.cfg_at("/big")).await);
    assert!(matches!(&big, OidcError::Jwks(m) if m.contains("limit")), "{big}");
    assert!(big.is_transient());
    let slow = err(t.verify(&token, &idp.cfg_at("/slow")).await);
    assert!(matches!(&slow, OidcError::Jwks(m) if m.contains("no answer")), "{slow}");
    assert!(matches!(err(t.verify(&token, &idp.cfg_at("/missing")).await), OidcError::Jwks(m) if m.contains("404")));
    *idp.status.lock().unwrap() = 503;
    assert!(matches!(err(t.verify(&token, &idp.cfg()).await), OidcError::Jwks(_)));
    // Nothing listens on port 1; TLS to a plain-http server fails the handshake: both transient, neither panics.
    let mut cfg = idp.cfg();
    cfg.jwks_url = "http://127.0.0.1:1/jwks".into();
    assert!(err(t.verify(&token, &cfg).await).is_transient());
    cfg.jwks_url = format!("https://127.0.0.1:{}/jwks", idp.port);
    assert!(err(t.verify(&token, &cfg).await).is_transient());

    for url in [
        "http://idp.example/jwks",
        "ftp://127.0.0.1/jwks",
        "/jwks",
        "https://u:p@idp.example/jwks",
        "nope",
    ] {
        cfg.jwks_url = url.into();
        let e = err(t.verify(&token, &cfg).await);
        assert!(matches!(e, OidcError::Config(_)) && !e.is_transient(), "{url}: {e}");
    }
    let strict = EndUserTokens::new(OidcOptions::default());
    assert!(matches!(
        err(strict.verify(&token, &idp.cfg()).await),
        OidcError::Config(_)
    ));
    assert!(jwks::check_url("http://[::1]:8080/jwks", true).is_ok());
    assert!(jwks::check_url("http://localhost/jwks", true).is_ok());
    assert!(jwks::check_url("http://127.0.0.2/jwks", true).is_ok());
    assert!(jwks::check_url("http://10.0.0.1/jwks", true).is_err());
    assert!(jwks::check_url("https://idp.example/.well-known/jwks.json", false).is_ok());
}

#[tokio::test]
async fn the_cache_holds_a_bounded_number_of_providers() {
    let rsa = RsaKey::new("r1");
    let idp = Idp::start(vec![rsa.jwk()]).await;
    let t = EndUserTokens::new(OidcOptions {
        allow_loopback_http: true,
        max_cached: 2,
        ..OidcOptions::default()
    });
    let token = rsa.token(&claims());
    for i in 0..5 {
        t.verify(&token, &idp.cfg_at(&format!("/jwks?tenant={i}")))
            .await
            .unwrap();
    }
    assert_eq!(t.cache.len(), 2);
    assert_eq!(idp.fetches(), 5);
}

#[test]
fn jwks_documents_keep_only_usable_signing_keys() {
    let (rsa, ec) = (RsaKey::new("r1"), TestKey::new("e1", 7));
    let mut enc = rsa.jwk();
    enc["use"] = "enc".into();
    enc["kid"] = "enc".into();
    let mut small = rsa.jwk();
    small["kid"] = "small".into();
    small["n"] = URL_SAFE_NO_PAD.encode([0xffu8; 128]).into(); // 1024 bits
    let doc = json!({"keys": [rsa.jwk(), ec.jwk(), enc, small, {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
                              {"kty": "OKP", "crv": "Ed25519", "x": "AA", "kid": "ed"}, "junk"]});
    let keys = jwks::Keys::from_jwks(doc.to_string().as_bytes()).unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys.find(Some("r1"), Alg::Rs256).is_some());
    assert!(keys.find(Some("r1"), Alg::Es256).is_none());
    assert!(
        keys.find(None, Alg::Es256).is_some(),
        "a single fitting key serves tokens without kid"
    );
    let two = json!({"keys": [ec.jwk(), TestKey::new("e2", 8).jwk()]});
    let keys = jwks::Keys::from_jwks(two.to_string().as_bytes()).unwrap();
    assert!(keys.find(None, Alg::Es256).is_none(), "ambiguous without kid");
    assert!(jwks::Keys::from_jwks(b"{}").is_err());
}
