//! The OCI layouts of ../shared/notation-data (made by the real notation CLI), used in place, with
//! the digests its README lists for each, and a small builder of layouts for hostile cases.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ring::digest::{digest, SHA256};
use trustpin::fetch::oci::{OciSource, Reference};
use trustpin::reference::Digest;

/// `../shared/notation-data`, beside the project. Panics (never skips) when it is absent.
pub fn notation_data() -> PathBuf {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/notation-data"
    ));
    assert!(
        p.join("oci_layout").is_dir(),
        "{} is missing: these tests need the shared Notation data beside the project",
        p.display()
    );
    p
}

/// `../shared/notation-data/oci_layout/<name>`.
/// `../shared/notation-data/truststores/<name>`, as a `--trust-store` argument.
pub fn truststore(name: &str) -> String {
    notation_data()
        .join("truststores")
        .join(name)
        .display()
        .to_string()
}

/// A Notation statement of trustpin's policy file for `scopes`: strict, the shared `e2e` trust
/// store (`ca:e2e`), the e2e signer's subject as the trusted identity.
pub fn e2e_statement(name: &str, scopes: &[String]) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "registryScopes": scopes,
        "signatureVerification": {"level": "strict"},
        "trustStores": ["ca:e2e"],
        "trustedIdentities": ["x509.subject: C=US, ST=WA, L=Seattle, O=Notary, CN=e2e"],
        "trustStore": truststore("e2e"),
    })
}

pub fn layout_path(name: &str) -> PathBuf {
    notation_data().join("oci_layout").join(name)
}

/// The artifact that all but one layout sign (tag `v1`).
pub const ARTIFACT: &str =
    "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9";
pub const ARTIFACT_SIZE: u64 = 517;
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const SIGNATURE: &str = "application/vnd.cncf.notary.signature";

/// One shared layout and what README says it holds.
#[derive(Debug, Clone, Copy)]
pub struct SharedLayout {
    pub name: &'static str,
    /// Tag `v1` → this digest, of this size.
    pub artifact: &'static str,
    pub artifact_size: u64,
    /// The signature manifests (referrers of the artifact), if any.
    pub signatures: &'static [&'static str],
    /// The tag-schema index notation wrote (`sha256-<hex>` in index.json), if any.
    pub tag_index: Option<&'static str>,
    /// The tag-schema index that pushing builds when the layout has none (README).
    pub pushed_index: Option<&'static str>,
}

/// Every layout of the shared folder.
pub const SHARED_LAYOUTS: [SharedLayout; 6] = [
    SharedLayout {
        name: "e2e",
        artifact: ARTIFACT,
        artifact_size: ARTIFACT_SIZE,
        signatures: &[],
        tag_index: None,
        pushed_index: None,
    },
    SharedLayout {
        name: "e2e-valid-signature",
        artifact: ARTIFACT,
        artifact_size: ARTIFACT_SIZE,
        signatures: &["sha256:90ceaff260d657d797c408ac73564a9c7bb9d86055877c2a811f0e63b8c6524f"],
        tag_index: Some("sha256:13e107e0dd246f07ff18998a3d39e226965c41477a1bc1765f7617632ff3f283"),
        pushed_index: None,
    },
    SharedLayout {
        name: "e2e-expired-signature",
        artifact: ARTIFACT,
        artifact_size: ARTIFACT_SIZE,
        signatures: &["sha256:3829708badae8e4b14e1adbc2fac7182bc0c27c5b6f54153e8b68a12eab10a1e"],
        tag_index: Some("sha256:9567ef95679c34ba6deedf8ff1a43e17f889f83ee4276c070f7f5c97bad66030"),
        pushed_index: None,
    },
    SharedLayout {
        name: "e2e-invalid-signature",
        artifact: ARTIFACT,
        artifact_size: ARTIFACT_SIZE,
        signatures: &["sha256:321fcc674d6771dd0e5bd21e599f2df3a482de99a400fd3a3fe371221b97a9c9"],
        tag_index: Some("sha256:a045c6c6d90c1183b27b6759500aa5996b90701759d4d149f7b540e59f0b632a"),
        pushed_index: None,
    },
    SharedLayout {
        name: "e2e-with-expired-cert",
        artifact: ARTIFACT,
        artifact_size: ARTIFACT_SIZE,
        signatures: &["sha256:b06e392c2d88206b492dbaf5381800578611eb24f86587bc7717cd3b736e5da7"],
        tag_index: Some("sha256:2396c911429d6ca56ad6c98143e38e319d90165aa43c2089c9078905253b0f6c"),
        pushed_index: None,
    },
    SharedLayout {
        name: "e2e-with-timestamped-signature",
        artifact: "sha256:53b0191218aed9a3c1f7c661736ac40cfc8eb928642348fd843ba3f0483c0c20",
        artifact_size: 582,
        signatures: &["sha256:6a5cd3a886707a317935dcaf13954fc80ef9aeb665262b6ae4fe469ad7ea3aea"],
        tag_index: None,
        pushed_index: Some(
            "sha256:e30a522e4bced3e9aaf86883ba61f2ba37dd6bf201d0c9502d4cb62cad8795a0",
        ),
    },
];

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(digest(&SHA256, bytes)))
}

