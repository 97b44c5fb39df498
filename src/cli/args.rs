//! Flags, and turning them into library values: options, plans, inputs (the sources are in
//! sources.rs). Everything that names a flag in a message is in the CLI, never in the library.
// The doc comments on flags are clap's help text, printed as written, not rustdoc markup.
#![allow(rustdoc::bare_urls, rustdoc::invalid_html_tags)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand, ValueEnum};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::cli::sources::FlagSources;
use crate::fetch::cache::Cache;
use crate::policy::PolicySet;
use crate::resolve::batch::{Plan, Plans};
use crate::resolve::{Limits, Options};
use crate::tuf::budget::{Budget, Meter};
use crate::tuf::keys::PinnedKey;
use crate::tuf::level::Level;

#[derive(Parser)]
#[command(
    name = "trustpin",
    version,
    about = "Resolve image tags to digests signed under a root key you pinned (Notary v1 / TUF)"
)]
pub(crate) struct Cli {
    /// Print no notes (the `verifying as of` and trust-on-first-use reminders); warnings and
    /// errors still print.
    #[arg(short = 'q', long, global = true)]
    pub(crate) quiet: bool,
    /// Show on stderr each URL fetched (or file read) with its status, size and time, each file
    /// taken from the cache, and the time spent verifying. Never a header, token or password.
    #[arg(short = 'v', long, global = true)]
    pub(crate) verbose: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The end of `trustpin resolve --help`: examples and the exit codes.
const RESOLVE_AFTER_HELP: &str = "\
Examples:
  trustpin resolve --root-key root.pub docker.io/myorg/app:v1
  trustpin resolve --policy policy.json -o jsonl - < images.txt
  trustpin resolve --metadata-dir archive --root-key root.pub --at 2026-11-22T03:06:24Z example.com/team/app:v1

Exit codes:
  0  every image resolved to one trusted digest
  1  verification refused: not signed by the pinned key, no or several digests, expired, tampered, no trust data
  2  usage or input error: bad reference, unreadable or invalid key file, bad --at
  3  could not check: server unreachable, TLS failure, HTTP error, timeout, a budget or the deadline spent
With several images the worst code wins.";

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Resolve each IMAGE to the one digest its verified trust data signs.
    #[command(after_help = RESOLVE_AFTER_HELP)]
    Resolve(ResolveArgs),
    /// Show who signed what: signed tags and their signers, delegations, keys (verified as resolve verifies).
    Inspect(InspectArgs),
    /// Print a repository's root public key, to compare through a second channel and pin.
    GetRootKey(GetRootKeyArgs),
    /// Verify, then write every file needed to verify later (offline layout plus a manifest).
    Archive(ArchiveArgs),
    /// Trust policy files.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Rewrite image references in a text file (Kubernetes manifests, compose files, Dockerfile
    /// FROM lines) to `name:tag@sha256:...` verified digests: a diff, or in place with --write.
    Pin(PinArgs),
    /// Verify Notation (Notary Project v2) signatures of each REFERENCE against a Notation
    /// trust policy and trust store; print `<name>@sha256:<hex>` for each that verifies.
    Verify(NotationVerifyArgs),
    /// The Kubernetes mutating admission webhook: HTTPS, AdmissionReview v1 on POST /mutate;
    /// images resolved as resolve does and patched to their signed digests, or denied.
    Serve(Box<crate::cli::serve::ServeArgs>),
    /// Look up one target NAME of repository GUN (any name notary signs, `v1 x` or `café` too),
    /// verified as resolve verifies; prints `NAME sha256:<hex> SIZE` as `notary lookup` does.
    Lookup(LookupArgs),
    /// Print a shell completion script: `trustpin completions bash > /etc/bash_completion.d/trustpin`.
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `trustpin man > trustpin.1; man ./trustpin.1`; with a
    /// SUBCOMMAND, its own page (`trustpin man resolve > trustpin-resolve.1`).
    Man {
        #[arg(value_name = "SUBCOMMAND")]
        subcommand: Option<String>,
    },
}

