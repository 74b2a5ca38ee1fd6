//! Upstream's JSON grammar, byte for byte.
//!
//! The Go plugin parses every record with valyala/fastjson, which is more permissive
//! than JSON: numbers are any run of `0-9 . - + e E` (plus `NaN`/`Inf` in any case),
//! strings may hold raw control bytes, invalid UTF-8 and unknown escapes, and nesting
//! is limited to 300 values deep. A record is emitted exactly when that parser accepts
//! it, so [`validate`] reproduces its decisions; [`unescape`] reproduces how it decodes
//! string text. Everything here is iterative: hostile nesting cannot exhaust the stack.

use memchr::memchr2;

/// Upstream's limit on value nesting (the record object itself is depth 1).
pub const MAX_DEPTH: usize = 300;

/// Why the lenient parser rejects a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A value is nested more than [`MAX_DEPTH`] deep.
    TooDeep,
    /// The text is not acceptable to upstream's parser; the offset is where it failed.
    Syntax(usize),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::TooDeep => write!(f, "nesting deeper than {MAX_DEPTH} levels"),
            Error::Syntax(at) => write!(f, "invalid JSON at byte {at}"),
        }
    }
}

#[inline]
pub fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\t' | b'\r')
}

#[inline]
pub fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_ws(s[i]) {
        i += 1;
    }
    i
}

/// Index of the quote closing a string whose content starts at `i`: the first `"`
/// not preceded by an odd run of backslashes.
#[inline]
pub fn string_end(s: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let q = i + memchr2(b'"', b'\\', s.get(i..)?)?;
        if s[q] == b'"' {
            return Some(q);
        }
        i = q + 2;
    }
}

fn starts_with_ignore_case(s: &[u8], i: usize, word: &[u8]) -> bool {
    s.get(i..i + word.len())
        .is_some_and(|w| w.eq_ignore_ascii_case(word))
}

/// End of a number token starting at `i`, with fastjson's rules.
pub fn number_end(s: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    while j < s.len() && matches!(s[j], b'0'..=b'9' | b'.' | b'-' | b'e' | b'E' | b'+') {
        j += 1;
    }
    if j == s.len() {
        return Some(j);
    }
    let n = j - i;
    if n == 0 || (n == 1 && matches!(s[i], b'-' | b'+')) {
        if starts_with_ignore_case(s, j, b"inf") || starts_with_ignore_case(s, j, b"nan") {
            return Some(j + 3);
        }
        return None;
    }
    Some(j)
}

/// End of the scalar or container value starting at `i` (which must not be
/// whitespace). Works on any input; on text that [`validate`] accepted it is exact.
pub fn value_end(s: &[u8], i: usize) -> usize {
    let Some(&c) = s.get(i) else { return s.len() };
    match c {
        b'"' => string_end(s, i + 1).map_or(s.len(), |q| q + 1),
        b'{' | b'[' => container_end(s, i),
        b't' | b'n' if s.get(i..i + 4) == Some(b"true") || s.get(i..i + 4) == Some(b"null") => {
            i + 4
        }
        b'f' if s.get(i..i + 5) == Some(b"false") => i + 5,
        b'n' | b'N' if starts_with_ignore_case(s, i, b"nan") => i + 3,
        _ => number_end(s, i).unwrap_or(i + 1).max(i + 1),
    }
}

fn container_end(s: &[u8], i: usize) -> usize {
    let mut depth = 0usize;
    let mut p = i;
    while p < s.len() {
        match s[p] {
            b'"' => {
                p = match string_end(s, p + 1) {
                    Some(q) => q + 1,
                    None => return s.len(),
                };
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return p + 1;
                }
            }
            _ => {}
        }
        p += 1;
    }
    s.len()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    Object,
    Array,
}

