//! `get-root-key` and `trustpin inspect` against a real notary-server (memory storage) and the real
//! `notary` client: the root key get-root-key prints must be the publisher's own root key (from the
//! client's key store) and the key in the root certificate, and what inspect reports must agree with
//! `notary list` and `notary delegation list` for the same repository.
//!
//! Facts about notary 0.7.0 these tests rely on (checked against the real tools):
//! - `notary list GUN` prints one row per tag name (NAME DIGEST SIZE ROLE): the first role that
//!   signed it, walking `targets` first, then delegations in declaration order, depth first
//!   (`--roles targets` is the same view). To see what one delegation signed:
//!   `notary list GUN --roles targets/<name>`: that delegation first, then its own delegations;
//!   `targets` and sibling delegations are shadowed. Together these views list every
//!   (tag, digest, role). The SIZE column is not compared (inspect has no length field).
//! - `notary delegation list GUN` prints ROLE, PATHS, KEY IDS, THRESHOLD in aligned columns, one
//!   path and one key per line (continuation lines leave ROLE and THRESHOLD blank); all paths are
//!   shown as `"" <all paths>`. The KEY IDS are canonical public-key IDs (the private key file
//!   names), not the certificate IDs that targets.json lists for delegation keys.
//! - `notary key rotate GUN root` asks "Are you sure ... (yes/no)" on stdin; `-k FILE` (repeatable)
//!   takes encrypted PKCS#8 private keys (PBES2, PBKDF2 with HMAC-SHA1, as notary writes them)
//!   decrypted with NOTARY_ROOT_PASSPHRASE. The new root.json lists only the new certificates and is
//!   signed by the new keys and the old one. The client's cached root.json stays at the old version
//!   until its next online operation (e.g. `notary list`).
//!
//! Needs `notary`, `notary-server` (Debian package `notary`) and `openssl` on PATH; without them the
//! tests fail with the install hint, unless TRUSTPIN_SKIP_LIVE=1 (then they print "skipped").

mod common;

use common::notary::*;
use common::*;
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A live repository `gun` on the server at `url`, published by `client`.
struct Live<'a> {
    client: &'a NotaryClient,
    url: &'a str,
    gun: &'a str,
}

