//! An open source, as Falco's event thread sees it: batches of ready events.
//!
//! Behind it run the source's threads (I/O, gunzip) and the preparation thread
//! ([`crate::prepare`]); `next_batch` only takes prepared blocks from a channel and
//! hands out pointers into them. Batch rules (spec 2.4, with D8): up to
//! [`MAX_BATCH`] events; skipped records never shorten a batch; when nothing is ready
//! the call waits briefly and returns a timeout (never success with zero events); EOF
//! comes only from a call that delivers no events, after the last event went out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::extract::Extractor;
use crate::log::Logger;
use crate::metrics::Metrics;
use crate::prepare::{self, Block, Mark, Prepared, Preparer};
use crate::source::{Control, Feed, Recycled};

/// Events per batch (the upstream SDK's default).
pub const MAX_BATCH: usize = 128;

/// How long an empty `next_batch` waits for data before returning a timeout.
pub const IDLE_WAIT: Duration = Duration::from_millis(30);

/// Prepared blocks buffered ahead of Falco.
const AHEAD: usize = 16;

/// What a `next_batch` call produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `n > 0` events are in the batch; call again.
    Events(usize),
    /// Nothing ready yet; call again.
    Timeout,
    /// No more events, ever.
    Eof,
}

/// The file marks handed on so far.
#[derive(Default)]
struct Files {
    /// Files started (for progress).
    started: u64,
    /// Files ended: a file is open while fewer ended than started.
    ended: u64,
    /// Files whose last event went out in the current batch.
    finished: Vec<u64>,
}

impl Files {
    fn apply(&mut self, mark: Mark) {
        match mark {
            Mark::Started(_) => self.started += 1,
            Mark::Finished(f) => {
                self.ended += 1;
                self.finished.push(f);
            }
        }
    }
}

/// How long closing waits for the end mark of a file whose events all went out.
const CLOSE_WAIT_FOR_END: std::time::Duration = std::time::Duration::from_millis(200);

pub struct Instance {
    rx: Option<Receiver<Prepared>>,
    recycle: Option<SyncSender<Recycled>>,
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    control: Arc<dyn Control>,
    /// Blocks holding events of the current batch; the last may have more to give.
    live: Vec<Block>,
    /// Next event of the last live block to hand out.
    cursor: usize,
    /// Next mark of the last live block to apply.
    mark_cursor: usize,
    /// The current batch: (live block, offset) of each event.
    batch: Vec<(usize, usize)>,
    files: Files,
    done: bool,
    failed: Option<String>,
    metrics: Arc<Metrics>,
    /// The current batch was discarded (it did not reach Falco).
    discarded: bool,
    /// Event timestamps of the current batch: the oldest and the last.
    batch_ts: Option<(u64, u64)>,
}

impl Instance {
    /// Starts the preparation thread over `feed`. `dedup`: how many recent event
    /// identities to remember for duplicate removal (0: off).
    pub fn start(
        mut feed: Box<dyn Feed>,
        log: Logger,
        metrics: Arc<Metrics>,
        dedup: usize,
    ) -> Result<Instance> {
        let control = feed.control();
        metrics.reset_lag();
        let prep_metrics = metrics.clone();
        let (tx, rx) = sync_channel(AHEAD);
        let (recycle_tx, recycle_rx) = sync_channel(AHEAD * 2);
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("cloudtrail-prep".into())
            .spawn(move || {
                let prep = Preparer::new(log, prep_metrics).with_dedup(dedup);
                prepare::run(prep, feed.as_mut(), &stop2, &tx, &recycle_rx);
                feed.close();
            })
            .map_err(|e| Error::new(format!("cannot start the preparation thread: {e}")))?;
        Ok(Instance {
            rx: Some(rx),
            recycle: Some(recycle_tx),
            thread: Some(thread),
            stop,
            control,
            live: Vec::new(),
            cursor: 0,
            mark_cursor: 0,
            batch: Vec::new(),
            files: Files::default(),
            done: false,
            failed: None,
            metrics,
            discarded: false,
            batch_ts: None,
        })
    }

    /// Events in the current batch.
    pub fn batch_len(&self) -> usize {
        self.batch.len()
    }

    /// The bytes of event `i` of the current batch (header and payload).
    pub fn event(&self, i: usize) -> &[u8] {
        let (b, off) = self.batch[i];
        let arena = &self.live[b].arena;
        let len = crate::event::total_len(&arena[off..]).unwrap_or(0);
        &arena[off..off + len]
    }

    /// Pointers to the current batch's events, for the host (which writes into them).
    pub fn event_ptrs(&mut self, out: &mut Vec<*mut u8>) {
        out.clear();
        for &(b, off) in &self.batch {
            out.push(self.live[b].arena[off..].as_mut_ptr());
        }
    }

    /// Upstream's progress: files started over files known, as a fraction and text.
    pub fn progress(&self) -> (f64, String) {
        let total = self.control.total_files().unwrap_or(self.files.started);
        let pd = self.files.started as f64 / total as f64;
        let text = if pd.is_nan() {
            format!("NaN% - {}/{} files", self.files.started, total)
        } else {
            format!(
                "{:.2}% - {}/{} files",
                pd * 100.0,
                self.files.started,
                total
            )
        };
        (pd, text)
    }

