//! The command line: argument parsing, output and exit codes over the library, shared by the
//! `trustpin` and `get-root-key` binaries (each a one-line `main`). Exit codes: 0 all trusted,
//! 1 verification refused, 2 usage or input error, 3 could not check (server unreachable, HTTP
//! error, timeout); with several images the worst wins. `anyhow` lives here and nowhere else.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand, ValueEnum};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::archive;
use crate::cache::Cache;
use crate::chain::Repo;
use crate::inspect;
use crate::keys::PinnedKey;
use crate::level::Level;
use crate::reference::{self, ImageRef};
use crate::resolve::{self, Limits, Options, Resolution, ResolveError};
use crate::rootkey;
use crate::source::dir::DirSource;
use crate::source::http::{HttpOptions, HttpSource};
use crate::source::Source;

const EXIT_REFUSED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_UNAVAILABLE: u8 = 3;

#[derive(Parser)]
#[command(
    name = "trustpin",
    version,
    about = "Resolve image tags to digests signed under a root key you pinned (Notary v1 / TUF)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Resolve each IMAGE to the one digest its verified trust data signs.
    Resolve(ResolveArgs),
    /// Show who signed what: signed tags and their signers, delegations, keys (verified as resolve verifies).
    Inspect(InspectArgs),
    /// Print a repository's root public key, to compare through a second channel and pin.
    GetRootKey(GetRootKeyArgs),
    /// Verify, then write every file needed to verify later (offline layout plus a manifest).
    Archive(ArchiveArgs),
}

