//! What a source has delivered, where it resumes, and the checkpoint file that keeps
//! it across restarts. Shared by S3 (one-shot and follow) and local directories.
//!
//! State is kept per folder: a CloudTrail region folder (`…/CloudTrail/<region>/`,
//! whose keys sort by their name time) or, for any other key, its parent folder. Per
//! folder: the high-water mark (the greatest name delivered) and the recent names
//! (those delivered within [`LOOKBACK`] of it). A name counts as delivered when it is
//! recent, or when its name time is more than `LOOKBACK` older than the mark (or, for
//! names without a time, when it sorts at or before the mark). So a file CloudTrail
//! delivers late, named before files already read, is read once; a crash re-reads at
//! most the files that were in flight: at-least-once, never a loss.
//!
//! "Delivered" is the instance's one signal ([`super::Control::delivered`]): every
//! event of the file reached Falco. Only then is a file recorded.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::interval::{key_stamp, minute_stamp, stamp_secs};
use crate::json::doc::Doc;
use crate::json::{Kind, View, write_string};
use crate::log::Logger;
use crate::metrics::Metrics;

/// How far behind the newest delivered file a late file is still looked for.
pub const LOOKBACK_SECS: i64 = 3600;
/// [`LOOKBACK_SECS`] as the docs name it.
pub const LOOKBACK: Duration = Duration::from_secs(LOOKBACK_SECS as u64);
/// Recent names kept per folder at most (the oldest go first: at worst re-read).
pub const MAX_RECENT: usize = 2000;
/// Folders tracked at most (the least recently updated goes first).
pub const MAX_FOLDERS: usize = 20_000;
/// Recent names kept in all folders together (about 100 bytes each): beyond it the
/// least recently updated folders are forgotten (at worst their last hour is re-read).
pub const MAX_RECENT_TOTAL: usize = 200_000;
/// After a checkpoint write the saver rests at least this long before the next, and
/// four times as long as the write took (so it writes at most a fifth of the time):
/// what is delivered meanwhile goes into one write. A delivered file is therefore on
/// disk within about one rest plus two writes of its delivery.
pub const SAVE_REST_MIN: Duration = Duration::from_millis(25);
/// The longest rest (a checkpoint that takes very long to write).
pub const SAVE_REST_MAX: Duration = Duration::from_secs(2);

const VERSION: i64 = 1;

/// Splits a key (or a path relative to a watched directory) into its folder and name.
pub fn split_key(key: &str) -> (&str, &str) {
    // `…/CloudTrail/<region>/YYYY/MM/DD/file`: the region folder.
    if let Some(at) = key.rfind("/CloudTrail/") {
        let region_start = at + "/CloudTrail/".len();
        if let Some(slash) = key[region_start..].find('/') {
            let cut = region_start + slash + 1;
            if key_stamp(key).is_some() {
                return (&key[..cut], &key[cut..]);
            }
        }
    }
    match key.rfind('/') {
        Some(i) => (&key[..=i], &key[i + 1..]),
        None => ("", key),
    }
}

