//! notation-go's and notation-core-go's own test vectors (../shared/notation-data/library), with
//! the outcomes their tests expect: timestamp countersignatures in JWS and COSE envelopes, the
//! trust store loader, trusted identities, certificate files.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use trustpin::notation::cert::Cert;
use trustpin::notation::chain::Purpose;
use trustpin::notation::envelope::{self, MEDIA_TYPE_COSE, MEDIA_TYPE_JWS};
use trustpin::notation::identity::{check_leaf, TrustedIdentity};
use trustpin::notation::policy::{Check, StoreRef, StoreType, TrustPolicy};
use trustpin::notation::revocation::{CertStatus, Offline, RevocationChecker};
use trustpin::notation::timestamp;
use trustpin::notation::truststore::{self, read_certificates, TrustStoreError};
use trustpin::notation::verify::{verify_artifact, Candidate, CheckResult, Limits};
use trustpin::reference::Digest;

fn library() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/notation-data/library");
    assert!(
        dir.is_dir(),
        "the shared Notation test vectors are missing: expected them at {} (../shared/notation-data/library beside the crate)",
        dir.display()
    );
    dir
}

fn verifier_data() -> PathBuf {
    library().join("notation-go/verifier/testdata")
}

/// Stands in for the OCSP/CRL responders of the real TSAs, which notation-go's passing rows reach
/// over the network; [`Offline`] is checked separately.
struct AllGood;
impl RevocationChecker for AllGood {
    fn status(&self, _: &Cert, _: &Cert, _: Purpose) -> CertStatus {
        CertStatus::Good
    }
}

/// The authenticTimestamp outcome of one envelope under a strict policy (authenticity and expiry
/// logged, revocation skipped, so that the timestamp check is reached) with `tsa` stores.
fn authentic_timestamp(
    file: &str,
    tsa: Option<&str>,
    verify_timestamp: &str,
    checker: &dyn RevocationChecker,
) -> CheckResult {
    let media_type = if file.starts_with("cose") || file == "timestampAfterNotAfter.sig" {
        MEDIA_TYPE_COSE
    } else {
        MEDIA_TYPE_JWS
    };
    let bytes = std::fs::read(verifier_data().join("timestamp/sigEnv").join(file)).unwrap();
    let stores = match tsa {
        Some(t) => format!(r#""ca:valid-trust-store","tsa:{t}""#),
        None => r#""ca:valid-trust-store""#.to_string(),
    };
    let policy = TrustPolicy::parse(format!(r#"{{"version":"1.0","trustPolicies":[{{"name":"t","registryScopes":["*"],
        "signatureVerification":{{"level":"strict","verifyTimestamp":"{verify_timestamp}","override":{{"authenticity":"log","expiry":"log","revocation":"skip"}}}},
        "trustStores":[{stores}],"trustedIdentities":["*"]}}]}}"#).as_bytes()).unwrap();
    let statement = &policy.statements[0];
    let stores = truststore::load(&verifier_data().join("truststore"), &statement.trust_stores);
    // The artifact is the one the envelope names: these vectors are about the timestamp.
    let target = envelope::open(media_type, &bytes, 1 << 20).unwrap().target;
    let candidate = Candidate {
        manifest_digest: Digest([7; 32]),
        envelope: Ok((media_type.to_string(), bytes)),
    };
    let reports = match verify_artifact(
        statement,
        &stores,
        &target,
        "vector",
        &[candidate],
        OffsetDateTime::now_utc(),
        checker,
        &Limits::default(),
    ) {
        Ok(v) => v.reports().to_vec(),
        Err(e) => e.reports().to_vec(),
    };
    let report = reports.first().expect("one signature tried");
    report
        .checks
        .iter()
        .find(|c| c.check == Check::AuthenticTimestamp)
        .unwrap()
        .result
        .clone()
}

#[track_caller]
fn expect_failure(result: CheckResult, words: &str) {
    match result {
        CheckResult::Failed(e) => assert!(e.contains(words), "{e:?} does not contain {words:?}"),
        other => panic!("expected a failure with {words:?}, got {other:?}"),
    }
}

