//! The IO shell around the sans-IO chain: fetch the four top-level files at once, verify them,
//! fetch every delegation the snapshot lists at once, verify those, select the digest.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::fetch::cache::Cache;
use crate::fetch::{trace, Source, SourceError};

pub mod batch;
mod metered;
pub mod notation;
pub(crate) mod notation_warm;

use crate::fetch::Wave;
use crate::reference::{Gun, ImageRef};
use crate::tuf::budget::{Budget, BudgetError, Meter, Resource};
use crate::tuf::chain::{self, ChainError, Context, DelegationError, FileError, Repo, TopFiles};
use crate::tuf::keys::PinnedKey;
use crate::tuf::level::{Level, Warning};
use crate::tuf::role::RoleName;
use crate::tuf::rotation;
use crate::tuf::select::{self, Query, SelectError, Selection};
use metered::{Metered, Tripped};

const MIB: u64 = 1024 * 1024;

/// The four top-level files (root, timestamp, snapshot, targets) and a speculative releases.
type TopBytes = ([Vec<u8>; 4], Option<Vec<u8>>);
/// Delegation files by role: the bytes, or why there are none.
type Fetches = chain::Fetched;
/// Versioned roots (version, bytes), oldest first.
type RootHistory = Vec<(i64, Vec<u8>)>;

/// Everything one repository may cost: size bounds for files fetched before a verified parent
/// declares their length (delegations are always bounded by the exact length snapshot.json
/// declares), the budget of the whole repository, and its wall-clock deadline.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub root: u64,
    pub timestamp: u64,
    pub snapshot: u64,
    pub targets: u64,
    /// A delegation declared longer than this by the snapshot is not fetched (it contributes
    /// nothing, with a warning): with many fetched at once, each must stay small.
    pub delegation: u64,
    /// At most this many delegation files fetched at once.
    pub parallel_fetches: usize,
    /// What one repository may cost as a whole (signature checks, roles, rotation steps, bytes).
    pub budget: Budget,
    /// The whole repository, every request included (in flight too), must be done within this.
    pub deadline: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            root: 2 * MIB,
            timestamp: MIB,
            snapshot: 16 * MIB,
            targets: 64 * MIB,
            delegation: 16 * MIB,
            parallel_fetches: 64,
            budget: Budget::default(),
            deadline: DEFAULT_DEADLINE,
        }
    }
}

/// How long one repository may take, all requests included, unless told otherwise.
pub const DEFAULT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// What to verify against.
#[derive(Debug, Clone)]
pub struct Options {
    pub pinned: Vec<PinnedKey>,
    pub level: Level,
    pub at: OffsetDateTime,
    /// Delegations that must all have signed (as the user wrote them; normalised in selection).
    pub required: Vec<String>,
    pub limits: Limits,
    /// Follow a root rotation from the pinned key (with a warning), or refuse it.
    pub follow_rotation: bool,
    /// The batch's meter, charged by every repository of it, when there is a batch.
    pub batch: Option<std::sync::Arc<Meter>>,
}

impl Options {
    /// Strict verification now against `pinned`, following rotations, default limits.
    pub fn new(pinned: Vec<PinnedKey>, at: OffsetDateTime) -> Options {
        Options {
            pinned,
            level: Level::Strict,
            at,
            required: Vec::new(),
            limits: Limits::default(),
            follow_rotation: true,
            batch: None,
        }
    }
}

