//! Local files and directories.
//!
//! Upstream's walk: recursive, each directory's entries in lexical (byte) order,
//! symlinked directories not descended (so no loop can trap the walk), symlinked files
//! read through the link, and only names ending `.json` / `.json.gz` kept — plus
//! `.jsonl` / `.jsonl.gz` here. A path naming a file directly is read whatever its
//! name, and a root that is a symlink to a directory is followed (upstream stops there
//! with "no json files found").
//!
//! Follow mode (`s3PollInterval` on a directory, e.g. the target of `aws s3 sync`)
//! walks the directory again every poll and reads the files it has not delivered
//! yet ([`Ledger`], the same delivered state as S3's, keyed by the path below the
//! directory); a file modified within the last [`SETTLE`] is left for the next poll,
//! as it may still be being written.
//!
//! With log file validation (`logFileValidation`) the directory is a copy of a trail's
//! bucket: its digest files are judged rather than read as logs, and each file is
//! hashed as it is read ([`LocalValidation`]).

use std::collections::HashSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use super::integrity::{LocalValidation, is_digest};
use super::progress::Ledger;
use super::split::{Records, Splitter};
use super::{Chunk, Control, Feed, Recv, pause, stream_file};
use crate::error::{Error, Result};
use crate::integrity::checker::from_awslogs;
use crate::metrics::Metrics;

const SUFFIXES: [&str; 4] = [".json", ".json.gz", ".jsonl", ".jsonl.gz"];

fn is_log_name(name: &[u8]) -> bool {
    SUFFIXES.iter().any(|s| name.ends_with(s.as_bytes()))
}

/// The files under a directory, in reading order (none is not an error here).
pub fn list_dir(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    walk(dir, &mut files);
    files
}

/// The files `path` designates, in reading order.
pub fn list_files(path: &str) -> Result<Vec<PathBuf>> {
    let root = Path::new(path);
    let meta = fs::metadata(root)
        .map_err(|e| Error::new(format!("cloudtrail plugin error: cannot open {path}: {e}")))?;
    if !meta.is_dir() {
        return Ok(vec![root.to_path_buf()]);
    }
    let files = list_dir(root);
    if files.is_empty() {
        return Err(Error::new(format!(
            "cloudtrail plugin error: no json files found in {path} (looked for *.json, *.json.gz, *.jsonl, *.jsonl.gz)"
        )));
    }
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<_> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    for name in names {
        let p = dir.join(&name);
        let Ok(meta) = fs::symlink_metadata(&p) else {
            continue;
        };
        let ft = meta.file_type();
        if ft.is_dir() {
            walk(&p, out);
        } else if is_log_name(name.as_encoded_bytes()) {
            // A symlink counts as a file unless it points to a directory (a dangling
            // one is kept, so that reading it reports the broken link).
            if ft.is_symlink() && fs::metadata(&p).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            out.push(p);
        }
    }
}

/// In follow mode, a file modified more recently than this is read on a later poll.
pub const SETTLE: Duration = Duration::from_secs(1);

/// What to read: the files found at open, and in follow mode the directory to walk
/// again every `every`.
pub struct Plan {
    pub files: Vec<PathBuf>,
    /// The directory the keys are relative to (`None`: a single file).
    pub root: Option<PathBuf>,
    pub follow: Option<Duration>,
    /// Log file validation of the directory (`logFileValidation`), when on.
    pub validation: Option<LocalValidation>,
}

/// Reads files on a background thread.
pub struct LocalFeed {
    rx: Option<Receiver<Chunk>>,
    back: Option<SyncSender<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
    saver: Option<JoinHandle<()>>,
}

/// The consumer's side: files known so far, and deliveries recorded in the ledger.
struct Counts {
    total: std::sync::atomic::AtomicU64,
    ledger: Arc<Ledger>,
}

impl Control for Counts {
    fn total_files(&self) -> Option<u64> {
        Some(self.total.load(Ordering::Relaxed))
    }

    fn delivered(&self, files: &[u64]) {
        self.ledger.delivered(files);
    }

    fn closed(&self) {
        self.ledger.save();
    }
}

/// The ledger key of a file: its path below the root, with `/` separators.
fn key_of(root: Option<&Path>, path: &Path) -> String {
    let rel = root.and_then(|r| path.strip_prefix(r).ok()).unwrap_or(path);
    rel.to_string_lossy().into_owned()
}

