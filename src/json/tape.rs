//! The per-event index: a simd-json tape, plus the byte offset of every value.
//!
//! simd-json parses a copy of the record (it unescapes strings in place) into a tape:
//! one node per value in document order, containers carrying the size of their
//! subtree. Its stage 1 also reports the offset of every structural byte, which this
//! module pairs with the tape nodes, so that each node also knows where its original
//! text starts and ends. Field extraction is then lookups on this flat array, and the
//! things that need original text (number text, value offsets, the re-serialised
//! request/response fields) read the payload through those offsets.

use std::borrow::Cow;

use simd_json::{Buffers, INPUT_PADDING, Node as SjNode, StaticNode, Tape};

use super::lenient::{MAX_DEPTH, is_ws};
use super::{Kind, Span, View};

#[derive(Debug, Clone, Copy)]
struct Node {
    kind: Kind,
    start: u32,
    end: u32,
    /// Containers: nodes in the subtree (excluding this one). Strings: offset of the
    /// unescaped text in `scratch`.
    a: u32,
    /// Containers: number of members or elements. Strings: unescaped length.
    b: u32,
}

/// Why a record has no tape index (it then takes the lenient path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapeError {
    /// simd-json rejected the text (not strict JSON, or a number out of range).
    Rejected,
    /// Nested deeper than upstream accepts.
    TooDeep,
}

/// An index over one record's payload. Reused across records to keep allocations.
#[derive(Default)]
pub struct TapeIndex {
    nodes: Vec<Node>,
    /// The parsed copy of the payload, in which simd-json unescaped the strings.
    scratch: Vec<u8>,
}

impl TapeIndex {
    /// Approximate heap bytes held, for the batch cache's memory bound.
    pub fn footprint(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>() + self.scratch.capacity()
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
    stack: Vec<u32>,
}

impl Default for Indexer {
    fn default() -> Self {
        Indexer {
            buffers: Buffers::new(64 * 1024),
            tape: Tape(Vec::new()),
            stack: Vec::new(),
        }
    }
}

fn sj_kind(n: &SjNode<'_>) -> Kind {
    match n {
        SjNode::Object { .. } => Kind::Object,
        SjNode::Array { .. } => Kind::Array,
        SjNode::String(_) => Kind::String,
        SjNode::Static(StaticNode::Null) => Kind::Null,
        SjNode::Static(StaticNode::Bool(true)) => Kind::True,
        SjNode::Static(StaticNode::Bool(false)) => Kind::False,
        SjNode::Static(_) => Kind::Number,
    }
}

impl Indexer {
    /// Builds `out` for `payload`. On error `out` is left empty.
    pub fn build(&mut self, payload: &[u8], out: &mut TapeIndex) -> Result<(), TapeError> {
        out.nodes.clear();
        if payload.len() >= u32::MAX as usize {
            return Err(TapeError::Rejected);
        }
        let len = payload.len();
        out.scratch.clear();
        out.scratch.reserve(len + INPUT_PADDING);
        out.scratch.extend_from_slice(payload);
        out.scratch.resize(len + INPUT_PADDING, b' ');
        let base = out.scratch.as_ptr() as usize;

        let mut tape = std::mem::replace(&mut self.tape, Tape(Vec::new())).reset();
        let parsed =
            simd_json::fill_tape_padded(&mut out.scratch, len, &mut self.buffers, &mut tape);
        let result = match parsed {
            Ok(()) => attach_offsets(
                &tape.0,
                self.buffers.structural_indexes(),
                payload,
                base,
                &mut self.stack,
                &mut out.nodes,
            ),
            Err(_) => Err(TapeError::Rejected),
        };
        self.tape = tape.reset();
        if result.is_err() {
            out.nodes.clear();
        }
        result
    }
}

/// Pairs each tape node with its text: every value start is a structural index (in
/// document order, after skipping `:` `,` and closers), closers end containers, and a
/// scalar ends where the next structural byte begins, less whitespace.
fn attach_offsets(
    tape: &[SjNode<'_>],
    structural: &[u32],
    payload: &[u8],
    scratch_base: usize,
    stack: &mut Vec<u32>,
    nodes: &mut Vec<Node>,
) -> Result<(), TapeError> {
    stack.clear();
    nodes.reserve(tape.len());
    let byte = |i: usize| -> Option<(usize, u8)> {
        let p = *structural.get(i)? as usize;
        Some((p, *payload.get(p)?))
    };
    let mut si = 0usize;
    for sj in tape {
        // Skip separators, closing containers on the way.
        let start = loop {
            let (p, c) = byte(si).ok_or(TapeError::Rejected)?;
            match c {
                b':' | b',' => si += 1,
                b'}' | b']' => {
                    let open = stack.pop().ok_or(TapeError::Rejected)?;
                    nodes[open as usize].end = p as u32 + 1;
                    si += 1;
                }
                _ => break p,
            }
        };
        si += 1;
        if stack.len() >= MAX_DEPTH {
            return Err(TapeError::TooDeep);
        }
        let kind = sj_kind(sj);
        let (a, b, end) = match *sj {
            SjNode::Object { len, count } | SjNode::Array { len, count } => {
                stack.push(nodes.len() as u32);
                (count as u32, len as u32, 0)
            }
            SjNode::String(s) => {
                let off = (s.as_ptr() as usize).wrapping_sub(scratch_base) as u32;
                (
                    off,
                    s.len() as u32,
                    scalar_end(structural, si, payload, start),
                )
            }
            SjNode::Static(_) => (0, 0, scalar_end(structural, si, payload, start)),
        };
        nodes.push(Node {
            kind,
            start: start as u32,
            end: end as u32,
            a,
            b,
        });
    }
    while let Some(open) = stack.pop() {
        // The remaining closers, innermost first.
        loop {
            let (p, c) = byte(si).ok_or(TapeError::Rejected)?;
            si += 1;
            if matches!(c, b'}' | b']') {
                nodes[open as usize].end = p as u32 + 1;
                break;
            }
        }
    }
    Ok(())
}

fn scalar_end(structural: &[u32], next: usize, payload: &[u8], start: usize) -> usize {
    let mut end = structural
        .get(next)
        .map_or(payload.len(), |&p| p as usize)
        .min(payload.len());
    while end > start + 1 && is_ws(payload[end - 1]) {
        end -= 1;
    }
    end
}

/// A [`TapeIndex`] over its payload; `Id` is a node number.
pub struct TapeView<'a> {
    index: &'a TapeIndex,
    payload: &'a [u8],
}

impl TapeView<'_> {
    fn node(&self, id: u32) -> &Node {
        &self.index.nodes[id as usize]
    }

