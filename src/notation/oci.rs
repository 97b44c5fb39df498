//! The one place that fetches for the Notation core: an [`OciSource`] gives the artifact's
//! manifest, its referrers of the signature artifact type, each signature manifest and its
//! envelope blob, all bounded; [`verify::verify_artifact`] decides. Nothing is decided here.
//!
//! Waves: the manifest and the referrers come in one wave for a digest (two for a tag: the
//! digest is only known from the manifest's bytes), then signatures in batches of
//! [`BATCH`]: their manifests in one wave, their envelopes in the next, verified before the next
//! batch is fetched. So a digest with up to [`BATCH`] signatures costs 3 waves, a tag 4, and a
//! registry listing many signatures that all fail costs two waves per batch, never more bytes
//! than [`Limits::max_bytes`] and never more signatures than [`Limits::max_signatures`].
//!
//! A signature whose manifest or envelope is missing, too large or not what its digest says
//! fails integrity (the other signatures are still tried); a transport failure (connection,
//! HTTP status, deadline) ends the run as could-not-check, as notation ends it.

use time::OffsetDateTime;

use super::envelope::Artifact;
use super::manifest::{SignatureManifest, ARTIFACT_TYPE_SIGNATURE, MAX_MANIFEST_BYTES};
use super::policy::Statement;
use super::revocation::RevocationChecker;
use super::truststore::TrustStores;
use super::verify::{self, Candidate, Limits, Verified, VerifyError};
use crate::failure::{Classify, Failure};
use crate::fetch::oci::{Descriptor, OciError, OciSource, Reference};
use crate::reference::Digest;

/// Signatures fetched at once (one wave of manifests, one of envelopes) before they are verified.
pub const BATCH: usize = 16;

/// Why a reference could not be verified: it could not be fetched, or it was refused.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Fetch(#[from] OciError),
    #[error("{0}")]
    Verify(#[from] VerifyError),
    /// The signatures would need more than [`Limits::max_bytes`].
    #[error("{name}: fetching its signatures would take more than the limit of {limit} bytes; stopped after {tried} signatures")]
    TooManyBytes {
        name: String,
        limit: u64,
        tried: usize,
    },
}

impl RunError {
    pub fn failure(&self) -> Failure {
        match self {
            // A tag or digest that is not there is a refusal (notation: "not found"), not an
            // outage.
            RunError::Fetch(e) if e.is_not_found() => Failure::Refused,
            RunError::Fetch(e) => e.failure(),
            RunError::Verify(e) => e.failure(),
            RunError::TooManyBytes { .. } => Failure::Unavailable,
        }
    }

    /// A stable kind for JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            RunError::Fetch(e) => e.kind(),
            RunError::Verify(e) => e.kind(),
            RunError::TooManyBytes { .. } => "too-many-bytes",
        }
    }

    /// The signatures tried, if any were.
    pub fn reports(&self) -> &[verify::SignatureReport] {
        match self {
            RunError::Verify(v) => v.reports(),
            _ => &[],
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
    let (artifact, referrers) = artifact_and_referrers(source, repo, reference, name, limits)?;
    let tried = referrers.len().min(limits.max_signatures);
    let mut budget = Budget::new(limits, name);
    let mut earlier = Vec::new();
    for batch in referrers[..tried].chunks(BATCH) {
        let candidates = fetch_batch(source, repo, batch, limits, &mut budget)?;
        match verify::verify_artifact(
            statement,
            stores,
            &artifact,
            name,
            &candidates,
            at,
            revocation,
            limits,
        ) {
            Ok(v) => return Ok(v.after(earlier)),
            Err(VerifyError::AllFailed { reports, .. }) => earlier.extend(reports),
            Err(e) => return Err(e.into()),
        }
        budget.tried += batch.len();
    }
    Err(if referrers.len() > limits.max_signatures {
        VerifyError::TooManySignatures {
            limit: limits.max_signatures,
            reports: earlier,
        }
    } else {
        VerifyError::AllFailed {
            artifact: artifact.digest.to_string(),
            reports: earlier,
        }
    }
    .into())
}

/// The artifact `reference` names and its signatures' descriptors (at most one more than the
/// limit, so that "more than the limit" can be told): one wave for a digest, two for a tag.
fn artifact_and_referrers(
    source: &dyn OciSource,
    repo: &str,
    reference: &Reference,
    name: &str,
    limits: &Limits,
) -> Result<(Artifact, Vec<Descriptor>), RunError> {
    let (manifest, referrers) = source.manifest_and_referrers(
        repo,
        reference,
        MAX_MANIFEST_BYTES as u64,
        Some(ARTIFACT_TYPE_SIGNATURE),
        limits.max_signatures + 1,
    );
    let manifest = manifest?;
    let artifact = Artifact {
        media_type: manifest.media_type.clone(),
        digest: manifest.digest,
        size: manifest.bytes.len() as u64,
    };
    let referrers = match referrers {
        Some(Ok(list)) => list,
        Some(Err(OciError::TooManyReferrers { found, .. })) => found,
        Some(Err(e)) => return Err(e.into()),
        None => Vec::new(),
    };
    if referrers.is_empty() {
        return Err(VerifyError::NoSignature(name.to_string()).into());
    }
    Ok((artifact, referrers))
}

/// Every signature of `reference` (at most [`Limits::max_signatures`]), fetched and not
/// verified, for listing them all (`inspect --signatures`); bounded as [`verify_reference`] is.
pub fn fetch_all(
    source: &dyn OciSource,
    repo: &str,
    reference: &Reference,
    name: &str,
    limits: &Limits,
) -> Result<(Artifact, Vec<Candidate>), RunError> {
    let (artifact, referrers) = artifact_and_referrers(source, repo, reference, name, limits)?;
    let mut budget = Budget::new(limits, name);
    let mut all = Vec::new();
    let tried = referrers.len().min(limits.max_signatures);
    for batch in referrers[..tried].chunks(BATCH) {
        all.extend(fetch_batch(source, repo, batch, limits, &mut budget)?);
        budget.tried += batch.len();
    }
    Ok((artifact, all))
}

/// The bytes one artifact's signatures may still take.
struct Budget<'a> {
    left: u64,
    limit: u64,
    name: &'a str,
    tried: usize,
}

