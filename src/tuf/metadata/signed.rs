//! The first of two phases in reading a metadata file: cut it into what its signatures cover
//! (the canonical form of `signed`) and the signatures, without a tree of anything in it, so the
//! signatures can be checked before `signed` is read at all (the second phase, in the roles'
//! `from_signed`). Memory is a small multiple of the file's size whatever the file holds: a file
//! as a Notary client writes it (`signed` canonical on the wire) is borrowed; any other has
//! `signed` re-encoded by the streaming encoder beside this module; other top-level fields are
//! checked as JSON and dropped; the signatures array is read entry by entry, at most
//! [`MAX_SIGNATURES`] of them kept.

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::envelope::{Signature, SignedBytes, MAX_SIGNATURES};
use super::fields::{invalid, missing, type_kind};
use super::stream::{Encoder, Plain, Read, Shape};
use super::{MetadataError, Result};
use crate::tuf::canonical;
use crate::tuf::json::{self, Value};

/// A file cut into what its signatures cover and its signatures; `signed` not read yet.
#[derive(Debug, Clone)]
pub struct Signed<'a> {
    pub sig: SignedBytes<'a>,
    /// The whole file, for the second phase when `signed` was not canonical on the wire.
    file: &'a [u8],
}

/// How a Notary client's file starts.
const SIGNED_HEAD: &[u8] = br#"{"signed":"#;

impl<'a> Signed<'a> {
    /// Cut a file. Refuses what the parse of the whole file into a tree refuses (invalid JSON,
    /// duplicate keys, numbers that are not safe integers, nesting beyond 128), then a top level
    /// that is not an object or has no object `signed`, then malformed signatures, in that
    /// order and with the same messages; signatures are not checked here (see
    /// [`crate::tuf::verify`]).
    pub fn split(bytes: &'a [u8]) -> Result<Signed<'a>> {
        if let Some(cut) = wire(bytes) {
            return cut;
        }
        let mut enc = Encoder::new(bytes.len());
        let fields = json::parse_seed(bytes, Read::new(&mut enc, TopShape))?
            .map_err(|kind| type_kind("(top level)", "object", kind))?;
        let (kind, range) = fields.signed.ok_or_else(|| missing("signed"))?;
        if kind != "object" {
            return Err(type_kind("signed", "object", kind));
        }
        let signatures = signatures(fields.signatures)?;
        Ok(Signed {
            sig: SignedBytes {
                canonical: Cow::Owned(enc.into_range(range)),
                signatures,
            },
            file: bytes,
        })
    }

    /// The bytes the signatures cover.
    pub fn canonical(&self) -> &[u8] {
        &self.sig.canonical
    }

    /// The `_type` the file claims, read from the first bytes of its canonical form (where it
    /// is whenever no key sorts before `_type`, as none does in Notary's roles); `None` if it is
    /// not there. Nothing is trusted from it: it only lets a file of another role be named as
    /// such before its signatures are checked.
    pub fn claimed_type(&self) -> Option<&str> {
        let rest = self.canonical().strip_prefix(br#"{"_type":""#)?;
        let end = memchr::memchr2(b'"', b'\\', rest)?;
        (rest[end] == b'"')
            .then(|| std::str::from_utf8(&rest[..end]).ok())
            .flatten()
    }

    /// Refuse a file that claims (see [`Signed::claimed_type`]) to be another role than
    /// `expected`.
    pub fn check_claimed_type(&self, expected: &'static str) -> Result<()> {
        match self.claimed_type() {
            Some(got) if got != expected => Err(MetadataError::WrongType {
                expected,
                got: got.to_owned(),
            }),
            _ => Ok(()),
        }
    }

    /// `signed` as a tree: the second phase, once the signatures are checked. Its canonical
    /// form is the bytes they cover (the wire bytes, or the re-encoding of these very fields).
    pub(super) fn tree(&self) -> Result<BTreeMap<String, Value>> {
        let signed = match &self.sig.canonical {
            // Canonical on the wire, so plain JSON too (the scanner admits no raw control
            // character).
            Cow::Borrowed(b) => json::parse(b)?,
            // The canonical form writes control characters raw, which JSON does not allow: the
            // file's own `signed` is read instead (the rest of the file skipped, not built).
            Cow::Owned(_) => {
                json::parse_seed(self.file, OnlySigned)?.ok_or_else(|| missing("signed"))?
            }
        };
        match signed {
            Value::Object(m) => Ok(m),
            other => Err(super::fields::type_err("signed", "object", &other)),
        }
    }
}

/// The cut of a file as a Notary client writes it: `{"signed":…` with `signed` canonical, then
/// the other top-level fields. `None` for any other shape (or a JSON error after `signed`),
/// which the general path then reads (and names what is wrong with it).
fn wire(bytes: &[u8]) -> Option<Result<Signed<'_>>> {
    let rest = bytes.strip_prefix(SIGNED_HEAD)?;
    if rest.first() != Some(&b'{') {
        return None;
    }
    let n = canonical::canonical_len(rest)?;
    let others = rest[n..].strip_prefix(b",")?;
    // The other fields as an object of their own (small: the signatures, as a rule).
    let mut top = Vec::with_capacity(others.len() + 1);
    top.push(b'{');
    top.extend_from_slice(others);
    let mut enc = Encoder::new(0);
    let fields = json::parse_seed(&top, Read::new(&mut enc, TopShape))
        .ok()?
        .ok()?;
    if fields.signed.is_some() {
        // A second `signed`: the general path refuses it as a duplicate key.
        return None;
    }
    Some(signatures(fields.signatures).map(|signatures| Signed {
        sig: SignedBytes {
            canonical: Cow::Borrowed(&rest[..n]),
            signatures,
        },
        file: bytes,
    }))
}

/// The top level's fields that count: where `signed` was written (and its kind), and the
/// signatures as read.
struct TopFields {
    signed: Option<(&'static str, std::ops::Range<usize>)>,
    signatures: Option<Sigs>,
}

/// The top level: its fields, or the kind it was instead of an object.
struct TopShape;

impl<'de> Shape<'de> for TopShape {
    type Out = std::result::Result<TopFields, &'static str>;

