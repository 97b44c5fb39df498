//! End-to-end tests against a real notary-server (memory storage) and the real `notary` client:
//! the digests `trustpin resolve` prints must be the ones `notary lookup` reports, verified against a
//! root key taken from the publisher's own key store.
//!
//! Needs `notary`, `notary-server` (Debian package `notary`) and `openssl` on PATH; without them the
//! tests fail with the install hint, unless TRUSTPIN_SKIP_LIVE=1 (then they print "skipped").

mod common;

use common::notary::*;
use common::*;
use std::path::Path;
use std::time::Instant;

/// `trustpin resolve IMAGES... --root-key KEY --server URL EXTRA...`
fn resolve(server: &str, root_key: &Path, extra: &[&str], images: &[&str]) -> Output {
    Cmd::trustpin()
        .arg("resolve")
        .args(images)
        .arg("--root-key")
        .arg(root_key)
        .arg("--server")
        .arg(server)
        .args(extra)
        .run()
}

/// Exit 0 and exactly one `<gun>@sha256:<hex>` line per image, in order.
fn expect_trusted(out: &Output, expected: &[(&str, &str)], what: &str) {
    let want: Vec<String> = expected
        .iter()
        .map(|(gun, hex)| format!("{gun}@sha256:{hex}"))
        .collect();
    out.expect_lines(&want, what);
}

/// `gun:v1` resolved against `server` with `key` pinned: exactly the digest `client`'s notary
/// looks up.
fn expect_v1_trusted(
    server: &NotaryServer,
    client: &NotaryClient,
    key: &Path,
    gun: &str,
    what: &str,
) {
    let out = resolve(&server.url(), key, &[], &[&format!("{gun}:v1")]);
    expect_trusted(&out, &[(gun, &client.lookup_ok(gun, "v1"))], what);
}

// ------------------------------------------------------------------------------------------------
// The harness itself (independent of the CLI)

#[test]
fn harness_pinned_key_is_the_key_in_the_root_certificate() {
    if !require_live() {
        return;
    }
    let server = NotaryServer::start();
    eprintln!("notary-server healthy after {:?}", server.startup_time());
    let client = server.client();
    let gun = "example.com/harness/app";
    client.init(gun);
    let t = Target::of("v1", "harness v1");
    client.add_hash(gun, &t.tag, t.size, &t.sha256);
    let started = Instant::now();
    client.publish(gun);
    eprintln!("first publish took {:?}", started.elapsed());
    assert_eq!(client.lookup(gun, "v1"), Ok((t.sha256.clone(), t.size)));
    assert!(client
        .lookup(gun, "nope")
        .unwrap_err()
        .contains("No valid trust data for nope"));
    assert_eq!(
        client.list(gun),
        vec![Listed {
            name: "v1".into(),
            sha256: t.sha256.clone(),
            size: t.size,
            role: "targets".into()
        }]
    );

    let pinned = client.root_public_key_pem(gun);
    assert!(pinned.starts_with("-----BEGIN PUBLIC KEY-----"), "{pinned}");
    // the same key is in the certificate the server's root.json lists for the root role, CN = GUN
    let root: serde_json::Value =
        serde_json::from_slice(&server.metadata(gun, "root").unwrap()).unwrap();
    let ids = root["signed"]["roles"]["root"]["keyids"]
        .as_array()
        .unwrap();
    assert_eq!(ids.len(), 1);
    let key = &root["signed"]["keys"][ids[0].as_str().unwrap()];
    assert_eq!(key["keytype"], "ecdsa-x509");
    use base64::Engine as _;
    let cert = base64::engine::general_purpose::STANDARD
        .decode(key["keyval"]["public"].as_str().unwrap())
        .unwrap();
    let out = Cmd::new("openssl")
        .args([
            "x509", "-pubkey", "-noout", "-subject", "-nameopt", "RFC2253",
        ])
        .stdin(Some(&cert))
        .timeout(COMMAND_TIMEOUT)
        .run()
        .ok();
    assert!(
        out.contains(&pinned),
        "root certificate key differs from the trust dir's root key:\n{out}\n{pinned}"
    );
    assert!(out.contains(&format!("CN={gun}")), "{out}");
    // a second repository of the same client shares the root key (notary reuses it) ...
    client.publish_repo("example.com/harness/other", &[("v1", "other v1")]);
    assert_eq!(
        client.root_public_key_pem("example.com/harness/other"),
        pinned
    );
    // ... a second client does not
    let client2 = server.client();
    client2.publish_repo("example.com/harness/third", &[("v1", "third v1")]);
    assert_ne!(
        client2.root_public_key_pem("example.com/harness/third"),
        pinned
    );
    assert_eq!(client2.root_key_id("example.com/harness/third").len(), 64);
}

