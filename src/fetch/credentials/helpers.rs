//! Credential helpers: `docker-credential-<name> get` run as the docker-credential-helpers
//! protocol says, with the server URL on stdin and the answer on stdout, held to
//! [`HELPER_TIMEOUT`] and [`HELPER_MAX_OUTPUT`] bytes (killed past them); a failed helper's
//! message is shortened and never shows anything that looks like the JSON answer.

use std::io::{self, Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::{Credential, CredentialError, Found, Secret};

/// Longest a credential helper may run.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(20);
/// Most bytes read from a credential helper's stdout (and stderr).
pub const HELPER_MAX_OUTPUT: u64 = 64 * 1024;

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
pub(super) fn run_helper(
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

    #[test]
    fn helper_names_cannot_be_paths() {
        for bad in ["", "../x", "a/b", ".hidden", "a b", "a\\b"] {
            assert!(!valid_helper_name(bad), "{bad}");
        }
        for good in ["pass", "osxkeychain", "ecr-login", "gcloud", "a.b_c"] {
            assert!(valid_helper_name(good), "{good}");
        }
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
