//! One artifact's signatures against one trust policy statement, in notation-go's order of checks
//! (`verifier.go` `processSignature`): integrity → authenticity (trust store, then trusted
//! identity) → expiry → authenticTimestamp → revocation. Every check is recorded with its
//! action; the first failure whose action is `enforce` ends that signature, a `log` failure
//! becomes a warning in notation's words and the checks go on. One signature that passes is
//! enough. Only [`verify_artifact`] can make a [`Verified`].

use time::OffsetDateTime;

use super::cert::{rfc1123z, rfc3339, Cert};
use super::chain::{self, Purpose};
use super::envelope::{self, Artifact, Envelope, EnvelopeType, SigningScheme};
use super::identity;
use super::policy::{Action, Check, Statement, StoreType, VerifyTimestamp};
use super::revocation::{self, RevocationChecker};
use super::timestamp::{self, Timestamp};
use super::truststore::TrustStores;
use crate::reference::Digest;

/// Bounds on one artifact's verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Signatures tried at most (notation's `--max-signatures`, default 100).
    pub max_signatures: usize,
    /// Largest envelope opened.
    pub max_envelope_bytes: usize,
    /// Most bytes fetched for one artifact (signature manifests and envelopes), so that a
    /// registry listing many large signatures that all fail cannot make a run download without
    /// end (the fetcher's bound, [`crate::notation::oci`]).
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_signatures: 100,
            max_envelope_bytes: envelope::MAX_ENVELOPE_BYTES,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// One signature as fetched: its manifest's digest and its envelope, or why the envelope could
/// not be had from the manifest (which fails integrity).
#[derive(Debug, Clone)]
pub struct Candidate {
    pub manifest_digest: Digest,
    pub envelope: Result<(String, Vec<u8>), String>,
}

/// How one check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckResult {
    Passed,
    Failed(String),
    /// Its action is `skip`.
    Skipped,
    /// An earlier enforced failure ended the signature first.
    NotRun,
}

/// One check's outcome under its action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    pub check: Check,
    pub action: Action,
    pub result: CheckResult,
}

/// Everything learnt about one signature.
#[derive(Debug, Clone)]
pub struct SignatureReport {
    pub manifest_digest: Digest,
    pub envelope_type: Option<EnvelopeType>,
    /// Leaf first; empty when the envelope did not open.
    pub chain: Vec<Cert>,
    pub signing_scheme: Option<SigningScheme>,
    pub signing_time: Option<OffsetDateTime>,
    pub expiry: Option<OffsetDateTime>,
    /// The verified countersignature, when one was checked and stood.
    pub timestamp: Option<Timestamp>,
    pub checks: Vec<CheckOutcome>,
    /// The enforced failure that refused this signature, if any.
    pub failure: Option<(Check, String)>,
    /// `Warning: <check> was set to "log" and failed with error: <reason>`.
    pub warnings: Vec<String>,
}

impl SignatureReport {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }

    /// The signing certificate's subject, as Go prints it.
    pub fn signer(&self) -> Option<&str> {
        self.chain.first().map(|c| c.subject.as_str())
    }

    /// For JSON output.
    pub fn to_json(&self) -> serde_json::Value {
        let checks: serde_json::Map<String, serde_json::Value> = self
            .checks
            .iter()
            .map(|c| {
                let (result, error) = match &c.result {
                    CheckResult::Passed => ("passed", None),
                    CheckResult::Failed(e) => ("failed", Some(e.clone())),
                    CheckResult::Skipped => ("skipped", None),
                    CheckResult::NotRun => ("not-run", None),
                };
                (
                    c.check.name().to_string(),
                    serde_json::json!({"action": c.action.name(), "result": result, "error": error}),
                )
            })
            .collect();
        serde_json::json!({
            "digest": self.manifest_digest.to_string(),
            "envelopeType": self.envelope_type.map(EnvelopeType::media_type),
            "signingScheme": self.signing_scheme.map(SigningScheme::name),
            "signer": self.signer(),
            "chain": self.chain.iter().map(|c| serde_json::json!({
                "subject": c.subject, "issuer": c.issuer, "sha256": c.thumbprint(),
                "notBefore": rfc3339(c.not_before), "notAfter": rfc3339(c.not_after),
            })).collect::<Vec<_>>(),
            "signingTime": self.signing_time.map(rfc3339),
            "expiry": self.expiry.map(rfc3339),
            "timestamp": self.timestamp.as_ref().map(|t| serde_json::json!({
                "genTime": rfc3339(t.gen_time),
                "accuracyMs": t.accuracy.whole_milliseconds() as i64,
                "tsa": t.tsa_chain.first().map(|c| c.subject.clone()),
            })),
            "checks": checks,
            "verified": self.passed(),
            "failure": self.failure.as_ref().map(|(c, e)| serde_json::json!({"check": c.name(), "error": e})),
            "warnings": self.warnings,
        })
    }
}

