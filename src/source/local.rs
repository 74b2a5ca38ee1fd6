//! Local files and directories.
//!
//! Upstream's walk: recursive, each directory's entries in lexical (byte) order,
//! symlinked directories not descended (so no loop can trap the walk), symlinked files
//! read through the link, and only names ending `.json` / `.json.gz` kept — plus
//! `.jsonl` / `.jsonl.gz` here. A path naming a file directly is read whatever its
//! name, and a root that is a symlink to a directory is followed (upstream stops there
//! with "no json files found").

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use super::split::Splitter;
use super::{Chunk, Control, Feed, FixedCount, Recv, stream_file};
use crate::error::{Error, Result};
use crate::metrics::Metrics;

const SUFFIXES: [&str; 4] = [".json", ".json.gz", ".jsonl", ".jsonl.gz"];

fn is_log_name(name: &[u8]) -> bool {
    SUFFIXES.iter().any(|s| name.ends_with(s.as_bytes()))
}

/// The files `path` designates, in reading order.
pub fn list_files(path: &str) -> Result<Vec<PathBuf>> {
    let root = Path::new(path);
    let meta = fs::metadata(root)
        .map_err(|e| Error::new(format!("cloudtrail plugin error: cannot open {path}: {e}")))?;
    if !meta.is_dir() {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut files = Vec::new();
    walk(root, &mut files);
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

/// Reads a fixed list of files on a background thread.
pub struct LocalFeed {
    rx: Option<Receiver<Chunk>>,
    back: Option<SyncSender<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    total: u64,
}

/// Chunks buffered between the reader thread and the consumer.
const DEPTH: usize = 16;

impl LocalFeed {
    pub fn start(
        files: Vec<PathBuf>,
        max_decompressed: u64,
        metrics: Arc<Metrics>,
    ) -> Result<Self> {
        let (tx, rx) = sync_channel(DEPTH);
        let (back_tx, back_rx) = sync_channel(DEPTH);
        let stop = Arc::new(AtomicBool::new(false));
        let total = files.len() as u64;
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("cloudtrail-read".into())
            .spawn(move || read_files(files, max_decompressed, &metrics, &tx, &back_rx, &stop2))
            .map_err(|e| Error::new(format!("cannot start the reader thread: {e}")))?;
        Ok(LocalFeed {
            rx: Some(rx),
            back: Some(back_tx),
            thread: Some(thread),
            stop,
            total,
        })
    }
}

fn read_files(
    files: Vec<PathBuf>,
    max_decompressed: u64,
    metrics: &Metrics,
    tx: &SyncSender<Chunk>,
    back: &Receiver<Vec<u8>>,
    stop: &AtomicBool,
) {
    let mut splitter = Splitter::default();
    let mut send = |c: Chunk| !stop.load(Ordering::Relaxed) && tx.send(c).is_ok();
    for (i, path) in files.into_iter().enumerate() {
        let name = path.display().to_string();
        if !send(Chunk::Start {
            file: i as u64,
            name,
            message: false,
        }) {
            return;
        }
        let f = match File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                let end = Chunk::End {
                    error: Some(format!("cannot open: {e}")),
                    damage: Default::default(),
                };
                if !send(end) {
                    return;
                }
                continue;
            }
        };
        let meta_len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let mut spare = || back.try_recv().ok();
        let (totals, alive) =
            stream_file(f, max_decompressed, &mut splitter, &mut send, &mut spare);
        if !alive {
            return;
        }
        Metrics::add(&metrics.bytes_read, meta_len);
        Metrics::add(&metrics.bytes_decompressed, totals.decompressed);
    }
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
        Arc::new(FixedCount(self.total))
    }

    fn close(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receiver unblocks a reader waiting to send.
        self.rx = None;
        self.back = None;
        if let Some(t) = self.thread.take() {
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
