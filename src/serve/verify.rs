//! One image → one verdict, behind a small trait so a second generation of signatures (Notation)
//! plugs in beside Notary v1. [`NotaryV1`] resolves as `trustpin resolve` does (same plans, same
//! sources, same trust cache on disk for rollback state), with verified repositories kept in
//! memory by the [`TrustCache`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::failure::{Classify, Failure};
use crate::fetch::cache::Cache;
use crate::fetch::Source;
use crate::reference::{Digest, Gun, ImageRef};
use crate::resolve::batch::{Plans, Sources};
use crate::resolve::{fetch_repo_cached, select_ref, ResolveError};
use crate::tuf::budget::Meter;
use crate::tuf::chain::Repo;

use super::cache::{Bounds, CacheError, How, Keep, TrustCache};
use super::metrics::Metrics;

/// What became of one image.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Signed: the digest, and the warnings the user is owed (a followed rotation, a relaxed level).
    Trusted {
        digest: Digest,
        warnings: Vec<String>,
    },
    /// Its policy says `skip`: admitted as written, NOT VERIFIED.
    Skipped { policy: String },
    /// Not admitted, in resolve's words.
    Failed {
        failure: Failure,
        kind: &'static str,
        message: String,
    },
}

impl Verdict {
    fn failed(e: &ResolveError, describe: fn(&ResolveError) -> String) -> Verdict {
        Verdict::Failed {
            failure: e.failure(),
            kind: e.kind(),
            message: describe(e),
        }
    }
}

/// A future that is `Send` and owns what it needs.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Verifies one image. `meter` is the request's batch meter: every repository fetched for one
/// admission request is charged to it, so one request costs at most a batch's budget.
pub trait Verifier: Send + Sync + 'static {
    fn verify(self: Arc<Self>, image: ImageRef, meter: Arc<Meter>) -> BoxFuture<Verdict>;
}

/// (plan, location, repository): one server's copy of a repository under one policy.
type Key = (usize, String, Gun);
/// A verified repository, or why not.
type Loaded = Result<Repo, ResolveError>;

/// How long what is kept stays, and where rollback state lives.
#[derive(Debug, Clone)]
pub struct CachePolicy {
    pub ttl: Duration,
    /// For refusals (a fixed signature must be seen soon); errors of the network are not kept.
    pub refusal_ttl: Duration,
    pub bounds: Bounds,
    /// The trust cache on disk, as the CLI keeps it (rollback protection), if any.
    pub disk: Option<Cache>,
}

/// What a verifier is made from: the plans and where their data comes from, what is kept and
/// for how long, and how errors are worded and counted.
#[derive(Clone)]
pub struct Setup {
    pub plans: Plans,
    pub sources: Arc<dyn Sources + Send>,
    pub policy: CachePolicy,
    /// Verify as of the time of each fetch (a server runs for months), unless a time was given.
    pub at_now: bool,
    pub describe: fn(&ResolveError) -> String,
    pub metrics: Arc<Metrics>,
}

/// Notary v1 under the plans of the flags or a policy file.
pub struct NotaryV1 {
    plans: Arc<Plans>,
    sources: Arc<dyn Sources + Send>,
    opened: Mutex<HashMap<(usize, String), Arc<dyn Source>>>,
    cache: Arc<TrustCache<Key, Loaded>>,
    policy: CachePolicy,
    /// Verify as of the time of each fetch (a server runs for months), unless a time was given.
    at_now: bool,
    describe: fn(&ResolveError) -> String,
    metrics: Arc<Metrics>,
}

impl NotaryV1 {
    pub fn new(setup: Setup) -> Arc<NotaryV1> {
        Arc::new(NotaryV1 {
            plans: Arc::new(setup.plans),
            sources: setup.sources,
            opened: Mutex::new(HashMap::new()),
            cache: TrustCache::new(setup.policy.bounds),
            policy: setup.policy,
            at_now: setup.at_now,
            describe: setup.describe,
            metrics: setup.metrics,
        })
    }

