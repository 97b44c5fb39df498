//! `trustpin serve` end to end: a real notary-server (https, memory storage) holds trust data
//! published by the real `notary` client; the AdmissionReviews are the committed kubectl fixtures;
//! the API server's side is emulated by `common::webhook` (VerifyAdmissionResponse checks, the
//! patch applied with json-patch, SNI trustpin.trustpin.svc, the test CA only, h1 and h2). Every
//! patched digest must equal what `trustpin resolve` prints for the same image.

mod common;

use common::webhook::*;
use common::Cmd;

/// `name:tag@sha256:..` → `name@sha256:..`, the form resolve prints.
fn without_tag(pinned: &str) -> String {
    let (name_tag, digest) = pinned.split_once('@').expect("a digest");
    let name = match name_tag.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => n,
        _ => name_tag,
    };
    format!("{name}@{digest}")
}

const WEB: &str = "example.com/trustpin/web";
const SIDECAR: &str = "example.com/trustpin/sidecar";
const INIT: &str = "example.com/trustpin/init";
const BATCH: &str = "example.com/trustpin/batch";

#[test]
fn every_kind_is_patched_to_the_digest_resolve_gives_over_http1_and_h2() {
    let world = World::new(&[
        (WEB, &[("v1", "web v1"), ("v2", "web v2")]),
        (SIDECAR, &[("v1", "sidecar v1")]),
        (INIT, &[("v1", "init v1")]),
        (BATCH, &[("v1", "batch v1")]),
    ]);
    let hook = world.serve(&[]);
    let expected: std::collections::BTreeMap<&str, String> = [WEB, SIDECAR, INIT, BATCH]
        .into_iter()
        .map(|gun| (gun, world.resolve(&format!("{gun}:v1"))))
        .collect();
    for (protocol, suffix) in [(Protocol::Http1, "h1"), (Protocol::H2, "h2")] {
        let api = ApiServer::new(&hook, protocol);
        let cases: [(&str, &[(&str, &str)]); 4] = [
            (
                "deployment",
                &[
                    ("/spec/template/spec/containers/0/image", WEB),
                    ("/spec/template/spec/containers/1/image", SIDECAR),
                ],
            ),
            (
                "pod",
                &[
                    ("/spec/initContainers/0/image", INIT),
                    ("/spec/containers/0/image", WEB),
                    ("/spec/containers/1/image", SIDECAR),
                    ("/spec/containers/2/image", WEB),
                ],
            ),
            ("job", &[("/spec/template/spec/containers/0/image", BATCH)]),
            (
                "cronjob",
                &[(
                    "/spec/jobTemplate/spec/template/spec/containers/0/image",
                    BATCH,
                )],
            ),
        ];
        for (name, positions) in cases {
            let mut review = fixture(name);
            let uid = format!("{name}-{suffix}");
            review["request"]["uid"] = uid.clone().into();
            let a = api.review(&review, "10s");
            assert!(a.allowed, "{name} over {suffix}: {a:?}");
            assert_eq!(
                a.patch.len(),
                positions.len(),
                "one replace per container: {a:?}"
            );
            for (pointer, gun) in positions {
                let pinned = a.image_at(pointer);
                assert!(pinned.starts_with(&format!("{gun}:v1@sha256:")), "{pinned}");
                assert_eq!(without_tag(pinned), expected[gun], "{name} {pointer}");
            }
            let log = hook.decision_log(&uid);
            assert_eq!(log["decision"], "allowed", "{log}");
            assert_eq!(log["kind"], review["request"]["kind"]["kind"]);
            assert_eq!(log["namespace"], "default");
            assert!(log["duration_ms"].as_f64().is_some(), "{log}");
            // The same image in two containers is one entry (resolved once).
            let logged = log["images"].as_array().unwrap();
            let distinct: std::collections::BTreeSet<&str> =
                positions.iter().map(|(_, g)| *g).collect();
            assert_eq!(logged.len(), distinct.len(), "{log}");
            assert!(
                !log.to_string().contains("kubernetes-admin"),
                "userInfo logged: {log}"
            );
        }
        // Other kinds are allowed untouched.
        let a = api.review(&fixture("configmap"), "10s");
        assert!(a.allowed && a.patch.is_empty(), "{a:?}");
    }

    let api = ApiServer::new(&hook, Protocol::Http1);
    let deployment = fixture("deployment");
    let first = "/spec/template/spec/containers/0/image";
    // A reference that names its (signed) digest is verified and left alone.
    let digest = expected[WEB].split_once('@').unwrap().1.to_owned();
    let named = with_image(&deployment, "named", first, &format!("{WEB}:v1@{digest}"));
    let a = api.review(&named, "10s");
    assert!(a.allowed, "{a:?}");
    assert_eq!(a.patch.len(), 1, "only the sidecar is patched: {a:?}");
    assert_eq!(a.image_at(first), format!("{WEB}:v1@{digest}"));
    // Tag and digest must agree: v2 with v1's digest is refused.
    let disagree = with_image(
        &deployment,
        "disagree",
        first,
        &format!("{WEB}:v2@{digest}"),
    );
    let a = api.review(&disagree, "10s");
    assert!(!a.allowed, "{a:?}");
    assert!(
        a.message.contains(&format!("{WEB}:v2@{digest}")),
        "{}",
        a.message
    );
    // dryRun decides as usual.
    let mut dry = with_image(&deployment, "dry", first, &format!("{WEB}:v2"));
    dry["request"]["dryRun"] = true.into();
    let a = api.review(&dry, "10s");
    assert!(a.allowed, "{a:?}");
    assert_eq!(
        without_tag(a.image_at(first)),
        world.resolve(&format!("{WEB}:v2"))
    );
    assert_eq!(hook.decision_log("dry")["dry_run"], true);
    // An UPDATE of an object being deleted is allowed untouched (finalizers must go).
    let mut deleting = with_image(
        &deployment,
        "deleting",
        first,
        "example.com/trustpin/unsigned:v1",
    );
    deleting["request"]["operation"] = "UPDATE".into();
    let mut old = deleting["request"]["object"].clone();
    old["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z".into();
    deleting["request"]["oldObject"] = old;
    let a = api.review(&deleting, "10s");
    assert!(a.allowed && a.patch.is_empty(), "{a:?}");
    // A policy that says skip admits as written, with a warning.
    let skipped = with_image(&deployment, "skipped", first, "example.com/public/tool:1");
    let a = api.review(&skipped, "10s");
    assert!(a.allowed && a.patch.len() == 1, "{a:?}");
    assert!(
        a.warnings.iter().any(|w| w.contains("NOT VERIFIED")),
        "{a:?}"
    );

    // Warm: everything in cache, a decision takes milliseconds, and the metrics saw it.
    let started = std::time::Instant::now();
    for i in 0..20 {
        let mut r = fixture("pod");
        r["request"]["uid"] = format!("warm-{i}").into();
        assert!(api.review(&r, "10s").allowed);
    }
    eprintln!(
        "20 warm pod reviews (4 containers) in {:?}",
        started.elapsed()
    );
    let (status, metrics) = api.send("GET", "/metrics", Vec::new());
    let metrics = String::from_utf8(metrics).unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics.contains("trustpin_decisions_total{outcome=\"allowed\"}"),
        "{metrics}"
    );
    let hits: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("trustpin_cache_requests_total{result=\"hit\"} "))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(hits >= 60, "warm reviews are cache hits: {metrics}");
    assert!(metrics.contains("trustpin_decision_duration_seconds_bucket{le=\"+Inf\"}"));
}

