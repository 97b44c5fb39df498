//! Properties checked on arbitrary input, by libFuzzer (fuzz/fuzz_targets/*, nightly or
//! RUSTC_BOOTSTRAP, see tools/fuzz.sh) and on stable by tests/hostile_fuzz.rs, which compiles this
//! file directly to replay fuzz/regressions/ and to run a seeded random-mutation harness.
//!
//! Each property returns normally on any input it refuses; a panic is a finding.

use std::collections::BTreeMap;
use std::path::Path;

use time::OffsetDateTime;
use trustpin::fetch::{Fetch, Source, SourceError, Wave};
use trustpin::reference::Gun;
use trustpin::resolve::{fetch_repo, Options};
use trustpin::tuf::canonical;
use trustpin::tuf::chain::{verify_delegations, verify_repo, Context, TopFiles, Trusted};
use trustpin::tuf::json::{self, Value};
use trustpin::tuf::keys::{PinnedKey, PublicKey};
use trustpin::tuf::level::Level;
use trustpin::tuf::metadata::{Envelope, Root, Snapshot, Targets, Timestamp};
use trustpin::tuf::role::RoleName;

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
    /// The unchanged top-level files verified at strict and at audit level.
    trusted: [Option<Trusted>; 2],
}

impl Base {
    /// The unchanged top-level files, verified at `level` (strict or audit).
    pub fn trusted(&self, level: Level) -> Option<Trusted> {
        self.trusted[usize::from(level != Level::Strict)].clone()
    }

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
        let mut base = Base {
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
            trusted: [None, None],
        };
        for (i, level) in [Level::Strict, Level::Audit].into_iter().enumerate() {
            let ctx = Context {
                meter: None,
                gun: &base.gun,
                pinned: &base.pinned,
                at: base.at,
                level,
            };
            let files = TopFiles {
                root: &base.top[0],
                timestamp: &base.top[1],
                snapshot: &base.top[2],
                targets: &base.top[3],
            };
            base.trusted[i] = Some(
                trustpin::tuf::chain::verify_top(&ctx, files)
                    .map_err(|e| format!("the unchanged {gun} must verify: {e}"))?,
            );
        }
        Ok(base)
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
/// file, its high bit: audit instead of strict), then selection and inspect: never a panic; and an
/// unchanged repository always verifies (so a finding is a crash, not a refusal).
///
/// When the input replaces a delegation, the unchanged top-level files' verification (done once,
/// in [`Base::trusted`]) is reused: only the delegation walk runs again. That is what made this
/// target cheap enough for a million executions.
pub fn verify_chain(base: &Base, data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let level = if selector & 0x80 == 0 {
        Level::Strict
    } else {
        Level::Audit
    };
    let slot = (selector & 0x7f) % 7;
    let mut repo = base.clone();
    *repo.slot(slot) = rest.to_vec();
    let fetched: BTreeMap<String, Result<Vec<u8>, trustpin::tuf::chain::DelegationError>> = repo
        .delegations
        .iter()
        .map(|(k, v)| (k.clone(), Ok(v.clone())))
        .collect();
    let ctx = Context {
        meter: None,
        gun: &repo.gun,
        pinned: &repo.pinned,
        at: repo.at,
        level,
    };
    let verified = match base.trusted(level) {
        Some(trusted) if slot >= 4 => Ok(verify_delegations(&ctx, trusted, &fetched)),
        _ => {
            let files = TopFiles {
                root: &repo.top[0],
                timestamp: &repo.top[1],
                snapshot: &repo.top[2],
                targets: &repo.top[3],
            };
            verify_repo(&ctx, files, &fetched)
        }
    };
    if let Ok(verified) = verified {
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

// ------------------------------------------------------------------------------------------------
// The rotation walk and delegation trees: whole resolutions (the IO shell with its budgets and
// deadline, over an in-memory source) of a fixture repository our builder signed
// (fuzz/fixtures, made and checked by tests/hostile_fuzz.rs), with one file replaced or removed.

/// A source serving files from memory, as a server would (404 for what it lacks).
pub struct MemSource {
    pub files: BTreeMap<String, Vec<u8>>,
}

impl Source for MemSource {
    fn fetch_many(&self, gun: &Gun, wanted: &[(RoleName, u64)], _wave: Wave) -> Vec<Fetch> {
        wanted
            .iter()
            .map(|(role, max)| match self.files.get(role.as_str()) {
                None => Err(SourceError::NotFound {
                    location: self.location(gun, role),
                }),
                Some(b) if b.len() as u64 > *max => Err(SourceError::TooLarge {
                    location: self.location(gun, role),
                    limit: *max,
                }),
                Some(b) => Ok(b.clone()),
            })
            .collect()
    }

    fn location(&self, gun: &Gun, role: &RoleName) -> String {
        format!("mem:{gun}/{role}")
    }
}

/// A fixture repository and what its unchanged files verify to.
#[derive(Clone)]
pub struct Fixture {
    pub name: String,
    pub gun: String,
    pub files: BTreeMap<String, Vec<u8>>,
    pub pinned: Vec<PinnedKey>,
    pub at: OffsetDateTime,
    pub at_text: String,
    pub tag: String,
    /// The digest (hex) the unchanged fixture resolves `tag` to, or why it does not.
    pub expected: Result<String, String>,
    /// The same with `targets/releases` required.
    pub expected_releases: Result<String, String>,
    /// Every digest (hex) a role of the unchanged fixture signed for `tag`.
    pub signed: Vec<String>,
}

/// Fixture `name` from `dir` for the fuzz target `target`: loaded, and its unchanged files
/// verified.
pub fn fixture_for(dir: &Path, name: &str, target: &str) -> Fixture {
    let fx =
        Fixture::load(dir, name).unwrap_or_else(|e| panic!("{target} needs fuzz/fixtures: {e}"));
    assert!(
        fx.expected.is_ok(),
        "the unchanged fixture must verify: {:?}",
        fx.expected
    );
    fx
}

impl Fixture {
    /// Every fixture listed in `dir/fixtures.json`.
    pub fn load_all(dir: &Path) -> Result<Vec<Fixture>, String> {
        let index = read_index(dir)?;
        let names: Vec<String> = index["repos"]
            .as_array()
            .ok_or("fixtures.json: no repos")?
            .iter()
            .filter_map(|r| r["name"].as_str().map(str::to_owned))
            .collect();
        names.iter().map(|n| Fixture::load(dir, n)).collect()
    }

    /// Fixture `name` from `dir` (fuzz/fixtures).
    pub fn load(dir: &Path, name: &str) -> Result<Fixture, String> {
        let index = read_index(dir)?;
        let repo = index["repos"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["name"] == name))
            .ok_or_else(|| format!("fixtures.json lists no {name}"))?;
        let gun = repo["gun"].as_str().ok_or("no gun")?.to_owned();
        let at_text = index["at"].as_str().ok_or("no at")?.to_owned();
        let at = OffsetDateTime::parse(&at_text, &time::format_description::well_known::Rfc3339)
            .map_err(|e| format!("at {at_text:?}: {e}"))?;
        let tag = index["tag"].as_str().ok_or("no tag")?.to_owned();
        let key_path = dir.join(repo["pinned"].as_str().ok_or("no pinned")?);
        let key = std::fs::read(&key_path).map_err(|e| format!("{}: {e}", key_path.display()))?;
        let pinned = vec![PinnedKey::parse(&key, name).map_err(|e| e.to_string())?];
        let tuf = dir.join(&gun).join("_trust/tuf");
        let mut files = BTreeMap::new();
        read_tree(&tuf, "", &mut files)?;
        let mut fx = Fixture {
            name: name.to_owned(),
            gun,
            files,
            pinned,
            at,
            at_text,
            tag,
            expected: Err(String::new()),
            expected_releases: Err(String::new()),
            signed: Vec::new(),
        };
        let (mut answers, repo) = fx.resolve(&fx.files.clone(), &[&[], &releases()]);
        fx.expected_releases = answers.pop().unwrap_or_else(|| Err(String::new()));
        fx.expected = answers.pop().unwrap_or_else(|| Err(String::new()));
        fx.signed = repo
            .map(|r| {
                r.signed_targets()
                    .filter_map(|(_, t)| t.get(&fx.tag))
                    .filter_map(|m| m.sha256.as_ref().map(hex_of))
                    .collect()
            })
            .unwrap_or_default();
        Ok(fx)
    }

    /// The files a selector byte picks from, sorted: the root files of the rotation fixture,
    /// targets.json and the delegations of the other.
    pub fn names(&self) -> Vec<&str> {
        let rotation = self.name == "rotation";
        self.files
            .keys()
            .map(String::as_str)
            .filter(|n| {
                if rotation {
                    *n == "root" || n.ends_with(".root")
                } else {
                    n.starts_with("targets")
                }
            })
            .collect()
    }

    /// One seed per file: that file, unchanged, as the replacement.
    pub fn seeds(&self) -> Vec<Vec<u8>> {
        self.names()
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let mut v = vec![i as u8];
                v.extend_from_slice(&self.files[*n]);
                v
            })
            .collect()
    }