/// Why a reference could not be resolved. What each means (and its exit code) is in
/// [`crate::failure`].
#[derive(Debug, Clone, thiserror::Error)]
pub enum ResolveError {
    #[error("no trust data for {gun}: {location} not found")]
    NoTrustData { gun: String, location: String },
    #[error(transparent)]
    Unavailable(#[from] std::sync::Arc<SourceError>),
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),
    #[error("no trust policy scope matches {gun}")]
    NoPolicy { gun: crate::reference::Gun },
    #[error(transparent)]
    Setup(#[from] std::sync::Arc<SetupError>),
    #[error(transparent)]
    Budget(#[from] BudgetError),
    #[error("the repository was not verified within its deadline of {} s; refusing to go on", .after.as_secs_f64())]
    Deadline { after: std::time::Duration },
    /// A version below one verified before, with the cache file that records the higher one.
    #[error(
        "{error}; the higher version is recorded in {}: if this older data is what you mean to \
         trust, delete {} to reset this repository's rollback state",
        .state.display(),
        .state.parent().unwrap_or(.state).display()
    )]
    Rollback {
        error: Box<ChainError>,
        state: std::path::PathBuf,
    },
    /// A Notation-signed reference that could not be verified.
    #[error(transparent)]
    Notation(std::sync::Arc<crate::notation::oci::RunError>),
    /// A statement with both generations: one that had to verify did not.
    #[error("{}: {error}", .generation.title())]
    Generation {
        generation: crate::policy::Generation,
        error: Box<ResolveError>,
    },
    /// A statement with both generations: neither verified.
    #[error("neither generation verified: Notary v1: {notary_v1}; Notation: {notation}")]
    NoneVerified {
        notary_v1: Box<ResolveError>,
        notation: Box<ResolveError>,
    },
    /// A statement with both generations: they verified different digests.
    #[error("the Notary v1 signature is for {notary_v1} but the Notation-signed manifest is {notation}: refusing both")]
    GenerationsDisagree {
        notary_v1: crate::reference::Digest,
        notation: crate::reference::Digest,
    },
}

impl From<Tripped> for ResolveError {
    fn from(t: Tripped) -> ResolveError {
        match t {
            Tripped::Budget(e) => ResolveError::Budget(e),
            Tripped::Deadline(after) => ResolveError::Deadline { after },
        }
    }
}

impl From<SourceError> for ResolveError {
    fn from(e: SourceError) -> ResolveError {
        ResolveError::Unavailable(std::sync::Arc::new(e))
    }
}

impl From<SetupError> for ResolveError {
    fn from(e: SetupError) -> ResolveError {
        ResolveError::Setup(std::sync::Arc::new(e))
    }
}

