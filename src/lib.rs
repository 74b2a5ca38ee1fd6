//! libcloudtrail: a Falco plugin that reads AWS CloudTrail logs and extracts fields.
//!
//! Built as `libcloudtrail.so`, a drop-in replacement for Falco's upstream Go
//! `cloudtrail` plugin (same name, id, event source, configuration and field values),
//! and as a Rust library for the `cloudtrail` command line and the benchmarks.

pub mod aws;
pub mod config;
pub mod dedup;
pub mod engine;
pub mod error;
pub mod event;
pub mod extract;
pub mod fields;
pub mod instance;
pub mod integrity;
pub mod interval;
pub use cloudtrail_json as json;
pub mod log;
pub mod metrics;
pub mod plugin;
pub mod prepare;
pub mod record;
pub mod scan;
pub mod source;
pub mod time;
