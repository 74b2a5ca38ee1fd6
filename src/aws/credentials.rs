//! The AWS credentials chain, without the SDK, in the order the Go SDK resolves it:
//!
//! 1. a profile named explicitly (`aws.profile` in the init config, or `AWS_PROFILE`);
//! 2. `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`;
//! 3. web identity (`AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE`: EKS IRSA);
//! 4. the `default` profile; and when a profile holds no credentials, container
//!    credentials (ECS, EKS Pod Identity), then the EC2 instance profile (IMDSv2).
//!
//! A profile can hold static keys, `role_arn` with `source_profile` or
//! `credential_source` (STS AssumeRole) or `web_identity_token_file`,
//! `credential_process`, or IAM Identity Center (SSO) settings. Temporary credentials
//! are cached and refreshed five minutes before they expire. Secrets never appear in
//! errors or logs.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::endpoint;
use super::env::Env;
use super::http::{Http, Request, transient_status};
use super::profile::{Files, Section};
use super::sha1::sha1_hex;
use super::sign::{Credentials, sign_request};
use super::xml;
use crate::error::{Error, Result};
use crate::json::doc::Doc;
use crate::time::parse_rfc3339_ns;

/// Refresh temporary credentials this long before they expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Where credentials come from.
#[derive(Debug, Clone)]
pub enum Source {
    Static(Credentials),
    AssumeRole {
        role_arn: String,
        session_name: String,
        external_id: Option<String>,
        duration: Option<u32>,
        base: Box<Source>,
    },
    WebIdentity {
        role_arn: String,
        token_file: String,
        session_name: String,
    },
    Process(String),
    Sso {
        cache_key: String,
        region: String,
        account_id: String,
        role_name: String,
    },
    Container {
        url: String,
        token: Option<String>,
        token_file: Option<String>,
    },
    Imds {
        endpoint: String,
    },
    /// The first source that yields credentials.
    FirstOf(Vec<Source>),
}

/// What the rest of the AWS code needs: region, endpoints, credentials.
pub struct Setup {
    pub region: Option<String>,
    /// The profile's `endpoint_url`, if any.
    pub endpoint_url: Option<String>,
    /// The profile's `ca_bundle`, if any.
    pub ca_bundle: Option<String>,
    pub source: Source,
    pub env: Env,
}

/// Everything `resolve` needs from the outside.
pub struct Overrides<'a> {
    pub profile: Option<&'a str>,
    pub region: Option<&'a str>,
    pub config_file: Option<&'a str>,
    pub credentials_file: Option<&'a str>,
}

fn session_name() -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("libcloudtrail-{t}")
}

/// Resolves the configuration and the credentials source (no network yet).
pub fn resolve(o: &Overrides<'_>, env: Env) -> Result<Setup> {
    let files = Files::from_env(&env, o.config_file, o.credentials_file);
    let explicit = o.profile.or(env.get("AWS_PROFILE"));
    let profile_name = explicit.unwrap_or("default");
    let profile = files.profile(profile_name);
    if explicit.is_some() && profile.is_none() {
        return Err(Error::new(format!(
            "AWS profile '{profile_name}' not found in the shared config or credentials files"
        )));
    }
    let region = o
        .region
        .map(str::to_string)
        .or_else(|| env.get("AWS_REGION").map(str::to_string))
        .or_else(|| env.get("AWS_DEFAULT_REGION").map(str::to_string))
        .or_else(|| profile.and_then(|p| p.get("region")).cloned());
    let endpoint_url = profile.and_then(|p| p.get("endpoint_url")).cloned();
    let ca_bundle = profile.and_then(|p| p.get("ca_bundle")).cloned();
    let source = if explicit.is_some() {
        profile_source(&files, profile_name, &env, &mut Vec::new())?
            .unwrap_or_else(|| ambient(&env, profile))
    } else if let Some(c) = env_credentials(&env) {
        Source::Static(c)
    } else if let (Some(role), Some(file)) = (
        env.get("AWS_ROLE_ARN"),
        env.get("AWS_WEB_IDENTITY_TOKEN_FILE"),
    ) {
        Source::WebIdentity {
            role_arn: role.to_string(),
            token_file: file.to_string(),
            session_name: env
                .get("AWS_ROLE_SESSION_NAME")
                .map_or_else(session_name, str::to_string),
        }
    } else {
        match profile {
            Some(_) => profile_source(&files, "default", &env, &mut Vec::new())?,
            None => None,
        }
        .unwrap_or_else(|| ambient(&env, profile))
    };
    Ok(Setup {
        region,
        endpoint_url,
        ca_bundle,
        source,
        env,
    })
}

