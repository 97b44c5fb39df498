//! What `get-root-key` reports: the root-role keys of a repository, so a person can compare one
//! through a second channel and pin it. Trust on first use by nature, so it checks all that can be
//! checked without a pin: root.json signed by its own keys to threshold, certificates issued to
//! this repository. Expiry only warns (the key is still the key).

use time::OffsetDateTime;

use crate::tuf::chain::{verify_root_unpinned, ChainError, Context};
use crate::tuf::keys::Certificate;
use crate::tuf::level::{Level, Warning};

/// One root key, as printed.
#[derive(Debug, Clone)]
pub struct RootKey {
    /// The TUF key ID, as root.json lists it (the certificate's ID).
    pub key_id: String,
    /// The canonical public-key ID (what docker names the private key file by).
    pub canonical_id: String,
    /// The certificate's public key as a PEM `PUBLIC KEY` block, ready for `--root-key`.
    pub pem: String,
    /// The certificate the key came in (common name, validity), when it came in one.
    pub certificate: Option<Certificate>,
}

/// The root-role keys and the facts about the root that go with them.
#[derive(Debug, Clone)]
pub struct RootKeys {
    pub keys: Vec<RootKey>,
    pub version: i64,
    pub expires: OffsetDateTime,
    pub threshold: u32,
    pub warnings: Vec<Warning>,
}

/// Read the root keys of `gun` from its root.json, checked as far as possible without a pin.
pub fn root_keys(gun: &str, root_json: &[u8], at: OffsetDateTime) -> Result<RootKeys, ChainError> {
    // Permissive: the certificate name is enforced, expiry only warns.
    let ctx = Context {
        meter: None,
        gun,
        pinned: &[],
        at,
        level: Level::Permissive,
    };
    let mut warnings = Vec::new();
    let root = verify_root_unpinned(&ctx, root_json, &mut warnings)?;
    let role = &root.roles["root"];
    let keys = role
        .keyids
        .iter()
        .filter_map(|id| root.keys.get(id).map(|k| (id, k)))
        .map(|(id, k)| RootKey {
            key_id: id.clone(),
            canonical_id: k.canonical_id().to_owned(),
            pem: k.public_key_pem(),
            certificate: k.certificate().cloned(),
        })
        .collect();
    Ok(RootKeys {
        keys,
        version: root.common.version,
        expires: root.common.expires,
        threshold: role.threshold,
        warnings,
    })
}
