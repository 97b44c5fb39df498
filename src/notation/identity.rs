//! Trusted identities: `*`, or `x509.subject:` and a Distinguished Name read as notation-go reads
//! it (go-ldap's RFC 4514 parser): C, ST (or S) and O required, one value per attribute, no
//! multi-valued RDN, nothing hex-encoded (`=#`). A leaf certificate matches a DN when its
//! subject holds every attribute of that DN with the same value.

use std::collections::BTreeMap;

/// The most attributes a DN may have; no real subject has more.
const MAX_ATTRIBUTES: usize = 64;

/// A parsed DN: attribute type (S folded into ST) → value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dn(pub BTreeMap<String, String>);

/// One entry of `trustedIdentities`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustedIdentity {
    /// `*`: any signer the trust stores vouch for.
    Any,
    /// `x509.subject:<DN>`.
    X509Subject { raw: String, dn: Dn },
    /// Another `prefix:value`, kept (a plugin would read it) but never matched here.
    Other(String),
}

impl TrustedIdentity {
    /// As the policy wrote it.
    pub fn as_str(&self) -> &str {
        match self {
            TrustedIdentity::Any => "*",
            TrustedIdentity::X509Subject { raw, .. } | TrustedIdentity::Other(raw) => raw,
        }
    }
}

/// Why a DN is refused, in notation-go's words (`internal/pkix`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnError {
    #[error("unsupported distinguished name (DN) {0:?}: notation does not support x509.subject identities containing \"=#\"")]
    HexValue(String),
    #[error("parsing distinguished name (DN) {name:?} failed with err: {reason}. A valid DN must contain 'C', 'ST' or 'S', and 'O' RDN attributes at a minimum, and follow RFC 4514 standard")]
    Syntax { name: String, reason: String },
    #[error("distinguished name (DN) {0:?} has multi-valued RDN attributes, remove multi-valued RDN attributes as they are not supported")]
    MultiValued(String),
    #[error("distinguished name (DN) {name:?} has duplicate RDN attribute for {attr:?}, DN can only have unique RDN attributes")]
    Duplicate { name: String, attr: String },
    #[error("distinguished name (DN) {name:?} has no mandatory RDN attribute for {attr:?}, it must contain 'C', 'ST' or 'S', and 'O' RDN attributes at a minimum")]
    Mandatory { name: String, attr: &'static str },
}

impl Dn {
    /// Parse a DN with notation-go's rules (see the module doc).
    pub fn parse(name: &str) -> Result<Dn, DnError> {
        if name.contains("=#") {
            return Err(DnError::HexValue(name.to_string()));
        }
        let syntax = |reason: &str| DnError::Syntax {
            name: name.to_string(),
            reason: reason.to_string(),
        };
        let rdns = split_rdns(name).map_err(|r| syntax(&r))?;
        let mut map = BTreeMap::new();
        for rdn in rdns {
            if rdn.len() > 1 {
                return Err(DnError::MultiValued(name.to_string()));
            }
            for (ty, value) in rdn {
                let ty = if ty == "S" { "ST".to_string() } else { ty };
                // go-ldap keeps an empty value; notation treats it as absent (a map of "").
                let existing = map.get(&ty).is_some_and(|v: &String| !v.is_empty());
                if existing {
                    return Err(DnError::Duplicate {
                        name: name.to_string(),
                        attr: ty,
                    });
                }
                map.insert(ty, value);
                if map.len() > MAX_ATTRIBUTES {
                    return Err(syntax("too many attributes"));
                }
            }
        }
        for attr in ["C", "ST", "O"] {
            if map.get(attr).is_none_or(|v| v.is_empty()) {
                return Err(DnError::Mandatory {
                    name: name.to_string(),
                    attr,
                });
            }
        }
        Ok(Dn(map))
    }

    /// Every attribute of `self` is in `other` with the same value (notation's `IsSubsetDN`).
    pub fn is_subset_of(&self, other: &Dn) -> bool {
        self.0
            .iter()
            .all(|(k, v)| other.0.get(k).map_or(v.is_empty(), |o| o == v))
    }
}

