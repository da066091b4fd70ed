//! OpenTelemetry export of the runtime's spans and step logs (`docs/tracing.md`).
//!
//! - [`proto`]: a minimal protobuf encoder of OTLP's `ExportTraceServiceRequest` and `ExportLogsServiceRequest`
//!   (tested against the official definitions).
//! - [`Exporter`]: a handle that takes finished spans ([`SpanData`]) or log records ([`LogData`]) without ever
//!   blocking or failing ([`Exporter::submit`]: a bounded buffer, overflow dropped and counted) and a background
//!   task that sends them in batches as OTLP/HTTP protobuf (`POST …/v1/traces`, `POST …/v1/logs`,
//!   `application/x-protobuf`), so an unreachable or slow endpoint never slows step execution.
//!   [`Exporter::flush`] sends what is buffered within a deadline (graceful shutdown).

mod export;
pub mod proto;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

pub use export::{ExportStats, Exporter, Signal};

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

/// OTLP `SeverityNumber` of a CFP log level (`debug`, `info`, `warn`, `error`; anything else is unspecified).
pub fn severity_number(level: &str) -> i32 {
    match level {
        "trace" => 1,
        "debug" => 5,
        "info" => 9,
        "warn" => 13,
        "error" => 17,
        "fatal" => 21,
        _ => 0,
    }
}

/// A log record to export (a step's log line, or a line the runtime wrote in a step's trace).
#[derive(Debug, Clone, PartialEq)]
pub struct LogData {
    /// When the line was written (the worker's clock).
    pub time_unix_nano: u64,
    /// When the runtime received it.
    pub observed_unix_nano: u64,
    /// The CFP level (`severity_text`); the number follows from it ([`severity_number`]).
    pub level: String,
    pub body: String,
    pub attributes: Vec<(String, AttrValue)>,
    /// The attempt's trace and span, when the line belongs to one.
    pub trace_id: Option<[u8; 16]>,
    pub span_id: Option<[u8; 8]>,
    /// W3C trace flags of that trace (`sampled`).
    pub flags: u8,
    /// The instrumentation scope: `cfp-worker` for step code's lines, `cfp-runtime` for the runtime's.
    pub scope: &'static str,
}

/// Where and how to export.
#[derive(Debug, Clone)]
pub struct ExporterConfig {
    /// The OTLP/HTTP URL of the signal (`http(s)://host:4318/v1/traces`, `…/v1/logs`); see [`traces_url`],
    /// [`logs_url`].
    pub url: String,
    /// Extra request headers (`authorization`, vendor keys).
    pub headers: Vec<(String, String)>,
    /// `service.name` and other resource attributes.
    pub resource: Vec<(String, AttrValue)>,
    /// Items waiting to be sent; beyond, new ones are dropped and counted.
    pub buffer: usize,
    /// Most items in one request.
    pub batch: usize,
    /// A partial batch is sent after this long.
    pub interval: Duration,
    /// One batch's deadline, retries included (connect included); a batch not accepted by then is dropped and
    /// counted.
    pub timeout: Duration,
    /// Further tries of a batch after a connection error or a 429/502/503/504 answer (OTLP's retryable ones),
    /// after 100 ms, then 400 ms, … (at most 5 s apart) — within [`ExporterConfig::timeout`].
    pub retries: u32,
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
            retries: 2,
        }
    }
}

/// The traces URL of an OTLP endpoint option: a base URL (`http://collector:4318`, as
/// `OTEL_EXPORTER_OTLP_ENDPOINT`) gets `/v1/traces` appended; a URL already ending in `/v1/traces` is kept.
pub fn traces_url(endpoint: &str) -> Result<String, String> {
    signal_url(endpoint, "/v1/traces")
}

/// The logs URL of an OTLP endpoint option: a base URL gets `/v1/logs` appended; a URL ending in `/v1/traces`
/// (a traces URL given as the endpoint) has that part replaced; one ending in `/v1/logs` is kept.
pub fn logs_url(endpoint: &str) -> Result<String, String> {
    let e = endpoint.trim();
    match e.strip_suffix("/v1/traces") {
        Some(base) => signal_url(&format!("{base}/v1/logs"), "/v1/logs"),
        None => signal_url(e, "/v1/logs"),
    }
}

fn signal_url(endpoint: &str, path: &str) -> Result<String, String> {
    let e = endpoint.trim();
    let rest = e
        .strip_prefix("http://")
        .or_else(|| e.strip_prefix("https://"))
        .ok_or_else(|| format!("`{e}` is not an http:// or https:// URL"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("`{e}` names no host"));
    }
    if e.ends_with(path) {
        return Ok(e.to_string());
    }
    Ok(format!("{}{path}", e.trim_end_matches('/')))
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
    let http = export::http_client(timeout);
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