impl<'a> Live<'a> {
    fn new(client: &'a NotaryClient, url: &'a str, gun: &'a str) -> Live<'a> {
        Live { client, url, gun }
    }

    /// `pem` written as `file` in the client's folder, to be pinned.
    fn key_file(&self, file: &str, pem: &str) -> PathBuf {
        let key = self.client.work_dir().join(file);
        std::fs::write(&key, pem).unwrap();
        key
    }

    /// `trustpin resolve GUN:TAG --root-key KEY --server URL` must print exactly
    /// `<gun>@sha256:<hex>`.
    fn expect_resolves(&self, key: &Path, tag: &str, hex: &str, what: &str) {
        let image = format!("{}:{tag}", self.gun);
        let out = trustpin_home(&[
            OsStr::new("resolve"),
            image.as_ref(),
            "--root-key".as_ref(),
            key.as_os_str(),
            "--server".as_ref(),
            self.url.as_ref(),
        ]);
        out.expect_pinned(self.gun, hex, what);
    }
}

// ------------------------------------------------------------------------------------------------
// Keys and certificates

/// `KeyID: <id>` then `Key: -----BEGIN PUBLIC KEY-----` ... `-----END PUBLIC KEY-----`, then
/// `CanonicalID: <the key's canonical ID>` (issue 15), per key; nothing else on stdout. Returns
/// (key id, PEM text) pairs.
fn parse_key_text(out: &Output) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = Vec::new();
    let mut id: Option<String> = None;
    let mut pem: Option<String> = None;
    for line in out.stdout.lines() {
        if let Some(p) = pem.as_mut() {
            p.push_str(line);
            p.push('\n');
            if line.starts_with("-----END") {
                let id = id.take().unwrap_or_else(|| {
                    panic!("a Key: without a KeyID: before it: {}", out.describe())
                });
                keys.push((id, pem.take().unwrap()));
            }
        } else if let Some(rest) = line.strip_prefix("CanonicalID: ") {
            let (_, last) = keys
                .last()
                .unwrap_or_else(|| panic!("a CanonicalID: before any key: {}", out.describe()));
            assert_eq!(
                rest,
                common::notary::canonical_key_id(last),
                "{}",
                out.describe()
            );
        } else if let Some(rest) = line.strip_prefix("KeyID: ") {
            assert!(
                id.is_none(),
                "two KeyID: lines in a row: {}",
                out.describe()
            );
            id = Some(rest.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("Key: ") {
            assert!(
                rest.starts_with("-----BEGIN PUBLIC KEY-----"),
                "Key: is not followed by a PEM public key: {}",
                out.describe()
            );
            pem = Some(format!("{rest}\n"));
        } else {
            panic!(
                "unexpected line {line:?} in get-root-key output: {}",
                out.describe()
            );
        }
    }
    assert!(
        pem.is_none() && id.is_none(),
        "truncated get-root-key output: {}",
        out.describe()
    );
    keys
}

/// root.json as the server serves it.
fn server_root(server: &NotaryServer, gun: &str) -> Value {
    let bytes = server
        .metadata(gun, "root")
        .unwrap_or_else(|e| panic!("GET root.json of {gun}: {e}"));
    serde_json::from_slice(&bytes).expect("root.json is not JSON")
}

/// A repository's root key as its publisher holds it and as the server serves it: the client's
/// root public key (PEM, DER), root.json from the server, its one root certificate's key ID and
/// what the certificate says (its key is the client's, its CN the GUN), and the server's URL.
fn published(
    server: &NotaryServer,
    client: &NotaryClient,
    gun: &str,
) -> (String, Vec<u8>, Value, String, CertFacts, String) {
    let pinned = client.root_public_key_pem(gun);
    let pinned_der = public_key_der(&pinned);
    let root = server_root(server, gun);
    let mut certs = root_certificates(&root);
    assert_eq!(certs.len(), 1, "harness: one root key expected: {root}");
    let (cert_id, cert_der) = certs.remove(0);
    let facts = cert_facts(&cert_der);
    assert_eq!(
        facts.spki, pinned_der,
        "harness: the root certificate holds the client's root key"
    );
    assert_eq!(
        facts.cn, gun,
        "harness: notary's root certificate CN is the GUN"
    );
    (pinned, pinned_der, root, cert_id, facts, server.url())
}

/// The root-role key IDs (certificate IDs) and their certificates' DER, in root.json's order.
fn root_certificates(root: &Value) -> Vec<(String, Vec<u8>)> {
    use base64::Engine as _;
    root["signed"]["roles"]["root"]["keyids"]
        .as_array()
        .expect("roles.root.keyids")
        .iter()
        .map(|id| {
            let id = id.as_str().unwrap().to_string();
            let key = &root["signed"]["keys"][&id];
            assert_eq!(key["keytype"], "ecdsa-x509", "root key {id}: {key}");
            // notary stores the certificate's PEM text, base64-encoded
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(key["keyval"]["public"].as_str().unwrap())
                .unwrap();
            let der = match pem::parse(&bytes) {
                Ok(block) => {
                    assert_eq!(block.tag(), "CERTIFICATE", "root key {id}");
                    block.into_contents()
                }
                Err(_) => bytes,
            };
            (id, der)
        })
        .collect()
}

/// Subject CN, SPKI DER, not-before and not-after of a certificate (DER).
struct CertFacts {
    cn: String,
    spki: Vec<u8>,
    not_before: i64,
    not_after: i64,
}

fn cert_facts(der: &[u8]) -> CertFacts {
    let (_, cert) = x509_parser::parse_x509_certificate(der).expect("root certificate parses");
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok())
        .expect("certificate has a CN")
        .to_string();
    CertFacts {
        cn,
        spki: cert.public_key().raw.to_vec(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    }
}

fn rfc3339(v: &Value, what: &str) -> OffsetDateTime {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v}"));
    OffsetDateTime::parse(s, &Rfc3339)
        .unwrap_or_else(|e| panic!("{what} {s:?} is not RFC 3339: {e}"))
}

/// An encrypted PKCS#8 P-256 key that `notary key rotate -k` accepts (PBKDF2 with HMAC-SHA1, the
/// root passphrase) and its public key PEM.
fn make_root_key_file(client: &NotaryClient, name: &str) -> (PathBuf, String) {
    let plain = client.work_dir().join(format!("{name}.sec1"));
    let enc = client.work_dir().join(format!("{name}.p8"));
    let mut c = Command::new("openssl");
    c.args([
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
    ])
    .arg(&plain);
    run(c, COMMAND_TIMEOUT).ok();
    let mut c = Command::new("openssl");
    c.args([
        "pkcs8",
        "-topk8",
        "-v2",
        "aes-256-cbc",
        "-v2prf",
        "hmacWithSHA1",
    ])
    .args(["-passout", "env:TRUSTPIN_KEY_PASS", "-in"])
    .arg(&plain)
    .arg("-out")
    .arg(&enc)
    .env("TRUSTPIN_KEY_PASS", ROOT_PASSPHRASE);
    run(c, COMMAND_TIMEOUT).ok();
    let mut c = Command::new("openssl");
    c.args(["pkey", "-pubout", "-in"]).arg(&plain);
    let public = run(c, COMMAND_TIMEOUT).ok();
    (enc, public)
}

/// `notary key rotate GUN root [-k KEY]...`, answering its "Are you sure" with yes.
fn rotate_root(client: &NotaryClient, gun: &str, keys: &[&Path]) {
    let mut args: Vec<&OsStr> = vec![
        "key".as_ref(),
        "rotate".as_ref(),
        gun.as_ref(),
        "root".as_ref(),
    ];
    for k in keys {
        args.push("-k".as_ref());
        args.push(k.as_os_str());
    }
    let out = run_with_input(client.command(args), Some(b"yes\n"), COMMAND_TIMEOUT);
    let text = out.all();
    let ok = out.success();
    assert!(
        ok && text.contains("Successfully rotated root key"),
        "root rotation failed: {}",
        out.describe()
    );
    // the rotation leaves the client's cached root.json at the old version until the next online
    // operation; refresh it so that root_public_key_pem() picks the new root key
    client.list(gun);
}

// ------------------------------------------------------------------------------------------------
// get-root-key

#[test]
fn get_root_key_prints_the_publishers_root_key_and_the_certificate_id() {
    let gun = "example.com/pin/app";
    let (server, client) = live_server_or_skip!(false, gun, &[("v1", "pin v1")]);
    let (pinned, pinned_der, _, cert_id, _, url) = published(&server, &client, gun);
    let printed = both_get_root_key_agree(
        &["-i", gun, "-s", &url],
        "the two binaries print different things",
        |what, out| {
            let keys = parse_key_text(out);
            assert_eq!(keys.len(), 1, "{what}: one root key: {}", out.describe());
            assert_eq!(
                &keys[0].0, &cert_id,
                "{what}: KeyID is root.json's certificate key ID"
            );
            assert_eq!(
                public_key_der(&keys[0].1),
                pinned_der,
                "{what}: Key is not the client's root public key: {}\nclient's:\n{pinned}",
                out.describe()
            );
            out.expect_stderr(
                &["second channel"],
                &format!("{what}: no trust-on-first-use reminder on stderr"),
            );
        },
    );

    // long flags, a tag in the image, and the server from DOCKER_CONTENT_TRUST_SERVER
    let out = get_root_key(&["--image", &format!("{gun}:v1"), "--server", &url]);
    out.expect_code(0, "--image GUN:v1 --server URL");
    assert_eq!(
        out.stdout,
        printed,
        "a tag changes the output: {}",
        out.describe()
    );
    let out = Cmd::get_root_key()
        .private_home()
        .args(["-i", gun])
        .env("DOCKER_CONTENT_TRUST_SERVER", &url)
        .run();
    out.expect_code(0, "server from DOCKER_CONTENT_TRUST_SERVER");
    assert_eq!(out.stdout, printed, "{}", out.describe());
}

#[test]
fn get_root_key_pem_only_round_trips_into_resolve() {
    let gun = "example.com/pin/roundtrip";
    let (server, client) =
        live_server_or_skip!(false, gun, &[("v1", "round v1"), ("v2", "round v2")]);
    let pinned_der = public_key_der(&client.root_public_key_pem(gun));
    let url = server.url();
    let live = Live::new(&client, &url, gun);
    for (what, out) in both_get_root_key(&["-i", gun, "-s", &url, "--pem-only"]) {
        out.expect_code(0, what);
        assert!(
            out.stdout.starts_with("-----BEGIN PUBLIC KEY-----\n")
                && out.stdout.trim_end().ends_with("-----END PUBLIC KEY-----"),
            "{what}: --pem-only prints more than the PEM: {}",
            out.describe()
        );
        assert_eq!(public_key_der(&out.stdout), pinned_der, "{what}");
        let key = live.key_file(&format!("{}.pem", what.replace(' ', "-")), &out.stdout);
        for tag in ["v1", "v2"] {
            let hex = client.lookup_ok(gun, tag);
            live.expect_resolves(
                &key,
                tag,
                &hex,
                &format!("{what} --pem-only → resolve {tag}"),
            );
        }
    }
    // --pem-only and --output do not go together
    let out = get_root_key(&["-i", gun, "-s", &url, "--pem-only", "--output", "json"]);
    out.expect_code(2, "--pem-only with --output json");
}

#[test]
fn get_root_key_json_has_every_field() {
    let gun = "example.com/pin/json";
    let (server, client) = live_server_or_skip!(false, gun, &[("v1", "json v1")]);
    let (pinned, pinned_der, root, cert_id, facts, url) = published(&server, &client, gun);
    both_get_root_key_agree(
        &["-i", gun, "-s", &url, "--output", "json"],
        "the two binaries print different JSON",
        |what, out| {
            let v = out.json();
            assert_eq!(v["gun"], gun, "{what}: {v}");
            assert_eq!(v["root_version"], root["signed"]["version"], "{what}: {v}");
            assert_eq!(v["root_version"], 1, "{what}: {v}");
            assert_eq!(
                v["threshold"], root["signed"]["roles"]["root"]["threshold"],
                "{what}: {v}"
            );
            assert_eq!(
                rfc3339(&v["root_expires"], "root_expires"),
                rfc3339(&root["signed"]["expires"], "root.json expires"),
                "{what}: root_expires is not root.json's expiry: {v}"
            );
            let keys = v["keys"]
                .as_array()
                .unwrap_or_else(|| panic!("{what}: no keys array: {v}"));
            assert_eq!(keys.len(), 1, "{what}: {v}");
            let k = &keys[0];
            assert_eq!(&k["key_id"], cert_id.as_str(), "{what}: {k}");
            let canonical = k["canonical_id"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: canonical_id: {k}"));
            assert_eq!(canonical, canonical_key_id(&pinned), "{what}: {k}");
            assert_ne!(
                canonical, cert_id,
                "{what}: canonical ID must not be the certificate ID"
            );
            // docker/notary name the root private key file by it
            let key_file = client.private_key_file(canonical);
            assert!(
                key_file.is_file(),
                "{what}: canonical_id {canonical} is not a private key file of the trust dir"
            );
            let (_, headers) = strip_pem_headers(&std::fs::read_to_string(&key_file).unwrap());
            assert!(
                headers.iter().any(|(k, v)| k == "role" && v == "root"),
                "{what}: {} is not the root key: {headers:?}",
                key_file.display()
            );
            assert_eq!(
                public_key_der(
                    k["pem"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{what}: pem: {k}"))
                ),
                pinned_der,
                "{what}: {k}"
            );
            assert_eq!(k["common_name"], gun, "{what}: {k}");
            assert_eq!(
                rfc3339(&k["not_before"], "not_before").unix_timestamp(),
                facts.not_before,
                "{what}: not_before is not the certificate's: {k}"
            );
            assert_eq!(
                rfc3339(&k["not_after"], "not_after").unix_timestamp(),
                facts.not_after,
                "{what}: not_after is not the certificate's: {k}"
            );
        },
    );
}

#[test]
fn get_root_key_no_trust_data_is_refused_and_a_stopped_server_could_not_be_checked() {
    let gun = "example.com/pin/present";
    let (mut server, _client) = live_server_or_skip!(false, gun, &[("v1", "present v1")]);
    let url = server.url();
    let absent = "example.com/pin/absent";
    for (what, out) in both_get_root_key(&["-i", absent, "-s", &url]) {
        out.expect_code(1, &format!("{what}: GUN without trust data"));
        assert!(
            out.stdout.trim().is_empty(),
            "{what}: printed something: {}",
            out.describe()
        );
        out.expect_stderr(&[absent], &format!("{what}: GUN not named"));
    }
    // the present one works, then the server goes away
    get_root_key(&["-i", gun, "-s", &url]).expect_code(0, "before stop");
    server.stop();
    assert!(!server.is_running());
    for args in [
        vec!["-i", gun, "-s", &url],
        vec!["-i", gun, "-s", &url, "--pem-only"],
    ] {
        for (what, out) in both_get_root_key(&args) {
            out.expect_code(3, &format!("{what} {args:?}: server stopped"));
            assert!(
                !out.stdout.contains("BEGIN"),
                "{what}: printed a key: {}",
                out.describe()
            );
        }
    }
}

#[test]
fn get_root_key_over_https_needs_the_ca() {
    let gun = "example.com/pin/tls";
    let (server, client) = live_server_or_skip!(true, gun, &[("v1", "tls v1")]);
    let pinned_der = public_key_der(&client.root_public_key_pem(gun));
    let url = server.url();
    let ca = server.ca_pem_path();
    let ca = ca.to_str().unwrap();
    let out = get_root_key(&["-i", gun, "-s", &url, "--ca-cert", ca, "--pem-only"]);
    out.expect_code(0, "https with --ca-cert");
    assert_eq!(public_key_der(&out.stdout), pinned_der);
    let out = get_root_key(&["-i", gun, "-s", &url, "--pem-only"]);
    out.expect_code(3, "https without the test CA");
    assert!(out.stdout.trim().is_empty(), "{}", out.describe());
}

#[test]
fn get_root_key_after_root_rotation_prints_the_new_key() {
    let gun = "example.com/pin/rotated";
    let (server, client) = live_server_or_skip!(false, gun, &[("v1", "rotated v1")]);
    let old = client.root_public_key_pem(gun);
    rotate_root(&client, gun, &[]);
    let root = server_root(&server, gun);
    assert_eq!(
        root["signed"]["version"], 2,
        "harness: rotation published root v2"
    );
    let certs = root_certificates(&root);
    assert_eq!(certs.len(), 1, "{root}");
    let new = client.root_public_key_pem(gun);
    assert_ne!(
        public_key_der(&new),
        public_key_der(&old),
        "harness: the root key changed"
    );
    assert_eq!(cert_facts(&certs[0].1).spki, public_key_der(&new));

    let url = server.url();
    let live = Live::new(&client, &url, gun);
    let out = get_root_key(&["-i", gun, "-s", &url]);
    out.expect_code(0, "after rotation");
    let keys = parse_key_text(&out);
    assert_eq!(keys.len(), 1, "{}", out.describe());
    assert_eq!(keys[0].0, certs[0].0, "KeyID of the new certificate");
    assert_eq!(
        public_key_der(&keys[0].1),
        public_key_der(&new),
        "the new root key"
    );

    let out = trustpin_home(&["get-root-key", "-i", gun, "-s", &url, "--output", "json"]);
    out.expect_code(0, "json after rotation");
    let v = out.json();
    assert_eq!(v["root_version"], 2, "{v}");
    assert_eq!(v["keys"][0]["canonical_id"], canonical_key_id(&new), "{v}");

    let out = get_root_key(&["-i", gun, "-s", &url, "--pem-only"]);
    out.expect_code(0, "--pem-only after rotation");
    let key = live.key_file("rotated.pem", &out.stdout);
    let hex = client.lookup_ok(gun, "v1");
    live.expect_resolves(&key, "v1", &hex, "new key from get-root-key → resolve");
}

#[test]
fn get_root_key_prints_every_root_key() {
    // `notary key rotate GUN root -k A -k B`: root.json then lists two root certificates
    let gun = "example.com/pin/two";
    let (server, client) = live_server_or_skip!(false, gun, &[("v1", "two v1")]);
    let (a_file, a_pem) = make_root_key_file(&client, "root-a");
    let (b_file, b_pem) = make_root_key_file(&client, "root-b");
    rotate_root(&client, gun, &[&a_file, &b_file]);
    let root = server_root(&server, gun);
    let certs = root_certificates(&root);
    assert_eq!(certs.len(), 2, "harness: two root certificates: {root}");
    let want: BTreeSet<(String, Vec<u8>)> = certs
        .iter()
        .map(|(id, der)| (id.clone(), cert_facts(der).spki))
        .collect();
    let want_keys: BTreeSet<Vec<u8>> = want.iter().map(|(_, k)| k.clone()).collect();
    assert_eq!(
        want_keys,
        [public_key_der(&a_pem), public_key_der(&b_pem)]
            .into_iter()
            .collect(),
        "harness: the certificates hold the keys given to -k"
    );

    let url = server.url();
    let live = Live::new(&client, &url, gun);
    let out = get_root_key(&["-i", gun, "-s", &url]);
    out.expect_code(0, "two root keys");
    let got: BTreeSet<(String, Vec<u8>)> = parse_key_text(&out)
        .into_iter()
        .map(|(id, pem)| (id, public_key_der(&pem)))
        .collect();
    assert_eq!(
        got,
        want,
        "every root key with its certificate ID: {}",
        out.describe()
    );

    let out = get_root_key(&["-i", gun, "-s", &url, "--output", "json"]);
    out.expect_code(0, "two root keys, json");
    let v = out.json();
    let got: BTreeSet<(String, Vec<u8>)> = v["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|k| {
            (
                k["key_id"].as_str().unwrap().to_string(),
                public_key_der(k["pem"].as_str().unwrap()),
            )
        })
        .collect();
    assert_eq!(got, want, "{v}");
    let canonical: BTreeSet<&str> = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["canonical_id"].as_str().unwrap())
        .collect();
    let (ca, cb) = (canonical_key_id(&a_pem), canonical_key_id(&b_pem));
    assert_eq!(
        canonical,
        [ca.as_str(), cb.as_str()].into_iter().collect(),
        "{v}"
    );
    assert_eq!(v["root_version"], 2, "{v}");

    // each key alone, as pinned, resolves
    let hex = client.lookup_ok(gun, "v1");
    for (name, pem) in [("a", &a_pem), ("b", &b_pem)] {
        let key = live.key_file(&format!("pinned-{name}.pem"), pem);
        live.expect_resolves(&key, "v1", &hex, &format!("root key {name} alone"));
    }
    // and the promised round trip: `resolve --root-key <(get-root-key --pem-only)`
    let out = get_root_key(&["-i", gun, "-s", &url, "--pem-only"]);
    out.expect_code(0, "two root keys, --pem-only");
    let blocks = pem::parse_many(&out.stdout).expect("PEM");
    assert_eq!(blocks.len(), 2, "{}", out.describe());
    let key = live.key_file("both.pem", &out.stdout);
    let what = "--pem-only output of a two-key root passed to --root-key";
    live.expect_resolves(&key, "v1", &hex, what);
}

// ------------------------------------------------------------------------------------------------
// inspect vs notary list / notary delegation list

/// `notary list GUN [--roles ROLE]` parsed: (name, sha256 hex, role) rows.
fn notary_list(
    client: &NotaryClient,
    gun: &str,
    role: Option<&str>,
) -> Vec<(String, String, String)> {
    let mut args = vec!["list", gun];
    if let Some(r) = role {
        args.extend(["--roles", r]);
    }
    let out = client.run(&args);
    let mut rows = Vec::new();
    let mut lines = out.lines();
    let header = lines.next().unwrap_or_default();
    assert!(
        header.starts_with("NAME") && header.contains("DIGEST") && header.contains("ROLE"),
        "unexpected `notary list` header in:\n{out}"
    );
    for line in lines.skip_while(|l| !l.starts_with("----")).skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            f.len(),
            4,
            "unexpected `notary list` row {line:?} in:\n{out}"
        );
        assert_eq!(f[1].len(), 64, "{line:?}");
        rows.push((f[0].to_string(), f[1].to_string(), f[3].to_string()));
    }
    rows
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct DelegationRow {
    role: String,
    paths: BTreeSet<String>,
    key_ids: BTreeSet<String>,
    threshold: Option<u64>,
}

