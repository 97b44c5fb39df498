//! The transport layer against a misbehaving loopback server, and the folder source against the
//! real trust data in ../shared/trust-data.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::server::{tuf_path, Length, Pace, Reply, Request, Response, TestPki, TestServer};
use common::{Cmd, Output};
use trustpin::fetch::credentials::{
    Credential, CredentialError, CredentialProvider, Fixed, Found, Secret,
};
use trustpin::fetch::dir::DirSource;
use trustpin::fetch::http::{ClientIdentity, HttpOptions, HttpSource, MAX_REDIRECTS};
use trustpin::fetch::{Fetch, Source, SourceError, Wave};
use trustpin::reference::Gun;
use trustpin::tuf::role::RoleName;

const GUN: &str = "docker.io/library/alpine";
const ROOT_JSON: &[u8] = br#"{"signed":{"_type":"Root"},"signatures":[]}"#;
const TRUST_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/trust-data");

/// A repository name the test knows is valid.
fn as_gun(name: &str) -> Gun {
    Gun::new(name).unwrap()
}

/// A role name the test knows is valid.
fn as_role(name: &str) -> RoleName {
    RoleName::new(name).unwrap()
}

/// [`Source::fetch`] of a role of [`GUN`].
trait FetchRole {
    fn fetch_role(&self, role: &str, max_len: u64) -> Fetch;
}

impl<S: Source + ?Sized> FetchRole for S {
    fn fetch_role(&self, role: &str, max_len: u64) -> Fetch {
        self.fetch(&as_gun(GUN), &as_role(role), max_len)
    }
}

/// A server answering `role` of [`GUN`] with `response`.
fn answering(role: &str, response: Response) -> TestServer {
    let srv = TestServer::start();
    srv.respond(&tuf_path(GUN, role), response);
    srv
}

fn options(timeout: Duration) -> HttpOptions {
    HttpOptions {
        connect_timeout: Duration::from_secs(1),
        timeout,
        ..HttpOptions::default()
    }
}

fn source(srv: &TestServer) -> HttpSource {
    HttpSource::new(&srv.url(), options(Duration::from_secs(5))).expect("client")
}

/// `role` (at most `max_len` bytes) fetched from `srv` with `timeout`, which must fail: the error
/// and how long it took.
fn timed_failure(
    srv: &TestServer,
    timeout: Duration,
    role: &str,
    max_len: u64,
) -> (SourceError, Duration) {
    let src = HttpSource::new(&srv.url(), options(timeout)).unwrap();
    let started = Instant::now();
    let err = src.fetch_role(role, max_len).unwrap_err();
    (err, started.elapsed())
}

fn trust_data() -> PathBuf {
    let dir = PathBuf::from(TRUST_DATA);
    assert!(
        dir.join("docker.io/phbelitz/alice-image/_trust/tuf/root.json")
            .is_file(),
        "the shared trust data is missing: expected {} (see ../shared/trust-data/README.md)",
        dir.display()
    );
    dir
}

#[test]
fn fetch_returns_the_exact_body() {
    let srv = TestServer::start();
    srv.serve_json(&tuf_path(GUN, "root"), ROOT_JSON);
    let src = source(&srv);
    assert_eq!(src.fetch_role("root", 1024).unwrap(), ROOT_JSON);
    assert_eq!(srv.requests(&tuf_path(GUN, "root")), 1);
    let req = &srv.log()[0];
    assert_eq!(req.method, "GET");
    assert!(req
        .header("user-agent")
        .unwrap_or("")
        .starts_with("trustpin/"));
}

#[test]
fn every_role_form_maps_to_the_notary_url() {
    let srv = TestServer::start();
    let src = source(&srv);
    for role in common::ROLES.into_iter().chain(["targets/a/b", "2.root"]) {
        let path = tuf_path(GUN, role);
        srv.serve_json(&path, role.as_bytes().to_vec());
        assert_eq!(
            src.fetch_role(role, 100).unwrap(),
            role.as_bytes(),
            "{role}"
        );
        assert_eq!(
            src.location(&as_gun(GUN), &as_role(role)),
            format!("{}{path}", srv.url())
        );
    }
}

#[test]
fn base_url_with_path_prefix_and_trailing_slash() {
    let srv = TestServer::start();
    srv.serve_json(&format!("/notary{}", tuf_path(GUN, "root")), ROOT_JSON);
    let src = HttpSource::new(
        &format!("{}/notary/", srv.url()),
        options(Duration::from_secs(5)),
    )
    .unwrap();
    assert_eq!(src.fetch_role("root", 1024).unwrap(), ROOT_JSON);
}

#[test]
fn missing_metadata_is_not_found_naming_the_url() {
    let srv = TestServer::start();
    let err = source(&srv)
        .fetch_role("targets/releases", 1024)
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let url = format!("{}{}", srv.url(), tuf_path(GUN, "targets/releases"));
    assert!(err.to_string().contains(&url), "{err}");
    assert_eq!(err.location(), Some(url.as_str()));
}

#[test]
fn server_error_is_a_status_error() {
    let srv = TestServer::start();
    srv.serve(&tuf_path(GUN, "timestamp"), 500, "boom");
    let err = source(&srv).fetch_role("timestamp", 1024).unwrap_err();
    assert!(
        matches!(err, SourceError::Status { status: 500, .. }),
        "{err}"
    );
    assert!(!err.is_not_found());
    assert!(err.to_string().contains("500"), "{err}");
}

