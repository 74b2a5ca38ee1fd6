//! CloudTrail events from EventBridge through SQS (moto on 127.0.0.1), through the
//! plugin's own HTTP, signing and parsing code, loaded as the `.so`: the record each
//! message carries must give exactly what the same record gives from a file.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::time::{Duration, Instant};

use cloudtrail::scan::{Item, Scanner};
use common::eventbridge::{event, sns, wrapped};
use common::moto::{Moto, moto};
use common::{Batch, Plugin, event_id, golden};
use serde_json::Value;

/// Messages per test queue at most (see the corpus test).
const QUEUE_DEPTH: usize = 250;

/// For tests that count messages exactly: one long poll at a time. moto's
/// ReceiveMessage is not atomic, so concurrent long polls woken by the same send can
/// be handed the same message (real SQS hides a message from other receivers as it
/// hands it out). Tests of the concurrent receivers compare sets instead.
const ONE_RECEIVER: &str = r#""sqsReceiveConcurrency":1,"#;

/// An init config for moto. Deletions go one call at a time unless `extra` says
/// otherwise: moto rebuilds a queue's message list on delete without a lock, so
/// concurrent deletes can bring a deleted message back (real SQS has no such race).
fn config(m: &Moto, extra: &str) -> String {
    let deletes = if extra.contains("sqsDeleteConcurrency") {
        ""
    } else {
        "\"sqsDeleteConcurrency\":1,"
    };
    format!(
        "{{{},\"sqsWaitSeconds\":1,{deletes}{extra}}}",
        m.aws_config()
    )
}

/// The records of a corpus file as the scanner splits them (every record, also
/// those upstream skips), as text.
fn corpus_records(source: &str) -> Vec<String> {
    let path = common::shared().join("testdata/cloudtrail").join(source);
    let mut bytes = Vec::new();
    let f = std::fs::File::open(&path).unwrap();
    if source.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(f)
            .read_to_end(&mut bytes)
            .unwrap();
    } else {
        std::io::BufReader::new(f).read_to_end(&mut bytes).unwrap();
    }
    let mut sc = Scanner::new();
    let mut out = Vec::new();
    while let Some(item) = sc.next(&bytes) {
        if let Item::Record { start, end } = item {
            out.push(String::from_utf8(bytes[start..end].to_vec()).expect("UTF-8 record"));
        }
    }
    out
}

