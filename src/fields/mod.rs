//! Field extraction: one rule per field, each a few lookups on the record's [`View`].
//!
//! The rules reproduce upstream's values exactly (spec section 3), except for the
//! documented fixes D1–D4. Results go into an [`Out`] buffer owned by the caller, so
//! the C ABI can hand out pointers that stay valid until the next extraction.

mod info;
mod table;

use std::borrow::Cow;

pub use info::{event_to_string, info_into};
pub use table::{Def, FIELDS, Field, Type, by_name, fields_json, markdown_table};

use crate::json::minify::minify_into;
use crate::json::{Kind, Span, View};

/// One extracted value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    /// A NUL-terminated string at `Out::bytes[at..at + len]` (the NUL not counted).
    Str {
        at: u32,
        len: u32,
    },
    U64(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Value {
    pub scalar: Scalar,
    /// The value's JSON text in the payload; `None` for derived values.
    pub span: Option<Span>,
}

/// The values of one extraction call (all its fields), reused between calls.
#[derive(Default)]
pub struct Out {
    pub bytes: Vec<u8>,
    pub values: Vec<Value>,
    /// Whether the caller wants value offsets (they cost a walk over the record).
    pub want_spans: bool,
}

impl Out {
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.values.clear();
    }

    /// The text of a string value (without its NUL).
    pub fn text(&self, v: &Value) -> &[u8] {
        match v.scalar {
            Scalar::Str { at, len } => &self.bytes[at as usize..(at + len) as usize],
            Scalar::U64(_) => b"",
        }
    }

    fn span_of<V: View>(&self, v: &V, id: Option<V::Id>) -> Option<Span> {
        if self.want_spans {
            id.map(|id| v.span(id))
        } else {
            None
        }
    }

    fn push_str<V: View>(&mut self, v: &V, s: &[u8], id: Option<V::Id>) {
        let at = self.bytes.len();
        self.bytes.extend_from_slice(s);
        let span = self.span_of(v, id);
        self.finish_str(at, span);
    }

    /// Ends a string that was written into `bytes` from `at` on.
    fn finish_str(&mut self, at: usize, span: Option<Span>) {
        let len = self.bytes.len() - at;
        self.bytes.push(0);
        self.values.push(Value {
            scalar: Scalar::Str {
                at: at as u32,
                len: len as u32,
            },
            span,
        });
    }

    fn push_u64<V: View>(&mut self, v: &V, n: u64, id: Option<V::Id>) {
        let span = self.span_of(v, id);
        self.values.push(Value {
            scalar: Scalar::U64(n),
            span,
        });
    }
}

/// A value's text and, when it is a value of the record, its id (for offsets).
type Found<'v, I> = (Cow<'v, [u8]>, Option<I>);

/// Upstream's generic string rule: missing → no value; a string → its unescaped text;
/// any other JSON value → the empty string.
fn g<'v, V: View>(v: &'v V, path: &[&str]) -> Option<(Cow<'v, [u8]>, V::Id)> {
    let id = v.path(path)?;
    Some((v.text(id).unwrap_or(Cow::Borrowed(b"")), id))
}

/// The text of a string value, or `""` for any other kind.
fn text_or_empty<V: View>(v: &V, id: V::Id) -> Cow<'_, [u8]> {
    v.text(id).unwrap_or(Cow::Borrowed(b""))
}

/// `readOnly`, `managementEvent`, `sessionCredentialFromConsole`: missing → no value;
/// JSON `true` → "true"; anything else → "false".
fn flag<V: View>(v: &V, key: &str) -> Option<(&'static [u8], V::Id)> {
    let id = v.member(v.root(), key)?;
    let yes = v.kind(id) == Kind::True;
    Some((if yes { b"true" } else { b"false" }, id))
}

/// What upstream's user lookup found (`ct.user`, `ct.info`, `event_to_string`).
pub(crate) enum UserLookup<'v, I> {
    Found(Cow<'v, [u8]>, Option<I>),
    /// No value; the text is what `event_to_string` prints in its place.
    Missing(&'static str),
}

pub(crate) fn user<V: View>(v: &V) -> UserLookup<'_, V::Id> {
    let Some(ty) = v.path(&["userIdentity", "type"]).and_then(|t| v.text(t)) else {
        return UserLookup::Missing("");
    };
    let key: &[&str] = match ty.as_ref() {
        b"Root" | b"IAMUser" => &["userIdentity", "userName"],
        b"AWSService" => &["userIdentity", "invokedBy"],
        b"AssumedRole" => &[
            "userIdentity",
            "sessionContext",
            "sessionIssuer",
            "userName",
        ],
        b"AWSAccount" => return UserLookup::Found(Cow::Borrowed(b"AWSAccount"), None),
        b"FederatedUser" => return UserLookup::Found(Cow::Borrowed(b"FederatedUser"), None),
        _ => return UserLookup::Missing("<unknown user type>"),
    };
    match v.path(key) {
        Some(id) => UserLookup::Found(text_or_empty(v, id), Some(id)),
        None if ty.as_ref() == b"AssumedRole" => {
            UserLookup::Found(Cow::Borrowed(b"AssumedRole"), None)
        }
        None => UserLookup::Missing("<NA>"),
    }
}

