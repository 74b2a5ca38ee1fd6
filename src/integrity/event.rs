//! A finding as an event of the stream: a JSON record in CloudTrail's shape, so that
//! the emission rules admit it and every field works on it (`ct.name` the kind,
//! `ct.src` the plugin's own event source, `ct.region`, `ct.recipientaccountid`,
//! `s3.uri` the object concerned (the log file, else the digest), `ct.request` all the
//! details, `ct.errormessage` the sentence). AWS never sends the event source `integrity.cloudtrail-plugin`, so no
//! AWS event is mistaken for one, nor one for an AWS event.

use super::{Finding, sha256_hex};
use crate::json::write_string;

/// The `eventSource` of every integrity event.
pub const EVENT_SOURCE: &str = "integrity.cloudtrail-plugin";
/// Their `eventType`.
pub const EVENT_TYPE: &str = "PluginIntegrityCheck";

/// The record for `f`, found at `now` (seconds since the epoch). Its `eventID` is
/// derived from what was found, so the same finding reported again (after a restart,
/// say) has the same id.
pub fn record(f: &Finding, now: i64) -> Vec<u8> {
    let id_source = format!(
        "{}|{}|{}|{}|{}|{}",
        f.kind.name(),
        f.bucket,
        f.log_file.as_deref().unwrap_or(""),
        f.digest_file.as_deref().unwrap_or(""),
        f.expected.as_deref().unwrap_or(""),
        f.actual.as_deref().unwrap_or("")
    );
    let h = sha256_hex(id_source.as_bytes());
    // The UUID layout CloudTrail uses for event ids (version 4 and variant bits set).
    let id = format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    );
    let mut s = String::with_capacity(768);
    let field = |s: &mut String, key: &str, value: &str| {
        s.push('"');
        s.push_str(key);
        s.push_str("\":");
        write_string(s, value);
        s.push(',');
    };
    s.push('{');
    field(&mut s, "eventVersion", "1.08");
    s.push_str(&format!(
        "\"userIdentity\":{{\"type\":\"AWSService\",\"invokedBy\":\"{EVENT_SOURCE}\"}},"
    ));
    field(&mut s, "eventTime", &crate::interval::rfc3339(now));
    field(&mut s, "eventSource", EVENT_SOURCE);
    field(&mut s, "eventName", f.kind.name());
    field(&mut s, "awsRegion", &f.region);
    field(&mut s, "sourceIPAddress", EVENT_SOURCE);
    field(
        &mut s,
        "userAgent",
        concat!("libcloudtrail/", env!("CARGO_PKG_VERSION")),
    );
    field(&mut s, "errorCode", f.kind.name());
    field(&mut s, "errorMessage", &f.detail);
    s.push_str("\"requestParameters\":{");
    field(&mut s, "bucketName", &f.bucket);
    // `key` is the object concerned (`s3.uri`): the log file, else the digest.
    let object = f.log_file.clone().or_else(|| f.digest_file.clone());
    for (key, value) in [
        ("key", &object),
        ("digestFile", &f.digest_file),
        ("expectedHash", &f.expected),
        ("actualHash", &f.actual),
    ] {
        if let Some(v) = value {
            field(&mut s, key, v);
        }
    }
    s.pop();
    s.push_str("},\"responseElements\":null,");
    field(&mut s, "eventID", &id);
    s.push_str("\"readOnly\":true,");
    field(&mut s, "eventType", EVENT_TYPE);
    s.push_str("\"managementEvent\":false,");
    field(&mut s, "recipientAccountId", &f.account);
    field(&mut s, "eventCategory", "Management");
    s.pop();
    s.push('}');
    s.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrity::Kind;

    #[test]
    fn a_finding_is_a_strict_cloudtrail_shaped_record() {
        let f = Finding {
            kind: Kind::LogFileModified,
            account: "111122223333".into(),
            region: "eu-west-1".into(),
            bucket: "trail-bucket".into(),
            log_file: Some("AWSLogs/111122223333/CloudTrail/eu-west-1/2024/01/01/x.json.gz".into()),
            digest_file: Some("AWSLogs/d.json.gz".into()),
            expected: Some("aa".into()),
            actual: Some("bb".into()),
            detail: "say \"why\"".into(),
        };
        let r = record(&f, 1_704_067_200);
        let v: serde_json::Value = serde_json::from_slice(&r).unwrap();
        assert_eq!(v["eventSource"], EVENT_SOURCE);
        assert_eq!(v["eventType"], EVENT_TYPE);
        assert_eq!(v["eventName"], "LogFileModified");
        assert_eq!(v["eventTime"], "2024-01-01T00:00:00Z");
        assert_eq!(v["recipientAccountId"], "111122223333");
        assert_eq!(v["awsRegion"], "eu-west-1");
        assert_eq!(v["requestParameters"]["bucketName"], "trail-bucket");
        assert_eq!(v["requestParameters"]["expectedHash"], "aa");
        assert_eq!(v["errorMessage"], "say \"why\"");
        let id = v["eventID"].as_str().unwrap();
        assert_eq!(id.len(), 36);
        // The same finding, the same id; another one, another.
        let again: serde_json::Value = serde_json::from_slice(&record(&f, 5)).unwrap();
        assert_eq!(again["eventID"], id);
        let other = Finding {
            actual: Some("cc".into()),
            ..f.clone()
        };
        let o: serde_json::Value = serde_json::from_slice(&record(&other, 5)).unwrap();
        assert_ne!(o["eventID"], id);
        let bare = Finding {
            log_file: None,
            digest_file: None,
            expected: None,
            actual: None,
            ..f
        };
        let b: serde_json::Value = serde_json::from_slice(&record(&bare, 5)).unwrap();
        assert_eq!(
            b["requestParameters"],
            serde_json::json!({"bucketName": "trail-bucket"})
        );
    }
}
