//! What an SQS message announces: every notification shape, detected per message.
//!
//! Upstream only understands an SNS `Notification` wrapping CloudTrail's
//! `{"s3Bucket", "s3ObjectKey": [...]}` (or, with `useS3SNS`, an S3 event), and stops
//! Falco on anything else. Here, whatever `useS3SNS` says, a message may be:
//! an SNS envelope (raw delivery off) or its payload directly (raw delivery on, or
//! S3 → SQS), holding a CloudTrail notification, an S3 event notification (keys
//! URL-encoded, `+` for spaces), an EventBridge "Object Created" event, an
//! EventBridge event that carries one CloudTrail record itself (`detail-type` ending
//! in ` via CloudTrail`: the seconds-latency path), an S3 test event, or CloudTrail's
//! validation message. Lambda-style envelopes (`Records` of `Sns` or SQS `body`
//! entries) are unwrapped too.
//!
//! Bodies are read with the strict parser first and upstream's lenient grammar
//! second, so an EventBridge event whose record upstream would accept from a file
//! (NaN, raw control bytes) is not turned into poison by the envelope around it.

use crate::aws::http::url_decode;
use crate::json::doc::Doc;
use crate::json::lazy::LazyView;
use crate::json::{Kind, View, lenient};

/// What a message asks the plugin to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Work {
    /// Log files: (bucket, key), in message order.
    pub files: Vec<(String, String)>,
    /// CloudTrail records carried in the message (EventBridge `detail`), each as
    /// the bytes that stand in the (unescaped) message text.
    pub records: Vec<Vec<u8>>,
}

/// What to do with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Files to read and records to emit (at least one of either).
    Read(Work),
    /// Nothing to read (a test or validation message, an unrelated event): delete it.
    Ignore(&'static str),
    /// An SNS subscription (un)confirmation: log the URL, delete it.
    Confirmation { kind: String, url: String },
}

const VALIDATION: &str = "CloudTrail validation message.";

/// The `detail-type` suffix of every event CloudTrail sends to EventBridge ("AWS API
/// Call via CloudTrail", "AWS Console Sign In via CloudTrail", ...).
const VIA_CLOUDTRAIL: &str = " via CloudTrail";

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
    let bytes = trimmed.as_bytes();
    if let Some(doc) = Doc::parse(bytes) {
        return classify(&doc.view(), depth);
    }
    match lenient::validate(bytes) {
        Ok(()) => classify(&LazyView::new(bytes), depth),
        Err(_) => Err("the message body is not JSON".into()),
    }
}

/// The string at `path` below `from`, as text.
fn text_at<V: View>(v: &V, from: V::Id, path: &[&str]) -> Option<String> {
    v.path_from(from, path)
        .and_then(|id| v.text(id))
        .map(|t| String::from_utf8_lossy(&t).into_owned())
}

fn classify<V: View>(v: &V, depth: u32) -> Result<Notice, String> {
    let root = v.root();
    if v.kind(root) != Kind::Object {
        return Err("the message body is not a JSON object".into());
    }
    let s = |path: &[&str]| text_at(v, root, path);

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
        let mut work = Work::default();
        v.each_element(keys, &mut |k| {
            if let Some(t) = v.text(k) {
                let key = String::from_utf8_lossy(&t).into_owned();
                work.files.push((bucket.clone(), key));
            }
            true
        });
        return Ok(read_or_ignore(work, "CloudTrail notification without keys"));
    }
    // S3 test event.
    if s(&["Event"]).as_deref() == Some("s3:TestEvent") {
        return Ok(Notice::Ignore("S3 test event"));
    }
    // EventBridge.
    if let (Some(detail_type), Some(source)) = (s(&["detail-type"]), s(&["source"])) {
        return eventbridge(v, &detail_type, &source);
    }
    // S3 event notification, or a Lambda-style envelope.
    if let Some(records) = v.path(&["Records"]).filter(|&r| v.kind(r) == Kind::Array) {
        return records_array(v, records, depth);
    }
    Err("not a known notification (CloudTrail, S3 event, EventBridge or SNS)".into())
}

