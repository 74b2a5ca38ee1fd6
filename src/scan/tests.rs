use super::*;

#[derive(Debug, PartialEq)]
enum Out {
    R(String),
    S(Skip),
}

fn to_out(buf: &[u8], item: Item) -> Out {
    match item {
        Item::Record { start, end } => {
            Out::R(String::from_utf8_lossy(&buf[start..end]).into_owned())
        }
        Item::Skip(s) => Out::S(s),
    }
}

/// Feeds `input` in chunks of `chunk` bytes, dropping what the scanner no longer
/// needs after every step, as the real reader does.
fn scan_chunked(input: &[u8], chunk: usize, limit: usize) -> (Vec<Out>, Damage) {
    scan_with(Scanner::with_limit(limit), input, chunk)
}

fn scan_with(mut sc: Scanner, input: &[u8], chunk: usize) -> (Vec<Out>, Damage) {
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for part in input.chunks(chunk.max(1)) {
        buf.extend_from_slice(part);
        while let Some(item) = sc.next(&buf) {
            out.push(to_out(&buf, item));
        }
        let keep = sc.keep_from();
        buf.drain(..keep);
        sc.shift(keep);
    }
    (out, sc.finish())
}

/// Scans with several chunkings and checks they agree.
fn scan(input: &str) -> (Vec<Out>, Damage) {
    let whole = scan_chunked(input.as_bytes(), usize::MAX, MAX_RECORD);
    for chunk in [1, 2, 3, 7, 64] {
        let other = scan_chunked(input.as_bytes(), chunk, MAX_RECORD);
        assert_eq!(other, whole, "chunk size {chunk} disagrees on {input}");
    }
    whole
}

fn records(input: &str) -> Vec<String> {
    scan(input)
        .0
        .into_iter()
        .filter_map(|o| match o {
            Out::R(r) => Some(r),
            Out::S(_) => None,
        })
        .collect()
}

#[test]
fn records_file_with_braces_and_escapes_in_strings() {
    let input = r#"{"Records":[{"a":"}{","b":"\"}"},
        {"c":"\\","d":{"e":"{literal}"},"f":[{"g":1},[2]]}, {"h":"x\\\"}y"}]}"#;
    assert_eq!(
        records(input),
        [
            r#"{"a":"}{","b":"\"}"}"#,
            r#"{"c":"\\","d":{"e":"{literal}"},"f":[{"g":1},[2]]}"#,
            r#"{"h":"x\\\"}y"}"#,
        ]
    );
    assert_eq!(scan(input).1, Damage::default());
}

#[test]
fn whitespace_inside_records_is_kept() {
    let input = "{\n  \"Records\": [\n    {\n      \"a\": 1\n    },\n    {\"b\":2}\n  ]\n}\n";
    assert_eq!(records(input), ["{\n      \"a\": 1\n    }", "{\"b\":2}"]);
}

