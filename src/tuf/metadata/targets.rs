//! Targets roles, top-level and delegated: what each signed for every target name
//! ([`TargetMap`]), and the delegations it declares. A file as a Notary client writes it is
//! read by the fast path beside this module, without a tree of its thousands of entries.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::envelope::{expect_type, Envelope, SignedBytes};
use super::fast;
use super::fields::{arr, field, invalid, obj, objects, string, strings};
use super::file_meta::{file_meta, file_meta_fast, FileMeta};
use super::roles::{common, key_map, role_keys, Common, RoleKeys};
use super::signed::Signed;
use super::Result;
use crate::tuf::json::Value;
use crate::tuf::keys::PublicKey;

/// At most this many delegations declared by one role.
pub const MAX_DELEGATIONS: usize = 1024;

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
    pub(super) fn with_capacity(n: usize) -> TargetMap {
        TargetMap {
            names: String::with_capacity(n * 8),
            entries: Vec::with_capacity(n),
        }
    }

    /// Add an entry whose name sorts after every name so far (the caller checked); `None` if
    /// the names outgrow 4 GiB (they cannot: files are far smaller).
    pub(super) fn push_sorted(&mut self, name: &str, meta: FileMeta) -> Option<()> {
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
    /// The role gives `path_hash_prefixes`, which Notary does not support: the delegation is
    /// ignored (with a warning), the rest of the file still counts.
    pub path_hash_prefixes: bool,
}

#[derive(Debug, Clone)]
pub struct Targets {
    pub common: Common,
    pub targets: TargetMap,
    pub delegation_keys: BTreeMap<String, PublicKey>,
    pub delegations: Vec<Delegation>,
}

impl Targets {
    /// Parse a targets or delegation file: the role and what its signatures cover
    /// ([`Signed::split`], then [`Targets::from_signed`]).
    pub fn parse(bytes: &[u8]) -> Result<(Targets, SignedBytes<'_>)> {
        let cut = Signed::split(bytes)?;
        Ok((Targets::from_signed(&cut)?, cut.sig))
    }

    /// The role from a cut file (whose signatures the caller checked first). A file as a Notary
    /// client writes it (`signed` canonical on the wire) has its `targets` map read straight
    /// into [`FileMeta`]s, without a tree of its thousands of entries; anything that path does
    /// not take (another shape, any error) goes through the tree and the general reader,
    /// which decide and name what is wrong.
    pub fn from_signed(signed: &Signed) -> Result<Targets> {
        if let Cow::Borrowed(wire) = signed.sig.canonical {
            if let Some(targets) = fast::targets(wire) {
                return Ok(targets);
            }
        }
        Targets::from_fields(&signed.tree()?, None)
    }

    pub fn from_envelope(env: &Envelope) -> Result<Targets> {
        Targets::from_fields(env.fields(), None)
    }

    /// Targets from `signed`'s fields; `targets` is the `targets` map when it was read already
    /// (then it is not looked up in `f`).
    pub(super) fn from_fields(
        f: &BTreeMap<String, Value>,
        targets: Option<TargetMap>,
    ) -> Result<Targets> {
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
                let dels = objects(
                    roles,
                    "signed.delegations.roles",
                    MAX_DELEGATIONS,
                    "delegations",
                    |ro, path| {
                        let name = string(field(ro, path, "name")?, &format!("{path}.name"))?;
                        let path_hash_prefixes = ro
                            .get("path_hash_prefixes")
                            .is_some_and(|v| *v != Value::Null);
                        let paths = match ro.get("paths") {
                            None | Some(Value::Null) => Vec::new(),
                            Some(p) => {
                                let paths_path = format!("{path}.paths");
                                strings(arr(p, &paths_path)?, &paths_path)?
                            }
                        };
                        Ok(Delegation {
                            name: name.to_owned(),
                            keys: role_keys(ro, path)?,
                            paths,
                            path_hash_prefixes,
                        })
                    },
                )?;
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

#[cfg(test)]
mod tests {
    use super::super::envelope::{parse_tree, signatures, Signature};
    use super::*;
    use crate::tuf::canonical::{
        self,
        test_rng::{real_json_files, Rng},
    };
    use crate::tuf::json;

    /// The general path alone: tree, re-encoding, then the role (what [`Targets::parse`] must
    /// agree with, whichever way it takes).
    fn reference(bytes: &[u8]) -> Result<(Targets, Vec<u8>, Vec<Signature>)> {
        let (signed, top) = parse_tree(bytes)?;
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

    #[test]
    fn path_hash_prefixes_marks_only_that_delegation() {
        let file = br#"{"signed":{"_type":"Targets","delegations":{"keys":{},"roles":[
            {"keyids":[],"name":"targets/hashed","path_hash_prefixes":["ab"],"threshold":1},
            {"keyids":[],"name":"targets/plain","paths":[""],"threshold":1}]},
            "expires":"2030-01-01T00:00:00Z","targets":{},"version":1},"signatures":[]}"#;
        let (t, _, _) = reference(file).expect("the file stands");
        let flags: Vec<(&str, bool)> = t
            .delegations
            .iter()
            .map(|d| (d.name.as_str(), d.path_hash_prefixes))
            .collect();
        assert_eq!(flags, [("targets/hashed", true), ("targets/plain", false)]);
    }

    #[test]
    fn a_leap_second_expiry_is_refused_as_go_refuses_it() {
        let file = br#"{"signed":{"_type":"Targets","expires":"2030-12-31T23:59:60Z","targets":{},"version":1},"signatures":[]}"#;
        let err = Targets::parse(file).unwrap_err().to_string();
        assert!(err.contains("second 60"), "{err}");
        let ok = br#"{"signed":{"_type":"Targets","expires":"2030-12-31T23:59:59Z","targets":{},"version":1},"signatures":[]}"#;
        assert!(Targets::parse(ok).is_ok());
    }

    fn show(b: &[u8]) -> String {
        let s = String::from_utf8_lossy(b);
        s.chars().take(400).collect()
    }

    #[test]
    fn targets_parse_agrees_with_the_tree_path_on_real_files() {
        let (mut wire, mut tree) = (0, 0);
        for bytes in real_json_files() {
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
        const MUTANTS: &[u8] = b" \"\\{}[],:019-.e\xc3\xa9\xffn";
        let (mut wire, mut ok, mut err) = (0, 0, 0);
        let mut r = Rng(0x2545_f491_4f6c_dd1d);
        r.mutation_rounds(4000, 3, MUTANTS, false, random_targets_file, |d, _| {
            wire += usize::from(agree(d));
            match Targets::parse(d) {
                Ok(_) => ok += 1,
                Err(_) => err += 1,
            }
        });
        assert!(
            wire > 1000 && ok > 1000 && err > 1000,
            "{wire} wire, {ok} ok, {err} errors"
        );
    }
}
