//! Notary's wire format, read from a [`Value`] into typed roles. Every field is checked for type
//! and range here, and errors name the field's path (`signed.meta.snapshot.length`), so nothing
//! downstream handles untyped server data.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::canonical;
use crate::json::{self, Value};
use crate::keys::{KeyError, PublicKey};

/// At most this many signatures are read from one file: more is hostile (each costs a check).
pub const MAX_SIGNATURES: usize = 1024;
/// At most this many keys in one key map.
pub const MAX_KEYS: usize = 1024;
/// At most this many delegations declared by one role.
pub const MAX_DELEGATIONS: usize = 1024;

/// Why a file's content is not acceptable metadata.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error(transparent)]
    Json(#[from] json::JsonError),
    #[error("field `{path}`: missing")]
    Missing { path: String },
    #[error("field `{path}`: expected {expected}, got {got}")]
    Type {
        path: String,
        expected: &'static str,
        got: String,
    },
    #[error("field `{path}`: {reason}")]
    Invalid { path: String, reason: String },
    #[error("`signed._type` is {got:?}, expected {expected:?}")]
    WrongType { expected: &'static str, got: String },
    #[error("key {id}: {source}")]
    Key { id: String, source: KeyError },
    #[error("key listed as {listed} has the content of key ID {actual}")]
    KeyIdMismatch { listed: String, actual: String },
}

type Result<T, E = MetadataError> = std::result::Result<T, E>;

/// One signature entry.
#[derive(Debug, Clone)]
pub struct Signature {
    pub keyid: String,
    pub method: String,
    pub sig: Vec<u8>,
}

/// A parsed file: its `signed` value, the canonical bytes the signatures cover, the signatures.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub signed: BTreeMap<String, Value>,
    pub canonical: Vec<u8>,
    pub signatures: Vec<Signature>,
}

impl Envelope {
    /// Parse a metadata file. Signatures are not checked here (see [`crate::verify`]).
    pub fn parse(bytes: &[u8]) -> Result<Envelope> {
        let mut top = match json::parse(bytes)? {
            Value::Object(m) => m,
            other => return Err(type_err("(top level)", "object", &other)),
        };
        let signed = match top.remove("signed") {
            Some(Value::Object(m)) => m,
            Some(other) => return Err(type_err("signed", "object", &other)),
            None => return Err(missing("signed")),
        };
        let sigs = arr(field(&top, "", "signatures")?, "signatures")?;
        if sigs.len() > MAX_SIGNATURES {
            return Err(invalid(
                "signatures",
                format!(
                    "{} signatures, at most {MAX_SIGNATURES} accepted",
                    sigs.len()
                ),
            ));
        }
        let mut signatures = Vec::with_capacity(sigs.len());
        for (i, s) in sigs.iter().enumerate() {
            let path = format!("signatures[{i}]");
            let o = obj(s, &path)?;
            let sig_b64 = string(field(o, &path, "sig")?, &format!("{path}.sig"))?;
            signatures.push(Signature {
                keyid: string(field(o, &path, "keyid")?, &format!("{path}.keyid"))?.to_owned(),
                method: string(field(o, &path, "method")?, &format!("{path}.method"))?.to_owned(),
                sig: STANDARD
                    .decode(sig_b64)
                    .map_err(|e| invalid(&format!("{path}.sig"), format!("not base64: {e}")))?,
            });
        }
        let canonical = canonical::encode_object_sized(&signed, bytes.len());
        Ok(Envelope {
            signed,
            canonical,
            signatures,
        })
    }

    /// The `signed` object's fields.
    pub fn fields(&self) -> &BTreeMap<String, Value> {
        &self.signed
    }

    /// Refuse a file whose `_type` is not the one expected.
    pub fn expect_type(&self, expected: &'static str) -> Result<()> {
        let got = string(field(self.fields(), "signed", "_type")?, "signed._type")?;
        if got != expected {
            return Err(MetadataError::WrongType {
                expected,
                got: got.to_owned(),
            });
        }
        Ok(())
    }
}

/// Fields every role has.
#[derive(Debug, Clone)]
pub struct Common {
    pub version: i64,
    pub expires: OffsetDateTime,
}

/// Which keys may sign a role and how many must.
#[derive(Debug, Clone)]
pub struct RoleKeys {
    pub keyids: Vec<String>,
    pub threshold: u32,
}

#[derive(Debug, Clone)]
pub struct Root {
    pub common: Common,
    pub keys: BTreeMap<String, PublicKey>,
    pub roles: BTreeMap<String, RoleKeys>,
    pub consistent_snapshot: bool,
}

