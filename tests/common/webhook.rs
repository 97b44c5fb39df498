//! `trustpin serve` as the API server sees it: [`Webhook`] runs the real binary (HTTPS on a free
//! loopback port, its JSON log lines collected), with a serving certificate for
//! `trustpin.trustpin.svc` from a CA made for the test ([`WebhookPki`]); [`ApiServer`] is the API
//! server's side of the call, emulated: it trusts only that CA, sends SNI
//! `trustpin.trustpin.svc`, speaks HTTP/1.1 or h2, passes `?timeout=`, and checks every answer
//! as k8s.io/apiserver's `VerifyAdmissionResponse` does (uid echoed, apiVersion and kind,
//! patch ⇔ patchType, patchType JSONPatch, base64 JSON Patch) before applying the patch with the
//! `json-patch` crate. No real API server can be run here.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

/// The name the API server uses for the Service (`<service>.<namespace>.svc`).
pub const SERVICE_NAME: &str = "trustpin.trustpin.svc";

/// A test CA (its certificate as PEM text, what the API server trusts) and a serving
/// certificate for [`SERVICE_NAME`] as PEM files (`tls.crt`, `tls.key`).
pub struct WebhookPki {
    pub dir: tempfile::TempDir,
    pub ca_pem: String,
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl WebhookPki {
    pub fn new() -> WebhookPki {
        use rcgen::KeyUsagePurpose;
        let dir = super::temp_dir("trustpin-webhook-pki-");
        let ca = super::server::make_ca(
            "trustpin webhook test CA",
            vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::DigitalSignature,
            ],
        );
        let pki = WebhookPki {
            dir,
            ca_pem: ca.pem(),
            ca,
        };
        pki.issue(SERVICE_NAME);
        pki
    }

    /// Write a fresh certificate (new key) for `name` over tls.crt and tls.key; returns its DER.
    pub fn issue(&self, name: &str) -> Vec<u8> {
        let (cert, key) = super::server::make_leaf(
            &self.ca,
            vec![name.to_owned()],
            name,
            Some(rcgen::ExtendedKeyUsagePurpose::ServerAuth),
        );
        // Written beside, then renamed: as a Secret volume swaps its files.
        let tmp_c = self.dir.path().join("tls.crt.new");
        let tmp_k = self.dir.path().join("tls.key.new");
        std::fs::write(&tmp_c, cert.pem()).unwrap();
        std::fs::write(&tmp_k, key.serialize_pem()).unwrap();
        std::fs::rename(&tmp_k, self.key()).unwrap();
        std::fs::rename(&tmp_c, self.cert()).unwrap();
        cert.der().to_vec()
    }

    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("tls.crt")
    }
    pub fn key(&self) -> PathBuf {
        self.dir.path().join("tls.key")
    }
}

/// A running `trustpin serve`; killed on drop.
pub struct Webhook {
    child: Child,
    pub addr: SocketAddr,
    pub pki: WebhookPki,
    lines: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
    _cache: tempfile::TempDir,
}

impl Webhook {
    /// `trustpin serve --listen 127.0.0.1:0 --tls-cert .. --tls-key .. --cache-dir <temp> ARGS`,
    /// waiting for its `listening` line (panics with its stderr if it exits first).
    pub fn start<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Webhook {
        Self::start_with(WebhookPki::new(), args)
    }

    pub fn start_with<S: AsRef<std::ffi::OsStr>>(pki: WebhookPki, args: &[S]) -> Webhook {
        let cache = tempfile::tempdir().unwrap();
        let mut all: Vec<std::ffi::OsString> =
            vec!["serve".into(), "--listen".into(), "127.0.0.1:0".into()];
        all.extend(["--tls-cert".into(), pki.cert().into_os_string()]);
        all.extend(["--tls-key".into(), pki.key().into_os_string()]);
        all.extend(["--cache-dir".into(), cache.path().as_os_str().to_owned()]);
        all.extend(args.iter().map(|a| a.as_ref().to_owned()));
        Self::launch(pki, &all, cache)
    }

