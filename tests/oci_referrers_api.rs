//! The registry client against registries that misbehave or that have the referrers API, which
//! docker-registry 2.8.2 (the real registry of tests/oci_registry.rs) lacks: an emulated registry
//! (tests/common/oci_server.rs) answering as the distribution spec says, and loopback routes that
//! answer what a hostile server would: lists that never end, links elsewhere, oversized and
//! stalled bodies, digests that lie. Round-trip waves are counted by time against a server that
//! delays every answer.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::oci_data::{fetch_as_verifier, sha256, OCI_INDEX, OCI_MANIFEST, SIGNATURE};
use common::oci_server::{OciServer, Options};
use common::server::{Length, Pace, Response, TestPki, TestServer};
use common::token_issuer::{TokenIssuer, User};
use serde_json::{json, Value};
use trustpin::failure::{Classify, Failure};
use trustpin::fetch::credentials::{Credential, Fixed, Found, Secret};
use trustpin::fetch::http::HttpOptions;
use trustpin::fetch::oci::{
    Descriptor, OciError, OciSource, Reference, RegistryOptions, RegistrySource,
};
use trustpin::reference::Digest;

const MAX: u64 = 4 * 1024 * 1024;

fn source_for(host: &str, timeout: Duration, deadline: Option<Instant>) -> RegistrySource {
    RegistrySource::new(
        host,
        RegistryOptions {
            insecure: true,
            deadline,
            http: HttpOptions {
                timeout,
                ..HttpOptions::default()
            },
            ..RegistryOptions::default()
        },
    )
    .unwrap()
}

fn source(host: &str) -> RegistrySource {
    source_for(host, Duration::from_secs(10), None)
}

fn digest(v: &Value) -> Digest {
    Digest::parse(v["digest"].as_str().unwrap()).unwrap()
}

fn digests(list: &[Descriptor]) -> Vec<String> {
    list.iter().map(|d| d.digest.to_string()).collect()
}

fn strs(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|d| d["digest"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn referrers_api_pages_are_followed_and_the_type_filtered_here_too() {
    // The server ignores the filter: the client filters.
    let reg = OciServer::start(Options {
        page_size: Some(3),
        ignore_filter: true,
        ..Options::default()
    });
    let (artifact, sigs) = reg.signed(7, SIGNATURE);
    let others: Vec<Value> = (0..3)
        .map(|i| {
            reg.manifest(&reg.image(
                format!("sbom {i}").as_bytes(),
                Some(&artifact),
                Some("application/sbom"),
            ))
        })
        .collect();
    let src = source(&reg.host());
    let found = src
        .referrers("app", &digest(&artifact), Some(SIGNATURE), 100)
        .unwrap();
    assert_eq!(digests(&found), strs(&sigs));
    assert!(found
        .iter()
        .all(|d| d.artifact_type.as_deref() == Some(SIGNATURE) && d.media_type == OCI_MANIFEST));
    assert_eq!(src.referrers_api(), Some(true));
    let pages = reg.requests_to("/referrers/");
    assert_eq!(pages.len(), 4, "10 referrers, 3 a page");
    assert!(
        pages
            .iter()
            .all(|r| r.query_param("artifactType")
                == Some("application%2Fvnd.cncf.notary.signature")),
        "{pages:?}"
    );
    // The first lookup, the API's support unknown, asked the tag schema in the same wave; the
    // next ones do not.
    assert_eq!(reg.requests_to("/manifests/sha256-").len(), 1);
    let all = src.referrers("app", &digest(&artifact), None, 100).unwrap();
    let mut want = strs(&sigs);
    want.extend(strs(&others));
    assert_eq!(digests(&all), want);
    assert_eq!(reg.requests_to("/manifests/sha256-").len(), 1);

    // A descriptor repeated on every page counts once.
    let srv = TestServer::start();
    let subject = Digest([4; 32]);
    route_pages(&srv, &subject, move |n| {
        let mut page = index_page(vec![fake_descriptor(0), fake_descriptor(n + 1)]);
        if n < 4 {
            page = page.header("Link", &format!("<?page={}>; rel=\"next\"", n + 1));
        }
        page
    });
    let found = source(&srv.addr().to_string())
        .referrers("app", &subject, None, 6)
        .unwrap();
    assert_eq!(found.len(), 6, "{found:?}");

    // A server that applies the filter: the same answer, and one page fewer.
    let reg = OciServer::start(Options {
        page_size: Some(3),
        ..Options::default()
    });
    let (artifact, sigs) = reg.signed(4, SIGNATURE);
    for i in 0..4 {
        reg.manifest(&reg.image(
            format!("sbom {i}").as_bytes(),
            Some(&artifact),
            Some("application/sbom"),
        ));
    }
    let src = source(&reg.host());
    let found = src
        .referrers("app", &digest(&artifact), Some(SIGNATURE), 100)
        .unwrap();
    assert_eq!(digests(&found), strs(&sigs));
    assert_eq!(reg.requests_to("/referrers/").len(), 2);
}

/// A referrers route on a plain loopback server: page `n` (query `page`) from `page`.
fn route_pages(
    srv: &TestServer,
    subject: &Digest,
    page: impl Fn(usize) -> Response + Send + Sync + 'static,
) {
    srv.route(&format!("/v2/app/referrers/{subject}"), move |req| {
        let n = req
            .query_param("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        page(n).into()
    });
}

fn index_page(descs: Vec<Value>) -> Response {
    Response::new(
        200,
        serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs}),
        )
        .unwrap(),
    )
    .header("Content-Type", OCI_INDEX)
}

