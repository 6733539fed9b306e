//! `webhook.*` and the outbox behind them.
//!
//! Endpoints receive the events their owner may see (every event for an
//! admin's endpoint) as HTTP POSTs signed the Standard Webhooks way. The
//! outbox is a table of deliveries in the database: a round of the worker
//! ([`App::webhook_round`]) first turns new events of the log into
//! deliveries (each endpoint remembers the last `seq` it took, in the same
//! transaction), then claims the due ones (a lease, so a crash leaves them
//! due again), sends them through a [`Deliver`] and records each outcome:
//! delivered on 2xx; retried on timeouts, network errors, 5xx and 429 after
//! [`RETRY_AFTER_SECS`]; given up on other statuses; `410 Gone` disables
//! the endpoint at once, and so do 24 hours of failures (its owner is told
//! by a `webhook.disabled` event). Nothing here speaks HTTP: the binary
//! plugs its client in.

use std::collections::BTreeMap;
use std::net::{IpAddr, ToSocketAddrs};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use market_rpc::{Ctx, RpcError};
use market_store::{Actor, DomainEventReads, Id, Page, Reads, Stored, WriteTx};
use serde_json::json;
use sha2::Sha256;

use crate::events::{self, event_json};
use crate::listing::{self, Source};
use crate::{
    App, DeliveryStatus, WebhookCreateParams, WebhookCreated, WebhookDeleteParams,
    WebhookDeliveriesParams, WebhookDelivery, WebhookEndpoint, WebhookListParams,
    WebhookReplayParams, WebhookRotateSecretParams, WebhookSecret, WebhookService, WebhookStatus,
    WebhookTestParams, me,
};

/// Seconds to wait after the 1st, 2nd, ... failed attempt; the schedule
/// run out, the delivery is given up (about 27.5 hours in all).
pub const RETRY_AFTER_SECS: [i64; 7] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];
/// An endpoint failing this long is disabled.
pub const DISABLE_AFTER_SECS: i64 = 24 * 3600;
/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_OVERLAP_SECS: i64 = 24 * 3600;
/// Endpoints one user may have.
pub const MAX_ENDPOINTS_PER_USER: usize = 20;
/// Events turned into deliveries per endpoint and round.
const FANOUT_STEP: usize = 1000;
const SECRET_PREFIX: &str = "whsec_";

/// Where webhooks may point.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebhookConfig {
    /// Allow URLs resolving to loopback, private or link-local addresses
    /// (`MARKETPLACE_WEBHOOK_ALLOW_PRIVATE=1`).
    pub allow_private: bool,
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The HTTP status; `None` when no answer came (timeout, network error).
    pub status: Option<u16>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// Sends one signed POST. Implementations must not follow redirects and
/// must give up after their timeout.
pub trait Deliver: Send + Sync {
    fn post(&self, url: &str, headers: &[(&'static str, String)], body: &str) -> Attempt;
}

/// A delivery claimed for sending, with what signing it needs.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery: WebhookDelivery,
    pub url: String,
    /// Secrets signing it: the current one, and the previous one while it still signs.
    pub secrets: Vec<String>,
}

/// `webhook-signature` for a message: `v1,<base64 HMAC-SHA256>` per
/// secret, space-separated, over `<id>.<timestamp>.<body>`.
pub fn signature(
    secrets: &[String],
    message_id: &str,
    timestamp: i64,
    body: &str,
) -> Result<String, String> {
    let mut out = Vec::with_capacity(secrets.len());
    for secret in secrets {
        let key = secret
            .strip_prefix(SECRET_PREFIX)
            .and_then(|k| B64.decode(k).ok())
            .ok_or("a webhook secret is malformed")?;
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&key).map_err(|_| "a webhook secret is unusable")?;
        mac.update(format!("{message_id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        out.push(format!("v1,{}", B64.encode(mac.finalize().into_bytes())));
    }
    Ok(out.join(" "))
}

fn new_secret() -> Result<String, RpcError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        tracing::error!(error = %e, "no randomness for a webhook secret");
        RpcError::internal()
    })?;
    Ok(format!("{SECRET_PREFIX}{}", B64.encode(bytes)))
}

