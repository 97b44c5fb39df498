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

use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::redirect;
use reqwest::{Client, Response};
use reqwest::{Method, StatusCode, Url};

use super::auth::{self, Hint, Plan, Token, TokenCache, TokenKey};
use super::{check_names, Fetch, Source, SourceError};
use crate::fetch::credentials::{Credential, CredentialProvider, Found};

/// Most redirects followed for one fetch (all within the same server).
pub const MAX_REDIRECTS: usize = 5;

/// Largest health answer read.
const MAX_HEALTH_RESPONSE: u64 = 64 * 1024;

/// Most bytes reserved for a body before they arrive, whatever length the server announces (it
/// may lie); the buffer grows past this only as bytes come.
const MAX_PREALLOC: u64 = 1024 * 1024;

/// Pause before the one retry of a connection that could not be made.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// A client certificate and its private key (PEM files) for mutual TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub cert: PathBuf,
    pub key: PathBuf,
}

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
}

#[derive(Debug, Default)]
struct Shared {
    health: OnceLock<Result<(), String>>,
    tokens: TokenCache,
    credentials: Option<Arc<dyn CredentialProvider>>,
}

/// What one exchange brought back. The body is read (bounded) for 2xx answers only.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    challenges: Vec<String>,
    redirect_to: Option<String>,
    body: Vec<u8>,
}

/// One request to make.
struct Request {
    method: Method,
    url: String,
    authorization: Option<HeaderValue>,
    form: Option<String>,
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
        let identity = opts
            .client_identity
            .as_ref()
            .map(load_identity)
            .transpose()?;

        // reqwest is built without a default crypto provider; an error only means one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();