/// `notary delegation list GUN` parsed by the header's column positions; continuation lines (blank
/// ROLE) add paths and keys to the role above. `"" <all paths>` is the empty path.
fn notary_delegation_list(client: &NotaryClient, gun: &str) -> Vec<DelegationRow> {
    let out = client.run(["delegation", "list", gun]);
    let lines: Vec<&str> = out.lines().collect();
    let h = lines
        .iter()
        .position(|l| l.starts_with("ROLE"))
        .unwrap_or_else(|| panic!("no ROLE header in `notary delegation list`:\n{out}"));
    let header = lines[h];
    let col = |name: &str| {
        header
            .find(name)
            .unwrap_or_else(|| panic!("no {name} column in {header:?}"))
    };
    let (c_paths, c_keys, c_thr) = (col("PATHS"), col("KEY IDS"), col("THRESHOLD"));
    assert!(c_paths < c_keys && c_keys < c_thr, "{header:?}");
    let cell = |l: &str, a: usize, b: usize| -> String {
        let b = b.min(l.len());
        if a >= b {
            String::new()
        } else {
            l[a..b].trim().to_string()
        }
    };
    let mut rows: Vec<DelegationRow> = Vec::new();
    for line in lines[h + 1..].iter().filter(|l| !l.starts_with("----")) {
        if line.trim().is_empty() {
            continue;
        }
        let role = cell(line, 0, c_paths);
        if !role.is_empty() {
            rows.push(DelegationRow {
                role,
                ..Default::default()
            });
        }
        let row = rows
            .last_mut()
            .unwrap_or_else(|| panic!("continuation line before any role: {line:?}\n{out}"));
        let path = cell(line, c_paths, c_keys);
        if path == r#""" <all paths>"# {
            row.paths.insert(String::new());
        } else if !path.is_empty() {
            row.paths.insert(path);
        }
        let key = cell(line, c_keys, c_thr);
        if !key.is_empty() {
            assert_eq!(key.len(), 64, "key ID column {key:?} in {line:?}");
            row.key_ids.insert(key);
        }
        let thr = cell(line, c_thr, usize::MAX);
        if !thr.is_empty() {
            assert!(
                row.threshold.is_none(),
                "two thresholds for {}:\n{out}",
                row.role
            );
            row.threshold = Some(thr.parse().unwrap_or_else(|_| panic!("threshold {thr:?}")));
        }
    }
    rows
}

