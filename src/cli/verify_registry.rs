//! The registries of one `trustpin verify` run: one [`RegistrySource`] per registry named, made
//! before any reference is verified and shared by every job (one connection pool, one token
//! cache, one answer about the referrers API per registry). Relaxations are announced here, every
//! run: plain http off loopback.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;

use super::args::NotationVerifyArgs;
use super::sources::credentials;
use crate::failure::{Classify, Failure};
use crate::fetch::credentials::Sources;
use crate::fetch::http::HttpOptions;
use crate::fetch::oci::{RegistryOptions, RegistrySource};

/// Why a registry cannot be used: how that fails, a stable kind, the message.
pub(crate) type Unusable = (Failure, &'static str, String);

/// Each registry's source, by `host[:port]`.
pub(crate) struct Registries(BTreeMap<String, Result<RegistrySource, Unusable>>);

impl Registries {
    /// A source for each of `registries`. Credentials are looked up only when there is one (and
    /// `--password-stdin` read once); a credential problem is bad input for the whole run.
    pub(crate) fn open<'a>(
        args: &NotationVerifyArgs,
        registries: impl IntoIterator<Item = &'a str>,
    ) -> Result<Registries> {
        let names: std::collections::BTreeSet<&str> = registries.into_iter().collect();
        let mut out = BTreeMap::new();
        if names.is_empty() {
            return Ok(Registries(out));
        }
        let credentials = credentials(args.username.as_deref(), Sources::Docker)?;
        let deadline = Duration::from_secs(args.deadline);
        for name in names {
            let opts = RegistryOptions {
                http: HttpOptions {
                    ca_certs: args.ca_certs.clone(),
                    credentials: credentials.clone(),
                    // No one exchange outlives the reference's deadline either.
                    timeout: HttpOptions::default().timeout.min(deadline),
                    ..HttpOptions::default()
                },
                insecure: args.insecure_registry,
                ..RegistryOptions::default()
            };
            let source =
                RegistrySource::new(name, opts).map_err(|e| (e.failure(), e.kind(), e.to_string()));
            if let Ok(s) = &source {
                if s.plain_http_off_loopback() {
                    say!(
                        "warning: --insecure-registry: {} is plain http: credentials, tokens and \
                         the answers verified travel unencrypted and can be changed on the way",
                        s.base_url()
                    );
                }
            }
            out.insert(name.to_owned(), source);
        }
        Ok(Registries(out))
    }

    /// The source of `registry` (one of those opened).
    pub(crate) fn get(&self, registry: &str) -> Result<&RegistrySource, Unusable> {
        match self.0.get(registry) {
            Some(Ok(s)) => Ok(s),
            Some(Err(e)) => Err(e.clone()),
            None => Err((
                Failure::BadInput,
                "bad-reference",
                format!("registry {registry:?} was not opened"),
            )),
        }
    }
}
