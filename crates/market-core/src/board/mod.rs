//! The community board: posts derived from an append-only log of events
//! signed by the node that made them.
//!
//! Handlers never change a post: they check the rules against the view,
//! sign an event and append it to the log (`market_store` event log). The
//! view (`view.rs`) is rebuilt by replaying the log; it is kept in memory,
//! caught up with the log's tail before every use, and saved as a snapshot
//! in the database now and then, so a restart replays only the events after
//! the snapshot. Peers pull each other's events through `board.events` and
//! hand them to [`App::ingest_board_events`], which verifies and appends
//! them.

mod event;
mod manifest;
mod posts;
mod search;
mod view;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use market_rpc::RpcError;
use market_store::{Actor, Db, EventLogReads, Id, Reads, WriteTx};
use serde::{Deserialize, Serialize};

pub use event::{Draft, EventData, EventKind, NodeKey, SignedEvent, unhex, verify_hex};
pub use manifest::{Community, Level, Manifest};
pub use search::{Embedder, EmbeddingCache};
pub use view::{PostState, View};

use crate::{App, ExpiryReason, Setting};

/// Setting: TTL of a post created without `ttl_seconds`.
pub const DEFAULT_TTL_SETTING: &str = "board_default_ttl_seconds";
/// Setting: the longest TTL a post may ask for.
pub const MAX_TTL_SETTING: &str = "board_max_ttl_seconds";
/// Name of the view's snapshot in the database.
const SNAPSHOT: &str = "board.view";
/// Format tag of snapshot files.
const FILE_FORMAT: &str = "marketplace-board-snapshot/1";
/// Events read from the log per step when catching up.
const CATCH_UP_BATCH: usize = 1000;

/// How a node takes part in the board.
pub struct BoardConfig {
    /// Signs this node's events and sync requests.
    pub key: NodeKey,
    /// The community manifest, if any.
    pub community: Community,
    /// TTL of a post created without one, unless a stored setting says otherwise.
    pub default_ttl_secs: u64,
    /// Longest TTL, unless a stored setting says otherwise.
    pub max_ttl_secs: u64,
    /// Semantic search, when an embedding endpoint is configured.
    pub embedder: Option<Arc<dyn Embedder>>,
}

impl BoardConfig {
    /// Default TTL: 7 days.
    pub const DEFAULT_TTL_SECS: u64 = 7 * 24 * 3600;
    /// Default maximum TTL: 30 days.
    pub const MAX_TTL_SECS: u64 = 30 * 24 * 3600;

    /// A node with this key, no manifest, default TTLs and text search.
    pub fn new(key: NodeKey) -> BoardConfig {
        BoardConfig {
            key,
            community: Community::default(),
            default_ttl_secs: Self::DEFAULT_TTL_SECS,
            max_ttl_secs: Self::MAX_TTL_SECS,
            embedder: None,
        }
    }
}

/// The board's part of the business layer.
pub(crate) struct Board {
    config: BoardConfig,
    view: Mutex<View>,
    embeddings: EmbeddingCache,
}

/// The view as saved in the database.
#[derive(Serialize, Deserialize)]
struct StoredView {
    /// Which community rules built it (stale expiries depend on them).
    community: String,
    view: View,
}

/// A board snapshot file: the log and the view built from it.
#[derive(Debug, Serialize, Deserialize)]
pub struct SnapshotFile {
    pub format: String,
    /// The node that wrote it.
    pub node_id: String,
    /// Every event of the log, in log order.
    pub events: Vec<SignedEvent>,
    /// The view those events give.
    pub view: View,
}

/// What happened to a batch of events from a peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// New events appended to the log.
    pub accepted: usize,
    /// Events the log held already.
    pub duplicates: usize,
    /// Events refused (bad signature, unknown node, malformed).
    pub rejected: usize,
    /// Index of the first event whose post is not known yet; it and the
    /// events after it were left for a later pull.
    pub waiting_from: Option<usize>,
}

fn corrupt(what: impl std::fmt::Display) -> RpcError {
    tracing::error!(error = %what, "board: unreadable event log");
    RpcError::internal()
}

fn encode_event(e: &SignedEvent) -> Result<Vec<u8>, RpcError> {
    serde_json::to_vec(e).map_err(corrupt)
}

/// The community's rules as a string, to tell whether a snapshot used them.
fn fingerprint(community: &Community) -> String {
    format!("{:?}", community.0)
}

/// A numeric setting: the stored value, else `default`.
fn setting_u64<R: Reads>(tx: &R, key: &str, default: u64) -> Result<u64, RpcError> {
    match Setting::by_key(tx, key)? {
        Some(s) => s.value.trim().parse().map_err(|_| {
            tracing::error!(key, value = %s.value, "stored setting is not a whole number");
            RpcError::internal()
        }),
        None => Ok(default),
    }
}

