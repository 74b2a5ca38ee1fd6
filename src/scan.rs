//! The record scanner: decompressed bytes in, one byte range per record out.
//!
//! It is a streaming state machine: bytes arrive in chunks, records may straddle
//! chunks, and the caller drops bytes the scanner no longer needs ([`Scanner::keep_from`],
//! [`Scanner::shift`]). Inside records it only tracks strings and braces, jumping with
//! `memchr` from one interesting byte to the next.
//!
//! What is a record (difference D6): in a top-level object with a `Records` key, every
//! object that starts at brace depth 1 — upstream's rule, byte for byte, so CloudTrail
//! delivery files split exactly as upstream splits them; any other top-level object is
//! one record; a top-level array yields its elements; several top-level values in a
//! row (JSON lines, concatenated objects) are each handled by these rules. Bytes that
//! cannot start a value at the top level are skipped and counted as damage.

use std::collections::VecDeque;

use memchr::{memchr2, memchr3};

mod block;

pub use block::object_end;

use crate::json::lenient::is_ws;
use crate::record::Skip;

/// The largest record emitted (difference D5); larger ones are skipped and counted.
pub const MAX_RECORD: usize = 64 << 20;

/// What the scanner found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// A record at `buf[start..end]`, where `buf` is the buffer passed to `next`.
    Record { start: usize, end: usize },
    /// Something that is not a record where one was expected.
    Skip(Skip),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Between top-level values.
    Top,
    /// Inside a top-level object.
    Object,
    /// Inside a top-level array, between elements.
    Array,
    /// Inside an object element of a top-level array.
    ArrayObject,
    /// Inside a non-object element of a top-level array (skipped).
    ArrayOther,
}

/// Damage seen in the current file, reported once per file by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Damage {
    /// Bytes outside any JSON value that were skipped.
    pub stray_bytes: u64,
    /// Offset (in the file) of the first stray byte.
    pub first_stray_at: Option<u64>,
    /// The file ended inside a value.
    pub truncated: bool,
}

