//! JWS JSON flattened serialization (`application/jose+json`), as the Notary Project's
//! `signature-envelope-jws.md` and notation-core-go read it. The protected header is read with
//! duplicate keys refused; `crit` must list `io.cncf.notary.signingScheme` (and `expiry`,
//! `authenticSigningTime` when present or required) and nothing else: a critical header this
//! verifier does not understand fails the signature, as RFC 7515 4.1.11 says.

use std::collections::BTreeMap;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{parse_chain, EnvelopeError, EnvelopeType, Parsed, SigningScheme};
use crate::notation::crypto::{Hash, Scheme};
use crate::tuf::json::{self, Value};

pub const HEADER_SIGNING_SCHEME: &str = "io.cncf.notary.signingScheme";
pub const HEADER_SIGNING_TIME: &str = "io.cncf.notary.signingTime";
pub const HEADER_AUTHENTIC_SIGNING_TIME: &str = "io.cncf.notary.authenticSigningTime";
pub const HEADER_EXPIRY: &str = "io.cncf.notary.expiry";

#[derive(Deserialize)]
struct Wire {
    payload: String,
    protected: String,
    #[serde(default)]
    header: WireHeader,
    signature: String,
}

#[derive(Deserialize, Default)]
struct WireHeader {
    #[serde(default)]
    x5c: Vec<String>,
    #[serde(default, rename = "io.cncf.notary.timestampSignature")]
    timestamp_signature: Option<String>,
    #[serde(default, rename = "io.cncf.notary.signingAgent")]
    signing_agent: Option<String>,
}

fn malformed(reason: impl Into<String>) -> EnvelopeError {
    EnvelopeError::Malformed(reason.into())
}

