//! The hostile-repository builder checked against reality: a repository it builds, served by the
//! loopback test server, is accepted by the real `notary` client (trusting the root on first use)
//! and by `trustpin resolve` pinned to the root key, with the same digests. Every hostile test
//! builds on this: if the builder made something notary refuses, the attacks would prove nothing.

mod common;
use common::builder;

use common::builder::{notary_available, notary_list, notary_lookup, Key, RepoBuilder};
use common::sha256_hex;

const GUN: &str = "example.com/hostile/reality";

#[test]
fn builder_repository_is_accepted_by_the_real_notary_client_and_by_trustpin() {
    let mut r = RepoBuilder::new(GUN);
    r.tag("targets", "v1", b"image one")
        .tag("targets", "latest", b"image latest")
        .delegate("targets", "targets/releases", &[""])
        .tag("targets/releases", "v2", b"image two")
        // Tag names the server's encoder would escape, and one that must not be normalised.
        .tag("targets", "a<b&c>", b"odd")
        .tag("targets", "cafe\u{301}", b"decomposed");
    let built = r.build();
    let srv = built.served();

    // trustpin, over HTTP and from a folder (docker tag grammar: the odd names go through the
    // library below).
    for (tag, content) in [
        ("v1", &b"image one"[..]),
        ("latest", b"image latest"),
        ("v2", b"image two"),
    ] {
        let want = format!("{GUN}@sha256:{}", sha256_hex(content));
        let out = built.cli_server(&srv, tag, &[]);
        assert_eq!(out.code, 0, "{tag}: {}", out.describe());
        assert_eq!(out.stdout.trim(), want, "{tag}");
        let out = built.cli(&[tag], &[]);
        assert_eq!(out.code, 0, "{tag}: {}", out.describe());
        assert_eq!(out.stdout.trim(), want, "{tag}");
    }

    let repo = built
        .verify()
        .expect("trustpin's chain accepts the repository");
    for (tag, content) in [("a<b&c>", &b"odd"[..]), ("cafe\u{301}", b"decomposed")] {
        let sel = trustpin::tuf::select::select(&repo, trustpin::tuf::select::Query::Tag(tag), &[])
            .unwrap();
        assert_eq!(sel.digest.hex(), sha256_hex(content), "{tag}");
    }

    if !notary_available() {
        return;
    }
    // The real notary client (TOFU on an empty trust dir): same digests, same sizes.
    for (tag, content) in [
        ("v1", &b"image one"[..]),
        ("latest", b"image latest"),
        ("v2", b"image two"),
        ("a<b&c>", b"odd"),
        ("cafe\u{301}", b"decomposed"),
    ] {
        let got = notary_lookup(&srv.url(), GUN, tag)
            .unwrap_or_else(|e| panic!("notary lookup {tag} refused our repository: {e}"));
        assert_eq!(got, (sha256_hex(content), content.len() as u64), "{tag}");
    }
    let list = notary_list(&srv.url(), GUN).expect("notary list");
    for tag in ["v1", "latest", "v2", "a<b&c>"] {
        assert!(list.contains(tag), "notary list lacks {tag}:\n{list}");
    }
    assert!(list.contains("targets/releases"), "{list}");
}

#[test]
fn builder_variants_rsa_ed25519_and_two_root_keys_are_accepted_by_both() {
    // Root threshold 2 of two certificate keys, RSA targets key signing PSS, Ed25519 timestamp,
    // ECDSA snapshot: every combination notary itself accepts. (ECDSA signatures in DER form:
    // see hostile_signatures.rs, notary 0.7.0 refuses them.)
    let root2 = Key::root(GUN);
    let mut r = RepoBuilder::with_keys(
        GUN,
        Key::root(GUN),
        builder::shared_rsa(),
        Key::ecdsa(),
        Key::ed25519(),
    );
    r.tag("targets", "v1", b"variant");
    let r2 = root2.clone();
    r.signed("root")["keys"][root2.id()] = root2.tuf();
    r.edit_signed("root", move |s| {
        let ids = s["roles"]["root"]["keyids"].as_array_mut().unwrap();
        ids.push(r2.id().into());
        s["roles"]["root"]["threshold"] = 2.into();
    });
    let mut signers = r.root_keys.clone();
    signers.push(root2);
    r.signers("root", signers);
    let built = r.build();
    let out = built.cli_http("v1", &[]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert_eq!(
        out.stdout.trim(),
        format!("{GUN}@sha256:{}", sha256_hex(b"variant"))
    );
    if !notary_available() {
        return;
    }
    let srv = built.served();
    let got = notary_lookup(&srv.url(), GUN, "v1").expect("notary accepts the variant repository");
    assert_eq!(got.0, sha256_hex(b"variant"));
}
