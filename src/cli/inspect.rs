//! `trustpin inspect`: who signed what, as `docker trust inspect` shows it (JSON with docker's
//! field names plus ours, or aligned text tables), over [`crate::report::inspect`].

use std::io::Write;

use anyhow::Result;

use crate::cli::args::{self, InspectArgs, OutputArg};
use crate::cli::{self, Worst};
use crate::failure::{Classify, Failure};
use crate::reference::ImageRef;
use crate::report::inspect;
use crate::resolve::batch::{self, Plan, Plans};
use crate::resolve::{Fetched, ResolveError};
use crate::tuf::chain::Repo;

/// Whether the user named a tag (a bare name means "all tags" to inspect, `latest` to resolve).
fn tag_given(image: &ImageRef) -> bool {
    image.tag.as_ref().is_some_and(|t| {
        image.input.ends_with(&format!(":{t}")) || image.input.contains(&format!(":{t}@"))
    })
}

pub(crate) fn run(args: InspectArgs) -> Result<Worst> {
    args::check_server_scheme(&args.source)?;
    let opts = args::options(&args.verify)?;
    let cache = args.verify.cache(&args.source);
    let plans = Plans::single(Plan {
        opts,
        policy: None,
        skip: false,
    });
    let sources = args::FlagSources(vec![args.source.clone()]);
    let (outcomes, jobs) = batch::plan(args.images.clone(), &plans, &sources);
    // Each repository is fetched and verified once, however many of its images are named.
    let mut fetched: Vec<Option<Result<Fetched, ResolveError>>> = vec![None; jobs.len()];
    batch::run(
        &jobs,
        &plans,
        &sources,
        1,
        cache.as_ref(),
        &mut |j, _, result| {
            fetched[j] = Some(result);
            Ok::<(), std::convert::Infallible>(())
        },
    )
    .unwrap_or_else(|never| match never {});
    let mut job_of = vec![None; outcomes.len()];
    for (j, job) in jobs.iter().enumerate() {
        for &i in &job.members {
            job_of[i] = Some(j);
        }
    }
    let mut worst: Worst = None;
    let mut array = JsonArray { open: false };
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    for (o, job) in outcomes.iter().zip(job_of) {
        let input = o.input.as_str();
        let (Some(image), Some(Some(result))) = (&o.image, job.map(|j| &fetched[j])) else {
            if let Some(e) = o.error() {
                say!("trustpin: {input}: {}", cli::message(e));
                worst = worst.max(Some(e.failure()));
            }
            continue;
        };
        let repo = match result {
            Ok(f) => &f.repo,
            Err(e) => {
                let msg = cli::message(e);
                say!("trustpin: {input}: {msg}");
                let failure = e.failure();
                worst = worst.max(Some(failure));
                let failed = serde_json::json!({ "Name": input, "Gun": image.gun, "Error": msg, "ExitCode": failure.exit_code() });
                match args.output {
                    OutputArg::Json => array.item(&mut stdout, &failed)?,
                    OutputArg::Jsonl => writeln!(stdout, "{failed}")?,
                    OutputArg::Text => {}
                }
                continue;
            }
        };
        let tag = if tag_given(image) {
            image.tag.as_deref()
        } else {
            None
        };
        let report = inspect::report(repo, tag);
        for w in &repo.warnings {
            say!("warning: {input}: {w}");
        }
        if let Some(t) = tag {
            if report.signed_tags.is_empty() {
                say!("trustpin: {input}: no signatures for tag {t:?}");
                worst = worst.max(Some(Failure::Refused));
            }
        }
        match args.output {
            OutputArg::Json => array.item(&mut stdout, &inspect_json(input, &report, repo))?,
            OutputArg::Jsonl => {
                serde_json::to_writer(&mut stdout, &inspect_json(input, &report, repo))?;
                writeln!(stdout)?;
            }
            OutputArg::Text => write_inspect_text(&mut stdout, input, &report)?,
        }
    }
    if args.output == OutputArg::Json {
        array.finish(&mut stdout)?;
    }
    stdout.flush()?;
    Ok(worst)
}

