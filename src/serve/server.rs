//! The HTTPS server: TLS by rustls (ring), HTTP/1.1 or h2 as ALPN chose, and the endpoints.
//! Every client is treated as hostile: connections are counted, a TLS handshake, the first
//! request and every later request's headers must arrive within the header timeout (slowloris;
//! an idle kept-alive connection has the idle timeout instead, see [`super::idle`]), bodies are bounded
//! (413), and every review is answered before its `?timeout=` minus the margin.
//!
//! Shutdown is graceful: once `stop` completes, `/readyz` answers 503, new connections are still
//! taken for the shutdown delay (so the endpoint can be removed before anyone is refused), then
//! the listener closes, every connection finishes its in-flight requests and closes (h2: GOAWAY),
//! and [`run`] returns when the last has gone or the drain timeout has passed.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::decide::Decider;
use super::idle;
use super::metrics::{Metrics, Rejected};
use super::review;
use super::tls::{CertStore, TlsError};

/// How the server listens and what it tolerates.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body (413 above it).
    pub max_body: u64,
    /// Answered this long before the API server's `?timeout=` runs out.
    pub margin: Duration,
    /// The timeout assumed when a request has no `?timeout=` (the API server's default).
    pub default_timeout: Duration,
    /// The TLS handshake and a new connection's first request must arrive within this, and a
    /// later request's headers within this of its first bytes.
    pub header_timeout: Duration,
    /// A kept-alive connection with no request in progress is closed after this.
    pub idle_timeout: Duration,
    /// Connections served at once; more are closed at once.
    pub max_connections: usize,
    /// How often the certificate files are checked for a change.
    pub reload_every: Duration,
    /// After the stop signal, connections are still accepted this long (`/readyz` says 503).
    pub shutdown_delay: Duration,
    /// Then in-flight requests have this long to be answered before [`run`] gives up on them.
    pub drain_timeout: Duration,
}

/// Most connections at once (a semaphore's permits are counted in `u32` when drained).
pub const MAX_CONNECTIONS: u32 = 1 << 20;

/// How the drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Every connection finished its requests and closed.
    Complete,
    /// The drain timeout passed with this many connections still open (their requests cut).
    Cut(usize),
}

/// The API server never waits longer than this for a webhook.
pub const MAX_REVIEW_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

struct State {
    decider: Decider,
    metrics: Arc<Metrics>,
    limits: Limits,
    /// Set at the stop signal: `/readyz` answers 503 from then on.
    draining: AtomicBool,
}

/// How long a review may take: its timeout less the margin, or half of it when the margin would
/// leave less than that.
pub fn answer_within(timeout: Duration, margin: Duration) -> Duration {
    let timeout = timeout.min(MAX_REVIEW_TIMEOUT);
    timeout.saturating_sub(margin).max(timeout / 2)
}

