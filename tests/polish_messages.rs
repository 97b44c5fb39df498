//! Issue 15, "Messages that say what to do next": a server without a scheme (once per run, naming
//! DOCKER_CONTENT_TRUST_SERVER when it came from there), a bad `--at` (once, with an example),
//! expired data (suggests `--at` and `--level permissive`), a wrong key (suggests get-root-key and
//! root rotation), and `--timeout 0` / `--jobs 0` refused. Offline, over testdata/ and the shared
//! Docker Hub data; nothing is fetched.

mod common;
use common::{Cmd, Output};

const KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/keys/delegated.pub");
const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
const IMAGE: &str = "example.com/trustpin/delegated:v1";

fn trustpin(args: &[&str]) -> Output {
    Cmd::trustpin()
        .env_remove("DOCKER_CONTENT_TRUST_SERVER")
        .args(args)
        .run()
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn a_server_without_a_scheme_is_named_once_per_run_with_its_origin() {
    let images = [
        "example.com/a/b:v1",
        "example.com/c/d:v1",
        "example.com/e/f:v2",
    ];
    let mut args = vec!["resolve", "--server", "127.0.0.1:4455", "--root-key", KEY];
    args.extend(images);
    let out = trustpin(&args);
    out.expect_code(2, "no scheme");
    let want = "--server 127.0.0.1:4455 has no scheme: a server URL needs one, e.g. https://127.0.0.1:4455";
    assert_eq!(count(&out.stderr, want), 1, "{}", out.describe());
    assert!(!out.stderr.contains("relative URL"), "{}", out.describe());

    let mut from_env = vec!["resolve", "--root-key", KEY];
    from_env.extend(images);
    let out = Cmd::trustpin()
        .env("DOCKER_CONTENT_TRUST_SERVER", "127.0.0.1:4455")
        .args(&from_env)
        .run();
    out.expect_code(2, "no scheme, from the environment");
    assert_eq!(
        count(
            &out.stderr,
            "DOCKER_CONTENT_TRUST_SERVER=127.0.0.1:4455 has no scheme"
        ),
        1,
        "{}",
        out.describe()
    );
    // get-root-key and inspect say the same.
    for sub in [
        &[
            "get-root-key",
            "-s",
            "127.0.0.1:4455",
            "-i",
            "example.com/a/b",
        ][..],
        &[
            "inspect",
            "--server",
            "127.0.0.1:4455",
            "--root-key",
            KEY,
            "example.com/a/b",
        ],
    ] {
        trustpin(sub)
            .expect_code(2, sub[0])
            .expect_stderr(&[want], sub[0]);
    }
}

#[test]
fn a_date_without_a_time_is_explained_once_with_an_example() {
    let out = common::resolve_testdata("2026-11-23", &[IMAGE]);
    out.expect_code(2, "--at date only");
    assert_eq!(
        count(&out.stderr, "could not be parsed"),
        1,
        "{}",
        out.describe()
    );
    out.expect_stderr(
        &[
            "--at \"2026-11-23\" is not an RFC 3339 time",
            "e.g. 2026-11-23T00:00:00Z",
        ],
        "",
    );
}

#[test]
fn expired_data_suggests_at_and_permissive() {
    let out = common::resolve_testdata("2030-01-01T00:00:00Z", &[IMAGE]);
    out.expect_refused(
        &[
            "timestamp.json expired at",
            "verify --at the time it was made",
            "--level permissive",
        ],
        "expired testdata",
    );
}

#[test]
fn a_wrong_key_suggests_get_root_key_and_rotation() {
    let data = common::shared_trust_data();
    let key_b = format!("{data}/keys/phbelitz-b.pub");
    let out = trustpin(&[
        "resolve",
        "--metadata-dir",
        data,
        "--root-key",
        &key_b,
        "--at",
        "2019-10-15T00:00:00Z",
        "docker.io/phbelitz/alice-image:test",
    ]);
    out.expect_refused(
        &[
            "root.json is not signed by the pinned key",
            "get-root-key -i IMAGE",
            "rotated",
        ],
        "alice with key b",
    );
}

#[test]
fn zero_timeouts_and_jobs_are_refused() {
    for (flag, value) in [
        ("--timeout", "0"),
        ("--connect-timeout", "0"),
        ("--jobs", "0"),
    ] {
        let out = trustpin(&[
            "resolve",
            "--metadata-dir",
            TESTDATA,
            "--root-key",
            KEY,
            flag,
            value,
            IMAGE,
        ]);
        out.expect_code(2, flag)
            .expect_stderr(&[&format!("invalid value '0' for '{flag}")], flag);
    }
}

#[test]
fn get_root_key_prints_both_ids_labelled_and_jsonl_is_one_line() {
    let data = common::shared_trust_data();
    let args = [
        "get-root-key",
        "-i",
        "docker.io/phbelitz/sample-image",
        "--metadata-dir",
        data,
    ];
    let out = common::trustpin_home(&args);
    out.expect_code(0, "get-root-key");
    let lines: Vec<&str> = out.stdout.lines().collect();
    let json = common::trustpin_home(&[&args[..], &["--output", "json"]].concat()).json();
    let key = &json["keys"][0];
    assert_eq!(
        lines[0],
        format!("KeyID: {}", key["key_id"].as_str().unwrap()),
        "{}",
        out.describe()
    );
    assert_eq!(
        lines[1],
        "Key: -----BEGIN PUBLIC KEY-----",
        "{}",
        out.describe()
    );
    let canonical = key["canonical_id"].as_str().unwrap();
    assert_ne!(
        key["key_id"], key["canonical_id"],
        "the two IDs of one key differ"
    );
    assert_eq!(
        lines.last().copied(),
        Some(format!("CanonicalID: {canonical}").as_str()),
        "{}",
        out.describe()
    );
    assert_eq!(
        canonical,
        common::notary::canonical_key_id(key["pem"].as_str().unwrap())
    );
    out.expect_stderr(
        &[
            "KeyID is the root certificate's ID",
            "CanonicalID is its public key's ID",
        ],
        "",
    );
    let jsonl = common::trustpin_home(&[&args[..], &["--output", "jsonl"]].concat());
    assert_eq!(jsonl.stdout.lines().count(), 1, "{}", jsonl.describe());
    assert_eq!(jsonl.json_lines()[0], json);
}
