//! OCSP (RFC 6960), sans-IO: the request notation-core-go sends (one certificate, SHA-1 CertID,
//! no nonce, unsigned) and the verification of the response for that certificate: successful,
//! a basic response, a `SingleResponse` whose CertID names this certificate and issuer, signed
//! by the issuer or by a responder the issuer delegated to (issued by it, with the OCSPSigning
//! EKU, valid now), current (thisUpdate not ahead, nextUpdate not passed: a response without
//! nextUpdate is treated as expired, as notation-core-go does).

use der::asn1::{Null, ObjectIdentifier, OctetString};
use der::{Decode as _, Encode as _};
use time::OffsetDateTime;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_ocsp::{
    CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, Request, ResponderId,
    ResponseData, TbsRequest,
};

use super::{as_x509, scheme_of, split_signed, to_datetime};
use crate::notation::cert::{check_signature, rfc3339, Cert};
use crate::notation::crypto::Hash;

/// Largest OCSP response read (notation-core-go's limit; a typical one is ~4 KB).
pub const MAX_RESPONSE_BYTES: u64 = 20 * 1024;

/// A base64 GET request longer than this is POSTed instead (notation-core-go, RFC 5019).
pub const MAX_GET_LENGTH: usize = 255;

/// How far ahead of our clock a responder's thisUpdate may be (clock skew).
const SKEW: time::Duration = time::Duration::minutes(5);

const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const ID_PKIX_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");

/// What a verified response says of the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Good,
    Revoked,
    /// The responder does not know the certificate.
    Unknown,
}

/// Why a response does not tell the certificate's status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OcspError {
    #[error("cannot build the OCSP request: {0}")]
    Request(String),
    #[error("malformed OCSP response: {0}")]
    Malformed(String),
    /// The responder's own error status, in notation-core-go's words.
    #[error("{0}")]
    NotSuccessful(&'static str),
    #[error("the OCSP response has no response matching the certificate")]
    NoMatch,
    #[error("bad OCSP response signature: {0}")]
    BadSignature(String),
    #[error("OCSP response signed by an unauthorised responder: {0}")]
    Unauthorised(String),
    #[error("expired OCSP response")]
    Expired,
    #[error("OCSP response is not yet valid: thisUpdate {0} is in the future")]
    NotYetValid(String),
    #[error("OCSP responder answered \"unknown\" for the certificate")]
    UnknownStatus,
}

fn malformed(e: impl std::fmt::Display) -> OcspError {
    OcspError::Malformed(e.to_string())
}

/// The DER request for `cert` issued by `issuer`.
pub fn request(cert: &Cert, issuer: &Cert) -> Result<Vec<u8>, OcspError> {
    let id = cert_id(cert, issuer, Hash1::Sha1, ID_SHA1).map_err(OcspError::Request)?;
    OcspRequest {
        tbs_request: TbsRequest {
            version: Default::default(),
            requestor_name: None,
            request_list: vec![Request {
                req_cert: id,
                single_request_extensions: None,
            }],
            request_extensions: None,
        },
        optional_signature: None,
    }
    .to_der()
    .map_err(|e| OcspError::Request(e.to_string()))
}

/// The GET URL for `request` to `server` (`server/` + URL-escaped base64), or `None` when the
/// request is too long for GET and must be POSTed.
pub fn get_url(server: &str, request: &[u8]) -> Option<String> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(request);
    if b64.len() >= MAX_GET_LENGTH {
        return None;
    }
    let mut escaped = String::with_capacity(b64.len() + 16);
    for c in b64.chars() {
        match c {
            '+' => escaped.push_str("%2B"),
            '/' => escaped.push_str("%2F"),
            '=' => escaped.push_str("%3D"),
            c => escaped.push(c),
        }
    }
    if escaped.len() >= MAX_GET_LENGTH {
        return None;
    }
    Some(format!("{}/{escaped}", server.trim_end_matches('/')))
}

/// The hashes a CertID may use (ours is SHA-1, as every public CA understands).
#[derive(Clone, Copy)]
enum Hash1 {
    Sha1,
    Sha2(Hash),
}

impl Hash1 {
    fn from_oid(oid: &ObjectIdentifier) -> Option<Hash1> {
        if *oid == ID_SHA1 {
            return Some(Hash1::Sha1);
        }
        Hash::from_oid(&oid.to_string()).map(Hash1::Sha2)
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash1::Sha1 => ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, data)
                .as_ref()
                .to_vec(),
            Hash1::Sha2(h) => h.digest(data),
        }
    }
}

/// CertID of `cert` under `issuer` with `hash` (OID `oid`): the hashes of the issuer's name and
/// key, and the serial number.
fn cert_id(
    cert: &Cert,
    issuer: &Cert,
    hash: Hash1,
    oid: ObjectIdentifier,
) -> Result<CertId, String> {
    let issuer_x = as_x509(issuer)?;
    let cert_x = as_x509(cert)?;
    let name = issuer_x
        .tbs_certificate
        .subject
        .to_der()
        .map_err(|e| e.to_string())?;
    let key = issuer_x
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    let octets = |b: Vec<u8>| OctetString::new(b).map_err(|e| e.to_string());
    Ok(CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid,
            parameters: Some(Null.into()),
        },
        issuer_name_hash: octets(hash.digest(&name))?,
        issuer_key_hash: octets(hash.digest(key))?,
        serial_number: cert_x.tbs_certificate.serial_number,
    })
}

