//! Notation's warm path through the trust cache. What is kept, per repository and artifact
//! digest, is the signature that verified last time, as fetched (its manifest digest and its
//! envelope bytes), with the artifact's descriptor and what the registry showed of its referrers
//! API. Never an outcome: a warm run verifies the kept envelope again, every check, at the time
//! of the run, against the policy and trust stores of the run, so a changed policy, a changed
//! trust store or a signature past its expiry simply fails the warm check and the run goes cold.
//!
//! Requests: a tag costs one (its manifest, which gives the digest); a digest costs one (its
//! referrers, so a signature the signer deleted is no longer taken from the cache). An entry is
//! not used past the earliest of the signature's expiry and its chain's notAfter (it would fail
//! anyway; this saves the CPU).

use std::sync::Arc;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::fetch::cache::Cache;
use crate::fetch::oci::{Manifest, OciSource, Reference, RegistrySource};
use crate::notation::envelope::Artifact;
use crate::notation::manifest::{ARTIFACT_TYPE_SIGNATURE, MAX_MANIFEST_BYTES};
use crate::notation::oci::{verify_reference, RunError};
use crate::notation::policy::Statement;
use crate::notation::revocation::RevocationChecker;
use crate::notation::truststore::TrustStores;
use crate::notation::verify::{self, Candidate, Limits, Verified};
use crate::reference::Digest;

/// One cache entry, as stored.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    media_type: String,
    digest: String,
    size: u64,
    signature: String,
    envelope_media_type: String,
    envelope: String,
    /// Unix seconds after which the entry is not tried.
    until: i64,
    referrers_api: Option<bool>,
}

/// Everything one verification uses.
pub struct Context<'a> {
    /// The trust cache; `None`: cold every time (what was verified earlier in the run still
    /// counts, see [`Context::verify`]).
    pub cache: Option<&'a Cache>,
    pub source: &'a RegistrySource,
    /// `host[:port]/repository`: the cache key.
    pub key: &'a str,
    pub repo: &'a str,
    pub name: &'a str,
    pub statement: &'a Statement,
    pub stores: &'a TrustStores,
    pub at: OffsetDateTime,
    pub revocation: &'a dyn RevocationChecker,
    pub limits: &'a Limits,
}

impl Context<'_> {
    fn load(&self, digest: &Digest) -> Option<(Entry, Artifact, Candidate)> {
        let bytes = self.cache?.load_notation(self.key, &digest.hex())?;
        let entry: Entry = serde_json::from_slice(&bytes).ok()?;
        if entry.digest != digest.to_string() || self.at.unix_timestamp() > entry.until {
            return None;
        }
        let envelope = base64::engine::general_purpose::STANDARD
            .decode(&entry.envelope)
            .ok()?;
        let artifact = Artifact {
            media_type: entry.media_type.clone(),
            digest: *digest,
            size: entry.size,
        };
        let candidate = Candidate {
            manifest_digest: Digest::parse(&entry.signature).ok()?,
            envelope: Ok((entry.envelope_media_type.clone(), envelope)),
        };
        Some((entry, artifact, candidate))
    }

    /// The kept signature verified again, now; `None` if it does not stand.
    fn reverify(&self, artifact: &Artifact, candidate: Candidate) -> Option<Verified> {
        verify::verify_artifact(
            self.statement,
            self.stores,
            artifact,
            self.name,
            &[candidate],
            self.at,
            self.revocation,
            self.limits,
        )
        .ok()
    }

    /// `reference` verified, warm if it can be. A tag: its manifest first (one request), which
    /// names the digest verified, so the answer is about that very manifest. A digest that
    /// `recall` knows (verified earlier in the run) or that the trust cache keeps a standing
    /// signature for needs nothing more; else it is verified cold, and what verifies is kept.
    pub fn verify(
        &self,
        reference: &Reference,
        recall: &dyn Fn(&Digest) -> Option<Arc<Verified>>,
    ) -> Result<Arc<Verified>, RunError> {
        let digest = match reference {
            Reference::Tag(_) => {
                let m = self
                    .source
                    .manifest(self.repo, reference, MAX_MANIFEST_BYTES as u64)
                    .map_err(RunError::from)?;
                if let Some(v) = recall(&m.digest) {
                    return Ok(v);
                }
                if let Some(v) = self.for_manifest(&m) {
                    return Ok(Arc::new(v));
                }
                m.digest
            }
            Reference::Digest(d) => {
                if let Some(v) = recall(d) {
                    return Ok(v);
                }
                if let Some(v) = self.for_digest(d)? {
                    return Ok(Arc::new(v));
                }
                *d
            }
        };
        let v = verify_reference(
            self.source,
            self.repo,
            &Reference::Digest(digest),
            self.name,
            self.statement,
            self.stores,
            self.at,
            self.revocation,
            self.limits,
        )?;
        // A cache that cannot be written costs the next run its warm path, nothing else.
        let _ = self.store(&v);
        Ok(Arc::new(v))
    }

    /// The cache for a tag whose manifest `m` was just fetched: its kept signature verified
    /// again, if there is one and it stands.
    pub fn for_manifest(&self, m: &Manifest) -> Option<Verified> {
        let artifact = Artifact {
            media_type: m.media_type.clone(),
            digest: m.digest,
            size: m.bytes.len() as u64,
        };
        let (_, kept, candidate) = self.load(&m.digest)?;
        (kept == artifact)
            .then(|| self.reverify(&artifact, candidate))
            .flatten()
    }

    /// The cache for digest `d`: its referrers fetched (one request) and, if the kept signature
    /// is still listed, verified again. A fetch that fails is the answer (as it would be cold).
    pub fn for_digest(&self, d: &Digest) -> Result<Option<Verified>, RunError> {
        let Some((entry, artifact, candidate)) = self.load(d) else {
            return Ok(None);
        };
        if let Some(api) = entry.referrers_api {
            self.source.assume_referrers_api(api);
        }
        let listed = self.source.referrers(
            self.repo,
            d,
            Some(ARTIFACT_TYPE_SIGNATURE),
            self.limits.max_signatures + 1,
        )?;
        if !listed.iter().any(|r| r.digest == candidate.manifest_digest) {
            return Ok(None);
        }
        Ok(self.reverify(&artifact, candidate))
    }

    /// Keep `v`'s signature for the next run (nothing without a cache). A cache that cannot be
    /// written costs only the warm path, so the error is the caller's to show or not.
    pub fn store(&self, v: &Verified) -> Result<(), crate::fetch::cache::CacheError> {
        let (Some(cache), Ok((media_type, envelope))) = (self.cache, &v.candidate().envelope)
        else {
            return Ok(());
        };
        let report = v.signature();
        let until = report
            .chain
            .iter()
            .map(|c| c.not_after)
            .chain(report.expiry)
            .min()
            .map_or(i64::MAX, OffsetDateTime::unix_timestamp);
        let entry = Entry {
            media_type: v.artifact().media_type.clone(),
            digest: v.digest().to_string(),
            size: v.artifact().size,
            signature: v.candidate().manifest_digest.to_string(),
            envelope_media_type: media_type.clone(),
            envelope: base64::engine::general_purpose::STANDARD.encode(envelope),
            until,
            referrers_api: self.source.referrers_api(),
        };
        let bytes = serde_json::to_vec(&entry).unwrap_or_default();
        cache.store_notation(self.key, &v.digest().hex(), &bytes)
    }
}
