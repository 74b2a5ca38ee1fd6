"""Seeds the fuzz corpora (fuzz/corpus/<target>/) from the shared test data.

scanner, gzip: whole log files (plain and gzipped, up to 256 KiB); record: single
records; notification: the SQS/SNS/S3/EventBridge envelopes, and records wrapped as
EventBridge CloudTrail events (raw, in SNS, in a Lambda-style envelope); settings and s3_xml:
a few hand-written inputs; digest: digests in the documented shape. Idempotent: existing corpus entries are kept.
"""
import gzip, hashlib, json, os, sys

src, out = sys.argv[1], sys.argv[2]

def put(target, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

for root, _, files in os.walk(src):
    for fn in sorted(files):
        path = os.path.join(root, fn)
        data = open(path, "rb").read()
        if "notifications" in root:
            put("notification", data)
            continue
        if not (fn.endswith(".json") or fn.endswith(".gz") or fn.endswith(".jsonl")):
            continue
        if len(data) <= 256 << 10:
            put("scanner" if not data.startswith(b"\x1f\x8b") else "gzip", data)
            put("gzip", data)
        try:
            text = gzip.decompress(data) if data.startswith(b"\x1f\x8b") else data
            if len(text) > 4 << 20:
                continue
            doc = json.loads(text)
        except Exception:
            continue
        recs = doc.get("Records", []) if isinstance(doc, dict) else doc if isinstance(doc, list) else []
        for r in recs[:5]:
            rec = json.dumps(r, separators=(",", ":"))
            put("record", rec.encode())
            # The json plugin's target: a pointer the rules use, a newline, the record.
            for ptr in (b"/userIdentity/arn", b"/resources/0/ARN", b"/requestParameters", b""):
                put("json_pointer", ptr + b"\n" + rec.encode())
            # The record as an EventBridge CloudTrail event, raw and inside SNS.
            if isinstance(r, dict) and len(rec) < 64 << 10:
                ev = ('{"version":"0","id":"1","detail-type":"AWS API Call via CloudTrail",'
                      '"source":"aws.iam","account":"1","time":"t","region":"r","resources":[],'
                      '"detail":' + rec + '}')
                put("notification", ev.encode())
                put("notification", json.dumps({"Type": "Notification", "Message": ev}).encode())
                put("notification", json.dumps({"Records": [{"body": ev}]}).encode())

for s in [b"", b"{}", b'{"s3DownloadConcurrency":4,"sqsDelete":false,"aws":{"region":"eu-west-1"}}',
          b'{"s3Interval":"5d-2d","s3AccountList":"111122223333, 444455556666"}',
          b"2024-01-02T03:04:05Z-2024-02-01T00:00:00+02:00", b"s3://bucket/AWSLogs/o-abc/",
          b"sqs://queue", b"12h"]:
    put("settings", s)
put("s3_xml", b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><IsTruncated>true</IsTruncated>'
    b'<NextContinuationToken>t</NextContinuationToken><Contents><Key>AWSLogs/a+b.json.gz</Key>'
    b'<ETag>&quot;e&quot;</ETag><Size>3</Size></Contents><CommonPrefixes><Prefix>AWSLogs/1/</Prefix>'
    b'</CommonPrefixes></ListBucketResult>')
put("s3_xml", b"<Error><Code>NoSuchBucket</Code><Message>m</Message><Region>eu-west-1</Region></Error>")
put("notification", b'{"Messages":[{"MessageId":"a","ReceiptHandle":"r","Body":"{}",'
    b'"Attributes":{"ApproximateReceiveCount":"2"}}]}')
# digest: a CloudTrail digest in the documented shape (first of a chain, and chained).
digest = {"awsAccountId": "111122223333", "digestStartTime": "2024-03-01T00:01:31Z",
          "digestEndTime": "2024-03-01T01:01:31Z", "digestS3Bucket": "b",
          "digestS3Object": "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/01/"
                            "111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240301T010131Z.json.gz",
          "digestPublicKeyFingerprint": "31e8b5433410dfb61a9dc45cc65b22ff",
          "digestSignatureAlgorithm": "SHA256withRSA", "previousDigestSignature": None,
          "logFiles": [{"s3Bucket": "b", "s3Object": "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/"
                        "111122223333_CloudTrail_us-east-1_20240301T0005Z_a.json.gz",
                        "hashValue": "9bb6196fc6b84d6f075a56548feca262bd99ba3c2de41b618e5b6e22c1fc71f6",
                        "hashAlgorithm": "SHA-256"}]}
put("digest", json.dumps(digest).encode())
digest.update({"previousDigestS3Bucket": "b", "previousDigestS3Object": "AWSLogs/x.json.gz",
               "previousDigestHashValue": "00" * 32, "previousDigestSignature": "ab" * 256})
put("digest", json.dumps(digest).encode())
