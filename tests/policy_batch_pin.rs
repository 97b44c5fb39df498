//! Issue 6: trust policy files, batch resolution and `pin`, end to end through the `trustpin`
//! binary.
//!
//! - `policy check` and `resolve --policy` on small policy files over the shipped testdata keys
//!   (no server needed: scope matching and `skip` happen before any fetch).
//! - A real notary-server (memory storage) with 20 repositories, each published by its own
//!   `notary` client (so each has its own root key), each with 10 signed tags: 200 references
//!   resolved in one call must equal resolving each alone and `notary lookup`; text, json and jsonl
//!   outputs; stdin and `--from-file`; each repository's files fetched once (a counting loopback
//!   server serves a copy of the server's files); mixed good and bad references.
//! - `pin` on a Kubernetes manifest (block and flow style), a Dockerfile (FROM, ARG, COPY --from)
//!   and standard input; its diff checked and applied by the real `git apply`.
//!
//! The live repositories are published once per test binary (a shared fixture) and the server is
//! killed when the test binary exits. Every `trustpin resolve`/`pin` runs with `--no-cache`.
//! Needs `notary`, `notary-server` and `openssl` (Debian package `notary`); without them the live
//! tests fail with the install hint unless TRUSTPIN_SKIP_LIVE=1.

mod common;
use common::server;

use common::notary::*;
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const TRUSTPIN_TIMEOUT: Duration = Duration::from_secs(60);
const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
const REPOS: usize = 20;
const TAGS: [&str; 10] = [
    "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "latest",
];

// ------------------------------------------------------------------------------------------------
// Running trustpin

fn trustpin_with(args: &[&str], stdin: Option<&[u8]>, dir: Option<&Path>) -> Output {
    let mut c = Cmd::trustpin().no_credentials().args(args).stdin(stdin);
    if let Some(d) = dir {
        c = c.current_dir(d);
    }
    c.run()
}

fn trustpin(args: &[&str]) -> Output {
    trustpin_with(args, None, None)
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

// ------------------------------------------------------------------------------------------------
// Policy CLI (no server)

/// A policy folder with the testdata keys copied next to the policy file (relative paths).
fn policy_dir() -> tempfile::TempDir {
    let dir = temp_dir("trustpin-policy-");
    for k in ["demo.pub", "delegated.pub"] {
        std::fs::copy(Path::new(TESTDATA).join("keys").join(k), dir.path().join(k)).unwrap();
    }
    dir
}

const POLICY: &str = r#"{
  "version": "1.0",
  "trustPolicies": [
    {
      "name": "demo",
      "registryScopes": ["example.com/trustpin/demo"],
      "signatureVerification": {"level": "strict"},
      "trustRoots": ["demo.pub"]
    },
    {
      "name": "org",
      "registryScopes": ["example.com/trustpin/*", "quay.io/team/app"],
      "signatureVerification": {"level": "permissive"},
      "trustRoots": ["delegated.pub", "demo.pub"],
      "requiredDelegations": ["releases"],
      "server": {"url": "https://notary.example.com", "credentials": "none", "checkHealth": true}
    },
    {
      "name": "library",
      "registryScopes": ["docker.io/library/*"],
      "signatureVerification": {"level": "skip"}
    }
  ]
}
"#;

