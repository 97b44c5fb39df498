//! A test-only Notary v1 repository builder: keys we generate, root/timestamp/snapshot/targets and
//! delegation files in Notary's format, signed over trustpin's canonical form, with a hook at every
//! stage so a scenario can break exactly one thing.
//!
//! ```ignore
//! mod common;
//! let mut repo = common::builder::RepoBuilder::new("example.com/hostile/app");
//! repo.tag("targets", "v1", b"image v1");
//! repo.edit_signed("timestamp", |s| s["version"] = serde_json::json!(7));
//! let built = repo.build();
//! let out = built.cli(&["v1"], &[]);            // trustpin resolve over --metadata-dir
//! assert_eq!(out.code, 0, "{}", out.describe());
//! ```
//!
//! Stages per file (`root`, `targets`, `targets/<name>`, `snapshot`, `timestamp`, built in that
//! order, so a parent always hashes the child's final bytes):
//! 1. the `signed` object is generated (snapshot and timestamp `meta` filled from the children);
//! 2. [`RepoBuilder::edit_signed`] hooks run;
//! 3. it is signed by the role's signers ([`RepoBuilder::signers`]) over the canonical form;
//! 4. [`RepoBuilder::edit_envelope`] hooks run (they get the canonical bytes, to add signatures);
//! 5. it is serialised (compact JSON) and [`RepoBuilder::edit_bytes`] hooks run;
//! 6. the parent hashes it; then [`RepoBuilder::edit_bytes_after_hash`] hooks run (tampering in
//!    transit: the parent's hash no longer fits).
//!
//! Keys: root keys are ECDSA P-256 with an x509 certificate (CN = the GUN by default, made with
//! rcgen); the other roles use plain `ecdsa` or `ed25519` keys; RSA keys come from the openssl CLI.

use super::server;
use super::{Cmd, Output};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self as rsig, KeyPair as _};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// DER prefix of a P-256 SubjectPublicKeyInfo; the 65-byte point follows.
pub const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32 key bytes follow.
pub const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

// ------------------------------------------------------------------------------------------------
// Small helpers
// ------------------------------------------------------------------------------------------------

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

pub fn days(n: i64) -> time::Duration {
    time::Duration::days(n)
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

pub fn sha512(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA512, bytes)
        .as_ref()
        .to_vec()
}

/// Every path in a JSON value (object keys and array indices), depth first, into `out`.
pub fn json_paths(v: &Value, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                let mut p = prefix.clone();
                p.push(k.clone());
                out.push(p.clone());
                json_paths(c, p, out);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                let mut p = prefix.clone();
                p.push(i.to_string());
                out.push(p.clone());
                json_paths(c, p, out);
            }
        }
        _ => {}
    }
}

/// The place a path of [`json_paths`] names.
pub fn at_path<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(v, |v, seg| match v {
        Value::Array(a) => &mut a[seg.parse::<usize>().unwrap()],
        other => &mut other[seg.as_str()],
    })
}

pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// The canonical bytes trustpin signs and verifies for a `signed` value (our own encoder: the
/// one-time check against the real notary client is what keeps this honest).
pub fn canonical(signed: &Value) -> Vec<u8> {
    let wire = serde_json::to_vec(signed).unwrap();
    let value = trustpin::tuf::json::parse(&wire).expect("builder produced JSON trustpin refuses");
    trustpin::tuf::canonical::encode(&value)
}

/// `{"length": n, "hashes": {"sha256": .., "sha512": ..}}`, as snapshot and timestamp list files.
pub fn file_meta(bytes: &[u8]) -> Value {
    json!({
        "length": bytes.len(),
        "hashes": {"sha256": b64(&sha256(bytes)), "sha512": b64(&sha512(bytes))},
    })
}

/// `{"length": n, "hashes": {"sha256": ..}}`, as targets list an image manifest.
pub fn target_meta(content: &[u8]) -> Value {
    json!({"length": content.len(), "hashes": {"sha256": b64(&sha256(content))}})
}

/// `n` signature entries under `keyid` (method `ecdsa`) that are all invalid and all different:
/// 64 bytes of `fill`, the first four the entry's index.
pub fn bad_sig_entries(keyid: &str, n: u32, fill: u8) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let mut sig = vec![fill; 64];
            sig[..4].copy_from_slice(&i.to_be_bytes());
            sig_entry(keyid, "ecdsa", &sig)
        })
        .collect()
}

/// Signature entry `{"keyid","method","sig"}` with explicit parts.
pub fn sig_entry(keyid: &str, method: &str, sig: &[u8]) -> Value {
    json!({"keyid": keyid, "method": method, "sig": b64(sig)})
}

// ------------------------------------------------------------------------------------------------
// Keys
// ------------------------------------------------------------------------------------------------

#[derive(Clone)]
enum Secret {
    /// PKCS#8 DER of a P-256 key.
    Ecdsa(Arc<Vec<u8>>),
    /// PKCS#8 DER of an Ed25519 key.
    Ed25519(Arc<Vec<u8>>),
    /// PKCS#8 DER of an RSA key.
    Rsa(Arc<Vec<u8>>),
}

