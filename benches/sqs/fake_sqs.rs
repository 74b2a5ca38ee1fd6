//! An SQS queue in memory, so that a benchmark measures the consumer and not an
//! emulator (moto's SQS slows down with the queue's depth): SQS's JSON protocol
//! (GetQueueUrl, ReceiveMessage with long polling, DeleteMessageBatch,
//! ChangeMessageVisibilityBatch) over HTTP/1.1 keep-alive on 127.0.0.1, one thread per
//! connection, every response written in one piece with `TCP_NODELAY` (a reply in two
//! packets would meet the client's delayed ACK and stall ~40 ms).
//!
//! The queue never runs dry: it hands out up to `budget` messages, each a one-event
//! EventBridge message built on the fly from the invictus records with a distinct
//! eventID, and counts every call. A per-call latency stands in for the network and
//! SQS itself (10–30 ms inside a region). Controlled over the same port:
//! `POST /_bench/reset?latency_ms=L&budget=N`, `POST /_bench/enqueue?n=K` (wakes the
//! long polls waiting), `GET /_bench/stats`.
//!
//! No signature is checked and nothing is redelivered: consumers under test delete
//! what they read.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// One message's body in two escaped halves around the eventID's distinct prefix:
/// the SQS response carries the body as a JSON string.
struct Template {
    head: String,
    tail: String,
}

#[derive(Default)]
struct Calls {
    get_url: u64,
    receive: u64,
    receive_empty: u64,
    delete: u64,
    visibility: u64,
    other: u64,
}

#[derive(Default)]
struct State {
    latency: Duration,
    /// Messages that may still be handed out.
    budget: u64,
    /// Messages handed out since the reset (also the next message's number).
    handed: u64,
    deleted: u64,
    /// Numbers of the messages handed out and not deleted.
    outstanding: HashSet<u64>,
    calls: Calls,
    reset_at: Option<Instant>,
    first_out: Option<Instant>,
    last_delete: Option<Instant>,
    /// Bumped by a reset: receipts of earlier rounds delete nothing.
    round: u64,
}

pub struct Fake {
    state: Mutex<State>,
    arrived: Condvar,
    templates: Vec<Template>,
    base: String,
}

const MARK: &str = "\u{1}MARK\u{1}";

