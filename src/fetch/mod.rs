//! Where trust data comes from: one small trait, [`Source`], with an HTTP implementation
//! ([`http::HttpSource`], a Notary server) and a folder implementation ([`dir::DirSource`], the
//! server's URL layout on disk).
//!
//! Both check the repository name and role name before building any URL or path, and both read
//! at most `max_len` bytes: a longer file is an error ([`SourceError::TooLarge`]), never truncated.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::reference::{self, Gun};
use crate::tuf::role::RoleName;

pub mod archive;
pub mod auth;
pub mod cache;
pub mod credentials;
pub mod dir;
pub mod http;
pub mod oci;
pub mod revocation;
pub mod trace;

pub use crate::tuf::role::ROLE_MAX_LEN;

/// Fetches Notary v1 metadata files. Names arrive validated ([`Gun`], [`RoleName`]): no
/// implementation re-checks them, and none can be handed one that could escape a URL or a folder.
pub trait Source: Send + Sync {
    /// Fetch metadata file `role` (`root`, `timestamp`, `snapshot`, `targets`,
    /// `targets/releases`, `targets/a/b`, or a versioned root `2.root`) of repository `gun`,
    /// reading at most `max_len` bytes: a longer body is [`SourceError::TooLarge`], never
    /// truncated, and nothing is buffered past `max_len + 1` bytes.
    fn fetch(&self, gun: &Gun, role: &RoleName, max_len: u64) -> Fetch {
        self.fetch_many(gun, &[(role.clone(), max_len)], Wave::one())
            .pop()
            .unwrap_or_else(|| Err(no_answer(self.location(gun, role))))
    }

    /// Fetch several files of repository `gun` (role and `max_len` each), at most
    /// `wave.parallel` at a time and none past `wave.until`; the results come in the order
    /// asked. HTTP overlaps the requests on one thread, a folder reads in turn.
    fn fetch_many(&self, gun: &Gun, wanted: &[(RoleName, u64)], wave: Wave) -> Vec<Fetch>;

    /// Where that file lives (URL or path), for messages.
    fn location(&self, gun: &Gun, role: &RoleName) -> String;
}

/// How one wave of fetches runs: how many at once, and the instant by which every one of them
/// has answered or failed (a repository's deadline reaches into the requests in flight, not only
/// the ones not yet sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wave {
    pub parallel: usize,
    pub until: Option<Instant>,
}

impl Wave {
    /// One request, with no deadline beyond the source's own timeout.
    pub fn one() -> Wave {
        Wave::of(1)
    }

    /// `parallel` at a time, with no deadline beyond the source's own timeout.
    pub fn of(parallel: usize) -> Wave {
        Wave {
            parallel,
            until: None,
        }
    }

    /// What is left of `timeout` before `until` (all of it with no `until`); zero once past.
    pub fn cap(&self, timeout: Duration) -> Duration {
        match self.until {
            Some(until) => timeout.min(until.saturating_duration_since(Instant::now())),
            None => timeout,
        }
    }
}

/// A fetch that ended without a result (cannot happen: every request is answered or fails).
fn no_answer(location: String) -> SourceError {
    SourceError::Io {
        location,
        source: std::io::Error::other("no answer was recorded"),
    }
}

/// A reference, box or `Arc` of a source fetches as that source.
macro_rules! forward_source {
    ($($pointer:ty),*) => {$(
        impl<S: Source + ?Sized> Source for $pointer {
            fn fetch(&self, gun: &Gun, role: &RoleName, max_len: u64) -> Fetch {
                (**self).fetch(gun, role, max_len)
            }
            fn fetch_many(&self, gun: &Gun, wanted: &[(RoleName, u64)], wave: Wave) -> Vec<Fetch> {
                (**self).fetch_many(gun, wanted, wave)
            }
            fn location(&self, gun: &Gun, role: &RoleName) -> String {
                (**self).location(gun, role)
            }
        }
    )*};
}

forward_source!(&S, Box<S>, std::sync::Arc<S>);

/// The outcome of one fetch.
pub type Fetch = Result<Vec<u8>, SourceError>;