fn invalid(reason: impl Into<String>) -> EnvelopeError {
    EnvelopeError::Invalid(reason.into())
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, EnvelopeError> {
    let wire: Wire = serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
    let raw_protected = URL_SAFE_NO_PAD.decode(&wire.protected).map_err(|e| {
        invalid(format!(
            "jws envelope protected header can't be decoded: {e}"
        ))
    })?;
    let protected = match json::parse(&raw_protected) {
        Ok(Value::Object(map)) => map,
        Ok(_) => {
            return Err(invalid(
                "jws envelope protected header can't be decoded: not an object",
            ))
        }
        Err(e) => {
            return Err(invalid(format!(
                "jws envelope protected header can't be decoded: {e}"
            )))
        }
    };
    let payload = URL_SAFE_NO_PAD
        .decode(&wire.payload)
        .map_err(|e| invalid(format!("payload error: {e}")))?;
    let signature = URL_SAFE_NO_PAD
        .decode(&wire.signature)
        .map_err(|e| invalid(e.to_string()))?;
    if signature.is_empty() {
        return Err(invalid("signature missing in jws-json envelope"));
    }
    let ders: Vec<Vec<u8>> = wire
        .header
        .x5c
        .iter()
        .map(|c| STANDARD.decode(c).map_err(|e| invalid(format!("x5c: {e}"))))
        .collect::<Result<_, _>>()?;
    let chain = parse_chain(ders.iter().map(Vec::as_slice))?;
    let timestamp_token = match &wire.header.timestamp_signature {
        Some(t) => Some(
            STANDARD
                .decode(t)
                .map_err(|e| invalid(format!("timestamp signature: {e}")))?,
        ),
        None => None,
    };

    let text = |key: &str| -> Result<Option<&str>, EnvelopeError> {
        match protected.get(key) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s)),
            Some(_) => Err(invalid(format!("{key:?} header is not a string"))),
        }
    };
    let time = |key: &str| -> Result<Option<OffsetDateTime>, EnvelopeError> {
        text(key)?
            .map(|s| {
                OffsetDateTime::parse(s, &Rfc3339)
                    .map_err(|e| invalid(format!("{key:?} header is not an RFC 3339 time: {e}")))
            })
            .transpose()
    };
    let alg = text("alg")?.unwrap_or_default();
    let algorithm = match alg {
        "PS256" => Scheme::RsaPss(Hash::Sha256),
        "PS384" => Scheme::RsaPss(Hash::Sha384),
        "PS512" => Scheme::RsaPss(Hash::Sha512),
        "ES256" => Scheme::EcdsaFixed(Hash::Sha256),
        "ES384" => Scheme::EcdsaFixed(Hash::Sha384),
        "ES512" => Scheme::EcdsaFixed(Hash::Sha512),
        other => {
            return Err(invalid(format!(
                "signature algorithm {other:?} is not supported"
            )))
        }
    };
    let content_type = text("cty")?.unwrap_or_default().to_string();
    let scheme_name = text(HEADER_SIGNING_SCHEME)?.unwrap_or_default();
    let signing_scheme = SigningScheme::parse(scheme_name)
        .ok_or_else(|| invalid(format!("unsupported SigningScheme: `{scheme_name}`")))?;
    let signing_time = time(HEADER_SIGNING_TIME)?;
    let authentic_time = time(HEADER_AUTHENTIC_SIGNING_TIME)?;
    let expiry = time(HEADER_EXPIRY)?;
    let signing_time = match signing_scheme {
        SigningScheme::X509 => {
            if authentic_time.is_some() {
                return Err(invalid(format!("{HEADER_AUTHENTIC_SIGNING_TIME:?} header must not be present for notary.x509 signing scheme")));
            }
            signing_time.ok_or_else(|| invalid("signing-time not present"))?
        }
        SigningScheme::X509SigningAuthority => {
            if signing_time.is_some() {
                return Err(invalid(format!("{HEADER_SIGNING_TIME:?} header must not be present for notary.x509.signingAuthority signing scheme")));
            }
            authentic_time.ok_or_else(|| invalid(format!("{HEADER_AUTHENTIC_SIGNING_TIME:?} header must be present for notary.x509.signingAuthority signing scheme")))?
        }
    };
    check_crit(&protected, signing_scheme, expiry.is_some())?;

    let signing_input = format!("{}.{}", wire.protected, wire.payload).into_bytes();
    Ok(Parsed {
        envelope_type: EnvelopeType::Jws,
        algorithm,
        signing_input,
        signature,
        chain,
        content_type,
        payload,
        signing_scheme,
        signing_time,
        expiry,
        timestamp_token,
        signing_agent: wire.header.signing_agent,
    })
}

/// `crit` lists exactly the headers that must be critical, each once, and nothing this verifier
/// does not understand.
fn check_crit(
    protected: &BTreeMap<String, Value>,
    scheme: SigningScheme,
    has_expiry: bool,
) -> Result<(), EnvelopeError> {
    let crit = match protected.get("crit") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(_) => {
            return Err(invalid(
                "\"crit\" header is not a non-empty array of strings",
            ))
        }
        None => return Err(invalid("missing \"crit\" header")),
    };
    let must = scheme.critical_headers(has_expiry);
    let mut seen: Vec<&str> = Vec::new();
    for item in crit {
        let Value::Str(name) = item else {
            return Err(invalid(
                "\"crit\" header is not a non-empty array of strings",
            ));
        };
        if seen.contains(&name.as_str()) {
            return Err(invalid(format!("{name:?} is listed twice in \"crit\"")));
        }
        if !must.contains(&name.as_str()) {
            if protected.contains_key(name) {
                return Err(invalid(format!(
                    "critical header {name:?} is not understood by this verifier"
                )));
            }
            return Err(invalid(format!(
                "{name:?} header is marked critical but not present"
            )));
        }
        seen.push(name);
    }
    let missing: Vec<&&str> = must.iter().filter(|m| !seen.contains(m)).collect();
    if !missing.is_empty() {
        return Err(invalid(format!(
            "these required headers are not marked as critical: {missing:?}"
        )));
    }
    Ok(())
}
