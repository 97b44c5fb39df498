//! The `trustpin` command: a thin layer of argument parsing, output and exit codes over the
//! library. Exit codes: 0 all trusted, 1 verification refused, 2 usage or input error, 3 could not
//! check (server unreachable, HTTP error, timeout); with several images the worst wins.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand, ValueEnum};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use trustpin::chain::Repo;
use trustpin::keys::PinnedKey;
use trustpin::level::Level;
use trustpin::reference::{self, ImageRef};
use trustpin::resolve::{self, Limits, Options, ResolveError, Resolution};
use trustpin::source::dir::DirSource;
use trustpin::source::http::{HttpOptions, HttpSource};
use trustpin::source::Source;

const EXIT_REFUSED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_UNAVAILABLE: u8 = 3;

#[derive(Parser)]
#[command(name = "trustpin", version, about = "Resolve image tags to digests signed under a root key you pinned (Notary v1 / TUF)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Resolve each IMAGE to the one digest its verified trust data signs.
    Resolve(ResolveArgs),
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
    /// Pinned root public key (PEM public key, PEM certificate, or bare base64 DER); repeatable,
    /// the root must be signed by at least one.
    #[arg(long = "root-key", required = true, value_name = "FILE")]
    root_keys: Vec<PathBuf>,
    /// Notary server URL (default: DOCKER_CONTENT_TRUST_SERVER, else https://notary.docker.io for
    /// docker.io, else https://<registry>).
    #[arg(long, value_name = "URL", conflicts_with = "metadata_dir")]
    server: Option<String>,
    /// Read trust data offline from DIR/<gun>/_trust/tuf/<role>.json.
    #[arg(long = "metadata-dir", value_name = "DIR")]
    metadata_dir: Option<PathBuf>,
    /// A delegation that must have signed the tag (`releases` or `targets/releases`); repeatable.
    #[arg(long = "delegation", value_name = "NAME")]
    delegations: Vec<String>,
    /// strict: everything enforced; permissive: expiry only warns; audit: authenticity and expiry only warn.
    #[arg(long, value_enum, default_value = "strict")]
    level: LevelArg,
    /// Verify as of this time (RFC 3339), e.g. for archived trust data.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// Extra CA certificates (PEM) to trust for the server's TLS.
    #[arg(long = "ca-cert", value_name = "FILE")]
    ca_certs: Vec<PathBuf>,
    /// Give up on a request after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
    #[arg(long, value_enum, default_value = "text")]
    output: OutputArg,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    match cli.command {
        Command::Resolve(args) => match run_resolve(args) {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("trustpin: {e:#}");
                ExitCode::from(EXIT_USAGE)
            }
        },
    }
}

/// One image's outcome, as printed.
struct Outcome {
    input: String,
    image: Option<ImageRef>,
    result: Result<Resolution, (u8, String)>,
}

fn run_resolve(args: ResolveArgs) -> Result<u8> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut pinned = Vec::new();
    for path in &args.root_keys {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read root key file {}", path.display()))?;
        pinned.push(PinnedKey::parse(&bytes, &path.display().to_string()).with_context(|| format!("root key file {}", path.display()))?);
    }
    let at = match &args.at {
        Some(s) => OffsetDateTime::parse(s, &Rfc3339).with_context(|| format!("--at {s:?} is not an RFC 3339 time"))?,
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
    let opts = Options { pinned, level, at, required: args.delegations.clone(), limits: Limits::default() };

    // Parse every reference first: a bad one is reported, the others still resolved.
    let mut outcomes: Vec<Outcome> = args
        .images
        .iter()
        .map(|input| match reference::parse(input) {
            Ok(image) => Outcome { input: input.clone(), image: Some(image), result: Err((0, String::new())) },
            Err(e) => Outcome { input: input.clone(), image: None, result: Err((EXIT_USAGE, e.to_string())) },
        })
        .collect();

    // Each repository is fetched and verified once, however many of its tags are asked for.
    let mut repos: BTreeMap<(String, String), Result<Repo, (u8, String)>> = BTreeMap::new();
    let mut sources: BTreeMap<String, Result<Box<dyn Source>, String>> = BTreeMap::new();
    for outcome in &mut outcomes {
        let Some(image) = &outcome.image else { continue };
        let location = match &args.metadata_dir {
            Some(dir) => format!("dir:{}", dir.display()),
            None => server_for(&args, image),
        };
        let source = sources.entry(location.clone()).or_insert_with(|| make_source(&args, &location));
        let source = match source {
            Ok(s) => s,
            Err(e) => {
                outcome.result = Err((EXIT_USAGE, e.clone()));
                continue;
            }
        };
        let repo = repos.entry((location, image.gun.clone())).or_insert_with(|| {
            resolve::fetch_repo(source.as_ref(), &image.gun, &opts).map_err(|e| (code_of(&e), e.to_string()))
        });
        outcome.result = match repo {
            Ok(repo) => resolve::select_ref(repo, image, &opts).map_err(|e| (code_of(&e), e.to_string())),
            Err(e) => Err(e.clone()),
        };
    }

    let worst = outcomes.iter().map(|o| o.result.as_ref().err().map_or(0, |(c, _)| *c)).max().unwrap_or(0);
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
            v["reference"] = format!("{}@{}", image.map_or("", |i| i.gun.as_str()), r.selection.digest).into();
            v["length"] = r.selection.length.into();
            v["signed_tag"] = r.selection.tag.clone().into();
            v["decided_by"] = r.selection.decided_by.clone().into();
            v["signers"] = r.selection.signed_by.clone().into();
            v["warnings"] = r.warnings.iter().map(|w| w.message.clone()).collect::<Vec<_>>().into();
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

/// `--server`, else DOCKER_CONTENT_TRUST_SERVER, else the registry's default.
fn server_for(args: &ResolveArgs, image: &ImageRef) -> String {
    if let Some(s) = &args.server {
        return s.clone();
    }
    match std::env::var("DOCKER_CONTENT_TRUST_SERVER") {
        Ok(s) if !s.is_empty() => s,
        _ => image.default_server(),
    }
}

fn make_source(args: &ResolveArgs, location: &str) -> Result<Box<dyn Source>, String> {
    if let Some(dir) = &args.metadata_dir {
        if !dir.is_dir() {
            return Err(format!("--metadata-dir {}: not a directory", dir.display()));
        }
        return Ok(Box::new(DirSource::new(dir.clone())));
    }
    if let Some(rest) = location.strip_prefix("http://") {
        let host = rest.split(['/', ':']).next().unwrap_or("");
        if !matches!(host, "127.0.0.1" | "localhost" | "[") && !host.starts_with("127.") && !rest.starts_with("[::1]") {
            eprintln!("warning: {location} is plain http: anyone on the path sees which images you check");
        }
    }
    let opts = HttpOptions { ca_certs: args.ca_certs.clone(), timeout: Duration::from_secs(args.timeout), ..HttpOptions::default() };
    HttpSource::new(location, opts).map(|s| Box::new(s) as Box<dyn Source>).map_err(|e| e.to_string())
}