    fn other(kind: &'static str) -> Self::Out {
        Err(kind)
    }

    fn map<A: MapAccess<'de>>(self, enc: &mut Encoder, map: A) -> Result<Self::Out, A::Error> {
        let mut fields = TopFields {
            signed: None,
            signatures: None,
        };
        enc.object(map, &["signed", "signatures"], false, |enc, map, which| {
            match which {
                Some(0) => {
                    let from = enc.len();
                    let kind = map.next_value_seed(Read::new(enc, Plain))?;
                    fields.signed = Some((kind, from..enc.len()));
                }
                Some(_) => {
                    let sigs = enc.skip(|enc| map.next_value_seed(Read::new(enc, SigsShape)))?;
                    fields.signatures = Some(sigs);
                }
                // Checked as JSON, then dropped.
                None => drop(enc.skip(|enc| map.next_value_seed(Read::new(enc, Plain)))?),
            }
            Ok(())
        })?;
        Ok(Ok(fields))
    }
}

/// The `signatures` value: its entries (at most [`MAX_SIGNATURES`] kept) and how many there
/// were, or the kind of what it was instead of an array.
enum Sigs {
    Array { entries: Vec<Entry>, len: usize },
    Other(&'static str),
}

/// One signature entry: its three fields as found, or the kind it was instead of an object.
enum Entry {
    Object([Option<Field>; 3]),
    Other(&'static str),
}

/// The entry fields read, in this order.
const ENTRY_FIELDS: [&str; 3] = ["keyid", "method", "sig"];

/// A field of an entry: its string, or the kind it was instead.
enum Field {
    Str(String),
    Other(&'static str),
}

struct SigsShape;

impl<'de> Shape<'de> for SigsShape {
    type Out = Sigs;

    fn other(kind: &'static str) -> Sigs {
        Sigs::Other(kind)
    }

    fn seq<A: SeqAccess<'de>>(self, enc: &mut Encoder, mut seq: A) -> Result<Sigs, A::Error> {
        // Read with values discarded (see TopShape): only what the shapes take is kept.
        let (mut entries, mut len) = (Vec::new(), 0);
        loop {
            let more = if entries.len() < MAX_SIGNATURES {
                seq.next_element_seed(Read::new(enc, EntryShape))?
                    .map(|e| entries.push(e))
            } else {
                // Too many: the file is refused once it is read; checked as JSON meanwhile.
                seq.next_element_seed(Read::new(enc, Plain))?.map(drop)
            };
            if more.is_none() {
                return Ok(Sigs::Array { entries, len });
            }
            len += 1;
        }
    }
}

struct EntryShape;

impl<'de> Shape<'de> for EntryShape {
    type Out = Entry;

    fn other(kind: &'static str) -> Entry {
        Entry::Other(kind)
    }

    fn map<A: MapAccess<'de>>(self, enc: &mut Encoder, map: A) -> Result<Entry, A::Error> {
        let mut fields = [None, None, None];
        enc.object(map, &ENTRY_FIELDS, false, |enc, map, which| {
            match which {
                Some(i) => fields[i] = Some(map.next_value_seed(Read::new(enc, FieldShape))?),
                None => drop(map.next_value_seed(Read::new(enc, Plain))?),
            }
            Ok(())
        })?;
        Ok(Entry::Object(fields))
    }
}

struct FieldShape;

impl<'de> Shape<'de> for FieldShape {
    type Out = Field;

    fn other(kind: &'static str) -> Field {
        Field::Other(kind)
    }

