//! Primitive value types every root object uses: ids, timestamps and the clock.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An object id: a ULID, a 26-character string on the wire.
///
/// ULIDs sort by creation time, so the primary table in id order is also the
/// table in creation order ("newest first" is a reverse scan).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(pub ulid::Ulid);

impl Id {
    /// The all-zero id: "not assigned yet".
    pub const NIL: Id = Id(ulid::Ulid(0));

    pub fn is_nil(self) -> bool {
        self == Id::NIL
    }

    /// The 16 big-endian bytes used as the storage key.
    pub fn to_key(self) -> [u8; 16] {
        self.0.0.to_be_bytes()
    }

    pub fn from_key(bytes: &[u8]) -> Option<Id> {
        let arr: [u8; 16] = bytes.try_into().ok()?;
        Some(Id(ulid::Ulid(u128::from_be_bytes(arr))))
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.0)
    }
}

impl Default for Id {
    fn default() -> Id {
        Id::NIL
    }
}

/// The reason a string is not an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid id (expected a 26-character ULID)")]
pub struct BadId;

impl FromStr for Id {
    type Err = BadId;
    fn from_str(s: &str) -> Result<Self, BadId> {
        ulid::Ulid::from_string(s).map(Id).map_err(|_| BadId)
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0; ulid::ULID_LEN];
        s.serialize_str(self.0.array_to_str(&mut buf))
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A point in time, RFC 3339 UTC with a `Z` on the wire (microsecond precision).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    pub const EPOCH: Timestamp = Timestamp(DateTime::<Utc>::UNIX_EPOCH);

    pub fn from_unix_millis(ms: i64) -> Option<Timestamp> {
        DateTime::from_timestamp_millis(ms).map(Timestamp)
    }

    pub fn from_unix_micros(us: i64) -> Option<Timestamp> {
        DateTime::from_timestamp_micros(us).map(Timestamp)
    }

    pub fn unix_millis(self) -> i64 {
        self.0.timestamp_millis()
    }

    pub fn unix_micros(self) -> i64 {
        self.0.timestamp_micros()
    }

    /// This timestamp moved by a signed number of seconds (saturating at the ends of time).
    pub fn add_seconds(self, secs: i64) -> Timestamp {
        let delta = chrono::TimeDelta::try_seconds(secs).unwrap_or(chrono::TimeDelta::MAX);
        Timestamp(self.0.checked_add_signed(delta).unwrap_or(self.0))
    }
}

/// Write `n` as `digits` decimal digits into `out`.
fn put_digits(out: &mut [u8], mut n: u32) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// The longest text [`Timestamp::write`] makes.
const WRITTEN_LEN: usize = 30;

