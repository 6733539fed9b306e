//! The HTTP server: JSON-RPC 2.0 at `/rpc` (and `/api/v1/marketplace/main/rpc`),
//! the OpenRPC document, the HTML reference, health, readiness, metrics, the
//! cacheable `GET /catalog/...` reads and the web console at `/app`.
//!
//! Knows nothing of storage: it gets a method table, a way to authenticate
//! a bearer token and a readiness probe. [`app`] builds the router without a
//! socket (tests call it directly); [`serve`] runs it until a shutdown signal.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod catalog;
mod connections;
mod console;
mod jsonrpc;
mod limits;
mod metrics;
mod node_auth;
mod ws;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use market_rpc::{EventSource, Methods};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

pub use connections::ConnectionLimits;
pub use limits::Limits;
pub use market_rpc::{Api, Authenticator};
pub use metrics::Metrics;
pub use ws::WebSocketLimits;

/// Limits, CORS and proxies.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Most requests in one batch.
    pub batch_limit: usize,
    /// Largest request body in bytes; beyond it the answer is 413.
    pub body_limit: usize,
    /// Origins allowed to call from a browser; `*` allows any.
    pub cors_origins: Vec<String>,
    /// `auth.login` plus `auth.register` calls per minute per client address (0: no limit).
    pub auth_rate_per_min: u32,
    /// Calls per minute per signed-in user, or per address for anonymous callers (0: no limit).
    pub rate_per_min: u32,
    /// Proxies whose `X-Forwarded-For` entry names the client address.
    pub trusted_proxies: Vec<IpAddr>,
    /// Largest JSON-RPC answer in bytes: a batch stops running calls there
    /// and answers each call left with an error.
    pub answer_limit: usize,
    /// How long a client may take to send a request body.
    pub body_timeout: Duration,
    /// Timeouts and caps of connections.
    pub connections: ConnectionLimits,
    /// Caps of WebSocket connections and their subscriptions.
    pub websocket: WebSocketLimits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            batch_limit: 100,
            body_limit: 1024 * 1024,
            cors_origins: vec!["*".to_string()],
            auth_rate_per_min: 30,
            rate_per_min: 6000,
            trusted_proxies: Vec::new(),
            answer_limit: 16 * 1024 * 1024,
            body_timeout: Duration::from_secs(30),
            connections: ConnectionLimits::default(),
            websocket: WebSocketLimits::default(),
        }
    }
}

/// State shared by every request.
pub(crate) struct Shared {
    methods: Methods,
    openrpc: Vec<u8>,
    doc_html: String,
    authenticator: Arc<dyn Authenticator>,
    ready: Arc<dyn Fn() -> bool + Send + Sync>,
    /// May a lookup run on the async worker now (see [`Api::local_reads`])?
    local_reads: Arc<dyn Fn() -> bool + Send + Sync>,
    metrics: Metrics,
    limits: Limits,
    /// The blocking pool of bodies that change state.
    writes: WritePool,
    batch_limit: usize,
    body_limit: usize,
    answer_limit: usize,
    body_timeout: Duration,
    trusted_proxies: Vec<IpAddr>,
    /// The domain event log, for subscriptions.
    events: Option<Arc<dyn EventSource>>,
    /// The log's durable end, moving as commits become durable.
    event_tick: tokio::sync::watch::Receiver<u64>,
    websocket: WebSocketLimits,
    ws_clients: ws::Clients,
}

/// The router.
pub fn app(api: Api, config: &ServerConfig) -> Router {
    let shared = shared(api, config);
    spawn_limit_sweeper(&shared);
    Router::new()
        .route("/rpc", post(rpc).get(ws::upgrade))
        .route("/api/v1/marketplace/main/rpc", post(rpc).get(ws::upgrade))
        .route("/openrpc.json", get(openrpc))
        .route("/doc", get(doc_page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_page))
        .route("/catalog/workers", get(catalog::workers))
        .route("/catalog/workers/{id}", get(catalog::worker))
        .route("/catalog/workers/{id}/PKGBUILD", get(catalog::pkgbuild))
        .route("/catalog/models", get(catalog::models))
        .route("/app", get(console::page))
        .route("/app/", get(console::page))
        .route("/app/{name}", get(console::asset))
        .layer(cors(&config.cors_origins))
        .with_state(shared)
}

