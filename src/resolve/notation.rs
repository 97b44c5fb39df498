//! Notation-signed references for `resolve`, `pin`, batches and `serve`: a reference under a
//! statement with `trustStores` and `trustedIdentities` is verified through its own registry
//! ([`crate::notation::oci::verify_reference`]); a tag resolves to the digest of the manifest the
//! registry serves for it, and only if that manifest's signatures verify. A statement with both
//! generations combines the two answers here ([`combine`]): both must verify, and agree on the
//! digest, unless `"require": "any"`.
//!
//! What a run opens is kept in [`NotationState`]: one [`RegistrySource`] per plan and registry
//! (one connection pool, one token cache, one answer about the referrers API), and each
//! statement's trust stores, loaded once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::batch::Sources;
use super::notation_warm::Context;
use super::{Resolution, ResolveError};
use crate::fetch::cache::Cache;
use crate::fetch::oci::{Reference, RegistrySource};
use crate::fetch::revocation::{HttpRevocation, RevocationOptions};
use crate::notation::oci::RunError;
use crate::notation::revocation::RevocationChecker;
use crate::notation::truststore::{self, TrustStores};
use crate::notation::verify::{Limits, Verified};
use crate::policy::{Generation, NotationPolicy, Require};
use crate::reference::ImageRef;
use crate::tuf::level::Warning;
use crate::tuf::select::Selection;

/// A reference whose Notation signatures verified.
#[derive(Debug, Clone)]
pub struct NotationResolution {
    pub verified: Arc<Verified>,
}

impl NotationResolution {
    /// As a [`Resolution`]: the verified manifest's digest and size; the signing certificate's
    /// subject decided; the verified signature's warnings.
    pub fn resolution(&self, image: &ImageRef) -> Resolution {
        let v = &self.verified;
        let signer = v.signature().signer().unwrap_or_default().to_owned();
        Resolution {
            selection: Selection {
                digest: v.digest(),
                tag: image.tag.clone(),
                length: v.artifact().size,
                decided_by: vec![signer.clone()],
                signed_by: vec![signer],
            },
            warnings: v
                .warnings()
                .iter()
                .map(|w| Warning::new(None, w.clone()))
                .collect(),
        }
    }
}

/// A verified artifact of a run: (plan, repository, digest).
type Seen = (usize, String, crate::reference::Digest);

/// Registries and trust stores opened by one run (or one server), shared by every reference,
/// and, for one run ([`NotationState::for_one_run`]), the artifacts verified so far: tags of one
/// repository naming the same digest (`v1`, `latest`) are verified once a run, as a Notary v1
/// repository is fetched once a run.
#[derive(Default)]
pub struct NotationState {
    registries: Mutex<BTreeMap<(usize, String), Result<RegistrySource, ResolveError>>>,
    stores: Mutex<BTreeMap<usize, Arc<TrustStores>>>,
    verified: Option<Mutex<BTreeMap<Seen, Arc<Verified>>>>,
}

impl NotationState {
    /// For one batch: an artifact verified once is not verified again in the run (same time,
    /// same policy). A server, which runs for months, uses [`NotationState::default`].
    pub fn for_one_run() -> NotationState {
        NotationState {
            verified: Some(Mutex::default()),
            ..NotationState::default()
        }
    }

    fn recall(
        &self,
        plan: usize,
        image: &ImageRef,
        digest: &crate::reference::Digest,
    ) -> Option<Arc<Verified>> {
        let seen = self
            .verified
            .as_ref()?
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        seen.get(&(plan, image.gun.to_string(), *digest)).cloned()
    }

    fn remember(&self, plan: usize, image: &ImageRef, v: &Arc<Verified>) {
        if let Some(seen) = &self.verified {
            let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
            seen.insert((plan, image.gun.to_string(), v.digest()), v.clone());
        }
    }

    fn registry(
        &self,
        sources: &dyn Sources,
        plan: usize,
        registry: &str,
    ) -> Result<RegistrySource, ResolveError> {
        let mut open = self.registries.lock().unwrap_or_else(|p| p.into_inner());
        open.entry((plan, registry.to_owned()))
            .or_insert_with(|| sources.registry(plan, registry).map_err(Into::into))
            .clone()
    }

    fn stores(&self, plan: usize, policy: &NotationPolicy) -> Arc<TrustStores> {
        let mut loaded = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        loaded
            .entry(plan)
            .or_insert_with(|| {
                Arc::new(truststore::load(
                    &policy.trust_store,
                    &policy.statement.trust_stores,
                ))
            })
            .clone()
    }

