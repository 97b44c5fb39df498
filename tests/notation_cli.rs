//! Every row of the expected-results table in ../shared/notation-data/README.md through the real
//! binary, from that folder in place:
//! `trustpin verify --oci-layout --scope local/e2e oci_layout/<layout><ref> --policy ... --trust-store ... [--at T]`.
//! Exit code, stdout digest and stderr key words as the table gives them (the stderr patterns'
//! alternatives are matched case-insensitively, each as a plain substring).

mod common;

use common::oci_data::notation_data;
use common::{Cmd, Output};

const V: &str = "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9";
const TS: &str = "sha256:53b0191218aed9a3c1f7c661736ac40cfc8eb928642348fd843ba3f0483c0c20";

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
    let file = if policy == "trustpolicy" {
        "trustpolicy.json".to_string()
    } else {
        format!("{policy}_trustpolicy.json")
    };
    let mut a: Vec<String> = vec!["verify".into(), "--oci-layout".into()];
    if !extra.contains(&"--no-scope") {
        a.extend(["--scope".into(), "local/e2e".into()]);
    }
    a.extend(refs.iter().map(|(l, r)| reference(l, r)));
    a.extend([
        "--policy".into(),
        format!("trustpolicies/{file}"),
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

#[track_caller]
fn check(out: Output, code: i32, stdout: &str, stderr: &str) {
    let all = format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        out.code, out.stdout, out.stderr
    );
    assert_eq!(out.code, code, "{all}");
    if !stdout.is_empty() {
        assert!(out.stdout.contains(stdout), "stdout lacks {stdout}: {all}");
    } else if code != 0 {
        assert!(out.stdout.trim().is_empty(), "{all}");
    }
    if !stderr.is_empty() {
        let e = out.stderr.to_lowercase();
        assert!(
            stderr.split('|').any(|w| e.contains(&w.to_lowercase())),
            "stderr lacks {stderr}: {all}"
        );
    }
}

macro_rules! rows {
    ($($id:ident: $layout:literal $r:literal, $policy:literal, $store:literal, $at:literal => $code:literal, $out:expr, $err:literal;)*) => {
        $(#[test] fn $id() { check(trustpin(&args(&[($layout, $r)], $policy, $store, $at, &[])), $code, $out, $err); })*
    };
}

rows! {
    s01: "e2e-expired-signature" "@V", "trustpolicy", "e2e", "" => 1, "", "expir";
    s02: "e2e-with-expired-cert" "@V", "trustpolicy", "expired", "" => 1, "", "timestamp";
    s03: "e2e-valid-signature" "@V", "trustpolicy", "new", "" => 1, "", "authenticity|trusted certificate";
    s04: "e2e-invalid-signature" "@V", "trustpolicy", "e2e", "" => 1, "", "integrity";
    s05: "e2e-expired-signature" "@V", "permissive", "e2e", "" => 0, V, "expir";
    s06: "e2e-with-expired-cert" "@V", "permissive", "expired", "" => 0, V, "timestamp";
    s07: "e2e-valid-signature" "@V", "permissive", "new", "" => 1, "", "authenticity|trusted certificate";
    s08: "e2e-invalid-signature" "@V", "permissive", "e2e", "" => 1, "", "integrity";
    s09: "e2e-expired-signature" "@V", "audit", "e2e", "" => 0, V, "expir";
    s10: "e2e-with-expired-cert" "@V", "audit", "expired", "" => 0, V, "timestamp";
    s11: "e2e-valid-signature" "@V", "audit", "new", "" => 0, V, "authenticity|trusted certificate";
    s12: "e2e-invalid-signature" "@V", "audit", "e2e", "" => 1, "", "integrity";
    s13: "e2e-invalid-signature" "@V", "skip", "e2e", "" => 0, "", "skip|not verified";
    s14: "e2e-expired-signature" "@V", "override_strict", "e2e", "" => 0, V, "expir";
    s15: "e2e-with-expired-cert" "@V", "override_strict", "expired", "" => 0, V, "timestamp";
    s16: "e2e-valid-signature" "@V", "override_strict", "new", "" => 0, V, "authenticity|trusted certificate";
    s17: "e2e-expired-signature" "@V", "override_permissive", "e2e", "" => 1, "", "expir";
    s18: "e2e-with-expired-cert" "@V", "override_permissive", "expired", "" => 1, "", "timestamp";
    s19: "e2e-valid-signature" "@V", "override_permissive", "new", "" => 0, V, "authenticity|trusted certificate";
    s20: "e2e-valid-signature" "@V", "override_integrity_for_permissive", "new", "" => 2, "", "integrity";
    s21: "e2e-expired-signature" "@V", "override_audit", "e2e", "" => 1, "", "expir";
    s22: "e2e-with-expired-cert" "@V", "override_audit", "expired", "" => 1, "", "timestamp";
    s23: "e2e-valid-signature" "@V", "override_audit", "new", "" => 1, "", "authenticity|trusted certificate";
    s24: "e2e-valid-signature" "@V", "trustpolicy", "e2e", "" => 0, V, "";
    s25: "e2e-valid-signature" ":v1", "trustpolicy", "e2e", "" => 0, V, "";
    s27: "e2e-with-timestamped-signature" ":v1", "trustpolicy", "testcert7", "2025-01-21T10:00:00Z" => 0, TS, "";
    s28: "e2e-with-timestamped-signature" ":v1", "timestamp", "testcert7-tsa", "2025-01-21T10:00:00Z" => 1, "", "timestamp";
    s29: "e2e-with-timestamped-signature" ":v1", "timestamp_after_cert_expiry", "testcert7-tsa", "2025-01-21T10:00:00Z" => 0, TS, "";
    s30: "e2e-with-timestamped-signature" ":v1", "trustpolicy", "testcert7", "" => 1, "", "expir";
    s31: "e2e-with-timestamped-signature" ":v1", "permissive", "testcert7", "" => 0, TS, "expir";
    s32: "e2e-expired-signature" "@V", "trustpolicy", "e2e", "2023-06-27T05:21:00Z" => 0, V, "";
    s33: "e2e-expired-signature" "@V", "trustpolicy", "e2e", "2023-06-27T05:22:00Z" => 1, "", "expir";
    s34: "e2e-with-expired-cert" "@V", "trustpolicy", "expired", "2023-06-27T06:09:00Z" => 0, V, "";
    s35: "e2e-with-expired-cert" "@V", "trustpolicy", "expired", "2023-06-27T06:11:00Z" => 1, "", "timestamp";
    s36: "e2e-valid-signature" "@V", "trustpolicy", "e2e", "2022-12-01T00:00:00Z" => 1, "", "timestamp";
    s37: "e2e-valid-signature" "@V", "timestamp", "timestamp", "" => 1, "", "timestamp";
    s38: "e2e-valid-signature" "@V", "timestamp_after_cert_expiry", "timestamp", "" => 0, V, "";
    s39: "e2e" ":v1", "trustpolicy", "e2e", "" => 1, "", "no signature|not signed|unsigned";
    s40: "e2e" ":v1", "skip", "e2e", "" => 0, "", "skip|not verified";
    s41: "e2e-valid-signature" ":v2", "trustpolicy", "e2e", "" => 1, "", "v2|not found|unknown|no such";
    s42: "e2e-valid-signature" "@V", "invalid_format", "e2e", "" => 2, "", "polic|json";
}

#[test]
fn s26_oci_layout_without_scope_is_bad_input() {
    check(
        trustpin(&args(
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

#[test]
fn s43_json_output_is_one_document_naming_the_digest() {
    let out = trustpin(&args(
        &[("e2e-valid-signature", ":v1")],
        "trustpolicy",
        "e2e",
        "",
        &["--output", "json"],
    ));
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
    let out = trustpin(&args(
        &[
            ("e2e-valid-signature", ":v1"),
            ("e2e-valid-signature", "@V"),
        ],
        "trustpolicy",
        "e2e",
        "",
        &["--output", "jsonl"],
    ));
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
    let out = trustpin(&args(
        &[
            ("e2e-valid-signature", ":v1"),
            ("e2e-valid-signature", "@V"),
        ],
        "trustpolicy",
        "e2e",
        "",
        &[],
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().filter(|l| l.contains(V)).collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
}

#[test]
fn s46_one_refused_reference_refuses_the_run() {
    let out = trustpin(&args(
        &[
            ("e2e-valid-signature", ":v1"),
            ("e2e-expired-signature", "@V"),
        ],
        "trustpolicy",
        "e2e",
        "",
        &[],
    ));
    check(out, 1, V, "expir");
}
