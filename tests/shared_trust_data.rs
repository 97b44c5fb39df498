//! Real trust data once served by notary.docker.io (../shared/trust-data), resolved offline with
//! the expected results its README gives, at the times it gives, and refused today for expiry.

mod common;

use std::path::PathBuf;

use common::{Cmd, Output};

fn data() -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/trust-data"));
    assert!(
        p.join("docker.io/phbelitz").is_dir(),
        "{} is missing: these tests need the shared trust data beside the project",
        p.display()
    );
    p
}

/// Run `trustpin resolve --metadata-dir <shared> --root-key keys/<key> [--at at] args...`.
fn resolve(key: &str, at: Option<&str>, args: &[&str]) -> Output {
    let d = data();
    let mut cmd = Cmd::trustpin()
        .arg("resolve")
        .arg("--metadata-dir")
        .arg(&d)
        .arg("--root-key")
        .arg(d.join("keys").join(key));
    if let Some(at) = at {
        cmd = cmd.args(["--at", at]);
    }
    cmd.args(args).run()
}

const A: &str = "phbelitz-a.pub";
const B: &str = "phbelitz-b.pub";
const ALICE_AT: Option<&str> = Some("2019-10-15T00:00:00Z");
const SAMPLE_AT: Option<&str> = Some("2019-11-01T00:00:00Z");
const BOB_AT: Option<&str> = Some("2020-11-20T00:00:00Z");

/// `resolve phbelitz/sample-image{reference}` with key a at SAMPLE_AT (`reference`: `:tag`,
/// `@digest` or both).
fn sample(reference: &str) -> Output {
    resolve(
        A,
        SAMPLE_AT,
        &[&format!("phbelitz/sample-image{reference}")],
    )
}

/// `resolve --level audit IMAGE` with key b at BOB_AT, requiring each of `delegations`.
fn audit(image: &str, delegations: &[&str]) -> Output {
    let mut args = vec!["--level", "audit", image];
    for d in delegations {
        args.extend(["--delegation", d]);
    }
    resolve(B, BOB_AT, &args)
}

/// [`audit`] of `phbelitz/IMAGE:test` answers `docker.io/phbelitz/IMAGE@sha256:HEX`.
fn audit_answers(image: &str, delegations: &[&str], hex: &str) -> Output {
    let r = audit(&format!("phbelitz/{image}:test"), delegations);
    assert_digest(&r, &format!("docker.io/phbelitz/{image}"), hex);
    r
}

fn assert_digest(run: &Output, gun: &str, hex: &str) {
    run.expect_code(0, gun);
    assert_eq!(
        run.stdout,
        format!("{gun}@sha256:{hex}\n"),
        "{}",
        run.describe()
    );
}

const ALICE: &str = "ac904c9b191d14faf54b7952f2650a4bb21c201bf34131388b851e8ce992a652";
const SAMPLE_V1: &str = "799c0fa8aa4c9fbff5a99aef1b4b5c3abb9c2f34134345005982fad3489893c7";
const SAMPLE_SIGN: &str = "a154797b8300165956ee1f16d98f3a1426301c1168f0462c73ce9bc03361cabf";
const TARGETS_TEST: &str = "4e061bcd4bb5a4cb24a196df59d723d911741d5520f89e34df8a792d56bdee3e";
const CHARLIE_REL: &str = "a647a0f9c82dc5f3e7c4bd6483b496a49d570b4fdb1feacbfd57e965d2a1d662";
const DAVE_DEL1: &str = "2b7b506572e4f3b9de7524ff84287db88ed24b0cf9448a7b04ad0664ecdef71b";
const DAVE_DEL2: &str = "a825e8e950dceb81c7d86f6d34e4e47307e98f35505d180d404e194742a28079";

#[test]
fn alice_test_resolves_through_releases() {
    let r = resolve(A, ALICE_AT, &["docker.io/phbelitz/alice-image:test"]);
    assert_digest(&r, "docker.io/phbelitz/alice-image", ALICE);
}

#[test]
fn alice_requiring_phbelitz_and_chamsen_gives_the_same_digest() {
    let r = resolve(
        A,
        ALICE_AT,
        &[
            "phbelitz/alice-image:test",
            "--delegation",
            "phbelitz",
            "--delegation",
            "targets/chamsen",
        ],
    );
    assert_digest(&r, "docker.io/phbelitz/alice-image", ALICE);
}

