//! The runtime's own observability options: Prometheus metrics (`--metrics*`, `docs/metrics.md`) and the log
//! format (`--log-format json|pretty`).

use std::net::SocketAddr;

use anyhow::{bail, Context, Result};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct MetricsOptions {
    pub enabled: bool,
    pub token: Option<String>,
    pub listen: Option<SocketAddr>,
    pub max_series: usize,
    pub extra_buckets: Vec<f64>,
}

impl MetricsOptions {
    pub fn parse(on: &str, token: &str, listen: &str, max_series: &str, buckets: &str) -> Result<Self> {
        let enabled = match on.to_ascii_lowercase().as_str() {
            "on" | "true" | "1" => true,
            "off" | "false" | "0" => false,
            other => bail!("--metrics must be on or off, got `{other}`"),
        };
        let token = Some(token.to_string()).filter(|t| !t.is_empty());
        if token.as_ref().is_some_and(|t| t.len() < 16) {
            bail!("--metrics-token must be at least 16 characters");
        }
        let listen =
            match listen.trim() {
                "" => None,
                addr => Some(addr.parse::<SocketAddr>().with_context(|| {
                    format!("--metrics-listen must be an address like 127.0.0.1:9464, got `{addr}`")
                })?),
            };
        let max_series: usize = max_series
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .with_context(|| format!("--metrics-max-series must be a whole number above 0, got `{max_series}`"))?;
        let mut extra_buckets = Vec::new();
        for b in buckets.split(',').map(str::trim).filter(|b| !b.is_empty()) {
            match b.parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 => extra_buckets.push(v),
                _ => bail!("--metrics-extra-buckets: `{b}` is not a positive number of seconds"),
            }
        }
        Ok(Self {
            enabled,
            token,
            listen,
            max_series,
            extra_buckets,
        })
    }

    pub fn engine_config(&self) -> cfp_engine::metrics::MetricsConfig {
        cfp_engine::metrics::MetricsConfig {
            enabled: self.enabled,
            max_series: self.max_series,
            extra_buckets: self.extra_buckets.clone(),
            ..Default::default()
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "enabled": self.enabled,
            "token": self.token.as_ref().map(|_| "***"),
            "listen": self.listen.map(|a| a.to_string()),
            "maxSeries": self.max_series,
            "extraBuckets": self.extra_buckets,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl LogFormat {
    /// `json` or `pretty`; empty: pretty in dev mode, JSON otherwise.
    pub fn parse(v: &str, dev: bool) -> Result<Self> {
        Ok(match v.to_ascii_lowercase().as_str() {
            "" if dev => LogFormat::Pretty,
            "" | "json" => LogFormat::Json,
            "pretty" => LogFormat::Pretty,
            other => bail!("--log-format must be json or pretty, got `{other}`"),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Json => "json",
            LogFormat::Pretty => "pretty",
        }
    }
}

/// Sets up the runtime's log output on stderr (`CFP_LOG` filters). JSON: one object per line with `timestamp`,
/// `level`, `target`, `message` and the event's fields flattened (`tenant`, `project`, `trace_id`, `span_id`
/// where the event or the span it is in carries them). Pretty: one coloured line per event on a terminal.
pub fn init_logs(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("CFP_LOG").unwrap_or_else(|_| "info,sqlx=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
        LogFormat::Pretty => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_options_are_checked() {
        let o = MetricsOptions::parse("on", "", "127.0.0.1:9464", "50", "0.3, 2").unwrap();
        assert_eq!(o.listen.unwrap().port(), 9464);
        assert_eq!((o.max_series, o.extra_buckets.clone()), (50, vec![0.3, 2.0]));
        assert!(!MetricsOptions::parse("off", "", "", "1", "").unwrap().enabled);
        for (args, flag) in [
            (["maybe", "", "", "1", ""], "--metrics must"),
            (["on", "short", "", "1", ""], "--metrics-token"),
            (["on", "", "nowhere", "1", ""], "--metrics-listen"),
            (["on", "", "", "0", ""], "--metrics-max-series"),
            (["on", "", "", "1", "-1"], "--metrics-extra-buckets"),
        ] {
            let e = MetricsOptions::parse(args[0], args[1], args[2], args[3], args[4])
                .unwrap_err()
                .to_string();
            assert!(e.contains(flag), "{e}");
        }
    }

    #[test]
    fn log_format_defaults_to_pretty_only_in_dev() {
        assert_eq!(LogFormat::parse("", true).unwrap(), LogFormat::Pretty);
        assert_eq!(LogFormat::parse("", false).unwrap(), LogFormat::Json);
        assert_eq!(LogFormat::parse("json", true).unwrap(), LogFormat::Json);
        assert!(LogFormat::parse("xml", false).is_err());
    }
}
