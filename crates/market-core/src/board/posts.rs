//! `post.*` and `board.events`: the rules, checked against the view, then
//! one signed event appended per change.

use std::collections::BTreeMap;

use market_rpc::{Caller, Ctx, RpcError};
use market_store::{EventLogReads, Id};

use super::event::{Draft, EventData, EventKind, SignedEvent};
use super::view::{PostState, View, client_key};
use super::{Board, append};
use crate::{
    App, BoardEvent, BoardEventPage, BoardEventsParams, BoardService, ExpiryReason, Post,
    PostCreateParams, PostCreated, PostExpireParams, PostGetParams, PostHit, PostListParams,
    PostLocation, PostSearchParams, PostSearchResult, PostService, PostUpdateParams, Role, me,
};

/// Most tags on a post, and the longest tag.
const MAX_TAGS: usize = 20;
const MAX_TAG_LEN: usize = 50;
const MAX_TITLE: usize = 200;
const MAX_BODY: usize = 10_000;
/// `board.events` page size when the caller names none.
const DEFAULT_EVENTS: u32 = 100;
/// `post.search` hits when the caller names no `k`.
const DEFAULT_K: u32 = 10;

/// Reasons only the author gives.
pub(crate) fn authors_reason(r: ExpiryReason) -> bool {
    matches!(
        r,
        ExpiryReason::Fulfilled | ExpiryReason::Withdrawn | ExpiryReason::UserRequest
    )
}

fn text_ok(field: &str, value: &str, max: usize) -> Result<(), String> {
    let len = value.chars().count();
    if value.trim().is_empty() {
        Err(format!("{field} must not be empty"))
    } else if len > max {
        Err(format!("{field} must be at most {max} characters"))
    } else {
        Ok(())
    }
}

/// Title, body and tags within bounds (for local calls and peers' events alike).
pub(crate) fn check_content(
    title: Option<&str>,
    body: Option<&str>,
    tags: Option<&[String]>,
) -> Result<(), String> {
    if let Some(t) = title {
        text_ok("title", t, MAX_TITLE)?;
    }
    if let Some(b) = body {
        text_ok("body", b, MAX_BODY)?;
    }
    if let Some(tags) = tags {
        if tags.len() > MAX_TAGS {
            return Err(format!("at most {MAX_TAGS} tags"));
        }
        for t in tags {
            text_ok("a tag", t, MAX_TAG_LEN)?;
        }
    }
    Ok(())
}

/// Latitude within ±90 and longitude within ±180 degrees.
pub(crate) fn check_location(location: Option<&PostLocation>) -> Result<(), String> {
    let Some(l) = location else {
        return Ok(());
    };
    if !(-90.0..=90.0).contains(&l.lat) {
        return Err("location.lat must be between -90 and 90".into());
    }
    if !(-180.0..=180.0).contains(&l.lng) {
        return Err("location.lng must be between -180 and 180".into());
    }
    if l.label.as_ref().is_some_and(|s| s.chars().count() > 200) {
        return Err("location.label must be at most 200 characters".into());
    }
    Ok(())
}

/// A rule broken by a field, as `invalid_input` with `data.fields`.
fn field_error(field: &str, why: impl Into<String>) -> RpcError {
    RpcError::invalid_fields(BTreeMap::from([(field.to_string(), why.into())]))
}

/// `check_content`'s complaint, attributed to the field it names.
fn content_error(why: String) -> RpcError {
    let field = ["title", "body", "location"]
        .into_iter()
        .find(|f| why.starts_with(f))
        .unwrap_or("tags");
    field_error(field, why)
}

fn post_not_found(id: Id) -> RpcError {
    RpcError::not_found(format!("post {id} not found"))
        .with_data("object_type", "Post".into())
        .with_data("id", id.to_string().into())
}

fn expired_state() -> RpcError {
    RpcError::invalid_state("the post has expired")
        .with_data("current", "expired".into())
        .with_data("allowed", serde_json::json!([]))
}

/// Who acts, as recorded in an event.
fn author_of(ctx: &Ctx) -> Result<String, RpcError> {
    match &ctx.caller {
        Caller::System => Ok("system".into()),
        _ => Ok(me(ctx)?.to_string()),
    }
}

fn may_moderate(ctx: &Ctx) -> bool {
    match &ctx.caller {
        Caller::System => true,
        Caller::User(p) => p.is_admin() || p.has_role(Role::Moderator.as_str()),
        Caller::Anonymous => false,
    }
}

