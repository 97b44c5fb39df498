//! The registry client (`trustpin::fetch::oci::RegistrySource`) against the real registry,
//! Debian's docker-registry (distribution 2.8.2): the shared notation layouts are pushed into it
//! through the distribution API (the push checked against the registry's own digests), then read
//! back and compared with README's digests and with the layout reader. distribution 2.8.2 has
//! no referrers API, so this is the tag-schema fallback, for real. Token auth runs against it
//! too, with the test token issuer.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::oci_data::{fetch_as_verifier, layout_path, SHARED_LAYOUTS};
use common::registry::Registry;
use trustpin::failure::{Classify, Failure};
use trustpin::fetch::credentials::{Credential, Fixed, Found, Secret};
use trustpin::fetch::http::HttpOptions;
use trustpin::fetch::oci::{
    LayoutSource, OciError, OciSource, Reference, RegistryOptions, RegistrySource,
    NOTATION_SIGNATURE,
};
use trustpin::reference::Digest;

const MAX: u64 = 4 * 1024 * 1024;

fn source(reg: &Registry) -> RegistrySource {
    RegistrySource::new(
        &reg.host(),
        RegistryOptions {
            insecure: true,
            ..RegistryOptions::default()
        },
    )
    .unwrap()
}

#[test]
fn shared_layouts_pushed_to_docker_registry_read_back_with_their_digests_and_signatures() {
    let reg = Registry::start();
    for l in SHARED_LAYOUTS {
        let pushed = reg.push_layout(l.name, &layout_path(l.name));
        // The tag-schema index built by the push is the one notation wrote (or README's).
        let want_index = l.tag_index.or(l.pushed_index);
        assert_eq!(
            pushed
                .iter()
                .map(|(s, d)| (s.as_str(), d.as_str()))
                .collect::<Vec<_>>(),
            want_index
                .map(|d| (l.artifact, d))
                .into_iter()
                .collect::<Vec<_>>(),
            "{}",
            l.name
        );
    }
    let src = source(&reg);
    for l in SHARED_LAYOUTS {
        let layout = LayoutSource::open(layout_path(l.name)).unwrap();
        let by_tag = src
            .manifest(l.name, &Reference::Tag("v1".into()), MAX)
            .unwrap();
        assert_eq!(by_tag.digest.to_string(), l.artifact, "{}", l.name);
        assert_eq!(by_tag.bytes.len() as u64, l.artifact_size);
        assert_eq!(
            by_tag,
            layout
                .manifest("scope", &Reference::Tag("v1".into()), MAX)
                .unwrap()
        );
        let digest = Reference::Digest(by_tag.digest);
        let (manifest, referrers) =
            src.manifest_and_referrers(l.name, &digest, MAX, Some(NOTATION_SIGNATURE), 100);
        assert_eq!(manifest.unwrap(), by_tag);
        let referrers = referrers.unwrap().unwrap();
        assert_eq!(
            referrers
                .iter()
                .map(|d| d.digest.to_string())
                .collect::<Vec<_>>(),
            l.signatures,
            "{}",
            l.name
        );
        // Descriptor for descriptor what the layout reader finds.
        assert_eq!(
            referrers,
            layout
                .referrers("scope", &by_tag.digest, Some(NOTATION_SIGNATURE), 100)
                .unwrap(),
            "{}",
            l.name
        );
        // Signature manifests in one wave, their envelopes in the next: the bytes notation wrote.
        let wanted: Vec<(Reference, u64)> = referrers
            .iter()
            .map(|d| (Reference::Digest(d.digest), MAX))
            .collect();
        let sigs = src.manifests_many(l.name, &wanted);
        let mut layers = Vec::new();
        for (sig, d) in sigs.into_iter().zip(&referrers) {
            let sig = sig.unwrap();
            assert_eq!(sig.digest, d.digest);
            let f = sig.fields("sig").unwrap();
            layers.push((f.layers[0].digest, MAX));
        }
        for (blob, (d, _)) in src.blobs_many(l.name, &layers).into_iter().zip(&layers) {
            assert_eq!(blob.unwrap(), layout.blob("scope", d, MAX).unwrap());
        }
    }
    // The registry answered 404 on the API, so the tag schema was used, and is remembered.
    assert_eq!(src.referrers_api(), Some(false));
}

