//! `trustpin serve` against hostile clients and failing notary servers: bad JSON, oversized
//! bodies (declared and chunked), slow headers and silent connections, a notary server that
//! stalls or is not there, and certificates that change or are wrong. No notary-server is needed:
//! these requests never get as far as good trust data.

mod common;

use std::time::{Duration, Instant};

use common::server::TestServer;
use common::webhook::*;
use common::Cmd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: usize = 1024 * 1024;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Read until the peer closes (or errors); how long that took.
async fn until_closed(s: &mut (impl AsyncReadExt + Unpin), limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, read).await.ok()?;
    Some(started.elapsed())
}

#[test]
fn bad_json_is_400_oversized_bodies_413_unknown_paths_404_and_probes_answer() {
    let hook = Webhook::over("http://127.0.0.1:9", &[]);
    for protocol in [Protocol::Http1, Protocol::H2] {
        let api = ApiServer::new(&hook, protocol);
        assert_eq!(api.send("GET", "/healthz", Vec::new()).0, 200);
        assert_eq!(api.send("GET", "/readyz", Vec::new()).0, 200);
        assert_eq!(api.send("GET", "/nope", Vec::new()).0, 404);
        assert_eq!(api.send("GET", "/mutate", Vec::new()).0, 404);
        assert_eq!(api.send("POST", "/mutate/../metrics", Vec::new()).0, 404);
        let (status, body) = api.send("POST", "/mutate?timeout=10s", b"{not json".to_vec());
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
        assert!(String::from_utf8_lossy(&body).contains("not JSON"));
        let beta = br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}}"#;
        assert_eq!(api.send("POST", "/mutate", beta.to_vec()).0, 400);
        // Exactly the limit is read (and is not JSON).
        assert_eq!(api.send("POST", "/mutate", vec![b' '; 3 * MIB]).0, 400);
        if protocol == Protocol::H2 {
            assert_eq!(api.send("POST", "/mutate", vec![b' '; 3 * MIB + 1]).0, 413);
        }
    }
    // One byte more, declared: refused before a byte of the body is sent.
    runtime().block_on(async {
        let mut s = tls_connect(&hook, &[b"http/1.1"]).await;
        let head = format!(
            "POST /mutate HTTP/1.1\r\nHost: trustpin.trustpin.svc\r\nContent-Length: {}\r\n\r\n",
            3 * MIB + 1
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let mut answer = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut answer))
            .await
            .expect("no answer to a declared oversized body")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer[..n]);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    });
    // A chunked body, with no length declared, is cut at the limit too.
    runtime().block_on(async {
        let mut s = tls_connect(&hook, &[b"http/1.1"]).await;
        s.write_all(b"POST /mutate HTTP/1.1\r\nHost: trustpin.trustpin.svc\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await
            .unwrap();
        let chunk = vec![b' '; 64 * 1024];
        let mut answer = Vec::new();
        for _ in 0..(3 * MIB / chunk.len() + 2) {
            let head = format!("{:x}\r\n", chunk.len());
            if s.write_all(head.as_bytes()).await.is_err()
                || s.write_all(&chunk).await.is_err()
                || s.write_all(b"\r\n").await.is_err()
            {
                break;
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    });
    let api = ApiServer::new(&hook, Protocol::Http1);
    let metrics = String::from_utf8(api.send("GET", "/metrics", Vec::new()).1).unwrap();
    assert!(
        metrics.contains("trustpin_rejected_requests_total{status=\"too_large\"} 3"),
        "{metrics}"
    );
}

#[test]
fn a_client_sending_headers_slowly_is_cut_off_and_others_are_still_served() {
    let hook = Webhook::over("http://127.0.0.1:9", &["--header-timeout", "1"]);
    let rt = runtime();
    rt.block_on(async {
        // Headers, one byte every 100 ms, never finished.
        let mut slow = tls_connect(&hook, &[b"http/1.1"]).await;
        slow.write_all(b"POST /mutate HTTP/1.1\r\nHost: trustpin.trustpin.svc\r\n")
            .await
            .unwrap();
        let started = Instant::now();
        let mut cut = None;
        for _ in 0..60 {
            if slow.write_all(b"X").await.is_err() || slow.flush().await.is_err() {
                cut = Some(started.elapsed());
                break;
            }
            if let Some(t) = until_closed(&mut slow, Duration::from_millis(100)).await {
                cut = Some(started.elapsed().min(t + started.elapsed()));
                break;
            }
        }
        let cut = cut.expect("a slow-header client was never cut off");
        assert!(cut < Duration::from_secs(3), "cut off after {cut:?}");
        // A TCP connection that never starts TLS, and an h2 one that never sends its preface.
        let mut silent = tokio::net::TcpStream::connect(hook.addr).await.unwrap();
        let t = until_closed(&mut silent, Duration::from_secs(4)).await;
        assert!(t.is_some(), "a silent TCP connection stays open");
        let mut h2 = tls_connect(&hook, &[b"h2"]).await;
        assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let t = until_closed(&mut h2, Duration::from_secs(4)).await;
        assert!(t.is_some(), "a silent h2 connection stays open");
    });
    let api = ApiServer::new(&hook, Protocol::H2);
    assert_eq!(api.send("GET", "/healthz", Vec::new()).0, 200);
}

#[test]
fn a_stalling_notary_server_is_denied_before_the_timeout_runs_out() {
    let stall = TestServer::start();
    stall.fallback(|_| common::server::Reply::Stall);
    let hook = Webhook::over(&stall.url(), &[]);
    for (protocol, timeout, within) in [
        (Protocol::Http1, "4s", Duration::from_secs(2)),
        (Protocol::H2, "3500ms", Duration::from_millis(1750)),
    ] {
        let api = ApiServer::new(&hook, protocol);
        let mut review = fixture("deployment");
        let uid = format!("stall-{timeout}");
        review["request"]["uid"] = uid.clone().into();
        let a = api.review(&review, timeout);
        a.expect_timed_out_before_any_of(2);
        assert!(
            a.took >= within - Duration::from_millis(100),
            "{:?}",
            a.took
        );
        assert!(
            a.took < within + Duration::from_millis(900),
            "answered after {:?}",
            a.took
        );
        assert_eq!(hook.decision_log(&uid)["decision"], "timed_out");
    }
    // Detect mode allows when time runs out, saying so.
    let detect = Webhook::over(
        &stall.url(),
        &["--mode", "detect", "--timeout-margin", "0.5"],
    );
    let a = ApiServer::new(&detect, Protocol::Http1).review(&fixture("job"), "2s");
    assert!(a.allowed, "{a:?}");
    assert!(a
        .warnings
        .iter()
        .any(|w| w.starts_with("timed out after verifying 0 of 1 images")));
    assert!(a.took < Duration::from_secs(2), "{:?}", a.took);
}

#[test]
fn an_unreachable_notary_server_is_denied_at_once_in_resolve_words() {
    let closed = format!("http://127.0.0.1:{}", common::notary::free_port());
    let hook = Webhook::over(&closed, &[]);
    let api = ApiServer::new(&hook, Protocol::Http1);
    let a = api.review(&fixture("job"), "10s");
    assert!(!a.allowed, "{a:?}");
    assert!(a.took < Duration::from_secs(5), "{:?}", a.took);
    let image = "example.com/trustpin/batch:v1";
    let out = Cmd::trustpin()
        .args([
            "resolve",
            image,
            "--root-key",
            &test_root_key(),
            "--server",
            &closed,
            "--no-cache",
        ])
        .run();
    out.expect_code(3, "resolve against a closed port");
    let said = hook.decision_log(fixture("job")["request"]["uid"].as_str().unwrap())["images"][0]
        ["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        out.stderr.contains(&said),
        "resolve: {} / serve: {said}",
        out.stderr
    );
    assert!(
        a.message.contains(&format!("image {image}: {said}")),
        "{}",
        a.message
    );
    let metrics = String::from_utf8(api.send("GET", "/metrics", Vec::new()).1).unwrap();
    assert!(
        metrics.contains(&format!(
            "trustpin_fetch_errors_total{{server=\"{closed}\"}} 1"
        )),
        "{metrics}"
    );
}

#[test]
fn the_certificate_is_reloaded_when_its_files_change_and_a_bad_one_is_not_taken() {
    let mut hook = Webhook::over("http://127.0.0.1:9", &[]);
    let first = presented_certificate(&hook);
    let second = hook.pki.issue(SERVICE_NAME);
    assert_ne!(first, second);
    let until = Instant::now() + Duration::from_secs(6);
    while presented_certificate(&hook) != second {
        assert!(
            Instant::now() < until,
            "the new certificate was never served"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // A broken certificate file: the last good certificate stays in use.
    std::fs::write(hook.pki.cert(), "-----BEGIN CERTIFICATE-----\nbroken\n").unwrap();
    let until = Instant::now() + Duration::from_secs(6);
    while !hook.log().iter().any(|l| {
        l["event"]
            .as_str()
            .is_some_and(|e| e.starts_with("certificate reload failed"))
    }) {
        assert!(
            Instant::now() < until,
            "no reload failure logged: {:?}",
            hook.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(presented_certificate(&hook), second);
    assert!(hook.is_running());
}

#[test]
fn a_bad_or_missing_certificate_is_an_error_at_start_naming_the_file() {
    let pki = WebhookPki::new();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.crt");
    let serve = |cert: &std::path::Path, key: &std::path::Path| {
        Cmd::trustpin()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--root-key",
                &test_root_key(),
            ])
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .run()
    };
    let out = serve(&missing, &pki.key());
    out.expect_stderr(&[missing.display().to_string()], "missing certificate");
    out.expect_code(2, "missing certificate");
    let garbage = dir.path().join("garbage.crt");
    std::fs::write(&garbage, "not a certificate").unwrap();
    serve(&garbage, &pki.key()).expect(2, &["TLS certificate", garbage.to_str().unwrap()]);
    // A key of another certificate.
    let other = WebhookPki::new();
    serve(&pki.cert(), &other.key()).expect(
        2,
        &["TLS key", other.key().to_str().unwrap(), "does not match"],
    );
}
