//! The HTTP client: ureq over rustls, trusting the system's CA store (and
//! `AWS_CA_BUNDLE`), honouring `HTTPS_PROXY`/`NO_PROXY`, with bounded retries.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::{Agent, Proxy};

use super::env::Env;
use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// Where Linux distributions keep their CA bundle.
const SYSTEM_BUNDLES: [&str; 5] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
];

/// How long a response body may send nothing before it counts as stalled.
pub const STALL: Duration = Duration::from_secs(5);
/// The output buffer of a connection (see `Http::with_timeouts`): room for a signed
/// request head and a batch call's body; a larger body goes out in pieces.
const OUTPUT_BUFFER: usize = 16 * 1024;
/// The input buffer of a connection: a response head, and S3 bodies read through it
/// in pieces of this size. Idle connections keep both buffers.
const INPUT_BUFFER: usize = 32 * 1024;
/// Idle connections kept per host: one per thread that calls it at once (receivers,
/// acknowledgers, download workers).
const IDLE_CONNECTIONS: usize = 160;

/// One HTTP request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(method: &'static str, url: impl Into<String>) -> Request {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, k: &str, v: &str) -> Request {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
}

/// A response with its body still to read.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    body: ureq::Body,
}

/// The value of header `name` (any case) among `headers`.
pub fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    /// The whole body, up to `limit` bytes.
    pub fn bytes(self, limit: u64) -> std::result::Result<Vec<u8>, String> {
        // Sized once from the length the server announced, instead of grown (and
        // copied) a dozen times on the way.
        let announced = self.body.content_length().unwrap_or(0).min(limit);
        let mut out = Vec::with_capacity(announced as usize);
        self.reader()
            .take(limit)
            .read_to_end(&mut out)
            .map_err(|e| format!("reading the response body: {e}"))?;
        Ok(out)
    }

    pub fn reader(self) -> impl Read + Send {
        self.body.into_reader()
    }
}

/// Why a request failed, and whether trying again may help.
#[derive(Debug)]
pub enum Failure {
    /// Timeouts, connection errors, throttling, 5xx.
    Transient(String),
    /// Anything else (the message is final).
    Fatal(Error),
}

/// Retry policy: exponential backoff with full jitter.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 5,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
        }
    }
}

#[derive(Clone)]
pub struct Http {
    agent: Agent,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
    pub retry: Retry,
}

fn load_pem(path: &str, out: &mut Vec<Certificate<'static>>) -> std::result::Result<usize, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let before = out.len();
    for item in ureq::tls::parse_pem(&pem) {
        if let Ok(PemItem::Certificate(c)) = item {
            out.push(c);
        }
    }
    Ok(out.len() - before)
}

/// The trusted roots: the system bundle (or `SSL_CERT_FILE`), plus `AWS_CA_BUNDLE` /
/// the profile's `ca_bundle`; the bundled Mozilla roots when the system has none.
fn roots(env: &Env, extra_bundle: Option<&str>) -> Result<RootCerts> {
    let mut certs = Vec::new();
    let system = env
        .get("SSL_CERT_FILE")
        .map(|p| vec![p.to_string()])
        .unwrap_or_else(|| SYSTEM_BUNDLES.iter().map(|s| s.to_string()).collect());
    for p in system {
        if load_pem(&p, &mut certs).is_ok_and(|n| n > 0) {
            break;
        }
    }
    let found_system = !certs.is_empty();
    if let Some(bundle) = env.get("AWS_CA_BUNDLE").or(extra_bundle) {
        let n =
            load_pem(bundle, &mut certs).map_err(|e| Error::new(format!("AWS_CA_BUNDLE: {e}")))?;
        if n == 0 {
            return Err(Error::new(format!(
                "AWS_CA_BUNDLE: no certificate in {bundle}"
            )));
        }
    }
    if !found_system && certs.is_empty() {
        return Ok(RootCerts::WebPki);
    }
    Ok(RootCerts::Specific(Arc::new(certs)))
}

impl Http {
    pub fn new(
        env: &Env,
        extra_bundle: Option<&str>,
        metrics: Arc<Metrics>,
        stop: Arc<AtomicBool>,
    ) -> Result<Http> {
        Self::with_timeouts(
            env,
            extra_bundle,
            metrics,
            stop,
            Duration::from_secs(5),
            Duration::from_secs(60),
        )
    }

