//! Where Notation signatures come from: manifests, blobs and referrers of OCI content, through
//! one trait, [`OciSource`], with two implementations:
//! - [`layout::LayoutSource`], an OCI image layout folder (`oci-layout`, `index.json`,
//!   `blobs/sha256/<hex>`), as `notation verify --oci-layout` reads it;
//! - [`registry::RegistrySource`], a registry over the distribution API, on the crate's HTTP
//!   stack ([`crate::fetch::http`]: bounded exchanges, token and Basic auth, credentials).
//!
//! Guarantees, whatever the folder or server holds:
//! - every digest is computed here: a manifest fetched by digest must hash to it, a manifest
//!   fetched by tag gets the digest of its bytes (the `Docker-Content-Digest` header is never
//!   read), a blob must hash to the digest asked for;
//! - every read is bounded by the `max_len` the caller gives (a longer one is
//!   [`OciError::TooLarge`], never truncated), every list by a count, every walk by a count of
//!   steps; nothing is followed forever;
//! - every error names the URL or path it is about ([`OciError`]), and says what it means
//!   through [`crate::failure::Classify`].
//!
//! Referrers are what the distribution spec calls them: the manifests whose `subject` is the
//! digest, described as the referrers API describes them ([`Descriptor::of_referrer`]: the
//! manifest's media type, digest, size, `artifactType` (else the config's media type) and
//! annotations).

use std::collections::BTreeMap;
use std::fmt;

use crate::fetch::SourceError;
use crate::reference::{self, Digest};

mod fields;
pub mod layout;
pub mod registry;

pub use self::fields::ManifestFields;
pub(crate) use self::fields::{filter_type, manifest_media_type};
pub use self::layout::LayoutSource;
pub use self::registry::{RegistryOptions, RegistrySource};

/// `application/vnd.oci.image.manifest.v1+json`
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// `application/vnd.oci.image.index.v1+json`
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// `application/vnd.docker.distribution.manifest.v2+json`
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// `application/vnd.docker.distribution.manifest.list.v2+json`
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The artifact type of a Notation signature manifest: `application/vnd.cncf.notary.signature`.
pub const NOTATION_SIGNATURE: &str = "application/vnd.cncf.notary.signature";
/// The index.json annotation that names a tag in an OCI layout.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The manifest media types asked for and accepted: OCI manifest and index, Docker v2 manifest
/// and manifest list.
pub const MANIFEST_TYPES: [&str; 4] = [
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

/// Whether `media_type` is an image index (OCI index or Docker manifest list).
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// Whether `media_type` is one of [`MANIFEST_TYPES`].
pub fn is_manifest_type(media_type: &str) -> bool {
    MANIFEST_TYPES.contains(&media_type)
}

/// A tag or a digest: what a manifest is asked for by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    /// A tag, `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}` (checked before it becomes part of a URL).
    Tag(String),
    Digest(Digest),
}

impl Reference {
    /// The tag-schema tag of the referrers of `digest`: `sha256-<hex>`.
    pub fn referrers_tag(digest: &Digest) -> Reference {
        Reference::Tag(format!("sha256-{}", digest.hex()))
    }

    /// The digest, when this is one.
    pub fn digest(&self) -> Option<&Digest> {
        match self {
            Reference::Digest(d) => Some(d),
            Reference::Tag(_) => None,
        }
    }

    /// As it goes into a URL path: the tag, or `sha256:<hex>`.
    pub fn as_path(&self) -> String {
        match self {
            Reference::Tag(t) => t.clone(),
            Reference::Digest(d) => d.to_string(),
        }
    }
}

impl fmt::Display for Reference {
    /// `:tag` or `@sha256:<hex>`, as it follows a name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => write!(f, ":{t}"),
            Reference::Digest(d) => write!(f, "@{d}"),
        }
    }
}

/// An OCI content descriptor (as far as verification needs one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub artifact_type: Option<String>,
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// The descriptor the referrers API gives for the manifest `bytes` (digest `digest`):
    /// media type from the manifest (else `fallback_media_type`), `artifactType` from the
    /// manifest, else its config's media type (image manifests only), and its annotations.
    pub fn of_referrer(
        fields: &ManifestFields,
        digest: Digest,
        size: u64,
        fallback_media_type: &str,
    ) -> Descriptor {
        let media_type = fields
            .media_type
            .clone()
            .unwrap_or_else(|| fallback_media_type.to_owned());
        let artifact_type = fields.artifact_type.clone().or_else(|| {
            if is_index(&media_type) {
                None
            } else {
                fields.config.as_ref().map(|c| c.media_type.clone())
            }
        });
        Descriptor {
            media_type,
            digest,
            size,
            artifact_type,
            annotations: fields.annotations.clone(),
        }
    }
}

