//! Test harness: a real runtime (engine + gateway) on port 0 against the machine's PostgreSQL, in a schema
//! of its own, and a scripted fake worker speaking the worker protocol.

#![allow(dead_code, clippy::while_let_loop)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cfp_engine::{Engine, EngineConfig};
use cfp_gateway::GatewayConfig;
use cfp_store::{Payloads, Scope, Store, StoreOptions};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

pub mod control_plane;

pub const TOKEN: &str = "test-worker-token-0123456789";
pub const ADMIN: &str = "test-admin-token-0123456789";

pub use cfp_testkit::database_url;

pub struct Runtime {
    pub addr: SocketAddr,
    pub engine: Engine,
    pub store: Store,
    pub schema: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

pub struct RuntimeOptions {
    pub gateway: GatewayConfig,
    pub engine: EngineConfig,
    pub payload_threshold: usize,
    pub schema: Option<String>,
    /// How connections are served (the request-head deadline).
    pub serve: cfp_gateway::conn::ServeOptions,
    /// The database to use instead of [`database_url`] (a proxy the test can cut).
    pub database_url: Option<String>,
    /// Payloads (and stored request bodies) as files under this directory instead of in memory.
    pub payloads_dir: Option<std::path::PathBuf>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        let engine = EngineConfig {
            worker_tokens: vec![(TOKEN.into(), Scope::new("default", "default"))],
            retry_base_ms: 20,
            poll_interval: Duration::from_millis(200),
            ..EngineConfig::default()
        };
        let gateway = GatewayConfig {
            admin_token: Some(ADMIN.into()),
            ..GatewayConfig::default()
        };
        Self {
            gateway,
            engine,
            payload_threshold: 256 * 1024,
            schema: None,
            serve: Default::default(),
            database_url: None,
            payloads_dir: None,
        }
    }
}

pub async fn start(opts: RuntimeOptions) -> Runtime {
    let schema = opts
        .schema
        .unwrap_or_else(|| format!("t_{}", uuid::Uuid::new_v4().simple()));
    let store = Store::connect(
        &StoreOptions {
            database_url: opts.database_url.unwrap_or_else(database_url),
            schema: schema.clone(),
            max_connections: 8,
            payload_threshold: opts.payload_threshold,
            acquire_timeout: Duration::from_secs(2),
        },
        match &opts.payloads_dir {
            Some(dir) => Payloads::local(dir).unwrap(),
            None => Payloads::memory(),
        },
    )
    .await
    .expect("PostgreSQL must be reachable at CFP_TEST_DATABASE_URL or 127.0.0.1:5432/test");
    let engine = Engine::start(store.clone(), opts.engine);
    let app = cfp_gateway::router(engine.clone(), opts.gateway);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(cfp_gateway::conn::serve(listener, app, opts.serve, async move {
        let _ = rx.await;
    }));
    Runtime {
        addr,
        engine,
        store,
        schema,
        stop: Some(tx),
    }
}

impl Runtime {
    pub fn ws_url(&self) -> String {
        format!("ws://{}/__cfp/worker", self.addr)
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.engine.shutdown(Duration::from_secs(2)).await;
        let schema = self.schema.clone();
        sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .execute(self.store.pool())
            .await
            .ok();
        self.store.close().await;
    }
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// A minimal HTTP/1.1 client (one request per connection).
pub async fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").expect("response head");
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect();
    let mut body = buf[split + 4..].to_vec();
    if headers.get("transfer-encoding").is_some_and(|v| v == "chunked") {
        body = dechunk(&body);
    }
    HttpResponse { status, headers, body }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(nl) = data.windows(2).position(|w| w == b"\r\n") else {
            break;
        };
        let size = usize::from_str_radix(std::str::from_utf8(&data[..nl]).unwrap().trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[nl + 2..nl + 2 + size]);
        data = &data[nl + 2 + size + 2..];
    }
    out
}

/// invocation id -> (invoke received, result sent)
pub type Timeline = Arc<Mutex<HashMap<String, (std::time::Instant, Option<std::time::Instant>)>>>;

pub type Handler = Arc<dyn Fn(&Value) -> Value + Send + Sync>;