impl Board {
    /// Load the snapshot saved in the database, then replay the log's tail;
    /// without a usable snapshot, replay the whole log.
    pub(crate) fn open(db: &Db, config: BoardConfig) -> Result<Board, RpcError> {
        let stored = db.read(|tx| Ok::<_, RpcError>(tx.snapshot(SNAPSHOT)?))?;
        let last = db.read(|tx| Ok::<_, RpcError>(tx.event_log_last()?))?;
        let community = fingerprint(&config.community);
        let start = match stored.map(|b| serde_json::from_slice::<StoredView>(&b)) {
            Some(Ok(s)) if s.community == community && s.view.applied <= last => s.view,
            Some(Ok(_)) => {
                tracing::info!(
                    "board: snapshot made under other community rules or ahead of the log; replaying the whole log"
                );
                View::default()
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "board: snapshot unreadable; replaying the whole log");
                View::default()
            }
            None => View::default(),
        };
        let from = start.applied;
        let board = Board {
            config,
            view: Mutex::new(start),
            embeddings: EmbeddingCache::new(search::CACHE_SIZE),
        };
        let replayed = board.catch_up(db, &mut board.lock_raw())?;
        if replayed > 0 || from > 0 {
            tracing::info!(snapshot_at = from, replayed, "board view loaded");
        }
        Ok(board)
    }

    pub(crate) fn node_id(&self) -> String {
        self.config.key.node_id()
    }

    fn lock_raw(&self) -> MutexGuard<'_, View> {
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The view, caught up with the log. Holding it keeps this process's
    /// other board writers out, so checks and appends see one state.
    pub(crate) fn lock(&self, db: &Db) -> Result<MutexGuard<'_, View>, RpcError> {
        let mut view = self.lock_raw();
        self.catch_up(db, &mut view)?;
        Ok(view)
    }

    /// Apply the log's events after `view.applied`; how many.
    fn catch_up(&self, db: &Db, view: &mut View) -> Result<usize, RpcError> {
        let mut n = 0;
        loop {
            let rows =
                db.read(|tx| Ok::<_, RpcError>(tx.event_log_after(view.applied, CATCH_UP_BATCH)?))?;
            if rows.is_empty() {
                return Ok(n);
            }
            for (seq, bytes) in rows {
                let event: SignedEvent = serde_json::from_slice(&bytes).map_err(corrupt)?;
                view.apply(seq, &event, &self.config.community);
                n += 1;
            }
        }
    }

    /// A view built from the whole log, ignoring the one in memory.
    pub(crate) fn replay(&self, db: &Db) -> Result<View, RpcError> {
        let mut view = View::default();
        self.catch_up(db, &mut view)?;
        Ok(view)
    }

    /// Sign an event of this node.
    pub(crate) fn sign(&self, draft: Draft) -> SignedEvent {
        SignedEvent::sign(draft, &self.config.key)
    }

    /// TTL default and maximum in effect.
    pub(crate) fn ttls<R: Reads>(&self, tx: &R) -> Result<(u64, u64), RpcError> {
        Ok((
            setting_u64(tx, DEFAULT_TTL_SETTING, self.config.default_ttl_secs)?,
            setting_u64(tx, MAX_TTL_SETTING, self.config.max_ttl_secs)?,
        ))
    }

    /// Does this node's own `stale` expiry count in its community?
    pub(crate) fn own_stale_counts(&self) -> bool {
        self.config.community.stale_counts(&self.node_id())
    }
}

/// Append events in a write transaction.
pub(crate) fn append(tx: &mut WriteTx<'_>, events: &[SignedEvent]) -> Result<usize, RpcError> {
    let mut n = 0;
    for e in events {
        if tx.append_event_log(e.id, &encode_event(e)?)? {
            n += 1;
            domain_event(tx, e)?;
        }
    }
    Ok(n)
}

/// The marketplace event of a new board event: `post.created` (its author
/// is concerned) and `post.expired` (the post's author and whoever expired it).
fn domain_event(tx: &mut WriteTx<'_>, e: &SignedEvent) -> Result<(), RpcError> {
    let as_user = |who: &str| who.parse::<Id>().ok();
    let (kind, post, users) = match e.kind {
        EventKind::PostCreated => (
            "post.created",
            e.id,
            as_user(&e.author).into_iter().collect(),
        ),
        EventKind::PostExpired => {
            let Some(post) = e.target else {
                return Ok(());
            };
            let mut users: Vec<Id> = as_user(&e.author).into_iter().collect();
            if let Some(bytes) = tx.event_log_find(post)?
                && let Ok(created) = serde_json::from_slice::<SignedEvent>(&bytes)
            {
                users.extend(as_user(&created.author));
            }
            ("post.expired", post, users)
        }
        EventKind::PostUpdated => return Ok(()),
    };
    crate::events::emit(
        tx,
        kind,
        "post",
        post,
        users,
        serde_json::json!({
            "author": e.author,
            "origin": e.origin,
            "board_event_id": e.id.to_string(),
            "data": e.data,
        }),
    )
}

