//! The download pool shared by the S3 and SQS sources.
//!
//! A producer (the S3 lister, the SQS poller) queues objects; a fixed set of
//! `s3DownloadConcurrency` worker threads download, decompress and split them; the
//! consumer receives whole objects strictly in queue order, starting with the first
//! one while later ones still download. Downloaded-but-unconsumed bytes are capped:
//! workers ahead of the consumer wait, while the object the consumer needs next always
//! proceeds, so memory stays bounded and nothing deadlocks.
//!
//! Records that arrive inside an SQS message (EventBridge) join the same ordered
//! stream as units that are complete on arrival ([`Handle::push_ready`], all the
//! messages of one receive at once): they need no worker, and the consumer cannot
//! tell them from small files.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::split::{Records, Splitter};
use super::{Chunk, Recv, stream_file};
use crate::aws::s3::{ObjectReader, S3};
use crate::error::{Error, Result};
use crate::log::Logger;
use crate::metrics::Metrics;

/// Queued objects waiting for a worker, at most (producers wait beyond).
const QUEUE_AHEAD: usize = 2000;

/// One object to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub bucket: String,
    pub key: String,
}

pub struct Options {
    pub concurrency: usize,
    pub max_buffered: usize,
    pub max_decompressed: u64,
}

/// An object being downloaded (or a ready unit) waiting to be consumed.
struct Slot {
    chunks: VecDeque<Chunk>,
    /// A download (counted in `State::downloads`), not a ready unit.
    download: bool,
}

#[derive(Default)]
struct State {
    queue: VecDeque<(u64, Job)>,
    added: u64,
    /// Downloads queued, running or not yet fully consumed.
    downloads: u64,
    producer_done: bool,
    producer_error: Option<String>,
    slots: BTreeMap<u64, Slot>,
    head: u64,
    buffered: usize,
    spare: Vec<Vec<u8>>,
    /// Objects that could not be downloaded (after retries).
    failed: HashSet<u64>,
    /// Threads waiting on [`Shared::room`] (so that nobody signals an empty room).
    room_waiters: usize,
    /// The consumer waits on [`Shared::ready`].
    consumer_waiting: bool,
}

/// One condition variable per kind of waiter, each signalled only when its waiters
/// have something to do: a record carried in a message wakes the consumer, not the
/// download workers, and a worker is woken for a download, one at a time. Waits carry
/// no timeout (only the consumer's, which the caller asks for): every change that
/// can end a wait signals it, so an idle pool costs no wake-ups at all.
struct Shared {
    state: Mutex<State>,
    /// Workers wait here for a job (or the end).
    work: Condvar,
    /// The consumer waits here for the head object's next chunk.
    ready: Condvar,
    /// Workers ahead of the consumer over the memory cap, and producers over
    /// [`QUEUE_AHEAD`], wait here.
    room: Condvar,
    stop: Arc<AtomicBool>,
    cap: usize,
    added: AtomicU64,
    /// Told the SHA-256 of each object read whole (log file validation).
    hashed: Mutex<Option<Hashed>>,
}

/// Receives `(bucket, key, hex SHA-256 of the uncompressed content)`.
pub type Hashed = Arc<dyn Fn(&str, &str, String) + Send + Sync>;

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn wait<'a>(cv: &Condvar, g: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        cv.wait(g).unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for room (see [`Shared::room`]).
    fn wait_room<'a>(&self, mut g: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        g.room_waiters += 1;
        g = Self::wait(&self.room, g);
        g.room_waiters -= 1;
        g
    }

    /// Memory was freed, the head moved or the queue shrank.
    fn made_room(&self, g: &State) {
        if g.room_waiters > 0 {
            self.room.notify_all();
        }
    }

    /// A chunk or a slot that the consumer may be waiting for arrived.
    fn arrived(&self, g: &State) {
        if g.consumer_waiting {
            self.ready.notify_one();
        }
    }

    /// Wakes every waiter (the end of the producer, or stopping). Taking the lock
    /// first means no waiter is between its check and its wait.
    fn wake_all(&self) {
        drop(self.lock());
        self.work.notify_all();
        self.ready.notify_all();
        self.room.notify_all();
    }
}

fn chunk_size(c: &Chunk) -> usize {
    match c {
        Chunk::Records(r) => r.buf.capacity(),
        _ => 0,
    }
}

/// A cheap handle for producers and the consumer side.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