        let mut builder = Client::builder()
            .user_agent(concat!("trustpin/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(opts.connect_timeout)
            .timeout(opts.timeout)
            .redirect(redirect::Policy::custom(same_server_only))
            .referer(false)
            // reqwest's own environment proxies would also catch loopback: ours never do.
            .no_proxy();
        for proxy in env_proxies()? {
            builder = builder.proxy(proxy);
        }
        if parsed.scheme() == "http" && !certs.is_empty() {
            // A plain-http server needs TLS only for an https token realm: trust just the CAs
            // given, and skip reading the platform's root store (most of a cold run's time).
            builder = builder.tls_certs_only(certs);
        } else if parsed.scheme() == "http" {
            builder = builder.tls_certs_only(Vec::new());
        } else if !certs.is_empty() {
            builder = builder.tls_certs_merge(certs);
        }
        if let Some(identity) = identity {
            builder = builder.identity(identity);
        }
        let client = builder.build().map_err(|source| SourceError::Client {
            cause: innermost(&source),
            source,
        })?;
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
        })
    }

    /// The server URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn url(&self, gun: &str, role: &str) -> String {
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
                        authorization: None,
                        form: None,
                    },
                    MAX_HEALTH_RESPONSE,
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

    fn limits(&self, max_len: u64) -> Limits {
        Limits {
            max_len,
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
        }
    }

    /// A fetch that ended without a result (cannot happen: every request is answered or fails).
    fn no_answer(&self, gun: &str, role: &str) -> SourceError {
        SourceError::Io {
            location: self.location(gun, role),
            source: io::Error::other("no answer was recorded"),
        }
    }

    /// One exchange, bounded by `timeout` as a whole whatever the server does. Called from
    /// ordinary (not async) threads only.
    fn exchange(&self, request: Request, max_len: u64) -> Result<Reply, SourceError> {
        let limits = self.limits(max_len);
        self.runtime
            .block_on(bounded(self.client.clone(), request, limits))
    }

    /// Several GETs at once (at most `parallel` in flight), each bounded like [`Self::exchange`];
    /// replies in the order given.
    fn exchange_many(
        &self,
        requests: Vec<(Request, u64)>,
        parallel: usize,
    ) -> Vec<Result<Reply, SourceError>> {
        self.runtime.block_on(async {
            let permits = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
            let tasks: Vec<_> = requests
                .into_iter()
                .map(|(request, max_len)| {
                    let location = request.url.clone();
                    let (client, limits, permits) =
                        (self.client.clone(), self.limits(max_len), permits.clone());
                    let task = tokio::spawn(async move {
                        let _permit = permits.acquire_owned().await;
                        bounded(client, request, limits).await
                    });
                    (location, task)
                })
                .collect();
            let mut replies = Vec::with_capacity(tasks.len());
            for (location, task) in tasks {
                replies.push(task.await.unwrap_or_else(|e| {
                    Err(SourceError::Io {
                        location,
                        source: io::Error::other(format!("the request task failed: {e}")),
                    })
                }));
            }
            replies
        })
    }

    /// Credentials for the registry of `gun`, looked up only now that a server asks.
    fn credentials_for(&self, gun: &str, url: &str) -> Result<Option<Found>, SourceError> {
        let Some(provider) = &self.shared.credentials else {
            return Ok(None);
        };
        let registry = auth::registry_of(gun);
        provider
            .lookup(registry)
            .map_err(|source| SourceError::Credentials {
                location: url.to_owned(),
                registry: registry.to_owned(),
                source,
            })
    }

    /// `Authorization: Basic` for a Basic challenge from this server.
    fn basic_authorization(
        &self,
        gun: &str,
        url: &str,
        realm: Option<&str>,
    ) -> Result<HeaderValue, SourceError> {
        let shown_realm = match realm {
            Some(r) => format!("{} (Basic realm {})", self.base, auth::show(r)),
            None => format!("{} (Basic)", self.base),
        };
        let fail = |reason: String| SourceError::Auth {
            location: url.to_owned(),
            realm: shown_realm.clone(),
            reason,
        };
        if self.base_url.scheme() != "https" && !auth::is_loopback(&self.base_url) {
            return Err(fail(
                "the server asks for a password over plain http; refusing to send it unencrypted"
                    .into(),
            ));
        }
        let registry = auth::registry_of(gun);
        match self.credentials_for(gun, url)? {
            Some(Found {
                credential: Credential::Password { username, password },
                ..
            }) => auth::basic_header(&username, password.expose()).map_err(fail),
            Some(found) => Err(fail(format!(
                "the server asks for a user name and password, and the credentials for registry \
                 {registry} are {}",
                found.describe()
            ))),
            None => Err(fail(format!(
                "the server asks for a user name and password and none were found for registry \
                 {registry} (--username with --password-stdin, TRUSTPIN_USERNAME and \
                 TRUSTPIN_PASSWORD, or the docker config)"
            ))),
        }
    }

    /// A token for `key` from `realm`: cached for the run, fetched once however many threads ask.
    fn token(
        &self,
        gun: &str,
        url: &str,
        realm: &Url,
        key: &TokenKey,
        stale: Option<&Token>,
    ) -> Result<(Token, Option<Found>), SourceError> {
        let found = self.credentials_for(gun, url)?;
        let token = self
            .shared
            .tokens
            .get_or_fetch(key, stale, || self.fetch_token(realm, key, found.as_ref()))
            .map_err(|f| SourceError::Auth {
                location: url.to_owned(),
                realm: f.realm,
                reason: f.reason,
            })?;
        Ok((token, found))
    }

    /// Asks the token server: GET `realm?service&scope` (Basic with a password, or anonymous), or
    /// POST the OAuth2 refresh form with an identity token.
    fn fetch_token(
        &self,
        realm: &Url,
        key: &TokenKey,
        found: Option<&Found>,
    ) -> Result<Token, auth::Failure> {
        let fail = |reason: String| auth::Failure {
            realm: realm.to_string(),
            reason,
        };
        let service = key.service.as_deref();
        let request = match found.map(|f| &f.credential) {
            None => Request {
                method: Method::GET,
                url: auth::token_url(realm, service, &key.scope).to_string(),
                authorization: None,
                form: None,
            },
            Some(Credential::Password { username, password }) => Request {
                method: Method::GET,
                url: auth::token_url(realm, service, &key.scope).to_string(),
                authorization: Some(auth::basic_header(username, password.expose()).map_err(fail)?),
                form: None,
            },
            Some(Credential::IdentityToken { token }) => Request {
                method: Method::POST,
                url: realm.to_string(),
                authorization: None,
                form: Some(auth::refresh_form(token.expose(), service, &key.scope)),
            },
        };
        let token_url = request.url.clone();
        let who = auth::who(found);
        let reply = self
            .exchange(request, auth::MAX_TOKEN_RESPONSE)
            .map_err(|e| fail(format!("token request: {e}")))?;
        match reply.status.as_u16() {
            200..=299 => auth::parse_token_response(&reply.body)
                .map(Token)
                .map_err(|r| fail(format!("{token_url}: {r}"))),
            401 | 403 => Err(fail(match found {
                None => format!(
                    "the token server refused anonymous access (HTTP {}); give credentials with \
                     --username and --password-stdin, TRUSTPIN_USERNAME and TRUSTPIN_PASSWORD, \
                     or docker login",
                    reply.status.as_u16()
                ),
                Some(_) => format!(
                    "the token server refused the credentials of {} (HTTP {})",
                    found.map(Found::describe).unwrap_or_default(),
                    reply.status.as_u16()
                ),
            })),
            _ => Err(fail(format!(
                "token request made {who}: {}",
                status_error(&token_url, &reply)
            ))),
        }
    }

    /// What the first request of a fetch carries: what worked for this repository before.
    fn first_attempt(&self, gun: &str, url: &str) -> Result<FirstAttempt, SourceError> {
        let tokens = &self.shared.tokens;
        let mut first = FirstAttempt {
            header: None,
            sent_token: None,
            sent_basic: false,
        };
        match tokens.hint(gun) {
            Some(Hint::Bearer(key)) => {
                if let Some(token) = tokens.cached(&key) {
                    first.header = auth::bearer_header(&token.0).ok();
                    first.sent_token = first.header.as_ref().map(|_| (key, token));
                }
            }
            Some(Hint::Basic) => {
                first.sent_basic = true;
                first.header = Some(self.basic_authorization(gun, url, None)?);
            }
            None => {}
        }
        Ok(first)
    }

    /// The answer to a first request: the body, an error, or the credentials to ask again with
    /// (a 401 answered by a token or a password).
    fn after_first(&self, gun: &str, url: &str, reply: Reply, first: FirstAttempt) -> Next {
        if reply.status != StatusCode::UNAUTHORIZED {
            return Next::Done(finish(url, reply));
        }
        match self.plan_retry(gun, url, &reply, first) {
            Ok(retry) => Next::Again(retry),
            Err(e) => Next::Done(Err(e)),
        }
    }

    fn plan_retry(
        &self,
        gun: &str,
        url: &str,
        reply: &Reply,
        first: FirstAttempt,
    ) -> Result<Retry, SourceError> {
        let challenges = auth::parse_challenges(reply.challenges.iter().map(String::as_str));
        let plan =
            auth::plan(&challenges, &self.base_url).map_err(|reason| SourceError::Challenge {
                location: url.to_owned(),
                reason,
            })?;
        match plan {
            Plan::Bearer { realm, service, .. } => {
                let key = TokenKey {
                    realm: realm.to_string(),
                    service,
                    scope: auth::scope_for(gun),
                };
                let stale = first
                    .sent_token
                    .as_ref()
                    .filter(|(k, _)| *k == key)
                    .map(|(_, t)| t);
                let (token, found) = self.token(gun, url, &realm, &key, stale)?;
                let header = auth::bearer_header(&token.0).map_err(|reason| SourceError::Auth {
                    location: url.to_owned(),
                    realm: realm.to_string(),
                    reason,
                })?;
                Ok(Retry {
                    header,
                    with: RetryWith::Bearer {
                        key,
                        realm: Box::new(realm),
                        found,
                    },
                })
            }
            Plan::Basic { realm } => {
                if first.sent_basic {
                    return Err(SourceError::Auth {
                        location: url.to_owned(),
                        realm: format!("{} (Basic)", self.base),
                        reason: "the server refused the user name and password".into(),
                    });
                }
                let header = self.basic_authorization(gun, url, realm.as_deref())?;
                Ok(Retry {
                    header,
                    with: RetryWith::Basic { realm },
                })
            }
        }
    }

    /// The answer to the request sent again with credentials.
    fn after_retry(
        &self,
        gun: &str,
        url: &str,
        reply: Reply,
        retry: Retry,
    ) -> Result<Vec<u8>, SourceError> {
        let tokens = &self.shared.tokens;
        match retry.with {
            RetryWith::Bearer { key, realm, found } => {
                if reply.status == StatusCode::UNAUTHORIZED {
                    let again = auth::parse_challenges(reply.challenges.iter().map(String::as_str));
                    let error = again
                        .iter()
                        .find_map(|c| c.param("error"))
                        .map(|e| format!(" ({})", auth::show(e)))
                        .unwrap_or_default();
                    let advice = if found.is_none() {
                        "; give credentials with --username and --password-stdin, \
                         TRUSTPIN_USERNAME and TRUSTPIN_PASSWORD, or docker login"
                    } else {
                        ""
                    };
                    return Err(SourceError::Auth {
                        location: url.to_owned(),
                        realm: realm.to_string(),
                        reason: format!(
                            "the server refused the token obtained {}{error}: it does not grant \
                             {}{advice}",
                            auth::who(found.as_ref()),
                            key.scope
                        ),
                    });
                }
                tokens.set_hint(gun, Hint::Bearer(key));
                finish(url, reply)
            }
            RetryWith::Basic { realm } => {
                if reply.status == StatusCode::UNAUTHORIZED {
                    let who = self
                        .credentials_for(gun, url)?
                        .map(|f| f.describe())
                        .unwrap_or_default();
                    return Err(SourceError::Auth {
                        location: url.to_owned(),
                        realm: match &realm {
                            Some(r) => format!("{} (Basic realm {})", self.base, auth::show(r)),
                            None => format!("{} (Basic)", self.base),
                        },
                        reason: format!("the server refused the credentials of {who}"),
                    });
                }
                tokens.set_hint(gun, Hint::Basic);
                finish(url, reply)
            }
        }
    }
}

