//! The chain of trust, sans-IO: pinned root key → root → timestamp → snapshot → targets →
//! delegations, from fetched bytes and a verification time to verified roles plus warnings.
//! The numbered steps follow Notary's client update order.

use std::collections::{BTreeMap, BTreeSet};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::tuf::budget::{BudgetError, Meter, Resource};
use crate::tuf::keys::{KeyType, PinnedKey, PublicKey};
use crate::tuf::level::{Class, Level, Warning};
use crate::tuf::metadata::{
    Common, Envelope, MetadataError, Role, RoleKeys, Root, Signed, Snapshot, TargetMap, Targets,
    Timestamp,
};
use crate::tuf::rotation;

pub use crate::tuf::delegations::{verify_delegations, DelegationWalk};
use crate::tuf::verify::{
    check_file, short, verify_signed, verify_then_read, Verified, VerifyError,
};

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
    /// Charged one signature verification per signature entry before each threshold check
    /// (a check verifies each entry at most once); `None`: not counted.
    pub meter: Option<&'a Meter>,
}

/// Delegation files by role, as fetched: the bytes, or why there are none.
pub type Fetched = BTreeMap<String, Result<Vec<u8>, DelegationError>>;

/// The four top-level files, as fetched.
#[derive(Debug, Clone, Copy)]
pub struct TopFiles<'a> {
    pub root: &'a [u8],
    pub timestamp: &'a [u8],
    pub snapshot: &'a [u8],
    pub targets: &'a [u8],
}

/// Why one signed file was refused, the same for a top-level role and a delegation: it does not
/// parse, its signatures do not verify, it expired, or the repository's budget ran out on it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FileError {
    #[error("{role}.json: {source}")]
    Metadata {
        role: String,
        source: std::sync::Arc<MetadataError>,
    },
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error("{role}.json expired at {expires} (verifying at {at})")]
    Expired {
        role: String,
        expires: String,
        at: String,
    },
    /// The repository's budget ran out here; the whole repository is then refused.
    #[error(transparent)]
    Budget(#[from] BudgetError),
}

impl FileError {
    pub(crate) fn metadata(role: &str, source: MetadataError) -> FileError {
        FileError::Metadata {
            role: role.to_owned(),
            source: std::sync::Arc::new(source),
        }
    }
}

/// `?` on a signature check or a budget charge, inside the chain or a delegation walk.
macro_rules! file_error_from {
    ($($target:ty),*) => {$(
        impl From<VerifyError> for $target {
            fn from(e: VerifyError) -> Self {
                FileError::Verify(e).into()
            }
        }
        impl From<BudgetError> for $target {
            fn from(e: BudgetError) -> Self {
                FileError::Budget(e).into()
            }
        }
    )*};
}
file_error_from!(ChainError, DelegationError);

