//! The SQS calls the plugin needs, in SQS's JSON protocol: GetQueueUrl,
//! ReceiveMessage (long polling), DeleteMessageBatch, ChangeMessageVisibilityBatch.
//!
//! Requests are signed with SigV4 and sent with ureq, like S3's; throttling, 5xx and
//! network errors are retried with backoff; error responses become errors naming the
//! queue and the AWS error code.

use std::sync::{Arc, Mutex};

use super::{Aws, json_rpc};
use crate::error::{Error, Result};
use crate::json::doc::Doc;
use crate::json::tape::Indexer;
use crate::json::{Kind, View, write_string};

/// Largest response accepted (ten messages of at most 1 MiB each, with room).
const MAX_RESPONSE: u64 = 32 << 20;

/// The most entries one batch call takes.
pub const BATCH: usize = 10;

pub struct Sqs {
    pub aws: Arc<Aws>,
    /// Indexers for responses, reused: a receive's response is tens of KiB, and a
    /// fresh indexer's buffers for it cost more than parsing it.
    parsers: Mutex<Vec<Indexer>>,
}

/// Indexers kept for reuse at most (one per thread calling at once is enough).
const SPARE_PARSERS: usize = 32;

/// One received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub receipt: String,
    pub body: String,
    /// How many times SQS handed this message out (1 the first time).
    pub receive_count: u64,
}

/// An entry of a batch call that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchFailure {
    pub index: usize,
    pub code: String,
    pub message: String,
}

fn friendly(code: &str, queue: &str) -> Option<String> {
    Some(match code {
        "QueueDoesNotExist" | "AWS.SimpleQueueService.NonExistentQueue" => format!(
            "the queue {queue} does not exist (check the queue name, aws.region and sqsOwnerAccount)"
        ),
        "AccessDenied" | "AccessDeniedException" => {
            format!("access denied to the queue {queue} (check the IAM policy of the credentials)")
        }
        _ => return None,
    })
}

impl Sqs {
    pub fn new(aws: Arc<Aws>) -> Sqs {
        Sqs {
            aws,
            parsers: Mutex::new(Vec::new()),
        }
    }

    /// Parses a response body with a pooled indexer.
    fn parse(&self, bytes: Vec<u8>) -> Option<Doc> {
        let lock = || self.parsers.lock().unwrap_or_else(|p| p.into_inner());
        let mut indexer = lock().pop().unwrap_or_default();
        let doc = Doc::from_vec_with(&mut indexer, bytes);
        let mut spare = lock();
        if spare.len() < SPARE_PARSERS {
            spare.push(indexer);
        }
        doc
    }

    /// One call: `action` with a JSON `body`; the parsed response. `queue` names the
    /// queue in errors.
    fn call(&self, action: &str, body: String, queue: &str) -> Result<Doc> {
        let c = json_rpc::Call {
            service: "sqs",
            region: &self.aws.region,
            content_type: "application/x-amz-json-1.0",
            target: format!("AmazonSQS.{action}"),
            body,
            what: format!("SQS {action} on {queue}"),
            limit: MAX_RESPONSE,
        };
        json_rpc::call(
            &self.aws,
            &c,
            |b| self.parse(b),
            |code| friendly(code, queue),
        )
    }

    /// The URL of queue `name`, owned by `owner` when not the caller's account.
    pub fn queue_url(&self, name: &str, owner: Option<&str>) -> Result<String> {
        let mut body = String::from("{\"QueueName\":");
        write_string(&mut body, name);
        if let Some(o) = owner {
            body.push_str(",\"QueueOwnerAWSAccountId\":");
            write_string(&mut body, o);
        }
        body.push('}');
        let doc = self.call("GetQueueUrl", body, name)?;
        doc.str_at(&["QueueUrl"]).ok_or_else(|| {
            Error::new(format!(
                "SQS GetQueueUrl on {name}: the response has no QueueUrl"
            ))
        })
    }

    /// Long-polls for up to `max` messages, waiting up to `wait` seconds; received
    /// messages stay hidden from other readers for `visibility` seconds.
    pub fn receive(
        &self,
        url: &str,
        max: usize,
        wait: u32,
        visibility: u32,
    ) -> Result<Vec<Message>> {
        let mut body = String::from("{\"QueueUrl\":");
        write_string(&mut body, url);
        body.push_str(&format!(
            ",\"MaxNumberOfMessages\":{},\"WaitTimeSeconds\":{wait},\"VisibilityTimeout\":{visibility},\"AttributeNames\":[\"ApproximateReceiveCount\"],\"MessageSystemAttributeNames\":[\"ApproximateReceiveCount\"]}}",
            max.clamp(1, BATCH)
        ));
        let doc = self.call("ReceiveMessage", body, url)?;
        Ok(parse_messages(&doc))
    }