/// Why a metadata file could not be fetched. Every variant names the URL or path.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// HTTP 404, or no such file in the folder.
    #[error("{location}: not found")]
    NotFound { location: String },

    /// The body (or the announced Content-Length, or the file size) is over the limit.
    #[error("{location}: larger than the limit of {limit} bytes; refused")]
    TooLarge { location: String, limit: u64 },

    /// No complete answer (headers and whole body) within the configured time.
    #[error("{location}: no complete answer within {after:?}")]
    Timeout { location: String, after: Duration },

    /// A status other than 2xx and 404 (and other than a refused redirect).
    #[error("{location}: the server answered HTTP {status}")]
    Status { location: String, status: u16 },

    /// A redirect that was not followed: to another scheme, host or port, or too many of them.
    #[error(
        "{location}: redirected to {to}; only redirects within the same server (scheme, host and \
         port, at most {max}) are followed"
    )]
    Redirect {
        location: String,
        to: String,
        max: usize,
    },

    /// Could not connect: DNS, TCP, TLS handshake or certificate verification.
    #[error("{location}: cannot connect: {cause}")]
    Connect {
        location: String,
        /// The innermost cause, e.g. `invalid peer certificate: UnknownIssuer`.
        cause: String,
        #[source]
        source: reqwest::Error,
    },

    /// The connection broke, or the server spoke broken HTTP (e.g. a body shorter than its
    /// Content-Length).
    #[error("{location}: {cause}")]
    Http {
        location: String,
        cause: String,
        #[source]
        source: reqwest::Error,
    },

    /// A file could not be read (or an HTTP body read failed at the I/O level).
    #[error("{location}: {source}")]
    Io {
        location: String,
        #[source]
        source: std::io::Error,
    },

    /// A repository or role name that is not valid; nothing was requested.
    #[error("invalid {what} {name:?}: {reason}")]
    BadName {
        what: &'static str,
        name: String,
        reason: String,
    },

    /// The server URL given to [`http::HttpSource::new`] is not usable.
    #[error("invalid server URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },

    /// An extra CA bundle could not be read or parsed.
    #[error("CA certificates {}: {reason}", path.display())]
    BadCa { path: PathBuf, reason: String },

    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client: {cause}")]
    Client {
        cause: String,
        #[source]
        source: reqwest::Error,
    },

    /// Authentication failed: no credentials for a Basic challenge, the token server refused the
    /// credentials (or answered unusably, or not in time), or the server refused the token.
    /// Never carries a secret.
    #[error("{location}: authentication at {realm} failed: {reason}")]
    Auth {
        location: String,
        /// The token realm (Bearer) or the server (Basic).
        realm: String,
        reason: String,
        /// No credentials were found for the registry, and the refusal is of that: a password
        /// the server asked for, or an anonymous token request or token. See
        /// [`SourceError::needs_credentials`].
        no_credentials: bool,
    },

    /// A 401 challenge that is not followed: a scheme other than Bearer and Basic, a realm that
    /// is not https, holds `..`, or is not a URL. Nothing was sent to the realm.
    #[error("{location}: refusing the server's authentication challenge: {reason}")]
    Challenge { location: String, reason: String },

    /// Credentials could not be looked up (docker config unreadable, credential helper failed).
    #[error("{location}: credentials for registry {registry}: {source}")]
    Credentials {
        location: String,
        registry: String,
        #[source]
        source: crate::fetch::credentials::CredentialError,
    },

    /// The client certificate or key for mutual TLS could not be read or used.
    #[error("client certificate {} and key {}: {reason}", cert.display(), key.display())]
    BadClientCert {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },

    /// A proxy named in the environment is not usable.
    #[error("proxy from {var}: {reason}")]
    BadProxy { var: String, reason: String },

    /// `--check-health`: the server's health endpoint did not answer 200.
    #[error("health check failed: {reason}")]
    Health { location: String, reason: String },
}

impl SourceError {
    /// The server or folder does not have this file (HTTP 404 or no such file).
    pub fn is_not_found(&self) -> bool {
        matches!(self, SourceError::NotFound { .. })
    }

    /// The server wants credentials and none were found for the registry: a caller may say how
    /// to give some.
    pub fn needs_credentials(&self) -> bool {
        matches!(
            self,
            SourceError::Auth {
                no_credentials: true,
                ..
            }
        )
    }

    /// The URL or path this error is about, when it has one.
    pub fn location(&self) -> Option<&str> {
        match self {
            SourceError::NotFound { location }
            | SourceError::TooLarge { location, .. }
            | SourceError::Timeout { location, .. }
            | SourceError::Status { location, .. }
            | SourceError::Redirect { location, .. }
            | SourceError::Connect { location, .. }
            | SourceError::Http { location, .. }
            | SourceError::Io { location, .. }
            | SourceError::Auth { location, .. }
            | SourceError::Challenge { location, .. }
            | SourceError::Credentials { location, .. }
            | SourceError::Health { location, .. } => Some(location),
            SourceError::BadName { .. }
            | SourceError::BadUrl { .. }
            | SourceError::BadCa { .. }
            | SourceError::Client { .. }
            | SourceError::BadClientCert { .. }
            | SourceError::BadProxy { .. } => None,
        }
    }
}

