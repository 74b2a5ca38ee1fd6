//! Counters exposed through the plugin API's metrics (and the command line's summary).
//!
//! Shared by the plugin state, its open source and the worker threads, and read by
//! Falco's stats and Prometheus threads concurrently, so every counter is an atomic.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::record::Skip;

#[derive(Default)]
pub struct Metrics {
    pub events: AtomicU64,
    pub records_skipped: [AtomicU64; Skip::ALL.len()],
    pub files_read: AtomicU64,
    pub files_failed: AtomicU64,
    pub bytes_read: AtomicU64,
    pub bytes_decompressed: AtomicU64,
    pub retries: AtomicU64,
    pub sqs_messages_received: AtomicU64,
    pub sqs_messages_deleted: AtomicU64,
    pub sqs_messages_ignored: AtomicU64,
    pub sqs_messages_poisoned: AtomicU64,
    /// CloudTrail records received inside SQS messages (EventBridge events).
    pub sqs_eventbridge_events: AtomicU64,
    /// Follow mode: listing rounds, keys listed, files found behind newer ones (late).
    pub follow_polls: AtomicU64,
    pub follow_keys_listed: AtomicU64,
    pub follow_files_late: AtomicU64,
    /// Checkpoint files written, and writes that failed (the source goes on).
    pub checkpoint_writes: AtomicU64,
    pub checkpoint_write_failures: AtomicU64,
    /// SQS ReceiveMessage and DeleteMessageBatch calls (what SQS bills, with the
    /// visibility changes).
    pub sqs_receive_calls: AtomicU64,
    pub sqs_delete_calls: AtomicU64,
    /// Log file validation: digests verified, log files whose hash matched their
    /// digest, and failures found, per kind (`integrity::Kind::ALL` order).
    pub integrity_digests_valid: AtomicU64,
    pub integrity_log_files_valid: AtomicU64,
    pub integrity_findings: [AtomicU64; crate::integrity::Kind::ALL.len()],
    /// Long polls open now (they follow the queue, see `sqsReceiveConcurrency`).
    pub sqs_receivers_active: AtomicU64,
    /// Time from the last delivered event's `eventTime` to its hand-over to Falco.
    pub delivery_lag_ms_last: AtomicU64,
    /// The largest such lag since the source was opened.
    pub delivery_lag_ms_max: AtomicU64,
}

/// Names are `snake_case` ASCII: Prometheus shows them as
/// `falcosecurity_plugins_cloudtrail_<name>_total`.
pub const NAMES: [&str; 37] = [
    "events",
    "records_skipped_invalid_json",
    "records_skipped_too_deep",
    "records_skipped_no_event_time",
    "records_skipped_no_event_type",
    "records_skipped_insight",
    "records_skipped_too_large",
    "records_skipped_not_an_object",
    "records_skipped_duplicate",
    "files_read",
    "files_failed",
    "bytes_read",
    "bytes_decompressed",
    "retries",
    "sqs_messages_received",
    "sqs_messages_deleted",
    "sqs_messages_ignored",
    "sqs_messages_poisoned",
    "sqs_eventbridge_events",
    "follow_polls",
    "follow_keys_listed",
    "follow_files_late",
    "checkpoint_writes",
    "checkpoint_write_failures",
    "sqs_receive_calls",
    "sqs_delete_calls",
    "integrity_digests_valid",
    "integrity_log_files_valid",
    "integrity_log_file_modified",
    "integrity_log_file_not_in_digest",
    "integrity_log_file_missing",
    "integrity_digest_invalid",
    "integrity_digest_chain_broken",
    "integrity_digest_missing",
    "sqs_receivers_active",
    "delivery_lag_ms_last",
    "delivery_lag_ms_max",
];

/// How many of the last [`NAMES`] are gauges (they go up and down), not counters.
pub const GAUGES: usize = 3;