/// An artifact whose signature passed every enforced check of the statement. Only
/// [`verify_artifact`] makes one.
#[derive(Debug, Clone)]
pub struct Verified {
    artifact: Artifact,
    statement: String,
    signature: usize,
    reports: Vec<SignatureReport>,
    /// The signature that verified, as fetched (for the trust cache's warm path).
    candidate: Candidate,
}

impl Verified {
    /// The signature that verified, as it was fetched: its manifest digest and envelope.
    pub fn candidate(&self) -> &Candidate {
        &self.candidate
    }
    pub fn artifact(&self) -> &Artifact {
        &self.artifact
    }
    pub fn digest(&self) -> Digest {
        self.artifact.digest
    }
    /// The name of the trust policy statement used.
    pub fn statement(&self) -> &str {
        &self.statement
    }
    /// The signature that verified.
    pub fn signature(&self) -> &SignatureReport {
        // `signature` always indexes `reports` (set together in verify_artifact).
        &self.reports[self.signature]
    }
    /// Every signature tried, in order (the last is the one that verified).
    pub fn reports(&self) -> &[SignatureReport] {
        &self.reports
    }
    /// The same, with `earlier` (signatures tried and failed in an earlier batch) before the
    /// reports of this one: the fetcher verifies in batches and reports every signature tried.
    pub fn after(mut self, mut earlier: Vec<SignatureReport>) -> Verified {
        self.signature += earlier.len();
        earlier.append(&mut self.reports);
        self.reports = earlier;
        self
    }
    /// The warnings of the signature that verified, and of the trust store loader.
    pub fn warnings(&self) -> &[String] {
        &self.signature().warnings
    }
}

/// Why an artifact is refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VerifyError {
    #[error("artifact {scope:?} has no applicable oci trust policy statement. Trust policy applicability for a given artifact is determined by registryScopes")]
    NoApplicablePolicy { scope: String },
    #[error("trust policy statement {0:?} is set to skip signature verification")]
    Skip(String),
    #[error(
        "no signature is associated with {0:?}, make sure the artifact was signed successfully"
    )]
    NoSignature(String),
    #[error("signature verification failed for all the signatures associated with {artifact}: {}", summary(.reports))]
    AllFailed {
        artifact: String,
        reports: Vec<SignatureReport>,
    },
    #[error("signature evaluation stopped. The configured limit of {limit} signatures to verify per artifact exceeded: {}", summary(.reports))]
    TooManySignatures {
        limit: usize,
        reports: Vec<SignatureReport>,
    },
}

impl VerifyError {
    /// The signatures tried, if any were.
    pub fn reports(&self) -> &[SignatureReport] {
        match self {
            VerifyError::AllFailed { reports, .. }
            | VerifyError::TooManySignatures { reports, .. } => reports,
            _ => &[],
        }
    }

    /// The check that refused the last signature tried.
    pub fn check(&self) -> Option<Check> {
        self.reports()
            .last()
            .and_then(|r| r.failure.as_ref())
            .map(|(c, _)| *c)
    }
}

fn summary(reports: &[SignatureReport]) -> String {
    let parts: Vec<String> = reports
        .iter()
        .filter_map(|r| {
            r.failure.as_ref().map(|(check, e)| {
                format!(
                    "failed to verify signature with digest {}, {} check failed: {e}",
                    r.manifest_digest,
                    check.name()
                )
            })
        })
        .collect();
    parts.join("; ")
}