/// A key we hold the private half of, as it appears in TUF metadata.
#[derive(Clone)]
pub struct Key {
    /// The wire key type: `ecdsa-x509`, `ecdsa`, `ed25519`, `rsa`, `rsa-x509`.
    pub keytype: String,
    /// The wire public value (base64 of raw key, DER SPKI, or PEM certificate).
    pub public_b64: String,
    /// DER SubjectPublicKeyInfo of the plain public key.
    pub spki_der: Vec<u8>,
    /// The certificate (PEM) of an x509 key.
    pub cert_pem: Option<String>,
    secret: Secret,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({} {})", self.keytype, &self.id()[..12])
    }
}

/// Certificate parameters for x509 keys.
#[derive(Clone, Debug)]
pub struct CertSpec {
    pub cn: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// A CA certificate (basic constraints CA:TRUE), which notary refuses as a root key.
    pub ca: bool,
}

impl CertSpec {
    /// Valid from a day ago for ten years, issued to `cn`.
    pub fn new(cn: &str) -> CertSpec {
        CertSpec {
            cn: cn.to_owned(),
            not_before: now() - days(1),
            not_after: now() + days(3650),
            ca: false,
        }
    }
}

/// A fresh 2048-bit RSA key as PKCS#8 DER: `openssl genpkey` writes PKCS#8 (PEM) itself.
fn rsa_pkcs8_from_openssl() -> Vec<u8> {
    let pem = Cmd::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .run()
        .ok();
    let block = pem::parse(&pem).expect("openssl genpkey writes PEM");
    assert_eq!(block.tag(), "PRIVATE KEY", "not PKCS#8:\n{pem}");
    block.into_contents()
}

impl Key {
    /// A fresh plain `ecdsa` (P-256) key.
    pub fn ecdsa() -> Key {
        let rng = SystemRandom::new();
        let pkcs8 =
            rsig::EcdsaKeyPair::generate_pkcs8(&rsig::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .unwrap();
        Key::plain_from(Secret::Ecdsa(Arc::new(pkcs8.as_ref().to_vec())))
    }

    /// A fresh `ed25519` key.
    pub fn ed25519() -> Key {
        let rng = SystemRandom::new();
        let pkcs8 = rsig::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        Key::plain_from(Secret::Ed25519(Arc::new(pkcs8.as_ref().to_vec())))
    }

    /// A fresh plain `rsa` (2048-bit, from openssl) key; signs with `rsapss`.
    pub fn rsa() -> Key {
        Key::plain_from(Secret::Rsa(Arc::new(rsa_pkcs8_from_openssl())))
    }

    /// A fresh `ecdsa-x509` root key whose certificate is issued to `cn` and valid now.
    pub fn root(cn: &str) -> Key {
        Key::ecdsa().with_cert(&CertSpec::new(cn))
    }

    fn plain_from(secret: Secret) -> Key {
        let spki_der = match &secret {
            Secret::Ecdsa(p) => {
                let pair = rsig::EcdsaKeyPair::from_pkcs8(
                    &rsig::ECDSA_P256_SHA256_FIXED_SIGNING,
                    p,
                    &SystemRandom::new(),
                )
                .unwrap();
                [&P256_SPKI_PREFIX[..], pair.public_key().as_ref()].concat()
            }
            Secret::Ed25519(p) => {
                let pair = rsig::Ed25519KeyPair::from_pkcs8(p).unwrap();
                [&ED25519_SPKI_PREFIX[..], pair.public_key().as_ref()].concat()
            }
            Secret::Rsa(p) => {
                let pair = rsig::RsaKeyPair::from_pkcs8(p).unwrap();
                rsa_spki(pair.public_key().as_ref())
            }
        };
        let (keytype, public_b64) = match &secret {
            Secret::Ecdsa(_) => ("ecdsa", b64(&spki_der)),
            Secret::Ed25519(_) => ("ed25519", b64(&spki_der[ED25519_SPKI_PREFIX.len()..])),
            Secret::Rsa(_) => ("rsa", b64(&spki_der)),
        };
        Key {
            keytype: keytype.to_owned(),
            public_b64,
            spki_der,
            cert_pem: None,
            secret,
        }
    }

    /// The same private key wrapped in a (new) self-signed certificate: `ecdsa-x509` or
    /// `rsa-x509`.
    pub fn with_cert(&self, spec: &CertSpec) -> Key {
        let (alg, keytype): (&'static rcgen::SignatureAlgorithm, &str) = match &self.secret {
            Secret::Ecdsa(_) => (&rcgen::PKCS_ECDSA_P256_SHA256, "ecdsa-x509"),
            Secret::Rsa(_) => (&rcgen::PKCS_RSA_SHA256, "rsa-x509"),
            Secret::Ed25519(_) => panic!("notary has no ed25519 certificate keys"),
        };
        let pkcs8 = match &self.secret {
            Secret::Ecdsa(p) | Secret::Rsa(p) | Secret::Ed25519(p) => p.clone(),
        };
        let der = rustls_pki_pkcs8(&pkcs8);
        let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, alg).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, spec.cn.as_str());
        params.not_before = spec.not_before;
        params.not_after = spec.not_after;
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
        if spec.ca {
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        let pem = params.self_signed(&pair).unwrap().pem();
        let mut key = self.plain();
        key.keytype = keytype.to_owned();
        key.public_b64 = b64(pem.as_bytes());
        key.cert_pem = Some(pem);
        key
    }