/// (tag, digest, role) for every role of every SignedTags and OtherSignedTags entry.
fn our_rows(entry: &Value) -> BTreeSet<(String, String, String)> {
    let mut set = BTreeSet::new();
    let rows = |field: &str| {
        entry[field]
            .as_array()
            .unwrap_or_else(|| panic!("{field}: {entry}"))
            .clone()
    };
    for t in rows("SignedTags").iter().chain(&rows("OtherSignedTags")) {
        let tag = t["SignedTag"].as_str().unwrap().to_string();
        let digest = t["Digest"].as_str().unwrap().to_string();
        for role in str_set(&t["Roles"]) {
            set.insert((tag.clone(), digest.clone(), role));
        }
    }
    set
}

struct Published {
    gun: &'static str,
    targets_app: Target,
    releases_app: Target,
    qa_app: Target,
    both: Target,
    v1: Target,
    qa_only: Target,
    rel_only: Target,
    nightly: Target,
    releases_key: DelegationKey,
    qa_key: DelegationKey,
    nightly_key: DelegationKey,
}

/// targets: v1, app; releases (all paths): app (another digest), both, rel-only; qa (paths `app`,
/// `both`, `qa-`): app (a third digest), both (same digest as releases), qa-only; qa/nightly
/// (nested, paths `qa-nightly`): qa-nightly.
/// [`publish_audited_repo`], its root key pinned in the client's folder, the server's URL, and
/// `inspect --output OUTPUT` of it, which must succeed.
fn audited_repo_inspected(
    server: &NotaryServer,
    client: &NotaryClient,
    output: &str,
) -> (Published, PathBuf, String, Output) {
    let p = publish_audited_repo(client);
    let key = client.write_root_key(p.gun, "root.pub");
    let url = server.url();
    let out = inspect(&url, &key, &[p.gun], &["--output", output]);
    out.expect_code(0, &format!("inspect --output {output}"));
    (p, key, url, out)
}

