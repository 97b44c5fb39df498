//! Role names, validated once with notary's own grammar. A name that reaches a URL, a path or
//! the chain has been through [`RoleName::new`], so no other module re-checks (or re-implements)
//! the grammar.

use std::borrow::Cow;

/// Longest role name notary accepts (its database column is 255 characters).
pub const ROLE_MAX_LEN: usize = 255;

/// A metadata file's role: `root`, `timestamp`, `snapshot`, `targets`, a delegation
/// `targets/<seg>(/<seg>)*` with `<seg>` = `[a-z0-9_-]+`, or a versioned root `<digits>.root`
/// (a file name rather than a role, fetched during a rotation walk). At most 255 characters.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoleName(Cow<'static, str>);

/// A role name that is not valid, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid role name {name:?}: {reason}")]
pub struct RoleNameError {
    pub name: String,
    pub reason: &'static str,
}

impl RoleName {
    pub const ROOT: RoleName = RoleName(Cow::Borrowed("root"));
    pub const TIMESTAMP: RoleName = RoleName(Cow::Borrowed("timestamp"));
    pub const SNAPSHOT: RoleName = RoleName(Cow::Borrowed("snapshot"));
    pub const TARGETS: RoleName = RoleName(Cow::Borrowed("targets"));
    /// Docker's delegation, `targets/releases`.
    pub const RELEASES: RoleName = RoleName(Cow::Borrowed("targets/releases"));

    /// Check `name` against the grammar.
    pub fn new(name: &str) -> Result<RoleName, RoleNameError> {
        let bad = |reason: &'static str| RoleNameError {
            name: name.to_owned(),
            reason,
        };
        if matches!(name, "root" | "timestamp" | "snapshot" | "targets") {
            return Ok(RoleName(Cow::Owned(name.to_owned())));
        }
        if name.len() > ROLE_MAX_LEN {
            return Err(bad("it is longer than 255 bytes"));
        }
        if let Some(version) = name.strip_suffix(".root") {
            if !version.is_empty()
                && version.len() <= 20
                && version.bytes().all(|c| c.is_ascii_digit())
            {
                return Ok(RoleName(Cow::Owned(name.to_owned())));
            }
            return Err(bad("a versioned root is <digits>.root, e.g. 2.root"));
        }
        if let Some(path) = name.strip_prefix("targets/") {
            if path.split('/').all(is_segment) {
                return Ok(RoleName(Cow::Owned(name.to_owned())));
            }
            return Err(bad(
                "a delegation is targets/<name>(/<name>)* with names of lower-case letters, \
                 digits, '_' and '-'",
            ));
        }
        Err(bad(
            "expected root, timestamp, snapshot, targets, targets/<delegation> or <version>.root",
        ))
    }

    /// The versioned root file `<version>.root`.
    pub fn versioned_root(version: i64) -> RoleName {
        RoleName(Cow::Owned(format!("{version}.root")))
    }

    /// A delegation (`targets/...`), as opposed to a top-level role or a versioned root.
    pub fn is_delegation(&self) -> bool {
        self.0.starts_with("targets/")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `name` is a valid delegation name (`targets/...` in the one grammar).
pub fn is_delegation_name(name: &str) -> bool {
    RoleName::new(name).is_ok_and(|r| r.is_delegation())
}

fn is_segment(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
}

validated_str!(RoleName, RoleNameError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_roles_delegations_and_versioned_roots_are_names() {
        for ok in [
            "root",
            "timestamp",
            "snapshot",
            "targets",
            "targets/releases",
            "targets/a/b_c-9",
            "2.root",
            "1000.root",
        ] {
            assert_eq!(RoleName::new(ok).map(|r| r.to_string()), Ok(ok.to_owned()));
        }
        assert!(RoleName::new("targets/releases").unwrap().is_delegation());
        assert!(!RoleName::new("2.root").unwrap().is_delegation());
        assert_eq!(RoleName::versioned_root(7).as_str(), "7.root");
    }

    #[test]
    fn traversal_case_and_junk_are_refused_with_a_reason() {
        for bad in [
            "",
            "targets/",
            "targets//a",
            "targets/../root",
            "targets/Releases",
            "targets/a b",
            "targets/a%2f",
            ".root",
            "-1.root",
            "123456789012345678901.root",
            "releases",
            "ROOT",
        ] {
            let err = RoleName::new(bad).unwrap_err();
            assert_eq!(err.name, bad);
            assert!(!err.reason.is_empty());
        }
        let long = format!("targets/{}", "a".repeat(248));
        assert!(RoleName::new(&long).is_err());
        let longest = format!("targets/{}", "a".repeat(247));
        assert!(RoleName::new(&longest).is_ok());
    }

    #[test]
    fn delegation_names_share_the_grammar() {
        assert!(is_delegation_name("targets/releases"));
        assert!(!is_delegation_name("targets"));
        assert!(!is_delegation_name("2.root"));
        assert!(!is_delegation_name("targets/A"));
    }
}
