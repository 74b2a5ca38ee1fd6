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
//! restricts the accounts; each region folder is then listed from the start of
//! `s3Interval` (S3's `start-after`, to the minute) and every key whose name time is
//! outside it is skipped. Digest and Insights files are never read. Any other prefix
//! is read as a plain key prefix.
//!
//! Follow mode (`s3PollInterval`) is the same lister run again every poll: the folder
//! walk (again every [`DISCOVER_EVERY`] polls, for accounts and regions that appear
//! later), then one listing of every region folder, from [`progress::LOOKBACK`] before
//! its newest delivered file, so new files, new day folders and files delivered late
//! all show up in one request per region. What was delivered or is being read is
//! skipped ([`Ledger`]); with a checkpoint file that state survives a restart, in both
//! modes.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::integrity::Validation;
use super::pool::{Handle, Job, Options, Pool};
use super::progress::{self, Ledger, region_start_after};
use super::{Control, Feed, Recv, pause};
use crate::aws::s3::{Object, S3};
use crate::error::{Error, Result};
use crate::interval::Interval;
use crate::log::Logger;
use crate::metrics::Metrics;

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

pub fn wanted_key(key: &str, interval: &Interval) -> bool {
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

/// Where the selection's files are: the region folders of the CloudTrail layout, or
/// one plain prefix. A listing (once, or every poll) reads them in this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    Regions(Vec<String>),
    Plain(String),
}

/// The folder walk (organisations, accounts, `CloudTrail/`, regions), in key order.
pub fn discover(s3: &S3, sel: &Selection) -> Result<Layout> {
    let mut regions = Vec::new();
    let plain = walk_regions(s3, sel, &mut |r| {
        regions.push(r);
        Ok(true)
    })?;
    Ok(match plain {
        Some(p) => Layout::Plain(p),
        None => Layout::Regions(regions),
    })
}

/// The folder walk, passing each region folder to `on_region` as soon as it is found
/// (false: stop). Returns the plain prefix when the selection is not in the CloudTrail
/// layout.
fn walk_regions(
    s3: &S3,
    sel: &Selection,
    on_region: &mut dyn FnMut(String) -> Result<bool>,
) -> Result<Option<String>> {
    let mut w = Walker {
        s3,
        sel,
        on_region,
        going: true,
    };
    match classify(&sel.prefix) {
        Level::Logs(p) => w.logs(&p).map(|()| None),
        Level::Account(p) => w.trail(&format!("{p}CloudTrail/")).map(|()| None),
        Level::Trail(p) => w.trail(&p).map(|()| None),
        Level::Other => {
            // Is there an AWSLogs/ folder right under the prefix?
            let folder = with_slash(&sel.prefix);
            let logs = format!("{folder}AWSLogs/");
            let page = s3.list(&sel.bucket, &folder, true, None, None)?;
            let has_logs =
                page.prefixes.contains(&logs) || w.any_prefix(&folder, &logs, page.next)?;
            if has_logs {
                w.logs(&logs).map(|()| None)
            } else {
                Ok(Some(sel.prefix.clone()))
            }
        }
    }
}

struct Walker<'a> {
    s3: &'a S3,
    sel: &'a Selection,
    on_region: &'a mut dyn FnMut(String) -> Result<bool>,
    /// False once `on_region` asked to stop.
    going: bool,
}

impl Walker<'_> {
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
    fn logs(&mut self, prefix: &str) -> Result<()> {
        for f in self.folders(prefix)? {
            if !self.going {
                break;
            }
            let name = f[prefix.len()..].trim_end_matches('/').to_string();
            if is_account(&name) {
                if !self.sel.accounts.is_empty() && !self.sel.accounts.contains(&name) {
                    continue;
                }
                self.trail(&format!("{f}CloudTrail/"))?;
            } else if is_org(&name) {
                self.logs(&f)?;
            }
        }
        Ok(())
    }

    /// An account's `CloudTrail/` folder: its region folders.
    fn trail(&mut self, prefix: &str) -> Result<()> {
        for r in self.folders(prefix)? {
            if !self.going || !(self.on_region)(r)? {
                self.going = false;
                break;
            }
        }
        Ok(())
    }
}

/// Every object under `prefix` after `start_after`, page by page, passed to `f` until
/// it breaks with the value to return (true when the listing ends).
fn for_each_object(
    s3: &S3,
    bucket: &str,
    prefix: &str,
    start_after: Option<&str>,
    mut f: impl FnMut(Object) -> ControlFlow<bool>,
) -> Result<bool> {
    let mut token: Option<String> = None;
    loop {
        let page = s3.list(bucket, prefix, false, start_after, token.as_deref())?;
        for o in page.objects {
            if let ControlFlow::Break(b) = f(o) {
                return Ok(b);
            }
        }
        match page.next {
            Some(t) => token = Some(t),
            None => return Ok(true),
        }
    }
}

/// Follow mode walks the folders again (new accounts, new regions) every this many polls.
pub const DISCOVER_EVERY: u64 = 10;