#[test]
fn docker_registry_has_no_referrers_api_and_its_404_leads_to_the_tag_schema() {
    let reg = Registry::start();
    reg.push_layout("app", &layout_path("e2e-valid-signature"));
    // Reality, asked by the test's own client: 404 at the referrers API, the index at the tag.
    let api = reg.request(
        "GET",
        &format!("/v2/app/referrers/{}", SHARED_LAYOUTS[1].artifact),
        &[],
        &[],
    );
    assert_eq!(api.status, 404, "{api:?}");
    let src = source(&reg);
    assert_eq!(src.referrers_api(), None);
    let subject = Digest::parse(SHARED_LAYOUTS[1].artifact).unwrap();
    let found = src
        .referrers("app", &subject, Some(NOTATION_SIGNATURE), 10)
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(src.referrers_api(), Some(false));
    // No filter; another type; a subject with no referrers (no tag-schema tag: none).
    assert_eq!(src.referrers("app", &subject, None, 10).unwrap(), found);
    assert!(src
        .referrers("app", &subject, Some("application/x"), 10)
        .unwrap()
        .is_empty());
    let other = Digest([7; 32]);
    assert!(src.referrers("app", &other, None, 10).unwrap().is_empty());
    // More than the limit: cut off, the first kept.
    match src.referrers("app", &subject, None, 0).unwrap_err() {
        OciError::TooManyReferrers {
            found: kept,
            max: 0,
            ..
        } => assert!(kept.is_empty()),
        e => panic!("{e}"),
    }
}

#[test]
fn unknown_tags_digests_and_repositories_are_not_found() {
    let reg = Registry::start();
    reg.push_layout("app", &layout_path("e2e"));
    let src = source(&reg);
    for (repo, reference) in [
        ("app", Reference::Tag("v2".into())),
        ("app", Reference::Digest(Digest([1; 32]))),
        ("nothing/here", Reference::Tag("v1".into())),
    ] {
        let e = src.manifest(repo, &reference, MAX).unwrap_err();
        assert!(e.is_not_found(), "{repo}{reference}: {e}");
        assert_eq!(e.failure(), Failure::Unavailable);
        assert!(e.to_string().contains(&reg.url()), "{e}");
    }
    let e = src.blob("app", &Digest([1; 32]), MAX).unwrap_err();
    assert!(e.is_not_found(), "{e}");
    // Oversized: refused, by the announced length.
    let e = src
        .manifest("app", &Reference::Tag("v1".into()), 100)
        .unwrap_err();
    assert!(matches!(e, OciError::TooLarge { limit: 100, .. }), "{e}");
    // Names that could not be names are refused before any request.
    let e = src
        .manifest("../app", &Reference::Tag("v1".into()), MAX)
        .unwrap_err();
    assert_eq!(e.failure(), Failure::BadInput, "{e}");
    let e = src
        .manifest("app", &Reference::Tag("v1/../x".into()), MAX)
        .unwrap_err();
    assert_eq!(e.failure(), Failure::BadInput, "{e}");
}

