//! Signature envelopes: JWS (flattened JSON) and COSE_Sign1, opened into one [`Envelope`]. Opening
//! is the integrity check: the signature is verified under the leaf of the envelope's own chain,
//! with the one algorithm that leaf's key makes (so the algorithm always fits the key), before
//! any signed attribute is believed. The chain's profile is checked here too, as
//! notation-core-go does, and the payload must name the artifact being verified.

pub mod cose;
pub mod jws;

use serde::Deserialize;
use time::OffsetDateTime;

use super::cert::Cert;
use super::chain::{self, Purpose};
use super::crypto::{self, Scheme};
use super::manifest::WireDescriptor;
use crate::reference::Digest;

pub const MEDIA_TYPE_JWS: &str = "application/jose+json";
pub const MEDIA_TYPE_COSE: &str = "application/cose";
pub const MEDIA_TYPE_PAYLOAD: &str = "application/vnd.cncf.notary.payload.v1+json";

/// Envelopes larger than this are refused before parsing (notation-go allows far less in
/// practice: a chain of a few certificates and a timestamp is tens of kilobytes).
pub const MAX_ENVELOPE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeType {
    Jws,
    Cose,
}

impl EnvelopeType {
    pub fn from_media_type(media_type: &str) -> Option<EnvelopeType> {
        match media_type {
            MEDIA_TYPE_JWS => Some(EnvelopeType::Jws),
            MEDIA_TYPE_COSE => Some(EnvelopeType::Cose),
            _ => None,
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            EnvelopeType::Jws => MEDIA_TYPE_JWS,
            EnvelopeType::Cose => MEDIA_TYPE_COSE,
        }
    }
}

/// The two signing schemes of the specification (`signing-scheme.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningScheme {
    /// `notary.x509`: trust from `ca` stores, time from a TSA countersignature.
    X509,
    /// `notary.x509.signingAuthority`: trust from `signingAuthority` stores; the signing time is
    /// authentic (vouched for by the signing authority).
    X509SigningAuthority,
}

impl SigningScheme {
    /// The headers an envelope of this scheme must mark critical (JWS names; COSE uses them as
    /// text labels): the signing scheme, the expiry when there is one, and the authentic signing
    /// time under `notary.x509.signingAuthority`.
    pub(crate) fn critical_headers(self, has_expiry: bool) -> Vec<&'static str> {
        let mut must = vec![jws::HEADER_SIGNING_SCHEME];
        if has_expiry {
            must.push(jws::HEADER_EXPIRY);
        }
        if self == SigningScheme::X509SigningAuthority {
            must.push(jws::HEADER_AUTHENTIC_SIGNING_TIME);
        }
        must
    }

    pub fn parse(s: &str) -> Option<SigningScheme> {
        match s {
            "notary.x509" => Some(SigningScheme::X509),
            "notary.x509.signingAuthority" => Some(SigningScheme::X509SigningAuthority),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SigningScheme::X509 => "notary.x509",
            SigningScheme::X509SigningAuthority => "notary.x509.signingAuthority",
        }
    }
}

/// The artifact a signature must name: what was resolved, not what the signature claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

/// An envelope whose signature verified and whose content passed notation's checks.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub envelope_type: EnvelopeType,
    pub signing_scheme: SigningScheme,
    /// `io.cncf.notary.signingTime`, or `authenticSigningTime` under signingAuthority.
    pub signing_time: OffsetDateTime,
    pub expiry: Option<OffsetDateTime>,
    pub algorithm: Scheme,
    /// The primitive signature bytes (what a timestamp stamps).
    pub signature: Vec<u8>,
    /// Leaf first.
    pub chain: Vec<Cert>,
    /// The RFC 3161 countersignature (unsigned attribute), if any.
    pub timestamp_token: Option<Vec<u8>>,
    pub signing_agent: Option<String>,
    /// `targetArtifact` annotations of the payload.
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// Why an envelope fails integrity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the signature envelope is {len} bytes, more than the {max} allowed")]
    TooLarge { len: usize, max: usize },
    #[error("signature envelope format with media type {0:?} is not supported")]
    UnsupportedType(String),
    #[error("unable to parse the digital signature, error : {0}")]
    Malformed(String),
    #[error("signature is invalid. Error: {0}")]
    Invalid(String),
    #[error("signature integrity check failed: {0}")]
    Integrity(String),
    #[error("integrity check failed. signature does not match the given artifact: {0}")]
    ArtifactMismatch(String),
}

/// What a format parser hands over before the shared checks: the signed bytes, the claimed
/// algorithm and the signed attributes, nothing believed yet.
pub(crate) struct Parsed {
    pub envelope_type: EnvelopeType,
    /// The algorithm the envelope names, already mapped.
    pub algorithm: Scheme,
    pub signing_input: Vec<u8>,
    pub signature: Vec<u8>,
    pub chain: Vec<Cert>,
    pub content_type: String,
    pub payload: Vec<u8>,
    pub signing_scheme: SigningScheme,
    pub signing_time: OffsetDateTime,
    pub expiry: Option<OffsetDateTime>,
    pub timestamp_token: Option<Vec<u8>>,
    pub signing_agent: Option<String>,
}

/// An envelope that opened, not yet held against the artifact: [`Opened::for_artifact`] is the
/// only way to its [`Envelope`].
#[derive(Debug, Clone)]
pub struct Opened {
    envelope: Envelope,
    /// The payload's `targetArtifact`, as the (verified) payload claims it.
    pub target: Artifact,
}

