//! Many AdmissionReviews at once against a running `trustpin serve`, and a mixed world to check
//! them against. [`Mixed`] publishes signed repositories on a real notary-server (plus one signed
//! under another root key, one missing its required delegation, none for others), lists images
//! good and bad (tags, digests, tag and digest together, bad references), and asks sequential
//! `trustpin resolve` runs about each: that is the expected answer. [`Mixed::reviews`] makes
//! reviews of those images from the kubectl fixtures; [`Mixed::check`] says whether serve's
//! answer is resolve's. [`load`] is a light client (hyper over rustls, HTTP/1.1 keep-alive, one
//! request at a time per connection) used by tests/serve_load.rs and benches/serve_load.rs.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;

use super::webhook::{fixture, verify_admission_response, World, SERVICE_NAME};
use super::Output;

/// The repositories the mixed world signs (two tags each) under the pinned root key.
pub const SIGNED: usize = 6;

fn app(i: usize) -> String {
    format!("example.com/trustpin/app-{i}")
}

/// One distinct image and what sequential `trustpin resolve` said of it.
pub struct Expected {
    pub image: String,
    pub resolve: Output,
}

impl Expected {
    pub fn ok(&self) -> bool {
        self.resolve.code == 0
    }
}

/// A review and, per container position, its pointer and the index of its image.
pub struct Case {
    pub review: Value,
    pub positions: Vec<(&'static str, usize)>,
}

impl Case {
    pub fn body(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(&self.review).unwrap())
    }
}

/// The world of a mixed load: a real notary-server, its repositories, and resolve's answers.
pub struct Mixed {
    pub world: World,
    pub images: Vec<Expected>,
}

const DEPLOYMENT: [&str; 2] = [
    "/spec/template/spec/containers/0/image",
    "/spec/template/spec/containers/1/image",
];
const POD: [&str; 4] = [
    "/spec/initContainers/0/image",
    "/spec/containers/0/image",
    "/spec/containers/1/image",
    "/spec/containers/2/image",
];

impl Mixed {
    pub fn new() -> Mixed {
        let signed: Vec<(String, [(&str, String); 2])> = (0..SIGNED)
            .map(|i| {
                let tags = [("v1", format!("app {i} v1")), ("v2", format!("app {i} v2"))];
                (app(i), tags)
            })
            .collect();
        let tags: Vec<Vec<(&str, &str)>> = signed
            .iter()
            .map(|(_, t)| t.iter().map(|(tag, c)| (*tag, c.as_str())).collect())
            .collect();
        let mut repos: Vec<(&str, &[(&str, &str)])> = signed
            .iter()
            .zip(&tags)
            .map(|((gun, _), t)| (gun.as_str(), t.as_slice()))
            .collect();
        repos.push(("example.com/trustpin/released", &[("v1", "released v1")]));
        let world = World::new(&repos);
        world
            .server
            .client()
            .publish_repo("example.com/trustpin/wrongkey", &[("v1", "wrong v1")]);
        let digest = |i: usize, tag: &str| {
            let content = format!("app {i} {tag}");
            super::notary::Target::of(tag, &content).digest()
        };
        let mut images: Vec<String> = Vec::new();
        for i in 0..SIGNED {
            images.push(format!("{}:v1", app(i)));
            images.push(format!("{}:v2", app(i)));
        }
        // Good by digest: alone, and with the tag that signs it.
        images.push(format!("{}@{}", app(0), digest(0, "v1")));
        images.push(format!("{}@{}", app(1), digest(1, "v2")));
        images.push(format!("{}:v1@{}", app(2), digest(2, "v1")));
        // Bad, each in its own way.
        images.extend([
            "example.com/trustpin/unsigned:v1".to_owned(),
            format!("{}:v9", app(0)),
            format!("{}@sha256:{}", app(1), "ab".repeat(32)),
            format!("{}:v2@{}", app(2), digest(2, "v1")),
            "example.com/trustpin/wrongkey:v1".to_owned(),
            "example.com/trustpin/released:v1".to_owned(),
            "example.org/other/app:v1".to_owned(),
            "Example.com/UPPER:v1".to_owned(),
        ]);
        let images = images
            .into_iter()
            .map(|image| {
                let resolve = super::Cmd::trustpin()
                    .arg("resolve")
                    .arg(&image)
                    .args(world.flags())
                    .arg("--no-cache")
                    .run();
                Expected { image, resolve }
            })
            .collect();
        Mixed { world, images }
    }

