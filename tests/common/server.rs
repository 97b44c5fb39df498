//! A tiny loopback HTTP/1.1 server for integration tests (std::net, plus rustls for https).
//!
//! It listens on 127.0.0.1 at a free port, runs a thread per connection, records every request,
//! and stops when dropped. Each path has a handler returning a [`Reply`]; helpers cover the usual
//! cases and the misbehaviours a client must survive: stalling, dripping bytes, a Content-Length
//! that lies, an endless body, redirects. A handler sees the [`Request`] (headers included) and how
//! many times its path was requested, so token challenges or data that changes between requests
//! are a closure away.
//!
//! [`TestServer::start_tls`] serves the same over https with a certificate from a [`TestPki`] (a CA
//! made for the test with rcgen), optionally requiring a client certificate (mutual TLS).
//!
//! ```ignore
//! mod common;
//! use common::server;
//! let srv = server::TestServer::start();
//! srv.serve_json(&server::tuf_path("docker.io/x/y", "root"), b"{}".to_vec());
//! ```

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Largest request head accepted (request line plus headers).
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body read.
const MAX_BODY: usize = 1024 * 1024;
/// How often blocked loops look at the stop flag.
const POLL: Duration = Duration::from_millis(20);
/// A connection idle for this long is closed.
const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// `/v2/<gun>/_trust/tuf/<role>.json`, the Notary URL path of a metadata file.
pub fn tuf_path(gun: &str, role: &str) -> String {
    format!("/v2/{gun}/_trust/tuf/{role}.json")
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target as sent, query included.
    pub target: String,
    /// The target without its query.
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// 1 for the first request to this path, 2 for the second, ...
    pub count: usize,
    pub peer: SocketAddr,
}

/// The first of `headers` named `name` (case-insensitive).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl Request {
    /// First header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The value of query parameter `name` (no percent-decoding).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .as_deref()?
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    }
}

/// What the server does with a request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Send a response.
    Respond(Response),
    /// Read the request, never answer; the connection stays open until the server is dropped.
    Stall,
    /// Close the connection without answering.
    Close,
    /// Write these bytes verbatim, then close.
    Raw(Vec<u8>),
}

impl From<Response> for Reply {
    fn from(r: Response) -> Reply {
        Reply::Respond(r)
    }
}

/// How the body length is announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// `Content-Length` = the body's length (for an endless body: close-delimited).
    Exact,
    /// `Content-Length: n` whatever the body is; the connection is closed after the body.
    Claim(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// No length; the body ends when the connection closes.
    CloseDelimited,
}

/// How fast the response is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    AllAtOnce,
    /// Head at once, then one body byte every interval.
    DripBody(Duration),
    /// Everything, status line included, one byte every interval.
    DripAll(Duration),
    /// Head at once, then nothing until the server is dropped.
    StallAfterHead,
}

/// A response to send.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub length: Length,
    pub pace: Pace,
    /// Repeat `body` (or `x` if empty) forever.
    pub endless: bool,
}

impl Response {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: body.into(),
            length: Length::Exact,
            pace: Pace::AllAtOnce,
            endless: false,
        }
    }

    /// 200 with `Content-Type: application/json`.
    pub fn json(body: impl Into<Vec<u8>>) -> Response {
        Response::new(200, body).header("Content-Type", "application/json")
    }

    /// Notary's 404 for missing metadata.
    pub fn notary_not_found() -> Response {
        Response::new(
            404,
            r#"{"errors":[{"code":"METADATA_NOT_FOUND","message":"You have requested metadata that does not exist.","detail":null}]}"#,
        )
        .header("Content-Type", "application/json")
    }

    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn length(mut self, length: Length) -> Response {
        self.length = length;
        self
    }

    pub fn pace(mut self, pace: Pace) -> Response {
        self.pace = pace;
        self
    }

    pub fn endless(mut self) -> Response {
        self.endless = true;
        self
    }
}

/// Decides the reply to a request.
pub type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

