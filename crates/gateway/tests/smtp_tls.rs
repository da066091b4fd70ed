//! The e-mail alert target against a real SMTP server that demands STARTTLS and AUTH (Python `aiosmtpd`, from the
//! venv `scripts/setup.sh` creates; `require_starttls`, `auth_required`, `auth_require_tls`), with a certificate of
//! a test CA made here with the `openssl` CLI (docs/slo.md "Delivery"): the firing mail arrives with AUTH PLAIN and
//! with AUTH LOGIN; a wrong password leaves the delivery retrying with an error that quotes no credential; a relay
//! whose certificate does not verify gets no credential at all; and no credential is stored anywhere (outbox,
//! audit queue and chain).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use cfp_engine::alerts::smtp::{AuthMechanism, EmailTarget, SmtpAuth, SmtpTls};
use cfp_engine::alerts::AlertTargets;
use cfp_engine::clock::ManualClock;
use cfp_engine::slo::{BurnRule, SloPolicy};
use cfp_engine::EngineConfig;
use cfp_store::rollups::{Granularity, Outcome, Rollup};
use cfp_store::Scope;
use common::*;
use serde_json::{json, Value};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const USER: &str = "alerts@example.com";
const PASSWORD: &str = "smtp-pass-7f3a9c1e";

/// The SMTP server: STARTTLS with `cert`/`key`, AUTH required (over TLS only) with USER/PASSWORD; each AUTH
/// attempt is logged as `<mechanism> ok|bad` to `auth.log`, mails go to the Maildir `mail`.
const SERVER: &str = r#"
import ssl, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword
cert, key, port, d, user, pw = sys.argv[1:]
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
def auth(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login == user.encode() and data.password == pw.encode()
    with open(d + "/auth.log", "a") as f:
        f.write("%s %s\n" % (mechanism, "ok" if ok else "bad"))
    return AuthResult(success=ok, handled=False)
c = Controller(Mailbox(d + "/mail"), hostname="127.0.0.1", port=int(port), tls_context=ctx,
               require_starttls=True, auth_required=True, auth_require_tls=True, authenticator=auth)
c.start()
while True:
    time.sleep(3600)
"#;

fn openssl(dir: &Path, args: &[&str]) {
    let ok = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run openssl")
        .success();
    assert!(ok, "openssl {args:?} failed");
}

/// A CA and a server certificate for 127.0.0.1 signed by it (a leaf, not a CA: rustls refuses a CA as leaf).
fn make_certs(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=cfp test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

/// A runtime on a manual clock whose next cycle fires an alert on step `s` (ten minutes of 50 % failures).
async fn runtime(clock: &ManualClock, email: EmailTarget) -> Runtime {
    let targets = AlertTargets {
        email: Some(email),
        timeout: Duration::from_secs(5),
        retry_base: Duration::from_millis(200),
        retry_cap: Duration::from_millis(500),
        poll: Duration::from_millis(100),
        ..Default::default()
    };
    let policy = SloPolicy {
        rules: vec![BurnRule {
            name: "now".into(),
            severity: "page".into(),
            long_secs: 600,
            short_secs: 150,
            factor: 10.0,
            for_secs: 0,
        }],
        min_events: 10,
        interval: Duration::from_secs(30),
    };
    let rt = start(RuntimeOptions {
        engine: EngineConfig {
            clock: Arc::new(clock.clone()),
            slo: Some(policy),
            alerts: Some(targets),
            ..RuntimeOptions::default().engine
        },
        ..Default::default()
    })
    .await;
    let scope = Scope::new("default", "default");
    rt.store
        .set_slo_override(&scope, "s", Some(&json!({"errors": {"target": 0.99}})), "test")
        .await
        .unwrap();
    let rows: Vec<Rollup> = (1..=10)
        .map(|m| {
            let mut r = Rollup {
                step: "s".into(),
                start_ms: T0 - m * 60_000,
                ..Default::default()
            };
            for i in 0..100 {
                r.add(if i < 50 { Outcome::HandlerError } else { Outcome::Ok }, Some(10.0));
            }
            r
        })
        .collect();
    rt.store.add_rollups(&scope, Granularity::Minute, rows).await.unwrap();
    clock.advance(Duration::from_secs(30));
    rt
}

/// The e-mail delivery of the firing transition, once it has been attempted.
async fn email_delivery(rt: &Runtime, want: &dyn Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        let r = http(
            rt.addr,
            "GET",
            "/__cfp/api/slo/alerts/deliveries",
            &[("authorization", &format!("Bearer {ADMIN}"))],
            b"",
        )
        .await
        .json();
        if let Some(d) = r["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["target"] == "email" && d["status"] != "skipped" && want(d))
        {
            return d.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no e-mail delivery as wanted within 15 s");
}

/// Everything the runtime stored about alerts and audit, as text.
async fn stored_text(rt: &Runtime) -> String {
    let mut all = String::new();
    for table in ["alert_outbox", "audit_queue", "audit_entries", "slo_alert_events"] {
        let q = format!("SELECT coalesce(string_agg(t::text, '\n'), '') FROM {table} t");
        let text: String = sqlx::query_scalar(&q).fetch_one(rt.store.pool()).await.unwrap();
        all.push_str(&text);
    }
    all
}

#[tokio::test]
async fn mail_goes_through_starttls_and_auth_and_credentials_never_leak() {
    let python = std::env::var_os("CFP_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/cfp-pyenv/bin/python"));
    let Some(python) = tool(python, "run scripts/setup.sh: it creates the venv with aiosmtpd") else {
        return;
    };
    let Some(_) = tool(PathBuf::from("/usr/bin/openssl"), "install the Debian package openssl") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("cfp-smtp-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    make_certs(&dir);
    let (smtp, port) = spawn_server(|port| {
        let mut c = Command::new(&python);
        c.arg("-c")
            .arg(SERVER)
            .arg(dir.join("server.pem"))
            .arg(dir.join("server.key"))
            .arg(port.to_string())
            .arg(&dir)
            .args([USER, PASSWORD])
            .stdout(Stdio::null());
        c
    })
    .await;
    let ca = std::fs::read(dir.join("ca.pem")).unwrap();
    let mails = || std::fs::read_dir(dir.join("mail/new")).map_or(0, |d| d.count());
    let auth_log = || std::fs::read_to_string(dir.join("auth.log")).unwrap_or_default();
    let target = |mechanism, password: &str, trust: bool| {
        let t = EmailTarget::new(
            &format!("smtp://127.0.0.1:{port}"),
            "cfp@example.com",
            "oncall@example.com",
        )
        .unwrap()
        .secured(
            SmtpTls::Required,
            Some(SmtpAuth::new(USER, password, mechanism, "test").unwrap()),
        )
        .unwrap();
        if trust {
            t.trusting(&ca).unwrap()
        } else {
            t
        }
    };
    let secrets = [
        PASSWORD.to_string(),
        base64::engine::general_purpose::STANDARD.encode(PASSWORD),
        base64::engine::general_purpose::STANDARD.encode(format!("\0{USER}\0{PASSWORD}")),
        "wrong-pass-0000".to_string(),
        base64::engine::general_purpose::STANDARD.encode(format!("\0{USER}\0wrong-pass-0000")),
    ];

    // PLAIN (auto picks it), then LOGIN: each firing mail arrives, authenticated inside TLS
    for (i, mechanism) in [AuthMechanism::Auto, AuthMechanism::Login].into_iter().enumerate() {
        let clock = ManualClock::at_millis(T0);
        let rt = runtime(&clock, target(mechanism, PASSWORD, true)).await;
        let d = email_delivery(&rt, &|d| d["status"] == "delivered").await;
        assert_eq!(d["attempts"], 1, "{d}");
        assert_eq!(mails(), i + 1);
        let stored = stored_text(&rt).await;
        assert!(!stored.is_empty());
        for s in &secrets {
            assert!(!stored.contains(s.as_str()), "a credential is stored");
        }
        rt.stop().await;
    }
    assert_eq!(auth_log(), "PLAIN ok\nLOGIN ok\n");
    let mail = std::fs::read_dir(dir.join("mail/new"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let mail = std::fs::read_to_string(mail.path()).unwrap();
    assert!(mail.contains("FIRING errors SLO of default/s"), "{mail}");

    // a wrong password: refused, retried, the error naming the step and code but no credential
    let clock = ManualClock::at_millis(T0);
    let rt = runtime(&clock, target(AuthMechanism::Plain, "wrong-pass-0000", true)).await;
    let d = email_delivery(&rt, &|d| d["lastError"].is_string()).await;
    assert_eq!(d["status"], "pending", "retried: {d}");
    assert_eq!(d["lastError"], "SMTP AUTH PLAIN: the server answered 535 (refused)");
    let stored = stored_text(&rt).await;
    for s in &secrets {
        assert!(!stored.contains(s.as_str()), "a credential is stored");
    }
    rt.stop().await;
    assert!(auth_log().ends_with("PLAIN bad\n"));
    assert_eq!(mails(), 2);

    // the relay's certificate does not chain to the public roots: no handshake, so no credential is sent
    let before = auth_log();
    let clock = ManualClock::at_millis(T0);
    let rt = runtime(&clock, target(AuthMechanism::Auto, PASSWORD, false)).await;
    let d = email_delivery(&rt, &|d| d["lastError"].is_string()).await;
    let e = d["lastError"].as_str().unwrap();
    assert!(
        e.starts_with("TLS with the SMTP server 127.0.0.1: ") && e.contains("certificate"),
        "{e}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    rt.stop().await;
    assert_eq!(auth_log(), before, "no AUTH without a verified TLS session");
    assert_eq!(mails(), 2);
    drop(smtp);
    std::fs::remove_dir_all(&dir).ok();
}
