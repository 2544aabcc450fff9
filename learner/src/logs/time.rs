//! Timestamps as `log` prints them, parsed by hand (the hot path) into chrono values.
//!
//! Forms: `2026-09-13 10:08:36.525077-0700` (ndjson, json, default, syslog), `2026-10-08
//! 17:43:10.173` (compact: no zone, the reader supplies the machine's offset), `2026-09-21
//! 13:40:48` (no fraction), and RFC 3339 (`T`, `Z`, `+07:00`) for hand-written inputs.

use chrono::{DateTime, FixedOffset, NaiveDate};

/// A timestamp at the start of `text`: the time (zone from the text, else `default_offset`) and
/// how many bytes it spans. `None` when `text` does not start with `YYYY-MM-DD HH:MM:SS`.
pub fn parse_leading(text: &[u8], default_offset: FixedOffset) -> Option<(DateTime<FixedOffset>, usize)> {
    if text.len() < 19 || !looks_like_timestamp(text) {
        return None;
    }
    let year = digits(&text[0..4])? as i32;
    let month = digits(&text[5..7])?;
    let day = digits(&text[8..10])?;
    let hour = digits(&text[11..13])?;
    let minute = digits(&text[14..16])?;
    let second = digits(&text[17..19])?;
    let mut i = 19;
    let mut nanos = 0u32;
    if text.get(i) == Some(&b'.') {
        let start = i + 1;
        let mut end = start;
        while end < text.len() && text[end].is_ascii_digit() {
            end += 1;
        }
        if end == start {
            return None;
        }
        for (k, &b) in text[start..end].iter().enumerate() {
            if k < 9 {
                nanos = nanos * 10 + u32::from(b - b'0');
            }
        }
        for _ in (end - start)..9 {
            nanos *= 10;
        }
        i = end;
    }
    let mut offset = default_offset;
    match text.get(i) {
        Some(b'Z') => {
            offset = FixedOffset::east_opt(0)?;
            i += 1;
        }
        Some(&sign @ (b'+' | b'-')) => {
            let rest = &text[i + 1..];
            let (hh, mm, len) = if rest.len() >= 5 && rest[2] == b':' {
                (digits(&rest[0..2])?, digits(&rest[3..5])?, 5)
            } else if rest.len() >= 4 && rest[..4].iter().all(u8::is_ascii_digit) {
                (digits(&rest[0..2])?, digits(&rest[2..4])?, 4)
            } else {
                return None;
            };
            let secs = (hh * 3600 + mm * 60) as i32;
            offset = FixedOffset::east_opt(if sign == b'-' { -secs } else { secs })?;
            i += 1 + len;
        }
        _ => {}
    }
    let naive = NaiveDate::from_ymd_opt(year, month, day)?.and_hms_nano_opt(hour, minute, second, nanos)?;
    // A fixed offset maps every local time to exactly one instant.
    let utc = naive - chrono::TimeDelta::seconds(i64::from(offset.local_minus_utc()));
    Some((DateTime::from_naive_utc_and_offset(utc, offset), i))
}

/// `YYYY-MM-DD?HH:MM:SS` by shape alone (cheap: used to classify every text line).
pub fn looks_like_timestamp(t: &[u8]) -> bool {
    t.len() >= 19
        && t[..4].iter().all(u8::is_ascii_digit)
        && t[4] == b'-'
        && t[7] == b'-'
        && (t[10] == b' ' || t[10] == b'T')
        && t[13] == b':'
        && t[16] == b':'
}

fn digits(t: &[u8]) -> Option<u32> {
    let mut n = 0u32;
    for &b in t {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(b - b'0');
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> FixedOffset {
        FixedOffset::east_opt(0).unwrap()
    }

    #[test]
    fn every_style() {
        let (t, n) = parse_leading(b"2026-09-13 10:08:36.525077-0700 x", utc()).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-09-13T10:08:36.525077-07:00");
        assert_eq!(n, 31);
        let plus5 = FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
        let (t, n) = parse_leading(b"2026-10-08 17:43:10.173 Df kernel", plus5).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-10-08T17:43:10.173+05:30");
        assert_eq!(n, 23);
        let (t, _) = parse_leading(b"2026-09-21 13:40:48 E", utc()).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-09-21T13:40:48+00:00");
        let (t, _) = parse_leading(b"2026-05-15T11:08:24.7415+05:30", utc()).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-05-15T11:08:24.741500+05:30");
        let (t, _) = parse_leading(b"2026-05-15 11:08:24Z", plus5).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-05-15T11:08:24+00:00");
    }

    #[test]
    fn rejects_non_dates() {
        assert!(parse_leading(b"Timestamp               Ty Process", utc()).is_none());
        assert!(parse_leading(b"2026-13-01 00:00:00", utc()).is_none());
        assert!(parse_leading(b"2026-01-01 00:00:00.", utc()).is_none());
        assert!(parse_leading(b"2026-01-01 25:00:00", utc()).is_none());
    }
}