/// Verify the OCSP response `body` for `cert` issued by `issuer`, at `now`.
pub fn check(
    body: &[u8],
    cert: &Cert,
    issuer: &Cert,
    now: OffsetDateTime,
) -> Result<Answer, OcspError> {
    let response = OcspResponse::from_der(body).map_err(malformed)?;
    match response.response_status {
        OcspResponseStatus::Successful => {}
        OcspResponseStatus::MalformedRequest => {
            return Err(OcspError::NotSuccessful("OCSP malformed"))
        }
        OcspResponseStatus::InternalError => {
            return Err(OcspError::NotSuccessful("OCSP internal error"))
        }
        OcspResponseStatus::TryLater => return Err(OcspError::NotSuccessful("OCSP try later")),
        OcspResponseStatus::SigRequired => {
            return Err(OcspError::NotSuccessful("OCSP signature required"))
        }
        OcspResponseStatus::Unauthorized => {
            return Err(OcspError::NotSuccessful("OCSP unauthorized"))
        }
    }
    let bytes = response
        .response_bytes
        .ok_or_else(|| malformed("a successful response without responseBytes"))?;
    if bytes.response_type != ID_PKIX_OCSP_BASIC {
        return Err(malformed(format!(
            "response type {} is not id-pkix-ocsp-basic",
            bytes.response_type
        )));
    }
    let signed = split_signed(bytes.response.as_bytes()).map_err(malformed)?;
    let data = ResponseData::from_der(&signed.tbs).map_err(malformed)?;

    // The signer first: nothing in the response counts before its signature does.
    let signer = responder(&data.responder_id, &signed.certs, issuer, now)?;
    check_signature(
        &signer.key,
        &scheme_of(&signed.alg),
        &signed.tbs,
        &signed.signature,
    )
    .map_err(OcspError::BadSignature)?;

    let mut single = None;
    for response in &data.responses {
        let oid = response.cert_id.hash_algorithm.oid;
        let Some(hash) = Hash1::from_oid(&oid) else {
            continue;
        };
        let ours = cert_id(cert, issuer, hash, oid).map_err(malformed)?;
        if ours.issuer_name_hash == response.cert_id.issuer_name_hash
            && ours.issuer_key_hash == response.cert_id.issuer_key_hash
            && ours.serial_number == response.cert_id.serial_number
        {
            single = Some(response);
            break;
        }
    }
    let single = single.ok_or(OcspError::NoMatch)?;

    let this_update = to_datetime(single.this_update.0.to_unix_duration())
        .ok_or_else(|| malformed("thisUpdate out of range"))?;
    if this_update > now + SKEW {
        return Err(OcspError::NotYetValid(rfc3339(this_update)));
    }
    let next_update = single
        .next_update
        .and_then(|t| to_datetime(t.0.to_unix_duration()));
    if next_update.is_none_or(|next| now > next) {
        return Err(OcspError::Expired);
    }
    Ok(match single.cert_status {
        CertStatus::Good(_) => Answer::Good,
        CertStatus::Revoked(_) => Answer::Revoked,
        CertStatus::Unknown(_) => Answer::Unknown,
    })
}

/// The certificate that signed the response: the issuer itself, or a delegated responder named
/// by `id` among the response's certificates, issued by the issuer, with the OCSPSigning EKU
/// and valid at `now` (RFC 6960 4.2.2.2).
fn responder(
    id: &ResponderId,
    certs: &[x509_cert::Certificate],
    issuer: &Cert,
    now: OffsetDateTime,
) -> Result<Cert, OcspError> {
    let named = |c: &Cert| -> Result<bool, OcspError> {
        let x = as_x509(c).map_err(malformed)?;
        Ok(match id {
            ResponderId::ByName(name) => {
                name.to_der().map_err(malformed)?
                    == x.tbs_certificate.subject.to_der().map_err(malformed)?
            }
            ResponderId::ByKey(hash) => {
                let key = x
                    .tbs_certificate
                    .subject_public_key_info
                    .subject_public_key
                    .raw_bytes();
                Hash1::Sha1.digest(key) == hash.as_bytes()
            }
        })
    };
    if named(issuer)? {
        return Ok(issuer.clone());
    }
    for c in certs {
        let der = c.to_der().map_err(malformed)?;
        let candidate = Cert::from_der(&der).map_err(malformed)?;
        if !named(&candidate)? {
            continue;
        }
        let subject = &candidate.subject;
        if candidate.raw_issuer != issuer.raw_subject {
            return Err(OcspError::Unauthorised(format!(
                "{subject:?} was not issued by the certificate's issuer {:?}",
                issuer.subject
            )));
        }
        candidate.signed_by(issuer).map_err(|e| {
            OcspError::Unauthorised(format!(
                "{subject:?} is not signed by the certificate's issuer {:?}: {e}",
                issuer.subject
            ))
        })?;
        if !candidate.eku.as_ref().is_some_and(|e| e.value.ocsp_signing) {
            return Err(OcspError::Unauthorised(format!(
                "{subject:?} lacks the OCSPSigning extended key usage"
            )));
        }
        if !candidate.valid_at(now) {
            return Err(OcspError::Unauthorised(format!(
                "{subject:?} is not valid now (from {} to {})",
                rfc3339(candidate.not_before),
                rfc3339(candidate.not_after)
            )));
        }
        return Ok(candidate);
    }
    Err(OcspError::Unauthorised(
        "the responder named in the response is neither the issuer nor a certificate it carries"
            .into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_requests_are_got_and_escaped() {
        let url = get_url("http://127.0.0.1:1/ocsp/", &[0xfb, 0xff, 0xfe]).unwrap();
        assert_eq!(url, "http://127.0.0.1:1/ocsp/%2B%2F%2F%2B");
        assert!(get_url("http://x", &[0u8; 200]).is_none());
    }
}
