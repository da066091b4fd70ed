//! The Alertmanager target: alerts POSTed to `/api/v2/alerts` as Prometheus sends them. Labels `alertname`
//! (`CFPStepSLOBurn`, as the rules `cfp slo rules` generates), `severity`, `tenant`, `project`, `step`, `slo`
//! (the SLI: errors or latency), `sli` and `slo_rule`; annotations with the burn rates and the workbench link.
//! A firing transition is posted with `endsAt` four resend periods ahead, and every firing alert is posted again
//! each resend period (Alertmanager resolves an alert that is not re-sent by its `endsAt`, as it does for
//! Prometheus); a resolved transition is posted with `endsAt` = the resolution time.

use bytes::Bytes;
use cfp_store::alert_outbox::ClaimedDelivery;
use cfp_store::slo::AlertRow;
use http_body_util::Full;
use serde_json::{json, Value};

use super::webhook::Http;
use super::AlertTargets;
use crate::Engine;

/// An Alertmanager base URL (`http://alertmanager:9093`).
#[derive(Debug, Clone)]
pub struct AlertmanagerTarget {
    pub url: String,
}

impl AlertmanagerTarget {
    pub fn new(url: &str) -> Result<Self, String> {
        super::check_url("--alert-alertmanager-url", url)?;
        Ok(Self {
            url: url.trim_end_matches('/').to_string(),
        })
    }

    /// Posts alerts (one request).
    pub(crate) async fn post(&self, http: &Http, cfg: &AlertTargets, alerts: &[Alert<'_>]) -> Result<(), String> {
        let ends = chrono::Utc::now() + cfg.resend * 4;
        let body: Vec<Value> = alerts.iter().map(|a| a.to_json(cfg, ends)).collect();
        let body = serde_json::to_string(&body).map_err(|e| e.to_string())?;
        if body.len() > super::MAX_BODY * 16 {
            return Err(format!("{} alerts are too large to post at once", alerts.len()));
        }
        let req = hyper::Request::post(format!("{}/api/v2/alerts", self.url))
            .header("content-type", "application/json")
            .header("user-agent", "cfp-runtime")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        super::webhook::post(http, req).await
    }

    /// Posts every firing alert again (in chunks), so Alertmanager keeps them open.
    pub(crate) async fn resend_firing(&self, engine: &Engine, http: &Http, cfg: &AlertTargets) {
        let open = match engine.store().open_alerts().await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(error = %e, "reading firing alerts for Alertmanager failed");
                return;
            }
        };
        let firing: Vec<Alert> = open
            .iter()
            .filter(|a| a.state == "firing")
            .map(|a| Alert {
                row: a,
                resolved_ms: None,
                burn: (a.burn_long, a.burn_short),
            })
            .collect();
        for chunk in firing.chunks(100) {
            let outcome = match tokio::time::timeout(cfg.timeout, self.post(http, cfg, chunk)).await {
                Ok(Ok(())) => "delivered",
                Ok(Err(e)) => {
                    tracing::warn!("re-sending firing alerts to Alertmanager failed: {e}");
                    "retrying"
                }
                Err(_) => {
                    tracing::warn!("re-sending firing alerts to Alertmanager: no answer in time");
                    "retrying"
                }
            };
            if let Some(m) = engine.metrics() {
                m.alert_delivery("alertmanager_resend", outcome);
            }
        }
    }
}

/// An alert as posted: the alert row, and when it resolved (the transition's time) if it did.
pub(crate) struct Alert<'a> {
    row: &'a AlertRow,
    resolved_ms: Option<i64>,
    burn: (f64, f64),
}

pub(crate) fn from_delivery(d: &ClaimedDelivery) -> Alert<'_> {
    Alert {
        row: &d.alert,
        resolved_ms: (d.state == "resolved").then_some(d.at_ms),
        burn: (d.burn_long, d.burn_short),
    }
}

impl Alert<'_> {
    fn to_json(&self, cfg: &AlertTargets, firing_ends: chrono::DateTime<chrono::Utc>) -> Value {
        let a = self.row;
        let time = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .unwrap_or_default()
                .to_rfc3339()
        };
        let ends = self.resolved_ms.map_or_else(|| firing_ends.to_rfc3339(), time);
        let mut v = json!({
            "labels": {
                "alertname": "CFPStepSLOBurn",
                "severity": a.severity,
                "tenant": a.tenant,
                "project": a.project,
                "step": a.step,
                "slo": a.sli,
                "sli": a.sli,
                "slo_rule": a.rule,
            },
            "annotations": {
                "summary": format!("{} SLO of step {} burns its error budget ({})", a.sli, a.step, a.rule),
                "burn_rate_long": format!("{:.3}", self.burn.0),
                "burn_rate_short": format!("{:.3}", self.burn.1),
            },
            "startsAt": time(a.fired_ms.unwrap_or(a.started_ms)),
            "endsAt": ends,
        });
        if let Some(link) = cfg.link(&a.project, &a.step) {
            v["generatorURL"] = json!(link);
        }
        v
    }
}
