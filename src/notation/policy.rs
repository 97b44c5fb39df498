//! `trustpolicy.json` version 1.0, read and validated as notation-go validates it
//! (`verifier/trustpolicy`): the whole document before any artifact is looked at, every fault a
//! [`PolicyError`] that names the statement. Unknown fields are ignored, as Go ignores them;
//! a field given twice in one object is refused (Go would keep the last silently).

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::identity::{IdentityError, TrustedIdentity};

/// A policy file larger than this is not a policy.
pub const MAX_POLICY_BYTES: usize = 1024 * 1024;

/// The five checks, in the order notation-go runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    Integrity,
    Authenticity,
    AuthenticTimestamp,
    Expiry,
    Revocation,
}

impl Check {
    pub const ALL: [Check; 5] = [
        Check::Integrity,
        Check::Authenticity,
        Check::AuthenticTimestamp,
        Check::Expiry,
        Check::Revocation,
    ];

    /// The name notation uses (`authenticTimestamp`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Check::Integrity => "integrity",
            Check::Authenticity => "authenticity",
            Check::AuthenticTimestamp => "authenticTimestamp",
            Check::Expiry => "expiry",
            Check::Revocation => "revocation",
        }
    }

    fn from_name(s: &str) -> Option<Check> {
        Check::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// What a failed check does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The signature fails.
    Enforce,
    /// A warning; the checks go on.
    Log,
    /// Not run.
    Skip,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Enforce => "enforce",
            Action::Log => "log",
            Action::Skip => "skip",
        }
    }

    fn from_name(s: &str) -> Option<Action> {
        [Action::Enforce, Action::Log, Action::Skip]
            .into_iter()
            .find(|a| a.name() == s)
    }
}

/// The four levels of the specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Strict,
    Permissive,
    Audit,
    Skip,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Strict => "strict",
            Level::Permissive => "permissive",
            Level::Audit => "audit",
            Level::Skip => "skip",
        }
    }

    /// The level's action for each check (the specification's table).
    pub fn action(self, check: Check) -> Action {
        use Action::*;
        match (self, check) {
            (Level::Skip, _) => Skip,
            (_, Check::Integrity) => Enforce,
            (Level::Strict, _) => Enforce,
            (Level::Permissive, Check::Authenticity) => Enforce,
            (Level::Permissive, _) => Log,
            (Level::Audit, _) => Log,
        }
    }
}

/// When a timestamp countersignature is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyTimestamp {
    /// Whenever the policy names a tsa store (the default).
    Always,
    /// Only once a certificate of the signing chain has expired.
    AfterCertExpiry,
}

/// The type of a trust store, which decides what it may vouch for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StoreType {
    /// Roots for `notary.x509` signatures.
    Ca,
    /// Roots for `notary.x509.signingAuthority` signatures.
    SigningAuthority,
    /// Roots of timestamping authorities.
    Tsa,
}

impl StoreType {
    pub const ALL: [StoreType; 3] = [StoreType::Ca, StoreType::SigningAuthority, StoreType::Tsa];

    /// The name in policies and the folder name under `x509/`.
    pub fn name(self) -> &'static str {
        match self {
            StoreType::Ca => "ca",
            StoreType::SigningAuthority => "signingAuthority",
            StoreType::Tsa => "tsa",
        }
    }

    fn from_name(s: &str) -> Option<StoreType> {
        StoreType::ALL.into_iter().find(|t| t.name() == s)
    }
}

/// `type:name` from `trustStores`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StoreRef {
    pub kind: StoreType,
    pub name: String,
}

/// A statement's `signatureVerification`, resolved to one action per check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub level: Level,
    /// `true` when `override` changed something (notation then calls the level "custom").
    pub customised: bool,
    actions: BTreeMap<Check, Action>,
    pub verify_timestamp: VerifyTimestamp,
}

