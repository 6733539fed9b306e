//! Writes held aside, and reads that see them over what lies beneath.
//!
//! The embedded backend batches writes (see [`crate::RedbBackend`]): each
//! call writes into an [`Overlay`] over the batch it joins, and its writes
//! join the batch only when it succeeds, so a call that fails rolls back
//! alone. The batch's writes are held as [`Writes`] too, over a snapshot
//! of the database ([`Layer`]), until one write transaction applies them.
//!
//! A key written twice is written once.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use crate::error::Result;
use crate::kv::{Entry, KeyRange, Order, RawRead, RawWrite};

/// A value written (`Some`) or a key deleted (`None`).
type Slot = Option<Vec<u8>>;

/// Writes held aside, by table, each table's in key order. Tables are
/// found by name for each read and write through the layers, so with a
/// fast hash.
#[derive(Default)]
pub(crate) struct Writes(HashMap<String, BTreeMap<Vec<u8>, Slot>, foldhash::fast::RandomState>);

impl Writes {
    fn table_mut(&mut self, table: &str) -> &mut BTreeMap<Vec<u8>, Slot> {
        if !self.0.contains_key(table) {
            self.0.insert(table.to_string(), BTreeMap::new());
        }
        self.0
            .get_mut(table)
            .unwrap_or_else(|| unreachable!("the table was just added"))
    }

    /// Put `value` at `key` (`Some`), or delete the key (`None`).
    pub(crate) fn set(&mut self, table: &str, key: &[u8], value: Option<&[u8]>) {
        self.table_mut(table)
            .insert(key.to_vec(), value.map(<[u8]>::to_vec));
    }

    /// How many keys they put or delete.
    pub(crate) fn rows(&self) -> usize {
        self.0.values().map(BTreeMap::len).sum()
    }

    /// Take in `later` writes, which win over these.
    pub(crate) fn merge(&mut self, later: Writes) {
        for (table, writes) in later.0 {
            match self.0.get_mut(&table) {
                Some(mine) => mine.extend(writes),
                None => {
                    self.0.insert(table, writes);
                }
            }
        }
    }

    /// Whether they write nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.values().all(BTreeMap::is_empty)
    }

    /// Append them to `out` as the redo log holds them
    /// ([`crate::redo`]): for each table its name and how many keys, then
    /// each key with its value (tag 1) or its deletion (tag 0); lengths
    /// are 8-byte little-endian.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let put_bytes = |out: &mut Vec<u8>, bytes: &[u8]| {
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(bytes);
        };
        for (table, writes) in &self.0 {
            put_bytes(out, table.as_bytes());
            out.extend_from_slice(&(writes.len() as u64).to_le_bytes());
            for (key, slot) in writes {
                put_bytes(out, key);
                match slot {
                    Some(value) => {
                        out.push(1);
                        put_bytes(out, value);
                    }
                    None => out.push(0),
                }
            }
        }
    }

    /// The writes [`Writes::encode`] wrote into `bytes`; `None` when they
    /// are not such writes.
    pub(crate) fn decode(mut bytes: &[u8]) -> Option<Writes> {
        fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
            let (head, rest) = bytes.split_at_checked(n)?;
            *bytes = rest;
            Some(head)
        }
        fn length(bytes: &mut &[u8]) -> Option<usize> {
            let raw = take(bytes, 8)?.try_into().ok()?;
            usize::try_from(u64::from_le_bytes(raw)).ok()
        }
        fn sized<'a>(bytes: &mut &'a [u8]) -> Option<&'a [u8]> {
            let n = length(bytes)?;
            take(bytes, n)
        }
        let mut writes = Writes::default();
        while !bytes.is_empty() {
            let table = std::str::from_utf8(sized(&mut bytes)?).ok()?;
            let keys = length(&mut bytes)?;
            let into = writes.table_mut(table);
            for _ in 0..keys {
                let key = sized(&mut bytes)?.to_vec();
                let slot = match take(&mut bytes, 1)? {
                    [1] => Some(sized(&mut bytes)?.to_vec()),
                    [0] => None,
                    _ => return None,
                };
                into.insert(key, slot);
            }
        }
        Some(writes)
    }

    /// Put and delete them in `target`, a table at a time, in key order.
    pub(crate) fn apply(&self, target: &mut impl RawWrite) -> Result<()> {
        for (table, writes) in &self.0 {
            for (key, slot) in writes {
                match slot {
                    Some(value) => target.put(table, key, value)?,
                    None => {
                        target.delete(table, key)?;
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

/// Writes seen over a base: reads find them first, then what the base holds.
pub(crate) struct Layer<'a, B: RawRead> {
    pub(crate) writes: &'a Writes,
    pub(crate) base: &'a B,
}

impl<B: RawRead> RawRead for Layer<'_, B> {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.writes.0.get(table).and_then(|t| t.get(key)) {
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
        let own: Vec<(&Vec<u8>, &Slot)> = match self.writes.0.get(table) {
            Some(t) if !is_empty(range) => t.range::<[u8], _>(range.bounds()).collect(),
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

/// One call's writes over a base it reads through.
pub(crate) struct Overlay<'b, B: RawRead> {
    base: &'b B,
    writes: Writes,
}

impl<'b, B: RawRead> Overlay<'b, B> {
    pub(crate) fn new(base: &'b B) -> Overlay<'b, B> {
        Overlay {
            base,
            writes: Writes::default(),
        }
    }

    /// The writes, to apply to the base.
    pub(crate) fn into_writes(self) -> Writes {
        self.writes
    }

    fn layer(&self) -> Layer<'_, B> {
        Layer {
            writes: &self.writes,
            base: self.base,
        }
    }
}

impl<B: RawRead> RawRead for Overlay<'_, B> {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.layer().get(table, key)
    }

    fn scan(
        &self,
        table: &str,
        range: &KeyRange,
        order: Order,
        limit: usize,
    ) -> Result<Vec<Entry>> {
        self.layer().scan(table, range, order, limit)
    }
}

impl<B: RawRead> RawWrite for Overlay<'_, B> {
    fn put(&mut self, table: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.writes.set(table, key, Some(value));
        Ok(())
    }

    fn delete(&mut self, table: &str, key: &[u8]) -> Result<bool> {
        let present = self.get(table, key)?.is_some();
        self.writes.set(table, key, None);
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
                .range::<[u8], _>(range.bounds())
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
        /// Calls writing through overlays, one after the other, each over
        /// the writes of the calls before it held aside over the base, and
        /// then those writes applied, give what writing straight to the
        /// base gives; every read on the way sees the same: gets, scans
        /// both ways with limits, and what a delete says was there.
        #[test]
        fn overlays_over_held_writes_read_and_end_like_writing_straight_through(
            before in proptest::collection::vec(op(), 0..40),
            calls in proptest::collection::vec(proptest::collection::vec(op(), 0..20), 1..4),
            start in bound(),
            end in bound(),
            limit in 0usize..40,
        ) {
            let mut straight = Map::default();
            run(&mut straight, &before);
            let mut base = Map::default();
            run(&mut base, &before);
            let range = KeyRange { start, end };
            let mut held = Writes::default();
            for ops in &calls {
                let said_straight = run(&mut straight, ops);
                let layer = Layer { writes: &held, base: &base };
                let mut overlay = Overlay::new(&layer);
                let said = run(&mut overlay, ops);
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
                let writes = overlay.into_writes();
                prop_assert!(writes.rows() <= ops.len());
                held.merge(writes);
            }
            held.apply(&mut base).unwrap();
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
