//! The JSON of manifests and indexes, as far as referrers and signatures need it: descriptors,
//! [`ManifestFields`], and the media type a manifest is taken to have.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{is_manifest_type, Descriptor, OciError};
use crate::reference::Digest;

/// A descriptor as JSON has it; the digest is still text (another algorithm than sha256 may
/// appear in a list and is then skipped, see [`ManifestFields::parse`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: String,
    digest: String,
    size: u64,
    artifact_type: Option<String>,
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<u64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
    manifests: Option<Vec<RawDescriptor>>,
    subject: Option<RawDescriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

/// What a manifest or index says, as far as referrers and signatures need it. Descriptors whose
/// digest uses another algorithm than sha256 (which this crate cannot check) are left out of
/// `layers` and `manifests` and counted in `skipped`; a `config` or `subject` with one is an
/// error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestFields {
    pub media_type: Option<String>,
    pub artifact_type: Option<String>,
    pub config: Option<Descriptor>,
    pub layers: Vec<Descriptor>,
    pub manifests: Vec<Descriptor>,
    pub subject: Option<Descriptor>,
    pub annotations: BTreeMap<String, String>,
    pub skipped: usize,
}

impl ManifestFields {
    /// Parses a manifest or index (`schemaVersion` 2). Duplicate keys are refused (Go would take
    /// the last one, serde the first: the two readings must never differ).
    pub fn parse(bytes: &[u8], location: &str) -> Result<ManifestFields, OciError> {
        let malformed = |reason: String| OciError::Malformed {
            location: location.to_owned(),
            what: "manifest or index",
            reason,
        };
        let raw: RawManifest =
            serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
        if raw.schema_version != Some(2) {
            return Err(malformed(format!(
                "schemaVersion is {}, not 2",
                raw.schema_version
                    .map_or("missing".to_owned(), |v| v.to_string())
            )));
        }
        let one = |d: RawDescriptor, what: &str| {
            convert(d).ok_or_else(|| {
                malformed(format!("the {what} digest is not sha256:<64 hex digits>"))
            })
        };
        let mut skipped = 0;
        let mut many = |list: Option<Vec<RawDescriptor>>| -> Result<Vec<Descriptor>, OciError> {
            let mut out = Vec::new();
            for d in list.unwrap_or_default() {
                match convert(d.clone()) {
                    Some(d) => out.push(d),
                    None if is_other_algorithm(&d.digest) => skipped += 1,
                    None => {
                        return Err(malformed(format!("the digest {:?} is not valid", d.digest)))
                    }
                }
            }
            Ok(out)
        };
        let layers = many(raw.layers)?;
        let manifests = many(raw.manifests)?;
        Ok(ManifestFields {
            media_type: raw.media_type,
            artifact_type: raw.artifact_type,
            config: raw.config.map(|d| one(d, "config")).transpose()?,
            layers,
            manifests,
            subject: raw.subject.map(|d| one(d, "subject")).transpose()?,
            annotations: raw.annotations.unwrap_or_default(),
            skipped,
        })
    }
}

/// `algorithm:encoded` with an algorithm other than sha256 (e.g. sha512), well formed.
fn is_other_algorithm(digest: &str) -> bool {
    let Some((alg, enc)) = digest.split_once(':') else {
        return false;
    };
    alg != "sha256"
        && !alg.is_empty()
        && alg
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+._-".contains(&c))
        && !enc.is_empty()
        && enc
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"=_-".contains(&c))
}

fn convert(d: RawDescriptor) -> Option<Descriptor> {
    Some(Descriptor {
        media_type: d.media_type,
        digest: Digest::parse(&d.digest).ok()?,
        size: d.size,
        artifact_type: d.artifact_type,
        annotations: d.annotations.unwrap_or_default(),
    })
}