/// Serve until `stop` completes, then drain (see the module comment). Prints the address it
/// listens on (port 0 picks one).
pub async fn run(
    addr: SocketAddr,
    certs: Arc<CertStore>,
    decider: Decider,
    metrics: Arc<Metrics>,
    limits: Limits,
    stop: impl Future<Output = ()>,
) -> Result<Drained, ServeError> {
    let acceptor = TlsAcceptor::from(Arc::new(certs.server_config()?));
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;
    certs.watch(limits.reload_every);
    super::log::line(serde_json::json!({"event": "listening", "address": local.to_string()}));
    let max = u32::try_from(limits.max_connections)
        .unwrap_or(MAX_CONNECTIONS)
        .clamp(1, MAX_CONNECTIONS);
    let connections = Arc::new(tokio::sync::Semaphore::new(max as usize));
    let (closing, closing_rx) = watch::channel(false);
    let state = Arc::new(State {
        decider,
        metrics,
        limits,
        draining: AtomicBool::new(false),
    });
    let mut stop = pin!(stop);
    // Set once `stop` has completed: the moment the listener closes.
    let mut stop_accepting: Option<tokio::time::Instant> = None;
    loop {
        let accepted = tokio::select! {
            _ = &mut stop, if stop_accepting.is_none() => {
                state.draining.store(true, Ordering::SeqCst);
                let open = max as usize - connections.available_permits();
                super::log::line(serde_json::json!({"event": "draining", "open_connections": open}));
                stop_accepting = Some(tokio::time::Instant::now() + state.limits.shutdown_delay);
                continue;
            }
            _ = sleep_until(stop_accepting) => break,
            a = listener.accept() => a,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            // Out of file descriptors and the like: wait a little rather than spin.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, state, closing) = (acceptor.clone(), state.clone(), closing_rx.clone());
        tokio::spawn(async move {
            let _permit = permit;
            serve_connection(tcp, acceptor, state, closing).await;
        });
    }
    // New connections are refused from here on; open ones finish what they have and close.
    drop(listener);
    let _ = closing.send(true);
    let all_closed = connections.acquire_many(max);
    // Bound first: the waiter holds the permits it got until it is dropped.
    let waited = tokio::time::timeout(state.limits.drain_timeout, all_closed).await;
    let (drained, cut) = match waited {
        Ok(_) => (Drained::Complete, 0),
        Err(_) => {
            let open = max as usize - connections.available_permits();
            (Drained::Cut(open), open)
        }
    };
    super::log::line(serde_json::json!({"event": "drained", "cut_connections": cut}));
    // The sources own blocking HTTP clients (with runtimes of their own), which must not be
    // dropped on an async worker.
    let _ = tokio::task::spawn_blocking(move || drop(state)).await;
    Ok(drained)
}

/// Sleep until `at`, or forever when there is none.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// How long an idle connection that is told to close gets to finish its closing (h1: TLS close_notify; h2: GOAWAY) before it is dropped.
const CLOSING_GRACE: Duration = Duration::from_secs(1);

/// Drive one HTTP connection until it ends. When the server starts closing or the connection has
/// been idle too long ([`idle`]), `graceful` asks it to finish its in-flight requests and close
/// (h1: no keep-alive, an idle one closes at once with close_notify; h2: GOAWAY); an idle one is
/// dropped if that takes longer than [`CLOSING_GRACE`], a too slow one at once.
async fn drive<C: Future>(
    conn: C,
    expired: impl Future<Output = idle::Expired>,
    mut closing: watch::Receiver<bool>,
    graceful: impl FnOnce(Pin<&mut C>),
) {
    let mut conn = pin!(conn);
    let mut expired = pin!(expired);
    let mut graceful = Some(graceful);
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            why = expired.as_mut() => match why {
                // Too slow: a hostile client gets no more of our time.
                idle::Expired::Headers => return,
                idle::Expired::Idle => break,
            },
            _ = closing.wait_for(|c| *c), if graceful.is_some() => {
                if let Some(g) = graceful.take() {
                    g(conn.as_mut());
                }
            }
        }
    }
    if let Some(g) = graceful.take() {
        g(conn.as_mut());
    }
    let _ = tokio::time::timeout(CLOSING_GRACE, conn).await;
}

async fn serve_connection(
    tcp: tokio::net::TcpStream,
    acceptor: TlsAcceptor,
    state: Arc<State>,
    closing: watch::Receiver<bool>,
) {
    let (header, idle) = (state.limits.header_timeout, state.limits.idle_timeout);
    let tls = match tokio::time::timeout(header, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => s,
        _ => return,
    };
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let activity = idle::Activity::new();
    let io = TokioIo::new(idle::Watched::new(tls, activity.clone()));
    let service = {
        let (state, activity) = (state.clone(), activity.clone());
        hyper::service::service_fn(move |req| {
            let (state, answering) = (state.clone(), idle::Answering::new(activity.clone()));
            async move {
                let r = handle(state, req).await;
                drop(answering);
                r
            }
        })
    };
    let expired = activity.expired(header, idle, h2);
    if h2 {
        let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        b.timer(TokioTimer::new())
            .max_concurrent_streams(64)
            .max_header_list_size(64 * 1024)
            .keep_alive_interval(Some(Duration::from_secs(20)))
            .keep_alive_timeout(Duration::from_secs(10));
        let conn = b.serve_connection(io, service);
        drive(conn, expired, closing, |c| c.graceful_shutdown()).await;
    } else {
        let mut b = hyper::server::conn::http1::Builder::new();
        // Not hyper's header timeout: it also runs while a kept-alive connection is idle.
        b.timer(TokioTimer::new())
            .header_read_timeout(None)
            .max_buf_size(64 * 1024);
        let conn = b.serve_connection(io, service);
        drive(conn, expired, closing, |c| c.graceful_shutdown()).await;
    }
}

