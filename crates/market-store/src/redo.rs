//! The embedded backend's redo log: a batch is durable once its writes are
//! in the log and the log is synced, a small write and one sync, while redb
//! commits it without waiting for the disk. Every so often a checkpoint, a
//! commit redb makes durable itself, takes in every batch before it, and
//! the log starts again from its beginning. After a crash, redb opens at
//! its last durable commit and the log's records after it are applied
//! again (see [`crate::RedbBackend`]).
//!
//! A record is a header (the payload's length, 4 bytes; a CRC-32 of the
//! database's log key, the record's number and its payload, 4 bytes; its
//! number, 8 bytes; all little-endian) and its payload, a batch's writes
//! ([`crate::overlay::Writes::encode`]). Records are numbered one after
//! the other. The log is read from its beginning up to the first record
//! that is torn (its checksum fails or it runs past the end) or out of
//! sequence: records left from before the last checkpoint hold lower
//! numbers than those written since, so they end the log too. The log key
//! is chosen at random when the database is created, so that a log left
//! beside another database (an old one, deleted and created again) is
//! never applied to it: its records fail their checksums.

use redb::StorageBackend;

use crate::overlay::Writes;

const HEADER: usize = 16;

/// The log's file grows by this much at a time.
const GROWTH: u64 = 1 << 20;

/// How much the log holds before a checkpoint empties it, for a database
/// whose page cache holds `cache_bytes`: a quarter of it. Until a
/// checkpoint, redb keeps the pages the batches changed (about twice the
/// log's bytes) and cannot reuse the pages they freed; when those outgrow
/// its cache, each batch costs more (measured: 1, 2 and 4 MiB of log over
/// an 8 MiB cache, 2 was best). At least [`MIN_CHECKPOINT_BYTES`].
pub(crate) fn checkpoint_bytes(cache_bytes: usize) -> u64 {
    (u64::try_from(cache_bytes).unwrap_or(u64::MAX) / 4).max(MIN_CHECKPOINT_BYTES)
}

const MIN_CHECKPOINT_BYTES: u64 = 256 << 10;

/// The log of one opening of the database.
#[derive(Debug)]
pub(crate) struct RedoLog {
    storage: Box<dyn StorageBackend>,
    /// The database's log key.
    key: u64,
    /// A checkpoint is due once the log holds this much.
    limit: u64,
    /// Where the next record goes.
    end: u64,
    /// The number of the next record.
    next: u64,
}

/// The records to apply again when a database opens.
pub(crate) struct Recovered {
    pub(crate) log: RedoLog,
    /// The writes of the records after the database's last checkpoint, in
    /// order.
    pub(crate) batches: Vec<Writes>,
}