    /// The plain key (`ecdsa`, `rsa`, `ed25519`) of the same private key.
    pub fn plain(&self) -> Key {
        Key::plain_from(self.secret.clone())
    }

    /// The same key under another wire key type (for key-type confusion tests); the public value
    /// is kept.
    pub fn relabelled(&self, keytype: &str) -> Key {
        let mut k = self.clone();
        k.keytype = keytype.to_owned();
        k
    }

    /// `{"keytype":T,"keyval":{"private":null,"public":B64}}`
    pub fn tuf(&self) -> Value {
        json!({"keytype": self.keytype, "keyval": {"private": null, "public": self.public_b64}})
    }

    /// TUF key ID: hex sha256 of the canonical [`Key::tuf`].
    pub fn id(&self) -> String {
        hex::encode(sha256(&canonical(&self.tuf())))
    }

    /// The ID of the plain key (for certificate keys, docker's "canonical" ID).
    pub fn canonical_id(&self) -> String {
        self.plain().id()
    }

    /// The method this key signs with by default.
    pub fn method(&self) -> &'static str {
        match self.secret {
            Secret::Ecdsa(_) => "ecdsa",
            Secret::Ed25519(_) => "eddsa",
            Secret::Rsa(_) => "rsapss",
        }
    }

    /// A signature with the default method (ECDSA: raw r||s, 64 bytes; RSA: PSS).
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match &self.secret {
            Secret::Ecdsa(p) => self.sign_ecdsa(p, &rsig::ECDSA_P256_SHA256_FIXED_SIGNING, msg),
            Secret::Ed25519(p) => rsig::Ed25519KeyPair::from_pkcs8(p)
                .unwrap()
                .sign(msg)
                .as_ref()
                .to_vec(),
            Secret::Rsa(p) => self.sign_rsa(p, &rsig::RSA_PSS_SHA256, msg),
        }
    }

    /// An ECDSA signature in DER form (notary accepts it too).
    pub fn sign_ecdsa_der(&self, msg: &[u8]) -> Vec<u8> {
        let Secret::Ecdsa(p) = &self.secret else {
            panic!("not an ECDSA key")
        };
        self.sign_ecdsa(p, &rsig::ECDSA_P256_SHA256_ASN1_SIGNING, msg)
    }

    fn sign_ecdsa(
        &self,
        p: &[u8],
        alg: &'static rsig::EcdsaSigningAlgorithm,
        msg: &[u8],
    ) -> Vec<u8> {
        let rng = SystemRandom::new();
        let pair = rsig::EcdsaKeyPair::from_pkcs8(alg, p, &rng).unwrap();
        pair.sign(&rng, msg).unwrap().as_ref().to_vec()
    }

    /// An RSA PKCS#1 v1.5 signature (method `rsapkcs1v15`).
    pub fn sign_rsa_pkcs1(&self, msg: &[u8]) -> Vec<u8> {
        let Secret::Rsa(p) = &self.secret else {
            panic!("not an RSA key")
        };
        self.sign_rsa(p, &rsig::RSA_PKCS1_SHA256, msg)
    }

    fn sign_rsa(&self, p: &[u8], alg: &'static dyn rsig::RsaEncoding, msg: &[u8]) -> Vec<u8> {
        let pair = rsig::RsaKeyPair::from_pkcs8(p).unwrap();
        let mut sig = vec![0u8; pair.public().modulus_len()];
        pair.sign(alg, &SystemRandom::new(), msg, &mut sig).unwrap();
        sig
    }

    /// `{"keyid": id, "method": .., "sig": ..}` over `msg`, under this key's ID.
    pub fn sig_entry(&self, msg: &[u8]) -> Value {
        sig_entry(&self.id(), self.method(), &self.sign(msg))
    }

    /// The public key as a PEM `PUBLIC KEY`, as a user pins it.
    pub fn public_pem(&self) -> String {
        pem::encode_config(
            &pem::Pem::new("PUBLIC KEY", self.spki_der.clone()),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        )
    }
}

fn rustls_pki_pkcs8(p: &[u8]) -> rustls::pki_types::PrivatePkcs8KeyDer<'static> {
    rustls::pki_types::PrivatePkcs8KeyDer::from(p.to_vec())
}

/// SPKI DER for an RSA public key given as a DER RSAPublicKey.
fn rsa_spki(rsa_public_key: &[u8]) -> Vec<u8> {
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let n = content.len();
        if n < 0x80 {
            out.push(n as u8);
        } else if n < 0x100 {
            out.extend_from_slice(&[0x81, n as u8]);
        } else {
            out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
        }
        out.extend_from_slice(content);
        out
    }
    const RSA_ALG: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let bits = tlv(0x03, &[&[0u8][..], rsa_public_key].concat());
    tlv(0x30, &[&RSA_ALG[..], &bits].concat())
}