fn original_user<V: View>(v: &V) -> Option<Found<'_, V::Id>> {
    let is_assumed = v
        .path(&["userIdentity", "type"])
        .and_then(|t| v.text(t))
        .is_some_and(|t| t.as_ref() == b"AssumedRole");
    if !is_assumed {
        return g(v, &["userIdentity", "userName"]).map(|(t, id)| (t, Some(id)));
    }
    let part = |path: &[&str], sep: u8, parts: usize| {
        let id = v.path(path);
        let text = id.map_or(Cow::Borrowed(&b""[..]), |id| text_or_empty(v, id));
        let pieces: Vec<&[u8]> = text.split(|&b| b == sep).collect();
        (pieces.len() == parts).then(|| {
            let last = pieces[parts - 1].to_vec();
            (Cow::Owned(last), id)
        })
    };
    part(&["userIdentity", "arn"], b'/', 3)
        .or_else(|| part(&["userIdentity", "principalId"], b':', 2))
}

fn s3_side<V: View>(v: &V, key: &str) -> Option<(u64, V::Id)> {
    let id = v.path(&["additionalEventData", key])?;
    Some((v.number_u64(id), id))
}

pub(crate) fn s3_bytes<V: View>(v: &V) -> Option<u64> {
    let i = s3_side(v, "bytesTransferredIn");
    let o = s3_side(v, "bytesTransferredOut");
    if i.is_none() && o.is_none() {
        return None;
    }
    Some(i.map_or(0, |x| x.0).wrapping_add(o.map_or(0, |x| x.0)))
}

/// The request's `bucketName` and `key` members (`ct.s3.uri`, `ct.info`).
pub(crate) fn s3_request<V: View>(v: &V) -> (Option<V::Id>, Option<V::Id>) {
    let request = v.member(v.root(), "requestParameters");
    let param = |key: &str| request.and_then(|r| v.member(r, key));
    (param("bucketName"), param("key"))
}

/// Appends `s3://<bucket>/<key>` when both are strings; false (nothing written)
/// otherwise.
pub(crate) fn s3_uri_into<V: View>(
    v: &V,
    (bucket, key): (Option<V::Id>, Option<V::Id>),
    out: &mut Vec<u8>,
) -> bool {
    match (bucket.and_then(|b| v.text(b)), key.and_then(|k| v.text(k))) {
        (Some(b), Some(k)) => {
            out.extend_from_slice(b"s3://");
            out.extend_from_slice(&b);
            out.push(b'/');
            out.extend_from_slice(&k);
            true
        }
        _ => false,
    }
}

fn event_name_is<V: View>(v: &V, name: &[u8]) -> bool {
    v.member(v.root(), "eventName")
        .and_then(|n| v.text(n))
        .is_some_and(|n| n.as_ref() == name)
}

fn ec2_name<V: View>(v: &V) -> Option<Found<'_, V::Id>> {
    let items = v.path(&["requestParameters", "tagSpecificationSet", "items"])?;
    if v.kind(items) != Kind::Array {
        return None;
    }
    let mut name: Option<Found<'_, V::Id>> = None;
    v.each_element(items, &mut |item| {
        let is_instance = v
            .member(item, "resourceType")
            .and_then(|t| v.text(t))
            .is_some_and(|t| t.as_ref() == b"instance");
        if !is_instance {
            return true;
        }
        let Some(tags) = v.member(item, "tags") else {
            return true;
        };
        v.each_element(tags, &mut |tag| {
            let is_name = v
                .member(tag, "key")
                .and_then(|k| v.text(k))
                .is_some_and(|k| k.as_ref() == b"Name");
            if is_name {
                name = Some(match v.member(tag, "value") {
                    Some(val) => (text_or_empty(v, val), Some(val)),
                    None => (Cow::Borrowed(b""), None),
                });
            }
            !is_name
        });
        true
    });
    name.filter(|(n, _)| !n.is_empty())
}