/// A manifest as fetched: its bytes, its media type, and the SHA-256 of the bytes (computed
/// here, never taken from a server).
#[derive(Clone, PartialEq, Eq)]
pub struct Manifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

impl fmt::Debug for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manifest")
            .field("media_type", &self.media_type)
            .field("digest", &self.digest)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl Manifest {
    /// The descriptor of this manifest (media type, digest, size; no annotations).
    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest,
            size: self.bytes.len() as u64,
            artifact_type: None,
            annotations: BTreeMap::new(),
        }
    }

    /// The manifest's fields ([`ManifestFields::parse`]); `location` names it in errors.
    pub fn fields(&self, location: &str) -> Result<ManifestFields, OciError> {
        ManifestFields::parse(&self.bytes, location)
    }
}

/// The SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    Digest(out)
}

/// `bytes` must hash to `expected`.
pub fn check_digest(location: &str, bytes: &[u8], expected: &Digest) -> Result<(), OciError> {
    let got = sha256(bytes);
    if got == *expected {
        Ok(())
    } else {
        Err(OciError::DigestMismatch {
            location: location.to_owned(),
            expected: *expected,
            got,
        })
    }
}

/// A manifest, and the referrers of its digest when the manifest could be had
/// ([`OciSource::manifest_and_referrers`]).
pub type WithReferrers = (
    Result<Manifest, OciError>,
    Option<Result<Vec<Descriptor>, OciError>>,
);

/// Fetches OCI content. `repo` is the repository path in the registry (`team/app`, no host);
/// a layout holds one repository and ignores it (the caller matches its policy against a scope of
/// its own, as `notation verify --oci-layout --scope`).
///
/// Every method reads at most the `max_len` (or `max`) it is given.
pub trait OciSource: Send + Sync {
    /// The manifest `reference` names, at most `max_len` bytes. By digest: the bytes must hash
    /// to it. By tag: the digest is computed from the bytes; the `Docker-Content-Digest` header
    /// is never trusted. The media type is the one announced (Content-Type, or the index.json
    /// descriptor) and must agree with the manifest's own `mediaType` when it has one.
    fn manifest(
        &self,
        repo: &str,
        reference: &Reference,
        max_len: u64,
    ) -> Result<Manifest, OciError>;

    /// The blob `digest`, at most `max_len` bytes, hash-checked.
    fn blob(&self, repo: &str, digest: &Digest, max_len: u64) -> Result<Vec<u8>, OciError>;

    /// The referrers of `subject` with that `artifact_type` (all when `None`), at most `max`.
    /// More than `max` is [`OciError::TooManyReferrers`], which carries the first `max` (a
    /// caller may still try them, as notation does up to its limit).
    fn referrers(
        &self,
        repo: &str,
        subject: &Digest,
        artifact_type: Option<&str>,
        max: usize,
    ) -> Result<Vec<Descriptor>, OciError>;

    /// Several manifests at once (reference and `max_len` each); results in the order asked.
    /// The registry overlaps the requests (one round-trip wave); the default asks in turn.
    fn manifests_many(
        &self,
        repo: &str,
        wanted: &[(Reference, u64)],
    ) -> Vec<Result<Manifest, OciError>> {
        wanted
            .iter()
            .map(|(r, max)| self.manifest(repo, r, *max))
            .collect()
    }

    /// Several blobs at once (digest and `max_len` each); results in the order asked.
    fn blobs_many(&self, repo: &str, wanted: &[(Digest, u64)]) -> Vec<Result<Vec<u8>, OciError>> {
        wanted
            .iter()
            .map(|(d, max)| self.blob(repo, d, *max))
            .collect()
    }

    /// The manifest `reference` names and the referrers of its digest, in as few waves as can
    /// be: for a digest the registry asks both at once (one wave), for a tag the manifest comes
    /// first (its digest is only known from its bytes). The referrers are not looked up when
    /// the manifest fails.
    fn manifest_and_referrers(
        &self,
        repo: &str,
        reference: &Reference,
        max_len: u64,
        artifact_type: Option<&str>,
        max: usize,
    ) -> WithReferrers {
        let manifest = self.manifest(repo, reference, max_len);
        with_referrers(self, repo, manifest, artifact_type, max)
    }

