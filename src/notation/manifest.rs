//! Signature manifests: the OCI manifest that refers to the artifact (its `subject`) and holds
//! exactly one layer, the envelope. Reading one says which blob to fetch and how large it may
//! be; the envelope's media type is judged when it is opened (an unknown one fails integrity).

use serde::Deserialize;

use crate::reference::Digest;

/// The artifact type of a Notary Project signature (its `artifactType`, or its config's media
/// type in the image-manifest form).
pub const ARTIFACT_TYPE_SIGNATURE: &str = "application/vnd.cncf.notary.signature";
/// A signature manifest larger than this is refused (notation-go's manifest limit).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// Where a signature's envelope is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureManifest {
    /// The one layer: the envelope blob.
    pub envelope: EnvelopeBlob,
    /// The artifact the manifest says it signs.
    pub subject: Option<Digest>,
    /// `artifactType`, else the config's media type.
    pub artifact_type: Option<String>,
}

/// The envelope's layer descriptor: its media type says which envelope format opens it; the
/// digest and size say what to fetch and how much.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeBlob {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    artifact_type: Option<String>,
    config: Option<WireDescriptor>,
    layers: Option<Vec<WireDescriptor>>,
    subject: Option<WireDescriptor>,
}

/// An OCI descriptor as it stands in JSON: in a manifest, and as a signature payload's
/// `targetArtifact` (the envelope reads it too, so the two cannot drift).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireDescriptor {
    pub(super) media_type: String,
    pub(super) digest: String,
    pub(super) size: u64,
    pub(super) annotations: Option<std::collections::BTreeMap<String, String>>,
}

/// Why a signature manifest cannot be used (an integrity failure of that signature).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("the signature manifest is {len} bytes, more than the {MAX_MANIFEST_BYTES} allowed")]
    TooLarge { len: usize },
    #[error("the signature manifest does not parse: {0}")]
    Malformed(String),
    #[error("signature manifest requires exactly one signature envelope blob, got {0}")]
    Layers(usize),
    #[error("the signature envelope blob is {size} bytes, more than the {max} allowed")]
    EnvelopeTooLarge { size: u64, max: usize },
}

impl SignatureManifest {
    /// Read a signature manifest; its envelope may be at most `max_envelope` bytes.
    pub fn parse(bytes: &[u8], max_envelope: usize) -> Result<SignatureManifest, ManifestError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge { len: bytes.len() });
        }
        let wire: Wire =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed(e.to_string()))?;
        let layers = wire.layers.unwrap_or_default();
        let [layer] = layers.as_slice() else {
            return Err(ManifestError::Layers(layers.len()));
        };
        if layer.size > max_envelope as u64 {
            return Err(ManifestError::EnvelopeTooLarge {
                size: layer.size,
                max: max_envelope,
            });
        }
        let digest =
            |s: &str| Digest::parse(s).map_err(|e| ManifestError::Malformed(e.to_string()));
        Ok(SignatureManifest {
            envelope: EnvelopeBlob {
                media_type: layer.media_type.clone(),
                digest: digest(&layer.digest)?,
                size: layer.size,
            },
            subject: wire
                .subject
                .as_ref()
                .map(|s| digest(&s.digest))
                .transpose()?,
            artifact_type: wire.artifact_type.or(wire.config.map(|c| c.media_type)),
        })
    }

    /// Is this a Notary Project signature (by artifact type)?
    pub fn is_notation_signature(&self) -> bool {
        self.artifact_type.as_deref() == Some(ARTIFACT_TYPE_SIGNATURE)
    }
}
