//! The docker/distribution token flow, as far as it can be without IO: reading `WWW-Authenticate`
//! challenges, deciding whether a realm may be asked, building the token request, reading the
//! token answer, and the per-run token cache.
//!
//! A 401 carries one or more challenges. `Bearer realm="https://auth.example.com/token",
//! service="...",scope="..."` means: GET the realm with `service` and `scope` (basic auth when
//! credentials are known, or POST an identity token), read `token` (or `access_token`), retry with
//! `Authorization: Bearer <token>`. `Basic realm="..."` means: retry with the credentials
//! themselves. Anything else is refused, as is a realm that is not https (http only when the
//! server itself is plain http on loopback and so is the realm), holds `..`, or carries
//! credentials, a fragment or control characters.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};

use base64::Engine as _;
use reqwest::header::HeaderValue;
use reqwest::Url;

use crate::fetch::credentials::{Credential, Found};

/// Largest token answer read.
pub const MAX_TOKEN_RESPONSE: u64 = 1024 * 1024;
/// Most challenges (and parameters per challenge) looked at in one 401.
const MAX_CHALLENGES: usize = 16;
const MAX_PARAMS: usize = 32;
/// `client_id` sent with an identity-token (OAuth2) request.
pub const CLIENT_ID: &str = "trustpin";

/// One challenge of a `WWW-Authenticate` header: scheme (as sent) and parameters (names lower
/// case, values unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The first value of parameter `name` (lower case).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn count(&self, name: &str) -> usize {
        self.params.iter().filter(|(k, _)| k == name).count()
    }
}

/// What to do about a 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Get a token from `realm` and send it as `Authorization: Bearer`.
    Bearer {
        realm: Url,
        service: Option<String>,
        /// The scope the server named, if any (the request asks for its own, see [`scope_for`]).
        scope: Option<String>,
    },
    /// Send the credentials themselves as `Authorization: Basic`.
    Basic { realm: Option<String> },
}

/// Parses `WWW-Authenticate` values into challenges (RFC 7235: `scheme [token68 | param=value,
/// ...]`, several challenges separated by commas). Malformed parts end the parse; what was read
/// before them is kept.
pub fn parse_challenges<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut out = Vec::new();
    for value in values {
        let mut p = Parser {
            s: value.as_bytes(),
            i: 0,
        };
        loop {
            p.skip_list_separators();
            let Some(scheme) = p.token() else { break };
            let mut challenge = Challenge {
                scheme: scheme.to_owned(),
                params: Vec::new(),
            };
            p.skip_ws();
            loop {
                let save = p.i;
                let Some(name) = p.token() else { break };
                p.skip_ws();
                if !p.eat(b'=') {
                    // The next challenge's scheme.
                    p.i = save;
                    break;
                }
                p.skip_ws();
                let value = if p.peek() == Some(b'"') {
                    match p.quoted() {
                        Some(v) => v,
                        None => break,
                    }
                } else if let Some(t) = p.token() {
                    t.to_owned()
                } else {
                    // token68 ending in '=' (e.g. "Negotiate abc=="): not a parameter.
                    while p.eat(b'=') {}
                    String::new()
                };
                if challenge.params.len() < MAX_PARAMS {
                    challenge.params.push((name.to_ascii_lowercase(), value));
                }
                p.skip_ws();
                if !p.eat(b',') {
                    break;
                }
                p.skip_ws();
            }
            if out.len() < MAX_CHALLENGES {
                out.push(challenge);
            }
            if p.i >= p.s.len() {
                break;
            }
        }
    }
    out
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn skip_list_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }
    /// RFC 7230 tchar+ (plus '/' so token68 values read as one token).
    fn token(&mut self) -> Option<&'a str> {
        let start = self.i;
        while let Some(c) = self.peek() {
            let tchar = c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/".contains(&c);
            if !tchar {
                break;
            }
            self.i += 1;
        }
        if self.i == start {
            return None;
        }
        std::str::from_utf8(self.s.get(start..self.i)?).ok()
    }
    fn quoted(&mut self) -> Option<String> {
        if !self.eat(b'"') {
            return None;
        }
        let mut out = Vec::new();
        loop {
            let c = self.peek()?;
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let next = self.peek()?;
                    self.i += 1;
                    out.push(next);
                }
                _ => out.push(c),
            }
        }
    }
}

/// The challenge text shown in messages: escaped, at most 200 characters.
pub fn show(raw: &str) -> String {
    let mut s: String = raw.chars().take(200).collect();
    if raw.chars().count() > 200 {
        s.push('…');
    }
    format!("{s:?}")
}

