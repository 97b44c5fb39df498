//! Which roles count and the one digest they agree on. Without required delegations, docker's
//! rule: `targets/releases` if it is valid and signed the tag, else `targets`. With required
//! delegations, every one must be valid and have signed the same digest.

use crate::reference::Digest;
use crate::tuf::chain::{DelegationError, Repo};
use crate::tuf::metadata::{FileMeta, TargetMap};

const RELEASES: &str = "targets/releases";

/// What a reference resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub digest: Digest,
    /// The tag asked for, or the tag(s) the digest was found under for a digest-only reference.
    pub tag: Option<String>,
    pub length: u64,
    /// The role(s) whose signature decided the answer.
    pub decided_by: Vec<String>,
    /// Every verified role that signed this tag (or digest) with this digest.
    pub signed_by: Vec<String>,
}

/// What a reference asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query<'a> {
    /// The digest signed for this tag.
    Tag(&'a str),
    /// Any signed tag whose digest is this one.
    Digest(&'a Digest),
    /// The digest signed for this tag, which must be this one.
    TagAndDigest(&'a str, &'a Digest),
}

impl<'a> Query<'a> {
    /// The query for a reference's tag and digest; `None` when it has neither.
    pub fn of(tag: Option<&'a str>, digest: Option<&'a Digest>) -> Option<Query<'a>> {
        match (tag, digest) {
            (Some(t), Some(d)) => Some(Query::TagAndDigest(t, d)),
            (Some(t), None) => Some(Query::Tag(t)),
            (None, Some(d)) => Some(Query::Digest(d)),
            (None, None) => None,
        }
    }

    fn tag(&self) -> Option<&'a str> {
        match *self {
            Query::Tag(t) | Query::TagAndDigest(t, _) => Some(t),
            Query::Digest(_) => None,
        }
    }

    fn digest(&self) -> Option<&'a Digest> {
        match *self {
            Query::Digest(d) | Query::TagAndDigest(_, d) => Some(d),
            Query::Tag(_) => None,
        }
    }
}

/// Why a role cannot be used for selection.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unusable {
    #[error(transparent)]
    Delegation(#[from] DelegationError),
    #[error("listed in snapshot.json but declared by no role")]
    Undeclared,
    #[error("no such delegation in this repository")]
    NoSuchDelegation,
}

/// Why no single trusted digest could be given.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SelectError {
    #[error("no signed digest for tag {tag:?} in {roles}")]
    TagNotSigned { tag: String, roles: String },
    #[error("tag {tag:?} is signed for {signed}, but the reference asks for {wanted}")]
    DigestMismatch {
        tag: String,
        signed: Digest,
        wanted: Digest,
    },
    #[error("{wanted} is not signed for any tag in {roles}")]
    DigestNotSigned { wanted: Digest, roles: String },
    #[error("required delegation {role} cannot be used: {reason}")]
    RequiredUnusable { role: String, reason: Box<Unusable> },
    #[error("required delegation {role} did not sign {what}")]
    RequiredDidNotSign { role: String, what: String },
    #[error("the required delegations signed different digests: {found}")]
    Disagree { found: String },
    #[error("{role} signed {tag:?} without a sha256 hash")]
    NoSha256 { role: String, tag: String },
}

/// Normalise a delegation name as users give it: `releases` and `targets/releases` are one role.
pub fn delegation_name(name: &str) -> String {
    if name == "targets" || name.starts_with("targets/") {
        name.to_owned()
    } else {
        format!("targets/{name}")
    }
}

fn digest_of(role: &str, tag: &str, meta: &FileMeta) -> Result<Digest, SelectError> {
    let bytes: [u8; 32] = meta.sha256.ok_or_else(|| SelectError::NoSha256 {
        role: role.to_owned(),
        tag: tag.to_owned(),
    })?;
    Ok(Digest(bytes))
}

/// The targets map of a usable role, or why it cannot be used.
fn usable<'r>(repo: &'r Repo, role: &str) -> Result<&'r TargetMap, Unusable> {
    if role == "targets" {
        return Ok(&repo.trusted.targets.targets);
    }
    match repo.delegation(role) {
        Some(d) => d
            .outcome
            .as_ref()
            .map(|v| v.targets())
            .map_err(|e| Unusable::Delegation(e.clone())),
        None if repo.trusted.snapshot.meta.contains_key(role) => Err(Unusable::Undeclared),
        None => Err(Unusable::NoSuchDelegation),
    }
}

