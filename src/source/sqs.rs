//! `sqs://queue`: follows new CloudTrail files and events as their messages arrive.
//!
//! Receiver threads long-poll the queue and turn each receive's messages into what
//! they carry (every notification shape, see [`super::notify`]): files are queued on
//! the download pool shared with S3 mode; the CloudTrail records carried in
//! EventBridge events join the same stream together, as units complete on arrival
//! (one hand-off per receive, no download worker woken), so they reach Falco within
//! seconds of the API call. How many long polls are open follows the queue: while
//! receives come back full another one opens, up to `sqsReceiveConcurrency`; each
//! empty one closes one, down to [`IDLE_RECEIVERS`].
//!
//! A message is deleted only once every event of everything it carried reached Falco
//! (at-least-once: a crash means redelivery, never loss), by acknowledging threads
//! (`sqsDeleteConcurrency` of them, so as many DeleteMessageBatch calls at once) that
//! are woken per batch of ten settled messages, not per message, and that keep the
//! messages being read hidden; on close, messages not fully delivered are made
//! visible again at once. A message that cannot be understood, or whose file cannot
//! be downloaded, is left in the queue for its redrive policy. Several plugin
//! instances on one queue share the work through SQS visibility.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::integrity::Validation;
use super::notify::{self, Notice, Work};
use super::pool::{Handle, Job, Options, Pool};
use super::s3::wanted_key;
use super::split::Records;
use super::{Control, Feed, Recv};
use crate::aws::s3::S3;
use crate::aws::sqs::{BATCH, Message, Sqs};
use crate::error::{Error, Result};
use crate::interval::Interval;
use crate::log::Logger;
use crate::metrics::Metrics;

/// Messages received and not yet settled, at most: a one-event message settles as
/// soon as Falco has its event, so this only bounds bursts (memory is bounded by
/// `s3MaxBufferedBytes` as well).
const MAX_READING: usize = 4096;

/// Long polls kept open on an idle queue (fewer when `sqsReceiveConcurrency` is
/// lower): two, so that one is always waiting while the other hands over what it got.
pub const IDLE_RECEIVERS: usize = 2;

/// Messages received and not yet delivered beyond which the consumer, not SQS, is
/// the limit: no more long polls open (see `Gate::follow`).
const BACKLOG: usize = 500;

/// How long settled messages short of a batch of ten wait for more before they are
/// deleted anyway.
const DELETE_FILL: Duration = Duration::from_millis(50);

/// How often messages being read are checked for a visibility extension.
const EXTEND_EVERY: Duration = Duration::from_secs(1);

pub struct Settings {
    pub queue: String,
    pub url: String,
    pub delete: bool,
    pub wait_seconds: u32,
    pub visibility_seconds: u32,
    /// Long polls in flight at most (the busy queue's number).
    pub receivers: usize,
    /// DeleteMessageBatch calls made at once, at most.
    pub delete_calls: usize,
    /// Log file validation of the announced files: how often to look for digests.
    pub validate: Option<Duration>,
}

/// A message whose files are being read.
struct Reading {
    receipt: String,
    /// Files not yet delivered.
    pending: usize,
    /// A file could not be downloaded.
    failed: bool,
    /// When its visibility timeout was last (re)started.
    hidden_at: Instant,
}

/// A message that needs nothing more from the consumer.
struct Settled {
    id: String,
    receipt: String,
    failed: bool,
}

#[derive(Default)]
struct Book {
    reading: HashMap<String, Reading>,
    /// File (pool sequence number) → the message that announced it.
    files: HashMap<u64, String>,
    settled: Vec<Settled>,
    /// When the oldest of `settled` settled (a partial batch waits [`DELETE_FILL`]).
    settled_since: Option<Instant>,
    /// Receivers waiting for room (see [`Ledger::room`]).
    room_waiters: usize,
}

impl Book {
    /// Queues `s` for deletion; true when the acknowledgers should hear of it: the
    /// first of a batch (its fill time starts) or a batch complete.
    fn settle(&mut self, s: Settled) -> bool {
        self.settled.push(s);
        if self.settled.len() == 1 {
            self.settled_since = Some(Instant::now());
        }
        self.settled.len() == 1 || self.settled.len().is_multiple_of(BATCH)
    }