fn fake_descriptor(i: usize) -> Value {
    json!({"mediaType": OCI_MANIFEST, "digest": sha256(format!("sig {i}").as_bytes()), "size": 100, "artifactType": SIGNATURE})
}

#[test]
fn a_list_that_never_ends_is_cut_off() {
    let subject = Digest([9; 32]);
    // Empty pages, each naming the next, forever: cut off after MAX_REFERRER_PAGES.
    let srv = TestServer::start();
    route_pages(&srv, &subject, move |n| {
        index_page(Vec::new()).header("Link", &format!("<?page={}>; rel=\"next\"", n + 1))
    });
    let src = source(&srv.addr().to_string());
    let start = Instant::now();
    let e = src
        .referrers("app", &subject, Some(SIGNATURE), 100)
        .unwrap_err();
    assert!(matches!(e, OciError::Endless { limit: 100, .. }), "{e}");
    assert_eq!(e.failure(), Failure::Unavailable);
    assert_eq!(srv.requests(&format!("/v2/app/referrers/{subject}")), 100);
    eprintln!("100 empty pages read and refused in {:?}", start.elapsed());

    // Five signatures a page, forever: the caller's limit ends it, the first ones kept.
    let srv = TestServer::start();
    route_pages(&srv, &subject, move |n| {
        index_page((0..5).map(|i| fake_descriptor(n * 5 + i)).collect())
            .header("Link", &format!("<?page={}>; rel=\"next\"", n + 1))
    });
    let src = source(&srv.addr().to_string());
    match src
        .referrers("app", &subject, Some(SIGNATURE), 12)
        .unwrap_err()
    {
        OciError::TooManyReferrers { found, max, .. } => {
            assert_eq!(max, 12);
            assert_eq!(
                digests(&found),
                (0..12)
                    .map(|i| fake_descriptor(i)["digest"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            );
        }
        e => panic!("{e}"),
    }
    assert_eq!(srv.requests(&format!("/v2/app/referrers/{subject}")), 3);
}

#[test]
fn links_to_another_server_or_back_are_not_followed() {
    let subject = Digest([8; 32]);
    let other = TestServer::start();
    for (link, why) in [
        (
            format!(
                "<{}/v2/app/referrers/{subject}?page=1>; rel=\"next\"",
                other.url()
            ),
            "another server",
        ),
        ("<?page=0>; rel=\"next\"".to_owned(), "already read"),
        (
            format!(
                "<https://{}/v2/app/referrers/x>; rel=\"next\"",
                "127.0.0.1:1"
            ),
            "another server",
        ),
    ] {
        let srv = TestServer::start();
        let l = link.clone();
        route_pages(&srv, &subject, move |_| {
            index_page(vec![fake_descriptor(0)]).header("Link", &l)
        });
        let e = source(&srv.addr().to_string())
            .referrers("app", &subject, None, 100)
            .unwrap_err();
        assert!(matches!(e, OciError::BadLink { .. }), "{link}: {e}");
        assert!(e.to_string().contains(why), "{e}");
    }
    assert_eq!(other.total_requests(), 0);
}

#[test]
fn oversized_or_wrongly_typed_referrers_answers_are_refused() {
    let subject = Digest([7; 32]);
    let srv = TestServer::start();
    let path = format!("/v2/app/referrers/{subject}");
    let src = source(&srv.addr().to_string());
    // Announced over the limit: refused before the body.
    srv.respond(
        &path,
        index_page(Vec::new()).length(Length::Claim(5 * 1024 * 1024)),
    );
    let e = src.referrers("app", &subject, None, 100).unwrap_err();
    assert!(matches!(e, OciError::TooLarge { .. }), "{e}");
    // Endless chunked body: refused at the limit.
    srv.respond(
        &path,
        Response::new(200, vec![b' '; 64 * 1024])
            .header("Content-Type", OCI_INDEX)
            .length(Length::Chunked)
            .endless(),
    );
    let e = src.referrers("app", &subject, None, 100).unwrap_err();
    assert!(matches!(e, OciError::TooLarge { .. }), "{e}");
    // Not an index.
    srv.respond(
        &path,
        Response::new(200, r#"{"schemaVersion":2,"manifests":[]}"#)
            .header("Content-Type", "text/html"),
    );
    let e = source(&srv.addr().to_string())
        .referrers("app", &subject, None, 100)
        .unwrap_err();
    assert!(matches!(e, OciError::Malformed { .. }), "{e}");
    assert!(e.to_string().contains("text/html"), "{e}");
    srv.respond(
        &path,
        Response::new(200, "<html>").header("Content-Type", OCI_INDEX),
    );
    let e = source(&srv.addr().to_string())
        .referrers("app", &subject, None, 100)
        .unwrap_err();
    assert!(matches!(e, OciError::Malformed { .. }), "{e}");
    assert_eq!(e.failure(), Failure::Refused);
}

#[test]
fn a_stalled_answer_ends_by_the_deadline_and_nothing_is_asked_after_it() {
    let subject = Digest([6; 32]);
    let srv = TestServer::start();
    srv.respond(
        &format!("/v2/app/referrers/{subject}"),
        index_page(vec![fake_descriptor(0)]).pace(Pace::StallAfterHead),
    );
    srv.respond(
        &format!("/v2/app/manifests/sha256-{}", subject.hex()),
        index_page(Vec::new()).pace(Pace::DripBody(Duration::from_millis(200))),
    );
    let start = Instant::now();
    let deadline = start + Duration::from_millis(800);
    // The source's own timeout (30 s) is capped by the deadline.
    let src = source_for(
        &srv.addr().to_string(),
        Duration::from_secs(30),
        Some(deadline),
    );
    let e = src.referrers("app", &subject, None, 100).unwrap_err();
    let took = start.elapsed();
    assert!(took < Duration::from_secs(3), "{took:?}: {e}");
    assert!(took >= Duration::from_millis(700), "{took:?}: {e}");
    assert_eq!(e.kind(), "timeout", "{e}");
    assert_eq!(e.failure(), Failure::Unavailable);
    eprintln!("a stalled referrers answer ended after {took:?} (deadline 800 ms)");
    let before = srv.total_requests();
    let e = src
        .manifest("app", &Reference::Tag("v1".into()), MAX)
        .unwrap_err();
    assert!(matches!(e, OciError::Deadline { .. }), "{e}");
    let e = src
        .blobs_many("app", &[(Digest([1; 32]), MAX)])
        .pop()
        .unwrap()
        .unwrap_err();
    assert!(matches!(e, OciError::Deadline { .. }), "{e}");
    assert_eq!(
        srv.total_requests(),
        before,
        "nothing asked after the deadline"
    );
    // A fresh deadline on the same source works again.
    srv.serve("/v2/app/blobs/sha256:x", 200, "x");
    let later = src.with_deadline(Instant::now() + Duration::from_secs(5));
    assert!(later
        .blob("app", &Digest([1; 32]), MAX)
        .unwrap_err()
        .is_not_found());
}

#[test]
fn name_unknown_is_not_taken_for_a_missing_api() {
    let reg = OciServer::start(Options::default());
    let src = source(&reg.host());
    let e = src
        .referrers("other", &Digest([5; 32]), None, 10)
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert!(e.to_string().contains("NAME_UNKNOWN"), "{e}");
    assert_eq!(src.referrers_api(), None);
}

#[test]
fn digests_are_computed_here_whatever_the_headers_say() {
    let srv = TestServer::start();
    let body = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"x","digest":"{}","size":2}},"layers":[]}}"#,
        sha256(b"{}")
    );
    let real = sha256(body.as_bytes());
    let liar = sha256(b"something else");
    srv.respond(
        "/v2/app/manifests/v1",
        Response::new(200, body.clone())
            .header("Content-Type", OCI_MANIFEST)
            .header("Docker-Content-Digest", &liar),
    );
    let src = source(&srv.addr().to_string());
    let m = src
        .manifest("app", &Reference::Tag("v1".into()), MAX)
        .unwrap();
    assert_eq!(m.digest.to_string(), real);
    assert_eq!(m.media_type, OCI_MANIFEST);
    // Asked by a digest, answered with other bytes: refused.
    srv.respond(
        &format!("/v2/app/manifests/{liar}"),
        Response::new(200, body.clone())
            .header("Content-Type", OCI_MANIFEST)
            .header("Docker-Content-Digest", &liar),
    );
    let e = src
        .manifest(
            "app",
            &Reference::Digest(Digest::parse(&liar).unwrap()),
            MAX,
        )
        .unwrap_err();
    assert!(matches!(e, OciError::DigestMismatch { .. }), "{e}");
    assert_eq!(e.failure(), Failure::Refused);
    assert!(
        e.to_string().contains(&real) && e.to_string().contains(&liar),
        "{e}"
    );
    srv.respond(
        &format!("/v2/app/blobs/{liar}"),
        Response::new(200, "not it"),
    );
    let e = src
        .blob("app", &Digest::parse(&liar).unwrap(), MAX)
        .unwrap_err();
    assert!(matches!(e, OciError::DigestMismatch { .. }), "{e}");
    // A Content-Type the manifest contradicts, or that is no manifest type.
    srv.respond(
        "/v2/app/manifests/v2",
        Response::new(200, body.clone()).header("Content-Type", OCI_INDEX),
    );
    let e = src
        .manifest("app", &Reference::Tag("v2".into()), MAX)
        .unwrap_err();
    assert!(matches!(e, OciError::MediaTypeMismatch { .. }), "{e}");
    srv.respond(
        "/v2/app/manifests/v3",
        Response::new(200, r#"{"schemaVersion":2}"#).header("Content-Type", "application/json"),
    );
    let e = src
        .manifest("app", &Reference::Tag("v3".into()), MAX)
        .unwrap_err();
    assert!(matches!(e, OciError::UnsupportedMediaType { .. }), "{e}");
    // The Accept header names the four manifest types.
    let accept = srv
        .log()
        .iter()
        .find_map(|r| r.header("Accept").map(str::to_owned))
        .unwrap();
    for t in [
        OCI_MANIFEST,
        OCI_INDEX,
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ] {
        assert!(accept.contains(t), "{accept}");
    }
}