/// Why the chain was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChainError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("root.json does not define the `{role}` role")]
    MissingRole { role: &'static str },
    #[error("root.json: root-role key {keyid} is {keytype}, expected a certificate (ecdsa-x509 or rsa-x509)")]
    RootKeyNotCertificate {
        keyid: String,
        keytype: &'static str,
    },
    #[error("root.json: root certificate {keyid} is a CA certificate; notary accepts only leaf certificates as root keys")]
    RootCertificateCa { keyid: String },
    #[error("root.json: root certificate {keyid} is signed with {algorithm}; notary refuses SHA-1 certificates")]
    RootCertificateSha1 {
        keyid: String,
        algorithm: &'static str,
    },
    #[error("root.json is not signed by the pinned key ({pinned}); it is signed by {signed_by}")]
    NotPinned { pinned: String, signed_by: String },
    #[error("root certificate {keyid} is issued to {cn:?}, not to this repository {gun:?}")]
    CommonName {
        keyid: String,
        cn: String,
        gun: String,
    },
    #[error("root certificate {keyid} expired on {not_after} (verifying at {at})")]
    CertificateExpired {
        keyid: String,
        not_after: String,
        at: String,
    },
    #[error(
        "root certificate {keyid} is not yet valid: valid from {not_before} (verifying at {at})"
    )]
    CertificateNotYetValid {
        keyid: String,
        not_before: String,
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
    #[error("root key rotated from {pinned} to {new} at version {version}, and following rotations is turned off; pin the new key")]
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
        FileError::metadata(role, source).into()
    }

    /// The repository's budget, if that is what ran out.
    pub fn budget(&self) -> Option<&BudgetError> {
        match self {
            ChainError::File(FileError::Budget(b)) => Some(b),
            _ => None,
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
    pub outcome: Result<VerifiedDelegation, DelegationError>,
}

/// Why a delegation cannot be used. Never refuses the chain: it is recorded per delegation, and
/// refuses an answer only when the delegation was required.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DelegationError {
    #[error("{parent} declares {name} again")]
    DeclaredAgain { parent: String, name: String },
    #[error("nested deeper than {MAX_DELEGATION_DEPTH} levels")]
    TooDeep,
    #[error("it gives path_hash_prefixes, which Notary does not support")]
    PathHashPrefixes,
    #[error("invalid role name {name:?}")]
    InvalidName { name: String },
    #[error("{parent} may only delegate to its direct children")]
    NotDirectChild { parent: String },
    #[error("path {path:?} is outside its parent {parent}'s paths {parent_paths:?}")]
    PathOutsideParent {
        path: String,
        parent: String,
        parent_paths: Vec<String>,
    },
    #[error("not listed in snapshot.json")]
    NotInSnapshot,
    #[error("not fetched")]
    NotFetched,
    #[error("listed in snapshot.json but missing ({location}: not found)")]
    Missing { location: String },
    #[error("snapshot.json declares it {length} bytes long, over the limit of {limit} bytes: not fetched")]
    Oversized { length: u64, limit: u64 },
    /// A budget spent here refuses the whole repository.
    #[error(transparent)]
    File(#[from] FileError),
}

#[derive(Debug, Clone)]
pub struct VerifiedDelegation {
    /// The verified file, its targets narrowed to those within the role's paths (others are
    /// dropped with a warning) by [`Verified::narrowed_to`].
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
    /// Charge the verifications a threshold check over `signatures` entries may cost.
    pub(crate) fn charge_signatures(&self, signatures: usize) -> Result<(), BudgetError> {
        match self.meter {
            Some(m) => m.charge(Resource::Signatures, signatures as u64),
            None => Ok(()),
        }
    }

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

    pub(crate) fn expiry_error(&self, role: &str, common: &Common) -> Option<FileError> {
        (common.expires <= self.at).then(|| FileError::Expired {
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
            Some(err) => self.relax(Class::Expiry, err.into(), role, warnings),
            None => Ok(()),
        }
    }
}

/// The keys a role lists, found in a key map. Listed IDs with no key cannot sign and are skipped.
pub(crate) fn role_keys<'k>(
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

pub(crate) fn parse_env<'a>(role: &str, bytes: &'a [u8]) -> Result<Envelope<'a>, ChainError> {
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
pub(crate) fn pinned_signed(ctx: &Context, root: &Verified<Root>) -> bool {
    root.signers()
        .iter()
        .filter_map(|id| root.keys.get(id))
        .any(|key| ctx.pinned.iter().any(|p| p.matches(key)))
}

pub(crate) fn pinned_ids(ctx: &Context) -> String {
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

pub(crate) fn not_pinned(ctx: &Context, root: &Verified<Root>) -> ChainError {
    ChainError::NotPinned {
        pinned: pinned_ids(ctx),
        signed_by: signer_ids(root),
    }
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
    // Root alone is read before its signatures are checked: its keys come from itself. It is
    // capped at 2 MiB by the fetcher, so the tree this builds is bounded; every other role is
    // read only after its threshold is met (see `verify_top_role`, `verify_one`).
    let parsed = Root::parse(bytes).map_err(|e| ChainError::metadata("root", e))?;
    let root = &parsed.0;
    for role in ["root", "timestamp", "snapshot", "targets"] {
        if !root.roles.contains_key(role) {
            return Err(ChainError::MissingRole { role });
        }
    }
    let root_role = &root.roles["root"];
    let threshold = root_role.threshold;
    // Owned, as the parsed root moves into verification below (a handful of keys, once).
    let keys: Vec<(String, PublicKey)> = role_keys(root_role, &root.keys)
        .into_iter()
        .map(|(id, k)| (id.to_owned(), k.clone()))
        .collect();
    for (id, key) in &keys {
        if !matches!(key.keytype(), KeyType::EcdsaX509 | KeyType::RsaX509) {
            return Err(ChainError::RootKeyNotCertificate {
                keyid: id.clone(),
                keytype: key.keytype().as_str(),
            });
        }
    }
    // 1b. Root certificates as notary takes them: leaf certificates, not signed with SHA-1.
    for (id, key) in &keys {
        if let Some(cert) = key.certificate() {
            if cert.is_ca {
                return Err(ChainError::RootCertificateCa {
                    keyid: short(id).to_string(),
                });
            }
            if let Some(algorithm) = cert.sha1_signature {
                return Err(ChainError::RootCertificateSha1 {
                    keyid: short(id).to_string(),
                    algorithm,
                });
            }
        }
    }
    // 2. Self-consistency: a threshold of distinct root keys signed it.
    let key_refs: Vec<(&str, &PublicKey)> = keys.iter().map(|(id, k)| (id.as_str(), k)).collect();
    ctx.charge_signatures(parsed.1.signatures.len())?;
    let root = verify_signed("root", parsed, &key_refs, threshold)?;

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
            let keyid = short(id).to_string();
            let at = fmt_time(ctx.at);
            let err = if ctx.at < cert.not_before {
                Some(ChainError::CertificateNotYetValid {
                    keyid,
                    not_before: fmt_time(cert.not_before),
                    at,
                })
            } else if ctx.at > cert.not_after {
                Some(ChainError::CertificateExpired {
                    keyid,
                    not_after: fmt_time(cert.not_after),
                    at,
                })
            } else {
                None
            };
            if let Some(err) = err {
                ctx.relax(Class::Expiry, err, "root", warnings)?;
            }
        }
    }
    // 4. Freshness.
    ctx.check_expiry("root", &root.common, warnings)?;
    Ok(root)
}

