//! Local mode through the exported C ABI: the deliberate differences the corpus does
//! not exercise (D3, D5, D7, D8), the error paths, and the lifecycle rules.

mod common;

use std::fs;
use std::path::Path;

use common::files::{event, gz, records_file, tmpdir};
use common::{Batch, Extracted, Plugin};

/// Drains `path` and returns the payloads and `ct.id`s, in order.
fn drain(p: &Plugin, path: &Path) -> (Vec<String>, Result<u64, String>) {
    let mut ids = Vec::new();
    let mut src = p.open(path.to_str().unwrap()).unwrap();
    let r = src.drain(
        |n, live, _| match p.extract(n, live, "ct.id", None).unwrap().0 {
            Extracted::Str(v) => ids.push(v.first().cloned().unwrap_or_default()),
            other => panic!("{other:?}"),
        },
    );
    (ids, r)
}

fn errors(p: &Plugin) -> Vec<String> {
    p.log_lines()
        .into_iter()
        .filter(|(sev, _)| *sev <= 3)
        .map(|(_, m)| m)
        .collect()
}

#[test]
fn d3_public_access_block_flags_come_from_the_request() {
    let d = tmpdir("d3");
    let rec = event(
        1,
        r#","eventName":"PutBucketPublicAccessBlock","readOnly":false,"requestParameters":{"bucketName":"b","PublicAccessBlockConfiguration":{"BlockPublicAcls":true,"BlockPublicPolicy":false,"IgnorePublicAcls":true,"RestrictPublicBuckets":false}}"#,
    );
    // The record repeats eventName: the first one (GetObject) would win, so build it cleanly.
    let rec = rec.replacen(r#""eventName":"GetObject","#, "", 1);
    fs::write(d.join("f.json"), records_file(&[rec])).unwrap();
    let p = Plugin::init("").unwrap();
    let mut src = p.open(d.to_str().unwrap()).unwrap();
    let mut info = None;
    src.drain(|n, live, _| info = Some(p.extract(n, live, "ct.info", None).unwrap().0))
        .unwrap();
    assert_eq!(
        info.unwrap(),
        Extracted::Str(vec![
            "u1 via 10.0.0.1 → PutBucketPublicAccessBlock BlockPublicAcls=true BlockPublicPolicy=false IgnorePublicAcls=true RestrictPublicBuckets=false".into()
        ])
    );
}

#[test]
fn d5_large_records_are_emitted_and_oversized_ones_skipped() {
    let d = tmpdir("d5");
    // A 4 MiB record between good ones (upstream aborts the capture above 256 KiB).
    let big = event(
        2,
        &format!(
            r#","requestParameters":{{"pad":"{}"}}"#,
            "x".repeat(4 << 20)
        ),
    );
    fs::write(
        d.join("a.json"),
        records_file(&[event(1, ""), big.clone(), event(3, "")]),
    )
    .unwrap();
    // A record over 64 MiB: skipped, logged and counted; its neighbours survive.
    let huge = event(
        5,
        &format!(
            r#","requestParameters":{{"pad":"{}"}}"#,
            "y".repeat(65 << 20)
        ),
    );
    fs::write(
        d.join("b.json.gz"),
        gz(records_file(&[event(4, ""), huge, event(6, "")]).as_bytes()),
    )
    .unwrap();
    let p = Plugin::init("").unwrap();
    let mut payload_len = 0;
    let mut src = p.open(d.to_str().unwrap()).unwrap();
    let mut ids = Vec::new();
    src.drain(|n, live, ev| {
        if let Extracted::Str(v) = p.extract(n, live, "ct.id", None).unwrap().0 {
            ids.push(v[0].clone());
        }
        payload_len = payload_len.max(ev.payload.len());
    })
    .unwrap();
    assert_eq!(ids, ["id-1", "id-2", "id-3", "id-4", "id-6"]);
    assert_eq!(payload_len, big.len());
    assert_eq!(p.metric("records_skipped_too_large"), 1);
    let errs = errors(&p);
    assert!(
        errs.iter()
            .any(|m| m.contains("b.json.gz") && m.contains("larger than the record size limit")),
        "{errs:?}"
    );
}

#[test]
fn d7_damaged_gzip_keeps_good_records_logs_and_goes_on() {
    let d = tmpdir("d7");
    let many: Vec<String> = (0..2000).map(|i| event(i, "")).collect();
    let z = gz(records_file(&many).as_bytes());
    fs::write(d.join("1-truncated.json.gz"), &z[..z.len() / 2]).unwrap();
    let mut corrupt = z.clone();
    let n = corrupt.len();
    corrupt[n / 3..n / 3 + 64].fill(0x55);
    fs::write(d.join("2-corrupt.json.gz"), &corrupt).unwrap();
    fs::write(
        d.join("3-good.json.gz"),
        gz(records_file(&[event(7777, "")]).as_bytes()),
    )
    .unwrap();
    let p = Plugin::init("").unwrap();
    let (ids, r) = drain(&p, &d);
    r.unwrap();
    // Records before the damage, in order, then the next files.
    let first_bad = ids.iter().position(|id| id == "id-0").unwrap();
    assert_eq!(first_bad, 0);
    let truncated_n = ids.iter().skip(1).position(|id| id == "id-0").unwrap() + 1;
    assert!(
        truncated_n > 10 && truncated_n < 2000,
        "{truncated_n} records from the truncated file"
    );
    for (i, id) in ids[..truncated_n].iter().enumerate() {
        assert_eq!(id, &format!("id-{i}"));
    }
    assert_eq!(ids.last().unwrap(), "id-7777");
    assert!(ids.len() < 4000);
    let errs = errors(&p);
    assert!(
        errs.iter()
            .any(|m| m.contains("1-truncated.json.gz") && m.contains("gzip")),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|m| m.contains("2-corrupt.json.gz")),
        "{errs:?}"
    );
    assert_eq!(p.metric("files_failed"), 2);
    assert_eq!(p.metric("files_read"), 1);
}

