//! Deadside's timestamps: `2025.03.27-10.42.35` (killfeed) and
//! `2025.05.03-02.01.50:297` (server log, with milliseconds), server time, read as UTC.
//!
//! Parsed by hand into Unix time: it is on the hot path of every line, and a calendar
//! library would do more than this needs.

/// Seconds since the Unix epoch, or `None` when `text` is not `YYYY.MM.DD-HH.MM.SS`.
pub fn parse_seconds(text: &[u8]) -> Option<i64> {
    if text.len() != 19 {
        return None;
    }
    let sep = |i: usize, c: u8| text[i] == c;
    if !(sep(4, b'.') && sep(7, b'.') && sep(10, b'-') && sep(13, b'.') && sep(16, b'.')) {
        return None;
    }
    let year = digits(&text[0..4])?;
    let month = digits(&text[5..7])?;
    let day = digits(&text[8..10])?;
    let hour = digits(&text[11..13])?;
    let minute = digits(&text[14..16])?;
    let second = digits(&text[17..19])?;
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// Milliseconds since the epoch for `YYYY.MM.DD-HH.MM.SS:mmm` (the log's prefix).
pub fn parse_millis(text: &[u8]) -> Option<i64> {
    match text.len() {
        19 => parse_seconds(text).map(|s| s * 1000),
        23 if text[19] == b':' => Some(parse_seconds(&text[..19])? * 1000 + digits(&text[20..23])?),
        _ => None,
    }
}

fn digits(bytes: &[u8]) -> Option<i64> {
    bytes.iter().try_fold(0i64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
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

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY.MM.DD-HH.MM.SS` for Unix seconds (what the earlier bot showed, and file names use).
pub fn format_seconds(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // civil_from_days
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}.{month:02}.{day:02}-{:02}.{:02}.{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        // `date -u -d 2025-03-27T10:42:35 +%s` = 1743072155
        assert_eq!(parse_seconds(b"2025.03.27-10.42.35"), Some(1_743_072_155));
        assert_eq!(parse_seconds(b"1970.01.01-00.00.00"), Some(0));
        assert_eq!(parse_seconds(b"2024.02.29-23.59.59"), Some(1_709_251_199));
        assert_eq!(
            parse_millis(b"2025.05.03-02.01.50:297"),
            Some(1_746_237_710_297)
        );
    }

    #[test]
    fn impossible_dates_are_refused() {
        for bad in [
            &b"2025.02.29-00.00.00"[..],
            b"2025.13.01-00.00.00",
            b"2025.01.01-24.00.00",
            b"2025-01-01 00:00:00",
            b"2025.01.01-00.00.0x",
            b"",
        ] {
            assert_eq!(parse_seconds(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn formatting_round_trips() {
        for t in [0, 1_743_072_155, 1_709_251_199, 4_102_444_800] {
            assert_eq!(parse_seconds(format_seconds(t).as_bytes()), Some(t));
        }
    }
}
