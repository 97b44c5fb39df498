//! Revocation of Notation signatures, checked for real: certificates made by `openssl ca` whose
//! leaf names an OCSP responder and a CRL distribution point on loopback; the responder is a
//! real `openssl ocsp` started on a free port (and killed after); CRLs are made by
//! `openssl ca -gencrl` (after `openssl ca -revoke`) and served by the loopback test server.
//! The signatures come from the shared generator (tests/common/notation_gen.rs).
//!
//! Library cases run [`HttpRevocation`] under [`verify_artifact`]; the CLI cases run
//! `trustpin verify --oci-layout` for its exit codes and notation's words per policy level.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::notation_gen::*;
use common::oci_data::{LayoutBuilder, SIGNATURE};
use common::server::{Length, Reply, Response, TestServer};
use common::{free_port, Output};
use time::OffsetDateTime;
use trustpin::fetch::revocation::{HttpRevocation, RevocationOptions};
use trustpin::notation::envelope::{Artifact, MEDIA_TYPE_JWS};
use trustpin::notation::policy::Check;
use trustpin::notation::revocation::{crl, ocsp};
use trustpin::notation::truststore::TrustStores;
use trustpin::notation::verify::{Verified, VerifyError};
use trustpin::reference::Digest;

const CA_SUBJECT: &str = "/C=US/ST=WA/O=Generated/CN=Revocation CA";
const LEAF_NAME: &str = "CN=leaf,O=Generated,L=Seattle,ST=WA,C=US";

/// A real `openssl ocsp` responder, killed when dropped.
struct Responder(Child);

impl Responder {
    /// `openssl ocsp` answering from `ca`'s database on `port`, signing with `signer` (the CA
    /// itself or a delegated responder); responses valid 60 minutes.
    fn start(g: &Gen, ca: &str, signer: &str, port: u16) -> Responder {
        g.ca_db(ca);
        let mut child = Command::new("openssl")
            .args([
                "ocsp",
                "-index",
                &format!("{ca}-db/index.txt"),
                "-port",
                &port.to_string(),
                "-rsigner",
                &format!("{signer}.pem"),
                "-rkey",
                &format!("{signer}.key"),
                "-CA",
                &format!("{ca}.pem"),
                "-nmin",
                "60",
                "-ignore_err",
            ])
            .current_dir(g.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl ocsp starts (openssl is needed for these tests)");
        // Ready once it says so on stderr (a probing connection would block this one-request-
        // at-a-time server); the thread drains stderr until the process ends.
        let stderr = child.stderr.take().unwrap();
        let mut responder = Responder(child);
        let (ready, waiting) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("waiting for OCSP client connections") {
                    let _ = ready.send(());
                }
            }
        });
        if waiting.recv_timeout(Duration::from_secs(10)).is_err() {
            let _ = responder.0.kill();
            panic!("openssl ocsp did not start listening on port {port} within 10 s");
        }
        responder
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One test's PKI: the CA `ca` with its database, a delegated OCSP responder certificate
/// `ocsp` (OCSPSigning EKU), a port for the responder and a server for CRLs (`/ca.crl`).
struct Pki {
    g: Gen,
    ocsp_port: u16,
    crls: TestServer,
}

impl Pki {
    fn new() -> Pki {
        Pki::with_crl_server(TestServer::start())
    }

    /// A new PKI with its signing leaf naming what `ocsp` and `crl` say ([`Pki::leaf`]).
    fn with_leaf(ocsp: bool, crl: bool) -> Pki {
        let pki = Pki::new();
        pki.leaf(ocsp, crl);
        pki
    }

    /// The PKI with its CRLs on `crls` (an https one, say).
    fn with_crl_server(crls: TestServer) -> Pki {
        let g = Gen::new();
        g.root("ca", CA_SUBJECT);
        g.ca_issue(
            "ocsp",
            "/C=US/ST=WA/O=Generated/CN=Revocation OCSP",
            "ca",
            &[
                "keyUsage = critical, digitalSignature",
                "extendedKeyUsage = critical, OCSPSigning",
                "basicConstraints = CA:FALSE",
            ],
        );
        Pki {
            g,
            ocsp_port: free_port(),
            crls,
        }
    }

