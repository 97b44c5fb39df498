//! Key IDs. A TUF key ID is the hash of the key as metadata lists it, so one key has several: an
//! x509 key's ID hashes its certificate, while its canonical ID (docker's name for root keys, and
//! what some delegation signatures carry) is the ID of the plain key inside. IDs name keys; they
//! never decide whether two keys are the same (see [`PublicKey::same_key`]).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

#[cfg(doc)]
use super::PublicKey;
use super::{KeyType, Material};

impl Material {
    /// The TUF ID of the plain (non-certificate) key holding this material.
    pub(super) fn plain_id(&self) -> String {
        let public = match self {
            Material::Ed25519(k) => BASE64.encode(k),
            _ => BASE64.encode(self.spki_der()),
        };
        tuf_key_id(self.plain_keytype(), &public)
    }
}

/// `{"keytype":T,"keyval":{"private":null,"public":B64}}` hashed. `public` was checked to be base64,
/// so it needs no escaping.
pub(super) fn tuf_key_id(keytype: KeyType, public_b64: &str) -> String {
    let canonical =
        format!(r#"{{"keytype":"{keytype}","keyval":{{"private":null,"public":"{public_b64}"}}}}"#);
    hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        canonical.as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::*;
    use serde_json::Value;

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
}
