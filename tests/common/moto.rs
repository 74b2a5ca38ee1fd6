//! The local AWS emulator (moto) for S3 and SQS tests: started on 127.0.0.1 by the
//! tests themselves, stopped when they end. Tests fail, never skip, without it.

#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub struct Moto {
    pub base: String,
    child: Mutex<Child>,
    /// Shared config and credentials files pointing the plugin at this server.
    pub dir: PathBuf,
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn moto_server() -> PathBuf {
    if let Ok(p) = std::env::var("MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = root.join(".venv/bin/moto_server");
    if !bin.exists() {
        // A fresh machine: create the venv the way .ci/run does.
        let ok = Command::new("python3")
            .args(["-m", "venv", ".venv"])
            .current_dir(&root)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(root.join(".venv/bin/pip"))
                .args(["install", "-q", "moto[server]==5.2.5"])
                .current_dir(&root)
                .status()
                .is_ok_and(|s| s.success());
        assert!(
            ok,
            "cannot install moto into .venv (python3 -m venv .venv && .venv/bin/pip install 'moto[server]==5.2.5')"
        );
    }
    assert!(bin.exists(), "moto_server not found at {}", bin.display());
    bin
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a moto server (one per test binary).
pub fn moto() -> &'static Moto {
    static M: OnceLock<Moto> = OnceLock::new();
    M.get_or_init(|| {
        let port = free_port();
        // Statics are never dropped: a watchdog stops the server when this test
        // process is gone, so no emulator outlives the tests.
        let script = format!(
            "\"$0\" -H 127.0.0.1 -p {port} & m=$!; while kill -0 {pid} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 1; done; kill $m 2>/dev/null",
            pid = std::process::id()
        );
        let child = Command::new("sh")
            .args(["-c", &script])
            .arg(moto_server())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if ureq::get(&format!("{base}/moto-api/")).call().is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "moto_server did not start on {base}");
            std::thread::sleep(Duration::from_millis(200));
        }
        let dir = std::env::temp_dir().join(format!("ct-moto-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config"),
            format!("[profile moto]\nregion = us-east-1\nendpoint_url = {base}\n"),
        )
        .unwrap();
        std::fs::write(
            dir.join("credentials"),
            "[moto]\naws_access_key_id = testing\naws_secret_access_key = moto-secret-never-logged\n",
        )
        .unwrap();
        Moto {
            base,
            child: Mutex::new(child),
            dir,
        }
    })
}

impl Moto {
    /// The `aws` block of an init config that points at this server.
    pub fn aws_config(&self) -> String {
        format!(
            r#""aws":{{"profile":"moto","config":"{}","credentials":"{}"}}"#,
            self.dir.join("config").display(),
            self.dir.join("credentials").display()
        )
    }

