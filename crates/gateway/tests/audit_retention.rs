//! Audit retention and legal holds through the runtime API (`/__cfp/api/audit/retention`, `/__cfp/api/audit/holds`;
//! docs/audit.md "Retention and legal hold"). Attacks: the audited tenant's own administrator, the auditor it
//! appointed and its project API keys try to shorten the retention and to release a hold; the platform's bindings
//! (system admin, system auditor) may; none of the tenant's principals reads or runs the runtime's verification of every
//! chain. A fake control plane signs the users' access tokens (ES256, its JWKS) and
//! issues the API key.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Query;
use axum::routing::{get, post};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::*;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};

const KEY_P1: &str = "cfp_live_retent001_0123456789abcdef0123456789abcdef0123";

fn signing_key() -> SigningKey {
    let mut bytes = [9u8; 32];
    bytes[0] = 1;
    SigningKey::from_bytes((&bytes).into()).unwrap()
}

fn jwks() -> Value {
    let point = signing_key().verifying_key().to_encoded_point(false);
    json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
        "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
    }]})
}

/// An access token of the fake control plane at `cp` for user `sub` with one role binding.
fn user_token(cp: SocketAddr, sub: &str, role: &str, tenant: Option<&str>) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let scope = match tenant {
        Some(t) => json!({ "tenant": t }),
        None => json!({}),
    };
    let claims = json!({
        "iss": format!("http://{cp}"), "aud": "cfp-runtime", "sub": sub, "sid": format!("s-{sub}"),
        "jti": format!("j-{sub}"), "iat": now, "exp": now + 600, "tid": tenant, "region": "r",
        "rb": [{ "role": role, "scope": scope }],
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(json!({"alg": "ES256", "typ": "at+jwt", "kid": "k1"}).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig: Signature = signing_key().sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

async fn verify(Json(body): Json<Value>) -> Json<Value> {
    if body["token"].as_str() != Some(KEY_P1) {
        return Json(json!({"valid": false}));
    }
    Json(json!({"valid": true, "credential": {
        "id": "key-p1", "kind": "api_key", "tenantId": "t1", "teamId": "tm1", "projectId": "p1",
        "region": "r", "role": "project_admin", "expiresAt": "2100-01-01T00:00:00.000Z"}}))
}

async fn projects(Query(q): Query<std::collections::HashMap<String, String>>) -> Json<Value> {
    if q.get("since").is_some_and(|s| s != "0") {
        tokio::time::sleep(Duration::from_millis(500)).await;
        return Json(json!({"version": 1, "items": []}));
    }
    Json(json!({"version": 1, "items": [
        {"projectId": "p1", "tenantId": "t1", "teamId": "tm1", "slug": "one", "version": 1},
        {"projectId": "p3", "tenantId": "t2", "teamId": "tm2", "slug": "three", "version": 1}
    ]}))
}

async fn fake_control_plane() -> SocketAddr {
    let app = axum::Router::new()
        .route("/.well-known/jwks.json", get(|| async { Json(jwks()) }))
        .route("/v1/service/policy", get(|| async { Json(json!({"policy": null})) }))
        .route("/v1/service/credentials/verify", post(verify))
        .route(
            "/v1/service/revocations",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                Json(json!({"version": 0, "items": []}))
            }),
        )
        .route("/v1/service/projects", get(projects));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn call(rt: &Runtime, method: &str, path: &str, auth: (&str, &str), body: Option<Value>) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut headers = vec![auth];
    if !body.is_empty() {
        headers.push(("content-type", "application/json"));
    }
    let r = http(rt.addr, method, &format!("/__cfp/api{path}"), &headers, body.as_bytes()).await;
    let json = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, json)
}

