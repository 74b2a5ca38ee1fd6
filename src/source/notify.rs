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
use crate::json::lenient::{self, skip_ws, string_end, value_end};
use crate::json::{Kind, View};

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
    parse_depth(body, 0, true)
}

/// The commonest message, an EventBridge event carrying one CloudTrail record, read
/// with one scan of its top level (the record itself is skipped 64 bytes at a time),
/// instead of a full parse of the record that the preparation stage parses anyway:
/// the record inside is then judged by the emission rules like a record from a file.
/// `None` when the body is anything else, or anything unusual (an escaped or repeated
/// key, another shape's keys, text after the object): the full parse decides those,
/// and gives the same answer wherever both apply (the `notification` fuzz target
/// compares them).
pub fn eventbridge_record(body: &[u8]) -> Option<Vec<u8>> {
    let s = body;
    let mut i = skip_ws(s, 0);
    if s.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(s, i + 1);
    let (mut detail_type, mut source, mut detail) = (None, None, None);
    loop {
        if s.get(i) != Some(&b'"') {
            return None;
        }
        let q = string_end(s, i + 1)?;
        let key = &s[i + 1..q];
        i = skip_ws(s, q + 1);
        if s.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_ws(s, i + 1);
        let end = match s.get(start)? {
            b'{' => crate::scan::object_end(s, start)?,
            b'"' => string_end(s, start + 1)? + 1,
            _ => value_end(s, start),
        };
        let seen = match key {
            b"detail-type" => detail_type.replace(&s[start..end]).is_some(),
            b"source" => source.replace(s[start] == b'"').is_some(),
            b"detail" => detail.replace(start..end).is_some(),
            // Keys the full parse looks at first (SNS, CloudTrail and S3 shapes), and
            // escaped keys (it compares them decoded).
            b"Type" | b"s3Bucket" | b"Event" | b"Records" => return None,
            k if k.contains(&b'\\') => return None,
            _ => false,
        };
        if seen {
            return None;
        }
        i = skip_ws(s, end);
        match s.get(i)? {
            b',' => i = skip_ws(s, i + 1),
            b'}' => break,
            _ => return None,
        }
    }
    if skip_ws(s, i + 1) != s.len() || source != Some(true) {
        return None;
    }
    let ty = detail_type?;
    if ty.contains(&b'\\') || !ty.ends_with(format!("{VIA_CLOUDTRAIL}\"").as_bytes()) {
        return None;
    }
    let detail = &s[detail?];
    if detail.first() != Some(&b'{') {
        return None;
    }
    // With room for the parser's padding, so that it is never copied again.
    let mut record = Vec::with_capacity(detail.len() + crate::source::split::PADDING);
    record.extend_from_slice(detail);
    Some(record)
}

/// [`parse`] without the EventBridge fast path: the reference it must agree with.
pub fn parse_full(body: &str) -> Result<Notice, String> {
    parse_depth(body, 0, false)
}

/// Parses `body`, nested `depth` envelopes deep; `fast`: try [`eventbridge_record`]
/// first.
fn parse_depth(body: &str, depth: u32, fast: bool) -> Result<Notice, String> {
    if fast && let Some(record) = eventbridge_record(body.trim().as_bytes()) {
        return Ok(Notice::Read(Work {
            files: Vec::new(),
            records: vec![record],
        }));
    }
    if depth > 4 {
        return Err("notification nested too deeply".into());
    }
    let trimmed = body.trim();
    if trimmed == VALIDATION {
        return Ok(Notice::Ignore("CloudTrail validation message"));
    }
    let bytes = trimmed.as_bytes();
    if let Some(doc) = Doc::parse(bytes) {
        return classify(&doc.view(), depth, fast);
    }
    match lenient::validate(bytes) {
        Ok(()) => classify(&LazyView::new(bytes), depth, fast),
        Err(_) => Err("the message body is not JSON".into()),
    }
}

/// The string at `path` below `from`, as text.
fn text_at<V: View>(v: &V, from: V::Id, path: &[&str]) -> Option<String> {
    v.path_from(from, path)
        .and_then(|id| v.text(id))
        .map(crate::json::into_string)
}

fn classify<V: View>(v: &V, depth: u32, fast: bool) -> Result<Notice, String> {
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
                parse_depth(&msg, depth + 1, fast)
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
                let key = crate::json::into_string(t);
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
        return records_array(v, records, depth, fast);
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
fn records_array<V: View>(v: &V, records: V::Id, depth: u32, fast: bool) -> Result<Notice, String> {
    let mut work = Work::default();
    let mut err = None;
    let mut ignored = 0;
    // A wrapped message's work joins this one's; an error poisons the whole message.
    let nested =
        |body: &str, work: &mut Work, ignored: &mut u32| match parse_depth(body, depth + 1, fast) {
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

    /// The EventBridge fast path gives what the full parse gives, on the shared
    /// notification fixtures, on CloudTrail events around every corpus-like record
    /// shape, and on the unusual envelopes it leaves to the full parse.
    #[test]
    fn the_fast_path_agrees_with_the_full_parse() {
        let mut bodies: Vec<String> = std::fs::read_dir(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/testdata/cloudtrail/notifications"),
        )
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "json").then(|| std::fs::read_to_string(p).ok())?
        })
        .collect();
        assert!(bodies.len() >= 10);
        let ty = "AWS API Call via CloudTrail";
        let fast = [
            eventbridge(ty, "aws.iam", RECORD),
            format!(" \n{}\t ", eventbridge(ty, "aws.iam", RECORD)),
            eventbridge(ty, "aws.iam", r#"{"a":"}{\\","b":[{"c":{}}],"d":"\"}"}"#),
            eventbridge("AWS Console Sign In via CloudTrail", "aws.signin", "{}"),
        ];
        for b in &fast {
            assert!(eventbridge_record(b.trim().as_bytes()).is_some(), "{b}");
        }
        bodies.extend(fast);
        for odd in [
            // Left to the full parse: not a record, other shapes, escaped or repeated
            // keys, text after the object, no source, not JSON.
            eventbridge(ty, "aws.iam", r#""a string""#),
            eventbridge(ty, "aws.iam", "[1]"),
            eventbridge("Object Created", "aws.s3", RECORD),
            eventbridge("AWS API Call via CloudTrail\\u0020", "aws.iam", RECORD),
            format!(r#"{{"Type":"Notification","detail-type":"{ty}","source":"s","detail":{{}}}}"#),
            format!(
                r#"{{"Event":"s3:TestEvent","detail-type":"{ty}","source":"s","detail":{{}}}}"#
            ),
            format!(r#"{{"detail\u002dtype":"{ty}","source":"s","detail":{{}}}}"#),
            format!(r#"{{"detail-type":"{ty}","source":"s","detail":{{}},"detail":{{"x":1}}}}"#),
            format!(r#"{{"detail-type":"{ty}","source":1,"detail":{{}}}}"#),
            format!(r#"{{"detail-type":"{ty}","detail":{{}}}}"#),
            format!(r#"{{"detail-type":"{ty}","source":"s","detail":{{}}}} x"#),
            format!(r#"{{"detail-type":"{ty}","source":"s","detail":{{"a":1}}"#),
        ] {
            assert!(eventbridge_record(odd.trim().as_bytes()).is_none(), "{odd}");
            bodies.push(odd);
        }
        for b in &bodies {
            assert_eq!(parse(b), parse_full(b), "{b}");
        }
    }
}