    /// The indexes of the images resolve accepted, and of those it refused.
    fn split(&self) -> (Vec<usize>, Vec<usize>) {
        (0..self.images.len()).partition(|&i| self.images[i].ok())
    }

    /// `n` reviews (deterministic): Deployments (2 containers) and Pods (4), all good images,
    /// or (`mixed`) about a third with one or two bad ones.
    pub fn reviews(&self, n: usize, mixed: bool) -> Vec<Case> {
        let (good, bad) = self.split();
        assert!(
            good.len() >= 2 * SIGNED && bad.len() >= 6,
            "resolve did not answer as the world was made: {}",
            self.describe()
        );
        let (deployment, pod) = (fixture("deployment"), fixture("pod"));
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |below: usize| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % below as u64) as usize
        };
        (0..n)
            .map(|k| {
                let (base, pointers): (&Value, &[&'static str]) = if next(2) == 0 {
                    (&deployment, &DEPLOYMENT)
                } else {
                    (&pod, &POD)
                };
                let mut positions: Vec<(&'static str, usize)> = pointers
                    .iter()
                    .map(|p| (*p, good[next(good.len())]))
                    .collect();
                if mixed && next(3) == 0 {
                    for _ in 0..=next(2) {
                        let at = next(positions.len());
                        positions[at].1 = bad[next(bad.len())];
                    }
                }
                let mut review = base.clone();
                review["request"]["uid"] = format!("load-{k}").into();
                for (pointer, i) in &positions {
                    *review["request"]["object"].pointer_mut(pointer).unwrap() =
                        self.images[*i].image.as_str().into();
                }
                Case { review, positions }
            })
            .collect()
    }

    /// Whether serve's answer (HTTP status and body) is resolve's for every image of `case`.
    pub fn check(&self, case: &Case, status: u16, body: &[u8]) -> Result<(), String> {
        if status != 200 {
            return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(body)));
        }
        let a = verify_admission_response(&case.review, body, Duration::ZERO);
        let uid = case.review["request"]["uid"].as_str().unwrap_or_default();
        let all_ok = case.positions.iter().all(|(_, i)| self.images[*i].ok());
        if a.allowed != all_ok {
            return Err(format!(
                "{uid}: allowed {} but resolve says {all_ok}: {a:?}",
                a.allowed
            ));
        }
        for (pointer, i) in &case.positions {
            let e = &self.images[*i];
            let named = a.message.contains(&format!("image {}: ", e.image));
            if all_ok {
                let want = pinned(&e.image, e.resolve.stdout.trim());
                if a.image_at(pointer) != want {
                    return Err(format!(
                        "{uid} {pointer}: {} not {want}",
                        a.image_at(pointer)
                    ));
                }
            } else if e.ok() == named {
                return Err(format!("{uid}: {} named {named}: {}", e.image, a.message));
            } else if named {
                let said = reason(&a.message, &e.image);
                if !e.resolve.stderr.contains(said) {
                    return Err(format!(
                        "{uid}: serve said {said:?}, resolve {}",
                        e.resolve.stderr
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every image with resolve's answer, for messages.
    pub fn describe(&self) -> String {
        self.images
            .iter()
            .map(|e| {
                format!(
                    "{} → {} {}",
                    e.image,
                    e.resolve.code,
                    e.resolve.stdout.trim()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// What serve writes at a position whose image resolve pinned to `resolved` (`gun@digest`): the
/// reference as written when it names a digest, else `gun:tag@digest`.
fn pinned(written: &str, resolved: &str) -> String {
    if written.contains('@') {
        return written.to_owned();
    }
    let (gun, digest) = resolved.split_once('@').unwrap_or((resolved, ""));
    let tag = written.rsplit_once(':').map_or("latest", |(_, t)| t);
    format!("{gun}:{tag}@{digest}")
}

/// The reason a denial gives for `image` ("image X: <reason>; image Y: ...").
fn reason<'a>(message: &'a str, image: &str) -> &'a str {
    let head = format!("image {image}: ");
    let rest = message
        .find(&head)
        .map_or("", |at| &message[at + head.len()..]);
    rest.find("; image ").map_or(rest, |end| &rest[..end])
}

/// One answer as the client saw it.
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
    pub took: Duration,
}

/// POST every body to `/mutate?timeout=10s` over `connections` HTTP/1.1 keep-alive TLS
/// connections (each sends its next request when the last is answered) on a client runtime of
/// `threads` threads. The answers in body order (Err: no answer), and the wall time.
pub fn load(
    addr: SocketAddr,
    ca_pem: &str,
    bodies: &[Bytes],
    connections: usize,
    threads: usize,
) -> (Vec<Result<Answer, String>>, Duration) {
    let config = super::webhook::client_config(ca_pem, &[b"http/1.1"]);
    let bodies: Arc<[Bytes]> = bodies.into();
    let next = Arc::new(AtomicUsize::new(0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let done = rt.block_on(async {
        let workers: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(worker(addr, config.clone(), bodies.clone(), next.clone())))
            .collect();
        let mut all = Vec::with_capacity(bodies.len());
        for w in workers {
            all.extend(w.await.unwrap());
        }
        all
    });
    let wall = started.elapsed();
    let mut answers: Vec<Option<Result<Answer, String>>> =
        (0..bodies.len()).map(|_| None).collect();
    for (i, a) in done {
        answers[i] = Some(a);
    }
    let answers = answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err("never sent".into())))
        .collect();
    (answers, wall)
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> Result<Sender, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let name = rustls::pki_types::ServerName::try_from(SERVICE_NAME).unwrap();
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn send(sender: &mut Sender, body: Bytes) -> Result<(u16, Bytes), String> {
    sender.ready().await.map_err(|e| e.to_string())?;
    let req = hyper::Request::post("/mutate?timeout=10s")
        .header(hyper::header::HOST, SERVICE_NAME)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .unwrap();
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok((status, body.to_bytes()))
}

async fn worker(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    bodies: Arc<[Bytes]>,
    next: Arc<AtomicUsize>,
) -> Vec<(usize, Result<Answer, String>)> {
    let mut out = Vec::new();
    let mut sender: Option<Sender> = None;
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= bodies.len() {
            return out;
        }
        let started = Instant::now();
        if sender.is_none() {
            match connect(addr, config.clone()).await {
                Ok(s) => sender = Some(s),
                Err(e) => {
                    out.push((i, Err(format!("connect: {e}"))));
                    continue;
                }
            }
        }
        let s = sender.as_mut().unwrap();
        let got = send(s, bodies[i].clone()).await;
        if got.is_err() {
            sender = None;
        }
        let answer = got.map(|(status, body)| Answer {
            status,
            body,
            took: started.elapsed(),
        });
        out.push((i, answer));
    }
}

/// Resident memory of process `pid`, in KiB (0 if it cannot be read).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// The server's decision-latency histogram from its `/metrics` text: (upper bound, count).
pub fn histogram(metrics: &str) -> Vec<(f64, u64)> {
    metrics
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("trustpin_decision_duration_seconds_bucket{le=\"")?;
            let (le, n) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, n.parse().ok()?))
        })
        .collect()
}
