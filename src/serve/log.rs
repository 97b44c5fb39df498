//! One JSON line per decision on stdout (uid, namespace, kind, name, operation, every image with
//! its digest or error, the decision, the duration), and JSON lines for the server's own events.
//! Nothing from `userInfo`, headers or credentials is ever read into a line, so none can leak.

use std::io::Write as _;

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// Write one line (serde_json escapes every control character, so a line is one line).
pub fn line(mut v: Value) {
    v["time"] = now().into();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
}

/// A server event (listening, certificate reloaded, ...) with an optional error.
pub fn event(what: &str, error: Option<&str>) {
    let mut v = json!({"event": what});
    if let Some(e) = error {
        v["error"] = e.into();
    }
    line(v);
}
