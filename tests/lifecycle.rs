//! Lifecycle rules that need a process of their own: thread accounting, and panics
//! forced inside exported functions (injected through an environment variable that
//! the plugin reads at init).

mod common;

use std::fs;
use std::io::Write;
use std::time::{Duration, Instant};

use common::files::tmpdir;
use common::{Batch, Plugin};
use flate2::Compression;
use flate2::write::GzEncoder;

fn records(n: usize) -> String {
    let recs: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"eventTime":"2024-01-01T00:00:00Z","eventType":"AwsApiCall","eventID":"id-{i}","eventName":"X","awsRegion":"r","eventSource":"s"}}"#
            )
        })
        .collect();
    format!("{{\"Records\":[{}]}}", recs.join(","))
}

fn threads() -> usize {
    fs::read_dir("/proc/self/task").unwrap().count()
}

fn close_joins_promptly_and_instances_are_independent() {
    let d1 = tmpdir("close1");
    let d2 = tmpdir("close2");
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(records(3000).as_bytes()).unwrap();
    let z = e.finish().unwrap();
    for i in 0..20 {
        fs::write(d1.join(format!("{i:02}.json.gz")), &z).unwrap();
    }
    fs::write(d2.join("f.json"), records(10)).unwrap();
    let before = threads();
    let a = Plugin::init("").unwrap();
    let b = Plugin::init("").unwrap();
    {
        let mut sa = a.open(d1.to_str().unwrap()).unwrap();
        // Two states interleaved: each sees only its own events.
        let mut sb = b.open(d2.to_str().unwrap()).unwrap();
        let Batch::Events(evs, _) = sa.next_batch() else {
            panic!("first batch failed")
        };
        assert!(!evs.is_empty());
        assert_eq!(sb.drain(|_, _, _| {}).unwrap(), 10);
        assert!(threads() > before, "the reader thread should be running");
        let t = Instant::now();
        drop(sa); // close while the reader thread is far ahead
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "close took {:?}",
            t.elapsed()
        );
    }
    drop(a);
    drop(b);
    assert_eq!(
        threads_settled(before),
        before,
        "a thread outlived close/destroy"
    );
}

/// The thread count once it is back to `want`, or after a second. A joined thread has
/// finished its work, but its task can stay listed a moment longer: the kernel wakes
/// the joiner from the thread's exit path, and qemu-user (the aarch64 runs) does so
/// before the host thread has exited at all.
fn threads_settled(want: usize) -> usize {
    let until = Instant::now() + Duration::from_secs(1);
    loop {
        let n = threads();
        if n == want || Instant::now() >= until {
            return n;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Initialises a plugin whose `export` panics.
fn with_fault(export: &str) -> Result<Plugin, String> {
    // SAFETY: this binary runs one test, on one thread, so nothing reads the
    // environment concurrently.
    unsafe { std::env::set_var("CLOUDTRAIL_TEST_PANIC_IN", export) };
    let p = Plugin::init("");
    // SAFETY: as above.
    unsafe { std::env::remove_var("CLOUDTRAIL_TEST_PANIC_IN") };
    p
}

fn panics_come_back_as_failures() {
    let d = tmpdir("panic");
    fs::write(d.join("f.json"), records(3)).unwrap();
    let path = d.to_str().unwrap();

    let e = with_fault("plugin_init").err().unwrap();
    assert!(
        e.contains("internal error in plugin_init") && e.contains("fault injected"),
        "{e}"
    );

    let p = with_fault("plugin_open").unwrap();
    let e = p.open(path).err().unwrap();
    assert!(e.contains("internal error in plugin_open"), "{e}");

    let p = with_fault("plugin_next_batch").unwrap();
    let mut src = p.open(path).unwrap();
    for _ in 0..2 {
        let Batch::Failure(e) = src.next_batch() else {
            panic!("expected a failure")
        };
        assert!(
            e.contains("internal error") || e.contains("stopped after an internal error"),
            "{e}"
        );
    }
    drop(src);

    let p = with_fault("plugin_extract_fields").unwrap();
    let mut src = p.open(path).unwrap();
    let mut failures = 0;
    src.drain(|n, live, _| {
        if p.extract(n, live, "ct.id", None).is_err() {
            failures += 1;
        }
    })
    .unwrap();
    assert_eq!(failures, 3);
    assert!(
        p.log_lines()
            .iter()
            .any(|(_, m)| m.contains("internal error in plugin_extract_fields"))
    );
    drop(src);

    let p = with_fault("plugin_event_to_string").unwrap();
    let mut src = p.open(path).unwrap();
    src.drain(|n, live, _| assert!(p.to_string(n, live).is_none()))
        .unwrap();
}

#[test]
fn lifecycle() {
    close_joins_promptly_and_instances_are_independent();
    panics_come_back_as_failures();
}