#[test]
fn refusals_name_the_image_and_why_and_detect_mode_only_warns() {
    let world = World::new(&[
        (WEB, &[("v1", "web v1")]),
        ("example.com/trustpin/released", &[("v1", "released v1")]),
    ]);
    // Signed under another root key (another publisher's key store).
    let other = world.server.client();
    other.publish_repo("example.com/trustpin/wrongkey", &[("v1", "wrong v1")]);
    let hook = world.serve(&["--refusal-ttl", "1"]);
    let api = ApiServer::new(&hook, Protocol::H2);
    let deployment = fixture("deployment");
    let first = "/spec/template/spec/containers/0/image";
    let unsigned_digest = format!("{WEB}@sha256:{}", "ab".repeat(32));
    let cases = [
        (
            "unsigned",
            "example.com/trustpin/unsigned:v1",
            "no trust data",
        ),
        ("wrong-key", "example.com/trustpin/wrongkey:v1", "pinned"),
        (
            "no-delegation",
            "example.com/trustpin/released:v1",
            "releases",
        ),
        ("unsigned-digest", unsigned_digest.as_str(), "sha256:abab"),
        ("unsigned-tag", "example.com/trustpin/web:v9", "v9"),
        ("no-policy", "example.org/other/app:v1", "no trust policy"),
        (
            "bad-reference",
            "Example.com/UPPER:v1",
            "invalid image reference",
        ),
    ];
    for (uid, image, words) in cases {
        let review = with_image(&deployment, uid, first, image);
        let a = api.review(&review, "10s");
        assert!(!a.allowed, "{uid}: {a:?}");
        assert!(a.patch.is_empty());
        assert!(
            a.message.contains(&format!("image {image}: ")),
            "{uid}: {}",
            a.message
        );
        assert!(a.message.contains(words), "{uid}: {}", a.message);
        let log = hook.decision_log(uid);
        assert_eq!(log["decision"], "denied", "{log}");
        assert!(log["images"][0]["error"]["message"].is_string(), "{log}");
        // The words are resolve's own.
        if uid != "bad-reference" {
            let out = Cmd::trustpin()
                .arg("resolve")
                .arg(image)
                .args(world.flags())
                .arg("--no-cache")
                .run();
            assert!(!out.success());
            let said = log["images"][0]["error"]["message"].as_str().unwrap();
            assert!(
                out.stderr.contains(said),
                "resolve said {}, serve {said}",
                out.stderr
            );
        }
    }
    // v9 signed now: seen once the refusal time (1 s) has passed, not after the whole TTL.
    let v9 = common::notary::Target::of("v9", "web v9");
    world.client.add_target(WEB, &v9, "targets");
    world.client.publish(WEB);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut signed_now = with_image(&deployment, "signed-now", first, &format!("{WEB}:v9"));
    *signed_now["request"]["object"]
        .pointer_mut("/spec/template/spec/containers/1/image")
        .unwrap() = format!("{WEB}:v1").into();
    let a = api.review(&signed_now, "10s");
    assert!(a.allowed, "{a:?}");
    assert_eq!(a.image_at(first), format!("{WEB}:v9@{}", v9.digest()));

    // Two failures: both named, the first decides.
    let mut two = with_image(
        &deployment,
        "two",
        first,
        "example.com/trustpin/unsigned:v1",
    );
    *two["request"]["object"]
        .pointer_mut("/spec/template/spec/containers/1/image")
        .unwrap() = "example.com/trustpin/wrongkey:v1".into();
    let a = api.review(&two, "10s");
    assert!(!a.allowed);
    let (u, w) = (
        a.message.find("example.com/trustpin/unsigned:v1").unwrap(),
        a.message.find("example.com/trustpin/wrongkey:v1").unwrap(),
    );
    assert!(u < w, "{}", a.message);
    assert_eq!(a.code, Some(403));

    // Detect mode: the same review is allowed, the reasons are warnings of at most 120
    // characters (checked by the emulated API server), the signed image still patched.
    let detect = world.serve(&["--mode", "detect"]);
    detect.expect_stderr("--mode detect");
    let api = ApiServer::new(&detect, Protocol::Http1);
    let mut one = with_image(
        &deployment,
        "detect",
        first,
        "example.com/trustpin/wrongkey:v1",
    );
    *one["request"]["object"]
        .pointer_mut("/spec/template/spec/containers/1/image")
        .unwrap() = format!("{WEB}:v1").into();
    let a = api.review(&one, "10s");
    assert!(a.allowed, "{a:?}");
    assert!(
        a.warnings
            .iter()
            .any(|w| w.starts_with("image example.com/trustpin/wrongkey:v1: ")),
        "{a:?}"
    );
    assert_eq!(
        without_tag(a.image_at("/spec/template/spec/containers/1/image")),
        world.resolve(&format!("{WEB}:v1"))
    );
}
