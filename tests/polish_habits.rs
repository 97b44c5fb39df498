//! Issue 15, "Habits of a good CLI": completions, a manual page, `-o`, `-q/--quiet`, the
//! standalone get-root-key's own name and version, and resolve's help ending with examples and
//! the exit codes. Offline (testdata/ and the shared Docker Hub data).

mod common;
use common::{Cmd, Output};

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
const IMAGE: &str = "example.com/trustpin/delegated:v1";

fn trustpin(args: &[&str]) -> Output {
    Cmd::trustpin().args(args).run()
}

/// The time testdata/ was generated (its README's `Generated: **...**` line).
fn generated() -> String {
    let readme = std::fs::read_to_string(format!("{TESTDATA}/README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.contains("Generated: **"))
        .expect("a Generated: line");
    line.split("**").nth(1).unwrap().to_owned()
}

#[test]
fn completions_for_each_shell_and_a_manual_page() {
    for (shell, marker) in [
        ("bash", "complete -F _trustpin"),
        ("zsh", "#compdef trustpin"),
        ("fish", "complete -c trustpin"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = trustpin(&["completions", shell]);
        out.expect_code(0, shell);
        assert!(
            out.stdout.contains(marker) && out.stdout.contains("get-root-key"),
            "{shell}: {}",
            out.describe()
        );
    }
    trustpin(&["completions", "tcsh"]).expect_code(2, "unknown shell");
    let man = trustpin(&["man"]);
    man.expect_code(0, "man");
    assert!(
        man.stdout.contains(".TH trustpin 1") && man.stdout.contains("resolve"),
        "{}",
        man.describe()
    );
    let page = trustpin(&["man", "resolve"]);
    assert!(
        page.stdout.contains(".TH trustpin-resolve 1") && page.stdout.contains("metadata\\-dir"),
        "{}",
        page.describe()
    );
    trustpin(&["man", "nope"])
        .expect_code(2, "man nope")
        .expect_stderr(&["no subcommand \"nope\""], "");
}

#[test]
fn short_output_flag_and_its_help() {
    let at = generated();
    let out = common::resolve_testdata(&at, &["-o", "json", IMAGE]);
    out.expect_code(0, "-o json");
    assert_eq!(out.json_array()[0]["verification"], "verified");
    for sub in ["resolve", "inspect", "get-root-key", "verify"] {
        let help = trustpin(&[sub, "--help"]).ok();
        let line = help
            .lines()
            .find(|l| l.contains("-o, --output"))
            .unwrap_or_else(|| panic!("{sub}: no -o, --output in\n{help}"));
        let rest = &help[help.find(line).unwrap()..];
        let section: String = rest.lines().take(8).collect::<Vec<_>>().join("\n");
        assert!(
            section.contains("json") && section.contains("jsonl"),
            "{sub}: values not listed:\n{section}"
        );
        assert!(
            section.contains("default: text") || section.contains("text (default)"),
            "{sub}: no default:\n{section}"
        );
    }
}

#[test]
fn quiet_silences_notes_but_not_warnings() {
    let at = generated();
    let args = ["--level", "permissive", IMAGE];
    let loud = common::resolve_testdata(&at, &args);
    loud.expect_code(0, "loud").expect_stderr(
        &["note: verifying as of", "warning: level permissive"],
        "loud",
    );
    for q in ["-q", "--quiet"] {
        let out = common::resolve_testdata(&at, &[&args[..], &[q]].concat());
        out.expect_code(0, q)
            .expect_stderr(&["warning: level permissive"], q)
            .expect_stderr_lacks(&["note:"], q);
        assert_eq!(out.stdout, loud.stdout);
    }
    // After the subcommand too, and for get-root-key's trust-on-first-use reminder.
    let data = common::shared_trust_data();
    let grk = [
        "-i",
        "docker.io/phbelitz/sample-image",
        "--metadata-dir",
        data,
    ];
    for (what, out) in common::both_get_root_key(&[&grk[..], &["-q"]].concat()) {
        out.expect_code(0, what)
            .expect_stderr_lacks(&["note:", "second channel"], what);
        assert!(
            out.stdout.starts_with("KeyID: "),
            "{what}: {}",
            out.describe()
        );
    }
}

#[test]
fn get_root_key_binary_has_its_own_name_and_version_and_resolve_help_ends_with_exit_codes() {
    let v = common::get_root_key(&["--version"]);
    v.expect_code(0, "--version");
    assert_eq!(
        v.stdout.trim(),
        format!("get-root-key {}", env!("CARGO_PKG_VERSION"))
    );
    let usage = common::get_root_key(&[] as &[&str]);
    usage
        .expect_code(2, "no -i")
        .expect_stderr(&["Usage: get-root-key "], "usage line");
    usage.expect_stderr_lacks(&["trustpin get-root-key"], "usage line");
    let help = trustpin(&["resolve", "--help"]).ok();
    let tail = &help[help.find("Examples:").expect("examples")..];
    for words in [
        "trustpin resolve --root-key",
        "Exit codes:",
        "0  every image resolved",
        "1  verification refused",
        "2  usage or input error",
        "3  could not check",
    ] {
        assert!(
            tail.contains(words),
            "{words:?} not at the end of resolve --help:\n{help}"
        );
    }
}

#[test]
fn the_readme_first_command_names_the_time_testdata_was_generated() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let want = format!("--at {} example.com/trustpin/delegated:v1", generated());
    assert!(
        readme.contains(&want),
        "README.md's first command lacks {want:?} (testdata/ was regenerated?)"
    );
    assert!(
        !readme.contains("sed -n 's/.*Generated"),
        "the first command still runs sed"
    );
    let license = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/LICENSE")).unwrap();
    assert!(license.contains("Apache License") && license.contains("Version 2.0, January 2004"));
}

/// README: in text mode a refused image has no stdout line (stdout holds only trusted digests);
/// `--output jsonl` gives exactly one line per input, in input order here (one repository).
#[test]
fn text_mode_prints_only_trusted_digests_and_jsonl_one_line_per_input() {
    let at = generated();
    let nope = "example.com/trustpin/delegated:nope";
    let run = |extra: &[&str]| {
        let mut rest = vec![IMAGE, nope, IMAGE];
        rest.extend_from_slice(extra);
        common::resolve_testdata(&at, &rest)
    };
    let out = run(&[]);
    out.expect_code(1, "one of three refused");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.describe());
    assert!(lines
        .iter()
        .all(|l| l.starts_with("example.com/trustpin/delegated@sha256:")));
    out.expect_stderr(&[nope], "the refusal is on stderr");

    let out = run(&["-o", "jsonl"]);
    out.expect_code(1, "jsonl");
    let rows: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let inputs: Vec<&str> = rows.iter().map(|r| r["input"].as_str().unwrap()).collect();
    assert_eq!(inputs, [IMAGE, nope, IMAGE], "{}", out.describe());
    assert_eq!(rows[1]["verification"], "refused", "{}", out.describe());
}

/// `-v` on a folder: each file read with its size and time, a missing one with why, and the
/// time spent verifying; with `-q` the note about `--at` goes and the verbose lines stay.
#[test]
fn verbose_shows_each_file_read_and_the_verification_time_and_composes_with_quiet() {
    let at = generated();
    let tuf = format!("{TESTDATA}/example.com/trustpin/delegated/_trust/tuf");
    let plain = common::resolve_testdata(&at, &[IMAGE]);
    plain.expect_code(0, "without -v");
    assert!(!plain.stderr.contains("verbose:"), "{}", plain.describe());
    for flags in [&["-v"][..], &["-v", "-q"], &["--verbose", "--quiet"]] {
        let mut rest = vec![IMAGE];
        rest.extend_from_slice(flags);
        let out = common::resolve_testdata(&at, &rest);
        out.expect_code(0, &format!("{flags:?}"));
        assert_eq!(out.stdout, plain.stdout, "-v changes nothing on stdout");
        for role in [
            "root",
            "timestamp",
            "snapshot",
            "targets",
            "targets/releases",
        ] {
            let file = format!("{tuf}/{role}.json");
            let size = std::fs::metadata(&file).unwrap().len();
            let want = format!("verbose: read {file} {size} bytes ");
            assert!(
                out.stderr
                    .lines()
                    .any(|l| l.starts_with(&want) && l.ends_with(" ms")),
                "{flags:?}: no {want:?}: {}",
                out.describe()
            );
        }
        let verified = "verbose: verified example.com/trustpin/delegated in ";
        assert!(out.stderr.contains(verified), "{}", out.describe());
        let quiet = flags.iter().any(|f| f.ends_with('q') || *f == "--quiet");
        assert_eq!(
            out.stderr.contains("note:"),
            !quiet,
            "{flags:?}: {}",
            out.describe()
        );
    }
}
