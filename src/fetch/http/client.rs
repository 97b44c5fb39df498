//! The reqwest client a [`HttpSource`](super::HttpSource) talks through, built once per source:
//! the platform's TLS roots plus any extra CA bundles, a client certificate for mutual TLS,
//! proxies from the environment (never for loopback), and the same-server redirect policy.

use std::fs;
use std::path::PathBuf;

use reqwest::redirect;
use reqwest::{Client, Url};

use super::exchange::same_server_only;
use super::{innermost, HttpOptions};
use crate::fetch::SourceError;

/// A client certificate and its private key (PEM files) for mutual TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The client for the server at `parsed`, configured as `opts` says. Proxies are read from the
/// environment now.
pub(super) fn build(parsed: &Url, opts: &HttpOptions) -> Result<Client, SourceError> {
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
    builder.build().map_err(|source| SourceError::Client {
        cause: innermost(&source),
        source,
    })
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