/// One RSA key per test process (openssl key generation is slow).
pub fn shared_rsa() -> Key {
    static K: OnceLock<Key> = OnceLock::new();
    K.get_or_init(Key::rsa).clone()
}

// ------------------------------------------------------------------------------------------------
// Signing
// ------------------------------------------------------------------------------------------------

/// `{"signed": signed, "signatures": [..one per key..]}`.
pub fn sign_envelope(signed: &Value, keys: &[Key]) -> Value {
    let msg = canonical(signed);
    let sigs: Vec<Value> = keys.iter().map(|k| k.sig_entry(&msg)).collect();
    json!({"signed": signed, "signatures": sigs})
}

// ------------------------------------------------------------------------------------------------
// The repository builder
// ------------------------------------------------------------------------------------------------

type SignedHook = Box<dyn Fn(&mut Value)>;
type EnvelopeHook = Box<dyn Fn(&mut Value, &[u8])>;
type BytesHook = Box<dyn Fn(&mut Vec<u8>)>;

/// One metadata file in the making.
pub struct RoleFile {
    /// The `signed` object (before hooks; snapshot and timestamp `meta` are filled at build).
    pub signed: Value,
    /// Keys that sign it, in order.
    pub signers: Vec<Key>,
}

/// Builds a repository; every role's keys are public fields, every stage has hooks.
pub struct RepoBuilder {
    pub gun: String,
    pub root_keys: Vec<Key>,
    pub timestamp_key: Key,
    pub snapshot_key: Key,
    pub targets_key: Key,
    /// Delegation keys by role name.
    pub delegation_keys: BTreeMap<String, Vec<Key>>,
    /// Every file by role name: `root`, `targets`, `targets/...`, `snapshot`, `timestamp`.
    pub files: BTreeMap<String, RoleFile>,
    /// Roles (delegations) in the order they were declared.
    pub delegation_order: Vec<String>,
    signed_hooks: Vec<(String, SignedHook)>,
    envelope_hooks: Vec<(String, EnvelopeHook)>,
    bytes_hooks: Vec<(String, BytesHook)>,
    after_hash_hooks: Vec<(String, BytesHook)>,
    /// Delegations the snapshot does not list.
    unlisted: Vec<String>,
}

impl RepoBuilder {
    /// A repository for `gun` with fresh keys (root ecdsa-x509 CN=gun, targets ecdsa, snapshot
    /// ed25519, timestamp ecdsa), notary's default expiries, no targets.
    pub fn new(gun: &str) -> RepoBuilder {
        RepoBuilder::with_root(gun, Key::root(gun))
    }

    /// As [`RepoBuilder::new`] with the given root key.
    pub fn with_root(gun: &str, root: Key) -> RepoBuilder {
        RepoBuilder::with_keys(gun, root, Key::ecdsa(), Key::ed25519(), Key::ecdsa())
    }

    /// As [`RepoBuilder::new`] with the given root, targets, snapshot and timestamp keys.
    pub fn with_keys(
        gun: &str,
        root: Key,
        targets: Key,
        snapshot: Key,
        timestamp: Key,
    ) -> RepoBuilder {
        let t = now();
        let mut b = RepoBuilder {
            gun: gun.to_owned(),
            root_keys: vec![root.clone()],
            timestamp_key: timestamp.clone(),
            snapshot_key: snapshot.clone(),
            targets_key: targets.clone(),
            delegation_keys: BTreeMap::new(),
            files: BTreeMap::new(),
            delegation_order: Vec::new(),
            signed_hooks: Vec::new(),
            envelope_hooks: Vec::new(),
            bytes_hooks: Vec::new(),
            after_hash_hooks: Vec::new(),
            unlisted: Vec::new(),
        };
        let mut keys = serde_json::Map::new();
        for k in [&root, &timestamp, &snapshot, &targets] {
            keys.insert(k.id(), k.tuf());
        }
        let role = |k: &Key| json!({"keyids": [k.id()], "threshold": 1});
        let mut file = |name: &str, signed: Value, signer: Key| {
            let signers = vec![signer];
            b.files.insert(name.into(), RoleFile { signed, signers });
        };
        file(
            "root",
            json!({
                "_type": "Root",
                "consistent_snapshot": false,
                "expires": rfc3339(t + days(3650)),
                "keys": keys,
                "roles": {
                    "root": role(&root),
                    "snapshot": role(&snapshot),
                    "targets": role(&targets),
                    "timestamp": role(&timestamp),
                },
                "version": 1,
            }),
            root,
        );
        file(
            "targets",
            json!({
                "_type": "Targets",
                "delegations": {"keys": {}, "roles": []},
                "expires": rfc3339(t + days(3 * 365)),
                "targets": {},
                "version": 1,
            }),
            targets,
        );
        file(
            "snapshot",
            json!({
                "_type": "Snapshot",
                "expires": rfc3339(t + days(3 * 365)),
                "meta": {},
                "version": 1,
            }),
            snapshot,
        );
        file(
            "timestamp",
            json!({
                "_type": "Timestamp",
                "expires": rfc3339(t + days(14)),
                "meta": {},
                "version": 1,
            }),
            timestamp,
        );
        b
    }