impl Fake {
    /// Serves on 127.0.0.1 (a free port); returns the base URL once listening.
    pub fn start(records: &[Vec<u8>]) -> Arc<Fake> {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let templates = records
            .iter()
            .enumerate()
            .map(|(n, r)| {
                let raw = std::str::from_utf8(r).expect("UTF-8 record");
                let raw = raw.replacen("\"eventID\":\"", &format!("\"eventID\":\"{MARK}"), 1);
                let body = super::eventbridge::event(&raw, n);
                let quoted = Value::String(body).to_string();
                let mark = Value::String(MARK.into()).to_string();
                let mark = &mark[1..mark.len() - 1];
                let (head, tail) = quoted.split_once(mark).expect("marked eventID");
                Template {
                    head: head.to_string(),
                    tail: tail.to_string(),
                }
            })
            .collect();
        let fake = Arc::new(Fake {
            state: Mutex::new(State::default()),
            arrived: Condvar::new(),
            templates,
            base,
        });
        let f = fake.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let f = f.clone();
                std::thread::spawn(move || f.serve(stream));
            }
        });
        fake
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn serve(&self, stream: TcpStream) {
        stream.set_nodelay(true).ok();
        let mut out = stream.try_clone().expect("clone stream");
        let mut r = BufReader::new(stream);
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_string();
            let path = parts.next().unwrap_or("").to_string();
            let (mut len, mut target, mut close) = (0usize, String::new(), false);
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 {
                    return;
                }
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    match k.trim().to_ascii_lowercase().as_str() {
                        "content-length" => len = v.trim().parse().unwrap_or(0),
                        "x-amz-target" => target = v.trim().to_string(),
                        "connection" => close = v.trim().eq_ignore_ascii_case("close"),
                        _ => {}
                    }
                }
            }
            let mut body = vec![0; len];
            if r.read_exact(&mut body).is_err() {
                return;
            }
            let (status, reply) = if path.starts_with("/_bench/") {
                self.control(&method, &path)
            } else {
                self.sqs(&target, &body)
            };
            let head = format!(
                "HTTP/1.1 {status} OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n",
                reply.len()
            );
            let mut all = head.into_bytes();
            all.extend_from_slice(reply.as_bytes());
            if out.write_all(&all).is_err() || close {
                return;
            }
        }
    }

    fn control(&self, method: &str, path: &str) -> (u16, String) {
        let (route, query) = path.split_once('?').unwrap_or((path, ""));
        let arg = |name: &str| {
            query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let mut g = self.lock();
        match (method, route) {
            ("POST", "/_bench/reset") => {
                let round = g.round + 1;
                *g = State {
                    latency: Duration::from_millis(arg("latency_ms")),
                    budget: arg("budget"),
                    reset_at: Some(Instant::now()),
                    round,
                    ..State::default()
                };
                (200, "{}".into())
            }
            ("POST", "/_bench/enqueue") => {
                g.budget += arg("n");
                self.arrived.notify_all();
                (200, "{}".into())
            }
            ("GET", "/_bench/stats") => {
                let secs = |t: Option<Instant>| match (g.reset_at, t) {
                    (Some(r), Some(t)) => t.duration_since(r).as_secs_f64(),
                    _ => 0.0,
                };
                let c = &g.calls;
                let v = json!({
                    "handed": g.handed,
                    "deleted": g.deleted,
                    "first_out": secs(g.first_out),
                    "last_delete": secs(g.last_delete),
                    "get_url": c.get_url,
                    "receive": c.receive,
                    "receive_empty": c.receive_empty,
                    "delete": c.delete,
                    "visibility": c.visibility,
                    "other": c.other,
                });
                (200, v.to_string())
            }
            _ => (404, "{}".into()),
        }
    }

    fn sqs(&self, target: &str, body: &[u8]) -> (u16, String) {
        let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let action = target.strip_prefix("AmazonSQS.").unwrap_or(target);
        let latency = self.lock().latency;
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        match action {
            "GetQueueUrl" => {
                self.lock().calls.get_url += 1;
                let name = req["QueueName"].as_str().unwrap_or("bench");
                let url = format!("{}/123456789012/{name}", self.base);
                (200, json!({ "QueueUrl": url }).to_string())
            }
            "ReceiveMessage" => (200, self.receive(&req)),
            "DeleteMessageBatch" => (200, self.delete(&req)),
            "ChangeMessageVisibilityBatch" => {
                self.lock().calls.visibility += 1;
                (200, Self::all_successful(&req))
            }
            _ => {
                self.lock().calls.other += 1;
                (
                    400,
                    json!({"__type": "com.amazonaws.sqs#UnsupportedOperation", "message": action})
                        .to_string(),
                )
            }
        }
    }

    fn receive(&self, req: &Value) -> String {
        let max = req["MaxNumberOfMessages"]
            .as_u64()
            .unwrap_or(1)
            .clamp(1, 10);
        let wait = Duration::from_secs(req["WaitTimeSeconds"].as_u64().unwrap_or(0).min(20));
        let until = Instant::now() + wait;
        let mut g = self.lock();
        g.calls.receive += 1;
        while g.budget == 0 {
            let now = Instant::now();
            if now >= until {
                break;
            }
            g = self
                .arrived
                .wait_timeout(g, until - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let n = max.min(g.budget);
        if n == 0 {
            g.calls.receive_empty += 1;
            return "{}".into();
        }
        let first = g.handed;
        g.handed += n;
        g.budget -= n;
        g.outstanding.extend(first..first + n);
        g.first_out.get_or_insert_with(Instant::now);
        let round = g.round;
        drop(g);
        let mut out = String::from("{\"Messages\":[");
        for i in first..first + n {
            if i > first {
                out.push(',');
            }
            let t = &self.templates[i as usize % self.templates.len()];
            out.push_str(&format!(
                "{{\"MessageId\":\"{i:08x}-0000-4000-8000-{round:012x}\",\"ReceiptHandle\":\"r-{round}-{i}\",\"Body\":{}{i:010}-{},\"Attributes\":{{\"ApproximateReceiveCount\":\"1\"}}}}",
                t.head, t.tail
            ));
        }
        out.push_str("]}");
        out
    }

    fn delete(&self, req: &Value) -> String {
        let mut g = self.lock();
        g.calls.delete += 1;
        let prefix = format!("r-{}-", g.round);
        let mut removed = false;
        for e in req["Entries"].as_array().into_iter().flatten() {
            let n = e["ReceiptHandle"]
                .as_str()
                .and_then(|r| r.strip_prefix(&prefix))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(n) = n
                && g.outstanding.remove(&n)
            {
                g.deleted += 1;
                removed = true;
            }
        }
        if removed {
            g.last_delete = Some(Instant::now());
        }
        drop(g);
        Self::all_successful(req)
    }

    fn all_successful(req: &Value) -> String {
        let ok: Vec<Value> = req["Entries"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| json!({ "Id": e["Id"] }))
            .collect();
        json!({ "Successful": ok, "Failed": [] }).to_string()
    }
}

/// One request to the control routes (or anything else) of the server at `base`;
/// the response body.
pub fn call(base: &str, method: &str, path: &str) -> String {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("connect to the fake SQS");
    s.set_nodelay(true).ok();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}
