//! Delivery of SLO alert transitions (docs/slo.md "Delivery") to the runtime's alert targets: a signed webhook
//! ([`webhook`]), e-mail over SMTP ([`smtp`]) and Alertmanager ([`alertmanager`]).
//!
//! Every transition the evaluator commits is queued, in the same transaction, once per target
//! (`cfp_store::alert_outbox`). The deliverer here claims due rows under a lease, sends each with a bounded
//! request (per-request timeout, bounded body), and records the outcome: delivered; retried after
//! `min(cap, base · 2^(attempts-1))` with the error kept; given up after `max_attempts`. It runs on its own task
//! and its own timers (real time, not the engine's clock: retries are about the network), so a slow or dead target
//! never blocks or slows step execution. Alertmanager also gets every firing alert again each `resend` (it
//! forgets alerts that are not re-sent).
//!
//! ```ignore
//! let targets = AlertTargets { webhook: Some(WebhookTarget::new("https://hooks.example/cfp", "s3cret")?), ..Default::default() };
//! let engine = Engine::start(store, EngineConfig { alerts: Some(targets), ..Default::default() });
//! ```

pub mod alertmanager;
pub mod smtp;
mod smtp_session;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use cfp_store::alert_outbox::{ClaimedDelivery, Finish};

use crate::Engine;

/// Where alerts go, and how deliveries are bounded and retried.
#[derive(Debug, Clone)]
pub struct AlertTargets {
    pub webhook: Option<webhook::WebhookTarget>,
    pub email: Option<smtp::EmailTarget>,
    pub alertmanager: Option<alertmanager::AlertmanagerTarget>,
    /// Base URL of the workbench, for the links in alerts (`None`: no links).
    pub link_base: Option<String>,
    /// One attempt (connect, send, answer), at most.
    pub timeout: Duration,
    /// First retry delay, doubling per attempt up to `retry_cap`.
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// Attempts before a delivery is given up (kept with its last error).
    pub max_attempts: i32,
    /// How often due deliveries are looked for.
    pub poll: Duration,
    /// How often firing alerts are sent to Alertmanager again.
    pub resend: Duration,
    /// Finished deliveries are kept this long (then pruned).
    pub keep: Duration,
}

impl Default for AlertTargets {
    fn default() -> Self {
        Self {
            webhook: None,
            email: None,
            alertmanager: None,
            link_base: None,
            timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(10),
            retry_cap: Duration::from_secs(3600),
            max_attempts: 10,
            poll: Duration::from_secs(1),
            resend: Duration::from_secs(60),
            keep: Duration::from_secs(7 * 86_400),
        }
    }
}

/// Largest request body sent to a target (an alert is a few hundred bytes; this bounds what labels can add).
pub const MAX_BODY: usize = 64 * 1024;
/// Deliveries claimed per round.
const CLAIM: i64 = 16;

impl AlertTargets {
    /// The names of the configured targets, as the outbox rows carry them.
    pub fn names(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.webhook.is_some() {
            out.push("webhook".to_string());
        }
        if self.email.is_some() {
            out.push("email".to_string());
        }
        if self.alertmanager.is_some() {
            out.push("alertmanager".to_string());
        }
        out
    }

    /// Retry delay after the `attempts`-th failed attempt.
    pub fn backoff(&self, attempts: i32) -> Duration {
        let exp = (attempts.max(1) - 1).min(30) as u32;
        self.retry_base.saturating_mul(1u32 << exp.min(20)).min(self.retry_cap)
    }

    /// The workbench link of a step's SLO (`None` without `link_base`).
    pub fn link(&self, project: &str, step: &str) -> Option<String> {
        self.link_base.as_ref().map(|b| {
            format!(
                "{}/?project={}&view=slo&step={}",
                b.trim_end_matches('/'),
                webhook::query_escape(project),
                webhook::query_escape(step)
            )
        })
    }
}

/// Checks an outbound target URL: http or https, a host, no credentials (they would end up in logs).
pub fn check_url(option: &str, url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("{option} must be an http:// or https:// URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err(format!("{option} names no host"));
    }
    if authority.contains('@') {
        return Err(format!(
            "{option} must not carry credentials (user:password@): they would be logged"
        ));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{option} contains whitespace or control characters"));
    }
    Ok(())
}

/// The JSON document describing a transition: the webhook body, and the source of the e-mail and Alertmanager
/// forms.
pub fn alert_document(cfg: &AlertTargets, d: &ClaimedDelivery) -> serde_json::Value {
    let a = &d.alert;
    let ms = |v: Option<i64>| {
        v.and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.to_rfc3339())
    };
    serde_json::json!({
        "type": "slo.alert",
        "id": d.event_id,
        "alertId": a.id,
        "state": d.state,
        "at": ms(Some(d.at_ms)),
        "tenant": a.tenant,
        "project": a.project,
        "step": a.step,
        "slo": a.sli,
        "rule": a.rule,
        "severity": a.severity,
        "burnRates": { "long": d.burn_long, "short": d.burn_short },
        "startedAt": ms(Some(a.started_ms)),
        "firedAt": ms(a.fired_ms),
        "resolvedAt": ms(a.resolved_ms),
        "link": cfg.link(&a.project, &a.step),
    })
}