fn env_credentials(env: &Env) -> Option<Credentials> {
    Some(Credentials {
        access_key: env.get("AWS_ACCESS_KEY_ID")?.to_string(),
        secret_key: env.get("AWS_SECRET_ACCESS_KEY")?.to_string(),
        token: env.get("AWS_SESSION_TOKEN").map(str::to_string),
        expires: None,
    })
}

/// Container credentials, then the instance profile (unless disabled).
fn ambient(env: &Env, profile: Option<&Section>) -> Source {
    let mut chain = Vec::new();
    if let Some(c) = container(env) {
        chain.push(c);
    }
    if !env.flag("AWS_EC2_METADATA_DISABLED") {
        let endpoint = env
            .get("AWS_EC2_METADATA_SERVICE_ENDPOINT")
            .map(str::to_string)
            .or_else(|| {
                profile
                    .and_then(|p| p.get("ec2_metadata_service_endpoint"))
                    .cloned()
            })
            .unwrap_or_else(|| "http://169.254.169.254".to_string());
        chain.push(Source::Imds {
            endpoint: endpoint.trim_end_matches('/').to_string(),
        });
    }
    Source::FirstOf(chain)
}

fn container(env: &Env) -> Option<Source> {
    let url = if let Some(rel) = env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
        format!("http://169.254.170.2{rel}")
    } else {
        env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")?.to_string()
    };
    Some(Source::Container {
        url,
        token: env
            .get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
            .map(str::to_string),
        token_file: env
            .get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
            .map(str::to_string),
    })
}

/// The credentials a profile describes; `None` if it describes none.
fn profile_source(
    files: &Files,
    name: &str,
    env: &Env,
    seen: &mut Vec<String>,
) -> Result<Option<Source>> {
    if seen.iter().any(|s| s == name) {
        return Err(Error::new(format!(
            "AWS profile '{name}': source_profile loop ({} → {name})",
            seen.join(" → ")
        )));
    }
    seen.push(name.to_string());
    let Some(p) = files.profile(name) else {
        return Err(Error::new(format!("AWS profile '{name}' not found")));
    };
    let get = |k: &str| p.get(k).filter(|v| !v.is_empty()).cloned();
    if let Some(role_arn) = get("role_arn") {
        let session = get("role_session_name").unwrap_or_else(session_name);
        if let Some(token_file) = get("web_identity_token_file") {
            return Ok(Some(Source::WebIdentity {
                role_arn,
                token_file,
                session_name: session,
            }));
        }
        let base = if let Some(src) = get("source_profile") {
            // A source profile's static keys are used even if it also has a role.
            if src == name {
                static_keys(p).map(Source::Static)
            } else {
                profile_source(files, &src, env, seen)?
            }
            .ok_or_else(|| {
                Error::new(format!(
                    "AWS profile '{src}' (source_profile of '{name}') has no credentials"
                ))
            })?
        } else if let Some(cs) = get("credential_source") {
            match cs.as_str() {
                "Environment" => Source::Static(env_credentials(env).ok_or_else(|| {
                    Error::new(format!("AWS profile '{name}': credential_source Environment, but AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set"))
                })?),
                "Ec2InstanceMetadata" => ambient(env, Some(p)).into_imds_only(),
                "EcsContainer" => container(env)
                    .ok_or_else(|| Error::new(format!("AWS profile '{name}': credential_source EcsContainer, but no container credentials URI is set")))?,
                other => {
                    return Err(Error::new(format!(
                        "AWS profile '{name}': unsupported credential_source '{other}'"
                    )));
                }
            }
        } else {
            return Err(Error::new(format!(
                "AWS profile '{name}': role_arn needs source_profile, credential_source or web_identity_token_file"
            )));
        };
        return Ok(Some(Source::AssumeRole {
            role_arn,
            session_name: session,
            external_id: get("external_id"),
            duration: get("duration_seconds").and_then(|d| d.parse().ok()),
            base: Box::new(base),
        }));
    }
    if let Some(sso) = sso_source(files, p, name)? {
        return Ok(Some(sso));
    }
    if let Some(cmd) = get("credential_process") {
        return Ok(Some(Source::Process(cmd)));
    }
    Ok(static_keys(p).map(Source::Static))
}