fn write_policy(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `trustpin resolve --no-cache --policy POLICY ARGS...`, `stdin` on its standard input.
fn resolve_policy_stdin(policy: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut all = vec!["resolve", "--no-cache", "--policy", policy];
    all.extend(args);
    trustpin_with(&all, stdin, None)
}

fn resolve_policy(policy: &Path, args: &[&str]) -> Output {
    resolve_policy_stdin(s(policy), args, None)
}

fn key_id(name: &str) -> String {
    canonical_key_id(&std::fs::read_to_string(Path::new(TESTDATA).join("keys").join(name)).unwrap())
}

#[test]
fn policy_check_prints_each_policy_with_scopes_level_and_trust_root_ids() {
    let dir = policy_dir();
    let file = write_policy(dir.path(), "policy.json", POLICY);
    let out = trustpin(&["policy", "check", s(&file)]);
    out.expect_code(0, "policy check of a valid file");
    let (demo, delegated) = (key_id("demo.pub"), key_id("delegated.pub"));
    let text = out.stdout.as_str();
    assert!(
        text.starts_with(&format!("{}: 3 policies, valid\n", file.display())),
        "{text}"
    );
    // Each policy's block: name, level, scopes, trust root ids (in file order), extras.
    let block = |name: &str| -> String {
        let start = text
            .find(&format!("policy \"{name}\""))
            .unwrap_or_else(|| panic!("no policy {name}: {text}"));
        let rest = &text[start..];
        let end = rest[1..]
            .find("\npolicy \"")
            .map(|e| e + 1)
            .unwrap_or(rest.len());
        rest[..end].to_owned()
    };
    let b = block("demo");
    assert!(b.contains("level strict"), "{b}");
    assert!(
        b.contains("scope        example.com/trustpin/demo\n"),
        "{b}"
    );
    assert!(b.contains(&format!("trust root   {demo}")), "{b}");
    assert!(!b.contains(&delegated), "{b}");
    let b = block("org");
    assert!(b.contains("level permissive"), "{b}");
    assert!(
        b.contains("scope        example.com/trustpin/*\n")
            && b.contains("scope        quay.io/team/app\n"),
        "{b}"
    );
    let (i_del, i_demo) = (b.find(&delegated).expect(&b), b.find(&demo).expect(&b));
    assert!(i_del < i_demo, "trust roots in file order: {b}");
    assert!(b.contains("requires     releases"), "{b}");
    assert!(b.contains("server       https://notary.example.com"), "{b}");
    assert!(
        b.contains("credentials  none") && b.contains("health check on"),
        "{b}"
    );
    let b = block("library");
    assert!(
        b.contains("level skip") && b.contains("NOT VERIFIED"),
        "{b}"
    );
    assert!(b.contains("scope        docker.io/library/*"), "{b}");
    assert!(!b.contains("trust root"), "{b}");
}

#[test]
fn policy_check_maps_images_to_policies_and_exits_1_for_an_unmatched_one() {
    let dir = policy_dir();
    let file = write_policy(dir.path(), "policy.json", POLICY);
    let images = [
        "example.com/trustpin/demo:v1",
        "example.com/trustpin/other",
        "quay.io/team/app:1",
        "alpine",
        "docker.io/library/nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    ];
    let mut args = vec!["policy", "check", s(&file)];
    args.extend(images);
    let out = trustpin(&args);
    out.expect_code(0, "every image maps to a policy");
    let want = [
        "example.com/trustpin/demo:v1 → policy \"demo\" (Notary v1)",
        "example.com/trustpin/other → policy \"org\" (Notary v1)",
        "quay.io/team/app:1 → policy \"org\" (Notary v1)",
        "alpine → policy \"library\" (NOT VERIFIED)",
        "docker.io/library/nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000 → policy \"library\" (NOT VERIFIED)",
    ];
    let got: Vec<&str> = out.stdout.lines().filter(|l| l.contains(" → ")).collect();
    assert_eq!(got, want, "{}", out.describe());

    // One image without a scope: the others still mapped, exit 1.
    let out = trustpin(&[
        "policy",
        "check",
        s(&file),
        "alpine",
        "quay.io/other/app:1",
        "example.com/trustpin/x",
    ]);
    out.expect_code(1, "an image no scope matches");
    let got: Vec<&str> = out.stdout.lines().filter(|l| l.contains(" → ")).collect();
    assert_eq!(
        got,
        [
            "alpine → policy \"library\" (NOT VERIFIED)",
            "quay.io/other/app:1 → no policy: refused",
            "example.com/trustpin/x → policy \"org\" (Notary v1)",
        ],
        "{}",
        out.describe()
    );
    // `example.com/trustpin-other/x` is not under the prefix `example.com/trustpin/`.
    let out = trustpin(&["policy", "check", s(&file), "example.com/trustpin-other/x"]);
    out.expect_code(1, "a prefix scope ends at a path component");
}

#[test]
fn invalid_policy_files_exit_2_naming_the_line_and_field() {
    let dir = policy_dir();
    struct Case {
        name: &'static str,
        text: String,
        line: usize,
        mentions: &'static [&'static str],
    }
    let cases = [
        Case {
            name: "bad JSON (missing brace)",
            text: POLICY.replace(r#""level": "skip"}"#, r#""level": "skip""#),
            line: 23,
            mentions: &[],
        },
        Case {
            name: "unknown field",
            text: POLICY.replace(
                r#""trustRoots": ["demo.pub"]"#,
                "\"trustRoots\": [\"demo.pub\"],\n      \"color\": \"red\"",
            ),
            line: 9,
            mentions: &["color"],
        },
        Case {
            name: "wrong type",
            text: POLICY.replace(
                r#""registryScopes": ["docker.io/library/*"]"#,
                r#""registryScopes": "docker.io/library/*""#,
            ),
            line: 20,
            mentions: &["registryScopes"],
        },
        Case {
            name: "wrong level",
            text: POLICY.replace(r#""level": "permissive""#, r#""level": "lenient""#),
            line: 13,
            mentions: &["signatureVerification.level", "lenient"],
        },
        Case {
            name: "ambiguous scopes",
            text: POLICY.replace(
                r#""example.com/trustpin/*", "quay.io/team/app""#,
                r#""example.com/trustpin/*", "example.com/trustpin/demo""#,
            ),
            line: 12,
            mentions: &["registryScopes[1]", "example.com/trustpin/demo", "\"demo\""],
        },
        Case {
            name: "missing key file",
            text: POLICY.replace(
                r#"["delegated.pub", "demo.pub"]"#,
                r#"["delegated.pub", "missing.pub"]"#,
            ),
            line: 14,
            mentions: &["trustRoots[1]", "missing.pub"],
        },
    ];
    // Every case is checked; the failures are reported together.
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        assert_ne!(case.text, POLICY, "{}: the edit did not apply", case.name);
        let file = write_policy(dir.path(), &format!("bad{i}.json"), &case.text);
        let out = trustpin(&["policy", "check", s(&file), "alpine"]);
        let err = out.stderr.as_str();
        if out.code != 2 || !out.stdout.is_empty() {
            failures.push(format!(
                "{}: expected exit 2 and no stdout: {}",
                case.name,
                out.describe()
            ));
        }
        if !err.contains(&format!("line {}", case.line)) {
            failures.push(format!(
                "{}: does not name line {}: {err}",
                case.name, case.line
            ));
        }
        for m in case.mentions {
            if !err.contains(m) {
                failures.push(format!("{}: does not name {m:?}: {err}", case.name));
            }
        }
        // The same file given to resolve is refused as a whole before anything is resolved.
        let out = resolve_policy(&file, &["alpine"]);
        if out.code != 2
            || !out.stdout.is_empty()
            || !out.stderr.contains(&format!("line {}", case.line))
        {
            failures.push(format!(
                "resolve --policy with {}: expected exit 2 naming line {}: {}",
                case.name,
                case.line,
                out.describe()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn resolve_policy_without_a_matching_scope_exits_1() {
    let dir = policy_dir();
    let file = write_policy(dir.path(), "policy.json", POLICY);
    let out = resolve_policy(&file, &["quay.io/other/app:1"]);
    out.expect_refused(
        &[
            "quay.io/other/app:1",
            "no trust policy scope matches quay.io/other/app",
        ],
        "no scope matches",
    );
    let out = resolve_policy(&file, &["quay.io/other/app:1", "--output", "json"]);
    out.expect_code(1, "no scope matches (json)");
    let items = out.json_array();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["exit_code"], 1);
    assert_eq!(items[0]["verification"], "refused");
    assert_eq!(items[0]["digest"], serde_json::Value::Null);
    assert_eq!(items[0]["error"]["kind"], "no-policy", "{:?}", items[0]);
    assert!(
        items[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no trust policy scope matches"),
        "{:?}",
        items[0]
    );
}

#[test]
fn resolve_policy_skip_scope_reports_not_verified_and_exits_0() {
    let dir = policy_dir();
    let text = r#"{"version": "1.0", "trustPolicies": [
  {"name": "demo", "registryScopes": ["example.com/trustpin/demo"], "signatureVerification": {"level": "strict"}, "trustRoots": ["demo.pub"]},
  {"name": "anything", "registryScopes": ["*"], "signatureVerification": {"level": "skip"}}
]}"#;
    let file = write_policy(dir.path(), "policy.json", text);
    let out = resolve_policy(&file, &["alpine:3.19", "quay.io/org/app:v2"]);
    out.expect_code(0, "`*` with level skip");
    assert_eq!(
        lines(&out.stdout),
        ["docker.io/library/alpine:3.19", "quay.io/org/app:v2"],
        "{}",
        out.describe()
    );
    out.expect_stdout_lacks(&["sha256:"], "a skipped image has no verified digest");
    for input in ["alpine:3.19", "quay.io/org/app:v2"] {
        assert!(
            out.stderr
                .lines()
                .any(|l| l.contains(input) && l.contains("NOT VERIFIED") && l.contains("anything")),
            "stderr names {input}, NOT VERIFIED and the policy: {}",
            out.describe()
        );
    }
    let out = resolve_policy(&file, &["alpine:3.19", "--output", "json"]);
    out.expect_code(0, "`*` with level skip, json");
    let items = out.json_array();
    assert_eq!(items.len(), 1, "{}", out.describe());
    let it = &items[0];
    assert_eq!(it["verification"], "skipped", "{it}");
    assert_eq!(it["policy"], "anything", "{it}");
    assert_eq!(it["digest"], serde_json::Value::Null, "{it}");
    assert_eq!(it["exit_code"], 0, "{it}");
    assert_eq!(it["gun"], "docker.io/library/alpine", "{it}");
    assert!(it["warnings"].to_string().contains("NOT VERIFIED"), "{it}");
    let out = resolve_policy(&file, &["alpine:3.19", "--output", "jsonl"]);
    out.expect_code(0, "`*` with level skip, jsonl");
    let v: serde_json::Value =
        serde_json::from_str(out.stdout.trim()).unwrap_or_else(|_| panic!("{}", out.describe()));
    assert_eq!(v["verification"], "skipped");
}

#[test]
fn resolve_policy_with_root_key_delegation_or_level_is_a_usage_error() {
    let dir = policy_dir();
    let file = write_policy(dir.path(), "policy.json", POLICY);
    let key = dir.path().join("demo.pub");
    for extra in [
        vec!["--root-key", s(&key)],
        vec!["--delegation", "releases"],
        vec!["--level", "audit"],
    ] {
        let mut args = vec![
            "resolve",
            "--no-cache",
            "--policy",
            s(&file),
            "example.com/trustpin/demo:v1",
        ];
        args.extend(extra.iter().copied());
        let out = trustpin(&args);
        out.expect_code(2, &format!("--policy with {extra:?}"));
        assert!(out.stdout.is_empty(), "{}", out.describe());
        out.expect_stderr(&["--policy"], "");
    }
}

// ------------------------------------------------------------------------------------------------
// The live fixture: 20 repositories on one notary-server, shared by the tests below

struct LiveRepo {
    gun: String,
    /// Relative to the fixture folder: `keys/repoNN.pub`.
    key: PathBuf,
    /// tag → (hex sha256 from `notary lookup`, size).
    tags: BTreeMap<String, (String, u64)>,
}

struct Live {
    url: String,
    dir: PathBuf,
    /// `policy.json` in `dir`: one policy per repository (its own key, the server's URL), plus
    /// `example.com/dead/*` on a dead server.
    policy: PathBuf,
    repos: Vec<LiveRepo>,
    /// Held until the test binary exits (see `cleanup`).
    server: Mutex<Option<NotaryServer>>,
    clients: Mutex<Vec<NotaryClient>>,
    tmp: Mutex<Option<tempfile::TempDir>>,
}

static LIVE: OnceLock<Option<Live>> = OnceLock::new();

extern "C" {
    fn atexit(f: extern "C" fn()) -> std::os::raw::c_int;
}

/// Kills the notary-server and removes the temporary folders when the test binary exits.
extern "C" fn cleanup() {
    if let Some(Some(live)) = LIVE.get() {
        drop(live.server.lock().unwrap_or_else(|e| e.into_inner()).take());
        drop(std::mem::take(
            &mut *live.clients.lock().unwrap_or_else(|e| e.into_inner()),
        ));
        drop(live.tmp.lock().unwrap_or_else(|e| e.into_inner()).take());
    }
}

fn gun(i: usize) -> String {
    format!("example.com/batch/repo{i:02}")
}

fn content(i: usize, tag: &str) -> String {
    format!("image manifest of {} tag {tag}", gun(i))
}

/// The published repositories, or None when live tests are skipped.
fn live() -> Option<&'static Live> {
    LIVE.get_or_init(|| {
        if !require_live() {
            return None;
        }
        let started = Instant::now();
        let server = NotaryServer::start();
        let url = server.url();
        let tmp = temp_dir("trustpin-batch-");
        let dir = tmp.path().to_path_buf();
        std::fs::create_dir_all(dir.join("keys")).unwrap();
        // Publish in parallel: one client (one root key) per repository.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Mutex<Vec<(usize, NotaryClient, LiveRepo)>> = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i >= REPOS {
                        break;
                    }
                    let g = gun(i);
                    let client = server.client();
                    client.init(&g);
                    for t in TAGS {
                        let target = Target::of(t, &content(i, t));
                        client.add_target(&g, &target, "targets");
                    }
                    client.publish(&g);
                    let key = PathBuf::from(format!("keys/repo{i:02}.pub"));
                    std::fs::write(dir.join(&key), client.root_public_key_pem(&g)).unwrap();
                    let mut tags = BTreeMap::new();
                    for t in TAGS {
                        let (hex, size) = client
                            .lookup(&g, t)
                            .unwrap_or_else(|e| panic!("notary lookup {g} {t}: {e}"));
                        let want = Target::of(t, &content(i, t));
                        assert_eq!(
                            (&hex, size),
                            (&want.sha256, want.size),
                            "notary lookup {g} {t}"
                        );
                        tags.insert(t.to_owned(), (hex, size));
                    }
                    results
                        .lock()
                        .unwrap()
                        .push((i, client, LiveRepo { gun: g, key, tags }));
                });
            }
        });
        let mut results = results.into_inner().unwrap();
        assert_eq!(results.len(), REPOS, "every repository published");
        results.sort_by_key(|r| r.0);
        let (mut clients, mut repos) = (Vec::new(), Vec::new());
        for (_, c, r) in results {
            clients.push(c);
            repos.push(r);
        }
        let ids: BTreeSet<String> = repos
            .iter()
            .map(|r| canonical_key_id(&std::fs::read_to_string(dir.join(&r.key)).unwrap()))
            .collect();
        assert_eq!(ids.len(), REPOS, "each repository has its own root key");

        let dead = format!("http://127.0.0.1:{}", free_port());
        let mut policies: Vec<serde_json::Value> = repos
            .iter()
            .enumerate()
            .map(|(i, r)| {
                serde_json::json!({
                    "name": format!("repo{i:02}"),
                    "registryScopes": [r.gun],
                    "signatureVerification": {"level": "strict"},
                    "trustRoots": [r.key.to_str().unwrap()],
                    "server": {"url": url},
                })
            })
            .collect();
        policies.push(serde_json::json!({
            "name": "dead",
            "registryScopes": ["example.com/dead/*"],
            "signatureVerification": {"level": "strict"},
            "trustRoots": [repos[0].key.to_str().unwrap()],
            "server": {"url": dead},
        }));
        let policy = dir.join("policy.json");
        std::fs::write(
            &policy,
            serde_json::to_string_pretty(
                &serde_json::json!({"version": "1.0", "trustPolicies": policies}),
            )
            .unwrap(),
        )
        .unwrap();
        eprintln!(
            "live fixture: {REPOS} repositories published and looked up in {:.1?}",
            started.elapsed()
        );
        let live = Live {
            url,
            dir,
            policy,
            repos,
            server: Mutex::new(Some(server)),
            clients: Mutex::new(clients),
            tmp: Mutex::new(Some(tmp)),
        };
        // SAFETY: registering a plain function with the C library's atexit.
        unsafe {
            atexit(cleanup);
        }
        Some(live)
    })
    .as_ref()
}

