//! `trustpin inspect --signatures IMAGE...`: every signature of each image, both generations
//! ([`crate::report::signatures`]). Notary v1: the repository verified as `resolve` verifies it
//! (pinned keys from `--root-key` or the policy), one row per role that signed the tag. Notation:
//! every signature the registry lists (at most 100), each verified on its own under the image's
//! Notation statement; without one, listed as not trusted. Exit 0 when some signature of every
//! image is trusted, 1 when none of one is, 2 and 3 as everywhere.

use std::io::Write as _;

use anyhow::Result;

use super::args::{self, InspectArgs, OutputArg};
use super::Worst;
use crate::failure::{Classify, Failure};
use crate::fetch::oci::Reference;
use crate::notation::oci::fetch_all;
use crate::notation::truststore;
use crate::notation::verify::{verify_artifact, Limits, VerifyError};
use crate::reference::{self, ImageRef};
use crate::report::inspect::report;
use crate::report::signatures::{notary_v1_rows, notation_row, Row};
use crate::resolve::batch::{Plans, Sources};
use crate::resolve::notation::repository;
use crate::resolve::{fetch_repo_cached, select_ref};

pub(crate) fn run(a: InspectArgs) -> Result<Worst> {
    let (plans, sources) = args::plans(&a.repo, a.insecure_registry, a.policy.as_ref())?;
    let cache = a.repo.cache();
    let mut worst: Worst = None;
    let mut out = std::io::stdout().lock();
    for input in &a.images {
        let image = match reference::parse(input) {
            Ok(i) => i,
            Err(e) => {
                say!("trustpin: {e}");
                worst = worst.max(Some(e.failure()));
                continue;
            }
        };
        let mut problems: Vec<Failure> = Vec::new();
        let rows = rows_of(&image, &plans, &sources, cache.as_ref(), &mut problems);
        let fail = if rows.iter().any(|r| r.trusted) {
            None
        } else {
            Some(problems.into_iter().max().unwrap_or(Failure::Refused))
        };
        worst = worst.max(fail);
        match a.output {
            OutputArg::Text => {
                writeln!(out, "Signatures of {input}")?;
                writeln!(
                    out,
                    "{:<10} {:<8} {:<72} AUTHOR",
                    "TOOL", "TRUSTED", "DIGEST"
                )?;
                for r in &rows {
                    writeln!(
                        out,
                        "{:<10} {:<8} {:<72} {}",
                        r.tool, r.trusted, r.digest, r.author
                    )?;
                }
                if rows.is_empty() {
                    writeln!(out, "(no signatures found)")?;
                }
                writeln!(out)?;
            }
            format => {
                let v = serde_json::json!({
                    "image": input,
                    "signatures": rows.iter().map(Row::to_json).collect::<Vec<_>>(),
                    "exit_code": fail.map_or(0, Failure::exit_code),
                });
                if format == OutputArg::Jsonl {
                    writeln!(out, "{v}")?;
                } else {
                    writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
                }
            }
        }
    }
    Ok(worst)
}

/// Both generations' rows of `image`; what could not be looked at is said on stderr and its
/// failure pushed to `problems`.
fn rows_of(
    image: &ImageRef,
    plans: &Plans,
    sources: &dyn Sources,
    cache: Option<&crate::fetch::cache::Cache>,
    problems: &mut Vec<Failure>,
) -> Vec<Row> {
    let input = &image.input;
    let Some(ix) = plans.index_for(&image.gun) else {
        say!(
            "trustpin: {input}: no trust policy scope matches {}",
            image.gun
        );
        problems.push(Failure::Refused);
        return Vec::new();
    };
    let plan = &plans.plans[ix];
    let mut rows = Vec::new();
    if plans.notary_v1(ix) && !plan.skip {
        let location = sources.location(ix, image);
        let fetched = sources
            .open(ix, &location)
            .map_err(crate::resolve::ResolveError::from)
            .and_then(|s| fetch_repo_cached(s.as_ref(), &image.gun, &plan.opts, cache));
        match fetched {
            Ok(f) => {
                let counted = select_ref(&f.repo, image, &plan.opts)
                    .map(|r| r.selection.signed_by)
                    .unwrap_or_default();
                let tag = image.tag.as_deref().unwrap_or("latest");
                rows.extend(notary_v1_rows(&report(&f.repo, Some(tag)), tag, &counted));
            }
            Err(e) => {
                say!("trustpin: {input}: Notary v1: {}", super::message(&e));
                problems.push(e.failure());
            }
        }
    }
    let statement = plans.policy(ix).and_then(|p| p.notation.as_ref());
    let registry = match sources.registry(ix, &image.registry) {
        Ok(r) => r.with_deadline(std::time::Instant::now() + plan.opts.limits.deadline),
        Err(e) => {
            say!("trustpin: {input}: Notation: {e}");
            problems.push(e.failure());
            return rows;
        }
    };
    let reference = match (&image.digest, &image.tag) {
        (Some(d), _) => Reference::Digest(*d),
        (_, t) => Reference::Tag(t.clone().unwrap_or_else(|| "latest".into())),
    };
    let limits = Limits::default();
    let (artifact, candidates) =
        match fetch_all(&registry, repository(image), &reference, input, &limits) {
            Ok(found) => found,
            Err(crate::notation::oci::RunError::Verify(VerifyError::NoSignature(_))) => {
                return rows
            }
            Err(e) => {
                // Only an outage of a statement that asks for Notation counts against the image.
                say!("trustpin: {input}: Notation: {e}");
                if statement.is_some() {
                    problems.push(e.failure());
                }
                return rows;
            }
        };
    let Some(n) = statement else {
        for c in &candidates {
            rows.push(Row {
                tool: "notation",
                trusted: false,
                author: String::new(),
                digest: artifact.digest,
                signature: c.manifest_digest.to_string(),
                reason: Some("no Notation statement covers this repository".into()),
            });
        }
        return rows;
    };
    let stores = truststore::load(&n.trust_store, &n.statement.trust_stores);
    let revocation = crate::resolve::notation::revocation_checker(sources);
    for c in &candidates {
        let report = match verify_artifact(
            &n.statement,
            &stores,
            &artifact,
            input,
            std::slice::from_ref(c),
            plan.opts.at,
            &revocation,
            &limits,
        ) {
            Ok(v) => v.signature().clone(),
            Err(e) => match e.reports().last() {
                Some(r) => r.clone(),
                None => continue,
            },
        };
        rows.push(notation_row(&report, artifact.digest));
    }
    rows
}