fn static_keys(p: &Section) -> Option<Credentials> {
    Some(Credentials {
        access_key: p
            .get("aws_access_key_id")
            .filter(|v| !v.is_empty())?
            .clone(),
        secret_key: p
            .get("aws_secret_access_key")
            .filter(|v| !v.is_empty())?
            .clone(),
        token: p
            .get("aws_session_token")
            .filter(|v| !v.is_empty())
            .cloned(),
        expires: None,
    })
}

fn sso_source(files: &Files, p: &Section, name: &str) -> Result<Option<Source>> {
    let account = p.get("sso_account_id");
    let role = p.get("sso_role_name");
    let (cache_key, region) = if let Some(session) = p.get("sso_session") {
        let s = files.sso_session(session).ok_or_else(|| {
            Error::new(format!(
                "AWS profile '{name}': sso-session '{session}' not found"
            ))
        })?;
        let region = s
            .get("sso_region")
            .ok_or_else(|| Error::new(format!("AWS sso-session '{session}' has no sso_region")))?;
        (session.clone(), region.clone())
    } else if let (Some(url), Some(region)) = (p.get("sso_start_url"), p.get("sso_region")) {
        (url.clone(), region.clone())
    } else {
        return Ok(None);
    };
    let (Some(account_id), Some(role_name)) = (account, role) else {
        return Err(Error::new(format!(
            "AWS profile '{name}': SSO profiles need sso_account_id and sso_role_name"
        )));
    };
    Ok(Some(Source::Sso {
        cache_key,
        region,
        account_id: account_id.clone(),
        role_name: role_name.clone(),
    }))
}

impl Source {
    fn into_imds_only(self) -> Source {
        match self {
            Source::FirstOf(v) => Source::FirstOf(
                v.into_iter()
                    .filter(|s| matches!(s, Source::Imds { .. }))
                    .collect(),
            ),
            other => other,
        }
    }

    /// A short description for errors (never secrets).
    pub fn describe(&self) -> String {
        match self {
            Source::Static(_) => "static credentials".into(),
            Source::AssumeRole { role_arn, .. } => format!("assume role {role_arn}"),
            Source::WebIdentity { role_arn, .. } => format!("web identity role {role_arn}"),
            Source::Process(_) => "credential_process".into(),
            Source::Sso {
                account_id,
                role_name,
                ..
            } => format!("SSO {account_id}/{role_name}"),
            Source::Container { url, .. } => format!("container credentials at {url}"),
            Source::Imds { endpoint } => format!("EC2 instance metadata at {endpoint}"),
            Source::FirstOf(v) if v.is_empty() => "none".into(),
            Source::FirstOf(v) => v
                .iter()
                .map(Source::describe)
                .collect::<Vec<_>>()
                .join(", then "),
        }
    }
}

/// Fetches credentials from a source (no caching).
pub struct Fetcher<'a> {
    pub http: &'a Http,
    /// Short timeouts, for the metadata endpoints.
    pub quick: &'a Http,
    pub region: Option<&'a str>,
    pub env: &'a Env,
    pub endpoint_url: Option<&'a str>,
}

