//! `ct.info` and `event_to_string` (what Falco prints as `%evt.plugininfo`): upstream's
//! exact wording, arrows and spacing, so rule outputs read the same.

use std::borrow::Cow;

use super::{UserLookup, flag, g, s3_bytes, s3_request, s3_uri_into, text_or_empty, user};
use crate::json::{Kind, View};

/// Appends the `ct.info` text of the record to `out`.
pub fn info_into<V: View>(v: &V, out: &mut Vec<u8>) {
    let UserLookup::Found(who, _) = user(v) else {
        out.extend_from_slice(b"<invalid cloudtrail event: userIdentity field missing>");
        return;
    };
    let Some((ip, _)) = g(v, &["sourceIPAddress"]) else {
        // Upstream's text, although the missing key is sourceIPAddress.
        out.extend_from_slice(b"<invalid cloudtrail event: eventSource field missing>");
        return;
    };
    let Some((name, _)) = g(v, &["eventName"]) else {
        out.extend_from_slice(b"<invalid cloudtrail event: eventName field missing>");
        return;
    };
    let root = v.root();
    out.extend_from_slice(&who);
    if who != ip {
        out.extend_from_slice(b" via ");
        out.extend_from_slice(&ip);
    }
    out.push(b' ');
    if v.member(root, "errorCode").is_some() {
        out.push(b'!');
    }
    let writes = flag(v, "readOnly").is_some_and(|(t, _)| t == b"false");
    out.extend_from_slice(if writes { "→" } else { "←" }.as_bytes());
    out.push(b' ');
    out.extend_from_slice(&name);

    if name.as_ref() == b"PutBucketPublicAccessBlock" {
        // D3: the four flags come from the request's configuration (upstream read the
        // record root, so they were always false, and added a trailing space).
        let conf = v.path(&["requestParameters", "PublicAccessBlockConfiguration"]);
        if let Some(conf) = conf.filter(|&c| v.kind(c) == Kind::Object) {
            for key in [
                "BlockPublicAcls",
                "BlockPublicPolicy",
                "IgnorePublicAcls",
                "RestrictPublicBuckets",
            ] {
                let on = v.member(conf, key).is_some_and(|b| v.kind(b) == Kind::True);
                out.push(b' ');
                out.extend_from_slice(key.as_bytes());
                out.extend_from_slice(if on { b"=true" } else { b"=false" });
            }
        }
        return;
    }
    if let Some(n) = s3_bytes(v) {
        out.extend_from_slice(format!(" Size={n}").as_bytes());
    }
    // One lookup of each request key serves both the URI and the fallbacks.
    let (bucket, key) = s3_request(v);
    let at = out.len();
    out.extend_from_slice(b" URI=");
    if s3_uri_into(v, (bucket, key), out) {
        return;
    }
    out.truncate(at);
    let found = bucket
        .map(|id| (&b" Bucket="[..], id))
        .or_else(|| key.map(|id| (&b" Key="[..], id)))
        .or_else(|| g(v, &["requestParameters", "Host"]).map(|(_, id)| (&b" Host="[..], id)));
    if let Some((label, id)) = found {
        out.extend_from_slice(label);
        out.extend_from_slice(&text_or_empty(v, id));
    }
}

/// The text of `event_to_string`: `<region>[ <user>] <short source> <name> <ct.info>`.
pub fn event_to_string<V: View>(v: &V, out: &mut Vec<u8>) {
    let root = v.root();
    let text = |key: &str| v.member(root, key).and_then(|id| v.text(id));
    let Some(src) = text("eventSource") else {
        out.extend_from_slice(b"<invalid JSON: event did not contain a source>");
        return;
    };
    let Some(region) = text("awsRegion") else {
        out.extend_from_slice(b"<invalid JSON: event did not contain an awsRegion>");
        return;
    };
    let Some(name) = text("eventName") else {
        out.extend_from_slice(b"<invalid JSON: event did not contain an eventName>");
        return;
    };
    const SUFFIX: &[u8] = b".amazonaws.com";
    let short: Cow<'_, [u8]> = match src.strip_suffix(SUFFIX) {
        Some(s) if src.len() > SUFFIX.len() => Cow::Owned(s.to_vec()),
        _ => src,
    };
    out.extend_from_slice(&region);
    match user(v) {
        UserLookup::Found(u, _) if !u.is_empty() => {
            out.push(b' ');
            out.extend_from_slice(&u);
        }
        UserLookup::Found(..) => {}
        UserLookup::Missing(placeholder) => out.extend_from_slice(placeholder.as_bytes()),
    }
    out.push(b' ');
    out.extend_from_slice(&short);
    out.push(b' ');
    out.extend_from_slice(&name);
    out.push(b' ');
    info_into(v, out);
}
