//! How fastjson writes a string it has decoded: as is between quotes when it holds no
//! `"`, `\` or control byte, else with Go's `strconv.AppendQuote` (Go escapes, which
//! are not always JSON: `\x01`, `\a`, `\v`, `\U0001f600` for a non-printable rune).

/// fastjson's `escapeString`.
pub fn escape_string(s: &[u8], out: &mut Vec<u8>) {
    let special = s.iter().any(|&b| b == b'"' || b == b'\\' || b < 0x20);
    if special {
        go_quote(s, out);
    } else {
        out.push(b'"');
        out.extend_from_slice(s);
        out.push(b'"');
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(out: &mut Vec<u8>, v: u32, digits: u32) {
    for i in (0..digits).rev() {
        out.push(HEX[((v >> (4 * i)) & 0xf) as usize]);
    }
}

/// Go's `strconv.AppendQuote`: invalid UTF-8 bytes as `\xNN`, printable runes as
/// they are, the rest escaped.
pub fn go_quote(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    let mut rest = s;
    while !rest.is_empty() {
        let (c, width) = decode_utf8(rest);
        let Some(c) = c else {
            out.extend_from_slice(b"\\x");
            push_hex(out, u32::from(rest[0]), 2);
            rest = &rest[1..];
            continue;
        };
        rest = &rest[width..];
        match c {
            '"' | '\\' => {
                out.push(b'\\');
                out.push(c as u8);
            }
            c if is_print(c) => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            '\x07' => out.extend_from_slice(b"\\a"),
            '\x08' => out.extend_from_slice(b"\\b"),
            '\x0c' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\x0b' => out.extend_from_slice(b"\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.extend_from_slice(b"\\x");
                push_hex(out, c as u32, 2);
            }
            c if (c as u32) < 0x10000 => {
                out.extend_from_slice(b"\\u");
                push_hex(out, c as u32, 4);
            }
            c => {
                out.extend_from_slice(b"\\U");
                push_hex(out, c as u32, 8);
            }
        }
    }
    out.push(b'"');
}

/// One UTF-8 sequence at the start of `s`, as Go's `utf8.DecodeRune` reads it:
/// `None` (width 1) for an invalid, overlong, surrogate or truncated sequence.
fn decode_utf8(s: &[u8]) -> (Option<char>, usize) {
    let b0 = s[0];
    let width = match b0 {
        0x00..=0x7f => return (Some(char::from(b0)), 1),
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return (None, 1),
    };
    match s.get(..width).map(std::str::from_utf8) {
        Some(Ok(t)) => (t.chars().next(), width),
        _ => (None, 1),
    }
}

/// Go's `strconv.IsPrint` (letters, marks, numbers, punctuation, symbols and the
/// ASCII space). Outside ASCII this lists the separators, format characters, private
/// use planes and noncharacters; code points Unicode leaves unassigned are taken as
/// printable (Go's tables would escape them), a difference only for text that no
/// current encoder writes.
pub fn is_print(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return (0x20..0x7f).contains(&u);
    }
    !matches!(u,
        0x80..=0xa0
        | 0xad
        | 0x600..=0x605
        | 0x61c
        | 0x6dd
        | 0x70f
        | 0x890..=0x891
        | 0x8e2
        | 0x1680
        | 0x180e
        | 0x2000..=0x200f
        | 0x2028..=0x202f
        | 0x205f..=0x206f
        | 0x3000
        | 0xe000..=0xf8ff
        | 0xfdd0..=0xfdef
        | 0xfeff
        | 0xfff0..=0xfffb
        | 0xfffe..=0xffff
        | 0x110bd
        | 0x110cd
        | 0x13430..=0x1343f
        | 0x1bca0..=0x1bca3
        | 0x1d173..=0x1d17a
        | 0xe0000..=0xe00ff
        | 0xe01f0..=0x10ffff)
        && (u & 0xfffe) != 0xfffe
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &[u8]) -> String {
        let mut out = Vec::new();
        escape_string(s, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn plain_strings_are_written_as_they_are() {
        assert_eq!(esc(b"abc"), r#""abc""#);
        // No special byte: not even invalid UTF-8 or U+2028 is touched.
        assert_eq!(esc("é\u{2028}".as_bytes()), "\"é\u{2028}\"");
        let mut out = Vec::new();
        escape_string(b"a\xffb", &mut out);
        assert_eq!(out, b"\"a\xffb\"");
    }

    #[test]
    fn special_strings_take_go_quoting() {
        assert_eq!(esc(br#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(esc(b"a\\b"), r#""a\\b""#);
        assert_eq!(
            esc(b"\x01\x07\x08\x0b\x0c\n\r\t\x7f\""),
            r#""\x01\a\b\v\f\n\r\t\x7f\"""#
        );
        // Once quoting, Go escapes invalid bytes and non-printable runes too.
        assert_eq!(esc(b"\"\xff"), r#""\"\xff""#);
        assert_eq!(
            esc("\"é\u{a0}\u{2028}\u{feff}😀\u{10fffd}".as_bytes()),
            "\"\\\"é\\u00a0\\u2028\\ufeff😀\\U0010fffd\""
        );
        // A surrogate encoded in UTF-8 is invalid: one \x per byte.
        assert_eq!(esc(b"\"\xed\xa0\x80"), r#""\"\xed\xa0\x80""#);
    }
}
