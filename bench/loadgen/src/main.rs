//! `cfp-loadgen`: a small HTTP/1.1 keep-alive load generator for the benchmarks in `bench/`.
//! Loopback only: it refuses any address outside 127.0.0.0/8 and ::1.
//!
//! ```text
//! cfp-loadgen max  --url http://127.0.0.1:3000/hello --connections 32 --seconds 10 [--method POST --body '{}']
//! cfp-loadgen rate --url http://127.0.0.1:3000/hello --rate 5000 --seconds 10 --connections 64
//! ```
//! Prints one JSON object: requests, errors, seconds, rps, p50/p90/p99/max latency in ms.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

fn parse_target(url: &str, method: &str, body: &str) -> Result<Target, String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr: SocketAddr = host
        .parse()
        .map_err(|e| format!("host must be ip:port ({e})"))?;
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
    req.push_str("\r\n");
    req.push_str(body);
    Ok(Target {
        addr,
        request: req.into_bytes(),
    })
}

/// Reads one response; returns the status.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head =
                std::str::from_utf8(&buf[..end]).map_err(|_| std::io::ErrorKind::InvalidData)?;
            let status: u16 = head
                .get(9..12)
                .and_then(|s| s.parse().ok())
                .ok_or(std::io::ErrorKind::InvalidData)?;
            let lower = head.to_ascii_lowercase();
            let len: usize = lower
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let total = end + 4 + len;
            while buf.len() < total {
                let mut chunk = [0u8; 16384];
                let n = s.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..total);
            return Ok(status);
        }
        let mut chunk = [0u8; 16384];
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).cloned().unwrap_or_default();
    let url = arg(&args, "--url").unwrap_or_else(|| "http://127.0.0.1:3000/".into());
    let method = arg(&args, "--method").unwrap_or_else(|| "GET".into());
    let body = arg(&args, "--body").unwrap_or_default();
    let connections: usize = arg(&args, "--connections")
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let seconds: f64 = arg(&args, "--seconds")
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(10.0)
        .min(120.0);
    let rate: f64 = arg(&args, "--rate")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000.0);
    let target = match parse_target(&url, &method, &body) {
        Ok(t) => Arc::new(t),
        Err(e) => {
            eprintln!("cfp-loadgen: {e}");
            std::process::exit(2);
        }
    };
    if mode != "max" && mode != "rate" {
        eprintln!("usage: cfp-loadgen max|rate --url http://127.0.0.1:PORT/path [--connections N] [--seconds S] [--rate R]");
        std::process::exit(2);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    // Open-loop schedule for `rate`: request i is due at started + i/rate, spread over the connections.
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (target, stop, errors, next) =
            (target.clone(), stop.clone(), errors.clone(), next.clone());
        let mode = mode.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut s = match TcpStream::connect(target.addr).await {
                Ok(s) => s,
                Err(_) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    return lat;
                }
            };
            let _ = s.set_nodelay(true);
            let mut buf = Vec::with_capacity(16384);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let t0 = if mode == "rate" {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let due = started + Duration::from_secs_f64(i as f64 / rate);
                    if due >= deadline {
                        break;
                    }
                    let now = Instant::now();
                    if due > now {
                        tokio::time::sleep(due - now).await;
                    }
                    due // latency counted from the scheduled time (no coordinated omission)
                } else {
                    Instant::now()
                };
                if s.write_all(&target.request).await.is_err() {
                    errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                match read_response(&mut s, &mut buf).await {
                    Ok(status) if status < 400 => lat.push(t0.elapsed().as_secs_f64() * 1000.0),
                    Ok(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        if let Ok(l) = t.await {
            all.extend(l);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let out = serde_json::json!({
        "mode": mode,
        "url": url,
        "connections": connections,
        "requests": all.len(),
        "errors": errors.load(Ordering::Relaxed),
        "seconds": (elapsed * 1000.0).round() / 1000.0,
        "rps": (all.len() as f64 / elapsed).round(),
        "targetRate": if mode == "rate" { Some(rate) } else { None },
        "p50Ms": (percentile(&all, 0.50) * 1000.0).round() / 1000.0,
        "p90Ms": (percentile(&all, 0.90) * 1000.0).round() / 1000.0,
        "p99Ms": (percentile(&all, 0.99) * 1000.0).round() / 1000.0,
        "maxMs": (all.last().copied().unwrap_or(0.0) * 1000.0).round() / 1000.0,
    });
    println!("{out}");
}
