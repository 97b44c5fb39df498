//! Test harness around the real Notary v1 tools (`notary-server`, `notary` 0.7.0, Debian package
//! `notary`) and the `openssl` CLI. It is
//! `common::notary` (`mod common;` in a test file).
//!
//! - [`NotaryServer`]: a notary-server with memory storage and a local signer on a free loopback
//!   port, plain http or https with a CA made for the test; killed on drop.
//! - [`NotaryClient`]: the `notary` CLI with its own temporary trust dir and fixed passphrases.
//! - [`NotaryClient::root_public_key_pem`]: the key a user pins, taken from the client's own
//!   private key store (not from the server's root.json).
//!
//! Facts about notary 0.7.0 this relies on (checked against the real tools):
//! - trust dir: `private/<canonical key id>.key` (encrypted PKCS#8, `-----BEGIN ENCRYPTED PRIVATE
//!   KEY-----` followed by PEM header lines `role: ...` and, except for root keys, `gun: ...`, then a
//!   blank line) and `tuf/<gun>/metadata/{root,targets,snapshot,...}.json` (the client's cache).
//!   openssl refuses those header lines, so they are stripped before decrypting.
//! - the root key is shared: every `init` in one trust dir reuses the first root key it finds
//!   ("Root key found, using: <id>"), with a per-GUN certificate. Use one client per repository when
//!   repositories must have different root keys.
//! - the key file name is the canonical key id: hex sha256 of
//!   `{"keytype":"ecdsa","keyval":{"private":null,"public":"<base64 DER SPKI>"}}`.
//! - `notary lookup GUN TAG` prints `<tag> sha256:<hex> <size>`; a missing tag: exit 1 and
//!   `* fatal: No valid trust data for <tag>` on STDOUT (stderr stays empty).
//! - delegation keys: an EC key from `openssl ecparam -genkey` (SEC1 PEM) plus a self-signed
//!   certificate; `notary key import KEY --role targets/<name>` re-encrypts it with
//!   NOTARY_DELEGATION_PASSPHRASE and stores it under its canonical id; `notary delegation add GUN
//!   targets/<name> CERT --all-paths` lists the certificate (key type `ecdsa-x509`).

use super::{run, run_with_input, sha256_hex, Output};
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const NOT_FOUND: &str = "notary-server not found: install it with `apt-get install -y notary`";

pub const ROOT_PASSPHRASE: &str = "trustpin-test-root";
pub const TARGETS_PASSPHRASE: &str = "trustpin-test-targets";
pub const SNAPSHOT_PASSPHRASE: &str = "trustpin-test-snapshot";
pub const DELEGATION_PASSPHRASE: &str = "trustpin-test-delegation";

/// Timeout for one `notary`/`openssl` command.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server may take to answer its health check.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

// ------------------------------------------------------------------------------------------------
// Environment

/// `path/name` for the first `PATH` entry that has an executable `name`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// True when the live tools are installed. When they are not: panics with the install hint, unless
/// `TRUSTPIN_SKIP_LIVE=1`, in which case it prints that the test is skipped and returns false (the
/// test then returns early). CI never sets it.
pub fn require_live() -> bool {
    let missing: Vec<&str> = ["notary-server", "notary", "openssl"]
        .into_iter()
        .filter(|t| find_on_path(t).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("TRUSTPIN_SKIP_LIVE").as_deref() == Ok("1") {
        eprintln!(
            "skipped: {} not on PATH and TRUSTPIN_SKIP_LIVE=1",
            missing.join(", ")
        );
        return false;
    }
    if missing.contains(&"notary-server") || missing.contains(&"notary") {
        panic!("{NOT_FOUND} (missing: {})", missing.join(", "));
    }
    panic!("openssl not found: install it with `apt-get install -y openssl`");
}

// ------------------------------------------------------------------------------------------------
// Running commands

fn openssl<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = Command::new("openssl");
    c.args(args);
    c
}

// ------------------------------------------------------------------------------------------------
// Small helpers

