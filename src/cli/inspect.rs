//! `trustpin inspect`: who signed what, as `docker trust inspect` shows it (JSON with docker's
//! field names plus ours, or aligned text tables), over [`crate::report::inspect`].

use std::io::Write;

use anyhow::Result;

use crate::cli::args::{InspectArgs, OutputArg};
use crate::cli::sources;
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
    let opts = args.repo.options()?;
    let cache = args.repo.cache();
    let plans = Plans::single(Plan {
        opts,
        policy: None,
        skip: false,
    });
    let sources = sources::FlagSources(vec![args.repo.source.clone()]);
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
    let mut texts = false;
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
                let others: Vec<&str> = report
                    .other_signed_tags
                    .iter()
                    .flat_map(|o| o.signers.iter().map(String::as_str))
                    .collect();
                if others.is_empty() {
                    say!("trustpin: {input}: no signatures for tag {t:?}");
                } else {
                    say!(
                        "trustpin: {input}: tag {t:?} is not released (neither targets nor \
                         targets/releases signed it); only {} did (see OtherSignedTags)",
                        others.join(", ")
                    );
                }
                worst = worst.max(Some(Failure::Refused));
            }
        }
        match args.output {
            OutputArg::Json => array.item(&mut stdout, &inspect_json(input, &report, repo))?,
            OutputArg::Jsonl => {
                serde_json::to_writer(&mut stdout, &inspect_json(input, &report, repo))?;
                writeln!(stdout)?;
            }
            OutputArg::Text => {
                // docker's separator between images
                if std::mem::replace(&mut texts, true) {
                    stdout.write_all(b"\n\n")?;
                }
                write_inspect_text(&mut stdout, input, &report)?
            }
        }
    }
    if args.output == OutputArg::Json {
        array.finish(&mut stdout)?;
    }
    stdout.flush()?;
    Ok(worst)
}

