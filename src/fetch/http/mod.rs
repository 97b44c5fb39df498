//! Trust data from a Notary server: `GET <base>/v2/<gun>/_trust/tuf/<role>.json`.
//!
//! Guarantees, whatever the server (or its token server) does:
//! - at most `max_len + 1` bytes of a body are kept; a Content-Length over `max_len` is refused
//!   before the body is read; a token answer is held to [`auth::MAX_TOKEN_RESPONSE`];
//! - every HTTP exchange returns within `timeout` (headers and the whole body), even against a
//!   server that answers one byte at a time or never. A fetch makes one exchange, or three when
//!   the server asks for a token (refused try, token, retry), or four with `check_health` once;
//! - a connection that cannot be made (refused, reset before the request was sent, broken TLS
//!   transport) is retried once within the same exchange; an HTTP error, a certificate failure or a
//!   response that started and then stalled is not;
//! - redirects are followed only within the same scheme, host and port (at most
//!   [`MAX_REDIRECTS`]); the token request goes to the realm's host and nowhere else;
//! - TLS certificates are verified against the platform's roots plus any extra CA bundles; a
//!   client certificate is presented when configured (mutual TLS);
//! - proxies come from `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` (lower case too) minus
//!   `NO_PROXY`; loopback (`localhost`, 127.0.0.0/8, ::1) never goes through a proxy;
//! - credentials are looked up only when a server asks (401), are sent only to an https realm
//!   (or, for Basic, to the server itself over https or loopback), and never appear in an error.

mod challenge;
mod client;
mod exchange;

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::{Client, Method, StatusCode, Url};

use self::challenge::Next;
pub(crate) use self::exchange::Reply;
use self::exchange::{finish, status_error, Request};
use super::auth::{self, TokenCache};
use super::{Fetch, Source, SourceError, Wave};
use crate::fetch::credentials::CredentialProvider;
use crate::reference::Gun;
use crate::tuf::role::RoleName;

pub use self::client::ClientIdentity;

/// Most redirects followed for one fetch (all within the same server).
pub const MAX_REDIRECTS: usize = 5;

/// Largest health answer read.
const MAX_HEALTH_RESPONSE: u64 = 64 * 1024;

/// How the HTTP client connects and authenticates.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Extra PEM CA bundles trusted in addition to the platform's roots.
    pub ca_certs: Vec<PathBuf>,
    /// Client certificate and key for mutual TLS.
    pub client_identity: Option<ClientIdentity>,
    /// Limit for establishing a connection (TCP and TLS). Default 10 s.
    pub connect_timeout: Duration,
    /// Limit for one exchange: connection, headers and body. Default 30 s.
    pub timeout: Duration,
    /// GET `/_notary_server/health` once before the first fetch; a failure fails every fetch.
    pub check_health: bool,
    /// Where credentials come from when a server asks; `None`: anonymous only.
    pub credentials: Option<Arc<dyn CredentialProvider>>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            ca_certs: Vec::new(),
            client_identity: None,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            check_health: false,
            credentials: None,
        }
    }
}

/// A Notary server. Cheap to share and clone: one connection pool, one token cache, usable from
/// many threads at once. Requests run on one single-threaded async runtime, driven by whichever
/// calling thread waits for an answer: [`Source::fetch_many`] overlaps any number of requests
/// without a thread each.
#[derive(Debug, Clone)]
pub struct HttpSource {
    /// Scheme, host, port and path prefix, without a trailing `/`.
    base: String,
    base_url: Url,
    client: Client,
    runtime: Arc<tokio::runtime::Runtime>,
    timeout: Duration,
    connect_timeout: Duration,
    check_health: bool,
    shared: Arc<Shared>,
    /// Token scopes for a registry (see [`HttpSource::for_registry`]).
    registry_scope: bool,
}

#[derive(Debug, Default)]
struct Shared {
    health: OnceLock<Result<(), String>>,
    tokens: TokenCache,
    credentials: Option<Arc<dyn CredentialProvider>>,
}

