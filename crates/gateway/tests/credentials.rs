//! Attack tests of issue 9: credentials never reach step code, and dev mode's loopback trust stays local.
//!
//! A real runtime with a scripted worker whose `Echo` step answers what it was given (headers, query, `auth`).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A runtime (dev mode or not, `--require-auth` or not) with the echo steps registered.
async fn runtime(dev: bool, require_auth: bool) -> (Runtime, FakeWorker) {
    let mut opts = RuntimeOptions::default();
    opts.gateway.dev = dev;
    opts.gateway.require_auth = require_auth;
    let rt = start(opts).await;
    let steps = json!([
        api_step("Echo", "POST", "/echo", &[]),
        api_step("EchoGet", "GET", "/echo", &[]),
    ]);
    let echo: Handler = Arc::new(|f: &Value| {
        let input = &f["input"];
        json!({"ok": true, "output": {"status": 200, "body": {
            "headers": input["headers"], "query": input["queryParams"], "auth": input["auth"],
        }}})
    });
    let (w, registered) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![("Echo", echo.clone()), ("EchoGet", echo)]),
    )
    .await;
    assert_eq!(registered["steps"].as_array().unwrap().len(), 2, "{registered}");
    (rt, w)
}

/// One HTTP/1.1 request with exactly the given headers (`host` included): what a browser or a proxy would send.
async fn raw(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").expect("response head");
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let json = serde_json::from_slice(&buf[split + 4..]).unwrap_or(Value::Null);
    (status, json)
}

/// An (unsigned) JWT of the given claims: its form is what matters here.
fn jwt(claims: Value) -> String {
    let enc = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        enc(json!({"alg": "ES256", "typ": "at+jwt", "kid": "k1"})),
        enc(claims),
        URL_SAFE_NO_PAD.encode([7u8; 64])
    )
}

fn host(addr: SocketAddr) -> String {
    addr.to_string()
}

fn assert_no_secret(out: &Value, secrets: &[&str]) {
    let text = out.to_string();
    for s in secrets {
        assert!(!text.contains(s), "the step saw a credential `{s}`: {text}");
    }
}