impl Budget<'_> {
    fn new<'a>(limits: &Limits, name: &'a str) -> Budget<'a> {
        Budget {
            left: limits.max_bytes,
            limit: limits.max_bytes,
            name,
            tried: 0,
        }
    }

    /// Take `n` bytes before asking for them.
    fn take(&mut self, n: u64) -> Result<(), RunError> {
        match self.left.checked_sub(n) {
            Some(rest) => {
                self.left = rest;
                Ok(())
            }
            None => Err(RunError::TooManyBytes {
                name: self.name.to_owned(),
                limit: self.limit,
                tried: self.tried,
            }),
        }
    }
}

/// A transport failure ends the run; anything else is that signature's integrity failure.
fn transport(e: &OciError) -> bool {
    matches!(
        e,
        OciError::Http(_) | OciError::Deadline { .. } | OciError::Io { .. }
    )
}

/// One batch of signatures: their manifests (each at most the size its descriptor gives), then
/// their envelopes, in two waves.
fn fetch_batch(
    source: &dyn OciSource,
    repo: &str,
    batch: &[Descriptor],
    limits: &Limits,
    budget: &mut Budget,
) -> Result<Vec<Candidate>, RunError> {
    let wanted: Vec<(Reference, u64)> = batch
        .iter()
        .map(|d| {
            (
                Reference::Digest(d.digest),
                d.size.min(MAX_MANIFEST_BYTES as u64),
            )
        })
        .collect();
    budget.take(wanted.iter().map(|(_, n)| n).sum())?;
    let mut parsed: Vec<Result<SignatureManifest, String>> = Vec::with_capacity(batch.len());
    for m in source.manifests_many(repo, &wanted) {
        match m {
            Err(e) if transport(&e) => return Err(e.into()),
            Err(e) => parsed.push(Err(e.to_string())),
            Ok(m) => parsed.push(
                SignatureManifest::parse(&m.bytes, limits.max_envelope_bytes)
                    .map_err(|e| e.to_string()),
            ),
        }
    }
    let blobs: Vec<(Digest, u64)> = parsed
        .iter()
        .filter_map(|p| p.as_ref().ok())
        .map(|s| (s.envelope.digest, s.envelope.size))
        .collect();
    budget.take(blobs.iter().map(|(_, n)| n).sum())?;
    let mut fetched = source.blobs_many(repo, &blobs).into_iter();
    let mut candidates = Vec::with_capacity(batch.len());
    for (d, p) in batch.iter().zip(parsed) {
        let envelope = match p {
            Err(e) => Err(e),
            Ok(sig) => match fetched.next() {
                Some(Ok(bytes)) => Ok((sig.envelope.media_type, bytes)),
                Some(Err(e)) if transport(&e) => return Err(e.into()),
                Some(Err(e)) => Err(format!(
                    "unable to retrieve digital signature with digest {:?}: {e}",
                    d.digest.to_string()
                )),
                None => Err("the envelope was not fetched".to_owned()),
            },
        };
        candidates.push(Candidate {
            manifest_digest: d.digest,
            envelope,
        });
    }
    Ok(candidates)
}