#[derive(clap::Args)]
pub(crate) struct NotationVerifyArgs {
    /// `host[:port]/repository:tag` or `host[:port]/repository@sha256:<hex>` in a registry;
    /// with --oci-layout, `PATH:tag` or `PATH@sha256:<hex>` of an OCI image layout.
    #[arg(value_name = "REFERENCE", required = true)]
    pub references: Vec<String>,
    /// A Notation `trustpolicy.json` (version 1.0). Default: Notation's own
    /// (`$XDG_CONFIG_HOME/notation/trustpolicy.json`, else `~/.config/notation/`).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Notation's trust store folder (`x509/{ca,signingAuthority,tsa}/<name>/`). Default:
    /// `truststore/` beside the policy file.
    #[arg(long = "trust-store", value_name = "DIR")]
    pub trust_store: Option<PathBuf>,
    /// REFERENCE names an OCI image layout folder, not a registry.
    #[arg(long = "oci-layout")]
    pub oci_layout: bool,
    /// The repository the policy is matched against for an OCI layout (e.g. `local/app`).
    #[arg(long, value_name = "SCOPE")]
    pub scope: Option<String>,
    /// Verify as of this time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
    /// text (one line per reference), json (one document) or jsonl (one line each).
    #[arg(long, short = 'o', default_value = "text", value_parser = ["text", "json", "jsonl"])]
    pub output: String,
    /// Signatures tried per artifact at most.
    #[arg(long = "max-signatures", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10000))]
    pub max_signatures: u64,
    /// Most bytes of signature manifests and envelopes fetched for one artifact.
    #[arg(long = "max-bytes", value_name = "BYTES", default_value_t = 64 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_bytes: u64,
    /// Plain http to the registry instead of https (a warning every time, off loopback).
    #[arg(long = "insecure-registry", conflicts_with = "oci_layout")]
    pub insecure_registry: bool,
    /// Extra CA certificates (PEM) to trust for the registry's TLS; repeatable.
    #[arg(long = "ca-cert", value_name = "FILE", conflicts_with = "oci_layout")]
    pub ca_certs: Vec<PathBuf>,
    /// User name for the registry; the password comes from stdin (--password-stdin). Else
    /// TRUSTPIN_USERNAME/TRUSTPIN_PASSWORD, else the docker config.
    #[arg(
        long,
        value_name = "NAME",
        requires = "password_stdin",
        conflicts_with = "oci_layout"
    )]
    pub username: Option<String>,
    /// Read the password for --username from stdin (one line).
    #[arg(long = "password-stdin", requires = "username")]
    pub password_stdin: bool,
    /// References verified at once (one connection pool per registry, shared).
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub jobs: u64,
    /// Give up on one reference after this many seconds, every request included.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub deadline: u64,
    // The warm path of registry references; an OCI layout is local and needs no cache.
    #[command(flatten)]
    pub trust_cache: CacheArgs,
}

#[derive(Subcommand)]
pub(crate) enum PolicyCommand {
    /// Check a policy file and print what each scope maps to (and which policy each IMAGE gets).
    Check {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[arg(value_name = "IMAGE")]
        images: Vec<String>,
    },
}

