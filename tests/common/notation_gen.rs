//! The Notation signature generator the tests share, independent of the code under test: keys
//! and certificates made by `openssl` (req, x509, ca, with a CA database for revocation and
//! CRLs), timestamps by `openssl ts`, JWS envelopes assembled here.

use std::path::PathBuf;
use std::process::Command;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use time::OffsetDateTime;
use trustpin::notation::envelope::Artifact;
use trustpin::notation::policy::{StoreRef, StoreType, TrustPolicy};
use trustpin::notation::revocation::RevocationChecker;
use trustpin::notation::truststore::{read_certificates, TrustStores};
use trustpin::notation::verify::{verify_artifact, Candidate, Limits, VerifyError};
use trustpin::reference::Digest;

// ---- the generator ---------------------------------------------------------------------------

/// `YYYYMMDDHHMMSSZ`, as `openssl ca -startdate` takes it.
fn ca_date(at: OffsetDateTime) -> String {
    at.format(time::macros::format_description!(
        "[year][month][day][hour][minute][second]Z"
    ))
    .unwrap()
}

/// From an hour ago to 30 days from now.
fn default_dates() -> (String, String) {
    let now = OffsetDateTime::now_utc();
    (
        ca_date(now - time::Duration::hours(1)),
        ca_date(now + time::Duration::days(30)),
    )
}

/// A positive serial number, distinct per certificate (a chain whose certificates share issuer
/// and serial would confuse revocation checks).
fn rand_serial() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos() as u64;
    (nanos >> 8 | 1 << 40).wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed))
        & 0x7fff_ffff_ffff_ffff
}

pub struct Gen {
    pub dir: tempfile::TempDir,
}

