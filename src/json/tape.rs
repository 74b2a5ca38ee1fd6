//! The per-event index: a simd-json tape of the record.
//!
//! simd-json parses a copy of the record (unescaping strings in place) into a tape: one
//! node per value in document order, containers carrying the size of their subtree.
//! The index keeps that tape in a compact, lifetime-free form (string nodes point into
//! the parsed copy, numbers keep their parsed value), plus a direct table of the
//! record's well-known top-level members, so most field rules are a few array reads.
//!
//! Byte offsets of values are not needed by the common rules, so they are computed
//! only on first use (value offsets, the re-serialised request/response fields), by
//! one walk over the original bytes, whose values come in exactly tape order.

use std::borrow::Cow;
use std::cell::OnceCell;

use simd_json::{Buffers, INPUT_PADDING, Node as SjNode, StaticNode, Tape};

use super::lenient::{MAX_DEPTH, is_ws, skip_ws, string_end, value_end};
use super::number::go_f64_to_u64;
use super::{Kind, Span, View, key_eq};

/// One tape node, 12 bytes: a tag and two words whose meaning depends on the tag.
#[derive(Debug, Clone, Copy)]
struct Node {
    tag: Tag,
    /// Containers: members or elements. Strings: offset of the unescaped text in
    /// `scratch`. Numbers: low half of the value.
    a: u32,
    /// Containers: nodes in the subtree. Strings: unescaped length. Numbers: high half.
    b: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Object,
    Array,
    Str,
    U64,
    I64,
    F64,
    True,
    False,
    Null,
}

const NULL_NODE: Node = Node {
    tag: Tag::Null,
    a: 0,
    b: 0,
};

impl Node {
    fn bits(self) -> u64 {
        u64::from(self.a) | (u64::from(self.b) << 32)
    }

    fn with_bits(tag: Tag, v: u64) -> Node {
        Node {
            tag,
            a: v as u32,
            b: (v >> 32) as u32,
        }
    }
}

/// Why a record has no tape index (it then takes the lenient path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapeError {
    /// simd-json rejected the text (not strict JSON, or a number out of range).
    Rejected,
    /// Nested deeper than upstream accepts.
    TooDeep,
}

/// The top-level members the field rules look up, found once per record.
const ROOT_KEYS: [&str; 30] = [
    "eventID",
    "errorCode",
    "errorMessage",
    "eventTime",
    "eventSource",
    "eventName",
    "userIdentity",
    "awsRegion",
    "responseElements",
    "requestParameters",
    "sourceIPAddress",
    "userAgent",
    "managementEvent",
    "readOnly",
    "requestID",
    "eventType",
    "apiVersion",
    "resources",
    "recipientAccountId",
    "serviceEventDetails",
    "sharedEventID",
    "vpcEndpointId",
    "eventCategory",
    "addendum",
    "sessionCredentialFromConsole",
    "edgeDeviceDetails",
    "tlsDetails",
    "additionalEventData",
    "eventVersion",
    "insightDetails",
];

/// A perfect hash of the `ROOT_KEYS` over a key's first 8 bytes (little-endian, zero
/// padded) and its length; the multiplier was searched for so that the 30 keys land in
/// distinct slots of 64.
const fn root_hash_word(w: u64, len: usize) -> usize {
    let x = w ^ (len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x.wrapping_mul(0xff7b_56b2_66af_415d) >> 58) as usize
}

/// The first 8 bytes of `key` as [`root_hash_word`] reads them (for the table, at
/// compile time).
const fn first_word(key: &[u8]) -> u64 {
    let mut w = 0u64;
    let mut i = 0;
    while i < key.len() && i < 8 {
        w |= (key[i] as u64) << (8 * i);
        i += 1;
    }
    w
}

/// The same word at run time, in one or two loads (no `memcpy` call for short keys).
#[inline(always)]
fn first_word_fast(key: &[u8]) -> u64 {
    let n = key.len();
    if let Some(w) = key.first_chunk::<8>() {
        return u64::from_le_bytes(*w);
    }
    if let (Some(lo), Some(hi)) = (key.first_chunk::<4>(), key.last_chunk::<4>()) {
        // Bytes `n-4..4` are in both halves, with the same values: OR keeps them.
        return u64::from(u32::from_le_bytes(*lo))
            | u64::from(u32::from_le_bytes(*hi)) << (8 * (n - 4));
    }
    first_word(key)
}