    fn ocsp_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ocsp_port)
    }

    fn crl_url(&self) -> String {
        format!("{}/ca.crl", self.crls.url())
    }

    /// A certificate `name` issued by the CA with `ext`, naming the responder when `ocsp`, the
    /// distribution point when `crl`.
    fn issue(&self, name: &str, subject: &str, ext: &[&str], ocsp: bool, crl: bool) {
        let mut ext: Vec<String> = ext.iter().map(|e| e.to_string()).collect();
        if ocsp {
            ext.push(format!(
                "authorityInfoAccess = OCSP;URI:{}",
                self.ocsp_url()
            ));
        }
        if crl {
            ext.push(format!("crlDistributionPoints = URI:{}", self.crl_url()));
        }
        let ext: Vec<&str> = ext.iter().map(String::as_str).collect();
        self.g.ca_issue(name, subject, "ca", &ext);
    }

    /// The signing leaf `leaf`, naming what `ocsp` and `crl` say.
    fn leaf(&self, ocsp: bool, crl: bool) {
        self.issue(
            "leaf",
            "/C=US/ST=WA/L=Seattle/O=Generated/CN=leaf",
            LEAF_EXT,
            ocsp,
            crl,
        );
    }

    /// The CA's CRL now (valid a day), served at `/ca.crl`.
    fn serve_crl(&self) {
        let crl = self.g.gencrl("ca", "ca", &[]);
        self.crls.serve("/ca.crl", 200, crl);
    }

    fn responder(&self) -> Responder {
        Responder::start(&self.g, "ca", "ocsp", self.ocsp_port)
    }

    /// A JWS signed by `leaf` over the generated artifact (chain leaf, CA), stamped by `tsa`.
    fn jws(&self, tsa: Option<&str>) -> Vec<u8> {
        let chain = vec![self.g.der("leaf"), self.g.der("ca")];
        Jws::new("PS256", chain).sign(&self.g, "leaf", "PS256", tsa)
    }

    fn stores(&self, tsa: bool) -> TrustStores {
        stores(&self.g, "ca", tsa.then_some("ca"))
    }
}

fn checker() -> HttpRevocation {
    HttpRevocation::new(RevocationOptions::default())
}

/// The generated JWS verified now under the generated policy (`extra` as [`policy`] takes it).
fn verify_jws(
    pki: &Pki,
    jws: Vec<u8>,
    tsa: bool,
    extra: &str,
    checker: &HttpRevocation,
) -> Result<Verified, VerifyError> {
    verify_with(
        &policy(tsa, extra),
        &pki.stores(tsa),
        &[candidate(MEDIA_TYPE_JWS, jws, 1)],
        OffsetDateTime::now_utc(),
        checker,
    )
}

#[track_caller]
fn refused_by(r: Result<Verified, VerifyError>, check: Check, words: &[&str]) -> String {
    match r {
        Ok(_) => panic!("expected a refusal by {check:?} mentioning {words:?}"),
        Err(e) => {
            let text = e.to_string();
            assert_eq!(e.check(), Some(check), "{text}");
            for w in words {
                assert!(text.contains(w), "{text}\ndoes not mention {w:?}");
            }
            text
        }
    }
}

#[track_caller]
fn verified(r: Result<Verified, VerifyError>) -> Verified {
    r.unwrap_or_else(|e| panic!("expected verified, got: {e}"))
}

/// `crl` served as the CA's CRL makes the leaf's status unknown, for the reasons `words`.
#[track_caller]
fn crl_refused(pki: &Pki, crl: Vec<u8>, words: &[&str]) {
    pki.crls.serve("/ca.crl", 200, crl);
    let mut all = vec!["revocation status is unknown"];
    all.extend_from_slice(words);
    refused_by(
        verify_jws(pki, pki.jws(None), false, "", &checker()),
        Check::Revocation,
        &all,
    );
}

// ---- OCSP ------------------------------------------------------------------------------------

#[test]
fn a_good_certificate_is_verified_by_the_real_responder_once_per_run() {
    let pki = Pki::with_leaf(true, true);
    let _responder = pki.responder();
    let c = checker();
    let v = verified(verify_jws(&pki, pki.jws(None), false, "", &c));
    assert!(v.warnings().is_empty(), "{:?}", v.warnings());
    assert_eq!(c.requests(), 1, "OCSP answered: the CRL is not fetched");
    assert_eq!(pki.crls.total_requests(), 0);
    // The same certificate and issuer again: answered from the run's cache.
    verified(verify_jws(&pki, pki.jws(None), false, "", &c));
    assert_eq!(c.requests(), 1, "asked once per run");
}