/// A scripted worker: `handlers` map a step name to a function from the invoke frame to the result frame
/// fields (`{ok, output?, emits?, error?}`); `delay_ms` in the returned value delays the answer.
pub struct FakeWorker {
    pub invocations: Arc<Mutex<Vec<Value>>>,
    /// invocation id -> (invoke received, result sent)
    pub timeline: Timeline,
    pub frames: mpsc::UnboundedReceiver<Value>,
    out: mpsc::UnboundedSender<String>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeWorker {
    pub async fn connect(
        url: &str,
        token: &str,
        steps: Value,
        handlers: HashMap<String, Handler>,
    ) -> (FakeWorker, Value) {
        Self::connect_with(url, token, steps, handlers, None).await
    }

    pub async fn connect_with(
        url: &str,
        token: &str,
        steps: Value,
        handlers: HashMap<String, Handler>,
        capacity: Option<u32>,
    ) -> (FakeWorker, Value) {
        Self::connect_speaking(url, token, steps, handlers, capacity, 1).await
    }

    /// A fake worker announcing `protocol` in its hello (`connect` speaks version 1: API bodies come parsed).
    pub async fn connect_speaking(
        url: &str,
        token: &str,
        steps: Value,
        handlers: HashMap<String, Handler>,
        capacity: Option<u32>,
        protocol: u32,
    ) -> (FakeWorker, Value) {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let (mut sink, mut stream) = ws.split();
        let mut hello = json!({"type":"hello","protocol":protocol,"token":token,"worker":{"name":"fake"}});
        if let Some(c) = capacity {
            hello["capacity"] = json!(c);
        }
        sink.send(Message::Text(hello.to_string().into())).await.unwrap();
        let welcome = next_json(&mut stream).await;
        if welcome["type"] != "welcome" {
            let (_tx, rx) = mpsc::unbounded_channel();
            let (out, _) = mpsc::unbounded_channel();
            return (
                FakeWorker {
                    invocations: Default::default(),
                    timeline: Default::default(),
                    frames: rx,
                    out,
                    task: tokio::spawn(async {}),
                },
                welcome,
            );
        }
        sink.send(Message::Text(
            json!({"type":"register","steps":steps}).to_string().into(),
        ))
        .await
        .unwrap();
        let registered = loop {
            let f = next_json(&mut stream).await;
            if f["type"] == "registered" {
                break f;
            }
        };
        let invocations = Arc::new(Mutex::new(Vec::new()));
        let (ftx, frx) = mpsc::unbounded_channel();
        let (otx, mut orx) = mpsc::unbounded_channel::<String>();
        let inv = invocations.clone();
        let timeline: Timeline = Default::default();
        let tl = timeline.clone();
        let out_for_handlers = otx.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    msg = stream.next() => {
                        let Some(Ok(msg)) = msg else { break };
                        let Message::Text(t) = msg else { continue };
                        let frame: Value = serde_json::from_str(&t).unwrap();
                        if frame["type"] == "invoke" {
                            inv.lock().unwrap().push(frame.clone());
                            let inv_id = frame["id"].as_str().unwrap().to_string();
                            tl.lock().unwrap().insert(inv_id.clone(), (std::time::Instant::now(), None));
                            let step = frame["step"].as_str().unwrap().to_string();
                            if let Some(h) = handlers.get(&step) {
                                let mut result = h(&frame);
                                let delay = result.get("delay_ms").and_then(Value::as_u64).unwrap_or(0);
                                if result.get("never").is_some() { continue; }
                                result["type"] = json!("result");
                                result["id"] = frame["id"].clone();
                                // `spans` in a handler's answer: a `spans` frame sent just before the result.
                                let spans = result.as_object_mut().and_then(|r| r.remove("spans"))
                                    .map(|s| json!({"type": "spans", "id": frame["id"], "spans": s}).to_string());
                                let out = out_for_handlers.clone();
                                let tl = tl.clone();
                                tokio::spawn(async move {
                                    if delay > 0 { tokio::time::sleep(Duration::from_millis(delay)).await; }
                                    if let Some(spans) = spans { let _ = out.send(spans); }
                                    if let Some(e) = tl.lock().unwrap().get_mut(&inv_id) { e.1 = Some(std::time::Instant::now()); }
                                    let _ = out.send(result.to_string());
                                });
                            }
                        }
                        let _ = ftx.send(frame);
                    }
                    out = orx.recv() => {
                        let Some(out) = out else { break };
                        if sink.send(Message::Text(out.into())).await.is_err() { break }
                    }
                }
            }
        });
        (
            FakeWorker {
                invocations,
                timeline,
                frames: frx,
                out: otx,
                task,
            },
            registered,
        )
    }

    pub fn send(&self, frame: Value) {
        self.out.send(frame.to_string()).unwrap();
    }

    /// Waits for a frame of the given type.
    pub async fn expect(&mut self, ty: &str) -> Value {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let f = self.frames.recv().await.expect("worker connection closed");
                if f["type"] == ty {
                    return f;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no `{ty}` frame within 10 s"))
    }

    /// Invocations that finished.
    pub fn finished(&self) -> usize {
        self.timeline
            .lock()
            .unwrap()
            .values()
            .filter(|(_, e)| e.is_some())
            .count()
    }

    /// The most invocations that ran at the same moment (from the finished ones' start and end times).
    pub fn max_overlap(&self) -> usize {
        let spans: Vec<_> = self
            .timeline
            .lock()
            .unwrap()
            .values()
            .filter_map(|(s, e)| Some((*s, (*e)?)))
            .collect();
        spans
            .iter()
            .map(|(s, _)| spans.iter().filter(|(s2, e2)| s2 <= s && s < e2).count())
            .max()
            .unwrap_or(0)
    }

    pub fn invocations_of(&self, step: &str) -> Vec<Value> {
        self.invocations
            .lock()
            .unwrap()
            .iter()
            .filter(|f| f["step"] == step)
            .cloned()
            .collect()
    }

    /// Drops the connection abruptly.
    pub fn kill(self) {
        self.task.abort();
    }
}

