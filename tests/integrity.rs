//! Log file integrity validation (`logFileValidation`) against moto on 127.0.0.1:
//! digests written as CloudTrail writes them (gzip JSON, the signature in the object's
//! metadata, chained hour to hour), signed with test RSA keys
//! (`testdata/integrity/`), CloudTrail's `ListPublicKeys` answered by a proxy in
//! front of moto (moto lacks it). Each case reads a bucket through the `.so` and
//! asserts the exact integrity events; the clean trail is also validated by the AWS
//! CLI's own `cloudtrail validate-logs`, a reference that is not ours.

mod common;

use std::collections::BTreeSet;

use common::Plugin;
use common::faults::{Fault, Proxy};
use common::files::{event, gz, records_file};
use common::moto::{Moto, moto};
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";
const TRAIL: &str = "org-trail";
/// 2024-03-01T00:00:00Z: long enough ago that every grace period has passed.
const T0: i64 = 1_709_251_200;
const HOUR: i64 = 3600;

fn testdata(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/integrity")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

struct Key {
    pair: RsaKeyPair,
    public: Vec<u8>,
    fingerprint: String,
}

fn test_key(n: u32) -> Key {
    let public = testdata(&format!("key{n}.public.der"));
    let pair = RsaKeyPair::from_der(&testdata(&format!("key{n}.private.der"))).unwrap();
    let fingerprint = cloudtrail::integrity::sha256_hex(&public)[..32].to_string();
    Key {
        pair,
        public,
        fingerprint,
    }
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// moto behind a proxy that answers `ListPublicKeys` with `keys`; the plugin's init
/// config (log file validation on, `extra` more) and the proxy.
fn endpoint(m: &Moto, keys: &[&Key], extra: &str) -> (String, Proxy) {
    let proxy = Proxy::start(&m.base);
    let list: Vec<String> = keys
        .iter()
        .map(|k| {
            format!(
                r#"{{"Value":"{}","ValidityStartTime":1.5E9,"ValidityEndTime":2.5E9,"Fingerprint":"{}"}}"#,
                base64(&k.public),
                k.fingerprint
            )
        })
        .collect();
    let body: &'static str =
        Box::leak(format!(r#"{{"PublicKeyList":[{}]}}"#, list.join(",")).into_boxed_str());
    proxy.inject("ListPublicKeys", Fault::Answer(body), usize::MAX);
    let cfg = format!(
        "{{{},\"logFileValidation\":true{extra}}}",
        m.aws_config_via(&proxy.base)
    );
    (cfg, proxy)
}

fn stamp(secs: i64) -> String {
    let s = cloudtrail::interval::rfc3339(secs);
    s.replace(['-', ':'], "")
}

fn day_path(secs: i64) -> String {
    let s = cloudtrail::interval::rfc3339(secs);
    format!("{}/{}/{}", &s[0..4], &s[5..7], &s[8..10])
}

/// A log file key of the trail, named at `secs`.
fn log_key(secs: i64, id: &str) -> String {
    format!(
        "AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/{}/{ACCOUNT}_CloudTrail_{REGION}_{}Z_{id}.json.gz",
        day_path(secs),
        &stamp(secs)[..13]
    )
}

fn digest_key(end: i64, backfill: bool) -> String {
    format!(
        "AWSLogs/{ACCOUNT}/CloudTrail-Digest/{REGION}/{}/{ACCOUNT}_CloudTrail-Digest_{REGION}_{TRAIL}_{REGION}_{}{}.json.gz",
        day_path(end),
        stamp(end),
        if backfill { "_backfill" } else { "" }
    )
}

/// A log file in the bucket: its key and the SHA-256 of its uncompressed content.
struct Log {
    key: String,
    hash: String,
}

/// Writes a log file of two events named at `secs`; `tamper` writes other content
/// under the same key after the hash was taken (a modification).
fn put_log(m: &Moto, bucket: &str, secs: i64, id: &str, first: usize, tamper: bool) -> Log {
    let key = log_key(secs, id);
    let text = records_file(&[event(first, ""), event(first + 1, "")]);
    let hash = cloudtrail::integrity::sha256_hex(text.as_bytes());
    let stored = if tamper {
        text.replace("GetObject", "PutObject")
    } else {
        text
    };
    m.put(bucket, &key, &gz(stored.as_bytes()));
    Log { key, hash }
}

/// A digest as written, for the next one to chain to.
#[derive(Clone)]
struct Signed {
    key: String,
    signature: String,
    hash: String,
    end: i64,
}

struct DigestSpec<'a> {
    /// The hour it covers ends here.
    end: i64,
    logs: Vec<(&'a str, &'a str)>,
    previous: Option<&'a Signed>,
    signer: &'a Key,
    backfill: bool,
    /// Changes to the written digest: a forged signature, a wrong previous signature,
    /// signed by the key CloudTrail does not list (test key 2).
    forge_signature: bool,
    wrong_previous: bool,
    unknown_key: bool,
}

impl<'a> DigestSpec<'a> {
    fn new(
        end: i64,
        logs: Vec<(&'a str, &'a str)>,
        previous: Option<&'a Signed>,
        signer: &'a Key,
    ) -> Self {
        DigestSpec {
            end,
            logs,
            previous,
            signer,
            backfill: false,
            forge_signature: false,
            wrong_previous: false,
            unknown_key: false,
        }
    }
}

/// Writes a digest as CloudTrail does: gzip JSON, signed over its end time, its
/// place, the SHA-256 of its content and the previous signature (`null` first).
fn put_digest(m: &Moto, bucket: &str, d: DigestSpec) -> Signed {
    let key = digest_key(d.end, d.backfill);
    let t = cloudtrail::interval::rfc3339;
    let files: Vec<String> = d
        .logs
        .iter()
        .map(|(k, h)| {
            format!(
                r#"{{"s3Bucket":"{bucket}","s3Object":"{k}","hashValue":"{h}","hashAlgorithm":"SHA-256","newestEventTime":"{}","oldestEventTime":"{}"}}"#,
                t(d.end - 60),
                t(d.end - HOUR)
            )
        })
        .collect();
    let previous_signature = d.previous.map(|p| {
        if d.wrong_previous {
            "00".repeat(256)
        } else {
            p.signature.clone()
        }
    });
    let prev = match d.previous {
        Some(p) => format!(
            r#""previousDigestS3Bucket":"{bucket}","previousDigestS3Object":"{}","previousDigestHashValue":"{}","previousDigestHashAlgorithm":"SHA-256","previousDigestSignature":"{}""#,
            p.key,
            p.hash,
            previous_signature.as_deref().unwrap()
        ),
        None => r#""previousDigestSignature":null"#.to_string(),
    };
    let signer_fingerprint = if d.unknown_key {
        test_key(2).fingerprint
    } else {
        d.signer.fingerprint.clone()
    };
    let content = format!(
        r#"{{"awsAccountId":"{ACCOUNT}","digestStartTime":"{}","digestEndTime":"{}","digestS3Bucket":"{bucket}","digestS3Object":"{key}","digestPublicKeyFingerprint":"{}","digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":"{}","oldestEventTime":"{}",{prev},"logFiles":[{}]}}"#,
        t(d.end - HOUR),
        t(d.end),
        signer_fingerprint,
        t(d.end - 60),
        t(d.end - HOUR),
        files.join(",")
    );
    let hash = cloudtrail::integrity::sha256_hex(content.as_bytes());
    let other = test_key(2);
    let signer = if d.unknown_key { &other } else { d.signer };
    let signed_text = format!(
        "{}\n{bucket}/{key}\n{hash}\n{}",
        t(d.end),
        previous_signature.as_deref().unwrap_or("null")
    );
    let rng = ring::rand::SystemRandom::new();
    let mut sig = vec![0; signer.pair.public().modulus_len()];
    signer
        .pair
        .sign(&RSA_PKCS1_SHA256, &rng, signed_text.as_bytes(), &mut sig)
        .unwrap();
    if d.forge_signature {
        sig[10] ^= 0x40;
    }
    let signature = cloudtrail::integrity::hex(&sig);
    let generated = t(d.end + 7200);
    let mut headers = vec![
        ("x-amz-meta-signature", signature.as_str()),
        ("x-amz-meta-signature-algorithm", "SHA256withRSA"),
    ];
    if d.backfill {
        headers.push((
            "x-amz-meta-backfill-generation-timestamp",
            generated.as_str(),
        ));
    }
    m.put_with(bucket, &key, &gz(content.as_bytes()), &headers);
    Signed {
        key,
        signature,
        hash,
        end: d.end,
    }
}

/// A trail over `hours` hours from `T0`: two log files an hour and a chained digest
/// for each hour, one more digest after the last (so every file's hour is covered
/// two hours on). `per_hour` may change what each hour writes.
struct Trail {
    logs: Vec<Vec<Log>>,
    digests: Vec<Signed>,
}

/// What the plugin emitted from `bucket`: the integrity events as (eventName, the
/// log or digest key they name), and how many CloudTrail events came with them.
fn read(cfg: &str, bucket: &str) -> (BTreeSet<(String, String)>, usize, Plugin) {
    let p = Plugin::init(cfg).unwrap();
    let mut found = BTreeSet::new();
    let mut others = 0;
    p.open(&format!("s3://{bucket}"))
        .unwrap()
        .drain(|_, _, e| {
            let v: serde_json::Value = serde_json::from_slice(&e.payload).unwrap();
            if v["eventSource"] == "integrity.cloudtrail-plugin" {
                let r = &v["requestParameters"];
                let named = r["key"].as_str().or(r["digestFile"].as_str()).unwrap_or("");
                found.insert((
                    v["eventName"].as_str().unwrap().to_string(),
                    named.to_string(),
                ));
            } else {
                others += 1;
            }
        })
        .unwrap();
    (found, others, p)
}

fn expect(found: &BTreeSet<(String, String)>, want: &[(&str, &str)]) {
    let want: BTreeSet<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(*found, want);
}

/// Writes the standard trail into `bucket`: `hours` hours of two files each, with a
/// digest per hour and one more. `hour_logs(h, logs)` may replace what digest `h`
/// lists; `spec(h, spec)` may change digest `h` before it is written (`None`: skip it).
fn trail(
    m: &Moto,
    bucket: &str,
    signer: &Key,
    hours: usize,
    tamper: impl FnMut(usize, usize) -> bool,
    spec: impl FnMut(usize, DigestSpec) -> Option<DigestSpec>,
) -> Trail {
    trail_from(m, bucket, signer, T0, hours, tamper, spec)
}

/// A clean three-hour [`trail`] but for the digest of hour `hour`, changed by `change`.
fn trail_with_digest(
    m: &Moto,
    bucket: &str,
    signer: &Key,
    hour: usize,
    change: fn(&mut DigestSpec),
) -> Trail {
    trail(
        m,
        bucket,
        signer,
        3,
        |_, _| false,
        |h, mut d| {
            if h == hour {
                change(&mut d);
            }
            Some(d)
        },
    )
}

/// [`trail`] from another start time.
fn trail_from(
    m: &Moto,
    bucket: &str,
    signer: &Key,
    t0: i64,
    hours: usize,
    mut tamper: impl FnMut(usize, usize) -> bool,
    mut spec: impl FnMut(usize, DigestSpec) -> Option<DigestSpec>,
) -> Trail {
    m.create_bucket(bucket);
    let mut logs = Vec::new();
    for h in 0..hours {
        let start = t0 + h as i64 * HOUR;
        logs.push(
            (0..2)
                .map(|i| {
                    put_log(
                        m,
                        bucket,
                        start + 300 + 900 * i as i64,
                        &format!("h{h}f{i}"),
                        10 * h + 2 * i,
                        tamper(h, i),
                    )
                })
                .collect::<Vec<_>>(),
        );
    }
    let mut digests: Vec<Signed> = Vec::new();
    for h in 0..=hours {
        let listed: Vec<(&str, &str)> = logs
            .get(h)
            .map(|l| {
                l.iter()
                    .map(|x| (x.key.as_str(), x.hash.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        // Digests end a minute and a half after the hour, as CloudTrail's do.
        let end = t0 + (h as i64 + 1) * HOUR + 91;
        let previous = digests.last().cloned();
        let d = DigestSpec::new(end, listed, previous.as_ref(), signer);
        if let Some(d) = spec(h, d) {
            let written = put_digest(m, bucket, d);
            digests.push(written);
        } else {
            // Not written: the next one still names it.
            digests.push(Signed {
                key: digest_key(end, false),
                signature: "ab".repeat(256),
                hash: "cd".repeat(32),
                end,
            });
        }
    }
    Trail { logs, digests }
}

#[test]
fn a_clean_trail_raises_nothing_and_the_aws_cli_agrees() {
    let m = moto();
    let k = test_key(1);
    let t = trail(m, "iv-clean", &k, 3, |_, _| false, |_, d| Some(d));
    let (cfg, proxy) = endpoint(m, &[&k], "");
    let (found, others, p) = read(&cfg, "iv-clean");
    expect(&found, &[]);
    assert_eq!(others, 12, "every log event still arrives");
    assert_eq!(p.metric("integrity_digests_valid"), 4);
    assert_eq!(p.metric("integrity_log_files_valid"), 6);
    assert!(proxy.hits("ListPublicKeys") >= 1);
    assert_eq!(t.digests.len(), 4);
    let (ok, text) = aws_cli(m, &proxy, "iv-clean");
    assert!(ok, "validate-logs failed:\n{text}");
    assert!(text.contains("4/4 digest files valid"), "{text}");
    assert!(text.contains("6/6 log files valid"), "{text}");
}

/// The AWS CLI's `cloudtrail validate-logs` on a bucket (S3 from moto,
/// `ListPublicKeys` from the proxy): whether it found everything valid, and what it
/// printed.
fn aws_cli(m: &Moto, proxy: &Proxy, bucket: &str) -> (bool, String) {
    let aws = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/aws");
    assert!(
        aws.is_file(),
        "{} is missing: .ci/run installs awscli into the venv",
        aws.display()
    );
    let out = std::process::Command::new(&aws)
        .args([
            "cloudtrail",
            "validate-logs",
            "--trail-arn",
            &format!("arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/{TRAIL}"),
            "--s3-bucket",
            bucket,
            "--start-time",
            &cloudtrail::interval::rfc3339(T0),
            "--end-time",
            &cloudtrail::interval::rfc3339(T0 + 5 * HOUR),
            "--endpoint-url",
            &proxy.base,
            "--region",
            REGION,
            "--verbose",
        ])
        .env("AWS_ENDPOINT_URL_S3", &m.base)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("run the AWS CLI");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn a_modified_file_is_reported_with_both_hashes() {
    let m = moto();
    let k = test_key(1);
    let t = trail(
        m,
        "iv-modified",
        &k,
        3,
        |h, i| (h, i) == (1, 0),
        |_, d| Some(d),
    );
    let (cfg, proxy) = endpoint(m, &[&k], "");
    let p = Plugin::init(&cfg).unwrap();
    let mut events = Vec::new();
    p.open("s3://iv-modified")
        .unwrap()
        .drain(|_, _, e| {
            let v: serde_json::Value = serde_json::from_slice(&e.payload).unwrap();
            if v["eventSource"] == "integrity.cloudtrail-plugin" {
                events.push(v);
            }
        })
        .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    let modified = &t.logs[1][0];
    assert_eq!(e["eventName"], "LogFileModified");
    assert_eq!(e["eventType"], "PluginIntegrityCheck");
    assert_eq!(e["recipientAccountId"], ACCOUNT);
    assert_eq!(e["awsRegion"], REGION);
    let r = &e["requestParameters"];
    assert_eq!(r["bucketName"], "iv-modified");
    assert_eq!(r["key"], modified.key.as_str());
    assert_eq!(r["digestFile"], t.digests[1].key.as_str());
    assert_eq!(r["expectedHash"], modified.hash.as_str());
    assert_ne!(r["actualHash"], modified.hash.as_str());
    assert_eq!(p.metric("integrity_log_file_modified"), 1);
    assert!(
        p.log_lines()
            .iter()
            .any(|(_, l)| l.contains("LogFileModified"))
    );
    // The AWS CLI finds the same file and no other.
    let (ok, text) = aws_cli(m, &proxy, "iv-modified");
    assert!(!ok, "{text}");
    assert!(
        text.contains("5/6 log files valid, 1/6 log files INVALID"),
        "{text}"
    );
    assert!(
        text.contains(&format!("s3://iv-modified/{}\tINVALID", modified.key)),
        "{text}"
    );
}

#[test]
fn an_injected_file_is_not_in_any_digest() {
    let m = moto();
    let k = test_key(1);
    trail(m, "iv-injected", &k, 3, |_, _| false, |_, d| Some(d));
    let injected = put_log(m, "iv-injected", T0 + HOUR + 1500, "evil", 900, false);
    let (cfg, _proxy) = endpoint(m, &[&k], "");
    let (found, others, _) = read(&cfg, "iv-injected");
    expect(&found, &[("LogFileNotInDigest", &injected.key)]);
    assert_eq!(others, 14);
}

#[test]
fn a_deleted_file_is_missing() {
    let m = moto();
    let k = test_key(1);
    let t = trail(m, "iv-deleted", &k, 3, |_, _| false, |_, d| Some(d));
    let gone = &t.logs[2][1].key;
    m.delete("iv-deleted", gone);
    let (cfg, _proxy) = endpoint(m, &[&k], "");
    let (found, others, _) = read(&cfg, "iv-deleted");
    expect(&found, &[("LogFileMissing", gone)]);
    assert_eq!(others, 10);
}

#[test]
fn a_forged_signature_and_an_unknown_key_make_a_digest_invalid() {
    let m = moto();
    let k1 = test_key(1);
    let t = trail_with_digest(m, "iv-forged", &k1, 1, |d| d.forge_signature = true);
    let (cfg, _proxy) = endpoint(m, &[&k1], "");
    let (found, _, p) = read(&cfg, "iv-forged");
    expect(&found, &[("DigestInvalid", &t.digests[1].key)]);
    assert_eq!(p.metric("integrity_digest_invalid"), 1);

    // Signed by a key CloudTrail does not list (a digest made by someone else).
    let t = trail_with_digest(m, "iv-unknown-key", &k1, 2, |d| d.unknown_key = true);
    let (found, _, _) = read(&cfg, "iv-unknown-key");
    expect(&found, &[("DigestInvalid", &t.digests[2].key)]);
}

#[test]
fn a_broken_chain_and_a_missing_hour_are_reported() {
    let m = moto();
    let k = test_key(1);
    let t = trail_with_digest(m, "iv-chain", &k, 2, |d| d.wrong_previous = true);
    let (cfg, _proxy) = endpoint(m, &[&k], "");
    let (found, _, _) = read(&cfg, "iv-chain");
    expect(&found, &[("DigestChainBroken", &t.digests[2].key)]);

    // The digest of the second hour was never delivered (or was deleted): the next
    // one names it; the hour's files are not reported one by one.
    let t = trail(
        m,
        "iv-missing",
        &k,
        3,
        |_, _| false,
        |h, d| (h != 1).then_some(d),
    );
    let (found, others, p) = read(&cfg, "iv-missing");
    expect(&found, &[("DigestMissing", &t.digests[1].key)]);
    assert_eq!(others, 12);
    assert_eq!(p.metric("integrity_digest_missing"), 1);
}

#[test]
fn a_late_file_listed_by_a_backfill_digest_is_no_alarm() {
    let m = moto();
    let k = test_key(1);
    trail(m, "iv-backfill", &k, 3, |_, _| false, |_, d| Some(d));
    let late = put_log(m, "iv-backfill", T0 + HOUR + 2000, "late", 500, false);
    let mut d = DigestSpec::new(
        T0 + 2 * HOUR + 91,
        vec![(late.key.as_str(), late.hash.as_str())],
        None,
        &k,
    );
    d.backfill = true;
    put_digest(m, "iv-backfill", d);
    let (cfg, _proxy) = endpoint(m, &[&k], "");
    let (found, others, p) = read(&cfg, "iv-backfill");
    expect(&found, &[]);
    assert_eq!(others, 14);
    assert_eq!(p.metric("integrity_log_files_valid"), 7);
}

#[test]
fn files_read_before_their_digest_are_checked_after_a_restart() {
    let m = moto();
    let k = test_key(1);
    let bucket = "iv-restart";
    m.create_bucket(bucket);
    // Recent files: their digest is not overdue yet when the first run ends.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let base = now - 1200;
    let a = put_log(m, bucket, base, "a", 0, true);
    let b = put_log(m, bucket, base + 60, "b", 2, false);
    let dir = common::files::tmpdir("iv-restart");
    let cp = dir.join("cp.json");
    let (cfg, _proxy) = endpoint(
        m,
        &[&k],
        &format!(",\"checkpointFile\":\"{}\"", cp.display()),
    );
    // First run: the files, no digest yet (nothing to say).
    let (found, others, p) = read(&cfg, bucket);
    expect(&found, &[]);
    assert_eq!(others, 4);
    drop(p);
    // The digest arrives; the next run reads no file again but checks them.
    let d1 = put_digest(
        m,
        bucket,
        DigestSpec::new(
            base + HOUR,
            vec![(&a.key, &a.hash), (&b.key, &b.hash)],
            None,
            &k,
        ),
    );
    let (found, others, _) = read(&cfg, bucket);
    assert_eq!(others, 0, "delivered files are not read again");
    expect(&found, &[("LogFileModified", &a.key)]);
    assert!(d1.end > base);
    let text = std::fs::read_to_string(&cp).unwrap();
    assert!(text.contains("\"integrity\":"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn with_validation_off_digests_are_not_read() {
    let m = moto();
    let k = test_key(1);
    trail(m, "iv-off", &k, 2, |h, i| (h, i) == (0, 0), |_, d| Some(d));
    let (cfg, proxy) = endpoint(m, &[&k], "");
    let cfg = cfg.replace("\"logFileValidation\":true", "\"logFileValidation\":false");
    let (found, others, p) = read(&cfg, "iv-off");
    expect(&found, &[]);
    assert_eq!(others, 8);
    assert_eq!(proxy.hits("ListPublicKeys"), 0);
    assert_eq!(p.metric("integrity_digests_valid"), 0);
}

/// The rules file names every kind, in the upstream rules' shape.
#[test]
fn the_rules_file_has_a_rule_per_failure() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/cloudtrail_integrity.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    for kind in cloudtrail::integrity::Kind::ALL {
        let cond = format!("ct.name=\"{}\"", kind.name());
        assert_eq!(text.matches(&cond).count(), 1, "{cond}");
    }
    assert_eq!(text.matches("- rule:").count(), 6);
    assert_eq!(text.matches("priority: CRITICAL").count(), 4);
    assert_eq!(text.matches("source: aws_cloudtrail").count(), 6);
    assert!(text.contains("ct.src=\"integrity.cloudtrail-plugin\""));
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Collects integrity events from an open source for up to `secs` seconds, until
/// `want` of them arrived.
fn watch(src: &mut common::Source<'_>, want: usize, secs: u64) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while found.len() < want && std::time::Instant::now() < end {
        if let common::Batch::Events(evs, _) = src.next_batch() {
            for e in evs {
                let v: serde_json::Value = serde_json::from_slice(&e.payload).unwrap();
                if v["eventSource"] == "integrity.cloudtrail-plugin" {
                    let r = &v["requestParameters"];
                    let named = r["key"].as_str().or(r["digestFile"].as_str()).unwrap_or("");
                    found.insert((
                        v["eventName"].as_str().unwrap().to_string(),
                        named.to_string(),
                    ));
                }
            }
        }
    }
    found
}

/// Following a bucket, a modified file is reported as soon as its digest is there.
#[test]
fn following_a_bucket_reports_a_modified_file_within_a_poll() {
    let m = moto();
    let k = test_key(1);
    let start = now_secs() / HOUR * HOUR - HOUR;
    let t = trail_from(
        m,
        "iv-follow",
        &k,
        start,
        1,
        |h, i| (h, i) == (0, 1),
        |h, d| (h == 0).then_some(d),
    );
    let (cfg, _proxy) = endpoint(m, &[&k], r#","s3PollInterval":"1s","s3Interval":"2h""#);
    let p = Plugin::init(&cfg).unwrap();
    let mut src = p.open("s3://iv-follow").unwrap();
    let found = watch(&mut src, 1, 20);
    expect(&found, &[("LogFileModified", &t.logs[0][1].key)]);
    // A new file tampered later is found the same way once its digest comes.
    drop(src);
}

/// Files announced through SQS are checked against the digests of their folders.
#[test]
fn files_announced_through_sqs_are_checked() {
    let m = moto();
    let k = test_key(1);
    let start = now_secs() / HOUR * HOUR - HOUR;
    let bucket = "iv-sqs";
    let t = trail_from(
        m,
        bucket,
        &k,
        start,
        1,
        |h, i| (h, i) == (0, 0),
        |h, d| (h == 0).then_some(d),
    );
    let q = m.create_queue("iv-sqs");
    for log in &t.logs[0] {
        let notice = serde_json::json!({"s3Bucket": bucket, "s3ObjectKey": [log.key]});
        m.send(&q, &notice.to_string());
    }
    let (cfg, _proxy) = endpoint(
        m,
        &[&k],
        r#","s3PollInterval":"1s","sqsWaitSeconds":1,"sqsDeleteConcurrency":1,"sqsReceiveConcurrency":1"#,
    );
    let p = Plugin::init(&cfg).unwrap();
    let mut src = p.open("sqs://iv-sqs").unwrap();
    let found = watch(&mut src, 1, 20);
    expect(&found, &[("LogFileModified", &t.logs[0][0].key)]);
    drop(src);
    assert_eq!(p.metric("integrity_log_files_valid"), 1);
}

/// Copies every object of `bucket` into `dir` (what `aws s3 sync` does, without the
/// object metadata).
fn sync(m: &Moto, bucket: &str, dir: &std::path::Path) {
    let auth = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00";
    let body = ureq::get(&format!("{}/{bucket}?list-type=2", m.base))
        .header("authorization", auth)
        .call()
        .unwrap()
        .into_body()
        .read_to_vec()
        .unwrap();
    let page = cloudtrail::aws::s3::parse_list(&body).unwrap();
    assert!(page.next.is_none());
    for o in page.objects {
        let bytes = ureq::get(&format!("{}/{bucket}/{}", m.base, o.key))
            .header("authorization", auth)
            .call()
            .unwrap()
            .into_body()
            .read_to_vec()
            .unwrap();
        let path = dir.join(&o.key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// A directory holding a copy of the bucket: the same checks, the signatures fetched
/// from the digests' place in the bucket, files missing from the directory missing.
#[test]
fn a_synced_directory_is_validated_against_the_bucket_signatures() {
    let m = moto();
    let k = test_key(1);
    let bucket = "iv-local";
    let t = trail(m, bucket, &k, 3, |_, _| false, |_, d| Some(d));
    let dir = common::files::tmpdir("iv-local");
    let root = dir.join("copy");
    sync(m, bucket, &root);
    // Changed on disk, deleted on disk, added on disk.
    let changed = root.join(&t.logs[0][0].key);
    std::fs::write(
        &changed,
        gz(records_file(&[event(0, ""), event(77, "")]).as_bytes()),
    )
    .unwrap();
    std::fs::remove_file(root.join(&t.logs[2][1].key)).unwrap();
    let injected = log_key(T0 + HOUR + 1500, "evil");
    std::fs::write(
        root.join(&injected),
        gz(records_file(&[event(900, "")]).as_bytes()),
    )
    .unwrap();
    let (cfg, _proxy) = endpoint(m, &[&k], "");
    let p = Plugin::init(&cfg).unwrap();
    let mut found = BTreeSet::new();
    let mut others = 0;
    p.open(root.to_str().unwrap())
        .unwrap()
        .drain(|_, _, e| {
            let v: serde_json::Value = serde_json::from_slice(&e.payload).unwrap();
            if v["eventSource"] == "integrity.cloudtrail-plugin" {
                let r = &v["requestParameters"];
                found.insert((
                    v["eventName"].as_str().unwrap().to_string(),
                    r["key"].as_str().unwrap().to_string(),
                ));
            } else {
                others += 1;
            }
        })
        .unwrap();
    expect(
        &found,
        &[
            ("LogFileModified", &t.logs[0][0].key),
            ("LogFileMissing", &t.logs[2][1].key),
            ("LogFileNotInDigest", &injected),
        ],
    );
    assert_eq!(others, 11, "the digests are not read as logs");
    assert_eq!(p.metric("integrity_digests_valid"), 4);

    // A digest copied to another place on disk is not where it says it is.
    let forged = root.join(digest_key(T0 + 9 * HOUR, false));
    std::fs::create_dir_all(forged.parent().unwrap()).unwrap();
    std::fs::copy(root.join(&t.digests[3].key), &forged).unwrap();
    let mut found = BTreeSet::new();
    p.open(root.to_str().unwrap())
        .unwrap()
        .drain(|_, _, e| {
            let v: serde_json::Value = serde_json::from_slice(&e.payload).unwrap();
            if v["eventName"] == "DigestInvalid" {
                found.insert(v["errorMessage"].as_str().unwrap().to_string());
            }
        })
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A single file cannot be validated (its digests are beside it in a directory).
#[test]
fn a_single_file_is_refused_with_the_reason() {
    let dir = common::files::tmpdir("iv-file");
    let f = dir.join("f.json");
    std::fs::write(&f, records_file(&[event(1, "")])).unwrap();
    let p = Plugin::init(r#"{"logFileValidation":true}"#).unwrap();
    let e = p.open(f.to_str().unwrap()).err().unwrap();
    assert!(e.contains("logFileValidation checks a directory"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
