//! Log file validation beside a source that reads a trail's bucket (`s3://`, one-shot
//! or followed, and `sqs://` file notifications): the download workers report the
//! SHA-256 of every log file they read whole, and [`Validation::check`] — run by the
//! S3 lister after each listing, by a thread of its own for `sqs://` — lists the
//! digest folders of the accounts and regions read, fetches the digests it has not
//! seen (with their signatures from the object metadata), lets the
//! [`Checker`] judge, and puts every finding into the stream as an event of its own,
//! through the download pool like a record carried in a message. Public keys come
//! from CloudTrail's `ListPublicKeys`, once per region and again only for a key not
//! yet known (at most once a minute). The checker's state is written with the
//! checkpoint, when there is one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use super::pool::Handle;
use super::progress::Ledger;
use super::split::Records;
use crate::aws::Aws;
use crate::aws::cloudtrail::list_public_keys;
use crate::aws::s3::S3;
use crate::integrity::checker::{Checker, Fetched, Later, World};
use crate::integrity::digest::digest_folder_of_log;
use crate::integrity::{Finding, Kind, event};
use crate::log::Logger;
use crate::metrics::Metrics;

/// A digest is small; anything larger is not one.
const MAX_DIGEST: u64 = 16 << 20;
/// A key CloudTrail did not know is asked for again after this long, at most.
const KEY_RETRY: Duration = Duration::from_secs(60);
/// Digest keys remembered per folder (two days of a few trails, hourly).
const MAX_PROCESSED: usize = 2_000;

#[derive(Default)]
struct RegionKeys {
    keys: HashMap<String, Vec<u8>>,
    asked: Option<Instant>,
}

/// A digest folder being followed.
struct Folder {
    /// The day folder (`YYYY/MM/DD/`) the next listing starts at.
    day: String,
    /// Digests already judged.
    processed: BTreeSet<String>,
    /// No new digest is due before this time (an hour after the newest one judged):
    /// follow mode lists the folder again only then.
    due: i64,
}

pub struct Validation {
    checker: Mutex<Checker>,
    s3: Arc<S3>,
    aws: Arc<Aws>,
    pool: Handle,
    keys: Mutex<HashMap<String, RegionKeys>>,
    /// (bucket, digest folder) → where its listing is.
    folders: Mutex<BTreeMap<(String, String), Folder>>,
    ledger: Option<Arc<Ledger>>,
    log: Logger,
    metrics: Arc<Metrics>,
    /// Counters already added to the metrics.
    counted: Mutex<(u64, u64)>,
    /// The state as last written to the checkpoint: given again when the checker is
    /// busy (a checkpoint write never waits for the network).
    snapshot: Mutex<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_secs() -> i64 {
    (crate::time::now_ns() / 1_000_000_000) as i64
}

/// `YYYY/MM/DD/` of a time.
fn day_folder(secs: i64) -> String {
    let s = crate::interval::minute_stamp(secs);
    format!("{}/{}/{}/", &s[0..4], &s[4..6], &s[6..8])
}

impl Validation {
    /// Starts validating what `pool` reads: the workers hash each object from now on.
    /// With a checkpoint (`ledger`), the state of the last run is taken back and
    /// written with every checkpoint from now on.
    pub fn start(
        s3: Arc<S3>,
        aws: Arc<Aws>,
        pool: Handle,
        ledger: Option<Arc<Ledger>>,
        log: Logger,
        metrics: Arc<Metrics>,
    ) -> Arc<Validation> {
        let v = Arc::new(Validation {
            checker: Mutex::new(Checker::default()),
            s3,
            aws,
            pool: pool.clone(),
            keys: Mutex::new(HashMap::new()),
            folders: Mutex::new(BTreeMap::new()),
            ledger,
            log,
            metrics,
            counted: Mutex::new((0, 0)),
            snapshot: Mutex::new("{}".into()),
        });
        if let Some(l) = &v.ledger {
            let weak: Weak<Validation> = Arc::downgrade(&v);
            let saved = l.keep_integrity(Box::new(move || {
                let Some(v) = weak.upgrade() else {
                    return "{}".into();
                };
                let mut snapshot = lock(&v.snapshot);
                if let Ok(c) = v.checker.try_lock() {
                    *snapshot = c.to_json();
                }
                snapshot.clone()
            }));
            if let Some(text) = saved {
                match Checker::from_json(text.as_bytes()) {
                    Some(c) => *lock(&v.checker) = c,
                    None => v.log.warn(
                        "log file validation: the checkpoint's validation state is damaged; starting it afresh",
                    ),
                }
            }
        }
        let weak = Arc::downgrade(&v);
        pool.hash_files(Arc::new(move |bucket, key, hash| {
            if let Some(v) = weak.upgrade() {
                v.file_read(bucket, key, hash);
            }
        }));
        v
    }