#[derive(clap::Args)]
struct ArchiveArgs {
    /// Image references: their repositories are archived whole.
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
    #[command(flatten)]
    verify: VerifyArgs,
    #[command(flatten)]
    source: SourceArgs,
    /// Folder to write to (`DIR/<gun>/_trust/tuf/...`); created if missing.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Where trust data comes from, shared by every subcommand.
#[derive(clap::Args, Clone)]
struct SourceArgs {
    /// Notary server URL (default: DOCKER_CONTENT_TRUST_SERVER, else https://notary.docker.io for
    /// docker.io, else https://<registry>).
    #[arg(long, short = 's', value_name = "URL", conflicts_with = "metadata_dir")]
    server: Option<String>,
    /// Read trust data offline from DIR/<gun>/_trust/tuf/<role>.json.
    #[arg(long = "metadata-dir", value_name = "DIR")]
    metadata_dir: Option<PathBuf>,
    /// Extra CA certificates (PEM) to trust for the server's TLS.
    #[arg(long = "ca-cert", value_name = "FILE")]
    ca_certs: Vec<PathBuf>,
    /// Give up on a request after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
}

/// What to verify against, shared by resolve and inspect.
#[derive(clap::Args)]
struct VerifyArgs {
    /// Pinned root public key (PEM public key, PEM certificate, or bare base64 DER); repeatable,
    /// the root must be signed by at least one.
    #[arg(long = "root-key", required = true, value_name = "FILE")]
    root_keys: Vec<PathBuf>,
    /// A delegation that must have signed the tag (`releases` or `targets/releases`); repeatable.
    #[arg(long = "delegation", value_name = "NAME")]
    delegations: Vec<String>,
    /// strict: everything enforced; permissive: expiry only warns; audit: authenticity and expiry only warn.
    #[arg(long, value_enum, default_value = "strict")]
    level: LevelArg,
    /// Verify as of this time (RFC 3339), e.g. for archived trust data.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// Refuse a rotated root key instead of following the rotation from the pinned key.
    #[arg(long = "no-follow-rotation")]
    no_follow_rotation: bool,
    /// Trust cache (rollback protection, warm path); default: $XDG_CACHE_HOME/trustpin or ~/.cache/trustpin.
    #[arg(long = "cache-dir", value_name = "DIR", conflicts_with = "no_cache")]
    cache_dir: Option<PathBuf>,
    /// Use no trust cache: no rollback protection across runs.
    #[arg(long = "no-cache")]
    no_cache: bool,
}

impl VerifyArgs {
    /// The cache to use: none with --no-cache, --cache-dir, else the user's cache directory.
    fn cache(&self) -> Option<Cache> {
        if self.no_cache {
            return None;
        }
        self.cache_dir
            .clone()
            .or_else(Cache::default_dir)
            .map(Cache::new)
    }
}

#[derive(clap::Args)]
struct InspectArgs {
    /// Image references: name[:tag]; with a tag, only that tag's signatures are shown.
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
    #[command(flatten)]
    verify: VerifyArgs,
    #[command(flatten)]
    source: SourceArgs,
    #[arg(long, value_enum, default_value = "text")]
    output: OutputArg,
}

#[derive(clap::Args)]
struct GetRootKeyArgs {
    /// The image whose repository's root key to print.
    #[arg(long, short = 'i', value_name = "IMAGE")]
    image: String,
    #[command(flatten)]
    source: SourceArgs,
    /// Print only the PEM block(s), for `--root-key` or a pinning config.
    #[arg(long = "pem-only", conflicts_with = "output")]
    pem_only: bool,
    #[arg(long, value_enum)]
    output: Option<OutputArg>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LevelArg {
    Strict,
    Permissive,
    Audit,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum OutputArg {
    Text,
    Json,
}

#[derive(clap::Args)]
struct ResolveArgs {
    /// Image references: name[:tag][@sha256:hex]
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
    #[command(flatten)]
    verify: VerifyArgs,
    #[command(flatten)]
    source: SourceArgs,
    #[arg(long, value_enum, default_value = "text")]
    output: OutputArg,
}

/// Run the `trustpin` command line.
pub fn main_with(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let result = match cli.command {
        Command::Resolve(args) => run_resolve(args),
        Command::Inspect(args) => run_inspect(args),
        Command::GetRootKey(args) => run_get_root_key(args),
        Command::Archive(args) => run_archive(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("trustpin: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Run `get-root-key ARGS` (the standalone binary): the same as `trustpin get-root-key ARGS`.
pub fn get_root_key_main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let rest = args.split_off(1.min(args.len()));
    let argv = std::iter::once("trustpin".into())
        .chain(std::iter::once("get-root-key".into()))
        .chain(rest);
    main_with(argv)
}

/// One image's outcome, as printed.
struct Outcome {
    input: String,
    image: Option<ImageRef>,
    result: Result<Resolution, (u8, String)>,
}

/// Read the pinned keys and the level, printing every relaxation's warning.
fn options(args: &VerifyArgs) -> Result<Options> {
    let mut pinned = Vec::new();
    for path in &args.root_keys {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read root key file {}", path.display()))?;
        pinned.push(
            PinnedKey::parse(&bytes, &path.display().to_string())
                .with_context(|| format!("root key file {}", path.display()))?,
        );
    }
    let at = match &args.at {
        Some(s) => OffsetDateTime::parse(s, &Rfc3339)
            .with_context(|| format!("--at {s:?} is not an RFC 3339 time"))?,
        None => OffsetDateTime::now_utc(),
    };
    let level = match args.level {
        LevelArg::Strict => Level::Strict,
        LevelArg::Permissive => Level::Permissive,
        LevelArg::Audit => Level::Audit,
    };
    match level {
        Level::Strict => {}
        Level::Permissive => eprintln!("warning: level permissive: expired metadata and certificates are accepted"),
        Level::Audit => eprintln!(
            "warning: level audit: the pinned key and certificate names are NOT enforced, nor expiry; answers are not trustworthy"
        ),
    }
    if let Some(s) = &args.at {
        eprintln!("note: verifying as of {s}, not now");
    }
    Ok(Options {
        pinned,
        level,
        at,
        required: args.delegations.clone(),
        limits: Limits::default(),
        follow_rotation: !args.no_follow_rotation,
    })
}

/// Repositories fetched and verified once each, however many of their tags are asked for.
#[derive(Default)]
struct Repos {
    sources: BTreeMap<String, Result<Box<dyn Source>, String>>,
    repos: BTreeMap<(String, String), Result<resolve::Fetched, (u8, String)>>,
    cache: Option<Cache>,
}

impl Repos {
    fn with_cache(cache: Option<Cache>) -> Repos {
        Repos {
            cache,
            ..Repos::default()
        }
    }

    fn get(
        &mut self,
        args: &SourceArgs,
        image: &ImageRef,
        opts: &Options,
    ) -> Result<&Repo, (u8, String)> {
        self.get_fetched(args, image, opts).map(|f| &f.repo)
    }

    fn get_fetched(
        &mut self,
        args: &SourceArgs,
        image: &ImageRef,
        opts: &Options,
    ) -> Result<&resolve::Fetched, (u8, String)> {
        let location = location_for(args, image);
        let source = self
            .sources
            .entry(location.clone())
            .or_insert_with(|| make_source(args, &location));
        let source = source.as_ref().map_err(|e| (EXIT_USAGE, e.clone()))?;
        self.repos
            .entry((location, image.gun.clone()))
            .or_insert_with(|| {
                resolve::fetch_repo_cached(source.as_ref(), &image.gun, opts, self.cache.as_ref())
                    .map_err(|e| (code_of(&e), e.to_string()))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

fn run_resolve(args: ResolveArgs) -> Result<u8> {
    let opts = options(&args.verify)?;

    // Parse every reference first: a bad one is reported, the others still resolved.
    let mut outcomes: Vec<Outcome> = args
        .images
        .iter()
        .map(|input| match reference::parse(input) {
            Ok(image) => Outcome {
                input: input.clone(),
                image: Some(image),
                result: Err((0, String::new())),
            },
            Err(e) => Outcome {
                input: input.clone(),
                image: None,
                result: Err((EXIT_USAGE, e.to_string())),
            },
        })
        .collect();

    let mut repos = Repos::with_cache(args.verify.cache());
    for outcome in &mut outcomes {
        let Some(image) = &outcome.image else {
            continue;
        };
        outcome.result = repos.get(&args.source, image, &opts).and_then(|repo| {
            resolve::select_ref(repo, image, &opts).map_err(|e| (code_of(&e), e.to_string()))
        });
    }

    let worst = outcomes
        .iter()
        .map(|o| o.result.as_ref().err().map_or(0, |(c, _)| *c))
        .max()
        .unwrap_or(0);
    let mut stdout = std::io::stdout().lock();
    match args.output {
        OutputArg::Text => {
            for o in &outcomes {
                match &o.result {
                    Ok(r) => {
                        for w in &r.warnings {
                            eprintln!("warning: {}: {w}", o.input);
                        }
                        let gun = o.image.as_ref().map_or("", |i| i.gun.as_str());
                        writeln!(stdout, "{gun}@{}", r.selection.digest)?;
                    }
                    Err((_, msg)) => eprintln!("trustpin: {}: {msg}", o.input),
                }
            }
        }
        OutputArg::Json => {
            let items: Vec<serde_json::Value> = outcomes.iter().map(json_outcome).collect();
            serde_json::to_writer_pretty(&mut stdout, &items)?;
            writeln!(stdout)?;
        }
    }
    Ok(worst)
}

fn code_of(e: &ResolveError) -> u8 {
    match e.exit_code() {
        3 => EXIT_UNAVAILABLE,
        _ => EXIT_REFUSED,
    }
}

fn json_outcome(o: &Outcome) -> serde_json::Value {
    let image = o.image.as_ref();
    let mut v = serde_json::json!({
        "input": o.input,
        "gun": image.map(|i| i.gun.clone()),
        "tag": image.and_then(|i| i.tag.clone()),
    });
    match &o.result {
        Ok(r) => {
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
            v["warnings"] = r
                .warnings
                .iter()
                .map(|w| w.message.clone())
                .collect::<Vec<_>>()
                .into();
            v["exit_code"] = 0.into();
        }
        Err((code, msg)) => {
            v["digest"] = serde_json::Value::Null;
            v["error"] = msg.clone().into();
            v["warnings"] = serde_json::json!([]);
            v["exit_code"] = (*code).into();
        }
    }
    v
}

/// `dir:<DIR>` for `--metadata-dir`, else the server URL.
fn location_for(args: &SourceArgs, image: &ImageRef) -> String {
    match &args.metadata_dir {
        Some(dir) => format!("dir:{}", dir.display()),
        None => server_for(args, image),
    }
}

/// `--server`, else DOCKER_CONTENT_TRUST_SERVER, else the registry's default.
fn server_for(args: &SourceArgs, image: &ImageRef) -> String {
    if let Some(s) = &args.server {
        return s.clone();
    }
    match std::env::var("DOCKER_CONTENT_TRUST_SERVER") {
        Ok(s) if !s.is_empty() => s,
        _ => image.default_server(),
    }
}

fn make_source(args: &SourceArgs, location: &str) -> Result<Box<dyn Source>, String> {
    if let Some(dir) = &args.metadata_dir {
        if !dir.is_dir() {
            return Err(format!("--metadata-dir {}: not a directory", dir.display()));
        }
        return Ok(Box::new(DirSource::new(dir.clone())));
    }
    if let Some(rest) = location.strip_prefix("http://") {
        let host = rest.split(['/', ':']).next().unwrap_or("");
        if !matches!(host, "127.0.0.1" | "localhost" | "[")
            && !host.starts_with("127.")
            && !rest.starts_with("[::1]")
        {
            eprintln!(
                "warning: {location} is plain http: anyone on the path sees which images you check"
            );
        }
    }
    let opts = HttpOptions {
        ca_certs: args.ca_certs.clone(),
        timeout: Duration::from_secs(args.timeout),
        ..HttpOptions::default()
    };
    HttpSource::new(location, opts)
        .map(|s| Box::new(s) as Box<dyn Source>)
        .map_err(|e| e.to_string())
}

/// Whether the user named a tag (a bare name means "all tags" to inspect, `latest` to resolve).
fn tag_given(image: &ImageRef) -> bool {
    image.tag.as_ref().is_some_and(|t| {
        image.input.ends_with(&format!(":{t}")) || image.input.contains(&format!(":{t}@"))
    })
}

fn run_inspect(args: InspectArgs) -> Result<u8> {
    let opts = options(&args.verify)?;
    let mut repos = Repos::with_cache(args.verify.cache());
    let mut worst = 0u8;
    let mut json_items = Vec::new();
    let mut stdout = std::io::stdout().lock();
    for input in &args.images {
        let image = match reference::parse(input) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("trustpin: {input}: {e}");
                worst = worst.max(EXIT_USAGE);
                continue;
            }
        };
        let repo = match repos.get(&args.source, &image, &opts) {
            Ok(r) => r,
            Err((code, msg)) => {
                eprintln!("trustpin: {input}: {msg}");
                worst = worst.max(code);
                continue;
            }
        };
        let tag = if tag_given(&image) {
            image.tag.as_deref()
        } else {
            None
        };
        let report = inspect::report(repo, tag);
        for w in &repo.warnings {
            eprintln!("warning: {input}: {w}");
        }
        if let Some(t) = tag {
            if report.signed_tags.is_empty() {
                eprintln!("trustpin: {input}: no signatures for tag {t:?}");
                worst = worst.max(EXIT_REFUSED);
            }
        }
        match args.output {
            OutputArg::Json => json_items.push(inspect_json(input, &report, repo)),
            OutputArg::Text => write_inspect_text(&mut stdout, input, &report)?,
        }
    }
    if args.output == OutputArg::Json {
        serde_json::to_writer_pretty(&mut stdout, &json_items)?;
        writeln!(stdout)?;
    }
    Ok(worst)
}

/// `docker trust inspect` field names, plus ours.
fn inspect_json(input: &str, r: &inspect::Report, repo: &Repo) -> serde_json::Value {
    use serde_json::json;
    let keys = |ids: &[String]| ids.iter().map(|id| json!({ "ID": id })).collect::<Vec<_>>();
    json!({
        "Name": input,
        "Gun": r.gun,
        "SignedTags": r.signed_tags.iter().map(|t| json!({
            "SignedTag": t.tag,
            "Digest": t.digest.hex(),
            "Signers": t.signers,
            "Roles": t.roles,
        })).collect::<Vec<_>>(),
        "Signers": r.signers.iter().filter(|s| s.verified.is_ok()).map(|s| json!({
            "Name": s.name,
            "Keys": keys(&s.key_ids),
        })).collect::<Vec<_>>(),
        "AdministrativeKeys": [
            { "Name": "Root", "Keys": keys(&r.root_keys) },
            { "Name": "Repository", "Keys": keys(&r.repository_keys) },
        ],
        "Delegations": r.signers.iter().map(|s| json!({
            "Role": s.role,
            "Name": s.name,
            "Keys": s.key_ids.iter().zip(&s.listed_key_ids).map(|(c, l)| json!({ "ID": c, "ListedID": l })).collect::<Vec<_>>(),
            "Threshold": s.threshold,
            "Paths": s.paths,
            "Verified": s.verified.is_ok(),
            "Error": s.verified.as_ref().err(),
        })).collect::<Vec<_>>(),
        "Disagreements": r.disagreements.iter().map(|d| json!({
            "SignedTag": d.tag,
            "Signed": d.signed.iter().map(|(role, dg)| json!({ "Role": role, "Digest": dg.hex() })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "Warnings": repo.warnings.iter().map(|w| w.message.clone()).collect::<Vec<_>>(),
    })
}

/// Aligned tables in the manner of `docker trust inspect --pretty`.
fn write_inspect_text(out: &mut impl Write, input: &str, r: &inspect::Report) -> Result<()> {
    let short = |id: &str| id.chars().take(12).collect::<String>();
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
                    s.key_ids
                        .iter()
                        .map(|k| short(k))
                        .collect::<Vec<_>>()
                        .join(", "),
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
    writeln!(
        out,
        "  Repository Key:\t{}",
        r.repository_keys
            .iter()
            .map(|k| short(k))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(
        out,
        "  Root Key:\t{}",
        r.root_keys
            .iter()
            .map(|k| short(k))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
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

fn run_get_root_key(args: GetRootKeyArgs) -> Result<u8> {
    let image = match reference::parse(&args.image) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("get-root-key: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let location = location_for(&args.source, &image);
    let source = match make_source(&args.source, &location) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("get-root-key: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let bytes = match source.fetch(&image.gun, "root", Limits::default().root) {
        Ok(b) => b,
        Err(e) if e.is_not_found() => {
            eprintln!(
                "get-root-key: no trust data for {}: {} not found",
                image.gun,
                source.location(&image.gun, "root")
            );
            return Ok(EXIT_REFUSED);
        }
        Err(e) => {
            eprintln!("get-root-key: {e}");
            return Ok(EXIT_UNAVAILABLE);
        }
    };
    let keys = match rootkey::root_keys(&image.gun, &bytes, OffsetDateTime::now_utc()) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("get-root-key: {}: refusing: {e}", image.gun);
            return Ok(EXIT_REFUSED);
        }
    };
    for w in &keys.warnings {
        eprintln!("warning: {}: {w}", image.gun);
    }
    eprintln!(
        "note: this key was read from {} and is trusted on first use: compare it with the repository owner's through a second channel before pinning it",
        source.location(&image.gun, "root")
    );
    let mut stdout = std::io::stdout().lock();
    let fmt = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    match (args.pem_only, args.output) {
        (true, _) => {
            for k in &keys.keys {
                write!(stdout, "{}", k.pem)?;
            }
        }
        (false, Some(OutputArg::Json)) => {
            let v = serde_json::json!({
                "gun": image.gun,
                "root_version": keys.version,
                "root_expires": fmt(keys.expires),
                "threshold": keys.threshold,
                "keys": keys.keys.iter().map(|k| serde_json::json!({
                    "key_id": k.key_id,
                    "canonical_id": k.canonical_id,
                    "pem": k.pem,
                    "common_name": k.common_name,
                    "not_before": k.not_before.map(fmt),
                    "not_after": k.not_after.map(fmt),
                })).collect::<Vec<_>>(),
            });
            serde_json::to_writer_pretty(&mut stdout, &v)?;
            writeln!(stdout)?;
        }
        (false, _) => {
            for k in &keys.keys {
                writeln!(stdout, "KeyID: {}", k.key_id)?;
                write!(stdout, "Key: {}", k.pem)?;
            }
        }
    }
    Ok(0)
}

fn run_archive(args: ArchiveArgs) -> Result<u8> {
    let opts = options(&args.verify)?;
    let mut repos = Repos::with_cache(args.verify.cache());
    let mut worst = 0u8;
    let mut done = std::collections::BTreeSet::new();
    for input in &args.images {
        let image = match reference::parse(input) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("trustpin: {input}: {e}");
                worst = worst.max(EXIT_USAGE);
                continue;
            }
        };
        if !done.insert(image.gun.clone()) {
            continue;
        }
        let location = location_for(&args.source, &image);
        let fetched = match repos.get_fetched(&args.source, &image, &opts) {
            Ok(f) => f.clone(),
            Err((code, msg)) => {
                eprintln!("trustpin: {input}: {msg}");
                worst = worst.max(code);
                continue;
            }
        };
        for w in &fetched.repo.warnings {
            eprintln!("warning: {input}: {w}");
        }
        let Some(Ok(source)) = repos.sources.get(&location) else {
            continue;
        };
        let extra = match archive::missing_root_versions(source.as_ref(), &image.gun, &fetched) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("trustpin: {input}: {e}");
                worst = worst.max(EXIT_UNAVAILABLE);
                continue;
            }
        };
        let manifest = archive::write(&args.out, &image.gun, &location, &fetched, &extra, opts.at)
            .with_context(|| format!("archiving {}", image.gun))?;
        println!("{} archived: {}", image.gun, manifest.display());
    }
    Ok(worst)
}
