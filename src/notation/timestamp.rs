//! RFC 3161 timestamp countersignatures, verified as tspclient-go (which notation-go uses) does:
//! a CMS SignedData whose content is a TSTInfo; the TSTInfo's message imprint is the hash of the
//! envelope's signature bytes; the signer is the certificate named by the signingCertificateV2
//! attribute (by hash); the signed attributes carry the content type and the content's digest and
//! are signed by that certificate; its chain, built from the token's certificates, ends at a
//! certificate of the tsa trust stores and is valid at the stamped time; the signing
//! certificate's only EKU is timeStamping, critical. Sans-IO; the TSA chain's revocation is the
//! caller's (see [`super::revocation`]).
//!
//! Parsing uses RustCrypto's `cms` for the SignedData and x509-parser's DER reader for the
//! TSTInfo; DER only, as the tokens of real TSAs are.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerInfo};
use der::{Decode, Encode};
use time::{Duration, OffsetDateTime};
use x509_parser::der_parser::ber::BerObjectContent;

use super::cert::Cert;
use super::chain::{self, Purpose};
use super::crypto::{self, Hash, Scheme};

/// A token larger than this is hostile (real ones are a few kilobytes).
pub const MAX_TOKEN_BYTES: usize = 256 * 1024;
/// Certificates and signers a token may carry.
const MAX_TOKEN_CERTS: usize = 16;
const MAX_SIGNERS: usize = 4;

const OID_SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
const OID_TST_INFO: &str = "1.2.840.113549.1.9.16.1.4";
const OID_CONTENT_TYPE: &str = "1.2.840.113549.1.9.3";
const OID_MESSAGE_DIGEST: &str = "1.2.840.113549.1.9.4";
const OID_SIGNING_CERTIFICATE_V2: &str = "1.2.840.113549.1.9.16.2.47";
const OID_BASELINE_POLICY: &str = "0.4.0.2023.1.1";

/// A verified timestamp: the time, its accuracy, and the TSA chain (leaf first) it was checked
/// against.
#[derive(Debug, Clone)]
pub struct Timestamp {
    pub gen_time: OffsetDateTime,
    pub accuracy: Duration,
    pub tsa_chain: Vec<Cert>,
}

impl Timestamp {
    /// The stamped time cannot be before `t` (genTime − accuracy ≥ t).
    pub fn bounded_after(&self, t: OffsetDateTime) -> bool {
        self.gen_time - self.accuracy >= t
    }

    /// The stamped time cannot be after `t` (genTime + accuracy ≤ t).
    pub fn bounded_before(&self, t: OffsetDateTime) -> bool {
        self.gen_time + self.accuracy <= t
    }
}

/// Why a countersignature does not stand, at the step tspclient-go names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("failed to parse timestamp countersignature with error: {0}")]
    Parse(String),
    #[error("failed to get the timestamp TSTInfo with error: {0}")]
    TstInfo(String),
    #[error(
        "failed to get timestamp from timestamp countersignature with error: invalid TSTInfo: {0}"
    )]
    Imprint(String),
    #[error("failed to verify the timestamp countersignature with error: failed to verify signed token: {0}")]
    Signer(String),
    #[error("failed to validate the timestamping certificate chain with error: {0}")]
    Chain(String),
}

/// A parsed countersignature whose TSTInfo stamps the signature; not yet checked against roots.
#[derive(Debug, Clone)]
pub struct Token {
    signed: SignedData,
    content: Vec<u8>,
    pub gen_time: OffsetDateTime,
    pub accuracy: Duration,
}