/// Checks a repository name (GUN) before it becomes part of a URL or path, with the one grammar
/// of [`reference::Gun`].
pub fn check_gun(gun: &str) -> Result<(), SourceError> {
    reference::Gun::new(gun)
        .map(drop)
        .map_err(|e| SourceError::BadName {
            what: "repository name",
            name: e.name,
            reason: e.reason,
        })
}

/// Checks a role name before it becomes part of a URL or path, with the one grammar of
/// [`RoleName`].
pub fn check_role(role: &str) -> Result<(), SourceError> {
    RoleName::new(role)
        .map(drop)
        .map_err(|e| SourceError::BadName {
            what: "role name",
            name: e.name,
            reason: e.reason.to_owned(),
        })
}

/// Names for the sources' unit tests, valid by construction.
#[cfg(test)]
pub(crate) mod test_names {
    use crate::reference::Gun;
    use crate::tuf::role::RoleName;

    pub(crate) fn g(name: &str) -> Gun {
        Gun::new(name).unwrap()
    }

    pub(crate) fn r(name: &str) -> RoleName {
        RoleName::new(name).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Check = fn(&str) -> Result<(), SourceError>;

    fn all_accepted(check: Check, names: &[&str]) {
        for name in names {
            check(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    /// Every one of `names` is refused by `check` as an invalid `what`.
    fn all_refused(check: Check, what: &str, names: &[&str]) {
        for name in names {
            let err = check(name).expect_err(name);
            assert!(
                matches!(&err, SourceError::BadName { what: w, .. } if *w == what),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn good_guns() {
        all_accepted(
            check_gun,
            &[
                "docker.io/library/alpine",
                "docker.io/phbelitz/alice-image",
                "localhost:5000/app",
                "localhost/app",
                "Registry.Example.com:443/team/app",
                "[::1]:5000/app",
                "alpine",
                "a/b/c/d",
            ],
        );
    }

    #[test]
    fn guns_that_could_escape_a_url_or_folder_are_refused() {
        all_refused(
            check_gun,
            "repository name",
            &[
                "",
                "..",
                ".",
                "../etc",
                "docker.io/../../etc",
                "docker.io/./x",
                "docker.io//x",
                "/etc/passwd",
                "docker.io/x/",
                "docker.io/a%2F..%2Fb",
                "docker.io/a?b",
                "docker.io/a#b",
                "docker.io/a b",
                "docker.io/a\\b",
                "docker.io/A",
                "docker.io/a\nb",
                "docker.io/é",
                "C:\\x",
                "docker.io/x/_trust/tuf/../../y",
                "http://evil/x",
                "docker.io:/x",
            ],
        );
        let long = format!("docker.io/{}", "a".repeat(250));
        assert!(check_gun(&long).is_err());
    }

    #[test]
    fn good_roles() {
        all_accepted(
            check_role,
            &[
                "root",
                "timestamp",
                "snapshot",
                "targets",
                "targets/releases",
                "targets/a/b",
                "targets/a-b_c/0",
                "1.root",
                "2.root",
                "12345.root",
            ],
        );
    }

    #[test]
    fn bad_roles_are_refused() {
        all_refused(
            check_role,
            "role name",
            &[
                "",
                "Root",
                "targets/",
                "targets//a",
                "targets/a/",
                "targets/..",
                "targets/../root",
                "targets/.",
                "targets/A",
                "targets/a.b",
                "targets/a%2Fb",
                "targets/a?b",
                "targets/a b",
                "targetsx",
                "delegation",
                ".root",
                "-1.root",
                "1.5.root",
                "x.root",
                "root.json",
                "2.timestamp",
                "../root",
                "root/../root",
                "123456789012345678901.root",
            ],
        );
        assert!(check_role(&format!("targets/{}", "a".repeat(250))).is_err());
        check_role(&format!("targets/{}", "a".repeat(247))).unwrap();
    }

    #[test]
    fn bad_name_messages_quote_the_name() {
        let msg = check_role("targets/a\u{1b}b").unwrap_err().to_string();
        assert!(msg.contains("role name"), "{msg}");
        assert!(!msg.contains('\u{1b}'), "{msg}");
    }
}
