//! Hostile trust data, part 3: a hostile server. Endless bodies, bodies longer or shorter than
//! announced, stalls, drips, files that change between requests, hostile 401 challenges. Every
//! case runs `trustpin resolve` against the loopback test server with a short `--timeout`, and
//! asserts the exit code (3: could not check; 1: refused), the words, and a bounded wall time.

mod common;
use common::builder;

use std::time::Duration;

use common::builder::{Built, RepoBuilder};
use common::server::{tuf_path, Length, Pace, Reply, Response, TestServer};
use common::sha256_hex;
use common::Output;

const GUN: &str = "example.com/hostile/transport";
const IMAGE: &[u8] = b"the real image";
const MIB: u64 = 1024 * 1024;

fn built() -> Built {
    let mut r = RepoBuilder::new(GUN);
    r.tag("targets", "v1", IMAGE)
        .delegate("targets", "targets/releases", &[""])
        .tag("targets/releases", "v1", IMAGE);
    r.build()
}

/// Serve `b`, with `role` answered by `reply` instead; run resolve with `--timeout secs`. Peak
/// memory stays bounded whatever the server does (checked when GNU time is installed): one
/// misbehaving file is read to at most its bound (targets.json and the speculative
/// targets/releases fetch: 64 MiB), and a growing buffer may hold up to twice that, so 400 MiB
/// with the program is generous, and far below what an unbounded read reaches in the same time.
fn run_with(b: &Built, role: &str, reply: Reply, secs: u64) -> (Output, TestServer) {
    let (out, rss, srv) = run_measured(b, role, reply, secs);
    memory_below(rss, 400, &out);
    (out, srv)
}

/// As [`run_with`], returning trustpin's peak memory (KiB) when it can be measured.
fn run_measured(
    b: &Built,
    role: &str,
    reply: Reply,
    secs: u64,
) -> (Output, Option<u64>, TestServer) {
    let srv = b.served();
    srv.route(&tuf_path(GUN, role), move |_| reply.clone());
    let key = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(key.path(), &b.pinned_pem).unwrap();
    let (out, rss) = builder::trustpin_measured(&[
        "resolve".to_owned(),
        format!("{GUN}:v1"),
        "--server".into(),
        srv.url(),
        "--root-key".into(),
        key.path().display().to_string(),
        "--timeout".into(),
        secs.to_string(),
    ]);
    (out, rss, srv)
}

/// Peak memory below `mib` MiB, when measured.
fn memory_below(rss_kib: Option<u64>, mib: u64, out: &Output) {
    if let Some(kib) = rss_kib {
        assert!(
            kib < mib * 1024,
            "peak memory {kib} KiB: {}",
            out.describe()
        );
    }
}

fn within(out: &Output, limit: Duration) {
    assert!(
        out.elapsed < limit,
        "took {:?}: {}",
        out.elapsed,
        out.describe()
    );
}

