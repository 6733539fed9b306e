//! One call's writes held aside over a transaction that others share.
//!
//! Several calls' writes go into one redb write transaction, one after the
//! other, and one durable commit covers them all. Each call writes into an
//! [`Overlay`] over that transaction first: its reads see the transaction
//! (the calls before it) and its own writes, and the transaction itself
//! only gets the call's writes when the call succeeds. A call that fails
//! drops its overlay, and so rolls back only itself.
//!
//! A key written twice by one call is written to the transaction once.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use crate::error::Result;
use crate::kv::{Entry, KeyRange, Order, RawRead, RawWrite};

/// A value written by the call (`Some`) or a key it deleted (`None`).
type Slot = Option<Vec<u8>>;

/// One call's writes over a base it reads through.
pub(crate) struct Overlay<'b, B: RawRead> {
    base: &'b B,
    tables: HashMap<String, BTreeMap<Vec<u8>, Slot>>,
}

/// The writes an overlay holds, by table, each table's in key order.
pub(crate) struct Writes(HashMap<String, BTreeMap<Vec<u8>, Slot>>);

impl<'b, B: RawRead> Overlay<'b, B> {
    pub(crate) fn new(base: &'b B) -> Overlay<'b, B> {
        Overlay {
            base,
            tables: HashMap::new(),
        }
    }

    /// The writes, to apply to the base.
    pub(crate) fn into_writes(self) -> Writes {
        Writes(self.tables)
    }

    fn table_mut(&mut self, table: &str) -> &mut BTreeMap<Vec<u8>, Slot> {
        if !self.tables.contains_key(table) {
            self.tables.insert(table.to_string(), BTreeMap::new());
        }
        self.tables
            .get_mut(table)
            .unwrap_or_else(|| unreachable!("the table was just added"))
    }
}

impl Writes {
    /// How many keys they put or delete.
    pub(crate) fn rows(&self) -> usize {
        self.0.values().map(BTreeMap::len).sum()
    }