    /// The files with the one the input names replaced by the rest of it (selector's high bit:
    /// removed instead), or None for an empty input.
    fn with_input(&self, data: &[u8]) -> Option<(String, BTreeMap<String, Vec<u8>>)> {
        let (&selector, rest) = data.split_first()?;
        let names = self.names();
        let name = names[(selector & 0x7f) as usize % names.len()].to_owned();
        let mut files = self.files.clone();
        if selector & 0x80 != 0 {
            files.remove(&name);
        } else {
            files.insert(name.clone(), rest.to_vec());
        }
        Some((name, files))
    }

    /// Resolve `tag` over `files`, once with each of `required` (lists of required
    /// delegations): the digests, and the verified repository when there is one. The repository
    /// is fetched and verified once for all of them.
    fn resolve(
        &self,
        files: &BTreeMap<String, Vec<u8>>,
        required: &[&[String]],
    ) -> (
        Vec<Result<String, String>>,
        Option<trustpin::tuf::chain::Repo>,
    ) {
        let source = MemSource {
            files: files.clone(),
        };
        let opts = Options::new(self.pinned.clone(), self.at);
        let gun = Gun::new(&self.gun).expect("fixture gun");
        let repo = match fetch_repo(&source, &gun, &opts) {
            Ok(r) => r,
            Err(e) => return (vec![Err(e.to_string()); required.len()], None),
        };
        let answers = required
            .iter()
            .map(|req| {
                let query = trustpin::tuf::select::Query::Tag(&self.tag);
                trustpin::tuf::select::select(&repo, query, req)
                    .map(|s| s.digest.hex())
                    .map_err(|e| e.to_string())
            })
            .collect();
        (answers, Some(repo))
    }
}

