//! Following a bucket or a directory without SQS (`s3PollInterval`) and resuming
//! after a restart (`checkpointFile`), through the `.so` against moto on 127.0.0.1.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use cloudtrail::interval::minute_stamp;
use common::files::{event, gz, records_file, tmpdir};
use common::moto::{Moto, moto};
use common::{Batch, Plugin, Source, event_id};

const POLL: u64 = 1;

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A CloudTrail key: `[AWSLogs/[org/]]account/CloudTrail/region/YYYY/MM/DD/name`.
fn ct_key(org: &str, account: &str, region: &str, secs: i64, id: &str) -> String {
    let s = minute_stamp(secs);
    let org = if org.is_empty() {
        String::new()
    } else {
        format!("{org}/")
    };
    format!(
        "AWSLogs/{org}{account}/CloudTrail/{region}/{}/{}/{}/{account}_CloudTrail_{region}_{s}Z_{id}.json.gz",
        &s[0..4],
        &s[4..6],
        &s[6..8]
    )
}

/// A gzip log file of `n` events with ids `id-<first>`…
fn log_file(first: usize, n: usize) -> Vec<u8> {
    let evs: Vec<String> = (first..first + n).map(|i| event(i, "")).collect();
    gz(records_file(&evs).as_bytes())
}

fn config(m: &Moto, extra: &str) -> String {
    format!("{{{},{extra}}}", m.aws_config())
}

/// Calls next_batch until `want` ids are in, or `deadline`; returns the ids in order.
fn collect(src: &mut Source<'_>, ids: &mut Vec<String>, want: usize, deadline: Duration) {
    let end = Instant::now() + deadline;
    while ids.len() < want {
        assert!(
            Instant::now() < end,
            "timed out with {} of {want} events: {ids:?}",
            ids.len()
        );
        match src.next_batch() {
            Batch::Events(evs, _) => ids.extend(
                evs.iter()
                    .map(|e| event_id(std::str::from_utf8(&e.payload).unwrap())),
            ),
            Batch::Failure(e) => panic!("next_batch failed: {e}"),
        }
    }
}

/// Calls next_batch for `d`, returning what arrived.
fn idle_for(src: &mut Source<'_>, d: Duration) -> Vec<String> {
    let mut ids = Vec::new();
    let end = Instant::now() + d;
    while Instant::now() < end {
        match src.next_batch() {
            Batch::Events(evs, _) => ids.extend(
                evs.iter()
                    .map(|e| event_id(std::str::from_utf8(&e.payload).unwrap())),
            ),
            Batch::Failure(e) => panic!("next_batch failed: {e}"),
        }
    }
    ids
}

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("id-{i}")).collect()
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

#[test]
fn new_files_come_within_two_polls_late_ones_once_idle_is_cheap_close_is_prompt() {
    let m = moto();
    m.create_bucket("follow-new");
    let now = now_secs();
    m.put(
        "follow-new",
        &ct_key("", "111122223333", "eu-west-1", now - 60, "a"),
        &log_file(0, 3),
    );
    let p = Plugin::init(&config(m, &format!("\"s3PollInterval\":\"{POLL}s\""))).unwrap();
    let mut src = p.open("s3://follow-new").unwrap();
    let mut got = Vec::new();
    collect(&mut src, &mut got, 3, Duration::from_secs(20));

    // Uploaded after the open: in within two polls (plus the request times).
    m.put(
        "follow-new",
        &ct_key("", "111122223333", "eu-west-1", now + 120, "b"),
        &log_file(3, 2),
    );
    let t = Instant::now();
    collect(&mut src, &mut got, 5, Duration::from_secs(2 * POLL + 3));
    eprintln!("new file after {:?}", t.elapsed());

    // Named before the newest file read, delivered late: read, once.
    m.put(
        "follow-new",
        &ct_key("", "111122223333", "eu-west-1", now + 60, "late"),
        &log_file(5, 2),
    );
    collect(&mut src, &mut got, 7, Duration::from_secs(2 * POLL + 3));
    assert!(p.metric("follow_files_late") >= 1);

    // Idle: timeouts only, nothing twice, almost no CPU.
    let cpu = cpu_seconds();
    let again = idle_for(&mut src, Duration::from_secs(4 * POLL));
    let used = cpu_seconds() - cpu;
    assert!(again.is_empty(), "read again: {again:?}");
    assert!(
        used < 0.5,
        "{used:.2} s of CPU while idle for {} s",
        4 * POLL
    );
    assert_eq!(got, [ids(0..3), ids(3..5), ids(5..7)].concat());
    assert!(p.metric("follow_polls") >= 3);
    assert!(p.metric("follow_keys_listed") >= 3);

    let t = Instant::now();
    drop(src);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "close took {:?}",
        t.elapsed()
    );
}

