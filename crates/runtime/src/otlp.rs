//! The runtime's OTLP export options (`--otlp-endpoint`, `--otlp-headers`, `--trace-sample-ratio` in
//! [`crate::options_spec`]; `--otlp-logs`, the buffer, batch delay and shutdown flush here, [`SPEC`]).

use std::time::Duration;

use anyhow::{bail, Context, Result};

/// (flag, env, default, help) of the export's tuning options (chained into `cfp-runtime --help`).
pub const SPEC: &[(&str, &str, &str, &str)] = &[
    (
        "--otlp-logs",
        "CFP_OTLP_LOGS",
        "on",
        "with --otlp-endpoint, also export step log lines as OTLP log records (…/v1/logs), with the attempt's trace and span ids: on or off",
    ),
    (
        "--otlp-buffer",
        "CFP_OTLP_BUFFER",
        "8192",
        "spans (and, separately, log records) waiting for export; beyond, new ones are dropped and counted in cfp_otlp_dropped_total",
    ),
    (
        "--otlp-batch-delay-ms",
        "CFP_OTLP_BATCH_DELAY_MS",
        "1000",
        "a partial OTLP batch is sent after this many ms (a full one, 512 items, at once)",
    ),
    (
        "--otlp-flush-timeout-ms",
        "CFP_OTLP_FLUSH_TIMEOUT_MS",
        "2000",
        "on shutdown, how long to wait for buffered spans and log records to be sent",
    ),
];

pub struct OtlpOptions {
    /// The traces URL (`…/v1/traces`).
    pub url: String,
    /// The logs URL (`…/v1/logs`); `None` with `--otlp-logs off`.
    pub logs_url: Option<String>,
    pub headers: Vec<(String, String)>,
    pub buffer: usize,
    pub batch_delay: Duration,
    pub flush_timeout: Duration,
}

/// The running exporters.
pub struct Exporters {
    pub spans: cfp_otel::Exporter,
    pub logs: Option<cfp_otel::Exporter<cfp_otel::LogData>>,
    flush_timeout: Duration,
}

impl OtlpOptions {
    /// Validates the options; `None` when no endpoint is set. The ratio is returned with them.
    pub fn parse(get: &dyn Fn(&str) -> String) -> Result<(Option<Self>, f64)> {
        let (endpoint, headers, ratio) = (
            get("--otlp-endpoint"),
            get("--otlp-headers"),
            get("--trace-sample-ratio"),
        );
        let ratio: f64 = match ratio.trim().parse() {
            Ok(r) if (0.0..=1.0).contains(&r) => r,
            _ => bail!("--trace-sample-ratio must be a number from 0 to 1, got `{ratio}`"),
        };
        let logs = match get("--otlp-logs").to_ascii_lowercase().trim() {
            "on" | "true" | "1" => true,
            "off" | "false" | "0" => false,
            other => bail!("--otlp-logs must be on or off, got `{other}`"),
        };
        let num = |flag: &str, min: u64, max: u64| -> Result<u64> {
            let v = get(flag);
            v.trim()
                .parse::<u64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .with_context(|| format!("{flag} must be a whole number from {min} to {max}, got `{v}`"))
        };
        let buffer = num("--otlp-buffer", 1, 1 << 20)? as usize;
        let batch_delay = Duration::from_millis(num("--otlp-batch-delay-ms", 1, 3_600_000)?);
        let flush_timeout = Duration::from_millis(num("--otlp-flush-timeout-ms", 0, 60_000)?);
        let headers = cfp_otel::parse_headers(&headers).map_err(|e| anyhow::anyhow!("--otlp-headers: {e}"))?;
        if endpoint.trim().is_empty() {
            if !headers.is_empty() {
                bail!("--otlp-headers needs --otlp-endpoint");
            }
            return Ok((None, ratio));
        }
        let url = cfp_otel::traces_url(&endpoint).map_err(|e| anyhow::anyhow!("--otlp-endpoint: {e}"))?;
        let logs_url = if logs {
            Some(cfp_otel::logs_url(&endpoint).map_err(|e| anyhow::anyhow!("--otlp-endpoint: {e}"))?)
        } else {
            None
        };
        Ok((
            Some(Self {
                url,
                logs_url,
                headers,
                buffer,
                batch_delay,
                flush_timeout,
            }),
            ratio,
        ))
    }

