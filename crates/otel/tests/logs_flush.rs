//! Log records over OTLP/HTTP (decoded with the official definitions), the flush of what is buffered, and the
//! retries of a batch the endpoint refuses with a retryable status.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::post;
use cfp_otel::{AttrValue, Exporter, ExporterConfig, LogData, SpanData, SpanKind, Status};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;

#[derive(Default)]
struct Got {
    logs: Vec<ExportLogsServiceRequest>,
    spans: usize,
}

async fn receiver(refuse_first: u32) -> (String, Arc<Mutex<Got>>, Arc<AtomicU32>) {
    let got: Arc<Mutex<Got>> = Arc::default();
    let calls = Arc::new(AtomicU32::new(0));
    let (sink, sink2, n) = (got.clone(), got.clone(), calls.clone());
    let app = axum::Router::new()
        .route(
            "/v1/logs",
            post(move |body: Bytes| {
                let (sink, n) = (sink.clone(), n.clone());
                async move {
                    if n.fetch_add(1, Ordering::SeqCst) < refuse_first {
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let req = ExportLogsServiceRequest::decode(body).expect("an ExportLogsServiceRequest");
                    sink.lock().unwrap().logs.push(req);
                    axum::http::StatusCode::OK
                }
            }),
        )
        .route(
            "/v1/traces",
            post(move |body: Bytes| {
                let sink = sink2.clone();
                async move {
                    let req = ExportTraceServiceRequest::decode(body).expect("an ExportTraceServiceRequest");
                    let n: usize = req
                        .resource_spans
                        .iter()
                        .flat_map(|r| &r.scope_spans)
                        .map(|s| s.spans.len())
                        .sum();
                    sink.lock().unwrap().spans += n;
                    ""
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), got, calls)
}

fn log(i: u32, level: &str, traced: bool) -> LogData {
    LogData {
        time_unix_nano: 1_700_000_000_000_000_000 + u64::from(i),
        observed_unix_nano: 1_700_000_000_100_000_000,
        level: level.into(),
        body: format!("line {i}"),
        attributes: vec![
            ("cfp.tenant".into(), "acme".into()),
            ("cfp.step".into(), "Charge".into()),
            ("cfp.attempt".into(), AttrValue::Int(1)),
        ],
        trace_id: traced.then_some([0x0b; 16]),
        span_id: traced.then_some([0x0c; 8]),
        flags: if traced { 1 } else { 0 },
        scope: if i == 0 { "cfp-runtime" } else { "cfp-worker" },
    }
}

fn span(i: u8) -> SpanData {
    SpanData {
        trace_id: [1; 16],
        span_id: [i.max(1); 8],
        parent_span_id: None,
        parent_is_remote: false,
        flags: 1,
        tracestate: None,
        name: format!("s{i}"),
        kind: SpanKind::Internal,
        start_unix_nano: 1,
        end_unix_nano: 2,
        attributes: vec![],
        dropped_attributes: 0,
        status: Status::default(),
        scope: "cfp-runtime",
    }
}

async fn wait_for(mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn log_records_decode_with_severity_body_attributes_and_trace_context() {
    let (base, got, _) = receiver(0).await;
    let mut cfg = ExporterConfig::new(cfp_otel::logs_url(&base).unwrap());
    cfg.interval = Duration::from_millis(50);
    let exporter: Exporter<LogData> = Exporter::start(cfg);
    exporter.submit(log(0, "warn", false));
    exporter.submit(log(1, "error", true));
    exporter.submit(log(2, "debug", true));
    wait_for(|| exporter.stats().exported.load(Ordering::Relaxed) == 3).await;
    let got = got.lock().unwrap();
    let records: Vec<_> = got
        .logs
        .iter()
        .flat_map(|r| &r.resource_logs)
        .inspect(|rl| assert_eq!(rl.resource.as_ref().unwrap().attributes[0].key, "service.name"))
        .flat_map(|rl| &rl.scope_logs)
        .flat_map(|sl| {
            sl.log_records
                .iter()
                .map(move |l| (sl.scope.as_ref().unwrap().name.clone(), l))
        })
        .collect();
    assert_eq!(records.len(), 3);
    let (scope, l0) = &records[0];
    assert_eq!(scope, "cfp-runtime");
    assert_eq!((l0.severity_number, l0.severity_text.as_str()), (13, "warn"));
    assert!(l0.trace_id.is_empty() && l0.span_id.is_empty());
    assert_eq!(l0.flags, 0);
    let (scope, l1) = &records[1];
    assert_eq!(scope, "cfp-worker");
    assert_eq!((l1.severity_number, l1.severity_text.as_str()), (17, "error"));
    assert_eq!(l1.time_unix_nano, 1_700_000_000_000_000_001);
    assert_eq!(l1.observed_time_unix_nano, 1_700_000_000_100_000_000);
    assert_eq!(
        l1.body.as_ref().and_then(|b| b.value.clone()),
        Some(Value::StringValue("line 1".into()))
    );
    assert_eq!(l1.trace_id, vec![0x0b; 16]);
    assert_eq!(l1.span_id, vec![0x0c; 8]);
    assert_eq!(l1.flags, 1);
    let attr = |k: &str| {
        l1.attributes
            .iter()
            .find(|a| a.key == k)
            .and_then(|a| a.value.clone())
            .and_then(|v| v.value)
    };
    assert_eq!(attr("cfp.tenant"), Some(Value::StringValue("acme".into())));
    assert_eq!(attr("cfp.attempt"), Some(Value::IntValue(1)));
    assert_eq!(records[2].1.severity_number, 5);
}

#[tokio::test]
async fn flush_sends_what_is_buffered_before_the_batch_interval() {
    let (base, got, _) = receiver(0).await;
    // An interval far longer than the test: only the flush can send these.
    let mut logs_cfg = ExporterConfig::new(cfp_otel::logs_url(&base).unwrap());
    logs_cfg.interval = Duration::from_secs(3600);
    logs_cfg.batch = 4;
    let mut spans_cfg = ExporterConfig::new(cfp_otel::traces_url(&base).unwrap());
    spans_cfg.interval = Duration::from_secs(3600);
    let logs: Exporter<LogData> = Exporter::start(logs_cfg);
    let spans: Exporter = Exporter::start(spans_cfg);
    for i in 0..10 {
        logs.submit(log(i, "info", true));
        spans.submit(span(i as u8));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        logs.stats().exported.load(Ordering::Relaxed),
        8,
        "two full batches went"
    );
    assert_eq!(spans.stats().exported.load(Ordering::Relaxed), 0);
    let started = Instant::now();
    assert!(logs.flush(Duration::from_secs(2)).await);
    assert!(spans.flush(Duration::from_secs(2)).await);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(logs.stats().exported.load(Ordering::Relaxed), 10);
    assert_eq!(spans.stats().exported.load(Ordering::Relaxed), 10);
    let got = got.lock().unwrap();
    assert_eq!(got.spans, 10);
    let n: usize = got
        .logs
        .iter()
        .flat_map(|r| &r.resource_logs)
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len())
        .sum();
    assert_eq!(n, 10);
}

#[tokio::test]
async fn flush_against_a_dead_endpoint_returns_by_its_deadline() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // A blackhole address: connecting hangs (or fails) — the flush still returns by its deadline.
    let mut cfg = ExporterConfig::new(format!("http://127.0.0.1:{port}/v1/logs"));
    cfg.interval = Duration::from_secs(3600);
    cfg.timeout = Duration::from_secs(30);
    cfg.retries = 1000;
    let exporter: Exporter<LogData> = Exporter::start(cfg);
    exporter.submit(log(1, "info", false));
    let started = Instant::now();
    assert!(!exporter.flush(Duration::from_millis(500)).await);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_retryable_refusal_is_tried_again() {
    let (base, got, calls) = receiver(2).await;
    let mut cfg = ExporterConfig::new(cfp_otel::logs_url(&base).unwrap());
    cfg.interval = Duration::from_millis(10);
    let exporter: Exporter<LogData> = Exporter::start(cfg);
    exporter.submit(log(1, "info", false));
    wait_for(|| exporter.stats().exported.load(Ordering::Relaxed) == 1).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3, "two 503 answers, then accepted");
    assert_eq!(exporter.stats().dropped_failed.load(Ordering::Relaxed), 0);
    assert_eq!(got.lock().unwrap().logs.len(), 1);
}

#[test]
fn logs_url_follows_the_endpoint() {
    assert_eq!(cfp_otel::logs_url("http://c:4318").unwrap(), "http://c:4318/v1/logs");
    assert_eq!(cfp_otel::logs_url("http://c:4318/").unwrap(), "http://c:4318/v1/logs");
    assert_eq!(
        cfp_otel::logs_url("https://c/otlp/v1/traces").unwrap(),
        "https://c/otlp/v1/logs"
    );
    assert_eq!(cfp_otel::logs_url("https://c/v1/logs").unwrap(), "https://c/v1/logs");
    assert!(cfp_otel::logs_url("c:4318").is_err());
    assert!(cfp_otel::logs_url("http:///v1/traces").is_err());
}
