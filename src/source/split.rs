//! Decompressed bytes → buffers of whole records, on the source's own thread.
//!
//! The decompressor writes straight into the splitter's window; the scanner finds the
//! records; every so often the window's prefix holding finished records is cut off
//! and sent, with the records' positions, to the preparation thread. Each sent buffer
//! ends with [`PADDING`] spare bytes so records can be parsed in place.

use crate::record::Skip;
use crate::scan::{Damage, Item, Scanner};

/// Spare bytes at the end of every sent buffer (simd-json's input padding).
pub const PADDING: usize = simd_json::INPUT_PADDING;

/// Room a read gets at least.
const READ: usize = 64 * 1024;

/// Send the window once it holds this many finished bytes.
const SEND_AT: usize = 256 * 1024;

/// A new window's size: twice `SEND_AT`, so that after a cut the records carried
/// over and the next reads fit without growing (growing copies the whole buffer).
const WINDOW: usize = 2 * SEND_AT;

/// What the scanner found, relative to the buffer it is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Record { start: usize, end: usize },
    Skip(Skip),
}

/// Whole records, ready for the preparation thread.
#[derive(Debug, Default)]
pub struct Records {
    pub buf: Vec<u8>,
    pub found: Vec<Found>,
}

impl Records {
    /// One record that arrives whole (carried in a message, or the plugin's own), as
    /// the unit the preparation stage reads: its bytes with the parser's padding after
    /// them, or a counted skip when it is not even an object (the emission rules
    /// decide everything else, as for a file's records).
    pub fn one(mut buf: Vec<u8>) -> Records {
        let len = buf.len();
        // The bytes are a whole JSON value, starting at its first byte.
        let is_object = buf.first() == Some(&b'{');
        buf.resize(len + PADDING, b' ');
        let found = if is_object {
            Found::Record { start: 0, end: len }
        } else {
            Found::Skip(crate::record::Skip::NotAnObject)
        };
        Records {
            buf,
            found: vec![found],
        }
    }
}

pub struct Splitter {
    scanner: Scanner,
    /// Bytes `..used` are data; the rest of its length is initialised spare room
    /// (kept initialised so that each read does not clear it again).
    window: Vec<u8>,
    used: usize,
    found: Vec<Found>,
    /// Spare buffers (the preparation thread hands them back).
    spare: Vec<Vec<u8>>,
}

impl Default for Splitter {
    fn default() -> Self {
        Splitter {
            scanner: Scanner::new(),
            window: Vec::new(),
            used: 0,
            found: Vec::new(),
            spare: Vec::new(),
        }
    }
}

impl Splitter {
    /// A splitter for a new file (keeping spare buffers).
    pub fn reset(&mut self) {
        self.scanner = Scanner::new();
        self.used = 0;
        self.found.clear();
    }

    pub fn give_back(&mut self, buf: Vec<u8>) {
        if self.spare.len() < 8 && buf.capacity() >= WINDOW {
            self.spare.push(buf);
        }
    }

    /// A spare buffer, or a new one of `WINDOW` bytes.
    fn fresh_window(&mut self) -> Vec<u8> {
        self.spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(WINDOW + PADDING))
    }

    /// Room for the next read (at least `READ` bytes), to fill from its start.
    pub fn space(&mut self) -> &mut [u8] {
        if self.window.capacity() == 0 {
            self.window = self.fresh_window();
        }
        if self.window.len() < self.used + READ {
            // Use the whole allocation; grow it only for records that do not fit.
            let want = (self.used + READ).max(self.window.capacity().saturating_sub(PADDING));
            self.window.reserve(want + PADDING - self.window.len());
            self.window.resize(want, 0);
        }
        &mut self.window[self.used..]
    }

    /// `n` bytes of the space were filled: scans them. Returns records to send, if
    /// enough accumulated.
    pub fn filled(&mut self, n: usize) -> Option<Records> {
        self.used += n;
        while let Some(item) = self.scanner.next(&self.window[..self.used]) {
            self.found.push(match item {
                Item::Record { start, end } => Found::Record { start, end },
                Item::Skip(s) => Found::Skip(s),
            });
        }
        (self.scanner.keep_from() >= SEND_AT).then(|| self.cut())
    }

    /// Cuts off the finished prefix of the window, with its records.
    fn cut(&mut self) -> Records {
        let keep = self.scanner.keep_from();
        let tail = keep..self.used;
        // A spare buffer is still initialised to its length: copying over its start
        // keeps that, so the next reads need not clear room again.
        let mut rest = self.fresh_window();
        if rest.len() >= tail.len() {
            rest[..tail.len()].copy_from_slice(&self.window[tail]);
        } else {
            rest.clear();
            rest.extend_from_slice(&self.window[tail]);
        }
        self.used -= keep;
        let mut buf = std::mem::replace(&mut self.window, rest);
        buf.truncate(keep);
        buf.resize(keep + PADDING, b' ');
        self.scanner.shift(keep);
        Records {
            buf,
            found: std::mem::take(&mut self.found),
        }
    }

    /// The file ended: the last records, and what damage the scanner saw.
    pub fn finish(&mut self) -> (Option<Records>, Damage) {
        let damage = self.scanner.finish();
        let last = (!self.found.is_empty()).then(|| self.cut());
        self.reset();
        (last, damage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(sp: &mut Splitter, data: &[u8], out: &mut Vec<String>) {
        let mut rest = data;
        while !rest.is_empty() {
            let space = sp.space();
            let n = space.len().min(rest.len()).min(7777);
            space[..n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            if let Some(r) = sp.filled(n) {
                let buf = collect(r, out);
                sp.give_back(buf);
            }
        }
    }

    fn collect(r: Records, out: &mut Vec<String>) -> Vec<u8> {
        assert!(r.buf.len() >= PADDING);
        for f in r.found {
            if let Found::Record { start, end } = f {
                assert!(r.buf.len() - end >= PADDING);
                out.push(String::from_utf8(r.buf[start..end].to_vec()).unwrap());
            }
        }
        r.buf
    }

    #[test]
    fn records_survive_cuts_across_buffers() {
        let recs: Vec<String> = (0..5000)
            .map(|i| format!(r#"{{"i":{i},"s":"{}"}}"#, "x".repeat(i % 300)))
            .collect();
        let data = format!("{{\"Records\":[{}]}}", recs.join(","));
        let mut sp = Splitter::default();
        let mut out = Vec::new();
        feed(&mut sp, data.as_bytes(), &mut out);
        let (last, damage) = sp.finish();
        if let Some(r) = last {
            collect(r, &mut out);
        }
        assert_eq!(damage, Damage::default());
        assert_eq!(out, recs);
    }

    /// Buffers come back holding old bytes past their data; a second file read into
    /// them must not see any of it.
    #[test]
    fn reused_buffers_show_no_old_bytes() {
        let file = |tag: &str, n: usize| {
            let recs: Vec<String> = (0..n)
                .map(|i| format!(r#"{{"{tag}":{i},"s":"{}"}}"#, "y".repeat(i * 7 % 900)))
                .collect();
            let data = format!("{{\"Records\":[{}]}}", recs.join(","));
            (recs, data)
        };
        let mut sp = Splitter::default();
        for (recs, data) in [file("a", 3000), file("bb", 50), file("c", 2000)] {
            let mut out = Vec::new();
            feed(&mut sp, data.as_bytes(), &mut out);
            let (last, damage) = sp.finish();
            if let Some(r) = last {
                let buf = collect(r, &mut out);
                sp.give_back(buf);
            }
            assert_eq!(damage, Damage::default());
            assert_eq!(out, recs);
        }
    }
}
