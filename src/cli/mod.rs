//! The command line: argument parsing, output and exit codes over the library, shared by the
//! `trustpin` and `get-root-key` binaries (each a one-line `main`). Exit codes: 0 all trusted,
//! 1 verification refused, 2 usage or input error, 3 could not check (server unreachable, HTTP
//! error, timeout); with several images the worst wins. `anyhow` lives here and nowhere else.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand, ValueEnum};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::fetch::archive;
use crate::fetch::cache::Cache;
use crate::tuf::chain::Repo;
use crate::report::inspect;
use crate::tuf::keys::PinnedKey;
use crate::tuf::level::Level;
use crate::policy::{PolicySet, Verification};
use crate::reference::{self, ImageRef};
use crate::resolve::{self, Limits, Options, Resolution, ResolveError};
use crate::report::rootkey;
use crate::fetch::dir::DirSource;
use crate::fetch::http::{HttpOptions, HttpSource};
use crate::fetch::Source;

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
    /// Trust policy files.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Rewrite image references in a text file (Kubernetes manifests, compose files, Dockerfile
    /// FROM lines) to `name:tag@sha256:...` verified digests: a diff, or in place with --write.
    Pin(PinArgs),
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Check a policy file and print what each scope maps to (and which policy each IMAGE gets).
    Check {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[arg(value_name = "IMAGE")]
        images: Vec<String>,
    },
}

#[derive(clap::Args)]
struct PinArgs {
    /// The file to rewrite.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Rewrite the file in place instead of printing a diff.
    #[arg(long)]
    write: bool,
    /// Rewrite the references that verified even if others failed (the exit code still says so).
    #[arg(long = "keep-going")]
    keep_going: bool,
    #[command(flatten)]
    batch: BatchArgs,
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
    /// Give up on connecting (TCP and TLS) after this many seconds.
    #[arg(long = "connect-timeout", value_name = "SECONDS", default_value_t = 10)]
    connect_timeout: u64,
    /// Client certificate (PEM) for mutual TLS; needs --client-key.
    #[arg(long = "client-cert", value_name = "FILE", requires = "client_key")]
    client_cert: Option<PathBuf>,
    /// Unencrypted private key (PEM) of --client-cert.
    #[arg(long = "client-key", value_name = "FILE", requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// User name for the registry's token server; the password comes from stdin
    /// (--password-stdin). Else TRUSTPIN_USERNAME/TRUSTPIN_PASSWORD, else the docker config.
    #[arg(long, value_name = "NAME", requires = "password_stdin")]
    username: Option<String>,
    /// Read the password for --username from stdin (one line).
    #[arg(long = "password-stdin", requires = "username")]
    password_stdin: bool,
    /// GET /_notary_server/health before fetching trust data (not every registry has it).
    #[arg(long = "check-health")]
    check_health: bool,
    /// Where credentials may come from (a trust policy's `server.credentials`); not a flag.
    #[arg(skip)]
    credential_sources: crate::fetch::credentials::Sources,
}

/// What `resolve` and `pin` share: keys or a policy, concurrency, the source.
#[derive(clap::Args)]
struct BatchArgs {
    /// Trust policy file: per repository scope, the level, pinned keys, required delegations and
    /// server (instead of --root-key).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Repositories fetched and verified at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    jobs: usize,
    #[command(flatten)]
    verify: VerifyArgs,
    #[command(flatten)]
    source: SourceArgs,
}

impl BatchArgs {
    /// Resolve `inputs` under these flags (see [`resolve_all`]).
    fn resolve(
        &self,
        inputs: Vec<String>,
        on_final: &mut dyn FnMut(&Outcome) -> Result<()>,
    ) -> Result<Vec<Outcome>> {
        let (plans, policies) = plans(&self.verify, &self.source, self.policy.as_ref())?;
        resolve_all(
            inputs,
            &plans,
            policies.as_ref(),
            self.jobs,
            self.verify.cache(),
            on_final,
        )
    }
}

