//! Issue 14, "One policy for both generations": trustpin's own policy file with Notation
//! statements (`trustStores` + `trustedIdentities`), Notary v1 statements (`trustRoots`) and
//! statements with both, through `resolve`, batches, `pin` and `policy check`.
//!
//! Real parts: Debian's docker-registry (distribution 2.8.2) holding the shared layouts that the
//! real notation CLI signed (../shared/notation-data, pushed with their signatures through the
//! referrers tag schema, [`common::registry`]), and a real notary-server with repositories named
//! after the registry's repositories, published by the real `notary` client: its signed target is
//! the very manifest the Notation signature covers (same digest and size), or another one for the
//! disagreement case.

mod common;

use std::path::{Path, PathBuf};

use common::notary::NotaryServer;
use common::oci_data::{e2e_statement, layout_path, truststore as store, ARTIFACT_SIZE};
use common::registry::Registry;
use common::{Cmd, Output};
use serde_json::{json, Value};

/// The artifact every shared layout but one signs (`v1`).
const V: &str = "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9";
/// The signing certificate's subject of e2e-valid-signature, as Go prints it.
const E2E_SUBJECT: &str = "CN=e2e,O=Notary,L=Seattle,ST=WA,C=US";

/// A registry with: notation/signed (valid signature), notation/expired (expired signature),
/// notation/unsigned (no signature), and the same three under both/.
fn registry() -> Registry {
    let reg = Registry::start();
    for prefix in ["notation", "both"] {
        reg.push_layout(
            &format!("{prefix}/signed"),
            &layout_path("e2e-valid-signature"),
        );
        reg.push_layout(
            &format!("{prefix}/expired"),
            &layout_path("e2e-expired-signature"),
        );
        reg.push_layout(&format!("{prefix}/unsigned"), &layout_path("e2e"));
    }
    reg
}

fn write_policy(dir: &Path, name: &str, statements: Vec<Value>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&json!({"version": "1.0", "trustPolicies": statements}))
            .unwrap(),
    )
    .unwrap();
    path
}

fn trustpin(args: &[&str]) -> Output {
    Cmd::trustpin()
        .no_credentials()
        .private_home()
        .args(args)
        .run()
}

/// `trustpin COMMAND [FILE] --no-cache --insecure-registry --policy POLICY EXTRA...`
fn with_policy(command: &str, file: Option<&Path>, policy: &Path, extra: &[&str]) -> Output {
    let mut args = vec![command];
    args.extend(file.map(|f| f.to_str().unwrap()));
    args.extend(["--no-cache", "--insecure-registry", "--policy"]);
    args.push(policy.to_str().unwrap());
    args.extend(extra);
    trustpin(&args)
}

fn pin(file: &Path, policy: &Path, extra: &[&str]) -> Output {
    with_policy("pin", Some(file), policy, extra)
}

fn resolve(policy: &Path, extra: &[&str]) -> Output {
    with_policy("resolve", None, policy, extra)
}

/// `policy.json` in `dir`: one Notation statement for `{host}/notation/*`.
fn notation_policy(dir: &Path, host: &str) -> PathBuf {
    let statement = e2e_statement("notation", &[format!("{host}/notation/*")]);
    write_policy(dir, "policy.json", vec![statement])
}

