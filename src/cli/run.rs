//! The subcommands other than inspect: resolve, get-root-key, archive, policy check, pin.

use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, Result};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::cli::args::{self, ArchiveArgs, BatchArgs, GetRootKeyArgs, OutputArg, ResolveArgs};
use crate::cli::sources;
use crate::cli::{self, Worst};
use crate::failure::{Classify, Failure};
use crate::fetch::archive;
use crate::policy::{PolicySet, Verification};
use crate::reference;
use crate::report::rootkey;
use crate::resolve::batch::{self, Answer, Outcome, Plans};
use crate::resolve::{Limits, ResolveError};
use crate::tuf::role::RoleName;

/// Resolve `inputs` under the batch flags: plans announced (a relaxed policy level warns every
/// time), progress on a terminal for long batches, `on_final` for each outcome as it is final.
pub(crate) fn resolve_batch(
    batch: &BatchArgs,
    inputs: Vec<String>,
    on_final: &mut dyn FnMut(&Outcome) -> Result<()>,
) -> Result<Vec<Outcome>> {
    let (plans, sources) = batch.trust.plans()?;
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr()) && inputs.len() > 20;
    let cache = batch.trust.cache();
    let outcomes = batch::resolve_all(
        inputs,
        &plans,
        &sources,
        batch.jobs,
        cache.as_ref(),
        &mut |plan| {
            if plan.policy.is_some() && !plan.skip {
                args::announce_level(plan.opts.level, plan.policy.as_deref());
            }
        },
        &mut |o, done, total| {
            on_final(o)?;
            if progress {
                eprint!("\r{done}/{total} resolved");
            }
            Ok::<(), anyhow::Error>(())
        },
    )?;
    if progress {
        say!();
    }
    Ok(outcomes)
}

/// The worst failure among outcomes.
pub(crate) fn worst_of(outcomes: &[Outcome]) -> Worst {
    outcomes
        .iter()
        .filter_map(|o| o.error().map(Classify::failure))
        .max()
}

pub(crate) fn resolve(args: ResolveArgs) -> Result<Worst> {
    let inputs = args::collect_inputs(&args)?;
    // Buffered, and flushed per line only for jsonl (whose point is to stream).
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let jsonl = args.output == OutputArg::Jsonl;
    let outcomes = resolve_batch(&args.batch, inputs, &mut |o| {
        if jsonl {
            writeln!(stdout, "{}", json_outcome(o))?;
            stdout.flush()?;
        }
        Ok(())
    })?;
    match args.output {
        OutputArg::Text => {
            for o in &outcomes {
                let gun = o.image.as_ref().map_or("", |i| i.gun.as_str());
                match &o.answer {
                    Answer::Trusted(r) => {
                        for w in &r.warnings {
                            say!("warning: {}: {w}", o.input);
                        }
                        note_generations(o);
                        writeln!(stdout, "{gun}@{}", r.selection.digest)?;
                    }
                    Answer::Skipped => {
                        say!(
                            "warning: {}: NOT VERIFIED: policy {:?} says skip",
                            o.input,
                            o.policy.as_deref().unwrap_or_default()
                        );
                        writeln!(
                            stdout,
                            "{}",
                            o.image.as_ref().map_or(o.input.clone(), |i| i.to_string())
                        )?;
                    }
                    Answer::Failed(e) => say!("trustpin: {}: {}", o.input, cli::message(e)),
                    Answer::Pending => {}
                }
            }
        }
        OutputArg::Json => {
            let items: Vec<serde_json::Value> = outcomes.iter().map(json_outcome).collect();
            serde_json::to_writer_pretty(&mut stdout, &items)?;
            writeln!(stdout)?;
        }
        OutputArg::Jsonl => {}
    }
    stdout.flush()?;
    Ok(worst_of(&outcomes))
}

