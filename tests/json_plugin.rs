//! The `json` plugin's contract: for every event the cloudtrail plugin emits from the
//! corpus, the built `libjson.so` (loaded and driven like libsinsp: one field per
//! call, field id = table index, the bracket argument as `arg_key`) answers the 71
//! requests of `../shared/conformance/json/` exactly as upstream json 0.7.4 did.

mod common;

use common::json_host::{JsonLib, JsonPlugin};
use common::{Plugin, golden};

/// A plugin event (type 322) around `payload`, as the cloudtrail plugin lays it out.
fn plugin_event(ts: u64, payload: &[u8]) -> Vec<u8> {
    let mut ev = Vec::new();
    cloudtrail::event::encode(&mut ev, ts, payload);
    ev
}

#[test]
fn every_json_request_on_every_corpus_event_matches_upstream() {
    let shared = common::shared();
    let mut files = Vec::new();
    golden::files(&shared.join("conformance/json"), &mut files);
    assert!(
        files.len() >= 100,
        "expected the full json golden set, found {}",
        files.len()
    );
    let json = JsonPlugin::init(r#"{"useAsync":false}"#);
    let mut mismatches: Vec<String> = Vec::new();
    let (mut n_events, mut n_values, mut n_some) = (0u64, 0u64, 0u64);
    // libsinsp numbers events per inspector: one count across all files, since the
    // plugin keys its cache on the number.
    let mut seq = 0u64;
    for file in &files {
        let (head, events) = golden::read(file);
        let source = head["source"].as_str().unwrap().to_string();
        let requests: Vec<String> = head["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect();
        assert_eq!(requests.len(), 71, "{source}");
        let cloudtrail = Plugin::init("{}").unwrap();
        let path = shared.join("testdata/cloudtrail").join(&source);
        let mut src = cloudtrail.open(path.to_str().unwrap()).unwrap();
        let mut i = 0usize;
        let drained = src.drain(|_, live, _| {
            seq += 1;
            let evtnum = seq;
            let Some(exp) = events.get(i) else {
                i += 1;
                return;
            };
            let at = format!("{source} event {i}");
            let ts = u64::from_le_bytes(live[..8].try_into().unwrap());
            if exp["ts"].as_u64() != Some(ts)
                || exp["payload"].as_str().map(str::as_bytes) != Some(&live[38..])
            {
                mismatches.push(format!(
                    "{at}: the cloudtrail event differs from the golden's"
                ));
            }
            for req in &requests {
                let got = json.extract(evtnum, live, req);
                let want = exp["fields"][req.as_str()].as_str().map(str::to_string);
                n_values += 1;
                n_some += want.is_some() as u64;
                if got != Ok(want.clone()) {
                    mismatches.push(format!("{at}: {req}: expected {want:?}, got {got:?}"));
                }
            }
            i += 1;
        });
        n_events += i as u64;
        match drained {
            Ok(n) if n as usize == events.len() => {}
            Ok(n) => mismatches.push(format!("{source}: {n} events, golden has {}", events.len())),
            Err(e) => mismatches.push(format!("{source}: source failed: {e}")),
        }
    }
    if !mismatches.is_empty() {
        let shown: Vec<&String> = mismatches.iter().take(30).collect();
        panic!(
            "{} mismatches of {n_values} values; first: {shown:#?}",
            mismatches.len()
        );
    }
    assert_eq!(n_events, 4426, "the corpus has 4,426 events");
    assert_eq!(
        json.metric("events_parsed"),
        n_events,
        "one parse per event"
    );
    assert_eq!(json.metric("events_not_json"), 0);
    eprintln!(
        "json plugin: {} files, {n_events} events, {n_values} values ({n_some} with a value), 100% match",
        files.len()
    );
}

#[test]
fn loads_where_upstream_json_loads() {
    let lib = JsonLib::load();
    // Falco loads a plugin whose required API has major 3 and a minor the host has.
    assert_eq!(lib.required_api_version, "3.0.0");
    // required_plugin_versions `json 0.7.0`: same major, not older.
    let v: Vec<u64> = lib.version.split('.').map(|p| p.parse().unwrap()).collect();
    assert_eq!(v.len(), 3);
    assert!(
        v[0] == 0 && (v[1], v[2]) >= (7, 0),
        "version {}",
        lib.version
    );
    let table: Vec<(String, String, bool)> = lib
        .fields
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["type"].as_str().unwrap().to_string(),
                f["arg"]["isKey"].as_bool().unwrap(),
            )
        })
        .collect();
    let want = [
        ("json.value", true),
        ("json.obj", false),
        ("json.rawtime", false),
        ("jevt.value", true),
        ("jevt.obj", false),
        ("jevt.rawtime", false),
    ];
    assert_eq!(table.len(), 6);
    for ((name, ty, key), (wname, wkey)) in table.iter().zip(want) {
        assert_eq!((name.as_str(), ty.as_str(), *key), (wname, "string", wkey));
    }
    assert_eq!(lib.fields[0]["arg"]["isRequired"], true);
    assert_eq!(lib.schema["properties"]["useAsync"]["type"], "boolean");
}

