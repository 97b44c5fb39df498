//! Issue 15, Correctness 3: `trustpin lookup GUN NAME` agrees with the real `notary lookup` on
//! target names docker's tag grammar forbids, signed by the real notary client into a real
//! notary-server, and verified as resolve verifies (a wrong key is refused).
//!
//! Needs `notary`, `notary-server` and `openssl` (Debian package `notary`); without them it fails
//! with the install hint, unless TRUSTPIN_SKIP_LIVE=1.

mod common;
use common::notary::{live_server, Target};
use common::Cmd;

/// Names notary signs happily and a docker tag cannot be.
const ODD: &[&str] = &[
    "v1 x",
    "café",
    "a/b/c",
    "UPPER.case_x",
    "with:colon",
    "日本語",
    "@at",
    "1",
];

#[test]
fn lookup_agrees_with_notary_lookup_on_odd_names() {
    let Some((ns, c)) = live_server(false) else {
        return;
    };
    let gun = "example.com/polish/lookup";
    let tags: Vec<(&str, String)> = ODD
        .iter()
        .map(|n| (*n, format!("content of {n}")))
        .collect();
    let pairs: Vec<(&str, &str)> = tags.iter().map(|(n, s)| (*n, s.as_str())).collect();
    c.publish_repo(gun, &pairs);
    let key = c.write_root_key(gun, "root.pub");
    let lookup = |name: &str, extra: &[&str]| {
        Cmd::trustpin()
            .fresh_cache()
            .args(["lookup", gun, name, "--server", &ns.url(), "--root-key"])
            .arg(&key)
            .args(extra)
            .run()
    };
    for (name, content) in &tags {
        let want = Target::of(name, content);
        assert_eq!(
            c.lookup(gun, name),
            Ok((want.sha256.clone(), want.size)),
            "harness: notary lookup {name:?}"
        );
        let out = lookup(name, &[]);
        out.expect_code(0, name);
        assert_eq!(
            out.stdout,
            format!("{name} sha256:{} {}\n", want.sha256, want.size),
            "{}",
            out.describe()
        );
        let json = lookup(name, &["-o", "json"]).json();
        assert_eq!(json["name"], *name);
        assert_eq!(json["digest"], want.digest());
        assert_eq!(json["length"], want.size);
        assert_eq!(json["decided_by"], serde_json::json!(["targets"]));
    }
    // A name never signed: refused by both.
    assert!(
        c.lookup(gun, "v1  x").is_err(),
        "notary found a name never signed"
    );
    lookup("v1  x", &[]).expect_refused(&["no signed digest"], "never signed");
    // Verified as resolve verifies: another client's root key (its own trust dir) is refused.
    let stranger = ns.client();
    let other = "example.com/polish/other";
    stranger.publish_repo(other, &[("v1", "other")]);
    let other_key = stranger.write_root_key(other, "other.pub");
    Cmd::trustpin()
        .fresh_cache()
        .args(["lookup", gun, "café", "--server", &ns.url(), "--root-key"])
        .arg(&other_key)
        .run()
        .expect_refused(&["not signed by the pinned key"], "wrong key");
}