/// Under a statement with both generations, which verified (a migration window must show it).
fn note_generations(o: &Outcome) {
    if !o.two_generations {
        return;
    }
    let names: Vec<&str> = o.generations.iter().map(|g| g.title()).collect();
    let policy = o.policy.as_deref().unwrap_or_default();
    match names.as_slice() {
        [one] => note!(
            "{}: verified by its {one} signature only (policy {policy:?}, require any)",
            o.input
        ),
        _ => note!(
            "{}: verified by {} signatures (policy {policy:?})",
            o.input,
            names.join(" and ")
        ),
    }
}

fn json_outcome(o: &Outcome) -> serde_json::Value {
    let image = o.image.as_ref();
    let mut v = serde_json::json!({
        "input": o.input,
        "gun": image.map(|i| i.gun.clone()),
        "tag": image.and_then(|i| i.tag.clone()),
        "policy": o.policy,
    });
    match &o.answer {
        Answer::Trusted(r) => {
            v["digest"] = r.selection.digest.to_string().into();
            v["reference"] = format!(
                "{}@{}",
                image.map_or("", |i| i.gun.as_str()),
                r.selection.digest
            )
            .into();
            v["length"] = r.selection.length.into();
            v["signed_tag"] = r.selection.tag.clone().into();
            v["decided_by"] = r.selection.decided_by.clone().into();
            v["signers"] = r.selection.signed_by.clone().into();
            v["verification"] = "verified".into();
            v["generation"] = o
                .generations
                .iter()
                .map(|g| g.name())
                .collect::<Vec<_>>()
                .into();
            if let Some(n) = &o.notation {
                v["notation"] = serde_json::json!({
                    "policy": n.verified.statement(),
                    "signatures": n.verified.reports().iter().map(|r| r.to_json()).collect::<Vec<_>>(),
                });
            }
            v["warnings"] = r
                .warnings
                .iter()
                .map(|w| w.message.clone())
                .collect::<Vec<_>>()
                .into();
            v["exit_code"] = 0.into();
        }
        Answer::Skipped => {
            v["digest"] = serde_json::Value::Null;
            v["verification"] = "skipped".into();
            v["warnings"] = serde_json::json!([format!(
                "NOT VERIFIED: policy {:?} says skip",
                o.policy.as_deref().unwrap_or_default()
            )]);
            v["exit_code"] = 0.into();
        }
        Answer::Failed(e) => {
            let failure = e.failure();
            v["digest"] = serde_json::Value::Null;
            v["verification"] = failure.label().into();
            v["error"] = cli::error_json(e);
            v["generation"] = serde_json::json!([]);
            v["warnings"] = serde_json::json!([]);
            v["exit_code"] = failure.exit_code().into();
        }
        Answer::Pending => {}
    }
    v
}

