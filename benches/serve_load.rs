//! `trustpin serve` under load (run by tools/bench-serve; `cargo bench --bench serve_load -- ARGS`).
//!
//! A real notary-server (memory storage) holds repositories published by the real `notary`
//! client ([`common::load::Mixed`]); every distinct image is first resolved by a sequential
//! `trustpin resolve --no-cache` run, which is the expected answer. Then `--reviews` reviews go
//! to the release `trustpin serve` over `--connections` HTTP/1.1 keep-alive TLS connections from
//! a Rust client (hyper over rustls) on `--client-threads` threads. Every answer is checked as
//! the API server checks it and compared with resolve's answer for its images.
//!
//! - `--mode mixed`: about a third of the reviews hold one or two bad images; the cache starts
//!   cold and keeps its defaults (30 s, refusals 5 s).
//! - `--mode warm`: only good images, every repository in the cache first (`--cache-ttl 3600`).
//! - `--pin-server CPUS`, `--pin-client CPUS`: `taskset` each side onto its own cores.
//!
//! Prints one markdown table row (and appends it to target/bench/serve.md): reviews/s, server-side
//! latency from its histogram (arrival of the request to the answer, TLS and socket not
//! included), client-side p50/p99/max, error responses, decisions unlike resolve's, the server's
//! RSS before / at most during / after, and its CPU time per review.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::load::{histogram, load, rss_kib, Mixed};
use common::webhook::{ApiServer, Protocol};

struct Args {
    mode: String,
    reviews: usize,
    connections: usize,
    client_threads: usize,
    pin_server: Option<String>,
    pin_client: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        mode: "mixed".into(),
        reviews: 20_000,
        connections: 200,
        client_threads: 1,
        pin_server: None,
        pin_client: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--mode" => a.mode = value(),
            "--reviews" => a.reviews = value().parse().expect("--reviews N"),
            "--connections" => a.connections = value().parse().expect("--connections N"),
            "--client-threads" => a.client_threads = value().parse().expect("--client-threads N"),
            "--pin-server" => a.pin_server = Some(value()),
            "--pin-client" => a.pin_client = Some(value()),
            // cargo bench passes --bench.
            _ => {}
        }
    }
    assert!(a.mode == "mixed" || a.mode == "warm", "--mode mixed|warm");
    a
}

/// Every thread of `pid` onto `cpus` (a taskset list, e.g. `0` or `0-1`).
fn pin(pid: u32, cpus: &str) {
    let ok = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run taskset")
        .success();
    assert!(ok, "taskset -c {cpus} {pid}");
}

/// User + system CPU time of `pid` so far.
fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// The smallest histogram bound holding fraction `p` of the decisions.
fn bucket(h: &[(f64, u64)], p: f64) -> String {
    let total = h.last().map_or(0, |b| b.1);
    let le = h
        .iter()
        .find(|(_, n)| *n as f64 >= p * total as f64)
        .map_or(f64::INFINITY, |b| b.0);
    format!("≤ {} ms", le * 1000.0)
}

