//! What an SQS message announces: every notification shape, detected per message.
//!
//! Upstream only understands an SNS `Notification` wrapping CloudTrail's
//! `{"s3Bucket", "s3ObjectKey": [...]}` (or, with `useS3SNS`, an S3 event), and stops
//! Falco on anything else. Here, whatever `useS3SNS` says, a message may be:
//! an SNS envelope (raw delivery off) or its payload directly (raw delivery on, or
//! S3 → SQS), holding a CloudTrail notification, an S3 event notification (keys
//! URL-encoded, `+` for spaces), an EventBridge "Object Created" event, an S3 test
//! event, or CloudTrail's validation message. Lambda-style envelopes (`Records` of
//! `Sns` or SQS `body` entries) are unwrapped too.

use crate::aws::http::url_decode;
use crate::json::doc::Doc;
use crate::json::{Kind, View};

/// What to do with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Log files to read: (bucket, key), in message order.
    Files(Vec<(String, String)>),
    /// Nothing to read (a test or validation message): delete it.
    Ignore(&'static str),
    /// An SNS subscription (un)confirmation: log the URL, delete it.
    Confirmation { kind: String, url: String },
}

const VALIDATION: &str = "CloudTrail validation message.";

/// Parses a message body; an error means the message is not understood (poison).
pub fn parse(body: &str) -> Result<Notice, String> {
    parse_depth(body, 0)
}

