//! EventBridge events as CloudTrail sends them, and the envelopes they reach an SQS
//! queue in: straight from an EventBridge rule, through SNS (raw delivery off), and
//! the Lambda-style `Records` envelopes. Modelled on AWS's documented examples; the
//! record goes in as raw text, byte for byte.

#![allow(dead_code)]

use serde_json::{Value, json};

/// The EventBridge `detail-type` CloudTrail uses for a record of this `eventType`.
pub fn detail_type(record: &Value) -> &'static str {
    match record["eventType"].as_str().unwrap_or("") {
        "AwsConsoleSignIn" => "AWS Console Sign In via CloudTrail",
        "AwsServiceEvent" => "AWS Service Event via CloudTrail",
        "AwsConsoleAction" => "AWS Console Action via CloudTrail",
        "AwsCloudTrailInsight" => "AWS Insight via CloudTrail",
        _ => "AWS API Call via CloudTrail",
    }
}

/// An EventBridge event carrying `raw` (a record's exact text) as its `detail`.
/// `n` makes the event id unique.
pub fn event(raw: &str, n: usize) -> String {
    let rec: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
    let source = rec["eventSource"]
        .as_str()
        .map(|s| format!("aws.{}", s.trim_end_matches(".amazonaws.com")))
        .unwrap_or_else(|| "aws.cloudtrail".into());
    let s = |v: &str| Value::String(v.to_string()).to_string();
    format!(
        r#"{{"version":"0","id":{},"detail-type":{},"source":{},"account":{},"time":{},"region":{},"resources":[],"detail":{raw}}}"#,
        s(&format!("{n:08x}-05d4-b198-2fde-7ededc63b103")),
        s(detail_type(&rec)),
        s(&source),
        s(rec["recipientAccountId"].as_str().unwrap_or("123456789012")),
        s(rec["eventTime"].as_str().unwrap_or("2024-01-01T00:00:00Z")),
        s(rec["awsRegion"].as_str().unwrap_or("us-east-1")),
    )
}

/// `message` as SNS delivers it to SQS with raw message delivery off.
pub fn sns(message: &str, n: usize) -> String {
    json!({
        "Type": "Notification",
        "MessageId": format!("{n:08x}-1111-5555-9999-0123456789ab"),
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:cloudtrail-events",
        "Message": message,
        "Timestamp": "2024-01-01T00:00:01.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"
    })
    .to_string()
}

/// `body` in a Lambda-style SQS event envelope.
pub fn lambda_sqs(body: &str, n: usize) -> String {
    json!({"Records": [{
        "messageId": format!("{n:08x}-aaaa-bbbb-cccc-0123456789ab"),
        "receiptHandle": "MessageReceiptHandle",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1704067201000"},
        "messageAttributes": {},
        "md5OfBody": "7b270e59b47ff90a553787216d55d91d",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:cloudtrail-events",
        "awsRegion": "us-east-1"
    }]})
    .to_string()
}

/// `message` in a Lambda-style SNS event envelope.
pub fn lambda_sns(message: &str, n: usize) -> String {
    let sns: Value = serde_json::from_str(&sns(message, n)).unwrap();
    json!({"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:cloudtrail-events:sub",
        "Sns": sns
    }]})
    .to_string()
}

/// The `n`-th of the four shapes, round robin: EventBridge → SQS, → SNS → SQS,
/// Lambda-style SQS, Lambda-style SNS. (SNS with raw delivery on is the first.)
pub fn wrapped(raw: &str, n: usize) -> String {
    let ev = event(raw, n);
    match n % 4 {
        0 => ev,
        1 => sns(&ev, n),
        2 => lambda_sqs(&ev, n),
        _ => lambda_sns(&ev, n),
    }
}
