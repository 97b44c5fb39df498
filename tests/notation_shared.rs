//! Every row of the expected-results table in ../shared/notation-data/README.md, through the
//! library: the real notation-made layouts, trust stores and policies, used in place.
//!
//! The layout is read here by a few lines of test fixture (index.json for tags; blobs whose
//! `subject` is the artifact for referrers), standing in for the OCI layout reader of
//! `fetch::oci` until the CLI drives these rows; every verification decision is the library's.
//! Rows about command-line output only (S26 flags, S43–S45 output formats) are checked here for
//! the verification they need; their flags and formats belong to the CLI's tests.

mod common;

use std::path::Path;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use trustpin::failure::{Classify, Failure};
use trustpin::notation::envelope::Artifact;
use trustpin::notation::manifest::SignatureManifest;
use trustpin::notation::policy::TrustPolicy;
use trustpin::notation::revocation::Offline;
use trustpin::notation::truststore;
use trustpin::notation::verify::{verify_artifact, Candidate, Limits};
use trustpin::reference::Digest;

use common::oci_data::notation_data;

const V: &str = "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9";
const TS: &str = "sha256:53b0191218aed9a3c1f7c661736ac40cfc8eb928642348fd843ba3f0483c0c20";
const SCOPE: &str = "local/e2e";

/// What a run came to: the digest verified (and the warnings), skipped, or a failure with its
/// class and message.
#[derive(Debug)]
enum Outcome {
    Verified {
        digest: String,
        warnings: Vec<String>,
    },
    Skipped(String),
    Failed {
        failure: Failure,
        message: String,
    },
}

fn failed(e: impl Classify) -> Outcome {
    Outcome::Failed {
        failure: e.failure(),
        message: e.to_string(),
    }
}

fn refused(message: String) -> Outcome {
    Outcome::Failed {
        failure: Failure::Refused,
        message,
    }
}

fn read_blob(layout: &Path, digest: &str) -> Option<Vec<u8>> {
    let hex = digest.strip_prefix("sha256:")?;
    std::fs::read(layout.join("blobs/sha256").join(hex)).ok()
}

/// Test fixture: tag or digest → (artifact, candidates), as a layout reader would give them.
fn fetch(layout: &Path, reference: &str) -> Result<(Artifact, Vec<Candidate>), String> {
    let digest = if let Some(d) = reference.strip_prefix('@') {
        d.to_string()
    } else {
        let tag = reference.trim_start_matches(':');
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
            .map(|m| m["digest"].as_str().unwrap().to_string())
            .ok_or_else(|| format!("{tag}: not found"))?
    };
    let bytes = read_blob(layout, &digest).ok_or_else(|| format!("{digest}: not found"))?;
    let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let artifact = Artifact {
        media_type: manifest["mediaType"].as_str().unwrap().to_string(),
        digest: Digest::parse(&digest).unwrap(),
        size: bytes.len() as u64,
    };
    let mut candidates = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for name in names {
        let d = format!("sha256:{}", name.to_string_lossy());
        let bytes = read_blob(layout, &d).unwrap();
        let Ok(sig) = SignatureManifest::parse(&bytes, Limits::default().max_envelope_bytes) else {
            continue;
        };
        if sig.subject != Some(artifact.digest) || !sig.is_notation_signature() {
            continue;
        }
        let envelope = read_blob(layout, &sig.envelope.digest.to_string())
            .map(|b| (sig.envelope.media_type.clone(), b))
            .ok_or_else(|| "envelope blob missing".to_string());
        candidates.push(Candidate {
            manifest_digest: Digest::parse(&d).unwrap(),
            envelope,
        });
    }
    Ok((artifact, candidates))
}