    /// Where that content lives (URL or path), for messages.
    fn location(&self, repo: &str, what: &str) -> String;
}

/// `manifest` (as fetched) and, when it came, the referrers of its digest: the second step of
/// [`OciSource::manifest_and_referrers`] done in two.
pub(crate) fn with_referrers<S: OciSource + ?Sized>(
    source: &S,
    repo: &str,
    manifest: Result<Manifest, OciError>,
    artifact_type: Option<&str>,
    max: usize,
) -> WithReferrers {
    let referrers = match &manifest {
        Ok(m) => Some(source.referrers(repo, &m.digest, artifact_type, max)),
        Err(_) => None,
    };
    (manifest, referrers)
}

/// A reference, box or `Arc` of a source fetches as that source.
macro_rules! forward_oci_source {
    ($($pointer:ty),*) => {$(
        impl<S: OciSource + ?Sized> OciSource for $pointer {
            fn manifest(&self, repo: &str, reference: &Reference, max_len: u64) -> Result<Manifest, OciError> {
                (**self).manifest(repo, reference, max_len)
            }
            fn blob(&self, repo: &str, digest: &Digest, max_len: u64) -> Result<Vec<u8>, OciError> {
                (**self).blob(repo, digest, max_len)
            }
            fn referrers(&self, repo: &str, subject: &Digest, artifact_type: Option<&str>, max: usize) -> Result<Vec<Descriptor>, OciError> {
                (**self).referrers(repo, subject, artifact_type, max)
            }
            fn manifests_many(&self, repo: &str, wanted: &[(Reference, u64)]) -> Vec<Result<Manifest, OciError>> {
                (**self).manifests_many(repo, wanted)
            }
            fn blobs_many(&self, repo: &str, wanted: &[(Digest, u64)]) -> Vec<Result<Vec<u8>, OciError>> {
                (**self).blobs_many(repo, wanted)
            }
            fn manifest_and_referrers(&self, repo: &str, reference: &Reference, max_len: u64, artifact_type: Option<&str>, max: usize) -> WithReferrers {
                (**self).manifest_and_referrers(repo, reference, max_len, artifact_type, max)
            }
            fn location(&self, repo: &str, what: &str) -> String {
                (**self).location(repo, what)
            }
        }
    )*};
}

forward_oci_source!(&S, Box<S>, std::sync::Arc<S>);

/// Why OCI content could not be had. Every variant names the URL or path.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The HTTP exchange failed: connection, timeout, status, authentication (the error names
    /// the URL).
    #[error(transparent)]
    Http(SourceError),

    /// No such manifest, blob, tag or file (HTTP 404, or absent from the layout).
    #[error("{location}: not found")]
    NotFound { location: String },

    /// Longer than the limit (announced or read); nothing past `limit + 1` bytes was kept.
    #[error("{location}: larger than the limit of {limit} bytes; refused")]
    TooLarge { location: String, limit: u64 },

    /// The content does not hash to the digest it was asked for or described by.
    #[error("{location}: the content hashes to {got}, not to the expected {expected}; refused")]
    DigestMismatch {
        location: String,
        expected: Digest,
        got: Digest,
    },

    /// The content's length differs from its descriptor's size.
    #[error("{location}: the content is {got} bytes, its descriptor says {expected}; refused")]
    SizeMismatch {
        location: String,
        expected: u64,
        got: u64,
    },

    /// Not the JSON document it should be (manifest, index, `index.json`, `oci-layout`).
    #[error("{location}: not a valid {what}: {reason}")]
    Malformed {
        location: String,
        what: &'static str,
        reason: String,
    },

    /// The media type announced (Content-Type, or the descriptor) differs from the manifest's
    /// own `mediaType`.
    #[error(
        "{location}: announced as {announced:?}, but the manifest says its mediaType is \
         {content:?}; refused"
    )]
    MediaTypeMismatch {
        location: String,
        announced: String,
        content: String,
    },

    /// A manifest of a media type that is not an OCI or Docker v2 manifest or index.
    #[error("{location}: unsupported manifest media type {media_type:?} (expected one of {})", MANIFEST_TYPES.join(", "))]
    UnsupportedMediaType {
        location: String,
        media_type: String,
    },

    /// An OCI layout whose index.json gives one tag to several different manifests.
    #[error("{location}: the tag {tag:?} names {} different manifests ({}); refused as ambiguous", digests.len(), join(digests))]
    AmbiguousTag {
        location: String,
        tag: String,
        digests: Vec<Digest>,
    },

    /// More referrers than the caller's limit; `found` holds the first `max`.
    #[error("{location}: more than {max} referrers; only the first {max} were read")]
    TooManyReferrers {
        location: String,
        max: usize,
        found: Vec<Descriptor>,
    },

    /// A referrers list whose pages go on past [`registry::MAX_REFERRER_PAGES`], or a walk
    /// through a layout past its step limit: cut off.
    #[error("{location}: the listing goes on past {limit} {unit}; cut off")]
    Endless {
        location: String,
        limit: usize,
        unit: &'static str,
    },

    /// A `Link` to a next page that is not followed (another server, malformed, a loop).
    #[error("{location}: the next-page link {link:?} is not followed: {reason}")]
    BadLink {
        location: String,
        link: String,
        reason: String,
    },

    /// A path of the layout that leads outside it (a symlink), or is not a regular file.
    #[error("{location}: refused: {reason}")]
    Escape { location: String, reason: String },

    /// A file could not be read.
    #[error("{location}: {source}")]
    Io {
        location: String,
        #[source]
        source: std::io::Error,
    },

    /// The folder given is not an OCI image layout.
    #[error("{location}: not an OCI image layout: {reason}")]
    NotLayout { location: String, reason: String },

    /// A repository name or tag that is not valid; nothing was asked.
    #[error("invalid {what} {name:?}: {reason}")]
    BadName {
        what: &'static str,
        name: String,
        reason: String,
    },

    /// The overall deadline passed before this request could be made.
    #[error("{location}: the deadline for this verification passed before the request")]
    Deadline { location: String },
}