/// RFC 4514 tokens: RDNs split on unescaped `,` (or `;`), attributes on `+`, type and value on
/// the first `=`; `\` escapes one special character or two hex digits; unescaped spaces around
/// types and values are dropped.
fn split_rdns(s: &str) -> Result<Vec<Vec<(String, String)>>, String> {
    let mut rdns = Vec::new();
    if s.trim().is_empty() {
        return Ok(rdns);
    }
    let mut rdn: Vec<(String, String)> = Vec::new();
    let mut ty = String::new();
    let mut value: Vec<u8> = Vec::new();
    // Length of `value` up to its last escaped byte, so trailing escaped spaces stay.
    let mut kept = 0usize;
    let mut in_value = false;
    let bytes = s.as_bytes();
    let mut i = 0;
    let finish = |ty: &mut String,
                  value: &mut Vec<u8>,
                  kept: &mut usize,
                  rdn: &mut Vec<(String, String)>|
     -> Result<(), String> {
        let t = ty.trim().to_string();
        if t.is_empty() {
            return Err("incomplete type, value pair".into());
        }
        let mut end = value.len();
        while end > *kept && value.get(end - 1) == Some(&b' ') {
            end -= 1;
        }
        let v = String::from_utf8(value[..end].to_vec())
            .map_err(|_| "the value is not UTF-8".to_string())?;
        rdn.push((t, v));
        ty.clear();
        value.clear();
        *kept = 0;
        Ok(())
    };
    while let Some(&c) = bytes.get(i) {
        match c {
            b'\\' => {
                let next = bytes
                    .get(i + 1)
                    .copied()
                    .ok_or("got corrupted escaped character")?;
                if !in_value {
                    return Err("escaped character in an attribute type".into());
                }
                let hex_pair = bytes
                    .get(i + 1..i + 3)
                    .and_then(|p| std::str::from_utf8(p).ok())
                    .and_then(|p| u8::from_str_radix(p, 16).ok());
                if let Some(b) = hex_pair {
                    value.push(b);
                    i += 3;
                } else if b" \"#+,;<=>\\".contains(&next) {
                    value.push(next);
                    i += 2;
                } else {
                    return Err("got corrupted escaped character".into());
                }
                kept = value.len();
                continue;
            }
            b'=' if !in_value => in_value = true,
            b'+' | b',' | b';' => {
                if !in_value {
                    return Err("incomplete type, value pair".into());
                }
                finish(&mut ty, &mut value, &mut kept, &mut rdn)?;
                in_value = false;
                if c != b'+' {
                    rdns.push(std::mem::take(&mut rdn));
                }
            }
            b' ' if in_value && value.is_empty() => {}
            _ if in_value => value.push(c),
            _ => ty.push(c as char),
        }
        i += 1;
    }
    if !in_value {
        return Err("DN ended with incomplete type, value pair".into());
    }
    finish(&mut ty, &mut value, &mut kept, &mut rdn)?;
    rdns.push(rdn);
    Ok(rdns)
}

impl TrustedIdentity {
    /// One `trustedIdentities` entry, validated as notation-go validates a policy.
    pub fn parse(raw: &str) -> Result<TrustedIdentity, IdentityError> {
        if raw.is_empty() {
            return Err(IdentityError::Empty);
        }
        if raw == "*" {
            return Ok(TrustedIdentity::Any);
        }
        let (prefix, value) = raw
            .split_once(':')
            .ok_or_else(|| IdentityError::NoSeparator(raw.to_string()))?;
        if prefix != "x509.subject" {
            return Ok(TrustedIdentity::Other(raw.to_string()));
        }
        if value.is_empty() {
            return Err(IdentityError::NoValue(raw.to_string()));
        }
        let dn = Dn::parse(value).map_err(|source| IdentityError::Dn {
            identity: raw.to_string(),
            source,
        })?;
        Ok(TrustedIdentity::X509Subject {
            raw: raw.to_string(),
            dn,
        })
    }
}

