//! The chain of trust, sans-IO: pinned root key → root → timestamp → snapshot → targets →
//! delegations, from fetched bytes and a verification time to verified roles plus warnings.
//! The numbered steps follow Notary's client update order.

use std::collections::{BTreeMap, BTreeSet};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::tuf::keys::{KeyType, PinnedKey, PublicKey};
use crate::tuf::level::{Class, Level, Warning};
use crate::tuf::metadata::{
    Common, Delegation, Envelope, MetadataError, RoleKeys, Root, SignedBytes, Snapshot, TargetMap,
    Targets, Timestamp,
};
use crate::tuf::verify::{check_file, check_threshold, short, Verified, VerifyError};

/// Delegations nest at most this deep below `targets` (names are under 256 characters anyway).
pub const MAX_DELEGATION_DEPTH: usize = 64;
/// At most this many delegations are considered in one repository.
pub const MAX_DELEGATIONS_TOTAL: usize = 4096;

/// What verification is done against.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub gun: &'a str,
    pub pinned: &'a [PinnedKey],
    pub at: OffsetDateTime,
    pub level: Level,
}

/// The four top-level files, as fetched.
#[derive(Debug, Clone, Copy)]
pub struct TopFiles<'a> {
    pub root: &'a [u8],
    pub timestamp: &'a [u8],
    pub snapshot: &'a [u8],
    pub targets: &'a [u8],
}

/// Why the chain was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChainError {
    #[error("{role}.json: {source}")]
    Metadata {
        role: String,
        source: std::sync::Arc<MetadataError>,
    },
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error("root.json does not define the `{role}` role")]
    MissingRole { role: &'static str },
    #[error("root.json: root-role key {keyid} is {keytype}, expected a certificate (ecdsa-x509 or rsa-x509)")]
    RootKeyNotCertificate {
        keyid: String,
        keytype: &'static str,
    },
    #[error("root.json is not signed by the pinned key ({pinned}); it is signed by {signed_by}")]
    NotPinned { pinned: String, signed_by: String },
    #[error("root certificate {keyid} is issued to {cn:?}, not to this repository {gun:?}")]
    CommonName {
        keyid: String,
        cn: String,
        gun: String,
    },
    #[error("root certificate {keyid} is valid from {not_before} to {not_after}, not at {at}")]
    CertificateTime {
        keyid: String,
        not_before: String,
        not_after: String,
        at: String,
    },
    #[error("{role}.json expired at {expires} (verifying at {at})")]
    Expired {
        role: String,
        expires: String,
        at: String,
    },
    #[error("snapshot.json does not list `{entry}`")]
    SnapshotMissing { entry: &'static str },
    #[error("root rotation: the root after version {} claims version {got}, expected {version}", version - 1)]
    RotationVersion { version: i64, got: i64 },
    #[error("{refused}; no rotation can be followed: {reason}")]
    RotationBroken { refused: String, reason: String },
    #[error(
        "root rotation to version {version} is not signed by the previous root's keys: {source}"
    )]
    RotationUnsigned { version: i64, source: VerifyError },
    #[error("root key rotated from {pinned} to {new} at version {version}, and following rotations is turned off (--no-follow-rotation); pin the new key")]
    RotationRefused {
        pinned: String,
        new: String,
        version: i64,
    },
    #[error("rollback: {role} version {got} is older than version {seen} seen before")]
    Rollback { role: String, got: i64, seen: i64 },
}

impl ChainError {
    fn metadata(role: &str, source: MetadataError) -> ChainError {
        ChainError::Metadata {
            role: role.to_owned(),
            source: std::sync::Arc::new(source),
        }
    }
}

/// The verified top-level roles.
#[derive(Debug, Clone)]
pub struct Trusted {
    pub root: Verified<Root>,
    pub timestamp: Verified<Timestamp>,
    pub snapshot: Verified<Snapshot>,
    pub targets: Verified<Targets>,
    pub warnings: Vec<Warning>,
}

/// A delegation and what became of it.
#[derive(Debug, Clone)]
pub struct DelegationResult {
    pub name: String,
    /// The role that declared it.
    pub parent: String,
    pub keys: Vec<(String, PublicKey)>,
    pub threshold: u32,
    pub paths: Vec<String>,
    /// The verified file and the targets it may sign (those within its paths), or why not.
    pub outcome: Result<VerifiedDelegation, String>,
}

