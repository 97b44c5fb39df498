//! Revocation, sans-IO: the core asks a [`RevocationChecker`] for the status of each certificate
//! that names a responder or a distribution point, and decides the rest itself: the root of a
//! chain, a single self-signed certificate, and a certificate naming neither are
//! "non-revokable" (notation-core-go).
//!
//! [`check_cert`] is notation-core-go's order for one certificate: OCSP first ([`ocsp`]: the
//! request built, the response verified), then, when OCSP could not tell, the CRLs ([`crl`]:
//! downloaded and verified). The bytes come from a [`Fetch`], which is the caller's IO
//! (`crate::fetch::revocation` over HTTP). [`Offline`] fetches nothing and answers "unknown", so
//! a strict policy refuses and a permissive one warns, as notation does when it cannot reach a
//! responder: nothing is faked as good.

pub mod crl;
pub mod ocsp;

use der::asn1::AnyRef;
use der::{Decode as _, Encode as _, Reader as _};
use time::OffsetDateTime;
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::cert::{self, Cert, CertSignature};
use super::chain::Purpose;
use super::crypto::Hash;

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

/// Where the bytes of OCSP responses and CRLs come from (the caller's IO). Each answer is the
/// body of a successful response, or why there is none.
pub trait Fetch {
    /// The response of OCSP responder `server` to the DER `request`.
    fn ocsp(&self, server: &str, request: &[u8]) -> Result<Vec<u8>, String>;
    /// The CRL at `url`.
    fn crl(&self, url: &str) -> Result<Vec<u8>, String>;
}

/// The status of `cert` (issued by `issuer`) at `now`, as notation-core-go decides it: each OCSP
/// responder in turn until one answers good, revoked or unknown; when OCSP cannot tell (no
/// responder, every responder failed, or "unknown"), the CRL distribution points, every one of
/// which must be fetched, verified and not list the certificate.
pub fn check_cert(
    cert: &Cert,
    issuer: &Cert,
    now: OffsetDateTime,
    fetch: &dyn Fetch,
) -> CertStatus {
    if cert.ocsp_urls.is_empty() && cert.crl_urls.is_empty() {
        return CertStatus::NonRevokable;
    }
    let mut why = Vec::new();
    if !cert.ocsp_urls.is_empty() {
        match ocsp_status(cert, issuer, now, fetch) {
            Ok(ocsp::Answer::Good) => return CertStatus::Good,
            Ok(ocsp::Answer::Revoked) => return CertStatus::Revoked,
            Ok(ocsp::Answer::Unknown) => {
                why.push(format!("OCSP: {}", ocsp::OcspError::UnknownStatus))
            }
            Err(errors) => why.push(format!("OCSP: {}", errors.join("; "))),
        }
    }
    if !cert.crl_urls.is_empty() {
        match crl_status(cert, issuer, now, fetch) {
            Ok(true) => return CertStatus::Revoked,
            Ok(false) => return CertStatus::Good,
            Err(e) => why.push(format!("CRL: {e}")),
        }
    }
    CertStatus::Unknown(why.join("; "))
}

/// OCSP over the responders in order; the errors of all when none gave an answer.
fn ocsp_status(
    cert: &Cert,
    issuer: &Cert,
    now: OffsetDateTime,
    fetch: &dyn Fetch,
) -> Result<ocsp::Answer, Vec<String>> {
    let request = ocsp::request(cert, issuer).map_err(|e| vec![e.to_string()])?;
    let mut errors = Vec::new();
    for server in &cert.ocsp_urls {
        if !is_http(server) {
            errors.push(format!("{server}: OCSPServer protocol is not supported"));
            continue;
        }
        let answer = fetch
            .ocsp(server, &request)
            .and_then(|body| ocsp::check(&body, cert, issuer, now).map_err(|e| e.to_string()));
        match answer {
            Ok(a) => return Ok(a),
            Err(e) => errors.push(format!("{server}: {e}")),
        }
    }
    Err(errors)
}