impl App {
    /// Sign `draft`, append it through the call's write, bring the view
    /// up to date and answer the post it concerns.
    fn append_one(
        &self,
        ctx: &Ctx,
        view: &mut View,
        draft: Draft,
        post: Id,
    ) -> Result<(SignedEvent, Post), RpcError> {
        let board: &Board = self.board();
        let event = board.sign(draft);
        let now = self.db.now();
        let mut state = match view.posts.get(&post) {
            Some(p) => p.clone(),
            None => {
                let mut scratch = View::default();
                scratch.apply(0, &event, &board.config.community);
                scratch.posts.remove(&post).ok_or_else(RpcError::internal)?
            }
        };
        if event.kind != EventKind::PostCreated {
            state.apply(&event, &board.config.community);
        }
        let answer = state.to_post(now);
        let events = [event.clone()];
        ctx.write(&self.db, |tx| {
            append(tx, &events)?;
            Ok(answer.clone())
        })?;
        board.catch_up(&self.db, view)?;
        let post = match view.posts.get(&post) {
            Some(p) => p.to_post(now),
            None => answer,
        };
        Ok((event, post))
    }

    fn visible_post<'v>(&self, view: &'v View, id: Id) -> Result<&'v PostState, RpcError> {
        view.posts.get(&id).ok_or_else(|| post_not_found(id))
    }
}

impl PostService for App {
    fn create(&self, ctx: &Ctx, p: PostCreateParams) -> Result<PostCreated, RpcError> {
        let author = author_of(ctx)?;
        let tags = p.tags.unwrap_or_default();
        check_content(Some(&p.title), Some(&p.body), Some(&tags)).map_err(content_error)?;
        check_location(p.location.as_ref()).map_err(|why| field_error("location", why))?;
        let board = self.board();
        let (default_ttl, max_ttl) = self.db.read(|tx| board.ttls(tx))?;
        let ttl = p.ttl_seconds.unwrap_or(default_ttl);
        if ttl == 0 || ttl > max_ttl {
            return Err(field_error(
                "ttl_seconds",
                format!("must be between 1 and {max_ttl} seconds"),
            ));
        }
        let mut view = board.lock(&self.db)?;
        let now = self.db.now();
        if let Some(client_id) = &p.client_id
            && let Some(id) = view.by_client.get(&client_key(&author, client_id))
            && let Some(post) = view.posts.get(id)
        {
            return Ok(PostCreated {
                post: post.to_post(now),
                event_id: post.id,
                lamport: post.lamport,
            });
        }
        let id = self.db.new_id();
        let draft = Draft {
            id,
            kind: EventKind::PostCreated,
            lamport: view.lamport + 1,
            author,
            target: None,
            at: now,
            data: EventData {
                category: Some(p.category),
                title: Some(p.title),
                body: Some(p.body),
                tags: Some(tags),
                location: p.location,
                expires_at: Some(now.add_seconds(i64::try_from(ttl).unwrap_or(i64::MAX))),
                client_id: p.client_id,
                reason: None,
            },
        };
        let (event, post) = self.append_one(ctx, &mut view, draft, id)?;
        Ok(PostCreated {
            post,
            event_id: event.id,
            lamport: event.lamport,
        })
    }

    fn update(&self, ctx: &Ctx, p: PostUpdateParams) -> Result<Post, RpcError> {
        let author = author_of(ctx)?;
        check_content(p.title.as_deref(), p.body.as_deref(), p.tags.as_deref())
            .map_err(content_error)?;
        if p.title.is_none() && p.body.is_none() && p.tags.is_none() {
            return Err(RpcError::invalid_input(
                "give at least one of title, body and tags",
            ));
        }
        let mut view = self.board().lock(&self.db)?;
        let now = self.db.now();
        let post = self.visible_post(&view, p.id)?;
        if post.author != author {
            return Err(RpcError::forbidden("only the author may change a post"));
        }
        if !post.is_active(now) {
            return Err(expired_state());
        }
        let draft = Draft {
            id: self.db.new_id(),
            kind: EventKind::PostUpdated,
            lamport: view.lamport + 1,
            author,
            target: Some(p.id),
            at: now,
            data: EventData {
                title: p.title,
                body: p.body,
                tags: p.tags,
                ..EventData::default()
            },
        };
        Ok(self.append_one(ctx, &mut view, draft, p.id)?.1)
    }

