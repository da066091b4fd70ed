//! The webhook target: the transition as JSON ([`super::alert_document`]), POSTed with the same signature as the
//! control plane's security alerts, so receivers verify both the same way:
//! `X-CFP-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, plus `X-CFP-Alert-Id` (the
//! transition's id: deliveries are at least once, receivers de-duplicate by it). A 2xx answer delivers; anything
//! else (status, redirect, refused connection, timeout) is retried.

use std::time::Duration;

use bytes::Bytes;
use cfp_store::alert_outbox::ClaimedDelivery;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::AlertTargets;

pub type Http = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A webhook URL and its signing secret (never logged, never shown: `Debug` masks it).
#[derive(Clone)]
pub struct WebhookTarget {
    pub url: String,
    secret: String,
}

impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("url", &self.url)
            .field("secret", &"***")
            .finish()
    }
}

impl WebhookTarget {
    /// Checks the URL (http/https, no credentials) and that a secret of at least 16 bytes is set.
    pub fn new(url: &str, secret: &str) -> Result<Self, String> {
        super::check_url("--alert-webhook-url", url)?;
        if secret.len() < 16 {
            return Err("--alert-webhook-secret must be at least 16 characters (alerts are signed with it)".into());
        }
        Ok(Self {
            url: url.to_string(),
            secret: secret.to_string(),
        })
    }

    pub(crate) async fn send(&self, http: &Http, cfg: &AlertTargets, d: &ClaimedDelivery) -> Result<(), String> {
        let body = super::alert_document(cfg, d).to_string();
        if body.len() > super::MAX_BODY {
            return Err(format!(
                "the alert is {} bytes, more than {}",
                body.len(),
                super::MAX_BODY
            ));
        }
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let req = hyper::Request::post(&self.url)
            .header("content-type", "application/json")
            .header("user-agent", "cfp-runtime")
            .header("x-cfp-event", "slo.alert")
            .header("x-cfp-alert-id", d.event_id.to_string())
            .header("x-cfp-signature", signature(&self.secret, t, &body))
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        post(http, req).await
    }
}

/// The `X-CFP-Signature` value of a body sent at unix time `t`.
pub fn signature(secret: &str, t: u64, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body.as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Sends a request; Ok on 2xx. The answer is read (bounded) so the connection can be reused; errors name the
/// status or the transport failure, never the request's headers.
pub(crate) async fn post(http: &Http, req: hyper::Request<Full<Bytes>>) -> Result<(), String> {
    let res = http.request(req).await.map_err(|e| {
        let mut s = format!("{e}");
        if let Some(src) = std::error::Error::source(&e) {
            s.push_str(&format!(": {src}"));
        }
        s
    })?;
    let status = res.status();
    let _ = http_body_util::Limited::new(res.into_body(), 16 * 1024).collect().await;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the target answered {status}"))
    }
}

/// The HTTP(S) client of the alert targets (no redirects followed: hyper's client follows none).
pub fn client(timeout: Duration) -> Http {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_connect_timeout(Some(timeout));
    tcp.set_nodelay(true);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .expect("the ring provider supports rustls' default protocol versions")
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
}

/// Percent-escapes a query value.
pub fn query_escape(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_signature_matches_the_control_planes() {
        // The value deliver.ts computes: createHmac('sha256', 'secret').update('1700000000.{"a":1}').digest('hex').
        let sig = super::signature("secret", 1_700_000_000, r#"{"a":1}"#);
        assert_eq!(
            sig,
            "t=1700000000,v1=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
        );
    }
}