/// `ec2.imageids` (all values, or the `index`-th), pushed into `out`.
fn image_ids<V: View>(v: &V, index: Option<u64>, out: &mut Out) {
    if let Some(items) = v.path(&["responseElements", "instancesSet", "items"]) {
        match index {
            None => v.each_element(items, &mut |item| {
                if let Some(id) = v.member(item, "imageId")
                    && let Some(t) = v.text(id).filter(|t| !t.is_empty())
                {
                    out.push_str(v, &t, Some(id));
                }
                true
            }),
            Some(i) => {
                let item = usize::try_from(i).ok().and_then(|i| v.element(items, i));
                if let Some(id) = item.and_then(|item| v.member(item, "imageId")) {
                    out.push_str(v, &text_or_empty(v, id), Some(id));
                }
            }
        }
        return;
    }
    if index.is_some_and(|i| i != 0) {
        return;
    }
    let found = g(v, &["requestParameters", "imageId"])
        .or_else(|| {
            g(
                v,
                &[
                    "requestParameters",
                    "DescribeFastLaunchImagesRequest",
                    "ImageId",
                    "content",
                ],
            )
        })
        .or_else(|| g(v, &["requestParameters", "launchSpecification", "imageId"]));
    if let Some((t, id)) = found {
        out.push_str(v, &t, Some(id));
    }
}

/// Minified original text of a top-level member (D4), e.g. `ct.request`.
fn minified<V: View>(v: &V, key: &str, out: &mut Out) {
    if let Some(id) = v.member(v.root(), key) {
        let at = out.bytes.len();
        minify_into(v.raw(id), &mut out.bytes);
        let span = out.span_of(v, Some(id));
        out.finish_str(at, span);
    }
}

fn resources<V: View>(v: &V, out: &mut Out) {
    let Some(arr) = v.member(v.root(), "resources") else {
        return;
    };
    if v.element_count(arr) == 0 {
        return;
    }
    let at = out.bytes.len();
    let mut first = true;
    v.each_element(arr, &mut |e| {
        if !first {
            out.bytes.push(b',');
        }
        first = false;
        minify_into(v.raw(e), &mut out.bytes);
        true
    });
    let span = out.span_of(v, Some(arr));
    out.finish_str(at, span);
}

