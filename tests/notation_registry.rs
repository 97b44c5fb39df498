//! `trustpin verify` against registries, through the real binary.
//!
//! Real: the registry is Debian's docker-registry (distribution 2.8.2) on loopback
//! ([`common::registry`]), with every layout of ../shared/notation-data pushed into it, signatures
//! included, through the referrers tag schema (distribution 2.8.2 has no referrers API); the
//! signatures are the ones the real notation CLI made. Every row of the shared README's table
//! that makes sense over a registry runs against it (S26, `--oci-layout` without `--scope`, is a
//! layout row). Token auth runs against it with the test token issuer ([`common::token_issuer`]).
//!
//! Emulated: the referrers API. No real registry with the API was at hand, so that path runs
//! against [`common::oci_server`], a loopback server in test code that answers the API as the
//! distribution spec (v1.1) says, with the timestamped layout (which has no tag-schema index: its
//! signature is found only through the API); also over TLS with `--ca-cert`, and with many
//! signatures for the `--max-signatures` and `--max-bytes` bounds.
//!
//! Waves are counted by time through a delaying proxy in front of docker-registry.

mod common;

use std::time::Duration;

use common::notation_table::{check_rows, matches, policy_file, shared_table, TS, V};
use common::oci_data::{layout_path, notation_data, truststore as store, SHARED_LAYOUTS};
use common::oci_server::{OciServer, Options};
use common::registry::Registry;
use common::{Cmd, Output};

/// A registry holding every shared layout, each in the repository named after it.
fn pushed() -> Registry {
    let reg = Registry::start();
    for l in SHARED_LAYOUTS {
        reg.push_layout(l.name, &layout_path(l.name));
    }
    reg
}

fn policy(name: &str) -> String {
    notation_data()
        .join("trustpolicies")
        .join(policy_file(name))
        .display()
        .to_string()
}

/// `trustpin verify REFS --policy P --trust-store S EXTRA...` with a private HOME.
fn verify<S: AsRef<std::ffi::OsStr>>(
    refs: &[S],
    policy_name: &str,
    store_name: &str,
    extra: &[&str],
) -> Output {
    Cmd::trustpin()
        .private_home()
        .arg("verify")
        .args(refs)
        .args(["--policy", &policy(policy_name)])
        .args(["--trust-store", &store(store_name)])
        .args(extra)
        .run()
}

/// `<host>/<layout>@V` for `@V`, else `<host>/<layout><r>`.
fn reference(host: &str, layout: &str, r: &str) -> String {
    match r {
        "@V" => format!("{host}/{layout}@{V}"),
        _ => format!("{host}/{layout}{r}"),
    }
}

#[test]
fn every_shared_table_row_over_docker_registry() {
    let reg = pushed();
    let host = reg.host();
    check_rows(&shared_table(), |row| {
        let mut extra = vec!["--insecure-registry"];
        if let Some(at) = &row.at {
            extra.extend(["--at", at]);
        }
        let out = verify(
            &[reference(&host, &row.layout, &row.tail)],
            &row.policy,
            &row.store,
            &extra,
        );
        let mut wrong = Vec::new();
        if out.code != row.code {
            wrong.push(format!("exit {} (want {})", out.code, row.code));
        }
        match row.digest {
            Some(digest) => {
                let line = format!("{host}/{}@{digest}", row.layout);
                if out.stdout.trim() != line {
                    wrong.push(format!("stdout is not {line}"));
                }
            }
            None if !out.stdout.trim().is_empty() => wrong.push("stdout is not empty".into()),
            None => {}
        }
        if !row.stderr.is_empty() && !matches(&row.stderr, &out.stderr) {
            wrong.push(format!("stderr does not match {}", row.stderr));
        }
        if out.stderr.contains("plain http") {
            wrong.push("warned about plain http on loopback".into());
        }
        match wrong.is_empty() {
            true => Ok(()),
            false => Err(format!("{}\n{}", wrong.join(", "), out.describe())),
        }
    });
}