struct Shared {
    routes: Mutex<HashMap<String, Handler>>,
    fallback: Mutex<Handler>,
    counts: Mutex<HashMap<String, usize>>,
    log: Mutex<Vec<Request>>,
    stop: AtomicBool,
    tls: Option<Arc<rustls::ServerConfig>>,
    /// Connections still to be closed at once, before any byte (TLS handshake included).
    close_next: AtomicUsize,
    /// Connections accepted so far.
    accepted: AtomicUsize,
}

/// Locks, ignoring poisoning (a panicking handler must not take the whole server down).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The server; dropping it stops it.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts on 127.0.0.1 at a free port; unknown paths get Notary's 404.
    pub fn start() -> TestServer {
        Self::start_with(None)
    }

    /// The same over https with `config` (see [`TestPki::server_config`]).
    pub fn start_tls(config: Arc<rustls::ServerConfig>) -> TestServer {
        Self::start_with(Some(config))
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let not_found: Handler = Arc::new(|_| Response::notary_not_found().into());
        let shared = Arc::new(Shared {
            routes: Mutex::new(HashMap::new()),
            fallback: Mutex::new(not_found),
            counts: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            tls,
            close_next: AtomicUsize::new(0),
            accepted: AtomicUsize::new(0),
        });
        let accept_shared = shared.clone();
        let accept = thread::Builder::new()
            .name(format!("test-server-{}", addr.port()))
            .spawn(move || {
                for stream in listener.incoming() {
                    if accept_shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let conn_shared = accept_shared.clone();
                    let _ = thread::Builder::new()
                        .name("test-server-conn".into())
                        .spawn(move || serve_connection(stream, &conn_shared));
                }
            })
            .expect("spawn accept thread");
        TestServer {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn scheme(&self) -> &'static str {
        if self.shared.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// `http://127.0.0.1:<port>` (`https://` for a TLS server), no trailing slash.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme(), self.addr)
    }

    /// `http://localhost:<port>`: the same server under another host name.
    pub fn url_localhost(&self) -> String {
        format!("{}://localhost:{}", self.scheme(), self.addr.port())
    }

    /// The next `n` connections are accepted and closed at once (a TLS client sees the handshake
    /// fail; a plain one sees the connection closed before an answer).
    pub fn close_next_connections(&self, n: usize) {
        self.shared.close_next.store(n, Ordering::SeqCst);
    }

    /// Connections accepted so far (including closed ones).
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Handle `path` (query ignored) with `handler`, replacing any earlier handler.
    pub fn route(&self, path: &str, handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) {
        lock(&self.shared.routes).insert(path.to_owned(), Arc::new(handler));
    }

    /// Handle every path without a route.
    pub fn fallback(&self, handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) {
        *lock(&self.shared.fallback) = Arc::new(handler);
    }

    /// Always the same response.
    pub fn respond(&self, path: &str, response: Response) {
        self.route(path, move |_| Reply::Respond(response.clone()));
    }

    pub fn serve(&self, path: &str, status: u16, body: impl Into<Vec<u8>>) {
        self.respond(path, Response::new(status, body));
    }

    pub fn serve_json(&self, path: &str, body: impl Into<Vec<u8>>) {
        self.respond(path, Response::json(body));
    }

    /// The n-th request gets the n-th reply; the last one repeats.
    pub fn sequence(&self, path: &str, replies: Vec<Reply>) {
        assert!(!replies.is_empty(), "sequence needs at least one reply");
        self.route(path, move |req| {
            let i = req.count.saturating_sub(1).min(replies.len() - 1);
            replies[i].clone()
        });
    }

    /// Accept, read the request, never answer.
    pub fn stall(&self, path: &str) {
        self.route(path, |_| Reply::Stall);
    }

    /// 200, the head at once, then one body byte every `every`.
    pub fn drip(&self, path: &str, body: impl Into<Vec<u8>>, every: Duration) {
        self.respond(path, Response::json(body).pace(Pace::DripBody(every)));
    }

    /// 200 announcing `Content-Length: claimed` but sending all of `body`.
    pub fn lying_length(&self, path: &str, body: impl Into<Vec<u8>>, claimed: u64) {
        self.respond(path, Response::json(body).length(Length::Claim(claimed)));
    }

    /// 200 with a body that never ends (close-delimited, no Content-Length).
    pub fn endless(&self, path: &str) {
        self.respond(
            path,
            Response::json(&b"{\"x\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"[..])
                .length(Length::CloseDelimited)
                .endless(),
        );
    }

    /// `status` (e.g. 302) with `Location: to`.
    pub fn redirect(&self, path: &str, status: u16, to: &str) {
        self.respond(path, Response::new(status, "").header("Location", to));
    }

    /// Serve the files below `root` at `/v2/...` for paths without a route (`..` refused), the
    /// layout of `../shared/trust-data`.
    pub fn serve_tree(&self, root: impl Into<PathBuf>) {
        let root: PathBuf = root.into();
        self.fallback(move |req| match tree_file(&root, &req.path) {
            Some(body) => Response::json(body).into(),
            None => Response::notary_not_found().into(),
        });
    }

    /// Requests seen for `path` (query ignored).
    pub fn requests(&self, path: &str) -> usize {
        lock(&self.shared.counts).get(path).copied().unwrap_or(0)
    }

    /// Requests seen in all.
    pub fn total_requests(&self) -> usize {
        lock(&self.shared.log).len()
    }

    /// Every request, in arrival order.
    pub fn log(&self) -> Vec<Request> {
        lock(&self.shared.log).clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn tree_file(root: &Path, path: &str) -> Option<Vec<u8>> {
    let rest = path.strip_prefix("/v2/")?;
    let mut file = root.to_path_buf();
    for seg in rest.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." || seg.contains('\\') {
            return None;
        }
        file.push(seg);
    }
    std::fs::read(file).ok()
}

