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
use ring::signature::{self as ring_sig, RsaPublicKeyComponents, UnparsedPublicKey};
use x509_parser::asn1_rs::{FromDer, Tag};
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519,
};
use x509_parser::public_key::RSAPublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

/// RSA keys below this are refused (notary's own minimum).
const RSA_MIN_BITS: usize = 2048;
/// ring verifies RSA up to 8192 bits; refusing larger keys at parse time beats a confusing
/// "signature does not verify" later.
const RSA_MAX_BITS: usize = 8192;

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32 key bytes follow.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// DER prefix of a P-256 SubjectPublicKeyInfo (id-ecPublicKey, prime256v1); the 65-byte point follows.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// DER of the AlgorithmIdentifier `rsaEncryption` with NULL parameters.
const RSA_ALGORITHM_ID: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

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

/// What a root check needs from an x509 key's certificate: the CN (must name the repository) and
/// the validity window (checked by the caller against its own clock).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    /// Empty when the subject has no CN (the repository-name check then fails, naming it).
    pub common_name: String,
    pub not_before: time::OffsetDateTime,
    pub not_after: time::OffsetDateTime,
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

    /// The SubjectPublicKeyInfo DER as Go's `x509.MarshalPKIXPublicKey` writes it, which is what
    /// notary hashes for canonical IDs (a re-encoding, not the certificate's raw bytes).
    fn spki_der(&self) -> Vec<u8> {
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

    /// The TUF ID of the plain (non-certificate) key holding this material.
    fn plain_id(&self) -> String {
        let public = match self {
            Material::Ed25519(k) => BASE64.encode(k),
            _ => BASE64.encode(self.spki_der()),
        };
        tuf_key_id(self.plain_keytype(), &public)
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

    /// Verify `sig` over `msg` with TUF method `method` (case-insensitive). The method must fit the
    /// key type; a mismatch is refused before any cryptography is attempted.
    pub fn verify(&self, method: &str, msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        let parsed = Method::parse(method)?;
        let mismatch = || KeyError::MethodMismatch {
            method: method.to_string(),
            keytype: self.keytype,
        };
        if parsed.keytype() != self.keytype.plain() {
            return Err(mismatch());
        }
        let ok = match (&self.material, parsed) {
            (Material::Ed25519(key), Method::Eddsa) => {
                UnparsedPublicKey::new(&ring_sig::ED25519, key)
                    .verify(msg, sig)
                    .is_ok()
            }
            (Material::EcdsaP256(point), Method::Ecdsa) => {
                return self.verify_ecdsa(point, msg, sig)
            }
            (Material::Rsa { n, e }, Method::RsaPss) => RsaPublicKeyComponents { n, e }
                .verify(&ring_sig::RSA_PSS_2048_8192_SHA256, msg, sig)
                .is_ok(),
            (Material::Rsa { n, e }, Method::RsaPkcs1v15) => RsaPublicKeyComponents { n, e }
                .verify(&ring_sig::RSA_PKCS1_2048_8192_SHA256, msg, sig)
                .is_ok(),
            // Unreachable while parsing ties key type to material; refuse rather than trust that.
            _ => return Err(mismatch()),
        };
        if ok {
            Ok(())
        } else {
            Err(self.bad_signature(parsed, sig))
        }
    }

    /// Notary signs ECDSA as raw r||s (64 bytes); it also accepts DER. Try raw first, and DER for
    /// anything that is structurally DER (a 64-byte DER signature is possible, just rare).
    fn verify_ecdsa(&self, point: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        let raw_ok = sig.len() == 64
            && UnparsedPublicKey::new(&ring_sig::ECDSA_P256_SHA256_FIXED, point)
                .verify(msg, sig)
                .is_ok();
        if raw_ok {
            return Ok(());
        }
        if is_der_ecdsa_signature(sig) {
            if UnparsedPublicKey::new(&ring_sig::ECDSA_P256_SHA256_ASN1, point)
                .verify(msg, sig)
                .is_ok()
            {
                return Ok(());
            }
        } else if sig.len() != 64 {
            return Err(KeyError::EcdsaSignatureFormat { len: sig.len() });
        }
        Err(self.bad_signature(Method::Ecdsa, sig))
    }

    fn bad_signature(&self, method: Method, sig: &[u8]) -> KeyError {
        KeyError::BadSignature {
            method: method.as_str(),
            len: sig.len(),
            key_id: self.id.clone(),
        }
    }

    /// The key as a PEM "PUBLIC KEY" block (SPKI DER), as a user pastes it into a pinning config.
    pub fn public_key_pem(&self) -> String {
        spki_pem(&self.material)
    }
}

/// A root key the user pinned, read from a file.
#[derive(Clone, Debug)]
pub struct PinnedKey {
    origin: String,
    material: Material,
    canonical_id: String,
}

impl PinnedKey {
    /// Accepts a PEM "PUBLIC KEY" (header lines such as `role: root` allowed, as `docker trust key
    /// generate` writes them), a PEM "CERTIFICATE" (its public key is pinned), or bare base64 of the
    /// DER SPKI (as Connaisseur configs hold it; whitespace allowed). Private keys are refused.
    /// Like [`PinnedKey::parse`], but a file may hold several PEM blocks (as `get-root-key
    /// --pem-only` prints for a root with several keys): each is one pinned key.
    pub fn parse_all(bytes: &[u8], origin: &str) -> Result<Vec<PinnedKey>, KeyError> {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return PinnedKey::parse(bytes, origin).map(|k| vec![k]);
        };
        if text.matches("-----BEGIN").count() <= 1 {
            return PinnedKey::parse(bytes, origin).map(|k| vec![k]);
        }
        let mut keys = Vec::new();
        let mut block = String::new();
        for line in text.lines() {
            if line.starts_with("-----BEGIN") {
                block.clear();
            }
            block.push_str(line);
            block.push('\n');
            if line.starts_with("-----END") {
                keys.push(PinnedKey::parse(block.as_bytes(), origin)?);
                block.clear();
            }
        }
        if keys.is_empty() || !block.trim().is_empty() {
            // Unbalanced blocks: let the single-block parser say what is wrong.
            return PinnedKey::parse(bytes, origin).map(|k| vec![k]);
        }
        Ok(keys)
    }

    pub fn parse(bytes: &[u8], origin: &str) -> Result<PinnedKey, KeyError> {
        let format = |reason: String| KeyError::PinnedFormat {
            origin: origin.to_string(),
            reason,
        };
        let pinned = |inner: KeyError| KeyError::Pinned {
            origin: origin.to_string(),
            inner: Box::new(inner),
        };
        let private = |what: String| KeyError::PrivateKey {
            origin: origin.to_string(),
            what,
        };

        let text = std::str::from_utf8(bytes)
            .map_err(|_| format("the file is not text (not UTF-8)".to_string()))?;
        let material = if text.contains("-----BEGIN") {
            // Looked for in the text first, so that a private key is named as such even when its
            // PEM would not parse (encrypted keys carry headers).
            if let Some(tag) = private_pem_tag(text) {
                return Err(private(format!("PEM `{tag}`")));
            }
            let blocks = pem::parse_many(text)
                .map_err(|e| format(format!("its PEM does not parse ({e})")))?;
            let block = match blocks.as_slice() {
                [one] => one,
                [] => return Err(format("it has no complete PEM block".to_string())),
                many => return Err(format(format!("it has {} PEM blocks, not one", many.len()))),
            };
            match block.tag() {
                "PUBLIC KEY" => parse_spki(block.contents()).map_err(pinned)?,
                "CERTIFICATE" => certificate_from_der(block.contents()).map_err(pinned)?.0,
                other => return Err(format(format!("its PEM block is `{other}`"))),
            }
        } else {
            let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            if compact.is_empty() {
                return Err(format("the file is empty".to_string()));
            }
            let der = BASE64
                .decode(compact.as_bytes())
                .map_err(|e| format(format!("it is neither PEM nor base64 ({e})")))?;
            if looks_like_private_key_der(&der) {
                return Err(private("base64 of a DER private key".to_string()));
            }
            parse_spki(&der).map_err(pinned)?
        };
        let canonical_id = material.plain_id();
        Ok(PinnedKey {
            origin: origin.to_string(),
            material,
            canonical_id,
        })
    }

    /// Same public key material as `key` (for a certificate key: the key inside the certificate).
    pub fn matches(&self, key: &PublicKey) -> bool {
        self.material == key.material
    }

    /// TUF ID of the plain ecdsa / rsa / ed25519 key of this public key.
    pub fn canonical_id(&self) -> String {
        self.canonical_id.clone()
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// The signature methods notary writes; each fits exactly one plain key type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Ecdsa,
    Eddsa,
    RsaPss,
    RsaPkcs1v15,
}

impl Method {
    fn parse(s: &str) -> Result<Method, KeyError> {
        [
            Method::Ecdsa,
            Method::Eddsa,
            Method::RsaPss,
            Method::RsaPkcs1v15,
        ]
        .into_iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| KeyError::UnknownMethod { got: s.to_string() })
    }

    fn as_str(self) -> &'static str {
        match self {
            Method::Ecdsa => "ecdsa",
            Method::Eddsa => "eddsa",
            Method::RsaPss => "rsapss",
            Method::RsaPkcs1v15 => "rsapkcs1v15",
        }
    }

    /// The plain key type this method may be used with.
    fn keytype(self) -> KeyType {
        match self {
            Method::Ecdsa => KeyType::Ecdsa,
            Method::Eddsa => KeyType::Ed25519,
            Method::RsaPss | Method::RsaPkcs1v15 => KeyType::Rsa,
        }
    }
}

