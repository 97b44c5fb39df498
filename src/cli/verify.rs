//! `trustpin verify`: Notation signatures of OCI layouts, over [`crate::notation`]. The policy
//! is read and validated whole first (bad input, exit 2), a skip statement ends before anything
//! is fetched, then each reference is fetched and verified; warnings and refusals go to stderr in
//! notation's words, verified digests to stdout.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::args::NotationVerifyArgs;
use super::Worst;
use crate::failure::{Classify, Failure};
use crate::fetch::oci::layout::LayoutSource;
use crate::fetch::oci::Reference;
use crate::notation::oci::{verify_reference, RunError};
use crate::notation::policy::{TrustPolicy, MAX_POLICY_BYTES};
use crate::notation::revocation::Offline;
use crate::notation::truststore;
use crate::notation::verify::Limits;
use crate::reference::Digest;

/// Notation's default policy file.
fn default_policy() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => PathBuf::from(
            std::env::var_os("HOME").context("neither XDG_CONFIG_HOME nor HOME is set")?,
        )
        .join(".config"),
    };
    Ok(base.join("notation/trustpolicy.json"))
}

/// `PATH:tag` or `PATH@sha256:<hex>`.
fn split_layout_reference(s: &str) -> Result<(String, Reference)> {
    if let Some((path, digest)) = s.rsplit_once('@') {
        let d = Digest::parse(digest).with_context(|| format!("{s}: not a layout reference"))?;
        return Ok((path.to_string(), Reference::Digest(d)));
    }
    match s.rsplit_once(':') {
        Some((path, tag)) if !path.is_empty() && !tag.is_empty() && !tag.contains('/') => {
            Ok((path.to_string(), Reference::Tag(tag.to_string())))
        }
        _ => bail!("{s}: an OCI layout reference is PATH:tag or PATH@sha256:<hex>"),
    }
}

pub(crate) fn run(args: NotationVerifyArgs) -> Result<Worst> {
    if !args.oci_layout {
        bail!("verify: only --oci-layout references are supported in this build (registry verification is not wired yet)");
    }
    let Some(scope) = args.scope.as_deref() else {
        bail!("verify: --oci-layout needs --scope, the repository the trust policy is matched against (e.g. --scope local/app)");
    };
    let at = match &args.at {
        Some(t) => OffsetDateTime::parse(t, &Rfc3339)
            .with_context(|| format!("--at {t}: not an RFC 3339 time"))?,
        None => OffsetDateTime::now_utc(),
    };
    let policy_path = match &args.policy {
        Some(p) => p.clone(),
        None => default_policy()?,
    };
    let bytes = read_policy(&policy_path)?;
    let policy = TrustPolicy::parse(&bytes)
        .with_context(|| format!("trust policy {}", policy_path.display()))?;
    let trust_store = args.trust_store.clone().unwrap_or_else(|| {
        policy_path
            .parent()
            .unwrap_or(Path::new("."))
            .join("truststore")
    });
    let limits = Limits {
        max_signatures: args.max_signatures as usize,
        ..Limits::default()
    };
    let mut worst: Worst = None;
    let mut json = Vec::new();
    for input in &args.references {
        let text = args.output == "text";
        let (result, value) = one(input, scope, &policy, &trust_store, at, &limits, text);
        if let Err(f) = result {
            worst = worst.max(Some(f));
        }
        match args.output.as_str() {
            "jsonl" => println!("{value}"),
            "json" => json.push(value),
            _ => {}
        }
    }
    if args.output == "json" {
        println!("{}", serde_json::Value::Array(json));
    }
    Ok(worst)
}

fn read_policy(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let meta = std::fs::symlink_metadata(path)
        .with_context(|| format!("trust policy {}", path.display()))?;
    if !meta.is_file() {
        bail!(
            "trust policy {} is not a regular file (symlinks are not supported)",
            path.display()
        );
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_POLICY_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// One reference: its result (the failure kind) and its JSON.
fn one(
    input: &str,
    scope: &str,
    policy: &TrustPolicy,
    store: &Path,
    at: OffsetDateTime,
    limits: &Limits,
    text: bool,
) -> (std::result::Result<(), Failure>, serde_json::Value) {
    let fail = |failure: Failure, kind: &str, message: String| {
        say!("Error: {input}: {message}");
        (
            Err(failure),
            serde_json::json!({"reference": input, "verification": failure.label(), "kind": kind, "error": {"message": message}}),
        )
    };
    let Some(statement) = policy.applicable(scope) else {
        return fail(Failure::Refused, "no-policy", format!("artifact {scope:?} has no applicable trust policy statement. Trust policy applicability for a given artifact is determined by registryScopes"));
    };
    if statement.is_skip() {
        say!("Warning: trust policy statement {:?} is set to skip signature verification: {input} NOT VERIFIED", statement.name);
        return (
            Ok(()),
            serde_json::json!({"reference": input, "verification": "skipped", "policy": statement.name}),
        );
    }
    let (path, reference) = match split_layout_reference(input) {
        Ok(x) => x,
        Err(e) => return fail(Failure::BadInput, "bad-reference", format!("{e:#}")),
    };
    let source = match LayoutSource::open(&path) {
        Ok(s) => s,
        Err(e) => return fail(e.failure(), e.kind(), e.to_string()),
    };
    let stores = truststore::load(store, &statement.trust_stores);
    match verify_reference(
        &source, scope, &reference, input, statement, &stores, at, &Offline, limits,
    ) {
        Ok(v) => {
            for w in v.warnings() {
                say!("{w}");
            }
            if text {
                println!("{path}@{}", v.digest());
            }
            (
                Ok(()),
                serde_json::json!({
                    "reference": input, "digest": v.digest().to_string(), "verification": "verified",
                    "generation": "notation", "policy": v.statement(),
                    "signatures": v.reports().iter().map(|r| r.to_json()).collect::<Vec<_>>(),
                    "warnings": v.warnings(),
                }),
            )
        }
        Err(e) => {
            let kind = match &e {
                RunError::Fetch(f) => f.kind(),
                RunError::Verify(v) => v.kind(),
            };
            let reports: Vec<serde_json::Value> = match &e {
                RunError::Verify(v) => v.reports().iter().map(|r| r.to_json()).collect(),
                RunError::Fetch(_) => Vec::new(),
            };
            for r in match &e {
                RunError::Verify(v) => v.reports(),
                RunError::Fetch(_) => &[],
            } {
                for w in &r.warnings {
                    say!("{w}");
                }
            }
            let (result, mut value) = fail(e.failure(), kind, e.to_string());
            value["signatures"] = reports.into();
            (result, value)
        }
    }
}
