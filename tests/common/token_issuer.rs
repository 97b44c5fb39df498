//! A small docker/distribution token server for tests: the `realm` a notary-server configured with
//! `auth: {type: "token", options: {realm, service, issuer, rootcertbundle}}` sends clients to.
//!
//! It runs on a [`TestServer`] ([`super::server`]) at
//! `/token`, checks HTTP Basic credentials against its users (or an OAuth2 refresh token posted as
//! a form, docker's identity tokens), and answers `{"token": JWT, "expires_in": 300}`.
//!
//! The JWT is what notary-server 0.7's vendored `docker/distribution/registry/auth/token` verifies
//! (`token.go`, `accesscontroller.go`):
//! - compact JWS, header `{"typ":"JWT","alg":"ES256","x5c":[<leaf DER, standard base64>]}`; the
//!   leaf certificate is issued by a CA whose certificate is the server's `rootcertbundle` (the
//!   chain is verified with `x509.Verify` against it; `kid` would need libtrust key IDs instead);
//! - ES256 signature as raw r||s (64 bytes), base64url without padding, like header and claims;
//! - claims `iss` = the configured issuer, `aud` = the configured service (one string), `sub`,
//!   `exp`/`nbf` (checked with 60 s leeway), `iat`, `jti`, and `access` =
//!   `[{"type":"repository","name":<GUN>,"actions":["pull",...]}]`, which must hold every action
//!   the route needs (`pull` to read, `push` and `pull` to publish).
//!
//! Anonymous requests get a token without access by default (as Docker Hub does for a private
//! repository), so the server then refuses it with `insufficient_scope`; [`Anonymous::Refused`]
//! answers 401 instead.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

use super::server::{make_ca, make_leaf, Reply, Request, Response, TestPki, TestServer};

pub const SERVICE: &str = "trustpin-test-notary";
pub const ISSUER: &str = "trustpin-test-token-issuer";

/// A user of the token server.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub password: String,
    /// Actions granted on every repository asked for (`pull`, `push`, `*`).
    pub actions: Vec<String>,
    /// An identity (refresh) token that also logs this user in (OAuth2 POST).
    pub identity_token: Option<String>,
}

impl User {
    pub fn new(name: &str, password: &str, actions: &[&str]) -> User {
        User {
            name: name.into(),
            password: password.into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
            identity_token: None,
        }
    }

    pub fn with_identity_token(mut self, token: &str) -> User {
        self.identity_token = Some(token.into());
        self
    }
}

/// What a request without credentials gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anonymous {
    /// A valid token with no access (the server then answers 401 `insufficient_scope`).
    NoAccess,
    /// 401 from the token server itself.
    Refused,
}

/// One token request as the issuer understood it.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The authenticated user, `None` when anonymous, `Err` when refused.
    pub user: Result<Option<String>, String>,
    pub service: Option<String>,
    pub scopes: Vec<String>,
    pub method: String,
}

struct State {
    users: Vec<User>,
    key: EcdsaKeyPair,
    leaf_der: Vec<u8>,
    anonymous: Mutex<Anonymous>,
    issued: Mutex<Vec<Issued>>,
    counter: Mutex<u64>,
    /// `token` or `access_token`.
    field: &'static str,
}

/// The token server; dropping it stops it.
pub struct TokenIssuer {
    server: TestServer,
    state: Arc<State>,
    dir: tempfile::TempDir,
}

impl TokenIssuer {
    /// Plain http on 127.0.0.1 (acceptable to trustpin for a notary-server on plain http loopback).
    pub fn start(users: Vec<User>) -> TokenIssuer {
        Self::launch(users, None, "token")
    }

    /// https with a certificate from `pki`.
    pub fn start_tls(users: Vec<User>, pki: &TestPki) -> TokenIssuer {
        Self::launch(users, Some(pki), "token")
    }

    /// Answers with `access_token` instead of `token`.
    pub fn start_access_token(users: Vec<User>) -> TokenIssuer {
        Self::launch(users, None, "access_token")
    }

