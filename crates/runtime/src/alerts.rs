//! The runtime's alert delivery options (docs/slo.md "Delivery"): webhook, e-mail over SMTP and Alertmanager
//! targets of SLO alert transitions, and how deliveries are bounded and retried.

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use cfp_engine::alerts::smtp::{AuthMechanism, EmailTarget, SmtpAuth, SmtpTls};
use cfp_engine::alerts::{alertmanager::AlertmanagerTarget, webhook::WebhookTarget, AlertTargets};
use serde_json::json;

/// (flag, env, default, help), listed after the main options.
pub const SPEC: &[(&str, &str, &str, &str)] = &[
    (
        "--alert-webhook-url",
        "CFP_ALERT_WEBHOOK_URL",
        "",
        "http(s) URL SLO alert transitions are POSTed to (signed, see --alert-webhook-secret); empty: none",
    ),
    (
        "--alert-webhook-secret",
        "CFP_ALERT_WEBHOOK_SECRET",
        "",
        "HMAC-SHA256 key of the X-CFP-Signature header of alert webhooks (16+ characters)",
    ),
    (
        "--alert-smtp-url",
        "CFP_ALERT_SMTP_URL",
        "",
        "SMTP relay firing and resolved alerts are mailed through: smtp://host:port; empty: none",
    ),
    (
        "--alert-smtp-tls",
        "CFP_ALERT_SMTP_TLS",
        "opportunistic",
        "STARTTLS to the SMTP relay: required, opportunistic (when offered; required with credentials) or off",
    ),
    (
        "--alert-smtp-ca-file",
        "CFP_ALERT_SMTP_CA_FILE",
        "",
        "PEM CA certificates the SMTP relay's certificate must chain to, instead of the public roots",
    ),
    (
        "--alert-smtp-auth-file",
        "CFP_ALERT_SMTP_AUTH_FILE",
        "",
        "file with the SMTP user name (line 1) and password (line 2); or the environment variables \
         CFP_ALERT_SMTP_USERNAME and CFP_ALERT_SMTP_PASSWORD (never flags)",
    ),
    (
        "--alert-smtp-auth-mechanism",
        "CFP_ALERT_SMTP_AUTH_MECHANISM",
        "auto",
        "SMTP AUTH mechanism: auto (PLAIN when offered, else LOGIN), plain or login",
    ),
    (
        "--alert-email-from",
        "CFP_ALERT_EMAIL_FROM",
        "",
        "sender address of alert e-mails",
    ),
    (
        "--alert-email-to",
        "CFP_ALERT_EMAIL_TO",
        "",
        "comma-separated recipients of alert e-mails",
    ),
    (
        "--alert-alertmanager-url",
        "CFP_ALERT_ALERTMANAGER_URL",
        "",
        "Alertmanager base URL (http://alertmanager:9093) firing alerts are posted to; empty: none",
    ),
    (
        "--alert-link-base-url",
        "CFP_ALERT_LINK_BASE_URL",
        "",
        "external URL of the workbench, for the links in alerts; empty: no links",
    ),
    (
        "--alert-timeout-ms",
        "CFP_ALERT_TIMEOUT_MS",
        "10000",
        "one alert delivery attempt (connect, send, answer), at most",
    ),
    (
        "--alert-max-attempts",
        "CFP_ALERT_MAX_ATTEMPTS",
        "10",
        "attempts of one alert delivery before it is given up (retried after 10 s, doubling, at most 1 h)",
    ),
];

pub struct AlertOptions {
    pub targets: AlertTargets,
}

/// The environment variables SMTP credentials may come from instead of `--alert-smtp-auth-file`: read from the
/// environment only, so they never appear on a command line (`ps`, shell history).
pub const SMTP_USERNAME_ENV: &str = "CFP_ALERT_SMTP_USERNAME";
pub const SMTP_PASSWORD_ENV: &str = "CFP_ALERT_SMTP_PASSWORD";

