//! The command line: argument parsing (`args`), the subcommands (`run`, `inspect`) and
//! output, over the library, shared by the `trustpin` and `get-root-key` binaries (each a
//! one-line `main`). Exit codes come from [`crate::failure::Failure`]: 0 all trusted, 1 refused,
//! 2 bad input, 3 could not check; with several images the worst wins. `anyhow` lives here and
//! nowhere else; so do hints that name flags.

use std::process::ExitCode;

use clap::Parser;

use crate::failure::{Classify, Failure};
use crate::resolve::{ResolveError, SetupError};
use crate::tuf::budget::Resource;
use crate::tuf::chain::{ChainError, FileError};

/// `eprintln!` with every control character escaped (`\u{1b}`): messages carry strings from data
/// not yet verified (a `keytype`, a role name), which must not drive the user's terminal.
macro_rules! say {
    () => {
        eprintln!()
    };
    ($($arg:tt)*) => {
        eprintln!("{}", $crate::cli::escape_controls(&format!($($arg)*)))
    };
}

/// A reminder on stderr (`note: ...`), unless `-q/--quiet`; warnings and errors use `say!`.
macro_rules! note {
    ($($arg:tt)*) => {
        if !$crate::cli::QUIET.load(std::sync::atomic::Ordering::Relaxed) {
            say!("note: {}", format!($($arg)*))
        }
    };
}

/// Set from `-q/--quiet` once, before any subcommand runs.
pub(crate) static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

mod args;
mod habits;
mod inspect;
mod lookup;
mod pin;
mod run;
mod serve;
mod signatures;
mod sources;
mod verify;
mod verify_registry;

use args::{Cli, Command, PolicyCommand};

/// Run the `trustpin` command line.
pub fn main_with(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    match Cli::try_parse_from(args) {
        Ok(cli) => run_cli(cli),
        Err(e) => usage_error(e),
    }
}

/// A parse error or `--help`/`--version`: printed, exit 2 or 0.
fn usage_error(e: clap::Error) -> ExitCode {
    let _ = e.print();
    ExitCode::from(if e.use_stderr() {
        Failure::BadInput.exit_code()
    } else {
        0
    })
}

fn run_cli(cli: Cli) -> ExitCode {
    QUIET.store(cli.quiet, std::sync::atomic::Ordering::Relaxed);
    if cli.verbose {
        let _ = crate::fetch::trace::set_observer(Box::new(Verbose));
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let result = match cli.command {
        Command::Resolve(args) => run::resolve(args),
        Command::Inspect(args) if args.signatures => signatures::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::GetRootKey(args) => run::get_root_key(args),
        Command::Archive(args) => run::archive(args),
        Command::Policy(PolicyCommand::Check { file, images }) => run::policy_check(&file, &images),
        Command::Pin(args) => pin::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Serve(args) => serve::run(*args),
        Command::Lookup(args) => lookup::run(args),
        Command::Completions { shell } => habits::completions(shell),
        Command::Man { subcommand } => habits::man(subcommand.as_deref()),
    };
    match result {
        Ok(worst) => ExitCode::from(worst.map_or(0, Failure::exit_code)),
        // `trustpin ... | head -1`: the reader has all it wanted; end quietly, as ripgrep does.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            say!("trustpin: {e:#}");
            ExitCode::from(Failure::BadInput.exit_code())
        }
    }
}

/// Run `get-root-key ARGS` (the standalone binary): the same as `trustpin get-root-key ARGS`,
/// with its own name in usage lines and `--version`.
pub fn get_root_key_main() -> ExitCode {
    use clap::{CommandFactory as _, FromArgMatches as _};
    let cli = Cli::command();
    let Some(sub) = cli.find_subcommand("get-root-key") else {
        unreachable!("trustpin has a get-root-key subcommand")
    };
    // The global flags (`-q`) are the standalone binary's own.
    let globals = cli.get_arguments().filter(|a| a.is_global_set()).cloned();
    let command = sub
        .clone()
        .args(globals)
        .name("get-root-key")
        .bin_name("get-root-key")
        .version(env!("CARGO_PKG_VERSION"));
    let parsed = command
        .try_get_matches_from(std::env::args_os())
        .and_then(|m| {
            let args = args::GetRootKeyArgs::from_arg_matches(&m)?;
            Ok(Cli {
                quiet: m.get_flag("quiet"),
                verbose: m.get_flag("verbose"),
                command: Command::GetRootKey(args),
            })
        });
    match parsed {
        Ok(cli) => run_cli(cli),
        Err(e) => usage_error(e),
    }
}

