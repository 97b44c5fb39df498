//! Every row of the expected-results table in ../shared/notation-data/README.md through the real
//! binary, from that folder in place:
//! `trustpin verify --oci-layout --scope local/e2e oci_layout/<layout><ref> --policy ... --trust-store ... [--at T]`.
//! Exit code, stdout digest and stderr key words as the table gives them (read in place by
//! [`common::notation_table`]; the stderr patterns' alternatives are matched case-insensitively),
//! all rows in one test that names every failing row.

mod common;

use common::notation_table::{check_rows, matches, policy_file, shared_table, V};
use common::oci_data::notation_data;
use common::{Cmd, Output};

/// Where this layer checks more narrowly than the table's pattern: each alternative as a plain
/// substring.
const NARROWER: [(&str, &str); 1] = [("S39", "no signature|not signed|unsigned")];

fn trustpin(args: &[String]) -> Output {
    Cmd::trustpin()
        .args(args)
        .current_dir(notation_data())
        .run()
}

fn reference(layout: &str, r: &str) -> String {
    let r = if r == "@V" {
        format!("@{V}")
    } else {
        r.to_string()
    };
    format!("oci_layout/{layout}{r}")
}

fn args(refs: &[(&str, &str)], policy: &str, store: &str, at: &str, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec!["verify".into(), "--oci-layout".into()];
    if !extra.contains(&"--no-scope") {
        a.extend(["--scope".into(), "local/e2e".into()]);
    }
    a.extend(refs.iter().map(|(l, r)| reference(l, r)));
    a.extend([
        "--policy".into(),
        format!("trustpolicies/{}", policy_file(policy)),
        "--trust-store".into(),
        format!("truststores/{store}"),
    ]);
    if !at.is_empty() {
        a.extend(["--at".into(), at.into()]);
    }
    a.extend(
        extra
            .iter()
            .filter(|e| **e != "--no-scope")
            .map(|e| e.to_string()),
    );
    a
}

/// The exit code; stdout naming `stdout` (or empty on failure when none is given); stderr
/// matching `stderr` when given.
fn check(out: &Output, code: i32, stdout: &str, stderr: &str) -> Result<(), String> {
    let mut wrong = Vec::new();
    if out.code != code {
        wrong.push(format!("exit {} (want {code})", out.code));
    }
    if !stdout.is_empty() {
        if !out.stdout.contains(stdout) {
            wrong.push(format!("stdout lacks {stdout}"));
        }
    } else if code != 0 && !out.stdout.trim().is_empty() {
        wrong.push("stdout is not empty".into());
    }
    if !stderr.is_empty() && !matches(stderr, &out.stderr) {
        wrong.push(format!("stderr lacks {stderr}"));
    }
    if wrong.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{}\nexit {}\nstdout:\n{}\nstderr:\n{}",
        wrong.join(", "),
        out.code,
        out.stdout,
        out.stderr
    ))
}

#[track_caller]
fn expect(out: &Output, code: i32, stdout: &str, stderr: &str) {
    if let Err(e) = check(out, code, stdout, stderr) {
        panic!("{e}");
    }
}

#[test]
fn every_shared_table_row_on_its_layout() {
    check_rows(&shared_table(), |row| {
        let out = trustpin(&args(
            &[(&row.layout, &row.tail)],
            &row.policy,
            &row.store,
            row.at.as_deref().unwrap_or(""),
            &[],
        ));
        check(
            &out,
            row.code,
            row.digest.unwrap_or(""),
            row.stderr_within(&NARROWER),
        )
    });
}

#[test]
fn s26_oci_layout_without_scope_is_bad_input() {
    expect(
        &trustpin(&args(
            &[("e2e-valid-signature", "@V")],
            "trustpolicy",
            "e2e",
            "",
            &["--no-scope"],
        )),
        2,
        "",
        "scope",
    );
}

/// S43-S46's references: e2e-valid-signature by tag and by digest.
const BOTH: [(&str, &str); 2] = [
    ("e2e-valid-signature", ":v1"),
    ("e2e-valid-signature", "@V"),
];

/// S43-S46: `refs` under the strict policy and the e2e store, with `extra` flags.
fn verify_e2e(refs: &[(&str, &str)], extra: &[&str]) -> Output {
    trustpin(&args(refs, "trustpolicy", "e2e", "", extra))
}

#[test]
fn s43_json_output_is_one_document_naming_the_digest() {
    let out = verify_e2e(&BOTH[..1], &["--output", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    assert_eq!(doc[0]["digest"], V);
    assert_eq!(
        doc[0]["signatures"][0]["checks"]["integrity"]["result"],
        "passed"
    );
}

#[test]
fn s44_jsonl_output_is_one_line_per_reference() {
    let out = verify_e2e(&BOTH, &["--output", "jsonl"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["digest"] == V));
}

#[test]
fn s45_text_output_is_one_line_per_reference() {
    let out = verify_e2e(&BOTH, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().filter(|l| l.contains(V)).collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
}

#[test]
fn s46_one_refused_reference_refuses_the_run() {
    let out = verify_e2e(&[BOTH[0], ("e2e-expired-signature", "@V")], &[]);
    expect(&out, 1, V, "expir");
}
