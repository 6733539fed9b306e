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
//! is chosen at random at the database's first opening, so that a log left
//! beside another database (an old one, deleted and created again) is
//! never applied to it: its records fail their checksums.

use std::sync::Arc;
use std::sync::mpsc;

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
    /// The log's own thread, which writes and syncs a record while the
    /// batch's rows go into the database.
    writer: Writer,
    /// The next record's bytes, kept between batches.
    buffer: Vec<u8>,
    /// The size of the record being written.
    writing: Option<u64>,
    /// The size of the latest record.
    latest: u64,
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
    /// (the last whose commit succeeded, when the database opens again
    /// after a storage failure). A record after `upto` is made unreadable,
    /// so that a later crash cannot bring back a write whose callers heard
    /// it failed. The next record goes after those read.
    pub(crate) fn open(
        storage: Arc<dyn StorageBackend>,
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
                storage.sync_data()?;
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
                writer: Writer::start(storage)?,
                buffer: Vec::new(),
                writing: None,
                latest: 0,
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

    /// Start writing the record of the next batch, `writes`, and syncing
    /// it, on the log's thread; [`RedoLog::appended`] waits for it.
    pub(crate) fn append(&mut self, writes: &Writes) -> std::io::Result<()> {
        if self.writing.take().is_some() {
            // Begun and never waited for (its batch did not commit): this
            // record takes its place, under the same number.
            self.buffer = self.writer.finished()?.0;
        }
        let mut record = std::mem::take(&mut self.buffer);
        record.clear();
        record.resize(HEADER, 0);
        writes.encode(&mut record);
        let Ok(payload_len) = u32::try_from(record.len() - HEADER) else {
            self.buffer = record;
            return Err(std::io::Error::other("a batch too large for the redo log"));
        };
        let sum = checksum(self.key, self.next, &record[HEADER..]);
        record[0..4].copy_from_slice(&payload_len.to_le_bytes());
        record[4..8].copy_from_slice(&sum.to_le_bytes());
        record[8..16].copy_from_slice(&self.next.to_le_bytes());
        let size = record.len() as u64;
        self.writer.begin(self.end, record)?;
        self.writing = Some(size);
        Ok(())
    }

    /// Wait for the record [`RedoLog::append`] began: once this returns
    /// `Ok`, the batch survives a crash. A record that failed is written
    /// again in its place by the next.
    pub(crate) fn appended(&mut self) -> std::io::Result<()> {
        let Some(size) = self.writing.take() else {
            return Err(std::io::Error::other("no redo log record is being written"));
        };
        let (record, written) = self.writer.finished()?;
        self.buffer = record;
        written?;
        self.end += size;
        self.next += 1;
        self.latest = size;
        Ok(())
    }

    /// Make the latest record unreadable, synced: its batch did not
    /// commit, and its callers hear so. The next record takes its place.
    pub(crate) fn retract(&mut self) -> std::io::Result<()> {
        if self.latest == 0 || self.latest > self.end {
            return Err(std::io::Error::other("no redo log record to take back"));
        }
        self.end -= self.latest;
        self.next -= 1;
        self.latest = 0;
        let mut zeros = std::mem::take(&mut self.buffer);
        zeros.clear();
        zeros.resize(HEADER, 0);
        self.writer.begin(self.end, zeros)?;
        let (buffer, written) = self.writer.finished()?;
        self.buffer = buffer;
        written
    }

    /// A checkpoint holds every record: the next one goes at the beginning.
    pub(crate) fn restart(&mut self) {
        self.end = 0;
        self.latest = 0;
    }
}

