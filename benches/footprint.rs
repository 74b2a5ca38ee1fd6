//! Footprint: the stripped release `.so` (size, the shared libraries it needs) and
//! the peak resident memory of draining the 126 MB benchmark file, and of the same
//! file twice over (a two-member gzip), which must cost no more: reading streams.
//! Prints a report; a miss is reported, never a panic (benchmarks do not gate CI).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{RULE_FIELDS, files};

const SO_LIMIT: u64 = 4 << 20;
const RSS_LIMIT: u64 = 100 << 20;

fn main() {
    // `cargo bench` passes filter arguments; this report has no parts to filter.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    so_report(root);
    rss_report(root);
}

fn so_report(root: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let ok = Command::new(cargo)
        .args(["build", "--release", "--lib", "--quiet"])
        .current_dir(root)
        .status()
        .is_ok_and(|s| s.success());
    let so = root.join("target/release/libcloudtrail.so");
    if !ok || !so.exists() {
        println!("so: cannot build {}", so.display());
        return;
    }
    let size = std::fs::metadata(&so).map(|m| m.len()).unwrap_or(0);
    println!(
        "so: {} bytes ({:.2} MiB, limit 4 MiB: {})",
        size,
        size as f64 / (1 << 20) as f64,
        verdict(size <= SO_LIMIT)
    );
    match Command::new("readelf").arg("-d").arg(&so).output() {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let needed: Vec<&str> = text
                .lines()
                .filter(|l| l.contains("(NEEDED)"))
                .filter_map(|l| l.split('[').nth(1)?.split(']').next())
                .collect();
            let libc_family = needed.iter().all(|n| {
                [
                    "libc.so",
                    "libm.so",
                    "libgcc_s.so",
                    "ld-linux",
                    "libpthread.so",
                    "libdl.so",
                ]
                .iter()
                .any(|p| n.starts_with(p))
            });
            println!(
                "so: needs {} (C library family only: {})",
                needed.join(", "),
                verdict(libc_family)
            );
        }
        Err(e) => println!("so: readelf not available ({e})"),
    }
}

/// Runs the command-line front end on `path` (eight rule fields per event, output
/// discarded) and returns its peak resident set size in bytes.
fn peak_rss(path: &Path) -> Option<(u64, f64)> {
    let fields = RULE_FIELDS.join(",");
    let start = std::time::Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_cloudtrail"))
        .arg(path)
        .args(["--fields", &fields, "--quiet"])
        .stdout(Stdio::null())
        .spawn()
        .ok()?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be overwritten.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, which std has not reaped (we never call
    // `Child::wait`); both out-pointers are valid.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    if pid <= 0 || status != 0 {
        return None;
    }
    Some((usage.ru_maxrss as u64 * 1024, start.elapsed().as_secs_f64()))
}

fn rss_report(root: &Path) {
    // Only paths here: a child inherits the parent's resident size at fork in its
    // peak, so this process must stay small.
    let (json_path, gz_path) = files();
    let json_len = std::fs::metadata(&json_path).unwrap().len();
    let gz = std::fs::read(&gz_path).unwrap();
    let twice = root.join("target/bench-data/invictus-200k.json.gz");
    if std::fs::metadata(&twice).map(|m| m.len()).ok() != Some(2 * gz.len() as u64) {
        let mut both = gz.clone();
        both.extend_from_slice(&gz);
        std::fs::write(&twice, both).unwrap();
    }
    drop(gz);
    let mb = |b: u64| b as f64 / 1e6;
    for (name, path, decompressed) in [
        ("100k records", &gz_path, json_len),
        ("200k records (two gzip members)", &twice, 2 * json_len),
    ] {
        match peak_rss(path) {
            Some((rss, secs)) => println!(
                "rss: {name}: peak {:.1} MB while reading {:.0} MB decompressed ({:.3}x the data; limit 100 MB: {}) in {secs:.2} s",
                mb(rss),
                mb(decompressed),
                rss as f64 / decompressed as f64,
                verdict(rss <= RSS_LIMIT)
            ),
            None => println!("rss: {name}: the command-line run failed"),
        }
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}
