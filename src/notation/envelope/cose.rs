//! COSE_Sign1 (`application/cose`, RFC 9052), as the Notary Project's
//! `signature-envelope-cose.md` and notation-core-go read it: tag 18, the protected header a
//! byte string holding a map (alg, crit, content type, signing scheme, times as tag 1 epoch
//! seconds), the unprotected header holding `x5chain` (33) and the timestamp countersignature,
//! an attached payload. The signature is over `Sig_structure` = ["Signature1", protected, h'',
//! payload]. `crit` is honoured as in JWS: only headers this verifier understands.

use time::OffsetDateTime;

use super::{jws, parse_chain, EnvelopeError, EnvelopeType, Parsed, SigningScheme};
use crate::notation::cbor::{self, encode, Label, Value};
use crate::notation::crypto::{Hash, Scheme};

const ALG: Label = Label::Int(1);
const CRIT: Label = Label::Int(2);
const CONTENT_TYPE: Label = Label::Int(3);
const X5CHAIN: Label = Label::Int(33);
const SIGNING_SCHEME: Label = Label::Text(jws::HEADER_SIGNING_SCHEME);
const SIGNING_TIME: Label = Label::Text(jws::HEADER_SIGNING_TIME);
const AUTHENTIC_SIGNING_TIME: Label = Label::Text(jws::HEADER_AUTHENTIC_SIGNING_TIME);
const EXPIRY: Label = Label::Text(jws::HEADER_EXPIRY);
const TIMESTAMP_SIGNATURE: Label = Label::Text("io.cncf.notary.timestampSignature");
const SIGNING_AGENT: Label = Label::Text("io.cncf.notary.signingAgent");

