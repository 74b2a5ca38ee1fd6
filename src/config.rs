//! The init config and the open parameters.
//!
//! Users keep their upstream `init_config`: every upstream property with its default,
//! keys matched case-insensitively (Go's `encoding/json` does; upstream's own README
//! writes `S3AccountList`), unknown keys ignored, `null` meaning "leave the default",
//! the empty string meaning `{}`. Unlike upstream, a wrongly typed value fails init
//! with the property's name instead of being silently dropped.

use crate::error::{Error, Result};
use crate::json::doc::Doc;
use crate::json::{Kind, View};

/// Upstream's AWS overrides (`aws.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsOverrides {
    pub profile: String,
    pub region: String,
    pub config: String,
    pub credentials: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub s3_download_concurrency: i64,
    pub s3_interval: String,
    pub sqs_delete: bool,
    /// Check CloudTrail's signed digests beside the log files read.
    pub log_file_validation: bool,
    /// Accepted for compatibility; extraction has no cgo overhead to hide.
    pub use_async: bool,
    /// Accepted for compatibility; the notification shape is detected per message.
    pub use_s3_sns: bool,
    pub s3_account_list: String,
    pub sqs_owner_account: String,
    pub aws: AwsOverrides,
    /// Per-file limit on decompressed bytes (gzip bomb guard).
    pub max_decompressed_bytes: u64,
    /// Cap on downloaded-but-unconsumed bytes in S3 and SQS modes.
    pub s3_max_buffered_bytes: i64,
    /// SQS long-poll wait: bounds how long `close` waits for the poller.
    pub sqs_wait_seconds: i64,
    /// How long a received SQS message stays hidden from other readers; extended
    /// while its files are read, so a crash redelivers it after at most this long.
    pub sqs_visibility_seconds: i64,
    /// SQS ReceiveMessage long polls kept in flight at once.
    pub sqs_receive_concurrency: i64,
    /// SQS DeleteMessageBatch calls made at once.
    pub sqs_delete_concurrency: i64,
    /// Recent event identities remembered to drop duplicates (`sqs://`; 0: off).
    pub sqs_dedup_events: i64,
    /// Follow mode (`s3://` and local directories): how often to look for new files;
    /// empty: read once.
    pub s3_poll_interval: String,
    /// Where delivery progress is kept across restarts; empty: nowhere.
    pub checkpoint_file: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            s3_download_concurrency: 32,
            s3_interval: String::new(),
            sqs_delete: true,
            log_file_validation: false,
            use_async: true,
            use_s3_sns: false,
            s3_account_list: String::new(),
            sqs_owner_account: String::new(),
            aws: AwsOverrides::default(),
            max_decompressed_bytes: 4 << 30,
            s3_max_buffered_bytes: 128 << 20,
            sqs_wait_seconds: 5,
            sqs_visibility_seconds: 120,
            sqs_receive_concurrency: 16,
            sqs_delete_concurrency: 16,
            sqs_dedup_events: 100_000,
            s3_poll_interval: String::new(),
            checkpoint_file: String::new(),
        }
    }
}

