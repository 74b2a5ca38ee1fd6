//! Network faults between the plugin and the AWS endpoint (a fault-injecting proxy in
//! front of moto): retries recover without losing or duplicating an event, and when
//! they run out the error says what failed.

mod common;

use std::time::Duration;

use common::faults::{Fault, Proxy};
use common::moto::moto;
use common::{Plugin, corpus_gz, drain_payloads, golden_payloads};

const FILES: &[&str] = common::BIG_FILES;

fn corpus(i: usize) -> String {
    common::invictus(FILES[i])
}

#[test]
fn s3_retries_recover_from_errors_resets_truncation_and_stalls() {
    let m = moto();
    m.create_bucket("ct-faults");
    let mut expected = Vec::new();
    for i in 0..FILES.len() {
        m.put(
            "ct-faults",
            &format!("f{i}.json.gz"),
            &corpus_gz(&corpus(i)),
        );
        expected.extend(golden_payloads(&corpus(i)));
    }
    let proxy = Proxy::start(&m.base);
    let rules: &[(&str, Fault, usize)] = &[
        ("GET /ct-faults/?", Fault::Status(503, "SlowDown"), 1),
        ("GET /ct-faults/f0", Fault::Status(500, "InternalError"), 2),
        ("GET /ct-faults/f1", Fault::Status(503, "SlowDown"), 1),
        ("GET /ct-faults/f2", Fault::Reset, 1),
        ("GET /ct-faults/f3", Fault::Truncate, 2),
        ("GET /ct-faults/f4", Fault::Stall(Duration::from_secs(8)), 1),
        ("GET /ct-faults/f5", Fault::Status(429, "Throttling"), 1),
    ];
    for (text, fault, times) in rules {
        proxy.inject(text, *fault, *times);
    }
    let cfg = format!(
        "{{{},\"s3DownloadConcurrency\":3}}",
        m.aws_config_via(&proxy.base)
    );
    let p = Plugin::init(&cfg).unwrap();
    let mut src = p.open("s3://ct-faults").unwrap();
    let mut got = Vec::new();
    src.drain(|_, _, e| got.push(String::from_utf8(e.payload.clone()).unwrap()))
        .unwrap();
    drop(src);
    for (text, _, times) in rules {
        assert_eq!(proxy.hits(text), *times, "{text}");
    }
    assert_eq!(got.len(), expected.len(), "events lost or duplicated");
    assert!(
        got == expected,
        "events differ from the goldens or are out of order"
    );
    assert_eq!(p.metric("files_read"), FILES.len() as u64);
    assert_eq!(p.metric("files_failed"), 0);
    assert!(p.metric("retries") >= 9, "{}", p.metric("retries"));
}

#[test]
fn s3_errors_name_the_object_when_retries_run_out() {
    let m = moto();
    m.create_bucket("ct-faults-out");
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        m.put(
            "ct-faults-out",
            &format!("{name}.json.gz"),
            &corpus_gz(&corpus(i)),
        );
    }
    m.create_bucket("ct-faults-nolist");
    let proxy = Proxy::start(&m.base);
    proxy.inject(
        "GET /ct-faults-out/b.json.gz",
        Fault::Status(500, "InternalError"),
        100,
    );
    proxy.inject(
        "GET /ct-faults-nolist/",
        Fault::Status(503, "SlowDown"),
        100,
    );
    let cfg = format!("{{{}}}", m.aws_config_via(&proxy.base));
    let p = Plugin::init(&cfg).unwrap();
    let got = {
        let mut src = p.open("s3://ct-faults-out").unwrap();
        let mut got = Vec::new();
        src.drain(|_, _, e| got.push(String::from_utf8(e.payload.clone()).unwrap()))
            .unwrap();
        got
    };
    let expected: Vec<String> = [0, 2]
        .iter()
        .flat_map(|&i| golden_payloads(&corpus(i)))
        .collect();
    assert_eq!(got, expected, "the good objects are read, in order");
    assert_eq!(proxy.hits("GET /ct-faults-out/b.json.gz"), 5, "5 attempts");
    let errs: Vec<String> = p
        .log_lines()
        .into_iter()
        .filter(|(sev, _)| *sev <= 3)
        .map(|(_, m)| m)
        .collect();
    assert!(
        errs.iter()
            .any(|e| e.contains("s3://ct-faults-out/b.json.gz")
                && e.contains("gave up after 5 attempts")),
        "{errs:#?}"
    );
    assert_eq!(p.metric("files_failed"), 1);
    // Failed requests are reported without their credentials or signatures.
    for (_, line) in p.log_lines() {
        assert!(
            !line.contains("moto-secret-never-logged")
                && !line.contains("Signature=")
                && !line.contains("Credential="),
            "{line}"
        );
    }
    let e = drain_payloads(&cfg, "s3://ct-faults-nolist").unwrap_err();
    assert!(
        !e.contains("moto-secret-never-logged") && !e.contains("Signature="),
        "{e}"
    );
    assert!(
        e.contains("ct-faults-nolist") && e.contains("SlowDown") && e.contains("gave up"),
        "{e}"
    );
}

#[test]
fn sqs_survives_receive_delete_and_download_faults() {
    let m = moto();
    let q = m.create_queue("faults");
    let files: Vec<String> = (0..3).map(corpus).collect();
    m.announce(
        &q,
        "ct-faults-sqs",
        &files.iter().map(|f| corpus_gz(f)).collect::<Vec<_>>(),
    );
    let mut expected: Vec<String> = files.iter().flat_map(|f| golden_payloads(f)).collect();
    expected.sort();
    let proxy = Proxy::start(&m.base);
    proxy.inject(
        "AmazonSQS.ReceiveMessage",
        Fault::Status(500, "InternalError"),
        2,
    );
    proxy.inject(
        "AmazonSQS.DeleteMessageBatch",
        Fault::Status(503, "ServiceUnavailable"),
        1,
    );
    proxy.inject("GET /ct-faults-sqs/f1.json.gz", Fault::Reset, 1);
    let cfg = format!(
        "{{{},\"sqsWaitSeconds\":1,\"sqsVisibilitySeconds\":60}}",
        m.aws_config_via(&proxy.base)
    );
    let p = Plugin::init(&cfg).unwrap();
    let mut src = p.open("sqs://faults").unwrap();
    let mut got = Vec::new();
    src.collect_until(&mut got, Duration::from_secs(60), |got| {
        got.len() >= expected.len() && p.metric("sqs_messages_deleted") >= 3
    });
    drop(src);
    got.sort();
    assert!(got == expected, "events lost or duplicated");
    assert_eq!(proxy.hits("AmazonSQS.ReceiveMessage"), 2);
    assert_eq!(proxy.hits("AmazonSQS.DeleteMessageBatch"), 1);
    assert_eq!(proxy.hits("GET /ct-faults-sqs/f1.json.gz"), 1);
    assert_eq!(m.queue_depth(&q), (0, 0));
}
