//! Who signed what, for auditors: signed tags with their signers, each delegation's keys,
//! threshold, paths and whether its metadata verified, the administrative keys, and tags that
//! different roles signed with different digests. Built from a verified [`Repo`] only.

use std::collections::BTreeMap;

use crate::reference::Digest;
use crate::tuf::chain::{DelegationError, Repo};

/// The signer name docker shows for a tag only `targets` signed.
pub const REPO_ADMIN: &str = "Repo Admin";

/// One (tag, digest) pair and every role that signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTag {
    pub tag: String,
    pub digest: Digest,
    /// Roles as docker names them: delegation names without `targets/`, `Repo Admin` for targets.
    pub signers: Vec<String>,
    /// Full role names.
    pub roles: Vec<String>,
}

/// A delegation as an auditor sees it.
#[derive(Debug, Clone)]
pub struct Signer {
    /// Without `targets/`, as docker shows it.
    pub name: String,
    pub role: String,
    /// Canonical key IDs (what docker shows), in the order the parent lists them.
    pub key_ids: Vec<String>,
    /// Key IDs as the parent lists them.
    pub listed_key_ids: Vec<String>,
    pub threshold: u32,
    pub paths: Vec<String>,
    /// `Ok(())` when its metadata verified, else why not.
    pub verified: Result<(), DelegationError>,
}

/// A tag that roles signed with different digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    pub tag: String,
    /// (role, digest) for every role that signed it.
    pub signed: Vec<(String, Digest)>,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub gun: String,
    pub signed_tags: Vec<SignedTag>,
    pub signers: Vec<Signer>,
    /// Canonical IDs of the root-role keys.
    pub root_keys: Vec<String>,
    /// Key IDs of the targets (repository) role.
    pub repository_keys: Vec<String>,
    pub disagreements: Vec<Disagreement>,
}

/// Docker's signer name for a role.
pub fn signer_name(role: &str) -> String {
    match role {
        "targets" => REPO_ADMIN.to_owned(),
        other => other.strip_prefix("targets/").unwrap_or(other).to_owned(),
    }
}

/// Build the report; with `tag`, only that tag's rows.
pub fn report(repo: &Repo, tag: Option<&str>) -> Report {
    // (tag, digest) → roles, in role order (targets first, then delegations as declared).
    let mut rows: BTreeMap<(String, Digest), Vec<String>> = BTreeMap::new();
    let mut by_tag: BTreeMap<String, Vec<(String, Digest)>> = BTreeMap::new();
    for (role, targets) in repo.signed_targets() {
        for (name, meta) in targets {
            if tag.is_some_and(|t| t != name) {
                continue;
            }
            let Some(digest) = meta.sha256.map(Digest) else {
                continue;
            };
            rows.entry((name.to_owned(), digest))
                .or_default()
                .push(role.to_owned());
            by_tag
                .entry(name.to_owned())
                .or_default()
                .push((role.to_owned(), digest));
        }
    }
    let signed_tags = rows
        .into_iter()
        .map(|((tag, digest), roles)| {
            // Docker lists the delegations that signed; `Repo Admin` only when targets alone did.
            let mut signers: Vec<String> = roles
                .iter()
                .filter(|r| r.as_str() != "targets")
                .map(|r| signer_name(r))
                .collect();
            if signers.is_empty() {
                signers.push(REPO_ADMIN.to_owned());
            }
            SignedTag {
                tag,
                digest,
                signers,
                roles,
            }
        })
        .collect();
    let disagreements = by_tag
        .into_iter()
        .filter(|(_, signed)| signed.iter().any(|(_, d)| *d != signed[0].1))
        .map(|(tag, signed)| Disagreement { tag, signed })
        .collect();
    let signers = repo
        .delegations
        .iter()
        .map(|d| Signer {
            name: signer_name(&d.name),
            role: d.name.clone(),
            key_ids: d
                .keys
                .iter()
                .map(|(_, k)| k.canonical_id().to_owned())
                .collect(),
            listed_key_ids: d.keys.iter().map(|(id, _)| id.clone()).collect(),
            threshold: d.threshold,
            paths: d.paths.clone(),
            verified: d.outcome.as_ref().map(|_| ()).map_err(Clone::clone),
        })
        .collect();
    let root = &repo.trusted.root;
    let ids_of = |role: &str| -> Vec<String> {
        root.roles
            .get(role)
            .map(|r| {
                r.keyids
                    .iter()
                    .filter_map(|id| root.keys.get(id))
                    .map(|k| k.canonical_id().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    Report {
        gun: repo.gun.clone(),
        signed_tags,
        signers,
        root_keys: ids_of("root"),
        repository_keys: ids_of("targets"),
        disagreements,
    }
}