/// The JSON-RPC endpoint without HTTP: the envelope, batches, answer limits,
/// authentication, rate limits, metrics and durability of `/rpc`, called on
/// the caller's thread. Tests and tools reach the API through it in-process.
pub struct Endpoint {
    shared: Arc<Shared>,
}

impl Endpoint {
    pub fn new(api: Api, config: &ServerConfig) -> Endpoint {
        Endpoint {
            shared: shared(api, config),
        }
    }

    /// Answer one JSON-RPC body as `/rpc` answers it for a caller sending
    /// `token` as its bearer token: the response JSON, or `None` when there
    /// is nothing to answer (notifications only).
    pub fn call(&self, body: &[u8], token: Option<&str>) -> Option<Vec<u8>> {
        let origin = jsonrpc::Origin {
            credentials: match token {
                Some(t) => jsonrpc::Credentials::Bearer(t.to_string()),
                None => jsonrpc::Credentials::None,
            },
            peer: None,
            node: None,
        };
        match jsonrpc::answer_now(&self.shared, body, &origin) {
            jsonrpc::Reply::Json(out) => Some(out),
            jsonrpc::Reply::Nothing => None,
        }
    }
}

/// The state every route shares. `rpc.discover` is added to the method table here.
fn shared(mut api: Api, config: &ServerConfig) -> Arc<Shared> {
    let doc = serde_json::value::to_raw_value(&api.openrpc).unwrap_or_default();
    api.methods.add_raw(market_rpc::MethodDef {
        name: "rpc.discover",
        access: market_rpc::Access::Public,
        kind: market_rpc::Kind::Read,
        handler: Arc::new(move |_, _| Ok(doc.clone())),
    });
    Arc::new(Shared {
        openrpc: serde_json::to_vec(&api.openrpc).unwrap_or_default(),
        methods: api.methods,
        doc_html: api.doc_html,
        authenticator: api.authenticator,
        ready: api.ready,
        local_reads: api.local_reads,
        metrics: Metrics::new(api.write_stats),
        limits: Limits::new(config.auth_rate_per_min, config.rate_per_min),
        writes: WritePool::new(),
        batch_limit: config.batch_limit,
        body_limit: config.body_limit,
        answer_limit: config.answer_limit,
        body_timeout: config.body_timeout,
        trusted_proxies: config.trusted_proxies.clone(),
        event_tick: ws::event_tick(api.events.as_ref()),
        events: api.events,
        websocket: config.websocket.clone(),
        ws_clients: ws::Clients::default(),
    })
}

fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static(node_auth::NODE_ID),
            header::HeaderName::from_static(node_auth::NODE_TIMESTAMP),
            header::HeaderName::from_static(node_auth::NODE_SIGNATURE),
            header::IF_NONE_MATCH,
        ])
        .expose_headers([header::ETAG, header::HeaderName::from_static("x-cache")]);
    if origins.iter().any(|o| o == "*") {
        layer.allow_origin(Any)
    } else {
        let list: Vec<HeaderValue> = origins.iter().filter_map(|o| o.parse().ok()).collect();
        layer.allow_origin(AllowOrigin::list(list))
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The bearer token of a request; two `Authorization` headers are
/// conflicting credentials, never one picked of them.
fn credentials(headers: &HeaderMap) -> jsonrpc::Credentials {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return if headers.contains_key(header::AUTHORIZATION) {
            jsonrpc::Credentials::Conflicting
        } else {
            jsonrpc::Credentials::None
        };
    };
    let bearer = value.to_str().ok().and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string())
    });
    match bearer {
        Some(token) => jsonrpc::Credentials::Bearer(token),
        None => jsonrpc::Credentials::None,
    }
}

/// Forget idle rate-limit clients now and then, while the server runs.
fn spawn_limit_sweeper(shared: &Arc<Shared>) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak = Arc::downgrade(shared);
    handle.spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            match weak.upgrade() {
                Some(shared) => shared.limits.forget_idle(),
                None => return,
            }
        }
    });
}

