//! Fuzzing on stable, and the fuzzers' findings as regression tests.
//!
//! - fuzz/regressions/<target>/*: every input a fuzz run (tools/fuzz.sh) found crashing, replayed
//!   through the same property (fuzz/src/props.rs, compiled here directly).
//! - A seeded random-mutation harness per property (bit flips, JSON-significant bytes, splices
//!   between real files), so CI exercises the fuzz properties without libFuzzer.
//! - The canonical encoder over files the real notary signed: their encoding verifies. (Random
//!   values, stable and agreeing with serde_json, are src/tuf/canonical.rs's unit tests.)
//! - Re-signed random mutations: the builder re-signs and re-hashes every mutated file, so the
//!   mutation reaches the typed parsing, delegations and selection behind the signature checks.

#[path = "../fuzz/src/props.rs"]
mod props;

mod common;
use common::builder;
use common::builder::{at_path, json_paths};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;
use trustpin::tuf::keys::PublicKey;
use trustpin::tuf::metadata::{Envelope, Root, Targets};

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

fn trust_data() -> PathBuf {
    let p = Path::new(MANIFEST).join("../shared/trust-data");
    assert!(
        p.join("docker.io").is_dir(),
        "{} is missing: these tests need ../shared/trust-data",
        p.display()
    );
    p
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
}

/// Every real metadata file: testdata/ (made by the real notary) and ../shared/trust-data.
fn real_files() -> Vec<Vec<u8>> {
    let mut paths = Vec::new();
    json_files(&Path::new(MANIFEST).join("testdata"), &mut paths);
    json_files(&trust_data(), &mut paths);
    assert!(paths.len() > 30, "{} files", paths.len());
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"\\",
    b",",
    b":",
    b"null",
    b"true",
    b"-",
    b"0",
    b"1.0",
    b"1e9",
    b"9007199254740993",
    b"\\u0000",
    b"\\ud800",
    b"\\u003c",
    b"\xc3\xa9",
    b"\xff",
    b" ",
    b"\"\":",
];

/// One to four random edits of `input`, some splicing in a chunk of `other`.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let end = (at + rng.below(16)).min(v.len());
                v.drain(at.min(end)..end);
            }
            2 => {
                let bytes = INTERESTING[rng.below(INTERESTING.len())];
                v.splice(at..at, bytes.iter().copied());
            }
            3 if !other.is_empty() => {
                let from = rng.below(other.len());
                let end = (from + rng.below(256)).min(other.len());
                v.splice(at..at, other[from..end].iter().copied());
            }
            4 if !v.is_empty() => {
                let from = rng.below(v.len());
                let end = (from + rng.below(64)).min(v.len());
                let chunk = v[from..end].to_vec();
                v.splice(at..at, chunk);
            }
            _ => {
                if let Some(i) = v.iter().position(|b| b.is_ascii_digit()) {
                    v[i] = b"0123456789"[rng.below(10)];
                }
            }
        }
    }
    v
}

/// Run `property` on each of `inputs` as it is, then on mutations of them for about `budget`
/// (at least `min` runs).
fn harness(
    name: &str,
    seed: u64,
    inputs: &[Vec<u8>],
    budget: Duration,
    min: usize,
    property: impl Fn(&[u8]),
) -> usize {
    for input in inputs {
        property(input);
    }
    let mut rng = Rng(seed);
    let start = Instant::now();
    let mut runs = 0;
    while runs < min || start.elapsed() < budget {
        let a = &inputs[rng.below(inputs.len())];
        let b = &inputs[rng.below(inputs.len())];
        let m = mutate(&mut rng, a, b);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| property(&m)));
        if result.is_err() {
            let dir = Path::new(MANIFEST).join("target/fuzz-findings").join(name);
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join(format!("crash-{}", common::sha256_hex(&m)));
            std::fs::write(&file, &m).unwrap();
            panic!(
                "{name}: panic on mutation {runs} (seed {seed}); input saved as {} — copy it to fuzz/regressions/{name}/",
                file.display()
            );
        }
        runs += 1;
        if runs > 200_000 {
            break;
        }
    }
    eprintln!("{name}: {runs} mutated inputs in {:?}", start.elapsed());
    runs
}