#[test]
fn a_blob_may_be_redirected_to_another_server_and_a_manifest_may_not() {
    let cdn = TestServer::start();
    let srv = TestServer::start();
    let blob = b"envelope bytes".to_vec();
    let d = sha256(&blob);
    cdn.serve("/cdn/blob", 200, blob.clone());
    srv.redirect(
        &format!("/v2/app/blobs/{d}"),
        307,
        &format!("{}/cdn/blob", cdn.url()),
    );
    let src = source(&srv.addr().to_string());
    assert_eq!(
        src.blob("app", &Digest::parse(&d).unwrap(), MAX).unwrap(),
        blob
    );
    assert!(cdn
        .log()
        .iter()
        .all(|r| r.header("Authorization").is_none()));
    srv.redirect(
        "/v2/app/manifests/v1",
        307,
        &format!("{}/cdn/blob", cdn.url()),
    );
    let e = src
        .manifest("app", &Reference::Tag("v1".into()), MAX)
        .unwrap_err();
    assert_eq!(e.kind(), "redirect", "{e}");
    assert_eq!(cdn.requests("/cdn/blob"), 1);
}

/// Verifying as a verifier would: the manifest (and referrers), the signature manifests, the
/// envelopes; returns how long it took and the number of requests.
fn verify_like(reg: &OciServer, reference: &Reference) -> (Duration, usize) {
    let src = source(&reg.host());
    let before = reg.server.total_requests();
    let start = Instant::now();
    fetch_as_verifier(&src, "app", reference, 5);
    (start.elapsed(), reg.server.total_requests() - before)
}