/// Why a source could not be set up (nothing was fetched).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{}: not a directory", path.display())]
    NotADirectory { path: std::path::PathBuf },
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Credentials(#[from] crate::fetch::credentials::CredentialError),
    #[error(transparent)]
    Registry(#[from] crate::fetch::oci::OciError),
}

/// A resolved reference with everything the user must be told.
#[derive(Debug, Clone)]
pub struct Resolution {
    pub selection: Selection,
    pub warnings: Vec<Warning>,
}

/// The four top-level files at once, plus `targets/releases` speculatively (docker's favourite
/// delegation; its bytes are used only if the verified snapshot names exactly them), so the
/// common repository costs one wave of requests.
fn fetch_top(source: &dyn Source, gun: &Gun, limits: &Limits) -> Result<TopBytes, ResolveError> {
    let roles = [
        (RoleName::ROOT, limits.root),
        (RoleName::TIMESTAMP, limits.timestamp),
        (RoleName::SNAPSHOT, limits.snapshot),
        (RoleName::TARGETS, limits.targets),
        (RoleName::RELEASES, limits.delegation),
    ];
    let mut results = source.fetch_many(gun, &roles, Wave::of(roles.len()));
    let releases = results.pop().and_then(Result::ok);
    let mut out = Vec::with_capacity(4);
    for (res, (role, _)) in results.into_iter().zip(roles.iter()) {
        out.push(res.map_err(|e| not_found_is_no_data(source, gun, role, e))?);
    }
    let [root, timestamp, snapshot, targets]: [Vec<u8>; 4] =
        out.try_into().map_err(|_| ResolveError::NoTrustData {
            gun: gun.to_string(),
            location: gun.to_string(),
        })?;
    Ok(([root, timestamp, snapshot, targets], releases))
}

/// Fetch the listed delegations, `parallel` at a time. A missing file (404) is recorded as a
/// reason the delegation cannot be used; any other failure means we could not check.
fn fetch_delegations(
    source: &dyn Source,
    gun: &Gun,
    wanted: &[(RoleName, u64)],
    parallel: usize,
) -> Result<Fetches, ResolveError> {
    // With the default (64) every delegation of a typical repository is in flight at once, so
    // they all cost one round trip.
    let results = source.fetch_many(gun, wanted, Wave::of(parallel));
    let mut out = BTreeMap::new();
    for ((role, _), r) in wanted.iter().zip(results) {
        match r {
            Ok(b) => {
                out.insert(role.to_string(), Ok(b));
            }
            Err(SourceError::NotFound { location }) => {
                out.insert(role.to_string(), Err(DelegationError::Missing { location }));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// Most versioned roots walked back from the current one to find the pinned key.
pub const MAX_ROOT_ROTATIONS: i64 = 1000;

/// A verified repository and the exact bytes it was verified from (for the cache and archives).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub repo: Repo,
    /// Role file name (`root`, `targets/releases`, `2.root`) → bytes.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Requests made to the source (the warm path makes one).
    pub requests: usize,
}

/// Fetch and verify everything about one repository.
pub fn fetch_repo(source: &dyn Source, gun: &Gun, opts: &Options) -> Result<Repo, ResolveError> {
    fetch_repo_cached(source, gun, opts, None).map(|f| f.repo)
}

fn not_found_is_no_data(
    source: &dyn Source,
    gun: &Gun,
    role: &RoleName,
    e: SourceError,
) -> ResolveError {
    if e.is_not_found() && (*role == RoleName::ROOT || *role == RoleName::TIMESTAMP) {
        ResolveError::NoTrustData {
            gun: gun.to_string(),
            location: source.location(gun, role),
        }
    } else {
        e.into()
    }
}

/// Whether bytes already at hand (cached, or fetched speculatively) are the version `meta`
/// declares: same length and same sha256 (sha512 when that is all it gives). This only picks
/// which bytes to verify; the chain then checks every hash `meta` lists.
fn is_current(bytes: &[u8], meta: &crate::tuf::metadata::FileMeta) -> bool {
    use ring::digest::{digest, SHA256, SHA512};
    bytes.len() as u64 == meta.length
        && match (&meta.sha256, &meta.sha512) {
            (Some(h), _) => digest(&SHA256, bytes).as_ref() == h.as_slice(),
            (None, Some(h)) => digest(&SHA512, bytes).as_ref() == h.as_slice(),
            (None, None) => false,
        }
}

/// The cached copy of `role` if it is exactly what `meta` declares, else a fresh fetch bounded by
/// the declared length (and the role's own limit).
fn cached_or_fetch(
    source: &dyn Source,
    gun: &Gun,
    role: &RoleName,
    meta: Option<&crate::tuf::metadata::FileMeta>,
    cached: &BTreeMap<String, Vec<u8>>,
    limit: u64,
) -> Result<Vec<u8>, ResolveError> {
    if let (Some(meta), Some(bytes)) = (meta, cached.get(role.as_str())) {
        if is_current(bytes, meta) {
            trace::cache_hit(gun.as_str(), role.as_str(), bytes.len());
            return Ok(bytes.clone());
        }
    }
    let max = meta.map_or(limit, |m| m.length.min(limit));
    source
        .fetch(gun, role, max)
        .map_err(|e| not_found_is_no_data(source, gun, role, e))
}

/// The top-level files: all four at once when nothing is cached; otherwise timestamp first and
/// only what changed since (the warm path: one request for an unchanged repository).
fn top_files(
    source: &dyn Source,
    gun: &Gun,
    limits: &Limits,
    cached: &BTreeMap<String, Vec<u8>>,
) -> Result<TopBytes, ResolveError> {
    if !cached.contains_key("timestamp") {
        return fetch_top(source, gun, limits);
    }
    let timestamp = source
        .fetch(gun, &RoleName::TIMESTAMP, limits.timestamp)
        .map_err(|e| not_found_is_no_data(source, gun, &RoleName::TIMESTAMP, e))?;
    // Unverified reads, used only to pick cached bytes; everything is verified afterwards.
    let snap_meta = crate::tuf::metadata::Envelope::parse(&timestamp)
        .ok()
        .and_then(|env| crate::tuf::metadata::Timestamp::from_envelope(&env).ok())
        .map(|t| t.snapshot);
    let snapshot = cached_or_fetch(
        source,
        gun,
        &RoleName::SNAPSHOT,
        snap_meta.as_ref(),
        cached,
        limits.snapshot,
    )?;
    let meta = crate::tuf::metadata::Envelope::parse(&snapshot)
        .ok()
        .and_then(|env| crate::tuf::metadata::Snapshot::from_envelope(&env).ok())
        .map(|s| s.meta)
        .unwrap_or_default();
    let root = cached_or_fetch(
        source,
        gun,
        &RoleName::ROOT,
        meta.get("root"),
        cached,
        limits.root,
    )?;
    let targets = cached_or_fetch(
        source,
        gun,
        &RoleName::TARGETS,
        meta.get("targets"),
        cached,
        limits.targets,
    )?;
    Ok(([root, timestamp, snapshot, targets], None))
}

/// Why a walk back through the root versions found no pinned anchor.
enum WalkEnd {
    /// Down to version 1: the pinned key never signed this repository's root.
    Exhausted,
    /// This version is missing: the chain has a gap.
    Gap(i64),
    /// The bound was reached at this version without finding the pinned key.
    Bound(i64),
}

/// Walk back from the current root to the newest version a pinned key signs; returns the roots
/// from that anchor up to the one before the current, oldest first. A cached versioned root is
/// used only if it is whole (parses, claims its version, meets its own threshold); otherwise it is
/// fetched again.
fn root_history(
    source: &Metered,
    gun: &Gun,
    ctx: &Context,
    current: &[u8],
    cached: &BTreeMap<String, Vec<u8>>,
    limits: &Limits,
) -> Result<Result<RootHistory, WalkEnd>, ResolveError> {
    let Some(n) = rotation::claimed_version(current) else {
        return Ok(Err(WalkEnd::Exhausted));
    };
    let mut walked = Vec::new();
    let lowest = (n - MAX_ROOT_ROTATIONS).max(1);
    // The root trusted last time, by the version it claims (read once, not once per step).
    let last_trusted = cached
        .get("root")
        .and_then(|b| rotation::claimed_version(b).map(|c| (c, b)));
    let mut v = n - 1;
    while v >= lowest {
        // Each version walked back costs a rotation step of the budget, cached or not.
        source.meter().charge(Resource::RotationSteps, 1)?;
        let role = RoleName::versioned_root(v);
        // The walk starts from the cache: a versioned root kept before, or the root trusted last
        // time (which is version `v` when the repository rotated since).
        let kept = cached
            .get(role.as_str())
            .or_else(|| last_trusted.filter(|(c, _)| *c == v).map(|(_, b)| b));
        let bytes = match kept.filter(|b| rotation::root_is_whole(ctx, b, v)) {
            Some(b) => b.clone(),
            None => match source.fetch(gun, &role, limits.root) {
                Ok(b) => b,
                Err(e) if e.is_not_found() => return Ok(Err(WalkEnd::Gap(v))),
                Err(e) => return Err(e.into()),
            },
        };
        let anchor = rotation::is_pinned_anchor(ctx, &bytes)?;
        walked.push((v, bytes));
        if anchor {
            walked.reverse();
            return Ok(Ok(walked));
        }
        v -= 1;
    }
    Ok(Err(if lowest > 1 {
        WalkEnd::Bound(lowest)
    } else {
        WalkEnd::Exhausted
    }))
}

/// Fetch and verify a repository, using and refreshing `cache` when given: cached files are
/// reused only when they are exactly what a parent declares, versions may never go down
/// (rollback), and a rotated root is followed from the pinned key when `opts.follow_rotation`.
pub fn fetch_repo_cached(
    source: &dyn Source,
    gun: &Gun,
    opts: &Options,
    cache: Option<&Cache>,
) -> Result<Fetched, ResolveError> {
    let meter = Meter::new(opts.limits.budget, opts.batch.clone());
    let source = Metered::new(source, &meter, opts.limits.deadline);
    // A refusal of the metered source shows through as a transport error: report the trip.
    fetch_metered(&source, gun, opts, cache).map_err(|e| match (source.tripped(), e) {
        (Some(t), _) => t.into(),
        (None, ResolveError::Chain(ChainError::File(FileError::Budget(b)))) => {
            ResolveError::Budget(b)
        }
        (None, e) => e,
    })
}

fn fetch_metered(
    source: &Metered,
    gun: &Gun,
    opts: &Options,
    cache: Option<&Cache>,
) -> Result<Fetched, ResolveError> {
    let ctx = Context {
        meter: Some(source.meter()),
        gun,
        pinned: &opts.pinned,
        at: opts.at,
        level: opts.level,
    };
    // Each server's (or folder's) copy of a repository has its own cache entry.
    let cache_key = source.location(gun, &RoleName::ROOT);
    let cached = cache.map(|c| c.load(&cache_key)).unwrap_or_default();
    let ([root, timestamp, snapshot, targets], speculative) =
        top_files(&source, gun, &opts.limits, &cached.files)?;
    let files = TopFiles {
        root: &root,
        timestamp: &timestamp,
        snapshot: &snapshot,
        targets: &targets,
    };
    let mut history: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut verifying = std::time::Duration::ZERO;
    let trusted = match trace::timed(&mut verifying, || chain::verify_top(&ctx, files)) {
        Err(ChainError::NotPinned { pinned, signed_by }) => {
            let refused = || ChainError::NotPinned {
                pinned: pinned.clone(),
                signed_by: signed_by.clone(),
            };
            let broken = match root_history(source, gun, &ctx, &root, &cached.files, &opts.limits)? {
                Ok(walk) if opts.follow_rotation => Ok(walk),
                Ok(_) => Err(ChainError::RotationRefused {
                    pinned: pinned.clone(),
                    new: signed_by.clone(),
                    version: rotation::claimed_version(&root).unwrap_or(0),
                }),
                Err(WalkEnd::Exhausted) => Err(refused()),
                Err(WalkEnd::Gap(v)) => Err(ChainError::RotationBroken {
                    refused: refused().to_string(),
                    reason: format!("{v}.root.json is missing: the chain of root versions has a gap at version {v}"),
                }),
                Err(WalkEnd::Bound(v)) => Err(ChainError::RotationBroken {
                    refused: refused().to_string(),
                    reason: format!(
                        "the pinned key signs none of the root versions from {v} up (at most {MAX_ROOT_ROTATIONS} rotations are followed)"
                    ),
                }),
            };
            let walk = broken?;
            let bytes: Vec<Vec<u8>> = walk.iter().map(|(_, b)| b.clone()).collect();
            history = walk;
            trace::timed(&mut verifying, || {
                chain::verify_top_rotated(&ctx, files, &bytes)
            })?
        }
        other => other?,
    };
    // Delegations, a level at a time: only files a verified parent declares are fetched, nested
    // ones after their parent (a repository with top-level delegations only: one more wave).
    let mut walk = chain::DelegationWalk::new(trusted);
    let mut fetched: Fetches = BTreeMap::new();
    while !walk.is_done() {
        let mut level: Fetches = BTreeMap::new();
        let mut fresh = Vec::new();
        for (role, len) in walk.wanted() {
            if len > opts.limits.delegation {
                let why = DelegationError::Oversized {
                    length: len,
                    limit: opts.limits.delegation,
                };
                level.insert(role.to_string(), Err(why));
                continue;
            }
            let prefetched = if role == RoleName::RELEASES {
                speculative.as_ref()
            } else {
                None
            };
            let candidate = prefetched
                .or(cached.files.get(role.as_str()))
                .map(Vec::as_slice);
            match (candidate, walk.trusted().snapshot.meta.get(role.as_str())) {
                (Some(b), Some(m)) if is_current(b, m) => {
                    if prefetched.is_none() {
                        trace::cache_hit(gun.as_str(), role.as_str(), b.len());
                    }
                    level.insert(role.to_string(), Ok(b.to_vec()));
                }
                _ => fresh.push((role, len)),
            }
        }
        level.extend(fetch_delegations(
            source,
            gun,
            &fresh,
            opts.limits.parallel_fetches,
        )?);
        trace::timed(&mut verifying, || walk.step(&ctx, &level));
        fetched.extend(level);
    }
    let mut repo = walk.finish(&ctx);
    trace::emit(&trace::Event::Verified {
        gun: gun.as_str(),
        elapsed: verifying,
    });
    // A budget spent on a delegation refuses the whole repository, not just that delegation.
    if let Some(b) = repo.delegations.iter().find_map(|d| match &d.outcome {
        Err(DelegationError::File(FileError::Budget(b))) => Some(b.clone()),
        _ => None,
    }) {
        return Err(ResolveError::Budget(b));
    }

    // Rollback: no role's version may go below what was verified before.
    let versions = repo.versions();
    chain::check_rollback(&versions, &cached.versions).map_err(|error| match cache {
        Some(c) => ResolveError::Rollback {
            error: Box::new(error),
            state: c.state_file(&cache_key),
        },
        None => error.into(),
    })?;
    for p in &cached.problems {
        repo.warnings.push(Warning::new(None, p.clone()));
    }

    let mut all = BTreeMap::from([
        ("root".to_owned(), root),
        ("timestamp".to_owned(), timestamp),
        ("snapshot".to_owned(), snapshot),
        ("targets".to_owned(), targets),
    ]);
    for (v, b) in history {
        all.insert(format!("{v}.root"), b);
    }
    for (role, r) in fetched {
        if let Ok(b) = r {
            all.insert(role, b);
        }
    }
    if let Some(cache) = cache {
        let mut merged = cached.versions.clone();
        for (role, v) in versions {
            let e = merged.entry(role).or_insert(v);
            *e = (*e).max(v);
        }
        // Only what changed is written (each write is an fsync): an unchanged repository costs
        // no disk writes at all.
        let changed: BTreeMap<String, Vec<u8>> = all
            .iter()
            .filter(|(role, bytes)| cached.files.get(*role) != Some(*bytes))
            .map(|(r, b)| (r.clone(), b.clone()))
            .collect();
        let stored =
            if changed.is_empty() && merged == cached.versions && cached.problems.is_empty() {
                Ok(())
            } else {
                cache.store(&cache_key, &changed, &merged)
            };
        if let Err(e) = stored {
            repo.warnings.push(Warning::new(
                None,
                format!("could not update the trust cache: {e}"),
            ));
        }
    }
    let requests = source.requests();
    Ok(Fetched {
        repo,
        files: all,
        requests,
    })
}

/// Select the digest for one reference from a verified repository.
pub fn select_ref(
    repo: &Repo,
    image: &ImageRef,
    opts: &Options,
) -> Result<Resolution, ResolveError> {
    // A reference with neither tag nor digest means `latest`, as docker reads it.
    let query =
        Query::of(image.tag.as_deref(), image.digest.as_ref()).unwrap_or(Query::Tag("latest"));
    let selection = select::select(repo, query, &opts.required)?;
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