fn regressions(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(MANIFEST).join("fuzz/regressions").join(target);
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            if e.path().is_file() {
                out.push((e.path(), std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out
}

// ---- fuzz findings, replayed ------------------------------------------------------------------

#[test]
fn fuzz_regressions_replay_without_panicking() {
    for (path, data) in regressions("metadata_parse") {
        eprintln!("replaying {}", path.display());
        props::metadata_parse(&data);
    }
    for (path, data) in regressions("key_parse") {
        eprintln!("replaying {}", path.display());
        props::key_parse(&data);
    }
    for (path, data) in regressions("canonical_roundtrip") {
        eprintln!("replaying {}", path.display());
        props::canonical_roundtrip(&data);
    }
    let base = props::Base::load_from(&trust_data()).unwrap();
    for (path, data) in regressions("verify_chain") {
        eprintln!("replaying {}", path.display());
        props::verify_chain(&base, &data);
    }
    let rotation = props::Fixture::load(&fixtures_dir(), "rotation").unwrap();
    for (path, data) in regressions("rotation_walk") {
        eprintln!("replaying {}", path.display());
        props::rotation_walk(&rotation, &data);
    }
    let delegations = props::Fixture::load(&fixtures_dir(), "delegations").unwrap();
    for (path, data) in regressions("delegation_tree") {
        eprintln!("replaying {}", path.display());
        props::delegation_tree(&delegations, &data);
    }
}

// ---- seeded random mutation (the fuzz properties on stable) -------------------------------------

/// [`harness`] over the real files: 3 s, at least 2,000 mutations.
fn real_files_survive(name: &str, seed: u64, property: impl Fn(&[u8])) {
    harness(
        name,
        seed,
        &real_files(),
        Duration::from_secs(3),
        2000,
        property,
    );
}

#[test]
fn metadata_parser_survives_random_mutations_of_real_files() {
    real_files_survive("metadata_parse", 0x5eed_0001, props::metadata_parse);
}

#[test]
fn canonical_roundtrip_survives_random_mutations_of_real_files() {
    real_files_survive(
        "canonical_roundtrip",
        0x5eed_0002,
        props::canonical_roundtrip,
    );
}

#[test]
fn verify_chain_survives_random_mutations_of_real_files() {
    let base = props::Base::load_from(&trust_data()).unwrap();
    // The unmutated inputs verify (each file put back in its own slot).
    let mut seeds = Vec::new();
    for sel in 0..7u8 {
        let mut b = base.clone();
        let original = b.slot(sel).clone();
        seeds.push(props::Base::input(sel, &original));
        seeds.push(props::Base::input(sel | 0x80, &original));
    }
    harness(
        "verify_chain",
        0x5eed_0003,
        &seeds,
        Duration::from_secs(4),
        300,
        |d| props::verify_chain(&base, d),
    );
}

/// key_parse inputs from every key in the real files: selector (key type, 0x80 = DER certificate
/// to wrap in PEM) then the material.
fn real_keys() -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let types = ["ed25519", "ecdsa", "ecdsa-x509", "rsa", "rsa-x509"];
    let mut out = Vec::new();
    for f in real_files() {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&f) else {
            continue;
        };
        let maps = [
            v["signed"]["keys"].clone(),
            v["signed"]["delegations"]["keys"].clone(),
        ];
        for map in maps.iter().filter_map(|m| m.as_object()) {
            for key in map.values() {
                let (Some(t), Some(public)) =
                    (key["keytype"].as_str(), key["keyval"]["public"].as_str())
                else {
                    continue;
                };
                let Some(i) = types.iter().position(|x| *x == t) else {
                    continue;
                };
                let raw = b64.decode(public).unwrap();
                if t.ends_with("x509") {
                    let der = pem::parse(&raw).unwrap().into_contents();
                    out.push([&[i as u8 | 0x80][..], &der].concat());
                }
                out.push([&[i as u8][..], &raw].concat());
            }
        }
    }
    let rsa = builder::shared_rsa();
    out.push([&[3u8][..], &rsa.spki_der].concat());
    out.sort();
    out.dedup();
    assert!(out.len() >= 10, "{} keys", out.len());
    out
}

#[test]
fn key_parser_survives_random_mutations_of_real_keys() {
    let keys = real_keys();
    harness(
        "key_parse",
        0x5eed_0006,
        &keys,
        Duration::from_secs(3),
        1000,
        props::key_parse,
    );
}

/// Keys that may sign each role of one repository folder.
fn repo_keys(tuf: &Path) -> BTreeMap<String, Vec<PublicKey>> {
    let root_bytes = std::fs::read(tuf.join("root.json")).unwrap();
    let (root, _) = Root::parse(&root_bytes).unwrap();
    let mut out: BTreeMap<String, Vec<PublicKey>> = BTreeMap::new();
    for (role, rk) in &root.roles {
        out.insert(
            role.clone(),
            rk.keyids
                .iter()
                .filter_map(|id| root.keys.get(id).cloned())
                .collect(),
        );
    }
    let targets_bytes = std::fs::read(tuf.join("targets.json")).unwrap();
    let (targets, _) = Targets::parse(&targets_bytes).unwrap();
    for d in &targets.delegations {
        out.insert(
            d.name.clone(),
            d.keys
                .keyids
                .iter()
                .filter_map(|id| targets.delegation_keys.get(id).cloned())
                .collect(),
        );
    }
    out
}

#[test]
fn canonical_encoding_of_files_the_real_notary_signed_verifies() {
    // testdata/ was signed by the real notary 0.7.0, with `<`, `>`, `&`, U+2028 escaped on the
    // wire and raw in the signed form, decomposed é, `q"uote`, backslashes. Every signature of
    // every file verifies over our canonical encoding; and it would not over the wire bytes.
    let mut verified = 0;
    let mut differs_from_wire = 0;
    for gun in ["demo", "delegated", "oddnames"] {
        let tuf = Path::new(MANIFEST)
            .join("testdata/example.com/trustpin")
            .join(gun)
            .join("_trust/tuf");
        let keys = repo_keys(&tuf);
        let mut files = Vec::new();
        json_files(&tuf, &mut files);
        for f in files {
            let rel = f
                .strip_prefix(&tuf)
                .unwrap()
                .to_str()
                .unwrap()
                .trim_end_matches(".json")
                .to_owned();
            let role = if rel.ends_with("root") {
                "root".to_owned()
            } else {
                rel.clone()
            };
            let bytes = std::fs::read(&f).unwrap();
            let env = Envelope::parse(&bytes).unwrap();
            let role_keys = &keys[&role];
            assert!(!env.sig.signatures.is_empty(), "{}", f.display());
            for sig in &env.sig.signatures {
                let key = role_keys
                    .iter()
                    .find(|k| k.id() == sig.keyid || k.canonical_id() == sig.keyid)
                    .unwrap_or_else(|| panic!("{}: signer {} unknown", f.display(), sig.keyid));
                key.verify(&sig.method, &env.sig.canonical, &sig.sig)
                    .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                verified += 1;
            }
            // The server escaped `<` as \u003c on the wire; the signed form has it raw.
            let contains = |h: &[u8], n: &[u8]| h.windows(n.len()).any(|w| w == n);
            if contains(&bytes, b"\\u003c") && contains(&env.sig.canonical, b"a<b") {
                differs_from_wire += 1;
            }
        }
    }
    assert!(verified >= 15, "{verified} signatures verified");
    assert!(
        differs_from_wire >= 1,
        "no file whose wire form differs from its signed form"
    );
}

// ---- re-signed random mutations ----------------------------------------------------------------

#[test]
fn resigned_random_mutations_of_every_field_never_panic() {
    // Every field of every `signed` object replaced by a random value, then signed and hashed
    // properly: the chain, delegations and selection see well-signed nonsense. Refusals are fine;
    // a panic is not.
    let mut r = builder::RepoBuilder::new("example.com/hostile/fuzz");
    r.tag("targets", "v1", b"one")
        .delegate("targets", "targets/releases", &["v"])
        .tag("targets/releases", "v1", b"one")
        .delegate("targets/releases", "targets/releases/qa", &["v1"])
        .tag("targets/releases/qa", "v1", b"two");
    let base = r.build();
    let pool = [
        json!(null),
        json!(true),
        json!(0),
        json!(-1),
        json!(2147483647),
        json!(""),
        json!("targets/../x"),
        json!("Root"),
        json!("Targets"),
        json!([]),
        json!([""]),
        json!({}),
        json!({"": {}}),
        json!("2000-01-01T00:00:00Z"),
        json!("ed25519"),
        json!("ecdsa-x509"),
    ];
    let mut rng = Rng(0x5eed_0005);
    let mut runs = 0;
    let mut accepted = 0;
    let start = Instant::now();
    for role in common::ROLES.into_iter().chain(["targets/releases/qa"]) {
        let mut all = Vec::new();
        json_paths(&base.json(role)["signed"], Vec::new(), &mut all);
        for path in all {
            let new = pool[rng.below(pool.len())].clone();
            let p = path.clone();
            r.clear_hooks();
            r.edit_signed(role, move |s| *at_path(s, &p) = new.clone());
            let built = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| r.build())) {
                Ok(b) => b,
                Err(_) => continue, // the builder itself could not sign it (not trustpin's doing)
            };
            runs += 1;
            let outcome = std::panic::catch_unwind(|| {
                built.verify().map(|repo| {
                    for req in [&[][..], &["releases/qa".to_owned()][..]] {
                        let _ = trustpin::tuf::select::select(
                            &repo,
                            trustpin::tuf::select::Query::Tag("v1"),
                            req,
                        );
                    }
                    let _ = trustpin::report::inspect::report(&repo, None);
                })
            });
            match outcome {
                Ok(Ok(())) => accepted += 1,
                Ok(Err(_)) => {}
                Err(_) => panic!("panic with {role} {path:?} replaced"),
            }
        }
    }
    r.clear_hooks();
    assert!(runs > 80, "{runs}");
    assert!(accepted > 0 && accepted < runs, "{accepted} of {runs}");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
}

