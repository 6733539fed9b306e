//! `message.*`: threads between two users, optionally about an order.

use std::collections::BTreeMap;

use market_rpc::{Ctx, RpcError};
use market_store::{Id, Page, Reads, Stored};

use crate::listing::{self, Source};
use crate::{
    App, Message, MessageListParams, MessageMarkReadParams, MessageSendParams, MessageService,
    MessageThread, MessageThreadsParams, Order, ThreadSummary, User, UserStatus, me,
};

/// The key keeping one thread per pair of users and order.
fn pair_key(a: Id, b: Id, order: Option<Id>) -> String {
    format!(
        "{a}:{b}:{}",
        order.map_or_else(|| "-".to_string(), |o| o.to_string())
    )
}

/// Where a thread stands in `message.threads`: latest message first, the
/// newest thread first among equals. Its text form
/// (`<unix micros>.<thread id>`) is the page cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct ThreadCursor {
    last_message_micros: i64,
    id: Id,
}

impl ThreadCursor {
    fn of(t: &MessageThread) -> ThreadCursor {
        ThreadCursor {
            last_message_micros: t.last_message_at.unix_micros(),
            id: t.id,
        }
    }

    fn parse(text: &str) -> Result<ThreadCursor, RpcError> {
        let bad = || {
            RpcError::invalid_fields(BTreeMap::from([(
                "cursor".to_string(),
                "not a cursor of message.threads".to_string(),
            )]))
        };
        let (micros, id) = text.split_once('.').ok_or_else(bad)?;
        Ok(ThreadCursor {
            last_message_micros: micros.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

impl std::fmt::Display for ThreadCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.last_message_micros, self.id)
    }
}

/// A thread the caller takes part in (or any, for an admin).
fn visible_thread<R: Reads>(tx: &R, ctx: &Ctx, id: Id) -> Result<MessageThread, RpcError> {
    tx.get::<MessageThread>(id)?
        .filter(|t| {
            ctx.is_admin()
                || ctx
                    .user_id()
                    .is_some_and(|me| me == t.user_a_id || me == t.user_b_id)
        })
        .ok_or_else(MessageThread::not_found)
}

impl MessageService for App {
    fn send(&self, ctx: &Ctx, p: MessageSendParams) -> Result<Message, RpcError> {
        let sender = me(ctx)?;
        if p.to_user_id == sender {
            return Err(RpcError::invalid_fields(BTreeMap::from([(
                "to_user_id".to_string(),
                "you cannot message yourself".to_string(),
            )])));
        }
        ctx.write(&self.db, |tx| {
            tx.get::<User>(p.to_user_id)?
                .filter(|u| u.status != UserStatus::Deleted)
                .ok_or_else(|| RpcError::not_found("user not found"))?;
            if let Some(order_id) = p.order_id {
                let order = tx
                    .get::<Order>(order_id)?
                    .ok_or_else(|| RpcError::not_found("order not found"))?;
                let party =
                    |u: Id| u == order.buyer_id || order.items.iter().any(|i| i.seller_id == u);
                if !(party(sender) || ctx.is_admin()) || !party(p.to_user_id) {
                    return Err(RpcError::not_found("order not found"));
                }
            }
            let (a, b) = if sender < p.to_user_id {
                (sender, p.to_user_id)
            } else {
                (p.to_user_id, sender)
            };
            let key = pair_key(a, b, p.order_id);
            let now = tx.now();
            let mut thread = match MessageThread::by_pair_key(tx, &key)? {
                Some(t) => t,
                None => {
                    let mut t = MessageThread {
                        user_a_id: a,
                        user_b_id: b,
                        order_id: p.order_id,
                        pair_key: key,
                        last_message_at: now,
                        ..Default::default()
                    };
                    tx.insert(&mut t)?;
                    t
                }
            };
            if p.to_user_id == thread.user_a_id {
                thread.unread_a += 1;
            } else {
                thread.unread_b += 1;
            }
            thread.last_message_at = now;
            tx.update(&mut thread, None)?;
            let mut message = Message {
                thread_id: thread.id,
                sender_id: sender,
                recipient_id: p.to_user_id,
                body: p.body.clone(),
                read: false,
                ..Default::default()
            };
            tx.insert(&mut message)?;
            crate::events::emit(
                tx,
                "message.received",
                "message",
                message.id,
                vec![message.recipient_id],
                serde_json::json!({
                    "thread_id": thread.id.to_string(),
                    "sender_id": sender.to_string(),
                    "order_id": thread.order_id.map(|id| id.to_string()),
                }),
            )?;
            Ok(message)
        })
    }

    fn threads(&self, ctx: &Ctx, p: MessageThreadsParams) -> Result<Page<ThreadSummary>, RpcError> {
        let user = me(ctx)?;
        let page = p.page()?;
        let after = page
            .cursor
            .as_deref()
            .map(ThreadCursor::parse)
            .transpose()?;
        self.db.read(|tx| {
            let mut threads = listing::all_of(tx, MessageThread::BY_USER_A_ID, user)?;
            threads.extend(listing::all_of(tx, MessageThread::BY_USER_B_ID, user)?);
            threads.sort_by_key(|t| std::cmp::Reverse(ThreadCursor::of(t)));
            threads.dedup_by_key(|t| t.id);
            let mut threads: Vec<MessageThread> = threads
                .into_iter()
                .filter(|t| after.is_none_or(|c| ThreadCursor::of(t) < c))
                .take(page.limit + 1)
                .collect();
            let next_cursor = (threads.len() > page.limit).then(|| {
                threads.truncate(page.limit);
                threads
                    .last()
                    .map(|t| ThreadCursor::of(t).to_string())
                    .unwrap_or_default()
            });
            let mut items = Vec::with_capacity(threads.len());
            for t in &threads {
                let (other, unread) = if t.user_a_id == user {
                    (t.user_b_id, t.unread_a)
                } else {
                    (t.user_a_id, t.unread_b)
                };
                let name = tx
                    .get::<User>(other)?
                    .map(|u| u.display_name)
                    .unwrap_or_default();
                items.push(ThreadSummary {
                    thread_id: t.id,
                    other_user_id: other,
                    other_display_name: name,
                    order_id: t.order_id,
                    last_message_at: t.last_message_at,
                    unread,
                });
            }
            Ok(Page { items, next_cursor })
        })
    }

    fn list(&self, ctx: &Ctx, p: MessageListParams) -> Result<Page<Stored<Message>>, RpcError> {
        let page = p.page()?;
        self.db.read(|tx| {
            let thread = visible_thread(tx, ctx, p.thread_id)?.id.to_string();
            listing::stored(tx, Source::Index(Message::BY_THREAD_ID, &thread), &page)
        })
    }

    fn mark_read(&self, ctx: &Ctx, p: MessageMarkReadParams) -> Result<market_rpc::Ok, RpcError> {
        let user = me(ctx)?;
        ctx.write(&self.db, |tx| {
            let mut thread = visible_thread(tx, ctx, p.thread_id)?;
            let messages = listing::all_of(tx, Message::BY_THREAD_ID, thread.id)?;
            for mut m in messages
                .into_iter()
                .filter(|m| m.recipient_id == user && !m.read)
            {
                m.read = true;
                tx.update(&mut m, None)?;
            }
            if thread.user_a_id == user && thread.unread_a > 0 {
                thread.unread_a = 0;
                tx.update(&mut thread, None)?;
            } else if thread.user_b_id == user && thread.unread_b > 0 {
                thread.unread_b = 0;
                tx.update(&mut thread, None)?;
            }
            Ok(market_rpc::Ok::TRUE)
        })
    }
}