#[test]
fn a_certificate_revoked_at_the_responder_is_refused() {
    let pki = Pki::with_leaf(true, true);
    pki.g.revoke("leaf", "ca");
    // The CRL does not list it: OCSP's "revoked" is the answer, not a reason to look further.
    pki.crls.serve("/ca.crl", 200, Vec::new());
    let _responder = pki.responder();
    let c = checker();
    refused_by(
        verify_jws(&pki, pki.jws(None), false, "", &c),
        Check::Revocation,
        &[&format!(
            "signing certificate with subject {LEAF_NAME:?} is revoked"
        )],
    );
    assert_eq!(pki.crls.total_requests(), 0);
}

/// A request too long for GET is POSTed (`application/ocsp-request`), as notation-core-go does
/// when the escaped base64 is 255 characters or more, and the real responder answers it. Our own
/// request (one SHA-1 CertID, a serial of at most 20 bytes) always fits GET, so the long one is
/// openssl's, for four certificates, sent through the checker's transport.
#[test]
fn a_request_too_long_for_get_is_posted_to_the_real_responder() {
    use trustpin::notation::revocation::Fetch as _;
    let pki = Pki::with_leaf(true, true);
    let (leaf, ca) = (cert(&pki, "leaf"), cert(&pki, "ca"));
    let mut args = vec![
        "ocsp",
        "-issuer",
        "ca.pem",
        "-no_nonce",
        "-reqout",
        "long.der",
    ];
    for c in ["leaf.pem", "ocsp.pem", "leaf.pem", "ocsp.pem"] {
        args.extend(["-cert", c]);
    }
    pki.g.openssl(&args);
    let request = std::fs::read(pki.g.path("long.der")).unwrap();
    assert_eq!(
        ocsp::get_url(&pki.ocsp_url(), &request),
        None,
        "too long for GET"
    );
    assert!(ocsp::get_url(&pki.ocsp_url(), &ocsp::request(&leaf, &ca).unwrap()).is_some());
    for (revoke, answer) in [(false, ocsp::Answer::Good), (true, ocsp::Answer::Revoked)] {
        if revoke {
            pki.g.revoke("leaf", "ca");
        }
        let _responder = pki.responder();
        let c = checker();
        let body = c.ocsp(&pki.ocsp_url(), &request).expect("POST answered");
        assert_eq!(c.requests(), 1);
        let got = ocsp::check(&body, &leaf, &ca, OffsetDateTime::now_utc()).unwrap();
        assert_eq!(got, answer, "the responder read the POSTed request");
    }
}

#[test]
fn a_response_from_an_unauthorised_responder_is_not_believed() {
    let pki = Pki::new();
    // Issued by the CA but without the OCSPSigning EKU.
    pki.g.ca_issue(
        "notocsp",
        "/C=US/ST=WA/O=Generated/CN=Not A Responder",
        "ca",
        LEAF_EXT,
    );
    // Another CA's responder, with the EKU.
    pki.g.root("other", "/C=US/ST=WA/O=Generated/CN=Other CA");
    pki.g.ca_issue(
        "otherocsp",
        "/C=US/ST=WA/O=Generated/CN=Other OCSP",
        "other",
        &["extendedKeyUsage = OCSPSigning"],
    );
    pki.leaf(true, false);
    for (signer, words) in [
        ("notocsp", "lacks the OCSPSigning extended key usage"),
        ("otherocsp", "was not issued by the certificate's issuer"),
    ] {
        let _responder = Responder::start(&pki.g, "ca", signer, pki.ocsp_port);
        refused_by(
            verify_jws(&pki, pki.jws(None), false, "", &checker()),
            Check::Revocation,
            &[
                &format!(
                    "signing certificate with subject {LEAF_NAME:?} revocation status is unknown"
                ),
                "unauthorised responder",
                words,
            ],
        );
    }
    // The same responder with its delegation in order is believed.
    let _responder = pki.responder();
    verified(verify_jws(&pki, pki.jws(None), false, "", &checker()));
}

// ---- the sans-IO core on openssl's own bytes ------------------------------------------------

