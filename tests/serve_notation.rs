//! `trustpin serve --policy FILE` for Notation-signed images (issue 14, for issue 16): the real
//! docker-registry holds the layouts the real notation CLI signed (../shared/notation-data,
//! pushed with their signatures through the referrers tag schema); a real notary-server holds the
//! Notary v1 side of a statement with both generations; the API server's side is emulated by
//! `common::webhook` (VerifyAdmissionResponse, the patch applied).

mod common;

use common::oci_data::{e2e_statement, layout_path, ARTIFACT_SIZE};
use common::registry::Registry;
use common::webhook::*;
use serde_json::{json, Value};

const V: &str = "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9";

/// The pod fixture's four image positions.
const C0: &str = "/spec/containers/0/image";
const C1: &str = "/spec/containers/1/image";
const C2: &str = "/spec/containers/2/image";
const INIT: &str = "/spec/initContainers/0/image";

/// The pod fixture with `uid` and these images at its four positions.
fn pod(uid: &str, images: [&str; 4]) -> Value {
    let mut review = fixture("pod");
    for (pointer, image) in [C0, C1, C2, INIT].into_iter().zip(images) {
        review = with_image(&review, uid, pointer, image);
    }
    review
}

fn write_policy(dir: &std::path::Path, statements: Vec<Value>) -> String {
    let path = dir.join("policy.json");
    let doc = json!({"version": "1.0", "trustPolicies": statements});
    std::fs::write(&path, doc.to_string()).unwrap();
    path.display().to_string()
}

#[test]
fn notation_signed_images_are_admitted_and_patched_others_denied() {
    let reg = Registry::start();
    reg.push_layout("notation/signed", &layout_path("e2e-valid-signature"));
    reg.push_layout("notation/expired", &layout_path("e2e-expired-signature"));
    reg.push_layout("notation/unsigned", &layout_path("e2e"));
    let host = reg.host();
    let dir = common::temp_dir("trustpin-serve-notation-");
    let policy = write_policy(
        dir.path(),
        vec![e2e_statement("notation", &[format!("{host}/notation/*")])],
    );
    let hook = Webhook::start(&["--policy", &policy, "--insecure-registry"]);
    let api = ApiServer::new(&hook, Protocol::Http1);
    let tag = format!("{host}/notation/signed:v1");
    let digest = format!("{host}/notation/signed@{V}");

    // Tags patched to the digest whose signature verifies; a digest left as written.
    let a = api.review(&pod("signed", [&tag, &digest, &tag, &tag]), "10s");
    assert!(a.allowed, "{a:?}");
    let pinned = format!("{tag}@{V}");
    assert_eq!(a.image_at(C0), pinned);
    assert_eq!(a.image_at(C1), digest);
    assert_eq!(a.image_at(C2), pinned);
    assert_eq!(a.image_at(INIT), pinned);
    assert_eq!(a.patch.len(), 3, "{:?}", a.patch);
    let log = hook.decision_log("signed");
    assert_eq!(log["decision"], "allowed", "{log}");

    // The same again: from memory, the same answer.
    let a = api.review(&pod("again", [&tag, &digest, &tag, &tag]), "10s");
    assert!(a.allowed, "{a:?}");
    assert_eq!(a.image_at(C0), pinned);

    // An expired signature and an unsigned image: denied, each named, in Notation's words.
    let expired = format!("{host}/notation/expired:v1");
    let unsigned = format!("{host}/notation/unsigned:v1");
    let a = api.review(&pod("bad", [&tag, &expired, &unsigned, &tag]), "10s");
    assert!(!a.allowed, "{a:?}");
    assert_eq!(a.code, Some(403), "{a:?}");
    assert!(
        a.message.contains(&format!("image {expired}: "))
            && a.message.contains("expiry check failed")
            && a.message.contains(&format!("image {unsigned}: "))
            && a.message.contains("no signature is associated"),
        "{}",
        a.message
    );

    // A registry scope no statement covers: denied as resolve refuses it.
    let other = format!("{host}/other/app:v1");
    let a = api.review(&pod("nopolicy", [&tag, &other, &tag, &tag]), "10s");
    assert!(
        !a.allowed && a.message.contains("no trust policy scope matches"),
        "{a:?}"
    );
}

#[test]
fn a_statement_with_both_generations_needs_both_unless_require_any() {
    if !common::notary::require_live() {
        return;
    }
    let reg = Registry::start();
    reg.push_layout("both/signed", &layout_path("e2e-valid-signature"));
    reg.push_layout("both/unsigned", &layout_path("e2e"));
    let host = reg.host();
    let server = common::notary::NotaryServer::start();
    let client = server.client();
    for repo in ["both/signed", "both/unsigned"] {
        let gun = format!("{host}/{repo}");
        client.init(&gun);
        client.add_hash(&gun, "v1", ARTIFACT_SIZE, V.trim_start_matches("sha256:"));
        client.publish(&gun);
    }
    let key = client.write_root_key(&format!("{host}/both/signed"), "root.pub");
    let signed = format!("{host}/both/signed:v1");
    let unsigned = format!("{host}/both/unsigned:v1");
    for require in ["all", "any"] {
        let dir = common::temp_dir("trustpin-serve-both-");
        let mut both = e2e_statement("both", &[format!("{host}/both/*")]);
        both["trustRoots"] = json!([key.to_str().unwrap()]);
        both["server"] = json!({"url": server.url()});
        both["require"] = json!(require);
        let policy = write_policy(dir.path(), vec![both]);
        let hook = Webhook::start(&["--policy", &policy, "--insecure-registry"]);
        let api = ApiServer::new(&hook, Protocol::H2);
        let a = api.review(&pod("both", [&signed, &signed, &signed, &signed]), "10s");
        assert!(a.allowed, "{require}: {a:?}");
        assert_eq!(a.image_at(C0), format!("{signed}@{V}"));
        let a = api.review(&pod("one", [&signed, &unsigned, &signed, &signed]), "10s");
        if require == "all" {
            assert!(!a.allowed, "{a:?}");
            assert!(
                a.message.contains(&format!(
                    "image {unsigned}: Notation: no signature is associated"
                )),
                "{}",
                a.message
            );
        } else {
            assert!(a.allowed, "require any: Notary v1 alone admits it: {a:?}");
            assert_eq!(a.image_at(C1), format!("{unsigned}@{V}"));
        }
    }
}