/// The thread that writes and syncs the log's records, one at a time; it
/// ends, and lets go of the file, when the log is dropped.
#[derive(Debug)]
struct Writer {
    jobs: Option<mpsc::Sender<(u64, Vec<u8>)>>,
    done: mpsc::Receiver<(Vec<u8>, std::io::Result<()>)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    fn start(storage: Arc<dyn StorageBackend>) -> std::io::Result<Writer> {
        let (jobs, inbox) = mpsc::channel::<(u64, Vec<u8>)>();
        let (outbox, done) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("redo-log".into())
            .spawn(move || {
                // The file's length, once asked: only this thread changes it.
                let mut len = None;
                for (offset, record) in inbox {
                    let written = write_and_sync(&*storage, &mut len, offset, &record);
                    if outbox.send((record, written)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Writer {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
        })
    }

    /// Write and sync `record` at `offset`.
    fn begin(&self, offset: u64, record: Vec<u8>) -> std::io::Result<()> {
        self.jobs
            .as_ref()
            .and_then(|jobs| jobs.send((offset, record)).ok())
            .ok_or_else(stopped)
    }

    /// The record begun last, back, and how its write went.
    fn finished(&self) -> std::io::Result<(Vec<u8>, std::io::Result<()>)> {
        self.done.recv().map_err(|_| stopped())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            // Only a panic of the thread makes this fail; it wrote nothing
            // acknowledged since.
            thread.join().ok();
        }
    }
}

fn stopped() -> std::io::Error {
    std::io::Error::other("the redo log's thread stopped")
}

/// Write `record` at `offset`, growing the file a step at a time (so that
/// most syncs write data only), and sync it. `len` keeps the file's length
/// between calls; it is forgotten after a failure.
fn write_and_sync(
    storage: &dyn StorageBackend,
    len: &mut Option<u64>,
    offset: u64,
    record: &[u8],
) -> std::io::Result<()> {
    let end = offset + record.len() as u64;
    let known = match *len {
        Some(known) => known,
        None => storage.len()?,
    };
    *len = None;
    let grown = if known < end {
        let grown = end.next_multiple_of(GROWTH);
        storage.set_len(grown)?;
        grown
    } else {
        known
    };
    storage.write(offset, record)?;
    storage.sync_data()?;
    *len = Some(grown);
    Ok(())
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

    /// That batch `i` read back holds `expected`.
    fn assert_batch(back: &Opened, i: usize, expected: &Writes) {
        assert_eq!(bytes(&back.batches[i]), bytes(expected));
    }

    const KEY: u64 = 0x5eed;

    /// A log opened on `disk`, which the test keeps.
    struct Opened {
        log: RedoLog,
        batches: Vec<Writes>,
        disk: Arc<InMemoryBackend>,
    }

    fn open(disk: Arc<InMemoryBackend>, key: u64, applied: u64, upto: u64) -> Opened {
        let Recovered { log, batches } =
            RedoLog::open(disk.clone(), key, applied, upto, MIN_CHECKPOINT_BYTES).unwrap();
        Opened { log, batches, disk }
    }

    fn fresh() -> Opened {
        open(Arc::new(InMemoryBackend::new()), KEY, 0, u64::MAX)
    }

    /// A copy of the log's bytes, as a crash would leave them.
    fn image(o: &Opened) -> Arc<InMemoryBackend> {
        let len = o.disk.len().unwrap();
        let mut bytes = vec![0u8; usize::try_from(len).unwrap()];
        o.disk.read(0, &mut bytes).unwrap();
        let copy = InMemoryBackend::new();
        copy.set_len(len).unwrap();
        copy.write(0, &bytes).unwrap();
        Arc::new(copy)
    }

    /// The log read back from such a copy, by a database holding the
    /// records up to `applied`.
    fn reopen(o: &Opened, applied: u64) -> Opened {
        open(image(o), KEY, applied, u64::MAX)
    }

    /// Append `w`; the record's size.
    fn append(o: &mut Opened, w: &Writes) -> u64 {
        let end = o.log.end;
        o.log.append(w).unwrap();
        o.log.appended().unwrap();
        o.log.end - end
    }

    #[test]
    fn records_after_the_checkpoint_come_back_in_order_with_their_writes() {
        let mut o = fresh();
        append(&mut o, &writes("o:a", b"1", Some(b"one")));
        append(&mut o, &writes("o:a", b"2", None));
        append(&mut o, &writes("i:a:b", b"3", Some(b"")));
        let back = reopen(&o, 1);
        assert_eq!(back.batches.len(), 2);
        assert_batch(&back, 0, &writes("o:a", b"2", None));
        assert_batch(&back, 1, &writes("i:a:b", b"3", Some(b"")));
        assert_eq!(back.log.last(), 3);
        assert_eq!(reopen(&o, 3).batches.len(), 0);
        assert_eq!(reopen(&o, 3).log.last(), 3);
        // Beside another database (another key), none of it is read.
        let other = open(image(&o), KEY + 1, 0, u64::MAX);
        assert_eq!(other.batches.len(), 0);
        assert_eq!(other.log.last(), 0);
    }

    #[test]
    fn records_past_the_last_acknowledged_one_are_not_applied_and_not_read_again() {
        let mut o = fresh();
        for key in [b"1", b"2", b"3"] {
            append(&mut o, &writes("o:a", key, Some(b"v")));
        }
        let mut back = open(image(&o), KEY, 0, 2);
        assert_eq!(back.batches.len(), 2);
        assert_eq!(back.log.last(), 2);
        // Record 3 is unreadable now, even to an opening that takes all.
        assert_eq!(reopen(&back, 0).batches.len(), 2);
        // The next record takes its place.
        append(&mut back, &writes("o:a", b"4", Some(b"w")));
        let after = reopen(&back, 2);
        assert_eq!(after.batches.len(), 1);
        assert_batch(&after, 0, &writes("o:a", b"4", Some(b"w")));
    }

    #[test]
    fn a_record_taken_back_is_not_read_and_the_next_takes_its_place() {
        let mut o = fresh();
        append(&mut o, &writes("o:a", b"1", Some(b"one")));
        append(&mut o, &writes("o:a", b"2", Some(b"two")));
        o.log.retract().unwrap();
        assert_eq!(o.log.last(), 1);
        assert_eq!(reopen(&o, 0).batches.len(), 1);
        // Only the latest record can be taken back, once.
        assert!(o.log.retract().is_err());
        append(&mut o, &writes("o:a", b"3", Some(b"three")));
        let back = reopen(&o, 0);
        assert_eq!(back.batches.len(), 2);
        assert_batch(&back, 1, &writes("o:a", b"3", Some(b"three")));
        assert_eq!(back.log.last(), 2);
    }

    #[test]
    fn a_torn_or_damaged_record_ends_the_log() {
        let mut o = fresh();
        let first = append(&mut o, &writes("o:a", b"1", Some(b"one")));
        let second = append(&mut o, &writes("o:a", b"2", Some(b"two")));
        // Cut the second record short, as a crash half-way through its write.
        o.disk.set_len(first + second - 2).unwrap();
        let back = reopen(&o, 0);
        assert_eq!(back.batches.len(), 1);
        assert_eq!(back.log.last(), 1);
        // A flipped byte in the first record's payload: nothing is applied.
        o.disk.write(first - 1, b"X").unwrap();
        assert_eq!(reopen(&o, 0).batches.len(), 0);
    }

    #[test]
    fn records_left_from_before_a_checkpoint_are_not_applied_again() {
        let mut o = fresh();
        for key in [b"1", b"2", b"3"] {
            append(&mut o, &writes("o:a", key, Some(b"old")));
        }
        // A checkpoint took in records 1 to 3; record 4 overwrites record 1.
        o.log.restart();
        append(&mut o, &writes("o:a", b"4", Some(b"new")));
        let back = reopen(&o, 3);
        assert_eq!(back.batches.len(), 1);
        assert_batch(&back, 0, &writes("o:a", b"4", Some(b"new")));
        assert_eq!(back.log.last(), 4);
        // Right after the checkpoint, before any new record: nothing.
        o.log.restart();
        let back = reopen(&o, 4);
        assert_eq!(back.batches.len(), 0);
        assert_eq!(back.log.last(), 4);
    }

    #[test]
    fn a_record_not_next_after_the_checkpoint_is_not_applied() {
        // The database holds records up to 2; the log's first record is 5:
        // records 3 and 4 are missing, so 5 cannot be applied.
        let mut o = fresh();
        o.log.next = 5;
        append(&mut o, &writes("o:a", b"5", Some(b"five")));
        let back = reopen(&o, 2);
        assert_eq!(back.batches.len(), 0);
        assert_eq!(back.log.last(), 2);
        // Held up to 4, the database takes record 5.
        assert_eq!(reopen(&o, 4).batches.len(), 1);
    }
}
