//! The 73 fields, in upstream's declaration order. A field's id (what libsinsp passes
//! to `extract_fields`) is its index here, so the order is part of the ABI.

use std::fmt::Write;
use std::sync::OnceLock;

/// Identifies one field; `Field::ALL[id]` is the field with that id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Id,
    Error,
    ErrorMessage,
    Time,
    Src,
    ShortSrc,
    Name,
    User,
    OriginalUser,
    UserAccountId,
    UserIdentityType,
    UserPrincipalId,
    UserArn,
    Region,
    ResponseSubnetId,
    ResponseReservationId,
    Response,
    RequestAvailabilityZone,
    RequestCluster,
    RequestFunctionName,
    RequestGroupName,
    RequestHost,
    RequestName,
    RequestPolicy,
    RequestReason,
    RequestTarget,
    RequestDocumentName,
    RequestSerialNumber,
    RequestServiceName,
    RequestSubnetId,
    RequestTaskDefinition,
    RequestUserName,
    Request,
    SrcIp,
    UserAgent,
    Info,
    ManagementEvent,
    ReadOnly,
    RequestId,
    EventType,
    ApiVersion,
    Resources,
    RecipientAccountId,
    ServiceEventDetails,
    SharedEventId,
    VpcEndpointId,
    EventCategory,
    AddendumReason,
    AddendumUpdatedFields,
    AddendumOriginalRequestId,
    AddendumOriginalEventId,
    SessionCredentialFromConsole,
    EdgeDeviceDetails,
    TlsVersion,
    TlsCipherSuite,
    TlsClientProvidedHostHeader,
    AdditionalEventData,
    S3Uri,
    S3Bucket,
    S3Key,
    S3Bytes,
    S3BytesIn,
    S3BytesOut,
    S3CntGet,
    S3CntPut,
    S3CntOther,
    Ec2Name,
    Ec2ImageId,
    Ec2ImageIds,
    EcrRepository,
    EcrImageTag,
    IamRole,
    IamPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    Uint64,
}

/// One row of the field table.
pub struct Def {
    pub field: Field,
    pub name: &'static str,
    pub ty: Type,
    pub display: &'static str,
    pub desc: &'static str,
    pub properties: &'static [&'static str],
    /// A list of values, taking an optional numeric index argument.
    pub indexed_list: bool,
}

const HIDDEN: &[&str] = &["hidden"];
const CONVERSATION: &[&str] = &["conversation"];
const INFO: &[&str] = &["info"];

const fn s(
    field: Field,
    name: &'static str,
    display: &'static str,
    desc: &'static str,
    properties: &'static [&'static str],
) -> Def {
    Def {
        field,
        name,
        ty: Type::String,
        display,
        desc,
        properties,
        indexed_list: false,
    }
}

const fn u(
    field: Field,
    name: &'static str,
    display: &'static str,
    desc: &'static str,
    properties: &'static [&'static str],
) -> Def {
    Def {
        ty: Type::Uint64,
        ..s(field, name, display, desc, properties)
    }
}

use Field as F;

