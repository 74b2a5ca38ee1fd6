//! What a `json.value` call costs, per call, on the corpus's 4,426 CloudTrail events
//! (the payloads of `../shared/conformance/json/`), next to building this project's
//! tape index of the same payloads in the same run:
//! - `first_value`: the first call on an event (parse + lookup), what every event pays;
//! - `further_value`: another call on the same event (cached parse: lookup only);
//! - `obj`: `json.obj` on each event (parse + Go-style indentation of the payload).
//!
//! Run with `cargo bench -p json-plugin`; compare within one run.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cloudtrail_json::tape::{Indexer, TapeIndex};
use divan::counter::{BytesCount, ItemsCount};
use divan::{Bencher, black_box};
use json::{Extractor, Field};

fn main() {
    divan::main();
}

fn goldens(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            goldens(&p, out);
        } else if p.to_string_lossy().ends_with(".json-golden.jsonl.gz") {
            out.push(p);
        }
    }
}

/// Every event payload of the json goldens.
fn payloads() -> &'static [Vec<u8>] {
    static P: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    P.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/json");
        let mut files = Vec::new();
        goldens(&dir, &mut files);
        files.sort();
        let mut out = Vec::new();
        for f in files {
            let gz = flate2::read::GzDecoder::new(std::fs::File::open(&f).unwrap());
            let r = std::io::BufReader::new(gz);
            for line in r.lines().skip(1) {
                let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
                out.push(v["payload"].as_str().unwrap().as_bytes().to_vec());
            }
        }
        assert!(
            out.len() > 4000,
            "json goldens not found under {}",
            dir.display()
        );
        out
    })
}

fn counters<'a, 'b>(b: Bencher<'a, 'b>) -> Bencher<'a, 'b> {
    let p = payloads();
    b.counter(ItemsCount::new(p.len()))
        .counter(BytesCount::new(p.iter().map(Vec::len).sum::<usize>()))
}

/// The baseline: this project's tape index of each payload (copy + simd-json + nodes).
#[divan::bench(sample_count = 30)]
fn tape_index(b: Bencher) {
    let mut ix = Indexer::default();
    let mut tape = TapeIndex::default();
    counters(b).bench_local(|| {
        for p in payloads() {
            black_box(ix.build(p, &mut tape).is_ok());
        }
    });
}

/// First `json.value[/userIdentity/arn]` on each event: parse + lookup.
#[divan::bench(sample_count = 30)]
fn first_value(b: Bencher) {
    let mut ex = Extractor::default();
    let mut evtnum = 0u64;
    let mut out = Vec::new();
    counters(b).bench_local(|| {
        for p in payloads() {
            evtnum += 1;
            out.clear();
            black_box(ex.extract(evtnum, 1, p, Field::Value, b"/userIdentity/arn", &mut out));
        }
    });
}

/// A further call on an already parsed event (another pointer each time, as rules
/// ask several): lookup only.
#[divan::bench(sample_count = 30)]
fn further_value(b: Bencher) {
    let ps = payloads();
    let mut exs: Vec<Extractor> = ps.iter().map(|_| Extractor::default()).collect();
    let mut out = Vec::new();
    for (i, (ex, p)) in exs.iter_mut().zip(ps).enumerate() {
        ex.extract(i as u64, 1, p, Field::Value, b"/eventName", &mut out);
    }
    const POINTERS: [&[u8]; 4] = [
        b"/eventSource",
        b"/userIdentity/type",
        b"/responseElements/ConsoleLogin",
        b"/requestParameters/bucketName",
    ];
    let mut k = 0;
    b.counter(ItemsCount::new(ps.len())).bench_local(|| {
        k = (k + 1) % POINTERS.len();
        for (i, (ex, p)) in exs.iter_mut().zip(ps).enumerate() {
            out.clear();
            black_box(ex.extract(i as u64, 1, p, Field::Value, POINTERS[k], &mut out));
        }
    });
}

/// `json.obj` on each event (parse + indentation).
#[divan::bench(sample_count = 10)]
fn obj(b: Bencher) {
    let ps = payloads();
    let mut ex = Extractor::default();
    let mut out = Vec::new();
    counters(b).bench_local(|| {
        for (i, p) in ps.iter().enumerate() {
            out.clear();
            black_box(ex.extract(i as u64, 1, p, Field::Obj, b"", &mut out));
        }
    });
}
