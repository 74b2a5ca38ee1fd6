//! libcloudtrail: a Falco plugin that reads AWS CloudTrail logs and extracts fields.
//!
//! Built as `libcloudtrail.so`, a drop-in replacement for Falco's upstream Go
//! `cloudtrail` plugin (same name, id, event source, configuration and field values),
//! and as a Rust library for the `cloudtrail` command line and the benchmarks.

pub mod fields;
pub mod json;
pub mod record;
pub mod scan;
pub mod time;
