//! `cloudtrail`: the plugin's logic without Falco. Reads a path, `s3://` or `sqs://`
//! source and prints one line per event, with the chosen fields.

use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::sync::Arc;

use cloudtrail::engine::Engine;
use cloudtrail::extract::Request;
use cloudtrail::fields::{self, FIELDS, Scalar};
use cloudtrail::instance::Status;
use cloudtrail::log::{Level, Logger};
use cloudtrail::metrics::NAMES;
use cloudtrail::time::readable_ms;

const USAGE: &str = "usage:
  cloudtrail <path | s3://bucket[/prefix] | sqs://queue> [--fields f1,f2,...] [--init JSON] [--json] [--limit N] [--idle-exit SECONDS] [--quiet]
  cloudtrail --list-fields

Prints one line per event: event_to_string's text (Falco's %evt.plugininfo), or the
chosen fields as name=value (or a JSON object with --json; --json alone prints all
fields). Field names may carry an index, e.g. ec2.imageids[0]. --init takes the
plugin's init_config as JSON. --idle-exit ends the run once no event arrived for
that long (an sqs:// source never ends by itself). Logs and a closing summary
(counters, delivery lag) go to stderr.";

struct Args {
    source: String,
    fields: Vec<String>,
    init: String,
    json: bool,
    limit: Option<u64>,
    idle_exit: Option<std::time::Duration>,
    quiet: bool,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut it = std::env::args().skip(1);
    let mut args = Args {
        source: String::new(),
        fields: Vec::new(),
        init: String::new(),
        json: false,
        limit: None,
        idle_exit: None,
        quiet: false,
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => return Err(USAGE.to_string()),
            "--list-fields" => {
                print!("{}", fields::markdown_table());
                return Ok(None);
            }
            "--fields" => {
                let v = it.next().ok_or("--fields needs a value")?;
                args.fields = v
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
            }
            "--init" => args.init = it.next().ok_or("--init needs a value")?,
            "--json" => args.json = true,
            "--quiet" => args.quiet = true,
            "--limit" => {
                let v = it.next().ok_or("--limit needs a value")?;
                args.limit = Some(
                    v.parse()
                        .map_err(|_| format!("--limit: not a number: {v}"))?,
                );
            }
            "--idle-exit" => {
                let v = it.next().ok_or("--idle-exit needs a value")?;
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| format!("--idle-exit: not a number of seconds: {v}"))?;
                args.idle_exit = Some(std::time::Duration::from_secs_f64(secs));
            }
            s if s.starts_with('-') && !args.source.is_empty() => {
                return Err(format!("unknown option {s}\n\n{USAGE}"));
            }
            s if args.source.is_empty() => args.source = s.to_string(),
            s => return Err(format!("unexpected argument {s}\n\n{USAGE}")),
        }
    }
    if args.source.is_empty() {
        return Err(USAGE.to_string());
    }
    Ok(Some(args))
}

/// `name` or `name[i]` → the field and its index argument.
fn request(spec: &str) -> Result<(String, Request), String> {
    let (name, index) = match spec.split_once('[') {
        Some((n, rest)) => {
            let i = rest.strip_suffix(']').and_then(|i| i.parse::<u64>().ok());
            (n, Some(i.ok_or_else(|| format!("bad index in {spec}"))?))
        }
        None => (spec, None),
    };
    let def =
        fields::by_name(name).ok_or_else(|| format!("unknown field {name} (see --list-fields)"))?;
    if index.is_some() && !def.indexed_list {
        return Err(format!("{name} takes no index"));
    }
    Ok((
        spec.to_string(),
        Request {
            field: def.field,
            index,
        },
    ))
}

fn json_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for ch in String::from_utf8_lossy(s).chars() {
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}

