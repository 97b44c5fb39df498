//! The answer to a 401: read the server's challenge, get a token from its realm (or take the
//! password for Basic), ask again once with it, and say clearly why a refusal is one. What
//! worked for a repository is sent at once on its next request.

use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode, Url};

use super::exchange::{status_error, Reply, Request};
use super::HttpSource;
use crate::fetch::auth::{self, Hint, Plan, Token, TokenKey};
use crate::fetch::credentials::{Credential, Found};
use crate::fetch::{SourceError, Wave};

impl HttpSource {
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

    /// This server's Basic realm as messages show it: `<base> (Basic realm "...")`.
    fn basic_realm(&self, realm: Option<&str>) -> String {
        match realm {
            Some(r) => format!("{} (Basic realm {})", self.base, auth::show(r)),
            None => format!("{} (Basic)", self.base),
        }
    }

    /// `Authorization: Basic` for a Basic challenge from this server.
    fn basic_authorization(
        &self,
        gun: &str,
        url: &str,
        realm: Option<&str>,
    ) -> Result<HeaderValue, SourceError> {
        let shown_realm = self.basic_realm(realm);
        let auth_error = |reason: String, no_credentials: bool| SourceError::Auth {
            location: url.to_owned(),
            realm: shown_realm.clone(),
            reason,
            no_credentials,
        };
        let fail = |reason: String| auth_error(reason, false);
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
            }) => auth::basic_header(&username, password.expose()).map_err(|e| fail(e.to_string())),
            Some(found) => Err(fail(format!(
                "the server asks for a user name and password, and the credentials for registry \
                 {registry} are {}",
                found.describe()
            ))),
            None => Err(auth_error(
                format!(
                    "the server asks for a user name and password and none were found for \
                     registry {registry}"
                ),
                true,
            )),
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
        wave: Wave,
    ) -> Result<(Token, Option<Found>), SourceError> {
        let found = self.credentials_for(gun, url)?;
        let token = self
            .shared
            .tokens
            .get_or_fetch(key, stale, || {
                self.fetch_token(realm, key, found.as_ref(), wave)
            })
            .map_err(|f| SourceError::Auth {
                location: url.to_owned(),
                realm: f.realm,
                reason: f.reason,
                no_credentials: f.no_credentials,
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
        wave: Wave,
    ) -> Result<Token, auth::Failure> {
        let fail = |reason: String| auth::Failure {
            realm: realm.to_string(),
            reason,
            no_credentials: false,
        };
        let service = key.service.as_deref();
        let request = match found.map(|f| &f.credential) {
            None => Request {
                method: Method::GET,
                url: auth::token_url(realm, service, &key.scope).to_string(),
                ..Request::default()
            },
            Some(Credential::Password { username, password }) => Request {
                method: Method::GET,
                url: auth::token_url(realm, service, &key.scope).to_string(),
                authorization: Some(
                    auth::basic_header(username, password.expose())
                        .map_err(|e| fail(e.to_string()))?,
                ),
                ..Request::default()
            },
            Some(Credential::IdentityToken { token }) => Request {
                method: Method::POST,
                url: realm.to_string(),
                body: Some((
                    "application/x-www-form-urlencoded",
                    auth::refresh_form(token.expose(), service, &key.scope).into_bytes(),
                )),
                ..Request::default()
            },
        };
        let token_url = request.url.clone();
        let who = auth::who(found);
        let reply = self
            .exchange(request, auth::MAX_TOKEN_RESPONSE, wave)
            .map_err(|e| fail(format!("token request: {e}")))?;
        match reply.status.as_u16() {
            200..=299 => auth::parse_token_response(&reply.body)
                .map(Token)
                .map_err(|r| fail(format!("{token_url}: {r}"))),
            401 | 403 => Err(match found {
                None => auth::Failure {
                    no_credentials: true,
                    ..fail(format!(
                        "the token server refused anonymous access (HTTP {})",
                        reply.status.as_u16()
                    ))
                },
                Some(f) => fail(format!(
                    "the token server refused the credentials of {} (HTTP {})",
                    f.describe(),
                    reply.status.as_u16()
                )),
            }),
            _ => Err(fail(format!(
                "token request made {who}: {}",
                status_error(&token_url, &reply)
            ))),
        }
    }

    /// What the first request of a fetch carries: what worked for this repository before.
    pub(super) fn first_attempt(&self, gun: &str, url: &str) -> Result<FirstAttempt, SourceError> {
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
    pub(super) fn after_first(
        &self,
        gun: &str,
        url: &str,
        reply: Reply,
        first: FirstAttempt,
        wave: Wave,
    ) -> Next {
        if reply.status != StatusCode::UNAUTHORIZED {
            return Next::Done(Ok(reply));
        }
        match self.plan_retry(gun, url, &reply, first, wave) {
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
        wave: Wave,
    ) -> Result<Retry, SourceError> {
        let challenges = auth::parse_challenges(reply.challenges.iter().map(String::as_str));
        let plan =
            auth::plan(&challenges, &self.base_url).map_err(|reason| SourceError::Challenge {
                location: url.to_owned(),
                reason: reason.to_string(),
            })?;
        match plan {
            Plan::Bearer { realm, service, .. } => {
                let key = TokenKey {
                    realm: realm.to_string(),
                    service,
                    scope: self.scope_for(gun),
                };
                let stale = first
                    .sent_token
                    .as_ref()
                    .filter(|(k, _)| *k == key)
                    .map(|(_, t)| t);
                let (token, found) = self.token(gun, url, &realm, &key, stale, wave)?;
                let header = auth::bearer_header(&token.0).map_err(|reason| SourceError::Auth {
                    location: url.to_owned(),
                    realm: realm.to_string(),
                    reason: reason.to_string(),
                    no_credentials: false,
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
                        realm: self.basic_realm(None),
                        reason: "the server refused the user name and password".into(),
                        no_credentials: false,
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
    pub(super) fn after_retry(
        &self,
        gun: &str,
        url: &str,
        reply: Reply,
        retry: Retry,
    ) -> Result<Reply, SourceError> {
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
                    return Err(SourceError::Auth {
                        location: url.to_owned(),
                        realm: realm.to_string(),
                        reason: format!(
                            "the server refused the token obtained {}{error}: it does not grant \
                             {}",
                            auth::who(found.as_ref()),
                            key.scope
                        ),
                        no_credentials: found.is_none(),
                    });
                }
                tokens.set_hint(gun, Hint::Bearer(key));
                Ok(reply)
            }
            RetryWith::Basic { realm } => {
                if reply.status == StatusCode::UNAUTHORIZED {
                    let who = self
                        .credentials_for(gun, url)?
                        .map(|f| f.describe())
                        .unwrap_or_default();
                    return Err(SourceError::Auth {
                        location: url.to_owned(),
                        realm: self.basic_realm(realm.as_deref()),
                        reason: format!("the server refused the credentials of {who}"),
                        no_credentials: false,
                    });
                }
                tokens.set_hint(gun, Hint::Basic);
                Ok(reply)
            }
        }
    }
}

/// The first request of a fetch: its `Authorization`, and what that was.
pub(super) struct FirstAttempt {
    pub(super) header: Option<HeaderValue>,
    sent_token: Option<(TokenKey, Token)>,
    sent_basic: bool,
}

/// After a first answer: done (any status but 401), or ask again with credentials.
pub(super) enum Next {
    Done(Result<Reply, SourceError>),
    Again(Retry),
}

/// A request to send again with `header`, and what a refusal of it means.
pub(super) struct Retry {
    pub(super) header: HeaderValue,
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
