//! A hook for `-v/--verbose`: the library reports each fetch (URL or path, status or error, size,
//! time), each file taken from the cache instead, and the time spent verifying; whoever set the
//! [`Observer`] (the CLI) decides how to show it. Nothing is reported until one is set, and an
//! event never carries a secret: no header, no body, and [`redact_url`] drops user info and the
//! values of query parameters whose names look secret.

use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// What happened.
pub enum Event<'a> {
    /// One HTTP exchange (`method` GET or POST) or one file read (`method` "read").
    Fetched {
        method: &'a str,
        /// The URL, already redacted, or the path.
        location: &'a str,
        outcome: Outcome<'a>,
        elapsed: Duration,
    },
    /// A file of repository `gun` reused from the cache because its verified parent still
    /// declares exactly those bytes.
    CacheHit {
        gun: &'a str,
        role: &'a str,
        bytes: usize,
    },
    /// Verifying repository `gun` (signatures, hashes, delegations) took `elapsed`, fetches excluded.
    Verified { gun: &'a str, elapsed: Duration },
}

pub enum Outcome<'a> {
    /// An answer: its HTTP status (none for a file read) and the bytes of body kept.
    Answer { status: Option<u16>, bytes: usize },
    /// No answer: why not (without the location, which the event gives).
    Failed(&'a str),
}

/// Sees every [`Event`]; called from whichever thread made it.
pub trait Observer: Send + Sync {
    fn observe(&self, event: &Event<'_>);
}

static OBSERVER: OnceLock<Box<dyn Observer>> = OnceLock::new();

/// Install the observer for the rest of the process (once; a second one is handed back).
pub fn set_observer(observer: Box<dyn Observer>) -> Result<(), Box<dyn Observer>> {
    OBSERVER.set(observer)
}

/// Whether anyone listens (so callers skip building events, and clocks, otherwise).
pub fn enabled() -> bool {
    OBSERVER.get().is_some()
}

/// Report `event` to the observer, if there is one.
pub fn emit(event: &Event<'_>) {
    if let Some(o) = OBSERVER.get() {
        o.observe(event);
    }
}

/// A clock that runs only when someone listens.
pub fn start() -> Option<Instant> {
    enabled().then(Instant::now)
}

/// Report a fetch of `raw` begun at `started` (nothing when no one listened then), shown as
/// [`redact_url`] shows it; `answer` gives a result's status and size.
pub fn report_fetch<T, E: fmt::Display>(
    started: Option<Instant>,
    method: &str,
    raw: &str,
    result: &Result<T, E>,
    answer: impl FnOnce(&T) -> (Option<u16>, usize),
) {
    let Some(started) = started else { return };
    let location = redact_url(raw);
    let why;
    let outcome = match result {
        Ok(t) => {
            let (status, bytes) = answer(t);
            Outcome::Answer { status, bytes }
        }
        Err(e) => {
            // Errors name the location: shown once, redacted.
            let text = e.to_string().replace(raw, &location);
            why = text
                .strip_prefix(&format!("{location}: "))
                .map(str::to_owned)
                .unwrap_or(text);
            Outcome::Failed(&why)
        }
    };
    emit(&Event::Fetched {
        method,
        location: &location,
        outcome,
        elapsed: started.elapsed(),
    });
}

/// `f()`, its time added to `total` when someone listens.
pub fn timed<T>(total: &mut Duration, f: impl FnOnce() -> T) -> T {
    let started = start();
    let t = f();
    if let Some(s) = started {
        *total += s.elapsed();
    }
    t
}

/// Report a cache hit (when someone listens).
pub fn cache_hit(gun: &str, role: &str, bytes: usize) {
    emit(&Event::CacheHit { gun, role, bytes });
}

/// Query parameters whose values [`redact_url`] never shows: any whose name contains one of these.
pub const SECRET_PARAMS: &[&str] = &[
    "token",
    "password",
    "secret",
    "signature",
    "sig",
    "key",
    "code",
    "credential",
    "auth",
];

/// `url` fit to print: without `user:password@`, and with `…` for the value of every query
/// parameter whose name contains one of [`SECRET_PARAMS`]. Not a URL: returned as is.
pub fn redact_url(url: &str) -> String {
    let Ok(mut u) = reqwest::Url::parse(url) else {
        return url.to_owned();
    };
    let _ = u.set_username("");
    let _ = u.set_password(None);
    let secret = |k: &str| {
        let lower = k.to_ascii_lowercase();
        SECRET_PARAMS.iter().any(|s| lower.contains(s))
    };
    if u.query_pairs().any(|(k, _)| secret(&k)) {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret(&k) {
                    "…".to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_user_info_and_secret_values() {
        assert_eq!(
            redact_url("https://bob:hunter2@notary.example.com/v2/x/_trust/tuf/root.json"),
            "https://notary.example.com/v2/x/_trust/tuf/root.json"
        );
        let shown = redact_url(
            "https://auth.example.com/token?service=reg&scope=repository:x:pull&access_token=s3cr3t&X-Amz-Signature=abc",
        );
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("=abc"),
            "{shown}"
        );
        assert!(
            shown.contains("service=reg") && shown.contains("scope=repository%3Ax%3Apull"),
            "{shown}"
        );
        // nothing secret: the URL as it was
        let plain = "https://auth.example.com/token?service=reg&scope=repository:x:pull";
        assert_eq!(redact_url(plain), plain);
        assert_eq!(redact_url("/some/path/root.json"), "/some/path/root.json");
    }
}