#[test]
fn clean_repository_resolves_and_every_file_is_fetched_once() {
    let b = built();
    let srv = b.served();
    let out = b.cli_server(&srv, "v1", &[]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert_eq!(
        out.stdout.trim(),
        format!("{GUN}@sha256:{}", sha256_hex(IMAGE))
    );
    // One request per file: what was verified is what is used (no second fetch to swap).
    for role in common::ROLES {
        assert_eq!(
            srv.requests(&tuf_path(GUN, role)),
            1,
            "{role}: {:?}",
            srv.log()
        );
    }
}

#[test]
fn endless_timestamp_is_cut_at_its_bound() {
    // 1 MiB bound for timestamp.json: an endless body (no Content-Length) is read to the bound
    // and refused.
    let endless =
        Response::json(&b"{\"signed\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"[..])
            .length(Length::CloseDelimited)
            .endless();
    let (out, rss, _srv) = run_measured(&built(), "timestamp", endless.into(), 10);
    out.expect(
        3,
        &["timestamp.json: larger than the limit of 1048576 bytes; refused"],
    );
    within(&out, Duration::from_secs(10));
    memory_below(rss, 100, &out);
}

#[test]
fn endless_chunked_snapshot_and_targets_are_cut_at_their_bounds() {
    for (role, limit) in [("snapshot", 16 * MIB), ("targets", 64 * MIB)] {
        let endless = Response::json(vec![b' '; 64 * 1024])
            .length(Length::Chunked)
            .endless();
        let (out, _srv) = run_with(&built(), role, endless.into(), 20);
        out.expect(
            3,
            &[&format!(
                "{role}.json: larger than the limit of {limit} bytes; refused"
            )],
        );
        within(&out, Duration::from_secs(20));
    }
}

#[test]
fn a_10_mib_body_announced_as_such_is_refused_before_it_is_read() {
    let big = Response::json(vec![b' '; 10 * MIB as usize]);
    let (out, rss, _srv) = run_measured(&built(), "timestamp", big.into(), 10);
    memory_below(rss, 100, &out);
    out.expect(
        3,
        &["timestamp.json: larger than the limit of 1048576 bytes"],
    );
    within(&out, Duration::from_secs(10));
}

#[test]
fn a_delegation_longer_than_the_snapshot_says_is_cut_at_that_length() {
    // The snapshot fixes a delegation's length; the server sends that file plus 10 MiB, endless.
    let b = built();
    let mut body = b.get("targets/releases").to_vec();
    body.extend(std::iter::repeat_n(b' ', MIB as usize));
    let resp = Response::json(body)
        .length(Length::CloseDelimited)
        .endless();
    let (out, _srv) = run_with(&b, "targets/releases", resp.into(), 10);
    let declared = b.get("targets/releases").len();
    out.expect(
        3,
        &[
            "targets/releases.json",
            &format!("larger than the limit of {declared} bytes"),
        ],
    );
    within(&out, Duration::from_secs(10));
}

#[test]
fn content_length_that_lies_short_gives_a_truncated_file_that_is_refused() {
    // `Content-Length: 100` for a longer body: the client reads 100 bytes, which are not the
    // file the timestamp names.
    let b = built();
    let resp = Response::json(b.get("snapshot").to_vec()).length(Length::Claim(100));
    let (out, _srv) = run_with(&b, "snapshot", resp.into(), 10);
    assert!(out.code == 1 || out.code == 3, "{}", out.describe());
    out.expect_stderr(&["snapshot"], "");
    assert!(out.stdout.trim().is_empty());
}

#[test]
fn content_length_that_lies_long_is_a_broken_transfer() {
    let b = built();
    let len = b.get("timestamp").len() as u64;
    let resp = Response::json(b.get("timestamp").to_vec()).length(Length::Claim(len + 1000));
    let (out, _srv) = run_with(&b, "timestamp", resp.into(), 5);
    out.expect(3, &["timestamp.json"]);
    within(&out, Duration::from_secs(10));
}

/// `role`'s file answered with `reply` under `--timeout 2`: given up on (exit 3, naming the file)
/// well within 8 s.
fn given_up_on_after_2s(b: &Built, role: &str, reply: Reply) {
    let (out, _srv) = run_with(b, role, reply, 2);
    out.expect(3, &[&format!("{role}.json: no complete answer within 2s")]);
    within(&out, Duration::from_secs(8));
}

#[test]
fn a_server_that_stalls_is_given_up_on_after_the_timeout() {
    for role in common::ROLES {
        given_up_on_after_2s(&built(), role, Reply::Stall);
    }
}

#[test]
fn a_server_that_sends_headers_then_stalls_is_given_up_on() {
    let b = built();
    let resp = Response::json(b.get("targets").to_vec()).pace(Pace::StallAfterHead);
    given_up_on_after_2s(&b, "targets", resp.into());
}

#[test]
fn a_server_that_drips_one_byte_at_a_time_is_given_up_on_slow_retrieval() {
    // One byte every 50 ms: each read makes progress (so per-read timeouts never fire), but the
    // whole file would take minutes. The deadline covers the whole fetch.
    let b = built();
    let resp =
        Response::json(b.get("root").to_vec()).pace(Pace::DripBody(Duration::from_millis(50)));
    given_up_on_after_2s(&b, "root", resp.into());
}

#[test]
fn a_file_that_changes_between_requests_cannot_be_swapped_after_verification() {
    // First request: the real targets.json; any later one: the attacker's. trustpin fetches
    // each file once, so the verified bytes are the used bytes.
    let b = built();
    let mut evil = RepoBuilder::new(GUN);
    evil.tag("targets", "v1", b"evil");
    let evil = evil.build();
    let srv = b.served();
    srv.sequence(
        &tuf_path(GUN, "targets"),
        vec![
            Response::json(b.get("targets").to_vec()).into(),
            Response::json(evil.get("targets").to_vec()).into(),
        ],
    );
    let out = b.cli_server(&srv, "v1", &[]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert_eq!(
        out.stdout.trim(),
        format!("{GUN}@sha256:{}", sha256_hex(IMAGE))
    );
    assert_eq!(srv.requests(&tuf_path(GUN, "targets")), 1);
}

#[test]
fn missing_trust_data_is_a_refusal_naming_the_url() {
    let srv = TestServer::start();
    let b = built();
    let out = b.cli_server(&srv, "v1", &[]);
    out.expect(
        1,
        &[&format!("no trust data for {GUN}"), "root.json not found"],
    );
}

#[test]
fn an_http_error_is_could_not_check() {
    let (out, _srv) = run_with(
        &built(),
        "snapshot",
        Response::new(502, "bad gateway").into(),
        5,
    );
    out.expect(3, &["snapshot.json: the server answered HTTP 502"]);
}

// ---- hostile 401 challenges -----------------------------------------------------------------

/// Serve `b` with root.json behind a 401 whose challenge is `value(server URL)`; a `/token`
/// endpoint on the same server would hand out a token.
fn challenge(b: &Built, value: impl Fn(&str) -> String) -> (Output, TestServer) {
    let srv = b.served();
    let v = value(&srv.url());
    srv.route(&tuf_path(GUN, "root"), move |req| {
        if req.header("authorization").is_some() {
            Response::json(b"{}".to_vec()).into()
        } else {
            Response::new(401, "{}")
                .header("WWW-Authenticate", &v)
                .into()
        }
    });
    srv.route("/token", |_| {
        Response::json(br#"{"token":"t0ken"}"#.to_vec()).into()
    });
    let out = b.cli_server(&srv, "v1", &["--timeout", "5"]);
    (out, srv)
}

fn refused_challenge(out: &Output, srv: &TestServer) {
    out.expect_code(3, "challenge refused");
    assert!(out.stdout.trim().is_empty(), "{}", out.describe());
    out.expect_stderr_any(&["401", "authentication"], "challenge refused");
    // No token was fetched, and nothing was retried with an Authorization header.
    let log = srv.log();
    assert!(
        !log.iter().any(|r| r.path.contains("token")),
        "the realm was contacted: {log:?}"
    );
    assert!(
        !log.iter().any(|r| r.header("authorization").is_some()),
        "credentials or a token were sent: {log:?}"
    );
}

#[test]
fn a_401_with_an_http_realm_off_loopback_is_refused() {
    let (out, srv) = challenge(&built(), |_| {
        format!(
            r#"Bearer realm="http://auth.example.invalid/token",service="x",scope="repository:{GUN}:pull""#
        )
    });
    refused_challenge(&out, &srv);
}

#[test]
fn a_401_with_dot_dot_in_the_realm_is_refused() {
    // The realm is on the same loopback server (so plain http would be allowed), but `..` is not.
    let (out, srv) = challenge(&built(), |url| {
        format!(r#"Bearer realm="{url}/v2/../token",service="x",scope="repository:{GUN}:pull""#)
    });
    refused_challenge(&out, &srv);
}

#[test]
fn a_401_with_an_unknown_scheme_is_refused() {
    let (out, srv) = challenge(&built(), |_| {
        r#"Negotiate abcdef, Digest realm="x", nonce="y""#.into()
    });
    refused_challenge(&out, &srv);
}

#[test]
fn delegation_declared_huge_by_the_snapshot_is_still_bounded() {
    // The snapshot key is usually held by the server, so a hostile server can sign a snapshot
    // that declares each delegation 1 TiB long, and then send that much. The declared length must
    // not be the only bound: a delegation should be refused as over a fixed cap (like targets.json's
    // 64 MiB) before it is read, not buffered whole. Here the server announces 200 MiB
    // (Content-Length) and would send it.
    //
    // BUG (src/resolve.rs / src/chain.rs, not this suite's to fix): delegations are fetched with
    // `max_len` = the snapshot's declared length (chain.rs `Trusted::delegations_to_fetch` →
    // resolve.rs `fetch_delegations` → `source.fetch(gun, role, *len)`), uncapped. Measured with
    // 4 delegations declared 2^40 bytes and endless bodies: 2.85 GB resident after 5 s (release
    // build); with 16 fetches in parallel and the default 30 s timeout, memory is exhausted.
    const HUGE: u64 = 200 * MIB;
    let mut r = RepoBuilder::new(GUN);
    r.tag("targets", "v1", IMAGE)
        .delegate("targets", "targets/releases", &[""]);
    r.edit_signed("snapshot", |s| {
        s["meta"]["targets/releases"]["length"] = HUGE.into()
    });
    let b = r.build();
    let srv = b.served();
    srv.respond(
        &tuf_path(GUN, "targets/releases"),
        Response::json(vec![b' '; MIB as usize])
            .length(Length::Claim(HUGE))
            .endless(),
    );
    let out = b.cli_server(&srv, "v1", &["--timeout", "20"]);
    out.expect_stderr(
        &["targets/releases", "limit"],
        "the 200 MiB delegation was not refused by a size cap",
    )
    .expect_stderr_lacks(&["sha256 is"], "it was read whole");
}
