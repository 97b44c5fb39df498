//! Hostile trust data, part 4: resource bounds. Thousands of signatures, keys and delegations,
//! deep delegation nesting, deeply nested JSON, many targets: each refused or handled within a
//! bounded time (asserted generously for a noisy 2-core machine and a debug build), never a stack
//! overflow or a panic. (Endless and oversized bodies: hostile_transport.rs.)

mod common;
use common::builder;

use std::time::{Duration, Instant};

use common::builder::{bad_sig_entries, sig_entry, Key, RepoBuilder};
use common::sha256_hex;
use serde_json::json;

const GUN: &str = "example.com/hostile/bounds";
const IMAGE: &[u8] = b"the real image";
const LIMIT: Duration = Duration::from_secs(10);

fn repo() -> RepoBuilder {
    let mut r = RepoBuilder::new(GUN);
    r.tag("targets", "v1", IMAGE);
    r
}

/// Run the CLI on `built`, asserting the time bound and, when GNU time is installed, a peak
/// memory below `mib` MiB.
/// `r` built, v1 asked for: refused (exit 1) with `message`, within the bounds of [`bounded`]
/// (200 MiB).
fn refused_in_bounded_time(what: &str, r: &mut RepoBuilder, message: &str) {
    bounded(what, &r.build(), &["v1"], &[], 200).expect(1, &[message]);
}

fn bounded(
    what: &str,
    built: &builder::Built,
    tags: &[&str],
    extra: &[&str],
    mib: u64,
) -> common::Output {
    let (out, rss) = timed(what, || built.cli_measured(tags, extra));
    if let Some(kib) = rss {
        assert!(
            kib < mib * 1024,
            "{what}: peak memory {kib} KiB: {}",
            out.describe()
        );
    }
    out
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(took < LIMIT, "{what} took {took:?}");
    out
}

#[test]
fn ten_thousand_signatures_on_one_file_are_refused_unread() {
    for role in ["root", "snapshot", "targets", "timestamp"] {
        let mut r = repo();
        r.edit_envelope(role, |env, _| {
            let one = env["signatures"][0].clone();
            env["signatures"] = serde_json::Value::Array(vec![one; 10_000]);
        });
        let built = r.build();
        let out = bounded(role, &built, &["v1"], &[], 200);
        if role == "timestamp" {
            // 1.5 MB: over timestamp.json's 1 MiB bound before it is even parsed.
            out.expect(
                3,
                &["timestamp.json: larger than the limit of 1048576 bytes"],
            );
            if builder::notary_available() {
                // notary: also refuses ("trust server returned a bad response": over its size
                // limit too).
                assert!(builder::notary_opinion(&built, "v1").is_err());
            }
        } else {
            out.expect(
                1,
                &[&format!(
                    "{role}.json: field `signatures`: 10000 signatures, at most 1024 accepted"
                )],
            );
        }
    }
}

#[test]
fn a_thousand_invalid_signatures_under_the_right_key_id_cost_bounded_time() {
    // The worst the signature limit lets through: 1,024 entries naming the timestamp key, none
    // valid. Each is checked at most once per listed key.
    let mut r = repo();
    let k = r.timestamp_key.clone();
    r.edit_envelope("timestamp", move |env, _| {
        env["signatures"] = json!(bad_sig_entries(&k.id(), 1024, 0x11));
    });
    let built = r.build();
    let out = bounded("1024 bad signatures", &built, &["v1"], &[], 200);
    out.expect(1, &["timestamp: 0 of 1 required signatures valid"]);
    // The message stays readable: one line per distinct failure, not 1,024.
    assert!(
        out.stderr.len() < 64 * 1024,
        "{} bytes of stderr",
        out.stderr.len()
    );
}

#[test]
fn more_than_1024_keys_in_a_key_map_are_refused() {
    let mut r = repo();
    let extra: Vec<Key> = (0..1025).map(|_| Key::ed25519()).collect();
    r.edit_signed("root", move |s| {
        for k in &extra {
            s["keys"][k.id()] = k.tuf();
        }
    });
    refused_in_bounded_time(
        "1029 keys",
        &mut r,
        "root.json: field `signed.keys`: 1029 keys, at most 1024",
    );
}