    /// One file of message `id` is delivered (or failed); true as for [`Book::settle`].
    fn file_done(&mut self, id: &str, failed: bool) -> bool {
        let Some(r) = self.reading.get_mut(id) else {
            return false;
        };
        r.pending = r.pending.saturating_sub(1);
        r.failed |= failed;
        if r.pending > 0 {
            return false;
        }
        let Some(r) = self.reading.remove(id) else {
            return false;
        };
        self.settle(Settled {
            id: id.to_string(),
            receipt: r.receipt,
            failed: r.failed,
        })
    }
}

/// Message bookkeeping shared by the receivers, the consumer and the acknowledgers.
#[derive(Default)]
struct Ledger {
    book: Mutex<Book>,
    /// Acknowledgers wait here for settled messages.
    acks: Condvar,
    /// Receivers wait here for room (fewer messages in flight).
    room: Condvar,
}

impl Ledger {
    fn lock(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits up to `d` for room (messages settled, see `Tracker::delivered`); the
    /// pool's memory frees without a signal, hence the bound.
    fn wait_room(&self, d: Duration) {
        let mut g = self.lock();
        g.room_waiters += 1;
        let (mut g, _) = self
            .room
            .wait_timeout(g, d)
            .unwrap_or_else(|p| p.into_inner());
        g.room_waiters -= 1;
    }

    /// Wakes every waiter (stopping). Taking the lock first means no waiter is
    /// between its check and its wait.
    fn wake_all(&self) {
        drop(self.lock());
        self.acks.notify_all();
        self.room.notify_all();
    }
}

/// How many long polls are open: receiver `i` polls while `i < active`.
struct Gate {
    active: Mutex<usize>,
    changed: Condvar,
    max: usize,
    floor: usize,
}

impl Gate {
    fn new(max: usize) -> Gate {
        let floor = IDLE_RECEIVERS.min(max).max(1);
        Gate {
            active: Mutex::new(floor),
            changed: Condvar::new(),
            max: max.max(1),
            floor,
        }
    }

    fn lock(&self) -> MutexGuard<'_, usize> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until receiver `i` may poll; false when stopping.
    fn admit(&self, i: usize, stop: &AtomicBool) -> bool {
        let mut g = self.lock();
        while i >= *g && !stop.load(Ordering::Relaxed) {
            g = self.changed.wait(g).unwrap_or_else(|p| p.into_inner());
        }
        !stop.load(Ordering::Relaxed)
    }

    /// A receive asked for `asked` messages and got `got`, with `waiting` messages
    /// received and not yet delivered: a full one opens another long poll while Falco
    /// keeps up (more polls help when SQS's latency is the limit, not when the
    /// consumer is); an empty one, or a backlog, closes one. Returns the number open.
    fn follow(&self, asked: usize, got: usize, waiting: usize) -> usize {
        let mut g = self.lock();
        let backlog = waiting > BACKLOG;
        if got >= asked && !backlog && *g < self.max {
            *g += 1;
            self.changed.notify_all();
        } else if (got == 0 || backlog) && *g > self.floor {
            *g -= 1;
        }
        *g
    }

    fn wake_all(&self) {
        drop(self.lock());
        self.changed.notify_all();
    }
}

/// The consumer's side: files delivered settle their messages.
struct Tracker {
    ledger: Arc<Ledger>,
    pool: Handle,
}

impl Control for Tracker {
    fn total_files(&self) -> Option<u64> {
        Some(self.pool.added())
    }

