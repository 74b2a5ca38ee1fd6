//! The chain, with temporary config files and a local server standing in for STS,
//! SSO, the container endpoint and instance metadata.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::*;
use crate::aws::testserver::TestServer;
use crate::metrics::Metrics;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ct-creds-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join(".aws")).unwrap();
    d
}

fn no_overrides() -> Overrides<'static> {
    Overrides {
        profile: None,
        region: None,
        config_file: None,
        credentials_file: None,
    }
}

fn http(env: &Env) -> Http {
    let mut h = Http::new(
        env,
        None,
        Arc::new(Metrics::default()),
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    h.retry.attempts = 2;
    h.retry.base = Duration::from_millis(1);
    h
}

fn fetch(setup: &Setup) -> Result<Credentials> {
    let h = http(&setup.env);
    let f = Fetcher {
        http: &h,
        quick: &h,
        region: setup.region.as_deref(),
        env: &setup.env,
        endpoint_url: setup.endpoint_url.as_deref(),
    };
    f.fetch(&setup.source)
}

const STS_OK: &str = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>
<AccessKeyId>ASIAROLE</AccessKeyId><SecretAccessKey>rolesecret</SecretAccessKey><SessionToken>roletoken</SessionToken>
<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>"#;

#[test]
fn environment_keys_and_region() {
    let d = tmpdir("env");
    let home = d.to_str().unwrap();
    let env = Env::from_pairs([
        ("HOME", home),
        ("AWS_ACCESS_KEY_ID", "AKIAENV"),
        ("AWS_SECRET_ACCESS_KEY", "envsecret"),
        ("AWS_SESSION_TOKEN", "envtoken"),
        ("AWS_DEFAULT_REGION", "eu-west-3"),
    ]);
    let s = resolve(&no_overrides(), env).unwrap();
    assert_eq!(s.region.as_deref(), Some("eu-west-3"));
    let c = fetch(&s).unwrap();
    assert_eq!(
        (c.access_key.as_str(), c.token.as_deref()),
        ("AKIAENV", Some("envtoken"))
    );
    // The init config's region wins.
    let o = Overrides {
        region: Some("ap-south-1"),
        ..no_overrides()
    };
    let env = Env::from_pairs([("HOME", home), ("AWS_REGION", "us-east-2")]);
    assert_eq!(
        resolve(&o, env).unwrap().region.as_deref(),
        Some("ap-south-1")
    );
}

#[test]
fn explicit_profile_beats_environment_and_must_exist() {
    let d = tmpdir("profile");
    std::fs::write(
        d.join(".aws/credentials"),
        "[dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = devsecret\n",
    )
    .unwrap();
    std::fs::write(
        d.join(".aws/config"),
        "[profile dev]\nregion = us-west-1\nendpoint_url = http://minio:9000\n",
    )
    .unwrap();
    let home = d.to_str().unwrap();
    let env = Env::from_pairs([
        ("HOME", home),
        ("AWS_PROFILE", "dev"),
        ("AWS_ACCESS_KEY_ID", "AKIAENV"),
        ("AWS_SECRET_ACCESS_KEY", "x"),
    ]);
    let s = resolve(&no_overrides(), env).unwrap();
    assert_eq!(fetch(&s).unwrap().access_key, "AKIADEV");
    assert_eq!(s.region.as_deref(), Some("us-west-1"));
    assert_eq!(s.endpoint_url.as_deref(), Some("http://minio:9000"));
    let o = Overrides {
        profile: Some("missing"),
        ..no_overrides()
    };
    let e = resolve(&o, Env::from_pairs([("HOME", home)]))
        .err()
        .unwrap();
    assert!(e.message().contains("'missing' not found"), "{e}");
    // Files named by the init config.
    let o = Overrides {
        profile: Some("other"),
        credentials_file: Some("~/elsewhere"),
        ..no_overrides()
    };
    std::fs::write(
        d.join("elsewhere"),
        "[other]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = s\n",
    )
    .unwrap();
    let s = resolve(&o, Env::from_pairs([("HOME", home)])).unwrap();
    assert_eq!(fetch(&s).unwrap().access_key, "AKIAOTHER");
}

#[test]
fn assume_role_with_source_profile_signs_with_the_source_keys() {
    let sts = TestServer::start(|_| (200, STS_OK.to_string()));
    let d = tmpdir("assume");
    std::fs::write(
        d.join(".aws/config"),
        "[profile base]\naws_access_key_id = AKIABASE\naws_secret_access_key = basesecret\n[profile role]\nrole_arn = arn:aws:iam::123456789012:role/reader\nsource_profile = base\nexternal_id = ext-1\nregion = eu-central-1\n",
    )
    .unwrap();
    let env = Env::from_pairs([
        ("HOME", d.to_str().unwrap()),
        ("AWS_PROFILE", "role"),
        ("AWS_ENDPOINT_URL_STS", sts.base.as_str()),
    ]);
    let s = resolve(&no_overrides(), env).unwrap();
    let c = fetch(&s).unwrap();
    assert_eq!(
        (c.access_key.as_str(), c.secret_key.as_str()),
        ("ASIAROLE", "rolesecret")
    );
    assert!(c.expires.is_some());
    let reqs = sts.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert!(r.body.contains("Action=AssumeRole") && r.body.contains("ExternalId=ext-1"));
    assert!(
        r.body
            .contains("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Freader")
    );
    let auth = r.header("authorization").unwrap();
    assert!(
        auth.contains("Credential=AKIABASE/") && auth.contains("/eu-central-1/sts/aws4_request"),
        "{auth}"
    );
    // A loop between profiles is an error, not a hang.
    std::fs::write(
        d.join(".aws/config"),
        "[profile a]\nrole_arn = arn:x\nsource_profile = b\n[profile b]\nrole_arn = arn:y\nsource_profile = a\n",
    )
    .unwrap();
    let env = Env::from_pairs([("HOME", d.to_str().unwrap()), ("AWS_PROFILE", "a")]);
    assert!(
        resolve(&no_overrides(), env)
            .err()
            .unwrap()
            .message()
            .contains("loop")
    );
}

#[test]
fn web_identity_from_the_environment() {
    let sts = TestServer::start(|r| {
        let ok = r.body.contains("Action=AssumeRoleWithWebIdentity")
            && r.body.contains("WebIdentityToken=the-jwt");
        (
            if ok { 200 } else { 400 },
            STS_OK.replace("AssumeRole", "AssumeRoleWithWebIdentity"),
        )
    });
    let d = tmpdir("webid");
    std::fs::write(d.join("token"), "the-jwt\n").unwrap();
    let env = Env::from_pairs([
        ("HOME", d.to_str().unwrap()),
        ("AWS_ROLE_ARN", "arn:aws:iam::1:role/irsa"),
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            d.join("token").to_str().unwrap(),
        ),
        ("AWS_ENDPOINT_URL_STS", sts.base.as_str()),
        ("AWS_REGION", "us-east-1"),
    ]);
    let s = resolve(&no_overrides(), env).unwrap();
    assert_eq!(fetch(&s).unwrap().access_key, "ASIAROLE");
    // Web identity calls are not signed.
    assert!(sts.requests()[0].header("authorization").is_none());
}

