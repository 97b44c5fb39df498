//! Public keys of every Notary v1 key type, their key IDs, and the signature check per method.
//!
//! A key is reduced at parse time to its bare material (an Ed25519 point, a P-256 point, or an RSA
//! modulus and exponent). Everything that asks "is this the same key?" compares that material, never
//! IDs: one key can appear under its certificate's ID and under its canonical ID, and counting those as
//! two keys is how thresholds get faked. The key type declared on the wire must agree with the material
//! (CVE-2015-9258: a key must never be read as another type), and the signature method must fit it.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

mod ids;
mod methods;
mod pinned;
pub(crate) mod spki;
#[cfg(test)]
mod testing;
mod x509;

pub use pinned::PinnedKey;
pub use x509::Certificate;

use ids::tuf_key_id;
use spki::{parse_spki, spki_pem, RSA_MAX_BITS, RSA_MIN_BITS};
use x509::parse_certificate_pem;

/// Everything that can go wrong reading a key or checking a signature.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("unknown key type `{got}`; expected one of ed25519, ecdsa, ecdsa-x509, rsa, rsa-x509")]
    UnknownKeyType { got: String },
    #[error("{keytype} key: public value is not strict standard base64 ({reason})")]
    Base64 { keytype: KeyType, reason: String },
    #[error("ed25519 key is {got} bytes; expected 32 raw bytes")]
    Ed25519Length { got: usize },
    #[error("not a DER SubjectPublicKeyInfo: {reason}")]
    Spki { reason: String },
    #[error("{keytype} key: expected one PEM CERTIFICATE block inside the base64, but {reason}")]
    CertificatePem { keytype: KeyType, reason: String },
    #[error("certificate is not valid X.509 DER: {reason}")]
    Certificate { reason: String },
    #[error("certificate subject has {count} common names; expected at most one")]
    CommonNameCount { count: usize },
    #[error("certificate common name is not a text string ({reason})")]
    CommonNameNotText { reason: String },
    #[error("key type {keytype} does not fit the key, which is {actual}")]
    KeyTypeMismatch {
        keytype: KeyType,
        actual: &'static str,
    },
    #[error("public key algorithm {oid} is not supported; expected ECDSA P-256, RSA or Ed25519")]
    UnsupportedAlgorithm { oid: String },
    #[error("ECDSA key is on curve {curve}; only P-256 (1.2.840.10045.3.1.7) is supported")]
    UnsupportedCurve { curve: String },
    #[error("ECDSA P-256 point is {len} bytes starting with {first}; expected 65 bytes starting with 0x04 (uncompressed)")]
    EcdsaPoint { len: usize, first: String },
    #[error("RSA key has {bits} bits; at least {RSA_MIN_BITS} required")]
    RsaTooSmall { bits: usize },
    #[error("RSA key has {bits} bits; at most {RSA_MAX_BITS} supported")]
    RsaTooLarge { bits: usize },
    #[error("RSA key is malformed: {reason}")]
    RsaMalformed { reason: String },
    #[error("unknown signature method `{got}`; expected ecdsa, eddsa, rsapss or rsapkcs1v15")]
    UnknownMethod { got: String },
    #[error("signature method `{method}` does not fit key type {keytype}")]
    MethodMismatch { method: String, keytype: KeyType },
    #[error("ECDSA signature is {len} bytes: neither the 64-byte raw form nor valid DER")]
    EcdsaSignatureFormat { len: usize },
    #[error("{method} signature ({len} bytes) does not verify with key {key_id}")]
    BadSignature {
        method: &'static str,
        len: usize,
        key_id: String,
    },
    #[error("{origin}: this is a private key; pin the public key (found {what})")]
    PrivateKey { origin: String, what: String },
    #[error("{origin}: {reason}; expected a PEM PUBLIC KEY or CERTIFICATE, or base64 of a DER SubjectPublicKeyInfo")]
    PinnedFormat { origin: String, reason: String },
    /// A pinned key file whose content was recognised but whose key is refused.
    #[error("{origin}: {inner}")]
    Pinned {
        origin: String,
        inner: Box<KeyError>,
    },
}

/// The five key types notary writes into TUF metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    Ed25519,
    Ecdsa,
    EcdsaX509,
    Rsa,
    RsaX509,
}

