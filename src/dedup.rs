//! Duplicate removal by CloudTrail event identity, over a bounded window.
//!
//! EventBridge and SQS both deliver at least once, and a trail's file notifications
//! and its EventBridge events may reach the same Falco: the same event can arrive
//! two or three times. The window remembers the identities (`eventID` with
//! `recipientAccountId`) of the last `capacity` events emitted, oldest forgotten
//! first, so memory is bounded whatever the volume.
//!
//! Identities are kept as 128-bit keyed hashes (two SipHash keys drawn at random per
//! window), not as text: a fixed 16 bytes each, and since nobody outside the process
//! knows the keys, nobody can craft an event that collides with another to hide it.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

/// Entries already hashed with secret keys need no second hash: the set uses the low
/// 64 bits as they are.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

pub struct Dedup {
    capacity: usize,
    keys: [RandomState; 2],
    seen: HashSet<u128, BuildHasherDefault<PassThrough>>,
    order: VecDeque<u128>,
}

impl Dedup {
    /// A window over the last `capacity` events (at least one).
    pub fn new(capacity: usize) -> Dedup {
        Dedup {
            capacity: capacity.max(1),
            keys: [RandomState::new(), RandomState::new()],
            seen: HashSet::default(),
            order: VecDeque::new(),
        }
    }

    /// Whether this is the first time the window sees the event; remembers it.
    pub fn first_time(&mut self, event_id: &[u8], account: &[u8]) -> bool {
        let [a, b] = &self.keys;
        let key = (u128::from(a.hash_one((event_id, account))) << 64)
            | u128::from(b.hash_one((event_id, account)));
        if !self.seen.insert(key) {
            return false;
        }
        if self.order.len() == self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.order.push_back(key);
        true
    }

    /// Identities remembered now.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Heap bytes the window holds now (set buckets with their control bytes, and the
    /// eviction queue).
    pub fn footprint(&self) -> usize {
        self.seen.capacity() * 8 / 7 * (16 + 1) + self.order.capacity() * 16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_capacity_events() {
        let mut d = Dedup::new(3);
        assert!(d.first_time(b"a", b"1"));
        assert!(!d.first_time(b"a", b"1"));
        // The same id for another account is another event.
        assert!(d.first_time(b"a", b"2"));
        // Fields do not run into each other.
        assert!(d.first_time(b"a1", b""));
        assert_eq!(d.len(), 3);
        // A fourth pushes out the oldest ("a","1"), which is then new again.
        assert!(d.first_time(b"b", b"1"));
        assert_eq!(d.len(), 3);
        assert!(d.first_time(b"a", b"1"));
        assert!(!d.first_time(b"b", b"1"));
    }

    #[test]
    fn memory_stays_bounded() {
        let mut d = Dedup::new(100_000);
        for i in 0..350_000u32 {
            let id = format!("{i:08x}-1111-2222-3333-444455556666");
            assert!(d.first_time(id.as_bytes(), b"123456789012"));
        }
        assert_eq!(d.len(), 100_000);
        // 16-byte keys in a set and a queue: about 7 MB at most for 100,000.
        assert!(d.footprint() < 7 << 20, "{}", d.footprint());
        // The last 100,000 are remembered, the earlier ones are not.
        assert!(!d.first_time(b"0005543f-1111-2222-3333-444455556666", b"123456789012"));
        assert!(d.first_time(b"00000001-1111-2222-3333-444455556666", b"123456789012"));
    }
}
