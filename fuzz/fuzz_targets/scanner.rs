//! The record scanner on arbitrary bytes, whole and split at an arbitrary point:
//! record ranges stay in bounds, in order, start with `{`, and both ways agree.
#![no_main]

use cloudtrail::scan::{Item, Scanner};
use libfuzzer_sys::fuzz_target;

fn scan_whole(data: &[u8]) -> Vec<(usize, usize)> {
    let mut sc = Scanner::new();
    let mut out = Vec::new();
    while let Some(item) = sc.next(data) {
        if let Item::Record { start, end } = item {
            assert!(start < end && end <= data.len(), "{start}..{end}");
            assert_eq!(data[start], b'{');
            assert_eq!(data[end - 1], b'}');
            if let Some(&(_, last)) = out.last() {
                assert!(start >= last);
            }
            out.push((start, end));
        }
    }
    sc.finish();
    out
}

fuzz_target!(|data: &[u8]| {
    let whole = scan_whole(data);
    // The same bytes arriving in two pieces (as from a stream).
    if data.len() > 1 {
        let cut = data[0] as usize % data.len();
        let mut sc = Scanner::new();
        let mut split = Vec::new();
        let mut seen = 0;
        for n in [cut, data.len()] {
            while let Some(item) = sc.next(&data[..n]) {
                if let Item::Record { start, end } = item {
                    split.push((start, end));
                }
            }
            seen = n;
        }
        assert_eq!(seen, data.len());
        sc.finish();
        assert_eq!(whole, split);
    }
});
