//! CloudTrail's `ListPublicKeys`: the public keys that verify digest signatures, per
//! region, for a time range (JSON protocol 1.1, signed like every call).

use super::{Aws, json_rpc};
use crate::error::{Error, Result};
use crate::json::View;

/// A public key: its fingerprint (as digests name it) and its DER `RSAPublicKey`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub fingerprint: String,
    pub der: Vec<u8>,
}

/// The keys valid between `start` and `end` (seconds since the epoch) in `region`.
pub fn list_public_keys(aws: &Aws, region: &str, start: i64, end: i64) -> Result<Vec<PublicKey>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = format!("{{\"StartTime\":{start},\"EndTime\":{end}");
        if let Some(t) = &token {
            body.push_str(",\"NextToken\":");
            crate::json::write_string(&mut body, t);
        }
        body.push('}');
        let c = json_rpc::Call {
            service: "cloudtrail",
            region,
            content_type: "application/x-amz-json-1.1",
            target: "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.ListPublicKeys".into(),
            body,
            what: format!("CloudTrail ListPublicKeys in {region}"),
            limit: 1 << 20,
        };
        let doc = json_rpc::call(aws, &c, crate::json::doc::Doc::from_vec, |code| {
            code.starts_with("AccessDenied").then(|| {
                format!("access denied to cloudtrail:ListPublicKeys in {region} (logFileValidation needs it)")
            })
        })?;
        let v = doc.view();
        let mut bad = false;
        if let Some(list) = v.path(&["PublicKeyList"]) {
            v.each_element(list, &mut |k| {
                let s = |key: &str| {
                    v.path_from(k, &[key])
                        .and_then(|id| v.text(id))
                        .map(crate::json::into_string)
                };
                match (s("Fingerprint"), s("Value").and_then(|b| base64_decode(&b))) {
                    (Some(fingerprint), Some(der)) => out.push(PublicKey {
                        fingerprint: fingerprint.to_ascii_lowercase(),
                        der,
                    }),
                    _ => bad = true,
                }
                true
            });
        }
        if bad {
            return Err(Error::new(format!(
                "CloudTrail ListPublicKeys in {region}: a key without Fingerprint or a base64 Value"
            )));
        }
        token = doc.str_at(&["NextToken"]).filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// Standard base64 (padding optional); `None` on any other byte.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let s = s.trim_end_matches('=');
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(s)
        .ok()
}
