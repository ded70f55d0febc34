//! Time and sync-id helpers: the only place the program reads the clock or creates KSUIDs.
//!
//! Timestamps stored in a `.c1z` use Baton's SQLite text layout (`YYYY-MM-DD HH:MM:SS[.ffffff]`, local wall
//! clock, no zone), and sync ids are KSUIDs (`segmentio/ksuid`): 4 big-endian bytes of seconds since
//! 1400000000 followed by 16 random bytes, written as 27 base62 characters.

use anyhow::{bail, Context};
use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc};
use std::fmt;

/// The current local time.
pub fn now() -> DateTime<Local> {
    Local::now()
}

/// Formats `t` as Baton stores timestamps: local wall clock, microseconds with trailing zeros trimmed,
/// and no fraction at all when it is zero.
pub fn sqlite_time(t: &DateTime<Local>) -> String {
    let wall = t.naive_local();
    let mut text = wall.format("%Y-%m-%d %H:%M:%S").to_string();
    let micros = (wall.and_utc().timestamp_subsec_nanos() / 1_000).min(999_999);
    if micros != 0 {
        let digits = format!("{micros:06}");
        text.push('.');
        text.push_str(digits.trim_end_matches('0'));
    }
    text
}

/// Parses a stored timestamp the way Baton's Go SQLite drivers do.
///
/// Accepted: `YYYY-MM-DD HH:MM:SS[.f{1,9}][±HH:MM]` with a space or `T`, a trailing `Z`, `YYYY-MM-DD HH:MM`
/// and `YYYY-MM-DD`. The drivers report the value as UTC, so a time with an offset is converted to UTC and
/// a time without one is returned as written.
pub fn parse_sqlite_time(s: &str) -> Option<NaiveDateTime> {
    let s = s.strip_suffix('Z').unwrap_or(s);
    let (date, rest) = (s.get(..10)?, s.get(10..)?);
    let date = parse_date(date)?;
    if rest.is_empty() {
        return Some(date.and_time(NaiveTime::MIN));
    }
    let rest = rest.strip_prefix(' ').or_else(|| rest.strip_prefix('T'))?;
    parse_time_of_day(rest).map(|(time, offset)| date.and_time(time) - offset)
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
}

/// Parses `HH:MM` or `HH:MM:SS[.f][±HH:MM]`, returning the time and the zone offset to subtract.
fn parse_time_of_day(s: &str) -> Option<(NaiveTime, TimeDelta)> {
    let b = s.as_bytes();
    if b.len() < 5 || b[2] != b':' {
        return None;
    }
    let hour = digits(&b[0..2])?;
    let minute = digits(&b[3..5])?;
    if b.len() == 5 {
        return Some((NaiveTime::from_hms_opt(hour, minute, 0)?, TimeDelta::zero()));
    }
    if b.len() < 8 || b[5] != b':' {
        return None;
    }
    let second = digits(&b[6..8])?;
    let (nanos, rest) = parse_fraction(&s[8..])?;
    let offset = parse_offset(rest)?;
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    Some((time, offset))
}

/// Parses an optional `.d{1,9}` fraction, returning nanoseconds and the remaining text.
fn parse_fraction(s: &str) -> Option<(u32, &str)> {
    let Some(after_dot) = s.strip_prefix('.') else {
        return Some((0, s));
    };
    let len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
    if len == 0 || len > 9 {
        return None;
    }
    let value = digits(&after_dot.as_bytes()[..len])?;
    let nanos = value * 10u32.pow(9 - len as u32);
    Some((nanos, &after_dot[len..]))
}