/// Parse `token` and check that it stamps `signature` (tspclient-go's `ParseSignedToken`,
/// `Info` and `Validate`, in that order).
pub fn parse(token: &[u8], signature: &[u8]) -> Result<Token, TimestampError> {
    let parse = |e: String| TimestampError::Parse(e);
    if token.len() > MAX_TOKEN_BYTES {
        return Err(parse(format!(
            "the token is {} bytes, more than {MAX_TOKEN_BYTES}",
            token.len()
        )));
    }
    let info =
        ContentInfo::from_der(token).map_err(|e| parse(format!("invalid content info: {e}")))?;
    if info.content_type.to_string() != OID_SIGNED_DATA {
        return Err(parse("cms: content type is not signed-data".into()));
    }
    let signed: SignedData = info
        .content
        .decode_as()
        .map_err(|e| parse(format!("invalid signed data: {e}")))?;
    let econtent_type = signed.encap_content_info.econtent_type.to_string();
    if econtent_type != OID_TST_INFO {
        return Err(parse(format!(
            "unexpected content type: {econtent_type}. Expected to be id-ct-TSTInfo ({OID_TST_INFO})"
        )));
    }
    let content: Vec<u8> = match &signed.encap_content_info.econtent {
        Some(any) => any
            .decode_as::<der::asn1::OctetString>()
            .map_err(|e| parse(format!("the content is not an OCTET STRING: {e}")))?
            .into_bytes(),
        None => return Err(parse("the token has no content".into())),
    };
    let tst = TstInfo::parse(&content).map_err(|e| {
        TimestampError::TstInfo(format!(
            "cannot unmarshal TSTInfo from timestamp token: {e}"
        ))
    })?;
    let (gen_time, accuracy) = check_imprint(&tst, signature)?;
    Ok(Token {
        signed,
        content,
        gen_time,
        accuracy,
    })
}

impl Token {
    /// Check the CMS signer against the tsa roots, at the stamped time, and the TSA chain's
    /// profile.
    pub fn verify(&self, tsa_roots: &[Cert]) -> Result<Timestamp, TimestampError> {
        let certs = token_certificates(&self.signed)?;
        let tsa_chain = verify_signers(
            &self.signed,
            &self.content,
            &certs,
            tsa_roots,
            self.gen_time,
        )?;
        chain::validate(&tsa_chain, Purpose::Timestamping, None).map_err(TimestampError::Chain)?;
        Ok(Timestamp {
            gen_time: self.gen_time,
            accuracy: self.accuracy,
            tsa_chain,
        })
    }
}

/// [`parse`] then [`Token::verify`].
pub fn verify(
    token: &[u8],
    signature: &[u8],
    tsa_roots: &[Cert],
) -> Result<Timestamp, TimestampError> {
    parse(token, signature)?.verify(tsa_roots)
}

/// The fields of a TSTInfo (RFC 3161 2.4.2) a verifier reads. Read with x509-parser's DER
/// reader, which takes the fractional seconds real TSAs put in `genTime` (RustCrypto's `der`
/// 0.7 refuses them).
struct TstInfo {
    version: u64,
    policy: String,
    hash_oid: String,
    hashed_message: Vec<u8>,
    gen_time: OffsetDateTime,
    /// (seconds, millis, micros), when present.
    accuracy: Option<(u64, u64, u64)>,
}

