//! A registry with the referrers API, emulated on a [`TestServer`] as the OCI distribution spec
//! (v1.1, "Listing Referrers") says, because no real registry with the API is at hand here
//! (docker-registry 2.8.2 has none):
//! - `GET /v2/<repo>/manifests/<tag|digest>`: the manifest, `Content-Type` its media type,
//!   `Docker-Content-Digest` its digest;
//! - `GET /v2/<repo>/blobs/<digest>`;
//! - `GET /v2/<repo>/referrers/<digest>[?artifactType=<t>]`: an OCI image index of the
//!   descriptors of the manifests whose `subject` is the digest (mediaType, digest, size,
//!   artifactType — the manifest's, else its config's media type — and annotations), 200 even
//!   when there are none; with `artifactType`, filtered and `OCI-Filters-Applied: artifactType`
//!   (unless [`Options::filter`] is off); [`Options::page_size`] descriptors a page, the next page
//!   named by `Link: <...>; rel="next"` (a relative URL, as distribution-spec allows);
//! - any other repository: 404 `NAME_UNKNOWN`; any other path: 404.
//!
//! Each answer can be delayed ([`Options::delay`]) to count round-trip waves by time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::oci_data::{image_manifest, sha256, OCI_INDEX, OCI_MANIFEST};
use super::server::{Reply, Request, Response, TestServer};

/// The one repository the emulated registry serves (`<host>/app`).
pub const REPO: &str = "app";
/// Descriptors per referrers page unless [`Options::page_size`] says otherwise.
pub const PAGE_SIZE: usize = 100;

/// How the emulated registry behaves; the default is a registry of the spec: the referrers API,
/// the artifactType filter applied, [`PAGE_SIZE`] pages, no delay, no auth.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Descriptors per referrers page (none: [`PAGE_SIZE`]).
    pub page_size: Option<usize>,
    /// Ignore the artifactType filter: the whole list is sent, and no filter is said applied.
    pub ignore_filter: bool,
    /// Wait this long before each answer.
    pub delay: Duration,
    /// No referrers API: 404 for it, as docker-registry 2.8.
    pub no_referrers_api: bool,
    /// Token auth: a request without `Authorization: Bearer` gets a 401 challenge naming this
    /// realm (the token itself is not checked: the issuer's own tests do that).
    pub bearer_realm: Option<String>,
}

#[derive(Default)]
struct Store {
    /// digest → (bytes, media type), in push order.
    manifests: Vec<(String, Vec<u8>, String)>,
    tags: BTreeMap<String, String>,
    blobs: BTreeMap<String, Vec<u8>>,
}

/// The emulated registry; dropping it stops it.
pub struct OciServer {
    pub server: TestServer,
    store: Arc<Mutex<Store>>,
    pub options: Options,
}

impl OciServer {
    pub fn start(options: Options) -> OciServer {
        Self::start_on(TestServer::start(), options)
    }

    /// The same on `server` (e.g. [`TestServer::start_tls`]).
    pub fn start_on(server: TestServer, options: Options) -> OciServer {
        let store: Arc<Mutex<Store>> = Arc::default();
        let (s, o) = (store.clone(), options.clone());
        server.fallback(move |req| {
            if !o.delay.is_zero() {
                std::thread::sleep(o.delay);
            }
            handle(&s.lock().unwrap(), &o, req)
        });
        OciServer {
            server,
            store,
            options,
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        self.server.addr().to_string()
    }

    pub fn blob(&self, bytes: &[u8]) -> String {
        let d = sha256(bytes);
        self.store
            .lock()
            .unwrap()
            .blobs
            .insert(d.clone(), bytes.to_vec());
        d
    }

    /// Stores a manifest (its `mediaType`, else OCI manifest); returns its descriptor.
    pub fn manifest(&self, value: &Value) -> Value {
        let bytes = serde_json::to_vec(value).unwrap();
        let media_type = value["mediaType"]
            .as_str()
            .unwrap_or(OCI_MANIFEST)
            .to_owned();
        let d = sha256(&bytes);
        let size = bytes.len();
        self.store
            .lock()
            .unwrap()
            .manifests
            .push((d.clone(), bytes, media_type.clone()));
        json!({"mediaType": media_type, "digest": d, "size": size})
    }

    /// Stores manifest `bytes` as they are; returns the digest.
    pub fn manifest_raw(&self, bytes: &[u8], media_type: &str) -> String {
        let d = sha256(bytes);
        self.store.lock().unwrap().manifests.push((
            d.clone(),
            bytes.to_vec(),
            media_type.to_owned(),
        ));
        d
    }

    /// Serves an OCI layout byte for byte: each blob that is a manifest (or index) as a
    /// manifest, the rest as blobs, and index.json's tags (`sha256-<hex>` tag-schema indexes
    /// left out: this registry has the API).
    pub fn load_layout(&self, layout: &std::path::Path) {
        for entry in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            match super::oci_data::as_manifest(&bytes) {
                Some(v) => {
                    self.manifest_raw(&bytes, v["mediaType"].as_str().unwrap_or(OCI_MANIFEST));
                }
                None => {
                    self.blob(&bytes);
                }
            }
        }
        let index: Value =
            serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        for m in index["manifests"].as_array().unwrap() {
            if let Some(tag) = m["annotations"]["org.opencontainers.image.ref.name"].as_str() {
                if !tag.starts_with("sha256-") {
                    self.tag(tag, m["digest"].as_str().unwrap());
                }
            }
        }
    }

