//! Read-only access to one CloudTrail record.
//!
//! Two implementations answer the same questions: [`tape::TapeIndex`], built once per
//! event from a simd-json tape (strict JSON, the fast path), and [`lazy::LazyView`],
//! which walks the original bytes with upstream's lenient grammar (records simd-json
//! rejects, and records too large to index). Field rules are written once against
//! [`View`] and therefore give identical answers on both paths.

pub mod doc;
pub mod lazy;
pub mod lenient;
pub mod minify;
pub mod number;
pub mod tape;

use std::borrow::Cow;

/// A string value's text as a Rust `String` (invalid UTF-8 replaced), moving text
/// that was already decoded rather than copying it again.
pub fn into_string(text: Cow<'_, [u8]>) -> String {
    match text {
        Cow::Owned(bytes) => String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        // `from_utf8` checks a word at a time; the lossy conversion byte by byte.
        Cow::Borrowed(bytes) => match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        },
    }
}

/// The JSON type of a value, as the field rules need to distinguish it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Object,
    Array,
    String,
    Number,
    True,
    False,
    Null,
}

/// Equality for object keys: keys are short, and a `memcmp` call costs more than
/// comparing them as two overlapping loads of the widest size that fits.
#[inline]
pub fn key_eq(a: &[u8], b: &[u8]) -> bool {
    // Both at least `W` long (checked by the caller): the chunks are never `None`.
    fn two<const W: usize>(a: &[u8], b: &[u8]) -> bool {
        a.first_chunk::<W>() == b.first_chunk::<W>() && a.last_chunk::<W>() == b.last_chunk::<W>()
    }
    if a.len() != b.len() {
        return false;
    }
    match a.len() {
        4..8 => two::<4>(a, b),
        8..16 => two::<8>(a, b),
        16..=32 => two::<16>(a, b),
        _ => a == b,
    }
}

/// A value's byte range in the record payload (`end` exclusive). Strings include
/// their quotes, containers their brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn len(self) -> u32 {
        self.end - self.start
    }

    pub fn is_empty(self) -> bool {
        self.end == self.start
    }
}

/// Lookups on one record. `Id` is a cheap handle to a value inside it.
pub trait View {
    type Id: Copy;

    /// The record's original bytes, which every [`Span`] indexes.
    fn payload(&self) -> &[u8];
    fn root(&self) -> Self::Id;
    fn kind(&self, id: Self::Id) -> Kind;
    fn span(&self, id: Self::Id) -> Span;
    /// First member named `key` (compared after unescaping), if `obj` is an object.
    fn member(&self, obj: Self::Id, key: &str) -> Option<Self::Id>;
    /// The unescaped text of a string value; `None` for every other kind.
    fn text(&self, id: Self::Id) -> Option<Cow<'_, [u8]>>;
    /// A number's value as upstream converts it to `uint64` (0 for non-numbers).
    fn number_u64(&self, id: Self::Id) -> u64;
    /// Calls `f` on each element of an array, in order, until it returns `false`.
    fn each_element(&self, arr: Self::Id, f: &mut dyn FnMut(Self::Id) -> bool);
    /// Calls `f` on each member of an object with its unescaped key, until `f` returns `false`.
    fn each_member(&self, obj: Self::Id, f: &mut dyn FnMut(&[u8], Self::Id) -> bool);
    /// Like [`View::each_member`], with each key as written between its quotes (escapes
    /// not decoded): the json plugin mirrors fastjson, which compares keys that way first.
    fn each_member_raw(&self, obj: Self::Id, f: &mut dyn FnMut(&[u8], Self::Id) -> bool);

    /// Walks `keys` from `from` through objects only (an array or scalar on the way
    /// means "missing", as upstream's `Get` does for non-numeric keys).
    fn path_from(&self, from: Self::Id, keys: &[&str]) -> Option<Self::Id> {
        let mut cur = from;
        for key in keys {
            cur = self.member(cur, key)?;
        }
        Some(cur)
    }

    fn path(&self, keys: &[&str]) -> Option<Self::Id> {
        self.path_from(self.root(), keys)
    }

    /// The `i`-th element of an array.
    fn element(&self, arr: Self::Id, i: usize) -> Option<Self::Id> {
        let mut n = 0;
        let mut found = None;
        self.each_element(arr, &mut |id| {
            if n == i {
                found = Some(id);
                return false;
            }
            n += 1;
            true
        });
        found
    }

    /// The number of elements of an array (0 for any other kind).
    fn element_count(&self, arr: Self::Id) -> usize {
        let mut n = 0;
        self.each_element(arr, &mut |_| {
            n += 1;
            true
        });
        n
    }

    /// The original JSON text of a value.
    fn raw(&self, id: Self::Id) -> &[u8] {
        let s = self.span(id);
        self.payload()
            .get(s.start as usize..s.end as usize)
            .unwrap_or_default()
    }
}

/// Appends `s` as a JSON string literal (for the few request bodies the plugin writes).
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    #[test]
    fn key_eq_agrees_with_slice_equality() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(super::key_eq(&a, &a.clone()), "len {n}");
            assert!(!super::key_eq(&a, &a[..n.saturating_sub(1)]) || n == 0);
            for i in 0..n {
                let mut b = a.clone();
                b[i] ^= 0x20;
                assert!(!super::key_eq(&a, &b), "len {n}, byte {i}");
            }
        }
    }

    #[test]
    fn write_string_round_trips() {
        let s = "a\"b\\c\nd\u{1}é/";
        let mut out = String::new();
        super::write_string(&mut out, s);
        assert_eq!(out, r#""a\"b\\c\nd\u0001é/""#);
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, s);
    }
}