/// Hash slot → 1 + position in `ROOT_KEYS` (0 = no key). Built at compile time; a
/// collision would fail the build.
const ROOT_TABLE: [u8; 64] = {
    let mut t = [0u8; 64];
    let mut i = 0;
    while i < ROOT_KEYS.len() {
        let key = ROOT_KEYS[i].as_bytes();
        let h = root_hash_word(first_word(key), key.len());
        assert!(t[h] == 0, "root key hash collision");
        t[h] = i as u8 + 1;
        i += 1;
    }
    t
};

/// Slot of a well-known top-level key: one hash, one comparison. Inlined so that
/// a literal key folds to its slot at compile time.
#[inline(always)]
fn root_key_slot(key: &[u8]) -> Option<usize> {
    let e = ROOT_TABLE[root_hash_word(first_word_fast(key), key.len())];
    if e == 0 {
        return None;
    }
    let i = usize::from(e - 1);
    key_eq(ROOT_KEYS[i].as_bytes(), key).then_some(i)
}

/// An index over one record's payload. Reused across records to keep allocations.
#[derive(Default)]
pub struct TapeIndex {
    nodes: Vec<Node>,
    /// The parsed copy of the payload, in which simd-json unescaped the strings;
    /// empty when the record was parsed in place (it has no escapes).
    scratch: Vec<u8>,
    /// Node of each `ROOT_KEYS` member (first occurrence), 0 when absent.
    root: [u32; ROOT_KEYS.len()],
    spans: OnceCell<Vec<Span>>,
}

impl TapeIndex {
    /// Approximate heap bytes held, for the batch cache's memory bound.
    pub fn footprint(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.scratch.capacity()
            + self.spans.get().map_or(0, |s| s.capacity() * 8)
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// A view of this index over `payload`, the same bytes it was built from.
    pub fn view<'a>(&'a self, payload: &'a [u8]) -> TapeView<'a> {
        TapeView {
            index: self,
            payload,
        }
    }
}

/// The reusable parser state (simd-json buffers and tape allocation).
pub struct Indexer {
    buffers: Buffers,
    tape: Tape<'static>,
}

impl Default for Indexer {
    fn default() -> Self {
        Indexer {
            buffers: Buffers::new(64 * 1024),
            tape: Tape(Vec::new()),
        }
    }
}

impl Indexer {
    /// An indexer sized for one document of `len` bytes (a response, a message): the
    /// default one's buffers suit a stream of records, and would make a small
    /// document's parse mostly allocation. Buffers grow when a document needs more.
    pub fn for_len(len: usize) -> Self {
        Indexer {
            buffers: Buffers::new(len),
            tape: Tape(Vec::new()),
        }
    }

    /// Builds `out` for `payload` (parsing a copy of it). On error `out` is left empty.
    pub fn build(&mut self, payload: &[u8], out: &mut TapeIndex) -> Result<(), TapeError> {
        if payload.len() >= u32::MAX as usize {
            out.nodes.clear();
            return Err(TapeError::Rejected);
        }
        let len = payload.len();
        let mut scratch = std::mem::take(&mut out.scratch);
        scratch.clear();
        scratch.reserve(len + INPUT_PADDING);
        scratch.extend_from_slice(payload);
        scratch.resize(len + INPUT_PADDING, b' ');
        let r = self.parse(&mut scratch, 0, len, out);
        out.scratch = scratch;
        r
    }

    /// Builds `out` by parsing `buf[start..end]` where it lies, which simd-json may
    /// rewrite. Only for records without a backslash (so every string's text equals
    /// its bytes in the payload, where the view then reads it) and with at least
    /// `INPUT_PADDING` bytes of any content after `end`.
    pub fn build_in_place(
        &mut self,
        buf: &mut [u8],
        start: usize,
        end: usize,
        out: &mut TapeIndex,
    ) -> Result<(), TapeError> {
        debug_assert!(buf.len() - end >= INPUT_PADDING);
        debug_assert!(memchr::memchr(b'\\', &buf[start..end]).is_none());
        out.scratch.clear();
        self.parse(buf, start, end, out)
    }