fn name_secs(name: &str) -> Option<i64> {
    key_stamp(name).and_then(|s| stamp_secs(&s))
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Folder {
    high: String,
    recent: BTreeSet<String>,
    touched: u64,
}

impl Folder {
    fn delivered(&self, name: &str) -> bool {
        if self.recent.contains(name) {
            return true;
        }
        match (name_secs(name), name_secs(&self.high)) {
            (Some(t), Some(h)) => t < h - LOOKBACK_SECS,
            (None, _) => !self.high.is_empty() && name <= self.high.as_str(),
            (Some(_), None) => false,
        }
    }

    fn record(&mut self, name: &str) {
        if name > self.high.as_str() {
            self.high = name.to_string();
        }
        let Some(h) = name_secs(&self.high) else {
            // Names without a time: the mark alone says what was delivered.
            self.recent.clear();
            return;
        };
        if name_secs(name).is_some() {
            self.recent.insert(name.to_string());
        }
        self.recent
            .retain(|n| name_secs(n).is_some_and(|t| t >= h - LOOKBACK_SECS));
        while self.recent.len() > MAX_RECENT {
            let first = self.recent.iter().next().cloned().unwrap_or_default();
            self.recent.remove(&first);
        }
    }
}

/// What was delivered, per folder, for one source.
#[derive(Debug, PartialEq, Eq)]
pub struct Progress {
    /// What the state belongs to (`s3://bucket/prefix`, `dir:/path`).
    pub source: String,
    folders: BTreeMap<String, Folder>,
    clock: u64,
    recent_total: usize,
    /// What log file validation keeps between runs (its own JSON), when it is on.
    pub integrity: Option<String>,
}

impl Progress {
    pub fn new(source: &str) -> Progress {
        Progress {
            source: source.to_string(),
            folders: BTreeMap::new(),
            clock: 0,
            recent_total: 0,
            integrity: None,
        }
    }

    pub fn delivered(&self, key: &str) -> bool {
        let (folder, name) = split_key(key);
        self.folders.get(folder).is_some_and(|f| f.delivered(name))
    }

    pub fn record(&mut self, key: &str) {
        let (folder, name) = split_key(key);
        self.clock += 1;
        if !self.folders.contains_key(folder) && self.folders.len() >= MAX_FOLDERS {
            self.forget_oldest_folder();
        }
        let f = self.folders.entry(folder.to_string()).or_default();
        f.touched = self.clock;
        let before = f.recent.len();
        f.record(name);
        self.recent_total = self.recent_total + f.recent.len() - before;
        while self.recent_total > MAX_RECENT_TOTAL && self.folders.len() > 1 {
            self.forget_oldest_folder();
        }
    }

    fn forget_oldest_folder(&mut self) {
        let oldest = self
            .folders
            .iter()
            .min_by_key(|(_, f)| f.touched)
            .map(|(k, _)| k.clone());
        if let Some(f) = oldest.and_then(|k| self.folders.remove(&k)) {
            self.recent_total -= f.recent.len();
        }
    }

    /// Whether `key` sorts before a file already delivered in its folder: CloudTrail
    /// delivered it late.
    pub fn is_late(&self, key: &str) -> bool {
        let (folder, name) = split_key(key);
        self.folders
            .get(folder)
            .is_some_and(|f| name < f.high.as_str())
    }

    /// The name time (seconds) of the newest file delivered in `folder`.
    pub fn high_secs(&self, folder: &str) -> Option<i64> {
        self.folders.get(folder).and_then(|f| name_secs(&f.high))
    }

    /// The greatest delivered key among folders under `prefix`.
    pub fn high_under(&self, prefix: &str) -> Option<String> {
        self.folders
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(_, f)| !f.high.is_empty())
            .map(|(k, f)| format!("{k}{}", f.high))
            .max()
    }

    pub fn folder_count(&self) -> usize {
        self.folders.len()
    }

    /// The versioned JSON text of the checkpoint file.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(256 + 128 * self.folders.len());
        out.push_str("{\"version\":");
        out.push_str(&VERSION.to_string());
        out.push_str(",\"source\":");
        write_string(&mut out, &self.source);
        out.push_str(",\"lookbackSeconds\":");
        out.push_str(&LOOKBACK_SECS.to_string());
        out.push_str(",\"folders\":{");
        for (i, (k, f)) in self.folders.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('\n');
            write_string(&mut out, k);
            out.push_str(":{\"high\":");
            write_string(&mut out, &f.high);
            out.push_str(",\"recent\":[");
            for (j, n) in f.recent.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                write_string(&mut out, n);
            }
            out.push_str("]}");
        }
        out.push('}');
        if let Some(i) = &self.integrity {
            out.push_str(",\n\"integrity\":");
            out.push_str(i);
        }
        out.push_str("}\n");
        out
    }

    /// Reads a checkpoint's text; `what` names the file in errors.
    pub fn from_json(text: &[u8], what: &str) -> Result<Progress> {
        let damaged = |why: &str| {
            Error::new(format!(
                "checkpoint {what} is damaged ({why}); move it away to start from scratch"
            ))
        };
        let doc = Doc::parse(text).ok_or_else(|| damaged("not JSON"))?;
        let v = doc.view();
        let root = v.root();
        if v.kind(root) != Kind::Object {
            return Err(damaged("not a JSON object"));
        }
        match doc.i64_at(&["version"]) {
            Some(VERSION) => {}
            Some(n) => {
                return Err(damaged(&format!(
                    "version {n}, this plugin reads {VERSION}"
                )));
            }
            None => return Err(damaged("no version")),
        }
        let source = doc
            .str_at(&["source"])
            .ok_or_else(|| damaged("no source"))?;
        let folders_id = v
            .member(root, "folders")
            .filter(|&id| v.kind(id) == Kind::Object)
            .ok_or_else(|| damaged("no folders"))?;
        let mut p = Progress::new(&source);
        let mut bad = None;
        v.each_member(folders_id, &mut |k, fid| {
            let text = |id| v.text(id).map(crate::json::into_string);
            let high = v.member(fid, "high").and_then(text);
            let recent = v
                .member(fid, "recent")
                .filter(|&r| v.kind(r) == Kind::Array);
            let (Some(high), Some(recent)) = (high, recent) else {
                bad = Some(String::from_utf8_lossy(k).into_owned());
                return false;
            };
            let mut f = Folder {
                high,
                ..Default::default()
            };
            v.each_element(recent, &mut |n| {
                if let Some(n) = text(n) {
                    f.recent.insert(n);
                }
                true
            });
            p.recent_total += f.recent.len();
            p.folders.insert(String::from_utf8_lossy(k).into_owned(), f);
            true
        });
        if let Some(k) = bad {
            return Err(damaged(&format!(
                "folder {k:?} has no high mark or recent list"
            )));
        }
        p.integrity = v
            .member(root, "integrity")
            .map(|id| String::from_utf8_lossy(v.raw(id)).into_owned());
        Ok(p)
    }
}

