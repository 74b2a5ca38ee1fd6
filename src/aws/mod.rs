//! AWS access without the SDK: configuration and credentials, SigV4 signing, a
//! blocking HTTP client, and the few S3, SQS and STS calls the plugin needs.

pub mod cloudtrail;
pub mod credentials;
pub mod endpoint;
pub mod env;
pub mod http;
pub mod json_rpc;
pub mod profile;
pub mod s3;
mod sha1;
pub mod sign;
pub mod sqs;
#[cfg(test)]
pub mod testserver;
pub mod xml;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use credentials::{Cache, Fetcher};
use endpoint::Endpoint;
use env::Env;
use http::{Http, Request};
use sign::sign_request;

use crate::config::AwsOverrides;
use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// Builds the shared AWS context from the init config's `aws` block and the
/// process environment. `default_region` is used when none is configured.
pub fn connect(
    o: &AwsOverrides,
    default_region: Option<&str>,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
) -> Result<Aws> {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let (profile, region, config, credentials) = (
        opt(&o.profile),
        opt(&o.region),
        opt(&o.config),
        opt(&o.credentials),
    );
    let overrides = credentials::Overrides {
        profile: profile.as_deref(),
        region: region.as_deref(),
        config_file: config.as_deref(),
        credentials_file: credentials.as_deref(),
    };
    let setup = credentials::resolve(&overrides, env::Env::from_process())?;
    let region = match (setup.region.clone(), default_region) {
        (Some(r), _) => r,
        (None, Some(d)) => d.to_string(),
        (None, None) => {
            return Err(crate::error::Error::new(
                "no AWS region configured: set aws.region in the init config, AWS_REGION, or the profile's region",
            ));
        }
    };
    let http = http::Http::new(
        &setup.env,
        setup.ca_bundle.as_deref(),
        metrics.clone(),
        stop.clone(),
    )?;
    let mut quick = http::Http::with_timeouts(
        &setup.env,
        setup.ca_bundle.as_deref(),
        metrics,
        stop,
        Duration::from_secs(1),
        Duration::from_secs(2),
    )?;
    quick.retry.attempts = 2;
    Ok(Aws {
        http,
        quick,
        endpoint_url: setup.endpoint_url.clone(),
        region,
        creds: credentials::Cache::new(setup.source.clone()),
        env: setup.env,
    })
}

/// Signing and endpoint context shared by every AWS client of a source.
pub struct Aws {
    pub http: Http,
    /// Short timeouts, for the metadata endpoints.
    pub quick: Http,
    pub env: Env,
    pub endpoint_url: Option<String>,
    /// The configured region (S3 follows buckets elsewhere on its own).
    pub region: String,
    pub creds: Cache,
}

impl Aws {
    pub fn endpoint(&self, service: &str, region: &str) -> Result<Endpoint> {
        let ep = endpoint::resolve(service, region, &self.env, self.endpoint_url.as_deref());
        let host = ep
            .base
            .strip_prefix("https://")
            .or_else(|| ep.base.strip_prefix("http://"))
            .unwrap_or("");
        if host.is_empty() || host.contains('/') {
            return Err(Error::new(format!(
                "invalid {service} endpoint '{}': expected http(s)://host[:port]",
                ep.base
            )));
        }
        Ok(ep)
    }

    /// Signs `req` for `service` in `region` with the current credentials.
    pub fn sign(&self, req: &mut Request, service: &str, region: &str) -> Result<()> {
        let f = Fetcher {
            http: &self.http,
            quick: &self.quick,
            region: Some(&self.region),
            env: &self.env,
            endpoint_url: self.endpoint_url.as_deref(),
        };
        let creds = self.creds.get(&f)?;
        sign_request(req, &creds, region, service, SystemTime::now())
    }
}
