//! Registry credentials, found the way docker finds them, and never shown.
//!
//! Order (the first source that has something for the registry wins):
//! 1. `--username` with `--password-stdin` ([`Lookup::with_flags`]);
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

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;

/// Docker Hub's key in the docker config and for credential helpers.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";
/// Longest a credential helper may run.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(20);
/// Most bytes read from a credential helper's stdout (and stderr).
pub const HELPER_MAX_OUTPUT: u64 = 64 * 1024;
/// Largest docker config file read.
pub const CONFIG_MAX_LEN: u64 = 4 * 1024 * 1024;

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
    /// E.g. `--username/--password-stdin`, `docker-credential-pass (credHelpers in /home/u/.docker/config.json)`.
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

/// The key docker uses for `registry` in its config and with credential helpers:
/// [`DOCKER_HUB_KEY`] for Docker Hub (`docker.io`, `index.docker.io`, `registry-1.docker.io`),
/// else the registry as written.
pub fn server_key(registry: &str) -> String {
    match registry.to_ascii_lowercase().as_str() {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_owned(),
        _ => registry.to_owned(),
    }
}

/// docker's `ConvertToHostname`: the host[:port] of a config key written as a URL.
fn key_hostname(key: &str) -> &str {
    let rest = key
        .strip_prefix("http://")
        .or_else(|| key.strip_prefix("https://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
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

    /// `--username` with the password read from stdin.
    pub fn with_flags(
        mut self,
        username: String,
        password: Secret,
    ) -> Result<Lookup, CredentialError> {
        if username.is_empty() {
            return Err(CredentialError::Usage("--username is empty".into()));
        }
        if username.contains(':') {
            return Err(CredentialError::Usage(
                "--username must not contain ':' (basic authentication cannot carry it)".into(),
            ));
        }
        if password.is_empty() {
            return Err(CredentialError::Usage(
                "--password-stdin: the password read from stdin is empty".into(),
            ));
        }
        self.flags = Some(Found {
            credential: Credential::Password { username, password },
            origin: "--username/--password-stdin".into(),
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
            Some(path) => read_config(path),
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
        let path = self.config_path.clone().unwrap_or_default();
        let key = server_key(registry);
        let bad = |reason: String| CredentialError::Config {
            path: path.clone(),
            reason,
        };

        // credHelpers.<registry>, else credsStore: docker's GetCredentialsStore.
        let helpers = config.get("credHelpers");
        if helpers.is_some_and(|h| !h.is_object() && !h.is_null()) {
            return Err(bad("credHelpers is not an object".into()));
        }
        let helper = helpers
            .and_then(|h| h.as_object())
            .and_then(|h| entry_for(h, &key))
            .map(|(_, v)| v);
        if let Some(helper) = helper {
            let name = helper
                .as_str()
                .ok_or_else(|| bad(format!("credHelpers[{key:?}] is not a string")))?;
            let origin = format!(
                "docker-credential-{name} (credHelpers in {})",
                path.display()
            );
            return run_helper(name, &key, self.helper_timeout, origin);
        }
        match config.get("credsStore") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(name)) if name.is_empty() => {}
            Some(serde_json::Value::String(name)) => {
                let origin = format!(
                    "docker-credential-{name} (credsStore in {})",
                    path.display()
                );
                return run_helper(name, &key, self.helper_timeout, origin);
            }
            Some(_) => return Err(bad("credsStore is not a string".into())),
        }

        let auths = match config.get("auths") {
            None | Some(serde_json::Value::Null) => return Ok(None),
            Some(serde_json::Value::Object(m)) => m,
            Some(_) => return Err(bad("auths is not an object".into())),
        };
        let Some((found_key, entry)) = entry_for(auths, &key) else {
            return Ok(None);
        };
        let origin = format!("{} (auths[{found_key:?}])", path.display());
        let field = |name: &str| -> Result<Option<String>, CredentialError> {
            match entry.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(bad(format!("auths[{found_key:?}].{name} is not a string"))),
            }
        };
        if let Some(token) = field("identitytoken")? {
            return Ok(Some(Found {
                credential: Credential::IdentityToken {
                    token: Secret::new(token),
                },
                origin,
            }));
        }
        if let Some(auth) = field("auth")? {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| bad(format!("auths[{found_key:?}].auth is not base64")))?;
            let decoded = Secret::new(String::from_utf8(decoded).map_err(|_| {
                bad(format!(
                    "auths[{found_key:?}].auth is not UTF-8 user:password"
                ))
            })?);
            let Some((user, pass)) = decoded.expose().split_once(':') else {
                return Err(bad(format!(
                    "auths[{found_key:?}].auth is not base64 of user:password"
                )));
            };
            if user.is_empty() {
                return Err(bad(format!(
                    "auths[{found_key:?}].auth has an empty user name"
                )));
            }
            return Ok(Some(Found {
                credential: Credential::Password {
                    username: user.to_owned(),
                    password: Secret::new(pass.trim_end_matches(['\n', '\r'])),
                },
                origin,
            }));
        }
        if let (Some(username), Some(password)) = (field("username")?, field("password")?) {
            return Ok(Some(Found {
                credential: Credential::Password {
                    username,
                    password: Secret::new(password),
                },
                origin,
            }));
        }
        Ok(None)
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

/// The entry for `key`: exactly, else one whose key names the same host (docker accepts legacy
/// keys written as URLs, e.g. `https://registry.example.com/v1/`).
fn entry_for<'a>(
    map: &'a serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Option<(&'a String, &'a serde_json::Value)> {
    if let Some(found) = map.get_key_value(key) {
        return Some(found);
    }
    let host = key_hostname(key);
    let mut candidates: Vec<_> = map
        .iter()
        .filter(|(k, _)| key_hostname(k).eq_ignore_ascii_case(host))
        .collect();
    candidates.sort_by(|a, b| a.0.cmp(b.0));
    candidates.into_iter().next()
}

fn read_config(path: &Path) -> Result<Option<serde_json::Value>, CredentialError> {
    let bad = |reason: String| CredentialError::Config {
        path: path.to_owned(),
        reason,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad(e.to_string())),
    };
    if file.metadata().map(|m| !m.is_file()).unwrap_or(true) {
        return Err(bad("not a regular file".into()));
    }
    let mut bytes = Vec::new();
    file.take(CONFIG_MAX_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(e.to_string()))?;
    if bytes.len() as u64 > CONFIG_MAX_LEN {
        return Err(bad(format!("larger than {CONFIG_MAX_LEN} bytes")));
    }
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        // serde_json's message names a line and column, never the content.
        .map_err(|e| bad(format!("not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(bad("not a JSON object".into()));
    }
    Ok(Some(value))
}

/// A helper name docker would turn into `docker-credential-<name>`; nothing that could name a
/// path.
fn valid_helper_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Runs `docker-credential-<name> get` with `server_url` on stdin.
fn run_helper(
    name: &str,
    server_url: &str,
    timeout: Duration,
    origin: String,
) -> Result<Option<Found>, CredentialError> {
    let fail = |reason: String| CredentialError::Helper {
        helper: name.escape_debug().to_string(),
        server_url: server_url.to_owned(),
        reason,
    };
    if !valid_helper_name(name) {
        return Err(fail(
            "not a valid helper name (letters, digits, '-', '_', '.')".into(),
        ));
    }
    let program = format!("docker-credential-{name}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                fail(format!("{program} is not on PATH"))
            } else {
                fail(format!("cannot start {program}: {e}"))
            }
        })?;
    let started = Instant::now();

    if let Some(mut stdin) = child.stdin.take() {
        let input = server_url.as_bytes().to_vec();
        // A helper that does not read its stdin must not block us: write from a thread.
        let _ = thread::Builder::new()
            .name("trustpin-helper-stdin".into())
            .spawn(move || {
                let _ = stdin.write_all(&input);
            });
    }
    let collect = |pipe: Option<Box<dyn Read + Send>>| {
        let (tx, rx) = mpsc::sync_channel(1);
        if let Some(pipe) = pipe {
            let _ = thread::Builder::new()
                .name("trustpin-helper-read".into())
                .spawn(move || {
                    let mut out = Vec::new();
                    let r = pipe.take(HELPER_MAX_OUTPUT + 1).read_to_end(&mut out);
                    let _ = tx.send(r.map(|_| out));
                });
        } else {
            let _ = tx.send(Ok(Vec::new()));
        }
        rx
    };
    let stdout = collect(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = collect(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );

    let deadline = started + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!("no answer within {timeout:?}; killed")));
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(fail(format!("waiting for it failed: {e}"))),
        }
    };
    let remaining = || deadline.saturating_duration_since(Instant::now());
    let read =
        |rx: mpsc::Receiver<io::Result<Vec<u8>>>, what: &str| match rx.recv_timeout(remaining()) {
            Ok(Ok(bytes)) if bytes.len() as u64 > HELPER_MAX_OUTPUT => Err(fail(format!(
                "its {what} is longer than {HELPER_MAX_OUTPUT} bytes"
            ))),
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(e)) => Err(fail(format!("reading its {what} failed: {e}"))),
            Err(_) => Err(fail(format!(
                "its {what} did not end within {timeout:?} (a process it started keeps it open)"
            ))),
        };
    let out = read(stdout, "output")?;
    let err = read(stderr, "error output").unwrap_or_default();

    if !status.success() {
        // The protocol puts the error message on stdout; "credentials not found" is not an error.
        let message = helper_message(&out, &err);
        if message
            .to_ascii_lowercase()
            .contains("credentials not found")
        {
            return Ok(None);
        }
        return Err(fail(format!("{status}: {message}")));
    }
    let value: serde_json::Value = serde_json::from_slice(&out)
        .map_err(|_| fail("its output is not the JSON the protocol asks for".into()))?;
    let text = |k: &str| {
        value
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned()
    };
    let (username, secret) = (text("Username"), Secret::new(text("Secret")));
    if secret.is_empty() {
        return Ok(None);
    }
    let credential = if username == "<token>" {
        Credential::IdentityToken { token: secret }
    } else if username.is_empty() {
        return Err(fail("it gave a secret without a user name".into()));
    } else {
        Credential::Password {
            username,
            password: secret,
        }
    };
    Ok(Some(Found { credential, origin }))
}

