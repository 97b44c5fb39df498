#![allow(dead_code)]
//! The integration tests' shared harness (each `tests/*.rs` says `mod common;`).
//!
//! - [`Cmd`]: one way to run a program of this crate ([`Cmd::trustpin`], [`Cmd::get_root_key`]) or
//!   any other, with args, environment, stdin, a working directory and a time limit.
//! - [`Output`]: what a run did (exit code, stdout, stderr, time), with the assertions the tests
//!   share ([`Output::expect_code`], [`Output::expect`], [`Output::expect_refused`]) and JSON
//!   parsing of stdout ([`Output::json`], [`Output::json_array`], [`Output::json_lines`]); every
//!   failure message prints the whole run ([`Output::describe`]).
//! - [`error_message`]: the `error` of one image in `resolve --output json|jsonl`.
//! - Data and ports: [`TESTDATA`] and [`resolve_testdata`] (the shipped offline data),
//!   [`shared_trust_data`] (../shared/trust-data, asserted present), [`free_port`].
//!
//! ```ignore
//! mod common;
//! use common::Cmd;
//! let out = Cmd::trustpin().args(["resolve", "example.com/app:v1"]).run();
//! out.expect(1, &["not signed"]);
//! ```
//!
//! Submodules: [`builder`] (a Notary v1 repository made by the test), [`notary`] (the real
//! notary-server and `notary` client), [`server`] (a scriptable loopback HTTP(S) server),
//! [`token_issuer`] (a registry token service on top of it), [`notation_table`] (the shared
//! Notation data's expected-results table, run by every layer).

pub mod builder;
pub mod load;
pub mod notary;
pub mod notation_gen;
pub mod notation_table;
pub mod oci_data;
pub mod oci_server;
pub mod registry;
pub mod server;
pub mod token_issuer;
pub mod webhook;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `trustpin` binary of this crate.
pub const TRUSTPIN: &str = env!("CARGO_BIN_EXE_trustpin");
/// The standalone `get-root-key` binary of this crate.
pub const GET_ROOT_KEY: &str = env!("CARGO_BIN_EXE_get-root-key");
/// How long one run may take unless [`Cmd::timeout`] says otherwise.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The four top-level roles.
pub const TOP_ROLES: [&str; 4] = ["root", "timestamp", "snapshot", "targets"];
/// [`TOP_ROLES`] and the `targets/releases` delegation: every file of most scenarios' repository.
pub const ROLES: [&str; 5] = [
    "root",
    "timestamp",
    "snapshot",
    "targets",
    "targets/releases",
];

// ------------------------------------------------------------------------------------------------
// Running programs

/// What a program did.
#[derive(Debug)]
pub struct Output {
    /// Exit code; -1 when it was killed after its time limit or ended by a signal.
    pub code: i32,
    /// Killed after its time limit.
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// CPU time (user + system) of the measured process, when it was run under `/usr/bin/time`
    /// ([`builder::trustpin_measured`]): a bound on work that a loaded machine does not move the
    /// way it moves wall time.
    pub cpu: Option<Duration>,
    /// The command line, for messages.
    pub command: String,
}

impl Output {
    /// Exit 0 (and not killed).
    pub fn success(&self) -> bool {
        self.code == 0 && !self.timed_out
    }

    /// stdout and stderr together, for "the message mentions ..." assertions.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// The whole run, for failure messages.
    pub fn describe(&self) -> String {
        let status = if self.timed_out {
            format!("timed out after {:.1?}", self.elapsed)
        } else {
            format!("exit {} after {:.1?}", self.code, self.elapsed)
        };
        format!(
            "`{}`: {status}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.stdout, self.stderr
        )
    }

    /// Panics (with the whole run) unless the program exited 0; returns stdout.
    pub fn ok(self) -> String {
        if !self.success() {
            panic!("command failed: {}", self.describe());
        }
        self.stdout
    }

    /// Assert the exit code; `what` names the step in the message.
    pub fn expect_code(&self, code: i32, what: &str) -> &Self {
        assert_eq!(
            self.code,
            code,
            "{what}: expected exit {code}; {}",
            self.describe()
        );
        self
    }

    /// Assert that stderr contains every one of `words`.
    pub fn expect_stderr<S: AsRef<str>>(&self, words: &[S], what: &str) -> &Self {
        for w in words.iter().map(AsRef::as_ref) {
            assert!(
                self.stderr.contains(w),
                "{what}: stderr lacks {w:?}: {}",
                self.describe()
            );
        }
        self
    }