/// Canonical notary key id of a PEM public key: sha256 of
/// `{"keytype":"ecdsa","keyval":{"private":null,"public":"<base64 DER>"}}` (ECDSA keys only, which is
/// what notary 0.7.0 generates).
pub fn canonical_key_id(public_pem: &str) -> String {
    use base64::Engine as _;
    let der = pem_body(public_pem);
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    sha256_hex(
        format!(r#"{{"keytype":"ecdsa","keyval":{{"private":null,"public":"{b64}"}}}}"#).as_bytes(),
    )
}

/// The DER inside a PEM block (header lines such as `role: root` are skipped).
pub fn pem_body(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let b64: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .filter(|l| !l.contains(':'))
        .map(str::trim)
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("PEM body is not base64")
}

/// A PEM block with its `Key: value` header lines and the blank line after them removed (openssl
/// cannot read notary's key files otherwise). Returns the stripped PEM and the headers.
pub fn strip_pem_headers(pem: &str) -> (String, Vec<(String, String)>) {
    let mut out = String::new();
    let mut headers = Vec::new();
    let mut in_headers = false;
    for line in pem.lines() {
        if line.starts_with("-----BEGIN") {
            in_headers = true;
            out.push_str(line);
            out.push('\n');
            continue;
        }
        if in_headers {
            if let Some((k, v)) = line.split_once(": ") {
                headers.push((k.trim().to_string(), v.trim().to_string()));
                continue;
            }
            in_headers = false;
            if line.trim().is_empty() {
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    (out, headers)
}

pub use super::free_port;

/// Minimal HTTP/1.0 GET over plain TCP to a loopback address: (status, body).
pub fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<(u16, Vec<u8>), String> {
    assert!(
        addr.ip().is_loopback(),
        "refusing a non-loopback address {addr}"
    );
    let mut s =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout)).ok();
    s.set_write_timeout(Some(timeout)).ok();
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)
        .map_err(|e| format!("read {addr}: {e}"))?;
    parse_http_response(&resp)
}

fn parse_http_response(resp: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let end = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no HTTP header end")?;
    let head = String::from_utf8_lossy(&resp[..end]);
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line: {head}"))?;
    Ok((status, resp[end + 4..].to_vec()))
}

// ------------------------------------------------------------------------------------------------
// Server

/// A running notary-server (memory storage, local signer) on a loopback port; killed on drop.
pub struct NotaryServer {
    child: Option<Child>,
    port: u16,
    tls: bool,
    dir: tempfile::TempDir,
    started_in: Duration,
}

impl NotaryServer {
    /// Plain http. Panics with the install hint when notary-server is missing (call
    /// [`require_live`] first to honour `TRUSTPIN_SKIP_LIVE`).
    pub fn start() -> Self {
        Self::launch(false)
    }

    /// https with a certificate for 127.0.0.1/localhost issued by a CA made for this server
    /// ([`Self::ca_pem_path`]).
    pub fn start_tls() -> Self {
        Self::launch(true)
    }

    fn launch(tls: bool) -> Self {
        let dir = super::temp_dir("trustpin-notary-server-");
        if tls {
            make_test_pki(dir.path());
        }
        let (child, port, started_in) = spawn_server(
            dir.path(),
            |port| {
                let mut config = server_config(port);
                if tls {
                    config["server"]["tls_cert_file"] =
                        dir.path().join("server.crt").to_str().unwrap().into();
                    config["server"]["tls_key_file"] =
                        dir.path().join("server.key").to_str().unwrap().into();
                }
                config
            },
            |child, port, start| wait_healthy(child, port, tls, dir.path(), start),
        );
        NotaryServer {
            child: Some(child),
            port,
            tls,
            dir,
            started_in,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!(
            "{}://127.0.0.1:{}",
            if self.tls { "https" } else { "http" },
            self.port
        )
    }

    /// The same server named `localhost` (the certificate covers both names).
    pub fn url_localhost(&self) -> String {
        format!(
            "{}://localhost:{}",
            if self.tls { "https" } else { "http" },
            self.port
        )
    }

    /// The test CA's certificate (PEM). Panics for a plain-http server.
    pub fn ca_pem_path(&self) -> PathBuf {
        assert!(self.tls, "ca_pem_path() on a plain-http notary-server");
        self.dir.path().join("ca.crt")
    }

    /// How long the server took from spawn to its first healthy answer.
    pub fn startup_time(&self) -> Duration {
        self.started_in
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// The server's process id (serve tests stop and continue it with SIGSTOP/SIGCONT).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// GET a path on this server: (status, body). https goes through `openssl s_client`, which
    /// also checks the certificate against the test CA.
    pub fn get(&self, path: &str) -> Result<(u16, Vec<u8>), String> {
        get_from(self.port, self.tls, self.dir.path(), path)
    }

    /// GET `/v2/<gun>/_trust/tuf/<role>.json` (role e.g. `root`, `targets/releases`, `1.root`).
    pub fn metadata(&self, gun: &str, role: &str) -> Result<Vec<u8>, String> {
        match self.get(&format!("/v2/{gun}/_trust/tuf/{role}.json"))? {
            (200, body) => Ok(body),
            (code, body) => Err(format!("HTTP {code}: {}", String::from_utf8_lossy(&body))),
        }
    }

    /// A notary client (own trust dir) talking to this server.
    pub fn client(&self) -> NotaryClient {
        NotaryClient::new(self)
    }

    /// Kills the server now (for "server unreachable" tests); the URL then refuses connections.
    pub fn stop(&mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A fresh notary-server (https when `tls`) and a client of its own, when the live tools are
/// installed; None when the test is to be skipped ([`require_live`]).
pub fn live_server(tls: bool) -> Option<(NotaryServer, NotaryClient)> {
    if !require_live() {
        return None;
    }
    let server = if tls {
        NotaryServer::start_tls()
    } else {
        NotaryServer::start()
    };
    let client = server.client();
    Some((server, client))
}

/// `(server, client)` from [`live_server`], or a return from the test that says it (skipped, as
/// [`require_live`] allows) where the live tools are missing. With a GUN and `(tag, content)`
/// pairs, the client has published them ([`NotaryClient::publish_repo`]).
#[macro_export]
macro_rules! live_server_or_skip {
    ($tls:expr) => {
        match $crate::common::notary::live_server($tls) {
            Some(live) => live,
            None => return,
        }
    };
    ($tls:expr, $gun:expr, $tags:expr) => {{
        let (server, client) = $crate::live_server_or_skip!($tls);
        client.publish_repo($gun, $tags);
        (server, client)
    }};
}

/// notary-server's configuration for a test: listening on 127.0.0.1:`port`, memory storage, local
/// signer, info logs (callers add TLS files under `server`, or `auth`).
pub fn server_config(port: u16) -> serde_json::Value {
    serde_json::json!({
        "server": { "http_addr": format!("127.0.0.1:{port}") },
        "trust_service": {"type": "local"},
        "storage": {"backend": "memory"},
        "logging": {"level": "info"},
    })
}

/// Starts notary-server with `config(port)` (written to `dir/server.json`, its log to
/// `dir/server.log`) on a free port until `ready(child, port, spawned at)` says it is up; tries
/// another port (5 attempts) when the log says the address was taken. Returns the child, its port
/// and how long it took to come up; panics with the log otherwise.
pub fn spawn_server(
    dir: &Path,
    config: impl Fn(u16) -> serde_json::Value,
    mut ready: impl FnMut(&mut Child, u16, Instant) -> Result<(), String>,
) -> (Child, u16, Duration) {
    let bin = find_on_path("notary-server").unwrap_or_else(|| panic!("{NOT_FOUND}"));
    let mut last_log = String::new();
    for _attempt in 0..5 {
        let port = free_port();
        let config_path = dir.join("server.json");
        std::fs::write(
            &config_path,
            serde_json::to_vec_pretty(&config(port)).unwrap(),
        )
        .unwrap();
        let log_path = dir.join("server.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let start = Instant::now();
        let mut child = Command::new(&bin)
            .arg("-config")
            .arg(&config_path)
            .arg("-logf")
            .arg("logfmt")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        match ready(&mut child, port, start) {
            Ok(()) => return (child, port, start.elapsed()),
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                let retry = log.contains("address already in use");
                last_log = format!("{why}\n--- server log ---\n{log}");
                if !retry {
                    break;
                }
            }
        }
    }
    panic!("notary-server did not come up: {last_log}");
}

impl Drop for NotaryServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn wait_healthy(
    child: &mut Child,
    port: u16,
    tls: bool,
    dir: &Path,
    start: Instant,
) -> Result<(), String> {
    let mut last = String::new();
    while start.elapsed() < START_TIMEOUT {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("notary-server exited: {status}"));
        }
        match get_from(port, tls, dir, "/_notary_server/health") {
            Ok((200, _)) => return Ok(()),
            Ok((code, body)) => {
                last = format!("health: HTTP {code} {}", String::from_utf8_lossy(&body))
            }
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!(
        "no healthy answer within {START_TIMEOUT:?}: {last}"
    ))
}

/// GET over http, or over https through `openssl s_client` checking the certificate against
/// `dir/ca.crt` and the IP 127.0.0.1.
fn get_from(port: u16, tls: bool, dir: &Path, path: &str) -> Result<(u16, Vec<u8>), String> {
    if !tls {
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        return http_get(addr, path, Duration::from_secs(5));
    }
    if TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_secs(2),
    )
    .is_err()
    {
        return Err(format!("nothing listens on 127.0.0.1:{port}"));
    }
    let req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let connect = format!("127.0.0.1:{port}");
    let ca = dir.join("ca.crt");
    let ca = ca.to_str().expect("temp dir path is UTF-8");
    let out = run_with_input(
        openssl([
            "s_client",
            "-connect",
            &connect,
            "-CAfile",
            ca,
            "-verify_return_error",
            "-verify_ip",
            "127.0.0.1",
            "-quiet",
        ]),
        Some(req.as_bytes()),
        Duration::from_secs(10),
    );
    if !out.success() {
        return Err(format!("openssl s_client: {}", out.describe()));
    }
    parse_http_response(out.stdout.as_bytes())
}

/// CA (`ca.crt`, `ca.key`) and a server certificate for 127.0.0.1 and localhost (`server.crt`,
/// `server.key`), ECDSA P-256, made with the openssl CLI in `dir`.
fn make_test_pki(dir: &Path) {
    let p = |n: &str| {
        dir.join(n)
            .to_str()
            .expect("temp dir path is UTF-8")
            .to_string()
    };
    std::fs::write(
        p("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let (ca_key, ca_crt, key, csr, crt, ext) = (
        p("ca.key"),
        p("ca.crt"),
        p("server.key"),
        p("server.csr"),
        p("server.crt"),
        p("server.ext"),
    );
    // A new P-256 key, unencrypted, written to the path that follows.
    let new_key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
    ];
    let steps: [Vec<&str>; 3] = [
        [
            &["req", "-x509"][..],
            &new_key,
            &[
                &ca_key,
                "-out",
                &ca_crt,
                "-days",
                "3650",
                "-subj",
                "/CN=trustpin test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        ]
        .concat(),
        [
            &["req", "-new"][..],
            &new_key,
            &[&key, "-out", &csr, "-subj", "/CN=127.0.0.1"],
        ]
        .concat(),
        vec![
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_crt,
            "-CAkey",
            &ca_key,
            "-set_serial",
            "2",
            "-days",
            "3650",
            "-extfile",
            &ext,
            "-out",
            &crt,
        ],
    ];
    for args in steps {
        run(openssl(args), COMMAND_TIMEOUT).ok();
    }
}

// ------------------------------------------------------------------------------------------------
// Client

/// One `notary lookup`/`list` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub sha256: String,
    pub size: u64,
    pub role: String,
}

/// A key file of the trust dir: (path, PEM headers such as `("role", "root")`, the file's text).
pub type KeyFile = (PathBuf, Vec<(String, String)>, String);

/// A delegation key made with openssl and imported into a client's key store.
#[derive(Debug, Clone)]
pub struct DelegationKey {
    /// Full role name, `targets/<name>`.
    pub role: String,
    /// Unencrypted private key (SEC1 PEM) as made by openssl.
    pub key_path: PathBuf,
    /// Self-signed certificate (what `notary delegation add` takes).
    pub cert_path: PathBuf,
    /// Canonical key id (= the key file name in the trust dir).
    pub key_id: String,
}

/// A target to publish: tag, sha256 hex and size of some content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub tag: String,
    pub sha256: String,
    pub size: u64,
}

impl Target {
    /// The sha256 and size of `content`, under `tag`.
    pub fn of(tag: &str, content: &str) -> Self {
        Target {
            tag: tag.to_string(),
            sha256: sha256_hex(content.as_bytes()),
            size: content.len() as u64,
        }
    }
    pub fn digest(&self) -> String {
        format!("sha256:{}", self.sha256)
    }
}

/// The `notary` CLI with its own temporary trust dir, fixed passphrases, one server.
pub struct NotaryClient {
    dir: tempfile::TempDir,
    server: String,
    ca: Option<PathBuf>,
    pub timeout: Duration,
}

fn full_role(role: &str) -> String {
    if role == "targets" || role.starts_with("targets/") {
        role.to_string()
    } else {
        format!("targets/{role}")
    }
}

impl NotaryClient {
    pub fn new(server: &NotaryServer) -> Self {
        Self::for_url(
            &server.url(),
            if server.is_tls() {
                Some(server.ca_pem_path())
            } else {
                None
            },
        )
    }

    /// A client for any loopback URL (`ca`: the `--tlscacert` for https).
    pub fn for_url(url: &str, ca: Option<PathBuf>) -> Self {
        assert!(
            url.contains("://127.") || url.contains("://localhost") || url.contains("://[::1]"),
            "refusing a non-loopback notary server {url}"
        );
        let dir = super::temp_dir("trustpin-notary-client-");
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::create_dir_all(dir.path().join("work")).unwrap();
        NotaryClient {
            dir,
            server: url.to_string(),
            ca,
            timeout: COMMAND_TIMEOUT,
        }
    }

    /// The notary trust dir (`-d`).
    pub fn trust_dir(&self) -> PathBuf {
        self.dir.path().join("trust")
    }

    /// Scratch space of this client (delegation keys, certificates, files for tests).
    pub fn work_dir(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    pub fn server_url(&self) -> &str {
        &self.server
    }

    /// `notary -s URL -d TRUSTDIR [--tlscacert CA] ARGS...` with the passphrases in the
    /// environment and HOME pointed at a private directory (no ~/.notary config is read).
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c = Command::new("notary");
        c.arg("-s")
            .arg(&self.server)
            .arg("-d")
            .arg(self.trust_dir());
        if let Some(ca) = &self.ca {
            c.arg("--tlscacert").arg(ca);
        }
        c.args(args);
        c.env("HOME", self.dir.path().join("home"))
            .env("NOTARY_ROOT_PASSPHRASE", ROOT_PASSPHRASE)
            .env("NOTARY_TARGETS_PASSPHRASE", TARGETS_PASSPHRASE)
            .env("NOTARY_SNAPSHOT_PASSPHRASE", SNAPSHOT_PASSPHRASE)
            .env("NOTARY_DELEGATION_PASSPHRASE", DELEGATION_PASSPHRASE);
        c
    }

    /// Runs notary with a timeout; the whole outcome.
    pub fn output<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run(self.command(args), self.timeout)
    }

    /// Runs notary; stdout, or panics with its stderr.
    pub fn run<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.output(args).ok()
    }

    /// `notary init GUN` (local until [`Self::publish`]). Every repository of one client shares the
    /// client's root key (notary reuses the first root key in the trust dir).
    pub fn init(&self, gun: &str) {
        self.run(["init", gun]);
    }

    /// `notary addhash GUN TAG SIZE --sha256 HEX` (staged in `targets`).
    pub fn add_hash(&self, gun: &str, tag: &str, size: u64, sha256_hex: &str) {
        self.addhash(gun, tag, size, sha256_hex, &[]);
    }

    /// `notary addhash ... --roles ROLE` (ROLE `targets/releases` or just `releases`).
    pub fn add_to_role(&self, gun: &str, tag: &str, size: u64, sha256_hex: &str, role: &str) {
        self.addhash(gun, tag, size, sha256_hex, &["--roles", &full_role(role)]);
    }

    /// `notary addhash GUN TAG SIZE --sha256 HEX EXTRA...`
    fn addhash(&self, gun: &str, tag: &str, size: u64, sha256_hex: &str, extra: &[&str]) {
        let size = size.to_string();
        let mut args = vec!["addhash", gun, tag, &size, "--sha256", sha256_hex];
        args.extend_from_slice(extra);
        self.run(args);
    }

    /// [`Self::add_hash`] of a [`Target`], or [`Self::add_to_role`] when `role` is not `targets`.
    pub fn add_target(&self, gun: &str, t: &Target, role: &str) {
        if role == "targets" {
            self.add_hash(gun, &t.tag, t.size, &t.sha256)
        } else {
            self.add_to_role(gun, &t.tag, t.size, &t.sha256, role)
        }
    }

    /// `notary publish GUN`.
    pub fn publish(&self, gun: &str) {
        self.run(["publish", gun]);
    }

    /// `notary delegation add GUN ROLE CERT (--all-paths | --paths P,...)`; `paths: None` = all.
    pub fn delegation_add(&self, gun: &str, role: &str, cert_path: &Path, paths: Option<&[&str]>) {
        let role = full_role(role);
        let mut args: Vec<&OsStr> = vec![
            "delegation".as_ref(),
            "add".as_ref(),
            gun.as_ref(),
            role.as_ref(),
        ];
        args.push(cert_path.as_os_str());
        let joined;
        match paths {
            None => args.push("--all-paths".as_ref()),
            Some(p) => {
                joined = p.join(",");
                args.push("--paths".as_ref());
                args.push(joined.as_ref());
            }
        }
        self.run(args);
    }

    /// `notary key rotate GUN ROLE` (a new locally held key; notary publishes the rotation at once).
    pub fn key_rotate(&self, gun: &str, role: &str) {
        self.run(["key", "rotate", gun, role]);
    }

    /// [`NotaryClient::lookup`]'s sha256 hex, or a panic saying why not.
    pub fn lookup_ok(&self, gun: &str, tag: &str) -> String {
        self.lookup(gun, tag)
            .unwrap_or_else(|e| panic!("notary lookup {gun} {tag} failed: {e}"))
            .0
    }

    /// `notary lookup GUN TAG` → (hex sha256, size), or Err(its message: stderr and stdout).
    pub fn lookup(&self, gun: &str, tag: &str) -> Result<(String, u64), String> {
        let out = self.output(["lookup", gun, tag]);
        if !out.success() {
            // notary 0.7.0 prints its "* fatal: ..." message on stdout, not stderr
            let msg = format!("{}\n{}", out.stderr.trim(), out.stdout.trim());
            return Err(format!(
                "{}{}",
                msg.trim(),
                if out.timed_out { " (timed out)" } else { "" }
            ));
        }
        // "<tag> sha256:<hex> <size>"; the tag may contain spaces
        let line = out.stdout.trim_end_matches(['\n', '\r']);
        let parsed = (|| -> Option<(String, u64)> {
            let (rest, size) = line.rsplit_once(' ')?;
            let (name, digest) = rest.rsplit_once(' ')?;
            let hex = digest.strip_prefix("sha256:")?;
            if name != tag || hex.len() != 64 {
                return None;
            }
            Some((hex.to_string(), size.parse().ok()?))
        })();
        match parsed {
            Some(found) => Ok(found),
            None => panic!("unexpected `notary lookup` output: {}", out.describe()),
        }
    }

    /// `notary list GUN` parsed (empty when the repository has no targets). Names with trailing
    /// whitespace cannot be told apart in notary's table.
    pub fn list(&self, gun: &str) -> Vec<Listed> {
        let out = self.run(["list", gun]);
        let mut rows = Vec::new();
        for line in out.lines().skip_while(|l| !l.starts_with("----")).skip(1) {
            if line.trim().is_empty() {
                continue;
            }
            let parse = || {
                let (rest, role) = line.trim_end().rsplit_once(char::is_whitespace)?;
                let (rest, size) = rest.trim_end().rsplit_once(char::is_whitespace)?;
                let (name, digest) = rest.trim_end().rsplit_once(char::is_whitespace)?;
                Some(Listed {
                    name: name.trim_end().to_string(),
                    sha256: digest.to_string(),
                    size: size.parse().ok()?,
                    role: role.to_string(),
                })
            };
            rows.push(
                parse()
                    .unwrap_or_else(|| panic!("unexpected `notary list` row {line:?} in:\n{out}")),
            );
        }
        rows
    }

    /// A P-256 key and a self-signed certificate made with openssl for delegation `role`, imported
    /// with `notary key import --role targets/<name>` so this client can sign for it.
    pub fn create_delegation_key(&self, role: &str) -> DelegationKey {
        let role = full_role(role);
        let name = role.trim_start_matches("targets/").replace('/', "_");
        let n = std::fs::read_dir(self.work_dir())
            .map(|d| d.count())
            .unwrap_or(0);
        let key_path = self.work_dir().join(format!("{name}-{n}.key"));
        let cert_path = self.work_dir().join(format!("{name}-{n}.crt"));
        run(
            openssl([
                OsStr::new("ecparam"),
                "-name".as_ref(),
                "prime256v1".as_ref(),
                "-genkey".as_ref(),
                "-noout".as_ref(),
                "-out".as_ref(),
                key_path.as_os_str(),
            ]),
            COMMAND_TIMEOUT,
        )
        .ok();
        let cn = format!("/CN={name}");
        run(
            openssl([
                OsStr::new("req"),
                "-new".as_ref(),
                "-x509".as_ref(),
                "-key".as_ref(),
                key_path.as_os_str(),
                "-subj".as_ref(),
                cn.as_ref(),
                "-days".as_ref(),
                "3650".as_ref(),
                "-out".as_ref(),
                cert_path.as_os_str(),
            ]),
            COMMAND_TIMEOUT,
        )
        .ok();
        let public = run(
            openssl([
                OsStr::new("pkey"),
                "-in".as_ref(),
                key_path.as_os_str(),
                "-pubout".as_ref(),
            ]),
            COMMAND_TIMEOUT,
        )
        .ok();
        let key_id = canonical_key_id(&public);
        self.run([
            OsStr::new("key"),
            "import".as_ref(),
            key_path.as_os_str(),
            "--role".as_ref(),
            role.as_ref(),
        ]);
        let stored = self.private_key_file(&key_id);
        assert!(
            stored.exists(),
            "notary key import did not store {}",
            stored.display()
        );
        DelegationKey {
            role,
            key_path,
            cert_path,
            key_id,
        }
    }

    /// [`Self::create_delegation_key`] + [`Self::delegation_add`] (all paths).
    pub fn add_delegation(&self, gun: &str, role: &str) -> DelegationKey {
        let key = self.create_delegation_key(role);
        self.delegation_add(gun, &key.role, &key.cert_path, None);
        key
    }

    /// Where the trust dir keeps the private key with (canonical) ID `id`.
    pub fn private_key_file(&self, id: &str) -> PathBuf {
        self.trust_dir().join("private").join(format!("{id}.key"))
    }

    /// The private key files of the trust dir: (path, PEM headers, text).
    pub fn private_keys(&self) -> Vec<KeyFile> {
        let dir = self.trust_dir().join("private");
        let mut v: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "key"))
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap();
                let (_, headers) = strip_pem_headers(&text);
                (p, headers, text)
            })
            .collect();
        v.sort();
        v
    }

    /// PEM public key of an encrypted key file of the trust dir (headers stripped, decrypted with
    /// `passphrase` by openssl).
    pub fn public_key_of(&self, key_file: &Path, passphrase: &str) -> String {
        let text = std::fs::read_to_string(key_file).unwrap();
        let (pem, _) = strip_pem_headers(&text);
        let mut c = openssl(["pkey", "-passin", "env:TRUSTPIN_KEY_PASS", "-pubout"]);
        c.env("TRUSTPIN_KEY_PASS", passphrase);
        run_with_input(c, Some(pem.as_bytes()), COMMAND_TIMEOUT).ok()
    }

    /// The root public key (PEM `-----BEGIN PUBLIC KEY-----`) of repository `gun`, taken from this
    /// client's own encrypted root private key in `<trustdir>/private/` — the key a user pins.
    /// When the trust dir holds several root keys, the one whose public key is in the certificate
    /// that this client's own cached root.json lists for the root role is chosen.
    pub fn root_public_key_pem(&self, gun: &str) -> String {
        let candidates: Vec<(PathBuf, String)> = self
            .private_keys()
            .into_iter()
            .filter(|(_, h, _)| {
                h.iter().any(|(k, v)| k == "role" && v == "root")
                    && h.iter().all(|(k, v)| k != "gun" || v == gun)
            })
            .map(|(p, _, _)| {
                let pem = self.public_key_of(&p, ROOT_PASSPHRASE);
                (p, pem)
            })
            .collect();
        for (p, pem) in &candidates {
            let id = canonical_key_id(pem);
            assert_eq!(
                p.file_stem().unwrap().to_string_lossy(),
                id,
                "root key file name is not its canonical key id"
            );
        }
        let in_root = self.local_root_cert_public_keys(gun);
        let chosen: Vec<&(PathBuf, String)> = match &in_root {
            Some(keys) => candidates
                .iter()
                .filter(|(_, pem)| keys.contains(pem))
                .collect(),
            None => candidates.iter().collect(),
        };
        match chosen.as_slice() {
            [(_, pem)] => pem.clone(),
            [] => panic!(
                "no root private key for {gun} in {} ({} root keys; run init first)",
                self.trust_dir().display(),
                candidates.len()
            ),
            many => panic!(
                "{} root keys could be {gun}'s; cannot tell which one",
                many.len()
            ),
        }
    }

    /// Canonical key id of [`Self::root_public_key_pem`].
    pub fn root_key_id(&self, gun: &str) -> String {
        canonical_key_id(&self.root_public_key_pem(gun))
    }

    /// Public keys (PEM) of the root-role certificates in this client's cached
    /// `<trustdir>/tuf/<gun>/metadata/root.json`, if the client has one.
    fn local_root_cert_public_keys(&self, gun: &str) -> Option<Vec<String>> {
        let path = self
            .trust_dir()
            .join("tuf")
            .join(gun)
            .join("metadata")
            .join("root.json");
        let bytes = std::fs::read(&path).ok()?;
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).expect("cached root.json is not JSON");
        let keyids = v["signed"]["roles"]["root"]["keyids"].as_array()?;
        let mut out = Vec::new();
        for id in keyids {
            let key = &v["signed"]["keys"][id.as_str()?];
            let public = key["keyval"]["public"].as_str()?;
            use base64::Engine as _;
            let cert = base64::engine::general_purpose::STANDARD
                .decode(public)
                .ok()?;
            if !key["keytype"].as_str()?.ends_with("-x509") {
                continue;
            }
            let pem = run_with_input(
                openssl(["x509", "-pubkey", "-noout"]),
                Some(&cert),
                COMMAND_TIMEOUT,
            )
            .ok();
            out.push(pem);
        }
        Some(out)
    }

    /// Writes [`Self::root_public_key_pem`] to `<work>/<name>` and returns its path.
    pub fn write_root_key(&self, gun: &str, name: &str) -> PathBuf {
        let p = self.work_dir().join(name);
        std::fs::write(&p, self.root_public_key_pem(gun)).unwrap();
        p
    }

    /// Convenience: init GUN, add every target to `targets`, publish. Returns the targets.
    pub fn publish_repo(&self, gun: &str, tags: &[(&str, &str)]) -> Vec<Target> {
        self.init(gun);
        let targets: Vec<Target> = tags
            .iter()
            .map(|(t, content)| Target::of(t, content))
            .collect();
        for t in &targets {
            self.add_target(gun, t, "targets");
        }
        self.publish(gun);
        targets
    }
}

