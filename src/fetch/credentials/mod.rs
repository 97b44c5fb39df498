//! Registry credentials, found the way docker finds them, and never shown.
//!
//! Order (the first source that has something for the registry wins):
//! 1. a user name and password given explicitly ([`Lookup::with_flags`], e.g. from the command
//!    line);
//! 2. `TRUSTPIN_USERNAME` and `TRUSTPIN_PASSWORD` (both, or an error);
//! 3. the docker config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`), as docker
//!    reads it: `credHelpers.<registry>` (a helper for this registry), else `credsStore` (the
//!    helper for every registry), else `auths.<registry>` (`auth` = base64 of `user:password`, or
//!    `identitytoken`).
//!
//! Helpers speak the docker-credential-helpers protocol: `docker-credential-<name> get` with the
//! server URL on stdin, `{"ServerURL","Username","Secret"}` on stdout; a `Username` of `<token>`
//! means `Secret` is an identity token. Docker Hub's key is `https://index.docker.io/v1/`; any
//! other registry's key is its `host[:port]`. A helper gets [`HELPER_TIMEOUT`] and
//! [`HELPER_MAX_OUTPUT`] bytes of output; it is killed past them.
//!
//! Secrets live in [`Secret`], whose `Debug` prints `<redacted>` and which has no `Display`; no
//! error message carries one.

mod docker_config;
mod helpers;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub use self::docker_config::{server_key, CONFIG_MAX_LEN, DOCKER_HUB_KEY};
pub use self::helpers::{HELPER_MAX_OUTPUT, HELPER_TIMEOUT};

/// A password or token. `Debug` shows `<redacted>`; there is no `Display`. Overwritten on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&bytes);
    }
}

/// What is sent to a token server (or, for a Basic challenge, to the server itself).
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// Basic authentication.
    Password { username: String, password: Secret },
    /// An identity (OAuth2 refresh) token as `docker login` stores it for some registries;
    /// exchanged at the token realm with `grant_type=refresh_token`.
    IdentityToken { token: Secret },
}

impl Credential {
    /// The user name, when there is one (never the secret).
    pub fn username(&self) -> Option<&str> {
        match self {
            Credential::Password { username, .. } => Some(username),
            Credential::IdentityToken { .. } => None,
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Password { username, .. } => f
                .debug_struct("Password")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credential::IdentityToken { .. } => f
                .debug_struct("IdentityToken")
                .field("token", &"<redacted>")
                .finish(),
        }
    }
}

/// A credential and where it came from (for messages: "user alice from TRUSTPIN_USERNAME...").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub credential: Credential,
    /// E.g. `the explicit credentials`, `docker-credential-pass (credHelpers in /home/u/.docker/config.json)`.
    pub origin: String,
}

impl Found {
    /// `user "alice" (from TRUSTPIN_USERNAME/TRUSTPIN_PASSWORD)` or `an identity token (from ...)`.
    pub fn describe(&self) -> String {
        match self.credential.username() {
            Some(u) => format!("user {u:?} (from {})", self.origin),
            None => format!("an identity token (from {})", self.origin),
        }
    }
}

/// Why credentials could not be looked up. Never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("docker config {}: {reason}", path.display())]
    Config { path: PathBuf, reason: String },
    #[error("credential helper docker-credential-{helper} (for {server_url}): {reason}")]
    Helper {
        helper: String,
        server_url: String,
        reason: String,
    },
    #[error("{0}")]
    Usage(String),
    /// The user name or password given to [`Lookup::with_flags`] cannot be used.
    #[error("{0}")]
    Explicit(ExplicitProblem),
}

/// What is wrong with an explicitly given user name or password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ExplicitProblem {
    #[error("the user name given is empty")]
    EmptyUsername,
    #[error("the user name given must not contain ':' (basic authentication cannot carry it)")]
    ColonInUsername,
    #[error("the password given is empty")]
    EmptyPassword,
}

/// Gives the credentials for a registry (`docker.io`, `registry.example.com:5000`), if any.
pub trait CredentialProvider: Send + Sync + fmt::Debug {
    fn lookup(&self, registry: &str) -> Result<Option<Found>, CredentialError>;
}

