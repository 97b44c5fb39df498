//! Trust policy files: which repositories are verified how, against which pinned keys, from which
//! server. JSON in the spirit of the Notary Project's trustpolicy.json. A policy that does not
//! parse, names a key it cannot read, or is ambiguous is refused as a whole, naming the line and
//! the field.
//!
//! One file for both generations of the Notary Project: a statement with `trustRoots` is a
//! Notary v1 policy; one with `trustStores` and `trustedIdentities` is a Notation policy, its
//! fields validated by [`crate::notation::policy::parse_statement`] (notation-go's rules), its
//! trust store the folder `trustStore` names (default `truststore/` beside the policy file); one
//! with both needs both signatures, unless `"require": "any"`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::reference;
use crate::tuf::keys::PinnedKey;
use crate::tuf::level::Level;

/// What a policy says to do with a repository's signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Verify(Level),
    /// No verification at all: reported as such, never as trusted.
    Skip,
}

/// Where a policy's trust data comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Server {
    pub url: Option<String>,
    pub ca_file: Option<PathBuf>,
    /// How to find credentials: `docker` (docker's order), `env`, or `none`.
    pub credentials: Option<String>,
    pub check_health: bool,
}

/// A statement's Notation side.
#[derive(Debug, Clone)]
pub struct NotationPolicy {
    /// Validated as notation-go validates a trustpolicy.json statement.
    pub statement: crate::notation::policy::Statement,
    /// The trust store folder (`x509/{ca,signingAuthority,tsa}/<name>/`).
    pub trust_store: PathBuf,
}

/// With both generations in one statement: which must verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Require {
    /// Both signatures (the default).
    All,
    /// Either (a migration window).
    Any,
}

/// A generation of Notary Project signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Generation {
    NotaryV1,
    Notation,
}

impl Generation {
    /// The name in output (`notary-v1`, `notation`).
    pub fn name(self) -> &'static str {
        match self {
            Generation::NotaryV1 => "notary-v1",
            Generation::Notation => "notation",
        }
    }

    /// The name in sentences (`Notary v1`, `Notation`).
    pub fn title(self) -> &'static str {
        match self {
            Generation::NotaryV1 => "Notary v1",
            Generation::Notation => "Notation",
        }
    }
}

/// One checked policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub scopes: Vec<String>,
    pub verification: Verification,
    /// Notary v1 pinned root keys; empty for a Notation-only statement.
    pub trust_roots: Vec<PinnedKey>,
    pub required_delegations: Vec<String>,
    pub server: Server,
    /// The Notation side, when the statement has `trustStores` and `trustedIdentities`.
    pub notation: Option<NotationPolicy>,
    pub require: Require,
}

impl Policy {
    /// The generations this statement verifies (none for `skip`).
    pub fn generations(&self) -> Vec<Generation> {
        if self.verification == Verification::Skip {
            return Vec::new();
        }
        let mut out = Vec::new();
        if !self.trust_roots.is_empty() {
            out.push(Generation::NotaryV1);
        }
        if self.notation.is_some() {
            out.push(Generation::Notation);
        }
        out
    }
}

/// A checked policy file.
#[derive(Debug, Clone)]
pub struct PolicySet {
    pub policies: Vec<Policy>,
    exact: BTreeMap<String, usize>,
    /// (prefix ending in `/`, policy index), longest first.
    prefixes: Vec<(String, usize)>,
    global: Option<usize>,
}

