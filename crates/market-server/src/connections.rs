//! Connections: the accept loop with caps on open connections (in total
//! and per client address), a timeout on reading a request's headers, an
//! idle timeout on kept-alive connections, and a graceful shutdown.
//!
//! A connection is idle from the moment it opens or its last answer was
//! sent until the first byte of its next request; it then has the header
//! timeout to complete that request's headers. The body has its own
//! timeout, applied where it is read (`rpc` in `lib.rs`). A connection past
//! either timeout is closed; one over a cap is answered 503 and closed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tower::ServiceExt;

/// Timeouts and caps of the server's connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From a request's first byte until its headers are complete.
    pub header_timeout: Duration,
    /// How long a connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Open connections at once (0: no cap).
    pub max_connections: usize,
    /// Open connections at once from one client address (0: no cap).
    pub max_connections_per_address: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            max_connections_per_address: 64,
        }
    }
}

/// Open connections, in total and per address.
#[derive(Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// A connection's place in the count; released when dropped.
struct Slot {
    open: Arc<Mutex<Open>>,
    address: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_address.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                open.by_address.remove(&self.address);
            }
        }
    }
}

/// Count a new connection from `address`, unless a cap is reached.
fn admit(open: &Arc<Mutex<Open>>, address: IpAddr, limits: &ConnectionLimits) -> Option<Slot> {
    let mut o = open.lock().unwrap_or_else(|p| p.into_inner());
    let from_address = o.by_address.get(&address).copied().unwrap_or(0);
    let over_total = limits.max_connections > 0 && o.total >= limits.max_connections;
    let over_address = limits.max_connections_per_address > 0
        && from_address >= limits.max_connections_per_address;
    if over_total || over_address {
        return None;
    }
    o.total += 1;
    o.by_address.insert(address, from_address + 1);
    Some(Slot {
        open: open.clone(),
        address,
    })
}

/// A connection's place in the count, carried by each of its requests: an
/// upgraded (WebSocket) connection outlives its HTTP task and holds it on.
#[derive(Clone)]
pub(crate) struct Held {
    _slot: Arc<Slot>,
}

/// What a connection is doing, for its watchdog.
const IDLE: usize = 0;
const READING_HEAD: usize = 1;
const BUSY: usize = 2;

/// The state of one connection shared by its socket, its requests and its watchdog.
struct Activity {
    state: AtomicUsize,
    /// Requests being answered.
    in_flight: AtomicUsize,
    /// When the current state began (or the last byte was written while idle).
    since: Mutex<Instant>,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            state: AtomicUsize::new(IDLE),
            in_flight: AtomicUsize::new(0),
            since: Mutex::new(Instant::now()),
        }
    }

    fn enter(&self, state: usize) {
        *self.since.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.state.store(state, Ordering::SeqCst);
    }

    fn touch(&self) {
        *self.since.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn since(&self) -> Instant {
        *self.since.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A request reached the router.
    fn start_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.enter(BUSY);
        InFlight(self.clone())
    }
}

/// One request being answered; the connection turns idle when the last ends.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.enter(IDLE);
        }
    }
}

/// The socket, noting when a request's first byte arrives and when bytes
/// are written.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let a = &self.activity;
            if a.state.load(Ordering::SeqCst) == IDLE && a.in_flight.load(Ordering::SeqCst) == 0 {
                a.enter(READING_HEAD);
            }
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0)
            && self.activity.state.load(Ordering::SeqCst) == IDLE
        {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Resolves when the connection has been idle, or reading one request's
/// headers, for longer than allowed.
async fn watchdog(activity: Arc<Activity>, limits: ConnectionLimits) {
    loop {
        let allowed = match activity.state.load(Ordering::SeqCst) {
            IDLE => Some(limits.idle_timeout),
            READING_HEAD => Some(limits.header_timeout),
            _ => None,
        };
        let now = Instant::now();
        let wait = match allowed {
            Some(allowed) => {
                let deadline = activity.since() + allowed;
                if deadline <= now {
                    return;
                }
                (deadline - now).min(Duration::from_secs(1))
            }
            None => Duration::from_secs(1),
        };
        tokio::time::sleep(wait).await;
    }
}

/// The answer to a connection over a cap, written if the socket takes it at once.
const BUSY_REPLY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 26\r\nConnection: close\r\nRetry-After: 1\r\n\r\ntoo many open connections\n";

pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let open = Arc::new(Mutex::new(Open::default()));
    // Shutdown: every connection is told, and the loop waits until each
    // connection task (holding a `done` sender) has ended.
    let (stop, _) = tokio::sync::watch::channel(false);
    let (done, mut all_done) = tokio::sync::mpsc::channel::<()>(1);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, then go on.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = admit(&open, peer.ip(), &limits) else {
            tracing::warn!(peer = %peer, "connection refused: too many open connections");
            let _ = stream.try_write(BUSY_REPLY);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = Watched {
            inner: stream,
            activity: activity.clone(),
        };
        let slot = Arc::new(slot);
        let service = service(
            router.clone(),
            peer,
            activity.clone(),
            Held {
                _slot: slot.clone(),
            },
        );
        // With upgrades, so `GET /rpc` can become a WebSocket; the upgraded
        // connection then lives on in its own task.
        let connection = hyper::server::conn::http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        let dog = watchdog(activity, limits.clone());
        let mut stopping = stop.subscribe();
        let done = done.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let mut dog = std::pin::pin!(dog);
            let mut told = false;
            loop {
                tokio::select! {
                    served = connection.as_mut() => {
                        if let Err(e) = served {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    () = dog.as_mut() => {
                        tracing::debug!(peer = %peer, "connection closed: timed out");
                        break;
                    }
                    _ = stopping.wait_for(|s| *s), if !told => {
                        told = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(slot);
            drop(done);
        });
    }
    drop(listener);
    stop.send_replace(true);
    drop(done);
    let _ = all_done.recv().await;
    Ok(())
}

/// The router as a hyper service for one connection: every request carries
/// the peer address and counts as in flight until its answer is ready.
fn service(
    router: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
    held: Held,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<axum::response::Response, std::convert::Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(held.clone());
        let in_flight = activity.start_request();
        let router = router.clone();
        async move {
            let answer = router.oneshot(request.map(Body::new)).await;
            drop(in_flight);
            answer
        }
    })
}
