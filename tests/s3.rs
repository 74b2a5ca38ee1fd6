//! S3 mode against a real S3 API (moto on 127.0.0.1), through the plugin's own HTTP,
//! signing and listing code, loaded as the `.so`.

mod common;

use std::sync::OnceLock;

use common::moto::{Moto, moto};
use common::{corpus_gz, drain_payloads, golden_payloads};

const INV1: &str = "invictus-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1145Z_7xgocspSowgK0Gto.json";
const INV2: &str = "invictus-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1150Z_1vnLavRRp0ek1mP4.json";
const TRAILSCRAPER: &str =
    "trailscraper/111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json.gz";
const LOKI: &str = "loki-lambda-promtail/cloudtrail-log-file.json.gz";
const SERIALIZER: &str = "aws-cloudtrail-processing-library/SerializerTestFile.json";
const MISSFIELD: &str = "aws-cloudtrail-processing-library/SerializerTestFileMissField.json";

/// The objects, by bucket: (key, corpus file).
const ROOT: &[(&str, &str)] = &[
    (
        "AWSLogs/111111111111/CloudTrail/eu-west-1/2023/07/10/111111111111_CloudTrail_eu-west-1_20230710T1200Z_efgh.json.gz",
        LOKI,
    ),
    (
        "AWSLogs/111111111111/CloudTrail/us-east-1/2023/07/10/111111111111_CloudTrail_us-east-1_20230710T1145Z_abcd.json.gz",
        INV1,
    ),
    (
        "AWSLogs/111111111111/CloudTrail/us-east-1/2023/07/11/111111111111_CloudTrail_us-east-1_20230711T0900Z_ijkl.json.gz",
        TRAILSCRAPER,
    ),
    (
        "AWSLogs/333333333333/CloudTrail/us-east-1/2023/07/12/333333333333_CloudTrail_us-east-1_20230712T0000Z_mnop.json.gz",
        MISSFIELD,
    ),
    (
        "AWSLogs/o-abcdefghij/222222222222/CloudTrail/us-east-1/2023/07/10/222222222222_CloudTrail_us-east-1_20230710T1300Z_qrst.json.gz",
        SERIALIZER,
    ),
];

fn setup() -> &'static Moto {
    static READY: OnceLock<()> = OnceLock::new();
    let m = moto();
    READY.get_or_init(|| {
        m.create_bucket("ct-root");
        for (key, src) in ROOT {
            m.put("ct-root", key, &corpus_gz(src));
        }
        // A digest file, which must never be read.
        m.put(
            "ct-root",
            "AWSLogs/111111111111/CloudTrail-Digest/us-east-1/2023/07/10/111111111111_CloudTrail-Digest_us-east-1_t_us-east-1_20230710T120000Z.json.gz",
            &corpus_gz(INV2),
        );
        m.create_bucket("ct-prefixed");
        m.put(
            "ct-prefixed",
            "trail/AWSLogs/444444444444/CloudTrail/us-east-1/2023/07/10/444444444444_CloudTrail_us-east-1_20230710T1150Z_uvwx.json.gz",
            &corpus_gz(INV2),
        );
        m.put("ct-prefixed", "other/x.json.gz", &corpus_gz(LOKI));
        m.create_bucket("ct-plain");
        m.put("ct-plain", "exports/a.json", &std::fs::read(common::shared().join("testdata/cloudtrail").join(INV2)).unwrap());
        m.put("ct-plain", "exports/b.json.gz", &corpus_gz(TRAILSCRAPER));
        m.put("ct-plain", "exports/notes.txt", b"not a log");
        m.create_bucket("ct-empty");
    });
    m
}

fn config(extra: &str) -> String {
    let m = setup();
    if extra.is_empty() {
        format!("{{{}}}", m.aws_config())
    } else {
        format!("{{{},{extra}}}", m.aws_config())
    }
}

fn expected(files: &[&str]) -> Vec<String> {
    files.iter().flat_map(|f| golden_payloads(f)).collect()
}

fn root_files(pick: &[usize]) -> Vec<&'static str> {
    pick.iter().map(|&i| ROOT[i].1).collect()
}

#[test]
fn bucket_root_reads_every_log_in_key_order_and_skips_digests() {
    let got = drain_payloads(&config(""), "s3://ct-root").unwrap();
    assert_eq!(got, expected(&root_files(&[0, 1, 2, 3, 4])));
    let got = drain_payloads(&config(""), "s3://ct-root/").unwrap();
    assert_eq!(got.len(), expected(&root_files(&[0, 1, 2, 3, 4])).len());
}

