//! A whole file through the reader: gzip detection, (multi-member) inflate with the
//! size guard, and the splitter that hands records on (and takes its buffers back,
//! stale bytes and all, as the preparation thread returns them). Plain bytes take
//! the same path, so seeds may be either.
#![no_main]

use std::cell::RefCell;

use cloudtrail::source::split::Splitter;
use cloudtrail::source::{Chunk, stream_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut splitter = Splitter::default();
    let mut records = 0usize;
    let mut ended = false;
    let spent = RefCell::new(Vec::new());
    let mut send = |c| {
        match c {
            Chunk::Records(r) => {
                records += r.found.len();
                spent.borrow_mut().push(r.buf);
            }
            Chunk::End { .. } => ended = true,
            Chunk::Start { .. } => unreachable!(),
        }
        true
    };
    let mut spare = || spent.borrow_mut().pop();
    let (_, alive) = stream_file(data, 1 << 20, &mut splitter, &mut send, &mut spare, None);
    assert!(alive && ended);
    let _ = records;
});