#[test]
fn d8_skipped_records_do_not_shorten_batches() {
    let d = tmpdir("d8");
    let mut recs = Vec::new();
    for i in 0..600 {
        recs.push(event(i, ""));
        recs.push(r#"{"no":"eventTime"}"#.to_string());
        recs.push(event(i, r#","eventType":"AwsCloudTrailInsight""#).replacen(
            r#""eventType":"AwsApiCall","#,
            "",
            1,
        ));
    }
    fs::write(d.join("f.json"), records_file(&recs)).unwrap();
    let p = Plugin::init("").unwrap();
    let mut src = p.open(d.to_str().unwrap()).unwrap();
    let mut sizes = Vec::new();
    loop {
        match src.next_batch() {
            Batch::Events(evs, rc) => {
                if !evs.is_empty() {
                    sizes.push(evs.len());
                }
                if rc == falco_plugin_api::ss_plugin_rc_SS_PLUGIN_EOF {
                    break;
                }
            }
            Batch::Failure(e) => panic!("{e}"),
        }
    }
    assert_eq!(sizes.iter().sum::<usize>(), 600);
    // Every batch but the last is full.
    assert!(
        sizes[..sizes.len() - 1].iter().all(|&n| n == 128),
        "{sizes:?}"
    );
    assert_eq!(p.metric("records_skipped_no_event_time"), 600);
    assert_eq!(p.metric("records_skipped_insight"), 600);
}

#[test]
fn formats_and_empty_files() {
    let d = tmpdir("formats");
    fs::write(d.join("a-empty.json"), b"").unwrap();
    fs::write(
        d.join("b-lines.jsonl"),
        format!("{}\n{}\n", event(1, ""), event(2, "")),
    )
    .unwrap();
    fs::write(
        d.join("c-array.json"),
        format!("[{}, 5, {}]", event(3, ""), event(4, "")),
    )
    .unwrap();
    fs::write(d.join("d-single.json"), event(5, "")).unwrap();
    // Gzip recognised by content, whatever the name; plain JSON named .gz read as is.
    fs::write(
        d.join("e-gzip-named-plain.json"),
        gz(event(6, "").as_bytes()),
    )
    .unwrap();
    fs::write(d.join("f-plain-named-gz.json.gz"), event(7, "")).unwrap();
    let p = Plugin::init("").unwrap();
    let (ids, r) = drain(&p, &d);
    r.unwrap();
    assert_eq!(
        ids,
        ["id-1", "id-2", "id-3", "id-4", "id-5", "id-6", "id-7"]
    );
    assert_eq!(p.metric("records_skipped_not_an_object"), 1);
    // The empty file is no error.
    assert!(
        errors(&p).iter().all(|m| !m.contains("a-empty")),
        "{:?}",
        errors(&p)
    );
}

#[test]
fn open_errors_are_clear() {
    let p = Plugin::init("").unwrap();
    let e = p.open("").err().unwrap();
    assert!(e.contains("missing input"), "{e}");
    let e = p.open("/nonexistent/path/x").err().unwrap();
    assert!(e.contains("cannot open /nonexistent/path/x"), "{e}");
    let d = tmpdir("nojson");
    fs::write(d.join("readme.txt"), b"x").unwrap();
    let e = p.open(d.to_str().unwrap()).err().unwrap();
    assert!(e.contains("no json files found in"), "{e}");
    // The state is still usable after failed opens.
    fs::write(d.join("ok.json"), records_file(&[event(1, "")])).unwrap();
    let (ids, _) = drain(&p, &d);
    assert_eq!(ids, ["id-1"]);
}

#[test]
fn unreadable_and_garbage_files_are_logged_and_skipped() {
    let d = tmpdir("unreadable");
    std::os::unix::fs::symlink(d.join("missing-target.json"), d.join("1-broken-link.json"))
        .unwrap();
    let random: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    fs::write(d.join("2-random.json.gz"), &random).unwrap();
    fs::write(d.join("3-html.json"), b"<html><head><style>body { color: red }</style></head><body>503 Service Unavailable</body></html>").unwrap();
    fs::write(d.join("4-good.json"), records_file(&[event(9, "")])).unwrap();
    let p = Plugin::init("").unwrap();
    let (ids, r) = drain(&p, &d);
    r.unwrap();
    assert_eq!(ids, ["id-9"]);
    let errs = errors(&p);
    for name in ["1-broken-link.json", "2-random.json.gz", "3-html.json"] {
        assert!(
            errs.iter().any(|m| m.contains(name)),
            "no error for {name}: {errs:?}"
        );
    }
    assert_eq!(p.metric("files_failed"), 3);
}

#[test]
fn init_config_errors_name_the_property() {
    // Rejected by the schema, as libsinsp does before init.
    let e = Plugin::init(r#"{"s3DownloadConcurrency":"many"}"#)
        .err()
        .unwrap();
    assert!(e.contains("s3DownloadConcurrency"), "{e}");
    let e = Plugin::init("{not json").err().unwrap();
    assert!(e.contains("not a valid json"), "{e}");
    // Keys the schema does not know (other case) reach the plugin, which checks them.
    let e = Plugin::init(r#"{"SQSDelete":"yes"}"#).err().unwrap();
    assert!(e.contains("'sqsDelete'") && e.contains("boolean"), "{e}");
    // Upstream spellings work.
    let p = Plugin::init(
        r#"{"S3AccountList":"111122223333","useAsync":false,"aws":{"profile":"nope"}}"#,
    )
    .unwrap();
    // A local open never touches AWS configuration (the profile does not exist).
    let d = tmpdir("cfg");
    fs::write(d.join("f.json"), records_file(&[event(1, "")])).unwrap();
    assert_eq!(drain(&p, &d).0, ["id-1"]);
}

#[test]
fn progress_follows_files() {
    let d = tmpdir("progress");
    for i in 0..2 {
        fs::write(d.join(format!("{i}.json")), records_file(&[event(i, "")])).unwrap();
    }
    let p = Plugin::init("").unwrap();
    let mut src = p.open(d.to_str().unwrap()).unwrap();
    let (pct, text) = src.progress();
    assert_eq!((pct, text.as_str()), (0, "0.00% - 0/2 files"));
    src.drain(|_, _, _| {}).unwrap();
    let (pct, text) = src.progress();
    assert_eq!((pct, text.as_str()), (10000, "100.00% - 2/2 files"));
}

#[test]
fn extraction_works_on_events_from_elsewhere() {
    // Capture mode: Falco extracts from recorded events without opening a source.
    let p = Plugin::init("").unwrap();
    let payload = event(42, r#","readOnly":false"#);
    let mut ev = vec![0u8; 38];
    ev[16..20].copy_from_slice(&((38 + payload.len()) as u32).to_le_bytes());
    ev[20..22].copy_from_slice(&322u16.to_le_bytes());
    ev[22..26].copy_from_slice(&2u32.to_le_bytes());
    ev[26..30].copy_from_slice(&4u32.to_le_bytes());
    ev[30..34].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    ev[34..38].copy_from_slice(&2u32.to_le_bytes());
    ev.extend_from_slice(payload.as_bytes());
    let (v, spans) = p.extract(5, &ev, "ct.user", None).unwrap();
    assert_eq!(v, Extracted::Str(vec!["u42".into()]));
    let (start, len) = spans[0];
    assert_eq!(&ev[start as usize..(start + len) as usize], br#""u42""#);
    assert_eq!(
        p.to_string(5, &ev).unwrap(),
        "us-east-1 u42 s3 GetObject u42 via 10.0.0.42 → GetObject"
    );
    // An indexed list field with and without its argument.
    let run = event(
        1,
        r#","responseElements":{"instancesSet":{"items":[{"imageId":"ami-a"},{"imageId":"ami-b"}]}}"#,
    );
    let mut ev2 = ev[..38].to_vec();
    ev2[16..20].copy_from_slice(&((38 + run.len()) as u32).to_le_bytes());
    ev2[30..34].copy_from_slice(&(run.len() as u32).to_le_bytes());
    ev2.extend_from_slice(run.as_bytes());
    assert_eq!(
        p.extract(6, &ev2, "ec2.imageids", None).unwrap().0,
        Extracted::Str(vec!["ami-a".into(), "ami-b".into()])
    );
    assert_eq!(
        p.extract(6, &ev2, "ec2.imageids", Some(1)).unwrap().0,
        Extracted::Str(vec!["ami-b".into()])
    );
    assert_eq!(
        p.extract(6, &ev2, "ec2.imageids", Some(2)).unwrap().0,
        Extracted::Str(vec![])
    );
    // A malformed event is a failure, never a crash.
    let mut bad = ev.clone();
    bad[20] = 7;
    assert!(p.extract(7, &bad, "ct.id", None).is_err());
}

/// The command line's closing summary: counters, and the delivery lag only where
/// events arrive as they happen (here a followed directory), in units a person reads;
/// a one-shot read of the 2023 sample shows no lag (it would read "1,245 days").
#[test]
fn the_command_line_shows_the_lag_only_for_live_sources_and_readably() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sample");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cloudtrail"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stderr).unwrap()
    };
    let once = run(&[sample.to_str().unwrap(), "--fields", "ct.id"]);
    assert!(once.contains("cloudtrail: done: events="), "{once}");
    assert!(!once.contains("lag"), "{once}");

    let d = tmpdir("cli-lag");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let stamp = cloudtrail::interval::minute_stamp(now - 120);
    let when = format!(
        "{}-{}-{}T{}:{}:00Z",
        &stamp[0..4],
        &stamp[4..6],
        &stamp[6..8],
        &stamp[9..11],
        &stamp[11..13]
    );
    let rec = event(1, "").replace("2024-01-01T00:00:01Z", &when);
    fs::write(d.join("f.json"), records_file(&[rec])).unwrap();
    // A followed directory leaves files modified within the last second for later.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let live = run(&[
        d.to_str().unwrap(),
        "--init",
        r#"{"s3PollInterval":"30s"}"#,
        "--idle-exit",
        "1",
    ]);
    assert!(live.contains("done: events=1"), "{live}");
    let lag = live
        .lines()
        .find_map(|l| l.strip_prefix("cloudtrail: delivery lag (eventTime to hand-over): last "))
        .unwrap_or_else(|| panic!("no lag line: {live}"));
    // About two minutes; never raw milliseconds.
    assert!(
        lag == "2 min, max 2 min" || lag == "3 min, max 3 min",
        "{lag}"
    );
    assert!(!live.contains("delivery_lag_ms"), "{live}");
    fs::remove_dir_all(&d).unwrap();
}