#[test]
fn harness_tls_delegations_rotation() {
    if !require_live() {
        return;
    }
    let server = NotaryServer::start_tls();
    assert!(server.url().starts_with("https://127.0.0.1:"));
    assert!(server.ca_pem_path().exists());
    assert_eq!(server.get("/_notary_server/health").unwrap().0, 200);
    let client = server.client();
    let gun = "example.com/harness/tls";
    let repo = RepoBuilder::new(&client, gun)
        .delegation("releases")
        .delegation("targets/qa")
        .target("v1", "tls v1")
        .signed_by("releases", "v2", "tls v2 releases")
        .signed_by("qa", "v2", "tls v2 qa")
        .publish();
    assert_eq!(repo.delegation_keys.len(), 2);
    let mut rows = client.list(gun);
    rows.sort_by(|a, b| (&a.name, &a.role).cmp(&(&b.name, &b.role)));
    let roles: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.name.as_str(), r.role.as_str()))
        .collect();
    assert!(roles.contains(&("v1", "targets")), "{rows:?}");
    assert!(
        roles.contains(&("v2", "targets/releases")) || roles.contains(&("v2", "targets/qa")),
        "{rows:?}"
    );
    assert!(server.metadata(gun, "targets/releases").is_ok());
    assert!(server.metadata(gun, "targets/qa").is_ok());
    let before = client.root_public_key_pem(gun);
    let started = Instant::now();
    client.key_rotate(gun, "targets");
    eprintln!(
        "key rotate targets (publishes) took {:?}",
        started.elapsed()
    );
    assert!(
        server.metadata(gun, "2.root").is_ok(),
        "rotation did not publish root version 2"
    );
    assert_eq!(
        client.root_public_key_pem(gun),
        before,
        "a targets rotation keeps the root key"
    );
    assert_eq!(
        client.lookup_ok(gun, "v1"),
        repo.get("targets", "v1").sha256
    );
}

// ------------------------------------------------------------------------------------------------
// trustpin resolve against live servers

#[test]
fn plain_targets_every_tag_matches_notary_lookup() {
    let (server, client) = live_server_or_skip!(false);
    let gun = "example.com/org/app";
    let targets = client.publish_repo(
        gun,
        &[("v1", "app v1"), ("v2", "app v2"), ("latest", "app latest")],
    );
    let key = client.write_root_key(gun, "root.pub");
    let mut hexes = Vec::new();
    for t in &targets {
        let hex = client.lookup_ok(gun, &t.tag);
        assert_eq!(
            hex, t.sha256,
            "harness: lookup disagrees with what was published"
        );
        let image = format!("{gun}:{}", t.tag);
        expect_trusted(
            &resolve(&server.url(), &key, &[], &[&image]),
            &[(gun, &hex)],
            &image,
        );
        hexes.push(hex);
    }
    // several images at once, in order; no tag means latest
    let out = resolve(
        &server.url(),
        &key,
        &[],
        &[&format!("{gun}:v2"), &format!("{gun}:v1"), gun],
    );
    expect_trusted(
        &out,
        &[(gun, &hexes[1]), (gun, &hexes[0]), (gun, &hexes[2])],
        "three images",
    );
}

