//! One state's extraction: the payload of the current event, parsed once, and the
//! answers to the six fields.
//!
//! Upstream reads the payload only if its first byte is `{` or `[`, and parses it with
//! fastjson; when either fails, every field of the event (even `json.rawtime`) has no
//! value. The same holds here: strict JSON is indexed with the simd-json tape, what
//! simd-json rejects is checked against upstream's lenient grammar and walked lazily.

use cloudtrail_json::View;
use cloudtrail_json::lazy::LazyView;
use cloudtrail_json::lenient;
use cloudtrail_json::tape::{Indexer, TapeError, TapeIndex};
use simd_json::INPUT_PADDING;

use crate::indent::indent;
use crate::marshal::marshal;
use crate::pointer::{Marks, lookup};

/// Payloads up to this size get a tape index; larger ones are walked lazily, so the
/// index never costs more than a few MiB (the cloudtrail plugin's rule).
pub const TAPE_LIMIT: usize = 1 << 20;

/// Buffers grown past this by a large payload are released when the event changes.
const KEEP_CAPACITY: usize = 4 << 20;

/// The fields, in the order of the fields table (`field_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `json.value[<pointer>]`, `jevt.value[...]`
    Value,
    /// `json.obj`, `jevt.obj`
    Obj,
    /// `json.rawtime`, `jevt.rawtime`
    RawTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parsed {
    /// Not JSON to upstream: no field has a value.
    Invalid,
    Tape,
    Lazy,
}

/// Per-state cache and scratch space. Not shared between states.
pub struct Extractor {
    evtnum: Option<u64>,
    /// The payload, followed by simd-json's padding.
    payload: Vec<u8>,
    len: usize,
    parsed: Parsed,
    indexer: Indexer,
    tape: TapeIndex,
    marks: Marks,
    /// Payloads parsed (one per event, whatever the number of fields asked).
    pub parses: u64,
    /// Events whose payload upstream would not parse (no field has a value).
    pub invalid: u64,
}

impl Default for Extractor {
    fn default() -> Self {
        Extractor {
            evtnum: None,
            payload: Vec::new(),
            len: 0,
            parsed: Parsed::Invalid,
            indexer: Indexer::default(),
            tape: TapeIndex::default(),
            marks: Marks::default(),
            parses: 0,
            invalid: 0,
        }
    }
}

impl Extractor {
    /// Appends the answer for `field` on event `evtnum` to `out` and returns true, or
    /// returns false when the field has no value. `payload` and `ts` are the event's;
    /// the same `evtnum` must come with the same payload (libsinsp numbers events).
    pub fn extract(
        &mut self,
        evtnum: u64,
        ts: u64,
        payload: &[u8],
        field: Field,
        arg: &[u8],
        out: &mut Vec<u8>,
    ) -> bool {
        if self.evtnum != Some(evtnum) {
            self.load(evtnum, payload);
        }
        let text = &self.payload[..self.len];
        match (field, self.parsed) {
            (_, Parsed::Invalid) => false,
            (Field::RawTime, _) => {
                out.extend_from_slice(ts.to_string().as_bytes());
                true
            }
            (Field::Obj, _) => indent(text, out),
            (Field::Value, Parsed::Tape) => {
                let v = self.tape.view(text);
                value(&v, &mut self.marks, arg, out)
            }
            (Field::Value, Parsed::Lazy) => {
                let v = LazyView::new(text);
                value(&v, &mut self.marks, arg, out)
            }
        }
    }

    fn load(&mut self, evtnum: u64, payload: &[u8]) {
        if self.payload.capacity() > KEEP_CAPACITY && payload.len() <= KEEP_CAPACITY {
            self.payload = Vec::new();
            self.tape = TapeIndex::default();
            self.indexer = Indexer::default();
        }
        self.evtnum = Some(evtnum);
        self.marks.clear();
        self.parses += 1;
        self.payload.clear();
        // Upstream's quick check, before it reads the rest.
        if !matches!(payload.first(), Some(b'{' | b'[')) {
            self.len = 0;
            self.parsed = Parsed::Invalid;
            self.invalid += 1;
            return;
        }
        self.len = payload.len();
        self.payload.reserve(payload.len() + INPUT_PADDING);
        self.payload.extend_from_slice(payload);
        self.payload.resize(payload.len() + INPUT_PADDING, b' ');
        self.parsed = self.parse();
        if self.parsed == Parsed::Invalid {
            self.invalid += 1;
        }
    }

