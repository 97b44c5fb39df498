//! Issue 7: trust that survives time. Root rotation (a real `notary key rotate GUN root`, twice,
//! and chains built to be broken), the trust cache (rollback refusal, the warm path counted in
//! HTTP requests, crash safety) and archives verified offline after the server is gone.
//!
//! Live tests need `notary`, `notary-server` and `openssl` (Debian package `notary`); without them
//! they fail with the install hint, unless TRUSTPIN_SKIP_LIVE=1. Every trustpin run passes
//! `--cache-dir <fresh temp dir>` or `--no-cache`, so tests never share a cache.
//!
//! Facts about notary 0.7.0's root rotation that these tests rely on (and check):
//! - `notary key rotate GUN root` asks "Are you sure you want to proceed? (yes/no)"; without `yes`
//!   on stdin it prints "Aborting action." and exits 0 having done nothing. With `yes` it publishes
//!   at once.
//! - The server keeps every root version: `<n>.root.json` for n = 1..current, `root.json` = the
//!   newest, `<current+1>.root.json` is 404.
//! - Root n+1 is signed by its own new key AND the key of root n (only the immediately previous
//!   one: root 3 is not signed by root 1's key). Its `keys` map still lists the old root
//!   certificates, but its root role lists only the new one.
//! - The notary client follows the chain: a client that cached root 1 before two rotations, and a
//!   fresh one trusting on first use, both look tags up as before.

mod common;
use common::builder;
use common::notary;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::builder::{Key, RepoBuilder};
use common::notary::{http_get, live_server, require_live, NotaryClient, NotaryServer, Target};
use common::server::{Reply, Response, TestServer};
use common::sha256_hex;
use common::{Cmd, Output};
use serde_json::{json, Value};

type Files = BTreeMap<String, Vec<u8>>;

// ------------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------------

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Run the `trustpin` binary (60 s limit). The environment's DOCKER_CONTENT_TRUST_SERVER and
/// TRUSTPIN_NO_CACHE (set for all tests by .cargo/config.toml) are removed: every run here says
/// `--cache-dir DIR` or `--no-cache` itself; [`explicit_cache_dir_wins_over_trustpin_no_cache`]
/// checks the environment variable separately.
fn trustpin<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Cmd::trustpin()
        .args(args)
        .env_remove("TRUSTPIN_NO_CACHE")
        .run()
}

/// `trustpin resolve IMAGES... --server URL --root-key KEY EXTRA...`
fn resolve(url: &str, key: &Path, images: &[String], extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec!["resolve".into()];
    args.extend(images.iter().cloned());
    args.extend(["--server".into(), url.into(), "--root-key".into(), s(key)]);
    args.extend(extra.iter().map(|x| x.to_string()));
    trustpin(&args)
}

/// `--cache-dir DIR`
fn cache_args(dir: &Path) -> [String; 2] {
    ["--cache-dir".into(), s(dir)]
}

fn with_cache<'a>(cache: &'a [String; 2], more: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = cache.iter().map(String::as_str).collect();
    v.extend_from_slice(more);
    v
}

fn signed(bytes: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(bytes).expect("metadata is JSON");
    v["signed"].clone()
}

fn version(bytes: &[u8]) -> i64 {
    signed(bytes)["version"].as_i64().expect("version")
}