    /// The node after `id`'s subtree.
    fn next_sibling(&self, id: u32) -> u32 {
        let n = self.node(id);
        match n.kind {
            Kind::Object | Kind::Array => id + 1 + n.a,
            _ => id + 1,
        }
    }

    fn str_bytes(&self, id: u32) -> &[u8] {
        let n = self.node(id);
        let (a, b) = (n.a as usize, n.b as usize);
        self.index.scratch.get(a..a + b).unwrap_or_default()
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
        self.node(id).kind
    }

    fn span(&self, id: u32) -> Span {
        let n = self.node(id);
        Span {
            start: n.start,
            end: n.end,
        }
    }

    fn member(&self, obj: u32, key: &str) -> Option<u32> {
        let n = self.node(obj);
        if n.kind != Kind::Object {
            return None;
        }
        let key = key.as_bytes();
        let mut k = obj + 1;
        for _ in 0..n.b {
            let v = k + 1;
            if self.str_bytes(k) == key {
                return Some(v);
            }
            k = self.next_sibling(v);
        }
        None
    }

    fn text(&self, id: u32) -> Option<Cow<'_, [u8]>> {
        (self.kind(id) == Kind::String).then(|| Cow::Borrowed(self.str_bytes(id)))
    }

    fn each_element(&self, arr: u32, f: &mut dyn FnMut(u32) -> bool) {
        let n = self.node(arr);
        if n.kind != Kind::Array {
            return;
        }
        let mut e = arr + 1;
        for _ in 0..n.b {
            if !f(e) {
                return;
            }
            e = self.next_sibling(e);
        }
    }

    fn each_member(&self, obj: u32, f: &mut dyn FnMut(&[u8], u32) -> bool) {
        let n = self.node(obj);
        if n.kind != Kind::Object {
            return;
        }
        let mut k = obj + 1;
        for _ in 0..n.b {
            if !f(self.str_bytes(k), k + 1) {
                return;
            }
            k = self.next_sibling(k + 1);
        }
    }

    fn element(&self, arr: u32, i: usize) -> Option<u32> {
        let n = self.node(arr);
        if n.kind != Kind::Array || i >= n.b as usize {
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
        if n.kind == Kind::Array {
            n.b as usize
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::lazy::LazyView;

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
            "list":[{"k":1},{"k":"two"},[3]],"dup":1,"dup":2,"esc\"key":"v"}"#;
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
            &["dup"],
            &["esc\"key"],
        ] {
            let a = tv.path(path).unwrap();
            let b = lv.path(path).unwrap();
            assert_eq!(tv.span(a), lv.span(b), "{path:?}");
            assert_eq!(tv.kind(a), lv.kind(b));
            assert_eq!(tv.text(a), lv.text(b));
        }
        let (l1, l2) = (tv.path(&["list"]).unwrap(), lv.path(&["list"]).unwrap());
        for i in 0..3 {
            let (e1, e2) = (tv.element(l1, i).unwrap(), lv.element(l2, i).unwrap());
            assert_eq!(tv.span(e1), lv.span(e2));
        }
        assert!(tv.element(l1, 3).is_none() && lv.element(l2, 3).is_none());
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
    }
}