/// Loopback, private, link-local, unspecified, and the like: addresses a
/// webhook must not reach unless allowed.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 0
                || (v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1]))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// Check a webhook URL: `http` or `https`, a host, no credentials, and
/// (unless `allow_private`) only public addresses. The reason when refused.
pub fn check_url(url: &str, allow_private: bool) -> Result<(), String> {
    let uri: http::Uri = url.parse().map_err(|_| "not a valid URL".to_string())?;
    let default_port = match uri.scheme_str() {
        Some("https") => 443,
        Some("http") => 80,
        _ => return Err("the URL must start with http:// or https://".into()),
    };
    let authority = uri.authority().ok_or("the URL has no host")?;
    if authority.as_str().contains('@') {
        return Err("the URL may not carry credentials".into());
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err("the URL has no host".into());
    }
    if allow_private {
        return Ok(());
    }
    let port = authority.port_u16().unwrap_or(default_port);
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => (host, port)
            .to_socket_addrs()
            .map_err(|_| format!("the host {host} does not resolve"))?
            .map(|a| a.ip())
            .collect(),
    };
    if addrs.is_empty() {
        return Err(format!("the host {host} does not resolve"));
    }
    if let Some(ip) = addrs.into_iter().find(|ip| is_private(*ip)) {
        return Err(format!(
            "the URL resolves to {ip}, a loopback, private or link-local address"
        ));
    }
    Ok(())
}

fn field_error(field: &str, reason: impl Into<String>) -> RpcError {
    RpcError::invalid_fields(BTreeMap::from([(field.to_string(), reason.into())]))
}

/// Queue a message for an endpoint, due now.
fn enqueue(
    tx: &mut WriteTx<'_>,
    endpoint: &WebhookEndpoint,
    message_id: String,
    event_seq: u64,
    event_type: &str,
    payload: String,
) -> Result<WebhookDelivery, RpcError> {
    let mut delivery = WebhookDelivery {
        endpoint_id: endpoint.id,
        owner_id: endpoint.owner_id,
        message_id,
        event_seq,
        event_type: event_type.to_string(),
        payload,
        status: DeliveryStatus::Pending,
        next_attempt_at: Some(tx.now()),
        ..Default::default()
    };
    tx.insert(&mut delivery)?;
    Ok(delivery)
}

/// Disable an endpoint, give up its pending deliveries and tell its owner.
fn disable(
    tx: &mut WriteTx<'_>,
    endpoint: &mut WebhookEndpoint,
    reason: &str,
) -> Result<(), RpcError> {
    endpoint.status = WebhookStatus::Disabled;
    endpoint.disabled_reason = Some(reason.to_string());
    tx.update(endpoint, None)?;
    let pending = listing::all_of(tx, WebhookDelivery::BY_ENDPOINT_ID, endpoint.id)?;
    for mut d in pending
        .into_iter()
        .filter(|d| d.status == DeliveryStatus::Pending)
    {
        d.status = DeliveryStatus::Failed;
        d.next_attempt_at = None;
        d.last_error = Some(format!("endpoint disabled: {reason}"));
        tx.update(&mut d, None)?;
    }
    events::emit(
        tx,
        "webhook.disabled",
        "webhook_endpoint",
        endpoint.id,
        vec![endpoint.owner_id],
        json!({"url": endpoint.url, "reason": reason}),
    )
}