#[test]
fn jws_and_cose_timestamps_verify_against_the_globalsign_root() {
    for file in ["jwsWithTimestamp.sig", "coseWithTimestamp.sig"] {
        assert_eq!(
            authentic_timestamp(file, Some("test-timestamp"), "always", &AllGood),
            CheckResult::Passed,
            "{file}"
        );
    }
}

#[test]
fn an_expired_signing_certificate_stands_when_the_timestamp_is_inside_its_validity() {
    for file in [
        "jwsExpiredWithTimestamp.sig",
        "coseExpiredWithTimestamp.sig",
    ] {
        assert_eq!(
            authentic_timestamp(file, Some("test-timestamp"), "always", &AllGood),
            CheckResult::Passed,
            "{file}"
        );
    }
    assert_eq!(
        authentic_timestamp(
            "coseWithTimestamp.sig",
            Some("test-timestamp"),
            "afterCertExpiry",
            &AllGood
        ),
        CheckResult::Passed
    );
}

#[test]
fn without_a_tsa_store_an_expired_certificate_fails() {
    expect_failure(
        authentic_timestamp("coseExpiredWithTimestamp.sig", None, "always", &AllGood),
        r#"verification time is after certificate "CN=testTSA,O=Notary,L=Seattle,ST=WA,C=US" validity period, it was expired at "Tue, 18 Jun 2024 07:30:31 +0000""#,
    );
}

#[test]
fn a_missing_countersignature_fails() {
    expect_failure(
        authentic_timestamp(
            "withoutTimestamp.sig",
            Some("test-timestamp"),
            "always",
            &AllGood,
        ),
        "no timestamp countersignature was found in the signature envelope",
    );
}

#[test]
fn a_timestamp_outside_the_signing_certificates_validity_fails() {
    expect_failure(
        authentic_timestamp(
            "timestampBeforeNotBefore.sig",
            Some("test-timestamp"),
            "always",
            &AllGood,
        ),
        r#"timestamp can be before certificate "CN=testTSA,O=Notary,L=Seattle,ST=WA,C=US" validity period, it will be valid from "Fri, 18 Sep 2099 11:54:34 +0000""#,
    );
    expect_failure(
        authentic_timestamp(
            "timestampAfterNotAfter.sig",
            Some("test-timestamp"),
            "always",
            &AllGood,
        ),
        r#"timestamp can be after certificate "CN=testTSA,O=Notary,L=Seattle,ST=WA,C=US" validity period, it was expired at "Tue, 18 Sep 2001 11:54:34 +0000""#,
    );
}

#[test]
fn a_tsa_root_that_did_not_issue_the_tsa_certificate_fails() {
    expect_failure(
        authentic_timestamp(
            "coseWithTimestamp.sig",
            Some("test-mismatch"),
            "always",
            &AllGood,
        ),
        "cms verification failure: x509: certificate signed by unknown authority",
    );
    expect_failure(
        authentic_timestamp(
            "coseWithTimestamp.sig",
            Some("does-not-exist"),
            "always",
            &AllGood,
        ),
        r#"failed to load tsa trust store with error: the trust store "does-not-exist" of type "tsa" does not exist"#,
    );
}

#[test]
fn offline_the_tsa_chains_revocation_is_unknown_and_the_timestamp_does_not_stand() {
    expect_failure(
        authentic_timestamp(
            "jwsWithTimestamp.sig",
            Some("test-timestamp"),
            "always",
            &Offline,
        ),
        "revocation status is unknown",
    );
}

fn token(name: &str) -> Vec<u8> {
    std::fs::read(
        verifier_data()
            .join("timestamp/countersignature")
            .join(name),
    )
    .unwrap()
}