/// The delegation docker requires when asked to (`--delegation releases`).
fn releases() -> Vec<String> {
    vec!["targets/releases".to_owned()]
}

fn read_index(dir: &Path) -> Result<serde_json::Value, String> {
    let path = dir.join("fixtures.json");
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_tree(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Vec<u8>>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for e in entries.flatten() {
        let path = e.path();
        let file = e.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            read_tree(&path, &format!("{prefix}{file}/"), out)?;
        } else if let Some(role) = file.strip_suffix(".json") {
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            out.insert(format!("{prefix}{role}"), bytes);
        }
    }
    Ok(())
}

fn hex_of(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The rotation walk: the fixture's current root or one of its versioned roots replaced by the
/// input (or removed). Never a panic; and whatever one root file holds, the answer is the
/// fixture's own digest or a refusal: no single file can redirect a tag.
pub fn rotation_walk(fx: &Fixture, data: &[u8]) {
    let Some((name, files)) = fx.with_input(data) else {
        return;
    };
    let (answers, _) = fx.resolve(&files, &[&[]]);
    if let Some(Ok(digest)) = answers.first() {
        assert_eq!(
            Ok(digest),
            fx.expected.as_ref(),
            "{name} replaced: a tag was redirected"
        );
    }
}

/// Delegation trees: targets.json or one delegation file replaced by the input (or removed),
/// selected with no required delegation and with `targets/releases` required. Never a panic;
/// any answer is a digest some role of the fixture signed for the tag, and with releases
/// required only releases' own.
pub fn delegation_tree(fx: &Fixture, data: &[u8]) {
    let Some((name, files)) = fx.with_input(data) else {
        return;
    };
    let (answers, _) = fx.resolve(&files, &[&[], &releases()]);
    if let Some(Ok(digest)) = answers.first() {
        assert!(
            fx.signed.contains(digest),
            "{name} replaced: answered {digest}, which no role of the fixture signed"
        );
    }
    if let Some(Ok(digest)) = answers.get(1) {
        assert_eq!(
            Ok(digest),
            fx.expected_releases.as_ref(),
            "{name} replaced: releases was required, another digest was given"
        );
    }
}
