//! SOA serial numbers: RFC 1982 arithmetic and the serial policy that
//! picks a new serial when a zone changed but its file's serial did not.

use crate::config::SerialPolicy;
use std::cmp::Ordering;
use std::fmt;

/// A SOA serial number, compared by RFC 1982 sequence space arithmetic.
///
/// It is `PartialOrd` but not `Ord` on purpose: serials exactly 2^31
/// apart are not comparable (RFC 1982 §3.2), and "later" is not
/// transitive around the circle, so sorting serials with `sort_by` is a
/// bug (the comparator is not a total order). Pick a maximum with
/// [`Serial::newest`] instead.
///
/// Serialised as the bare number (`transparent`), so state files, JSON
/// and TOML read and write the same text as when serials were `u32`.
///
/// `Debug` prints the bare number too, so logs and messages that show a
/// serial (or an `Option` of one) with `?` read as they did.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Serial(pub u32);

impl Serial {
    pub fn get(self) -> u32 {
        self.0
    }

    /// RFC 1982 §3.1 addition: `n` must be at most 2^31 - 1 to move the
    /// serial forward; larger values are clamped to that.
    pub fn plus(self, n: u32) -> Serial {
        Serial(self.0.wrapping_add(n.min(0x7fff_ffff)))
    }

    /// Whether `self` is before `other` (RFC 1982 §3.2).
    pub fn is_before(self, other: Serial) -> bool {
        self.0 != other.0 && other.0.wrapping_sub(self.0) < 0x8000_0000
    }

    /// Whether `self` is after `other` (RFC 1982 §3.2).
    pub fn is_after(self, other: Serial) -> bool {
        other.is_before(self)
    }

    /// How far `self` is after `other`, negative when it is before: the
    /// difference modulo 2^32 read as signed, so the sign agrees with
    /// [`is_after`](Self::is_after) (serials 2^31 apart give -2^31).
    pub fn ahead_of(self, other: Serial) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// The serial in `serials` no other one is after, keeping the first
    /// of those when several are not comparable with each other. A single
    /// pass, well defined whatever the values (unlike a sort).
    pub fn newest(serials: impl IntoIterator<Item = Serial>) -> Option<Serial> {
        serials.into_iter().fold(None, |best, s| match best {
            Some(b) if !s.is_after(b) => Some(b),
            _ => Some(s),
        })
    }
}

impl PartialOrd for Serial {
    fn partial_cmp(&self, other: &Serial) -> Option<Ordering> {
        if self.0 == other.0 {
            Some(Ordering::Equal)
        } else if self.is_before(*other) {
            Some(Ordering::Less)
        } else if self.is_after(*other) {
            Some(Ordering::Greater)
        } else {
            None
        }
    }
}

impl From<u32> for Serial {
    fn from(s: u32) -> Serial {
        Serial(s)
    }
}