#[test]
fn body_at_the_limit_is_accepted_one_byte_over_is_refused() {
    let srv = TestServer::start();
    let body = vec![b'a'; 100];
    srv.serve_json(&tuf_path(GUN, "root"), body.clone());
    let src = source(&srv);
    assert_eq!(src.fetch_role("root", 100).unwrap(), body);
    let err = src.fetch_role("root", 99).unwrap_err();
    assert!(
        matches!(err, SourceError::TooLarge { limit: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("99 bytes"), "{err}");
    assert!(err.to_string().contains(&tuf_path(GUN, "root")), "{err}");
    assert!(matches!(
        src.fetch_role("root", 0),
        Err(SourceError::TooLarge { limit: 0, .. })
    ));
}

#[test]
fn oversized_body_without_content_length_is_refused() {
    for length in [Length::CloseDelimited, Length::Chunked] {
        let srv = TestServer::start();
        let body = vec![b'a'; 100_000];
        srv.respond(
            &tuf_path(GUN, "root"),
            Response::json(body.clone()).length(length),
        );
        let src = source(&srv);
        let err = src.fetch_role("root", 99_999).unwrap_err();
        assert!(
            matches!(err, SourceError::TooLarge { limit: 99_999, .. }),
            "{length:?}: {err}"
        );
        assert_eq!(src.fetch_role("root", 100_000).unwrap(), body, "{length:?}");
    }
}

#[test]
fn announced_length_over_the_limit_is_refused_before_reading() {
    // Claims a terabyte, sends forever: only the header can have been looked at.
    let srv = answering(
        "root",
        Response::json("x").length(Length::Claim(1 << 40)).endless(),
    );
    let started = Instant::now();
    let err = source(&srv).fetch_role("root", 1 << 20).unwrap_err();
    assert!(matches!(err, SourceError::TooLarge { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn endless_body_ends_quickly_with_too_large() {
    for length in [Length::CloseDelimited, Length::Chunked] {
        let srv = answering(
            "snapshot",
            Response::json(vec![b'x'; 8192]).length(length).endless(),
        );
        let (err, took) = timed_failure(&srv, Duration::from_secs(20), "snapshot", 1 << 20);
        assert!(
            matches!(err, SourceError::TooLarge { limit: 1048576, .. }),
            "{length:?}: {err}"
        );
        assert!(took < Duration::from_secs(5), "{:?}", took);
    }
    // The helper's own endless body too.
    let srv = TestServer::start();
    srv.endless(&tuf_path(GUN, "snapshot"));
    let err = source(&srv).fetch_role("snapshot", 4096).unwrap_err();
    assert!(
        matches!(err, SourceError::TooLarge { limit: 4096, .. }),
        "{err}"
    );
}

#[test]
fn stalled_server_times_out_within_the_configured_timeout() {
    let srv = TestServer::start();
    srv.stall(&tuf_path(GUN, "timestamp"));
    let (err, took) = timed_failure(&srv, Duration::from_secs(1), "timestamp", 1024);
    assert!(
        matches!(err, SourceError::Timeout { after, .. } if after == Duration::from_secs(1)),
        "{err}"
    );
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(
        err.to_string().contains(&tuf_path(GUN, "timestamp")),
        "{err}"
    );
    assert_eq!(srv.requests(&tuf_path(GUN, "timestamp")), 1);
}

#[test]
fn server_stalling_after_the_headers_times_out() {
    let srv = answering(
        "timestamp",
        Response::json("{}")
            .length(Length::Claim(100))
            .pace(Pace::StallAfterHead),
    );
    let (err, took) = timed_failure(&srv, Duration::from_secs(1), "timestamp", 1024);
    assert!(matches!(err, SourceError::Timeout { .. }), "{err}");
    assert!(took < Duration::from_secs(3), "{:?}", took);
}

#[test]
fn drip_fed_body_is_cut_off_by_the_total_timeout() {
    // 200 bytes at one per 20 ms would take 4 s; each read returns quickly, so only a total
    // deadline stops it.
    for length in [Length::Exact, Length::Chunked] {
        let srv = answering(
            "snapshot",
            Response::json(vec![b'a'; 200])
                .length(length)
                .pace(Pace::DripBody(Duration::from_millis(20))),
        );
        let (err, took) = timed_failure(&srv, Duration::from_secs(1), "snapshot", 1024);
        assert!(
            matches!(err, SourceError::Timeout { .. }),
            "{length:?}: {err}"
        );
        assert!(took < Duration::from_millis(1800), "{length:?}: {took:?}");
    }
}

#[test]
fn drip_fed_headers_are_cut_off_by_the_total_timeout() {
    let srv = answering(
        "snapshot",
        Response::json(vec![b'a'; 10])
            .header("X-Padding", &"p".repeat(200))
            .pace(Pace::DripAll(Duration::from_millis(20))),
    );
    let (err, took) = timed_failure(&srv, Duration::from_secs(1), "snapshot", 1024);
    assert!(matches!(err, SourceError::Timeout { .. }), "{err}");
    assert!(took < Duration::from_millis(1800), "{:?}", took);
}

#[test]
fn slow_but_complete_drip_within_the_timeout_is_accepted() {
    let srv = TestServer::start();
    srv.drip(
        &tuf_path(GUN, "root"),
        &b"{\"ok\":1}"[..],
        Duration::from_millis(10),
    );
    let src = HttpSource::new(&srv.url(), options(Duration::from_secs(5))).unwrap();
    assert_eq!(src.fetch_role("root", 1024).unwrap(), b"{\"ok\":1}");
}

#[test]
fn content_length_shorter_than_the_body_yields_only_the_announced_bytes() {
    let srv = TestServer::start();
    srv.lying_length(&tuf_path(GUN, "root"), &b"0123456789"[..], 4);
    srv.serve_json(&tuf_path(GUN, "targets"), &b"targets"[..]);
    let src = source(&srv);
    // The extra bytes are never part of the answer (the hash check upstream then fails).
    assert_eq!(src.fetch_role("root", 1024).unwrap(), b"0123");
    // Nor do they leak into the next answer on a reused connection.
    assert_eq!(src.fetch_role("targets", 1024).unwrap(), b"targets");
}

#[test]
fn body_cut_short_of_its_content_length_is_an_error_not_a_short_answer() {
    let srv = TestServer::start();
    srv.lying_length(&tuf_path(GUN, "root"), &b"0123456789"[..], 50);
    let err = source(&srv).fetch_role("root", 1024).unwrap_err();
    assert!(
        matches!(err, SourceError::Http { .. } | SourceError::Io { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&tuf_path(GUN, "root")), "{err}");
}

#[test]
fn redirect_to_another_host_is_refused_without_contacting_it() {
    let target = TestServer::start();
    target.serve_json(&tuf_path(GUN, "root"), ROOT_JSON);
    let srv = TestServer::start();
    let elsewhere = format!("{}{}", target.url(), tuf_path(GUN, "root"));
    srv.redirect(&tuf_path(GUN, "root"), 302, &elsewhere);
    let err = source(&srv).fetch_role("root", 1024).unwrap_err();
    match &err {
        SourceError::Redirect { to, .. } => assert_eq!(to, &elsewhere),
        other => panic!("expected Redirect, got {other:?}"),
    }
    assert!(err.to_string().contains(&elsewhere), "{err}");
    assert_eq!(target.total_requests(), 0);

    // Same port, other host name: still another server.
    let other_name = format!("{}{}", srv.url_localhost(), tuf_path(GUN, "timestamp"));
    srv.redirect(&tuf_path(GUN, "snapshot"), 301, &other_name);
    let err = source(&srv).fetch_role("snapshot", 1024).unwrap_err();
    assert!(matches!(err, SourceError::Redirect { .. }), "{err}");
    assert_eq!(srv.requests(&tuf_path(GUN, "timestamp")), 0);
}

#[test]
fn redirect_within_the_same_server_is_followed_a_few_times() {
    let srv = TestServer::start();
    srv.redirect(&tuf_path(GUN, "root"), 307, "/mirror/root.json");
    srv.serve_json("/mirror/root.json", ROOT_JSON);
    assert_eq!(source(&srv).fetch_role("root", 1024).unwrap(), ROOT_JSON);

    srv.redirect("/loop", 302, "/loop");
    srv.redirect(&tuf_path(GUN, "targets"), 302, "/loop");
    let err = source(&srv).fetch_role("targets", 1024).unwrap_err();
    assert!(matches!(err, SourceError::Redirect { .. }), "{err}");
    assert_eq!(srv.requests("/loop"), MAX_REDIRECTS);
}

#[test]
fn names_that_could_escape_a_url_cannot_reach_a_source() {
    // `Source::fetch` takes a `Gun` and a `RoleName`: these names cannot be made, so no source can
    // be asked for them.
    let bad_guns = [
        "",
        "..",
        "../../etc",
        "docker.io/../x",
        "docker.io//x",
        "docker.io/x/",
        "/docker.io/x",
        "docker.io/a%2F..%2Fb",
        "docker.io/x?y=1",
        "docker.io/x#y",
        "docker.io/x y",
        "docker.io/X",
        "docker.io/x\r\nHost: evil",
        "http://evil.example/x",
    ];
    all_refused(&bad_guns, Gun::new, "invalid repository name");
    let bad_roles = [
        "",
        "../root",
        "targets/../root",
        "targets/",
        "targets//x",
        "targets/X",
        "targets/a.b",
        "targets/%2e%2e",
        "root?x",
        "root#x",
        "root.json",
        "x.root",
        "delegations",
        "targets/a b",
        "root\n",
    ];
    all_refused(&bad_roles, RoleName::new, "invalid role name");
}

/// Each of `names` is refused by `new`, saying `words`.
#[track_caller]
fn all_refused<T: std::fmt::Debug, E: std::fmt::Display>(
    names: &[&str],
    new: impl Fn(&str) -> Result<T, E>,
    words: &str,
) {
    for name in names {
        let err = new(name).expect_err(name);
        assert!(err.to_string().contains(words), "{err}");
    }
}

#[test]
fn concurrent_fetches_share_one_source() {
    let srv = TestServer::start();
    let roles: Vec<&str> = common::ROLES.into_iter().chain(["targets/a/b"]).collect();
    for role in roles.iter().copied() {
        srv.serve_json(&tuf_path(GUN, role), role.as_bytes().to_vec());
    }
    let src = source(&srv);
    std::thread::scope(|s| {
        let handles: Vec<_> = roles
            .iter()
            .map(|role| {
                let src = &src;
                s.spawn(move || (role, src.fetch_role(role, 1024)))
            })
            .collect();
        for h in handles {
            let (role, got) = h.join().unwrap();
            assert_eq!(got.unwrap(), role.as_bytes());
        }
    });
    for role in roles {
        assert_eq!(srv.requests(&tuf_path(GUN, role)), 1, "{role}");
    }
    // Usable as a trait object too.
    let dynamic: &dyn Source = &src;
    assert_eq!(dynamic.fetch_role("root", 1024).unwrap(), b"root");
}

#[test]
fn closed_port_is_a_connect_error() {
    let port = common::free_port();
    let src = HttpSource::new(
        &format!("http://127.0.0.1:{port}"),
        options(Duration::from_secs(5)),
    )
    .unwrap();
    let err = src.fetch_role("root", 1024).unwrap_err();
    assert!(matches!(err, SourceError::Connect { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

#[test]
fn https_to_a_plain_http_server_fails_the_handshake() {
    // A server answering in plain HTTP at once: the TLS handshake fails.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            use std::io::Write;
            let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let src = HttpSource::new(&format!("https://{addr}"), options(Duration::from_secs(5))).unwrap();
    let err = src.fetch_role("root", 1024).unwrap_err();
    assert!(matches!(err, SourceError::Connect { .. }), "{err:?}");
    assert!(err.to_string().starts_with("https://"), "{err}");
    answer.join().unwrap();
}

#[test]
fn tls_handshake_that_never_completes_ends_at_the_connect_timeout() {
    // The test server waits for an HTTP request that a TLS client never sends.
    let srv = TestServer::start();
    let src = HttpSource::new(
        &format!("https://{}", srv.addr()),
        options(Duration::from_secs(5)),
    )
    .unwrap();
    let started = Instant::now();
    let err = src.fetch_role("root", 1024).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, SourceError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("connect timeout of 1s"), "{err}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn bad_server_urls_are_refused() {
    for url in [
        "",
        "notary.docker.io",
        "ftp://x",
        "https://u:p@x",
        "https://x/?q=1",
    ] {
        assert!(
            matches!(
                HttpSource::new(url, HttpOptions::default()),
                Err(SourceError::BadUrl { .. })
            ),
            "{url}"
        );
    }
}

/// The root certificate of alice-image, as PEM (any real certificate will do as a CA bundle).
fn a_pem_certificate() -> Vec<u8> {
    use base64::Engine as _;
    let root =
        std::fs::read(trust_data().join("docker.io/phbelitz/alice-image/_trust/tuf/root.json"))
            .unwrap();
    let root: serde_json::Value = serde_json::from_slice(&root).unwrap();
    let keys = root["signed"]["keys"].as_object().unwrap();
    let cert = keys
        .values()
        .find(|k| k["keytype"] == "ecdsa-x509")
        .expect("a certificate key in alice-image's root");
    base64::engine::general_purpose::STANDARD
        .decode(cert["keyval"]["public"].as_str().unwrap())
        .unwrap()
}

#[test]
fn extra_ca_bundles_are_loaded_or_refused_with_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("ca.pem");
    std::fs::write(&good, a_pem_certificate()).unwrap();
    let opts = HttpOptions {
        ca_certs: vec![good],
        ..HttpOptions::default()
    };
    HttpSource::new("https://notary.example.com", opts).unwrap();

    let not_pem = tmp.path().join("junk.pem");
    std::fs::write(&not_pem, b"hello").unwrap();
    let missing = tmp.path().join("missing.pem");
    for path in [not_pem, missing] {
        let opts = HttpOptions {
            ca_certs: vec![path.clone()],
            ..HttpOptions::default()
        };
        match HttpSource::new("https://notary.example.com", opts) {
            Err(err @ SourceError::BadCa { .. }) => {
                assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}")
            }
            other => panic!("{}: expected BadCa, got {other:?}", path.display()),
        }
    }
}

#[test]
fn sequence_replies_change_between_requests() {
    // The server helper itself: later tests rely on it for data that changes between fetches.
    let srv = TestServer::start();
    srv.sequence(
        &tuf_path(GUN, "timestamp"),
        vec![
            Response::json("one").into(),
            Reply::Respond(Response::json("two")),
        ],
    );
    let src = source(&srv);
    assert_eq!(src.fetch_role("timestamp", 100).unwrap(), b"one");
    assert_eq!(src.fetch_role("timestamp", 100).unwrap(), b"two");
    assert_eq!(src.fetch_role("timestamp", 100).unwrap(), b"two");
    assert_eq!(srv.requests(&tuf_path(GUN, "timestamp")), 3);
}

#[test]
fn served_trust_data_tree_matches_the_folder() {
    let data = trust_data();
    let srv = TestServer::start();
    srv.serve_tree(&data);
    let gun = "docker.io/phbelitz/alice-image";
    let http = source(&srv)
        .fetch(&as_gun(gun), &as_role("targets/releases"), 1 << 20)
        .unwrap();
    let dir = DirSource::new(data)
        .fetch(&as_gun(gun), &as_role("targets/releases"), 1 << 20)
        .unwrap();
    assert_eq!(http, dir);
    assert!(source(&srv)
        .fetch(&as_gun(gun), &as_role("targets/nope"), 1 << 20)
        .unwrap_err()
        .is_not_found());
}

#[test]
fn dir_source_reads_the_shared_trust_data() {
    let data = trust_data();
    let src = DirSource::new(data.clone());
    let gun = "docker.io/phbelitz/alice-image";
    let expected = std::fs::read(data.join(gun).join("_trust/tuf/targets/releases.json")).unwrap();
    let got = src
        .fetch(&as_gun(gun), &as_role("targets/releases"), 1 << 20)
        .unwrap();
    assert_eq!(got, expected);
    assert!(got.starts_with(b"{\"signed\":"));
    for role in common::TOP_ROLES
        .into_iter()
        .chain(["targets/phbelitz", "targets/chamsen"])
    {
        src.fetch(&as_gun(gun), &as_role(role), 1 << 20)
            .unwrap_or_else(|e| panic!("{role}: {e}"));
    }
    assert_eq!(
        Path::new(&src.location(&as_gun(gun), &as_role("targets/releases"))),
        data.join(gun).join("_trust/tuf/targets/releases.json")
    );
    let err = src
        .fetch(&as_gun(gun), &as_role("targets/releases"), 10)
        .unwrap_err();
    assert!(
        matches!(err, SourceError::TooLarge { limit: 10, .. }),
        "{err}"
    );
    let err = src
        .fetch(
            &as_gun("docker.io/phbelitz/eve-image"),
            &as_role("targets/releases"),
            1 << 20,
        )
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("eve-image"), "{err}");
}

#[test]
fn dir_source_path_tricks_cannot_be_named() {
    let data = trust_data();
    let src = DirSource::new(data.join("docker.io/phbelitz"));
    let tricks = [
        ("../phbelitz/alice-image", "root"),
        ("..", "root"),
        ("alice-image/../bob-image", "root"),
        ("alice-image/_trust/tuf/..", "root"),
        ("/etc", "passwd"),
        ("alice-image", "../../../alice-image/_trust/tuf/root"),
        ("alice-image", "targets/../root"),
        ("alice-image", "targets/../../tuf/root"),
        ("alice-image", "root.json/.."),
    ];
    for (gun, role) in tricks {
        // Neither name can be made, or one of them cannot: no folder source is ever asked.
        assert!(
            Gun::new(gun).is_err() || RoleName::new(role).is_err(),
            "{gun:?} {role:?}"
        );
    }
    // The honest name works from that base.
    src.fetch(&as_gun("alice-image"), &as_role("root"), 1 << 20)
        .unwrap();
}

// ------------------------------------------------------------------------------------------------
// Token flow (docker/distribution): challenges, the token request, the cache, hostile realms

const PASSWORD: &str = "s3cret-pw-1d7c";
const GOOD_TOKEN: &str = "tok.en-1";

fn password(user: &str, pw: &str) -> Arc<dyn CredentialProvider> {
    Arc::new(Fixed(Found {
        credential: Credential::Password {
            username: user.into(),
            password: Secret::new(pw),
        },
        origin: "the test".into(),
    }))
}

fn with_credentials(srv: &TestServer, creds: Option<Arc<dyn CredentialProvider>>) -> HttpSource {
    HttpSource::new(
        &srv.url(),
        HttpOptions {
            credentials: creds,
            ..options(Duration::from_secs(5))
        },
    )
    .unwrap()
}

fn bearer_challenge(realm: &str) -> String {
    format!(r#"Bearer realm="{realm}",service="notary-test",scope="repository:{GUN}:pull""#)
}

/// Every path answers its own path as the body when `Authorization` is exactly `accept`, else 401
/// with `challenge`.
/// A server behind a Bearer challenge naming `tokens`' `/token`, answering `Bearer tok.en-1`.
fn bearer_protected(tokens: &TestServer) -> TestServer {
    let srv = TestServer::start();
    protect(
        &srv,
        bearer_challenge(&format!("{}/token", tokens.url())),
        "Bearer tok.en-1",
    );
    srv
}

fn protect(srv: &TestServer, challenge: String, accept: &'static str) {
    srv.fallback(move |req| {
        if req.header("authorization") == Some(accept) {
            Response::json(req.path.clone()).into()
        } else {
            Response::new(401, r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#)
                .header("WWW-Authenticate", &challenge)
                .into()
        }
    });
}

/// A token endpoint at `/token` answering `{"token": token}`.
fn token_server(token: &'static str) -> TestServer {
    let t = TestServer::start();
    t.respond(
        "/token",
        Response::json(format!(r#"{{"token":"{token}"}}"#)),
    );
    t
}

fn token_requests(t: &TestServer) -> Vec<Request> {
    t.log().into_iter().filter(|r| r.path == "/token").collect()
}

#[test]
fn token_is_fetched_once_and_sent_as_bearer() {
    let tokens = token_server(GOOD_TOKEN);
    let srv = bearer_protected(&tokens);
    let src = source(&srv);
    let roles = common::ROLES.into_iter().chain(["targets/a"]);
    std::thread::scope(|s| {
        for role in roles {
            let src = &src;
            s.spawn(move || {
                assert_eq!(
                    src.fetch_role(role, 1024).unwrap(),
                    tuf_path(GUN, role).as_bytes()
                )
            });
        }
    });
    let asked = token_requests(&tokens);
    assert_eq!(asked.len(), 1, "one token for the run: {asked:?}");
    assert_eq!(asked[0].query_param("service"), Some("notary-test"));
    assert_eq!(
        asked[0].query_param("scope"),
        Some("repository%3Adocker.io%2Flibrary%2Falpine%3Apull")
    );
    assert_eq!(asked[0].header("authorization"), None, "anonymous");
    // Once known, the token goes with the first request.
    let before = srv.total_requests();
    src.fetch_role("targets/b", 1024).unwrap();
    assert_eq!(srv.total_requests(), before + 1);
    // Another repository has another scope: another token.
    src.fetch(&as_gun("docker.io/library/busybox"), &as_role("root"), 1024)
        .unwrap();
    assert_eq!(token_requests(&tokens).len(), 2);
}

#[test]
fn credentials_go_to_the_realm_only() {
    let tokens = TestServer::start();
    tokens.route("/token", |req| {
        if req.header("authorization") == Some("Basic YWxpY2U6czNjcmV0LXB3LTFkN2M=") {
            Response::json(r#"{"access_token":"tok.en-1","token":"ignored"}"#).into()
        } else {
            Response::new(401, "{}").into()
        }
    });
    let srv = bearer_protected(&tokens);
    let src = with_credentials(&srv, Some(password("alice", PASSWORD)));
    src.fetch_role("root", 1024).unwrap();
    for req in srv.log() {
        let auth = req.header("authorization").unwrap_or("");
        assert!(auth.is_empty() || auth.starts_with("Bearer "), "{req:?}");
    }
    assert_eq!(token_requests(&tokens).len(), 1);
}

#[test]
fn identity_token_is_exchanged_with_an_oauth2_post() {
    let tokens = TestServer::start();
    tokens.route("/token", |req| {
        let body = String::from_utf8_lossy(&req.body);
        if req.method == "POST"
            && body.contains("grant_type=refresh_token")
            && body.contains("refresh_token=refresh-me")
            && body.contains("client_id=trustpin")
            && req.header("authorization").is_none()
        {
            Response::json(r#"{"access_token":"tok.en-1"}"#).into()
        } else {
            Response::new(400, "{}").into()
        }
    });
    let srv = bearer_protected(&tokens);
    let creds = Arc::new(Fixed(Found {
        credential: Credential::IdentityToken {
            token: Secret::new("refresh-me"),
        },
        origin: "the test".into(),
    }));
    with_credentials(&srv, Some(creds))
        .fetch_role("root", 1024)
        .unwrap();
}

#[test]
fn refused_credentials_name_the_realm_never_the_password() {
    let tokens = TestServer::start();
    tokens.respond(
        "/token",
        Response::new(401, r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#),
    );
    let srv = TestServer::start();
    let realm = format!("{}/token", tokens.url());
    protect(&srv, bearer_challenge(&realm), "Bearer tok.en-1");
    let src = with_credentials(&srv, Some(password("alice", PASSWORD)));
    let err = src.fetch_role("root", 1024).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, SourceError::Auth { .. }), "{err:?}");
    assert!(msg.contains(&realm), "{msg}");
    assert!(msg.contains("alice"), "{msg}");
    assert!(
        !msg.contains(PASSWORD) && !format!("{err:?}").contains(PASSWORD),
        "{err:?}"
    );
    // The failure is remembered for the run: no second try with the same credentials.
    let _ = src.fetch_role("timestamp", 1024).unwrap_err();
    assert_eq!(token_requests(&tokens).len(), 1);
}

#[test]
fn a_token_the_server_refuses_is_an_auth_error() {
    let tokens = token_server("not.enough");
    let srv = TestServer::start();
    let realm = format!("{}/token", tokens.url());
    let challenge = format!("{},error=\"insufficient_scope\"", bearer_challenge(&realm));
    protect(&srv, challenge, "Bearer tok.en-1");
    let err = source(&srv).fetch_role("root", 1024).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, SourceError::Auth { .. }), "{err:?}");
    assert!(msg.contains(&realm), "{msg}");
    assert!(msg.contains("insufficient_scope"), "{msg}");
    assert!(msg.contains("anonymously"), "{msg}");
}

#[test]
fn an_expired_token_is_replaced_once() {
    let tokens = TestServer::start();
    tokens.sequence(
        "/token",
        vec![
            Response::json(r#"{"token":"first"}"#).into(),
            Response::json(r#"{"token":"second"}"#).into(),
        ],
    );
    let srv = TestServer::start();
    let challenge = bearer_challenge(&format!("{}/token", tokens.url()));
    let first_expired = Arc::new(AtomicBool::new(false));
    let expired = first_expired.clone();
    srv.fallback(move |req| {
        let ok = match req.header("authorization") {
            Some("Bearer first") => !expired.load(Ordering::SeqCst),
            Some("Bearer second") => true,
            _ => false,
        };
        if ok {
            Response::json("ok").into()
        } else {
            Response::new(401, "{}")
                .header(
                    "WWW-Authenticate",
                    &format!("{challenge},error=\"invalid_token\""),
                )
                .into()
        }
    });
    let src = source(&srv);
    src.fetch_role("root", 1024).unwrap();
    first_expired.store(true, Ordering::SeqCst);
    src.fetch_role("timestamp", 1024).unwrap();
    assert_eq!(token_requests(&tokens).len(), 2);
    src.fetch_role("snapshot", 1024).unwrap();
    assert_eq!(token_requests(&tokens).len(), 2);
}

#[test]
fn hostile_challenges_are_refused_before_anything_is_sent() {
    let tokens = token_server(GOOD_TOKEN);
    let t = tokens.url();
    let cases = [
        (
            r#"Bearer realm="http://auth.example.com/token",service="s""#.to_owned(),
            "plain http",
            "http://auth.example.com/token",
        ),
        (
            format!(r#"Bearer realm="{t}/a/../token",service="s""#),
            "'..'",
            "/a/../token",
        ),
        (
            format!(r#"Bearer realm="{t}/%2e%2e/token""#),
            "'..'",
            "%2e%2e",
        ),
        (
            r#"Bearer realm="file:///etc/passwd""#.to_owned(),
            "scheme",
            "file:///etc/passwd",
        ),
        (
            format!(
                r#"Bearer realm="{}""#,
                t.replace("http://", "http://user:pw@")
            ),
            "user information",
            "",
        ),
        (
            r#"Digest realm="r", nonce="n""#.to_owned(),
            "unsupported authentication scheme \"Digest\"",
            "",
        ),
        (
            r#"Negotiate"#.to_owned(),
            "unsupported authentication scheme",
            "",
        ),
        (r#"Bearer service="s""#.to_owned(), "no realm", ""),
    ];
    for (challenge, why, named) in cases {
        let srv = TestServer::start();
        protect(&srv, challenge.clone(), "never");
        let src = with_credentials(&srv, Some(password("alice", PASSWORD)));
        let err = src.fetch_role("root", 1024).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, SourceError::Challenge { .. }),
            "{challenge}: {err:?}"
        );
        assert!(msg.contains(why), "{challenge}: {msg}");
        assert!(msg.contains(named), "{challenge}: {msg}");
        assert!(!msg.contains(PASSWORD));
    }
    let srv = TestServer::start();
    srv.fallback(|_| Response::new(401, "{}").into());
    let err = source(&srv).fetch_role("root", 1024).unwrap_err();
    assert!(
        err.to_string().contains("without a WWW-Authenticate"),
        "{err}"
    );
    assert_eq!(tokens.total_requests(), 0, "no realm was contacted");
}

#[test]
fn an_https_server_may_not_send_credentials_to_an_http_realm() {
    let pki = TestPki::new();
    let tokens = token_server(GOOD_TOKEN);
    let srv = TestServer::start_tls(pki.server_config(false));
    let realm = format!("{}/token", tokens.url());
    protect(&srv, bearer_challenge(&realm), "Bearer tok.en-1");
    let src = HttpSource::new(
        &srv.url(),
        HttpOptions {
            ca_certs: vec![pki.ca_pem_path()],
            credentials: Some(password("alice", PASSWORD)),
            ..options(Duration::from_secs(5))
        },
    )
    .unwrap();
    let err = src.fetch_role("root", 1024).unwrap_err();
    assert!(matches!(err, SourceError::Challenge { .. }), "{err:?}");
    assert!(err.to_string().contains(&realm), "{err}");
    assert!(err.to_string().contains("plain http"), "{err}");
    assert_eq!(tokens.total_requests(), 0);

    // An https realm on another host (here: another port) is fine: the token request is the one
    // request allowed to leave the server.
    let tls_tokens = TestServer::start_tls(pki.server_config(false));
    tls_tokens.respond("/token", Response::json(r#"{"token":"tok.en-1"}"#));
    protect(
        &srv,
        bearer_challenge(&format!("{}/token", tls_tokens.url())),
        "Bearer tok.en-1",
    );
    src.fetch_role("timestamp", 1024).unwrap();
    let asked = token_requests(&tls_tokens);
    assert_eq!(asked.len(), 1);
    assert!(asked[0]
        .header("authorization")
        .is_some_and(|a| a.starts_with("Basic ")));
}

#[test]
fn a_stalled_token_endpoint_is_bounded() {
    let tokens = TestServer::start();
    tokens.stall("/token");
    let srv = TestServer::start();
    let realm = format!("{}/token", tokens.url());
    protect(&srv, bearer_challenge(&realm), "Bearer tok.en-1");
    let (err, took) = timed_failure(&srv, Duration::from_secs(1), "root", 1024);
    let msg = err.to_string();
    assert!(matches!(err, SourceError::Auth { .. }), "{err:?}");
    assert!(msg.contains(&realm) && msg.contains("within 1s"), "{msg}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn an_endless_token_answer_is_cut_at_one_mebibyte() {
    let tokens = TestServer::start();
    tokens.respond(
        "/token",
        Response::json(&b"{\"token\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"[..])
            .length(Length::Chunked)
            .endless(),
    );
    let srv = TestServer::start();
    let realm = format!("{}/token", tokens.url());
    protect(&srv, bearer_challenge(&realm), "Bearer tok.en-1");
    let started = Instant::now();
    let err = source(&srv).fetch_role("root", 1024).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&realm) && msg.contains("1048576 bytes"),
        "{msg}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_token_endpoint_redirecting_elsewhere_is_refused() {
    let elsewhere = token_server(GOOD_TOKEN);
    let tokens = TestServer::start();
    tokens.redirect("/token", 302, &format!("{}/token", elsewhere.url()));
    let srv = bearer_protected(&tokens);
    let err = with_credentials(&srv, Some(password("alice", PASSWORD)))
        .fetch_role("root", 1024)
        .unwrap_err();
    assert!(err.to_string().contains("redirected"), "{err}");
    assert_eq!(elsewhere.total_requests(), 0);
}

#[test]
fn basic_challenges_get_the_credentials_or_a_clear_refusal() {
    let srv = TestServer::start();
    // alice:s3cret-pw-1d7c
    protect(
        &srv,
        r#"Basic realm="registry""#.into(),
        "Basic YWxpY2U6czNjcmV0LXB3LTFkN2M=",
    );
    let src = with_credentials(&srv, Some(password("alice", PASSWORD)));
    src.fetch_role("root", 1024).unwrap();
    let before = srv.total_requests();
    src.fetch_role("timestamp", 1024).unwrap();
    assert_eq!(
        srv.total_requests(),
        before + 1,
        "sent at once the second time"
    );

    let err = source(&srv).fetch_role("root", 1024).unwrap_err();
    assert!(matches!(err, SourceError::Auth { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("none were found for registry docker.io"),
        "{err}"
    );

    let err = with_credentials(&srv, Some(password("alice", "wrong-pw-0000")))
        .fetch_role("root", 1024)
        .unwrap_err();
    assert!(err.to_string().contains("refused the credentials"), "{err}");
    assert!(!err.to_string().contains("wrong-pw-0000"), "{err}");
}

/// Counts lookups; has no credentials.
#[derive(Debug, Default)]
struct Counting(AtomicUsize);

impl CredentialProvider for Counting {
    fn lookup(&self, _registry: &str) -> Result<Option<Found>, CredentialError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(None)
    }
}

#[test]
fn credentials_are_looked_up_only_when_a_server_asks() {
    let srv = TestServer::start();
    srv.serve_json(&tuf_path(GUN, "root"), ROOT_JSON);
    let counting = Arc::new(Counting::default());
    let src = with_credentials(&srv, Some(counting.clone()));
    src.fetch_role("root", 1024).unwrap();
    assert_eq!(counting.0.load(Ordering::SeqCst), 0);
}

#[test]
fn a_credential_lookup_failure_names_the_registry() {
    #[derive(Debug)]
    struct Broken;
    impl CredentialProvider for Broken {
        fn lookup(&self, _registry: &str) -> Result<Option<Found>, CredentialError> {
            Err(CredentialError::Usage("the helper exploded".into()))
        }
    }
    let tokens = token_server(GOOD_TOKEN);
    let srv = bearer_protected(&tokens);
    let err = with_credentials(&srv, Some(Arc::new(Broken)))
        .fetch_role("root", 1024)
        .unwrap_err();
    assert!(matches!(err, SourceError::Credentials { .. }), "{err:?}");
    assert!(err.to_string().contains("registry docker.io"), "{err}");
    assert!(err.to_string().contains("exploded"), "{err}");
}

// ------------------------------------------------------------------------------------------------
// Health, retries, TLS

/// A source for `srv` that checks its health endpoint first.
fn health_checked(srv: &TestServer) -> HttpSource {
    let options = HttpOptions {
        check_health: true,
        ..options(Duration::from_secs(5))
    };
    HttpSource::new(&srv.url(), options).unwrap()
}

#[test]
fn health_is_checked_once_and_only_when_asked() {
    let srv = TestServer::start();
    srv.serve_json("/_notary_server/health", "{}");
    srv.serve_json(&tuf_path(GUN, "root"), ROOT_JSON);
    source(&srv).fetch_role("root", 1024).unwrap();
    assert_eq!(srv.requests("/_notary_server/health"), 0);

    let checked = health_checked(&srv);
    checked.fetch_role("root", 1024).unwrap();
    checked.fetch_role("root", 1024).unwrap();
    assert_eq!(srv.requests("/_notary_server/health"), 1);
    assert_eq!(srv.log()[1].path, "/_notary_server/health", "health first");

    let sick = TestServer::start();
    sick.serve("/_notary_server/health", 503, "down");
    sick.serve_json(&tuf_path(GUN, "root"), ROOT_JSON);
    let src = health_checked(&sick);
    let err = src.fetch_role("root", 1024).unwrap_err();
    assert!(matches!(err, SourceError::Health { .. }), "{err:?}");
    assert!(err.to_string().contains("/_notary_server/health"), "{err}");
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(sick.requests(&tuf_path(GUN, "root")), 0);
}

fn tls_source(srv: &TestServer, pki: &TestPki, identity: bool) -> HttpSource {
    HttpSource::new(
        &srv.url(),
        HttpOptions {
            ca_certs: vec![pki.ca_pem_path()],
            client_identity: identity.then(|| ClientIdentity {
                cert: pki.client_cert_path(),
                key: pki.client_key_path(),
            }),
            ..options(Duration::from_secs(5))
        },
    )
    .unwrap()
}

#[test]
fn https_needs_the_private_ca() {
    let pki = TestPki::new();
    let srv = TestServer::start_tls(pki.server_config(false));
    srv.serve_json(&tuf_path(GUN, "root"), ROOT_JSON);
    let err = source(&srv).fetch_role("root", 1024).unwrap_err();
    assert!(matches!(err, SourceError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    assert_eq!(srv.connections(), 1, "a certificate verdict is not retried");
    assert_eq!(
        tls_source(&srv, &pki, false)
            .fetch_role("root", 1024)
            .unwrap(),
        ROOT_JSON
    );
}

#[test]
fn mutual_tls_presents_the_client_certificate() {
    let pki = TestPki::new();
    let srv = TestServer::start_tls(pki.server_config(true));
    srv.serve_json(&tuf_path(GUN, "root"), ROOT_JSON);
    let err = tls_source(&srv, &pki, false)
        .fetch_role("root", 1024)
        .unwrap_err();
    assert!(
        matches!(err, SourceError::Connect { .. } | SourceError::Http { .. }),
        "{err:?}"
    );
    assert_eq!(
        tls_source(&srv, &pki, true)
            .fetch_role("root", 1024)
            .unwrap(),
        ROOT_JSON
    );

    // A key that is not there, or is not a key: refused up front, naming the files.
    for (cert, key) in [
        (pki.client_cert_path(), pki.dir().join("missing.key")),
        (pki.client_cert_path(), pki.ca_pem_path()),
        (pki.client_key_path(), pki.client_key_path()),
    ] {
        let err = HttpSource::new(
            &srv.url(),
            HttpOptions {
                client_identity: Some(ClientIdentity {
                    cert: cert.clone(),
                    key: key.clone(),
                }),
                ..HttpOptions::default()
            },
        )
        .unwrap_err();
        assert!(matches!(err, SourceError::BadClientCert { .. }), "{err:?}");
        assert!(err.to_string().contains(&*key.to_string_lossy()), "{err}");
        let key_text = std::fs::read_to_string(pki.client_key_path()).unwrap();
        let key_body = key_text.lines().nth(1).unwrap();
        assert!(!err.to_string().contains(key_body), "{err}");
    }
}

#[test]
fn a_connection_lost_in_the_handshake_is_retried_once() {
    let pki = TestPki::new();
    let srv = TestServer::start_tls(pki.server_config(false));
    srv.serve_json(&tuf_path(GUN, "root"), ROOT_JSON);
    srv.close_next_connections(1);
    assert_eq!(
        tls_source(&srv, &pki, false)
            .fetch_role("root", 1024)
            .unwrap(),
        ROOT_JSON
    );
    assert_eq!(srv.connections(), 2);

    let srv = TestServer::start_tls(pki.server_config(false));
    srv.serve_json(&tuf_path(GUN, "root"), ROOT_JSON);
    srv.close_next_connections(5);
    let err = tls_source(&srv, &pki, false)
        .fetch_role("root", 1024)
        .unwrap_err();
    assert!(matches!(err, SourceError::Connect { .. }), "{err:?}");
    assert_eq!(srv.connections(), 2, "one retry, no more");
}

#[test]
fn http_errors_and_stalls_are_not_retried() {
    let srv = TestServer::start();
    srv.serve(&tuf_path(GUN, "root"), 503, "busy");
    srv.stall(&tuf_path(GUN, "timestamp"));
    let src = HttpSource::new(&srv.url(), options(Duration::from_secs(1))).unwrap();
    assert!(src.fetch_role("root", 1024).is_err());
    assert!(src.fetch_role("timestamp", 1024).is_err());
    assert_eq!(srv.requests(&tuf_path(GUN, "root")), 1);
    assert_eq!(srv.requests(&tuf_path(GUN, "timestamp")), 1);
}

// ------------------------------------------------------------------------------------------------
// Through the command line: every failure ends quickly with exit 3 and names the URL and limit

const ALICE: &str = "docker.io/phbelitz/alice-image";
const ALICE_DIGEST: &str = "ac904c9b191d14faf54b7952f2650a4bb21c201bf34131388b851e8ce992a652";

/// Runs trustpin with `args`, without any proxy or credential variables of ours, and kills it
/// after 30 s.
fn trustpin(args: &[String], env: &[(&str, String)]) -> Output {
    let mut c = Cmd::trustpin().timeout(Duration::from_secs(30));
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        c = c.env_remove(var);
    }
    c.no_credentials()
        .env("DOCKER_CONFIG", "/nonexistent/trustpin-test")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(args)
        .run()
}

/// Exit 3 (could not check), the message naming `url` and `why`, within `within`.
fn could_not_check_within(out: &Output, url: &str, why: &str, within: Duration) {
    assert_eq!(out.code, 3, "{}", out.stderr);
    out.expect_stderr(&[url, why], "");
    assert!(out.elapsed < within, "{:?}", out.elapsed);
}

fn alice_server() -> TestServer {
    let srv = TestServer::start();
    srv.serve_tree(trust_data());
    srv
}

fn resolve_alice(server: &str, extra: &[&str]) -> Vec<String> {
    let key = trust_data().join("keys/phbelitz-a.pub");
    let mut args: Vec<String> = [
        "resolve",
        &format!("{ALICE}:test"),
        "--root-key",
        &key.display().to_string(),
        "--at",
        "2019-10-15T00:00:00Z",
        "--server",
        server,
        "--no-cache",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

#[test]
fn cli_resolves_through_the_test_server() {
    let srv = alice_server();
    let out = trustpin(&resolve_alice(&srv.url(), &[]), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), format!("{ALICE}@sha256:{ALICE_DIGEST}"));
    assert!(
        !out.stderr.contains("plain http"),
        "loopback: no warning: {}",
        out.stderr
    );
}

#[test]
fn cli_endless_body_is_exit_3_naming_the_url_and_limit() {
    let srv = alice_server();
    srv.endless(&tuf_path(ALICE, "timestamp"));
    let out = trustpin(&resolve_alice(&srv.url(), &[]), &[]);
    let url = format!("{}{}", srv.url(), tuf_path(ALICE, "timestamp"));
    could_not_check_within(&out, &url, "limit of 1048576 bytes", Duration::from_secs(5));
}

#[test]
fn cli_delegation_longer_than_the_snapshot_declares_is_exit_3() {
    let srv = alice_server();
    let path = tuf_path(ALICE, "targets/releases");
    let mut body =
        std::fs::read(trust_data().join(format!("{ALICE}/_trust/tuf/targets/releases.json")))
            .unwrap();
    let declared = body.len();
    body.extend_from_slice(&[b' '; 100]);
    srv.serve_json(&path, body);
    let out = trustpin(&resolve_alice(&srv.url(), &[]), &[]);
    let url = format!("{}{path}", srv.url());
    let limit = format!("limit of {declared} bytes");
    could_not_check_within(&out, &url, &limit, Duration::from_secs(5));
}

#[test]
fn cli_server_that_never_answers_is_exit_3_within_the_timeout() {
    let srv = alice_server();
    srv.stall(&tuf_path(ALICE, "snapshot"));
    let out = trustpin(&resolve_alice(&srv.url(), &["--timeout", "1"]), &[]);
    let url = format!("{}{}", srv.url(), tuf_path(ALICE, "snapshot"));
    could_not_check_within(
        &out,
        &url,
        "no complete answer within 1s",
        Duration::from_secs(4),
    );
}

#[test]
fn cli_redirect_to_another_host_is_exit_3() {
    let other = alice_server();
    let srv = alice_server();
    let elsewhere = format!("{}{}", other.url(), tuf_path(ALICE, "root"));
    srv.redirect(&tuf_path(ALICE, "root"), 302, &elsewhere);
    let out = trustpin(&resolve_alice(&srv.url(), &[]), &[]);
    out.expect(3, &[&format!("redirected to {elsewhere}"), "at most 5"]);
    assert_eq!(other.total_requests(), 0);
    assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);
}

#[test]
fn cli_hostile_realm_is_exit_3_naming_it() {
    let srv = TestServer::start();
    protect(
        &srv,
        r#"Bearer realm="http://auth.example.com/token",service="x""#.into(),
        "never",
    );
    let out = trustpin(&resolve_alice(&srv.url(), &[]), &[]);
    out.expect(3, &["http://auth.example.com/token", "plain http"]);
}

#[test]
fn cli_checks_health_only_when_asked() {
    let srv = alice_server();
    srv.serve_json("/_notary_server/health", "{}");
    let out = trustpin(&resolve_alice(&srv.url(), &[]), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(srv.requests("/_notary_server/health"), 0);
    let out = trustpin(&resolve_alice(&srv.url(), &["--check-health"]), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(srv.requests("/_notary_server/health"), 1);

    // A registry without the endpoint (ACR) works without the flag, and fails with it.
    let acr = alice_server();
    let out = trustpin(&resolve_alice(&acr.url(), &[]), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = trustpin(&resolve_alice(&acr.url(), &["--check-health"]), &[]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("{}/_notary_server/health", acr.url())),
        "{}",
        out.stderr
    );
}

#[test]
fn cli_warns_about_plain_http_off_loopback_only() {
    let closed = common::free_port();
    for server in [
        format!("http://127.0.0.1:{closed}"),
        format!("http://localhost:{closed}"),
        format!("http://[::1]:{closed}"),
    ] {
        let out = trustpin(&resolve_alice(&server, &["--connect-timeout", "1"]), &[]);
        assert_eq!(out.code, 3, "{server}: {}", out.stderr);
        assert!(
            !out.stderr.contains("plain http"),
            "{server}: {}",
            out.stderr
        );
    }
    for server in ["http://192.0.2.1:9", "http://[2001:db8::1]:9"] {
        let out = trustpin(
            &resolve_alice(server, &["--connect-timeout", "1", "--timeout", "2"]),
            &[],
        );
        assert_eq!(out.code, 3, "{server}: {}", out.stderr);
        assert!(
            out.stderr
                .contains(&format!("warning: {server} is plain http")),
            "{server}: {}",
            out.stderr
        );
        assert!(
            out.elapsed < Duration::from_secs(5),
            "{server}: {:?}",
            out.elapsed
        );
    }
}

#[test]
fn cli_uses_proxies_from_the_environment_but_never_for_loopback() {
    // A dead proxy for everything: loopback does not go through it.
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    let srv = alice_server();
    let env: Vec<(&str, String)> = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy"]
        .iter()
        .map(|v| (*v, dead.clone()))
        .collect();
    let out = trustpin(&resolve_alice(&srv.url(), &[]), &env);
    assert_eq!(out.code, 0, "{}", out.stderr);

    // Anything else does: the proxy sees the absolute URL.
    let proxy = TestServer::start();
    proxy.fallback(|_| Response::notary_not_found().into());
    let out = trustpin(
        &resolve_alice("http://notary.invalid", &[]),
        &[("HTTP_PROXY", proxy.url())],
    );
    assert_eq!(
        out.code, 1,
        "no trust data (the proxy's 404): {}",
        out.stderr
    );
    let targets: Vec<String> = proxy.log().into_iter().map(|r| r.target).collect();
    assert!(
        targets
            .iter()
            .any(|t| t.starts_with("http://notary.invalid/v2/docker.io/phbelitz/alice-image/")),
        "{targets:?}"
    );
    // ... unless NO_PROXY says otherwise.
    let before = proxy.total_requests();
    let out = trustpin(
        &resolve_alice("http://notary.invalid", &["--connect-timeout", "2"]),
        &[
            ("HTTP_PROXY", proxy.url()),
            ("NO_PROXY", "notary.invalid".into()),
        ],
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(proxy.total_requests(), before);
}

/// Waits (bounded) until `n` callers have arrived; true if they all did.
struct Gate {
    arrived: std::sync::Mutex<usize>,
    all: std::sync::Condvar,
    n: usize,
}

impl Gate {
    fn pass(&self) -> bool {
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        self.all.notify_all();
        let (arrived, _) = self
            .all
            .wait_timeout_while(arrived, Duration::from_secs(5), |a| *a < self.n)
            .unwrap();
        *arrived >= self.n
    }
}

#[test]
fn fetch_many_has_every_request_in_flight_at_once_and_keeps_the_order() {
    // Each answer waits until all five requests have arrived: one request after another would
    // get 503s. Roles and answers must line up.
    let srv = TestServer::start();
    let roles = common::ROLES;
    let gate = Arc::new(Gate {
        arrived: Default::default(),
        all: Default::default(),
        n: roles.len(),
    });
    for role in roles {
        let gate = gate.clone();
        srv.route(&tuf_path(GUN, role), move |_| {
            if gate.pass() {
                Response::json(format!("body of {role}")).into()
            } else {
                Response::new(503, "not all requests arrived together").into()
            }
        });
    }
    let wanted: Vec<(RoleName, u64)> = roles.iter().map(|r| (as_role(r), 1000)).collect();
    let got = source(&srv).fetch_many(&as_gun(GUN), &wanted, Wave::of(roles.len()));
    assert_eq!(got.len(), roles.len());
    for (role, r) in roles.iter().zip(got) {
        assert_eq!(r.unwrap(), format!("body of {role}").into_bytes(), "{role}");
    }
}

#[test]
fn fetch_many_reports_each_failure_in_its_own_place() {
    let srv = TestServer::start();
    srv.serve_json(&tuf_path(GUN, "root"), ROOT_JSON.to_vec());
    srv.serve(&tuf_path(GUN, "snapshot"), 500, "oops");
    srv.serve_json(&tuf_path(GUN, "targets"), vec![b'x'; 2000]);
    let got = source(&srv).fetch_many(
        &as_gun(GUN),
        &[
            (as_role("root"), 1000),
            (as_role("timestamp"), 1000),
            (as_role("snapshot"), 1000),
            (as_role("targets"), 1000),
        ],
        Wave::of(2),
    );
    let mut got = got.into_iter();
    assert_eq!(got.next().unwrap().unwrap(), ROOT_JSON);
    let e = got.next().unwrap().unwrap_err();
    assert!(
        e.is_not_found() && e.to_string().contains("timestamp.json"),
        "{e}"
    );
    let e = got.next().unwrap().unwrap_err();
    assert!(matches!(e, SourceError::Status { status: 500, .. }), "{e}");
    let e = got.next().unwrap().unwrap_err();
    assert!(
        matches!(e, SourceError::TooLarge { limit: 1000, .. }),
        "{e}"
    );
    // Two at a time: nothing was asked more than once.
    assert_eq!(srv.requests(&tuf_path(GUN, "root")), 1);
}