/// A connection the server speaks HTTP over: plain TCP or TLS.
trait Conn: Read + Write {
    /// Ends the connection (TLS: close_notify first, so a close-delimited body ends cleanly).
    fn close(&mut self);
}

impl Conn for TcpStream {
    fn close(&mut self) {
        let _ = self.shutdown(Shutdown::Both);
    }
}

impl Conn for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    fn close(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush();
        let _ = self.sock.shutdown(Shutdown::Both);
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    shared.accepted.fetch_add(1, Ordering::SeqCst);
    let close_now = shared
        .close_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if close_now {
        let _ = stream.shutdown(Shutdown::Both);
        return;
    }
    let _ = stream.set_read_timeout(Some(POLL));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_nodelay(true);
    let peer = match stream.peer_addr() {
        Ok(p) => p,
        Err(_) => return,
    };
    match &shared.tls {
        None => serve_http(stream, peer, shared),
        Some(config) => {
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                return;
            };
            serve_http(rustls::StreamOwned::new(conn, stream), peer, shared)
        }
    }
}

fn serve_http<S: Conn>(mut stream: S, peer: SocketAddr, shared: &Shared) {
    let mut pending = Vec::new();
    loop {
        let Some(mut req) = read_request(&mut stream, &mut pending, peer, &shared.stop) else {
            return;
        };
        let count = {
            let mut counts = lock(&shared.counts);
            let c = counts.entry(req.path.clone()).or_insert(0);
            *c += 1;
            *c
        };
        req.count = count;
        lock(&shared.log).push(req.clone());
        let handler = lock(&shared.routes)
            .get(&req.path)
            .cloned()
            .unwrap_or_else(|| lock(&shared.fallback).clone());
        let reply = handler(&req);
        let client_closes = req
            .header("Connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let keep_alive = match reply {
            Reply::Respond(resp) => {
                write_response(&mut stream, &resp, &req, &shared.stop).unwrap_or(false)
            }
            Reply::Stall => {
                wait_for_stop(&shared.stop);
                false
            }
            Reply::Close => false,
            Reply::Raw(bytes) => {
                let _ = stream.write_all(&bytes);
                false
            }
        };
        if !keep_alive || client_closes || shared.stop.load(Ordering::SeqCst) {
            stream.close();
            return;
        }
    }
}

fn wait_for_stop(stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        thread::sleep(POLL);
    }
}

