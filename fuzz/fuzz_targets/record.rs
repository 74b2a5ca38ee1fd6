//! One record through the emission rules, the index (tape or lenient) and every
//! field extraction, as Falco would ask for them, plus `event_to_string`.
#![no_main]

use cloudtrail::event;
use cloudtrail::extract::{Extractor, Request};
use cloudtrail::fields::FIELDS;
use cloudtrail::json::tape::{Indexer, TapeIndex};
use cloudtrail::record;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    let mut indexer = Indexer::default();
    let index = record::index(&mut indexer, payload, Box::new(TapeIndex::default()));
    if let Ok(index) = &index {
        let _ = index.view(payload).timestamp();
    }
    // Extraction runs on any event Falco hands over, emitted or not.
    let mut ev = Vec::new();
    event::encode(&mut ev, 1, payload);
    let mut requests: Vec<Request> = FIELDS
        .iter()
        .map(|d| Request {
            field: d.field,
            index: None,
        })
        .collect();
    for d in FIELDS.iter().filter(|d| d.indexed_list) {
        for i in [0, 1, u64::MAX] {
            requests.push(Request {
                field: d.field,
                index: Some(i),
            });
        }
    }
    let mut ex = Extractor::default();
    if let Ok(index) = index {
        ex.add_event(ev.as_ptr() as usize, Some(index));
        ex.end_batch();
    }
    for (n, r) in requests.iter().enumerate() {
        let _ = ex.extract(1, &ev, std::slice::from_ref(r), true);
        let _ = ex.extract(2 + n as u64, &ev, std::slice::from_ref(r), true);
    }
    let _ = ex.extract(100, &ev, &requests, true);
    let _ = ex.to_string(101, &ev);
});
