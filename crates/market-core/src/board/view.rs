//! The board's view: posts derived by replaying the event log.
//!
//! Applying events commutes once a post's `post.created` is in (the log
//! holds events only after their target, so every replay has it first):
//! each field keeps the value of the update with the greatest
//! `(lamport, origin, id)`, an expiry is the applied one with the least,
//! `version` counts the applied events. So nodes that hold the same events
//! hold the same view, whatever order the events reached them in.

use std::collections::BTreeMap;

use market_store::{Id, Timestamp};
use serde::{Deserialize, Serialize};

use super::event::{EventKind, SignedEvent};
use super::manifest::Community;
use crate::{ExpiryReason, Post, PostCategory, PostLocation, PostStatus};

/// Orders concurrent events the same way on every node.
pub type EventKey = (u64, String, Id);

fn key_of(e: &SignedEvent) -> EventKey {
    (e.lamport, e.origin.clone(), e.id)
}

/// One field with the key of the event that set it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lww<T> {
    pub value: T,
    pub key: EventKey,
}

impl<T> Lww<T> {
    fn set(&mut self, value: T, key: &EventKey) {
        if *key > self.key {
            self.value = value;
            self.key = key.clone();
        }
    }
}

/// The applied expiry of a post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expiry {
    pub key: EventKey,
    pub reason: ExpiryReason,
    pub by: String,
    pub at: Timestamp,
}

/// A post as the view holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostState {
    pub id: Id,
    pub author: String,
    pub origin: String,
    pub lamport: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
    pub category: PostCategory,
    pub title: Lww<String>,
    pub body: Lww<String>,
    pub tags: Lww<Vec<String>>,
    pub location: Option<PostLocation>,
    pub client_id: Option<String>,
    pub expires_at: Timestamp,
    pub expiry: Option<Expiry>,
}

impl PostState {
    /// Expired by an event, or past its TTL at `now`.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.expiry.is_none() && self.expires_at > now
    }

    /// The post as methods answer it, at `now`.
    pub fn to_post(&self, now: Timestamp) -> Post {
        Post {
            id: self.id,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
            author_id: self.author.clone(),
            category: self.category,
            title: self.title.value.clone(),
            body: self.body.value.clone(),
            tags: self.tags.value.clone(),
            location: self.location.clone(),
            client_id: self.client_id.clone(),
            expires_at: self.expires_at,
            status: if self.is_active(now) {
                PostStatus::Active
            } else {
                PostStatus::Expired
            },
            lamport: self.lamport,
            origin_node: self.origin.clone(),
            expired_reason: self.expiry.as_ref().map(|e| e.reason),
            expired_by: self.expiry.as_ref().map(|e| e.by.clone()),
            expired_at: self.expiry.as_ref().map(|e| e.at),
        }
    }

    fn from_created(e: &SignedEvent) -> Option<PostState> {
        let key = key_of(e);
        let d = &e.data;
        Some(PostState {
            id: e.id,
            author: e.author.clone(),
            origin: e.origin.clone(),
            lamport: e.lamport,
            created_at: e.at,
            updated_at: e.at,
            version: 1,
            category: d.category?,
            title: Lww {
                value: d.title.clone()?,
                key: key.clone(),
            },
            body: Lww {
                value: d.body.clone()?,
                key: key.clone(),
            },
            tags: Lww {
                value: d.tags.clone().unwrap_or_default(),
                key,
            },
            location: d.location.clone(),
            client_id: d.client_id.clone(),
            expires_at: d.expires_at?,
            expiry: None,
        })
    }

    /// Apply an update or expiry aimed at this post. `false` when the event
    /// does not count (a `stale` expiry from a node whose stale expiries
    /// the community does not count).
    pub fn apply(&mut self, e: &SignedEvent, community: &Community) -> bool {
        let key = key_of(e);
        match e.kind {
            EventKind::PostCreated => return false,
            EventKind::PostUpdated => {
                if let Some(t) = &e.data.title {
                    self.title.set(t.clone(), &key);
                }
                if let Some(b) = &e.data.body {
                    self.body.set(b.clone(), &key);
                }
                if let Some(t) = &e.data.tags {
                    self.tags.set(t.clone(), &key);
                }
            }
            EventKind::PostExpired => {
                let Some(reason) = e.data.reason else {
                    return false;
                };
                if reason == ExpiryReason::Stale && !community.stale_counts(&e.origin) {
                    return false;
                }
                if self.expiry.as_ref().is_none_or(|x| key < x.key) {
                    self.expiry = Some(Expiry {
                        key,
                        reason,
                        by: e.author.clone(),
                        at: e.at,
                    });
                }
            }
        }
        self.version += 1;
        self.updated_at = self.updated_at.max(e.at);
        true
    }
}

/// Every post, and how far into the log the view is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct View {
    /// The last log sequence number applied.
    pub applied: u64,
    /// The greatest Lamport clock seen.
    pub lamport: u64,
    pub posts: BTreeMap<Id, PostState>,
    /// `<author>:<client_id>` to post id.
    pub by_client: BTreeMap<String, Id>,
}

/// The idempotency key of a post made with a client id.
pub fn client_key(author: &str, client_id: &str) -> String {
    format!("{author}:{client_id}")
}

impl View {
    /// Apply the event at log position `seq`.
    pub fn apply(&mut self, seq: u64, e: &SignedEvent, community: &Community) {
        self.applied = self.applied.max(seq);
        self.lamport = self.lamport.max(e.lamport);
        match (e.kind, e.target) {
            (EventKind::PostCreated, _) => {
                if self.posts.contains_key(&e.id) {
                    return;
                }
                let Some(post) = PostState::from_created(e) else {
                    tracing::warn!(event = %e.id, "board: created event without its post fields; ignored");
                    return;
                };
                if let Some(c) = &post.client_id {
                    self.by_client
                        .entry(client_key(&post.author, c))
                        .or_insert(post.id);
                }
                self.posts.insert(post.id, post);
            }
            (_, Some(target)) => match self.posts.get_mut(&target) {
                Some(post) => {
                    post.apply(e, community);
                }
                None => {
                    tracing::warn!(event = %e.id, %target, "board: event for an unknown post; ignored")
                }
            },
            (_, None) => {
                tracing::warn!(event = %e.id, "board: event without a target; ignored")
            }
        }
    }

    /// The posts only, for comparing two views' state.
    pub fn state(&self) -> (&BTreeMap<Id, PostState>, u64) {
        (&self.posts, self.lamport)
    }
}