    /// The key a user pins: the first root key's public key, PEM.
    pub fn pinned_pem(&self) -> String {
        self.root_keys[0].public_pem()
    }

    /// The `signed` object of `role` (panics if there is no such file).
    pub fn signed(&mut self, role: &str) -> &mut Value {
        &mut self
            .files
            .get_mut(role)
            .unwrap_or_else(|| panic!("no role {role}"))
            .signed
    }

    /// Sign `tag` with the digest of `content` in `role` (`targets` or a delegation).
    pub fn tag(&mut self, role: &str, tag: &str, content: &[u8]) -> &mut Self {
        self.signed(role)["targets"][tag] = target_meta(content);
        self
    }

    /// Declare delegation `name` in `parent` with fresh ed25519 `keys` (threshold 1) and `paths`,
    /// and create its (empty) file signed by that key.
    pub fn delegate(&mut self, parent: &str, name: &str, paths: &[&str]) -> &mut Self {
        self.delegate_with(parent, name, vec![Key::ed25519()], 1, paths)
    }

    /// Declare delegation `name` in `parent` with the given keys, threshold and paths.
    pub fn delegate_with(
        &mut self,
        parent: &str,
        name: &str,
        keys: Vec<Key>,
        threshold: u32,
        paths: &[&str],
    ) -> &mut Self {
        let p = self.signed(parent);
        if p.get("delegations").is_none_or(Value::is_null) {
            p["delegations"] = json!({"keys": {}, "roles": []});
        }
        for k in &keys {
            p["delegations"]["keys"][k.id()] = k.tuf();
        }
        let ids: Vec<String> = keys.iter().map(Key::id).collect();
        p["delegations"]["roles"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": name, "keyids": ids, "threshold": threshold, "paths": paths}));
        self.files.insert(
            name.to_owned(),
            RoleFile {
                signed: json!({
                    "_type": "Targets",
                    "delegations": {"keys": {}, "roles": []},
                    "expires": rfc3339(now() + days(3 * 365)),
                    "targets": {},
                    "version": 1,
                }),
                signers: keys.clone(),
            },
        );
        self.delegation_keys.insert(name.to_owned(), keys);
        if !self.delegation_order.iter().any(|n| n == name) {
            self.delegation_order.push(name.to_owned());
        }
        self
    }

    /// Replace the keys that sign `role`.
    pub fn signers(&mut self, role: &str, keys: Vec<Key>) -> &mut Self {
        self.files.get_mut(role).unwrap().signers = keys;
        self
    }

    /// Set `signed.expires` of `role`.
    pub fn expires(&mut self, role: &str, at: OffsetDateTime) -> &mut Self {
        self.signed(role)["expires"] = json!(rfc3339(at));
        self
    }

    /// Leave delegation `name` out of snapshot.json.
    pub fn unlist(&mut self, name: &str) -> &mut Self {
        self.unlisted.push(name.to_owned());
        self
    }

    /// Stage 2: change `role`'s `signed` object right before it is signed.
    pub fn edit_signed(&mut self, role: &str, f: impl Fn(&mut Value) + 'static) -> &mut Self {
        self.signed_hooks.push((role.to_owned(), Box::new(f)));
        self
    }

    /// Stage 4: change `role`'s envelope after signing; `f` also gets the canonical bytes signed.
    pub fn edit_envelope(
        &mut self,
        role: &str,
        f: impl Fn(&mut Value, &[u8]) + 'static,
    ) -> &mut Self {
        self.envelope_hooks.push((role.to_owned(), Box::new(f)));
        self
    }

    /// Stage 5: change `role`'s bytes before its parent hashes them.
    pub fn edit_bytes(&mut self, role: &str, f: impl Fn(&mut Vec<u8>) + 'static) -> &mut Self {
        self.bytes_hooks.push((role.to_owned(), Box::new(f)));
        self
    }

    /// Stage 6: change `role`'s bytes after its parent hashed them (tampering in transit).
    pub fn edit_bytes_after_hash(
        &mut self,
        role: &str,
        f: impl Fn(&mut Vec<u8>) + 'static,
    ) -> &mut Self {
        self.after_hash_hooks.push((role.to_owned(), Box::new(f)));
        self
    }

    /// Forget every hook (to build many variants of one repository with the same keys).
    pub fn clear_hooks(&mut self) -> &mut Self {
        self.signed_hooks.clear();
        self.envelope_hooks.clear();
        self.bytes_hooks.clear();
        self.after_hash_hooks.clear();
        self
    }

    fn make_file(&self, role: &str) -> (Vec<u8>, Vec<u8>) {
        let file = &self.files[role];
        let mut signed = file.signed.clone();
        for (r, h) in &self.signed_hooks {
            if r == role {
                h(&mut signed);
            }
        }
        let mut env = sign_envelope(&signed, &file.signers);
        let msg = canonical(&signed);
        for (r, h) in &self.envelope_hooks {
            if r == role {
                h(&mut env, &msg);
            }
        }
        let mut bytes = serde_json::to_vec(&env).unwrap();
        for (r, h) in &self.bytes_hooks {
            if r == role {
                h(&mut bytes);
            }
        }
        let mut sent = bytes.clone();
        for (r, h) in &self.after_hash_hooks {
            if r == role {
                h(&mut sent);
            }
        }
        (bytes, sent)
    }

    /// Built, and `v1` asked for through the CLI ([`Built::cli`]): refused (exit 1), stderr naming
    /// every one of `words`. The files, for second opinions.
    pub fn refuses_v1(&mut self, words: &[&str]) -> Built {
        let built = self.build();
        built.cli(&["v1"], &[]).expect(1, words);
        built
    }

    /// Build every file.
    pub fn build(&mut self) -> Built {
        let mut files = BTreeMap::new();
        let mut hashed = BTreeMap::new();
        let mut children: Vec<String> = vec!["root".into(), "targets".into()];
        children.extend(self.delegation_order.iter().cloned());
        for role in &children {
            let (bytes, sent) = self.make_file(role);
            hashed.insert(role.clone(), bytes);
            files.insert(role.clone(), sent);
        }
        let mut meta = serde_json::Map::new();
        for role in &children {
            if !self.unlisted.contains(role) {
                meta.insert(role.clone(), file_meta(&hashed[role]));
            }
        }
        self.files.get_mut("snapshot").unwrap().signed["meta"] = Value::Object(meta);
        let (snap, snap_sent) = self.make_file("snapshot");
        files.insert("snapshot".into(), snap_sent);
        self.files.get_mut("timestamp").unwrap().signed["meta"] =
            json!({"snapshot": file_meta(&snap)});
        let (_, ts_sent) = self.make_file("timestamp");
        files.insert("timestamp".into(), ts_sent);
        Built {
            gun: self.gun.clone(),
            files,
            pinned_pem: self.pinned_pem(),
        }
    }
}

// ------------------------------------------------------------------------------------------------
// What was built, and ways to use it
// ------------------------------------------------------------------------------------------------

/// The files of a repository, as a server would serve them.
#[derive(Clone, Debug)]
pub struct Built {
    pub gun: String,
    /// Bytes by role name (`root`, `targets/releases`, ...).
    pub files: BTreeMap<String, Vec<u8>>,
    /// The PEM public key a user pins.
    pub pinned_pem: String,
}

/// A built repository on disk: `dir/<gun>/_trust/tuf/<role>.json` and `dir/root.pub`.
pub struct OnDisk {
    pub dir: tempfile::TempDir,
    pub root_key: PathBuf,
}

impl OnDisk {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Built {
    pub fn get(&self, role: &str) -> &[u8] {
        &self.files[role]
    }