#[test]
fn account_and_organisation_prefixes() {
    let acct = drain_payloads(&config(""), "s3://ct-root/AWSLogs/111111111111/").unwrap();
    assert_eq!(acct, expected(&root_files(&[0, 1, 2])));
    let acct_no_slash = drain_payloads(&config(""), "s3://ct-root/AWSLogs/111111111111").unwrap();
    assert_eq!(acct_no_slash, acct);
    let org = drain_payloads(&config(""), "s3://ct-root/AWSLogs/o-abcdefghij/").unwrap();
    assert_eq!(org, expected(&root_files(&[4])));
    let trail =
        drain_payloads(&config(""), "s3://ct-root/AWSLogs/111111111111/CloudTrail/").unwrap();
    assert_eq!(trail, acct);
    let region = drain_payloads(
        &config(""),
        "s3://ct-root/AWSLogs/111111111111/CloudTrail/us-east-1/",
    )
    .unwrap();
    assert_eq!(region, expected(&root_files(&[1, 2])));
}

#[test]
fn account_list_applies_at_any_level() {
    let c = config(r#""s3AccountList":"222222222222, 333333333333""#);
    assert_eq!(
        drain_payloads(&c, "s3://ct-root").unwrap(),
        expected(&root_files(&[3, 4]))
    );
    assert_eq!(
        drain_payloads(&c, "s3://ct-root/AWSLogs/").unwrap(),
        expected(&root_files(&[3, 4]))
    );
    // As a number (Falco's YAML conversion turns account ids into numbers).
    let c = config(r#""s3AccountList":222222222222"#);
    assert_eq!(
        drain_payloads(&c, "s3://ct-root").unwrap(),
        expected(&root_files(&[4]))
    );
    let e = drain_payloads(&config(r#""s3AccountList":"12345""#), "s3://ct-root").unwrap_err();
    assert!(e.contains("invalid account list"), "{e}");
}

#[test]
fn intervals_select_by_key_time() {
    let c = config(r#""s3Interval":"2023-07-10T11:50:00Z-2023-07-10T12:30:00Z""#);
    assert_eq!(
        drain_payloads(&c, "s3://ct-root").unwrap(),
        expected(&root_files(&[0]))
    );
    let c = config(r#""s3Interval":"2023-07-11T00:00:00Z""#);
    assert_eq!(
        drain_payloads(&c, "s3://ct-root").unwrap(),
        expected(&root_files(&[2, 3]))
    );
    let c = config(r#""s3Interval":"2023-07-10T13:00:00Z-2023-07-11T09:00:00Z""#);
    assert_eq!(
        drain_payloads(&c, "s3://ct-root").unwrap(),
        expected(&root_files(&[2, 4]))
    );
    // Relative forms: the 2023 logs are all older than five days.
    for rel in ["5d", "12h", "30m", "2w", "5d-2d", "2023-07-10T00:00:00Z-1d"] {
        let c = config(&format!(r#""s3Interval":"{rel}""#));
        let got = drain_payloads(&c, "s3://ct-root").unwrap();
        if rel.starts_with("2023") {
            assert_eq!(got, expected(&root_files(&[0, 1, 2, 3, 4])), "{rel}");
        } else {
            assert!(got.is_empty(), "{rel}");
        }
    }
    let e = drain_payloads(&config(r#""s3Interval":"yesterday""#), "s3://ct-root").unwrap_err();
    assert!(e.contains("invalid interval"), "{e}");
}

#[test]
fn trail_prefix_and_plain_prefix() {
    assert_eq!(
        drain_payloads(&config(""), "s3://ct-prefixed/trail").unwrap(),
        expected(&[INV2])
    );
    assert_eq!(
        drain_payloads(&config(""), "s3://ct-prefixed/trail/").unwrap(),
        expected(&[INV2])
    );
    // Not a CloudTrail layout: every log file under the prefix, in key order.
    assert_eq!(
        drain_payloads(&config(""), "s3://ct-plain/exports/").unwrap(),
        expected(&[INV2, TRAILSCRAPER])
    );
}

#[test]
fn empty_selection_is_eof_and_missing_bucket_fails_open() {
    assert!(
        drain_payloads(&config(""), "s3://ct-empty")
            .unwrap()
            .is_empty()
    );
    assert!(
        drain_payloads(&config(""), "s3://ct-root/AWSLogs/999999999999/")
            .unwrap()
            .is_empty()
    );
    let e = drain_payloads(&config(""), "s3://no-such-bucket/x").unwrap_err();
    assert!(
        e.contains("NoSuchBucket") && e.contains("no-such-bucket"),
        "{e}"
    );
    let e = drain_payloads(&config(r#""s3DownloadConcurrency":0"#), "s3://ct-root").unwrap_err();
    assert!(e.contains("s3DownloadConcurrency"), "{e}");
}

#[test]
fn tiny_read_ahead_and_one_worker_keep_order() {
    let c = config(r#""s3MaxBufferedBytes":1,"s3DownloadConcurrency":1"#);
    assert_eq!(
        drain_payloads(&c, "s3://ct-root").unwrap(),
        expected(&root_files(&[0, 1, 2, 3, 4]))
    );
    let c = config(r#""s3MaxBufferedBytes":1,"s3DownloadConcurrency":64"#);
    assert_eq!(
        drain_payloads(&c, "s3://ct-root").unwrap(),
        expected(&root_files(&[0, 1, 2, 3, 4]))
    );
}
