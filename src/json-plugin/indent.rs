//! `json.obj`: Go's `json.Indent(dst, payload, "", "  ")`, which upstream returns.
//!
//! Go validates strictly while indenting (RFC 8259 numbers and escapes, no control
//! bytes in strings, but any bytes ≥ 0x80) and reports an error instead of output,
//! which upstream turns into "no value": so a record with `NaN`, which the lenient
//! parser accepts, has `json.value` answers but no `json.obj`. Tokens are copied as
//! written; whitespace between them is replaced by newlines and two-space indents;
//! whitespace after the top-level value is kept, as Go keeps it.

use cloudtrail_json::lenient::{is_ws, skip_ws};

/// Go's scanner refuses deeper nesting.
const MAX_NESTING: usize = 10_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    /// A value (after `:` or `,` in an array, or at the top).
    Value,
    /// A value or `]` (just after `[`).
    FirstElement,
    /// A key or `}` (just after `{`).
    FirstKey,
    /// A key (after `,` in an object).
    Key,
    /// `,`, a closing bracket, or the end of the text.
    Next,
}

/// Writes the indented text to `out` and returns true, or returns false (with `out`
/// truncated to its length on entry) where Go reports an error.
pub fn indent(src: &[u8], out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let ok = indent_into(src, out);
    if !ok {
        out.truncate(start);
    }
    ok
}

fn newline(out: &mut Vec<u8>, depth: usize) {
    out.push(b'\n');
    out.resize(out.len() + 2 * depth, b' ');
}

fn indent_into(src: &[u8], out: &mut Vec<u8>) -> bool {
    let mut stack: Vec<u8> = Vec::new();
    let mut want = Want::Value;
    let mut i = skip_ws(src, 0);
    loop {
        if want != Want::Next {
            i = skip_ws(src, i);
        }
        match want {
            Want::FirstElement if src.get(i) == Some(&b']') => {
                stack.pop();
                out.push(b']');
                i += 1;
                want = Want::Next;
                continue;
            }
            Want::FirstKey if src.get(i) == Some(&b'}') => {
                stack.pop();
                out.push(b'}');
                i += 1;
                want = Want::Next;
                continue;
            }
            Want::FirstKey | Want::Key => {
                if want == Want::FirstKey {
                    newline(out, stack.len());
                }
                let Some(end) = string(src, i) else {
                    return false;
                };
                out.extend_from_slice(&src[i..end]);
                i = skip_ws(src, end);
                if src.get(i) != Some(&b':') {
                    return false;
                }
                out.extend_from_slice(b": ");
                i += 1;
                want = Want::Value;
                continue;
            }
            Want::Value | Want::FirstElement => {
                if want == Want::FirstElement {
                    newline(out, stack.len());
                }
                let Some(&c) = src.get(i) else {
                    return false;
                };
                if c == b'{' || c == b'[' {
                    if stack.len() >= MAX_NESTING {
                        return false;
                    }
                    stack.push(c);
                    out.push(c);
                    i += 1;
                    want = if c == b'{' {
                        Want::FirstKey
                    } else {
                        Want::FirstElement
                    };
                    continue;
                }
                let Some(end) = scalar(src, i) else {
                    return false;
                };
                out.extend_from_slice(&src[i..end]);
                i = end;
                want = Want::Next;
            }
            Want::Next => {
                let Some(&open) = stack.last() else {
                    // After the top-level value: only whitespace, copied.
                    let tail = &src[i..];
                    if !tail.iter().all(|&b| is_ws(b)) {
                        return false;
                    }
                    out.extend_from_slice(tail);
                    return true;
                };
                i = skip_ws(src, i);
                match src.get(i) {
                    Some(b',') => {
                        out.push(b',');
                        newline(out, stack.len());
                        want = if open == b'{' { Want::Key } else { Want::Value };
                    }
                    Some(&c) if (open == b'{' && c == b'}') || (open == b'[' && c == b']') => {
                        stack.pop();
                        newline(out, stack.len());
                        out.push(c);
                    }
                    _ => return false,
                }
                i += 1;
            }
        }
    }
}