    /// The `aws` block of an init config that sends requests to `endpoint` (a proxy
    /// in front of this server).
    pub fn aws_config_via(&self, endpoint: &str) -> String {
        let dir = self.dir.join(endpoint.replace([':', '/', '.'], "_"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config"),
            format!("[profile moto]\nregion = us-east-1\nendpoint_url = {endpoint}\n"),
        )
        .unwrap();
        format!(
            r#""aws":{{"profile":"moto","config":"{}","credentials":"{}"}}"#,
            dir.join("config").display(),
            self.dir.join("credentials").display()
        )
    }

    pub fn create_bucket(&self, bucket: &str) {
        let r = ureq::put(&format!("{}/{bucket}", self.base)).send_empty();
        assert!(r.is_ok(), "create bucket {bucket}: {r:?}");
    }

    pub fn put(&self, bucket: &str, key: &str, body: &[u8]) {
        self.put_with(bucket, key, body, &[]);
    }

    /// [`Moto::put`] with request headers (`x-amz-meta-*` metadata, say).
    pub fn put_with(&self, bucket: &str, key: &str, body: &[u8], headers: &[(&str, &str)]) {
        let url = format!("{}/{bucket}/{}", self.base, key.replace(' ', "%20"));
        let mut req = ureq::put(&url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send(body);
        assert!(r.is_ok(), "put {key}: {r:?}");
    }

    /// Deletes an object.
    pub fn delete(&self, bucket: &str, key: &str) {
        let url = format!("{}/{bucket}/{}", self.base, key.replace(' ', "%20"));
        let auth = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00";
        let r = ureq::delete(&url).header("authorization", auth).call();
        assert!(r.is_ok(), "delete {key}: {r:?}");
    }

    /// A query-protocol call to `service` ("sqs", "sns"). moto routes it by the
    /// signature's credential scope and does not check the signature itself.
    pub fn call(&self, service: &str, params: &[(&str, &str)]) -> String {
        let body: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect();
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00"
        );
        let mut resp = ureq::post(&format!("{}/", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", &auth)
            .send(body.join("&"))
            .unwrap_or_else(|e| panic!("moto {service} call {params:?}: {e}"));
        let mut s = String::new();
        resp.body_mut().as_reader().read_to_string(&mut s).unwrap();
        s
    }

    pub fn create_queue(&self, name: &str) -> String {
        let r = self.call("sqs", &[("Action", "CreateQueue"), ("QueueName", name)]);
        xml_text(&r, "QueueUrl")
    }

    pub fn queue_arn(name: &str) -> String {
        format!("arn:aws:sqs:us-east-1:123456789012:{name}")
    }

    pub fn send(&self, url: &str, body: &str) {
        let r = self.call(
            "sqs",
            &[
                ("Action", "SendMessage"),
                ("QueueUrl", url),
                ("MessageBody", body),
            ],
        );
        assert!(r.contains("<MessageId>"), "SendMessage: {r}");
    }

    /// Sends `bodies` with SendMessageBatch, ten per call.
    pub fn send_batch(&self, url: &str, bodies: &[String]) {
        for chunk in bodies.chunks(10) {
            let mut params: Vec<(String, String)> = vec![
                ("Action".into(), "SendMessageBatch".into()),
                ("QueueUrl".into(), url.into()),
            ];
            for (i, b) in chunk.iter().enumerate() {
                let n = i + 1;
                params.push((
                    format!("SendMessageBatchRequestEntry.{n}.Id"),
                    format!("m{n}"),
                ));
                params.push((
                    format!("SendMessageBatchRequestEntry.{n}.MessageBody"),
                    b.clone(),
                ));
            }
            let refs: Vec<(&str, &str)> = params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let r = self.call("sqs", &refs);
            assert!(
                !r.contains("BatchResultErrorEntry")
                    && r.matches("<MessageId>").count() == chunk.len(),
                "SendMessageBatch: {r}"
            );
        }
    }

    /// Uploads each object to `bucket` as `f<i>.json.gz` and announces it with a
    /// CloudTrail notification on queue `url`, one message per object.
    pub fn announce(&self, url: &str, bucket: &str, objects: &[Vec<u8>]) {
        self.create_bucket(bucket);
        for (i, body) in objects.iter().enumerate() {
            let key = format!("f{i}.json.gz");
            self.put(bucket, &key, body);
            let notice = serde_json::json!({"s3Bucket": bucket, "s3ObjectKey": [key]});
            self.send(url, &notice.to_string());
        }
    }

    /// (visible, in flight) messages of a queue.
    pub fn queue_depth(&self, url: &str) -> (u64, u64) {
        let r = self.call(
            "sqs",
            &[
                ("Action", "GetQueueAttributes"),
                ("QueueUrl", url),
                ("AttributeName.1", "All"),
            ],
        );
        let attr = |name: &str| -> u64 {
            let at = r
                .find(&format!("<Name>{name}</Name>"))
                .unwrap_or_else(|| panic!("no {name} in {r}"));
            xml_text(&r[at..], "Value").parse().unwrap()
        };
        (
            attr("ApproximateNumberOfMessages"),
            attr("ApproximateNumberOfMessagesNotVisible"),
        )
    }

    pub fn create_topic(&self, name: &str) -> String {
        let r = self.call("sns", &[("Action", "CreateTopic"), ("Name", name)]);
        xml_text(&r, "TopicArn")
    }

    /// Subscribes queue `queue` to `topic`, with SNS raw message delivery or not.
    pub fn subscribe(&self, topic: &str, queue: &str, raw: bool) {
        let arn = Self::queue_arn(queue);
        let r = self.call(
            "sns",
            &[
                ("Action", "Subscribe"),
                ("TopicArn", topic),
                ("Protocol", "sqs"),
                ("Endpoint", &arn),
                ("Attributes.entry.1.key", "RawMessageDelivery"),
                (
                    "Attributes.entry.1.value",
                    if raw { "true" } else { "false" },
                ),
            ],
        );
        assert!(r.contains("<SubscriptionArn>"), "Subscribe: {r}");
    }

    pub fn publish(&self, topic: &str, message: &str) {
        let r = self.call(
            "sns",
            &[
                ("Action", "Publish"),
                ("TopicArn", topic),
                ("Message", message),
            ],
        );
        assert!(r.contains("<MessageId>"), "Publish: {r}");
    }

    /// S3 sends `bucket`'s object-created events straight to queue `queue`.
    pub fn notify_queue(&self, bucket: &str, queue: &str) {
        let xml = format!(
            "<NotificationConfiguration><QueueConfiguration><Queue>{}</Queue><Event>s3:ObjectCreated:*</Event></QueueConfiguration></NotificationConfiguration>",
            Self::queue_arn(queue)
        );
        let r = ureq::put(&format!("{}/{bucket}?notification", self.base))
            .header("content-type", "application/xml")
            .send(xml.as_bytes());
        assert!(r.is_ok(), "bucket notification: {r:?}");
    }
}

/// The text of the first `<tag>` in `xml` (entities decoded).
pub fn xml_text(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>")).unwrap();
    xml[start..end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