    /// Follows the digest folder of the region folder `region` (a log folder,
    /// `…/CloudTrail/<region>/`) from `from` on (`None`: from its first digest).
    pub fn add_region(&self, bucket: &str, region: &str, from: Option<i64>) {
        if let Some(folder) = digest_folder_of_log(region) {
            self.add_folder(bucket, folder, from);
        }
    }

    /// Follows a digest folder from `from` on, or from earlier if it already is.
    fn add_folder(&self, bucket: &str, folder: String, from: Option<i64>) {
        // The digest of a file's hour ends in the next hour.
        let day = from.map_or_else(String::new, |t| day_folder(t - 3600));
        let mut folders = lock(&self.folders);
        let st = folders
            .entry((bucket.to_string(), folder))
            .or_insert_with(|| Folder {
                day: day.clone(),
                processed: BTreeSet::new(),
                due: 0,
            });
        if day < st.day {
            st.day = day;
        }
    }

    /// A worker read `bucket/key` whole.
    fn file_read(&self, bucket: &str, key: &str, hash: String) {
        let now = now_secs();
        if let Some(folder) = digest_folder_of_log(key) {
            let from = crate::interval::key_stamp(key)
                .and_then(|s| crate::interval::stamp_secs(&s))
                .unwrap_or(now);
            self.add_folder(bucket, folder, Some(from));
        }
        let found = lock(&self.checker).file_read(bucket, key, hash, now);
        self.report(found);
    }

    /// Lists the followed digest folders, judges the digests not seen yet, then what
    /// time decides. `last`: the source has read everything it will (one-shot).
    pub fn check(&self, last: bool, stop: &std::sync::atomic::AtomicBool) {
        let now = now_secs();
        let folders: Vec<(String, String, String)> = lock(&self.folders)
            .iter()
            .filter(|(_, st)| last || now >= st.due)
            .map(|((b, f), st)| (b.clone(), f.clone(), st.day.clone()))
            .collect();
        let mut world = Net { v: self };
        for (bucket, folder, day) in folders {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            let keys = match self.list(&bucket, &folder, &day) {
                Ok(k) => k,
                Err(e) => {
                    self.log.warn(&format!(
                        "log file validation: listing s3://{bucket}/{folder} failed: {e}; trying again later"
                    ));
                    continue;
                }
            };
            for key in keys {
                match self.judge(&bucket, &key, &mut world) {
                    Ok(found) => {
                        let mut folders = lock(&self.folders);
                        if let Some(st) = folders.get_mut(&(bucket.clone(), folder.clone())) {
                            st.processed.insert(key);
                            while st.processed.len() > MAX_PROCESSED {
                                st.processed.pop_first();
                            }
                        }
                        drop(folders);
                        self.report(found);
                    }
                    Err(Later) => break,
                }
            }
            // From now on, list from the day before the newest digest judged.
            let mut folders = lock(&self.folders);
            if let Some(st) = folders.get_mut(&(bucket.clone(), folder.clone()))
                && let Some(newest) = st.processed.iter().filter_map(|k| key_day_secs(k)).max()
            {
                st.day = st.day.clone().max(day_folder(newest - 86_400));
                st.due = newest + 3600;
                // Judged digests older than that day are not listed again.
                let floor = format!("{folder}{}", st.day);
                st.processed.retain(|k| *k >= floor);
            }
        }
        let found = lock(&self.checker).expire(now, last, &mut world);
        self.report(found);
        if let Some(l) = &self.ledger {
            l.integrity_changed();
        }
    }

