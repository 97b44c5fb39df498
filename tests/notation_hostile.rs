//! Hostile and negative Notation signatures from our own generator: keys and certificates made by
//! `openssl` (req, x509, ca), timestamps by `openssl ts`, JWS and COSE envelopes assembled here,
//! independent of the code under test. First the generator's valid output is shown accepted,
//! then each rule is broken once and the refusal names the rule.

mod common;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use common::notation_gen::*;
use time::OffsetDateTime;
use trustpin::notation::envelope::{MEDIA_TYPE_COSE, MEDIA_TYPE_JWS};
use trustpin::notation::manifest::{ManifestError, SignatureManifest};
use trustpin::notation::policy::{Check, TrustPolicy};
use trustpin::notation::revocation::Offline;
use trustpin::notation::truststore::TrustStores;
use trustpin::notation::verify::{Candidate, Limits, VerifyError};
use trustpin::reference::Digest;

/// A minimal CBOR writer for COSE_Sign1, written for the test.
fn cbor_head(out: &mut Vec<u8>, major: u8, n: usize) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n < 256 {
        out.extend([m | 24, n as u8]);
    } else if n < 65536 {
        out.push(m | 25);
        out.extend((n as u16).to_be_bytes());
    } else {
        out.push(m | 26);
        out.extend((n as u32).to_be_bytes());
    }
}
fn cbor_text(out: &mut Vec<u8>, s: &str) {
    cbor_head(out, 3, s.len());
    out.extend(s.as_bytes());
}
fn cbor_bytes(out: &mut Vec<u8>, b: &[u8]) {
    cbor_head(out, 2, b.len());
    out.extend(b);
}
fn cbor_nint(out: &mut Vec<u8>, n: i64) {
    cbor_head(out, 1, (-1 - n) as usize);
}

fn cose(
    g: &Gen,
    key: &str,
    alg: (&str, i64),
    chain: &[Vec<u8>],
    crit_extra: Option<&str>,
) -> Vec<u8> {
    let mut p = Vec::new();
    let extra = crit_extra.is_some() as usize;
    cbor_head(&mut p, 5, 5 + extra);
    cbor_head(&mut p, 0, 1);
    cbor_nint(&mut p, alg.1);
    cbor_head(&mut p, 0, 2);
    cbor_head(&mut p, 4, 1 + extra);
    cbor_text(&mut p, "io.cncf.notary.signingScheme");
    if let Some(x) = crit_extra {
        cbor_text(&mut p, x);
    }
    cbor_head(&mut p, 0, 3);
    cbor_text(&mut p, "application/vnd.cncf.notary.payload.v1+json");
    cbor_text(&mut p, "io.cncf.notary.signingScheme");
    cbor_text(&mut p, "notary.x509");
    cbor_text(&mut p, "io.cncf.notary.signingTime");
    cbor_head(&mut p, 6, 1);
    cbor_head(
        &mut p,
        0,
        OffsetDateTime::now_utc().unix_timestamp() as usize,
    );
    if let Some(x) = crit_extra {
        cbor_text(&mut p, x);
        cbor_text(&mut p, "value");
    }
    let payload = payload(&artifact()).into_bytes();
    let mut tbs = Vec::new();
    cbor_head(&mut tbs, 4, 4);
    cbor_text(&mut tbs, "Signature1");
    cbor_bytes(&mut tbs, &p);
    cbor_bytes(&mut tbs, &[]);
    cbor_bytes(&mut tbs, &payload);
    let sig = g.sign(key, alg.0, &tbs);
    let mut out = vec![0xd2];
    cbor_head(&mut out, 4, 4);
    cbor_bytes(&mut out, &p);
    cbor_head(&mut out, 5, 1);
    cbor_head(&mut out, 0, 33);
    cbor_head(&mut out, 4, chain.len());
    for c in chain {
        cbor_bytes(&mut out, c);
    }
    cbor_bytes(&mut out, &payload);
    cbor_bytes(&mut out, &sig);
    out
}

