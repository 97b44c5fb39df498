//! Notary's wire format, read from a [`Value`] into typed roles. Every field is checked for type
//! and range here, and errors name the field's path (`signed.meta.snapshot.length`), so nothing
//! downstream handles untyped server data.

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::tuf::canonical;
use crate::tuf::json::{self, Value};
use crate::tuf::keys::{KeyError, PublicKey};

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

mod fast;

type Result<T, E = MetadataError> = std::result::Result<T, E>;

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
enum Body<'a> {
    /// `signed` is canonical on the wire: these bytes, not parsed yet.
    Wire(&'a [u8]),
    /// `signed` was not canonical on the wire, so it was parsed (and re-encoded).
    Tree(BTreeMap<String, Value>),
}

impl Body<'_> {
    fn into_tree(self) -> Result<BTreeMap<String, Value>> {
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
fn split(bytes: &[u8]) -> Result<(Body<'_>, SignedBytes<'_>)> {
    if let Some((signed, top)) = split_wire(bytes) {
        let sig = SignedBytes {
            canonical: Cow::Borrowed(signed),
            signatures: signatures(&top)?,
        };
        return Ok((Body::Wire(signed), sig));
    }
    let mut top = match json::parse(bytes)? {
        Value::Object(m) => m,
        other => return Err(type_err("(top level)", "object", &other)),
    };
    let signed = match top.remove("signed") {
        Some(Value::Object(m)) => m,
        Some(other) => return Err(type_err("signed", "object", &other)),
        None => return Err(missing("signed")),
    };
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
const SIGNED_HEAD: &[u8] = br#"{"signed":"#;

/// The top-level fields after `signed`, which ends at `end`: `,"signatures":[…]}`.
fn other_fields(bytes: &[u8], end: usize) -> Option<BTreeMap<String, Value>> {
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
fn signatures(top: &BTreeMap<String, Value>) -> Result<Vec<Signature>> {
    let sigs = arr(field(top, "", "signatures")?, "signatures")?;
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
    Ok(signatures)
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
fn parse_role<T>(
    bytes: &[u8],
    from_envelope: fn(&Envelope) -> Result<T>,
) -> Result<(T, SignedBytes<'_>)> {
    let env = Envelope::parse(bytes)?;
    Ok((from_envelope(&env)?, env.sig))
}

fn expect_type(f: &BTreeMap<String, Value>, expected: &'static str) -> Result<()> {
    let got = string(field(f, "signed", "_type")?, "signed._type")?;
    if got != expected {
        return Err(MetadataError::WrongType {
            expected,
            got: got.to_owned(),
        });
    }
    Ok(())
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
    pub sha256: Option<[u8; 32]>,
    /// Boxed: most targets carry only sha256, and thousands of entries are kept.
    pub sha512: Option<Box<[u8; 64]>>,
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

/// Target name → what a role signed for it, in name (byte) order. A file's thousands of
/// entries arrive sorted and are stored in one go: the names in one string, the entries in one
/// vector (no allocation per name), looked up by binary search.
#[derive(Clone, Default)]
pub struct TargetMap {
    names: String,
    entries: Vec<TargetEntry>,
}

#[derive(Clone)]
struct TargetEntry {
    start: u32,
    len: u32,
    meta: FileMeta,
}

impl TargetEntry {
    /// Its name in the map's string of names.
    fn name<'n>(&self, names: &'n str) -> &'n str {
        &names[self.start as usize..(self.start + self.len) as usize]
    }
}

impl TargetMap {
    /// Room for about `n` entries.
    fn with_capacity(n: usize) -> TargetMap {
        TargetMap {
            names: String::with_capacity(n * 8),
            entries: Vec::with_capacity(n),
        }
    }

    /// Add an entry whose name sorts after every name so far (the caller checked); `None` if
    /// the names outgrow 4 GiB (they cannot: files are far smaller).
    fn push_sorted(&mut self, name: &str, meta: FileMeta) -> Option<()> {
        debug_assert!(self.entries.last().is_none_or(|e| self.name(e) < name));
        let start = u32::try_from(self.names.len()).ok()?;
        let len = u32::try_from(name.len()).ok()?;
        start.checked_add(len)?;
        self.names.push_str(name);
        self.entries.push(TargetEntry { start, len, meta });
        Some(())
    }

    fn name(&self, e: &TargetEntry) -> &str {
        e.name(&self.names)
    }

    pub fn get(&self, name: &str) -> Option<&FileMeta> {
        self.entries
            .binary_search_by(|e| self.name(e).cmp(name))
            .ok()
            .map(|i| &self.entries[i].meta)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &FileMeta)> {
        self.entries.iter().map(|e| (self.name(e), &e.meta))
    }

    /// Keep the entries `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &FileMeta) -> bool) {
        let names = &self.names;
        self.entries.retain(|e| keep(e.name(names), &e.meta));
    }
}

impl PartialEq for TargetMap {
    fn eq(&self, other: &TargetMap) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for TargetMap {}

impl std::fmt::Debug for TargetMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a TargetMap {
    type Item = (&'a str, &'a FileMeta);
    type IntoIter = Box<dyn Iterator<Item = (&'a str, &'a FileMeta)> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
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
    pub targets: TargetMap,
    pub delegation_keys: BTreeMap<String, PublicKey>,
    pub delegations: Vec<Delegation>,
}

impl Root {
    /// Parse a root file: the role and what its signatures cover.
    pub fn parse(bytes: &[u8]) -> Result<(Root, SignedBytes<'_>)> {
        parse_role(bytes, Root::from_envelope)
    }

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
    /// Parse a timestamp file: the role and what its signatures cover.
    pub fn parse(bytes: &[u8]) -> Result<(Timestamp, SignedBytes<'_>)> {
        parse_role(bytes, Timestamp::from_envelope)
    }

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
    /// Parse a snapshot file: the role and what its signatures cover.
    pub fn parse(bytes: &[u8]) -> Result<(Snapshot, SignedBytes<'_>)> {
        parse_role(bytes, Snapshot::from_envelope)
    }

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
    /// Parse a targets or delegation file: the role and what its signatures cover. A file as a
    /// Notary client writes it (`signed` canonical on the wire) has its `targets` map read
    /// straight into [`FileMeta`]s, without a tree of its thousands of entries; anything that
    /// path does not take (another shape, any error) goes through [`Envelope::parse`] and
    /// [`Targets::from_envelope`], which decide and name what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<(Targets, SignedBytes<'_>)> {
        if let Some((n, targets)) = fast::targets(bytes) {
            let end = SIGNED_HEAD.len() + n;
            if let Some(top) = other_fields(bytes, end) {
                let sig = SignedBytes {
                    canonical: Cow::Borrowed(&bytes[SIGNED_HEAD.len()..end]),
                    signatures: signatures(&top)?,
                };
                return Ok((targets, sig));
            }
        }
        let (body, sig) = split(bytes)?;
        let signed = body.into_tree()?;
        Ok((Targets::from_fields(&signed, None)?, sig))
    }

    pub fn from_envelope(env: &Envelope) -> Result<Targets> {
        Targets::from_fields(env.fields(), None)
    }

    /// Targets from `signed`'s fields; `targets` is the `targets` map when it was read already
    /// (then it is not looked up in `f`).
    fn from_fields(f: &BTreeMap<String, Value>, targets: Option<TargetMap>) -> Result<Targets> {
        expect_type(f, "Targets")?;
        let targets = match targets {
            Some(t) => t,
            None => {
                let t_obj = obj(field(f, "signed", "targets")?, "signed.targets")?;
                let mut targets = TargetMap::with_capacity(t_obj.len());
                for (name, v) in t_obj {
                    // The common, well-formed entry costs no path strings; anything else takes
                    // the careful path, which names the field that is wrong.
                    let meta = match file_meta_fast(v) {
                        Some(m) => m,
                        None => file_meta(v, &format!("signed.targets.{name}"), false)?,
                    };
                    // A BTreeMap iterates in key order.
                    targets
                        .push_sorted(name, meta)
                        .ok_or_else(|| invalid("signed.targets", "too large".into()))?;
                }
                targets
            }
        };
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
    fn decode<const N: usize>(
        hashes: &BTreeMap<String, Value>,
        alg: &str,
    ) -> Option<Option<[u8; N]>> {
        match hashes.get(alg) {
            None => Some(None),
            Some(Value::Str(h)) => decode_hash(h.as_bytes()).ok().map(Some),
            Some(_) => None,
        }
    }
    Some(FileMeta {
        length,
        sha256: decode(hashes, "sha256")?,
        sha512: decode(hashes, "sha512")?.map(Box::new),
    })
}

fn file_meta(v: &Value, path: &str, need_hash: bool) -> Result<FileMeta> {
    let o = obj(v, path)?;
    let length = int(field(o, path, "length")?, &format!("{path}.length"))?;
    let length = u64::try_from(length)
        .map_err(|_| invalid(&format!("{path}.length"), format!("{length} is negative")))?;
    let hashes = obj(field(o, path, "hashes")?, &format!("{path}.hashes"))?;
    fn get<const N: usize>(
        hashes: &BTreeMap<String, Value>,
        path: &str,
        alg: &str,
    ) -> Result<Option<[u8; N]>> {
        let hp = format!("{path}.hashes.{alg}");
        match hashes.get(alg) {
            None => Ok(None),
            Some(h) => decode_hash(string(h, &hp)?.as_bytes())
                .map(Some)
                .map_err(|why| invalid(&hp, why)),
        }
    }
    let meta = FileMeta {
        length,
        sha256: get(hashes, path, "sha256")?,
        sha512: get(hashes, path, "sha512")?.map(Box::new),
    };
    if need_hash && meta.sha256.is_none() && meta.sha512.is_none() {
        return Err(invalid(
            &format!("{path}.hashes"),
            "neither sha256 nor sha512 given".into(),
        ));
    }
    Ok(meta)
}

/// Decode a base64 hash that must be exactly `N` bytes long.
fn decode_hash<const N: usize>(b64: &[u8]) -> Result<[u8; N], String> {
    if let Some(h) = decode_hash_exact(b64) {
        return Ok(h);
    }
    decode_hash_general(b64)
}

/// Base64 values of the standard alphabet; 0xff for anything else.
const BASE64_VALUE: [u8; 256] = {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// The form Notary writes, decoded without the general decoder's per-call set-up (thousands of
/// target hashes per file): standard alphabet, canonical `=` padding, unused low bits zero.
/// `None` for anything else, which the `base64` crate then judges; what this accepts, the
/// crate accepts with the same bytes (tested below).
fn decode_hash_exact<const N: usize>(b64: &[u8]) -> Option<[u8; N]> {
    if b64.len() != 4 * N.div_ceil(3) {
        return None;
    }
    let v = |c: u8| u32::from(BASE64_VALUE[usize::from(c)]);
    let mut out = [0u8; N];
    let quads = N / 3;
    // Any character outside the alphabet sets bit 7 here (0xff); values are below 64.
    let mut bad = 0u32;
    for q in 0..quads {
        let c = &b64[4 * q..4 * q + 4];
        let (a, b, c2, d) = (v(c[0]), v(c[1]), v(c[2]), v(c[3]));
        bad |= a | b | c2 | d;
        let n = (a << 18) | (b << 12) | (c2 << 6) | d;
        out[3 * q..3 * q + 3].copy_from_slice(&n.to_be_bytes()[1..]);
    }
    let t = &b64[4 * quads..];
    match N % 3 {
        0 => {}
        1 => {
            // Two characters and `==`; the second's low four bits are unused and must be zero.
            let (a, b) = (v(t[0]), v(t[1]));
            bad |= a | b;
            if t[2] != b'=' || t[3] != b'=' || b & 0x0f != 0 {
                return None;
            }
            out[3 * quads] = ((a << 2) | (b >> 4)) as u8;
        }
        _ => {
            // Three characters and `=`; the third's low two bits are unused and must be zero.
            let (a, b, c) = (v(t[0]), v(t[1]), v(t[2]));
            bad |= a | b | c;
            if t[3] != b'=' || c & 0x03 != 0 {
                return None;
            }
            let n = (a << 10) | (b << 4) | (c >> 2);
            out[3 * quads..3 * quads + 2].copy_from_slice(&n.to_be_bytes()[2..]);
        }
    }
    (bad & 0x80 == 0).then_some(out)
}

/// Any other base64, judged by the `base64` crate (which names what is wrong).
fn decode_hash_general<const N: usize>(b64: &[u8]) -> Result<[u8; N], String> {
    let v = STANDARD
        .decode(b64)
        .map_err(|e| format!("not base64: {e}"))?;
    v.as_slice()
        .try_into()
        .map_err(|_| format!("{} bytes, expected {N}", v.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    /// The general path alone: tree, re-encoding, then the role (what [`Targets::parse`] must
    /// agree with, whichever way it takes).
    fn reference(bytes: &[u8]) -> Result<(Targets, Vec<u8>, Vec<Signature>)> {
        let mut top = match json::parse(bytes)? {
            Value::Object(m) => m,
            other => return Err(type_err("(top level)", "object", &other)),
        };
        let signed = match top.remove("signed") {
            Some(Value::Object(m)) => m,
            Some(other) => return Err(type_err("signed", "object", &other)),
            None => return Err(missing("signed")),
        };
        let sigs = signatures(&top)?;
        let targets = Targets::from_fields(&signed, None)?;
        Ok((targets, canonical::encode_object(&signed), sigs))
    }

    /// `Targets::parse` and the reference agree: same targets, bytes and signatures, or the
    /// same error. Returns whether the wire path was taken.
    fn agree(bytes: &[u8]) -> bool {
        let fast = Targets::parse(bytes);
        let slow = reference(bytes);
        match (&fast, &slow) {
            (Ok((t, sig)), Ok((rt, rc, rs))) => {
                assert_eq!(format!("{t:?}"), format!("{rt:?}"), "{}", show(bytes));
                assert_eq!(&sig.canonical[..], &rc[..], "{}", show(bytes));
                assert_eq!(format!("{:?}", sig.signatures), format!("{rs:?}"));
                matches!(sig.canonical, Cow::Borrowed(_))
            }
            (Err(a), Err(b)) => {
                assert_eq!(a.to_string(), b.to_string(), "{}", show(bytes));
                false
            }
            _ => panic!(
                "disagree on {}: parse {:?} / reference {:?}",
                show(bytes),
                fast.as_ref().map(|_| ()),
                slow.as_ref().map(|_| ())
            ),
        }
    }

    fn show(b: &[u8]) -> String {
        let s = String::from_utf8_lossy(b);
        s.chars().take(400).collect()
    }

    fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                json_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }

    #[test]
    fn targets_parse_agrees_with_the_tree_path_on_real_files() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        json_files(&root.join("testdata"), &mut files);
        json_files(&root.join("../shared/trust-data"), &mut files);
        let (mut wire, mut tree) = (0, 0);
        for f in files {
            let bytes = std::fs::read(&f).unwrap();
            let Ok(env) = Envelope::parse(&bytes) else {
                continue;
            };
            if env.expect_type("Targets").is_err() {
                continue;
            }
            if agree(&bytes) {
                wire += 1;
            } else {
                tree += 1;
            }
        }
        // Notary writes `signed` canonically unless a string has `<`, `>`, `&` or U+2028
        // (testdata's oddnames): both paths are exercised by real files.
        assert!(wire >= 5, "{wire} files took the wire path");
        assert!(tree >= 1, "{tree} files took the tree path");
    }

    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
        fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
            xs[self.below(xs.len() as u64) as usize]
        }
    }

    fn random_targets_file(r: &mut Rng) -> Vec<u8> {
        const NAMES: [&str; 9] = [
            "v1",
            "a\"b",
            "back\\slash",
            "é",
            "<x>",
            " ",
            "latest",
            "",
            "z",
        ];
        const H32: &str = "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"";
        const H64: &str = "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==\"";
        const ENTRIES: [&str; 14] = [
            "{\"hashes\":{\"sha256\":H32},\"length\":7}",
            "{\"hashes\":{\"sha256\":H32,\"sha512\":H64},\"length\":0}",
            "{\"hashes\":{\"sha512\":H64},\"length\":9007199254740992}",
            "{\"hashes\":{\"md5\":1,\"sha256\":H32},\"length\":1}",
            "{\"hashes\":{\"sha256\":H32,\"sha384\":\"x\"},\"length\":1}",
            "{\"custom\":{\"a\":[1,2]},\"hashes\":{\"sha256\":H32},\"length\":2}",
            "{\"hashes\":{\"sha256\":H32},\"length\":-1}",
            "{\"hashes\":{\"sha256\":H64},\"length\":1}",
            "{\"hashes\":{\"sha256\":\"not base64!\"},\"length\":1}",
            "{\"hashes\":{},\"length\":1}",
            "{\"hashes\":[],\"length\":1}",
            "{\"hashes\":{\"sha256\":H32}}",
            "{\"hashes\":{\"sha256\":H32},\"length\":1,\"zz\":null}",
            "[]",
        ];
        let mut targets = BTreeMap::new();
        for _ in 0..r.below(5) {
            // Mostly entries that parse (the first six), so most files do.
            let pick = if r.below(4) > 0 {
                r.below(6)
            } else {
                r.below(ENTRIES.len() as u64)
            };
            let entry = ENTRIES[pick as usize]
                .replace("H32", H32)
                .replace("H64", H64);
            targets.insert(
                r.pick(&NAMES).to_owned(),
                json::parse(entry.as_bytes()).unwrap(),
            );
        }
        let mut signed: BTreeMap<String, Value> = BTreeMap::new();
        signed.insert(
            "_type".into(),
            Value::Str(r.pick(&["Targets", "Targets", "Targets", "Root"]).into()),
        );
        signed.insert("expires".into(), Value::Str("2030-01-01T00:00:00Z".into()));
        signed.insert("version".into(), Value::Int(r.below(8) as i64));
        if r.below(8) > 0 {
            signed.insert("targets".into(), Value::Object(targets));
        }
        if r.below(2) == 0 {
            let d = r#"{"keys":{},"roles":[{"keyids":[],"name":"targets/releases","paths":[""],"threshold":1}]}"#;
            signed.insert("delegations".into(), json::parse(d.as_bytes()).unwrap());
        }
        let mut out = br#"{"signed":"#.to_vec();
        out.extend(canonical::encode_object(&signed));
        out.extend_from_slice(br#","signatures":[{"keyid":"k","method":"ecdsa","sig":"AAAA"}]}"#);
        out
    }

    #[test]
    fn targets_parse_agrees_with_the_tree_path_on_random_and_mutated_files() {
        let mut r = Rng(0x2545_f491_4f6c_dd1d);
        const MUTANTS: &[u8] = b" \"\\{}[],:019-.e\xc3\xa9\xffn";
        let (mut wire, mut ok, mut err) = (0, 0, 0);
        for _ in 0..4000 {
            let doc = random_targets_file(&mut r);
            let mut docs = vec![doc.clone()];
            for _ in 0..3 {
                let mut m = doc.clone();
                let at = r.below(m.len() as u64) as usize;
                let byte = MUTANTS[r.below(MUTANTS.len() as u64) as usize];
                match r.below(3) {
                    0 => m[at] = byte,
                    1 => {
                        m.remove(at);
                    }
                    _ => m.insert(at, byte),
                }
                docs.push(m);
            }
            for d in docs {
                wire += usize::from(agree(&d));
                match Targets::parse(&d) {
                    Ok(_) => ok += 1,
                    Err(_) => err += 1,
                }
            }
        }
        assert!(
            wire > 1000 && ok > 1000 && err > 1000,
            "{wire} wire, {ok} ok, {err} errors"
        );
    }

    #[test]
    fn the_exact_hash_decoder_accepts_only_what_the_crate_accepts_with_the_same_bytes() {
        use base64::Engine as _;
        let mut r = Rng(0x5555_aaaa_1234_4321);
        let (mut exact, mut other) = (0, 0);
        for n in 0..20_000 {
            let bytes: Vec<u8> = (0..64).map(|_| r.below(256) as u8).collect();
            let mut text = STANDARD.encode(if n % 2 == 0 { &bytes[..32] } else { &bytes[..] });
            if r.below(2) == 0 {
                // One character changed, to anything printable or a padding sign.
                let at = r.below(text.len() as u64) as usize;
                let c = [b'=', b'A', b'/', b'+', b'-', b'_', b' ', b'z'][r.below(8) as usize];
                text.replace_range(at..=at, &(c as char).to_string());
            }
            let b = text.as_bytes();
            let crate32 = decode_hash_general::<32>(b).ok();
            let crate64 = decode_hash_general::<64>(b).ok();
            match decode_hash_exact::<32>(b) {
                Some(h) => {
                    exact += 1;
                    assert_eq!(Some(h), crate32, "{text}");
                }
                None => other += 1,
            }
            if let Some(h) = decode_hash_exact::<64>(b) {
                assert_eq!(Some(h), crate64, "{text}");
            } else if n % 2 == 1 && b == STANDARD.encode(&bytes).as_bytes() {
                panic!("a canonical 64-byte encoding went to the slow path: {text}");
            }
        }
        assert!(exact > 3000 && other > 3000, "{exact} exact, {other} other");
    }
}