#[derive(Debug, Clone)]
pub struct VerifiedDelegation {
    /// The verified file, its targets narrowed to those within the role's paths (others are
    /// dropped with a warning).
    pub metadata: Verified<Targets>,
}

impl VerifiedDelegation {
    /// Targets this delegation may sign and did.
    pub fn targets(&self) -> &TargetMap {
        &self.metadata.targets
    }
}

/// Everything verified about one repository.
#[derive(Debug, Clone)]
pub struct Repo {
    pub gun: String,
    pub trusted: Trusted,
    pub delegations: Vec<DelegationResult>,
    pub warnings: Vec<Warning>,
}

impl Repo {
    /// The targets each usable role signed: `targets` first, then verified delegations.
    pub fn signed_targets(&self) -> impl Iterator<Item = (&str, &TargetMap)> {
        std::iter::once(("targets", &self.trusted.targets.targets)).chain(
            self.delegations.iter().filter_map(|d| {
                d.outcome
                    .as_ref()
                    .ok()
                    .map(|v| (d.name.as_str(), v.targets()))
            }),
        )
    }

    /// The version of every verified role, for rollback checks.
    pub fn versions(&self) -> BTreeMap<String, i64> {
        let t = &self.trusted;
        let mut v = BTreeMap::from([
            ("root".to_owned(), t.root.common.version),
            ("timestamp".to_owned(), t.timestamp.common.version),
            ("snapshot".to_owned(), t.snapshot.common.version),
            ("targets".to_owned(), t.targets.common.version),
        ]);
        for d in &self.delegations {
            if let Ok(ok) = &d.outcome {
                v.insert(d.name.clone(), ok.metadata.common.version);
            }
        }
        v
    }

    pub fn delegation(&self, name: &str) -> Option<&DelegationResult> {
        self.delegations.iter().find(|d| d.name == name)
    }
}

fn fmt_time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

impl Context<'_> {
    /// A failure of a relaxable class: refuse, or record a warning when the level allows.
    fn relax(
        &self,
        class: Class,
        err: ChainError,
        role: &str,
        warnings: &mut Vec<Warning>,
    ) -> Result<(), ChainError> {
        if self.level.tolerates(class) {
            warnings.push(Warning::new(
                Some(role),
                format!("{err} (accepted at level {})", self.level),
            ));
            Ok(())
        } else {
            Err(err)
        }
    }

    fn expiry_error(&self, role: &str, common: &Common) -> Option<ChainError> {
        (common.expires <= self.at).then(|| ChainError::Expired {
            role: role.to_owned(),
            expires: fmt_time(common.expires),
            at: fmt_time(self.at),
        })
    }

    fn check_expiry(
        &self,
        role: &str,
        common: &Common,
        warnings: &mut Vec<Warning>,
    ) -> Result<(), ChainError> {
        match self.expiry_error(role, common) {
            Some(err) => self.relax(Class::Expiry, err, role, warnings),
            None => Ok(()),
        }
    }
}

/// The keys a role lists, found in a key map. Listed IDs with no key cannot sign and are skipped.
fn role_keys<'k>(
    role: &RoleKeys,
    keys: &'k BTreeMap<String, PublicKey>,
) -> Vec<(&'k str, &'k PublicKey)> {
    let mut seen = BTreeSet::new();
    role.keyids
        .iter()
        .filter(|id| seen.insert(id.as_str()))
        .filter_map(|id| keys.get_key_value(id).map(|(k, v)| (k.as_str(), v)))
        .collect()
}

fn parse_env<'a>(role: &str, bytes: &'a [u8]) -> Result<Envelope<'a>, ChainError> {
    Envelope::parse(bytes).map_err(|e| ChainError::metadata(role, e))
}

/// Whether a certificate name admits the repository (Notary also allows a `prefix*` wildcard).
fn cn_matches(cn: &str, gun: &str) -> bool {
    cn == gun
        || cn
            .strip_suffix('*')
            .is_some_and(|prefix| gun.starts_with(prefix))
}

/// Verify root.json against the pinned keys.
pub fn verify_root(
    ctx: &Context,
    bytes: &[u8],
    warnings: &mut Vec<Warning>,
) -> Result<Verified<Root>, ChainError> {
    let root = verify_root_unpinned(ctx, bytes, warnings)?;
    if !pinned_signed(ctx, &root) {
        ctx.relax(
            Class::Authenticity,
            not_pinned(ctx, &root),
            "root",
            warnings,
        )?;
    }
    Ok(root)
}