fn json_creds(body: &[u8], what: &str, keys: [&str; 4]) -> Result<Credentials> {
    let doc =
        Doc::parse(body).ok_or_else(|| Error::new(format!("{what}: the response is not JSON")))?;
    let get = |k: &str| doc.str_at(&[k]);
    let (Some(ak), Some(sk)) = (get(keys[0]), get(keys[1])) else {
        let code = get("Code").or_else(|| get("message")).unwrap_or_default();
        return Err(Error::new(format!(
            "{what}: no credentials in the response {code}"
        )));
    };
    let expires = get(keys[3])
        .and_then(|e| parse_rfc3339_ns(e.as_bytes()))
        .map(|ns| UNIX_EPOCH + Duration::from_nanos(ns));
    Ok(Credentials {
        access_key: ak,
        secret_key: sk,
        token: get(keys[2]),
        expires,
    })
}

impl Fetcher<'_> {
    pub fn fetch(&self, source: &Source) -> Result<Credentials> {
        match source {
            Source::Static(c) => Ok(c.clone()),
            Source::FirstOf(v) => {
                let mut errors = Vec::new();
                for s in v {
                    match self.fetch(s) {
                        Ok(c) => return Ok(c),
                        Err(e) => errors.push(e.to_string()),
                    }
                }
                Err(Error::new(format!(
                    "no AWS credentials found (tried the environment, the shared config files{}{})",
                    if errors.is_empty() { "" } else { ", " },
                    errors.join("; ")
                )))
            }
            Source::AssumeRole {
                role_arn,
                session_name,
                external_id,
                duration,
                base,
            } => {
                let base_creds = self.fetch(base)?;
                let mut params = vec![
                    ("Action", "AssumeRole".to_string()),
                    ("Version", "2011-06-15".to_string()),
                    ("RoleArn", role_arn.clone()),
                    ("RoleSessionName", session_name.clone()),
                ];
                if let Some(x) = external_id {
                    params.push(("ExternalId", x.clone()));
                }
                if let Some(d) = duration {
                    params.push(("DurationSeconds", d.to_string()));
                }
                self.sts(
                    &params,
                    Some(&base_creds),
                    &format!("STS AssumeRole {role_arn}"),
                )
            }
            Source::WebIdentity {
                role_arn,
                token_file,
                session_name,
            } => {
                let token = std::fs::read_to_string(token_file).map_err(|e| {
                    Error::new(format!("web identity token file {token_file}: {e}"))
                })?;
                let params = [
                    ("Action", "AssumeRoleWithWebIdentity".to_string()),
                    ("Version", "2011-06-15".to_string()),
                    ("RoleArn", role_arn.clone()),
                    ("RoleSessionName", session_name.clone()),
                    ("WebIdentityToken", token.trim().to_string()),
                ];
                self.sts(
                    &params,
                    None,
                    &format!("STS AssumeRoleWithWebIdentity {role_arn}"),
                )
            }
            Source::Process(cmd) => process(cmd),
            Source::Sso {
                cache_key,
                region,
                account_id,
                role_name,
            } => self.sso(cache_key, region, account_id, role_name),
            Source::Container {
                url,
                token,
                token_file,
            } => {
                let mut req = Request::new("GET", url.clone());
                let auth = match token_file {
                    Some(f) => Some(
                        std::fs::read_to_string(f)
                            .map_err(|e| {
                                Error::new(format!("container credentials token file {f}: {e}"))
                            })?
                            .trim()
                            .to_string(),
                    ),
                    None => token.clone(),
                };
                if let Some(a) = auth {
                    req = req.header("Authorization", &a);
                }
                let body = self.get_body(self.quick, &req, "container credentials")?;
                json_creds(
                    &body,
                    "container credentials",
                    ["AccessKeyId", "SecretAccessKey", "Token", "Expiration"],
                )
            }
            Source::Imds { endpoint } => self.imds(endpoint),
        }
    }

    fn get_body(&self, http: &Http, req: &Request, what: &str) -> Result<Vec<u8>> {
        http.retrying(what, || {
            let resp = http.send(req).map_err(super::http::Failure::Transient)?;
            let status = resp.status;
            let body = resp
                .bytes(1 << 20)
                .map_err(super::http::Failure::Transient)?;
            if status == 200 {
                Ok(body)
            } else if transient_status(status, None) {
                Err(super::http::Failure::Transient(format!("HTTP {status}")))
            } else {
                Err(super::http::Failure::Fatal(Error::new(format!(
                    "{what}: HTTP {status}"
                ))))
            }
        })
    }

    fn sts(
        &self,
        params: &[(&str, String)],
        creds: Option<&Credentials>,
        what: &str,
    ) -> Result<Credentials> {
        let region = self.region.unwrap_or("us-east-1");
        let ep = endpoint::resolve("sts", region, self.env, self.endpoint_url);
        let body: String = params
            .iter()
            .map(|(k, v)| format!("{k}={}", super::http::uri_encode(v, false)))
            .collect::<Vec<_>>()
            .join("&");
        let resp_body = self.http.retrying(what, || {
            let mut req = Request::new("POST", format!("{}/", ep.base)).header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            );
            req.body = body.clone().into_bytes();
            if let Some(c) = creds {
                sign_request(&mut req, c, region, "sts", SystemTime::now())
                    .map_err(super::http::Failure::Fatal)?;
            }
            let resp = self
                .http
                .send(&req)
                .map_err(super::http::Failure::Transient)?;
            let status = resp.status;
            let b = resp
                .bytes(1 << 20)
                .map_err(super::http::Failure::Transient)?;
            let code = xml::first(&b, "Error/Code");
            if status == 200 {
                Ok(b)
            } else if transient_status(status, code.as_deref()) {
                Err(super::http::Failure::Transient(format!(
                    "HTTP {status} {}",
                    code.unwrap_or_default()
                )))
            } else {
                let msg = xml::first(&b, "Error/Message").unwrap_or_default();
                Err(super::http::Failure::Fatal(Error::new(format!(
                    "{what}: {} {msg} (HTTP {status})",
                    code.unwrap_or_default()
                ))))
            }
        })?;
        let get = |k: &str| xml::first(&resp_body, &format!("Credentials/{k}"));
        let (Some(ak), Some(sk)) = (get("AccessKeyId"), get("SecretAccessKey")) else {
            return Err(Error::new(format!(
                "{what}: no credentials in the response"
            )));
        };
        Ok(Credentials {
            access_key: ak,
            secret_key: sk,
            token: get("SessionToken"),
            expires: get("Expiration")
                .and_then(|e| parse_rfc3339_ns(e.as_bytes()))
                .map(|ns| UNIX_EPOCH + Duration::from_nanos(ns)),
        })
    }

    fn sso(&self, cache_key: &str, region: &str, account: &str, role: &str) -> Result<Credentials> {
        let home = self
            .env
            .home()
            .ok_or_else(|| Error::new("SSO: HOME is not set"))?;
        let file = home
            .join(".aws/sso/cache")
            .join(format!("{}.json", sha1_hex(cache_key.as_bytes())));
        let text = std::fs::read(&file).map_err(|e| {
            Error::new(format!(
                "SSO: no cached token ({}: {e}); run `aws sso login`",
                file.display()
            ))
        })?;
        let doc = Doc::parse(&text)
            .ok_or_else(|| Error::new(format!("SSO: {} is not JSON", file.display())))?;
        let token = doc
            .str_at(&["accessToken"])
            .ok_or_else(|| Error::new(format!("SSO: no accessToken in {}", file.display())))?;
        if let Some(exp) = doc
            .str_at(&["expiresAt"])
            .and_then(|e| parse_rfc3339_ns(e.as_bytes()))
            && UNIX_EPOCH + Duration::from_nanos(exp) <= SystemTime::now()
        {
            return Err(Error::new(
                "SSO: the cached token expired; run `aws sso login`",
            ));
        }
        let ep = endpoint::resolve("sso", region, self.env, None);
        let url = format!(
            "{}/federation/credentials?account_id={}&role_name={}",
            ep.base,
            super::http::uri_encode(account, false),
            super::http::uri_encode(role, false)
        );
        let req = Request::new("GET", url).header("x-amz-sso_bearer_token", &token);
        let body = self.get_body(self.http, &req, "SSO GetRoleCredentials")?;
        let doc = Doc::parse(&body)
            .ok_or_else(|| Error::new("SSO GetRoleCredentials: the response is not JSON"))?;
        let get = |k: &str| doc.str_at(&["roleCredentials", k]);
        let (Some(ak), Some(sk)) = (get("accessKeyId"), get("secretAccessKey")) else {
            return Err(Error::new(
                "SSO GetRoleCredentials: no credentials in the response",
            ));
        };
        let expires = doc
            .i64_at(&["roleCredentials", "expiration"])
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64));
        Ok(Credentials {
            access_key: ak,
            secret_key: sk,
            token: get("sessionToken"),
            expires,
        })
    }

    fn imds(&self, endpoint: &str) -> Result<Credentials> {
        let token_req = Request::new("PUT", format!("{endpoint}/latest/api/token"))
            .header("x-aws-ec2-metadata-token-ttl-seconds", "21600");
        let token = String::from_utf8_lossy(&self.get_body(
            self.quick,
            &token_req,
            "EC2 instance metadata token",
        )?)
        .trim()
        .to_string();
        let list = Request::new(
            "GET",
            format!("{endpoint}/latest/meta-data/iam/security-credentials/"),
        )
        .header("x-aws-ec2-metadata-token", &token);
        let roles =
            String::from_utf8_lossy(&self.get_body(self.quick, &list, "EC2 instance profile")?)
                .into_owned();
        let role = roles
            .lines()
            .next()
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| Error::new("EC2 instance metadata: no instance profile role"))?
            .trim()
            .to_string();
        let creds = Request::new(
            "GET",
            format!(
                "{endpoint}/latest/meta-data/iam/security-credentials/{}",
                super::http::uri_encode(&role, false)
            ),
        )
        .header("x-aws-ec2-metadata-token", &token);
        let body = self.get_body(self.quick, &creds, "EC2 instance profile credentials")?;
        json_creds(
            &body,
            "EC2 instance profile credentials",
            ["AccessKeyId", "SecretAccessKey", "Token", "Expiration"],
        )
    }
}