    fn parse(&mut self) -> Parsed {
        let len = self.len;
        if len <= TAPE_LIMIT {
            // Without a backslash every string's text is its bytes: parse in place.
            let built = if memchr::memchr(b'\\', &self.payload[..len]).is_none() {
                let mut copy = std::mem::take(&mut self.payload);
                let r = self
                    .indexer
                    .build_in_place(&mut copy, 0, len, &mut self.tape);
                self.payload = copy;
                r
            } else {
                self.indexer.build(&self.payload[..len], &mut self.tape)
            };
            match built {
                Ok(()) => return Parsed::Tape,
                // fastjson's depth limit is the tape's.
                Err(TapeError::TooDeep) => return Parsed::Invalid,
                Err(TapeError::Rejected) => {}
            }
        }
        match lenient::validate(&self.payload[..len]) {
            Ok(()) => Parsed::Lazy,
            Err(_) => Parsed::Invalid,
        }
    }
}

/// `json.value`: a string's decoded text, any other value re-serialised.
pub fn value<V: View<Id = u32>>(v: &V, marks: &mut Marks, arg: &[u8], out: &mut Vec<u8>) -> bool {
    let Some(id) = lookup(v, marks, arg) else {
        return false;
    };
    match v.text(id) {
        Some(text) => {
            out.extend_from_slice(&text);
            marks.decode_string(id);
        }
        None => marshal(v, marks, id, out),
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(
        ex: &mut Extractor,
        evtnum: u64,
        payload: &str,
        field: Field,
        arg: &str,
    ) -> Option<String> {
        let mut out = Vec::new();
        ex.extract(
            evtnum,
            7,
            payload.as_bytes(),
            field,
            arg.as_bytes(),
            &mut out,
        )
        .then(|| String::from_utf8(out).unwrap())
    }

    #[test]
    fn strict_lenient_and_invalid_payloads() {
        let mut ex = Extractor::default();
        let strict = r#"{"a":{"b":"c\"d"},"n":[1,2]}"#;
        assert_eq!(
            get(&mut ex, 1, strict, Field::Value, "/a/b").unwrap(),
            "c\"d"
        );
        assert_eq!(
            get(&mut ex, 1, strict, Field::Value, "/n").unwrap(),
            "[1,2]"
        );
        assert_eq!(
            get(&mut ex, 1, strict, Field::Value, "/a").unwrap(),
            r#"{"b":"c\"d"}"#
        );
        assert_eq!(get(&mut ex, 1, strict, Field::RawTime, "").unwrap(), "7");
        assert_eq!(ex.parses, 1);
        // fastjson accepts NaN; Go's indenter does not.
        let nan = r#"{"a":NaN,"b":"x"}"#;
        assert_eq!(get(&mut ex, 2, nan, Field::Value, "/a").unwrap(), "NaN");
        assert_eq!(get(&mut ex, 2, nan, Field::Value, "b").unwrap(), "x");
        assert_eq!(get(&mut ex, 2, nan, Field::Obj, ""), None);
        assert_eq!(get(&mut ex, 2, nan, Field::RawTime, "").unwrap(), "7");
        // Not JSON to upstream: nothing, not even the time.
        for (n, bad) in [" {}", "x", "", "{\"a\":}", "[1,2", "{}{}"]
            .into_iter()
            .enumerate()
        {
            let n = 10 + n as u64;
            assert_eq!(get(&mut ex, n, bad, Field::RawTime, ""), None, "{bad:?}");
            assert_eq!(get(&mut ex, n, bad, Field::Obj, ""), None, "{bad:?}");
        }
        let deep = "[".repeat(301) + &"]".repeat(301);
        assert_eq!(get(&mut ex, 30, &deep, Field::Value, ""), None);
        let ok = "[".repeat(300) + &"]".repeat(300);
        assert_eq!(get(&mut ex, 31, &ok, Field::Value, "").unwrap(), ok);
        // A root array.
        assert_eq!(
            get(&mut ex, 32, "[\"a\",{\"b\":1}]", Field::Value, "/1/b").unwrap(),
            "1"
        );
    }

    #[test]
    fn large_payloads_are_walked_and_buffers_released() {
        let mut ex = Extractor::default();
        let big = format!(r#"{{"pad":"{}","k":"v"}}"#, "x".repeat(5 << 20));
        assert_eq!(get(&mut ex, 1, &big, Field::Value, "/k").unwrap(), "v");
        assert_eq!(ex.parsed, Parsed::Lazy);
        assert_eq!(
            get(&mut ex, 2, r#"{"k":"w"}"#, Field::Value, "/k").unwrap(),
            "w"
        );
        assert!(ex.payload.capacity() < KEEP_CAPACITY);
    }

    #[test]
    fn lone_surrogates_decode_as_upstream() {
        // simd-json rejects them; the lenient path keeps fastjson's decoding.
        let mut ex = Extractor::default();
        let p = r#"{"a":"x\ud800y","b":"\ud83d\ude00"}"#;
        assert_eq!(get(&mut ex, 1, p, Field::Value, "/a").unwrap(), "x\\ud800y");
        assert_eq!(get(&mut ex, 1, p, Field::Value, "/b").unwrap(), "😀");
    }
}
