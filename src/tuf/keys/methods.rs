//! Signature methods and the check per method. Each method notary writes fits exactly one plain
//! key type; a signature is checked only under a method that fits the key, and ECDSA accepts the
//! raw r||s form notary writes as well as DER.

use ring::signature::{self as ring_sig, RsaPublicKeyComponents, UnparsedPublicKey};

use super::{KeyError, KeyType, Material, PublicKey};

impl PublicKey {
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

#[cfg(test)]
mod tests {
    use super::super::spki::P256_SPKI_PREFIX;
    use super::super::testing::*;
    use super::super::PinnedKey;
    use super::*;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine as _;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};

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
            let msg = signed_canonical(path);
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

    /// `err` says a `len`-byte signature under `method` does not verify.
    fn assert_bad_signature(err: &KeyError, method: &str, len: usize) {
        assert!(
            matches!(err, KeyError::BadSignature { method: m, len: l, .. } if *m == method && *l == len),
            "{err}"
        );
    }

    /// A 64-byte `sig` of `msg` verifies under `method` and its other spelling `spelled`; with
    /// one bit flipped it is a bad signature under `method`.
    fn assert_verifies_flipped_does_not(
        key: &PublicKey,
        [method, spelled]: [&str; 2],
        msg: &[u8],
        sig: &[u8],
    ) {
        key.verify(method, msg, sig).unwrap();
        key.verify(spelled, msg, sig).unwrap();
        let err = key.verify(method, msg, &flip_bit(sig)).unwrap_err();
        assert_bad_signature(&err, method, 64);
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
        assert_verifies_flipped_does_not(&key, ["eddsa", "EdDSA"], b"signed bytes", sig.as_ref());
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
        assert_verifies_flipped_does_not(&key, ["ecdsa", "ECDSA"], b"msg", raw.as_ref());

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
    fn unknown_method_is_refused_by_name() {
        let (_, spki) = p256_pkcs8(&ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING);
        let key = tuf("ecdsa", &spki).unwrap();
        let err = key.verify("ecdsa-sha1", b"", &[0; 64]).unwrap_err();
        assert!(matches!(err, KeyError::UnknownMethod { .. }), "{err}");
        assert!(err.to_string().contains("`ecdsa-sha1`"));
    }
}