#[test]
fn notation_statements_resolve_tags_and_digests_in_batches_and_pin() {
    let reg = registry();
    let host = reg.host();
    let dir = common::temp_dir("trustpin-unified-");
    let policy = notation_policy(dir.path(), &host);
    let signed = format!("{host}/notation/signed:v1");
    let pinned = format!("{host}/notation/signed@{V}");

    // A tag resolves to the digest whose signature verifies; a digest verifies as given.
    let out = resolve(&policy, &[&signed]);
    out.expect_code(0, "a Notation-signed tag");
    out.expect_lines(&[&pinned], "the verified digest");
    let out = resolve(&policy, &[&pinned]);
    out.expect_code(0, "a Notation-signed digest");
    out.expect_lines(&[&pinned], "the digest as given");

    // JSON: the same shape as Notary v1 answers, plus which generation verified and the signature.
    let out = resolve(&policy, &["-o", "json", &signed]);
    out.expect_code(0, "json");
    let v = &out.json_array()[0];
    assert_eq!(v["digest"], V, "{v}");
    assert_eq!(v["reference"], pinned.as_str(), "{v}");
    assert_eq!(v["length"], ARTIFACT_SIZE, "{v}");
    assert_eq!(v["verification"], "verified", "{v}");
    assert_eq!(v["generation"], json!(["notation"]), "{v}");
    assert_eq!(v["policy"], "notation", "{v}");
    assert_eq!(v["signers"], json!([E2E_SUBJECT]), "{v}");
    assert_eq!(v["exit_code"], 0, "{v}");
    let sig = &v["notation"]["signatures"][0];
    assert_eq!(sig["signer"], E2E_SUBJECT, "{v}");
    assert_eq!(sig["checks"]["authenticity"]["result"], "passed", "{v}");

    // Refusals in Notation's words, exit 1; a mixed batch has per-reference answers and the worst
    // code; the same reference twice is one verification with two answers.
    let expired = format!("{host}/notation/expired:v1");
    let unsigned = format!("{host}/notation/unsigned:v1");
    let missing = format!("{host}/notation/signed:v2");
    let out = resolve(
        &policy,
        &[
            "-o", "jsonl", &signed, &expired, &unsigned, &missing, &signed,
        ],
    );
    out.expect_code(1, "a batch with refusals");
    let lines = out.json_lines();
    assert_eq!(lines.len(), 5, "{}", out.describe());
    let by_input =
        |input: &str| -> Vec<&Value> { lines.iter().filter(|l| l["input"] == input).collect() };
    assert_eq!(by_input(&signed).len(), 2);
    for l in by_input(&signed) {
        assert_eq!(l["digest"], V, "{l}");
    }
    let e = &by_input(&expired)[0];
    assert_eq!(e["verification"], "refused", "{e}");
    assert_eq!(e["error"]["kind"], "expired", "{e}");
    assert!(
        common::error_message(e).contains("expiry check failed"),
        "{e}"
    );
    let u = &by_input(&unsigned)[0];
    assert_eq!(u["error"]["kind"], "not-signed", "{u}");
    assert!(
        common::error_message(u).contains("no signature is associated"),
        "{u}"
    );
    let m = &by_input(&missing)[0];
    assert_eq!(m["exit_code"], 1, "a tag that is not there is refused: {m}");

    // A registry that does not answer: could not check, exit 3.
    let dead_host = format!("127.0.0.1:{}", common::notary::free_port());
    let dead = format!("{dead_host}/notation/signed:v1");
    let dead_policy = write_policy(
        dir.path(),
        "dead.json",
        vec![e2e_statement("dead", &[format!("{dead_host}/notation/*")])],
    );
    resolve(&dead_policy, &["--timeout", "5", &dead]).expect_code(3, "registry down");

    // Plain http is refused unless asked for: without --insecure-registry, https is spoken to the
    // plain registry, which fails (could not check).
    let out = trustpin(&[
        "resolve",
        "--no-cache",
        "--policy",
        policy.to_str().unwrap(),
        &signed,
    ]);
    out.expect_code(3, "https to a plain-http registry");

    // pin rewrites a Notation-signed reference, leaves others.
    let manifest = dir.path().join("deploy.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: app\n    image: {signed}\n  - name: side\n    image: \"{pinned}\"\n"
        ),
    )
    .unwrap();
    let out = pin(&manifest, &policy, &["--write"]);
    out.expect_code(0, "pin");
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(
        text.contains(&format!("image: {host}/notation/signed:v1@{V}\n")),
        "{text}"
    );
    assert!(text.contains(&format!("image: \"{pinned}\"")), "{text}");
}