#[test]
fn payloads_upstream_rejects_have_no_value_and_never_fail_the_host() {
    let json = JsonPlugin::init("");
    let get = |n: u64, ev: &[u8], req: &str| json.extract(n, ev, req);
    let ok = plugin_event(5, br#"{"a":{"b":[1,"x"]}}"#);
    assert_eq!(get(1, &ok, "json.value[/a/b/1]"), Ok(Some("x".into())));
    assert_eq!(get(1, &ok, "json.rawtime"), Ok(Some("5".into())));
    // Not JSON, empty, leading space, truncated, a tail: no value for any field.
    for (n, bad) in [
        &b"hello"[..],
        b"",
        b" {}",
        b"{\"a\":",
        b"{}x",
        b"[1,2",
        b"{\"a\":tru}",
    ]
    .into_iter()
    .enumerate()
    {
        let ev = plugin_event(5, bad);
        for req in [
            "json.value[/a]",
            "json.value[]",
            "json.obj",
            "json.rawtime",
            "jevt.rawtime",
        ] {
            assert_eq!(get(10 + n as u64, &ev, req), Ok(None), "{bad:?} {req}");
        }
    }
    // fastjson takes NaN (so values and time), Go's indenter does not (no json.obj).
    let nan = plugin_event(6, br#"{"a":NaN,"b":-Inf}"#);
    assert_eq!(get(30, &nan, "json.value[/a]"), Ok(Some("NaN".into())));
    assert_eq!(
        get(30, &nan, "json.value[]"),
        Ok(Some(r#"{"a":NaN,"b":-Inf}"#.into()))
    );
    assert_eq!(get(30, &nan, "json.obj"), Ok(None));
    assert_eq!(get(30, &nan, "json.rawtime"), Ok(Some("6".into())));
    // 301 levels are beyond fastjson's limit.
    let deep = plugin_event(
        7,
        format!("{}{}", "[".repeat(301), "]".repeat(301)).as_bytes(),
    );
    assert_eq!(get(31, &deep, "json.value[]"), Ok(None));
    // An escaped NUL ends the C string the host reads, as upstream's does.
    let nul = plugin_event(8, br#"{"a":"x\u0000y"}"#);
    assert_eq!(get(32, &nul, "json.value[/a]"), Ok(Some("x".into())));
    // Not a plugin event, or lengths that overflow the event: a malformed call,
    // FAILURE (which libsinsp takes as "no value").
    let mut other = ok.clone();
    other[20] = 1;
    assert!(get(33, &other, "json.value[/a]").is_err());
    let mut short = ok.clone();
    short[30] = 200;
    assert!(get(34, &short, "json.value[/a]").is_err());
    // An unknown field id is the host's fault: FAILURE, nothing else.
    let lib = JsonLib::load();
    assert!(
        json.extract_raw(35, &ok, lib.fields.len() as u32, "json.nope", None)
            .is_err()
    );
    assert!(json.metric("events_not_json") >= 7);
    // Still answering afterwards.
    assert_eq!(get(36, &ok, "jevt.value[/a/b/0]"), Ok(Some("1".into())));
}

#[test]
fn one_parse_per_event_whatever_the_number_of_fields() {
    let json = JsonPlugin::init("{}");
    let before = json.metric("events_parsed");
    for n in 1..=50u64 {
        let ev = plugin_event(n, format!(r#"{{"n":{n},"s":"v{n}"}}"#).as_bytes());
        for _ in 0..3 {
            assert_eq!(
                json.extract(n, &ev, "json.value[/n]"),
                Ok(Some(n.to_string()))
            );
            assert_eq!(
                json.extract(n, &ev, "jevt.value[s]"),
                Ok(Some(format!("v{n}")))
            );
            assert!(json.extract(n, &ev, "json.obj").unwrap().is_some());
        }
    }
    assert_eq!(json.metric("events_parsed") - before, 50);
}
