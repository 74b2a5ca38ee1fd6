//! SQS mode against a real SQS/SNS/S3 API (moto on 127.0.0.1), through the plugin's
//! own HTTP, signing and parsing code, loaded as the `.so`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::moto::{Moto, moto};
use common::{Batch, Plugin, corpus_gz, event_id, golden_payloads};

const FILES: &[&str] = common::SMALL_FILES;
const BIG: &[&str] = common::BIG_FILES;

fn corpus(name: &str) -> String {
    common::invictus(name)
}

/// An init config for moto, deleting one call at a time: moto rebuilds a queue's
/// message list on delete without a lock, so concurrent deletes can bring a deleted
/// message back (real SQS has no such race).
fn config(m: &Moto, extra: &str) -> String {
    format!(
        "{{{},\"sqsWaitSeconds\":1,\"sqsDeleteConcurrency\":1,{extra}}}",
        m.aws_config()
    )
}

fn cloudtrail_notice(bucket: &str, keys: &[&str]) -> String {
    serde_json::json!({"s3Bucket": bucket, "s3ObjectKey": keys}).to_string()
}

/// An S3 event notification as S3 writes it (keys URL-encoded, `+` for a space).
fn s3_event(bucket: &str, key: &str) -> String {
    let encoded = common::moto::urlencode(key)
        .replace("%20", "+")
        .replace("%2F", "/");
    serde_json::json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": encoded, "size": 1}}
    }]})
    .to_string()
}

fn eventbridge(bucket: &str, key: &str) -> String {
    serde_json::json!({
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created", "source": "aws.s3", "account": "123456789012",
        "region": "us-east-1", "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {"version": "0", "bucket": {"name": bucket},
                   "object": {"key": key, "size": 1}, "reason": "PutObject"}
    })
    .to_string()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn every_notification_shape_mixed_in_one_queue() {
    let m = moto();
    let q = m.create_queue("mixed");
    for b in ["sqs-a", "sqs-b", "sqs-c"] {
        m.create_bucket(b);
    }
    let f = |i: usize| corpus(FILES[i]);
    m.put("sqs-a", "ct/one.json.gz", &corpus_gz(&f(0)));
    m.put("sqs-b", "x/loki file+1.json.gz", &corpus_gz(&f(1)));
    m.put("sqs-a", "sns/s3 event.json.gz", &corpus_gz(&f(2)));
    m.put("sqs-a", "eb/three.json.gz", &corpus_gz(&f(3)));
    m.put("sqs-b", "raw/a.json.gz", &corpus_gz(&f(4)));
    m.put(
        "sqs-b",
        "raw/b.json",
        &std::fs::read(common::shared().join("testdata/cloudtrail").join(f(5))).unwrap(),
    );
    let mut bad_gzip = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    bad_gzip.extend_from_slice(b"this is not deflate data at all");
    m.put("sqs-a", "damaged.json.gz", &bad_gzip);

    // SNS → SQS, envelope kept: a CloudTrail notification and an S3 event.
    let topic = m.create_topic("ct-topic");
    m.subscribe(&topic, "mixed", false);
    m.publish(&topic, &cloudtrail_notice("sqs-a", &["ct/one.json.gz"]));
    m.publish(&topic, &s3_event("sqs-a", "sns/s3 event.json.gz"));
    m.publish(&topic, "CloudTrail validation message.");
    // SNS → SQS with raw delivery: an S3 event from another bucket.
    let raw_topic = m.create_topic("s3-raw-topic");
    m.subscribe(&raw_topic, "mixed", true);
    m.publish(&raw_topic, &s3_event("sqs-b", "x/loki file+1.json.gz"));
    // S3 → SQS directly (S3 first sends its test event).
    m.notify_queue("sqs-c", "mixed");
    m.put("sqs-c", "AWSLogs/direct file.json.gz", &corpus_gz(&f(6)));
    // Hand-sent: EventBridge, a raw CloudTrail notification with two files, an SNS
    // subscription confirmation, a digest-only notification, garbage, a missing
    // file, a damaged file.
    m.send(&q, &eventbridge("sqs-a", "eb/three.json.gz"));
    m.send(
        &q,
        &cloudtrail_notice("sqs-b", &["raw/a.json.gz", "raw/b.json"]),
    );
    m.send(
        &q,
        r#"{"Type":"SubscriptionConfirmation","MessageId":"x","Token":"t","TopicArn":"arn:aws:sns:us-east-1:123456789012:t","Message":"You have chosen to subscribe","SubscribeURL":"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=t"}"#,
    );
    m.send(
        &q,
        &cloudtrail_notice(
            "sqs-a",
            &["AWSLogs/1/CloudTrail-Digest/us-east-1/2023/07/10/1_CloudTrail-Digest_us-east-1_t_us-east-1_20230710T120000Z.json.gz"],
        ),
    );
    m.send(&q, "hello, this is not a notification");
    m.send(&q, &cloudtrail_notice("sqs-a", &["missing.json.gz"]));
    m.send(&q, &cloudtrail_notice("sqs-a", &["damaged.json.gz"]));

    let mut expected: Vec<String> = (0..7).flat_map(|i| golden_payloads(&f(i))).collect();
    expected = sorted(expected);

    // One long poll at a time: the counts below are exact, and moto's
    // ReceiveMessage can hand one message to two concurrent long polls.
    let p = Plugin::init(&config(
        m,
        r#""sqsVisibilitySeconds":60,"s3DownloadConcurrency":4,"sqsReceiveConcurrency":1"#,
    ))
    .unwrap();
    let mut src = p.open("sqs://mixed").unwrap();
    let mut got = Vec::new();
    // 13 messages: 11 handled (deleted), 2 left (garbage, missing file).
    src.collect_until(&mut got, Duration::from_secs(60), |got| {
        got.len() >= expected.len() && p.metric("sqs_messages_deleted") == 11
    });
    // A little longer: nothing else may arrive.
    src.collect_until(&mut got, Duration::from_secs(5), {
        let t = Instant::now();
        move |_| t.elapsed() > Duration::from_millis(1500)
    });
    let (pct, text) = src.progress();
    assert!(text.ends_with("/9 files"), "{text} ({pct})");
    drop(src);
    assert_eq!(sorted(got), expected, "payloads differ from the goldens");
    assert_eq!(p.metric("sqs_messages_received"), 13);
    assert_eq!(p.metric("sqs_messages_deleted"), 11);
    assert_eq!(p.metric("sqs_messages_poisoned"), 2);
    // S3 test event, validation message, confirmation, digest-only.
    assert_eq!(p.metric("sqs_messages_ignored"), 4);
    assert_eq!(p.metric("files_failed"), 2, "missing and damaged");
    let (visible, hidden) = m.queue_depth(&q);
    assert_eq!(visible + hidden, 2, "only the two poison messages are left");
    let logs: Vec<String> = p.log_lines().into_iter().map(|l| l.1).collect();
    let has = |s: &str| logs.iter().any(|l| l.contains(s));
    assert!(has("ConfirmSubscription&Token=t"), "{logs:#?}");
    assert!(has("left in the queue"), "{logs:#?}");
    assert!(has("damaged.json.gz"), "{logs:#?}");
}

