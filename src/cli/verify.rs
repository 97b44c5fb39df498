//! `trustpin verify`: Notation signatures of registry references and OCI layouts, over
//! [`crate::notation`]. The policy is read and validated whole first (bad input, exit 2), each
//! reference parsed, the registries opened ([`super::verify_registry`]); then `--jobs`
//! references are verified at once, each against its own deadline. A skip statement ends a
//! reference before anything is fetched. Warnings and refusals go to stderr in notation's words
//! as they happen; verified digests (or JSON) to stdout, in the order the references were given.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::args::NotationVerifyArgs;
use super::verify_registry::{Registries, Unusable};
use super::Worst;
use crate::failure::{Classify, Failure};
use crate::fetch::cache::Cache;
use crate::fetch::oci::layout::LayoutSource;
use crate::fetch::oci::{OciSource, Reference};
use crate::fetch::revocation::{HttpRevocation, RevocationOptions};
use crate::notation::oci::verify_reference;
use crate::notation::policy::{TrustPolicy, MAX_POLICY_BYTES};
use crate::notation::reference::RegistryRef;
use crate::notation::revocation::RevocationChecker;
use crate::notation::truststore;
use crate::notation::verify::Limits;
use crate::reference::Digest;
use crate::resolve::notation_warm::Context;

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

/// What one REFERENCE names.
enum Target {
    /// An OCI layout folder, matched against `--scope`.
    Layout { path: String, reference: Reference },
    /// A registry reference, matched against its `host/repository`.
    Registry(RegistryRef),
}

/// Everything a reference is verified with, the same for all.
struct Run<'a> {
    policy: &'a TrustPolicy,
    store: &'a Path,
    scope: Option<&'a str>,
    at: OffsetDateTime,
    limits: Limits,
    deadline: Duration,
    registries: &'a Registries,
    /// OCSP and CRL over HTTP, bounded and cached for the whole run.
    revocation: &'a dyn RevocationChecker,
    /// The trust cache for registry references' warm path ([`crate::resolve::notation_warm`]).
    cache: Option<Cache>,
    /// Each statement's trust stores, loaded once for the run (by statement name).
    stores: std::sync::Mutex<BTreeMap<String, std::sync::Arc<truststore::TrustStores>>>,
}

impl Run<'_> {
    fn stores(
        &self,
        statement: &crate::notation::policy::Statement,
    ) -> std::sync::Arc<truststore::TrustStores> {
        let mut loaded = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        loaded
            .entry(statement.name.clone())
            .or_insert_with(|| {
                std::sync::Arc::new(truststore::load(self.store, &statement.trust_stores))
            })
            .clone()
    }
}

/// One reference's answer: how it failed (if it did), its stdout line and its JSON.
struct Outcome {
    result: std::result::Result<(), Failure>,
    line: Option<String>,
    json: serde_json::Value,
}

