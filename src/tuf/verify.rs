//! The checks every role goes through: one threshold check (distinct public keys, never signature
//! entries or key IDs) and one hash-and-length check. `Verified<T>` can only be built here, so code
//! that needs trusted data cannot be handed unverified data. A file is read only once its
//! threshold is met ([`verify_then_read`]), so no tree is ever built of data nobody signed.

use std::fmt;
use std::ops::Deref;

use ring::digest;

use crate::tuf::keys::PublicKey;
use crate::tuf::metadata::{FileMeta, Signed, SignedBytes, Targets};

/// Data whose signatures met its role's threshold. Only [`verify_then_read`] and
/// [`verify_signed`] construct it, over the bytes they checked; nothing else in the crate can.
#[derive(Debug, Clone)]
pub struct Verified<T> {
    inner: T,
    /// Key IDs (as listed by the role) of the distinct keys that signed validly.
    signers: Vec<String>,
}

impl<T> Verified<T> {
    /// Key IDs (as the role lists them) of the distinct keys that signed validly.
    pub fn signers(&self) -> &[String] {
        &self.signers
    }

    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T> Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl Verified<Targets> {
    /// The same file, its targets narrowed to those within a delegation's `paths` (string
    /// prefixes; `""`, what `notary delegation add --all-paths` writes, admits every name), and how
    /// many were dropped. Narrowing only removes, so what remains is still what was signed.
    pub fn narrowed_to(mut self, paths: &[String]) -> (Verified<Targets>, usize) {
        if paths.iter().any(String::is_empty) {
            return (self, 0);
        }
        let before = self.inner.targets.len();
        self.inner.targets.retain(|t, _| within(t, paths));
        let dropped = before - self.inner.targets.len();
        (self, dropped)
    }
}

/// Whether `name` is within one of `paths` (string prefixes; `""` admits all).
pub fn within(name: &str, paths: &[String]) -> bool {
    paths.iter().any(|p| name.starts_with(p.as_str()))
}

/// Check that a threshold of `keys` signed the file cut into `signed`, and only then `read` it
/// (the role, from the bytes just checked): nothing in the file is read before its signatures
/// are checked. `read` gives its errors in the caller's own type, so a file that fails the
/// threshold is refused with [`VerifyError`] and one that fails to read with the caller's error.
pub fn verify_then_read<T, E: From<VerifyError>>(
    role: &str,
    signed: &Signed<'_>,
    keys: &[(&str, &PublicKey)],
    threshold: u32,
    read: impl FnOnce(&Signed<'_>) -> Result<T, E>,
) -> Result<Verified<T>, E> {
    let proof = check_threshold(role, &signed.sig, keys, threshold)?;
    Ok(Verified {
        inner: read(signed)?,
        signers: proof.signers,
    })
}

/// Check that a threshold of `keys` signed `env` (the canonical bytes `parsed` was read from, as
/// the role's parser returned them together), and only then call `parsed` verified. For root,
/// which must be read before its signatures can be checked (its keys are in it); every other
/// role goes through [`verify_then_read`].
pub fn verify_signed<T>(
    role: &str,
    (parsed, env): (T, SignedBytes<'_>),
    keys: &[(&str, &PublicKey)],
    threshold: u32,
) -> Result<Verified<T>, VerifyError> {
    let proof = check_threshold(role, &env, keys, threshold)?;
    Ok(Verified {
        inner: parsed,
        signers: proof.signers,
    })
}

/// Proof that an envelope met a threshold; only [`check_threshold`] makes one.
#[derive(Debug)]
pub struct ThresholdMet {
    signers: Vec<String>,
}

impl ThresholdMet {
    /// Key IDs of the distinct keys that signed validly.
    pub fn signers(&self) -> &[String] {
        &self.signers
    }
}

/// Why signatures or bytes were refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VerifyError {
    #[error("{role}: {valid} of {threshold} required signatures valid ({detail})")]
    Threshold {
        role: String,
        valid: usize,
        threshold: u32,
        detail: String,
    },
    #[error("{role}: length is {got} bytes, {parent} says {expected}")]
    Length {
        role: String,
        parent: String,
        expected: u64,
        got: u64,
    },
    #[error("{role}: {alg} is {got}, {parent} says {expected}")]
    Hash {
        role: String,
        parent: String,
        alg: &'static str,
        expected: String,
        got: String,
    },
}

/// Count the distinct public keys among `keys` (the role's authorised keys, by listed ID) that
/// made a valid signature over the file's canonical bytes. A signature names its key by the
/// listed ID or by the key's canonical public-key ID (Notary signs delegations either way).
pub fn check_threshold(
    role: &str,
    env: &SignedBytes,
    keys: &[(&str, &PublicKey)],
    threshold: u32,
) -> Result<ThresholdMet, VerifyError> {
    // One key under several IDs (certificate IDs, the canonical ID) is one key: group the listed
    // keys by public key first, so each signature is verified at most once per distinct key. (Per
    // listed ID, 1,024 certificates of one key and 1,024 signatures naming its canonical ID would
    // cost a million verifications.)
    let mut groups: Vec<(&PublicKey, Vec<&str>)> = Vec::new();
    for (listed_id, key) in keys {
        match groups.iter_mut().find(|(k, _)| k.same_key(key)) {
            Some((_, ids)) => ids.push(listed_id),
            None => groups.push((key, vec![listed_id])),
        }
    }
    let mut counted = 0usize;
    let mut signers = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for (key, ids) in &groups {
        let mut tried = false;
        for sig in env
            .signatures
            .iter()
            .filter(|s| ids.contains(&s.keyid.as_str()) || s.keyid == key.canonical_id())
        {
            tried = true;
            match key.verify(&sig.method, &env.canonical, &sig.sig) {
                Ok(()) => {
                    counted += 1;
                    let named = ids.iter().find(|id| **id == sig.keyid).unwrap_or(&ids[0]);
                    signers.push((*named).to_owned());
                    break;
                }
                Err(e) => failures.push(format!("signature by key {}: {e}", short(&sig.keyid))),
            }
        }
        if !tried {
            failures.push(format!("no signature by key {}", short(ids[0])));
        }
    }
    if counted >= threshold as usize {
        return Ok(ThresholdMet { signers });
    }
    let detail = if env.signatures.is_empty() {
        "the file has no signatures".to_owned()
    } else if keys.is_empty() {
        "the role lists no usable keys".to_owned()
    } else {
        failures.dedup();
        failures.join("; ")
    };
    Err(VerifyError::Threshold {
        role: role.to_owned(),
        valid: counted,
        threshold,
        detail,
    })
}

/// Check bytes against the length and every hash a parent role declared for them.
pub fn check_file(
    role: &str,
    parent: &str,
    bytes: &[u8],
    meta: &FileMeta,
) -> Result<(), VerifyError> {
    let got = bytes.len() as u64;
    if got != meta.length {
        return Err(VerifyError::Length {
            role: role.to_owned(),
            parent: parent.to_owned(),
            expected: meta.length,
            got,
        });
    }
    let check = |alg: &'static str, algo: &'static digest::Algorithm, want: Option<&[u8]>| {
        if let Some(want) = want {
            let got = digest::digest(algo, bytes);
            if got.as_ref() != want {
                return Err(VerifyError::Hash {
                    role: role.to_owned(),
                    parent: parent.to_owned(),
                    alg,
                    expected: hex::encode(want),
                    got: hex::encode(got.as_ref()),
                });
            }
        }
        Ok(())
    };
    check(
        "sha256",
        &digest::SHA256,
        meta.sha256.as_ref().map(|h| &h[..]),
    )?;
    check(
        "sha512",
        &digest::SHA512,
        meta.sha512.as_ref().map(|h| &h[..]),
    )
}

/// The first 12 characters of a key ID, enough to tell keys apart in messages.
pub fn short(id: &str) -> ShortId<'_> {
    ShortId(id)
}

pub struct ShortId<'a>(&'a str);

impl fmt::Display for ShortId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s: String = self.0.chars().take(12).collect();
        f.write_str(&s)
    }
}