#[test]
fn a_digest_costs_three_waves_and_a_tag_four_with_or_without_the_api() {
    let delay = Duration::from_millis(150);
    for api in [true, false] {
        let reg = OciServer::start(Options {
            delay,
            no_referrers_api: !api,
            ..Options::default()
        });
        let (artifact, sigs) = reg.signed(5, SIGNATURE);
        if !api {
            // The tag-schema index, as a pusher would write it.
            let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": sigs.iter().map(|s| {
                let mut s = s.clone();
                s["artifactType"] = json!(SIGNATURE);
                s
            }).collect::<Vec<_>>()});
            let d = reg.manifest(&index);
            reg.tag(
                &format!("sha256-{}", digest(&artifact).hex()),
                d["digest"].as_str().unwrap(),
            );
        }
        let by_digest = verify_like(&reg, &Reference::Digest(digest(&artifact)));
        let by_tag = verify_like(&reg, &Reference::Tag("v1".into()));
        eprintln!(
            "referrers API {api}: digest {:?} ({} requests), tag {:?} ({} requests), {delay:?} a round trip",
            by_digest.0, by_digest.1, by_tag.0, by_tag.1
        );
        let waves = |t: Duration| t.as_secs_f64() / delay.as_secs_f64();
        assert!(
            waves(by_digest.0) >= 3.0 && waves(by_digest.0) < 3.9,
            "digest: {by_digest:?}"
        );
        assert!(
            waves(by_tag.0) >= 4.0 && waves(by_tag.0) < 4.9,
            "tag: {by_tag:?}"
        );
        // manifest + API + tag schema (unknown API) + 5 manifests + 5 envelopes.
        assert_eq!(by_digest.1, 13, "digest");
        assert_eq!(by_tag.1, 13, "tag");
    }
}

