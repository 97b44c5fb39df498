//! `trustpin serve`: flags → the webhook's configuration, then serve until SIGTERM or SIGINT,
//! drain, exit 0 (3 when the drain timeout cut a review short). A second signal exits at once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::ValueEnum;

use crate::cli::args::{self, TrustArgs};
use crate::cli::Worst;
use crate::failure::Failure;
use crate::serve::cache::Bounds;
use crate::serve::decide::{Decider, Mode};
use crate::serve::metrics::Metrics;
use crate::serve::notation::Generations;
use crate::serve::server::{self, Drained, Limits, MAX_CONNECTIONS, MAX_REVIEW_TIMEOUT};
use crate::serve::tls::CertStore;
use crate::serve::verify::{CachePolicy, Setup};
use crate::tuf::budget::Budget;

#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (HTTPS only); port 0 picks a free one (printed in the first log line).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8443")]
    pub(crate) listen: SocketAddr,
    /// Serving certificate chain (PEM); reloaded when the file changes.
    #[arg(long = "tls-cert", value_name = "FILE")]
    pub(crate) tls_cert: PathBuf,
    /// Private key of --tls-cert (PEM, unencrypted); reloaded when the file changes.
    #[arg(long = "tls-key", value_name = "FILE")]
    pub(crate) tls_key: PathBuf,
    #[command(flatten)]
    pub(crate) trust: TrustArgs,
    /// enforce: deny what does not verify; detect: allow it, with the reasons as warnings.
    #[arg(long, value_enum, default_value = "enforce")]
    pub(crate) mode: ModeArg,
    /// Keep verified trust data in memory this many seconds.
    #[arg(long = "cache-ttl", value_name = "SECONDS", default_value_t = 30)]
    pub(crate) cache_ttl: u64,
    /// Keep a refused repository (expired, not pinned, ...) this many seconds, so a fixed
    /// signature is seen soon. Errors of the network are not kept.
    #[arg(long = "refusal-ttl", value_name = "SECONDS", default_value_t = 5)]
    pub(crate) refusal_ttl: u64,
    /// Most repositories kept in memory.
    #[arg(long = "cache-entries", value_name = "N", default_value_t = 1000)]
    pub(crate) cache_entries: usize,
    /// Most bytes of trust data kept in memory.
    #[arg(long = "cache-bytes", value_name = "BYTES", default_value_t = 256 * 1024 * 1024)]
    pub(crate) cache_bytes: u64,
    /// Most repositories fetched at once; a request needing more is denied as busy.
    #[arg(long = "max-fetches", value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_fetches: u64,
    /// Largest request body, in bytes (413 above it); the API server's own limit is 3 MiB.
    #[arg(long = "max-body", value_name = "BYTES", default_value_t = 3 * 1024 * 1024)]
    pub(crate) max_body: u64,
    /// Answer this many seconds before the review's ?timeout= runs out.
    #[arg(long = "timeout-margin", value_name = "SECONDS", default_value = "2", value_parser = seconds)]
    pub(crate) timeout_margin: Duration,
    /// A TLS handshake and a new connection's first request headers must arrive within this many
    /// seconds; so must a later request's headers once its first bytes have arrived.
    #[arg(long = "header-timeout", value_name = "SECONDS", default_value = "10", value_parser = seconds)]
    pub(crate) header_timeout: Duration,
    /// A kept-alive connection with no request in progress is closed (TLS close_notify, h2
    /// GOAWAY) after this many idle seconds; 90 like the API server's own client.
    #[arg(long = "idle-timeout", value_name = "SECONDS", default_value = "90", value_parser = seconds)]
    pub(crate) idle_timeout: Duration,
    /// Connections served at once.
    #[arg(long = "max-connections", value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=u64::from(MAX_CONNECTIONS)))]
    pub(crate) max_connections: u64,
    /// After SIGTERM, keep accepting connections this many seconds while /readyz answers 503, so
    /// the Service stops sending here before anyone is refused.
    #[arg(long = "shutdown-delay", value_name = "SECONDS", default_value = "0", value_parser = seconds)]
    pub(crate) shutdown_delay: Duration,
    /// Then wait at most this many seconds for in-flight reviews (no review may take longer than 30).
    #[arg(long = "drain-timeout", value_name = "SECONDS", default_value = "30", value_parser = seconds)]
    pub(crate) drain_timeout: Duration,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub(crate) enum ModeArg {
    Enforce,
    Detect,
}