/// Every distribution point in order: revoked as soon as one lists the certificate; the first
/// failure ends the check (notation-core-go).
fn crl_status(
    cert: &Cert,
    issuer: &Cert,
    now: OffsetDateTime,
    fetch: &dyn Fetch,
) -> Result<bool, String> {
    for url in &cert.crl_urls {
        if !is_http(url) {
            return Err(format!(
                "unsupported CRL endpoint: {url}. Only urls with HTTP scheme is supported"
            ));
        }
        let body = fetch
            .crl(url)
            .map_err(|e| format!("failed to download CRL from {url}: {e}"))?;
        let listed = crl::check(&body, cert, issuer, now)
            .map_err(|e| format!("failed to validate CRL from {url}: {e}"))?;
        if listed {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `http://` or `https://` (notation-core-go accepts plain http only; https is verified TLS).
fn is_http(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
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

// ---- DER helpers shared by OCSP and CRL --------------------------------------------------------

/// A signed structure (`CertificateList`, `BasicOCSPResponse`): its signed part exactly as
/// encoded (the bytes the signature covers), the algorithm, the signature, and the certificates
/// that may follow (`[0] EXPLICIT SEQUENCE OF Certificate`, OCSP only).
struct Signed {
    tbs: Vec<u8>,
    alg: AlgorithmIdentifierOwned,
    signature: Vec<u8>,
    certs: Vec<x509_cert::Certificate>,
}

fn split_signed(der: &[u8]) -> der::Result<Signed> {
    let mut reader = der::SliceReader::new(der)?;
    let signed = reader.sequence(|r| {
        let tbs: AnyRef<'_> = r.decode()?;
        let alg: AlgorithmIdentifierOwned = r.decode()?;
        let signature: der::asn1::BitString = r.decode()?;
        // A signature is whole octets: padding bits would let one signature have many encodings.
        if signature.unused_bits() != 0 {
            return Err(der::Tag::BitString.value_error());
        }
        let certs = der::asn1::ContextSpecific::<Vec<x509_cert::Certificate>>::decode_explicit(
            r,
            der::TagNumber::N0,
        )?
        .map(|c| c.value)
        .unwrap_or_default();
        Ok(Signed {
            tbs: tbs.to_der()?,
            alg,
            signature: signature.raw_bytes().to_vec(),
            certs,
        })
    })?;
    reader.finish(signed)
}

/// The signature scheme of `alg` (RSASSA-PSS parameters read for their hash). Any other
/// algorithm takes no parameters but NULL: the algorithm is outside what is signed, so nothing
/// else may ride in it.
fn scheme_of(alg: &AlgorithmIdentifierOwned) -> CertSignature {
    let oid = alg.oid.to_string();
    let stray = alg.parameters.as_ref().is_some_and(|p| !p.is_null());
    if stray && oid != "1.2.840.113549.1.1.10" {
        return CertSignature::Unsupported(format!("{oid} with parameters"));
    }
    cert::signature_scheme(&oid, || pss_hash(alg))
}

/// `RSASSA-PSS-params [0] hashAlgorithm`'s hash; `None` when absent (SHA-1) or not SHA-2.
fn pss_hash(alg: &AlgorithmIdentifierOwned) -> Option<Hash> {
    let params = alg.parameters.as_ref()?;
    let mut reader = der::SliceReader::new(params.value()).ok()?;
    let hash = der::asn1::ContextSpecific::<AlgorithmIdentifierOwned>::decode_explicit(
        &mut reader,
        der::TagNumber::N0,
    )
    .ok()??;
    Hash::from_oid(&hash.value.oid.to_string())
}

/// A DER time as an [`OffsetDateTime`] (seconds since the epoch; out of range is `None`).
fn to_datetime(since_epoch: std::time::Duration) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(i64::try_from(since_epoch.as_secs()).ok()?).ok()
}

/// The certificate as x509-cert reads it, for the encodings OCSP and CRLs compare (serial,
/// names, the public key bits).
fn as_x509(cert: &Cert) -> Result<x509_cert::Certificate, String> {
    x509_cert::Certificate::from_der(cert.der())
        .map_err(|e| format!("x509: malformed certificate: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_part_is_kept_as_encoded() {
        // SEQUENCE { SEQUENCE { INTEGER 1 }, SEQUENCE { OID 1.2.840.113549.1.1.11 }, BIT STRING 0xaa }
        let der = [
            0x30, 0x16, 0x30, 0x03, 0x02, 0x01, 0x01, 0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48,
            0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x03, 0x02, 0x00, 0xaa,
        ];
        let s = split_signed(&der).unwrap();
        assert_eq!(s.tbs, [0x30, 0x03, 0x02, 0x01, 0x01]);
        assert_eq!(s.signature, [0xaa]);
        assert!(s.certs.is_empty());
        assert_eq!(
            scheme_of(&s.alg),
            CertSignature::Known(crate::notation::crypto::Scheme::RsaPkcs1(Hash::Sha256))
        );
        let mut trailing = der.to_vec();
        trailing.push(0);
        assert!(split_signed(&trailing).is_err());
        assert!(split_signed(&der[..10]).is_err());
        assert!(split_signed(&[]).is_err());
    }

    #[test]
    fn only_http_and_https_are_asked() {
        assert!(is_http("http://127.0.0.1:1/ocsp"));
        assert!(is_http("HTTPS://ocsp.example"));
        assert!(!is_http("ldap://ldap.example/cn=crl"));
        assert!(!is_http("file:///etc/passwd"));
    }
}