/// An EventBridge event: a CloudTrail record, an S3 "Object Created", or unrelated.
fn eventbridge<V: View>(v: &V, detail_type: &str, source: &str) -> Result<Notice, String> {
    let detail = v.path(&["detail"]);
    if detail_type.ends_with(VIA_CLOUDTRAIL) {
        let detail = detail.ok_or("EventBridge CloudTrail event without detail")?;
        return Ok(Notice::Read(Work {
            files: Vec::new(),
            records: vec![v.raw(detail).to_vec()],
        }));
    }
    if source != "aws.s3" {
        return Ok(Notice::Ignore(
            "EventBridge event that is neither from CloudTrail nor an S3 Object Created",
        ));
    }
    if detail_type != "Object Created" {
        return Ok(Notice::Ignore(
            "EventBridge event that is not Object Created",
        ));
    }
    let text = |path: &[&str]| detail.and_then(|d| text_at(v, d, path));
    let bucket = text(&["bucket", "name"]).ok_or("EventBridge event without detail.bucket.name")?;
    let key = text(&["object", "key"]).ok_or("EventBridge event without detail.object.key")?;
    Ok(Notice::Read(Work {
        files: vec![(bucket, key)],
        records: Vec::new(),
    }))
}

/// An S3 event notification's `Records`, or a Lambda-style envelope's.
fn records_array<V: View>(v: &V, records: V::Id, depth: u32) -> Result<Notice, String> {
    let mut work = Work::default();
    let mut err = None;
    let mut ignored = 0;
    // A wrapped message's work joins this one's; an error poisons the whole message.
    let nested = |body: &str, work: &mut Work, ignored: &mut u32| match parse_depth(body, depth + 1)
    {
        Ok(Notice::Read(w)) => {
            work.files.extend(w.files);
            work.records.extend(w.records);
            None
        }
        Ok(_) => {
            *ignored += 1;
            None
        }
        Err(e) => Some(e),
    };
    v.each_element(records, &mut |r| {
        let text = |path: &[&str]| text_at(v, r, path);
        if let Some(sns) = v.member(r, "Sns") {
            err = nested(
                &String::from_utf8_lossy(v.raw(sns)),
                &mut work,
                &mut ignored,
            );
        } else if let Some(body) = text(&["body"]) {
            err = nested(&body, &mut work, &mut ignored);
        } else if v.member(r, "s3").is_some() {
            let event = text(&["eventName"]).unwrap_or_default();
            if event.starts_with("ObjectCreated") || event.is_empty() {
                match (
                    text(&["s3", "bucket", "name"]),
                    text(&["s3", "object", "key"]),
                ) {
                    (Some(b), Some(k)) => work.files.push((b, url_decode(&k, true))),
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
    Ok(read_or_ignore(
        work,
        if ignored > 0 {
            "S3 event with no created object"
        } else {
            "empty Records"
        },
    ))
}

fn read_or_ignore(work: Work, why: &'static str) -> Notice {
    if work.files.is_empty() && work.records.is_empty() {
        Notice::Ignore(why)
    } else {
        Notice::Read(work)
    }
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
            Notice::Read(w) if w.records.is_empty() => w.files,
            other => panic!("expected files, got {other:?}"),
        }
    }

    fn records(n: Notice) -> Vec<String> {
        match n {
            Notice::Read(w) if w.files.is_empty() => w
                .records
                .into_iter()
                .map(|r| String::from_utf8(r).unwrap())
                .collect(),
            other => panic!("expected records, got {other:?}"),
        }
    }

    /// An EventBridge event as CloudTrail sends it, around `detail` (raw JSON text).
    fn eventbridge(detail_type: &str, source: &str, detail: &str) -> String {
        format!(
            r#"{{"version":"0","id":"6a7e8feb-b491-4cf7-a9f1-bf3703467718","detail-type":"{detail_type}","source":"{source}","account":"111122223333","time":"2024-01-01T00:00:05Z","region":"us-east-1","resources":[],"detail":{detail}}}"#
        )
    }

    const RECORD: &str = r#"{"eventVersion":"1.08", "eventTime":"2024-01-01T00:00:01Z","eventType":"AwsApiCall","eventID":"e1","s":"a\"b\u00e9"}"#;

    #[test]
    fn eventbridge_cloudtrail_events_carry_their_record_verbatim() {
        for (ty, source) in [
            ("AWS API Call via CloudTrail", "aws.iam"),
            ("AWS Console Sign In via CloudTrail", "aws.signin"),
            ("AWS Service Event via CloudTrail", "aws.kms"),
            ("AWS Insight via CloudTrail", "aws.cloudtrail"),
            ("AWS Console Action via CloudTrail", "aws.s3"),
            ("AWS API Call via CloudTrail", "aws.s3"),
        ] {
            let body = eventbridge(ty, source, RECORD);
            assert_eq!(records(parse(&body).unwrap()), [RECORD], "{ty}");
            // SNS-wrapped (raw delivery off): the unescaped Message text.
            let sns = serde_json::json!({"Type": "Notification", "MessageId": "m",
                "TopicArn": "arn:aws:sns:us-east-1:111122223333:t", "Message": body})
            .to_string();
            assert_eq!(records(parse(&sns).unwrap()), [RECORD], "{ty} via SNS");
            // Lambda-style envelopes: SNS records and SQS bodies.
            let lambda_sns = format!(r#"{{"Records":[{{"EventSource":"aws:sns","Sns":{sns}}}]}}"#);
            assert_eq!(records(parse(&lambda_sns).unwrap()), [RECORD]);
            let lambda_sqs = serde_json::json!({"Records": [
                {"messageId": "1", "body": body}, {"messageId": "2", "body": body}]})
            .to_string();
            assert_eq!(records(parse(&lambda_sqs).unwrap()), [RECORD, RECORD]);
        }
    }

    #[test]
    fn eventbridge_shapes_that_carry_no_record() {
        // The lenient grammar: what upstream accepts from a file, it accepts here.
        let nan = r#"{"eventTime":"2024-01-01T00:00:01Z","eventType":"AwsApiCall","n":NaN}"#;
        let body = eventbridge("AWS API Call via CloudTrail", "aws.ec2", nan);
        assert_eq!(records(parse(&body).unwrap()), [nan]);
        // A detail that is not a record is still handed on: the emission rules decide.
        let body = eventbridge("AWS API Call via CloudTrail", "aws.ec2", r#""text""#);
        assert_eq!(records(parse(&body).unwrap()), [r#""text""#]);
        // No detail at all: not understood.
        let body =
            r#"{"version":"0","detail-type":"AWS API Call via CloudTrail","source":"aws.ec2"}"#;
        assert!(parse(body).is_err());
        // Other EventBridge events are understood and ignored.
        let body = eventbridge(
            "EC2 Instance State-change Notification",
            "aws.ec2",
            r#"{"state":"running"}"#,
        );
        assert!(matches!(parse(&body).unwrap(), Notice::Ignore(_)));
        let body = eventbridge("Object Deleted", "aws.s3", r#"{"bucket":{"name":"b"}}"#);
        assert!(matches!(parse(&body).unwrap(), Notice::Ignore(_)));
        // Broken JSON around a record stays poison.
        let broken = &eventbridge("AWS API Call via CloudTrail", "aws.ec2", RECORD)[..80];
        assert!(parse(broken).is_err());
    }

    #[test]
    fn mixed_lambda_envelope_keeps_files_and_records() {
        let file = r#"{"s3Bucket":"b","s3ObjectKey":["k"]}"#;
        let event = eventbridge("AWS API Call via CloudTrail", "aws.sts", RECORD);
        let body = serde_json::json!({"Records": [{"body": file}, {"body": event}]}).to_string();
        match parse(&body).unwrap() {
            Notice::Read(w) => {
                assert_eq!(w.files, [("b".to_string(), "k".to_string())]);
                assert_eq!(w.records, [RECORD.as_bytes().to_vec()]);
            }
            other => panic!("{other:?}"),
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
