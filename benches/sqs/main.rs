//! The EventBridge path through SQS at scale, against an in-memory SQS that never runs
//! dry ([`fake_sqs`], in a process of its own), so the plugin's ceiling shows and not
//! an emulator's. `cargo bench --bench sqs` prints, at 0 ms and 20 ms per SQS call
//! (SQS inside a region answers in 10–30 ms), for the plugin (default settings, the
//! eight rule fields extracted per event through the C ABI, as Falco does) and for a
//! boto3 consumer (four threads, receive ten and delete ten) on the same server:
//! events/s (the server's drain time, first message out to last delete, so a close
//! waiting out long polls does not count), CPU µs per event, context switches,
//! SQS requests per 1,000 events and their cost per million events, peak RSS. Then an
//! idle queue (requests per hour, context switches, send-to-Falco latency) and a soak
//! of one million events (RSS along the way).
//!
//! Each consumer runs in a child process (this program again, `SQS_BENCH_ROLE`), so
//! its CPU, context switches and peak RSS are its own (`wait4`); the plugin runs three
//! times per latency and the run with the median CPU is shown. Knobs:
//! `SQS_BENCH_EVENTS` (default 50,000 per run), `SQS_BENCH_SOAK` (default 1,000,000; 0
//! skips it), `SQS_BENCH_LATENCIES` (default `0,20`).

#[path = "../common/mod.rs"]
mod common;
#[path = "../../tests/common/eventbridge.rs"]
mod eventbridge;
mod fake_sqs;

use std::ffi::CString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cloudtrail::plugin::*;
use common::{RULE_FIELDS, abi};
use falco_plugin_api::*;
use serde_json::{Value, json};

/// SQS standard queues, per million requests (each 64 KiB of payload a request).
const PRICE_PER_MILLION_REQUESTS: f64 = 0.40;
/// How long the idle measurement watches an open source with nothing to read.
const IDLE: Duration = Duration::from_secs(10);
const IDLE_SENDS: usize = 200;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    match std::env::var("SQS_BENCH_ROLE").as_deref() {
        Ok("server") => serve(),
        Ok("drain") => child_drain(),
        Ok("idle") => child_idle(),
        _ => run(),
    }
}

/// The fake SQS, until its parent closes stdin.
fn serve() {
    let fake = fake_sqs::Fake::start(&common::corpus().records[..2900]);
    println!("{}", fake.base());
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

/// Resource use of a finished child.
#[derive(Default, Clone, Copy)]
struct Usage {
    cpu: f64,
    csw: u64,
    max_rss_kb: u64,
}

fn usage(ru: &libc::rusage) -> Usage {
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    Usage {
        cpu: t(ru.ru_utime) + t(ru.ru_stime),
        csw: (ru.ru_nvcsw + ru.ru_nivcsw) as u64,
        max_rss_kb: ru.ru_maxrss as u64,
    }
}

fn self_usage() -> Usage {
    // SAFETY: getrusage fills the zeroed struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    usage(&ru)
}

/// Waits for `child`; its exit status and resource use.
fn wait(child: Child) -> (bool, Usage) {
    let mut status = 0;
    // SAFETY: wait4 fills the zeroed struct; the pid is our child's.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    assert_eq!(pid, child.id() as i32, "wait4");
    (
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        usage(&ru),
    )
}

/// The `aws` block of an init config pointing at `base`, with files in `dir`.
fn aws_config(base: &str, dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let (config, creds) = (dir.join("config"), dir.join("credentials"));
    std::fs::write(
        &config,
        format!("[profile bench]\nregion = us-east-1\nendpoint_url = {base}\n"),
    )
    .unwrap();
    std::fs::write(
        &creds,
        "[bench]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
    )
    .unwrap();
    format!(
        r#""aws":{{"profile":"bench","config":"{}","credentials":"{}"}}"#,
        config.display(),
        creds.display()
    )
}

fn child_env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("{key} is not set"))
}

/// An open `sqs://bench` on the fake at `SQS_BENCH_BASE`, default settings.
struct Open {
    p: abi::Plugin,
    h: *mut ss_instance_t,
}

impl Open {
    fn new() -> Open {
        let base = child_env("SQS_BENCH_BASE");
        let dir = PathBuf::from(child_env("SQS_BENCH_DIR"));
        let p = abi::Plugin::with_config(&format!("{{{}}}", aws_config(&base, &dir)));
        let params = CString::new("sqs://bench").unwrap();
        let mut rc = 0;
        // SAFETY: live state, valid params.
        let h = unsafe { plugin_open(p.0, params.as_ptr(), &mut rc) };
        assert_eq!(rc, ss_plugin_rc_SS_PLUGIN_SUCCESS, "open sqs://bench");
        Open { p, h }
    }

