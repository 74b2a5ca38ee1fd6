//! `s3://bucket[/prefix]`: CloudTrail logs straight from a bucket.
//!
//! A lister thread walks the bucket in key order and streams object names to a fixed
//! pool of `s3DownloadConcurrency` workers; each worker downloads, decompresses and
//! splits its object; the consumer receives whole objects strictly in key order
//! (deterministic, like a directory walk), starting with the first object while
//! later ones still download. Downloaded-but-unconsumed bytes are capped
//! (`s3MaxBufferedBytes`): workers ahead of the consumer wait, while the object the
//! consumer needs next always proceeds, so memory stays bounded and nothing deadlocks.
//!
//! Selection: when the keys follow the CloudTrail layout
//! (`[prefix/]AWSLogs/[o-org/]account/CloudTrail/region/YYYY/MM/DD/...`), wherever the
//! user's prefix stops (bucket root, trail prefix, `AWSLogs/`, organisation, account,
//! `CloudTrail/`), organisation and account folders are walked, `s3AccountList`
//! restricts the accounts, and `s3Interval` skips whole days before its start (S3's
//! `start-after`) and every key whose name time is outside it. Digest and Insights
//! files are never read. Any other prefix is read as a plain key prefix.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::split::Splitter;
use super::{Chunk, Control, Feed, Recv, stream_file};
use crate::aws::s3::{Object, ObjectReader, S3};
use crate::error::{Error, Result};
use crate::interval::Interval;
use crate::log::Logger;
use crate::metrics::Metrics;

/// Listed names waiting for a worker, at most.
const QUEUE_AHEAD: usize = 2000;

/// What to read from the bucket.
#[derive(Debug, Clone)]
pub struct Selection {
    pub bucket: String,
    pub prefix: String,
    pub accounts: Vec<String>,
    pub interval: Interval,
}

