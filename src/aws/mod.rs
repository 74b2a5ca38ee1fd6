//! AWS access without the SDK: configuration and credentials, SigV4 signing, a
//! blocking HTTP client, and the few S3, SQS and STS calls the plugin needs.

pub mod credentials;
pub mod endpoint;
pub mod env;
pub mod http;
pub mod profile;
pub mod s3;
mod sha1;
pub mod sign;
#[cfg(test)]
pub mod testserver;
pub mod xml;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::config::AwsOverrides;
use crate::error::Result;
use crate::metrics::Metrics;

/// Builds the shared AWS context from the init config's `aws` block and the
/// process environment. `default_region` is used when none is configured.
pub fn connect(
    o: &AwsOverrides,
    default_region: Option<&str>,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
) -> Result<s3::Aws> {
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
    Ok(s3::Aws {
        http,
        quick,
        endpoint_url: setup.endpoint_url.clone(),
        region: std::sync::Mutex::new(region),
        creds: credentials::Cache::new(setup.source.clone()),
        env: setup.env,
    })
}