    fn delivered(&self, files: &[u64]) {
        let failed = self.pool.take_failed(files);
        let mut b = self.ledger.lock();
        let had_room = b.reading.len() <= MAX_READING - BATCH;
        let mut tell = 0;
        for (file, failed) in files.iter().zip(failed) {
            // Recorded before the pool showed the file to anyone (see `Poller::handle`).
            if let Some(id) = b.files.remove(file) {
                tell += usize::from(b.file_done(&id, failed));
            }
        }
        // Room for a whole receive again: one waiting receiver goes on.
        let room = b.room_waiters > 0 && !had_room && b.reading.len() <= MAX_READING - BATCH;
        drop(b);
        for _ in 0..tell {
            self.ledger.acks.notify_one();
        }
        if room {
            self.ledger.room.notify_one();
        }
    }
}

struct Poller {
    sqs: Sqs,
    settings: Settings,
    pool: Handle,
    ledger: Arc<Ledger>,
    gate: Gate,
    log: Logger,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
    concurrency: usize,
    max_buffered: usize,
    all_keys: Interval,
}

/// What one message asks for, worked out before anything is locked.
enum Plan {
    /// Seen again while its files are read (its visibility ran out): keep reading,
    /// with the new receipt handle.
    Again(Message),
    /// Nothing to read: delete it.
    Settle(Message),
    /// Not understood: left in the queue.
    Leave,
    Read {
        m: Message,
        files: Vec<(String, String)>,
        records: Vec<Vec<u8>>,
    },
}

impl Poller {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Receiver `i`: long polls while the gate lets it and there is room, hands each
    /// receive's messages on together.
    fn receive_loop(&self, i: usize) {
        let s = &self.settings;
        let mut failures = 0;
        while self.gate.admit(i, &self.stop) {
            let room = self.room();
            if room == 0 {
                self.ledger.wait_room(Duration::from_millis(50));
                continue;
            }
            Metrics::add(&self.metrics.sqs_receive_calls, 1);
            match self
                .sqs
                .receive(&s.url, room, s.wait_seconds, s.visibility_seconds)
            {
                Ok(messages) => {
                    failures = 0;
                    let waiting = self.ledger.lock().reading.len();
                    let open = self.gate.follow(room, messages.len(), waiting);
                    self.metrics
                        .sqs_receivers_active
                        .store(open as u64, Ordering::Relaxed);
                    self.handle(messages);
                }
                Err(_) if self.stopping() => break,
                Err(e) => {
                    failures += 1;
                    self.log.error(&format!(
                        "receiving from sqs://{} failed: {e}; trying again",
                        s.queue
                    ));
                    let r = self.sqs.aws.http.retry;
                    self.sqs
                        .aws
                        .http
                        .sleep(crate::aws::http::backoff(r, failures).max(r.base));
                }
            }
        }
    }

    /// Acknowledger `k`: deletes settled messages, ten per call, as they settle;
    /// the first one also keeps the messages being read hidden.
    fn ack_loop(&self, k: usize) {
        let mut extended = Instant::now();
        while let Some(batch) = self.next_deletions(k == 0) {
            self.delete_settled(&batch);
            if k == 0 && extended.elapsed() >= EXTEND_EVERY {
                self.extend();
                extended = Instant::now();
            }
        }
    }

    /// Waits for messages to delete: a whole batch of ten, or fewer once they waited
    /// [`DELETE_FILL`]. With `keeper`, returns at least every [`EXTEND_EVERY`] while
    /// messages are being read (with nothing, maybe). `None`: stopping.
    fn next_deletions(&self, keeper: bool) -> Option<Vec<Settled>> {
        let mut b = self.ledger.lock();
        loop {
            if self.stopping() {
                return None;
            }
            let now = Instant::now();
            let due = b.settled_since.map(|t| t + DELETE_FILL);
            if b.settled.len() >= BATCH || due.is_some_and(|d| now >= d) {
                let n = b.settled.len().min(BATCH);
                let batch: Vec<Settled> = b.settled.drain(..n).collect();
                match b.settled.len() {
                    0 => b.settled_since = None,
                    // More whole batches: another acknowledger takes the next.
                    left if left >= BATCH => self.ledger.acks.notify_one(),
                    _ => {}
                }
                return Some(batch);
            }
            let mut wait = due.map(|d| d - now);
            if keeper && !b.reading.is_empty() {
                wait = Some(wait.map_or(EXTEND_EVERY, |w| w.min(EXTEND_EVERY)));
            }
            b = match wait {
                None => self.ledger.acks.wait(b).unwrap_or_else(|p| p.into_inner()),
                Some(w) => {
                    let (b, timeout) = self
                        .ledger
                        .acks
                        .wait_timeout(b, w)
                        .unwrap_or_else(|p| p.into_inner());
                    if keeper && timeout.timed_out() && b.settled.is_empty() {
                        return Some(Vec::new());
                    }
                    b
                }
            };
        }
    }

    /// How many more messages to ask for now (0: wait).
    fn room(&self) -> usize {
        if self.ledger.lock().reading.len() > MAX_READING - BATCH
            || self.pool.buffered() >= self.max_buffered
        {
            return 0;
        }
        // A message may announce files: one download slot each, as in S3 mode.
        self.concurrency
            .saturating_sub(self.pool.downloads() as usize)
            .min(BATCH)
    }

