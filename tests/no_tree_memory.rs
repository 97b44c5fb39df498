//! Whoever holds a repository's timestamp and snapshot keys (the server, as a rule) can serve a
//! targets.json of their own making, and the snapshot vouches for its bytes. Such a file must be
//! refused for its signatures before anything in it is read: no tree of it may be built first,
//! and the memory it costs must stay a small multiple of its size. A tree of dense `{"a":0}`
//! objects costs ~90 bytes per byte of input (5.4 GB for 63 MB), so this binary counts every
//! allocation (its own global allocator) while the chain verifies such files.
//!
//! The repository is built here with its own few lines of keys and signing (tests/common is not
//! used), so that only the public verification API is involved.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::digest;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use time::OffsetDateTime;
use trustpin::tuf::chain::{verify_top, Context, TopFiles};
use trustpin::tuf::keys::PinnedKey;
use trustpin::tuf::level::Level;

/// Bytes allocated now, and the most at any time since the last [`measure`] began.
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

struct Counting;

// SAFETY: every call is passed to the system allocator unchanged; only sizes are counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        CURRENT.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Relaxed);
            }
        }
        p
    }
}

fn grew(n: usize) {
    let now = CURRENT.fetch_add(n, Relaxed) + n;
    PEAK.fetch_max(now, Relaxed);
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The tests of this binary one at a time: the counts are global.
static SERIAL: Mutex<()> = Mutex::new(());

/// What `f` returns, and the most bytes it had allocated at once beyond what was allocated
/// before it began.
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = CURRENT.load(Relaxed);
    PEAK.store(base, Relaxed);
    let out = f();
    (out, PEAK.load(Relaxed).saturating_sub(base))
}

const MIB: usize = 1 << 20;
const GUN: &str = "example.com/hostile";
const EXPIRES: &str = "2099-01-01T00:00:00Z";

fn b64(b: &[u8]) -> String {
    B64.encode(b)
}

/// The canonical form trustpin signs over (its own public encoder).
fn canonical(v: &serde_json::Value) -> Vec<u8> {
    let value = trustpin::tuf::json::parse(&serde_json::to_vec(v).unwrap()).unwrap();
    trustpin::tuf::canonical::encode(&value)
}

fn key_id(keytype: &str, public_b64: &str) -> String {
    let tuf =
        serde_json::json!({"keytype": keytype, "keyval": {"private": null, "public": public_b64}});
    hex::encode(digest::digest(&digest::SHA256, &canonical(&tuf)))
}

/// Signs a message.
type Signer = Box<dyn Fn(&[u8]) -> Vec<u8>>;

/// A signing key: its TUF form and ID, and how it signs.
struct Key {
    keytype: &'static str,
    public_b64: String,
    sign: Signer,
    method: &'static str,
}

impl Key {
    fn ed25519() -> Key {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        Key {
            keytype: "ed25519",
            public_b64: b64(pair.public_key().as_ref()),
            sign: Box::new(move |m| pair.sign(m).as_ref().to_vec()),
            method: "eddsa",
        }
    }

    /// An `ecdsa-x509` root key issued to [`GUN`], and its certificate's PEM (what is pinned).
    fn root() -> (Key, String) {
        let pair = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, GUN);
        params.not_before = OffsetDateTime::now_utc() - time::Duration::days(1);
        params.not_after = OffsetDateTime::now_utc() + time::Duration::days(3650);
        let pem = params.self_signed(&pair).unwrap().pem();
        let signer = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &pair.serialize_der(),
            &SystemRandom::new(),
        )
        .unwrap();
        let key = Key {
            keytype: "ecdsa-x509",
            public_b64: b64(pem.as_bytes()),
            sign: Box::new(move |m| {
                signer
                    .sign(&SystemRandom::new(), m)
                    .unwrap()
                    .as_ref()
                    .to_vec()
            }),
            method: "ecdsa",
        };
        (key, pem)
    }

    fn id(&self) -> String {
        key_id(self.keytype, &self.public_b64)
    }

    fn tuf(&self) -> serde_json::Value {
        serde_json::json!({"keytype": self.keytype, "keyval": {"private": null, "public": self.public_b64}})
    }

    /// `,"signatures":[…]}`: the end of a file whose `signed` these bytes are.
    fn signatures_over(&self, signed: &[u8]) -> String {
        format!(
            r#","signatures":[{{"keyid":"{}","method":"{}","sig":"{}"}}]}}"#,
            self.id(),
            self.method,
            b64(&(self.sign)(signed))
        )
    }
}

/// A file as Notary writes it: `signed` as given, signed by `key` over `canonical`.
fn file(signed_wire: &[u8], canonical: &[u8], key: &Key) -> Vec<u8> {
    let mut out = br#"{"signed":"#.to_vec();
    out.extend_from_slice(signed_wire);
    out.extend_from_slice(key.signatures_over(canonical).as_bytes());
    out
}

fn signed_file(signed: &serde_json::Value, key: &Key) -> Vec<u8> {
    let c = canonical(signed);
    file(&c, &c, key)
}

fn meta(bytes: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "hashes": {"sha256": b64(digest::digest(&digest::SHA256, bytes).as_ref())},
        "length": bytes.len(),
    })
}

/// A repository whose targets.json is `targets`, vouched for by a snapshot and timestamp signed
/// with the right keys; verified by the chain, with the peak of memory it allocated.
struct Repo {
    root: (Key, String),
    timestamp: Key,
    snapshot: Key,
    targets: Key,
}

