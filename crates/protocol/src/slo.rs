//! A step's service-level objectives: `config.slo` in a step file (a key Motia ignores), or a per-project
//! override set through the runtime API (docs/slo.md).
//!
//! ```json
//! { "window": "28d", "latency": { "thresholdMs": 500, "target": 0.99 }, "errors": { "target": 0.999 } }
//! ```
//!
//! The manifest carries the object as JSON ([`crate::StepManifest::slo`]) so that one malformed SLO refuses only
//! its step at registration (with the field named) instead of the whole `register` frame; [`SloSpec::parse`]
//! turns it into the typed form.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Upper bounds (milliseconds) of the latency histograms (rollups and the Prometheus histogram): an SLO's
/// latency threshold must be one of them, so every evaluator counts the same attempts as fast enough.
pub const LATENCY_BOUNDS_MS: [u32; 31] = [
    1, 2, 5, 10, 20, 25, 50, 75, 100, 150, 200, 250, 300, 400, 500, 750, 1_000, 1_500, 2_000, 2_500, 3_000, 4_000,
    5_000, 7_500, 10_000, 15_000, 20_000, 30_000, 60_000, 120_000, 300_000,
];

/// The SLO window when none is given.
pub const DEFAULT_WINDOW_DAYS: u32 = 28;
/// The longest SLO window (hour rollups are kept 13 months; budgets beyond a quarter are reports, not SLOs).
pub const MAX_WINDOW_DAYS: u32 = 90;
/// The highest target accepted: a budget smaller than 1e-5 cannot be measured from minute buckets.
pub const MAX_TARGET: f64 = 0.99999;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SloSpec {
    /// Display name (default: the step's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Rolling window, `<days>d`.
    pub window: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyObjective>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<ErrorObjective>,
    /// Fewest attempts in an alert's long window for it to fire (default: the runtime's setting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_events: Option<u64>,
}

/// Attempts that take at most `threshold_ms` are good; `target` of all measured attempts must be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LatencyObjective {
    pub threshold_ms: u32,
    pub target: f64,
}

/// Attempts that end `ok` are good; `target` of all attempts must be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorObjective {
    pub target: f64,
}

impl SloSpec {
    /// The window in seconds.
    pub fn window_secs(&self) -> u64 {
        parse_window(&self.window).unwrap_or(DEFAULT_WINDOW_DAYS) as u64 * 86_400
    }

    /// Parses and checks an SLO object; the error names the offending field (`slo.latency.target: ...`).
    pub fn parse(v: &Value) -> Result<SloSpec, String> {
        let obj = object(v, "slo")?;
        only(
            obj,
            "slo",
            &["name", "description", "window", "latency", "errors", "minEvents"],
        )?;
        let name = opt_string(obj, "slo.name", "name", 128)?;
        if let Some(n) = &name {
            if n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                return Err("slo.name: must be 1 to 128 characters of letters, digits, `-`, `_` and `.`".into());
            }
        }
        let description = opt_string(obj, "slo.description", "description", 1024)?;
        let window = match obj.get("window") {
            None | Some(Value::Null) => format!("{DEFAULT_WINDOW_DAYS}d"),
            Some(Value::String(w)) => match parse_window(w) {
                Some(_) => w.clone(),
                None => {
                    return Err(format!(
                    "slo.window: `{w}` is not a window; expected whole days from 1d to {MAX_WINDOW_DAYS}d, like `28d`"
                ))
                }
            },
            Some(_) => return Err("slo.window: must be a string like `28d`".into()),
        };
        let latency = match obj.get("latency") {
            None | Some(Value::Null) => None,
            Some(l) => {
                let o = object(l, "slo.latency")?;
                only(o, "slo.latency", &["thresholdMs", "target"])?;
                let threshold = match o.get("thresholdMs") {
                    Some(Value::Number(n)) => n
                        .as_u64()
                        .filter(|t| LATENCY_BOUNDS_MS.contains(&(*t as u32)) && *t <= u32::MAX as u64),
                    None => return Err("slo.latency.thresholdMs: required".into()),
                    _ => None,
                };
                let Some(threshold_ms) = threshold else {
                    return Err(format!(
                        "slo.latency.thresholdMs: must be one of the histogram bounds {LATENCY_BOUNDS_MS:?} (milliseconds)"
                    ));
                };
                Some(LatencyObjective {
                    threshold_ms: threshold_ms as u32,
                    target: target(o, "slo.latency.target")?,
                })
            }
        };
        let errors = match obj.get("errors") {
            None | Some(Value::Null) => None,
            Some(e) => {
                let o = object(e, "slo.errors")?;
                only(o, "slo.errors", &["target"])?;
                Some(ErrorObjective {
                    target: target(o, "slo.errors.target")?,
                })
            }
        };
        if latency.is_none() && errors.is_none() {
            return Err("slo: has neither `latency` nor `errors`; give at least one objective".into());
        }
        let min_events = match obj.get("minEvents") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64().filter(|n| *n <= 1_000_000) {
                Some(n) => Some(n),
                None => return Err("slo.minEvents: must be a whole number from 0 to 1000000".into()),
            },
        };
        Ok(SloSpec {
            name,
            description,
            window,
            latency,
            errors,
            min_events,
        })
    }
}

