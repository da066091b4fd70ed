//! Issue 9 item 5: the memory one API-step request costs the runtime, with a body near the limit.
//!
//! The runtime runs in a process of its own (this test binary again, running `runtime_process`), so that what
//! the client and the worker hold does not count, with glibc's mmap threshold fixed at 64 KiB: every large
//! buffer is mapped when allocated and unmapped when freed, so the process's peak resident size (`VmHWM`, reset
//! through `/proc/self/clear_refs` just before the request) follows the peak of the large buffers alive at once.
//! The figure is that peak above the resident size before the request, as a multiple of the body size.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::*;
use serde_json::{json, Value};

const CHILD: &str = "CFP_TEST_INGRESS_MEMORY_CHILD";
/// The payload threshold the runtime process runs with (bytes).
const CHILD_THRESHOLD: &str = "CFP_TEST_INGRESS_MEMORY_THRESHOLD";
const LIMIT: usize = 1024 * 1024;

fn status_kib(field: &str) -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The runtime's side: started by the test below; does nothing when run on its own.
#[tokio::test]
async fn runtime_process() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let mut opts = RuntimeOptions::default();
    opts.gateway.body_limit = LIMIT;
    opts.payload_threshold = std::env::var(CHILD_THRESHOLD).unwrap().parse().unwrap();
    // Stored bodies on disk, as a deployment keeps them: the memory measured is the runtime's own.
    let dir = std::env::temp_dir().join(format!("cfp-ingress-memory-{}", std::process::id()));
    opts.payloads_dir = Some(dir.clone());
    let rt = start(opts).await;
    println!("MEM addr {} {}", rt.addr, rt.ws_url());
    // Commands on stdin: `reset` (peak := now, answers the resident size), `peak` (answers the peak).
    let (done, mut finished) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line.unwrap_or_default().trim() {
                "reset" => {
                    std::fs::write("/proc/self/clear_refs", "5").unwrap();
                    println!("MEM {}", status_kib("VmRSS:"));
                }
                "peak" => println!("MEM {}", status_kib("VmHWM:")),
                _ => break,
            }
            std::io::stdout().flush().unwrap();
        }
        let _ = done.send(());
    });
    let _ = (&mut finished).await;
    rt.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

struct RuntimeProcess {
    child: std::process::Child,
    out: BufReader<std::process::ChildStdout>,
}

impl RuntimeProcess {
    fn start(threshold: usize) -> (RuntimeProcess, std::net::SocketAddr, String) {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["runtime_process", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .env(CHILD_THRESHOLD, threshold.to_string())
            .env("MALLOC_MMAP_THRESHOLD_", "65536")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let line = read_mem(&mut out);
        let mut parts = line.split_whitespace().skip(1);
        let addr = parts.next().unwrap().parse().unwrap();
        let ws = parts.next().unwrap().to_string();
        (RuntimeProcess { child, out }, addr, ws)
    }

    /// Sends a command and reads the figure answered (KiB).
    fn ask(&mut self, command: &str) -> i64 {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
        read_mem(&mut self.out).parse().unwrap()
    }

    fn stop(mut self) {
        drop(self.child.stdin.take());
        assert!(self.child.wait().unwrap().success());
    }
}

fn read_mem(out: &mut impl BufRead) -> String {
    loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "the runtime process ended");
        // (libtest prints `test runtime_process ... ` before the first line, without a line break)
        if let Some(at) = line.find("MEM ") {
            return line[at + 4..].trim().to_string();
        }
    }
}

