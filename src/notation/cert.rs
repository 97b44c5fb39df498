//! One X.509 certificate, parsed once into the facts the Notary Project rules look at (key, usages,
//! validity, names as Go prints them), kept beside its exact DER: authenticity compares DER
//! byte for byte, and every message names a subject the way notation does.

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

use super::crypto::{self, Hash, PublicKey, Scheme};

/// No certificate worth trusting is this large; a bigger one is hostile.
pub const MAX_CERT_BYTES: usize = 64 * 1024;

/// How the issuer signed this certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSignature {
    Known(Scheme),
    /// SHA-1 with RSA or ECDSA, which the Notary Project refuses.
    Sha1(&'static str),
    /// Anything else, by OID.
    Unsupported(String),
}

/// An extension's presence and criticality, with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ext<T> {
    pub critical: bool,
    pub value: T,
}

/// Extended key usages, as far as the rules tell them apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Eku {
    pub any: bool,
    pub server_auth: bool,
    pub client_auth: bool,
    pub code_signing: bool,
    pub email_protection: bool,
    pub time_stamping: bool,
    pub ocsp_signing: bool,
    /// OIDs of the others.
    pub other: Vec<String>,
}

/// A certificate: its DER and what the checks read from it.
#[derive(Clone)]
pub struct Cert {
    der: Vec<u8>,
    tbs: Vec<u8>,
    signature: Vec<u8>,
    pub signature_alg: CertSignature,
    /// The subject as Go's `pkix.Name.String()` prints it (`CN=e2e,O=Notary,...,C=US`).
    pub subject: String,
    pub issuer: String,
    pub raw_subject: Vec<u8>,
    pub raw_issuer: Vec<u8>,
    /// Big-endian serial number, as encoded.
    pub serial: Vec<u8>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub key: PublicKey,
    /// `basicConstraints`: `(cA, pathLenConstraint)`.
    pub basic_constraints: Option<Ext<(bool, Option<u32>)>>,
    /// `keyUsage` bits, bit 0 = digitalSignature as in RFC 5280.
    pub key_usage: Option<Ext<u16>>,
    pub eku: Option<Ext<Eku>>,
    /// OCSP responders named in Authority Information Access.
    pub ocsp_urls: Vec<String>,
    /// CRL distribution point URLs.
    pub crl_urls: Vec<String>,
}

/// Key usage bits (RFC 5280 4.2.1.3), as x509-parser numbers them.
pub mod ku {
    pub const DIGITAL_SIGNATURE: u16 = 1 << 0;
    pub const KEY_ENCIPHERMENT: u16 = 1 << 2;
    pub const DATA_ENCIPHERMENT: u16 = 1 << 3;
    pub const KEY_AGREEMENT: u16 = 1 << 4;
    pub const KEY_CERT_SIGN: u16 = 1 << 5;
    pub const CRL_SIGN: u16 = 1 << 6;
    pub const ENCIPHER_ONLY: u16 = 1 << 7;
    pub const DECIPHER_ONLY: u16 = 1 << 8;
}

/// Why bytes are not a usable certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("the certificate is {len} bytes, more than the {MAX_CERT_BYTES} allowed")]
    TooLarge { len: usize },
    #[error("x509: malformed certificate: {reason}")]
    Malformed { reason: String },
}

impl std::fmt::Debug for Cert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cert({:?}, sha256:{})", self.subject, self.thumbprint())
    }
}

impl Cert {
    /// Parse exactly one DER certificate (nothing may follow it).
    pub fn from_der(der: &[u8]) -> Result<Cert, CertError> {
        let (rest, cert) = parse_one(der)?;
        if !rest.is_empty() {
            return Err(CertError::Malformed {
                reason: format!("{} bytes follow the certificate", rest.len()),
            });
        }
        Ok(cert)
    }

