//! The OCI layout reader (`trustpin::fetch::oci::LayoutSource`): every layout notation wrote in
//! ../shared/notation-data gives the digests its README lists, and hostile layouts made here
//! are refused with the error that names them.

mod common;

use std::collections::BTreeMap;

use common::oci_data::{
    layout_path, sha256, LayoutBuilder, OCI_INDEX, OCI_MANIFEST, SHARED_LAYOUTS, SIGNATURE,
};
use serde_json::json;
use trustpin::failure::{Classify, Failure};
use trustpin::fetch::oci::{
    Descriptor, LayoutSource, ManifestFields, OciError, OciSource, Reference, NOTATION_SIGNATURE,
};
use trustpin::reference::Digest;

const MAX: u64 = 4 * 1024 * 1024;
const SCOPE: &str = "local/e2e";

fn digest(s: &str) -> Digest {
    Digest::parse(s).unwrap()
}

fn tag(t: &str) -> Reference {
    Reference::Tag(t.into())
}

#[test]
fn every_shared_layout_gives_the_digests_its_readme_lists() {
    for l in SHARED_LAYOUTS {
        let src =
            LayoutSource::open(layout_path(l.name)).unwrap_or_else(|e| panic!("{}: {e}", l.name));
        let by_tag = src.manifest(SCOPE, &tag("v1"), MAX).unwrap();
        assert_eq!(by_tag.digest.to_string(), l.artifact, "{}", l.name);
        assert_eq!(by_tag.bytes.len() as u64, l.artifact_size, "{}", l.name);
        assert_eq!(by_tag.media_type, OCI_MANIFEST, "{}", l.name);
        let by_digest = src
            .manifest(SCOPE, &Reference::Digest(digest(l.artifact)), MAX)
            .unwrap();
        assert_eq!(by_digest, by_tag, "{}", l.name);

        let sigs = src
            .referrers(SCOPE, &by_tag.digest, Some(NOTATION_SIGNATURE), 100)
            .unwrap();
        let got: Vec<String> = sigs.iter().map(|d| d.digest.to_string()).collect();
        assert_eq!(got, l.signatures, "{}", l.name);
        // Without a filter: the same (nothing else refers to the artifact).
        assert_eq!(
            src.referrers(SCOPE, &by_tag.digest, None, 100).unwrap(),
            sigs
        );
        // Another artifact type: none.
        assert!(src
            .referrers(SCOPE, &by_tag.digest, Some("application/example"), 100)
            .unwrap()
            .is_empty());

        for sig in &sigs {
            assert_eq!(sig.media_type, OCI_MANIFEST);
            assert_eq!(sig.artifact_type.as_deref(), Some(SIGNATURE));
            // The signature manifest, then its one layer (the envelope, or for
            // e2e-invalid-signature the text that stands in for one), each hash-checked.
            let m = src
                .manifest(SCOPE, &Reference::Digest(sig.digest), MAX)
                .unwrap();
            assert_eq!(m.bytes.len() as u64, sig.size);
            let fields = m.fields("sig").unwrap();
            assert_eq!(fields.subject.as_ref().unwrap().digest, by_tag.digest);
            assert_eq!(fields.annotations, sig.annotations);
            assert_eq!(fields.layers.len(), 1);
            let envelope = src.blob(SCOPE, &fields.layers[0].digest, MAX).unwrap();
            assert_eq!(envelope.len() as u64, fields.layers[0].size);
            assert_eq!(sha256(&envelope), fields.layers[0].digest.to_string());
        }

        // The tag-schema index notation wrote resolves by its tag, and lists exactly what the
        // walk over the layout found (descriptor for descriptor).
        let schema_tag = Reference::referrers_tag(&by_tag.digest);
        match l.tag_index {
            Some(index) => {
                let m = src.manifest(SCOPE, &schema_tag, MAX).unwrap();
                assert_eq!(m.digest.to_string(), index, "{}", l.name);
                assert_eq!(m.media_type, OCI_INDEX);
                let listed = ManifestFields::parse(&m.bytes, "index").unwrap().manifests;
                assert_eq!(listed, sigs, "{}", l.name);
            }
            None => {
                let e = src.manifest(SCOPE, &schema_tag, MAX).unwrap_err();
                assert!(e.is_not_found(), "{}: {e}", l.name);
            }
        }
    }
}