/// Keeps the descriptors of `artifact_type` (all when `None`).
pub(crate) fn filter_type(list: Vec<Descriptor>, artifact_type: Option<&str>) -> Vec<Descriptor> {
    match artifact_type {
        None => list,
        Some(t) => list
            .into_iter()
            .filter(|d| d.artifact_type.as_deref() == Some(t))
            .collect(),
    }
}

/// The media type of a manifest: the one announced (`announced`, e.g. Content-Type without
/// parameters, or a descriptor's) and its own `mediaType` must agree when both are there; one
/// of them must be there; and it must be a manifest type.
pub(crate) fn manifest_media_type(
    location: &str,
    announced: Option<&str>,
    bytes: &[u8],
) -> Result<String, OciError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Peek {
        media_type: Option<String>,
    }
    let content = serde_json::from_slice::<Peek>(bytes)
        .map_err(|e| OciError::Malformed {
            location: location.to_owned(),
            what: "manifest or index",
            reason: e.to_string(),
        })?
        .media_type;
    let announced = announced.map(str::trim).filter(|s| !s.is_empty());
    let media_type = match (announced, content) {
        (Some(a), Some(c)) if a != c => {
            return Err(OciError::MediaTypeMismatch {
                location: location.to_owned(),
                announced: a.to_owned(),
                content: c,
            })
        }
        (_, Some(c)) => c,
        (Some(a), None) => a.to_owned(),
        (None, None) => {
            return Err(OciError::Malformed {
                location: location.to_owned(),
                what: "manifest or index",
                reason: "no media type: neither announced nor in the manifest".into(),
            })
        }
    };
    if !is_manifest_type(&media_type) {
        return Err(OciError::UnsupportedMediaType {
            location: location.to_owned(),
            media_type,
        });
    }
    Ok(media_type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::oci::{OCI_INDEX, OCI_MANIFEST};

    #[test]
    fn fields_refuse_duplicates_and_skip_other_algorithms() {
        let dup = br#"{"schemaVersion":2,"mediaType":"a","mediaType":"b"}"#;
        assert!(ManifestFields::parse(dup, "x").is_err());
        let v1 = br#"{"schemaVersion":1}"#;
        assert!(ManifestFields::parse(v1, "x").is_err());
        let hex = "a".repeat(64);
        let doc = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"m","digest":"sha512:{}","size":1}},{{"mediaType":"m","digest":"sha256:{hex}","size":2,"artifactType":"t"}}]}}"#,
            "b".repeat(128)
        );
        let f = ManifestFields::parse(doc.as_bytes(), "x").unwrap();
        assert_eq!(f.skipped, 1);
        assert_eq!(f.manifests.len(), 1);
        assert_eq!(f.manifests[0].artifact_type.as_deref(), Some("t"));
        let bad =
            br#"{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"sha256:zz","size":1}]}"#;
        assert!(ManifestFields::parse(bad, "x").is_err());
        let negative = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"m","digest":"sha256:{hex}","size":-1}}]}}"#
        );
        assert!(ManifestFields::parse(negative.as_bytes(), "x").is_err());
    }

    #[test]
    fn media_types_must_agree() {
        let m = format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}"}}"#);
        assert_eq!(
            manifest_media_type("x", Some(OCI_MANIFEST), m.as_bytes()).unwrap(),
            OCI_MANIFEST
        );
        assert_eq!(
            manifest_media_type("x", None, m.as_bytes()).unwrap(),
            OCI_MANIFEST
        );
        assert!(matches!(
            manifest_media_type("x", Some(OCI_INDEX), m.as_bytes()),
            Err(OciError::MediaTypeMismatch { .. })
        ));
        let bare = br#"{"schemaVersion":2}"#;
        assert_eq!(
            manifest_media_type("x", Some(OCI_INDEX), bare).unwrap(),
            OCI_INDEX
        );
        assert!(manifest_media_type("x", None, bare).is_err());
        assert!(matches!(
            manifest_media_type("x", Some("application/json"), bare),
            Err(OciError::UnsupportedMediaType { .. })
        ));
    }
}