    /// Put and delete them in `target`, a table at a time, in key order.
    pub(crate) fn apply(self, target: &mut impl RawWrite) -> Result<()> {
        for (table, writes) in self.0 {
            for (key, slot) in writes {
                match slot {
                    Some(value) => target.put(&table, &key, &value)?,
                    None => {
                        target.delete(&table, &key)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Whether `range` holds no key at all (`BTreeMap::range` refuses those).
fn is_empty(range: &KeyRange) -> bool {
    match (&range.start, &range.end) {
        (Bound::Included(s), Bound::Included(e)) => s > e,
        (Bound::Included(s) | Bound::Excluded(s), Bound::Excluded(e))
        | (Bound::Excluded(s), Bound::Included(e)) => s >= e,
        _ => false,
    }
}

fn as_slices(range: &KeyRange) -> (Bound<&[u8]>, Bound<&[u8]>) {
    fn b(x: &Bound<Vec<u8>>) -> Bound<&[u8]> {
        match x {
            Bound::Included(v) => Bound::Included(v.as_slice()),
            Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
            Bound::Unbounded => Bound::Unbounded,
        }
    }
    (b(&range.start), b(&range.end))
}

impl<B: RawRead> RawRead for Overlay<'_, B> {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.tables.get(table).and_then(|t| t.get(key)) {
            Some(slot) => Ok(slot.clone()),
            None => self.base.get(table, key),
        }
    }

    fn scan(
        &self,
        table: &str,
        range: &KeyRange,
        order: Order,
        limit: usize,
    ) -> Result<Vec<Entry>> {
        let own: Vec<(&Vec<u8>, &Slot)> = match self.tables.get(table) {
            Some(t) if !is_empty(range) => t.range::<[u8], _>(as_slices(range)).collect(),
            _ => Vec::new(),
        };
        if own.is_empty() {
            return self.base.scan(table, range, order, limit);
        }
        // Each deleted key may hide one of the base's entries: read that
        // many more, so `limit` entries are left when there are that many.
        let deleted = own.iter().filter(|(_, slot)| slot.is_none()).count();
        let mut merged: BTreeMap<Vec<u8>, Slot> = self
            .base
            .scan(table, range, order, limit.saturating_add(deleted))?
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect();
        for (key, slot) in own {
            merged.insert(key.clone(), slot.clone());
        }
        let live = merged
            .into_iter()
            .filter_map(|(k, slot)| slot.map(|v| (k, v)));
        Ok(match order {
            Order::Ascending => live.take(limit).collect(),
            Order::Descending => live.rev().take(limit).collect(),
        })
    }
}

impl<B: RawRead> RawWrite for Overlay<'_, B> {
    fn put(&mut self, table: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.table_mut(table)
            .insert(key.to_vec(), Some(value.to_vec()));
        Ok(())
    }

    fn delete(&mut self, table: &str, key: &[u8]) -> Result<bool> {
        let present = self.get(table, key)?.is_some();
        self.table_mut(table).insert(key.to_vec(), None);
        Ok(present)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use proptest::prelude::*;

    use super::*;

    /// A plain map as the base.
    #[derive(Default)]
    struct Map(RefCell<BTreeMap<Vec<u8>, Vec<u8>>>);

    impl RawRead for Map {
        fn get(&self, _table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
            Ok(self.0.borrow().get(key).cloned())
        }

        fn scan(
            &self,
            _table: &str,
            range: &KeyRange,
            order: Order,
            limit: usize,
        ) -> Result<Vec<Entry>> {
            if is_empty(range) {
                return Ok(Vec::new());
            }
            let map = self.0.borrow();
            let items = map
                .range::<[u8], _>(as_slices(range))
                .map(|(k, v)| (k.clone(), v.clone()));
            Ok(match order {
                Order::Ascending => items.take(limit).collect(),
                Order::Descending => items.rev().take(limit).collect(),
            })
        }
    }

    impl RawWrite for Map {
        fn put(&mut self, _table: &str, key: &[u8], value: &[u8]) -> Result<()> {
            self.0.borrow_mut().insert(key.to_vec(), value.to_vec());
            Ok(())
        }

        fn delete(&mut self, _table: &str, key: &[u8]) -> Result<bool> {
            Ok(self.0.borrow_mut().remove(key).is_some())
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Put(u8, u8),
        Delete(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..32, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
            (0u8..32).prop_map(Op::Delete),
        ]
    }

    fn bound() -> impl Strategy<Value = Bound<Vec<u8>>> {
        prop_oneof![
            Just(Bound::Unbounded),
            (0u8..34).prop_map(|k| Bound::Included(vec![k])),
            (0u8..34).prop_map(|k| Bound::Excluded(vec![k])),
        ]
    }

    fn run(target: &mut impl RawWrite, ops: &[Op]) -> Vec<bool> {
        ops.iter()
            .map(|op| match op {
                Op::Put(k, v) => target.put("t", &[*k], &[*v]).map(|()| true),
                Op::Delete(k) => target.delete("t", &[*k]),
            })
            .collect::<Result<_>>()
            .unwrap()
    }

    proptest! {
        /// Writing through an overlay and then applying it gives what
        /// writing straight to the base gives, and every read on the way
        /// sees the same: gets, scans both ways with limits, and what a
        /// delete says was there.
        #[test]
        fn an_overlay_reads_and_ends_like_writing_straight_through(
            before in proptest::collection::vec(op(), 0..40),
            ops in proptest::collection::vec(op(), 0..40),
            start in bound(),
            end in bound(),
            limit in 0usize..40,
        ) {
            let mut straight = Map::default();
            run(&mut straight, &before);
            let mut base = Map::default();
            run(&mut base, &before);
            let range = KeyRange { start, end };
            let said_straight = run(&mut straight, &ops);
            let writes = {
                let mut overlay = Overlay::new(&base);
                let said = run(&mut overlay, &ops);
                prop_assert_eq!(said, said_straight);
                for order in [Order::Ascending, Order::Descending] {
                    prop_assert_eq!(
                        overlay.scan("t", &range, order, limit).unwrap(),
                        straight.scan("t", &range, order, limit).unwrap()
                    );
                }
                for k in 0u8..32 {
                    prop_assert_eq!(overlay.get("t", &[k]).unwrap(), straight.get("t", &[k]).unwrap());
                }
                overlay.into_writes()
            };
            prop_assert!(writes.rows() <= ops.len());
            writes.apply(&mut base).unwrap();
            prop_assert_eq!(base.0.into_inner(), straight.0.into_inner());
        }

        /// Dropping an overlay leaves the base as it was.
        #[test]
        fn a_dropped_overlay_changes_nothing(ops in proptest::collection::vec(op(), 0..40)) {
            let mut base = Map::default();
            run(&mut base, &[Op::Put(1, 1), Op::Put(2, 2)]);
            let mut overlay = Overlay::new(&base);
            run(&mut overlay, &ops);
            drop(overlay);
            let kept: Vec<_> = base.0.into_inner().into_iter().collect();
            prop_assert_eq!(kept, vec![(vec![1], vec![1]), (vec![2], vec![2])]);
        }
    }
}
