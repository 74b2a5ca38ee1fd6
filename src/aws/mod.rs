//! AWS access without the SDK: configuration and credentials, SigV4 signing, a
//! blocking HTTP client, and the few S3, SQS and STS calls the plugin needs.

pub mod credentials;
pub mod endpoint;
pub mod env;
pub mod http;
pub mod profile;
mod sha1;
pub mod sign;
#[cfg(test)]
pub mod testserver;
pub mod xml;