fn checksum(key: u64, number: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&key.to_le_bytes());
    hasher.update(&number.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

impl RedoLog {
    /// Read the log on `storage`, whose records up to number `applied` the
    /// database holds already: the records after it, up to number `upto`
    /// (the last one acknowledged, when the database opens again after a
    /// storage failure). A record after `upto` is made unreadable, so that
    /// a later crash cannot bring back a write whose callers heard it
    /// failed. The next record goes after those read.
    pub(crate) fn open(
        storage: Box<dyn StorageBackend>,
        key: u64,
        applied: u64,
        upto: u64,
        limit: u64,
    ) -> std::io::Result<Recovered> {
        let len = storage.len()?;
        let mut batches = Vec::new();
        let (mut offset, mut end, mut expected) = (0u64, 0u64, None::<u64>);
        while let Some((number, payload)) = read_record(storage.as_ref(), key, offset, len)? {
            if expected.is_some_and(|n| n != number) {
                break;
            }
            if number > upto {
                storage.write(offset, &[0; HEADER])?;
                break;
            }
            if number > applied {
                if number != applied + 1 + batches.len() as u64 {
                    break;
                }
                let Some(writes) = Writes::decode(&payload) else {
                    break;
                };
                batches.push(writes);
            }
            expected = Some(number + 1);
            offset += (HEADER + payload.len()) as u64;
            if !batches.is_empty() {
                end = offset;
            }
        }
        let next = applied + 1 + batches.len() as u64;
        Ok(Recovered {
            log: RedoLog {
                storage,
                key,
                limit,
                end,
                next,
            },
            batches,
        })
    }

    /// The number of the latest record (0 before any).
    pub(crate) fn last(&self) -> u64 {
        self.next - 1
    }

    /// Whether a checkpoint is due.
    pub(crate) fn full(&self) -> bool {
        self.end >= self.limit
    }

    /// Whether it holds records a checkpoint has not taken in.
    pub(crate) fn is_empty(&self) -> bool {
        self.end == 0
    }

    /// The record of the next batch, `writes`, ready to [`RedoLog::append`].
    pub(crate) fn record(&self, writes: &Writes) -> Vec<u8> {
        let mut out = vec![0; HEADER];
        writes.encode(&mut out);
        let payload_len = u32::try_from(out.len() - HEADER).unwrap_or(u32::MAX);
        let sum = checksum(self.key, self.next, &out[HEADER..]);
        out[0..4].copy_from_slice(&payload_len.to_le_bytes());
        out[4..8].copy_from_slice(&sum.to_le_bytes());
        out[8..16].copy_from_slice(&self.next.to_le_bytes());
        out
    }

    /// Write `record` and sync it: once this returns, the batch survives a
    /// crash. A record that fails is written again in its place by the next.
    pub(crate) fn append(&mut self, record: &[u8]) -> std::io::Result<()> {
        if u32::try_from(record.len() - HEADER).is_err() {
            return Err(std::io::Error::other("a batch too large for the redo log"));
        }
        let end = self.end + record.len() as u64;
        if self.storage.len()? < end {
            // Grown a step at a time, so that most syncs write data only.
            self.storage.set_len(end.next_multiple_of(GROWTH))?;
        }
        self.storage.write(self.end, record)?;
        self.storage.sync_data()?;
        self.end += record.len() as u64;
        self.next += 1;
        Ok(())
    }

    /// A checkpoint holds every record: the next one goes at the beginning.
    pub(crate) fn restart(&mut self) {
        self.end = 0;
    }
}

/// The record at `offset`: its number and payload, `None` when there is no
/// whole, intact record there.
fn read_record(
    storage: &dyn StorageBackend,
    key: u64,
    offset: u64,
    len: u64,
) -> std::io::Result<Option<(u64, Vec<u8>)>> {
    if len.saturating_sub(offset) < HEADER as u64 {
        return Ok(None);
    }
    let mut header = [0u8; HEADER];
    storage.read(offset, &mut header)?;
    let word = |range: std::ops::Range<usize>| -> [u8; 8] {
        let mut out = [0u8; 8];
        out[..range.len()].copy_from_slice(&header[range]);
        out
    };
    let payload_len = u64::from_le_bytes(word(0..4));
    let sum = u64::from_le_bytes(word(4..8));
    let number = u64::from_le_bytes(word(8..16));
    if len - offset - (HEADER as u64) < payload_len {
        return Ok(None);
    }
    let Ok(size) = usize::try_from(payload_len) else {
        return Ok(None);
    };
    let mut payload = vec![0u8; size];
    storage.read(offset + HEADER as u64, &mut payload)?;
    Ok((u64::from(checksum(key, number, &payload)) == sum).then_some((number, payload)))
}

#[cfg(test)]
mod tests {
    use redb::backends::InMemoryBackend;

    use super::*;

    fn writes(table: &str, key: &[u8], value: Option<&[u8]>) -> Writes {
        let mut w = Writes::default();
        w.set(table, key, value);
        w
    }

    fn bytes(w: &Writes) -> Vec<u8> {
        let mut out = Vec::new();
        w.encode(&mut out);
        out
    }

    const KEY: u64 = 0x5eed;

    /// A copy of `log`'s bytes, as a crash would leave them.
    fn image(log: &RedoLog) -> Box<dyn StorageBackend> {
        let len = log.storage.len().unwrap();
        let mut bytes = vec![0u8; usize::try_from(len).unwrap()];
        log.storage.read(0, &mut bytes).unwrap();
        let copy = InMemoryBackend::new();
        copy.set_len(len).unwrap();
        copy.write(0, &bytes).unwrap();
        Box::new(copy)
    }

    /// The log read back from such a copy.
    fn reopen(log: &RedoLog, applied: u64) -> Recovered {
        RedoLog::open(image(log), KEY, applied, u64::MAX, MIN_CHECKPOINT_BYTES).unwrap()
    }

    fn fresh() -> RedoLog {
        RedoLog::open(
            Box::new(InMemoryBackend::new()),
            KEY,
            0,
            u64::MAX,
            MIN_CHECKPOINT_BYTES,
        )
        .unwrap()
        .log
    }

    fn append(log: &mut RedoLog, w: &Writes) -> u64 {
        let record = log.record(w);
        log.append(&record).unwrap();
        record.len() as u64
    }

    #[test]
    fn records_after_the_checkpoint_come_back_in_order_with_their_writes() {
        let mut log = fresh();
        append(&mut log, &writes("o:a", b"1", Some(b"one")));
        append(&mut log, &writes("o:a", b"2", None));
        append(&mut log, &writes("i:a:b", b"3", Some(b"")));
        let back = reopen(&log, 1);
        assert_eq!(back.batches.len(), 2);
        assert_eq!(bytes(&back.batches[0]), bytes(&writes("o:a", b"2", None)));
        assert_eq!(
            bytes(&back.batches[1]),
            bytes(&writes("i:a:b", b"3", Some(b"")))
        );
        assert_eq!(back.log.last(), 3);
        assert_eq!(reopen(&log, 3).batches.len(), 0);
        assert_eq!(reopen(&log, 3).log.last(), 3);
        // Beside another database (another key), none of it is read.
        let other = RedoLog::open(image(&log), KEY + 1, 0, u64::MAX, MIN_CHECKPOINT_BYTES).unwrap();
        assert_eq!(other.batches.len(), 0);
        assert_eq!(other.log.last(), 0);
    }

    #[test]
    fn records_past_the_last_acknowledged_one_are_not_applied_and_not_read_again() {
        let mut log = fresh();
        for key in [b"1", b"2", b"3"] {
            append(&mut log, &writes("o:a", key, Some(b"v")));
        }
        let mut back = RedoLog::open(image(&log), KEY, 0, 2, MIN_CHECKPOINT_BYTES).unwrap();
        assert_eq!(back.batches.len(), 2);
        assert_eq!(back.log.last(), 2);
        // Record 3 is unreadable now, even to an opening that takes all.
        let again =
            RedoLog::open(image(&back.log), KEY, 0, u64::MAX, MIN_CHECKPOINT_BYTES).unwrap();
        assert_eq!(again.batches.len(), 2);
        // The next record takes its place.
        append(&mut back.log, &writes("o:a", b"4", Some(b"w")));
        let after =
            RedoLog::open(image(&back.log), KEY, 2, u64::MAX, MIN_CHECKPOINT_BYTES).unwrap();
        assert_eq!(after.batches.len(), 1);
        assert_eq!(
            bytes(&after.batches[0]),
            bytes(&writes("o:a", b"4", Some(b"w")))
        );
    }

    #[test]
    fn a_torn_or_damaged_record_ends_the_log() {
        let mut log = fresh();
        let first = append(&mut log, &writes("o:a", b"1", Some(b"one")));
        let second = append(&mut log, &writes("o:a", b"2", Some(b"two")));
        // Cut the second record short, as a crash half-way through its write.
        log.storage.set_len(first + second - 2).unwrap();
        let back = reopen(&log, 0);
        assert_eq!(back.batches.len(), 1);
        assert_eq!(back.log.last(), 1);
        // A flipped byte in the first record's payload: nothing is applied.
        log.storage.write(first - 1, b"X").unwrap();
        assert_eq!(reopen(&log, 0).batches.len(), 0);
    }

    #[test]
    fn records_left_from_before_a_checkpoint_are_not_applied_again() {
        let mut log = fresh();
        for key in [b"1", b"2", b"3"] {
            append(&mut log, &writes("o:a", key, Some(b"old")));
        }
        // A checkpoint took in records 1 to 3; record 4 overwrites record 1.
        log.restart();
        append(&mut log, &writes("o:a", b"4", Some(b"new")));
        let back = reopen(&log, 3);
        assert_eq!(back.batches.len(), 1);
        assert_eq!(
            bytes(&back.batches[0]),
            bytes(&writes("o:a", b"4", Some(b"new")))
        );
        assert_eq!(back.log.last(), 4);
        // Right after the checkpoint, before any new record: nothing.
        log.restart();
        let back = reopen(&log, 4);
        assert_eq!(back.batches.len(), 0);
        assert_eq!(back.log.last(), 4);
    }

    #[test]
    fn a_gap_after_the_checkpoint_stops_the_replay() {
        let mut log = fresh();
        append(&mut log, &writes("o:a", b"1", Some(b"one")));
        append(&mut log, &writes("o:a", b"2", Some(b"two")));
        // The database says only record 0 is in; record 1 is there, but a
        // log that began at record 2 would leave a hole: applied from 1 on.
        assert_eq!(reopen(&log, 0).batches.len(), 2);
        let mut skipped = fresh();
        skipped.next = 5;
        append(&mut skipped, &writes("o:a", b"5", Some(b"five")));
        assert_eq!(reopen(&skipped, 2).batches.len(), 0);
    }
}
