//! `cfp-loadgen`: a small HTTP/1.1 keep-alive load generator for the benchmarks in `bench/`.
//! Loopback only: it refuses any address outside 127.0.0.0/8 and ::1.
//!
//! ```text
//! cfp-loadgen max  --url http://127.0.0.1:3000/hello --connections 32 --seconds 10 [--method POST --body '{}']
//! cfp-loadgen rate --url http://127.0.0.1:3000/hello --rate 5000 --seconds 10 --connections 64
//! ```
//! - `max`: closed loop, every connection sends its next request as soon as the previous answer arrived.
//! - `rate`: open loop, request *i* is due at `start + i/rate`. A request sent late because its connection was
//!   still busy has its latency counted from the due time, so a server that falls behind shows it in the
//!   percentiles (no coordinated omission); one whose connection waited for the due time is counted from when
//!   it was sent (the ~1 ms timer granularity is the generator's, not the server's).
//!
//! Options: `--header 'name: value'` (repeatable), `--timeout-ms` (per request, default 10000; a request that times out counts as an error and its
//! connection is reopened), `--threads` (tokio worker threads, default: all cores).
//! Every run is bounded: it stops `--seconds` after the start and gives in-flight requests at most the
//! request timeout.
//!
//! Prints one JSON object: requests (successful, status < 400), errors, status counts, seconds, rps, latency
//! percentiles (p50/p90/p99/p999/max, ms), the generator's own CPU seconds (so a benchmark can tell its cost
//! apart from the server's) and, for `rate`, the target rate.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Target {
    addr: SocketAddr,
    request: Vec<u8>,
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Every `--header 'name: value'` given.
fn headers(args: &[String]) -> Vec<String> {
    args.windows(2)
        .filter(|w| w[0] == "--header")
        .map(|w| w[1].clone())
        .collect()
}

fn parse_target(url: &str, method: &str, body: &str, extra: &[String]) -> Result<Target, String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr: SocketAddr = host.parse().map_err(|e| format!("host must be ip:port ({e})"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address; load tests only target this machine"
        ));
    }
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\ncontent-length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str("content-type: application/json\r\n");
    }
    for h in extra {
        if !h.contains(':') || h.contains('\r') || h.contains('\n') {
            return Err(format!("--header must be `name: value` on one line, got `{h}`"));
        }
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req.push_str(body);
    Ok(Target {
        addr,
        request: req.into_bytes(),
    })
}

async fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 16384];
    let n = s.read(&mut chunk).await?;
    if n == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads one response (content-length or chunked body); returns the status.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    let bad = || std::io::Error::from(std::io::ErrorKind::InvalidData);
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).map_err(|_| bad())?;
            let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
            let lower = head.to_ascii_lowercase();
            let header = |name: &str| {
                lower
                    .lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            };
            let chunked = header("transfer-encoding:").is_some_and(|v| v.contains("chunked"));
            let mut pos = end + 4;
            if chunked {
                // size CRLF data CRLF ... 0 CRLF CRLF (trailers are not expected)
                loop {
                    let line_end = loop {
                        if let Some(i) = find(&buf[pos..], b"\r\n") {
                            break pos + i;
                        }
                        fill(s, buf).await?;
                    };
                    let size_text = std::str::from_utf8(&buf[pos..line_end]).map_err(|_| bad())?;
                    let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                        .map_err(|_| bad())?;
                    let need = line_end + 2 + size + 2;
                    while buf.len() < need {
                        fill(s, buf).await?;
                    }
                    pos = need;
                    if size == 0 {
                        break;
                    }
                }
            } else {
                let len: usize = header("content-length:").and_then(|v| v.parse().ok()).unwrap_or(0);
                pos += len;
                while buf.len() < pos {
                    fill(s, buf).await?;
                }
            }
            buf.drain(..pos);
            return Ok(status);
        }
        fill(s, buf).await?;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// CPU seconds (user + system) this process used so far, from /proc/self/stat (Linux; USER_HZ = 100).
fn own_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 (1-based).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[derive(Default)]
struct ConnResult {
    latencies: Vec<f64>,
    statuses: BTreeMap<u16, u64>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads: usize = arg(&args, "--threads").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if threads > 0 {
        builder.worker_threads(threads);
    }
    let rt = builder.build().expect("tokio runtime");
    rt.block_on(run(args));
}