/// Reads one request; `None` when the connection closed, broke, idled out or the server stops.
fn read_request(
    stream: &mut impl Read,
    pending: &mut Vec<u8>,
    peer: SocketAddr,
    stop: &AtomicBool,
) -> Option<Request> {
    let started = Instant::now();
    let head_end = loop {
        if let Some(i) = find(pending, b"\r\n\r\n") {
            break i;
        }
        if pending.len() > MAX_HEAD {
            return None;
        }
        if !read_more(stream, pending, stop, started)? {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&pending[..head_end]).into_owned();
    pending.drain(..head_end + 4);

    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let body_len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    if body_len > MAX_BODY {
        return None;
    }
    while pending.len() < body_len {
        if !read_more(stream, pending, stop, started)? {
            return None;
        }
    }
    let body: Vec<u8> = pending.drain(..body_len).collect();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (target.clone(), None),
    };
    Some(Request {
        method,
        target,
        path,
        query,
        headers,
        body,
        count: 0,
        peer,
    })
}

/// `Some(true)` when bytes were added, `Some(false)` on EOF, `None` on error/stop/idle.
fn read_more(
    stream: &mut impl Read,
    pending: &mut Vec<u8>,
    stop: &AtomicBool,
    started: Instant,
) -> Option<bool> {
    let mut buf = [0u8; 4096];
    loop {
        if stop.load(Ordering::SeqCst) || started.elapsed() > IDLE_LIMIT {
            return None;
        }
        match stream.read(&mut buf) {
            Ok(0) => return Some(false),
            Ok(n) => {
                pending.extend_from_slice(&buf[..n]);
                return Some(true);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(_) => return None,
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Writes a response; `Ok(true)` when the connection may carry another request.
fn write_response(
    stream: &mut impl Write,
    resp: &Response,
    req: &Request,
    stop: &AtomicBool,
) -> io::Result<bool> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let has_body = req.method != "HEAD" && !matches!(resp.status, 204 | 304);
    let mut keep_alive = true;
    match (resp.length, resp.endless) {
        (Length::Exact, false) => {
            head.push_str(&format!("Content-Length: {}\r\n", resp.body.len()))
        }
        (Length::Claim(n), _) => {
            head.push_str(&format!("Content-Length: {n}\r\n"));
            keep_alive = false;
        }
        (Length::Chunked, _) => head.push_str("Transfer-Encoding: chunked\r\n"),
        (Length::CloseDelimited, _) | (Length::Exact, true) => {
            head.push_str("Connection: close\r\n");
            keep_alive = false;
        }
    }
    head.push_str("\r\n");

    let byte_gap = match resp.pace {
        Pace::DripAll(every) => Some(every),
        _ => None,
    };
    write_paced(stream, head.as_bytes(), byte_gap, stop)?;
    if !has_body {
        return Ok(keep_alive);
    }
    if resp.pace == Pace::StallAfterHead {
        stream.flush()?;
        wait_for_stop(stop);
        return Ok(false);
    }
    let body_gap = match resp.pace {
        Pace::DripBody(every) | Pace::DripAll(every) => Some(every),
        _ => None,
    };
    let chunked = resp.length == Length::Chunked;
    let unit: &[u8] = if resp.body.is_empty() && resp.endless {
        b"x"
    } else {
        &resp.body
    };
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(false);
        }
        match (chunked, body_gap) {
            (true, Some(_)) => {
                // One chunk per byte, so dripping really is byte by byte.
                for b in unit {
                    let mut chunk = b"1\r\n".to_vec();
                    chunk.push(*b);
                    chunk.extend_from_slice(b"\r\n");
                    stream.write_all(&chunk)?;
                    if let Some(gap) = body_gap {
                        thread::sleep(gap);
                    }
                    if stop.load(Ordering::SeqCst) {
                        return Ok(false);
                    }
                }
            }
            (true, None) => {
                if !unit.is_empty() {
                    stream.write_all(format!("{:x}\r\n", unit.len()).as_bytes())?;
                    stream.write_all(unit)?;
                    stream.write_all(b"\r\n")?;
                }
            }
            (false, gap) => write_paced(stream, unit, gap, stop)?,
        }
        if !resp.endless {
            break;
        }
    }
    if chunked {
        stream.write_all(b"0\r\n\r\n")?;
    }
    stream.flush()?;
    Ok(keep_alive)
}

/// Writes `bytes`, one byte per `gap` when given.
fn write_paced(
    stream: &mut impl Write,
    bytes: &[u8],
    gap: Option<Duration>,
    stop: &AtomicBool,
) -> io::Result<()> {
    match gap {
        None => stream.write_all(bytes),
        Some(gap) => {
            for b in bytes {
                if stop.load(Ordering::SeqCst) {
                    return Err(io::Error::other("server stopping"));
                }
                stream.write_all(std::slice::from_ref(b))?;
                stream.flush()?;
                thread::sleep(gap);
            }
            Ok(())
        }
    }
}

// ------------------------------------------------------------------------------------------------
// TLS

/// A CA made for one test (rcgen, ECDSA P-256) with a server certificate for 127.0.0.1, ::1 and
/// localhost and a client certificate, all written as PEM files in a temporary folder.
/// A CA made for a test: ECDSA P-256, self-signed, CN `cn`, with key usage `keyCertSign` and
/// `usages`.
pub fn make_ca(
    cn: &str,
    usages: Vec<rcgen::KeyUsagePurpose>,
) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, cn);
    ca_params.key_usages = [vec![rcgen::KeyUsagePurpose::KeyCertSign], usages].concat();
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    CertifiedIssuer::self_signed(ca_params, ca_key).unwrap()
}