pub(crate) fn run(args: NotationVerifyArgs) -> Result<Worst> {
    if args.oci_layout && args.scope.is_none() {
        bail!("verify: --oci-layout needs --scope, the repository the trust policy is matched against (e.g. --scope local/app)");
    }
    if !args.oci_layout && args.scope.is_some() {
        bail!("verify: --scope is for --oci-layout; a registry reference is matched against its own host[:port]/repository");
    }
    let at = match &args.at {
        Some(t) => OffsetDateTime::parse(t, &Rfc3339)
            .with_context(|| format!("--at {t}: not an RFC 3339 time"))?,
        None => OffsetDateTime::now_utc(),
    };
    if let Some(t) = &args.at {
        say!("note: verifying as of {t}, not now");
    }
    let policy_path = match &args.policy {
        Some(p) => p.clone(),
        None => default_policy()?,
    };
    let bytes = read_policy(&policy_path)?;
    let policy = TrustPolicy::parse(&bytes)
        .with_context(|| format!("trust policy {}", policy_path.display()))?;
    let store = args.trust_store.clone().unwrap_or_else(|| {
        policy_path
            .parent()
            .unwrap_or(Path::new("."))
            .join("truststore")
    });
    let targets: Vec<std::result::Result<Target, Unusable>> = args
        .references
        .iter()
        .map(|input| parse_target(input, args.oci_layout))
        .collect();
    let registries = Registries::open(
        &args,
        targets.iter().filter_map(|t| match t {
            Ok(Target::Registry(r)) => Some(r.registry.as_str()),
            _ => None,
        }),
    )?;
    let revocation = HttpRevocation::new(RevocationOptions {
        ca_certs: args.ca_certs.clone(),
        ..RevocationOptions::default()
    });
    let run = Run {
        policy: &policy,
        store: &store,
        scope: args.scope.as_deref(),
        at,
        limits: Limits {
            max_signatures: args.max_signatures as usize,
            max_bytes: args.max_bytes,
            ..Limits::default()
        },
        deadline: Duration::from_secs(args.deadline),
        registries: &registries,
        revocation: &revocation,
        cache: if args.oci_layout {
            None
        } else {
            args.trust_cache.open(false, args.at.is_some())
        },
        stores: Default::default(),
    };
    let mut worst: Worst = None;
    let mut json = Vec::new();
    let mut stdout = std::io::stdout().lock();
    let mut broken: Option<std::io::Error> = None;
    in_order(
        targets.len(),
        args.jobs as usize,
        |i| one(&args.references[i], &targets[i], &run),
        |o| {
            if let Err(f) = o.result {
                worst = worst.max(Some(f));
            }
            let written = match args.output.as_str() {
                "jsonl" => writeln!(stdout, "{}", o.json),
                "json" => {
                    json.push(o.json);
                    Ok(())
                }
                _ => match &o.line {
                    Some(l) => writeln!(stdout, "{l}"),
                    None => Ok(()),
                },
            };
            match written {
                Ok(()) => true,
                Err(e) => {
                    broken = Some(e);
                    false
                }
            }
        },
    );
    if let Some(e) = broken {
        return Err(e.into());
    }
    if args.output == "json" {
        writeln!(stdout, "{}", serde_json::Value::Array(json))?;
    }
    Ok(worst)
}

fn parse_target(input: &str, layout: bool) -> std::result::Result<Target, Unusable> {
    if layout {
        split_layout_reference(input)
            .map(|(path, reference)| Target::Layout { path, reference })
            .map_err(|e| (Failure::BadInput, "bad-reference", format!("{e:#}")))
    } else {
        RegistryRef::parse(input)
            .map(Target::Registry)
            .map_err(|e| (e.failure(), e.kind(), e.to_string()))
    }
}

/// Runs `work(0..n)` on up to `jobs` threads and hands each result to `emit` in index order,
/// as soon as all before it are done. `emit` answering `false` stops new work being started.
fn in_order<T: Send>(
    n: usize,
    jobs: usize,
    work: impl Fn(usize) -> T + Sync,
    mut emit: impl FnMut(T) -> bool,
) {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, n.max(1)) {
            let (tx, next, stop, work) = (tx.clone(), &next, &stop, &work);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || stop.load(Ordering::Relaxed) {
                    break;
                }
                if tx.send((i, work(i))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut pending = BTreeMap::new();
        let mut want = 0;
        for (i, t) in rx {
            pending.insert(i, t);
            while let Some(t) = pending.remove(&want) {
                want += 1;
                if !emit(t) {
                    stop.store(true, Ordering::Relaxed);
                    return;
                }
            }
        }
    });
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

/// A refusal or error of `input`: said on stderr, and its JSON.
fn failed(input: &str, (failure, kind, message): Unusable) -> Outcome {
    say!("Error: {input}: {message}");
    Outcome {
        result: Err(failure),
        line: None,
        json: serde_json::json!({"reference": input, "verification": failure.label(), "kind": kind, "error": {"message": message}}),
    }
}