/// Parses an optional `±HH:MM` zone offset.
fn parse_offset(s: &str) -> Option<TimeDelta> {
    if s.is_empty() {
        return Some(TimeDelta::zero());
    }
    let b = s.as_bytes();
    if b.len() != 6 || b[3] != b':' {
        return None;
    }
    let sign = match b[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hours = digits(&b[1..3])?;
    let minutes = digits(&b[4..6])?;
    if minutes >= 60 {
        return None;
    }
    Some(TimeDelta::minutes(sign * i64::from(hours * 60 + minutes)))
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
}

/// Seconds between the Unix epoch and the KSUID epoch (2014-05-13 16:53:20 UTC).
const KSUID_EPOCH: i64 = 1_400_000_000;
const KSUID_BYTES: usize = 20;
const KSUID_CHARS: usize = 27;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A K-sortable unique id as Baton uses for sync ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ksuid([u8; KSUID_BYTES]);

impl Ksuid {
    /// A new KSUID for time `at` with 16 random bytes.
    pub fn new<Tz: TimeZone>(at: DateTime<Tz>) -> anyhow::Result<Ksuid> {
        let mut payload = [0u8; 16];
        getrandom::fill(&mut payload)
            .map_err(|e| anyhow::anyhow!("read random bytes for a KSUID: {e}"))?;
        Ksuid::from_parts(at, payload)
    }

    /// The KSUID made of time `at` and the given payload.
    pub fn from_parts<Tz: TimeZone>(at: DateTime<Tz>, payload: [u8; 16]) -> anyhow::Result<Ksuid> {
        let offset = at.timestamp() - KSUID_EPOCH;
        let seconds = u32::try_from(offset)
            .with_context(|| format!("{} is outside the KSUID time range", at.to_utc()))?;
        let mut bytes = [0u8; KSUID_BYTES];
        bytes[..4].copy_from_slice(&seconds.to_be_bytes());
        bytes[4..].copy_from_slice(&payload);
        Ok(Ksuid(bytes))
    }

    /// The KSUID with exactly these 20 bytes.
    pub fn from_bytes(bytes: [u8; KSUID_BYTES]) -> Ksuid {
        Ksuid(bytes)
    }

    /// The raw 20 bytes.
    pub fn as_bytes(&self) -> &[u8; KSUID_BYTES] {
        &self.0
    }

    /// Parses the 27-character base62 form; `None` if it is malformed or out of range.
    pub fn parse(s: &str) -> Option<Ksuid> {
        if s.len() != KSUID_CHARS {
            return None;
        }
        let mut number = [0u8; KSUID_BYTES];
        for c in s.bytes() {
            let mut carry = base62_value(c)?;
            for byte in number.iter_mut().rev() {
                let acc = u32::from(*byte) * 62 + carry;
                *byte = (acc & 0xff) as u8;
                carry = acc >> 8;
            }
            if carry != 0 {
                return None;
            }
        }
        Some(Ksuid(number))
    }

    /// The time encoded in the id (whole seconds, UTC).
    pub fn timestamp(&self) -> DateTime<Utc> {
        let seconds = u32::from_be_bytes([self.0[0], self.0[1], self.0[2], self.0[3]]);
        DateTime::from_timestamp(KSUID_EPOCH + i64::from(seconds), 0)
            .unwrap_or(DateTime::UNIX_EPOCH)
    }

    /// The 16 random bytes.
    pub fn payload(&self) -> &[u8] {
        &self.0[4..]
    }

    fn encode(&self) -> [u8; KSUID_CHARS] {
        let mut number = self.0;
        let mut out = [b'0'; KSUID_CHARS];
        for slot in out.iter_mut().rev() {
            let mut remainder = 0u32;
            for byte in number.iter_mut() {
                let acc = remainder * 256 + u32::from(*byte);
                *byte = (acc / 62) as u8;
                remainder = acc % 62;
            }
            *slot = BASE62[remainder as usize];
        }
        out
    }
}

fn base62_value(c: u8) -> Option<u32> {
    let value = match c {
        b'0'..=b'9' => c - b'0',
        b'A'..=b'Z' => c - b'A' + 10,
        b'a'..=b'z' => c - b'a' + 36,
        _ => return None,
    };
    Some(u32::from(value))
}

impl fmt::Display for Ksuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let encoded = self.encode();
        let text = std::str::from_utf8(&encoded).map_err(|_| fmt::Error)?;
        f.write_str(text)
    }
}