/// Extracts `field` from the record behind `v` into `out`. `index` is the argument
/// of an indexed field (`ec2.imageids[1]`), if given.
pub fn extract<V: View>(v: &V, field: Field, index: Option<u64>, out: &mut Out) {
    use Field as F;
    let simple: Option<&[&str]> = match field {
        F::Id => Some(&["eventID"]),
        F::Error => Some(&["errorCode"]),
        F::ErrorMessage => Some(&["errorMessage"]),
        F::Time => Some(&["eventTime"]),
        F::Src => Some(&["eventSource"]),
        F::Name => Some(&["eventName"]),
        F::UserIdentityType => Some(&["userIdentity", "type"]),
        F::UserPrincipalId => Some(&["userIdentity", "principalId"]),
        F::UserArn => Some(&["userIdentity", "arn"]),
        F::Region => Some(&["awsRegion"]),
        F::ResponseSubnetId => Some(&["responseElements", "subnetId"]),
        F::ResponseReservationId => Some(&["responseElements", "reservationId"]),
        F::RequestAvailabilityZone => Some(&["requestParameters", "availabilityZone"]),
        F::RequestCluster => Some(&["requestParameters", "cluster"]),
        F::RequestFunctionName => Some(&["requestParameters", "functionName"]),
        F::RequestGroupName => Some(&["requestParameters", "groupName"]),
        F::RequestHost => Some(&["requestParameters", "Host"]),
        F::RequestName => Some(&["requestParameters", "name"]),
        F::RequestPolicy => Some(&["requestParameters", "policy"]),
        F::RequestReason => Some(&["requestParameters", "reason"]),
        F::RequestTarget => Some(&["requestParameters", "target"]),
        // D1: upstream never matches this field (a typo); this is its intended path.
        F::RequestDocumentName => Some(&["requestParameters", "documentName"]),
        F::RequestSerialNumber => Some(&["requestParameters", "serialNumber"]),
        F::RequestServiceName => Some(&["requestParameters", "serviceName"]),
        F::RequestSubnetId => Some(&["requestParameters", "subnetId"]),
        F::RequestTaskDefinition => Some(&["requestParameters", "taskDefinition"]),
        F::RequestUserName => Some(&["requestParameters", "userName"]),
        F::SrcIp => Some(&["sourceIPAddress"]),
        F::UserAgent => Some(&["userAgent"]),
        F::RequestId => Some(&["requestID"]),
        F::EventType => Some(&["eventType"]),
        F::ApiVersion => Some(&["apiVersion"]),
        F::RecipientAccountId => Some(&["recipientAccountId"]),
        F::ServiceEventDetails => Some(&["serviceEventDetails"]),
        F::SharedEventId => Some(&["sharedEventID"]),
        F::VpcEndpointId => Some(&["vpcEndpointId"]),
        F::EventCategory => Some(&["eventCategory"]),
        F::AddendumReason => Some(&["addendum", "reason"]),
        F::AddendumUpdatedFields => Some(&["addendum", "updatedFields"]),
        F::AddendumOriginalRequestId => Some(&["addendum", "originalRequestID"]),
        F::AddendumOriginalEventId => Some(&["addendum", "originalEventID"]),
        F::EdgeDeviceDetails => Some(&["edgeDeviceDetails"]),
        F::TlsVersion => Some(&["tlsDetails", "tlsVersion"]),
        F::TlsCipherSuite => Some(&["tlsDetails", "cipherSuite"]),
        F::TlsClientProvidedHostHeader => Some(&["tlsDetails", "clientProvidedHostHeader"]),
        F::S3Bucket => Some(&["requestParameters", "bucketName"]),
        F::S3Key => Some(&["requestParameters", "key"]),
        F::EcrRepository => Some(&["requestParameters", "repositoryName"]),
        F::EcrImageTag => Some(&["requestParameters", "imageTag"]),
        F::IamRole => Some(&["requestParameters", "roleName"]),
        F::IamPolicy => Some(&["requestParameters", "policyName"]),
        _ => None,
    };
    if let Some(path) = simple {
        if let Some((t, id)) = g(v, path) {
            out.push_str(v, &t, Some(id));
        }
        return;
    }
    match field {
        F::ShortSrc => {
            if let Some((t, id)) = g(v, &["eventSource"]) {
                const SUFFIX: &[u8] = b".amazonaws.com";
                let short = match t.strip_suffix(SUFFIX) {
                    Some(s) if t.len() > SUFFIX.len() => s,
                    _ => &t,
                };
                out.push_str(v, short, Some(id));
            }
        }
        F::User => {
            if let UserLookup::Found(t, id) = user(v) {
                out.push_str(v, &t, id);
            }
        }
        F::OriginalUser => {
            if let Some((t, id)) = original_user(v) {
                out.push_str(v, &t, id);
            }
        }
        F::UserAccountId => {
            let found =
                g(v, &["userIdentity", "accountId"]).or_else(|| g(v, &["recipientAccountId"]));
            if let Some((t, id)) = found {
                out.push_str(v, &t, Some(id));
            }
        }
        F::Response => minified(v, "responseElements", out),
        F::Request => minified(v, "requestParameters", out),
        F::AdditionalEventData => minified(v, "additionalEventData", out),
        F::Resources => resources(v, out),
        F::Info => {
            let at = out.bytes.len();
            info_into(v, &mut out.bytes);
            out.finish_str(at, None);
        }
        F::ManagementEvent | F::ReadOnly | F::SessionCredentialFromConsole => {
            let key = match field {
                F::ManagementEvent => "managementEvent",
                F::ReadOnly => "readOnly",
                _ => "sessionCredentialFromConsole",
            };
            if let Some((t, id)) = flag(v, key) {
                // D2: CloudTrail writes sessionCredentialFromConsole as the string "true".
                let from_console_string = field == F::SessionCredentialFromConsole
                    && v.member(v.root(), key)
                        .and_then(|id| v.text(id))
                        .is_some_and(|s| s.as_ref() == b"true");
                let t: &[u8] = if from_console_string { b"true" } else { t };
                out.push_str(v, t, Some(id));
            }
        }
        F::S3Uri => {
            let at = out.bytes.len();
            if s3_uri_into(v, s3_request(v), &mut out.bytes) {
                out.finish_str(at, None);
            }
        }
        F::S3Bytes => {
            if let Some(n) = s3_bytes(v) {
                out.push_u64(v, n, None);
            }
        }
        F::S3BytesIn | F::S3BytesOut => {
            let key = if field == F::S3BytesIn {
                "bytesTransferredIn"
            } else {
                "bytesTransferredOut"
            };
            if let Some((n, id)) = s3_side(v, key) {
                out.push_u64(v, n, Some(id));
            }
        }
        F::S3CntGet | F::S3CntPut | F::S3CntOther => {
            let get = event_name_is(v, b"GetObject");
            let put = event_name_is(v, b"PutObject");
            let one = match field {
                F::S3CntGet => get,
                F::S3CntPut => put,
                _ => !get && !put,
            };
            if one {
                out.push_u64(v, 1, None);
            }
        }
        F::Ec2Name => {
            if let Some((t, id)) = ec2_name(v) {
                out.push_str(v, &t, id);
            }
        }
        F::Ec2ImageId => image_ids(v, Some(0), out),
        F::Ec2ImageIds => image_ids(v, index, out),
        // The remaining fields follow the generic rule, handled above.
        _ => {}
    }
}

#[cfg(test)]
mod tests;