    /// Assert that stderr contains at least one of `words`.
    pub fn expect_stderr_any(&self, words: &[&str], what: &str) -> &Self {
        assert!(
            words.iter().any(|w| self.stderr.contains(w)),
            "{what}: stderr has none of {words:?}: {}",
            self.describe()
        );
        self
    }

    /// Assert that stdout contains none of `words`.
    pub fn expect_stdout_lacks(&self, words: &[&str], what: &str) -> &Self {
        self.expect_lacks("stdout", &self.stdout, words, what)
    }

    /// Assert that stderr contains none of `words`.
    pub fn expect_stderr_lacks(&self, words: &[&str], what: &str) -> &Self {
        self.expect_lacks("stderr", &self.stderr, words, what)
    }

    fn expect_lacks(&self, name: &str, text: &str, words: &[&str], what: &str) -> &Self {
        for w in words {
            assert!(
                !text.contains(w),
                "{what}: {name} has {w:?}: {}",
                self.describe()
            );
        }
        self
    }

    /// Assert the exit code and that stderr contains every one of `words`.
    pub fn expect(&self, code: i32, words: &[&str]) -> &Self {
        self.expect_code(code, "").expect_stderr(words, "")
    }

    /// A refusal: exit 1, nothing at all on stdout (no digest), every one of `words` on stderr.
    pub fn expect_refused(&self, words: &[&str], what: &str) -> &Self {
        self.expect_code(1, what);
        assert!(
            self.stdout.is_empty(),
            "{what}: a refusal printed a digest: {}",
            self.describe()
        );
        self.expect_stderr(words, what)
    }

    /// Success, and stdout is `GUN@sha256:HEX` (and white space).
    pub fn expect_pinned(&self, gun: &str, hex: &str, what: &str) -> &Self {
        self.expect_code(0, what);
        assert_eq!(
            self.stdout.trim(),
            format!("{gun}@sha256:{hex}"),
            "{what}: {}",
            self.describe()
        );
        self
    }

    /// The non-empty lines of stdout, trimmed.
    pub fn lines(&self) -> Vec<String> {
        self.stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Success: exit 0 and exactly `want` as the non-empty lines of stdout ([`Output::lines`]).
    pub fn expect_lines<S: AsRef<str>>(&self, want: &[S], what: &str) -> &Self {
        self.expect_code(0, what);
        let want: Vec<&str> = want.iter().map(AsRef::as_ref).collect();
        assert_eq!(self.lines(), want, "{what}: {}", self.describe());
        self
    }

    /// stdout as one JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("output is not JSON ({e}): {}", self.describe()))
    }

    /// stdout as one JSON array (`--output json`).
    pub fn json_array(&self) -> Vec<Value> {
        match self.json() {
            Value::Array(items) => items,
            _ => panic!("--output json is not an array: {}", self.describe()),
        }
    }

    /// stdout as one JSON document a line (`--output jsonl`).
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{}", self.describe()))
            })
            .collect()
    }
}

/// The `error` of one image in `resolve --output json|jsonl`: the `message` of its
/// `{"kind", "role", "message"}` object. Panics when there is no such error.
pub fn error_message(v: &Value) -> &str {
    // `error` is an object since the shape change; a bare string is refused here.
    v["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {v}"))
}

/// A program to run: args, environment, stdin, working directory, time limit.
pub struct Cmd {
    cmd: Command,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    /// Temporary folders the run uses (HOME, cache), removed after it.
    dirs: Vec<tempfile::TempDir>,
}

impl Cmd {
    /// Any program, stdin closed, [`TIMEOUT`].
    pub fn new(program: impl AsRef<OsStr>) -> Cmd {
        Cmd {
            cmd: Command::new(program),
            stdin: None,
            timeout: TIMEOUT,
            dirs: Vec::new(),
        }
    }

    /// A binary of this crate, without the environment's DOCKER_CONTENT_TRUST_SERVER.
    pub fn bin(program: &str) -> Cmd {
        Cmd::new(program).env_remove("DOCKER_CONTENT_TRUST_SERVER")
    }

    /// `trustpin` ([`Cmd::bin`]).
    pub fn trustpin() -> Cmd {
        Cmd::bin(TRUSTPIN)
    }

