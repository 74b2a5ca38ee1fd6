//! `sqs://queue`: follows new CloudTrail files and events as their messages arrive.
//!
//! Receiver threads (`sqsReceiveConcurrency` of them) long-poll the queue and turn
//! each message into what it carries (every notification shape, see
//! [`super::notify`]): files are queued on the download pool shared with S3 mode;
//! a CloudTrail record carried in an EventBridge event joins the same stream as a
//! unit complete on arrival, so it reaches Falco within seconds of the API call. A
//! message is deleted only once every event of everything it carried reached Falco
//! (at-least-once: a crash means redelivery, never loss), by an acknowledging thread
//! that batches deletions (ten per call, `sqsDeleteConcurrency` calls at once) and
//! keeps the messages being read hidden; on close, messages not fully delivered are made
//! visible again at once. A message that cannot be understood, or whose file cannot
//! be downloaded, is left in the queue for its redrive policy. Several plugin
//! instances on one queue share the work through SQS visibility.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::notify::{self, Notice, Work};
use super::pool::{Handle, Job, Options, Pool};
use super::s3::wanted_key;
use super::split::{Found, PADDING, Records};
use super::{Control, Feed, Recv};
use crate::aws::s3::S3;
use crate::aws::sqs::{BATCH, Message, Sqs};
use crate::error::{Error, Result};
use crate::interval::Interval;
use crate::log::Logger;
use crate::metrics::Metrics;
use crate::record::Skip;

/// Messages received and not yet settled, at most: a one-event message settles as
/// soon as Falco has its event, so this only bounds bursts (memory is bounded by
/// `s3MaxBufferedBytes` as well).
const MAX_READING: usize = 4096;

pub struct Settings {
    pub queue: String,
    pub url: String,
    pub delete: bool,
    pub wait_seconds: u32,
    pub visibility_seconds: u32,
    /// Long polls in flight at once.
    pub receivers: usize,
    /// DeleteMessageBatch calls made at once.
    pub delete_calls: usize,
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
    /// Files delivered before the poller recorded them (→ download failed).
    early: HashMap<u64, bool>,
    settled: Vec<Settled>,
}

impl Book {
    fn file_done(&mut self, id: &str, failed: bool) {
        let Some(r) = self.reading.get_mut(id) else {
            return;
        };
        r.pending = r.pending.saturating_sub(1);
        r.failed |= failed;
        if r.pending == 0
            && let Some(r) = self.reading.remove(id)
        {
            self.settled.push(Settled {
                id: id.to_string(),
                receipt: r.receipt,
                failed: r.failed,
            });
        }
    }
}

/// Message bookkeeping shared by the poller and the consumer.
#[derive(Default)]
struct Ledger {
    book: Mutex<Book>,
    changed: Condvar,
}

