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
//!
//! A directory holding a copy of the bucket (`aws s3 sync`) is validated by
//! [`LocalValidation`], on the reading thread: the same checker, the digests read from
//! disk, their signatures — S3 object metadata, which a copy does not have — fetched
//! from the digests' place in the bucket.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Read;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::pool::Handle;
use super::progress::Ledger;
use super::split::Records;
use crate::aws::Aws;
use crate::aws::cloudtrail::list_public_keys;
use crate::aws::s3::S3;
use crate::integrity::checker::{Answered, Checker, Fetched, Later, World, from_awslogs};
use crate::integrity::digest::{Digest, digest_folder_of_log, digest_key_time};
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

/// What both validations share: the checker, and how findings are told.
struct Shared {
    checker: Arc<Mutex<Checker>>,
    /// Counters already added to the metrics.
    counted: Mutex<(u64, u64)>,
    log: Logger,
    metrics: Arc<Metrics>,
}

impl Shared {
    fn new(local: bool, ledger: Option<&Ledger>, log: Logger, metrics: Arc<Metrics>) -> Shared {
        let mut fresh = Checker::default();
        fresh.local = local;
        let checker = Arc::new(Mutex::new(fresh));
        // The state as last written to the checkpoint: given again when the checker
        // is busy (a checkpoint write never waits for the network).
        let snapshot = Arc::new(Mutex::new(String::from("{}")));
        if let Some(l) = ledger {
            let (c, snap) = (Arc::downgrade(&checker), snapshot.clone());
            let saved = l.keep_integrity(Box::new(move || {
                let mut snapshot = lock(&snap);
                if let Some(c) = c.upgrade()
                    && let Ok(c) = c.try_lock()
                {
                    *snapshot = c.to_json();
                }
                snapshot.clone()
            }));
            if let Some(text) = saved {
                match Checker::from_json(text.as_bytes()) {
                    Some(mut c) => {
                        c.local = local;
                        *lock(&checker) = c;
                    }
                    None => log.warn(
                        "log file validation: the checkpoint's validation state is damaged; starting it afresh",
                    ),
                }
            }
        }
        Shared {
            checker,
            counted: Mutex::new((0, 0)),
            log,
            metrics,
        }
    }

    /// Logs and counts findings; the units that carry them into the stream.
    fn account(&self, found: Vec<Finding>, source: &str) -> Vec<(String, Records)> {
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
        let now = now_secs();
        found
            .iter()
            .map(|f| {
                let i = Kind::ALL.iter().position(|k| *k == f.kind).unwrap_or(0);
                Metrics::add(&self.metrics.integrity_findings[i], 1);
                self.log.error(&format!(
                    "log file validation: {}: {}",
                    f.kind.name(),
                    f.detail
                ));
                (
                    format!("log file validation of {source}"),
                    Records::one(event::record(f, now)),
                )
            })
            .collect()
    }
}

/// CloudTrail's public keys, per region, asked for once and again only for a key not
/// yet known (at most every [`KEY_RETRY`]).
struct Keys {
    aws: Arc<Aws>,
    regions: Mutex<HashMap<String, RegionKeys>>,
    log: Logger,
}

impl Keys {
    fn get(&self, region: &str, fingerprint: &str, around: i64) -> Result<Option<Vec<u8>>, Later> {
        let mut regions = lock(&self.regions);
        let known = regions.entry(region.to_string()).or_default();
        if let Some(k) = known.keys.get(fingerprint) {
            return Ok(Some(k.clone()));
        }
        if known.asked.is_some_and(|t| t.elapsed() < KEY_RETRY) {
            return Ok(None);
        }
        let end = (around + 3600).min(now_secs());
        match list_public_keys(&self.aws, region, around - 86_400, end) {
            Ok(list) => {
                known.asked = Some(Instant::now());
                for k in list {
                    known.keys.insert(k.fingerprint, k.der);
                }
                Ok(known.keys.get(fingerprint).cloned())
            }
            Err(e) => {
                self.log.warn(&format!(
                    "log file validation: cannot fetch CloudTrail's public keys for {region}: {e}; trying again later"
                ));
                Err(Later)
            }
        }
    }
}