    /// The trust store loader's warnings of plan `plan`, once loaded.
    pub fn store_warnings(&self, plan: usize) -> Vec<String> {
        let loaded = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        loaded
            .get(&plan)
            .map(|s| s.warnings.clone())
            .unwrap_or_default()
    }
}

/// One run's OCSP and CRL checker (bounded and cached for the run), trusting the sources'
/// `--ca-cert` for https responders besides the platform's roots.
pub fn revocation_checker(sources: &dyn Sources) -> HttpRevocation {
    HttpRevocation::new(RevocationOptions {
        ca_certs: sources.revocation_ca_certs(),
        ..RevocationOptions::default()
    })
}

/// The repository path of `image` inside its registry (`library/alpine` of
/// `docker.io/library/alpine`).
pub fn repository(image: &ImageRef) -> &str {
    let gun = image.gun.as_str();
    gun.strip_prefix(image.registry.as_str())
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or(gun)
}

/// Verify `image`'s Notation signatures under plan `plan`'s statement, at `at`, every request
/// done within `deadline`. A digest reference verifies that digest (its tag, if any, is not
/// asked); a tag, the manifest the registry serves for it. With a trust cache, the signature
/// that verified last time is tried first (`resolve::notation_warm`) and the one that verifies
/// now is kept.
#[allow(clippy::too_many_arguments)]
pub fn verify_image(
    state: &NotationState,
    sources: &dyn Sources,
    plan: usize,
    policy: &NotationPolicy,
    image: &ImageRef,
    at: OffsetDateTime,
    deadline: Duration,
    cache: Option<&Cache>,
    revocation: &dyn RevocationChecker,
) -> Result<NotationResolution, ResolveError> {
    let fail = |e: RunError| ResolveError::Notation(Arc::new(e));
    let registry = state
        .registry(sources, plan, &image.registry)?
        .with_deadline(Instant::now() + deadline);
    let reference = match (&image.digest, &image.tag) {
        (Some(d), _) => Reference::Digest(*d),
        (None, Some(t)) => Reference::Tag(t.clone()),
        (None, None) => Reference::Tag("latest".to_owned()),
    };
    let stores = state.stores(plan, policy);
    let limits = Limits::default();
    let context = Context {
        cache,
        source: &registry,
        key: image.gun.as_str(),
        repo: repository(image),
        name: &image.input,
        statement: &policy.statement,
        stores: &stores,
        at,
        revocation,
        limits: &limits,
    };
    let v = context
        .verify(&reference, &|d| state.recall(plan, image, d))
        .map_err(fail)?;
    state.remember(plan, image, &v);
    Ok(NotationResolution { verified: v })
}

/// The answers of a statement's generations, combined: `v1` and `notation` are `None` when the
/// statement does not use that generation. Returns the resolution and the generations that
/// verified, or why the reference is refused.
pub fn combine(
    image: &ImageRef,
    require: Require,
    v1: Option<Result<Resolution, ResolveError>>,
    notation: Option<Result<NotationResolution, ResolveError>>,
) -> Result<(Resolution, Vec<Generation>), ResolveError> {
    let notation = notation.map(|n| n.map(|r| r.resolution(image)));
    match (v1, notation) {
        (Some(v1), None) => v1.map(|r| (r, vec![Generation::NotaryV1])),
        (None, Some(n)) => n.map(|r| (r, vec![Generation::Notation])),
        (Some(Ok(a)), Some(Ok(b))) => {
            if a.selection.digest != b.selection.digest {
                return Err(ResolveError::GenerationsDisagree {
                    notary_v1: a.selection.digest,
                    notation: b.selection.digest,
                });
            }
            let mut merged = a;
            merged.warnings.extend(b.warnings);
            merged.selection.signed_by.extend(b.selection.signed_by);
            Ok((merged, vec![Generation::NotaryV1, Generation::Notation]))
        }
        (Some(Ok(a)), Some(Err(e))) => match require {
            Require::Any => Ok((a, vec![Generation::NotaryV1])),
            Require::All => Err(ResolveError::Generation {
                generation: Generation::Notation,
                error: Box::new(e),
            }),
        },
        (Some(Err(e)), Some(Ok(b))) => match require {
            Require::Any => Ok((b, vec![Generation::Notation])),
            Require::All => Err(ResolveError::Generation {
                generation: Generation::NotaryV1,
                error: Box::new(e),
            }),
        },
        (Some(Err(a)), Some(Err(b))) => Err(ResolveError::NoneVerified {
            notary_v1: Box::new(a),
            notation: Box::new(b),
        }),
        (None, None) => Err(ResolveError::NoPolicy {
            gun: image.gun.clone(),
        }),
    }
}