/// Why a peer's event is refused, or `Ok` when it may be appended.
enum Check {
    Ok,
    Waiting,
    Refused(String),
}

/// Check an event from another node against the view and the events
/// accepted before it in the same batch.
fn check_remote(
    e: &SignedEvent,
    community: &Community,
    view: &View,
    batch: &BTreeMap<Id, String>,
) -> Check {
    if community.level(&e.origin).is_none() {
        return Check::Refused("origin node is not in the community manifest".into());
    }
    if let Err(why) = e.verify() {
        return Check::Refused(why);
    }
    if e.author.is_empty() || e.author.len() > 64 {
        return Check::Refused("author must be 1 to 64 characters".into());
    }
    match (e.kind, e.target) {
        (EventKind::PostCreated, None) => {
            let d = &e.data;
            let (Some(_), Some(title), Some(body), Some(expires_at)) =
                (d.category, &d.title, &d.body, d.expires_at)
            else {
                return Check::Refused(
                    "a created event needs category, title, body and expires_at".into(),
                );
            };
            if let Err(why) = posts::check_content(Some(title), Some(body), d.tags.as_deref())
                .and_then(|()| posts::check_location(d.location.as_ref()))
            {
                return Check::Refused(why);
            }
            if d.reason.is_some() || expires_at <= e.at {
                return Check::Refused("malformed created event".into());
            }
            Check::Ok
        }
        (EventKind::PostCreated, Some(_)) => Check::Refused("a created event has no target".into()),
        (_, None) => Check::Refused("updates and expiries need a target".into()),
        (kind, Some(target)) => {
            let author = match (view.posts.get(&target), batch.get(&target)) {
                (Some(p), _) => p.author.clone(),
                (None, Some(a)) => a.clone(),
                (None, None) => return Check::Waiting,
            };
            if kind == EventKind::PostUpdated {
                if e.author != author {
                    return Check::Refused("only the author updates a post".into());
                }
                if let Err(why) = posts::check_content(
                    e.data.title.as_deref(),
                    e.data.body.as_deref(),
                    e.data.tags.as_deref(),
                ) {
                    return Check::Refused(why);
                }
                return Check::Ok;
            }
            match e.data.reason {
                None => Check::Refused("an expiry needs a reason".into()),
                Some(r) if posts::authors_reason(r) && e.author != author => {
                    Check::Refused(format!("only the author expires a post as {r:?}"))
                }
                Some(_) => Check::Ok,
            }
        }
    }
}

impl App {
    pub(crate) fn board(&self) -> &Board {
        &self.board
    }

    /// This node's id: its public key as 64 hex digits.
    pub fn node_id(&self) -> String {
        self.board.node_id()
    }

    /// Sign `message` with this node's key (hex), for sync requests.
    pub fn node_sign(&self, message: &[u8]) -> String {
        self.board.config.key.sign_hex(message)
    }

    /// Verify and append events pulled from a peer. Events already held
    /// are dropped, events with a bad signature or from a node outside the
    /// community are refused (and logged), the Lamport clock advances past
    /// every accepted event. An event whose post is not known yet stops the
    /// batch there, to be pulled again later.
    pub fn ingest_board_events(
        &self,
        peer: &str,
        events: &[SignedEvent],
    ) -> Result<IngestReport, RpcError> {
        let board = &self.board;
        let mut view = board.lock(&self.db)?;
        let mut report = IngestReport::default();
        let mut accepted = Vec::new();
        let mut batch: BTreeMap<Id, String> = BTreeMap::new();
        let mut seen: BTreeSet<Id> = BTreeSet::new();
        for (i, e) in events.iter().enumerate() {
            let known = seen.contains(&e.id)
                || self
                    .db
                    .read(|tx| Ok::<_, RpcError>(tx.event_log_seq(e.id)?))?
                    .is_some();
            if known {
                report.duplicates += 1;
                continue;
            }
            match check_remote(e, &board.config.community, &view, &batch) {
                Check::Ok => {
                    if e.kind == EventKind::PostCreated {
                        batch.insert(e.id, e.author.clone());
                    }
                    seen.insert(e.id);
                    accepted.push(e.clone());
                }
                Check::Waiting => {
                    report.waiting_from = Some(i);
                    break;
                }
                Check::Refused(why) => {
                    tracing::warn!(peer, event = %e.id, origin = %e.origin, reason = %why, "board: event refused");
                    report.rejected += 1;
                }
            }
        }
        if !accepted.is_empty() {
            report.accepted = self
                .db
                .write(&Actor::system("board.sync"), |tx| append(tx, &accepted))?;
            board.catch_up(&self.db, &mut view)?;
        }
        Ok(report)
    }

