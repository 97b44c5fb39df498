//! The real registry for tests: Debian's `docker-registry` (distribution 2.8.2), started on a free
//! loopback port with a temporary config and storage, stopped when dropped; and a small HTTP/1.1
//! client of its own (std::net, independent of the code under test) that pushes content through
//! the distribution API: monolithic blob uploads (POST, then PUT with `digest`), manifests PUT by
//! digest and by tag, and the referrers tag-schema index (`sha256-<hex>`).
//!
//! ```ignore
//! let reg = registry::Registry::start();
//! reg.push_layout("e2e-valid-signature", &oci_data::layout_path("e2e-valid-signature"));
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::free_port;
use super::oci_data::{layout_path, sha256, OCI_INDEX, OCI_MANIFEST};
use super::token_issuer::{TokenIssuer, User, ISSUER, SERVICE};

/// Where Debian installs the registry.
pub const DOCKER_REGISTRY: &str = "/usr/bin/docker-registry";

/// A running docker-registry; dropping it stops it.
pub struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
    /// `Authorization` the test client sends (a token with push and pull), for a token registry.
    push_auth: std::sync::Mutex<Option<String>>,
}

/// An answer as the test client read it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        super::server::header(&self.headers, name)
    }
}

impl Registry {
    /// Anonymous pull and push.
    pub fn start() -> Registry {
        Self::launch(None)
    }

    /// Token auth through `issuer` (its realm, service, issuer name and root bundle). Before
    /// pushing, give the test client a token ([`Registry::push_token_for`]).
    pub fn start_with_token(issuer: &TokenIssuer) -> Registry {
        Self::launch(Some(issuer))
    }

    /// The token-auth case: an issuer whose one user, alice (password `wonderland`), may pull,
    /// and a registry behind it holding the `e2e-valid-signature` layout at `secure/app`.
    pub fn alice_behind_token_auth() -> (TokenIssuer, Registry) {
        let issuer = TokenIssuer::start(vec![User::new("alice", "wonderland", &["pull"])]);
        let reg = Registry::start_with_token(&issuer);
        reg.push_token_for(&issuer, "secure/app");
        reg.push_layout("secure/app", &layout_path("e2e-valid-signature"));
        (issuer, reg)
    }