/// Why a 401 challenge is not followed, or a token or credential cannot be used. Never carries a
/// secret. (`realm` fields hold the realm as shown: quoted, escaped, shortened.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("HTTP 401 without a WWW-Authenticate challenge")]
    NoChallenge,
    #[error("the Bearer challenge names {param} more than once")]
    RepeatedParam { param: &'static str },
    #[error("the Bearer challenge has no realm")]
    NoRealm,
    #[error("unsupported authentication scheme {schemes}: only Bearer (the docker token flow) and Basic are supported")]
    UnsupportedScheme { schemes: String },
    #[error("the realm is empty")]
    EmptyRealm,
    #[error("realm {realm} {defect}")]
    Realm { realm: String, defect: RealmDefect },
    #[error("the answer is not JSON")]
    NotJson,
    #[error("the answer has neither token nor access_token")]
    NoToken,
    #[error("the token is not a b64token (RFC 6750)")]
    NotB64Token,
    #[error("the credentials cannot form a header")]
    CredentialsNotHeader,
    #[error("the token cannot form a header")]
    TokenNotHeader,
}

/// Chooses how to answer a 401 from `server`: Bearer if offered, else Basic. Refuses unknown
/// schemes and unusable realms with the reason.
pub fn plan(challenges: &[Challenge], server: &Url) -> Result<Plan, AuthError> {
    if challenges.is_empty() {
        return Err(AuthError::NoChallenge);
    }
    if let Some(c) = challenges
        .iter()
        .find(|c| c.scheme.eq_ignore_ascii_case("bearer"))
    {
        for name in ["realm", "service", "scope"] {
            if c.count(name) > 1 {
                return Err(AuthError::RepeatedParam { param: name });
            }
        }
        let realm = c.param("realm").ok_or(AuthError::NoRealm)?;
        let realm = check_realm(realm, server)?;
        return Ok(Plan::Bearer {
            realm,
            service: c.param("service").map(str::to_owned),
            scope: c.param("scope").map(str::to_owned),
        });
    }
    if let Some(c) = challenges
        .iter()
        .find(|c| c.scheme.eq_ignore_ascii_case("basic"))
    {
        return Ok(Plan::Basic {
            realm: c.param("realm").map(str::to_owned),
        });
    }
    let schemes: Vec<String> = challenges.iter().map(|c| show(&c.scheme)).collect();
    Err(AuthError::UnsupportedScheme {
        schemes: schemes.join(", "),
    })
}

/// True for `localhost`, 127.0.0.0/8 and ::1 (IPv4-mapped loopback too).
pub fn is_loopback(url: &Url) -> bool {
    url.host_str().is_some_and(is_loopback_host)
}

/// Whether an IP address (as a host string, brackets allowed) is loopback.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    bare.parse::<IpAddr>().is_ok_and(|ip| match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v| v.is_loopback()),
    })
}

/// What is wrong with a realm ([`AuthError::Realm`] names the realm itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RealmDefect {
    #[error("contains whitespace or control characters")]
    Characters,
    #[error("contains '..'")]
    DotDot,
    #[error("is not an absolute URL: {0}")]
    NotUrl(String),
    #[error("has the scheme {0:?}; only https is accepted")]
    Scheme(String),
    #[error("has no host")]
    NoHost,
    #[error("carries user information")]
    UserInfo,
    #[error("has a fragment")]
    Fragment,
    #[error("is plain http: credentials and tokens would cross the network unencrypted (an http realm is accepted only when the server itself is plain http on loopback and so is the realm)")]
    PlainHttp,
}

/// A realm we may send credentials to: an absolute https URL (http only when `server` is plain
/// http on loopback and the realm is on loopback too), without `..`, user info, fragment,
/// whitespace or control characters.
pub fn check_realm(realm: &str, server: &Url) -> Result<Url, AuthError> {
    if realm.is_empty() {
        return Err(AuthError::EmptyRealm);
    }
    realm_url(realm, server).map_err(|defect| AuthError::Realm {
        realm: show(realm),
        defect,
    })
}

fn realm_url(realm: &str, server: &Url) -> Result<Url, RealmDefect> {
    if realm.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(RealmDefect::Characters);
    }
    let lower = realm.to_ascii_lowercase();
    if ["..", "%2e%2e", ".%2e", "%2e."]
        .iter()
        .any(|bad| lower.contains(bad))
    {
        return Err(RealmDefect::DotDot);
    }
    let url = Url::parse(realm).map_err(|e| RealmDefect::NotUrl(e.to_string()))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(RealmDefect::Scheme(url.scheme().to_owned()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(RealmDefect::NoHost);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(RealmDefect::UserInfo);
    }
    if url.fragment().is_some() {
        return Err(RealmDefect::Fragment);
    }
    match url.scheme() {
        "http" if server.scheme() == "http" && is_loopback(server) && is_loopback(&url) => Ok(url),
        "http" => Err(RealmDefect::PlainHttp),
        _ => Ok(url),
    }
}