#[test]
fn the_timestamped_layout_has_no_tag_schema_index_and_its_signature_is_found_by_subject() {
    let src = LayoutSource::open(layout_path("e2e-with-timestamped-signature")).unwrap();
    assert!(src
        .index()
        .iter()
        .all(|d| !d.annotations.values().any(|v| v.starts_with("sha256-"))));
    let artifact = src.manifest(SCOPE, &tag("v1"), MAX).unwrap();
    let fields = artifact.fields("artifact").unwrap();
    assert_eq!(
        fields.artifact_type.as_deref(),
        Some("application/vnd.unknown.artifact.v1")
    );
    let sigs = src
        .referrers(SCOPE, &artifact.digest, Some(NOTATION_SIGNATURE), 100)
        .unwrap();
    assert_eq!(sigs.len(), 1);
    assert_eq!(
        sigs[0]
            .annotations
            .get("org.opencontainers.image.created")
            .map(String::as_str),
        Some("2025-01-21T09:17:46Z")
    );
}

#[test]
fn an_unknown_tag_or_digest_is_not_found_and_a_missing_folder_is_not_a_layout() {
    let src = LayoutSource::open(layout_path("e2e")).unwrap();
    let e = src.manifest(SCOPE, &tag("v2"), MAX).unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert!(e.to_string().contains("\"v2\""), "{e}");
    assert_eq!(e.failure(), Failure::Unavailable);
    let absent = digest(&format!("sha256:{}", "0".repeat(64)));
    assert!(src
        .manifest(SCOPE, &Reference::Digest(absent), MAX)
        .unwrap_err()
        .is_not_found());
    assert!(src.blob(SCOPE, &absent, MAX).unwrap_err().is_not_found());
    assert!(src.referrers(SCOPE, &absent, None, 10).unwrap().is_empty());
    // A tag that could not be a tag is refused before anything is read.
    let e = src.manifest(SCOPE, &tag("../v1"), MAX).unwrap_err();
    assert_eq!(e.failure(), Failure::BadInput, "{e}");

    let e = LayoutSource::open(layout_path("no-such-layout")).unwrap_err();
    assert!(matches!(e, OciError::NotLayout { .. }), "{e}");
    assert_eq!(e.failure(), Failure::BadInput);
    let e = LayoutSource::open(layout_path("e2e").join("index.json")).unwrap_err();
    assert!(e.to_string().contains("not a folder"), "{e}");
}

#[test]
fn sizes_are_bounded_before_reading() {
    let src = LayoutSource::open(layout_path("e2e-valid-signature")).unwrap();
    let e = src.manifest(SCOPE, &tag("v1"), 516).unwrap_err();
    assert!(matches!(e, OciError::TooLarge { limit: 516, .. }), "{e}");
    src.manifest(SCOPE, &tag("v1"), 517).unwrap();
    let envelope =
        digest("sha256:c9af07e038b2b1a463e648986ad7273157511ffeba0b689f33e5472bae471f50");
    let e = src.blob(SCOPE, &envelope, 2069).unwrap_err();
    assert!(matches!(e, OciError::TooLarge { .. }), "{e}");
    assert_eq!(e.failure(), Failure::Unavailable);
    assert_eq!(src.blob(SCOPE, &envelope, 2070).unwrap().len(), 2070);
}

/// A layout with an artifact tagged v1 and `n` signatures of it.
fn signed_layout(n: usize) -> (LayoutBuilder, serde_json::Value, Vec<String>) {
    let mut b = LayoutBuilder::new();
    let artifact_desc = b.artifact_tagged_v1();
    let mut sigs = Vec::new();
    for i in 0..n {
        let mut ann = BTreeMap::new();
        ann.insert("n".to_string(), i.to_string());
        let sig = b.image(
            format!("envelope {i}").as_bytes(),
            Some(&artifact_desc),
            Some(SIGNATURE),
            ann,
        );
        let d = b.manifest(&sig);
        sigs.push(d["digest"].as_str().unwrap().to_owned());
        b.add(d, None);
    }
    b.write_index();
    (b, artifact_desc, sigs)
}

#[test]
fn more_referrers_than_the_limit_are_cut_off_with_the_first_ones_kept() {
    let (b, artifact, sigs) = signed_layout(5);
    let src = LayoutSource::open(b.path()).unwrap();
    let subject = digest(artifact["digest"].as_str().unwrap());
    let all = src.referrers(SCOPE, &subject, Some(SIGNATURE), 5).unwrap();
    assert_eq!(
        all.iter().map(|d| d.digest.to_string()).collect::<Vec<_>>(),
        sigs
    );
    match src
        .referrers(SCOPE, &subject, Some(SIGNATURE), 3)
        .unwrap_err()
    {
        e @ OciError::TooManyReferrers { .. } => {
            assert_eq!(e.failure(), Failure::Refused);
            let OciError::TooManyReferrers { found, max, .. } = e else {
                unreachable!()
            };
            assert_eq!(max, 3);
            assert_eq!(found, all[..3].to_vec());
        }
        e => panic!("{e}"),
    }
}