/// `trustpin verify --oci-layout --scope local/e2e oci_layout/<layout><ref> --policy ... --trust-store ... [--at]`.
fn run(layout: &str, reference: &str, policy: &str, store: &str, at: Option<&str>) -> Outcome {
    let data = notation_data();
    let file = if policy == "trustpolicy" {
        "trustpolicy.json".to_string()
    } else {
        format!("{policy}_trustpolicy.json")
    };
    let policy_bytes = std::fs::read(data.join("trustpolicies").join(file)).unwrap();
    let policy = match TrustPolicy::parse(&policy_bytes) {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    let Some(statement) = policy.applicable(SCOPE) else {
        return refused("no applicable trust policy".into());
    };
    if statement.is_skip() {
        return Outcome::Skipped(format!("skip: {SCOPE} NOT VERIFIED"));
    }
    let layout_dir = data.join("oci_layout").join(layout);
    let (artifact, candidates) = match fetch(&layout_dir, reference) {
        Ok(x) => x,
        Err(e) => return refused(e),
    };
    let stores = truststore::load(
        &data.join("truststores").join(store),
        &statement.trust_stores,
    );
    let at = at.map_or_else(OffsetDateTime::now_utc, |t| {
        OffsetDateTime::parse(t, &Rfc3339).unwrap()
    });
    let name = format!("{}{reference}", layout_dir.display());
    match verify_artifact(
        statement,
        &stores,
        &artifact,
        &name,
        &candidates,
        at,
        &Offline,
        &Limits::default(),
    ) {
        Ok(v) => Outcome::Verified {
            digest: v.digest().to_string(),
            warnings: v.warnings().to_vec(),
        },
        Err(e) => failed(e),
    }
}

fn mentions(text: &str, any_of: &[&str]) -> bool {
    let text = text.to_lowercase();
    any_of.iter().any(|w| text.contains(&w.to_lowercase()))
}

#[track_caller]
fn expect_verified(o: Outcome, digest: &str, warning: &[&str]) {
    match o {
        Outcome::Verified {
            digest: d,
            warnings,
        } => {
            assert_eq!(d, digest);
            if warning.is_empty() {
                assert!(warnings.is_empty(), "unexpected warnings {warnings:?}");
            } else {
                assert!(
                    warnings.iter().any(|w| mentions(w, warning)),
                    "warnings {warnings:?} do not mention {warning:?}"
                );
                assert!(
                    warnings.iter().all(|w| w.starts_with("Warning: ")),
                    "{warnings:?}"
                );
            }
        }
        other => panic!("expected {digest} verified, got {other:?}"),
    }
}

#[track_caller]
fn expect_failed(o: Outcome, failure: Failure, words: &[&str]) {
    match o {
        Outcome::Failed {
            failure: f,
            message,
        } => {
            assert_eq!(f, failure, "{message}");
            assert!(
                mentions(&message, words),
                "{message:?} does not mention {words:?}"
            );
        }
        other => panic!("expected {failure:?}, got {other:?}"),
    }
}

const VD: &str = "@sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9";
const REFUSED: Failure = Failure::Refused;
const BAD: Failure = Failure::BadInput;
const AUTH: &[&str] = &["authenticity", "trusted certificate"];

#[test]
fn s01_strict_refuses_an_expired_signature() {
    expect_failed(
        run("e2e-expired-signature", VD, "trustpolicy", "e2e", None),
        REFUSED,
        &["expir"],
    );
}
#[test]
fn s02_strict_refuses_an_expired_certificate_without_timestamp() {
    expect_failed(
        run("e2e-with-expired-cert", VD, "trustpolicy", "expired", None),
        REFUSED,
        &["timestamp"],
    );
}
#[test]
fn s03_strict_refuses_a_signer_not_in_the_store() {
    expect_failed(
        run("e2e-valid-signature", VD, "trustpolicy", "new", None),
        REFUSED,
        AUTH,
    );
}
#[test]
fn s04_strict_refuses_a_signature_without_envelope() {
    expect_failed(
        run("e2e-invalid-signature", VD, "trustpolicy", "e2e", None),
        REFUSED,
        &["integrity"],
    );
}
#[test]
fn s05_permissive_logs_expiry() {
    expect_verified(
        run("e2e-expired-signature", VD, "permissive", "e2e", None),
        V,
        &["expir"],
    );
}
#[test]
fn s06_permissive_logs_an_expired_certificate() {
    expect_verified(
        run("e2e-with-expired-cert", VD, "permissive", "expired", None),
        V,
        &["timestamp"],
    );
}
#[test]
fn s07_permissive_enforces_authenticity() {
    expect_failed(
        run("e2e-valid-signature", VD, "permissive", "new", None),
        REFUSED,
        AUTH,
    );
}
#[test]
fn s08_permissive_enforces_integrity() {
    expect_failed(
        run("e2e-invalid-signature", VD, "permissive", "e2e", None),
        REFUSED,
        &["integrity"],
    );
}
#[test]
fn s09_audit_logs_expiry() {
    expect_verified(
        run("e2e-expired-signature", VD, "audit", "e2e", None),
        V,
        &["expir"],
    );
}
#[test]
fn s10_audit_logs_an_expired_certificate() {
    expect_verified(
        run("e2e-with-expired-cert", VD, "audit", "expired", None),
        V,
        &["timestamp"],
    );
}
#[test]
fn s11_audit_logs_authenticity() {
    expect_verified(
        run("e2e-valid-signature", VD, "audit", "new", None),
        V,
        AUTH,
    );
}
#[test]
fn s12_audit_enforces_integrity() {
    expect_failed(
        run("e2e-invalid-signature", VD, "audit", "e2e", None),
        REFUSED,
        &["integrity"],
    );
}
#[test]
fn s13_skip_verifies_nothing() {
    assert!(
        matches!(run("e2e-invalid-signature", VD, "skip", "e2e", None), Outcome::Skipped(m) if mentions(&m, &["skip", "not verified"]))
    );
}
#[test]
fn s14_strict_with_expiry_overridden_to_log() {
    expect_verified(
        run("e2e-expired-signature", VD, "override_strict", "e2e", None),
        V,
        &["expir"],
    );
}
#[test]
fn s15_strict_with_timestamp_overridden_to_log() {
    expect_verified(
        run(
            "e2e-with-expired-cert",
            VD,
            "override_strict",
            "expired",
            None,
        ),
        V,
        &["timestamp"],
    );
}
#[test]
fn s16_strict_with_authenticity_overridden_to_log() {
    expect_verified(
        run("e2e-valid-signature", VD, "override_strict", "new", None),
        V,
        AUTH,
    );
}
#[test]
fn s17_permissive_with_expiry_overridden_to_enforce() {
    expect_failed(
        run(
            "e2e-expired-signature",
            VD,
            "override_permissive",
            "e2e",
            None,
        ),
        REFUSED,
        &["expir"],
    );
}
#[test]
fn s18_permissive_with_timestamp_overridden_to_enforce() {
    expect_failed(
        run(
            "e2e-with-expired-cert",
            VD,
            "override_permissive",
            "expired",
            None,
        ),
        REFUSED,
        &["timestamp"],
    );
}
#[test]
fn s19_permissive_with_authenticity_overridden_to_log() {
    expect_verified(
        run(
            "e2e-valid-signature",
            VD,
            "override_permissive",
            "new",
            None,
        ),
        V,
        AUTH,
    );
}
#[test]
fn s20_a_policy_that_overrides_integrity_is_bad_input() {
    expect_failed(
        run(
            "e2e-valid-signature",
            VD,
            "override_integrity_for_permissive",
            "new",
            None,
        ),
        BAD,
        &["integrity"],
    );
}
#[test]
fn s21_audit_with_expiry_overridden_to_enforce() {
    expect_failed(
        run("e2e-expired-signature", VD, "override_audit", "e2e", None),
        REFUSED,
        &["expir"],
    );
}
#[test]
fn s22_audit_with_timestamp_overridden_to_enforce() {
    expect_failed(
        run(
            "e2e-with-expired-cert",
            VD,
            "override_audit",
            "expired",
            None,
        ),
        REFUSED,
        &["timestamp"],
    );
}
#[test]
fn s23_audit_with_authenticity_overridden_to_enforce() {
    expect_failed(
        run("e2e-valid-signature", VD, "override_audit", "new", None),
        REFUSED,
        AUTH,
    );
}
#[test]
fn s24_by_digest() {
    expect_verified(
        run("e2e-valid-signature", VD, "trustpolicy", "e2e", None),
        V,
        &[],
    );
}
#[test]
fn s25_by_tag() {
    expect_verified(
        run("e2e-valid-signature", ":v1", "trustpolicy", "e2e", None),
        V,
        &[],
    );
}
#[test]
fn s26_the_verification_behind_the_missing_scope_row_needs_a_scope() {
    // The flag itself is the CLI's; here: a scope-specific policy does not apply elsewhere.
    let p = std::fs::read(notation_data().join("trustpolicies/trustpolicy.json")).unwrap();
    let policy = TrustPolicy::parse(&p).unwrap();
    assert_eq!(
        policy.applicable(SCOPE).map(|s| s.name.as_str()),
        Some("e2e")
    );
}
#[test]
fn s27_timestamped_without_tsa_store_is_judged_at_the_time_given() {
    expect_verified(
        run(
            "e2e-with-timestamped-signature",
            ":v1",
            "trustpolicy",
            "testcert7",
            Some("2025-01-21T10:00:00Z"),
        ),
        TS,
        &[],
    );
}
#[test]
fn s28_a_timestamp_from_a_tsa_not_in_the_store_is_refused() {
    expect_failed(
        run(
            "e2e-with-timestamped-signature",
            ":v1",
            "timestamp",
            "testcert7-tsa",
            Some("2025-01-21T10:00:00Z"),
        ),
        REFUSED,
        &["timestamp"],
    );
}
#[test]
fn s29_after_cert_expiry_needs_no_timestamp_while_the_chain_is_valid() {
    expect_verified(
        run(
            "e2e-with-timestamped-signature",
            ":v1",
            "timestamp_after_cert_expiry",
            "testcert7-tsa",
            Some("2025-01-21T10:00:00Z"),
        ),
        TS,
        &[],
    );
}
#[test]
fn s30_the_timestamped_signature_has_expired_by_now() {
    expect_failed(
        run(
            "e2e-with-timestamped-signature",
            ":v1",
            "trustpolicy",
            "testcert7",
            None,
        ),
        REFUSED,
        &["expir"],
    );
}
#[test]
fn s31_permissive_logs_that_expiry() {
    expect_verified(
        run(
            "e2e-with-timestamped-signature",
            ":v1",
            "permissive",
            "testcert7",
            None,
        ),
        TS,
        &["expir"],
    );
}
#[test]
fn s32_before_expiry() {
    expect_verified(
        run(
            "e2e-expired-signature",
            VD,
            "trustpolicy",
            "e2e",
            Some("2023-06-27T05:21:00Z"),
        ),
        V,
        &[],
    );
}
#[test]
fn s33_after_expiry() {
    expect_failed(
        run(
            "e2e-expired-signature",
            VD,
            "trustpolicy",
            "e2e",
            Some("2023-06-27T05:22:00Z"),
        ),
        REFUSED,
        &["expir"],
    );
}
#[test]
fn s34_certificate_still_valid() {
    expect_verified(
        run(
            "e2e-with-expired-cert",
            VD,
            "trustpolicy",
            "expired",
            Some("2023-06-27T06:09:00Z"),
        ),
        V,
        &[],
    );
}
#[test]
fn s35_certificate_expired() {
    expect_failed(
        run(
            "e2e-with-expired-cert",
            VD,
            "trustpolicy",
            "expired",
            Some("2023-06-27T06:11:00Z"),
        ),
        REFUSED,
        &["timestamp"],
    );
}
#[test]
fn s36_certificate_not_yet_valid() {
    expect_failed(
        run(
            "e2e-valid-signature",
            VD,
            "trustpolicy",
            "e2e",
            Some("2022-12-01T00:00:00Z"),
        ),
        REFUSED,
        &["timestamp"],
    );
}
#[test]
fn s37_a_tsa_store_without_countersignature_is_refused() {
    expect_failed(
        run("e2e-valid-signature", VD, "timestamp", "timestamp", None),
        REFUSED,
        &["timestamp"],
    );
}
#[test]
fn s38_after_cert_expiry_with_an_unexpired_chain() {
    expect_verified(
        run(
            "e2e-valid-signature",
            VD,
            "timestamp_after_cert_expiry",
            "timestamp",
            None,
        ),
        V,
        &[],
    );
}
#[test]
fn s39_an_unsigned_artifact_is_refused() {
    expect_failed(
        run("e2e", ":v1", "trustpolicy", "e2e", None),
        REFUSED,
        &["no signature", "not signed", "unsigned"],
    );
}
#[test]
fn s40_skip_is_decided_before_signatures() {
    assert!(matches!(
        run("e2e", ":v1", "skip", "e2e", None),
        Outcome::Skipped(_)
    ));
}
#[test]
fn s41_an_unknown_tag_is_refused() {
    expect_failed(
        run("e2e-valid-signature", ":v2", "trustpolicy", "e2e", None),
        REFUSED,
        &["v2", "not found"],
    );
}
#[test]
fn s42_a_malformed_policy_is_bad_input() {
    expect_failed(
        run("e2e-valid-signature", VD, "invalid_format", "e2e", None),
        BAD,
        &["polic", "json"],
    );
}
#[test]
fn s43_to_s45_tag_and_digest_verify_to_the_same_digest() {
    expect_verified(
        run("e2e-valid-signature", ":v1", "trustpolicy", "e2e", None),
        V,
        &[],
    );
    expect_verified(
        run("e2e-valid-signature", VD, "trustpolicy", "e2e", None),
        V,
        &[],
    );
}
#[test]
fn s46_one_refused_reference_of_two() {
    expect_verified(
        run("e2e-valid-signature", ":v1", "trustpolicy", "e2e", None),
        V,
        &[],
    );
    expect_failed(
        run("e2e-expired-signature", VD, "trustpolicy", "e2e", None),
        REFUSED,
        &["expir"],
    );
}

/// CPU per signature verification (S24's signature, trust store loaded once), printed; run with
/// `cargo test --release --test notation_shared -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_microseconds_per_signature_verification() {
    let data = notation_data();
    let policy =
        TrustPolicy::parse(&std::fs::read(data.join("trustpolicies/trustpolicy.json")).unwrap())
            .unwrap();
    let statement = policy.applicable(SCOPE).unwrap();
    let stores = truststore::load(&data.join("truststores/e2e"), &statement.trust_stores);
    let (artifact, candidates) = fetch(&data.join("oci_layout/e2e-valid-signature"), VD).unwrap();
    let n = 500;
    let start = std::time::Instant::now();
    for _ in 0..n {
        verify_artifact(
            statement,
            &stores,
            &artifact,
            "bench",
            &candidates,
            OffsetDateTime::now_utc(),
            &Offline,
            &Limits::default(),
        )
        .unwrap();
    }
    let us = start.elapsed().as_micros() / n;
    eprintln!(
        "notation: {us} µs per signature verification (JWS, PS256, RSA 2048, one certificate)"
    );
}