impl Live {
    fn policy(&self) -> &str {
        s(&self.policy)
    }

    /// `<gun>@sha256:<hex>` for repository `i`, tag `tag`.
    fn expected(&self, i: usize, tag: &str) -> String {
        format!("{}@sha256:{}", self.repos[i].gun, self.repos[i].tags[tag].0)
    }

    /// All 200 (input, repository index, tag) in a fixed shuffled order.
    /// [`Live::references`], their inputs alone, and the line each must resolve to.
    #[allow(clippy::type_complexity)]
    fn references_inputs_expected(
        &self,
    ) -> (Vec<(String, usize, &'static str)>, Vec<String>, Vec<String>) {
        let refs = self.references();
        let inputs = refs.iter().map(|r| r.0.clone()).collect();
        let expected = refs.iter().map(|(_, i, t)| self.expected(*i, t)).collect();
        (refs, inputs, expected)
    }

    fn references(&self) -> Vec<(String, usize, &'static str)> {
        let mut all: Vec<(String, usize, &'static str)> = (0..REPOS)
            .flat_map(|i| TAGS.iter().map(move |t| (format!("{}:{t}", gun(i)), i, *t)))
            .collect();
        // Fisher-Yates with a fixed xorshift, so failures reproduce.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for k in (1..all.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            all.swap(k, (x % (k as u64 + 1)) as usize);
        }
        all
    }
}

fn resolve_batch(live: &Live, inputs: &[String], extra: &[&str]) -> Output {
    let mut args = extra.to_vec();
    args.extend(inputs.iter().map(String::as_str));
    resolve_policy_stdin(live.policy(), &args, None)
}

// ------------------------------------------------------------------------------------------------
// Batch

#[test]
fn batch_of_200_equals_each_alone_and_notary_lookup_in_every_output() {
    let Some(live) = live() else { return };
    let (refs, inputs, expected) = live.references_inputs_expected();
    assert_eq!(
        inputs.iter().collect::<BTreeSet<_>>().len(),
        200,
        "200 distinct references"
    );

    // Text: one line per reference, in input order.
    let t = Instant::now();
    let text = resolve_batch(live, &inputs, &["--jobs", "8"]);
    let batch_time = t.elapsed();
    text.expect_code(0, "batch of 200");
    assert_eq!(lines(&text.stdout), expected, "text lines in input order");
    assert_eq!(
        text.stderr, "",
        "stderr is not a terminal: no progress line, and nothing to warn about"
    );

    // Each alone, with --root-key and --server instead of the policy: the same line. Every line
    // was already compared with `notary lookup` above; to keep this file's runtime down (one
    // debug-build process is ~90 ms of CPU), 3 tags of each repository are resolved alone, chosen
    // so that every repository and every tag is covered (TRUSTPIN_BATCH_ALONE=all: all 200).
    let all_alone = std::env::var("TRUSTPIN_BATCH_ALONE").as_deref() == Ok("all");
    let alone_refs: Vec<usize> = (0..refs.len())
        .filter(|&k| {
            let (_, i, tag) = &refs[k];
            let t = TAGS.iter().position(|x| x == tag).unwrap();
            all_alone || [i % 10, (i + 3) % 10, (i + 7) % 10].contains(&t)
        })
        .collect();
    assert_eq!(alone_refs.len(), if all_alone { 200 } else { 60 });
    let t = Instant::now();
    let alone: Vec<(usize, Output)> = {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let done = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(&k) = alone_refs.get(n) else { break };
                    let (input, i, _) = &refs[k];
                    let key = live.dir.join(&live.repos[*i].key);
                    let out = trustpin(&[
                        "resolve",
                        "--no-cache",
                        "--root-key",
                        s(&key),
                        "--server",
                        &live.url,
                        input,
                    ]);
                    done.lock().unwrap().push((k, out));
                });
            }
        });
        done.into_inner().unwrap()
    };
    let alone_time = t.elapsed();
    assert_eq!(alone.len(), alone_refs.len());
    for (k, out) in &alone {
        out.expect_code(0, &format!("{} alone", refs[*k].0));
        assert_eq!(
            out.stdout,
            format!("{}\n", expected[*k]),
            "{} alone equals its batch line",
            refs[*k].0
        );
    }
    eprintln!(
        "batch of 200 in {batch_time:.1?}; {} alone (4 at a time) in {alone_time:.1?}",
        alone.len()
    );

    // json: one array in input order, everything the lookup says.
    let json = resolve_batch(live, &inputs, &["--output", "json"]);
    json.expect_code(0, "batch json");
    let items = json.json_array();
    assert_eq!(items.len(), 200, "{}", json.describe());
    for (k, (it, (input, i, tag))) in items.iter().zip(&refs).enumerate() {
        let (hex, size) = &live.repos[*i].tags[*tag];
        assert_eq!(it["input"], input.as_str(), "item {k} in input order");
        assert_eq!(it["gun"], live.repos[*i].gun.as_str(), "{it}");
        assert_eq!(it["tag"], *tag, "{it}");
        assert_eq!(it["digest"], format!("sha256:{hex}"), "{it}");
        assert_eq!(it["reference"], expected[k].as_str(), "{it}");
        assert_eq!(it["length"], *size, "{it}");
        assert_eq!(it["verification"], "verified", "{it}");
        assert_eq!(it["policy"], format!("repo{i:02}"), "{it}");
        assert_eq!(it["exit_code"], 0, "{it}");
        assert!(it.get("error").is_none(), "{it}");
    }

    // jsonl: 200 lines, one object each; any order, matched by input.
    let jsonl = resolve_batch(live, &inputs, &["--output", "jsonl", "--jobs", "3"]);
    jsonl.expect_code(0, "batch jsonl");
    let objs: Vec<serde_json::Value> = jsonl
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("jsonl line is not JSON ({e}): {l}"))
        })
        .collect();
    assert_eq!(objs.len(), 200, "{}", jsonl.describe());
    let by_input: BTreeMap<String, &serde_json::Value> = objs
        .iter()
        .map(|o| (o["input"].as_str().unwrap().to_owned(), o))
        .collect();
    assert_eq!(by_input.len(), 200, "each input once");
    for (k, (input, _, _)) in refs.iter().enumerate() {
        let o = by_input
            .get(input)
            .unwrap_or_else(|| panic!("no jsonl line for {input}"));
        assert_eq!(o["reference"], expected[k].as_str(), "{o}");
        assert_eq!(o["exit_code"], 0, "{o}");
    }
}