fn publish_audited_repo(client: &NotaryClient) -> Published {
    let gun = "example.com/audit/app";
    client.init(gun);
    let releases_key = client.add_delegation(gun, "releases");
    let qa_key = client.create_delegation_key("qa");
    client.delegation_add(gun, "qa", &qa_key.cert_path, Some(&["app", "both", "qa-"]));
    client.publish(gun);
    // a nested delegation, declared in qa's metadata once qa exists
    let nightly_key = client.create_delegation_key("targets/qa/nightly");
    client.delegation_add(
        gun,
        "targets/qa/nightly",
        &nightly_key.cert_path,
        Some(&["qa-nightly"]),
    );
    client.publish(gun);
    let p = Published {
        gun,
        targets_app: Target::of("app", "app by the repo admin"),
        releases_app: Target::of("app", "app by releases"),
        qa_app: Target::of("app", "app by qa"),
        both: Target::of("both", "both, the same for releases and qa"),
        v1: Target::of("v1", "v1 by the repo admin"),
        qa_only: Target::of("qa-only", "only qa signed this"),
        rel_only: Target::of("rel-only", "only releases signed this"),
        nightly: Target::of("qa-nightly", "signed by the nested qa/nightly"),
        releases_key,
        qa_key,
        nightly_key,
    };
    client.add_target(gun, &p.v1, "targets");
    client.add_target(gun, &p.targets_app, "targets");
    client.add_target(gun, &p.releases_app, "releases");
    client.add_target(gun, &p.qa_app, "qa");
    client.add_target(gun, &p.both, "releases");
    client.add_target(gun, &p.both, "qa");
    client.add_target(gun, &p.qa_only, "qa");
    client.add_target(gun, &p.rel_only, "releases");
    client.add_target(gun, &p.nightly, "targets/qa/nightly");
    client.publish(gun);
    p
}