/// The JSON schema `plugin_get_init_schema` returns: one flat draft-07 object, no ids,
/// no remote references (what libsinsp's validator handles safely).
pub const SCHEMA: &str = r#"{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "cloudtrail plugin configuration",
  "type": "object",
  "properties": {
    "s3DownloadConcurrency": {
      "type": "integer",
      "title": "S3 download concurrency",
      "description": "Number of parallel S3 object downloads (s3:// and sqs:// sources). Must be at least 1.",
      "default": 32
    },
    "s3Interval": {
      "type": "string",
      "title": "S3 log interval",
      "description": "Only read S3 objects whose key time falls in this interval: an age like 5d, 12h, 30m, a timestamp like 2024-01-02T03:04:05Z, or a range of either separated by '-' (e.g. 5d-2d).",
      "default": ""
    },
    "logFileValidation": {
      "type": "boolean",
      "title": "Log file integrity validation",
      "description": "Check CloudTrail's signed hourly digest files beside the log files read (s3://, sqs:// file notifications, a directory holding a copy of the bucket): each failure (a modified, injected or deleted log file, an invalid, missing or unchained digest) becomes an event with ct.src integrity.cloudtrail-plugin.",
      "default": false
    },
    "sqsDelete": {
      "type": "boolean",
      "title": "Delete SQS messages",
      "description": "Delete each SQS message once all events of the files it announced were delivered to Falco.",
      "default": true
    },
    "useAsync": {
      "type": "boolean",
      "title": "Use async extraction",
      "description": "Accepted for compatibility with the upstream plugin; has no effect.",
      "default": true
    },
    "useS3SNS": {
      "type": "boolean",
      "title": "Use S3 SNS",
      "description": "Accepted for compatibility with the upstream plugin; SQS message formats are detected automatically.",
      "default": false
    },
    "s3AccountList": {
      "type": ["string", "integer"],
      "title": "S3 account list",
      "description": "Comma-separated 12-digit account IDs to read from an organization trail bucket.",
      "default": ""
    },
    "sqsOwnerAccount": {
      "type": ["string", "integer"],
      "title": "SQS owner account",
      "description": "Account ID that owns the SQS queue, when it is not the caller's account.",
      "default": ""
    },
    "s3MaxBufferedBytes": {
      "type": "integer",
      "title": "S3 read-ahead memory",
      "description": "Cap on downloaded but not yet consumed bytes (s3:// and sqs:// sources); the object Falco reads next always proceeds.",
      "minimum": 1,
      "default": 134217728
    },
    "sqsWaitSeconds": {
      "type": "integer",
      "title": "SQS long-poll wait",
      "description": "Seconds each SQS ReceiveMessage call waits for messages (1-20). Closing the source can take this long.",
      "minimum": 1,
      "maximum": 20,
      "default": 5
    },
    "sqsVisibilitySeconds": {
      "type": "integer",
      "title": "SQS visibility timeout",
      "description": "Seconds a received SQS message stays hidden from other readers (2-43200); extended while its files are read. After a crash its files are redelivered this long later.",
      "minimum": 2,
      "maximum": 43200,
      "default": 120
    },
    "sqsReceiveConcurrency": {
      "type": "integer",
      "title": "SQS receive concurrency",
      "description": "Most SQS ReceiveMessage long polls in flight at once (1-64). They follow the queue: two on an idle queue, one more for each receive that comes back full, one fewer for each that comes back empty.",
      "minimum": 1,
      "maximum": 64,
      "default": 16
    },
    "sqsDeleteConcurrency": {
      "type": "integer",
      "title": "SQS delete concurrency",
      "description": "Most DeleteMessageBatch calls (ten messages each) made at once for delivered messages (1-64); each runs when ten messages are delivered, or 50 ms after the first of fewer.",
      "minimum": 1,
      "maximum": 64,
      "default": 16
    },
    "sqsDedupEvents": {
      "type": "integer",
      "title": "SQS duplicate window",
      "description": "sqs:// only: the number of recent events (eventID with recipientAccountId) remembered to drop duplicates, e.g. the same event from EventBridge and from a log file, or redelivered by SQS. 0 turns it off. About 40 bytes each.",
      "minimum": 0,
      "maximum": 10000000,
      "default": 100000
    },
    "s3PollInterval": {
      "type": "string",
      "title": "Follow: poll interval",
      "description": "s3:// and local directories: keep following the source, looking for new log files this often (e.g. 60s, 5m; 1s to 1d). Empty: read once and end.",
      "default": ""
    },
    "checkpointFile": {
      "type": "string",
      "title": "Checkpoint file",
      "description": "s3:// and local directories: a file where the plugin records which log files were delivered to Falco, so that a restart resumes after them. Locked while a source uses it. Empty: no checkpoint.",
      "default": ""
    },
    "maxDecompressedBytes": {
      "type": "integer",
      "title": "Maximum decompressed bytes per file",
      "description": "A log file that decompresses to more than this is stopped with an error (gzip bomb guard).",
      "minimum": 1,
      "default": 4294967296
    },
    "aws": {
      "type": "object",
      "title": "AWS overrides",
      "properties": {
        "profile": {"type": "string", "title": "AWS Profile", "default": ""},
        "region": {"type": "string", "title": "AWS Region", "default": ""},
        "config": {"type": "string", "title": "Shared AWS Config File", "default": ""},
        "credentials": {"type": "string", "title": "Shared AWS Credentials File", "default": ""}
      }
    }
  }
}"#;

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Object => "an object",
        Kind::Array => "an array",
        Kind::String => "a string",
        Kind::Number => "a number",
        Kind::True | Kind::False => "a boolean",
        Kind::Null => "null",
    }
}

