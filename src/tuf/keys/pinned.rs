//! Root keys the user pins, read from files in the forms they come in: a PEM public key (as
//! `docker trust key generate` writes it), a PEM certificate, or bare base64 of the DER (as
//! Connaisseur configs hold it). A private key is refused by name, never read as its public half.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::spki::parse_spki;
use super::x509::certificate_from_der;
use super::{KeyError, Material, PublicKey};

/// A root key the user pinned, read from a file.
#[derive(Clone, Debug)]
pub struct PinnedKey {
    origin: String,
    material: Material,
    canonical_id: String,
}

impl PinnedKey {
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

    /// Accepts a PEM "PUBLIC KEY" (header lines such as `role: root` allowed, as `docker trust key
    /// generate` writes them), a PEM "CERTIFICATE" (its public key is pinned), or bare base64 of the
    /// DER SPKI (as Connaisseur configs hold it; whitespace allowed). Private keys are refused.
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

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{self as ring_sig, EcdsaKeyPair};

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
        let cert_pem = alice_root_cert_pem();
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