#[test]
fn credential_process_and_sso() {
    let d = tmpdir("process");
    std::fs::write(
        d.join(".aws/config"),
        "[profile proc]\ncredential_process = echo '{\"Version\": 1, \"AccessKeyId\": \"AKIAPROC\", \"SecretAccessKey\": \"p\", \"Expiration\": \"2099-01-01T00:00:00Z\"}'\n\
         [profile bad]\ncredential_process = exit 3\n\
         [profile sso]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Reader\n\
         [sso-session corp]\nsso_region = eu-west-1\nsso_start_url = https://corp.awsapps.com/start\n",
    )
    .unwrap();
    let home = d.to_str().unwrap();
    let s = resolve(
        &no_overrides(),
        Env::from_pairs([("HOME", home), ("AWS_PROFILE", "proc")]),
    )
    .unwrap();
    assert_eq!(fetch(&s).unwrap().access_key, "AKIAPROC");
    let s = resolve(
        &no_overrides(),
        Env::from_pairs([("HOME", home), ("AWS_PROFILE", "bad")]),
    )
    .unwrap();
    assert!(
        fetch(&s)
            .unwrap_err()
            .message()
            .contains("credential_process exited")
    );

    let portal = TestServer::start(|r| {
        let ok = r.path.contains("account_id=111122223333")
            && r.header("x-amz-sso_bearer_token") == Some("sso-token");
        (
            if ok { 200 } else { 403 },
            r#"{"roleCredentials":{"accessKeyId":"ASIASSO","secretAccessKey":"s","sessionToken":"t","expiration":4102444800000}}"#.into(),
        )
    });
    let env = || {
        Env::from_pairs([
            ("HOME", home),
            ("AWS_PROFILE", "sso"),
            ("AWS_ENDPOINT_URL_SSO", portal.base.as_str()),
        ])
    };
    let s = resolve(&no_overrides(), env()).unwrap();
    assert!(fetch(&s).unwrap_err().message().contains("aws sso login"));
    std::fs::create_dir_all(d.join(".aws/sso/cache")).unwrap();
    std::fs::write(
        d.join(".aws/sso/cache")
            .join(format!("{}.json", sha1_hex(b"corp"))),
        r#"{"accessToken":"sso-token","expiresAt":"2099-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    let c = fetch(&resolve(&no_overrides(), env()).unwrap()).unwrap();
    assert_eq!(c.access_key, "ASIASSO");
    assert_eq!(
        c.expires,
        Some(UNIX_EPOCH + Duration::from_secs(4_102_444_800))
    );
}

#[test]
fn container_then_instance_metadata() {
    let container = TestServer::start(|r| {
        let ok = r.header("authorization") == Some("secret-token");
        (
            if ok { 200 } else { 401 },
            r#"{"AccessKeyId":"ASIACONT","SecretAccessKey":"c","Token":"t","Expiration":"2099-01-01T00:00:00Z"}"#.into(),
        )
    });
    let d = tmpdir("container");
    std::fs::write(d.join("auth"), "secret-token\n").unwrap();
    let env = Env::from_pairs([
        ("HOME", d.to_str().unwrap()),
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            container.base.as_str(),
        ),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            d.join("auth").to_str().unwrap(),
        ),
    ]);
    assert_eq!(
        fetch(&resolve(&no_overrides(), env).unwrap())
            .unwrap()
            .access_key,
        "ASIACONT"
    );

    let imds = TestServer::start(|r| {
        match (r.method.as_str(), r.path.as_str()) {
        ("PUT", "/latest/api/token") => (200, "imds-token".into()),
        (_, p) if r.header("x-aws-ec2-metadata-token") != Some("imds-token") => (401, p.into()),
        ("GET", "/latest/meta-data/iam/security-credentials/") => (200, "my-role\n".into()),
        ("GET", "/latest/meta-data/iam/security-credentials/my-role") => (
            200,
            r#"{"Code":"Success","AccessKeyId":"ASIAIMDS","SecretAccessKey":"i","Token":"t","Expiration":"2099-01-01T00:00:00Z"}"#.into(),
        ),
        _ => (404, String::new()),
    }
    });
    let env = Env::from_pairs([
        ("HOME", d.to_str().unwrap()),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.base.as_str()),
    ]);
    assert_eq!(
        fetch(&resolve(&no_overrides(), env).unwrap())
            .unwrap()
            .access_key,
        "ASIAIMDS"
    );
    // Disabled metadata and nothing else: a clear error.
    let env = Env::from_pairs([
        ("HOME", d.to_str().unwrap()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]);
    let e = fetch(&resolve(&no_overrides(), env).unwrap()).unwrap_err();
    assert!(e.message().contains("no AWS credentials found"), "{e}");
}

