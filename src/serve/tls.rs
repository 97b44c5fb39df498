//! The serving certificate: loaded at start (a bad or missing file is an error naming it), then
//! watched and reloaded when either file changes, since cert-manager rotates them in place. A
//! reload that fails keeps the certificate in use and says so; it never takes the server down.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Why the certificate or key cannot be used; names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS certificate {}: {reason}", path.display())]
    Cert { path: PathBuf, reason: String },
    #[error("TLS key {}: {reason}", path.display())]
    Key { path: PathBuf, reason: String },
    #[error("TLS setup: {0}")]
    Setup(String),
}

/// The ring provider, and only it (no aws-lc, no OpenSSL).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Read and check a certificate chain and its key: PEM, at least one certificate, a key that
/// ring can sign with and that matches the first certificate.
pub fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let bad_cert = |reason: String| TlsError::Cert {
        path: cert.to_path_buf(),
        reason,
    };
    let bad_key = |reason: String| TlsError::Key {
        path: key.to_path_buf(),
        reason,
    };
    let cert_pem = std::fs::read(cert).map_err(|e| bad_cert(e.to_string()))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| bad_cert(format!("not PEM certificates ({e})")))?;
    if chain.is_empty() {
        return Err(bad_cert("no PEM certificate in the file".into()));
    }
    let key_pem = std::fs::read(key).map_err(|e| bad_key(e.to_string()))?;
    // The key's bytes are never echoed: the error says what is wrong, not what is there.
    let der = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|_| bad_key("no unencrypted PEM private key in the file".into()))?;
    let ck = CertifiedKey::from_der(chain, der, &provider()).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => bad_key(format!(
            "does not match the certificate in {}",
            cert.display()
        )),
        other => bad_key(format!("not a usable key ({other})")),
    })?;
    Ok(ck)
}

/// When and how big the files were when last read: a change of either means reload.
type Stamp = Option<(SystemTime, u64, SystemTime, u64)>;

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let c = std::fs::metadata(cert).ok()?;
    let k = std::fs::metadata(key).ok()?;
    Some((c.modified().ok()?, c.len(), k.modified().ok()?, k.len()))
}

/// The certificate in use, swapped whole when the files change.
#[derive(Debug)]
pub struct CertStore {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    seen: RwLock<Stamp>,
}

impl CertStore {
    /// Load now; an error names the file.
    pub fn open(cert: &Path, key: &Path) -> Result<Arc<CertStore>, TlsError> {
        let seen = stamp(cert, key);
        let ck = load(cert, key)?;
        Ok(Arc::new(CertStore {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(Arc::new(ck)),
            seen: RwLock::new(seen),
        }))
    }

    /// Reload if either file changed since last read. Ok(true): a new certificate is in use;
    /// Err: the new files are not usable and the old certificate stays.
    pub fn refresh(&self) -> Result<bool, TlsError> {
        let now = stamp(&self.cert, &self.key);
        if now == *self.seen.read().unwrap_or_else(|p| p.into_inner()) {
            return Ok(false);
        }
        *self.seen.write().unwrap_or_else(|p| p.into_inner()) = now;
        let ck = load(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ck);
        Ok(true)
    }

    /// Check the files every `every`, logging each reload or failed reload.
    pub fn watch(self: Arc<Self>, every: Duration) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let store = self.clone();
                let result = tokio::task::spawn_blocking(move || store.refresh()).await;
                match result {
                    Ok(Ok(true)) => super::log::event("certificate reloaded", None),
                    Ok(Ok(false)) => {}
                    Ok(Err(e)) => super::log::event(
                        "certificate reload failed; the previous certificate stays in use",
                        Some(&e.to_string()),
                    ),
                    Err(_) => {}
                }
            }
        });
    }

    /// The rustls server configuration: TLS 1.2 and 1.3 over ring, h2 then http/1.1 by ALPN.
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}