fn parse_depth(body: &str, depth: u32) -> Result<Notice, String> {
    if depth > 4 {
        return Err("notification nested too deeply".into());
    }
    let trimmed = body.trim();
    if trimmed == VALIDATION {
        return Ok(Notice::Ignore("CloudTrail validation message"));
    }
    let doc = Doc::parse(trimmed.as_bytes()).ok_or("the message body is not JSON")?;
    let v = doc.view();
    let root = v.root();
    if v.kind(root) != Kind::Object {
        return Err("the message body is not a JSON object".into());
    }
    let s = |path: &[&str]| doc.str_at(path);

    // An SNS envelope.
    if let Some(ty) = s(&["Type"]) {
        return match ty.as_str() {
            "Notification" => {
                let msg = s(&["Message"]).ok_or("SNS notification without a Message")?;
                parse_depth(&msg, depth + 1)
            }
            "SubscriptionConfirmation" | "UnsubscribeConfirmation" => Ok(Notice::Confirmation {
                kind: ty,
                url: s(&["SubscribeURL"]).unwrap_or_default(),
            }),
            other => Err(format!("unexpected SNS message type '{other}'")),
        };
    }
    // CloudTrail's own notification.
    if let Some(bucket) = s(&["s3Bucket"]) {
        let keys = v
            .path(&["s3ObjectKey"])
            .ok_or("CloudTrail notification without s3ObjectKey")?;
        let mut files = Vec::new();
        v.each_element(keys, &mut |k| {
            if let Some(t) = v.text(k) {
                files.push((bucket.clone(), String::from_utf8_lossy(&t).into_owned()));
            }
            true
        });
        return Ok(Notice::Files(files));
    }
    // S3 test event.
    if s(&["Event"]).as_deref() == Some("s3:TestEvent") {
        return Ok(Notice::Ignore("S3 test event"));
    }
    // EventBridge.
    if s(&["source"]).as_deref() == Some("aws.s3") && s(&["detail-type"]).is_some() {
        if s(&["detail-type"]).as_deref() != Some("Object Created") {
            return Ok(Notice::Ignore(
                "EventBridge event that is not Object Created",
            ));
        }
        let bucket = s(&["detail", "bucket", "name"])
            .ok_or("EventBridge event without detail.bucket.name")?;
        let key =
            s(&["detail", "object", "key"]).ok_or("EventBridge event without detail.object.key")?;
        return Ok(Notice::Files(vec![(bucket, key)]));
    }
    // S3 event notification, or a Lambda-style envelope.
    if let Some(records) = v.path(&["Records"]).filter(|&r| v.kind(r) == Kind::Array) {
        let mut files = Vec::new();
        let mut err = None;
        let mut ignored = 0;
        v.each_element(records, &mut |r| {
            let text = |path: &[&str]| {
                v.path_from(r, path)
                    .and_then(|x| v.text(x))
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
            };
            if let Some(sns) = v.member(r, "Sns") {
                let raw = String::from_utf8_lossy(v.raw(sns)).into_owned();
                match parse_depth(&raw, depth + 1) {
                    Ok(Notice::Files(f)) => files.extend(f),
                    Ok(_) => ignored += 1,
                    Err(e) => err = Some(e),
                }
            } else if let Some(body) = text(&["body"]) {
                match parse_depth(&body, depth + 1) {
                    Ok(Notice::Files(f)) => files.extend(f),
                    Ok(_) => ignored += 1,
                    Err(e) => err = Some(e),
                }
            } else if v.member(r, "s3").is_some() {
                let event = text(&["eventName"]).unwrap_or_default();
                if event.starts_with("ObjectCreated") || event.is_empty() {
                    match (
                        text(&["s3", "bucket", "name"]),
                        text(&["s3", "object", "key"]),
                    ) {
                        (Some(b), Some(k)) => files.push((b, url_decode(&k, true))),
                        _ => err = Some("S3 event record without bucket name or object key".into()),
                    }
                } else {
                    ignored += 1;
                }
            } else {
                err = Some("a Records entry is neither an S3 event nor an envelope".into());
            }
            err.is_none()
        });
        if let Some(e) = err {
            return Err(e);
        }
        return Ok(if files.is_empty() {
            Notice::Ignore(if ignored > 0 {
                "S3 event with no created object"
            } else {
                "empty Records"
            })
        } else {
            Notice::Files(files)
        });
    }
    Err("not a known notification (CloudTrail, S3 event, EventBridge or SNS)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/testdata/cloudtrail/notifications")
            .join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn files(n: Notice) -> Vec<(String, String)> {
        match n {
            Notice::Files(f) => f,
            other => panic!("expected files, got {other:?}"),
        }
    }

    #[test]
    fn real_envelopes() {
        let f = files(
            parse(&fixture(
                "aws-cloudtrail-processing-library_SQSMessageBody.sns-cloudtrail.json",
            ))
            .unwrap(),
        );
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].0, "my-test-bucket");
        assert!(
            f[0].1
                .starts_with("myprefix/AWSLogs/123456789012/CloudTrail/")
        );
        assert!(
            parse(&fixture(
                "aws-cloudtrail-processing-library_SQSMessageBodyWrongFormat.json"
            ))
            .is_err()
        );

        let f = files(parse(&fixture("cloudtrail-rs_s3-event-object-created.json")).unwrap());
        assert_eq!(f.len(), 1);
        let f = files(parse(&fixture("cloudtrail-rs_s3-event-urlencoded-key.json")).unwrap());
        assert!(!f[0].1.contains('%') && !f[0].1.contains('+'), "{f:?}");
        assert_eq!(
            parse(&fixture("cloudtrail-rs_s3-test-event.json")).unwrap(),
            Notice::Ignore("S3 test event")
        );
        assert!(matches!(
            parse(&fixture("cloudtrail-rs_sns-s3-test-event.json")).unwrap(),
            Notice::Ignore(_)
        ));
        assert_eq!(
            files(parse(&fixture("cloudtrail-rs_sns-s3-event.json")).unwrap()).len(),
            1
        );
        assert_eq!(
            files(parse(&fixture("cloudtrail-rs_sqs-s3-event.json")).unwrap()).len(),
            1
        );
        assert_eq!(
            files(parse(&fixture("cloudtrail-rs_sqs-sns-event.json")).unwrap()).len(),
            1
        );
        let f = files(parse(&fixture("cloudtrail-rs_eventbridge-object-created.json")).unwrap());
        assert_eq!(f[0].0, "amzn-s3-demo-bucket1");
        assert_eq!(
            files(parse(&fixture("loki_eventbridge-s3-event.json")).unwrap()).len(),
            1
        );
        assert!(parse(&fixture("cloudtrail-rs_sqs-batch-partial-garbage.json")).is_err());
    }

    #[test]
    fn hand_made_shapes() {
        assert!(matches!(
            parse("CloudTrail validation message.").unwrap(),
            Notice::Ignore(_)
        ));
        let sns_validation =
            r#"{"Type":"Notification","Message":"CloudTrail validation message."}"#;
        assert!(matches!(parse(sns_validation).unwrap(), Notice::Ignore(_)));
        let confirm = r#"{"Type":"SubscriptionConfirmation","SubscribeURL":"https://sns.example/confirm?x=1","Message":"You have chosen..."}"#;
        assert_eq!(
            parse(confirm).unwrap(),
            Notice::Confirmation {
                kind: "SubscriptionConfirmation".into(),
                url: "https://sns.example/confirm?x=1".into()
            }
        );
        let raw = r#"{"s3Bucket":"b","s3ObjectKey":["k1","k2"]}"#;
        assert_eq!(
            files(parse(raw).unwrap()),
            [("b".into(), "k1".into()), ("b".into(), "k2".into())]
        );
        let removed = r#"{"Records":[{"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}"#;
        assert!(matches!(parse(removed).unwrap(), Notice::Ignore(_)));
        for bad in [
            "",
            "{",
            "[1]",
            r#"{"Type":"Weird"}"#,
            r#"{"hello":"world"}"#,
            "plain text",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