/// The scope asked for: pull on the repository, as docker's notary client asks.
pub fn scope_for(gun: &str) -> String {
    format!("repository:{gun}:pull")
}

/// `realm?service=...&scope=...` (the realm's own query kept).
pub fn token_url(realm: &Url, service: Option<&str>, scope: &str) -> Url {
    let mut url = realm.clone();
    {
        let mut q = url.query_pairs_mut();
        if let Some(s) = service {
            q.append_pair("service", s);
        }
        q.append_pair("scope", scope);
    }
    url
}

/// The OAuth2 form for an identity token: `grant_type=refresh_token&refresh_token=...`.
pub fn refresh_form(token: &str, service: Option<&str>, scope: &str) -> String {
    let mut pairs = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(s) = service {
        pairs.push(("service", s));
    }
    pairs.push(("scope", scope));
    pairs.push(("client_id", CLIENT_ID));
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// application/x-www-form-urlencoded: `*-._` and alphanumerics kept, space as `+`, the rest `%XX`.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The token from a token server's answer: `access_token` if present and non-empty (docker's
/// choice), else `token`. It must be a b64token (RFC 6750) so it can only be one header value.
pub fn parse_token_response(body: &[u8]) -> Result<String, AuthError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| AuthError::NotJson)?;
    let field = |k: &str| {
        value
            .get(k)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
    };
    let token = field("access_token")
        .or_else(|| field("token"))
        .ok_or(AuthError::NoToken)?;
    let body_end = token.trim_end_matches('=');
    let b64token = !body_end.is_empty()
        && body_end
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._~+/".contains(&c));
    if !b64token {
        return Err(AuthError::NotB64Token);
    }
    Ok(token.to_owned())
}

/// `Authorization: Basic base64(user:password)`, marked sensitive.
pub fn basic_header(username: &str, password: &str) -> Result<HeaderValue, AuthError> {
    let raw = format!("{username}:{password}");
    let encoded = base64::engine::general_purpose::STANDARD.encode(raw.as_bytes());
    let mut v = HeaderValue::from_str(&format!("Basic {encoded}"))
        .map_err(|_| AuthError::CredentialsNotHeader)?;
    v.set_sensitive(true);
    Ok(v)
}

/// `Authorization: Bearer <token>`, marked sensitive.
pub fn bearer_header(token: &str) -> Result<HeaderValue, AuthError> {
    let mut v =
        HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| AuthError::TokenNotHeader)?;
    v.set_sensitive(true);
    Ok(v)
}

/// A token as cached: Debug never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(pub String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// What a cached token was asked for with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenKey {
    pub realm: String,
    pub service: Option<String>,
    pub scope: String,
}

/// A failed token request, kept for the run so concurrent fetches do not all repeat it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub realm: String,
    pub reason: String,
    /// The token server refused an anonymous request: no credentials were found.
    pub no_credentials: bool,
}

type Slot = Arc<Mutex<Option<Result<Token, Failure>>>>;

/// How the last successful fetch of a repository was authorised, to send it up front next time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    Bearer(TokenKey),
    Basic,
}

/// Tokens per realm + service + scope for the run, and per-repository hints. Shared by every
/// thread using one source; a token is fetched once however many fetches ask at the same time.
#[derive(Debug, Default)]
pub struct TokenCache {
    slots: Mutex<HashMap<TokenKey, Slot>>,
    hints: RwLock<HashMap<String, Hint>>,
}

