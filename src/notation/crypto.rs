//! Public keys and signature checks, one place for the envelope, the certificate chain and the
//! timestamp's CMS signer. ring verifies RSA (PSS and PKCS#1 v1.5), P-256 and P-384; ring has no
//! P-521, so ES512 goes to RustCrypto's `p521`. Nothing here links OpenSSL or aws-lc.

use ring::signature::{self as ring_sig, RsaPublicKeyComponents, UnparsedPublicKey};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION,
};
use x509_parser::public_key::PublicKey as ParsedKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::tuf::keys::spki::{bit_length, strip_leading_zeros};

/// The smallest RSA key the Notary Project accepts (signature-specification, "Key Length").
pub const RSA_MIN_BITS: usize = 2048;
/// ring verifies RSA up to 8192 bits.
pub const RSA_MAX_BITS: usize = 8192;

/// A hash function the Notary Project allows. SHA-1 has no variant: it cannot be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    /// The hash by its OID (id-sha256, id-sha384, id-sha512); `None` for anything else.
    pub fn from_oid(oid: &str) -> Option<Hash> {
        match oid {
            "2.16.840.1.101.3.4.2.1" => Some(Hash::Sha256),
            "2.16.840.1.101.3.4.2.2" => Some(Hash::Sha384),
            "2.16.840.1.101.3.4.2.3" => Some(Hash::Sha512),
            _ => None,
        }
    }

    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            Hash::Sha256 => &ring::digest::SHA256,
            Hash::Sha384 => &ring::digest::SHA384,
            Hash::Sha512 => &ring::digest::SHA512,
        };
        ring::digest::digest(alg, data).as_ref().to_vec()
    }
}

/// A NIST curve the Notary Project allows (P-256, P-384, P-521; nothing smaller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    /// Bytes of one coordinate (and of r or s in a fixed-size signature).
    fn field_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }
}

/// A public key from a certificate, read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// Modulus and exponent without leading zeros; `bits` is the modulus length.
    Rsa { n: Vec<u8>, e: Vec<u8>, bits: usize },
    /// An uncompressed SEC1 point on an allowed curve.
    Ec { curve: Curve, point: Vec<u8> },
    /// A key the Notary Project does not allow; what it is, for messages.
    Unsupported(String),
}

impl PublicKey {
    /// Read a SubjectPublicKeyInfo; keys outside the spec's list become [`PublicKey::Unsupported`]
    /// (the chain check names them) rather than an error here.
    pub fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> PublicKey {
        let algorithm = &spki.algorithm.algorithm;
        if *algorithm == OID_PKCS1_RSAENCRYPTION {
            return match spki.parsed() {
                Ok(ParsedKey::RSA(rsa)) => {
                    let n = strip_leading_zeros(rsa.modulus).to_vec();
                    let e = strip_leading_zeros(rsa.exponent).to_vec();
                    let bits = bit_length(&n);
                    PublicKey::Rsa { n, e, bits }
                }
                _ => PublicKey::Unsupported("a malformed RSA key".into()),
            };
        }
        if *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok());
            let curve = match curve {
                Some(c) if c == OID_EC_P256 => Curve::P256,
                Some(c) if c == OID_NIST_EC_P384 => Curve::P384,
                Some(c) if c == OID_NIST_EC_P521 => Curve::P521,
                Some(c) => return PublicKey::Unsupported(format!("an EC key on curve {c}")),
                None => return PublicKey::Unsupported("an EC key without a named curve".into()),
            };
            let point: &[u8] = spki.subject_public_key.data.as_ref();
            if point.len() != 1 + 2 * curve.field_len() || point.first() != Some(&4) {
                return PublicKey::Unsupported("an EC key whose point is not uncompressed".into());
            }
            return PublicKey::Ec {
                curve,
                point: point.to_vec(),
            };
        }
        PublicKey::Unsupported(format!("a key of algorithm {algorithm}"))
    }

    /// The key's size in bits, as messages print it.
    pub fn describe(&self) -> String {
        match self {
            PublicKey::Rsa { bits, .. } => format!("RSA {bits}"),
            PublicKey::Ec { curve, .. } => format!("EC {curve:?}"),
            PublicKey::Unsupported(what) => what.clone(),
        }
    }
}

/// How a signature is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RSASSA-PSS, MGF1 with the same hash, salt as long as the hash (JWS PS*, COSE PS*).
    RsaPss(Hash),
    /// RSASSA-PKCS1-v1_5 (certificates and CMS signers only; never an envelope).
    RsaPkcs1(Hash),
    /// ECDSA with r and s as two fixed-size big-endian numbers (JWS and COSE ES*).
    EcdsaFixed(Hash),
    /// ECDSA with a DER `SEQUENCE { r, s }` (certificates and CMS signers).
    EcdsaDer(Hash),
}

/// A signature that does not verify, or a key that cannot make it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the signature does not verify")]
    BadSignature,
    #[error("{scheme:?} cannot be made with {key}")]
    KeyMismatch { scheme: Scheme, key: String },
}