/// Pick the one digest `query` stands for.
pub fn select(repo: &Repo, query: Query, required: &[String]) -> Result<Selection, SelectError> {
    let (tag, digest) = (query.tag(), query.digest());
    let considered: Vec<String> = if required.is_empty() {
        let releases_ok =
            usable(repo, RELEASES).is_ok_and(|t| tag.is_none_or(|tag| t.contains_key(tag)));
        if releases_ok {
            vec![RELEASES.to_owned()]
        } else {
            vec!["targets".to_owned()]
        }
    } else {
        required.iter().map(|r| delegation_name(r)).collect()
    };
    let required_mode = !required.is_empty();
    // For a digest-only reference without required roles, both releases and targets count.
    let considered = if tag.is_none() && !required_mode {
        let mut v = vec!["targets".to_owned()];
        if usable(repo, RELEASES).is_ok() {
            v.insert(0, RELEASES.to_owned());
        }
        v
    } else {
        considered
    };

    // One (role, tag, digest, length) per considered role.
    let mut found: Vec<(String, String, Digest, u64)> = Vec::new();
    for role in &considered {
        let targets = match usable(repo, role) {
            Ok(t) => t,
            Err(reason) if required_mode => {
                return Err(SelectError::RequiredUnusable {
                    role: role.clone(),
                    reason: Box::new(reason),
                });
            }
            Err(_) => continue,
        };
        match tag {
            Some(tag) => match targets.get(tag) {
                Some(meta) => found.push((
                    role.clone(),
                    tag.to_owned(),
                    digest_of(role, tag, meta)?,
                    meta.length,
                )),
                None if required_mode => {
                    return Err(SelectError::RequiredDidNotSign {
                        role: role.clone(),
                        what: format!("tag {tag:?}"),
                    });
                }
                None => {}
            },
            None => {
                let wanted = digest.copied();
                let mut hit = None;
                for (t, meta) in targets {
                    if let Ok(d) = digest_of(role, t, meta) {
                        if Some(d) == wanted {
                            hit = Some((role.clone(), t.to_owned(), d, meta.length));
                            break;
                        }
                    }
                }
                match hit {
                    Some(h) => found.push(h),
                    None if required_mode => {
                        let what = wanted.map(|d| d.to_string()).unwrap_or_default();
                        return Err(SelectError::RequiredDidNotSign {
                            role: role.clone(),
                            what,
                        });
                    }
                    None => {}
                }
            }
        }
    }

    let Some((_, first_tag, first_digest, length)) = found.first().cloned() else {
        let roles = considered.join(", ");
        return Err(match query {
            Query::Tag(tag) | Query::TagAndDigest(tag, _) => SelectError::TagNotSigned {
                tag: tag.to_owned(),
                roles,
            },
            Query::Digest(d) => SelectError::DigestNotSigned { wanted: *d, roles },
        });
    };
    if required_mode && found.iter().any(|(_, _, d, _)| *d != first_digest) {
        let found = found
            .iter()
            .map(|(r, _, d, _)| format!("{r} → {d}"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(SelectError::Disagree { found });
    }
    if let (Some(tag), Some(wanted)) = (tag, digest) {
        if *wanted != first_digest {
            return Err(SelectError::DigestMismatch {
                tag: tag.to_owned(),
                signed: first_digest,
                wanted: *wanted,
            });
        }
    }
    let decided_by: Vec<String> = if required_mode || tag.is_some() {
        found.iter().map(|(r, ..)| r.clone()).collect()
    } else {
        found.iter().take(1).map(|(r, ..)| r.clone()).collect()
    };
    let signed_by = repo
        .signed_targets()
        .filter(|(role, targets)| {
            let name = tag.unwrap_or(first_tag.as_str());
            targets
                .get(name)
                .and_then(|m| digest_of(role, name, m).ok())
                == Some(first_digest)
        })
        .map(|(role, _)| role.to_owned())
        .collect();
    Ok(Selection {
        digest: first_digest,
        tag: Some(tag.map(str::to_owned).unwrap_or(first_tag)),
        length,
        decided_by,
        signed_by,
    })
}
