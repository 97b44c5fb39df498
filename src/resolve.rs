//! The IO shell around the sans-IO chain: fetch the four top-level files at once, verify them,
//! fetch every delegation the snapshot lists at once, verify those, select the digest.

use std::collections::BTreeMap;
use std::thread;

use time::OffsetDateTime;

use crate::chain::{self, ChainError, Context, Repo, TopFiles};
use crate::keys::PinnedKey;
use crate::level::{Level, Warning};
use crate::reference::ImageRef;
use crate::select::{self, SelectError, Selection};
use crate::source::{Source, SourceError};

const MIB: u64 = 1024 * 1024;

/// Size bounds for files fetched before a verified parent declares their length. Delegations are
/// always bounded by the exact length snapshot.json declares.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub root: u64,
    pub timestamp: u64,
    pub snapshot: u64,
    pub targets: u64,
    /// At most this many delegation files fetched at once.
    pub parallel_fetches: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            root: 2 * MIB,
            timestamp: MIB,
            snapshot: 16 * MIB,
            targets: 64 * MIB,
            parallel_fetches: 16,
        }
    }
}

/// What to verify against.
#[derive(Debug, Clone)]
pub struct Options {
    pub pinned: Vec<PinnedKey>,
    pub level: Level,
    pub at: OffsetDateTime,
    /// Delegations that must all have signed (as the user wrote them; normalised in selection).
    pub required: Vec<String>,
    pub limits: Limits,
}

/// Why a reference could not be resolved. Each variant maps to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no trust data for {gun}: {location} not found")]
    NoTrustData { gun: String, location: String },
    #[error(transparent)]
    Unavailable(#[from] SourceError),
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Select(#[from] SelectError),
}

impl ResolveError {
    /// 1: verification refused; 3: could not check.
    pub fn exit_code(&self) -> i32 {
        match self {
            ResolveError::Unavailable(_) => 3,
            _ => 1,
        }
    }
}

/// A resolved reference with everything the user must be told.
#[derive(Debug, Clone)]
pub struct Resolution {
    pub selection: Selection,
    pub warnings: Vec<Warning>,
}

/// Fetch the four top-level files concurrently.
fn fetch_top(
    source: &dyn Source,
    gun: &str,
    limits: &Limits,
) -> Result<[Vec<u8>; 4], ResolveError> {
    let roles = [
        ("root", limits.root),
        ("timestamp", limits.timestamp),
        ("snapshot", limits.snapshot),
        ("targets", limits.targets),
    ];
    let results: Vec<Result<Vec<u8>, SourceError>> = thread::scope(|s| {
        let handles: Vec<_> = roles
            .iter()
            .map(|(role, max)| s.spawn(move || source.fetch(gun, role, *max)))
            .collect();
        handles
            .into_iter()
            .zip(roles.iter())
            .map(|(h, (role, _))| {
                h.join().unwrap_or_else(|_| {
                    Err(SourceError::Io {
                        location: source.location(gun, role),
                        source: std::io::Error::other("fetch thread panicked"),
                    })
                })
            })
            .collect()
    });
    let mut out = Vec::with_capacity(4);
    for (res, (role, _)) in results.into_iter().zip(roles.iter()) {
        match res {
            Ok(b) => out.push(b),
            Err(e) if e.is_not_found() && matches!(*role, "root" | "timestamp") => {
                return Err(ResolveError::NoTrustData {
                    gun: gun.to_owned(),
                    location: source.location(gun, role),
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
    let [root, timestamp, snapshot, targets]: [Vec<u8>; 4] =
        out.try_into().map_err(|_| ResolveError::NoTrustData {
            gun: gun.to_owned(),
            location: gun.to_owned(),
        })?;
    Ok([root, timestamp, snapshot, targets])
}

/// Fetch the listed delegations, `parallel` at a time. A missing file (404) is recorded as a
/// reason the delegation cannot be used; any other failure means we could not check.
fn fetch_delegations(
    source: &dyn Source,
    gun: &str,
    wanted: &[(String, u64)],
    parallel: usize,
) -> Result<BTreeMap<String, Result<Vec<u8>, String>>, ResolveError> {
    let mut out = BTreeMap::new();
    for chunk in wanted.chunks(parallel.max(1)) {
        let results: Vec<(String, Result<Vec<u8>, SourceError>)> = thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|(role, len)| (role.clone(), s.spawn(move || source.fetch(gun, role, *len))))
                .collect();
            handles
                .into_iter()
                .map(|(role, h)| {
                    let r = h.join().unwrap_or_else(|_| {
                        Err(SourceError::Io {
                            location: source.location(gun, &role),
                            source: std::io::Error::other("fetch thread panicked"),
                        })
                    });
                    (role, r)
                })
                .collect()
        });
        for (role, r) in results {
            match r {
                Ok(b) => {
                    out.insert(role, Ok(b));
                }
                Err(e) if e.is_not_found() => {
                    out.insert(
                        role,
                        Err(format!("listed in snapshot.json but missing ({e})")),
                    );
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(out)
}

/// Fetch and verify everything about one repository.
pub fn fetch_repo(source: &dyn Source, gun: &str, opts: &Options) -> Result<Repo, ResolveError> {
    let ctx = Context {
        gun,
        pinned: &opts.pinned,
        at: opts.at,
        level: opts.level,
    };
    let [root, timestamp, snapshot, targets] = fetch_top(source, gun, &opts.limits)?;
    let files = TopFiles {
        root: &root,
        timestamp: &timestamp,
        snapshot: &snapshot,
        targets: &targets,
    };
    let trusted = chain::verify_top(&ctx, files)?;
    let wanted = trusted.delegations_to_fetch();
    let fetched = fetch_delegations(source, gun, &wanted, opts.limits.parallel_fetches)?;
    Ok(chain::verify_delegations(&ctx, trusted, &fetched))
}

/// Select the digest for one reference from a verified repository.
pub fn select_ref(
    repo: &Repo,
    image: &ImageRef,
    opts: &Options,
) -> Result<Resolution, ResolveError> {
    let selection = select::select(
        repo,
        image.tag.as_deref(),
        image.digest.as_ref(),
        &opts.required,
    )?;
    let mut warnings = repo.warnings.clone();
    // A delegation failure only matters to this answer if it could have changed it; still, every
    // warning is shown every time.
    warnings.dedup();
    Ok(Resolution {
        selection,
        warnings,
    })
}

/// Resolve one reference: fetch, verify, select.
pub fn resolve(
    source: &dyn Source,
    image: &ImageRef,
    opts: &Options,
) -> Result<Resolution, ResolveError> {
    let repo = fetch_repo(source, &image.gun, opts)?;
    select_ref(&repo, image, opts)
}
