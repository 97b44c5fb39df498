//! What users of a good CLI expect besides its work: shell completions and a manual page, both
//! generated from the one `Cli` definition the parser uses.

use std::io::Write;

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::args::Cli;
use crate::cli::Worst;

/// `trustpin completions SHELL`: the completion script on stdout.
pub(crate) fn completions(shell: clap_complete::Shell) -> Result<Worst> {
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut Cli::command(), "trustpin", &mut out);
    out.flush()?;
    Ok(None)
}

/// `trustpin man [SUBCOMMAND]`: the manual page (roff) of trustpin, or of one subcommand
/// (`trustpin-resolve`), on stdout.
pub(crate) fn man(subcommand: Option<&str>) -> Result<Worst> {
    let cmd = Cli::command();
    let page = match subcommand {
        None => cmd,
        Some(name) => {
            let Some(sub) = cmd.find_subcommand(name) else {
                let names: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
                anyhow::bail!("no subcommand {name:?}: one of {}", names.join(", "));
            };
            // A one-shot process: the page's name lives as long as it does.
            let title: &'static str = Box::leak(format!("trustpin-{name}").into_boxed_str());
            sub.clone()
                .name(title)
                .bin_name(title)
                .version(env!("CARGO_PKG_VERSION"))
        }
    };
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(page).render(&mut out)?;
    out.flush()?;
    Ok(None)
}