    /// Replace `role`'s signatures by fresh ones from `keys` over the canonical form of its
    /// current `signed` (re-serialised compact). Parents' hashes are NOT updated: use the
    /// [`RepoBuilder`] hooks for that.
    pub fn resign(&mut self, role: &str, keys: &[Key]) {
        let env = self.json(role);
        let signed = env.get("signed").cloned().unwrap_or(Value::Null);
        let bytes = serde_json::to_vec(&sign_envelope(&signed, keys)).unwrap();
        self.files.insert(role.to_owned(), bytes);
    }

    /// The file as JSON (for reading back in a test).
    pub fn json(&self, role: &str) -> Value {
        serde_json::from_slice(&self.files[role]).unwrap()
    }

    /// Write the server layout below `dir`.
    pub fn write_to(&self, dir: &Path) {
        let tuf = dir.join(&self.gun).join("_trust/tuf");
        for (role, bytes) in &self.files {
            let p = tuf.join(format!("{role}.json"));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
    }

    /// Write into a fresh temporary folder, with the pinned key beside it as `root.pub`.
    pub fn on_disk(&self) -> OnDisk {
        let dir = tempfile::tempdir().unwrap();
        self.write_to(dir.path());
        let root_key = dir.path().join("root.pub");
        std::fs::write(&root_key, &self.pinned_pem).unwrap();
        OnDisk { dir, root_key }
    }

    /// A new [`server::TestServer`] that serves it ([`Built::serve`]).
    pub fn served(&self) -> server::TestServer {
        let srv = server::TestServer::start();
        self.serve(&srv);
        srv
    }

    /// Serve every file at its Notary URL on `srv`, plus the `/v2/` ping the notary client sends
    /// first (it calls a server that answers 404 there "offline") and the health endpoint.
    pub fn serve(&self, srv: &server::TestServer) {
        srv.serve_json("/v2/", b"{}".to_vec());
        srv.serve_json("/_notary_server/health", b"{}".to_vec());
        for (role, bytes) in &self.files {
            srv.serve_json(&server::tuf_path(&self.gun, role), bytes.clone());
        }
        // The notary client asks for `<role>.<sha256 hex>.json` once a parent has named the hash;
        // a hostile server answers with whatever it serves for `<role>`, whatever the hash.
        let prefix = format!("/v2/{}/_trust/tuf/", self.gun);
        let files = self.files.clone();
        srv.fallback(move |req| {
            let by_hash = req
                .path
                .strip_prefix(&prefix)
                .and_then(|p| p.strip_suffix(".json"))
                .and_then(|p| p.rsplit_once('.'))
                .filter(|(_, h)| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|(role, _)| files.get(role));
            match by_hash {
                Some(body) => server::Response::json(body.clone()).into(),
                None => server::Response::notary_not_found().into(),
            }
        });
    }

    /// The four top-level files for [`trustpin::tuf::chain`].
    pub fn top(&self) -> trustpin::tuf::chain::TopFiles<'_> {
        trustpin::tuf::chain::TopFiles {
            root: &self.files["root"],
            timestamp: &self.files["timestamp"],
            snapshot: &self.files["snapshot"],
            targets: &self.files["targets"],
        }
    }