/// `openssl ocsp` as a client (`-reqout`) and as an offline responder (`-reqin ... -respout`):
/// the request it makes for the leaf, and the response `signer` gives to it (`extra`: -nmin, ...).
fn openssl_ocsp(pki: &Pki, signer: &str, extra: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let g = &pki.g;
    g.openssl(&[
        "ocsp",
        "-issuer",
        "ca.pem",
        "-cert",
        "leaf.pem",
        "-no_nonce",
        "-reqout",
        "req.der",
    ]);
    let (rsigner, rkey) = (format!("{signer}.pem"), format!("{signer}.key"));
    let mut args = vec![
        "ocsp",
        "-index",
        "ca-db/index.txt",
        "-rsigner",
        &rsigner,
        "-rkey",
        &rkey,
        "-CA",
        "ca.pem",
        "-reqin",
        "req.der",
        "-respout",
        "resp.der",
    ];
    args.extend_from_slice(extra);
    g.openssl(&args);
    (
        std::fs::read(g.path("req.der")).unwrap(),
        std::fs::read(g.path("resp.der")).unwrap(),
    )
}

fn cert(pki: &Pki, name: &str) -> trustpin::notation::cert::Cert {
    pki.g.certs(name).remove(0)
}

/// A PKI whose leaf names both an OCSP responder and a CRL, its leaf and CA certificates, and
/// the time to check at: what the offline OCSP and CRL tests start from.
struct BothChecks {
    pki: Pki,
    leaf: trustpin::notation::cert::Cert,
    ca: trustpin::notation::cert::Cert,
    now: OffsetDateTime,
}

impl BothChecks {
    fn new() -> BothChecks {
        let pki = Pki::with_leaf(true, true);
        let (leaf, ca) = (cert(&pki, "leaf"), cert(&pki, "ca"));
        BothChecks {
            pki,
            leaf,
            ca,
            now: OffsetDateTime::now_utc(),
        }
    }

    /// `openssl ocsp`'s request for the leaf and `signer`'s response to it ([`openssl_ocsp`]).
    fn respond(&self, signer: &str, extra: &[&str]) -> (Vec<u8>, Vec<u8>) {
        openssl_ocsp(&self.pki, signer, extra)
    }

    /// An OCSP response checked for the leaf, now.
    fn ocsp(&self, response: &[u8]) -> Result<ocsp::Answer, ocsp::OcspError> {
        ocsp::check(response, &self.leaf, &self.ca, self.now)
    }

    /// A CRL checked for the leaf, now.
    fn crl(&self, der: &[u8]) -> Result<bool, crl::CrlError> {
        crl::check(der, &self.leaf, &self.ca, self.now)
    }
}

#[test]
fn our_ocsp_request_is_the_one_openssl_makes_and_its_response_verifies() {
    let b = BothChecks::new();
    let (request, response) = b.respond("ocsp", &["-nmin", "60"]);
    assert_eq!(
        ocsp::request(&b.leaf, &b.ca).unwrap(),
        request,
        "SHA-1 CertID, no nonce"
    );
    assert_eq!(b.ocsp(&response), Ok(ocsp::Answer::Good));
    // Signed by the CA itself: believed too.
    let (_, by_ca) = b.respond("ca", &["-nmin", "60"]);
    assert_eq!(b.ocsp(&by_ca), Ok(ocsp::Answer::Good));
    // Another certificate's response does not answer for this one.
    b.pki.issue(
        "other",
        "/C=US/ST=WA/O=Generated/CN=other",
        LEAF_EXT,
        true,
        false,
    );
    assert_eq!(
        ocsp::check(&response, &cert(&b.pki, "other"), &b.ca, b.now),
        Err(ocsp::OcspError::NoMatch)
    );
    // Judged by the clock: past nextUpdate it is expired, before thisUpdate not yet valid.
    let later = b.now + time::Duration::hours(2);
    assert_eq!(
        ocsp::check(&response, &b.leaf, &b.ca, later),
        Err(ocsp::OcspError::Expired)
    );
    let earlier = b.now - time::Duration::hours(1);
    assert!(matches!(
        ocsp::check(&by_ca, &b.leaf, &b.ca, earlier),
        Err(ocsp::OcspError::NotYetValid(_))
    ));
    // Without nextUpdate (no -nmin/-ndays), expired as notation-core-go says.
    let (_, open_ended) = b.respond("ocsp", &[]);
    assert_eq!(b.ocsp(&open_ended), Err(ocsp::OcspError::Expired));
    // Revoked and unknown as the database says.
    b.pki.g.revoke("leaf", "ca");
    let (_, revoked) = b.respond("ocsp", &["-nmin", "60"]);
    assert_eq!(b.ocsp(&revoked), Ok(ocsp::Answer::Revoked));
}