impl std::str::FromStr for Ksuid {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Ksuid> {
        match Ksuid::parse(s) {
            Some(id) => Ok(id),
            None => bail!("{s:?} is not a KSUID"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike};

    fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, nanos: u32) -> DateTime<Local> {
        let naive = NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_nano_opt(h, mi, s, nanos)
            .unwrap();
        Local.from_local_datetime(&naive).single().unwrap()
    }

    #[test]
    fn clock_ksuid_parses_baton_sync_id_and_its_time() {
        let id = Ksuid::parse("36zfOAoWMxQdISbixanQCRBiX7E").unwrap();
        let t = id.timestamp();
        assert_eq!(t.to_rfc3339(), "2025-12-17T23:31:25+00:00");
        assert_eq!(id.to_string(), "36zfOAoWMxQdISbixanQCRBiX7E");
    }

    #[test]
    fn clock_ksuid_min_and_max() {
        let min = Ksuid::from_bytes([0; 20]);
        let max = Ksuid::from_bytes([0xff; 20]);
        assert_eq!(min.to_string(), "000000000000000000000000000");
        assert_eq!(max.to_string(), "aWgEPTl1tmebfsQzFP4bxwgy80V");
        assert_eq!(Ksuid::parse("000000000000000000000000000"), Some(min));
        assert_eq!(Ksuid::parse("aWgEPTl1tmebfsQzFP4bxwgy80V"), Some(max));
        assert_eq!(min.timestamp().timestamp(), KSUID_EPOCH);
    }

    #[test]
    fn clock_ksuid_rejects_malformed() {
        assert_eq!(
            Ksuid::parse("aWgEPTl1tmebfsQzFP4bxwgy80W"),
            None,
            "one above max"
        );
        assert_eq!(Ksuid::parse("zzzzzzzzzzzzzzzzzzzzzzzzzzz"), None);
        assert_eq!(Ksuid::parse("36zfOAoWMxQdISbixanQCRBiX7"), None, "26 chars");
        assert_eq!(
            Ksuid::parse("36zfOAoWMxQdISbixanQCRBiX7E0"),
            None,
            "28 chars"
        );
        assert_eq!(Ksuid::parse("36zfOAoWMxQdISbixanQCRBiX-E"), None);
        assert!("not-a-ksuid".parse::<Ksuid>().is_err());
    }