/// Whether metric `i` of [`NAMES`] only ever grows.
pub fn monotonic(i: usize) -> bool {
    i < NAMES.len() - GAUGES
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn skipped(&self, why: Skip) {
        let i = Skip::ALL.iter().position(|s| *s == why).unwrap_or(0);
        Self::add(&self.records_skipped[i], 1);
    }

    pub fn skipped_count(&self, why: Skip) -> u64 {
        let i = Skip::ALL.iter().position(|s| *s == why).unwrap_or(0);
        self.records_skipped[i].load(Ordering::Relaxed)
    }

    /// Records the lag of a batch handed to Falco: `last` for its last event and
    /// `max` for its oldest one, in milliseconds.
    pub fn lag(&self, last: u64, max: u64) {
        self.delivery_lag_ms_last.store(last, Ordering::Relaxed);
        self.delivery_lag_ms_max.fetch_max(max, Ordering::Relaxed);
    }

    /// A new source starts with no lag on record.
    pub fn reset_lag(&self) {
        self.delivery_lag_ms_last.store(0, Ordering::Relaxed);
        self.delivery_lag_ms_max.store(0, Ordering::Relaxed);
    }

    /// Current values, in [`NAMES`] order.
    pub fn snapshot(&self) -> [u64; NAMES.len()] {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = [0u64; NAMES.len()];
        out[0] = l(&self.events);
        for (i, c) in self.records_skipped.iter().enumerate() {
            out[1 + i] = l(c);
        }
        let integrity = self.integrity_findings.iter();
        let rest = [
            &self.files_read,
            &self.files_failed,
            &self.bytes_read,
            &self.bytes_decompressed,
            &self.retries,
            &self.sqs_messages_received,
            &self.sqs_messages_deleted,
            &self.sqs_messages_ignored,
            &self.sqs_messages_poisoned,
            &self.sqs_eventbridge_events,
            &self.follow_polls,
            &self.follow_keys_listed,
            &self.follow_files_late,
            &self.checkpoint_writes,
            &self.checkpoint_write_failures,
            &self.sqs_receive_calls,
            &self.sqs_delete_calls,
            &self.integrity_digests_valid,
            &self.integrity_log_files_valid,
        ]
        .into_iter()
        .chain(integrity)
        .chain([
            &self.sqs_receivers_active,
            &self.delivery_lag_ms_last,
            &self.delivery_lag_ms_max,
        ]);
        for (i, c) in rest.enumerate() {
            out[1 + Skip::ALL.len() + i] = l(c);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_skip_reasons() {
        for (i, s) in Skip::ALL.iter().enumerate() {
            assert_eq!(NAMES[1 + i], format!("records_skipped_{}", s.key()));
        }
        let first = NAMES
            .iter()
            .position(|n| *n == "integrity_log_file_modified")
            .unwrap();
        for (i, k) in crate::integrity::Kind::ALL.iter().enumerate() {
            let mut snake = String::new();
            for c in k.name().chars() {
                if c.is_ascii_uppercase() && !snake.is_empty() {
                    snake.push('_');
                }
                snake.push(c.to_ascii_lowercase());
            }
            assert_eq!(NAMES[first + i], format!("integrity_{snake}"));
        }
        let m = Metrics::default();
        Metrics::add(&m.integrity_findings[2], 7);
        assert_eq!(m.snapshot()[first + 2], 7);
        let m = Metrics::default();
        m.skipped(Skip::Insight);
        Metrics::add(&m.sqs_messages_poisoned, 3);
        let snap = m.snapshot();
        assert_eq!(
            snap[NAMES
                .iter()
                .position(|n| *n == "records_skipped_insight")
                .unwrap()],
            1
        );
        assert_eq!(
            snap[NAMES
                .iter()
                .position(|n| *n == "sqs_messages_poisoned")
                .unwrap()],
            3
        );
        m.lag(5, 9);
        m.lag(2, 4);
        let snap = m.snapshot();
        assert_eq!(snap[NAMES.len() - 2..], [2, 9]);
        assert!(!monotonic(NAMES.len() - 1) && monotonic(0));
    }
}
