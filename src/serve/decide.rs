//! One admission decision: which images the object runs, each verified once and all in
//! parallel, within the request's deadline; then the patch (one `replace` per container position
//! to `name:tag@sha256:<digest>`), or a denial naming every image that failed. Detect mode allows
//! instead and warns. Time running out is a denial that says how far it got.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::failure::Failure;
use crate::reference::{self, ImageRef};
use crate::tuf::budget::{Budget, Meter};

use super::images::{self, Position};
use super::metrics::Outcome;
use super::review::{Request, Response};
use super::verify::{Verdict, Verifier};

/// Deny what fails, or only warn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Detect,
}

/// The API server advises warnings of at most this many characters.
pub const MAX_WARNING: usize = 120;

/// Everything a decision needs besides the request.
pub struct Decider {
    pub verifier: Arc<dyn Verifier>,
    pub mode: Mode,
    /// What all the repositories of one request may cost together (a batch's budget).
    pub request_budget: Budget,
}

/// A decision: the response, its outcome (for the metrics) and its log line.
pub struct Decision {
    pub response: Response,
    pub outcome: Outcome,
    pub log: Value,
}

/// One distinct image of the request and what became of it (None: not finished in time).
struct Checked {
    written: String,
    parsed: Option<ImageRef>,
    verdict: Option<Verdict>,
}

impl Decider {
    /// Decide `req`, answering before `deadline` whatever the verifier does.
    pub async fn decide(&self, req: &Request, deadline: Instant) -> Decision {
        let started = Instant::now();
        let untouched = |why: &str| {
            self.finish(
                req,
                Response::allow(&req.uid),
                Outcome::Untouched,
                json!([]),
                why,
                started,
            )
        };
        if !matches!(req.operation.as_str(), "CREATE" | "UPDATE") {
            return untouched("operation not checked");
        }
        if req.operation == "UPDATE" && images::is_being_deleted(req.old_object.as_ref()) {
            return untouched("object is being deleted");
        }
        let Some(spec) = images::pod_spec_path(&req.kind) else {
            return untouched("kind not checked");
        };
        let positions = match req.object.as_ref().map(|o| images::positions(o, spec)) {
            None => Ok(Vec::new()),
            Some(p) => p,
        };
        let positions = match positions {
            Ok(p) => p,
            Err(e) => {
                let message = format!("trustpin cannot read the containers: {e}");
                return self.deny_or_warn(req, message, Failure::BadInput, json!([]), started);
            }
        };
        if positions.is_empty() {
            return untouched("no containers");
        }
        let checked = self.check_all(&positions, deadline).await;
        self.conclude(req, &positions, &checked, started)
    }

    /// Verify every distinct image at once; stop waiting at `deadline`.
    async fn check_all(&self, positions: &[Position], deadline: Instant) -> Vec<Checked> {
        let mut checked: Vec<Checked> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for p in positions {
            index.entry(p.image.as_str()).or_insert_with(|| {
                checked.push(Checked {
                    written: p.image.clone(),
                    parsed: None,
                    verdict: None,
                });
                checked.len() - 1
            });
        }
        let meter = Arc::new(Meter::batch(self.request_budget));
        let mut tasks = JoinSet::new();
        for (i, c) in checked.iter_mut().enumerate() {
            match reference::parse(&c.written) {
                Ok(image) => {
                    c.parsed = Some(image.clone());
                    let mut v = self.verifier.clone().verify(image, meter.clone());
                    // An image in the cache is decided on the first poll: no task, no wake-up,
                    // no wait behind every other connection's work in the run queue.
                    match poll_once(&mut v) {
                        Some(verdict) => c.verdict = Some(verdict),
                        None => {
                            tasks.spawn(async move { (i, v.await) });
                        }
                    }
                }
                Err(e) => {
                    c.verdict = Some(Verdict::Failed {
                        failure: Failure::BadInput,
                        kind: "reference",
                        message: e.to_string(),
                    })
                }
            }
        }
        let deadline = tokio::time::Instant::from_std(deadline);
        while let Ok(Some(done)) = tokio::time::timeout_at(deadline, tasks.join_next()).await {
            if let Ok((i, v)) = done {
                checked[i].verdict = Some(v);
            }
        }
        // Whatever is unfinished goes on in the cache's own tasks (and is kept for next time).
        tasks.abort_all();
        checked
    }