impl HttpSource {
    /// A source for the server at `base_url` (`https://notary.docker.io`, `http://127.0.0.1:4443`,
    /// or with a path prefix). Plain `http` is used only when the URL says so. Proxies are read
    /// from the environment now.
    pub fn new(base_url: &str, opts: HttpOptions) -> Result<HttpSource, SourceError> {
        let base = check_base_url(base_url)?;
        let parsed = Url::parse(&base).map_err(|e| SourceError::BadUrl {
            url: base_url.to_owned(),
            reason: e.to_string(),
        })?;
        let client = client::build(&parsed, &opts)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| SourceError::Io {
                location: base.clone(),
                source,
            })?;
        Ok(HttpSource {
            base,
            base_url: parsed,
            client,
            runtime: Arc::new(runtime),
            timeout: opts.timeout,
            connect_timeout: opts.connect_timeout,
            check_health: opts.check_health,
            shared: Arc::new(Shared {
                credentials: opts.credentials,
                ..Shared::default()
            }),
            registry_scope: false,
        })
    }

    /// The server URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn url(&self, gun: &Gun, role: &RoleName) -> String {
        format!("{}/v2/{gun}/_trust/tuf/{role}.json", self.base)
    }

    /// `GET <base>/_notary_server/health`, once per source (the answer is remembered); Ok on 200.
    pub fn check_health(&self) -> Result<(), SourceError> {
        let url = format!("{}/_notary_server/health", self.base);
        let result = self.shared.health.get_or_init(|| {
            let reply = self
                .exchange(
                    Request {
                        method: Method::GET,
                        url: url.clone(),
                        ..Request::default()
                    },
                    MAX_HEALTH_RESPONSE,
                    Wave::one(),
                )
                .map_err(|e| e.to_string())?;
            if reply.status == StatusCode::OK {
                Ok(())
            } else {
                Err(status_error(&url, &reply).to_string())
            }
        });
        result.clone().map_err(|reason| SourceError::Health {
            location: url,
            reason,
        })
    }

    /// A source for a registry (the distribution API): the same client, with token scopes
    /// `repository:<path>:pull`, where the path is the name without its registry (Notary asks
    /// for the whole GUN).
    pub(crate) fn for_registry(
        base_url: &str,
        opts: HttpOptions,
    ) -> Result<HttpSource, SourceError> {
        let mut source = HttpSource::new(base_url, opts)?;
        source.registry_scope = true;
        Ok(source)
    }

    /// The token scope for `name` (`host/path` for a registry, the GUN for Notary).
    fn scope_for(&self, name: &str) -> String {
        if self.registry_scope {
            let path = name.split_once('/').map_or(name, |(_, p)| p);
            auth::scope_for(path)
        } else {
            auth::scope_for(name)
        }
    }

    /// GETs for repository `name` (credentials and hints are per name; the registry is its first
    /// component), at most `wave.parallel` in flight and none past `wave.until`: all first
    /// requests at once, then the 401s again with credentials, at once too. Two waves at most.
    /// Every reply (any status) is returned.
    pub(crate) fn get_many(
        &self,
        name: &str,
        gets: Vec<Get>,
        wave: Wave,
    ) -> Vec<Result<exchange::Reply, SourceError>> {
        let mut results: Vec<Option<Result<exchange::Reply, SourceError>>> =
            gets.iter().map(|_| None).collect();
        let mut firsts = Vec::new();
        for (i, get) in gets.into_iter().enumerate() {
            match self.first_attempt(name, &get.url) {
                Ok(first) => firsts.push((i, get, first)),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        let requests = firsts
            .iter()
            .map(|(_, get, first)| (get.request(first.header.clone()), get.max_len))
            .collect();
        let replies = self.exchange_many(requests, wave);
        let mut retries = Vec::new();
        for ((i, get, first), reply) in firsts.into_iter().zip(replies) {
            match reply.map(|r| self.after_first(name, &get.url, r, first, wave)) {
                Ok(Next::Done(result)) => results[i] = Some(result),
                Ok(Next::Again(retry)) => retries.push((i, get, retry)),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        let requests = retries
            .iter()
            .map(|(_, get, retry)| (get.request(Some(retry.header.clone())), get.max_len))
            .collect();
        let replies = self.exchange_many(requests, wave);
        for ((i, get, retry), reply) in retries.into_iter().zip(replies) {
            results[i] = Some(reply.and_then(|r| self.after_retry(name, &get.url, r, retry)));
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(SourceError::Io {
                        location: self.base.clone(),
                        source: io::Error::other("no answer was recorded"),
                    })
                })
            })
            .collect()
    }
}

