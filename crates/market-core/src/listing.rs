//! Pages over indexes that a caller's view narrows further: filtered scans
//! (a bounded number of rows per call, so one request never scans a whole
//! table) and the union of two indexes (objects where the caller is on
//! either side).

use market_rpc::RpcError;
use market_store::{Id, Index, Page, PageRequest, Reads, Record, Shaped, Stored, Verbatim};

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
    filter_pages(page, |p| fetch(tx, source, p), |x| x.meta().id, keep)
}

/// [`filtered`] over the stored JSON of the objects: `keep` sees each one's
/// indexed fields, and the page carries the records as they are stored.
pub fn filtered_stored<T: Verbatim, R: Reads>(
    tx: &R,
    source: Source<'_, T>,
    page: &PageRequest,
    keep: impl Fn(&T::Shape) -> bool,
) -> Result<Page<Stored<T>>, RpcError> {
    let fetch = |p: &PageRequest| match source {
        Source::All => tx.list_shaped(p),
        Source::Index(index, value) => tx.find_shaped_in(index, value, p),
    };
    let found = filter_pages(page, |p| Ok(fetch(p)?), Shaped::id, |x| keep(&x.shape))?;
    Ok(found.map(|x| x.stored))
}

/// A page of the objects of `source` as they are stored, newest first.
pub fn stored<T: Verbatim, R: Reads>(
    tx: &R,
    source: Source<'_, T>,
    page: &PageRequest,
) -> Result<Page<Stored<T>>, RpcError> {
    let found = match source {
        Source::All => tx.list_shaped(page)?,
        Source::Index(index, value) => tx.find_shaped_in(index, value, page)?,
    };
    Ok(found.map(|x| x.stored))
}

fn filter_pages<X>(
    page: &PageRequest,
    fetch: impl Fn(&PageRequest) -> Result<Page<X>, RpcError>,
    id: impl Fn(&X) -> Id,
    keep: impl Fn(&X) -> bool,
) -> Result<Page<X>, RpcError> {
    let budget = page.limit.saturating_mul(SCAN_FACTOR).max(100);
    let mut items = Vec::with_capacity(page.limit);
    let mut cursor = page.cursor.clone();
    let mut examined = 0usize;
    loop {
        let batch_limit = (page.limit - items.len()).max(16);
        let batch = fetch(&PageRequest {
            limit: batch_limit,
            cursor: cursor.clone(),
        })?;
        let more = batch.next_cursor.is_some();
        for item in batch.items {
            examined += 1;
            let at = id(&item);
            if keep(&item) {
                items.push(item);
            }
            if items.len() == page.limit || examined >= budget {
                return Ok(Page {
                    items,
                    next_cursor: Some(at.to_string()),
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
