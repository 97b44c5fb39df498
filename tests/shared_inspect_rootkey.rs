//! `trustpin inspect` and `get-root-key` on the real Docker Hub trust data in `../shared/trust-data`
//! (see its README for what each image holds), offline through `--metadata-dir`. The folder sits
//! beside the project; these tests fail loudly when it is absent.

mod common;

use common::notary::canonical_key_id;
use common::{
    both_get_root_key, disagreeing_roles, expect_disagreeing_rows, get_root_key, inspect_home,
    public_key_der, str_set, text_tag_rows, trustpin_home, Output,
};
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/trust-data");

const ALICE: &str = "docker.io/phbelitz/alice-image";
const BOB: &str = "docker.io/phbelitz/bob-image";
const DAVE: &str = "docker.io/phbelitz/dave-image";
const SAMPLE: &str = "docker.io/phbelitz/sample-image";

const ALICE_TEST: &str = "ac904c9b191d14faf54b7952f2650a4bb21c201bf34131388b851e8ce992a652";
const SAMPLE_V1: &str = "799c0fa8aa4c9fbff5a99aef1b4b5c3abb9c2f34134345005982fad3489893c7";
const DAVE_TARGETS: &str = "4e061bcd4bb5a4cb24a196df59d723d911741d5520f89e34df8a792d56bdee3e";
const DAVE_DEL1: &str = "2b7b506572e4f3b9de7524ff84287db88ed24b0cf9448a7b04ad0664ecdef71b";
const DAVE_DEL2: &str = "a825e8e950dceb81c7d86f6d34e4e47307e98f35505d180d404e194742a28079";

/// `../shared/trust-data`, or a panic saying it is missing.
fn shared() -> PathBuf {
    let dir = PathBuf::from(SHARED);
    assert!(
        dir.join("docker.io/phbelitz").is_dir() && dir.join("keys").is_dir(),
        "the shared trust data is missing: {} (../shared/trust-data beside the project) must hold \
         docker.io/phbelitz/<image>/_trust/tuf/*.json and keys/; these tests need it",
        dir.display()
    );
    dir
}

fn key(name: &str) -> PathBuf {
    let p = shared().join("keys").join(name);
    assert!(p.is_file(), "missing key file {}", p.display());
    p
}

