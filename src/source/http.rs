//! Trust data from a Notary server: `GET <base>/v2/<gun>/_trust/tuf/<role>.json`.
//!
//! Guarantees, whatever the server does:
//! - at most `max_len + 1` bytes of a body are kept; a Content-Length over `max_len` is refused
//!   before the body is read;
//! - every fetch returns within `timeout` (headers and the whole body), even against a server that
//!   answers one byte at a time or never;
//! - redirects are followed only within the same scheme, host and port (at most
//!   [`MAX_REDIRECTS`]);
//! - TLS certificates are verified against the platform's roots plus any extra CA bundles.

use std::fs;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use reqwest::redirect;
use reqwest::{StatusCode, Url};

use super::{check_names, Source, SourceError};

/// Most redirects followed for one fetch (all within the same server).
pub const MAX_REDIRECTS: usize = 5;

/// Size of one read from the response body.
const READ_CHUNK: usize = 16 * 1024;

/// How the HTTP client connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// Extra PEM CA bundles trusted in addition to the platform's roots.
    pub ca_certs: Vec<PathBuf>,
    /// Limit for establishing a connection (TCP and TLS). Default 10 s.
    pub connect_timeout: Duration,
    /// Limit for a whole fetch: connection, headers and body. Default 30 s.
    pub timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            ca_certs: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
        }
    }
}

/// A Notary server. Cheap to share: one connection pool, usable from many threads at once.
#[derive(Debug, Clone)]
pub struct HttpSource {
    /// Scheme, host, port and path prefix, without a trailing `/`.
    base: String,
    client: Client,
    timeout: Duration,
    connect_timeout: Duration,
}

impl HttpSource {
    /// A source for the server at `base_url` (`https://notary.docker.io`, `http://127.0.0.1:4443`,
    /// or with a path prefix). Plain `http` is used only when the URL says so.
    pub fn new(base_url: &str, opts: HttpOptions) -> Result<HttpSource, SourceError> {
        let base = check_base_url(base_url)?;

        let mut certs = Vec::new();
        for path in &opts.ca_certs {
            let bad = |reason: String| SourceError::BadCa {
                path: path.clone(),
                reason,
            };
            let pem = fs::read(path).map_err(|e| bad(e.to_string()))?;
            let found = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| bad(format!("not a PEM certificate bundle: {}", innermost(&e))))?;
            if found.is_empty() {
                return Err(bad("no PEM certificate found in the file".into()));
            }
            certs.extend(found);
        }

        // reqwest is built without a default crypto provider; an error only means one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();

        let mut builder = Client::builder()
            .user_agent(concat!("trustpin/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(opts.connect_timeout)
            .timeout(opts.timeout)
            .redirect(redirect::Policy::custom(same_server_only))
            .referer(false);
        if !certs.is_empty() {
            builder = builder.tls_certs_merge(certs);
        }
        let client = builder.build().map_err(|source| SourceError::Client {
            cause: innermost(&source),
            source,
        })?;
        Ok(HttpSource {
            base,
            client,
            timeout: opts.timeout,
            connect_timeout: opts.connect_timeout,
        })
    }

    /// The server URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn url(&self, gun: &str, role: &str) -> String {
        format!("{}/v2/{gun}/_trust/tuf/{role}.json", self.base)
    }
}