impl App {
    /// Turn events after each active endpoint's last `seq` into deliveries;
    /// how many were queued.
    pub fn webhook_fanout(&self) -> Result<usize, RpcError> {
        let behind = self.db.read(|tx| {
            let last = tx.last_event_seq()?;
            let endpoints = listing::all_of_value(
                tx,
                WebhookEndpoint::BY_STATUS,
                WebhookStatus::Active.as_str(),
            )?;
            Ok::<_, RpcError>(endpoints.iter().any(|e| e.delivered_seq < last))
        })?;
        if !behind {
            return Ok(0);
        }
        self.db.write(&Actor::system("webhook.fanout"), |tx| {
            let last = tx.last_event_seq()?;
            let endpoints = listing::all_of_value(
                tx,
                WebhookEndpoint::BY_STATUS,
                WebhookStatus::Active.as_str(),
            )?;
            let mut queued = 0;
            for mut endpoint in endpoints {
                if endpoint.delivered_seq >= last {
                    continue;
                }
                let found = if endpoint.all_events {
                    tx.events_after(endpoint.delivered_seq, last, FANOUT_STEP)?
                } else {
                    tx.user_events_after(
                        endpoint.owner_id,
                        endpoint.delivered_seq,
                        last,
                        FANOUT_STEP,
                    )?
                };
                let reached = match found.last() {
                    Some(e) if found.len() == FANOUT_STEP => e.seq,
                    _ => last,
                };
                for e in found {
                    if !endpoint.types.is_empty() && !endpoint.types.contains(&e.kind) {
                        continue;
                    }
                    let payload = event_json(&e).to_string();
                    enqueue(tx, &endpoint, e.id.to_string(), e.seq, &e.kind, payload)?;
                    queued += 1;
                }
                endpoint.delivered_seq = reached;
                tx.update(&mut endpoint, None)?;
            }
            Ok::<_, RpcError>(queued)
        })
    }

    /// Claim up to `limit` due deliveries of active endpoints: each is leased
    /// for `lease_secs` (due again then, should this process die sending it).
    pub fn claim_deliveries(
        &self,
        limit: usize,
        lease_secs: i64,
    ) -> Result<Vec<Claimed>, RpcError> {
        let now = self.db.now();
        let any_due = self.db.read(|tx| {
            let pending = listing::all_of_value(
                tx,
                WebhookDelivery::BY_STATUS,
                DeliveryStatus::Pending.as_str(),
            )?;
            Ok::<_, RpcError>(
                pending
                    .iter()
                    .any(|d| d.next_attempt_at.is_some_and(|t| t <= now)),
            )
        })?;
        if !any_due {
            return Ok(Vec::new());
        }
        self.db.write(&Actor::system("webhook.claim"), |tx| {
            let now = tx.now();
            let pending = listing::all_of_value(
                tx,
                WebhookDelivery::BY_STATUS,
                DeliveryStatus::Pending.as_str(),
            )?;
            let mut due: Vec<WebhookDelivery> = pending
                .into_iter()
                .filter(|d| d.next_attempt_at.is_some_and(|t| t <= now))
                .collect();
            due.sort_by_key(|d| (d.next_attempt_at, d.id));
            let mut claimed = Vec::new();
            for mut d in due {
                if claimed.len() == limit {
                    break;
                }
                let Some(endpoint) = tx.get::<WebhookEndpoint>(d.endpoint_id)? else {
                    continue;
                };
                if endpoint.status != WebhookStatus::Active {
                    continue;
                }
                d.next_attempt_at = Some(now.add_seconds(lease_secs));
                tx.update(&mut d, None)?;
                let mut secrets = vec![endpoint.secret.clone()];
                if let (Some(old), Some(until)) =
                    (&endpoint.previous_secret, endpoint.previous_secret_until)
                    && until > now
                {
                    secrets.push(old.clone());
                }
                claimed.push(Claimed {
                    delivery: d,
                    url: endpoint.url.clone(),
                    secrets,
                });
            }
            Ok::<_, RpcError>(claimed)
        })
    }