impl Gen {
    pub fn new() -> Gen {
        Gen {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `rsa:2048`, `ec:P-256`, `ec:prime192v1`, ...
    pub fn key(&self, name: &str, spec: &str) {
        let (algorithm, option) = match spec.split_once(':') {
            Some(("rsa", bits)) => ("RSA", format!("rsa_keygen_bits:{bits}")),
            Some(("ec", curve)) => ("EC", format!("ec_paramgen_curve:{curve}")),
            _ => panic!("key spec {spec}"),
        };
        let file = format!("{name}.key");
        self.openssl(&[
            "genpkey",
            "-algorithm",
            algorithm,
            "-pkeyopt",
            &option,
            "-out",
            &file,
        ]);
    }

    /// An RSA 2048 key `name` and a self-signed CA certificate for it (`CA_EXT`, SHA-256).
    pub fn root(&self, name: &str, subject: &str) {
        self.key(name, "rsa:2048");
        self.self_signed(name, subject, CA_EXT, "sha256");
    }

    /// The TSA root `tsaroot` and the TSA `tsa` it issued, with `tsa_ext`.
    pub fn tsa(&self, tsa_ext: &[&str]) {
        self.root("tsaroot", "/C=US/ST=WA/O=Generated/CN=Generated TSA Root");
        self.key("tsa", "rsa:2048");
        self.issue(
            "tsa",
            "/C=US/ST=WA/O=Generated/CN=Generated TSA",
            "tsaroot",
            tsa_ext,
            "sha256",
            None,
        );
    }

    pub fn config(&self, name: &str, ext: &[&str]) -> String {
        let file = format!("{name}.cnf");
        let text = format!(
            "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = {name}\n[ext]\n{}\n",
            ext.join("\n")
        );
        std::fs::write(self.path(&file), text).unwrap();
        file
    }

    /// A self-signed certificate with exactly the extensions `ext`, valid from an hour ago for
    /// 30 days.
    pub fn self_signed(&self, name: &str, subject: &str, ext: &[&str], digest: &str) {
        self.csr(name, subject, ext);
        let (start, end) = default_dates();
        self.ca_sign(name, None, ext, digest, (&start, &end));
    }

    /// A request `name.csr` for `name`'s key and `subject`; returns the configuration file whose
    /// `ext` section holds `ext`.
    pub fn csr(&self, name: &str, subject: &str, ext: &[&str]) -> String {
        let cnf = self.config(name, ext);
        self.openssl(&[
            "req",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-subj",
            subject,
            "-config",
            &cnf,
            "-out",
            &format!("{name}.csr"),
        ]);
        cnf
    }

    /// A certificate for `name`'s key issued by `ca`, valid from `start` to `end`
    /// (`YYYYMMDDHHMMSSZ`) or from an hour ago for 30 days.
    pub fn issue(
        &self,
        name: &str,
        subject: &str,
        ca: &str,
        ext: &[&str],
        digest: &str,
        dates: Option<(&str, &str)>,
    ) {
        self.csr(name, subject, ext);
        let (start, end) = default_dates();
        self.ca_sign(name, Some(ca), ext, digest, dates.unwrap_or((&start, &end)));
    }

    /// Signs `name.csr` with `ca` (or its own key, self-signed) through `openssl ca`, which,
    /// unlike `req -x509` and `x509 -req` in openssl 3.0, sets the start date: a certificate
    /// valid only from this very second would make a timestamp taken now (genTime - accuracy)
    /// precede it, and be rightly refused.
    fn ca_sign(
        &self,
        name: &str,
        ca: Option<&str>,
        ext: &[&str],
        digest: &str,
        dates: (&str, &str),
    ) {
        let db = format!("{name}-sign");
        std::fs::create_dir_all(self.path(&db)).unwrap();
        std::fs::write(self.path(&format!("{db}/index.txt")), "").unwrap();
        let serial: u64 = rand_serial();
        std::fs::write(
            self.path(&format!("{db}/serial")),
            format!("{serial:016X}\n"),
        )
        .unwrap();
        let issuer = ca.unwrap_or(name);
        let ca_cnf = format!("{db}/ca.cnf");
        std::fs::write(self.path(&ca_cnf), format!(
            "[ca]\ndefault_ca = c\n[c]\ndatabase = {db}/index.txt\nserial = {db}/serial\nnew_certs_dir = {db}\ncertificate = {issuer}.pem\nprivate_key = {issuer}.key\ndefault_md = {digest}\npolicy = p\nunique_subject = no\ncopy_extensions = none\n[p]\ncountryName = optional\nstateOrProvinceName = optional\nlocalityName = optional\norganizationName = optional\ncommonName = supplied\n[ext]\n{}\n",
            ext.join("\n"))).unwrap();
        let (csr, out) = (format!("{name}.csr"), format!("{name}.pem"));
        let mut args = vec![
            "ca",
            "-batch",
            "-config",
            &ca_cnf,
            "-preserveDN",
            "-in",
            &csr,
            "-startdate",
            dates.0,
            "-enddate",
            dates.1,
            "-extensions",
            "ext",
            "-notext",
            "-out",
            &out,
        ];
        if ca.is_none() {
            args.push("-selfsign");
        }
        self.openssl(&args);
    }

    /// `openssl ca`'s database and configuration for CA `ca` (made on first use): an index
    /// that `openssl ocsp -index` answers from and `-gencrl` lists, serials, CRL numbers.
    pub fn ca_db(&self, ca: &str) -> String {
        let cnf = format!("{ca}-db.cnf");
        if !self.path(&cnf).exists() {
            let db = self.path(&format!("{ca}-db"));
            std::fs::create_dir_all(db.join("newcerts")).unwrap();
            std::fs::write(db.join("index.txt"), "").unwrap();
            std::fs::write(db.join("serial"), "1000\n").unwrap();
            std::fs::write(db.join("crlnumber"), "1000\n").unwrap();
            std::fs::write(self.path(&cnf), format!(
                "[ca]\ndefault_ca = c\n[c]\ndatabase = {ca}-db/index.txt\nserial = {ca}-db/serial\ncrlnumber = {ca}-db/crlnumber\nnew_certs_dir = {ca}-db/newcerts\ncertificate = {ca}.pem\nprivate_key = {ca}.key\ndefault_md = sha256\ndefault_days = 30\ndefault_crl_days = 1\npolicy = p\nunique_subject = no\ncopy_extensions = none\n[p]\ncountryName = optional\nstateOrProvinceName = optional\nlocalityName = optional\norganizationName = optional\ncommonName = supplied\n")).unwrap();
        }
        cnf
    }

    /// A certificate for `name`'s key (made here, RSA 2048) issued by `ca` through its database
    /// ([`Gen::ca_db`]), with the extensions `ext`, valid from an hour ago for 30 days (so a
    /// timestamp made now, ± its accuracy, falls inside).
    pub fn ca_issue(&self, name: &str, subject: &str, ca: &str, ext: &[&str]) {
        let db = self.ca_db(ca);
        let start = ca_date(OffsetDateTime::now_utc() - time::Duration::hours(1));
        self.key(name, "rsa:2048");
        let cnf = self.csr(name, subject, ext);
        self.openssl(&[
            "ca",
            "-batch",
            "-config",
            &db,
            "-preserveDN",
            "-startdate",
            &start,
            "-in",
            &format!("{name}.csr"),
            "-extfile",
            &cnf,
            "-extensions",
            "ext",
            "-notext",
            "-out",
            &format!("{name}.pem"),
        ]);
    }

    /// Marks `name` (issued by `ca` with [`Gen::ca_issue`]) revoked in `ca`'s database.
    pub fn revoke(&self, name: &str, ca: &str) {
        let db = self.ca_db(ca);
        self.openssl(&["ca", "-config", &db, "-revoke", &format!("{name}.pem")]);
    }

    /// A DER CRL of `ca`'s database, signed by `signer` (`ca` itself, or another key and
    /// certificate), with `extra` options (`-crl_lastupdate`, `-crl_nextupdate`, ...).
    pub fn gencrl(&self, ca: &str, signer: &str, extra: &[&str]) -> Vec<u8> {
        let db = self.ca_db(ca);
        let (key, cert) = (format!("{signer}.key"), format!("{signer}.pem"));
        let mut args = vec![
            "ca", "-config", &db, "-gencrl", "-keyfile", &key, "-cert", &cert, "-out", "crl.pem",
        ];
        args.extend_from_slice(extra);
        self.openssl(&args);
        self.openssl(&[
            "crl", "-in", "crl.pem", "-outform", "DER", "-out", "crl.der",
        ]);
        std::fs::read(self.path("crl.der")).unwrap()
    }

    pub fn der(&self, name: &str) -> Vec<u8> {
        self.openssl(&[
            "x509",
            "-in",
            &format!("{name}.pem"),
            "-outform",
            "DER",
            "-out",
            &format!("{name}.der"),
        ]);
        std::fs::read(self.path(&format!("{name}.der"))).unwrap()
    }

    /// Sign `data` with `key` the way the JWS/COSE algorithm says (r‖s for ECDSA).
    pub fn sign(&self, key: &str, alg: &str, data: &[u8]) -> Vec<u8> {
        std::fs::write(self.path("tbs.bin"), data).unwrap();
        let digest = format!("-sha{}", &alg[2..]);
        let mut args = vec!["dgst", &digest, "-sign", key, "-out", "sig.bin"];
        if alg.starts_with("PS") {
            args.extend([
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:digest",
            ]);
        }
        let key_file = format!("{key}.key");
        args[3] = &key_file;
        args.push("tbs.bin");
        self.openssl(&args);
        let sig = std::fs::read(self.path("sig.bin")).unwrap();
        match alg {
            "ES256" => der_to_fixed(&sig, 32),
            "ES384" => der_to_fixed(&sig, 48),
            "ES512" => der_to_fixed(&sig, 66),
            _ => sig,
        }
    }

    /// An RFC 3161 token over `data` from the TSA `tsa` (chain file `chain`).
    pub fn timestamp(&self, data: &[u8], tsa: &str) -> Vec<u8> {
        std::fs::write(self.path("stamped.bin"), data).unwrap();
        std::fs::write(self.path("tsaserial"), "01\n").unwrap();
        std::fs::write(self.path("ts.cnf"), "[tsa]\ndefault_tsa = t\n[t]\nserial = tsaserial\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256, sha384, sha512\naccuracy = secs:1\nordering = no\ntsa_name = no\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n").unwrap();
        self.openssl(&[
            "ts",
            "-query",
            "-data",
            "stamped.bin",
            "-sha256",
            "-cert",
            "-no_nonce",
            "-out",
            "q.tsq",
        ]);
        self.openssl(&[
            "ts",
            "-reply",
            "-queryfile",
            "q.tsq",
            "-signer",
            &format!("{tsa}.pem"),
            "-inkey",
            &format!("{tsa}.key"),
            "-config",
            "ts.cnf",
            "-token_out",
            "-out",
            "token.der",
        ]);
        std::fs::read(self.path("token.der")).unwrap()
    }

    /// The TSTInfo of `token`, signed again as CMS (CAdES signingCertificateV2) by `signer`:
    /// a token from a TSA that `openssl ts` itself would refuse to run.
    pub fn resign_token(&self, token: &[u8], signer: &str) -> Vec<u8> {
        std::fs::write(self.path("orig.der"), token).unwrap();
        self.openssl(&[
            "cms",
            "-verify",
            "-noverify",
            "-inform",
            "DER",
            "-in",
            "orig.der",
            "-binary",
            "-out",
            "tstinfo.der",
        ]);
        self.openssl(&[
            "cms",
            "-sign",
            "-binary",
            "-nodetach",
            "-cades",
            "-nosmimecap",
            "-md",
            "sha256",
            "-econtent_type",
            "1.2.840.113549.1.9.16.1.4",
            "-signer",
            &format!("{signer}.pem"),
            "-inkey",
            &format!("{signer}.key"),
            "-in",
            "tstinfo.der",
            "-outform",
            "DER",
            "-out",
            "resigned.der",
        ]);
        std::fs::read(self.path("resigned.der")).unwrap()
    }

    pub fn certs(&self, name: &str) -> Vec<trustpin::notation::cert::Cert> {
        read_certificates(&std::fs::read(self.path(&format!("{name}.pem"))).unwrap()).unwrap()
    }
}

/// `SEQUENCE { INTEGER r, INTEGER s }` → r‖s, written here (not the crate's converter).
pub fn der_to_fixed(der: &[u8], len: usize) -> Vec<u8> {
    pub fn read_len(b: &[u8], i: &mut usize) -> usize {
        let first = b[*i];
        *i += 1;
        if first < 0x80 {
            return first as usize;
        }
        let n = (first & 0x7f) as usize;
        let mut v = 0;
        for _ in 0..n {
            v = (v << 8) | b[*i] as usize;
            *i += 1;
        }
        v
    }
    let mut i = 1;
    read_len(der, &mut i);
    let mut out = Vec::new();
    for _ in 0..2 {
        assert_eq!(der[i], 0x02);
        i += 1;
        let l = read_len(der, &mut i);
        let mut int = &der[i..i + l];
        i += l;
        while int.len() > len && int[0] == 0 {
            int = &int[1..];
        }
        out.extend(std::iter::repeat_n(0, len - int.len()));
        out.extend_from_slice(int);
    }
    out
}

pub const LEAF_EXT: &[&str] = &[
    "keyUsage = critical, digitalSignature",
    "extendedKeyUsage = codeSigning",
    "basicConstraints = CA:FALSE",
];
pub const CA_EXT: &[&str] = &[
    "basicConstraints = critical, CA:TRUE",
    "keyUsage = critical, keyCertSign, cRLSign",
];
pub const TSA_EXT: &[&str] = &[
    "keyUsage = critical, digitalSignature",
    "extendedKeyUsage = critical, timeStamping",
];
pub const SUBJECT: &str = "/C=US/ST=WA/L=Seattle/O=Generated/CN=leaf";

pub fn artifact() -> Artifact {
    Artifact {
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        digest: Digest([0xab; 32]),
        size: 517,
    }
}

pub fn payload(a: &Artifact) -> String {
    format!(
        r#"{{"targetArtifact":{{"digest":"{}","mediaType":"{}","size":{}}}}}"#,
        a.digest, a.media_type, a.size
    )
}

/// The parts of a JWS envelope a case may change.
pub struct Jws {
    pub protected: String,
    pub payload: String,
    pub chain: Vec<Vec<u8>>,
    pub timestamp: Option<Vec<u8>>,
}

impl Jws {
    pub fn new(alg: &str, chain: Vec<Vec<u8>>) -> Jws {
        let now = OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        Jws {
            protected: format!(
                r#"{{"alg":"{alg}","crit":["io.cncf.notary.signingScheme"],"cty":"application/vnd.cncf.notary.payload.v1+json","io.cncf.notary.signingScheme":"notary.x509","io.cncf.notary.signingTime":"{now}"}}"#
            ),
            payload: payload(&artifact()),
            chain,
            timestamp: None,
        }
    }

    /// The envelope signed by `key` with `alg`; `stamp` asks `tsa` for a countersignature.
    pub fn sign(&self, g: &Gen, key: &str, alg: &str, tsa: Option<&str>) -> Vec<u8> {
        let protected = URL_SAFE_NO_PAD.encode(&self.protected);
        let payload = URL_SAFE_NO_PAD.encode(&self.payload);
        let sig = g.sign(key, alg, format!("{protected}.{payload}").as_bytes());
        let timestamp = match tsa {
            Some(t) => Some(g.timestamp(&sig, t)),
            None => self.timestamp.clone(),
        };
        let mut header = serde_json::json!({"x5c": self.chain.iter().map(|c| STANDARD.encode(c)).collect::<Vec<_>>()});
        if let Some(t) = timestamp {
            header["io.cncf.notary.timestampSignature"] = STANDARD.encode(t).into();
        }
        serde_json::to_vec(&serde_json::json!({"payload": payload, "protected": protected, "header": header, "signature": URL_SAFE_NO_PAD.encode(sig)})).unwrap()
    }
}

// ---- verifying what it made ------------------------------------------------------------------

/// The generated policy: one statement `gen` for every scope, strict unless `extra` says
/// otherwise (`,\"override\":{...}` or a level), with the tsa store `gen` when `tsa`.
pub fn policy(tsa: bool, extra: &str) -> TrustPolicy {
    let stores = if tsa {
        r#""ca:gen","tsa:gen""#
    } else {
        r#""ca:gen""#
    };
    TrustPolicy::parse(format!(r#"{{"version":"1.0","trustPolicies":[{{"name":"gen","registryScopes":["*"],"signatureVerification":{{"level":"strict"{extra}}},"trustStores":[{stores}],"trustedIdentities":["*"]}}]}}"#).as_bytes()).unwrap()
}

/// The stores `ca:gen` (the certificates of `ca.pem`) and, when given, `tsa:gen`.
pub fn stores(g: &Gen, ca: &str, tsa: Option<&str>) -> TrustStores {
    let mut list = vec![(
        StoreRef {
            kind: StoreType::Ca,
            name: "gen".into(),
        },
        g.certs(ca),
    )];
    if let Some(t) = tsa {
        list.push((
            StoreRef {
                kind: StoreType::Tsa,
                name: "gen".into(),
            },
            g.certs(t),
        ));
    }
    TrustStores::from_certs(list)
}

/// A signature whose manifest digest is `[n; 32]`.
pub fn candidate(media_type: &str, bytes: Vec<u8>, n: u8) -> Candidate {
    Candidate {
        manifest_digest: Digest([n; 32]),
        envelope: Ok((media_type.into(), bytes)),
    }
}

/// Verify the generated artifact under the policy's first statement at `at`, revocation
/// answered by `checker`.
pub fn verify_with(
    policy: &TrustPolicy,
    stores: &TrustStores,
    candidates: &[Candidate],
    at: OffsetDateTime,
    checker: &dyn RevocationChecker,
) -> Result<trustpin::notation::verify::Verified, VerifyError> {
    verify_artifact(
        &policy.statements[0],
        stores,
        &artifact(),
        "generated",
        candidates,
        at,
        checker,
        &Limits::default(),
    )
}
