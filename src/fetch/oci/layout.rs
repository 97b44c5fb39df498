//! An OCI image layout folder as an [`OciSource`]: `oci-layout` (`imageLayoutVersion` 1.0.0),
//! `index.json` (an image index), `blobs/sha256/<hex>`.
//!
//! - A tag is the `org.opencontainers.image.ref.name` annotation of a descriptor in index.json,
//!   matched exactly (as oras-go's OCI store, which `notation verify --oci-layout` uses, does). A
//!   tag given to two different manifests is refused as ambiguous ([`OciError::AmbiguousTag`]).
//! - Referrers are found as oras-go finds them in a layout: every manifest reachable from
//!   index.json (through index `manifests` and through `subject`) is read once, and those whose
//!   `subject` is the digest are its referrers, described as the referrers API would
//!   ([`Descriptor::of_referrer`]). A referrers tag-schema index (`sha256-<hex>`) in index.json
//!   is reached that way too, so its signatures are found; a layout without one (notation-go
//!   1.3 writes none) is still complete. The walk is bounded ([`SCAN_MAX_NODES`],
//!   [`SCAN_MAX_BYTES`], [`SCAN_MANIFEST_MAX`]) and done once per source.
//! - Every file is opened through its canonical path, which must lie inside the layout folder (a
//!   symlink to elsewhere is [`OciError::Escape`]) and be a regular file; every read is bounded
//!   before and while it happens; every blob must hash to its name.
//! - A layout holds one repository: the `repo` argument of [`OciSource`] is ignored (the caller
//!   matches its policy against a scope of its own, as `notation verify --scope`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use super::{
    check_digest, check_reference, filter_type, is_index, is_manifest_type, manifest_media_type,
    Descriptor, Manifest, ManifestFields, OciError, OciSource, Reference, REF_NAME,
};
use crate::reference::Digest;

/// Largest `oci-layout` file read.
pub const OCI_LAYOUT_MAX: u64 = 4 * 1024;
/// Largest `index.json` read.
pub const INDEX_MAX: u64 = 4 * 1024 * 1024;
/// Largest manifest read while looking for referrers (notation's manifest limit).
pub const SCAN_MANIFEST_MAX: u64 = 4 * 1024 * 1024;
/// Most manifests read while looking for referrers.
pub const SCAN_MAX_NODES: usize = 10_000;
/// Most bytes read, all manifests together, while looking for referrers.
pub const SCAN_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// The one layout version accepted (oras-go accepts only it too).
const LAYOUT_VERSION: &str = "1.0.0";

/// An OCI image layout folder. Opening reads `oci-layout` and `index.json`; blobs are read when
/// asked for. Cheap to share between threads.
#[derive(Debug)]
pub struct LayoutSource {
    /// The folder, canonical: every file read must resolve inside it.
    root: PathBuf,
    /// The folder as given, for messages.
    shown: String,
    /// index.json's descriptors (sha256 ones).
    index: Vec<Descriptor>,
    /// Referrers per subject, once the walk was made.
    referrers: Mutex<Option<Arc<Referrers>>>,
}

type Referrers = HashMap<Digest, Vec<Descriptor>>;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LayoutFile {
    image_layout_version: String,
}

