//! The record scanner on arbitrary bytes, whole and split at an arbitrary point:
//! record ranges stay in bounds, in order, start with `{`, and both ways agree; and
//! the portable block masks (the aarch64 path) find the same items and damage as the
//! SSE2 ones.
#![no_main]

use cloudtrail::scan::{Damage, Item, Scanner};
use libfuzzer_sys::fuzz_target;

fn scan_whole(mut sc: Scanner, data: &[u8]) -> (Vec<Item>, Damage) {
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut items = Vec::new();
    while let Some(item) = sc.next(data) {
        items.push(item);
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
    (items, sc.finish())
}

fn records(items: &[Item]) -> Vec<(usize, usize)> {
    items
        .iter()
        .filter_map(|i| match *i {
            Item::Record { start, end } => Some((start, end)),
            Item::Skip(_) => None,
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let (items, damage) = scan_whole(Scanner::new(), data);
    assert!(
        scan_whole(Scanner::portable(), data) == (items.clone(), damage),
        "portable and SIMD blocks disagree"
    );
    let whole = records(&items);
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
