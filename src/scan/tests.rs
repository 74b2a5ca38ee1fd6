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
    let mut sc = Scanner::with_limit(limit);
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