#[test]
fn https_is_the_default_and_plain_http_only_when_asked() {
    let pki = TestPki::new();
    let tls = TestServer::start_tls(pki.server_config(false));
    let body = format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","layers":[]}}"#);
    tls.respond(
        "/v2/app/manifests/v1",
        Response::new(200, body.clone()).header("Content-Type", OCI_MANIFEST),
    );
    let host = tls.addr().to_string();
    let with_ca = RegistrySource::new(
        &host,
        RegistryOptions {
            http: HttpOptions {
                ca_certs: vec![pki.ca_pem_path()],
                ..HttpOptions::default()
            },
            ..RegistryOptions::default()
        },
    )
    .unwrap();
    assert!(with_ca.base_url().starts_with("https://"));
    let m = with_ca
        .manifest("app", &Reference::Tag("v1".into()), MAX)
        .unwrap();
    assert_eq!(m.digest.to_string(), sha256(body.as_bytes()));
    // The test CA is not trusted by default: the certificate is refused.
    let e = RegistrySource::new(&host, RegistryOptions::default())
        .unwrap()
        .manifest("app", &Reference::Tag("v1".into()), MAX)
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.failure()),
        ("connect", Failure::Unavailable),
        "{e}"
    );
    // A plain-http registry is not spoken to over plain http unless asked.
    let plain = TestServer::start();
    plain.respond(
        "/v2/app/manifests/v1",
        Response::new(200, body).header("Content-Type", OCI_MANIFEST),
    );
    let plain_host = plain.addr().to_string();
    // (TLS to a server that waits for an HTTP head: a short connect timeout ends the handshake.)
    let quick = RegistryOptions {
        http: HttpOptions {
            connect_timeout: Duration::from_millis(500),
            ..HttpOptions::default()
        },
        ..RegistryOptions::default()
    };
    let e = RegistrySource::new(&plain_host, quick)
        .unwrap()
        .manifest("app", &Reference::Tag("v1".into()), MAX)
        .unwrap_err();
    assert_eq!(e.failure(), Failure::Unavailable, "{e}");
    assert_eq!(plain.total_requests(), 0, "no plain-http request was made");
    source(&plain_host)
        .manifest("app", &Reference::Tag("v1".into()), MAX)
        .unwrap();
}