async fn next_json<S>(stream: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("frame within 10 s")
        {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(Message::Close(c))) => return json!({"type": "closed", "code": c.map(|c| u16::from(c.code))}),
            Some(Ok(_)) => continue,
            other => return json!({"type": "closed", "detail": format!("{other:?}")}),
        }
    }
}

pub fn handlers(list: Vec<(&str, Handler)>) -> HashMap<String, Handler> {
    list.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Polls `f` until it returns true or `secs` pass.
pub async fn eventually<F: FnMut() -> bool>(secs: u64, mut f: F) -> bool {
    let until = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < until {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

/// The manifest of an API step (test shorthand).
pub fn api_step(name: &str, method: &str, path: &str, emits: &[&str]) -> Value {
    json!({"name": name, "type": "api", "file": format!("steps/{name}.step.ts"), "method": method, "path": path, "emits": emits})
}

/// The manifest of an event step (test shorthand).
pub fn event_step(name: &str, subscribes: &[&str], emits: &[&str], infra: Value) -> Value {
    json!({"name": name, "type": "event", "file": format!("steps/{name}.step.ts"), "subscribes": subscribes, "emits": emits, "infrastructure": infra})
}

/// A tool the test needs: present, or (outside CI) a loud skip. In CI a missing tool fails the test.
pub fn tool(path: PathBuf, how: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    let msg = format!("{} is missing ({how})", path.display());
    assert!(std::env::var_os("CI").is_none(), "{msg}");
    eprintln!("\n!!!!! SKIPPED: {msg} !!!!!\n");
    None
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A child process (a test server) killed when dropped, so a failing test leaves nothing running.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port for a child server that cannot take `--listen 127.0.0.1:0` and say which port it bound (Prometheus,
/// Alertmanager, aiosmtpd): free now, and outside the kernel's ephemeral range, so no `bind(…:0)` of another
/// test (every in-process runtime binds that way) nor an outgoing connection can take it before the child binds.
/// Chosen at random, so two tests picking at once are unlikely to pick the same; [`spawn_server`] retries when
/// the child could not bind it anyway.
fn unused_fixed_port() -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (from, to) = if low > 12_000 {
        (10_000, low)
    } else {
        (1_024, low.max(2_048))
    };
    loop {
        let port = from + (uuid::Uuid::new_v4().as_u128() % u128::from(to - from)) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Starts the server `command` makes for a port, on a port of [`unused_fixed_port`], and waits until it
/// listens; a child that exits before it listens (the port was taken after all) is started again on another
/// port, three times at most.
pub async fn spawn_server(mut command: impl FnMut(u16) -> std::process::Command) -> (Killed, u16) {
    for _ in 0..3 {
        let port = unused_fixed_port();
        let mut child = Killed(command(port).spawn().expect("the server starts"));
        if wait_listening(port, &mut child).await {
            return (child, port);
        }
        eprintln!("the server on port {port} exited before it listened; trying another port");
    }
    panic!("the server could not start on any of 3 ports")
}

/// Waits until something listens on `port` (10 s at most): `false` when `child` exited first.
async fn wait_listening(port: u16, child: &mut Killed) -> bool {
    for _ in 0..200 {
        if let Ok(Some(_)) = child.0.try_wait() {
            return false;
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            // Still ours: a child that lost the port to another process exits right after its bind failed.
            tokio::time::sleep(Duration::from_millis(50)).await;
            return !matches!(child.0.try_wait(), Ok(Some(_)));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on port {port} after 10 s");
}