#[test]
fn token_auth_on_docker_registry_with_credentials_and_refused_anonymously() {
    let (issuer, reg) = Registry::alice_behind_token_auth();
    let l = SHARED_LAYOUTS[1];

    let alice = Found {
        credential: Credential::Password {
            username: "alice".into(),
            password: Secret::new("wonderland"),
        },
        origin: "the test".into(),
    };
    let opts = RegistryOptions {
        insecure: true,
        http: HttpOptions {
            credentials: Some(Arc::new(Fixed(alice))),
            ..HttpOptions::default()
        },
        ..RegistryOptions::default()
    };
    let src = RegistrySource::new(&reg.host(), opts).unwrap();
    let m = src
        .manifest("secure/app", &Reference::Tag("v1".into()), MAX)
        .unwrap();
    assert_eq!(m.digest.to_string(), l.artifact);
    let found = src
        .referrers("secure/app", &m.digest, Some(NOTATION_SIGNATURE), 10)
        .unwrap();
    assert_eq!(found.len(), 1);
    let sig = src
        .manifest("secure/app", &Reference::Digest(found[0].digest), MAX)
        .unwrap();
    let layer = sig.fields("sig").unwrap().layers[0].digest;
    src.blob("secure/app", &layer, MAX).unwrap();
    // The scope asked for is the repository path, without the registry.
    let issued = issuer.issued();
    assert!(!issued.is_empty());
    assert!(
        issued
            .iter()
            .all(|i| i.scopes == ["repository:secure/app:pull"]
                && i.user == Ok(Some("alice".into()))),
        "{issued:?}"
    );
    // One token for the run.
    assert_eq!(issued.len(), 1, "{issued:?}");

    // Anonymous: the token grants nothing, the registry refuses it, and the error says so.
    let anonymous = source(&reg);
    let e = anonymous
        .manifest("secure/app", &Reference::Tag("v1".into()), MAX)
        .unwrap_err();
    assert_eq!(e.kind(), "auth", "{e}");
    assert_eq!(e.failure(), Failure::Unavailable);
    assert!(e.to_string().contains("repository:secure/app:pull"), "{e}");
}

/// A verifier's fetches for `reference`: manifest and referrers, the signature manifests, the
/// envelopes. Returns the time taken and the requests made.
fn verify_like(src: &RegistrySource, repo: &str, reference: &Reference) -> Duration {
    let start = std::time::Instant::now();
    fetch_as_verifier(src, repo, reference, 1);
    start.elapsed()
}

#[test]
fn against_docker_registry_a_digest_costs_three_waves_and_a_tag_four() {
    let reg = Registry::start();
    reg.push_layout("app", &layout_path("e2e-valid-signature"));
    let delay = Duration::from_millis(150);
    let proxy = common::registry::delaying_proxy(&reg, delay);
    let host = proxy.addr().to_string();
    let fresh = || {
        RegistrySource::new(
            &host,
            RegistryOptions {
                insecure: true,
                ..RegistryOptions::default()
            },
        )
        .unwrap()
    };
    let artifact = Reference::Digest(Digest::parse(SHARED_LAYOUTS[1].artifact).unwrap());
    let waves = |t: Duration| t.as_secs_f64() / delay.as_secs_f64();
    // Cold: the referrers API's absence is not known yet (asked with the tag schema, one wave).
    let before = proxy.total_requests();
    let cold_digest = verify_like(&fresh(), "app", &artifact);
    let cold_requests = proxy.total_requests() - before;
    let before = proxy.total_requests();
    let cold_tag = verify_like(&fresh(), "app", &Reference::Tag("v1".into()));
    let tag_requests = proxy.total_requests() - before;
    // Warm: the same source again (the API known absent: one request fewer).
    let src = fresh();
    verify_like(&src, "app", &artifact);
    let before = proxy.total_requests();
    let warm_digest = verify_like(&src, "app", &artifact);
    let warm_requests = proxy.total_requests() - before;
    eprintln!(
        "docker-registry, {delay:?} a round trip: digest cold {cold_digest:?} ({cold_requests} requests), \
         tag cold {cold_tag:?} ({tag_requests} requests), digest warm {warm_digest:?} ({warm_requests} requests)"
    );
    for (what, t, n) in [
        ("digest", cold_digest, 3.0),
        ("tag", cold_tag, 4.0),
        ("warm digest", warm_digest, 3.0),
    ] {
        assert!(waves(t) >= n && waves(t) < n + 0.9, "{what}: {t:?}");
    }
    // manifest + referrers API (404) + tag schema + signature manifest + envelope.
    assert_eq!((cold_requests, tag_requests, warm_requests), (5, 5, 4));
}
