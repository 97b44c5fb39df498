//! The signed envelope every metadata file is: its `signed` object and the signatures over its
//! canonical form. A file as a Notary client writes it (`signed` canonical on the wire) is cut
//! without re-encoding, so the signatures are checked over the very bytes that were fetched.

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::fields::{arr, field, invalid, missing, objects, string, type_err};
use super::{MetadataError, Result};
use crate::tuf::canonical;
use crate::tuf::json::{self, Value};

/// At most this many signatures are read from one file: more is hostile (each costs a check).
pub const MAX_SIGNATURES: usize = 1024;

/// One signature entry.
#[derive(Debug, Clone)]
pub struct Signature {
    pub keyid: String,
    pub method: String,
    pub sig: Vec<u8>,
}

/// What a file's signatures cover (the canonical form of `signed`) and the signatures: all a
/// threshold check needs. Borrowed from the file when `signed` is canonical on the wire, as it
/// is when a Notary client wrote it; re-encoded otherwise.
#[derive(Debug, Clone)]
pub struct SignedBytes<'a> {
    pub canonical: Cow<'a, [u8]>,
    pub signatures: Vec<Signature>,
}

/// A parsed file: its `signed` object as a tree, and what the signatures cover.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    pub signed: BTreeMap<String, Value>,
    pub sig: SignedBytes<'a>,
}

/// A file cut into its `signed` part and its signatures.
pub(super) enum Body<'a> {
    /// `signed` is canonical on the wire: these bytes, not parsed yet.
    Wire(&'a [u8]),
    /// `signed` was not canonical on the wire, so it was parsed (and re-encoded).
    Tree(BTreeMap<String, Value>),
}

impl Body<'_> {
    pub(super) fn into_tree(self) -> Result<BTreeMap<String, Value>> {
        match self {
            Body::Tree(t) => Ok(t),
            Body::Wire(w) => match json::parse(w)? {
                Value::Object(m) => Ok(m),
                other => Err(type_err("signed", "object", &other)),
            },
        }
    }
}

/// Cut a file into `signed` and the signatures. Signatures are not checked here (see
/// [`crate::tuf::verify`]).
pub(super) fn split(bytes: &[u8]) -> Result<(Body<'_>, SignedBytes<'_>)> {
    if let Some((signed, top)) = split_wire(bytes) {
        let sig = SignedBytes {
            canonical: Cow::Borrowed(signed),
            signatures: signatures(&top)?,
        };
        return Ok((Body::Wire(signed), sig));
    }
    let (signed, top) = parse_tree(bytes)?;
    let signatures = signatures(&top)?;
    let canonical = Cow::Owned(canonical::encode_object_sized(&signed, bytes.len()));
    Ok((
        Body::Tree(signed),
        SignedBytes {
            canonical,
            signatures,
        },
    ))
}

/// The general path's cut: the whole file parsed, and its `signed` object taken out of the top
/// level (which keeps the other fields).
pub(super) fn parse_tree(
    bytes: &[u8],
) -> Result<(BTreeMap<String, Value>, BTreeMap<String, Value>)> {
    let mut top = match json::parse(bytes)? {
        Value::Object(m) => m,
        other => return Err(type_err("(top level)", "object", &other)),
    };
    let signed = match top.remove("signed") {
        Some(Value::Object(m)) => m,
        Some(other) => return Err(type_err("signed", "object", &other)),
        None => return Err(missing("signed")),
    };
    Ok((signed, top))
}

/// `{"signed":{…},…}` with `signed` in canonical form, the shape a Notary client uploads: the
/// bytes of `signed`, and the other top-level fields parsed. `None` for any other shape, which
/// the general path then parses (and names what is wrong with it).
fn split_wire(bytes: &[u8]) -> Option<(&[u8], BTreeMap<String, Value>)> {
    let rest = bytes.strip_prefix(SIGNED_HEAD)?;
    if rest.first() != Some(&b'{') {
        return None;
    }
    let n = canonical::canonical_len(rest)?;
    Some((&rest[..n], other_fields(bytes, SIGNED_HEAD.len() + n)?))
}

/// How a Notary client's file starts.
pub(super) const SIGNED_HEAD: &[u8] = br#"{"signed":"#;

/// The top-level fields after `signed`, which ends at `end`: `,"signatures":[…]}`.
pub(super) fn other_fields(bytes: &[u8], end: usize) -> Option<BTreeMap<String, Value>> {
    let others = bytes.get(end..)?.strip_prefix(b",")?;
    let mut top = Vec::with_capacity(others.len() + 1);
    top.push(b'{');
    top.extend_from_slice(others);
    match json::parse(&top) {
        // A second `signed` would be a duplicate key, which the general path refuses.
        Ok(Value::Object(m)) if !m.contains_key("signed") => Some(m),
        _ => None,
    }
}

/// The `signatures` array of a file's top level.
pub(super) fn signatures(top: &BTreeMap<String, Value>) -> Result<Vec<Signature>> {
    let sigs = arr(field(top, "", "signatures")?, "signatures")?;
    objects(
        sigs,
        "signatures",
        MAX_SIGNATURES,
        "signatures",
        |o, path| {
            let sig_b64 = string(field(o, path, "sig")?, &format!("{path}.sig"))?;
            Ok(Signature {
                keyid: string(field(o, path, "keyid")?, &format!("{path}.keyid"))?.to_owned(),
                method: string(field(o, path, "method")?, &format!("{path}.method"))?.to_owned(),
                sig: STANDARD
                    .decode(sig_b64)
                    .map_err(|e| invalid(&format!("{path}.sig"), format!("not base64: {e}")))?,
            })
        },
    )
}

impl<'a> Envelope<'a> {
    /// Parse a metadata file. Signatures are not checked here (see [`crate::tuf::verify`]).
    pub fn parse(bytes: &'a [u8]) -> Result<Envelope<'a>> {
        let (body, sig) = split(bytes)?;
        Ok(Envelope {
            signed: body.into_tree()?,
            sig,
        })
    }

    /// The `signed` object's fields.
    pub fn fields(&self) -> &BTreeMap<String, Value> {
        &self.signed
    }

    /// Refuse a file whose `_type` is not the one expected.
    pub fn expect_type(&self, expected: &'static str) -> Result<()> {
        expect_type(&self.signed, expected)
    }
}

/// A file read through its tree: the role, and what its signatures cover.
pub(super) fn parse_role<T>(
    bytes: &[u8],
    from_envelope: fn(&Envelope) -> Result<T>,
) -> Result<(T, SignedBytes<'_>)> {
    let env = Envelope::parse(bytes)?;
    Ok((from_envelope(&env)?, env.sig))
}

pub(super) fn expect_type(f: &BTreeMap<String, Value>, expected: &'static str) -> Result<()> {
    let got = string(field(f, "signed", "_type")?, "signed._type")?;
    if got != expected {
        return Err(MetadataError::WrongType {
            expected,
            got: got.to_owned(),
        });
    }
    Ok(())
}