#[test]
fn token_auth_is_asked_once_and_every_page_carries_the_token() {
    let issuer = TokenIssuer::start(vec![User::new("bob", "builder", &["pull"])]);
    let reg = OciServer::start(Options {
        page_size: Some(2),
        bearer_realm: Some(issuer.realm()),
        ..Options::default()
    });
    let (artifact, sigs) = reg.signed(5, SIGNATURE);
    let bob = Found {
        credential: Credential::Password {
            username: "bob".into(),
            password: Secret::new("builder"),
        },
        origin: "the test".into(),
    };
    let src = RegistrySource::new(
        &reg.host(),
        RegistryOptions {
            insecure: true,
            http: HttpOptions {
                credentials: Some(Arc::new(Fixed(bob))),
                ..HttpOptions::default()
            },
            ..RegistryOptions::default()
        },
    )
    .unwrap();
    let (m, found) = src.manifest_and_referrers(
        "app",
        &Reference::Digest(digest(&artifact)),
        MAX,
        Some(SIGNATURE),
        100,
    );
    m.unwrap();
    assert_eq!(digests(&found.unwrap().unwrap()), strs(&sigs));
    let issued = issuer.issued();
    assert_eq!(issued.len(), 1, "one token for the run: {issued:?}");
    assert_eq!(issued[0].scopes, ["repository:app:pull"]);
    let log = reg.server.log();
    let refused = log
        .iter()
        .filter(|r| r.header("Authorization").is_none())
        .count();
    // The first wave (manifest, API, tag schema) is refused and asked again; the next pages
    // carry the token at once.
    assert_eq!(refused, 3, "{log:?}");
    assert_eq!(reg.requests_to("/referrers/").len(), 1 + 3);
}