/// The `field` of every entry of `d`'s `Keys`.
fn keys_field(d: &Value, field: &str) -> BTreeSet<String> {
    d["Keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k[field].as_str().unwrap().to_string())
        .collect()
}

fn inspect(server: &str, key: &Path, images: &[&str], extra: &[&str]) -> Output {
    let options = [
        "--root-key".as_ref(),
        key.as_os_str(),
        "--server".as_ref(),
        server.as_ref(),
    ];
    inspect_home(images, &options, extra)
}

#[test]
fn inspect_json_agrees_with_notary_list_and_delegation_list() {
    let (server, client) = live_server_or_skip!(false);
    let (p, _, _, out) = audited_repo_inspected(&server, &client, "json");
    let gun = p.gun;
    let v = out.json();
    let arr = v.as_array().unwrap_or_else(|| panic!("not an array: {v}"));
    assert_eq!(arr.len(), 1, "{v}");
    let e = &arr[0];
    assert_eq!(e["Name"], gun, "{e}");

    // --- notary list, in every role's view, against SignedTags
    let mut notary_rows: BTreeSet<(String, String, String)> = BTreeSet::new();
    let default_view = notary_list(&client, gun, None);
    assert_eq!(
        default_view.len(),
        6,
        "harness: notary list shows one row per tag name: {default_view:?}"
    );
    notary_rows.extend(default_view);
    for role in ["targets/releases", "targets/qa", "targets/qa/nightly"] {
        let view = notary_list(&client, gun, Some(role));
        assert!(
            !view.is_empty()
                && view
                    .iter()
                    .all(|(_, _, r)| r == role || r.starts_with(&format!("{role}/"))),
            "harness: `notary list --roles {role}` shows {role} (and its children): {view:?}"
        );
        notary_rows.extend(view);
    }
    let ours = our_rows(e);
    for row in &notary_rows {
        assert!(
            ours.contains(row),
            "notary list has {row:?}, inspect's SignedTags do not: {e}"
        );
    }
    assert_eq!(
        ours, notary_rows,
        "inspect's (tag, digest, role) rows differ from notary list's"
    );
    // and from what was published
    let published: BTreeSet<(String, String, String)> = [
        (&p.v1, "targets"),
        (&p.targets_app, "targets"),
        (&p.releases_app, "targets/releases"),
        (&p.qa_app, "targets/qa"),
        (&p.both, "targets/releases"),
        (&p.both, "targets/qa"),
        (&p.qa_only, "targets/qa"),
        (&p.rel_only, "targets/releases"),
        (&p.nightly, "targets/qa/nightly"),
    ]
    .into_iter()
    .map(|(t, r)| (t.tag.clone(), t.sha256.clone(), r.to_string()))
    .collect();
    assert_eq!(ours, published);

    // docker's SignedTags: one row per (tag, digest) signed into targets or targets/releases,
    // in natural tag order; Signers are the other delegations that signed it, never releases
    let rows_of = |field: &str| -> Vec<(String, String, Vec<String>)> {
        e[field]
            .as_array()
            .unwrap_or_else(|| panic!("{field}: {e}"))
            .iter()
            .map(|t| {
                let signers = t["Signers"].as_array().unwrap();
                let signers = signers.iter().map(|s| s.as_str().unwrap().to_string());
                (
                    t["SignedTag"].as_str().unwrap().to_string(),
                    t["Digest"].as_str().unwrap().to_string(),
                    signers.collect(),
                )
            })
            .collect()
    };
    // `field` lists these targets with these signers, in this order
    let expect_rows = |field: &str, rows: &[(&Target, &[&str])]| {
        let want: Vec<(String, String, Vec<String>)> = rows
            .iter()
            .map(|(t, s)| {
                let s = s.iter().map(|x| x.to_string()).collect();
                (t.tag.clone(), t.sha256.clone(), s)
            })
            .collect();
        assert_eq!(rows_of(field), want, "{field}: {e}");
    };
    expect_rows(
        "SignedTags",
        &[
            (&p.targets_app, &["Repo Admin"]),
            (&p.releases_app, &["Repo Admin"]),
            (&p.both, &["qa"]),
            (&p.rel_only, &["Repo Admin"]),
            (&p.v1, &["Repo Admin"]),
        ],
    );
    // the rest, which docker leaves out
    expect_rows(
        "OtherSignedTags",
        &[
            (&p.qa_app, &["qa"]),
            (&p.nightly, &["qa/nightly"]),
            (&p.qa_only, &["qa"]),
        ],
    );
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();

    // --- notary delegation list against Delegations
    let listed = notary_delegation_list(&client, gun);
    let dels = e["Delegations"]
        .as_array()
        .unwrap_or_else(|| panic!("Delegations: {e}"));
    let our_roles: BTreeSet<String> = dels
        .iter()
        .map(|d| d["Role"].as_str().unwrap().to_string())
        .collect();
    let their_roles: BTreeSet<String> = listed.iter().map(|r| r.role.clone()).collect();
    assert_eq!(our_roles, their_roles, "delegation roles: {listed:?}\n{e}");
    assert_eq!(
        their_roles,
        set(&["targets/releases", "targets/qa", "targets/qa/nightly"])
    );
    for r in &listed {
        let d = dels
            .iter()
            .find(|d| d["Role"] == r.role.as_str())
            .unwrap_or_else(|| panic!("no Delegations entry for {}: {e}", r.role));
        let ids: BTreeSet<String> = keys_field(d, "ID");
        // notary delegation list prints canonical public-key IDs
        assert_eq!(
            ids, r.key_ids,
            "{}: Keys[].ID vs notary's KEY IDS: {d}",
            r.role
        );
        assert_eq!(d["Threshold"].as_u64(), r.threshold, "{}: {d}", r.role);
        assert_eq!(str_set(&d["Paths"]), r.paths, "{}: paths: {d}", r.role);
        assert_eq!(d["Verified"], true, "{}: {d}", r.role);
        assert!(d["Error"].is_null(), "{}: {d}", r.role);
        assert_eq!(d["Name"], r.role.trim_start_matches("targets/"), "{d}");
        // ListedID: the certificate IDs the parent's metadata lists
        let parent = r.role.rsplit_once('/').unwrap().0;
        let parent_json: Value =
            serde_json::from_slice(&server.metadata(gun, parent).unwrap()).unwrap();
        let listed_ids: BTreeSet<String> = keys_field(d, "ListedID");
        let in_parent = parent_json["signed"]["delegations"]["roles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == r.role.as_str())
            .unwrap_or_else(|| panic!("{} not in {parent}.json", r.role));
        assert_eq!(
            listed_ids,
            str_set(&in_parent["keyids"]),
            "{}: ListedID: {d}",
            r.role
        );
        assert!(
            ids.is_disjoint(&listed_ids),
            "certificate IDs differ from canonical IDs: {d}"
        );
    }
    let rel = listed
        .iter()
        .find(|r| r.role == "targets/releases")
        .unwrap();
    let qa = listed.iter().find(|r| r.role == "targets/qa").unwrap();
    assert_eq!(
        rel.key_ids,
        set(&[&p.releases_key.key_id]),
        "harness: canonical IDs"
    );
    assert_eq!(
        qa.key_ids,
        set(&[&p.qa_key.key_id]),
        "harness: canonical IDs"
    );
    let nightly = listed
        .iter()
        .find(|r| r.role == "targets/qa/nightly")
        .unwrap();
    assert_eq!(nightly.key_ids, set(&[&p.nightly_key.key_id]));
    assert_eq!(rel.paths, set(&[""]));
    assert_eq!(qa.paths, set(&["app", "both", "qa-"]));
    assert_eq!(nightly.paths, set(&["qa-nightly"]));

    // docker's Signers: every delegation but releases, by name descending, canonical key IDs
    let docker_signers: Vec<(String, BTreeSet<String>)> = e["Signers"]
        .as_array()
        .unwrap_or_else(|| panic!("Signers: {e}"))
        .iter()
        .map(|s| {
            let keys = s["Keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["ID"].as_str().unwrap().to_string())
                .collect();
            (s["Name"].as_str().unwrap().to_string(), keys)
        })
        .collect();
    assert_eq!(
        docker_signers,
        [
            ("qa/nightly".to_string(), nightly.key_ids.clone()),
            ("qa".to_string(), qa.key_ids.clone()),
        ],
        "{e}"
    );

    // administrative keys as docker prints them: the IDs root.json lists (for root, the
    // certificate's); the canonical ID (= the root's private key file) is in our Administrative
    let admin = e["AdministrativeKeys"]
        .as_array()
        .unwrap_or_else(|| panic!("{e}"));
    let admin_ids = |name: &str| -> BTreeSet<String> {
        let a = admin
            .iter()
            .find(|a| a["Name"] == name)
            .unwrap_or_else(|| panic!("no AdministrativeKeys {name}: {e}"));
        a["Keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["ID"].as_str().unwrap().to_string())
            .collect()
    };
    let root = server_root(&server, gun);
    assert_eq!(
        admin_ids("Root"),
        str_set(&root["signed"]["roles"]["root"]["keyids"]),
        "{e}"
    );
    assert_eq!(e["Administrative"][0]["Role"], "root", "{e}");
    assert_eq!(
        keys_field(&e["Administrative"][0], "ID"),
        set(&[&client.root_key_id(gun)]),
        "{e}"
    );
    assert_eq!(
        keys_field(&e["Administrative"][0], "ListedID"),
        admin_ids("Root"),
        "{e}"
    );
    assert_eq!(
        admin_ids("Repository"),
        str_set(&root["signed"]["roles"]["targets"]["keyids"]),
        "{e}"
    );
    for id in admin_ids("Repository") {
        let f = client.private_key_file(&id);
        assert!(
            f.is_file(),
            "repository key {id} is not the client's targets key file"
        );
    }

    // --- disagreements: app only, with every role's digest
    let dis = e["Disagreements"]
        .as_array()
        .unwrap_or_else(|| panic!("{e}"));
    assert_eq!(dis.len(), 1, "only app disagrees: {e}");
    assert_eq!(dis[0]["SignedTag"], "app");
    let signed = disagreeing_roles(&dis[0]);
    assert_eq!(
        signed,
        [
            ("targets".to_string(), p.targets_app.sha256.clone()),
            (
                "targets/releases".to_string(),
                p.releases_app.sha256.clone()
            ),
            ("targets/qa".to_string(), p.qa_app.sha256.clone()),
        ]
        .into_iter()
        .collect(),
        "{e}"
    );
}

#[test]
fn inspect_text_and_single_tag() {
    let (server, client) = live_server_or_skip!(false);
    let (p, key, url, out) = audited_repo_inspected(&server, &client, "text");
    let gun = p.gun;
    let text = &out.stdout;
    for h in [
        "SIGNED TAG",
        "DIGEST",
        "SIGNERS",
        "SIGNER",
        "KEYS",
        "THRESHOLD",
        "PATHS",
        "STATUS",
        "Repository Key",
        "Root Key",
    ] {
        assert!(text.contains(h), "header {h:?} missing: {}", out.describe());
    }
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let first = |l: &String| l.split_whitespace().next().unwrap().to_string();
    // cells of aligned rows, run together (columns are 3 spaces apart at least)
    let squeeze = |rows: Vec<String>| -> Vec<String> {
        rows.iter()
            .map(|r| r.split("   ").map(str::trim).collect())
            .collect()
    };
    // docker's signers table: every delegation but releases, natural order, full key IDs
    assert_eq!(
        squeeze(text_table_rows(text, "SIGNER ")),
        [
            format!("qa{}", p.qa_key.key_id),
            format!("qa/nightly{}", p.nightly_key.key_id)
        ],
        "{}",
        out.describe()
    );
    // ours: every delegation with its status
    let roles = text_table_rows(text, "ROLE ");
    assert_eq!(
        roles.iter().map(first).collect::<BTreeSet<_>>(),
        set(&["targets/releases", "targets/qa", "targets/qa/nightly"]),
        "{}",
        out.describe()
    );
    for l in &roles {
        assert!(l.ends_with("   verified"), "{l:?}");
    }
    // the released tags, as docker's --pretty shows them, then the rest
    let row = |t: &Target, signers: &str| format!("{}{}", t.tag, t.sha256) + signers;
    assert_eq!(
        squeeze(text_tag_rows(text)),
        [
            row(&p.targets_app, "(Repo Admin)"),
            row(&p.releases_app, "(Repo Admin)"),
            row(&p.both, "qa"),
            row(&p.rel_only, "(Repo Admin)"),
            row(&p.v1, "(Repo Admin)"),
        ],
        "{}",
        out.describe()
    );
    assert_eq!(
        squeeze(text_table_rows_nth(text, "SIGNED TAG ", 1)),
        [
            row(&p.qa_app, "qa"),
            row(&p.nightly, "qa/nightly"),
            row(&p.qa_only, "qa"),
        ],
        "{}",
        out.describe()
    );
    let warning = text
        .lines()
        .find(|l| l.starts_with("WARNING") && l.contains("\"app\""))
        .unwrap_or_else(|| panic!("no warning about app: {}", out.describe()));
    for t in [&p.targets_app, &p.releases_app, &p.qa_app] {
        assert!(warning.contains(&t.sha256), "{warning:?}");
    }
    assert!(!text
        .lines()
        .any(|l| l.starts_with("WARNING") && l.contains("\"both\"")));
    // administrative keys in full: as root.json lists them, then the root's canonical ID
    let root = server_root(&server, gun);
    let listed = |role: &str| {
        let ids = str_set(&root["signed"]["roles"][role]["keyids"]);
        ids.into_iter().collect::<Vec<_>>().join(", ")
    };
    for line in [
        format!("  Repository Key:\t{}", listed("targets")),
        format!("  Root Key:\t{}", listed("root")),
        format!("  Root Key (canonical ID):\t{}", client.root_key_id(gun)),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "no line {line:?}: {}",
            out.describe()
        );
    }

    // IMAGE:TAG shows only that tag
    let image = format!("{gun}:both");
    let out = inspect(&url, &key, &[&image], &["--output", "json"]);
    out.expect_code(0, "inspect GUN:both");
    let v = out.json();
    let tags = v[0]["SignedTags"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(tags.len(), 1, "{v}");
    assert_eq!(tags[0]["SignedTag"], "both");
    assert_eq!(tags[0]["Digest"], p.both.sha256.as_str());
    assert_eq!(v[0]["Disagreements"], serde_json::json!([]), "{v}");

    let image = format!("{gun}:app");
    let out = inspect(&url, &key, &[&image], &[]);
    out.expect_code(0, "inspect GUN:app (text is the default)");
    expect_disagreeing_rows(&out, "app", 2);

    // several images: one entry each, in order
    let out = inspect(
        &url,
        &key,
        &[gun, &format!("{gun}:v1")],
        &["--output", "json"],
    );
    out.expect_code(0, "two images");
    let v = out.json();
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(v[0]["SignedTags"].as_array().unwrap().len(), 5, "{v}");
    assert_eq!(v[1]["SignedTags"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[1]["SignedTags"][0]["Digest"], p.v1.sha256.as_str(), "{v}");

    // a tag only qa signed is not released: refused, saying who did sign it
    let image = format!("{gun}:qa-only");
    let out = inspect(&url, &key, &[&image], &["--output", "json"]);
    out.expect_code(1, "inspect of a tag no released role signed");
    out.expect_stderr(&["not released", "only qa did"], "");
    let v = out.json();
    assert_eq!(v[0]["SignedTags"], serde_json::json!([]), "{v}");
    assert_eq!(
        v[0]["OtherSignedTags"][0]["Digest"],
        p.qa_only.sha256.as_str()
    );

    // a tag nobody signed
    let image = format!("{gun}:nosuchtag");
    let out = inspect(&url, &key, &[&image], &[]);
    out.expect_code(1, "inspect of an unsigned tag");
    out.expect_stderr(&["nosuchtag"], "");

    // a wrong pinned key is refused as resolve refuses it
    let other = server.client();
    other.publish_repo("example.com/audit/other", &[("v1", "other")]);
    let wrong = other.write_root_key("example.com/audit/other", "other.pub");
    let out = inspect(&url, &wrong, &[gun], &["--output", "json"]);
    out.expect_code(1, "inspect with another repository's root key");
    assert!(!out.stdout.contains(&p.v1.sha256), "{}", out.describe());
}

// ------------------------------------------------------------------------------------------------
// inspect vs docker/cli's own inspect fixtures

// docker/cli's golden files for `docker trust inspect`, copied unchanged into tests/data/docker-cli
// (see its README: origin, commit, Apache-2.0). docker's tests feed them a fake notary repository
// (internal/test/notary: GetLoadedNotaryRepository): delegations releases (keys A, B), alice (A)
// and bob (B); red signed by releases, alice and bob, blue by releases and alice, green by releases.
// [`publish_docker_fixture`] publishes that same repository with the real notary client; the
// placeholders (rootID, targetsID, A, B, the digests, the name) are then replaced by the real values.

macro_rules! docker_golden {
    ($name:literal) => {
        include_str!(concat!("data/docker-cli/trust-inspect-", $name, ".golden"))
    };
}

/// The fixture's names for things, and what they are in a real repository.
struct Fixture {
    gun: &'static str,
    replace: Vec<(String, String)>,
}

impl Fixture {
    /// `golden` with every placeholder replaced.
    fn golden(&self, golden: &str) -> String {
        let mut s = golden.to_string();
        for (from, to) in &self.replace {
            s = s.replace(from, to);
        }
        s
    }
}

/// docker's loaded fixture repository, published for real under `gun` (with `delegations`) or, as
/// docker's no-signers fixture, green signed by targets alone.
fn publish_docker_fixture(
    server: &NotaryServer,
    client: &NotaryClient,
    gun: &'static str,
    delegations: bool,
) -> Fixture {
    client.init(gun);
    let red = Target::of("red", "red content");
    let blue = Target::of("blue", "blue content");
    let green = Target::of("green", "green content");
    let mut replace = Vec::new();
    if delegations {
        let a = client.create_delegation_key("releases");
        let b = client.create_delegation_key("releases");
        for (role, key) in [
            ("releases", &a),
            ("releases", &b),
            ("alice", &a),
            ("bob", &b),
        ] {
            client.delegation_add(gun, role, &key.cert_path, None);
        }
        client.publish(gun);
        for (t, roles) in [
            (&red, &["releases", "alice", "bob"][..]),
            (&blue, &["releases", "alice"]),
            (&green, &["releases"]),
        ] {
            for role in roles {
                client.add_target(gun, t, role);
            }
        }
        replace.push((r#""A""#.to_string(), format!("{:?}", a.key_id)));
        replace.push((r#""B""#.to_string(), format!("{:?}", b.key_id)));
        replace.push(("     A\n".to_string(), format!("     {}\n", a.key_id)));
        replace.push(("     B\n".to_string(), format!("     {}\n", b.key_id)));
    } else {
        client.add_target(gun, &green, "targets");
    }
    client.publish(gun);
    let root = server_root(server, gun);
    let listed = |role: &str| {
        let ids = root["signed"]["roles"][role]["keyids"].as_array().unwrap();
        assert_eq!(ids.len(), 1, "harness: one {role} key: {root}");
        ids[0].as_str().unwrap().to_string()
    };
    replace.push(("rootID".to_string(), listed("root")));
    replace.push(("targetsID".to_string(), listed("targets")));
    for t in [&red, &blue, &green] {
        replace.push((hex::encode(format!("{}-digest", t.tag)), t.sha256.clone()));
    }
    replace.push(("signed-repo".to_string(), gun.to_string()));
    Fixture { gun, replace }
}

/// Our JSON with trustpin's own fields taken out: what docker's fields hold.
fn docker_fields(ours: &Value) -> Value {
    let mut v = ours.clone();
    for e in v.as_array_mut().unwrap() {
        let e = e.as_object_mut().unwrap();
        for extra in [
            "Gun",
            "OtherSignedTags",
            "Administrative",
            "Delegations",
            "Disagreements",
            "Warnings",
        ] {
            assert!(e.remove(extra).is_some(), "no {extra} in {e:?}");
        }
        for t in e["SignedTags"].as_array_mut().unwrap() {
            assert!(t.as_object_mut().unwrap().remove("Roles").is_some());
        }
    }
    v
}

/// Cells of an aligned text, line by line: runs of three or more spaces are one separator.
fn cells(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| {
            l.split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        })
        .collect()
}

/// `inspect IMAGE` as JSON must hold exactly docker's `golden` in docker's fields, in docker's
/// layout (4-space indents, docker's fields first); as text, start with docker's `pretty`
/// (full key IDs where docker cuts them), cell for cell. A tag no released role signed is exit 1.
fn expect_docker_golden(url: &str, key: &Path, f: &Fixture, tag: &str, golden: &str, pretty: &str) {
    let image = if tag.is_empty() {
        f.gun.to_string()
    } else {
        format!("{}:{tag}", f.gun)
    };
    let code = if golden.contains(r#""SignedTags": [],"#) {
        1
    } else {
        0
    };
    let out = inspect(url, key, &[&image], &["--output", "json"]);
    out.expect_code(code, &format!("inspect {image} --output json"));
    let want: Value = serde_json::from_str(&f.golden(golden)).expect("golden is JSON");
    assert_eq!(docker_fields(&out.json()), want, "{}", out.describe());
    let head = format!("[\n    {{\n        \"Name\": {image:?},\n        \"SignedTags\": [");
    assert!(out.stdout.starts_with(&head), "{}", out.describe());
    let order = ["\"Signers\": [", "\"AdministrativeKeys\": [", "\"Gun\": "];
    let at: Vec<usize> = order.iter().map(|k| out.stdout.rfind(k).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{}", out.describe());

    if pretty.is_empty() {
        return;
    }
    let out = inspect(url, key, &[&image], &[]);
    out.expect_code(code, &format!("inspect {image}"));
    let want = f.golden(pretty);
    let got = cells(&out.stdout);
    assert_eq!(
        got[..want.lines().count()],
        cells(&want)[..],
        "docker's --pretty:\n{want}\nours:\n{}",
        out.describe()
    );
    // docker's tabwriter layout: columns 3 spaces past the longest cell, at least 10 wide
    if let Some(h) = out.stdout.lines().find(|l| l.starts_with("SIGNED TAG")) {
        assert_eq!(h, format!("SIGNED TAG   DIGEST{}SIGNERS", " ".repeat(61)));
    }
}

#[test]
fn inspect_matches_docker_cli_fixtures() {
    let (server, client) = live_server_or_skip!(false);
    let url = server.url();
    let f = publish_docker_fixture(&server, &client, "example.com/docker/signed-repo", true);
    let key = client.write_root_key(f.gun, "signed-repo-root.pub");
    expect_docker_golden(
        &url,
        &key,
        &f,
        "",
        docker_golden!("full-repo-with-signers"),
        docker_golden!("pretty-full-repo-with-signers"),
    );
    expect_docker_golden(
        &url,
        &key,
        &f,
        "unsigned",
        docker_golden!("unsigned-tag-with-signers"),
        docker_golden!("pretty-unsigned-tag-with-signers"),
    );
    // the same repository twice: one entry each; the text view separates images with two blank
    // lines, as docker's does
    let out = inspect(&url, &key, &[f.gun, f.gun], &["--output", "json"]);
    out.expect_code(0, "the same repository twice");
    let want = f.golden(docker_golden!("multiple-repos-with-signers"));
    let want: Value = serde_json::from_str(&want).expect("golden is JSON");
    assert_eq!(docker_fields(&out.json()), want, "{}", out.describe());
    let out = inspect(&url, &key, &[f.gun, f.gun], &[]);
    let sep = format!("\n\n\nSignatures for {}\n", f.gun);
    assert_eq!(out.stdout.matches(&sep).count(), 1, "{}", out.describe());

    let plain = server.client();
    let f = publish_docker_fixture(&server, &plain, "example.com/docker/no-signers", false);
    let key = plain.write_root_key(f.gun, "no-signers-root.pub");
    let golden = docker_golden!("one-tag-no-signers");
    expect_docker_golden(&url, &key, &f, "green", golden, "");
}