    /// A client with other connect and response timeouts (the metadata endpoints
    /// answer at once or not at all).
    pub fn with_timeouts(
        env: &Env,
        extra_bundle: Option<&str>,
        metrics: Arc<Metrics>,
        stop: Arc<AtomicBool>,
        connect: Duration,
        response: Duration,
    ) -> Result<Http> {
        let tls = TlsConfig::builder()
            .root_certs(roots(env, extra_bundle)?)
            .build();
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls)
            .proxy(Proxy::try_from_env())
            .timeout_connect(Some(connect))
            .timeout_recv_response(Some(response))
            // A body that sends nothing for this long is stalled: S3 reads resume
            // with a Range request, and `close` never waits longer on a worker.
            .timeout_per_read(Some(STALL))
            // Requests go out without waiting for the peer's ACK (ureq writes the head
            // and the body separately; with Nagle's algorithm a server or proxy that
            // delays its ACKs would stall every call ~40 ms). ureq's default, made sure.
            .no_delay(true)
            // ureq zeroes its output buffer for every request: requests are a few
            // KiB (a signed head, an SQS body), so a small one.
            .output_buffer_size(OUTPUT_BUFFER)
            .input_buffer_size(INPUT_BUFFER)
            // Every thread of a source keeps its connection between calls: long
            // polls, deletions and downloads run at once (ureq keeps only three per
            // host by default, so the others reconnect, with a TLS handshake, on
            // every call).
            .max_idle_connections_per_host(IDLE_CONNECTIONS)
            .max_idle_connections(2 * IDLE_CONNECTIONS)
            .max_redirects(0)
            .user_agent(format!("libcloudtrail/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Http {
            agent,
            metrics,
            stop,
            retry: Retry::default(),
        })
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Sends one request (no retry).
    pub fn send(&self, req: &Request) -> std::result::Result<Response, String> {
        let mut b = ureq::http::Request::builder()
            .method(req.method)
            .uri(&req.url);
        for (k, v) in &req.headers {
            b = b.header(k, v);
        }
        let http_req = b
            .body(req.body.clone())
            .map_err(|e| format!("bad request for {}: {e}", req.url))?;
        let resp = self.agent.run(http_req).map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        Ok(Response {
            status,
            headers,
            body: resp.into_body(),
        })
    }

    /// Runs `op` until it succeeds, fails for good, or the retry budget (or the
    /// source) runs out. `what` names the operation in the final error.
    pub fn retrying<T>(
        &self,
        what: &str,
        mut op: impl FnMut() -> std::result::Result<T, Failure>,
    ) -> Result<T> {
        let mut attempt = 0;
        loop {
            match op() {
                Ok(v) => return Ok(v),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Transient(msg)) => {
                    attempt += 1;
                    if attempt >= self.retry.attempts {
                        return Err(Error::new(format!(
                            "{what}: {msg} (gave up after {attempt} attempts)"
                        )));
                    }
                    if self.stopping() {
                        return Err(Error::new(format!("{what}: stopped")));
                    }
                    Metrics::add(&self.metrics.retries, 1);
                    self.sleep(backoff(self.retry, attempt));
                }
            }
        }
    }

    /// Sleeps, waking early when the source stops.
    pub fn sleep(&self, d: Duration) {
        let end = std::time::Instant::now() + d;
        while !self.stopping() {
            let now = std::time::Instant::now();
            if now >= end {
                return;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(50)));
        }
    }
}

/// A cheap random number for jitter (no cryptographic use).
pub fn jitter_u64() -> u64 {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = t ^ SEQ.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x
}

/// Full jitter: a random delay up to min(cap, base × 2^attempt).
pub fn backoff(r: Retry, attempt: u32) -> Duration {
    let ceiling = r.base.saturating_mul(1 << attempt.min(16)).min(r.cap);
    let ms = ceiling.as_millis().max(1) as u64;
    Duration::from_millis(jitter_u64() % ms + 1)
}

/// Whether an HTTP status (and AWS error code) is worth retrying.
pub fn transient_status(status: u16, code: Option<&str>) -> bool {
    status >= 500
        || status == 429
        || matches!(
            code,
            Some(
                "SlowDown"
                    | "Throttling"
                    | "ThrottlingException"
                    | "ThrottledException"
                    | "RequestThrottled"
                    | "RequestThrottledException"
                    | "TooManyRequestsException"
                    | "RequestTimeout"
                    | "RequestTimeoutException"
                    | "InternalError"
                    | "ServiceUnavailable"
                    | "IDPCommunicationError"
            )
        )
}

/// RFC 3986 percent-encoding of everything but unreserved characters (and `/` when
/// `keep_slash`), as SigV4 and S3 keys need.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes and, when `plus_is_space`, `+` (S3 event notification keys).
pub fn url_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding() {
        assert_eq!(
            uri_encode("AWSLogs/1/a b+c.json.gz", true),
            "AWSLogs/1/a%20b%2Bc.json.gz"
        );
        assert_eq!(uri_encode("a/b", false), "a%2Fb");
        assert_eq!(url_decode("a+b%20c%2Fd%zz", true), "a b c/d%zz");
        assert_eq!(url_decode("a+b", false), "a+b");
        assert_eq!(url_decode("%41%", true), "A%");
    }

    #[test]
    fn backoff_is_bounded() {
        let r = Retry::default();
        for a in 1..20 {
            let d = backoff(r, a);
            assert!(d <= r.cap + Duration::from_millis(1));
            assert!(d >= Duration::from_millis(1));
        }
    }

    #[test]
    fn transient_codes() {
        assert!(transient_status(503, None));
        assert!(transient_status(400, Some("SlowDown")));
        assert!(!transient_status(403, Some("AccessDenied")));
        assert!(!transient_status(404, None));
    }
}