    /// Every delegation file, as `verify_delegations` wants them.
    pub fn fetched(&self) -> trustpin::tuf::chain::Fetched {
        self.files
            .iter()
            .filter(|(r, _)| r.starts_with("targets/"))
            .map(|(r, b)| (r.clone(), Ok(b.clone())))
            .collect()
    }

    pub fn pinned(&self) -> Vec<trustpin::tuf::keys::PinnedKey> {
        vec![trustpin::tuf::keys::PinnedKey::parse(self.pinned_pem.as_bytes(), "root.pub").unwrap()]
    }

    /// The sans-IO chain at `level`, now.
    pub fn verify_at(
        &self,
        level: trustpin::tuf::level::Level,
        at: OffsetDateTime,
    ) -> Result<trustpin::tuf::chain::Repo, trustpin::tuf::chain::ChainError> {
        let pinned = self.pinned();
        let ctx = trustpin::tuf::chain::Context {
            meter: None,
            gun: &self.gun,
            pinned: &pinned,
            at,
            level,
        };
        trustpin::tuf::chain::verify_repo(&ctx, self.top(), &self.fetched())
    }

    /// The sans-IO chain, strict, now.
    pub fn verify(&self) -> Result<trustpin::tuf::chain::Repo, trustpin::tuf::chain::ChainError> {
        self.verify_at(
            trustpin::tuf::level::Level::Strict,
            OffsetDateTime::now_utc(),
        )
    }

    /// The error text of a refused chain (panics when it is accepted).
    pub fn verify_err(&self) -> String {
        match self.verify() {
            Ok(_) => panic!("the chain was accepted"),
            Err(e) => e.to_string(),
        }
    }

    /// `trustpin resolve GUN:TAG... --metadata-dir DIR --root-key DIR/root.pub EXTRA...`
    pub fn cli(&self, tags: &[&str], extra: &[&str]) -> Output {
        let disk = self.on_disk();
        trustpin(&self.dir_args(&disk, tags, extra))
    }

    /// [`Built::cli`] with trustpin's peak memory in KiB (when GNU time is installed).
    pub fn cli_measured(&self, tags: &[&str], extra: &[&str]) -> (Output, Option<u64>) {
        let disk = self.on_disk();
        trustpin_measured(&self.dir_args(&disk, tags, extra))
    }

