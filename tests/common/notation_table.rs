//! The expected-results table of ../shared/notation-data/README.md, read in place: the one copy
//! of the Notation cases that every layer (library, CLI on layouts, CLI over a registry) runs,
//! and [`check_rows`], which runs a layer's check on every row and names all the rows that failed.

use super::oci_data::notation_data;

/// `V` of the table: the artifact that all but one layout sign.
pub const V: &str = "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9";
/// `TS` of the table: the artifact of the timestamped layout.
pub const TS: &str = "sha256:53b0191218aed9a3c1f7c661736ac40cfc8eb928642348fd843ba3f0483c0c20";

/// One row of the table, as written there.
#[derive(Debug)]
pub struct Row {
    pub id: String,
    /// The layout (and repository) name.
    pub layout: String,
    /// `@V` or `:<tag>`, as written.
    pub tail: String,
    /// The policy, named without `_trustpolicy.json`.
    pub policy: String,
    pub store: String,
    /// `--at`, if any.
    pub at: Option<String>,
    /// The exit code.
    pub code: i32,
    /// The digest stdout names ([`V`] or [`TS`]), if any.
    pub digest: Option<&'static str>,
    /// A case-insensitive extended regex of alternatives (only `|` and `.*` occur in it); empty
    /// when the row gives none.
    pub stderr: String,
}

impl Row {
    /// `@<digest>` for `@V`, else the tag as written (`:v1`).
    pub fn reference(&self) -> String {
        match self.tail.as_str() {
            "@V" => format!("@{V}"),
            t => t.to_string(),
        }
    }

    /// The row's stderr pattern, or the narrower one a layer has always checked for it.
    pub fn stderr_within<'a>(&'a self, narrower: &[(&str, &'a str)]) -> &'a str {
        narrower
            .iter()
            .find(|(id, _)| *id == self.id)
            .map_or(self.stderr.as_str(), |(_, p)| p)
    }

    fn describe(&self) -> String {
        let at = self
            .at
            .as_deref()
            .map(|t| format!(" at {t}"))
            .unwrap_or_default();
        format!(
            "{} ({}{}, {}, {}{at})",
            self.id, self.layout, self.tail, self.policy, self.store
        )
    }
}

/// The rows with one reference and no flags of their own: all but S26 (`--oci-layout` without
/// `--scope`) and S43-S46 (output shapes and batches, in words). Each layer tests those apart.
const LAYOUT_OR_PROSE_ROWS: [&str; 5] = ["S26", "S43", "S44", "S45", "S46"];

/// Every `| Snn | ... |` row of the README's table but [`LAYOUT_OR_PROSE_ROWS`].
pub fn shared_table() -> Vec<Row> {
    let readme = std::fs::read_to_string(notation_data().join("README.md")).unwrap();
    let rows: Vec<Row> = readme
        .lines()
        .filter(|l| l.starts_with("| S"))
        .map(|l| {
            // `\|` inside a cell is a `|` of the regex, not a cell border.
            let cells: Vec<String> = l
                .replace("\\|", "\u{1}")
                .split('|')
                .map(|c| c.trim().trim_matches('`').replace('\u{1}', "|"))
                .collect();
            let i = cells[2].find(['@', ':']).unwrap_or(cells[2].len());
            let (layout, tail) = cells[2].split_at(i);
            Row {
                id: cells[1].clone(),
                layout: layout.to_string(),
                tail: tail.to_string(),
                policy: cells[3].clone(),
                store: cells[4].clone(),
                at: Some(cells[5].clone()).filter(|t| !t.is_empty()),
                code: cells[6].parse().unwrap_or(-1),
                digest: match cells[7].as_str() {
                    "V" => Some(V),
                    "TS" => Some(TS),
                    _ => None,
                },
                stderr: cells[8].clone(),
            }
        })
        .filter(|r| !LAYOUT_OR_PROSE_ROWS.contains(&r.id.as_str()))
        .collect();
    assert_eq!(rows.len(), 41, "S01-S46 less the five layout or prose rows");
    rows
}

/// `trustpolicies/` file name of a policy as the table names it.
pub fn policy_file(name: &str) -> String {
    if name == "trustpolicy" {
        "trustpolicy.json".to_owned()
    } else {
        format!("{name}_trustpolicy.json")
    }
}

/// `pattern` (alternatives `|`, each maybe with `.*`) found in `text`, case-insensitively.
pub fn matches(pattern: &str, text: &str) -> bool {
    let text = text.to_lowercase();
    pattern.to_lowercase().split('|').any(|alt| {
        let mut rest = text.as_str();
        alt.split(".*").all(|part| match rest.find(part) {
            Some(i) => {
                rest = &rest[i + part.len()..];
                true
            }
            None => false,
        })
    })
}

/// `check` on every row; fails naming each row whose check failed, with what it said.
#[track_caller]
pub fn check_rows(rows: &[Row], mut check: impl FnMut(&Row) -> Result<(), String>) {
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|row| check(row).err().map(|e| format!("{}: {e}", row.describe())))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n\n")
    );
}