impl Source for HttpSource {
    /// All first requests at once; the answers that ask for credentials get them (a token is
    /// fetched once for all) and are asked again, at once too. Two waves at most, no threads;
    /// every exchange, the token request included, ends by `wave.until`.
    fn fetch_many(&self, gun: &Gun, wanted: &[(RoleName, u64)], wave: Wave) -> Vec<Fetch> {
        let mut results: Vec<Option<Fetch>> = wanted.iter().map(|_| None).collect();
        let mut gets = Vec::new();
        let mut asked = Vec::new();
        for (i, (role, max_len)) in wanted.iter().enumerate() {
            let prepared = if self.check_health {
                self.check_health()
            } else {
                Ok(())
            };
            match prepared {
                Ok(()) => {
                    asked.push(i);
                    gets.push(Get::new(self.url(gun, role), *max_len));
                }
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        let urls: Vec<String> = gets.iter().map(|g| g.url.clone()).collect();
        let replies = self.get_many(gun, gets, wave);
        for ((i, url), reply) in asked.into_iter().zip(urls).zip(replies) {
            results[i] = Some(reply.and_then(|r| finish(&url, r)));
        }
        results
            .into_iter()
            .zip(wanted)
            .map(|(r, (role, _))| {
                r.unwrap_or_else(|| {
                    Err(SourceError::Io {
                        location: self.url(gun, role),
                        source: io::Error::other("no answer was recorded"),
                    })
                })
            })
            .collect()
    }

    fn location(&self, gun: &Gun, role: &RoleName) -> String {
        self.url(gun, role)
    }
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

/// The reply when it is a 2xx, else the error its status means (404: not found).
pub(crate) fn success(url: &str, reply: Reply) -> Result<Reply, SourceError> {
    if reply.status.is_success() {
        Ok(reply)
    } else {
        Err(status_error(url, &reply))
    }
}

/// One GET of [`HttpSource::get_many`] (a POST when it has a body).
#[derive(Debug, Clone)]
pub(crate) struct Get {
    pub(crate) url: String,
    pub(crate) max_len: u64,
    pub(crate) accept: Option<reqwest::header::HeaderValue>,
    /// Bytes of a non-2xx body to keep (e.g. a registry's error JSON); 0: none read.
    pub(crate) error_body: u64,
    /// POSTed with this `Content-Type` and body instead (an OCSP request too long for GET).
    pub(crate) post: Option<(&'static str, Vec<u8>)>,
}

impl Get {
    pub(crate) fn new(url: String, max_len: u64) -> Get {
        Get {
            url,
            max_len,
            accept: None,
            error_body: 0,
            post: None,
        }
    }

    fn request(&self, authorization: Option<reqwest::header::HeaderValue>) -> Request {
        Request {
            method: if self.post.is_some() {
                Method::POST
            } else {
                Method::GET
            },
            body: self.post.clone(),
            url: self.url.clone(),
            authorization,
            accept: self.accept.clone(),
            error_body: self.error_body,
        }
    }
}

/// Whether a server URL names a loopback host (`localhost`, 127.0.0.0/8, `[::1]`): plain http
/// to it stays on this machine.
pub fn is_loopback_url(url: &str) -> bool {
    Url::parse(url).is_ok_and(|u| auth::is_loopback(&u))
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
    use crate::fetch::test_names::{g, r};

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
            s.location(&g("docker.io/library/alpine"), &r("targets/releases")),
            "https://notary.example.com/v2/docker.io/library/alpine/_trust/tuf/targets/releases.json"
        );
        assert_eq!(
            s.location(&g("docker.io/library/alpine"), &r("2.root")),
            "https://notary.example.com/v2/docker.io/library/alpine/_trust/tuf/2.root.json"
        );
    }

    #[test]
    fn loopback_urls() {
        for u in [
            "http://127.0.0.1:4443",
            "http://127.1.2.3/x",
            "http://localhost:1",
            "http://[::1]:4443/x",
            "http://[::1]",
        ] {
            assert!(is_loopback_url(u), "{u}");
        }
        for u in [
            "http://[2001:db8::1]:4443",
            "http://[::]:1",
            "http://10.0.0.1",
            "http://localhost.evil.example",
            "http://127.0.0.1.nip.io",
            "not a url",
        ] {
            assert!(!is_loopback_url(u), "{u}");
        }
    }

    #[test]
    fn shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<HttpSource>();
        assert_send_sync::<SourceError>();
    }
}