pub struct Scanner {
    mode: Mode,
    /// Next byte to look at, relative to the caller's buffer.
    pos: usize,
    /// Bytes the caller dropped so far (to report file offsets).
    dropped: u64,
    in_str: bool,
    /// Brace depth inside the current top-level object or array element.
    depth: u32,
    top_start: usize,
    /// Start of the current candidate record (a depth-1 object or an array element).
    rec_start: usize,
    rec_open: bool,
    rec_too_large: bool,
    top_too_large: bool,
    /// The current top-level object has a `Records` key.
    records_mode: bool,
    /// Bracket depth while at brace depth 1 of a top-level object.
    brackets: u32,
    /// `brackets` level of the `Records` array, once it is open.
    records_array: Option<u32>,
    /// The `Records` key was just read; its value comes next.
    records_key: bool,
    /// A depth-1 string just ended; `Some(true)` if it read `Records`.
    key_candidate: Option<bool>,
    /// First bytes of the depth-1 string being read (enough to recognise `Records`).
    key: [u8; 8],
    key_len: usize,
    str_at_depth1: bool,
    /// Inside a scalar token that is an array element (being skipped).
    in_scalar: bool,
    /// Nesting of a skipped non-object array element.
    nest: u32,
    /// Depth-1 objects seen before a `Records` key, in case one follows.
    pending: VecDeque<(usize, usize)>,
    damage: Damage,
    at_file_start: bool,
    limit: usize,
    /// Blocks take the portable masks even where SIMD ones exist (see
    /// [`Scanner::portable`]).
    portable: bool,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner {
            mode: Mode::Top,
            pos: 0,
            dropped: 0,
            in_str: false,
            depth: 0,
            top_start: 0,
            rec_start: 0,
            rec_open: false,
            rec_too_large: false,
            top_too_large: false,
            records_mode: false,
            brackets: 0,
            records_array: None,
            records_key: false,
            key_candidate: None,
            key: [0; 8],
            key_len: 0,
            str_at_depth1: false,
            in_scalar: false,
            nest: 0,
            pending: VecDeque::new(),
            damage: Damage::default(),
            at_file_start: true,
            limit: MAX_RECORD,
            portable: false,
        }
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl Scanner {
    pub fn new() -> Self {
        Self::default()
    }

    /// A scanner with a different record size limit (tests use small ones).
    pub fn with_limit(limit: usize) -> Self {
        Scanner {
            limit,
            ..Self::default()
        }
    }

    /// A scanner whose 64-byte blocks use the portable masks, the only ones on
    /// aarch64: x86_64 tests and the fuzzer compare it with the SSE2 scanner, so a
    /// fault in the code arm64 hosts run shows up where CI always runs.
    pub fn portable() -> Self {
        Scanner {
            portable: true,
            ..Self::default()
        }
    }

    /// The earliest buffer offset still needed; the caller may drop bytes before it.
    pub fn keep_from(&self) -> usize {
        let mut keep = self.pos;
        if self.rec_open && !self.rec_too_large {
            keep = keep.min(self.rec_start);
        }
        if self.mode == Mode::Object && !self.records_mode && !self.top_too_large {
            keep = keep.min(self.top_start);
        }
        if let Some(&(s, _)) = self.pending.front() {
            keep = keep.min(s);
        }
        keep
    }

    /// The caller removed the first `n` bytes of its buffer (`n <= keep_from()`).
    pub fn shift(&mut self, n: usize) {
        debug_assert!(n <= self.keep_from());
        self.pos -= n;
        self.top_start = self.top_start.saturating_sub(n);
        self.rec_start = self.rec_start.saturating_sub(n);
        for p in &mut self.pending {
            p.0 -= n;
            p.1 -= n;
        }
        self.dropped += n as u64;
    }

    /// Damage seen so far in this file; call [`Scanner::finish`] at its end first.
    pub fn damage(&self) -> Damage {
        self.damage
    }

    /// The file ended: records that were still open are lost (truncation).
    pub fn finish(&mut self) -> Damage {
        if self.mode != Mode::Top || self.in_str {
            self.damage.truncated = true;
        }
        self.damage
    }

    fn stray(&mut self) {
        self.damage.stray_bytes += 1;
        if self.damage.first_stray_at.is_none() {
            self.damage.first_stray_at = Some(self.dropped + self.pos as u64);
        }
    }

    /// Scans `buf` from where it stopped; returns the next item, or `None` when it
    /// needs more bytes (append them to `buf` and call again).
    pub fn next(&mut self, buf: &[u8]) -> Option<Item> {
        loop {
            if self.pos >= buf.len() {
                return None;
            }
            let before = (self.pos, self.mode);
            let item = match self.mode {
                Mode::Top => {
                    self.top(buf);
                    None
                }
                Mode::Object => self.object(buf),
                Mode::Array => self.array(buf),
                Mode::ArrayObject => self.array_object(buf),
                Mode::ArrayOther => self.array_other(buf),
            };
            if item.is_some() {
                return item;
            }
            if (self.pos, self.mode) == before {
                // Stopped inside an escape sequence or a possible BOM: needs more bytes.
                return None;
            }
        }
    }

    fn top(&mut self, buf: &[u8]) {
        if self.at_file_start && self.dropped == 0 && self.pos == 0 {
            if buf.len() < BOM.len() && BOM.starts_with(buf) {
                return; // wait for more bytes to tell
            }
            self.at_file_start = false;
            if buf.starts_with(BOM) {
                self.pos = BOM.len();
                return;
            }
        }
        self.at_file_start = false;
        while self.pos < buf.len() {
            let c = buf[self.pos];
            match c {
                b'{' => {
                    self.mode = Mode::Object;
                    self.top_start = self.pos;
                    self.depth = 1;
                    self.records_mode = false;
                    self.top_too_large = false;
                    self.brackets = 0;
                    self.records_array = None;
                    self.records_key = false;
                    self.key_candidate = None;
                    self.pos += 1;
                    return;
                }
                b'[' => {
                    self.mode = Mode::Array;
                    self.pos += 1;
                    return;
                }
                // Separators between concatenated values are tolerated.
                b',' => {}
                c if is_ws(c) => {}
                _ => self.stray(),
            }
            self.pos += 1;
        }
    }

    /// Skips the rest of a string; true when it closed within `buf`.
    #[inline]
    fn skip_string(&mut self, buf: &[u8]) -> bool {
        loop {
            let Some(off) = memchr2(b'"', b'\\', &buf[self.pos..]) else {
                self.note_key_bytes(&buf[self.pos..]);
                self.pos = buf.len();
                return false;
            };
            let at = self.pos + off;
            self.note_key_bytes(&buf[self.pos..at]);
            if buf[at] == b'"' {
                self.pos = at + 1;
                self.in_str = false;
                return true;
            }
            // A backslash: it and the escaped byte are part of the string.
            if at + 1 >= buf.len() {
                // The escaped byte has not arrived: resume at the backslash.
                self.pos = at;
                return false;
            }
            self.note_key_bytes(&buf[at..at + 2]);
            self.pos = at + 2;
        }
    }

    #[inline]
    fn note_key_bytes(&mut self, bytes: &[u8]) {
        if self.str_at_depth1 && self.key_len <= self.key.len() {
            let room = self.key.len() + 1 - self.key_len;
            for &b in bytes.iter().take(room) {
                if self.key_len < self.key.len() {
                    self.key[self.key_len] = b;
                }
                self.key_len += 1;
            }
        }
    }

    fn check_record_size(&mut self) {
        if self.rec_open && !self.rec_too_large && self.pos - self.rec_start > self.limit {
            self.rec_too_large = true;
        }
        self.check_top_size();
    }

    /// A top-level object without `Records` is itself the record: bound it too.
    fn check_top_size(&mut self) {
        if self.mode == Mode::Object
            && !self.records_mode
            && !self.top_too_large
            && self.pos - self.top_start > self.limit
        {
            self.top_too_large = true;
            self.pending.clear();
        }
    }

    /// Inside a depth-1 object (a record candidate) or deeper: braces and strings only.
    /// Returns true when the candidate closed (depth back to 1).
    fn skip_nested(&mut self, buf: &[u8], base_depth: u32) -> bool {
        if buf.len() - self.pos >= 64 {
            let mut st = block::State {
                in_str: self.in_str,
                escape_pending: false,
                depth: self.depth,
            };
            let outcome = if self.portable {
                block::skip_blocks::<true>(buf, self.pos, &mut st, base_depth)
            } else {
                block::skip_blocks::<false>(buf, self.pos, &mut st, base_depth)
            };
            self.in_str = st.in_str;
            self.depth = st.depth;
            match outcome {
                block::Outcome::Closed(at) => {
                    self.pos = at;
                    self.check_record_size();
                    return true;
                }
                // Both stop at a block start; if the previous block ended on an
                // escaping backslash, resume on it so the byte path sees the pair.
                block::Outcome::Consumed(at) | block::Outcome::Fallback(at) => {
                    self.pos = if st.escape_pending { at - 1 } else { at }
                }
            }
            self.check_record_size();
        }
        loop {
            if self.in_str && !self.skip_string(buf) {
                self.check_record_size();
                return false;
            }
            let Some(off) = memchr3(b'"', b'{', b'}', &buf[self.pos..]) else {
                self.pos = buf.len();
                self.check_record_size();
                return false;
            };
            let at = self.pos + off;
            self.pos = at + 1;
            match buf[at] {
                b'"' => self.in_str = true,
                b'{' => self.depth += 1,
                _ => {
                    self.depth -= 1;
                    if self.depth == base_depth {
                        self.check_record_size();
                        return true;
                    }
                }
            }
        }
    }

    /// Emits (or skips, if too large) the candidate that just closed at `self.pos`.
    fn close_candidate(&mut self) -> Item {
        self.rec_open = false;
        if self.rec_too_large {
            self.rec_too_large = false;
            Item::Skip(Skip::TooLarge)
        } else {
            Item::Record {
                start: self.rec_start,
                end: self.pos,
            }
        }
    }

    fn object(&mut self, buf: &[u8]) -> Option<Item> {
        // Flush candidates queued before the Records key.
        if self.records_mode
            && let Some((start, end)) = self.pending.pop_front()
        {
            return Some(Item::Record { start, end });
        }
        if self.depth >= 2 {
            if !self.skip_nested(buf, 1) {
                return None;
            }
            let item = self.close_candidate();
            if self.records_mode {
                return Some(item);
            }
            if let Item::Record { start, end } = item
                && !self.top_too_large
            {
                self.pending.push_back((start, end));
            }
            return None;
        }
        // Depth 1: the members of the top-level object.
        if self.in_str {
            if !self.skip_string(buf) {
                return None;
            }
            if let Some(item) = self.end_depth1_string() {
                return Some(item);
            }
        }
        while self.pos < buf.len() {
            self.check_top_size();
            let c = buf[self.pos];
            if is_ws(c) {
                self.pos += 1;
                continue;
            }
            if self.in_scalar {
                if matches!(c, b',' | b']' | b'}' | b'[' | b'{' | b'"') {
                    self.in_scalar = false;
                } else {
                    self.pos += 1;
                    continue;
                }
            }
            if let Some(is_records) = self.key_candidate.take()
                && c == b':'
                && is_records
            {
                self.records_key = true;
                if !self.top_too_large {
                    self.records_mode = true;
                }
                self.pos += 1;
                return None;
            }
            let records_key = std::mem::take(&mut self.records_key);
            match c {
                b'"' => {
                    self.pos += 1;
                    self.in_str = true;
                    self.str_at_depth1 = true;
                    self.key_len = 0;
                    if !self.skip_string(buf) {
                        return None;
                    }
                    if let Some(item) = self.end_depth1_string() {
                        return Some(item);
                    }
                }
                b'{' => {
                    self.rec_start = self.pos;
                    self.rec_open = true;
                    self.rec_too_large = false;
                    self.depth = 2;
                    self.pos += 1;
                    return None;
                }
                b'}' => {
                    self.pos += 1;
                    self.depth = 0;
                    self.mode = Mode::Top;
                    if self.records_mode {
                        return None;
                    }
                    self.pending.clear();
                    return Some(if self.top_too_large {
                        Item::Skip(Skip::TooLarge)
                    } else {
                        Item::Record {
                            start: self.top_start,
                            end: self.pos,
                        }
                    });
                }
                b'[' => {
                    self.brackets += 1;
                    if records_key && self.brackets == 1 {
                        self.records_array = Some(1);
                    }
                    self.pos += 1;
                }
                b']' => {
                    if self.records_array == Some(self.brackets) {
                        self.records_array = None;
                    }
                    self.brackets = self.brackets.saturating_sub(1);
                    self.pos += 1;
                }
                b',' | b':' => self.pos += 1,
                _ => {
                    // A number or literal; an element of the Records array if there.
                    self.in_scalar = true;
                    self.pos += 1;
                    if self.in_records_array() {
                        return Some(Item::Skip(Skip::NotAnObject));
                    }
                }
            }
        }
        None
    }

    fn in_records_array(&self) -> bool {
        self.records_mode
            && self
                .records_array
                .is_some_and(|level| level == self.brackets)
    }

    /// A string at depth 1 ended: it may be a key (`Records`?) or a Records element.
    fn end_depth1_string(&mut self) -> Option<Item> {
        self.str_at_depth1 = false;
        if self.brackets == 0 {
            self.key_candidate = Some(self.key_len == 7 && &self.key[..7] == b"Records");
            None
        } else if self.in_records_array() {
            Some(Item::Skip(Skip::NotAnObject))
        } else {
            None
        }
    }

    fn array(&mut self, buf: &[u8]) -> Option<Item> {
        if self.in_str {
            if !self.skip_string(buf) {
                return None;
            }
            return Some(Item::Skip(Skip::NotAnObject));
        }
        while self.pos < buf.len() {
            let c = buf[self.pos];
            if self.in_scalar {
                if matches!(c, b',' | b']' | b'}' | b'[' | b'{' | b'"') || is_ws(c) {
                    self.in_scalar = false;
                } else {
                    self.pos += 1;
                    continue;
                }
            }
            match c {
                b']' => {
                    self.pos += 1;
                    self.mode = Mode::Top;
                    return None;
                }
                b'{' => {
                    self.mode = Mode::ArrayObject;
                    self.rec_start = self.pos;
                    self.rec_open = true;
                    self.rec_too_large = false;
                    self.depth = 1;
                    self.pos += 1;
                    return None;
                }
                b'[' => {
                    self.mode = Mode::ArrayOther;
                    self.nest = 1;
                    self.pos += 1;
                    return None;
                }
                b'"' => {
                    self.pos += 1;
                    self.in_str = true;
                    if !self.skip_string(buf) {
                        return None;
                    }
                    return Some(Item::Skip(Skip::NotAnObject));
                }
                b',' => self.pos += 1,
                c if is_ws(c) => self.pos += 1,
                b'}' => {
                    self.stray();
                    self.pos += 1;
                }
                _ => {
                    self.in_scalar = true;
                    self.pos += 1;
                    return Some(Item::Skip(Skip::NotAnObject));
                }
            }
        }
        None
    }

    fn array_object(&mut self, buf: &[u8]) -> Option<Item> {
        if !self.skip_nested(buf, 0) {
            return None;
        }
        self.mode = Mode::Array;
        Some(self.close_candidate())
    }

    fn array_other(&mut self, buf: &[u8]) -> Option<Item> {
        loop {
            if self.in_str && !self.skip_string(buf) {
                return None;
            }
            let rest = &buf[self.pos..];
            let Some(off) = rest
                .iter()
                .position(|&b| matches!(b, b'"' | b'[' | b'{' | b']' | b'}'))
            else {
                self.pos = buf.len();
                return None;
            };
            let at = self.pos + off;
            self.pos = at + 1;
            match buf[at] {
                b'"' => self.in_str = true,
                b'[' | b'{' => self.nest += 1,
                _ => {
                    self.nest -= 1;
                    if self.nest == 0 {
                        self.mode = Mode::Array;
                        return Some(Item::Skip(Skip::NotAnObject));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
