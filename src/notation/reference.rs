//! A registry reference as `notation verify` takes it: `host[:port]/repository:tag` or
//! `host[:port]/repository@sha256:<hex>`, parsed by docker's grammar ([`crate::reference`]) and
//! then held to notation's stricter rules: the registry is named (no implied `docker.io`) and so
//! is a tag or digest (no implied `latest`). `name:tag@sha256:<hex>` (what `trustpin pin`
//! writes) is verified by its digest, as oras-go and docker do; the tag is then only a label.

use crate::fetch::oci::Reference;
use crate::reference::{self, ReferenceError};

/// A parsed registry reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRef {
    /// `host[:port]` (`docker.io` for Docker Hub).
    pub registry: String,
    /// The repository path in the registry, no host (`team/app`).
    pub repo: String,
    /// The tag or digest asked for (the digest when both were given).
    pub reference: Reference,
}

/// Why a registry reference cannot be used (bad input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryRefError {
    #[error(transparent)]
    Syntax(#[from] ReferenceError),
    #[error(
        "invalid registry reference {0:?}: it names no registry; give \
         host[:port]/repository:tag or host[:port]/repository@sha256:<hex>"
    )]
    NoRegistry(String),
    #[error(
        "invalid registry reference {0:?}: it names no tag or digest (`latest` is not assumed); \
         add :tag or @sha256:<hex>"
    )]
    NoTagOrDigest(String),
}

impl RegistryRef {
    /// Parse `input` strictly (see the module doc).
    pub fn parse(input: &str) -> Result<RegistryRef, RegistryRefError> {
        let parsed = reference::parse(input)?;
        let named_registry = input
            .split_once('/')
            .is_some_and(|(first, _)| first.contains(['.', ':']) || first == "localhost");
        if !named_registry {
            return Err(RegistryRefError::NoRegistry(input.to_owned()));
        }
        let last = input.rsplit('/').next().unwrap_or(input);
        if !last.contains([':', '@']) {
            return Err(RegistryRefError::NoTagOrDigest(input.to_owned()));
        }
        let repo = parsed
            .gun
            .as_str()
            .strip_prefix(&format!("{}/", parsed.registry))
            .unwrap_or(parsed.gun.as_str())
            .to_owned();
        let reference = match (parsed.digest, parsed.tag) {
            (Some(d), _) => Reference::Digest(d),
            (None, Some(t)) => Reference::Tag(t),
            (None, None) => return Err(RegistryRefError::NoTagOrDigest(input.to_owned())),
        };
        Ok(RegistryRef {
            registry: parsed.registry,
            repo,
            reference,
        })
    }

    /// `host[:port]/repository`: the name printed, and the scope the trust policy is matched
    /// against.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_registry_references() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let r = RegistryRef::parse("127.0.0.1:5000/team/app:v1").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repo.as_str(), r.name()),
            (
                "127.0.0.1:5000",
                "team/app",
                "127.0.0.1:5000/team/app".into()
            )
        );
        assert_eq!(r.reference, Reference::Tag("v1".into()));
        let r = RegistryRef::parse(&format!("localhost/app@{d}")).unwrap();
        assert_eq!(r.reference.to_string(), format!("@{d}"));
        let r = RegistryRef::parse(&format!("reg.example/app:v1@{d}")).unwrap();
        assert!(matches!(r.reference, Reference::Digest(_)));
        let r = RegistryRef::parse("docker.io/alpine:3").unwrap();
        assert_eq!(r.name(), "docker.io/library/alpine");
        for bad in [
            "alpine:3",
            "team/app:v1",
            "reg.example/app",
            "reg.example:5000/app",
            "reg.example/App:v1",
            "reg.example/app:-v",
            "reg.example/app@sha256:00",
            "reg.example/app:v1?x",
            "",
        ] {
            assert!(RegistryRef::parse(bad).is_err(), "{bad}");
        }
    }
}
