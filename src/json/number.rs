//! Upstream's conversion of a JSON number to `uint64` (the `s3.bytes*` fields).
//!
//! fastjson's `GetUint64` first reads the raw text as an unsigned decimal integer; if
//! that fails it parses a float and Go converts it with `uint64(f)`, whose result for
//! out-of-range values is what the amd64 instructions produce.

/// Go's `uint64(f)` as compiled for amd64: values below 2^63 go through a signed
/// conversion (negative values wrap, out-of-range gives 2^63), larger ones are offset
/// by 2^63 first (NaN and +Inf end up 0).
pub fn go_f64_to_u64(f: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    let cvt = |x: f64| -> i64 {
        if x.is_nan() || !(-TWO63..TWO63).contains(&x) {
            i64::MIN
        } else {
            x as i64
        }
    };
    if f < TWO63 {
        cvt(f) as u64
    } else {
        (cvt(f - TWO63) as u64) ^ (1 << 63)
    }
}

fn parse_go_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let neg = s.starts_with('-');
    let special = if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        Some(f64::INFINITY)
    } else if body.eq_ignore_ascii_case("nan") {
        Some(f64::NAN)
    } else {
        None
    };
    match special {
        Some(f) => Some(if neg { -f } else { f }),
        None => s.parse::<f64>().ok(),
    }
}

/// The value of a number's raw text (any of upstream's lenient forms); 0 when it is
/// not a number at all.
pub fn raw_number_u64(raw: &[u8]) -> u64 {
    let Ok(s) = std::str::from_utf8(raw) else {
        return 0;
    };
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = s.parse::<u64>() {
            return n;
        }
    }
    parse_go_float(s).map_or(0, go_f64_to_u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_go() {
        assert_eq!(raw_number_u64(b"1024"), 1024);
        assert_eq!(raw_number_u64(b"007"), 7);
        assert_eq!(raw_number_u64(b"33.9"), 33);
        assert_eq!(raw_number_u64(b"1e3"), 1000);
        assert_eq!(raw_number_u64(b"-1"), u64::MAX);
        assert_eq!(raw_number_u64(b"NaN"), 0);
        assert_eq!(raw_number_u64(b"Inf"), 0);
        assert_eq!(raw_number_u64(b"-Inf"), 1 << 63);
        assert_eq!(raw_number_u64(b"18446744073709551615"), u64::MAX);
        assert_eq!(raw_number_u64(b"18446744073709551616"), 0);
        assert_eq!(raw_number_u64(b"1e19"), 10_000_000_000_000_000_000);
        assert_eq!(raw_number_u64(b"1-2"), 0);
    }
}
