//! `json.value[<pointer>]`: upstream's walk over the parsed payload.
//!
//! Upstream drops one leading `/`, splits the rest on `/`, turns `~1` into `/` and then
//! `~0` into `~` in each part, and asks fastjson's `Get` for each part: a member of an
//! object, an element of an array (the part read by Go's `strconv.Atoi`), nothing
//! below a scalar. An empty pointer names the whole payload.

use std::borrow::Cow;

use cloudtrail_json::lenient::unescape;
use cloudtrail_json::{Kind, View};

/// What fastjson has decoded so far on the current event. Its object keys are
/// decoded on the first lookup that misses the raw keys; a string is decoded when a
/// request returns it. A decoded key or string is re-serialised with Go quoting
/// ([`crate::quote`]) instead of as written, so later answers depend on these marks.
/// Both lists hold value ids of one view and are cleared when the event changes; a
/// request adds at most one string and one object per pointer step.
#[derive(Debug, Default)]
pub struct Marks {
    pub decoded_keys: Vec<u32>,
    pub decoded_strings: Vec<u32>,
}

impl Marks {
    pub fn clear(&mut self) {
        self.decoded_keys.clear();
        self.decoded_strings.clear();
    }

    fn decode_keys(&mut self, obj: u32) {
        if !self.decoded_keys.contains(&obj) {
            self.decoded_keys.push(obj);
        }
    }

    pub fn decode_string(&mut self, s: u32) {
        if !self.decoded_strings.contains(&s) {
            self.decoded_strings.push(s);
        }
    }
}

/// The steps of a pointer, as upstream splits and unescapes them (bytes, as Go
/// strings are: a pointer need not be UTF-8).
pub fn steps(arg: &[u8]) -> impl Iterator<Item = Cow<'_, [u8]>> {
    let rest = arg.strip_prefix(b"/").unwrap_or(arg);
    // An empty argument walks no step at all; "/" walks one empty step.
    let parts = (!arg.is_empty()).then(|| rest.split(|&b| b == b'/'));
    parts.into_iter().flatten().map(|p| {
        if p.contains(&b'~') {
            Cow::Owned(replace(&replace(p, b"~1", b"/"), b"~0", b"~"))
        } else {
            Cow::Borrowed(p)
        }
    })
}

/// Go's `strings.Replace(s, from, to, -1)` for a two-byte `from`.
fn replace(s: &[u8], from: &[u8; 2], to: &[u8; 1]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += 2;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// The value `arg` names, if any.
pub fn lookup<V: View<Id = u32>>(v: &V, marks: &mut Marks, arg: &[u8]) -> Option<u32> {
    let mut cur = v.root();
    for step in steps(arg) {
        cur = get(v, marks, cur, &step)?;
    }
    Some(cur)
}

/// fastjson's `Value.Get` for one key.
fn get<V: View<Id = u32>>(v: &V, marks: &mut Marks, cur: u32, key: &[u8]) -> Option<u32> {
    match v.kind(cur) {
        Kind::Object => member(v, marks, cur, key),
        Kind::Array => {
            let i = go_atoi(key)?;
            usize::try_from(i).ok().and_then(|i| v.element(cur, i))
        }
        _ => None,
    }
}

/// fastjson's `Object.Get`: first the keys as written (unless they were decoded
/// before, or the key has a backslash); on a miss it decodes every key of the object
/// for good and looks again. The first matching member wins.
fn member<V: View<Id = u32>>(v: &V, marks: &mut Marks, obj: u32, key: &[u8]) -> Option<u32> {
    let mut found = None;
    if !marks.decoded_keys.contains(&obj) && !key.contains(&b'\\') {
        v.each_member_raw(obj, &mut |raw, id| {
            if raw == key {
                found = Some(id);
            }
            found.is_none()
        });
        if found.is_some() {
            return found;
        }
    }
    marks.decode_keys(obj);
    let mut text = Vec::new();
    v.each_member_raw(obj, &mut |raw, id| {
        let hit = if raw.contains(&b'\\') {
            text.clear();
            unescape(raw, &mut text);
            text == key
        } else {
            raw == key
        };
        if hit {
            found = Some(id);
        }
        !hit
    });
    found
}

/// Go's `strconv.Atoi` on a 64-bit platform: an optional sign, then at least one
/// decimal digit, nothing else, within `i64`.
pub fn go_atoi(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: i64 = 0;
    for &b in digits {
        let d = i64::from(b - b'0');
        n = n.checked_mul(10)?;
        n = if neg {
            n.checked_sub(d)?
        } else {
            n.checked_add(d)?
        };
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudtrail_json::lazy::LazyView;

    fn steps_of(arg: &str) -> Vec<String> {
        steps(arg.as_bytes())
            .map(|s| String::from_utf8(s.into_owned()).unwrap())
            .collect()
    }

    #[test]
    fn pointers_split_as_upstream() {
        assert!(steps_of("").is_empty());
        assert_eq!(steps_of("/"), [""]);
        assert_eq!(steps_of("//"), ["", ""]);
        assert_eq!(steps_of("eventName"), ["eventName"]);
        assert_eq!(steps_of("/a/b/"), ["a", "b", ""]);
        assert_eq!(steps_of("/a~1b"), ["a/b"]);
        assert_eq!(steps_of("/a~0b"), ["a~b"]);
        // `~1` is replaced first: "~01" is "~1" afterwards, not "/".
        assert_eq!(steps_of("/~01"), ["~1"]);
    }

    #[test]
    fn atoi_is_go_strconv() {
        assert_eq!(go_atoi(b"0"), Some(0));
        assert_eq!(go_atoi(b"00"), Some(0));
        assert_eq!(go_atoi(b"+1"), Some(1));
        assert_eq!(go_atoi(b"-0"), Some(0));
        assert_eq!(go_atoi(b"-1"), Some(-1));
        assert_eq!(go_atoi(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(go_atoi(b"-9223372036854775808"), Some(i64::MIN));
        for bad in ["", "-", "+", "1x", " 1", "1_0", "9223372036854775808", "٣"] {
            assert_eq!(go_atoi(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn raw_keys_first_then_decoded_keys() {
        // fastjson finds the raw "ab" before decoding; once decoded, the first
        // member whose decoded key matches wins.
        let text = br#"{"a\u0062":1,"ab":2,"c":{"d":[10,20]}}"#;
        let v = LazyView::new(text);
        let mut m = Marks::default();
        let at = |m: &mut Marks, p: &str| lookup(&v, m, p.as_bytes()).map(|id| v.raw(id).to_vec());
        assert_eq!(at(&mut m, "/ab").as_deref(), Some(&b"2"[..]));
        assert!(m.decoded_keys.is_empty());
        assert_eq!(at(&mut m, "/zz"), None);
        assert_eq!(m.decoded_keys, [v.root()]);
        assert_eq!(at(&mut m, "/ab").as_deref(), Some(&b"1"[..]));
        assert_eq!(at(&mut m, "/c/d/1").as_deref(), Some(&b"20"[..]));
        assert_eq!(at(&mut m, "/c/d/01").as_deref(), Some(&b"20"[..]));
        assert_eq!(at(&mut m, "/c/d/-0").as_deref(), Some(&b"10"[..]));
        assert_eq!(at(&mut m, "/c/d/2"), None);
        assert_eq!(at(&mut m, "/c/d/-1"), None);
        assert_eq!(at(&mut m, "/c/d/x"), None);
        assert_eq!(at(&mut m, "").as_deref(), Some(&text[..]));
        assert_eq!(at(&mut m, "/"), None);
    }
}
