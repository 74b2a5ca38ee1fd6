//! CloudTrail's digest files: what one says, and the text its signature covers.
//!
//! Every hour, per account, region and trail, CloudTrail writes a gzip JSON digest
//! under `…/AWSLogs/[o-org/]account/CloudTrail-Digest/region/YYYY/MM/DD/` listing
//! the log files it delivered in that hour with the SHA-256 of each one's
//! uncompressed content, and naming the previous digest (its key, the SHA-256 of its
//! uncompressed content, its signature). The signature itself is in the digest
//! object's S3 metadata (`x-amz-meta-signature`, hex; `x-amz-meta-signature-algorithm`,
//! `SHA256withRSA`), over the text [`Digest::signed_text`] builds.

use crate::json::doc::Doc;
use crate::json::{Kind, View};

/// A log file a digest lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub bucket: String,
    pub key: String,
    /// Hex SHA-256 of the uncompressed file.
    pub hash: String,
}

/// The fields of a digest this plugin checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub account: String,
    pub start: String,
    pub end: String,
    pub start_secs: i64,
    pub end_secs: i64,
    pub bucket: String,
    pub key: String,
    pub fingerprint: String,
    pub algorithm: String,
    pub previous_bucket: Option<String>,
    pub previous_key: Option<String>,
    pub previous_hash: Option<String>,
    /// `None` for the first digest of a chain (the signed text then says `null`).
    pub previous_signature: Option<String>,
    pub logs: Vec<Listed>,
}

fn secs(t: &str) -> Option<i64> {
    crate::time::parse_rfc3339_ns(t.as_bytes()).map(|ns| (ns / 1_000_000_000) as i64)
}

impl Digest {
    /// Parses a digest's uncompressed text; the error says what is wrong.
    pub fn parse(text: &[u8]) -> Result<Digest, String> {
        let doc = Doc::parse(text).ok_or("the digest is not JSON")?;
        let v = doc.view();
        if v.kind(v.root()) != Kind::Object {
            return Err("the digest is not a JSON object".into());
        }
        let opt = |k: &str| doc.str_at(&[k]);
        let req = |k: &str| opt(k).ok_or(format!("the digest has no {k}"));
        let (start, end) = (req("digestStartTime")?, req("digestEndTime")?);
        let start_secs = secs(&start).ok_or(format!("bad digestStartTime {start}"))?;
        let end_secs = secs(&end).ok_or(format!("bad digestEndTime {end}"))?;
        let mut logs = Vec::new();
        if let Some(list) = v.path(&["logFiles"]) {
            let mut bad = None;
            v.each_element(list, &mut |e| {
                let s = |k: &str| v.path_from(e, &[k]).and_then(|id| v.text(id));
                match (s("s3Bucket"), s("s3Object"), s("hashValue")) {
                    (Some(b), Some(o), Some(h)) => logs.push(Listed {
                        bucket: crate::json::into_string(b),
                        key: crate::json::into_string(o),
                        hash: crate::json::into_string(h).to_ascii_lowercase(),
                    }),
                    _ => bad = Some("a logFiles entry lacks s3Bucket, s3Object or hashValue"),
                }
                bad.is_none()
            });
            if let Some(b) = bad {
                return Err(b.into());
            }
        }
        Ok(Digest {
            account: req("awsAccountId")?,
            start,
            end,
            start_secs,
            end_secs,
            bucket: req("digestS3Bucket")?,
            key: req("digestS3Object")?,
            fingerprint: req("digestPublicKeyFingerprint")?,
            algorithm: req("digestSignatureAlgorithm")?,
            previous_bucket: opt("previousDigestS3Bucket"),
            previous_key: opt("previousDigestS3Object"),
            previous_hash: opt("previousDigestHashValue").map(|h| h.to_ascii_lowercase()),
            previous_signature: opt("previousDigestSignature"),
            logs,
        })
    }

    /// The text CloudTrail signs: the end time, `bucket/key` of this digest, the hex
    /// SHA-256 of its uncompressed content, the previous digest's signature (`null`
    /// for the first), one per line.
    pub fn signed_text(&self, content_sha256_hex: &str) -> String {
        format!(
            "{}\n{}/{}\n{content_sha256_hex}\n{}",
            self.end,
            self.bucket,
            self.key,
            self.previous_signature.as_deref().unwrap_or("null")
        )
    }
}