    /// One next_batch call; the events, each with its extracted rule fields.
    fn batch(&self, evtnum: &mut u64, ids: &[u32]) -> u32 {
        let mut n = 0u32;
        let mut evts: *mut *mut ss_plugin_event = std::ptr::null_mut();
        // SAFETY: live state and instance.
        let rc = unsafe { plugin_next_batch(self.p.0, self.h, &mut n, &mut evts) };
        assert_ne!(rc, ss_plugin_rc_SS_PLUGIN_FAILURE, "next_batch failed");
        for i in 0..n as usize {
            *evtnum += 1;
            // SAFETY: n valid events, live until the next call.
            unsafe { abi::extract_each(&self.p, *evtnum, *evts.add(i), ids) };
        }
        n
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        // SAFETY: the instance from open.
        unsafe { plugin_close(self.p.0, self.h) };
    }
}

/// Child: drains `SQS_BENCH_EVENTS` events as Falco would, then closes.
fn child_drain() {
    let want = env_u64("SQS_BENCH_EVENTS", 0);
    let ids = abi::field_ids(&RULE_FIELDS);
    let open = Open::new();
    let (mut evtnum, mut got) = (0, 0u64);
    while got < want {
        got += u64::from(open.batch(&mut evtnum, &ids));
    }
    if std::env::var_os("SQS_BENCH_THREADS").is_some() {
        print_threads();
    }
    drop(open);
    println!("{}", json!({ "events": got }));
}

/// Context switches and CPU of each of this process's threads, by name (to stderr).
fn print_threads() {
    let mut by_name: std::collections::BTreeMap<String, (u64, u64, u64, u64)> = Default::default();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let p = task.path();
        let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
        let name: String = comm.trim().trim_end_matches(char::is_numeric).to_string();
        let status = std::fs::read_to_string(p.join("status")).unwrap_or_default();
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        // Nanoseconds on a CPU, first of schedstat's fields.
        let ns: u64 = std::fs::read_to_string(p.join("schedstat"))
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let e = by_name.entry(name).or_default();
        e.0 += 1;
        e.1 += field("voluntary_ctxt_switches:");
        e.2 += field("nonvoluntary_ctxt_switches:");
        e.3 += ns;
    }
    for (name, (n, v, nv, ns)) in by_name {
        eprintln!(
            "{name:16} x{n:<3} voluntary {v:>8} involuntary {nv:>8} CPU {:>7.1} ms",
            ns as f64 / 1e6
        );
    }
}

/// Child: an open source on an empty queue for [`IDLE`] (context switches and SQS
/// calls meanwhile), then [`IDLE_SENDS`] messages sent one at a time, each timed
/// until next_batch hands its event out.
fn child_idle() {
    let base = child_env("SQS_BENCH_BASE");
    let ids = abi::field_ids(&RULE_FIELDS);
    let open = Open::new();
    let mut evtnum = 0;
    // The long polls are open before the watch starts.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(1) {
        open.batch(&mut evtnum, &ids);
    }
    let stats = |b: &str| -> Value {
        serde_json::from_str(&fake_sqs::call(b, "GET", "/_bench/stats")).unwrap()
    };
    let (before, calls_before) = (self_usage(), stats(&base));
    let t = Instant::now();
    while t.elapsed() < IDLE {
        assert_eq!(
            open.batch(&mut evtnum, &ids),
            0,
            "an event on an empty queue"
        );
    }
    let secs = t.elapsed().as_secs_f64();
    let (after, calls_after) = (self_usage(), stats(&base));
    let mut lat = Vec::new();
    for _ in 0..IDLE_SENDS {
        let t = Instant::now();
        fake_sqs::call(&base, "POST", "/_bench/enqueue?n=1");
        while open.batch(&mut evtnum, &ids) == 0 {
            assert!(t.elapsed() < Duration::from_secs(30), "no event");
        }
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    drop(open);
    lat.sort_by(f64::total_cmp);
    let pct = |q: f64| lat[((lat.len() as f64 * q).ceil() as usize).min(lat.len()) - 1];
    let receives =
        calls_after["receive"].as_u64().unwrap() - calls_before["receive"].as_u64().unwrap();
    println!(
        "{}",
        json!({
            "seconds": secs,
            "csw_per_s": (after.csw - before.csw) as f64 / secs,
            "cpu_per_s": (after.cpu - before.cpu) / secs,
            "receives_per_hour": receives as f64 * 3600.0 / secs,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": lat[lat.len() - 1],
        })
    );
}

