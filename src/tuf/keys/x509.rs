//! Certificates, as x509 key types carry them: the public key inside, and what a root check needs
//! from the rest (the common name and the validity window).

use x509_parser::certificate::X509Certificate;

use super::spki::{material_from_spki, whole_der};
use super::{KeyError, KeyType, Material};

/// What a root check needs from an x509 key's certificate: the CN (must name the repository) and
/// the validity window (checked by the caller against its own clock).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    /// Empty when the subject has no CN (the repository-name check then fails, naming it).
    pub common_name: String,
    pub not_before: time::OffsetDateTime,
    pub not_after: time::OffsetDateTime,
    /// Basic constraints say CA: notary refuses such a certificate as a root key.
    pub is_ca: bool,
    /// The issuer signed it with SHA-1 (RSA, ECDSA or DSA), which notary refuses; the name of
    /// that algorithm.
    pub sha1_signature: Option<&'static str>,
}

/// SHA-1 signature algorithms by OID, as Go's x509 names them.
const SHA1_SIGNATURES: [(&str, &str); 3] = [
    ("1.2.840.113549.1.1.5", "SHA1-RSA"),
    ("1.2.840.10045.4.1", "ECDSA-SHA1"),
    ("1.2.840.10040.4.3", "DSA-SHA1"),
];

/// The base64 of an x509 key holds PEM text with exactly one CERTIFICATE block.
pub(super) fn parse_certificate_pem(
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

pub(super) fn certificate_from_der(der: &[u8]) -> Result<(Material, Certificate), KeyError> {
    let cert: X509Certificate = whole_der(der, |reason| KeyError::Certificate { reason })?;
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
    let oid = cert.signature_algorithm.algorithm.to_id_string();
    let certificate = Certificate {
        common_name,
        not_before: validity.not_before.to_datetime(),
        not_after: validity.not_after.to_datetime(),
        is_ca: cert.is_ca(),
        sha1_signature: SHA1_SIGNATURES
            .iter()
            .find(|(o, _)| *o == oid)
            .map(|(_, name)| *name),
    };
    Ok((material, certificate))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{KeyError, KeyType, PinnedKey, PublicKey};
    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine as _;
    use ring::rand::SystemRandom;
    use ring::signature::{self as ring_sig, EcdsaKeyPair, RsaKeyPair};

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

    /// A self-signed P-256 certificate made by the real openssl, signed with `digest`.
    fn openssl_cert(digest: &str, ca: bool) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("cert.der");
        let ext = if ca {
            "basicConstraints=critical,CA:TRUE"
        } else {
            "basicConstraints=CA:FALSE"
        };
        let status = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args([
                "-nodes",
                "-keyout",
                "/dev/null",
                "-subj",
                "/CN=example.com",
                "-days",
                "1",
            ])
            .args([
                &format!("-{digest}"),
                "-addext",
                ext,
                "-outform",
                "DER",
                "-out",
            ])
            .arg(&out)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("these tests make certificates with the openssl command");
        assert!(status.success(), "openssl req -{digest}");
        std::fs::read(out).unwrap()
    }

    #[test]
    fn sha1_and_ca_certificates_are_recognised_as_notary_refuses_them() {
        let (_, sha1) = super::certificate_from_der(&openssl_cert("sha1", false)).unwrap();
        assert_eq!(
            (sha1.sha1_signature, sha1.is_ca),
            (Some("ECDSA-SHA1"), false)
        );
        let (_, ok) = super::certificate_from_der(&openssl_cert("sha256", false)).unwrap();
        assert_eq!((ok.sha1_signature, ok.is_ca), (None, false));
        let (_, ca) = super::certificate_from_der(&openssl_cert("sha256", true)).unwrap();
        assert!(ca.is_ca);
    }
}