/// `bytes` as JSON when they are a manifest or an index (schemaVersion 2 with layers or
/// manifests), as pushing a layout tells manifests from other blobs.
pub fn as_manifest(bytes: &[u8]) -> Option<serde_json::Value> {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .filter(|v| {
            v["schemaVersion"] == 2 && (v.get("layers").is_some() || v.get("manifests").is_some())
        })
}

/// A layout written by a test, one blob at a time (independent of the code under test).
pub struct LayoutBuilder {
    pub dir: tempfile::TempDir,
    /// index.json's `manifests`.
    pub index: Vec<serde_json::Value>,
}

impl LayoutBuilder {
    pub fn new() -> LayoutBuilder {
        let dir = tempfile::Builder::new()
            .prefix("trustpin-oci-layout-")
            .tempdir()
            .unwrap();
        std::fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
        std::fs::write(
            dir.path().join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        LayoutBuilder {
            dir,
            index: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir
            .path()
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    /// Writes a blob; returns its digest.
    pub fn blob(&self, bytes: &[u8]) -> String {
        let d = sha256(bytes);
        std::fs::write(self.blob_path(&d), bytes).unwrap();
        d
    }

    /// Writes a manifest blob; returns its descriptor (media type, digest, size).
    pub fn manifest(&self, value: &serde_json::Value) -> serde_json::Value {
        let bytes = serde_json::to_vec(value).unwrap();
        let d = self.blob(&bytes);
        serde_json::json!({
            "mediaType": value["mediaType"].as_str().unwrap_or(OCI_MANIFEST),
            "digest": d,
            "size": bytes.len(),
        })
    }

    /// Adds `descriptor` to index.json, with a tag when given.
    pub fn add(&mut self, mut descriptor: serde_json::Value, tag: Option<&str>) {
        if let Some(tag) = tag {
            descriptor["annotations"] =
                serde_json::json!({"org.opencontainers.image.ref.name": tag});
        }
        self.index.push(descriptor);
    }

    /// Adds the test artifact (an `application/example` image whose layer is `artifact`) to the
    /// index, tagged `v1`; returns its descriptor, for signatures to name as their subject.
    pub fn artifact_tagged_v1(&mut self) -> serde_json::Value {
        let artifact = self.image(
            b"artifact",
            None,
            Some("application/example"),
            BTreeMap::new(),
        );
        let desc = self.manifest(&artifact);
        self.add(desc.clone(), Some("v1"));
        desc
    }

    /// Writes index.json.
    pub fn write_index(&self) {
        let index = serde_json::json!({"schemaVersion": 2, "manifests": self.index});
        std::fs::write(
            self.dir.path().join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    }

    /// An image manifest with one layer (`layer`), optionally with a subject and artifactType.
    pub fn image(
        &self,
        layer: &[u8],
        subject: Option<&serde_json::Value>,
        artifact_type: Option<&str>,
        annotations: BTreeMap<String, String>,
    ) -> serde_json::Value {
        let config = self.blob(b"{}");
        let layer_digest = self.blob(layer);
        let mut m = image_manifest(&config, &layer_digest, layer.len(), subject, artifact_type);
        if !annotations.is_empty() {
            m["annotations"] = serde_json::to_value(annotations).unwrap();
        }
        m
    }
}

/// An image manifest with the empty config (`{}`, stored as `config`) and one JSON layer (stored
/// as `layer`, `layer_len` bytes), optionally with a subject and artifactType.
pub fn image_manifest(
    config: &str,
    layer: &str,
    layer_len: usize,
    subject: Option<&serde_json::Value>,
    artifact_type: Option<&str>,
) -> serde_json::Value {
    let mut m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2},
        "layers": [{"mediaType": "application/jose+json", "digest": layer, "size": layer_len}],
    });
    if let Some(s) = subject {
        m["subject"] = s.clone();
    }
    if let Some(t) = artifact_type {
        m["artifactType"] = serde_json::Value::String(t.into());
    }
    m
}

impl Default for LayoutBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// A verifier's fetches for `reference` in `repo`, each at most 4 MiB: the manifest and its
/// [`SIGNATURE`] referrers (there must be `signatures` of them), the signature manifests, the
/// envelopes.
pub fn fetch_as_verifier<S: OciSource + ?Sized>(
    src: &S,
    repo: &str,
    reference: &Reference,
    signatures: usize,
) {
    const MAX: u64 = 4 * 1024 * 1024;
    let (m, referrers) = src.manifest_and_referrers(repo, reference, MAX, Some(SIGNATURE), 100);
    m.unwrap();
    let referrers = referrers.unwrap().unwrap();
    assert_eq!(referrers.len(), signatures);
    let wanted: Vec<(Reference, u64)> = referrers
        .iter()
        .map(|d| (Reference::Digest(d.digest), MAX))
        .collect();
    let layers: Vec<(Digest, u64)> = src
        .manifests_many(repo, &wanted)
        .into_iter()
        .map(|m| (m.unwrap().fields("sig").unwrap().layers[0].digest, MAX))
        .collect();
    for b in src.blobs_many(repo, &layers) {
        b.unwrap();
    }
}
