//! Certificate chains, leaf first, as the Notary Project's "Certificate Requirements" and
//! notation-core-go (`x509/*_cert_validations.go`) check them: each certificate issued (and
//! signed) by the next, the last one self-signed, basicConstraints, keyUsage and EKU per role,
//! allowed keys only; and authenticity, a chain certificate equal byte for byte to a trusted one.
//!
//! Where the two sources differ, both rules apply: the leaf's EKU may hold neither
//! `anyExtendedKeyUsage` (the spec) nor `OCSPSigning` (notation-core-go).

use time::OffsetDateTime;

use super::cert::{ku, Cert};
use super::crypto::{Curve, Hash, PublicKey, Scheme};

/// The longest chain accepted; real ones have two to four certificates.
pub const MAX_CHAIN: usize = 10;

/// What the chain is for: the rules differ for keyUsage criticality and EKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    CodeSigning,
    Timestamping,
}

/// Check a chain's structure and every certificate's profile. `signing_time`, when given, must
/// fall inside every certificate's validity (notation checks that only when signing).
pub fn validate(
    chain: &[Cert],
    purpose: Purpose,
    signing_time: Option<OffsetDateTime>,
) -> Result<(), String> {
    let Some(leaf) = chain.first() else {
        return Err("certificate chain must contain at least one certificate".into());
    };
    if chain.len() > MAX_CHAIN {
        return Err(format!(
            "certificate chain has {} certificates, more than the {MAX_CHAIN} allowed",
            chain.len()
        ));
    }
    if chain.len() == 1 {
        if let Err(e) = leaf.signed_by(leaf) {
            return Err(format!(
                "invalid self-signed certificate. subject: {:?}. Error: {e}",
                leaf.subject
            ));
        }
        if leaf.raw_issuer != leaf.raw_subject {
            return Err(format!(
                "invalid self-signed certificate. subject: {:?}. Error: issuer({}) and subject({}) are not the same",
                leaf.subject, leaf.issuer, leaf.subject
            ));
        }
        signing_time_ok(leaf, signing_time)?;
        return leaf_profile(leaf, purpose)
            .map_err(|e| format!("invalid self-signed certificate. Error: {e}"));
    }
    for (i, cert) in chain.iter().enumerate() {
        signing_time_ok(cert, signing_time)?;
        match chain.get(i + 1) {
            None => {
                if let Err(e) = cert.signed_by(cert) {
                    return Err(format!("root certificate with subject {:?} is invalid or not self-signed. Certificate chain must end with a valid self-signed root certificate. Error: {e}", cert.subject));
                }
                if cert.raw_issuer != cert.raw_subject {
                    return Err(format!("root certificate with subject {:?} is not self-signed. Certificate chain must end with a valid self-signed root certificate", cert.subject));
                }
            }
            Some(parent) => {
                if cert.is_self_signed() {
                    let role = if i == 0 { "leaf" } else { "intermediate" };
                    return Err(format!("{role} certificate with subject {:?} is self-signed. Certificate chain must not contain self-signed {role} certificate", cert.subject));
                }
                if let Err(e) = cert.signed_by(parent) {
                    return Err(format!("invalid certificates or certificate with subject {:?} is not issued by {:?}. Error: {e}", cert.subject, parent.subject));
                }
                if cert.raw_issuer != parent.raw_subject {
                    return Err(format!(
                        "certificate with subject {:?} is not issued by {:?}",
                        cert.subject, parent.subject
                    ));
                }
            }
        }
        if i == 0 {
            leaf_profile(cert, purpose)?;
        } else {
            ca_profile(cert, i - 1, purpose)?;
        }
    }
    Ok(())
}

fn signing_time_ok(cert: &Cert, t: Option<OffsetDateTime>) -> Result<(), String> {
    match t {
        Some(t) if !cert.valid_at(t) => Err(format!(
            "certificate with subject {:?} was invalid at signing time of {}. Certificate is valid from [{}] to [{}]",
            cert.subject,
            super::cert::rfc3339(t),
            super::cert::rfc3339(cert.not_before),
            super::cert::rfc3339(cert.not_after)
        )),
        _ => Ok(()),
    }
}

fn ca_profile(cert: &Cert, below: usize, purpose: Purpose) -> Result<(), String> {
    let subject = &cert.subject;
    match &cert.basic_constraints {
        Some(bc) if bc.value.0 && bc.critical => {
            if let Some(max) = bc.value.1 {
                if (max as usize) < below {
                    return Err(format!("certificate with subject {subject:?}: expected path length of {below} but certificate has path length {max} instead"));
                }
            }
        }
        _ => {
            return Err(format!("certificate with subject {subject:?}: ca field in basic constraints must be present, critical, and set to true"))
        }
    }
    let usage = key_usage_present(cert, purpose)?;
    if usage & ku::KEY_CERT_SIGN == 0 {
        return Err(format!("certificate with subject {subject:?}: key usage must have the bit positions for key cert sign set"));
    }
    Ok(())
}