pub struct Validation {
    shared: Shared,
    s3: Arc<S3>,
    pool: Handle,
    keys: Keys,
    /// (bucket, digest folder) → where its listing is.
    folders: Mutex<BTreeMap<(String, String), Folder>>,
    ledger: Option<Arc<Ledger>>,
    log: Logger,
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
            shared: Shared::new(false, ledger.as_deref(), log.clone(), metrics),
            s3,
            pool: pool.clone(),
            keys: Keys {
                aws,
                regions: Mutex::new(HashMap::new()),
                log: log.clone(),
            },
            folders: Mutex::new(BTreeMap::new()),
            ledger,
            log,
        });
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
        let found = lock(&self.shared.checker).file_read(bucket, key, hash, now);
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
        let exists = |b: &str, k: &str| self.exists(b, k);
        let mut world = Asking {
            keys: &self.keys,
            exists: &exists,
        };
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
                // The newest end time, to the minute.
                && let Some(newest) = st
                    .processed
                    .iter()
                    .filter_map(|k| digest_key_time(k).map(|t| t - t % 60))
                    .max()
            {
                st.day = st.day.clone().max(day_folder(newest - 86_400));
                st.due = newest + 3600;
                // Judged digests older than that day are not listed again.
                let floor = format!("{folder}{}", st.day);
                st.processed.retain(|k| *k >= floor);
            }
        }
        // Whether the files due are still there, asked without holding the checker.
        let due = lock(&self.shared.checker).listed_due(now, last);
        let exists = due
            .into_iter()
            .map(|(b, k)| {
                let there = world.exists(&b, &k);
                ((b, k), there)
            })
            .collect();
        let mut answered = Answered {
            exists,
            inner: &mut world,
        };
        let found = lock(&self.shared.checker).expire(now, last, &mut answered);
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
    fn judge(&self, bucket: &str, key: &str, world: &mut Asking) -> Result<Vec<Finding>, Later> {
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
        // The key, and whether the digest before it is there, first, without holding
        // the checker (workers report to it meanwhile).
        let mut exists = HashMap::new();
        if let Ok(text) = &inflated
            && let Ok(parsed) = Digest::parse(text)
        {
            let (_, region) = crate::integrity::digest::account_region(key);
            world.public_key(&region, &parsed.fingerprint, parsed.end_secs)?;
            let previous = lock(&self.shared.checker).previous_to_check(bucket, key, &parsed);
            if let Some((b, k)) = previous {
                let there = world.exists(&b, &k);
                exists.insert((b, k), there);
            }
        }
        let d = Fetched {
            bucket,
            key,
            content: inflated,
            signature: fetched.header("x-amz-meta-signature"),
            algorithm: fetched.header("x-amz-meta-signature-algorithm"),
        };
        let mut answered = Answered {
            exists,
            inner: world,
        };
        lock(&self.shared.checker).digest(d, &mut answered)
    }

    /// Whether `bucket/key` exists (`None`: cannot tell now).
    fn exists(&self, bucket: &str, key: &str) -> Option<bool> {
        match self.s3.exists(bucket, key) {
            Ok(b) => Some(b),
            Err(e) => {
                self.log.warn(&format!(
                    "log file validation: cannot tell whether s3://{bucket}/{key} exists: {e}"
                ));
                None
            }
        }
    }

    /// Logs, counts and emits findings.
    fn report(&self, found: Vec<Finding>) {
        let units = self.shared.account(found, "s3");
        if units.is_empty() {
            return;
        }
        self.pool.push_ready(units, |_| {});
        if let Some(l) = &self.ledger {
            l.integrity_changed();
        }
    }
}

/// The checker's questions: public keys from CloudTrail, and whether an object
/// exists as `exists` tells (S3, or a copy on disk).
struct Asking<'a> {
    keys: &'a Keys,
    exists: &'a dyn Fn(&str, &str) -> Option<bool>,
}

impl World for Asking<'_> {
    fn public_key(
        &mut self,
        region: &str,
        fingerprint: &str,
        around: i64,
    ) -> Result<Option<Vec<u8>>, Later> {
        self.keys.get(region, fingerprint, around)
    }

    fn exists(&mut self, bucket: &str, key: &str) -> Option<bool> {
        (self.exists)(bucket, key)
    }
}

/// Log file validation of a directory that holds a copy of a trail's bucket (after
/// `aws s3 sync`), on the reading thread. Files are known by their path from
/// `AWSLogs/` on (whatever prefix the copy was taken from); a digest is read from disk
/// and its signature fetched from where the digest says it is in the bucket (the
/// copy does not carry S3 metadata); a file a digest lists is missing when the
/// directory does not have it.
pub struct LocalValidation {
    shared: Shared,
    s3: Arc<S3>,
    keys: Keys,
    ledger: Arc<Ledger>,
    /// Digests judged (their path below the root).
    judged: BTreeSet<String>,
}