    fn parse(
        &mut self,
        buf: &mut [u8],
        start: usize,
        end: usize,
        out: &mut TapeIndex,
    ) -> Result<(), TapeError> {
        out.nodes.clear();
        out.spans = OnceCell::new();
        out.root = [0; ROOT_KEYS.len()];
        let base = buf[start..].as_ptr() as usize;
        let mut tape = std::mem::replace(&mut self.tape, Tape(Vec::new())).reset();
        let parsed = simd_json::fill_tape_padded(
            &mut buf[start..],
            end - start,
            &mut self.buffers,
            &mut tape,
        );
        let result = match parsed {
            Ok(()) => convert(&tape.0, base, &mut out.nodes).map(|()| {
                out.root = index_root(&tape.0);
            }),
            Err(_) => Err(TapeError::Rejected),
        };
        self.tape = tape.reset();
        if result.is_err() {
            out.nodes.clear();
        }
        result
    }
}

/// Copies the tape into lifetime-free nodes.
fn convert(tape: &[SjNode<'_>], base: usize, nodes: &mut Vec<Node>) -> Result<(), TapeError> {
    nodes.reserve(tape.len());
    nodes.extend(tape.iter().map(|sj| match *sj {
        SjNode::Object { len, count } => Node {
            tag: Tag::Object,
            a: len as u32,
            b: count as u32,
        },
        SjNode::Array { len, count } => Node {
            tag: Tag::Array,
            a: len as u32,
            b: count as u32,
        },
        SjNode::String(s) => Node {
            tag: Tag::Str,
            a: (s.as_ptr() as usize).wrapping_sub(base) as u32,
            b: s.len() as u32,
        },
        SjNode::Static(StaticNode::Null) => NULL_NODE,
        SjNode::Static(StaticNode::Bool(true)) => Node {
            tag: Tag::True,
            a: 0,
            b: 0,
        },
        SjNode::Static(StaticNode::Bool(false)) => Node {
            tag: Tag::False,
            a: 0,
            b: 0,
        },
        SjNode::Static(StaticNode::U64(n)) => Node::with_bits(Tag::U64, n),
        SjNode::Static(StaticNode::I64(n)) => Node::with_bits(Tag::I64, n as u64),
        SjNode::Static(StaticNode::F64(f)) => Node::with_bits(Tag::F64, f.to_bits()),
    }));
    // A value deeper than upstream's limit needs more nodes than that: only large
    // records pay for the exact check.
    if nodes.len() > MAX_DEPTH && max_depth(nodes) > MAX_DEPTH {
        return Err(TapeError::TooDeep);
    }
    Ok(())
}

/// The deepest value's depth (the root is at depth 1), as fastjson counts it.
fn max_depth(nodes: &[Node]) -> usize {
    // Remaining nodes of each open container.
    let mut open: Vec<u32> = Vec::new();
    let mut deepest = 0;
    for n in nodes {
        while open.last() == Some(&0) {
            open.pop();
        }
        deepest = deepest.max(open.len() + 1);
        if let Some(rest) = open.last_mut() {
            *rest -= 1;
        }
        if matches!(n.tag, Tag::Object | Tag::Array) {
            open.push(n.b);
        }
    }
    deepest
}

/// The node of each well-known top-level member (first occurrence), read off
/// simd-json's tape, where key text needs no indirection: one hop per member.
fn index_root(tape: &[SjNode<'_>]) -> [u32; ROOT_KEYS.len()] {
    let mut root = [0u32; ROOT_KEYS.len()];
    let Some(&SjNode::Object { len, .. }) = tape.first() else {
        return root;
    };
    let mut k = 1;
    for _ in 0..len {
        let Some(&SjNode::String(key)) = tape.get(k) else {
            break;
        };
        if let Some(slot) = root_key_slot(key.as_bytes()) {
            if root[slot] == 0 {
                root[slot] = k as u32 + 1;
            }
        }
        k += match tape.get(k + 1) {
            Some(&SjNode::Object { count, .. } | &SjNode::Array { count, .. }) => 2 + count,
            _ => 2,
        };
    }
    root
}

/// Value spans of a strict JSON text, in document order (= tape order).
fn compute_spans(payload: &[u8], count: usize) -> Vec<Span> {
    let mut spans = vec![Span::default(); count];
    let mut open: Vec<usize> = Vec::new();
    let mut n = 0;
    let mut i = skip_ws(payload, 0);
    while i < payload.len() && n <= count {
        let c = payload[i];
        match c {
            b'{' | b'[' => {
                if n < count {
                    spans[n].start = i as u32;
                    open.push(n);
                }
                n += 1;
                i += 1;
            }
            b'}' | b']' => {
                if let Some(o) = open.pop() {
                    spans[o].end = i as u32 + 1;
                }
                i += 1;
            }
            b',' | b':' => i += 1,
            c if is_ws(c) => i += 1,
            _ => {
                let end = if c == b'"' {
                    string_end(payload, i + 1).map_or(payload.len(), |q| q + 1)
                } else {
                    value_end(payload, i)
                };
                if n < count {
                    spans[n] = Span {
                        start: i as u32,
                        end: end as u32,
                    };
                }
                n += 1;
                i = end;
            }
        }
    }
    spans
}

/// A [`TapeIndex`] over its payload; `Id` is a node number.
pub struct TapeView<'a> {
    index: &'a TapeIndex,
    payload: &'a [u8],
}

impl TapeView<'_> {
    /// A direct walk (no callback): keys of another length are passed over without
    /// touching their bytes.
    fn walk_members(&self, obj: u32, key: &[u8]) -> Option<u32> {
        let n = self.node(obj);
        if n.tag != Tag::Object {
            return None;
        }
        let mut k = obj + 1;
        for _ in 0..n.a {
            let kn = self.node(k);
            if kn.b as usize == key.len() && key_eq(self.str_bytes(k), key) {
                return Some(k + 1);
            }
            k = self.next_sibling(k + 1);
        }
        None
    }

    fn node(&self, id: u32) -> Node {
        self.index
            .nodes
            .get(id as usize)
            .copied()
            .unwrap_or(NULL_NODE)
    }

    /// The node after `id`'s subtree.
    fn next_sibling(&self, id: u32) -> u32 {
        let n = self.node(id);
        match n.tag {
            Tag::Object | Tag::Array => id + 1 + n.b,
            _ => id + 1,
        }
    }

    fn str_bytes(&self, id: u32) -> &[u8] {
        let n = self.node(id);
        if n.tag != Tag::Str {
            return b"";
        }
        // Parsed in place (no escapes anywhere): the text is in the payload.
        let text = if self.index.scratch.is_empty() {
            self.payload
        } else {
            &self.index.scratch
        };
        text.get(n.a as usize..(n.a + n.b) as usize)
            .unwrap_or_default()
    }
}

impl View for TapeView<'_> {
    type Id = u32;