pub(crate) fn get_root_key(args: GetRootKeyArgs) -> Result<Worst> {
    let image = match reference::parse(&args.image) {
        Ok(i) => i,
        Err(e) => {
            say!("get-root-key: {e}");
            return Ok(Some(e.failure()));
        }
    };
    args::check_server_scheme(&args.source)?;
    let location = sources::location_for(&args.source, &image);
    let source = match sources::make_source(&args.source, &location) {
        Ok(s) => s,
        Err(e) => {
            let e = ResolveError::from(e);
            say!("get-root-key: {}", cli::message(&e));
            return Ok(Some(e.failure()));
        }
    };
    let bytes = match source.fetch(&image.gun, &RoleName::ROOT, Limits::default().root) {
        Ok(b) => b,
        Err(e) if e.is_not_found() => {
            say!(
                "get-root-key: no trust data for {}: {} not found",
                image.gun,
                source.location(&image.gun, &RoleName::ROOT)
            );
            return Ok(Some(Failure::Refused));
        }
        Err(e) => {
            say!("get-root-key: {e}");
            return Ok(Some(ResolveError::from(e).failure()));
        }
    };
    let keys = match rootkey::root_keys(&image.gun, &bytes, OffsetDateTime::now_utc()) {
        Ok(k) => k,
        Err(e) => {
            say!("get-root-key: {}: refusing: {e}", image.gun);
            return Ok(Some(e.failure()));
        }
    };
    for w in &keys.warnings {
        say!("warning: {}: {w}", image.gun);
    }
    note!(
        "this key was read from {} and is trusted on first use: compare it with the repository owner's through a second channel before pinning it",
        source.location(&image.gun, &RoleName::ROOT)
    );
    let mut stdout = std::io::stdout().lock();
    let fmt = |t: OffsetDateTime| {
        t.to_offset(time::UtcOffset::UTC)
            .format(&Rfc3339)
            .unwrap_or_default()
    };
    match (args.pem_only, args.output) {
        (true, _) => {
            for k in &keys.keys {
                write!(stdout, "{}", k.pem)?;
            }
        }
        (false, Some(format @ (OutputArg::Json | OutputArg::Jsonl))) => {
            let v = serde_json::json!({
                "gun": image.gun,
                "root_version": keys.version,
                "root_expires": fmt(keys.expires),
                "threshold": keys.threshold,
                "keys": keys.keys.iter().map(|k| serde_json::json!({
                    "key_id": k.key_id,
                    "canonical_id": k.canonical_id,
                    "pem": k.pem,
                    "common_name": k.certificate.as_ref().map(|c| &c.common_name),
                    "not_before": k.certificate.as_ref().map(|c| fmt(c.not_before)),
                    "not_after": k.certificate.as_ref().map(|c| fmt(c.not_after)),
                })).collect::<Vec<_>>(),
            });
            if format == OutputArg::Jsonl {
                serde_json::to_writer(&mut stdout, &v)?;
            } else {
                serde_json::to_writer_pretty(&mut stdout, &v)?;
            }
            writeln!(stdout)?;
        }
        (false, _) => {
            // `KeyID:` then `Key:` as Connaisseur's get_root_key prints them (the certificate's
            // ID); the canonical ID, which inspect, policy check and messages show, after the key.
            for k in &keys.keys {
                writeln!(stdout, "KeyID: {}", k.key_id)?;
                write!(stdout, "Key: {}", k.pem)?;
                writeln!(stdout, "CanonicalID: {}", k.canonical_id)?;
            }
            note!(
                "KeyID is the root certificate's ID (as notary and Connaisseur show it); \
                 CanonicalID is its public key's ID (as docker trust inspect, trustpin inspect, \
                 policy check and error messages show it)"
            );
        }
    }
    Ok(None)
}

pub(crate) fn archive(args: ArchiveArgs) -> Result<Worst> {
    let opts = args.repo.options()?;
    let cache = args.repo.cache();
    let plans = Plans::single(batch::Plan {
        opts: opts.clone(),
        policy: None,
        skip: false,
    });
    let sources = sources::FlagSources(vec![args.repo.source.clone()]);
    let (outcomes, jobs) = batch::plan(args.images.clone(), &plans, &sources);
    let mut worst: Worst = None;
    for o in &outcomes {
        if let Answer::Failed(e) = &o.answer {
            say!("trustpin: {}: {}", o.input, cli::message(e));
            worst = worst.max(Some(e.failure()));
        }
    }
    // Archived once per repository, however many of its images were named (and wherever from).
    let mut done = std::collections::BTreeSet::new();
    let jobs: Vec<batch::Job> = jobs
        .into_iter()
        .filter(|j| done.insert(j.gun.clone()))
        .collect();
    let mut stdout = std::io::stdout().lock();
    batch::run(
        &jobs,
        &plans,
        &sources,
        1,
        cache.as_ref(),
        &mut |j, source, result| {
            let job = &jobs[j];
            let input = &outcomes[job.members[0]].input;
            let fetched = match result {
                Ok(f) => f,
                Err(e) => {
                    say!("trustpin: {input}: {}", cli::message(&e));
                    worst = worst.max(Some(e.failure()));
                    return Ok(());
                }
            };
            for w in &fetched.repo.warnings {
                say!("warning: {input}: {w}");
            }
            let Some(source) = source else { return Ok(()) };
            let extra = match archive::missing_root_versions(
                source,
                &job.gun,
                &fetched,
                opts.limits.deadline,
            ) {
                Ok(x) => x,
                Err(e) => {
                    say!("trustpin: {input}: {e}");
                    worst = worst.max(Some(e.failure()));
                    return Ok(());
                }
            };
            let manifest = archive::write(
                &args.out,
                &job.gun,
                &job.location,
                &fetched,
                &extra,
                opts.at,
            )
            .with_context(|| format!("archiving {}", job.gun))?;
            writeln!(stdout, "{} archived: {}", job.gun, manifest.display())?;
            Ok::<(), anyhow::Error>(())
        },
    )?;
    Ok(worst)
}

