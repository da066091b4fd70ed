//! The exporter against a local OTLP/HTTP receiver; what it receives is decoded with the official OTLP
//! definitions (opentelemetry-proto's prost types).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use cfp_otel::{AttrValue, Exporter, ExporterConfig, SpanData, SpanKind, Status, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind as PbKind;
use prost::Message;

type Received = Arc<Mutex<Vec<(HeaderMap, ExportTraceServiceRequest)>>>;

async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                let req = ExportTraceServiceRequest::decode(body).expect("an ExportTraceServiceRequest");
                sink.lock().unwrap().push((headers, req));
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), got)
}

fn span(i: u8, parent: Option<[u8; 8]>) -> SpanData {
    SpanData {
        trace_id: [0x0a; 16],
        span_id: [i; 8],
        parent_span_id: parent,
        parent_is_remote: parent.is_some(),
        flags: 1,
        tracestate: Some("rojo=00f067aa0ba902b7".into()),
        name: format!("step-{i}"),
        kind: if i == 1 { SpanKind::Server } else { SpanKind::Consumer },
        start_unix_nano: 1_700_000_000_000_000_000 + u64::from(i),
        end_unix_nano: 1_700_000_000_500_000_000,
        attributes: vec![
            ("cfp.tenant".into(), "acme".into()),
            ("cfp.attempt".into(), AttrValue::Int(2)),
            ("cfp.ok".into(), AttrValue::Bool(i != 3)),
            ("x.ratio".into(), AttrValue::Double(0.25)),
        ],
        dropped_attributes: 0,
        status: if i == 3 {
            Status {
                code: StatusCode::Error,
                message: "boom".into(),
            }
        } else {
            Status::default()
        },
        scope: if i == 4 { "cfp-worker" } else { "cfp-runtime" },
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
async fn exports_decodable_otlp() {
    let (base, got) = receiver().await;
    let mut cfg = ExporterConfig::new(cfp_otel::traces_url(&base).unwrap());
    cfg.interval = Duration::from_millis(50);
    cfg.headers = cfp_otel::parse_headers("x-api-key=secret, authorization=Bearer t").unwrap();
    let exporter = Exporter::start(cfg);
    for i in 1..=4 {
        exporter.submit(span(i, (i > 1).then_some([1; 8])));
    }
    wait_for(|| exporter.stats().exported.load(Ordering::Relaxed) == 4).await;
    let got = got.lock().unwrap();
    let (headers, _) = &got[0];
    assert_eq!(headers["x-api-key"], "secret");
    assert_eq!(headers["content-type"], "application/x-protobuf");
    let spans: Vec<_> = got
        .iter()
        .flat_map(|(_, r)| r.resource_spans.iter())
        .inspect(|rs| {
            let attrs = &rs.resource.as_ref().unwrap().attributes;
            assert_eq!(attrs[0].key, "service.name");
        })
        .flat_map(|rs| rs.scope_spans.iter())
        .flat_map(|ss| {
            ss.spans
                .iter()
                .map(move |s| (ss.scope.as_ref().unwrap().name.clone(), s))
        })
        .collect();
    assert_eq!(spans.len(), 4);
    let (scope, s1) = &spans[0];
    assert_eq!(scope, "cfp-runtime");
    assert_eq!(s1.trace_id, vec![0x0a; 16]);
    assert_eq!(s1.span_id, vec![1; 8]);
    assert!(s1.parent_span_id.is_empty());
    assert_eq!(s1.name, "step-1");
    assert_eq!(s1.kind, PbKind::Server as i32);
    assert_eq!(s1.trace_state, "rojo=00f067aa0ba902b7");
    assert_eq!(s1.start_time_unix_nano, 1_700_000_000_000_000_001);
    assert_eq!(s1.end_time_unix_nano, 1_700_000_000_500_000_000);
    assert_eq!(s1.flags, 0x101);
    let attr = |s: &opentelemetry_proto::tonic::trace::v1::Span, k: &str| {
        s.attributes
            .iter()
            .find(|a| a.key == k)
            .and_then(|a| a.value.clone())
            .and_then(|v| v.value)
    };
    assert_eq!(attr(s1, "cfp.tenant"), Some(Value::StringValue("acme".into())));
    assert_eq!(attr(s1, "cfp.attempt"), Some(Value::IntValue(2)));
    assert_eq!(attr(s1, "cfp.ok"), Some(Value::BoolValue(true)));
    assert_eq!(attr(s1, "x.ratio"), Some(Value::DoubleValue(0.25)));
    let s3 = spans.iter().find(|(_, s)| s.name == "step-3").unwrap().1;
    assert_eq!(s3.parent_span_id, vec![1; 8]);
    assert_eq!(s3.kind, PbKind::Consumer as i32);
    assert_eq!(s3.flags, 0x301);
    let status = s3.status.as_ref().unwrap();
    assert_eq!((status.code, status.message.as_str()), (2, "boom"));
    assert_eq!(spans.iter().find(|(_, s)| s.name == "step-4").unwrap().0, "cfp-worker");
}

#[tokio::test]
async fn an_unreachable_endpoint_never_blocks_and_drops_are_counted() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cfg = ExporterConfig::new(format!("http://127.0.0.1:{port}/v1/traces"));
    cfg.buffer = 100;
    cfg.batch = 10;
    cfg.interval = Duration::from_millis(10);
    cfg.timeout = Duration::from_millis(500);
    let exporter = Exporter::start(cfg);
    let start = Instant::now();
    for i in 0..10_000u32 {
        exporter.submit(span((i % 200) as u8 + 1, None));
    }
    // Submitting never waits for the network.
    assert!(start.elapsed() < Duration::from_secs(1), "{:?}", start.elapsed());
    let stats = exporter.stats();
    assert!(stats.dropped_full.load(Ordering::Relaxed) >= 9_000);
    wait_for(|| stats.dropped_failed.load(Ordering::Relaxed) > 0).await;
    assert_eq!(stats.exported.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_receiver_that_refuses_counts_as_failed() {
    let app = axum::Router::new().route(
        "/v1/traces",
        post(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "") }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut cfg = ExporterConfig::new(format!("http://{addr}/v1/traces"));
    cfg.interval = Duration::from_millis(10);
    let exporter = Exporter::start(cfg);
    exporter.submit(span(1, None));
    wait_for(|| exporter.stats().dropped_failed.load(Ordering::Relaxed) == 1).await;
}

#[test]
fn endpoint_and_header_options() {
    assert_eq!(
        cfp_otel::traces_url("http://c:4318").unwrap(),
        "http://c:4318/v1/traces"
    );
    assert_eq!(
        cfp_otel::traces_url("http://c:4318/").unwrap(),
        "http://c:4318/v1/traces"
    );
    assert_eq!(
        cfp_otel::traces_url("https://c/otlp/v1/traces").unwrap(),
        "https://c/otlp/v1/traces"
    );
    assert!(cfp_otel::traces_url("c:4318").is_err());
    assert!(cfp_otel::traces_url("http://").is_err());
    assert!(cfp_otel::parse_headers("novalue").is_err());
    assert!(cfp_otel::parse_headers("bad key=v").is_err());
    assert_eq!(cfp_otel::parse_headers("").unwrap(), vec![]);
}
