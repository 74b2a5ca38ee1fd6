//! A fault-injecting HTTP proxy in front of the emulator: the plugin talks to it as
//! its AWS endpoint; requests whose head contains a rule's text get that rule's
//! fault (a given number of times), every other request is forwarded unchanged.
//! One request per connection, which the plugin's HTTP client handles as any server
//! that closes connections.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// An error response: HTTP status and AWS error code.
    Status(u16, &'static str),
    /// Half the body, then a TCP reset.
    Reset,
    /// Half the body, then a clean close (the body is shorter than announced).
    Truncate,
    /// Half the body, then silence for this long, then the rest.
    Stall(Duration),
    /// A JSON answer of the proxy's own (a service the emulator lacks).
    Answer(&'static str),
}

struct Rule {
    text: String,
    fault: Fault,
    left: usize,
    hits: usize,
}

pub struct Proxy {
    pub base: String,
    rules: Arc<Mutex<Vec<Rule>>>,
}

impl Proxy {
    /// Starts a proxy to `upstream` (`http://host:port`) on a free local port.
    pub fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_string();
        let rules: Arc<Mutex<Vec<Rule>>> = Arc::default();
        let r = rules.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (r, up) = (r.clone(), upstream.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &up, &r);
                });
            }
        });
        Proxy { base, rules }
    }

    /// The next `times` requests whose head contains `text` get `fault`.
    pub fn inject(&self, text: &str, fault: Fault, times: usize) {
        self.rules.lock().unwrap().push(Rule {
            text: text.to_string(),
            fault,
            left: times,
            hits: 0,
        });
    }

    /// How many times the rules for `text` fired.
    pub fn hits(&self, text: &str) -> usize {
        self.rules
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.text == text)
            .map(|r| r.hits)
            .sum()
    }
}

/// Reads one request: its head (as text) and body.
fn read_request(r: &mut BufReader<TcpStream>) -> std::io::Result<(String, Vec<u8>)> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let end = line == "\r\n";
        head.push_str(&line);
        if end {
            break;
        }
    }
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok((head, body))
}

/// Forwards a request upstream; returns the response's status line, headers and body.
fn forward(
    upstream: &str,
    head: &str,
    body: &[u8],
) -> std::io::Result<(String, Vec<String>, Vec<u8>)> {
    let mut up = TcpStream::connect(upstream)?;
    let mut out = String::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        if line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("connection: close\r\n\r\n");
    up.write_all(out.as_bytes())?;
    up.write_all(body)?;
    let mut raw = Vec::new();
    up.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default().to_string();
    let headers: Vec<String> = lines
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            !l.starts_with("content-length:")
                && !l.starts_with("connection:")
                && !l.starts_with("transfer-encoding:")
        })
        .map(str::to_string)
        .collect();
    Ok((status, headers, raw[split + 4..].to_vec()))
}

fn serve(conn: TcpStream, upstream: &str, rules: &Mutex<Vec<Rule>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let (head, body) = read_request(&mut reader)?;
    let fault = {
        let mut rules = rules.lock().unwrap();
        rules
            .iter_mut()
            .find(|r| r.left > 0 && head.contains(&r.text))
            .map(|r| {
                r.left -= 1;
                r.hits += 1;
                r.fault
            })
    };
    let mut conn = conn;
    if let Some(Fault::Answer(json)) = fault {
        write!(
            conn,
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{json}",
            json.len()
        )?;
        return conn.flush();
    }
    if let Some(Fault::Status(status, code)) = fault {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected fault</Message></Error>"
        );
        write!(
            conn,
            "HTTP/1.1 {status} Injected\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )?;
        return conn.flush();
    }
    let (status, headers, rbody) = forward(upstream, &head, &body)?;
    let mut out = format!("{status}\r\n");
    for h in &headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        rbody.len()
    ));
    conn.write_all(out.as_bytes())?;
    let half = rbody.len() / 2;
    match fault {
        None | Some(Fault::Status(..) | Fault::Answer(_)) => conn.write_all(&rbody)?,
        Some(Fault::Reset) => {
            conn.write_all(&rbody[..half])?;
            conn.flush()?;
            socket2::SockRef::from(&conn).set_linger(Some(Duration::ZERO))?;
            return Ok(()); // dropped with linger 0: a reset
        }
        Some(Fault::Truncate) => {
            conn.write_all(&rbody[..half])?;
            conn.flush()?;
            return conn.shutdown(Shutdown::Both);
        }
        Some(Fault::Stall(d)) => {
            conn.write_all(&rbody[..half])?;
            conn.flush()?;
            std::thread::sleep(d);
            conn.write_all(&rbody[half..])?;
        }
    }
    conn.flush()
}
