//! The process environment as the AWS code sees it: a snapshot taken at open, so
//! that the configuration cannot change under a running source, and so that tests
//! can describe an environment without touching the process's.

use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The current process environment.
    pub fn from_process() -> Env {
        Env {
            vars: std::env::vars().collect(),
        }
    }

    /// An environment with exactly these variables (tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// A variable's value, if set and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A boolean flag (`true`, case-insensitive).
    pub fn flag(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    pub fn home(&self) -> Option<PathBuf> {
        self.get("HOME").map(PathBuf::from)
    }

    /// `~/.aws/<name>`, or the path in `var` when set.
    pub fn aws_file(&self, var: &str, name: &str) -> Option<PathBuf> {
        match self.get(var) {
            Some(p) => Some(expand_home(p, self.home())),
            None => self.home().map(|h| h.join(".aws").join(name)),
        }
    }
}

/// `~/x` → `$HOME/x`.
pub fn expand_home(p: &str, home: Option<PathBuf>) -> PathBuf {
    match (p.strip_prefix("~/"), home) {
        (Some(rest), Some(h)) => h.join(rest),
        _ => PathBuf::from(p),
    }
}
