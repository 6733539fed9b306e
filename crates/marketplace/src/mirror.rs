//! The model mirror: a background thread that pulls the model lists of the
//! upstreams in `MARKETPLACE_MODEL_SOURCES` (HuggingFace- and
//! Civitai-compatible APIs) into the database every interval. A request
//! that times out, fails to connect or gets 429 or 5xx is retried with
//! growing delays (`Retry-After` honoured up to a minute); an upstream
//! that still fails keeps its last good copy, marked stale, and is asked
//! again sooner than the full interval.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use market_core::App;
use market_core::ModelSource;
use market_core::site_catalog::UpstreamModel;
use serde_json::Value;

/// Models asked of each upstream per refresh.
const PAGE: usize = 100;
/// Tries per refresh of one upstream.
const ATTEMPTS: u32 = 3;
/// First delay between tries; doubled each time.
const RETRY_BASE: Duration = Duration::from_millis(500);
/// Longest delay between tries.
const RETRY_MAX: Duration = Duration::from_secs(60);
/// First delay before a failing upstream is asked again; doubled per failure, up to the interval.
const FAILED_BASE: Duration = Duration::from_secs(30);

/// One upstream: its API kind and base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub kind: ModelSource,
    pub url: String,
}

/// Read `kind=URL` entries (`huggingface=https://huggingface.co`).
pub fn parse_sources(entries: &[String]) -> Result<Vec<Upstream>, String> {
    entries
        .iter()
        .map(|entry| {
            let (kind, url) = entry.split_once('=').ok_or_else(|| {
                format!("{entry:?}: expected KIND=URL, e.g. huggingface=https://huggingface.co")
            })?;
            let kind = kind
                .trim()
                .parse::<ModelSource>()
                .map_err(|_| format!("{entry:?}: unknown kind (huggingface or civitai)"))?;
            let url = url.trim().trim_end_matches('/').to_string();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!(
                    "{entry:?}: the URL must start with http:// or https://"
                ));
            }
            Ok(Upstream { kind, url })
        })
        .collect()
}

/// Why one request failed, and whether trying again may help.
struct Failure {
    message: String,
    retry: bool,
    wait: Option<Duration>,
}

