//! RFC 3339 timestamps for `--from-time`, parsed by hand (a date-time crate would
//! be a large dependency for one flag).
//!
//! Accepted: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, with `t`/`z` in either
//! case and a space allowed for the `T` (RFC 3339 §5.6 permits it); a fraction
//! beyond milliseconds is cut off. A bare integer is taken as milliseconds since the
//! Unix epoch, from [`MIN_BARE_MS`] (early 1973) up: anything smaller is far more
//! likely seconds (or a typo) than a time in 1970-72, and is refused rather than
//! silently reading from the start of the log. The result is milliseconds since the
//! Unix epoch, UTC.

/// The smallest bare integer taken as milliseconds: 10^11 ms is 1973-03-03, while
/// seconds since the epoch stay below it until the year 5138.
const MIN_BARE_MS: i64 = 100_000_000_000;

/// Parses `text` as RFC 3339 (or integer milliseconds) into ms since the epoch.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let ms = text
            .parse::<i64>()
            .map_err(|_| format!("{text} is too large for milliseconds since 1970"))?;
        if ms < MIN_BARE_MS {
            return Err(format!(
                "{text} looks like seconds; give milliseconds since 1970 ({text}000) or \
                 RFC 3339 (2024-05-01T12:00:00Z)"
            ));
        }
        return Ok(ms);
    }
    parse_rfc3339(text).ok_or_else(|| {
        format!("{text:?} is not an RFC 3339 time such as 2024-05-01T12:00:00Z or 2024-05-01T14:00:00.250+02:00")
    })
}

fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    let separators_ok = b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't' | b' ')
        && b[13] == b':'
        && b[16] == b':';
    if !separators_ok
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        match i - start {
            0 => return None,
            1 => millis *= 100,
            2 => millis *= 10,
            _ => {}
        }
    }
    let offset_minutes = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (h, m) = (digits(b, i + 1, 2)?, digits(b, i + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            if *sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1_000 + millis)
}

/// The number at `b[at..at + len]`, all ASCII digits.
fn digits(b: &[u8], at: usize, len: usize) -> Option<i64> {
    let field = b.get(at..at + len)?;
    field.iter().try_fold(0i64, |n, c| {
        c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
    })
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_and_offsets() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20.5Z"), Ok(1_700_000_000_500));
        assert_eq!(
            parse_time("2023-11-14t22:13:20.123456z"),
            Ok(1_700_000_000_123)
        );
        assert_eq!(
            parse_time("2023-11-15T00:13:20+02:00"),
            Ok(1_700_000_000_000)
        );
        assert_eq!(
            parse_time("2023-11-14T17:43:20-04:30"),
            Ok(1_700_000_000_000)
        );
        assert_eq!(parse_time("2023-11-14 22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("2024-02-29T00:00:00Z"), Ok(1_709_164_800_000));
        assert_eq!(parse_time("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("100000000000"), Ok(100_000_000_000));
    }

    #[test]
    fn bare_integers_below_1e11_are_refused_as_seconds() {
        for bad in ["0", "1700000000", "99999999999"] {
            let err = parse_time(bad).expect_err(bad);
            assert!(err.contains("looks like seconds"), "{err}");
            assert!(
                err.contains("RFC 3339") && err.contains("milliseconds"),
                "{err}"
            );
            assert!(!err.contains('\n'), "{err}");
        }
        assert!(parse_time("1700000000")
            .expect_err("seconds")
            .contains("1700000000000"));
    }

    #[test]
    fn rejects_what_is_not_rfc3339() {
        for bad in [
            "",
            "yesterday",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2023-11-14T24:00:00Z",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20+0200",
            "2023-11-14T22:13:20+02:00x",
            "2023/11/14T22:13:20Z",
        ] {
            assert!(parse_time(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