/// Check `signature` over `message` with `key` under `scheme`.
pub fn verify(
    key: &PublicKey,
    scheme: Scheme,
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    let mismatch = || CryptoError::KeyMismatch {
        scheme,
        key: key.describe(),
    };
    let ok = |r: Result<(), ring::error::Unspecified>| r.map_err(|_| CryptoError::BadSignature);
    match (key, scheme) {
        (PublicKey::Rsa { n, e, bits }, Scheme::RsaPss(_) | Scheme::RsaPkcs1(_)) => {
            if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(bits) {
                return Err(mismatch());
            }
            let params: &ring_sig::RsaParameters = match scheme {
                Scheme::RsaPss(Hash::Sha256) => &ring_sig::RSA_PSS_2048_8192_SHA256,
                Scheme::RsaPss(Hash::Sha384) => &ring_sig::RSA_PSS_2048_8192_SHA384,
                Scheme::RsaPss(Hash::Sha512) => &ring_sig::RSA_PSS_2048_8192_SHA512,
                Scheme::RsaPkcs1(Hash::Sha256) => &ring_sig::RSA_PKCS1_2048_8192_SHA256,
                Scheme::RsaPkcs1(Hash::Sha384) => &ring_sig::RSA_PKCS1_2048_8192_SHA384,
                Scheme::RsaPkcs1(Hash::Sha512) => &ring_sig::RSA_PKCS1_2048_8192_SHA512,
                _ => return Err(mismatch()),
            };
            ok(RsaPublicKeyComponents { n, e }.verify(params, message, signature))
        }
        (PublicKey::Ec { curve, point }, Scheme::EcdsaFixed(hash) | Scheme::EcdsaDer(hash)) => {
            let fixed = matches!(scheme, Scheme::EcdsaFixed(_));
            if *curve == Curve::P521 {
                return verify_p521(point, hash, fixed, message, signature);
            }
            let alg: &dyn ring_sig::VerificationAlgorithm = match (curve, hash, fixed) {
                (Curve::P256, Hash::Sha256, true) => &ring_sig::ECDSA_P256_SHA256_FIXED,
                (Curve::P384, Hash::Sha384, true) => &ring_sig::ECDSA_P384_SHA384_FIXED,
                (Curve::P256, Hash::Sha256, false) => &ring_sig::ECDSA_P256_SHA256_ASN1,
                (Curve::P256, Hash::Sha384, false) => &ring_sig::ECDSA_P256_SHA384_ASN1,
                (Curve::P384, Hash::Sha256, false) => &ring_sig::ECDSA_P384_SHA256_ASN1,
                (Curve::P384, Hash::Sha384, false) => &ring_sig::ECDSA_P384_SHA384_ASN1,
                _ => return Err(mismatch()),
            };
            ok(UnparsedPublicKey::new(alg, point).verify(message, signature))
        }
        _ => Err(mismatch()),
    }
}

/// ES512, and certificates or timestamps signed by a P-521 key with SHA-512 or SHA-384 (RustCrypto
/// cannot take a SHA-256 prehash on P-521: it is shorter than half the field).
fn verify_p521(
    point: &[u8],
    hash: Hash,
    fixed: bool,
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    use p521::ecdsa::signature::hazmat::PrehashVerifier as _;
    if hash == Hash::Sha256 || (fixed && hash != Hash::Sha512) {
        return Err(CryptoError::KeyMismatch {
            scheme: if fixed {
                Scheme::EcdsaFixed(hash)
            } else {
                Scheme::EcdsaDer(hash)
            },
            key: "EC P521".into(),
        });
    }
    let key =
        p521::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| CryptoError::BadSignature)?;
    let fixed_bytes = if fixed {
        signature.to_vec()
    } else {
        der_signature_to_fixed(signature, Curve::P521.field_len())
            .ok_or(CryptoError::BadSignature)?
    };
    let sig =
        p521::ecdsa::Signature::from_slice(&fixed_bytes).map_err(|_| CryptoError::BadSignature)?;
    key.verify_prehash(&hash.digest(message), &sig)
        .map_err(|_| CryptoError::BadSignature)
}

/// `SEQUENCE { INTEGER r, INTEGER s }` → r ‖ s, each left-padded to `len` bytes.
fn der_signature_to_fixed(der: &[u8], len: usize) -> Option<Vec<u8>> {
    use x509_parser::der_parser::ber::BerObjectContent;
    let (rest, seq) = x509_parser::der_parser::parse_der(der).ok()?;
    if !rest.is_empty() {
        return None;
    }
    let BerObjectContent::Sequence(items) = seq.content else {
        return None;
    };
    let [r, s] = items.as_slice() else {
        return None;
    };
    let mut out = Vec::with_capacity(2 * len);
    for item in [r, s] {
        let BerObjectContent::Integer(bytes) = item.content else {
            return None;
        };
        let bytes = strip_leading_zeros(bytes);
        if bytes.len() > len {
            return None;
        }
        out.extend(std::iter::repeat_n(0, len - bytes.len()));
        out.extend_from_slice(bytes);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_der_ecdsa_signature_becomes_fixed_width() {
        // SEQUENCE { INTEGER 0x00ff, INTEGER 0x01 }
        let der = [0x30, 0x07, 0x02, 0x02, 0x00, 0xff, 0x02, 0x01, 0x01];
        assert_eq!(
            der_signature_to_fixed(&der, 2).unwrap(),
            vec![0x00, 0xff, 0x00, 0x01]
        );
        assert!(der_signature_to_fixed(&der[..8], 2).is_none());
        assert!(der_signature_to_fixed(&der, 0).is_none());
    }

    #[test]
    fn a_key_of_one_kind_cannot_check_a_signature_of_another() {
        let ec = PublicKey::Ec {
            curve: Curve::P256,
            point: vec![4; 65],
        };
        assert!(matches!(
            verify(&ec, Scheme::RsaPss(Hash::Sha256), b"m", b"s"),
            Err(CryptoError::KeyMismatch { .. })
        ));
        assert!(matches!(
            verify(&ec, Scheme::EcdsaFixed(Hash::Sha384), b"m", b"s"),
            Err(CryptoError::KeyMismatch { .. })
        ));
        let small = PublicKey::Rsa {
            n: vec![0xff; 128],
            e: vec![1, 0, 1],
            bits: 1024,
        };
        assert!(matches!(
            verify(&small, Scheme::RsaPss(Hash::Sha256), b"m", b"s"),
            Err(CryptoError::KeyMismatch { .. })
        ));
    }
}