impl Verification {
    pub fn action(&self, check: Check) -> Action {
        self.actions
            .get(&check)
            .copied()
            .unwrap_or_else(|| self.level.action(check))
    }
}

/// One validated statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub name: String,
    /// `*` alone, or exact `host[:port]/repository` scopes.
    pub registry_scopes: Vec<String>,
    pub verification: Verification,
    pub trust_stores: Vec<StoreRef>,
    pub trusted_identities: Vec<TrustedIdentity>,
}

impl Statement {
    pub fn is_skip(&self) -> bool {
        self.verification.level == Level::Skip
    }

    /// The statement's stores of one type, in policy order.
    pub fn stores_of(&self, kind: StoreType) -> impl Iterator<Item = &StoreRef> {
        self.trust_stores.iter().filter(move |s| s.kind == kind)
    }
}

/// A validated trust policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustPolicy {
    pub statements: Vec<Statement>,
}

/// Why a policy document is refused (bad input, exit 2), in notation-go's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the trust policy is {len} bytes, more than the {MAX_POLICY_BYTES} allowed")]
    TooLarge { len: usize },
    #[error("malformed trust policy: {reason}")]
    Malformed { reason: String },
    #[error("oci trust policy document has empty version, version must be specified")]
    NoVersion,
    #[error("oci trust policy document uses unsupported version {0:?}")]
    Version(String),
    #[error("oci trust policy document can not have zero trust policy statements")]
    NoStatements,
    #[error("a trust policy statement is missing a name, every statement requires a name")]
    NoName,
    #[error("multiple oci trust policy statements use the same name {0:?}, statement names must be unique")]
    DuplicateName(String),
    /// A fault inside one statement.
    #[error("oci trust policy: trust policy statement {statement:?} {reason}")]
    Statement { statement: String, reason: String },
    #[error("registry scope {scope:?} is present in multiple oci trust policy statements, one registry scope value can only be associated with one statement")]
    DuplicateScope { scope: String },
}

impl PolicyError {
    /// The statement the fault is in, if it is in one.
    pub fn statement(&self) -> Option<&str> {
        match self {
            PolicyError::Statement { statement, .. } => Some(statement),
            PolicyError::DuplicateName(n) => Some(n),
            _ => None,
        }
    }
}

// Wire types: what the JSON says, before validation.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireDocument {
    version: Option<String>,
    trust_policies: Option<Vec<WireStatement>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireStatement {
    name: Option<String>,
    registry_scopes: Option<Vec<String>>,
    signature_verification: Option<WireVerification>,
    trust_stores: Option<Vec<String>>,
    trusted_identities: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireVerification {
    level: Option<String>,
    r#override: Option<BTreeMap<String, String>>,
    verify_timestamp: Option<String>,
}

impl TrustPolicy {
    /// Read and validate a whole document.
    pub fn parse(bytes: &[u8]) -> Result<TrustPolicy, PolicyError> {
        if bytes.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::TooLarge { len: bytes.len() });
        }
        let wire: WireDocument =
            serde_json::from_slice(bytes).map_err(|e| PolicyError::Malformed {
                reason: e.to_string(),
            })?;
        let version = wire.version.unwrap_or_default();
        if version.is_empty() {
            return Err(PolicyError::NoVersion);
        }
        if version != "1.0" {
            return Err(PolicyError::Version(version));
        }
        let wire_statements = wire.trust_policies.unwrap_or_default();
        if wire_statements.is_empty() {
            return Err(PolicyError::NoStatements);
        }
        let mut names = BTreeSet::new();
        let mut statements = Vec::with_capacity(wire_statements.len());
        for w in wire_statements {
            let name = w.name.clone().unwrap_or_default();
            if names.contains(&name) {
                return Err(PolicyError::DuplicateName(name));
            }
            statements.push(statement(w)?);
            names.insert(name);
        }
        validate_scopes(&statements)?;
        Ok(TrustPolicy { statements })
    }

    /// The statement for a scope (`host[:port]/repository`): the one that lists it, else the
    /// `*` statement, else none.
    pub fn applicable(&self, scope: &str) -> Option<&Statement> {
        let exact = self
            .statements
            .iter()
            .find(|s| s.registry_scopes.iter().any(|r| r == scope));
        exact.or_else(|| {
            self.statements
                .iter()
                .find(|s| s.registry_scopes.iter().any(|r| r == "*"))
        })
    }
}

