//! An open source: bytes from a [`Feed`], records from the scanner, events in batches.
//!
//! Batch rules (spec 2.4, with D8): up to [`MAX_BATCH`] events; skipped records never
//! end a batch early; when nothing is ready the call waits briefly and returns a
//! timeout (never success with zero events); EOF is returned only by a call that
//! delivers no events, after the last event went out.

use std::time::{Duration, Instant};

use crate::batch::Batch;
use crate::extract::Extractor;
use crate::log::Logger;
use crate::metrics::Metrics;
use crate::record::Skip;
use crate::scan::{Item, Scanner};
use crate::source::{Chunk, Feed, Recv};
use std::sync::Arc;

/// Events per batch (the upstream SDK's default).
pub const MAX_BATCH: usize = 128;

/// How long an empty `next_batch` waits for data before returning a timeout.
pub const IDLE_WAIT: Duration = Duration::from_millis(30);

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

struct FileState {
    id: u64,
    name: String,
    events: u64,
    skips: [u64; Skip::ALL.len()],
}

pub struct Instance {
    feed: Box<dyn Feed>,
    window: Vec<u8>,
    scanner: Scanner,
    file: Option<FileState>,
    files_started: u64,
    /// The feed has nothing more to give.
    drained: bool,
    failed: Option<String>,
    batch: Batch,
    log: Logger,
    metrics: Arc<Metrics>,
    /// The last file whose events have all been put in a batch.
    finished_file: Option<u64>,
    /// `finished_file` as of the previous batch: those events have been delivered.
    delivered_file: Option<u64>,
}

impl Instance {
    pub fn new(feed: Box<dyn Feed>, log: Logger, metrics: Arc<Metrics>) -> Self {
        Instance {
            feed,
            window: Vec::new(),
            scanner: Scanner::new(),
            file: None,
            files_started: 0,
            drained: false,
            failed: None,
            batch: Batch::default(),
            log,
            metrics,
            finished_file: None,
            delivered_file: None,
        }
    }

    pub fn batch(&self) -> &Batch {
        &self.batch
    }

    pub fn batch_mut(&mut self) -> &mut Batch {
        &mut self.batch
    }

    /// Upstream's progress: files started over files known, as a fraction and text.
    pub fn progress(&self) -> (f64, String) {
        let total = self.feed.total_files().unwrap_or(self.files_started);
        let pd = self.files_started as f64 / total as f64;
        let text = if pd.is_nan() {
            format!("NaN% - {}/{} files", self.files_started, total)
        } else {
            format!(
                "{:.2}% - {}/{} files",
                pd * 100.0,
                self.files_started,
                total
            )
        };
        (pd, text)
    }

    /// Stops the source's threads. Closing delivers the last batch. Idempotent.
    pub fn close(&mut self) {
        if let Some(f) = self.finished_file.take() {
            if self.delivered_file != Some(f) {
                self.feed.delivered(f);
            }
        }
        self.feed.close();
    }

    /// Fills the next batch. `ex` keeps the index of every event put in it.
    pub fn next_batch(&mut self, ex: &mut Extractor) -> Result<Status, String> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        // Everything handed out by the previous call has now reached Falco.
        if self.delivered_file != self.finished_file {
            self.delivered_file = self.finished_file;
            if let Some(f) = self.delivered_file {
                self.feed.delivered(f);
            }
        }
        ex.begin_batch();
        self.batch.clear();
        let deadline = Instant::now() + IDLE_WAIT;
        let status = loop {
            if self.batch.len() >= MAX_BATCH {
                break Status::Events(self.batch.len());
            }
            if let Some(item) = self.scanner.next(&self.window) {
                self.on_item(item, ex);
                continue;
            }
            self.compact();
            if self.drained {
                break if self.batch.is_empty() {
                    Status::Eof
                } else {
                    Status::Events(self.batch.len())
                };
            }
            let wait = if self.batch.is_empty() {
                deadline.saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            match self.feed.recv(wait) {
                Recv::Chunk(c) => self.on_chunk(c),
                Recv::Idle => {
                    break if self.batch.is_empty() {
                        Status::Timeout
                    } else {
                        Status::Events(self.batch.len())
                    };
                }
                Recv::Done => {
                    self.drained = true;
                    self.end_file(None);
                }
                Recv::Failed(e) => {
                    self.failed = Some(e.clone());
                    return Err(e);
                }
            }
        };
        ex.end_batch(self.batch.address_range(), self.batch.offsets());
        Ok(status)
    }

    fn on_item(&mut self, item: Item, ex: &mut Extractor) {
        match item {
            Item::Record { start, end } => {
                let payload = &self.window[start..end];
                match ex.admit(payload) {
                    Ok(ts) => {
                        self.batch.push(ts, payload);
                        Metrics::add(&self.metrics.events, 1);
                        if let Some(f) = &mut self.file {
                            f.events += 1;
                        }
                    }
                    Err(skip) => self.skip(skip),
                }
            }
            Item::Skip(skip) => self.skip(skip),
        }
    }

    fn skip(&mut self, why: Skip) {
        self.metrics.skipped(why);
        if let Some(f) = &mut self.file {
            f.skips[Skip::ALL.iter().position(|s| *s == why).unwrap_or(0)] += 1;
        }
    }

    /// Drops the bytes the scanner is done with.
    fn compact(&mut self) {
        let keep = self.scanner.keep_from();
        if keep > 0 {
            self.window.drain(..keep);
            self.scanner.shift(keep);
        }
    }

    fn on_chunk(&mut self, chunk: Chunk) {
        match chunk {
            Chunk::Start { file, name } => {
                self.end_file(None);
                self.files_started += 1;
                self.scanner = Scanner::new();
                self.window.clear();
                self.file = Some(FileState {
                    id: file,
                    name,
                    events: 0,
                    skips: [0; Skip::ALL.len()],
                });
            }
            Chunk::Data(buf) => {
                if self.window.is_empty() {
                    self.window = buf;
                } else {
                    self.window.extend_from_slice(&buf);
                }
            }
            Chunk::End { error } => self.end_file(error),
        }
    }

    /// The current file is complete: report what happened to it, once.
    fn end_file(&mut self, error: Option<String>) {
        let Some(file) = self.file.take() else { return };
        let damage = self.scanner.finish();
        self.window.clear();
        self.finished_file = Some(file.id);
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
            Metrics::add(&self.metrics.files_read, 1);
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
        Metrics::add(&self.metrics.files_failed, 1);
        let mut msg = format!("{}: {}", file.name, problems.join("; "));
        if problems.is_empty() {
            msg = format!("{}: damaged records", file.name);
        }
        msg.push_str(&format!("; {} events emitted", file.events));
        if !skipped.is_empty() {
            msg.push_str(&format!(", records skipped: {}", skipped.join(", ")));
        }
        self.log.error(&msg);
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.close();
    }
}
