//! Lookups that walk the record's bytes on demand, with upstream's lenient grammar.
//!
//! Used for the records the strict tape cannot index (NaN, raw control bytes, invalid
//! UTF-8, numbers out of range, ...) and for very large records, where an index would
//! cost memory proportional to the record. Each lookup costs a scan of the objects on
//! its path, which is fine for these rare records. Callers validate the text with
//! [`super::lenient::validate`] first; on other input the answers are merely
//! unspecified, never a panic.

use std::borrow::Cow;

use super::lenient::{skip_ws, string_end, unescape, value_end};
use super::number::raw_number_u64;
use super::{Kind, Span, View, key_eq};

/// A record viewed through its original bytes; `Id` is a value's start offset.
pub struct LazyView<'a> {
    payload: &'a [u8],
    root: u32,
}

impl<'a> LazyView<'a> {
    pub fn new(payload: &'a [u8]) -> Self {
        let root = skip_ws(payload, 0) as u32;
        LazyView { payload, root }
    }

    /// Unescaped text of the string whose opening quote is at `at`.
    fn string_text(&self, at: usize) -> Cow<'a, [u8]> {
        let s = self.payload;
        let end = string_end(s, at + 1).unwrap_or(s.len());
        let raw = &s[(at + 1).min(end)..end];
        if memchr::memchr(b'\\', raw).is_none() {
            Cow::Borrowed(raw)
        } else {
            let mut out = Vec::with_capacity(raw.len());
            unescape(raw, &mut out);
            Cow::Owned(out)
        }
    }

    /// Iterates `(key quote offset, value offset)` pairs of the object at `obj`.
    fn members(&self, obj: usize, f: &mut dyn FnMut(usize, usize) -> bool) {
        let s = self.payload;
        if s.get(obj) != Some(&b'{') {
            return;
        }
        let mut i = skip_ws(s, obj + 1);
        while s.get(i) == Some(&b'"') {
            let Some(q) = string_end(s, i + 1) else {
                return;
            };
            let colon = skip_ws(s, q + 1);
            if s.get(colon) != Some(&b':') {
                return;
            }
            let v = skip_ws(s, colon + 1);
            if v >= s.len() || !f(i, v) {
                return;
            }
            let after = skip_ws(s, value_end(s, v));
            if s.get(after) != Some(&b',') {
                return;
            }
            i = skip_ws(s, after + 1);
        }
    }
}

impl View for LazyView<'_> {
    type Id = u32;

    fn payload(&self) -> &[u8] {
        self.payload
    }

    fn root(&self) -> u32 {
        self.root
    }

    fn kind(&self, id: u32) -> Kind {
        let s = self.payload;
        let i = id as usize;
        match s.get(i) {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b'"') => Kind::String,
            Some(b't') => Kind::True,
            Some(b'f') => Kind::False,
            Some(b'n') if s.get(i..i + 4) == Some(b"null") => Kind::Null,
            _ => Kind::Number,
        }
    }

    fn span(&self, id: u32) -> Span {
        Span {
            start: id,
            end: value_end(self.payload, id as usize) as u32,
        }
    }

    fn member(&self, obj: u32, key: &str) -> Option<u32> {
        let s = self.payload;
        let key = key.as_bytes();
        let mut found = None;
        self.members(obj as usize, &mut |k, v| {
            let end = string_end(s, k + 1).unwrap_or(s.len());
            let raw = &s[k + 1..end];
            let hit = if memchr::memchr(b'\\', raw).is_none() {
                key_eq(raw, key)
            } else {
                let mut un = Vec::with_capacity(raw.len());
                unescape(raw, &mut un);
                un == key
            };
            if hit {
                found = Some(v as u32);
            }
            !hit
        });
        found
    }

    fn text(&self, id: u32) -> Option<Cow<'_, [u8]>> {
        (self.kind(id) == Kind::String).then(|| self.string_text(id as usize))
    }

    fn number_u64(&self, id: u32) -> u64 {
        if self.kind(id) == Kind::Number {
            raw_number_u64(self.raw(id))
        } else {
            0
        }
    }

    fn each_element(&self, arr: u32, f: &mut dyn FnMut(u32) -> bool) {
        let s = self.payload;
        let arr = arr as usize;
        if s.get(arr) != Some(&b'[') {
            return;
        }
        let mut i = skip_ws(s, arr + 1);
        while i < s.len() && s[i] != b']' {
            if !f(i as u32) {
                return;
            }
            let after = skip_ws(s, value_end(s, i));
            if s.get(after) != Some(&b',') {
                return;
            }
            i = skip_ws(s, after + 1);
        }
    }

    fn each_member(&self, obj: u32, f: &mut dyn FnMut(&[u8], u32) -> bool) {
        self.members(obj as usize, &mut |k, v| f(&self.string_text(k), v as u32));
    }

    fn each_member_raw(&self, obj: u32, f: &mut dyn FnMut(&[u8], u32) -> bool) {
        let s = self.payload;
        self.members(obj as usize, &mut |k, v| {
            let end = string_end(s, k + 1).unwrap_or(s.len());
            f(&s[(k + 1).min(end)..end], v as u32)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_on_lenient_text() {
        let rec = br#" {"a" : {"b":NaN, "c" : "x\u0041\q"}, "l":[1, "two", {"t":true}], "a":2, "k\u0065y":null}"#;
        let v = LazyView::new(rec);
        assert_eq!(v.kind(v.root()), Kind::Object);
        let b = v.path(&["a", "b"]).unwrap();
        assert_eq!(v.kind(b), Kind::Number);
        assert_eq!(v.raw(b), b"NaN");
        let c = v.path(&["a", "c"]).unwrap();
        assert_eq!(v.text(c).unwrap().as_ref(), br"xA\q");
        assert_eq!(v.raw(c), br#""x\u0041\q""#);
        let l = v.path(&["l"]).unwrap();
        assert_eq!(v.element_count(l), 3);
        let third = v.element(l, 2).unwrap();
        assert_eq!(v.kind(v.member(third, "t").unwrap()), Kind::True);
        assert_eq!(v.kind(v.path(&["key"]).unwrap()), Kind::Null);
        assert!(v.path(&["missing"]).is_none());
        assert!(v.path(&["l", "x"]).is_none());
        let mut keys = Vec::new();
        v.each_member(v.root(), &mut |k, _| {
            keys.push(String::from_utf8_lossy(k).into_owned());
            true
        });
        assert_eq!(keys, ["a", "l", "a", "key"]);
    }
}