impl Opened {
    /// The envelope, if its payload names `artifact` (media type, digest and size).
    pub fn for_artifact(self, artifact: &Artifact) -> Result<Envelope, EnvelopeError> {
        let t = &self.target;
        if t != artifact {
            return Err(EnvelopeError::ArtifactMismatch(format!(
                "the payload names {} ({}, {} bytes), the artifact is {} ({}, {} bytes)",
                t.digest, t.media_type, t.size, artifact.digest, artifact.media_type, artifact.size
            )));
        }
        Ok(self.envelope)
    }

    /// The envelope, for a caller that holds it against an artifact itself (tests, `inspect`).
    pub fn unchecked_envelope(&self) -> &Envelope {
        &self.envelope
    }
}

/// Open an envelope of `media_type`: parse it, verify its signature under its leaf, validate
/// its attributes and chain, read its payload.
pub fn open(media_type: &str, bytes: &[u8], max: usize) -> Result<Opened, EnvelopeError> {
    if bytes.len() > max {
        return Err(EnvelopeError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    let parsed = match EnvelopeType::from_media_type(media_type) {
        Some(EnvelopeType::Jws) => jws::parse(bytes)?,
        Some(EnvelopeType::Cose) => cose::parse(bytes)?,
        None => return Err(EnvelopeError::UnsupportedType(media_type.to_string())),
    };
    let leaf = parsed
        .chain
        .first()
        .ok_or_else(|| EnvelopeError::Invalid("certificate chain is not present".into()))?;
    // The algorithm must be the one the leaf's key makes.
    let expected = chain::signing_algorithm(leaf).map_err(EnvelopeError::Invalid)?;
    if expected != parsed.algorithm {
        return Err(EnvelopeError::Invalid(format!(
            "mismatch between signature algorithm derived from signing certificate ({}) and signing algorithm specified ({})",
            algorithm_name(expected),
            algorithm_name(parsed.algorithm)
        )));
    }
    crypto::verify(
        &leaf.key,
        parsed.algorithm,
        &parsed.signing_input,
        &parsed.signature,
    )
    .map_err(|e| EnvelopeError::Integrity(e.to_string()))?;
    // Now the signed attributes can be believed; validate them as notation-core-go does.
    if parsed.payload.is_empty() {
        return Err(EnvelopeError::Invalid("content not present".into()));
    }
    if let Some(expiry) = parsed.expiry {
        if expiry <= parsed.signing_time {
            return Err(EnvelopeError::Invalid(
                "expiry cannot be equal or before the signing time".into(),
            ));
        }
    }
    chain::validate(&parsed.chain, Purpose::CodeSigning, None)
        .map_err(|e| EnvelopeError::Invalid(format!("certificate-chain is invalid, {e}")))?;
    if parsed.content_type != MEDIA_TYPE_PAYLOAD {
        return Err(EnvelopeError::Invalid(format!(
            "payload content type {:?} not supported",
            parsed.content_type
        )));
    }
    let (target, annotations) = read_payload(&parsed.payload)?;
    let envelope = Envelope {
        envelope_type: parsed.envelope_type,
        signing_scheme: parsed.signing_scheme,
        signing_time: parsed.signing_time,
        expiry: parsed.expiry,
        algorithm: parsed.algorithm,
        signature: parsed.signature,
        chain: parsed.chain,
        timestamp_token: parsed.timestamp_token,
        signing_agent: parsed.signing_agent,
        annotations,
    };
    Ok(Opened { envelope, target })
}

/// The JWS / COSE name of an envelope algorithm.
pub fn algorithm_name(s: Scheme) -> &'static str {
    use crypto::Hash::*;
    match s {
        Scheme::RsaPss(Sha256) => "PS256",
        Scheme::RsaPss(Sha384) => "PS384",
        Scheme::RsaPss(Sha512) => "PS512",
        Scheme::EcdsaFixed(Sha256) => "ES256",
        Scheme::EcdsaFixed(Sha384) => "ES384",
        Scheme::EcdsaFixed(Sha512) => "ES512",
        _ => "unsupported",
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePayload {
    target_artifact: WireDescriptor,
}

/// The payload's `targetArtifact` and its annotations.
type Target = (Artifact, std::collections::BTreeMap<String, String>);

fn read_payload(payload: &[u8]) -> Result<Target, EnvelopeError> {
    let wire: WirePayload = serde_json::from_slice(payload).map_err(|e| {
        EnvelopeError::Invalid(format!("the payload is not a Notary Project payload: {e}"))
    })?;
    let t = wire.target_artifact;
    let digest = Digest::parse(&t.digest)
        .map_err(|e| EnvelopeError::Invalid(format!("the payload's targetArtifact digest: {e}")))?;
    let artifact = Artifact {
        media_type: t.media_type,
        digest,
        size: t.size,
    };
    Ok((artifact, t.annotations.unwrap_or_default()))
}

/// Parse every certificate of an envelope's chain (leaf first), bounded.
pub(crate) fn parse_chain<'a>(
    ders: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<Cert>, EnvelopeError> {
    let mut chain = Vec::new();
    for der in ders {
        if chain.len() >= chain::MAX_CHAIN {
            return Err(EnvelopeError::Invalid(format!(
                "the certificate chain has more than {} certificates",
                chain::MAX_CHAIN
            )));
        }
        let cert = Cert::from_der(der).map_err(|e| EnvelopeError::Invalid(e.to_string()))?;
        chain.push(cert);
    }
    if chain.is_empty() {
        return Err(EnvelopeError::Invalid(
            "certificate chain is not present".into(),
        ));
    }
    Ok(chain)
}