fn run(args: Args) -> Result<(), String> {
    let sink: cloudtrail::log::Sink = if args.quiet {
        Arc::new(|level: Level, msg: &str| {
            if level <= Level::Warning {
                eprintln!("cloudtrail: {msg}");
            }
        })
    } else {
        Arc::new(|_: Level, msg: &str| eprintln!("cloudtrail: {msg}"))
    };
    let mut engine = Engine::new(&args.init, Logger::new(Some(sink))).map_err(|e| e.to_string())?;
    let mut specs: Vec<(String, Request)> = args
        .fields
        .iter()
        .map(|f| request(f))
        .collect::<Result<_, _>>()?;
    if specs.is_empty() && args.json {
        specs = FIELDS
            .iter()
            .map(|d| {
                (
                    d.name.to_string(),
                    Request {
                        field: d.field,
                        index: None,
                    },
                )
            })
            .collect();
    }
    let requests: Vec<Request> = specs.iter().map(|s| s.1).collect();
    let mut inst = engine.open(&args.source).map_err(|e| e.to_string())?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut line = Vec::new();
    let mut evtnum = 0u64;
    let mut last_event = std::time::Instant::now();
    'outer: loop {
        let status = engine.next_batch(&mut inst).map_err(|e| e.to_string())?;
        let n = match status {
            Status::Events(n) => n,
            Status::Timeout => {
                if args.idle_exit.is_some_and(|d| last_event.elapsed() >= d) {
                    break;
                }
                continue;
            }
            Status::Eof => break,
        };
        last_event = std::time::Instant::now();
        for i in 0..n {
            if args.limit.is_some_and(|l| evtnum >= l) {
                // Events of this batch were not printed: an SQS source must not
                // count them as delivered.
                inst.discard_batch();
                break 'outer;
            }
            evtnum += 1;
            let event = inst.event(i);
            line.clear();
            if specs.is_empty() {
                line.extend_from_slice(engine.event_to_string(evtnum, event));
            } else {
                if args.json {
                    line.push(b'{');
                }
                match engine.extract(evtnum, event, &requests, false) {
                    Ok(got) => {
                        let o = got.out;
                        for (k, range) in got.bounds.iter().enumerate() {
                            let (name, _) = &specs[k];
                            let is_list = range.len() > 1
                                || (FIELDS[requests[k].field as usize].indexed_list
                                    && requests[k].index.is_none());
                            if args.json {
                                if k > 0 {
                                    line.push(b',');
                                }
                                json_string(&mut line, name.as_bytes());
                                line.push(b':');
                            } else {
                                if k > 0 {
                                    line.push(b' ');
                                }
                                line.extend_from_slice(name.as_bytes());
                                line.push(b'=');
                            }
                            let values = &o.values[range.clone()];
                            if values.is_empty() {
                                line.extend_from_slice(if args.json { b"null" } else { b"<NA>" });
                                continue;
                            }
                            if is_list {
                                line.push(b'[');
                            }
                            for (j, v) in values.iter().enumerate() {
                                if j > 0 {
                                    line.push(b',');
                                }
                                match v.scalar {
                                    Scalar::U64(n) => {
                                        line.extend_from_slice(n.to_string().as_bytes())
                                    }
                                    Scalar::Str { .. } if args.json => {
                                        json_string(&mut line, o.text(v))
                                    }
                                    Scalar::Str { .. } => line.extend_from_slice(o.text(v)),
                                }
                            }
                            if is_list {
                                line.push(b']');
                            }
                        }
                    }
                    Err(e) => {
                        line.extend_from_slice(format!("<extraction failed: {e}>").as_bytes())
                    }
                }
                if args.json {
                    line.push(b'}');
                }
            }
            line.push(b'\n');
            if out.write_all(&line).is_err() {
                inst.discard_batch();
                break 'outer; // stdout closed (e.g. piped into head)
            }
        }
        // The next call counts this batch as delivered (SQS deletes its messages):
        // it must be out of this process first.
        if out.flush().is_err() {
            inst.discard_batch();
            break;
        }
    }
    let _ = out.flush();
    engine.close(&mut inst);
    let m = engine.metrics().snapshot();
    // The delivery lag means something where events arrive as they happen (a queue,
    // a followed bucket or directory), not for a one-shot read of old files.
    let live = args.source.starts_with("sqs://")
        || engine.config().poll_interval().ok().flatten().is_some();
    let summary: Vec<String> = NAMES
        .iter()
        .zip(m)
        .filter(|(n, v)| (*v > 0 && !n.starts_with("delivery_lag_")) || **n == "events")
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    if !args.quiet {
        eprintln!("cloudtrail: done: {}", summary.join(" "));
        let lag = |name: &str| NAMES.iter().position(|n| *n == name).map_or(0, |i| m[i]);
        if live && m[0] > 0 {
            eprintln!(
                "cloudtrail: delivery lag (eventTime to hand-over): last {}, max {}",
                readable_ms(lag("delivery_lag_ms_last")),
                readable_ms(lag("delivery_lag_ms_max"))
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match parse_args() {
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some(args)) => match run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cloudtrail: {e}");
                ExitCode::FAILURE
            }
        },
        Err(msg) => {
            eprintln!("{msg}");
            ExitCode::from(2)
        }
    }
}
