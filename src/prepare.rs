//! The preparation stage: records in, ready events out.
//!
//! Runs on its own thread, between the source (I/O, gunzip and record splitting) and
//! Falco's event thread. It parses each record into its tape index (which is also
//! upstream's acceptance test), applies the emission rules, and lays the accepted
//! records out as finished plugin events in a [`Block`]. `next_batch` then only hands
//! out pointers, and extraction is lookups on indexes built here.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::Duration;

use crate::dedup::Dedup;
use crate::event;
use crate::json::tape::{Indexer, TapeIndex};
use crate::log::Logger;
use crate::metrics::Metrics;
use crate::record::{self, Index, Skip};
use crate::scan::Damage;
use crate::source::split::{Found, Records};
use crate::source::{Chunk, Feed, Recv, Recycled};

/// Events per block (one full batch).
pub const BLOCK_EVENTS: usize = 128;
/// Index memory kept per block; past it, indexes are rebuilt when extracted.
const BLOCK_INDEX_BUDGET: usize = 32 << 20;

/// Where a file starts or ends in the event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A file was opened; the events that follow are its own.
    Started(u64),
    /// A file ended; every event before this mark that belongs to it is out.
    Finished(u64),
}

/// A run of ready events (or just file marks), in stream order.
#[derive(Default)]
pub struct Block {
    /// The events, back to back, each 8-byte aligned.
    pub arena: Vec<u8>,
    /// Offset of each event in `arena`.
    pub offsets: Vec<usize>,
    /// Each event's index (`None` when over the memory budget: rebuilt on demand).
    pub indexes: Vec<Option<Index>>,
    /// File marks, each with the number of this block's events that precede it.
    pub marks: Vec<(usize, Mark)>,
    index_bytes: usize,
}

impl Block {
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty() && self.marks.is_empty()
    }
}

/// What the consumer receives from the preparation thread.
pub enum Prepared {
    Block(Block),
    /// The source has no more files.
    Done,
    /// The source cannot go on.
    Failed(String),
}

struct FileState {
    id: u64,
    name: String,
    /// Records from a message, not a file: not counted in the file metrics.
    message: bool,
    events: u64,
    skips: [u64; Skip::ALL.len()],
}

/// Turns chunks into blocks.
pub struct Preparer {
    /// The records being worked through, and where in `found` we are.
    current: Option<(Records, usize)>,
    indexer: Indexer,
    // Boxed: an index moves into `Index::Tape` and back without reallocating.
    #[allow(clippy::vec_box)]
    spare: Vec<Box<TapeIndex>>,
    /// Emptied blocks, to reuse their allocations.
    blocks: Vec<Block>,
    file: Option<FileState>,
    log: Logger,
    metrics: Arc<Metrics>,
    block: Block,
    done_with: Vec<Vec<u8>>,
    /// Duplicate removal, when the source asks for it.
    dedup: Option<Dedup>,
}

impl Preparer {
    pub fn new(log: Logger, metrics: Arc<Metrics>) -> Self {
        Preparer {
            current: None,
            indexer: Indexer::default(),
            spare: Vec::new(),
            blocks: Vec::new(),
            file: None,
            log,
            metrics,
            block: Block::default(),
            done_with: Vec::new(),
            dedup: None,
        }
    }

    /// Drops events whose identity was emitted among the last `window` events
    /// (0: off).
    pub fn with_dedup(mut self, window: usize) -> Self {
        self.dedup = (window > 0).then(|| Dedup::new(window));
        self
    }

    /// Takes the block built so far.
    pub fn take_block(&mut self) -> Block {
        let fresh = self.blocks.pop().unwrap_or_else(|| Block {
            arena: Vec::with_capacity(256 * 1024),
            offsets: Vec::with_capacity(BLOCK_EVENTS),
            indexes: Vec::with_capacity(BLOCK_EVENTS),
            ..Block::default()
        });
        std::mem::replace(&mut self.block, fresh)
    }

    pub fn block_is_full(&self) -> bool {
        self.block.len() >= BLOCK_EVENTS
    }

    pub fn block_is_empty(&self) -> bool {
        self.block.is_empty()
    }