#[test]
fn alice_requiring_a_delegation_that_does_not_exist_is_refused_naming_it() {
    let r = resolve(
        A,
        ALICE_AT,
        &["phbelitz/alice-image:test", "--delegation", "nobody"],
    );
    r.expect_refused(&["targets/nobody", "no such delegation"], "");
}

#[test]
fn alice_json_names_every_role_that_signed() {
    let r = resolve(
        A,
        ALICE_AT,
        &["phbelitz/alice-image:test", "--output", "json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json output");
    let item = &v[0];
    assert_eq!(item["digest"], format!("sha256:{ALICE}"));
    assert_eq!(item["gun"], "docker.io/phbelitz/alice-image");
    assert_eq!(item["tag"], "test");
    assert_eq!(item["decided_by"], serde_json::json!(["targets/releases"]));
    let mut signers: Vec<String> = serde_json::from_value(item["signers"].clone()).unwrap();
    signers.sort();
    assert_eq!(
        signers,
        ["targets/chamsen", "targets/phbelitz", "targets/releases"]
    );
}

#[test]
fn sample_tags_resolve_from_targets() {
    let r = resolve(
        A,
        SAMPLE_AT,
        &["phbelitz/sample-image:v1", "phbelitz/sample-image:sign"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        format!("docker.io/phbelitz/sample-image@sha256:{SAMPLE_V1}\ndocker.io/phbelitz/sample-image@sha256:{SAMPLE_SIGN}\n")
    );
}

#[test]
fn sample_unsigned_tag_is_refused() {
    let r = sample(":nope");
    r.expect_refused(&["no signed digest for tag \"nope\""], "");
}

#[test]
fn sample_digest_only_reference_is_accepted() {
    let r = sample(&format!("@sha256:{SAMPLE_V1}"));
    assert_digest(&r, "docker.io/phbelitz/sample-image", SAMPLE_V1);
}

#[test]
fn sample_unsigned_digest_is_refused() {
    let r = sample(&format!("@sha256:{}", "0".repeat(64)));
    r.expect_refused(&["is not signed for any tag"], "");
}

#[test]
fn sample_tag_with_another_tags_digest_is_refused() {
    let r = sample(&format!(":v1@sha256:{SAMPLE_SIGN}"));
    r.expect_refused(&["tag \"v1\" is signed for", SAMPLE_V1, SAMPLE_SIGN], "");
}

#[test]
fn alice_with_bobs_key_is_refused_as_not_pinned() {
    let r = resolve(B, ALICE_AT, &["phbelitz/alice-image:test"]);
    r.expect_refused(&["not signed by the pinned key", "phbelitz-b.pub"], "");
}

#[test]
fn bob_family_is_refused_for_a_certificate_naming_another_repository() {
    for image in ["bob-image", "charlie-image", "dave-image", "eve-image"] {
        let r = resolve(B, BOB_AT, &[&format!("phbelitz/{image}:test")]);
        r.expect_refused(
            &[
                "docker.io/phbelitz/delegation",
                &format!("docker.io/phbelitz/{image}"),
            ],
            "",
        );
    }
}

#[test]
fn audit_level_relaxes_the_certificate_name_with_a_warning() {
    audit_answers("bob-image", &[], TARGETS_TEST)
        .expect_stderr(&["level audit", "accepted at level audit"], "");
}

#[test]
fn audit_charlie_releases_wins_over_targets() {
    for delegations in [&[][..], &["del1"]] {
        audit_answers("charlie-image", delegations, CHARLIE_REL);
    }
}

#[test]
fn audit_dave_delegations_disagree() {
    audit_answers("dave-image", &[], DAVE_DEL1);
    audit_answers("dave-image", &["del2"], DAVE_DEL2);
    let r = audit("phbelitz/dave-image:test", &["del1", "del2"]);
    r.expect_refused(&["different digests", DAVE_DEL1, DAVE_DEL2], "");
}

#[test]
fn audit_eve_falls_back_to_targets_and_warns_releases_is_missing() {
    let r = audit_answers("eve-image", &[], TARGETS_TEST);
    assert!(
        r.stderr
            .contains("targets/releases not used: listed in snapshot.json but missing"),
        "{}",
        r.stderr
    );
    let r = audit("phbelitz/eve-image:test", &["releases"]);
    r.expect_refused(&["required delegation targets/releases", "missing"], "");
}

#[test]
fn every_image_is_refused_today_for_its_expired_timestamp() {
    // Alice and sample fail on nothing but time: strict refuses them naming the timestamp.
    for image in ["alice-image", "sample-image"] {
        let r = resolve(A, None, &[&format!("phbelitz/{image}:test")]);
        r.expect_refused(&["timestamp.json expired at 2019-"], "");
    }
    // The bob family fails the certificate name first in strict; audit relaxes that, and the
    // expired timestamp still shows, as a warning, every time.
    for image in ["bob-image", "charlie-image", "dave-image", "eve-image"] {
        let r = resolve(B, None, &[&format!("phbelitz/{image}:test")]);
        assert_eq!(r.code, 1, "{image}: {}", r.stderr);
        let r = resolve(
            B,
            None,
            &["--level", "audit", &format!("phbelitz/{image}:test")],
        );
        assert_eq!(r.code, 0, "{image}: {}", r.stderr);
        assert!(
            r.stderr.contains("timestamp.json expired at 2020-"),
            "{image}: {}",
            r.stderr
        );
    }
}

#[test]
fn expired_timestamp_is_named_with_its_expiry_time() {
    let r = resolve(A, None, &["phbelitz/alice-image:test"]);
    r.expect_refused(&["timestamp.json expired at 2019-", "verifying at"], "");
    // Permissive turns the expiry into a warning and answers.
    let r = resolve(
        A,
        None,
        &["--level", "permissive", "phbelitz/alice-image:test"],
    );
    assert_digest(&r, "docker.io/phbelitz/alice-image", ALICE);
    assert!(
        r.stderr.contains("expired at") && r.stderr.contains("accepted at level permissive"),
        "{}",
        r.stderr
    );
}

#[test]
fn several_images_worst_code_wins_and_each_gets_its_line() {
    let r = resolve(
        A,
        SAMPLE_AT,
        &[
            "phbelitz/sample-image:v1",
            "Not/A/Valid/Reference!",
            "phbelitz/sample-image:nope",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        format!("docker.io/phbelitz/sample-image@sha256:{SAMPLE_V1}\n")
    );
    r.expect_stderr(&["Not/A/Valid/Reference!", "sample-image:nope"], "");
}

// Issue 15, item 5: a real root certificate out of its validity (alice-image's is valid from
// 2019-09-25T13:56:33Z to 2029-09-22T13:56:33Z) is named expired or not yet valid, with the date.

#[test]
fn an_expired_real_root_certificate_says_expired_and_when() {
    let want = "root certificate a873ab3f157c expired on 2029-09-22T13:56:33Z (verifying at 2035-01-01T00:00:00Z)";
    let at = Some("2035-01-01T00:00:00Z");
    let out = resolve(
        A,
        at,
        &["docker.io/phbelitz/alice-image:test", "--output", "json"],
    );
    out.expect_code(1, "strict, after the certificate's end");
    let item = &out.json_array()[0];
    assert_eq!(
        item["error"]["kind"],
        "certificate-time",
        "{}",
        out.describe()
    );
    assert_eq!(item["error"]["role"], "root", "{}", out.describe());
    assert!(
        common::error_message(item).starts_with(want),
        "{}",
        out.describe()
    );
    resolve(
        A,
        at,
        &[
            "docker.io/phbelitz/alice-image:test",
            "--level",
            "permissive",
        ],
    )
    .expect_stderr(&[want, "(accepted at level permissive)"], "permissive");
}

#[test]
fn a_not_yet_valid_real_root_certificate_says_so_and_from_when() {
    resolve(A, Some("2010-01-01T00:00:00Z"), &["docker.io/phbelitz/alice-image:test"]).expect_refused(
        &["root certificate a873ab3f157c is not yet valid: valid from 2019-09-25T13:56:33Z (verifying at 2010-01-01T00:00:00Z)"],
        "before the certificate's start",
    );
}