impl Source for HttpSource {
    fn fetch(&self, gun: &str, role: &str, max_len: u64) -> Result<Vec<u8>, SourceError> {
        check_names(gun, role)?;
        let url = self.url(gun, role);
        let timeout = self.timeout;
        let limits = Limits {
            max_len,
            timeout,
            connect_timeout: self.connect_timeout,
        };
        let deadline = Instant::now().checked_add(timeout);

        // reqwest's blocking timeout applies to the headers and to each body read separately, so a
        // server dripping bytes could stretch one fetch far past `timeout`. The fetch runs on a
        // worker that checks the deadline between reads; this thread waits at most `timeout` for
        // it. A worker still blocked in a read when we give up ends within `timeout` on its own.
        let (tx, rx) = mpsc::sync_channel(1);
        let client = self.client.clone();
        let worker_url = url.clone();
        let spawned = thread::Builder::new()
            .name("trustpin-fetch".into())
            .spawn(move || {
                let result = fetch_blocking(&client, &worker_url, limits, deadline);
                let _ = tx.send(result);
            });
        if let Err(source) = spawned {
            return Err(SourceError::Io {
                location: url,
                source,
            });
        }
        match rx.recv_timeout(timeout) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(SourceError::Timeout {
                location: url,
                after: timeout,
            }),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(SourceError::Io {
                location: url,
                source: io::Error::other("the fetch ended without an answer"),
            }),
        }
    }

    fn location(&self, gun: &str, role: &str) -> String {
        if check_names(gun, role).is_ok() {
            self.url(gun, role)
        } else {
            format!("{}/v2/ (invalid name {gun:?} / {role:?})", self.base)
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    max_len: u64,
    timeout: Duration,
    connect_timeout: Duration,
}

/// One GET with the size cap and the deadline; runs on the worker thread.
fn fetch_blocking(
    client: &Client,
    url: &str,
    limits: Limits,
    deadline: Option<Instant>,
) -> Result<Vec<u8>, SourceError> {
    let Limits {
        max_len, timeout, ..
    } = limits;
    let timed_out = || SourceError::Timeout {
        location: url.to_owned(),
        after: timeout,
    };
    let too_large = || SourceError::TooLarge {
        location: url.to_owned(),
        limit: max_len,
    };

    let mut response = client
        .get(url)
        .send()
        .map_err(|e| request_error(url, e, limits))?;

    let status = response.status();
    if status == StatusCode::NOT_FOUND {
        return Err(SourceError::NotFound {
            location: url.to_owned(),
        });
    }
    if status.is_redirection() {
        if let Some(to) = redirect_target(&response) {
            return Err(SourceError::Redirect {
                location: url.to_owned(),
                to,
                max: MAX_REDIRECTS,
            });
        }
    }
    if !status.is_success() {
        return Err(SourceError::Status {
            location: url.to_owned(),
            status: status.as_u16(),
        });
    }
    let announced = response.content_length();
    if announced.is_some_and(|n| n > max_len) {
        return Err(too_large());
    }

    // Never more than max_len + 1 bytes kept; never preallocate more than one chunk past what the
    // server announced (it may lie).
    let cap = max_len.saturating_add(1);
    let initial = announced.unwrap_or(0).min(cap).min(READ_CHUNK as u64 * 64);
    let mut body: Vec<u8> = Vec::with_capacity(usize::try_from(initial).unwrap_or(0));
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(timed_out());
        }
        let room = cap.saturating_sub(body.len() as u64);
        let want = usize::try_from(room).unwrap_or(READ_CHUNK).min(READ_CHUNK);
        let n = match response.read(&mut chunk[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(url, e, limits)),
        };
        body.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if body.len() as u64 > max_len {
            return Err(too_large());
        }
    }
    if deadline.is_some_and(|d| Instant::now() >= d) {
        return Err(timed_out());
    }
    Ok(body)
}

