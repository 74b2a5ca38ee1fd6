//! Edge cases of every field rule (spec section 3), checked on both views.

use super::*;
use crate::json::lazy::LazyView;
use crate::json::tape::{Indexer, TapeIndex};

#[derive(Debug, PartialEq)]
enum V {
    S(String),
    N(u64),
}

/// Extracts through the tape (when the record is strict JSON) and the lazy view, and
/// checks that both agree (values and offsets).
fn ext_idx(rec: &str, name: &str, index: Option<u64>) -> Vec<V> {
    let field = by_name(name).unwrap().field;
    let run = |out: &mut Out, lazy: bool| {
        out.clear();
        out.want_spans = true;
        if lazy {
            extract(&LazyView::new(rec.as_bytes()), field, index, out);
        } else {
            let mut t = TapeIndex::default();
            Indexer::default().build(rec.as_bytes(), &mut t).unwrap();
            extract(&t.view(rec.as_bytes()), field, index, out);
        }
        out.values
            .iter()
            .map(|v| match v.scalar {
                Scalar::Str { .. } => (
                    V::S(String::from_utf8_lossy(out.text(v)).into_owned()),
                    v.span,
                ),
                Scalar::U64(n) => (V::N(n), v.span),
            })
            .collect::<Vec<_>>()
    };
    let mut out = Out::default();
    let lazy = run(&mut out, true);
    let mut t = TapeIndex::default();
    if Indexer::default().build(rec.as_bytes(), &mut t).is_ok() {
        let tape = run(&mut out, false);
        assert_eq!(
            tape, lazy,
            "tape and lazy views disagree on {name} for {rec}"
        );
    }
    lazy.into_iter().map(|(v, _)| v).collect()
}

fn ext(rec: &str, name: &str) -> Option<String> {
    let mut v = ext_idx(rec, name, None);
    assert!(v.len() <= 1);
    v.pop().map(|v| match v {
        V::S(s) => s,
        V::N(n) => n.to_string(),
    })
}

fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

