//! One HTTP exchange, bounded as a whole: a request (retried once if the connection could not be
//! made), redirects followed only within the same server, the body of a 2xx read under its size
//! cap, and all of it within the timeout; then what a reply means as an error.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE,
};
use reqwest::redirect;
use reqwest::{Client, Response};
use reqwest::{Method, StatusCode, Url};

use super::{innermost, HttpSource, MAX_REDIRECTS};
use crate::fetch::{trace, SourceError, Wave};

/// Most bytes reserved for a body before they arrive, whatever length the server announces (it
/// may lie); the buffer grows past this only as bytes come.
const MAX_PREALLOC: u64 = 1024 * 1024;

/// Pause before the one retry of a connection that could not be made.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// What one exchange brought back. The body is read (bounded) for 2xx answers, and for others
/// only as far as the request's `error_body` says.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) challenges: Vec<String>,
    pub(crate) redirect_to: Option<String>,
    pub(crate) body: Vec<u8>,
    /// The response headers (of the last response, after redirects).
    pub(crate) headers: HeaderMap,
    /// The URL that answered (after redirects), for resolving relative links.
    pub(crate) url: String,
}

/// One request to make.
#[derive(Default)]
pub(super) struct Request {
    pub(super) method: Method,
    pub(super) url: String,
    pub(super) authorization: Option<HeaderValue>,
    /// The body and its `Content-Type` (a token form, an OCSP request).
    pub(super) body: Option<(&'static str, Vec<u8>)>,
    /// `Accept`, when given.
    pub(super) accept: Option<HeaderValue>,
    /// Bytes of a non-2xx body to keep (0: none is read); never more than `max_len`.
    pub(super) error_body: u64,
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    max_len: u64,
    timeout: Duration,
    connect_timeout: Duration,
}

impl HttpSource {
    /// The bounds of one exchange: the source's timeout, or less when the wave's deadline is
    /// nearer (so a deadline also ends the requests in flight).
    fn limits(&self, max_len: u64, wave: Wave) -> Limits {
        let timeout = wave.cap(self.timeout);
        Limits {
            max_len,
            timeout,
            connect_timeout: self.connect_timeout.min(timeout),
        }
    }

    /// One exchange, bounded by `timeout` (and the wave's deadline) as a whole whatever the
    /// server does. Called from ordinary (not async) threads only.
    pub(super) fn exchange(
        &self,
        request: Request,
        max_len: u64,
        wave: Wave,
    ) -> Result<Reply, SourceError> {
        let limits = self.limits(max_len, wave);
        self.runtime
            .block_on(bounded(self.client.clone(), request, limits))
    }

    /// Several GETs at once (at most `parallel` in flight), each bounded like [`Self::exchange`];
    /// replies in the order given.
    pub(super) fn exchange_many(
        &self,
        requests: Vec<(Request, u64)>,
        wave: Wave,
    ) -> Vec<Result<Reply, SourceError>> {
        self.runtime.block_on(async {
            let permits = Arc::new(tokio::sync::Semaphore::new(wave.parallel.max(1)));
            let tasks: Vec<_> = requests
                .into_iter()
                .map(|(request, max_len)| {
                    let location = request.url.clone();
                    let (client, limits, permits) = (
                        self.client.clone(),
                        self.limits(max_len, wave),
                        permits.clone(),
                    );
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
}

/// The answer to a metadata fetch: the body of a 2xx, else the error its status means.
pub(super) fn finish(url: &str, reply: Reply) -> Result<Vec<u8>, SourceError> {
    if reply.status.is_success() {
        return Ok(reply.body);
    }
    Err(status_error(url, &reply))
}

pub(super) fn status_error(url: &str, reply: &Reply) -> SourceError {
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

/// [`exchange_async`] bounded by the timeout as a whole: connection, headers and every byte of
/// the body, however slowly a server drips them.
async fn bounded(client: Client, request: Request, limits: Limits) -> Result<Reply, SourceError> {
    let started = trace::start();
    let result = bounded_quietly(client, &request, limits).await;
    trace::report_fetch(
        started,
        request.method.as_str(),
        &request.url,
        &result,
        |reply| (Some(reply.status.as_u16()), reply.body.len()),
    );
    result
}

async fn bounded_quietly(
    client: Client,
    request: &Request,
    limits: Limits,
) -> Result<Reply, SourceError> {
    let location = request.url.clone();
    if limits.timeout.is_zero() {
        // The deadline passed: nothing is sent.
        return Err(SourceError::Timeout {
            location,
            after: limits.timeout,
        });
    }
    tokio::time::timeout(limits.timeout, exchange_async(&client, request, limits))
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
        if let Some(a) = &request.accept {
            rb = rb.header(ACCEPT, a.clone());
        }
        if let Some((content_type, body)) = &request.body {
            rb = rb.header(CONTENT_TYPE, *content_type).body(body.clone());
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
        headers: response.headers().clone(),
        url: response.url().to_string(),
    };
    if !status.is_success() {
        // An error body is only a hint: kept up to its cap, its end or its first failure.
        let cap = request.error_body.min(max_len);
        while (reply.body.len() as u64) < cap {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = usize::try_from(cap - reply.body.len() as u64).unwrap_or(0);
                    reply
                        .body
                        .extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                _ => break,
            }
        }
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

/// Follow a redirect only to the same scheme, host and port as the original request, except
/// that a registry blob (`/v2/<name>/blobs/sha256:<hex>`, content the caller hash-checks) may be
/// redirected to another server (a CDN) over https, or anywhere when the registry itself is plain
/// http: reqwest drops `Authorization` on a redirect to another server.
pub(super) fn same_server_only(attempt: redirect::Attempt) -> redirect::Action {
    let same = attempt.previous().first().is_some_and(|first| {
        same_origin(first, attempt.url())
            || (is_blob_url(first)
                && (attempt.url().scheme() == "https" || first.scheme() == "http"))
    });
    // previous() holds the original URL plus every redirect followed so far.
    if same && attempt.previous().len() <= MAX_REDIRECTS {
        attempt.follow()
    } else {
        attempt.stop()
    }
}

/// `/v2/<name>/blobs/sha256:<hex>` (never a Notary path, whose names hold no ':').
fn is_blob_url(u: &Url) -> bool {
    u.path().starts_with("/v2/")
        && u.path()
            .rsplit_once("/blobs/sha256:")
            .is_some_and(|(_, hex)| hex.len() == 64 && hex.bytes().all(|c| c.is_ascii_hexdigit()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_origin_means_scheme_host_and_port() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(same_origin(&u("https://a/x"), &u("https://a:443/y")));
        assert!(!same_origin(&u("https://a/x"), &u("http://a/x")));
        assert!(!same_origin(&u("https://a/x"), &u("https://b/x")));
        assert!(!same_origin(&u("http://a:1/x"), &u("http://a:2/x")));
    }

    #[test]
    fn blob_urls() {
        let u = |s: &str| Url::parse(s).unwrap();
        let hex = "a".repeat(64);
        assert!(is_blob_url(&u(&format!(
            "https://r/v2/a/b/blobs/sha256:{hex}"
        ))));
        assert!(!is_blob_url(&u(&format!(
            "https://r/v2/a/manifests/sha256:{hex}"
        ))));
        assert!(!is_blob_url(&u("https://r/v2/a/blobs/sha256:abc")));
        assert!(!is_blob_url(&u("https://r/v2/x/_trust/tuf/root.json")));
    }
}