/// The same credential for every registry (tests, embedding).
#[derive(Debug, Clone)]
pub struct Fixed(pub Found);

impl CredentialProvider for Fixed {
    fn lookup(&self, _registry: &str) -> Result<Option<Found>, CredentialError> {
        Ok(Some(self.0.clone()))
    }
}

/// Which sources a [`Lookup`] may use (e.g. per trust policy).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sources {
    /// Flags, environment, docker config: docker's order.
    #[default]
    Docker,
    /// Flags and `TRUSTPIN_USERNAME`/`TRUSTPIN_PASSWORD` only.
    Env,
    /// No credentials: anonymous only.
    None,
}

impl Sources {
    /// `docker`, `env` or `none`.
    pub fn parse(s: &str) -> Option<Sources> {
        match s {
            "docker" => Some(Sources::Docker),
            "env" => Some(Sources::Env),
            "none" => Some(Sources::None),
            _ => None,
        }
    }
}

/// docker's lookup order over flags, environment and docker config; results cached per registry
/// for the run (a helper runs at most once per registry).
pub struct Lookup {
    flags: Option<Found>,
    env: Option<Found>,
    config_path: Option<PathBuf>,
    config: OnceLock<Result<Option<serde_json::Value>, CredentialError>>,
    cache: Mutex<HashMap<String, Result<Option<Found>, CredentialError>>>,
    helper_timeout: Duration,
}

impl fmt::Debug for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lookup")
            .field("flags", &self.flags)
            .field("env", &self.env)
            .field("config_path", &self.config_path)
            .finish_non_exhaustive()
    }
}

impl Default for Lookup {
    fn default() -> Self {
        Lookup::new()
    }
}

impl Lookup {
    /// Nothing configured: every lookup answers `None`.
    pub fn new() -> Lookup {
        Lookup {
            flags: None,
            env: None,
            config_path: None,
            config: OnceLock::new(),
            cache: Mutex::new(HashMap::new()),
            helper_timeout: HELPER_TIMEOUT,
        }
    }