/// Seconds, possibly fractional (`0.5`).
fn seconds(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .and_then(|f| Duration::try_from_secs_f64(f).ok())
        .ok_or_else(|| format!("{s:?} is not a number of seconds"))
}

pub(crate) fn run(a: ServeArgs) -> Result<Worst> {
    // The certificate first: a bad one is the most likely mistake and names its file.
    let certs = CertStore::open(&a.tls_cert, &a.tls_key)?;
    let (mut plans, sources) = a.trust.plans()?;
    for plan in &mut plans.plans {
        if plan.policy.is_some() && !plan.skip {
            args::announce_level(plan.opts.level, plan.policy.as_deref());
        }
        // No repository can be worth more time than the API server ever waits.
        plan.opts.limits.deadline = plan.opts.limits.deadline.min(MAX_REVIEW_TIMEOUT);
    }
    if a.mode == ModeArg::Detect {
        say!("warning: --mode detect: images that do not verify are admitted (with warnings)");
    }
    let per_repo = plans
        .plans
        .first()
        .map(|p| p.opts.limits.budget)
        .unwrap_or_default();
    let request_budget = Budget {
        signatures: per_repo.signatures.saturating_mul(args::BATCH_FACTOR),
        roles: per_repo.roles.saturating_mul(args::BATCH_FACTOR),
        rotation_steps: per_repo.rotation_steps.saturating_mul(args::BATCH_FACTOR),
        bytes: per_repo.bytes.saturating_mul(args::BATCH_FACTOR),
    };
    let metrics = Arc::new(Metrics::default());
    let cache = CachePolicy {
        ttl: Duration::from_secs(a.cache_ttl),
        refusal_ttl: Duration::from_secs(a.refusal_ttl),
        bounds: Bounds {
            max_entries: a.cache_entries,
            max_bytes: a.cache_bytes,
            max_loading: usize::try_from(a.max_fetches).unwrap_or(usize::MAX),
        },
        disk: a.trust.cache(),
    };
    let verifier = Generations::new(Setup {
        plans,
        sources: Arc::new(sources),
        policy: cache,
        at_now: a.trust.repo.verify.at.is_none(),
        describe: crate::cli::message,
        metrics: metrics.clone(),
    });
    let decider = Decider {
        verifier,
        mode: match a.mode {
            ModeArg::Enforce => Mode::Enforce,
            ModeArg::Detect => Mode::Detect,
        },
        request_budget,
    };
    let limits = Limits {
        max_body: a.max_body,
        margin: a.timeout_margin,
        default_timeout: Duration::from_secs(10),
        header_timeout: a.header_timeout,
        idle_timeout: a.idle_timeout,
        max_connections: usize::try_from(a.max_connections).unwrap_or(usize::MAX),
        reload_every: Duration::from_secs(1),
        shutdown_delay: a.shutdown_delay,
        drain_timeout: a.drain_timeout,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let drained = runtime.block_on(async {
        let stop = signals().context("cannot listen for SIGTERM")?;
        anyhow::Ok(server::run(a.listen, certs, decider, metrics, limits, stop).await?)
    })?;
    // A fetch still waiting on a stalled server (its review already answered) is not waited for.
    runtime.shutdown_background();
    Ok(match drained {
        Drained::Complete => None,
        Drained::Cut(_) => Some(Failure::Unavailable),
    })
}

/// Completes at the first SIGTERM or SIGINT; at the second the process exits at once, with
/// 128 + the signal's number as a shell reports a process killed by it.
fn signals() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (first, stop) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut next = async || {
            tokio::select! {
                _ = term.recv() => ("SIGTERM", 15),
                _ = int.recv() => ("SIGINT", 2),
            }
        };
        let (name, _) = next().await;
        crate::serve::log::line(serde_json::json!({"event": "signal", "signal": name}));
        let _ = first.send(());
        let (name, number) = next().await;
        let exit = serde_json::json!({"event": "signal", "signal": name, "exiting": "at once"});
        crate::serve::log::line(exit);
        std::process::exit(128 + number);
    });
    Ok(async move {
        let _ = stop.await;
    })
}