/// Follow a redirect only to the same scheme, host and port as the original request.
fn same_server_only(attempt: redirect::Attempt) -> redirect::Action {
    let same = attempt
        .previous()
        .first()
        .is_some_and(|first| same_origin(first, attempt.url()));
    // previous() holds the original URL plus every redirect followed so far.
    if same && attempt.previous().len() <= MAX_REDIRECTS {
        attempt.follow()
    } else {
        attempt.stop()
    }
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Where a redirect we did not follow pointed to, for the message.
fn redirect_target(response: &Response) -> Option<String> {
    let location = response.headers().get(reqwest::header::LOCATION)?;
    let raw = String::from_utf8_lossy(location.as_bytes());
    Some(match response.url().join(&raw) {
        Ok(url) => url.to_string(),
        Err(_) => format!("{raw:?}"),
    })
}

fn check_base_url(base_url: &str) -> Result<String, SourceError> {
    let bad = |reason: &str| SourceError::BadUrl {
        url: base_url.to_owned(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(base_url).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(bad("the scheme must be https (or http)"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials in the URL are not supported"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it must not have a query or fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn request_error(url: &str, e: reqwest::Error, limits: Limits) -> SourceError {
    if e.is_connect() && e.is_timeout() {
        SourceError::Connect {
            location: url.to_owned(),
            cause: format!(
                "no connection (TCP and TLS) within the connect timeout of {:?}",
                limits.connect_timeout
            ),
            source: e,
        }
    } else if e.is_timeout() {
        SourceError::Timeout {
            location: url.to_owned(),
            after: limits.timeout,
        }
    } else if e.is_connect() {
        SourceError::Connect {
            location: url.to_owned(),
            cause: innermost(&e),
            source: e,
        }
    } else {
        SourceError::Http {
            location: url.to_owned(),
            cause: innermost(&e),
            source: e,
        }
    }
}

fn read_error(url: &str, e: io::Error, limits: Limits) -> SourceError {
    let timeout = limits.timeout;
    if e.kind() == io::ErrorKind::TimedOut {
        return SourceError::Timeout {
            location: url.to_owned(),
            after: timeout,
        };
    }
    match e.into_inner() {
        Some(inner) => match inner.downcast::<reqwest::Error>() {
            Ok(e) if e.is_timeout() => SourceError::Timeout {
                location: url.to_owned(),
                after: timeout,
            },
            Ok(e) => request_error(url, *e, limits),
            Err(other) => SourceError::Io {
                location: url.to_owned(),
                source: io::Error::other(other),
            },
        },
        None => SourceError::Io {
            location: url.to_owned(),
            source: io::Error::other("reading the response failed"),
        },
    }
}

/// The most specific message in an error's source chain (e.g. the TLS verification failure
/// rather than "error sending request").
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_is_checked_and_normalised() {
        assert_eq!(
            check_base_url("https://notary.docker.io").unwrap(),
            "https://notary.docker.io"
        );
        assert_eq!(
            check_base_url("https://notary.docker.io/").unwrap(),
            "https://notary.docker.io"
        );
        assert_eq!(
            check_base_url("http://127.0.0.1:4443/prefix/").unwrap(),
            "http://127.0.0.1:4443/prefix"
        );
        for bad in [
            "",
            "notary.docker.io",
            "ftp://x",
            "file:///etc",
            "https://user:pw@host",
            "https://host/?q",
            "https://host/#f",
            "https://",
        ] {
            assert!(
                matches!(check_base_url(bad), Err(SourceError::BadUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn urls_follow_the_server_layout() {
        let s = HttpSource::new("https://notary.example.com/", HttpOptions::default()).unwrap();
        assert_eq!(
            s.location("docker.io/library/alpine", "targets/releases"),
            "https://notary.example.com/v2/docker.io/library/alpine/_trust/tuf/targets/releases.json"
        );
        assert_eq!(
            s.location("docker.io/library/alpine", "2.root"),
            "https://notary.example.com/v2/docker.io/library/alpine/_trust/tuf/2.root.json"
        );
    }

    #[test]
    fn same_origin_means_scheme_host_and_port() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(same_origin(&u("https://a/x"), &u("https://a:443/y")));
        assert!(!same_origin(&u("https://a/x"), &u("http://a/x")));
        assert!(!same_origin(&u("https://a/x"), &u("https://b/x")));
        assert!(!same_origin(&u("http://a:1/x"), &u("http://a:2/x")));
    }

    #[test]
    fn shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<HttpSource>();
        assert_send_sync::<SourceError>();
    }
}
