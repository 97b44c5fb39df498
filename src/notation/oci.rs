//! The one place that fetches for the Notation core: an [`OciSource`] gives the artifact's
//! manifest, its referrers of the signature artifact type, each signature manifest and its
//! envelope blob, all bounded; [`verify::verify_artifact`] decides. Nothing is decided here.

use time::OffsetDateTime;

use super::envelope::Artifact;
use super::manifest::{SignatureManifest, ARTIFACT_TYPE_SIGNATURE, MAX_MANIFEST_BYTES};
use super::policy::Statement;
use super::revocation::RevocationChecker;
use super::truststore::TrustStores;
use super::verify::{self, Candidate, Limits, Verified, VerifyError};
use crate::fetch::oci::{OciError, OciSource, Reference};

/// Why a reference could not be verified: it could not be fetched, or it was refused.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Fetch(#[from] OciError),
    #[error("{0}")]
    Verify(#[from] VerifyError),
}

impl RunError {
    pub fn failure(&self) -> crate::failure::Failure {
        use crate::failure::Classify;
        match self {
            // A tag or digest that is not there is a refusal (notation: "not found"), not an
            // outage.
            RunError::Fetch(e) if e.is_not_found() => crate::failure::Failure::Refused,
            RunError::Fetch(e) => e.failure(),
            RunError::Verify(e) => e.failure(),
        }
    }
}

/// Fetch `reference` in `repo` from `source` and verify it against `statement` at `at`.
/// `name` is how messages call the artifact. The caller has handled a skip statement.
#[allow(clippy::too_many_arguments)]
pub fn verify_reference(
    source: &dyn OciSource,
    repo: &str,
    reference: &Reference,
    name: &str,
    statement: &Statement,
    stores: &TrustStores,
    at: OffsetDateTime,
    revocation: &dyn RevocationChecker,
    limits: &Limits,
) -> Result<Verified, RunError> {
    let manifest = source.manifest(repo, reference, MAX_MANIFEST_BYTES as u64)?;
    let artifact = Artifact {
        media_type: manifest.media_type.clone(),
        digest: manifest.digest,
        size: manifest.bytes.len() as u64,
    };
    // One more than the limit, so that "more than the limit" can be told.
    let referrers = match source.referrers(
        repo,
        &artifact.digest,
        Some(ARTIFACT_TYPE_SIGNATURE),
        limits.max_signatures + 1,
    ) {
        Ok(list) => list,
        Err(OciError::TooManyReferrers { found, .. }) => found,
        Err(e) => return Err(e.into()),
    };
    let mut candidates = Vec::with_capacity(referrers.len());
    for r in referrers.iter().take(limits.max_signatures + 1) {
        let envelope = source
            .manifest(
                repo,
                &Reference::Digest(r.digest),
                MAX_MANIFEST_BYTES as u64,
            )
            .map_err(|e| e.to_string())
            .and_then(|m| {
                SignatureManifest::parse(&m.bytes, limits.max_envelope_bytes)
                    .map_err(|e| e.to_string())
            })
            .and_then(|sig| {
                source
                    .blob(repo, &sig.envelope_digest, sig.envelope_size)
                    .map(|bytes| (sig.envelope_media_type, bytes))
                    .map_err(|e| {
                        format!(
                            "unable to retrieve digital signature with digest {:?}: {e}",
                            r.digest.to_string()
                        )
                    })
            });
        candidates.push(Candidate {
            manifest_digest: r.digest,
            envelope,
        });
    }
    Ok(verify::verify_artifact(
        statement,
        stores,
        &artifact,
        name,
        &candidates,
        at,
        revocation,
        limits,
    )?)
}
