//! The plugin, as a safe Rust object: what one `ss_plugin_t` holds.
//!
//! The C ABI (`plugin.rs`) is a thin shell over this; the command line and the
//! benchmarks drive it directly.

use std::sync::Arc;

use crate::config::{Config, OpenParams};
use crate::error::{Error, Result};
use crate::extract::{ExtractError, Extractor, Request};
use crate::fields::Out;
use crate::instance::{Instance, Status};
use crate::log::Logger;
use crate::metrics::Metrics;
use crate::source::local::{LocalFeed, list_files};

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
                let files = list_files(&path)?;
                self.log
                    .info(&format!("reading {} file(s) from {path}", files.len()));
                let feed = LocalFeed::start(
                    files,
                    self.config.max_decompressed_bytes,
                    self.metrics.clone(),
                )?;
                Instance::start(Box::new(feed), self.log.clone(), self.metrics.clone())
            }
            OpenParams::S3 { .. } | OpenParams::Sqs { .. } => Err(Error::new(format!(
                "cannot open {params}: S3 and SQS sources are not available in this build"
            ))),
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

    pub fn extract(
        &mut self,
        evtnum: u64,
        event: &[u8],
        requests: &[Request],
    ) -> std::result::Result<&Out, ExtractError> {
        self.extractor.extract(evtnum, event, requests)
    }

    pub fn extract_each(
        &mut self,
        evtnum: u64,
        event: &[u8],
        requests: &[Request],
        want_spans: bool,
        f: &mut dyn FnMut(usize, &Out, std::ops::Range<usize>),
    ) -> std::result::Result<(), ExtractError> {
        self.extractor
            .extract_each(evtnum, event, requests, want_spans, f)
    }

    pub fn event_to_string(&mut self, evtnum: u64, event: &[u8]) -> &[u8] {
        self.extractor.to_string(evtnum, event)
    }
}
