//! Service endpoints: the `AWS_ENDPOINT_URL*` overrides and the profile's
//! `endpoint_url` (S3-compatible stores, VPC endpoints, emulators), otherwise the
//! regional endpoint of the region's partition, FIPS when asked.

use super::env::Env;

/// Where to send a service's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Scheme, host and optional port, no trailing slash.
    pub base: String,
    /// Custom endpoints take bucket names in the path, not the host name.
    pub custom: bool,
}

/// The DNS suffix of the region's partition.
pub fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else if region.starts_with("us-iso-") {
        "c2s.ic.gov"
    } else if region.starts_with("us-isob-") {
        "sc2s.sgov.gov"
    } else {
        // aws and aws-us-gov
        "amazonaws.com"
    }
}

/// Resolves the endpoint of `service` ("s3", "sqs", "sts", "sso") in `region`.
pub fn resolve(service: &str, region: &str, env: &Env, profile_endpoint: Option<&str>) -> Endpoint {
    if !env.flag("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") {
        let specific = format!("AWS_ENDPOINT_URL_{}", service.to_ascii_uppercase());
        if let Some(url) = env
            .get(&specific)
            .or(env.get("AWS_ENDPOINT_URL"))
            .or(profile_endpoint)
        {
            return Endpoint {
                base: url.trim_end_matches('/').to_string(),
                custom: true,
            };
        }
    }
    let fips = env.flag("AWS_USE_FIPS_ENDPOINT");
    let suffix = dns_suffix(region);
    let host = match (service, fips) {
        ("sso", _) => format!("portal.sso.{region}.{suffix}"),
        (svc, true) => format!("{svc}-fips.{region}.{suffix}"),
        (svc, false) => format!("{svc}.{region}.{suffix}"),
    };
    Endpoint {
        base: format!("https://{host}"),
        custom: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_partitions_and_fips() {
        let none = Env::default();
        assert_eq!(
            resolve("s3", "eu-west-1", &none, None).base,
            "https://s3.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            resolve("sqs", "cn-north-1", &none, None).base,
            "https://sqs.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            resolve("sts", "us-gov-west-1", &none, None).base,
            "https://sts.us-gov-west-1.amazonaws.com"
        );
        assert_eq!(
            resolve("sso", "eu-central-1", &none, None).base,
            "https://portal.sso.eu-central-1.amazonaws.com"
        );
        let fips = Env::from_pairs([("AWS_USE_FIPS_ENDPOINT", "true")]);
        assert_eq!(
            resolve("s3", "us-east-1", &fips, None).base,
            "https://s3-fips.us-east-1.amazonaws.com"
        );
        let custom = Env::from_pairs([
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/"),
            ("AWS_ENDPOINT_URL_SQS", "http://q:1"),
        ]);
        let e = resolve("s3", "us-east-1", &custom, None);
        assert_eq!(
            e,
            Endpoint {
                base: "http://127.0.0.1:9000".into(),
                custom: true
            }
        );
        assert_eq!(
            resolve("sqs", "us-east-1", &custom, None).base,
            "http://q:1"
        );
        assert_eq!(
            resolve("s3", "us-east-1", &none, Some("https://vpce.example")).base,
            "https://vpce.example"
        );
        let ignore = Env::from_pairs([
            ("AWS_ENDPOINT_URL", "http://x"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ]);
        assert!(!resolve("s3", "us-east-1", &ignore, None).custom);
    }
}