/// Statements with both generations: `{host}/both/{signed,unsigned,other,expired}` under one
/// statement (Notary v1 root `key` on `notary_url`, Notation's e2e store), `require` as given;
/// `{host}/v1only/*` Notary v1 alone; `{host}/notation/*` Notation alone.
fn mixed_policy(
    dir: &Path,
    file: &str,
    host: &str,
    key: &Path,
    notary_url: &str,
    require: Option<&str>,
) -> PathBuf {
    let scopes: Vec<String> = ["signed", "unsigned", "other", "expired"]
        .iter()
        .map(|r| format!("{host}/both/{r}"))
        .collect();
    let mut both = e2e_statement("both", &scopes);
    both["trustRoots"] = json!([key.to_str().unwrap()]);
    both["server"] = json!({"url": notary_url});
    if let Some(r) = require {
        both["require"] = json!(r);
    }
    write_policy(
        dir,
        file,
        vec![
            both,
            json!({
                "name": "v1only",
                "registryScopes": [format!("{host}/v1only/*")],
                "signatureVerification": {"level": "strict"},
                "trustRoots": [key.to_str().unwrap()],
                "server": {"url": notary_url},
            }),
            e2e_statement("notation", &[format!("{host}/notation/*")]),
        ],
    )
}

#[test]
fn both_generations_required_or_either_and_a_mixed_batch() {
    if !common::notary::require_live() {
        return;
    }
    let reg = registry();
    reg.push_layout("both/other", &layout_path("e2e-valid-signature"));
    let host = reg.host();
    let server = NotaryServer::start();
    let client = server.client();
    let v_hex = V.trim_start_matches("sha256:");
    // The Notary v1 signatures: the Notation-signed manifest itself for signed and unsigned,
    // another manifest for other, nothing for expired; v1only/app is Notary v1 alone.
    for (repo, hex, size) in [
        ("both/signed", v_hex.to_owned(), ARTIFACT_SIZE),
        ("both/unsigned", v_hex.to_owned(), ARTIFACT_SIZE),
        ("both/other", common::sha256_hex(b"another manifest"), 16),
        ("v1only/app", common::sha256_hex(b"v1 only"), 7),
    ] {
        let gun = format!("{host}/{repo}");
        client.init(&gun);
        client.add_hash(&gun, "v1", size, &hex);
        client.publish(&gun);
    }
    let key = client.write_root_key(&format!("{host}/both/signed"), "root.pub");
    for repo in ["both/unsigned", "both/other", "v1only/app"] {
        assert_eq!(
            client.root_public_key_pem(&format!("{host}/{repo}")),
            std::fs::read_to_string(&key).unwrap(),
            "one root key for every repository of the client"
        );
    }
    let dir = common::temp_dir("trustpin-unified-both-");
    let all = mixed_policy(dir.path(), "all.json", &host, &key, &server.url(), None);
    let any = mixed_policy(
        dir.path(),
        "any.json",
        &host,
        &key,
        &server.url(),
        Some("any"),
    );
    let r = |repo: &str| format!("{host}/{repo}:v1");
    let json_of = |policy: &Path, reference: &str| -> (Output, Value) {
        let out = resolve(policy, &["-o", "json", reference]);
        let v = out.json_array()[0].clone();
        (out, v)
    };

    // Both signatures there and agreeing: verified by both, said in text and JSON.
    for policy in [&all, &any] {
        let out = resolve(policy, &[&r("both/signed")]);
        out.expect_code(0, "both generations verify");
        out.expect_lines(&[format!("{host}/both/signed@{V}")], "the one digest");
        out.expect_stderr(
            &["verified by Notary v1 and Notation signatures"],
            "the note",
        );
        let (_, v) = json_of(policy, &r("both/signed"));
        assert_eq!(v["generation"], json!(["notary-v1", "notation"]), "{v}");
        assert_eq!(v["decided_by"], json!(["targets"]), "{v}");
    }

    // No Notation signature: refused when both are required, Notary v1 alone with require any.
    let (out, v) = json_of(&all, &r("both/unsigned"));
    out.expect_code(1, "both required, Notation missing");
    assert_eq!(v["error"]["kind"], "not-signed", "{v}");
    assert!(
        common::error_message(&v).starts_with("Notation: no signature is associated"),
        "{v}"
    );
    let (out, v) = json_of(&any, &r("both/unsigned"));
    out.expect_code(0, "require any: Notary v1 verified");
    assert_eq!(v["generation"], json!(["notary-v1"]), "{v}");
    assert_eq!(v["digest"], V, "{v}");
    resolve(&any, &[&r("both/unsigned")])
        .expect_code(0, "text")
        .expect_stderr(&["verified by its Notary v1 signature only"], "the note");

    // Both verify but name different digests: refused either way.
    for policy in [&all, &any] {
        let (out, v) = json_of(policy, &r("both/other"));
        out.expect_code(1, "the generations disagree");
        assert_eq!(v["error"]["kind"], "generations-disagree", "{v}");
        assert!(common::error_message(&v).contains(V), "{v}");
    }

    // Neither verifies (no Notary v1 data, an expired Notation signature).
    let (out, v) = json_of(&any, &r("both/expired"));
    out.expect_code(1, "neither verifies");
    assert_eq!(v["error"]["kind"], "none-verified", "{v}");
    let message = common::error_message(&v);
    assert!(
        message.contains("Notary v1: no trust data") && message.contains("expiry check failed"),
        "{v}"
    );

    // A statement of one generation needs no note.
    resolve(&any, &[&r("notation/signed")])
        .expect_code(0, "Notation only")
        .expect_stderr_lacks(&["verified by"], "no note");

    // One mixed batch: Notary v1 alone, Notation alone, both, and refusals, in input order,
    // the worst code; equal to each resolved alone.
    let inputs = [
        r("v1only/app"),
        r("notation/signed"),
        r("both/signed"),
        r("both/unsigned"),
        r("notation/expired"),
        format!("{host}/notation/signed@{V}"),
    ];
    let mut args: Vec<&str> = vec!["--jobs", "3", "-o", "jsonl"];
    args.extend(inputs.iter().map(String::as_str));
    let out = resolve(&all, &args);
    out.expect_code(1, "a mixed batch with refusals");
    let batch = out.json_lines();
    assert_eq!(batch.len(), inputs.len(), "{}", out.describe());
    for input in &inputs {
        let got = batch.iter().find(|l| l["input"] == input.as_str()).unwrap();
        let (_, alone) = json_of(&all, input);
        for field in ["digest", "verification", "generation", "exit_code"] {
            assert_eq!(
                got[field], alone[field],
                "{input} {field}: {got} vs {alone}"
            );
        }
    }
    let v1 = batch
        .iter()
        .find(|l| l["input"] == r("v1only/app").as_str())
        .unwrap();
    assert_eq!(v1["generation"], json!(["notary-v1"]), "{v1}");
    assert_eq!(
        v1["digest"],
        format!("sha256:{}", common::sha256_hex(b"v1 only")),
        "{v1}"
    );
    let text = resolve(&all, &inputs.iter().map(String::as_str).collect::<Vec<_>>());
    text.expect_code(1, "text batch");
    assert_eq!(
        text.lines(),
        [
            format!(
                "{host}/v1only/app@sha256:{}",
                common::sha256_hex(b"v1 only")
            ),
            format!("{host}/notation/signed@{V}"),
            format!("{host}/both/signed@{V}"),
            format!("{host}/notation/signed@{V}"),
        ],
        "text: the verified ones, in input order"
    );

    // inspect --signatures: every signature of both generations, zot's field names.
    let inspect = |reference: &str, output: &str| {
        with_policy(
            "inspect",
            None,
            &all,
            &["--signatures", "-o", output, reference],
        )
    };
    let out = inspect(&r("both/signed"), "json");
    out.expect_code(0, "inspect --signatures");
    let v = out.json();
    let sigs = v["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 2, "{v}");
    let v1 = sigs.iter().find(|s| s["Tool"] == "notary-v1").unwrap();
    assert_eq!(v1["IsTrusted"], true, "{v}");
    assert_eq!(v1["digest"], V, "{v}");
    let author = v1["Author"].as_str().unwrap();
    let key = author
        .strip_prefix("Repo Admin (targets), keys ")
        .unwrap_or_default();
    assert!(
        key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()),
        "{author}"
    );
    let n = sigs.iter().find(|s| s["Tool"] == "notation").unwrap();
    assert_eq!(n["IsTrusted"], true, "{v}");
    assert_eq!(n["Author"], E2E_SUBJECT, "{v}");
    assert_eq!(
        n["signature"], "sha256:90ceaff260d657d797c408ac73564a9c7bb9d86055877c2a811f0e63b8c6524f",
        "{v}"
    );
    let text = inspect(&r("both/signed"), "text");
    text.expect_code(0, "text");
    assert!(
        text.stdout.contains(&format!("notation   true     {V}"))
            && text.stdout.contains(&format!("notary-v1  true     {V}")),
        "{}",
        text.stdout
    );
    // An expired Notation signature and no Notary v1 data: listed, not trusted, exit 1.
    let out = inspect(&r("both/expired"), "json");
    out.expect_code(1, "nothing trusted");
    out.expect_stderr(&["Notary v1: no trust data"], "the Notary v1 side");
    let v = out.json();
    let n = &v["signatures"][0];
    assert_eq!(n["Tool"], "notation", "{v}");
    assert_eq!(n["IsTrusted"], false, "{v}");
    assert!(
        n["reason"]
            .as_str()
            .unwrap()
            .starts_with("expiry check failed"),
        "{v}"
    );
    // No signature at all.
    let out = inspect(&r("notation/unsigned"), "text");
    out.expect_code(1, "unsigned");
    assert!(
        out.stdout.contains("(no signatures found)"),
        "{}",
        out.stdout
    );

    // pin rewrites a reference under a both-generations statement.
    let dockerfile = dir.path().join("Dockerfile");
    std::fs::write(
        &dockerfile,
        format!(
            "FROM {} AS build\nFROM {}\n",
            r("both/signed"),
            r("v1only/app")
        ),
    )
    .unwrap();
    let out = pin(&dockerfile, &all, &[]);
    out.expect_code(0, "pin diff");
    assert!(
        out.stdout
            .contains(&format!("+FROM {}@{V} AS build", r("both/signed"))),
        "{}",
        out.describe()
    );
}