/// Accepts exactly the texts fastjson's `Parser.Parse` accepts (leading and trailing
/// whitespace allowed, nothing else after the value).
pub fn validate(s: &[u8]) -> Result<(), Error> {
    let mut stack: Vec<Open> = Vec::new();
    let mut i = skip_ws(s, 0);
    'value: loop {
        // A value starts at s[i]; it sits at depth stack.len() + 1.
        if stack.len() >= MAX_DEPTH {
            return Err(Error::TooDeep);
        }
        let Some(&c) = s.get(i) else {
            return Err(Error::Syntax(i));
        };
        match c {
            b'{' => {
                i = skip_ws(s, i + 1);
                match s.get(i) {
                    Some(b'}') => i += 1,
                    Some(_) => {
                        stack.push(Open::Object);
                        i = key(s, i)?;
                        continue 'value;
                    }
                    None => return Err(Error::Syntax(i)),
                }
            }
            b'[' => {
                i = skip_ws(s, i + 1);
                match s.get(i) {
                    Some(b']') => i += 1,
                    Some(_) => {
                        stack.push(Open::Array);
                        continue 'value;
                    }
                    None => return Err(Error::Syntax(i)),
                }
            }
            b'"' => i = string_end(s, i + 1).ok_or(Error::Syntax(i))? + 1,
            b't' if s.get(i..i + 4) == Some(b"true") => i += 4,
            b'f' if s.get(i..i + 5) == Some(b"false") => i += 5,
            b'n' if s.get(i..i + 4) == Some(b"null") => i += 4,
            b'n' if starts_with_ignore_case(s, i, b"nan") => i += 3,
            b't' | b'f' | b'n' => return Err(Error::Syntax(i)),
            _ => i = number_end(s, i).ok_or(Error::Syntax(i))?,
        }
        // After a value: separators and closers until the next value starts.
        loop {
            i = skip_ws(s, i);
            let Some(&open) = stack.last() else {
                return if i == s.len() {
                    Ok(())
                } else {
                    Err(Error::Syntax(i))
                };
            };
            match (open, s.get(i)) {
                (Open::Object, Some(b',')) => {
                    i = key(s, i + 1)?;
                    continue 'value;
                }
                (Open::Array, Some(b',')) => {
                    i = skip_ws(s, i + 1);
                    continue 'value;
                }
                (Open::Object, Some(b'}')) | (Open::Array, Some(b']')) => {
                    stack.pop();
                    i += 1;
                }
                _ => return Err(Error::Syntax(i)),
            }
        }
    }
}

/// Parses `"key" :` starting at or after `i`; returns where the member's value starts.
fn key(s: &[u8], i: usize) -> Result<usize, Error> {
    let i = skip_ws(s, i);
    if s.get(i) != Some(&b'"') {
        return Err(Error::Syntax(i));
    }
    let q = string_end(s, i + 1).ok_or(Error::Syntax(i))?;
    let i = skip_ws(s, q + 1);
    if s.get(i) != Some(&b':') {
        return Err(Error::Syntax(i));
    }
    Ok(skip_ws(s, i + 1))
}