fn wrong_type(prop: &str, want: &str, got: Kind) -> Error {
    Error::new(format!(
        "init config property '{prop}' must be {want}, not {}",
        kind_name(got)
    ))
}

fn get_string<V: View>(v: &V, id: V::Id, prop: &str) -> Result<String> {
    match v.text(id) {
        Some(t) => Ok(crate::json::into_string(t)),
        None => Err(wrong_type(prop, "a string", v.kind(id))),
    }
}

fn get_bool<V: View>(v: &V, id: V::Id, prop: &str) -> Result<bool> {
    match v.kind(id) {
        Kind::True => Ok(true),
        Kind::False => Ok(false),
        k => Err(wrong_type(prop, "a boolean", k)),
    }
}

fn get_int<V: View>(v: &V, id: V::Id, prop: &str) -> Result<i64> {
    let raw = v.raw(id);
    if v.kind(id) != Kind::Number {
        return Err(wrong_type(prop, "an integer", v.kind(id)));
    }
    std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| {
            Error::new(format!(
                "init config property '{prop}' must be an integer, not {}",
                String::from_utf8_lossy(raw)
            ))
        })
}

/// An account id: a string, or a number (Falco's YAML-to-JSON conversion turns an
/// unquoted or even quoted `123456789012` into one), zero-padded to 12 digits.
fn get_account<V: View>(v: &V, id: V::Id, prop: &str) -> Result<String> {
    match v.kind(id) {
        Kind::String => get_string(v, id, prop),
        Kind::Number => {
            let n = get_int(v, id, prop)?;
            if n < 0 {
                return Err(Error::new(format!(
                    "init config property '{prop}' must be an account id, not {n}"
                )));
            }
            Ok(format!("{n:012}"))
        }
        k => Err(wrong_type(prop, "a string", k)),
    }
}

impl Config {
    /// Parses the init config; returns it with warnings worth logging (unknown keys).
    pub fn parse(text: &str) -> Result<(Config, Vec<String>)> {
        let mut cfg = Config::default();
        let mut warnings = Vec::new();
        let text = if text.trim().is_empty() { "{}" } else { text };
        let doc = Doc::parse(text.as_bytes())
            .ok_or_else(|| Error::new("the init config is not valid JSON"))?;
        let v = doc.view();
        let root = v.root();
        if v.kind(root) != Kind::Object {
            return Err(Error::new(format!(
                "the init config must be a JSON object, not {}",
                kind_name(v.kind(root))
            )));
        }
        let mut err = None;
        v.each_member(root, &mut |key, id| {
            let key = String::from_utf8_lossy(key).into_owned();
            if v.kind(id) == Kind::Null {
                return true;
            }
            let r = cfg.apply(&v, &key, id, &mut warnings);
            if let Err(e) = r {
                err = Some(e);
                return false;
            }
            true
        });
        if let Some(e) = err {
            return Err(e);
        }
        Ok((cfg, warnings))
    }