/// The entries of `chain` (oldest first), once at least `n` are sequenced.
async fn chain_entries(rt: &Runtime, chain: &str, n: usize) -> Vec<Value> {
    let admin = format!("Bearer {ADMIN}");
    let mut got = Vec::new();
    for _ in 0..100 {
        let (s, page) = call(
            rt,
            "GET",
            &format!("/audit/entries?chain={chain}&limit=500"),
            ("authorization", &admin),
            None,
        )
        .await;
        assert_eq!(s, 200, "{page}");
        got = page["items"].as_array().cloned().unwrap_or_default();
        if got.len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    got.reverse();
    got.into_iter().map(|i| i["entry"].clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audited_tenant_cannot_shorten_retention_or_release_holds_and_the_platform_can() {
    let cp = fake_control_plane().await;
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let control = cfp_access::Control::start(
        cfp_access::ControlConfig {
            url: format!("http://{cp}"),
            issuer: format!("http://{cp}"),
            service_token: "service".into(),
            region: "r".into(),
            credential_cache: Duration::from_secs(5),
            settings_interval: Duration::from_secs(1),
            tls: None,
        },
        shutdown,
    );
    assert!(eventually(10, || control.ready()).await, "the runtime never synced");
    let mut opts = RuntimeOptions::default();
    opts.gateway.control = Some(control);
    opts.gateway.audit_retention_min_days = 30;
    let rt = start(opts).await;

    let bearer = |t: String| format!("Bearer {t}");
    let t_admin = bearer(user_token(cp, "t-admin", "tenant_admin", Some("t1")));
    let t_auditor = bearer(user_token(cp, "t-auditor", "auditor", Some("t1")));
    let sys_auditor = bearer(user_token(cp, "sys-auditor", "auditor", None));
    let sys_admin = bearer(user_token(cp, "sys-admin", "system_admin", None));
    let a = |v: &str| ("authorization", v.to_string());
    let key = ("x-api-key", KEY_P1.to_string());

    // A tenant administrator places a hold (it only keeps more) ...
    let (s, hold) = call(
        &rt,
        "POST",
        "/audit/holds?tenant=t1",
        ("authorization", &t_admin),
        Some(json!({"reason": "litigation 7"})),
    )
    .await;
    assert_eq!(s, 201, "{hold}");
    assert_eq!(
        (
            hold["reason"].as_str(),
            hold["placedBy"].as_str(),
            hold["releasedAt"].as_str()
        ),
        (Some("litigation 7"), Some("t-admin"), None)
    );
    let id = hold["id"].as_i64().unwrap();
    // ... but neither it, nor the auditor it appointed, nor its project's API key releases it
    let release = format!("/audit/holds/{id}?tenant=t1");
    for (who, auth) in [
        ("tenant admin", a(&t_admin)),
        ("tenant auditor", a(&t_auditor)),
        ("project API key", key.clone()),
    ] {
        let (s, body) = call(&rt, "DELETE", &release, (auth.0, &auth.1), None).await;
        assert_eq!(
            (s, body["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{who}: {body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("audit.runtime.hold.release"),
            "{body}"
        );
    }
    // another tenant's hold: as if it did not exist
    let (s, _) = call(
        &rt,
        "DELETE",
        &format!("/audit/holds/{id}?tenant=t2"),
        ("authorization", &t_admin),
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (s, view) = call(
        &rt,
        "GET",
        "/audit/retention?project=p1",
        ("authorization", &t_admin),
        None,
    )
    .await;
    assert_eq!(s, 200, "{view}");
    assert_eq!(view["holds"][0]["releasedAt"], Value::Null, "still in force: {view}");
    assert!(
        rt.store.audit_prune(None, "runtime:t1", 1, "test").await.is_err(),
        "a hold in force blocks pruning"
    );
    // the platform's auditor releases it, once
    let (s, released) = call(&rt, "DELETE", &release, ("authorization", &sys_auditor), None).await;
    assert_eq!(s, 200, "{released}");
    assert_eq!(released["releasedBy"], "sys-auditor");
    let (s, _) = call(&rt, "DELETE", &release, ("authorization", &sys_admin), None).await;
    assert_eq!(s, 404);
    let (s, body) = call(
        &rt,
        "DELETE",
        "/audit/holds/0x1?tenant=t1",
        ("authorization", &sys_admin),
        None,
    )
    .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (400, Some("invalid_path")),
        "{body}"
    );

    // retention: the tenant's admin and auditor may not set it, the API key neither
    for (who, auth) in [
        ("tenant admin", a(&t_admin)),
        ("tenant auditor", a(&t_auditor)),
        ("project API key", key.clone()),
    ] {
        let (s, body) = call(
            &rt,
            "PUT",
            "/audit/retention?tenant=t1",
            (auth.0, &auth.1),
            Some(json!({"days": 40})),
        )
        .await;
        assert_eq!(
            (s, body["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{who}: {body}"
        );
    }
    // never below the floor; bad bodies are named
    for (body, field) in [
        (json!({"days": 29}), "at least 30"),
        (json!({"days": 0}), "at least 30"),
        (json!({"days": -5}), "at least 30"),
        (json!({"days": "40"}), "`days`"),
        (json!({"days": 36_501}), "at most 36500"),
        (json!({"days": 40, "why": 1}), "`why`"),
        (json!({}), "`days` is required"),
    ] {
        let (s, out) = call(
            &rt,
            "PUT",
            "/audit/retention?tenant=t1",
            ("authorization", &sys_admin),
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            (s, out["error"]["code"].as_str()),
            (400, Some("invalid_body")),
            "{body}: {out}"
        );
        assert!(
            out["error"]["message"].as_str().unwrap().contains(field),
            "{body}: {out}"
        );
    }
    let (s, set) = call(
        &rt,
        "PUT",
        "/audit/retention?tenant=t1",
        ("authorization", &sys_admin),
        Some(json!({"days": 30})),
    )
    .await;
    assert_eq!(s, 200, "{set}");
    assert_eq!(
        (set["tenant"].as_str(), set["days"].as_u64(), set["minDays"].as_u64()),
        (Some("t1"), Some(30), Some(30)),
        "{set}"
    );
    let (s, view) = call(
        &rt,
        "GET",
        "/audit/retention?tenant=t1&project=p1",
        ("authorization", &t_auditor),
        None,
    )
    .await;
    assert_eq!((s, view["days"].as_u64()), (200, Some(30)), "{view}");
    // a tenant user reads only its own tenant's
    let (s, _) = call(
        &rt,
        "GET",
        "/audit/retention?tenant=t2&project=p1",
        ("authorization", &t_auditor),
        None,
    )
    .await;
    assert_eq!(s, 404);

    // every change and every refusal is in t1's chain, with who did it
    let entries = chain_entries(&rt, "runtime:t1", 9).await;
    let seen: Vec<(String, String, Value)> = entries
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["actor"]["id"].as_str().unwrap_or("").to_string(),
                e["details"]["permission"].clone(),
            )
        })
        .collect();
    let expect = |kind: &str, who: &str, perm: Value| (kind.to_string(), who.to_string(), perm);
    let release = json!("audit.runtime.hold.release");
    let retention = json!("audit.runtime.retention.write");
    assert_eq!(
        seen,
        vec![
            expect("audit.hold.placed", "t-admin", Value::Null),
            expect("authz.denied", "t-admin", release.clone()),
            expect("authz.denied", "t-auditor", release.clone()),
            expect("authz.denied", "key-p1", release),
            expect("audit.hold.released", "sys-auditor", Value::Null),
            expect("authz.denied", "t-admin", retention.clone()),
            expect("authz.denied", "t-auditor", retention.clone()),
            expect("authz.denied", "key-p1", retention),
            expect("audit.retention.set", "sys-admin", Value::Null),
        ]
    );
    assert_eq!(entries[8]["details"], json!({"days": 30, "before": null}));
    assert_eq!(entries[1]["outcome"], json!({"status": "denied", "code": "forbidden"}));

    // the health of every chain of the runtime (its verification runs, its anchors) is the operator's: a tenant's
    // administrator, auditor and API key neither read it nor start a run
    for (who, auth) in [
        ("tenant admin", a(&t_admin)),
        ("tenant auditor", a(&t_auditor)),
        ("project API key", key.clone()),
    ] {
        for (method, path) in [
            ("GET", "/audit/status?project=p1"),
            ("POST", "/audit/verify?project=p1"),
        ] {
            let (s, body) = call(&rt, method, path, (auth.0, &auth.1), None).await;
            assert_eq!(
                (s, body["error"]["code"].as_str()),
                (403, Some("forbidden")),
                "{who} {method} {path}: {body}"
            );
            // refused for not being the operator (each of them may read its own chain's entries)
            assert!(
                body["error"]["message"].as_str().unwrap_or("").contains("operator"),
                "{who}: {body}"
            );
        }
    }
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_verifications")
        .fetch_one(rt.store.pool())
        .await
        .unwrap();
    assert_eq!(runs, 0, "a refused caller started a verification");
    rt.stop().await;
}

/// The operator of a runtime without a control plane (`cfp dev`: the admin token) holds retention and holds;
/// placing and releasing through the API leaves the hold released and recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_sets_retention_and_places_and_releases_holds() {
    let mut opts = RuntimeOptions::default();
    opts.gateway.audit_retention_min_days = 7;
    opts.gateway.audit_retention_days = 90;
    let rt = start(opts).await;
    let admin = format!("Bearer {ADMIN}");
    let auth = ("authorization", admin.as_str());
    let (s, view) = call(&rt, "GET", "/audit/retention", auth, None).await;
    assert_eq!(s, 200, "{view}");
    assert_eq!(
        view,
        json!({"tenant": "default", "days": null, "defaultDays": 90, "minDays": 7, "holds": [], "pruned": []})
    );
    let (s, out) = call(&rt, "PUT", "/audit/retention", auth, Some(json!({"days": 6}))).await;
    assert_eq!(s, 400, "{out}");
    let (s, out) = call(&rt, "PUT", "/audit/retention", auth, Some(json!({"days": 7}))).await;
    assert_eq!((s, out["days"].as_u64()), (200, Some(7)), "{out}");
    let (s, out) = call(&rt, "PUT", "/audit/retention", auth, Some(json!({"days": null}))).await;
    assert_eq!((s, out["days"].clone()), (200, Value::Null), "{out}");
    for bad in [
        json!({"reason": ""}),
        json!({"reason": "   "}),
        json!({"reason": "x".repeat(1001)}),
        json!({"reason": "a\u{0}b"}),
        json!({"reason": 5}),
    ] {
        let (s, out) = call(&rt, "POST", "/audit/holds", auth, Some(bad)).await;
        assert_eq!((s, out["error"]["code"].as_str()), (400, Some("invalid_body")), "{out}");
    }
    let (s, hold) = call(
        &rt,
        "POST",
        "/audit/holds",
        auth,
        Some(json!({"reason": "x".repeat(1000)})),
    )
    .await;
    assert_eq!(s, 201, "{hold}");
    let (s, released) = call(&rt, "DELETE", &format!("/audit/holds/{}", hold["id"]), auth, None).await;
    assert_eq!(s, 200, "{released}");
    assert!(released["releasedAt"].is_string(), "{released}");
    let kinds: Vec<String> = chain_entries(&rt, "runtime:default", 4)
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "audit.retention.set",
            "audit.retention.set",
            "audit.hold.placed",
            "audit.hold.released"
        ]
    );
    rt.stop().await;
}
