//! fastjson's `MarshalTo`, which upstream uses for every non-string answer: compact
//! (no whitespace), numbers and undecoded strings and keys exactly as written, decoded
//! ones re-quoted ([`crate::quote::escape_string`]).

use cloudtrail_json::lenient::unescape;
use cloudtrail_json::{Kind, View};

use crate::pointer::Marks;
use crate::quote::escape_string;

/// Appends value `id` as fastjson would write it. Recursion is bounded by the
/// parser's depth limit (300, checked before any lookup).
pub fn marshal<V: View<Id = u32>>(v: &V, marks: &Marks, id: u32, out: &mut Vec<u8>) {
    match v.kind(id) {
        Kind::Object => {
            let decoded = marks.decoded_keys.contains(&id);
            out.push(b'{');
            let mut first = true;
            v.each_member_raw(id, &mut |raw, val| {
                if !first {
                    out.push(b',');
                }
                first = false;
                if decoded {
                    quote_decoded(raw, out);
                } else {
                    out.push(b'"');
                    out.extend_from_slice(raw);
                    out.push(b'"');
                }
                out.push(b':');
                marshal(v, marks, val, out);
                true
            });
            out.push(b'}');
        }
        Kind::Array => {
            out.push(b'[');
            let mut first = true;
            v.each_element(id, &mut |e| {
                if !first {
                    out.push(b',');
                }
                first = false;
                marshal(v, marks, e, out);
                true
            });
            out.push(b']');
        }
        Kind::String if marks.decoded_strings.contains(&id) => {
            let raw = v.raw(id);
            quote_decoded(raw.get(1..raw.len() - 1).unwrap_or_default(), out);
        }
        Kind::True => out.extend_from_slice(b"true"),
        Kind::False => out.extend_from_slice(b"false"),
        Kind::Null => out.extend_from_slice(b"null"),
        // Undecoded strings (with their quotes) and numbers: their text.
        Kind::String | Kind::Number => out.extend_from_slice(v.raw(id)),
    }
}

fn quote_decoded(raw: &[u8], out: &mut Vec<u8>) {
    if raw.contains(&b'\\') {
        let mut text = Vec::with_capacity(raw.len());
        unescape(raw, &mut text);
        escape_string(&text, out);
    } else {
        escape_string(raw, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pointer::lookup;
    use cloudtrail_json::lazy::LazyView;

    fn value(v: &LazyView<'_>, m: &mut Marks, p: &str) -> String {
        let id = lookup(v, m, p.as_bytes()).unwrap();
        let mut out = Vec::new();
        if v.kind(id) == Kind::String {
            m.decode_string(id);
        }
        marshal(v, m, id, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn compact_and_as_written_until_decoded() {
        let text = br#"{ "a" : [ 1.50 , -0 , 1e3 , true , false , null , "x\/y" ] ,
            "k\u0041" : { "s" : "\u00e9\"" } }"#;
        let v = LazyView::new(text);
        let mut m = Marks::default();
        assert_eq!(
            value(&v, &mut m, ""),
            r#"{"a":[1.50,-0,1e3,true,false,null,"x\/y"],"k\u0041":{"s":"\u00e9\""}}"#
        );
        // Returning the string decodes it; the object it is in is re-written.
        assert_eq!(value(&v, &mut m, "/a/6"), r#""x/y""#);
        // A miss decodes the keys of the object it missed in.
        assert!(lookup(&v, &mut m, b"/kA/missing").is_none());
        assert_eq!(value(&v, &mut m, "/kA/s"), r#""é\"""#);
        assert_eq!(
            value(&v, &mut m, ""),
            r#"{"a":[1.50,-0,1e3,true,false,null,"x/y"],"kA":{"s":"é\""}}"#
        );
    }
}
