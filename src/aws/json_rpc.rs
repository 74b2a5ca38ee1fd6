//! One call in AWS's JSON protocol (SQS, CloudTrail): a signed `POST /` with an
//! `x-amz-target` naming the action and a JSON body, answered with JSON. Throttling,
//! 5xx and network errors are retried with backoff; error responses become errors
//! naming the AWS error code.

use super::Aws;
use super::http::{Failure, Request, transient_status};
use crate::error::{Error, Result};
use crate::json::doc::Doc;

/// What to send.
pub struct Call<'a> {
    pub service: &'a str,
    pub region: &'a str,
    /// `application/x-amz-json-1.0` (SQS) or `-1.1` (CloudTrail).
    pub content_type: &'a str,
    pub target: String,
    pub body: String,
    /// Names the call in errors.
    pub what: String,
    /// Largest response accepted.
    pub limit: u64,
}

/// The AWS error code of a JSON-protocol error (`com.amazonaws.sqs#QueueDoesNotExist`
/// → `QueueDoesNotExist`), preferring the query-compatible code when given.
fn error_code(header: Option<&str>, doc: Option<&Doc>) -> Option<String> {
    if let Some(h) = header {
        let code = h.split(';').next().unwrap_or(h);
        if !code.is_empty() {
            return Some(code.to_string());
        }
    }
    let ty = doc?.str_at(&["__type"])?;
    Some(ty.rsplit('#').next().unwrap_or(&ty).to_string())
}

/// Sends `c`; the parsed response. `parse` turns a body into a document (a pooled
/// parser, say); `friendly` words an error code for an operator, when it can.
pub fn call(
    aws: &Aws,
    c: &Call,
    parse: impl Fn(Vec<u8>) -> Option<Doc>,
    friendly: impl Fn(&str) -> Option<String>,
) -> Result<Doc> {
    let what = &c.what;
    aws.http.retrying(what, || {
        let ep = aws.endpoint(c.service, c.region).map_err(Failure::Fatal)?;
        let mut req = Request::new("POST", format!("{}/", ep.base))
            .header("content-type", c.content_type)
            .header("x-amz-target", &c.target);
        req.body = c.body.clone().into_bytes();
        aws.sign(&mut req, c.service, c.region)
            .map_err(Failure::Fatal)?;
        let resp = aws.http.send(&req).map_err(Failure::Transient)?;
        let status = resp.status;
        let query_error = resp.header("x-amzn-query-error").map(str::to_string);
        let bytes = resp
            .bytes(c.limit)
            .map_err(|e| Failure::Transient(format!("{what}: {e}")))?;
        let doc = parse(if bytes.is_empty() {
            b"{}".to_vec()
        } else {
            bytes
        });
        if status < 300 {
            return doc.ok_or_else(|| {
                Failure::Fatal(Error::new(format!("{what}: the response is not JSON")))
            });
        }
        let code = error_code(query_error.as_deref(), doc.as_ref())
            .unwrap_or_else(|| format!("HTTP {status}"));
        if transient_status(status, Some(&code)) {
            return Err(Failure::Transient(code));
        }
        let message = doc
            .as_ref()
            .and_then(|d| d.str_at(&["message"]).or_else(|| d.str_at(&["Message"])))
            .unwrap_or_default();
        let detail = friendly(&code).unwrap_or(message);
        Err(Failure::Fatal(Error::new(format!(
            "cloudtrail plugin error: {code}: {detail}"
        ))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes() {
        let d = Doc::parse(br#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"m"}"#)
            .unwrap();
        assert_eq!(error_code(None, Some(&d)).unwrap(), "QueueDoesNotExist");
        assert_eq!(
            error_code(
                Some("AWS.SimpleQueueService.NonExistentQueue;Sender"),
                Some(&d)
            )
            .unwrap(),
            "AWS.SimpleQueueService.NonExistentQueue"
        );
        assert_eq!(error_code(None, None), None);
    }
}
