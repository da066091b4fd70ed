//! Protocol fuzzing of the worker socket (issue 8): random and mutated frames, before and after `hello`, from a
//! hostile tenant's worker. The runtime must not crash, must close only the offending connections, and must not
//! touch another project: a victim worker's API step keeps answering and its project's state stays empty.
//! Deterministic (a seeded xorshift generator), bounded in count and time.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cfp_store::Scope;
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const HOSTILE_TOKEN: &str = "test-worker-token-hostile-tenant-01";

/// xorshift64*: enough randomness to mutate frames, reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A value of any JSON type, sometimes hostile: NUL bytes, huge numbers, deep nesting, long strings.
fn value(r: &mut Rng, depth: u32) -> Value {
    match r.below(if depth > 6 { 6 } else { 9 }) {
        0 => Value::Null,
        1 => json!(r.below(2) == 0),
        2 => json!(r.next() as i64),
        3 => json!(f64::from_bits(r.next() >> 2)),
        4 => json!(*r.pick(&[
            "",
            "\u{0}",
            "a\u{0}b",
            "../../etc/passwd",
            "api-00000000",
            "1.1",
            "🦀",
            "%00"
        ])),
        5 => json!("x".repeat(r.below(4096) as usize)),
        6 => Value::Array((0..r.below(4)).map(|_| value(r, depth + 1)).collect()),
        7 => {
            let mut nested = json!(1);
            for _ in 0..r.below(200) {
                nested = json!([nested]);
            }
            nested
        }
        _ => {
            let keys = [
                "id", "type", "ok", "output", "emits", "error", "entries", "method", "params", "steps", "topic",
            ];
            Value::Object(
                (0..r.below(5))
                    .map(|_| (r.pick(&keys).to_string(), value(r, depth + 1)))
                    .collect(),
            )
        }
    }
}

/// A frame shaped like the protocol's, with random or hostile fields.
fn frame(r: &mut Rng) -> Message {
    let types = [
        "hello",
        "register",
        "result",
        "log",
        "call",
        "access_result",
        "source_result",
        "ping",
        "pong",
        "drain",
        "nope",
    ];
    let mut f = json!({"type": r.pick(&types)});
    for key in [
        "id", "ok", "output", "emits", "error", "entries", "method", "params", "steps", "streams", "allowed",
    ] {
        if r.below(3) == 0 {
            f[key] = value(r, 0);
        }
    }
    if r.below(4) == 0 {
        f["method"] = json!(*r.pick(&["state.set", "state.get", "streams.set", "webhook.claim", "state.clear"]));
        f["params"] = json!({"group": value(r, 3), "key": value(r, 3), "value": value(r, 1), "stream": "s", "groupId": "g", "id": "1"});
    }
    match r.below(10) {
        0 => Message::Binary(vec![0xff; r.below(64) as usize].into()),
        1 => Message::Text("{\"type\":".into()),
        2 => Message::Text(format!("{}{}", f, "}").into()),
        _ => Message::Text(f.to_string().into()),
    }
}

#[tokio::test]
async fn random_and_mutated_frames_never_crash_the_runtime_or_touch_another_project() {
    let mut opts = RuntimeOptions::default();
    opts.engine
        .worker_tokens
        .push((HOSTILE_TOKEN.into(), Scope::new("hostile", "hostile")));
    let rt = start(opts).await;
    let (_victim, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        json!([api_step("Api", "POST", "/api", &[])]),
        handlers(vec![(
            "Api",
            Arc::new(|_: &Value| json!({"ok": true, "output": {"status": 200, "body": "victim"}})),
        )]),
    )
    .await;
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);

    // Before hello: every connection gets a few random frames and must be closed, never authenticated.
    for _ in 0..40 {
        let (mut ws, _) = tokio_tungstenite::connect_async(rt.ws_url()).await.unwrap();
        for _ in 0..r.below(3) + 1 {
            if ws.send(frame(&mut r)).await.is_err() {
                break;
            }
        }
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Text(t) = &m {
                    assert!(!t.contains("\"welcome\""), "a fuzzed hello was accepted: {t}");
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "an unauthenticated fuzzing connection was not closed within 5 s"
        );
    }

    // After hello: a hostile tenant's worker sends 600 random frames; the runtime answers or refuses each.
    let hello = json!({"type": "hello", "protocol": 1, "token": HOSTILE_TOKEN, "worker": {"name": "fuzzer"}});
    let (mut fuzz, _) = tokio_tungstenite::connect_async(rt.ws_url()).await.unwrap();
    fuzz.send(Message::Text(hello.to_string().into())).await.unwrap();
    let mut sent = 0;
    for _ in 0..600 {
        if fuzz.send(frame(&mut r)).await.is_err() {
            // refused (and closed) by the runtime: reconnect and go on
            let (again, _) = tokio_tungstenite::connect_async(rt.ws_url()).await.unwrap();
            fuzz = again;
            fuzz.send(Message::Text(hello.to_string().into())).await.unwrap();
            continue;
        }
        sent += 1;
        if sent % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    drop(fuzz);

    // The runtime is alive, the victim's step answers, and nothing landed in the victim's project.
    let health = http(rt.addr, "GET", "/__cfp/health", &[], b"").await;
    assert_eq!(health.status, 200);
    let auth = format!("Bearer {ADMIN}");
    let call = http(
        rt.addr,
        "POST",
        "/api",
        &[("content-type", "application/json"), ("authorization", auth.as_str())],
        b"{}",
    )
    .await;
    assert_eq!((call.status, call.body.as_slice()), (200, b"victim".as_slice()));
    let victim = Scope::new("default", "default");
    for group in ["", "\u{fffd}", "g", "x"] {
        assert!(
            rt.store.state_group(&victim, group).await.unwrap().is_empty(),
            "state of the victim project changed"
        );
    }
    let streams = rt.store.stream_group(&victim, "s", "g").await.unwrap();
    assert!(streams.is_empty(), "a stream of the victim project changed");
    eprintln!("fuzzing: 40 unauthenticated connections closed, {sent} frames after hello, the victim unaffected");
    rt.stop().await;
}