/// One reference, from its target to its outcome.
fn one(input: &str, target: &std::result::Result<Target, Unusable>, run: &Run) -> Outcome {
    let target = match target {
        Ok(t) => t,
        Err(e) => return failed(input, e.clone()),
    };
    let (scope, name) = match target {
        Target::Layout { path, .. } => (run.scope.unwrap_or_default().to_owned(), path.clone()),
        Target::Registry(r) => (r.name(), r.name()),
    };
    let Some(statement) = run.policy.applicable(&scope) else {
        return failed(input, (Failure::Refused, "no-policy", format!("artifact {scope:?} has no applicable trust policy statement. Trust policy applicability for a given artifact is determined by registryScopes")));
    };
    if statement.is_skip() {
        say!("Warning: trust policy statement {:?} is set to skip signature verification: {input} NOT VERIFIED", statement.name);
        return Outcome {
            result: Ok(()),
            line: None,
            json: serde_json::json!({"reference": input, "verification": "skipped", "policy": statement.name}),
        };
    }
    let stores = run.stores(statement);
    let cold = |source: &dyn OciSource, repo: &str, reference: &Reference| {
        verify_reference(
            source,
            repo,
            reference,
            input,
            statement,
            &stores,
            run.at,
            run.revocation,
            &run.limits,
        )
        .map(std::sync::Arc::new)
    };
    let verified = match target {
        Target::Layout { path, reference } => match LayoutSource::open(path) {
            Ok(s) => cold(&s, &scope, reference),
            Err(e) => return failed(input, (e.failure(), e.kind(), e.to_string())),
        },
        Target::Registry(r) => match run.registries.get(&r.registry) {
            Ok(s) => {
                let source = s.with_deadline(Instant::now() + run.deadline);
                let context = Context {
                    cache: run.cache.as_ref(),
                    source: &source,
                    key: &name,
                    repo: &r.repo,
                    name: input,
                    statement,
                    stores: &stores,
                    at: run.at,
                    revocation: run.revocation,
                    limits: &run.limits,
                };
                match run.cache {
                    // Warm first; a tag costs its manifest, then (cold) the digest's.
                    Some(_) => context.verify(&r.reference, &|_| None),
                    // No cache: a tag's manifest and referrers are asked in one wave.
                    None => cold(&source, &r.repo, &r.reference),
                }
            }
            Err(e) => return failed(input, e),
        },
    };
    match verified {
        Ok(v) => {
            for w in v.warnings() {
                say!("{w}");
            }
            Outcome {
                result: Ok(()),
                line: Some(format!("{name}@{}", v.digest())),
                json: serde_json::json!({
                    "reference": input, "name": name, "digest": v.digest().to_string(),
                    "verification": "verified", "generation": "notation", "policy": v.statement(),
                    "signatures": v.reports().iter().map(|r| r.to_json()).collect::<Vec<_>>(),
                    "warnings": v.warnings(),
                }),
            }
        }
        Err(e) => {
            for r in e.reports() {
                for w in &r.warnings {
                    say!("{w}");
                }
            }
            let reports: Vec<serde_json::Value> = e.reports().iter().map(|r| r.to_json()).collect();
            let mut o = failed(input, (e.failure(), e.kind(), e.to_string()));
            o.json["name"] = name.into();
            o.json["signatures"] = reports.into();
            o
        }
    }
}

#[cfg(test)]
mod tests {
    use super::in_order;

    #[test]
    fn results_come_in_input_order_whatever_finishes_first() {
        let mut got = Vec::new();
        in_order(
            12,
            4,
            |i| {
                // Later indexes finish first.
                std::thread::sleep(std::time::Duration::from_millis(((12 - i) * 3) as u64));
                i
            },
            |i| {
                got.push(i);
                true
            },
        );
        assert_eq!(got, (0..12).collect::<Vec<_>>());
    }

    #[test]
    fn a_false_from_emit_stops_new_work() {
        let started = std::sync::atomic::AtomicUsize::new(0);
        let mut got = Vec::new();
        in_order(
            200,
            2,
            |i| {
                started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(2));
                i
            },
            |i| {
                got.push(i);
                i < 3
            },
        );
        assert_eq!(got, [0, 1, 2, 3]);
        assert!(
            started.into_inner() < 20,
            "work went on after emit said stop"
        );
    }
}