/// Hashes and length of a file, as a parent role declares them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    pub length: u64,
    pub sha256: Option<Vec<u8>>,
    pub sha512: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct Timestamp {
    pub common: Common,
    pub snapshot: FileMeta,
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub common: Common,
    pub meta: BTreeMap<String, FileMeta>,
}

/// A delegation as its parent declares it.
#[derive(Debug, Clone)]
pub struct Delegation {
    pub name: String,
    pub keys: RoleKeys,
    pub paths: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Targets {
    pub common: Common,
    pub targets: BTreeMap<String, FileMeta>,
    pub delegation_keys: BTreeMap<String, PublicKey>,
    pub delegations: Vec<Delegation>,
}

impl Root {
    pub fn from_envelope(env: &Envelope) -> Result<Root> {
        env.expect_type("Root")?;
        let f = env.fields();
        let keys = key_map(field(f, "signed", "keys")?, "signed.keys")?;
        let roles_obj = obj(field(f, "signed", "roles")?, "signed.roles")?;
        let mut roles = BTreeMap::new();
        for (name, v) in roles_obj {
            let path = format!("signed.roles.{name}");
            let o = obj(v, &path)?;
            roles.insert(name.clone(), role_keys(o, &path)?);
        }
        let consistent_snapshot = match f.get("consistent_snapshot") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(type_err("signed.consistent_snapshot", "boolean", other)),
        };
        Ok(Root {
            common: common(f)?,
            keys,
            roles,
            consistent_snapshot,
        })
    }
}

impl Timestamp {
    pub fn from_envelope(env: &Envelope) -> Result<Timestamp> {
        env.expect_type("Timestamp")?;
        let f = env.fields();
        let meta = obj(field(f, "signed", "meta")?, "signed.meta")?;
        let snap = meta
            .get("snapshot")
            .ok_or_else(|| missing("signed.meta.snapshot"))?;
        Ok(Timestamp {
            common: common(f)?,
            snapshot: file_meta(snap, "signed.meta.snapshot", true)?,
        })
    }
}

impl Snapshot {
    pub fn from_envelope(env: &Envelope) -> Result<Snapshot> {
        env.expect_type("Snapshot")?;
        let f = env.fields();
        let meta_obj = obj(field(f, "signed", "meta")?, "signed.meta")?;
        let mut meta = BTreeMap::new();
        for (name, v) in meta_obj {
            meta.insert(
                name.clone(),
                file_meta(v, &format!("signed.meta.{name}"), true)?,
            );
        }
        Ok(Snapshot {
            common: common(f)?,
            meta,
        })
    }
}

impl Targets {
    pub fn from_envelope(env: &Envelope) -> Result<Targets> {
        env.expect_type("Targets")?;
        let f = env.fields();
        let t_obj = obj(field(f, "signed", "targets")?, "signed.targets")?;
        let mut targets = BTreeMap::new();
        for (name, v) in t_obj {
            // The common, well-formed entry costs no path strings; anything else takes the
            // careful path, which names the field that is wrong.
            let meta = match file_meta_fast(v) {
                Some(m) => m,
                None => file_meta(v, &format!("signed.targets.{name}"), false)?,
            };
            targets.insert(name.clone(), meta);
        }
        let (delegation_keys, delegations) = match f.get("delegations") {
            None | Some(Value::Null) => (BTreeMap::new(), Vec::new()),
            Some(d) => {
                let o = obj(d, "signed.delegations")?;
                let keys = match o.get("keys") {
                    None | Some(Value::Null) => BTreeMap::new(),
                    Some(k) => key_map(k, "signed.delegations.keys")?,
                };
                let roles = match o.get("roles") {
                    None | Some(Value::Null) => &[][..],
                    Some(r) => arr(r, "signed.delegations.roles")?,
                };
                if roles.len() > MAX_DELEGATIONS {
                    return Err(invalid(
                        "signed.delegations.roles",
                        format!(
                            "{} delegations, at most {MAX_DELEGATIONS} accepted",
                            roles.len()
                        ),
                    ));
                }
                let mut dels = Vec::with_capacity(roles.len());
                for (i, r) in roles.iter().enumerate() {
                    let path = format!("signed.delegations.roles[{i}]");
                    let ro = obj(r, &path)?;
                    let name = string(field(ro, &path, "name")?, &format!("{path}.name"))?;
                    if ro
                        .get("path_hash_prefixes")
                        .is_some_and(|v| *v != Value::Null)
                    {
                        return Err(invalid(
                            &format!("{path}.path_hash_prefixes"),
                            "path_hash_prefixes is not supported by Notary".into(),
                        ));
                    }
                    let paths = match ro.get("paths") {
                        None | Some(Value::Null) => Vec::new(),
                        Some(p) => arr(p, &format!("{path}.paths"))?
                            .iter()
                            .enumerate()
                            .map(|(j, s)| {
                                string(s, &format!("{path}.paths[{j}]")).map(str::to_owned)
                            })
                            .collect::<Result<Vec<_>>>()?,
                    };
                    dels.push(Delegation {
                        name: name.to_owned(),
                        keys: role_keys(ro, &path)?,
                        paths,
                    });
                }
                (keys, dels)
            }
        };
        Ok(Targets {
            common: common(f)?,
            targets,
            delegation_keys,
            delegations,
        })
    }
}

