//! The AdmissionReview `admission.k8s.io/v1` wire format: the request the API server sends, the
//! response it accepts (checked there by `VerifyAdmissionResponse`: uid echoed, `apiVersion` and
//! `kind` set, `patchType` exactly when there is a patch), and the `?timeout=` it puts in the URL.
//! Only the fields a decision reads are typed; the object stays JSON.

use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const API_VERSION: &str = "admission.k8s.io/v1";
pub const KIND: &str = "AdmissionReview";

/// Why a body is not an AdmissionReview we can answer (a 400, not a denial: there is no uid to
/// answer to).
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("the body is not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("not an AdmissionReview {API_VERSION}: {0}")]
    Shape(String),
}

/// `{group, version, kind}` of the object.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GroupVersionKind {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
}

/// The part of `AdmissionRequest` a decision reads. `userInfo` is never read (nor logged).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub uid: String,
    #[serde(default)]
    pub kind: GroupVersionKind,
    pub sub_resource: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    #[serde(default)]
    pub operation: String,
    pub object: Option<Value>,
    pub old_object: Option<Value>,
    pub dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    api_version: Option<String>,
    kind: Option<String>,
    request: Option<Request>,
}

/// Parse a body: JSON (serde_json's own depth bound of 128 applies), `apiVersion`
/// `admission.k8s.io/v1`, `kind` AdmissionReview, a request with a uid.
pub fn parse(body: &[u8]) -> Result<Request, ReviewError> {
    // In one pass, straight into the typed envelope (fields not read are skipped, not built):
    // a JSON tree first, then the envelope from it, allocated every object twice.
    let env: Envelope = serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ReviewError::Shape(e.to_string()),
        _ => ReviewError::NotJson(e),
    })?;
    if env.api_version.as_deref() != Some(API_VERSION) || env.kind.as_deref() != Some(KIND) {
        return Err(ReviewError::Shape(format!(
            "apiVersion {:?} and kind {:?}",
            env.api_version.unwrap_or_default(),
            env.kind.unwrap_or_default()
        )));
    }
    let request = env
        .request
        .ok_or_else(|| ReviewError::Shape("no request".into()))?;
    if request.uid.is_empty() {
        return Err(ReviewError::Shape("request.uid is empty".into()));
    }
    Ok(request)
}

/// What we answer, before it is wrapped.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub uid: String,
    pub allowed: bool,
    /// `status.code` and `status.message` of a denial.
    pub status: Option<(u16, String)>,
    /// JSON Patch operations; sent only when not empty.
    pub patch: Vec<Value>,
    pub warnings: Vec<String>,
}

impl Response {
    pub fn allow(uid: &str) -> Response {
        Response {
            uid: uid.to_owned(),
            allowed: true,
            status: None,
            patch: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The whole AdmissionReview, as bytes: the patch base64 JSON with `patchType: JSONPatch`
    /// only when there is one.
    pub fn to_json(&self) -> Vec<u8> {
        let mut response = serde_json::json!({"uid": self.uid, "allowed": self.allowed});
        if let Some((code, message)) = &self.status {
            response["status"] = serde_json::json!({"code": code, "message": message});
        }
        if !self.patch.is_empty() {
            let bytes = serde_json::to_vec(&self.patch).unwrap_or_default();
            response["patchType"] = "JSONPatch".into();
            response["patch"] = base64::engine::general_purpose::STANDARD
                .encode(bytes)
                .into();
        }
        if !self.warnings.is_empty() {
            response["warnings"] = self.warnings.clone().into();
        }
        let review =
            serde_json::json!({"apiVersion": API_VERSION, "kind": KIND, "response": response});
        serde_json::to_vec(&review).unwrap_or_default()
    }
}

/// The API server's `?timeout=` (a Go duration, `10s`, `1m30s`, `500ms`), if the query has one
/// that parses.
pub fn timeout_of(query: Option<&str>) -> Option<Duration> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "timeout")
        .and_then(|(_, v)| go_duration(v))
}

/// A Go `time.Duration` string of non-negative units (`h`, `m`, `s`, `ms`, `us`, `µs`, `ns`).
pub fn go_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() || rest.len() > 64 {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * scale;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_as_the_api_server_writes_them() {
        assert_eq!(go_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(go_duration("2.5s"), Some(Duration::from_millis(2500)));
        assert_eq!(go_duration("10"), None);
        assert_eq!(go_duration("-1s"), None);
        assert_eq!(go_duration(""), None);
        assert_eq!(
            timeout_of(Some("x=1&timeout=30s")),
            Some(Duration::from_secs(30))
        );
        assert_eq!(timeout_of(None), None);
    }

    #[test]
    fn a_review_without_uid_or_of_another_version_is_refused() {
        let ok = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","operation":"CREATE"}}"#;
        assert_eq!(parse(ok).unwrap().uid, "u1");
        let beta = br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u1"}}"#;
        assert!(matches!(parse(beta), Err(ReviewError::Shape(_))));
        let no_uid = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":""}}"#;
        assert!(matches!(parse(no_uid), Err(ReviewError::Shape(_))));
        assert!(matches!(parse(b"{nope"), Err(ReviewError::NotJson(_))));
    }

    #[test]
    fn patch_type_is_sent_exactly_with_a_patch() {
        let mut r = Response::allow("u");
        let v: Value = serde_json::from_slice(&r.to_json()).unwrap();
        assert!(v["response"].get("patchType").is_none());
        assert!(v["response"].get("patch").is_none());
        r.patch = vec![serde_json::json!({"op": "replace", "path": "/a", "value": "b"})];
        let v: Value = serde_json::from_slice(&r.to_json()).unwrap();
        assert_eq!(v["response"]["patchType"], "JSONPatch");
        assert_eq!(v["apiVersion"], API_VERSION);
        assert_eq!(v["kind"], KIND);
    }
}
