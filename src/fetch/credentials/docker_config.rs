//! docker's config.json, read as docker reads it: `credHelpers.<registry>` (a helper for this
//! registry), else `credsStore` (the helper for every registry), else `auths.<registry>` (`auth`
//! = base64 of `user:password`, or `identitytoken`), with Docker Hub under its legacy key and
//! keys written as URLs matched by host.

use std::io::{self, Read};
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;

use super::helpers::run_helper;
use super::{Credential, CredentialError, Found, Secret};

/// Docker Hub's key in the docker config and for credential helpers.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";
/// Largest docker config file read.
pub const CONFIG_MAX_LEN: u64 = 4 * 1024 * 1024;

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

/// The credentials the docker config at `path` (read as `config`) holds for `registry`, running
/// the helper it names with `helper_timeout`.
pub(super) fn lookup(
    config: &serde_json::Value,
    path: &Path,
    registry: &str,
    helper_timeout: Duration,
) -> Result<Option<Found>, CredentialError> {
    let key = server_key(registry);
    let bad = |reason: String| CredentialError::Config {
        path: path.to_owned(),
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
        return run_helper(name, &key, helper_timeout, origin);
    }
    match config.get("credsStore") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::String(name)) if name.is_empty() => {}
        Some(serde_json::Value::String(name)) => {
            let origin = format!(
                "docker-credential-{name} (credsStore in {})",
                path.display()
            );
            return run_helper(name, &key, helper_timeout, origin);
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

pub(super) fn read_config(path: &Path) -> Result<Option<serde_json::Value>, CredentialError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::credentials::{CredentialProvider, Lookup};

    /// A lookup reading `text` as its docker config, in a folder that lives as long as the guard.
    fn config(text: &str) -> (tempfile::TempDir, Lookup) {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config.json");
        std::fs::write(&path, text).unwrap();
        (tmp, Lookup::new().with_docker_config(path))
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    /// A docker config whose `auths` give each key the `auth` of its `user:password`.
    fn auths(entries: &[(&str, &str)]) -> (tempfile::TempDir, Lookup) {
        let auths: serde_json::Map<String, serde_json::Value> = entries
            .iter()
            .map(|(key, user_pw)| (key.to_string(), serde_json::json!({ "auth": b64(user_pw) })))
            .collect();
        config(&serde_json::json!({ "auths": auths }).to_string())
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
    fn auths_entry_is_decoded() {
        let (_tmp, lookup) = auths(&[
            ("r.example:5000", "alice:pa:ss"),
            ("https://index.docker.io/v1/", "hub:hubpw"),
        ]);
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
        let (_tmp, lookup) = auths(&[("https://r.example/v1/", "u:p")]);
        assert!(lookup.lookup("r.example").unwrap().is_some());
    }

    #[test]
    fn identity_token_wins_over_auth() {
        let (_tmp, lookup) = config(
            &serde_json::json!({
                "auths": { "r.example": { "auth": b64("u:p"), "identitytoken": "refresh-me" } }
            })
            .to_string(),
        );
        match lookup.lookup("r.example").unwrap().unwrap().credential {
            Credential::IdentityToken { token } => assert_eq!(token.expose(), "refresh-me"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn broken_config_is_an_error_without_its_content() {
        let (_tmp, lookup) = config(r#"{"auths":{"r.example":{"auth":"%%%secretish"}}}"#);
        let err = lookup.lookup("r.example").unwrap_err().to_string();
        assert!(err.contains("not base64"), "{err}");
        assert!(!err.contains("secretish"), "{err}");
        let (_tmp, lookup) = config("{not json secretish");
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
    fn a_helper_named_in_the_config_cannot_be_a_path() {
        let (_tmp, lookup) = config(r#"{"credHelpers":{"r.example":"../../bin/sh"}}"#);
        let err = lookup.lookup("r.example").unwrap_err();
        assert!(matches!(err, CredentialError::Helper { .. }), "{err}");
    }
}
