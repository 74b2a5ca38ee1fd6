//! Where log bytes come from: local files, S3 objects, SQS-announced objects.
//!
//! Every source runs its I/O and decompression on its own threads and hands the
//! consumer (`next_batch`, on Falco's event thread) a stream of [`Chunk`]s through a
//! bounded channel, so reading overlaps extraction and memory stays bounded.

pub mod decode;
pub mod local;

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

/// A running source.
pub trait Feed: Send {
    /// The next chunk, waiting at most `wait` for it.
    fn recv(&mut self, wait: Duration) -> Recv;
    /// Files known so far, for progress (`None` while still listing).
    fn total_files(&self) -> Option<u64>;
    /// Every event of files up to and including `file` reached Falco.
    fn delivered(&mut self, _file: u64) {}
    /// Stops and joins every thread this source started.
    fn close(&mut self);
}