/// Verify `artifact` (named `reference` in messages) against `statement`, trying `candidates` in
/// order at time `at`. The caller has already refused a skip statement (rule 3: before
/// anything is fetched); given one, this refuses with [`VerifyError::Skip`].
#[allow(clippy::too_many_arguments)]
pub fn verify_artifact(
    statement: &Statement,
    stores: &TrustStores,
    artifact: &Artifact,
    reference: &str,
    candidates: &[Candidate],
    at: OffsetDateTime,
    revocation: &dyn RevocationChecker,
    limits: &Limits,
) -> Result<Verified, VerifyError> {
    if statement.is_skip() {
        return Err(VerifyError::Skip(statement.name.clone()));
    }
    if candidates.is_empty() {
        return Err(VerifyError::NoSignature(reference.to_string()));
    }
    let mut reports = Vec::new();
    for candidate in candidates.iter().take(limits.max_signatures) {
        let mut report = verify_signature(
            statement, stores, artifact, candidate, at, revocation, limits,
        );
        report
            .warnings
            .splice(0..0, stores.warnings.iter().cloned());
        let passed = report.passed();
        reports.push(report);
        if passed {
            return Ok(Verified {
                artifact: artifact.clone(),
                statement: statement.name.clone(),
                signature: reports.len() - 1,
                reports,
                candidate: candidate.clone(),
            });
        }
    }
    if candidates.len() > limits.max_signatures {
        return Err(VerifyError::TooManySignatures {
            limit: limits.max_signatures,
            reports,
        });
    }
    Err(VerifyError::AllFailed {
        artifact: artifact.digest.to_string(),
        reports,
    })
}

/// Records outcomes in order, and knows when an enforced failure has ended the signature.
struct Recorder<'a> {
    statement: &'a Statement,
    report: SignatureReport,
}

impl Recorder<'_> {
    fn action(&self, check: Check) -> Action {
        self.statement.verification.action(check)
    }

    /// Record `result` for `check`; `false` when it ends the signature.
    fn record(&mut self, check: Check, result: Result<(), String>) -> bool {
        let action = self.action(check);
        let result = match result {
            Ok(()) => CheckResult::Passed,
            Err(e) => {
                match action {
                    Action::Enforce => self.report.failure = Some((check, e.clone())),
                    Action::Log => self.report.warnings.push(format!(
                        "Warning: {} was set to \"log\" and failed with error: {e}",
                        check.name()
                    )),
                    Action::Skip => {}
                }
                CheckResult::Failed(e)
            }
        };
        self.report.checks.push(CheckOutcome {
            check,
            action,
            result,
        });
        self.report.failure.is_none()
    }

    fn finish(mut self) -> SignatureReport {
        for check in Check::ALL {
            if !self.report.checks.iter().any(|c| c.check == check) {
                let action = self.action(check);
                let result = if action == Action::Skip {
                    CheckResult::Skipped
                } else {
                    CheckResult::NotRun
                };
                self.report.checks.push(CheckOutcome {
                    check,
                    action,
                    result,
                });
            }
        }
        self.report
    }
}

fn verify_signature(
    statement: &Statement,
    stores: &TrustStores,
    artifact: &Artifact,
    candidate: &Candidate,
    at: OffsetDateTime,
    revocation: &dyn RevocationChecker,
    limits: &Limits,
) -> SignatureReport {
    let mut r = Recorder {
        statement,
        report: SignatureReport {
            manifest_digest: candidate.manifest_digest,
            envelope_type: None,
            chain: Vec::new(),
            signing_scheme: None,
            signing_time: None,
            expiry: None,
            timestamp: None,
            checks: Vec::new(),
            failure: None,
            warnings: Vec::new(),
        },
    };
    // integrity
    let opened = match &candidate.envelope {
        Ok((media_type, bytes)) => envelope::open(media_type, bytes, limits.max_envelope_bytes)
            .and_then(|o| o.for_artifact(artifact))
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.clone()),
    };
    let env = match opened {
        Ok(env) => env,
        Err(e) => {
            r.record(Check::Integrity, Err(e));
            return r.finish();
        }
    };
    r.report.envelope_type = Some(env.envelope_type);
    r.report.chain = env.chain.clone();
    r.report.signing_scheme = Some(env.signing_scheme);
    r.report.signing_time = Some(env.signing_time);
    r.report.expiry = env.expiry;
    r.record(Check::Integrity, Ok(()));

    // authenticity: the trust stores of the scheme's type, then the trusted identity
    let kind = match env.signing_scheme {
        SigningScheme::X509 => StoreType::Ca,
        SigningScheme::X509SigningAuthority => StoreType::SigningAuthority,
    };
    let authentic = trusted(statement, stores, kind)
        .and_then(|certs| chain::authentic(&env.chain, &certs))
        .and_then(|()| {
            let leaf = env.chain.first().map_or("", |c| c.subject.as_str());
            identity::check_leaf(&statement.name, &statement.trusted_identities, leaf)
        });
    if !r.record(Check::Authenticity, authentic) {
        return r.finish();
    }

    // expiry
    let expiry = match env.expiry {
        Some(expiry) if at >= expiry => Err(format!(
            "digital signature has expired on {:?}",
            rfc1123z(expiry)
        )),
        _ => Ok(()),
    };
    if !r.record(Check::Expiry, expiry) {
        return r.finish();
    }

    // authenticTimestamp
    let timestamp = authentic_timestamp(statement, stores, &env, at, revocation);
    let ok = match timestamp {
        Ok(ts) => {
            r.report.timestamp = ts;
            r.record(Check::AuthenticTimestamp, Ok(()))
        }
        Err(e) => r.record(Check::AuthenticTimestamp, Err(e)),
    };
    if !ok {
        return r.finish();
    }

    // revocation
    if r.action(Check::Revocation) != Action::Skip {
        let statuses = revocation::chain_status(&env.chain, Purpose::CodeSigning, revocation);
        let result = revocation::final_result(&env.chain, &statuses, "signing");
        r.record(Check::Revocation, result);
    }
    r.finish()
}

