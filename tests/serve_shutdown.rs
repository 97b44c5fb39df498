//! `trustpin serve` stopping as Kubernetes stops it (the real binary, real signals): at SIGTERM
//! `/readyz` answers 503, connections are still taken for `--shutdown-delay`, then refused; a
//! review in flight against a notary-server that is stopped (SIGSTOP) is answered when the server
//! comes back, and the process exits 0. The drain is bounded by `--drain-timeout` (exit 3), and a
//! second signal exits at once.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::server::{Reply, TestServer};
use common::webhook::*;

const WEB: &str = "example.com/trustpin/web";
const SIDECAR: &str = "example.com/trustpin/sidecar";

/// How long after `since` new TCP connections to the webhook are refused (None: not within 5 s).
fn refused_after(hook: &Webhook, since: Instant) -> Option<Duration> {
    while since.elapsed() < Duration::from_secs(5) {
        if TcpStream::connect_timeout(&hook.addr, Duration::from_millis(200)).is_err() {
            return Some(since.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn sigterm_drains_a_review_in_flight_then_exits_0_and_refuses_new_connections() {
    let world = World::new(&[
        (WEB, &[("v1", "web v1")]),
        (SIDECAR, &[("v1", "sidecar v1")]),
    ]);
    let mut hook = world.serve(&["--shutdown-delay", "3"]);
    let expected = [WEB, SIDECAR].map(|gun| world.resolve(&format!("{gun}:v1")));
    let notary = world.server.pid().expect("notary-server pid");
    signal(notary, "-STOP");
    let resume = Resume(notary);
    let mut review = fixture("deployment");
    review["request"]["uid"] = "in-flight".into();

    let (answer, refused) = std::thread::scope(|s| {
        let hook_ref = &hook;
        let in_flight =
            s.spawn(move || ApiServer::new(hook_ref, Protocol::Http1).review(&review, "20s"));
        // The review waits on the stopped notary-server (sent a little late on a loaded machine,
        // it is still taken during the shutdown delay); then the signal.
        std::thread::sleep(Duration::from_millis(500));
        hook.signal("-TERM");
        let signalled = Instant::now();
        hook.event("draining", Duration::from_secs(5));
        // During the shutdown delay: not ready, still accepting (a new connection is served).
        let probe = ApiServer::new(&hook, Protocol::H2);
        let (status, body) = probe.send("GET", "/readyz", Vec::new());
        assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
        assert_eq!(probe.send("GET", "/healthz", Vec::new()).0, 200);
        // Then new connections are refused, while the review is still waiting.
        let refused = refused_after(&hook, signalled).expect("new connections still accepted");
        assert!(!in_flight.is_finished(), "the review was answered early");
        signal(notary, "-CONT");
        (in_flight.join().expect("the review in flight"), refused)
    });
    drop(resume);
    assert!(
        refused >= Duration::from_millis(2900),
        "refused after {refused:?}, before the shutdown delay ended"
    );
    assert!(answer.allowed, "{answer:?}");
    for (pointer, want) in [
        ("/spec/template/spec/containers/0/image", &expected[0]),
        ("/spec/template/spec/containers/1/image", &expected[1]),
    ] {
        let pinned = answer.image_at(pointer);
        let (name_tag, digest) = pinned.split_once('@').unwrap();
        let name = name_tag.rsplit_once(':').unwrap().0;
        assert_eq!(&format!("{name}@{digest}"), want);
    }
    let code = hook.wait_exit(Duration::from_secs(5));
    assert_eq!(code, Some(0), "exit after the drain: {}", hook.stderr());
    assert_eq!(hook.decision_log("in-flight")["decision"], "allowed");
    assert_eq!(hook.event("drained", Duration::ZERO)["cut_connections"], 0);
}

/// What the API server got for a review in flight when the webhook was told to stop (Err: no
/// answer), how long after `stop` the process exited, and its exit code.
struct Stopped {
    got: Result<(u16, Vec<u8>), String>,
    exited_after: Duration,
    code: Option<i32>,
    hook: Webhook,
}

/// A webhook whose every fetch stalls (the review's deadline is 18 s away), told to `stop` while
/// a review is in flight.
fn stop_with_a_review_in_flight(extra: &[&str], stop: impl FnOnce(&Webhook)) -> Stopped {
    let stall = TestServer::start();
    stall.fallback(|_| Reply::Stall);
    let mut hook = Webhook::over(&stall.url(), extra);
    let (got, stopped) = std::thread::scope(|s| {
        let hook_ref = &hook;
        let in_flight = s.spawn(move || {
            let body = serde_json::to_vec(&fixture("deployment")).unwrap();
            ApiServer::new(hook_ref, Protocol::H2).try_send("POST", "/mutate?timeout=20s", body)
        });
        // In flight for certain: trustpin is fetching from the stalling server.
        let until = Instant::now() + Duration::from_secs(10);
        while stall.connections() == 0 {
            assert!(
                Instant::now() < until,
                "the review never reached the source"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!in_flight.is_finished(), "the review was answered early");
        let stopped = Instant::now();
        stop(hook_ref);
        (in_flight.join().expect("the review thread"), stopped)
    });
    let code = hook.wait_exit(Duration::from_secs(10));
    Stopped {
        got,
        exited_after: stopped.elapsed(),
        code,
        hook,
    }
}

#[test]
fn the_drain_timeout_bounds_the_wait_and_a_second_signal_exits_at_once() {
    // The drain timeout (1 s) passes before the review's deadline: cut short, exit 3.
    let cut = stop_with_a_review_in_flight(&["--drain-timeout", "1"], |h| h.signal("-TERM"));
    assert_eq!(cut.code, Some(3), "{}", cut.hook.stderr());
    assert!(cut.got.is_err(), "{:?}", cut.got);
    assert!(
        cut.exited_after >= Duration::from_millis(900) && cut.exited_after < Duration::from_secs(4),
        "exited {:?} after SIGTERM",
        cut.exited_after
    );
    assert_eq!(
        cut.hook.event("drained", Duration::ZERO)["cut_connections"],
        1
    );
    // SIGINT, then SIGTERM: the second signal exits at once (128 + 15), no drain.
    let forced = stop_with_a_review_in_flight(&[], |h| {
        h.signal("-INT");
        h.event("draining", Duration::from_secs(5));
        h.signal("-TERM");
    });
    assert_eq!(forced.code, Some(143), "{}", forced.hook.stderr());
    assert!(forced.got.is_err(), "{:?}", forced.got);
    assert!(
        forced.exited_after < Duration::from_secs(3),
        "exited {:?} after the second signal",
        forced.exited_after
    );
    let log = forced.hook.log();
    assert!(
        log.iter()
            .any(|l| l["signal"] == "SIGTERM" && l["exiting"] == "at once"),
        "{log:?}"
    );
    assert!(!log.iter().any(|l| l["event"] == "drained"), "{log:?}");
}
