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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::pool::{Handle, Job, Options, Pool};
use super::{Control, Feed, Recv};
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

/// Reads a bucket selection.
pub struct S3Feed {
    pool: Pool,
    lister: Option<JoinHandle<()>>,
}

impl S3Feed {
    /// Starts listing and downloading. The first listing request runs here, so a
    /// missing bucket or a permission problem fails the open.
    pub fn start(
        s3: Arc<S3>,
        sel: Selection,
        opts: Options,
        log: Logger,
        metrics: Arc<Metrics>,
        stop: Arc<AtomicBool>,
    ) -> Result<S3Feed> {
        s3.list(&sel.bucket, &with_slash(&sel.prefix), true, None, None)
            .map_err(|e| e.context(format!("cannot open s3://{}/{}", sel.bucket, sel.prefix)))?;
        let pool = Pool::start(s3.clone(), &opts, &log, &metrics, stop.clone())?;
        let h = pool.handle();
        let lister = std::thread::Builder::new()
            .name("cloudtrail-s3-list".into())
            .spawn(move || {
                let bucket = sel.bucket.clone();
                let result = walk(&s3, &sel, &mut |o| {
                    h.push(Job {
                        bucket: bucket.clone(),
                        key: o.key,
                    })
                    .is_some()
                });
                let error = match result {
                    Err(e) if !stop.load(Ordering::Relaxed) => {
                        log.error(&format!(
                            "listing s3://{}/{} failed: {e}",
                            sel.bucket, sel.prefix
                        ));
                        Some(e.to_string())
                    }
                    _ => None,
                };
                h.finish(error);
            })
            .map_err(|e| Error::new(format!("cannot start the S3 lister: {e}")))?;
        Ok(S3Feed {
            pool,
            lister: Some(lister),
        })
    }
}

struct Counts(Handle);

impl Control for Counts {
    fn total_files(&self) -> Option<u64> {
        Some(self.0.added())
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
        Arc::new(Counts(self.pool.handle()))
    }

    fn close(&mut self) {
        self.pool.close();
        if let Some(t) = self.lister.take() {
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