    fn launch(issuer: Option<&TokenIssuer>) -> Registry {
        assert!(
            Path::new(DOCKER_REGISTRY).is_file(),
            "{DOCKER_REGISTRY} is missing: install it with `apt-get install -y docker-registry` \
             (the OCI registry tests never skip)"
        );
        let mut last_error = String::new();
        for _ in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix("trustpin-registry-")
                .tempdir()
                .unwrap();
            let port = free_port();
            let auth = match issuer {
                None => String::new(),
                Some(i) => format!(
                    "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                    i.realm(),
                    i.rootcertbundle().display()
                ),
            };
            let config = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n{auth}",
                dir.path().join("storage").display()
            );
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let child = Command::new(DOCKER_REGISTRY)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {DOCKER_REGISTRY}: {e}"));
            let mut reg = Registry {
                child,
                port,
                _dir: dir,
                push_auth: std::sync::Mutex::new(None),
            };
            if reg.wait_ready() {
                return reg;
            }
            last_error =
                std::fs::read_to_string(reg._dir.path().join("registry.log")).unwrap_or_default();
        }
        panic!("docker-registry did not come up on loopback: {last_error}");
    }

    /// Waits until `/v2/` answers (200, or 401 with token auth), or the process ended.
    fn wait_ready(&mut self) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(a) = self.try_request("GET", "/v2/", &[], &[]) {
                if a.status == 200 || a.status == 401 {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The test client sends a token from `issuer` granting push and pull on `repo`.
    pub fn push_token_for(&self, issuer: &TokenIssuer, repo: &str) {
        let token = issuer.token_for(
            "pusher",
            serde_json::json!([{"type": "repository", "name": repo, "actions": ["pull", "push"]}]),
        );
        *self.push_auth.lock().unwrap() = Some(format!("Bearer {token}"));
    }

    /// `127.0.0.1:<port>`: the registry name for `RegistrySource::new`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One request by the test's own client (`Connection: close`).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        self.try_request(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Answer> {
        let auth = self.push_auth.lock().unwrap().clone();
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(a) = &auth {
            all.push(("Authorization", a));
        }
        http_request(self.port, method, path, &all, body)
    }

    /// Uploads a blob monolithically (POST, then PUT `?digest=`); checks the registry's
    /// `Docker-Content-Digest` equals the digest computed here. Returns it.
    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let start = self.request("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], &[]);
        assert_eq!(start.status, 202, "blob upload start: {start:?}");
        let location = start
            .header("Location")
            .expect("upload Location")
            .to_owned();
        let path = location
            .strip_prefix(&self.url())
            .unwrap_or(&location)
            .to_owned();
        let sep = if path.contains('?') { '&' } else { '?' };
        let put = self.request(
            "PUT",
            &format!("{path}{sep}digest={digest}"),
            &[("Content-Type", "application/octet-stream")],
            bytes,
        );
        assert_eq!(put.status, 201, "blob upload {digest}: {put:?}");
        assert_eq!(put.header("Docker-Content-Digest"), Some(digest.as_str()));
        digest
    }

    /// PUTs a manifest at `reference` (tag or digest) unchanged; checks the registry's
    /// `Docker-Content-Digest` equals the digest computed here. Returns it.
    pub fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> String {
        let digest = sha256(bytes);
        let put = self.request(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Content-Type", media_type)],
            bytes,
        );
        assert_eq!(put.status, 201, "manifest {reference}: {put:?}");
        assert_eq!(put.header("Docker-Content-Digest"), Some(digest.as_str()));
        digest
    }

    /// Pushes an OCI layout as notation would have: every non-manifest blob, every manifest by
    /// digest (subjects first), each index.json tag, and the referrers tag-schema index of each
    /// subject, built as the distribution spec says (README's recipe). Returns the tag-schema
    /// indexes pushed: (subject digest, index digest).
    pub fn push_layout(&self, repo: &str, layout: &Path) -> Vec<(String, String)> {
        let index: Value =
            serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        let blobs_dir = layout.join("blobs/sha256");
        let mut manifests: Vec<(String, Vec<u8>, Value)> = Vec::new();
        let mut names: Vec<PathBuf> = std::fs::read_dir(&blobs_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for path in names {
            let bytes = std::fs::read(&path).unwrap();
            let digest = format!("sha256:{}", path.file_name().unwrap().to_str().unwrap());
            assert_eq!(sha256(&bytes), digest, "the layout's own blob name");
            match super::oci_data::as_manifest(&bytes) {
                Some(v) => manifests.push((digest, bytes, v)),
                None => {
                    self.push_blob(repo, &bytes);
                }
            }
        }
        // Existing tag-schema indexes are rebuilt below, not copied.
        let is_schema_index = |d: &str| {
            index["manifests"].as_array().unwrap().iter().any(|m| {
                m["digest"] == d
                    && m["annotations"]["org.opencontainers.image.ref.name"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("sha256-"))
            })
        };
        manifests.retain(|(d, _, _)| !is_schema_index(d));
        // Subjects before their referrers (distribution checks nothing, but keep the order sane).
        manifests.sort_by_key(|(_, _, v)| v.get("subject").is_some());
        for (digest, bytes, v) in &manifests {
            let media_type = v["mediaType"].as_str().unwrap_or(OCI_MANIFEST);
            self.push_manifest(repo, digest, bytes, media_type);
        }
        for m in index["manifests"].as_array().unwrap() {
            let Some(tag) = m["annotations"]["org.opencontainers.image.ref.name"].as_str() else {
                continue;
            };
            if tag.starts_with("sha256-") {
                continue;
            }
            let digest = m["digest"].as_str().unwrap();
            let (_, bytes, v) = manifests
                .iter()
                .find(|(d, _, _)| d == digest)
                .expect("tagged manifest in layout");
            self.push_manifest(
                repo,
                tag,
                bytes,
                v["mediaType"].as_str().unwrap_or(OCI_MANIFEST),
            );
        }
        // The referrers tag schema: one index per subject, descriptors in blob-name order.
        let mut subjects: Vec<String> = manifests
            .iter()
            .filter_map(|(_, _, v)| v["subject"]["digest"].as_str().map(str::to_owned))
            .collect();
        subjects.sort();
        subjects.dedup();
        let mut pushed = Vec::new();
        for subject in subjects {
            let referrers: Vec<String> = manifests
                .iter()
                .filter(|(_, _, v)| v["subject"]["digest"] == subject.as_str())
                .map(|(d, bytes, v)| referrer_descriptor(d, bytes.len(), v))
                .collect();
            let body = format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
                referrers.join(",")
            );
            let tag = format!("sha256-{}", subject.trim_start_matches("sha256:"));
            let d = self.push_manifest(repo, &tag, body.as_bytes(), OCI_INDEX);
            pushed.push((subject, d));
        }
        pushed
    }
}