#[test]
fn closing_half_way_makes_undelivered_messages_visible_again() {
    let m = moto();
    let q = m.create_queue("halfway");
    let files: Vec<String> = BIG.iter().map(|n| corpus(n)).collect();
    m.announce(
        &q,
        "sqs-halfway",
        &files.iter().map(|f| corpus_gz(f)).collect::<Vec<_>>(),
    );
    let expected: BTreeSet<String> = files.iter().flat_map(|f| golden_payloads(f)).collect();
    // A visibility timeout far longer than the test: only the release on close can
    // make the second reader see the undelivered messages.
    let cfg = config(m, r#""sqsVisibilitySeconds":600,"s3DownloadConcurrency":1"#);
    let p = Plugin::init(&cfg).unwrap();
    let mut first = Vec::new();
    {
        let mut src = p.open("sqs://halfway").unwrap();
        src.collect_until(&mut first, Duration::from_secs(30), |g| !g.is_empty());
    }
    assert!(first.len() < expected.len());
    let p2 = Plugin::init(&cfg).unwrap();
    let mut second = Vec::new();
    let mut src = p2.open("sqs://halfway").unwrap();
    src.collect_until(&mut second, Duration::from_secs(30), |g| {
        let seen: BTreeSet<&String> = first.iter().chain(g).collect();
        expected.iter().all(|e| seen.contains(e))
    });
    drop(src);
    assert!(p2.metric("sqs_messages_received") >= 1);
    let (visible, hidden) = m.queue_depth(&q);
    assert_eq!(
        (visible, hidden),
        (0, 0),
        "every message deleted in the end"
    );
}

#[test]
fn a_crashed_reader_loses_nothing() {
    let m = moto();
    let q = m.create_queue("crash");
    let files: Vec<String> = BIG.iter().map(|n| corpus(n)).collect();
    m.announce(
        &q,
        "sqs-crash",
        &files.iter().map(|f| corpus_gz(f)).collect::<Vec<_>>(),
    );
    let expected: BTreeSet<String> = files
        .iter()
        .flat_map(|f| golden_payloads(f))
        .map(|p| event_id(&p))
        .collect();
    let cfg = config(m, r#""sqsVisibilitySeconds":3,"s3DownloadConcurrency":1"#);
    common::crash_then_recover(&cfg, "crash", &expected);
    assert_eq!(m.queue_depth(&q), (0, 0));
}

#[test]
fn two_readers_share_one_queue() {
    let m = moto();
    let q = m.create_queue("shared");
    let files: Vec<String> = FILES.iter().chain(BIG).map(|n| corpus(n)).collect();
    m.announce(
        &q,
        "sqs-shared",
        &files.iter().map(|f| corpus_gz(f)).collect::<Vec<_>>(),
    );
    let mut owner = BTreeMap::new();
    let mut total = 0;
    for (i, f) in files.iter().enumerate() {
        for p in golden_payloads(f) {
            owner.insert(p, i);
            total += 1;
        }
    }
    // One long poll each (as before concurrent receivers): moto's ReceiveMessage
    // is not atomic, and this test counts every event exactly.
    let cfg = config(
        m,
        r#""sqsVisibilitySeconds":60,"s3DownloadConcurrency":1,"sqsReceiveConcurrency":1"#,
    );
    let (p1, p2) = (Plugin::init(&cfg).unwrap(), Plugin::init(&cfg).unwrap());
    let (mut s1, mut s2) = (
        p1.open("sqs://shared").unwrap(),
        p2.open("sqs://shared").unwrap(),
    );
    let (mut got1, mut got2) = (Vec::new(), Vec::new());
    let end = Instant::now() + Duration::from_secs(60);
    while got1.len() + got2.len() < total {
        assert!(Instant::now() < end, "timed out");
        for (s, got) in [(&mut s1, &mut got1), (&mut s2, &mut got2)] {
            match s.next_batch() {
                Batch::Events(evs, _) => got.extend(
                    evs.iter()
                        .map(|e| String::from_utf8(e.payload.clone()).unwrap()),
                ),
                Batch::Failure(e) => panic!("{e}"),
            }
        }
    }
    drop((s1, s2));
    assert_eq!(
        got1.len() + got2.len(),
        total,
        "an event was delivered twice"
    );
    let files = |got: &[String]| -> BTreeSet<usize> { got.iter().map(|p| owner[p]).collect() };
    let (f1, f2) = (files(&got1), files(&got2));
    assert!(
        f1.is_disjoint(&f2),
        "a file was read by both: {f1:?} {f2:?}"
    );
    assert_eq!(f1.len() + f2.len(), FILES.len() + BIG.len());
    assert!(
        !f1.is_empty() && !f2.is_empty(),
        "one reader did all the work"
    );
    assert_eq!(m.queue_depth(&q), (0, 0));
}

#[test]
fn missing_queue_fails_the_open_and_bad_settings_are_named() {
    let m = moto();
    let p = Plugin::init(&config(m, r#""sqsVisibilitySeconds":60"#)).unwrap();
    let e = p.open("sqs://no-such-queue").err().unwrap();
    assert!(
        e.contains("no-such-queue") && e.contains("does not exist"),
        "{e}"
    );
    let p = Plugin::init(&format!("{{{},\"sqsWaitSeconds\":25}}", m.aws_config())).unwrap();
    let e = p.open("sqs://whatever").err().unwrap();
    assert!(e.contains("sqsWaitSeconds"), "{e}");
}

#[test]
fn an_idle_queue_times_out_and_closes_promptly() {
    let m = moto();
    m.create_queue("idle");
    let p = Plugin::init(&config(m, r#""sqsVisibilitySeconds":60"#)).unwrap();
    let mut src = p.open("sqs://idle").unwrap();
    for _ in 0..5 {
        match src.next_batch() {
            Batch::Events(evs, rc) => {
                assert!(evs.is_empty());
                assert_eq!(rc, falco_plugin_api::ss_plugin_rc_SS_PLUGIN_TIMEOUT);
            }
            Batch::Failure(e) => panic!("{e}"),
        }
    }
    let (_, text) = src.progress();
    assert_eq!(text, "NaN% - 0/0 files");
    // The poller is inside a long poll (1 s here); close waits for it, not longer.
    let t = Instant::now();
    drop(src);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}