/// A `trustedIdentities` entry that notation would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("has an empty trusted identity")]
    Empty,
    #[error("has trusted identity {0:?} missing separator")]
    NoSeparator(String),
    #[error("has trusted identity {0:?} without an identity value")]
    NoValue(String),
    #[error("has trusted identity {identity:?} with invalid identity value: {source}")]
    Dn { identity: String, source: DnError },
}

/// Does the leaf's subject (as Go prints it) satisfy one of the identities? notation-go's
/// `verifyX509TrustedIdentities`, with its messages.
pub fn check_leaf(
    statement: &str,
    identities: &[TrustedIdentity],
    leaf_subject: &str,
) -> Result<(), String> {
    if identities.contains(&TrustedIdentity::Any) {
        return Ok(());
    }
    let wanted: Vec<&Dn> = identities
        .iter()
        .filter_map(|i| match i {
            TrustedIdentity::X509Subject { dn, .. } => Some(dn),
            _ => None,
        })
        .collect();
    if wanted.is_empty() {
        return Err(format!(
            "no x509 trusted identities are configured in the trust policy {statement:?}"
        ));
    }
    let leaf = Dn::parse(leaf_subject).map_err(|e| {
        format!(
            "error while parsing the certificate subject from the digital signature. error : {:?}",
            e.to_string()
        )
    })?;
    if wanted.iter().any(|dn| dn.is_subset_of(&leaf)) {
        return Ok(());
    }
    let names: Vec<String> = identities
        .iter()
        .filter_map(|i| match i {
            TrustedIdentity::X509Subject { raw, .. } => Some(raw.clone()),
            _ => None,
        })
        .collect();
    Err(format!(
        "signing certificate from the digital signature does not match the X.509 trusted identities {names:?} defined in the trust policy {statement:?}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dn(s: &str) -> BTreeMap<String, String> {
        Dn::parse(s).unwrap().0
    }

    #[test]
    fn a_dn_is_read_with_escapes_and_spaces_as_rfc_4514_says() {
        let m = dn(r"C=US, ST=WA ,O=Acme\, Inc.,CN=a\2Cb\ ");
        assert_eq!(m["O"], "Acme, Inc.");
        assert_eq!(m["CN"], "a,b ");
        assert_eq!(m["ST"], "WA");
        assert_eq!(dn("C=US;S=WA;O=x")["ST"], "WA");
    }

    #[test]
    fn a_dn_without_c_st_and_o_or_with_hex_or_multi_values_is_refused() {
        assert!(matches!(
            Dn::parse("C=US,O=x"),
            Err(DnError::Mandatory { attr: "ST", .. })
        ));
        assert!(matches!(
            Dn::parse("C=US,ST=WA,O=#0101"),
            Err(DnError::HexValue(_))
        ));
        assert!(matches!(
            Dn::parse("C=US+ST=WA,O=x"),
            Err(DnError::MultiValued(_))
        ));
        assert!(matches!(
            Dn::parse("C=US,ST=WA,O=x,O=y"),
            Err(DnError::Duplicate { .. })
        ));
        assert!(matches!(Dn::parse("C=US,ST"), Err(DnError::Syntax { .. })));
        assert!(matches!(
            Dn::parse(r"C=US,ST=WA,O=a\zz"),
            Err(DnError::Syntax { .. })
        ));
    }

    #[test]
    fn a_subset_is_every_attribute_with_the_same_value() {
        let small = Dn::parse("C=US,ST=WA,O=SomeOrg").unwrap();
        let leaf = Dn::parse("CN=SomeCN,OU=SomeOU,O=SomeOrg,L=Seattle,ST=WA,C=US").unwrap();
        assert!(small.is_subset_of(&leaf));
        assert!(!leaf.is_subset_of(&small));
        let other = Dn::parse("C=IND,O=SomeOrg,ST=TS").unwrap();
        assert!(!other.is_subset_of(&leaf));
    }
}
