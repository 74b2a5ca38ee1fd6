//! Where log bytes come from: local files, S3 objects, SQS-announced objects.
//!
//! Every source runs its I/O and decompression on its own threads and hands the
//! consumer (`next_batch`, on Falco's event thread) a stream of [`Chunk`]s through a
//! bounded channel, so reading overlaps extraction and memory stays bounded.

pub mod decode;
pub mod local;

use std::sync::Arc;
use std::time::Duration;

/// One step of the byte stream.
#[derive(Debug)]
pub enum Chunk {
    /// A file begins; `name` is what errors and logs call it.
    Start { file: u64, name: String },
    /// Decompressed bytes of the current file.
    Data(Vec<u8>),
    /// The current file ended; `error` says why early (its good records were sent).
    End { error: Option<String> },
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
    /// What the consumer side needs to know about the source.
    fn control(&self) -> Arc<dyn Control>;
}

/// The consumer side's handle on a source.
pub trait Control: Send + Sync {
    /// Files known so far, for progress (`None` while still listing).
    fn total_files(&self) -> Option<u64>;
    /// Every event of `file` has reached Falco.
    fn delivered(&self, _file: u64) {}
}

/// A source whose file count is fixed at open.
pub struct FixedCount(pub u64);

impl Control for FixedCount {
    fn total_files(&self) -> Option<u64> {
        Some(self.0)
    }
}