    /// Deletes messages by receipt handle; returns the entries that failed.
    pub fn delete(&self, url: &str, receipts: &[&str]) -> Result<Vec<BatchFailure>> {
        self.batch(url, "DeleteMessageBatch", receipts, None)
    }

    /// Sets how long more messages stay hidden (0: visible again at once); returns
    /// the entries that failed.
    pub fn set_visibility(
        &self,
        url: &str,
        receipts: &[&str],
        seconds: u32,
    ) -> Result<Vec<BatchFailure>> {
        self.batch(url, "ChangeMessageVisibilityBatch", receipts, Some(seconds))
    }

    fn batch(
        &self,
        url: &str,
        action: &str,
        receipts: &[&str],
        visibility: Option<u32>,
    ) -> Result<Vec<BatchFailure>> {
        let mut failures = Vec::new();
        for (n, chunk) in receipts.chunks(BATCH).enumerate() {
            let mut body = String::from("{\"QueueUrl\":");
            write_string(&mut body, url);
            body.push_str(",\"Entries\":[");
            for (i, r) in chunk.iter().enumerate() {
                if i > 0 {
                    body.push(',');
                }
                body.push_str(&format!("{{\"Id\":\"m{i}\",\"ReceiptHandle\":"));
                write_string(&mut body, r);
                if let Some(v) = visibility {
                    body.push_str(&format!(",\"VisibilityTimeout\":{v}"));
                }
                body.push('}');
            }
            body.push_str("]}");
            let doc = self.call(action, body, url)?;
            for mut f in parse_failures(&doc) {
                f.index += n * BATCH;
                failures.push(f);
            }
        }
        Ok(failures)
    }
}

/// The messages of a ReceiveMessage response.
pub fn parse_messages(doc: &Doc) -> Vec<Message> {
    let v = doc.view();
    let mut out = Vec::new();
    let Some(list) = v.path(&["Messages"]) else {
        return out;
    };
    let text = |id| v.text(id).map(crate::json::into_string).unwrap_or_default();
    v.each_element(list, &mut |m| {
        let get = |key: &str| v.member(m, key).map(text).unwrap_or_default();
        let count = v
            .path_from(m, &["Attributes", "ApproximateReceiveCount"])
            .map(|id| match v.kind(id) {
                Kind::Number => v.number_u64(id),
                _ => text(id).parse().unwrap_or(0),
            })
            .unwrap_or(0);
        out.push(Message {
            id: get("MessageId"),
            receipt: get("ReceiptHandle"),
            body: get("Body"),
            receive_count: count,
        });
        true
    });
    out
}

/// The failed entries of a batch response.
pub fn parse_failures(doc: &Doc) -> Vec<BatchFailure> {
    let v = doc.view();
    let mut out = Vec::new();
    let Some(list) = v.path(&["Failed"]) else {
        return out;
    };
    v.each_element(list, &mut |f| {
        let get = |key: &str| {
            v.member(f, key)
                .and_then(|id| v.text(id))
                .map(crate::json::into_string)
                .unwrap_or_default()
        };
        let index = get("Id")
            .strip_prefix('m')
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        out.push(BatchFailure {
            index,
            code: get("Code"),
            message: get("Message"),
        });
        true
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_failures() {
        let d = Doc::parse(
            br#"{"Messages":[{"MessageId":"a","ReceiptHandle":"r\/1","MD5OfBody":"x",
                "Body":"{\"Type\":\"Notification\"}","Attributes":{"ApproximateReceiveCount":"3"}},
                {"MessageId":"b","ReceiptHandle":"r2","Body":""}]}"#,
        )
        .unwrap();
        assert_eq!(
            parse_messages(&d),
            [
                Message {
                    id: "a".into(),
                    receipt: "r/1".into(),
                    body: r#"{"Type":"Notification"}"#.into(),
                    receive_count: 3
                },
                Message {
                    id: "b".into(),
                    receipt: "r2".into(),
                    body: String::new(),
                    receive_count: 0
                }
            ]
        );
        assert!(parse_messages(&Doc::parse(b"{}").unwrap()).is_empty());
        let d = Doc::parse(
            br#"{"Successful":[{"Id":"m0"}],"Failed":[{"Id":"m1","SenderFault":true,"Code":"ReceiptHandleIsInvalid","Message":"bad"}]}"#,
        )
        .unwrap();
        assert_eq!(
            parse_failures(&d),
            [BatchFailure {
                index: 1,
                code: "ReceiptHandleIsInvalid".into(),
                message: "bad".into()
            }]
        );
    }

    #[test]
    fn friendly_errors_name_the_queue() {
        let f = friendly("AWS.SimpleQueueService.NonExistentQueue", "q").unwrap();
        assert!(f.contains("the queue q does not exist"), "{f}");
        assert_eq!(friendly("Throttling", "q"), None);
    }
}