    /// Takes back what delivered events no longer need, to reuse the allocations.
    pub fn recycle(&mut self, back: Recycled) {
        let Recycled { indexes, blocks } = back;
        self.recycle_indexes(indexes);
        for mut b in blocks {
            if self.blocks.len() < 4 {
                b.arena.clear();
                b.offsets.clear();
                self.recycle_indexes(b.indexes.drain(..).flatten());
                b.marks.clear();
                b.index_bytes = 0;
                self.blocks.push(b);
            }
        }
    }

    fn recycle_indexes(&mut self, indexes: impl IntoIterator<Item = Index>) {
        for idx in indexes {
            if let Index::Tape(t) = idx
                && self.spare.len() < 4 * BLOCK_EVENTS
                && t.footprint() <= 1 << 20
            {
                self.spare.push(t);
            }
        }
    }

    /// Processes one chunk; stops early (returning true) whenever the block is full,
    /// so the caller can send it and call [`Preparer::resume`].
    pub fn feed(&mut self, chunk: Chunk) -> bool {
        match chunk {
            Chunk::Start {
                file,
                name,
                message,
            } => {
                self.end_file(None, Damage::default());
                self.block
                    .marks
                    .push((self.block.len(), Mark::Started(file)));
                self.file = Some(FileState {
                    id: file,
                    name,
                    message,
                    events: 0,
                    skips: [0; Skip::ALL.len()],
                });
                false
            }
            Chunk::Records(r) => {
                self.current = Some((r, 0));
                self.resume()
            }
            Chunk::End { error, damage } => {
                self.end_file(error, damage);
                false
            }
        }
    }

    /// Works through the current records; returns true if it stopped because the
    /// block is full.
    pub fn resume(&mut self) -> bool {
        let Some((mut recs, mut i)) = self.current.take() else {
            return false;
        };
        while i < recs.found.len() {
            if self.block_is_full() {
                self.current = Some((recs, i));
                return true;
            }
            match recs.found[i] {
                Found::Record { start, end } => self.admit(&mut recs.buf, start, end),
                Found::Skip(skip) => self.skip(skip),
            }
            i += 1;
        }
        self.done_with.push(recs.buf);
        false
    }

