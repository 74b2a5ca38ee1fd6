//! Logging through the host (the plugin API's `log_fn`), rate-limited.
//!
//! The host drops messages below its threshold but the plugin cannot query it, so a
//! file full of bad records must not flood Falco's log: after a burst, messages are
//! counted and summarised instead of printed.

use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
    Notice,
    Info,
    Debug,
}

/// Where messages go (the host's `log_fn`, stderr for the command line, a test buffer).
pub type Sink = Arc<dyn Fn(Level, &str) + Send + Sync>;

/// Messages allowed in a burst, and refilled per second.
const BURST: f64 = 50.0;
const PER_SECOND: f64 = 10.0;

struct Bucket {
    tokens: f64,
    last: Instant,
    suppressed: u64,
}

/// A cloneable, thread-safe logger.
#[derive(Clone)]
pub struct Logger {
    sink: Option<Sink>,
    bucket: Arc<Mutex<Bucket>>,
}

impl Logger {
    pub fn new(sink: Option<Sink>) -> Self {
        Logger {
            sink,
            bucket: Arc::new(Mutex::new(Bucket {
                tokens: BURST,
                last: Instant::now(),
                suppressed: 0,
            })),
        }
    }

    /// A logger that drops everything.
    pub fn none() -> Self {
        Self::new(None)
    }

    pub fn log(&self, level: Level, msg: &str) {
        let Some(sink) = &self.sink else { return };
        let suppressed = {
            let Ok(mut b) = self.bucket.lock() else {
                return;
            };
            let now = Instant::now();
            let refill = now.duration_since(b.last).as_secs_f64() * PER_SECOND;
            b.tokens = (b.tokens + refill).min(BURST);
            b.last = now;
            if b.tokens < 1.0 {
                b.suppressed += 1;
                return;
            }
            b.tokens -= 1.0;
            std::mem::take(&mut b.suppressed)
        };
        if suppressed > 0 {
            sink(
                Level::Warning,
                &format!("{suppressed} log messages were suppressed (rate limit)"),
            );
        }
        sink(level, msg);
    }

    pub fn error(&self, msg: &str) {
        self.log(Level::Error, msg);
    }

    pub fn warn(&self, msg: &str) {
        self.log(Level::Warning, msg);
    }

    pub fn info(&self, msg: &str) {
        self.log(Level::Info, msg);
    }

    pub fn debug(&self, msg: &str) {
        self.log(Level::Debug, msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_are_limited_and_summarised() {
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let s2 = seen.clone();
        let log = Logger::new(Some(Arc::new(move |_, m: &str| {
            s2.lock().unwrap().push(m.to_string())
        })));
        for i in 0..1000 {
            log.error(&format!("m{i}"));
        }
        let n = seen.lock().unwrap().len();
        assert!((50..60).contains(&n), "{n} messages passed");
        std::thread::sleep(std::time::Duration::from_millis(250));
        log.error("later");
        let seen = seen.lock().unwrap();
        assert!(seen.iter().any(|m| m.contains("suppressed")));
        assert_eq!(seen.last().unwrap(), "later");
    }
}
