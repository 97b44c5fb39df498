//! Counters for `GET /metrics`, in the Prometheus text format: decisions by outcome, decision
//! latency, cache hits and misses, fetch errors by server. Hand-written (a few atomics): the
//! format is small and a metrics crate would bring a registry we do not need.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// How a decision ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Allowed, with or without a patch.
    Allowed,
    /// Denied: an image failed.
    Denied,
    /// Denied because time ran out.
    TimedOut,
    /// Detect mode: allowed although an image failed.
    Warned,
    /// Not ours to judge (a kind without pods, a deletion, DELETE): allowed untouched.
    Untouched,
}

const OUTCOMES: [(Outcome, &str); 5] = [
    (Outcome::Allowed, "allowed"),
    (Outcome::Denied, "denied"),
    (Outcome::TimedOut, "timed_out"),
    (Outcome::Warned, "warned"),
    (Outcome::Untouched, "untouched"),
];

impl Outcome {
    pub fn label(self) -> &'static str {
        OUTCOMES
            .iter()
            .find(|(o, _)| *o == self)
            .map_or("unknown", |(_, l)| l)
    }
}

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Most distinct servers counted by name; the rest are counted as `other` (a client can name
/// any registry, and so any default server).
const MAX_SERVERS: usize = 64;

#[derive(Default)]
pub struct Metrics {
    decisions: [AtomicU64; 5],
    buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_micros: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    rejected: [AtomicU64; 3],
    fetch_errors: Mutex<BTreeMap<String, u64>>,
}

/// Requests answered without a decision, by status.
#[derive(Debug, Clone, Copy)]
pub enum Rejected {
    BadRequest,
    TooLarge,
    NotFound,
}

impl Metrics {
    pub fn decision(&self, outcome: Outcome, took: Duration) {
        let i = OUTCOMES
            .iter()
            .position(|(o, _)| *o == outcome)
            .unwrap_or(0);
        self.decisions[i].fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        for (b, upper) in self.buckets.iter().zip(BUCKETS) {
            if secs <= upper {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn cache(&self, hit: bool) {
        let c = if hit {
            &self.cache_hits
        } else {
            &self.cache_misses
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn rejected(&self, why: Rejected) {
        self.rejected[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn fetch_error(&self, server: &str) {
        let mut m = self.fetch_errors.lock().unwrap_or_else(|p| p.into_inner());
        let name = if m.contains_key(server) || m.len() < MAX_SERVERS {
            server
        } else {
            "other"
        };
        *m.entry(name.to_owned()).or_default() += 1;
    }

    /// Everything, in the Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        out.push_str("# HELP trustpin_decisions_total Admission decisions by outcome.\n");
        out.push_str("# TYPE trustpin_decisions_total counter\n");
        for ((_, label), n) in OUTCOMES.iter().zip(&self.decisions) {
            let _ = writeln!(
                out,
                "trustpin_decisions_total{{outcome=\"{label}\"}} {}",
                get(n)
            );
        }
        out.push_str("# HELP trustpin_decision_duration_seconds Time from request to answer.\n");
        out.push_str("# TYPE trustpin_decision_duration_seconds histogram\n");
        for (b, upper) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "trustpin_decision_duration_seconds_bucket{{le=\"{upper}\"}} {}",
                get(b)
            );
        }
        let count = get(&self.latency_count);
        let _ = writeln!(
            out,
            "trustpin_decision_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "trustpin_decision_duration_seconds_sum {}",
            get(&self.latency_micros) as f64 / 1e6
        );
        let _ = writeln!(out, "trustpin_decision_duration_seconds_count {count}");
        out.push_str(
            "# HELP trustpin_cache_requests_total Repository look-ups in the memory cache.\n",
        );
        out.push_str("# TYPE trustpin_cache_requests_total counter\n");
        let _ = writeln!(
            out,
            "trustpin_cache_requests_total{{result=\"hit\"}} {}",
            get(&self.cache_hits)
        );
        let _ = writeln!(
            out,
            "trustpin_cache_requests_total{{result=\"miss\"}} {}",
            get(&self.cache_misses)
        );
        out.push_str(
            "# HELP trustpin_rejected_requests_total Requests answered without a decision.\n",
        );
        out.push_str("# TYPE trustpin_rejected_requests_total counter\n");
        for (label, n) in ["bad_request", "too_large", "not_found"]
            .iter()
            .zip(&self.rejected)
        {
            let _ = writeln!(
                out,
                "trustpin_rejected_requests_total{{status=\"{label}\"}} {}",
                get(n)
            );
        }
        out.push_str(
            "# HELP trustpin_fetch_errors_total Trust data that could not be fetched, by server.\n",
        );
        out.push_str("# TYPE trustpin_fetch_errors_total counter\n");
        let m = self.fetch_errors.lock().unwrap_or_else(|p| p.into_inner());
        for (server, n) in m.iter() {
            let _ = writeln!(
                out,
                "trustpin_fetch_errors_total{{server=\"{}\"}} {n}",
                label_value(server)
            );
        }
        out
    }
}

/// A label value with `\`, `"` and line breaks escaped, as the format requires.
fn label_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_labels_are_escaped() {
        let m = Metrics::default();
        m.decision(Outcome::Allowed, Duration::from_micros(300));
        m.decision(Outcome::Denied, Duration::from_millis(30));
        m.fetch_error("https://a\"b");
        let text = m.render();
        assert!(text.contains("trustpin_decisions_total{outcome=\"allowed\"} 1"));
        assert!(text.contains("trustpin_decisions_total{outcome=\"denied\"} 1"));
        assert!(text.contains("trustpin_decision_duration_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("trustpin_decision_duration_seconds_bucket{le=\"0.05\"} 2"));
        assert!(text.contains("trustpin_decision_duration_seconds_bucket{le=\"+Inf\"} 2"));
        assert!(text.contains("trustpin_fetch_errors_total{server=\"https://a\\\"b\"} 1"));
    }

    #[test]
    fn server_names_are_bounded() {
        let m = Metrics::default();
        for i in 0..200 {
            m.fetch_error(&format!("https://r{i}.example"));
        }
        let n = m.fetch_errors.lock().unwrap().len();
        assert_eq!(n, MAX_SERVERS + 1);
    }
}
