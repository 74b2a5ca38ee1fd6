//! Hostile input through the exported C ABI, each with its exact outcome: events
//! emitted, error logged, counter value. (The 4 MiB record, truncated and corrupt
//! gzip, random bytes named `.json.gz`, an HTML page named `.json`, non-object array
//! elements and the empty file are in `local.rs`; forced panics in `lifecycle.rs`.)

mod common;

use std::fs;
use std::path::Path;

use common::files::{event, gz, records_file, tmpdir};
use common::{Extracted, Plugin};

/// Drains `path`: the `ct.id` of every event, in order.
fn ids(p: &Plugin, path: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut src = p.open(path.to_str().unwrap()).unwrap();
    src.drain(
        |n, live, _| match p.extract(n, live, "ct.id", None).unwrap().0 {
            Extracted::Str(v) => out.push(v.first().cloned().unwrap_or_default()),
            other => panic!("{other:?}"),
        },
    )
    .unwrap();
    out
}

fn logged(p: &Plugin, needle: &str) -> usize {
    p.log_lines()
        .iter()
        .filter(|(sev, m)| *sev <= 3 && m.contains(needle))
        .count()
}

#[test]
fn gzip_bomb_stops_at_the_size_guard() {
    let d = tmpdir("bomb");
    // 1 GiB of spaces between two records compresses to about 1 MiB.
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let spaces = vec![b' '; 1 << 20];
    use std::io::Write;
    bomb.write_all(format!("{{\"Records\":[{},", event(1, "")).as_bytes())
        .unwrap();
    for _ in 0..1024 {
        bomb.write_all(&spaces).unwrap();
    }
    bomb.write_all(format!("{}]}}", event(2, "")).as_bytes())
        .unwrap();
    let bomb = bomb.finish().unwrap();
    assert!(bomb.len() < 4 << 20);
    fs::write(d.join("1-bomb.json.gz"), &bomb).unwrap();
    fs::write(d.join("2-next.json"), records_file(&[event(3, "")])).unwrap();
    let p = Plugin::init(r#"{"maxDecompressedBytes":67108864}"#).unwrap();
    assert_eq!(ids(&p, &d), ["id-1", "id-3"]);
    assert_eq!(logged(&p, "1-bomb.json.gz"), 1);
    assert_eq!(logged(&p, "maxDecompressedBytes"), 1);
    assert_eq!(p.metric("files_failed"), 1);
    assert_eq!(p.metric("files_read"), 1);
    assert!(p.metric("bytes_decompressed") <= (64 << 20) + (1 << 20));
}

#[test]
fn deep_nesting_is_skipped_and_counted_without_recursion() {
    let d = tmpdir("deep");
    let depth = 100_000;
    let deep_array = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    fs::write(
        d.join("1.json"),
        records_file(&[
            event(1, ""),
            event(2, &format!(r#","requestParameters":{deep_array}"#)),
            event(3, &format!(r#","responseElements":{deep_object}"#)),
            event(4, ""),
        ]),
    )
    .unwrap();
    // A deep array at top level: a top-level array holds records (D6), so this is
    // one element that is not an object; then a good record.
    fs::write(
        d.join("2.jsonl"),
        format!("{deep_array}\n{}\n", event(5, "")),
    )
    .unwrap();
    // Exactly upstream's limit (300 levels in all) is still emitted.
    let ok = event(
        6,
        &format!(r#","x":{}1{}"#, "[".repeat(298), "]".repeat(298)),
    );
    let too_deep = event(
        7,
        &format!(r#","x":{}1{}"#, "[".repeat(300), "]".repeat(300)),
    );
    fs::write(d.join("3.json"), records_file(&[ok, too_deep])).unwrap();
    let p = Plugin::init("").unwrap();
    assert_eq!(ids(&p, &d), ["id-1", "id-4", "id-5", "id-6"]);
    assert_eq!(p.metric("records_skipped_too_deep"), 3);
    assert_eq!(p.metric("records_skipped_not_an_object"), 1);
}

#[test]
fn nul_bytes_are_handled_as_upstream() {
    let d = tmpdir("nul");
    // A raw NUL inside a string (fastjson accepts raw control characters), and an
    // escaped one, which truncates the C string Falco sees.
    let raw = event(1, r#","requestParameters":{"k":"a_b"}"#).replace("a_b", "a\0b");
    let escaped = event(2, "").replace(r#""userName":"u2""#, r#""userName":"ab\u0000cd""#);
    fs::write(d.join("f.json"), records_file(&[raw.clone(), escaped])).unwrap();
    let p = Plugin::init("").unwrap();
    let mut src = p.open(d.to_str().unwrap()).unwrap();
    let mut users = Vec::new();
    let mut payloads = Vec::new();
    src.drain(|n, live, ev| {
        payloads.push(ev.payload.clone());
        users.push(p.extract(n, live, "ct.user", None).unwrap().0);
        let request = p.extract(n, live, "ct.request", None).unwrap().0;
        if n == 1 {
            assert_eq!(request, Extracted::Str(vec!["{\"k\":\"a".into()]));
        }
    })
    .unwrap();
    assert_eq!(payloads[0], raw.as_bytes(), "payload kept byte for byte");
    assert_eq!(
        users,
        [
            Extracted::Str(vec!["u1".into()]),
            Extracted::Str(vec!["ab".into()])
        ]
    );
}

#[test]
fn invalid_utf8_is_emitted_and_extracted() {
    let d = tmpdir("utf8");
    let mut rec = event(1, "").into_bytes();
    let at = rec.windows(4).position(|w| w == b"\"u1\"").unwrap() + 2;
    rec.splice(at..at, [0xff, 0xfe, b'x']);
    let mut file = b"{\"Records\":[".to_vec();
    file.extend_from_slice(&rec);
    file.push(b',');
    file.extend_from_slice(event(2, "").as_bytes());
    file.extend_from_slice(b"]}");
    fs::write(d.join("f.json"), &file).unwrap();
    let p = Plugin::init("").unwrap();
    let mut src = p.open(d.to_str().unwrap()).unwrap();
    let mut seen = Vec::new();
    src.drain(|n, live, ev| {
        let user = p.extract(n, live, "ct.user", None).unwrap().0;
        seen.push((ev.payload.clone(), user));
        assert!(p.to_string(n, live).is_some());
    })
    .unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].0, rec, "payload kept byte for byte");
    assert_eq!(
        seen[0].1,
        Extracted::Str(vec![String::from_utf8_lossy(b"u\xff\xfex1").into_owned()])
    );
    assert_eq!(seen[1].1, Extracted::Str(vec!["u2".into()]));
}

#[test]
fn two_hundred_thousand_tiny_records() {
    let d = tmpdir("tiny");
    let n = 200_000;
    let recs: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"eventTime":"2024-01-01T00:00:00Z","eventType":"AwsApiCall","eventID":"{i}"}}"#
            )
        })
        .collect();
    fs::write(d.join("f.json.gz"), gz(records_file(&recs).as_bytes())).unwrap();
    let p = Plugin::init("").unwrap();
    let got = ids(&p, &d);
    assert_eq!(got.len(), n);
    assert!(got.iter().enumerate().all(|(i, id)| *id == i.to_string()));
    assert_eq!(p.metric("events"), n as u64);
    assert_eq!(p.metric("files_read"), 1);
}