// ---- running a case --------------------------------------------------------------------------

fn verify(
    policy: &TrustPolicy,
    stores: &TrustStores,
    candidates: &[Candidate],
    at: OffsetDateTime,
) -> Result<trustpin::notation::verify::Verified, VerifyError> {
    verify_with(policy, stores, candidates, at, &Offline)
}

/// [`verify`] of one signature (manifest digest `[1; 32]`) under the generated policy, with or
/// without its tsa store.
fn verify_one(
    tsa: bool,
    stores: &TrustStores,
    media_type: &str,
    bytes: Vec<u8>,
    at: OffsetDateTime,
) -> Result<trustpin::notation::verify::Verified, VerifyError> {
    verify(
        &policy(tsa, ""),
        stores,
        &[candidate(media_type, bytes, 1)],
        at,
    )
}

#[track_caller]
fn refused(
    r: Result<trustpin::notation::verify::Verified, VerifyError>,
    check: Check,
    words: &str,
) {
    match r {
        Ok(_) => panic!("expected a refusal by {check:?} mentioning {words:?}"),
        Err(e) => {
            assert_eq!(e.check(), Some(check), "{e}");
            assert!(
                e.to_string().contains(words),
                "{e} does not mention {words:?}"
            );
            assert!(
                e.to_string().contains(&Digest([1; 32]).to_string()),
                "the failure names the signature: {e}"
            );
        }
    }
}

/// [`refused`] by [`Check::Integrity`] for one JWS signature under the generated policy without
/// a tsa store, now.
#[track_caller]
fn integrity_refused(stores: &TrustStores, jws: Vec<u8>, words: &str) {
    refused(
        verify_one(false, stores, MEDIA_TYPE_JWS, jws, now()),
        Check::Integrity,
        words,
    );
}