#[test]
fn batch_over_jobs_prints_in_input_order_and_the_worst_exit_wins() {
    let reg = pushed();
    let host = reg.host();
    let refs = vec![
        reference(&host, "e2e-valid-signature", ":v1"),
        reference(&host, "e2e-expired-signature", "@V"),
        reference(&host, "e2e-valid-signature", "@V"),
        reference(&host, "e2e", ":v1"),
    ];
    let base = ["--insecure-registry", "--jobs", "4"];
    let text = verify(&refs, "trustpolicy", "e2e", &base);
    text.expect_code(1, "one expired, one unsigned");
    let want = format!("{host}/e2e-valid-signature@{V}");
    assert_eq!(
        text.lines(),
        [want.clone(), want.clone()],
        "{}",
        text.describe()
    );
    text.expect_stderr(&["expir", "no signature"], "both refusals named");

    let mut jsonl_args = base.to_vec();
    jsonl_args.extend(["--output", "jsonl"]);
    let jsonl = verify(&refs, "trustpolicy", "e2e", &jsonl_args).json_lines();
    let got: Vec<(&str, &str)> = jsonl
        .iter()
        .map(|v| {
            (
                v["reference"].as_str().unwrap(),
                v["verification"].as_str().unwrap(),
            )
        })
        .collect();
    let want_order: Vec<(&str, &str)> = refs
        .iter()
        .map(String::as_str)
        .zip(["verified", "refused", "verified", "refused"])
        .collect();
    assert_eq!(got, want_order);
    assert_eq!(jsonl[0]["digest"], V);
    assert_eq!(jsonl[0]["name"], format!("{host}/e2e-valid-signature"));
    assert_eq!(jsonl[1]["kind"], "expired");
    assert_eq!(jsonl[3]["kind"], "not-signed");
    let sig = &jsonl[0]["signatures"][0];
    assert_eq!(sig["envelopeType"], "application/jose+json");
    assert_eq!(sig["checks"]["integrity"]["result"], "passed");
    assert!(sig["signer"].as_str().unwrap().contains("CN=e2e"), "{sig}");

    let mut json_args = base.to_vec();
    json_args.extend(["--output", "json"]);
    let json = verify(&refs[..1], "trustpolicy", "e2e", &json_args);
    json.expect_code(0, "one valid reference");
    assert_eq!(json.json_array()[0]["digest"], V);
}

/// A policy whose only statement names `scope`, with the e2e store, under
/// `<dir>/notation/trustpolicy.json` and its `truststore/` beside it.
fn config_dir_with_policy(scope: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let notation = dir.path().join("notation");
    let ca = notation.join("truststore/x509/ca/e2e");
    std::fs::create_dir_all(&ca).unwrap();
    std::fs::copy(
        notation_data().join("localkeys/e2e.crt"),
        ca.join("e2e.crt"),
    )
    .unwrap();
    let policy = serde_json::json!({"version": "1.0", "trustPolicies": [{
        "name": "only-valid", "registryScopes": [scope],
        "signatureVerification": {"level": "strict"},
        "trustStores": ["ca:e2e"], "trustedIdentities": ["*"],
    }]});
    std::fs::write(notation.join("trustpolicy.json"), policy.to_string()).unwrap();
    dir
}

#[test]
fn the_scope_is_host_and_repository_and_the_policy_defaults_to_notations() {
    let reg = pushed();
    let host = reg.host();
    let config = config_dir_with_policy(&format!("{host}/e2e-valid-signature"));
    let run = |r: &str| {
        Cmd::trustpin()
            .private_home()
            .env("XDG_CONFIG_HOME", config.path())
            .args(["verify", "--insecure-registry", r])
            .run()
    };
    run(&reference(&host, "e2e-valid-signature", ":v1")).expect_lines(
        &[format!("{host}/e2e-valid-signature@{V}")],
        "the scope names it; policy and trust store found in XDG_CONFIG_HOME/notation",
    );
    run(&reference(&host, "e2e-expired-signature", "@V"))
        .expect(1, &["no applicable trust policy"]);
    // Without XDG_CONFIG_HOME: ~/.config/notation/trustpolicy.json, absent in a fresh HOME.
    Cmd::trustpin()
        .private_home()
        .env_remove("XDG_CONFIG_HOME")
        .args(["verify", "--insecure-registry"])
        .arg(reference(&host, "e2e-valid-signature", ":v1"))
        .run()
        .expect(2, &[".config/notation/trustpolicy.json"]);
}

#[test]
fn https_by_default_insecure_warned_off_loopback_and_bad_references_are_bad_input() {
    let reg = pushed();
    let r = reference(&reg.host(), "e2e-valid-signature", ":v1");
    let out = verify(&[&r], "trustpolicy", "e2e", &[]);
    out.expect(3, &[&format!("https://{}/v2/", reg.host())]);
    assert!(out.stdout.is_empty(), "{}", out.describe());

    let off = verify(
        &["registry.invalid/app:v1"],
        "trustpolicy",
        "e2e",
        &["--insecure-registry", "--deadline", "5"],
    );
    off.expect(
        3,
        &["warning: --insecure-registry: http://registry.invalid is plain http"],
    );

    for (bad, words) in [
        ("e2e-valid-signature:v1", "names no registry"),
        ("library/alpine:3", "names no registry"),
        ("localhost:5000/app", "no tag or digest"),
        ("localhost:5000/App:v1", "lower case"),
        ("localhost:5000/app@sha256:abc", "digest"),
    ] {
        let out = verify(&[bad], "trustpolicy", "e2e", &[]);
        out.expect(2, &[words]);
    }
    verify(&[r], "trustpolicy", "e2e", &["--scope", "x/y"])
        .expect(2, &["--scope is for --oci-layout"]);
}

