//! The compatibility contract: for every corpus file with a golden, the built `.so`
//! (loaded and driven like libsinsp) must emit exactly the golden events — payload,
//! timestamp, `event_to_string` and all 73 fields, one field per extract call.

mod common;

use std::io::BufRead;
use std::path::{Path, PathBuf};

use common::{Extracted, Plugin};
use serde_json::Value;

fn goldens(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            goldens(&p, out);
        } else if p.to_string_lossy().ends_with(".golden.jsonl.gz") {
            out.push(p);
        }
    }
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

#[test]
fn every_golden_event_and_field_matches() {
    let shared = common::shared();
    let mut files = Vec::new();
    goldens(&shared.join("conformance/golden"), &mut files);
    assert!(
        files.len() >= 100,
        "expected the full golden set, found {}",
        files.len()
    );
    let mut mismatches: Vec<String> = Vec::new();
    let (mut n_events, mut n_values) = (0u64, 0u64);
    for golden in &files {
        let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(
            std::fs::File::open(golden).unwrap(),
        ));
        let mut lines = reader
            .lines()
            .map(|l| serde_json::from_str::<Value>(&l.unwrap()).unwrap());
        let head = lines.next().unwrap();
        let source = head["source"].as_str().unwrap().to_string();
        let events: Vec<Value> = lines.collect();
        assert_eq!(events.len() as u64, head["events"].as_u64().unwrap());

        let plugin = Plugin::init("{}").unwrap();
        let path = shared.join("testdata/cloudtrail").join(&source);
        let mut src = plugin.open(path.to_str().unwrap()).unwrap();
        let mut i = 0usize;
        let drained = src.drain(|evtnum, live, ev| {
            let Some(exp) = events.get(i) else {
                i += 1;
                return;
            };
            let at = format!("{source} event {i}");
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
                    Some((n, rest)) => {
                        (n, Some(rest.trim_end_matches(']').parse::<u64>().unwrap()))
                    }
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
            i += 1;
        });
        n_events += i as u64;
        match drained {
            Ok(n) if n as usize == events.len() => {}
            Ok(n) => mismatches.push(format!(
                "{source}: {n} events emitted, golden has {}",
                events.len()
            )),
            Err(e) => mismatches.push(format!("{source}: source failed: {e}")),
        }
    }
    if !mismatches.is_empty() {
        let shown: Vec<_> = mismatches.iter().take(40).cloned().collect();
        panic!(
            "{} mismatches over {} events / {} values (first {} shown):\n{}",
            mismatches.len(),
            n_events,
            n_values,
            shown.len(),
            shown.join("\n")
        );
    }
    eprintln!(
        "conformance: {} files, {n_events} events, {n_values} values, 100% match",
        files.len()
    );
}
