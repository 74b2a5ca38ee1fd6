//! SigV4 request signing (with the aws-sigv4 crate) and the credentials it uses.

use std::fmt;
use std::time::SystemTime;

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;

use super::http::Request;
use crate::error::{Error, Result};

/// AWS credentials. `Debug` never shows the secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub token: Option<String>,
    /// When temporary credentials expire.
    pub expires: Option<SystemTime>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"** redacted **")
            .field("token", &self.token.as_ref().map(|_| "** redacted **"))
            .field("expires", &self.expires)
            .finish()
    }
}

/// Signs `req` in place for `service` in `region` at `time`.
pub fn sign_request(
    req: &mut Request,
    creds: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<()> {
    let identity = aws_credential_types::Credentials::new(
        creds.access_key.clone(),
        creds.secret_key.clone(),
        creds.token.clone(),
        creds.expires,
        "libcloudtrail",
    )
    .into();
    let mut settings = SigningSettings::default();
    if service == "s3" {
        // S3 neither double-encodes nor normalises paths, and wants the payload hash.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| Error::new(format!("cannot sign the {service} request: {e}")))?
        .into();
    let headers: Vec<(&str, &str)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let signable = SignableRequest::new(
        req.method,
        req.url.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(&req.body),
    )
    .map_err(|e| Error::new(format!("cannot sign the {service} request: {e}")))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| Error::new(format!("cannot sign the {service} request: {e}")))?
        .into_parts();
    let added: Vec<(String, String)> = instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    req.headers.extend(added);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// AWS's published SigV4 test suite, case "get-vanilla-query-order-key-case":
    /// credentials AKIDEXAMPLE, 2015-08-30T12:36:00Z, us-east-1, service "service".
    #[test]
    fn matches_the_published_test_vector() {
        let creds = Credentials {
            access_key: "AKIDEXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            token: None,
            expires: None,
        };
        let time = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        let mut req = Request::new(
            "GET",
            "https://example.amazonaws.com/?Param2=value2&Param1=value1",
        )
        .header("host", "example.amazonaws.com");
        sign_request(&mut req, &creds, "us-east-1", "service", time).unwrap();
        let auth = req
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .unwrap();
        assert_eq!(
            auth.1,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        );
        let date = req.headers.iter().find(|(k, _)| k == "x-amz-date").unwrap();
        assert_eq!(date.1, "20150830T123600Z");
    }

    #[test]
    fn debug_hides_secrets() {
        let c = Credentials {
            access_key: "AKIA".into(),
            secret_key: "very-secret".into(),
            token: Some("token-secret".into()),
            expires: None,
        };
        let s = format!("{c:?}");
        assert!(!s.contains("very-secret") && !s.contains("token-secret"));
    }
}