/// Chunks buffered between the reader thread and the consumer.
const DEPTH: usize = 16;

impl LocalFeed {
    /// Starts reading `plan`; setting `stop` ends it (close does).
    pub fn start(
        plan: Plan,
        max_decompressed: u64,
        metrics: Arc<Metrics>,
        ledger: Arc<Ledger>,
        stop: Arc<AtomicBool>,
    ) -> Result<Self> {
        let (tx, rx) = sync_channel(DEPTH);
        let (back_tx, back_rx) = sync_channel(DEPTH);
        let counts = Arc::new(Counts {
            total: (plan.files.len() as u64).into(),
            ledger: ledger.clone(),
        });
        let saver = ledger.start_saver(stop.clone())?;
        let (stop2, counts2) = (stop.clone(), counts.clone());
        let thread = std::thread::Builder::new()
            .name("cloudtrail-read".into())
            .spawn(move || {
                let mut r = Reader {
                    splitter: Splitter::default(),
                    max_decompressed,
                    metrics: &metrics,
                    tx: &tx,
                    back: &back_rx,
                    stop: &stop2,
                    counts: &counts2,
                    next: 0,
                };
                r.run(plan);
            })
            .map_err(|e| Error::new(format!("cannot start the reader thread: {e}")))?;
        Ok(LocalFeed {
            rx: Some(rx),
            back: Some(back_tx),
            thread: Some(thread),
            stop,
            counts,
            saver,
        })
    }
}

struct Reader<'a> {
    splitter: Splitter,
    max_decompressed: u64,
    metrics: &'a Metrics,
    tx: &'a SyncSender<Chunk>,
    back: &'a Receiver<Vec<u8>>,
    stop: &'a AtomicBool,
    counts: &'a Counts,
    /// The next file id.
    next: u64,
}

impl Reader<'_> {
    fn run(&mut self, plan: Plan) {
        let root = plan.root.as_deref();
        let mut files = plan.files;
        let mut validation = plan.validation;
        loop {
            let ledger = self.counts.ledger.clone();
            // With validation: every file there (a digest lists what should be), and
            // the digests, which are judged rather than read as logs.
            let present: HashSet<String> = match &validation {
                Some(_) => files
                    .iter()
                    .map(|p| from_awslogs(&key_of(root, p)).to_string())
                    .collect(),
                None => HashSet::new(),
            };
            let mut digests = Vec::new();
            for path in files {
                let key = key_of(root, &path);
                if plan.follow.is_some() && recently_modified(&path) {
                    continue;
                }
                if validation.is_some() && is_digest(&key) {
                    digests.push(key);
                    continue;
                }
                if !ledger.wanted(&key) {
                    continue;
                }
                if plan.follow.is_some() && ledger.with_progress(|p| p.is_late(&key)) {
                    Metrics::add(&self.metrics.follow_files_late, 1);
                }
                let id = self.next;
                self.next += 1;
                ledger.started(id, &key);
                self.counts.total.fetch_max(self.next, Ordering::Relaxed);
                let mut found = Vec::new();
                let mut hashed = validation
                    .as_ref()
                    .map(|v| |hash: String| found = v.file_read(&key, hash));
                let hashed = hashed.as_mut().map(|h| h as &mut dyn FnMut(String));
                if !self.read_file(id, &path, hashed) || !self.send_units(found) {
                    return;
                }
            }
            if let (Some(v), Some(root)) = (&mut validation, root) {
                let units = v.check(root, &digests, &present, plan.follow.is_none());
                if !self.send_units(units) {
                    return;
                }
            }
            let (Some(every), Some(root)) = (plan.follow, root) else {
                return;
            };
            Metrics::add(&self.metrics.follow_polls, 1);
            if !pause(self.stop, every) {
                return;
            }
            files = list_dir(root);
        }
    }

    /// Sends records that arrive whole (validation's findings) as units of their own;
    /// false when the consumer is gone.
    fn send_units(&mut self, units: Vec<(String, Records)>) -> bool {
        for (name, records) in units {
            let file = self.next;
            self.next += 1;
            for c in Chunk::arrived_whole(file, name, records) {
                if self.stop.load(Ordering::Relaxed) || self.tx.send(c).is_err() {
                    return false;
                }
            }
        }
        true
    }

    /// Streams one file as file `i` (its SHA-256 to `hashed`, when asked); false when
    /// the consumer is gone.
    fn read_file(&mut self, i: u64, path: &Path, hashed: Option<&mut dyn FnMut(String)>) -> bool {
        let (tx, stop) = (self.tx, self.stop);
        let mut send = |c: Chunk| !stop.load(Ordering::Relaxed) && tx.send(c).is_ok();
        let name = path.display().to_string();
        if !send(Chunk::Start {
            file: i,
            name,
            message: false,
        }) {
            return false;
        }
        let f = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                let end = Chunk::End {
                    error: Some(format!("cannot open: {e}")),
                    damage: Default::default(),
                };
                return send(end);
            }
        };
        let meta_len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let back = self.back;
        let mut spare = || back.try_recv().ok();
        let (totals, alive) = stream_file(
            f,
            self.max_decompressed,
            &mut self.splitter,
            &mut send,
            &mut spare,
            hashed,
        );
        if !alive {
            return false;
        }
        Metrics::add(&self.metrics.bytes_read, meta_len);
        Metrics::add(&self.metrics.bytes_decompressed, totals.decompressed);
        true
    }
}