impl TstInfo {
    fn parse(der: &[u8]) -> Result<TstInfo, String> {
        let (rest, top) = x509_parser::der_parser::parse_der(der).map_err(|e| e.to_string())?;
        if !rest.is_empty() {
            return Err("trailing data".into());
        }
        let BerObjectContent::Sequence(items) = top.content else {
            return Err("not a SEQUENCE".into());
        };
        let field = |i: usize, what: &str| items.get(i).ok_or_else(|| format!("{what} missing"));
        let version = field(0, "version")?
            .as_u64()
            .map_err(|e| format!("version: {e}"))?;
        let policy = field(1, "policy")?
            .as_oid()
            .map_err(|e| format!("policy: {e}"))?
            .to_id_string();
        let BerObjectContent::Sequence(imprint) = &field(2, "messageImprint")?.content else {
            return Err("messageImprint is not a SEQUENCE".into());
        };
        let alg = match imprint.first().map(|a| &a.content) {
            Some(BerObjectContent::Sequence(alg)) => alg,
            _ => return Err("messageImprint hashAlgorithm is not a SEQUENCE".into()),
        };
        let hash_oid = alg
            .first()
            .and_then(|o| o.as_oid().ok())
            .ok_or("messageImprint hashAlgorithm has no OID")?
            .to_id_string();
        let hashed_message = imprint
            .get(1)
            .and_then(|o| o.as_slice().ok())
            .ok_or("messageImprint hashedMessage is not an OCTET STRING")?
            .to_vec();
        field(3, "serialNumber")?
            .as_bigint()
            .map_err(|e| format!("serialNumber: {e}"))?;
        let gen_time = match &field(4, "genTime")?.content {
            BerObjectContent::GeneralizedTime(t) => {
                t.to_datetime().map_err(|e| format!("genTime: {e}"))?
            }
            _ => return Err("genTime is not a GeneralizedTime".into()),
        };
        let accuracy = match items.get(5).map(|a| &a.content) {
            Some(BerObjectContent::Sequence(parts)) => {
                let (mut secs, mut millis, mut micros) = (0, 0, 0);
                for p in parts {
                    let n = small_uint(p).ok_or("accuracy is not a small non-negative integer")?;
                    match p.header.raw_tag() {
                        Some([0x02]) => secs = n,
                        Some([0x80]) => millis = n,
                        Some([0x81]) => micros = n,
                        _ => return Err("accuracy has an unknown field".into()),
                    }
                }
                Some((secs, millis, micros))
            }
            _ => None,
        };
        Ok(TstInfo {
            version,
            policy,
            hash_oid,
            hashed_message,
            gen_time,
            accuracy,
        })
    }
}

/// The value of an INTEGER, or of an implicitly tagged one, if it is small and not negative.
fn small_uint(o: &x509_parser::der_parser::ber::BerObject<'_>) -> Option<u64> {
    let bytes: &[u8] = match &o.content {
        BerObjectContent::Integer(b) => b,
        BerObjectContent::Unknown(any) => any.data,
        _ => return None,
    };
    if bytes.is_empty() || bytes.len() > 8 || bytes.first().is_some_and(|b| b & 0x80 != 0) {
        return None;
    }
    Some(bytes.iter().fold(0u64, |acc, b| (acc << 8) | *b as u64))
}

/// TSTInfo version 1, a known hash, the imprint equal to the hash of the signature; the time
/// and its accuracy (one second under the baseline policy when none is given).
fn check_imprint(
    tst: &TstInfo,
    signature: &[u8],
) -> Result<(OffsetDateTime, Duration), TimestampError> {
    if tst.version != 1 {
        return Err(TimestampError::Imprint(format!(
            "timestamp token info version must be 1, but got {}",
            tst.version
        )));
    }
    let hash = Hash::from_oid(&tst.hash_oid).ok_or_else(|| {
        TimestampError::Imprint(format!("unrecognized hash algorithm: {}", tst.hash_oid))
    })?;
    if tst.hashed_message != hash.digest(signature) {
        return Err(TimestampError::Imprint("mismatched message".into()));
    }
    let accuracy = match tst.accuracy {
        Some((0, 0, 0)) | None if tst.policy == OID_BASELINE_POLICY => Duration::seconds(1),
        Some((s, ms, us)) => {
            if ms > 999 || us > 999 || s > 1 << 32 {
                return Err(TimestampError::Imprint("accuracy out of range".into()));
            }
            Duration::seconds(s as i64)
                + Duration::milliseconds(ms as i64)
                + Duration::microseconds(us as i64)
        }
        None => Duration::ZERO,
    };
    Ok((tst.gen_time, accuracy))
}

fn token_certificates(signed: &SignedData) -> Result<Vec<Cert>, TimestampError> {
    let mut out = Vec::new();
    if let Some(set) = &signed.certificates {
        for choice in set.0.iter() {
            if out.len() >= MAX_TOKEN_CERTS {
                return Err(TimestampError::Parse(format!(
                    "more than {MAX_TOKEN_CERTS} certificates"
                )));
            }
            if let CertificateChoices::Certificate(c) = choice {
                let der = c
                    .to_der()
                    .map_err(|e| TimestampError::Parse(e.to_string()))?;
                out.push(Cert::from_der(&der).map_err(|e| {
                    TimestampError::Parse(format!(
                        "failed to parse X.509 certificates from signed data: {e}"
                    ))
                })?);
            }
        }
    }
    Ok(out)
}