/// One statement given as JSON (a Notation statement inside trustpin's own policy file),
/// validated by exactly the rules of a whole document's statements, scopes aside: the caller
/// matches scopes its own way.
pub fn parse_statement(value: serde_json::Value) -> Result<Statement, PolicyError> {
    let wire: WireStatement =
        serde_json::from_value(value).map_err(|e| PolicyError::Malformed {
            reason: e.to_string(),
        })?;
    statement(wire)
}

fn statement(w: WireStatement) -> Result<Statement, PolicyError> {
    let name = w.name.unwrap_or_default();
    if name.is_empty() {
        return Err(PolicyError::NoName);
    }
    let fault = |reason: String| PolicyError::Statement {
        statement: name.clone(),
        reason,
    };
    let invalid = |reason: String| fault(format!("has invalid signatureVerification: {reason}"));
    let wv = w.signature_verification.unwrap_or(WireVerification {
        level: None,
        r#override: None,
        verify_timestamp: None,
    });
    let level_name = wv.level.unwrap_or_default();
    if level_name.is_empty() {
        return Err(invalid(
            "signature verification level is empty or missing in the trust policy statement".into(),
        ));
    }
    let level = [Level::Strict, Level::Permissive, Level::Audit, Level::Skip]
        .into_iter()
        .find(|l| l.name() == level_name)
        .ok_or_else(|| {
            invalid(format!(
                "invalid signature verification level {level_name:?}"
            ))
        })?;
    let overrides = wv.r#override.unwrap_or_default();
    if level == Level::Skip && !overrides.is_empty() {
        return Err(invalid(
            "signature verification level \"skip\" can't be used to customize signature verification".into(),
        ));
    }
    let mut actions = BTreeMap::new();
    for (key, value) in &overrides {
        let check = Check::from_name(key).ok_or_else(|| {
            invalid(format!("verification type {key:?} in custom signature verification is not supported, supported values are [\"integrity\" \"authenticity\" \"authenticTimestamp\" \"expiry\" \"revocation\"]"))
        })?;
        let action = Action::from_name(value).ok_or_else(|| {
            invalid(format!("verification action {value:?} in custom signature verification is not supported, supported values are [\"enforce\" \"log\" \"skip\"]"))
        })?;
        if check == Check::Integrity {
            return Err(invalid(format!(
                "{key:?} verification can not be overridden in custom signature verification"
            )));
        }
        if check != Check::Revocation && action == Action::Skip {
            return Err(invalid(format!(
                "{key:?} verification can not be skipped in custom signature verification"
            )));
        }
        actions.insert(check, action);
    }
    let verify_timestamp = match wv.verify_timestamp.as_deref() {
        None | Some("") | Some("always") => VerifyTimestamp::Always,
        Some("afterCertExpiry") => VerifyTimestamp::AfterCertExpiry,
        Some(other) => {
            return Err(invalid(format!(
                "verifyTimestamp must be \"always\" or \"afterCertExpiry\", but got {other:?}"
            )))
        }
    };
    let raw_stores = w.trust_stores.unwrap_or_default();
    let raw_identities = w.trusted_identities.unwrap_or_default();
    let mut trust_stores = Vec::new();
    let mut trusted_identities = Vec::new();
    if level == Level::Skip {
        if !raw_stores.is_empty() || !raw_identities.is_empty() {
            return Err(fault("is set to skip signature verification but configured with trust stores and/or trusted identities, remove them if signature verification needs to be skipped".into()));
        }
    } else {
        if raw_stores.is_empty() || raw_identities.is_empty() {
            return Err(fault(
                "is either missing trust stores or trusted identities, both must be specified"
                    .into(),
            ));
        }
        for raw in &raw_stores {
            trust_stores.push(store_ref(raw).map_err(fault)?);
        }
        trusted_identities = identities(&raw_identities).map_err(fault)?;
    }
    Ok(Statement {
        name,
        registry_scopes: w.registry_scopes.unwrap_or_default(),
        verification: Verification {
            level,
            customised: !actions.is_empty(),
            actions,
            verify_timestamp,
        },
        trust_stores,
        trusted_identities,
    })
}