    /// The source for a plan and location, opened once and shared (one connection pool).
    fn source(&self, plan: usize, location: &str) -> Result<Arc<dyn Source>, ResolveError> {
        let key = (plan, location.to_owned());
        if let Some(s) = self.lock().get(&key) {
            return Ok(s.clone());
        }
        let opened: Arc<dyn Source> = Arc::from(self.sources.open(plan, location)?);
        Ok(self.lock().entry(key).or_insert(opened).clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(usize, String), Arc<dyn Source>>> {
        self.opened.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fetch and verify one repository (blocking; runs on the blocking pool).
    fn load(&self, key: &Key, meter: Arc<Meter>) -> (Loaded, Keep) {
        let (plan, location, gun) = key;
        let mut opts = self.plans.plans[*plan].opts.clone();
        opts.batch = Some(meter);
        if self.at_now {
            opts.at = time::OffsetDateTime::now_utc();
        }
        let result = self
            .source(*plan, location)
            .and_then(|s| fetch_repo_cached(s.as_ref(), gun, &opts, self.policy.disk.as_ref()));
        let keep = match &result {
            Ok(f) => Keep {
                ttl: self.policy.ttl,
                bytes: f.files.values().map(|b| b.len() as u64).sum(),
            },
            Err(e) if e.failure() == Failure::Refused => Keep {
                ttl: self.policy.refusal_ttl,
                bytes: 1024,
            },
            Err(_) => Keep {
                ttl: Duration::ZERO,
                bytes: 0,
            },
        };
        if let Err(e) = &result {
            if e.failure() == Failure::Unavailable {
                self.metrics.fetch_error(location);
            }
        }
        (result.map(|f| f.repo), keep)
    }

    async fn verify_one(self: Arc<Self>, image: ImageRef, meter: Arc<Meter>) -> Verdict {
        let Some(ix) = self.plans.index_for(&image.gun) else {
            let e = ResolveError::NoPolicy {
                gun: image.gun.clone(),
            };
            return Verdict::failed(&e, self.describe);
        };
        let plan = &self.plans.plans[ix];
        if plan.skip {
            return Verdict::Skipped {
                policy: plan.policy.clone().unwrap_or_default(),
            };
        }
        let location = self.sources.location(ix, &image);
        let key: Key = (ix, location, image.gun.clone());
        // A refusal read from data older than the refusal time is checked once more against
        // fresh data (a tag signed a moment ago must be seen soon, not after the whole TTL).
        for attempt in 0..2 {
            let me = self.clone();
            let (key2, meter) = (key.clone(), meter.clone());
            let got = self
                .cache
                .get(key.clone(), move || me.load(&key2, meter))
                .await;
            let loaded = match got {
                Ok((loaded, how)) => {
                    self.metrics.cache(how == How::Hit);
                    loaded
                }
                Err(e @ (CacheError::Busy(_) | CacheError::Lost)) => {
                    return Verdict::Failed {
                        failure: Failure::Unavailable,
                        kind: "busy",
                        message: e.to_string(),
                    }
                }
            };
            let repo = match &*loaded {
                Ok(repo) => repo,
                Err(e) => return Verdict::failed(e, self.describe),
            };
            match select_ref(repo, &image, &plan.opts) {
                Ok(r) => {
                    return Verdict::Trusted {
                        digest: r.selection.digest,
                        warnings: r.warnings.iter().map(|w| w.message.clone()).collect(),
                    }
                }
                Err(e)
                    if attempt == 0
                        && e.failure() == Failure::Refused
                        && self.cache.forget_if_older(&key, self.policy.refusal_ttl) => {}
                Err(e) => return Verdict::failed(&e, self.describe),
            }
        }
        Verdict::Failed {
            failure: Failure::Unavailable,
            kind: "busy",
            message: "the trust data changed while it was read; try again".into(),
        }
    }
}

impl Verifier for NotaryV1 {
    fn verify(self: Arc<Self>, image: ImageRef, meter: Arc<Meter>) -> BoxFuture<Verdict> {
        Box::pin(self.verify_one(image, meter))
    }
}