async fn run(args: Vec<String>) {
    let mode = args.get(1).cloned().unwrap_or_default();
    let url = arg(&args, "--url").unwrap_or_else(|| "http://127.0.0.1:3000/".into());
    let method = arg(&args, "--method").unwrap_or_else(|| "GET".into());
    let body = arg(&args, "--body").unwrap_or_default();
    let connections: usize = arg(&args, "--connections")
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
        .clamp(1, 4096);
    let seconds: f64 = arg(&args, "--seconds")
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(10.0)
        .clamp(0.1, 120.0);
    let rate: f64 = arg(&args, "--rate")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000.0_f64)
        .max(0.1);
    let timeout = Duration::from_millis(
        arg(&args, "--timeout-ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000u64)
            .clamp(1, 120_000),
    );
    let target = match parse_target(&url, &method, &body, &headers(&args)) {
        Ok(t) => Arc::new(t),
        Err(e) => {
            eprintln!("cfp-loadgen: {e}");
            std::process::exit(2);
        }
    };
    if mode != "max" && mode != "rate" {
        eprintln!("usage: cfp-loadgen max|rate --url http://127.0.0.1:PORT/path [--method M] [--body JSON] [--connections N] [--seconds S] [--rate R] [--timeout-ms T] [--threads N] [--header 'name: value']...");
        std::process::exit(2);
    }
    let errors = Arc::new(AtomicU64::new(0));
    let reconnects = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    // Open-loop schedule for `rate`: request i is due at started + i/rate, spread over the connections.
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (target, errors, reconnects, next) = (target.clone(), errors.clone(), reconnects.clone(), next.clone());
        let rate_mode = mode == "rate";
        tasks.push(tokio::spawn(async move {
            let mut out = ConnResult::default();
            let mut conn: Option<TcpStream> = None;
            let mut buf = Vec::with_capacity(16384);
            while Instant::now() < deadline {
                let t0 = if rate_mode {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let due = started + Duration::from_secs_f64(i as f64 / rate);
                    if due >= deadline {
                        break;
                    }
                    let now = Instant::now();
                    if due > now {
                        // The connection is idle until the request is due: latency starts when it is
                        // actually sent, so the timer's granularity (~1 ms) is not counted as server time.
                        tokio::time::sleep(due - now).await;
                        Instant::now()
                    } else {
                        // Overdue (this connection was still busy): count from the scheduled time, so a
                        // server that falls behind shows it (no coordinated omission).
                        due
                    }
                } else {
                    Instant::now()
                };
                if conn.is_none() {
                    match tokio::time::timeout(timeout, TcpStream::connect(target.addr)).await {
                        Ok(Ok(s)) => {
                            let _ = s.set_nodelay(true);
                            conn = Some(s);
                            buf.clear();
                        }
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    }
                }
                let s = conn.as_mut().expect("connected");
                let exchange = async {
                    s.write_all(&target.request).await?;
                    read_response(s, &mut buf).await
                };
                match tokio::time::timeout(timeout, exchange).await {
                    Ok(Ok(status)) => {
                        *out.statuses.entry(status).or_default() += 1;
                        if status < 400 {
                            out.latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
                        } else {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(Err(_)) | Err(_) => {
                        // I/O error or timeout: the connection's state is unknown; open a new one.
                        errors.fetch_add(1, Ordering::Relaxed);
                        reconnects.fetch_add(1, Ordering::Relaxed);
                        conn = None;
                    }
                }
            }
            out
        }));
    }
    let mut all = Vec::new();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    for t in tasks {
        if let Ok(r) = t.await {
            all.extend(r.latencies);
            for (k, v) in r.statuses {
                *statuses.entry(k).or_default() += v;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let status_json: serde_json::Map<String, serde_json::Value> = statuses
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
        .collect();
    let out = serde_json::json!({
        "mode": mode,
        "url": url,
        "connections": connections,
        "requests": all.len(),
        "errors": errors.load(Ordering::Relaxed),
        "reconnects": reconnects.load(Ordering::Relaxed),
        "statuses": status_json,
        "seconds": round3(elapsed),
        "rps": (all.len() as f64 / elapsed).round(),
        "targetRate": if mode == "rate" { Some(rate) } else { None },
        "p50Ms": round3(percentile(&all, 0.50)),
        "p90Ms": round3(percentile(&all, 0.90)),
        "p99Ms": round3(percentile(&all, 0.99)),
        "p999Ms": round3(percentile(&all, 0.999)),
        "maxMs": round3(all.last().copied().unwrap_or(0.0)),
        "cpuSeconds": own_cpu_seconds(),
    });
    println!("{out}");
}