/// The fake SQS in a child process.
struct Server {
    child: Option<Child>,
    base: String,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env("SQS_BENCH_ROLE", "server")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the fake SQS");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Server {
            child: Some(child),
            base: line.trim().to_string(),
        }
    }

    fn reset(&self, latency_ms: u64, budget: u64) {
        fake_sqs::call(
            &self.base,
            "POST",
            &format!("/_bench/reset?latency_ms={latency_ms}&budget={budget}"),
        );
    }

    fn stats(&self) -> Value {
        serde_json::from_str(&fake_sqs::call(&self.base, "GET", "/_bench/stats")).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            drop(c.stdin.take());
            let _ = c.wait();
        }
    }
}

/// One consumer's run against the server.
struct Row {
    who: &'static str,
    latency_ms: u64,
    events: u64,
    rate: f64,
    cpu_us: f64,
    csw_per_s: f64,
    requests_per_1000: f64,
    receives_per_1000: f64,
    deletes_per_1000: f64,
    max_rss_mb: f64,
}

fn row(who: &'static str, latency_ms: u64, events: u64, stats: &Value, u: Usage) -> Row {
    let n = |k: &str| stats[k].as_f64().unwrap_or(0.0);
    let drain = (n("last_delete") - n("first_out")).max(1e-9);
    let requests = n("receive") + n("delete") + n("visibility") + n("get_url") + n("other");
    let per = 1000.0 / events as f64;
    Row {
        who,
        latency_ms,
        events,
        rate: n("deleted") / drain,
        cpu_us: u.cpu * 1e6 / events as f64,
        csw_per_s: u.csw as f64 / drain,
        requests_per_1000: requests * per,
        receives_per_1000: n("receive") * per,
        deletes_per_1000: n("delete") * per,
        max_rss_mb: u.max_rss_kb as f64 / 1024.0,
    }
}