/// The shared delivery ledger of a running source: files in flight (by the file id
/// the consumer reports) and the delivered state, saved to the checkpoint file if any.
pub struct Ledger {
    state: Mutex<LedgerState>,
    /// Held from the snapshot to the rename: the saver thread and the close never
    /// write at once, and a newer state is never overwritten by an older one.
    writing: Mutex<()>,
    changed: Condvar,
    checkpoint: Option<Checkpoint>,
    log: Logger,
    metrics: Arc<Metrics>,
    /// Log file validation's state, written with every checkpoint.
    integrity: Mutex<Option<IntegrityState>>,
}

/// Gives log file validation's state as JSON, for the checkpoint.
pub type IntegrityState = Box<dyn Fn() -> String + Send + Sync>;

struct LedgerState {
    progress: Progress,
    inflight: HashMap<u64, String>,
    inflight_keys: HashSet<String>,
    dirty: bool,
}

/// The file itself and the lock that makes this source its only writer.
struct Checkpoint {
    path: PathBuf,
    _lock: File,
}

impl Ledger {
    /// A ledger for `source`; with a checkpoint path, the file is locked (failing when
    /// another live source holds it) and its state loaded (failing when it is damaged or
    /// belongs to another source).
    pub fn open(
        source: &str,
        checkpoint: Option<&Path>,
        log: Logger,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Ledger>> {
        let (progress, checkpoint) = match checkpoint {
            None => (Progress::new(source), None),
            Some(path) => {
                let lock = lock(path)?;
                let progress = load(path, source)?;
                if progress.folder_count() > 0 {
                    log.info(&format!(
                        "checkpoint {}: resuming {source} ({} folder(s) on record)",
                        path.display(),
                        progress.folder_count()
                    ));
                }
                (
                    progress,
                    Some(Checkpoint {
                        path: path.to_path_buf(),
                        _lock: lock,
                    }),
                )
            }
        };
        Ok(Arc::new(Ledger {
            state: Mutex::new(LedgerState {
                progress,
                inflight: HashMap::new(),
                inflight_keys: HashSet::new(),
                dirty: false,
            }),
            writing: Mutex::new(()),
            changed: Condvar::new(),
            checkpoint,
            log,
            metrics,
            integrity: Mutex::new(None),
        }))
    }

    fn lock_state(&self) -> MutexGuard<'_, LedgerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `key` needs reading: neither delivered nor in flight.
    pub fn wanted(&self, key: &str) -> bool {
        let g = self.lock_state();
        !g.inflight_keys.contains(key) && !g.progress.delivered(key)
    }

    /// A read of `key` started as file `file`.
    pub fn started(&self, file: u64, key: &str) {
        let mut g = self.lock_state();
        g.inflight_keys.insert(key.to_string());
        g.inflight.insert(file, key.to_string());
    }

    /// Every event of `files` reached Falco: record them, and wake the saver when
    /// this is the first delivery since its last write.
    pub fn delivered(&self, files: &[u64]) {
        let mut g = self.lock_state();
        let was_dirty = g.dirty;
        for file in files {
            if let Some(key) = g.inflight.remove(file) {
                g.inflight_keys.remove(&key);
                g.progress.record(&key);
                g.dirty = true;
            }
        }
        if g.dirty && !was_dirty {
            self.changed.notify_one();
        }
    }

    /// Log file validation keeps its state in the checkpoint: `state` gives it at
    /// every write. Returns what the checkpoint held from the last run.
    pub fn keep_integrity(&self, state: IntegrityState) -> Option<String> {
        *self.integrity.lock().unwrap_or_else(|p| p.into_inner()) = Some(state);
        self.lock_state().progress.integrity.take()
    }

    /// Log file validation's state changed: write the checkpoint soon.
    pub fn integrity_changed(&self) {
        let mut g = self.lock_state();
        if !g.dirty {
            g.dirty = true;
            self.changed.notify_one();
        }
    }

    /// Reads `f` on the delivered state.
    pub fn with_progress<T>(&self, f: impl FnOnce(&Progress) -> T) -> T {
        f(&self.lock_state().progress)
    }

    /// Writes the checkpoint if something was delivered since the last write; false
    /// when that write failed.
    pub fn save(&self) -> bool {
        let Some(cp) = &self.checkpoint else {
            return true;
        };
        let _writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        let text = {
            let mut g = self.lock_state();
            if !g.dirty {
                return true;
            }
            g.dirty = false;
            let integrity = self.integrity.lock().unwrap_or_else(|p| p.into_inner());
            g.progress.integrity = integrity.as_ref().map(|state| state());
            g.progress.to_json()
        };
        match write_atomically(&cp.path, text.as_bytes()) {
            Ok(()) => {
                Metrics::add(&self.metrics.checkpoint_writes, 1);
                true
            }
            Err(e) => {
                self.lock_state().dirty = true;
                let n = self
                    .metrics
                    .checkpoint_write_failures
                    .fetch_add(1, Ordering::Relaxed);
                // The first failure and then one in a hundred: a full disk fails every time.
                if n.is_multiple_of(100) {
                    self.log.error(&format!(
                        "cannot write checkpoint {}: {e} (reading goes on; a restart may read again what was delivered since the last write)",
                        cp.path.display()
                    ));
                }
                false
            }
        }
    }

    /// Starts the thread that saves the checkpoint as files are delivered (none
    /// without a checkpoint): it sleeps until a delivery, writes at once, then rests
    /// ([`SAVE_REST_MIN`], or four times the write) so that a catch-up of thousands of
    /// files is written a few times, not once per file. It saves a last time when
    /// `stop` is set (see [`Ledger::wake`]).
    pub fn start_saver(self: &Arc<Self>, stop: Arc<AtomicBool>) -> Result<Option<JoinHandle<()>>> {
        if self.checkpoint.is_none() {
            return Ok(None);
        }
        let me = self.clone();
        std::thread::Builder::new()
            .name("cloudtrail-checkpoint".into())
            .spawn(move || {
                let stopping = || stop.load(Ordering::Relaxed);
                loop {
                    let g = me.lock_state();
                    let g = me
                        .changed
                        .wait_while(g, |s| !s.dirty && !stopping())
                        .unwrap_or_else(|p| p.into_inner());
                    drop(g);
                    let t = std::time::Instant::now();
                    let written = me.save();
                    if stopping() {
                        break;
                    }
                    // A failing disk is tried again at the slowest pace.
                    let rest = if written {
                        (t.elapsed() * 4).clamp(SAVE_REST_MIN, SAVE_REST_MAX)
                    } else {
                        SAVE_REST_MAX
                    };
                    let g = me.lock_state();
                    let _ = me.changed.wait_timeout_while(g, rest, |_| !stopping());
                }
                me.save();
            })
            .map(Some)
            .map_err(|e| Error::new(format!("cannot start the checkpoint thread: {e}")))
    }

    /// Wakes the saver (on close, after setting its `stop`): it writes what is left
    /// and ends. Taking the lock first means the saver is not between its check and
    /// its wait.
    pub fn wake(&self) {
        drop(self.lock_state());
        self.changed.notify_all();
    }
}

fn lock(path: &Path) -> Result<File> {
    let lock_path = PathBuf::from(format!("{}.lock", path.display()));
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| {
            Error::new(format!(
                "cannot open checkpoint lock {}: {e}",
                lock_path.display()
            ))
        })?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::new(format!(
            "checkpoint {} is in use by another reader (its lock {} is held): one source per checkpoint file",
            path.display(),
            lock_path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::new(format!(
            "cannot lock checkpoint {}: {e}",
            lock_path.display()
        ))),
    }
}