fn store_ref(raw: &str) -> Result<StoreRef, String> {
    let (kind, name) = raw.split_once(':').ok_or_else(|| {
        format!("has malformed trust store value {raw:?}. The required format is <TrustStoreType>:<TrustStoreName>")
    })?;
    let kind = StoreType::from_name(kind).ok_or_else(|| {
        format!("uses an unsupported trust store type {kind:?} in trust store value {raw:?}")
    })?;
    if !is_valid_store_name(name) {
        return Err(format!("uses an unsupported trust store name {name:?} in trust store value {raw:?}. Named store name needs to follow [a-zA-Z0-9_.-]+ format"));
    }
    Ok(StoreRef {
        kind,
        name: name.to_string(),
    })
}

/// `[a-zA-Z0-9_.-]+`, the names notation accepts for stores (and so for folders).
pub fn is_valid_store_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn identities(raw: &[String]) -> Result<Vec<TrustedIdentity>, String> {
    if raw.len() > 1 && raw.iter().any(|i| i == "*") {
        return Err("uses a wildcard trusted identity '*', a wildcard identity cannot be used in conjunction with other values".into());
    }
    let mut out = Vec::with_capacity(raw.len());
    for r in raw {
        out.push(TrustedIdentity::parse(r).map_err(|e: IdentityError| e.to_string())?);
    }
    let dns: Vec<(&String, &super::identity::Dn)> = out
        .iter()
        .filter_map(|i| match i {
            TrustedIdentity::X509Subject { raw, dn } => Some((raw, dn)),
            _ => None,
        })
        .collect();
    for (i, (raw1, dn1)) in dns.iter().enumerate() {
        for (j, (raw2, dn2)) in dns.iter().enumerate() {
            if i != j && dn1.is_subset_of(dn2) {
                return Err(format!(
                    "has overlapping x509 trustedIdentities, {raw1:?} overlaps with {raw2:?}"
                ));
            }
        }
    }
    Ok(out)
}

fn validate_scopes(statements: &[Statement]) -> Result<(), PolicyError> {
    let mut seen = BTreeSet::new();
    for s in statements {
        let fault = |reason: String| PolicyError::Statement {
            statement: s.name.clone(),
            reason,
        };
        if s.registry_scopes.is_empty() {
            return Err(fault(
                "has zero registry scopes, it must specify registry scopes with at least one value"
                    .into(),
            ));
        }
        if s.registry_scopes.len() > 1 && s.registry_scopes.iter().any(|r| r == "*") {
            return Err(fault("uses wildcard registry scope '*', a wildcard scope cannot be used in conjunction with other scope values".into()));
        }
        for scope in &s.registry_scopes {
            if scope != "*" {
                validate_scope_format(scope).map_err(&fault)?;
            }
            if !seen.insert(scope.as_str()) {
                return Err(PolicyError::DuplicateScope {
                    scope: scope.clone(),
                });
            }
        }
    }
    Ok(())
}