    fn payload(&self) -> &[u8] {
        self.payload
    }

    fn root(&self) -> u32 {
        0
    }

    fn kind(&self, id: u32) -> Kind {
        match self.node(id).tag {
            Tag::Object => Kind::Object,
            Tag::Array => Kind::Array,
            Tag::Str => Kind::String,
            Tag::U64 | Tag::I64 | Tag::F64 => Kind::Number,
            Tag::True => Kind::True,
            Tag::False => Kind::False,
            Tag::Null => Kind::Null,
        }
    }

    fn span(&self, id: u32) -> Span {
        let spans = self
            .index
            .spans
            .get_or_init(|| compute_spans(self.payload, self.index.nodes.len()));
        spans.get(id as usize).copied().unwrap_or_default()
    }

    // Inlined: most field rules name a top-level key literally, which then costs one
    // table read.
    #[inline]
    fn member(&self, obj: u32, key: &str) -> Option<u32> {
        if obj == 0 {
            if let Some(slot) = root_key_slot(key.as_bytes()) {
                let id = self.index.root[slot];
                return (id != 0).then_some(id);
            }
        }
        self.walk_members(obj, key.as_bytes())
    }

    fn text(&self, id: u32) -> Option<Cow<'_, [u8]>> {
        (self.node(id).tag == Tag::Str).then(|| Cow::Borrowed(self.str_bytes(id)))
    }

    fn number_u64(&self, id: u32) -> u64 {
        let n = self.node(id);
        match n.tag {
            Tag::U64 => n.bits(),
            // Not an unsigned decimal integer: Go converts the float value.
            Tag::I64 => go_f64_to_u64(n.bits() as i64 as f64),
            Tag::F64 => go_f64_to_u64(f64::from_bits(n.bits())),
            _ => 0,
        }
    }

    fn each_element(&self, arr: u32, f: &mut dyn FnMut(u32) -> bool) {
        let n = self.node(arr);
        if n.tag != Tag::Array {
            return;
        }
        let mut e = arr + 1;
        for _ in 0..n.a {
            if !f(e) {
                return;
            }
            e = self.next_sibling(e);
        }
    }

    fn each_member(&self, obj: u32, f: &mut dyn FnMut(&[u8], u32) -> bool) {
        let n = self.node(obj);
        if n.tag != Tag::Object {
            return;
        }
        let mut k = obj + 1;
        for _ in 0..n.a {
            if !f(self.str_bytes(k), k + 1) {
                return;
            }
            k = self.next_sibling(k + 1);
        }
    }

    fn each_member_raw(&self, obj: u32, f: &mut dyn FnMut(&[u8], u32) -> bool) {
        let n = self.node(obj);
        if n.tag != Tag::Object {
            return;
        }
        // Parsed in place, the record has no backslash: every key is as written, and
        // the spans (a pass over the payload) are not needed.
        let as_written = self.index.scratch.is_empty();
        let mut k = obj + 1;
        for _ in 0..n.a {
            let inner = if as_written {
                self.str_bytes(k)
            } else {
                // The key's span includes its quotes.
                let raw = self.raw(k);
                raw.get(1..raw.len().saturating_sub(1)).unwrap_or_default()
            };
            if !f(inner, k + 1) {
                return;
            }
            k = self.next_sibling(k + 1);
        }
    }

    fn element(&self, arr: u32, i: usize) -> Option<u32> {
        let n = self.node(arr);
        if n.tag != Tag::Array || i >= n.a as usize {
            return None;
        }
        let mut e = arr + 1;
        for _ in 0..i {
            e = self.next_sibling(e);
        }
        Some(e)
    }

    fn element_count(&self, arr: u32) -> usize {
        let n = self.node(arr);
        if n.tag == Tag::Array { n.a as usize } else { 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lazy::LazyView;

    fn build(s: &[u8]) -> Result<TapeIndex, TapeError> {
        let mut ix = Indexer::default();
        let mut t = TapeIndex::default();
        ix.build(s, &mut t).map(|()| t)
    }

    #[test]
    fn spans_match_the_original_text() {
        let rec =
            br#"{ "a" : "x\"y" , "b":[1, 2.5e3 ,true,null,{}], "c":{"d":-0 } , "e" : "\u00e9" }"#;
        let t = build(rec).unwrap();
        let v = t.view(rec);
        assert_eq!(v.raw(v.root()), &rec[..]);
        let a = v.path(&["a"]).unwrap();
        assert_eq!(v.raw(a), br#""x\"y""#);
        assert_eq!(v.text(a).unwrap().as_ref(), b"x\"y");
        let b = v.path(&["b"]).unwrap();
        assert_eq!(v.raw(b), br#"[1, 2.5e3 ,true,null,{}]"#);
        assert_eq!(v.element_count(b), 5);
        let x = v.element(b, 1).unwrap();
        assert_eq!(v.raw(x), b"2.5e3");
        assert_eq!(v.number_u64(x), 2500);
        assert_eq!(v.kind(v.element(b, 2).unwrap()), Kind::True);
        assert_eq!(v.raw(v.element(b, 4).unwrap()), b"{}");
        let d = v.path(&["c", "d"]).unwrap();
        assert_eq!(v.raw(d), b"-0");
        assert_eq!(v.raw(v.path(&["c"]).unwrap()), br#"{"d":-0 }"#);
        assert_eq!(
            v.text(v.path(&["e"]).unwrap()).unwrap().as_ref(),
            "é".as_bytes()
        );
    }

    #[test]
    fn agrees_with_the_lazy_view() {
        let rec = br#"{"userIdentity":{"type":"AssumedRole","sessionContext":{"sessionIssuer":{"userName":"r"}}},
            "list":[{"k":1},{"k":"two"},[3]],"eventID":1,"eventID":2,"esc\"key":"v","n":[18446744073709551615,-1,1.5,1e3,-0]}"#;
        let t = build(rec).unwrap();
        let tv = t.view(rec);
        let lv = LazyView::new(rec);
        for path in [
            &["userIdentity", "type"][..],
            &[
                "userIdentity",
                "sessionContext",
                "sessionIssuer",
                "userName",
            ],
            &["list"],
            &["eventID"],
            &["esc\"key"],
        ] {
            let a = tv.path(path).unwrap();
            let b = lv.path(path).unwrap();
            assert_eq!(tv.span(a), lv.span(b), "{path:?}");
            assert_eq!(tv.kind(a), lv.kind(b));
            assert_eq!(tv.text(a), lv.text(b));
        }
        assert_eq!(tv.raw(tv.path(&["eventID"]).unwrap()), b"1");
        let (l1, l2) = (tv.path(&["list"]).unwrap(), lv.path(&["list"]).unwrap());
        for i in 0..3 {
            let (e1, e2) = (tv.element(l1, i).unwrap(), lv.element(l2, i).unwrap());
            assert_eq!(tv.span(e1), lv.span(e2));
        }
        assert!(tv.element(l1, 3).is_none() && lv.element(l2, 3).is_none());
        let (n1, n2) = (tv.path(&["n"]).unwrap(), lv.path(&["n"]).unwrap());
        for i in 0..5 {
            let (e1, e2) = (tv.element(n1, i).unwrap(), lv.element(n2, i).unwrap());
            assert_eq!(tv.number_u64(e1), lv.number_u64(e2), "number {i}");
        }
    }

    #[test]
    fn root_slots_match_the_key_list() {
        for (i, k) in ROOT_KEYS.iter().enumerate() {
            assert_eq!(root_key_slot(k.as_bytes()), Some(i));
        }
        assert_eq!(root_key_slot(b"eventid"), None);
    }

    #[test]
    fn in_place_parsing_reads_strings_from_the_payload() {
        let rec = br#"{"eventName":"X","userIdentity":{"type":"Root"},"n":[1,2]}"#;
        let mut buf = b"xx".to_vec();
        buf.extend_from_slice(rec);
        buf.extend_from_slice(&[b'#'; INPUT_PADDING]);
        let mut t = TapeIndex::default();
        Indexer::default()
            .build_in_place(&mut buf, 2, 2 + rec.len(), &mut t)
            .unwrap();
        assert!(buf.ends_with(&[b'#'; INPUT_PADDING]));
        let v = t.view(rec);
        assert_eq!(
            v.text(v.path(&["eventName"]).unwrap()).unwrap().as_ref(),
            b"X"
        );
        assert_eq!(
            v.text(v.path(&["userIdentity", "type"]).unwrap())
                .unwrap()
                .as_ref(),
            b"Root"
        );
        assert_eq!(v.raw(v.path(&["n"]).unwrap()), b"[1,2]");
    }

    #[test]
    fn strictness_and_depth() {
        assert_eq!(build(b"{\"a\":NaN}").err(), Some(TapeError::Rejected));
        assert_eq!(
            build(b"{\"a\":\"raw\ncontrol\"}").err(),
            Some(TapeError::Rejected)
        );
        assert_eq!(build(b"{\"a\":\"\xff\"}").err(), Some(TapeError::Rejected));
        assert_eq!(
            build(b"{\"a\":123456789012345678901234567890}").err(),
            Some(TapeError::Rejected)
        );
        let ok = format!("{}{}", "[".repeat(300), "]".repeat(300));
        assert!(build(ok.as_bytes()).is_ok());
        let deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
        assert_eq!(build(deep.as_bytes()).err(), Some(TapeError::TooDeep));
        let deep_obj = format!("{}1{}", "{\"a\":".repeat(300), "}".repeat(300));
        assert_eq!(build(deep_obj.as_bytes()).err(), Some(TapeError::TooDeep));
        let ok_obj = format!("{}1{}", "{\"a\":".repeat(299), "}".repeat(299));
        assert!(build(ok_obj.as_bytes()).is_ok());
    }
}
