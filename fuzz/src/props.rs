//! Properties checked on arbitrary input, by libFuzzer (fuzz/fuzz_targets/*, nightly or
//! RUSTC_BOOTSTRAP, see tools/fuzz.sh) and on stable by tests/hostile_fuzz.rs, which compiles this
//! file directly to replay fuzz/regressions/ and to run a seeded random-mutation harness.
//!
//! Each property returns normally on any input it refuses; a panic is a finding.

use std::collections::BTreeMap;
use std::path::Path;

use time::OffsetDateTime;
use trustpin::tuf::canonical;
use trustpin::tuf::chain::{verify_repo, Context, TopFiles};
use trustpin::tuf::json::{self, Value};
use trustpin::tuf::keys::{PinnedKey, PublicKey};
use trustpin::tuf::level::Level;
use trustpin::tuf::metadata::{Envelope, Root, Snapshot, Targets, Timestamp};

/// Metadata parser: any bytes, every typed reading; the canonical bytes of what parsed are
/// themselves stable under parse → encode (when they are JSON at all, see below).
pub fn metadata_parse(data: &[u8]) {
    let Ok(env) = Envelope::parse(data) else {
        return;
    };
    let _ = Root::from_envelope(&env);
    let _ = Timestamp::from_envelope(&env);
    let _ = Snapshot::from_envelope(&env);
    let tree = Targets::from_envelope(&env);
    check_canonical(&Value::Object(env.signed.clone()), &env.sig.canonical);
    // The wire path for targets (bytes read without a tree) reads what the tree path reads.
    match (Targets::parse(data), tree) {
        (Ok((wire, sig)), Ok(tree)) => {
            assert_eq!(format!("{wire:?}"), format!("{tree:?}"), "targets differ");
            assert_eq!(sig.canonical, env.sig.canonical, "signed bytes differ");
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "errors differ"),
        (a, b) => panic!(
            "wire path {:?}, tree path {:?}",
            a.map(|_| ()),
            b.map(|_| ())
        ),
    }
}

/// Key parsing: the first byte picks the wire key type (and, with its high bit set, wraps the
/// rest in a PEM CERTIFICATE block for the x509 types); the rest is the key material. Whatever
/// parses is asked for its IDs, certificate, PEM, and to verify a signature (the rest again) under
/// every method. The pinned-key reader gets the rest as a file.
pub fn key_parse(data: &[u8]) {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let types = ["ed25519", "ecdsa", "ecdsa-x509", "rsa", "rsa-x509"];
    let keytype = types[usize::from(selector & 0x7f) % types.len()];
    let public = if selector & 0x80 != 0 && keytype.ends_with("x509") {
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            b64(rest)
        );
        b64(pem.as_bytes())
    } else {
        b64(rest)
    };
    if let Ok(key) = PublicKey::from_tuf(keytype, &public) {
        assert_eq!(key.id().len(), 64);
        assert_eq!(key.canonical_id().len(), 64);
        let _ = key.certificate();
        let pem = key.public_key_pem();
        // The key's own PEM pins the key.
        let pinned = PinnedKey::parse(pem.as_bytes(), "fuzz").expect("own PEM must parse");
        assert!(pinned.matches(&key), "a key's own PEM does not match it");
        for method in ["ecdsa", "eddsa", "rsapss", "rsapkcs1v15", "ECDSA"] {
            let _ = key.verify(method, b"message", rest);
        }
    }
    let _ = PinnedKey::parse(rest, "fuzz");
}

/// Canonical encoder: parse → encode → parse gives the same value and the same bytes, and the
/// bytes are what an independent encoder (serde_json, sorted maps, compact) writes, whenever no
/// string holds a control character (the canonical form writes those raw, which JSON parsers,
/// ours included, refuse: such bytes are for hashing, never re-read).
pub fn canonical_roundtrip(data: &[u8]) {
    // What the scanner calls canonical parses and encodes back to exactly itself (signatures
    // are then checked over the bytes as they came).
    if canonical::canonical_len(data) == Some(data.len()) {
        let value = json::parse(data).expect("the scanner accepted unparsable bytes");
        assert_eq!(
            canonical::encode(&value),
            data,
            "the scanner accepted non-canonical bytes"
        );
    }
    let Ok(value) = json::parse(data) else {
        return;
    };
    let encoded = canonical::encode(&value);
    check_canonical(&value, &encoded);
}