#[tokio::test]
async fn a_step_never_sees_a_platform_credential_and_gets_the_principal_instead() {
    let (rt, w) = runtime(false, false).await;
    let h = host(rt.addr);
    let app_cookie = "theme=dark";
    let api_key = "cfp_live_abcdefghij_0123456789abcdef0123456789abcdef0123";
    let bearer_admin = format!("Bearer {ADMIN}");
    let cookie = format!("{app_cookie}; cfp_session={api_key}; other={ADMIN}");
    // the admin token in Authorization; an API key in a cookie and in the query; the admin token in the query
    let path = format!("/echo?q=1&access_token={api_key}&token={ADMIN}");
    let (status, out) = raw(
        rt.addr,
        "POST",
        &path,
        &[
            ("host", &h),
            ("authorization", &bearer_admin),
            ("cookie", &cookie),
            ("content-type", "application/json"),
        ],
        b"{}",
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_no_secret(&out, &[ADMIN, api_key]);
    assert!(out["headers"].get("authorization").is_none(), "{out}");
    assert_eq!(out["headers"]["cookie"], app_cookie, "{out}");
    assert_eq!(out["query"], json!({"q": "1"}));
    assert_eq!(
        out["auth"],
        json!({"kind": "admin", "subject": "admin", "tenant": "default", "project": "default", "roles": []})
    );

    // the admin token in X-API-Key, next to the application's own Authorization: that one passes unchanged
    let (status, out) = raw(
        rt.addr,
        "POST",
        "/echo",
        &[
            ("host", &h),
            ("authorization", "Bearer my-app-token"),
            ("x-api-key", ADMIN),
        ],
        b"",
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_no_secret(&out, &[ADMIN]);
    assert_eq!(out["headers"]["authorization"], "Bearer my-app-token");
    assert!(out["headers"].get("x-api-key").is_none(), "{out}");
    assert_eq!(out["auth"]["kind"], "admin");

    // an application's own value that is no CFP credential is not one to the runtime either: 401, not its step
    let (status, out) = raw(
        rt.addr,
        "POST",
        "/echo",
        &[("host", &h), ("authorization", "Bearer my-app-token")],
        b"",
    )
    .await;
    assert_eq!(
        (status, out["error"]["code"].as_str()),
        (401, Some("unauthenticated")),
        "{out}"
    );
    drop(w);
    rt.stop().await;
}

#[tokio::test]
async fn dev_mode_strips_control_plane_jwts_worker_tokens_and_api_keys_too() {
    let (rt, w) = runtime(true, false).await;
    let h = host(rt.addr);
    let cp_token = jwt(json!({"iss": "http://cp", "aud": "cfp-control", "sub": "admin-user", "rb": []}));
    let rt_token = jwt(json!({"iss": "http://cp", "aud": ["cfp-runtime"], "sub": "admin-user", "rb": []}));
    let worker = "cfp_wkr_abcdefghij_0123456789abcdef0123456789abcdef0123";
    for (label, headers) in [
        (
            "control-plane JWT",
            vec![("authorization", format!("Bearer {cp_token}"))],
        ),
        ("runtime JWT in X-API-Key", vec![("x-api-key", rt_token.clone())]),
        (
            "worker token, other scheme",
            vec![("authorization", format!("Token {worker}"))],
        ),
        ("bare API key", vec![("authorization", "cfp_live_x".to_string())]),
    ] {
        let mut all: Vec<(&str, &str)> = vec![("host", &h)];
        all.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
        let (status, out) = raw(rt.addr, "POST", "/echo", &all, b"").await;
        assert_eq!(status, 200, "{label}: {out}");
        assert_no_secret(&out, &[&cp_token, &rt_token, worker, "cfp_live_x"]);
        assert_eq!(out["auth"]["kind"], "local_developer", "{label}");
    }
    // an end user's or an application's own JWT is not CFP's: it reaches the step
    let own = jwt(json!({"iss": "https://idp.example", "aud": "shop-app", "sub": "u1"}));
    let bearer = format!("Bearer {own}");
    let (status, out) = raw(
        rt.addr,
        "POST",
        "/echo",
        &[("host", &h), ("authorization", &bearer)],
        b"",
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["headers"]["authorization"], bearer);
    drop(w);
    rt.stop().await;
}

#[tokio::test]
async fn a_credential_hidden_in_basic_authorization_is_removed_too() {
    use base64::engine::general_purpose::STANDARD;
    let api_key = "cfp_live_abcdefghij_0123456789abcdef0123456789abcdef0123";
    let basic = |user: &str, password: &str| format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
    let hidden = [
        ("admin token as the password", basic("x", ADMIN)),
        ("API key as the password", basic("", api_key)),
        ("API key as the user name", basic(api_key, "")),
        ("lower-case scheme", basic("x", api_key).replacen("Basic", "basic", 1)),
        (
            "unpadded",
            format!(
                "Basic {}",
                STANDARD.encode(format!("u:{api_key}")).trim_end_matches('=')
            ),
        ),
    ];
    // a runtime that needs credentials: the CFP credential in X-API-Key, another one hidden in Basic
    let (rt, w) = runtime(false, false).await;
    let h = host(rt.addr);
    for (label, value) in &hidden {
        let (status, out) = raw(
            rt.addr,
            "POST",
            "/echo",
            &[("host", &h), ("x-api-key", ADMIN), ("authorization", value)],
            b"",
        )
        .await;
        assert_eq!(status, 200, "{label}: {out}");
        assert_no_secret(&out, &[ADMIN, api_key, value]);
        assert!(out["headers"].get("authorization").is_none(), "{label}: {out}");
        assert!(out["headers"].get("x-api-key").is_none(), "{label}: {out}");
        // alone, Basic authenticates nothing: 401 naming the accepted forms, and the step never runs
        let (status, out) = raw(rt.addr, "POST", "/echo", &[("host", &h), ("authorization", value)], b"").await;
        assert_eq!(
            (status, out["error"]["code"].as_str()),
            (401, Some("unauthenticated")),
            "{label}: {out}"
        );
        assert!(
            out["error"]["message"].as_str().unwrap().contains("Basic"),
            "{label}: {out}"
        );
    }
    assert_eq!(w.invocations_of("Echo").len(), hidden.len());
    // an application's own Basic credentials pass unchanged
    let own = basic("shop-user", "hunter2");
    let (status, out) = raw(
        rt.addr,
        "POST",
        "/echo",
        &[("host", &h), ("x-api-key", ADMIN), ("authorization", &own)],
        b"",
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["headers"]["authorization"], own);
    drop(w);
    rt.stop().await;

    // dev mode: the local developer, and the hidden credential still never reaches the step
    let (rt, w) = runtime(true, false).await;
    let h = host(rt.addr);
    for (label, value) in &hidden {
        let (status, out) = raw(
            rt.addr,
            "POST",
            "/echo",
            &[("host", &h), ("proxy-authorization", value)],
            b"",
        )
        .await;
        assert_eq!(status, 200, "{label}: {out}");
        assert_no_secret(&out, &[ADMIN, api_key, value]);
        assert_eq!(out["auth"]["kind"], "local_developer", "{label}");
    }
    drop(w);
    rt.stop().await;
}

#[tokio::test]
async fn motia_own_auth_apps_keep_working_under_dev_and_require_auth() {
    // plain `cfp dev`: the loopback developer, the app's Authorization untouched
    let (rt, w) = runtime(true, false).await;
    let h = host(rt.addr);
    let (status, out) = raw(
        rt.addr,
        "POST",
        "/echo",
        &[("host", &h), ("authorization", "Bearer my-app-token")],
        b"",
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["headers"]["authorization"], "Bearer my-app-token");
    drop(w);
    rt.stop().await;

    // `cfp dev --require-auth`: the CFP credential in X-API-Key, the app's own in Authorization
    let (rt, w) = runtime(true, true).await;
    let h = host(rt.addr);
    let (status, out) = raw(
        rt.addr,
        "POST",
        "/echo",
        &[
            ("host", &h),
            ("authorization", "Bearer my-app-token"),
            ("x-api-key", ADMIN),
        ],
        b"",
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["headers"]["authorization"], "Bearer my-app-token");
    assert_no_secret(&out, &[ADMIN]);
    drop(w);
    rt.stop().await;
}

#[tokio::test]
async fn proxy_headers_get_no_loopback_trust() {
    let (rt, w) = runtime(true, false).await;
    let h = host(rt.addr);
    let (status, _) = raw(rt.addr, "GET", "/__cfp/api/steps", &[("host", &h)], b"").await;
    assert_eq!(status, 200, "a loopback caller is the local developer");
    for (name, value) in [
        ("x-forwarded-for", "203.0.113.9"),
        ("forwarded", "for=203.0.113.9"),
        ("via", "1.1 proxy.example"),
        ("x-real-ip", "203.0.113.9"),
    ] {
        let (status, out) = raw(rt.addr, "GET", "/__cfp/api/steps", &[("host", &h), (name, value)], b"").await;
        assert_eq!(
            (status, out["error"]["code"].as_str()),
            (401, Some("unauthenticated")),
            "{name}: {out}"
        );
        let (status, _) = raw(rt.addr, "POST", "/echo", &[("host", &h), (name, value)], b"").await;
        assert_eq!(status, 401, "{name} on a step");
        // a credential still works through a proxy
        let (status, _) = raw(
            rt.addr,
            "GET",
            "/__cfp/api/steps",
            &[("host", &h), (name, value), ("x-api-key", ADMIN)],
            b"",
        )
        .await;
        assert_eq!(status, 200, "{name} with a credential");
    }
    drop(w);
    rt.stop().await;
}

#[tokio::test]
async fn loopback_trust_needs_a_loopback_host_name_dns_rebinding() {
    let (rt, w) = runtime(true, false).await;
    let port = rt.addr.port();
    for good in [
        format!("localhost:{port}"),
        format!("app.localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("127.8.9.10:{port}"),
        format!("[::1]:{port}"),
    ] {
        let (status, out) = raw(rt.addr, "GET", "/__cfp/api/steps", &[("host", &good)], b"").await;
        assert_eq!(status, 200, "{good}: {out}");
    }
    for bad in [
        format!("rebind.attacker.example:{port}"),
        "attacker.example".to_string(),
        format!("localhost.attacker.example:{port}"),
        format!("192.168.1.10:{port}"),
    ] {
        let (status, out) = raw(rt.addr, "GET", "/__cfp/api/steps", &[("host", &bad)], b"").await;
        assert_eq!(
            (status, out["error"]["code"].as_str()),
            (401, Some("unauthenticated")),
            "{bad}: {out}"
        );
        let (status, _) = raw(rt.addr, "POST", "/echo", &[("host", &bad)], b"").await;
        assert_eq!(status, 401, "{bad} on a step");
        // `cfp dev --host 0.0.0.0`: callers with a credential keep working under any name
        let (status, _) = raw(
            rt.addr,
            "GET",
            "/__cfp/api/steps",
            &[("host", &bad), ("x-api-key", ADMIN)],
            b"",
        )
        .await;
        assert_eq!(status, 200, "{bad} with a credential");
    }
    let (status, _) = raw(rt.addr, "GET", "/__cfp/api/steps", &[], b"").await;
    assert_ne!(status, 200, "no Host at all is no loopback name");
    drop(w);
    rt.stop().await;
}

#[tokio::test]
async fn a_foreign_page_cannot_change_anything_through_the_local_developer_csrf() {
    let (rt, w) = runtime(true, false).await;
    let h = host(rt.addr);
    let evil = "https://evil.example";
    for (method, path, body) in [
        ("POST", "/echo", &b""[..]),
        ("POST", "/__cfp/api/emit", &br#"{"topic":"x","data":{}}"#[..]),
        ("PUT", "/__cfp/api/state/g/k", &br#"{"v":1}"#[..]),
        ("DELETE", "/__cfp/api/dlq/1", &b""[..]),
    ] {
        let headers = [
            ("host", h.as_str()),
            ("origin", evil),
            ("content-type", "application/json"),
        ];
        let (status, out) = raw(rt.addr, method, path, &headers, body).await;
        assert_eq!(
            (status, out["error"]["code"].as_str()),
            (403, Some("cross_origin_refused")),
            "{method} {path}: {out}"
        );
        let (status, out) = raw(rt.addr, method, path, &[("host", h.as_str()), ("origin", "null")], body).await;
        assert_eq!(status, 403, "opaque origin, {method} {path}: {out}");
    }
    // a foreign page's read gets no loopback trust either (the browser would also withhold the answer)
    let (status, _) = raw(
        rt.addr,
        "GET",
        "/__cfp/api/steps",
        &[("host", &h), ("origin", evil)],
        b"",
    )
    .await;
    assert_eq!(status, 401);
    // a loopback page, and a foreign one with a credential, are fine
    let local = format!("http://localhost:{}", rt.addr.port());
    let (status, out) = raw(rt.addr, "POST", "/echo", &[("host", &h), ("origin", &local)], b"").await;
    assert_eq!(status, 200, "{out}");
    let (status, out) = raw(
        rt.addr,
        "POST",
        "/echo",
        &[("host", &h), ("origin", evil), ("x-api-key", ADMIN)],
        b"",
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["auth"]["kind"], "admin");
    // the local developer covers the default project only
    let (status, _) = raw(
        rt.addr,
        "GET",
        "/__cfp/api/steps",
        &[("host", &h), ("x-cfp-project", "someone-elses")],
        b"",
    )
    .await;
    assert_eq!(status, 404);
    drop(w);
    rt.stop().await;
}