    /// What message `m` asks for (logging and counting what it is).
    fn plan(&self, m: Message) -> Plan {
        let queue = &self.settings.queue;
        let notice = match notify::parse(&m.body) {
            Ok(n) => n,
            Err(why) => {
                Metrics::add(&self.metrics.sqs_messages_poisoned, 1);
                self.log.warn(&format!(
                    "sqs://{queue}: message {} (received {} time(s)) is not a notification this plugin understands: {why}; left in the queue for its redrive policy",
                    m.id, m.receive_count
                ));
                return Plan::Leave;
            }
        };
        let Work { files, records } = match notice {
            Notice::Read(work) => work,
            Notice::Ignore(what) => {
                Metrics::add(&self.metrics.sqs_messages_ignored, 1);
                self.log
                    .info(&format!("sqs://{queue}: message {}: {what}, ignored", m.id));
                return Plan::Settle(m);
            }
            Notice::Confirmation { kind, url } => {
                Metrics::add(&self.metrics.sqs_messages_ignored, 1);
                self.log.warn(&format!(
                    "sqs://{queue}: message {}: SNS {kind}; to confirm, visit {url}",
                    m.id
                ));
                return Plan::Settle(m);
            }
        };
        let (files, skip): (Vec<_>, Vec<_>) = files
            .into_iter()
            .partition(|(_, key)| wanted_key(key, &self.all_keys));
        for (bucket, key) in &skip {
            self.log.debug(&format!(
                "sqs://{queue}: message {}: s3://{bucket}/{key} is not a log file, skipped",
                m.id
            ));
        }
        if files.is_empty() && records.is_empty() {
            Metrics::add(&self.metrics.sqs_messages_ignored, 1);
            return Plan::Settle(m);
        }
        Metrics::add(&self.metrics.sqs_eventbridge_events, records.len() as u64);
        Plan::Read { m, files, records }
    }

    /// Hands on the messages of one receive: their files to the download pool, one
    /// at a time, and the records they carry all together, with one lock of the
    /// ledger and one hand-off into the stream.
    fn handle(&self, messages: Vec<Message>) {
        Metrics::add(&self.metrics.sqs_messages_received, messages.len() as u64);
        let plans: Vec<Plan> = {
            let b = self.ledger.lock();
            let seen: Vec<bool> = messages
                .iter()
                .map(|m| b.reading.contains_key(&m.id))
                .collect();
            drop(b);
            messages
                .into_iter()
                .zip(seen)
                .map(|(m, again)| if again { Plan::Again(m) } else { self.plan(m) })
                .collect()
        };
        // Every message read is on record before any of its units can be delivered.
        let mut reads = Vec::new();
        let mut tell = false;
        {
            let mut b = self.ledger.lock();
            for plan in plans {
                match plan {
                    Plan::Again(m) => {
                        if let Some(r) = b.reading.get_mut(&m.id) {
                            r.receipt = m.receipt;
                            r.hidden_at = Instant::now();
                        }
                    }
                    Plan::Settle(m) => {
                        tell |= b.settle(Settled {
                            id: m.id,
                            receipt: m.receipt,
                            failed: false,
                        })
                    }
                    Plan::Leave => {}
                    Plan::Read { m, files, records } => {
                        b.reading.insert(
                            m.id.clone(),
                            Reading {
                                receipt: m.receipt,
                                pending: files.len() + records.len(),
                                failed: false,
                                hidden_at: Instant::now(),
                            },
                        );
                        reads.push((m.id, files, records));
                    }
                }
            }
        }
        if tell {
            self.ledger.acks.notify_one();
        }
        let queue = &self.settings.queue;
        let mut owners = Vec::new();
        let mut units = Vec::new();
        for (id, files, records) in reads {
            for (bucket, key) in files {
                // None: stopping; the message is made visible again by `release`.
                let queued = self.pool.push_with(Job { bucket, key }, |seq| {
                    self.ledger.lock().files.insert(seq, id.clone());
                });
                if queued.is_none() {
                    return;
                }
            }
            let name = format!("sqs://{queue} message {id}");
            for r in records {
                units.push((name.clone(), Records::one(r)));
                owners.push(id.clone());
            }
        }
        if units.is_empty() {
            return;
        }
        self.pool.push_ready(units, |first| {
            let mut b = self.ledger.lock();
            for (seq, id) in (first..).zip(owners) {
                b.files.insert(seq, id);
            }
        });
    }