#[test]
fn stdin_and_from_file_give_the_same_answers_as_arguments() {
    let Some(live) = live() else { return };
    let (_, inputs, expected) = live.references_inputs_expected();

    // A list with comments, blank lines, indentation and CRLF line ends.
    let mut list = String::from("# references to resolve\n\n");
    for (k, input) in inputs.iter().enumerate() {
        match k % 7 {
            0 => list.push_str(&format!("  {input}\n")),
            1 => list.push_str(&format!("{input}\r\n")),
            2 => list.push_str(&format!("{input}\n\n# a comment\n")),
            _ => list.push_str(&format!("{input}\n")),
        }
    }
    list.push_str("\n   \n# end\n");

    let out = resolve_policy_stdin(live.policy(), &["-"], Some(list.as_bytes()));
    out.expect_code(0, "references from stdin");
    assert_eq!(lines(&out.stdout), expected, "stdin: {}", out.stderr);

    let file = live.dir.join("refs-from-file.txt");
    std::fs::write(&file, &list).unwrap();
    let out = resolve_policy_stdin(live.policy(), &["--from-file", s(&file)], None);
    out.expect_code(0, "references from --from-file");
    assert_eq!(lines(&out.stdout), expected, "--from-file: {}", out.stderr);

    // Arguments, then stdin, then files, in that order.
    let (a, rest) = inputs.split_at(10);
    let (b, c) = rest.split_at(90);
    std::fs::write(&file, c.join("\n")).unwrap();
    let mut args = vec!["--from-file", s(&file), "--output", "json"];
    args.extend(a.iter().map(String::as_str));
    args.push("-");
    let out = resolve_policy_stdin(live.policy(), &args, Some(b.join("\n").as_bytes()));
    out.expect_code(0, "arguments, stdin and --from-file together");
    let got: Vec<String> = out
        .json_array()
        .iter()
        .map(|o| o["reference"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(got, expected, "arguments, then stdin, then --from-file");

    // Nothing but comments is a usage error.
    let out = resolve_policy_stdin(live.policy(), &["-"], Some(b"# nothing\n\n"));
    out.expect_code(2, "no references at all");
}

/// A copy of the notary-server's files (`<gun>/_trust/tuf/<role>.json`) of every repository.
fn copy_tree(live: &Live) -> tempfile::TempDir {
    let tree = temp_dir("trustpin-batch-tree-");
    let server = live.server.lock().unwrap_or_else(|e| e.into_inner());
    let notary = server.as_ref().expect("notary-server running");
    for r in &live.repos {
        let d = tree.path().join(&r.gun).join("_trust/tuf");
        std::fs::create_dir_all(&d).unwrap();
        for role in common::TOP_ROLES {
            let body = notary
                .metadata(&r.gun, role)
                .unwrap_or_else(|e| panic!("{} {role}: {e}", r.gun));
            std::fs::write(d.join(format!("{role}.json")), body).unwrap();
        }
    }
    tree
}

/// A loopback server counting requests, serving a copy of the repositories' files (held by the
/// folder returned with it).
fn counting_server(live: &Live) -> (tempfile::TempDir, server::TestServer) {
    let tree = copy_tree(live);
    let counting = server::TestServer::start();
    counting.serve_tree(tree.path());
    (tree, counting)
}

#[test]
fn each_repository_is_fetched_once_however_many_tags() {
    let Some(live) = live() else { return };
    // A copy of the server's files behind a counting loopback server.
    let (_tree, counting) = counting_server(live);

    let (_, inputs, expected) = live.references_inputs_expected();
    // --server overrides the policies' server URL.
    let out = resolve_batch(live, &inputs, &["--server", &counting.url(), "--jobs", "8"]);
    out.expect_code(0, "batch through the counting server");
    assert_eq!(lines(&out.stdout), expected);

    for r in &live.repos {
        for role in common::TOP_ROLES {
            assert_eq!(
                counting.requests(&server::tuf_path(&r.gun, role)),
                1,
                "{} {role}.json fetched once for its 10 tags",
                r.gun
            );
        }
    }
    // Nothing else requested twice, and nothing outside the 20 repositories.
    let mut per_path: BTreeMap<String, usize> = BTreeMap::new();
    for req in counting.log() {
        *per_path.entry(req.path.clone()).or_default() += 1;
    }
    for (path, n) in &per_path {
        assert_eq!(*n, 1, "{path} requested {n} times");
        assert!(
            live.repos
                .iter()
                .any(|r| path.starts_with(&format!("/v2/{}/_trust/tuf/", r.gun))),
            "unexpected request {path}"
        );
    }
    assert!(
        counting.total_requests() <= REPOS * 5,
        "at most the four files and one delegation probe per repository: {per_path:#?}"
    );
}

#[test]
fn mixed_good_and_bad_references_give_per_line_errors_and_the_worst_exit_code() {
    let Some(live) = live() else { return };
    let good = |i: usize, t: &str| (format!("{}:{t}", gun(i)), live.expected(i, t));
    let (g0, g1, g2, g3) = (
        good(3, "v1"),
        good(0, "v9"),
        good(3, "v2"),
        good(17, "latest"),
    );
    let bad_ref = "example.com/batch/Repo00:v1".to_owned(); // upper case: not a valid name
    let unsigned = format!("{}:v10", gun(0)); // repository fine, tag never signed
    let dead = "example.com/dead/app:v1".to_owned(); // its policy's server is down
    let unscoped = "quay.io/nobody/app:v1".to_owned(); // no policy scope

    let inputs = vec![
        g0.0.clone(),
        bad_ref.clone(),
        g1.0.clone(),
        unsigned.clone(),
        g2.0.clone(),
        dead.clone(),
        unscoped.clone(),
        g3.0.clone(),
    ];
    let codes = [0, 2, 0, 1, 0, 3, 1, 0];
    let out = resolve_batch(live, &inputs, &[]);
    out.expect_code(3, "worst of 0, 1, 2, 3");
    assert_eq!(
        lines(&out.stdout),
        [&g0.1, &g1.1, &g2.1, &g3.1],
        "every good line printed, in order: {}",
        out.describe()
    );
    for (input, why) in [
        (&bad_ref, "invalid image reference"),
        (&unsigned, "v10"),
        (&dead, "127.0.0.1"),
        (&unscoped, "no trust policy scope"),
    ] {
        let line = out
            .stderr
            .lines()
            .find(|l| l.starts_with(&format!("trustpin: {input}: ")))
            .unwrap_or_else(|| panic!("no error line for {input}: {}", out.describe()));
        assert!(line.contains(why), "{input}: {line}");
    }

    let out = resolve_batch(live, &inputs, &["--output", "json"]);
    out.expect_code(3, "mixed, json");
    let items = out.json_array();
    assert_eq!(items.len(), inputs.len());
    for ((it, input), code) in items.iter().zip(&inputs).zip(codes) {
        assert_eq!(it["input"], input.as_str(), "{it}");
        assert_eq!(it["exit_code"], code, "{it}");
        if code == 0 {
            assert_eq!(it["verification"], "verified", "{it}");
        } else {
            let expected = match code {
                2 => "input-error",
                3 => "unavailable",
                _ => "refused",
            };
            assert_eq!(it["verification"], expected, "{it}");
            assert_eq!(it["digest"], serde_json::Value::Null, "{it}");
            let message = it["error"]["message"].as_str();
            assert!(message.is_some_and(|e| !e.is_empty()), "{it}");
            assert!(
                it["error"]["kind"].as_str().is_some_and(|k| !k.is_empty()),
                "{it}"
            );
        }
    }

    let out = resolve_batch(live, &inputs, &["--output", "jsonl"]);
    out.expect_code(3, "mixed, jsonl");
    let got: BTreeMap<String, i64> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|o| {
            (
                o["input"].as_str().unwrap().to_owned(),
                o["exit_code"].as_i64().unwrap(),
            )
        })
        .collect();
    let want: BTreeMap<String, i64> = inputs.iter().cloned().zip(codes.map(i64::from)).collect();
    assert_eq!(got, want);

    // Without the dead server the worst is 2; without the bad reference too, 1.
    let no_dead: Vec<String> = inputs.iter().filter(|i| **i != dead).cloned().collect();
    resolve_batch(live, &no_dead, &[]).expect_code(2, "worst of 0, 1, 2");
    let only_refused: Vec<String> = no_dead.iter().filter(|i| **i != bad_ref).cloned().collect();
    let out = resolve_batch(live, &only_refused, &[]);
    out.expect_code(1, "worst of 0, 1");
    assert_eq!(lines(&out.stdout), [&g0.1, &g1.1, &g2.1, &g3.1]);
}

/// A policy file in `dir` with one policy for repository 0 (its key) and `server`.
fn one_repo_policy(live: &Live, dir: &Path, server: serde_json::Value) -> PathBuf {
    let key = live.dir.join(&live.repos[0].key);
    let text = serde_json::json!({"version": "1.0", "trustPolicies": [{
        "name": "repo00",
        "registryScopes": [live.repos[0].gun],
        "signatureVerification": {"level": "strict"},
        "trustRoots": [s(&key)],
        "server": server,
    }]});
    write_policy(
        dir,
        "server-policy.json",
        &serde_json::to_string_pretty(&text).unwrap(),
    )
}

#[test]
fn policy_server_health_check_is_done() {
    let Some(live) = live() else { return };
    let (_tree, counting) = counting_server(live);
    counting.serve_json("/_notary_server/health", "{}");
    let dir = temp_dir("trustpin-policy-");
    let policy = one_repo_policy(
        live,
        dir.path(),
        serde_json::json!({"url": counting.url(), "checkHealth": true}),
    );
    let input = format!("{}:v1", live.repos[0].gun);
    let out = resolve_policy(&policy, &[&input]);
    out.expect_code(0, "policy with server.checkHealth");
    assert_eq!(out.stdout, format!("{}\n", live.expected(0, "v1")));
    assert!(
        counting.requests("/_notary_server/health") >= 1,
        "the policy says checkHealth: true, yet /_notary_server/health was never requested; requests: {:?}",
        counting.log().iter().map(|r| r.path.clone()).collect::<Vec<_>>()
    );
}

#[test]
fn policy_server_credentials_none_sends_no_credentials() {
    let Some(live) = live() else { return };
    let tree = copy_tree(live);
    let root = tree.path().to_path_buf();
    // Files only for an Authorization header; a Basic challenge otherwise (Basic to loopback is
    // allowed over http).
    let counting = server::TestServer::start();
    counting.fallback(move |req| {
        let file = req.path.strip_prefix("/v2/").map(|rest| root.join(rest));
        match (
            req.header("Authorization"),
            file.and_then(|f| std::fs::read(f).ok()),
        ) {
            (None, _) => server::Response::new(401, "")
                .header("WWW-Authenticate", "Basic realm=\"test\"")
                .into(),
            (Some(_), Some(body)) => server::Response::json(body).into(),
            (Some(_), None) => server::Response::notary_not_found().into(),
        }
    });
    let dir = temp_dir("trustpin-policy-");
    let input = format!("{}:v1", live.repos[0].gun);
    let run = |credentials: &str| {
        let policy = one_repo_policy(
            live,
            dir.path(),
            serde_json::json!({"url": counting.url(), "credentials": credentials}),
        );
        let mut c = Command::new(env!("CARGO_BIN_EXE_trustpin"));
        c.args(["resolve", "--no-cache", "--policy", s(&policy), &input])
            .env_remove("DOCKER_CONTENT_TRUST_SERVER")
            .env("TRUSTPIN_USERNAME", "policy-user")
            .env("TRUSTPIN_PASSWORD", "policy-password")
            .env("DOCKER_CONFIG", dir.path().join("no-docker-config"));
        let before = counting.total_requests();
        let out = run_with_input(c, None, TRUSTPIN_TIMEOUT);
        let authorized = counting.log()[before..]
            .iter()
            .filter(|r| r.header("Authorization").is_some())
            .count();
        (out, authorized)
    };
    // `env`: the credentials from TRUSTPIN_USERNAME/TRUSTPIN_PASSWORD answer the challenge.
    let (out, authorized) = run("env");
    out.expect_code(0, "credentials env");
    assert!(authorized > 0, "credentials env: sent");
    // `none`: never sent, whatever the environment holds; the server's refusal is the answer.
    let (out, authorized) = run("none");
    assert_eq!(
        authorized,
        0,
        "the policy says credentials: none, yet credentials were sent; {}",
        out.describe()
    );
    assert_ne!(out.code, 0, "{}", out.describe());
}

// ------------------------------------------------------------------------------------------------
// pin

/// `name:tag@sha256:<digest from notary lookup>` for repository `i`.
fn pinned(live: &Live, i: usize, tag: &str) -> String {
    format!("{}:{tag}@sha256:{}", gun(i), live.repos[i].tags[tag].0)
}

/// `text` with, in each `(find, reference, i, tag)`, the `reference` within `find` pinned to
/// repository `i`'s `tag`.
fn pinned_in(live: &Live, text: &str, edits: &[(&str, &str, usize, &str)]) -> String {
    edits
        .iter()
        .fold(text.to_owned(), |text, (find, reference, i, tag)| {
            text.replace(find, &find.replace(reference, &pinned(live, *i, tag)))
        })
}

const REPO01_V2: (&str, &str, usize, &str) = (
    "image: example.com/batch/repo01:v2",
    "example.com/batch/repo01:v2",
    1,
    "v2",
);
const REPO02_V3: (&str, &str, usize, &str) = (
    "\"example.com/batch/repo02:v3\"",
    "example.com/batch/repo02:v3",
    2,
    "v3",
);

const MANIFEST: &str = "# Deployment of the web app
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    note: \"image: example.com/batch/repo09:v1 in an annotation is not an image\"
spec:
  replicas: 2
  template:
    spec:
      initContainers:
        - name: migrate
          image: example.com/batch/repo01:v2
      containers:
        - name: app
          image: \"example.com/batch/repo02:v3\"   # the app
          imagePullPolicy: Always
          ports:
            - containerPort: 8080
        - image: example.com/batch/repo03
          name: sidecar
        # image: example.com/batch/repo04:v1 (commented out)
";

fn manifest_expected(live: &Live) -> String {
    let repo03 = (
        "image: example.com/batch/repo03\n",
        "example.com/batch/repo03",
        3,
        "latest",
    );
    pinned_in(live, MANIFEST, &[REPO01_V2, REPO02_V3, repo03])
}

fn dockerfile(live: &Live) -> String {
    format!(
        "# syntax=docker/dockerfile:1
ARG BASE=example.com/batch/repo04:v1
FROM --platform=$BUILDPLATFORM example.com/batch/repo05:v2 AS build
RUN make
FROM build AS test
RUN make test
FROM ${{BASE}}
FROM example.com/batch/repo06:v3@sha256:{} AS pinned-already
FROM scratch AS empty
COPY --from=build /out /out
from example.com/batch/repo07:v4 as final
COPY --from=build /out /app
",
        live.repos[6].tags["v3"].0
    )
}

fn dockerfile_expected(live: &Live) -> String {
    let repo04 = (
        "ARG BASE=example.com/batch/repo04:v1",
        "example.com/batch/repo04:v1",
        4,
        "v1",
    );
    let repo05 = (
        "$BUILDPLATFORM example.com/batch/repo05:v2 AS",
        "example.com/batch/repo05:v2",
        5,
        "v2",
    );
    let repo07 = (
        "from example.com/batch/repo07:v4 as",
        "example.com/batch/repo07:v4",
        7,
        "v4",
    );
    pinned_in(live, &dockerfile(live), &[repo04, repo05, repo07])
}

/// `diff` (what `pin` printed for `name`, holding `old`) is a unified diff the real `git apply`
/// checks and applies, from the file's folder, to a copy of `old`, giving exactly `new`; and it
/// has context lines (a ` ` line) around its changes.
#[track_caller]
fn expect_git_applies(name: &str, old: &str, new: &str, diff: &str) {
    let git =
        find_on_path("git").expect("git is needed to check pin's diffs (apt-get install git)");
    let dir = temp_dir("trustpin-pin-apply-");
    std::fs::write(dir.path().join(name), old).unwrap();
    let patch = dir.path().join("pin.diff");
    std::fs::write(&patch, diff).unwrap();
    for args in [
        &["apply", "--check", "pin.diff"][..],
        &["apply", "pin.diff"],
    ] {
        let out = Command::new(&git)
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?} refused the diff:\n{diff}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join(name)).unwrap(),
        new,
        "{diff}"
    );
    assert!(
        diff.starts_with(&format!("--- a/{name}\n+++ b/{name}\n@@ -")),
        "{diff}"
    );
    assert!(
        diff.lines().any(|l| l.starts_with(' ')),
        "no context: {diff}"
    );
}