impl LayoutSource {
    /// Opens the layout at `path`: it must be a folder with a valid `oci-layout` and
    /// `index.json`.
    pub fn open(path: impl AsRef<Path>) -> Result<LayoutSource, OciError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let not_layout = |reason: String| OciError::NotLayout {
            location: shown.clone(),
            reason,
        };
        let root = fs::canonicalize(path).map_err(|e| not_layout(e.to_string()))?;
        if !root.is_dir() {
            return Err(not_layout("it is not a folder".into()));
        }
        let mut source = LayoutSource {
            root,
            shown: shown.clone(),
            index: Vec::new(),
            referrers: Mutex::new(None),
        };
        let layout_loc = source.path_shown("oci-layout");
        let layout = source
            .read(Path::new("oci-layout"), OCI_LAYOUT_MAX)
            .map_err(|e| match e {
                OciError::NotFound { .. } => not_layout("it has no oci-layout file".into()),
                other => other,
            })?;
        let layout: LayoutFile =
            serde_json::from_slice(&layout).map_err(|e| OciError::Malformed {
                location: layout_loc.clone(),
                what: "oci-layout file",
                reason: e.to_string(),
            })?;
        if layout.image_layout_version != LAYOUT_VERSION {
            return Err(not_layout(format!(
                "imageLayoutVersion is {:?}; only {LAYOUT_VERSION:?} is supported",
                layout.image_layout_version
            )));
        }
        let index_loc = source.path_shown("index.json");
        let index = source.read(Path::new("index.json"), INDEX_MAX)?;
        source.index = ManifestFields::parse(&index, &index_loc)?.manifests;
        Ok(source)
    }

    /// The folder as given.
    pub fn path(&self) -> &str {
        &self.shown
    }

    /// index.json's descriptors (those with a sha256 digest), in its order.
    pub fn index(&self) -> &[Descriptor] {
        &self.index
    }

    fn path_shown(&self, rel: &str) -> String {
        format!("{}/{rel}", self.shown.trim_end_matches('/'))
    }

    fn blob_rel(digest: &Digest) -> PathBuf {
        Path::new("blobs").join("sha256").join(digest.hex())
    }

    fn blob_shown(&self, digest: &Digest) -> String {
        self.path_shown(&format!("blobs/sha256/{}", digest.hex()))
    }

    /// Reads `rel` (inside the folder, a regular file) whole, at most `max_len` bytes.
    fn read(&self, rel: &Path, max_len: u64) -> Result<Vec<u8>, OciError> {
        let location = self.path_shown(&rel.to_string_lossy());
        let canonical = fs::canonicalize(self.root.join(rel)).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                OciError::NotFound {
                    location: location.clone(),
                }
            } else {
                OciError::Io {
                    location: location.clone(),
                    source,
                }
            }
        })?;
        if !canonical.starts_with(&self.root) {
            return Err(OciError::Escape {
                location,
                reason: format!(
                    "it resolves to {}, outside the layout folder",
                    canonical.display()
                ),
            });
        }
        let io = |source| OciError::Io {
            location: location.clone(),
            source,
        };
        let file = fs::File::open(&canonical).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(OciError::Escape {
                location,
                reason: "not a regular file".into(),
            });
        }
        let too_large = || OciError::TooLarge {
            location: location.clone(),
            limit: max_len,
        };
        if meta.len() > max_len {
            return Err(too_large());
        }
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.take(max_len.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > max_len {
            return Err(too_large());
        }
        Ok(bytes)
    }

    /// The blob `digest`, at most `max_len` bytes, hash-checked.
    fn read_blob(&self, digest: &Digest, max_len: u64) -> Result<Vec<u8>, OciError> {
        let bytes = self.read(&Self::blob_rel(digest), max_len)?;
        check_digest(&self.blob_shown(digest), &bytes, digest)?;
        Ok(bytes)
    }

    /// The blob a descriptor names: its size is checked before and after reading.
    fn read_described(&self, d: &Descriptor, max_len: u64) -> Result<Vec<u8>, OciError> {
        if d.size > max_len {
            return Err(OciError::TooLarge {
                location: self.blob_shown(&d.digest),
                limit: max_len,
            });
        }
        let bytes = self.read_blob(&d.digest, max_len)?;
        if bytes.len() as u64 != d.size {
            return Err(OciError::SizeMismatch {
                location: self.blob_shown(&d.digest),
                expected: d.size,
                got: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }

    /// index.json's one descriptor for `tag`.
    fn tagged(&self, tag: &str) -> Result<&Descriptor, OciError> {
        let found: Vec<&Descriptor> = self
            .index
            .iter()
            .filter(|d| d.annotations.get(REF_NAME).map(String::as_str) == Some(tag))
            .collect();
        let Some(first) = found.first() else {
            return Err(OciError::NotFound {
                location: format!("{} (index.json has no tag {tag:?})", self.shown),
            });
        };
        let mut digests: Vec<Digest> = found.iter().map(|d| d.digest).collect();
        digests.sort();
        digests.dedup();
        if digests.len() > 1 {
            return Err(OciError::AmbiguousTag {
                location: self.path_shown("index.json"),
                tag: tag.to_owned(),
                digests,
            });
        }
        Ok(first)
    }

    /// Referrers per subject: the walk over every manifest reachable from index.json, made once.
    fn referrer_map(&self) -> Result<Arc<Referrers>, OciError> {
        let mut cached = self
            .referrers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(map) = &*cached {
            return Ok(map.clone());
        }
        let map = Arc::new(self.walk()?);
        *cached = Some(map.clone());
        Ok(map)
    }

    fn walk(&self) -> Result<Referrers, OciError> {
        let mut map: Referrers = HashMap::new();
        let mut seen: HashSet<Digest> = HashSet::new();
        let mut queue: VecDeque<Descriptor> = self.index.iter().cloned().collect();
        let mut bytes_read: u64 = 0;
        while let Some(node) = queue.pop_front() {
            if !is_manifest_type(&node.media_type) || !seen.insert(node.digest) {
                continue;
            }
            if seen.len() > SCAN_MAX_NODES {
                return Err(OciError::Endless {
                    location: self.shown.clone(),
                    limit: SCAN_MAX_NODES,
                    unit: "manifests",
                });
            }
            let bytes = match self.read_described(&node, SCAN_MANIFEST_MAX) {
                Ok(b) => b,
                // A subject (or index entry) the layout does not hold: nothing refers through it.
                Err(OciError::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            bytes_read += bytes.len() as u64;
            if bytes_read > SCAN_MAX_BYTES {
                return Err(OciError::Endless {
                    location: self.shown.clone(),
                    limit: (SCAN_MAX_BYTES / (1024 * 1024)) as usize,
                    unit: "MiB of manifests",
                });
            }
            let fields = ManifestFields::parse(&bytes, &self.blob_shown(&node.digest))?;
            if let Some(subject) = &fields.subject {
                map.entry(subject.digest)
                    .or_default()
                    .push(Descriptor::of_referrer(
                        &fields,
                        node.digest,
                        bytes.len() as u64,
                        &node.media_type,
                    ));
                queue.push_back(subject.clone());
            }
            let own_type = fields.media_type.as_deref().unwrap_or(&node.media_type);
            if is_index(own_type) {
                queue.extend(fields.manifests.iter().cloned());
            }
        }
        Ok(map)
    }
}

impl OciSource for LayoutSource {
    fn manifest(
        &self,
        _repo: &str,
        reference: &Reference,
        max_len: u64,
    ) -> Result<Manifest, OciError> {
        check_reference(reference)?;
        let (bytes, digest, announced) = match reference {
            Reference::Tag(tag) => {
                let d = self.tagged(tag)?;
                (
                    self.read_described(d, max_len)?,
                    d.digest,
                    Some(d.media_type.clone()),
                )
            }
            Reference::Digest(digest) => {
                let bytes = self.read_blob(digest, max_len)?;
                let announced = self
                    .index
                    .iter()
                    .find(|d| d.digest == *digest)
                    .map(|d| d.media_type.clone());
                (bytes, *digest, announced)
            }
        };
        let media_type =
            manifest_media_type(&self.blob_shown(&digest), announced.as_deref(), &bytes)?;
        Ok(Manifest {
            bytes,
            media_type,
            digest,
        })
    }

    fn blob(&self, _repo: &str, digest: &Digest, max_len: u64) -> Result<Vec<u8>, OciError> {
        self.read_blob(digest, max_len)
    }

    fn referrers(
        &self,
        _repo: &str,
        subject: &Digest,
        artifact_type: Option<&str>,
        max: usize,
    ) -> Result<Vec<Descriptor>, OciError> {
        let map = self.referrer_map()?;
        let mut found = filter_type(map.get(subject).cloned().unwrap_or_default(), artifact_type);
        if found.len() > max {
            found.truncate(max);
            return Err(OciError::TooManyReferrers {
                location: format!("{} (referrers of {subject})", self.shown),
                max,
                found,
            });
        }
        Ok(found)
    }

    /// `<folder>/<what>`.
    fn location(&self, _repo: &str, what: &str) -> String {
        self.path_shown(what)
    }
}
