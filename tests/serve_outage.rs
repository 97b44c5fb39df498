//! A notary-server that stops mid-test (SIGSTOP: it holds every connection and answers nothing)
//! and comes back (SIGCONT): what is cached is still admitted, what is not is denied within the
//! review's deadline, and once the server is back the same review is admitted with the digests
//! `trustpin resolve` gives.

mod common;

use std::time::Duration;

use common::webhook::*;

#[test]
fn a_stopped_notary_server_is_denied_within_the_deadline_then_admitted_when_back() {
    const WEB: &str = "example.com/trustpin/web";
    const SIDECAR: &str = "example.com/trustpin/sidecar";
    const BATCH: &str = "example.com/trustpin/batch";
    let world = World::new(&[
        (BATCH, &[("v1", "batch v1")]),
        (WEB, &[("v1", "web v1")]),
        (SIDECAR, &[("v1", "sidecar v1")]),
    ]);
    let hook = world.serve(&[]);
    let api = ApiServer::new(&hook, Protocol::H2);
    let job = fixture("job");
    let mut first = job.clone();
    first["request"]["uid"] = "before".into();
    assert!(api.review(&first, "10s").allowed);

    let pid = world.server.pid().expect("notary-server pid");
    signal(pid, "-STOP");
    let resume = Resume(pid);
    // Cached: still admitted, at once.
    let mut cached = job.clone();
    cached["request"]["uid"] = "cached".into();
    let a = api.review(&cached, "10s");
    assert!(a.allowed && a.patch.len() == 1, "{a:?}");
    assert!(a.took < Duration::from_secs(1), "{:?}", a.took);
    // Not cached: denied before ?timeout= (4 s less the 2 s margin).
    let mut deployment = fixture("deployment");
    deployment["request"]["uid"] = "stopped".into();
    let a = api.review(&deployment, "4s");
    a.expect_timed_out_before_any_of(2);
    assert!(
        a.took < Duration::from_millis(2800),
        "answered after {:?}",
        a.took
    );

    signal(pid, "-CONT");
    drop(resume);
    deployment["request"]["uid"] = "back".into();
    let a = api.review(&deployment, "10s");
    assert!(a.allowed, "{a:?}");
    for (pointer, gun) in [
        ("/spec/template/spec/containers/0/image", WEB),
        ("/spec/template/spec/containers/1/image", SIDECAR),
    ] {
        let pinned = a.image_at(pointer);
        let (name_tag, digest) = pinned.split_once('@').unwrap();
        assert_eq!(name_tag, format!("{gun}:v1"));
        assert_eq!(
            format!("{gun}@{digest}"),
            world.resolve(&format!("{gun}:v1"))
        );
    }
    assert_eq!(hook.decision_log("stopped")["decision"], "timed_out");
    assert_eq!(hook.decision_log("back")["decision"], "allowed");
}