/// Every record of the corpus's `{"Records":[…]}` files, each wrapped as an
/// EventBridge event (in all four envelopes, round robin), sent through SQS, drained
/// through the C ABI: every event and every one of its fields must equal the golden
/// of the same record read from its file.
#[test]
fn every_corpus_record_through_eventbridge_matches_its_golden() {
    let shared = common::shared();
    let mut files = Vec::new();
    golden::files(&shared.join("conformance/golden"), &mut files);
    // Golden lines by payload (the same record in two files has the same line).
    let mut want: HashMap<String, (Value, usize)> = HashMap::new();
    let mut bodies = Vec::new();
    let mut expected_events = 0usize;
    for file in &files {
        let (head, events) = golden::read(file);
        if head["format"] != "records" {
            continue;
        }
        for e in events {
            expected_events += 1;
            let p = e["payload"].as_str().unwrap().to_string();
            want.entry(p).or_insert((e, 0)).1 += 1;
        }
        for rec in corpus_records(head["source"].as_str().unwrap()) {
            bodies.push(wrapped(&rec, bodies.len()));
        }
    }
    assert!(expected_events > 3000, "{expected_events}");
    assert!(bodies.len() >= expected_events);
    // moto's SQS costs time in proportion to a queue's depth on every call: the
    // corpus goes through many small queues, one after the other.
    let m = moto();
    let groups: Vec<&[String]> = bodies.chunks(QUEUE_DEPTH).collect();
    for (k, group) in groups.iter().enumerate() {
        m.send_batch(&m.create_queue(&format!("eb-corpus-{k}")), group);
    }
    // Duplicate removal off: the corpus repeats some events across files.
    let p = Plugin::init(&config(
        m,
        &format!(r#"{ONE_RECEIVER}"sqsDedupEvents":0,"sqsVisibilitySeconds":120"#),
    ))
    .unwrap();
    let mut mismatches = Vec::new();
    let (mut values, mut unexpected, mut n, mut sent) = (0u64, 0u64, 0u64, 0u64);
    for (k, group) in groups.iter().enumerate() {
        sent += group.len() as u64;
        let mut src = p.open(&format!("sqs://eb-corpus-{k}")).unwrap();
        n += src
            .drain_until(
                Some(Duration::from_secs(60)),
                |evtnum, live, ev| {
                    let payload = String::from_utf8_lossy(&ev.payload).into_owned();
                    let Some((exp, left)) = want.get_mut(&payload) else {
                        unexpected += 1;
                        return;
                    };
                    let at = format!("queue {k} event {evtnum} ({})", exp["fields"]["ct.id"]);
                    values += golden::check_event(&p, evtnum, live, ev, exp, &at, &mut mismatches);
                    if *left == 0 {
                        mismatches.push(format!("{at}: emitted more often than in the corpus"));
                    }
                    *left = left.saturating_sub(1);
                },
                || p.metric("sqs_messages_deleted") + p.metric("sqs_messages_poisoned") >= sent,
            )
            .unwrap();
        // Nothing else arrives (and the last batch is delivered by the close).
        unexpected += src
            .drain_until(Some(Duration::from_secs(5)), |_, _, _| {}, {
                let t = Instant::now();
                move || t.elapsed() > Duration::from_millis(300)
            })
            .unwrap();
    }
    golden::assert_none(&mismatches, n, values);
    assert_eq!(unexpected, 0, "events that are not in the goldens");
    assert_eq!(n as usize, expected_events);
    assert!(want.values().all(|(_, left)| *left == 0));
    let skipped: u64 = p
        .metrics()
        .iter()
        .filter(|(k, _)| k.starts_with("records_skipped_"))
        .map(|(_, v)| v)
        .sum();
    let (deleted, poisoned) = (
        p.metric("sqs_messages_deleted"),
        p.metric("sqs_messages_poisoned"),
    );
    // Each message carried one record: emitted, or skipped under the emission
    // rules (the message is deleted either way); only a body that is not JSON at
    // all (a record upstream's parser rejects) is left in the queue.
    assert_eq!(deleted + poisoned, sent);
    assert_eq!(deleted, n + skipped);
    assert_eq!(p.metric("sqs_eventbridge_events"), deleted);
    assert_eq!(p.metric("files_read"), 0, "messages are not files");
    let left: u64 = (0..groups.len())
        .map(|k| {
            let (visible, hidden) = m.queue_depth(&m.create_queue(&format!("eb-corpus-{k}")));
            visible + hidden
        })
        .sum();
    assert_eq!(left, poisoned);
    eprintln!(
        "eventbridge corpus: {sent} messages, {n} events, {values} values, {skipped} skipped, {poisoned} left as poison"
    );
}

/// Invictus records (distinct eventIDs), as text.
fn invictus_records(count: usize) -> Vec<String> {
    let dir = common::shared().join("testdata/cloudtrail/invictus-aws-dataset/CloudTrail");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        out.extend(common::golden_payloads(&format!(
            "invictus-aws-dataset/CloudTrail/{name}"
        )));
    }
    let ids: BTreeSet<String> = out.iter().map(|p| event_id(p)).collect();
    assert_eq!(ids.len(), out.len());
    assert!(out.len() >= count);
    out.truncate(count);
    out
}

