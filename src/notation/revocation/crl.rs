//! CRLs (RFC 5280 section 5), sans-IO: a downloaded `CertificateList` verified for one
//! certificate as notation-core-go does: signed by the issuer (a CA allowed to sign CRLs), naming
//! that issuer, current (thisUpdate not ahead of our clock, nextUpdate not passed), no delta CRL
//! (Freshest CRL or Delta CRL Indicator) and no critical extension it does not know; then the
//! certificate's serial looked up. The revoked entries are read one at a time, never collected:
//! a CRL as large as [`MAX_CRL_BYTES`] costs its bytes, not a tree of them.

use der::asn1::ContextSpecific;
use der::{Encode as _, Reader as _, Tag, TagNumber};
use time::OffsetDateTime;
use x509_cert::crl::RevokedCert;
use x509_cert::ext::Extensions;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::time::Time;

use super::{as_x509, scheme_of, split_signed, to_datetime};
use crate::notation::cert::{check_signature, ku, rfc3339, Cert};

/// Largest CRL read (notation-core-go's limit).
pub const MAX_CRL_BYTES: u64 = 32 * 1024 * 1024;

/// How far ahead of our clock an issuer's thisUpdate may be (clock skew).
const SKEW: time::Duration = time::Duration::minutes(5);

const FRESHEST_CRL: &str = "2.5.29.46";
const DELTA_CRL_INDICATOR: &str = "2.5.29.27";
const ISSUING_DISTRIBUTION_POINT: &str = "2.5.29.28";
const INVALIDITY_DATE: &str = "2.5.29.24";
const REASON_CODE: &str = "2.5.29.21";

/// Why a CRL cannot be used for the certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrlError {
    #[error("malformed CRL: {0}")]
    Malformed(String),
    #[error("CRL is not signed by CA {issuer}: {why}")]
    NotSigned { issuer: String, why: String },
    #[error("CRL issuer is not the certificate's issuer {0}")]
    OtherIssuer(String),
    #[error("expired CRL. Current time {now} is after CRL NextUpdate {next}")]
    Expired { now: String, next: String },
    #[error("CRL is not yet valid: thisUpdate {0} is in the future")]
    NotYetValid(String),
    #[error("delta CRL is not supported")]
    Delta,
    #[error("unsupported critical extension found in CRL: {0}")]
    CriticalExtension(String),
}

fn malformed(e: impl std::fmt::Display) -> CrlError {
    CrlError::Malformed(e.to_string())
}

/// The signed list, as far as the check reads it.
struct TbsCertList {
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    this_update: Time,
    next_update: Option<Time>,
    /// The entry for the serial looked for, if listed.
    listed: Option<RevokedCert>,
    extensions: Extensions,
}

/// Is `cert` (issued by `issuer`) revoked by the CRL `body`, at `now`?
pub fn check(
    body: &[u8],
    cert: &Cert,
    issuer: &Cert,
    now: OffsetDateTime,
) -> Result<bool, CrlError> {
    let signed = split_signed(body).map_err(malformed)?;
    if !signed.certs.is_empty() {
        return Err(malformed("data after the signature"));
    }
    // Go's RevocationList.CheckSignatureFrom: the issuer must be a CA allowed to sign CRLs.
    let not_signed = |why: String| CrlError::NotSigned {
        issuer: issuer.subject.clone(),
        why,
    };
    let may_sign = issuer
        .basic_constraints
        .as_ref()
        .is_none_or(|bc| bc.value.0)
        && issuer
            .key_usage
            .as_ref()
            .is_none_or(|k| k.value & ku::CRL_SIGN != 0);
    if !may_sign {
        return Err(not_signed(
            "x509: invalid signature: parent certificate cannot sign this kind of certificate"
                .into(),
        ));
    }
    check_signature(
        &issuer.key,
        &scheme_of(&signed.alg),
        &signed.tbs,
        &signed.signature,
    )
    .map_err(not_signed)?;

    let serial = as_x509(cert)
        .map_err(malformed)?
        .tbs_certificate
        .serial_number;
    let list = read_tbs(&signed.tbs, &serial).map_err(malformed)?;
    if list.signature != signed.alg {
        return Err(malformed(
            "the signature algorithm inside the list differs from the one outside",
        ));
    }
    let list_issuer = list.issuer.to_der().map_err(malformed)?;
    if list_issuer != issuer.raw_subject || list_issuer != cert.raw_issuer {
        return Err(CrlError::OtherIssuer(issuer.subject.clone()));
    }

    let this_update = to_datetime(list.this_update.to_unix_duration())
        .ok_or_else(|| malformed("thisUpdate out of range"))?;
    if this_update > now + SKEW {
        return Err(CrlError::NotYetValid(rfc3339(this_update)));
    }
    if let Some(next) = list.next_update {
        let next = to_datetime(next.to_unix_duration())
            .ok_or_else(|| malformed("nextUpdate out of range"))?;
        if now > next {
            return Err(CrlError::Expired {
                now: rfc3339(now),
                next: rfc3339(next),
            });
        }
    }
    for ext in list.extensions.iter() {
        match ext.extn_id.to_string().as_str() {
            FRESHEST_CRL | DELTA_CRL_INDICATOR => return Err(CrlError::Delta),
            // The scope of the list: every distribution point is read anyway.
            ISSUING_DISTRIBUTION_POINT => {}
            oid if ext.critical => return Err(CrlError::CriticalExtension(oid.to_string())),
            _ => {}
        }
    }
    let Some(entry) = list.listed else {
        return Ok(false);
    };
    for ext in entry.crl_entry_extensions.iter().flatten() {
        match ext.extn_id.to_string().as_str() {
            INVALIDITY_DATE | REASON_CODE => {}
            oid if ext.critical => return Err(CrlError::CriticalExtension(oid.to_string())),
            _ => {}
        }
    }
    Ok(true)
}

/// `TBSCertList`, reading the revoked entries one by one and keeping only the one for `serial`.
fn read_tbs(tbs: &[u8], serial: &SerialNumber) -> der::Result<TbsCertList> {
    let mut reader = der::SliceReader::new(tbs)?;
    let list = reader.sequence(|r| {
        if r.peek_tag()? == Tag::Integer {
            let _version: u8 = r.decode()?;
        }
        let signature: AlgorithmIdentifierOwned = r.decode()?;
        let issuer: Name = r.decode()?;
        let this_update: Time = r.decode()?;
        let next_update = match r.peek_tag() {
            Ok(Tag::UtcTime | Tag::GeneralizedTime) => Some(r.decode::<Time>()?),
            _ => None,
        };
        let mut listed = None;
        if !r.is_finished() && r.peek_tag()? == Tag::Sequence {
            r.sequence(|entries| {
                while !entries.is_finished() {
                    let entry: RevokedCert = entries.decode()?;
                    if listed.is_none() && entry.serial_number == *serial {
                        listed = Some(entry);
                    }
                }
                Ok(())
            })?;
        }
        let extensions = ContextSpecific::<Extensions>::decode_explicit(r, TagNumber::N0)?
            .map(|c| c.value)
            .unwrap_or_default();
        Ok(TbsCertList {
            signature,
            issuer,
            this_update,
            next_update,
            listed,
            extensions,
        })
    })?;
    reader.finish(list)
}