    /// The digest keys under `folder` from day folder `day` on, not judged yet.
    fn list(&self, bucket: &str, folder: &str, day: &str) -> crate::error::Result<Vec<String>> {
        let start = format!("{folder}{day}");
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.s3.list(
                bucket,
                folder,
                false,
                Some(&start[..start.len() - 1]),
                token.as_deref(),
            )?;
            let folders = lock(&self.folders);
            let done = folders.get(&(bucket.to_string(), folder.to_string()));
            for o in page.objects {
                let judged = done.is_some_and(|st| st.processed.contains(&o.key));
                if o.key.ends_with(".json.gz") && !judged {
                    out.push(o.key);
                }
            }
            drop(folders);
            token = page.next;
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    /// Fetches and judges one digest.
    fn judge(&self, bucket: &str, key: &str, world: &mut Net) -> Result<Vec<Finding>, Later> {
        let fetched = match self.s3.fetch(bucket, key, MAX_DIGEST) {
            Ok(Some(f)) => f,
            // Listed, then gone: the next digest's chain reports it.
            Ok(None) => return Ok(Vec::new()),
            Err(e) => {
                self.log.warn(&format!(
                    "log file validation: cannot fetch s3://{bucket}/{key}: {e}; trying again later"
                ));
                return Err(Later);
            }
        };
        let mut content = Vec::new();
        let inflated = flate2::read::MultiGzDecoder::new(&fetched.body[..])
            .take(MAX_DIGEST)
            .read_to_end(&mut content)
            .map(|_| content.as_slice())
            .map_err(|e| format!("not gzip: {e}"));
        // The key first, without holding the checker (workers report to it meanwhile).
        if let Ok(text) = &inflated
            && let Ok(parsed) = crate::integrity::digest::Digest::parse(text)
        {
            let (_, region) = crate::integrity::digest::account_region(key);
            world.public_key(&region, &parsed.fingerprint, parsed.end_secs)?;
        }
        let d = Fetched {
            bucket,
            key,
            content: inflated,
            signature: fetched.header("x-amz-meta-signature"),
            algorithm: fetched.header("x-amz-meta-signature-algorithm"),
        };
        lock(&self.checker).digest(d, world)
    }

    /// Logs, counts and emits findings.
    fn report(&self, found: Vec<Finding>) {
        {
            let c = lock(&self.checker);
            let mut counted = lock(&self.counted);
            Metrics::add(
                &self.metrics.integrity_digests_valid,
                c.valid_digests - counted.0,
            );
            Metrics::add(
                &self.metrics.integrity_log_files_valid,
                c.valid_files - counted.1,
            );
            *counted = (c.valid_digests, c.valid_files);
        }
        if found.is_empty() {
            return;
        }
        let now = now_secs();
        let mut units = Vec::new();
        for f in &found {
            let i = Kind::ALL.iter().position(|k| *k == f.kind).unwrap_or(0);
            Metrics::add(&self.metrics.integrity_findings[i], 1);
            self.log.error(&format!(
                "log file validation: {}: {}",
                f.kind.name(),
                f.detail
            ));
            units.push((
                format!("log file validation of s3://{}", f.bucket),
                Records::one(event::record(f, now)),
            ));
        }
        self.pool.push_ready(units, |_| {});
        if let Some(l) = &self.ledger {
            l.integrity_changed();
        }
    }
}

/// The end time in a digest key (`…_YYYYMMDDTHHMMSSZ[_backfill].json.gz`), to the
/// minute.
fn key_day_secs(key: &str) -> Option<i64> {
    let stem = key.strip_suffix(".json.gz")?;
    let stem = stem.strip_suffix("_backfill").unwrap_or(stem);
    crate::interval::stamp_secs(stem.rsplit('_').next()?.get(..13)?)
}

/// The checker's questions, answered over the network.
struct Net<'a> {
    v: &'a Validation,
}

impl World for Net<'_> {
    fn public_key(
        &mut self,
        region: &str,
        fingerprint: &str,
        around: i64,
    ) -> Result<Option<Vec<u8>>, Later> {
        let mut keys = lock(&self.v.keys);
        let known = keys.entry(region.to_string()).or_default();
        if let Some(k) = known.keys.get(fingerprint) {
            return Ok(Some(k.clone()));
        }
        if known.asked.is_some_and(|t| t.elapsed() < KEY_RETRY) {
            return Ok(None);
        }
        let end = (around + 3600).min(now_secs());
        match list_public_keys(&self.v.aws, region, around - 86_400, end) {
            Ok(list) => {
                known.asked = Some(Instant::now());
                for k in list {
                    known.keys.insert(k.fingerprint, k.der);
                }
                Ok(known.keys.get(fingerprint).cloned())
            }
            Err(e) => {
                self.v.log.warn(&format!(
                    "log file validation: cannot fetch CloudTrail's public keys for {region}: {e}; trying again later"
                ));
                Err(Later)
            }
        }
    }

    fn exists(&mut self, bucket: &str, key: &str) -> Option<bool> {
        match self.v.s3.exists(bucket, key) {
            Ok(b) => Some(b),
            Err(e) => {
                self.v.log.warn(&format!(
                    "log file validation: cannot tell whether s3://{bucket}/{key} exists: {e}"
                ));
                None
            }
        }
    }
}
