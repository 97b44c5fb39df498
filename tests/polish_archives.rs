//! Issue 15, Correctness 1: archives and the trust cache. Two archives of one real notary
//! repository, made a day apart (the second verified `--at` a day later), are verified in turn:
//! `--at` neither reads nor writes rollback state, an offline folder uses no cache unless
//! `--cache-dir` is given, and a real rollback names the cache file and how to reset it.
//!
//! Needs `notary`, `notary-server` and `openssl` (Debian package `notary`); without them it fails
//! with the install hint, unless TRUSTPIN_SKIP_LIVE=1.

mod common;
use common::notary::{live_server, Target};
use common::{Cmd, Output};

use std::path::Path;

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// `trustpin ARGS...` with a private HOME whose default cache (`$XDG_CACHE_HOME/trustpin`) is
/// `cache`, and TRUSTPIN_NO_CACHE removed, so the default cache is really in play.
fn run(cache_home: &Path, args: &[String]) -> Output {
    Cmd::trustpin()
        .private_home()
        .env("XDG_CACHE_HOME", cache_home)
        .env_remove("TRUSTPIN_NO_CACHE")
        .args(args)
        .run()
}

/// Every file name below `dir`, recursively.
fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_below(&p));
        } else {
            out.push(s(&p));
        }
    }
    out
}

/// Copy the folder `from` to `to` (created), recursively.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[test]
fn two_archives_a_day_apart_verify_in_turn_and_a_real_rollback_names_its_cache_file() {
    let Some((ns, c)) = live_server(false) else {
        return;
    };
    let gun = "example.com/polish/archives";
    let t1 = c.publish_repo(gun, &[("v1", "archive one")]).remove(0);
    let key = c.write_root_key(gun, "root.pub");
    let home = tempfile::tempdir().unwrap();
    let cache_home = home.path().join("cache");
    let archive = |out: &Path, at: &str| {
        run(
            &cache_home,
            &[
                "archive".into(),
                format!("{gun}:v1"),
                "--server".into(),
                ns.url(),
                "--root-key".into(),
                s(&key),
                "--at".into(),
                at.into(),
                "--out".into(),
                s(out),
            ],
        )
    };
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let (at_a, at_b) = (rfc3339(now), rfc3339(now + time::Duration::days(1)));
    let a = tempfile::tempdir().unwrap();
    archive(a.path(), &at_a).expect_code(0, "archive A");
    // A day later the repository has moved on (a new tag: every version but root's goes up).
    c.add_target(gun, &Target::of("v2", "archive two"), "targets");
    c.publish(gun);
    let b = tempfile::tempdir().unwrap();
    archive(b.path(), &at_b).expect_code(0, "archive B, a day later");
    assert!(
        files_below(&cache_home)
            .iter()
            .all(|f| !f.ends_with("versions.json")),
        "archiving --at wrote rollback state: {:?}",
        files_below(&cache_home)
    );

    let want = [format!("{gun}@sha256:{}", t1.sha256)];
    let offline = |dir: &Path, extra: &[&str]| {
        let mut args = vec![
            "resolve".to_owned(),
            format!("{gun}:v1"),
            "--metadata-dir".into(),
            s(dir),
            "--root-key".into(),
            s(&key),
        ];
        args.extend(extra.iter().map(|x| x.to_string()));
        run(&cache_home, &args)
    };

    // Both archives are unpacked in turn at one path (the cache is keyed by the folder): the
    // newer one, then the older one, each verified at its own time with the default cache. Both
    // answer, and no rollback state is written anywhere.
    let here = tempfile::tempdir().unwrap();
    let current = here.path().join("trust");
    let unpack = |from: &Path| {
        let _ = std::fs::remove_dir_all(&current);
        copy_tree(from, &current);
    };
    unpack(b.path());
    offline(&current, &["--at", &at_b]).expect_lines(&want, "B at its time");
    unpack(a.path());
    offline(&current, &["--at", &at_a])
        .expect_lines(&want, "A at its time, after B")
        .expect_stderr(
            &["rollback state is neither read nor updated"],
            "the --at note",
        );
    // Without --at (both are still fresh), an offline folder uses no cache at all.
    unpack(b.path());
    offline(&current, &[]).expect_lines(&want, "B now");
    unpack(a.path());
    offline(&current, &[]).expect_lines(&want, "A now, after B, no --cache-dir");
    let default_cache = files_below(&cache_home.join("trustpin"));
    assert!(
        default_cache.iter().all(|f| !f.ends_with("versions.json")),
        "rollback state written for an offline folder or --at: {default_cache:?}"
    );

    // With --cache-dir and no --at, the older archive after the newer one is a rollback; the
    // message names the state file, how to reset it, and --at.
    let explicit = tempfile::tempdir().unwrap();
    let cd = s(explicit.path());
    unpack(b.path());
    offline(&current, &["--cache-dir", &cd]).expect_lines(&want, "B with --cache-dir");
    unpack(a.path());
    let state = files_below(explicit.path())
        .into_iter()
        .find(|f| f.ends_with("versions.json"))
        .expect("--cache-dir holds rollback state after B");
    let folder = s(Path::new(&state).parent().unwrap());
    let refused = offline(&current, &["--cache-dir", &cd, "--output", "json"]);
    refused.expect_code(1, "A after B with --cache-dir");
    let item = &refused.json_array()[0];
    assert_eq!(item["error"]["kind"], "rollback", "{}", refused.describe());
    let message = common::error_message(item);
    for words in [
        "rollback: ",
        "is older than version",
        &format!("the higher version is recorded in {state}"),
        &format!("delete {folder} to reset this repository's rollback state"),
        "--at",
    ] {
        assert!(message.contains(words), "{words:?} not in {message:?}");
    }
    // --at with that very cache: accepted, and the state file is left as it was.
    let before = std::fs::read(&state).unwrap();
    offline(&current, &["--cache-dir", &cd, "--at", &at_a])
        .expect_lines(&want, "A --at, same cache");
    assert_eq!(
        std::fs::read(&state).unwrap(),
        before,
        "--at changed the rollback state"
    );
    // Doing what the message says resets it.
    std::fs::remove_dir_all(&folder).unwrap();
    offline(&current, &["--cache-dir", &cd]).expect_lines(&want, "A after the reset");
}