/// The first signer that verifies gives the chain; otherwise the last error, as tspclient-go.
fn verify_signers(
    signed: &SignedData,
    content: &[u8],
    certs: &[Cert],
    roots: &[Cert],
    at: OffsetDateTime,
) -> Result<Vec<Cert>, TimestampError> {
    let mut last = "signerInfo not found".to_string();
    for signer in signed.signer_infos.0.iter().take(MAX_SIGNERS) {
        match verify_signer(signer, content, certs, roots, at) {
            Ok(chain) => return Ok(chain),
            Err(e) => last = e,
        }
    }
    Err(TimestampError::Signer(last))
}

fn verify_signer(
    signer: &SignerInfo,
    content: &[u8],
    certs: &[Cert],
    roots: &[Cert],
    at: OffsetDateTime,
) -> Result<Vec<Cert>, String> {
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or("missing signed attributes")?;
    let attr = |oid: &str| -> Option<Vec<u8>> {
        attrs
            .iter()
            .find(|a| a.oid.to_string() == oid)
            .and_then(|a| a.values.iter().next())
            .and_then(|v| v.to_der().ok())
    };
    let signing_cert = signing_certificate(attr(OID_SIGNING_CERTIFICATE_V2), certs)?;
    let chain = build_chain(signing_cert, certs, roots, at)?;
    // The signature over the DER of the signed attributes (as a SET OF).
    let digest_oid = signer.digest_alg.oid.to_string();
    let hash = Hash::from_oid(&digest_oid)
        .ok_or("cms verification failure: unsupported digest algorithm")?;
    let scheme = signer_scheme(&signer.signature_algorithm.oid.to_string(), hash)
        .ok_or("cms verification failure: unknown signature algorithm")?;
    let signed_bytes = attrs
        .to_der()
        .map_err(|e| format!("invalid signed attributes: {e}"))?;
    crypto::verify(
        &signing_cert.key,
        scheme,
        &signed_bytes,
        signer.signature.as_bytes(),
    )
    .map_err(|e| format!("cms verification failure: {e}"))?;
    let content_type = attr(OID_CONTENT_TYPE).and_then(|der| oid_of(&der));
    if content_type.as_deref() != Some(OID_TST_INFO) {
        return Err("cms verification failure: mismatch content type".into());
    }
    let digest = attr(OID_MESSAGE_DIGEST)
        .and_then(|der| octets_of(&der))
        .ok_or("cms verification failure: invalid message digest")?;
    if digest != hash.digest(content) {
        return Err("cms verification failure: mismatch message digest".into());
    }
    Ok(chain)
}

fn signer_scheme(oid: &str, hash: Hash) -> Option<Scheme> {
    Some(match oid {
        "1.2.840.113549.1.1.1" => Scheme::RsaPkcs1(hash),
        "1.2.840.113549.1.1.11" => Scheme::RsaPkcs1(Hash::Sha256),
        "1.2.840.113549.1.1.12" => Scheme::RsaPkcs1(Hash::Sha384),
        "1.2.840.113549.1.1.13" => Scheme::RsaPkcs1(Hash::Sha512),
        "1.2.840.113549.1.1.10" => Scheme::RsaPss(hash),
        "1.2.840.10045.2.1" => Scheme::EcdsaDer(hash),
        "1.2.840.10045.4.3.2" => Scheme::EcdsaDer(Hash::Sha256),
        "1.2.840.10045.4.3.3" => Scheme::EcdsaDer(Hash::Sha384),
        "1.2.840.10045.4.3.4" => Scheme::EcdsaDer(Hash::Sha512),
        _ => return None,
    })
}

/// SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, ... };
/// ESSCertIDv2 ::= SEQUENCE { hashAlgorithm DEFAULT sha256, certHash OCTET STRING, issuerSerial
/// OPTIONAL }. The first ESSCertIDv2 names the signer; the certificate whose hash it is signs.
fn signing_certificate(attr: Option<Vec<u8>>, certs: &[Cert]) -> Result<&Cert, String> {
    let der = attr
        .ok_or("failed to get SigningCertificateV2 from signed attributes: attribute not found")?;
    let bad = || "failed to get SigningCertificateV2 from signed attributes: malformed".to_string();
    let (_, outer) = x509_parser::der_parser::parse_der(&der).map_err(|_| bad())?;
    let BerObjectContent::Sequence(outer) = outer.content else {
        return Err(bad());
    };
    let Some(BerObjectContent::Sequence(ids)) = outer.first().map(|o| &o.content) else {
        return Err(bad());
    };
    let Some(BerObjectContent::Sequence(first)) = ids.first().map(|o| &o.content) else {
        return Err("signingCertificateV2 does not contain any certificate".into());
    };
    let (hash, cert_hash) = match first.as_slice() {
        [alg, h, ..] if matches!(alg.content, BerObjectContent::Sequence(_)) => {
            let BerObjectContent::Sequence(alg) = &alg.content else {
                return Err(bad());
            };
            let oid = alg
                .first()
                .and_then(|o| o.as_oid().ok())
                .ok_or_else(bad)?
                .to_id_string();
            let hash = Hash::from_oid(&oid).ok_or(
                "unsupported certificate hash algorithm in SigningCertificateV2 attribute",
            )?;
            (hash, h.as_slice().map_err(|_| bad())?)
        }
        [h, ..] => (Hash::Sha256, h.as_slice().map_err(|_| bad())?),
        [] => return Err(bad()),
    };
    certs
        .iter()
        .find(|c| hash.digest(c.der()) == cert_hash)
        .ok_or_else(|| "signing certificate not found in the timestamp token".to_string())
}

/// From the signing certificate up to a trusted root: each step an issuer (by name and
/// signature) from the roots first, then the token's certificates; each valid at `at`.
fn build_chain(
    leaf: &Cert,
    certs: &[Cert],
    roots: &[Cert],
    at: OffsetDateTime,
) -> Result<Vec<Cert>, String> {
    let unknown = "cms verification failure: x509: certificate signed by unknown authority";
    let mut chain = vec![leaf.clone()];
    loop {
        let current = chain.last().ok_or(unknown)?;
        if !current.valid_at(at) {
            return Err(format!(
                "cms verification failure: x509: certificate has expired or is not yet valid: the certificate {:?} is not valid at {}",
                current.subject,
                super::cert::rfc3339(at)
            ));
        }
        if roots.iter().any(|r| r.der() == current.der()) {
            return Ok(chain);
        }
        if chain.len() >= chain::MAX_CHAIN {
            return Err(unknown.into());
        }
        let issued =
            |c: &&Cert| c.raw_subject == current.raw_issuer && current.signed_by(c).is_ok();
        if let Some(root) = roots.iter().find(issued) {
            if !root.valid_at(at) {
                return Err(format!("cms verification failure: x509: certificate has expired or is not yet valid: the root {:?} is not valid at {}", root.subject, super::cert::rfc3339(at)));
            }
            chain.push(root.clone());
            return Ok(chain);
        }
        let next = certs
            .iter()
            .filter(|c| !chain.iter().any(|x| x.der() == c.der()))
            .find(issued)
            .ok_or(unknown)?
            .clone();
        chain.push(next);
    }
}

fn oid_of(der: &[u8]) -> Option<String> {
    let (_, o) = x509_parser::der_parser::parse_der(der).ok()?;
    o.as_oid().ok().map(|o| o.to_id_string())
}

fn octets_of(der: &[u8]) -> Option<Vec<u8>> {
    let (_, o) = x509_parser::der_parser::parse_der(der).ok()?;
    o.as_slice().ok().map(<[u8]>::to_vec)
}