    fn launch(users: Vec<User>, pki: Option<&TestPki>, field: &'static str) -> TokenIssuer {
        use rcgen::KeyUsagePurpose;
        let dir = super::temp_dir("trustpin-token-issuer-");
        let ca = make_ca(
            "trustpin test token CA",
            vec![KeyUsagePurpose::DigitalSignature],
        );
        let (leaf, leaf_key) = make_leaf(&ca, Vec::new(), "trustpin test token signer", None);
        std::fs::write(dir.path().join("rootcertbundle.pem"), ca.pem()).unwrap();

        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &leaf_key.serialize_der(),
            &SystemRandom::new(),
        )
        .expect("ring reads rcgen's PKCS#8");
        let state = Arc::new(State {
            users,
            key,
            leaf_der: leaf.der().to_vec(),
            anonymous: Mutex::new(Anonymous::NoAccess),
            issued: Mutex::new(Vec::new()),
            counter: Mutex::new(0),
            field,
        });
        let server = match pki {
            Some(pki) => TestServer::start_tls(pki.server_config(false)),
            None => TestServer::start(),
        };
        let handler_state = state.clone();
        server.route("/token", move |req| handle(&handler_state, req));
        TokenIssuer { server, state, dir }
    }

    /// `<url>/token`.
    pub fn realm(&self) -> String {
        format!("{}/token", self.server.url())
    }

    /// The CA certificate the notary-server's `rootcertbundle` must name.
    pub fn rootcertbundle(&self) -> std::path::PathBuf {
        self.dir.path().join("rootcertbundle.pem")
    }

    /// The `auth` section of a notary-server configuration trusting this issuer.
    pub fn notary_auth_config(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "token",
            "options": {
                "realm": self.realm(),
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": self.rootcertbundle().to_str().expect("UTF-8 temp path"),
            }
        })
    }

    pub fn set_anonymous(&self, policy: Anonymous) {
        *self.state.anonymous.lock().unwrap() = policy;
    }

    /// Every token request so far.
    pub fn issued(&self) -> Vec<Issued> {
        self.state.issued.lock().unwrap().clone()
    }

    /// The raw requests (headers included) to `/token`.
    pub fn requests(&self) -> Vec<Request> {
        self.server
            .log()
            .into_iter()
            .filter(|r| r.path == "/token")
            .collect()
    }

    pub fn server(&self) -> &TestServer {
        &self.server
    }

    /// A token for `user` with `access` (for tests that build requests by hand).
    pub fn token_for(&self, subject: &str, access: serde_json::Value) -> String {
        sign(&self.state, subject, access, SERVICE)
    }
}

