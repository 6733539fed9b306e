//! The community board's process side: the node key, the community
//! manifest, the embedding client, the sweeper, syncing with peers, and the
//! `marketplace board` commands.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use market_core::App;
use market_core::board::{BoardConfig, Community, Embedder, Manifest, NodeKey, SignedEvent};
use market_store::DbUrl;
use serde_json::{Value, json};

use crate::config::Config;
use crate::secrets;

/// How often posts past their TTL are expired, and the view saved.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// Events asked for per `board.events` call.
const PULL_LIMIT: u64 = 500;
/// Time allowed for one call to a peer.
const PEER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time allowed for one embeddings call.
const EMBED_TIMEOUT_MS: u64 = 2000;
/// Largest answer read from a peer or an embedding endpoint.
const MAX_ANSWER_BYTES: u64 = 64 * 1024 * 1024;

/// Where the node key of a redb database is kept when the environment has none.
pub fn node_key_file(db_path: &Path) -> PathBuf {
    let mut name = db_path.as_os_str().to_os_string();
    name.push(".node.key");
    PathBuf::from(name)
}

/// The node key: `MARKETPLACE_NODE_KEY` (64 hex digits), else the key file
/// beside a redb database, created (mode 0600) on first use.
pub fn node_key(db_url: &str, env_key: Option<&str>) -> Result<NodeKey, String> {
    if let Some(text) = env_key {
        return NodeKey::from_hex(text).map_err(|e| format!("MARKETPLACE_NODE_KEY: {e}"));
    }
    let db_path = match db_url.parse::<DbUrl>().map_err(|e| e.to_string())? {
        DbUrl::Redb(path) => path,
        DbUrl::Postgres(_) => {
            return Err("on PostgreSQL the board node key comes from MARKETPLACE_NODE_KEY (64 hex digits, the same for every process); set it".into());
        }
    };
    let path = node_key_file(&db_path);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            NodeKey::from_hex(&text).map_err(|e| format!("node key file {}: {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = NodeKey::generate()?;
            secrets::write_private(&path, &key.seed_hex())
                .map_err(|e| format!("cannot create node key file {}: {e}", path.display()))?;
            tracing::info!(file = %path.display(), node_id = %key.node_id(), "created the board node key");
            Ok(key)
        }
        Err(e) => Err(format!("cannot read node key file {}: {e}", path.display())),
    }
}