    fn apply<V: View>(
        &mut self,
        v: &V,
        key: &str,
        id: V::Id,
        warnings: &mut Vec<String>,
    ) -> Result<()> {
        let is = |name: &str| key.eq_ignore_ascii_case(name);
        if is("s3DownloadConcurrency") {
            self.s3_download_concurrency = get_int(v, id, "s3DownloadConcurrency")?;
        } else if is("s3Interval") {
            self.s3_interval = get_string(v, id, "s3Interval")?;
        } else if is("sqsDelete") {
            self.sqs_delete = get_bool(v, id, "sqsDelete")?;
        } else if is("logFileValidation") {
            self.log_file_validation = get_bool(v, id, "logFileValidation")?;
        } else if is("useAsync") {
            self.use_async = get_bool(v, id, "useAsync")?;
        } else if is("useS3SNS") {
            self.use_s3_sns = get_bool(v, id, "useS3SNS")?;
        } else if is("s3AccountList") {
            self.s3_account_list = get_account(v, id, "s3AccountList")?;
        } else if is("sqsOwnerAccount") {
            self.sqs_owner_account = get_account(v, id, "sqsOwnerAccount")?;
        } else if is("s3MaxBufferedBytes") {
            self.s3_max_buffered_bytes = get_int(v, id, "s3MaxBufferedBytes")?;
        } else if is("sqsWaitSeconds") {
            self.sqs_wait_seconds = get_int(v, id, "sqsWaitSeconds")?;
        } else if is("sqsVisibilitySeconds") {
            self.sqs_visibility_seconds = get_int(v, id, "sqsVisibilitySeconds")?;
        } else if is("sqsReceiveConcurrency") {
            self.sqs_receive_concurrency = get_int(v, id, "sqsReceiveConcurrency")?;
        } else if is("sqsDeleteConcurrency") {
            self.sqs_delete_concurrency = get_int(v, id, "sqsDeleteConcurrency")?;
        } else if is("s3PollInterval") {
            self.s3_poll_interval = get_string(v, id, "s3PollInterval")?;
        } else if is("checkpointFile") {
            self.checkpoint_file = get_string(v, id, "checkpointFile")?;
        } else if is("sqsDedupEvents") {
            self.sqs_dedup_events = get_int(v, id, "sqsDedupEvents")?;
        } else if is("maxDecompressedBytes") {
            let n = get_int(v, id, "maxDecompressedBytes")?;
            if n < 1 {
                return Err(Error::new(format!(
                    "init config property 'maxDecompressedBytes' must be at least 1, not {n}"
                )));
            }
            self.max_decompressed_bytes = n as u64;
        } else if is("aws") {
            if v.kind(id) != Kind::Object {
                return Err(wrong_type("aws", "an object", v.kind(id)));
            }
            let mut err = None;
            v.each_member(id, &mut |k, vid| {
                let k = String::from_utf8_lossy(k).into_owned();
                if v.kind(vid) == Kind::Null {
                    return true;
                }
                let slot = match k.to_ascii_lowercase().as_str() {
                    "profile" => &mut self.aws.profile,
                    "region" => &mut self.aws.region,
                    "config" => &mut self.aws.config,
                    "credentials" => &mut self.aws.credentials,
                    _ => {
                        warnings.push(format!("unknown init config property 'aws.{k}' ignored"));
                        return true;
                    }
                };
                match get_string(v, vid, &format!("aws.{k}")) {
                    Ok(s) => {
                        *slot = s;
                        true
                    }
                    Err(e) => {
                        err = Some(e);
                        false
                    }
                }
            });
            if let Some(e) = err {
                return Err(e);
            }
        } else {
            warnings.push(format!("unknown init config property '{key}' ignored"));
        }
        Ok(())
    }
}

fn in_range(name: &str, n: i64, min: i64, max: i64) -> Result<()> {
    if (min..=max).contains(&n) {
        return Ok(());
    }
    Err(Error::new(format!(
        "init config property '{name}' must be between {min} and {max}, not {n}"
    )))
}

impl Config {
    /// Range checks of the S3/SQS-only properties, made when such a source opens
    /// (a local source never looks at them).
    pub fn check_remote(&self, sqs: bool) -> Result<()> {
        in_range(
            "s3DownloadConcurrency",
            self.s3_download_concurrency,
            1,
            1024,
        )?;
        in_range(
            "s3MaxBufferedBytes",
            self.s3_max_buffered_bytes,
            1,
            i64::MAX,
        )?;
        if sqs {
            in_range("sqsWaitSeconds", self.sqs_wait_seconds, 1, 20)?;
            in_range(
                "sqsVisibilitySeconds",
                self.sqs_visibility_seconds,
                2,
                43200,
            )?;
            in_range("sqsReceiveConcurrency", self.sqs_receive_concurrency, 1, 64)?;
            in_range("sqsDeleteConcurrency", self.sqs_delete_concurrency, 1, 64)?;
            in_range("sqsDedupEvents", self.sqs_dedup_events, 0, 10_000_000)?;
        }
        Ok(())
    }
}

impl Config {
    /// `s3PollInterval` as a duration (`None`: read once).
    pub fn poll_interval(&self) -> Result<Option<std::time::Duration>> {
        let v = self.s3_poll_interval.trim();
        if v.is_empty() {
            return Ok(None);
        }
        let bad = || {
            Error::new(format!(
                "init config property 's3PollInterval' must be a duration from 1s to 1d such as 30s, 5m or 1h, not \"{v}\""
            ))
        };
        let (num, unit) = v.split_at(v.len() - 1);
        let mult = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = num.parse().map_err(|_| bad())?;
        let secs = n
            .checked_mul(mult)
            .filter(|s| (1..=86_400).contains(s))
            .ok_or_else(bad)?;
        Ok(Some(std::time::Duration::from_secs(secs)))
    }
}

