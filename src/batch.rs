//! The events of one `next_batch` call, in one arena.
//!
//! libscap reads each event through the pointer array and writes `ts`/`tid` into it,
//! so the arena must stay put (and writable) until the next `next_batch` or `close`:
//! it is only cleared at the start of the next batch.

use crate::event;

#[derive(Default)]
pub struct Batch {
    arena: Vec<u8>,
    offsets: Vec<usize>,
}

impl Batch {
    pub fn clear(&mut self) {
        self.arena.clear();
        self.offsets.clear();
    }

    pub fn push(&mut self, ts: u64, payload: &[u8]) {
        let at = event::encode(&mut self.arena, ts, payload);
        self.offsets.push(at);
    }

    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Offsets of the events in the arena, in order.
    pub fn offsets(&self) -> &[usize] {
        &self.offsets
    }

    /// The bytes of event `i` (header and payload).
    pub fn event(&self, i: usize) -> &[u8] {
        let at = self.offsets[i];
        let len = event::total_len(&self.arena[at..]).unwrap_or(0);
        &self.arena[at..at + len]
    }

    /// The arena, for handing out pointers to the host.
    pub fn arena_mut(&mut self) -> &mut [u8] {
        &mut self.arena
    }

    /// Address range of the arena (to recognise our events in `extract_fields`).
    pub fn address_range(&self) -> (usize, usize) {
        let base = self.arena.as_ptr() as usize;
        (base, base + self.arena.len())
    }
}