    fn config(&self, url: &str) -> cfp_otel::ExporterConfig {
        let mut cfg = cfp_otel::ExporterConfig::new(url.to_string());
        cfg.headers = self.headers.clone();
        cfg.buffer = self.buffer;
        cfg.interval = self.batch_delay;
        cfg
    }

    /// Starts the exporters (on the current Tokio runtime).
    pub fn start(&self) -> Exporters {
        tracing::info!(url = %self.url, logs = ?self.logs_url, "exporting spans over OTLP/HTTP");
        Exporters {
            spans: cfp_otel::Exporter::start(self.config(&self.url)),
            logs: self
                .logs_url
                .as_deref()
                .map(|u| cfp_otel::Exporter::start(self.config(u))),
            flush_timeout: self.flush_timeout,
        }
    }
}

impl Exporters {
    /// Sends what is buffered, both signals at once, within `--otlp-flush-timeout-ms` (graceful shutdown).
    pub async fn flush(&self) {
        let logs = async {
            match &self.logs {
                Some(l) => l.flush(self.flush_timeout).await,
                None => true,
            }
        };
        let (spans, logs) = tokio::join!(self.spans.flush(self.flush_timeout), logs);
        if !(spans && logs) {
            tracing::warn!(
                "OTLP export: not everything buffered was sent within {} ms of shutting down",
                self.flush_timeout.as_millis()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<(Option<OtlpOptions>, f64)> {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(f, _)| *f == k)
                .map(|(_, v)| v.to_string())
                .or_else(|| {
                    SPEC.iter()
                        .chain(crate::options_spec::SPEC)
                        .find(|(f, ..)| *f == k)
                        .map(|s| s.2.to_string())
                })
                .unwrap()
        };
        OtlpOptions::parse(&get)
    }

    #[test]
    fn options() {
        let (o, r) = parse(&[
            ("--otlp-endpoint", "http://127.0.0.1:4318"),
            ("--otlp-headers", "authorization=Bearer x"),
            ("--trace-sample-ratio", "0.5"),
        ])
        .unwrap();
        let o = o.unwrap();
        assert_eq!(o.url, "http://127.0.0.1:4318/v1/traces");
        assert_eq!(
            o.logs_url.as_deref(),
            Some("http://127.0.0.1:4318/v1/logs"),
            "logs on by default"
        );
        assert_eq!(
            (o.buffer, o.batch_delay, o.flush_timeout),
            (8192, Duration::from_secs(1), Duration::from_secs(2))
        );
        assert_eq!(r, 0.5);
        let (o, _) = parse(&[("--otlp-endpoint", "http://c/v1/traces"), ("--otlp-logs", "off")]).unwrap();
        assert!(o.unwrap().logs_url.is_none());
        assert!(parse(&[]).unwrap().0.is_none());
        assert!(parse(&[("--otlp-headers", "a=b")]).is_err());
        assert!(parse(&[("--otlp-endpoint", "collector:4318")]).is_err());
        assert!(parse(&[("--otlp-endpoint", "http://c"), ("--trace-sample-ratio", "1.5")]).is_err());
        assert!(parse(&[("--otlp-endpoint", "http://c"), ("--trace-sample-ratio", "nan")]).is_err());
        assert!(parse(&[("--otlp-logs", "maybe")]).is_err());
        assert!(parse(&[("--otlp-buffer", "0")]).is_err());
        assert!(parse(&[("--otlp-batch-delay-ms", "0")]).is_err());
        assert!(parse(&[("--otlp-flush-timeout-ms", "600000")]).is_err());
    }
}