#[test]
fn a_tampered_blob_is_refused_for_its_digest() {
    let (b, artifact, sigs) = signed_layout(1);
    let src = LayoutSource::open(b.path()).unwrap();
    let sig = digest(&sigs[0]);
    let m = src.manifest(SCOPE, &Reference::Digest(sig), MAX).unwrap();
    let layer = m.fields("x").unwrap().layers[0].digest;
    // Same length, another byte.
    let path = b.blob_path(&layer.to_string());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let e = src.blob(SCOPE, &layer, MAX).unwrap_err();
    assert!(matches!(e, OciError::DigestMismatch { .. }), "{e}");
    assert_eq!(e.failure(), Failure::Refused);
    assert!(e.to_string().contains(&layer.hex()), "{e}");
    // The manifest tagged v1, rewritten under its name: refused by tag too.
    let a = artifact["digest"].as_str().unwrap();
    std::fs::write(b.blob_path(a), b"{\"schemaVersion\":2}").unwrap();
    let e = src.manifest(SCOPE, &tag("v1"), MAX).unwrap_err();
    assert!(
        matches!(
            e,
            OciError::SizeMismatch { .. } | OciError::DigestMismatch { .. }
        ),
        "{e}"
    );
    assert_eq!(e.failure(), Failure::Refused);
}

/// The referrers (at most 10) of the manifest `descriptor` describes, of `artifact_type`.
fn referrers_of(
    src: &LayoutSource,
    descriptor: &serde_json::Value,
    artifact_type: Option<&str>,
) -> Vec<Descriptor> {
    let subject = digest(descriptor["digest"].as_str().unwrap());
    src.referrers(SCOPE, &subject, artifact_type, 10).unwrap()
}

/// `b`'s index written, and the layout opened.
fn opened(b: &LayoutBuilder) -> LayoutSource {
    b.write_index();
    LayoutSource::open(b.path()).unwrap()
}

/// Why the manifest tagged `v1` of [`opened`] `b` is refused.
fn v1_refused(b: &LayoutBuilder) -> OciError {
    opened(b).manifest(SCOPE, &tag("v1"), MAX).unwrap_err()
}

#[test]
fn a_descriptor_size_that_lies_is_refused() {
    let mut b = LayoutBuilder::new();
    let m = b.image(b"x", None, None, BTreeMap::new());
    let mut d = b.manifest(&m);
    d["size"] = json!(d["size"].as_u64().unwrap() + 1);
    b.add(d, Some("v1"));
    let e = v1_refused(&b);
    assert!(matches!(e, OciError::SizeMismatch { .. }), "{e}");
}

#[test]
fn symlinks_leaving_the_folder_are_refused_and_those_inside_followed() {
    let (b, artifact, sigs) = signed_layout(1);
    let outside = tempfile::tempdir().unwrap();
    // The signature manifest's blob moved out of the layout, a symlink left in its place.
    let sig_path = b.blob_path(&sigs[0]);
    let moved = outside.path().join("moved");
    std::fs::rename(&sig_path, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &sig_path).unwrap();
    let src = LayoutSource::open(b.path()).unwrap();
    let e = src
        .manifest(SCOPE, &Reference::Digest(digest(&sigs[0])), MAX)
        .unwrap_err();
    assert!(matches!(e, OciError::Escape { .. }), "{e}");
    assert!(e.to_string().contains("outside the layout folder"), "{e}");
    assert_eq!(e.failure(), Failure::Refused);
    // The walk for referrers meets it too, and says so.
    let subject = digest(artifact["digest"].as_str().unwrap());
    let e = src.referrers(SCOPE, &subject, None, 10).unwrap_err();
    assert!(matches!(e, OciError::Escape { .. }), "{e}");

    // A symlink inside the folder is followed.
    std::fs::remove_file(&sig_path).unwrap();
    let inside = b.path().join("kept");
    std::fs::rename(&moved, &inside).unwrap();
    std::os::unix::fs::symlink("../../kept", &sig_path).unwrap();
    let src = LayoutSource::open(b.path()).unwrap();
    assert_eq!(src.referrers(SCOPE, &subject, None, 10).unwrap().len(), 1);

    // The whole blobs folder a symlink to elsewhere: every blob is refused.
    let (b2, _, _) = signed_layout(0);
    let blobs = b2.path().join("blobs");
    let away = outside.path().join("blobs");
    std::fs::rename(&blobs, &away).unwrap();
    std::os::unix::fs::symlink(&away, &blobs).unwrap();
    let src = LayoutSource::open(b2.path()).unwrap();
    let e = src.manifest(SCOPE, &tag("v1"), MAX).unwrap_err();
    assert!(matches!(e, OciError::Escape { .. }), "{e}");

    // index.json a symlink to elsewhere: the layout does not open.
    let (b3, _, _) = signed_layout(0);
    let index = b3.path().join("index.json");
    std::fs::rename(&index, outside.path().join("index.json")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("index.json"), &index).unwrap();
    let e = LayoutSource::open(b3.path()).unwrap_err();
    assert!(matches!(e, OciError::Escape { .. }), "{e}");
}

