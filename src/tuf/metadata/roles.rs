//! The roles that say which keys count and which files are current: root (keys and thresholds),
//! timestamp and snapshot (versions and hashes of the other files), and what every role has
//! ([`Common`]: version and expiry).

use std::collections::BTreeMap;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::envelope::{expect_type, Envelope, SignedBytes};
use super::fields::{arr, field, int, invalid, missing, obj, string, strings, type_err};
use super::file_meta::{file_meta, FileMeta};
use super::signed::Signed;
use super::{MetadataError, Result};
use crate::tuf::json::Value;
use crate::tuf::keys::PublicKey;

/// At most this many keys in one key map.
pub const MAX_KEYS: usize = 1024;

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

/// `parse`, `from_signed` and `from_envelope` for a top-level role type with a private
/// `from_fields(&BTreeMap<String, Value>) -> Result<Self>`.
macro_rules! role_constructors {
    ($role:ident, $file:literal) => {
        impl $role {
            #[doc = concat!("Parse a ", $file, " file: the role and what its signatures cover ([`Signed::split`], then\n[`", stringify!($role), "::from_signed`]).")]
            pub fn parse(bytes: &[u8]) -> Result<($role, SignedBytes<'_>)> {
                let cut = Signed::split(bytes)?;
                Ok(($role::from_signed(&cut)?, cut.sig))
            }

            /// The role from a cut file (whose signatures the caller checked first).
            pub fn from_signed(signed: &Signed) -> Result<$role> {
                $role::from_fields(&signed.tree()?)
            }

            pub fn from_envelope(env: &Envelope) -> Result<$role> {
                $role::from_fields(env.fields())
            }
        }
    };
}

role_constructors!(Root, "root");

impl Root {
    fn from_fields(f: &BTreeMap<String, Value>) -> Result<Root> {
        expect_type(f, "Root")?;
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

role_constructors!(Timestamp, "timestamp");

impl Timestamp {
    fn from_fields(f: &BTreeMap<String, Value>) -> Result<Timestamp> {
        expect_type(f, "Timestamp")?;
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

role_constructors!(Snapshot, "snapshot");

impl Snapshot {
    fn from_fields(f: &BTreeMap<String, Value>) -> Result<Snapshot> {
        expect_type(f, "Snapshot")?;
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

pub(super) fn common(f: &BTreeMap<String, Value>) -> Result<Common> {
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
    // Go's time.Parse (and so notary) refuses a leap second; `time` would read it as :59.
    if b.get(17..19) == Some(b"60") {
        return Err("second 60 (a leap second) is not a valid time here");
    }
    if let Some(frac) = b.get(19).filter(|c| **c == b'.').and(b.get(20..)) {
        if frac.iter().take_while(|c| c.is_ascii_digit()).count() > 9 {
            return Err("more than 9 fraction digits");
        }
    }
    Ok(())
}

pub(super) fn role_keys(o: &BTreeMap<String, Value>, path: &str) -> Result<RoleKeys> {
    let ids_path = format!("{path}.keyids");
    let ids = arr(field(o, path, "keyids")?, &ids_path)?;
    if ids.len() > MAX_KEYS {
        return Err(invalid(
            &ids_path,
            format!("{} key IDs, at most {MAX_KEYS}", ids.len()),
        ));
    }
    let keyids = strings(ids, &ids_path)?;
    let t_path = format!("{path}.threshold");
    let t = int(field(o, path, "threshold")?, &t_path)?;
    if t < 1 {
        return Err(invalid(&t_path, format!("threshold {t} is below 1")));
    }
    let threshold =
        u32::try_from(t).map_err(|_| invalid(&t_path, format!("threshold {t} is too large")))?;
    Ok(RoleKeys { keyids, threshold })
}

pub(super) fn key_map(v: &Value, path: &str) -> Result<BTreeMap<String, PublicKey>> {
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
