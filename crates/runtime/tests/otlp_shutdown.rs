//! Graceful stop flushes the OTLP export (docs/tracing.md): with a batch delay far longer than the test, the
//! attempt's span and the step's log line of a call answered just before SIGTERM reach the receiver only through
//! the shutdown flush — and they do, before the process exits.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::post;
use futures_util::{SinkExt, StreamExt};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Pv;
use prost::Message as _;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const ADMIN: &str = "otlp-shutdown-admin-token-0123456789";
const WORKER: &str = "otlp-shutdown-worker-token-0123456789";

#[derive(Default)]
struct Got {
    spans: Vec<String>,
    logs: Vec<String>,
}

async fn receiver() -> (String, Arc<Mutex<Got>>) {
    let got: Arc<Mutex<Got>> = Arc::default();
    let (a, b) = (got.clone(), got.clone());
    let app = axum::Router::new()
        .route(
            "/v1/traces",
            post(move |body: Bytes| {
                let sink = a.clone();
                async move {
                    let req = ExportTraceServiceRequest::decode(body).expect("an ExportTraceServiceRequest");
                    for ss in req.resource_spans.into_iter().flat_map(|r| r.scope_spans) {
                        sink.lock().unwrap().spans.extend(ss.spans.into_iter().map(|s| s.name));
                    }
                    ""
                }
            }),
        )
        .route(
            "/v1/logs",
            post(move |body: Bytes| {
                let sink = b.clone();
                async move {
                    let req = ExportLogsServiceRequest::decode(body).expect("an ExportLogsServiceRequest");
                    for sl in req.resource_logs.into_iter().flat_map(|r| r.scope_logs) {
                        for l in sl.log_records {
                            if let Some(Pv::StringValue(s)) = l.body.and_then(|b| b.value) {
                                sink.lock().unwrap().logs.push(s);
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

fn database_url() -> String {
    std::env::var("CFP_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// One HTTP/1.1 request (connection: close); the status.
async fn call(port: u16, path: &str) -> u16 {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\nauthorization: Bearer {ADMIN}\r\n\
         content-type: application/json\r\ncontent-length: 2\r\n\r\n{{}}"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out)
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn buffered_spans_and_logs_are_flushed_on_sigterm() {
    let (otlp, got) = receiver().await;
    let data = std::env::temp_dir().join(format!("cfp-otlp-shutdown-{}", std::process::id()));
    std::fs::create_dir_all(&data).unwrap();
    let schema = format!("otlp_shutdown_{}", std::process::id());
    let mut child = Command::new(env!("CARGO_BIN_EXE_cfp-runtime"))
        .args(["--listen", "127.0.0.1:0", "--schema", &schema, "--otlp-endpoint", &otlp])
        // Nothing is sent before the stop but by the flush.
        .args([
            "--otlp-batch-delay-ms",
            "600000",
            "--otlp-flush-timeout-ms",
            "2000",
            "--shutdown-timeout-ms",
            "3000",
        ])
        .arg("--data-dir")
        .arg(&data)
        .env("DATABASE_URL", database_url())
        .env("CFP_ADMIN_TOKEN", ADMIN)
        .env("CFP_WORKER_TOKEN", WORKER)
        .env("CFP_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let stderr = child.stderr.take().unwrap();
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    // Reads the log to its end (the runtime never blocks on a full pipe); the listening line names the port.
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut tx = Some(port_tx);
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
                let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if let (Some(tx), Ok(port)) = (tx.take(), port.parse::<u16>()) {
                    let _ = tx.send(port);
                }
            }
        }
    });
    let port = port_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the runtime logs the port it listens on");

    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/__cfp/worker"))
        .await
        .unwrap();
    let (mut tx, mut rx) = ws.split();
    let mut next = async || -> Value {
        loop {
            if let Message::Text(t) = rx.next().await.unwrap().unwrap() {
                return serde_json::from_str(&t).unwrap();
            }
        }
    };
    let send = |v: Value| Message::Text(v.to_string().into());
    tx.send(send(
        json!({"type": "hello", "protocol": 1, "token": WORKER, "worker": {"name": "t"}}),
    ))
    .await
    .unwrap();
    assert_eq!(next().await["type"], "welcome");
    tx.send(send(json!({"type": "register", "steps": [
        {"name": "Pay", "type": "api", "file": "steps/pay.step.ts", "method": "POST", "path": "/pay", "emits": []}
    ]})))
    .await
    .unwrap();
    while next().await["type"] != "registered" {}
    let answered = tokio::spawn(call(port, "/pay"));
    let invoke = loop {
        let f = next().await;
        if f["type"] == "invoke" {
            break f;
        }
    };
    let id = invoke["id"].clone();
    tx.send(send(json!({"type": "log", "entries": [
        {"ts": 1_700_000_000_000i64, "level": "info", "msg": "last words", "invocationId": id, "step": "Pay"}
    ]})))
    .await
    .unwrap();
    tx.send(send(
        json!({"type": "result", "id": id, "ok": true, "output": {"status": 200, "body": "ok"}}),
    ))
    .await
    .unwrap();
    assert_eq!(answered.await.unwrap(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    {
        let got = got.lock().unwrap();
        assert!(
            got.spans.is_empty() && got.logs.is_empty(),
            "nothing sent before the stop"
        );
    }

    let stopped = Instant::now();
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if stopped.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the runtime did not stop within 20 s of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    let took = stopped.elapsed();
    let (spans, logs) = {
        let got = got.lock().unwrap();
        (got.spans.clone(), got.logs.clone())
    };
    assert_eq!(
        spans,
        vec!["Pay".to_string()],
        "the attempt's span, flushed at the stop"
    );
    assert_eq!(
        logs,
        vec!["last words".to_string()],
        "the step's log line, flushed at the stop"
    );
    assert!(took < Duration::from_secs(15), "{took:?}");
    let _ = std::fs::remove_dir_all(&data);
    if let Ok(pool) = sqlx::PgPool::connect(&database_url()).await {
        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&pool)
            .await;
    }
}
