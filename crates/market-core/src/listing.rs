//! Pages over indexes that a caller's view narrows further: filtered scans
//! (a bounded number of rows per call, so one request never scans a whole
//! table) and the union of two indexes (objects where the caller is on
//! either side).

use market_rpc::RpcError;
use market_store::{Id, Index, Page, PageRequest, Reads, Record};

/// Most rows one filtered page may examine, in multiples of its limit.
const SCAN_FACTOR: usize = 20;

/// Where to read objects of `T` from: one value of one of its indexes, or
/// the whole table.
#[derive(Debug)]
pub enum Source<'a, T> {
    All,
    Index(Index<T>, &'a str),
}

impl<T> Clone for Source<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Source<'_, T> {}

fn find<T: Record, R: Reads>(
    tx: &R,
    index: Index<T>,
    value: &str,
    page: &PageRequest,
) -> Result<Page<T>, RpcError> {
    Ok(tx.find_in(index, value, page)?)
}

fn fetch<T: Record, R: Reads>(
    tx: &R,
    source: Source<'_, T>,
    page: &PageRequest,
) -> Result<Page<T>, RpcError> {
    match source {
        Source::All => Ok(tx.list(page)?),
        Source::Index(index, value) => find(tx, index, value, page),
    }
}

/// A page of the objects of `source` that pass `keep`, newest first. A page
/// may hold fewer than `limit` objects when many are filtered out; its
/// cursor then continues after the last object examined.
pub fn filtered<T: Record, R: Reads>(
    tx: &R,
    source: Source<'_, T>,
    page: &PageRequest,
    keep: impl Fn(&T) -> bool,
) -> Result<Page<T>, RpcError> {
    let budget = page.limit.saturating_mul(SCAN_FACTOR).max(100);
    let mut items = Vec::with_capacity(page.limit);
    let mut cursor = page.cursor.clone();
    let mut examined = 0usize;
    loop {
        let batch_limit = (page.limit - items.len()).max(16);
        let batch: Page<T> = fetch(
            tx,
            source,
            &PageRequest {
                limit: batch_limit,
                cursor: cursor.clone(),
            },
        )?;
        let more = batch.next_cursor.is_some();
        for item in batch.items {
            examined += 1;
            let id = item.meta().id;
            if keep(&item) {
                items.push(item);
            }
            if items.len() == page.limit || examined >= budget {
                return Ok(Page {
                    items,
                    next_cursor: Some(id.to_string()),
                });
            }
        }
        if !more {
            return Ok(Page {
                items,
                next_cursor: None,
            });
        }
        cursor = batch.next_cursor;
    }
}

/// A page of the objects found under either of two index values (without
/// duplicates), newest first.
pub fn union<T: Record, R: Reads>(
    tx: &R,
    a: (Index<T>, &str),
    b: (Index<T>, &str),
    page: &PageRequest,
) -> Result<Page<T>, RpcError> {
    let wide = PageRequest {
        limit: page.limit.saturating_add(1),
        cursor: page.cursor.clone(),
    };
    let mut items = find(tx, a.0, a.1, &wide)?.items;
    for item in find(tx, b.0, b.1, &wide)?.items {
        let id = item.meta().id;
        if !items.iter().any(|i| i.meta().id == id) {
            items.push(item);
        }
    }
    items.sort_by_key(|i| std::cmp::Reverse(i.meta().id));
    let next_cursor = if items.len() > page.limit {
        items.truncate(page.limit);
        items.last().map(|i| i.meta().id.to_string())
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// Every object under one id-valued index entry (for small sets: a user's keys, an order's sales).
pub fn all_of<T: Record, R: Reads>(tx: &R, index: Index<T>, value: Id) -> Result<Vec<T>, RpcError> {
    all_of_value(tx, index, &value.to_string())
}

/// Every object under one index value.
pub fn all_of_value<T: Record, R: Reads>(
    tx: &R,
    index: Index<T>,
    value: &str,
) -> Result<Vec<T>, RpcError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = find(tx, index, value, &PageRequest { limit: 500, cursor })?;
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}