#[test]
fn a_thousand_delegations_are_handled_in_bounded_time() {
    let mut r = repo();
    for i in 0..1000 {
        let name = format!("targets/d{i}");
        r.delegate("targets", &name, &[""]);
        if i % 100 == 99 {
            r.tag(&name, &format!("t{i}"), format!("image {i}").as_bytes());
        }
    }
    let built = r.build();
    assert_eq!(built.files.len(), 1004);
    let out = bounded(
        "1000 delegations",
        &built,
        &["t999"],
        &["--delegation", "d999"],
        300,
    );
    assert_eq!(out.code, 0, "{}", out.describe());
    assert_eq!(
        out.stdout.trim(),
        format!("{GUN}@sha256:{}", sha256_hex(b"image 999"))
    );
    let repo = timed("1000 delegations, library", || built.verify().unwrap());
    assert_eq!(repo.delegations.len(), 1000);
    assert!(repo.delegations.iter().all(|d| d.outcome.is_ok()));
}

#[test]
fn more_than_1024_delegations_in_one_role_are_refused() {
    let mut r = repo();
    r.edit_signed("targets", |s| {
        let roles: Vec<_> = (0..1025)
            .map(|i| json!({"name": format!("targets/d{i}"), "keyids": [], "threshold": 1, "paths": [""]}))
            .collect();
        s["delegations"]["roles"] = json!(roles);
    });
    refused_in_bounded_time(
        "1025 delegations",
        &mut r,
        "targets.json: field `signed.delegations.roles`: 1025 delegations, at most 1024 accepted",
    );
}

#[test]
fn delegations_nested_100_deep_stop_at_64_levels() {
    // targets/a, targets/a/a, ... 100 levels, each signed, listed and valid; each signs a tag.
    // Levels beyond 64 are not used (with a warning), and it all takes bounded time.
    let mut r = repo();
    let mut parent = "targets".to_owned();
    for depth in 1..=100 {
        let name = format!("{parent}/a");
        r.delegate(&parent, &name, &[""]).tag(
            &name,
            &format!("level{depth}"),
            format!("image {depth}").as_bytes(),
        );
        parent = name;
    }
    let built = r.build();
    let repo = timed("100 levels, library", || built.verify().unwrap());
    let at = |depth: usize| {
        let name = format!("targets{}", "/a".repeat(depth));
        repo.delegation(&name)
            .unwrap_or_else(|| panic!("level {depth} not recorded"))
            .outcome
            .as_ref()
            .map(|_| ())
    };
    assert!(at(64).is_ok(), "{:?}", at(64));
    let deep = at(65).unwrap_err().to_string();
    assert!(deep.contains("nested deeper than 64 levels"), "{deep}");
    // Level 66 and below are never even declared to the verifier (their parent was not used).
    assert!(repo
        .delegation(&format!("targets{}", "/a".repeat(66)))
        .is_none());

    let level10 = "a/".repeat(9) + "a";
    let out = bounded(
        "100 levels, cli",
        &built,
        &["level10"],
        &["--delegation", &level10],
        300,
    );
    assert_eq!(out.code, 0, "{}", out.describe());
    let level65 = "a/".repeat(64) + "a";
    let out = built.cli(&["level65"], &["--delegation", &level65]);
    out.expect(1, &["cannot be used: nested deeper than 64 levels"]);
}

#[test]
fn json_nested_10000_deep_is_refused_without_stack_overflow() {
    // In every top-level role, inside `signed` and at the top: refused by the parser's depth
    // limit, through the CLI (main thread) and the library on a thread with a small stack.
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    for role in common::TOP_ROLES {
        let mut r = repo();
        let d = deep.clone();
        r.edit_bytes(role, move |b| {
            let s = String::from_utf8(b.clone()).unwrap();
            *b = s
                .replacen("\"signed\":{", &format!("\"signed\":{{\"deep\":{d},"), 1)
                .into_bytes();
        });
        let built = r.build();
        let out = bounded(role, &built, &["v1"], &[], 200);
        out.expect(
            1,
            &[&format!(
                "{role}.json: invalid JSON: recursion limit exceeded"
            )],
        );
        if role == "targets" && builder::notary_available() {
            // notary: also refuses, without crashing (its signature check fails).
            assert!(builder::notary_opinion(&built, "v1").is_err());
        }
        let err = std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || built.verify().map(|_| ()).map_err(|e| e.to_string()))
            .unwrap()
            .join()
            .expect("no stack overflow or panic");
        assert!(err.unwrap_err().contains("recursion limit"), "{role}");
    }
    let obj = "{\"a\":".repeat(10_000) + "1" + &"}".repeat(10_000);
    let mut built = repo().build();
    built.files.insert("timestamp".into(), obj.into_bytes());
    built.cli(&["v1"], &[]).expect(
        1,
        &["timestamp.json: invalid JSON: recursion limit exceeded"],
    );
}