pub(crate) fn policy_check(file: &Path, images: &[String]) -> Result<Worst> {
    let set = match PolicySet::load(file) {
        Ok(s) => s,
        Err(e) => {
            say!("trustpin: {e}");
            return Ok(Some(e.failure()));
        }
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}: {} policies, valid",
        file.display(),
        set.policies.len()
    )?;
    for p in &set.policies {
        let level = match p.verification {
            Verification::Skip => "skip (NOT VERIFIED)".to_owned(),
            Verification::Verify(l) => l.to_string(),
        };
        writeln!(out, "\npolicy {:?}: level {level}", p.name)?;
        let generations: Vec<&str> = p.generations().iter().map(|g| g.title()).collect();
        if !generations.is_empty() {
            let require = match (generations.len(), p.require) {
                (1, _) => "",
                (_, crate::policy::Require::All) => " (both required)",
                (_, crate::policy::Require::Any) => " (either: require any)",
            };
            writeln!(out, "  generations  {}{require}", generations.join(" + "))?;
        }
        for scope in &p.scopes {
            writeln!(out, "  scope        {scope}")?;
        }
        for k in &p.trust_roots {
            writeln!(out, "  trust root   {} ({})", k.canonical_id(), k.origin())?;
        }
        if !p.required_delegations.is_empty() {
            writeln!(out, "  requires     {}", p.required_delegations.join(", "))?;
        }
        if let Some(n) = &p.notation {
            for s in &n.statement.trust_stores {
                writeln!(out, "  trust store  {}:{}", s.kind.name(), s.name)?;
            }
            writeln!(out, "  store folder {}", n.trust_store.display())?;
            for i in &n.statement.trusted_identities {
                writeln!(out, "  identity     {}", i.as_str())?;
            }
        }
        if let Some(url) = &p.server.url {
            writeln!(out, "  server       {url}")?;
        }
        if let Some(ca) = &p.server.ca_file {
            writeln!(out, "  CA file      {}", ca.display())?;
        }
        if let Some(c) = &p.server.credentials {
            writeln!(out, "  credentials  {c}")?;
        }
        if p.server.check_health {
            writeln!(out, "  health check on")?;
        }
    }
    let mut worst: Worst = None;
    if !images.is_empty() {
        writeln!(out)?;
    }
    for input in images {
        match reference::parse(input) {
            Ok(image) => match set.for_gun(&image.gun) {
                Some(p) => {
                    let g: Vec<&str> = p.generations().iter().map(|g| g.title()).collect();
                    let g = if g.is_empty() {
                        "NOT VERIFIED".to_owned()
                    } else {
                        g.join(" + ")
                    };
                    writeln!(out, "{input} → policy {:?} ({g})", p.name)?
                }
                None => {
                    writeln!(out, "{input} → no policy: refused")?;
                    worst = worst.max(Some(Failure::Refused));
                }
            },
            Err(e) => {
                say!("trustpin: {e}");
                worst = worst.max(Some(e.failure()));
            }
        }
    }
    Ok(worst)
}
