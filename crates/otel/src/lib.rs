//! OpenTelemetry export of the runtime's spans (`docs/tracing.md`).
//!
//! - [`proto`]: a minimal protobuf encoder of OTLP's `ExportTraceServiceRequest` (tested against the official
//!   definitions).
//! - [`Exporter`]: a handle that takes finished spans without ever blocking or failing ([`Exporter::submit`]:
//!   a bounded buffer, overflow dropped and counted) and a background task that sends them in batches as
//!   OTLP/HTTP protobuf (`POST …/v1/traces`, `application/x-protobuf`), so an unreachable or slow endpoint never
//!   slows step execution.

pub mod proto;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;

/// An attribute value (OTLP `AnyValue` scalars).
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Str(String),
    Bool(bool),
    Int(i64),
    Double(f64),
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> Self {
        AttrValue::Str(s.to_string())
    }
}
impl From<String> for AttrValue {
    fn from(s: String) -> Self {
        AttrValue::Str(s)
    }
}
impl From<i64> for AttrValue {
    fn from(i: i64) -> Self {
        AttrValue::Int(i)
    }
}
impl From<bool> for AttrValue {
    fn from(b: bool) -> Self {
        AttrValue::Bool(b)
    }
}

/// OTLP `Span.SpanKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

impl SpanKind {
    /// The lowercase name used on the worker protocol (`internal` when unknown).
    pub fn from_name(name: Option<&str>) -> Self {
        match name {
            Some("server") => SpanKind::Server,
            Some("client") => SpanKind::Client,
            Some("producer") => SpanKind::Producer,
            Some("consumer") => SpanKind::Consumer,
            _ => SpanKind::Internal,
        }
    }
}

/// OTLP `Status.StatusCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusCode {
    #[default]
    Unset = 0,
    Ok = 1,
    Error = 2,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    pub code: StatusCode,
    pub message: String,
}

/// A finished span to export.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanData {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent_span_id: Option<[u8; 8]>,
    /// Whether the parent came from outside this process (a `traceparent` header, a queue row, a worker).
    pub parent_is_remote: bool,
    pub flags: u8,
    pub tracestate: Option<String>,
    pub name: String,
    pub kind: SpanKind,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub attributes: Vec<(String, AttrValue)>,
    pub dropped_attributes: u32,
    pub status: Status,
    /// The instrumentation scope: `cfp-runtime` for attempts, `cfp-worker` for step code's spans.
    pub scope: &'static str,
}

/// Where and how to export.
#[derive(Debug, Clone)]
pub struct ExporterConfig {
    /// The OTLP/HTTP traces URL (`http(s)://host:4318/v1/traces`); see [`traces_url`].
    pub url: String,
    /// Extra request headers (`authorization`, vendor keys).
    pub headers: Vec<(String, String)>,
    /// `service.name` and other resource attributes.
    pub resource: Vec<(String, AttrValue)>,
    /// Spans waiting to be sent; beyond, new spans are dropped and counted.
    pub buffer: usize,
    /// Most spans in one request.
    pub batch: usize,
    /// A partial batch is sent after this long.
    pub interval: Duration,
    /// One request's deadline (connect included); a failed batch is dropped and counted.
    pub timeout: Duration,
}

impl ExporterConfig {
    pub fn new(url: String) -> Self {
        Self {
            url,
            headers: Vec::new(),
            resource: vec![("service.name".into(), AttrValue::Str("cfp-runtime".into()))],
            buffer: 8192,
            batch: 512,
            interval: Duration::from_millis(1000),
            timeout: Duration::from_secs(10),
        }
    }
}

/// The traces URL of an OTLP endpoint option: a base URL (`http://collector:4318`, as
/// `OTEL_EXPORTER_OTLP_ENDPOINT`) gets `/v1/traces` appended; a URL already ending in `/v1/traces` is kept.
pub fn traces_url(endpoint: &str) -> Result<String, String> {
    let e = endpoint.trim();
    let rest = e
        .strip_prefix("http://")
        .or_else(|| e.strip_prefix("https://"))
        .ok_or_else(|| format!("`{e}` is not an http:// or https:// URL"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("`{e}` names no host"));
    }
    if e.ends_with("/v1/traces") {
        return Ok(e.to_string());
    }
    Ok(format!("{}/v1/traces", e.trim_end_matches('/')))
}

/// Parses `--otlp-headers` (`key=value,key2=value2`, as `OTEL_EXPORTER_OTLP_HEADERS`; values percent-decoded
/// is not supported: they are taken as written).
pub fn parse_headers(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("`{pair}` is not key=value"))?;
        let (k, v) = (k.trim(), v.trim());
        if hyper::header::HeaderName::from_bytes(k.as_bytes()).is_err()
            || hyper::header::HeaderValue::from_str(v).is_err()
        {
            return Err(format!("`{k}` is not a valid header name and value"));
        }
        out.push((k.to_ascii_lowercase(), v.to_string()));
    }
    Ok(out)
}