fn load(path: &Path, source: &str) -> Result<Progress> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Progress::new(source)),
        Err(e) => {
            return Err(Error::new(format!(
                "cannot read checkpoint {}: {e}",
                path.display()
            )));
        }
    };
    let p = Progress::from_json(&text, &path.display().to_string())?;
    if p.source != source {
        return Err(Error::new(format!(
            "checkpoint {} was written for {}, not for {source}: give each source its own checkpoint file",
            path.display(),
            p.source
        )));
    }
    Ok(p)
}

/// Temporary file, fsync, rename over the checkpoint, fsync of the folder: a crash
/// leaves the old checkpoint or the new one, never a mix.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    File::open(dir.unwrap_or(Path::new(".")))?.sync_all()
}

/// The `start-after` key that lists a CloudTrail region folder from `secs` on: every
/// key whose name time is at or after that minute sorts after it.
pub fn region_start_after(region: &str, secs: i64) -> Option<String> {
    // `…/AWSLogs/[o-org/]<account>/CloudTrail/<region>/`
    let mut segs = region.trim_end_matches('/').rsplit('/');
    let reg = segs.next()?;
    if segs.next()? != "CloudTrail" {
        return None;
    }
    let account = segs.next()?;
    let stamp = minute_stamp(secs);
    Some(format!(
        "{region}{}/{}/{}/{account}_CloudTrail_{reg}_{stamp}",
        &stamp[0..4],
        &stamp[4..6],
        &stamp[6..8]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/";

    fn key(stamp: &str, id: &str) -> String {
        format!(
            "{R}{}/{}/{}/111122223333_CloudTrail_us-east-1_{stamp}Z_{id}.json.gz",
            &stamp[0..4],
            &stamp[4..6],
            &stamp[6..8]
        )
    }

    #[test]
    fn keys_split_into_region_folders() {
        let k = key("20240102T0305", "a");
        assert_eq!(split_key(&k).0, R);
        assert!(split_key(&k).1.starts_with("2024/01/02/"));
        assert_eq!(split_key("logs/x.json"), ("logs/", "x.json"));
        assert_eq!(split_key("x.json"), ("", "x.json"));
        assert_eq!(
            split_key("AWSLogs/1/CloudTrail/r/notes.json"),
            ("AWSLogs/1/CloudTrail/r/", "notes.json")
        );
    }

    #[test]
    fn late_files_and_the_lookback() {
        let mut p = Progress::new("s3://b/");
        let (a, b, c) = (
            key("20240102T0300", "a"),
            key("20240102T0310", "b"),
            key("20240102T0400", "c"),
        );
        p.record(&a);
        p.record(&c);
        assert!(p.delivered(&a) && p.delivered(&c));
        // Named between delivered files, never delivered: still wanted.
        assert!(!p.delivered(&b));
        // Older than the newest by more than the look-back: taken as delivered.
        assert!(p.delivered(&key("20240102T0259", "z")));
        // Crossing midnight: the day folder changes, the rule does not.
        p.record(&key("20240103T0005", "d"));
        assert!(!p.delivered(&key("20240102T2359", "late")));
        assert!(p.delivered(&key("20240102T2304", "old")));
        // Recent names older than the look-back are forgotten (the rule covers them).
        assert_eq!(p.folders[R].recent.len(), 1);
        // Plain names: the mark alone.
        p.record("logs/b.json");
        assert!(p.delivered("logs/a.json") && p.delivered("logs/b.json"));
        assert!(!p.delivered("logs/c.json"));
        assert_eq!(p.high_under("logs/").as_deref(), Some("logs/b.json"));
    }

    #[test]
    fn checkpoint_text_round_trips_and_damage_is_named() {
        let mut p = Progress::new("s3://bucket/pre\"fix");
        p.record(&key("20240102T0300", "a"));
        p.record(&key("20240102T0310", "b"));
        p.record("plain/x.json");
        let text = p.to_json();
        let back = Progress::from_json(text.as_bytes(), "f").unwrap();
        assert_eq!(back.source, p.source);
        assert_eq!(back.to_json(), text);
        for (bad, why) in [
            (&b"{"[..], "not JSON"),
            (b"[]", "not a JSON object"),
            (
                b"{\"version\":2,\"source\":\"s\",\"folders\":{}}",
                "version 2",
            ),
            (b"{\"version\":1,\"folders\":{}}", "no source"),
            (
                b"{\"version\":1,\"source\":\"s\",\"folders\":{\"a/\":{}}}",
                "no high mark",
            ),
        ] {
            let e = Progress::from_json(bad, "/x/cp.json").unwrap_err();
            assert!(
                e.message().contains("checkpoint /x/cp.json is damaged"),
                "{e}"
            );
            assert!(e.message().contains(why), "{e}");
        }
    }

    #[test]
    fn recent_and_folders_are_capped() {
        let mut p = Progress::new("s");
        for m in 0..(MAX_RECENT + 50) {
            let t = 1_700_000_000 + m as i64; // all within one minute's look-back
            let stamp = minute_stamp(t - t % 60);
            p.record(&key(&stamp, &format!("{m:05}")));
        }
        assert!(p.folders[R].recent.len() <= MAX_RECENT);
        let mut q = Progress::new("s");
        for i in 0..(MAX_FOLDERS + 10) {
            q.record(&format!("d{i}/x.json"));
        }
        assert_eq!(q.folder_count(), MAX_FOLDERS);
        assert!(q.delivered(&format!("d{}/x.json", MAX_FOLDERS + 9)));
        // All folders together: the least recently updated go.
        let mut r = Progress::new("s");
        let per = 100;
        let folders = MAX_RECENT_TOTAL / per + 5;
        for f in 0..folders {
            for i in 0..per {
                let t = 1_700_000_000 + i as i64 / 60 * 60;
                let k = format!(
                    "AWSLogs/{f:012}/CloudTrail/r/2023/11/14/{f:012}_CloudTrail_r_{}Z_{i:05}.json.gz",
                    minute_stamp(t)
                );
                r.record(&k);
            }
        }
        assert!(r.recent_total <= MAX_RECENT_TOTAL);
        assert_eq!(
            r.recent_total,
            r.folders.values().map(|f| f.recent.len()).sum::<usize>()
        );
        assert!(r.folder_count() < folders);
    }

    #[test]
    fn start_after_lists_from_a_minute() {
        let t = stamp_secs("20240102T0305").unwrap();
        let s = region_start_after(R, t).unwrap();
        assert_eq!(
            s,
            format!("{R}2024/01/02/111122223333_CloudTrail_us-east-1_20240102T0305")
        );
        assert!(key("20240102T0305", "a") > s && key("20240102T0304", "a") < s);
        assert_eq!(region_start_after("logs/", t), None);
    }

    #[test]
    fn one_writer_per_checkpoint() {
        let dir = std::env::temp_dir().join(format!("ct-progress-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cp.json");
        let m = Arc::new(Metrics::default());
        let a = Ledger::open("s3://b/", Some(&path), Logger::new(None), m.clone()).unwrap();
        let err = Ledger::open("s3://b/", Some(&path), Logger::new(None), m.clone())
            .err()
            .unwrap();
        assert!(
            err.message().contains("is in use by another reader"),
            "{err}"
        );
        a.started(0, "logs/x.json");
        a.delivered(&[0]);
        a.save();
        drop(a);
        let b = Ledger::open("s3://b/", Some(&path), Logger::new(None), m.clone()).unwrap();
        assert!(!b.wanted("logs/x.json") && b.wanted("logs/y.json"));
        drop(b);
        let e = Ledger::open("s3://other/", Some(&path), Logger::new(None), m)
            .err()
            .unwrap();
        assert!(
            e.message()
                .contains("was written for s3://b/, not for s3://other/"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
