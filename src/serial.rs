//! SOA serial numbers: RFC 1982 arithmetic and the serial policy that
//! picks a new serial when a zone changed but its file's serial did not.

use crate::config::SerialPolicy;

/// RFC 1982 §3.2: whether `a` is before `b`. Serials exactly 2^31 apart
/// are not comparable; both `lt(a, b)` and `lt(b, a)` are then false.
pub fn lt(a: u32, b: u32) -> bool {
    a != b && b.wrapping_sub(a) < 0x8000_0000
}

/// RFC 1982: whether `a` is after `b`.
pub fn gt(a: u32, b: u32) -> bool {
    lt(b, a)
}

/// The serial to publish for changed content whose file serial is not
/// ahead of `served`, under `policy`; `None` for [`SerialPolicy::Keep`].
/// `now_unix` is the time, for `unixtime` and `dateserial`. The result is
/// always after `served` (RFC 1982), so secondaries follow it.
pub fn next(policy: SerialPolicy, served: u32, now_unix: u64) -> Option<u32> {
    let candidate = match policy {
        SerialPolicy::Keep => return None,
        SerialPolicy::Increment => None,
        SerialPolicy::Unixtime => u32::try_from(now_unix).ok(),
        SerialPolicy::Dateserial => date_serial(now_unix),
    };
    Some(match candidate {
        Some(c) if gt(c, served) => c,
        // RFC 1982 §3.1: adding up to 2^31 - 1 always moves forward.
        _ => served.wrapping_add(1),
    })
}

/// YYYYMMDD00 for the (UTC) day of `now_unix`, when it fits in 32 bits.
fn date_serial(now_unix: u64) -> Option<u32> {
    let (y, m, d) = civil_from_days(i64::try_from(now_unix / 86_400).ok()?);
    let serial = (y * 10_000 + m * 100 + d) * 100;
    u32::try_from(serial).ok()
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
        assert!(lt(1, 2));
        assert!(!lt(2, 1));
        assert!(lt(0xffff_ffff, 0));
        assert!(gt(0, 0xffff_ffff));
        assert!(!lt(5, 5));
        // 2^31 apart: undefined, neither is before the other.
        assert!(!lt(0, 0x8000_0000) && !lt(0x8000_0000, 0));
        assert!(lt(0, 0x7fff_ffff));
    }

    #[test]
    fn policies_move_forward() {
        // 2026-11-21 12:00:00 UTC
        let now = 1_795_262_400;
        assert_eq!(next(SerialPolicy::Keep, 7, now), None);
        assert_eq!(next(SerialPolicy::Increment, 7, now), Some(8));
        assert_eq!(next(SerialPolicy::Increment, u32::MAX, now), Some(0));
        assert_eq!(next(SerialPolicy::Unixtime, 7, now), Some(1_795_262_400));
        assert_eq!(
            next(SerialPolicy::Unixtime, 1_795_262_400, now),
            Some(1_795_262_401)
        );
        assert_eq!(next(SerialPolicy::Dateserial, 7, now), Some(2_026_112_100));
        assert_eq!(
            next(SerialPolicy::Dateserial, 2_026_112_100, now),
            Some(2_026_112_101)
        );
        // A date serial already ahead of today keeps counting up.
        assert_eq!(
            next(SerialPolicy::Dateserial, 2_026_112_299, now),
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