/// Where a digest key belongs: its folder (`…/CloudTrail-Digest/region/`), the trail
/// it is for, and whether it is a backfill digest (`…_backfill.json.gz`, written when
/// CloudTrail includes log files delivered late; outside the hourly chain).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DigestName {
    pub folder: String,
    pub trail: String,
    pub backfill: bool,
}

/// The end time in a digest's name (`…_YYYYMMDDTHHMMSSZ[_backfill].json.gz`).
pub fn digest_key_time(key: &str) -> Option<i64> {
    let stem = key.strip_suffix(".json.gz")?;
    let stem = stem.strip_suffix("_backfill").unwrap_or(stem);
    let stamp = stem.rsplit('_').next()?.strip_suffix('Z')?;
    let minute = crate::interval::stamp_secs(stamp.get(..13)?)?;
    Some(minute + stamp.get(13..15)?.parse::<i64>().ok()?)
}

/// Parses `…/CloudTrail-Digest/<region>/YYYY/MM/DD/<account>_CloudTrail-Digest_<region>_<trail>_<region>_<YYYYMMDDTHHMMSS>Z[_backfill].json.gz`.
pub fn digest_name(key: &str) -> Option<DigestName> {
    let at = key.find("/CloudTrail-Digest/")?;
    let rest = &key[at + "/CloudTrail-Digest/".len()..];
    let region = rest.split('/').next().filter(|r| !r.is_empty())?;
    let folder = format!("{}/CloudTrail-Digest/{region}/", &key[..at]);
    let name = key.rsplit('/').next()?;
    let stem = name.strip_suffix(".json.gz")?;
    let (stem, backfill) = match stem.strip_suffix("_backfill") {
        Some(s) => (s, true),
        None => (stem, false),
    };
    let after = &stem[stem.find("_CloudTrail-Digest_")? + "_CloudTrail-Digest_".len()..];
    // <region>_<trail>_<home region>_<stamp>Z: the trail is between the first region
    // and the last two parts.
    let parts: Vec<&str> = after.split('_').collect();
    if parts.len() < 4 || !parts[parts.len() - 1].ends_with('Z') {
        return None;
    }
    let trail = parts[1..parts.len() - 2].join("_");
    (!trail.is_empty()).then_some(DigestName {
        folder,
        trail,
        backfill,
    })
}

/// The digest folder of the account and region a log file key belongs to
/// (`…/CloudTrail/<region>/…` → `…/CloudTrail-Digest/<region>/`).
pub fn digest_folder_of_log(key: &str) -> Option<String> {
    let at = key.find("/CloudTrail/")?;
    let rest = &key[at + "/CloudTrail/".len()..];
    let region = rest.split('/').next().filter(|r| !r.is_empty())?;
    Some(format!("{}/CloudTrail-Digest/{region}/", &key[..at]))
}