impl Repo {
    fn new() -> Repo {
        Repo {
            root: Key::root(),
            timestamp: Key::ed25519(),
            snapshot: Key::ed25519(),
            targets: Key::ed25519(),
        }
    }

    fn verify(&self, targets: &[u8]) -> (Result<(), String>, usize) {
        let keys = [&self.root.0, &self.timestamp, &self.snapshot, &self.targets];
        let role = |k: &Key| serde_json::json!({"keyids": [k.id()], "threshold": 1});
        let root = signed_file(
            &serde_json::json!({
                "_type": "Root", "consistent_snapshot": false, "expires": EXPIRES, "version": 1,
                "keys": keys.iter().map(|k| (k.id(), k.tuf())).collect::<serde_json::Map<_, _>>(),
                "roles": {
                    "root": role(&self.root.0), "timestamp": role(&self.timestamp),
                    "snapshot": role(&self.snapshot), "targets": role(&self.targets),
                },
            }),
            &self.root.0,
        );
        let snapshot = signed_file(
            &serde_json::json!({
                "_type": "Snapshot", "expires": EXPIRES, "version": 1,
                "meta": {"root": meta(&root), "targets": meta(targets)},
            }),
            &self.snapshot,
        );
        let timestamp = signed_file(
            &serde_json::json!({
                "_type": "Timestamp", "expires": EXPIRES, "version": 1,
                "meta": {"snapshot": meta(&snapshot)},
            }),
            &self.timestamp,
        );
        let pinned = [PinnedKey::parse(self.root.1.as_bytes(), "root.crt").unwrap()];
        let ctx = Context {
            meter: None,
            gun: GUN,
            pinned: &pinned,
            at: OffsetDateTime::now_utc(),
            level: Level::Strict,
        };
        let files = TopFiles {
            root: &root,
            timestamp: &timestamp,
            snapshot: &snapshot,
            targets,
        };
        measure(|| verify_top(&ctx, files).map(drop).map_err(|e| e.to_string()))
    }
}

/// `n` bytes (about) of `{"a":0},` objects, without the last comma.
fn dense(n: usize) -> String {
    let mut s = "{\"a\":0},".repeat(n / 8);
    s.pop();
    s
}

/// `signed` of a targets file with ~`n` bytes of dense objects under an extra field, and `note`
/// (as written on the wire) under another.
fn hostile_signed(n: usize, note: &str) -> String {
    format!(
        r#"{{"_type":"Targets","expires":"{EXPIRES}","note":"{note}","targets":{{}},"version":2,"x":[{}]}}"#,
        dense(n)
    )
}

fn report(case: &str, size: usize, peak: usize) {
    eprintln!(
        "{case}: file {:.1} MiB, peak allocated during verification {:.1} MiB ({:.2}x the file)",
        size as f64 / MIB as f64,
        peak as f64 / MIB as f64,
        peak as f64 / size as f64
    );
}

/// A targets file whose `signed` is, on the wire and canonically, what `signed` makes (made
/// under the lock, as all big allocations), signed by a key that is not the targets key: refused
/// for its signatures, in bounded memory.
fn refused_for_signatures_in_bounded_memory(case: &str, signed: impl FnOnce() -> (String, String)) {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let repo = Repo::new();
    let (wire, canonical_form) = signed();
    let targets = file(wire.as_bytes(), canonical_form.as_bytes(), &Key::ed25519());
    let (result, peak) = repo.verify(&targets);
    report(case, targets.len(), peak);
    let err = result.unwrap_err();
    assert!(
        err.contains("targets: 0 of 1 required signatures valid"),
        "{err}"
    );
    assert!(peak < 4 * targets.len(), "peak {peak} bytes");
}

/// The finding itself: ~32 MB of dense objects in `signed`, canonical on the wire (so the
/// bytes are borrowed), signed by a key that is not the targets key.
#[test]
fn a_huge_canonical_targets_file_not_signed_by_the_targets_key_is_refused_in_bounded_memory() {
    refused_for_signatures_in_bounded_memory("canonical", || {
        let signed = hostile_signed(32 * MIB, "x");
        (signed.clone(), signed)
    });
}

/// As above with `<` written `\u003c` (as Go's encoder writes it), so `signed` is not
/// canonical on the wire and the streaming re-encoder makes its canonical form.
#[test]
fn a_huge_non_canonical_targets_file_not_signed_by_the_targets_key_is_refused_in_bounded_memory() {
    refused_for_signatures_in_bounded_memory("non-canonical", || {
        (
            hostile_signed(32 * MIB, r"\u003c"),
            hostile_signed(32 * MIB, "<"),
        )
    });
}

/// Signatures cover `signed` only: anyone can add top-level fields to a genuine file. A huge one
/// must be checked and dropped, never built, and the genuine file still verifies.
#[test]
fn a_huge_field_beside_signed_is_dropped_in_bounded_memory() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let repo = Repo::new();
    let signed = canonical(&serde_json::json!({
        "_type": "Targets", "expires": EXPIRES, "version": 2, "targets": {},
    }));
    let mut targets = file(&signed, &signed, &repo.targets);
    targets.pop();
    targets.extend_from_slice(format!(r#","x":[{}]}}"#, dense(32 * MIB)).as_bytes());
    let (result, peak) = repo.verify(&targets);
    report("field beside signed", targets.len(), peak);
    result.unwrap();
    assert!(peak < 4 * targets.len(), "peak {peak} bytes");
}
