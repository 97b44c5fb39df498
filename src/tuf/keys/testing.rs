//! What the key tests share: the real trust data beside the crate, and freshly generated keys and
//! certificates of each type.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _};
use serde_json::Value;

use super::spki::P256_SPKI_PREFIX;
use super::{KeyError, PinnedKey, PublicKey};

const TRUST_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/trust-data");
pub(super) const ALICE_ROOT_CERT_ID: &str =
    "a873ab3f157cfd51c9ccdc445caac92e8aef9f57881169d3bc3cc4868a20add2";
pub(super) const ALICE_ROOT_CANONICAL_ID: &str =
    "17960e3926cbb155f6a22f92b6608646ed6dc2152308484045e3611c0c6afaab";
pub(super) const BOB_ROOT_CERT_ID: &str =
    "2b53d5708f0defb3e7023b59a32d85938139ee613b85f1aa862cd484f53edc2e";
pub(super) const BOB_ROOT_CANONICAL_ID: &str =
    "574418eb57a9b9f9bb935492932d8788e660be978e2fc4a25238b90998fe429d";

// ---- helpers -------------------------------------------------------------------------------

pub(super) fn trust_data() -> PathBuf {
    let dir = PathBuf::from(TRUST_DATA);
    assert!(
        dir.join("docker.io/phbelitz").is_dir(),
        "the real trust data is missing: expected {} (shared/ beside the crate); these tests need it",
        dir.display()
    );
    dir
}

pub(super) fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn json_files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            json_files_under(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

/// Every image's TUF files, as (image, path, parsed JSON).
pub(super) fn tuf_files() -> Vec<(String, PathBuf, Value)> {
    let images = trust_data().join("docker.io/phbelitz");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&images).unwrap() {
        let image_dir = entry.unwrap().path();
        let image = image_dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let mut files = Vec::new();
        json_files_under(&image_dir.join("_trust/tuf"), &mut files);
        for path in files {
            let value: Value = serde_json::from_slice(&read(&path)).unwrap();
            out.push((image.clone(), path, value));
        }
    }
    assert!(
        out.len() >= 20,
        "expected the real trust data, found only {} files",
        out.len()
    );
    out
}

/// (listed ID, key) for the keys a file lists: root `keys` and targets `delegations.keys`.
pub(super) fn listed_keys(file: &Value) -> Vec<(String, String, String)> {
    let signed = &file["signed"];
    let maps = [&signed["keys"], &signed["delegations"]["keys"]];
    maps.iter()
        .filter_map(|m| m.as_object())
        .flatten()
        .map(|(id, key)| {
            let keytype = key["keytype"].as_str().unwrap().to_string();
            let public = key["keyval"]["public"].as_str().unwrap().to_string();
            (id.clone(), keytype, public)
        })
        .collect()
}

pub(super) fn root_key(image: &str, id: &str) -> PublicKey {
    let path = trust_data().join(format!("docker.io/phbelitz/{image}/_trust/tuf/root.json"));
    let root: Value = serde_json::from_slice(&read(&path)).unwrap();
    let key = &root["signed"]["keys"][id];
    PublicKey::from_tuf(
        key["keytype"].as_str().unwrap(),
        key["keyval"]["public"].as_str().unwrap(),
    )
    .unwrap()
}

pub(super) fn pinned_file(name: &str) -> PinnedKey {
    let path = trust_data().join("keys").join(name);
    PinnedKey::parse(&read(&path), name).unwrap()
}

/// The x509 root key of alice-image as its root.json lists it: PEM text of one certificate.
pub(super) fn alice_root_cert_pem() -> Vec<u8> {
    let root: Value = serde_json::from_slice(&read(
        &trust_data().join("docker.io/phbelitz/alice-image/_trust/tuf/root.json"),
    ))
    .unwrap();
    BASE64
        .decode(
            root["signed"]["keys"][ALICE_ROOT_CERT_ID]["keyval"]["public"]
                .as_str()
                .unwrap(),
        )
        .unwrap()
}

/// What a file's signatures cover: its `signed` in canonical form, written by the crate's encoder.
pub(super) fn signed_canonical(path: &Path) -> Vec<u8> {
    let file = crate::tuf::json::parse(&read(path)).unwrap();
    crate::tuf::canonical::encode(file.get("signed").unwrap())
}

pub(super) fn tuf(keytype: &str, der: &[u8]) -> Result<PublicKey, KeyError> {
    PublicKey::from_tuf(keytype, &BASE64.encode(der))
}

pub(super) fn flip_bit(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[bytes.len() / 2] ^= 0x01;
    out
}

fn run_openssl(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("the RSA tests generate keys with the `openssl` command, which failed to start: {e}")
        });
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// A fresh RSA key from `openssl genpkey` (ring cannot generate RSA): (PKCS#8 DER, SPKI DER).
pub(super) fn openssl_rsa(bits: u32) -> (Vec<u8>, Vec<u8>) {
    let bits_opt = format!("rsa_keygen_bits:{bits}");
    // genpkey writes PKCS#1 when asked for DER; pkcs8 -topk8 turns it into what ring reads.
    let pkcs1 = run_openssl(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            &bits_opt,
            "-outform",
            "DER",
        ],
        b"",
    );
    let pkcs8 = run_openssl(
        &[
            "pkcs8", "-topk8", "-nocrypt", "-inform", "DER", "-outform", "DER",
        ],
        &pkcs1,
    );
    let spki = run_openssl(
        &["pkey", "-inform", "DER", "-pubout", "-outform", "DER"],
        &pkcs8,
    );
    (pkcs8, spki)
}

pub(super) fn rsa_2048() -> &'static (Vec<u8>, Vec<u8>) {
    static KEY: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    KEY.get_or_init(|| openssl_rsa(2048))
}

pub(super) fn p256_pkcs8(
    alg: &'static ring::signature::EcdsaSigningAlgorithm,
) -> (EcdsaKeyPair, Vec<u8>) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
    let spki = [&P256_SPKI_PREFIX[..], pair.public_key().as_ref()].concat();
    (pair, spki)
}

pub(super) fn self_signed_pem(key: &rcgen::KeyPair, cn: &str, days: (i64, i64)) -> String {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    params.not_before = now + time::Duration::days(days.0);
    params.not_after = now + time::Duration::days(days.1);
    params.self_signed(key).unwrap().pem()
}
