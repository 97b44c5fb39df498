//! Delegations, sans-IO: the tree below `targets` walked one level at a time, so that only files
//! a verified parent declares are fetched, and nested ones only after their parent verified. A
//! delegation that fails is recorded (and warned about); it never refuses the chain.

use std::collections::{BTreeMap, BTreeSet};

use crate::tuf::chain::{
    Context, DelegationError, DelegationResult, Fetched, FileError, Repo, Trusted,
    VerifiedDelegation, MAX_DELEGATIONS_TOTAL, MAX_DELEGATION_DEPTH,
};
use crate::tuf::keys::PublicKey;
use crate::tuf::level::{Class, Warning};
use crate::tuf::metadata::{Delegation, Role, Signed, Snapshot, Targets};
use crate::tuf::role::{is_delegation_name, RoleName};
use crate::tuf::verify::{check_file, verify_then_read, within};

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
pub fn verify_delegations(ctx: &Context, trusted: Trusted, fetched: &Fetched) -> Repo {
    let mut walk = DelegationWalk::new(trusted);
    while !walk.is_done() {
        walk.step(ctx, fetched);
    }
    walk.finish(ctx)
}

/// The delegation tree walked one level at a time, so that only files a verified parent
/// declares are ever fetched, and nested ones only after their parent verified: [`wanted`]
/// names the next level's files, [`step`] verifies them.
///
/// [`wanted`]: DelegationWalk::wanted
/// [`step`]: DelegationWalk::step
pub struct DelegationWalk {
    trusted: Trusted,
    warnings: Vec<Warning>,
    results: Vec<DelegationResult>,
    seen: BTreeSet<String>,
    /// Verified parents whose delegations are the next level.
    level: Vec<Parent>,
}

impl DelegationWalk {
    pub fn new(trusted: Trusted) -> DelegationWalk {
        let top = Parent {
            name: "targets".to_owned(),
            delegations: trusted.targets.delegations.clone(),
            keys: trusted.targets.delegation_keys.clone(),
            paths: None,
            depth: 1,
        };
        DelegationWalk {
            warnings: trusted.warnings.clone(),
            trusted,
            results: Vec::new(),
            seen: BTreeSet::new(),
            level: vec![top],
        }
    }

    /// Nothing is left to verify.
    pub fn is_done(&self) -> bool {
        self.level.iter().all(|p| p.delegations.is_empty())
    }

    /// The files the next [`DelegationWalk::step`] needs: delegations the current level
    /// declares, named validly, listed in snapshot.json (with the exact length it declares, the
    /// fetch bound), not seen before.
    pub fn wanted(&self) -> Vec<(RoleName, u64)> {
        let mut out = Vec::new();
        let mut named = BTreeSet::new();
        for d in self.level.iter().flat_map(|p| &p.delegations) {
            if self.seen.len() + out.len() >= MAX_DELEGATIONS_TOTAL {
                break;
            }
            let Some(role) = RoleName::new(&d.name).ok().filter(RoleName::is_delegation) else {
                continue;
            };
            if d.path_hash_prefixes || self.seen.contains(&d.name) {
                continue;
            }
            if let Some(meta) = self.trusted.snapshot.meta.get(&d.name) {
                if named.insert(d.name.as_str()) {
                    out.push((role, meta.length));
                }
            }
        }
        out
    }

    /// Verify every delegation the current level declares; the verified ones that delegate in
    /// turn are the next level.
    pub fn step(&mut self, ctx: &Context, fetched: &Fetched) {
        let level = std::mem::take(&mut self.level);
        for parent in level {
            let depth = parent.depth;
            for d in &parent.delegations {
                if self.results.len() >= MAX_DELEGATIONS_TOTAL {
                    self.warnings.push(Warning::new(
                        None,
                        format!("more than {MAX_DELEGATIONS_TOTAL} delegations: the rest ignored"),
                    ));
                    self.level.clear();
                    return;
                }
                let keys = delegation_keys(d, &parent.keys);
                let first_time = self.seen.insert(d.name.clone());
                let outcome = if !first_time {
                    Err(DelegationError::DeclaredAgain {
                        parent: parent.name.clone(),
                        name: d.name.clone(),
                    })
                } else if depth > MAX_DELEGATION_DEPTH {
                    Err(DelegationError::TooDeep)
                } else {
                    verify_one(
                        ctx,
                        &self.trusted.snapshot,
                        &parent.name,
                        parent.paths.as_deref(),
                        d,
                        &keys,
                        fetched,
                        &mut self.warnings,
                    )
                };
                if let Err(why) = &outcome {
                    self.warnings.push(Warning::new(
                        Some(&d.name),
                        format!("delegation {} not used: {why}", d.name),
                    ));
                }
                if let Ok(v) = &outcome {
                    if !v.metadata.delegations.is_empty() {
                        self.level.push(Parent {
                            name: d.name.clone(),
                            delegations: v.metadata.delegations.clone(),
                            keys: v.metadata.delegation_keys.clone(),
                            paths: Some(d.paths.clone()),
                            depth: depth + 1,
                        });
                    }
                }
                if first_time {
                    self.results.push(DelegationResult {
                        name: d.name.clone(),
                        parent: parent.name.clone(),
                        keys,
                        threshold: d.keys.threshold,
                        paths: d.paths.clone(),
                        outcome,
                    });
                }
            }
        }
    }