/// The board settings of this process: key, manifest, TTLs, embeddings.
pub fn board_config(config: &Config) -> Result<BoardConfig, String> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let key = node_key(&config.db, env("MARKETPLACE_NODE_KEY").as_deref())?;
    let community = match env("MARKETPLACE_COMMUNITY_MANIFEST") {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("MARKETPLACE_COMMUNITY_MANIFEST {path}: {e}"))?;
            let manifest = Manifest::parse(&text)
                .map_err(|e| format!("MARKETPLACE_COMMUNITY_MANIFEST {path}: {e}"))?;
            if manifest.level(&key.node_id()).is_none() {
                tracing::warn!(node_id = %key.node_id(), "this node is not in the community manifest; its peers will refuse its events");
            }
            Community(Some(manifest))
        }
        None => Community(None),
    };
    let embedder: Option<Arc<dyn Embedder>> = match env("MARKETPLACE_EMBED_URL") {
        Some(url) => {
            let timeout_ms = match env("MARKETPLACE_EMBED_TIMEOUT_MS") {
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| format!("MARKETPLACE_EMBED_TIMEOUT_MS: cannot read '{v}'"))?,
                None => EMBED_TIMEOUT_MS,
            };
            Some(Arc::new(HttpEmbedder::new(
                url,
                env("MARKETPLACE_EMBED_MODEL").unwrap_or_else(|| "text-embedding-3-small".into()),
                env("MARKETPLACE_EMBED_API_KEY"),
                Duration::from_millis(timeout_ms),
            )))
        }
        None => None,
    };
    Ok(BoardConfig {
        key,
        community,
        default_ttl_secs: config.board_default_ttl_seconds,
        max_ttl_secs: config.board_max_ttl_seconds,
        embedder,
    })
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// POST a JSON body; the answer's JSON, or why not.
fn post_json(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&str, String)],
    body: String,
) -> Result<Value, String> {
    let mut req = agent.post(url).header("Content-Type", "application/json");
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    let mut resp = req
        .send(body)
        .map_err(|e| format!("cannot reach {url}: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER_BYTES)
        .read_to_string()
        .map_err(|e| format!("cannot read the answer of {url}: {e}"))?;
    if status != 200 {
        let snippet: String = text.chars().take(200).collect();
        return Err(format!("HTTP {status} from {url}: {snippet}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("{url} did not answer JSON: {e}"))
}

/// An OpenAI-compatible `/v1/embeddings` client.
pub struct HttpEmbedder {
    url: String,
    model: String,
    api_key: Option<String>,
    agent: ureq::Agent,
}

impl HttpEmbedder {
    /// `url` is the endpoint itself, or a base URL to which
    /// `/v1/embeddings` is added.
    pub fn new(url: String, model: String, api_key: Option<String>, timeout: Duration) -> Self {
        let url = if url.trim_end_matches('/').ends_with("/embeddings") {
            url
        } else {
            format!("{}/v1/embeddings", url.trim_end_matches('/'))
        };
        HttpEmbedder {
            url,
            model,
            api_key,
            agent: agent(timeout),
        }
    }
}

impl Embedder for HttpEmbedder {
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        let headers: Vec<(&str, String)> = self
            .api_key
            .iter()
            .map(|k| ("Authorization", format!("Bearer {k}")))
            .collect();
        let body = json!({ "model": self.model, "input": texts }).to_string();
        let answer = post_json(&self.agent, &self.url, &headers, body)?;
        let data = answer
            .get("data")
            .and_then(Value::as_array)
            .ok_or("the answer has no data array")?;
        let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for (i, item) in data.iter().enumerate() {
            let index = item
                .get("index")
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(i);
            let vector: Vec<f32> = item
                .get("embedding")
                .and_then(Value::as_array)
                .ok_or("an item has no embedding")?
                .iter()
                .map(|x| {
                    x.as_f64()
                        .map(|f| f as f32)
                        .ok_or("an embedding holds a non-number")
                })
                .collect::<Result<_, _>>()?;
            let slot = out
                .get_mut(index)
                .ok_or("an item's index is out of range")?;
            *slot = Some(vector);
        }
        out.into_iter()
            .map(|v| v.ok_or_else(|| "an input got no embedding".to_string()))
            .collect()
    }
}

/// Headers of a request signed by this node (SPEC: `METHOD\nTIMESTAMP\nBODY`).
pub fn signed_headers(app: &App, body: &str, now_secs: i64) -> Vec<(&'static str, String)> {
    let message = format!("POST\n{now_secs}\n{body}");
    vec![
        ("X-Node-Id", app.node_id()),
        ("X-Node-Timestamp", now_secs.to_string()),
        ("X-Node-Signature", app.node_sign(message.as_bytes())),
    ]
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// One peer and how far into its log this node has read.
struct Peer {
    url: String,
    after: u64,
}

/// Pull every new event of one peer; how many were accepted.
fn pull(app: &App, agent: &ureq::Agent, peer: &mut Peer) -> Result<usize, String> {
    let mut accepted = 0;
    loop {
        let body = json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "board.events",
            "params": { "after": peer.after, "limit": PULL_LIMIT },
        })
        .to_string();
        let headers = signed_headers(app, &body, unix_now());
        let answer = post_json(agent, &peer.url, &headers, body)?;
        if let Some(error) = answer.get("error") {
            return Err(format!("{} refused board.events: {error}", peer.url));
        }
        let result = answer.get("result").ok_or("answer without a result")?;
        let items = result
            .get("items")
            .and_then(Value::as_array)
            .ok_or("answer without items")?;
        let mut seqs = Vec::with_capacity(items.len());
        let mut events = Vec::with_capacity(items.len());
        for item in items {
            let seq = item
                .get("seq")
                .and_then(Value::as_u64)
                .ok_or("an event has no seq")?;
            match serde_json::from_value::<SignedEvent>(item.clone()) {
                Ok(e) => {
                    seqs.push(seq);
                    events.push(e);
                }
                Err(e) => {
                    tracing::warn!(peer = %peer.url, seq, error = %e, "board: malformed event refused");
                    peer.after = peer.after.max(seq);
                }
            }
        }
        let report = app
            .ingest_board_events(&peer.url, &events)
            .map_err(|e| format!("cannot store events: {}", e.message))?;
        accepted += report.accepted;
        match report.waiting_from {
            Some(i) => {
                if let Some(before) = i.checked_sub(1).and_then(|j| seqs.get(j)) {
                    peer.after = peer.after.max(*before);
                }
                return Ok(accepted);
            }
            None => {
                if let Some(last) = seqs.last() {
                    peer.after = peer.after.max(*last);
                }
            }
        }
        if (items.len() as u64) < PULL_LIMIT {
            return Ok(accepted);
        }
    }
}

/// Pull the peers' events every `interval`, for as long as the server runs.
pub async fn sync_peers(app: Arc<App>, urls: Vec<String>, interval: Duration) {
    let peers: Vec<Arc<std::sync::Mutex<Peer>>> = urls
        .into_iter()
        .map(|url| Arc::new(std::sync::Mutex::new(Peer { url, after: 0 })))
        .collect();
    let agent = agent(PEER_TIMEOUT);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for peer in &peers {
            let (app, agent, peer) = (app.clone(), agent.clone(), peer.clone());
            let pulled = tokio::task::spawn_blocking(move || {
                let mut peer = peer.lock().unwrap_or_else(|p| p.into_inner());
                let result = pull(&app, &agent, &mut peer);
                (peer.url.clone(), result)
            })
            .await;
            match pulled {
                Ok((_, Ok(0))) => {}
                Ok((url, Ok(n))) => {
                    tracing::info!(peer = %url, accepted = n, "board: events pulled")
                }
                Ok((url, Err(e))) => {
                    tracing::warn!(peer = %url, error = %e, "board: cannot sync with peer")
                }
                Err(e) => tracing::warn!(error = %e, "board sync task failed"),
            }
        }
    }
}

/// Expire posts past their TTL and save the view, every [`SWEEP_INTERVAL`].
pub async fn sweep(app: Arc<App>) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    loop {
        tick.tick().await;
        let app = app.clone();
        let swept = tokio::task::spawn_blocking(move || {
            let db = app.db().clone();
            let ran = db.exclusive("board_sweep", || {
                let n = app.sweep_board()?;
                app.save_board_snapshot()?;
                Ok::<_, market_rpc::RpcError>(n)
            })?;
            ran.unwrap_or(Ok(0))
        })
        .await;
        match swept {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(expired = n, "board: stale posts expired"),
            Ok(Err(e)) => tracing::warn!(error = %e.message, "board: sweep failed"),
            Err(e) => tracing::warn!(error = %e, "board sweep task failed"),
        }
    }
}

/// The business layer on a database for a `marketplace board` command.
fn open_app(db: Option<String>) -> Result<Arc<App>, String> {
    crate::admin::open_app(db)
}

/// `marketplace board snapshot --out FILE`
pub fn snapshot(db: Option<String>, out: &Path) -> ExitCode {
    let run = || -> Result<String, String> {
        let app = open_app(db)?;
        let file = app.board_snapshot_file().map_err(|e| e.message)?;
        let text = serde_json::to_vec_pretty(&file).map_err(|e| e.to_string())?;
        std::fs::write(out, text).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
        app.save_board_snapshot().map_err(|e| e.message)?;
        Ok(format!(
            "wrote {} events and {} posts to {}",
            file.events.len(),
            file.view.posts.len(),
            out.display()
        ))
    };
    crate::report(run())
}

/// `marketplace board restore FILE`
pub fn restore(db: Option<String>, input: &Path) -> ExitCode {
    let run = || -> Result<String, String> {
        let text =
            std::fs::read(input).map_err(|e| format!("cannot read {}: {e}", input.display()))?;
        let file = serde_json::from_slice(&text)
            .map_err(|e| format!("{} is not a board snapshot: {e}", input.display()))?;
        let app = open_app(db)?;
        let added = app.restore_board_snapshot(&file).map_err(|e| e.message)?;
        let view = app.board_view().map_err(|e| e.message)?;
        Ok(format!(
            "restored: {added} new events, {} posts",
            view.posts.len()
        ))
    };
    crate::report(run())
}

/// `marketplace board node-id`
pub fn node_id(db: Option<String>) -> ExitCode {
    let run = || -> Result<String, String> {
        let config = crate::admin::config_for(db)?;
        let key = node_key(
            &config.db,
            std::env::var("MARKETPLACE_NODE_KEY").ok().as_deref(),
        )?;
        Ok(key.node_id())
    };
    crate::report(run())
}