    /// Buffers whose records are all processed (to hand back to the source).
    pub fn take_done(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.done_with)
    }

    fn admit(&mut self, buf: &mut [u8], start: usize, end: usize) {
        // The event goes into the block first: parsing may rewrite the buffer's copy.
        let at = event::encode(&mut self.block.arena, 0, &buf[start..end]);
        let payload_at = at + event::PAYLOAD_OFFSET;
        let payload = &self.block.arena[payload_at..];
        let spare = self.spare.pop().unwrap_or_default();
        let indexed = record::index_in_place(&mut self.indexer, buf, start, end, payload, spare);
        let index = match indexed {
            Ok(i) => i,
            Err(skip) => {
                self.block.arena.truncate(at);
                return self.skip(skip);
            }
        };
        let view = index.view(payload);
        let accepted = view.timestamp().and_then(|ts| {
            // Identity lookups only where duplicate removal is on (not on the hot
            // path of a file source).
            let seen_before = self.dedup.as_mut().is_some_and(|d| {
                view.identity()
                    .is_some_and(|(id, account)| !d.first_time(&id, &account))
            });
            if seen_before {
                Err(Skip::Duplicate)
            } else {
                Ok(ts)
            }
        });
        match accepted {
            Ok(ts) => {
                self.block.arena[at..at + 8].copy_from_slice(&ts.to_le_bytes());
                self.block.offsets.push(at);
                let size = index.footprint();
                if self.block.index_bytes + size <= BLOCK_INDEX_BUDGET {
                    self.block.index_bytes += size;
                    self.block.indexes.push(Some(index));
                } else {
                    self.recycle_indexes([index]);
                    self.block.indexes.push(None);
                }
                if let Some(f) = &mut self.file {
                    f.events += 1;
                }
            }
            Err(skip) => {
                self.block.arena.truncate(at);
                self.recycle_indexes([index]);
                self.skip(skip);
            }
        }
    }

    fn skip(&mut self, why: Skip) {
        self.metrics.skipped(why);
        if let Some(f) = &mut self.file {
            f.skips[Skip::ALL.iter().position(|s| *s == why).unwrap_or(0)] += 1;
        }
    }

    /// The current file is complete (or the source stopped): report it, once.
    pub fn end_file(&mut self, error: Option<String>, damage: Damage) {
        let Some(file) = self.file.take() else { return };
        self.block
            .marks
            .push((self.block.len(), Mark::Finished(file.id)));
        let lost: u64 = [
            Skip::InvalidJson,
            Skip::TooDeep,
            Skip::TooLarge,
            Skip::NotAnObject,
        ]
        .iter()
        .map(|s| file.skips[Skip::ALL.iter().position(|x| x == s).unwrap_or(0)])
        .sum();
        let mut problems = Vec::new();
        if let Some(e) = error {
            problems.push(e);
        }
        if damage.truncated {
            problems.push("the file ends inside a JSON value (truncated?)".to_string());
        }
        if damage.stray_bytes > 0 {
            problems.push(format!(
                "{} bytes that are not JSON were skipped (first at byte {})",
                damage.stray_bytes,
                damage.first_stray_at.unwrap_or(0)
            ));
        }
        let skipped: Vec<String> = Skip::ALL
            .iter()
            .zip(file.skips)
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| format!("{n} {}", s.describe()))
            .collect();
        if problems.is_empty() && lost == 0 {
            if !file.message {
                Metrics::add(&self.metrics.files_read, 1);
            }
            if !skipped.is_empty() {
                self.log.debug(&format!(
                    "{}: {} events, records skipped: {}",
                    file.name,
                    file.events,
                    skipped.join(", ")
                ));
            }
            return;
        }
        if !file.message {
            Metrics::add(&self.metrics.files_failed, 1);
        }
        let what = if problems.is_empty() {
            "damaged records".to_string()
        } else {
            problems.join("; ")
        };
        let mut msg = format!("{}: {what}; {} events emitted", file.name, file.events);
        if !skipped.is_empty() {
            msg.push_str(&format!(", records skipped: {}", skipped.join(", ")));
        }
        self.log.error(&msg);
    }
}

/// The preparation thread: pulls chunks from `feed`, pushes blocks into `tx`, takes
/// allocations back from `recycled`. Returns when the source is done, `stop` is set
/// or the consumer went away.
pub fn run(
    mut prep: Preparer,
    feed: &mut dyn Feed,
    stop: &AtomicBool,
    tx: &SyncSender<Prepared>,
    recycled: &Receiver<Recycled>,
) {
    loop {
        while let Ok(v) = recycled.try_recv() {
            prep.recycle(v);
        }
        for buf in prep.take_done() {
            feed.give_back(buf);
        }
        if stop.load(Ordering::Relaxed) {
            return;
        }
        // With a partial block waiting, do not sleep on the source: hand it out.
        let wait = if prep.block_is_empty() {
            Duration::from_millis(100)
        } else {
            Duration::ZERO
        };
        let full = match feed.recv(wait) {
            Recv::Chunk(c) => prep.feed(c),
            Recv::Idle => {
                if prep.block_is_empty() {
                    continue;
                }
                true
            }
            Recv::Done => {
                prep.end_file(None, Damage::default());
                if !prep.block_is_empty() && tx.send(Prepared::Block(prep.take_block())).is_err() {
                    return;
                }
                let _ = tx.send(Prepared::Done);
                return;
            }
            Recv::Failed(e) => {
                prep.end_file(Some(e.clone()), Damage::default());
                if !prep.block_is_empty() {
                    let _ = tx.send(Prepared::Block(prep.take_block()));
                }
                let _ = tx.send(Prepared::Failed(e));
                return;
            }
        };
        if full {
            if tx.send(Prepared::Block(prep.take_block())).is_err() {
                return;
            }
            // The chunk may hold more records than one block.
            while prep.resume() {
                if tx.send(Prepared::Block(prep.take_block())).is_err() {
                    return;
                }
            }
        }
    }
}
