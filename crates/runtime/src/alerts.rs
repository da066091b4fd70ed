//! The runtime's alert delivery options (docs/slo.md "Delivery"): webhook, e-mail over SMTP and Alertmanager
//! targets of SLO alert transitions, and how deliveries are bounded and retried.

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use cfp_engine::alerts::{alertmanager::AlertmanagerTarget, smtp::EmailTarget, webhook::WebhookTarget, AlertTargets};
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
        "SMTP relay firing and resolved alerts are mailed through: smtp://host:port (plain SMTP); empty: none",
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

impl AlertOptions {
    /// Validates the options (`get` reads a flag's resolved value); `None` when no target is set.
    pub fn parse(get: &dyn Fn(&str) -> String) -> Result<Option<Self>> {
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
        if !smtp.is_empty() {
            t.email = Some(EmailTarget::new(&smtp, &from, &to).map_err(|e| anyhow!(e))?);
        } else if !from.is_empty() || !to.is_empty() {
            bail!("--alert-email-from and --alert-email-to need --alert-smtp-url");
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
            "smtp": t.email.as_ref().map(|e| json!({"host": e.host, "port": e.port, "from": e.from, "to": e.to})),
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
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(f, _)| *f == k)
                .map(|(_, v)| v.to_string())
                .or_else(|| SPEC.iter().find(|(f, ..)| *f == k).map(|s| s.2.to_string()))
                .unwrap()
        };
        AlertOptions::parse(&get)
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