fn unauthorized(message: &str) -> Reply {
    Response::new(
        401,
        format!(r#"{{"errors":[{{"code":"UNAUTHORIZED","message":"{message}"}}]}}"#),
    )
    .header("Content-Type", "application/json")
    .header(
        "WWW-Authenticate",
        r#"Basic realm="trustpin test token issuer""#,
    )
    .into()
}

fn handle(state: &State, req: &Request) -> Reply {
    let mut params = decode_form(req.query.as_deref().unwrap_or(""));
    if req.method == "POST" {
        params.extend(decode_form(&String::from_utf8_lossy(&req.body)));
    }
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let service = get("service");
    let scopes: Vec<String> = params
        .iter()
        .filter(|(n, _)| n == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect();
    let record = |user: Result<Option<String>, String>| {
        state.issued.lock().unwrap().push(Issued {
            user,
            service: service.clone(),
            scopes: scopes.clone(),
            method: req.method.clone(),
        });
    };

    // Who is asking.
    let user: Option<&User> = if req.method == "POST" {
        if get("grant_type").as_deref() != Some("refresh_token") {
            record(Err("unsupported grant_type".into()));
            return Response::new(400, r#"{"error":"unsupported_grant_type"}"#).into();
        }
        let presented = get("refresh_token").unwrap_or_default();
        match state
            .users
            .iter()
            .find(|u| u.identity_token.as_deref() == Some(presented.as_str()))
        {
            Some(u) => Some(u),
            None => {
                record(Err("bad refresh token".into()));
                return unauthorized("invalid refresh token");
            }
        }
    } else {
        match req.header("authorization") {
            None => None,
            Some(h) => {
                let decoded = h
                    .strip_prefix("Basic ")
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .and_then(|b| String::from_utf8(b).ok());
                let Some((name, password)) = decoded.as_deref().and_then(|d| d.split_once(':'))
                else {
                    record(Err("malformed Authorization".into()));
                    return unauthorized("malformed credentials");
                };
                match state
                    .users
                    .iter()
                    .find(|u| u.name == name && u.password == password)
                {
                    Some(u) => Some(u),
                    None => {
                        record(Err(format!("wrong password for {name}")));
                        return unauthorized("authentication failed");
                    }
                }
            }
        }
    };
    if service.as_deref() != Some(SERVICE) {
        record(Err(format!("unknown service {service:?}")));
        return Response::new(400, r#"{"errors":[{"code":"INVALID_SERVICE"}]}"#).into();
    }
    if user.is_none() && *state.anonymous.lock().unwrap() == Anonymous::Refused {
        record(Err("anonymous refused".into()));
        return unauthorized("anonymous access is not allowed");
    }

    let mut access = Vec::new();
    for scope in &scopes {
        // type:name:actions, where the name may hold ':' (a registry port).
        let Some((kind, rest)) = scope.split_once(':') else {
            continue;
        };
        let Some((name, actions)) = rest.rsplit_once(':') else {
            continue;
        };
        let granted: Vec<&str> = match user {
            None => Vec::new(),
            Some(u) => actions
                .split(',')
                .filter(|a| u.actions.iter().any(|g| g == a || g == "*"))
                .collect(),
        };
        if !granted.is_empty() {
            access.push(serde_json::json!({"type": kind, "name": name, "actions": granted}));
        }
    }
    record(Ok(user.map(|u| u.name.clone())));
    let subject = user.map_or("", |u| u.name.as_str());
    let token = sign(state, subject, serde_json::Value::Array(access), SERVICE);
    let now = now();
    let body = serde_json::json!({
        state.field: token,
        "expires_in": 300,
        "issued_at": time::OffsetDateTime::from_unix_timestamp(now as i64)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
    });
    Response::json(serde_json::to_vec(&body).unwrap()).into()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn sign(state: &State, subject: &str, access: serde_json::Value, audience: &str) -> String {
    let b64url = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jti = {
        let mut c = state.counter.lock().unwrap();
        *c += 1;
        format!("trustpin-test-{}-{}", now(), *c)
    };
    let header = serde_json::json!({
        "typ": "JWT",
        "alg": "ES256",
        "x5c": [base64::engine::general_purpose::STANDARD.encode(&state.leaf_der)],
    });
    let now = now();
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": subject,
        "aud": audience,
        "exp": now + 300,
        "nbf": now.saturating_sub(10),
        "iat": now,
        "jti": jti,
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        b64url(&serde_json::to_vec(&header).unwrap()),
        b64url(&serde_json::to_vec(&claims).unwrap())
    );
    let sig = state
        .key
        .sign(&SystemRandom::new(), signing_input.as_bytes())
        .expect("ES256 signing");
    format!("{signing_input}.{}", b64url(sig.as_ref()))
}

/// application/x-www-form-urlencoded (and query strings): `+` is a space, `%XX` a byte.
pub fn decode_form(s: &str) -> Vec<(String, String)> {
    let decode = |part: &str| {
        let bytes = part.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                    match u8::from_str_radix(hex, 16) {
                        Ok(b) => {
                            out.push(b);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    s.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(kv), String::new()),
        })
        .collect()
}
