//! The batched, bounded, non-blocking exporter of one signal (spans or log records).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{mpsc, oneshot};

use crate::{AttrValue, ExporterConfig, LogData, SpanData};

/// What an [`Exporter`] sends: spans (`/v1/traces`) or log records (`/v1/logs`).
pub trait Signal: Send + 'static {
    /// `spans` or `logs` (the `signal` label of the runtime's `cfp_otlp_*` metrics).
    const NAME: &'static str;
    /// The request body (the signal's `Export…ServiceRequest`).
    fn encode(resource: &[(String, AttrValue)], batch: &[Self]) -> Vec<u8>
    where
        Self: Sized;
}

impl Signal for SpanData {
    const NAME: &'static str = "spans";
    fn encode(resource: &[(String, AttrValue)], batch: &[Self]) -> Vec<u8> {
        crate::proto::encode_request(resource, batch)
    }
}

impl Signal for LogData {
    const NAME: &'static str = "logs";
    fn encode(resource: &[(String, AttrValue)], batch: &[Self]) -> Vec<u8> {
        crate::proto::encode_logs(resource, batch)
    }
}

/// Counters of an exporter (also logged at warn level when items are dropped).
#[derive(Debug, Default)]
pub struct ExportStats {
    /// Items accepted into the buffer.
    pub queued: AtomicU64,
    /// Items dropped because the buffer was full.
    pub dropped_full: AtomicU64,
    /// Items dropped because their batch could not be sent (endpoint unreachable, refused, timed out, after the
    /// retries).
    pub dropped_failed: AtomicU64,
    /// Items the endpoint accepted (2xx).
    pub exported: AtomicU64,
    /// Requests sent (retries included).
    pub requests: AtomicU64,
}

/// A cheap, cloneable handle: items go into a bounded buffer, a background task exports them.
pub struct Exporter<T: Signal = SpanData> {
    tx: mpsc::Sender<T>,
    flush: mpsc::Sender<oneshot::Sender<()>>,
    stats: Arc<ExportStats>,
}

impl<T: Signal> Clone for Exporter<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            flush: self.flush.clone(),
            stats: self.stats.clone(),
        }
    }
}

impl<T: Signal> std::fmt::Debug for Exporter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("signal", &T::NAME)
            .field("stats", &self.stats)
            .finish()
    }
}

pub(crate) type Http = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

impl<T: Signal> Exporter<T> {
    /// Starts the export task on the current Tokio runtime.
    pub fn start(cfg: ExporterConfig) -> Self {
        let (tx, rx) = mpsc::channel(cfg.buffer.max(1));
        let (flush, flush_rx) = mpsc::channel(8);
        let stats = Arc::new(ExportStats::default());
        tokio::spawn(export_loop(cfg, rx, flush_rx, stats.clone()));
        Self { tx, flush, stats }
    }