impl From<Serial> for u32 {
    fn from(s: Serial) -> u32 {
        s.0
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The serial to publish for changed content whose file serial is not
/// ahead of `served`, under `policy`; `None` for [`SerialPolicy::Keep`].
/// `now_unix` is the time, for `unixtime` and `dateserial`. The result is
/// always after `served` (RFC 1982), so secondaries follow it.
pub fn next(policy: SerialPolicy, served: Serial, now_unix: u64) -> Option<Serial> {
    let candidate = match policy {
        SerialPolicy::Keep => return None,
        SerialPolicy::Increment => None,
        SerialPolicy::Unixtime => u32::try_from(now_unix).ok().map(Serial),
        SerialPolicy::Dateserial => date_serial(now_unix),
    };
    Some(match candidate {
        Some(c) if c > served => c,
        // RFC 1982 §3.1: adding up to 2^31 - 1 always moves forward.
        _ => served.plus(1),
    })
}

/// YYYYMMDD00 for the (UTC) day of `now_unix`, when it fits in 32 bits.
fn date_serial(now_unix: u64) -> Option<Serial> {
    let (y, m, d) = civil_from_days(i64::try_from(now_unix / 86_400).ok()?);
    let serial = (y * 10_000 + m * 100 + d) * 100;
    u32::try_from(serial).ok().map(Serial)
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's days-to-civil algorithm).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1982_comparison() {
        let s = Serial;
        assert!(s(1).is_before(s(2)));
        assert!(!s(2).is_before(s(1)));
        assert!(s(0xffff_ffff).is_before(s(0)));
        assert!(s(0).is_after(s(0xffff_ffff)));
        assert!(!s(5).is_before(s(5)));
        // 2^31 apart: undefined, neither is before the other.
        assert!(!s(0).is_before(s(0x8000_0000)) && !s(0x8000_0000).is_before(s(0)));
        assert!(s(0).is_before(s(0x7fff_ffff)));
    }

    #[test]
    fn serials_compare_around_the_circle() {
        let s = Serial;
        assert!(s(1) < s(2) && s(2) > s(1));
        assert!(s(u32::MAX) < s(0), "0 follows 2^32 - 1");
        assert!(s(0x7fff_ffff) > s(0), "2^31 - 1 ahead is still after");
        assert_eq!(s(0).partial_cmp(&s(0x8000_0000)), None);
        assert_eq!(s(0x8000_0000).partial_cmp(&s(0)), None);
        assert_eq!(s(0x8000_0001).partial_cmp(&s(1)), None);
        assert!(s(0x8000_0001) > s(2));
        assert!(s(7) <= s(7) && s(7) >= s(7));
    }

    #[test]
    fn serial_addition_wraps_and_is_bounded() {
        assert_eq!(Serial(u32::MAX).plus(1), Serial(0));
        assert_eq!(
            Serial(5).plus(u32::MAX),
            Serial(5u32.wrapping_add(0x7fff_ffff))
        );
        assert!(Serial(5).plus(u32::MAX) > Serial(5));
    }

    #[test]
    fn distance_is_signed_around_the_circle() {
        assert_eq!(Serial(7).ahead_of(Serial(5)), 2);
        assert_eq!(Serial(5).ahead_of(Serial(7)), -2);
        assert_eq!(Serial(1).ahead_of(Serial(u32::MAX)), 2, "across the wrap");
        assert_eq!(Serial(0x8000_0000).ahead_of(Serial(0)), i32::MIN);
    }

    #[test]
    fn newest_is_defined_for_any_serials() {
        let n = |v: &[u32]| Serial::newest(v.iter().copied().map(Serial)).map(Serial::get);
        assert_eq!(n(&[]), None);
        assert_eq!(n(&[3, 9, 4]), Some(9));
        assert_eq!(n(&[u32::MAX, 2, 1]), Some(2), "2 is after 2^32 - 1");
        // 0 and 2^31 are not comparable: the first stays.
        assert_eq!(n(&[0, 0x8000_0000]), Some(0));
        assert_eq!(n(&[0x8000_0000, 0]), Some(0x8000_0000));
        // Three serials around the circle, each after the one before: a
        // sort has no answer; newest still gives one without panicking.
        assert!(n(&[0, 0x6000_0000, 0xc000_0000]).is_some());
    }

    #[test]
    fn policies_move_forward() {
        // 2026-11-21 12:00:00 UTC
        let now = 1_795_262_400;
        let next = |policy, served| super::next(policy, Serial(served), now).map(Serial::get);
        assert_eq!(next(SerialPolicy::Keep, 7), None);
        assert_eq!(next(SerialPolicy::Increment, 7), Some(8));
        assert_eq!(next(SerialPolicy::Increment, u32::MAX), Some(0));
        assert_eq!(next(SerialPolicy::Unixtime, 7), Some(1_795_262_400));
        assert_eq!(
            next(SerialPolicy::Unixtime, 1_795_262_400),
            Some(1_795_262_401)
        );
        assert_eq!(next(SerialPolicy::Dateserial, 7), Some(2_026_112_100));
        assert_eq!(
            next(SerialPolicy::Dateserial, 2_026_112_100),
            Some(2_026_112_101)
        );
        // A date serial already ahead of today keeps counting up.
        assert_eq!(
            next(SerialPolicy::Dateserial, 2_026_112_299),
            Some(2_026_112_300)
        );
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_778), (2026, 11, 21));
    }
}