#[test]
fn empty_records_and_empty_input() {
    assert!(scan(r#"{"Records":[]}"#).0.is_empty());
    assert!(scan("").0.is_empty());
    assert_eq!(scan("  \n").1, Damage::default());
}

#[test]
fn unterminated_trailing_record_is_not_emitted() {
    let (out, damage) = scan(r#"{"Records":[{"a":1},{"b":"#);
    assert_eq!(out, [Out::R(r#"{"a":1}"#.into())]);
    assert!(damage.truncated);
    let (out, damage) = scan(r#"{"Records":[{"a":1},{"b":"unterminated"#);
    assert_eq!(out.len(), 1);
    assert!(damage.truncated);
}

#[test]
fn upstream_depth1_rule_inside_records_files() {
    // Any depth-1 object is a record, wherever it sits (upstream's splitter).
    assert_eq!(
        records(r#"{"Records":[{"a":1}],"meta":{"m":2},"more":[[{"n":3}]]}"#),
        [r#"{"a":1}"#, r#"{"m":2}"#, r#"{"n":3}"#]
    );
    // Objects before the Records key are emitted too, in order.
    assert_eq!(
        records(r#"{"first":{"x":0},"Records":[{"a":1},{"b":2}]}"#),
        [r#"{"x":0}"#, r#"{"a":1}"#, r#"{"b":2}"#]
    );
}

#[test]
fn non_object_elements_are_counted() {
    let (out, _) = scan(r#"{"Records":[1,{"a":1},"s",null,[2],{"b":2}],"other":[3,"t"]}"#);
    assert_eq!(
        out,
        [
            Out::S(Skip::NotAnObject),
            Out::R(r#"{"a":1}"#.into()),
            Out::S(Skip::NotAnObject),
            Out::S(Skip::NotAnObject),
            Out::R(r#"{"b":2}"#.into()),
        ]
    );
    let (out, _) = scan(r#"[1, {"a":1}, "x\"]", [ {"n":1}, "]" ], true, {"b":2}]"#);
    assert_eq!(
        out,
        [
            Out::S(Skip::NotAnObject),
            Out::R(r#"{"a":1}"#.into()),
            Out::S(Skip::NotAnObject),
            Out::S(Skip::NotAnObject),
            Out::S(Skip::NotAnObject),
            Out::R(r#"{"b":2}"#.into()),
        ]
    );
}

#[test]
fn other_formats() {
    // JSON lines.
    assert_eq!(
        records("{\"a\":{\"x\":1}}\n{\"b\":2}\r\n\n{\"c\":\"}\"}\n"),
        ["{\"a\":{\"x\":1}}", "{\"b\":2}", "{\"c\":\"}\"}"]
    );
    // A top-level array.
    assert_eq!(
        records(r#"[ {"a":{"x":[1]}} , {"b":2} ]"#),
        [r#"{"a":{"x":[1]}}"#, r#"{"b":2}"#]
    );
    // A single event, and concatenated events.
    assert_eq!(
        records(r#"{"eventTime":"t","x":{"y":1}}"#),
        [r#"{"eventTime":"t","x":{"y":1}}"#]
    );
    assert_eq!(
        records(r#"{"a":1}{"b":2},{"c":3}"#),
        [r#"{"a":1}"#, r#"{"b":2}"#, r#"{"c":3}"#]
    );
    // Several Records files concatenated.
    assert_eq!(
        records(r#"{"Records":[{"a":1}]}{"Records":[{"b":2}]}"#),
        [r#"{"a":1}"#, r#"{"b":2}"#]
    );
    // A key that merely starts like Records is not the Records key.
    assert_eq!(
        records(r#"{"RecordsX":[{"a":1}]}"#),
        [r#"{"RecordsX":[{"a":1}]}"#]
    );
    assert_eq!(
        records(r#"{"Record":[{"a":1}]}"#),
        [r#"{"Record":[{"a":1}]}"#]
    );
}

#[test]
fn bom_and_stray_bytes() {
    assert_eq!(records("\u{feff}{\"Records\":[{\"a\":1}]}"), [r#"{"a":1}"#]);
    let (out, damage) = scan(r#"<html>{"a":1}</html> }"#);
    assert_eq!(out, [Out::R(r#"{"a":1}"#.into())]);
    assert_eq!(damage.first_stray_at, Some(0));
    assert_eq!(damage.stray_bytes, 14);
    assert!(!damage.truncated);
}

#[test]
fn records_over_the_limit_are_skipped() {
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(100));
    let input = format!(r#"{{"Records":[{{"a":1}},{big},{{"b":2}}]}}"#);
    for chunk in [1, 5, 1000] {
        let (out, _) = scan_chunked(input.as_bytes(), chunk, 50);
        assert_eq!(
            out,
            [
                Out::R(r#"{"a":1}"#.into()),
                Out::S(Skip::TooLarge),
                Out::R(r#"{"b":2}"#.into())
            ]
        );
    }
    // A whole-object record over the limit.
    let input = format!("{{\"a\":1}}\n{big}\n{{\"b\":2}}");
    let (out, _) = scan_chunked(input.as_bytes(), 3, 50);
    assert_eq!(
        out,
        [
            Out::R(r#"{"a":1}"#.into()),
            Out::S(Skip::TooLarge),
            Out::R(r#"{"b":2}"#.into())
        ]
    );
}

#[test]
fn memory_stays_bounded_while_skipping() {
    // A 10 MB record under a 1 KB limit: the buffer never holds much of it.
    let mut sc = Scanner::with_limit(1024);
    let mut buf = br#"{"Records":[{"big":""#.to_vec();
    let mut max_buf = 0;
    let mut items = Vec::new();
    for i in 0..10_000 {
        buf.extend_from_slice(&[b'y'; 1000]);
        if i == 9_999 {
            buf.extend_from_slice(br#""},{"ok":1}]}"#);
        }
        while let Some(item) = sc.next(&buf) {
            items.push(item);
        }
        let keep = sc.keep_from();
        buf.drain(..keep);
        sc.shift(keep);
        max_buf = max_buf.max(buf.len());
    }
    assert!(max_buf < 4096, "buffer grew to {max_buf}");
    assert_eq!(items.len(), 2);
    assert_eq!(items[0], Item::Skip(Skip::TooLarge));
}

/// Found by the fuzzer: a record full of escaped quotes and a stray byte gave other
/// records when split in two than when whole. Every cut point must agree.
#[test]
fn every_split_point_agrees_on_fuzzer_input() {
    let input = include_bytes!("../../testdata/fuzz/scanner-split-disagreement.bin");
    let whole = scan_chunked(input, usize::MAX, MAX_RECORD);
    for cut in 1..input.len() {
        let mut sc = Scanner::new();
        let mut out = Vec::new();
        for n in [cut, input.len()] {
            while let Some(item) = sc.next(&input[..n]) {
                out.push(to_out(input, item));
            }
        }
        assert_eq!(out, whole.0, "cut at {cut}");
    }
}

/// Random bytes from JSON's structural alphabet (backslashes outside strings included,
/// so the block path's fallback runs): every chunking gives the same items.
#[test]
fn chunkings_agree_on_random_structural_bytes() {
    let alphabet = b"\"\\{}[]ab :,\n";
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..3000 {
        let len = 1 + (next() % 400) as usize;
        let mut input = vec![b'['];
        input.extend((0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]));
        let whole = scan_chunked(&input, usize::MAX, MAX_RECORD);
        let chunk = 1 + (next() % 97) as usize;
        let other = scan_chunked(&input, chunk, MAX_RECORD);
        assert_eq!(
            other,
            whole,
            "chunk {chunk}: {}",
            String::from_utf8_lossy(&input)
        );
    }
}

/// Scans `input` with the SSE2 blocks and with the portable ones (the aarch64 path),
/// whole and in `chunk`-byte pieces, and checks all four agree.
fn portable_agrees(input: &[u8], chunk: usize, what: &dyn std::fmt::Display) -> usize {
    let simd = scan_with(Scanner::new(), input, usize::MAX);
    for (name, sc, step) in [
        ("portable", Scanner::portable(), usize::MAX),
        ("SSE2 chunked", Scanner::new(), chunk),
        ("portable chunked", Scanner::portable(), chunk),
    ] {
        assert!(
            scan_with(sc, input, step) == simd,
            "{name} scan disagrees on {what}"
        );
    }
    simd.0.len()
}

/// Every file of the shared corpus (gzip or not) scans to the same items through
/// both mask paths: what arm64 hosts run is checked on every x86_64 CI run.
#[test]
fn portable_and_simd_blocks_agree_on_the_corpus() {
    use std::io::Read;
    fn walk(dir: &std::path::Path, files: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).expect("corpus folder").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, files);
            } else if p
                .extension()
                .is_some_and(|x| x == "gz" || x == "json" || x == "jsonl")
            {
                files.push(p);
            }
        }
    }
    let root =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata/cloudtrail");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    assert!(files.len() > 100, "corpus missing under {}", root.display());
    let (mut bytes, mut records) = (0, 0);
    for (i, f) in files.iter().enumerate() {
        let raw = std::fs::read(f).unwrap();
        let mut data = Vec::new();
        if raw.starts_with(&[0x1f, 0x8b]) {
            flate2::read::MultiGzDecoder::new(&raw[..])
                .read_to_end(&mut data)
                .unwrap();
        } else {
            data = raw;
        }
        bytes += data.len();
        records += portable_agrees(&data, 4093 + 97 * i, &f.display());
    }
    assert!(records > 4000, "{records} records in {bytes} bytes");
}

/// Random records long enough for the block path (several blocks inside one
/// record, strings and escapes crossing block edges): both mask paths agree.
#[test]
fn portable_and_simd_blocks_agree_on_random_records() {
    let alphabet = b"\"\\{}[]abcdefgh :,\n\x00\xff";
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..3000 {
        let mut input = b"{\"Records\":[{\"a\":\"".to_vec();
        let len = 64 + (next() % 700) as usize;
        input.extend((0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]));
        input.extend_from_slice(b"\"}]}");
        let chunk = 1 + (next() % 200) as usize;
        portable_agrees(
            &input,
            chunk,
            &format!("round {round}: {}", String::from_utf8_lossy(&input)),
        );
    }
}
