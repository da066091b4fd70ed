//! The runtime's OTLP export options (`--otlp-endpoint`, `--otlp-headers`, `--trace-sample-ratio`).

use anyhow::{bail, Result};

pub struct OtlpOptions {
    /// The traces URL (`…/v1/traces`).
    pub url: String,
    pub headers: Vec<(String, String)>,
}

impl OtlpOptions {
    /// Validates the options; `None` when no endpoint is set. The ratio is returned with them.
    pub fn parse(endpoint: &str, headers: &str, ratio: &str) -> Result<(Option<Self>, f64)> {
        let ratio: f64 = match ratio.trim().parse() {
            Ok(r) if (0.0..=1.0).contains(&r) => r,
            _ => bail!("--trace-sample-ratio must be a number from 0 to 1, got `{ratio}`"),
        };
        let headers = cfp_otel::parse_headers(headers).map_err(|e| anyhow::anyhow!("--otlp-headers: {e}"))?;
        if endpoint.trim().is_empty() {
            if !headers.is_empty() {
                bail!("--otlp-headers needs --otlp-endpoint");
            }
            return Ok((None, ratio));
        }
        let url = cfp_otel::traces_url(endpoint).map_err(|e| anyhow::anyhow!("--otlp-endpoint: {e}"))?;
        Ok((Some(Self { url, headers }), ratio))
    }

    /// Starts the exporter (on the current Tokio runtime).
    pub fn start(&self) -> cfp_otel::Exporter {
        let mut cfg = cfp_otel::ExporterConfig::new(self.url.clone());
        cfg.headers = self.headers.clone();
        tracing::info!(url = %self.url, "exporting spans over OTLP/HTTP");
        cfp_otel::Exporter::start(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let (o, r) = OtlpOptions::parse("http://127.0.0.1:4318", "authorization=Bearer x", "0.5").unwrap();
        assert_eq!(o.unwrap().url, "http://127.0.0.1:4318/v1/traces");
        assert_eq!(r, 0.5);
        assert!(OtlpOptions::parse("", "", "1").unwrap().0.is_none());
        assert!(OtlpOptions::parse("", "a=b", "1").is_err());
        assert!(OtlpOptions::parse("collector:4318", "", "1").is_err());
        assert!(OtlpOptions::parse("http://c", "", "1.5").is_err());
        assert!(OtlpOptions::parse("http://c", "", "nan").is_err());
    }
}