fn hex4(s: &[u8]) -> Option<u32> {
    let h = s.get(..4)?;
    let mut v = 0u32;
    for &b in h {
        v = v * 16 + (b as char).to_digit(16)?;
    }
    Some(v)
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// Decodes string content (between the quotes) the way fastjson does: unknown or
/// malformed escapes are kept verbatim, a lone surrogate stays as its `\uXXXX` text,
/// and a surrogate followed by any `\uXXXX` decodes as a pair (U+FFFD when invalid).
pub fn unescape(raw: &[u8], out: &mut Vec<u8>) {
    let mut s = raw;
    while let Some(n) = memchr::memchr(b'\\', s) {
        out.extend_from_slice(&s[..n]);
        let Some(&ch) = s.get(n + 1) else {
            // A trailing lone backslash cannot occur inside a closed string; keep it.
            out.push(b'\\');
            return;
        };
        s = &s[n + 2..];
        match ch {
            b'"' | b'\\' | b'/' => out.push(ch),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'u' => {
                let Some(x) = hex4(s) else {
                    out.extend_from_slice(b"\\u");
                    continue;
                };
                let xs = &s[..4];
                s = &s[4..];
                if !(0xd800..0xe000).contains(&x) {
                    push_char(out, char::from_u32(x).unwrap_or('\u{fffd}'));
                    continue;
                }
                let second = if s.len() >= 6 && s[0] == b'\\' && s[1] == b'u' {
                    hex4(&s[2..])
                } else {
                    None
                };
                match second {
                    Some(y) => {
                        s = &s[6..];
                        let pair = (0xd800..0xdc00).contains(&x) && (0xdc00..0xe000).contains(&y);
                        let c = if pair {
                            char::from_u32(0x10000 + ((x - 0xd800) << 10) + (y - 0xdc00))
                        } else {
                            None
                        };
                        push_char(out, c.unwrap_or('\u{fffd}'));
                    }
                    None => {
                        out.extend_from_slice(b"\\u");
                        out.extend_from_slice(xs);
                    }
                }
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    out.extend_from_slice(s);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> bool {
        validate(s.as_bytes()).is_ok()
    }

    #[test]
    fn accepts_what_fastjson_accepts() {
        for s in [
            r#"{"a":1}"#,
            "  {\"a\" : [1, 2.5e3, true, false, null, {}, []]}\n",
            r#"{"a":NaN,"b":-Inf,"c":+nan,"d":inf,"e":nan}"#,
            r#"{"a":1-2e+.,"b":.5,"c":-1}"#,
            "{\"a\":\"raw\ncontrol\u{1}\"}",
            r#"{"a":"bad \q escape \u12"}"#,
            r#"{"a":"\"quoted\" and \\"}"#,
            r#"{"a":{"b":{"c":{}}}}"#,
            r#"[]"#,
            r#""str""#,
            "12",
        ] {
            assert!(ok(s), "{s}");
        }
        assert!(
            validate(b"{\"a\":\"\xff\xfe\"}").is_ok(),
            "invalid UTF-8 in strings"
        );
    }

    #[test]
    fn rejects_what_fastjson_rejects() {
        for s in [
            "",
            "   ",
            r#"{"a":1,}"#,
            r#"[1,]"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            r#"{"a":tru}"#,
            r#"{"a":Infinity}"#,
            r#"{"a":nul}"#,
            r#"{"a":1} x"#,
            r#"{"a":1}}"#,
            r#"{"a":"unterminated}"#,
            r#"{"a":[1}"#,
            r#"{"a":-x}"#,
            r#"{"a":-}"#,
            r#"{"a":}"#,
        ] {
            assert!(!ok(s), "{s}");
        }
    }

    #[test]
    fn depth_limit_counts_values_like_fastjson() {
        // 300 nested arrays, the innermost empty: every value is at depth <= 300.
        let s = format!("{}{}", "[".repeat(300), "]".repeat(300));
        assert!(ok(&s));
        // 300 nested arrays holding a scalar: the scalar is at depth 301.
        let s = format!("{}1{}", "[".repeat(300), "]".repeat(300));
        assert_eq!(validate(s.as_bytes()), Err(Error::TooDeep));
        // 100,000 levels: rejected without recursion.
        let s = format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
        assert_eq!(validate(s.as_bytes()), Err(Error::TooDeep));
    }

    #[test]
    fn value_end_on_lenient_values() {
        let s = br#"{"a":"x\"}","b":[1,{"c":"]"}],"n":NaN,"m":-Inf ,"t":true}"#;
        assert_eq!(value_end(s, 0), s.len());
        assert_eq!(&s[5..value_end(s, 5)], br#""x\"}""#);
        assert_eq!(&s[16..value_end(s, 16)], br#"[1,{"c":"]"}]"#);
        let n = memchr::memmem::find(s, b"NaN").unwrap();
        assert_eq!(value_end(s, n), n + 3);
        let m = memchr::memmem::find(s, b"-Inf").unwrap();
        assert_eq!(value_end(s, m), m + 4);
    }

    fn un(s: &str) -> Vec<u8> {
        let mut v = Vec::new();
        unescape(s.as_bytes(), &mut v);
        v
    }

    #[test]
    fn unescape_like_fastjson() {
        assert_eq!(un(r#"a\"b\\c\/d\n\t\r\b\f"#), b"a\"b\\c/d\n\t\r\x08\x0c");
        assert_eq!(un(r#"\u00e9\u0041"#), "éA".as_bytes());
        assert_eq!(un(r#"\ud83d\ude00"#), "😀".as_bytes());
        assert_eq!(un(r#"\ud83d\u0041"#), "\u{fffd}".as_bytes());
        assert_eq!(un(r#"\ud83dx"#), br"\ud83dx");
        assert_eq!(un(r#"\u12"#), br"\u12");
        assert_eq!(un(r#"\uzzzz"#), br"\uzzzz");
        assert_eq!(un(r#"\q"#), br"\q");
        assert_eq!(un(r#"\u0000x"#), b"\0x");
        assert_eq!(un("plain"), b"plain");
    }
}
