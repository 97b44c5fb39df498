//! `trustpin lookup GUN NAME`: one target by its exact name, in notary's argument order and
//! output, verified as resolve verifies (the same chain, cache, level and delegation rules).

use std::io::Write;

use anyhow::Result;

use crate::cli::args::{LookupArgs, OutputArg};
use crate::cli::sources;
use crate::cli::{self, Worst};
use crate::failure::Classify;
use crate::reference;
use crate::resolve::{fetch_repo_cached, ResolveError};
use crate::tuf::select::{self, Query};

pub(crate) fn run(args: LookupArgs) -> Result<Worst> {
    let opts = args.repo.options()?;
    let fail = |e: ResolveError, json: bool| -> Result<Worst> {
        if json {
            let v = serde_json::json!({"gun": args.gun, "name": args.name, "digest": null,
                "verification": e.failure().label(), "error": cli::error_json(&e),
                "exit_code": e.failure().exit_code()});
            println!("{}", serde_json::to_string(&v)?);
        }
        say!("trustpin: {} {}: {}", args.gun, args.name, cli::message(&e));
        Ok(Some(e.failure()))
    };
    let json = args.output != OutputArg::Text;
    // The repository as a reference without tag, for its name and default server.
    let image = match reference::parse(&args.gun) {
        Ok(i) if i.gun.as_str() == args.gun || !args.gun.contains(['@', ':']) => i,
        Ok(_) => anyhow::bail!(
            "GUN {:?}: give the repository alone, without a tag or digest",
            args.gun
        ),
        Err(e) => return fail(e.into(), json),
    };
    let location = sources::location_for(&args.repo.source, &image);
    let source = match sources::make_source(&args.repo.source, &location) {
        Ok(s) => s,
        Err(e) => return fail(e.into(), json),
    };
    let cache = args.repo.cache();
    let found = fetch_repo_cached(&*source, &image.gun, &opts, cache.as_ref()).and_then(|f| {
        let selection = select::select(&f.repo, Query::Tag(&args.name), &opts.required)?;
        Ok((f.repo.warnings, selection))
    });
    let (warnings, selection) = match found {
        Ok(x) => x,
        Err(e) => return fail(e, json),
    };
    for w in &warnings {
        say!("warning: {} {}: {w}", image.gun, args.name);
    }
    let mut out = std::io::stdout().lock();
    let hex = selection.digest.to_string();
    if json {
        let v = serde_json::json!({"gun": image.gun, "name": args.name, "digest": hex,
            "length": selection.length, "decided_by": selection.decided_by,
            "signers": selection.signed_by, "verification": "verified",
            "warnings": warnings.iter().map(|w| w.message.clone()).collect::<Vec<_>>(),
            "exit_code": 0});
        if args.output == OutputArg::Json {
            serde_json::to_writer_pretty(&mut out, &v)?;
        } else {
            serde_json::to_writer(&mut out, &v)?;
        }
        writeln!(out)?;
    } else {
        writeln!(out, "{} {hex} {}", args.name, selection.length)?;
    }
    Ok(None)
}