/// Account and region of a CloudTrail key (log or digest folder).
pub fn account_region(key: &str) -> (String, String) {
    let segs: Vec<&str> = key.split('/').collect();
    let at = segs
        .iter()
        .position(|s| *s == "CloudTrail" || *s == "CloudTrail-Digest");
    match at {
        Some(i) if i >= 1 => (
            segs[i - 1].to_string(),
            segs.get(i + 1).copied().unwrap_or_default().to_string(),
        ),
        _ => (String::new(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample digest of AWS's documentation ("CloudTrail digest file structure"),
    /// its long `previousDigestSignature` cut short.
    const SAMPLE: &str = r#"{
  "awsAccountId": "111122223333",
  "digestStartTime": "2015-08-17T14:01:31Z",
  "digestEndTime": "2015-08-17T15:01:31Z",
  "digestS3Bucket": "S3-bucket-name",
  "digestS3Object": "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_your-trail-name_us-east-2_20150817T150131Z.json.gz",
  "digestPublicKeyFingerprint": "31e8b5433410dfb61a9dc45cc65b22ff",
  "digestSignatureAlgorithm": "SHA256withRSA",
  "newestEventTime": "2015-08-17T14:52:27Z",
  "oldestEventTime": "2015-08-17T14:42:27Z",
  "previousDigestS3Bucket": "S3-bucket-name",
  "previousDigestS3Object": "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_your-trail-name_us-east-2_20150817T140131Z.json.gz",
  "previousDigestHashValue": "97fb791cf91ffc440d274f8190dbdd9aa09c34432aba82739df18b6d3c13df2d",
  "previousDigestHashAlgorithm": "SHA-256",
  "previousDigestSignature": "50887ccffad4c002b97caa37cc9dc626e3c680207d41d27fa5835458e066e0d3652fc4dfc30937e4d5f4cc7f796e7a258fb50a43ac427f2237f6e505d4efaf373d156e1",
  "logFiles": [
    {
      "s3Bucket": "S3-bucket-name",
      "s3Object": "AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/17/111122223333_CloudTrail_us-east-2_20150817T1445Z_9nYN7gp2eWAJHIfT.json.gz",
      "hashValue": "9bb6196fc6b84d6f075a56548feca262bd99ba3c2de41b618e5b6e22c1fc71f6",
      "hashAlgorithm": "SHA-256",
      "newestEventTime": "2015-08-17T14:52:27Z",
      "oldestEventTime": "2015-08-17T14:42:27Z"
    }
  ]
}"#;

    #[test]
    fn the_documented_sample_parses() {
        let d = Digest::parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(d.account, "111122223333");
        assert_eq!(d.end, "2015-08-17T15:01:31Z");
        assert_eq!(d.end_secs - d.start_secs, 3600);
        assert_eq!(d.bucket, "S3-bucket-name");
        assert_eq!(d.fingerprint, "31e8b5433410dfb61a9dc45cc65b22ff");
        assert_eq!(d.algorithm, "SHA256withRSA");
        assert!(
            d.previous_key
                .as_deref()
                .unwrap()
                .ends_with("_20150817T140131Z.json.gz")
        );
        assert_eq!(
            d.previous_hash.as_deref(),
            Some("97fb791cf91ffc440d274f8190dbdd9aa09c34432aba82739df18b6d3c13df2d")
        );
        assert_eq!(d.logs.len(), 1);
        assert_eq!(
            d.logs[0].hash,
            "9bb6196fc6b84d6f075a56548feca262bd99ba3c2de41b618e5b6e22c1fc71f6"
        );
        let text = d.signed_text("abc");
        assert!(text.starts_with(
            "2015-08-17T15:01:31Z\nS3-bucket-name/AWSLogs/111122223333/CloudTrail-Digest/us-east-2/"
        ));
        assert!(text.ends_with("\nabc\n50887ccffad4c002b97caa37cc9dc626e3c680207d41d27fa5835458e066e0d3652fc4dfc30937e4d5f4cc7f796e7a258fb50a43ac427f2237f6e505d4efaf373d156e1"));
        let name = digest_name(&d.key).unwrap();
        assert_eq!(name.trail, "your-trail-name");
        assert_eq!(
            name.folder,
            "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/"
        );
        assert!(!name.backfill);
        assert_eq!(
            digest_folder_of_log(&d.logs[0].key).as_deref(),
            Some(name.folder.as_str())
        );
        assert_eq!(
            account_region(&d.logs[0].key),
            ("111122223333".into(), "us-east-2".into())
        );
    }

    #[test]
    fn first_digests_sign_null_and_bad_ones_are_named() {
        let first = SAMPLE.replace(
            r#""previousDigestSignature": "50887"#,
            r#""previousDigestSignatureX": "50887"#,
        );
        let d = Digest::parse(first.as_bytes()).unwrap();
        assert!(d.signed_text("h").ends_with("\nh\nnull"));
        let null = SAMPLE.replace(
            r#""previousDigestSignature": "50887ccf"#,
            r#""previousDigestSignature": null, "x": "50887ccf"#,
        );
        assert!(
            Digest::parse(null.as_bytes())
                .unwrap()
                .signed_text("h")
                .ends_with("\nnull")
        );
        for (bad, why) in [
            ("{", "not JSON"),
            ("[1]", "not a JSON object"),
            (r#"{"digestStartTime":"x"}"#, "digestEndTime"),
        ] {
            let e = Digest::parse(bad.as_bytes()).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let org = "AWSLogs/o-abcdefghij/111122223333/CloudTrail-Digest/eu-west-1/2024/01/01/111122223333_CloudTrail-Digest_eu-west-1_my_trail_us-east-1_20240101T010000Z_backfill.json.gz";
        let n = digest_name(org).unwrap();
        assert_eq!(
            (n.folder.as_str(), n.trail.as_str(), n.backfill),
            (
                "AWSLogs/o-abcdefghij/111122223333/CloudTrail-Digest/eu-west-1/",
                "my_trail",
                true
            )
        );
        assert_eq!(digest_name("AWSLogs/1/CloudTrail/x.json.gz"), None);
    }
}