#[test]
fn a_new_day_folder_past_midnight_and_an_organisation_growing() {
    let m = moto();
    m.create_bucket("follow-org");
    // Days in the past: followed from the start of s3Interval.
    let midnight = 1_704_153_600; // 2024-01-02T00:00:00Z
    let org = "o-abcdefghij";
    let mut n = 0;
    let mut put = |acct: &str, region: &str, secs: i64, id: &str| {
        m.put(
            "follow-org",
            &ct_key(org, acct, region, secs, id),
            &log_file(n, 1),
        );
        n += 1;
    };
    for acct in ["111111111111", "222222222222"] {
        for region in ["eu-west-1", "us-east-1"] {
            put(acct, region, midnight - 120, "x");
        }
    }
    let cfg = config(
        m,
        &format!("\"s3PollInterval\":\"{POLL}s\",\"s3Interval\":\"2024-01-01T23:00:00Z\""),
    );
    let p = Plugin::init(&cfg).unwrap();
    let mut src = p.open("s3://follow-org/AWSLogs/").unwrap();
    let mut got = Vec::new();
    collect(&mut src, &mut got, 4, Duration::from_secs(20));
    // After midnight: a new day folder in a known region.
    put("111111111111", "us-east-1", midnight + 120, "y");
    collect(&mut src, &mut got, 5, Duration::from_secs(2 * POLL + 3));
    assert_eq!(got[4], "id-4");
    // A new account joins the organisation: found by the next folder walk.
    put("333333333333", "eu-west-1", midnight + 180, "z");
    let walk = Duration::from_secs(cloudtrail::source::s3::DISCOVER_EVERY * POLL + 5);
    collect(&mut src, &mut got, 6, walk);
    assert_eq!(got[5], "id-5");
    assert!(idle_for(&mut src, Duration::from_secs(2 * POLL)).is_empty());
    let unique: BTreeSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), 6);
}

fn checkpoint_cfg(m: &Moto, path: &Path) -> String {
    config(m, &format!("\"checkpointFile\":\"{}\"", path.display()))
}