fn recently_modified(path: &Path) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < SETTLE)
}

impl Feed for LocalFeed {
    fn recv(&mut self, wait: Duration) -> Recv {
        let Some(rx) = &self.rx else {
            return Recv::Done;
        };
        let got = if wait.is_zero() {
            rx.try_recv().map_err(|e| match e {
                TryRecvError::Empty => RecvTimeoutError::Timeout,
                TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
            })
        } else {
            rx.recv_timeout(wait)
        };
        match got {
            Ok(c) => Recv::Chunk(c),
            Err(RecvTimeoutError::Timeout) => Recv::Idle,
            Err(RecvTimeoutError::Disconnected) => Recv::Done,
        }
    }

    fn give_back(&mut self, buf: Vec<u8>) {
        if let Some(b) = &self.back {
            let _ = b.try_send(buf);
        }
    }

    fn control(&self) -> Arc<dyn Control> {
        self.counts.clone()
    }

    fn close(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receiver unblocks a reader waiting to send.
        self.rx = None;
        self.back = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // The saver writes the deliveries recorded so far before it ends.
        self.counts.ledger.wake();
        if let Some(t) = self.saver.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LocalFeed {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ct-local-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn walk_order_filter_and_symlinks() {
        let d = tmpdir("walk");
        fs::create_dir_all(d.join("b/sub")).unwrap();
        fs::create_dir_all(d.join("a")).unwrap();
        for f in [
            "b/sub/z.json",
            "b/y.json.gz",
            "a/x.jsonl",
            "a/w.jsonl.gz",
            "c.json",
            "B.json",
            "skip.txt",
            "skip.JSON",
            "skip.gz",
            ".hidden.json",
        ] {
            fs::write(d.join(f), b"{}").unwrap();
        }
        std::os::unix::fs::symlink(d.join("b"), d.join("link-to-dir")).unwrap();
        std::os::unix::fs::symlink(d.join("c.json"), d.join("link-to-file.json")).unwrap();
        std::os::unix::fs::symlink(d.join("missing.json"), d.join("dangling.json")).unwrap();
        let got: Vec<String> = list_files(d.to_str().unwrap())
            .unwrap()
            .iter()
            .map(|p| p.strip_prefix(&d).unwrap().display().to_string())
            .collect();
        assert_eq!(
            got,
            [
                ".hidden.json",
                "B.json",
                "a/w.jsonl.gz",
                "a/x.jsonl",
                "b/sub/z.json",
                "b/y.json.gz",
                "c.json",
                "dangling.json",
                "link-to-file.json"
            ]
        );
        // A file named directly is read whatever its name; a symlinked root is followed.
        let f = d.join("skip.txt");
        assert_eq!(
            list_files(f.to_str().unwrap()).unwrap(),
            std::slice::from_ref(&f)
        );
        assert_eq!(
            list_files(d.join("link-to-dir").to_str().unwrap())
                .unwrap()
                .len(),
            2
        );
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn errors_name_the_path() {
        let e = list_files("/nonexistent/ct").unwrap_err();
        assert!(e.message().contains("cannot open /nonexistent/ct"), "{e}");
        let d = tmpdir("empty");
        fs::write(d.join("notes.txt"), b"x").unwrap();
        let e = list_files(d.to_str().unwrap()).unwrap_err();
        assert!(e.message().contains("no json files found in"), "{e}");
        fs::remove_dir_all(&d).unwrap();
    }
}