    fn conclude(
        &self,
        req: &Request,
        positions: &[Position],
        checked: &[Checked],
        started: Instant,
    ) -> Decision {
        let by_image: HashMap<&str, &Checked> =
            checked.iter().map(|c| (c.written.as_str(), c)).collect();
        let mut response = Response::allow(&req.uid);
        let mut failures: Vec<(Failure, String)> = Vec::new();
        for p in positions {
            let Some(c) = by_image.get(p.image.as_str()) else {
                continue;
            };
            if let (Some(Verdict::Trusted { digest, .. }), Some(image)) = (&c.verdict, &c.parsed) {
                // A reference that names a digest was verified as written: left alone.
                if image.digest.is_none() {
                    let tag = image.tag.as_deref().unwrap_or("latest");
                    let value = format!("{}:{tag}@{digest}", image.gun);
                    response.patch.push(images::replace(&p.pointer, &value));
                }
            }
        }
        let mut log_images = Vec::new();
        for c in checked {
            let mut entry = json!({"image": c.written});
            match &c.verdict {
                Some(Verdict::Trusted { digest, warnings }) => {
                    entry["digest"] = digest.to_string().into();
                    for w in warnings {
                        response
                            .warnings
                            .push(warning(&format!("{}: {w}", c.written)));
                    }
                }
                Some(Verdict::Skipped { policy }) => {
                    entry["skipped"] = policy.clone().into();
                    response.warnings.push(warning(&format!(
                        "{}: NOT VERIFIED: policy {policy:?} says skip",
                        c.written
                    )));
                }
                Some(Verdict::Failed {
                    failure,
                    kind,
                    message,
                }) => {
                    entry["error"] = json!({"kind": kind, "message": message});
                    failures.push((*failure, format!("image {}: {message}", c.written)));
                }
                None => {
                    entry["error"] = json!({"kind": "timeout", "message": "not verified in time"});
                }
            }
            log_images.push(entry);
        }
        let finished = checked.iter().filter(|c| c.verdict.is_some()).count();
        if finished < checked.len() {
            let mut message = format!(
                "timed out after verifying {finished} of {} images",
                checked.len()
            );
            for (_, f) in &failures {
                message.push_str("; ");
                message.push_str(f);
            }
            let mut d = self.deny_or_warn(
                req,
                message,
                Failure::Unavailable,
                log_images.into(),
                started,
            );
            if d.outcome == Outcome::Denied {
                d.outcome = Outcome::TimedOut;
                d.log["decision"] = Outcome::TimedOut.label().into();
            }
            return d;
        }
        if let Some((first, _)) = failures.first() {
            let message = failures
                .iter()
                .map(|(_, m)| m.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            let first = *first;
            if self.mode == Mode::Detect {
                for (_, m) in &failures {
                    response.warnings.push(warning(m));
                }
                return self.finish(
                    req,
                    response,
                    Outcome::Warned,
                    log_images.into(),
                    "detect",
                    started,
                );
            }
            return self.deny_or_warn(req, message, first, log_images.into(), started);
        }
        self.finish(
            req,
            response,
            Outcome::Allowed,
            log_images.into(),
            "verified",
            started,
        )
    }

    /// Deny with `message` (enforce), or allow with it as warnings (detect).
    fn deny_or_warn(
        &self,
        req: &Request,
        message: String,
        first: Failure,
        images: Value,
        started: Instant,
    ) -> Decision {
        if self.mode == Mode::Detect {
            let mut r = Response::allow(&req.uid);
            r.warnings = message.split("; ").map(warning).collect();
            return self.finish(req, r, Outcome::Warned, images, "detect", started);
        }
        let code = match first {
            Failure::BadInput => 400,
            Failure::Refused | Failure::Unavailable => 403,
        };
        let r = Response {
            uid: req.uid.clone(),
            allowed: false,
            status: Some((code, bounded(&message, MAX_MESSAGE))),
            patch: Vec::new(),
            warnings: Vec::new(),
        };
        self.finish(req, r, Outcome::Denied, images, "denied", started)
    }

    fn finish(
        &self,
        req: &Request,
        response: Response,
        outcome: Outcome,
        images: Value,
        reason: &str,
        started: Instant,
    ) -> Decision {
        let log = json!({
            "uid": req.uid,
            "namespace": req.namespace,
            "kind": req.kind.kind,
            "name": req.name,
            "sub_resource": req.sub_resource,
            "operation": req.operation,
            "dry_run": req.dry_run.unwrap_or(false),
            "images": images,
            "decision": outcome.label(),
            "reason": reason,
            "allowed": response.allowed,
            "patched": response.patch.len(),
            "message": response.status.as_ref().map(|(_, m)| m.clone()),
            "duration_ms": duration_ms(started.elapsed()),
        });
        Decision {
            response,
            outcome,
            log,
        }
    }
}

/// A denial message is cut here (it lists every image that failed, and an object can hold
/// thousands).
pub const MAX_MESSAGE: usize = 8192;

fn duration_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// A warning as the API server wants it: printable, at most [`MAX_WARNING`] characters.
pub fn warning(text: &str) -> String {
    let printable: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    bounded(&printable, MAX_WARNING)
}

/// `text`, or its first `max - 1` characters and `…`.
fn bounded(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(max - 1).collect();
    s.push('…');
    s
}

/// Poll `f` once, without a task to wake (the caller hands a pending future to a task, whose
/// own poll registers its waker).
fn poll_once<F: Future + Unpin>(f: &mut F) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::Pin::new(f).poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_printable_and_at_most_120_characters() {
        let long = format!("image x: {}\u{1b}[31m", "a".repeat(300));
        let w = warning(&long);
        assert_eq!(w.chars().count(), MAX_WARNING);
        assert!(w.ends_with('…'));
        assert!(!warning("a\nb\u{1b}").chars().any(char::is_control));
        assert_eq!(warning("short"), "short");
    }
}