    /// Deletes settled messages (those whose files were all delivered); leaves the
    /// failed ones.
    fn delete_settled(&self, done: &[Settled]) {
        let queue = &self.settings.queue;
        let mut receipts = Vec::new();
        for s in done {
            if s.failed {
                Metrics::add(&self.metrics.sqs_messages_poisoned, 1);
                self.log.warn(&format!(
                    "sqs://{queue}: message {}: a file it announced could not be downloaded; left in the queue to be tried again (or moved by its redrive policy)",
                    s.id
                ));
            } else {
                receipts.push(s.receipt.as_str());
            }
        }
        if !self.settings.delete || receipts.is_empty() {
            return;
        }
        for group in receipts.chunks(BATCH) {
            self.delete(group);
        }
    }

    /// On close: deletes what settled, `sqsDeleteConcurrency` calls at once.
    fn settle_all(&self) {
        let done = {
            let mut b = self.ledger.lock();
            b.settled_since = None;
            std::mem::take(&mut b.settled)
        };
        let calls = self.settings.delete_calls.max(1);
        let per_call = done
            .len()
            .div_ceil(calls)
            .next_multiple_of(BATCH)
            .max(BATCH);
        std::thread::scope(|scope| {
            for group in done.chunks(per_call) {
                let spawned = std::thread::Builder::new()
                    .name("cloudtrail-sqs-del".into())
                    .spawn_scoped(scope, || self.delete_settled(group));
                if spawned.is_err() {
                    self.delete_settled(group);
                }
            }
        });
    }

    fn delete(&self, receipts: &[&str]) {
        let queue = &self.settings.queue;
        Metrics::add(&self.metrics.sqs_delete_calls, 1);
        match self.sqs.delete(&self.settings.url, receipts) {
            Ok(failures) => {
                Metrics::add(
                    &self.metrics.sqs_messages_deleted,
                    (receipts.len() - failures.len().min(receipts.len())) as u64,
                );
                for f in failures {
                    self.log.warn(&format!(
                        "sqs://{queue}: cannot delete a handled message ({}: {}); it will be delivered again",
                        f.code, f.message
                    ));
                }
            }
            Err(e) => self.log.error(&format!(
                "sqs://{queue}: deleting {} handled message(s) failed: {e}; they will be delivered again",
                receipts.len()
            )),
        }
    }

    /// Keeps messages being read hidden from other readers.
    fn extend(&self) {
        let vis = self.settings.visibility_seconds;
        let due_after = Duration::from_millis(u64::from(vis) * 500);
        let now = Instant::now();
        let due: Vec<(String, String)> = self
            .ledger
            .lock()
            .reading
            .iter()
            .filter(|(_, r)| now.duration_since(r.hidden_at) >= due_after)
            .map(|(id, r)| (id.clone(), r.receipt.clone()))
            .collect();
        if due.is_empty() {
            return;
        }
        let receipts: Vec<&str> = due.iter().map(|(_, r)| r.as_str()).collect();
        let queue = &self.settings.queue;
        let failed = match self.sqs.set_visibility(&self.settings.url, &receipts, vis) {
            Ok(f) => f,
            Err(e) => {
                self.log.warn(&format!(
                    "sqs://{queue}: extending the visibility of {} message(s) failed: {e}",
                    due.len()
                ));
                return;
            }
        };
        for f in &failed {
            self.log.warn(&format!(
                "sqs://{queue}: cannot extend the visibility of message {} ({}: {}); another reader may get it too",
                due.get(f.index).map_or("?", |d| d.0.as_str()),
                f.code,
                f.message
            ));
        }
        let mut b = self.ledger.lock();
        for (i, (id, _)) in due.iter().enumerate() {
            if failed.iter().any(|f| f.index == i) {
                continue;
            }
            if let Some(r) = b.reading.get_mut(id) {
                r.hidden_at = now;
            }
        }
    }