fn tuf_json(gun: &str, role: &str) -> Value {
    let p = shared()
        .join(gun)
        .join("_trust/tuf")
        .join(format!("{role}.json"));
    let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `trustpin inspect IMAGES... --metadata-dir SHARED --root-key KEY --at AT EXTRA...`
fn inspect(images: &[&str], key: &Path, at: &str, extra: &[&str]) -> Output {
    let dir = shared();
    let options = [
        OsStr::new("--metadata-dir"),
        dir.as_os_str(),
        "--root-key".as_ref(),
        key.as_os_str(),
        "--at".as_ref(),
        at.as_ref(),
    ];
    inspect_home(images, &options, extra)
}

/// `trustpin resolve IMAGE --metadata-dir SHARED --root-key KEY --at AT`
fn resolve(image: &str, key: &Path, at: &str) -> Output {
    let dir = shared();
    trustpin_home(&[
        OsStr::new("resolve"),
        image.as_ref(),
        "--metadata-dir".as_ref(),
        dir.as_os_str(),
        "--root-key".as_ref(),
        key.as_os_str(),
        "--at".as_ref(),
        at.as_ref(),
    ])
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn key_ids(v: &Value) -> Vec<String> {
    keys_of(v, "ID")
}

/// `field` of each of `v`'s `Keys`, in order.
fn keys_of(v: &Value, field: &str) -> Vec<String> {
    v["Keys"]
        .as_array()
        .unwrap_or_else(|| panic!("no Keys: {v}"))
        .iter()
        .map(|k| {
            k[field]
                .as_str()
                .unwrap_or_else(|| panic!("Keys[].{field}: {k}"))
                .to_string()
        })
        .collect()
}

// ------------------------------------------------------------------------------------------------
// inspect

#[test]
fn alice_test_is_signed_by_releases_phbelitz_and_chamsen_with_one_digest() {
    let key_a = key("phbelitz-a.pub");
    // inspect IMAGE with KEY on 2019-10-15
    let alice = |image: &str, key: &Path, extra: &[&str]| {
        inspect(&[image], key, "2019-10-15T00:00:00Z", extra)
    };
    let out = alice(ALICE, &key_a, &["--output", "json"]);
    out.expect_code(0, "inspect alice-image");
    let v = out.json();
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    let e = &v[0];
    assert_eq!(e["Name"], ALICE, "{e}");

    let tags = e["SignedTags"]
        .as_array()
        .unwrap_or_else(|| panic!("SignedTags: {e}"));
    assert_eq!(tags.len(), 1, "one (tag, digest) row: {e}");
    let t = &tags[0];
    assert_eq!(t["SignedTag"], "test", "{t}");
    assert_eq!(t["Digest"], ALICE_TEST, "{t}");
    // docker's Signers: the other delegations that signed this digest, never releases
    assert_eq!(
        t["Signers"],
        serde_json::json!(["phbelitz", "chamsen"]),
        "in walk order, each once: {t}"
    );
    assert_eq!(
        str_set(&t["Roles"]),
        set(&["targets/releases", "targets/phbelitz", "targets/chamsen"]),
        "{t}"
    );

    // the delegations with their keys, as targets.json declares them (plain ecdsa keys: the listed
    // IDs are the canonical IDs)
    let targets = tuf_json(ALICE, "targets");
    let declared = targets["signed"]["delegations"]["roles"]
        .as_array()
        .unwrap();
    assert_eq!(declared.len(), 3);
    let signers = e["Signers"]
        .as_array()
        .unwrap_or_else(|| panic!("Signers: {e}"));
    // docker leaves releases out and sorts by name, descending
    let names: Vec<&str> = signers
        .iter()
        .map(|s| s["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["phbelitz", "chamsen"], "{e}");
    let dels = e["Delegations"]
        .as_array()
        .unwrap_or_else(|| panic!("Delegations: {e}"));
    assert_eq!(dels.len(), 3, "{e}");
    for d in declared {
        let role = d["name"].as_str().unwrap();
        let name = role.strip_prefix("targets/").unwrap();
        let want: BTreeSet<String> = str_set(&d["keyids"]);
        if let Some(s) = signers.iter().find(|s| s["Name"] == name) {
            assert_eq!(
                key_ids(s).into_iter().collect::<BTreeSet<_>>(),
                want,
                "{name}: {s}"
            );
        } else {
            assert_eq!(role, "targets/releases", "signer {name} missing: {e}");
        }
        let ours = dels
            .iter()
            .find(|x| x["Role"] == role)
            .unwrap_or_else(|| panic!("delegation {role} missing: {e}"));
        assert_eq!(ours["Name"], name, "{ours}");
        assert_eq!(
            key_ids(ours).into_iter().collect::<BTreeSet<_>>(),
            want,
            "{ours}"
        );
        assert_eq!(ours["Threshold"], 1, "{ours}");
        assert_eq!(ours["Paths"], serde_json::json!([""]), "{ours}");
        assert_eq!(ours["Verified"], true, "{ours}");
    }
    // the key IDs themselves, as the README's data has them
    let ids_of = |name: &str| {
        key_ids(dels.iter().find(|s| s["Name"] == name).unwrap())
            .into_iter()
            .collect::<BTreeSet<_>>()
    };
    let k70 = "70aa109003a93131c63499c70dcfc8db3ba33ca81bdd1abcd52c067a8acc0492";
    let k69 = "6984a67934a29955b3f969835c58ee0dd09158f5bec43726d319515b56b0a878";
    assert_eq!(ids_of("phbelitz"), set(&[k70]));
    assert_eq!(ids_of("chamsen"), set(&[k69]));
    assert_eq!(ids_of("releases"), set(&[k70, k69]));

    // administrative keys as docker prints them: the IDs root.json lists (for root, the
    // certificate's ID), Root first; the canonical ID of the pinned key is in our Administrative
    let admin = e["AdministrativeKeys"]
        .as_array()
        .unwrap_or_else(|| panic!("{e}"));
    let admin_ids = |name: &str| {
        key_ids(
            admin
                .iter()
                .find(|a| a["Name"] == name)
                .unwrap_or_else(|| panic!("AdministrativeKeys {name} missing: {e}")),
        )
    };
    let names: Vec<&str> = admin.iter().map(|a| a["Name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Root", "Repository"], "{e}");
    let root = tuf_json(ALICE, "root");
    assert_eq!(
        admin_ids("Root"),
        root["signed"]["roles"]["root"]["keyids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect::<Vec<_>>(),
        "{e}"
    );
    let pinned = std::fs::read_to_string(&key_a).unwrap();
    let ours = &e["Administrative"][0];
    assert_eq!(ours["Role"], "root", "{e}");
    assert_eq!(keys_of(ours, "ID"), [canonical_key_id(&pinned)], "{e}");
    assert_eq!(keys_of(ours, "ListedID"), admin_ids("Root"), "{e}");
    assert_ne!(
        admin_ids("Root"),
        [canonical_key_id(&pinned)],
        "a certificate's ID: {e}"
    );
    assert_eq!(
        admin_ids("Repository").into_iter().collect::<BTreeSet<_>>(),
        str_set(&root["signed"]["roles"]["targets"]["keyids"]),
        "{e}"
    );

    assert_eq!(e["Disagreements"], serde_json::json!([]), "{e}");
    assert_eq!(e["OtherSignedTags"], serde_json::json!([]), "{e}");

    // the text tables say the same
    let out = alice(ALICE, &key_a, &[]);
    out.expect_code(0, "inspect alice-image, text");
    let rows = text_tag_rows(&out.stdout);
    assert_eq!(rows.len(), 1, "{}", out.describe());
    assert!(
        rows[0].starts_with("test ") && rows[0].contains(ALICE_TEST),
        "{rows:?}"
    );
    assert!(
        rows[0].ends_with("   chamsen, phbelitz"),
        "the signers, sorted as docker's --pretty sorts them: {rows:?}"
    );
    assert!(!out.stdout.contains("WARNING"), "{}", out.describe());

    // full key IDs, never cut
    assert!(
        out.stdout.contains(&format!("chamsen    {k69}\n")),
        "{}",
        out.describe()
    );
    assert!(
        out.stdout
            .contains(&format!("  Root Key:\t{}\n", admin_ids("Root")[0])),
        "{}",
        out.describe()
    );

    // one tag asked for; a tag nobody signed
    let out = alice(&format!("{ALICE}:test"), &key_a, &["--output", "json"]);
    out.expect_code(0, "inspect alice-image:test");
    assert_eq!(
        out.json()[0]["SignedTags"],
        e["SignedTags"],
        "{}",
        out.describe()
    );
    let out = alice(&format!("{ALICE}:nope"), &key_a, &[]);
    out.expect_code(1, "inspect alice-image:nope");
    out.expect_stderr(&["nope"], "");

    // with key b the root is not signed by the pinned key
    let out = alice(ALICE, &key("phbelitz-b.pub"), &["--output", "json"]);
    out.expect_code(1, "inspect alice-image with key b");
    assert!(!out.stdout.contains(ALICE_TEST), "{}", out.describe());
}

#[test]
fn dave_test_disagreement_between_del1_and_del2_at_audit_level() {
    let key_b = key("phbelitz-b.pub");
    let at = "2020-11-20T00:00:00Z";
    let out = inspect(
        &[DAVE],
        &key_b,
        at,
        &["--level", "audit", "--output", "json"],
    );
    out.expect_code(0, "inspect dave-image --level audit");
    let e = &out.json()[0];

    let rows: BTreeSet<(String, String, BTreeSet<String>)> = e["SignedTags"]
        .as_array()
        .unwrap_or_else(|| panic!("{e}"))
        .iter()
        .map(|t| {
            (
                t["SignedTag"].as_str().unwrap().to_string(),
                t["Digest"].as_str().unwrap().to_string(),
                str_set(&t["Signers"]),
            )
        })
        .collect();
    let want = |rows: &[(&str, &str, &[&str])]| -> BTreeSet<(String, String, BTreeSet<String>)> {
        rows.iter()
            .map(|(t, d, s)| (t.to_string(), d.to_string(), set(s)))
            .collect()
    };
    // released: signed into targets or targets/releases; releases itself is never a signer
    let released = want(&[
        ("test", DAVE_TARGETS, &["Repo Admin"]),
        ("test", DAVE_DEL1, &["del1"]),
    ]);
    assert_eq!(rows, released, "{e}");
    let others = &e["OtherSignedTags"];
    assert_eq!(others.as_array().map(Vec::len), Some(1), "{e}");
    assert_eq!(others[0]["SignedTag"], "test", "{e}");
    assert_eq!(others[0]["Digest"], DAVE_DEL2, "{e}");
    assert_eq!(others[0]["Signers"], serde_json::json!(["del2"]), "{e}");
    assert_eq!(
        others[0]["Roles"],
        serde_json::json!(["targets/del2"]),
        "{e}"
    );

    let dis = e["Disagreements"]
        .as_array()
        .unwrap_or_else(|| panic!("{e}"));
    assert_eq!(dis.len(), 1, "{e}");
    assert_eq!(dis[0]["SignedTag"], "test", "{e}");
    let signed = disagreeing_roles(&dis[0]);
    let want: BTreeSet<(String, String)> = [
        ("targets", DAVE_TARGETS),
        ("targets/releases", DAVE_DEL1),
        ("targets/del1", DAVE_DEL1),
        ("targets/del2", DAVE_DEL2),
    ]
    .into_iter()
    .map(|(r, d)| (r.to_string(), d.to_string()))
    .collect();
    assert_eq!(signed, want, "{e}");
    // the relaxed certificate check is reported
    let warnings = e["Warnings"].to_string();
    assert!(warnings.contains("docker.io/phbelitz/delegation"), "{e}");

    // text output flags it
    let out = inspect(&[DAVE], &key_b, at, &["--level", "audit"]);
    out.expect_code(0, "inspect dave-image --level audit, text");
    expect_disagreeing_rows(&out, "test", 2);
    let warning = out
        .stdout
        .lines()
        .find(|l| l.starts_with("WARNING") && l.contains("\"test\""))
        .unwrap_or_else(|| panic!("no disagreement warning: {}", out.describe()));
    for needle in ["del1", "del2", DAVE_DEL1, DAVE_DEL2, DAVE_TARGETS] {
        assert!(
            warning.contains(needle),
            "{needle} missing from {warning:?}"
        );
    }
    out.expect_stderr(&["audit"], "no audit-level warning");

    // strict: the certificate names another repository
    let out = inspect(&[DAVE], &key_b, at, &["--output", "json"]);
    out.expect_code(1, "inspect dave-image strict");
    out.expect_stderr(&["docker.io/phbelitz/delegation"], "");
    assert!(!out.stdout.contains(DAVE_DEL1), "{}", out.describe());
}

// ------------------------------------------------------------------------------------------------
// get-root-key

#[test]
fn sample_image_root_key_is_key_a_and_round_trips_into_resolve() {
    let dir = shared();
    let dir = dir.to_str().expect("UTF-8 path");
    let key_a_pem = std::fs::read_to_string(key("phbelitz-a.pub")).unwrap();
    let key_a = public_key_der(&key_a_pem);
    let root = tuf_json(SAMPLE, "root");
    let root_ids = str_set(&root["signed"]["roles"]["root"]["keyids"]);
    assert_eq!(root_ids.len(), 1, "{root}");
    let cert_id = root_ids.into_iter().next().unwrap();
    // trustpin get-root-key -i SAMPLE --metadata-dir SHARED EXTRA...
    let sample_root_key = |extra: &[&str]| {
        trustpin_home(
            &[
                &["get-root-key", "-i", SAMPLE, "--metadata-dir", dir][..],
                extra,
            ]
            .concat(),
        )
    };

    let mut texts = Vec::new();
    for (what, out) in both_get_root_key(&["-i", SAMPLE, "--metadata-dir", dir]) {
        out.expect_code(0, what);
        let mut lines = out.stdout.lines();
        assert_eq!(
            lines.next(),
            Some(format!("KeyID: {cert_id}").as_str()),
            "{}",
            out.describe()
        );
        let rest: Vec<&str> = lines.collect();
        assert!(
            rest.first()
                .is_some_and(|l| *l == "Key: -----BEGIN PUBLIC KEY-----"),
            "{}",
            out.describe()
        );
        let pem_text = rest.join("\n").replacen("Key: ", "", 1);
        assert_eq!(
            public_key_der(&pem_text),
            key_a,
            "{what}: not key a: {}",
            out.describe()
        );
        out.expect_stderr(&["second channel"], "");
        texts.push(out.stdout);
    }
    assert_eq!(texts[0], texts[1]);
    // the short form of the name gives the same
    let out = get_root_key(&["-i", "phbelitz/sample-image", "--metadata-dir", dir]);
    out.expect_code(0, "-i phbelitz/sample-image");
    assert_eq!(out.stdout, texts[0]);

    // json
    let out = sample_root_key(&["--output", "json"]);
    out.expect_code(0, "json");
    let v = out.json();
    assert_eq!(v["gun"], SAMPLE, "{v}");
    assert_eq!(v["root_version"], root["signed"]["version"], "{v}");
    assert_eq!(v["threshold"], 1, "{v}");
    let t = |v: &Value| {
        OffsetDateTime::parse(v.as_str().unwrap_or_default(), &Rfc3339)
            .unwrap_or_else(|e| panic!("{v} is not RFC 3339: {e}"))
    };
    assert_eq!(t(&v["root_expires"]), t(&root["signed"]["expires"]), "{v}");
    let k = &v["keys"][0];
    assert_eq!(v["keys"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(k["key_id"], cert_id.as_str(), "{k}");
    assert_eq!(k["canonical_id"], canonical_key_id(&key_a_pem), "{k}");
    assert_eq!(k["common_name"], SAMPLE, "{k}");
    assert_eq!(public_key_der(k["pem"].as_str().unwrap()), key_a, "{k}");
    // README: certificate 2019-08-29 to 2029-08-26
    assert_eq!(t(&k["not_before"]).date().to_string(), "2019-08-29", "{k}");
    assert_eq!(t(&k["not_after"]).date().to_string(), "2029-08-26", "{k}");

    // --pem-only into a file, accepted by resolve
    let out = sample_root_key(&["--pem-only"]);
    out.expect_code(0, "--pem-only");
    assert!(
        out.stdout.starts_with("-----BEGIN PUBLIC KEY-----\n"),
        "{}",
        out.describe()
    );
    assert_eq!(public_key_der(&out.stdout), key_a);
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("sample.pem");
    std::fs::write(&plain, &out.stdout).unwrap();
    let with_header = tmp.path().join("sample-role-root.pem");
    let docker_style = out.stdout.replacen(
        "-----BEGIN PUBLIC KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\nrole: root\n\n",
        1,
    );
    assert!(docker_style.contains("role: root"));
    std::fs::write(&with_header, docker_style).unwrap();
    for (what, file) in [
        ("as printed", &plain),
        ("with a role: root header", &with_header),
    ] {
        let out = resolve(&format!("{SAMPLE}:v1"), file, "2019-11-01T00:00:00Z");
        out.expect_pinned(SAMPLE, SAMPLE_V1, what);
    }
}

#[test]
fn bob_image_root_certificate_for_another_name_is_refused() {
    let dir = shared();
    let dir = dir.to_str().expect("UTF-8 path");
    for args in [
        vec!["-i", BOB, "--metadata-dir", dir],
        vec!["-i", BOB, "--metadata-dir", dir, "--pem-only"],
        vec!["-i", BOB, "--metadata-dir", dir, "--output", "json"],
    ] {
        for (what, out) in both_get_root_key(&args) {
            out.expect_code(1, &format!("{what} {args:?}"));
            assert!(
                out.stdout.trim().is_empty(),
                "{what}: printed something: {}",
                out.describe()
            );
            assert!(
                out.stderr.contains("docker.io/phbelitz/delegation") && out.stderr.contains(BOB),
                "{what}: both names must be named: {}",
                out.describe()
            );
        }
    }
    // an image the folder has no trust data for
    for (what, out) in both_get_root_key(&[
        "-i",
        "docker.io/phbelitz/nosuch-image",
        "--metadata-dir",
        dir,
    ]) {
        out.expect_code(1, &format!("{what}: no trust data"));
        out.expect_stderr(&["nosuch-image"], "");
    }
}

#[test]
fn get_root_key_refuses_a_root_not_signed_by_its_own_keys() {
    // sample-image copied, its root.json altered after signing (version 1 → 7), or stripped of
    // its signatures: trust on first use still needs a self-consistent root
    let src = shared().join(SAMPLE).join("_trust/tuf/root.json");
    let original: Value = serde_json::from_slice(&std::fs::read(&src).unwrap()).unwrap();
    let mut altered = original.clone();
    altered["signed"]["version"] = 7.into();
    let mut unsigned = original.clone();
    unsigned["signatures"] = serde_json::json!([]);
    for (what, root) in [("altered", altered), ("unsigned", unsigned)] {
        let tmp = tempfile::tempdir().unwrap();
        let tuf = tmp.path().join(SAMPLE).join("_trust/tuf");
        std::fs::create_dir_all(&tuf).unwrap();
        std::fs::write(tuf.join("root.json"), serde_json::to_vec(&root).unwrap()).unwrap();
        let dir = tmp.path().to_str().unwrap();
        for (bin, out) in both_get_root_key(&["-i", SAMPLE, "--metadata-dir", dir]) {
            out.expect_code(1, &format!("{bin}: {what} root.json"));
            assert!(
                !out.stdout.contains("BEGIN"),
                "{bin}: printed a key of an {what} root: {}",
                out.describe()
            );
        }
    }
    // the same file unaltered (re-serialised: signatures cover the canonical form) is accepted
    let tmp = tempfile::tempdir().unwrap();
    let tuf = tmp.path().join(SAMPLE).join("_trust/tuf");
    std::fs::create_dir_all(&tuf).unwrap();
    std::fs::write(
        tuf.join("root.json"),
        serde_json::to_vec(&original).unwrap(),
    )
    .unwrap();
    let out = get_root_key(&[
        "-i",
        SAMPLE,
        "--metadata-dir",
        tmp.path().to_str().unwrap(),
        "--pem-only",
    ]);
    out.expect_code(0, "re-serialised root.json");
    assert_eq!(
        public_key_der(&out.stdout),
        public_key_der(&std::fs::read_to_string(key("phbelitz-a.pub")).unwrap())
    );
}