    /// Record how an attempt at delivery `id` went.
    pub fn record_attempt(&self, id: Id, attempt: &Attempt) -> Result<(), RpcError> {
        self.db.write(&Actor::system("webhook.deliver"), |tx| {
            let now = tx.now();
            let Some(mut d) = tx.get::<WebhookDelivery>(id)? else {
                return Ok(());
            };
            if d.status != DeliveryStatus::Pending {
                return Ok(());
            }
            let Some(mut endpoint) = tx.get::<WebhookEndpoint>(d.endpoint_id)? else {
                return Ok(());
            };
            d.attempts += 1;
            d.last_status = attempt.status.map(u32::from);
            d.last_error = attempt.error.clone();
            let status = attempt.status.unwrap_or(0);
            if (200..300).contains(&status) {
                d.status = DeliveryStatus::Delivered;
                d.delivered_at = Some(now);
                d.next_attempt_at = None;
                d.last_error = None;
                tx.update(&mut d, None)?;
                if endpoint.failing_since.is_some() {
                    endpoint.failing_since = None;
                    tx.update(&mut endpoint, None)?;
                }
                return Ok(());
            }
            let retry = attempt.status.is_none() || status == 429 || status >= 500;
            let since = *endpoint.failing_since.get_or_insert(now);
            d.next_attempt_at = None;
            d.status = DeliveryStatus::Failed;
            if status == 410 {
                tx.update(&mut d, None)?;
                return disable(tx, &mut endpoint, "the endpoint answered 410 Gone");
            }
            if now.unix_millis() - since.unix_millis() >= DISABLE_AFTER_SECS * 1000 {
                tx.update(&mut d, None)?;
                return disable(tx, &mut endpoint, "deliveries failed for 24 hours");
            }
            let wait = usize::try_from(d.attempts - 1)
                .ok()
                .and_then(|i| RETRY_AFTER_SECS.get(i));
            if let (true, Some(wait)) = (retry, wait) {
                d.status = DeliveryStatus::Pending;
                d.next_attempt_at = Some(now.add_seconds(*wait));
            }
            tx.update(&mut d, None)?;
            tx.update(&mut endpoint, None)?;
            Ok::<_, RpcError>(())
        })
    }

    /// One round of the worker: queue new events, then send up to `max`
    /// due deliveries, `parallel` at a time; how many were attempted.
    pub fn webhook_round(
        &self,
        deliver: &dyn Deliver,
        max: usize,
        parallel: usize,
        lease_secs: i64,
    ) -> Result<usize, RpcError> {
        self.webhook_fanout()?;
        let claimed = self.claim_deliveries(max, lease_secs)?;
        let attempted = claimed.len();
        for chunk in claimed.chunks(parallel.max(1)) {
            let outcomes: Vec<(Id, Attempt)> = std::thread::scope(|s| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|c| s.spawn(move || (c.delivery.id, self.send(deliver, c))))
                    .collect();
                handles.into_iter().filter_map(|h| h.join().ok()).collect()
            });
            for (id, attempt) in outcomes {
                self.record_attempt(id, &attempt)?;
            }
        }
        Ok(attempted)
    }

    /// Sign and send one claimed delivery.
    fn send(&self, deliver: &dyn Deliver, c: &Claimed) -> Attempt {
        let d = &c.delivery;
        let timestamp = self.db.now().unix_millis() / 1000;
        let signed = signature(&c.secrets, &d.message_id, timestamp, &d.payload);
        let signature = match signed {
            Ok(s) => s,
            Err(e) => {
                return Attempt {
                    status: None,
                    error: Some(e),
                };
            }
        };
        if let Err(why) = check_url(&c.url, self.config.webhooks.allow_private) {
            return Attempt {
                status: None,
                error: Some(why),
            };
        }
        let headers = [
            ("webhook-id", d.message_id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
            ("content-type", "application/json".to_string()),
        ];
        deliver.post(&c.url, &headers, &d.payload)
    }
}

impl WebhookService for App {
    fn create(&self, ctx: &Ctx, p: WebhookCreateParams) -> Result<WebhookCreated, RpcError> {
        let owner = me(ctx)?;
        check_url(p.url.trim(), self.config.webhooks.allow_private)
            .map_err(|why| field_error("url", why))?;
        if p.types.iter().any(|t| t.trim().is_empty()) {
            return Err(field_error("types", "an event type is empty"));
        }
        let secret = new_secret()?;
        ctx.write(&self.db, |tx| {
            let mine = listing::all_of(tx, WebhookEndpoint::BY_OWNER_ID, owner)?;
            if mine.len() >= MAX_ENDPOINTS_PER_USER {
                return Err(field_error(
                    "url",
                    format!("at most {MAX_ENDPOINTS_PER_USER} endpoints per user"),
                ));
            }
            let mut types = p.types.clone();
            types.sort();
            types.dedup();
            let mut endpoint = WebhookEndpoint {
                owner_id: owner,
                url: p.url.trim().to_string(),
                types,
                all_events: ctx.is_admin(),
                status: WebhookStatus::Active,
                secret: secret.clone(),
                delivered_seq: tx.last_event_seq()?,
                ..Default::default()
            };
            tx.insert(&mut endpoint)?;
            Ok(WebhookCreated {
                endpoint,
                secret: secret.clone(),
            })
        })
    }