/// Verify a file signed by one of the top-level roles root.json defines. The file is cut into
/// what its signatures cover and its signatures (no tree of it), its signatures checked, and only
/// then is it read as its role. The `_type` it claims is looked at first (a few bytes), so that a
/// file of another role is refused as such.
fn verify_top_role<T: Role>(
    ctx: &Context,
    root: &Root,
    role: &'static str,
    bytes: &[u8],
    warnings: &mut Vec<Warning>,
) -> Result<Verified<T>, ChainError> {
    let metadata = |e| ChainError::metadata(role, e);
    let signed = Signed::split(bytes).map_err(metadata)?;
    signed.check_claimed_type(T::TYPE).map_err(metadata)?;
    let role_def = root
        .roles
        .get(role)
        .ok_or(ChainError::MissingRole { role })?;
    ctx.charge_signatures(signed.sig.signatures.len())?;
    let verified = verify_then_read(
        role,
        &signed,
        &role_keys(role_def, &root.keys),
        role_def.threshold,
        |s| T::from_signed(s).map_err(metadata),
    )?;
    ctx.check_expiry(role, verified.common(), warnings)?;
    Ok(verified)
}

/// Verify the four top-level files.
pub fn verify_top(ctx: &Context, files: TopFiles) -> Result<Trusted, ChainError> {
    verify_top_rotated(ctx, files, &[])
}

/// Verify the four top-level files, the root through a rotation walk when `root_history` holds
/// the versioned roots from a pinned anchor up to the current one (see
/// [`rotation::verify_rotated_root`]).
pub fn verify_top_rotated(
    ctx: &Context,
    files: TopFiles,
    root_history: &[Vec<u8>],
) -> Result<Trusted, ChainError> {
    let mut warnings = Vec::new();
    let root = rotation::verify_rotated_root(ctx, root_history, files.root, &mut warnings)?;

    // Timestamp: signed by the timestamp keys, fresh; it fixes the snapshot's bytes.
    let timestamp =
        verify_top_role::<Timestamp>(ctx, &root, "timestamp", files.timestamp, &mut warnings)?;

    // Snapshot: exactly the bytes the timestamp names; it fixes root's and targets' bytes.
    check_file("snapshot", "timestamp", files.snapshot, &timestamp.snapshot)?;
    let snapshot =
        verify_top_role::<Snapshot>(ctx, &root, "snapshot", files.snapshot, &mut warnings)?;
    for (entry, bytes) in [("root", files.root), ("targets", files.targets)] {
        let meta = snapshot
            .meta
            .get(entry)
            .ok_or(ChainError::SnapshotMissing { entry })?;
        check_file(entry, "snapshot", bytes, meta)?;
    }

    // Targets: signed by the targets keys, fresh.
    let targets = verify_top_role::<Targets>(ctx, &root, "targets", files.targets, &mut warnings)?;
    Ok(Trusted {
        root,
        timestamp,
        snapshot,
        targets,
        warnings,
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
pub fn verify_repo(ctx: &Context, files: TopFiles, fetched: &Fetched) -> Result<Repo, ChainError> {
    let trusted = verify_top(ctx, files)?;
    Ok(verify_delegations(ctx, trusted, fetched))
}
