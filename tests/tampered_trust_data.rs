//! Real trust data from ../shared/trust-data, tampered with in memory: every change is refused by
//! the sans-IO chain with a message naming the role and what was expected. (Attacks that need
//! re-signing with our own keys live with the hostile-repository builder.)

use std::collections::BTreeMap;
use std::path::PathBuf;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use trustpin::tuf::chain::{verify_repo, verify_top, Context, TopFiles};
use trustpin::tuf::keys::PinnedKey;
use trustpin::tuf::level::Level;
use trustpin::tuf::select::select;

fn tuf_dir(image: &str) -> PathBuf {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/trust-data/docker.io/phbelitz"
    ))
    .join(image)
    .join("_trust/tuf");
    assert!(
        p.is_dir(),
        "{} is missing: these tests need ../shared/trust-data",
        p.display()
    );
    p
}

fn read(image: &str, role: &str) -> Vec<u8> {
    std::fs::read(tuf_dir(image).join(format!("{role}.json"))).unwrap()
}

fn pinned_a() -> Vec<PinnedKey> {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/trust-data/keys/phbelitz-a.pub"
    ));
    vec![PinnedKey::parse(&std::fs::read(&p).unwrap(), "phbelitz-a.pub").unwrap()]
}

struct Files {
    root: Vec<u8>,
    timestamp: Vec<u8>,
    snapshot: Vec<u8>,
    targets: Vec<u8>,
}

fn sample() -> Files {
    Files {
        root: read("sample-image", "root"),
        timestamp: read("sample-image", "timestamp"),
        snapshot: read("sample-image", "snapshot"),
        targets: read("sample-image", "targets"),
    }
}

/// The sample image's files `f`, verified at SAMPLE_AT: refused, naming every one of `words`.
fn refused(f: &Files, words: &[&str]) {
    let err = verify(SAMPLE, f, SAMPLE_AT).unwrap_err();
    for w in words {
        assert!(err.contains(w), "{w:?} not in: {err}");
    }
}