    fn list(&self, ctx: &Ctx, p: WebhookListParams) -> Result<Page<WebhookEndpoint>, RpcError> {
        let owner = me(ctx)?;
        let page = p.page()?;
        Ok(self
            .db
            .read(|tx| WebhookEndpoint::find_by_owner_id(tx, owner, &page))?)
    }

    fn delete(&self, ctx: &Ctx, p: WebhookDeleteParams) -> Result<market_rpc::Ok, RpcError> {
        ctx.write(&self.db, |tx| {
            let endpoint = WebhookEndpoint::get_visible(tx, ctx, p.id)?;
            let deliveries = listing::all_of(tx, WebhookDelivery::BY_ENDPOINT_ID, endpoint.id)?;
            for d in deliveries {
                tx.delete::<WebhookDelivery>(d.id)?;
            }
            tx.delete::<WebhookEndpoint>(endpoint.id)?;
            Ok(market_rpc::Ok::TRUE)
        })
    }

    fn test(&self, ctx: &Ctx, p: WebhookTestParams) -> Result<WebhookDelivery, RpcError> {
        ctx.write(&self.db, |tx| {
            let endpoint = WebhookEndpoint::get_visible(tx, ctx, p.id)?;
            if endpoint.status != WebhookStatus::Active {
                return Err(RpcError::invalid_state("the endpoint is disabled"));
            }
            let id = tx.new_id();
            let payload = json!({
                "seq": 0,
                "id": id.to_string(),
                "type": "webhook.test",
                "at": tx.now().to_string(),
                "actor_id": tx.actor().actor_id,
                "object_type": "webhook_endpoint",
                "object_id": endpoint.id.to_string(),
                "data": {"url": endpoint.url},
            });
            enqueue(
                tx,
                &endpoint,
                id.to_string(),
                0,
                "webhook.test",
                payload.to_string(),
            )
        })
    }

    fn deliveries(
        &self,
        ctx: &Ctx,
        p: WebhookDeliveriesParams,
    ) -> Result<Page<Stored<WebhookDelivery>>, RpcError> {
        let page = p.page()?;
        self.db.read(|tx| {
            let endpoint = WebhookEndpoint::get_visible(tx, ctx, p.id)?.id.to_string();
            listing::stored(
                tx,
                Source::Index(WebhookDelivery::BY_ENDPOINT_ID, &endpoint),
                &page,
            )
        })
    }

    fn replay(&self, ctx: &Ctx, p: WebhookReplayParams) -> Result<WebhookDelivery, RpcError> {
        ctx.write(&self.db, |tx| {
            let past = tx
                .get::<WebhookDelivery>(p.delivery_id)?
                .filter(|d| ctx.owns(d.owner_id))
                .ok_or_else(|| RpcError::not_found("delivery not found"))?;
            let endpoint = WebhookEndpoint::get_visible(tx, ctx, past.endpoint_id)?;
            if endpoint.status != WebhookStatus::Active {
                return Err(RpcError::invalid_state("the endpoint is disabled"));
            }
            enqueue(
                tx,
                &endpoint,
                past.message_id.clone(),
                past.event_seq,
                &past.event_type,
                past.payload.clone(),
            )
        })
    }

    fn rotate_secret(
        &self,
        ctx: &Ctx,
        p: WebhookRotateSecretParams,
    ) -> Result<WebhookSecret, RpcError> {
        let secret = new_secret()?;
        ctx.write(&self.db, |tx| {
            let mut endpoint = WebhookEndpoint::get_visible(tx, ctx, p.id)?;
            let until = tx.now().add_seconds(ROTATION_OVERLAP_SECS);
            endpoint.previous_secret = Some(endpoint.secret.clone());
            endpoint.previous_secret_until = Some(until);
            endpoint.secret = secret.clone();
            tx.update(&mut endpoint, None)?;
            Ok(WebhookSecret {
                id: endpoint.id,
                secret: secret.clone(),
                previous_valid_until: until,
            })
        })
    }
}
