//! The hot path of parsing: a targets file's `targets` map, thousands of entries, read straight
//! from the wire bytes into [`FileMeta`]s instead of building a JSON tree and walking it. It is
//! only taken for `signed` bytes the canonical scanner accepted (valid UTF-8, no whitespace, no
//! duplicate keys, integers within ±2^53), so walking them cannot go wrong; an entry of the
//! common shape, `{"hashes":{"sha256":"…"[,"sha512":"…"]},"length":N}`, is matched byte for
//! byte, any other is parsed as a tree and read by the general code. Anything unusual makes
//! the whole path give up (`None`), and the general path decides and names the error.

use std::collections::BTreeMap;

use super::{decode_hash, file_meta_fast, FileMeta, Targets};
use crate::canonical::Scanner;
use crate::json;

/// Targets from canonical `signed` bytes, or `None` if anything is unusual.
pub(super) fn targets(wire: &[u8]) -> Option<Targets> {
    let mut s = Scanner::new(std::str::from_utf8(wire).ok()?);
    let mut rest = BTreeMap::new();
    let mut targets = None;
    members(&mut s, |s, key| {
        if key == "targets" {
            targets = Some(target_map(s)?);
        } else {
            rest.insert(key, json::parse(s.skip_value()?).ok()?);
        }
        Some(())
    })?;
    Targets::from_fields(&rest, Some(targets?)).ok()
}

/// Walk the members of the object at the cursor: `each` reads the value after its key.
fn members(
    s: &mut Scanner,
    mut each: impl FnMut(&mut Scanner, String) -> Option<()>,
) -> Option<()> {
    if !s.eat(b'{') {
        return None;
    }
    if s.eat(b'}') {
        return Some(());
    }
    loop {
        let key = s.read_string()?;
        if !s.eat(b':') {
            return None;
        }
        each(s, key)?;
        if s.eat(b'}') {
            return Some(());
        }
        if !s.eat(b',') {
            return None;
        }
    }
}

/// The `targets` object: name → entry.
fn target_map(s: &mut Scanner) -> Option<BTreeMap<String, FileMeta>> {
    let mut entries = Vec::new();
    members(s, |s, name| {
        let meta = match common_entry(s.rest()) {
            Some((meta, len)) => {
                s.advance(len);
                meta
            }
            None => file_meta_fast(&json::parse(s.skip_value()?).ok()?)?,
        };
        entries.push((name, meta));
        Some(())
    })?;
    // Keys come in ascending order (the scanner checked), so this is a bulk build.
    Some(entries.into_iter().collect())
}

/// An entry of the common shape at the start of `b`, and its length in bytes. The canonical
/// form fixes the key order, so the shape is matched literally; anything else is `None`.
fn common_entry(b: &[u8]) -> Option<(FileMeta, usize)> {
    let mut at = b.strip_prefix(br#"{"hashes":{"sha256":""#)?;
    let (sha256, after) = base64_hash::<32>(at)?;
    at = after;
    let sha512 = match at.strip_prefix(br#","sha512":""#) {
        Some(more) => {
            let (h, after) = base64_hash::<64>(more)?;
            at = after;
            Some(h)
        }
        None => None,
    };
    at = at.strip_prefix(br#"},"length":"#)?;
    let digits = at.iter().take_while(|c| c.is_ascii_digit()).count();
    // Canonical integers have no leading zeros and at most 16 digits (the scanner checked).
    let length = std::str::from_utf8(&at[..digits])
        .ok()?
        .parse::<u64>()
        .ok()?;
    at = at.get(digits..)?.strip_prefix(b"}")?;
    Some((
        FileMeta {
            length,
            sha256: Some(sha256),
            sha512,
        },
        b.len() - at.len(),
    ))
}

/// Base64 up to the closing quote, decoded to exactly `N` bytes; and what follows the quote.
/// A backslash (an escape) is not base64, so an escaped quote cannot end it early unnoticed.
fn base64_hash<const N: usize>(b: &[u8]) -> Option<([u8; N], &[u8])> {
    let end = memchr::memchr(b'"', b)?;
    Some((decode_hash(&b[..end]).ok()?, &b[end + 1..]))
}