#[test]
fn duplicates_from_eventbridge_and_a_log_file_are_emitted_once() {
    let m = moto();
    let q = m.create_queue("eb-dedup");
    let records = invictus_records(500);
    let p = Plugin::init(&config(
        m,
        &format!(r#"{ONE_RECEIVER}"sqsVisibilitySeconds":120"#),
    ))
    .unwrap();
    let mut src = p.open("sqs://eb-dedup").unwrap();
    let mut got = Vec::new();
    // Each event as an EventBridge message; then each again (in another envelope)
    // and once more in a log file. Two rounds keep moto's queue short.
    let first: Vec<String> = records
        .iter()
        .enumerate()
        .map(|(i, r)| event(r, i))
        .collect();
    m.send_batch(&q, &first);
    src.collect_until(&mut got, Duration::from_secs(120), |_| {
        p.metric("sqs_messages_deleted") == 500
    });
    let again: Vec<String> = records
        .iter()
        .enumerate()
        .map(|(i, r)| wrapped(r, i + 1))
        .collect();
    m.send_batch(&q, &again);
    let file = common::files::gz(common::files::records_file(&records).as_bytes());
    m.announce(&q, "eb-dedup", &[file]);
    src.collect_until(&mut got, Duration::from_secs(120), |_| {
        p.metric("sqs_messages_deleted") == 1001
    });
    src.collect_until(&mut got, Duration::from_secs(5), {
        let t = Instant::now();
        move |_| t.elapsed() > Duration::from_millis(1500)
    });
    drop(src);
    assert_eq!(got.len(), 500, "each event exactly once");
    let ids: BTreeSet<String> = got.iter().map(|p| event_id(p)).collect();
    let want: BTreeSet<String> = records.iter().map(|p| event_id(p)).collect();
    assert_eq!(ids, want);
    assert_eq!(p.metric("records_skipped_duplicate"), 1000);
    assert_eq!(p.metric("events"), 500);
    assert_eq!(m.queue_depth(&q), (0, 0));

    // With the window off, every copy is an event.
    let q = m.create_queue("eb-dedup-off");
    let few = &records[..50];
    let twice: Vec<String> = few
        .iter()
        .chain(few)
        .enumerate()
        .map(|(i, r)| event(r, i))
        .collect();
    m.send_batch(&q, &twice);
    let p = Plugin::init(&config(m, &format!(r#"{ONE_RECEIVER}"sqsDedupEvents":0"#))).unwrap();
    let mut src = p.open("sqs://eb-dedup-off").unwrap();
    let mut got = Vec::new();
    src.collect_until(&mut got, Duration::from_secs(60), |g| g.len() >= 100);
    drop(src);
    assert_eq!(got.len(), 100);
    assert_eq!(p.metric("records_skipped_duplicate"), 0);
}

#[test]
fn a_message_is_deleted_only_after_its_event_was_delivered() {
    let m = moto();
    let q = m.create_queue("eb-ack");
    let records = invictus_records(10);
    let bodies: Vec<String> = records[..5]
        .iter()
        .enumerate()
        .map(|(i, r)| event(r, i))
        .collect();
    m.send_batch(&q, &bodies);
    let p = Plugin::init(&config(
        m,
        &format!(r#"{ONE_RECEIVER}"sqsVisibilitySeconds":600"#),
    ))
    .unwrap();
    let mut src = p.open("sqs://eb-ack").unwrap();
    // All five received and prepared, then handed out in one batch.
    let end = Instant::now() + Duration::from_secs(30);
    while p.metric("sqs_eventbridge_events") < 5 {
        assert!(Instant::now() < end, "not received");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    match src.next_batch() {
        Batch::Events(evs, _) => assert_eq!(evs.len(), 5),
        Batch::Failure(e) => panic!("{e}"),
    }
    // Handed to Falco but not yet delivered: nothing may be deleted, however long
    // the plugin waits.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(p.metric("sqs_messages_deleted"), 0);
    assert_eq!(m.queue_depth(&q), (0, 5));
    // The next call delivers them: they are deleted (by the acknowledging thread).
    match src.next_batch() {
        Batch::Events(evs, _) => assert!(evs.is_empty()),
        Batch::Failure(e) => panic!("{e}"),
    }
    let end = Instant::now() + Duration::from_secs(10);
    while p.metric("sqs_messages_deleted") < 5 {
        assert!(Instant::now() < end, "not deleted after delivery");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(m.queue_depth(&q), (0, 0));

    // Closing before the next call delivers the last batch too; what was handed out
    // but is not part of it comes back at once.
    let bodies: Vec<String> = records[5..]
        .iter()
        .enumerate()
        .map(|(i, r)| event(r, i))
        .collect();
    m.send_batch(&q, &bodies);
    let mut got = Vec::new();
    src.collect_until(&mut got, Duration::from_secs(30), |g| g.len() >= 5);
    drop(src);
    assert_eq!(p.metric("sqs_messages_deleted"), 10);
    assert_eq!(m.queue_depth(&q), (0, 0));
}

#[test]
fn closing_half_way_and_crashing_lose_no_event() {
    let m = moto();
    let records = invictus_records(QUEUE_DEPTH);
    let bodies: Vec<String> = records
        .iter()
        .enumerate()
        .map(|(i, r)| wrapped(r, i))
        .collect();
    let want: BTreeSet<String> = records.iter().map(|p| event_id(p)).collect();

    // Half-way close: the second reader gets everything the first did not deliver
    // (a visibility far longer than the test: only the release on close can make
    // the messages visible again).
    // The defaults here: four long polls and four delete calls at once. (Deletes are
    // counted below rather than read off moto's queue, which concurrent deletes can
    // leave wrong.)
    let q = m.create_queue("eb-halfway");
    m.send_batch(&q, &bodies);
    let cfg = config(m, r#""sqsVisibilitySeconds":600,"sqsDeleteConcurrency":4"#);
    let p = Plugin::init(&cfg).unwrap();
    let mut first = Vec::new();
    {
        let mut src = p.open("sqs://eb-halfway").unwrap();
        src.collect_until(&mut first, Duration::from_secs(30), |g| g.len() >= 50);
    }
    assert!(first.len() < records.len());
    let p2 = Plugin::init(&cfg).unwrap();
    let mut second = Vec::new();
    let mut src = p2.open("sqs://eb-halfway").unwrap();
    src.collect_until(&mut second, Duration::from_secs(60), |g| {
        let seen: BTreeSet<String> = first.iter().chain(g).map(|p| event_id(p)).collect();
        seen == want
    });
    drop(src);
    let deleted = p.metric("sqs_messages_deleted") + p2.metric("sqs_messages_deleted");
    assert!(deleted >= QUEUE_DEPTH as u64, "{deleted} deleted");
    assert_eq!(
        p.metric("sqs_messages_poisoned") + p2.metric("sqs_messages_poisoned"),
        0
    );

    // A reader killed mid-stream: its messages come back after their visibility.
    let q = m.create_queue("eb-crash");
    m.send_batch(&q, &bodies);
    let cfg = config(m, r#""sqsVisibilitySeconds":3"#);
    common::crash_then_recover(&cfg, "eb-crash", &want);
    assert_eq!(m.queue_depth(&q), (0, 0));
}

#[test]
fn one_queue_mixes_files_events_skips_and_poison() {
    let m = moto();
    let q = m.create_queue("eb-mixed");
    let records = invictus_records(40);
    let (in_file, as_events) = records.split_at(20);
    let file = common::files::gz(common::files::records_file(in_file).as_bytes());
    m.announce(&q, "eb-mixed", &[file]);
    let mut bodies: Vec<String> = as_events
        .iter()
        .enumerate()
        .map(|(i, r)| wrapped(r, i))
        .collect();
    // Understood, but not emitted under the emission rules: counted, deleted.
    let insight = r#"{"eventVersion":"1.07","eventTime":"2024-01-01T00:00:00Z","awsRegion":"us-east-1","eventID":"i-1","eventType":"AwsCloudTrailInsight","recipientAccountId":"123456789012","sharedEventID":"s","insightDetails":{"state":"Start"},"eventCategory":"Insight"}"#;
    let no_time = r#"{"eventVersion":"1.08","eventSource":"iam.amazonaws.com","eventName":"GetUser","eventType":"AwsApiCall","eventID":"n-1"}"#;
    bodies.push(event(insight, 100));
    bodies.push(event(no_time, 101));
    bodies.push(common::eventbridge::lambda_sqs(&event(no_time, 102), 102));
    let not_object = event("[1,2]", 103);
    bodies.push(not_object);
    // Upstream's lenient grammar accepts NaN: emitted, as from a file.
    let nan = r#"{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:09Z","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","eventType":"AwsApiCall","eventID":"nan-1","responseElements":{"n":NaN}}"#;
    bodies.push(event(nan, 104));
    // Another kind of EventBridge event: understood, ignored.
    bodies.push(
        r#"{"version":"0","id":"x","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","account":"123456789012","time":"2024-01-01T00:00:00Z","region":"us-east-1","resources":[],"detail":{"instance-id":"i-1","state":"running"}}"#.into(),
    );
    // Not understood: left for the dead-letter queue.
    bodies.push(
        r#"{"version":"0","id":"y","detail-type":"AWS API Call via CloudTrail","source":"aws.ec2""#
            .into(),
    );
    bodies.push(r#"{"version":"0","id":"z","detail-type":"AWS API Call via CloudTrail","source":"aws.ec2"}"#.into());
    m.send_batch(&q, &bodies);
    // Through real SNS topics, raw delivery off and on.
    let extra = invictus_records(42);
    for (raw, rec) in [(false, &extra[40]), (true, &extra[41])] {
        let topic = m.create_topic(&format!("eb-topic-{raw}"));
        m.subscribe(&topic, "eb-mixed", raw);
        m.publish(&topic, &event(rec, 200 + raw as usize));
    }

    let p = Plugin::init(&config(
        m,
        &format!(r#"{ONE_RECEIVER}"sqsVisibilitySeconds":120"#),
    ))
    .unwrap();
    let mut src = p.open("sqs://eb-mixed").unwrap();
    let mut got = Vec::new();
    // 1 file notification + 20 events + 5 skips/NaN + 1 ignored + 2 poison + 2 SNS.
    src.collect_until(&mut got, Duration::from_secs(60), |_| {
        p.metric("sqs_messages_deleted") == 29 && p.metric("sqs_messages_poisoned") == 2
    });
    src.collect_until(&mut got, Duration::from_secs(5), {
        let t = Instant::now();
        move |_| t.elapsed() > Duration::from_millis(1500)
    });
    drop(src);
    let mut want: Vec<String> = records.to_vec();
    want.extend_from_slice(&extra[40..42]);
    want.push(nan.to_string());
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(p.metric("sqs_messages_received"), 31);
    assert_eq!(p.metric("sqs_messages_ignored"), 1);
    assert_eq!(p.metric("sqs_eventbridge_events"), 27);
    assert_eq!(p.metric("records_skipped_insight"), 1);
    assert_eq!(p.metric("records_skipped_no_event_time"), 2);
    assert_eq!(p.metric("records_skipped_not_an_object"), 1);
    assert_eq!(p.metric("files_read"), 1);
    assert_eq!(m.queue_depth(&q).0 + m.queue_depth(&q).1, 2);
    let logs: Vec<String> = p.log_lines().into_iter().map(|l| l.1).collect();
    assert!(
        logs.iter()
            .any(|l| l.contains("without detail") && l.contains("left in the queue")),
        "{logs:#?}"
    );
}

#[test]
fn delivery_lag_is_measured_from_event_time() {
    let m = moto();
    let q = m.create_queue("eb-lag");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Ten minutes ago, then just now.
    let rec = |secs_ago: u64, id: &str| {
        let t = now - secs_ago;
        let (d, s) = (t / 86400, t % 86400);
        // Civil date from days since the epoch (Howard Hinnant's algorithm).
        let z = d as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!(
            r#"{{"eventVersion":"1.08","eventTime":"{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventType":"AwsApiCall","eventID":"{id}"}}"#,
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    };
    m.send_batch(&q, &[event(&rec(600, "old"), 0)]);
    let p = Plugin::init(&config(m, "\"sqsDedupEvents\":10")).unwrap();
    let mut src = p.open("sqs://eb-lag").unwrap();
    let mut got = Vec::new();
    src.collect_until(&mut got, Duration::from_secs(30), |g| !g.is_empty());
    let (last, max) = (
        p.metric("delivery_lag_ms_last"),
        p.metric("delivery_lag_ms_max"),
    );
    assert!((600_000..660_000).contains(&last), "{last}");
    assert_eq!(max, last);
    m.send_batch(&q, &[sns(&event(&rec(0, "new"), 1), 1)]);
    src.collect_until(&mut got, Duration::from_secs(30), |g| g.len() >= 2);
    let (last, max2) = (
        p.metric("delivery_lag_ms_last"),
        p.metric("delivery_lag_ms_max"),
    );
    // Second precision in eventTime: up to a second early, plus the transit.
    assert!(last < 10_000, "{last}");
    assert_eq!(max2, max, "the maximum since open stays");
    drop(src);
    // A new source starts afresh.
    let src = p.open("sqs://eb-lag").unwrap();
    assert_eq!(p.metric("delivery_lag_ms_max"), 0);
    drop(src);
}