// ---- field helpers: each names the path of what was wrong ----

fn missing(path: &str) -> MetadataError {
    MetadataError::Missing {
        path: path.to_owned(),
    }
}

fn invalid(path: &str, reason: String) -> MetadataError {
    MetadataError::Invalid {
        path: path.to_owned(),
        reason,
    }
}

fn type_err(path: &str, expected: &'static str, got: &Value) -> MetadataError {
    MetadataError::Type {
        path: path.to_owned(),
        expected,
        got: got.kind().to_owned(),
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

fn field<'a>(o: &'a BTreeMap<String, Value>, parent: &str, name: &str) -> Result<&'a Value> {
    o.get(name).ok_or_else(|| missing(&join(parent, name)))
}

fn obj<'a>(v: &'a Value, path: &str) -> Result<&'a BTreeMap<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(type_err(
            if path.is_empty() { "(top level)" } else { path },
            "object",
            other,
        )),
    }
}

fn arr<'a>(v: &'a Value, path: &str) -> Result<&'a [Value]> {
    match v {
        Value::Array(a) => Ok(a),
        other => Err(type_err(path, "array", other)),
    }
}

fn string<'a>(v: &'a Value, path: &str) -> Result<&'a str> {
    match v {
        Value::Str(s) => Ok(s),
        other => Err(type_err(path, "string", other)),
    }
}

fn int(v: &Value, path: &str) -> Result<i64> {
    match v {
        Value::Int(n) => Ok(*n),
        other => Err(type_err(path, "integer", other)),
    }
}

fn common(f: &BTreeMap<String, Value>) -> Result<Common> {
    let version = int(field(f, "signed", "version")?, "signed.version")?;
    if version < 1 {
        return Err(invalid("signed.version", format!("{version} is below 1")));
    }
    let expires_s = string(field(f, "signed", "expires")?, "signed.expires")?;
    strict_rfc3339(expires_s).map_err(|why| {
        invalid(
            "signed.expires",
            format!("{expires_s:?} is not RFC 3339 as Go writes it: {why}"),
        )
    })?;
    let expires = OffsetDateTime::parse(expires_s, &Rfc3339).map_err(|e| {
        invalid(
            "signed.expires",
            format!("{expires_s:?} is not RFC 3339: {e}"),
        )
    })?;
    Ok(Common { version, expires })
}

/// The `time` crate's RFC 3339 parser also takes a space or `t` between date and time, a
/// lower-case `z`, and any number of fraction digits; Go's (notary's) takes only `T`, `Z` and at
/// most 9 digits. Refuse what Go refuses, so that both read the same expiry or neither does.
fn strict_rfc3339(s: &str) -> Result<(), &'static str> {
    let b = s.as_bytes();
    if b.get(10) != Some(&b'T') {
        return Err("date and time must be separated by `T`");
    }
    if s.ends_with('z') {
        return Err("UTC must be written `Z`");
    }
    if let Some(frac) = b.get(19).filter(|c| **c == b'.').and(b.get(20..)) {
        if frac.iter().take_while(|c| c.is_ascii_digit()).count() > 9 {
            return Err("more than 9 fraction digits");
        }
    }
    Ok(())
}