/// The certificates of the statement's stores of `kind`; a store that failed to load fails the
/// check with the loader's words.
fn trusted(
    statement: &Statement,
    stores: &TrustStores,
    kind: StoreType,
) -> Result<Vec<Cert>, String> {
    let mut certs = Vec::new();
    for store in statement.stores_of(kind) {
        match stores.get(store) {
            Some(Ok(c)) => certs.extend(c.iter().cloned()),
            Some(Err(e)) => return Err(e.to_string()),
            None => {
                return Err(format!(
                    "the trust store {:?} of type {:?} was not loaded",
                    store.name,
                    kind.name()
                ))
            }
        }
    }
    Ok(certs)
}

/// Every certificate of `chain` has begun (`started`) and not ended (`not_ended`) at the time in
/// question; else which did not, as notation-go says it (`what` is "verification time is" or
/// "timestamp can be").
fn within_validity(
    chain: &[Cert],
    what: &str,
    started: impl Fn(OffsetDateTime) -> bool,
    not_ended: impl Fn(OffsetDateTime) -> bool,
) -> Result<(), String> {
    for cert in chain {
        if !started(cert.not_before) {
            return Err(format!(
                "{what} before certificate {:?} validity period, it will be valid from {:?}",
                cert.subject,
                rfc1123z(cert.not_before)
            ));
        }
        if !not_ended(cert.not_after) {
            return Err(format!(
                "{what} after certificate {:?} validity period, it was expired at {:?}",
                cert.subject,
                rfc1123z(cert.not_after)
            ));
        }
    }
    Ok(())
}

/// notation-go's `verifyAuthenticTimestamp`: under signingAuthority the signing time is
/// authentic and must lie in every certificate's validity; under notary.x509 either the chain
/// must be valid at `at` (no tsa store, or afterCertExpiry with nothing expired yet) or the
/// countersignature must stand and fall within the chain's validity.
fn authentic_timestamp(
    statement: &Statement,
    stores: &TrustStores,
    env: &Envelope,
    at: OffsetDateTime,
    revocation: &dyn RevocationChecker,
) -> Result<Option<Timestamp>, String> {
    if env.signing_scheme == SigningScheme::X509SigningAuthority {
        for cert in &env.chain {
            if !cert.valid_at(env.signing_time) {
                return Err(format!(
                    "certificate {:?} was not valid when the digital signature was produced at {:?}",
                    cert.subject,
                    rfc1123z(env.signing_time)
                ));
            }
        }
        return Ok(None);
    }
    let mut stamp = statement.stores_of(StoreType::Tsa).next().is_some();
    if stamp && statement.verification.verify_timestamp == VerifyTimestamp::AfterCertExpiry {
        stamp = env.chain.iter().any(|c| at > c.not_after);
    }
    if !stamp {
        within_validity(
            &env.chain,
            "verification time is",
            |not_before| at >= not_before,
            |not_after| at <= not_after,
        )?;
        return Ok(None);
    }
    let token = env
        .timestamp_token
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or("no timestamp countersignature was found in the signature envelope")?;
    let parsed = timestamp::parse(token, &env.signature).map_err(|e| e.to_string())?;
    let roots = trusted(statement, stores, StoreType::Tsa)
        .map_err(|e| format!("failed to load tsa trust store with error: {e}"))?;
    if roots.is_empty() {
        return Err("no trusted TSA certificate found in trust store".into());
    }
    let ts = parsed.verify(&roots).map_err(|e| e.to_string())?;
    within_validity(
        &env.chain,
        "timestamp can be",
        |not_before| ts.bounded_after(not_before),
        |not_after| ts.bounded_before(not_after),
    )?;
    let statuses = revocation::chain_status(&ts.tsa_chain, Purpose::Timestamping, revocation);
    revocation::final_result(&ts.tsa_chain, &statuses, "timestamping")?;
    Ok(Some(ts))
}