fn main() {
    // `cargo test --all-targets` runs bench targets too (without --bench): a 20,000-review
    // benchmark of a debug build is not a test; tests/serve_load.rs is its test.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("serve_load: a benchmark, run by tools/bench-serve (cargo bench)");
        return;
    }
    let a = args();
    if let Some(cpus) = &a.pin_client {
        pin(std::process::id(), cpus);
    }
    let started = Instant::now();
    let mixed = Mixed::new();
    eprintln!(
        "world published and {} images resolved sequentially in {:.1?}",
        mixed.images.len(),
        started.elapsed()
    );
    let warm = a.mode == "warm";
    let mut flags = vec!["--max-connections", "4096"];
    if warm {
        flags.extend(["--cache-ttl", "3600"]);
    }
    let hook = mixed.world.serve(&flags);
    if let Some(cpus) = &a.pin_server {
        pin(hook.pid(), cpus);
    }
    let cases = mixed.reviews(a.reviews, !warm);
    let bodies: Vec<_> = cases.iter().map(|c| c.body()).collect();
    if warm {
        // Every repository into the cache (and the server's code paths warmed).
        let first = mixed.reviews(200, false);
        let warmup: Vec<_> = first.iter().map(|c| c.body()).collect();
        let (answers, _) = load(hook.addr, &hook.pki.ca_pem, &warmup, 8, 1);
        assert!(answers
            .iter()
            .all(|r| r.as_ref().is_ok_and(|a| a.status == 200)));
    }
    let api = ApiServer::new(&hook, Protocol::Http1);
    let before = histogram(&String::from_utf8_lossy(
        &api.send("GET", "/metrics", vec![]).1,
    ));
    let (pid, rss_before, cpu_before) = (hook.pid(), rss_kib(hook.pid()), cpu(hook.pid()));
    let (done, rss_max) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let sampler = {
        let (done, rss_max) = (done.clone(), rss_max.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                rss_max.fetch_max(rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let (answers, wall) = load(
        hook.addr,
        &hook.pki.ca_pem,
        &bodies,
        a.connections,
        a.client_threads,
    );
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let (rss_after, cpu_used) = (rss_kib(pid), cpu(pid) - cpu_before);
    // A new connection (the load's connections are gone with the load client).
    let api = ApiServer::new(&hook, Protocol::Http1);
    let after = histogram(&String::from_utf8_lossy(
        &api.send("GET", "/metrics", vec![]).1,
    ));
    // Only this run's decisions: the histogram after less the one before.
    let h: Vec<(f64, u64)> = after
        .iter()
        .map(|(le, n)| {
            let was = before.iter().find(|b| b.0 == *le).map_or(0, |b| b.1);
            (*le, n - was)
        })
        .collect();

    let (mut errors, mut unlike, mut denied) = (0, Vec::new(), 0);
    let mut took = Vec::with_capacity(answers.len());
    for (case, answer) in cases.iter().zip(&answers) {
        if case.positions.iter().any(|(_, i)| !mixed.images[*i].ok()) {
            denied += 1;
        }
        match answer {
            Ok(r) if r.status == 200 => {
                took.push(r.took);
                if let Err(e) = mixed.check(case, r.status, &r.body) {
                    unlike.push(e);
                }
            }
            _ => errors += 1,
        }
    }
    took.sort();
    let total = h.last().map_or(0, |b| b.1);
    let within_2ms = h.iter().find(|b| b.0 == 0.002).map_or(0, |b| b.1);
    let pinning = match (&a.pin_server, &a.pin_client) {
        (Some(s), Some(c)) => format!("server cpu {s}, client cpu {c}"),
        _ => "shared 2 cores".into(),
    };
    let row = format!(
        "| {} | {} ({denied} to deny) | {} | {} | {pinning} | {:.0} | {:.1} % | {} | {} | {:.1} / {:.1} / {:.1} ms | {errors} | {} | {} / {} / {} MiB | {:.0} µs |",
        a.mode,
        a.reviews,
        a.connections,
        a.client_threads,
        a.reviews as f64 / wall.as_secs_f64(),
        100.0 * within_2ms as f64 / total.max(1) as f64,
        bucket(&h, 0.5),
        bucket(&h, 0.99),
        percentile(&took, 0.5).as_secs_f64() * 1e3,
        percentile(&took, 0.99).as_secs_f64() * 1e3,
        took.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        unlike.len(),
        rss_before / 1024,
        rss_max.load(Ordering::Relaxed) / 1024,
        rss_after / 1024,
        cpu_used.as_secs_f64() * 1e6 / a.reviews as f64,
    );
    println!("{row}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out.join("serve.md"))
        .unwrap();
    writeln!(f, "{row}").unwrap();
    for e in unlike.iter().take(5) {
        eprintln!("unlike resolve: {e}");
    }
    assert_eq!(total as usize, a.reviews, "decisions counted by the server");
    if errors > 0 || !unlike.is_empty() {
        std::process::exit(1);
    }
}