fn key_usage_present(cert: &Cert, purpose: Purpose) -> Result<u16, String> {
    let subject = &cert.subject;
    match &cert.key_usage {
        None => Err(format!(
            "certificate with subject {subject:?}: key usage extension must be present"
        )),
        Some(k) if !k.critical && purpose == Purpose::CodeSigning => Err(format!(
            "certificate with subject {subject:?}: key usage extension must be marked critical"
        )),
        Some(k) => Ok(k.value),
    }
}

fn leaf_profile(cert: &Cert, purpose: Purpose) -> Result<(), String> {
    let subject = &cert.subject;
    if cert.basic_constraints.as_ref().is_some_and(|bc| bc.value.0) {
        return Err(format!("certificate with subject {subject:?}: if the basic constraints extension is present, the ca field must be set to false"));
    }
    let usage = key_usage_present(cert, purpose)?;
    if usage & ku::DIGITAL_SIGNATURE == 0 {
        return Err(format!("the certificate with subject {subject:?} is invalid. The key usage must have the bit positions for \"Digital Signature\" set"));
    }
    let forbidden = [
        (ku::KEY_ENCIPHERMENT, "\"KeyEncipherment\""),
        (ku::DATA_ENCIPHERMENT, "\"DataEncipherment\""),
        (ku::KEY_AGREEMENT, "\"KeyAgreement\""),
        (ku::KEY_CERT_SIGN, "\"CertSign\""),
        (ku::CRL_SIGN, "\"CRLSign\""),
        (ku::ENCIPHER_ONLY, "\"EncipherOnly\""),
        (ku::DECIPHER_ONLY, "\"DecipherOnly\""),
    ];
    let found: Vec<&str> = forbidden
        .iter()
        .filter(|(bit, _)| usage & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    if !found.is_empty() {
        return Err(format!("the certificate with subject {subject:?} is invalid. The key usage must be \"Digital Signature\" only, but found {}", found.join(", ")));
    }
    match purpose {
        Purpose::CodeSigning => {
            if let Some(eku) = &cert.eku {
                let e = &eku.value;
                let bad = [
                    (e.any, "Any"),
                    (e.server_auth, "ServerAuth"),
                    (e.client_auth, "ClientAuth"),
                    (e.email_protection, "EmailProtection"),
                    (e.time_stamping, "Timestamping"),
                    (e.ocsp_signing, "OCSPSigning"),
                ];
                if let Some((_, name)) = bad.iter().find(|(set, _)| *set) {
                    return Err(format!("certificate with subject {subject:?}: extended key usage must not contain {name} eku"));
                }
            }
        }
        Purpose::Timestamping => {
            let only_ts = cert.eku.as_ref().is_some_and(|eku| {
                let e = &eku.value;
                e.time_stamping
                    && !(e.any
                        || e.server_auth
                        || e.client_auth
                        || e.code_signing
                        || e.email_protection
                        || e.ocsp_signing)
                    && e.other.is_empty()
            });
            if !only_ts {
                return Err(format!("timestamp signing certificate with subject {subject:?} must have and only have Timestamping as extended key usage"));
            }
            if cert.eku.as_ref().is_some_and(|e| !e.critical) {
                return Err(format!("timestamp signing certificate with subject {subject:?} must have extended key usage extension marked as critical"));
            }
        }
    }
    signing_algorithm(cert)
        .map(|_| ())
        .map_err(|e| format!("certificate with subject {subject:?}: {e}"))
}

/// The signature algorithm a leaf's key makes, as notation-core-go's `ExtractKeySpec` derives it:
/// RSA 2048 → PS256, 3072 → PS384, 4096 → PS512; P-256 → ES256, P-384 → ES384, P-521 → ES512.
/// Any other key is refused, so the algorithm always fits the key.
pub fn signing_algorithm(cert: &Cert) -> Result<Scheme, String> {
    match &cert.key {
        PublicKey::Rsa { bits: 2048, .. } => Ok(Scheme::RsaPss(Hash::Sha256)),
        PublicKey::Rsa { bits: 3072, .. } => Ok(Scheme::RsaPss(Hash::Sha384)),
        PublicKey::Rsa { bits: 4096, .. } => Ok(Scheme::RsaPss(Hash::Sha512)),
        PublicKey::Rsa { bits, .. } => Err(format!("rsa key size {bits} bits is not supported")),
        PublicKey::Ec {
            curve: Curve::P256, ..
        } => Ok(Scheme::EcdsaFixed(Hash::Sha256)),
        PublicKey::Ec {
            curve: Curve::P384, ..
        } => Ok(Scheme::EcdsaFixed(Hash::Sha384)),
        PublicKey::Ec {
            curve: Curve::P521, ..
        } => Ok(Scheme::EcdsaFixed(Hash::Sha512)),
        PublicKey::Unsupported(what) => Err(format!("unsupported public key type: {what}")),
    }
}

/// Authenticity: some certificate of the chain is, byte for byte, one of `trusted`. notation-go
/// (`VerifyAuthenticity`) words the failure this way.
pub fn authentic(chain: &[Cert], trusted: &[Cert]) -> Result<(), String> {
    if trusted.is_empty() {
        return Err("no trusted certificates are found to verify authenticity".into());
    }
    if chain
        .iter()
        .any(|c| trusted.iter().any(|t| t.der() == c.der()))
    {
        Ok(())
    } else {
        Err("signature is not produced by a trusted signer".into())
    }
}
