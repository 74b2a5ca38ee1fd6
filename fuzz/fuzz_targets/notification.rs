//! SQS message bodies (SNS, S3 event, EventBridge, CloudTrail notifications), the
//! EventBridge fast path against the full parse, and SQS JSON responses.
#![no_main]

use cloudtrail::aws::sqs::{parse_failures, parse_messages};
use cloudtrail::json::doc::Doc;
use cloudtrail::source::notify;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    let _ = notify::parse(&body);
    // Where the body is JSON, the EventBridge fast path takes out what the full
    // parse does.
    if Doc::parse(body.as_bytes()).is_some()
        && let Some(record) = notify::eventbridge_record(body.trim().as_bytes())
    {
        let want = notify::Notice::Read(notify::Work {
            files: Vec::new(),
            records: vec![record],
        });
        assert_eq!(notify::parse_full(&body), Ok(want), "fast path disagrees");
    }
    if let Some(doc) = Doc::parse(data) {
        let _ = parse_messages(&doc);
        let _ = parse_failures(&doc);
    }
});
