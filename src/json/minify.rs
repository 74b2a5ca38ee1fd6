//! Compact form of a value's original text (difference D4).
//!
//! Upstream re-serialises `ct.request`, `ct.response`, `ct.additionaleventdata` and
//! `ct.resources` with fastjson, whose string escapes depend on which other fields were
//! extracted first. This plugin always emits the original bytes with the whitespace
//! outside strings removed: key order, duplicate keys, number text and string escapes
//! are exactly as in the record, whatever else was extracted.

use super::lenient::{is_ws, string_end};

/// Appends `raw` to `out` without the whitespace that lies outside strings.
pub fn minify_into(raw: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c == b'"' {
            let end = string_end(raw, i + 1).map_or(raw.len(), |q| q + 1);
            out.extend_from_slice(&raw[i..end]);
            i = end;
        } else if is_ws(c) {
            i += 1;
        } else {
            // Copy the run up to the next string or whitespace byte in one go.
            let mut j = i + 1;
            while j < raw.len() && raw[j] != b'"' && !is_ws(raw[j]) {
                j += 1;
            }
            out.extend_from_slice(&raw[i..j]);
            i = j;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> String {
        let mut out = Vec::new();
        minify_into(s.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn keeps_strings_numbers_and_order() {
        assert_eq!(
            m("{\n  \"b\" : 1.50 ,\r\n\t\"a\": [ 1E3, \"x \\\" y\" ],\n  \"b\": null }"),
            r#"{"b":1.50,"a":[1E3,"x \" y"],"b":null}"#
        );
        assert_eq!(
            m(r#"{"p":"{\"Version\": \"2012\"}"}"#),
            r#"{"p":"{\"Version\": \"2012\"}"}"#
        );
        assert_eq!(m("null"), "null");
        assert_eq!(
            m("{ \"a\" : \"ends with backslash \\\\\" }"),
            r#"{"a":"ends with backslash \\"}"#
        );
    }
}
