//! Trust stores: `DIR/x509/{ca,signingAuthority,tsa}/<name>/<files>`, PEM or DER, several
//! certificates per file. The core ([`TrustStores`], [`read_certificates`], [`validate_store`])
//! works on bytes; [`load`] is the one thin function that reads folders.
//!
//! Where notation-go and the specification differ, this follows the specification: a
//! sub-directory of a named store is ignored with a warning (notation-go refuses the store).
//! Symlinks are refused, as both say: the named store folder and every certificate file.
//! Every regular file is read (as notation-go reads them), whatever its extension, so a stray
//! non-certificate file refuses the store rather than being silently skipped.

use std::collections::BTreeMap;
use std::path::Path;

use super::cert::Cert;
use super::policy::{StoreRef, StoreType};

/// Limits on what one named store may hold.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
pub const MAX_FILES: usize = 256;
pub const MAX_CERTS_PER_FILE: usize = 64;

/// Why a named store cannot be used, in notation-go's words (`verifier/truststore`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustStoreError {
    #[error("the trust store {name:?} of type {kind:?} does not exist")]
    Missing { kind: &'static str, name: String },
    #[error("the trust store {name} of type {kind} with path {path} is not a regular directory (symlinks are not supported)")]
    NotADirectory {
        kind: &'static str,
        name: String,
        path: String,
    },
    #[error("failed to access the trust store {name:?} of type {kind:?}: {reason}")]
    Io {
        kind: &'static str,
        name: String,
        reason: String,
    },
    #[error("trusted certificate {file} in trust store {name} of type {kind} is not a regular file (directories or symlinks are not supported)")]
    Symlink {
        kind: &'static str,
        name: String,
        file: String,
    },
    #[error("failed to read the trusted certificate {file} in trust store {name} of type {kind}: {reason}")]
    Unreadable {
        kind: &'static str,
        name: String,
        file: String,
        reason: String,
    },
    #[error("failed to validate the trusted certificate {file} in trust store {name} of type {kind}: {reason}")]
    Invalid {
        kind: &'static str,
        name: String,
        file: String,
        reason: String,
    },
    #[error(
        "trusted certificate {file} in trust store {name} of type {kind} is invalid: {reason}"
    )]
    NotRoot {
        kind: &'static str,
        name: String,
        file: String,
        reason: String,
    },
    #[error("no x509 certificates were found in trust store {name:?} of type {kind:?}")]
    Empty { kind: &'static str, name: String },
    #[error("the trust store {name} of type {kind} holds more than {MAX_FILES} files")]
    TooManyFiles { kind: &'static str, name: String },
}

/// The certificates of one file: PEM (every block a CERTIFICATE) or DER (one or several).
pub fn read_certificates(bytes: &[u8]) -> Result<Vec<Cert>, String> {
    if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        let blocks = pem::parse_many(bytes).map_err(|e| format!("x509: malformed PEM: {e}"))?;
        if blocks.is_empty() {
            return Err("x509: no certificate found".into());
        }
        if blocks.len() > MAX_CERTS_PER_FILE {
            return Err(format!("more than {MAX_CERTS_PER_FILE} certificates"));
        }
        let mut out = Vec::with_capacity(blocks.len());
        for block in blocks {
            if block.tag() != "CERTIFICATE" {
                return Err(format!(
                    "x509: PEM block {:?} is not a certificate",
                    block.tag()
                ));
            }
            out.push(Cert::from_der(block.contents()).map_err(|e| e.to_string())?);
        }
        return Ok(out);
    }
    let certs = Cert::all_from_der(bytes, MAX_CERTS_PER_FILE).map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("x509: no certificate found".into());
    }
    Ok(certs)
}