/// A certificate issued by `ca` for a fresh ECDSA P-256 key: subject alternative names `sans`, CN
/// `cn`, key usage digital signature, and the extended key usage `usage` when given.
pub fn make_leaf(
    ca: &rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    sans: Vec<String>,
    cn: &str,
    usage: Option<rcgen::ExtendedKeyUsagePurpose>,
) -> (rcgen::Certificate, rcgen::KeyPair) {
    use rcgen::{CertificateParams, DnType, KeyPair, KeyUsagePurpose};
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::new(sans).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = usage.into_iter().collect();
    let cert = params.signed_by(&key, &**ca).unwrap();
    (cert, key)
}

pub struct TestPki {
    dir: tempfile::TempDir,
    ca_der: Vec<u8>,
    server_cert_der: Vec<u8>,
    server_key_der: Vec<u8>,
}

impl TestPki {
    pub fn new() -> TestPki {
        use rcgen::{ExtendedKeyUsagePurpose, KeyUsagePurpose};
        let dir = super::temp_dir("trustpin-test-pki-");
        let ca = make_ca(
            "trustpin test CA",
            vec![KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature],
        );
        let leaf = |sans: Vec<String>, cn: &str, usage: ExtendedKeyUsagePurpose| {
            make_leaf(&ca, sans, cn, Some(usage))
        };
        let (server_cert, server_key) = leaf(
            vec!["127.0.0.1".into(), "::1".into(), "localhost".into()],
            "127.0.0.1",
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert, client_key) = leaf(
            Vec::new(),
            "trustpin test client",
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
        write("ca.pem", ca.pem());
        write("server.pem", server_cert.pem());
        write("server.key", server_key.serialize_pem());
        write("client.pem", client_cert.pem());
        write("client.key", client_key.serialize_pem());
        TestPki {
            ca_der: ca.der().to_vec(),
            server_cert_der: server_cert.der().to_vec(),
            server_key_der: server_key.serialize_der(),
            dir,
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    /// The CA certificate (PEM): what `--ca-cert` takes.
    pub fn ca_pem_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
    pub fn server_cert_path(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }
    pub fn server_key_path(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }
    /// A client certificate issued by this CA (PEM), for mutual TLS.
    pub fn client_cert_path(&self) -> PathBuf {
        self.dir.path().join("client.pem")
    }
    /// Its unencrypted PKCS#8 key (PEM).
    pub fn client_key_path(&self) -> PathBuf {
        self.dir.path().join("client.key")
    }

    /// A rustls server configuration with the server certificate; with `require_client_cert`,
    /// a client certificate issued by this CA is required.
    pub fn server_config(&self, require_client_cert: bool) -> Arc<rustls::ServerConfig> {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if require_client_cert {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from(self.ca_der.clone()))
                .unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let config = builder
            .with_single_cert(
                vec![CertificateDer::from(self.server_cert_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone())),
            )
            .unwrap();
        Arc::new(config)
    }
}
