//! The Falco `json` plugin (`libjson.so`): upstream json 0.7.4's six fields, answered
//! byte for byte as upstream answers them, on this repository's JSON code.
//!
//! Upstream is a Go c-shared library: a Go runtime inside Falco, a worker thread per
//! extraction by default, and a second JSON parser for records the cloudtrail plugin
//! already indexes. Here a payload is indexed once per event (the simd-json tape, or
//! upstream's lenient grammar for what simd-json rejects) on the calling thread.
//!
//! Upstream's answers depend on fastjson's lazy decoding: which object keys and which
//! strings earlier requests on the same event decoded changes how a later request
//! re-serialises them. [`pointer`] and [`marshal`] keep that state ([`pointer::Marks`])
//! so that every answer matches, in any order of requests.

mod abi;
pub mod extract;
pub mod indent;
pub mod marshal;
pub mod pointer;
pub mod quote;

pub use extract::{Extractor, Field};