/// This program again as a child that drains `events` events from `server`.
fn spawn_drain(server: &Server, dir: &Path, events: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env("SQS_BENCH_ROLE", "drain")
        .env("SQS_BENCH_BASE", &server.base)
        .env("SQS_BENCH_DIR", dir)
        .env("SQS_BENCH_EVENTS", events.to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("start the plugin consumer")
}

fn plugin_run(server: &Server, dir: &Path, latency_ms: u64, events: u64) -> Row {
    server.reset(latency_ms, events);
    let (ok, u) = wait(spawn_drain(server, dir, events));
    assert!(ok, "the plugin consumer failed");
    let stats = server.stats();
    assert_eq!(stats["deleted"].as_u64(), Some(events), "{stats}");
    row("plugin", latency_ms, events, &stats, u)
}

fn boto3_run(server: &Server, latency_ms: u64, events: u64) -> Row {
    server.reset(latency_ms, events);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let child = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("benches/sqs/boto3_consumer.py"))
        .args([
            &server.base,
            &format!("{}/123456789012/bench", server.base),
            &events.to_string(),
            "4",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("run the boto3 consumer (.venv with boto3, as the tests make it)");
    let (ok, u) = wait(child);
    assert!(ok, "the boto3 consumer failed");
    let stats = server.stats();
    assert_eq!(stats["deleted"].as_u64(), Some(events), "{stats}");
    row("boto3 (4 threads)", latency_ms, events, &stats, u)
}

/// The soak: one million events at 0 ms, the child's RSS read as it goes.
fn soak(server: &Server, dir: &Path, events: u64) {
    server.reset(0, events);
    let child = spawn_drain(server, dir, events);
    let status = format!("/proc/{}/status", child.id());
    let rss = || -> Option<u64> {
        let text = std::fs::read_to_string(&status).ok()?;
        let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let step = events / 10;
    let mut next = step;
    let mut samples = Vec::new();
    let t = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let deleted = server.stats()["deleted"].as_u64().unwrap_or(0);
        if deleted >= next {
            if let Some(kb) = rss() {
                samples.push((deleted, kb));
            }
            next += step;
        }
        if deleted >= events || t.elapsed() > Duration::from_secs(1800) {
            break;
        }
    }
    let (ok, u) = wait(child);
    assert!(ok, "the soak failed");
    eprintln!(
        "\nsoak: {events} EventBridge events at 0 ms in {:.0} s; RSS (MiB) after each tenth:",
        t.elapsed().as_secs_f64()
    );
    let line: Vec<String> = samples
        .iter()
        .map(|(n, kb)| format!("{}k {:.1}", n / 1000, *kb as f64 / 1024.0))
        .collect();
    eprintln!("  {}", line.join(", "));
    eprintln!("  peak RSS {:.1} MiB", u.max_rss_kb as f64 / 1024.0);
}

fn run() {
    let events = env_u64("SQS_BENCH_EVENTS", 50_000);
    let soak_events = env_u64("SQS_BENCH_SOAK", 1_000_000);
    let latencies: Vec<u64> = std::env::var("SQS_BENCH_LATENCIES")
        .unwrap_or_else(|_| "0,20".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let dir = std::env::temp_dir().join(format!("cloudtrail-sqs-bench-{}", std::process::id()));
    let server = Server::start();
    eprintln!(
        "EventBridge through SQS, {events} one-event messages per run, in-memory SQS at {} (its own process)",
        server.base
    );
    let mut rows = Vec::new();
    for &l in &latencies {
        // The machine is shared and noisy: the run with the median CPU of three.
        let mut runs: Vec<Row> = (0..3)
            .map(|_| plugin_run(&server, &dir, l, events))
            .collect();
        runs.sort_by(|a, b| a.cpu_us.total_cmp(&b.cpu_us));
        eprintln!(
            "plugin at {l} ms, three runs: {:.1} / {:.1} / {:.1} µs CPU per event",
            runs[0].cpu_us, runs[1].cpu_us, runs[2].cpu_us
        );
        rows.push(runs.swap_remove(1));
        rows.push(boto3_run(&server, l, events));
    }
    eprintln!(
        "\n| per-call latency | consumer | events/s | CPU µs/event | context switches/s | SQS requests per 1,000 events (receive + delete) | request cost per million events | peak RSS |"
    );
    eprintln!("|---|---|---|---|---|---|---|---|");
    for r in &rows {
        eprintln!(
            "| {} ms | {} | {:.0} | {:.1} | {:.0} | {:.0} ({:.0} + {:.0}) | ${:.3} | {:.1} MiB |",
            r.latency_ms,
            r.who,
            r.rate,
            r.cpu_us,
            r.csw_per_s,
            r.requests_per_1000,
            r.receives_per_1000,
            r.deletes_per_1000,
            r.requests_per_1000 * 1000.0 * PRICE_PER_MILLION_REQUESTS / 1e6,
            r.max_rss_mb
        );
    }
    for pair in rows.chunks(2) {
        if let [p, b] = pair {
            eprintln!(
                "{} ms: plugin/boto3 = {:.1}x the events/s at {:.2}x the CPU per event ({} events)",
                p.latency_ms,
                p.rate / b.rate,
                p.cpu_us / b.cpu_us,
                p.events
            );
        }
    }

    server.reset(0, 0);
    let child = Command::new(std::env::current_exe().unwrap())
        .env("SQS_BENCH_ROLE", "idle")
        .env("SQS_BENCH_BASE", &server.base)
        .env("SQS_BENCH_DIR", &dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the idle run");
    let output = child.wait_with_output().expect("idle run");
    assert!(output.status.success(), "the idle run failed");
    let idle: Value = serde_json::from_slice(&output.stdout).expect("idle run output");
    eprintln!(
        "\nidle queue ({:.0} s, Falco's loop calling next_batch): {:.0} ReceiveMessage calls per hour ({:.3} $/day), {:.0} context switches/s, {:.2} ms CPU per second",
        idle["seconds"].as_f64().unwrap_or(0.0),
        idle["receives_per_hour"].as_f64().unwrap_or(0.0),
        idle["receives_per_hour"].as_f64().unwrap_or(0.0) * 24.0 * PRICE_PER_MILLION_REQUESTS / 1e6,
        idle["csw_per_s"].as_f64().unwrap_or(0.0),
        idle["cpu_per_s"].as_f64().unwrap_or(0.0) * 1e3
    );
    eprintln!(
        "idle latency, send to next_batch, over {IDLE_SENDS} sends: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        idle["p50_ms"].as_f64().unwrap_or(0.0),
        idle["p99_ms"].as_f64().unwrap_or(0.0),
        idle["max_ms"].as_f64().unwrap_or(0.0)
    );
    if soak_events > 0 {
        soak(&server, &dir, soak_events);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
