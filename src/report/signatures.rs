//! `inspect --signatures`: every signature found for an image, of both generations, one row
//! each: its tool, whether it is trusted, and its author (the signing certificate's subject for
//! Notation; the signer, its role and key IDs for Notary v1). JSON keeps zot's field names
//! (`Tool`, `IsTrusted`, `Author`). Built from verified data and verification reports only.

use serde_json::{json, Value};

use super::inspect::{Report, REPO_ADMIN};
use crate::notation::verify::SignatureReport;
use crate::reference::Digest;

/// One signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// `notation` or `notary-v1`.
    pub tool: &'static str,
    pub trusted: bool,
    pub author: String,
    /// The digest it signs.
    pub digest: Digest,
    /// The Notation signature manifest's digest; the role for Notary v1.
    pub signature: String,
    /// Why it is not trusted, when known.
    pub reason: Option<String>,
}

impl Row {
    pub fn to_json(&self) -> Value {
        json!({
            "Tool": self.tool,
            "IsTrusted": self.trusted,
            "Author": self.author,
            "digest": self.digest.to_string(),
            "signature": self.signature,
            "reason": self.reason,
        })
    }
}

/// The Notary v1 signatures of `tag` in a verified repository's report: one row per role that
/// signed it (every digest it was signed with); trusted when the role is one of `counted`, those
/// whose signature stands for the answer `resolve` gives.
pub fn notary_v1_rows(report: &Report, tag: &str, counted: &[String]) -> Vec<Row> {
    let mut rows = Vec::new();
    let all = report.signed_tags.iter().chain(&report.other_signed_tags);
    for signed in all.filter(|s| s.tag == tag) {
        for role in &signed.roles {
            let (name, keys) = if role == "targets" {
                (REPO_ADMIN.to_owned(), report.repository.key_ids.clone())
            } else {
                let signer = report.signers.iter().find(|s| &s.role == role);
                (
                    signer.map_or_else(|| role.clone(), |s| s.name.clone()),
                    signer.map(|s| s.key_ids.clone()).unwrap_or_default(),
                )
            };
            let trusted = counted.contains(role);
            rows.push(Row {
                tool: "notary-v1",
                trusted,
                author: format!("{name} ({role}), keys {}", keys.join(", ")),
                digest: signed.digest,
                signature: role.clone(),
                reason: (!trusted).then(|| {
                    "verified, but not the signature resolve takes for this tag".to_owned()
                }),
            });
        }
    }
    rows
}

/// A Notation signature of `artifact` as its verification reported it.
pub fn notation_row(report: &SignatureReport, artifact: Digest) -> Row {
    Row {
        tool: "notation",
        trusted: report.passed(),
        author: report.signer().unwrap_or_default().to_owned(),
        digest: artifact,
        signature: report.manifest_digest.to_string(),
        reason: report
            .failure
            .as_ref()
            .map(|(check, e)| format!("{} check failed: {e}", check.name())),
    }
}
