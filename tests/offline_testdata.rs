//! The offline repositories under testdata/ (made by tools/make-testdata.sh with the real notary):
//! every tag notary signed resolves to the digest `notary lookup` gave, including target names the
//! server escapes on the wire (`<`, `>`, `&`, U+2028) and ones Unicode normalisation would change.

mod common;

use std::path::PathBuf;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use trustpin::fetch::dir::DirSource;
use trustpin::reference::Gun;
use trustpin::resolve::{fetch_repo, Options};
use trustpin::tuf::keys::PinnedKey;
use trustpin::tuf::level::Level;

use common::Cmd;

fn testdata() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata"))
}

/// The generation time the script recorded in testdata/README.md: the data is valid from then
/// for the timestamp's 14 days.
fn generated_at() -> String {
    let readme = std::fs::read_to_string(testdata().join("README.md")).expect("testdata/README.md");
    let line = readme
        .lines()
        .find(|l| l.contains("Generated:"))
        .expect("a `Generated:` line in testdata/README.md");
    let at = line
        .split("**")
        .nth(1)
        .expect("the time between ** marks")
        .to_owned();
    OffsetDateTime::parse(&at, &Rfc3339).expect("an RFC 3339 generation time");
    at
}

/// (gun, tag, sha256 hex) rows of expected.tsv, as `notary lookup` reported them.
fn expected() -> Vec<(String, String, String)> {
    let tsv =
        std::fs::read_to_string(testdata().join("expected.tsv")).expect("testdata/expected.tsv");
    let rows: Vec<_> = tsv
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert!(f.len() >= 3, "bad row {l:?}");
            (f[0].to_owned(), f[1].to_owned(), f[2].to_owned())
        })
        .collect();
    assert!(rows.len() >= 10, "expected.tsv holds {} rows", rows.len());
    rows
}

fn key_file(gun: &str) -> PathBuf {
    testdata()
        .join("keys")
        .join(format!("{}.pub", gun.rsplit('/').next().unwrap()))
}

fn options(gun: &str, at: &str) -> Options {
    let path = key_file(gun);
    let pinned =
        PinnedKey::parse(&std::fs::read(&path).unwrap(), &path.display().to_string()).unwrap();
    Options::new(vec![pinned], OffsetDateTime::parse(at, &Rfc3339).unwrap())
}

#[test]
fn every_target_notary_signed_verifies_with_notarys_digest() {
    let at = generated_at();
    let source = DirSource::new(testdata());
    for (gun, tag, hex) in expected() {
        let repo = fetch_repo(&source, &Gun::new(&gun).unwrap(), &options(&gun, &at))
            .unwrap_or_else(|e| panic!("{gun}: {e}"));
        // The digest notary lookup gave is the one a role we verified signed for that name.
        let found: Vec<String> = repo
            .signed_targets()
            .filter_map(|(_, t)| t.get(&tag))
            .filter_map(|m| m.sha256.as_ref().map(hex::encode))
            .collect();
        assert!(
            found.contains(&hex),
            "{gun} {tag:?}: notary says {hex}, verified roles say {found:?}"
        );
    }
}

#[test]
fn cli_resolves_every_plain_tag_like_notary_lookup() {
    let at = generated_at();
    let mut checked = 0;
    for (gun, tag, hex) in expected() {
        let plain = tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !plain {
            continue;
        }
        let out = Cmd::trustpin()
            .args(["resolve", "--metadata-dir"])
            .arg(testdata())
            .arg("--root-key")
            .arg(key_file(&gun))
            .args(["--at", &at, &format!("{gun}:{tag}")])
            .run();
        out.expect_code(0, &format!("{gun}:{tag}"));
        assert_eq!(out.stdout, format!("{gun}@sha256:{hex}\n"));
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} plain tags checked");
}

#[test]
fn offline_data_is_refused_once_the_timestamp_has_expired() {
    let at = OffsetDateTime::parse(&generated_at(), &Rfc3339).unwrap() + time::Duration::days(15);
    let at = at.format(&Rfc3339).unwrap();
    let gun = "example.com/trustpin/demo";
    let err = fetch_repo(
        &DirSource::new(testdata()),
        &Gun::new(gun).unwrap(),
        &options(gun, &at),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("timestamp.json expired at"),
        "{err}"
    );
}

#[test]
fn a_repository_key_does_not_open_another_repository() {
    let at = generated_at();
    let mut opts = options("example.com/trustpin/demo", &at);
    opts.level = Level::Strict;
    let err = fetch_repo(
        &DirSource::new(testdata()),
        &Gun::new("example.com/trustpin/delegated").unwrap(),
        &opts,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("not signed by the pinned key"),
        "{err}"
    );
}
