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

use common::notation_table::{check_rows, matches, policy_file, shared_table, Row, V};
use common::oci_data::notation_data;

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
    let policy_bytes = std::fs::read(data.join("trustpolicies").join(policy_file(policy))).unwrap();
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

/// Where this layer checks more narrowly than the table's pattern: the fixture's messages.
const NARROWER: [(&str, &str); 2] = [
    ("S39", "no signature|not signed|unsigned"),
    ("S41", "v2|not found"),
];

/// Verified as `digest`, with a warning matching `warning` (every warning a `Warning: ` line), or
/// with none when `warning` is empty.
fn verified(o: Outcome, digest: &str, warning: &str) -> Result<(), String> {
    let Outcome::Verified {
        digest: d,
        warnings,
    } = o
    else {
        return Err(format!("expected {digest} verified, got {o:?}"));
    };
    if d != digest {
        Err(format!("verified {d}, expected {digest}"))
    } else if warning.is_empty() {
        match warnings.is_empty() {
            true => Ok(()),
            false => Err(format!("unexpected warnings {warnings:?}")),
        }
    } else if !warnings.iter().any(|w| matches(warning, w)) {
        Err(format!("warnings {warnings:?} do not mention {warning:?}"))
    } else if !warnings.iter().all(|w| w.starts_with("Warning: ")) {
        Err(format!("{warnings:?}"))
    } else {
        Ok(())
    }
}

/// Failed as `failure` with a message matching `words`.
fn failed_as(o: Outcome, failure: Failure, words: &str) -> Result<(), String> {
    match o {
        Outcome::Failed {
            failure: f,
            message,
        } if f == failure => match matches(words, &message) {
            true => Ok(()),
            false => Err(format!("{message:?} does not mention {words:?}")),
        },
        Outcome::Failed {
            failure: f,
            message,
        } => Err(format!("expected {failure:?}, got {f:?}: {message}")),
        other => Err(format!("expected {failure:?}, got {other:?}")),
    }
}

/// Skipped, saying so in words matching `words`.
fn skipped(o: Outcome, words: &str) -> Result<(), String> {
    match o {
        Outcome::Skipped(m) if matches(words, &m) => Ok(()),
        other => Err(format!(
            "expected skipped mentioning {words:?}, got {other:?}"
        )),
    }
}

/// What a row's exit code means here: 0 with a digest verified (the stderr words a warning), 0
/// without one skipped, 1 refused, 2 bad input.
fn expect_row(o: Outcome, row: &Row) -> Result<(), String> {
    let words = row.stderr_within(&NARROWER);
    match (row.code, row.digest) {
        (0, Some(digest)) => verified(o, digest, words),
        (0, None) => skipped(o, words),
        (1, _) => failed_as(o, Failure::Refused, words),
        (2, _) => failed_as(o, Failure::BadInput, words),
        (code, _) => Err(format!("no library outcome stands for exit {code}")),
    }
}

#[track_caller]
fn must(r: Result<(), String>) {
    if let Err(e) = r {
        panic!("{e}");
    }
}

const VD: &str = "@sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9";

#[test]
fn every_shared_table_row_through_the_library() {
    check_rows(&shared_table(), |row| {
        let o = run(
            &row.layout,
            &row.reference(),
            &row.policy,
            &row.store,
            row.at.as_deref(),
        );
        expect_row(o, row)
    });
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
/// S43-S46: `reference` of `layout` under the strict policy and the e2e store.
fn run_e2e(layout: &str, reference: &str) -> Outcome {
    run(layout, reference, "trustpolicy", "e2e", None)
}
#[test]
fn s43_to_s45_tag_and_digest_verify_to_the_same_digest() {
    must(verified(run_e2e("e2e-valid-signature", ":v1"), V, ""));
    must(verified(run_e2e("e2e-valid-signature", VD), V, ""));
}
#[test]
fn s46_one_refused_reference_of_two() {
    must(verified(run_e2e("e2e-valid-signature", ":v1"), V, ""));
    let expired = run_e2e("e2e-expired-signature", VD);
    must(failed_as(expired, Failure::Refused, "expir"));
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