impl TokenCache {
    fn slot(&self, key: &TokenKey) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry(key.clone()).or_default().clone()
    }

    /// The cached token for `key`, if one was fetched successfully.
    pub fn cached(&self, key: &TokenKey) -> Option<Token> {
        let slot = self.slot(key);
        let guard = slot.lock().unwrap_or_else(|e| e.into_inner());
        match &*guard {
            Some(Ok(t)) => Some(t.clone()),
            _ => None,
        }
    }

    /// The token for `key`: the cached one unless it is `stale` (the server just refused it), else
    /// `fetch` (once, while other callers for the same key wait). Failures are cached too, except
    /// when a caller retries after a refused token.
    pub fn get_or_fetch(
        &self,
        key: &TokenKey,
        stale: Option<&Token>,
        fetch: impl FnOnce() -> Result<Token, Failure>,
    ) -> Result<Token, Failure> {
        let slot = self.slot(key);
        let mut guard = slot.lock().unwrap_or_else(|e| e.into_inner());
        match &*guard {
            Some(Ok(t)) if Some(t) != stale => return Ok(t.clone()),
            Some(Err(f)) if stale.is_none() => return Err(f.clone()),
            _ => {}
        }
        let result = fetch();
        *guard = Some(result.clone());
        result
    }

    pub fn hint(&self, gun: &str) -> Option<Hint> {
        let hints = self.hints.read().unwrap_or_else(|e| e.into_inner());
        hints.get(gun).cloned()
    }

    pub fn set_hint(&self, gun: &str, hint: Hint) {
        let mut hints = self.hints.write().unwrap_or_else(|e| e.into_inner());
        hints.insert(gun.to_owned(), hint);
    }
}

/// The registry a repository name belongs to: its first component (`docker.io`,
/// `registry.example.com:5000`).
pub fn registry_of(gun: &str) -> &str {
    gun.split('/').next().unwrap_or(gun)
}

/// How a credential is described in messages ("anonymously", or who and from where).
pub fn who(found: Option<&Found>) -> String {
    match found {
        None => "anonymously (no credentials found)".into(),
        Some(f) => format!("as {}", f.describe()),
    }
}

