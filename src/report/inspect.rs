//! Who signed what, for auditors, in the shape of `docker trust inspect` (docker/cli's
//! `matchReleasedSignatures`): released tags with the other delegations that signed the same
//! digest, the signers and the administrative keys, plus what trustpin knows besides (tags only
//! other delegations signed, every delegation's threshold, paths and verification, and tags that
//! roles signed with different digests). Built from a verified [`Repo`] only.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::reference::Digest;
use crate::tuf::chain::{DelegationError, Repo};

/// The signer name docker shows for a tag no other delegation signed.
pub const REPO_ADMIN: &str = "Repo Admin";

/// The roles whose signature "releases" a tag (docker's `isReleasedTarget`).
pub fn is_released_role(role: &str) -> bool {
    role == "targets" || role == "targets/releases"
}

/// One (tag, digest) pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTag {
    pub tag: String,
    pub digest: Digest,
    /// Docker's `Signers`: for a released tag, the other delegations that signed this digest
    /// (names without `targets/`, in walk order), empty when none did ([`REPO_ADMIN`]); for an
    /// unreleased one, every delegation that signed it.
    pub signers: Vec<String>,
    /// Every role that signed this digest for this tag, full names, in walk order.
    pub roles: Vec<String>,
}

/// A delegation as an auditor sees it.
#[derive(Debug, Clone)]
pub struct Signer {
    /// Without `targets/`, as docker shows it.
    pub name: String,
    pub role: String,
    /// Canonical key IDs (what docker shows for signers), in the order the parent lists them.
    pub key_ids: Vec<String>,
    /// Key IDs as the parent lists them.
    pub listed_key_ids: Vec<String>,
    pub threshold: u32,
    pub paths: Vec<String>,
    /// `Ok(())` when its metadata verified, else why not.
    pub verified: Result<(), DelegationError>,
}

/// A root-listed role (root or targets) and its keys.
#[derive(Debug, Clone, Default)]
pub struct AdminRole {
    /// Key IDs as root.json lists them: what docker prints (for root, the certificate's ID).
    pub listed_key_ids: Vec<String>,
    /// The canonical ID of each (the public key's own ID), in the same order.
    pub key_ids: Vec<String>,
    pub threshold: u32,
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
    /// Docker's `SignedTags`: pairs signed into `targets` or `targets/releases`, in natural tag order.
    pub signed_tags: Vec<SignedTag>,
    /// Pairs only other delegations signed (docker leaves them out), in natural tag order.
    pub other_signed_tags: Vec<SignedTag>,
    /// Every delegation declared by a verified role, in walk order (releases included).
    pub signers: Vec<Signer>,
    pub root: AdminRole,
    /// The targets role, docker's "Repository" key.
    pub repository: AdminRole,
    pub disagreements: Vec<Disagreement>,
}

impl Report {
    /// Docker's `Signers`: every delegation but releases.
    pub fn docker_signers(&self) -> impl Iterator<Item = &Signer> {
        self.signers.iter().filter(|s| s.role != "targets/releases")
    }
}

/// A role's name as docker shows a signer: without `targets/`.
pub fn short_name(role: &str) -> &str {
    role.strip_prefix("targets/").unwrap_or(role)
}

/// Natural order as docker sorts tags and signers (fvbommel/sortorder's `NaturalLess`): runs
/// of digits compare by value (`v2` before `v10`), digits before other bytes, other bytes as bytes;
/// equal values with more leading zeros sort later.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (da, db) = (a[i].is_ascii_digit(), b[j].is_ascii_digit());
        if da != db {
            return if da {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        if !da {
            match a[i].cmp(&b[j]) {
                Ordering::Equal => {
                    i += 1;
                    j += 1;
                    continue;
                }
                other => return other,
            }
        }
        let (za, zb) = (skip_zeros(a, i), skip_zeros(b, j));
        let (ea, eb) = (end_of_digits(a, za), end_of_digits(b, zb));
        let by_value = (ea - za)
            .cmp(&(eb - zb))
            .then_with(|| a[za..ea].cmp(&b[zb..eb]))
            .then_with(|| (za - i).cmp(&(zb - j)));
        if by_value != Ordering::Equal {
            return by_value;
        }
        (i, j) = (ea, eb);
    }
    (a.len() - i).cmp(&(b.len() - j))
}