/// Digest files remembered as judged, at most (hourly, per trail and region).
const MAX_JUDGED: usize = 100_000;

/// Whether a path below the root is a digest file.
pub fn is_digest(key: &str) -> bool {
    key.contains("CloudTrail-Digest/") && key.ends_with(".json.gz")
}

impl LocalValidation {
    pub fn start(aws: Arc<Aws>, ledger: Arc<Ledger>, log: Logger, metrics: Arc<Metrics>) -> Self {
        LocalValidation {
            shared: Shared::new(true, Some(&ledger), log.clone(), metrics),
            s3: Arc::new(S3::new(aws.clone())),
            keys: Keys {
                aws,
                regions: Mutex::new(HashMap::new()),
                log,
            },
            ledger,
            judged: BTreeSet::new(),
        }
    }

    /// The reader read the file at `key` (below the root) whole.
    pub fn file_read(&self, key: &str, hash: String) -> Vec<(String, Records)> {
        let found = lock(&self.shared.checker).file_read("", key, hash, now_secs());
        self.shared.account(found, "a directory")
    }

    /// Judges the digest files not judged yet (`digests`: their paths below `root`),
    /// then what time decides; `present`: every file below the root, by its path from
    /// `AWSLogs/` on. `last`: everything was read (one-shot). The units to emit.
    pub fn check(
        &mut self,
        root: &std::path::Path,
        digests: &[String],
        present: &HashSet<String>,
        last: bool,
    ) -> Vec<(String, Records)> {
        let mut found = Vec::new();
        for key in digests {
            if self.judged.contains(key) {
                continue;
            }
            if let Ok(f) = self.judge(root, key, present) {
                found.extend(f);
                self.judged.insert(key.clone());
            }
        }
        while self.judged.len() > MAX_JUDGED {
            self.judged.pop_first();
        }
        let exists = |_: &str, key: &str| Some(present.contains(from_awslogs(key)));
        let mut world = Asking {
            keys: &self.keys,
            exists: &exists,
        };
        found.extend(lock(&self.shared.checker).expire(now_secs(), last, &mut world));
        self.ledger.integrity_changed();
        self.shared.account(found, "a directory")
    }

    /// Reads and judges one digest file.
    fn judge(
        &self,
        root: &std::path::Path,
        key: &str,
        present: &HashSet<String>,
    ) -> Result<Vec<Finding>, Later> {
        let mut content = Vec::new();
        let read = std::fs::File::open(root.join(key)).and_then(|f| {
            flate2::read::MultiGzDecoder::new(f)
                .take(MAX_DIGEST)
                .read_to_end(&mut content)
        });
        let mut inflated = read
            .map(|_| content.as_slice())
            .map_err(|e| format!("cannot read it: {e}"));
        // Its signature, from where it says it is in the bucket.
        let (mut signature, mut algorithm) = (None, None);
        if let Ok(text) = inflated
            && let Ok(d) = Digest::parse(text)
        {
            match self.s3.fetch(&d.bucket, &d.key, MAX_DIGEST) {
                Ok(Some(f)) => {
                    signature = f.header("x-amz-meta-signature").map(str::to_string);
                    algorithm = f
                        .header("x-amz-meta-signature-algorithm")
                        .map(str::to_string);
                }
                Ok(None) => {
                    inflated = Err(format!(
                        "s3://{}/{}, where it says it is, has no such digest to take its signature from",
                        d.bucket, d.key
                    ))
                }
                Err(e) => {
                    self.shared.log.warn(&format!(
                        "log file validation: cannot fetch the signature of {key} from s3://{}/{}: {e}; trying again later",
                        d.bucket, d.key
                    ));
                    return Err(Later);
                }
            }
        }
        let exists = |_: &str, key: &str| Some(present.contains(from_awslogs(key)));
        let mut world = Asking {
            keys: &self.keys,
            exists: &exists,
        };
        let d = Fetched {
            bucket: "",
            key: from_awslogs(key),
            content: inflated,
            signature: signature.as_deref(),
            algorithm: algorithm.as_deref(),
        };
        lock(&self.shared.checker).digest(d, &mut world)
    }
}
