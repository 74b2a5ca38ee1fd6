//! The json plugin on a pointer and a payload (input: the pointer, a newline, the
//! payload): every field through the plugin's extractor, then the same pointers
//! through both views of the payload. When simd-json indexes the payload, the tape
//! and the lenient walk must give the same answers (they stand for one fastjson).
#![no_main]

use cloudtrail_json::lazy::LazyView;
use cloudtrail_json::tape::{Indexer, TapeIndex};
use json::extract::value;
use json::pointer::Marks;
use json::{Extractor, Field};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let (pointer, payload) = match input.iter().position(|&b| b == b'\n') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => (&b"/a"[..], input),
    };
    let mut ex = Extractor::default();
    let mut out = Vec::new();
    for field in [Field::Value, Field::Obj, Field::RawTime, Field::Value] {
        let _ = ex.extract(1, 7, payload, field, pointer, &mut out);
    }
    let mut tape = TapeIndex::default();
    if payload.len() > 1 << 16 || Indexer::default().build(payload, &mut tape).is_err() {
        return;
    }
    let tv = tape.view(payload);
    let lv = LazyView::new(payload);
    let (mut tm, mut lm) = (Marks::default(), Marks::default());
    // The pointer, its parent, and the whole payload, in the same order on both.
    let parent = &pointer[..pointer.iter().rposition(|&b| b == b'/').unwrap_or(0)];
    for p in [pointer, parent, b"", pointer] {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let fa = value(&tv, &mut tm, p, &mut a);
        let fb = value(&lv, &mut lm, p, &mut b);
        assert_eq!((fa, &a), (fb, &b), "tape and lenient differ on {p:?}");
    }
});