/// `domain[:port]/repository` as notation-go's regular expressions say (no scheme, no tag, no
/// wildcard).
pub fn validate_scope_format(scope: &str) -> Result<(), String> {
    const HINT: &str = "make sure it is a fully qualified repository without the scheme, protocol or tag. For example domain.com/my/repository or a local scope like local/myOCILayout";
    if scope.len() > 1 && scope.contains('*') {
        return Err(format!(
            "registry scope {scope:?} with wild card(s) is not valid, {HINT}"
        ));
    }
    let bad = || format!("registry scope {scope:?} is not valid, {HINT}");
    let (domain, repository) = scope.split_once('/').ok_or_else(bad)?;
    if !valid_domain(domain) || !valid_repository(repository) {
        return Err(bad());
    }
    Ok(())
}

/// `label(.label)*(:port)?`, a label being alphanumerics with inner hyphens.
fn valid_domain(domain: &str) -> bool {
    let (host, port) = match domain.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (domain, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                && b.first().is_some_and(u8::is_ascii_alphanumeric)
                && b.last().is_some_and(u8::is_ascii_alphanumeric)
        })
}

/// Path components `[a-z0-9]+` joined by `.`, `_`, `__` or any run of `-`, separated by `/`.
fn valid_repository(repo: &str) -> bool {
    repo.split('/').all(|component| {
        let b = component.as_bytes();
        if b.is_empty()
            || !b
                .iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c))
        {
            return false;
        }
        let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        if !b.first().is_some_and(alnum) || !b.last().is_some_and(alnum) {
            return false;
        }
        // separators between alphanumeric runs: ".", "_", "__" or "-"+
        let mut i = 0;
        while i < b.len() {
            if alnum(&b[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && !alnum(&b[i]) {
                i += 1;
            }
            let sep = &component[start..i];
            let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
            if !ok {
                return false;
            }
        }
        true
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(statements: &str) -> Result<TrustPolicy, PolicyError> {
        TrustPolicy::parse(
            format!(r#"{{"version":"1.0","trustPolicies":[{statements}]}}"#).as_bytes(),
        )
    }

    const GOOD: &str = r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:e2e"],"trustedIdentities":["*"]}"#;

    #[test]
    fn a_good_statement_resolves_its_actions() {
        let p = doc(GOOD).unwrap();
        let s = p.applicable("local/e2e").unwrap();
        assert_eq!(s.verification.action(Check::Expiry), Action::Enforce);
        let p = doc(r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"audit","override":{"expiry":"enforce","revocation":"skip"}},"trustStores":["ca:e2e"],"trustedIdentities":["*"]}"#).unwrap();
        let v = &p.statements[0].verification;
        assert_eq!(v.action(Check::Expiry), Action::Enforce);
        assert_eq!(v.action(Check::Revocation), Action::Skip);
        assert_eq!(v.action(Check::Authenticity), Action::Log);
        assert_eq!(v.action(Check::Integrity), Action::Enforce);
    }

    #[test]
    fn every_fault_notation_names_is_refused_and_names_its_statement() {
        // (in the good statement, this, replaced by this, is refused for these words)
        let cases = [
            (
                r#"strict"}"#,
                r#"strict","override":{"integrity":"log"}}"#,
                "integrity",
            ),
            (
                r#"strict"}"#,
                r#"strict","override":{"expiry":"skip"}}"#,
                "can not be skipped",
            ),
            (
                r#""strict""#,
                r#""skip","override":{"expiry":"log"}"#,
                "customize",
            ),
            ("strict", "lenient", "invalid signature verification level"),
            (
                r#"strict"}"#,
                r#"strict","verifyTimestamp":"never"}"#,
                "verifyTimestamp",
            ),
            ("ca:e2e", "ca", "malformed trust store"),
            ("ca:e2e", "root:e2e", "unsupported trust store type"),
            ("ca:e2e", "ca:e 2e", "unsupported trust store name"),
            (
                r#"["*"]}"#,
                r#"["*","x509.subject:C=US,ST=WA,O=x"]}"#,
                "wildcard trusted identity",
            ),
            (r#"["*"]}"#, r#"["x509.subject:C=US,O=x"]}"#, "mandatory"),
            (
                r#"["*"]}"#,
                r#"["x509.subject:C=US,ST=WA,O=x","x509.subject:C=US,ST=WA,O=x,CN=y"]}"#,
                "overlapping",
            ),
            (r#"["*"]}"#, r#"["nocolon"]}"#, "missing separator"),
            (r#""trustStores":["ca:e2e"],"#, "", "missing trust stores"),
            (r#"["*"],"sig"#, r#"[],"sig"#, "zero registry scopes"),
            (
                r#"["*"],"sig"#,
                r#"["*","a.io/b"],"sig"#,
                "wildcard registry scope",
            ),
            (r#"["*"],"sig"#, r#"["a.io/b:v1"],"sig"#, "is not valid"),
            (r#"["*"],"sig"#, r#"["a.io/b*"],"sig"#, "wild card"),
        ];
        for (from, to, words) in cases {
            let statement = GOOD.replace(from, to);
            let err = doc(&statement).unwrap_err();
            assert!(err.to_string().contains(words), "{statement}: {err}");
            assert_eq!(err.statement(), Some("a"), "{err}");
        }
        let skip_with_stores = r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"skip"},"trustStores":["ca:e2e"],"trustedIdentities":["*"]}"#;
        assert!(doc(skip_with_stores)
            .unwrap_err()
            .to_string()
            .contains("skip signature verification"));
    }

    #[test]
    fn documents_without_version_statements_or_unique_names_and_scopes_are_refused() {
        assert_eq!(
            TrustPolicy::parse(br#"{"trustPolicies":[]}"#),
            Err(PolicyError::NoVersion)
        );
        assert_eq!(
            TrustPolicy::parse(br#"{"version":"2.0"}"#),
            Err(PolicyError::Version("2.0".into()))
        );
        assert_eq!(doc(""), Err(PolicyError::NoStatements));
        assert_eq!(
            doc(&format!("{GOOD},{GOOD}")),
            Err(PolicyError::DuplicateName("a".into()))
        );
        let b = GOOD.replace("\"a\"", "\"b\"");
        assert!(matches!(
            doc(&format!("{GOOD},{b}")),
            Err(PolicyError::DuplicateScope { .. })
        ));
        let twice = GOOD.replace("[\"*\"],\"sig", "[\"a.io/b\",\"a.io/b\"],\"sig");
        assert!(matches!(
            doc(&twice),
            Err(PolicyError::DuplicateScope { .. })
        ));
        assert!(matches!(
            TrustPolicy::parse(b"{"),
            Err(PolicyError::Malformed { .. })
        ));
        assert!(matches!(
            TrustPolicy::parse(br#"{"version":"1.0","version":"1.0"}"#),
            Err(PolicyError::Malformed { .. })
        ));
    }

    #[test]
    fn the_exact_scope_wins_over_the_wildcard() {
        let exact = GOOD
            .replace("\"a\"", "\"exact\"")
            .replace("[\"*\"],\"sig", "[\"local/e2e\"],\"sig");
        let p = doc(&format!("{GOOD},{exact}")).unwrap();
        assert_eq!(p.applicable("local/e2e").unwrap().name, "exact");
        assert_eq!(p.applicable("local/other").unwrap().name, "a");
        let p = doc(&exact).unwrap();
        assert!(p.applicable("local/other").is_none());
    }

    #[test]
    fn scope_formats_follow_notations_patterns() {
        for ok in [
            "local/e2e",
            "localhost:5000/a/b",
            "a.io/x__y/z-w",
            "reg.io/a--b.c",
        ] {
            assert!(validate_scope_format(ok).is_ok(), "{ok}");
        }
        for bad in [
            "e2e",
            "/x",
            "a.io/",
            "a.io/Upper",
            "http://a.io/x",
            "a.io/x:tag",
            "-a.io/x",
            "a.io/x..y",
        ] {
            assert!(validate_scope_format(bad).is_err(), "{bad}");
        }
    }
}
