//! `trustpin serve`'s connection timeouts over one HTTP/1.1 keep-alive TLS connection, spoken
//! by hand so each byte's timing is ours: a connection idle longer than `--header-timeout` is
//! still reused (the API server keeps connections for 90 s), one idle for `--idle-timeout` is
//! closed with a TLS close_notify, and a request whose headers come slowly is still cut off.

mod common;

use std::time::{Duration, Instant};

use common::webhook::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: trustpin.trustpin.svc\r\n\r\n";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One response on `s` (headers, then a Content-Length body): its status line.
async fn response(s: &mut Tls) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            let text = String::from_utf8_lossy(&got).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_owned())
                    })
                    .and_then(|v| v.parse::<usize>().ok())
                    .expect("a Content-Length");
                if body.len() >= length {
                    return head.lines().next().unwrap_or("").to_owned();
                }
            }
            match s.read(&mut buf).await {
                Ok(0) => panic!("closed before the response: {text:?}"),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => panic!("read failed before the response: {e} ({text:?})"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("a response within 5 s")
}

/// A webhook with these timeouts (seconds), and a connection to it that has answered one request.
async fn kept_alive(header: &str, idle: &str) -> (Webhook, Tls) {
    let flags = ["--header-timeout", header, "--idle-timeout", idle];
    let hook = Webhook::over("http://127.0.0.1:9", &flags);
    let mut s = tls_connect(&hook, &[b"http/1.1"]).await;
    s.write_all(HEALTHZ).await.unwrap();
    assert_eq!(response(&mut s).await, "HTTP/1.1 200 OK");
    (hook, s)
}

/// How the server ended the connection, waiting at most `limit`: `Ok(elapsed)` for a TLS
/// close_notify (a clean end of stream), `Err` for anything else.
async fn closed(s: &mut Tls, limit: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    let mut buf = [0u8; 256];
    match tokio::time::timeout(limit, s.read(&mut buf)).await {
        Ok(Ok(0)) => Ok(started.elapsed()),
        Ok(Ok(n)) => Err(format!("{n} unexpected bytes")),
        Ok(Err(e)) => Err(format!("closed without close_notify: {e}")),
        Err(_) => Err(format!("still open after {limit:?}")),
    }
}

#[test]
fn an_idle_keep_alive_connection_is_reused_past_the_header_timeout_and_closed_cleanly_when_idle_too_long(
) {
    runtime().block_on(async {
        let (_hook, mut s) = kept_alive("1", "4").await;
        // Idle for twice the header timeout, then reused.
        tokio::time::sleep(Duration::from_secs(2)).await;
        s.write_all(HEALTHZ).await.unwrap();
        assert_eq!(response(&mut s).await, "HTTP/1.1 200 OK");
        // Then idle past the idle timeout: closed by the server, with close_notify.
        let t = closed(&mut s, Duration::from_secs(8)).await.unwrap();
        assert!(t >= Duration::from_secs(3), "closed after {t:?} idle");
    });
}

#[test]
fn slow_headers_on_a_kept_alive_connection_are_cut_off_at_the_header_timeout() {
    runtime().block_on(async {
        let (_hook, mut s) = kept_alive("1", "60").await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // The next request's headers, one byte every 100 ms, never finished.
        let started = Instant::now();
        s.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        let mut cut = None;
        for _ in 0..50 {
            if s.write_all(b"X").await.is_err() || s.flush().await.is_err() {
                cut = Some(started.elapsed());
                break;
            }
            // The end of the stream, clean or not.
            if let Ok(r) =
                tokio::time::timeout(Duration::from_millis(100), s.read(&mut [0u8; 64])).await
            {
                assert!(
                    !r.is_ok_and(|n| n > 0),
                    "an answer to headers that never ended"
                );
                cut = Some(started.elapsed());
                break;
            }
        }
        let cut = cut.expect("slow headers on a kept-alive connection were never cut off");
        assert!(
            cut >= Duration::from_millis(900) && cut < Duration::from_secs(3),
            "cut off after {cut:?}"
        );
    });
}