#[test]
fn cache_refreshes_before_expiry() {
    let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let c2 = calls.clone();
    let server = TestServer::start(move |_| {
        let n = c2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // First credentials expire in one minute (inside the refresh margin).
        let exp = if n == 0 {
            "2000-01-01T00:00:00Z"
        } else {
            "2099-01-01T00:00:00Z"
        };
        (
            200,
            format!(
                r#"{{"AccessKeyId":"K{n}","SecretAccessKey":"s","Token":"t","Expiration":"{exp}"}}"#
            ),
        )
    });
    let env = Env::from_pairs([("AWS_CONTAINER_CREDENTIALS_FULL_URI", server.base.as_str())]);
    let setup = resolve(&no_overrides(), env).unwrap();
    let h = http(&setup.env);
    let f = Fetcher {
        http: &h,
        quick: &h,
        region: None,
        env: &setup.env,
        endpoint_url: None,
    };
    let cache = Cache::new(setup.source.clone());
    assert_eq!(cache.get(&f).unwrap().access_key, "K0");
    assert_eq!(
        cache.get(&f).unwrap().access_key,
        "K1",
        "expired credentials are refreshed"
    );
    assert_eq!(
        cache.get(&f).unwrap().access_key,
        "K1",
        "fresh ones are reused"
    );
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
}