    /// The standalone `get-root-key` ([`Cmd::bin`]).
    pub fn get_root_key() -> Cmd {
        Cmd::bin(GET_ROOT_KEY)
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Cmd {
        self.cmd.arg(arg);
        self
    }

    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Cmd {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Cmd {
        self.cmd.env(key, value);
        self
    }

    pub fn envs<K: AsRef<OsStr>, V: AsRef<OsStr>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Cmd {
        self.cmd.envs(vars);
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Cmd {
        self.cmd.env_remove(key);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Cmd {
        self.cmd.current_dir(dir);
        self
    }

    /// Feed `input` on stdin (closed otherwise).
    pub fn stdin(mut self, input: Option<&[u8]>) -> Cmd {
        self.stdin = input.map(<[u8]>::to_vec);
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Cmd {
        self.timeout = timeout;
        self
    }

    /// No credentials of the environment's (TRUSTPIN_USERNAME, TRUSTPIN_PASSWORD removed).
    pub fn no_credentials(self) -> Cmd {
        self.env_remove("TRUSTPIN_USERNAME")
            .env_remove("TRUSTPIN_PASSWORD")
    }

    /// A private HOME and cache (HOME, XDG_CACHE_HOME = HOME/cache; DOCKER_CONFIG and the
    /// credential variables removed): no trust cache, docker config or credentials of the user's
    /// are read or written, and no state carries over between runs (fresh notary-servers reuse
    /// ports and GUNs, which a shared rollback cache would take for a rollback).
    pub fn private_home(mut self) -> Cmd {
        let home = temp_dir("trustpin-test-home-");
        self.cmd
            .env("HOME", home.path())
            .env("XDG_CACHE_HOME", home.path().join("cache"));
        self.dirs.push(home);
        self.env_remove("DOCKER_CONFIG").no_credentials()
    }

    /// No trust cache: TRUSTPIN_NO_CACHE=1, and a fresh XDG_CACHE_HOME besides (a test that wants
    /// the cache passes `--cache-dir`, which wins).
    pub fn fresh_cache(mut self) -> Cmd {
        let cache = tempfile::tempdir().unwrap();
        self.cmd
            .env("TRUSTPIN_NO_CACHE", "1")
            .env("XDG_CACHE_HOME", cache.path());
        self.dirs.push(cache);
        self
    }

    /// Run it to the end or its time limit.
    pub fn run(self) -> Output {
        run_with_input(self.cmd, self.stdin.as_deref(), self.timeout)
    }
}

/// `trustpin ARGS...` ([`Cmd::trustpin`]: the tests' environment otherwise as it is).
pub fn trustpin<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Cmd::trustpin().args(args).run()
}

/// `trustpin ARGS...` with a private HOME and cache ([`Cmd::private_home`]).
pub fn trustpin_home<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Cmd::trustpin().private_home().args(args).run()
}

/// The standalone `get-root-key ARGS...` with a private HOME and cache ([`Cmd::private_home`]).
pub fn get_root_key<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Cmd::get_root_key().private_home().args(args).run()
}

/// `trustpin inspect IMAGES... OPTIONS... EXTRA...` with a private HOME and cache.
pub fn inspect_home(images: &[&str], options: &[&OsStr], extra: &[&str]) -> Output {
    let mut args: Vec<&OsStr> = vec!["inspect".as_ref()];
    args.extend(images.iter().map(OsStr::new));
    args.extend(options);
    args.extend(extra.iter().map(OsStr::new));
    trustpin_home(&args)
}

/// The shipped offline data (testdata/, made by the real notary) and its delegated repository.
pub const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
pub const TESTDATA_KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/keys/delegated.pub");

/// The shared Docker Hub data beside the project (../shared/trust-data, real notary.docker.io
/// trust data with its root keys); a test that needs it fails loudly when it is missing.
pub fn shared_trust_data() -> &'static str {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/trust-data");
    assert!(
        Path::new(data).join("keys").is_dir(),
        "{data} is missing: the shared trust data is needed"
    );
    data
}

/// `trustpin resolve --metadata-dir testdata --root-key <delegated key> --at AT REST...`.
pub fn resolve_testdata(at: &str, rest: &[&str]) -> Output {
    let mut args = vec![
        "resolve",
        "--metadata-dir",
        TESTDATA,
        "--root-key",
        TESTDATA_KEY,
        "--at",
        at,
    ];
    args.extend_from_slice(rest);
    Cmd::trustpin().args(&args).run()
}

/// Both ways of asking for the root key: (what, output) for `get-root-key ARGS` and
/// `trustpin get-root-key ARGS`, each with a private HOME.
pub fn both_get_root_key(args: &[&str]) -> Vec<(&'static str, Output)> {
    let mut sub = vec!["get-root-key"];
    sub.extend_from_slice(args);
    vec![
        ("get-root-key", get_root_key(args)),
        ("trustpin get-root-key", trustpin_home(&sub)),
    ]
}

/// [`both_get_root_key`], each of which must succeed and pass `check` (given what it is and its
/// output); they must print the same (`differ` says what it means when they do not). What they
/// print.
pub fn both_get_root_key_agree(
    args: &[&str],
    differ: &str,
    mut check: impl FnMut(&str, &Output),
) -> String {
    let mut stdouts = Vec::new();
    for (what, out) in both_get_root_key(args) {
        out.expect_code(0, what);
        check(what, &out);
        stdouts.push(out.stdout);
    }
    assert_eq!(stdouts[0], stdouts[1], "{differ}");
    stdouts.swap_remove(0)
}

fn describe_command(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "\"'\\<>&|;$`".contains(c)) {
            s.push_str(&format!("{a:?}"));
        } else {
            s.push_str(&a);
        }
    }
    s
}

