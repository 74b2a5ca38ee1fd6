//! The plugin, as a safe Rust object: what one `ss_plugin_t` holds.
//!
//! The C ABI (`plugin.rs`) is a thin shell over this; the command line and the
//! benchmarks drive it directly.

use std::sync::Arc;

use crate::aws::Aws;
use crate::aws::s3::S3;
use crate::aws::sqs::Sqs;
use crate::config::{Config, OpenParams};
use crate::error::Result;
use crate::extract::{ExtractError, Extracted, Extractor, Request};
use crate::instance::{Instance, Status};
use crate::interval::Interval;
use crate::log::Logger;
use crate::metrics::Metrics;
use crate::source::integrity::LocalValidation;
use crate::source::local::{LocalFeed, Plan, list_dir, list_files};
use crate::source::pool::Options;
use crate::source::progress::Ledger;
use crate::source::s3::{S3Feed, Selection, parse_accounts};
use crate::source::sqs::{Settings, SqsFeed};
use std::sync::atomic::AtomicBool;

pub struct Engine {
    config: Config,
    log: Logger,
    metrics: Arc<Metrics>,
    extractor: Extractor,
}

impl Engine {
    /// Parses the init config. Nothing else happens here (no AWS configuration, no
    /// threads): Falco initialises plugins it may never open.
    pub fn new(config: &str, log: Logger) -> Result<Engine> {
        let (config, warnings) = Config::parse(config)?;
        for w in warnings {
            log.warn(&w);
        }
        Ok(Engine {
            config,
            log,
            metrics: Arc::new(Metrics::default()),
            extractor: Extractor::default(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn logger(&self) -> &Logger {
        &self.log
    }

    /// Opens a source (`open_params`).
    pub fn open(&mut self, params: &str) -> Result<Instance> {
        self.extractor.forget_batch();
        match OpenParams::parse(params)? {
            OpenParams::Local(path) => {
                let follow = self.config.poll_interval()?;
                let is_dir = std::fs::metadata(&path).is_ok_and(|m| m.is_dir());
                let files = match follow {
                    Some(_) if !is_dir => {
                        return Err(crate::error::Error::new(format!(
                            "s3PollInterval follows a directory, and {path} is not one"
                        )));
                    }
                    // Following an empty directory is fine: files will come.
                    Some(_) => list_dir(std::path::Path::new(&path)),
                    None => list_files(&path)?,
                };
                let root = is_dir.then(|| std::path::PathBuf::from(&path));
                let canonical = std::fs::canonicalize(&path)
                    .map_or_else(|_| path.clone(), |p| p.display().to_string());
                let kind = if is_dir { "dir" } else { "file" };
                let ledger = self.ledger(&format!("{kind}:{canonical}"))?;
                self.log.info(&match follow {
                    Some(d) => format!(
                        "following {path} ({} file(s) now, a poll every {}s)",
                        files.len(),
                        d.as_secs()
                    ),
                    None => format!("reading {} file(s) from {path}", files.len()),
                });
                let stop = Arc::new(AtomicBool::new(false));
                let validation = if self.config.log_file_validation {
                    if !is_dir {
                        return Err(crate::error::Error::new(format!(
                            "logFileValidation checks a directory that holds a copy of a trail's bucket (with its CloudTrail-Digest folders), and {path} is a file"
                        )));
                    }
                    // The digests' signatures are S3 metadata: fetched from the bucket.
                    let aws = Arc::new(self.connect(stop.clone())?);
                    Some(LocalValidation::start(
                        aws,
                        ledger.clone(),
                        self.log.clone(),
                        self.metrics.clone(),
                    ))
                } else {
                    None
                };
                let plan = Plan {
                    files,
                    root,
                    follow,
                    validation,
                };
                let feed = LocalFeed::start(
                    plan,
                    self.config.max_decompressed_bytes,
                    self.metrics.clone(),
                    ledger,
                    stop,
                )?;
                Instance::start(Box::new(feed), self.log.clone(), self.metrics.clone(), 0)
            }
            OpenParams::S3 { bucket, prefix } => {
                let c = &self.config;
                c.check_remote(false)?;
                let interval = Interval::parse(&c.s3_interval)?;
                let accounts = parse_accounts(&c.s3_account_list)?;
                let follow = c.poll_interval()?;
                if follow.is_some() && interval.end.is_some() {
                    return Err(crate::error::Error::new(format!(
                        "s3PollInterval follows a bucket from the start of s3Interval on; \"{}\" has an end, which cannot be followed",
                        c.s3_interval
                    )));
                }
                let source = format!("s3://{bucket}/{prefix}");
                let ledger = self.ledger(&source)?;
                let stop = Arc::new(AtomicBool::new(false));
                let aws = Arc::new(self.connect(stop.clone())?);
                let sel = Selection {
                    bucket,
                    prefix,
                    accounts,
                    interval,
                };
                self.log.info(&match follow {
                    Some(d) => format!("following {source} (a poll every {}s)", d.as_secs()),
                    None => format!("reading {source}"),
                });
                let feed = S3Feed::start(
                    Arc::new(S3::new(aws)),
                    sel,
                    self.pool_options(),
                    self.log.clone(),
                    self.metrics.clone(),
                    stop,
                    ledger,
                    follow,
                    c.log_file_validation,
                )?;
                Instance::start(Box::new(feed), self.log.clone(), self.metrics.clone(), 0)
            }
            OpenParams::Sqs { queue } => {
                let c = &self.config;
                c.check_remote(true)?;
                let stop = Arc::new(AtomicBool::new(false));
                let aws = Arc::new(self.connect(stop.clone())?);
                let sqs = Sqs::new(aws.clone());
                let owner = Some(c.sqs_owner_account.as_str()).filter(|o| !o.is_empty());
                let url = sqs
                    .queue_url(&queue, owner)
                    .map_err(|e| e.context(format!("cannot open sqs://{queue}")))?;
                self.log.info(&format!("reading sqs://{queue} ({url})"));
                let settings = Settings {
                    queue,
                    url,
                    delete: c.sqs_delete,
                    wait_seconds: c.sqs_wait_seconds as u32,
                    visibility_seconds: c.sqs_visibility_seconds as u32,
                    receivers: c.sqs_receive_concurrency as usize,
                    delete_calls: c.sqs_delete_concurrency as usize,
                    // Digests are looked for every `s3PollInterval`, by default a minute.
                    validate: c
                        .log_file_validation
                        .then(|| c.poll_interval())
                        .transpose()?
                        .map(|p| p.unwrap_or(std::time::Duration::from_secs(60))),
                };
                let feed = SqsFeed::start(
                    Arc::new(S3::new(aws)),
                    sqs,
                    settings,
                    self.pool_options(),
                    self.log.clone(),
                    self.metrics.clone(),
                    stop,
                )?;
                let dedup = c.sqs_dedup_events as usize;
                Instance::start(
                    Box::new(feed),
                    self.log.clone(),
                    self.metrics.clone(),
                    dedup,
                )
            }
        }
    }

    /// The delivery ledger of a source, with its checkpoint file when one is set.
    fn ledger(&self, source: &str) -> Result<Arc<Ledger>> {
        let cp = Some(self.config.checkpoint_file.as_str()).filter(|p| !p.is_empty());
        Ledger::open(
            source,
            cp.map(std::path::Path::new),
            self.log.clone(),
            self.metrics.clone(),
        )
    }

    /// The AWS context for a remote source (a default region, as the SDK would not
    /// have one: us-east-1, where CloudTrail's global events land).
    fn connect(&self, stop: Arc<AtomicBool>) -> Result<Aws> {
        crate::aws::connect(
            &self.config.aws,
            Some("us-east-1"),
            self.metrics.clone(),
            stop,
        )
    }

    fn pool_options(&self) -> Options {
        let c = &self.config;
        Options {
            concurrency: c.s3_download_concurrency as usize,
            max_buffered: c.s3_max_buffered_bytes as usize,
            max_decompressed: c.max_decompressed_bytes,
        }
    }

    pub fn next_batch(&mut self, inst: &mut Instance) -> Result<Status> {
        let status = inst.next_batch(&mut self.extractor)?;
        if let Status::Events(n) = status {
            crate::metrics::Metrics::add(&self.metrics.events, n as u64);
        }
        Ok(status)
    }

    /// Closes a source; its batch memory must not be used afterwards.
    pub fn close(&mut self, inst: &mut Instance) {
        self.extractor.forget_batch();
        inst.close();
    }

    /// Extracts `requests` from `event`; see [`crate::extract::Extractor::extract`].
    pub fn extract(
        &mut self,
        evtnum: u64,
        event: &[u8],
        requests: &[Request],
        want_spans: bool,
    ) -> std::result::Result<Extracted<'_>, ExtractError> {
        self.extractor.extract(evtnum, event, requests, want_spans)
    }

    pub fn event_to_string(&mut self, evtnum: u64, event: &[u8]) -> &[u8] {
        self.extractor.to_string(evtnum, event)
    }
}