#[test]
fn countersignature_vectors_fail_at_the_step_notation_names() {
    let e = timestamp::parse(
        &token("TimeStampTokenWithInvalideContentType.p7s"),
        b"notation",
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "failed to parse timestamp countersignature with error: unexpected content type: 1.2.840.113549.1.7.1. Expected to be id-ct-TSTInfo (1.2.840.113549.1.9.16.1.4)");
    let e =
        timestamp::parse(&token("TimeStampTokenWithInvalidTSTInfo.p7s"), b"notation").unwrap_err();
    assert!(e.to_string().starts_with("failed to get the timestamp TSTInfo with error: cannot unmarshal TSTInfo from timestamp token: "), "{e}");
    let e = timestamp::parse(&token("TimeStampToken.p7s"), b"mismatch").unwrap_err();
    assert_eq!(e.to_string(), "failed to get timestamp from timestamp countersignature with error: invalid TSTInfo: mismatched message");
    let roots = truststore::load(
        &verifier_data().join("truststore"),
        &[StoreRef {
            kind: StoreType::Tsa,
            name: "test-timestamp".into(),
        }],
    );
    let roots = roots
        .get(&StoreRef {
            kind: StoreType::Tsa,
            name: "test-timestamp".into(),
        })
        .unwrap()
        .clone()
        .unwrap();
    let e = timestamp::parse(&token("TimeStampTokenWithoutCertificate.p7s"), b"notation")
        .unwrap()
        .verify(&roots)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("signing certificate not found in the timestamp token"),
        "{e}"
    );
}

/// Why [`load`] refuses the store, as it says it.
fn load_err(kind: StoreType, name: &str) -> String {
    load(kind, name).unwrap_err().to_string()
}

fn load(kind: StoreType, name: &str) -> Result<Vec<Cert>, TrustStoreError> {
    let r = StoreRef {
        kind,
        name: name.into(),
    };
    truststore::load(&verifier_data().join("truststore"), [&r])
        .get(&r)
        .unwrap()
        .clone()
}

