//! Deadside's timestamps: `2025.03.27-10.42.35` (killfeed) and
//! `2025.05.03-02.01.50:297` (server log, with milliseconds), server time, read as UTC.
//!
//! Parsed by hand into Unix time: it is on the hot path of every line, and a calendar
//! library would do more than this needs.

/// Seconds since the Unix epoch, or `None` when `text` is not `YYYY.MM.DD-HH.MM.SS`.
pub fn parse_seconds(text: &[u8]) -> Option<i64> {
    let text: &[u8; 19] = text.try_into().ok()?;
    // Read as three overlapping 8-byte words: every line has a timestamp, and checking
    // eight bytes at once is several times cheaper than one byte at a time.
    let word = |at: usize| {
        text.get(at..at + 8)
            .and_then(|bytes| bytes.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let date = Layout::new(b"0000.00.").digits(word(0)?)?; // YYYY.MM.
    let day = Layout::new(b"00-00.00").digits(word(8)?)?; // DD-HH.MM
    let time = Layout::new(b"00.00.00").digits(word(11)?)?; // HH.MM.SS
    let number = |word: u64, from: u32, len: u32| {
        (from..from + len).fold(0i64, |acc, i| acc * 10 + ((word >> (8 * i)) & 0xf) as i64)
    };
    let (year, month, day) = (number(date, 0, 4), number(date, 5, 2), number(day, 0, 2));
    let (hour, minute, second) = (number(time, 0, 2), number(time, 3, 2), number(time, 6, 2));
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

/// Eight bytes of a timestamp: `0` where a digit goes, else the separator that must be there.
struct Layout {
    /// The layout's bytes: subtracted, a digit leaves its value and a separator 0.
    pattern: u64,
    /// 9 for a digit, 0 for a separator: the most each byte may hold after subtracting.
    limit: u64,
}

impl Layout {
    const fn new(layout: &[u8; 8]) -> Self {
        let mut limit = [0u8; 8];
        let mut i = 0;
        while i < 8 {
            limit[i] = if layout[i] == b'0' { 9 } else { 0 };
            i += 1;
        }
        Layout {
            pattern: u64::from_le_bytes(*layout),
            limit: u64::from_le_bytes(limit),
        }
    }

    /// `word` minus the pattern, with each digit's value in its byte; `None` when a byte
    /// does not fit. A byte below its pattern byte borrows and comes out at 208 or more, so
    /// it is caught even though it disturbs the byte after it.
    fn digits(&self, word: u64) -> Option<u64> {
        const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        let d = word.wrapping_sub(self.pattern);
        // A byte b <= 127 plus (127 - limit) sets its top bit exactly when b > limit.
        let over = (d.wrapping_add(LOW7 - self.limit) | d) & HIGH;
        (over == 0).then_some(d)
    }
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

/// Days since 1970-01-01 for a valid date of years 0 to 9999 (proleptic Gregorian).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    /// Days before each month's first, in a year counted from March (so that February,
    /// the month that varies, comes last).
    const BEFORE_MONTH: [i64; 12] = [0, 31, 61, 92, 122, 153, 184, 214, 245, 275, 306, 337];
    // Counted from March of year -400 so every quantity is positive: division by a
    // constant is then a multiply, where signed `div_euclid` needs corrections.
    let march_year = year + 400 - i64::from(month <= 2);
    let from_march = usize::try_from((month + 9) % 12).unwrap_or(0);
    let leap_days = march_year / 4 - march_year / 100 + march_year / 400;
    let days = march_year * 365 + leap_days + BEFORE_MONTH[from_march] + day - 1;
    // Day 0 above is 1 March of year -400 (401 BC); 1970-01-01 is 865,565 days later.
    days - 865_565
}

/// `YYYY.MM.DD-HH.MM.SS` for Unix seconds (what the earlier bot showed, and file names use).
pub fn format_seconds(unix: i64) -> String {
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(unix.div_euclid(86_400));
    format!(
        "{year:04}.{month:02}.{day:02}-{:02}.{:02}.{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// (year, month, day) of a day counted from 1970-01-01 (proleptic Gregorian; H. Hinnant's
/// `civil_from_days`), the inverse of [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        // `date -u -d 2025-03-27T10:42:35 +%s` = 1743072155
        assert_eq!(parse_seconds(b"2025.03.27-10.42.35"), Some(1_743_072_155));
        assert_eq!(parse_seconds(b"1970.01.01-00.00.00"), Some(0));
        // The ends of the range four digits can write.
        assert_eq!(parse_seconds(b"0000.01.01-00.00.00"), Some(-62_167_219_200));
        assert_eq!(parse_seconds(b"9999.12.31-23.59.59"), Some(253_402_300_799));
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
            b"2025.01.01-00.00.00 ",
            b"2025.01.01_00.00.00",
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