#[test]
fn a_blob_that_is_a_folder_is_refused() {
    let (b, _, _) = signed_layout(0);
    let d = format!("sha256:{}", "1".repeat(64));
    std::fs::create_dir(b.blob_path(&d)).unwrap();
    let src = LayoutSource::open(b.path()).unwrap();
    let e = src.blob(SCOPE, &digest(&d), MAX).unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");
}

#[test]
fn an_ambiguous_tag_is_refused_and_a_repeated_one_accepted() {
    let mut b = LayoutBuilder::new();
    let one = b.manifest(&b.image(b"1", None, None, BTreeMap::new()));
    let two = b.manifest(&b.image(b"2", None, None, BTreeMap::new()));
    b.add(one.clone(), Some("v1"));
    b.add(one.clone(), Some("v1"));
    b.add(one.clone(), Some("same"));
    b.add(two.clone(), Some("v1"));
    let src = opened(&b);
    let e = src.manifest(SCOPE, &tag("v1"), MAX).unwrap_err();
    assert!(matches!(e, OciError::AmbiguousTag { .. }), "{e}");
    assert!(
        e.to_string().contains(one["digest"].as_str().unwrap()),
        "{e}"
    );
    assert!(
        e.to_string().contains(two["digest"].as_str().unwrap()),
        "{e}"
    );
    assert_eq!(e.failure(), Failure::Refused);
    src.manifest(SCOPE, &tag("same"), MAX).unwrap();
}

#[test]
fn a_media_type_the_manifest_contradicts_is_refused() {
    let mut b = LayoutBuilder::new();
    let mut d = b.manifest(&b.image(b"1", None, None, BTreeMap::new()));
    d["mediaType"] = json!(OCI_INDEX);
    b.add(d, Some("v1"));
    let e = v1_refused(&b);
    assert!(matches!(e, OciError::MediaTypeMismatch { .. }), "{e}");
}

#[test]
fn layouts_that_are_not_layouts() {
    for (file, content, want) in [
        (
            "oci-layout",
            &br#"{"imageLayoutVersion":"2.0.0"}"#[..],
            "imageLayoutVersion",
        ),
        ("oci-layout", b"not json", "oci-layout"),
        ("index.json", b"{\"schemaVersion\":1}", "schemaVersion"),
        ("index.json", b"[]", "index.json"),
    ] {
        let b = LayoutBuilder::new();
        b.write_index();
        std::fs::write(b.path().join(file), content).unwrap();
        let e = LayoutSource::open(b.path()).unwrap_err();
        assert!(e.to_string().contains(want), "{file}: {e}");
    }
    let b = LayoutBuilder::new();
    std::fs::remove_file(b.path().join("oci-layout")).unwrap();
    b.write_index();
    let e = LayoutSource::open(b.path()).unwrap_err();
    assert!(e.to_string().contains("no oci-layout"), "{e}");
    let b = LayoutBuilder::new();
    let e = LayoutSource::open(b.path()).unwrap_err();
    assert!(e.to_string().contains("index.json"), "{e}");
    // An index.json past its limit is not read.
    let b = LayoutBuilder::new();
    let f = std::fs::File::create(b.path().join("index.json")).unwrap();
    f.set_len(5 * 1024 * 1024).unwrap();
    let e = LayoutSource::open(b.path()).unwrap_err();
    assert!(matches!(e, OciError::TooLarge { .. }), "{e}");
}