fn skip_zeros(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && s[i] == b'0' {
        i += 1;
    }
    i
}

fn end_of_digits(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// Build the report; with `tag`, only that tag's rows.
pub fn report(repo: &Repo, tag: Option<&str>) -> Report {
    // (tag, digest) → (first seen, roles in walk order: targets, then delegations level by level).
    let mut pairs: BTreeMap<(String, Digest), (usize, Vec<String>)> = BTreeMap::new();
    let mut by_tag: BTreeMap<String, Vec<(String, Digest)>> = BTreeMap::new();
    for (role, targets) in repo.signed_targets() {
        for (name, meta) in targets {
            if tag.is_some_and(|t| t != name) {
                continue;
            }
            let Some(digest) = meta.sha256.map(Digest) else {
                continue;
            };
            let seen = pairs.len();
            pairs
                .entry((name.to_owned(), digest))
                .or_insert_with(|| (seen, Vec::new()))
                .1
                .push(role.to_owned());
            by_tag
                .entry(name.to_owned())
                .or_default()
                .push((role.to_owned(), digest));
        }
    }
    let mut rows: Vec<(usize, bool, SignedTag)> = pairs
        .into_iter()
        .map(|((tag, digest), (seen, roles))| {
            let released = roles.iter().any(|r| is_released_role(r));
            let signers = roles
                .iter()
                .filter(|r| !is_released_role(r))
                .map(|r| short_name(r).to_owned())
                .collect();
            let row = SignedTag {
                tag,
                digest,
                signers,
                roles,
            };
            (seen, released, row)
        })
        .collect();
    rows.sort_by(|(sa, _, a), (sb, _, b)| natural_cmp(&a.tag, &b.tag).then(sa.cmp(sb)));
    let (released, other): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(_, r, _)| *r);
    let disagreements = by_tag
        .into_iter()
        .filter(|(_, signed)| signed.iter().any(|(_, d)| *d != signed[0].1))
        .map(|(tag, signed)| Disagreement { tag, signed })
        .collect();
    let signers = repo
        .delegations
        .iter()
        .map(|d| Signer {
            name: short_name(&d.name).to_owned(),
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
    let admin = |role: &str| -> AdminRole {
        let Some(r) = root.roles.get(role) else {
            return AdminRole::default();
        };
        AdminRole {
            listed_key_ids: r.keyids.clone(),
            key_ids: r
                .keyids
                .iter()
                .map(|id| root.keys.get(id).map_or(id.as_str(), |k| k.canonical_id()))
                .map(str::to_owned)
                .collect(),
            threshold: r.threshold,
        }
    };
    Report {
        gun: repo.gun.clone(),
        signed_tags: released.into_iter().map(|(_, _, t)| t).collect(),
        other_signed_tags: other.into_iter().map(|(_, _, t)| t).collect(),
        signers,
        root: admin("root"),
        repository: admin("targets"),
        disagreements,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_is_docker_s() {
        let mut v = vec![
            "v10", "v2", "latest", "1.10", "1.9", "v02", "v2a", "", "10", "9", "a", "A", "v1.0.0",
            "v1.0",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            [
                "", "1.9", "1.10", "9", "10", "A", "a", "latest", "v1.0", "v1.0.0", "v2", "v2a",
                "v02", "v10"
            ]
        );
        assert_eq!(natural_cmp("x", "x"), Ordering::Equal);
        assert_eq!(natural_cmp("007", "7"), Ordering::Greater);
    }

    #[test]
    fn short_names_drop_targets() {
        assert_eq!(short_name("targets/releases"), "releases");
        assert_eq!(short_name("targets/qa/nightly"), "qa/nightly");
        assert_eq!(short_name("targets"), "targets");
        assert!(is_released_role("targets") && is_released_role("targets/releases"));
        assert!(!is_released_role("targets/releases/x") && !is_released_role("releases"));
    }
}