/// What to verify against, shared by resolve and inspect.
#[derive(clap::Args)]
struct VerifyArgs {
    /// Pinned root public key (PEM public key, PEM certificate, or bare base64 DER); repeatable,
    /// the root must be signed by at least one.
    #[arg(long = "root-key", value_name = "FILE")]
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
    /// Trust cache (rollback protection, warm path); default: $XDG_CACHE_HOME/trustpin or
    /// ~/.cache/trustpin. An explicit --cache-dir wins over --no-cache / TRUSTPIN_NO_CACHE.
    #[arg(long = "cache-dir", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Use no trust cache: no rollback protection across runs.
    #[arg(long = "no-cache", env = "TRUSTPIN_NO_CACHE", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    no_cache: bool,
}

impl VerifyArgs {
    /// The cache to use: none with --no-cache, --cache-dir, else the user's cache directory.
    fn cache(&self) -> Option<Cache> {
        if let Some(dir) = &self.cache_dir {
            return Some(Cache::new(dir.clone()));
        }
        if self.no_cache {
            return None;
        }
        Cache::default_dir().map(Cache::new)
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

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum LevelArg {
    Strict,
    Permissive,
    Audit,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum OutputArg {
    Text,
    Json,
    Jsonl,
}

#[derive(clap::Args)]
struct ResolveArgs {
    /// Image references: name[:tag][@sha256:hex]; `-` reads more from stdin, one per line
    /// (blank lines and `#` comments ignored).
    #[arg(value_name = "IMAGE")]
    images: Vec<String>,
    /// Read more references from FILE, one per line (blank lines and `#` comments ignored).
    #[arg(long = "from-file", value_name = "FILE")]
    from_file: Vec<PathBuf>,
    #[command(flatten)]
    batch: BatchArgs,
    /// text: one `<gun>@sha256:<hex>` line per image in input order; json: one array;
    /// jsonl: one object per line as each repository finishes.
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
        Command::Policy(PolicyCommand::Check { file, images }) => run_policy_check(&file, &images),
        Command::Pin(args) => run_pin(args),
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

/// Read the pinned keys and the level, printing every relaxation's warning.
fn options(args: &VerifyArgs) -> Result<Options> {
    if args.root_keys.is_empty() {
        anyhow::bail!("no pinned key: give --root-key FILE (or, for resolve, --policy FILE)");
    }
    options_with(args, true)
}

/// As [`options`], with the level's warning printed only when `announce` (a policy announces its
/// own levels), and possibly no pinned keys (a policy brings its own).
fn options_with(args: &VerifyArgs, announce: bool) -> Result<Options> {
    let mut pinned = Vec::new();
    for path in &args.root_keys {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read root key file {}", path.display()))?;
        // The key error names the file already.
        pinned.extend(PinnedKey::parse_all(&bytes, &path.display().to_string())?);
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
    if announce {
        announce_level(level, None);
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

/// Print the warning a relaxed level owes the user, every time.
fn announce_level(level: Level, policy: Option<&str>) {
    let whose = policy
        .map(|p| format!(" (policy {p:?})"))
        .unwrap_or_default();
    match level {
        Level::Strict => {}
        Level::Permissive => eprintln!("warning: level permissive{whose}: expired metadata and certificates are accepted"),
        Level::Audit => eprintln!(
            "warning: level audit{whose}: the pinned key and certificate names are NOT enforced, nor expiry; answers are not trustworthy"
        ),
    }
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
                    .map_err(|e| (code_of(&e), message(&e)))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// How one image is to be checked: the options and source of its policy (or of the flags).
struct Plan {
    opts: Options,
    source: SourceArgs,
    /// The policy's name, when a policy chose this plan.
    policy: Option<String>,
    /// The policy says `skip`: no verification.
    skip: bool,
}

/// What became of one image.
enum Answer {
    Trusted(Resolution),
    Skipped,
    Failed(u8, String),
}

/// One image's outcome, as printed.
struct Outcome {
    input: String,
    image: Option<ImageRef>,
    policy: Option<String>,
    answer: Answer,
}

impl Outcome {
    fn code(&self) -> u8 {
        match self.answer {
            Answer::Failed(c, _) => c,
            _ => 0,
        }
    }
}

/// The references to resolve, in order: arguments, `-` (stdin), then --from-file files.
fn collect_inputs(args: &ResolveArgs) -> Result<Vec<String>> {
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

/// The plans: index 0 from the flags (if they name a key), then one per policy.
fn plans(
    verify: &VerifyArgs,
    source: &SourceArgs,
    policy: Option<&PathBuf>,
) -> Result<(Vec<Plan>, Option<PolicySet>)> {
    let base = options_with(verify, policy.is_none())?;
    let mut plans = Vec::new();
    let Some(path) = policy else {
        if base.pinned.is_empty() {
            anyhow::bail!("no pinned key: give --root-key FILE or --policy FILE");
        }
        plans.push(Plan {
            opts: base,
            source: source.clone(),
            policy: None,
            skip: false,
        });
        return Ok((plans, None));
    };
    if !verify.root_keys.is_empty()
        || !verify.delegations.is_empty()
        || verify.level != LevelArg::Strict
    {
        anyhow::bail!("--policy gives the keys, delegations and level: drop --root-key, --delegation and --level");
    }
    let set = PolicySet::load(path)?;
    for p in &set.policies {
        let mut opts = base.clone();
        opts.pinned = p.trust_roots.clone();
        opts.required = p.required_delegations.clone();
        let skip = p.verification == Verification::Skip;
        if let Verification::Verify(level) = p.verification {
            opts.level = level;
        }
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
        plans.push(Plan {
            opts,
            source,
            policy: Some(p.name.clone()),
            skip,
        });
    }
    Ok((plans, Some(set)))
}

/// Resolve every input under its plan: each (plan, location, repository) fetched and verified
/// once, `jobs` repositories at a time over one connection pool per server. `on_final` sees each
/// outcome as soon as it is final (for jsonl); the result is in input order.
fn resolve_all(
    inputs: Vec<String>,
    plans: &[Plan],
    policies: Option<&PolicySet>,
    jobs_n: usize,
    cache: Option<Cache>,
    on_final: &mut dyn FnMut(&Outcome) -> Result<()>,
) -> Result<Vec<Outcome>> {
    let mut announced = std::collections::BTreeSet::new();
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(inputs.len());
    let mut jobs: Vec<(usize, String, String, Vec<usize>)> = Vec::new();
    let mut job_of: BTreeMap<(usize, String, String), usize> = BTreeMap::new();
    for input in inputs {
        let image = match reference::parse(&input) {
            Ok(i) => i,
            Err(e) => {
                outcomes.push(Outcome {
                    input,
                    image: None,
                    policy: None,
                    answer: Answer::Failed(EXIT_USAGE, e.to_string()),
                });
                continue;
            }
        };
        let plan_ix = match policies {
            None => Some(0),
            Some(set) => set.index_for(&image.gun),
        };
        let Some(plan_ix) = plan_ix else {
            let msg = format!("no trust policy scope matches {}", image.gun);
            outcomes.push(Outcome {
                input,
                image: Some(image),
                policy: None,
                answer: Answer::Failed(EXIT_REFUSED, msg),
            });
            continue;
        };
        let plan = &plans[plan_ix];
        if announced.insert(plan_ix) && plan.policy.is_some() && !plan.skip {
            announce_level(plan.opts.level, plan.policy.as_deref());
        }
        if plan.skip {
            outcomes.push(Outcome {
                input,
                image: Some(image),
                policy: plan.policy.clone(),
                answer: Answer::Skipped,
            });
            continue;
        }
        let location = location_for(&plan.source, &image);
        let key = (plan_ix, location.clone(), image.gun.clone());
        let j = *job_of.entry(key).or_insert_with(|| {
            jobs.push((plan_ix, location, image.gun.clone(), Vec::new()));
            jobs.len() - 1
        });
        jobs[j].3.push(outcomes.len());
        outcomes.push(Outcome {
            input,
            image: Some(image),
            policy: plan.policy.clone(),
            answer: Answer::Failed(EXIT_UNAVAILABLE, "not resolved".into()),
        });
    }

    // One source (one connection pool) per plan and location.
    let mut sources: BTreeMap<(usize, String), Result<Box<dyn Source>, String>> = BTreeMap::new();
    for (plan_ix, location, _, _) in &jobs {
        sources
            .entry((*plan_ix, location.clone()))
            .or_insert_with(|| make_source(&plans[*plan_ix].source, location));
    }
    let total = outcomes.len();
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr()) && total > 20;
    let pending: std::collections::BTreeSet<usize> =
        jobs.iter().flat_map(|j| j.3.iter().copied()).collect();
    let mut done = total - pending.len();
    for (i, o) in outcomes.iter().enumerate() {
        if !pending.contains(&i) {
            on_final(o)?;
        }
    }

    let (tx, rx) = std::sync::mpsc::channel();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = |tx: std::sync::mpsc::Sender<_>| loop {
        let j = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some((plan_ix, location, gun, _)) = jobs.get(j) else {
            break;
        };
        let result = match &sources[&(*plan_ix, location.clone())] {
            Ok(source) => resolve::fetch_repo_cached(
                source.as_ref(),
                gun,
                &plans[*plan_ix].opts,
                cache.as_ref(),
            )
            .map(|f| {
                // The bytes are kept only for the cache, which has them by now.
                exit_soon_discard(f.files, jobs.len() <= 1);
                f.repo
            })
            .map_err(|e| (code_of(&e), message(&e))),
            Err(e) => Err((EXIT_USAGE, e.clone())),
        };
        if tx.send((j, result)).is_err() {
            break;
        }
    };
    std::thread::scope(|scope| -> Result<()> {
        if jobs.len() <= 1 {
            // One repository: no worker thread (its start-up and its own heap cost more than
            // the fetch overlaps, which happen inside the source anyway).
            work(tx);
        } else {
            for _ in 0..jobs_n.clamp(1, 64).min(jobs.len()) {
                let tx = tx.clone();
                scope.spawn(|| work(tx));
            }
            drop(tx);
        }
        for (j, result) in rx {
            let (plan_ix, _, _, members) = &jobs[j];
            for &i in members {
                let o = &mut outcomes[i];
                o.answer = match (&result, &o.image) {
                    (Ok(repo), Some(image)) => {
                        match resolve::select_ref(repo, image, &plans[*plan_ix].opts) {
                            Ok(r) => Answer::Trusted(r),
                            Err(e) => Answer::Failed(code_of(&e), e.to_string()),
                        }
                    }
                    (Err((c, m)), _) => Answer::Failed(*c, m.clone()),
                    (Ok(_), None) => continue,
                };
                on_final(o)?;
                done += 1;
            }
            exit_soon_discard(result, jobs.len() <= 1);
            if progress {
                eprint!("\r{done}/{total} resolved");
            }
        }
        Ok(())
    })?;
    if progress {
        eprintln!();
    }
    Ok(outcomes)
}

/// Drop `value`, or, when the process is about to exit anyway (`exiting`), leave it to the
/// operating system: freeing a repository's thousands of small allocations one by one is
/// measurable work (about a tenth of a cold resolve of a 15,000-tag repository) for nothing.
fn exit_soon_discard<T>(value: T, exiting: bool) {
    if exiting {
        std::mem::forget(value);
    }
}

fn run_resolve(args: ResolveArgs) -> Result<u8> {
    let inputs = collect_inputs(&args)?;
    // Buffered, and flushed per line only for jsonl (whose point is to stream).
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let jsonl = args.output == OutputArg::Jsonl;
    let outcomes = args.batch.resolve(inputs, &mut |o| {
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
                            eprintln!("warning: {}: {w}", o.input);
                        }
                        writeln!(stdout, "{gun}@{}", r.selection.digest)?;
                    }
                    Answer::Skipped => {
                        eprintln!(
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
                    Answer::Failed(_, msg) => eprintln!("trustpin: {}: {msg}", o.input),
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
    Ok(outcomes.iter().map(Outcome::code).max().unwrap_or(0))
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
        Answer::Failed(code, msg) => {
            v["digest"] = serde_json::Value::Null;
            // refused (1), bad input (2), could not check (3).
            v["verification"] = match *code {
                EXIT_USAGE => "input-error",
                EXIT_UNAVAILABLE => "unavailable",
                _ => "refused",
            }
            .into();
            v["error"] = msg.clone().into();
            v["warnings"] = serde_json::json!([]);
            v["exit_code"] = (*code).into();
        }
    }
    v
}

fn code_of(e: &ResolveError) -> u8 {
    match e.exit_code() {
        3 => EXIT_UNAVAILABLE,
        _ => EXIT_REFUSED,
    }
}

/// `e`'s message, with how to give credentials when the server wants some and none were found.
fn message(e: &ResolveError) -> String {
    match e {
        ResolveError::Unavailable(s) if s.needs_credentials() => format!(
            "{e}; give credentials with --username and --password-stdin, TRUSTPIN_USERNAME and \
             TRUSTPIN_PASSWORD, or docker login"
        ),
        _ => e.to_string(),
    }
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
    use crate::fetch::credentials::{CredentialProvider, Lookup, Sources};
    if let Some(dir) = &args.metadata_dir {
        if !dir.is_dir() {
            return Err(format!("--metadata-dir {}: not a directory", dir.display()));
        }
        return Ok(Box::new(DirSource::new(dir.clone())));
    }
    if location.starts_with("http://") && !crate::fetch::http::is_loopback_url(location) {
        eprintln!(
            "warning: {location} is plain http: anyone on the path sees which images you check"
        );
    }
    let credentials: Option<std::sync::Arc<dyn CredentialProvider>> = match args.credential_sources
    {
        Sources::None => None,
        sources => {
            let flags = match &args.username {
                Some(username) => Some((username.clone(), password_from_stdin()?)),
                None => None,
            };
            let lookup = Lookup::from_environment(flags).map_err(|e| e.to_string())?;
            Some(std::sync::Arc::new(if sources == Sources::Env {
                lookup.without_docker_config()
            } else {
                lookup
            }))
        }
    };
    let client_identity = match (&args.client_cert, &args.client_key) {
        (Some(cert), Some(key)) => Some(crate::fetch::http::ClientIdentity {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => None,
    };
    let opts = HttpOptions {
        ca_certs: args.ca_certs.clone(),
        client_identity,
        timeout: Duration::from_secs(args.timeout),
        connect_timeout: Duration::from_secs(args.connect_timeout),
        check_health: args.check_health,
        credentials,
    };
    HttpSource::new(location, opts)
        .map(|s| Box::new(s) as Box<dyn Source>)
        .map_err(|e| e.to_string())
}

/// The password given with `--password-stdin`: stdin read once per run (at most 64 KiB), one
/// trailing line break dropped, as `docker login --password-stdin` does.
fn password_from_stdin() -> Result<crate::fetch::credentials::Secret, String> {
    use std::io::Read as _;
    static PASSWORD: std::sync::OnceLock<Result<crate::fetch::credentials::Secret, String>> =
        std::sync::OnceLock::new();
    PASSWORD
        .get_or_init(|| {
            let mut raw = Vec::new();
            std::io::stdin()
                .lock()
                .take(64 * 1024 + 1)
                .read_to_end(&mut raw)
                .map_err(|e| format!("--password-stdin: cannot read stdin: {e}"))?;
            if raw.len() > 64 * 1024 {
                return Err("--password-stdin: more than 64 KiB on stdin".into());
            }
            let text = crate::fetch::credentials::Secret::new(
                String::from_utf8(raw)
                    .map_err(|_| "--password-stdin: the password is not UTF-8".to_owned())?,
            );
            let password = text
                .expose()
                .strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(text.expose());
            if password.is_empty() {
                return Err(
                    "--password-stdin: stdin holds no password (it cannot also carry `-` images)"
                        .into(),
                );
            }
            Ok(crate::fetch::credentials::Secret::new(password))
        })
        .clone()
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
    let mut array = JsonArray { open: false };
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
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
                let failed = serde_json::json!({ "Name": input, "Gun": image.gun, "Error": msg, "ExitCode": code });
                match args.output {
                    OutputArg::Json => array.item(&mut stdout, &failed)?,
                    OutputArg::Jsonl => writeln!(stdout, "{failed}")?,
                    OutputArg::Text => {}
                }
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
                error: s.verified.as_ref().err().map(String::as_str),
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
    error: Option<&'a str>,
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
            eprintln!("get-root-key: {}", message(&e.into()));
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
        (false, Some(OutputArg::Json | OutputArg::Jsonl)) => {
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
                eprintln!("trustpin: {input}: {}", message(&e.into()));
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

fn run_policy_check(file: &Path, images: &[String]) -> Result<u8> {
    let set = match PolicySet::load(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("trustpin: {e}");
            return Ok(EXIT_USAGE);
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
        for scope in &p.scopes {
            writeln!(out, "  scope        {scope}")?;
        }
        for k in &p.trust_roots {
            writeln!(out, "  trust root   {} ({})", k.canonical_id(), k.origin())?;
        }
        if !p.required_delegations.is_empty() {
            writeln!(out, "  requires     {}", p.required_delegations.join(", "))?;
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
    let mut worst = 0;
    if !images.is_empty() {
        writeln!(out)?;
    }
    for input in images {
        match reference::parse(input) {
            Ok(image) => match set.for_gun(&image.gun) {
                Some(p) => writeln!(out, "{input} → policy {:?}", p.name)?,
                None => {
                    writeln!(out, "{input} → no policy: refused")?;
                    worst = worst.max(EXIT_REFUSED);
                }
            },
            Err(e) => {
                eprintln!("trustpin: {e}");
                worst = worst.max(EXIT_USAGE);
            }
        }
    }
    Ok(worst)
}

/// One image reference found in a text file.
struct Found {
    line: usize,
    /// Byte range of the reference within the line.
    start: usize,
    end: usize,
    text: String,
}

/// Image references in Kubernetes/compose YAML (`image: X`) and Dockerfiles (`FROM X [AS y]`);
/// build stages, `scratch` and references with variables are left alone.
fn find_references(text: &str) -> Vec<Found> {
    let mut out = Vec::new();
    let mut stages: Vec<String> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let mut push = |start: usize, word: &str| {
            let word = word.trim_matches(|c| c == '"' || c == '\'');
            if word.is_empty() || word.contains('$') || word.contains('{') {
                return;
            }
            if let Some(off) = line[start..].find(word) {
                out.push(Found {
                    line: n,
                    start: start + off,
                    end: start + off + word.len(),
                    text: word.to_owned(),
                });
            }
        };
        // YAML: `image: X` or `- image: X`.
        let yaml = trimmed.strip_prefix("- ").unwrap_or(trimmed);
        if let Some(rest) = yaml.strip_prefix("image:") {
            let value = rest.split('#').next().unwrap_or("").trim();
            let start = indent + (trimmed.len() - yaml.len()) + "image:".len();
            push(start, value);
            continue;
        }
        // Dockerfile: exactly `FROM [--flag=...]... X [AS name]` (so `from os import path` in a
        // script is not taken for one).
        let mut words = trimmed.split_whitespace();
        if words.next().is_some_and(|w| w.eq_ignore_ascii_case("FROM")) {
            let rest: Vec<&str> = words.collect();
            let args: Vec<&&str> = rest.iter().skip_while(|w| w.starts_with("--")).collect();
            let shaped = match args.as_slice() {
                [_] => true,
                [_, as_kw, _] => as_kw.eq_ignore_ascii_case("AS"),
                _ => false,
            };
            if !shaped {
                continue;
            }
            let mut it = args.into_iter();
            if let Some(image) = it.next() {
                let is_stage = stages.iter().any(|s| s.eq_ignore_ascii_case(image));
                if !is_stage && !image.eq_ignore_ascii_case("scratch") {
                    let start = indent + trimmed.find(image).unwrap_or(0);
                    push(start, image);
                }
                if it.next().is_some_and(|w| w.eq_ignore_ascii_case("AS")) {
                    if let Some(name) = it.next() {
                        stages.push((*name).to_owned());
                    }
                }
            }
        }
    }
    out
}

/// `name:tag@sha256:...` keeping the name and tag as the user wrote them. A digest-only
/// reference (verified to be signed) stays as it is: no tag is claimed for it.
fn pinned_reference(found: &str, image: &ImageRef, digest: &crate::reference::Digest) -> String {
    if image.digest.is_some() && image.tag.is_none() {
        return found.to_owned();
    }
    let without_digest = found.split('@').next().unwrap_or(found);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    let name_tag = if last.contains(':') {
        without_digest.to_owned()
    } else {
        format!(
            "{without_digest}:{}",
            image.tag.as_deref().unwrap_or("latest")
        )
    };
    format!("{name_tag}@{digest}")
}

fn run_pin(args: PinArgs) -> Result<u8> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let found = find_references(&text);
    let inputs: Vec<String> = found.iter().map(|f| f.text.clone()).collect();
    let outcomes = args.batch.resolve(inputs, &mut |_| Ok(()))?;
    let worst = outcomes.iter().map(Outcome::code).max().unwrap_or(0);
    for (f, o) in found.iter().zip(&outcomes) {
        match &o.answer {
            Answer::Failed(_, msg) => eprintln!(
                "trustpin: {}:{}: {}: {msg}",
                args.file.display(),
                f.line + 1,
                f.text
            ),
            Answer::Skipped => eprintln!(
                "warning: {}:{}: {}: NOT VERIFIED (policy {:?} says skip): left as it is",
                args.file.display(),
                f.line + 1,
                f.text,
                o.policy.as_deref().unwrap_or_default()
            ),
            Answer::Trusted(r) => {
                for w in &r.warnings {
                    eprintln!("warning: {}: {w}", f.text);
                }
            }
        }
    }
    if worst != 0 && !args.keep_going {
        eprintln!("trustpin: {}: not rewritten: some references did not verify (--keep-going rewrites the others)", args.file.display());
        return Ok(worst);
    }
    // Rewrite line by line, right to left within a line so ranges stay valid.
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let mut changed: BTreeMap<usize, String> = BTreeMap::new();
    for (f, o) in found.iter().zip(&outcomes).rev() {
        let (Answer::Trusted(r), Some(image)) = (&o.answer, &o.image) else {
            continue;
        };
        let new = pinned_reference(&f.text, image, &r.selection.digest);
        if new == f.text {
            continue;
        }
        let Some(line) = lines.get_mut(f.line) else {
            continue;
        };
        changed.entry(f.line).or_insert_with(|| line.clone());
        line.replace_range(f.start..f.end, &new);
    }
    let new_text = lines.join("\n");
    if args.write {
        if new_text != text {
            let tmp = args.file.with_extension("trustpin-tmp");
            std::fs::write(&tmp, &new_text)
                .with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, &args.file)
                .with_context(|| format!("replacing {}", args.file.display()))?;
        }
        eprintln!("{}: {} line(s) pinned", args.file.display(), changed.len());
    } else {
        let mut out = std::io::stdout().lock();
        if !changed.is_empty() {
            writeln!(
                out,
                "--- {}\n+++ {}",
                args.file.display(),
                args.file.display()
            )?;
        }
        for (n, old) in &changed {
            writeln!(out, "@@ -{} +{} @@\n-{old}\n+{}", n + 1, n + 1, lines[*n])?;
        }
    }
    Ok(worst)
}