// ------------------------------------------------------------------------------------------------
// Fixtures of the rotation_walk and delegation_tree fuzz targets: repositories our builder signs
// (a 4-version root rotation; a delegation tree three levels deep), committed under fuzz/fixtures
// so a fuzz run and its replay here start from the same bytes.

const FIXTURE_TAG: &str = "v1";

fn fixtures_dir() -> PathBuf {
    Path::new(MANIFEST).join("fuzz/fixtures")
}

/// A fixture repository under `root` whose targets, snapshot and timestamp keys are ed25519.
fn ed25519_repo(gun: &str, root: builder::Key) -> builder::RepoBuilder {
    use builder::{Key, RepoBuilder};
    RepoBuilder::with_keys(gun, root, Key::ed25519(), Key::ed25519(), Key::ed25519())
}

/// Build both fixture repositories: (name, built files, extra files, pinned PEM, the digest each
/// role signed for `v1`).
fn build_fixtures() -> Vec<(&'static str, builder::Built, String)> {
    use builder::Key;
    let mut out = Vec::new();

    // Rotation: the root key changed three times; key 1 is pinned. Version v lists key v and is
    // signed by keys v-1 and v, as notary rotates.
    let gun = "example.com/fuzz/rotation";
    let keys: Vec<Key> = (0..=4).map(|_| Key::root(gun)).collect();
    let mut r = ed25519_repo(gun, keys[4].clone());
    r.tag("targets", FIXTURE_TAG, b"rotation image");
    r.edit_signed("root", |s| s["version"] = json!(4));
    r.signers("root", vec![keys[3].clone(), keys[4].clone()]);
    let base = r.files["root"].signed.clone();
    let mut built = r.build();
    for v in 1..4usize {
        let mut s = base.clone();
        let ks = s["keys"].as_object_mut().unwrap();
        ks.remove(&keys[4].id());
        ks.insert(keys[v].id(), keys[v].tuf());
        s["roles"]["root"] = json!({"keyids": [keys[v].id()], "threshold": 1});
        s["version"] = json!(v);
        let signers = if v == 1 {
            vec![keys[1].clone()]
        } else {
            vec![keys[v - 1].clone(), keys[v].clone()]
        };
        let env = builder::sign_envelope(&s, &signers);
        built
            .files
            .insert(format!("{v}.root"), serde_json::to_vec(&env).unwrap());
    }
    out.push(("rotation", built, keys[1].public_pem()));

    // Delegations: targets → releases, team (threshold 2), a → a/b, a/c; different digests for
    // v1 in targets, releases and a/b, so a wrong choice shows.
    let gun = "example.com/fuzz/delegations";
    let mut r = ed25519_repo(gun, Key::root(gun));
    r.tag("targets", FIXTURE_TAG, b"targets image");
    r.delegate("targets", "targets/releases", &[""]).tag(
        "targets/releases",
        FIXTURE_TAG,
        b"releases image",
    );
    r.delegate_with(
        "targets",
        "targets/team",
        vec![Key::ed25519(), Key::ed25519()],
        2,
        &["v"],
    )
    .tag("targets/team", FIXTURE_TAG, b"team image");
    r.delegate("targets", "targets/a", &["v"]);
    r.delegate("targets/a", "targets/a/b", &["v1"])
        .tag("targets/a/b", FIXTURE_TAG, b"a/b image");
    r.delegate("targets/a", "targets/a/c", &["w"])
        .tag("targets/a/c", "w1", b"a/c image");
    let pinned = r.pinned_pem();
    out.push(("delegations", r.build(), pinned));
    out
}

