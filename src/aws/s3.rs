//! The S3 calls the plugin needs: ListObjectsV2 and GetObject (with resumption).
//!
//! Requests are signed with SigV4 and sent with ureq; error documents become errors
//! naming the bucket and key; a bucket in another region is followed there (S3 says
//! where in `x-amz-bucket-region`); throttling, 5xx and network errors are retried
//! with backoff; a body cut off mid-stream resumes with a `Range` request pinned to the
//! object's ETag, so no byte is read twice.

use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::Aws;
use super::endpoint::Endpoint;
use super::http::{Failure, Request, Response, transient_status, uri_encode, url_decode};
use super::xml;
use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub key: String,
    pub size: u64,
    pub etag: String,
}

/// One page of a listing.
#[derive(Debug, Default)]
pub struct Page {
    pub objects: Vec<Object>,
    pub prefixes: Vec<String>,
    pub next: Option<String>,
}

pub struct S3 {
    pub aws: Arc<Aws>,
    /// Buckets found in another region than the configured one (S3 said where).
    regions: Mutex<HashMap<String, String>>,
}

/// What an S3 error response says.
struct S3Error {
    status: u16,
    code: Option<String>,
    message: Option<String>,
    region: Option<String>,
}

fn read_error(resp: Response) -> S3Error {
    let status = resp.status;
    let region = resp.header("x-amz-bucket-region").map(str::to_string);
    let body = resp.bytes(64 * 1024).unwrap_or_default();
    S3Error {
        status,
        code: xml::first(&body, "Error/Code"),
        message: xml::first(&body, "Error/Message"),
        region: region.or_else(|| xml::first(&body, "Error/Region")),
    }
}

impl S3 {
    pub fn new(aws: Arc<Aws>) -> S3 {
        S3 {
            aws,
            regions: Mutex::new(HashMap::new()),
        }
    }

    fn region_of(&self, bucket: &str) -> String {
        let known = self
            .regions
            .lock()
            .ok()
            .and_then(|m| m.get(bucket).cloned());
        known.unwrap_or_else(|| self.aws.region.clone())
    }

    fn url(&self, ep: &Endpoint, bucket: &str, key: &str, query: &str) -> String {
        let key = uri_encode(key, true);
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        if ep.custom || bucket.contains('.') {
            format!("{}/{}/{key}{q}", ep.base, uri_encode(bucket, false))
        } else {
            let (scheme, host) = ep.base.split_once("://").unwrap_or(("https", &ep.base));
            format!("{scheme}://{bucket}.{host}/{key}{q}")
        }
    }

    /// Sends a signed GET, following a region redirect once, retrying transient
    /// failures. `what` names the request in errors.
    fn get(
        &self,
        bucket: &str,
        key: &str,
        query: &str,
        extra: &[(&str, String)],
        what: &str,
    ) -> Result<Response> {
        let http = &self.aws.http;
        http.retrying(what, || {
            let region = self.region_of(bucket);
            let ep = self.aws.endpoint("s3", &region).map_err(Failure::Fatal)?;
            let mut req = Request::new("GET", self.url(&ep, bucket, key, query));
            for (k, v) in extra {
                req.headers.push((k.to_string(), v.clone()));
            }
            self.aws
                .sign(&mut req, "s3", &region)
                .map_err(Failure::Fatal)?;
            let resp = http.send(&req).map_err(Failure::Transient)?;
            if resp.status < 300 {
                return Ok(resp);
            }
            let e = read_error(resp);
            // The bucket lives in another region: go there (the retry re-signs).
            if matches!(e.status, 301 | 307 | 400)
                && let Some(r) = e.region.as_deref().filter(|r| *r != region)
            {
                if let Ok(mut m) = self.regions.lock() {
                    m.insert(bucket.to_string(), r.to_string());
                }
                return Err(Failure::Transient(format!(
                    "bucket {bucket} is in region {r}"
                )));
            }
            let code = e
                .code
                .clone()
                .unwrap_or_else(|| format!("HTTP {}", e.status));
            if transient_status(e.status, e.code.as_deref()) {
                return Err(Failure::Transient(code));
            }
            let msg = e.message.unwrap_or_default();
            let detail = match code.as_str() {
                "NoSuchBucket" => format!("the bucket {bucket} does not exist"),
                "AccessDenied" => format!(
                    "access denied to s3://{bucket}/{key} (check the IAM policy of the credentials)"
                ),
                "NoSuchKey" => format!("s3://{bucket}/{key} does not exist"),
                _ => format!("s3://{bucket}/{key}: {msg}"),
            };
            Err(Failure::Fatal(Error::new(format!(
                "cloudtrail plugin error: {code}: {detail}"
            ))))
        })
    }