#[test]
fn a_checkpoint_resumes_where_delivery_stopped() {
    let m = moto();
    m.create_bucket("cp-half");
    let base = 1_704_067_200; // 2024-01-01
    for i in 0..8 {
        // One event per file: closing after k events has delivered k whole files.
        m.put(
            "cp-half",
            &ct_key("", "111122223333", "eu-west-1", base + 300 * i as i64, "f"),
            &log_file(i, 1),
        );
    }
    let dir = tmpdir("cp-half");
    let cp = dir.join("cp.json");
    let p = Plugin::init(&checkpoint_cfg(m, &cp)).unwrap();
    let mut first = Vec::new();
    {
        let mut src = p.open("s3://cp-half").unwrap();
        collect(&mut src, &mut first, 3, Duration::from_secs(20));
    }
    assert!(cp.is_file(), "the checkpoint is written on close");
    assert!(p.metric("checkpoint_writes") >= 1);
    let mut rest = Vec::new();
    let mut src = p.open("s3://cp-half").unwrap();
    src.drain(|_, _, e| rest.push(event_id(std::str::from_utf8(&e.payload).unwrap())))
        .unwrap();
    drop(src);
    let all: BTreeSet<String> = first.iter().chain(&rest).cloned().collect();
    assert_eq!(all.len(), 8, "first {first:?}, rest {rest:?}");
    assert_eq!(
        first.len() + rest.len(),
        8,
        "nothing twice: first {first:?}, rest {rest:?}"
    );
    // The checkpoint written at close holds every file, also those whose events Falco
    // took after the reading threads had ended.
    let text = std::fs::read_to_string(&cp).unwrap();
    let state = cloudtrail::source::progress::Progress::from_json(text.as_bytes(), "cp").unwrap();
    for i in 0..8 {
        let key = ct_key("", "111122223333", "eu-west-1", base + 300 * i as i64, "f");
        assert!(
            state.delivered(&key),
            "file {i} not in the checkpoint: {text}"
        );
    }
    // Everything delivered: a third open reads nothing.
    let mut none = 0;
    p.open("s3://cp-half")
        .unwrap()
        .drain(|_, _, _| none += 1)
        .unwrap();
    assert_eq!(none, 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_killed_reader_reads_again_only_what_was_not_recorded() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let m = moto();
    m.create_bucket("cp-kill");
    let base = 1_704_067_200;
    let files = 40;
    let per = 200;
    for i in 0..files {
        let key = ct_key("", "111122223333", "eu-west-1", base + 300 * i as i64, "k");
        m.put("cp-kill", &key, &log_file(i * per, per));
    }
    let dir = tmpdir("cp-kill");
    let cp = dir.join("cp.json");
    let cfg = checkpoint_cfg(m, &cp);
    let mut child = Command::new(env!("CARGO_BIN_EXE_cloudtrail"))
        .args(["s3://cp-kill", "--json", "--quiet", "--init", &cfg])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    // Read part of the events (files are delivered as the reader goes on), then let
    // the child block on the full pipe while its checkpoint thread saves, and kill it.
    let mut printed = String::new();
    let mut line = String::new();
    use std::io::BufRead;
    while printed.lines().count() < files * per * 2 / 5 {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the reader ended early"
        );
        printed.push_str(&line);
    }
    std::thread::sleep(Duration::from_secs(4));
    child.kill().unwrap();
    child.wait().unwrap();
    stdout.read_to_string(&mut printed).unwrap();
    let printed: BTreeSet<String> = printed
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["ct.id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        printed.len() < files * per,
        "the reader finished before the kill"
    );
    let text = std::fs::read_to_string(&cp).expect("a checkpoint was saved before the kill");
    let state = cloudtrail::source::progress::Progress::from_json(text.as_bytes(), "cp").unwrap();
    let recorded: Vec<usize> = (0..files)
        .filter(|i| {
            state.delivered(&ct_key(
                "",
                "111122223333",
                "eu-west-1",
                base + 300 * *i as i64,
                "k",
            ))
        })
        .collect();
    assert!(!recorded.is_empty(), "nothing recorded after 4 s");

    let p = Plugin::init(&cfg).unwrap();
    let mut again = Vec::new();
    p.open("s3://cp-kill")
        .unwrap()
        .drain(|_, _, e| again.push(event_id(std::str::from_utf8(&e.payload).unwrap())))
        .unwrap();
    let again_set: BTreeSet<String> = again.iter().cloned().collect();
    // Nothing lost; no recorded file read again; unrecorded files read whole.
    for i in 0..files {
        let file_ids = ids(i * per..(i + 1) * per);
        if recorded.contains(&i) {
            assert!(
                file_ids.iter().all(|id| printed.contains(id)),
                "file {i} recorded but not printed"
            );
            assert!(
                file_ids.iter().all(|id| !again_set.contains(id)),
                "file {i} read again"
            );
        } else {
            assert!(
                file_ids.iter().all(|id| again_set.contains(id)),
                "file {i} not read again"
            );
        }
    }
    assert_eq!(again.len(), again_set.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn checkpoint_errors_are_clear_and_one_reader_holds_it() {
    let m = moto();
    m.create_bucket("cp-err");
    m.put(
        "cp-err",
        &ct_key("", "111122223333", "eu-west-1", 1_704_067_200, "e"),
        &log_file(0, 1),
    );
    let dir = tmpdir("cp-err");
    let cp = dir.join("cp.json");
    let p = Plugin::init(&checkpoint_cfg(m, &cp)).unwrap();
    p.open("s3://cp-err").unwrap().drain(|_, _, _| {}).unwrap();
    // Another bucket on the same file.
    let e = p.open("s3://cp-half").err().unwrap();
    assert!(
        e.contains(&format!(
            "checkpoint {} was written for s3://cp-err/, not for s3://cp-half/",
            cp.display()
        )),
        "{e}"
    );
    // Two live sources on one checkpoint (another Falco on a shared volume).
    let q = Plugin::init(&checkpoint_cfg(m, &cp)).unwrap();
    let held = p.open("s3://cp-err").unwrap();
    let e = q.open("s3://cp-err").err().unwrap();
    assert!(e.contains("is in use by another reader"), "{e}");
    drop(held);
    q.open("s3://cp-err").unwrap().drain(|_, _, _| {}).unwrap();
    // Damaged: named, never a silent start from scratch.
    std::fs::write(&cp, b"{\"version\":1,\"source\":").unwrap();
    let e = p.open("s3://cp-err").err().unwrap();
    assert!(
        e.contains(&format!("checkpoint {} is damaged", cp.display())),
        "{e}"
    );
    // Unreadable (a directory in its place).
    std::fs::remove_file(&cp).unwrap();
    std::fs::create_dir(&cp).unwrap();
    let e = p.open("s3://cp-err").err().unwrap();
    assert!(
        e.contains(&format!("cannot read checkpoint {}", cp.display())),
        "{e}"
    );
    // An end to s3Interval cannot be followed.
    let f = Plugin::init(&config(
        m,
        "\"s3PollInterval\":\"5s\",\"s3Interval\":\"2d-1d\"",
    ))
    .unwrap();
    let e = f.open("s3://cp-err").err().unwrap();
    assert!(e.contains("cannot be followed"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_checkpoint_that_cannot_be_written_is_counted_and_reading_goes_on() {
    let m = moto();
    m.create_bucket("cp-ro");
    for i in 0..3 {
        m.put(
            "cp-ro",
            &ct_key(
                "",
                "111122223333",
                "eu-west-1",
                1_704_067_200 + 300 * i,
                "r",
            ),
            &log_file(i as usize, 1),
        );
    }
    let dir = tmpdir("cp-ro");
    let cp = dir.join("cp.json");
    // The temporary file's place is taken by a directory: every write fails.
    std::fs::create_dir(dir.join("cp.json.tmp")).unwrap();
    let p = Plugin::init(&checkpoint_cfg(m, &cp)).unwrap();
    let mut n = 0;
    p.open("s3://cp-ro")
        .unwrap()
        .drain(|_, _, _| n += 1)
        .unwrap();
    assert_eq!(n, 3);
    assert!(p.metric("checkpoint_write_failures") >= 1);
    assert!(
        p.log_lines()
            .iter()
            .any(|(_, l)| l.contains(&format!("cannot write checkpoint {}", cp.display()))),
        "{:?}",
        p.log_lines()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_directory_is_followed_and_resumed_with_a_checkpoint() {
    let dir = tmpdir("follow-dir");
    let logs = dir.join("logs");
    let cp = dir.join("cp.json");
    std::fs::create_dir_all(logs.join("AWSLogs")).unwrap();
    let write = |name: &str, first: usize| {
        let p = logs.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, log_file(first, 2)).unwrap();
    };
    let base = 1_704_067_200;
    write(&ct_key("", "111122223333", "eu-west-1", base, "a"), 0);
    let cfg = format!(
        "{{\"s3PollInterval\":\"{POLL}s\",\"checkpointFile\":\"{}\"}}",
        cp.display()
    );
    let p = Plugin::init(&cfg).unwrap();
    let params = logs.to_str().unwrap();
    let mut got = Vec::new();
    {
        let mut src = p.open(params).unwrap();
        collect(&mut src, &mut got, 2, Duration::from_secs(10));
        write(&ct_key("", "111122223333", "eu-west-1", base + 600, "b"), 2);
        write("plain/x.json.gz", 4);
        collect(&mut src, &mut got, 6, Duration::from_secs(4 * POLL + 3));
        assert!(idle_for(&mut src, Duration::from_secs(2 * POLL)).is_empty());
    }
    // While nobody follows: one more file, and one named late.
    write(&ct_key("", "111122223333", "eu-west-1", base + 900, "c"), 6);
    write(
        &ct_key("", "111122223333", "eu-west-1", base + 300, "late"),
        8,
    );
    let mut src = p.open(params).unwrap();
    collect(&mut src, &mut got, 10, Duration::from_secs(4 * POLL + 3));
    assert!(idle_for(&mut src, Duration::from_secs(2 * POLL)).is_empty());
    drop(src);
    let unique: BTreeSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), 10, "{got:?}");
    assert_eq!(got.len(), 10, "nothing twice: {got:?}");
    // Following a file is refused.
    let e = p.open(cp.to_str().unwrap()).err().unwrap();
    assert!(e.contains("follows a directory"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// How soon after its delivery a file must be in the checkpoint: a reader killed
/// later than this after printing a file's last event must not read that file again.
/// The saver writes at once after a delivery and rests 25 ms (or four times its
/// write) between writes, so a file is on disk within tens of milliseconds; the
/// margin is for a loaded CI machine. (With the old 2 s period this failed.)
const RECORD_WINDOW: Duration = Duration::from_millis(1000);

/// What one reader printed: each event id with the instant its line arrived.
struct Run {
    lines: Vec<(Instant, String)>,
    killed_at: Option<Instant>,
}

/// Runs the command line on `source` with `cfg`, printing `ct.id`s, for `life`
/// (then SIGKILL), or until it has been idle for 3 s when `life` is `None`.
fn reader(source: &str, cfg: &str, life: Option<Duration>) -> Run {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut args = vec![
        source, "--fields", "ct.id", "--json", "--quiet", "--init", cfg,
    ];
    if life.is_none() {
        args.extend(["--idle-exit", "3"]);
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_cloudtrail"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    let lines = std::thread::spawn(move || {
        out.lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
            .map(|v| (Instant::now(), v["ct.id"].as_str().unwrap().to_string()))
            .collect::<Vec<_>>()
    });
    let killed_at = life.map(|d| {
        std::thread::sleep(d);
        let at = Instant::now();
        child.kill().unwrap();
        at
    });
    let status = child.wait().unwrap();
    assert!(killed_at.is_some() || status.success(), "{status:?}");
    Run {
        lines: lines.join().unwrap(),
        killed_at,
    }
}

/// Kills readers of `source` again and again (0.3–3 s after each start) while
/// `add_file(i)` adds `files` files of `per` events (ids `id-<i*per>`…) one by one,
/// then lets a last reader finish. Asserts that nothing is lost and that no file
/// fully printed more than [`RECORD_WINDOW`] before a kill is read again later.
fn kill_again_and_again(
    source: &str,
    cfg: &str,
    files: usize,
    per: usize,
    add_file: impl Fn(usize) + Sync,
) {
    let kills = [
        300u64, 1700, 900, 2600, 500, 3000, 1200, 2100, 700, 1500, 2400, 400,
    ];
    let mut runs = Vec::new();
    std::thread::scope(|s| {
        let adder = s.spawn(|| {
            for i in 0..files {
                add_file(i);
                std::thread::sleep(Duration::from_millis(400));
            }
        });
        for ms in kills {
            runs.push(reader(source, cfg, Some(Duration::from_millis(ms))));
        }
        adder.join().unwrap();
    });
    runs.push(reader(source, cfg, None));

    let file_of = |id: &str| id[3..].parse::<usize>().unwrap() / per;
    let all: BTreeSet<&str> = runs
        .iter()
        .flat_map(|r| r.lines.iter().map(|(_, id)| id.as_str()))
        .collect();
    let lost: Vec<String> = ids(0..files * per)
        .into_iter()
        .filter(|id| !all.contains(id.as_str()))
        .collect();
    assert!(lost.is_empty(), "lost events: {lost:?}");

    let (mut in_window, mut ages) = (0, Vec::new());
    for (k, run) in runs.iter().enumerate() {
        let Some(killed_at) = run.killed_at else {
            continue;
        };
        // Each file this run printed whole, with the instant its last line arrived.
        let mut seen: std::collections::BTreeMap<usize, (usize, Instant)> = Default::default();
        for (t, id) in &run.lines {
            let e = seen.entry(file_of(id)).or_insert((0, *t));
            e.0 += 1;
            e.1 = e.1.max(*t);
        }
        for (file, (n, done_at)) in seen {
            assert!(n <= per, "run {k} printed file {file} twice");
            if n < per {
                continue;
            }
            let age = killed_at.saturating_duration_since(done_at);
            let again = runs[k + 1..]
                .iter()
                .position(|r| r.lines.iter().any(|(_, id)| file_of(id) == file));
            if let Some(later) = again {
                assert!(
                    age < RECORD_WINDOW,
                    "file {file}, printed whole {age:?} before reader {k} was killed, was read again by reader {}",
                    k + 1 + later
                );
                in_window += 1;
                ages.push(age);
            }
        }
    }
    let printed: usize = runs.iter().map(|r| r.lines.len()).sum();
    eprintln!(
        "{source}: {} kills, {printed} events printed for {} written; files read again after being printed whole just before a kill: {in_window}, ages {ages:?}",
        kills.len(),
        files * per
    );
}

#[test]
fn readers_killed_again_and_again_while_files_arrive_in_s3_lose_nothing_and_reread_nothing_delivered()
 {
    let m = moto();
    m.create_bucket("cp-churn");
    let dir = tmpdir("cp-churn");
    let cp = dir.join("cp.json");
    let cfg = config(
        m,
        &format!(
            "\"s3PollInterval\":\"{POLL}s\",\"checkpointFile\":\"{}\"",
            cp.display()
        ),
    );
    let start = now_secs() - 300;
    let per = 50;
    kill_again_and_again("s3://cp-churn", &cfg, 40, per, |i| {
        let key = ct_key(
            "",
            "111122223333",
            "eu-west-1",
            start + i as i64,
            &format!("c{i:03}"),
        );
        m.put("cp-churn", &key, &log_file(i * per, per));
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn readers_killed_again_and_again_while_files_arrive_in_a_directory_lose_nothing_and_reread_nothing_delivered()
 {
    let dir = tmpdir("dir-churn");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let cp = dir.join("cp.json");
    let cfg = format!(
        "{{\"s3PollInterval\":\"{POLL}s\",\"checkpointFile\":\"{}\"}}",
        cp.display()
    );
    let per = 50;
    kill_again_and_again(logs.to_str().unwrap(), &cfg, 40, per, |i| {
        // Written aside and renamed in, as a sync tool does.
        let tmp = dir.join(format!("{i:03}.tmp"));
        std::fs::write(&tmp, log_file(i * per, per)).unwrap();
        std::fs::rename(&tmp, logs.join(format!("{i:03}.json.gz"))).unwrap();
    });
    std::fs::remove_dir_all(&dir).unwrap();
}