    fn str<E: de::Error>(self, _: &mut Encoder, v: &str) -> Result<Field, E> {
        Ok(Field::Str(v.to_owned()))
    }
}

/// The signatures as read, checked in the order (and with the messages) of a read of the tree.
fn signatures(sigs: Option<Sigs>) -> Result<Vec<Signature>> {
    let (entries, len) = match sigs {
        None => return Err(missing("signatures")),
        Some(Sigs::Other(kind)) => return Err(type_kind("signatures", "array", kind)),
        Some(Sigs::Array { entries, len }) => (entries, len),
    };
    if len > MAX_SIGNATURES {
        return Err(invalid(
            "signatures",
            format!("{len} signatures, at most {MAX_SIGNATURES} accepted"),
        ));
    }
    let mut out = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let path = format!("signatures[{i}]");
        let [keyid, method, sig] = match entry {
            Entry::Object(fields) => fields,
            Entry::Other(kind) => return Err(type_kind(&path, "object", kind)),
        };
        let string = |f: Option<Field>, name: &str| match f {
            Some(Field::Str(s)) => Ok(s),
            Some(Field::Other(kind)) => Err(type_kind(&format!("{path}.{name}"), "string", kind)),
            None => Err(missing(&format!("{path}.{name}"))),
        };
        let sig_b64 = string(sig, "sig")?;
        let keyid = string(keyid, "keyid")?;
        let method = string(method, "method")?;
        let sig = STANDARD
            .decode(sig_b64)
            .map_err(|e| invalid(&format!("{path}.sig"), format!("not base64: {e}")))?;
        out.push(Signature { keyid, method, sig });
    }
    Ok(out)
}

/// A top level's `signed` as a tree, the other fields skipped (the file was read whole by
/// [`Signed::split`] already, so it is known to be valid).
struct OnlySigned;

impl<'de> de::DeserializeSeed<'de> for OnlySigned {
    type Value = Option<Value>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for OnlySigned {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a metadata file")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
        let mut signed = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "signed" {
                signed = Some(map.next_value::<Value>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(signed)
    }
}

#[cfg(test)]
mod tests {
    use super::super::envelope::{parse_tree, signatures as tree_signatures};
    use super::super::stream::tests::random_text;
    use super::*;
    use crate::tuf::canonical::test_rng::{real_json_files, Rng};

    /// What the tree path makes of a file: `signed`, its canonical form, the signatures.
    type Cut = (BTreeMap<String, Value>, Vec<u8>, Vec<Signature>);

    /// The tree path: the whole file parsed, `signed` re-encoded.
    fn reference(bytes: &[u8]) -> Result<Cut> {
        let (signed, top) = parse_tree(bytes)?;
        let sigs = tree_signatures(&top)?;
        let canonical = canonical::encode_object(&signed);
        Ok((signed, canonical, sigs))
    }

    /// `Signed::split` and the tree path agree: the same canonical bytes, signatures and tree
    /// (read after the cut), or the same error. Returns whether the wire was borrowed.
    fn agree(bytes: &[u8]) -> Option<bool> {
        let show = || String::from_utf8_lossy(&bytes[..bytes.len().min(400)]).into_owned();
        match (Signed::split(bytes), reference(bytes)) {
            (Ok(cut), Ok((tree, canonical, sigs))) => {
                assert_eq!(cut.canonical(), &canonical[..], "{}", show());
                assert_eq!(format!("{:?}", cut.sig.signatures), format!("{sigs:?}"));
                assert_eq!(cut.tree().unwrap(), tree, "{}", show());
                Some(matches!(cut.sig.canonical, Cow::Borrowed(_)))
            }
            (Err(a), Err(b)) => {
                assert_eq!(a.to_string(), b.to_string(), "{}", show());
                None
            }
            (a, b) => panic!(
                "disagree on {}: split {:?} / tree {:?}",
                show(),
                a.map(|_| ()),
                b.map(|_| ())
            ),
        }
    }

    #[test]
    fn split_agrees_with_the_tree_path_on_real_files() {
        let (mut wire, mut owned) = (0, 0);
        for bytes in real_json_files() {
            match agree(&bytes) {
                Some(true) => wire += 1,
                Some(false) => owned += 1,
                None => {}
            }
        }
        assert!(
            wire >= 20 && owned >= 1,
            "{wire} borrowed, {owned} re-encoded"
        );
    }

    #[test]
    fn claimed_type_is_read_from_the_canonical_prefix_only() {
        let cut = Signed::split(br#"{"signed":{"_type":"Snapshot","x":1},"signatures":[]}"#);
        assert_eq!(cut.unwrap().claimed_type(), Some("Snapshot"));
        // Re-encoded: the claim is read from the canonical form, not the wire.
        let cut = Signed::split(br#"{"signatures":[],"signed":{"x":1, "_type":"Root"}}"#);
        assert_eq!(cut.unwrap().claimed_type(), Some("Root"));
        let cut = Signed::split(br#"{"signed":{"A":1,"_type":"Root"},"signatures":[]}"#);
        assert_eq!(cut.unwrap().claimed_type(), None);
        let cut = Signed::split(br#"{"signed":{"_type":"a\"b"},"signatures":[]}"#).unwrap();
        assert_eq!(cut.claimed_type(), None);
        assert!(cut.check_claimed_type("Root").is_ok());
    }

    fn random_file(r: &mut Rng) -> Vec<u8> {
        const SIGS: [&str; 12] = [
            r#"[]"#,
            r#"[{"keyid":"k","method":"ecdsa","sig":"AAAA"}]"#,
            r#"[{"sig":"AAAA","method":"ecdsa","keyid":"k","extra":[{"a":0}]}]"#,
            r#"[{"keyid":"k","method":"ecdsa","sig":"AAAA"},{"keyid":"j","method":"eddsa","sig":""}]"#,
            r#"[{"keyid":1,"method":"ecdsa","sig":"AAAA"}]"#,
            r#"[{"keyid":"k","method":null,"sig":"AAAA"}]"#,
            r#"[{"keyid":"k","method":"ecdsa"}]"#,
            r#"[{"keyid":"k","method":"ecdsa","sig":"not base64!"}]"#,
            r#"[{"keyid":"k","method":"ecdsa","sig":["AAAA"]}]"#,
            r#"[1]"#,
            r#"{}"#,
            r#""x""#,
        ];
        let mut members = Vec::new();
        if r.below(10) > 0 {
            let mut signed = String::new();
            if r.below(2) == 0 {
                // Canonical, so the wire path is taken when it comes first.
                let mut t = String::new();
                random_text(r, 1, &mut t);
                let v = json::parse(format!("{{\"a\":{t}}}").as_bytes());
                match v {
                    Ok(v) => signed.push_str(std::str::from_utf8(&canonical::encode(&v)).unwrap()),
                    Err(_) => signed.push_str(r#"{"a":1}"#),
                }
            } else {
                // Escapes and whitespace, so it is re-encoded.
                signed.push_str(r#"{ "_type":"Targets", "\u003c":"#);
                random_text(r, 1, &mut signed);
                signed.push('}');
            }
            members.push(format!("\"signed\":{signed}"));
        }
        if r.below(10) > 0 {
            let pick = if r.below(3) > 0 {
                r.below(4)
            } else {
                r.below(SIGS.len() as u64)
            };
            members.push(format!("\"signatures\":{}", SIGS[pick as usize]));
        }
        for _ in 0..r.below(3) {
            let mut junk = String::new();
            random_text(r, 1, &mut junk);
            let key = r.pick(&["x", "y", "x", "y", "signed", "\\u0073igned"]);
            members.push(format!("\"{key}\":{junk}"));
        }
        if r.below(4) == 0 {
            let i = r.below(members.len() as u64 + 1) as usize;
            let j = r.below(members.len() as u64 + 1) as usize;
            if i < members.len() && j < members.len() {
                members.swap(i, j);
            }
        }
        let text = if r.below(16) == 0 {
            "[1]".to_owned()
        } else {
            format!("{{{}}}", members.join(","))
        };
        text.into_bytes()
    }

    #[test]
    fn split_agrees_with_the_tree_path_on_random_and_mutated_files() {
        const MUTANTS: &[u8] = b" \"\\{}[],:019-.e\xc3\xa9\xffn";
        let (mut wire, mut owned, mut err) = (0, 0, 0);
        Rng(0xbb67_ae85_84ca_a73b).mutation_rounds(4000, 3, MUTANTS, false, random_file, |d, _| {
            match agree(d) {
                Some(true) => wire += 1,
                Some(false) => owned += 1,
                None => err += 1,
            }
        });
        assert!(
            wire > 800 && owned > 800 && err > 1000,
            "{wire} borrowed, {owned} re-encoded, {err} errors"
        );
    }

    #[test]
    fn too_many_signatures_are_refused_after_the_json_is_read() {
        let entry = r#"{"keyid":"k","method":"ecdsa","sig":"AAAA"}"#;
        let many = vec![entry; MAX_SIGNATURES + 1].join(",");
        let file = format!(r#"{{"signed":{{}},"signatures":[{many}]}}"#);
        assert_eq!(agree(file.as_bytes()), None);
        let err = Signed::split(file.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("1025 signatures, at most 1024"), "{err}");
        // A JSON error after them still wins, as in the tree path.
        let file = format!(r#"{{"signed":{{}},"signatures":[{many}],"x":1.5}}"#);
        assert_eq!(agree(file.as_bytes()), None);
        let err = Signed::split(file.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("whole number"), "{err}");
    }
}