#[test]
fn json_output_has_the_documented_fields() {
    let gun = "example.com/org/json";
    let (server, client) =
        live_server_or_skip!(false, gun, &[("v1", "json v1"), ("v2", "json v2")]);
    let key = client.write_root_key(gun, "root.pub");
    let (i1, i2) = (format!("{gun}:v1"), format!("{gun}:v2"));
    let out = resolve(&server.url(), &key, &["--output", "json"], &[&i1, &i2]);
    out.expect_code(0, "json");
    let arr = out.json_array();
    assert_eq!(arr.len(), 2, "{}", out.describe());
    for (entry, (input, tag)) in arr.iter().zip([(&i1, "v1"), (&i2, "v2")]) {
        assert_eq!(entry["input"], input.as_str(), "{entry}");
        assert_eq!(entry["gun"], gun, "{entry}");
        assert_eq!(entry["tag"], tag, "{entry}");
        assert_eq!(
            entry["digest"],
            format!("sha256:{}", client.lookup_ok(gun, tag)),
            "{entry}"
        );
        let signers = entry["signers"]
            .as_array()
            .unwrap_or_else(|| panic!("signers not an array: {entry}"));
        assert!(
            !signers.is_empty() && signers.iter().all(|s| s.is_string()),
            "{entry}"
        );
        assert!(entry["warnings"].is_array(), "{entry}");
        assert!(entry.get("error").is_none_or(|e| e.is_null()), "{entry}");
    }
    // a refused image carries an error
    let missing = format!("{gun}:nosuchtag");
    let out = resolve(&server.url(), &key, &["--output", "json"], &[&missing]);
    out.expect_code(1, "json, missing tag");
    let arr = out.json_array();
    assert_eq!(arr.len(), 1, "{}", out.describe());
    assert_eq!(arr[0]["input"], missing.as_str());
    // The error is an object: a stable kind, the role (none for an unsigned tag), the message.
    let error = &arr[0]["error"];
    assert_eq!(error["kind"], "not-signed", "{}", arr[0]);
    assert!(error["role"].is_null(), "{}", arr[0]);
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|e| e.contains("nosuchtag")),
        "{}",
        arr[0]
    );
    assert_eq!(arr[0]["verification"], "refused", "{}", arr[0]);
}

#[test]
fn https_with_the_test_ca_and_without() {
    let gun = "example.com/org/tls";
    let (server, client) = live_server_or_skip!(true, gun, &[("v1", "tls v1")]);
    let key = client.write_root_key(gun, "root.pub");
    let hex = client.lookup_ok(gun, "v1");
    let image = format!("{gun}:v1");
    let ca = server.ca_pem_path();
    let out = resolve(
        &server.url(),
        &key,
        &["--ca-cert", ca.to_str().unwrap()],
        &[&image],
    );
    expect_trusted(&out, &[(gun, &hex)], "https with --ca-cert");
    // the test CA is not trusted by default: the TLS failure means "could not check"
    let out = resolve(&server.url(), &key, &[], &[&image]);
    out.expect_code(3, "https without --ca-cert");
    out.expect_stdout_lacks(&[&hex], "printed a digest although it could not check");
}