pub struct Pool {
    handle: Handle,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    pub fn start(
        s3: Arc<S3>,
        opts: &Options,
        log: &Logger,
        metrics: &Arc<Metrics>,
        stop: Arc<AtomicBool>,
    ) -> Result<Pool> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            ready: Condvar::new(),
            room: Condvar::new(),
            stop,
            cap: opts.max_buffered,
            added: AtomicU64::new(0),
            hashed: Mutex::new(None),
        });
        let mut workers = Vec::new();
        for i in 0..opts.concurrency {
            let (s, sh, m, log) = (s3.clone(), shared.clone(), metrics.clone(), log.clone());
            let max = opts.max_decompressed;
            let t = std::thread::Builder::new()
                .name(format!("cloudtrail-dl-{i}"))
                .spawn(move || worker(&s, &sh, &m, max, &log))
                .map_err(|e| Error::new(format!("cannot start download threads: {e}")))?;
            workers.push(t);
        }
        Ok(Pool {
            handle: Handle { shared },
            workers,
        })
    }

    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Stops the workers and waits for them.
    pub fn close(&mut self) {
        self.handle.shared.stop.store(true, Ordering::Relaxed);
        self.handle.shared.wake_all();
        for t in self.workers.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.close();
    }
}

impl Handle {
    /// Queues an object; returns its sequence number (its file id), or `None` when
    /// the pool is stopping. Waits while too many objects are queued.
    pub fn push(&self, job: Job) -> Option<u64> {
        self.push_with(job, |_| {})
    }

    /// Like [`Handle::push`], calling `on_queued` with the sequence number before any
    /// worker or the consumer can see the object (so a delivery can never come first).
    pub fn push_with(&self, job: Job, on_queued: impl FnOnce(u64)) -> Option<u64> {
        let sh = &self.shared;
        let mut g = sh.lock();
        while g.queue.len() >= QUEUE_AHEAD && !sh.stopping() {
            g = sh.wait_room(g);
        }
        if sh.stopping() {
            return None;
        }
        let seq = g.added;
        on_queued(seq);
        g.added += 1;
        g.downloads += 1;
        g.queue.push_back((seq, job));
        sh.added.store(g.added, Ordering::Relaxed);
        sh.work.notify_one();
        Some(seq)
    }

    /// Queues units whose records are already here (the records carried in the
    /// messages of one receive), together: one lock and at most one wake-up of the
    /// consumer, none of the download workers. `on_queued` gets the first unit's
    /// sequence number (the others follow it) before the consumer can see any of them.
    /// Returns false when the pool is stopping. Never waits: the producer bounds what
    /// it keeps in flight.
    pub fn push_ready(
        &self,
        units: impl IntoIterator<Item = (String, Records)>,
        on_queued: impl FnOnce(u64),
    ) -> bool {
        let sh = &self.shared;
        let mut g = sh.lock();
        if sh.stopping() {
            return false;
        }
        on_queued(g.added);
        for (name, records) in units {
            let seq = g.added;
            g.added += 1;
            g.buffered += records.buf.capacity();
            let chunks = VecDeque::from(Chunk::arrived_whole(seq, name, records));
            g.slots.insert(
                seq,
                Slot {
                    chunks,
                    download: false,
                },
            );
        }
        sh.added.store(g.added, Ordering::Relaxed);
        sh.arrived(&g);
        true
    }

    /// From now on each object read whole is hashed and reported to `to`.
    pub fn hash_files(&self, to: Hashed) {
        *self.shared.hashed.lock().unwrap_or_else(|p| p.into_inner()) = Some(to);
    }

    /// The producer has nothing more (with the reason it stopped early, if any).
    pub fn finish(&self, error: Option<String>) {
        {
            let mut g = self.shared.lock();
            g.producer_done = true;
            if error.is_some() {
                g.producer_error = error;
            }
        }
        self.shared.wake_all();
    }

    /// Objects queued so far.
    pub fn added(&self) -> u64 {
        self.shared.added.load(Ordering::Relaxed)
    }

    /// Downloads queued but not yet fully handed to the consumer.
    pub fn downloads(&self) -> u64 {
        self.shared.lock().downloads
    }

    /// Waits until every download queued so far is fully handed to the consumer, or
    /// the pool stops (its last `End` makes room, which wakes this).
    pub fn wait_downloaded(&self) {
        let sh = &self.shared;
        let mut g = sh.lock();
        while g.downloads > 0 && !sh.stopping() {
            g = sh.wait_room(g);
        }
    }

    /// Bytes received (downloaded or pushed ready) but not yet consumed.
    pub fn buffered(&self) -> usize {
        self.shared.lock().buffered
    }