fn sig_ids(bytes: &[u8]) -> BTreeSet<String> {
    let v: Value = serde_json::from_slice(bytes).unwrap();
    v["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["keyid"].as_str().unwrap().to_owned())
        .collect()
}

fn root_role_ids(bytes: &[u8]) -> BTreeSet<String> {
    signed(bytes)["roles"]["root"]["keyids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// Versions of the unversioned roles of a repository state.
fn versions(files: &Files) -> BTreeMap<String, i64> {
    files
        .iter()
        .filter(|(r, _)| !r.ends_with(".root"))
        .map(|(r, b)| (r.clone(), version(b)))
        .collect()
}

/// The error trustpin must give when `older` is served after `newer` was verified: the first
/// role, in trustpin's (sorted) order, whose version went down.
fn rollback_message(newer: &Files, older: &Files) -> String {
    let (n, o) = (versions(newer), versions(older));
    let (role, got, seen) = o
        .iter()
        .find_map(|(r, &v)| n.get(r).filter(|&&seen| v < seen).map(|&seen| (r, v, seen)))
        .expect("the older state has no lower version");
    format!("rollback: {role} version {got} is older than version {seen} seen before")
}

/// Every file of a repository as a notary-server serves it now: the four top-level files, every
/// delegation its snapshot lists, and every root version `<n>.root`.
fn capture(ns: &NotaryServer, gun: &str) -> Files {
    let mut f = Files::new();
    for role in common::TOP_ROLES {
        let b = ns
            .metadata(gun, role)
            .unwrap_or_else(|e| panic!("{role}: {e}"));
        f.insert(role.to_owned(), b);
    }
    let snap = signed(&f["snapshot"]);
    for name in snap["meta"].as_object().unwrap().keys() {
        if name.starts_with("targets/") {
            let b = ns
                .metadata(gun, name)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            f.insert(name.clone(), b);
        }
    }
    for v in 1..=version(&f["root"]) {
        let role = format!("{v}.root");
        let b = ns
            .metadata(gun, &role)
            .unwrap_or_else(|e| panic!("{role}: {e}"));
        f.insert(role, b);
    }
    f
}

/// A loopback test server serving one repository state at a time (switchable), Notary's 404 for
/// anything else, counting requests.
struct Served {
    srv: TestServer,
    gun: String,
    state: Arc<Mutex<Files>>,
}

impl Served {
    fn new(gun: &str, files: Files) -> Served {
        let srv = TestServer::start();
        let state = Arc::new(Mutex::new(files));
        let st = state.clone();
        let prefix = format!("/v2/{gun}/_trust/tuf/");
        // The notary client first pings `/v2/`, and asks for `<role>.<sha256 hex>.json` once a
        // parent named the hash: served from the current state when the hash fits.
        srv.serve_json("/v2/", b"{}".to_vec());
        srv.fallback(move |req| {
            let files = st.lock().unwrap();
            let body = req
                .path
                .strip_prefix(&prefix)
                .and_then(|r| r.strip_suffix(".json"))
                .and_then(|role| {
                    files.get(role).cloned().or_else(|| {
                        let (name, hash) = role.rsplit_once('.')?;
                        files.get(name).filter(|b| sha256_hex(b) == hash).cloned()
                    })
                });
            match body {
                Some(b) => Response::json(b).into(),
                None => Response::notary_not_found().into(),
            }
        });
        Served {
            srv,
            gun: gun.to_owned(),
            state,
        }
    }

    fn set(&self, files: Files) {
        *self.state.lock().unwrap() = files;
    }

    fn url(&self) -> String {
        self.srv.url()
    }

    fn mark(&self) -> usize {
        self.srv.total_requests()
    }

    /// Roles requested since `mark`, sorted (trustpin never asks for `/v2/` or hashed names).
    fn since(&self, mark: usize) -> Vec<String> {
        roles_since(&self.srv, &self.gun, mark)
    }
}

/// Roles (`timestamp`, `targets/releases`, `2.root`) requested at `srv` since `mark`, sorted;
/// any other path is kept whole.
fn roles_since(srv: &TestServer, gun: &str, mark: usize) -> Vec<String> {
    let prefix = format!("/v2/{gun}/_trust/tuf/");
    let mut v: Vec<String> = srv.log()[mark..]
        .iter()
        .map(|r| {
            r.path
                .strip_prefix(&prefix)
                .and_then(|p| p.strip_suffix(".json"))
                .map_or_else(|| r.path.clone(), str::to_owned)
        })
        .collect();
    v.sort();
    v
}

/// A loopback test server passing every request on to a real notary-server: real data, counted
/// requests.
fn counting_proxy(ns: &NotaryServer) -> TestServer {
    let srv = TestServer::start();
    let upstream: SocketAddr = format!("127.0.0.1:{}", ns.port()).parse().unwrap();
    srv.fallback(
        move |req| match http_get(upstream, &req.target, Duration::from_secs(20)) {
            Ok((status, body)) => Response::new(status, body)
                .header("Content-Type", "application/json")
                .into(),
            Err(_) => Reply::Close,
        },
    );
    srv
}

/// The one repository folder of a cache directory.
fn repo_cache_dir(cache: &Path) -> PathBuf {
    let entries: Vec<PathBuf> = std::fs::read_dir(cache)
        .unwrap_or_else(|e| panic!("{}: {e}", cache.display()))
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "expected one repository in the cache: {entries:?}"
    );
    entries[0].clone()
}

/// Cut a cached file to half its length, as a crash in the middle of a plain write would.
fn truncate_half(path: &Path) {
    let full = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(full.len() > 2, "{} is too small", path.display());
    std::fs::write(path, &full[..full.len() / 2]).unwrap();
}

/// Every file below `dir` (paths relative to it).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

// ------------------------------------------------------------------------------------------------
// Rotation chains built with the test builder (keys we hold, so a step can be forged)
// ------------------------------------------------------------------------------------------------

/// A repository whose root key is rotated: root key `i` (1-based) is the key of root version `i`.
/// Timestamp, snapshot and targets keys stay the same across versions, as in a notary rotation.
struct Rotation {
    gun: String,
    root_keys: Vec<Key>,
    targets: Key,
    snapshot: Key,
    timestamp: Key,
    dir: tempfile::TempDir,
}

impl Rotation {
    fn new(gun: &str, n: usize) -> Rotation {
        Rotation {
            gun: gun.to_owned(),
            root_keys: (0..n).map(|_| Key::root(gun)).collect(),
            targets: Key::ecdsa(),
            snapshot: Key::ed25519(),
            timestamp: Key::ecdsa(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn key(&self, i: usize) -> &Key {
        &self.root_keys[i - 1]
    }

    /// The pinned-key file of root key `i`.
    fn key_file(&self, i: usize) -> PathBuf {
        let p = self.dir.path().join(format!("root{i}.pub"));
        std::fs::write(&p, self.key(i).public_pem()).unwrap();
        p
    }

    /// A builder at root version `v` whose root role is root key `v` (the earlier root
    /// certificates kept in its key map, as notary does), signed by the root keys `signers`, with
    /// tag `v1` in targets.
    fn builder(&self, v: usize, signers: &[usize]) -> RepoBuilder {
        self.builder_with_key(v, self.key(v).clone(), signers)
    }

    fn builder_with_key(&self, v: usize, role_key: Key, signers: &[usize]) -> RepoBuilder {
        let mut b = RepoBuilder::with_keys(
            &self.gun,
            role_key,
            self.targets.clone(),
            self.snapshot.clone(),
            self.timestamp.clone(),
        );
        let old: Vec<(String, Value)> = self.root_keys[..v.saturating_sub(1)]
            .iter()
            .map(|k| (k.id(), k.tuf()))
            .collect();
        b.edit_signed("root", move |s| {
            s["version"] = json!(v);
            for (id, tuf) in &old {
                s["keys"][id.as_str()] = tuf.clone();
            }
        });
        b.signers(
            "root",
            signers.iter().map(|&i| self.key(i).clone()).collect(),
        );
        b.tag("targets", "v1", b"image one");
        b
    }

    /// Root version `v`, properly signed by root keys v-1 and v (v alone for version 1).
    fn root(&self, v: usize) -> Vec<u8> {
        let signers: Vec<usize> = if v == 1 { vec![1] } else { vec![v, v - 1] };
        self.root_signed_by(v, &signers)
    }

    /// Root version `v` ([`Rotation::builder`]) signed by the root keys `signers`.
    fn root_signed_by(&self, v: usize, signers: &[usize]) -> Vec<u8> {
        self.builder(v, signers)
            .build()
            .files
            .remove("root")
            .unwrap()
    }

    /// The repository at root version `v` (current root signed by `signers`), with the given
    /// versioned roots `<n>.root` and `<v>.root` = the current root.
    fn state(&self, v: usize, signers: &[usize], history: &[(usize, Vec<u8>)]) -> Files {
        let built = self.builder(v, signers).build();
        let mut files = built.files;
        files.insert(format!("{v}.root"), files["root"].clone());
        for (n, b) in history {
            files.insert(format!("{n}.root"), b.clone());
        }
        files
    }

    fn image(&self) -> Vec<String> {
        vec![format!("{}:v1", self.gun)]
    }

    fn want(&self) -> Vec<String> {
        vec![format!("{}@sha256:{}", self.gun, sha256_hex(b"image one"))]
    }

    fn short(&self, i: usize) -> String {
        self.key(i).canonical_id()[..12].to_owned()
    }
}

// ------------------------------------------------------------------------------------------------
// Root rotation against the real notary
// ------------------------------------------------------------------------------------------------

#[test]
fn live_root_rotated_twice_is_followed_from_the_first_key_with_a_warning() {
    let (ns, c) = live_server_or_skip!(false);
    let gun = "example.com/rotation/live";
    let mut targets = c.publish_repo(gun, &[("v1", "live one"), ("v2", "live two")]);
    let key1 = c.write_root_key(gun, "root1.pub");
    let id1 = c.root_key_id(gun);
    // A second notary client that caches root version 1 now and must follow both rotations.
    let observer = ns.client();
    assert_eq!(observer.lookup(gun, "v1").unwrap().0, targets[0].sha256);
    let before = capture(&ns, gun);

    c.rotate_root_key(gun);
    let key2 = c.write_root_key(gun, "root2.pub");
    let id2 = c.root_key_id(gun);
    let t3 = Target::of("v3", "live three");
    c.add_target(gun, &t3, "targets");
    c.publish(gun);
    targets.push(t3);
    c.rotate_root_key(gun);
    let key3 = c.write_root_key(gun, "root3.pub");
    let id3 = c.root_key_id(gun);
    assert!(
        id1 != id2 && id2 != id3 && id1 != id3,
        "three distinct root keys"
    );

    // What notary serves after two rotations.
    let files = capture(&ns, gun);
    assert_eq!(version(&files["root"]), 3);
    for v in 1..=3 {
        assert_eq!(version(&files[&format!("{v}.root")]), v, "{v}.root.json");
    }
    assert_eq!(files["3.root"], files["root"], "3.root.json is root.json");
    assert_eq!(
        files["1.root"], before["root"],
        "1.root.json is the first root"
    );
    assert!(
        ns.metadata(gun, "4.root").is_err(),
        "no 4.root.json is served"
    );
    let role_key = |v: i64| -> String {
        let ids = root_role_ids(&files[&format!("{v}.root")]);
        assert_eq!(ids.len(), 1, "one root key in version {v}");
        ids.into_iter().next().unwrap()
    };
    let (r1, r2, r3) = (role_key(1), role_key(2), role_key(3));
    assert_eq!(
        sig_ids(&files["2.root"]),
        BTreeSet::from([r1.clone(), r2.clone()]),
        "root 2 is signed by root 1's key and its own"
    );
    assert_eq!(
        sig_ids(&files["3.root"]),
        BTreeSet::from([r2.clone(), r3.clone()]),
        "root 3 is signed by root 2's key and its own, not root 1's"
    );
    let keys3 = signed(&files["3.root"])["keys"].clone();
    assert!(
        keys3.get(&r1).is_some() && keys3.get(&r2).is_some(),
        "notary keeps the old root certificates in the key map"
    );
    eprintln!(
        "notary versions before rotating: {:?}; after two rotations and a publish: {:?}",
        versions(&before),
        versions(&files)
    );

    // The notary client follows: the publisher, the observer that cached root 1, a fresh client.
    for t in &targets {
        assert_eq!(
            c.lookup(gun, &t.tag).unwrap().0,
            t.sha256,
            "publisher {}",
            t.tag
        );
        assert_eq!(
            observer.lookup(gun, &t.tag).unwrap().0,
            t.sha256,
            "observer {}",
            t.tag
        );
        assert_eq!(
            builder::notary_lookup(&ns.url(), gun, &t.tag).unwrap().0,
            t.sha256,
            "fresh client {}",
            t.tag
        );
    }

    let images: Vec<String> = targets.iter().map(|t| format!("{gun}:{}", t.tag)).collect();
    let want: Vec<String> = targets
        .iter()
        .map(|t| format!("{gun}@sha256:{}", t.sha256))
        .collect();
    let url = ns.url();

    // The first key: followed through 1 → 2 → 3, with the warning.
    let out = resolve(&url, &key1, &images, &["--no-cache"]);
    out.expect_lines(&want, "first key");
    for w in [
        &format!("root key rotated from {}", &id1[..12]),
        &format!("to {}", &id3[..12]),
        "at version 3; pin the new key",
    ] {
        out.expect_stderr(&[w], &format!("lacks {w:?}"));
    }
    // The middle key: anchored at version 2.
    let out = resolve(&url, &key2, &images, &["--no-cache"]);
    out.expect_lines(&want, "second key");
    assert!(
        out.stderr.contains(&format!(
            "root key rotated from {} from {}",
            &id2[..12],
            key2.display()
        )) && out.stderr.contains("at version 3"),
        "{}",
        out.describe()
    );

    // --no-follow-rotation refuses, naming the rotation.
    for (key, id) in [(&key1, &id1), (&key2, &id2)] {
        let out = resolve(&url, key, &images, &["--no-cache", "--no-follow-rotation"]);
        out.expect_refused(
            &[
                &format!("root key rotated from {}", &id[..12]),
                &id3[..12],
                "at version 3",
                "--no-follow-rotation",
                "pin the new key",
            ],
            "--no-follow-rotation",
        );
    }

    // The new key resolves directly, without a warning, with or without --no-follow-rotation.
    for extra in [&["--no-cache"][..], &["--no-cache", "--no-follow-rotation"]] {
        let out = resolve(&url, &key3, &images, extra);
        out.expect_lines(&want, "new key");
        assert!(
            !out.stderr.contains("rotated"),
            "no rotation warning with the new key: {}",
            out.describe()
        );
    }

    // With a cache (through a counting proxy): warned every time, and the warm path still costs
    // one request, the versioned roots coming from the cache.
    let proxy = counting_proxy(&ns);
    let cache = tempfile::tempdir().unwrap();
    let ca = cache_args(cache.path());
    let out = resolve(&proxy.url(), &key1, &images, &with_cache(&ca, &[]));
    out.expect_lines(&want, "first key, cold cache");
    let first = roles_since(&proxy, gun, 0);
    for r in [
        "1.root",
        "2.root",
        "root",
        "timestamp",
        "snapshot",
        "targets",
    ] {
        assert!(first.contains(&r.to_owned()), "cold run fetched {first:?}");
    }
    let mark = proxy.total_requests();
    let out = resolve(&proxy.url(), &key1, &images, &with_cache(&ca, &[]));
    out.expect_lines(&want, "first key, warm cache");
    out.expect_stderr(
        &["at version 3; pin the new key"],
        "the warning is repeated on every run",
    );
    assert_eq!(roles_since(&proxy, gun, mark), ["timestamp"], "warm path");
    // The cache does not turn the refusal off.
    let out = resolve(
        &proxy.url(),
        &key1,
        &images,
        &with_cache(&ca, &["--no-follow-rotation"]),
    );
    out.expect_refused(&["--no-follow-rotation"], "cached, --no-follow-rotation");
}

// ------------------------------------------------------------------------------------------------
// Broken chains (builder, loopback server)
// ------------------------------------------------------------------------------------------------

#[test]
fn a_proper_chain_is_followed_even_when_earlier_roots_have_expired() {
    let mut r = Rotation::new("example.com/rotation/expired-anchor", 3);
    // Root 1 expired long ago, and so did its certificate: earlier roots may have expired. (The
    // same private key under an expired certificate: root 2 lists and is signed by that one.)
    r.root_keys[0] = r.key(1).with_cert(&builder::CertSpec {
        cn: r.gun.clone(),
        not_before: builder::now() - builder::days(800),
        not_after: builder::now() - builder::days(400),
        ca: false,
    });
    let mut b1 = r.builder(1, &[1]);
    b1.expires("root", builder::now() - builder::days(30));
    let root1 = b1.build().files.remove("root").unwrap();
    // Control: root 1 alone is refused now (expired), even pinned.
    let alone = Served::new(&r.gun, {
        let mut f = b1.build().files;
        f.insert("1.root".into(), f["root"].clone());
        f
    });
    let out = resolve(&alone.url(), &r.key_file(1), &r.image(), &["--no-cache"]);
    out.expect_refused(&["expired on"], "root 1 alone");
    let files = r.state(3, &[3, 2], &[(1, root1), (2, r.root(2))]);
    let srv = Served::new(&r.gun, files);

    let out = resolve(&srv.url(), &r.key_file(1), &r.image(), &["--no-cache"]);
    out.expect_lines(&r.want(), "expired anchor");
    for w in [
        format!("root key rotated from {}", r.short(1)),
        format!("to {}", r.short(3)),
        "at version 3; pin the new key".to_owned(),
    ] {
        out.expect_stderr(&[&w], &format!("lacks {w:?}"));
    }
    let out = resolve(&srv.url(), &r.key_file(3), &r.image(), &["--no-cache"]);
    out.expect_lines(&r.want(), "new key");
    assert!(!out.stderr.contains("rotated"), "{}", out.describe());
}

#[test]
fn a_rotation_step_signed_only_by_the_new_key_is_refused() {
    let r = Rotation::new("example.com/rotation/forged", 3);
    let key1 = r.key_file(1);

    // Control: the same step signed by root 1's key too is followed.
    let good = Served::new(&r.gun, r.state(2, &[2, 1], &[(1, r.root(1))]));
    let out = resolve(&good.url(), &key1, &r.image(), &["--no-cache"]);
    out.expect_lines(&r.want(), "proper step");
    out.expect_stderr(&["at version 2; pin the new key"], "");

    // Forged: root 2 signed only by its own (new) key.
    let forged = Served::new(&r.gun, r.state(2, &[2], &[(1, r.root(1))]));
    let out = resolve(&forged.url(), &key1, &r.image(), &["--no-cache"]);
    out.expect_refused(
        &[
            "root rotation to version 2 is not signed by the previous root's keys",
            "0 of 1",
        ],
        "forged current root",
    );
    // Pinned to the new key, that root itself is fine: the refusal is the chain's.
    let out = resolve(&forged.url(), &r.key_file(2), &r.image(), &["--no-cache"]);
    out.expect_lines(&r.want(), "forged root, new key pinned");

    // Forged in the middle: 1 → 2 (signed by key 2 only) → 3 (properly signed by 2 and 3).
    let forged2 = r.root_signed_by(2, &[2]);
    let mid = Served::new(&r.gun, r.state(3, &[3, 2], &[(1, r.root(1)), (2, forged2)]));
    let out = resolve(&mid.url(), &key1, &r.image(), &["--no-cache"]);
    out.expect_refused(
        &["root rotation to version 2 is not signed by the previous root's keys"],
        "forged middle step",
    );
    // The same with a cache: still refused, and nothing is cached as verified.
    let cache = tempfile::tempdir().unwrap();
    let ca = cache_args(cache.path());
    let out = resolve(&mid.url(), &key1, &r.image(), &with_cache(&ca, &[]));
    out.expect_refused(&["version 2"], "forged middle step, cached");
    assert!(
        walk(cache.path()).is_empty(),
        "a refused repository left files in the cache: {:?}",
        walk(cache.path())
    );
}

#[test]
fn the_notary_client_agrees_a_proper_step_is_followed_and_a_forged_one_refused() {
    // Second opinion: notary clients that trusted root 1 (on first use) are then served root 2,
    // properly signed (by keys 1 and 2) or forged (by key 2 only).
    if !require_live() {
        return;
    }
    let r = Rotation::new("example.com/rotation/notary-opinion", 2);
    let v1 = r.state(1, &[1], &[]);
    let srv = Served::new(&r.gun, v1.clone());
    let proper = NotaryClient::for_url(&srv.url(), None);
    let forged = NotaryClient::for_url(&srv.url(), None);
    let hex = sha256_hex(b"image one");
    for c in [&proper, &forged] {
        assert_eq!(c.lookup(&r.gun, "v1").unwrap().0, hex, "root 1, first use");
    }
    srv.set(r.state(2, &[2, 1], &[(1, r.root(1))]));
    assert_eq!(
        proper.lookup(&r.gun, "v1").unwrap().0,
        hex,
        "notary follows a proper rotation"
    );
    let out = resolve(&srv.url(), &r.key_file(1), &r.image(), &["--no-cache"]);
    out.expect_lines(&r.want(), "trustpin follows it too");

    srv.set(r.state(2, &[2], &[(1, r.root(1))]));
    let err = forged
        .lookup(&r.gun, "v1")
        .expect_err("notary must refuse a root 2 not signed by root 1's key");
    eprintln!("notary on the forged step: {err}");
    let out = resolve(&srv.url(), &r.key_file(1), &r.image(), &["--no-cache"]);
    out.expect_refused(
        &["root rotation to version 2 is not signed by the previous root's keys"],
        "trustpin refuses it too",
    );
}

#[test]
fn a_gap_in_the_root_versions_is_refused_naming_the_missing_version() {
    let r = Rotation::new("example.com/rotation/gap", 3);
    // Versions 1 and 3 only: 2.root.json is 404.
    let gap = r.state(3, &[3, 2], &[(1, r.root(1))]);
    let srv = Served::new(&r.gun, r.state(1, &[1], &[]));
    if require_live() {
        // Second opinion: a notary client that trusted root 1 refuses the gap too.
        let c = NotaryClient::for_url(&srv.url(), None);
        assert!(c.lookup(&r.gun, "v1").is_ok(), "root 1, first use");
        srv.set(gap.clone());
        let err = c
            .lookup(&r.gun, "v1")
            .expect_err("notary must refuse a root 3 it cannot reach from root 1");
        eprintln!("notary on the gap: {err}");
    }
    srv.set(gap);
    let out = resolve(&srv.url(), &r.key_file(1), &r.image(), &["--no-cache"]);
    out.expect_code(1, "a gap in the rotations");
    assert!(out.stdout.trim().is_empty(), "{}", out.describe());
    out.expect_stderr_any(
        &["2.root.json", "version 2"],
        "the refusal must name the missing version 2",
    );
}

#[test]
fn a_root_version_out_of_sequence_is_refused_naming_the_version() {
    let r = Rotation::new("example.com/rotation/sequence", 3);
    let key1 = r.key_file(1);

    // 2.root.json holds a version-3 root (signed by keys 2 and 3: a valid root, wrong number).
    let three = r.root_signed_by(3, &[3, 2]);
    let srv = Served::new(&r.gun, r.state(3, &[3, 2], &[(1, r.root(1)), (2, three)]));
    let out = resolve(&srv.url(), &key1, &r.image(), &["--no-cache"]);
    out.expect_refused(
        &["root rotation: the root after version 1 claims version 3, expected 2"],
        "2.root.json claims version 3",
    );

    // The current root skips a version: root.json is version 3 signed by root 1's key, and the
    // server has 1.root.json only... but 2.root.json is root 1 replayed under the number 2.
    let srv = Served::new(
        &r.gun,
        r.state(3, &[3, 1], &[(1, r.root(1)), (2, r.root(1))]),
    );
    let out = resolve(&srv.url(), &key1, &r.image(), &["--no-cache"]);
    assert_eq!(
        out.code,
        1,
        "replayed root under 2.root.json: {}",
        out.describe()
    );
    out.expect_stderr(&["expected 2"], "names the version expected");
}

#[test]
fn a_rotation_chain_longer_than_1000_steps_is_refused_without_walking_further() {
    let r = Rotation::new("example.com/rotation/long", 2);
    // Root 1002 under key 2 (signed by key 2), root 1 under the pinned key 1, and every version
    // between served as root 1002 again: the anchor is 1001 steps away.
    let mut b = r.builder(2, &[2]);
    b.edit_signed("root", |s| s["version"] = json!(1002));
    let built = b.build();
    let mut files = built.files;
    for v in 2..=1002 {
        files.insert(format!("{v}.root"), files["root"].clone());
    }
    files.insert("1.root".into(), r.root(1));
    let srv = Served::new(&r.gun, files);
    let out = resolve(&srv.url(), &r.key_file(1), &r.image(), &["--no-cache"]);
    assert_eq!(out.code, 1, "{}", out.describe());
    let asked = srv.since(0);
    let versioned = asked.iter().filter(|r| r.ends_with(".root")).count();
    assert!(
        !asked.contains(&"1.root".to_owned()),
        "walked further than 1000 versions"
    );
    assert!(versioned <= 1000, "{versioned} versioned roots fetched");
    out.expect_stderr(
        &["1000"],
        "the refusal must say the chain is longer than 1000 steps",
    );
}

// ------------------------------------------------------------------------------------------------
// Rollback (two states of a real notary repository, served in turn)
// ------------------------------------------------------------------------------------------------

#[test]
fn live_rollback_to_an_older_state_is_refused_with_the_cache_and_accepted_without() {
    let (ns, c) = live_server_or_skip!(false);
    let gun = "example.com/rollback/live";
    let t1 = c.publish_repo(gun, &[("v1", "rollback one")]).remove(0);
    let key1 = c.write_root_key(gun, "root1.pub");
    let a = capture(&ns, gun);
    let t2 = Target::of("v2", "rollback two");
    c.add_target(gun, &t2, "targets");
    c.publish(gun);
    let b = capture(&ns, gun);
    c.rotate_root_key(gun);
    let rotated = capture(&ns, gun);
    assert!(versions(&b)["snapshot"] > versions(&a)["snapshot"]);
    assert_eq!(version(&rotated["root"]), 2);

    let images = vec![format!("{gun}:v1")];
    let want = vec![format!("{gun}@sha256:{}", t1.sha256)];
    let srv = Served::new(gun, b.clone());
    let cache = tempfile::tempdir().unwrap();
    let ca = cache_args(cache.path());

    // Newer state first, then the older one: refused, naming the role and both versions.
    let out = resolve(&srv.url(), &key1, &images, &with_cache(&ca, &[]));
    out.expect_lines(&want, "newer state");
    srv.set(a.clone());
    let msg = rollback_message(&b, &a);
    let out = resolve(&srv.url(), &key1, &images, &with_cache(&ca, &[]));
    out.expect_refused(&[&msg], "older state with the cache");
    // Refused again (the refusal did not lower what the cache remembers).
    let out = resolve(&srv.url(), &key1, &images, &with_cache(&ca, &[]));
    out.expect_refused(&[&msg], "older state again");
    // Without a cache, or with a fresh one, the older state is valid and accepted.
    let out = resolve(&srv.url(), &key1, &images, &["--no-cache"]);
    out.expect_lines(&want, "older state, --no-cache");
    let fresh = tempfile::tempdir().unwrap();
    let out = resolve(
        &srv.url(),
        &key1,
        &images,
        &with_cache(&cache_args(fresh.path()), &[]),
    );
    out.expect_lines(&want, "older state, fresh cache");
    // Back to the newer state: fine.
    srv.set(b.clone());
    let out = resolve(&srv.url(), &key1, &images, &with_cache(&ca, &[]));
    out.expect_lines(&want, "newer state again");

    // A root older than the cached one: after the rotation was followed, the state before it
    // (root version 1, validly signed by the pinned key) is a rollback of root.
    srv.set(rotated.clone());
    let out = resolve(&srv.url(), &key1, &images, &with_cache(&ca, &[]));
    out.expect_lines(&want, "rotated state");
    out.expect_stderr(&["at version 2; pin the new key"], "");
    srv.set(b.clone());
    let out = resolve(&srv.url(), &key1, &images, &with_cache(&ca, &[]));
    out.expect_refused(
        &["rollback: root version 1 is older than version 2 seen before"],
        "root rollback",
    );
    let out = resolve(&srv.url(), &key1, &images, &["--no-cache"]);
    out.expect_lines(&want, "pre-rotation state, --no-cache");
}

// ------------------------------------------------------------------------------------------------
// Crash safety
// ------------------------------------------------------------------------------------------------

/// A live notary-server ([`live_server`]; `None` when live tests are skipped) with `gun`
/// published: v1 (`WORD one`) in targets and v2 (`WORD two`) in a `releases` delegation. The
/// server, its client, the repository and its root key file.
fn live_v1_and_releases_v2(
    gun: &str,
    word: &str,
) -> Option<(NotaryServer, NotaryClient, notary::Repo, PathBuf)> {
    let (ns, c) = live_server(false)?;
    let repo = notary::RepoBuilder::new(&c, gun)
        .target("v1", &format!("{word} one"))
        .delegation("releases")
        .signed_by("releases", "v2", &format!("{word} two"))
        .publish();
    let key = c.write_root_key(gun, "root.pub");
    Some((ns, c, repo, key))
}

#[test]
fn live_truncated_cache_files_are_refetched_and_a_damaged_state_file_is_a_warning() {
    let gun = "example.com/crash/live";
    let Some((ns, _c, repo, key)) = live_v1_and_releases_v2(gun, "crash") else {
        return;
    };
    let files = capture(&ns, gun);
    assert!(files.contains_key("targets/releases"));
    let srv = Served::new(gun, files);
    let images = vec![format!("{gun}:v1"), format!("{gun}:v2")];
    let want = vec![
        format!("{gun}@sha256:{}", repo.get("targets", "v1").sha256),
        format!("{gun}@sha256:{}", repo.get("releases", "v2").sha256),
    ];
    let cache = tempfile::tempdir().unwrap();
    let ca = cache_args(cache.path());
    let out = resolve(&srv.url(), &key, &images, &with_cache(&ca, &[]));
    out.expect_lines(&want, "cold");
    let dir = repo_cache_dir(cache.path());

    // Each cached file cut in half: detected (its parent's hash no longer fits), fetched again.
    for role in ["targets", "snapshot", "targets/releases", "root"] {
        truncate_half(&dir.join(format!("{role}.json")));
        let mark = srv.mark();
        let out = resolve(&srv.url(), &key, &images, &with_cache(&ca, &[]));
        out.expect_lines(&want, &format!("{role}.json truncated"));
        let mut expected = vec!["timestamp".to_owned(), role.to_owned()];
        expected.sort();
        assert_eq!(srv.since(mark), expected, "{role}.json truncated");
        // ...and the cache holds the whole file again: the next run is one request.
        let mark = srv.mark();
        let out = resolve(&srv.url(), &key, &images, &with_cache(&ca, &[]));
        out.expect_lines(&want, &format!("after {role}.json was repaired"));
        assert_eq!(
            srv.since(mark),
            ["timestamp"],
            "after {role}.json was repaired"
        );
    }
    // A truncated cached timestamp.json: the timestamp is always fetched anyway.
    truncate_half(&dir.join("timestamp.json"));
    let mark = srv.mark();
    let out = resolve(&srv.url(), &key, &images, &with_cache(&ca, &[]));
    out.expect_lines(&want, "timestamp.json truncated");
    assert_eq!(srv.since(mark), ["timestamp"], "timestamp.json truncated");

    // A damaged versions.json: a warning, not a crash, and it is written whole again.
    truncate_half(&dir.join("versions.json"));
    let out = resolve(&srv.url(), &key, &images, &with_cache(&ca, &[]));
    out.expect_lines(&want, "versions.json truncated");
    assert!(
        out.stderr.contains("warning:")
            && out.stderr.contains("versions.json is damaged")
            && out
                .stderr
                .contains("rollback protection restarts from this run"),
        "{}",
        out.describe()
    );
    let state: BTreeMap<String, i64> =
        serde_json::from_slice(&std::fs::read(dir.join("versions.json")).unwrap())
            .expect("versions.json rewritten whole");
    assert_eq!(state.get("targets/releases"), Some(&1), "{state:?}");
    let out = resolve(&srv.url(), &key, &images, &with_cache(&ca, &[]));
    out.expect_lines(&want, "after versions.json was rewritten");
    assert!(!out.stderr.contains("damaged"), "{}", out.describe());

    // Garbage instead of JSON, and an empty file: warnings too.
    for junk in [&b"\x00\xff not json"[..], b""] {
        std::fs::write(dir.join("versions.json"), junk).unwrap();
        let out = resolve(&srv.url(), &key, &images, &with_cache(&ca, &[]));
        out.expect_lines(&want, "versions.json junk");
        out.expect_stderr(&["damaged"], "");
    }

    // Atomic writes leave no temporary files behind.
    let leftovers: Vec<PathBuf> = walk(cache.path())
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn truncated_cached_versioned_roots_are_refetched() {
    // Versioned roots have no parent that declares their hashes: a damaged cached copy must
    // still be noticed and fetched again, not break the rotation walk.
    let r = Rotation::new("example.com/crash/rotated", 3);
    let srv = Served::new(
        &r.gun,
        r.state(3, &[3, 2], &[(1, r.root(1)), (2, r.root(2))]),
    );
    let key1 = r.key_file(1);
    let mut problems = Vec::new();
    for v in ["1.root", "2.root"] {
        let cache = tempfile::tempdir().unwrap();
        let ca = cache_args(cache.path());
        let out = resolve(&srv.url(), &key1, &r.image(), &with_cache(&ca, &[]));
        out.expect_lines(&r.want(), "cold");
        let dir = repo_cache_dir(cache.path());
        // A warm run: the same answer from the cache, only the timestamp asked for.
        let warm = |what: &str| {
            let mark = srv.mark();
            let out = resolve(&srv.url(), &key1, &r.image(), &with_cache(&ca, &[]));
            out.expect_lines(&r.want(), what);
            assert_eq!(srv.since(mark), ["timestamp"], "{what}");
        };
        warm("warm path of a rotated repository");

        let path = dir.join(format!("{v}.json"));
        assert!(path.is_file(), "{v}.json is cached");
        truncate_half(&path);
        let mark = srv.mark();
        let out = resolve(&srv.url(), &key1, &r.image(), &with_cache(&ca, &[]));
        let asked = srv.since(mark);
        if out.code != 0 || out.lines() != r.want() || !asked.contains(&v.to_owned()) {
            problems.push(format!(
                "cached {v}.json truncated: requests {asked:?}; {}",
                out.describe()
            ));
            continue;
        }
        // Repaired: the next run is warm again.
        warm(&format!("{v}.json repaired in the cache"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

// ------------------------------------------------------------------------------------------------
// Warm path (a real notary-server behind a counting proxy)
// ------------------------------------------------------------------------------------------------

#[test]
fn live_warm_path_one_request_when_unchanged_and_only_what_changed_otherwise() {
    let gun = "example.com/warm/live";
    let Some((ns, c, repo, key)) = live_v1_and_releases_v2(gun, "warm") else {
        return;
    };
    let proxy = counting_proxy(&ns);
    let cache = tempfile::tempdir().unwrap();
    let ca = cache_args(cache.path());
    let mut tags: Vec<(String, String)> = vec![
        ("v1".into(), repo.get("targets", "v1").sha256.clone()),
        ("v2".into(), repo.get("releases", "v2").sha256.clone()),
    ];
    let run = |tags: &[(String, String)], what: &str| {
        let images: Vec<String> = tags.iter().map(|(t, _)| format!("{gun}:{t}")).collect();
        let want: Vec<String> = tags
            .iter()
            .map(|(_, h)| format!("{gun}@sha256:{h}"))
            .collect();
        let out = resolve(&proxy.url(), &key, &images, &with_cache(&ca, &[]));
        out.expect_lines(&want, what);
    };

    run(&tags, "cold");
    let cold = roles_since(&proxy, gun, 0);
    assert_eq!(
        cold,
        [
            "root",
            "snapshot",
            "targets",
            "targets/releases",
            "timestamp"
        ],
        "cold run"
    );
    for i in 0..2 {
        let mark = proxy.total_requests();
        run(&tags, "warm");
        assert_eq!(
            roles_since(&proxy, gun, mark),
            ["timestamp"],
            "warm run {i}: exactly one request"
        );
    }

    // A change in targets only: timestamp, snapshot and targets fetched; root and the
    // delegation reused.
    let before = capture(&ns, gun);
    let t3 = Target::of("v3", "warm three");
    c.add_target(gun, &t3, "targets");
    c.publish(gun);
    tags.push(("v3".into(), t3.sha256.clone()));
    let after = capture(&ns, gun);
    let changed = |a: &Files, b: &Files| -> Vec<String> {
        let mut v: Vec<String> = b
            .iter()
            .filter(|(r, bytes)| !r.ends_with(".root") && a.get(*r) != Some(bytes))
            .map(|(r, _)| r.clone())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        changed(&before, &after),
        ["snapshot", "targets", "timestamp"],
        "what notary changed when publishing a target"
    );
    let mark = proxy.total_requests();
    run(&tags, "targets changed");
    assert_eq!(
        roles_since(&proxy, gun, mark),
        ["snapshot", "targets", "timestamp"],
        "targets changed: only timestamp, snapshot and targets are fetched (not root)"
    );

    // A change in the delegation only.
    let t4 = Target::of("v4", "warm four");
    c.add_target(gun, &t4, "releases");
    c.publish(gun);
    tags.push(("v4".into(), t4.sha256.clone()));
    let after2 = capture(&ns, gun);
    let expected = changed(&after, &after2);
    assert!(
        expected.contains(&"targets/releases".to_owned()) && !expected.contains(&"root".into()),
        "{expected:?}"
    );
    let mark = proxy.total_requests();
    run(&tags, "delegation changed");
    assert_eq!(
        roles_since(&proxy, gun, mark),
        expected,
        "delegation changed: only what changed is fetched"
    );
    let mark = proxy.total_requests();
    run(&tags, "warm again");
    assert_eq!(roles_since(&proxy, gun, mark), ["timestamp"]);
    // notary agrees on every tag.
    for (t, h) in &tags {
        assert_eq!(&c.lookup(gun, t).unwrap().0, h, "{t}");
    }
}

// ------------------------------------------------------------------------------------------------
// Archives
// ------------------------------------------------------------------------------------------------

#[test]
fn live_archive_then_offline_resolve_at_archive_time_gives_the_live_digests() {
    let (mut ns, c) = live_server_or_skip!(false);
    let gun = "example.com/archive/live";
    let repo = notary::RepoBuilder::new(&c, gun)
        .target("v1", "archive one")
        .target("latest", "archive latest")
        .delegation("releases")
        .signed_by("releases", "v2", "archive two")
        .signed_by("releases", "v1", "archive one, released")
        .delegation("qa")
        .signed_by("qa", "qa1", "archive qa")
        .publish();
    let key1 = c.write_root_key(gun, "root1.pub");
    c.rotate_root_key(gun);
    c.rotate_root_key(gun);
    let key3 = c.write_root_key(gun, "root3.pub");
    let served = capture(&ns, gun);
    assert_eq!(version(&served["root"]), 3);

    let tags = ["v1", "latest", "v2"];
    let images: Vec<String> = tags.iter().map(|t| format!("{gun}:{t}")).collect();
    // Live answers, checked against notary.
    let live = resolve(&ns.url(), &key1, &images, &["--no-cache"]);
    assert_eq!(live.code, 0, "live: {}", live.describe());
    let live_lines = live.lines();
    assert_eq!(live_lines.len(), tags.len(), "{}", live.describe());
    // Docker's rule over what was published: targets/releases first, then targets. Where only
    // one role signed a tag, `notary lookup` agrees. (For v1, signed by both with different
    // digests, notary lookup and notary list answer from targets: not docker's answer.)
    for (t, line) in tags.iter().zip(&live_lines) {
        let signed: Vec<&(String, Target)> =
            repo.entries.iter().filter(|(_, x)| x.tag == *t).collect();
        let pick = |role: &str| signed.iter().find(|(r, _)| r == role).map(|(_, x)| x);
        let want = pick("targets/releases")
            .or_else(|| pick("targets"))
            .unwrap_or_else(|| panic!("{t} was not published"));
        assert_eq!(line, &format!("{gun}@sha256:{}", want.sha256), "{t}");
        if signed.len() == 1 {
            let (hex, _) = c.lookup(gun, t).unwrap();
            assert_eq!(hex, want.sha256, "{t} vs notary lookup");
        }
    }
    assert_eq!(
        live_lines[0],
        format!("{gun}@sha256:{}", repo.get("releases", "v1").sha256),
        "v1 is decided by targets/releases"
    );
    let live_release = resolve(
        &ns.url(),
        &key1,
        &images[2..3],
        &["--no-cache", "--delegation", "releases"],
    );
    assert_eq!(live_release.code, 0, "{}", live_release.describe());
    // qa1 is signed by targets/qa only: it resolves when that delegation is required.
    let qa_image = vec![format!("{gun}:qa1")];
    let live_qa = resolve(
        &ns.url(),
        &key1,
        &qa_image,
        &["--no-cache", "--delegation", "qa"],
    );
    live_qa.expect_lines(
        &[format!("{gun}@sha256:{}", repo.get("qa", "qa1").sha256)],
        "live qa1",
    );

    // Archive.
    let out_dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = vec!["archive".into(), format!("{gun}:v1")];
    args.extend([
        "--root-key".into(),
        s(&key1),
        "--server".into(),
        ns.url(),
        "--out".into(),
        s(out_dir.path()),
        "--no-cache".into(),
    ]);
    let out = trustpin(&args);
    assert_eq!(out.code, 0, "archive: {}", out.describe());
    assert!(
        out.stdout.contains(&format!("{gun} archived")),
        "{}",
        out.describe()
    );
    out.expect_stderr(
        &["at version 3; pin the new key"],
        "archiving through a rotation warns",
    );

    // The layout: every file the server served, byte for byte, every root version.
    let trust = out_dir.path().join(gun).join("_trust");
    let tuf = trust.join("tuf");
    for v in 1..=3 {
        let p = tuf.join(format!("{v}.root.json"));
        assert_eq!(
            std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
            served[&format!("{v}.root")],
            "{v}.root.json"
        );
    }
    for (role, bytes) in &served {
        let p = tuf.join(format!("{role}.json"));
        assert_eq!(
            &std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
            bytes,
            "{role}.json as the server served it"
        );
    }

    // The manifest lists every file with its sha256 and length, and nothing else.
    let manifest_path = trust.join("trustpin-archive.json");
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(&manifest_path)
            .unwrap_or_else(|e| panic!("{}: {e}", manifest_path.display())),
    )
    .expect("manifest is JSON");
    assert_eq!(manifest["gun"], gun, "{manifest:#}");
    assert!(
        manifest["from"].as_str().unwrap_or("").contains(&ns.url()),
        "{manifest:#}"
    );
    assert_eq!(manifest["root_version"], 3, "{manifest:#}");
    let verified_at = manifest["verified_at"]
        .as_str()
        .expect("verified_at")
        .to_owned();
    assert!(manifest["archived_at"].is_string(), "{manifest:#}");
    let mut listed = BTreeSet::new();
    for e in manifest["files"].as_array().expect("files") {
        let rel = e["path"].as_str().expect("path");
        let bytes = std::fs::read(trust.join(rel)).unwrap_or_else(|err| panic!("{rel}: {err}"));
        assert_eq!(
            e["sha256"].as_str(),
            Some(sha256_hex(&bytes).as_str()),
            "{rel}"
        );
        assert_eq!(e["length"].as_u64(), Some(bytes.len() as u64), "{rel}");
        assert!(listed.insert(rel.to_owned()), "{rel} listed twice");
    }
    let on_disk: BTreeSet<String> = walk(&tuf)
        .into_iter()
        .map(|p| format!("tuf/{}", p.display()))
        .collect();
    assert_eq!(
        listed, on_disk,
        "the manifest lists exactly the archived files"
    );
    for must in [
        "tuf/root.json",
        "tuf/timestamp.json",
        "tuf/snapshot.json",
        "tuf/targets.json",
        "tuf/targets/releases.json",
        "tuf/targets/qa.json",
        "tuf/1.root.json",
        "tuf/2.root.json",
        "tuf/3.root.json",
    ] {
        assert!(listed.contains(must), "manifest lacks {must}: {listed:?}");
    }

    // The server is gone; the archive answers as the server did, at the archive's time.
    ns.stop();
    let gone = resolve(&ns.url(), &key1, &images[..1], &["--no-cache"]);
    assert_eq!(
        gone.code,
        3,
        "the server is really gone: {}",
        gone.describe()
    );
    let offline = |key: &Path, images: &[String], extra: &[&str]| {
        let mut args: Vec<String> = vec!["resolve".into()];
        args.extend(images.iter().cloned());
        args.extend([
            "--metadata-dir".into(),
            s(out_dir.path()),
            "--root-key".into(),
            s(key),
            "--at".into(),
            verified_at.clone(),
            "--no-cache".into(),
        ]);
        args.extend(extra.iter().map(|x| x.to_string()));
        trustpin(&args)
    };
    let out = offline(&key1, &images, &[]);
    out.expect_lines(&live_lines, "offline, first key");
    out.expect_stderr(&["at version 3; pin the new key"], "");
    assert!(
        out.stderr
            .contains(&format!("verifying as of {verified_at}")),
        "{}",
        out.describe()
    );
    let out = offline(&key3, &images, &[]);
    out.expect_lines(&live_lines, "offline, new key");
    assert!(!out.stderr.contains("rotated"), "{}", out.describe());
    let out = offline(&key1, &images[2..3], &["--delegation", "releases"]);
    out.expect_lines(&live_release.lines(), "offline, --delegation releases");
    let out = offline(&key1, &qa_image, &["--delegation", "qa"]);
    out.expect_lines(&live_qa.lines(), "offline, --delegation qa");
    let out = offline(&key1, &images, &["--no-follow-rotation"]);
    out.expect_refused(&["--no-follow-rotation"], "offline, --no-follow-rotation");
}

#[test]
fn offline_archive_after_the_timestamp_expired_needs_the_archive_time() {
    // The archive's time matters: the same archive verified two weeks later is refused as
    // expired (timestamp: 14 days), verified at the archive time it is accepted.
    let r = Rotation::new("example.com/archive/expiry", 2);
    let srv = Served::new(&r.gun, r.state(2, &[2, 1], &[(1, r.root(1))]));
    let out_dir = tempfile::tempdir().unwrap();
    let key1 = r.key_file(1);
    let out = trustpin(&[
        "archive".to_owned(),
        format!("{}:v1", r.gun),
        "--root-key".into(),
        s(&key1),
        "--server".into(),
        srv.url(),
        "--out".into(),
        s(out_dir.path()),
        "--no-cache".into(),
    ]);
    assert_eq!(out.code, 0, "{}", out.describe());
    let trust = out_dir.path().join(&r.gun).join("_trust");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(trust.join("trustpin-archive.json")).unwrap())
            .unwrap();
    let at = manifest["verified_at"].as_str().unwrap().to_owned();
    for v in 1..=2 {
        assert!(
            trust.join(format!("tuf/{v}.root.json")).is_file(),
            "{v}.root.json"
        );
    }
    drop(srv);
    let later = (builder::now() + builder::days(15))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let run = |at: &str| {
        trustpin(&[
            "resolve".to_owned(),
            format!("{}:v1", r.gun),
            "--metadata-dir".into(),
            s(out_dir.path()),
            "--root-key".into(),
            s(&key1),
            "--at".into(),
            at.to_owned(),
            "--no-cache".into(),
        ])
    };
    run(&at).expect_lines(&r.want(), "at the archive time");
    run(&later).expect_refused(&["timestamp.json expired"], "two weeks later");
}

// ------------------------------------------------------------------------------------------------
// Cache paths stay inside the cache directory
// ------------------------------------------------------------------------------------------------

#[test]
fn the_cache_directory_holds_nothing_outside_it_after_resolving() {
    let r = Rotation::new("example.com/cache/paths", 3);
    let mut b = r.builder(3, &[3, 2]);
    b.delegate("targets", "targets/releases", &[""])
        .tag("targets/releases", "v2", b"image two")
        .delegate("targets/releases", "targets/releases/nested", &[""])
        .tag("targets/releases/nested", "v3", b"image three");
    let mut files = b.build().files;
    files.insert("3.root".into(), files["root"].clone());
    files.insert("1.root".into(), r.root(1));
    files.insert("2.root".into(), r.root(2));
    let srv = Served::new(&r.gun, files.clone());

    // A cache directory reached through `..`, and a metadata dir reached through `..` too.
    let base = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(base.path().join("a/cache")).unwrap();
    std::fs::create_dir_all(base.path().join("outside")).unwrap();
    let cache = base.path().join("a/cache");
    let cache_via_dots = base.path().join("outside/../a/cache");
    let ca = cache_args(&cache_via_dots);
    let images = vec![format!("{}:v1", r.gun), format!("{}:v2", r.gun)];
    let want = vec![
        format!("{}@sha256:{}", r.gun, sha256_hex(b"image one")),
        format!("{}@sha256:{}", r.gun, sha256_hex(b"image two")),
    ];
    let out = resolve(&srv.url(), &r.key_file(1), &images, &with_cache(&ca, &[]));
    out.expect_lines(&want, "over http");
    let meta = tempfile::tempdir().unwrap();
    let tuf = meta.path().join(&r.gun).join("_trust/tuf");
    for (role, bytes) in &files {
        let p = tuf.join(format!("{role}.json"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    let mut args: Vec<String> = vec!["resolve".into()];
    args.extend(images.iter().cloned());
    args.extend([
        "--metadata-dir".into(),
        format!(
            "{}/../{}",
            meta.path().display(),
            meta.path().file_name().unwrap().to_string_lossy()
        ),
        "--root-key".into(),
        s(&r.key_file(1)),
    ]);
    args.extend(ca.iter().cloned());
    let out = trustpin(&args);
    out.expect_lines(&want, "from a folder");

    // Two repositories (one per source), each one folder directly in the cache; every file
    // below them; no links; nothing written beside the cache.
    let root = std::fs::canonicalize(&cache).unwrap();
    let top: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(top.len(), 2, "one folder per repository source: {top:?}");
    for t in &top {
        let name = t.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            t.is_dir() && !name.starts_with('.') && name != "..",
            "{name}"
        );
    }
    let all = walk(&root);
    assert!(all.len() >= 2 * 9, "{all:?}");
    for rel in &all {
        let p = root.join(rel);
        let meta = std::fs::symlink_metadata(&p).unwrap();
        assert!(meta.is_file(), "{} is not a plain file", p.display());
        let canon = std::fs::canonicalize(&p).unwrap();
        assert!(
            canon.starts_with(&root),
            "{} is outside the cache",
            canon.display()
        );
        assert!(
            rel.components()
                .all(|c| matches!(c, std::path::Component::Normal(_))),
            "{}",
            rel.display()
        );
        let name = rel.file_name().unwrap().to_string_lossy();
        assert!(
            !name.starts_with('.'),
            "leftover temporary file {}",
            rel.display()
        );
    }
    for t in &top {
        for f in [
            "root.json",
            "timestamp.json",
            "snapshot.json",
            "targets.json",
            "targets/releases.json",
            "targets/releases/nested.json",
            "1.root.json",
            "2.root.json",
            "versions.json",
        ] {
            assert!(t.join(f).is_file(), "{} lacks {f}", t.display());
        }
    }
    assert_eq!(
        walk(&base.path().join("outside")),
        Vec::<PathBuf>::new(),
        "nothing written beside the cache"
    );
    assert_eq!(
        std::fs::read_dir(base.path()).unwrap().count(),
        2,
        "nothing written beside the cache"
    );
}

#[test]
fn explicit_cache_dir_wins_over_trustpin_no_cache() {
    // `--cache-dir DIR` says "use this cache"; TRUSTPIN_NO_CACHE=1 (which .cargo/config.toml sets
    // for every test) must not silently turn it off: that would also turn off rollback
    // protection the user asked for.
    let r = Rotation::new("example.com/cache/env", 1);
    let srv = Served::new(&r.gun, r.state(1, &[1], &[]));
    let cache = tempfile::tempdir().unwrap();
    let run = || {
        Cmd::trustpin()
            .args(["resolve", &format!("{}:v1", r.gun), "--server", &srv.url()])
            .arg("--root-key")
            .arg(r.key_file(1))
            .arg("--cache-dir")
            .arg(cache.path())
            .env("TRUSTPIN_NO_CACHE", "1")
            .run()
    };
    run().expect_lines(&r.want(), "first run");
    assert!(
        !walk(cache.path()).is_empty(),
        "--cache-dir was ignored under TRUSTPIN_NO_CACHE=1: nothing cached"
    );
    let mark = srv.mark();
    run().expect_lines(&r.want(), "second run");
    assert_eq!(srv.since(mark), ["timestamp"], "warm path");
}

#[test]
fn a_delegation_rolled_back_under_newer_top_level_files_is_refused() {
    // The top-level files move forward while targets/releases goes back to an older version:
    // the rollback check covers every verified role, delegations included.
    let r = Rotation::new("example.com/rollback/delegation", 1);
    let releases_key = Key::ed25519();
    let state = |top: i64, releases: i64, content: &'static [u8]| -> Files {
        let mut b = r.builder(1, &[1]);
        b.delegate_with(
            "targets",
            "targets/releases",
            vec![releases_key.clone()],
            1,
            &[""],
        )
        .tag("targets/releases", "v2", content);
        for role in ["timestamp", "snapshot", "targets"] {
            b.edit_signed(role, move |s| s["version"] = json!(top));
        }
        b.edit_signed("targets/releases", move |s| s["version"] = json!(releases));
        b.build().files
    };
    let newer = state(3, 5, b"releases five");
    let older = state(4, 4, b"releases four");
    let srv = Served::new(&r.gun, newer);
    let image = vec![format!("{}:v2", r.gun)];
    let cache = tempfile::tempdir().unwrap();
    let ca = cache_args(cache.path());
    let out = resolve(&srv.url(), &r.key_file(1), &image, &with_cache(&ca, &[]));
    out.expect_lines(
        &[format!("{}@sha256:{}", r.gun, sha256_hex(b"releases five"))],
        "newer",
    );
    srv.set(older);
    let out = resolve(&srv.url(), &r.key_file(1), &image, &with_cache(&ca, &[]));
    out.expect_refused(
        &["rollback: targets/releases version 4 is older than version 5 seen before"],
        "delegation rolled back",
    );
    let out = resolve(&srv.url(), &r.key_file(1), &image, &["--no-cache"]);
    out.expect_lines(
        &[format!("{}@sha256:{}", r.gun, sha256_hex(b"releases four"))],
        "no cache",
    );
}

#[test]
fn the_warm_path_still_checks_expiry_of_cached_files() {
    // targets.json expires in 5 days; the timestamp in 14. Cached after a first run, targets is
    // reused by the warm path, and verified as of the time asked for all the same.
    let r = Rotation::new("example.com/warm/expiry", 1);
    let mut b = r.builder(1, &[1]);
    b.expires("targets", builder::now() + builder::days(5));
    let srv = Served::new(&r.gun, b.build().files);
    let cache = tempfile::tempdir().unwrap();
    let ca = cache_args(cache.path());
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let soon = fmt(builder::now() + builder::days(1));
    let later = fmt(builder::now() + builder::days(6));
    let out = resolve(
        &srv.url(),
        &r.key_file(1),
        &r.image(),
        &with_cache(&ca, &["--at", &soon]),
    );
    out.expect_lines(&r.want(), "cold, in a day");
    let mark = srv.mark();
    let out = resolve(
        &srv.url(),
        &r.key_file(1),
        &r.image(),
        &with_cache(&ca, &["--at", &later]),
    );
    assert_eq!(
        srv.since(mark),
        ["timestamp"],
        "warm: targets came from the cache"
    );
    out.expect_refused(&["targets.json expired"], "warm, in six days");
}