/// `text` written to `name` in `work`.
fn write_in(work: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let file = work.path().join(name);
    std::fs::write(&file, text).unwrap();
    file
}

/// `file` holds exactly `expected` (`what` says which case).
#[track_caller]
fn file_holds(file: &Path, expected: &str, what: &str) {
    assert_eq!(std::fs::read_to_string(file).unwrap(), expected, "{what}");
}

/// `trustpin pin NAME ...` run in `file`'s folder, so the diff names the file as git wants it.
fn pin(live: &Live, file: &Path, extra: &[&str]) -> Output {
    let name = file.file_name().unwrap().to_str().unwrap();
    let mut args = vec!["pin", name, "--no-cache", "--policy", live.policy()];
    args.extend(extra);
    trustpin_with(&args, None, file.parent())
}

#[test]
fn pin_rewrites_exactly_the_trusted_references_of_a_manifest_and_a_dockerfile() {
    let Some(live) = live() else { return };
    let work = temp_dir("trustpin-pin-");
    for (name, text, expected, changed) in [
        (
            "deployment.yaml",
            MANIFEST.to_owned(),
            manifest_expected(live),
            3,
        ),
        ("Dockerfile", dockerfile(live), dockerfile_expected(live), 3),
        // CRLF line ends and no final line break are kept as they are.
        (
            "Dockerfile.crlf",
            dockerfile(live).replace('\n', "\r\n").trim_end().to_owned(),
            dockerfile_expected(live)
                .replace('\n', "\r\n")
                .trim_end()
                .to_owned(),
            3,
        ),
    ] {
        assert_ne!(text, expected, "{name}: the expectation changes something");
        let file = write_in(&work, name, &text);

        let out = pin(live, &file, &[]);
        out.expect_code(0, &format!("pin {name}"));
        expect_git_applies(name, &text, &expected, &out.stdout);
        file_holds(
            &file,
            &text,
            &format!("{name}: a diff leaves the file alone"),
        );

        let out = pin(live, &file, &["--write"]);
        out.expect_code(0, &format!("pin --write {name}"));
        assert!(out.stdout.is_empty(), "{}", out.describe());
        assert!(
            out.stderr.contains(&format!("{changed} line(s) pinned")),
            "{}",
            out.describe()
        );
        file_holds(&file, &expected, &format!("{name}: rewritten in place"));

        // Pinning a pinned file changes nothing.
        let out = pin(live, &file, &["--write"]);
        out.expect_code(0, &format!("pin --write {name} again"));
        file_holds(&file, &expected, &format!("{name}: idempotent"));
        let leftovers: Vec<_> = std::fs::read_dir(work.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("trustpin-tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
}

#[test]
fn pin_refuses_the_whole_file_for_one_unverifiable_reference_unless_keep_going() {
    let Some(live) = live() else { return };
    let work = temp_dir("trustpin-pin-");
    let text = MANIFEST.replace(
        "image: example.com/batch/repo03\n",
        "image: example.com/batch/repo03:v11\n",
    );
    let file = write_in(&work, "deployment.yaml", &text);

    for extra in [&[][..], &["--write"][..]] {
        let out = pin(live, &file, extra);
        out.expect_code(1, &format!("pin {extra:?} with an unsigned tag"));
        assert!(
            out.stdout.is_empty(),
            "nothing to apply: {}",
            out.describe()
        );
        out.expect_stderr(&["example.com/batch/repo03:v11", "not rewritten"], "");
        file_holds(&file, &text, &format!("{extra:?}: file unchanged"));
    }

    // --keep-going: the trusted ones rewritten, the unverifiable one left alone, still exit 1.
    let expected = pinned_in(live, &text, &[REPO01_V2, REPO02_V3]);
    let out = pin(live, &file, &["--keep-going"]);
    out.expect_code(1, "pin --keep-going");
    expect_git_applies("deployment.yaml", &text, &expected, &out.stdout);
    let out = pin(live, &file, &["--keep-going", "--write"]);
    out.expect_code(1, "pin --keep-going --write");
    out.expect_stderr(&["example.com/batch/repo03:v11"], "");
    file_holds(&file, &expected, "good references pinned, the bad one kept");
}

#[test]
fn pin_leaves_a_digest_only_reference_as_it_is() {
    let Some(live) = live() else { return };
    let work = temp_dir("trustpin-pin-");
    // Already pinned by digest (v3's), no tag: nothing to add. Appending `:latest` would claim a
    // tag that is signed for another digest.
    let v3 = &live.repos[8].tags["v3"].0;
    assert_ne!(v3, &live.repos[8].tags["latest"].0);
    let text = format!(
        "FROM example.com/batch/repo08@sha256:{v3} AS base\nFROM example.com/batch/repo09:v1\n"
    );
    let expected = text.replace("example.com/batch/repo09:v1", &pinned(live, 9, "v1"));
    let file = write_in(&work, "Dockerfile", &text);
    let out = pin(live, &file, &["--write"]);
    out.expect_code(0, "pin a digest-only reference");
    file_holds(
        &file,
        &expected,
        &format!(
            "only the tag reference is pinned; the digest-only one is kept byte for byte; {}",
            out.stderr
        ),
    );
}

#[test]
fn pin_does_not_take_a_python_import_in_a_manifest_for_a_from_line() {
    let Some(live) = live() else { return };
    let work = temp_dir("trustpin-pin-");
    let text = "apiVersion: v1
kind: ConfigMap
metadata:
  name: script
data:
  main.py: |
    from os import path
    print(path.sep)
---
apiVersion: v1
kind: Pod
metadata:
  name: runner
spec:
  containers:
    - image: example.com/batch/repo10:v5
";
    let expected = text.replace("example.com/batch/repo10:v5", &pinned(live, 10, "v5"));
    let file = write_in(&work, "pod.yaml", text);
    let out = pin(live, &file, &["--write"]);
    out.expect_code(
        0,
        "pin a manifest whose ConfigMap holds `from os import path`",
    );
    file_holds(&file, &expected, &out.stderr);
}

#[test]
fn pin_reads_flow_yaml_args_and_copy_from_warns_for_the_rest_and_lists_rewrites_as_json() {
    let Some(live) = live() else { return };
    let work = temp_dir("trustpin-pin-");
    let yaml = "services: {web: {image: example.com/batch/repo11:v1, ports: [\"80:80\"]}}
pods:
  - {name: a, image: \"example.com/batch/repo12:v2\"}
  - {name: b, image: ${IMAGE}}
metadata: {note: \"built from example.com/batch/repo13:v3\"}
";
    let yaml_expected = pinned_in(
        live,
        yaml,
        &[
            (
                "image: example.com/batch/repo11:v1,",
                "example.com/batch/repo11:v1",
                11,
                "v1",
            ),
            (
                "\"example.com/batch/repo12:v2\"",
                "example.com/batch/repo12:v2",
                12,
                "v2",
            ),
        ],
    );
    let dockerfile = "ARG BASE=example.com/batch/repo14:v4
FROM ${BASE} AS build
COPY --from=example.com/batch/repo15:v5 /x /x
COPY --from=build /out /out
RUN --mount=type=bind,from=example.com/batch/repo16:v6,target=/m true
FROM $OTHER:1
";
    let dockerfile_expected = pinned_in(
        live,
        dockerfile,
        &[
            (
                "BASE=example.com/batch/repo14:v4",
                "example.com/batch/repo14:v4",
                14,
                "v4",
            ),
            (
                "=example.com/batch/repo15:v5 ",
                "example.com/batch/repo15:v5",
                15,
                "v5",
            ),
        ],
    );
    for (name, text, expected, warned) in [
        (
            "compose.yaml",
            yaml,
            &yaml_expected,
            &[
                ("4", "${IMAGE}", "it holds a variable"),
                ("5", "example.com/batch/repo13:v3", "not an `image:` field"),
            ][..],
        ),
        (
            "Dockerfile",
            dockerfile,
            &dockerfile_expected,
            &[
                ("5", "example.com/batch/repo16:v6", "not an `image:` field"),
                ("6", "$OTHER:1", "it holds a variable"),
            ],
        ),
    ] {
        assert_ne!(
            text,
            expected.as_str(),
            "{name}: the expectation changes something"
        );
        let file = write_in(&work, name, text);
        let out = pin(live, &file, &[]);
        out.expect_code(0, &format!("pin {name}"));
        expect_git_applies(name, text, expected, &out.stdout);
        for (line, what, why) in warned {
            let warning = format!(
                "warning: {name}:{line}: {what} looks like an image but is left alone: {why}"
            );
            assert!(
                out.stderr.lines().any(|l| l.starts_with(&warning)),
                "no {warning:?}: {}",
                out.describe()
            );
        }
        let warnings = out
            .stderr
            .lines()
            .filter(|l| l.contains("left alone"))
            .count();
        assert_eq!(warnings, warned.len(), "{}", out.describe());

        // --output json: each rewrite, each string left alone; nothing written
        let out = pin(live, &file, &["-o", "json"]);
        out.expect_code(0, &format!("pin {name} -o json"));
        let v = out.json();
        assert_eq!(v["file"], name, "{v}");
        assert_eq!(v["written"], false, "{v}");
        assert_eq!(v["refused"], serde_json::json!([]), "{v}");
        let mut applied = text.to_string();
        for r in v["rewrites"].as_array().unwrap() {
            let (from, to) = (r["from"].as_str().unwrap(), r["to"].as_str().unwrap());
            assert!(to.starts_with(&format!("{from}@sha256:")), "{r}");
            assert_eq!(r["digest"].as_str().unwrap(), &to[from.len() + 1..], "{r}");
            // line and column (1-based) point at the reference
            let line = text
                .lines()
                .nth(r["line"].as_u64().unwrap() as usize - 1)
                .unwrap();
            let col = r["column"].as_u64().unwrap() as usize - 1;
            assert_eq!(&line[col..col + from.len()], from, "{r}");
            applied = applied.replacen(from, to, 1);
        }
        assert_eq!(&applied, expected, "{v}");
        assert_eq!(
            v["left_alone"].as_array().map(Vec::len),
            Some(warned.len()),
            "{v}"
        );
        file_holds(&file, text, &format!("{name}: json leaves the file alone"));
    }
    let kinds = |name: &str| {
        let out = pin(live, &work.path().join(name), &["-o", "json"]);
        out.json()["rewrites"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["kind"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds("Dockerfile"), ["arg", "copy-from"]);
    assert_eq!(kinds("compose.yaml"), ["yaml", "yaml"]);

    // `-`: standard input in, the rewritten text out; --write needs a file
    let policy = live.policy();
    let args = ["pin", "-", "--no-cache", "--policy", policy];
    let out = trustpin_with(&args, Some(dockerfile.as_bytes()), None);
    out.expect_code(0, "pin -");
    assert_eq!(out.stdout, dockerfile_expected, "{}", out.describe());
    out.expect_stderr(&["warning: <stdin>:5: example.com/batch/repo16:v6"], "");
    let mut write = args.to_vec();
    write.push("--write");
    let out = trustpin_with(&write, Some(dockerfile.as_bytes()), None);
    out.expect_code(2, "pin - --write");
    out.expect_stderr(&["--write needs a file"], "");
    assert!(out.stdout.is_empty(), "{}", out.describe());
}