async fn post(addr: std::net::SocketAddr, path: &str, content_type: &str, body: &[u8]) -> Value {
    let r = http(
        addr,
        "POST",
        path,
        &[("x-api-key", ADMIN), ("content-type", content_type)],
        body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// One request of each kind per protocol, the smallest peak of three rounds, as a multiple of the body.
async fn measure(threshold: usize, protocols: &[u32], figures: &mut Vec<(String, f64)>) {
    let (mut runtime, addr, ws) = RuntimeProcess::start(threshold);
    // What the step was given: the parsed body's kind (protocol 1) or how to parse the bytes (protocol 2), and
    // how many bytes came (inline as base64, or by reference).
    let echo: Handler = Arc::new(|f: &Value| {
        let input = &f["input"];
        let bytes = match (input["rawBody"].as_str(), input["rawBodyRef"]["size"].as_u64()) {
            (Some(b64), _) => b64.len() / 4 * 3 - b64.bytes().rev().take_while(|b| *b == b'=').count(),
            (None, Some(size)) => size as usize,
            (None, None) => 0,
        };
        let kind = match (&input.get("body"), &input["bodyFrom"]) {
            (Some(Value::String(_)), _) => "string",
            (Some(Value::Object(_)), _) => "object",
            (Some(Value::Array(_)), _) => "array",
            (Some(_), _) => "other",
            (None, Value::String(from)) => from.as_str(),
            (None, _) => "missing",
        }
        .to_string();
        let by = if input.get("rawBodyRef").is_some() {
            "reference"
        } else {
            "inline"
        };
        json!({"ok": true, "output": {"status": 200, "body": {"bytes": bytes, "body": kind, "by": by}}})
    });
    // One worker per protocol version, each hosting its own route.
    let mut workers = Vec::new();
    for protocol in protocols {
        let (step, path) = (format!("Big{protocol}"), format!("/big{protocol}"));
        let steps = json!([api_step(&step, "POST", &path, &[])]);
        let (worker, registered) = FakeWorker::connect_speaking(
            &ws,
            TOKEN,
            steps,
            handlers(vec![(step.as_str(), echo.clone())]),
            None,
            *protocol,
        )
        .await;
        assert_eq!(registered["type"], "registered", "{registered}");
        workers.push(worker);
    }

    let n = LIMIT - 1024;
    let json_string = serde_json::to_vec(&json!({"data": "a".repeat(n - 12)})).unwrap();
    // (label, content type, body, what a protocol 1 worker gets, what a protocol 2 worker gets)
    let cases: Vec<(&str, &str, Vec<u8>, &str, &str)> = vec![
        (
            "a JSON document holding one long string",
            "application/json",
            json_string,
            "object",
            "json",
        ),
        ("plain text", "text/plain", vec![b'b'; n], "string", "text"),
        (
            "bytes the runtime does not parse",
            "application/octet-stream",
            vec![0xa5; n],
            "other",
            "none",
        ),
    ];
    for protocol in protocols {
        let path = format!("/big{protocol}");
        for (label, content_type, body, v1, v2) in &cases {
            let parsed = if *protocol == 1 { v1 } else { v2 };
            let mut peaks = Vec::new();
            let mut by = Value::Null;
            for _ in 0..3 {
                post(addr, &path, content_type, b"{}").await; // warm: pools, lazily built tables
                let before = runtime.ask("reset");
                let answer = post(addr, &path, content_type, body).await;
                let peak = runtime.ask("peak");
                assert_eq!(answer["body"], *parsed, "protocol {protocol}, {label}");
                assert_eq!(answer["bytes"], body.len(), "{label}");
                by = answer["by"].clone();
                peaks.push((peak - before) as f64 * 1024.0 / body.len() as f64);
            }
            // the smallest of three: another allocation of the runtime's (a database pool, a timer) only adds
            let ratio = peaks.iter().copied().fold(f64::INFINITY, f64::min);
            let name = format!("protocol {protocol} ({}), {label}", by.as_str().unwrap_or("?"));
            println!(
                "ingress peak, {name}, {} bytes: {ratio:.2} x the body (rounds {peaks:.2?})",
                body.len()
            );
            figures.push((name, ratio));
        }
    }
    drop(workers);
    runtime.stop();
}

#[tokio::test]
async fn one_request_near_the_body_limit_costs_a_bounded_multiple_of_its_body() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let mut figures = Vec::new();
    // A threshold above the limit: every body inline, parsed by the runtime (protocol 1) or by the worker (2).
    measure(2 * LIMIT, &[1, 2], &mut figures).await;
    // The default threshold (256 KiB): a protocol 2 worker gets a body near the limit by reference.
    measure(256 * 1024, &[2], &mut figures).await;
    // Measured (issue 9 item 5, this test's own run): protocol 1 ~5x for parsed bodies (the input holds the body
    // twice, as `body` and as base64 `rawBody`, then as frame text and in the socket's write buffer), ~2.5x for
    // unparsed bytes; protocol 2 inline ~2.5-3x whatever the content type (the body once, as base64 `rawBody`: the
    // worker parses it); protocol 2 by reference ~0.3x (a few parts of 256 KiB at a time), ~1x for a JSON document
    // that is one long string (the JSON check holds the longest string it reads). One more whole copy fails this.
    for (name, ratio) in &figures {
        let bound = if name.contains("reference") {
            1.5
        } else if name.starts_with("protocol 2") || name.contains("bytes") {
            5.0
        } else {
            8.5
        };
        assert!(
            *ratio < bound,
            "{name} costs {ratio:.2} x its size (bound {bound}): {figures:?}"
        );
    }
}