/// Sends one claimed delivery to its target.
async fn send(cfg: &AlertTargets, http: &webhook::Http, d: &ClaimedDelivery) -> Result<Finish, String> {
    match d.target.as_str() {
        "webhook" => match &cfg.webhook {
            Some(w) => w.send(http, cfg, d).await.map(|()| Finish::Delivered),
            None => Err("no webhook target is configured".into()),
        },
        "email" => match &cfg.email {
            // A pending alert is not worth an e-mail; a resolve of one that never fired neither.
            Some(_) if d.state == "pending" || (d.state == "resolved" && d.alert.fired_ms.is_none()) => {
                Ok(Finish::Skipped)
            }
            Some(e) => e.send(cfg, d).await.map(|()| Finish::Delivered),
            None => Err("no e-mail target is configured".into()),
        },
        "alertmanager" => match &cfg.alertmanager {
            Some(_) if d.state == "pending" || (d.state == "resolved" && d.alert.fired_ms.is_none()) => {
                Ok(Finish::Skipped)
            }
            Some(am) => am
                .post(http, cfg, &[alertmanager::from_delivery(d)])
                .await
                .map(|()| Finish::Delivered),
            None => Err("no Alertmanager target is configured".into()),
        },
        other => Err(format!("unknown alert target `{other}`")),
    }
}

/// One attempt, bounded by the timeout; the outcome as the outbox records it.
async fn attempt(cfg: &AlertTargets, http: &webhook::Http, d: &ClaimedDelivery) -> Finish {
    let outcome = match tokio::time::timeout(cfg.timeout, send(cfg, http, d)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} ms", cfg.timeout.as_millis())),
    };
    match outcome {
        Ok(f) => f,
        Err(error) => Finish::Failed {
            retry_in: (d.attempts < cfg.max_attempts).then(|| cfg.backoff(d.attempts)),
            error,
        },
    }
}

/// The delivery task: rounds every `poll` until shutdown; Alertmanager's resend on its own period.
pub(crate) async fn deliverer(engine: Engine, cfg: Arc<AlertTargets>) {
    let http = webhook::client(cfg.timeout);
    let names = cfg.names();
    let owner = engine.config().instance_id.clone();
    // The lease outlasts one bounded attempt, so a live runtime always records its outcome first.
    let lease = cfg.timeout + Duration::from_secs(5);
    let mut stop = engine.shutdown_signal();
    let mut next_resend = tokio::time::Instant::now();
    let mut next_prune = tokio::time::Instant::now();
    loop {
        loop {
            let claimed = match engine
                .store()
                .claim_alert_deliveries(&owner, &names, lease, CLAIM)
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming alert deliveries failed");
                    break;
                }
            };
            if claimed.is_empty() {
                break;
            }
            for d in claimed {
                let finish = attempt(&cfg, &http, &d).await;
                let outcome = match &finish {
                    Finish::Delivered => "delivered",
                    Finish::Skipped => "skipped",
                    Finish::Failed { retry_in: Some(_), .. } => "retrying",
                    Finish::Failed { retry_in: None, .. } => "failed",
                };
                if let Finish::Failed { error, .. } = &finish {
                    tracing::warn!(target_name = %d.target, delivery = d.id, attempt = d.attempts, outcome, "alert delivery failed: {error}");
                }
                if let Some(m) = engine.metrics() {
                    m.alert_delivery(&d.target, outcome);
                }
                match engine
                    .store()
                    .finish_alert_delivery(d.id, &owner, d.attempts, finish)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(delivery = d.id, "alert delivery lease lost; another attempt owns it"),
                    Err(e) => tracing::warn!(delivery = d.id, error = %e, "recording an alert delivery failed"),
                }
            }
        }
        let now = tokio::time::Instant::now();
        if let Some(am) = &cfg.alertmanager {
            if now >= next_resend {
                next_resend = now + cfg.resend;
                am.resend_firing(&engine, &http, &cfg).await;
            }
        }
        if now >= next_prune {
            next_prune = now + Duration::from_secs(3600);
            if let Err(e) = engine.store().prune_alert_outbox(cfg.keep).await {
                tracing::warn!(error = %e, "pruning alert deliveries failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(cfg.poll) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_backoff_is_capped() {
        assert!(check_url("--alert-webhook-url", "https://hooks.example/x").is_ok());
        assert!(check_url("--alert-webhook-url", "ftp://hooks.example/x").is_err());
        assert!(check_url("--alert-webhook-url", "http:///x").is_err());
        let e = check_url("--alert-webhook-url", "https://u:pw@hooks.example/x").unwrap_err();
        assert!(e.contains("credentials") && !e.contains("pw"), "{e}");
        let cfg = AlertTargets {
            retry_base: Duration::from_millis(100),
            retry_cap: Duration::from_secs(1),
            ..Default::default()
        };
        assert_eq!(cfg.backoff(1), Duration::from_millis(100));
        assert_eq!(cfg.backoff(3), Duration::from_millis(400));
        assert_eq!(cfg.backoff(40), Duration::from_secs(1));
    }
}
