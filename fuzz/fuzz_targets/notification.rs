//! SQS message bodies (SNS, S3 event, EventBridge, CloudTrail notifications) and
//! SQS JSON responses.
#![no_main]

use cloudtrail::aws::sqs::{parse_failures, parse_messages};
use cloudtrail::json::doc::Doc;
use cloudtrail::source::notify;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = notify::parse(&String::from_utf8_lossy(data));
    if let Some(doc) = Doc::parse(data) {
        let _ = parse_messages(&doc);
        let _ = parse_failures(&doc);
    }
});
