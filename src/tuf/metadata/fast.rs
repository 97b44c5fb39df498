//! The hot path of parsing: a targets file as a Notary client writes it (`signed` canonical on
//! the wire, its signatures checked over those bytes already), its `targets` map of thousands of
//! entries read straight into [`FileMeta`]s with the canonical scanner's own readers, in one pass
//! and without a tree of the entries. An entry of the common shape,
//! `{"hashes":{"sha256":"…"[,"sha512":"…"]},"length":N}`, is matched literally (base64 admits no
//! quote, backslash or control character, so its strings are canonical); any other entry is
//! scanned as a value and read by the general code. Anything unusual makes the whole path give
//! up (`None`), and the general path decides and names the error.

use std::collections::BTreeMap;

use super::file_meta::{decode_hash, file_meta_fast, FileMeta};
use super::targets::{TargetMap, Targets};
use crate::tuf::canonical::Scanner;
use crate::tuf::json;

/// The targets of a canonical `signed` object (all of `signed`, as its signatures cover it).
pub(super) fn targets(signed: &[u8]) -> Option<Targets> {
    let mut s = Scanner::new(std::str::from_utf8(signed).ok()?);
    let mut fields = BTreeMap::new();
    let mut targets = None;
    s.object_with(|s, key| {
        if key == "targets" {
            targets = Some(target_map(s)?);
        } else {
            fields.insert(key.into_owned(), json::parse(s.skip_value()?).ok()?);
        }
        Some(())
    })?;
    if s.position() != signed.len() {
        return None;
    }
    Targets::from_fields(&fields, Some(targets?)).ok()
}

/// The `targets` object: name → entry.
fn target_map(s: &mut Scanner) -> Option<TargetMap> {
    // A common entry takes at least 84 bytes: room for that many, so the vectors (thousands of
    // entries) are not copied as they grow. Pages never written cost nothing.
    let mut map = TargetMap::with_capacity((s.remaining() / 84).min(1 << 20));
    s.object_with(|s, name| {
        let meta = match common_entry(s) {
            Some(meta) => meta,
            None => file_meta_fast(&json::parse(s.skip_value()?).ok()?)?,
        };
        // Keys come in strictly ascending order (object_with checks).
        map.push_sorted(&name, meta)
    })?;
    Some(map)
}

/// An entry of the common shape at the cursor, consumed; else `None` and nothing consumed.
fn common_entry(s: &mut Scanner) -> Option<FileMeta> {
    let mut t = *s;
    if !t.eat_literal(br#"{"hashes":{"sha256":"#) {
        return None;
    }
    let sha256 = t.read_plain_string(|b| decode_hash::<32>(b).ok())?;
    let sha512 = if t.eat_literal(br#","sha512":"#) {
        Some(Box::new(
            t.read_plain_string(|b| decode_hash::<64>(b).ok())?,
        ))
    } else {
        None
    };
    if !t.eat_literal(br#"},"length":"#) {
        return None;
    }
    let length = u64::try_from(t.read_integer()?).ok()?;
    if !t.eat_literal(b"}") {
        return None;
    }
    *s = t;
    Some(FileMeta {
        length,
        sha256: Some(sha256),
        sha512,
    })
}
