//! The transport layer against a misbehaving loopback server, and the folder source against the
//! real trust data in ../shared/trust-data.

#[path = "common/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use server::{tuf_path, Length, Pace, Reply, Response, TestServer};
use trustpin::source::dir::DirSource;
use trustpin::source::http::{HttpOptions, HttpSource, MAX_REDIRECTS};
use trustpin::source::{Source, SourceError};

const GUN: &str = "docker.io/library/alpine";
const ROOT_JSON: &[u8] = br#"{"signed":{"_type":"Root"},"signatures":[]}"#;
const TRUST_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/trust-data");

fn options(timeout: Duration) -> HttpOptions {
    HttpOptions {
        ca_certs: Vec::new(),
        connect_timeout: Duration::from_secs(1),
        timeout,
    }
}

fn source(srv: &TestServer) -> HttpSource {
    HttpSource::new(&srv.url(), options(Duration::from_secs(5))).expect("client")
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
    assert_eq!(src.fetch(GUN, "root", 1024).unwrap(), ROOT_JSON);
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
    for role in [
        "root",
        "timestamp",
        "snapshot",
        "targets",
        "targets/releases",
        "targets/a/b",
        "2.root",
    ] {
        let path = tuf_path(GUN, role);
        srv.serve_json(&path, role.as_bytes().to_vec());
        assert_eq!(
            src.fetch(GUN, role, 100).unwrap(),
            role.as_bytes(),
            "{role}"
        );
        assert_eq!(src.location(GUN, role), format!("{}{path}", srv.url()));
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
    assert_eq!(src.fetch(GUN, "root", 1024).unwrap(), ROOT_JSON);
}

#[test]
fn missing_metadata_is_not_found_naming_the_url() {
    let srv = TestServer::start();
    let err = source(&srv)
        .fetch(GUN, "targets/releases", 1024)
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
    let err = source(&srv).fetch(GUN, "timestamp", 1024).unwrap_err();
    assert!(
        matches!(err, SourceError::Status { status: 500, .. }),
        "{err}"
    );
    assert!(!err.is_not_found());
    assert!(err.to_string().contains("500"), "{err}");
}

#[test]
fn unauthorized_is_a_status_error_for_now() {
    let srv = TestServer::start();
    srv.respond(
        &tuf_path(GUN, "root"),
        Response::new(401, "{}").header("WWW-Authenticate", r#"Bearer realm="http://x/token""#),
    );
    let err = source(&srv).fetch(GUN, "root", 1024).unwrap_err();
    assert!(
        matches!(err, SourceError::Status { status: 401, .. }),
        "{err}"
    );
}

#[test]
fn body_at_the_limit_is_accepted_one_byte_over_is_refused() {
    let srv = TestServer::start();
    let body = vec![b'a'; 100];
    srv.serve_json(&tuf_path(GUN, "root"), body.clone());
    let src = source(&srv);
    assert_eq!(src.fetch(GUN, "root", 100).unwrap(), body);
    let err = src.fetch(GUN, "root", 99).unwrap_err();
    assert!(
        matches!(err, SourceError::TooLarge { limit: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("99 bytes"), "{err}");
    assert!(err.to_string().contains(&tuf_path(GUN, "root")), "{err}");
    assert!(matches!(
        src.fetch(GUN, "root", 0),
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
        let err = src.fetch(GUN, "root", 99_999).unwrap_err();
        assert!(
            matches!(err, SourceError::TooLarge { limit: 99_999, .. }),
            "{length:?}: {err}"
        );
        assert_eq!(src.fetch(GUN, "root", 100_000).unwrap(), body, "{length:?}");
    }
}

#[test]
fn announced_length_over_the_limit_is_refused_before_reading() {
    let srv = TestServer::start();
    // Claims a terabyte, sends forever: only the header can have been looked at.
    srv.respond(
        &tuf_path(GUN, "root"),
        Response::json("x").length(Length::Claim(1 << 40)).endless(),
    );
    let started = Instant::now();
    let err = source(&srv).fetch(GUN, "root", 1 << 20).unwrap_err();
    assert!(matches!(err, SourceError::TooLarge { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn endless_body_ends_quickly_with_too_large() {
    for length in [Length::CloseDelimited, Length::Chunked] {
        let srv = TestServer::start();
        srv.respond(
            &tuf_path(GUN, "snapshot"),
            Response::json(vec![b'x'; 8192]).length(length).endless(),
        );
        let src = HttpSource::new(&srv.url(), options(Duration::from_secs(20))).unwrap();
        let started = Instant::now();
        let err = src.fetch(GUN, "snapshot", 1 << 20).unwrap_err();
        assert!(
            matches!(err, SourceError::TooLarge { limit: 1048576, .. }),
            "{length:?}: {err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    // The helper's own endless body too.
    let srv = TestServer::start();
    srv.endless(&tuf_path(GUN, "snapshot"));
    let err = source(&srv).fetch(GUN, "snapshot", 4096).unwrap_err();
    assert!(
        matches!(err, SourceError::TooLarge { limit: 4096, .. }),
        "{err}"
    );
}

#[test]
fn stalled_server_times_out_within_the_configured_timeout() {
    let srv = TestServer::start();
    srv.stall(&tuf_path(GUN, "timestamp"));
    let src = HttpSource::new(&srv.url(), options(Duration::from_secs(1))).unwrap();
    let started = Instant::now();
    let err = src.fetch(GUN, "timestamp", 1024).unwrap_err();
    let took = started.elapsed();
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
    let srv = TestServer::start();
    srv.respond(
        &tuf_path(GUN, "timestamp"),
        Response::json("{}")
            .length(Length::Claim(100))
            .pace(Pace::StallAfterHead),
    );
    let src = HttpSource::new(&srv.url(), options(Duration::from_secs(1))).unwrap();
    let started = Instant::now();
    let err = src.fetch(GUN, "timestamp", 1024).unwrap_err();
    assert!(matches!(err, SourceError::Timeout { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn drip_fed_body_is_cut_off_by_the_total_timeout() {
    // 200 bytes at one per 20 ms would take 4 s; each read returns quickly, so only a total
    // deadline stops it.
    for length in [Length::Exact, Length::Chunked] {
        let srv = TestServer::start();
        srv.respond(
            &tuf_path(GUN, "snapshot"),
            Response::json(vec![b'a'; 200])
                .length(length)
                .pace(Pace::DripBody(Duration::from_millis(20))),
        );
        let src = HttpSource::new(&srv.url(), options(Duration::from_secs(1))).unwrap();
        let started = Instant::now();
        let err = src.fetch(GUN, "snapshot", 1024).unwrap_err();
        let took = started.elapsed();
        assert!(
            matches!(err, SourceError::Timeout { .. }),
            "{length:?}: {err}"
        );
        assert!(took < Duration::from_millis(1800), "{length:?}: {took:?}");
    }
}

#[test]
fn drip_fed_headers_are_cut_off_by_the_total_timeout() {
    let srv = TestServer::start();
    srv.respond(
        &tuf_path(GUN, "snapshot"),
        Response::json(vec![b'a'; 10])
            .header("X-Padding", &"p".repeat(200))
            .pace(Pace::DripAll(Duration::from_millis(20))),
    );
    let src = HttpSource::new(&srv.url(), options(Duration::from_secs(1))).unwrap();
    let started = Instant::now();
    let err = src.fetch(GUN, "snapshot", 1024).unwrap_err();
    assert!(matches!(err, SourceError::Timeout { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_millis(1800),
        "{:?}",
        started.elapsed()
    );
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
    assert_eq!(src.fetch(GUN, "root", 1024).unwrap(), b"{\"ok\":1}");
}

#[test]
fn content_length_shorter_than_the_body_yields_only_the_announced_bytes() {
    let srv = TestServer::start();
    srv.lying_length(&tuf_path(GUN, "root"), &b"0123456789"[..], 4);
    srv.serve_json(&tuf_path(GUN, "targets"), &b"targets"[..]);
    let src = source(&srv);
    // The extra bytes are never part of the answer (the hash check upstream then fails).
    assert_eq!(src.fetch(GUN, "root", 1024).unwrap(), b"0123");
    // Nor do they leak into the next answer on a reused connection.
    assert_eq!(src.fetch(GUN, "targets", 1024).unwrap(), b"targets");
}

#[test]
fn body_cut_short_of_its_content_length_is_an_error_not_a_short_answer() {
    let srv = TestServer::start();
    srv.lying_length(&tuf_path(GUN, "root"), &b"0123456789"[..], 50);
    let err = source(&srv).fetch(GUN, "root", 1024).unwrap_err();
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
    let err = source(&srv).fetch(GUN, "root", 1024).unwrap_err();
    match &err {
        SourceError::Redirect { to, .. } => assert_eq!(to, &elsewhere),
        other => panic!("expected Redirect, got {other:?}"),
    }
    assert!(err.to_string().contains(&elsewhere), "{err}");
    assert_eq!(target.total_requests(), 0);

    // Same port, other host name: still another server.
    let other_name = format!("{}{}", srv.url_localhost(), tuf_path(GUN, "timestamp"));
    srv.redirect(&tuf_path(GUN, "snapshot"), 301, &other_name);
    let err = source(&srv).fetch(GUN, "snapshot", 1024).unwrap_err();
    assert!(matches!(err, SourceError::Redirect { .. }), "{err}");
    assert_eq!(srv.requests(&tuf_path(GUN, "timestamp")), 0);
}

#[test]
fn redirect_within_the_same_server_is_followed_a_few_times() {
    let srv = TestServer::start();
    srv.redirect(&tuf_path(GUN, "root"), 307, "/mirror/root.json");
    srv.serve_json("/mirror/root.json", ROOT_JSON);
    assert_eq!(source(&srv).fetch(GUN, "root", 1024).unwrap(), ROOT_JSON);

    srv.redirect("/loop", 302, "/loop");
    srv.redirect(&tuf_path(GUN, "targets"), 302, "/loop");
    let err = source(&srv).fetch(GUN, "targets", 1024).unwrap_err();
    assert!(matches!(err, SourceError::Redirect { .. }), "{err}");
    assert_eq!(srv.requests("/loop"), MAX_REDIRECTS);
}

#[test]
fn bad_names_are_refused_before_any_request() {
    let srv = TestServer::start();
    srv.fallback(|_| Response::json("{}").into());
    let src = source(&srv);
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
    for gun in bad_guns {
        let err = src.fetch(gun, "root", 1024).unwrap_err();
        assert!(
            matches!(
                err,
                SourceError::BadName {
                    what: "repository name",
                    ..
                }
            ),
            "{gun:?}: {err}"
        );
    }
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
    for role in bad_roles {
        let err = src.fetch(GUN, role, 1024).unwrap_err();
        assert!(
            matches!(
                err,
                SourceError::BadName {
                    what: "role name",
                    ..
                }
            ),
            "{role:?}: {err}"
        );
    }
    assert_eq!(srv.total_requests(), 0, "{:?}", srv.log());
}

#[test]
fn concurrent_fetches_share_one_source() {
    let srv = TestServer::start();
    let roles = [
        "root",
        "timestamp",
        "snapshot",
        "targets",
        "targets/releases",
        "targets/a/b",
    ];
    for role in roles {
        srv.serve_json(&tuf_path(GUN, role), role.as_bytes().to_vec());
    }
    let src = source(&srv);
    std::thread::scope(|s| {
        let handles: Vec<_> = roles
            .iter()
            .map(|role| {
                let src = &src;
                s.spawn(move || (role, src.fetch(GUN, role, 1024)))
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
    assert_eq!(dynamic.fetch(GUN, "root", 1024).unwrap(), b"root");
}

#[test]
fn closed_port_is_a_connect_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let src = HttpSource::new(
        &format!("http://127.0.0.1:{port}"),
        options(Duration::from_secs(5)),
    )
    .unwrap();
    let err = src.fetch(GUN, "root", 1024).unwrap_err();
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
    let err = src.fetch(GUN, "root", 1024).unwrap_err();
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
    let err = src.fetch(GUN, "root", 1024).unwrap_err();
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
    assert_eq!(src.fetch(GUN, "timestamp", 100).unwrap(), b"one");
    assert_eq!(src.fetch(GUN, "timestamp", 100).unwrap(), b"two");
    assert_eq!(src.fetch(GUN, "timestamp", 100).unwrap(), b"two");
    assert_eq!(srv.requests(&tuf_path(GUN, "timestamp")), 3);
}

#[test]
fn served_trust_data_tree_matches_the_folder() {
    let data = trust_data();
    let srv = TestServer::start();
    srv.serve_tree(&data);
    let gun = "docker.io/phbelitz/alice-image";
    let http = source(&srv)
        .fetch(gun, "targets/releases", 1 << 20)
        .unwrap();
    let dir = DirSource::new(data)
        .fetch(gun, "targets/releases", 1 << 20)
        .unwrap();
    assert_eq!(http, dir);
    assert!(source(&srv)
        .fetch(gun, "targets/nope", 1 << 20)
        .unwrap_err()
        .is_not_found());
}

#[test]
fn dir_source_reads_the_shared_trust_data() {
    let data = trust_data();
    let src = DirSource::new(data.clone());
    let gun = "docker.io/phbelitz/alice-image";
    let expected = std::fs::read(data.join(gun).join("_trust/tuf/targets/releases.json")).unwrap();
    let got = src.fetch(gun, "targets/releases", 1 << 20).unwrap();
    assert_eq!(got, expected);
    assert!(got.starts_with(b"{\"signed\":"));
    for role in [
        "root",
        "timestamp",
        "snapshot",
        "targets",
        "targets/phbelitz",
        "targets/chamsen",
    ] {
        src.fetch(gun, role, 1 << 20)
            .unwrap_or_else(|e| panic!("{role}: {e}"));
    }
    assert_eq!(
        Path::new(&src.location(gun, "targets/releases")),
        data.join(gun).join("_trust/tuf/targets/releases.json")
    );
    let err = src.fetch(gun, "targets/releases", 10).unwrap_err();
    assert!(
        matches!(err, SourceError::TooLarge { limit: 10, .. }),
        "{err}"
    );
    let err = src
        .fetch("docker.io/phbelitz/eve-image", "targets/releases", 1 << 20)
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("eve-image"), "{err}");
}

#[test]
fn dir_source_refuses_path_tricks() {
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
        let err = src.fetch(gun, role, 1 << 20).unwrap_err();
        assert!(
            matches!(err, SourceError::BadName { .. }),
            "{gun:?} {role:?}: {err}"
        );
    }
    // The honest name works from that base.
    src.fetch("alice-image", "root", 1 << 20).unwrap();
}