/// Counters of the exporter (also logged at warn level when spans are dropped).
#[derive(Debug, Default)]
pub struct ExportStats {
    /// Spans accepted into the buffer.
    pub queued: AtomicU64,
    /// Spans dropped because the buffer was full.
    pub dropped_full: AtomicU64,
    /// Spans dropped because their batch could not be sent (endpoint unreachable, refused, timed out).
    pub dropped_failed: AtomicU64,
    /// Spans the endpoint accepted (2xx).
    pub exported: AtomicU64,
    /// Requests sent.
    pub requests: AtomicU64,
}

/// A cheap, cloneable handle: spans go into a bounded buffer, a background task exports them.
#[derive(Clone)]
pub struct Exporter {
    tx: mpsc::Sender<SpanData>,
    stats: Arc<ExportStats>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter").field("stats", &self.stats).finish()
    }
}

type Http = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

impl Exporter {
    /// Starts the export task on the current Tokio runtime.
    pub fn start(cfg: ExporterConfig) -> Self {
        let (tx, rx) = mpsc::channel(cfg.buffer.max(1));
        let stats = Arc::new(ExportStats::default());
        tokio::spawn(export_loop(cfg, rx, stats.clone()));
        Self { tx, stats }
    }

    /// Queues a finished span. Never blocks: when the buffer is full the span is dropped and counted.
    pub fn submit(&self, span: SpanData) {
        match self.tx.try_send(span) {
            Ok(()) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.stats.dropped_full.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn stats(&self) -> &ExportStats {
        &self.stats
    }
}

fn http_client(timeout: Duration) -> Http {
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

async fn export_loop(cfg: ExporterConfig, mut rx: mpsc::Receiver<SpanData>, stats: Arc<ExportStats>) {
    let http = http_client(cfg.timeout);
    let mut batch = Vec::with_capacity(cfg.batch);
    let mut warned_at = 0u64;
    loop {
        // Wait for the first span, then fill the batch until it is full or the interval passed.
        match rx.recv().await {
            Some(s) => batch.push(s),
            None => return,
        }
        let until = tokio::time::Instant::now() + cfg.interval;
        while batch.len() < cfg.batch {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(s)) => batch.push(s),
                Ok(None) | Err(_) => break,
            }
        }
        let n = batch.len() as u64;
        let body = proto::encode_request(&cfg.resource, &batch);
        batch.clear();
        stats.requests.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(cfg.timeout, send(&http, &cfg, body)).await {
            Ok(Ok(())) => {
                stats.exported.fetch_add(n, Ordering::Relaxed);
            }
            outcome => {
                let failed = stats.dropped_failed.fetch_add(n, Ordering::Relaxed) + n;
                // One warning per 1,000 dropped spans at most: a dead endpoint must not flood the log.
                if failed / 1000 >= warned_at {
                    warned_at = failed / 1000 + 1;
                    let why = match outcome {
                        Ok(Err(e)) => e,
                        _ => format!("no answer within {} ms", cfg.timeout.as_millis()),
                    };
                    tracing::warn!(url = %cfg.url, dropped = failed, "OTLP trace export failed: {why}");
                }
            }
        }
    }
}

async fn send(http: &Http, cfg: &ExporterConfig, body: Vec<u8>) -> Result<(), String> {
    let mut req = hyper::Request::post(&cfg.url).header("content-type", "application/x-protobuf");
    for (k, v) in &cfg.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req.body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())?;
    let res = http.request(req).await.map_err(|e| format!("{e:?}"))?;
    let status = res.status();
    // Read (and bound) the answer so the connection can be reused.
    let _ = http_body_util::Limited::new(res.into_body(), 64 * 1024).collect().await;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the endpoint answered {status}"))
    }
}

/// Nanoseconds since the Unix epoch of a time in milliseconds (fractions kept; negative and NaN give 0).
pub fn ms_to_nanos(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        (ms * 1e6) as u64
    } else {
        0
    }
}

/// One HTTP(S) POST with the exporter's client (rustls, web PKI roots, no redirects): the answer's body when the
/// status is 2xx, at most `limit` bytes, within `timeout`. The runtime's audit anchoring sends its RFC 3161
/// time-stamp requests with it.
pub async fn post(
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    timeout: Duration,
    limit: usize,
) -> Result<Vec<u8>, String> {
    let http = http_client(timeout);
    let mut req = hyper::Request::post(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())?;
    let exchange = async {
        let res = http.request(req).await.map_err(|e| format!("{e:?}"))?;
        let status = res.status();
        let bytes = http_body_util::Limited::new(res.into_body(), limit)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        if status.is_success() {
            Ok(bytes.to_vec())
        } else {
            Err(format!("answered {status}"))
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| format!("no answer within {} s", timeout.as_secs()))?
}