    fn expire(&self, ctx: &Ctx, p: PostExpireParams) -> Result<Post, RpcError> {
        let author = author_of(ctx)?;
        let mut view = self.board().lock(&self.db)?;
        let now = self.db.now();
        let post = self.visible_post(&view, p.id)?;
        if authors_reason(p.reason) {
            if post.author != author {
                return Err(RpcError::forbidden(
                    "only the author expires a post as fulfilled, withdrawn or user_request",
                ));
            }
        } else if !may_moderate(ctx) {
            return Err(RpcError::forbidden(
                "stale and moderated expiries need the moderator role or an admin",
            ));
        }
        if !post.is_active(now) {
            return Err(expired_state());
        }
        if p.reason == ExpiryReason::Stale && !self.board().own_stale_counts() {
            return Err(RpcError::forbidden(
                "this node's stale expiries do not count in its community (level member)",
            ));
        }
        let draft = Draft {
            id: self.db.new_id(),
            kind: EventKind::PostExpired,
            lamport: view.lamport + 1,
            author,
            target: Some(p.id),
            at: now,
            data: EventData {
                reason: Some(p.reason),
                ..EventData::default()
            },
        };
        Ok(self.append_one(ctx, &mut view, draft, p.id)?.1)
    }

    fn get(&self, _ctx: &Ctx, p: PostGetParams) -> Result<Post, RpcError> {
        let view = self.board().lock(&self.db)?;
        Ok(self.visible_post(&view, p.id)?.to_post(self.db.now()))
    }

    fn list(&self, _ctx: &Ctx, p: PostListParams) -> Result<market_store::Page<Post>, RpcError> {
        let req = p.page()?;
        let cursor: Option<Id> = match &req.cursor {
            Some(c) => Some(
                c.parse()
                    .map_err(|_| field_error("cursor", "not a cursor from a previous page"))?,
            ),
            None => None,
        };
        let view = self.board().lock(&self.db)?;
        let now = self.db.now();
        let mut items: Vec<Post> = view
            .posts
            .values()
            .rev()
            .filter(|s| cursor.is_none_or(|c| s.id < c))
            .filter(|s| s.is_active(now))
            .filter(|s| p.category.is_none_or(|c| s.category == c))
            .filter(|s| p.tag.as_ref().is_none_or(|t| s.tags.value.contains(t)))
            .filter(|s| p.since_lamport.is_none_or(|l| s.lamport > l))
            .take(req.limit + 1)
            .map(|s| s.to_post(now))
            .collect();
        let next_cursor = if items.len() > req.limit {
            items.truncate(req.limit);
            items.last().map(|p| p.id.to_string())
        } else {
            None
        };
        Ok(market_store::Page { items, next_cursor })
    }

    fn search(&self, _ctx: &Ctx, p: PostSearchParams) -> Result<PostSearchResult, RpcError> {
        let k = p.k.unwrap_or(DEFAULT_K) as usize;
        let active: Vec<PostState> = {
            let view = self.board().lock(&self.db)?;
            let now = self.db.now();
            view.posts
                .values()
                .filter(|s| s.is_active(now))
                .cloned()
                .collect()
        };
        let now = self.db.now();
        let (hits, fallback) = self.board().search(&active, &p.query, k);
        let by_id: BTreeMap<Id, &PostState> = active.iter().map(|s| (s.id, s)).collect();
        let items = hits
            .into_iter()
            .filter_map(|(id, score)| {
                by_id.get(&id).map(|s| PostHit {
                    post: s.to_post(now),
                    score,
                })
            })
            .collect();
        Ok(PostSearchResult { items, fallback })
    }
}

impl BoardService for App {
    fn events(&self, ctx: &Ctx, p: BoardEventsParams) -> Result<BoardEventPage, RpcError> {
        match (&ctx.node, ctx.is_admin()) {
            (Some(node), _) => {
                if self.board().config.community.level(node).is_none() {
                    tracing::warn!(node = %node, "board: sync request from a node outside the community refused");
                    return Err(RpcError::forbidden(
                        "this node is not in the community manifest",
                    ));
                }
            }
            (None, true) => {}
            (None, false) => {
                return Err(RpcError::unauthenticated(
                    "board.events needs a signed node request (X-Node-Id, X-Node-Timestamp, X-Node-Signature) or an admin",
                ));
            }
        }
        let limit = p.limit.unwrap_or(DEFAULT_EVENTS) as usize;
        let after = p.after.unwrap_or(0);
        let rows = self
            .db
            .read(|tx| Ok::<_, RpcError>(tx.event_log_after(after, limit)?))?;
        let mut items = Vec::with_capacity(rows.len());
        for (seq, bytes) in &rows {
            let mut value: serde_json::Value =
                serde_json::from_slice(bytes).map_err(super::corrupt)?;
            if let Some(obj) = value.as_object_mut() {
                obj.insert("seq".into(), (*seq).into());
            }
            items.push(serde_json::from_value::<BoardEvent>(value).map_err(super::corrupt)?);
        }
        let lamport = self.board().lock(&self.db)?.lamport;
        Ok(BoardEventPage {
            next_after: rows.last().map(|(seq, _)| *seq),
            items,
            node_id: self.node_id(),
            lamport,
        })
    }
}