/// Days of a `<n>d` window within bounds.
pub fn parse_window(w: &str) -> Option<u32> {
    let days: u32 = w.strip_suffix('d')?.parse().ok()?;
    (1..=MAX_WINDOW_DAYS).contains(&days).then_some(days)
}

fn object<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object().ok_or_else(|| format!("{field}: must be an object"))
}

fn only(obj: &Map<String, Value>, field: &str, keys: &[&str]) -> Result<(), String> {
    match obj.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "{field}.{k}: unknown field; expected one of {}",
            keys.join(", ")
        )),
        None => Ok(()),
    }
}

fn opt_string(obj: &Map<String, Value>, field: &str, key: &str, max: usize) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= max => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(format!("{field}: longer than {max} bytes")),
        Some(_) => Err(format!("{field}: must be a string")),
    }
}

fn target(obj: &Map<String, Value>, field: &str) -> Result<f64, String> {
    match obj.get("target").and_then(Value::as_f64) {
        Some(t) if t > 0.0 && t <= MAX_TARGET => Ok(t),
        Some(t) => Err(format!(
            "{field}: {t} is outside (0, {MAX_TARGET}]; a target is a ratio like 0.999"
        )),
        None => Err(format!("{field}: required, a number like 0.999")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_full_slo_parses_with_defaults() {
        let s = SloSpec::parse(&json!({"latency": {"thresholdMs": 500, "target": 0.99}, "errors": {"target": 0.999}}))
            .unwrap();
        assert_eq!(s.window, "28d");
        assert_eq!(s.window_secs(), 28 * 86_400);
        assert_eq!(s.latency.unwrap().threshold_ms, 500);
        assert_eq!(s.errors.unwrap().target, 0.999);
    }

    #[test]
    fn every_invalid_field_is_named() {
        let cases = [
            (json!("fast"), "slo: must be an object"),
            (json!({}), "slo: has neither"),
            (json!({"errors": {"target": 1.0}}), "slo.errors.target"),
            (json!({"errors": {"target": "0.9"}}), "slo.errors.target: required"),
            (json!({"errors": {"target": 0.9}, "window": "4w"}), "slo.window"),
            (json!({"errors": {"target": 0.9}, "window": "365d"}), "slo.window"),
            (
                json!({"latency": {"thresholdMs": 333, "target": 0.9}}),
                "slo.latency.thresholdMs",
            ),
            (json!({"latency": {"target": 0.9}}), "slo.latency.thresholdMs: required"),
            (
                json!({"latency": {"thresholdMs": 500, "target": 0.0}}),
                "slo.latency.target",
            ),
            (
                json!({"errors": {"target": 0.9, "x": 1}}),
                "slo.errors.x: unknown field",
            ),
            (json!({"errors": {"target": 0.9}, "minEvents": -1}), "slo.minEvents"),
            (json!({"errors": {"target": 0.9}, "name": "a b"}), "slo.name"),
            (
                json!({"errors": {"target": 0.9}, "budget": 3}),
                "slo.budget: unknown field",
            ),
        ];
        for (v, want) in cases {
            let e = SloSpec::parse(&v).unwrap_err();
            assert!(e.starts_with(want), "{v}: {e}");
        }
    }
}