fn check_canonical(value: &Value, encoded: &[u8]) {
    let has_control = encoded.iter().any(|b| *b < 0x20);
    match json::parse(encoded) {
        Ok(again) => {
            assert_eq!(&again, value, "parse(encode(v)) != v");
            assert_eq!(canonical::encode(&again), encoded, "encode is not stable");
        }
        Err(e) => assert!(
            has_control,
            "canonical output without control characters does not parse: {e}: {}",
            String::from_utf8_lossy(encoded)
        ),
    }
    if !has_control {
        let oracle = serde_json::to_vec(&to_serde(value)).unwrap();
        assert_eq!(
            oracle,
            encoded,
            "differs from serde_json's sorted compact form:\n{}\n{}",
            String::from_utf8_lossy(&oracle),
            String::from_utf8_lossy(encoded)
        );
    }
}

/// trustpin's value as a serde_json value (maps sort by key bytes: serde_json's default map is a
/// BTreeMap<String, _>).
pub fn to_serde(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(n) => (*n).into(),
        Value::Str(s) => s.as_str().into(),
        Value::Array(a) => a.iter().map(to_serde).collect(),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| (k.clone(), to_serde(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}

/// A real repository to mutate: `docker.io/phbelitz/alice-image` from ../shared/trust-data (three
/// delegations), with its pinned key and a time inside its validity.
#[derive(Clone)]
pub struct Base {
    pub gun: String,
    /// root, timestamp, snapshot, targets.
    pub top: [Vec<u8>; 4],
    pub delegations: BTreeMap<String, Vec<u8>>,
    pub pinned: Vec<PinnedKey>,
    pub at: OffsetDateTime,
}

impl Base {
    /// Load from a trust-data folder (the layout of ../shared/trust-data).
    pub fn load_from(trust_data: &Path) -> Result<Base, String> {
        let gun = "docker.io/phbelitz/alice-image";
        let tuf = trust_data.join(gun).join("_trust/tuf");
        let read = |name: &str| {
            std::fs::read(tuf.join(format!("{name}.json")))
                .map_err(|e| format!("{}: {e}", tuf.join(name).display()))
        };
        let key_path = trust_data.join("keys/phbelitz-a.pub");
        let key = std::fs::read(&key_path).map_err(|e| format!("{}: {e}", key_path.display()))?;
        let mut delegations = BTreeMap::new();
        for d in ["releases", "phbelitz", "chamsen"] {
            delegations.insert(format!("targets/{d}"), read(&format!("targets/{d}"))?);
        }
        Ok(Base {
            gun: gun.to_owned(),
            top: [
                read("root")?,
                read("timestamp")?,
                read("snapshot")?,
                read("targets")?,
            ],
            delegations,
            pinned: vec![PinnedKey::parse(&key, "phbelitz-a.pub").map_err(|e| e.to_string())?],
            at: OffsetDateTime::parse(
                "2019-10-15T00:00:00Z",
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap(),
        })
    }

    /// The file a selector byte names: 0-3 top-level, 4-6 the delegations (sorted by name).
    pub fn slot(&mut self, selector: u8) -> &mut Vec<u8> {
        match selector % 7 {
            i @ 0..=3 => &mut self.top[i as usize],
            i => {
                let name = self
                    .delegations
                    .keys()
                    .nth(i as usize - 4)
                    .cloned()
                    .unwrap_or_default();
                self.delegations.get_mut(&name).unwrap()
            }
        }
    }

    /// The fuzz input that reproduces this base with file `selector` replaced by `bytes`.
    pub fn input(selector: u8, bytes: &[u8]) -> Vec<u8> {
        let mut v = vec![selector];
        v.extend_from_slice(bytes);
        v
    }
}

/// The whole verify step on real data with one file replaced by the input (first byte: which
/// file), at every level, then selection: never a panic; and an unchanged repository always
/// verifies (so a finding is a crash, not a refusal).
pub fn verify_chain(base: &Base, data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut repo = base.clone();
    *repo.slot(selector) = rest.to_vec();
    let fetched: BTreeMap<String, Result<Vec<u8>, trustpin::tuf::chain::DelegationError>> = repo
        .delegations
        .iter()
        .map(|(k, v)| (k.clone(), Ok(v.clone())))
        .collect();
    for level in [Level::Strict, Level::Audit] {
        let ctx = Context {
            meter: None,
            gun: &repo.gun,
            pinned: &repo.pinned,
            at: repo.at,
            level,
        };
        let files = TopFiles {
            root: &repo.top[0],
            timestamp: &repo.top[1],
            snapshot: &repo.top[2],
            targets: &repo.top[3],
        };
        if let Ok(verified) = verify_repo(&ctx, files, &fetched) {
            for required in [&[][..], &["releases".to_owned()][..]] {
                let _ = trustpin::tuf::select::select(
                    &verified,
                    trustpin::tuf::select::Query::Tag("test"),
                    required,
                );
                let _ = trustpin::tuf::select::select(
                    &verified,
                    trustpin::tuf::select::Query::Digest(&trustpin::reference::Digest([0; 32])),
                    required,
                );
            }
            let _ = trustpin::report::inspect::report(&verified, None);
        }
    }
}
