//! `sqs://queue`: follows new CloudTrail files as their notifications arrive.
//!
//! A poller thread long-polls the queue, turns each message into the files it
//! announces (every notification shape, see [`super::notify`]) and queues them on
//! the download pool shared with S3 mode. A message is deleted only once every event
//! of every file it announced reached Falco (at-least-once: a crash means
//! redelivery, never loss); while its files are read its visibility is extended; on
//! close, messages not fully delivered are made visible again at once. A message
//! that cannot be understood, or whose file cannot be downloaded, is left in the
//! queue for its redrive policy. Several plugin instances on one queue share the
//! work through SQS visibility.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::notify::{self, Notice};
use super::pool::{Handle, Job, Options, Pool};
use super::s3::wanted_key;
use super::{Control, Feed, Recv};
use crate::aws::s3::S3;
use crate::aws::sqs::{Message, Sqs};
use crate::error::{Error, Result};
use crate::interval::Interval;
use crate::log::Logger;
use crate::metrics::Metrics;

pub struct Settings {
    pub queue: String,
    pub url: String,
    pub delete: bool,
    pub wait_seconds: u32,
    pub visibility_seconds: u32,
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
        if r.pending == 0 {
            if let Some(r) = self.reading.remove(id) {
                self.settled.push(Settled {
                    id: id.to_string(),
                    receipt: r.receipt,
                    failed: r.failed,
                });
            }
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
    all_keys: Interval,
}

impl Poller {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn run(&self) {
        let s = &self.settings;
        // Short enough that visibility extensions happen in time.
        let wait = s.wait_seconds.min((s.visibility_seconds / 3).max(1));
        let mut failures = 0;
        while !self.stopping() {
            self.settle();
            self.extend();
            let room = self.room();
            if room == 0 {
                self.ledger.wait(Duration::from_millis(200));
                continue;
            }
            match self.sqs.receive(&s.url, room, wait, s.visibility_seconds) {
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
        self.settle();
        self.release();
    }

    /// How many more files the pool should take now.
    fn room(&self) -> usize {
        let reading = self.ledger.lock().reading.len();
        if reading >= self.concurrency.max(crate::aws::sqs::BATCH) {
            return 0;
        }
        self.concurrency
            .saturating_sub(self.pool.outstanding() as usize)
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
        let files = match notice {
            Notice::Files(files) => files,
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
        if keep.is_empty() {
            Metrics::add(&self.metrics.sqs_messages_ignored, 1);
            return self.settle_now(m);
        }
        self.ledger.lock().reading.insert(
            m.id.clone(),
            Reading {
                receipt: m.receipt,
                pending: keep.len(),
                failed: false,
                hidden_at: Instant::now(),
            },
        );
        for (bucket, key) in keep {
            // None: stopping; the message is made visible again by `release`.
            let Some(seq) = self.pool.push(Job { bucket, key }) else {
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
        match self.sqs.delete(&self.settings.url, &receipts) {
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

/// Reads the files an SQS queue announces.
pub struct SqsFeed {
    pool: Pool,
    poller: Option<JoinHandle<()>>,
    ledger: Arc<Ledger>,
    stop: Arc<AtomicBool>,
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
        let poller = Poller {
            sqs,
            settings,
            pool: pool.handle(),
            ledger: ledger.clone(),
            log,
            metrics,
            stop: stop.clone(),
            concurrency: opts.concurrency,
            all_keys: Interval::default(),
        };
        let poller = std::thread::Builder::new()
            .name("cloudtrail-sqs".into())
            .spawn(move || poller.run())
            .map_err(|e| Error::new(format!("cannot start the SQS poller: {e}")))?;
        Ok(SqsFeed {
            pool,
            poller: Some(poller),
            ledger,
            stop,
        })
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
        self.stop.store(true, Ordering::Relaxed);
        self.ledger.changed.notify_all();
        self.pool.close();
        if let Some(t) = self.poller.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SqsFeed {
    fn drop(&mut self) {
        self.close();
    }
}