impl KeyType {
    /// Parse a wire key type. Exact match: the key ID hashes this very string.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        match s {
            "ed25519" => Ok(KeyType::Ed25519),
            "ecdsa" => Ok(KeyType::Ecdsa),
            "ecdsa-x509" => Ok(KeyType::EcdsaX509),
            "rsa" => Ok(KeyType::Rsa),
            "rsa-x509" => Ok(KeyType::RsaX509),
            _ => Err(KeyError::UnknownKeyType { got: s.to_string() }),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            KeyType::Ed25519 => "ed25519",
            KeyType::Ecdsa => "ecdsa",
            KeyType::EcdsaX509 => "ecdsa-x509",
            KeyType::Rsa => "rsa",
            KeyType::RsaX509 => "rsa-x509",
        }
    }

    /// The plain key type with the same algorithm (what a canonical ID is computed under).
    fn plain(self) -> KeyType {
        match self {
            KeyType::EcdsaX509 => KeyType::Ecdsa,
            KeyType::RsaX509 => KeyType::Rsa,
            other => other,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The bare key, independent of how it was wrapped. Equality of this is "same key".
#[derive(Clone, Debug, PartialEq, Eq)]
enum Material {
    Ed25519([u8; 32]),
    /// The 65-byte uncompressed point (0x04 || x || y).
    EcdsaP256(Vec<u8>),
    /// Big-endian, no leading zero bytes (so equal keys compare equal and ring accepts them).
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
}

impl Material {
    fn plain_keytype(&self) -> KeyType {
        match self {
            Material::Ed25519(_) => KeyType::Ed25519,
            Material::EcdsaP256(_) => KeyType::Ecdsa,
            Material::Rsa { .. } => KeyType::Rsa,
        }
    }

    fn algorithm_name(&self) -> &'static str {
        match self {
            Material::Ed25519(_) => "an Ed25519 key",
            Material::EcdsaP256(_) => "an ECDSA P-256 key",
            Material::Rsa { .. } => "an RSA key",
        }
    }
}

/// A public key as it appears in TUF metadata (`{"keytype":T,"keyval":{"public":B64,"private":null}}`).
#[derive(Clone, Debug)]
pub struct PublicKey {
    keytype: KeyType,
    id: String,
    canonical_id: String,
    material: Material,
    certificate: Option<Certificate>,
}

impl PublicKey {
    /// Parse a key from its wire keytype and base64 public value. Strict standard base64 (padded).
    /// ed25519: 32 raw bytes. ecdsa / rsa: DER SubjectPublicKeyInfo. ecdsa-x509 / rsa-x509: the base64
    /// holds a PEM CERTIFICATE. ECDSA keys must be P-256; RSA keys must be >= 2048 bits.
    /// The key type must match the key's actual algorithm.
    pub fn from_tuf(keytype: &str, public_b64: &str) -> Result<PublicKey, KeyError> {
        let keytype = KeyType::parse(keytype)?;
        let raw = BASE64.decode(public_b64).map_err(|e| KeyError::Base64 {
            keytype,
            reason: e.to_string(),
        })?;
        let (material, certificate) = match keytype {
            KeyType::Ed25519 => {
                let key: [u8; 32] = raw
                    .as_slice()
                    .try_into()
                    .map_err(|_| KeyError::Ed25519Length { got: raw.len() })?;
                (Material::Ed25519(key), None)
            }
            KeyType::Ecdsa | KeyType::Rsa => (parse_spki(&raw)?, None),
            KeyType::EcdsaX509 | KeyType::RsaX509 => {
                let (material, cert) = parse_certificate_pem(keytype, &raw)?;
                (material, Some(cert))
            }
        };
        if material.plain_keytype() != keytype.plain() {
            return Err(KeyError::KeyTypeMismatch {
                keytype,
                actual: material.algorithm_name(),
            });
        }
        let id = tuf_key_id(keytype, public_b64);
        let canonical_id = if certificate.is_some() {
            material.plain_id()
        } else {
            id.clone()
        };
        Ok(PublicKey {
            keytype,
            id,
            canonical_id,
            material,
            certificate,
        })
    }

    /// TUF key ID: hex sha256 of the canonical `{"keytype":T,"keyval":{"private":null,"public":B64}}`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// For ecdsa-x509 / rsa-x509, the TUF ID of the plain ecdsa / rsa key of the certificate's public
    /// key (docker names root keys by it; some delegation signatures carry it). Otherwise `id()`.
    pub fn canonical_id(&self) -> &str {
        &self.canonical_id
    }

    pub fn keytype(&self) -> KeyType {
        self.keytype
    }

    pub fn certificate(&self) -> Option<&Certificate> {
        self.certificate.as_ref()
    }

    /// True when both hold the same public key material, whatever their key types or IDs.
    pub fn same_key(&self, other: &PublicKey) -> bool {
        self.material == other.material
    }

    /// The key as a PEM "PUBLIC KEY" block (SPKI DER), as a user pastes it into a pinning config.
    pub fn public_key_pem(&self) -> String {
        spki_pem(&self.material)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn key_type_must_match_the_key_inside() {
        // CVE-2015-9258: an ecdsa-x509 certificate holding an RSA key is refused, and so on.
        let (pkcs8, rsa_spki) = rsa_2048();
        let rsa_cert = self_signed_pem(
            &rcgen::KeyPair::try_from(pkcs8.as_slice()).unwrap(),
            "x",
            (0, 1),
        );
        let err = PublicKey::from_tuf("ecdsa-x509", &BASE64.encode(&rsa_cert)).unwrap_err();
        assert!(
            matches!(
                err,
                KeyError::KeyTypeMismatch {
                    keytype: KeyType::EcdsaX509,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "key type ecdsa-x509 does not fit the key, which is an RSA key"
        );

        let ec_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let ec_cert = self_signed_pem(&ec_key, "x", (0, 1));
        let err = PublicKey::from_tuf("rsa-x509", &BASE64.encode(&ec_cert)).unwrap_err();
        assert!(matches!(err, KeyError::KeyTypeMismatch { .. }), "{err}");

        let err = tuf("ecdsa", rsa_spki).unwrap_err();
        assert!(matches!(err, KeyError::KeyTypeMismatch { .. }), "{err}");
        let ec_spki = rcgen::PublicKeyData::subject_public_key_info(&ec_key);
        let err = tuf("rsa", &ec_spki).unwrap_err();
        assert!(matches!(err, KeyError::KeyTypeMismatch { .. }), "{err}");
        // A plain key type never reads a certificate, nor an x509 type a bare SPKI.
        assert!(matches!(
            tuf("ecdsa", ec_cert.as_bytes()).unwrap_err(),
            KeyError::Spki { .. }
        ));
        assert!(matches!(
            tuf("ecdsa-x509", &ec_spki).unwrap_err(),
            KeyError::CertificatePem { .. }
        ));
        // An Ed25519 SPKI is not a raw ed25519 key.
        let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let ed_spki = rcgen::PublicKeyData::subject_public_key_info(&ed);
        assert!(matches!(
            tuf("ed25519", &ed_spki).unwrap_err(),
            KeyError::Ed25519Length { got: 44 }
        ));
        assert!(matches!(
            tuf("ecdsa", &ed_spki).unwrap_err(),
            KeyError::KeyTypeMismatch { .. }
        ));
    }

    // ---- malformed input -------------------------------------------------------------------------

    #[test]
    fn malformed_keys_are_refused_without_panicking() {
        let alice = root_key("alice-image", ALICE_ROOT_CERT_ID);
        let spki = pem::parse(alice.public_key_pem()).unwrap().into_contents();
        let cert_pem = alice_root_cert_pem();
        let cert_der = pem::parse(&cert_pem).unwrap().into_contents();
        let (_, rsa_spki) = rsa_2048();
        for keytype in ["ed25519", "ecdsa", "ecdsa-x509", "rsa", "rsa-x509"] {
            for source in [&spki, &cert_pem, &cert_der, rsa_spki] {
                for len in 0..source.len() {
                    // (Any 32 bytes are an ed25519 key; PEM may lose its final newline.)
                    let only_whitespace_lost =
                        source[..len].trim_ascii_end() == source.trim_ascii_end();
                    let tolerated = only_whitespace_lost || (keytype == "ed25519" && len == 32);
                    if !tolerated {
                        assert!(
                            tuf(keytype, &source[..len]).is_err(),
                            "{keytype} accepted a truncated key"
                        );
                    }
                    let mut mangled = source.clone();
                    mangled[len] ^= 0xff;
                    let _ = tuf(keytype, &mangled);
                }
            }
        }
        // Trailing bytes after a valid SPKI.
        let err = tuf("ecdsa", &[&spki[..], &[0][..]].concat()).unwrap_err();
        assert!(matches!(err, KeyError::Spki { .. }), "{err}");
        // Non-strict base64 (unpadded, whitespace, URL alphabet).
        let b64 = BASE64.encode(&spki);
        for bad in [
            b64.trim_end_matches('='),
            &format!("{b64}\n"),
            &b64.replace('/', "_"),
        ] {
            let err = PublicKey::from_tuf("ecdsa", bad).unwrap_err();
            assert!(matches!(err, KeyError::Base64 { .. }), "{err}");
        }
        let err = PublicKey::from_tuf("ECDSA", &b64).unwrap_err();
        assert!(matches!(err, KeyError::UnknownKeyType { .. }), "{err}");
        let err = PublicKey::from_tuf("ed25519", &BASE64.encode([7u8; 31])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ed25519 key is 31 bytes; expected 32 raw bytes"
        );
        // Two certificates in one x509 key.
        let two = [&cert_pem[..], &cert_pem[..]].concat();
        let err = PublicKey::from_tuf("ecdsa-x509", &BASE64.encode(two)).unwrap_err();
        assert!(matches!(err, KeyError::CertificatePem { .. }), "{err}");
    }
}
