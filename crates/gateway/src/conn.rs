//! Serving HTTP connections: hyper's HTTP/1 server with a deadline for the request head (a connection that
//! sends no complete head within [`ServeOptions::header_read_timeout`] is closed), graceful shutdown, the peer
//! address as [`ConnectInfo`], and a [`ReadMeter`] per connection: a handler can cap how many more bytes the
//! connection may read (the worker socket does so until `hello` is authenticated).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tower_service::Service;

#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How long a connection may take to send a complete request head (headers) before it is closed.
    pub header_read_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// Counts the bytes a connection reads once a limit is set; a read past the limit fails (the connection ends).
/// Bytes hyper had already buffered when the limit was set are not counted (at most its read buffer).
#[derive(Debug)]
pub struct ReadMeter {
    limit: AtomicUsize,
    read: AtomicUsize,
    exceeded: AtomicBool,
}

impl Default for ReadMeter {
    fn default() -> Self {
        Self {
            limit: AtomicUsize::new(usize::MAX),
            read: AtomicUsize::new(0),
            exceeded: AtomicBool::new(false),
        }
    }
}

impl ReadMeter {
    /// From now on the connection may read at most `bytes` more.
    pub fn limit(&self, bytes: usize) {
        self.read.store(0, Ordering::Release);
        self.limit.store(bytes, Ordering::Release);
    }

    /// Lifts the limit.
    pub fn unlimit(&self) {
        self.limit.store(usize::MAX, Ordering::Release);
    }

    /// Whether a read failed because it went past the limit.
    pub fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Acquire)
    }
}

/// A connection whose reads are counted by its [`ReadMeter`].
struct Metered<T> {
    io: T,
    meter: Arc<ReadMeter>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Metered<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        let limit = this.meter.limit.load(Ordering::Acquire);
        if n > 0 && limit != usize::MAX {
            let total = this.meter.read.fetch_add(n, Ordering::AcqRel) + n;
            if total > limit {
                this.meter.exceeded.store(true, Ordering::Release);
                buf.set_filled(before);
                return Poll::Ready(Err(std::io::Error::other("the connection sent more than it may yet")));
            }
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Metered<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting connections and waits for the
/// requests in flight to finish (upgraded sockets are not waited for: their owners end them).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    opts: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout);
    // Connection tasks hold a receiver each: when every one is dropped, all connections are done.
    let (done_tx, done_rx) = tokio::sync::watch::channel(());
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let (app, mut http, header_read_timeout) = (app.clone(), http.clone(), opts.header_read_timeout);
        let mut stop = stop_rx.clone();
        let done = done_rx.clone();
        let fut = async move {
            // Until the client sends something the connection costs no buffer (hyper allocates its read buffer
            // as soon as it serves a connection); the request-head deadline counts from the accept.
            let accepted = tokio::time::Instant::now();
            let mut first = [0u8; 1];
            tokio::select! {
                r = tokio::time::timeout(header_read_timeout, tcp.peek(&mut first)) => if !matches!(r, Ok(Ok(1))) { return },
                _ = stopped(&mut stop) => return,
            }
            let left = header_read_timeout.saturating_sub(accepted.elapsed());
            http.header_read_timeout(left.max(Duration::from_millis(100)));
            let meter = Arc::new(ReadMeter::default());
            let io = TokioIo::new(Metered {
                io: tcp,
                meter: meter.clone(),
            });
            let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                req.extensions_mut().insert(meter.clone());
                let mut router = app.clone();
                async move { router.call(req.map(Body::new)).await }
            });
            let conn = http.serve_connection(io, service).with_upgrades();
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => { if let Err(e) = r { tracing::trace!(error = %e, "connection ended"); } }
                _ = stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(done);
        };
        tokio::spawn(fut);
    }
    // Every connection task is told to finish (gracefully), then waited for.
    let _ = stop_tx.send(true);
    drop(listener);
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}

async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