/// Whether one of a root's valid signers is a key the user pinned (compared by public key).
fn pinned_signed(ctx: &Context, root: &Verified<Root>) -> bool {
    root.signers()
        .iter()
        .filter_map(|id| root.keys.get(id))
        .any(|key| ctx.pinned.iter().any(|p| p.matches(key)))
}

fn pinned_ids(ctx: &Context) -> String {
    ctx.pinned
        .iter()
        .map(|p| format!("{} from {}", short(&p.canonical_id()), p.origin()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn signer_ids(root: &Verified<Root>) -> String {
    root.signers()
        .iter()
        .filter_map(|id| root.keys.get(id))
        .map(|k| format!("key {}", short(k.canonical_id())))
        .collect::<Vec<_>>()
        .join(", ")
}

fn not_pinned(ctx: &Context, root: &Verified<Root>) -> ChainError {
    ChainError::NotPinned {
        pinned: pinned_ids(ctx),
        signed_by: signer_ids(root),
    }
}

/// The version a root.json claims, read without verifying anything (to know which versioned
/// roots to fetch for a rotation walk).
pub fn claimed_version(bytes: &[u8]) -> Option<i64> {
    let env = Envelope::parse(bytes).ok()?;
    match env.signed.get("version") {
        Some(crate::tuf::json::Value::Int(v)) => Some(*v),
        _ => None,
    }
}

/// Whether a versioned root is whole: it parses, claims `version`, and meets its own threshold
/// (a damaged cached copy is then fetched again).
pub fn root_is_whole(ctx: &Context, bytes: &[u8], version: i64) -> bool {
    let permissive = Context {
        level: Level::Audit,
        ..ctx.clone()
    };
    let mut ignored = Vec::new();
    verify_root_unpinned(&permissive, bytes, &mut ignored)
        .is_ok_and(|r| r.common.version == version)
}

/// Whether this (possibly old, possibly expired) root is well formed, signed to its own threshold,
/// issued to this repository, and signed by a pinned key: the anchor of a rotation walk.
pub fn is_pinned_anchor(ctx: &Context, bytes: &[u8]) -> bool {
    let mut ignored = Vec::new();
    let strict_names = Context {
        level: Level::Permissive,
        ..ctx.clone()
    };
    match verify_root_unpinned(&strict_names, bytes, &mut ignored) {
        Ok(root) => pinned_signed(ctx, &root),
        Err(_) => false,
    }
}

/// Verify a rotated root: `history` holds the versioned roots from the newest one a pinned key
/// signs (the anchor) up to the one before `current`, oldest first. Every step must be exactly
/// one version up and signed by a threshold of the previous root's keys and of its own; earlier
/// roots may have expired. The current root is then verified in full, and a warning names the
/// rotation every time.
pub fn verify_rotated_root(
    ctx: &Context,
    history: &[Vec<u8>],
    current: &[u8],
    warnings: &mut Vec<Warning>,
) -> Result<Verified<Root>, ChainError> {
    let Some((anchor_bytes, rest)) = history.split_first() else {
        return verify_root(ctx, current, warnings);
    };
    // The anchor: everything but time, and the pinned key.
    let permissive = Context {
        level: Level::Permissive,
        ..ctx.clone()
    };
    let mut ignored = Vec::new();
    let anchor = verify_root_unpinned(&permissive, anchor_bytes, &mut ignored)?;
    if !pinned_signed(ctx, &anchor) {
        return Err(not_pinned(ctx, &anchor));
    }
    let mut prev = anchor;
    for bytes in rest {
        let next = verify_root_unpinned(&permissive, bytes, &mut ignored)?;
        rotation_step(&prev, &next, bytes)?;
        prev = next;
    }
    let root = verify_root_unpinned(ctx, current, warnings)?;
    rotation_step(&prev, &root, current)?;
    let new = root
        .roles
        .get("root")
        .map(|r| {
            r.keyids
                .iter()
                .filter_map(|id| root.keys.get(id))
                .map(|k| short(k.canonical_id()).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    if !pinned_signed(ctx, &root) {
        warnings.push(Warning::new(
            Some("root"),
            format!(
                "root key rotated from {} to {new} at version {}; pin the new key",
                pinned_ids(ctx),
                root.common.version
            ),
        ));
    }
    Ok(root)
}

/// One step of a rotation: exactly one version up, signed by the previous root's keys.
fn rotation_step(
    prev: &Verified<Root>,
    next: &Verified<Root>,
    next_bytes: &[u8],
) -> Result<(), ChainError> {
    let expected = prev.common.version + 1;
    if next.common.version != expected {
        return Err(ChainError::RotationVersion {
            version: expected,
            got: next.common.version,
        });
    }
    let env = parse_env("root", next_bytes)?;
    let role = &prev.roles["root"];
    check_threshold(
        &format!("root v{expected}"),
        &env.sig,
        &role_keys(role, &prev.keys),
        role.threshold,
    )
    .map_err(|source| ChainError::RotationUnsigned {
        version: expected,
        source,
    })?;
    Ok(())
}

/// Everything about root.json but the pinned key: structure, its own threshold, certificates
/// issued to this repository and valid at the time, expiry. This is all `get-root-key` can check
/// before a user has pinned anything.
pub fn verify_root_unpinned(
    ctx: &Context,
    bytes: &[u8],
    warnings: &mut Vec<Warning>,
) -> Result<Verified<Root>, ChainError> {
    // 1. Structure: a Root with all four roles; key IDs match key content (checked in parsing).
    let (root, sig) = Root::parse(bytes).map_err(|e| ChainError::metadata("root", e))?;
    for role in ["root", "timestamp", "snapshot", "targets"] {
        if !root.roles.contains_key(role) {
            return Err(ChainError::MissingRole { role });
        }
    }
    let root_role = &root.roles["root"];
    let keys = role_keys(root_role, &root.keys);
    for (id, key) in &keys {
        if !matches!(key.keytype(), KeyType::EcdsaX509 | KeyType::RsaX509) {
            return Err(ChainError::RootKeyNotCertificate {
                keyid: (*id).to_owned(),
                keytype: key.keytype().as_str(),
            });
        }
    }
    // 2. Self-consistency: a threshold of distinct root keys signed it.
    let proof = check_threshold("root", &sig, &keys, root_role.threshold)?;

    // 3. Certificates: issued to this repository, valid at the verification time.
    for (id, key) in &keys {
        if let Some(cert) = key.certificate() {
            if !cn_matches(&cert.common_name, ctx.gun) {
                let err = ChainError::CommonName {
                    keyid: short(id).to_string(),
                    cn: cert.common_name.clone(),
                    gun: ctx.gun.to_owned(),
                };
                ctx.relax(Class::Authenticity, err, "root", warnings)?;
            }
            if ctx.at < cert.not_before || ctx.at > cert.not_after {
                let err = ChainError::CertificateTime {
                    keyid: short(id).to_string(),
                    not_before: fmt_time(cert.not_before),
                    not_after: fmt_time(cert.not_after),
                    at: fmt_time(ctx.at),
                };
                ctx.relax(Class::Expiry, err, "root", warnings)?;
            }
        }
    }
    // 4. Freshness.
    ctx.check_expiry("root", &root.common, warnings)?;
    Ok(Verified::new(root, proof))
}

/// A role's parser: the role and the bytes its signatures cover, borrowed from the file.
type RoleParser<T> = for<'b> fn(&'b [u8]) -> Result<(T, SignedBytes<'b>), MetadataError>;

/// Verify a file signed by one of the top-level roles root.json defines.
fn verify_top_role<T>(
    ctx: &Context,
    root: &Root,
    role: &'static str,
    bytes: &[u8],
    parse: RoleParser<T>,
    common: impl Fn(&T) -> &Common,
    warnings: &mut Vec<Warning>,
) -> Result<Verified<T>, ChainError> {
    let (parsed, sig) = parse(bytes).map_err(|e| ChainError::metadata(role, e))?;
    let role_def = root
        .roles
        .get(role)
        .ok_or(ChainError::MissingRole { role })?;
    let proof = check_threshold(
        role,
        &sig,
        &role_keys(role_def, &root.keys),
        role_def.threshold,
    )?;
    ctx.check_expiry(role, common(&parsed), warnings)?;
    Ok(Verified::new(parsed, proof))
}

/// Verify the four top-level files.
pub fn verify_top(ctx: &Context, files: TopFiles) -> Result<Trusted, ChainError> {
    verify_top_rotated(ctx, files, &[])
}

/// Verify the four top-level files, the root through a rotation walk when `root_history` holds
/// the versioned roots from a pinned anchor up to the current one (see [`verify_rotated_root`]).
pub fn verify_top_rotated(
    ctx: &Context,
    files: TopFiles,
    root_history: &[Vec<u8>],
) -> Result<Trusted, ChainError> {
    let mut warnings = Vec::new();
    let root = verify_rotated_root(ctx, root_history, files.root, &mut warnings)?;

    // Timestamp: signed by the timestamp keys, fresh; it fixes the snapshot's bytes.
    let timestamp = verify_top_role(
        ctx,
        &root,
        "timestamp",
        files.timestamp,
        Timestamp::parse,
        |t| &t.common,
        &mut warnings,
    )?;

    // Snapshot: exactly the bytes the timestamp names; it fixes root's and targets' bytes.
    check_file("snapshot", "timestamp", files.snapshot, &timestamp.snapshot)?;
    let snapshot = verify_top_role(
        ctx,
        &root,
        "snapshot",
        files.snapshot,
        Snapshot::parse,
        |s| &s.common,
        &mut warnings,
    )?;
    let root_meta = snapshot
        .meta
        .get("root")
        .ok_or(ChainError::SnapshotMissing { entry: "root" })?;
    check_file("root", "snapshot", files.root, root_meta)?;
    let targets_meta = snapshot
        .meta
        .get("targets")
        .ok_or(ChainError::SnapshotMissing { entry: "targets" })?;
    check_file("targets", "snapshot", files.targets, targets_meta)?;

    // Targets: signed by the targets keys, fresh.
    let targets = verify_top_role(
        ctx,
        &root,
        "targets",
        files.targets,
        Targets::parse,
        |t| &t.common,
        &mut warnings,
    )?;
    Ok(Trusted {
        root,
        timestamp,
        snapshot,
        targets,
        warnings,
    })
}

impl Trusted {
    /// Delegation files the snapshot lists, with the exact length it declares: the fetch bound.
    pub fn delegations_to_fetch(&self) -> Vec<(String, u64)> {
        self.snapshot
            .meta
            .iter()
            .filter(|(name, _)| valid_delegation_name(name))
            .take(MAX_DELEGATIONS_TOTAL)
            .map(|(name, meta)| (name.clone(), meta.length))
            .collect()
    }
}

/// `targets/` then segments of `[a-z0-9_-]`, under 256 characters.
pub fn valid_delegation_name(name: &str) -> bool {
    name.len() < 256
        && name.strip_prefix("targets/").is_some_and(|rest| {
            rest.split('/').all(|seg| {
                !seg.is_empty()
                    && seg.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                    })
            })
        })
}

/// Whether `name` is within one of `paths` (string prefixes; `""` admits all).
fn within(name: &str, paths: &[String]) -> bool {
    paths.iter().any(|p| name.starts_with(p.as_str()))
}

/// A role whose delegations are still to be verified.
struct Parent {
    name: String,
    delegations: Vec<Delegation>,
    keys: BTreeMap<String, PublicKey>,
    /// Its paths; `None` for `targets`, which may sign anything.
    paths: Option<Vec<String>>,
    depth: usize,
}

/// Verify every delegation reachable from `targets`, given the fetched files (or why a fetch
/// failed). Failures are recorded per delegation and as warnings; they never refuse the chain.
pub fn verify_delegations(
    ctx: &Context,
    trusted: Trusted,
    fetched: &BTreeMap<String, Result<Vec<u8>, String>>,
) -> Repo {
    let mut warnings = trusted.warnings.clone();
    let mut results: Vec<DelegationResult> = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    // Breadth-first over parents whose metadata verified.
    let mut queue = std::collections::VecDeque::from([Parent {
        name: "targets".to_owned(),
        delegations: trusted.targets.delegations.clone(),
        keys: trusted.targets.delegation_keys.clone(),
        paths: None,
        depth: 1,
    }]);
    while let Some(Parent {
        name: parent,
        delegations,
        keys: parent_keys,
        paths: parent_paths,
        depth,
    }) = queue.pop_front()
    {
        for d in delegations {
            if results.len() >= MAX_DELEGATIONS_TOTAL {
                warnings.push(Warning::new(
                    None,
                    format!("more than {MAX_DELEGATIONS_TOTAL} delegations: the rest ignored"),
                ));
                break;
            }
            let keys: Vec<(String, PublicKey)> = d
                .keys
                .keyids
                .iter()
                .filter_map(|id| parent_keys.get(id).map(|k| (id.clone(), k.clone())))
                .collect();
            let first_time = seen.insert(d.name.clone());
            let outcome = if !first_time {
                Err(format!("{} declares {} again", parent, d.name))
            } else if depth > MAX_DELEGATION_DEPTH {
                Err(format!("nested deeper than {MAX_DELEGATION_DEPTH} levels"))
            } else {
                verify_one(
                    ctx,
                    &trusted.snapshot,
                    &parent,
                    parent_paths.as_deref(),
                    &d,
                    &keys,
                    fetched,
                    &mut warnings,
                )
            };
            if let Err(why) = &outcome {
                warnings.push(Warning::new(
                    Some(&d.name),
                    format!("delegation {} not used: {why}", d.name),
                ));
            }
            if let Ok(v) = &outcome {
                if !v.metadata.delegations.is_empty() {
                    queue.push_back(Parent {
                        name: d.name.clone(),
                        delegations: v.metadata.delegations.clone(),
                        keys: v.metadata.delegation_keys.clone(),
                        paths: Some(d.paths.clone()),
                        depth: depth + 1,
                    });
                }
            }
            if first_time {
                results.push(DelegationResult {
                    name: d.name.clone(),
                    parent: parent.clone(),
                    keys,
                    threshold: d.keys.threshold,
                    paths: d.paths.clone(),
                    outcome,
                });
            }
        }
    }
    Repo {
        gun: ctx.gun.to_owned(),
        trusted,
        delegations: results,
        warnings,
    }
}

#[allow(clippy::too_many_arguments)]
fn verify_one(
    ctx: &Context,
    snapshot: &Snapshot,
    parent: &str,
    parent_paths: Option<&[String]>,
    d: &Delegation,
    keys: &[(String, PublicKey)],
    fetched: &BTreeMap<String, Result<Vec<u8>, String>>,
    warnings: &mut Vec<Warning>,
) -> Result<VerifiedDelegation, String> {
    let name = d.name.as_str();
    if !valid_delegation_name(name) {
        return Err(format!("invalid role name {name:?}"));
    }
    match name.strip_prefix(parent).and_then(|r| r.strip_prefix('/')) {
        Some(child) if !child.contains('/') => {}
        _ => return Err(format!("{parent} may only delegate to its direct children")),
    }
    if let Some(pp) = parent_paths {
        if let Some(p) = d.paths.iter().find(|p| !within(p, pp)) {
            return Err(format!(
                "path {p:?} is outside its parent {parent}'s paths {pp:?}"
            ));
        }
    }
    let meta = snapshot
        .meta
        .get(name)
        .ok_or_else(|| "not listed in snapshot.json".to_owned())?;
    let bytes = match fetched.get(name) {
        Some(Ok(b)) => b,
        Some(Err(why)) => return Err(why.clone()),
        None => return Err("not fetched".to_owned()),
    };
    check_file(name, "snapshot", bytes, meta).map_err(|e| e.to_string())?;
    let (parsed, sig) = Targets::parse(bytes).map_err(|e| format!("{name}.json: {e}"))?;
    let key_refs: Vec<(&str, &PublicKey)> = keys.iter().map(|(id, k)| (id.as_str(), k)).collect();
    let proof =
        check_threshold(name, &sig, &key_refs, d.keys.threshold).map_err(|e| e.to_string())?;
    ctx.check_expiry(name, &parsed.common, warnings)
        .map_err(|e| e.to_string())?;
    let mut parsed = parsed;
    let before = parsed.targets.len();
    // `""` (what `notary delegation add --all-paths` writes) admits every name.
    if !d.paths.iter().any(String::is_empty) {
        parsed.targets.retain(|t, _| within(t, &d.paths));
    }
    let outside = before - parsed.targets.len();
    if outside > 0 {
        warnings.push(Warning::new(
            Some(name),
            format!(
                "{name} signed {outside} target(s) outside its paths {:?}: ignored",
                d.paths
            ),
        ));
    }
    Ok(VerifiedDelegation {
        metadata: Verified::new(parsed, proof),
    })
}

/// Refuse any role whose verified version is below the highest one verified before.
pub fn check_rollback(
    now: &BTreeMap<String, i64>,
    seen: &BTreeMap<String, i64>,
) -> Result<(), ChainError> {
    for (role, &got) in now {
        if let Some(&before) = seen.get(role) {
            if got < before {
                return Err(ChainError::Rollback {
                    role: role.clone(),
                    got,
                    seen: before,
                });
            }
        }
    }
    Ok(())
}

/// Verify a whole repository in one call, for callers that hold every file already.
pub fn verify_repo(
    ctx: &Context,
    files: TopFiles,
    fetched: &BTreeMap<String, Result<Vec<u8>, String>>,
) -> Result<Repo, ChainError> {
    let trusted = verify_top(ctx, files)?;
    Ok(verify_delegations(ctx, trusted, fetched))
}