/// `TRUSTPIN_WRITE_FUZZ_FIXTURES=1 cargo test --test hostile_fuzz fuzz_fixtures` writes new
/// fixtures (fresh keys); every run checks the committed ones verify with trustpin as documented.
#[test]
fn fuzz_fixtures_verify_as_the_fuzz_targets_assume() {
    let dir = fixtures_dir();
    if std::env::var_os("TRUSTPIN_WRITE_FUZZ_FIXTURES").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        let at = builder::rfc3339(builder::now() + builder::days(1));
        let mut index = Vec::new();
        for (name, built, pinned) in build_fixtures() {
            built.write_to(&dir);
            std::fs::write(dir.join(format!("{name}.pub")), &pinned).unwrap();
            index.push(json!({"name": name, "gun": built.gun, "pinned": format!("{name}.pub")}));
        }
        let doc = json!({"at": at, "tag": FIXTURE_TAG, "repos": index});
        std::fs::write(
            dir.join("fixtures.json"),
            serde_json::to_vec_pretty(&doc).unwrap(),
        )
        .unwrap();
    }
    let fixtures = props::Fixture::load_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fixtures.len(), 2);
    for fx in &fixtures {
        // The fixture as the fuzz property sees it: it verifies, and gives `expected`.
        let expected = fx
            .expected
            .clone()
            .unwrap_or_else(|e| panic!("{}: {e}", fx.name));
        // The same answer from the binary, over the folder, as a user would ask.
        let out = common::Cmd::trustpin()
            .args(["resolve", "--metadata-dir"])
            .arg(&dir)
            .arg("--root-key")
            .arg(dir.join(format!("{}.pub", fx.name)))
            .args(["--at", &fx.at_text, &format!("{}:{FIXTURE_TAG}", fx.gun)])
            .fresh_cache()
            .run();
        out.expect_code(0, &fx.name);
        assert_eq!(out.stdout, format!("{}@sha256:{}\n", fx.gun, expected));
    }
    // The rotation fixture needs its walk: pinned key 1, current root 4.
    let rotation = fixtures.iter().find(|f| f.name == "rotation").unwrap();
    assert!(rotation.files.contains_key("3.root") && rotation.files.contains_key("1.root"));
}

/// `property` (the fuzz target `target`) over random mutations of the seeds of fixture `name`.
fn fixture_survives(name: &str, target: &str, seed: u64, property: fn(&props::Fixture, &[u8])) {
    let fx = props::fixture_for(&fixtures_dir(), name, target);
    let seeds = fx.seeds();
    harness(target, seed, &seeds, Duration::from_secs(3), 100, |d| {
        property(&fx, d)
    });
}

#[test]
fn rotation_walk_survives_random_mutations_of_its_fixture() {
    fixture_survives(
        "rotation",
        "rotation_walk",
        0x0007_0007,
        props::rotation_walk,
    );
}

#[test]
fn delegation_tree_survives_random_mutations_of_its_fixture() {
    fixture_survives(
        "delegations",
        "delegation_tree",
        0x0008_0008,
        props::delegation_tree,
    );
}