/// `docker trust inspect` field names, plus ours, serialised straight from the report (no JSON
/// tree in memory: a repository with thousands of tags is written as it is walked).
fn inspect_json<'a>(input: &'a str, r: &'a inspect::Report, repo: &'a Repo) -> InspectOut<'a> {
    let keys = |ids: &'a [String]| {
        ids.iter()
            .map(|id| KeyOut {
                id,
                listed_id: None,
            })
            .collect::<Vec<_>>()
    };
    InspectOut {
        name: input,
        gun: &r.gun,
        signed_tags: r
            .signed_tags
            .iter()
            .map(|t| TagOut {
                signed_tag: &t.tag,
                digest: t.digest.hex(),
                signers: &t.signers,
                roles: &t.roles,
            })
            .collect(),
        signers: r
            .signers
            .iter()
            .filter(|s| s.verified.is_ok())
            .map(|s| SignerOut {
                name: &s.name,
                keys: keys(&s.key_ids),
            })
            .collect(),
        administrative_keys: [
            SignerOut {
                name: "Root",
                keys: keys(&r.root_keys),
            },
            SignerOut {
                name: "Repository",
                keys: keys(&r.repository_keys),
            },
        ],
        delegations: r
            .signers
            .iter()
            .map(|s| DelegationOut {
                role: &s.role,
                name: &s.name,
                keys: s
                    .key_ids
                    .iter()
                    .zip(&s.listed_key_ids)
                    .map(|(id, l)| KeyOut {
                        id,
                        listed_id: Some(l),
                    })
                    .collect(),
                threshold: s.threshold,
                paths: &s.paths,
                verified: s.verified.is_ok(),
                error: s.verified.as_ref().err().map(ToString::to_string),
            })
            .collect(),
        disagreements: r
            .disagreements
            .iter()
            .map(|d| DisagreementOut {
                signed_tag: &d.tag,
                signed: d
                    .signed
                    .iter()
                    .map(|(role, dg)| RoleDigestOut {
                        role,
                        digest: dg.hex(),
                    })
                    .collect(),
            })
            .collect(),
        warnings: repo.warnings.iter().map(|w| w.message.as_str()).collect(),
    }
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct InspectOut<'a> {
    name: &'a str,
    gun: &'a str,
    signed_tags: Vec<TagOut<'a>>,
    signers: Vec<SignerOut<'a>>,
    administrative_keys: [SignerOut<'a>; 2],
    delegations: Vec<DelegationOut<'a>>,
    disagreements: Vec<DisagreementOut<'a>>,
    warnings: Vec<&'a str>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct TagOut<'a> {
    signed_tag: &'a str,
    digest: String,
    signers: &'a [String],
    roles: &'a [String],
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct SignerOut<'a> {
    name: &'a str,
    keys: Vec<KeyOut<'a>>,
}

#[derive(serde::Serialize)]
struct KeyOut<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    #[serde(rename = "ListedID", skip_serializing_if = "Option::is_none")]
    listed_id: Option<&'a str>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct DelegationOut<'a> {
    role: &'a str,
    name: &'a str,
    keys: Vec<KeyOut<'a>>,
    threshold: u32,
    paths: &'a [String],
    verified: bool,
    error: Option<String>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct DisagreementOut<'a> {
    signed_tag: &'a str,
    signed: Vec<RoleDigestOut<'a>>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct RoleDigestOut<'a> {
    role: &'a str,
    digest: String,
}

/// Writes a JSON array one element at a time.
struct JsonArray {
    open: bool,
}

impl JsonArray {
    fn item(&mut self, out: &mut impl Write, value: &impl serde::Serialize) -> Result<()> {
        out.write_all(if self.open { b",\n" } else { b"[\n" })?;
        self.open = true;
        serde_json::to_writer_pretty(&mut *out, value)?;
        Ok(())
    }

    fn finish(self, out: &mut impl Write) -> Result<()> {
        out.write_all(if self.open { b"\n]\n" } else { b"[]\n" })?;
        Ok(())
    }
}

/// Aligned tables in the manner of `docker trust inspect --pretty`.
fn write_inspect_text(out: &mut impl Write, input: &str, r: &inspect::Report) -> Result<()> {
    let short = |id: &str| id.chars().take(12).collect::<String>();
    let ids = |keys: &[String]| keys.iter().map(|k| short(k)).collect::<Vec<_>>().join(", ");
    writeln!(out, "\nSignatures for {input}\n")?;
    let rows: Vec<[String; 3]> = r
        .signed_tags
        .iter()
        .map(|t| {
            let flag = if r.disagreements.iter().any(|d| d.tag == t.tag) {
                " (DISAGREES)"
            } else {
                ""
            };
            [
                t.tag.clone(),
                format!("{}{flag}", t.digest.hex()),
                t.signers.join(", "),
            ]
        })
        .collect();
    write_table(out, &["SIGNED TAG", "DIGEST", "SIGNERS"], &rows)?;
    if !r.signers.is_empty() {
        writeln!(out, "\nList of signers and their keys for {input}:\n")?;
        let rows: Vec<[String; 5]> = r
            .signers
            .iter()
            .map(|s| {
                let status = match &s.verified {
                    Ok(()) => "verified".to_owned(),
                    Err(why) => format!("NOT VERIFIED: {why}"),
                };
                let paths = if s.paths.iter().any(String::is_empty) {
                    "(all)".to_owned()
                } else {
                    s.paths.join(", ")
                };
                [
                    s.name.clone(),
                    ids(&s.key_ids),
                    s.threshold.to_string(),
                    paths,
                    status,
                ]
            })
            .collect();
        write_table(
            out,
            &["SIGNER", "KEYS", "THRESHOLD", "PATHS", "STATUS"],
            &rows,
        )?;
    }
    writeln!(out, "\nAdministrative keys for {input}:\n")?;
    writeln!(out, "  Repository Key:\t{}", ids(&r.repository_keys))?;
    writeln!(out, "  Root Key:\t{}", ids(&r.root_keys))?;
    for d in &r.disagreements {
        let parts = d
            .signed
            .iter()
            .map(|(role, dg)| format!("{} → {}", inspect::signer_name(role), dg.hex()))
            .collect::<Vec<_>>();
        writeln!(
            out,
            "\nWARNING: tag {:?} is signed with different digests: {}",
            d.tag,
            parts.join(", ")
        )?;
    }
    Ok(())
}

fn write_table<const N: usize>(
    out: &mut impl Write,
    head: &[&str; N],
    rows: &[[String; N]],
) -> Result<()> {
    let mut widths = head.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == N {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}   "));
            }
        }
        s.trim_end().to_owned()
    };
    writeln!(out, "{}", line(head.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}
