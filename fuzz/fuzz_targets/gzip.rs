//! A whole file through the reader: gzip detection, (multi-member) inflate with the
//! size guard, and the splitter that hands records on. Plain bytes take the same
//! path, so seeds may be either.
#![no_main]

use cloudtrail::source::split::Splitter;
use cloudtrail::source::{Chunk, stream_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut splitter = Splitter::default();
    let mut records = 0usize;
    let mut ended = false;
    let (_, alive) = stream_file(data, 1 << 20, &mut splitter, &mut |c| {
        match c {
            Chunk::Records(r) => records += r.found.len(),
            Chunk::End { .. } => ended = true,
            Chunk::Start { .. } => unreachable!(),
        }
        true
    });
    assert!(alive && ended);
    let _ = records;
});