#[test]
fn rsassa_pss_signed_responses_and_crls_verify() {
    let b = BothChecks::new();
    // openssl's options for RSASSA-PSS with a salt as long as the digest.
    let [mode, salt] = ["rsa_padding_mode:pss", "rsa_pss_saltlen:digest"];
    let crl_der = b
        .pki
        .g
        .gencrl("ca", "ca", &["-sigopt", mode, "-sigopt", salt]);
    // id-RSASSA-PSS, 1.2.840.113549.1.1.10
    const PSS_OID: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a,
    ];
    let has_pss = |der: &[u8]| der.windows(PSS_OID.len()).any(|w| w == PSS_OID);
    assert!(has_pss(&crl_der), "openssl signed the CRL with PSS");
    assert_eq!(b.crl(&crl_der), Ok(false));
    let (_, response) = b.respond("ocsp", &["-nmin", "60", "-rsigopt", mode, "-rsigopt", salt]);
    assert_eq!(b.ocsp(&response), Ok(ocsp::Answer::Good));
}

#[test]
fn every_damaged_byte_of_an_ocsp_response_or_crl_is_refused_without_a_panic() {
    let b = BothChecks::new();
    let (_, response) = b.respond("ocsp", &["-nmin", "60"]);
    let crl_der = b.pki.g.gencrl("ca", "ca", &[]);
    assert_eq!(b.crl(&crl_der), Ok(false));
    for i in 0..response.len() {
        let mut bad = response.clone();
        bad[i] ^= 0x01;
        assert_ne!(
            b.ocsp(&bad),
            Ok(ocsp::Answer::Good),
            "byte {i} of the OCSP response flipped"
        );
        assert!(b.ocsp(&response[..i]).is_err(), "cut at {i}");
    }
    for i in 0..crl_der.len() {
        let mut bad = crl_der.clone();
        bad[i] ^= 0x01;
        assert!(b.crl(&bad).is_err(), "byte {i} of the CRL flipped");
        assert!(b.crl(&crl_der[..i]).is_err(), "cut at {i}");
    }
}

// ---- CRL -------------------------------------------------------------------------------------

#[test]
fn with_the_responder_down_the_crl_is_used() {
    let pki = Pki::with_leaf(true, true);
    pki.serve_crl();
    // Nothing listens on the OCSP port.
    let c = checker();
    verified(verify_jws(&pki, pki.jws(None), false, "", &c));
    assert_eq!(pki.crls.requests("/ca.crl"), 1);
    assert_eq!(c.requests(), 2, "OCSP tried, then the CRL");
}

#[test]
fn a_certificate_listed_in_the_crl_is_refused() {
    let pki = Pki::with_leaf(false, true);
    pki.g.revoke("leaf", "ca");
    pki.serve_crl();
    refused_by(
        verify_jws(&pki, pki.jws(None), false, "", &checker()),
        Check::Revocation,
        &[&format!(
            "signing certificate with subject {LEAF_NAME:?} is revoked"
        )],
    );
}

#[test]
fn an_expired_crl_is_not_used() {
    let pki = Pki::with_leaf(false, true);
    let crl = pki.g.gencrl(
        "ca",
        "ca",
        &[
            "-crl_lastupdate",
            "20200101000000Z",
            "-crl_nextupdate",
            "20200102000000Z",
        ],
    );
    crl_refused(
        &pki,
        crl,
        &[
            "failed to validate CRL from",
            "expired CRL. Current time",
            "is after CRL NextUpdate 2020-01-02T00:00:00Z",
        ],
    );
}

#[test]
fn a_crl_signed_by_another_key_is_not_used() {
    let pki = Pki::with_leaf(false, true);
    // Same name as the CA, another key.
    pki.g.root("impostor", CA_SUBJECT);
    let crl = pki.g.gencrl("ca", "impostor", &[]);
    crl_refused(&pki, crl, &["CRL is not signed by CA"]);
}

#[test]
fn a_crl_naming_another_issuer_is_not_used() {
    let pki = Pki::with_leaf(false, true);
    // The CA's own key, under another name: the signature holds, the issuer does not.
    std::fs::copy(pki.g.path("ca.key"), pki.g.path("renamed.key")).unwrap();
    pki.g.self_signed(
        "renamed",
        "/C=US/ST=WA/O=Generated/CN=Renamed CA",
        CA_EXT,
        "sha256",
    );
    let crl = pki.g.gencrl("ca", "renamed", &[]);
    crl_refused(
        &pki,
        crl,
        &["CRL issuer is not the certificate's issuer CN=Revocation CA"],
    );
}