/// A fresh follow (no `s3Interval`, nothing on record) starts this long before the
/// open: CloudTrail names a file when it writes it and delivers it minutes later.
pub const FOLLOW_FROM_BEFORE_OPEN: i64 = 600;

/// Reads a bucket selection.
pub struct S3Feed {
    pool: Pool,
    /// Log file validation (`logFileValidation`), when on: kept until the source
    /// closes, as the checkpoint's last write takes its state.
    _validation: Option<Arc<Validation>>,
    lister: Option<JoinHandle<()>>,
    ledger: Arc<Ledger>,
    saver: Option<JoinHandle<()>>,
    saver_stop: Arc<AtomicBool>,
}

impl S3Feed {
    /// Starts listing and downloading. The first listing request runs here, so a
    /// missing bucket or a permission problem fails the open.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        s3: Arc<S3>,
        sel: Selection,
        opts: Options,
        log: Logger,
        metrics: Arc<Metrics>,
        stop: Arc<AtomicBool>,
        ledger: Arc<Ledger>,
        follow: Option<Duration>,
        validate: bool,
    ) -> Result<S3Feed> {
        s3.list(&sel.bucket, &with_slash(&sel.prefix), true, None, None)
            .map_err(|e| e.context(format!("cannot open s3://{}/{}", sel.bucket, sel.prefix)))?;
        let pool = Pool::start(s3.clone(), &opts, &log, &metrics, stop.clone())?;
        let h = pool.handle();
        let validation = validate.then(|| {
            Validation::start(
                s3.clone(),
                s3.aws.clone(),
                h.clone(),
                Some(ledger.clone()),
                log.clone(),
                metrics.clone(),
            )
        });
        let v = validation.clone();
        let saver_stop = Arc::new(AtomicBool::new(false));
        let saver = ledger.start_saver(saver_stop.clone())?;
        let led = ledger.clone();
        let lister = std::thread::Builder::new()
            .name("cloudtrail-s3-list".into())
            .spawn(move || {
                let lister = Lister {
                    s3: &s3,
                    sel: &sel,
                    pool: &h,
                    ledger: &led,
                    log: &log,
                    metrics: &metrics,
                    stop: &stop,
                    validation: v.as_deref(),
                };
                let error = match follow {
                    Some(every) => {
                        lister.follow(every, crate::time::now_ns() as i64 / 1_000_000_000);
                        None
                    }
                    None => lister
                        .once()
                        .err()
                        .filter(|_| !stop.load(Ordering::Relaxed)),
                };
                if let Some(e) = &error {
                    log.error(&format!(
                        "listing s3://{}/{} failed: {e}",
                        sel.bucket, sel.prefix
                    ));
                }
                h.finish(error.map(|e| e.to_string()));
            })
            .map_err(|e| Error::new(format!("cannot start the S3 lister: {e}")))?;
        Ok(S3Feed {
            pool,
            _validation: validation,
            lister: Some(lister),
            ledger,
            saver,
            saver_stop,
        })
    }
}

/// Queues `key` for reading, recording it in flight under its file id.
fn queue(h: &Handle, ledger: &Ledger, bucket: &str, key: String) -> Option<u64> {
    let job = Job {
        bucket: bucket.to_string(),
        key: key.clone(),
    };
    h.push_with(job, |seq| ledger.started(seq, &key))
}

/// The lister: the folder walk, then one listing of every region folder (or of the
/// plain prefix) — once, or in follow mode again every poll. Each region folder is
/// listed from a minute on (S3's `start-after`): the start of `s3Interval`, or one
/// look-back before the newest file delivered there, whichever is later.
struct Lister<'a> {
    s3: &'a S3,
    sel: &'a Selection,
    pool: &'a Handle,
    ledger: &'a Ledger,
    log: &'a Logger,
    metrics: &'a Metrics,
    stop: &'a AtomicBool,
    validation: Option<&'a Validation>,
}