    /// Expire every active post past its TTL with a `stale` event (the
    /// sweeper, every minute). Nothing when this node's stale expiries do
    /// not count in its community. How many posts were expired.
    pub fn sweep_board(&self) -> Result<usize, RpcError> {
        let board = &self.board;
        if !board.own_stale_counts() {
            return Ok(0);
        }
        let mut view = board.lock(&self.db)?;
        let now = self.db.now();
        let due: Vec<Id> = view
            .posts
            .values()
            .filter(|p| p.expiry.is_none() && p.expires_at <= now)
            .map(|p| p.id)
            .collect();
        if due.is_empty() {
            return Ok(0);
        }
        let mut lamport = view.lamport;
        let events: Vec<SignedEvent> = due
            .iter()
            .map(|target| {
                lamport += 1;
                board.sign(Draft {
                    id: self.db.new_id(),
                    kind: EventKind::PostExpired,
                    lamport,
                    author: "system".into(),
                    target: Some(*target),
                    at: now,
                    data: EventData {
                        reason: Some(ExpiryReason::Stale),
                        ..EventData::default()
                    },
                })
            })
            .collect();
        self.db
            .write(&Actor::system("board.sweep"), |tx| append(tx, &events))?;
        board.catch_up(&self.db, &mut view)?;
        Ok(events.len())
    }

    /// Save the view in the database, so the next start replays only the
    /// events after it.
    pub fn save_board_snapshot(&self) -> Result<u64, RpcError> {
        let board = &self.board;
        let view = board.lock(&self.db)?;
        let stored = StoredView {
            community: fingerprint(&board.config.community),
            view: view.clone(),
        };
        let bytes = serde_json::to_vec(&stored).map_err(corrupt)?;
        self.db.write(&Actor::system("board.snapshot"), |tx| {
            tx.put_snapshot(SNAPSHOT, &bytes)?;
            Ok::<_, RpcError>(())
        })?;
        Ok(view.applied)
    }

    /// The view in memory (snapshot plus tail), caught up with the log.
    pub fn board_view(&self) -> Result<View, RpcError> {
        Ok(self.board.lock(&self.db)?.clone())
    }

    /// A view built by replaying the whole log.
    pub fn board_replay(&self) -> Result<View, RpcError> {
        self.board.replay(&self.db)
    }

    /// The whole log and its view, for `marketplace board snapshot`.
    pub fn board_snapshot_file(&self) -> Result<SnapshotFile, RpcError> {
        let view = self.board.lock(&self.db)?;
        let mut events = Vec::new();
        let mut after = 0;
        loop {
            let rows = self
                .db
                .read(|tx| Ok::<_, RpcError>(tx.event_log_after(after, CATCH_UP_BATCH)?))?;
            let Some((last, _)) = rows.last() else {
                break;
            };
            after = *last;
            for (_, bytes) in rows {
                events.push(serde_json::from_slice(&bytes).map_err(corrupt)?);
            }
        }
        Ok(SnapshotFile {
            format: FILE_FORMAT.into(),
            node_id: self.node_id(),
            events,
            view: view.clone(),
        })
    }

    /// Restore a snapshot file: check that every event is correctly signed
    /// by a node of the community and that its events give its view, append
    /// the events this database lacks, rebuild the view from the log and
    /// save it. How many events were new.
    pub fn restore_board_snapshot(&self, file: &SnapshotFile) -> Result<usize, RpcError> {
        if file.format != FILE_FORMAT {
            return Err(RpcError::invalid_input(format!(
                "not a board snapshot (format {:?}, expected {FILE_FORMAT:?})",
                file.format
            )));
        }
        let community = &self.board.config.community;
        let mut check = View::default();
        for (i, e) in file.events.iter().enumerate() {
            if community.level(&e.origin).is_none() {
                return Err(RpcError::invalid_input(format!(
                    "event {} ({}) comes from a node outside the community",
                    i + 1,
                    e.id
                )));
            }
            e.verify().map_err(|why| {
                RpcError::invalid_input(format!("event {} ({}): {why}", i + 1, e.id))
            })?;
            check.apply(i as u64 + 1, e, community);
        }
        if check.state() != file.view.state() {
            return Err(RpcError::invalid_input(
                "the snapshot's view does not match its events",
            ));
        }
        let added = {
            let mut view = self.board.lock(&self.db)?;
            let added = self.db.write(&Actor::system("board.restore"), |tx| {
                append(tx, &file.events)
            })?;
            *view = self.board.replay(&self.db)?;
            added
        };
        self.save_board_snapshot()?;
        Ok(added)
    }
}