pub static FIELDS: [Def; 73] = [
    s(
        F::Id,
        "ct.id",
        "Event ID",
        "the unique ID of the cloudtrail event (eventID in the json).",
        &[],
    ),
    s(
        F::Error,
        "ct.error",
        "Error Code",
        "The error code from the event. Will be \"<NA>\" (e.g. the NULL/empty/none value) if there was no error.",
        &[],
    ),
    s(
        F::ErrorMessage,
        "ct.errormessage",
        "Error Message",
        "The description of an error. Will be \"<NA>\" (e.g. the NULL/empty/none value) if there was no error.",
        &[],
    ),
    s(
        F::Time,
        "ct.time",
        "Timestamp",
        "the timestamp of the cloudtrail event (eventTime in the json).",
        HIDDEN,
    ),
    s(
        F::Src,
        "ct.src",
        "AWS Service",
        "the source of the cloudtrail event (eventSource in the json).",
        &[],
    ),
    s(
        F::ShortSrc,
        "ct.shortsrc",
        "AWS Service",
        "the source of the cloudtrail event (eventSource in the json, without the '.amazonaws.com' trailer).",
        &[],
    ),
    s(
        F::Name,
        "ct.name",
        "Event Name",
        "the name of the cloudtrail event (eventName in the json).",
        &[],
    ),
    s(
        F::User,
        "ct.user",
        "User Name",
        "the user of the cloudtrail event (userIdentity.userName in the json).",
        CONVERSATION,
    ),
    s(
        F::OriginalUser,
        "ct.originaluser",
        "Original User Name",
        "the original user of the cloudtrail event: for AssumedRole identities the session name (from userIdentity.arn or userIdentity.principalId), otherwise userIdentity.userName.",
        &[],
    ),
    s(
        F::UserAccountId,
        "ct.user.accountid",
        "User Account ID",
        "the account id of the user of the cloudtrail event.",
        &[],
    ),
    s(
        F::UserIdentityType,
        "ct.user.identitytype",
        "User Identity Type",
        "the kind of user identity (e.g. Root, IAMUser,AWSService, etc.)",
        &[],
    ),
    s(
        F::UserPrincipalId,
        "ct.user.principalid",
        "User Principal Id",
        "A unique identifier for the user that made the request.",
        &[],
    ),
    s(
        F::UserArn,
        "ct.user.arn",
        "User ARN",
        "the Amazon Resource Name (ARN) of the user that made the request.",
        &[],
    ),
    s(
        F::Region,
        "ct.region",
        "Region",
        "the region of the cloudtrail event (awsRegion in the json).",
        &[],
    ),
    s(
        F::ResponseSubnetId,
        "ct.response.subnetid",
        "Response Subnet ID",
        "the subnet ID included in the response.",
        &[],
    ),
    s(
        F::ResponseReservationId,
        "ct.response.reservationid",
        "Response Reservation ID",
        "the reservation ID included in the response.",
        &[],
    ),
    s(
        F::Response,
        "ct.response",
        "Response Elements",
        "All response elements.",
        &[],
    ),
    s(
        F::RequestAvailabilityZone,
        "ct.request.availabilityzone",
        "Request Availability Zone",
        "the availability zone included in the request.",
        &[],
    ),
    s(
        F::RequestCluster,
        "ct.request.cluster",
        "Request Cluster",
        "the cluster included in the request.",
        &[],
    ),
    s(
        F::RequestFunctionName,
        "ct.request.functionname",
        "Request Function Name",
        "the function name included in the request.",
        &[],
    ),
    s(
        F::RequestGroupName,
        "ct.request.groupname",
        "Request Group Name",
        "the group name included in the request.",
        &[],
    ),
    s(
        F::RequestHost,
        "ct.request.host",
        "Request Host Name",
        "the host included in the request",
        &[],
    ),
    s(
        F::RequestName,
        "ct.request.name",
        "Host Name",
        "the name of the entity being acted on in the request.",
        &[],
    ),
    s(
        F::RequestPolicy,
        "ct.request.policy",
        "Host Policy",
        "the policy included in the request",
        &[],
    ),
    s(
        F::RequestReason,
        "ct.request.reason",
        "Request Reason",
        "the reason included in the request.",
        &[],
    ),
    s(
        F::RequestTarget,
        "ct.request.target",
        "Request Target",
        "the target included in the request.",
        &[],
    ),
    s(
        F::RequestDocumentName,
        "ct.request.documentname",
        "Request Document Name",
        "the document name included in the request.",
        &[],
    ),
    s(
        F::RequestSerialNumber,
        "ct.request.serialnumber",
        "Request Serial Number",
        "the serial number provided in the request.",
        &[],
    ),
    s(
        F::RequestServiceName,
        "ct.request.servicename",
        "Request Service",
        "the service name provided in the request.",
        &[],
    ),
    s(
        F::RequestSubnetId,
        "ct.request.subnetid",
        "Request Subnet ID",
        "the subnet ID provided in the request.",
        &[],
    ),
    s(
        F::RequestTaskDefinition,
        "ct.request.taskdefinition",
        "Request Task Definition",
        "the task definition prrovided in the request.",
        &[],
    ),
    s(
        F::RequestUserName,
        "ct.request.username",
        "Request User Name",
        "the username provided in the request.",
        &[],
    ),
    s(
        F::Request,
        "ct.request",
        "Request Parameters",
        "All request parameters.",
        &[],
    ),
    s(
        F::SrcIp,
        "ct.srcip",
        "Source IP",
        "the IP address generating the event (sourceIPAddress in the json).",
        CONVERSATION,
    ),
    s(
        F::UserAgent,
        "ct.useragent",
        "User Agent",
        "the user agent generating the event (userAgent in the json).",
        &[],
    ),
    s(
        F::Info,
        "ct.info",
        "Info",
        "summary information about the event. This varies depending on the event type and, for some events, it contains event-specific details.",
        INFO,
    ),
    s(
        F::ManagementEvent,
        "ct.managementevent",
        "Management Event",
        "'true' if the event is a management event (AwsApiCall, AwsConsoleAction, AwsConsoleSignIn, or AwsServiceEvent), 'false' otherwise.",
        &[],
    ),
    s(
        F::ReadOnly,
        "ct.readonly",
        "Read Only",
        "'true' if the event only reads information (e.g. DescribeInstances), 'false' if the event modifies the state (e.g. RunInstances, CreateLoadBalancer...).",
        &[],
    ),
    s(
        F::RequestId,
        "ct.requestid",
        "Request ID",
        "The value that identifies the request.",
        &[],
    ),
    s(
        F::EventType,
        "ct.eventtype",
        "Event Type",
        "Identifies the type of event that generated the event record.",
        &[],
    ),
    s(
        F::ApiVersion,
        "ct.apiversion",
        "API Version",
        "The API version associated with the AwsApiCall eventType value.",
        &[],
    ),
    s(
        F::Resources,
        "ct.resources",
        "Resources",
        "A list of resources accessed in the event.",
        &[],
    ),
    s(
        F::RecipientAccountId,
        "ct.recipientaccountid",
        "Recipient Account Id",
        "The account ID that received this event.",
        &[],
    ),
    s(
        F::ServiceEventDetails,
        "ct.serviceeventdetails",
        "Service Event Details",
        "Identifies the service event, including what triggered the event and the result.",
        &[],
    ),
    s(
        F::SharedEventId,
        "ct.sharedeventid",
        "Shared Event ID",
        "GUID generated by CloudTrail to uniquely identify CloudTrail events.",
        &[],
    ),
    s(
        F::VpcEndpointId,
        "ct.vpcendpointid",
        "VPC Endpoint ID",
        "Identifies the VPC endpoint in which requests were made.",
        &[],
    ),
    s(
        F::EventCategory,
        "ct.eventcategory",
        "Event Category",
        "Shows the event category that is used in LookupEvents calls.",
        &[],
    ),
    s(
        F::AddendumReason,
        "ct.addendum.reason",
        "Reason",
        "The reason that the event or some of its contents were missing.",
        &[],
    ),
    s(
        F::AddendumUpdatedFields,
        "ct.addendum.updatedfields",
        "Updated Fields",
        "The event record fields that are updated by the addendum.",
        &[],
    ),
    s(
        F::AddendumOriginalRequestId,
        "ct.addendum.originalrequestid",
        "Original Request ID",
        "The original unique ID of the request.",
        &[],
    ),
    s(
        F::AddendumOriginalEventId,
        "ct.addendum.originaleventid",
        "Original Event ID",
        "The original event ID.",
        &[],
    ),
    s(
        F::SessionCredentialFromConsole,
        "ct.sessioncredentialfromconsole",
        "Session Credential From Console",
        "Shows whether or not an event originated from an AWS Management Console session.",
        &[],
    ),
    s(
        F::EdgeDeviceDetails,
        "ct.edgedevicedetails",
        "Edge Device Details",
        "Information about edge devices that are targets of a request.",
        &[],
    ),
    s(
        F::TlsVersion,
        "ct.tlsdetails.tlsversion",
        "TLS Version",
        "The TLS version of a request.",
        &[],
    ),
    s(
        F::TlsCipherSuite,
        "ct.tlsdetails.ciphersuite",
        "TLS Cipher Suite",
        "The cipher suite (combination of security algorithms used) of a request.",
        &[],
    ),
    s(
        F::TlsClientProvidedHostHeader,
        "ct.tlsdetails.clientprovidedhostheader",
        "Client Provided Host Header",
        "The client-provided host name used in the service API call.",
        &[],
    ),
    s(
        F::AdditionalEventData,
        "ct.additionaleventdata",
        "Additional Event Data",
        "All additional event data attributes.",
        &[],
    ),
    s(
        F::S3Uri,
        "s3.uri",
        "Key URI",
        "the s3 URI (s3://<bucket>/<key>).",
        CONVERSATION,
    ),
    s(
        F::S3Bucket,
        "s3.bucket",
        "Bucket Name",
        "the bucket name for s3 events.",
        CONVERSATION,
    ),
    s(F::S3Key, "s3.key", "Key Name", "the S3 key name.", &[]),
    u(
        F::S3Bytes,
        "s3.bytes",
        "Total Bytes",
        "the size of an s3 download or upload, in bytes.",
        &[],
    ),
    u(
        F::S3BytesIn,
        "s3.bytes.in",
        "Bytes In",
        "the size of an s3 upload, in bytes.",
        HIDDEN,
    ),
    u(
        F::S3BytesOut,
        "s3.bytes.out",
        "Bytes Out",
        "the size of an s3 download, in bytes.",
        HIDDEN,
    ),
    u(
        F::S3CntGet,
        "s3.cnt.get",
        "N Get Ops",
        "the number of get operations. This field is 1 for GetObject events, 0 otherwise.",
        HIDDEN,
    ),
    u(
        F::S3CntPut,
        "s3.cnt.put",
        "N Put Ops",
        "the number of put operations. This field is 1 for PutObject events, 0 otherwise.",
        HIDDEN,
    ),
    u(
        F::S3CntOther,
        "s3.cnt.other",
        "N Other Ops",
        "the number of non I/O operations. This field is 0 for GetObject and PutObject events, 1 for all the other events.",
        HIDDEN,
    ),
    s(
        F::Ec2Name,
        "ec2.name",
        "Instance Name",
        "the name of the ec2 instances, typically stored in the instance tags.",
        &[],
    ),
    s(
        F::Ec2ImageId,
        "ec2.imageid",
        "Image Id",
        "the ID for the image used to run the ec2 instance in the response (deprecated: use ec2.imageids).",
        &[],
    ),
    Def {
        indexed_list: true,
        ..s(
            F::Ec2ImageIds,
            "ec2.imageids",
            "Image Ids",
            "the IDs of the images used to run the ec2 instances in the response, or the image ID of the request; ec2.imageids[i] is the image of the i-th instance.",
            &[],
        )
    },
    s(
        F::EcrRepository,
        "ecr.repository",
        "ECR Repository name",
        "the name of the ecr Repository specified in the request.",
        &[],
    ),
    s(
        F::EcrImageTag,
        "ecr.imagetag",
        "Image Tag",
        "the tag of the image specified in the request.",
        &[],
    ),
    s(
        F::IamRole,
        "iam.role",
        "IAM Role",
        "the IAM role specified in the request.",
        &[],
    ),
    s(
        F::IamPolicy,
        "iam.policy",
        "IAM Policy",
        "the IAM policy specified in the request.",
        &[],
    ),
];