type Answer = Response<Full<Bytes>>;

fn answer(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Answer {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn error(status: StatusCode, message: &str) -> Answer {
    let body = serde_json::to_vec(&serde_json::json!({"error": message})).unwrap_or_default();
    answer(status, "application/json", body)
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Answer, Infallible> {
    let arrived = Instant::now();
    let m = &state.metrics;
    let r = match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => answer(StatusCode::OK, "text/plain", "ok\n"),
        // The policy is loaded before the server listens: once it answers, it is ready, until
        // it is told to stop.
        (&Method::GET, "/readyz") if state.draining.load(Ordering::SeqCst) => {
            answer(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "draining\n")
        }
        (&Method::GET, "/readyz") => answer(StatusCode::OK, "text/plain", "ready\n"),
        (&Method::GET, "/metrics") => {
            answer(StatusCode::OK, "text/plain; version=0.0.4", m.render())
        }
        (&Method::POST, "/mutate") => mutate(&state, req, arrived).await,
        _ => {
            m.rejected(Rejected::NotFound);
            error(StatusCode::NOT_FOUND, "not found")
        }
    };
    Ok(r)
}

async fn mutate(state: &State, req: Request<Incoming>, arrived: Instant) -> Answer {
    let limits = &state.limits;
    let m = &state.metrics;
    let timeout = review::timeout_of(req.uri().query()).unwrap_or(limits.default_timeout);
    let deadline = arrived + answer_within(timeout, limits.margin);
    let too_large = || {
        m.rejected(Rejected::TooLarge);
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the body is over {} bytes", limits.max_body),
        )
    };
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body) {
        return too_large();
    }
    let limit = usize::try_from(limits.max_body).unwrap_or(usize::MAX);
    let read = Limited::new(req.into_body(), limit).collect();
    let body = match tokio::time::timeout_at(deadline.into(), read).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
        Ok(Err(_)) => {
            m.rejected(Rejected::BadRequest);
            return error(StatusCode::BAD_REQUEST, "the body could not be read");
        }
        Err(_) => {
            m.rejected(Rejected::BadRequest);
            return error(
                StatusCode::REQUEST_TIMEOUT,
                "the body did not arrive in time",
            );
        }
    };
    let request = match review::parse(&body) {
        Ok(r) => r,
        Err(e) => {
            m.rejected(Rejected::BadRequest);
            return error(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };
    let decision = state.decider.decide(&request, deadline).await;
    let mut log = decision.log;
    log["duration_ms"] = ((arrived.elapsed().as_secs_f64() * 1e6).round() / 1e3).into();
    super::log::line(log);
    m.decision(decision.outcome, arrived.elapsed());
    answer(
        StatusCode::OK,
        "application/json",
        decision.response.to_json(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_comes_before_the_api_server_gives_up() {
        let s = Duration::from_secs;
        assert_eq!(answer_within(s(10), s(2)), s(8));
        assert_eq!(answer_within(s(30), s(2)), s(28));
        // Longer than the API server ever waits: as if 30 s.
        assert_eq!(answer_within(s(600), s(2)), s(28));
        // A margin that would leave nothing leaves half.
        assert_eq!(answer_within(s(2), s(2)), s(1));
        assert_eq!(answer_within(Duration::ZERO, s(2)), Duration::ZERO);
    }
}