    /// Every certificate in concatenated DER (notation-core-go reads such files too).
    pub fn all_from_der(mut der: &[u8], max: usize) -> Result<Vec<Cert>, CertError> {
        let mut out = Vec::new();
        while !der.is_empty() {
            if out.len() >= max {
                return Err(CertError::Malformed {
                    reason: format!("more than {max} certificates"),
                });
            }
            let (rest, cert) = parse_one(der)?;
            out.push(cert);
            der = rest;
        }
        Ok(out)
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// SHA-256 of the DER, hex: the thumbprint notation annotates signatures with.
    pub fn thumbprint(&self) -> String {
        hex::encode(Hash::Sha256.digest(&self.der))
    }

    pub fn is_ca(&self) -> bool {
        self.basic_constraints.as_ref().is_some_and(|bc| bc.value.0)
    }

    /// Did `issuer`'s key sign this certificate? (the signature only; names are the caller's).
    pub fn signed_by(&self, issuer: &Cert) -> Result<(), String> {
        check_signature(&issuer.key, &self.signature_alg, &self.tbs, &self.signature)
    }

    /// Self-signed as Go tests it: it verifies under its own key and its issuer is its subject.
    pub fn is_self_signed(&self) -> bool {
        self.raw_issuer == self.raw_subject && self.signed_by(self).is_ok()
    }

    /// Valid at `at`, bounds included (Go: neither before NotBefore nor after NotAfter).
    pub fn valid_at(&self, at: OffsetDateTime) -> bool {
        at >= self.not_before && at <= self.not_after
    }
}

/// Did `key` sign `tbs` with `alg`? Go's words for each failure (certificates, CRLs and OCSP
/// responses are checked alike).
pub fn check_signature(
    key: &PublicKey,
    alg: &CertSignature,
    tbs: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    let scheme = match alg {
        CertSignature::Known(s) => *s,
        CertSignature::Sha1(name) => {
            return Err(format!(
                "x509: cannot verify signature: insecure algorithm {name}"
            ))
        }
        CertSignature::Unsupported(oid) => {
            return Err(format!(
                "x509: cannot verify signature: algorithm {oid} is unsupported"
            ))
        }
    };
    crypto::verify(key, scheme, tbs, signature).map_err(|e| match e {
        crypto::CryptoError::BadSignature => {
            "x509: invalid signature: parent certificate cannot sign this kind of certificate"
                .to_string()
        }
        other => format!("x509: {other}"),
    })
}

fn parse_one(der: &[u8]) -> Result<(&[u8], Cert), CertError> {
    let malformed = |reason: String| CertError::Malformed { reason };
    let (rest, x) = X509Certificate::from_der(der).map_err(|e| malformed(e.to_string()))?;
    let used = der.len() - rest.len();
    if used > MAX_CERT_BYTES {
        return Err(CertError::TooLarge { len: used });
    }
    let tbs = &x.tbs_certificate;
    // The outer algorithm is not signed: it must say what the signed one says (as Go checks).
    if tbs.signature != x.signature_algorithm {
        return Err(malformed(
            "inner and outer signature algorithm identifiers don't match".into(),
        ));
    }
    // A signature is whole octets: padding bits would give one signature many encodings.
    if x.signature_value.unused_bits != 0 {
        return Err(malformed("the signature has unused bits".into()));
    }
    let mut basic_constraints = None;
    let mut key_usage = None;
    let mut eku = None;
    let mut ocsp_urls = Vec::new();
    let mut crl_urls = Vec::new();
    for ext in tbs.extensions() {
        let critical = ext.critical;
        match ext.parsed_extension() {
            ParsedExtension::BasicConstraints(bc) => {
                basic_constraints = Some(Ext {
                    critical,
                    value: (bc.ca, bc.path_len_constraint),
                })
            }
            ParsedExtension::KeyUsage(k) => {
                key_usage = Some(Ext {
                    critical,
                    value: k.flags,
                })
            }
            ParsedExtension::ExtendedKeyUsage(e) => {
                eku = Some(Ext {
                    critical,
                    value: Eku {
                        any: e.any,
                        server_auth: e.server_auth,
                        client_auth: e.client_auth,
                        code_signing: e.code_signing,
                        email_protection: e.email_protection,
                        time_stamping: e.time_stamping,
                        ocsp_signing: e.ocsp_signing,
                        other: e.other.iter().map(|o| o.to_id_string()).collect(),
                    },
                })
            }
            ParsedExtension::AuthorityInfoAccess(aia) => {
                for desc in aia.iter() {
                    // id-ad-ocsp
                    if desc.access_method.to_id_string() == "1.3.6.1.5.5.7.48.1" {
                        if let GeneralName::URI(uri) = desc.access_location {
                            ocsp_urls.push(uri.to_string());
                        }
                    }
                }
            }
            ParsedExtension::CRLDistributionPoints(points) => {
                for point in points.iter() {
                    if let Some(DistributionPointName::FullName(names)) = &point.distribution_point
                    {
                        for name in names {
                            if let GeneralName::URI(uri) = name {
                                crl_urls.push(uri.to_string());
                            }
                        }
                    }
                }
            }
            ParsedExtension::ParseError { error } if critical => {
                return Err(malformed(format!(
                    "critical extension {} does not parse: {error}",
                    ext.oid
                )))
            }
            _ => {}
        }
    }
    let cert = Cert {
        der: der[..used].to_vec(),
        tbs: tbs.as_ref().to_vec(),
        signature: x.signature_value.data.to_vec(),
        signature_alg: signature_alg(&x),
        subject: go_name(tbs.subject()),
        issuer: go_name(tbs.issuer()),
        raw_subject: tbs.subject().as_raw().to_vec(),
        raw_issuer: tbs.issuer().as_raw().to_vec(),
        serial: tbs.raw_serial().to_vec(),
        not_before: tbs.validity().not_before.to_datetime(),
        not_after: tbs.validity().not_after.to_datetime(),
        key: PublicKey::from_spki(tbs.public_key()),
        basic_constraints,
        key_usage,
        eku,
        ocsp_urls,
        crl_urls,
    };
    Ok((rest, cert))
}

fn signature_alg(x: &X509Certificate<'_>) -> CertSignature {
    let oid = x.signature_algorithm.algorithm.to_id_string();
    signature_scheme(&oid, || pss_hash(x))
}

/// The scheme of signature algorithm `oid` (certificates, CRLs, OCSP responses alike);
/// `pss_hash` reads the RSASSA-PSS hash when the OID is PSS (`None`: absent, so SHA-1).
pub fn signature_scheme(oid: &str, pss_hash: impl FnOnce() -> Option<Hash>) -> CertSignature {
    let known = |s| CertSignature::Known(s);
    match oid {
        "1.2.840.113549.1.1.11" => known(Scheme::RsaPkcs1(Hash::Sha256)),
        "1.2.840.113549.1.1.12" => known(Scheme::RsaPkcs1(Hash::Sha384)),
        "1.2.840.113549.1.1.13" => known(Scheme::RsaPkcs1(Hash::Sha512)),
        "1.2.840.10045.4.3.2" => known(Scheme::EcdsaDer(Hash::Sha256)),
        "1.2.840.10045.4.3.3" => known(Scheme::EcdsaDer(Hash::Sha384)),
        "1.2.840.10045.4.3.4" => known(Scheme::EcdsaDer(Hash::Sha512)),
        "1.2.840.113549.1.1.5" => CertSignature::Sha1("SHA1-RSA"),
        "1.2.840.10045.4.1" => CertSignature::Sha1("ECDSA-SHA1"),
        "1.2.840.113549.1.1.10" => match pss_hash() {
            Some(h) => known(Scheme::RsaPss(h)),
            // No hashAlgorithm means the default, SHA-1.
            None => CertSignature::Sha1("SHA1-RSAPSS"),
        },
        _ => CertSignature::Unsupported(oid.to_string()),
    }
}

/// The hash of RSASSA-PSS-params (`[0] hashAlgorithm`); `None` when absent (SHA-1) or not one
/// of SHA-256/384/512.
fn pss_hash(x: &X509Certificate<'_>) -> Option<Hash> {
    use x509_parser::der_parser::ber::BerObjectContent;
    let params = x.signature_algorithm.parameters.as_ref()?;
    let (_, seq) = x509_parser::der_parser::parse_der(params.as_bytes()).ok()?;
    let items = match seq.content {
        BerObjectContent::Sequence(items) => items,
        _ => {
            // parameters may be handed over as the SEQUENCE's content
            let (_, inner) = x509_parser::der_parser::parse_der(params.data).ok()?;
            vec![inner]
        }
    };
    let first = items.first()?;
    if first.header.raw_tag() != Some(&[0xa0]) {
        return None;
    }
    let BerObjectContent::Unknown(any) = &first.content else {
        return None;
    };
    let (_, alg) = x509_parser::der_parser::parse_der(any.data).ok()?;
    let BerObjectContent::Sequence(alg) = alg.content else {
        return None;
    };
    let oid = alg.first()?.as_oid().ok()?.to_id_string();
    Hash::from_oid(&oid)
}

/// Go's `pkix.Name.String()`: the well-known attributes in Go's order (SERIALNUMBER, CN, OU, O,
/// POSTALCODE, STREET, L, ST, C), values of one type joined with `+`, others after them as
/// `OID=#hex`, each value escaped as Go escapes it.
pub fn go_name(name: &X509Name<'_>) -> String {
    // Go's ToRDNSequence order, before the reversal that String() makes.
    const ORDER: [(&str, &str); 9] = [
        ("2.5.4.6", "C"),
        ("2.5.4.8", "ST"),
        ("2.5.4.7", "L"),
        ("2.5.4.9", "STREET"),
        ("2.5.4.17", "POSTALCODE"),
        ("2.5.4.10", "O"),
        ("2.5.4.11", "OU"),
        ("2.5.4.3", "CN"),
        ("2.5.4.5", "SERIALNUMBER"),
    ];
    let attrs: Vec<(String, String, Vec<u8>)> = name
        .iter_attributes()
        .map(|a| {
            let value = a
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|_| String::from_utf8_lossy(a.attr_value().data).into_owned());
            (
                a.attr_type().to_id_string(),
                value,
                a.attr_value().as_bytes().to_vec(),
            )
        })
        .collect();
    let mut rdns: Vec<String> = Vec::new();
    // Non-standard attributes come first in the sequence, so last in the string.
    for (oid, _, raw) in &attrs {
        if !ORDER.iter().any(|(o, _)| o == oid) {
            rdns.push(format!("{oid}=#{}", hex::encode(raw)));
        }
    }
    for (oid, short) in ORDER {
        let values: Vec<&str> = attrs
            .iter()
            .filter(|(o, _, _)| o == oid)
            .map(|(_, v, _)| v.as_str())
            .collect();
        // Go keeps only the last CN and the last serial number.
        let values = if short == "CN" || short == "SERIALNUMBER" {
            values.last().map(|v| vec![*v]).unwrap_or_default()
        } else {
            values
        };
        if !values.is_empty() {
            let joined: Vec<String> = values
                .iter()
                .map(|v| format!("{short}={}", go_escape(v)))
                .collect();
            rdns.push(joined.join("+"));
        }
    }
    rdns.reverse();
    rdns.join(",")
}

/// Go's attribute value escaping in `RDNSequence.String()`.
fn go_escape(s: &str) -> String {
    let count = s.chars().count();
    let mut out = String::with_capacity(s.len());
    for (k, c) in s.chars().enumerate() {
        let escape = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => k == 0 || k + 1 == count,
            '#' => k == 0,
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Go's `time.RFC1123Z` in UTC, as notation's messages print times: `Tue, 18 Jun 2024 07:30:31 +0000`.
pub fn rfc1123z(t: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] +0000"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_else(|_| t.to_string())
}

/// RFC 3339 in UTC with seconds, for JSON and messages.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_as_go_escapes_them() {
        assert_eq!(go_escape("a,b"), "a\\,b");
        assert_eq!(go_escape("#x#"), "\\#x#");
        assert_eq!(go_escape(" x "), "\\ x\\ ");
        assert_eq!(go_escape("bad=#CN"), "bad=#CN");
    }

    #[test]
    fn times_print_as_rfc1123z() {
        let t = time::macros::datetime!(2024-06-18 07:30:31 UTC);
        assert_eq!(rfc1123z(t), "Tue, 18 Jun 2024 07:30:31 +0000");
    }
}