/// Parses `s3AccountList`: comma-separated 12-digit account ids (spaces and empty
/// elements allowed, as upstream).
pub fn parse_accounts(list: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for a in list.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::new(format!(
                "cloudtrail invalid account list: \"{list}\": '{a}' is not a 12-digit account id"
            )));
        }
        out.push(a.to_string());
    }
    Ok(out)
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_org(s: &str) -> bool {
    s.strip_prefix("o-").is_some_and(|r| {
        (10..=32).contains(&r.len())
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

fn wanted_key(key: &str, interval: &Interval) -> bool {
    let log = [".json", ".json.gz", ".jsonl", ".jsonl.gz"]
        .iter()
        .any(|s| key.ends_with(s));
    let digest = key.contains("/CloudTrail-Digest/")
        || key.contains("_CloudTrail-Digest_")
        || key.contains("/CloudTrail-Insight/");
    log && !digest && interval.admits_key(key)
}

fn with_slash(p: &str) -> String {
    if p.is_empty() || p.ends_with('/') {
        p.to_string()
    } else {
        format!("{p}/")
    }
}

/// Where in the CloudTrail layout a prefix stops.
#[derive(Debug, PartialEq, Eq)]
enum Level {
    /// `.../AWSLogs/` or `.../AWSLogs/o-org/`
    Logs(String),
    /// `.../AWSLogs/[o-org/]account/` (the `CloudTrail/` folder under it)
    Account(String),
    /// `.../account/CloudTrail/`
    Trail(String),
    /// Somewhere else: a trail prefix or the bucket root (look for `AWSLogs/`
    /// under it), or deeper than `CloudTrail/` (a plain prefix).
    Other,
}

fn classify(prefix: &str) -> Level {
    let segs: Vec<&str> = prefix.split('/').collect();
    let Some(i) = segs.iter().position(|s| *s == "AWSLogs") else {
        return Level::Other;
    };
    let base = segs[..=i].join("/") + "/";
    let after: Vec<&str> = segs[i + 1..]
        .iter()
        .copied()
        .filter(|s| !s.is_empty())
        .collect();
    let trailing = prefix.ends_with('/');
    match after.as_slice() {
        [] => Level::Logs(base),
        [o] if is_org(o) => Level::Logs(format!("{base}{o}/")),
        [a] if is_account(a) => Level::Account(format!("{base}{a}/")),
        [o, a] if is_org(o) && is_account(a) => Level::Account(format!("{base}{o}/{a}/")),
        [a, "CloudTrail"] if is_account(a) && trailing => {
            Level::Trail(format!("{base}{a}/CloudTrail/"))
        }
        [o, a, "CloudTrail"] if is_org(o) && is_account(a) && trailing => {
            Level::Trail(format!("{base}{o}/{a}/CloudTrail/"))
        }
        _ => Level::Other,
    }
}

/// Walks the selection in key order, passing each wanted object to `emit` (which
/// returns false to stop).
pub fn walk(s3: &S3, sel: &Selection, emit: &mut dyn FnMut(Object) -> bool) -> Result<()> {
    let w = Walker { s3, sel, emit };
    w.run()
}

struct Walker<'a> {
    s3: &'a S3,
    sel: &'a Selection,
    emit: &'a mut dyn FnMut(Object) -> bool,
}

impl Walker<'_> {
    fn run(mut self) -> Result<()> {
        match classify(&self.sel.prefix) {
            Level::Logs(p) => self.logs(&p).map(|_| ()),
            Level::Account(p) => self.trail(&format!("{p}CloudTrail/")).map(|_| ()),
            Level::Trail(p) => self.trail(&p).map(|_| ()),
            Level::Other => {
                // Is there an AWSLogs/ folder right under the prefix?
                let folder = with_slash(&self.sel.prefix);
                let logs = format!("{folder}AWSLogs/");
                let page = self.s3.list(&self.sel.bucket, &folder, true, None, None)?;
                let has_logs =
                    page.prefixes.contains(&logs) || self.any_prefix(&folder, &logs, page.next)?;
                if has_logs {
                    self.logs(&logs).map(|_| ())
                } else {
                    self.plain(&self.sel.prefix.clone(), None).map(|_| ())
                }
            }
        }
    }

    /// Whether a later page of a delimiter listing has `want` among its prefixes.
    fn any_prefix(&self, folder: &str, want: &str, mut token: Option<String>) -> Result<bool> {
        while let Some(t) = token {
            let page = self
                .s3
                .list(&self.sel.bucket, folder, true, None, Some(&t))?;
            if page.prefixes.iter().any(|p| p == want) {
                return Ok(true);
            }
            token = page.next;
        }
        Ok(false)
    }

    /// Every folder directly under `prefix`, in order.
    fn folders(&self, prefix: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .s3
                .list(&self.sel.bucket, prefix, true, None, token.as_deref())?;
            out.extend(page.prefixes);
            match page.next {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// `AWSLogs/` or an organisation folder: its accounts (and organisations).
    fn logs(&mut self, prefix: &str) -> Result<bool> {
        for f in self.folders(prefix)? {
            let name = f[prefix.len()..].trim_end_matches('/').to_string();
            let go_on = if is_account(&name) {
                if !self.sel.accounts.is_empty() && !self.sel.accounts.contains(&name) {
                    continue;
                }
                self.trail(&format!("{f}CloudTrail/"))?
            } else if is_org(&name) {
                self.logs(&f)?
            } else {
                true
            };
            if !go_on {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// An account's `CloudTrail/` folder: its region folders, day by day.
    fn trail(&mut self, prefix: &str) -> Result<bool> {
        for region in self.folders(prefix)? {
            let start_after = self
                .sel
                .interval
                .start_folder()
                .map(|d| format!("{region}{d}"));
            if !self.plain(&region, start_after.as_deref())? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Every wanted key under `prefix`; stops a dated folder past the interval's end.
    fn plain(&mut self, prefix: &str, start_after: Option<&str>) -> Result<bool> {
        let end = self.sel.interval.end_folder();
        let mut token: Option<String> = None;
        loop {
            let page = self.s3.list(
                &self.sel.bucket,
                prefix,
                false,
                start_after,
                token.as_deref(),
            )?;
            for o in page.objects {
                // Region folders are dated: past the end's day, nothing more is wanted.
                if let (Some(end), Some(day)) = (&end, o.key.get(prefix.len()..prefix.len() + 11)) {
                    if start_after.is_some() && day > end.as_str() {
                        return Ok(true);
                    }
                }
                if wanted_key(&o.key, &self.sel.interval) && !(self.emit)(o) {
                    return Ok(false);
                }
            }
            match page.next {
                Some(t) => token = Some(t),
                None => return Ok(true),
            }
        }
    }
}

/// An object being downloaded or waiting to be consumed.
struct Slot {
    chunks: VecDeque<Chunk>,
    done: bool,
}

#[derive(Default)]
struct State {
    queue: VecDeque<(u64, Object)>,
    listed: u64,
    listing_done: bool,
    listing_error: Option<String>,
    slots: BTreeMap<u64, Slot>,
    head: u64,
    buffered: usize,
    spare: Vec<Vec<u8>>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    stop: Arc<AtomicBool>,
    cap: usize,
    total: AtomicU64,
    listing_done: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Waits on the condition for at most `d`.
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

/// Reads a bucket selection.
pub struct S3Feed {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

pub struct S3Options {
    pub concurrency: usize,
    pub max_buffered: usize,
    pub max_decompressed: u64,
}

impl S3Feed {
    /// Starts listing and downloading. The first listing request runs here, so a
    /// missing bucket or a permission problem fails the open.
    pub fn start(
        s3: Arc<S3>,
        sel: Selection,
        opts: S3Options,
        log: Logger,
        metrics: Arc<Metrics>,
        stop: Arc<AtomicBool>,
    ) -> Result<S3Feed> {
        s3.list(&sel.bucket, &with_slash(&sel.prefix), true, None, None)
            .map_err(|e| e.context(format!("cannot open s3://{}/{}", sel.bucket, sel.prefix)))?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            stop,
            cap: opts.max_buffered,
            total: AtomicU64::new(0),
            listing_done: AtomicBool::new(false),
        });
        let mut threads = Vec::new();
        let bucket = sel.bucket.clone();
        let (s, sh) = (s3.clone(), shared.clone());
        let log2 = log.clone();
        threads.push(
            std::thread::Builder::new()
                .name("cloudtrail-s3-list".into())
                .spawn(move || lister(&s, &sel, &sh, &log2))
                .map_err(|e| Error::new(format!("cannot start the S3 lister: {e}")))?,
        );
        for i in 0..opts.concurrency {
            let (s, sh, m) = (s3.clone(), shared.clone(), metrics.clone());
            let max = opts.max_decompressed;
            let (log, bucket) = (log.clone(), bucket.clone());
            let t = std::thread::Builder::new()
                .name(format!("cloudtrail-s3-{i}"))
                .spawn(move || worker(&s, &bucket, &sh, &m, max, &log))
                .map_err(|e| Error::new(format!("cannot start S3 download threads: {e}")))?;
            threads.push(t);
        }
        Ok(S3Feed { shared, threads })
    }
}

fn lister(s3: &S3, sel: &Selection, sh: &Shared, log: &Logger) {
    let result = walk(s3, sel, &mut |o| {
        let mut g = sh.lock();
        while g.queue.len() >= QUEUE_AHEAD && !sh.stopping() {
            g = sh.wait(g, Duration::from_millis(100));
        }
        if sh.stopping() {
            return false;
        }
        let seq = g.listed;
        g.listed += 1;
        g.queue.push_back((seq, o));
        sh.total.store(g.listed, Ordering::Relaxed);
        sh.changed.notify_all();
        true
    });
    let mut g = sh.lock();
    if let Err(e) = result {
        if !sh.stopping() {
            log.error(&format!(
                "listing s3://{}/{} failed: {e}",
                sel.bucket, sel.prefix
            ));
            g.listing_error = Some(e.to_string());
        }
    }
    g.listing_done = true;
    sh.listing_done.store(true, Ordering::Relaxed);
    sh.changed.notify_all();
}

fn worker(s3: &Arc<S3>, bucket: &str, sh: &Shared, metrics: &Arc<Metrics>, max: u64, log: &Logger) {
    let mut splitter = Splitter::default();
    loop {
        let (seq, obj) = {
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
                            done: false,
                        },
                    );
                    sh.changed.notify_all();
                    break next;
                }
                if g.listing_done {
                    return;
                }
                g = sh.wait(g, Duration::from_millis(100));
            }
        };
        for buf in std::mem::take(&mut sh.lock().spare) {
            splitter.give_back(buf);
        }
        let name = format!("s3://{bucket}/{}", obj.key);
        let mut push = |c: Chunk| -> bool {
            let size = chunk_size(&c);
            let mut g = sh.lock();
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
        }) {
            return;
        }
        let alive = match ObjectReader::open(s3.clone(), bucket, &obj.key, metrics.clone()) {
            Ok(reader) => {
                let (totals, alive) = stream_file(reader, max, &mut splitter, &mut push);
                Metrics::add(&metrics.bytes_decompressed, totals.decompressed);
                alive
            }
            Err(e) => {
                log.debug(&format!("{name}: {e}"));
                push(Chunk::End {
                    error: Some(e.to_string()),
                    damage: Default::default(),
                })
            }
        };
        let mut g = sh.lock();
        if let Some(slot) = g.slots.get_mut(&seq) {
            slot.done = true;
        }
        sh.changed.notify_all();
        if !alive {
            return;
        }
    }
}

struct Counts {
    shared: Arc<Shared>,
}

impl Control for Counts {
    fn total_files(&self) -> Option<u64> {
        Some(self.shared.total.load(Ordering::Relaxed))
    }
}

impl Feed for S3Feed {
    fn recv(&mut self, wait: Duration) -> Recv {
        let sh = &self.shared;
        let deadline = Instant::now() + wait;
        let mut g = sh.lock();
        loop {
            let head = g.head;
            if let Some(slot) = g.slots.get_mut(&head) {
                if let Some(c) = slot.chunks.pop_front() {
                    let end = matches!(c, Chunk::End { .. });
                    let size = chunk_size(&c);
                    if end {
                        g.slots.remove(&head);
                        g.head += 1;
                    }
                    g.buffered -= size.min(g.buffered);
                    sh.changed.notify_all();
                    return Recv::Chunk(c);
                }
            } else if g.listing_done && g.queue.is_empty() && head >= g.listed {
                return match g.listing_error.take() {
                    Some(e) => Recv::Failed(e),
                    None => Recv::Done,
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Recv::Idle;
            }
            g = sh.wait(g, deadline - now);
        }
    }

    fn give_back(&mut self, buf: Vec<u8>) {
        let mut g = self.shared.lock();
        if g.spare.len() < 16 {
            g.spare.push(buf);
        }
    }

    fn control(&self) -> Arc<dyn Control> {
        Arc::new(Counts {
            shared: self.shared.clone(),
        })
    }

    fn close(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.changed.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for S3Feed {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_levels() {
        assert_eq!(classify(""), Level::Other);
        assert_eq!(classify("trail/"), Level::Other);
        assert_eq!(classify("AWSLogs/"), Level::Logs("AWSLogs/".into()));
        assert_eq!(classify("AWSLogs"), Level::Logs("AWSLogs/".into()));
        assert_eq!(
            classify("trail/AWSLogs/"),
            Level::Logs("trail/AWSLogs/".into())
        );
        assert_eq!(
            classify("AWSLogs/o-abcdefghij/"),
            Level::Logs("AWSLogs/o-abcdefghij/".into())
        );
        assert_eq!(
            classify("AWSLogs/o-abc/"),
            Level::Other,
            "too short for an organisation id"
        );
        assert_eq!(
            classify("AWSLogs/123456789012"),
            Level::Account("AWSLogs/123456789012/".into())
        );
        assert_eq!(
            classify("t/AWSLogs/o-abcdefghij/123456789012/"),
            Level::Account("t/AWSLogs/o-abcdefghij/123456789012/".into())
        );
        assert_eq!(
            classify("AWSLogs/123456789012/CloudTrail/"),
            Level::Trail("AWSLogs/123456789012/CloudTrail/".into())
        );
        assert_eq!(
            classify("AWSLogs/123456789012/CloudTrail/us-east-1/"),
            Level::Other
        );
        assert_eq!(
            classify("AWSLogs/123456789012/CloudTrail-Digest/"),
            Level::Other
        );
    }

    #[test]
    fn account_lists() {
        assert_eq!(parse_accounts("").unwrap(), Vec::<String>::new());
        assert_eq!(parse_accounts("111122223333,").unwrap(), ["111122223333"]);
        assert_eq!(
            parse_accounts(" 111122223333 , 444455556666").unwrap(),
            ["111122223333", "444455556666"]
        );
        for bad in [
            "11112222333",
            "111122223333444455556666",
            "abc",
            "111122223333;444455556666",
        ] {
            assert!(
                parse_accounts(bad)
                    .unwrap_err()
                    .message()
                    .contains("invalid account list"),
                "{bad}"
            );
        }
    }

    #[test]
    fn key_filter() {
        let i = Interval::default();
        assert!(wanted_key(
            "AWSLogs/1/CloudTrail/r/2023/01/01/1_CloudTrail_r_20230101T0000Z_x.json.gz",
            &i
        ));
        assert!(wanted_key("x.json", &i));
        assert!(!wanted_key(
            "AWSLogs/1/CloudTrail-Digest/r/2023/01/01/1_CloudTrail-Digest_r_x.json.gz",
            &i
        ));
        assert!(!wanted_key("AWSLogs/1/CloudTrail-Insight/r/x.json.gz", &i));
        assert!(!wanted_key("notes.txt", &i));
    }
}
