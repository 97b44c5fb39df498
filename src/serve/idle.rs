//! When a connection may be closed: a slow client is cut off, an idle keep-alive one is let go.
//!
//! hyper's own HTTP/1.1 header timeout starts as soon as it waits for the next request, so it
//! also closed kept-alive connections that were merely idle (without a TLS close_notify), and a
//! client that reused one got an error. Here the byte stream is watched instead ([`Watched`]):
//! - a new connection's first request must have arrived within the header timeout;
//! - once bytes of a later request have arrived, its headers get the header timeout from there;
//! - a connection with no request in progress and no bytes waiting is idle and gets the idle
//!   timeout (HTTP/1.1 and h2 alike; h2's own pings are ignored, they come back every 20 s).
//!
//! A request being answered is never cut here: its body and decision are bounded by its deadline.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// What a connection has done so far, shared by its byte stream, its requests and its watchdog.
#[derive(Debug)]
pub struct Activity {
    start: Instant,
    /// Bytes read from the client.
    read: AtomicU64,
    /// `read` when the last request was answered: more than this is the next request arriving.
    settled: AtomicU64,
    /// When the first byte after `settled` arrived (µs since `start`).
    pending_since: AtomicU64,
    /// Requests being answered.
    in_flight: AtomicU64,
    /// Requests answered.
    answered: AtomicU64,
    /// When the last request was answered (µs since `start`).
    idle_since: AtomicU64,
}

/// Why the watchdog gave up on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// A request's headers (or a new connection's first request) did not arrive in time.
    Headers,
    /// Kept alive with nothing to do for the idle timeout.
    Idle,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            start: Instant::now(),
            read: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            pending_since: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn at(&self, micros: u64) -> Instant {
        self.start + Duration::from_micros(micros)
    }

    fn bytes(&self, n: usize) {
        let before = self.read.fetch_add(n as u64, Relaxed);
        if before == self.settled.load(Relaxed) {
            self.pending_since.store(self.now(), Relaxed);
        }
    }

    /// A request's headers have been read: it is in progress until [`Activity::answered`] (by [`Answering`]).
    fn request(&self) {
        self.in_flight.fetch_add(1, Relaxed);
    }

    /// A request has been answered: what was read so far was its own.
    fn answered(&self) {
        self.settled.store(self.read.load(Relaxed), Relaxed);
        self.idle_since.store(self.now(), Relaxed);
        self.answered.fetch_add(1, Relaxed);
        self.in_flight.fetch_sub(1, Relaxed);
    }

    /// When the connection expires as things stand, and why; `None` while a request is answered.
    /// `h2`: bytes without a request are pings and settings, not a request arriving.
    fn deadline(&self, header: Duration, idle: Duration, h2: bool) -> Option<(Instant, Expired)> {
        if self.in_flight.load(Relaxed) > 0 {
            return None;
        }
        if self.answered.load(Relaxed) == 0 {
            return Some((self.start + header, Expired::Headers));
        }
        let idle_since = self.idle_since.load(Relaxed);
        let pending = self.read.load(Relaxed) > self.settled.load(Relaxed);
        if pending && !h2 {
            let since = self.pending_since.load(Relaxed).max(idle_since);
            return Some((self.at(since) + header, Expired::Headers));
        }
        Some((self.at(idle_since) + idle, Expired::Idle))
    }

    /// Resolves when the connection has expired (see the module comment).
    pub async fn expired(&self, header: Duration, idle: Duration, h2: bool) -> Expired {
        loop {
            match self.deadline(header, idle, h2) {
                // Answering: look again in a while (the request ends by its own deadline).
                None => tokio::time::sleep(header).await,
                Some((at, why)) if at <= Instant::now() => return why,
                // Bytes arriving meanwhile can bring the deadline nearer, by the header timeout
                // at most: never sleep longer than that before looking again.
                Some((at, _)) => tokio::time::sleep_until(at.min(Instant::now() + header)).await,
            }
        }
    }
}

/// A request in progress from its headers until it is dropped (answered, or its stream reset).
pub struct Answering(Arc<Activity>);

impl Answering {
    pub fn new(activity: Arc<Activity>) -> Answering {
        activity.request();
        Answering(activity)
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.answered();
    }
}

/// A byte stream that tells its [`Activity`] when bytes arrive.
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Watched<S> {
        Watched { inner, activity }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            self.activity.bytes(n);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// tokio-rustls sends the TLS close_notify here.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: Duration = Duration::from_secs(10);
    const IDLE: Duration = Duration::from_secs(90);

    fn why(a: &Activity, h2: bool) -> Option<Expired> {
        a.deadline(HEADER, IDLE, h2).map(|d| d.1)
    }

    #[test]
    fn idle_keep_alive_gets_the_idle_timeout_and_a_started_request_the_header_timeout() {
        let a = Activity::new();
        // New connection: its first request within the header timeout of its start.
        assert_eq!(
            a.deadline(HEADER, IDLE, false),
            Some((a.start + HEADER, Expired::Headers))
        );
        a.bytes(100);
        a.request();
        assert_eq!(why(&a, false), None);
        a.bytes(50); // the body, read while answering
        a.answered();
        let idle_from = a.at(a.idle_since.load(Relaxed));
        assert_eq!(
            a.deadline(HEADER, IDLE, false),
            Some((idle_from + IDLE, Expired::Idle))
        );
        // The next request's first bytes: its headers have the header timeout from their arrival.
        std::thread::sleep(Duration::from_millis(5));
        a.bytes(3);
        let arrived = a.at(a.pending_since.load(Relaxed));
        assert!(arrived > idle_from);
        assert_eq!(
            a.deadline(HEADER, IDLE, false),
            Some((arrived + HEADER, Expired::Headers))
        );
        // h2: bytes without a request (pings) leave it idle.
        assert_eq!(why(&a, true), Some(Expired::Idle));
        a.request();
        a.answered();
        assert_eq!(why(&a, false), Some(Expired::Idle));
    }
}