/// Looks a field up by name (for the command line; the ABI uses ids).
pub fn by_name(name: &str) -> Option<&'static Def> {
    FIELDS.iter().find(|d| d.name == name)
}

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The `get_fields` JSON (built once; libsinsp parses it at load).
pub fn fields_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut out = String::from("[");
        for (i, d) in FIELDS.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"name\":");
            json_str(&mut out, d.name);
            out.push_str(",\"type\":");
            json_str(
                &mut out,
                match d.ty {
                    Type::String => "string",
                    Type::Uint64 => "uint64",
                },
            );
            let _ = write!(out, ",\"isList\":{}", d.indexed_list);
            let _ = write!(
                out,
                ",\"arg\":{{\"isRequired\":false,\"isIndex\":{},\"isKey\":false}}",
                d.indexed_list
            );
            out.push_str(",\"display\":");
            json_str(&mut out, d.display);
            out.push_str(",\"desc\":");
            json_str(&mut out, d.desc);
            out.push_str(",\"properties\":[");
            for (j, p) in d.properties.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                json_str(&mut out, p);
            }
            out.push_str("]}");
        }
        out.push(']');
        out
    })
}

/// The field table as Markdown (the README's table and `cloudtrail --list-fields`).
pub fn markdown_table() -> String {
    let mut out = String::from("| Name | Type | Arg | Description |\n|---|---|---|---|\n");
    for d in &FIELDS {
        let ty = match (d.ty, d.indexed_list) {
            (Type::String, true) => "string (list)",
            (Type::String, false) => "string",
            (Type::Uint64, _) => "uint64",
        };
        let arg = if d.indexed_list {
            "Index, Optional"
        } else {
            "None"
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            d.name,
            ty,
            arg,
            d.desc.replace('|', "\\|")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positions_and_names_are_unique() {
        for (i, d) in FIELDS.iter().enumerate() {
            assert_eq!(
                FIELDS[d.field as usize].name, d.name,
                "field {i} out of place"
            );
            assert_eq!(d.field as usize, i);
            assert!(!d.desc.is_empty() && !d.display.is_empty());
            assert_eq!(FIELDS.iter().filter(|o| o.name == d.name).count(), 1);
        }
        assert_eq!(by_name("ct.info").unwrap().field, Field::Info);
    }

    #[test]
    fn readme_lists_exactly_these_fields() {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("<!-- FIELDS -->\n")
            .expect("README field table start")
            + "<!-- FIELDS -->\n".len();
        let end = readme
            .find("<!-- /FIELDS -->")
            .expect("README field table end");
        assert_eq!(
            &readme[start..end],
            markdown_table(),
            "README field table is stale: regenerate it with `cloudtrail --list-fields`"
        );
    }

    #[test]
    fn fields_json_is_what_libsinsp_expects() {
        let v: serde_json::Value = serde_json::from_str(fields_json()).unwrap();
        let arr = v.as_array().unwrap();
        assert_eq!(arr.len(), 73);
        for (i, f) in arr.iter().enumerate() {
            assert_eq!(f["name"], FIELDS[i].name);
            assert!(["string", "uint64"].contains(&f["type"].as_str().unwrap()));
            assert!(f["properties"].is_array());
        }
        let ids = arr.iter().find(|f| f["name"] == "ec2.imageids").unwrap();
        assert_eq!(ids["isList"], true);
        assert_eq!(ids["arg"]["isIndex"], true);
        assert_eq!(ids["arg"]["isRequired"], false);
        let hidden: Vec<_> = arr
            .iter()
            .filter(|f| {
                f["properties"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p == "hidden")
            })
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            hidden,
            [
                "ct.time",
                "s3.bytes.in",
                "s3.bytes.out",
                "s3.cnt.get",
                "s3.cnt.put",
                "s3.cnt.other"
            ]
        );
    }
}