fn get_json(agent: &ureq::Agent, url: &str) -> Result<Value, Failure> {
    let mut response = agent.get(url).call().map_err(|e| Failure {
        message: format!("{url}: {e}"),
        retry: true,
        wait: None,
    })?;
    let status = response.status().as_u16();
    if status == 429 || status >= 500 {
        let wait = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Err(Failure {
            message: format!("{url}: HTTP {status}"),
            retry: true,
            wait,
        });
    }
    if status != 200 {
        return Err(Failure {
            message: format!("{url}: HTTP {status}"),
            retry: false,
            wait: None,
        });
    }
    let text = response.body_mut().read_to_string().map_err(|e| Failure {
        message: format!("{url}: {e}"),
        retry: true,
        wait: None,
    })?;
    serde_json::from_str(&text).map_err(|e| Failure {
        message: format!("{url}: not JSON: {e}"),
        retry: false,
        wait: None,
    })
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Models of a HuggingFace-compatible `GET /api/models` answer (an array).
fn huggingface_models(body: &Value) -> Result<Vec<UpstreamModel>, String> {
    let items = body.as_array().ok_or("expected a JSON array of models")?;
    Ok(items
        .iter()
        .filter_map(|m| {
            let id = text(&m["id"]).or_else(|| text(&m["modelId"]))?;
            let tags: Vec<String> = m["tags"]
                .as_array()
                .map(|t| t.iter().filter_map(text).collect())
                .unwrap_or_default();
            let license = tags
                .iter()
                .find_map(|t| t.strip_prefix("license:").map(str::to_string))
                .or_else(|| text(&m["cardData"]["license"]));
            Some(UpstreamModel {
                name: id.rsplit('/').next().unwrap_or(&id).to_string(),
                description: text(&m["pipeline_tag"]).unwrap_or_default(),
                nsfw: tags.iter().any(|t| t == "not-for-all-audiences"),
                size_bytes: m["usedStorage"].as_u64(),
                tags: tags
                    .into_iter()
                    .filter(|t| !t.contains(':'))
                    .take(20)
                    .collect(),
                license,
                upstream_id: id,
            })
        })
        .collect())
}

/// Models of a Civitai-compatible `GET /api/v1/models` answer (`{items: [...]}`).
fn civitai_models(body: &Value) -> Result<Vec<UpstreamModel>, String> {
    let items = body["items"]
        .as_array()
        .ok_or("expected an object with an `items` array")?;
    Ok(items
        .iter()
        .filter_map(|m| {
            let id = text(&m["id"])?;
            let size_kb: f64 = m["modelVersions"][0]["files"]
                .as_array()
                .map(|files| files.iter().filter_map(|f| f["sizeKB"].as_f64()).sum())
                .unwrap_or(0.0);
            Some(UpstreamModel {
                name: text(&m["name"]).unwrap_or_else(|| id.clone()),
                description: text(&m["type"]).unwrap_or_default(),
                tags: m["tags"]
                    .as_array()
                    .map(|t| t.iter().filter_map(text).take(20).collect())
                    .unwrap_or_default(),
                // Whole kilobytes as upstream reports them, in bytes.
                size_bytes: (size_kb > 0.0).then(|| (size_kb * 1024.0).round() as u64),
                license: text(&m["license"]),
                nsfw: m["nsfw"].as_bool().unwrap_or(false),
                upstream_id: id,
            })
        })
        .collect())
}

fn list_url(up: &Upstream) -> String {
    match up.kind {
        ModelSource::Huggingface => format!("{}/api/models?limit={PAGE}&sort=downloads", up.url),
        ModelSource::Civitai => format!("{}/api/v1/models?limit={PAGE}&nsfw=true", up.url),
    }
}

/// Fetch one upstream's models, retrying what may pass on a second try.
fn fetch(agent: &ureq::Agent, up: &Upstream, stop: &Stop) -> Result<Vec<UpstreamModel>, String> {
    let url = list_url(up);
    let mut delay = RETRY_BASE;
    let mut attempt = 1;
    loop {
        match get_json(agent, &url) {
            Ok(body) => {
                return match up.kind {
                    ModelSource::Huggingface => huggingface_models(&body),
                    ModelSource::Civitai => civitai_models(&body),
                }
                .map_err(|e| format!("{url}: {e}"));
            }
            Err(f) if !f.retry || attempt >= ATTEMPTS => return Err(f.message),
            Err(f) => {
                let wait = f.wait.unwrap_or(delay).min(RETRY_MAX);
                tracing::info!(upstream = %up.url, error = %f.message, wait_ms = wait.as_millis() as u64, "model upstream failed; retrying");
                if stop.wait(wait) {
                    return Err(f.message);
                }
                delay = (delay * 2).min(RETRY_MAX);
                attempt += 1;
            }
        }
    }
}

/// Refresh every upstream once; the longest the thread may wait before
/// the next round (shorter while an upstream fails).
pub fn refresh(
    app: &App,
    agent: &ureq::Agent,
    upstreams: &[Upstream],
    interval: Duration,
    stop: &Stop,
) -> Duration {
    let mut next = interval;
    for up in upstreams {
        if stop.stopped() {
            break;
        }
        let result = fetch(agent, up, stop).and_then(|models| {
            app.mirror_store(&up.url, up.kind, &models)
                .map_err(|e| format!("cannot store the models: {e}"))
        });
        match result {
            Ok(n) => tracing::info!(upstream = %up.url, models = n, "model mirror refreshed"),
            Err(e) => {
                tracing::warn!(upstream = %up.url, error = %e, "model upstream failed; serving the last good copy");
                match app.mirror_failed(&up.url, up.kind, &e) {
                    Ok(failures) => {
                        let backoff = FAILED_BASE.saturating_mul(
                            2u32.saturating_pow(failures.saturating_sub(1).min(16)),
                        );
                        next = next.min(backoff);
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot record a mirror failure"),
                }
            }
        }
    }
    next
}

/// A stop flag that sleeping threads wake up for.
#[derive(Default)]
pub struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    fn stopped(&self) -> bool {
        self.stopped.lock().map_or(true, |s| *s)
    }

    /// Sleep up to `d`; true when stopped meanwhile.
    fn wait(&self, d: Duration) -> bool {
        let Ok(guard) = self.stopped.lock() else {
            return true;
        };
        match self.wake.wait_timeout_while(guard, d, |s| !*s) {
            Ok((s, _)) => *s,
            Err(_) => true,
        }
    }

    fn stop(&self) {
        if let Ok(mut s) = self.stopped.lock() {
            *s = true;
        }
        self.wake.notify_all();
    }
}

/// The mirror's thread; stopped and joined when dropped.
pub struct Mirror {
    stop: Arc<Stop>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Mirror {
    pub fn start(
        app: Arc<App>,
        upstreams: Vec<Upstream>,
        interval: Duration,
        timeout: Duration,
    ) -> std::io::Result<Mirror> {
        let stop = Arc::new(Stop::default());
        let flag = stop.clone();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        let thread = std::thread::Builder::new()
            .name("marketplace-mirror".into())
            .spawn(move || {
                loop {
                    let next = refresh(&app, &agent, &upstreams, interval, &flag);
                    if flag.wait(next) {
                        return;
                    }
                }
            })?;
        Ok(Mirror {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