    /// One ListObjectsV2 page.
    pub fn list(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: bool,
        start_after: Option<&str>,
        token: Option<&str>,
    ) -> Result<Page> {
        let mut q = vec![
            ("list-type", "2".to_string()),
            ("encoding-type", "url".to_string()),
        ];
        if !prefix.is_empty() {
            q.push(("prefix", prefix.to_string()));
        }
        if delimiter {
            q.push(("delimiter", "/".to_string()));
        }
        if let Some(s) = start_after {
            q.push(("start-after", s.to_string()));
        }
        if let Some(t) = token {
            q.push(("continuation-token", t.to_string()));
        }
        q.sort();
        let query: Vec<String> = q
            .iter()
            .map(|(k, v)| format!("{k}={}", uri_encode(v, false)))
            .collect();
        let what = format!("listing s3://{bucket}/{prefix}");
        let resp = self.get(bucket, "", &query.join("&"), &[], &what)?;
        let body = resp
            .bytes(64 << 20)
            .map_err(|e| Error::new(format!("{what}: {e}")))?;
        parse_list(&body).map_err(|e| Error::new(format!("{what}: {e}")))
    }

    /// A small object whole (at most `limit` bytes) with its response headers
    /// (`x-amz-meta-*` among them); `None` when there is no such key.
    pub fn fetch(&self, bucket: &str, key: &str, limit: u64) -> Result<Option<Fetched>> {
        let what = format!("downloading s3://{bucket}/{key}");
        let mut resp = match self.get(bucket, key, "", &[], &what) {
            Ok(r) => r,
            Err(e) if is_no_such_key(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let headers = std::mem::take(&mut resp.headers);
        let body = resp
            .bytes(limit)
            .map_err(|e| Error::new(format!("{what}: {e}")))?;
        Ok(Some(Fetched { body, headers }))
    }

    /// Whether an object exists (its first byte is fetched).
    pub fn exists(&self, bucket: &str, key: &str) -> Result<bool> {
        let what = format!("looking for s3://{bucket}/{key}");
        match self.get(bucket, key, "", &[("range", "bytes=0-0".into())], &what) {
            Ok(_) => Ok(true),
            Err(e) if is_no_such_key(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Opens an object for reading from byte `from`, pinned to `etag` when given.
    pub fn open(
        &self,
        bucket: &str,
        key: &str,
        from: u64,
        etag: Option<&str>,
    ) -> Result<(Response, Option<String>)> {
        let mut extra = Vec::new();
        if from > 0 {
            extra.push(("range", format!("bytes={from}-")));
        }
        if let Some(e) = etag {
            extra.push(("if-match", e.to_string()));
        }
        let resp = self.get(
            bucket,
            key,
            "",
            &extra,
            &format!("downloading s3://{bucket}/{key}"),
        )?;
        let etag = resp.header("etag").map(str::to_string);
        Ok((resp, etag))
    }
}

/// An object fetched whole.
pub struct Fetched {
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl Fetched {
    /// A response header, by its lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        super::http::header_in(&self.headers, name)
    }
}

fn is_no_such_key(e: &Error) -> bool {
    e.message().contains("error: NoSuchKey:")
}

/// Parses a ListObjectsV2 response body.
pub fn parse_list(body: &[u8]) -> std::result::Result<Page, String> {
    let mut page = Page::default();
    let mut truncated = false;
    let mut token = None;
    let mut cur: Option<Object> = None;
    let mut prefix = String::new();
    xml::walk(body, &mut |path, text| match (path, text) {
        ("ListBucketResult/Contents", "") => {
            if let Some(o) = cur.take() {
                page.objects.push(o);
            }
            cur = Some(Object {
                key: String::new(),
                size: 0,
                etag: String::new(),
            });
        }
        ("ListBucketResult/Contents/Key", t) => {
            if let Some(o) = &mut cur {
                o.key.push_str(t);
            }
        }
        ("ListBucketResult/Contents/Size", t) => {
            if let Some(o) = &mut cur {
                o.size = t.trim().parse().unwrap_or(0);
            }
        }
        ("ListBucketResult/Contents/ETag", t) => {
            if let Some(o) = &mut cur {
                o.etag.push_str(t);
            }
        }
        ("ListBucketResult/CommonPrefixes/Prefix", "") if !prefix.is_empty() => {
            page.prefixes.push(std::mem::take(&mut prefix));
        }
        ("ListBucketResult/CommonPrefixes/Prefix", "") => {}
        ("ListBucketResult/CommonPrefixes/Prefix", t) => prefix.push_str(t),
        ("ListBucketResult/IsTruncated", t) => truncated = t.trim() == "true",
        ("ListBucketResult/NextContinuationToken", t) => {
            token.get_or_insert_with(String::new).push_str(t)
        }
        _ => {}
    })?;
    if let Some(o) = cur.take() {
        page.objects.push(o);
    }
    if !prefix.is_empty() {
        page.prefixes.push(prefix);
    }
    for o in &mut page.objects {
        o.key = url_decode(&o.key, true);
    }
    for p in &mut page.prefixes {
        *p = url_decode(p, true);
    }
    page.next = if truncated { token } else { None };
    Ok(page)
}

/// An object's body that survives connection resets and truncation: each failure
/// resumes with a Range request pinned by If-Match to the ETag first seen.
pub struct ObjectReader {
    s3: Arc<S3>,
    bucket: String,
    key: String,
    etag: Option<String>,
    offset: u64,
    inner: Option<Box<dyn Read + Send>>,
    expected: Option<u64>,
    resumes: u32,
    metrics: Arc<Metrics>,
    /// Set when the download failed for good (a transport failure, not bad content).
    gave_up: Arc<AtomicBool>,
}

impl ObjectReader {
    pub fn open(
        s3: Arc<S3>,
        bucket: &str,
        key: &str,
        metrics: Arc<Metrics>,
        gave_up: Arc<AtomicBool>,
    ) -> Result<ObjectReader> {
        let mut r = ObjectReader {
            s3,
            bucket: bucket.to_string(),
            key: key.to_string(),
            etag: None,
            offset: 0,
            inner: None,
            expected: None,
            resumes: 0,
            metrics,
            gave_up,
        };
        r.reopen()?;
        Ok(r)
    }

    fn reopen(&mut self) -> Result<()> {
        let (resp, etag) =
            self.s3
                .open(&self.bucket, &self.key, self.offset, self.etag.as_deref())?;
        if self.offset == 0 {
            self.expected = resp.header("content-length").and_then(|l| l.parse().ok());
        } else if resp.status != 206 {
            return Err(Error::new(format!(
                "s3://{}/{}: the server ignored the resume range (HTTP {})",
                self.bucket, self.key, resp.status
            )));
        }
        if self.etag.is_none() {
            self.etag = etag;
        }
        self.inner = Some(Box::new(resp.reader()));
        Ok(())
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let result = match &mut self.inner {
                Some(r) => r.read(buf),
                None => Err(std::io::Error::other("not open")),
            };
            let cut_short = |n: usize, me: &Self| {
                n == 0 && !buf.is_empty() && me.expected.is_some_and(|e| me.offset < e)
            };
            match result {
                Ok(n) if !cut_short(n, self) => {
                    self.offset += n as u64;
                    Metrics::add(&self.metrics.bytes_read, n as u64);
                    return Ok(n);
                }
                outcome => {
                    let why = match outcome {
                        Err(e) => e.to_string(),
                        Ok(_) => "the body ended early".to_string(),
                    };
                    self.resumes += 1;
                    if self.resumes > self.s3.aws.http.retry.attempts || self.s3.aws.http.stopping()
                    {
                        self.gave_up.store(true, Ordering::Relaxed);
                        return Err(std::io::Error::other(format!(
                            "s3://{}/{}: download failed at byte {}: {why}",
                            self.bucket, self.key, self.offset
                        )));
                    }
                    Metrics::add(&self.metrics.retries, 1);
                    self.s3
                        .aws
                        .http
                        .sleep(super::http::backoff(self.s3.aws.http.retry, self.resumes));
                    self.inner = None;
                    if let Err(e) = self.reopen() {
                        self.gave_up.store(true, Ordering::Relaxed);
                        return Err(std::io::Error::other(e.to_string()));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_xml() {
        let x = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>AWSLogs/</Prefix>
<KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>
<NextContinuationToken>tok+en/=</NextContinuationToken><EncodingType>url</EncodingType>
<Contents><Key>AWSLogs/a+b%2Cc.json.gz</Key><LastModified>2023-01-01T00:00:00.000Z</LastModified><ETag>&quot;abc&quot;</ETag><Size>123</Size></Contents>
<Contents><Key>AWSLogs/d.json</Key><ETag>"def"</ETag><Size>4</Size></Contents>
<CommonPrefixes><Prefix>AWSLogs/111122223333/</Prefix></CommonPrefixes><CommonPrefixes><Prefix>AWSLogs/o-aaaaaaaaaa/</Prefix></CommonPrefixes>
</ListBucketResult>"#;
        let p = parse_list(x).unwrap();
        assert_eq!(
            p.objects,
            [
                Object {
                    key: "AWSLogs/a b,c.json.gz".into(),
                    size: 123,
                    etag: "\"abc\"".into()
                },
                Object {
                    key: "AWSLogs/d.json".into(),
                    size: 4,
                    etag: "\"def\"".into()
                },
            ]
        );
        assert_eq!(
            p.prefixes,
            ["AWSLogs/111122223333/", "AWSLogs/o-aaaaaaaaaa/"]
        );
        assert_eq!(p.next.as_deref(), Some("tok+en/="));
    }
}