/// The client address: the socket peer, or, behind a trusted proxy, the
/// nearest `X-Forwarded-For` entry that is not itself a trusted proxy.
fn client_address(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !trusted.contains(ip))
            .unwrap_or(peer),
    )
}

async fn rpc(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    shared.metrics.observe_http();
    let socket_peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let peer = client_address(socket_peer, request.headers(), &shared.trusted_proxies);
    let credentials = credentials(request.headers());
    let headers = request.headers().clone();
    let method = request.method().to_string();
    let read = axum::body::to_bytes(request.into_body(), shared.body_limit);
    let body = match tokio::time::timeout(shared.body_timeout, read).await {
        Ok(Ok(b)) => b,
        Err(_) => {
            return (
                StatusCode::REQUEST_TIMEOUT,
                [(header::CONNECTION, "close")],
                format!(
                    "the request body did not arrive within {} s",
                    shared.body_timeout.as_secs()
                ),
            )
                .into_response();
        }
        Ok(Err(_)) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "request body is over the limit of {} bytes",
                    shared.body_limit
                ),
            )
                .into_response();
        }
    };
    let now_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let node = node_auth::verify(&headers, &method, &body, now_secs);
    let origin = jsonrpc::Origin {
        credentials,
        peer,
        node,
    };
    match jsonrpc::handle(&shared, body, origin).await {
        jsonrpc::Reply::Nothing => StatusCode::NO_CONTENT.into_response(),
        jsonrpc::Reply::Json(bytes) => json_response(StatusCode::OK, bytes),
    }
}

async fn openrpc(State(shared): State<Arc<Shared>>) -> Response {
    json_response(StatusCode::OK, shared.openrpc.clone())
}

async fn doc_page(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        shared.doc_html.clone(),
    )
        .into_response()
}

async fn healthz() -> Response {
    json_response(StatusCode::OK, br#"{"status":"ok"}"#.to_vec())
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    let ready = shared.ready.clone();
    let ok = tokio::task::spawn_blocking(move || ready())
        .await
        .unwrap_or(false);
    if ok {
        json_response(StatusCode::OK, br#"{"status":"ready"}"#.to_vec())
    } else {
        json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            br#"{"status":"unavailable","reason":"database does not answer"}"#.to_vec(),
        )
    }
}

async fn metrics_page(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        Body::from(shared.metrics.render()),
    )
        .into_response()
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

/// The runtime the server is meant to run on: async workers for the
/// sockets, and a small blocking pool (twice as many threads as cores, at
/// least four) for the calls that only read. Calls are short and CPU-bound,
/// so a small pool keeps them from crowding the cores with context switches.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads((2 * cores()).max(4))
        .thread_name("marketplace")
        .enable_all()
        .build()
}

/// Threads for the bodies that change state: they wait for the disk most of
/// the time, and the more wait at once, the more writes one flush covers.
struct WritePool(Option<tokio::runtime::Runtime>);

/// Threads of the write pool.
const WRITE_THREADS: usize = 128;

impl WritePool {
    fn new() -> WritePool {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(WRITE_THREADS)
            .thread_name("marketplace-write")
            .enable_all()
            .build();
        match runtime {
            Ok(rt) => WritePool(Some(rt)),
            Err(e) => {
                tracing::warn!(error = %e, "no write pool; writes share the read pool");
                WritePool(None)
            }
        }
    }

    fn handle(&self) -> tokio::runtime::Handle {
        match &self.0 {
            Some(rt) => rt.handle().clone(),
            None => tokio::runtime::Handle::current(),
        }
    }
}

impl Drop for WritePool {
    fn drop(&mut self) {
        // Dropping a runtime may happen inside another runtime's task.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Serve `router` on `listener` with the default connection limits until
/// `shutdown` resolves, then finish the requests in flight and return (so
/// the caller can close the database).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, ConnectionLimits::default(), shutdown).await
}

/// [`serve`] with these connection timeouts and caps.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    connections::serve(listener, router, limits, shutdown).await
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received; finishing requests in flight");
}