    pub fn tag(&self, tag: &str, digest: &str) {
        self.store
            .lock()
            .unwrap()
            .tags
            .insert(tag.into(), digest.into());
    }

    /// An image manifest with one JSON layer `layer`, a subject and an artifact type.
    pub fn image(
        &self,
        layer: &[u8],
        subject: Option<&Value>,
        artifact_type: Option<&str>,
    ) -> Value {
        let config = self.blob(b"{}");
        let layer_digest = self.blob(layer);
        image_manifest(&config, &layer_digest, layer.len(), subject, artifact_type)
    }

    /// An artifact tagged `v1` and `n` signatures of type `artifact_type`; returns the
    /// artifact's descriptor and the signatures' descriptors.
    pub fn signed(&self, n: usize, artifact_type: &str) -> (Value, Vec<Value>) {
        let artifact = self.manifest(&self.image(b"artifact", None, Some("application/example")));
        self.tag("v1", artifact["digest"].as_str().unwrap());
        let sigs = (0..n)
            .map(|i| {
                let m = self.image(
                    format!("envelope {i} {artifact_type}").as_bytes(),
                    Some(&artifact),
                    Some(artifact_type),
                );
                self.manifest(&m)
            })
            .collect();
        (artifact, sigs)
    }

    /// The requests made so far whose path contains `part`.
    pub fn requests_to(&self, part: &str) -> Vec<Request> {
        self.server
            .log()
            .into_iter()
            .filter(|r| r.path.contains(part))
            .collect()
    }
}

fn not_found(code: &str) -> Reply {
    Response::new(
        404,
        format!(r#"{{"errors":[{{"code":"{code}","message":"not found"}}]}}"#),
    )
    .header("Content-Type", "application/json")
    .into()
}

fn handle(store: &Store, o: &Options, req: &Request) -> Reply {
    if let Some(realm) = &o.bearer_realm {
        if !req
            .header("Authorization")
            .is_some_and(|a| a.starts_with("Bearer "))
        {
            let challenge = format!(
                r#"Bearer realm="{realm}",service="{}",scope="repository:{}:pull""#,
                super::token_issuer::SERVICE,
                REPO
            );
            return Response::new(401, r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#)
                .header("WWW-Authenticate", &challenge)
                .into();
        }
    }
    let prefix = format!("/v2/{REPO}/");
    let Some(rest) = req.path.strip_prefix(&prefix) else {
        return not_found("NAME_UNKNOWN");
    };
    if let Some(reference) = rest.strip_prefix("manifests/") {
        let digest = if reference.starts_with("sha256:") {
            Some(reference.to_owned())
        } else {
            store.tags.get(reference).cloned()
        };
        let Some((d, bytes, mt)) =
            digest.and_then(|d| store.manifests.iter().find(|(x, _, _)| *x == d))
        else {
            return not_found("MANIFEST_UNKNOWN");
        };
        return Response::new(200, bytes.clone())
            .header("Content-Type", mt)
            .header("Docker-Content-Digest", d)
            .into();
    }
    if let Some(digest) = rest.strip_prefix("blobs/") {
        return match store.blobs.get(digest) {
            Some(b) => Response::new(200, b.clone())
                .header("Content-Type", "application/octet-stream")
                .header("Docker-Content-Digest", digest)
                .into(),
            None => not_found("BLOB_UNKNOWN"),
        };
    }
    if let Some(subject) = rest.strip_prefix("referrers/") {
        if o.no_referrers_api {
            return Response::new(404, "404 page not found\n").into();
        }
        let want = req
            .query_param("artifactType")
            .map(|t| t.replace("%2F", "/").replace("%2f", "/"));
        let page: usize = req
            .query_param("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let mut all = Vec::new();
        for (d, bytes, mt) in &store.manifests {
            let v: Value = serde_json::from_slice(bytes).unwrap();
            if v["subject"]["digest"] != subject {
                continue;
            }
            let artifact_type = v["artifactType"]
                .as_str()
                .or(v["config"]["mediaType"].as_str());
            if !o.ignore_filter && want.is_some() && artifact_type != want.as_deref() {
                continue;
            }
            let mut desc = json!({"mediaType": mt, "digest": d, "size": bytes.len()});
            if let Some(t) = artifact_type {
                desc["artifactType"] = json!(t);
            }
            if let Some(a) = v.get("annotations") {
                desc["annotations"] = a.clone();
            }
            all.push(desc);
        }
        let page_size = o.page_size.unwrap_or(PAGE_SIZE);
        let start = (page * page_size).min(all.len());
        let end = (start + page_size).min(all.len());
        let body =
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": all[start..end]});
        let mut resp = Response::new(200, serde_json::to_vec(&body).unwrap())
            .header("Content-Type", OCI_INDEX);
        if !o.ignore_filter && want.is_some() {
            resp = resp.header("OCI-Filters-Applied", "artifactType");
        }
        if end < all.len() {
            let mut next = format!("/v2/{REPO}/referrers/{subject}?page={}", page + 1);
            if let Some(t) = req.query_param("artifactType") {
                next.push_str(&format!("&artifactType={t}"));
            }
            resp = resp.header("Link", &format!("<{next}>; rel=\"next\""));
        }
        return resp.into();
    }
    not_found("UNSUPPORTED")
}
