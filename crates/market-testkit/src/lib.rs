//! Test support shared by the integration suites: a server running on a
//! loopback port in its own runtime, and a small JSON-RPC client that talks
//! to it over a real socket.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use market_core::{App, AppConfig};
use market_rpc::{Caller, RpcError};
use market_server::{Api, Authenticator, ServerConfig};
use market_store::Db;
use serde_json::{Value, json};

struct CoreAuth(Arc<App>);

impl Authenticator for CoreAuth {
    fn authenticate(&self, token: Option<&str>) -> Result<Caller, RpcError> {
        self.0.authenticate(token)
    }
}

/// The marketplace's business layer on `db` and the API serving it, wired
/// as `marketplace serve` wires them.
pub fn marketplace(db: Arc<Db>, config: AppConfig) -> (Arc<App>, Api) {
    let app = App::new(db.clone(), config).expect("start the business layer");
    let api = Api {
        methods: app.methods(),
        openrpc: market_core::openrpc(),
        doc_html: market_core::DOC_HTML.to_string(),
        authenticator: Arc::new(CoreAuth(app.clone())),
        ready: Arc::new(move || db.ping().is_ok()),
        events: Some(Arc::new(market_core::events::AppEvents(app.clone()))),
    };
    (app, api)
}

/// A server on `127.0.0.1:<free port>`, stopped when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Start serving `api` with `config`.
    pub fn start(api: Api, config: ServerConfig) -> TestServer {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = market_server::runtime().expect("test runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind loopback");
                addr_tx
                    .send(listener.local_addr().expect("local addr"))
                    .expect("report addr");
                let router = market_server::app(api, &config);
                let connections = config.connections.clone();
                market_server::serve_with(listener, router, connections, async {
                    let _ = stop_rx.await;
                })
                .await
                .expect("serve");
            });
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("server started");
        TestServer {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A client for `/rpc`, without a token.
    pub fn client(&self) -> Client {
        Client {
            url: self.url("/rpc"),
            token: None,
            agent: agent(),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// An HTTP answer: status, content type and body.
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl HttpReply {
    /// The body as JSON (panics with the body when it is not JSON: tests only).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// A JSON-RPC client for a test server.
#[derive(Clone)]
pub struct Client {
    pub url: String,
    pub token: Option<String>,
    agent: ureq::Agent,
}

impl Client {
    /// A client for any JSON-RPC endpoint URL.
    pub fn new(url: &str) -> Client {
        Client {
            url: url.to_string(),
            token: None,
            agent: agent(),
        }
    }

    pub fn with_token(mut self, token: &str) -> Client {
        self.token = Some(token.to_string());
        self
    }

    /// POST a raw body to the RPC endpoint.
    pub fn post_raw(&self, body: &str) -> HttpReply {
        let mut req = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json");
        if let Some(t) = &self.token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut resp = req.send(body).expect("HTTP request");
        reply(&mut resp)
    }

    /// Call `method` with named params; the whole response object.
    pub fn request(&self, method: &str, params: Value) -> Value {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        self.post_raw(&body.to_string()).json()
    }

    /// Call `method`; `Ok(result)` or `Err(error object)`.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, Value> {
        let mut resp = self.request(method, params);
        if let Some(e) = resp.get_mut("error") {
            return Err(e.take());
        }
        Ok(resp
            .get_mut("result")
            .map(Value::take)
            .unwrap_or(Value::Null))
    }

    /// Call `method`, expecting success (panics with the error: tests only).
    pub fn ok(&self, method: &str, params: Value) -> Value {
        self.call(method, params)
            .unwrap_or_else(|e| panic!("{method} failed: {e}"))
    }

    /// Call `method`, expecting an error; returns `(code, data.kind)`.
    pub fn err(&self, method: &str, params: Value) -> (i64, String) {
        let e = self
            .call(method, params)
            .err()
            .unwrap_or_else(|| panic!("{method} unexpectedly succeeded"));
        (
            e["code"].as_i64().unwrap_or_default(),
            e.pointer("/data/kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        )
    }
}

/// GET a path of the server.
pub fn get(server: &TestServer, path: &str) -> HttpReply {
    let mut resp = agent().get(&server.url(path)).call().expect("HTTP request");
    reply(&mut resp)
}

fn reply(resp: &mut ureq::http::Response<ureq::Body>) -> HttpReply {
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    HttpReply {
        status,
        content_type,
        body,
    }
}