    fn dir_args(&self, disk: &OnDisk, tags: &[&str], extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = vec!["resolve".into()];
        args.extend(tags.iter().map(|t| format!("{}:{t}", self.gun)));
        args.push("--metadata-dir".into());
        args.push(disk.path().display().to_string());
        args.push("--root-key".into());
        args.push(disk.root_key.display().to_string());
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// `trustpin resolve GUN:TAG --server URL --root-key KEY EXTRA...`, serving this repository
    /// from a fresh loopback test server.
    pub fn cli_http(&self, tag: &str, extra: &[&str]) -> Output {
        let srv = server::TestServer::start();
        self.serve(&srv);
        self.cli_server(&srv, tag, extra)
    }

    /// `trustpin resolve GUN:TAG --server SRV --root-key KEY EXTRA...` against a given server.
    pub fn cli_server(&self, srv: &server::TestServer, tag: &str, extra: &[&str]) -> Output {
        let key = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(key.path(), &self.pinned_pem).unwrap();
        let mut args: Vec<String> = vec![
            "resolve".into(),
            format!("{}:{tag}", self.gun),
            "--server".into(),
            srv.url(),
            "--root-key".into(),
            key.path().display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        trustpin(&args)
    }
}

// ------------------------------------------------------------------------------------------------
// Running programs
// ------------------------------------------------------------------------------------------------

/// Run the `trustpin` binary with `args` (60 s limit). Each run is independent: no trust cache
/// ([`Cmd::fresh_cache`]), so one scenario's versions never leak into another's; a test that
/// wants the cache passes `--cache-dir`, which wins.
pub fn trustpin<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Cmd::trustpin().args(args).fresh_cache().run()
}

/// [`trustpin`], with its peak resident memory in KiB when GNU time (`/usr/bin/time`) is
/// installed (None otherwise: the memory part of a bound is then not checked).
pub fn trustpin_measured<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (Output, Option<u64>) {
    let time = Path::new("/usr/bin/time");
    if !time.is_file() {
        // CI installs it (.ci/run): there, a missing tool is a failure, never a quiet skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "/usr/bin/time not found: install it with `apt-get install -y time` (the memory bounds need it)"
        );
        eprintln!(
            "/usr/bin/time not installed: peak memory not measured (apt-get install -y time)"
        );
        return (trustpin(args), None);
    }
    let mut out = Cmd::new(time)
        .args(["-f", "trustpin-maxrss-kib=%M\ntrustpin-cpu-seconds=%U %S"])
        .arg(super::TRUSTPIN)
        .args(args)
        .env_remove("DOCKER_CONTENT_TRUST_SERVER")
        .fresh_cache()
        .run();
    let mut rss = None;
    let mut cpu = None;
    out.stderr = out
        .stderr
        .lines()
        .filter(|l| {
            if let Some(v) = l.strip_prefix("trustpin-maxrss-kib=") {
                rss = v.trim().parse().ok();
                return false;
            }
            if let Some(v) = l.strip_prefix("trustpin-cpu-seconds=") {
                let secs: f64 = v
                    .split_whitespace()
                    .filter_map(|x| x.parse::<f64>().ok())
                    .sum();
                cpu = Some(Duration::from_secs_f64(secs));
                return false;
            }
            !l.starts_with("Command exited with non-zero status")
                && !l.starts_with("Command terminated by signal")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    out.cpu = cpu;
    (out, rss)
}

/// Whether the real `notary` client is installed (the second opinion is skipped, loudly, when
/// it is not and TRUSTPIN_SKIP_LIVE=1; otherwise its absence fails the test).
pub fn notary_available() -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("notary").is_file()));
    if !found {
        if std::env::var("TRUSTPIN_SKIP_LIVE").as_deref() == Ok("1") {
            eprintln!("notary client not installed: second opinion skipped (TRUSTPIN_SKIP_LIVE=1)");
            return false;
        }
        panic!("the real `notary` client is needed for the second opinion: apt-get install -y notary (or TRUSTPIN_SKIP_LIVE=1)");
    }
    true
}

/// The real notary client, trusting the root on first use (fresh trust dir): `notary -s URL -d
/// DIR lookup GUN TAG`. Ok((sha256 hex, size)) or Err(its output).
pub fn notary_lookup(url: &str, gun: &str, tag: &str) -> Result<(String, u64), String> {
    let out = notary_fresh(url, &["lookup", gun, tag])?;
    let line = out.trim_end();
    let (rest, size) = line
        .rsplit_once(' ')
        .ok_or_else(|| format!("odd output {line:?}"))?;
    let (_, digest) = rest
        .rsplit_once(' ')
        .ok_or_else(|| format!("odd output {line:?}"))?;
    Ok((
        digest.trim_start_matches("sha256:").to_owned(),
        size.parse().map_err(|_| format!("odd output {line:?}"))?,
    ))
}

/// `notary -s URL -d DIR list GUN`: Ok(stdout) or Err(output).
pub fn notary_list(url: &str, gun: &str) -> Result<String, String> {
    notary_fresh(url, &["list", gun])
}

/// `notary -s URL -d DIR ARGS` with a fresh trust dir (and HOME): Ok(stdout) or Err(output).
fn notary_fresh(url: &str, args: &[&str]) -> Result<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let out = Cmd::new("notary")
        .arg("-s")
        .arg(url)
        .arg("-d")
        .arg(dir.path())
        .args(args)
        .env("HOME", dir.path())
        .run();
    if out.code != 0 {
        return Err(format!("{}{}", out.stdout, out.stderr));
    }
    Ok(out.stdout)
}

/// The real notary client's opinion of a built repository: serve it on a fresh loopback server
/// and look `tag` up.
pub fn notary_opinion(built: &Built, tag: &str) -> Result<(String, u64), String> {
    notary_lookup(&built.served().url(), &built.gun, tag)
}

/// Unless the notary client is skipped ([`notary_available`]): it looks `tag` up as the digest
/// of `content`.
pub fn notary_agrees(built: &Built, tag: &str, content: &[u8]) {
    if notary_available() {
        assert_eq!(
            notary_opinion(built, tag).map(|(d, _)| d),
            Ok(super::sha256_hex(content))
        );
    }
}

/// Unless the notary client is skipped ([`notary_available`]): it refuses to look `tag` up, its
/// output naming every one of `words`.
pub fn notary_refuses(built: &Built, tag: &str, words: &[&str]) {
    if notary_available() {
        let err = notary_opinion(built, tag).expect_err("notary accepted it");
        for w in words {
            assert!(err.contains(w), "notary's refusal lacks {w:?}: {err}");
        }
    }
}
