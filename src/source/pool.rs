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
//! stream as a unit that is complete on arrival ([`Handle::push_ready`]): they need
//! no worker, and the consumer cannot tell them from a small file.

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
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    stop: Arc<AtomicBool>,
    cap: usize,
    added: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn wait<'a>(&self, g: MutexGuard<'a, State>, d: Duration) -> MutexGuard<'a, State> {
        self.changed
            .wait_timeout(g, d)
            .map(|(g, _)| g)
            .unwrap_or_else(|p| p.into_inner().0)
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
            changed: Condvar::new(),
            stop,
            cap: opts.max_buffered,
            added: AtomicU64::new(0),
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
        self.handle.shared.changed.notify_all();
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
            g = sh.wait(g, Duration::from_millis(100));
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
        sh.changed.notify_all();
        Some(seq)
    }

    /// Queues a unit whose records are already here (a record carried in a
    /// message); returns its sequence number, or `None` when the pool is stopping.
    /// Never waits: the producer bounds what it keeps in flight.
    pub fn push_ready(&self, name: String, records: Records) -> Option<u64> {
        let sh = &self.shared;
        let mut g = sh.lock();
        if sh.stopping() {
            return None;
        }
        let seq = g.added;
        g.added += 1;
        g.buffered += records.buf.capacity();
        let chunks = VecDeque::from([
            Chunk::Start {
                file: seq,
                name,
                message: true,
            },
            Chunk::Records(records),
            Chunk::End {
                error: None,
                damage: Default::default(),
            },
        ]);
        g.slots.insert(
            seq,
            Slot {
                chunks,
                download: false,
            },
        );
        sh.added.store(g.added, Ordering::Relaxed);
        sh.changed.notify_all();
        Some(seq)
    }

    /// The producer has nothing more (with the reason it stopped early, if any).
    pub fn finish(&self, error: Option<String>) {
        let mut g = self.shared.lock();
        g.producer_done = true;
        if error.is_some() {
            g.producer_error = error;
        }
        self.shared.changed.notify_all();
    }

    /// Objects queued so far.
    pub fn added(&self) -> u64 {
        self.shared.added.load(Ordering::Relaxed)
    }

    /// Downloads queued but not yet fully handed to the consumer.
    pub fn downloads(&self) -> u64 {
        self.shared.lock().downloads
    }

    /// Bytes received (downloaded or pushed ready) but not yet consumed.
    pub fn buffered(&self) -> usize {
        self.shared.lock().buffered
    }

    /// Whether object `seq` could not be downloaded; forgets it.
    pub fn take_failed(&self, seq: u64) -> bool {
        self.shared.lock().failed.remove(&seq)
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
                    if matches!(c, Chunk::End { .. }) {
                        if slot.download {
                            g.downloads -= 1;
                        }
                        g.slots.remove(&head);
                        g.head += 1;
                    }
                    let size = chunk_size(&c);
                    g.buffered -= size.min(g.buffered);
                    sh.changed.notify_all();
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
            g = sh.wait(g, deadline - now);
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
                    sh.changed.notify_all();
                    break next;
                }
                if g.producer_done {
                    return;
                }
                g = sh.wait(g, Duration::from_millis(100));
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
                g = sh.wait(g, Duration::from_millis(100));
            }
            if sh.stopping() {
                return false;
            }
            g.buffered += size;
            if let Some(slot) = g.slots.get_mut(&seq) {
                slot.chunks.push_back(c);
            }
            sh.changed.notify_all();
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
                let (totals, alive) =
                    stream_file(reader, max, &mut splitter, &mut push, &mut || {
                        sh.lock().spare.pop()
                    });
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