/// Why a policy file is refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("policy file {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("policy file {file}, line {line} column {column}: {message}")]
    Parse {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("policy file {file}, line {line}: {field}: {message}")]
    Invalid {
        file: String,
        line: usize,
        field: String,
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileWire {
    version: String,
    trust_policies: Vec<PolicyWire>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PolicyWire {
    name: String,
    registry_scopes: Vec<String>,
    signature_verification: SigWire,
    #[serde(default)]
    trust_roots: Vec<String>,
    #[serde(default)]
    required_delegations: Vec<String>,
    server: Option<ServerWire>,
    trust_stores: Option<Vec<String>>,
    trusted_identities: Option<Vec<String>>,
    trust_store: Option<String>,
    require: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SigWire {
    level: String,
    /// Notation only: passed to its validation as written.
    r#override: Option<serde_json::Value>,
    verify_timestamp: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServerWire {
    url: Option<String>,
    ca_file: Option<String>,
    credentials: Option<String>,
    #[serde(default)]
    check_health: bool,
}

/// The 1-based line of the first occurrence of `needle` (a JSON string's text) at or after the
/// start of policy `index`, for messages; 1 when not found.
fn line_of(text: &str, index: usize, needle: &str) -> usize {
    // Find where policy `index` starts: the index-th occurrence of `"name"` key.
    let mut from = 0;
    for _ in 0..=index {
        match text[from..].find("\"name\"") {
            Some(p) => from += p + 1,
            None => break,
        }
    }
    let start = from.saturating_sub(1);
    let quoted = serde_json::to_string(needle).unwrap_or_default();
    let at = text[start..]
        .find(&quoted)
        .map(|p| start + p)
        .or_else(|| text.find(&quoted))
        .unwrap_or(0);
    text[..at].bytes().filter(|&b| b == b'\n').count() + 1
}

impl PolicySet {
    /// Read and check a policy file; relative key and CA paths are relative to its folder.
    pub fn load(path: &Path) -> Result<PolicySet, PolicyError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            file: file.clone(),
            source,
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        PolicySet::parse(&text, &file, &base)
    }

    /// Check policy text. `file` names it in errors; `base` resolves relative paths.
    pub fn parse(text: &str, file: &str, base: &Path) -> Result<PolicySet, PolicyError> {
        // serde_path_to_error names the field a type error is in (`trustPolicies[0].registryScopes`).
        let wire: FileWire =
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text))
                .map_err(|e| {
                    let path = e.path().to_string();
                    let inner = e.into_inner();
                    let message = inner
                        .to_string()
                        .split(" at line")
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    PolicyError::Parse {
                        file: file.to_owned(),
                        line: inner.line(),
                        column: inner.column(),
                        message: if path.is_empty() || path == "." {
                            message
                        } else {
                            format!("{path}: {message}")
                        },
                    }
                })?;
        let invalid =
            |index: usize, needle: &str, field: String, message: String| PolicyError::Invalid {
                file: file.to_owned(),
                line: line_of(text, index, needle),
                field,
                message,
            };
        if wire.version != "1.0" {
            return Err(invalid(
                0,
                &wire.version,
                "version".into(),
                format!("{:?} is not supported; use \"1.0\"", wire.version),
            ));
        }
        if wire.trust_policies.is_empty() {
            return Err(invalid(
                0,
                "trustPolicies",
                "trustPolicies".into(),
                "no policies".into(),
            ));
        }
        let mut set = PolicySet {
            policies: Vec::new(),
            exact: BTreeMap::new(),
            prefixes: Vec::new(),
            global: None,
        };
        let mut names = BTreeMap::new();
        let mut owners: BTreeMap<String, String> = BTreeMap::new();
        for (i, p) in wire.trust_policies.into_iter().enumerate() {
            let field = |f: &str| format!("trustPolicies[{i}] ({:?}).{f}", p.name);
            if p.name.trim().is_empty() {
                return Err(invalid(
                    i,
                    &p.name,
                    format!("trustPolicies[{i}].name"),
                    "empty name".into(),
                ));
            }
            if let Some(prev) = names.insert(p.name.clone(), i) {
                return Err(invalid(
                    i,
                    &p.name,
                    field("name"),
                    format!("the same name as trustPolicies[{prev}]"),
                ));
            }
            let verification = match p.signature_verification.level.as_str() {
                "skip" => Verification::Skip,
                other => match Level::parse(other) {
                    Some(l) => Verification::Verify(l),
                    None => {
                        return Err(invalid(
                            i,
                            other,
                            field("signatureVerification.level"),
                            format!("{other:?} is not one of strict, permissive, audit, skip"),
                        ))
                    }
                },
            };
            if p.registry_scopes.is_empty() {
                return Err(invalid(
                    i,
                    &p.name,
                    field("registryScopes"),
                    "no scopes".into(),
                ));
            }
            for (j, scope) in p.registry_scopes.iter().enumerate() {
                let sfield = field(&format!("registryScopes[{j}]"));
                let key =
                    normalise_scope(scope).map_err(|m| invalid(i, scope, sfield.clone(), m))?;
                if let Some(other) = owners.insert(key.clone(), p.name.clone()) {
                    return Err(invalid(
                        i,
                        scope,
                        sfield,
                        format!("scope {scope:?} is also in policy {other:?}: equally specific scopes may not overlap"),
                    ));
                }
                if key == "*" {
                    set.global = Some(i);
                } else if let Some(prefix) = key.strip_suffix('*') {
                    set.prefixes.push((prefix.to_owned(), i));
                } else {
                    set.exact.insert(key, i);
                }
            }
            let mut trust_roots = Vec::new();
            for (j, root) in p.trust_roots.iter().enumerate() {
                let rfield = field(&format!("trustRoots[{j}]"));
                let key = if root.contains("-----BEGIN") {
                    PinnedKey::parse(
                        root.as_bytes(),
                        &format!("{file}: policy {:?} inline key {j}", p.name),
                    )
                } else {
                    let path = base.join(root);
                    let bytes = std::fs::read(&path).map_err(|e| {
                        invalid(
                            i,
                            root,
                            rfield.clone(),
                            format!("cannot read {}: {e}", path.display()),
                        )
                    })?;
                    PinnedKey::parse(&bytes, &path.display().to_string())
                };
                trust_roots.push(key.map_err(|e| invalid(i, root, rfield, e.to_string()))?);
            }
            let notation =
                notation_part(&p, base).map_err(|(f, m)| invalid(i, &p.name, field(f), m))?;
            if trust_roots.is_empty() && notation.is_none() && verification != Verification::Skip {
                return Err(invalid(
                    i,
                    &p.name,
                    field("trustRoots"),
                    "no pinned keys (trustRoots) and no Notation trustStores and trustedIdentities (only level skip needs none)".into(),
                ));
            }
            let both = !trust_roots.is_empty() && notation.is_some();
            let require = match p.require.as_deref() {
                None | Some("all") => Require::All,
                Some("any") => Require::Any,
                Some(other) => {
                    return Err(invalid(
                        i,
                        other,
                        field("require"),
                        format!("{other:?} is not one of all, any"),
                    ))
                }
            };
            if p.require.is_some() && !both {
                return Err(invalid(
                    i,
                    "require",
                    field("require"),
                    "only a statement with both trustRoots (Notary v1) and trustStores (Notation) chooses which must verify".into(),
                ));
            }
            if notation.is_some() && trust_roots.is_empty() {
                let v1_only = [
                    ("requiredDelegations", !p.required_delegations.is_empty()),
                    (
                        "server.url",
                        p.server.as_ref().is_some_and(|s| s.url.is_some()),
                    ),
                    (
                        "server.checkHealth",
                        p.server.as_ref().is_some_and(|s| s.check_health),
                    ),
                ];
                if let Some((f, _)) = v1_only.iter().find(|(_, set)| *set) {
                    return Err(invalid(
                        i,
                        f.split('.').next_back().unwrap_or(f),
                        field(f),
                        "a Notary v1 setting in a Notation-only statement (no trustRoots): Notation signatures come from the image's registry".into(),
                    ));
                }
            }
            let server = match p.server {
                None => Server::default(),
                Some(s) => {
                    if let Some(c) = &s.credentials {
                        if !matches!(c.as_str(), "docker" | "env" | "none") {
                            return Err(invalid(
                                i,
                                c,
                                field("server.credentials"),
                                format!("{c:?} is not one of docker, env, none"),
                            ));
                        }
                    }
                    if let Some(u) = &s.url {
                        if !(u.starts_with("https://") || u.starts_with("http://")) {
                            return Err(invalid(
                                i,
                                u,
                                field("server.url"),
                                format!("{u:?} is not an http(s) URL"),
                            ));
                        }
                    }
                    Server {
                        url: s.url,
                        ca_file: s.ca_file.map(|c| base.join(c)),
                        credentials: s.credentials,
                        check_health: s.check_health,
                    }
                }
            };
            set.policies.push(Policy {
                name: p.name,
                scopes: p.registry_scopes,
                verification,
                trust_roots,
                required_delegations: p.required_delegations,
                server,
                notation,
                require,
            });
        }
        set.prefixes.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        Ok(set)
    }

    /// The policy for a repository: an exact scope, else the longest matching prefix, else `*`.
    pub fn for_gun(&self, gun: &str) -> Option<&Policy> {
        let i = self
            .exact
            .get(gun)
            .copied()
            .or_else(|| {
                self.prefixes
                    .iter()
                    .find(|(p, _)| gun.starts_with(p.as_str()))
                    .map(|(_, i)| *i)
            })
            .or(self.global)?;
        self.policies.get(i)
    }

    /// Index of the policy `for_gun` picks.
    pub fn index_for(&self, gun: &str) -> Option<usize> {
        let p = self.for_gun(gun)?;
        self.policies.iter().position(|q| std::ptr::eq(q, p))
    }
}

/// The Notation side of statement `p`, if it has one: its Notation fields validated by
/// notation's own rules (the statement named in the message), its trust store folder resolved.
/// Errors are (field, message).
fn notation_part(
    p: &PolicyWire,
    base: &Path,
) -> Result<Option<NotationPolicy>, (&'static str, String)> {
    let sig = &p.signature_verification;
    if p.trust_stores.is_none() && p.trusted_identities.is_none() {
        let stray = [
            ("signatureVerification.override", sig.r#override.is_some()),
            (
                "signatureVerification.verifyTimestamp",
                sig.verify_timestamp.is_some(),
            ),
            ("trustStore", p.trust_store.is_some()),
        ];
        if let Some((f, _)) = stray.iter().find(|(_, set)| *set) {
            return Err((
                f,
                "a Notation setting in a statement without trustStores and trustedIdentities"
                    .into(),
            ));
        }
        return Ok(None);
    }
    let value = serde_json::json!({
        "name": p.name,
        "registryScopes": ["*"],
        "signatureVerification": {
            "level": sig.level,
            "override": sig.r#override,
            "verifyTimestamp": sig.verify_timestamp,
        },
        "trustStores": p.trust_stores,
        "trustedIdentities": p.trusted_identities,
    });
    let statement = crate::notation::policy::parse_statement(value)
        .map_err(|e| ("trustStores", e.to_string()))?;
    if statement.is_skip() {
        return Ok(None);
    }
    let trust_store = base.join(p.trust_store.as_deref().unwrap_or("truststore"));
    Ok(Some(NotationPolicy {
        statement,
        trust_store,
    }))
}

/// `*`, `registry/path/*` (a prefix ending at a component), or an exact repository, normalised
/// as docker normalises names (`alpine` → `docker.io/library/alpine`, `myorg/*` →
/// `docker.io/myorg/*`).
fn normalise_scope(scope: &str) -> Result<String, String> {
    if scope == "*" {
        return Ok("*".into());
    }
    let names_tag_or_digest = |s: &str| {
        s.contains('@') || s.contains('/') && s.rsplit('/').next().is_some_and(|l| l.contains(':'))
    };
    if let Some(prefix) = scope.strip_suffix("/*") {
        if prefix.contains('*') || prefix.is_empty() {
            return Err(format!("{scope:?}: `*` may only end a scope, after a `/`"));
        }
        if names_tag_or_digest(prefix) {
            return Err(format!(
                "{scope:?}: a scope names repositories, not tags or digests"
            ));
        }
        // Check the prefix as a repository name by completing it with one component.
        let probe =
            reference::parse(&format!("{prefix}/x")).map_err(|e| format!("{scope:?}: {e}"))?;
        let gun = probe.gun.strip_suffix("/x").unwrap_or(&probe.gun);
        return Ok(format!("{gun}/*"));
    }
    if scope.contains('*') {
        return Err(format!(
            "{scope:?}: `*` may only be the whole scope or end it, after a `/`"
        ));
    }
    if names_tag_or_digest(scope) || !scope.contains('/') && scope.contains(':') {
        return Err(format!(
            "{scope:?}: a scope names a repository, not a tag or digest"
        ));
    }
    reference::parse(scope)
        .map(|r| r.gun.to_string())
        .map_err(|e| format!("{scope:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/trust-data/keys/phbelitz-a.pub"
    );

    fn parse(text: &str) -> Result<PolicySet, PolicyError> {
        PolicySet::parse(text, "policy.json", Path::new("/"))
    }

    fn one(scopes: &str, extra: &str) -> String {
        format!(
            r#"{{"version":"1.0","trustPolicies":[{{"name":"p","registryScopes":{scopes},"signatureVerification":{{"level":"strict"}},"trustRoots":["{KEY}"]{extra}}}]}}"#
        )
    }

    #[test]
    fn every_field_is_read() {
        let text = format!(
            r#"{{
  "version": "1.0",
  "trustPolicies": [
    {{
      "name": "prod",
      "registryScopes": ["docker.io/myorg/*", "alpine"],
      "signatureVerification": {{"level": "permissive"}},
      "trustRoots": ["{KEY}"],
      "requiredDelegations": ["releases", "targets/qa"],
      "server": {{"url": "https://notary.example.com", "caFile": "ca.pem", "credentials": "docker", "checkHealth": true}}
    }},
    {{ "name": "rest", "registryScopes": ["*"], "signatureVerification": {{"level": "skip"}} }}
  ]
}}"#
        );
        let set = PolicySet::parse(&text, "p.json", Path::new("/etc/trustpin")).unwrap();
        let prod = set.for_gun("docker.io/library/alpine").unwrap();
        assert_eq!(prod.name, "prod");
        assert_eq!(prod.verification, Verification::Verify(Level::Permissive));
        assert_eq!(prod.required_delegations, ["releases", "targets/qa"]);
        assert_eq!(prod.trust_roots.len(), 1);
        assert_eq!(
            prod.server,
            Server {
                url: Some("https://notary.example.com".into()),
                ca_file: Some(PathBuf::from("/etc/trustpin/ca.pem")),
                credentials: Some("docker".into()),
                check_health: true
            }
        );
        assert_eq!(set.for_gun("docker.io/myorg/app").unwrap().name, "prod");
        assert_eq!(
            set.for_gun("docker.io/other/app").unwrap().verification,
            Verification::Skip
        );
    }

    #[test]
    fn most_specific_scope_wins() {
        let text = format!(
            r#"{{"version":"1.0","trustPolicies":[
{{"name":"all","registryScopes":["*"],"signatureVerification":{{"level":"audit"}},"trustRoots":["{KEY}"]}},
{{"name":"org","registryScopes":["example.com/org/*"],"signatureVerification":{{"level":"strict"}},"trustRoots":["{KEY}"]}},
{{"name":"team","registryScopes":["example.com/org/team/*"],"signatureVerification":{{"level":"strict"}},"trustRoots":["{KEY}"]}},
{{"name":"app","registryScopes":["example.com/org/team/app"],"signatureVerification":{{"level":"strict"}},"trustRoots":["{KEY}"]}}]}}"#
        );
        let set = parse(&text).unwrap();
        assert_eq!(set.for_gun("example.com/org/team/app").unwrap().name, "app");
        assert_eq!(
            set.for_gun("example.com/org/team/other").unwrap().name,
            "team"
        );
        assert_eq!(set.for_gun("example.com/org/x").unwrap().name, "org");
        assert_eq!(
            set.for_gun("example.com/organisation/x").unwrap().name,
            "all",
            "prefixes end at a component"
        );
        assert_eq!(set.for_gun("docker.io/library/alpine").unwrap().name, "all");
    }

    #[test]
    fn no_matching_scope_means_no_policy() {
        let set = parse(&one(r#"["example.com/org/*"]"#, "")).unwrap();
        assert!(set.for_gun("docker.io/library/alpine").is_none());
    }

    #[test]
    fn equally_specific_overlapping_scopes_are_refused_naming_both() {
        let text = format!(
            r#"{{"version":"1.0","trustPolicies":[
{{"name":"a","registryScopes":["example.com/org/*"],"signatureVerification":{{"level":"strict"}},"trustRoots":["{KEY}"]}},
{{"name":"b","registryScopes":["example.com/org/*"],"signatureVerification":{{"level":"strict"}},"trustRoots":["{KEY}"]}}]}}"#
        );
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("line 3")
                && err.contains("trustPolicies[1] (\"b\").registryScopes[0]")
                && err.contains("\"a\""),
            "{err}"
        );
        // `alpine` and `docker.io/library/alpine` are the same repository.
        let err = parse(&one(r#"["alpine","docker.io/library/alpine"]"#, ""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("also in policy"), "{err}");
    }

    #[test]
    fn wrong_types_unknown_fields_and_bad_json_name_the_line() {
        let err = parse("{\"version\":\"1.0\",\n\"trustPolicies\": 5}")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("trustPolicies: invalid type"),
            "{err}"
        );
        let err = parse(&one(r#""a/b""#, "")).unwrap_err().to_string();
        assert!(
            err.contains("trustPolicies[0].registryScopes: invalid type"),
            "{err}"
        );
        let err = parse(&one(r#"["a/b"]"#, r#","extra":1"#))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `extra`"), "{err}");
        let err = parse("{\"version\":\"1.0\",\n\n\"trustPolicies\": [}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
        let err = parse(&one(r#"["a/b"]"#, "").replace("strict", "paranoid"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("signatureVerification.level") && err.contains("paranoid"),
            "{err}"
        );
        let err = parse(&one(r#"["a/b"]"#, "").replace("1.0", "2.0"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("version"), "{err}");
    }

    #[test]
    fn missing_or_unreadable_keys_are_refused() {
        let text = r#"{"version":"1.0","trustPolicies":[{"name":"p","registryScopes":["a/b"],"signatureVerification":{"level":"strict"}}]}"#;
        let err = parse(text).unwrap_err().to_string();
        assert!(
            err.contains("trustRoots") && err.contains("no pinned keys"),
            "{err}"
        );
        let err = parse(&one(r#"["a/b"]"#, "").replace(KEY, "/nonexistent.pub"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("trustRoots[0]") && err.contains("cannot read /nonexistent.pub"),
            "{err}"
        );
        let err = parse(&one(r#"["a/b"]"#, "").replace(
            KEY,
            "-----BEGIN PUBLIC KEY-----\\nnope\\n-----END PUBLIC KEY-----",
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("trustRoots[0]"), "{err}");
    }

    #[test]
    fn inline_pem_keys_are_accepted() {
        let pem = std::fs::read_to_string(KEY).unwrap().replace('\n', "\\n");
        let set = parse(&one(r#"["a/b"]"#, "").replace(KEY, &pem)).unwrap();
        assert_eq!(set.for_gun("docker.io/a/b").unwrap().trust_roots.len(), 1);
    }

    #[test]
    fn malformed_scopes_are_refused() {
        for bad in [
            r#"["docker.io/*/x"]"#,
            r#"["alpine:3.1"]"#,
            r#"["Upper/Case"]"#,
            r#"["a/../b"]"#,
            r#"[]"#,
        ] {
            assert!(parse(&one(bad, "")).is_err(), "{bad}");
        }
    }
}
