//! The conformance goldens: reading them, and checking one event against its line
//! (payload, timestamp, `event_to_string`, every field and its value offsets).

use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Event, Extracted, Plugin};

/// Every golden file under `dir` (the cloudtrail goldens or the json plugin's), in
/// path order.
pub fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else if p.to_string_lossy().ends_with("golden.jsonl.gz") {
            out.push(p);
        }
    }
}

/// A golden file: its head line and one value per event.
pub fn read(golden: &Path) -> (Value, Vec<Value>) {
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(
        std::fs::File::open(golden).unwrap(),
    ));
    let mut lines = reader
        .lines()
        .map(|l| serde_json::from_str::<Value>(&l.unwrap()).unwrap());
    let head = lines.next().unwrap();
    let events: Vec<Value> = lines.collect();
    if let Some(n) = head["events"].as_u64() {
        assert_eq!(events.len() as u64, n);
    }
    (head, events)
}

fn expected(v: &Value) -> Extracted {
    match v {
        Value::Null => Extracted::Str(vec![]),
        Value::String(s) => Extracted::Str(vec![s.clone()]),
        Value::Number(n) => Extracted::U64(vec![n.as_u64().unwrap()]),
        Value::Array(a) => {
            Extracted::Str(a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        }
        other => panic!("unexpected golden value {other}"),
    }
}

fn same(a: &Extracted, b: &Extracted) -> bool {
    match (a, b) {
        (Extracted::Str(x), Extracted::Str(y)) => x == y,
        (Extracted::U64(x), Extracted::U64(y)) => x == y,
        // "No value" has no type.
        (Extracted::Str(x), Extracted::U64(y)) | (Extracted::U64(y), Extracted::Str(x)) => {
            x.is_empty() && y.is_empty()
        }
    }
}

/// Fields whose values are computed, not copied from the record: offset (0,0).
const DERIVED: [&str; 6] = [
    "ct.info",
    "s3.uri",
    "s3.bytes",
    "s3.cnt.get",
    "s3.cnt.put",
    "s3.cnt.other",
];

/// Compares one live event (`live`: the bytes the plugin handed out) with its golden
/// line, extracting every field one per call as libsinsp does; appends what differs
/// to `mismatches` (prefixed with `at`) and returns how many values were compared.
pub fn check_event(
    plugin: &Plugin,
    evtnum: u64,
    live: &[u8],
    ev: &Event,
    exp: &Value,
    at: &str,
    mismatches: &mut Vec<String>,
) -> u64 {
    let mut n_values = 0;
    if ev.payload != exp["payload"].as_str().unwrap().as_bytes() {
        mismatches.push(format!("{at}: payload differs"));
    }
    if ev.ts != exp["ts"].as_u64().unwrap() {
        mismatches.push(format!("{at}: ts {} != {}", ev.ts, exp["ts"]));
    }
    let s = plugin.to_string(evtnum, live).unwrap_or_default();
    if s != exp["str"].as_str().unwrap() {
        mismatches.push(format!(
            "{at}: event_to_string\n   expected {:?}\n   actual   {:?}",
            exp["str"].as_str().unwrap(),
            s
        ));
    }
    for (key, want) in exp["fields"].as_object().unwrap() {
        let (name, index) = match key.split_once('[') {
            Some((n, rest)) => (n, Some(rest.trim_end_matches(']').parse::<u64>().unwrap())),
            None => (key.as_str(), None),
        };
        let (got, spans) = match plugin.extract(evtnum, live, name, index) {
            Ok(v) => v,
            Err(rc) => {
                mismatches.push(format!("{at}: {key}: extract failed with rc {rc}"));
                continue;
            }
        };
        n_values += 1;
        let want = expected(want);
        if !same(&got, &want) {
            mismatches.push(format!(
                "{at}: {key}\n   expected {want:?}\n   actual   {got:?}"
            ));
        }
        for &(start, len) in &spans {
            let in_bounds = if len == 0 {
                start == 0
            } else {
                start >= 38
                    && (start + len) as usize <= live.len()
                    && matches!(
                        live[start as usize],
                        b'"' | b'{' | b'[' | b't' | b'f' | b'n' | b'-' | b'0'..=b'9'
                    )
            };
            if !in_bounds {
                mismatches.push(format!("{at}: {key}: bad value offset ({start},{len})"));
            }
        }
        if DERIVED.contains(&name) && spans.iter().any(|&s| s != (0, 0)) {
            mismatches.push(format!(
                "{at}: {key}: a derived value must report offset (0,0)"
            ));
        }
    }
    n_values
}

/// Fails with the first mismatches, if any.
pub fn assert_none(mismatches: &[String], events: u64, values: u64) {
    if mismatches.is_empty() {
        return;
    }
    let shown: Vec<_> = mismatches.iter().take(40).cloned().collect();
    panic!(
        "{} mismatches over {events} events / {values} values (first {} shown):\n{}",
        mismatches.len(),
        shown.len(),
        shown.join("\n")
    );
}