fn process(cmd: &str) -> Result<Credentials> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::new(format!("credential_process: cannot run it: {e}")))?;
    if !out.status.success() {
        return Err(Error::new(format!(
            "credential_process exited with {}",
            out.status
        )));
    }
    let doc = Doc::parse(&out.stdout)
        .ok_or_else(|| Error::new("credential_process: the output is not JSON"))?;
    if doc.i64_at(&["Version"]) != Some(1) {
        return Err(Error::new(
            "credential_process: the output must have \"Version\": 1",
        ));
    }
    json_creds(
        &out.stdout,
        "credential_process",
        [
            "AccessKeyId",
            "SecretAccessKey",
            "SessionToken",
            "Expiration",
        ],
    )
}

/// Credentials, fetched on first use and refreshed before they expire.
pub struct Cache {
    source: Source,
    current: Mutex<Option<Credentials>>,
}

impl Cache {
    pub fn new(source: Source) -> Cache {
        Cache {
            source,
            current: Mutex::new(None),
        }
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    pub fn get(&self, f: &Fetcher<'_>) -> Result<Credentials> {
        let mut cur = self
            .current
            .lock()
            .map_err(|_| Error::new("credentials cache poisoned"))?;
        let fresh = cur.as_ref().is_some_and(|c| match c.expires {
            None => true,
            Some(e) => e > SystemTime::now() + REFRESH_MARGIN,
        });
        if !fresh {
            *cur = Some(f.fetch(&self.source)?);
        }
        Ok(cur.clone().expect("set above"))
    }
}

#[cfg(test)]
mod tests;
