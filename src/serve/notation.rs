//! Notation beside Notary v1 in the webhook: [`Generations`] is the [`Verifier`] the server
//! uses. An image under a Notary v1 statement (or the flags' plan) goes to [`NotaryV1`]; under a
//! Notation statement its signatures are verified through its registry
//! ([`crate::resolve::notation::verify_image`]), at the time of each load, kept in memory as
//! Notary v1 answers are (single-flight, the same TTLs, refusals shorter, outages not kept) and
//! in the trust cache on disk (the warm path: one request); under a statement with both, the two
//! verdicts are combined as `resolve` combines them: both needed and on one digest, or either
//! with `"require": "any"`.

use std::sync::Arc;
use std::time::Duration;

use crate::failure::{Classify, Failure};
use crate::policy::Require;
use crate::reference::ImageRef;
use crate::resolve::notation::{verify_image, NotationResolution, NotationState};
use crate::resolve::ResolveError;
use crate::tuf::budget::Meter;

use super::cache::{CacheError, How, Keep, TrustCache};
use super::verify::{BoxFuture, NotaryV1, Setup, Verdict, Verifier};

/// (plan, reference as parsed): one Notation answer.
type Key = (usize, String);
type Loaded = Result<NotationResolution, ResolveError>;

/// Both generations under one policy file.
pub struct Generations {
    v1: Arc<NotaryV1>,
    setup: Setup,
    state: NotationState,
    cache: Arc<TrustCache<Key, Loaded>>,
}

impl Generations {
    pub fn new(setup: Setup) -> Arc<Generations> {
        Arc::new(Generations {
            v1: NotaryV1::new(setup.clone()),
            state: NotationState::default(),
            cache: TrustCache::new(setup.policy.bounds),
            setup,
        })
    }

    /// Verify `image` under plan `ix`'s Notation statement (blocking).
    fn load(&self, ix: usize, image: &ImageRef) -> (Loaded, Keep) {
        let Some(notation) = self
            .setup
            .plans
            .policy(ix)
            .and_then(|p| p.notation.as_ref())
        else {
            let e = ResolveError::NoPolicy {
                gun: image.gun.clone(),
            };
            return (Err(e), keep_nothing());
        };
        let opts = &self.setup.plans.plans[ix].opts;
        let at = if self.setup.at_now {
            time::OffsetDateTime::now_utc()
        } else {
            opts.at
        };
        let result = verify_image(
            &self.state,
            self.setup.sources.as_ref(),
            ix,
            notation,
            image,
            at,
            opts.limits.deadline,
            self.setup.policy.disk.as_ref(),
            // OCSP and CRL per load: a checker's deadline and cache are for one run, and a
            // server runs for months.
            &crate::resolve::notation::revocation_checker(self.setup.sources.as_ref()),
        );
        let keep = match &result {
            Ok(r) => Keep {
                ttl: self.setup.policy.ttl,
                bytes: r.verified.artifact().size + 16 * 1024,
            },
            Err(e) if e.failure() == Failure::Refused => Keep {
                ttl: self.setup.policy.refusal_ttl,
                bytes: 1024,
            },
            Err(_) => {
                self.setup.metrics.fetch_error(&image.registry);
                keep_nothing()
            }
        };
        (result, keep)
    }

    async fn notation(self: Arc<Self>, ix: usize, image: ImageRef) -> Verdict {
        let key: Key = (ix, image.input.clone());
        let me = self.clone();
        let img = image.clone();
        match self.cache.get(key, move || me.load(ix, &img)).await {
            Ok((loaded, how)) => {
                self.setup.metrics.cache(how == How::Hit);
                match &*loaded {
                    Ok(r) => Verdict::Trusted {
                        digest: r.verified.digest(),
                        warnings: r.verified.warnings().to_vec(),
                    },
                    Err(e) => failed(e, self.setup.describe),
                }
            }
            Err(e @ (CacheError::Busy(_) | CacheError::Lost)) => Verdict::Failed {
                failure: Failure::Unavailable,
                kind: "busy",
                message: e.to_string(),
            },
        }
    }

    async fn verify_one(self: Arc<Self>, image: ImageRef, meter: Arc<Meter>) -> Verdict {
        let ix = self.setup.plans.index_for(&image.gun);
        let policy = ix.and_then(|ix| self.setup.plans.policy(ix));
        let (Some(ix), Some(p)) = (ix, policy) else {
            return self.v1.clone().verify(image, meter).await;
        };
        if p.notation.is_none() || self.setup.plans.plans[ix].skip {
            return self.v1.clone().verify(image, meter).await;
        }
        if !self.setup.plans.notary_v1(ix) {
            return self.notation(ix, image).await;
        }
        let (v1, notation) = tokio::join!(
            self.v1.clone().verify(image.clone(), meter),
            self.clone().notation(ix, image)
        );
        combine(p.require, v1, notation)
    }
}

fn keep_nothing() -> Keep {
    Keep {
        ttl: Duration::ZERO,
        bytes: 0,
    }
}

fn failed(e: &ResolveError, describe: fn(&ResolveError) -> String) -> Verdict {
    Verdict::Failed {
        failure: e.failure(),
        kind: e.kind(),
        message: describe(e),
    }
}

/// The verdicts of a statement's two generations, as `resolve` combines its answers
/// ([`crate::resolve::notation::combine`]): the same kinds and words.
fn combine(require: Require, v1: Verdict, notation: Verdict) -> Verdict {
    let prefixed = |title: &str, v: Verdict| match v {
        Verdict::Failed {
            failure,
            kind,
            message,
        } => Verdict::Failed {
            failure,
            kind,
            message: format!("{title}: {message}"),
        },
        other => other,
    };
    match (v1, notation) {
        (
            Verdict::Trusted {
                digest: a,
                warnings: mut wa,
            },
            Verdict::Trusted {
                digest: b,
                warnings: wb,
            },
        ) => {
            if a != b {
                let e = ResolveError::GenerationsDisagree {
                    notary_v1: a,
                    notation: b,
                };
                return failed(&e, |e| e.to_string());
            }
            wa.extend(wb);
            Verdict::Trusted {
                digest: a,
                warnings: wa,
            }
        }
        (t @ Verdict::Trusted { .. }, n) | (n, t @ Verdict::Trusted { .. })
            if require == Require::Any =>
        {
            let _ = n;
            t
        }
        (Verdict::Trusted { .. }, n) => prefixed("Notation", n),
        (v, Verdict::Trusted { .. }) => prefixed("Notary v1", v),
        (
            Verdict::Failed {
                failure: fa,
                message: ma,
                ..
            },
            Verdict::Failed {
                failure: fb,
                message: mb,
                ..
            },
        ) => Verdict::Failed {
            failure: fa.max(fb),
            kind: "none-verified",
            message: format!("neither generation verified: Notary v1: {ma}; Notation: {mb}"),
        },
        // A skip verdict does not come from a statement with both generations.
        (v, _) => v,
    }
}

impl Verifier for Generations {
    fn verify(self: Arc<Self>, image: ImageRef, meter: Arc<Meter>) -> BoxFuture<Verdict> {
        Box::pin(self.verify_one(image, meter))
    }
}
