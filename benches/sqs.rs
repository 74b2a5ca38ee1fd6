//! The EventBridge path through SQS against moto on 127.0.0.1: draining a preloaded
//! queue of one-event messages, side by side with a boto3 consumer in the same run
//! (moto is the ceiling; the point is that the plugin is not), and the latency from
//! a send to the event's hand-over on an idle queue.
//!
//! `cargo bench --bench sqs`. moto's SQS costs time in proportion to a queue's depth
//! on every call, so preloading is quadratic: the queue holds `SQS_BENCH_MESSAGES`
//! messages (default 1,000; 20,000 takes moto well over an hour to even load).

mod common;
#[path = "../tests/common/eventbridge.rs"]
mod eventbridge;
#[path = "../tests/common/moto.rs"]
mod moto;

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cloudtrail::plugin::*;
use common::{RULE_FIELDS, abi};
use divan::Bencher;
use divan::counter::ItemsCount;
use falco_plugin_api::{ss_plugin_rc_SS_PLUGIN_FAILURE, ss_plugin_rc_SS_PLUGIN_SUCCESS};

fn main() {
    divan::main();
}

fn messages() -> usize {
    std::env::var("SQS_BENCH_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000)
}

/// One-event EventBridge messages from the invictus records (every eventID once).
fn bodies(n: usize) -> Vec<String> {
    let recs = &common::corpus().records;
    (0..n)
        .map(|i| {
            let raw = std::str::from_utf8(&recs[i % 2900]).unwrap();
            // A distinct eventID per message, so duplicate removal keeps them all.
            let raw = raw.replacen("\"eventID\":\"", &format!("\"eventID\":\"{i:08}-"), 1);
            eventbridge::event(&raw, i)
        })
        .collect()
}

static QUEUES: AtomicU64 = AtomicU64::new(0);

/// A new queue holding `n` messages; its name and URL.
fn preload(n: usize) -> (String, String) {
    let m = moto::moto();
    let name = format!("bench-{}", QUEUES.fetch_add(1, Ordering::Relaxed));
    let url = m.create_queue(&name);
    m.send_batch(&url, &bodies(n));
    (name, url)
}

/// CPU time (user + system) of this process, or of its waited-for children.
fn cpu(who: i32) -> Duration {
    // SAFETY: getrusage fills the zeroed struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut ru) };
    let t = |tv: libc::timeval| Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000);
    t(ru.ru_utime) + t(ru.ru_stime)
}

fn report(what: &str, n: usize, wall: Duration, cpu: Duration) {
    eprintln!(
        "{what}: {n} messages in {:.2} s = {:.0} events/s, CPU {:.1} µs per event",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / n as f64
    );
}

/// The plugin (default settings: four long polls, batched deletes) draining the
/// queue through its C ABI, the eight rule fields extracted per event.
#[divan::bench(sample_count = 1, sample_size = 1)]
fn drain_plugin(b: Bencher) {
    let n = messages();
    let m = moto::moto();
    let cfg = format!("{{{},\"sqsWaitSeconds\":1}}", m.aws_config());
    let ids = abi::field_ids(&RULE_FIELDS);
    b.counter(ItemsCount::new(n))
        .with_inputs(|| preload(n))
        .bench_local_values(|(name, _)| {
            let (t, c) = (Instant::now(), cpu(libc::RUSAGE_SELF));
            let got = abi::drain_count(&cfg, &format!("sqs://{name}"), &ids, n as u64);
            report("plugin", n, t.elapsed(), cpu(libc::RUSAGE_SELF) - c);
            assert_eq!(got, n as u64);
        });
}

/// The boto3 reference consumer on the same kind of queue (four threads).
#[divan::bench(sample_count = 1, sample_size = 1)]
fn drain_boto3(b: Bencher) {
    let n = messages();
    let m = moto::moto();
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/sqs_consumer.py");
    b.counter(ItemsCount::new(n))
        .with_inputs(|| preload(n))
        .bench_local_values(|(_, url)| {
            let c = cpu(libc::RUSAGE_CHILDREN);
            let out = Command::new(&python)
                .arg(&script)
                .args([&m.base, &url, &n.to_string(), "4"])
                .output()
                .expect("run the boto3 consumer");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            // moto's ReceiveMessage is not atomic: concurrent polls may share one.
            assert!(r["messages"].as_u64() >= Some(n as u64), "{r}");
            let wall = Duration::from_secs_f64(r["seconds"].as_f64().unwrap());
            report("boto3", n, wall, cpu(libc::RUSAGE_CHILDREN) - c);
        });
}

/// Idle queue: one message sent at a time, timed until `next_batch` hands its event
/// out; p50 and p99 over 200 sends.
#[divan::bench(sample_count = 1, sample_size = 1)]
fn latency_idle_queue(b: Bencher) {
    let m = moto::moto();
    let (name, url) = preload(0);
    let cfg = format!("{{{},\"sqsWaitSeconds\":20}}", m.aws_config());
    let bodies = bodies(200);
    b.bench_local(|| {
        let p = abi::Plugin::with_config(&cfg);
        let params = std::ffi::CString::new(format!("sqs://{name}")).unwrap();
        let mut rc = 0;
        // SAFETY: live state, valid params.
        let h = unsafe { plugin_open(p.0, params.as_ptr(), &mut rc) };
        assert_eq!(rc, ss_plugin_rc_SS_PLUGIN_SUCCESS);
        // The receivers are in their long polls before the first send.
        std::thread::sleep(Duration::from_millis(500));
        let mut lat = Vec::new();
        for body in &bodies {
            let t = Instant::now();
            m.send(&url, body);
            loop {
                let mut n = 0u32;
                let mut evts = std::ptr::null_mut();
                // SAFETY: live state and instance.
                let rc = unsafe { plugin_next_batch(p.0, h, &mut n, &mut evts) };
                assert_ne!(rc, ss_plugin_rc_SS_PLUGIN_FAILURE);
                if n > 0 {
                    break;
                }
                assert!(t.elapsed() < Duration::from_secs(30), "no event");
            }
            lat.push(t.elapsed());
        }
        // SAFETY: the instance from open.
        unsafe { plugin_close(p.0, h) };
        lat.sort();
        let pct = |q: f64| lat[((lat.len() as f64 * q).ceil() as usize).min(lat.len()) - 1];
        eprintln!(
            "latency over {} sends: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            lat.len(),
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            lat[lat.len() - 1].as_secs_f64() * 1e3
        );
    });
}