/// A simple repository builder: `RepoBuilder::new(&client, gun).target("v1", "content")
/// .delegation("releases").signed_by("releases", "v2", "content").publish()`.
pub struct RepoBuilder<'a> {
    client: &'a NotaryClient,
    gun: String,
    delegations: Vec<String>,
    entries: Vec<(String, Target)>,
}

/// What [`RepoBuilder::publish`] made.
#[derive(Debug)]
pub struct Repo {
    pub gun: String,
    /// (role, target) in the order added.
    pub entries: Vec<(String, Target)>,
    pub delegation_keys: Vec<DelegationKey>,
}

impl Repo {
    /// The target `tag` as signed by `role` (`targets`, `releases`, `targets/qa`, ...).
    pub fn get(&self, role: &str, tag: &str) -> &Target {
        let role = full_role(role);
        self.entries
            .iter()
            .find(|(r, t)| *r == role && t.tag == tag)
            .map(|(_, t)| t)
            .unwrap_or_else(|| panic!("{tag} not signed by {role} in {}", self.gun))
    }
}

impl<'a> RepoBuilder<'a> {
    pub fn new(client: &'a NotaryClient, gun: &str) -> Self {
        RepoBuilder {
            client,
            gun: gun.to_string(),
            delegations: Vec::new(),
            entries: Vec::new(),
        }
    }
    /// A tag in `targets` with the digest of `content`.
    pub fn target(self, tag: &str, content: &str) -> Self {
        self.signed_by("targets", tag, content)
    }
    /// A delegation (all paths) with a fresh openssl key.
    pub fn delegation(mut self, role: &str) -> Self {
        self.delegations.push(full_role(role));
        self
    }
    /// A tag signed by `role` with the digest of `content`.
    pub fn signed_by(mut self, role: &str, tag: &str, content: &str) -> Self {
        self.entries
            .push((full_role(role), Target::of(tag, content)));
        self
    }
    /// init, delegations (published first), targets, publish.
    pub fn publish(self) -> Repo {
        let c = self.client;
        c.init(&self.gun);
        let mut keys = Vec::new();
        for d in &self.delegations {
            keys.push(c.add_delegation(&self.gun, d));
        }
        if !keys.is_empty() {
            c.publish(&self.gun);
        }
        for (role, t) in &self.entries {
            c.add_target(&self.gun, t, role);
        }
        c.publish(&self.gun);
        Repo {
            gun: self.gun,
            entries: self.entries,
            delegation_keys: keys,
        }
    }
}

impl NotaryClient {
    /// `notary key rotate GUN root`, answering `yes` to its confirmation prompt. notary 0.7.0 asks
    /// "Are you sure you want to proceed? (yes/no)" on a root rotation and, without a `yes` on
    /// stdin, prints "Aborting action." and still exits 0 ([`Self::key_rotate`] feeds /dev/null, so
    /// for `root` it silently does nothing). The rotation is published at once: the server then
    /// serves the new root as `root.json` and `<n>.root.json`. Panics unless notary reports success.
    /// The client's own cached root.json stays at the old version until its next online
    /// operation, so this ends with `notary list` to refresh it ([`Self::root_public_key_pem`]
    /// then picks the new root key).
    pub fn rotate_root_key(&self, gun: &str) {
        let out = run_with_input(
            self.command(["key", "rotate", gun, "root"]),
            Some(b"yes\n"),
            self.timeout,
        );
        assert!(
            out.success() && out.all().contains("Successfully rotated root key"),
            "root key rotation failed: {}",
            out.describe()
        );
        self.list(gun);
    }
}