#[test]
fn trust_store_vectors_load_or_fail_as_notation_go_says() {
    assert!(load(StoreType::Ca, "valid-trust-store").unwrap().len() >= 6);
    assert_eq!(
        load(StoreType::Ca, "valid-trust-store-self-signed")
            .unwrap()
            .len(),
        1
    );
    assert!(!load(StoreType::Tsa, "test-timestamp").unwrap().is_empty());
    let e = load_err(StoreType::Ca, "trust-store-with-invalid-certs");
    assert!(e.starts_with("failed to read the trusted certificate invalid in trust store trust-store-with-invalid-certs of type ca"), "{e}");
    let e = load_err(StoreType::Ca, "trust-store-with-leaf-certs");
    assert!(
        e.contains("failed to validate the trusted certificate non-ca.crt"),
        "{e}"
    );
    assert!(e.contains(r#"certificate with subject "CN=wabbit-networks.io,O=Notary,L=Seattle,ST=WA,C=US" is not a CA certificate or self-signed signing certificate"#), "{e}");
    let e = load_err(StoreType::Ca, "trust-store-with-leaf-certs-in-single-file");
    assert!(
        e.contains("failed to validate the trusted certificate RootAndLeafCerts.crt"),
        "{e}"
    );
    let e = load_err(StoreType::Tsa, "test-nonCA");
    assert!(e.contains("is not a root CA certificate: x509: invalid signature: parent certificate cannot sign this kind of certificate"), "{e}");
    let e = load_err(StoreType::Tsa, "test-nonSelfIssued");
    assert!(
        e.contains("issuer (CN=Notation Test Revokable RSA Chain Cert Root,")
            && e.contains("and subject (CN=Notation Test Revokable RSA Chain Cert 2,")
            && e.ends_with("are not the same"),
        "{e}"
    );
    assert!(matches!(
        load(StoreType::Ca, "no-such-store"),
        Err(TrustStoreError::Missing { .. })
    ));
}

#[test]
fn symlinks_are_refused_and_sub_directories_ignored_with_a_warning() {
    let src = verifier_data()
        .join("truststore/x509/ca/valid-trust-store-self-signed/openssl-minimum-self-signed.pem");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("x509/ca");
    std::fs::create_dir_all(ca.join("real/sub")).unwrap();
    std::fs::copy(&src, ca.join("real/root.pem")).unwrap();
    std::fs::copy(&src, ca.join("real/sub/ignored.pem")).unwrap();
    std::os::unix::fs::symlink(ca.join("real"), ca.join("linked")).unwrap();
    std::fs::create_dir_all(ca.join("filelink")).unwrap();
    std::os::unix::fs::symlink(&src, ca.join("filelink/root.pem")).unwrap();
    std::fs::create_dir_all(ca.join("onlysub/sub")).unwrap();
    std::fs::copy(&src, ca.join("onlysub/sub/root.pem")).unwrap();
    let refs: Vec<StoreRef> = ["real", "linked", "filelink", "onlysub"]
        .iter()
        .map(|n| StoreRef {
            kind: StoreType::Ca,
            name: n.to_string(),
        })
        .collect();
    let stores = truststore::load(dir.path(), &refs);
    assert_eq!(
        stores.get(&refs[0]).unwrap().as_ref().unwrap().len(),
        1,
        "the sub-directory's certificate confers nothing"
    );
    assert!(
        stores
            .warnings
            .iter()
            .any(|w| w.contains("sub-directory sub") && w.contains("ignored")),
        "{:?}",
        stores.warnings
    );
    assert!(matches!(
        stores.get(&refs[1]).unwrap(),
        Err(TrustStoreError::NotADirectory { .. })
    ));
    assert!(matches!(
        stores.get(&refs[2]).unwrap(),
        Err(TrustStoreError::Symlink { .. })
    ));
    assert!(matches!(
        stores.get(&refs[3]).unwrap(),
        Err(TrustStoreError::Empty { .. })
    ));
}

fn pem_cert(path: &Path) -> Cert {
    read_certificates(&std::fs::read(path).unwrap())
        .unwrap()
        .remove(0)
}

#[test]
fn trusted_identities_match_as_in_notation_gos_verifier_tests() {
    let cert = pem_cert(&verifier_data().join("verifier/signing-cert.pem"));
    assert_eq!(
        cert.subject,
        "CN=SomeCN,OU=SomeOU,O=SomeOrg,L=Seattle,ST=WA,C=US"
    );
    let ids = |list: &[&str]| {
        list.iter()
            .map(|s| TrustedIdentity::parse(s).unwrap())
            .collect::<Vec<_>>()
    };
    let matching = "x509.subject:C=US,O=SomeOrg,ST=WA";
    let other = "x509.subject:C=IND,O=SomeOrg,ST=TS";
    assert!(check_leaf("p", &ids(&[matching]), &cert.subject).is_ok());
    assert!(check_leaf(
        "p",
        &ids(&["nonX509Prefix:my-custom-identity", matching]),
        &cert.subject
    )
    .is_ok());
    assert!(check_leaf("p", &ids(&[other, matching]), &cert.subject).is_ok());
    assert!(check_leaf("p", &ids(&["*"]), &cert.subject).is_ok());
    assert!(check_leaf("p", &ids(&[other]), &cert.subject)
        .unwrap_err()
        .contains("does not match the X.509 trusted identities"));
    assert!(check_leaf(
        "p",
        &ids(&["nonX509Prefix:my-custom-identity"]),
        &cert.subject
    )
    .unwrap_err()
    .contains("no x509 trusted identities"));
    assert!(TrustedIdentity::parse("x509.subject:C=bad=#identity,O=SomeOrg,ST=WA").is_err());
    let bad = pem_cert(&verifier_data().join("verifier/bad-cert.pem"));
    assert!(
        check_leaf("p", &ids(&[matching]), &bad.subject).is_err(),
        "{}",
        bad.subject
    );
}

#[test]
fn certificate_files_in_pem_der_and_several_per_file() {
    let dir = library().join("notation-core-go/x509/testdata");
    let count = |f: &str| read_certificates(&std::fs::read(dir.join(f)).unwrap()).map(|c| c.len());
    assert_eq!(count("pem.crt"), Ok(1));
    assert_eq!(count("multi-pem.crt"), Ok(2));
    assert_eq!(count("der.der"), Ok(1));
    assert_eq!(count("multi-der.der"), Ok(2));
    assert!(count("invalid").is_err());
    let chain: Vec<Cert> = [
        "timestamp_leaf.crt",
        "timestamp_intermediate.crt",
        "timestamp_root.crt",
    ]
    .iter()
    .map(|f| pem_cert(&dir.join(f)))
    .collect();
    trustpin::notation::chain::validate(&chain, Purpose::Timestamping, None).unwrap();
    assert!(trustpin::notation::chain::validate(&chain, Purpose::CodeSigning, None).is_err());
}
