//! SubjectPublicKeyInfo, the DER form of a public key, both ways: read with the checks Go's
//! `x509.ParsePKIXPublicKey` makes (for the algorithms notary uses), and written as Go's
//! `x509.MarshalPKIXPublicKey` writes it, which is what canonical IDs and printed keys are made of.

use x509_parser::asn1_rs::{FromDer, Tag};
use x509_parser::error::X509Error;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519,
};
use x509_parser::public_key::RSAPublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::{KeyError, Material};

/// RSA keys below this are refused (notary's own minimum).
pub(super) const RSA_MIN_BITS: usize = 2048;
/// ring verifies RSA up to 8192 bits; refusing larger keys at parse time beats a confusing
/// "signature does not verify" later.
pub(super) const RSA_MAX_BITS: usize = 8192;

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32 key bytes follow.
pub(super) const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// DER prefix of a P-256 SubjectPublicKeyInfo (id-ecPublicKey, prime256v1); the 65-byte point follows.
pub(super) const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// DER of the AlgorithmIdentifier `rsaEncryption` with NULL parameters.
pub(super) const RSA_ALGORITHM_ID: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

impl Material {
    /// The SubjectPublicKeyInfo DER as Go's `x509.MarshalPKIXPublicKey` writes it, which is what
    /// notary hashes for canonical IDs (a re-encoding, not the certificate's raw bytes).
    pub(super) fn spki_der(&self) -> Vec<u8> {
        match self {
            Material::Ed25519(k) => [&ED25519_SPKI_PREFIX[..], &k[..]].concat(),
            Material::EcdsaP256(point) => [&P256_SPKI_PREFIX[..], point].concat(),
            Material::Rsa { n, e } => {
                let rsa_key = der_tlv(0x30, &[der_uint(n), der_uint(e)].concat());
                let bit_string = der_tlv(0x03, &[&[0u8][..], &rsa_key].concat());
                der_tlv(0x30, &[&RSA_ALGORITHM_ID[..], &bit_string].concat())
            }
        }
    }
}

pub(super) fn spki_pem(material: &Material) -> String {
    let block = pem::Pem::new("PUBLIC KEY", material.spki_der());
    pem::encode_config(
        &block,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// A whole DER SubjectPublicKeyInfo, nothing after it.
pub(super) fn parse_spki(der: &[u8]) -> Result<Material, KeyError> {
    let spki: SubjectPublicKeyInfo = whole_der(der, |reason| KeyError::Spki { reason })?;
    material_from_spki(&spki)
}

/// A `T` that is all of `der`; what is wrong (it does not parse, or bytes follow it) goes to
/// `error` as the reason.
pub(super) fn whole_der<'a, T: FromDer<'a, X509Error>>(
    der: &'a [u8],
    error: impl Fn(String) -> KeyError,
) -> Result<T, KeyError> {
    let (rest, value) = T::from_der(der).map_err(|e| error(e.to_string()))?;
    if !rest.is_empty() {
        return Err(error(format!("{} bytes follow it", rest.len())));
    }
    Ok(value)
}

/// The checks Go's `x509.ParsePKIXPublicKey` makes, limited to the algorithms notary uses.
pub(super) fn material_from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Material, KeyError> {
    if spki.subject_public_key.unused_bits != 0 {
        return Err(KeyError::Spki {
            reason: "the key bit string has unused bits".to_string(),
        });
    }
    let key: &[u8] = spki.subject_public_key.data.as_ref();
    let algorithm = &spki.algorithm.algorithm;
    let parameters = spki.algorithm.parameters.as_ref();
    if *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        match parameters.map(|p| p.as_oid()) {
            Some(Ok(curve)) if curve == OID_EC_P256 => {}
            Some(Ok(curve)) => {
                return Err(KeyError::UnsupportedCurve {
                    curve: curve.to_id_string(),
                })
            }
            _ => {
                let curve = "unnamed (the parameters are not a named-curve OID)".to_string();
                return Err(KeyError::UnsupportedCurve { curve });
            }
        }
        if key.len() != 65 || key.first() != Some(&0x04) {
            let first = key
                .first()
                .map_or_else(|| "nothing".to_string(), |b| format!("{b:#04x}"));
            return Err(KeyError::EcdsaPoint {
                len: key.len(),
                first,
            });
        }
        Ok(Material::EcdsaP256(key.to_vec()))
    } else if *algorithm == OID_PKCS1_RSAENCRYPTION {
        if !parameters.is_some_and(|p| p.tag() == Tag::Null && p.data.is_empty()) {
            let reason = "rsaEncryption parameters must be NULL".to_string();
            return Err(KeyError::Spki { reason });
        }
        let (rest, rsa) = RSAPublicKey::from_der(key).map_err(|e| KeyError::RsaMalformed {
            reason: format!("RSAPublicKey does not parse ({e})"),
        })?;
        if !rest.is_empty() {
            let reason = format!("{} bytes follow the RSAPublicKey", rest.len());
            return Err(KeyError::RsaMalformed { reason });
        }
        rsa_material(rsa.modulus, rsa.exponent)
    } else if *algorithm == OID_SIG_ED25519 {
        if parameters.is_some() {
            let reason = "Ed25519 algorithm identifier must have no parameters".to_string();
            return Err(KeyError::Spki { reason });
        }
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| KeyError::Ed25519Length { got: key.len() })?;
        Ok(Material::Ed25519(key))
    } else {
        Err(KeyError::UnsupportedAlgorithm {
            oid: algorithm.to_id_string(),
        })
    }
}