/// A CA and a leaf it issued; the leaf's extensions, key and digest as given.
fn ca_and_leaf(g: &Gen, leaf_key: &str, leaf_ext: &[&str], digest: &str) -> Vec<Vec<u8>> {
    g.root("ca", "/C=US/ST=WA/O=Generated/CN=Generated Root");
    g.key("leaf", leaf_key);
    g.issue("leaf", SUBJECT, "ca", leaf_ext, digest, None);
    vec![g.der("leaf"), g.der("ca")]
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

// ---- the generator's valid output is accepted --------------------------------------------------

#[test]
fn generated_rsa_chain_signatures_verify_in_jws_and_cose() {
    let g = Gen::new();
    let chain = ca_and_leaf(&g, "rsa:2048", LEAF_EXT, "sha256");
    let jws = Jws::new("PS256", chain.clone()).sign(&g, "leaf", "PS256", None);
    let cose = cose(&g, "leaf", ("PS256", -37), &chain, None);
    let s = stores(&g, "ca", None);
    let v = verify_one(false, &s, MEDIA_TYPE_JWS, jws, now()).unwrap();
    assert_eq!(
        v.signature().signer(),
        Some("CN=leaf,O=Generated,L=Seattle,ST=WA,C=US")
    );
    assert!(v.warnings().is_empty());
    verify_one(false, &s, MEDIA_TYPE_COSE, cose, now()).unwrap();
}

#[test]
fn every_key_size_and_curve_with_its_one_algorithm_verifies() {
    for (key, alg, cose_alg) in [
        ("rsa:3072", "PS384", -38),
        ("rsa:4096", "PS512", -39),
        ("ec:P-256", "ES256", -7),
        ("ec:P-384", "ES384", -35),
        ("ec:P-521", "ES512", -36),
    ] {
        let g = Gen::new();
        g.key("leaf", key);
        let digest = if key == "ec:P-521" {
            "sha512"
        } else {
            "sha256"
        };
        g.self_signed("leaf", SUBJECT, LEAF_EXT, digest);
        let chain = vec![g.der("leaf")];
        let s = stores(&g, "leaf", None);
        let jws = Jws::new(alg, chain.clone()).sign(&g, "leaf", alg, None);
        verify_one(false, &s, MEDIA_TYPE_JWS, jws, now())
            .unwrap_or_else(|e| panic!("{key} {alg}: {e}"));
        let c = cose(&g, "leaf", (alg, cose_alg), &chain, None);
        verify_one(false, &s, MEDIA_TYPE_COSE, c, now())
            .unwrap_or_else(|e| panic!("COSE {key} {alg}: {e}"));
    }
}

#[test]
fn a_generated_timestamp_keeps_an_expired_certificate_valid() {
    let g = Gen::new();
    let chain = ca_and_leaf(&g, "rsa:2048", LEAF_EXT, "sha256");
    g.tsa(TSA_EXT);
    let jws = Jws::new("PS256", chain).sign(&g, "leaf", "PS256", Some("tsa"));
    let s = stores(&g, "ca", Some("tsaroot"));
    let later = now() + time::Duration::days(60);
    // without a tsa store the chain has expired at `later`
    refused(
        verify_one(false, &s, MEDIA_TYPE_JWS, jws.clone(), later),
        Check::AuthenticTimestamp,
        "expired at",
    );
    let v = verify_one(true, &s, MEDIA_TYPE_JWS, jws, later).unwrap();
    let ts = v
        .signature()
        .timestamp
        .as_ref()
        .expect("a verified timestamp");
    assert!((ts.gen_time - now()).abs() < time::Duration::minutes(5));
    assert_eq!(ts.accuracy, time::Duration::seconds(1));
}

// ---- certificate rules -----------------------------------------------------------------------

fn leaf_refused(leaf_key: &str, leaf_ext: &[&str], digest: &str, words: &str) {
    let g = Gen::new();
    let chain = ca_and_leaf(&g, leaf_key, leaf_ext, digest);
    let alg = if leaf_key.starts_with("ec") {
        "ES256"
    } else {
        "PS256"
    };
    let jws = Jws::new(alg, chain).sign(&g, "leaf", alg, None);
    integrity_refused(&stores(&g, "ca", None), jws, words);
}

#[test]
fn a_leaf_with_key_encipherment_is_refused() {
    leaf_refused(
        "rsa:2048",
        &["keyUsage = critical, digitalSignature, keyEncipherment"],
        "sha256",
        "\"KeyEncipherment\"",
    );
}

#[test]
fn a_leaf_without_digital_signature_or_with_non_critical_key_usage_is_refused() {
    leaf_refused(
        "rsa:2048",
        &["keyUsage = critical, nonRepudiation"],
        "sha256",
        "\"Digital Signature\" set",
    );
    leaf_refused(
        "rsa:2048",
        &["keyUsage = digitalSignature"],
        "sha256",
        "key usage extension must be marked critical",
    );
    leaf_refused(
        "rsa:2048",
        &["extendedKeyUsage = codeSigning"],
        "sha256",
        "key usage extension must be present",
    );
}

#[test]
fn a_leaf_for_tls_or_timestamping_is_refused() {
    leaf_refused(
        "rsa:2048",
        &[
            "keyUsage = critical, digitalSignature",
            "extendedKeyUsage = serverAuth",
        ],
        "sha256",
        "must not contain ServerAuth",
    );
    leaf_refused(
        "rsa:2048",
        &[
            "keyUsage = critical, digitalSignature",
            "extendedKeyUsage = timeStamping",
        ],
        "sha256",
        "must not contain Timestamping",
    );
}

#[test]
fn a_ca_certificate_as_leaf_is_refused() {
    leaf_refused(
        "rsa:2048",
        &[
            "keyUsage = critical, digitalSignature",
            "basicConstraints = critical, CA:TRUE",
        ],
        "sha256",
        "the ca field must be set to false",
    );
}

#[test]
fn a_sha1_signed_certificate_is_refused() {
    leaf_refused("rsa:2048", LEAF_EXT, "sha1", "insecure algorithm");
}

/// A self-signed leaf with key `key`, its envelope changed by `change` and then signed with `alg`,
/// refused by integrity for `words`.
fn self_signed_refused(key: &str, alg: &str, change: impl FnOnce(&mut Jws), words: &str) {
    let g = Gen::new();
    let mut jws = Jws::new(alg, self_signed_leaf(&g, key));
    change(&mut jws);
    let bytes = jws.sign(&g, "leaf", alg, None);
    integrity_refused(&stores(&g, "leaf", None), bytes, words);
}

#[test]
fn an_rsa_1024_key_is_refused() {
    self_signed_refused(
        "rsa:1024",
        "PS256",
        |_| {},
        "rsa key size 1024 bits is not supported",
    );
}

#[test]
fn a_p192_key_is_refused() {
    self_signed_refused(
        "ec:prime192v1",
        "ES256",
        |_| {},
        "unsupported public key type",
    );
}

#[test]
fn a_ca_without_critical_basic_constraints_is_refused() {
    let g = Gen::new();
    g.key("ca", "rsa:2048");
    g.self_signed(
        "ca",
        "/C=US/ST=WA/O=Generated/CN=Weak Root",
        &[
            "basicConstraints = CA:TRUE",
            "keyUsage = critical, keyCertSign",
        ],
        "sha256",
    );
    g.key("leaf", "rsa:2048");
    g.issue("leaf", SUBJECT, "ca", LEAF_EXT, "sha256", None);
    let jws = Jws::new("PS256", vec![g.der("leaf"), g.der("ca")]).sign(&g, "leaf", "PS256", None);
    integrity_refused(
        &stores(&g, "ca", None),
        jws,
        "basic constraints must be present, critical",
    );
}

#[test]
fn a_chain_out_of_order_is_refused() {
    let g = Gen::new();
    let mut chain = ca_and_leaf(&g, "rsa:2048", LEAF_EXT, "sha256");
    chain.reverse();
    // the root is now first: its key did not make the signature, and it is no leaf
    let jws = Jws::new("PS256", chain).sign(&g, "leaf", "PS256", None);
    integrity_refused(&stores(&g, "ca", None), jws, "signature");
}

#[test]
fn a_signer_not_chaining_to_the_store_fails_authenticity() {
    let g = Gen::new();
    let chain = ca_and_leaf(&g, "rsa:2048", LEAF_EXT, "sha256");
    let jws = Jws::new("PS256", chain).sign(&g, "leaf", "PS256", None);
    g.root("other", "/C=US/ST=WA/O=Other/CN=Other Root");
    refused(
        verify_one(
            false,
            &stores(&g, "other", None),
            MEDIA_TYPE_JWS,
            jws,
            now(),
        ),
        Check::Authenticity,
        "not produced by a trusted signer",
    );
}

// ---- envelope rules --------------------------------------------------------------------------

fn self_signed_leaf(g: &Gen, key: &str) -> Vec<Vec<u8>> {
    g.key("leaf", key);
    g.self_signed("leaf", SUBJECT, LEAF_EXT, "sha256");
    vec![g.der("leaf")]
}

/// A JWS by a self-signed RSA 2048 leaf, PS256.
fn self_signed_jws(g: &Gen) -> Vec<u8> {
    Jws::new("PS256", self_signed_leaf(g, "rsa:2048")).sign(g, "leaf", "PS256", None)
}

#[test]
fn an_unknown_critical_header_fails_in_jws_and_cose() {
    let g = Gen::new();
    let chain = self_signed_leaf(&g, "rsa:2048");
    let mut jws = Jws::new("PS256", chain.clone());
    jws.protected = jws
        .protected
        .replace(
            r#"["io.cncf.notary.signingScheme"]"#,
            r#"["io.cncf.notary.signingScheme","io.example.mustUnderstand"]"#,
        )
        .replace("}", r#","io.example.mustUnderstand":true}"#);
    let bytes = jws.sign(&g, "leaf", "PS256", None);
    let s = stores(&g, "leaf", None);
    integrity_refused(&s, bytes, "not understood");
    let c = cose(
        &g,
        "leaf",
        ("PS256", -37),
        &chain,
        Some("io.example.mustUnderstand"),
    );
    refused(
        verify_one(false, &s, MEDIA_TYPE_COSE, c, now()),
        Check::Integrity,
        "not understood",
    );
    let mut jws = Jws::new("PS256", chain);
    jws.protected = jws
        .protected
        .replace(r#""crit":["io.cncf.notary.signingScheme"],"#, "");
    let bytes = jws.sign(&g, "leaf", "PS256", None);
    integrity_refused(&s, bytes, "missing \"crit\"");
}

#[test]
fn a_payload_naming_another_artifact_fails_integrity() {
    let change = |jws: &mut Jws| {
        let mut other = artifact();
        other.digest = Digest([0xcd; 32]);
        jws.payload = payload(&other);
    };
    self_signed_refused(
        "rsa:2048",
        "PS256",
        change,
        "does not match the given artifact",
    );
}

#[test]
fn an_algorithm_that_does_not_fit_the_key_fails() {
    self_signed_refused(
        "rsa:2048",
        "PS384",
        |_| {},
        "mismatch between signature algorithm",
    );
}

#[test]
fn a_tampered_payload_fails_the_signature() {
    let g = Gen::new();
    let bytes = self_signed_jws(&g);
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let mut other = artifact();
    other.size = 518;
    v["payload"] = URL_SAFE_NO_PAD.encode(payload(&other)).into();
    integrity_refused(
        &stores(&g, "leaf", None),
        serde_json::to_vec(&v).unwrap(),
        "signature does not verify",
    );
}

// ---- bombs -----------------------------------------------------------------------------------

#[test]
fn signature_count_and_size_bombs_are_bounded() {
    let g = Gen::new();
    let good = self_signed_jws(&g);
    let s = stores(&g, "leaf", None);
    // 150 broken signatures, then a good one: only 100 are tried, and the run says so
    let mut many: Vec<Candidate> = (0..150)
        .map(|i| candidate(MEDIA_TYPE_JWS, b"{}".to_vec(), (i % 250) as u8 + 1))
        .collect();
    many.push(candidate(MEDIA_TYPE_JWS, good.clone(), 9));
    let start = std::time::Instant::now();
    let e = verify(&policy(false, ""), &s, &many, now()).unwrap_err();
    assert!(
        matches!(&e, VerifyError::TooManySignatures { limit: 100, reports } if reports.len() == 100),
        "{e}"
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    // a good signature after a broken one is found
    let v = verify(
        &policy(false, ""),
        &s,
        &[
            candidate(MEDIA_TYPE_JWS, b"{}".to_vec(), 1),
            candidate(MEDIA_TYPE_JWS, good, 2),
        ],
        now(),
    )
    .unwrap();
    assert_eq!(v.reports().len(), 2);
    // an envelope over the size limit is refused before parsing
    let huge = vec![b' '; Limits::default().max_envelope_bytes + 1];
    integrity_refused(&s, huge, "more than");
    // a manifest that claims a huge envelope is refused before the blob is fetched
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.cncf.notary.signature","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/jose+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":99999999999}]}"#;
    assert!(matches!(
        SignatureManifest::parse(manifest, 1 << 20),
        Err(ManifestError::EnvelopeTooLarge { .. })
    ));
    // a chain of more certificates than allowed
    let many_certs = Jws::new("PS256", vec![g.der("leaf"); 11]).sign(&g, "leaf", "PS256", None);
    integrity_refused(&s, many_certs, "more than 10 certificates");
}

// ---- timestamps ------------------------------------------------------------------------------

/// A chain whose leaf is valid only from `start` to `end`, and a TSA with `tsa_ext`.
fn stamped(g: &Gen, start: &str, end: &str, tsa_ext: &[&str]) -> Vec<u8> {
    g.root("ca", "/C=US/ST=WA/O=Generated/CN=Generated Root");
    g.key("leaf", "rsa:2048");
    g.issue(
        "leaf",
        SUBJECT,
        "ca",
        LEAF_EXT,
        "sha256",
        Some((start, end)),
    );
    g.tsa(tsa_ext);
    Jws::new("PS256", vec![g.der("leaf"), g.der("ca")]).sign(g, "leaf", "PS256", Some("tsa"))
}

/// [`refused`] by [`Check::AuthenticTimestamp`] for one JWS signature under the generated policy
/// with its tsa store.
#[track_caller]
fn timestamp_refused(stores: &TrustStores, jws: Vec<u8>, at: OffsetDateTime, words: &str) {
    refused(
        verify_one(true, stores, MEDIA_TYPE_JWS, jws, at),
        Check::AuthenticTimestamp,
        words,
    );
}

#[test]
fn a_timestamp_outside_the_certificates_validity_is_refused() {
    for (start, end, at, words) in [
        (
            "20990101000000Z",
            "21000101000000Z",
            time::macros::datetime!(2099-06-01 00:00 UTC),
            "timestamp can be before certificate",
        ),
        (
            "20000101000000Z",
            "20010101000000Z",
            now(),
            "timestamp can be after certificate",
        ),
    ] {
        let g = Gen::new();
        let jws = stamped(&g, start, end, TSA_EXT);
        timestamp_refused(&stores(&g, "ca", Some("tsaroot")), jws, at, words);
    }
}

#[test]
fn a_tsa_certificate_without_the_timestamping_eku_is_refused() {
    let g = Gen::new();
    let jws = stamped(&g, "20000101000000Z", "21000101000000Z", TSA_EXT);
    let mut v: serde_json::Value = serde_json::from_slice(&jws).unwrap();
    let bad: [(&str, &[&str], &str); 2] = [
        (
            "codesigner",
            &[
                "keyUsage = critical, digitalSignature",
                "extendedKeyUsage = critical, codeSigning",
            ],
            "must have and only have Timestamping",
        ),
        (
            "noncritical",
            &[
                "keyUsage = critical, digitalSignature",
                "extendedKeyUsage = timeStamping",
            ],
            "marked as critical",
        ),
    ];
    for (name, ext, _) in bad {
        g.key(name, "rsa:2048");
        g.issue(
            name,
            "/C=US/ST=WA/O=Generated/CN=Bad TSA",
            "tsaroot",
            ext,
            "sha256",
            None,
        );
    }
    // a token from the good TSA, which each bad TSA re-signs below
    let signature = URL_SAFE_NO_PAD
        .decode(v["signature"].as_str().unwrap())
        .unwrap();
    let token = g.timestamp(&signature, "tsa");
    let s = stores(&g, "ca", Some("tsaroot"));
    // the generator's re-signing itself is sound: by the proper TSA, the token still stands
    v["header"]["io.cncf.notary.timestampSignature"] =
        STANDARD.encode(g.resign_token(&token, "tsa")).into();
    verify_one(
        true,
        &s,
        MEDIA_TYPE_JWS,
        serde_json::to_vec(&v).unwrap(),
        now(),
    )
    .unwrap();
    for (name, _, words) in bad {
        v["header"]["io.cncf.notary.timestampSignature"] =
            STANDARD.encode(g.resign_token(&token, name)).into();
        timestamp_refused(&s, serde_json::to_vec(&v).unwrap(), now(), words);
    }
}

#[test]
fn a_timestamp_of_another_signature_is_refused() {
    let g = Gen::new();
    let jws = stamped(&g, "20000101000000Z", "21000101000000Z", TSA_EXT);
    let token = g.timestamp(b"some other signature", "tsa");
    let mut v: serde_json::Value = serde_json::from_slice(&jws).unwrap();
    v["header"]["io.cncf.notary.timestampSignature"] = STANDARD.encode(token).into();
    timestamp_refused(
        &stores(&g, "ca", Some("tsaroot")),
        serde_json::to_vec(&v).unwrap(),
        now(),
        "mismatched message",
    );
}
