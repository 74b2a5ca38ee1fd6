//! The shared `config` and `credentials` files: profiles, `sso-session` sections.
//!
//! The format the AWS SDKs read: INI sections, `[default]` and `[profile name]` in
//! `config`, `[name]` in `credentials` (whose keys win); `key = value` lines; `#`
//! and `;` comments; indented lines continue the previous value (nested blocks such
//! as `s3 =` are kept as raw text and ignored).

use std::collections::HashMap;
use std::path::Path;

use super::env::Env;

/// One section's keys (lower-cased names).
pub type Section = HashMap<String, String>;

#[derive(Debug, Default, Clone)]
pub struct Files {
    profiles: HashMap<String, Section>,
    sso_sessions: HashMap<String, Section>,
}

fn parse(text: &str, is_config: bool, files: &mut Files) {
    let mut current: Option<(bool, String)> = None; // (is sso-session, name)
    let mut last_key: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(inner) = trimmed.strip_prefix('[').and_then(|s| s.split(']').next()) {
            let inner = inner.trim();
            last_key = None;
            current = if !is_config {
                Some((false, inner.to_string()))
            } else if inner == "default" {
                Some((false, "default".into()))
            } else if let Some(n) = inner.strip_prefix("profile ") {
                Some((false, n.trim().to_string()))
            } else {
                // [sso-session x]; [services x] and anything else are ignored.
                inner
                    .strip_prefix("sso-session ")
                    .map(|n| (true, n.trim().to_string()))
            };
            continue;
        }
        let Some((is_sso, name)) = &current else {
            continue;
        };
        let table = if *is_sso {
            &mut files.sso_sessions
        } else {
            &mut files.profiles
        };
        let section = table.entry(name.clone()).or_default();
        if line.starts_with([' ', '\t']) {
            // Continuation of the previous value (e.g. nested service settings).
            if let Some(k) = &last_key
                && let Some(v) = section.get_mut(k)
            {
                v.push('\n');
                v.push_str(trimmed);
            }
            continue;
        }
        if let Some((k, v)) = trimmed.split_once('=') {
            let k = k.trim().to_ascii_lowercase();
            section.insert(k.clone(), strip_comment(v.trim()).to_string());
            last_key = Some(k);
        }
    }
}

/// A value followed by ` #` or ` ;` has a trailing comment.
fn strip_comment(v: &str) -> &str {
    for pat in [" #", "\t#", " ;", "\t;"] {
        if let Some(i) = v.find(pat) {
            return v[..i].trim_end();
        }
    }
    v
}

impl Files {
    /// Loads both files; for a profile in both, the credentials file's keys win.
    pub fn load(config: Option<&Path>, credentials: Option<&Path>) -> Files {
        let mut f = Files::default();
        if let Some(text) = config.and_then(|p| std::fs::read_to_string(p).ok()) {
            parse(&text, true, &mut f);
        }
        let mut c = Files::default();
        if let Some(text) = credentials.and_then(|p| std::fs::read_to_string(p).ok()) {
            parse(&text, false, &mut c);
        }
        for (name, section) in c.profiles {
            f.profiles.entry(name).or_default().extend(section);
        }
        f
    }

    /// The files named by the overrides or the environment.
    pub fn from_env(env: &Env, config: Option<&str>, credentials: Option<&str>) -> Files {
        let cfg = config
            .map(|p| super::env::expand_home(p, env.home()))
            .or_else(|| env.aws_file("AWS_CONFIG_FILE", "config"));
        let creds = credentials
            .map(|p| super::env::expand_home(p, env.home()))
            .or_else(|| env.aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials"));
        Files::load(cfg.as_deref(), creds.as_deref())
    }

    pub fn profile(&self, name: &str) -> Option<&Section> {
        self.profiles.get(name)
    }

    pub fn sso_session(&self, name: &str) -> Option<&Section> {
        self.sso_sessions.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_and_credentials() {
        let dir = std::env::temp_dir().join(format!("ct-profile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config"),
            "[default]\nregion = eu-west-1 # comment\n\n[profile dev]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = default\ns3 =\n  max_concurrent_requests = 4\nregion=us-east-2\n[sso-session corp]\nsso_region = eu-central-1\nsso_start_url = https://x.awsapps.com/start\n[services foo]\ns3 = x\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("credentials"),
            "; creds\n[default]\naws_access_key_id = AKIA1\naws_secret_access_key = s3cr3t\nregion = us-west-2\n",
        )
        .unwrap();
        let f = Files::load(Some(&dir.join("config")), Some(&dir.join("credentials")));
        let d = f.profile("default").unwrap();
        assert_eq!(d["aws_access_key_id"], "AKIA1");
        assert_eq!(d["region"], "us-west-2", "credentials file wins");
        let dev = f.profile("dev").unwrap();
        assert_eq!(dev["role_arn"], "arn:aws:iam::1:role/r");
        assert_eq!(dev["region"], "us-east-2");
        assert!(dev["s3"].contains("max_concurrent_requests"));
        assert_eq!(f.sso_session("corp").unwrap()["sso_region"], "eu-central-1");
        assert!(f.profile("foo").is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
