//! `eventTime` → event timestamp, accepting exactly what Go's
//! `time.Parse(time.RFC3339, s)` accepts.
//!
//! Go tries a strict RFC 3339 reader first and falls back to its general layout
//! parser, which is looser: a one-digit hour, a comma before the fraction, and zone
//! offsets up to `24:60`. A record is emitted iff Go accepts its `eventTime`, so the
//! union of the two is what this module implements.

/// The wall clock in ns since the epoch (0 if the clock is before it).
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Nanoseconds since the Unix epoch, as upstream stores them: Go's `UnixNano()`
/// (64-bit wrapping arithmetic) reinterpreted as unsigned, so pre-1970 times wrap.
pub fn parse_rfc3339_ns(s: &[u8]) -> Option<u64> {
    let mut p = Cursor { s, i: 0 };
    let year = p.digits(4)? as i64;
    p.expect(b'-')?;
    let month = p.digits(2)?;
    p.expect(b'-')?;
    let day = p.digits(2)?;
    p.expect(b'T')?;
    let hour = if p.peek_digit(1) {
        p.digits(2)?
    } else {
        p.digits(1)?
    };
    p.expect(b':')?;
    let min = p.digits(2)?;
    p.expect(b':')?;
    let sec = p.digits(2)?;
    if !(1..=12).contains(&month) || hour >= 24 || min >= 60 || sec >= 60 {
        return None;
    }
    if day < 1 || day > days_in_month(month, year) {
        return None;
    }
    let mut nsec = 0i64;
    if matches!(p.peek(), Some(b'.' | b',')) && p.peek_digit(1) {
        p.i += 1;
        let start = p.i;
        while p.peek_digit(0) {
            p.i += 1;
        }
        // Go keeps nine digits and ignores the rest.
        let digits = &s[start..p.i.min(start + 9)];
        for &d in digits {
            nsec = nsec * 10 + i64::from(d - b'0');
        }
        for _ in digits.len()..9 {
            nsec *= 10;
        }
    }
    let offset_secs = match p.next()? {
        b'Z' => 0,
        sign @ (b'+' | b'-') => {
            let hh = p.digits(2)?;
            p.expect(b':')?;
            let mm = p.digits(2)?;
            if hh > 24 || mm > 60 {
                return None;
            }
            let off = i64::from(hh * 60 + mm) * 60;
            if sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    if p.i != s.len() {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + min * 60 + sec) - offset_secs;
    Some(secs.wrapping_mul(1_000_000_000).wrapping_add(nsec) as u64)
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn peek_digit(&self, ahead: usize) -> bool {
        self.s.get(self.i + ahead).is_some_and(u8::is_ascii_digit)
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    fn digits(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let c = self.next()?;
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        Some(v)
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(m: u32, y: i64) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A duration in milliseconds as a person reads it: `850 ms`, `4.2 s`, `3 min`,
/// `5.5 h`, `1,245 days`.
pub fn readable_ms(ms: u64) -> String {
    const MIN: u64 = 60_000;
    const HOUR: u64 = 60 * MIN;
    const DAY: u64 = 24 * HOUR;
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..MIN => format!("{:.1} s", ms as f64 / 1e3),
        MIN..HOUR => format!("{} min", (ms + MIN / 2) / MIN),
        HOUR..DAY => format!("{:.1} h", ms as f64 / HOUR as f64),
        _ => {
            let days = (ms + DAY / 2) / DAY;
            let digits = days.to_string();
            let mut out = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i).is_multiple_of(3) {
                    out.push(',');
                }
                out.push(c);
            }
            format!("{out} day{}", if days == 1 { "" } else { "s" })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<u64> {
        parse_rfc3339_ns(s.as_bytes())
    }

    #[test]
    fn accepts_go_rfc3339() {
        assert_eq!(p("2017-12-11T15:01:51Z"), Some(1_513_004_511_000_000_000));
        assert_eq!(p("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(p("2023-07-10T11:45:00.5Z"), Some(1_688_989_500_500_000_000));
        assert_eq!(
            p("2023-07-10T11:45:00,123456789999Z"),
            Some(1_688_989_500_123_456_789)
        );
        assert_eq!(p("2023-07-10T13:45:00+02:00"), p("2023-07-10T11:45:00Z"));
        assert_eq!(p("2023-07-10T06:45:00-05:00"), p("2023-07-10T11:45:00Z"));
        assert_eq!(p("2023-07-10T1:45:00Z"), p("2023-07-10T01:45:00Z"));
        assert_eq!(p("2024-02-29T00:00:00Z"), Some(1_709_164_800_000_000_000));
        assert!(p("2023-07-10T11:45:00+24:60").is_some());
    }

    #[test]
    fn pre_epoch_wraps_like_go() {
        assert_eq!(p("1969-12-31T23:59:59Z"), Some((-1_000_000_000i64) as u64));
    }

    #[test]
    fn rejects_what_go_rejects() {
        for s in [
            "",
            "2023-07-10",
            "2023-07-10 11:45:00Z",
            "2023-07-10T11:45:00",
            "2023-07-10t11:45:00Z",
            "2023-07-10T11:45:00z",
            "2023-13-10T11:45:00Z",
            "2023-02-29T11:45:00Z",
            "2023-07-32T11:45:00Z",
            "2023-07-10T24:00:00Z",
            "2023-07-10T11:60:00Z",
            "2023-07-10T11:45:60Z",
            "2023-07-10T11:45:00.Z",
            "2023-07-10T11:45:00+0200",
            "2023-07-10T11:45:00+25:00",
            "2023-07-10T11:45:00Z ",
            "23-07-10T11:45:00Z",
            "2023-7-10T11:45:00Z",
            "2023-07-10T11:5:00Z",
        ] {
            assert_eq!(p(s), None, "{s}");
        }
    }

    #[test]
    fn durations_read_as_a_person_would() {
        assert_eq!(readable_ms(0), "0 ms");
        assert_eq!(readable_ms(999), "999 ms");
        assert_eq!(readable_ms(4_200), "4.2 s");
        assert_eq!(readable_ms(59_949), "59.9 s");
        assert_eq!(readable_ms(180_000), "3 min");
        assert_eq!(readable_ms(5 * 3_600_000 + 1_800_000), "5.5 h");
        assert_eq!(readable_ms(86_400_000), "1 day");
        // The quick start's sample: a 2023 file read in 2026.
        assert_eq!(readable_ms(107_557_608_420), "1,245 days");
    }
}