#[test]
fn token_auth_with_password_stdin_and_docker_config_and_anonymous_refused() {
    let (issuer, reg) = Registry::alice_behind_token_auth();
    let r = format!("{}/secure/app:v1", reg.host());
    let want = [format!("{}/secure/app@{V}", reg.host())];
    let run = |cmd: Cmd| {
        cmd.private_home()
            .arg("verify")
            .args(["--insecure-registry", &r])
            .args(["--policy", &policy("trustpolicy")])
            .args(["--trust-store", &store("e2e")])
    };
    run(Cmd::trustpin())
        .args(["--username", "alice", "--password-stdin"])
        .stdin(Some(b"wonderland\n"))
        .run()
        .expect_lines(&want, "--username alice --password-stdin");
    let docker = tempfile::tempdir().unwrap();
    let auth = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "alice:wonderland",
    );
    std::fs::write(
        docker.path().join("config.json"),
        serde_json::json!({"auths": {reg.host(): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    run(Cmd::trustpin())
        .env("DOCKER_CONFIG", docker.path())
        .run()
        .expect_lines(&want, "docker config credentials");
    run(Cmd::trustpin())
        .run()
        .expect(3, &["repository:secure/app:pull"]);
    assert!(
        issuer
            .issued()
            .iter()
            .any(|i| i.user == Ok(Some("alice".into()))),
        "a token was issued to alice"
    );
}

#[test]
fn referrers_api_emulated_over_tls_with_ca_cert() {
    let pki = common::server::TestPki::new();
    let tls = common::server::TestServer::start_tls(pki.server_config(false));
    let api = OciServer::start_on(tls, Options::default());
    api.load_layout(&layout_path("e2e-with-timestamped-signature"));
    let r = format!("{}/app:v1", api.host());
    let at = ["--at", "2025-01-21T10:00:00Z"];
    // https, and the test CA is not trusted without --ca-cert.
    verify(&[&r], "trustpolicy", "testcert7", &at).expect(3, &["certificate"]);
    let ca = pki.ca_pem_path().display().to_string();
    let mut extra = at.to_vec();
    extra.extend(["--ca-cert", &ca]);
    verify(&[r], "trustpolicy", "testcert7", &extra).expect_lines(
        &[format!("{}/app@{TS}", api.host())],
        "found through the API only",
    );
    let answered: Vec<_> = api.requests_to("/referrers/sha256:");
    assert!(!answered.is_empty(), "the referrers API was asked");
    assert!(
        answered
            .iter()
            .all(|q| q.query_param("artifactType").is_some()),
        "filtered by artifactType"
    );
}

#[test]
fn many_failing_signatures_are_bounded_by_count_and_bytes() {
    let api = OciServer::start(Options {
        page_size: Some(7),
        ..Options::default()
    });
    api.signed(40, common::oci_data::SIGNATURE);
    let r = format!("{}/app:v1", api.host());
    let out = verify(
        &[&r],
        "trustpolicy",
        "e2e",
        &["--insecure-registry", "--max-signatures", "20"],
    );
    out.expect(1, &["limit of 20 signatures"]);
    let signature_manifests = api.requests_to("/manifests/sha256:").len();
    assert_eq!(
        signature_manifests, 20,
        "only the signatures tried are fetched"
    );
    verify(
        &[r],
        "trustpolicy",
        "e2e",
        &["--insecure-registry", "--max-bytes", "1000"],
    )
    .expect(3, &["more than the limit of 1000 bytes"]);
}

#[test]
fn a_digest_costs_three_waves_a_tag_four_and_jobs_overlap_references() {
    let reg = Registry::start();
    let repos = ["a", "b", "c", "d", "e", "f"];
    for repo in repos {
        reg.push_layout(repo, &layout_path("e2e-valid-signature"));
    }
    let delay = Duration::from_millis(400);
    let proxy = common::registry::delaying_proxy(&reg, delay);
    let host = proxy.addr().to_string();
    let waves = |refs: &[String], jobs: &str| {
        let out = verify(
            refs,
            "trustpolicy",
            "e2e",
            &["--insecure-registry", "--jobs", jobs],
        );
        out.expect_code(0, "verified");
        out.elapsed.as_secs_f64() / delay.as_secs_f64()
    };
    let digest = waves(&[format!("{host}/a@{V}")], "1");
    let tag = waves(&[format!("{host}/a:v1")], "1");
    let many: Vec<String> = repos.iter().map(|r| format!("{host}/{r}@{V}")).collect();
    let sequential = waves(&many, "1");
    let parallel = waves(&many, "6");
    eprintln!(
        "waves of {delay:?}: digest {digest:.2}, tag {tag:.2}, 6 digests --jobs 1 {sequential:.2}, --jobs 6 {parallel:.2}"
    );
    assert!((3.0..3.9).contains(&digest), "digest: {digest:.2} waves");
    assert!((4.0..4.9).contains(&tag), "tag: {tag:.2} waves");
    // The first reference learns the registry has no referrers API; the next ones ask one thing
    // fewer but in as many waves.
    assert!(sequential >= 18.0, "sequential: {sequential:.2}");
    assert!(parallel < 6.0, "6 references at once: {parallel:.2} waves");
}