/// A short, printable message from a failed helper: stdout unless it looks like JSON (which
/// could hold a secret), else stderr; one line, at most 200 characters, control characters
/// escaped.
fn helper_message(out: &[u8], err: &[u8]) -> String {
    let pick = |b: &[u8]| {
        let s = String::from_utf8_lossy(b).trim().to_owned();
        (!s.is_empty() && !s.starts_with('{')).then_some(s)
    };
    let Some(text) = pick(out).or_else(|| pick(err)) else {
        return "no message".into();
    };
    let line = text.lines().next().unwrap_or("");
    let mut short: String = line.chars().take(200).collect();
    if line.chars().count() > 200 {
        short.push('…');
    }
    short.escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, json: &str) -> Lookup {
        let path = dir.join("config.json");
        std::fs::write(&path, json).unwrap();
        Lookup::new().with_docker_config(path)
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

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
    fn docker_hub_has_its_legacy_key() {
        assert_eq!(server_key("docker.io"), DOCKER_HUB_KEY);
        assert_eq!(server_key("index.docker.io"), DOCKER_HUB_KEY);
        assert_eq!(
            server_key("registry.example.com:5000"),
            "registry.example.com:5000"
        );
        assert_eq!(
            key_hostname("https://index.docker.io/v1/"),
            "index.docker.io"
        );
        assert_eq!(key_hostname("registry.example.com"), "registry.example.com");
    }

    #[test]
    fn flags_come_first() {
        let tmp = tempfile::tempdir().unwrap();
        let lookup = config(
            tmp.path(),
            &format!(
                r#"{{"auths":{{"r.example":{{"auth":"{}"}}}}}}"#,
                b64("cfg:pw")
            ),
        )
        .with_flags("flag".into(), Secret::new("x"))
        .unwrap();
        let found = lookup.lookup("r.example").unwrap().unwrap();
        assert_eq!(found.credential.username(), Some("flag"));
        assert_eq!(found.origin, "--username/--password-stdin");
    }

    #[test]
    fn auths_entry_is_decoded() {
        let tmp = tempfile::tempdir().unwrap();
        let lookup = config(
            tmp.path(),
            &format!(
                r#"{{"auths":{{"r.example:5000":{{"auth":"{}"}},"https://index.docker.io/v1/":{{"auth":"{}"}}}}}}"#,
                b64("alice:pa:ss"),
                b64("hub:hubpw")
            ),
        );
        match lookup.lookup("r.example:5000").unwrap().unwrap().credential {
            Credential::Password { username, password } => {
                assert_eq!(username, "alice");
                assert_eq!(password.expose(), "pa:ss");
            }
            other => panic!("{other:?}"),
        }
        let hub = lookup.lookup("docker.io").unwrap().unwrap();
        assert_eq!(hub.credential.username(), Some("hub"));
        assert!(lookup.lookup("other.example").unwrap().is_none());
    }

    #[test]
    fn legacy_url_keys_match_by_host() {
        let tmp = tempfile::tempdir().unwrap();
        let lookup = config(
            tmp.path(),
            &format!(
                r#"{{"auths":{{"https://r.example/v1/":{{"auth":"{}"}}}}}}"#,
                b64("u:p")
            ),
        );
        assert!(lookup.lookup("r.example").unwrap().is_some());
    }

    #[test]
    fn identity_token_wins_over_auth() {
        let tmp = tempfile::tempdir().unwrap();
        let lookup = config(
            tmp.path(),
            &format!(
                r#"{{"auths":{{"r.example":{{"auth":"{}","identitytoken":"refresh-me"}}}}}}"#,
                b64("u:p")
            ),
        );
        match lookup.lookup("r.example").unwrap().unwrap().credential {
            Credential::IdentityToken { token } => assert_eq!(token.expose(), "refresh-me"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn broken_config_is_an_error_without_its_content() {
        let tmp = tempfile::tempdir().unwrap();
        let lookup = config(
            tmp.path(),
            r#"{"auths":{"r.example":{"auth":"%%%secretish"}}}"#,
        );
        let err = lookup.lookup("r.example").unwrap_err().to_string();
        assert!(err.contains("not base64"), "{err}");
        assert!(!err.contains("secretish"), "{err}");
        let lookup = config(tmp.path(), "{not json secretish");
        let err = lookup.lookup("r.example").unwrap_err().to_string();
        assert!(!err.contains("secretish"), "{err}");
    }

    #[test]
    fn missing_config_means_no_credentials() {
        let tmp = tempfile::tempdir().unwrap();
        let lookup = Lookup::new().with_docker_config(tmp.path().join("nope.json"));
        assert!(lookup.lookup("r.example").unwrap().is_none());
    }

    #[test]
    fn helper_names_cannot_be_paths() {
        for bad in ["", "../x", "a/b", ".hidden", "a b", "a\\b"] {
            assert!(!valid_helper_name(bad), "{bad}");
        }
        for good in ["pass", "osxkeychain", "ecr-login", "gcloud", "a.b_c"] {
            assert!(valid_helper_name(good), "{good}");
        }
        let tmp = tempfile::tempdir().unwrap();
        let lookup = config(
            tmp.path(),
            r#"{"credHelpers":{"r.example":"../../bin/sh"}}"#,
        );
        let err = lookup.lookup("r.example").unwrap_err();
        assert!(matches!(err, CredentialError::Helper { .. }), "{err}");
    }

    #[test]
    fn helper_messages_are_short_and_never_json() {
        assert_eq!(
            helper_message(b"credentials not found in native keychain\n", b""),
            "credentials not found in native keychain"
        );
        assert_eq!(helper_message(br#"{"Secret":"s3cr3t"}"#, b"oops"), "oops");
        assert_eq!(helper_message(b"", b""), "no message");
        assert!(helper_message(&[b'x'; 500], b"").chars().count() <= 201);
    }
}