impl Timestamp {
    /// RFC 3339 in UTC with `Z`, and as many fraction digits as the time
    /// needs (none, 3, 6 or 9), as chrono's `to_rfc3339_opts(AutoSi, true)`
    /// writes it, into `buf`, without allocating: every record's timestamps
    /// are written on each read. `None` for years outside 0 to 9999 and leap
    /// seconds, which chrono writes instead.
    fn write<'b>(&self, buf: &'b mut [u8; WRITTEN_LEN]) -> Option<&'b str> {
        let t = &self.0;
        let nanos = t.nanosecond();
        let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        if nanos >= 1_000_000_000 {
            return None;
        }
        *buf = *b"0000-00-00T00:00:00.000000000Z";
        put_digits(&mut buf[0..4], year);
        put_digits(&mut buf[5..7], t.month());
        put_digits(&mut buf[8..10], t.day());
        put_digits(&mut buf[11..13], t.hour());
        put_digits(&mut buf[14..16], t.minute());
        put_digits(&mut buf[17..19], t.second());
        let end = match nanos {
            0 => 19,
            n if n % 1_000_000 == 0 => {
                put_digits(&mut buf[20..23], n / 1_000_000);
                23
            }
            n if n % 1_000 == 0 => {
                put_digits(&mut buf[20..26], n / 1_000);
                26
            }
            n => {
                put_digits(&mut buf[20..29], n);
                29
            }
        };
        buf[end] = b'Z';
        std::str::from_utf8(&buf[..=end]).ok()
    }

    fn chrono_text(&self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0; WRITTEN_LEN];
        match self.write(&mut buf) {
            Some(text) => f.write_str(text),
            None => f.write_str(&self.chrono_text()),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl Default for Timestamp {
    fn default() -> Timestamp {
        Timestamp::EPOCH
    }
}

/// The reason a string is not a timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid timestamp (expected RFC 3339, e.g. 2026-01-31T12:00:00Z)")]
pub struct BadTimestamp;

/// The digits of `bytes` as a number; `None` unless every byte is a digit.
fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

/// The form [`Timestamp`]'s `Display` writes (`2026-01-31T10:00:00.250Z`:
/// UTC, no fraction or 3, 6 or 9 digits of one), read without chrono's
/// general parser, which costs more: every stored record's timestamps are
/// read on each read. `None` for any other form, and for a time that is
/// not one (a leap second), which chrono reads instead.
fn parse_written(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    let fraction = match b.len() {
        20 => 0,
        24 | 27 | 30 => b.len() - 21,
        _ => return None,
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(at, c)| b[at] != c) || b[b.len() - 1] != b'Z' {
        return None;
    }
    let nanos = if fraction == 0 {
        0
    } else if b[19] == b'.' {
        digits(&b[20..20 + fraction])? * 10u32.pow((9 - fraction) as u32)
    } else {
        return None;
    };
    let date = chrono::NaiveDate::from_ymd_opt(
        i32::try_from(digits(&b[0..4])?).ok()?,
        digits(&b[5..7])?,
        digits(&b[8..10])?,
    )?;
    let time = date.and_hms_nano_opt(
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
        nanos,
    )?;
    Some(Timestamp(time.and_utc()))
}

impl FromStr for Timestamp {
    type Err = BadTimestamp;
    fn from_str(s: &str) -> Result<Self, BadTimestamp> {
        if let Some(t) = parse_written(s) {
            return Ok(t);
        }
        DateTime::parse_from_rfc3339(s)
            .map(|t| Timestamp(t.with_timezone(&Utc)))
            .map_err(|_| BadTimestamp)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0; WRITTEN_LEN];
        match self.write(&mut buf) {
            Some(text) => s.serialize_str(text),
            None => s.serialize_str(&self.chrono_text()),
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The source of time and of new ids. Injected so that tests move time
/// instead of sleeping.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// Now, to the microsecond (the precision timestamps keep on the wire).
    fn now(&self) -> Timestamp {
        let now = Utc::now();
        Timestamp(
            now.with_nanosecond(now.nanosecond() / 1000 * 1000)
                .unwrap_or(now),
        )
    }
}

/// A clock that only moves when told to (for tests).
#[derive(Debug)]
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock(Mutex::new(start))
    }

    pub fn advance_seconds(&self, secs: i64) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t = t.add_seconds(secs);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Makes ids that increase strictly within this process, also within one millisecond.
#[derive(Debug, Default)]
pub struct IdGenerator(Mutex<ulid::Generator>);

impl IdGenerator {
    pub fn next(&self, at: Timestamp) -> Id {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let time = std::time::SystemTime::UNIX_EPOCH
            + std::time::Duration::from_millis(u64::try_from(at.unix_millis()).unwrap_or(0));
        match g.generate_from_datetime(time) {
            Ok(id) => Id(id),
            Err(overflow) => Id(overflow.commit_overflow_random()),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn timestamp_round_trips_with_z() {
        let t: Timestamp = "2026-01-31T12:00:00.250+02:00".parse().unwrap();
        assert_eq!(t.to_string(), "2026-01-31T10:00:00.250Z");
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2026-01-31T10:00:00.250Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        assert!("yesterday".parse::<Timestamp>().is_err());
    }

    proptest! {
        /// Timestamps are written as chrono writes them, from year 0 to
        /// 9999 and at every precision.
        #[test]
        fn timestamps_are_written_as_chrono_writes_them(
            secs in -62_167_219_200i64..253_402_300_800,
            nanos in prop_oneof![
                Just(0u32),
                (0u32..1000).prop_map(|ms| ms * 1_000_000),
                (0u32..1_000_000).prop_map(|us| us * 1_000),
                0u32..1_000_000_000,
            ],
        ) {
            let t = Timestamp(DateTime::from_timestamp(secs, nanos).unwrap());
            let chrono = t.0.to_rfc3339_opts(SecondsFormat::AutoSi, true);
            prop_assert_eq!(t.to_string(), chrono.clone());
            prop_assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{chrono}\""));
        }

        /// What is written reads back as itself without chrono's parser,
        /// and any text reads as chrono reads it.
        #[test]
        fn timestamps_read_as_chrono_reads_them(
            secs in 0i64..253_402_300_800,
            nanos in prop_oneof![
                Just(0u32),
                (0u32..1000).prop_map(|ms| ms * 1_000_000),
                (0u32..1_000_000).prop_map(|us| us * 1_000),
                0u32..1_000_000_000,
            ],
            at in 0usize..30,
            byte in any::<u8>(),
        ) {
            let t = Timestamp(DateTime::from_timestamp(secs, nanos).unwrap());
            let written = t.to_string();
            prop_assert_eq!(parse_written(&written), Some(t));
            let mut bent = written.into_bytes();
            if let Some(b) = bent.get_mut(at) {
                *b = byte;
            }
            if let Ok(bent) = String::from_utf8(bent) {
                let chrono = DateTime::parse_from_rfc3339(&bent)
                    .map(|t| Timestamp(t.with_timezone(&Utc)))
                    .map_err(|_| BadTimestamp);
                prop_assert_eq!(bent.parse::<Timestamp>(), chrono);
            }
        }
    }

    #[test]
    fn other_forms_of_timestamps_are_read_by_chrono() {
        for (text, expected) in [
            ("2026-01-31T10:00:00+00:00", "2026-01-31T10:00:00Z"),
            ("2026-01-31t10:00:00.5z", "2026-01-31T10:00:00.500Z"),
            ("2026-01-31T10:00:00.12Z", "2026-01-31T10:00:00.120Z"),
            ("2026-01-31T10:00:00.1234Z", "2026-01-31T10:00:00.123400Z"),
            ("2016-12-31T23:59:60Z", "2016-12-31T23:59:60Z"),
        ] {
            let t: Timestamp = text.parse().unwrap();
            assert!(parse_written(text).is_none(), "{text}");
            assert!(t.to_string().starts_with(expected), "{text}: {t}");
        }
        for bad in [
            "2026-02-30T10:00:00Z",
            "2026-01-31T24:00:00Z",
            "2026-01-31T10:00:00.Z",
        ] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamps_out_of_four_digit_years_are_written_by_chrono() {
        // after 9999 and before year 0, with and without a fraction
        for (secs, nanos) in [(300_000_000_000, 0), (-62_200_000_000, 500_000_000)] {
            let t = Timestamp(DateTime::from_timestamp(secs, nanos).unwrap());
            let written = t.to_string();
            assert_eq!(written, t.0.to_rfc3339_opts(SecondsFormat::AutoSi, true));
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{written}\""));
            assert!(
                written.starts_with('+') || written.starts_with('-'),
                "{written}"
            );
        }
    }

    #[test]
    fn ids_increase_within_one_millisecond() {
        let g = IdGenerator::default();
        let t = Timestamp::from_unix_millis(1_700_000_000_000).unwrap();
        let ids: Vec<Id> = (0..1000).map(|_| g.next(t)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        let s = ids[0].to_string();
        assert_eq!(s.len(), 26);
        assert_eq!(serde_json::to_string(&ids[0]).unwrap(), format!("\"{s}\""));
        assert_eq!(s.parse::<Id>().unwrap(), ids[0]);
        assert_eq!(Id::from_key(&ids[0].to_key()), Some(ids[0]));
        assert!("not-an-id".parse::<Id>().is_err());
    }
}