impl Lister<'_> {
    /// One-shot: everything selected (less what a checkpoint says was delivered),
    /// each region folder listed as soon as the walk finds it. With log file
    /// validation, once every file is read, the digests of the regions read.
    fn once(&self) -> Result<()> {
        let floor = self.sel.interval.start;
        let plain = walk_regions(self.s3, self.sel, &mut |r| {
            self.validate_region(&r, floor);
            self.region(&r, floor, false)
        })?;
        if let Some(p) = plain {
            self.poll(&Layout::Plain(p), floor, false)?;
        }
        if let Some(v) = self.validation {
            // Every file read (and hashed) first: the verdicts are final.
            self.pool.wait_downloaded();
            v.check(true, self.stop);
        }
        Ok(())
    }

    /// Log file validation follows the digests of region folder `r` from `floor`.
    fn validate_region(&self, r: &str, floor: Option<i64>) {
        if let Some(v) = self.validation {
            v.add_region(&self.sel.bucket, r, floor);
        }
    }

    fn follow(&self, every: Duration, open_secs: i64) {
        let floor = self
            .sel
            .interval
            .start
            .unwrap_or(open_secs - FOLLOW_FROM_BEFORE_OPEN);
        let mut layout: Option<Layout> = None;
        let mut failing = false;
        for round in 0u64.. {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            if layout.is_none() || round % DISCOVER_EVERY == 0 {
                match discover(self.s3, self.sel) {
                    Ok(l) => layout = Some(l),
                    Err(e) => self.trouble(&mut failing, &format!("walking the folders: {e}")),
                }
            }
            if let Some(l) = &layout {
                match self.poll(l, Some(floor), true) {
                    Ok(true) => failing = false,
                    Ok(false) => return,
                    Err(e) => self.trouble(&mut failing, &e.to_string()),
                }
                if let (Some(v), Layout::Regions(regions)) = (self.validation, l) {
                    for r in regions {
                        self.validate_region(r, Some(floor));
                    }
                    v.check(false, self.stop);
                }
            }
            Metrics::add(&self.metrics.follow_polls, 1);
            if !pause(self.stop, every) {
                return;
            }
        }
    }

    /// Logs a failed poll once until polls succeed again; the next poll retries.
    fn trouble(&self, failing: &mut bool, what: &str) {
        if !*failing && !self.stop.load(Ordering::Relaxed) {
            self.log.error(&format!(
                "following s3://{}/{}: {what}; retrying every poll",
                self.sel.bucket, self.sel.prefix
            ));
        }
        *failing = true;
    }

    /// One listing of the layout, files from `floor` on. False: stopping.
    fn poll(&self, layout: &Layout, floor: Option<i64>, following: bool) -> Result<bool> {
        match layout {
            Layout::Regions(regions) => {
                for r in regions {
                    if !self.region(r, floor, following)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Layout::Plain(p) => {
                let start_after = self.ledger.with_progress(|pr| pr.high_under(p));
                self.list(p, start_after.as_deref(), floor, false, following)
            }
        }
    }

    /// One listing of region folder `r`. Files older than the look-back before the
    /// newest one delivered there count as delivered: the listing starts after them.
    fn region(&self, r: &str, floor: Option<i64>, following: bool) -> Result<bool> {
        let delivered_to = self
            .ledger
            .with_progress(|p| p.high_secs(r))
            .map(|h| h - progress::LOOKBACK_SECS);
        let from = match (floor, delivered_to) {
            (Some(f), Some(d)) => Some(f.max(d)),
            (f, d) => f.or(d),
        };
        let start_after = from.and_then(|t| region_start_after(r, t));
        self.list(r, start_after.as_deref(), floor, true, following)
    }

    /// Queues the wanted keys under `prefix`; in a (dated) region folder, stops past
    /// the day of the interval's end.
    fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        floor: Option<i64>,
        dated: bool,
        following: bool,
    ) -> Result<bool> {
        let window = Interval {
            start: floor,
            end: self.sel.interval.end,
        };
        let end_day = self.sel.interval.end_folder().filter(|_| dated);
        for_each_object(self.s3, &self.sel.bucket, prefix, start_after, |o| {
            if let (Some(end), Some(day)) = (&end_day, o.key.get(prefix.len()..prefix.len() + 11))
                && day > end.as_str()
            {
                return ControlFlow::Break(true);
            }
            if following {
                Metrics::add(&self.metrics.follow_keys_listed, 1);
            }
            if !wanted_key(&o.key, &window) || !self.ledger.wanted(&o.key) {
                return ControlFlow::Continue(());
            }
            if following && self.ledger.with_progress(|p| p.is_late(&o.key)) {
                Metrics::add(&self.metrics.follow_files_late, 1);
            }
            match queue(self.pool, self.ledger, &self.sel.bucket, o.key) {
                Some(_) => ControlFlow::Continue(()),
                None => ControlFlow::Break(false),
            }
        })
    }
}

/// The consumer's side: files delivered are recorded (and checkpointed).
struct Counts {
    pool: Handle,
    ledger: Arc<Ledger>,
}

impl Control for Counts {
    fn total_files(&self) -> Option<u64> {
        Some(self.pool.added())
    }

    fn delivered(&self, files: &[u64]) {
        self.ledger.delivered(files);
    }

    fn closed(&self) {
        self.ledger.save();
    }
}

impl Feed for S3Feed {
    fn recv(&mut self, wait: Duration) -> Recv {
        self.pool.handle().recv(wait)
    }

    fn give_back(&mut self, buf: Vec<u8>) {
        self.pool.handle().give_back(buf);
    }

    fn control(&self) -> Arc<dyn Control> {
        Arc::new(Counts {
            pool: self.pool.handle(),
            ledger: self.ledger.clone(),
        })
    }

    fn close(&mut self) {
        self.pool.close();
        if let Some(t) = self.lister.take() {
            let _ = t.join();
        }
        // The last deliveries were recorded before the source closes: save them.
        self.saver_stop.store(true, Ordering::Relaxed);
        self.ledger.wake();
        if let Some(t) = self.saver.take() {
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