fn invalid(reason: impl Into<String>) -> EnvelopeError {
    EnvelopeError::Invalid(reason.into())
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, EnvelopeError> {
    let value = cbor::decode(bytes).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
    let Value::Tag(18, inner) = value else {
        return Err(EnvelopeError::Malformed(
            "cbor: invalid COSE_Sign1_Tagged object".into(),
        ));
    };
    let Value::Array(items) = *inner else {
        return Err(EnvelopeError::Malformed(
            "cbor: a COSE_Sign1 is an array".into(),
        ));
    };
    let [Value::Bytes(raw_protected), unprotected @ Value::Map(_), payload, Value::Bytes(signature)] =
        items.as_slice()
    else {
        return Err(EnvelopeError::Malformed(
            "cbor: a COSE_Sign1 is [bstr, map, bstr, bstr]".into(),
        ));
    };
    let Value::Bytes(payload) = payload else {
        return Err(invalid("the payload is detached or not a byte string"));
    };
    let protected = if raw_protected.is_empty() {
        Value::Map(Vec::new())
    } else {
        cbor::decode(raw_protected)
            .map_err(|e| EnvelopeError::Malformed(format!("protected header: {e}")))?
    };
    if !matches!(protected, Value::Map(_)) {
        return Err(EnvelopeError::Malformed(
            "the protected header is not a map".into(),
        ));
    }
    if signature.is_empty() {
        return Err(invalid("signature missing in COSE envelope"));
    }
    // A header may be in one bucket only (RFC 9052 3).
    if let (Value::Map(p), Value::Map(u)) = (&protected, unprotected) {
        if p.iter().any(|(k, _)| u.iter().any(|(k2, _)| k == k2)) {
            return Err(invalid(
                "a header label is in both the protected and the unprotected header",
            ));
        }
    }

    let algorithm = match protected.get(&ALG).and_then(Value::as_int) {
        Some(-37) => Scheme::RsaPss(Hash::Sha256),
        Some(-38) => Scheme::RsaPss(Hash::Sha384),
        Some(-39) => Scheme::RsaPss(Hash::Sha512),
        Some(-7) => Scheme::EcdsaFixed(Hash::Sha256),
        Some(-35) => Scheme::EcdsaFixed(Hash::Sha384),
        Some(-36) => Scheme::EcdsaFixed(Hash::Sha512),
        other => {
            return Err(invalid(format!(
                "signature algorithm not supported: {other:?}"
            )))
        }
    };
    let content_type = match protected.get(&CONTENT_TYPE) {
        Some(Value::Text(t)) => t.clone(),
        Some(_) => return Err(invalid("content type should be of 'tstr' type")),
        None => return Err(invalid("missing content type")),
    };
    let scheme_name = protected
        .get(&SIGNING_SCHEME)
        .and_then(Value::as_text)
        .ok_or_else(|| invalid("invalid signingScheme"))?;
    let signing_scheme = SigningScheme::parse(scheme_name)
        .ok_or_else(|| invalid(format!("unsupported signingScheme: {scheme_name}")))?;
    let expiry = time(&protected, &EXPIRY)?;
    let signing_time = match signing_scheme {
        SigningScheme::X509 => time(&protected, &SIGNING_TIME)?,
        SigningScheme::X509SigningAuthority => time(&protected, &AUTHENTIC_SIGNING_TIME)?,
    }
    .ok_or_else(|| invalid("invalid signingTime: the protected header is missing"))?;
    check_crit(&protected, signing_scheme, expiry.is_some())?;

    let ders = match unprotected.get(&X5CHAIN) {
        Some(Value::Array(certs)) if !certs.is_empty() => certs
            .iter()
            .map(|c| {
                c.as_bytes()
                    .ok_or_else(|| invalid("certificate chain is not present"))
            })
            .collect::<Result<Vec<&[u8]>, _>>()?,
        _ => return Err(invalid("certificate chain is not present")),
    };
    let chain = parse_chain(ders)?;
    let timestamp_token = match unprotected.get(&TIMESTAMP_SIGNATURE) {
        Some(Value::Bytes(b)) => Some(b.clone()),
        Some(_) => return Err(invalid("the timestamp signature is not a byte string")),
        None => None,
    };
    let signing_agent = unprotected
        .get(&SIGNING_AGENT)
        .and_then(Value::as_text)
        .map(str::to_string);

    let mut signing_input = Vec::with_capacity(raw_protected.len() + payload.len() + 32);
    encode::array_head(&mut signing_input, 4);
    encode::text(&mut signing_input, "Signature1");
    encode::bytes(&mut signing_input, raw_protected);
    encode::bytes(&mut signing_input, &[]);
    encode::bytes(&mut signing_input, payload);

    Ok(Parsed {
        envelope_type: EnvelopeType::Cose,
        algorithm,
        signing_input,
        signature: signature.clone(),
        chain,
        content_type,
        payload: payload.clone(),
        signing_scheme,
        signing_time,
        expiry,
        timestamp_token,
        signing_agent,
    })
}

/// A time header: tag 1 (epoch-based date/time) around integer seconds, the only form
/// notation-core-go accepts.
fn time(protected: &Value, label: &Label) -> Result<Option<OffsetDateTime>, EnvelopeError> {
    match protected.get(label) {
        None => Ok(None),
        Some(Value::Tag(1, inner)) => {
            let secs = inner
                .as_int()
                .ok_or_else(|| invalid(format!("{label:?}: only integer seconds are supported")))?;
            OffsetDateTime::from_unix_timestamp(secs)
                .map(Some)
                .map_err(|e| invalid(format!("{label:?}: {e}")))
        }
        Some(_) => Err(invalid(format!(
            "{label:?}: only Tag `1` Datetime CBOR object is supported"
        ))),
    }
}

fn check_crit(
    protected: &Value,
    scheme: SigningScheme,
    has_expiry: bool,
) -> Result<(), EnvelopeError> {
    let Some(Value::Array(crit)) = protected.get(&CRIT) else {
        return Err(invalid("missing \"crit\" header"));
    };
    let must: Vec<Label> = scheme
        .critical_headers(has_expiry)
        .into_iter()
        .map(Label::Text)
        .collect();
    let mut seen: Vec<&Label> = Vec::new();
    for item in crit {
        let Some(label) = must.iter().find(|m| m.is(item)) else {
            return Err(invalid(format!(
                "critical header {item:?} is not understood by this verifier"
            )));
        };
        if seen.contains(&label) {
            return Err(invalid(format!("{label:?} is listed twice in \"crit\"")));
        }
        seen.push(label);
    }
    let missing: Vec<&Label> = must.iter().filter(|m| !seen.contains(m)).collect();
    if !missing.is_empty() {
        return Err(invalid(format!(
            "these required headers are not marked as critical: {missing:?}"
        )));
    }
    Ok(())
}