    /// A webhook pinning testdata's key, its trust data from `server`: for tests whose requests
    /// never get as far as good trust data.
    pub fn over(server: &str, extra: &[&str]) -> Webhook {
        let mut args = vec![
            "--root-key".to_owned(),
            test_root_key(),
            "--server".into(),
            server.into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Webhook::start(&args)
    }

    /// `trustpin ARGS` exactly as given (a `serve` command line), `HOME` in `cache`.
    pub fn launch<S: AsRef<std::ffi::OsStr>>(
        pki: WebhookPki,
        args: &[S],
        cache: tempfile::TempDir,
    ) -> Webhook {
        let mut child = Command::new(super::TRUSTPIN)
            .args(args)
            .env_remove("DOCKER_CONTENT_TRUST_SERVER")
            .env("HOME", cache.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start trustpin serve");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let out = child.stdout.take().unwrap();
            let lines = lines.clone();
            std::thread::spawn(move || {
                let mut listening = false;
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    // Only until the address is known (the load bench writes 20,000 more lines).
                    if !listening {
                        if let Ok(v) = serde_json::from_str::<Value>(&line) {
                            if v["event"] == "listening" {
                                listening = true;
                                let _ = tx.send(v["address"].as_str().unwrap_or("").to_owned());
                            }
                        }
                    }
                    lines.lock().unwrap().push(line);
                }
            });
            let err = child.stderr.take().unwrap();
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    let mut s = stderr.lock().unwrap();
                    s.push_str(&line);
                    s.push('\n');
                }
            });
        }
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => a.parse().expect("listening address"),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                panic!("trustpin serve did not start: {}", stderr.lock().unwrap());
            }
        };
        Webhook {
            child,
            addr,
            pki,
            lines,
            stderr,
            _cache: cache,
        }
    }

    /// The JSON log lines so far.
    pub fn log(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The decision line for `uid`, waiting a little for it to be written.
    pub fn decision_log(&self, uid: &str) -> Value {
        self.first_line("uid", uid, Duration::from_secs(5))
    }

    /// The first log line whose `field` is `value`, waiting at most `within` for it.
    pub fn first_line(&self, field: &str, value: &str, within: Duration) -> Value {
        let until = Instant::now() + within;
        loop {
            if let Some(v) = self.log().into_iter().find(|v| v[field] == value) {
                return v;
            }
            assert!(
                Instant::now() < until,
                "no log line with {field} {value:?}: {:?}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Wait (at most 5 s) until stderr says `words`. stderr is read by its own thread, so what
    /// the server wrote there before its `listening` line on stdout may not be collected yet
    /// when [`Webhook::start`] returns.
    pub fn expect_stderr(&self, words: &str) {
        let until = Instant::now() + Duration::from_secs(5);
        while !self.stderr().contains(words) {
            assert!(
                Instant::now() < until,
                "stderr never said {words:?}: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send `sig` (`-TERM`, `-INT`, ...) to the server.
    pub fn signal(&self, sig: &str) {
        signal(self.child.id(), sig);
    }

    /// The exit code once the server has exited, waiting at most `within` (None: still running).
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let until = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The first log line of the server's `event`, waiting at most `within` for it.
    pub fn event(&self, event: &str, within: Duration) -> Value {
        self.first_line("event", event, within)
    }
}

/// A root key from testdata/keys.
pub fn test_root_key() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/keys/delegated.pub").to_owned()
}

/// `kill SIG PID`, which must succeed.
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// Continues a SIGSTOPped process when dropped, even when an assertion fails, so it can be
/// killed on drop.
pub struct Resume(pub u32);

impl Drop for Resume {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// HTTP/1.1 or h2 (as ALPN negotiates it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    H2,
}

/// The API server's side of the webhook call.
pub struct ApiServer {
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    base: String,
    protocol: Protocol,
}

/// A response that passed `VerifyAdmissionResponse`, with the object after its patch.
#[derive(Debug)]
pub struct Admission {
    pub allowed: bool,
    pub code: Option<u64>,
    pub message: String,
    pub warnings: Vec<String>,
    /// The JSON Patch, decoded (empty when none was sent).
    pub patch: Vec<Value>,
    /// The request's object with the patch applied.
    pub object: Value,
    pub took: Duration,
}

impl Admission {
    /// Denied because the review's time ran out before any of its `images` was verified.
    pub fn expect_timed_out_before_any_of(&self, images: usize) {
        assert!(!self.allowed, "{self:?}");
        let words = format!("timed out after verifying 0 of {images} images");
        assert!(self.message.starts_with(&words), "{}", self.message);
    }

    /// The image at a JSON Pointer of the patched object.
    pub fn image_at(&self, pointer: &str) -> &str {
        self.object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no image at {pointer}"))
    }
}

impl ApiServer {
    pub fn new(webhook: &Webhook, protocol: Protocol) -> ApiServer {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ca = reqwest::Certificate::from_pem(webhook.pki.ca_pem.as_bytes()).unwrap();
        let mut b = reqwest::Client::builder()
            .tls_certs_only([ca])
            .resolve(SERVICE_NAME, webhook.addr)
            .timeout(Duration::from_secs(40))
            .no_proxy();
        b = match protocol {
            Protocol::Http1 => b.http1_only(),
            Protocol::H2 => b.http2_prior_knowledge(),
        };
        ApiServer {
            client: b.build().unwrap(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            base: format!("https://{SERVICE_NAME}:{}", webhook.addr.port()),
            protocol,
        }
    }

    /// Any request: (status, body); panics when there is no answer.
    pub fn send(&self, method: &str, path: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
        self.try_send(method, path, body)
            .unwrap_or_else(|e| panic!("calling {path}: {e}"))
    }

    /// Any request: (status, body), or why no answer came.
    pub fn try_send(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), String> {
        let url = format!("{}{path}", self.base);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.runtime.block_on(async {
            let r = self
                .client
                .request(method, &url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
            let want = match self.protocol {
                Protocol::Http1 => reqwest::Version::HTTP_11,
                Protocol::H2 => reqwest::Version::HTTP_2,
            };
            assert_eq!(r.version(), want, "protocol of {url}");
            let status = r.status().as_u16();
            let body = r.bytes().await.map_err(|e| format!("{e:?}"))?;
            Ok((status, body.to_vec()))
        })
    }

    /// POST the review to `/mutate?timeout=<timeout>` and check the answer as the API server
    /// does; panics (with the API server's words) on anything it would reject.
    pub fn review(&self, review: &Value, timeout: &str) -> Admission {
        let started = Instant::now();
        let (status, body) = self.send(
            "POST",
            &format!("/mutate?timeout={timeout}"),
            serde_json::to_vec(review).unwrap(),
        );
        let took = started.elapsed();
        assert_eq!(
            status,
            200,
            "failed calling webhook: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
        verify_admission_response(review, &body, took)
    }
}

/// k8s.io/apiserver's `VerifyAdmissionResponse` for a mutating webhook, then the patch applied.
pub fn verify_admission_response(review: &Value, body: &[u8], took: Duration) -> Admission {
    let got: Value = serde_json::from_slice(body).expect("webhook response is not JSON");
    assert_eq!(
        (got["apiVersion"].as_str(), got["kind"].as_str()),
        (Some("admission.k8s.io/v1"), Some("AdmissionReview")),
        "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview: {got}"
    );
    let response = got.get("response").expect("webhook response was absent");
    let uid = review["request"]["uid"].as_str().unwrap();
    assert_eq!(
        response["uid"].as_str(),
        Some(uid),
        "expected response.uid={uid:?}"
    );
    let patch_type = response.get("patchType").and_then(Value::as_str);
    let patch_b64 = response.get("patch").and_then(Value::as_str);
    let patch: Vec<Value> = match (patch_b64, patch_type) {
        (Some(p), Some("JSONPatch")) => {
            assert!(
                !p.is_empty(),
                "webhook returned response.patchType but not response.patch"
            );
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(p)
                .expect("response.patch is not base64");
            serde_json::from_slice(&bytes).expect("response.patch is not a JSON Patch")
        }
        (Some(_), None) => panic!("webhook returned response.patch but not response.patchType"),
        (None, Some(_)) => panic!("webhook returned response.patchType but not response.patch"),
        (Some(_), Some(t)) => panic!("webhook returned invalid response.patchType of {t:?}"),
        (None, None) => Vec::new(),
    };
    let allowed = response["allowed"].as_bool().expect("response.allowed");
    if !allowed {
        assert!(patch.is_empty(), "a denial with a patch");
    }
    let mut object = review["request"]["object"].clone();
    if !patch.is_empty() {
        let p: json_patch::Patch =
            serde_json::from_value(Value::Array(patch.clone())).expect("JSON Patch operations");
        json_patch::patch(&mut object, &p).expect("the patch applies to the object");
    }
    let warnings: Vec<String> = response
        .get("warnings")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|w| w.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    for w in &warnings {
        assert!(w.chars().count() <= 120, "warning over 120 characters: {w}");
    }
    Admission {
        allowed,
        code: response["status"]["code"].as_u64(),
        message: response["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        warnings,
        patch,
        object,
        took,
    }
}

/// A committed AdmissionReview fixture (testdata/admission/NAME.json, made by
/// tools/make-admission-fixtures.sh from kubectl's objects).
pub fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/admission")
        .join(format!("{name}.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// The fixture with a new uid and the image at `pointer` (inside the object) replaced.
pub fn with_image(review: &Value, uid: &str, pointer: &str, image: &str) -> Value {
    let mut r = review.clone();
    r["request"]["uid"] = uid.into();
    *r["request"]["object"]
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer}")) = image.into();
    r
}

/// A client configuration trusting only the CA of `ca_pem` (the test CA), offering `alpn`.
pub fn client_config(ca_pem: &str, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let der = rustls::pki_types::CertificateDer::from(super::notary::pem_body(ca_pem));
    roots.add(der).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A raw TLS connection to the webhook as [`SERVICE_NAME`], trusting only the test CA, offering
/// `alpn` (for the hostile tests that write bytes by hand).
pub async fn tls_connect(
    webhook: &Webhook,
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let config = client_config(&webhook.pki.ca_pem, alpn);
    let tcp = tokio::net::TcpStream::connect(webhook.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from(SERVICE_NAME).unwrap();
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .expect("TLS handshake with the webhook")
}

/// The certificate the webhook presents to a new connection (DER).
pub fn presented_certificate(webhook: &Webhook) -> Vec<u8> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = tls_connect(webhook, &[b"http/1.1"]).await;
        s.get_ref().1.peer_certificates().unwrap()[0].to_vec()
    })
}

/// A real notary-server (https) with repositories under example.com/trustpin/ published by the
/// real notary client, a policy pinning their root key (`example.com/trustpin/released` also
/// requires `releases`; `example.com/public/*` is skip), and the flags that point trustpin at them.
pub struct World {
    pub server: super::notary::NotaryServer,
    /// The publisher (its root key is the pinned one).
    pub client: super::notary::NotaryClient,
    dir: tempfile::TempDir,
}

impl World {
    pub fn new(repos: &[(&str, &[(&str, &str)])]) -> World {
        assert!(super::notary::require_live(), "live tools missing");
        let server = super::notary::NotaryServer::start_tls();
        let client = server.client();
        for (gun, tags) in repos {
            client.publish_repo(gun, tags);
        }
        let dir = tempfile::tempdir().unwrap();
        let first = repos.first().map(|r| r.0).unwrap();
        std::fs::write(
            dir.path().join("root.pub"),
            client.root_public_key_pem(first),
        )
        .unwrap();
        let policy = serde_json::json!({"version": "1.0", "trustPolicies": [
            {"name": "test", "registryScopes": ["example.com/trustpin/*"],
             "signatureVerification": {"level": "strict"}, "trustRoots": ["root.pub"]},
            {"name": "released", "registryScopes": ["example.com/trustpin/released"],
             "signatureVerification": {"level": "strict"}, "trustRoots": ["root.pub"],
             "requiredDelegations": ["releases"]},
            {"name": "skipped", "registryScopes": ["example.com/public/*"],
             "signatureVerification": {"level": "skip"}}]});
        std::fs::write(dir.path().join("policy.json"), policy.to_string()).unwrap();
        World {
            server,
            client,
            dir,
        }
    }

    pub fn policy(&self) -> PathBuf {
        self.dir.path().join("policy.json")
    }

    /// The source and policy flags shared by serve and resolve.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--policy".into(),
            self.policy().display().to_string(),
            "--server".into(),
            self.server.url(),
            "--ca-cert".into(),
            self.server.ca_pem_path().display().to_string(),
        ]
    }

    pub fn serve(&self, extra: &[&str]) -> Webhook {
        let mut args = self.flags();
        args.extend(extra.iter().map(|s| s.to_string()));
        Webhook::start(&args)
    }

    /// `trustpin resolve IMAGE` with the same flags: its `<gun>@sha256:<hex>` line.
    pub fn resolve(&self, image: &str) -> String {
        let out = super::Cmd::trustpin()
            .arg("resolve")
            .arg(image)
            .args(self.flags())
            .arg("--no-cache")
            .run();
        out.ok().trim().to_owned()
    }
}