#[test]
fn generic_rule_missing_string_and_other_types() {
    assert_eq!(ext(r#"{"eventID":"e1"}"#, "ct.id"), some("e1"));
    assert_eq!(ext(r#"{"x":1}"#, "ct.id"), None);
    for other in ["1", "true", "null", "{}", "[1]", "NaN"] {
        assert_eq!(
            ext(&format!(r#"{{"eventID":{other}}}"#), "ct.id"),
            some(""),
            "{other}"
        );
    }
    assert_eq!(ext(r#"{"eventID":"a\"b\u00e9"}"#, "ct.id"), some("a\"bé"));
    assert_eq!(
        ext(r#"{"eventID":"first","eventID":"second"}"#, "ct.id"),
        some("first")
    );
    assert_eq!(ext(r#"{"userIdentity":"str"}"#, "ct.user.arn"), None);
    assert_eq!(
        ext(r#"{"userIdentity":[{"arn":"a"}]}"#, "ct.user.arn"),
        None
    );
    assert_eq!(
        ext(r#"{"errorCode":"AccessDenied"}"#, "ct.error"),
        some("AccessDenied")
    );
    assert_eq!(ext(r#"{}"#, "ct.error"), None);
}

#[test]
fn shortsrc() {
    assert_eq!(
        ext(r#"{"eventSource":"s3.amazonaws.com"}"#, "ct.shortsrc"),
        some("s3")
    );
    assert_eq!(
        ext(r#"{"eventSource":".amazonaws.com"}"#, "ct.shortsrc"),
        some(".amazonaws.com")
    );
    assert_eq!(
        ext(r#"{"eventSource":"example.com"}"#, "ct.shortsrc"),
        some("example.com")
    );
    assert_eq!(ext(r#"{"eventSource":5}"#, "ct.shortsrc"), some(""));
    assert_eq!(ext(r#"{}"#, "ct.shortsrc"), None);
}

#[test]
fn user_by_identity_type() {
    let u = |ident: &str| ext(&format!(r#"{{"userIdentity":{ident}}}"#), "ct.user");
    assert_eq!(u(r#"{"type":"IAMUser","userName":"alice"}"#), some("alice"));
    assert_eq!(u(r#"{"type":"Root","userName":"root"}"#), some("root"));
    assert_eq!(u(r#"{"type":"Root"}"#), None);
    assert_eq!(u(r#"{"type":"IAMUser","userName":7}"#), some(""));
    assert_eq!(
        u(r#"{"type":"AWSService","invokedBy":"ec2.amazonaws.com"}"#),
        some("ec2.amazonaws.com")
    );
    assert_eq!(
        u(r#"{"type":"AssumedRole","sessionContext":{"sessionIssuer":{"userName":"Role"}}}"#),
        some("Role")
    );
    assert_eq!(u(r#"{"type":"AssumedRole"}"#), some("AssumedRole"));
    assert_eq!(u(r#"{"type":"AWSAccount"}"#), some("AWSAccount"));
    assert_eq!(
        u(r#"{"type":"FederatedUser","userName":"x"}"#),
        some("FederatedUser")
    );
    assert_eq!(u(r#"{"type":"IdentityCenterUser","userName":"x"}"#), None);
    assert_eq!(u(r#"{"type":1,"userName":"x"}"#), None);
    assert_eq!(ext("{}", "ct.user"), None);
}

#[test]
fn original_user() {
    let o = |ident: &str| ext(&format!(r#"{{"userIdentity":{ident}}}"#), "ct.originaluser");
    assert_eq!(
        o(
            r#"{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/Role/session","principalId":"AID:other"}"#
        ),
        some("session")
    );
    assert_eq!(
        o(r#"{"type":"AssumedRole","arn":"arn:a/b","principalId":"AID:sess"}"#),
        some("sess")
    );
    assert_eq!(
        o(r#"{"type":"AssumedRole","principalId":"AID:sess:x"}"#),
        None
    );
    assert_eq!(
        o(r#"{"type":"AssumedRole","arn":5,"principalId":"A:b"}"#),
        some("b")
    );
    assert_eq!(o(r#"{"type":"IAMUser","userName":"bob"}"#), some("bob"));
    assert_eq!(o(r#"{"userName":"bob"}"#), some("bob"));
    assert_eq!(o(r#"{"type":"Root"}"#), None);
}

#[test]
fn account_id_falls_back_only_when_missing() {
    assert_eq!(
        ext(
            r#"{"userIdentity":{"accountId":"1"},"recipientAccountId":"2"}"#,
            "ct.user.accountid"
        ),
        some("1")
    );
    assert_eq!(
        ext(
            r#"{"userIdentity":{},"recipientAccountId":"2"}"#,
            "ct.user.accountid"
        ),
        some("2")
    );
    assert_eq!(
        ext(r#"{"recipientAccountId":"2"}"#, "ct.user.accountid"),
        some("2")
    );
    assert_eq!(
        ext(
            r#"{"userIdentity":{"accountId":""},"recipientAccountId":"2"}"#,
            "ct.user.accountid"
        ),
        some("")
    );
    assert_eq!(
        ext(
            r#"{"userIdentity":{"accountId":null}}"#,
            "ct.user.accountid"
        ),
        some("")
    );
    assert_eq!(ext("{}", "ct.user.accountid"), None);
}

#[test]
fn flags() {
    for (field, key) in [
        ("ct.readonly", "readOnly"),
        ("ct.managementevent", "managementEvent"),
        (
            "ct.sessioncredentialfromconsole",
            "sessionCredentialFromConsole",
        ),
    ] {
        assert_eq!(ext("{}", field), None);
        assert_eq!(ext(&format!(r#"{{"{key}":true}}"#), field), some("true"));
        for other in ["false", "null", "1", r#""yes""#, "{}"] {
            assert_eq!(
                ext(&format!(r#"{{"{key}":{other}}}"#), field),
                some("false"),
                "{field} {other}"
            );
        }
    }
    // D2: CloudTrail writes this one as a string.
    assert_eq!(
        ext(
            r#"{"sessionCredentialFromConsole":"true"}"#,
            "ct.sessioncredentialfromconsole"
        ),
        some("true")
    );
    assert_eq!(ext(r#"{"readOnly":"true"}"#, "ct.readonly"), some("false"));
}

#[test]
fn documentname_is_fixed() {
    // D1
    assert_eq!(
        ext(
            r#"{"requestParameters":{"documentName":"AWS-RunShellScript"}}"#,
            "ct.request.documentname"
        ),
        some("AWS-RunShellScript")
    );
    assert_eq!(
        ext(
            r#"{"requestParameters":{"documentName":{}}}"#,
            "ct.request.documentname"
        ),
        some("")
    );
}

#[test]
fn serialised_fields_keep_original_text() {
    let rec = "{\"requestParameters\": { \"b\" : 1.50, \"a\" : [ 1E3 , \"x\\\" \\u00e9\" ], \"b\":null },\n\"responseElements\": null}";
    assert_eq!(
        ext(rec, "ct.request"),
        some(r#"{"b":1.50,"a":[1E3,"x\" \u00e9"],"b":null}"#)
    );
    assert_eq!(ext(rec, "ct.response"), some("null"));
    assert_eq!(ext(rec, "ct.additionaleventdata"), None);
    // Independent of what was extracted before (D4).
    let _ = ext(rec, "ct.request.policy");
    assert_eq!(
        ext(rec, "ct.request"),
        some(r#"{"b":1.50,"a":[1E3,"x\" \u00e9"],"b":null}"#)
    );
}

#[test]
fn resources() {
    assert_eq!(
        ext(
            r#"{"resources":[ {"ARN":"a", "type":"t"} , {"ARN":"b"} ]}"#,
            "ct.resources"
        ),
        some(r#"{"ARN":"a","type":"t"},{"ARN":"b"}"#)
    );
    assert_eq!(ext(r#"{"resources":[]}"#, "ct.resources"), None);
    assert_eq!(ext(r#"{"resources":{}}"#, "ct.resources"), None);
    assert_eq!(
        ext(r#"{"resources":[1,"x"]}"#, "ct.resources"),
        some(r#"1,"x""#)
    );
    assert_eq!(ext("{}", "ct.resources"), None);
}

#[test]
fn s3_fields() {
    let rec = r#"{"eventName":"GetObject","requestParameters":{"bucketName":"b","key":"k/x y"},
        "additionalEventData":{"bytesTransferredIn":0,"bytesTransferredOut":1024}}"#;
    assert_eq!(ext(rec, "s3.uri"), some("s3://b/k/x y"));
    assert_eq!(ext(rec, "s3.bucket"), some("b"));
    assert_eq!(ext(rec, "s3.key"), some("k/x y"));
    assert_eq!(ext(rec, "s3.bytes"), some("1024"));
    assert_eq!(ext(rec, "s3.bytes.in"), some("0"));
    assert_eq!(ext(rec, "s3.bytes.out"), some("1024"));
    assert_eq!(ext(rec, "s3.cnt.get"), some("1"));
    assert_eq!(ext(rec, "s3.cnt.put"), None);
    assert_eq!(ext(rec, "s3.cnt.other"), None);
    let put = r#"{"eventName":"PutObject","requestParameters":{"bucketName":"b","key":5}}"#;
    assert_eq!(ext(put, "s3.uri"), None);
    assert_eq!(ext(put, "s3.key"), some(""));
    assert_eq!(ext(put, "s3.cnt.put"), some("1"));
    assert_eq!(ext(put, "s3.bytes"), None);
    assert_eq!(ext("{}", "s3.cnt.other"), some("1"));
    assert_eq!(ext(r#"{"eventName":7}"#, "s3.cnt.other"), some("1"));
    let n = |v: &str| {
        ext(
            &format!(r#"{{"additionalEventData":{{"bytesTransferredOut":{v}}}}}"#),
            "s3.bytes",
        )
    };
    assert_eq!(n("33.9"), some("33"));
    assert_eq!(n("1e3"), some("1000"));
    assert_eq!(n(r#""12""#), some("0"));
    assert_eq!(n("null"), some("0"));
    assert_eq!(n("-1"), some(&u64::MAX.to_string()));
    assert_eq!(n("NaN"), some("0"));
    assert_eq!(n("18446744073709551615"), some(&u64::MAX.to_string()));
    assert_eq!(
        ext(
            r#"{"additionalEventData":{"bytesTransferredIn":18446744073709551615,"bytesTransferredOut":2}}"#,
            "s3.bytes"
        ),
        some("1")
    );
}

#[test]
fn ec2_name() {
    let rec = |items: &str| {
        format!(r#"{{"requestParameters":{{"tagSpecificationSet":{{"items":{items}}}}}}}"#)
    };
    assert_eq!(
        ext(
            &rec(
                r#"[{"resourceType":"volume","tags":[{"key":"Name","value":"vol"}]},
                {"resourceType":"instance","tags":[{"key":"Env","value":"x"},{"key":"Name","value":"web"},{"key":"Name","value":"second"}]},
                {"resourceType":"instance","tags":[{"key":"Env","value":"y"}]}]"#
            ),
            "ec2.name"
        ),
        some("web")
    );
    assert_eq!(
        ext(
            &rec(
                r#"[{"resourceType":"instance","tags":[{"key":"Name","value":"a"}]},
                {"resourceType":"instance","tags":[{"key":"Name","value":"b"}]}]"#
            ),
            "ec2.name"
        ),
        some("b")
    );
    assert_eq!(
        ext(
            &rec(r#"[{"resourceType":"instance","tags":[{"key":"Name","value":""}]}]"#),
            "ec2.name"
        ),
        None
    );
    assert_eq!(
        ext(
            &rec(r#"[{"resourceType":"instance","tags":[{"key":"Name"}]}]"#),
            "ec2.name"
        ),
        None
    );
    assert_eq!(
        ext(&rec(r#"{"resourceType":"instance"}"#), "ec2.name"),
        None
    );
}

#[test]
fn image_ids() {
    let resp = r#"{"responseElements":{"instancesSet":{"items":[{"imageId":"ami-1"},{"x":1},{"imageId":""},{"imageId":"ami-4"}]}},
        "requestParameters":{"imageId":"ami-req"}}"#;
    let all = |r: &str, i: Option<u64>| ext_idx(r, "ec2.imageids", i);
    assert_eq!(
        all(resp, None),
        [V::S("ami-1".into()), V::S("ami-4".into())]
    );
    assert_eq!(all(resp, Some(0)), [V::S("ami-1".into())]);
    assert_eq!(all(resp, Some(1)), []);
    assert_eq!(all(resp, Some(2)), [V::S("".into())]);
    assert_eq!(all(resp, Some(4)), []);
    assert_eq!(ext(resp, "ec2.imageid"), some("ami-1"));
    let empty = r#"{"responseElements":{"instancesSet":{"items":[]}},"requestParameters":{"imageId":"ami-req"}}"#;
    assert_eq!(all(empty, None), []);
    assert_eq!(ext(empty, "ec2.imageid"), None);
    let req = r#"{"requestParameters":{"imageId":"ami-req"}}"#;
    assert_eq!(all(req, None), [V::S("ami-req".into())]);
    assert_eq!(all(req, Some(0)), [V::S("ami-req".into())]);
    assert_eq!(all(req, Some(1)), []);
    let fast = r#"{"requestParameters":{"DescribeFastLaunchImagesRequest":{"ImageId":{"content":"ami-f"}}}}"#;
    assert_eq!(ext(fast, "ec2.imageid"), some("ami-f"));
    let spot = r#"{"requestParameters":{"launchSpecification":{"imageId":"ami-s"}}}"#;
    assert_eq!(ext(spot, "ec2.imageid"), some("ami-s"));
    assert_eq!(
        ext(r#"{"requestParameters":{"imageId":3}}"#, "ec2.imageid"),
        some("")
    );
}

fn info(rec: &str) -> String {
    ext(rec, "ct.info").unwrap()
}

#[test]
fn info_text() {
    let base = r#""userIdentity":{"type":"IAMUser","userName":"alice"},"sourceIPAddress":"203.0.113.9","eventName":"CreateUser""#;
    assert_eq!(
        info(&format!("{{{base}}}")),
        "alice via 203.0.113.9 ← CreateUser"
    );
    assert_eq!(
        info(&format!(r#"{{{base},"readOnly":false}}"#)),
        "alice via 203.0.113.9 → CreateUser"
    );
    assert_eq!(
        info(&format!(r#"{{{base},"readOnly":false,"errorCode":null}}"#)),
        "alice via 203.0.113.9 !→ CreateUser"
    );
    assert_eq!(
        info(
            r#"{"userIdentity":{"type":"AWSService","invokedBy":"ec2.amazonaws.com"},"sourceIPAddress":"ec2.amazonaws.com","eventName":"X"}"#
        ),
        "ec2.amazonaws.com ← X"
    );
    assert_eq!(
        info(r#"{"userIdentity":{"type":"Root"},"sourceIPAddress":"1.2.3.4","eventName":"X"}"#),
        "<invalid cloudtrail event: userIdentity field missing>"
    );
    assert_eq!(
        info(r#"{"userIdentity":{"type":"IAMUser","userName":"a"},"eventName":"X"}"#),
        "<invalid cloudtrail event: eventSource field missing>"
    );
    assert_eq!(
        info(r#"{"userIdentity":{"type":"IAMUser","userName":"a"},"sourceIPAddress":"1.2.3.4"}"#),
        "<invalid cloudtrail event: eventName field missing>"
    );
    let s3 = r#""userIdentity":{"type":"IAMUser","userName":"a"},"sourceIPAddress":"1.2.3.4","eventName":"GetObject""#;
    assert_eq!(
        info(&format!(
            r#"{{{s3},"requestParameters":{{"bucketName":"bkt","key":"k","Host":"h"}},"additionalEventData":{{"bytesTransferredOut":1024}}}}"#
        )),
        "a via 1.2.3.4 ← GetObject Size=1024 URI=s3://bkt/k"
    );
    assert_eq!(
        info(&format!(
            r#"{{{s3},"requestParameters":{{"bucketName":"bkt","Host":"h"}}}}"#
        )),
        "a via 1.2.3.4 ← GetObject Bucket=bkt"
    );
    assert_eq!(
        info(&format!(
            r#"{{{s3},"requestParameters":{{"key":"k","Host":"h"}}}}"#
        )),
        "a via 1.2.3.4 ← GetObject Key=k"
    );
    assert_eq!(
        info(&format!(r#"{{{s3},"requestParameters":{{"Host":"h"}}}}"#)),
        "a via 1.2.3.4 ← GetObject Host=h"
    );
}

#[test]
fn info_public_access_block_reads_the_request() {
    // D3
    let rec = r#"{"userIdentity":{"type":"IAMUser","userName":"a"},"sourceIPAddress":"1.2.3.4",
        "eventName":"PutBucketPublicAccessBlock","readOnly":false,
        "requestParameters":{"bucketName":"b","PublicAccessBlockConfiguration":
            {"BlockPublicAcls":true,"BlockPublicPolicy":false,"IgnorePublicAcls":"true","RestrictPublicBuckets":true}},
        "additionalEventData":{"bytesTransferredIn":10}}"#;
    assert_eq!(
        info(rec),
        "a via 1.2.3.4 → PutBucketPublicAccessBlock BlockPublicAcls=true BlockPublicPolicy=false IgnorePublicAcls=false RestrictPublicBuckets=true"
    );
    let no_conf = r#"{"userIdentity":{"type":"IAMUser","userName":"a"},"sourceIPAddress":"1.2.3.4",
        "eventName":"PutBucketPublicAccessBlock","requestParameters":{"bucketName":"b"}}"#;
    assert_eq!(info(no_conf), "a via 1.2.3.4 ← PutBucketPublicAccessBlock");
}

#[test]
fn to_string_variants() {
    let s = |rec: &str| {
        let mut out = Vec::new();
        event_to_string(&LazyView::new(rec.as_bytes()), &mut out);
        String::from_utf8(out).unwrap()
    };
    let tail = r#""eventSource":"s3.amazonaws.com","awsRegion":"us-east-1","eventName":"GetObject","sourceIPAddress":"1.2.3.4""#;
    assert_eq!(
        s(&format!(
            r#"{{"userIdentity":{{"type":"IAMUser","userName":"alice"}},{tail}}}"#
        )),
        "us-east-1 alice s3 GetObject alice via 1.2.3.4 ← GetObject"
    );
    assert_eq!(
        s(&format!(r#"{{"userIdentity":{{"type":"Root"}},{tail}}}"#)),
        "us-east-1<NA> s3 GetObject <invalid cloudtrail event: userIdentity field missing>"
    );
    assert_eq!(
        s(&format!(
            r#"{{"userIdentity":{{"type":"SAMLUser"}},{tail}}}"#
        )),
        "us-east-1<unknown user type> s3 GetObject <invalid cloudtrail event: userIdentity field missing>"
    );
    assert_eq!(
        s(&format!(r#"{{{tail}}}"#)),
        "us-east-1 s3 GetObject <invalid cloudtrail event: userIdentity field missing>"
    );
    assert_eq!(
        s(r#"{"awsRegion":"r","eventName":"n"}"#),
        "<invalid JSON: event did not contain a source>"
    );
    assert_eq!(
        s(r#"{"eventSource":"s","eventName":"n"}"#),
        "<invalid JSON: event did not contain an awsRegion>"
    );
    assert_eq!(
        s(r#"{"eventSource":"s","awsRegion":"r"}"#),
        "<invalid JSON: event did not contain an eventName>"
    );
}
