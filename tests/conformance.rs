//! The compatibility contract: for every corpus file with a golden, the built `.so`
//! (loaded and driven like libsinsp) must emit exactly the golden events — payload,
//! timestamp, `event_to_string` and all 73 fields, one field per extract call.

mod common;

use common::Plugin;
use common::golden;

#[test]
fn every_golden_event_and_field_matches() {
    let shared = common::shared();
    let mut files = Vec::new();
    golden::files(&shared.join("conformance/golden"), &mut files);
    assert!(
        files.len() >= 100,
        "expected the full golden set, found {}",
        files.len()
    );
    let mut mismatches: Vec<String> = Vec::new();
    let (mut n_events, mut n_values) = (0u64, 0u64);
    for file in &files {
        let (head, events) = golden::read(file);
        let source = head["source"].as_str().unwrap().to_string();
        let plugin = Plugin::init("{}").unwrap();
        let path = shared.join("testdata/cloudtrail").join(&source);
        let mut src = plugin.open(path.to_str().unwrap()).unwrap();
        let mut i = 0usize;
        let drained = src.drain(|evtnum, live, ev| {
            if let Some(exp) = events.get(i) {
                let at = format!("{source} event {i}");
                n_values +=
                    golden::check_event(&plugin, evtnum, live, ev, exp, &at, &mut mismatches);
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
    golden::assert_none(&mismatches, n_events, n_values);
    eprintln!(
        "conformance: {} files, {n_events} events, {n_values} values, 100% match",
        files.len()
    );
}
