//! Step logs over OTLP (docs/tracing.md, "Logs over OTLP"): a line a worker sends during an attempt reaches a
//! local receiver as an OTLP log record (decoded with the official definitions) in the attempt's trace and span,
//! with the runtime's tenant, project, step and flow; a line naming another worker's invocation is not exported.
//! The exporter's totals and drops are in `/metrics`; an unreachable endpoint with a tiny buffer drops (counted)
//! and never slows steps.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::post;
use common::*;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Pv;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{json, Value};

#[derive(Default)]
struct Got {
    logs: Vec<(String, LogRecord)>,
    spans: Vec<Span>,
}

async fn receiver() -> (String, Arc<Mutex<Got>>) {
    let got: Arc<Mutex<Got>> = Arc::default();
    let (a, b) = (got.clone(), got.clone());
    let app = axum::Router::new()
        .route(
            "/v1/logs",
            post(move |body: Bytes| {
                let sink = a.clone();
                async move {
                    let req = ExportLogsServiceRequest::decode(body).expect("an ExportLogsServiceRequest");
                    for sl in req.resource_logs.into_iter().flat_map(|r| r.scope_logs) {
                        let scope = sl.scope.map(|s| s.name).unwrap_or_default();
                        for l in sl.log_records {
                            sink.lock().unwrap().logs.push((scope.clone(), l));
                        }
                    }
                    ""
                }
            }),
        )
        .route(
            "/v1/traces",
            post(move |body: Bytes| {
                let sink = b.clone();
                async move {
                    let req = ExportTraceServiceRequest::decode(body).expect("an ExportTraceServiceRequest");
                    for ss in req.resource_spans.into_iter().flat_map(|r| r.scope_spans) {
                        sink.lock().unwrap().spans.extend(ss.spans);
                    }
                    ""
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), got)
}

fn exporter_cfg(url: String, buffer: usize) -> cfp_otel::ExporterConfig {
    let mut cfg = cfp_otel::ExporterConfig::new(url);
    cfg.interval = Duration::from_millis(50);
    cfg.buffer = buffer;
    cfg.timeout = Duration::from_millis(500);
    cfg
}

fn str_attr(l: &LogRecord, k: &str) -> Option<String> {
    l.attributes
        .iter()
        .find(|a| a.key == k)
        .and_then(|a| a.value.clone())
        .and_then(|v| v.value)
        .map(|v| match v {
            Pv::StringValue(s) => s,
            other => panic!("{k}: {other:?}"),
        })
}

async fn scrape(rt: &Runtime) -> String {
    let r = http(
        rt.addr,
        "GET",
        "/metrics",
        &[("authorization", &format!("Bearer {ADMIN}"))],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    String::from_utf8(r.body).unwrap()
}

/// The value of a sample line (`name{labels} value`), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// The `n`th invoke frame of `Pay` (its handler never answers: the test sends the frames).
async fn invoked(w: &FakeWorker, n: usize) -> Value {
    assert!(eventually(10, || w.invocations_of("Pay").len() >= n).await);
    w.invocations_of("Pay")[n - 1].clone()
}

fn step(name: &str, path: &str) -> Value {
    let mut s = api_step(name, "POST", path, &[]);
    s["flows"] = json!(["orders"]);
    s
}

#[tokio::test]
async fn a_steps_log_lines_are_exported_in_its_attempts_trace_and_span() {
    let (otlp, got) = receiver().await;
    let mut opts = RuntimeOptions::default();
    opts.engine.otlp = Some(cfp_otel::Exporter::start(exporter_cfg(
        cfp_otel::traces_url(&otlp).unwrap(),
        64,
    )));
    opts.engine.otlp_logs = Some(cfp_otel::Exporter::start(exporter_cfg(
        cfp_otel::logs_url(&otlp).unwrap(),
        64,
    )));
    let rt = start(opts).await;
    let (w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        json!([step("Pay", "/pay")]),
        handlers(vec![("Pay", Arc::new(|_: &Value| json!({"never": true})))]),
    )
    .await;
    let addr = rt.addr;
    let call = tokio::spawn(async move {
        http(
            addr,
            "POST",
            "/pay",
            &[("authorization", &format!("Bearer {ADMIN}"))],
            b"{}",
        )
        .await
    });
    let inv = invoked(&w, 1).await;
    let id = inv["id"].as_str().unwrap().to_string();
    let tp = cfp_protocol::trace::parse_traceparent(inv["traceparent"].as_str().unwrap()).unwrap();
    let trace_id = inv["traceId"].as_str().unwrap().to_string();
    w.send(json!({"type": "log", "entries": [
        // The step's line: the runtime's step name wins over the one the line claims.
        {"ts": 1_700_000_000_123i64, "level": "warn", "msg": "card declined", "invocationId": id, "traceId": trace_id,
         "step": "Claimed", "data": {"order": "o-1"}},
        // Another worker's invocation: neither stored nor exported.
        {"ts": 1, "level": "error", "msg": "foreign", "invocationId": "not-mine"},
        // No invocation: kept with the trace it names, no span.
        {"ts": 2, "level": "info", "msg": "boot", "traceId": "0af76519-16cd-43dd-8448-eb211c80319c"},
    ]}));
    w.send(json!({"type": "result", "id": id, "ok": true, "output": {"status": 200, "body": "ok"}}));
    assert_eq!(call.await.unwrap().status, 200);
    assert!(
        eventually(10, || got.lock().unwrap().logs.len() >= 2
            && !got.lock().unwrap().spans.is_empty())
        .await
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    {
        let got = got.lock().unwrap();
        assert_eq!(got.logs.len(), 2, "{:#?}", got.logs);
        let (scope, l) = got
            .logs
            .iter()
            .find(|(_, l)| str_attr(l, "cfp.step").is_some())
            .unwrap();
        assert_eq!(scope, "cfp-worker");
        assert_eq!(
            l.body.as_ref().and_then(|b| b.value.clone()),
            Some(Pv::StringValue("card declined".into()))
        );
        assert_eq!((l.severity_number, l.severity_text.as_str()), (13, "warn"));
        assert_eq!(l.time_unix_nano, 1_700_000_000_123_000_000);
        assert_eq!(l.trace_id, tp.trace_id.to_vec());
        assert_eq!(l.span_id, tp.parent_id.to_vec(), "the attempt's span");
        assert_eq!(l.flags, 1);
        assert_eq!(str_attr(l, "cfp.tenant").as_deref(), Some("default"));
        assert_eq!(str_attr(l, "cfp.project").as_deref(), Some("default"));
        assert_eq!(str_attr(l, "cfp.step").as_deref(), Some("Pay"));
        assert_eq!(str_attr(l, "cfp.flow").as_deref(), Some("orders"));
        assert_eq!(str_attr(l, "cfp.invocation_id").as_deref(), Some(id.as_str()));
        assert_eq!(str_attr(l, "cfp.data").as_deref(), Some(r#"{"order":"o-1"}"#));
        // The attempt's exported span is the one the record names.
        let span = got.spans.iter().find(|s| s.name == "Pay").expect("the attempt's span");
        assert_eq!((&span.trace_id, &span.span_id), (&l.trace_id, &l.span_id));
        let (_, boot) = got
            .logs
            .iter()
            .find(|(_, l)| str_attr(l, "cfp.step").is_none())
            .unwrap();
        assert_eq!(
            boot.trace_id,
            cfp_engine::trace::trace_bytes("0af76519-16cd-43dd-8448-eb211c80319c").to_vec()
        );
        assert!(boot.span_id.is_empty());
    }
    let text = scrape(&rt).await;
    assert_eq!(
        sample(&text, r#"cfp_otlp_exported_total{signal="logs"}"#),
        2.0,
        "{text}"
    );
    assert!(sample(&text, r#"cfp_otlp_exported_total{signal="spans"}"#) >= 1.0);
    assert_eq!(
        sample(&text, r#"cfp_otlp_dropped_total{signal="logs",reason="buffer_full"}"#),
        0.0
    );
    assert!(
        text.contains(r#"cfp_otlp_dropped_total{signal="spans",reason="export_failed"} 0"#),
        "{text}"
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_with_a_tiny_buffer_drops_counted_and_never_slows_steps() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dead = format!("http://127.0.0.1:{port}");
    let mut opts = RuntimeOptions::default();
    opts.engine.otlp = Some(cfp_otel::Exporter::start(exporter_cfg(
        cfp_otel::traces_url(&dead).unwrap(),
        2,
    )));
    opts.engine.otlp_logs = Some(cfp_otel::Exporter::start(exporter_cfg(
        cfp_otel::logs_url(&dead).unwrap(),
        2,
    )));
    let rt = start(opts).await;
    let (w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        json!([step("Pay", "/pay")]),
        handlers(vec![("Pay", Arc::new(|_: &Value| json!({"never": true})))]),
    )
    .await;
    let mut slowest = Duration::ZERO;
    for n in 1..=20 {
        let addr = rt.addr;
        let started = Instant::now();
        let call = tokio::spawn(async move {
            http(
                addr,
                "POST",
                "/pay",
                &[("authorization", &format!("Bearer {ADMIN}"))],
                b"{}",
            )
            .await
        });
        let inv = invoked(&w, n).await;
        let id = inv["id"].as_str().unwrap();
        let entries: Vec<Value> = (0..20)
            .map(|i| json!({"ts": 1, "level": "info", "msg": format!("line {i}"), "invocationId": id}))
            .collect();
        w.send(json!({"type": "log", "entries": entries}));
        w.send(json!({"type": "result", "id": id, "ok": true, "output": {"status": 200, "body": "ok"}}));
        assert_eq!(call.await.unwrap().status, 200);
        slowest = slowest.max(started.elapsed());
    }
    // Each call waits for nothing of the export (a dead endpoint's retries take 500 ms per batch).
    assert!(slowest < Duration::from_millis(400), "slowest call {slowest:?}");
    assert!(
        eventually(10, || {
            let l = rt_engine_stats(&rt);
            l.0 > 0 && l.1 > 0
        })
        .await
    );
    let text = scrape(&rt).await;
    let full = sample(&text, r#"cfp_otlp_dropped_total{signal="logs",reason="buffer_full"}"#);
    let failed = sample(&text, r#"cfp_otlp_dropped_total{signal="logs",reason="export_failed"}"#);
    assert!(full >= 100.0, "{text}");
    assert!(failed >= 1.0, "{text}");
    assert!(full + failed <= 400.0);
    assert_eq!(sample(&text, r#"cfp_otlp_exported_total{signal="logs"}"#), 0.0);
    assert!(
        sample(
            &text,
            r#"cfp_otlp_dropped_total{signal="spans",reason="export_failed"}"#
        ) >= 1.0,
        "{text}"
    );
}

/// (log records dropped as buffer_full, log records dropped as export_failed) from the engine's exporter.
fn rt_engine_stats(rt: &Runtime) -> (u64, u64) {
    use std::sync::atomic::Ordering;
    let s = rt.engine.config().otlp_logs.as_ref().unwrap().stats();
    (
        s.dropped_full.load(Ordering::Relaxed),
        s.dropped_failed.load(Ordering::Relaxed),
    )
}