#[test]
fn policy_check_shows_each_scopes_generations_and_notation_settings() {
    let dir = common::temp_dir("trustpin-unified-check-");
    let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/keys/demo.pub");
    let mut both = e2e_statement("both", &["example.com/both/app".to_owned()]);
    both["trustRoots"] = json!([key.to_str().unwrap()]);
    let mut any = e2e_statement("any", &["example.com/any/*".to_owned()]);
    any["trustRoots"] = json!([key.to_str().unwrap()]);
    any["require"] = json!("any");
    let mut relative = e2e_statement("relative", &["example.com/rel/*".to_owned()]);
    relative.as_object_mut().unwrap().remove("trustStore");
    let policy = write_policy(
        dir.path(),
        "policy.json",
        vec![
            e2e_statement("notation", &["example.com/n/*".to_owned()]),
            both,
            any,
            relative,
            json!({"name": "v1", "registryScopes": ["example.com/v1/*"],
                   "signatureVerification": {"level": "strict"}, "trustRoots": [key.to_str().unwrap()]}),
            json!({"name": "skip", "registryScopes": ["*"], "signatureVerification": {"level": "skip"}}),
        ],
    );
    let out = trustpin(&[
        "policy",
        "check",
        policy.to_str().unwrap(),
        "example.com/n/app:v1",
        "example.com/both/app:v1",
        "example.com/any/x:v1",
        "example.com/v1/x:v1",
        "other.io/x:v1",
    ]);
    out.expect_code(0, "policy check");
    let text = &out.stdout;
    let block = |name: &str| -> &str {
        let start = text.find(&format!("policy \"{name}\"")).unwrap();
        let rest = &text[start..];
        &rest[..rest[1..].find("\n\n").map_or(rest.len(), |e| e + 2)]
    };
    assert!(
        block("notation").contains("  generations  Notation\n"),
        "{text}"
    );
    assert!(
        block("notation").contains("  trust store  ca:e2e\n")
            && block("notation").contains(&format!("  store folder {}\n", store("e2e")))
            && block("notation").contains(
                "  identity     x509.subject: C=US, ST=WA, L=Seattle, O=Notary, CN=e2e\n"
            ),
        "{text}"
    );
    assert!(
        block("both").contains("  generations  Notary v1 + Notation (both required)\n"),
        "{text}"
    );
    assert!(
        block("any").contains("  generations  Notary v1 + Notation (either: require any)\n"),
        "{text}"
    );
    assert!(
        block("relative").contains(&format!(
            "  store folder {}\n",
            dir.path().join("truststore").display()
        )),
        "the default trust store is truststore/ beside the policy file: {text}"
    );
    assert!(block("v1").contains("  generations  Notary v1\n"), "{text}");
    assert!(!block("skip").contains("generations"), "{text}");
    for line in [
        "example.com/n/app:v1 → policy \"notation\" (Notation)",
        "example.com/both/app:v1 → policy \"both\" (Notary v1 + Notation)",
        "example.com/any/x:v1 → policy \"any\" (Notary v1 + Notation)",
        "example.com/v1/x:v1 → policy \"v1\" (Notary v1)",
        "other.io/x:v1 → policy \"skip\" (NOT VERIFIED)",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
}

#[test]
fn bad_notation_statements_are_refused_whole_naming_the_statement() {
    let dir = common::temp_dir("trustpin-unified-bad-");
    let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/keys/demo.pub");
    let good = e2e_statement("bad one", &["example.com/n/*".to_owned()]);
    // (what is changed in the good statement, words the refusal must hold)
    type Edit = fn(&mut Value, &Path);
    let cases: [(Edit, &str); 10] = [
        (
            |s, _| s["signatureVerification"]["override"] = json!({"integrity": "log"}),
            "\"integrity\" verification can not be overridden",
        ),
        (
            |s, _| s["signatureVerification"]["override"] = json!({"expiry": "skip"}),
            "can not be skipped",
        ),
        (
            |s, _| {
                s.as_object_mut().unwrap().remove("trustedIdentities");
            },
            "missing trust stores or trusted identities",
        ),
        (
            |s, _| s["trustedIdentities"] = json!(["x509.subject:C=US,O=x"]),
            "mandatory",
        ),
        (
            |s, _| s["trustStores"] = json!(["root:e2e"]),
            "unsupported trust store type",
        ),
        (
            |s, _| s["signatureVerification"]["level"] = json!("skip"),
            "skip signature verification",
        ),
        (
            |s, _| s["require"] = json!("any"),
            "only a statement with both trustRoots",
        ),
        (
            |s, k| {
                s["trustRoots"] = json!([k.to_str().unwrap()]);
                s["require"] = json!("sometimes");
            },
            "\"sometimes\" is not one of all, any",
        ),
        (
            |s, _| s["requiredDelegations"] = json!(["releases"]),
            "a Notary v1 setting in a Notation-only statement",
        ),
        (
            |s, _| {
                let o = s.as_object_mut().unwrap();
                o.remove("trustStores");
                o.remove("trustedIdentities");
                o.insert("trustRoots".into(), json!([]));
                s["signatureVerification"]["verifyTimestamp"] = json!("always");
            },
            "a Notation setting in a statement without trustStores",
        ),
    ];
    for (edit, words) in cases {
        let mut statement = good.clone();
        edit(&mut statement, &key);
        let policy = write_policy(dir.path(), "bad.json", vec![statement.clone()]);
        for args in [
            vec!["policy", "check", policy.to_str().unwrap()],
            vec![
                "resolve",
                "--no-cache",
                "--policy",
                policy.to_str().unwrap(),
                "example.com/n/app:v1",
            ],
        ] {
            let out = trustpin(&args);
            out.expect_code(2, words);
            out.expect_stderr(&[words, "\"bad one\""], &statement.to_string());
            out.expect_stderr(&["line "], "the line");
        }
    }
}

/// The warm-path tests' registry: [`registry`] and `notation/retracted`, behind a counting proxy
/// (no delay), with a temporary folder.
struct Counted {
    reg: Registry,
    /// `notation/retracted`'s referrers index, for [`Counted::retract`].
    retracted_index: String,
    proxy: common::server::TestServer,
    /// The proxy's `host:port`, as references name it.
    host: String,
    dir: tempfile::TempDir,
}

impl Counted {
    fn start(prefix: &str) -> Counted {
        let reg = registry();
        let retracted = reg.push_layout("notation/retracted", &layout_path("e2e-valid-signature"));
        let proxy = common::registry::delaying_proxy(&reg, std::time::Duration::ZERO);
        Counted {
            retracted_index: retracted[0].1.clone(),
            host: proxy.addr().to_string(),
            reg,
            proxy,
            dir: common::temp_dir(prefix),
        }
    }

    /// What `run` did, and the requests the proxy saw meanwhile, as `METHOD path`.
    fn counting(&self, run: impl FnOnce() -> Output) -> (Output, Vec<String>) {
        let before = self.proxy.log().len();
        let out = run();
        let requests = self.proxy.log()[before..]
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        (out, requests)
    }

    /// Deletes `notation/retracted`'s referrers index: its signature is no longer listed.
    fn retract(&self) {
        let deleted = self.reg.request(
            "DELETE",
            &format!("/v2/notation/retracted/manifests/{}", self.retracted_index),
            &[],
            &[],
        );
        assert_eq!(deleted.status, 202, "{deleted:?}");
    }
}

#[test]
fn warm_runs_verify_from_the_trust_cache_with_one_request() {
    let c = Counted::start("trustpin-unified-warm-");
    let (host, dir) = (&c.host, c.dir.path());
    let cache = dir.join("cache");
    let cache_arg = cache.to_str().unwrap();
    let policy = notation_policy(dir, host);
    let tag = format!("{host}/notation/signed:v1");
    let digest = format!("{host}/notation/signed@{V}");
    let run = |policy: &Path, reference: &str| {
        c.counting(|| resolve(policy, &["--cache-dir", cache_arg, "-o", "json", reference]))
    };
    let hex = V.trim_start_matches("sha256:");

    // Cold: the manifest, the referrers (API probe and tag schema), the signature manifest and
    // its envelope.
    let (out, cold) = run(&policy, &tag);
    out.expect_code(0, "cold");
    assert_eq!(out.json_array()[0]["digest"], V);
    assert!(cold.len() >= 4, "{cold:?}");

    // Warm, tag: its manifest only.
    let (out, warm) = run(&policy, &tag);
    out.expect_code(0, "warm tag");
    let v = &out.json_array()[0];
    assert_eq!(v["digest"], V, "{v}");
    assert_eq!(v["notation"]["signatures"][0]["verified"], true, "{v}");
    assert_eq!(warm, ["GET /v2/notation/signed/manifests/v1"], "warm tag");

    // Warm, digest: its referrers only (the tag schema, as the registry showed last time).
    let (out, warm) = run(&policy, &digest);
    out.expect_code(0, "warm digest");
    assert_eq!(out.json_array()[0]["digest"], V);
    assert_eq!(
        warm,
        [format!("GET /v2/notation/signed/manifests/sha256-{hex}")],
        "warm digest"
    );

    // What is kept is a signature, not an outcome: a policy whose trust store does not vouch for
    // the signer refuses, warm or not.
    let mut other = e2e_statement("other store", &[format!("{host}/notation/*")]);
    other["trustStore"] = json!(store("new"));
    let other = write_policy(dir, "other.json", vec![other]);
    let (out, requests) = run(&other, &tag);
    out.expect_code(1, "another trust store");
    assert_eq!(out.json_array()[0]["error"]["kind"], "authenticity");
    assert!(requests.len() >= 4, "went cold: {requests:?}");

    // A damaged entry is ignored: cold again, and verified.
    for entry in walk(&cache.join("_notation")) {
        std::fs::write(entry, b"{not json").unwrap();
    }
    let (out, requests) = run(&policy, &tag);
    out.expect_code(0, "damaged cache entry");
    assert!(requests.len() >= 4, "went cold: {requests:?}");
    let (_, requests) = run(&policy, &tag);
    assert_eq!(requests.len(), 1, "rewritten: warm again {requests:?}");

    // A signature the signer retracted (its referrers index deleted) is not taken from the
    // cache for a digest: the referrers request shows it gone, and the reference is refused.
    let retracted_ref = format!("{host}/notation/retracted@{V}");
    run(&policy, &retracted_ref).0.expect_code(0, "before");
    c.retract();
    let (out, _) = run(&policy, &retracted_ref);
    out.expect_code(1, "retracted");
    assert_eq!(out.json_array()[0]["error"]["kind"], "not-signed");
}

/// Every file below `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// `trustpin verify` (notation's trustpolicy.json) has the warm path of resolve: cold, then 1
/// request, for a tag (its manifest) and for a digest (its referrers), with the same output.
#[test]
fn verify_warm_runs_take_one_request_and_answer_as_cold_runs() {
    let c = Counted::start("trustpin-verify-warm-");
    let (host, dir) = (&c.host, c.dir.path());
    // Notation's own file: the statement without trustpin's `trustStore`, the store by flag.
    let mut statement = e2e_statement("e2e", &["*".to_owned()]);
    statement.as_object_mut().unwrap().remove("trustStore");
    let policy = write_policy(dir, "trustpolicy.json", vec![statement]);
    let run = |cache: &Path, output: &str, reference: &str| {
        c.counting(|| {
            trustpin(&[
                "verify",
                "--insecure-registry",
                "--policy",
                policy.to_str().unwrap(),
                "--trust-store",
                &store("e2e"),
                "--cache-dir",
                cache.to_str().unwrap(),
                "-o",
                output,
                reference,
            ])
        })
    };
    let hex = V.trim_start_matches("sha256:");
    let cases = [
        (
            format!("{host}/notation/signed:v1"),
            "GET /v2/notation/signed/manifests/v1".to_owned(),
        ),
        (
            format!("{host}/notation/signed@{V}"),
            format!("GET /v2/notation/signed/manifests/sha256-{hex}"),
        ),
    ];
    for (i, (reference, warm_request)) in cases.iter().enumerate() {
        let cache = dir.join(format!("cache{i}"));
        let (cold, requests) = run(&cache, "json", reference);
        cold.expect_code(0, "cold");
        assert_eq!(cold.json_array()[0]["digest"], V);
        assert!(requests.len() >= 4, "{reference} cold: {requests:?}");
        let (warm, requests) = run(&cache, "json", reference);
        warm.expect_code(0, "warm");
        assert_eq!(
            &requests,
            std::slice::from_ref(warm_request),
            "{reference} warm"
        );
        assert_eq!(
            warm.json_array(),
            cold.json_array(),
            "{reference}: warm = cold"
        );
        let (text, requests) = run(&cache, "text", reference);
        text.expect_code(0, "warm, text");
        assert_eq!(requests.len(), 1, "{requests:?}");
        assert_eq!(text.stdout.trim(), format!("{host}/notation/signed@{V}"));
    }

    // A signature the signer retracted is not taken from the cache for a digest.
    let cache = dir.join("cache-retracted");
    let retracted_ref = format!("{host}/notation/retracted@{V}");
    run(&cache, "json", &retracted_ref)
        .0
        .expect_code(0, "before");
    c.retract();
    let (out, _) = run(&cache, "json", &retracted_ref);
    out.expect_code(1, "retracted");
    assert_eq!(out.json_array()[0]["kind"], "not-signed");
}