impl Ledger {
    fn lock(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait(&self, d: Duration) {
        let g = self.lock();
        let _ = self.changed.wait_timeout(g, d);
    }

    /// Waits up to `d` for settled messages (or `stop`); once some are there, up to
    /// `fill` more for a whole batch of them, so that deletions go out ten per call.
    fn wait_settled(&self, d: Duration, fill: Duration, stop: &AtomicBool) {
        let stopping = || stop.load(Ordering::Relaxed);
        let g = self.lock();
        let (g, _) = self
            .changed
            .wait_timeout_while(g, d, |b| b.settled.is_empty() && !stopping())
            .unwrap_or_else(|p| p.into_inner());
        let _ = self
            .changed
            .wait_timeout_while(g, fill, |b| b.settled.len() < BATCH && !stopping());
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

    fn delivered(&self, file: u64) {
        let failed = self.pool.take_failed(file);
        let mut b = self.ledger.lock();
        match b.files.remove(&file) {
            Some(id) => b.file_done(&id, failed),
            None => {
                b.early.insert(file, failed);
            }
        }
        self.ledger.changed.notify_all();
    }
}

struct Poller {
    sqs: Sqs,
    settings: Settings,
    pool: Handle,
    ledger: Arc<Ledger>,
    log: Logger,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
    concurrency: usize,
    max_buffered: usize,
    all_keys: Interval,
}

impl Poller {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// One receiver thread: long polls while there is room, hands messages on.
    fn receive_loop(&self) {
        let s = &self.settings;
        let mut failures = 0;
        while !self.stopping() {
            let room = self.room();
            if room == 0 {
                self.ledger.wait(Duration::from_millis(200));
                continue;
            }
            match self
                .sqs
                .receive(&s.url, room, s.wait_seconds, s.visibility_seconds)
            {
                Ok(messages) => {
                    failures = 0;
                    for m in messages {
                        self.handle(m);
                    }
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

    /// The acknowledging thread: deletes delivered messages as soon as they settle,
    /// keeps the others hidden.
    fn ack_loop(&self) {
        while !self.stopping() {
            self.settle();
            self.extend();
            self.ledger.wait_settled(
                Duration::from_millis(200),
                Duration::from_millis(50),
                &self.stop,
            );
        }
    }

    /// How many more messages to ask for now (0: wait).
    fn room(&self) -> usize {
        if self.ledger.lock().reading.len() >= MAX_READING
            || self.pool.buffered() >= self.max_buffered
        {
            return 0;
        }
        // A message may announce files: one download slot each, as in S3 mode.
        self.concurrency
            .saturating_sub(self.pool.downloads() as usize)
            .min(BATCH)
    }

    fn handle(&self, m: Message) {
        Metrics::add(&self.metrics.sqs_messages_received, 1);
        {
            // Seen again while its files are read (its visibility ran out): keep
            // reading, with the new receipt handle.
            let mut b = self.ledger.lock();
            if let Some(r) = b.reading.get_mut(&m.id) {
                r.receipt = m.receipt;
                r.hidden_at = Instant::now();
                return;
            }
        }
        let queue = &self.settings.queue;
        let notice = match notify::parse(&m.body) {
            Ok(n) => n,
            Err(why) => {
                Metrics::add(&self.metrics.sqs_messages_poisoned, 1);
                self.log.warn(&format!(
                    "sqs://{queue}: message {} (received {} time(s)) is not a notification this plugin understands: {why}; left in the queue for its redrive policy",
                    m.id, m.receive_count
                ));
                return;
            }
        };
        let Work { files, records } = match notice {
            Notice::Read(work) => work,
            Notice::Ignore(what) => {
                Metrics::add(&self.metrics.sqs_messages_ignored, 1);
                self.log
                    .info(&format!("sqs://{queue}: message {}: {what}, ignored", m.id));
                return self.settle_now(m);
            }
            Notice::Confirmation { kind, url } => {
                Metrics::add(&self.metrics.sqs_messages_ignored, 1);
                self.log.warn(&format!(
                    "sqs://{queue}: message {}: SNS {kind}; to confirm, visit {url}",
                    m.id
                ));
                return self.settle_now(m);
            }
        };
        let (keep, skip): (Vec<_>, Vec<_>) = files
            .into_iter()
            .partition(|(_, key)| wanted_key(key, &self.all_keys));
        for (bucket, key) in &skip {
            self.log.debug(&format!(
                "sqs://{queue}: message {}: s3://{bucket}/{key} is not a log file, skipped",
                m.id
            ));
        }
        if keep.is_empty() && records.is_empty() {
            Metrics::add(&self.metrics.sqs_messages_ignored, 1);
            return self.settle_now(m);
        }
        Metrics::add(&self.metrics.sqs_eventbridge_events, records.len() as u64);
        self.ledger.lock().reading.insert(
            m.id.clone(),
            Reading {
                receipt: m.receipt,
                pending: keep.len() + records.len(),
                failed: false,
                hidden_at: Instant::now(),
            },
        );
        let name = format!("sqs://{queue} message {}", m.id);
        let units = keep
            .into_iter()
            .map(|(bucket, key)| self.pool.push(Job { bucket, key }))
            .chain(
                records
                    .into_iter()
                    .map(|r| self.pool.push_ready(name.clone(), record_unit(r))),
            );
        for unit in units {
            // None: stopping; the message is made visible again by `release`.
            let Some(seq) = unit else {
                break;
            };
            let mut b = self.ledger.lock();
            match b.early.remove(&seq) {
                Some(failed) => b.file_done(&m.id, failed),
                None => {
                    b.files.insert(seq, m.id.clone());
                }
            }
        }
    }

    fn settle_now(&self, m: Message) {
        self.ledger.lock().settled.push(Settled {
            id: m.id,
            receipt: m.receipt,
            failed: false,
        });
    }

    /// Deletes messages whose files were all delivered; leaves the failed ones.
    fn settle(&self) {
        let done = std::mem::take(&mut self.ledger.lock().settled);
        let queue = &self.settings.queue;
        let mut receipts = Vec::new();
        for s in &done {
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
        // Whole batches of ten, spread over a few calls at once.
        let calls = self.settings.delete_calls.max(1);
        let per_call = receipts.len().div_ceil(calls).next_multiple_of(BATCH);
        let groups: Vec<&[&str]> = receipts.chunks(per_call).collect();
        if groups.len() == 1 {
            return self.delete(groups[0]);
        }
        std::thread::scope(|scope| {
            for group in groups {
                let spawned = std::thread::Builder::new()
                    .name("cloudtrail-sqs-del".into())
                    .spawn_scoped(scope, move || self.delete(group));
                if spawned.is_err() {
                    self.delete(group);
                }
            }
        });
    }

    fn delete(&self, receipts: &[&str]) {
        let queue = &self.settings.queue;
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

/// A record carried in a message, as the unit the preparation stage reads: its
/// bytes with the parser's padding after them, or a counted skip when it is not even
/// an object (the emission rules decide everything else, as for a file's records).
fn record_unit(mut buf: Vec<u8>) -> Records {
    let len = buf.len();
    // The bytes are a whole JSON value, starting at its first byte.
    let is_object = buf.first() == Some(&b'{');
    buf.resize(len + PADDING, b' ');
    let found = if is_object {
        Found::Record { start: 0, end: len }
    } else {
        Found::Skip(Skip::NotAnObject)
    };
    Records {
        buf,
        found: vec![found],
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
        let pool = Pool::start(s3, &opts, &log, &metrics, stop.clone())?;
        let ledger = Arc::new(Ledger::default());
        let receivers = settings.receivers.max(1);
        let poller = Arc::new(Poller {
            sqs,
            settings,
            pool: pool.handle(),
            ledger: ledger.clone(),
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
        for i in 0..=receivers {
            let p = poller.clone();
            let (name, body): (String, Box<dyn FnOnce() + Send>) = if i == 0 {
                ("cloudtrail-sqs-ack".into(), Box::new(move || p.ack_loop()))
            } else {
                (
                    format!("cloudtrail-sqs-{i}"),
                    Box::new(move || p.receive_loop()),
                )
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
        self.ledger.changed.notify_all();
        self.pool.close();
        // Receivers finish their current long poll (at most `sqsWaitSeconds`).
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // What was delivered is deleted; the rest becomes visible again.
        self.poller.settle();
        self.poller.release();
    }
}

impl Drop for SqsFeed {
    fn drop(&mut self) {
        self.close();
    }
}