    #[test]
    fn clock_ksuid_round_trips() {
        for s in [
            "36zfOAoWMxQdISbixanQCRBiX7E",
            "0ujtsYcgvSTl8PAuAdqWYSMnLOv",
            "1srOrx2ZWZBpBUvZwXKQmoEYga2",
            "000000000000000000000000001",
        ] {
            assert_eq!(Ksuid::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn clock_ksuid_new_encodes_time_and_randomness() {
        let at = DateTime::parse_from_rfc3339("2025-12-17T23:31:25.9+00:00").unwrap();
        let a = Ksuid::new(at).unwrap();
        let b = Ksuid::new(at).unwrap();
        assert_ne!(a, b, "payloads are random");
        assert_eq!(a.timestamp().to_rfc3339(), "2025-12-17T23:31:25+00:00");
        assert_eq!(
            &a.as_bytes()[..4],
            &(1_766_014_285u32 - 1_400_000_000).to_be_bytes()
        );
        assert_eq!(a.to_string().len(), 27);
        assert_eq!(Ksuid::parse(&a.to_string()), Some(a));
        let fixed = Ksuid::from_parts(at, [0xab; 16]).unwrap();
        assert_eq!(fixed.payload(), &[0xab; 16]);
    }

    #[test]
    fn clock_ksuid_rejects_times_before_its_epoch() {
        let at = DateTime::parse_from_rfc3339("2014-05-13T16:53:19+00:00").unwrap();
        assert!(Ksuid::new(at).is_err());
        let at = DateTime::parse_from_rfc3339("2014-05-13T16:53:20+00:00").unwrap();
        assert_eq!(Ksuid::new(at).unwrap().as_bytes()[..4], [0, 0, 0, 0]);
    }

    #[test]
    fn clock_sqlite_time_layout() {
        assert_eq!(
            sqlite_time(&local(2025, 12, 17, 16, 31, 25, 57_185_000)),
            "2025-12-17 16:31:25.057185"
        );
        assert_eq!(
            sqlite_time(&local(2026, 3, 3, 9, 45, 13, 0)),
            "2026-03-03 09:45:13"
        );
        assert_eq!(
            sqlite_time(&local(2026, 3, 3, 9, 45, 13, 500_000_000)),
            "2026-03-03 09:45:13.5"
        );
        assert_eq!(
            sqlite_time(&local(2026, 3, 3, 9, 45, 13, 120_000)),
            "2026-03-03 09:45:13.00012"
        );
        assert_eq!(
            sqlite_time(&local(2026, 3, 3, 9, 45, 13, 999)),
            "2026-03-03 09:45:13",
            "sub-microsecond digits are dropped"
        );
    }

    #[test]
    fn clock_sqlite_time_uses_local_wall_clock() {
        let t = now();
        let text = sqlite_time(&t);
        let wall = t.naive_local();
        assert!(text.starts_with(&wall.format("%Y-%m-%d %H:%M:%S").to_string()));
        assert!(!text.contains('T') && !text.contains('Z') && !text.contains('+'));
        let parsed = parse_sqlite_time(&text).unwrap();
        assert_eq!(
            parsed.and_utc().timestamp_micros(),
            wall.and_utc().timestamp_micros()
        );
    }

    #[test]
    fn clock_parse_sqlite_time_layouts() {
        let p =
            |s: &str| parse_sqlite_time(s).map(|t| t.format("%Y-%m-%d %H:%M:%S%.9f").to_string());
        assert_eq!(
            p("2025-12-17 16:31:25.057185").as_deref(),
            Some("2025-12-17 16:31:25.057185000")
        );
        assert_eq!(
            p("2025-12-17T16:31:25").as_deref(),
            Some("2025-12-17 16:31:25.000000000")
        );
        assert_eq!(
            p("2025-12-17 16:31:25Z").as_deref(),
            Some("2025-12-17 16:31:25.000000000")
        );
        assert_eq!(
            p("2025-12-17 16:31:25.123456789").as_deref(),
            Some("2025-12-17 16:31:25.123456789")
        );
        assert_eq!(
            p("2025-12-17 16:31:25.5-07:00").as_deref(),
            Some("2025-12-17 23:31:25.500000000")
        );
        assert_eq!(
            p("2025-12-17T16:31:25+01:30").as_deref(),
            Some("2025-12-17 15:01:25.000000000")
        );
        assert_eq!(
            p("2025-12-17 16:31").as_deref(),
            Some("2025-12-17 16:31:00.000000000")
        );
        assert_eq!(
            p("2025-12-17T16:31").as_deref(),
            Some("2025-12-17 16:31:00.000000000")
        );
        assert_eq!(
            p("2025-12-17").as_deref(),
            Some("2025-12-17 00:00:00.000000000")
        );
        for bad in [
            "",
            "2025-12-17 16:31:25.",
            "2025-12-17 16:31:25.1234567890",
            "2025-13-17 16:31:25",
            "2025-12-17 25:31:25",
            "2025-12-17 16:31:25 +0100",
            "2025/12/17 16:31:25",
            "1765990285",
            "2025-12-17  16:31:25",
        ] {
            assert_eq!(parse_sqlite_time(bad), None, "{bad:?}");
        }
        let t = parse_sqlite_time("2025-12-17 16:31:25.057185").unwrap();
        assert_eq!((t.year(), t.hour(), t.nanosecond()), (2025, 16, 57_185_000));
    }
}