/// True when the credential can answer a Basic challenge.
pub fn basic_capable(found: &Found) -> bool {
    matches!(found.credential, Credential::Password { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Url {
        Url::parse("https://notary.example.com").unwrap()
    }

    #[test]
    fn docker_hub_challenge_is_parsed() {
        let c = parse_challenges([
            r#"Bearer realm="https://auth.docker.io/token",service="notary.docker.io",scope="repository:docker.io/library/alpine:pull""#,
        ]);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "Bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c[0].param("service"), Some("notary.docker.io"));
        assert_eq!(
            c[0].param("scope"),
            Some("repository:docker.io/library/alpine:pull")
        );
        match plan(&c, &server()).unwrap() {
            Plan::Bearer { realm, service, .. } => {
                assert_eq!(realm.as_str(), "https://auth.docker.io/token");
                assert_eq!(service.as_deref(), Some("notary.docker.io"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn several_challenges_and_odd_spacing() {
        let c = parse_challenges([
            r#"Negotiate abc==, Basic realm="reg" , Bearer realm = "https://a/t" , service=svc,error="invalid_token""#,
        ]);
        let schemes: Vec<&str> = c.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["Negotiate", "Basic", "Bearer"]);
        assert_eq!(c[2].param("service"), Some("svc"));
        assert_eq!(c[2].param("error"), Some("invalid_token"));
        assert!(matches!(plan(&c, &server()).unwrap(), Plan::Bearer { .. }));
        let c = parse_challenges(["Basic realm=\"a \\\"quoted\\\" realm\""]);
        assert_eq!(c[0].param("realm"), Some("a \"quoted\" realm"));
        assert!(matches!(plan(&c, &server()).unwrap(), Plan::Basic { .. }));
    }

    #[test]
    fn unknown_scheme_is_refused() {
        let err = plan(
            &parse_challenges(["Digest realm=\"x\", nonce=\"y\""]),
            &server(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("unsupported authentication scheme \"Digest\""),
            "{err}"
        );
        assert!(plan(&[], &server())
            .unwrap_err()
            .to_string()
            .contains("without"));
    }

    #[test]
    fn hostile_realms_are_refused() {
        let refused = |realm: &str, srv: &Url, why: &str| {
            let err = check_realm(realm, srv).expect_err(realm).to_string();
            assert!(err.contains(why), "{realm}: {err}");
            if !realm.is_empty() && !realm.contains('\u{1b}') {
                assert!(
                    err.contains(&realm[..realm.len().min(12)]),
                    "{realm}: {err}"
                );
            }
        };
        let http_loopback = Url::parse("http://127.0.0.1:4443").unwrap();
        refused(
            "http://auth.example.com/token",
            &http_loopback,
            "plain http",
        );
        for (realm, why) in [
            ("http://auth.example.com/token", "plain http"),
            ("http://127.0.0.1:9/token", "plain http"),
            ("https://auth.example.com/../token", "'..'"),
            ("https://auth.example.com/a/%2e%2e/token", "'..'"),
            ("https://auth..example.com/token", "'..'"),
            ("ftp://auth.example.com/token", "scheme"),
            ("file:///etc/passwd", "scheme"),
            ("https://user:pw@auth.example.com/token", "user information"),
            ("https://auth.example.com/token#x", "fragment"),
            ("/token", "not an absolute URL"),
            ("https://auth.example.com/to ken", "whitespace"),
            ("https://auth.example.com/\u{1b}[2J", "control"),
            ("", "empty"),
        ] {
            refused(realm, &server(), why);
        }
    }

    #[test]
    fn good_realms() {
        check_realm("https://auth.docker.io/token", &server()).unwrap();
        check_realm("https://auth.example.com/token?x=1", &server()).unwrap();
        for srv in [
            "http://127.0.0.1:4443",
            "http://localhost:1",
            "http://[::1]:5",
        ] {
            let srv = Url::parse(srv).unwrap();
            check_realm("http://127.0.0.1:9/token", &srv).unwrap();
            check_realm("http://[::1]:9/token", &srv).unwrap();
            check_realm("https://auth.example.com/token", &srv).unwrap();
        }
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1",
            "127.9.9.9",
            "[::1]",
            "::1",
            "localhost",
            "LOCALHOST",
            "[::ffff:127.0.0.1]",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "10.0.0.1",
            "[2001:db8::1]",
            "example.com",
            "localhost.example.com",
            "[::2]",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
        assert!(is_loopback(&Url::parse("http://[::1]:4443/x").unwrap()));
        assert!(!is_loopback(
            &Url::parse("http://[2001:db8::1]:4443/x").unwrap()
        ));
    }

    #[test]
    fn token_request_and_answer() {
        let realm = Url::parse("https://auth.example.com/token?client=x").unwrap();
        let url = token_url(&realm, Some("notary svc"), "repository:a/b:pull");
        assert_eq!(
            url.as_str(),
            "https://auth.example.com/token?client=x&service=notary+svc&scope=repository%3Aa%2Fb%3Apull"
        );
        assert_eq!(
            parse_token_response(br#"{"token":"abc.def-_"}"#).unwrap(),
            "abc.def-_"
        );
        assert_eq!(
            parse_token_response(br#"{"token":"t1","access_token":"t2"}"#).unwrap(),
            "t2"
        );
        assert_eq!(
            parse_token_response(br#"{"token":"t1","access_token":""}"#).unwrap(),
            "t1"
        );
        for bad in [
            &br#"{}"#[..],
            br#"{"token":""}"#,
            br#"{"token":"a b"}"#,
            br#"{"token":"a\r\nX-Evil: 1"}"#,
            br#"{"token":5}"#,
            b"not json",
        ] {
            assert!(
                parse_token_response(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let form = refresh_form("r&t=x", Some("svc"), "repository:a:pull");
        assert_eq!(
            form,
            "grant_type=refresh_token&refresh_token=r%26t%3Dx&service=svc&scope=repository%3Aa%3Apull&client_id=trustpin"
        );
    }

    #[test]
    fn headers_are_sensitive() {
        let b = basic_header("u", "p").unwrap();
        assert!(b.is_sensitive());
        assert_eq!(b.to_str().unwrap(), "Basic dTpw");
        assert!(bearer_header("t").unwrap().is_sensitive());
        assert!(format!("{:?}", Token("secret-token".into())).contains("redacted"));
    }

    #[test]
    fn cache_fetches_once_and_refreshes_a_refused_token() {
        let cache = TokenCache::default();
        let key = TokenKey {
            realm: "https://a/t".into(),
            service: None,
            scope: "repository:x:pull".into(),
        };
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let fetch = |name: &str| {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(Token(name.into()))
        };
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| cache.get_or_fetch(&key, None, || fetch("one")).unwrap());
            }
        });
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        let one = Token("one".into());
        assert_eq!(
            cache
                .get_or_fetch(&key, Some(&one), || fetch("two"))
                .unwrap()
                .0,
            "two"
        );
        // Someone else already refreshed: the new token is used, not fetched again.
        assert_eq!(
            cache
                .get_or_fetch(&key, Some(&one), || fetch("three"))
                .unwrap()
                .0,
            "two"
        );
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
        // Failures are remembered.
        let key2 = TokenKey {
            scope: "repository:y:pull".into(),
            ..key.clone()
        };
        let fail = || {
            Err(Failure {
                realm: "https://a/t".into(),
                reason: "no".into(),
                no_credentials: false,
            })
        };
        assert!(cache.get_or_fetch(&key2, None, fail).is_err());
        assert!(cache.get_or_fetch(&key2, None, || fetch("x")).is_err());
    }
}