/// Where events come from, per the open parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenParams {
    Local(String),
    S3 { bucket: String, prefix: String },
    Sqs { queue: String },
}

impl OpenParams {
    /// Upstream's dispatch: a case-sensitive `s3://` or `sqs://` prefix, else a path.
    pub fn parse(params: &str) -> Result<OpenParams> {
        if let Some(rest) = params.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::new(format!(
                    "invalid open params '{params}': expected s3://<bucket>[/<prefix>]"
                )));
            }
            return Ok(OpenParams::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
            });
        }
        if let Some(queue) = params.strip_prefix("sqs://") {
            if queue.is_empty() {
                return Err(Error::new(format!(
                    "invalid open params '{params}': expected sqs://<queue name>"
                )));
            }
            return Ok(OpenParams::Sqs {
                queue: queue.to_string(),
            });
        }
        if params.is_empty() {
            return Err(Error::new(
                "cloudtrail plugin error: missing input directory argument (open_params must be a file, a directory, s3://<bucket>[/<prefix>] or sqs://<queue>)",
            ));
        }
        Ok(OpenParams::Local(params.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_intervals() {
        let c = |v: &str| {
            let (c, _) = Config::parse(&format!("{{\"s3PollInterval\":\"{v}\"}}")).unwrap();
            c.poll_interval()
        };
        assert_eq!(c("").unwrap(), None);
        assert_eq!(c("60s").unwrap(), Some(std::time::Duration::from_secs(60)));
        assert_eq!(c("5m").unwrap(), Some(std::time::Duration::from_secs(300)));
        assert_eq!(
            c("1d").unwrap(),
            Some(std::time::Duration::from_secs(86_400))
        );
        for bad in [
            "0s",
            "2d",
            "5",
            "m",
            "-1s",
            "1.5s",
            "5 m",
            "99999999999999999999s",
        ] {
            let e = c(bad).unwrap_err();
            assert!(e.message().contains("'s3PollInterval'"), "{bad}: {e}");
        }
    }

    #[test]
    fn defaults_and_empty_config() {
        assert_eq!(Config::parse("").unwrap().0, Config::default());
        assert_eq!(Config::parse("  ").unwrap().0, Config::default());
        assert_eq!(Config::parse("{}").unwrap().0, Config::default());
        let d = Config::default();
        assert_eq!(d.s3_download_concurrency, 32);
        assert!(d.sqs_delete && d.use_async && !d.use_s3_sns);
    }

    #[test]
    fn keys_are_case_insensitive_and_last_wins() {
        let (c, w) = Config::parse(
            r#"{"S3AccountList":"111122223333","SQSOwnerAccount":"444455556666","S3Interval":"5d",
                "s3downloadconcurrency":4,"S3DOWNLOADCONCURRENCY":8,"SqsDelete":false,
                "AWS":{"Profile":"p","REGION":"eu-west-1"},"unknown":1}"#,
        )
        .unwrap();
        assert_eq!(c.s3_account_list, "111122223333");
        assert_eq!(c.sqs_owner_account, "444455556666");
        assert_eq!(c.s3_interval, "5d");
        assert_eq!(c.s3_download_concurrency, 8);
        assert!(!c.sqs_delete);
        assert_eq!(c.aws.profile, "p");
        assert_eq!(c.aws.region, "eu-west-1");
        assert_eq!(w, ["unknown init config property 'unknown' ignored"]);
    }

    #[test]
    fn null_means_default() {
        let (c, _) =
            Config::parse(r#"{"s3DownloadConcurrency":null,"sqsDelete":null,"aws":null}"#).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn numeric_account_ids_are_accepted() {
        let (c, _) =
            Config::parse(r#"{"s3AccountList":123456789012,"sqsOwnerAccount":12345678901}"#)
                .unwrap();
        assert_eq!(c.s3_account_list, "123456789012");
        assert_eq!(c.sqs_owner_account, "012345678901");
    }

    #[test]
    fn wrong_types_name_the_property() {
        for (cfg, prop) in [
            (
                r#"{"s3DownloadConcurrency":"32"}"#,
                "'s3DownloadConcurrency'",
            ),
            (
                r#"{"s3DownloadConcurrency":1.5}"#,
                "'s3DownloadConcurrency'",
            ),
            (r#"{"sqsDelete":"yes"}"#, "'sqsDelete'"),
            (r#"{"useAsync":1}"#, "'useAsync'"),
            (r#"{"s3Interval":5}"#, "'s3Interval'"),
            (r#"{"aws":"x"}"#, "'aws'"),
            (r#"{"aws":{"region":1}}"#, "'aws.region'"),
            (r#"{"maxDecompressedBytes":0}"#, "'maxDecompressedBytes'"),
        ] {
            let e = Config::parse(cfg).unwrap_err();
            assert!(e.message().contains(prop), "{cfg}: {e}");
        }
        assert!(
            Config::parse("{")
                .unwrap_err()
                .message()
                .contains("not valid JSON")
        );
        assert!(
            Config::parse("[]")
                .unwrap_err()
                .message()
                .contains("must be a JSON object")
        );
    }

    #[test]
    fn remote_ranges_are_checked_at_open_only() {
        let (c, _) = Config::parse(
            r#"{"s3DownloadConcurrency":0,"s3MaxBufferedBytes":-1,"sqsWaitSeconds":30}"#,
        )
        .unwrap();
        let e = c.check_remote(false).unwrap_err();
        assert!(e.message().contains("'s3DownloadConcurrency'"), "{e}");
        let (c, _) = Config::parse(r#"{"sqsWaitSeconds":30}"#).unwrap();
        assert!(c.check_remote(false).is_ok());
        let e = c.check_remote(true).unwrap_err();
        assert!(e.message().contains("'sqsWaitSeconds'"), "{e}");
        let (c, _) = Config::parse(r#"{"sqsVisibilitySeconds":1}"#).unwrap();
        assert!(c.check_remote(true).is_err());
        for bad in [
            r#"{"sqsReceiveConcurrency":0}"#,
            r#"{"sqsReceiveConcurrency":65}"#,
            r#"{"sqsDedupEvents":-1}"#,
            r#"{"sqsDeleteConcurrency":0}"#,
            r#"{"sqsDeleteConcurrency":65}"#,
            r#"{"sqsDedupEvents":10000001}"#,
        ] {
            let (c, _) = Config::parse(bad).unwrap();
            assert!(c.check_remote(false).is_ok(), "{bad}");
            let e = c.check_remote(true).unwrap_err();
            let prop = bad.split('"').nth(1).unwrap();
            assert!(e.message().contains(prop), "{bad}: {e}");
        }
        let (c, _) = Config::parse(r#"{"sqsDedupEvents":0,"sqsReceiveConcurrency":64}"#).unwrap();
        assert!(c.check_remote(true).is_ok());
        assert!(Config::default().check_remote(true).is_ok());
    }

    #[test]
    fn schema_is_json_and_lists_every_property() {
        let v: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
        let props = v["properties"].as_object().unwrap();
        for p in [
            "s3DownloadConcurrency",
            "s3Interval",
            "sqsDelete",
            "useAsync",
            "useS3SNS",
            "s3AccountList",
            "sqsOwnerAccount",
            "aws",
            "maxDecompressedBytes",
            "s3MaxBufferedBytes",
            "sqsWaitSeconds",
            "sqsVisibilitySeconds",
            "sqsReceiveConcurrency",
            "sqsDedupEvents",
            "sqsDeleteConcurrency",
        ] {
            assert!(props.contains_key(p), "{p}");
        }
    }

    #[test]
    fn open_params() {
        assert_eq!(
            OpenParams::parse("s3://bucket/some/prefix/").unwrap(),
            OpenParams::S3 {
                bucket: "bucket".into(),
                prefix: "some/prefix/".into()
            }
        );
        assert_eq!(
            OpenParams::parse("s3://bucket").unwrap(),
            OpenParams::S3 {
                bucket: "bucket".into(),
                prefix: "".into()
            }
        );
        assert_eq!(
            OpenParams::parse("sqs://q").unwrap(),
            OpenParams::Sqs { queue: "q".into() }
        );
        assert_eq!(
            OpenParams::parse("S3://b").unwrap(),
            OpenParams::Local("S3://b".into())
        );
        assert!(
            OpenParams::parse("")
                .unwrap_err()
                .message()
                .contains("missing input")
        );
        assert!(OpenParams::parse("s3://").is_err());
        assert!(OpenParams::parse("sqs://").is_err());
    }
}