#[derive(clap::Args)]
pub(crate) struct PinArgs {
    /// The file to rewrite; `-` reads standard input and prints the rewritten text.
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
    /// Rewrite the file in place instead of printing a diff.
    #[arg(long)]
    pub(crate) write: bool,
    /// text: a unified diff (`git apply` takes it), or the rewritten text for `-`; json: one
    /// object listing each rewrite, each reference left alone and each refusal.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub(crate) output: PinOutputArg,
    /// Rewrite the references that verified even if others failed (the exit code still says so).
    #[arg(long = "keep-going")]
    pub(crate) keep_going: bool,
    #[command(flatten)]
    pub(crate) batch: BatchArgs,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub(crate) enum PinOutputArg {
    Text,
    Json,
}

#[derive(clap::Args)]
pub(crate) struct ArchiveArgs {
    /// Image references: their repositories are archived whole.
    #[arg(required = true, value_name = "IMAGE")]
    pub(crate) images: Vec<String>,
    #[command(flatten)]
    pub(crate) repo: RepoArgs,
    /// Folder to write to (`DIR/<gun>/_trust/tuf/...`); created if missing.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: PathBuf,
}

/// Where trust data comes from, shared by every subcommand.
#[derive(clap::Args, Clone)]
pub(crate) struct SourceArgs {
    /// Notary server URL (default: DOCKER_CONTENT_TRUST_SERVER, else https://notary.docker.io for
    /// docker.io, else https://<registry>).
    #[arg(long, short = 's', value_name = "URL", conflicts_with = "metadata_dir")]
    pub(crate) server: Option<String>,
    /// Read trust data offline from DIR/<gun>/_trust/tuf/<role>.json.
    #[arg(long = "metadata-dir", value_name = "DIR")]
    pub(crate) metadata_dir: Option<PathBuf>,
    /// Extra CA certificates (PEM) to trust for the server's TLS.
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub(crate) ca_certs: Vec<PathBuf>,
    /// Give up on a request after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) timeout: u64,
    /// Give up on connecting (TCP and TLS) after this many seconds.
    #[arg(long = "connect-timeout", value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) connect_timeout: u64,
    /// Client certificate (PEM) for mutual TLS; needs --client-key.
    #[arg(long = "client-cert", value_name = "FILE", requires = "client_key")]
    pub(crate) client_cert: Option<PathBuf>,
    /// Unencrypted private key (PEM) of --client-cert.
    #[arg(long = "client-key", value_name = "FILE", requires = "client_cert")]
    pub(crate) client_key: Option<PathBuf>,
    /// User name for the registry's token server; the password comes from stdin
    /// (--password-stdin). Else TRUSTPIN_USERNAME/TRUSTPIN_PASSWORD, else the docker config.
    #[arg(long, value_name = "NAME", requires = "password_stdin")]
    pub(crate) username: Option<String>,
    /// Read the password for --username from stdin (one line).
    #[arg(long = "password-stdin", requires = "username")]
    pub(crate) password_stdin: bool,
    /// GET /_notary_server/health before fetching trust data (not every registry has it).
    #[arg(long = "check-health")]
    pub(crate) check_health: bool,
    /// Where credentials may come from (a trust policy's `server.credentials`); not a flag.
    #[arg(skip)]
    pub(crate) credential_sources: crate::fetch::credentials::Sources,
    /// Plain http to registries for Notation signatures (`--insecure-registry` of resolve, pin
    /// and serve); not a flag here.
    #[arg(skip)]
    pub(crate) insecure_registry: bool,
}

/// What `resolve` and `pin` share: where trust comes from, and concurrency.
#[derive(clap::Args)]
pub(crate) struct BatchArgs {
    /// Repositories (Notary v1) or references (Notation) fetched and verified at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub(crate) jobs: usize,
    #[command(flatten)]
    pub(crate) trust: TrustArgs,
}

/// Where trust comes from, the same for resolve, pin and serve: a policy or pinned keys, and the
/// sources (Notary server or folder, registries) to fetch from.
#[derive(clap::Args)]
pub(crate) struct TrustArgs {
    /// Trust policy file: per repository scope, the level, pinned keys, required delegations and
    /// server, or a Notation statement (instead of --root-key).
    #[arg(long, value_name = "FILE")]
    pub(crate) policy: Option<PathBuf>,
    /// Plain http to registries for Notation signatures (a warning every time, off loopback).
    #[arg(long = "insecure-registry")]
    pub(crate) insecure_registry: bool,
    #[command(flatten)]
    pub(crate) repo: RepoArgs,
}

impl TrustArgs {
    /// The plans and their sources ([`plans`]).
    pub(crate) fn plans(&self) -> Result<(Plans, FlagSources)> {
        plans(&self.repo, self.insecure_registry, self.policy.as_ref())
    }

    /// The trust cache these flags ask for ([`RepoArgs::cache`]).
    pub(crate) fn cache(&self) -> Option<Cache> {
        self.repo.cache()
    }
}

/// One repository's trust data: what to verify it against and where to fetch it from.
#[derive(clap::Args)]
pub(crate) struct RepoArgs {
    #[command(flatten)]
    pub(crate) verify: VerifyArgs,
    #[command(flatten)]
    pub(crate) source: SourceArgs,
}

impl RepoArgs {
    /// The verification options, after refusing a server URL without a scheme ([`options`]).
    pub(crate) fn options(&self) -> Result<Options> {
        check_server_scheme(&self.source)?;
        options(&self.verify)
    }