/// The first request of a fetch: its `Authorization`, and what that was.
struct FirstAttempt {
    header: Option<HeaderValue>,
    sent_token: Option<(TokenKey, Token)>,
    sent_basic: bool,
}

/// After a first answer: done, or ask again with credentials.
enum Next {
    Done(Result<Vec<u8>, SourceError>),
    Again(Retry),
}

/// A request to send again with `header`, and what a refusal of it means.
struct Retry {
    header: HeaderValue,
    with: RetryWith,
}

enum RetryWith {
    Bearer {
        key: TokenKey,
        realm: Box<Url>,
        found: Option<Found>,
    },
    Basic {
        realm: Option<String>,
    },
}

impl Source for HttpSource {
    /// One fetch is [`Source::fetch_many`] of one: a first request, and one more with
    /// credentials if the server asks for them.
    fn fetch(&self, gun: &str, role: &str, max_len: u64) -> Result<Vec<u8>, SourceError> {
        self.fetch_many(gun, &[(role, max_len)], 1)
            .pop()
            .unwrap_or_else(|| Err(self.no_answer(gun, role)))
    }

    /// All first requests at once; the answers that ask for credentials get them (a token is
    /// fetched once for all) and are asked again, at once too. Two waves at most, no threads.
    fn fetch_many(&self, gun: &str, wanted: &[(&str, u64)], parallel: usize) -> Vec<Fetch> {
        let mut results: Vec<Option<Fetch>> = wanted.iter().map(|_| None).collect();
        let mut firsts = Vec::new();
        for (i, (role, max_len)) in wanted.iter().enumerate() {
            let prepared = check_names(gun, role)
                .and_then(|()| {
                    if self.check_health {
                        self.check_health()
                    } else {
                        Ok(())
                    }
                })
                .and_then(|()| {
                    let url = self.url(gun, role);
                    let first = self.first_attempt(gun, &url)?;
                    Ok((url, first))
                });
            match prepared {
                Ok((url, first)) => firsts.push((i, url, *max_len, first)),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        let requests = firsts
            .iter()
            .map(|(_, url, max_len, first)| (get_request(url, first.header.clone()), *max_len))
            .collect();
        let replies = self.exchange_many(requests, parallel);
        let mut retries = Vec::new();
        for ((i, url, max_len, first), reply) in firsts.into_iter().zip(replies) {
            match reply.map(|r| self.after_first(gun, &url, r, first)) {
                Ok(Next::Done(result)) => results[i] = Some(result),
                Ok(Next::Again(retry)) => retries.push((i, url, max_len, retry)),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        let requests = retries
            .iter()
            .map(|(_, url, max_len, retry)| {
                (get_request(url, Some(retry.header.clone())), *max_len)
            })
            .collect();
        let replies = self.exchange_many(requests, parallel);
        for ((i, url, _, retry), reply) in retries.into_iter().zip(replies) {
            results[i] = Some(reply.and_then(|r| self.after_retry(gun, &url, r, retry)));
        }
        results
            .into_iter()
            .zip(wanted)
            .map(|(r, (role, _))| r.unwrap_or_else(|| Err(self.no_answer(gun, role))))
            .collect()
    }

    fn location(&self, gun: &str, role: &str) -> String {
        if check_names(gun, role).is_ok() {
            self.url(gun, role)
        } else {
            format!("{}/v2/ (invalid name {gun:?} / {role:?})", self.base)
        }
    }
}

/// The answer to a metadata fetch: the body of a 2xx, else the error its status means.
fn finish(url: &str, reply: Reply) -> Result<Vec<u8>, SourceError> {
    if reply.status.is_success() {
        return Ok(reply.body);
    }
    Err(status_error(url, &reply))
}

fn status_error(url: &str, reply: &Reply) -> SourceError {
    if reply.status == StatusCode::NOT_FOUND {
        return SourceError::NotFound {
            location: url.to_owned(),
        };
    }
    if reply.status.is_redirection() {
        if let Some(to) = &reply.redirect_to {
            return SourceError::Redirect {
                location: url.to_owned(),
                to: to.clone(),
                max: MAX_REDIRECTS,
            };
        }
    }
    SourceError::Status {
        location: url.to_owned(),
        status: reply.status.as_u16(),
    }
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    max_len: u64,
    timeout: Duration,
    connect_timeout: Duration,
}

fn get_request(url: &str, authorization: Option<HeaderValue>) -> Request {
    Request {
        method: Method::GET,
        url: url.to_owned(),
        authorization,
        form: None,
    }
}

/// [`exchange_async`] bounded by the timeout as a whole: connection, headers and every byte of
/// the body, however slowly a server drips them.
async fn bounded(client: Client, request: Request, limits: Limits) -> Result<Reply, SourceError> {
    let location = request.url.clone();
    tokio::time::timeout(limits.timeout, exchange_async(&client, &request, limits))
        .await
        .unwrap_or(Err(SourceError::Timeout {
            location,
            after: limits.timeout,
        }))
}

/// One request (retried once if the connection could not be made), then the body of a 2xx read
/// with the size cap.
async fn exchange_async(
    client: &Client,
    request: &Request,
    limits: Limits,
) -> Result<Reply, SourceError> {
    let url = request.url.as_str();
    let max_len = limits.max_len;
    let too_large = || SourceError::TooLarge {
        location: url.to_owned(),
        limit: max_len,
    };

    let send = || {
        let mut rb = client.request(request.method.clone(), url);
        if let Some(a) = &request.authorization {
            rb = rb.header(AUTHORIZATION, a.clone());
        }
        if let Some(form) = &request.form {
            rb = rb
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form.clone());
        }
        rb.send()
    };
    let mut response = match send().await {
        Ok(r) => r,
        Err(e) if retryable(&e) => {
            tokio::time::sleep(RETRY_PAUSE).await;
            send().await.map_err(|e| request_error(url, e, limits))?
        }
        Err(e) => return Err(request_error(url, e, limits)),
    };

    let status = response.status();
    let challenges = response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let redirect_to = if status.is_redirection() {
        redirect_target(&response)
    } else {
        None
    };
    let mut reply = Reply {
        status,
        challenges,
        redirect_to,
        body: Vec::new(),
    };
    if !status.is_success() {
        return Ok(reply);
    }
    let announced = response.content_length();
    if announced.is_some_and(|n| n > max_len) {
        return Err(too_large());
    }

    // Never more than max_len bytes kept.
    let initial = announced.unwrap_or(0).min(max_len).min(MAX_PREALLOC);
    let mut body: Vec<u8> = Vec::with_capacity(usize::try_from(initial).unwrap_or(0));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| request_error(url, e, limits))?
    {
        if (body.len() + chunk.len()) as u64 > max_len {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    reply.body = body;
    Ok(reply)
}

/// A connection that could not be made for a reason a second try may not meet: refused, reset,
/// closed during the TLS handshake. Not a timeout (the wait would double), not a TLS verdict
/// (a certificate does not get better).
fn retryable(e: &reqwest::Error) -> bool {
    if !e.is_connect() || e.is_timeout() {
        return false;
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<rustls::Error>().is_some() {
            return false;
        }
        cause = match c.downcast_ref::<io::Error>() {
            Some(io) if io.kind() == io::ErrorKind::InvalidData => return false,
            // io::Error::source() skips the error it wraps: look inside.
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                None => c.source(),
            },
            None => c.source(),
        };
    }
    true
}

/// Proxies from the environment, each with `NO_PROXY` plus loopback excluded. A proxy URL is
/// never echoed (it may carry a password).
fn env_proxies() -> Result<Vec<reqwest::Proxy>, SourceError> {
    let get = |names: &[&'static str]| {
        names.iter().find_map(|n| {
            std::env::var(n)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| (*n, v))
        })
    };
    let mut no = get(&["NO_PROXY", "no_proxy"])
        .map(|(_, v)| v)
        .unwrap_or_default();
    no.push_str(",localhost,127.0.0.0/8,::1");
    // In a CGI program HTTP_PROXY can come from a request header ("httpoxy"): ignore it there.
    let http_names: &[&'static str] = if std::env::var_os("REQUEST_METHOD").is_some() {
        &["http_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy"]
    };
    let bad = |var: &str, e: reqwest::Error| SourceError::BadProxy {
        var: var.to_owned(),
        reason: format!("not a usable proxy URL ({})", redact_cause(&e)),
    };
    let mut out = Vec::new();
    if let Some((var, v)) = get(&["HTTPS_PROXY", "https_proxy"]) {
        let p = reqwest::Proxy::https(v.as_str()).map_err(|e| bad(var, e))?;
        out.push(p.no_proxy(reqwest::NoProxy::from_string(&no)));
    }
    if let Some((var, v)) = get(http_names) {
        let p = reqwest::Proxy::http(v.as_str()).map_err(|e| bad(var, e))?;
        out.push(p.no_proxy(reqwest::NoProxy::from_string(&no)));
    }
    if let Some((var, v)) = get(&["ALL_PROXY", "all_proxy"]) {
        let p = reqwest::Proxy::all(v.as_str()).map_err(|e| bad(var, e))?;
        out.push(p.no_proxy(reqwest::NoProxy::from_string(&no)));
    }
    Ok(out)
}

/// An error's innermost message with any URL left out.
fn redact_cause(e: &reqwest::Error) -> String {
    let msg = innermost(e);
    if msg.contains("://") || msg.contains('@') {
        "invalid URL".into()
    } else {
        msg
    }
}

fn load_identity(id: &ClientIdentity) -> Result<reqwest::Identity, SourceError> {
    let bad = |reason: String| SourceError::BadClientCert {
        cert: id.cert.clone(),
        key: id.key.clone(),
        reason,
    };
    let cert = fs::read(&id.cert).map_err(|e| bad(format!("{}: {e}", id.cert.display())))?;
    let key = fs::read(&id.key).map_err(|e| bad(format!("{}: {e}", id.key.display())))?;
    if !String::from_utf8_lossy(&cert).contains("-----BEGIN CERTIFICATE-----") {
        return Err(bad(format!("{}: no PEM certificate", id.cert.display())));
    }
    if String::from_utf8_lossy(&key).contains("ENCRYPTED") {
        return Err(bad(format!(
            "{}: the key is encrypted; an unencrypted PEM key is needed",
            id.key.display()
        )));
    }
    let mut pem = cert;
    pem.push(b'\n');
    pem.extend_from_slice(&key);
    // reqwest's messages name what is missing, never the content.
    reqwest::Identity::from_pem(&pem).map_err(|e| bad(innermost(&e)))
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

/// Whether a server URL names a loopback host (`localhost`, 127.0.0.0/8, `[::1]`): plain http
/// to it stays on this machine.
pub fn is_loopback_url(url: &str) -> bool {
    Url::parse(url).is_ok_and(|u| auth::is_loopback(&u))
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