    /// Flags, `TRUSTPIN_USERNAME`/`TRUSTPIN_PASSWORD` and the docker config at its usual place,
    /// read from this process's environment.
    pub fn from_environment(flags: Option<(String, Secret)>) -> Result<Lookup, CredentialError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut lookup = Lookup::new();
        if let Some((username, password)) = flags {
            lookup = lookup.with_flags(username, password)?;
        }
        match (var("TRUSTPIN_USERNAME"), var("TRUSTPIN_PASSWORD")) {
            (Some(username), Some(password)) => {
                lookup.env = Some(Found {
                    credential: Credential::Password {
                        username,
                        password: Secret::new(password),
                    },
                    origin: "TRUSTPIN_USERNAME/TRUSTPIN_PASSWORD".into(),
                });
            }
            (Some(_), None) => {
                return Err(CredentialError::Usage(
                    "TRUSTPIN_USERNAME is set but TRUSTPIN_PASSWORD is not".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(CredentialError::Usage(
                    "TRUSTPIN_PASSWORD is set but TRUSTPIN_USERNAME is not".into(),
                ))
            }
            (None, None) => {}
        }
        let dir = match var("DOCKER_CONFIG") {
            Some(dir) => Some(PathBuf::from(dir)),
            None => var("HOME").map(|home| Path::new(&home).join(".docker")),
        };
        lookup.config_path = dir.map(|d| d.join("config.json"));
        Ok(lookup)
    }

    /// A user name and password given explicitly (e.g. on the command line); they come before
    /// every other source. Their origin in messages is `the explicit credentials`.
    pub fn with_flags(
        mut self,
        username: String,
        password: Secret,
    ) -> Result<Lookup, CredentialError> {
        let problem = if username.is_empty() {
            Some(ExplicitProblem::EmptyUsername)
        } else if username.contains(':') {
            Some(ExplicitProblem::ColonInUsername)
        } else if password.is_empty() {
            Some(ExplicitProblem::EmptyPassword)
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(CredentialError::Explicit(problem));
        }
        self.flags = Some(Found {
            credential: Credential::Password { username, password },
            origin: "the explicit credentials".into(),
        });
        Ok(self)
    }

    /// Read the docker config from `path` (instead of `$DOCKER_CONFIG` / `~/.docker`).
    pub fn with_docker_config(mut self, path: impl Into<PathBuf>) -> Lookup {
        self.config_path = Some(path.into());
        self.config = OnceLock::new();
        self
    }

    /// Never read a docker config (flags and environment only).
    pub fn without_docker_config(mut self) -> Lookup {
        self.config_path = None;
        self.config = OnceLock::new();
        self
    }

    /// How long a credential helper may run (default [`HELPER_TIMEOUT`]).
    pub fn with_helper_timeout(mut self, timeout: Duration) -> Lookup {
        self.helper_timeout = timeout;
        self
    }

    /// The docker config file this lookup reads, if any.
    pub fn docker_config_path(&self) -> Option<&Path> {
        self.config_path.as_deref()
    }

    fn docker_config(&self) -> Result<Option<&serde_json::Value>, CredentialError> {
        let loaded = self.config.get_or_init(|| match &self.config_path {
            None => Ok(None),
            Some(path) => docker_config::read_config(path),
        });
        match loaded {
            Ok(v) => Ok(v.as_ref()),
            Err(e) => Err(e.clone()),
        }
    }

    fn lookup_uncached(&self, registry: &str) -> Result<Option<Found>, CredentialError> {
        if let Some(found) = &self.flags {
            return Ok(Some(found.clone()));
        }
        if let Some(found) = &self.env {
            return Ok(Some(found.clone()));
        }
        let Some(config) = self.docker_config()? else {
            return Ok(None);
        };
        let path = self.config_path.as_deref().unwrap_or(Path::new(""));
        docker_config::lookup(config, path, registry, self.helper_timeout)
    }
}

impl CredentialProvider for Lookup {
    fn lookup(&self, registry: &str) -> Result<Option<Found>, CredentialError> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = cache.get(registry) {
            return hit.clone();
        }
        // Held while a helper runs: concurrent fetches ask the helper once.
        let result = self.lookup_uncached(registry);
        cache.insert(registry.to_owned(), result.clone());
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug() {
        let found = Found {
            credential: Credential::Password {
                username: "alice".into(),
                password: Secret::new("hunter2-very-secret"),
            },
            origin: "test".into(),
        };
        let dbg = format!("{found:?} {:?}", Secret::new("hunter2-very-secret"));
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("alice"), "{dbg}");
        let token = Credential::IdentityToken {
            token: Secret::new("tok-very-secret"),
        };
        assert!(!format!("{token:?}").contains("tok-very"));
        let lookup = Lookup::new()
            .with_flags("bob".into(), Secret::new("pw-very-secret"))
            .unwrap();
        assert!(!format!("{lookup:?}").contains("pw-very"));
    }

    #[test]
    fn flags_come_first() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config.json");
        // "Y2ZnOnB3" is base64 of cfg:pw.
        std::fs::write(&path, r#"{"auths":{"r.example":{"auth":"Y2ZnOnB3"}}}"#).unwrap();
        let lookup = Lookup::new()
            .with_docker_config(path)
            .with_flags("flag".into(), Secret::new("x"))
            .unwrap();
        let found = lookup.lookup("r.example").unwrap().unwrap();
        assert_eq!(found.credential.username(), Some("flag"));
        assert_eq!(found.origin, "the explicit credentials");
    }

    #[test]
    fn unusable_explicit_credentials_say_what_is_wrong() {
        let given = |user: &str, pw: &str| {
            Lookup::new()
                .with_flags(user.into(), Secret::new(pw))
                .unwrap_err()
        };
        let explicit = CredentialError::Explicit;
        assert_eq!(given("", "pw"), explicit(ExplicitProblem::EmptyUsername));
        assert_eq!(
            given("a:b", "pw"),
            explicit(ExplicitProblem::ColonInUsername)
        );
        assert_eq!(given("alice", ""), explicit(ExplicitProblem::EmptyPassword));
        assert_eq!(given("", "pw").to_string(), "the user name given is empty");
    }
}
