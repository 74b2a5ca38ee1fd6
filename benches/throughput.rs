//! Throughput of each stage and end to end, on the 100,000-record invictus corpus,
//! next to the gunzip floor measured in the same run. Run with `cargo bench --bench
//! throughput`; compare times within one run (the machine is shared and noisy).

mod common;
#[path = "../tests/common/moto.rs"]
mod moto;

use std::io::Read;

use cloudtrail::event;
use cloudtrail::json::tape::{Indexer, TapeIndex};
use cloudtrail::scan::{Item, Scanner};
use common::{RULE_FIELDS, abi, corpus};
use divan::counter::{BytesCount, ItemsCount};
use divan::{Bencher, black_box};

fn main() {
    divan::main();
}

fn counters<'a, 'b>(b: Bencher<'a, 'b>) -> Bencher<'a, 'b> {
    let c = corpus();
    b.counter(BytesCount::new(c.json.len()))
        .counter(ItemsCount::new(c.records.len()))
}

/// The floor: decompressing the .gz with flate2 (zlib-rs backend, what the plugin uses).
#[divan::bench(sample_count = 15, sample_size = 1)]
fn gunzip_flate2_zlib_rs(b: Bencher) {
    let gz = &corpus().gz;
    counters(b).bench(|| {
        let mut d = flate2::read::MultiGzDecoder::new(&gz[..]);
        let mut buf = vec![0u8; 256 << 10];
        let mut n = 0;
        loop {
            let k = d.read(&mut buf).unwrap();
            if k == 0 {
                break;
            }
            n += k;
        }
        black_box(n)
    });
}

/// The other pure-Rust backend flate2 offers, for the backend choice.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn gunzip_miniz_oxide(b: Bencher) {
    let gz = &corpus().gz;
    // A single-member gzip with a plain 10-byte header (flate2 writes no options).
    assert_eq!(&gz[..4], &[0x1f, 0x8b, 8, 0]);
    let deflate = &gz[10..gz.len() - 8];
    counters(b).bench(|| {
        use miniz_oxide::inflate::stream::{InflateState, inflate};
        use miniz_oxide::{DataFormat, MZFlush};
        let mut st = InflateState::new_boxed(DataFormat::Raw);
        let mut buf = vec![0u8; 256 << 10];
        let mut input = deflate;
        let mut n = 0;
        loop {
            let r = inflate(&mut st, input, &mut buf, MZFlush::None);
            input = &input[r.bytes_consumed..];
            n += r.bytes_written;
            if r.status.is_err() || matches!(r.status, Ok(miniz_oxide::MZStatus::StreamEnd)) {
                break;
            }
        }
        black_box(n)
    });
}

/// What log file validation adds per file: one SHA-256 pass over the decompressed
/// bytes (as the reader hashes them, in the pieces it decompresses).
#[divan::bench(sample_count = 5, sample_size = 1)]
fn sha256_for_validation(b: Bencher) {
    let json = &corpus().json;
    counters(b).bench(|| {
        let mut h = cloudtrail::integrity::Hasher::default();
        for piece in json.chunks(64 << 10) {
            h.update(piece);
        }
        black_box(h.finish_hex())
    });
}

/// The record scanner alone, over the decompressed bytes.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn scan(b: Bencher) {
    let json = &corpus().json;
    counters(b).bench(|| {
        let mut sc = Scanner::new();
        let mut n = 0;
        while let Some(item) = sc.next(json) {
            if let Item::Record { .. } = item {
                n += 1;
            }
        }
        assert_eq!(n, common::RECORDS);
        n
    });
}

/// One simd-json tape (with value offsets) per record.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn tape_build(b: Bencher) {
    let recs = &corpus().records;
    counters(b).bench(|| {
        let mut ix = Indexer::default();
        let mut t = TapeIndex::default();
        let mut nodes = 0;
        for r in recs {
            ix.build(r, &mut t).unwrap();
            nodes += t.node_count();
        }
        nodes
    });
}

fn encoded_events() -> Vec<Vec<u8>> {
    corpus()
        .records
        .iter()
        .map(|r| {
            let mut v = Vec::new();
            event::encode(&mut v, 0, r);
            v
        })
        .collect()
}

/// Eight rule fields per event through `plugin_extract_fields`, one call per field,
/// on events the plugin has not seen (so each costs its tape build plus lookups).
#[divan::bench(sample_count = 5, sample_size = 1)]
fn extract_8_fields(b: Bencher) {
    extract_fields(b, &RULE_FIELDS);
}

/// All 73 fields per event, same way.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn extract_all_73_fields(b: Bencher) {
    let names: Vec<&str> = cloudtrail::fields::FIELDS.iter().map(|d| d.name).collect();
    extract_fields(b, &names);
}

fn extract_fields(b: Bencher, names: &[&str]) {
    let evs = encoded_events();
    let ids = abi::field_ids(names);
    counters(b).bench(|| {
        let p = abi::Plugin::new();
        let mut n = 0;
        for (i, e) in evs.iter().enumerate() {
            // SAFETY: complete events.
            n += unsafe { abi::extract_each(&p, i as u64 + 1, e.as_ptr().cast(), &ids) };
        }
        n
    });
}

/// open → every batch → the eight rule fields per event, from the plain file.
#[divan::bench(sample_count = 15, sample_size = 1)]
fn end_to_end_json(b: Bencher) {
    let path = corpus().json_path.to_str().unwrap();
    let ids = abi::field_ids(&RULE_FIELDS);
    counters(b).bench(|| assert_eq!(abi::drain(path, &ids), common::RECORDS as u64));
}

/// open → every batch → the eight rule fields per event, from the .json.gz.
#[divan::bench(sample_count = 15, sample_size = 1)]
fn end_to_end_gz(b: Bencher) {
    let path = corpus().gz_path.to_str().unwrap();
    let ids = abi::field_ids(&RULE_FIELDS);
    counters(b).bench(|| assert_eq!(abi::drain(path, &ids), common::RECORDS as u64));
}

/// The same .json.gz as an object on the local S3 emulator (moto): what listing,
/// signed GETs and streaming the download add to reading the local file.
#[divan::bench(sample_count = 3, sample_size = 1)]
fn end_to_end_s3_gz(b: Bencher) {
    static UPLOADED: std::sync::Once = std::sync::Once::new();
    let m = moto::moto();
    UPLOADED.call_once(|| {
        m.create_bucket("bench");
        m.put("bench", "logs/invictus-100k.json.gz", &corpus().gz);
    });
    let cfg = format!("{{{}}}", m.aws_config());
    let ids = abi::field_ids(&RULE_FIELDS);
    counters(b).bench(|| {
        assert_eq!(
            abi::drain_with(&cfg, "s3://bench/logs/", &ids),
            common::RECORDS as u64
        )
    });
}

/// simd-json alone (no offsets), to see what the index adds.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn tape_simd_json_only(b: Bencher) {
    let recs = &corpus().records;
    counters(b).bench(|| {
        let mut buffers = simd_json::Buffers::new(1 << 16);
        let mut scratch = Vec::new();
        let mut tape = simd_json::Tape(Vec::new());
        let mut nodes = 0;
        for r in recs {
            scratch.clear();
            scratch.extend_from_slice(r);
            scratch.resize(r.len() + simd_json::INPUT_PADDING, b' ');
            let mut t = std::mem::replace(&mut tape, simd_json::Tape(Vec::new())).reset();
            simd_json::fill_tape_padded(&mut scratch, r.len(), &mut buffers, &mut t).unwrap();
            nodes += t.0.len();
            tape = t.reset();
        }
        nodes
    });
}