    /// Queues an item. Never blocks: when the buffer is full the item is dropped and counted.
    pub fn submit(&self, item: T) {
        match self.tx.try_send(item) {
            Ok(()) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.stats.dropped_full.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Sends what is buffered now (the batch being filled and everything queued), waiting at most `deadline`.
    /// True when it was all sent or given up (counted) in time; items still unsent at the deadline are lost when
    /// the process exits.
    pub async fn flush(&self, deadline: Duration) -> bool {
        let (done, wait) = oneshot::channel();
        let asked = async { self.flush.send(done).await.is_ok() && wait.await.is_ok() };
        tokio::time::timeout(deadline, asked).await.unwrap_or(false)
    }

    pub fn stats(&self) -> &ExportStats {
        &self.stats
    }
}

pub(crate) fn http_client(timeout: Duration) -> Http {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_connect_timeout(Some(timeout));
    tcp.set_nodelay(true);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .expect("the ring provider supports rustls' default protocol versions")
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
}

struct Loop<T> {
    cfg: ExporterConfig,
    http: Http,
    stats: Arc<ExportStats>,
    batch: Vec<T>,
    warned_at: u64,
}

async fn export_loop<T: Signal>(
    cfg: ExporterConfig,
    mut rx: mpsc::Receiver<T>,
    mut flush_rx: mpsc::Receiver<oneshot::Sender<()>>,
    stats: Arc<ExportStats>,
) {
    let mut l = Loop {
        http: http_client(cfg.timeout),
        batch: Vec::with_capacity(cfg.batch),
        cfg,
        stats,
        warned_at: 0,
    };
    loop {
        // Wait for the first item (or a flush), then fill the batch until it is full or the interval passed.
        let mut flush = None;
        tokio::select! {
            biased;
            Some(done) = flush_rx.recv() => flush = Some(done),
            item = rx.recv() => match item {
                Some(item) => l.batch.push(item),
                None => return,
            },
        }
        if flush.is_none() {
            let until = tokio::time::Instant::now() + l.cfg.interval;
            while l.batch.len() < l.cfg.batch {
                tokio::select! {
                    biased;
                    Some(done) = flush_rx.recv() => {
                        flush = Some(done);
                        break;
                    }
                    r = tokio::time::timeout_at(until, rx.recv()) => match r {
                        Ok(Some(item)) => l.batch.push(item),
                        Ok(None) | Err(_) => break,
                    },
                }
            }
        }
        l.send_batch().await;
        if let Some(done) = flush {
            // Everything queued before the flush was asked for, in full batches.
            loop {
                while l.batch.len() < l.cfg.batch {
                    match rx.try_recv() {
                        Ok(item) => l.batch.push(item),
                        Err(_) => break,
                    }
                }
                if l.batch.is_empty() {
                    break;
                }
                l.send_batch().await;
            }
            let _ = done.send(());
        }
    }
}

impl<T: Signal> Loop<T> {
    async fn send_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let n = self.batch.len() as u64;
        let body = Bytes::from(T::encode(&self.cfg.resource, &self.batch));
        self.batch.clear();
        let tries = async {
            let mut backoff = Duration::from_millis(100);
            let mut tries_left = self.cfg.retries;
            loop {
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                match send(&self.http, &self.cfg, body.clone()).await {
                    Ok(()) => return Ok(()),
                    Err((why, true)) if tries_left > 0 => {
                        tries_left -= 1;
                        tracing::debug!(url = %self.cfg.url, "OTLP export failed, trying again: {why}");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 4).min(Duration::from_secs(5));
                    }
                    Err((why, _)) => return Err(why),
                }
            }
        };
        match tokio::time::timeout(self.cfg.timeout, tries).await {
            Ok(Ok(())) => {
                self.stats.exported.fetch_add(n, Ordering::Relaxed);
            }
            outcome => {
                let failed = self.stats.dropped_failed.fetch_add(n, Ordering::Relaxed) + n;
                // One warning per 1,000 dropped items at most: a dead endpoint must not flood the log.
                if failed / 1000 >= self.warned_at {
                    self.warned_at = failed / 1000 + 1;
                    let why = match outcome {
                        Ok(Err(e)) => e,
                        _ => format!("no answer within {} ms", self.cfg.timeout.as_millis()),
                    };
                    tracing::warn!(url = %self.cfg.url, dropped = failed, signal = T::NAME, "OTLP export failed: {why}");
                }
            }
        }
    }
}

/// One request; the error says whether OTLP deems it retryable (no connection, 429, 502, 503, 504).
async fn send(http: &Http, cfg: &ExporterConfig, body: Bytes) -> Result<(), (String, bool)> {
    let mut req = hyper::Request::post(&cfg.url).header("content-type", "application/x-protobuf");
    for (k, v) in &cfg.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req.body(Full::new(body)).map_err(|e| (e.to_string(), false))?;
    let res = http.request(req).await.map_err(|e| (format!("{e:?}"), true))?;
    let status = res.status();
    // Read (and bound) the answer so the connection can be reused.
    let _ = http_body_util::Limited::new(res.into_body(), 64 * 1024).collect().await;
    if status.is_success() {
        Ok(())
    } else {
        let retryable = matches!(status.as_u16(), 429 | 502 | 503 | 504);
        Err((format!("the endpoint answered {status}"), retryable))
    }
}
