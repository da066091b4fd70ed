use super::*;

#[test]
fn rfc3339_times_parse() {
    assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(parse_time("2026-11-27T12:00:00.123Z"), Some(1_795_780_800));
    assert_eq!(parse_time("2000-03-01T00:00:00Z"), Some(951_868_800));
    assert_eq!(parse_time("nope"), None);
}

/// A flood of made-up API keys costs the control plane one call per key and TTL, not one per request; a
/// known key is never refused because an unknown one was.
#[tokio::test]
async fn unknown_credentials_are_negatively_cached() {
    use std::sync::atomic::AtomicUsize;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let app = axum::Router::new().route(
        "/v1/service/credentials/verify",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                if body["token"] == "cfp_live_known" {
                    axum::Json(serde_json::json!({ "valid": true, "credential": {
                        "id": "k1", "kind": "api_key", "tenantId": "t", "teamId": "tm", "projectId": "p",
                        "region": "r", "role": "project_editor", "expiresAt": "2100-01-01T00:00:00.000Z" } }))
                } else {
                    axum::Json(serde_json::json!({ "valid": false }))
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let control = Control::new(ControlConfig {
        url: format!("http://{addr}"),
        issuer: "http://cp".into(),
        service_token: "s".into(),
        region: "r".into(),
        credential_cache: Duration::from_secs(5),
        settings_interval: Duration::from_secs(1),
        tls: None,
    });
    for flag in [
        &control.inner.revocations_synced,
        &control.inner.settings_synced,
        &control.inner.policy_synced,
    ] {
        flag.store(true, Ordering::Release);
    }
    for _ in 0..50 {
        assert_eq!(control.verify_credential("cfp_live_made_up").await.unwrap(), None);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one call for 50 tries of one unknown key"
    );
    for i in 0..20 {
        assert_eq!(
            control.verify_credential(&format!("cfp_live_guess_{i}")).await.unwrap(),
            None
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 21);
    let known = control.verify_credential("cfp_live_known").await.unwrap().unwrap();
    assert_eq!(known.expires_unix(), Some(4_102_444_800));
}

#[test]
fn revocations_match_sessions_tokens_and_users_issued_before() {
    let c = |sub: &str, sid: &str, jti: &str, iat: i64| Claims {
        sub: sub.into(),
        sid: sid.into(),
        jti: jti.into(),
        iat,
        exp: iat + 600,
        iss: "x".into(),
        tid: None,
        region: "r".into(),
        rb: vec![],
    };
    let mut r = Revocations::default();
    r.sessions.insert("s1".into(), i64::MAX);
    r.tokens.insert("j1".into(), i64::MAX);
    r.users.insert("u1".into(), (1000, i64::MAX));
    assert!(r.revokes(&c("u9", "s1", "j9", 5)));
    assert!(r.revokes(&c("u9", "s9", "j1", 5)));
    assert!(r.revokes(&c("u1", "s9", "j9", 1000)));
    assert!(
        !r.revokes(&c("u1", "s9", "j9", 1001)),
        "a token issued after the user revocation is fine"
    );
    assert!(!r.revokes(&c("u2", "s2", "j2", 5)));
    r.prune(i64::MAX);
    assert!(!r.revokes(&c("u9", "s1", "j9", 5)));
}

#[test]
fn a_user_revocation_naming_a_tenant_ends_only_that_tenants_tokens() {
    let c = |tid: Option<&str>, iat: i64| Claims {
        sub: "u1".into(),
        sid: "s".into(),
        jti: "j".into(),
        iat,
        exp: iat + 600,
        iss: "x".into(),
        tid: tid.map(Into::into),
        region: "r".into(),
        rb: vec![],
    };
    let mut r = Revocations::default();
    let item = serde_json::json!({
        "kind": "user", "subject": "u1", "tenantId": "t2",
        "issuedBefore": "1970-01-01T00:16:40Z", "expiresAt": "2999-01-01T00:00:00Z",
    });
    assert_eq!(r.apply(&item, 0), None);
    assert!(r.revokes(&c(Some("t2"), 1000)));
    assert!(!r.revokes(&c(Some("t2"), 1001)), "issued after the removal");
    assert!(!r.revokes(&c(Some("t1"), 1000)), "another tenant's token");
    assert!(!r.revokes(&c(None, 1000)), "a system-wide token carries nothing of t2");
}

/// The sync loops belong to the control handle: once the shutdown signal turns true, [`Control::stopped`] returns
/// when every loop has ended (none is left running detached, holding the handle's state).
#[tokio::test]
async fn the_sync_loops_end_with_the_shutdown_and_are_waited_for() {
    // Nothing listens on port 9 of loopback: every sync fails at once and the loops back off.
    let (stop, shutdown) = watch::channel(false);
    let control = Control::start(
        ControlConfig {
            url: "http://127.0.0.1:9".into(),
            issuer: "http://cp".into(),
            service_token: "s".into(),
            region: "r".into(),
            credential_cache: Duration::from_secs(5),
            settings_interval: Duration::from_millis(50),
            tls: None,
        },
        shutdown,
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(Arc::strong_count(&control.inner), 4, "the handle and its three loops");
    stop.send_replace(true);
    let started = std::time::Instant::now();
    assert_eq!(
        control.stopped(Duration::from_secs(5)).await,
        0,
        "every loop ended by itself"
    );
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(
        Arc::strong_count(&control.inner),
        1,
        "no loop holds the handle any more"
    );
}
