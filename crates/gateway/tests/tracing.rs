//! Trace continuity (docs/tracing.md): a caller's `traceparent` on an API call is the trace of every step of the
//! flow — in the invoke frames, in the built-in spans, in the logs, and in the OTLP export, which a local
//! receiver decodes with the official OTLP definitions. Invalid `traceparent` values never fail a call.

#![allow(clippy::field_reassign_with_default)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::routing::post;
use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Pv;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{json, Value};

const AUTH: (&str, &str) = ("authorization", "Bearer test-admin-token-0123456789");
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// (scope name, span) of every span received.
type Received = Arc<Mutex<Vec<(String, Span)>>>;

async fn otlp_receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let sink = sink.clone();
            async move {
                let req = ExportTraceServiceRequest::decode(body).expect("an ExportTraceServiceRequest");
                for rs in req.resource_spans {
                    for ss in rs.scope_spans {
                        let scope = ss.scope.map(|s| s.name).unwrap_or_default();
                        for s in ss.spans {
                            sink.lock().unwrap().push((scope.clone(), s));
                        }
                    }
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

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn attr(s: &Span, k: &str) -> Option<Pv> {
    s.attributes
        .iter()
        .find(|a| a.key == k)
        .and_then(|a| a.value.clone())
        .and_then(|v| v.value)
}

fn str_attr(s: &Span, k: &str) -> String {
    match attr(s, k) {
        Some(Pv::StringValue(v)) => v,
        other => panic!("{k}: {other:?}"),
    }
}

#[tokio::test]
async fn a_callers_traceparent_is_the_trace_of_every_step_in_the_export_spans_and_logs() {
    let (otlp, received) = otlp_receiver().await;
    let mut opts = RuntimeOptions::default();
    let mut cfg = cfp_otel::ExporterConfig::new(cfp_otel::traces_url(&otlp).unwrap());
    cfg.interval = Duration::from_millis(50);
    opts.engine.otlp = Some(cfp_otel::Exporter::start(cfg));
    // New traces are not sampled: only the caller's sampled flag makes this trace exported (parent-based).
    opts.engine.trace_sample_ratio = 0.0;
    let rt = start(opts).await;
    let steps = json!([
        api_step("Start", "POST", "/go", &["b"]),
        event_step("Middle", &["b"], &["c"], json!({"queue": {"maxRetries": 2}})),
        event_step("End", &["c"], &[], json!({})),
    ]);
    let (w, _) = FakeWorker::connect(&rt.ws_url(), TOKEN, steps, handlers(vec![
        ("Start", Arc::new(|_: &Value| json!({
            "ok": true, "output": {"status": 200, "body": "ok"}, "emits": [{"topic": "b", "data": {}}],
            // Step code's child span, and hostile ones: an invalid id, a `cfp.*` attribute, a huge name.
            "spans": [
                {"spanId": "1111111111111111", "name": "charge card", "kind": "client", "startMs": 1.7e12, "endMs": 1.7e12 + 5.0,
                 "attributes": {"order.id": "o-1", "cfp.tenant": "someone-else"}, "status": "ok"},
                {"spanId": "not-an-id", "name": "bad", "startMs": 1.0, "endMs": 2.0},
                {"spanId": "2222222222222222", "parentSpanId": "1111111111111111", "name": "x".repeat(5000), "startMs": 1.7e12, "endMs": 1.0},
            ],
        }))),
        ("Middle", Arc::new(|f: &Value| if f["attempt"] == 1 {
            json!({"ok": false, "error": {"message": "first try fails", "name": "Flaky"}})
        } else {
            json!({"ok": true, "emits": [{"topic": "c", "data": {}}]})
        })),
        ("End", Arc::new(|_: &Value| json!({"ok": true}))),
    ])).await;
    let caller = format!("00-{TRACE}-{CALLER_SPAN}-01");
    let r = http(
        rt.addr,
        "POST",
        "/go",
        &[AUTH, ("traceparent", &caller), ("tracestate", "rojo=00f067aa0ba902b7")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    let cfp_trace = "4bf92f35-77b3-4da6-a3ce-929d0e0e4736";
    assert_eq!(r.headers["x-trace-id"], cfp_trace);
    let answered = cfp_protocol::trace::parse_traceparent(&r.headers["traceparent"]).expect("a valid traceparent");
    assert_eq!(hex(&answered.trace_id), TRACE);
    assert_ne!(
        hex(&answered.parent_id),
        CALLER_SPAN,
        "the response names the attempt's own span"
    );
    assert!(answered.sampled());

    assert!(eventually(10, || w.invocations_of("End").len() == 1).await);
    // Every invoke frame carries the trace, and each attempt's traceparent names a new span of it.
    for step in ["Start", "Middle", "End"] {
        for inv in w.invocations_of(step) {
            assert_eq!(inv["traceId"], cfp_trace, "{step}");
            let tp = cfp_protocol::trace::parse_traceparent(inv["traceparent"].as_str().unwrap()).unwrap();
            assert_eq!(hex(&tp.trace_id), TRACE, "{step}");
            assert!(tp.sampled());
            assert_eq!(inv["tracestate"], "rojo=00f067aa0ba902b7", "{step}");
        }
    }
    let start_span = {
        let inv = &w.invocations_of("Start")[0];
        cfp_protocol::trace::parse_traceparent(inv["traceparent"].as_str().unwrap())
            .unwrap()
            .parent_id
    };
    assert_eq!(start_span, answered.parent_id);

    // The export: four attempts (Middle twice) and step code's two valid spans, all in the caller's trace.
    assert!(
        eventually(10, || received.lock().unwrap().len() >= 6).await,
        "{:?}",
        received.lock().unwrap().len()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let spans = received.lock().unwrap().clone();
    assert_eq!(spans.len(), 6, "{spans:#?}");
    for (_, s) in &spans {
        assert_eq!(hex(&s.trace_id), TRACE);
        assert_eq!(s.trace_state, "rojo=00f067aa0ba902b7");
    }
    let attempt = |step: &str| -> Vec<&Span> {
        let mut v: Vec<&Span> = spans
            .iter()
            .filter(|(scope, s)| scope == "cfp-runtime" && s.name == step)
            .map(|(_, s)| s)
            .collect();
        v.sort_by_key(|s| match attr(s, "cfp.attempt") {
            Some(Pv::IntValue(i)) => i,
            _ => 0,
        });
        v
    };
    let (start, middle, end) = (attempt("Start"), attempt("Middle"), attempt("End"));
    assert_eq!((start.len(), middle.len(), end.len()), (1, 2, 1));
    assert_eq!(hex(&start[0].parent_span_id), CALLER_SPAN);
    assert_eq!(start[0].span_id, start_span.to_vec());
    assert_eq!(start[0].kind, SpanKind::Server as i32);
    assert_eq!(start[0].flags & 0x3ff, 0x301, "sampled, parent remote");
    for m in &middle {
        assert_eq!(
            m.parent_span_id, start[0].span_id,
            "an event's consumer is a child of its publisher"
        );
        assert_eq!(m.kind, SpanKind::Consumer as i32);
    }
    assert_eq!(str_attr(middle[0], "cfp.outcome"), "handler_error");
    assert_eq!(str_attr(middle[0], "error.type"), "Flaky");
    assert_eq!(middle[0].status.as_ref().unwrap().code, 2);
    assert_eq!(str_attr(middle[1], "cfp.outcome"), "ok");
    assert_eq!(
        end[0].parent_span_id, middle[1].span_id,
        "the successful attempt published `c`"
    );
    for s in [start[0], middle[0], end[0]] {
        assert_eq!(str_attr(s, "cfp.tenant"), "default");
        assert_eq!(str_attr(s, "cfp.project"), "default");
        assert_eq!(str_attr(s, "cfp.step"), s.name);
    }
    let child = |id: &str| {
        spans
            .iter()
            .find(|(_, s)| hex(&s.span_id) == id)
            .map(|(scope, s)| (scope.clone(), s.clone()))
    };
    let (scope, charge) = child("1111111111111111").expect("step code's span");
    assert_eq!(scope, "cfp-worker");
    assert_eq!(charge.name, "charge card");
    assert_eq!(charge.parent_span_id, start[0].span_id);
    assert_eq!(charge.kind, SpanKind::Client as i32);
    assert_eq!(
        str_attr(&charge, "cfp.tenant"),
        "default",
        "step code cannot claim another tenant"
    );
    assert_eq!(str_attr(&charge, "order.id"), "o-1");
    let (_, nested) = child("2222222222222222").unwrap();
    assert_eq!(hex(&nested.parent_span_id), "1111111111111111");
    assert_eq!(nested.name.len(), 256);
    assert!(nested.end_time_unix_nano >= nested.start_time_unix_nano);
    assert!(rt.engine.worker_spans_dropped() >= 1, "the invalid span is counted");

    // The built-in trace store and the logs hold the same trace id.
    let body = http(rt.addr, "GET", &format!("/__cfp/api/traces/{cfp_trace}"), &[AUTH], b"").await;
    let mut stored = 0;
    for _ in 0..100 {
        let r = http(rt.addr, "GET", &format!("/__cfp/api/traces/{cfp_trace}"), &[AUTH], b"").await;
        if r.status == 200 {
            stored = r.json()["spans"].as_array().unwrap().len();
            if stored == 4 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stored, 4, "{}", body.json());
    let mut logged = Vec::new();
    for _ in 0..100 {
        let r = http(
            rt.addr,
            "GET",
            &format!("/__cfp/api/logs?traceId={cfp_trace}"),
            &[AUTH],
            b"",
        )
        .await;
        logged = r.json()["logs"].as_array().cloned().unwrap_or_default();
        if !logged.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        logged
            .iter()
            .any(|l| l["traceId"] == cfp_trace && l["msg"].as_str().unwrap().contains("first try fails")),
        "{logged:?}"
    );
    rt.stop().await;
}

#[tokio::test]
async fn invalid_traceparents_never_fail_a_call_and_start_a_new_trace() {
    let (otlp, received) = otlp_receiver().await;
    let mut opts = RuntimeOptions::default();
    let mut cfg = cfp_otel::ExporterConfig::new(cfp_otel::traces_url(&otlp).unwrap());
    cfg.interval = Duration::from_millis(20);
    opts.engine.otlp = Some(cfp_otel::Exporter::start(cfg));
    opts.engine.trace_sample_ratio = 1.0;
    let rt = start(opts).await;
    let (w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        json!([api_step("Ping", "GET", "/ping", &[])]),
        handlers(vec![(
            "Ping",
            Arc::new(|_: &Value| json!({"ok": true, "output": {"status": 200, "body": "pong"}})),
        )]),
    )
    .await;
    let bad = [
        String::new(),
        "garbage".into(),
        format!("ff-{TRACE}-{CALLER_SPAN}-01"),
        format!("00-{}-{CALLER_SPAN}-01", "0".repeat(32)),
        format!("00-{TRACE}-0000000000000000-01"),
        format!("00-{}-{CALLER_SPAN}-01", TRACE.to_uppercase()),
        format!("00-{TRACE}-{CALLER_SPAN}-01-extra"),
        format!("00-{TRACE}-{CALLER_SPAN}"),
        format!("00-{TRACE}-{CALLER_SPAN}-zz"),
        format!("00-{TRACE}x{CALLER_SPAN}-01"),
        format!("00-{TRACE}-{CALLER_SPAN}-01{}", "-".repeat(4000)),
    ];
    for (i, v) in bad.iter().enumerate() {
        let r = http(
            rt.addr,
            "GET",
            "/ping",
            &[AUTH, ("traceparent", v), ("tracestate", "=,=,=")],
            b"",
        )
        .await;
        assert_eq!(r.status, 200, "{v:?}");
        let trace = &r.headers["x-trace-id"];
        assert!(!trace.replace('-', "").contains(TRACE), "{v:?} started a new trace");
        let tp = cfp_protocol::trace::parse_traceparent(&r.headers["traceparent"]).expect("a valid traceparent");
        assert_eq!(cfp_protocol::trace::cfp_trace_id(&tp.trace_id), *trace);
        let inv = &w.invocations_of("Ping")[i];
        assert_eq!(inv["traceId"], *trace);
        assert!(inv.get("tracestate").is_none(), "an invalid tracestate is dropped");
    }
    // An unsampled caller (flags 00) is followed: nothing of its trace is exported.
    let unsampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
    let r = http(rt.addr, "GET", "/ping", &[AUTH, ("traceparent", unsampled)], b"").await;
    assert_eq!(r.status, 200);
    assert!(r.headers["traceparent"].ends_with("-00"));
    assert!(eventually(10, || received.lock().unwrap().len() >= bad.len()).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got = received.lock().unwrap().clone();
    assert_eq!(
        got.len(),
        bad.len(),
        "every new trace sampled at ratio 1, the unsampled caller's not"
    );
    assert!(got
        .iter()
        .all(|(_, s)| hex(&s.trace_id) != "0af7651916cd43dd8448eb211c80319c"));
    rt.stop().await;
}

#[tokio::test]
async fn an_unreachable_otlp_endpoint_does_not_slow_steps() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut opts = RuntimeOptions::default();
    let mut cfg = cfp_otel::ExporterConfig::new(format!("http://127.0.0.1:{port}/v1/traces"));
    cfg.buffer = 16;
    cfg.batch = 4;
    let exporter = cfp_otel::Exporter::start(cfg);
    opts.engine.otlp = Some(exporter.clone());
    let rt = start(opts).await;
    let (_w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        json!([api_step("Ping", "GET", "/ping", &[])]),
        handlers(vec![(
            "Ping",
            Arc::new(|_: &Value| json!({"ok": true, "output": {"status": 200, "body": "pong"}})),
        )]),
    )
    .await;
    let started = std::time::Instant::now();
    for _ in 0..60 {
        let r = http(rt.addr, "GET", "/ping", &[AUTH], b"").await;
        assert_eq!(r.status, 200);
    }
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let s = exporter.stats();
    let dropped = s.dropped_full.load(std::sync::atomic::Ordering::Relaxed)
        + s.dropped_failed.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        eventually(10, || {
            s.dropped_full.load(std::sync::atomic::Ordering::Relaxed)
                + s.dropped_failed.load(std::sync::atomic::Ordering::Relaxed)
                > 0
        })
        .await,
        "{dropped}"
    );
    rt.stop().await;
}

#[tokio::test]
async fn spans_for_another_workers_invocation_are_dropped() {
    let (otlp, received) = otlp_receiver().await;
    let mut opts = RuntimeOptions::default();
    let mut cfg = cfp_otel::ExporterConfig::new(cfp_otel::traces_url(&otlp).unwrap());
    cfg.interval = Duration::from_millis(20);
    opts.engine.otlp = Some(cfp_otel::Exporter::start(cfg));
    let rt = start(opts).await;
    // The victim's invocation stays in flight; the attacker names it in a `spans` frame.
    let (victim, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        json!([api_step("Slow", "GET", "/slow", &[])]),
        handlers(vec![(
            "Slow",
            Arc::new(|_: &Value| json!({"ok": true, "output": {"status": 200, "body": "done"}, "delay_ms": 1500})),
        )]),
    )
    .await;
    let (attacker, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        json!([api_step("Other", "GET", "/other", &[])]),
        handlers(vec![]),
    )
    .await;
    let addr = rt.addr;
    let call = tokio::spawn(async move { http(addr, "GET", "/slow", &[AUTH], b"").await });
    assert!(eventually(10, || victim.invocations_of("Slow").len() == 1).await);
    let id = victim.invocations_of("Slow")[0]["id"].clone();
    let flood: Vec<Value> = (0..200)
        .map(|i| json!({"spanId": format!("{:016x}", i + 1), "name": "forged", "startMs": 1.0, "endMs": 2.0}))
        .collect();
    attacker.send(json!({"type": "spans", "id": id, "spans": flood}));
    // The victim itself may send at most 128 per frame and 512 per invocation.
    for _ in 0..5 {
        victim.send(json!({"type": "spans", "id": id, "spans": flood}));
    }
    assert_eq!(call.await.unwrap().status, 200);
    assert!(eventually(10, || received.lock().unwrap().iter().any(|(_, s)| s.name == "Slow")).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got = received.lock().unwrap().clone();
    let forged = got.iter().filter(|(_, s)| s.name == "forged").count();
    assert_eq!(forged, 512, "128 per frame, 512 per invocation, none from the attacker");
    assert_eq!(rt.engine.worker_spans_dropped(), 200 + (5 * 200 - 512));
    rt.stop().await;
}