    /// Whether each of the objects `seqs` could not be downloaded; forgets them.
    pub fn take_failed(&self, seqs: &[u64]) -> Vec<bool> {
        let mut g = self.shared.lock();
        if g.failed.is_empty() {
            return vec![false; seqs.len()];
        }
        seqs.iter().map(|s| g.failed.remove(s)).collect()
    }

    /// The next chunk, in object order, waiting at most `wait`.
    pub fn recv(&self, wait: Duration) -> Recv {
        let sh = &self.shared;
        let deadline = Instant::now() + wait;
        let mut g = sh.lock();
        loop {
            let head = g.head;
            if let Some(slot) = g.slots.get_mut(&head) {
                if let Some(c) = slot.chunks.pop_front() {
                    let end = matches!(c, Chunk::End { .. });
                    if end {
                        if slot.download {
                            g.downloads -= 1;
                        }
                        g.slots.remove(&head);
                        g.head += 1;
                    }
                    let size = chunk_size(&c);
                    g.buffered -= size.min(g.buffered);
                    if end || size > 0 {
                        sh.made_room(&g);
                    }
                    return Recv::Chunk(c);
                }
            } else if g.producer_done && g.queue.is_empty() && head >= g.added {
                return match g.producer_error.take() {
                    Some(e) => Recv::Failed(e),
                    None => Recv::Done,
                };
            }
            let now = Instant::now();
            if now >= deadline || sh.stopping() {
                return Recv::Idle;
            }
            g.consumer_waiting = true;
            g = sh
                .ready
                .wait_timeout(g, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
            g.consumer_waiting = false;
        }
    }

    pub fn give_back(&self, buf: Vec<u8>) {
        let mut g = self.shared.lock();
        if g.spare.len() < 16 {
            g.spare.push(buf);
        }
    }
}

fn worker(s3: &Arc<S3>, sh: &Shared, metrics: &Arc<Metrics>, max: u64, log: &Logger) {
    let mut splitter = Splitter::default();
    loop {
        let (seq, job) = {
            let mut g = sh.lock();
            loop {
                if sh.stopping() {
                    return;
                }
                if let Some(next) = g.queue.pop_front() {
                    g.slots.insert(
                        next.0,
                        Slot {
                            chunks: VecDeque::new(),
                            download: true,
                        },
                    );
                    sh.made_room(&g);
                    break next;
                }
                if g.producer_done {
                    return;
                }
                g = Shared::wait(&sh.work, g);
            }
        };
        let name = format!("s3://{}/{}", job.bucket, job.key);
        let gave_up = Arc::new(AtomicBool::new(false));
        let mut push = |c: Chunk| -> bool {
            let size = chunk_size(&c);
            let end = matches!(c, Chunk::End { .. });
            let mut g = sh.lock();
            // Recorded before the end is visible, so the consumer always sees it.
            if end && gave_up.load(Ordering::Relaxed) {
                g.failed.insert(seq);
            }
            // Ahead of the consumer and over the cap: wait (the head never waits).
            while seq != g.head && g.buffered + size > sh.cap && !sh.stopping() {
                g = sh.wait_room(g);
            }
            if sh.stopping() {
                return false;
            }
            g.buffered += size;
            if let Some(slot) = g.slots.get_mut(&seq) {
                slot.chunks.push_back(c);
            }
            if seq == g.head {
                sh.arrived(&g);
            }
            true
        };
        if !push(Chunk::Start {
            file: seq,
            name: name.clone(),
            message: false,
        }) {
            return;
        }
        let alive = match ObjectReader::open(
            s3.clone(),
            &job.bucket,
            &job.key,
            metrics.clone(),
            gave_up.clone(),
        ) {
            Ok(reader) => {
                let (bucket, key) = (&job.bucket, &job.key);
                let hashed = sh.hashed.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let mut report = hashed.map(|h| move |hash: String| h(bucket, key, hash));
                let (totals, alive) = stream_file(
                    reader,
                    max,
                    &mut splitter,
                    &mut push,
                    &mut || sh.lock().spare.pop(),
                    report.as_mut().map(|r| r as &mut dyn FnMut(String)),
                );
                Metrics::add(&metrics.bytes_decompressed, totals.decompressed);
                alive
            }
            Err(e) => {
                gave_up.store(true, Ordering::Relaxed);
                log.debug(&format!("{name}: {e}"));
                push(Chunk::End {
                    error: Some(e.to_string()),
                    damage: Default::default(),
                })
            }
        };
        if !alive {
            return;
        }
    }
}
