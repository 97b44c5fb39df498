//! From the source flags to the library's sources: a Notary server or folder per plan, registry
//! clients, TLS and timeouts, and where credentials come from.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::args::SourceArgs;
use crate::fetch::credentials::CredentialError;
use crate::fetch::dir::DirSource;
use crate::fetch::http::{HttpOptions, HttpSource};
use crate::fetch::Source;
use crate::reference::ImageRef;
use crate::resolve::batch::Sources;
use crate::resolve::SetupError;

/// The source flags of each plan, index for index.
pub(crate) struct FlagSources(pub(crate) Vec<SourceArgs>);

impl Sources for FlagSources {
    fn location(&self, plan: usize, image: &ImageRef) -> String {
        location_for(&self.0[plan], image)
    }
    fn revocation_ca_certs(&self) -> Vec<PathBuf> {
        let mut all: Vec<PathBuf> = self.0.iter().flat_map(|a| a.ca_certs.clone()).collect();
        all.sort();
        all.dedup();
        all
    }
    fn open(&self, plan: usize, location: &str) -> Result<Box<dyn Source>, SetupError> {
        make_source(&self.0[plan], location)
    }
    fn registry(
        &self,
        plan: usize,
        registry: &str,
    ) -> Result<crate::fetch::oci::RegistrySource, SetupError> {
        let args = &self.0[plan];
        let opts = crate::fetch::oci::RegistryOptions {
            http: http_options(args)?,
            insecure: args.insecure_registry,
            ..Default::default()
        };
        let source = crate::fetch::oci::RegistrySource::new(registry, opts)?;
        if source.plain_http_off_loopback() {
            say!(
                "warning: --insecure-registry: {} is plain http: credentials, tokens and the \
                 answers verified travel unencrypted and can be changed on the way",
                source.base_url()
            );
        }
        Ok(source)
    }
}

/// `dir:<DIR>` for `--metadata-dir`, else the server URL.
pub(crate) fn location_for(args: &SourceArgs, image: &ImageRef) -> String {
    match &args.metadata_dir {
        Some(dir) => format!("dir:{}", dir.display()),
        None => server_for(args, image),
    }
}

/// `--server`, else DOCKER_CONTENT_TRUST_SERVER, else the registry's default.
pub(crate) fn server_for(args: &SourceArgs, image: &ImageRef) -> String {
    if let Some(s) = &args.server {
        return s.clone();
    }
    match std::env::var("DOCKER_CONTENT_TRUST_SERVER") {
        Ok(s) if !s.is_empty() => s,
        _ => image.default_server(),
    }
}

pub(crate) fn make_source(
    args: &SourceArgs,
    location: &str,
) -> Result<Box<dyn Source>, SetupError> {
    if let Some(dir) = &args.metadata_dir {
        if !dir.is_dir() {
            return Err(SetupError::NotADirectory { path: dir.clone() });
        }
        return Ok(Box::new(DirSource::new(dir.clone())));
    }
    if location.starts_with("http://") && !crate::fetch::http::is_loopback_url(location) {
        say!("warning: {location} is plain http: anyone on the path sees which images you check");
    }
    Ok(Box::new(HttpSource::new(location, http_options(args)?)?))
}

/// TLS, timeouts and credentials of the source flags, for a Notary server or a registry.
fn http_options(args: &SourceArgs) -> Result<HttpOptions, SetupError> {
    let credentials = credentials(args.username.as_deref(), args.credential_sources)?;
    let client_identity = match (&args.client_cert, &args.client_key) {
        (Some(cert), Some(key)) => Some(crate::fetch::http::ClientIdentity {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => None,
    };
    Ok(HttpOptions {
        ca_certs: args.ca_certs.clone(),
        client_identity,
        timeout: Duration::from_secs(args.timeout),
        connect_timeout: Duration::from_secs(args.connect_timeout),
        check_health: args.check_health,
        credentials,
    })
}

/// Where credentials come from, as `resolve` looks them up: `--username` with `--password-stdin`,
/// else TRUSTPIN_USERNAME/TRUSTPIN_PASSWORD, else the docker config (unless `sources` says less).
pub(crate) fn credentials(
    username: Option<&str>,
    sources: crate::fetch::credentials::Sources,
) -> Result<Option<Arc<dyn crate::fetch::credentials::CredentialProvider>>, CredentialError> {
    use crate::fetch::credentials::{Lookup, Sources};
    if sources == Sources::None {
        return Ok(None);
    }
    let flags = match username {
        Some(username) => Some((
            username.to_owned(),
            password_from_stdin().map_err(CredentialError::Usage)?,
        )),
        None => None,
    };
    let lookup = Lookup::from_environment(flags)?;
    Ok(Some(Arc::new(if sources == Sources::Env {
        lookup.without_docker_config()
    } else {
        lookup
    })))
}

/// The password given with `--password-stdin`: stdin read once per run (at most 64 KiB), one
/// trailing line break dropped, as `docker login --password-stdin` does.
pub(crate) fn password_from_stdin() -> Result<crate::fetch::credentials::Secret, String> {
    use std::io::Read as _;
    static PASSWORD: std::sync::OnceLock<Result<crate::fetch::credentials::Secret, String>> =
        std::sync::OnceLock::new();
    PASSWORD
        .get_or_init(|| {
            let mut raw = Vec::new();
            std::io::stdin()
                .lock()
                .take(64 * 1024 + 1)
                .read_to_end(&mut raw)
                .map_err(|e| format!("--password-stdin: cannot read stdin: {e}"))?;
            if raw.len() > 64 * 1024 {
                return Err("--password-stdin: more than 64 KiB on stdin".into());
            }
            let text = crate::fetch::credentials::Secret::new(
                String::from_utf8(raw)
                    .map_err(|_| "--password-stdin: the password is not UTF-8".to_owned())?,
            );
            let password = text
                .expose()
                .strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(text.expose());
            if password.is_empty() {
                return Err(
                    "--password-stdin: stdin holds no password (it cannot also carry `-` images)"
                        .into(),
                );
            }
            Ok(crate::fetch::credentials::Secret::new(password))
        })
        .clone()
}