/// Runs `cmd` with stdin from `input` (or /dev/null), kills it after `timeout`.
pub fn run_with_input(mut cmd: Command, input: Option<&[u8]>, timeout: Duration) -> Output {
    let command = describe_command(&cmd);
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{command}`: {e}"));
    if let Some(input) = input {
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = start + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("waiting for `{command}`: {e}"),
        }
    };
    let elapsed = start.elapsed();
    let stdout = String::from_utf8_lossy(&out_t.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned();
    Output {
        code: status.and_then(|s| s.code()).unwrap_or(-1),
        timed_out: status.is_none(),
        stdout,
        stderr,
        elapsed,
        cpu: None,
        command,
    }
}

/// Runs `cmd` (stdin /dev/null) with a timeout.
pub fn run(cmd: Command, timeout: Duration) -> Output {
    run_with_input(cmd, None, timeout)
}

// ------------------------------------------------------------------------------------------------
// Reading trustpin's output

/// The strings of a JSON array, as a set (panics on anything else).
pub fn str_set(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("not a string: {s}"))
                .to_string()
        })
        .collect()
}

/// DER of the one PEM `PUBLIC KEY` block in `text` (header lines allowed).
pub fn public_key_der(text: &str) -> Vec<u8> {
    let blocks = pem::parse_many(text).unwrap_or_else(|e| panic!("not PEM ({e}):\n{text}"));
    assert_eq!(blocks.len(), 1, "expected one PEM block:\n{text}");
    assert_eq!(blocks[0].tag(), "PUBLIC KEY", "{text}");
    blocks[0].contents().to_vec()
}

/// The (role, digest) pairs of one entry of `Disagreements` in `inspect`'s JSON (its `Signed`).
pub fn disagreeing_roles(disagreement: &Value) -> BTreeSet<(String, String)> {
    let field = |s: &Value, name: &str| {
        s[name]
            .as_str()
            .unwrap_or_else(|| panic!("{name} of {s}"))
            .to_string()
    };
    disagreement["Signed"]
        .as_array()
        .unwrap_or_else(|| panic!("no Signed in {disagreement}"))
        .iter()
        .map(|s| (field(s, "Role"), field(s, "Digest")))
        .collect()
}

/// `inspect`'s text output has `n` rows in its (released) `SIGNED TAG` table, each for `tag`,
/// and a `WARNING` line saying `tag` is signed with different digests.
pub fn expect_disagreeing_rows(out: &Output, tag: &str, n: usize) {
    let rows = text_tag_rows(&out.stdout);
    assert_eq!(rows.len(), n, "{}", out.describe());
    assert!(
        rows.iter().all(|r| r.starts_with(&format!("{tag} "))),
        "{rows:?}"
    );
    let warning = format!("WARNING: tag {tag:?} is signed with different digests: ");
    assert!(
        out.stdout.lines().any(|l| l.starts_with(&warning)),
        "no {warning:?} line: {}",
        out.describe()
    );
}

/// The rows of the (first) `SIGNED TAG` table of `inspect`'s text output: the released tags.
pub fn text_tag_rows(text: &str) -> Vec<String> {
    text_table_rows(text, "SIGNED TAG ")
}

/// The rows of the `n`th table of `inspect`'s text output whose header starts with `head`.
pub fn text_table_rows_nth(text: &str, head: &str, n: usize) -> Vec<String> {
    let mut lines = text.lines();
    for _ in 0..=n {
        lines.by_ref().find(|l| l.starts_with(head));
    }
    lines
        .take_while(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// [`text_table_rows_nth`] of the first such table.
pub fn text_table_rows(text: &str, head: &str) -> Vec<String> {
    text_table_rows_nth(text, head, 0)
}

// ------------------------------------------------------------------------------------------------
// Small helpers

/// A new temporary folder named `prefix` and a random tail, removed when dropped.
pub fn temp_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("tempdir")
}

/// A free TCP port on 127.0.0.1: bound, then released, so nothing listens on it (a caller
/// that starts a server there retries on a race).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// Lower-case hex of `bytes`' SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}