    /// The previous batch reached Falco: report finished files, release memory.
    fn settle_previous(&mut self, ex: &mut Extractor) {
        self.discarded = false;
        if !self.files.finished.is_empty() {
            self.control.delivered(&self.files.finished);
            self.files.finished.clear();
        }
        let indexes = ex.take_batch();
        self.batch.clear();
        // Keep only the last block, if it still has events or marks to give.
        let keep_last = self
            .live
            .last()
            .is_some_and(|b| self.cursor < b.offsets.len() || self.mark_cursor < b.marks.len());
        let n = self.live.len() - usize::from(keep_last);
        let blocks: Vec<_> = self.live.drain(..n).collect();
        if !keep_last {
            self.cursor = 0;
            self.mark_cursor = 0;
        }
        if let Some(tx) = &self.recycle {
            let _ = tx.try_send(Recycled { indexes, blocks });
        }
    }

    /// Fills the next batch. `ex` receives the index of every event in it.
    pub fn next_batch(&mut self, ex: &mut Extractor) -> Result<Status> {
        if let Some(e) = &self.failed {
            return Err(Error::new(e.clone()));
        }
        self.settle_previous(ex);
        while self.batch.len() < MAX_BATCH {
            if self.take_from_last(ex) {
                continue;
            }
            // The last block is exhausted: get the next one.
            if self.done {
                break;
            }
            let Some(rx) = &self.rx else { break };
            let got = if self.batch.is_empty() {
                rx.recv_timeout(IDLE_WAIT)
                    .map_err(|e| e == RecvTimeoutError::Disconnected)
            } else {
                rx.try_recv().map_err(|e| e == TryRecvError::Disconnected)
            };
            match got {
                Ok(Prepared::Block(b)) => {
                    if self.live.last().is_some() {
                        self.cursor = 0;
                        self.mark_cursor = 0;
                    }
                    self.live.push(b);
                }
                Ok(Prepared::Done) | Err(true) => self.done = true,
                Ok(Prepared::Failed(e)) => {
                    self.failed = Some(e.clone());
                    if self.batch.is_empty() {
                        return Err(Error::new(e));
                    }
                    break;
                }
                Err(false) => break,
            }
        }
        ex.end_batch();
        if let Some((oldest, last)) = self.batch_ts.take() {
            let now = crate::time::now_ns();
            let ms = |ts: u64| now.saturating_sub(ts) / 1_000_000;
            self.metrics.lag(ms(last), ms(oldest));
        }
        Ok(match (self.batch.len(), self.done) {
            (0, true) => Status::Eof,
            (0, false) => Status::Timeout,
            (n, _) => Status::Events(n),
        })
    }

    /// Moves events (and marks) from the last live block into the batch; false when
    /// it has nothing more to give.
    fn take_from_last(&mut self, ex: &mut Extractor) -> bool {
        let slot = match self.live.len() {
            0 => return false,
            n => n - 1,
        };
        let block = &mut self.live[slot];
        let mut progressed = false;
        while self.batch.len() < MAX_BATCH {
            // Marks placed before the next event apply now.
            while let Some(&(pos, mark)) = block.marks.get(self.mark_cursor) {
                if pos > self.cursor {
                    break;
                }
                self.files.apply(mark);
                self.mark_cursor += 1;
                progressed = true;
            }
            let Some(&off) = block.offsets.get(self.cursor) else {
                break;
            };
            let index = block.indexes.get_mut(self.cursor).and_then(Option::take);
            let ts = crate::event::timestamp(&block.arena[off..]).unwrap_or(0);
            self.batch_ts = Some(match self.batch_ts {
                Some((oldest, _)) => (oldest.min(ts), ts),
                None => (ts, ts),
            });
            let addr = block.arena[off..].as_ptr() as usize;
            ex.add_event(addr, index);
            self.batch.push((slot, off));
            self.cursor += 1;
            progressed = true;
        }
        progressed
    }

    /// The current batch did not reach its destination: closing must not count its
    /// files as delivered.
    pub fn discard_batch(&mut self) {
        self.files.finished.clear();
        self.discarded = true;
    }

    /// On close, after a delivered batch: files whose end follows the last event
    /// handed out, with no other event in between, went out whole even though their
    /// end mark was not reached (the batch was full, or the mark sits in a block
    /// still waiting in the channel or still being prepared). Counting them spares
    /// their SQS messages a redelivery and their checkpoint entries a re-read. While a
    /// file is open, the next block is awaited for at most [`CLOSE_WAIT_FOR_END`].
    fn finish_trailing(&mut self) {
        let deadline = std::time::Instant::now() + CLOSE_WAIT_FOR_END;
        loop {
            if let Some(block) = self.live.last() {
                while let Some(&(pos, mark)) = block.marks.get(self.mark_cursor) {
                    if pos > self.cursor {
                        return;
                    }
                    self.files.apply(mark);
                    self.mark_cursor += 1;
                }
                if self.cursor < block.offsets.len() {
                    return;
                }
            }
            if self.files.ended >= self.files.started {
                return;
            }
            let wait = deadline.saturating_duration_since(std::time::Instant::now());
            let Some(Ok(Prepared::Block(b))) = self.rx.as_ref().map(|rx| rx.recv_timeout(wait))
            else {
                return;
            };
            self.live.push(b);
            self.cursor = 0;
            self.mark_cursor = 0;
        }
    }

    /// Stops the source's threads (within a bounded time). Closing delivers the last
    /// batch. Idempotent.
    pub fn close(&mut self) {
        if !self.discarded {
            self.finish_trailing();
        }
        if !self.files.finished.is_empty() {
            self.control.delivered(&self.files.finished);
            self.files.finished.clear();
        }
        self.control.closed();
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receivers unblocks a preparation thread waiting to send.
        self.rx = None;
        self.recycle = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.live.clear();
        self.batch.clear();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.close();
    }
}