fn verify(gun: &str, f: &Files, at: &str) -> Result<(), String> {
    let pinned = pinned_a();
    let ctx = Context {
        meter: None,
        gun,
        pinned: &pinned,
        at: OffsetDateTime::parse(at, &Rfc3339).unwrap(),
        level: Level::Strict,
    };
    let files = TopFiles {
        root: &f.root,
        timestamp: &f.timestamp,
        snapshot: &f.snapshot,
        targets: &f.targets,
    };
    verify_top(&ctx, files)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

const SAMPLE: &str = "docker.io/phbelitz/sample-image";
const SAMPLE_AT: &str = "2019-11-01T00:00:00Z";

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn untouched_sample_verifies() {
    verify(SAMPLE, &sample(), SAMPLE_AT).unwrap();
}

#[test]
fn root_with_no_signatures_is_refused() {
    // Connaisseur's v2 validator accepted this.
    let mut f = sample();
    let mut v = json(&f.root);
    v["signatures"] = serde_json::json!([]);
    f.root = serde_json::to_vec(&v).unwrap();
    refused(
        &f,
        &["root: 0 of 1 required signatures valid (the file has no signatures)"],
    );
}

#[test]
fn every_role_with_its_signatures_stripped_is_refused() {
    for role in ["timestamp", "snapshot", "targets"] {
        let mut f = sample();
        let slot = match role {
            "timestamp" => &mut f.timestamp,
            "snapshot" => &mut f.snapshot,
            _ => &mut f.targets,
        };
        let mut v = json(slot);
        v["signatures"] = serde_json::json!([]);
        *slot = serde_json::to_vec(&v).unwrap();
        let err = verify(SAMPLE, &f, SAMPLE_AT).unwrap_err();
        // Stripping changes the bytes, so snapshot/targets fail their hash before their
        // signatures; either way the role is named.
        assert!(err.contains(role), "{role}: {err}");
    }
}

#[test]
fn a_signature_over_changed_content_is_refused() {
    let mut f = sample();
    let mut v = json(&f.timestamp);
    v["signed"]["version"] = serde_json::json!(v["signed"]["version"].as_i64().unwrap() + 1);
    f.timestamp = serde_json::to_vec(&v).unwrap();
    refused(&f, &["timestamp: 0 of 1 required signatures valid"]);
}

#[test]
fn targets_reformatted_keeps_its_signature_but_fails_the_snapshot_hash() {
    // Whitespace does not change the canonical form, so the signature still verifies: only the
    // snapshot's length and hash catch the changed bytes.
    let mut f = sample();
    f.targets = serde_json::to_vec_pretty(&json(&f.targets)).unwrap();
    refused(&f, &["targets: length is", "snapshot says"]);
}

#[test]
fn another_repositorys_targets_is_refused_mix_and_match() {
    let mut f = sample();
    f.targets = read("alice-image", "targets");
    refused(&f, &["targets:", "snapshot says"]);
}

#[test]
fn another_snapshot_is_refused_by_the_timestamp() {
    let mut f = sample();
    f.snapshot = read("alice-image", "snapshot");
    refused(&f, &["snapshot:", "timestamp says"]);
}

#[test]
fn wrong_type_is_refused() {
    let mut f = sample();
    f.timestamp = read("sample-image", "snapshot");
    refused(
        &f,
        &["`signed._type` is \"Snapshot\", expected \"Timestamp\""],
    );
}

#[test]
fn duplicate_json_keys_are_refused() {
    let mut f = sample();
    let s = String::from_utf8(f.timestamp.clone()).unwrap();
    f.timestamp = s
        .replacen("{\"signed\":{", "{\"signed\":{\"version\":999,", 1)
        .into_bytes();
    refused(&f, &["duplicate object key \"version\""]);
}

#[test]
fn a_key_listed_under_another_keys_id_is_refused() {
    let mut f = sample();
    let mut v = json(&f.root);
    let keys = v["signed"]["keys"].as_object_mut().unwrap();
    let ids: Vec<String> = keys.keys().cloned().collect();
    let (a, b) = (ids[0].clone(), ids[1].clone());
    let ka = keys[&a].clone();
    keys.insert(b.clone(), ka);
    f.root = serde_json::to_vec(&v).unwrap();
    refused(
        &f,
        &[&format!("key listed as {b} has the content of key ID {a}")],
    );
}

#[test]
fn malformed_but_valid_json_is_an_error_not_a_panic() {
    for body in [
        &b"null"[..],
        b"[]",
        b"{}",
        b"{\"signed\":null,\"signatures\":[]}",
        b"{\"signed\":{},\"signatures\":null}",
        b"{\"signed\":{\"_type\":\"Timestamp\",\"version\":\"1\"},\"signatures\":[]}",
        b"{\"signed\":{\"_type\":\"Timestamp\",\"version\":1,\"expires\":\"tomorrow\",\"meta\":{}},\"signatures\":[]}",
        b"{\"signed\":{\"_type\":\"Timestamp\",\"version\":1,\"expires\":\"2030-01-01T00:00:00Z\",\"meta\":{\"snapshot\":{\"length\":-1,\"hashes\":{}}}},\"signatures\":[]}",
        b"{\"signed\":{},\"signatures\":[{\"keyid\":1,\"method\":null,\"sig\":[]}]}",
    ] {
        let mut f = sample();
        f.timestamp = body.to_vec();
        let err = verify(SAMPLE, &f, SAMPLE_AT).unwrap_err();
        // Unsigned and malformed: the signatures are checked before the role is read, so the
        // refusal names the timestamp role (its structure or its missing signatures).
        assert!(
            err.starts_with("timestamp.json") || err.starts_with("timestamp: 0 of 1"),
            "{}: {err}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn tampered_delegation_contributes_nothing_and_says_why() {
    let pinned = pinned_a();
    let at = OffsetDateTime::parse("2019-10-15T00:00:00Z", &Rfc3339).unwrap();
    let ctx = Context {
        meter: None,
        gun: "docker.io/phbelitz/alice-image",
        pinned: &pinned,
        at,
        level: Level::Strict,
    };
    let (root, ts, sn, tg) = (
        read("alice-image", "root"),
        read("alice-image", "timestamp"),
        read("alice-image", "snapshot"),
        read("alice-image", "targets"),
    );
    let files = TopFiles {
        root: &root,
        timestamp: &ts,
        snapshot: &sn,
        targets: &tg,
    };
    let mut fetched = BTreeMap::new();
    for d in ["releases", "phbelitz", "chamsen"] {
        fetched.insert(
            format!("targets/{d}"),
            Ok(read("alice-image", &format!("targets/{d}"))),
        );
    }
    // Flip one character of releases' signed content: same length, different hash.
    let rel = fetched
        .get_mut("targets/releases")
        .unwrap()
        .as_mut()
        .unwrap();
    let pos = rel.windows(6).position(|w| w == b"\"test\"").unwrap() + 1;
    rel[pos] = b'T';
    let repo = verify_repo(&ctx, files, &fetched).unwrap();
    let rel = repo.delegation("targets/releases").unwrap();
    let why = rel.outcome.as_ref().unwrap_err().to_string();
    assert!(
        why.contains("sha256 is") && why.contains("snapshot says"),
        "{why}"
    );
    assert!(repo
        .warnings
        .iter()
        .any(|w| w.message.contains("targets/releases not used")));
    // The tag now comes from no role that counts (targets has none), so it is refused...
    assert!(select(&repo, trustpin::tuf::select::Query::Tag("test"), &[]).is_err());
    // ...while requiring the intact delegations still works, and requiring releases names why.
    assert!(select(
        &repo,
        trustpin::tuf::select::Query::Tag("test"),
        &["phbelitz".into(), "chamsen".into()]
    )
    .is_ok());
    let err = select(
        &repo,
        trustpin::tuf::select::Query::Tag("test"),
        &["releases".into()],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("required delegation targets/releases cannot be used")
            && err.contains("sha256"),
        "{err}"
    );
}