    /// On close: messages not fully delivered become visible again at once.
    fn release(&self) {
        let left: Vec<String> = {
            let mut b = self.ledger.lock();
            b.files.clear();
            b.reading.drain().map(|(_, r)| r.receipt).collect()
        };
        if left.is_empty() {
            return;
        }
        let receipts: Vec<&str> = left.iter().map(String::as_str).collect();
        let queue = &self.settings.queue;
        match self.sqs.set_visibility(&self.settings.url, &receipts, 0) {
            Ok(_) => self.log.info(&format!(
                "sqs://{queue}: {} message(s) not fully delivered made visible again",
                left.len()
            )),
            Err(e) => self.log.warn(&format!(
                "sqs://{queue}: cannot make {} undelivered message(s) visible again ({e}); they return after their visibility timeout",
                left.len()
            )),
        }
    }
}

/// Reads what an SQS queue's messages announce or carry.
pub struct SqsFeed {
    pool: Pool,
    poller: Arc<Poller>,
    threads: Vec<JoinHandle<()>>,
    ledger: Arc<Ledger>,
    stop: Arc<AtomicBool>,
    closed: bool,
}

impl SqsFeed {
    /// Starts polling `settings.url` (already resolved, so a missing queue failed
    /// the open).
    pub fn start(
        s3: Arc<S3>,
        sqs: Sqs,
        settings: Settings,
        opts: Options,
        log: Logger,
        metrics: Arc<Metrics>,
        stop: Arc<AtomicBool>,
    ) -> Result<SqsFeed> {
        let pool = Pool::start(s3.clone(), &opts, &log, &metrics, stop.clone())?;
        // Hashing starts before any receiver does.
        let validation = settings.validate.map(|every| {
            log.info(&format!(
                "sqs://{}: log file validation checks the log files messages announce; EventBridge events carry no file, so there is nothing to check for them",
                settings.queue
            ));
            let v = Validation::start(
                s3.clone(),
                s3.aws.clone(),
                pool.handle(),
                None,
                log.clone(),
                metrics.clone(),
            );
            (every, v)
        });
        let ledger = Arc::new(Ledger::default());
        let (receivers, acks) = (settings.receivers.max(1), settings.delete_calls.max(1));
        let poller = Arc::new(Poller {
            sqs,
            settings,
            pool: pool.handle(),
            ledger: ledger.clone(),
            gate: Gate::new(receivers),
            log,
            metrics,
            stop: stop.clone(),
            concurrency: opts.concurrency,
            max_buffered: opts.max_buffered,
            all_keys: Interval::default(),
        });
        let mut feed = SqsFeed {
            pool,
            poller: poller.clone(),
            threads: Vec::new(),
            ledger,
            stop,
            closed: false,
        };
        // Log file validation of the files messages announce, on a thread of its own
        // (which keeps it).
        if let Some((every, v)) = validation {
            let stop = feed.stop.clone();
            let spawned = std::thread::Builder::new()
                .name("cloudtrail-validate".into())
                .spawn(move || {
                    while super::pause(&stop, every) {
                        v.check(false, &stop);
                    }
                });
            match spawned {
                Ok(t) => feed.threads.push(t),
                Err(e) => return Err(Error::new(format!("cannot start the SQS threads: {e}"))),
            }
        }
        // Every receiver starts now; those past the gate's count wait, costing nothing.
        let threads = (0..acks)
            .map(|k| (format!("cloudtrail-ack-{k}"), k, true))
            .chain((0..receivers).map(|i| (format!("cloudtrail-sqs-{i}"), i, false)));
        for (name, i, ack) in threads {
            let p = poller.clone();
            let body = move || {
                if ack {
                    p.ack_loop(i)
                } else {
                    p.receive_loop(i)
                }
            };
            match std::thread::Builder::new().name(name).spawn(body) {
                Ok(t) => feed.threads.push(t),
                Err(e) => {
                    // Dropping the feed stops and joins what did start.
                    return Err(Error::new(format!("cannot start the SQS threads: {e}")));
                }
            }
        }
        Ok(feed)
    }
}

impl Feed for SqsFeed {
    fn recv(&mut self, wait: Duration) -> Recv {
        self.pool.handle().recv(wait)
    }

    fn give_back(&mut self, buf: Vec<u8>) {
        self.pool.handle().give_back(buf);
    }

    fn control(&self) -> Arc<dyn Control> {
        Arc::new(Tracker {
            ledger: self.ledger.clone(),
            pool: self.pool.handle(),
        })
    }

    fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.stop.store(true, Ordering::Relaxed);
        self.ledger.wake_all();
        self.poller.gate.wake_all();
        self.pool.close();
        // Receivers finish their current long poll (at most `sqsWaitSeconds`).
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // What was delivered is deleted; the rest becomes visible again.
        self.poller.settle_all();
        self.poller.release();
    }
}

impl Drop for SqsFeed {
    fn drop(&mut self) {
        self.close();
    }
}