fn role_keys(o: &BTreeMap<String, Value>, path: &str) -> Result<RoleKeys> {
    let ids = arr(field(o, path, "keyids")?, &format!("{path}.keyids"))?;
    if ids.len() > MAX_KEYS {
        return Err(invalid(
            &format!("{path}.keyids"),
            format!("{} key IDs, at most {MAX_KEYS}", ids.len()),
        ));
    }
    let keyids = ids
        .iter()
        .enumerate()
        .map(|(i, v)| string(v, &format!("{path}.keyids[{i}]")).map(str::to_owned))
        .collect::<Result<Vec<_>>>()?;
    let t_path = format!("{path}.threshold");
    let t = int(field(o, path, "threshold")?, &t_path)?;
    if t < 1 {
        return Err(invalid(&t_path, format!("threshold {t} is below 1")));
    }
    let threshold =
        u32::try_from(t).map_err(|_| invalid(&t_path, format!("threshold {t} is too large")))?;
    Ok(RoleKeys { keyids, threshold })
}

fn key_map(v: &Value, path: &str) -> Result<BTreeMap<String, PublicKey>> {
    let o = obj(v, path)?;
    if o.len() > MAX_KEYS {
        return Err(invalid(
            path,
            format!("{} keys, at most {MAX_KEYS}", o.len()),
        ));
    }
    let mut out = BTreeMap::new();
    for (id, k) in o {
        let kp = format!("{path}.{id}");
        let ko = obj(k, &kp)?;
        let keytype = string(field(ko, &kp, "keytype")?, &format!("{kp}.keytype"))?;
        let keyval = obj(field(ko, &kp, "keyval")?, &format!("{kp}.keyval"))?;
        let public = string(
            field(keyval, &format!("{kp}.keyval"), "public")?,
            &format!("{kp}.keyval.public"),
        )?;
        match keyval.get("private") {
            None | Some(Value::Null) => {}
            Some(Value::Str(s)) if s.is_empty() => {}
            Some(_) => {
                return Err(invalid(
                    &format!("{kp}.keyval.private"),
                    "a private key in public metadata".into(),
                ))
            }
        }
        let key = PublicKey::from_tuf(keytype, public).map_err(|source| MetadataError::Key {
            id: id.clone(),
            source,
        })?;
        if key.id() != id {
            return Err(MetadataError::KeyIdMismatch {
                listed: id.clone(),
                actual: key.id().to_owned(),
            });
        }
        out.insert(id.clone(), key);
    }
    Ok(out)
}

/// [`file_meta`] for a well-formed target entry (`length` ≥ 0, `hashes` of valid base64 of the
/// right lengths, nothing else in `hashes` but other algorithms); `None` sends the entry down
/// the careful path, which accepts and refuses exactly the same entries.
fn file_meta_fast(v: &Value) -> Option<FileMeta> {
    let Value::Object(o) = v else { return None };
    let Some(Value::Int(length)) = o.get("length") else {
        return None;
    };
    let length = u64::try_from(*length).ok()?;
    let Some(Value::Object(hashes)) = o.get("hashes") else {
        return None;
    };
    let decode = |alg: &str, len: usize| -> Option<Option<Vec<u8>>> {
        match hashes.get(alg) {
            None => Some(None),
            Some(Value::Str(h)) => {
                let b = STANDARD.decode(h).ok()?;
                (b.len() == len).then_some(Some(b))
            }
            Some(_) => None,
        }
    };
    Some(FileMeta {
        length,
        sha256: decode("sha256", 32)?,
        sha512: decode("sha512", 64)?,
    })
}

fn file_meta(v: &Value, path: &str, need_hash: bool) -> Result<FileMeta> {
    let o = obj(v, path)?;
    let length = int(field(o, path, "length")?, &format!("{path}.length"))?;
    let length = u64::try_from(length)
        .map_err(|_| invalid(&format!("{path}.length"), format!("{length} is negative")))?;
    let hashes = obj(field(o, path, "hashes")?, &format!("{path}.hashes"))?;
    let get = |alg: &str, len: usize| -> Result<Option<Vec<u8>>> {
        let hp = format!("{path}.hashes.{alg}");
        match hashes.get(alg) {
            None => Ok(None),
            Some(h) => {
                let b = STANDARD
                    .decode(string(h, &hp)?)
                    .map_err(|e| invalid(&hp, format!("not base64: {e}")))?;
                if b.len() != len {
                    return Err(invalid(&hp, format!("{} bytes, expected {len}", b.len())));
                }
                Ok(Some(b))
            }
        }
    };
    let meta = FileMeta {
        length,
        sha256: get("sha256", 32)?,
        sha512: get("sha512", 64)?,
    };
    if need_hash && meta.sha256.is_none() && meta.sha512.is_none() {
        return Err(invalid(
            &format!("{path}.hashes"),
            "neither sha256 nor sha512 given".into(),
        ));
    }
    Ok(meta)
}