/// `-v/--verbose`: every trace event as one `verbose:` line on stderr (with or without `-q`).
struct Verbose;

impl crate::fetch::trace::Observer for Verbose {
    fn observe(&self, event: &crate::fetch::trace::Event<'_>) {
        use crate::fetch::trace::{Event, Outcome};
        let ms = |d: std::time::Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        match event {
            Event::Fetched {
                method,
                location,
                outcome: Outcome::Answer { status, bytes },
                elapsed,
            } => {
                let status = status.map(|s| format!(" {s}")).unwrap_or_default();
                say!(
                    "verbose: {method} {location}{status} {bytes} bytes {}",
                    ms(*elapsed)
                )
            }
            Event::Fetched {
                method,
                location,
                outcome: Outcome::Failed(why),
                elapsed,
            } => say!(
                "verbose: {method} {location} failed after {}: {why}",
                ms(*elapsed)
            ),
            Event::CacheHit { gun, role, bytes } => {
                say!("verbose: cache hit {gun} {role}.json {bytes} bytes (unchanged)")
            }
            Event::Verified { gun, elapsed } => {
                say!("verbose: verified {gun} in {}", ms(*elapsed))
            }
        }
    }
}

/// The worst of the failures seen so far (`None`: all trusted).
pub(crate) type Worst = Option<Failure>;

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}

/// A library error as the user reads it: its message, plus what to do about it in flags.
pub(crate) fn message(e: &ResolveError) -> String {
    let text = e.to_string();
    match e {
        ResolveError::Chain(ChainError::RotationRefused { .. }) => {
            format!("{text} (--no-follow-rotation is set)")
        }
        ResolveError::Chain(ChainError::NotPinned { .. }) => format!(
            "{text} (`trustpin get-root-key -i IMAGE` shows the repository's root key: if its owner \
             rotated it without signing the new root with the old key, check the new key through a \
             second channel and pin it)"
        ),
        ResolveError::Chain(
            ChainError::File(FileError::Expired { .. }) | ChainError::CertificateExpired { .. },
        ) => format!(
            "{text} (for an archive, verify --at the time it was made; --level permissive accepts \
             expired data with a warning)"
        ),
        ResolveError::Budget(b) => {
            let flag = match b.resource {
                Resource::Signatures => "--max-verifications",
                Resource::Roles => "--max-roles",
                Resource::RotationSteps => "--max-rotations",
                Resource::Bytes => "--max-bytes",
            };
            format!(
                "{text} ({flag} raises it; a batch may spend {} times it)",
                args::BATCH_FACTOR
            )
        }
        ResolveError::Deadline { .. } => format!("{text} (--deadline raises it)"),
        ResolveError::Rollback { .. } => format!(
            "{text}; an archive verified --at its own time reads and writes no rollback state"
        ),
        ResolveError::Unavailable(s) if s.needs_credentials() => format!(
            "{text}; give credentials with --username and --password-stdin, TRUSTPIN_USERNAME and \
             TRUSTPIN_PASSWORD, or docker login"
        ),
        ResolveError::Setup(s) => match &**s {
            SetupError::NotADirectory { .. } => format!("--metadata-dir {text}"),
            _ => text,
        },
        _ => text,
    }
}

/// The JSON `error` object: a stable kind, the role it concerns, and the message.
pub(crate) fn error_json(e: &ResolveError) -> serde_json::Value {
    serde_json::json!({
        "kind": e.kind(),
        "role": e.role(),
        "message": message(e),
    })
}

/// Control characters (terminal escapes, line breaks, NUL) as `\u{..}`; everything else as is.
pub(crate) fn escape_controls(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn terminal_escapes_and_line_breaks_are_shown_not_obeyed() {
        assert_eq!(
            escape_controls("keytype \u{1b}[31mred\nfake line\u{7}"),
            "keytype \\u{1b}[31mred\\u{a}fake line\\u{7}"
        );
        assert_eq!(escape_controls("café → ok"), "café → ok");
    }
}
