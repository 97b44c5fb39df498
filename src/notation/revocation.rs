//! Revocation, as an input: OCSP and CRL need the network, so the core asks a
//! [`RevocationChecker`] for the status of each certificate that names a responder or a
//! distribution point, and decides the rest itself: the root of a chain, a single self-signed
//! certificate, and a certificate naming neither are "non-revokable" (notation-core-go).
//!
//! No checker that fetches OCSP or CRL is part of this module. [`Offline`] answers "unknown" for
//! every certificate that could be checked, so a strict policy refuses such signatures and a
//! permissive one warns, exactly as notation does when it cannot reach a responder: nothing is
//! faked as good.

use super::cert::Cert;
use super::chain::Purpose;

/// The status of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertStatus {
    Good,
    Revoked,
    /// Could not be told (no answer, an error, no checker); why.
    Unknown(String),
    /// Names no OCSP responder or CRL distribution point, or is the root.
    NonRevokable,
}

/// Answers revocation questions for the certificates that name where to ask.
pub trait RevocationChecker: Send + Sync {
    /// The status of `cert`, issued by `issuer`, in a chain for `purpose`.
    fn status(&self, cert: &Cert, issuer: &Cert, purpose: Purpose) -> CertStatus;
}

/// Checks nothing: every certificate that could be checked is "unknown".
#[derive(Debug, Clone, Copy, Default)]
pub struct Offline;

impl RevocationChecker for Offline {
    fn status(&self, _cert: &Cert, _issuer: &Cert, _purpose: Purpose) -> CertStatus {
        CertStatus::Unknown("revocation was not checked: no OCSP or CRL client was given".into())
    }
}

/// Statuses of a whole chain, leaf first.
pub fn chain_status(
    chain: &[Cert],
    purpose: Purpose,
    checker: &dyn RevocationChecker,
) -> Vec<CertStatus> {
    chain
        .iter()
        .enumerate()
        .map(|(i, cert)| match chain.get(i + 1) {
            None => CertStatus::NonRevokable,
            Some(_) if cert.ocsp_urls.is_empty() && cert.crl_urls.is_empty() => {
                CertStatus::NonRevokable
            }
            Some(issuer) => checker.status(cert, issuer, purpose),
        })
        .collect()
}

/// notation-go's `revocationFinalResult`: good when every certificate is good or
/// non-revokable; otherwise a revoked one is named first, else the one unknown closest to the
/// leaf. `what` is "signing" or "timestamping".
pub fn final_result(chain: &[Cert], statuses: &[CertStatus], what: &str) -> Result<(), String> {
    if let Some(i) = statuses.iter().position(|s| *s == CertStatus::Revoked) {
        let subject = chain.get(i).map_or("", |c| c.subject.as_str());
        return Err(format!(
            "{what} certificate with subject {subject:?} is revoked"
        ));
    }
    if let Some(i) = statuses
        .iter()
        .position(|s| matches!(s, CertStatus::Unknown(_)))
    {
        let subject = chain.get(i).map_or("", |c| c.subject.as_str());
        let why = match statuses.get(i) {
            Some(CertStatus::Unknown(why)) => why.as_str(),
            _ => "",
        };
        return Err(format!(
            "{what} certificate with subject {subject:?} revocation status is unknown ({why})"
        ));
    }
    Ok(())
}