/// `{"keytype":T,"keyval":{"private":null,"public":B64}}` hashed. `public` was checked to be base64,
/// so it needs no escaping.
fn tuf_key_id(keytype: KeyType, public_b64: &str) -> String {
    let canonical =
        format!(r#"{{"keytype":"{keytype}","keyval":{{"private":null,"public":"{public_b64}"}}}}"#);
    hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        canonical.as_bytes(),
    ))
}

fn spki_pem(material: &Material) -> String {
    let block = pem::Pem::new("PUBLIC KEY", material.spki_der());
    pem::encode_config(
        &block,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// A whole DER SubjectPublicKeyInfo, nothing after it.
fn parse_spki(der: &[u8]) -> Result<Material, KeyError> {
    let (rest, spki) = SubjectPublicKeyInfo::from_der(der).map_err(|e| KeyError::Spki {
        reason: e.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(KeyError::Spki {
            reason: format!("{} bytes follow it", rest.len()),
        });
    }
    material_from_spki(&spki)
}

/// The checks Go's `x509.ParsePKIXPublicKey` makes, limited to the algorithms notary uses.
fn material_from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Material, KeyError> {
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

/// The base64 of an x509 key holds PEM text with exactly one CERTIFICATE block.
fn parse_certificate_pem(
    keytype: KeyType,
    pem_text: &[u8],
) -> Result<(Material, Certificate), KeyError> {
    let bad_pem = |reason: String| KeyError::CertificatePem { keytype, reason };
    let blocks =
        pem::parse_many(pem_text).map_err(|e| bad_pem(format!("the PEM does not parse ({e})")))?;
    match blocks.as_slice() {
        [block] if block.tag() == "CERTIFICATE" => certificate_from_der(block.contents()),
        [block] => Err(bad_pem(format!("the PEM block is `{}`", block.tag()))),
        blocks => Err(bad_pem(format!("found {} PEM blocks", blocks.len()))),
    }
}

fn certificate_from_der(der: &[u8]) -> Result<(Material, Certificate), KeyError> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| KeyError::Certificate {
        reason: e.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(KeyError::Certificate {
            reason: format!("{} bytes follow it", rest.len()),
        });
    }
    let material = material_from_spki(cert.public_key())?;
    // Go keeps the last CN when there are several; refuse the ambiguity instead.
    let names: Vec<_> = cert.subject().iter_common_name().collect();
    let common_name = match names.as_slice() {
        [] => String::new(),
        [cn] => cn
            .as_str()
            .map_err(|e| KeyError::CommonNameNotText {
                reason: e.to_string(),
            })?
            .to_string(),
        many => return Err(KeyError::CommonNameCount { count: many.len() }),
    };
    let validity = cert.validity();
    let certificate = Certificate {
        common_name,
        not_before: validity.not_before.to_datetime(),
        not_after: validity.not_after.to_datetime(),
    };
    Ok((material, certificate))
}

/// The tag of a private-key PEM block anywhere in `text` (`PRIVATE KEY`, `EC PRIVATE KEY`,
/// `ENCRYPTED PRIVATE KEY`, ...).
fn private_pem_tag(text: &str) -> Option<&str> {
    text.split("-----BEGIN ")
        .skip(1)
        .filter_map(|after| after.split_once("-----").map(|(tag, _)| tag))
        .find(|tag| tag.contains("PRIVATE KEY"))
}

/// PKCS#8, SEC1 and PKCS#1 private keys are SEQUENCEs that start with an INTEGER version, while a
/// SubjectPublicKeyInfo starts with a SEQUENCE.
fn looks_like_private_key_der(der: &[u8]) -> bool {
    let after_header = match der {
        [0x30, len, rest @ ..] if *len < 0x80 => rest,
        [0x30, 0x81, _, rest @ ..] => rest,
        [0x30, 0x82, _, _, rest @ ..] => rest,
        _ => return false,
    };
    matches!(after_header, [0x02, 0x01, 0x00..=0x01, ..])
}

/// Structurally DER `SEQUENCE { INTEGER r, INTEGER s }` for P-256: short lengths, minimal positive
/// integers of at most 33 bytes, nothing after. ring re-checks this; here it picks the error.
fn is_der_ecdsa_signature(sig: &[u8]) -> bool {
    fn integer(input: &[u8]) -> Option<&[u8]> {
        let [0x02, len, rest @ ..] = input else {
            return None;
        };
        let len = usize::from(*len);
        let value = rest.get(..len)?;
        let minimal_positive = match value {
            [] => false,
            [first, ..] if first & 0x80 != 0 => false,
            [0x00, second, ..] => second & 0x80 != 0,
            _ => true,
        };
        (minimal_positive && len <= 33)
            .then(|| rest.get(len..))
            .flatten()
    }
    let [0x30, len, body @ ..] = sig else {
        return false;
    };
    if usize::from(*len) != body.len() || *len >= 0x80 {
        return false;
    }
    integer(body)
        .and_then(integer)
        .is_some_and(|rest| rest.is_empty())
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// Bit length of a big-endian number without leading zero bytes.
fn bit_length(bytes: &[u8]) -> usize {
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
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
    use serde_json::Value;
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::OnceLock;

    const TRUST_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/trust-data");
    const ALICE_ROOT_CERT_ID: &str =
        "a873ab3f157cfd51c9ccdc445caac92e8aef9f57881169d3bc3cc4868a20add2";
    const ALICE_ROOT_CANONICAL_ID: &str =
        "17960e3926cbb155f6a22f92b6608646ed6dc2152308484045e3611c0c6afaab";
    const BOB_ROOT_CERT_ID: &str =
        "2b53d5708f0defb3e7023b59a32d85938139ee613b85f1aa862cd484f53edc2e";
    const BOB_ROOT_CANONICAL_ID: &str =
        "574418eb57a9b9f9bb935492932d8788e660be978e2fc4a25238b90998fe429d";

    // ---- helpers -------------------------------------------------------------------------------

    fn trust_data() -> PathBuf {
        let dir = PathBuf::from(TRUST_DATA);
        assert!(
            dir.join("docker.io/phbelitz").is_dir(),
            "the real trust data is missing: expected {} (shared/ beside the crate); these tests need it",
            dir.display()
        );
        dir
    }

    fn read(path: &Path) -> Vec<u8> {
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }

    fn json_files_under(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                json_files_under(&path, out);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }

    /// Every image's TUF files, as (image, path, parsed JSON).
    fn tuf_files() -> Vec<(String, PathBuf, Value)> {
        let images = trust_data().join("docker.io/phbelitz");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&images).unwrap() {
            let image_dir = entry.unwrap().path();
            let image = image_dir
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let mut files = Vec::new();
            json_files_under(&image_dir.join("_trust/tuf"), &mut files);
            for path in files {
                let value: Value = serde_json::from_slice(&read(&path)).unwrap();
                out.push((image.clone(), path, value));
            }
        }
        assert!(
            out.len() >= 20,
            "expected the real trust data, found only {} files",
            out.len()
        );
        out
    }

    /// (listed ID, key) for the keys a file lists: root `keys` and targets `delegations.keys`.
    fn listed_keys(file: &Value) -> Vec<(String, String, String)> {
        let signed = &file["signed"];
        let maps = [&signed["keys"], &signed["delegations"]["keys"]];
        maps.iter()
            .filter_map(|m| m.as_object())
            .flatten()
            .map(|(id, key)| {
                let keytype = key["keytype"].as_str().unwrap().to_string();
                let public = key["keyval"]["public"].as_str().unwrap().to_string();
                (id.clone(), keytype, public)
            })
            .collect()
    }

    fn root_key(image: &str, id: &str) -> PublicKey {
        let path = trust_data().join(format!("docker.io/phbelitz/{image}/_trust/tuf/root.json"));
        let root: Value = serde_json::from_slice(&read(&path)).unwrap();
        let key = &root["signed"]["keys"][id];
        PublicKey::from_tuf(
            key["keytype"].as_str().unwrap(),
            key["keyval"]["public"].as_str().unwrap(),
        )
        .unwrap()
    }

    fn pinned_file(name: &str) -> PinnedKey {
        let path = trust_data().join("keys").join(name);
        PinnedKey::parse(&read(&path), name).unwrap()
    }

    /// Go-canonical JSON (sorted keys by bytes, no whitespace, only `"` and `\` escaped), enough for
    /// the real data; the crate's own encoder lives in `canonical`.
    fn canonical(value: &Value, out: &mut Vec<u8>) {
        match value {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Number(n) => {
                assert!(n.is_i64() || n.is_u64(), "non-integer {n} in signed data");
                out.extend_from_slice(n.to_string().as_bytes());
            }
            Value::String(s) => {
                out.push(b'"');
                for c in s.chars() {
                    if c == '"' || c == '\\' {
                        out.push(b'\\');
                    }
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                out.push(b'"');
            }
            Value::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    canonical(item, out);
                }
                out.push(b']');
            }
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                out.push(b'{');
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    canonical(&Value::String(k.clone()), out);
                    out.push(b':');
                    canonical(v, out);
                }
                out.push(b'}');
            }
        }
    }

    fn tuf(keytype: &str, der: &[u8]) -> Result<PublicKey, KeyError> {
        PublicKey::from_tuf(keytype, &BASE64.encode(der))
    }

    fn flip_bit(bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        out[bytes.len() / 2] ^= 0x01;
        out
    }

    fn run_openssl(args: &[&str], stdin: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut child = Command::new("openssl")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("the RSA tests generate keys with the `openssl` command, which failed to start: {e}")
            });
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// A fresh RSA key from `openssl genpkey` (ring cannot generate RSA): (PKCS#8 DER, SPKI DER).
    fn openssl_rsa(bits: u32) -> (Vec<u8>, Vec<u8>) {
        let bits_opt = format!("rsa_keygen_bits:{bits}");
        // genpkey writes PKCS#1 when asked for DER; pkcs8 -topk8 turns it into what ring reads.
        let pkcs1 = run_openssl(
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                &bits_opt,
                "-outform",
                "DER",
            ],
            b"",
        );
        let pkcs8 = run_openssl(
            &[
                "pkcs8", "-topk8", "-nocrypt", "-inform", "DER", "-outform", "DER",
            ],
            &pkcs1,
        );
        let spki = run_openssl(
            &["pkey", "-inform", "DER", "-pubout", "-outform", "DER"],
            &pkcs8,
        );
        (pkcs8, spki)
    }

    fn rsa_2048() -> &'static (Vec<u8>, Vec<u8>) {
        static KEY: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
        KEY.get_or_init(|| openssl_rsa(2048))
    }

    fn p256_pkcs8(alg: &'static ring::signature::EcdsaSigningAlgorithm) -> (EcdsaKeyPair, Vec<u8>) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
        let spki = [&P256_SPKI_PREFIX[..], pair.public_key().as_ref()].concat();
        (pair, spki)
    }

    fn self_signed_pem(key: &rcgen::KeyPair, cn: &str, days: (i64, i64)) -> String {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let now = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap();
        params.not_before = now + time::Duration::days(days.0);
        params.not_after = now + time::Duration::days(days.1);
        params.self_signed(key).unwrap().pem()
    }

    // ---- real data -------------------------------------------------------------------------------

    #[test]
    fn real_data_every_key_id_is_the_id_it_is_listed_under() {
        let mut checked = 0;
        for (_, path, file) in tuf_files() {
            for (listed_id, keytype, public) in listed_keys(&file) {
                let key = PublicKey::from_tuf(&keytype, &public)
                    .unwrap_or_else(|e| panic!("{}: key {listed_id}: {e}", path.display()));
                assert_eq!(key.id(), listed_id, "{}", path.display());
                assert_eq!(key.keytype().as_str(), keytype);
                checked += 1;
            }
        }
        assert!(checked >= 30, "only {checked} keys found in the real data");
    }

    #[test]
    fn real_data_every_signature_notary_made_verifies() {
        let files = tuf_files();
        let mut checked = 0;
        for (image, path, file) in &files {
            let keys: Vec<PublicKey> = files
                .iter()
                .filter(|(other, _, _)| other == image)
                .flat_map(|(_, _, f)| listed_keys(f))
                .map(|(_, keytype, public)| PublicKey::from_tuf(&keytype, &public).unwrap())
                .collect();
            let mut msg = Vec::new();
            canonical(&file["signed"], &mut msg);
            for sig in file["signatures"].as_array().unwrap() {
                let keyid = sig["keyid"].as_str().unwrap();
                let key = keys
                    .iter()
                    .find(|k| k.id() == keyid)
                    .unwrap_or_else(|| panic!("{}: no key {keyid}", path.display()));
                let raw = BASE64.decode(sig["sig"].as_str().unwrap()).unwrap();
                assert_eq!(raw.len(), 64, "notary writes raw r||s");
                key.verify(sig["method"].as_str().unwrap(), &msg, &raw)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let err = key.verify("ecdsa", &flip_bit(&msg), &raw).unwrap_err();
                assert!(matches!(err, KeyError::BadSignature { .. }), "{err}");
                checked += 1;
            }
        }
        assert!(checked >= 25, "only {checked} signatures checked");
    }

    #[test]
    fn real_root_certificate_reports_cn_and_validity() {
        let alice = root_key("alice-image", ALICE_ROOT_CERT_ID);
        assert_eq!(alice.keytype(), KeyType::EcdsaX509);
        let cert = alice
            .certificate()
            .expect("ecdsa-x509 key has a certificate");
        assert_eq!(cert.common_name, "docker.io/phbelitz/alice-image");
        assert_eq!(
            cert.not_before,
            time::macros::datetime!(2019-09-25 13:56:33 UTC)
        );
        assert_eq!(
            cert.not_after,
            time::macros::datetime!(2029-09-22 13:56:33 UTC)
        );

        let bob = root_key("bob-image", BOB_ROOT_CERT_ID);
        assert_eq!(
            bob.certificate().unwrap().common_name,
            "docker.io/phbelitz/delegation"
        );
        assert!(root_key(
            "alice-image",
            "811e8c978dfde411ab4c467883f639554f11de18a5ce099e0ef61b6754ee9bb2"
        )
        .certificate()
        .is_none());
    }

    #[test]
    fn root_certificate_canonical_id_is_the_id_of_its_plain_public_key() {
        let alice = root_key("alice-image", ALICE_ROOT_CERT_ID);
        assert_eq!(alice.id(), ALICE_ROOT_CERT_ID);
        assert_eq!(alice.canonical_id(), ALICE_ROOT_CANONICAL_ID);
        let bob = root_key("bob-image", BOB_ROOT_CERT_ID);
        assert_eq!(bob.canonical_id(), BOB_ROOT_CANONICAL_ID);

        // The plain ecdsa key of the same SPKI has the canonical ID as its TUF ID and is the same key.
        let spki = pem::parse(alice.public_key_pem()).unwrap().into_contents();
        let plain = tuf("ecdsa", &spki).unwrap();
        assert_eq!(plain.id(), ALICE_ROOT_CANONICAL_ID);
        assert_eq!(plain.canonical_id(), plain.id());
        assert!(plain.same_key(&alice) && alice.same_key(&plain));
        assert!(!bob.same_key(&alice));
    }

    #[test]
    fn one_key_under_two_certificates_is_one_key() {
        // alice-image and sample-image have different root certificates (different IDs) for one key.
        let alice = root_key("alice-image", ALICE_ROOT_CERT_ID);
        let sample = root_key(
            "sample-image",
            "950430dd6ff06b4a3b4e6f29f7fc7e07f1386718fc936795b0ca27d85645cace",
        );
        assert_ne!(alice.id(), sample.id());
        assert!(alice.same_key(&sample));
        assert_eq!(alice.canonical_id(), sample.canonical_id());
        assert_eq!(
            sample.certificate().unwrap().common_name,
            "docker.io/phbelitz/sample-image"
        );
    }

    #[test]
    fn pinned_key_files_match_their_own_root_only() {
        let a = pinned_file("phbelitz-a.pub");
        let b = pinned_file("phbelitz-b.pub");
        let alice = root_key("alice-image", ALICE_ROOT_CERT_ID);
        let bob = root_key("bob-image", BOB_ROOT_CERT_ID);
        assert!(a.matches(&alice) && !a.matches(&bob));
        assert!(b.matches(&bob) && !b.matches(&alice));
        assert_eq!(a.canonical_id(), ALICE_ROOT_CANONICAL_ID);
        assert_eq!(b.canonical_id(), BOB_ROOT_CANONICAL_ID);
        assert_eq!(a.origin(), "phbelitz-a.pub");
        // What we print for a root is what `docker trust key generate` wrote (a has no header).
        let file_a = String::from_utf8(read(&trust_data().join("keys/phbelitz-a.pub"))).unwrap();
        assert_eq!(alice.public_key_pem().trim_end(), file_a.trim_end());
    }

    /// The facts page says `targets/releases.json` of alice-image was seen signed under key ID
    /// 4502d2... while the delegation listed 87a275.... This copy of the data does not show that:
    /// releases.json is signed under exactly the IDs targets.json lists, both plain ecdsa keys (whose
    /// canonical ID is their ID), and neither 4502d2... nor 87a275... occurs in the folder. The
    /// relation itself is proved on a generated certificate in
    /// `delegation_signed_under_the_canonical_id_of_its_certificate_key`.
    #[test]
    fn alice_releases_is_signed_under_the_ids_its_delegation_lists() {
        let tuf_dir = trust_data().join("docker.io/phbelitz/alice-image/_trust/tuf");
        let targets: Value = serde_json::from_slice(&read(&tuf_dir.join("targets.json"))).unwrap();
        let releases: Value =
            serde_json::from_slice(&read(&tuf_dir.join("targets/releases.json"))).unwrap();
        let role = targets["signed"]["delegations"]["roles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "targets/releases")
            .unwrap();
        let mut listed: Vec<&str> = role["keyids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        let mut signed: Vec<&str> = releases["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["keyid"].as_str().unwrap())
            .collect();
        listed.sort();
        signed.sort();
        assert_eq!(listed, signed);
        for (id, keytype, public) in listed_keys(&targets) {
            let key = PublicKey::from_tuf(&keytype, &public).unwrap();
            assert_eq!(key.keytype(), KeyType::Ecdsa);
            assert_eq!(key.canonical_id(), id);
        }
        for (_, path, _) in tuf_files() {
            let text = String::from_utf8(read(&path)).unwrap();
            assert!(
                !text.contains("4502d2") && !text.contains("87a275"),
                "{}",
                path.display()
            );
        }
    }

    // ---- generated keys: each method ---------------------------------------------------------------

    #[test]
    fn eddsa_signature_verifies_and_a_flipped_bit_does_not() {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let key = tuf("ed25519", pair.public_key().as_ref()).unwrap();
        assert_eq!(key.canonical_id(), key.id());
        let sig = pair.sign(b"signed bytes");
        key.verify("eddsa", b"signed bytes", sig.as_ref()).unwrap();
        key.verify("EdDSA", b"signed bytes", sig.as_ref()).unwrap();
        let err = key
            .verify("eddsa", b"signed bytes", &flip_bit(sig.as_ref()))
            .unwrap_err();
        assert!(
            matches!(
                err,
                KeyError::BadSignature {
                    method: "eddsa",
                    len: 64,
                    ..
                }
            ),
            "{err}"
        );
        let err = key
            .verify("eddsa", b"signed bytez", sig.as_ref())
            .unwrap_err();
        assert!(matches!(err, KeyError::BadSignature { .. }), "{err}");
        for method in ["ecdsa", "rsapss", "rsapkcs1v15"] {
            let err = key
                .verify(method, b"signed bytes", sig.as_ref())
                .unwrap_err();
            assert!(matches!(err, KeyError::MethodMismatch { .. }), "{err}");
        }
        // Its SPKI round-trips through a pinned key, and an ed25519 SPKI pins the raw key.
        let pinned = PinnedKey::parse(key.public_key_pem().as_bytes(), "ed.pub").unwrap();
        assert!(pinned.matches(&key));
        assert_eq!(pinned.canonical_id(), key.id());
    }

    #[test]
    fn ecdsa_raw_and_der_signatures_verify_and_flipped_bits_do_not() {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let fixed = EcdsaKeyPair::from_pkcs8(
            &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8.as_ref(),
            &rng,
        )
        .unwrap();
        let asn1 = EcdsaKeyPair::from_pkcs8(
            &ring_sig::ECDSA_P256_SHA256_ASN1_SIGNING,
            pkcs8.as_ref(),
            &rng,
        )
        .unwrap();
        let key = tuf(
            "ecdsa",
            &[&P256_SPKI_PREFIX[..], fixed.public_key().as_ref()].concat(),
        )
        .unwrap();
        assert_eq!(key.canonical_id(), key.id());

        let raw = fixed.sign(&rng, b"msg").unwrap();
        assert_eq!(raw.as_ref().len(), 64);
        key.verify("ecdsa", b"msg", raw.as_ref()).unwrap();
        key.verify("ECDSA", b"msg", raw.as_ref()).unwrap();
        let err = key
            .verify("ecdsa", b"msg", &flip_bit(raw.as_ref()))
            .unwrap_err();
        assert!(
            matches!(
                err,
                KeyError::BadSignature {
                    method: "ecdsa",
                    len: 64,
                    ..
                }
            ),
            "{err}"
        );

        let der = asn1.sign(&rng, b"msg").unwrap();
        assert!(is_der_ecdsa_signature(der.as_ref()));
        key.verify("ecdsa", b"msg", der.as_ref()).unwrap();
        let err = key.verify("ecdsa", b"msg!", der.as_ref()).unwrap_err();
        assert!(matches!(err, KeyError::BadSignature { .. }), "{err}");
        // Flipping a bit of s keeps the DER shape but breaks the signature.
        let mut flipped = der.as_ref().to_vec();
        *flipped.last_mut().unwrap() ^= 1;
        let err = key.verify("ecdsa", b"msg", &flipped).unwrap_err();
        assert!(matches!(err, KeyError::BadSignature { .. }), "{err}");

        for method in ["eddsa", "rsapss", "rsapkcs1v15"] {
            let err = key.verify(method, b"msg", raw.as_ref()).unwrap_err();
            assert!(matches!(err, KeyError::MethodMismatch { .. }), "{err}");
        }
    }

    #[test]
    fn ecdsa_signature_of_wrong_length_is_refused_as_neither_form() {
        let (pair, spki) = p256_pkcs8(&ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING);
        let key = tuf("ecdsa", &spki).unwrap();
        let sig = pair.sign(&SystemRandom::new(), b"msg").unwrap();
        let short = &sig.as_ref()[..63];
        let err = key.verify("ecdsa", b"msg", short).unwrap_err();
        assert!(
            matches!(err, KeyError::EcdsaSignatureFormat { len: 63 }),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "ECDSA signature is 63 bytes: neither the 64-byte raw form nor valid DER"
        );
        for bad in [
            &[][..],
            &[0x30, 0x00][..],
            &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01][..],
        ] {
            let err = key.verify("ecdsa", b"msg", bad).unwrap_err();
            assert!(
                matches!(err, KeyError::EcdsaSignatureFormat { .. }),
                "{err}"
            );
        }
        // Well-formed DER that is not a signature of this key.
        let err = key
            .verify(
                "ecdsa",
                b"msg",
                &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
            )
            .unwrap_err();
        assert!(matches!(err, KeyError::BadSignature { .. }), "{err}");
    }

    #[test]
    fn rsa_pss_and_pkcs1_signatures_verify_and_flipped_bits_do_not() {
        let (pkcs8, spki) = rsa_2048();
        let pair = RsaKeyPair::from_pkcs8(pkcs8).unwrap();
        let key = tuf("rsa", spki).unwrap();
        assert_eq!(key.canonical_id(), key.id());
        let rng = SystemRandom::new();
        for (method, padding) in [
            (
                "rsapss",
                &ring_sig::RSA_PSS_SHA256 as &dyn ring_sig::RsaEncoding,
            ),
            ("rsapkcs1v15", &ring_sig::RSA_PKCS1_SHA256),
        ] {
            let mut sig = vec![0; pair.public().modulus_len()];
            pair.sign(padding, &rng, b"msg", &mut sig).unwrap();
            key.verify(method, b"msg", &sig).unwrap();
            key.verify(&method.to_uppercase(), b"msg", &sig).unwrap();
            let err = key.verify(method, b"msg", &flip_bit(&sig)).unwrap_err();
            assert!(matches!(err, KeyError::BadSignature { .. }), "{err}");
            // A PSS signature is not a PKCS#1 v1.5 one and vice versa.
            let other = if method == "rsapss" {
                "rsapkcs1v15"
            } else {
                "rsapss"
            };
            assert!(key.verify(other, b"msg", &sig).is_err());
            for wrong in ["ecdsa", "eddsa"] {
                let err = key.verify(wrong, b"msg", &sig).unwrap_err();
                assert!(matches!(err, KeyError::MethodMismatch { .. }), "{err}");
            }
        }
        // The SPKI we print is the one openssl wrote.
        assert_eq!(
            pem::parse(key.public_key_pem()).unwrap().contents(),
            spki.as_slice()
        );
    }

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
    fn unknown_method_is_refused_by_name() {
        let (_, spki) = p256_pkcs8(&ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING);
        let key = tuf("ecdsa", &spki).unwrap();
        let err = key.verify("ecdsa-sha1", b"", &[0; 64]).unwrap_err();
        assert!(matches!(err, KeyError::UnknownMethod { .. }), "{err}");
        assert!(err.to_string().contains("`ecdsa-sha1`"));
    }

    // ---- certificates --------------------------------------------------------------------------------

    #[test]
    fn ecdsa_x509_key_from_generated_certificate_verifies_its_keys_signatures() {
        let cert_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let pem_text = self_signed_pem(&cert_key, "docker.io/library/alpine", (-1, 3650));
        let key = PublicKey::from_tuf("ecdsa-x509", &BASE64.encode(&pem_text)).unwrap();
        let cert = key.certificate().unwrap();
        assert_eq!(cert.common_name, "docker.io/library/alpine");
        assert!(cert.not_before < time::OffsetDateTime::now_utc());
        assert!(cert.not_after - cert.not_before == time::Duration::days(3651));

        // rcgen's key signs (DER); ring re-imports it to sign raw r||s.
        let rng = SystemRandom::new();
        let fixed = EcdsaKeyPair::from_pkcs8(
            &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            &cert_key.serialize_der(),
            &rng,
        )
        .unwrap();
        let asn1 = EcdsaKeyPair::from_pkcs8(
            &ring_sig::ECDSA_P256_SHA256_ASN1_SIGNING,
            &cert_key.serialize_der(),
            &rng,
        )
        .unwrap();
        key.verify(
            "ecdsa",
            b"root",
            fixed.sign(&rng, b"root").unwrap().as_ref(),
        )
        .unwrap();
        key.verify("ecdsa", b"root", asn1.sign(&rng, b"root").unwrap().as_ref())
            .unwrap();
        let err = key.verify("eddsa", b"root", &[0; 64]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "signature method `eddsa` does not fit key type ecdsa-x509"
        );
        let err = key.verify("rsapss", b"root", &[0; 256]).unwrap_err();
        assert!(matches!(err, KeyError::MethodMismatch { .. }), "{err}");

        // Pinning the certificate itself pins its public key.
        let pinned = PinnedKey::parse(pem_text.as_bytes(), "cert.pem").unwrap();
        assert!(pinned.matches(&key));
        assert_eq!(pinned.canonical_id(), key.canonical_id());
    }

    #[test]
    fn delegation_signed_under_the_canonical_id_of_its_certificate_key() {
        // A delegation lists a certificate key (its ID); the signer names its key by the canonical ID,
        // which is the TUF ID of the plain key of the certificate's SPKI: the same key either way.
        let cert_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let listed = PublicKey::from_tuf(
            "ecdsa-x509",
            &BASE64.encode(self_signed_pem(&cert_key, "releases", (0, 1))),
        )
        .unwrap();
        let plain = tuf(
            "ecdsa",
            &rcgen::PublicKeyData::subject_public_key_info(&cert_key),
        )
        .unwrap();
        assert_ne!(listed.id(), listed.canonical_id());
        assert_eq!(listed.canonical_id(), plain.id());
        assert!(listed.same_key(&plain));
    }

    #[test]
    fn rsa_x509_key_reports_its_certificate_and_verifies() {
        let (pkcs8, spki) = rsa_2048();
        let cert_key = rcgen::KeyPair::try_from(pkcs8.as_slice()).unwrap();
        let pem_text = self_signed_pem(&cert_key, "docker.io/x/rsa", (-2, 2));
        let key = PublicKey::from_tuf("rsa-x509", &BASE64.encode(&pem_text)).unwrap();
        assert_eq!(key.certificate().unwrap().common_name, "docker.io/x/rsa");
        assert_eq!(key.canonical_id(), tuf("rsa", spki).unwrap().id());
        let pair = RsaKeyPair::from_pkcs8(pkcs8).unwrap();
        let mut sig = vec![0; pair.public().modulus_len()];
        pair.sign(
            &ring_sig::RSA_PSS_SHA256,
            &SystemRandom::new(),
            b"m",
            &mut sig,
        )
        .unwrap();
        key.verify("rsapss", b"m", &sig).unwrap();
        let err = key.verify("ecdsa", b"m", &sig).unwrap_err();
        assert_eq!(
            err.to_string(),
            "signature method `ecdsa` does not fit key type rsa-x509"
        );
    }

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

    // ---- malformed input -------------------------------------------------------------------------

    #[test]
    fn malformed_keys_are_refused_without_panicking() {
        let alice = root_key("alice-image", ALICE_ROOT_CERT_ID);
        let spki = pem::parse(alice.public_key_pem()).unwrap().into_contents();
        let root: Value = serde_json::from_slice(&read(
            &trust_data().join("docker.io/phbelitz/alice-image/_trust/tuf/root.json"),
        ))
        .unwrap();
        let cert_pem = BASE64
            .decode(
                root["signed"]["keys"][ALICE_ROOT_CERT_ID]["keyval"]["public"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
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

    // ---- pinned key files ------------------------------------------------------------------------

    #[test]
    fn pinned_key_accepts_pem_with_and_without_headers_certificate_and_bare_base64() {
        let alice = root_key("alice-image", ALICE_ROOT_CERT_ID);
        let spki = pem::parse(alice.public_key_pem()).unwrap().into_contents();
        let b64 = BASE64.encode(&spki);
        let wrapped: String = b64
            .as_bytes()
            .chunks(20)
            .map(|c| format!("  {}\n", std::str::from_utf8(c).unwrap()))
            .collect();
        let with_header =
            format!("-----BEGIN PUBLIC KEY-----\nrole: root\n\n{b64}\n-----END PUBLIC KEY-----\n");
        let crlf = with_header.replace('\n', "\r\n");
        let root: Value = serde_json::from_slice(&read(
            &trust_data().join("docker.io/phbelitz/alice-image/_trust/tuf/root.json"),
        ))
        .unwrap();
        let cert_pem = BASE64
            .decode(
                root["signed"]["keys"][ALICE_ROOT_CERT_ID]["keyval"]["public"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        for (what, bytes) in [
            ("plain PEM", alice.public_key_pem().into_bytes()),
            ("PEM with role header", with_header.into_bytes()),
            ("PEM with CRLF", crlf.into_bytes()),
            ("certificate PEM", cert_pem),
            ("bare base64", b64.clone().into_bytes()),
            ("wrapped base64", wrapped.into_bytes()),
        ] {
            let pinned = PinnedKey::parse(&bytes, what).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(pinned.matches(&alice), "{what}");
            assert_eq!(pinned.canonical_id(), ALICE_ROOT_CANONICAL_ID, "{what}");
        }
    }

    #[test]
    fn pinned_key_refuses_garbage_with_the_file_name() {
        for (bytes, needle) in [
            (&b"hello world"[..], "neither PEM nor base64"),
            (b"", "empty"),
            (b"\xff\xfe", "not text"),
            (
                b"-----BEGIN PUBLIC KEY-----\nnot base64!\n-----END PUBLIC KEY-----\n",
                "PEM does not parse",
            ),
            (
                b"-----BEGIN PUBLIC KEY-----\nMFkw\n",
                "no complete PEM block",
            ),
            (
                b"-----BEGIN RSA PUBLIC KEY-----\nMFkw\n-----END RSA PUBLIC KEY-----\n",
                "`RSA PUBLIC KEY`",
            ),
            (b"aGVsbG8gd29ybGQ=", "not a DER SubjectPublicKeyInfo"),
        ] {
            let err = PinnedKey::parse(bytes, "root.pub").unwrap_err();
            let msg = err.to_string();
            assert!(msg.starts_with("root.pub: "), "{msg}");
            assert!(msg.contains(needle), "{msg} lacks {needle}");
        }
        // Every truncation of a real file is refused or read as that same key, never a panic.
        let b = read(&trust_data().join("keys/phbelitz-b.pub"));
        let bob = root_key("bob-image", BOB_ROOT_CERT_ID);
        for len in 0..b.len() {
            if let Ok(pinned) = PinnedKey::parse(&b[..len], "cut.pub") {
                assert!(
                    pinned.matches(&bob),
                    "a truncation of {len} bytes read as another key"
                );
            }
        }
        let a = read(&trust_data().join("keys/phbelitz-a.pub"));
        let two = [&a[..], &a[..]].concat();
        let err = PinnedKey::parse(&two, "two.pub").unwrap_err();
        assert!(err.to_string().contains("2 PEM blocks"), "{err}");
    }

    #[test]
    fn pinned_key_refuses_private_keys() {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pkcs8_pem = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.as_ref()));
        // As `docker trust key generate` stores the private half.
        let docker_private = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nrole: root\n\nMIHuMEkGCSqGSIb3DQEFDTA8\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let sec1 = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI\n-----END EC PRIVATE KEY-----\n";
        for bytes in [
            pkcs8_pem.as_bytes(),
            docker_private.as_bytes(),
            sec1.as_bytes(),
        ] {
            let err = PinnedKey::parse(bytes, "key.pem").unwrap_err();
            assert!(matches!(err, KeyError::PrivateKey { .. }), "{err}");
            assert!(
                err.to_string()
                    .contains("this is a private key; pin the public key"),
                "{err}"
            );
        }
        let err =
            PinnedKey::parse(BASE64.encode(pkcs8.as_ref()).as_bytes(), "key.b64").unwrap_err();
        assert!(matches!(err, KeyError::PrivateKey { .. }), "{err}");
        let (rsa_pkcs8, _) = rsa_2048();
        let err = PinnedKey::parse(BASE64.encode(rsa_pkcs8).as_bytes(), "rsa.b64").unwrap_err();
        assert!(matches!(err, KeyError::PrivateKey { .. }), "{err}");
    }
}