/// A referrer's descriptor as Go writes it: mediaType, digest, size, annotations (keys sorted),
/// artifactType (the manifest's, else its config's media type).
fn referrer_descriptor(digest: &str, size: usize, v: &Value) -> String {
    let media_type = v["mediaType"].as_str().unwrap_or(OCI_MANIFEST);
    let artifact_type = v["artifactType"]
        .as_str()
        .or_else(|| v["config"]["mediaType"].as_str());
    let mut s = format!(r#"{{"mediaType":"{media_type}","digest":"{digest}","size":{size}"#);
    if let Some(a) = v
        .get("annotations")
        .filter(|a| a.as_object().is_some_and(|o| !o.is_empty()))
    {
        // serde_json's map is sorted: Go's key order.
        s.push_str(&format!(
            r#","annotations":{}"#,
            serde_json::to_string(a).unwrap()
        ));
    }
    if let Some(t) = artifact_type {
        s.push_str(&format!(r#","artifactType":"{t}""#));
    }
    s.push('}');
    s
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request to 127.0.0.1:`port` with `Connection: close`; the answer read to the end
/// (Content-Length, chunked or close-delimited).
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Answer> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of head"))?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16).unwrap_or(0);
        if size == 0 || b.len() < i + 2 + size {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + size]);
        b = &b[(i + 4 + size).min(b.len())..];
    }
    out
}

/// A reverse proxy in front of `reg` that waits `delay` before forwarding each request: one
/// round trip costs at least `delay`, so waves can be counted by time against the real registry.
pub fn delaying_proxy(reg: &Registry, delay: Duration) -> super::server::TestServer {
    use super::server::{Reply, Response, TestServer};
    let proxy = TestServer::start();
    let port = reg.port;
    proxy.fallback(move |req| {
        std::thread::sleep(delay);
        let headers: Vec<(&str, &str)> = req
            .headers
            .iter()
            .filter(|(k, _)| {
                !["host", "connection", "content-length", "transfer-encoding"]
                    .iter()
                    .any(|h| k.eq_ignore_ascii_case(h))
            })
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        match http_request(port, &req.method, &req.target, &headers, &req.body) {
            Ok(a) => {
                let mut resp = Response::new(a.status, a.body);
                for (k, v) in &a.headers {
                    let hop = ["connection", "content-length", "transfer-encoding"]
                        .iter()
                        .any(|h| k.eq_ignore_ascii_case(h));
                    if !hop {
                        resp = resp.header(k, v);
                    }
                }
                resp.into()
            }
            Err(_) => Reply::Close,
        }
    });
    proxy
}
