//! Hostile trust data, part 5: budgets for the whole run. Someone who controls the server (or an
//! archive folder) tries to make trustpin spend CPU, memory and hours before it refuses: a
//! thousand-root rotation walk, delegations no verified role declares, stalling answers. Each is
//! refused (or answered) within a bound on wall time and peak memory (`/usr/bin/time`); the
//! legitimate shapes of the same things still work.

mod common;
use common::builder;
use common::server;

use std::time::{Duration, Instant};

use builder::{bad_sig_entries, Key, RepoBuilder};
use serde_json::{json, Value};

const IMAGE: &[u8] = b"the real image";

/// Write `files` (role → bytes) as a Notary layout under a new folder, with `pinned` as root.pub.
fn on_disk(gun: &str, files: &[(String, Vec<u8>)], pinned: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let tuf = dir.path().join(gun).join("_trust/tuf");
    for (role, bytes) in files {
        let path = tuf.join(format!("{role}.json"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    std::fs::write(dir.path().join("root.pub"), pinned).unwrap();
    dir
}

fn resolve_dir(dir: &tempfile::TempDir, image: &str, extra: &[&str]) -> (common::Output, u64) {
    let mut args = vec![
        "resolve".to_owned(),
        image.to_owned(),
        "--metadata-dir".into(),
        dir.path().display().to_string(),
        "--root-key".into(),
        dir.path().join("root.pub").display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let (out, rss) = builder::trustpin_measured(&args);
    (out, rss.unwrap_or(0))
}

/// A repository of `gun` whose v1 is signed by the `targets/releases` delegation.
fn signed_by_releases(gun: &str) -> RepoBuilder {
    let mut r = RepoBuilder::new(gun);
    r.delegate("targets", "targets/releases", &[""])
        .tag("targets/releases", "v1", IMAGE);
    r
}

/// `resolve GUN:v1` from `srv` with `pinned` as the root key, and `extra`.
fn resolve_server(
    srv: &server::TestServer,
    gun: &str,
    pinned: &str,
    extra: &[&str],
) -> common::Output {
    let key = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(key.path(), pinned).unwrap();
    let mut args = vec![
        "resolve".to_owned(),
        format!("{gun}:v1"),
        "--server".into(),
        srv.url(),
        "--root-key".into(),
        key.path().display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    builder::trustpin(&args)
}

/// The `signed` of a root listing `root_key` as the root role's only key, at `version`.
fn root_signed(base: &Value, old_root: &Key, root_key: &Key, version: u64) -> Value {
    let mut s = base.clone();
    let keys = s["keys"].as_object_mut().unwrap();
    keys.remove(&old_root.id());
    keys.insert(root_key.id(), root_key.tuf());
    s["roles"]["root"] = json!({"keyids": [root_key.id()], "threshold": 1});
    s["version"] = json!(version);
    s
}

/// The pinned key of `gun`, and a repository of `gun` (v1 signed) whose root, under another key,
/// claims version 1001: a thousand rotations to walk back.
fn root_claiming_version_1001(gun: &str) -> (String, RepoBuilder) {
    let pinned = RepoBuilder::new(gun).pinned_pem();
    let mut r = RepoBuilder::new(gun);
    r.tag("targets", "v1", IMAGE);
    r.edit_signed("root", |s| s["version"] = json!(1001));
    (pinned, r)
}

#[test]
fn a_thousand_root_hostile_walk_is_refused_in_bounded_time_and_memory() {
    // The attacker serves a current root claiming version 1001, signed by their own certificate
    // for this GUN, and 1,000 versioned roots, each with 200 signatures under their key: nothing
    // a pinned key signed. Walking back costs no signature checks at all (no root lists a pinned
    // key), not 200 per root.
    let gun = "example.com/hostile/walk";
    let (pinned, mut r) = root_claiming_version_1001(gun);
    let attacker = r.root_keys[0].clone();
    let built = r.build();
    let root: Value = serde_json::from_slice(&built.files["root"]).unwrap();
    let mut files: Vec<(String, Vec<u8>)> = built.files.clone().into_iter().collect();
    let bad = bad_sig_entries(&attacker.id(), 200, 0x22);
    for v in 1..=1000u64 {
        let mut env = root.clone();
        env["signed"]["version"] = json!(v);
        env["signatures"] = json!(bad);
        files.push((format!("{v}.root"), serde_json::to_vec(&env).unwrap()));
    }
    let dir = on_disk(gun, &files, &pinned);
    let start = Instant::now();
    let (out, kib) = resolve_dir(&dir, &format!("{gun}:v1"), &[]);
    let took = start.elapsed();
    out.expect(1, &["root.json is not signed by the pinned key"]);
    // CPU time, not wall time: the bound is on work, and a loaded machine stretches wall time.
    let cpu = out.cpu.unwrap_or(took);
    assert!(cpu < Duration::from_secs(10), "took {cpu:?} of CPU");
    assert!(kib < 128 * 1024, "peak memory {kib} KiB");
    eprintln!("hostile 1,000-root walk: {took:?} ({cpu:?} CPU), {kib} KiB");

    // The rotation budget stops the same walk early, naming the budget and its flag.
    let (out, _) = resolve_dir(&dir, &format!("{gun}:v1"), &["--max-rotations", "10"]);
    out.expect(
        3,
        &[
            "budget of 10 root rotation steps is spent",
            "--max-rotations",
        ],
    );
}

#[test]
fn a_legitimate_thousand_step_rotation_is_still_followed() {
    let gun = "example.com/legit/rotation";
    let keys: Vec<Key> = (0..=1000).map(|_| Key::root(gun)).collect();
    // The current root (version 1000) is the builder's, with key 1000, signed by 999 and 1000.
    let mut r = RepoBuilder::with_root(gun, keys[1000].clone());
    r.tag("targets", "v1", IMAGE);
    r.edit_signed("root", |s| s["version"] = json!(1000));
    r.signers("root", vec![keys[999].clone(), keys[1000].clone()]);
    let base = r.files["root"].signed.clone();
    let built = r.build();
    let mut files: Vec<(String, Vec<u8>)> = built.files.clone().into_iter().collect();
    // Versions 1..999: key v, signed by keys v-1 and v (version 1 by key 1 alone).
    for v in 1..1000usize {
        let signed = root_signed(&base, &keys[1000], &keys[v], v as u64);
        let signers: Vec<Key> = if v == 1 {
            vec![keys[1].clone()]
        } else {
            vec![keys[v - 1].clone(), keys[v].clone()]
        };
        let env = builder::sign_envelope(&signed, &signers);
        files.push((format!("{v}.root"), serde_json::to_vec(&env).unwrap()));
    }
    let dir = on_disk(gun, &files, &keys[1].public_pem());
    let (out, kib) = resolve_dir(&dir, &format!("{gun}:v1"), &[]);
    out.expect(0, &["root key rotated", "at version 1000"]);
    assert!(
        out.stdout.starts_with(&format!("{gun}@sha256:")),
        "{}",
        out.describe()
    );
    eprintln!(
        "legitimate 1,000-step rotation: {:?}, {kib} KiB",
        out.elapsed
    );
}

#[test]
fn delegations_no_verified_role_declares_are_never_fetched() {
    // The snapshot lists 40 delegation files (the server holds the snapshot key) that targets.json
    // does not declare: trustpin must not even ask for them.
    let gun = "example.com/hostile/undeclared";
    let mut r = signed_by_releases(gun);
    for i in 0..40 {
        r.delegate("targets", &format!("targets/extra{i}"), &[""]);
    }
    r.edit_signed("targets", |s| {
        let roles = s["delegations"]["roles"].as_array_mut().unwrap();
        roles.retain(|d| d["name"] == "targets/releases");
    });
    let built = r.build();
    let srv = built.served();
    let out = built.cli_server(&srv, "v1", &[]);
    out.expect(0, &[]);
    let asked: Vec<String> = srv.log().into_iter().map(|q| q.path).collect();
    assert!(
        !asked.iter().any(|p| p.contains("targets/extra")),
        "fetched undeclared delegations: {asked:?}"
    );
    // The declared one was fetched (or reused from the speculative first wave).
    assert!(
        asked.iter().any(|p| p.contains("targets/releases")),
        "{asked:?}"
    );
}

#[test]
fn nested_delegations_are_fetched_after_their_parent_verified() {
    let gun = "example.com/hostile/nested";
    let mut r = RepoBuilder::new(gun);
    r.delegate("targets", "targets/a", &[""]);
    r.delegate("targets/a", "targets/a/b", &[""])
        .tag("targets/a/b", "v1", IMAGE);
    // targets/a is signed by the wrong key: its child must then not be fetched at all.
    r.signers("targets/a", vec![Key::ecdsa()]);
    let built = r.build();
    let srv = built.served();
    let out = built.cli_server(&srv, "v1", &[]);
    out.expect(1, &["no signed digest for tag \"v1\""]);
    let asked: Vec<String> = srv.log().into_iter().map(|q| q.path).collect();
    assert!(
        asked.iter().any(|p| p.ends_with("targets/a.json")),
        "{asked:?}"
    );
    assert!(
        !asked.iter().any(|p| p.contains("targets/a/b")),
        "fetched the child of an unverified parent: {asked:?}"
    );
}

#[test]
fn a_slow_rotation_walk_ends_at_the_deadline_not_after_a_thousand_timeouts() {
    // Every versioned root answers, slowly (0.4 s each): a thousand of them would take minutes.
    let gun = "example.com/hostile/slow";
    let (pinned, mut r) = root_claiming_version_1001(gun);
    let built = r.build();
    let srv = built.served();
    let root = built.files["root"].clone();
    srv.fallback(move |req| {
        if req.path.ends_with(".root.json") {
            std::thread::sleep(Duration::from_millis(400));
            server::Response::json(root.clone()).into()
        } else {
            server::Response::notary_not_found().into()
        }
    });
    let start = Instant::now();
    let out = resolve_server(&srv, gun, &pinned, &["--deadline", "2"]);
    let took = start.elapsed();
    out.expect(3, &["deadline of 2 s", "--deadline"]);
    // The deadline is checked before every request; each request is bounded by --timeout too.
    assert!(took < Duration::from_secs(6), "took {took:?}");
}

#[test]
fn the_deadline_ends_a_request_in_flight_not_only_the_next_one() {
    // The delegation answers its head at once and then nothing: with --timeout 120 that request
    // alone would take two minutes. The repository's deadline reaches into it.
    let gun = "example.com/hostile/stall";
    let mut r = signed_by_releases(gun);
    let built = r.build();
    let srv = built.served();
    srv.stall(&server::tuf_path(gun, "targets/releases"));
    let pinned = RepoBuilder::new(gun).pinned_pem();
    let start = Instant::now();
    let out = resolve_server(&srv, gun, &pinned, &["--timeout", "120", "--deadline", "2"]);
    let took = start.elapsed();
    out.expect(3, &["deadline of 2 s", "--deadline"]);
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert_eq!(srv.requests(&server::tuf_path(gun, "targets/releases")), 1);
}

#[test]
fn a_key_listed_a_thousand_times_in_one_delegation_is_one_key() {
    let gun = "example.com/hostile/keyids";
    let mut r = signed_by_releases(gun);
    r.edit_signed("targets", |s| {
        let role = &mut s["delegations"]["roles"][0];
        let id = role["keyids"][0].clone();
        role["keyids"] = Value::Array(vec![id; 1000]);
    });
    let built = r.build();
    let repo = built.verify().expect("the chain stands");
    let d = repo.delegation("targets/releases").unwrap();
    assert!(d.outcome.is_ok(), "{:?}", d.outcome);
    assert_eq!(d.keys.len(), 1, "one key, cloned once");
}

#[test]
fn strings_from_unverified_data_are_escaped_on_stderr() {
    let gun = "example.com/hostile/escape";
    let mut r = RepoBuilder::new(gun);
    r.tag("targets", "v1", IMAGE);
    r.edit_signed("root", |s| {
        let id = s["roles"]["timestamp"]["keyids"][0]
            .as_str()
            .unwrap()
            .to_owned();
        s["keys"][&id]["keytype"] = json!("\u{1b}[31mevil\u{7}");
    });
    let out = r.build().cli(&["v1"], &[]);
    assert_ne!(out.code, 0, "{}", out.describe());
    assert!(!out.stderr.contains('\u{1b}'), "{}", out.describe());
    assert!(out.stderr.contains("\\u{1b}[31mevil"), "{}", out.describe());
}

#[test]
fn a_root_certificate_that_is_a_ca_is_refused() {
    // (SHA-1 certificates: src/tuf/keys/x509.rs makes one with openssl; rcgen cannot.)
    let gun = "example.com/hostile/cert";
    let mut spec = builder::CertSpec::new(gun);
    spec.ca = true;
    let root = Key::ecdsa().with_cert(&spec);
    let mut r = RepoBuilder::with_root(gun, root);
    r.tag("targets", "v1", IMAGE);
    let out = r.build().cli(&["v1"], &[]);
    out.expect(
        1,
        &[
            "is a CA certificate",
            "notary accepts only leaf certificates",
        ],
    );
}

#[test]
fn a_leap_second_and_path_hash_prefixes_follow_notarys_rules() {
    let gun = "example.com/hostile/rules";
    let mut r = RepoBuilder::new(gun);
    r.tag("targets", "v1", IMAGE);
    r.edit_signed("targets", |s| s["expires"] = json!("2099-12-31T23:59:60Z"));
    r.refuses_v1(&["second 60 (a leap second)"]);

    // One delegation with path_hash_prefixes is ignored, with a warning; the rest stands.
    let mut r = RepoBuilder::new(gun);
    r.tag("targets", "v1", IMAGE);
    r.delegate("targets", "targets/hashed", &[""])
        .tag("targets/hashed", "v2", IMAGE);
    r.edit_signed("targets", |s| {
        s["delegations"]["roles"][0]["path_hash_prefixes"] = json!(["ab"]);
    });
    let built = r.build();
    let out = built.cli(&["v1"], &[]);
    out.expect(
        0,
        &["delegation targets/hashed not used", "path_hash_prefixes"],
    );
}

/// `gun` with `v1` in targets and `n` delegations `targets/<prefix><i>` of every path, each then
/// changed by `edit`.
fn delegated_repo(
    gun: &str,
    n: usize,
    prefix: &str,
    mut edit: impl FnMut(&mut RepoBuilder, &str),
) -> builder::Built {
    let mut r = RepoBuilder::new(gun);
    r.tag("targets", "v1", IMAGE);
    for i in 0..n {
        let name = format!("targets/{prefix}{i}");
        r.delegate("targets", &name, &[""]);
        edit(&mut r, &name);
    }
    r.build()
}

/// `v1` of `built` resolved with `extra`: the run, its peak memory in KiB and how long it took
/// (the files written out included).
fn timed_v1(built: &builder::Built, extra: &[&str]) -> (common::Output, Option<u64>, Duration) {
    let start = Instant::now();
    let (out, kib) = built.cli_measured(&["v1"], extra);
    (out, kib, start.elapsed())
}

#[test]
fn signature_checks_are_bounded_for_the_whole_repository() {
    // 300 delegations, each with 100 signatures under its own key ID, none valid: 30,000 checks
    // if each were tried, over the default budget of 20,000 for the whole repository.
    let built = delegated_repo("example.com/hostile/signatures", 300, "d", |r, name| {
        let key = r.delegation_keys[name][0].clone();
        r.edit_envelope(name, move |env, _| {
            env["signatures"] = json!(bad_sig_entries(&key.id(), 100, 0x33));
        });
    });
    let (out, kib, took) = timed_v1(&built, &[]);
    out.expect(
        3,
        &[
            "budget of 20000 signature verifications is spent",
            "--max-verifications",
        ],
    );
    let cpu = out.cpu.unwrap_or(took);
    assert!(cpu < Duration::from_secs(20), "took {cpu:?} of CPU");
    eprintln!("300 delegations x 100 bad signatures: {took:?} ({cpu:?} CPU), {kib:?} KiB");
    // A budget that covers it lets the same repository through (the delegations are just unused).
    let out = built.cli(&["v1"], &["--max-verifications", "40000"]);
    out.expect(0, &[]);
}

#[test]
fn bytes_held_are_bounded_for_the_whole_repository() {
    // 12 delegations of 2 MiB each (a targets key holder, or a legitimately large repository):
    // 24 MiB in all, each file under its own 16 MiB bound. With --max-bytes 8 MiB the repository
    // is refused before it holds more than that; with room for it, it verifies.
    let built = delegated_repo("example.com/hostile/bytes", 12, "big", |r, name| {
        r.edit_signed(name, move |s| {
            s["custom"] = json!("x".repeat(2 << 20));
        });
    });
    let limit = (8u64 << 20).to_string();
    let (out, kib, took) = timed_v1(&built, &["--max-bytes", &limit]);
    out.expect(3, &["budget of 8388608 bytes", "--max-bytes"]);
    let kib = kib.unwrap_or(0);
    // Unbounded, the same repository peaks near 42 MiB; the budget holds it to the 8 MiB plus the
    // binary itself.
    assert!(kib < 28 * 1024, "peak {kib} KiB");
    let cpu = out.cpu.unwrap_or(took);
    assert!(cpu < Duration::from_secs(10), "took {cpu:?} of CPU");
    eprintln!("12 x 2 MiB delegations, --max-bytes 8 MiB: {took:?} ({cpu:?} CPU), {kib} KiB");
    let (out, kib) = built.cli_measured(&["v1"], &[]);
    out.expect(0, &[]);
    eprintln!("the same within the default 256 MiB: {:?} KiB", kib);
}

#[test]
fn roles_are_bounded_for_the_whole_repository() {
    // 120 delegations declared and listed: 124 files with the top-level ones, over --max-roles 60.
    let built = delegated_repo("example.com/hostile/roles", 120, "r", |_, _| {});
    let (out, kib, took) = timed_v1(&built, &["--max-roles", "60"]);
    out.expect(3, &["budget of 60 roles", "--max-roles"]);
    let cpu = out.cpu.unwrap_or(took);
    assert!(cpu < Duration::from_secs(10), "took {cpu:?} of CPU");
    eprintln!("120 delegations, --max-roles 60: {took:?} ({cpu:?} CPU), {kib:?} KiB");
    built.cli(&["v1"], &[]).expect(0, &[]);
}