    /// The cache to use ([`CacheArgs::open`]): none for an offline folder (--metadata-dir)
    /// without --cache-dir.
    pub(crate) fn cache(&self) -> Option<Cache> {
        self.verify
            .trust_cache
            .open(self.source.metadata_dir.is_some(), self.verify.at.is_some())
    }
}

/// What to verify against, shared by resolve and inspect.
#[derive(clap::Args)]
pub(crate) struct VerifyArgs {
    /// Pinned root public key (PEM public key, PEM certificate, or bare base64 DER); repeatable,
    /// the root must be signed by at least one.
    #[arg(long = "root-key", value_name = "FILE")]
    pub(crate) root_keys: Vec<PathBuf>,
    /// A delegation that must have signed the tag (`releases` or `targets/releases`); repeatable.
    #[arg(long = "delegation", value_name = "NAME")]
    pub(crate) delegations: Vec<String>,
    /// strict: everything enforced; permissive: expiry only warns; audit: authenticity and expiry only warn.
    #[arg(long, value_enum, default_value = "strict")]
    pub(crate) level: LevelArg,
    /// Verify as of this time (RFC 3339), e.g. for archived trust data.
    #[arg(long, value_name = "RFC3339")]
    pub(crate) at: Option<String>,
    /// Refuse a rotated root key instead of following the rotation from the pinned key.
    #[arg(long = "no-follow-rotation")]
    pub(crate) no_follow_rotation: bool,
    /// Give up on a repository after this many seconds, every request included.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) deadline: u64,
    /// Most bytes fetched and held for one repository (a batch may use 64 times it).
    #[arg(long = "max-bytes", value_name = "BYTES", default_value_t = Budget::default().bytes, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_bytes: u64,
    /// Most signature verifications for one repository (a batch may use 64 times it).
    #[arg(long = "max-verifications", value_name = "N", default_value_t = Budget::default().signatures, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_verifications: u64,
    /// Most roles (files) verified for one repository (a batch may use 64 times it).
    #[arg(long = "max-roles", value_name = "N", default_value_t = Budget::default().roles, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_roles: u64,
    /// Most root rotation steps walked for one repository (a batch may use 64 times it).
    #[arg(long = "max-rotations", value_name = "N", default_value_t = Budget::default().rotation_steps, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_rotations: u64,
    #[command(flatten)]
    pub(crate) trust_cache: CacheArgs,
}

/// The trust cache flags, the same for resolve (and what shares its flags) and verify.
#[derive(clap::Args)]
pub(crate) struct CacheArgs {
    /// Trust cache (rollback protection, warm path); default: $XDG_CACHE_HOME/trustpin or
    /// ~/.cache/trustpin, and none for an offline folder (--metadata-dir, --oci-layout). An explicit --cache-dir wins over
    /// --no-cache / TRUSTPIN_NO_CACHE. With --at, rollback state is neither read nor written.
    #[arg(long = "cache-dir", value_name = "DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
    /// Use no trust cache: no rollback protection across runs, no warm path.
    #[arg(long = "no-cache", env = "TRUSTPIN_NO_CACHE", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub(crate) no_cache: bool,
}

impl CacheArgs {
    /// The cache to use: --cache-dir; none with --no-cache or when `local` (an offline folder)
    /// without --cache-dir; else the user's cache directory. Verifying another time (`at`), its
    /// rollback state is neither read nor written (an archive's versions are not today's); its
    /// verified files still serve the warm path.
    pub(crate) fn open(&self, local: bool, at: bool) -> Option<Cache> {
        let cache = match &self.cache_dir {
            Some(dir) => Cache::new(dir.clone()),
            None if self.no_cache || local => return None,
            None => Cache::new(Cache::default_dir()?),
        };
        Some(if at { cache.without_rollback() } else { cache })
    }
}

#[derive(clap::Args)]
pub(crate) struct InspectArgs {
    /// Image references: name[:tag]; with a tag, only that tag's signatures are shown.
    #[arg(required = true, value_name = "IMAGE")]
    pub(crate) images: Vec<String>,
    #[command(flatten)]
    pub(crate) repo: RepoArgs,
    /// text: signed tags, delegations and keys; json or jsonl: docker trust inspect's fields.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub(crate) output: OutputArg,
    /// List every signature of each IMAGE, Notary v1 and Notation: tool, trusted, author.
    #[arg(long)]
    pub(crate) signatures: bool,
    /// With --signatures: a trust policy file (both generations) instead of --root-key.
    #[arg(long, value_name = "FILE", requires = "signatures")]
    pub(crate) policy: Option<PathBuf>,
    /// With --signatures: plain http to registries (a warning every time, off loopback).
    #[arg(long = "insecure-registry", requires = "signatures")]
    pub(crate) insecure_registry: bool,
}

#[derive(clap::Args)]
pub(crate) struct LookupArgs {
    /// The repository (Notary GUN), e.g. `docker.io/library/alpine` or `example.com/team/app`.
    #[arg(value_name = "GUN")]
    pub(crate) gun: String,
    /// The target name exactly as signed (no tag grammar applies).
    #[arg(value_name = "NAME")]
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) repo: RepoArgs,
    /// text: `NAME sha256:<hex> SIZE`, as `notary lookup` prints it; json or jsonl: one object.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub(crate) output: OutputArg,
}