/// `docker trust inspect`'s fields first, exactly as docker fills them, then ours; serialised
/// straight from the report (no JSON tree in memory: a repository with thousands of tags is
/// written as it is walked).
fn inspect_json<'a>(input: &'a str, r: &'a inspect::Report, repo: &'a Repo) -> InspectOut<'a> {
    let ids = |ids: &'a [String]| ids.iter().map(|id| DockerKey { id }).collect();
    let tags = |rows: &'a [inspect::SignedTag]| {
        rows.iter()
            .map(|t| TagOut {
                signed_tag: &t.tag,
                digest: t.digest.hex(),
                signers: docker_tag_signers(t),
                roles: &t.roles,
            })
            .collect()
    };
    // docker sorts signers by name, descending
    let mut signers: Vec<&inspect::Signer> = r.docker_signers().collect();
    signers.sort_by(|a, b| b.name.cmp(&a.name));
    let ours = |role: &'a str, name: &'a str, keys: &'a [String], listed: &'a [String]| RoleOut {
        role,
        name,
        keys: keys
            .iter()
            .zip(listed)
            .map(|(id, l)| KeyOut { id, listed_id: l })
            .collect(),
    };
    InspectOut {
        name: input,
        signed_tags: tags(&r.signed_tags),
        signers: signers
            .into_iter()
            .map(|s| DockerSigner {
                name: &s.name,
                keys: ids(&s.key_ids),
            })
            .collect(),
        administrative_keys: [
            DockerSigner {
                name: "Root",
                keys: ids(&r.root.listed_key_ids),
            },
            DockerSigner {
                name: "Repository",
                keys: ids(&r.repository.listed_key_ids),
            },
        ],
        gun: &r.gun,
        other_signed_tags: tags(&r.other_signed_tags),
        administrative: [
            ("root", "Root", &r.root),
            ("targets", "Repository", &r.repository),
        ]
        .map(|(role, name, a)| AdminOut {
            role: ours(role, name, &a.key_ids, &a.listed_key_ids),
            threshold: a.threshold,
        }),
        delegations: r
            .signers
            .iter()
            .map(|s| DelegationOut {
                role: ours(&s.role, &s.name, &s.key_ids, &s.listed_key_ids),
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

/// A row's signers as docker's JSON has them: `Repo Admin` when no other delegation signed.
fn docker_tag_signers(t: &inspect::SignedTag) -> Vec<&str> {
    if t.signers.is_empty() {
        vec![inspect::REPO_ADMIN]
    } else {
        t.signers.iter().map(String::as_str).collect()
    }
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct InspectOut<'a> {
    // docker's
    name: &'a str,
    signed_tags: Vec<TagOut<'a>>,
    signers: Vec<DockerSigner<'a>>,
    administrative_keys: [DockerSigner<'a>; 2],
    // ours
    gun: &'a str,
    other_signed_tags: Vec<TagOut<'a>>,
    administrative: [AdminOut<'a>; 2],
    delegations: Vec<DelegationOut<'a>>,
    disagreements: Vec<DisagreementOut<'a>>,
    warnings: Vec<&'a str>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct TagOut<'a> {
    signed_tag: &'a str,
    digest: String,
    signers: Vec<&'a str>,
    roles: &'a [String],
}

/// docker's `trustSigner` (both fields `omitempty`).
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerSigner<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    keys: Vec<DockerKey<'a>>,
}

#[derive(serde::Serialize)]
struct DockerKey<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
}

#[derive(serde::Serialize)]
struct KeyOut<'a> {
    /// The canonical ID.
    #[serde(rename = "ID")]
    id: &'a str,
    /// As the listing role (root.json, or the delegation's parent) has it.
    #[serde(rename = "ListedID")]
    listed_id: &'a str,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct RoleOut<'a> {
    role: &'a str,
    name: &'a str,
    keys: Vec<KeyOut<'a>>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct AdminOut<'a> {
    #[serde(flatten)]
    role: RoleOut<'a>,
    threshold: u32,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct DelegationOut<'a> {
    #[serde(flatten)]
    role: RoleOut<'a>,
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

/// Writes a JSON array one element at a time, laid out as docker's `inspect` commands lay it out
/// (four-space indents, each element one level in).
struct JsonArray {
    open: bool,
}

impl JsonArray {
    fn item(&mut self, out: &mut impl Write, value: &impl serde::Serialize) -> Result<()> {
        let mut buf = Vec::new();
        let pretty = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        value.serialize(&mut serde_json::Serializer::with_formatter(
            &mut buf, pretty,
        ))?;
        out.write_all(if self.open { b",\n" } else { b"[\n" })?;
        self.open = true;
        // JSON strings hold no raw newline, so every line break is layout.
        for (i, line) in buf.split(|&b| b == b'\n').enumerate() {
            out.write_all(if i == 0 { b"    " } else { b"\n    " })?;
            out.write_all(line)?;
        }
        Ok(())
    }

    fn finish(self, out: &mut impl Write) -> Result<()> {
        out.write_all(if self.open { b"\n]\n" } else { b"[]\n" })?;
        Ok(())
    }
}

/// `docker trust inspect --pretty`'s layout, with full key IDs (docker cuts signer keys to 12
/// characters), followed by what trustpin knows besides: tags only other delegations signed,
/// every delegation with threshold, paths and status, canonical administrative key IDs where
/// they differ from the listed ones, and tags signed with different digests.
fn write_inspect_text(out: &mut impl Write, input: &str, r: &inspect::Report) -> Result<()> {
    let sorted = |ids: &[String]| {
        let mut v = ids.to_vec();
        v.sort();
        v.join(", ")
    };
    let tag_rows = |rows: &[inspect::SignedTag]| -> Vec<[String; 3]> {
        rows.iter()
            .map(|t| {
                let mut signers = t.signers.clone();
                signers.sort();
                let signers = if signers.is_empty() {
                    format!("({})", inspect::REPO_ADMIN)
                } else {
                    signers.join(", ")
                };
                [t.tag.clone(), t.digest.hex(), signers]
            })
            .collect()
    };
    const TAG_HEAD: [&str; 3] = ["SIGNED TAG", "DIGEST", "SIGNERS"];
    if r.signed_tags.is_empty() {
        write!(out, "\nNo signatures for {input}\n\n")?;
    } else {
        write!(out, "\nSignatures for {input}\n\n")?;
        write_table(out, &TAG_HEAD, &tag_rows(&r.signed_tags))?;
    }
    let mut signers: Vec<&inspect::Signer> = r.docker_signers().collect();
    signers.sort_by(|a, b| inspect::natural_cmp(&a.name, &b.name));
    if !signers.is_empty() {
        write!(out, "\nList of signers and their keys for {input}\n\n")?;
        let rows: Vec<[String; 2]> = signers
            .iter()
            .map(|s| [s.name.clone(), sorted(&s.key_ids)])
            .collect();
        write_table(out, &["SIGNER", "KEYS"], &rows)?;
    }
    write!(out, "\nAdministrative keys for {input}\n\n")?;
    writeln!(
        out,
        "  Repository Key:\t{}",
        sorted(&r.repository.listed_key_ids)
    )?;
    writeln!(out, "  Root Key:\t{}", sorted(&r.root.listed_key_ids))?;
    // ours
    for (name, a) in [("Repository", &r.repository), ("Root", &r.root)] {
        if a.key_ids != a.listed_key_ids {
            writeln!(out, "  {name} Key (canonical ID):\t{}", sorted(&a.key_ids))?;
        }
    }
    if !r.other_signed_tags.is_empty() {
        write!(
            out,
            "\nSigned by other delegations only (not released) for {input}\n\n"
        )?;
        write_table(out, &TAG_HEAD, &tag_rows(&r.other_signed_tags))?;
    }
    if !r.signers.is_empty() {
        write!(out, "\nDelegations of {input}\n\n")?;
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
                    s.role.clone(),
                    sorted(&s.key_ids),
                    s.threshold.to_string(),
                    paths,
                    status,
                ]
            })
            .collect();
        write_table(
            out,
            &["ROLE", "KEYS", "THRESHOLD", "PATHS", "STATUS"],
            &rows,
        )?;
    }
    for d in &r.disagreements {
        let parts = d
            .signed
            .iter()
            .map(|(role, dg)| format!("{role} → {}", dg.hex()))
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

/// Columns as docker's tabwriter pads them: at least 10 wide, 3 spaces after the longest cell.
const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;

fn write_table<const N: usize>(
    out: &mut impl Write,
    head: &[&str; N],
    rows: &[[String; N]],
) -> Result<()> {
    let mut widths = head.map(|h| h.chars().count().max(MIN_WIDTH - PADDING));
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
                s.push_str(&format!("{c:<w$}{:PADDING$}", ""));
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
