//! Where records come from: local files, S3 objects, SQS-announced objects, and
//! CloudTrail records carried inside SQS messages (EventBridge), each message's
//! records a unit like a small file.
//!
//! Every source runs its I/O and decompression on its own threads and hands the
//! consumer (`next_batch`, on Falco's event thread) a stream of [`Chunk`]s through a
//! bounded channel, so reading overlaps extraction and memory stays bounded.

pub mod decode;
pub mod integrity;
pub mod local;
pub mod notify;
pub mod pool;
pub mod progress;
pub mod s3;
pub mod split;
pub mod sqs;

use std::sync::Arc;
use std::time::Duration;

use crate::scan::Damage;
use split::Records;

/// One step of a source's stream.
#[derive(Debug)]
pub enum Chunk {
    /// A file begins; `name` is what errors and logs call it. `message`: the records
    /// came inside a message (EventBridge), so it is not counted as a file read.
    Start {
        file: u64,
        name: String,
        message: bool,
    },
    /// Whole records of the current file.
    Records(Records),
    /// The current file ended; `error` says why early (its good records were sent),
    /// `damage` what the scanner saw.
    End {
        error: Option<String>,
        damage: Damage,
    },
}

impl Chunk {
    /// The whole stream of a unit whose records are all here on arrival (carried in a
    /// message, or the plugin's own findings): not counted as a file read.
    pub fn arrived_whole(file: u64, name: String, records: Records) -> [Chunk; 3] {
        [
            Chunk::Start {
                file,
                name,
                message: true,
            },
            Chunk::Records(records),
            Chunk::End {
                error: None,
                damage: Damage::default(),
            },
        ]
    }
}

/// What the consumer gets when it asks for more.
#[derive(Debug)]
pub enum Recv {
    Chunk(Chunk),
    /// Nothing arrived within the wait.
    Idle,
    /// The source has no more files (never for SQS).
    Done,
    /// The source cannot go on (the message says why).
    Failed(String),
}

/// Allocations the consumer hands back to the preparation thread for reuse.
pub struct Recycled {
    pub indexes: Vec<crate::record::Index>,
    pub blocks: Vec<crate::prepare::Block>,
}

/// A running source. The preparation thread owns it and pulls chunks from it.
pub trait Feed: Send {
    /// The next chunk, waiting at most `wait` for it.
    fn recv(&mut self, wait: Duration) -> Recv;
    /// Stops and joins every thread this source started.
    fn close(&mut self);
    /// A buffer from a `Records` chunk, handed back for reuse.
    fn give_back(&mut self, _buf: Vec<u8>) {}
    /// What the consumer side needs to know about the source.
    fn control(&self) -> Arc<dyn Control>;
}

/// The consumer side's handle on a source.
pub trait Control: Send + Sync {
    /// Files known so far, for progress (`None` while still listing).
    fn total_files(&self) -> Option<u64>;
    /// Every event of each of `files` has reached Falco (all the files a batch
    /// finished, reported together).
    fn delivered(&self, _files: &[u64]) {}
    /// The consumer closed the source after its last `delivered` report. The reading
    /// threads may have ended long before (a one-shot source ends when its last file is
    /// read, not when Falco has taken its events), so what hangs off deliveries is
    /// finished here.
    fn closed(&self) {}
}

/// Waits `d` between follow-mode polls, waking every 50 ms to notice `stop`; false when
/// the source is stopping.
pub fn pause(stop: &std::sync::atomic::AtomicBool, d: Duration) -> bool {
    let until = std::time::Instant::now() + d;
    while std::time::Instant::now() < until {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50).min(d));
    }
    !stop.load(std::sync::atomic::Ordering::Relaxed)
}

/// Streams one file's bytes (gzip or not) as `Records` chunks and a final `End`,
/// through `send` (false: the consumer is gone). Returns the totals and whether the
/// consumer is still there. With `hashed`, the SHA-256 of the whole uncompressed
/// content is computed as it streams and handed to `hashed` (hex) before the `End`,
/// when the file was read to its end without error (log file validation).
pub fn stream_file<R: std::io::Read>(
    input: R,
    max_decompressed: u64,
    splitter: &mut split::Splitter,
    send: &mut dyn FnMut(Chunk) -> bool,
    spare: &mut dyn FnMut() -> Option<Vec<u8>>,
    hashed: Option<&mut dyn FnMut(String)>,
) -> (decode::Totals, bool) {
    struct Adapter<'a> {
        splitter: &'a mut split::Splitter,
        send: &'a mut dyn FnMut(Chunk) -> bool,
        spare: &'a mut dyn FnMut() -> Option<Vec<u8>>,
        hasher: Option<crate::integrity::Hasher>,
        alive: bool,
    }
    impl decode::Sink for Adapter<'_> {
        fn space(&mut self) -> &mut [u8] {
            self.splitter.space()
        }
        fn filled(&mut self, n: usize) -> bool {
            if let Some(h) = &mut self.hasher {
                // The bytes just written, where `space` put them.
                h.update(&self.splitter.space()[..n]);
            }
            if let Some(r) = self.splitter.filled(n) {
                self.alive = (self.send)(Chunk::Records(r));
                // Buffers the consumer is done with come back during a file too: a
                // large file then reuses a few buffers instead of allocating each.
                while let Some(b) = (self.spare)() {
                    self.splitter.give_back(b);
                }
            }
            self.alive
        }
    }
    splitter.reset();
    let mut a = Adapter {
        splitter,
        send,
        spare,
        hasher: hashed.is_some().then(crate::integrity::Hasher::default),
        alive: true,
    };
    let (totals, result) = decode::pump(input, max_decompressed, &mut a);
    if !a.alive {
        return (totals, false);
    }
    let (last, damage) = a.splitter.finish();
    if let Some(r) = last
        && !(a.send)(Chunk::Records(r))
    {
        return (totals, false);
    }
    if let (Some(h), Some(hashed), true) = (a.hasher.take(), hashed, result.is_ok()) {
        hashed(h.finish_hex());
    }
    let alive = (a.send)(Chunk::End {
        error: result.err(),
        damage,
    });
    (totals, alive)
}