/// End (exclusive) of a strict JSON string starting at `i`.
fn string(s: &[u8], i: usize) -> Option<usize> {
    if s.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    loop {
        match *s.get(j)? {
            b'"' => return Some(j + 1),
            b'\\' => {
                match *s.get(j + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => j += 2,
                    b'u' => {
                        let hex = s.get(j + 2..j + 6)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        j += 6;
                    }
                    _ => return None,
                }
                continue;
            }
            c if c < 0x20 => return None,
            _ => j += 1,
        }
    }
}

/// End (exclusive) of a strict scalar (string, number, literal) starting at `i`.
fn scalar(s: &[u8], i: usize) -> Option<usize> {
    match *s.get(i)? {
        b'"' => string(s, i),
        b't' => s[i..].starts_with(b"true").then_some(i + 4),
        b'f' => s[i..].starts_with(b"false").then_some(i + 5),
        b'n' => s[i..].starts_with(b"null").then_some(i + 4),
        b'-' | b'0'..=b'9' => number(s, i),
        _ => None,
    }
}

fn digits(s: &[u8], mut j: usize) -> usize {
    while s.get(j).is_some_and(u8::is_ascii_digit) {
        j += 1;
    }
    j
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
fn number(s: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    if s.get(j) == Some(&b'-') {
        j += 1;
    }
    match *s.get(j)? {
        b'0' => j += 1,
        b'1'..=b'9' => j = digits(s, j),
        _ => return None,
    }
    if s.get(j) == Some(&b'.') {
        let k = digits(s, j + 1);
        if k == j + 1 {
            return None;
        }
        j = k;
    }
    if matches!(s.get(j), Some(b'e' | b'E')) {
        j += 1;
        if matches!(s.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let k = digits(s, j);
        if k == j {
            return None;
        }
        j = k;
    }
    Some(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ind(s: &str) -> Option<String> {
        let mut out = b"keep".to_vec();
        let ok = indent(s.as_bytes(), &mut out);
        assert!(out.starts_with(b"keep"));
        ok.then(|| String::from_utf8(out[4..].to_vec()).unwrap())
    }

    #[test]
    fn indents_like_go() {
        assert_eq!(ind("{}").unwrap(), "{}");
        assert_eq!(ind("[ ]").unwrap(), "[]");
        assert_eq!(
            ind(r#"{"a":1,"b":[true,{"c":null},[]],"d":{}}"#).unwrap(),
            "{\n  \"a\": 1,\n  \"b\": [\n    true,\n    {\n      \"c\": null\n    },\n    []\n  ],\n  \"d\": {}\n}"
        );
        // Whitespace inside goes, after the value stays; strings are untouched.
        assert_eq!(
            ind("{ \"a b\" :\t\"x\\u00e9\\/\" }\n ").unwrap(),
            "{\n  \"a b\": \"x\\u00e9\\/\"\n}\n "
        );
        assert_eq!(
            ind("[-0.5e+7,0,1E2]").unwrap(),
            "[\n  -0.5e+7,\n  0,\n  1E2\n]"
        );
        assert_eq!(ind("[\"\u{ff}\"]").unwrap(), "[\n  \"\u{ff}\"\n]");
    }

    #[test]
    fn rejects_what_go_rejects() {
        for bad in [
            "",
            "{",
            "{\"a\":NaN}",
            "[01]",
            "[1.]",
            "[.5]",
            "[1e]",
            "[+1]",
            "[tru]",
            "[nul]",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "[1,]",
            "{,}",
            "{\"a\":1}x",
            "[\"\\x\"]",
            "[\"\\u12g4\"]",
            "[\"a\tb\"]",
            "{'a':1}",
            "[1}",
            "{\"a\":1]",
            "{1:2}",
        ] {
            assert_eq!(ind(bad), None, "{bad:?}");
        }
        let deep = "[".repeat(MAX_NESTING + 1) + &"]".repeat(MAX_NESTING + 1);
        assert_eq!(ind(&deep), None);
        let ok = "[".repeat(MAX_NESTING) + &"]".repeat(MAX_NESTING);
        assert!(ind(&ok).is_some());
    }
}