#[derive(clap::Args)]
pub(crate) struct GetRootKeyArgs {
    /// The image whose repository's root key to print.
    #[arg(long, short = 'i', value_name = "IMAGE")]
    pub(crate) image: String,
    #[command(flatten)]
    pub(crate) source: SourceArgs,
    /// Print only the PEM block(s), for `--root-key` or a pinning config.
    #[arg(long = "pem-only", conflicts_with = "output")]
    pub(crate) pem_only: bool,
    /// text (default): `KeyID:`, `Key:` (PEM), `CanonicalID:`; json: one document with the
    /// validity, root version and threshold; jsonl: the same on one line.
    #[arg(long, short = 'o', value_enum)]
    pub(crate) output: Option<OutputArg>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub(crate) enum LevelArg {
    Strict,
    Permissive,
    Audit,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub(crate) enum OutputArg {
    Text,
    Json,
    Jsonl,
}

#[derive(clap::Args)]
pub(crate) struct ResolveArgs {
    /// Image references: name[:tag][@sha256:hex]; `-` reads more from stdin, one per line
    /// (blank lines and `#` comments ignored).
    #[arg(value_name = "IMAGE")]
    pub(crate) images: Vec<String>,
    /// Read more references from FILE, one per line (blank lines and `#` comments ignored).
    #[arg(long = "from-file", value_name = "FILE")]
    pub(crate) from_file: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) batch: BatchArgs,
    /// text: one `<gun>@sha256:<hex>` line per image in input order; json: one array;
    /// jsonl: one object per line as each repository finishes.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub(crate) output: OutputArg,
}

/// Read the pinned keys and the level, printing every relaxation's warning.
pub(crate) fn options(args: &VerifyArgs) -> Result<Options> {
    if args.root_keys.is_empty() {
        anyhow::bail!("no pinned key: give --root-key FILE (or, for resolve, --policy FILE)");
    }
    options_with(args, true)
}

/// As [`options`], with the level's warning printed only when `announce` (a policy announces its
/// own levels), and possibly no pinned keys (a policy brings its own).
pub(crate) fn options_with(args: &VerifyArgs, announce: bool) -> Result<Options> {
    let mut pinned = Vec::new();
    for path in &args.root_keys {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read root key file {}", path.display()))?;
        // The key error names the file already.
        pinned.extend(PinnedKey::parse_all(&bytes, &path.display().to_string())?);
    }
    let at = match &args.at {
        Some(s) => parse_at(s)?,
        None => OffsetDateTime::now_utc(),
    };
    let level = match args.level {
        LevelArg::Strict => Level::Strict,
        LevelArg::Permissive => Level::Permissive,
        LevelArg::Audit => Level::Audit,
    };
    if announce {
        announce_level(level, None);
    }
    if let Some(s) = &args.at {
        note!("verifying as of {s}, not now (rollback state is neither read nor updated)");
    }
    let budget = Budget {
        signatures: args.max_verifications,
        roles: args.max_roles,
        rotation_steps: args.max_rotations,
        bytes: args.max_bytes,
    };
    Ok(Options {
        pinned,
        level,
        at,
        required: args.delegations.clone(),
        limits: Limits {
            budget,
            deadline: Duration::from_secs(args.deadline),
            ..Limits::default()
        },
        follow_rotation: !args.no_follow_rotation,
        batch: Some(Arc::new(Meter::batch(batch_budget(budget)))),
    })
}

/// `--at`: an RFC 3339 time, or one sentence saying what is wrong with an example of the form
/// (the parser's own error repeats itself through its sources, so it is not chained).
pub(crate) fn parse_at(s: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|e| {
        let date = s.get(..10).filter(|d| time::Date::parse(d, DATE).is_ok());
        let example = date.map_or("2026-11-23T00:00:00Z".to_owned(), |d| {
            format!("{d}T00:00:00Z")
        });
        anyhow::anyhow!(
            "--at {s:?} is not an RFC 3339 time ({e}): write a date, `T`, a time and `Z` or an \
             offset, e.g. {example} or 2026-11-23T12:30:00+01:00"
        )
    })
}

const DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// Refuse, once for the run, a server URL without a scheme (`127.0.0.1:4455`), naming where it
/// came from: `--server` or DOCKER_CONTENT_TRUST_SERVER.
pub(crate) fn check_server_scheme(args: &SourceArgs) -> Result<()> {
    if args.metadata_dir.is_some() {
        return Ok(());
    }
    let (value, origin) = match &args.server {
        Some(v) => (v.clone(), "--server "),
        None => match std::env::var("DOCKER_CONTENT_TRUST_SERVER") {
            Ok(v) if !v.is_empty() => (v, "DOCKER_CONTENT_TRUST_SERVER="),
            _ => return Ok(()),
        },
    };
    if value.contains("://") {
        return Ok(());
    }
    anyhow::bail!(
        "{origin}{value} has no scheme: a server URL needs one, e.g. https://{value} \
         (or http://{value} for a plain-http server)"
    )
}

/// Print the warning a relaxed level owes the user, every time.
pub(crate) fn announce_level(level: Level, policy: Option<&str>) {
    let whose = policy
        .map(|p| format!(" (policy {p:?})"))
        .unwrap_or_default();
    match level {
        Level::Strict => {}
        Level::Permissive => say!("warning: level permissive{whose}: expired metadata and certificates are accepted"),
        Level::Audit => say!(
            "warning: level audit{whose}: the pinned key and certificate names are NOT enforced, nor expiry; answers are not trustworthy"
        ),
    }
}

/// The references to resolve, in order: arguments, `-` (stdin), then --from-file files.
pub(crate) fn collect_inputs(args: &ResolveArgs) -> Result<Vec<String>> {
    let lines = |text: &str| -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    let mut out = Vec::new();
    for a in &args.images {
        if a == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut text)
                .context("reading references from stdin")?;
            out.extend(lines(&text));
        } else {
            out.push(a.clone());
        }
    }
    for f in &args.from_file {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("--from-file {}", f.display()))?;
        out.extend(lines(&text));
    }
    if out.is_empty() {
        anyhow::bail!(
            "no image references: give IMAGE arguments, `-` for stdin, or --from-file FILE"
        );
    }
    Ok(out)
}

/// The plans and where each gets its trust data: from the flags, or one per policy (the policy's
/// keys, delegations, level and server settings over the flags' source, with plain http to
/// registries if `insecure_registry`).
pub(crate) fn plans(
    repo: &RepoArgs,
    insecure_registry: bool,
    policy: Option<&PathBuf>,
) -> Result<(Plans, FlagSources)> {
    let verify = &repo.verify;
    let source = &SourceArgs {
        insecure_registry,
        ..repo.source.clone()
    };
    check_server_scheme(source)?;
    let base = options_with(verify, policy.is_none())?;
    let Some(path) = policy else {
        if base.pinned.is_empty() {
            anyhow::bail!("no pinned key: give --root-key FILE or --policy FILE");
        }
        let plan = Plan {
            opts: base,
            policy: None,
            skip: false,
        };
        return Ok((Plans::single(plan), FlagSources(vec![source.clone()])));
    };
    if !verify.root_keys.is_empty()
        || !verify.delegations.is_empty()
        || verify.level != LevelArg::Strict
    {
        anyhow::bail!("--policy gives the keys, delegations and level: drop --root-key, --delegation and --level");
    }
    let set = PolicySet::load(path)?;
    let sources = set
        .policies
        .iter()
        .map(|p| {
            let mut source = source.clone();
            if let Some(url) = &p.server.url {
                if source.server.is_none() && source.metadata_dir.is_none() {
                    source.server = Some(url.clone());
                }
            }
            if let Some(ca) = &p.server.ca_file {
                source.ca_certs.push(ca.clone());
            }
            if let Some(sources) = p
                .server
                .credentials
                .as_deref()
                .and_then(crate::fetch::credentials::Sources::parse)
            {
                source.credential_sources = sources;
            }
            source.check_health |= p.server.check_health;
            source
        })
        .collect();
    Ok((Plans::from_policies(&base, set), FlagSources(sources)))
}

/// How many repositories' worth of budget one run (a batch) may spend.
pub(crate) const BATCH_FACTOR: u64 = 64;

/// The batch's budget: [`BATCH_FACTOR`] times one repository's.
fn batch_budget(b: Budget) -> Budget {
    Budget {
        signatures: b.signatures.saturating_mul(BATCH_FACTOR),
        roles: b.roles.saturating_mul(BATCH_FACTOR),
        rotation_steps: b.rotation_steps.saturating_mul(BATCH_FACTOR),
        bytes: b.bytes.saturating_mul(BATCH_FACTOR),
    }
}