/// Modulus and exponent as DER INTEGER contents: positive, sizes in range, exponent usable by ring.
fn rsa_material(n: &[u8], e: &[u8]) -> Result<Material, KeyError> {
    let malformed = |reason: &str| KeyError::RsaMalformed {
        reason: reason.to_string(),
    };
    if n.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(malformed("the modulus is negative"));
    }
    if e.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(malformed("the public exponent is negative"));
    }
    let n = strip_leading_zeros(n);
    let e = strip_leading_zeros(e);
    let bits = bit_length(n);
    if bits < RSA_MIN_BITS {
        return Err(KeyError::RsaTooSmall { bits });
    }
    if bits > RSA_MAX_BITS {
        return Err(KeyError::RsaTooLarge { bits });
    }
    if n.last().is_some_and(|b| b & 1 == 0) {
        return Err(malformed("the modulus is even"));
    }
    // ring accepts odd exponents from 3 to 2^33 - 1.
    if bit_length(e) > 33 || bit_length(e) < 2 || e.last().is_some_and(|b| b & 1 == 0) {
        return Err(malformed(
            "the public exponent is not an odd number between 3 and 2^33",
        ));
    }
    Ok(Material::Rsa {
        n: n.to_vec(),
        e: e.to_vec(),
    })
}

/// A big-endian number without its leading zero bytes.
pub(crate) fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// Bit length of a big-endian number without leading zero bytes.
pub(crate) fn bit_length(bytes: &[u8]) -> usize {
    match bytes.first() {
        None => 0,
        Some(first) => (bytes.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

/// DER TLV with a definite length (short or long form).
fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let len_bytes = len.to_be_bytes();
        let significant = strip_leading_zeros(&len_bytes);
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

/// DER INTEGER of a non-negative big-endian number: minimal, with a 0x00 when the top bit is set.
fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let bytes = strip_leading_zeros(bytes);
    let mut content = Vec::with_capacity(bytes.len() + 1);
    if bytes.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(bytes);
    der_tlv(0x02, &content)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{KeyError, PinnedKey, PublicKey};
    use super::*;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine as _;

    #[test]
    fn rsa_key_under_2048_bits_is_refused_with_its_size() {
        let (_, spki) = openssl_rsa(1024);
        let err = tuf("rsa", &spki).unwrap_err();
        assert!(matches!(err, KeyError::RsaTooSmall { bits: 1024 }), "{err}");
        assert_eq!(
            err.to_string(),
            "RSA key has 1024 bits; at least 2048 required"
        );
        let pem_file = pem::encode(&pem::Pem::new("PUBLIC KEY", spki));
        let err = PinnedKey::parse(pem_file.as_bytes(), "small.pub").unwrap_err();
        assert_eq!(
            err.to_string(),
            "small.pub: RSA key has 1024 bits; at least 2048 required"
        );
    }

    #[test]
    fn ecdsa_key_not_on_p256_is_refused_naming_the_curve() {
        let p384 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let err = tuf(
            "ecdsa",
            &rcgen::PublicKeyData::subject_public_key_info(&p384),
        )
        .unwrap_err();
        assert!(matches!(err, KeyError::UnsupportedCurve { .. }), "{err}");
        assert!(err.to_string().contains("1.3.132.0.34"), "{err}");
        let cert = self_signed_pem(&p384, "x", (0, 1));
        let err = PublicKey::from_tuf("ecdsa-x509", &BASE64.encode(cert)).unwrap_err();
        assert!(matches!(err, KeyError::UnsupportedCurve { .. }), "{err}");
    }

    #[test]
    fn der_helpers_agree_with_openssl_and_rcgen() {
        let (_, rsa_spki) = rsa_2048();
        let rsa = tuf("rsa", rsa_spki).unwrap();
        assert_eq!(rsa.material.spki_der(), *rsa_spki);
        let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let ed_spki = rcgen::PublicKeyData::subject_public_key_info(&ed);
        assert_eq!(parse_spki(&ed_spki).unwrap().spki_der(), ed_spki);
        assert_eq!(der_tlv(0x04, &[0; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(der_tlv(0x04, &[0; 300])[..4], [0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(der_uint(&[0, 0, 0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(der_uint(&[]), [0x02, 0x01, 0x00]);
    }
}
