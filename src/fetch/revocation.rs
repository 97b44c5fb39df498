//! Revocation over HTTP: [`HttpRevocation`] answers the core's [`RevocationChecker`] by fetching
//! OCSP responses and CRLs with the crate's HTTP stack; every decision is the core's
//! ([`crate::notation::revocation::check_cert`]).
//!
//! Bounded for the whole run, whatever the responders do:
//! - each OCSP exchange within [`RevocationOptions::ocsp_timeout`] (2 s, notation's), each CRL
//!   within [`RevocationOptions::crl_timeout`] (5 s), none past the run's
//!   [`RevocationOptions::deadline`];
//! - an OCSP response read up to 20 KiB, a CRL up to 32 MiB (notation's limits), all bodies
//!   together up to [`RevocationOptions::max_bytes`];
//! - at most [`RevocationOptions::max_requests`] requests;
//! - each certificate and issuer asked once per run (its status kept), each CRL URL fetched
//!   once (its bytes kept): concurrent askers wait for the first.
//!
//! OCSP and CRL URLs are usually plain `http`: their content is signed and verified, so this is
//! no TLS relaxation. `https` URLs are fetched with TLS verified.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::http::{success, Get, HttpOptions, HttpSource};
use super::Wave;
use crate::notation::cert::Cert;
use crate::notation::chain::Purpose;
use crate::notation::revocation::{check_cert, crl, ocsp, CertStatus, Fetch, RevocationChecker};

/// The bounds of one run's revocation checks.
#[derive(Debug, Clone)]
pub struct RevocationOptions {
    /// One OCSP exchange (connection, request, whole response). notation: 2 s.
    pub ocsp_timeout: Duration,
    /// One CRL download. notation: 5 s.
    pub crl_timeout: Duration,
    /// All revocation requests of the run end by this long after the checker is made.
    pub deadline: Duration,
    /// Most requests made in the run.
    pub max_requests: usize,
    /// Most body bytes read in the run, all responses together.
    pub max_bytes: u64,
    /// Extra PEM CA bundles for `https` responders.
    pub ca_certs: Vec<PathBuf>,
}

impl Default for RevocationOptions {
    fn default() -> Self {
        RevocationOptions {
            ocsp_timeout: Duration::from_secs(2),
            crl_timeout: Duration::from_secs(5),
            deadline: Duration::from_secs(60),
            max_requests: 256,
            max_bytes: 128 * 1024 * 1024,
            ca_certs: Vec::new(),
        }
    }
}

type Shared<T> = Mutex<HashMap<String, Arc<OnceLock<T>>>>;

/// OCSP and CRL over HTTP, bounded and cached for one run. Share one per run.
pub struct HttpRevocation {
    opts: RevocationOptions,
    until: Instant,
    requests: AtomicUsize,
    bytes: AtomicU64,
    /// One client per origin and timeout.
    clients: Mutex<HashMap<(String, Duration), Result<HttpSource, String>>>,
    /// By certificate and issuer thumbprints.
    statuses: Shared<CertStatus>,
    /// CRL bodies by URL.
    crls: Shared<Result<Vec<u8>, String>>,
}

impl HttpRevocation {
    pub fn new(opts: RevocationOptions) -> HttpRevocation {
        HttpRevocation {
            until: Instant::now() + opts.deadline,
            opts,
            requests: AtomicUsize::new(0),
            bytes: AtomicU64::new(0),
            clients: Mutex::default(),
            statuses: Mutex::default(),
            crls: Mutex::default(),
        }
    }

    /// Requests made so far.
    pub fn requests(&self) -> usize {
        self.requests
            .load(Ordering::Relaxed)
            .min(self.opts.max_requests)
    }

    /// GET `url` (2xx body of at most `max_len` bytes), or POST `post` (content type, body) to
    /// it, within `timeout` and the run's bounds.
    fn get(
        &self,
        url: &str,
        post: Option<(&'static str, Vec<u8>)>,
        timeout: Duration,
        max_len: u64,
    ) -> Result<Vec<u8>, String> {
        if Instant::now() >= self.until {
            return Err(format!(
                "the run's revocation deadline of {:?} has passed",
                self.opts.deadline
            ));
        }
        if self.requests.fetch_add(1, Ordering::Relaxed) >= self.opts.max_requests {
            return Err(format!(
                "the run's {} revocation requests are spent",
                self.opts.max_requests
            ));
        }
        let left = self
            .opts
            .max_bytes
            .saturating_sub(self.bytes.load(Ordering::Relaxed));
        let client = self.client(url, timeout)?;
        let wave = Wave {
            parallel: 1,
            until: Some(self.until),
        };
        let reply = client
            .get_many(
                "revocation",
                vec![Get {
                    post,
                    ..Get::new(url.to_owned(), max_len.min(left))
                }],
                wave,
            )
            .pop()
            .ok_or_else(|| format!("{url}: no answer was recorded"))?
            .and_then(|r| success(url, r))
            .map_err(|e| e.to_string())?;
        self.bytes
            .fetch_add(reply.body.len() as u64, Ordering::Relaxed);
        Ok(reply.body)
    }

    /// The client for `url`'s origin, made once.
    fn client(&self, url: &str, timeout: Duration) -> Result<HttpSource, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
        let origin = parsed.origin().ascii_serialization();
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry((origin.clone(), timeout))
            .or_insert_with(|| {
                HttpSource::new(
                    &origin,
                    HttpOptions {
                        ca_certs: self.opts.ca_certs.clone(),
                        connect_timeout: timeout,
                        timeout,
                        ..HttpOptions::default()
                    },
                )
                .map_err(|e| e.to_string())
            })
            .clone()
    }
}

/// The value under `key`, computed once by the first asker; the others wait for it.
fn once<T: Clone>(map: &Shared<T>, key: String, make: impl FnOnce() -> T) -> T {
    let cell = map
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key)
        .or_default()
        .clone();
    cell.get_or_init(make).clone()
}

impl Fetch for HttpRevocation {
    fn ocsp(&self, server: &str, request: &[u8]) -> Result<Vec<u8>, String> {
        // As notation-core-go: GET when the escaped base64 request fits, else POST (RFC 6960
        // A.1). Ours (SHA-1 CertID, no extensions) fits unless the serial is unusually long.
        let (url, post) = match ocsp::get_url(server, request) {
            Some(url) => (url, None),
            None => (
                server.to_owned(),
                Some(("application/ocsp-request", request.to_vec())),
            ),
        };
        self.get(&url, post, self.opts.ocsp_timeout, ocsp::MAX_RESPONSE_BYTES)
    }

    fn crl(&self, url: &str) -> Result<Vec<u8>, String> {
        once(&self.crls, url.to_owned(), || {
            self.get(url, None, self.opts.crl_timeout, crl::MAX_CRL_BYTES)
        })
    }
}

impl RevocationChecker for HttpRevocation {
    fn status(&self, cert: &Cert, issuer: &Cert, _purpose: Purpose) -> CertStatus {
        let key = format!("{}:{}", cert.thumbprint(), issuer.thumbprint());
        once(&self.statuses, key, || {
            check_cert(cert, issuer, OffsetDateTime::now_utc(), self)
        })
    }
}