#[test]
fn json_at_the_depth_limit_is_parsed_and_encoded_on_a_small_stack() {
    // 120 levels (within serde_json's 128): parsed, canonically encoded (recursively) and
    // verified on a 512 KiB stack, in a signed field the chain ignores.
    let mut r = repo();
    r.edit_signed("targets", |s| {
        let mut v = json!(1);
        for _ in 0..120 {
            v = json!([v]);
        }
        s["custom"] = v;
    });
    let built = r.build();
    std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || built.verify().map(|_| ()).unwrap())
        .unwrap()
        .join()
        .expect("no stack overflow");
}

#[test]
fn twenty_thousand_targets_are_handled_in_bounded_time() {
    let mut r = repo();
    r.edit_signed("targets", |s| {
        let t = s["targets"].as_object_mut().unwrap();
        for i in 0..20_000 {
            t.insert(
                format!("tag{i}"),
                builder::target_meta(format!("{i}").as_bytes()),
            );
        }
    });
    let built = r.build();
    assert!(built.get("targets").len() > 1_500_000);
    let out = bounded("20000 targets", &built, &["tag19999", "v1"], &[], 400);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(
        out.stdout.contains(&sha256_hex(b"19999")),
        "{}",
        out.describe()
    );
}

#[test]
fn a_huge_string_field_is_handled_in_bounded_time() {
    // A 1 MiB key ID in a signature and a 1 MiB tag name: read, compared, refused, in bounded
    // time and with a bounded message.
    let mut r = repo();
    r.edit_envelope("snapshot", |env, _| {
        env["signatures"][0]["keyid"] = json!("a".repeat(1 << 20));
    });
    r.tag("targets", &"t".repeat(1 << 20), b"long");
    let built = r.build();
    let out = bounded("1 MiB key id", &built, &["v1"], &[], 200);
    out.expect(1, &["snapshot: 0 of 1 required signatures valid"]);
    assert!(
        out.stderr.len() < 64 * 1024,
        "the message repeats the huge ID"
    );
}

#[test]
fn one_key_under_a_thousand_certificates_with_a_thousand_bad_signatures_costs_bounded_time() {
    // The quadratic case: targets lists one ECDSA key under 1,000 certificate IDs (all the same
    // public key), and the file carries 1,000 invalid signatures under that key's canonical ID.
    // Every signature names every listed key, so a check per (key ID, signature) pair would verify
    // 1,000,000 ECDSA signatures (about a minute); per distinct public key it is 1,000.
    let k = Key::ecdsa();
    let certs: Vec<Key> = (0..1000)
        .map(|i| k.with_cert(&builder::CertSpec::new(&format!("cert {i}"))))
        .collect();
    let mut r =
        RepoBuilder::with_keys(GUN, Key::root(GUN), k.clone(), Key::ed25519(), Key::ecdsa());
    r.tag("targets", "v1", IMAGE);
    let listed = certs.clone();
    r.edit_signed("root", move |s| {
        for c in &listed {
            s["keys"][c.id()] = c.tuf();
        }
        s["roles"]["targets"]["keyids"] = json!(listed.iter().map(Key::id).collect::<Vec<_>>());
    });
    let canonical_id = k.id();
    r.edit_envelope("targets", move |env, _| {
        let sigs: Vec<_> = (0..1000u32)
            .map(|i| {
                let mut sig = vec![0x22u8; 64];
                sig[..4].copy_from_slice(&i.to_be_bytes());
                sig_entry(&canonical_id, "ecdsa", &sig)
            })
            .collect();
        env["signatures"] = json!(sigs);
    });
    let built = r.build();
    let err = timed("1000 certificates x 1000 signatures", || built.verify_err());
    assert!(
        err.contains("targets: 0 of 1 required signatures valid"),
        "{err}"
    );
}