#[test]
fn delta_crls_and_unknown_critical_extensions_are_refused_as_notation_does() {
    let pki = Pki::with_leaf(false, true);
    let cnf = pki.g.path(&pki.g.ca_db("ca"));
    let mut text = std::fs::read_to_string(&cnf).unwrap();
    text.push_str("[delta]\nfreshestCRL = URI:http://127.0.0.1:1/delta.crl\n[crit]\n1.2.3.4 = critical,ASN1:NULL\n[plain]\n1.2.3.4 = ASN1:NULL\n");
    std::fs::write(&cnf, text).unwrap();
    for (section, words) in [
        ("delta", "delta CRL is not supported"),
        (
            "crit",
            "unsupported critical extension found in CRL: 1.2.3.4",
        ),
    ] {
        let crl = pki.g.gencrl("ca", "ca", &["-crlexts", section]);
        crl_refused(&pki, crl, &[words]);
    }
    // The same extension, not critical, is ignored.
    let crl = pki.g.gencrl("ca", "ca", &["-crlexts", "plain"]);
    pki.crls.serve("/ca.crl", 200, crl);
    verified(verify_jws(&pki, pki.jws(None), false, "", &checker()));
}

// ---- bounds ----------------------------------------------------------------------------------

#[test]
fn oversized_and_stalled_answers_are_bounded() {
    let pki = Pki::with_leaf(true, true);
    // The "responder" is the test server: every OCSP GET gets 21 KiB of junk.
    let ocsp = TestServer::start();
    ocsp.fallback(|_| Reply::Respond(Response::new(200, vec![0x30; 21 * 1024])));
    // Re-issue the leaf to name that server.
    let ocsp_url = ocsp.url();
    pki.g.ca_issue(
        "leaf",
        "/C=US/ST=WA/L=Seattle/O=Generated/CN=leaf",
        "ca",
        &[
            LEAF_EXT[0],
            LEAF_EXT[1],
            LEAF_EXT[2],
            &format!("authorityInfoAccess = OCSP;URI:{ocsp_url}"),
            &format!("crlDistributionPoints = URI:{}", pki.crl_url()),
        ],
    );
    // The CRL announces 64 MiB.
    pki.crls.respond(
        "/ca.crl",
        Response::new(200, Vec::new()).length(Length::Claim(64 * 1024 * 1024)),
    );
    let started = Instant::now();
    refused_by(
        verify_jws(&pki, pki.jws(None), false, "", &checker()),
        Check::Revocation,
        &[
            "revocation status is unknown",
            "larger than the limit of 20480 bytes",
            "larger than the limit of 33554432 bytes",
        ],
    );
    // Both stall: each ends at its own timeout (OCSP 2 s, CRL 5 s), not a hang.
    ocsp.fallback(|_| Reply::Stall);
    pki.crls.stall("/ca.crl");
    let started_stall = Instant::now();
    let text = refused_by(
        verify_jws(&pki, pki.jws(None), false, "", &checker()),
        Check::Revocation,
        &["revocation status is unknown", "no complete answer within"],
    );
    let stalled = started_stall.elapsed();
    assert!(
        stalled < Duration::from_secs(30),
        "two stalled answers took {stalled:?}: {text}"
    );
    // A run's deadline ends what is left.
    let short = HttpRevocation::new(RevocationOptions {
        deadline: Duration::from_millis(500),
        ..RevocationOptions::default()
    });
    refused_by(
        verify_jws(&pki, pki.jws(None), false, "", &short),
        Check::Revocation,
        &["revocation status is unknown"],
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    // And a run's request cap.
    let capped = HttpRevocation::new(RevocationOptions {
        max_requests: 0,
        ..RevocationOptions::default()
    });
    refused_by(
        verify_jws(&pki, pki.jws(None), false, "", &capped),
        Check::Revocation,
        &["the run's 0 revocation requests are spent"],
    );
}

// ---- the timestamping chain --------------------------------------------------------------------

#[test]
fn a_revoked_timestamping_certificate_fails_the_authentic_timestamp() {
    let pki = Pki::with_leaf(false, false);
    let tsa_subject = "/C=US/ST=WA/O=Generated/CN=Revocation TSA";
    pki.issue("tsa", tsa_subject, TSA_EXT, false, true);
    pki.serve_crl();
    // Good first: the TSA's CRL is fetched and does not list it.
    verified(verify_jws(&pki, pki.jws(Some("tsa")), true, "", &checker()));
    assert_eq!(pki.crls.requests("/ca.crl"), 1);
    pki.g.revoke("tsa", "ca");
    pki.serve_crl();
    refused_by(
        verify_jws(&pki, pki.jws(Some("tsa")), true, "", &checker()),
        Check::AuthenticTimestamp,
        &["timestamping certificate with subject \"CN=Revocation TSA,O=Generated,ST=WA,C=US\" is revoked"],
    );
}

// ---- the CLI, per policy level ------------------------------------------------------------------

/// An OCI layout holding the generated leaf's signature of an artifact tagged v1, a trust store
/// (`ca:gen`) and a policy whose `signatureVerification` is `verification`.
struct CliCase {
    layout: LayoutBuilder,
    dir: tempfile::TempDir,
}

impl CliCase {
    fn new(pki: &Pki, verification: &str) -> CliCase {
        let mut layout = LayoutBuilder::new();
        let desc = layout.artifact_tagged_v1();
        let target = Artifact {
            media_type: desc["mediaType"].as_str().unwrap().into(),
            digest: Digest::parse(desc["digest"].as_str().unwrap()).unwrap(),
            size: desc["size"].as_u64().unwrap(),
        };
        let mut jws = Jws::new("PS256", vec![pki.g.der("leaf"), pki.g.der("ca")]);
        jws.payload = payload(&target);
        let envelope = jws.sign(&pki.g, "leaf", "PS256", None);
        let sig = layout.image(&envelope, Some(&desc), Some(SIGNATURE), BTreeMap::new());
        let sig_desc = layout.manifest(&sig);
        layout.add(sig_desc, None);
        layout.write_index();

        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("truststore/x509/ca/gen");
        std::fs::create_dir_all(&store).unwrap();
        std::fs::copy(pki.g.path("ca.pem"), store.join("ca.pem")).unwrap();
        std::fs::write(
            dir.path().join("trustpolicy.json"),
            format!(r#"{{"version":"1.0","trustPolicies":[{{"name":"gen","registryScopes":["local/revocation"],"signatureVerification":{verification},"trustStores":["ca:gen"],"trustedIdentities":["*"]}}]}}"#),
        )
        .unwrap();
        CliCase { layout, dir }
    }

    fn verify(&self) -> Output {
        common::trustpin(&[
            "verify".to_string(),
            "--oci-layout".into(),
            "--scope".into(),
            "local/revocation".into(),
            "--policy".into(),
            self.dir
                .path()
                .join("trustpolicy.json")
                .display()
                .to_string(),
            format!("{}:v1", self.layout.path().display()),
        ])
    }
}

#[test]
fn the_cli_checks_revocation_by_default_and_each_level_answers_as_notation() {
    let pki = Pki::with_leaf(true, true);
    // Neither the responder nor the CRL server answers.
    pki.crls.serve("/ca.crl", 503, Vec::new());
    let unknown =
        format!("signing certificate with subject {LEAF_NAME:?} revocation status is unknown");

    let strict = CliCase::new(&pki, r#"{"level":"strict"}"#).verify();
    strict.expect_refused(&[&unknown, "revocation"], "strict, status unknown");

    let permissive = CliCase::new(&pki, r#"{"level":"permissive"}"#).verify();
    permissive
        .expect_code(0, "permissive, status unknown")
        .expect_stderr(
            &[format!(
                "Warning: revocation was set to \"log\" and failed with error: {unknown}"
            )],
            "permissive warns in notation's words",
        );
    assert!(
        permissive.stdout.contains("@sha256:"),
        "{}",
        permissive.describe()
    );

    let skip = CliCase::new(
        &pki,
        r#"{"level":"strict","override":{"revocation":"skip"}}"#,
    )
    .verify();
    skip.expect_code(0, "revocation skipped")
        .expect_stderr_lacks(&["revocation"], "a skipped check says nothing");
    assert_eq!(
        pki.crls.requests("/ca.crl"),
        2,
        "strict and permissive asked; skip did not"
    );

    // With the CRL answering, strict verifies: the default checker is the real one.
    pki.serve_crl();
    let good = CliCase::new(&pki, r#"{"level":"strict"}"#).verify();
    good.expect_code(0, "strict, CRL good");
    pki.g.revoke("leaf", "ca");
    pki.serve_crl();
    CliCase::new(&pki, r#"{"level":"strict"}"#)
        .verify()
        .expect_refused(
            &[&format!(
                "signing certificate with subject {LEAF_NAME:?} is revoked"
            )],
            "strict, CRL lists the leaf",
        );
}

/// `resolve` (trustpin's own policy, a real docker-registry) fetches an https CRL with TLS
/// verified against `--ca-cert`, as `verify` does: refused (status unknown) without it.
#[test]
fn resolve_fetches_https_crls_trusting_ca_cert() {
    let tls = common::server::TestPki::new();
    let pki = Pki::with_crl_server(TestServer::start_tls(tls.server_config(false)));
    assert!(pki.crl_url().starts_with("https://"), "{}", pki.crl_url());
    pki.leaf(false, true);
    pki.serve_crl();
    let case = CliCase::new(&pki, r#"{"level":"strict"}"#);
    let reg = common::registry::Registry::start();
    reg.push_layout("gen/app", case.layout.path());
    let policy = case.dir.path().join("policy.json");
    std::fs::write(
        &policy,
        format!(
            r#"{{"version":"1.0","trustPolicies":[{{"name":"gen","registryScopes":["{}/gen/app"],"signatureVerification":{{"level":"strict"}},"trustStores":["ca:gen"],"trustedIdentities":["*"]}}]}}"#,
            reg.host()
        ),
    )
    .unwrap();
    let resolve = |extra: &[&str]| {
        common::Cmd::trustpin()
            .private_home()
            .args(["resolve", "--no-cache", "--insecure-registry", "--policy"])
            .arg(&policy)
            .args(extra)
            .arg(format!("{}/gen/app:v1", reg.host()))
            .run()
    };
    resolve(&[]).expect_refused(&["revocation status is unknown", "CRL"], "no --ca-cert");
    let ca = tls.ca_pem_path().display().to_string();
    let out = resolve(&["--ca-cert", &ca]);
    out.expect_code(0, "--ca-cert trusted for the CRL");
    assert!(out.stdout.contains("@sha256:"), "{}", out.describe());
    // Without --ca-cert the handshake failed before any request was made.
    assert_eq!(
        pki.crls.requests("/ca.crl"),
        1,
        "only the trusted run got a request in"
    );
}

// ---- figures -----------------------------------------------------------------------------------

/// Time of the sans-IO checks and of one online check, printed; run with
/// `cargo test --release --test notation_revocation -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_revocation_checks() {
    let b = BothChecks::new();
    let (_, response) = b.respond("ocsp", &["-nmin", "60"]);
    let n = 500;
    let start = Instant::now();
    for _ in 0..n {
        assert_eq!(b.ocsp(&response), Ok(ocsp::Answer::Good));
    }
    let ocsp_us = start.elapsed().as_micros() / n;

    // 100,000 revoked entries written straight into the CA database, then one CRL of them all.
    let mut index = std::fs::read_to_string(b.pki.g.path("ca-db/index.txt")).unwrap();
    for i in 0..100_000u32 {
        index.push_str(&format!(
            "R\t300101000000Z\t240101000000Z\t{:08X}\tunknown\t/CN=revoked{i}\n",
            0x1000_0000u32 + i
        ));
    }
    std::fs::write(b.pki.g.path("ca-db/index.txt"), index).unwrap();
    let big = b.pki.g.gencrl("ca", "ca", &[]);
    let start = Instant::now();
    assert_eq!(b.crl(&big), Ok(false));
    let crl_ms = start.elapsed().as_secs_f64() * 1000.0;

    let _responder = b.pki.responder();
    let c = checker();
    let jws = b.pki.jws(None);
    let start = Instant::now();
    verified(verify_jws(&b.pki, jws.clone(), false, "", &c));
    let online_ms = start.elapsed().as_secs_f64() * 1000.0;
    let start = Instant::now();
    verified(verify_jws(&b.pki, jws, false, "", &c));
    let cached_ms = start.elapsed().as_secs_f64() * 1000.0;
    eprintln!(
        "revocation: {ocsp_us} µs per OCSP response verified (delegated responder, RSA 2048); \
         {crl_ms:.1} ms for a CRL of 100,000 entries ({} bytes); one signature verified with an \
         online OCSP check {online_ms:.1} ms, again from the run's cache {cached_ms:.1} ms",
        big.len()
    );
}