#[test]
fn referrers_are_found_through_indexes_and_subjects_only_reachable_from_index_json() {
    // index.json holds only `outer`, an index listing `sig_b`; `sig_b`'s subject is `sig_a`
    // (a signature of a signature), whose subject is the artifact. The artifact is absent.
    let mut b = LayoutBuilder::new();
    let artifact = json!({"mediaType": OCI_MANIFEST, "digest": format!("sha256:{}", "2".repeat(64)), "size": 10});
    let sig_a = b.manifest(&b.image(b"a", Some(&artifact), Some(SIGNATURE), BTreeMap::new()));
    let sig_b = b.manifest(&b.image(
        b"b",
        Some(&sig_a),
        Some("application/other"),
        BTreeMap::new(),
    ));
    let outer =
        b.manifest(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [sig_b]}));
    b.add(outer, Some("outer"));
    let src = opened(&b);
    let of_artifact = referrers_of(&src, &artifact, None);
    assert_eq!(of_artifact.len(), 1);
    assert_eq!(
        of_artifact[0].digest.to_string(),
        sig_a["digest"].as_str().unwrap()
    );
    let of_a = referrers_of(&src, &sig_a, Some("application/other"));
    assert_eq!(of_a.len(), 1);
    assert_eq!(
        of_a[0].digest.to_string(),
        sig_b["digest"].as_str().unwrap()
    );
}

#[test]
fn the_artifact_type_of_a_referrer_falls_back_to_its_config_media_type() {
    let mut b = LayoutBuilder::new();
    let artifact = b.manifest(&b.image(b"x", None, None, BTreeMap::new()));
    b.add(artifact.clone(), Some("v1"));
    // No artifactType: the config's media type stands for it (as notation's signatures have).
    let mut sig = b.image(b"sig", Some(&artifact), None, BTreeMap::new());
    sig["config"]["mediaType"] = json!(SIGNATURE);
    let sig = b.manifest(&sig);
    b.add(sig.clone(), None);
    let src = opened(&b);
    let found: Vec<Descriptor> = referrers_of(&src, &artifact, Some(SIGNATURE));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].artifact_type.as_deref(), Some(SIGNATURE));
    assert_eq!(found[0].size, sig["size"].as_u64().unwrap());
}

#[test]
fn the_walk_for_referrers_is_bounded_and_says_where_it_stopped() {
    // A manifest whose descriptor claims more than the walk reads: refused before reading.
    let mut b = LayoutBuilder::new();
    let m = b.image(b"x", None, None, BTreeMap::new());
    let mut d = b.manifest(&m);
    d["size"] = json!(5 * 1024 * 1024);
    b.add(d, None);
    let src = opened(&b);
    let e = src
        .referrers(SCOPE, &Digest([3; 32]), None, 10)
        .unwrap_err();
    assert!(matches!(e, OciError::TooLarge { .. }), "{e}");
    assert!(e.to_string().contains("blobs/sha256/"), "{e}");

    // A malformed manifest on the way: refused, named.
    let mut b = LayoutBuilder::new();
    let bad = b.blob(b"{\"schemaVersion\":2,\"subject\":{\"digest\":5}}");
    b.add(
        json!({"mediaType": OCI_MANIFEST, "digest": bad, "size": 42}),
        None,
    );
    let src = opened(&b);
    let e = src
        .referrers(SCOPE, &Digest([3; 32]), None, 10)
        .unwrap_err();
    assert!(matches!(e, OciError::Malformed { .. }), "{e}");
    assert!(
        e.to_string().contains(bad.trim_start_matches("sha256:")),
        "{e}"
    );

    // Layers, configs and other blobs are not read as manifests; missing entries are skipped.
    let mut b = LayoutBuilder::new();
    let layer = b.blob(&vec![b'x'; 1024]);
    b.add(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 1024}), None);
    b.add(json!({"mediaType": OCI_MANIFEST, "digest": format!("sha256:{}", "4".repeat(64)), "size": 10}), None);
    let src = opened(&b);
    assert!(src
        .referrers(SCOPE, &Digest([3; 32]), None, 10)
        .unwrap()
        .is_empty());
}

#[test]
fn manifest_and_referrers_of_a_layout_agree_with_the_two_calls() {
    let src = LayoutSource::open(layout_path("e2e-valid-signature")).unwrap();
    let (m, r) = src.manifest_and_referrers(SCOPE, &tag("v1"), MAX, Some(NOTATION_SIGNATURE), 100);
    let m = m.unwrap();
    assert_eq!(
        r.unwrap().unwrap(),
        src.referrers(SCOPE, &m.digest, Some(NOTATION_SIGNATURE), 100)
            .unwrap()
    );
    let (m, r) = src.manifest_and_referrers(SCOPE, &tag("nope"), MAX, None, 100);
    assert!(m.unwrap_err().is_not_found());
    assert!(r.is_none());
}
