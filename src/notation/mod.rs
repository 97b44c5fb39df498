//! Notation (Notary Project v2) signatures, sans-IO: from the bytes of a trust policy, trust
//! store certificates, signature manifests and envelopes, and a time, to a [`verify::Verified`]
//! artifact or a refusal that names the signature and the check. Nothing here does IO except
//! [`truststore::load`], the thin loader of trust store folders.
//!
//! The flow, one idea per module:
//! - [`policy`]: `trustpolicy.json` v1.0, validated whole; the statement for a scope; levels and
//!   overrides resolved to one [`policy::Action`] per [`policy::Check`].
//! - [`identity`]: `x509.subject:` Distinguished Names and their matching.
//! - [`truststore`]: trust store layout and certificate files.
//! - [`manifest`]: a signature manifest → the envelope blob to fetch.
//! - [`envelope`]: JWS and COSE envelopes opened and integrity-checked ([`envelope::open`]).
//! - [`crypto`], [`cert`], [`chain`]: keys and signatures; certificates as the rules see them;
//!   the Notary Project certificate requirements and authenticity.
//! - [`cbor`]: the bounded CBOR reader COSE needs.
//! - [`timestamp`]: RFC 3161 countersignatures.
//! - [`revocation`]: revocation as an input ([`revocation::RevocationChecker`]).
//! - [`verify`]: the checks in notation-go's order, one artifact, several signatures.
//! - [`reference`](mod@reference): a registry reference, `host[:port]/repo:tag|@sha256:<hex>`, strictly.
//! - [`oci`]: the thin IO driver: an OCI source fetched, then [`verify::verify_artifact`].

pub mod cbor;
pub mod cert;
pub mod chain;
pub mod crypto;
pub mod envelope;
pub mod identity;
pub mod manifest;
pub mod oci;
pub mod policy;
pub mod reference;
pub mod revocation;
pub mod timestamp;
pub mod truststore;
pub mod verify;
