//! The runtime's SLO evaluator option (`--slo-policy`, docs/slo.md "Alerting policy"): empty for the SRE
//! workbook's rules, `off` for no evaluator on this replica, or a JSON object in the shape `GET /__cfp/api/slo`
//! reports under `policy` — `{"rules": [{"name", "severity", "longSecs", "shortSecs", "factor", "forSecs"}],
//! "minEvents": 100, "intervalSeconds": 30}`; omitted keys keep the workbook's values.

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use cfp_engine::slo::{BurnRule, SloPolicy};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PolicyJson {
    rules: Option<Vec<BurnRule>>,
    min_events: Option<u64>,
    interval_seconds: Option<u64>,
}

/// Parses `--slo-policy`; `None` turns the evaluator off.
pub fn parse(value: &str) -> Result<Option<SloPolicy>> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(Some(SloPolicy::default()));
    }
    if value == "off" {
        return Ok(None);
    }
    let j: PolicyJson = serde_json::from_str(value).map_err(|e| anyhow!("--slo-policy: not a policy object ({e})"))?;
    let mut p = SloPolicy::default();
    if let Some(rules) = j.rules {
        p.rules = rules;
    }
    if let Some(n) = j.min_events {
        p.min_events = n;
    }
    if let Some(s) = j.interval_seconds {
        if !(1..=3600).contains(&s) {
            bail!("--slo-policy: intervalSeconds must be 1 to 3600, got {s}");
        }
        p.interval = Duration::from_secs(s);
    }
    p.check().map_err(|e| anyhow!("--slo-policy: {e}"))?;
    Ok(Some(p))
}

/// The policy as `--print-config` shows it.
pub fn to_json(p: &Option<SloPolicy>) -> serde_json::Value {
    match p {
        None => "off".into(),
        Some(p) => {
            serde_json::json!({ "rules": p.rules, "minEvents": p.min_events, "intervalSeconds": p.interval.as_secs() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_option() {
        assert_eq!(parse("").unwrap(), Some(SloPolicy::default()));
        assert_eq!(parse("off").unwrap(), None);
        let p = parse(
            r#"{"intervalSeconds":1,"minEvents":5,"rules":[{"name":"fast","severity":"page","longSecs":120,"shortSecs":60,"factor":2,"forSecs":3}]}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (p.interval, p.min_events, p.rules.len(), p.rules[0].for_secs),
            (Duration::from_secs(1), 5, 1, 3)
        );
        // only what is given changes
        assert_eq!(
            parse(r#"{"minEvents":7}"#).unwrap().unwrap().rules,
            SloPolicy::default().rules
        );
        // refused with what was wrong
        let err = |v: &str| parse(v).unwrap_err().to_string();
        assert!(err(r#"{"intervalSeconds":0}"#).contains("intervalSeconds"));
        assert!(err(
            r#"{"rules":[{"name":"x","severity":"page","longSecs":60,"shortSecs":10,"factor":2,"forSecs":0}]}"#
        )
        .contains("`x`"));
        assert!(err(r#"{"ruls":[]}"#).contains("ruls"));
        assert!(err("fast").contains("--slo-policy"));
    }
}