    /// The verified repository.
    pub fn finish(self, ctx: &Context) -> Repo {
        Repo {
            gun: ctx.gun.to_owned(),
            trusted: self.trusted,
            delegations: self.results,
            warnings: self.warnings,
        }
    }

    /// The verified top-level roles (for fetch bounds and reuse checks).
    pub fn trusted(&self) -> &Trusted {
        &self.trusted
    }
}

/// The keys a delegation lists, found among its parent's: each listed ID once, and each public
/// key once (a key listed under many IDs is one key), before anything is cloned.
fn delegation_keys(
    d: &Delegation,
    parent_keys: &BTreeMap<String, PublicKey>,
) -> Vec<(String, PublicKey)> {
    let mut ids = BTreeSet::new();
    let mut found: Vec<(&String, &PublicKey)> = Vec::new();
    for id in &d.keys.keyids {
        if !ids.insert(id.as_str()) {
            continue;
        }
        if let Some((listed, key)) = parent_keys.get_key_value(id) {
            if !found.iter().any(|(_, k)| k.same_key(key)) {
                found.push((listed, key));
            }
        }
    }
    found
        .into_iter()
        .map(|(id, k)| (id.clone(), k.clone()))
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn verify_one(
    ctx: &Context,
    snapshot: &Snapshot,
    parent: &str,
    parent_paths: Option<&[String]>,
    d: &Delegation,
    keys: &[(String, PublicKey)],
    fetched: &Fetched,
    warnings: &mut Vec<Warning>,
) -> Result<VerifiedDelegation, DelegationError> {
    let name = d.name.as_str();
    if !is_delegation_name(name) {
        return Err(DelegationError::InvalidName {
            name: name.to_owned(),
        });
    }
    if d.path_hash_prefixes {
        return Err(DelegationError::PathHashPrefixes);
    }
    match name.strip_prefix(parent).and_then(|r| r.strip_prefix('/')) {
        Some(child) if !child.contains('/') => {}
        _ => {
            return Err(DelegationError::NotDirectChild {
                parent: parent.to_owned(),
            })
        }
    }
    if let Some(pp) = parent_paths {
        if let Some(p) = d.paths.iter().find(|p| !within(p, pp)) {
            return Err(DelegationError::PathOutsideParent {
                path: p.clone(),
                parent: parent.to_owned(),
                parent_paths: pp.to_vec(),
            });
        }
    }
    let meta = snapshot
        .meta
        .get(name)
        .ok_or(DelegationError::NotInSnapshot)?;
    let bytes = match fetched.get(name) {
        Some(Ok(b)) => b,
        Some(Err(why)) => return Err(why.clone()),
        None => return Err(DelegationError::NotFetched),
    };
    check_file(name, "snapshot", bytes, meta)?;
    // Cut, signatures checked, and only then read (see `verify_top_role`).
    let metadata = |e| DelegationError::from(FileError::metadata(name, e));
    let signed = Signed::split(bytes).map_err(metadata)?;
    signed.check_claimed_type(Targets::TYPE).map_err(metadata)?;
    let key_refs: Vec<(&str, &PublicKey)> = keys.iter().map(|(id, k)| (id.as_str(), k)).collect();
    ctx.charge_signatures(signed.sig.signatures.len())?;
    let verified = verify_then_read(name, &signed, &key_refs, d.keys.threshold, |s| {
        Targets::from_signed(s).map_err(metadata)
    })?;
    if let Some(err) = ctx.expiry_error(name, &verified.common) {
        let err = DelegationError::from(err);
        if !ctx.level.tolerates(Class::Expiry) {
            return Err(err);
        }
        warnings.push(Warning::new(
            Some(name),
            format!("{err} (accepted at level {})", ctx.level),
        ));
    }
    let (metadata, outside) = verified.narrowed_to(&d.paths);
    if outside > 0 {
        warnings.push(Warning::new(
            Some(name),
            format!(
                "{name} signed {outside} target(s) outside its paths {:?}: ignored",
                d.paths
            ),
        ));
    }
    Ok(VerifiedDelegation { metadata })
}