/// notation-go's `ValidateCertificates` (every certificate a CA or self-signed) and, for a tsa
/// store, `isRootCACertificate` (self-signed and self-issued). The error says which rule.
pub fn validate_store(kind: StoreType, certs: &[Cert]) -> Result<(), (bool, String)> {
    for cert in certs {
        if !cert.is_ca() && cert.signed_by(cert).is_err() {
            return Err((
                false,
                format!(
                    "certificate with subject {:?} is not a CA certificate or self-signed signing certificate",
                    cert.subject
                ),
            ));
        }
        if kind == StoreType::Tsa {
            // Go's CheckSignatureFrom: the parent (here itself) must be a CA that may sign
            // certificates.
            let may_sign = cert.is_ca()
                && cert
                    .key_usage
                    .as_ref()
                    .is_none_or(|k| k.value & super::cert::ku::KEY_CERT_SIGN != 0);
            let signed = if may_sign {
                cert.signed_by(cert)
            } else {
                Err("x509: invalid signature: parent certificate cannot sign this kind of certificate".into())
            };
            if let Err(e) = signed {
                return Err((
                    true,
                    format!(
                        "certificate with subject {:?} is not a root CA certificate: {e}",
                        cert.subject
                    ),
                ));
            }
            if cert.raw_issuer != cert.raw_subject {
                return Err((
                    true,
                    format!(
                        "certificate with subject {:?} is not a root CA certificate: issuer ({}) and subject ({}) are not the same",
                        cert.subject, cert.issuer, cert.subject
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// One named store, loaded: its certificates, or why it cannot be used.
pub type StoreResult = Result<Vec<Cert>, TrustStoreError>;

/// The named stores a statement refers to, each loaded or refused. A refused store fails the
/// checks that need it (authenticity, authenticTimestamp), not the whole run.
#[derive(Debug, Clone, Default)]
pub struct TrustStores {
    stores: BTreeMap<(StoreType, String), StoreResult>,
    /// Things the loader skipped, in words for stderr.
    pub warnings: Vec<String>,
}

impl TrustStores {
    /// Stores given directly (tests, or certificates loaded elsewhere); each is validated as the
    /// loader validates a folder.
    pub fn from_certs(stores: impl IntoIterator<Item = (StoreRef, Vec<Cert>)>) -> TrustStores {
        let mut out = TrustStores::default();
        for (r, certs) in stores {
            let result = check(r.kind, &r.name, "(given)", certs);
            out.stores.insert((r.kind, r.name), result);
        }
        out
    }

    pub fn get(&self, r: &StoreRef) -> Option<&StoreResult> {
        self.stores.get(&(r.kind, r.name.clone()))
    }

    pub fn insert(&mut self, r: StoreRef, result: StoreResult) {
        self.stores.insert((r.kind, r.name), result);
    }
}

fn check(kind: StoreType, name: &str, file: &str, certs: Vec<Cert>) -> StoreResult {
    match validate_store(kind, &certs) {
        Ok(()) => Ok(certs),
        Err((root, reason)) => Err(if root {
            TrustStoreError::NotRoot {
                kind: kind.name(),
                name: name.into(),
                file: file.into(),
                reason,
            }
        } else {
            TrustStoreError::Invalid {
                kind: kind.name(),
                name: name.into(),
                file: file.into(),
                reason,
            }
        }),
    }
}

/// Read the named stores `refs` from the trust store folder `dir` (IO).
pub fn load<'a>(dir: &Path, refs: impl IntoIterator<Item = &'a StoreRef>) -> TrustStores {
    let mut out = TrustStores::default();
    for r in refs {
        if out.get(r).is_some() {
            continue;
        }
        let result = load_one(dir, r, &mut out.warnings);
        out.insert(r.clone(), result);
    }
    out
}

fn load_one(dir: &Path, r: &StoreRef, warnings: &mut Vec<String>) -> StoreResult {
    let kind = r.kind.name();
    let name = r.name.clone();
    let path = dir.join("x509").join(kind).join(&r.name);
    let io = |e: std::io::Error| TrustStoreError::Io {
        kind,
        name: name.clone(),
        reason: e.to_string(),
    };
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(TrustStoreError::Missing { kind, name })
        }
        Err(e) => return Err(io(e)),
    };
    if !meta.is_dir() {
        return Err(TrustStoreError::NotADirectory {
            kind,
            name,
            path: path.display().to_string(),
        });
    }
    let mut entries: Vec<_> = std::fs::read_dir(&path)
        .map_err(io)?
        .take(MAX_FILES + 1)
        .collect::<Result<_, _>>()
        .map_err(io)?;
    if entries.len() > MAX_FILES {
        return Err(TrustStoreError::TooManyFiles { kind, name });
    }
    entries.sort_by_key(|e| e.file_name());
    let mut certs = Vec::new();
    for entry in entries {
        let file = entry.file_name().to_string_lossy().into_owned();
        let ft = entry.file_type().map_err(io)?;
        if ft.is_symlink() {
            return Err(TrustStoreError::Symlink { kind, name, file });
        }
        if ft.is_dir() {
            warnings.push(format!(
                "Warning: sub-directory {file} of trust store {name} of type {kind} is ignored, and so are the certificates in it"
            ));
            continue;
        }
        let unreadable = |reason: String| TrustStoreError::Unreadable {
            kind,
            name: name.clone(),
            file: file.clone(),
            reason,
        };
        let bytes = read_bounded(&entry.path()).map_err(&unreadable)?;
        let file_certs = read_certificates(&bytes).map_err(unreadable)?;
        certs.extend(check(r.kind, &name, &file, file_certs)?);
    }
    if certs.is_empty() {
        return Err(TrustStoreError::Empty { kind, name });
    }
    Ok(certs)
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    f.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("the file is larger than {MAX_FILE_BYTES} bytes"));
    }
    Ok(bytes)
}
