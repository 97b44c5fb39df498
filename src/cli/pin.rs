//! `trustpin pin FILE|-`: rewrite the image references of a manifest, compose file or
//! Dockerfile to verified digests ([`crate::pin`] finds them and makes the diff); say which
//! image-looking strings are left alone; print a diff `git apply` takes, the rewritten text
//! (stdin), or JSON listing each rewrite.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use crate::cli::args::{PinArgs, PinOutputArg};
use crate::cli::run::{resolve_batch, worst_of};
use crate::cli::{self, Worst};
use crate::failure::Classify;
use crate::pin;
use crate::resolve::batch::{Answer, Outcome};

/// Most bytes read from standard input (a manifest, not a stream).
const MAX_STDIN: u64 = 64 * 1024 * 1024;

pub(crate) fn run(args: PinArgs) -> Result<Worst> {
    let stdin = args.file == Path::new("-");
    if stdin && args.write {
        bail!("--write needs a file: `-` (standard input) is printed rewritten instead");
    }
    let text = if stdin {
        let mut buf = String::new();
        std::io::stdin()
            .take(MAX_STDIN + 1)
            .read_to_string(&mut buf)
            .context("cannot read standard input")?;
        if buf.len() as u64 > MAX_STDIN {
            bail!("standard input is over {MAX_STDIN} bytes");
        }
        buf
    } else {
        std::fs::read_to_string(&args.file)
            .with_context(|| format!("cannot read {}", args.file.display()))?
    };
    let shown = if stdin {
        "<stdin>".to_owned()
    } else {
        args.file.display().to_string()
    };
    let found = pin::find_references(&text);
    let left = pin::left_alone(&text);
    for l in &left {
        say!(
            "warning: {shown}:{}: {} looks like an image but is left alone: {}",
            l.line + 1,
            l.text,
            l.why
        );
    }
    let inputs: Vec<String> = found.iter().map(|f| f.text.clone()).collect();
    let outcomes = resolve_batch(&args.batch, inputs, &mut |_| Ok(()))?;
    let worst = worst_of(&outcomes);
    for (f, o) in found.iter().zip(&outcomes) {
        say_outcome(&shown, f, o);
    }
    let refused = worst.is_some() && !args.keep_going;
    if refused {
        say!("trustpin: {shown}: not rewritten: some references did not verify (--keep-going rewrites the others)");
    }
    let replacements: Vec<Option<String>> = found
        .iter()
        .zip(&outcomes)
        .map(|(f, o)| match (&o.answer, &o.image) {
            (Answer::Trusted(r), Some(image)) if !refused => {
                Some(pin::pinned_reference(&f.text, image, &r.selection.digest))
            }
            _ => None,
        })
        .collect();
    let rewritten = pin::rewrite(&text, &found, &replacements);
    let written = args.write && !refused && rewritten.text != text;
    if written {
        let tmp = args.file.with_extension("trustpin-tmp");
        std::fs::write(&tmp, &rewritten.text)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &args.file)
            .with_context(|| format!("replacing {}", args.file.display()))?;
    }
    if args.write && !refused {
        say!("{shown}: {} line(s) pinned", rewritten.changed.len());
    }
    let mut out = std::io::stdout().lock();
    match args.output {
        PinOutputArg::Json => {
            let report = json_report(&shown, &found, &outcomes, &replacements, &left, written);
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        PinOutputArg::Text if refused || args.write => {}
        PinOutputArg::Text if stdin => out.write_all(rewritten.text.as_bytes())?,
        PinOutputArg::Text => {
            let name = diff_name(&args.file);
            out.write_all(pin::unified_diff(&name, &text, &rewritten.text).as_bytes())?;
        }
    }
    out.flush()?;
    Ok(worst)
}

/// What stderr says of one reference.
fn say_outcome(shown: &str, f: &pin::Found, o: &Outcome) {
    let at = format!("{shown}:{}: {}", f.line + 1, f.text);
    match &o.answer {
        Answer::Failed(e) => say!("trustpin: {at}: {}", cli::message(e)),
        Answer::Skipped => say!(
            "warning: {at}: NOT VERIFIED (policy {:?} says skip): left as it is",
            o.policy.as_deref().unwrap_or_default()
        ),
        Answer::Trusted(r) => {
            for w in &r.warnings {
                say!("warning: {}: {w}", f.text);
            }
        }
        Answer::Pending => {}
    }
}

/// The path the diff names: `git apply` wants it relative, without `..`, from where it runs. A
/// relative path is used as given (without `./`); an absolute one relative to the current
/// folder when it is inside it, else as is (with a note: git will not take it).
fn diff_name(file: &Path) -> String {
    let clean = |p: &Path| -> Option<String> {
        let parts: Vec<String> = p
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .map(|c| match c {
                std::path::Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect::<Option<_>>()?;
        (!parts.is_empty()).then(|| parts.join("/"))
    };
    let relative: Option<PathBuf> = if file.is_absolute() {
        std::env::current_dir()
            .ok()
            .and_then(|cwd| file.strip_prefix(cwd).ok().map(Path::to_path_buf))
    } else {
        Some(file.to_path_buf())
    };
    if let Some(name) = relative.as_deref().and_then(clean) {
        return name;
    }
    note!(
        "the diff names {}, which git apply refuses (it wants a path below the current folder): run pin from a folder above the file",
        file.display()
    );
    file.display().to_string()
}

/// `--output json`: each rewrite (1-based line and column), each string left alone, each
/// reference that did not verify, and whether the file was written.
fn json_report(
    shown: &str,
    found: &[pin::Found],
    outcomes: &[Outcome],
    replacements: &[Option<String>],
    left: &[pin::LeftAlone],
    written: bool,
) -> serde_json::Value {
    let mut rewrites = Vec::new();
    let mut refused = Vec::new();
    for ((f, o), new) in found.iter().zip(outcomes).zip(replacements) {
        let at = serde_json::json!({"line": f.line + 1, "column": f.start + 1, "kind": f.kind, "from": f.text});
        match (&o.answer, new) {
            (Answer::Trusted(r), Some(to)) if *to != f.text => {
                let mut v = at;
                v["to"] = to.clone().into();
                v["digest"] = r.selection.digest.to_string().into();
                v["policy"] = o.policy.clone().into();
                rewrites.push(v);
            }
            (Answer::Failed(e), _) => {
                let mut v = at;
                v["error"] = cli::error_json(e);
                v["exit_code"] = e.failure().exit_code().into();
                refused.push(v);
            }
            _ => {}
        }
    }
    let left: Vec<_> = left
        .iter()
        .map(|l| serde_json::json!({"line": l.line + 1, "text": l.text, "why": l.why}))
        .collect();
    serde_json::json!({
        "file": shown,
        "rewrites": rewrites,
        "left_alone": left,
        "refused": refused,
        "written": written,
    })
}