#[test]
fn delegations_releases_first_and_required_delegations() {
    let (server, client) = live_server_or_skip!(false);
    let gun = "example.com/org/delegated";
    let repo = RepoBuilder::new(&client, gun)
        .delegation("releases")
        .delegation("qa")
        .target("app", "app in targets")
        .signed_by("releases", "app", "app in releases")
        .signed_by("qa", "app", "app in qa")
        .signed_by("releases", "same", "same everywhere")
        .signed_by("qa", "same", "same everywhere")
        .publish();
    let key = client.write_root_key(gun, "root.pub");
    let (t, r, q) = (
        &repo.get("targets", "app").sha256,
        &repo.get("releases", "app").sha256,
        &repo.get("qa", "app").sha256,
    );
    // for reference: notary lookup walks targets first (it answers targets' digest here), docker
    // trust asks targets/releases first; trustpin follows docker
    eprintln!(
        "notary lookup app = {:?} (targets {t}, releases {r}, qa {q})",
        client.lookup(gun, "app")
    );
    let app = format!("{gun}:app");
    let same = format!("{gun}:same");

    expect_trusted(
        &resolve(&server.url(), &key, &[], &[&app]),
        &[(gun, r)],
        "default: releases first",
    );
    expect_trusted(
        &resolve(&server.url(), &key, &["--delegation", "qa"], &[&app]),
        &[(gun, q)],
        "--delegation qa",
    );
    expect_trusted(
        &resolve(&server.url(), &key, &["--delegation", "releases"], &[&app]),
        &[(gun, r)],
        "--delegation releases",
    );

    let out = resolve(
        &server.url(),
        &key,
        &["--delegation", "releases", "--delegation", "qa"],
        &[&app],
    );
    out.expect_code(1, "two delegations that disagree");
    let msg = out.all();
    assert!(
        (msg.contains(r.as_str()) && msg.contains(q.as_str()))
            || msg.to_lowercase().contains("different digests"),
        "disagreement not explained: {}",
        out.describe()
    );
    assert!(
        !out.stdout.contains(&format!("{gun}@sha256:")),
        "printed a digest: {}",
        out.describe()
    );

    let s = &repo.get("releases", "same").sha256;
    expect_trusted(
        &resolve(
            &server.url(),
            &key,
            &["--delegation", "releases", "--delegation", "qa"],
            &[&same],
        ),
        &[(gun, s)],
        "two delegations that agree",
    );
    let out = resolve(
        &server.url(),
        &key,
        &[
            "--delegation",
            "releases",
            "--delegation",
            "qa",
            "--output",
            "json",
        ],
        &[&same],
    );
    out.expect_code(0, "json, two delegations that agree");
    let arr = out.json_array();
    let signers: Vec<String> = arr[0]["signers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect();
    assert!(
        signers.iter().any(|s| s.contains("releases")) && signers.iter().any(|s| s.contains("qa")),
        "{}",
        arr[0]
    );

    let out = resolve(&server.url(), &key, &["--delegation", "nosuch"], &[&app]);
    out.expect_code(1, "a required delegation that does not exist");
    assert!(
        out.all().contains("nosuch"),
        "missing delegation not named: {}",
        out.describe()
    );
}

#[test]
fn odd_target_names_do_not_break_signature_checks() {
    let (server, client) = live_server_or_skip!(false);
    let gun = "example.com/org/odd";
    let names = [
        "a<b",
        "a>b",
        "a&b",
        "line\u{2028}sep",
        "cafe\u{301}",
        "q\"uote",
        "back\\slash",
        "v1 x",
        "v1!",
        "v1",
    ];
    let contents: Vec<(String, String)> = names
        .iter()
        .map(|n| (n.to_string(), format!("odd {n}")))
        .collect();
    let tags: Vec<(&str, &str)> = contents
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let targets = client.publish_repo(gun, &tags);
    for t in &targets {
        assert_eq!(
            client.lookup_ok(gun, &t.tag),
            t.sha256,
            "harness: lookup of {:?}",
            t.tag
        );
    }
    // the server escapes some names on the wire: the signature is over the canonical form
    let wire = String::from_utf8(server.metadata(gun, "targets").unwrap()).unwrap();
    assert!(
        wire.contains(r"a\u003cb") && wire.contains(r"line\u2028sep"),
        "{wire}"
    );
    let key = client.write_root_key(gun, "root.pub");
    expect_v1_trusted(&server, &client, &key, gun, "odd names, v1");
}

#[test]
fn targets_key_rotation_then_publish() {
    let gun = "example.com/org/rotated";
    let (server, client) = live_server_or_skip!(false, gun, &[("v1", "rotated v1")]);
    client.key_rotate(gun, "targets");
    let v2 = Target::of("v2", "rotated v2");
    client.add_hash(gun, &v2.tag, v2.size, &v2.sha256);
    client.publish(gun);
    assert!(
        server.metadata(gun, "2.root").is_ok(),
        "harness: rotation did not make root version 2"
    );
    let key = client.write_root_key(gun, "root.pub");
    for tag in ["v1", "v2"] {
        let hex = client.lookup_ok(gun, tag);
        let image = format!("{gun}:{tag}");
        expect_trusted(
            &resolve(&server.url(), &key, &[], &[&image]),
            &[(gun, &hex)],
            &image,
        );
    }
}

#[test]
fn wrong_root_key_and_missing_tag_are_refused() {
    let (server, alice) = live_server_or_skip!(false);
    let bob = server.client(); // another trust dir: another root key
    let gun = "example.com/org/alice";
    let other = "example.com/org/bob";
    alice.publish_repo(gun, &[("v1", "alice v1")]);
    bob.publish_repo(other, &[("v1", "bob v1")]);
    let good = alice.write_root_key(gun, "alice.pub");
    let wrong = bob.write_root_key(other, "bob.pub");
    assert_ne!(
        std::fs::read(&good).unwrap(),
        std::fs::read(&wrong).unwrap()
    );
    let image = format!("{gun}:v1");

    let out = resolve(&server.url(), &wrong, &[], &[&image]);
    out.expect_code(1, "root key of another repository");
    let msg = out.all();
    let wrong_id = bob.root_key_id(other);
    assert!(
        msg.to_lowercase().contains("pinned") || msg.contains(&wrong_id[..12]),
        "refusal does not mention the pinned key: {}",
        out.describe()
    );
    out.expect_stdout_lacks(&["@sha256:"], "printed a digest");

    // a tag that was never signed: notary lookup fails too
    let missing = format!("{gun}:nosuchtag");
    let lookup = alice.lookup(gun, "nosuchtag");
    assert!(lookup.is_err(), "notary lookup found {lookup:?}");
    let out = resolve(&server.url(), &good, &[], &[&missing]);
    out.expect_code(1, "missing tag");
    assert!(
        out.all().contains("nosuchtag"),
        "missing tag not named: {}",
        out.describe()
    );

    // and the right key still works
    expect_v1_trusted(&server, &alice, &good, gun, "right key");
}

#[test]
fn pinned_key_with_a_role_header_is_accepted() {
    // `docker trust key generate` writes the public key with a `role: root` header line
    let gun = "example.com/org/header";
    let (server, client) = live_server_or_skip!(false, gun, &[("v1", "header v1")]);
    let pem = client.root_public_key_pem(gun);
    let with_header = pem.replacen(
        "-----BEGIN PUBLIC KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\nrole: root\n\n",
        1,
    );
    let key = client.work_dir().join("root-with-header.pub");
    std::fs::write(&key, with_header).unwrap();
    expect_v1_trusted(&server, &client, &key, gun, "role: root header");
}

#[test]
fn server_stopped_means_could_not_check() {
    let gun = "example.com/org/gone";
    let (mut server, client) = live_server_or_skip!(false, gun, &[("v1", "gone v1")]);
    let key = client.write_root_key(gun, "root.pub");
    expect_v1_trusted(&server, &client, &key, gun, "before stop");
    let url = server.url();
    server.stop();
    assert!(!server.is_running());
    let out = resolve(&url, &key, &[], &[&format!("{gun}:v1")]);
    out.expect_code(3, "server stopped");
    out.expect_stdout_lacks(&["@sha256:"], "printed a digest");
}

#[test]
fn usage_errors_exit_2() {
    // no server needed
    let out = trustpin(&[
        "resolve",
        "example.com/org/app:v1",
        "--server",
        "http://127.0.0.1:9",
    ]);
    out.expect_code(2, "missing --root-key");
    let dir = tempfile::tempdir().unwrap();
    let out = trustpin(&[
        "resolve",
        "example.com/org/app:v1",
        "--root-key",
        dir.path().join("does-not-exist.pub").to_str().unwrap(),
        "--server",
        "http://127.0.0.1:9",
    ]);
    out.expect_code(2, "root key file does not exist");
}
