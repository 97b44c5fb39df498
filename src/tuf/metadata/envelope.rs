//! The signed envelope every metadata file is: its `signed` object and the signatures over its
//! canonical form ([`SignedBytes`], what a threshold check needs). How a file is cut into them
//! without a tree is [`Signed::split`]'s business; this is what the cut gives.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::fields::{field, string};
#[cfg(test)]
use super::fields::{missing, type_err};
use super::signed::Signed;
use super::{MetadataError, Result};
#[cfg(test)]
use crate::tuf::json;
use crate::tuf::json::Value;

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

/// A parsed file: its `signed` object as a tree, and what the signatures cover. For unverified
/// looks at small files; what is verified is read through [`Signed`] instead, its tree built
/// only after its signatures are checked.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    pub signed: BTreeMap<String, Value>,
    pub sig: SignedBytes<'a>,
}

impl<'a> Envelope<'a> {
    /// Parse a metadata file. Signatures are not checked here (see [`crate::tuf::verify`]).
    pub fn parse(bytes: &'a [u8]) -> Result<Envelope<'a>> {
        let cut = Signed::split(bytes)?;
        Ok(Envelope {
            signed: cut.tree()?,
            sig: cut.sig,
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

/// The tree path [`Signed::split`] replaced, kept as the reference it is tested against: the
/// whole file parsed, and its `signed` object taken out of the top level (which keeps the other
/// fields).
#[cfg(test)]
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

/// The `signatures` array of a parsed top level (the reference for [`Signed::split`]'s).
#[cfg(test)]
pub(super) fn signatures(top: &BTreeMap<String, Value>) -> Result<Vec<Signature>> {
    use super::fields::{arr, field, invalid, objects, string};
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
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