fn join(digests: &[Digest]) -> String {
    digests
        .iter()
        .map(Digest::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl From<SourceError> for OciError {
    /// HTTP 404 and an oversized body become this module's [`OciError::NotFound`] and
    /// [`OciError::TooLarge`] (one shape whatever the source); the rest stays as it was.
    fn from(e: SourceError) -> OciError {
        match e {
            SourceError::NotFound { location } => OciError::NotFound { location },
            SourceError::TooLarge { location, limit } => OciError::TooLarge { location, limit },
            other => OciError::Http(other),
        }
    }
}

impl OciError {
    /// No such manifest, blob, tag or file.
    pub fn is_not_found(&self) -> bool {
        matches!(self, OciError::NotFound { .. })
    }
}

/// Checks a repository path (`team/app`: lower-case path components separated by `/`, at most
/// 255 bytes, no host) before it becomes part of a URL.
pub fn check_repo(repo: &str) -> Result<(), OciError> {
    let bad = |reason: &str| OciError::BadName {
        what: "repository name",
        name: repo.to_owned(),
        reason: reason.to_owned(),
    };
    if repo.is_empty() {
        return Err(bad("it is empty"));
    }
    if repo.len() > reference::NAME_MAX_LEN {
        return Err(bad("it is longer than 255 bytes"));
    }
    if !repo.split('/').all(reference::is_path_component) {
        return Err(bad(
            "each '/'-separated component must be lower-case letters and digits separated by \
             '.', '_', '__' or dashes",
        ));
    }
    Ok(())
}

/// Checks a tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`) before it becomes part of a URL.
pub fn check_tag(tag: &str) -> Result<(), OciError> {
    let ok = !tag.is_empty()
        && tag.len() <= reference::TAG_MAX_LEN
        && tag
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        && tag
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(OciError::BadName {
            what: "tag",
            name: tag.to_owned(),
            reason:
                "a tag is 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
                    .into(),
        })
    }
}

pub(crate) fn check_reference(reference: &Reference) -> Result<(), OciError> {
    match reference {
        Reference::Tag(t) => check_tag(t),
        Reference::Digest(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_repos_are_checked() {
        for ok in ["v1", "sha256-abc", "_x", "A.b-c_9", &"a".repeat(128)] {
            check_tag(ok).unwrap();
        }
        for bad in [
            "",
            ".v",
            "-v",
            "a/b",
            "a:b",
            "a b",
            "a%2f",
            &"a".repeat(129),
        ] {
            assert!(check_tag(bad).is_err(), "{bad}");
        }
        for ok in ["app", "team/app", "a.b/c_d/e--f"] {
            check_repo(ok).unwrap();
        }
        for bad in [
            "",
            "App",
            "localhost:5000/app",
            "a//b",
            "../x",
            "a/./b",
            "a?b",
            "/a",
        ] {
            assert!(check_repo(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<OciError>();
        assert_send_sync::<LayoutSource>();
    }
}