/// The SMTP credentials from `--alert-smtp-auth-file` or the environment (not both); `None` when neither is set.
/// Errors name the file or the variable, never a value.
fn smtp_auth(get: &dyn Fn(&str) -> String, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<SmtpAuth>> {
    let mechanism = AuthMechanism::parse(&get("--alert-smtp-auth-mechanism")).map_err(|e| anyhow!(e))?;
    let file = get("--alert-smtp-auth-file");
    let (user, password) = (
        env(SMTP_USERNAME_ENV).filter(|v| !v.is_empty()),
        env(SMTP_PASSWORD_ENV).filter(|v| !v.is_empty()),
    );
    if !file.is_empty() {
        if user.is_some() || password.is_some() {
            bail!("--alert-smtp-auth-file and {SMTP_USERNAME_ENV}/{SMTP_PASSWORD_ENV} both give SMTP credentials: keep one");
        }
        let text =
            std::fs::read_to_string(&file).map_err(|e| anyhow!("--alert-smtp-auth-file: cannot read {file}: {e}"))?;
        let source = format!("--alert-smtp-auth-file {file}");
        return SmtpAuth::from_file_text(&text, mechanism, &source)
            .map(Some)
            .map_err(|e| anyhow!(e));
    }
    match (user, password) {
        (None, None) => Ok(None),
        (Some(u), Some(p)) => SmtpAuth::new(&u, &p, mechanism, "the environment")
            .map(Some)
            .map_err(|e| anyhow!(e)),
        _ => bail!("{SMTP_USERNAME_ENV} and {SMTP_PASSWORD_ENV} go together: set both or neither"),
    }
}

impl AlertOptions {
    /// Validates the options (`get` reads a flag's resolved value); `None` when no target is set.
    pub fn parse(get: &dyn Fn(&str) -> String) -> Result<Option<Self>> {
        Self::parse_with_env(get, &|k| std::env::var(k).ok())
    }

    /// [`Self::parse`] with the environment of the credentials given (tests).
    pub fn parse_with_env(get: &dyn Fn(&str) -> String, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let mut t = AlertTargets::default();
        let (url, secret) = (get("--alert-webhook-url"), get("--alert-webhook-secret"));
        if !url.is_empty() {
            t.webhook = Some(WebhookTarget::new(&url, &secret).map_err(|e| anyhow!(e))?);
        } else if !secret.is_empty() {
            bail!("--alert-webhook-secret needs --alert-webhook-url");
        }
        let (smtp, from, to) = (
            get("--alert-smtp-url"),
            get("--alert-email-from"),
            get("--alert-email-to"),
        );
        let tls = SmtpTls::parse(&get("--alert-smtp-tls")).map_err(|e| anyhow!(e))?;
        let auth = smtp_auth(get, env)?;
        let ca = get("--alert-smtp-ca-file");
        if !smtp.is_empty() {
            let mut email = EmailTarget::new(&smtp, &from, &to)
                .and_then(|e| e.secured(tls, auth))
                .map_err(|e| anyhow!(e))?;
            if !ca.is_empty() {
                let pem = std::fs::read(&ca).map_err(|e| anyhow!("--alert-smtp-ca-file: cannot read {ca}: {e}"))?;
                email = email.trusting(&pem).map_err(|e| anyhow!("{e} ({ca})"))?;
            }
            t.email = Some(email);
        } else if !from.is_empty() || !to.is_empty() || auth.is_some() || !ca.is_empty() {
            bail!(
                "--alert-email-from, --alert-email-to, --alert-smtp-ca-file and SMTP credentials need --alert-smtp-url"
            );
        }
        let am = get("--alert-alertmanager-url");
        if !am.is_empty() {
            t.alertmanager = Some(AlertmanagerTarget::new(&am).map_err(|e| anyhow!(e))?);
        }
        let link = get("--alert-link-base-url");
        if !link.is_empty() {
            cfp_engine::alerts::check_url("--alert-link-base-url", &link).map_err(|e| anyhow!(e))?;
            t.link_base = Some(link);
        }
        let positive = |k: &str| -> Result<u64> {
            match get(k).trim().parse::<u64>() {
                Ok(n) if n > 0 => Ok(n),
                _ => bail!("{k} must be a whole number greater than 0, got `{}`", get(k)),
            }
        };
        t.timeout = Duration::from_millis(positive("--alert-timeout-ms")?);
        t.max_attempts = positive("--alert-max-attempts")?.min(100) as i32;
        Ok((!t.names().is_empty()).then_some(Self { targets: t }))
    }

    /// The options as `--print-config` shows them: no secret.
    pub fn to_json(o: Option<&Self>) -> serde_json::Value {
        let Some(o) = o else { return json!(null) };
        let t = &o.targets;
        json!({
            "webhookUrl": t.webhook.as_ref().map(|w| w.url.clone()),
            "webhookSecret": t.webhook.as_ref().map(|_| "***"),
            "smtp": t.email.as_ref().map(|e| json!({
                "host": e.host, "port": e.port, "from": e.from, "to": e.to, "tls": e.tls.as_str(),
                "privateCa": e.private_ca,
                "auth": e.auth.as_ref().map(|a| json!({"username": a.username, "password": "***"})),
            })),
            "alertmanagerUrl": t.alertmanager.as_ref().map(|a| a.url.clone()),
            "linkBaseUrl": t.link_base,
            "timeoutMs": t.timeout.as_millis() as u64,
            "maxAttempts": t.max_attempts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<Option<AlertOptions>> {
        parse_env(pairs, &[])
    }

    fn parse_env(pairs: &[(&str, &str)], env: &[(&str, &str)]) -> Result<Option<AlertOptions>> {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(f, _)| *f == k)
                .map(|(_, v)| v.to_string())
                .or_else(|| SPEC.iter().find(|(f, ..)| *f == k).map(|s| s.2.to_string()))
                .unwrap()
        };
        let env = |k: &str| env.iter().find(|(e, _)| *e == k).map(|(_, v)| v.to_string());
        AlertOptions::parse_with_env(&get, &env)
    }

    const SMTP: [(&str, &str); 3] = [
        ("--alert-smtp-url", "smtp://relay.example:587"),
        ("--alert-email-from", "cfp@example.com"),
        ("--alert-email-to", "oncall@example.com"),
    ];

    #[test]
    fn smtp_credentials_come_from_a_file_or_the_environment_and_are_never_shown() {
        let dir = std::env::temp_dir().join(format!("cfp-smtp-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("auth");
        std::fs::write(&file, "alerts@example.com\nfile-pass-0123456789\n").unwrap();
        let mut with_file = SMTP.to_vec();
        let path = file.to_string_lossy().to_string();
        with_file.push(("--alert-smtp-auth-file", &path));
        let o = parse(&with_file).unwrap().unwrap();
        let email = o.targets.email.as_ref().unwrap();
        assert_eq!(email.auth.as_ref().unwrap().username, "alerts@example.com");
        assert_eq!(email.tls, SmtpTls::Opportunistic);
        let shown = format!("{} {:?}", AlertOptions::to_json(Some(&o)), o.targets);
        assert!(!shown.contains("file-pass-0123456789"), "{shown}");
        assert!(shown.contains(r#""password":"***""#), "{shown}");

        let env = [
            (SMTP_USERNAME_ENV, "env-user"),
            (SMTP_PASSWORD_ENV, "env-pass-0123456789"),
        ];
        let o = parse_env(&SMTP, &env).unwrap().unwrap();
        assert_eq!(
            o.targets.email.as_ref().unwrap().auth.as_ref().unwrap().username,
            "env-user"
        );
        assert!(!format!("{} {:?}", AlertOptions::to_json(Some(&o)), o.targets).contains("env-pass-0123456789"));

        // half the credentials, both sources, credentials with TLS off, a bad file: refused, naming no value
        let e = parse_env(&SMTP, &env[..1]).err().unwrap().to_string();
        assert!(e.contains("go together"), "{e}");
        let e = parse_env(&with_file, &env).err().unwrap().to_string();
        assert!(e.contains("keep one") && !e.contains("env-pass"), "{e}");
        let mut off = with_file.clone();
        off.push(("--alert-smtp-tls", "off"));
        let e = parse(&off).err().unwrap().to_string();
        assert!(e.contains("only sent over TLS") && !e.contains("file-pass"), "{e}");
        std::fs::write(&file, "just-a-password-0123456789\n").unwrap();
        let e = parse(&with_file).err().unwrap().to_string();
        assert!(e.contains(&path) && !e.contains("just-a-password"), "{e}");
        let e = parse_env(&[], &env).err().unwrap().to_string();
        assert!(e.contains("need --alert-smtp-url"), "{e}");
        let mut bad_ca = SMTP.to_vec();
        bad_ca.push(("--alert-smtp-ca-file", &path));
        assert!(parse(&bad_ca).err().unwrap().to_string().contains("no PEM certificate"));
        assert!(parse(&[("--alert-smtp-tls", "sometimes")]).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn targets_are_validated_and_secrets_never_shown() {
        assert!(parse(&[]).unwrap().is_none());
        let o = parse(&[
            ("--alert-webhook-url", "https://hooks.example/cfp"),
            ("--alert-webhook-secret", "a-very-secret-value-123"),
        ])
        .unwrap()
        .unwrap();
        let shown = AlertOptions::to_json(Some(&o)).to_string();
        assert!(!shown.contains("a-very-secret-value-123"), "{shown}");
        assert!(!format!("{:?}", o.targets).contains("a-very-secret-value-123"));
        assert!(
            parse(&[("--alert-webhook-url", "https://hooks.example/cfp")]).is_err(),
            "no secret"
        );
        let e = parse(&[
            ("--alert-webhook-url", "https://me:pw@hooks.example/cfp"),
            ("--alert-webhook-secret", "a-very-secret-value-123"),
        ])
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("credentials") && !e.contains("pw@"), "{e}");
        assert!(
            parse(&[("--alert-email-to", "a@x.io")]).is_err(),
            "e-mail without a relay"
        );
        assert!(parse(&[("--alert-alertmanager-url", "alertmanager:9093")]).is_err());
        assert!(parse(&[
            ("--alert-alertmanager-url", "http://am:9093"),
            ("--alert-timeout-ms", "0")
        ])
        .is_err());
    }
}
