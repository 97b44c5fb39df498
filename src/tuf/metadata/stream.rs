//! The canonical form of JSON text written while the text is read: tokens in, canonical bytes
//! out, each object's members put in key order once the object is complete. No tree is built, so
//! memory stays a small multiple of the input whatever its shape (the output, one reorder buffer,
//! and 16 bytes per member of the objects still open), where a tree of dense `{"a":0}` objects
//! costs about 90 bytes per input byte. This is how a `signed` object that is not canonical on
//! the wire is made ready for its signatures to be checked before anything reads it.
//!
//! It is exactly [`canonical::encode`] of [`json::parse`]: serde_json reads the tokens, in the
//! same order and with the same recursion limit as for a [`json::Value`], and the number and
//! duplicate-key rules are json.rs's own, checked at the same point; so the same text is refused
//! with the same message at the same position. Readers of the few fields a caller needs (the
//! envelope's, beside this module) are [`Shape`]s over the same machinery.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::io::Write;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::tuf::canonical::write_str;
use crate::tuf::json;

/// Up to this many members, an object whose keys came out of order is searched for a duplicate
/// key one by one; beyond, through a hash table of its keys.
const LINEAR: usize = 16;

/// The canonical bytes written so far and what is needed to put objects in order.
pub(super) struct Encoder {
    out: Vec<u8>,
    /// The members of every object still open, innermost last.
    spans: Vec<Span>,
    /// Where an object's members are copied to be put in order (reused: its size is that of the
    /// largest object that came out of order).
    scratch: Vec<u8>,
    /// Keyed per encoder, so that no input can be made of keys that collide.
    hasher: RandomState,
    /// Values are only checked, not written (but for the keys of open objects, which duplicates
    /// are found by): see [`Encoder::skip`].
    discard: bool,
}

/// A member as written in the output: `"key":value` from `start` to `end`.
#[derive(Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

impl Encoder {
    /// An encoder with room for `hint` bytes of output.
    pub(super) fn new(hint: usize) -> Encoder {
        Encoder {
            out: Vec::with_capacity(hint),
            spans: Vec::new(),
            scratch: Vec::new(),
            hasher: RandomState::new(),
            discard: false,
        }
    }

    /// Read a value with `read` only to check it (and what a shape takes from it): nothing of
    /// it is kept in the output, and it costs no more than the keys of its open objects.
    pub(super) fn skip<T>(&mut self, read: impl FnOnce(&mut Encoder) -> T) -> T {
        let (mark, was) = (self.out.len(), self.discard);
        self.discard = true;
        let out = read(self);
        self.discard = was;
        self.out.truncate(mark);
        out
    }

    /// Write `b`, unless values are discarded.
    fn put(&mut self, b: &[u8]) {
        if !self.discard {
            self.out.extend_from_slice(b);
        }
    }

    /// The output so far.
    pub(super) fn len(&self) -> usize {
        self.out.len()
    }

    /// The output bytes `range` alone, the rest dropped.
    pub(super) fn into_range(mut self, range: std::ops::Range<usize>) -> Vec<u8> {
        let n = range.len();
        self.out.copy_within(range, 0);
        self.out.truncate(n);
        self.out
    }

    fn int(&mut self, n: i64) -> &'static str {
        if !self.discard {
            // Into the vector's own bytes: no allocation per number.
            let _ = write!(self.out, "{n}");
        }
        "integer"
    }

    fn array<'de, A: SeqAccess<'de>>(&mut self, mut seq: A) -> Result<(), A::Error> {
        self.put(b"[");
        let mut first = true;
        loop {
            let mark = self.out.len();
            if !first {
                self.put(b",");
            }
            if seq.next_element_seed(Read::new(self, Plain))?.is_none() {
                self.out.truncate(mark);
                break;
            }
            first = false;
        }
        self.put(b"]");
        Ok(())
    }

    /// An object, its keys written and checked for duplicates here, each value read by
    /// `member` (told which of `names` the key is, if any), which must consume exactly one value.
    /// With `sort`, the members are then put in canonical order.
    pub(super) fn object<'de, A: MapAccess<'de>>(
        &mut self,
        mut map: A,
        names: &[&str],
        sort: bool,
        mut member: impl FnMut(&mut Encoder, &mut A, Option<usize>) -> Result<(), A::Error>,
    ) -> Result<(), A::Error> {
        self.put(b"{");
        let region = self.out.len();
        let base = self.spans.len();
        let mut order = Order {
            ascending: true,
            table: None,
        };
        loop {
            let first = self.spans.len() == base;
            let Some((which, start)) = map.next_key_seed(KeySeed {
                enc: self,
                names,
                first,
            })?
            else {
                break;
            };
            if let Some(dup) = self.check_key(base, start, &mut order) {
                return Err(json::duplicate_key(&dup));
            }
            self.put(b":");
            let at = self.spans.len();
            self.spans.push(Span { start, end: 0 });
            member(self, &mut map, which)?;
            self.spans[at].end = self.out.len();
        }
        if self.discard {
            // Its keys were kept only to find duplicates among them.
            self.out.truncate(region);
        } else {
            if sort && !order.ascending {
                self.reorder(region, base);
            }
            self.out.push(b'}');
        }
        self.spans.truncate(base);
        Ok(())
    }

    /// Whether the key just written at `start` repeats one of the object's earlier keys (those
    /// from `base` on): it is returned, unescaped, if so.
    fn check_key(&mut self, base: usize, start: usize, order: &mut Order) -> Option<String> {
        let out = &self.out;
        let members = &self.spans[base..];
        let new = key_at(out, start);
        let last = members.last()?;
        if order.ascending {
            // Keys in ascending order so far (as Go writes them): only the last can be equal.
            match raw_cmp(key_at(out, last.start), new) {
                std::cmp::Ordering::Less => return None,
                std::cmp::Ordering::Equal => return Some(unescape(new)),
                std::cmp::Ordering::Greater => order.ascending = false,
            }
        }
        let dup = if members.len() < LINEAR {
            members.iter().any(|m| key_at(out, m.start) == new)
        } else {
            let table = order
                .table
                .get_or_insert_with(|| KeyTable::new(&self.hasher, out, members));
            table.insert(&self.hasher, out, members, start)
        };
        dup.then(|| unescape(new))
    }

    /// Put the members of the object whose members start at `region` (and at `base` in
    /// `spans`) in canonical order.
    fn reorder(&mut self, region: usize, base: usize) {
        let Encoder {
            out,
            spans,
            scratch,
            ..
        } = self;
        let members = &mut spans[base..];
        // Keys are distinct (checked as they came): an unstable sort is exact.
        members.sort_unstable_by(|a, b| raw_cmp(key_at(out, a.start), key_at(out, b.start)));
        scratch.clear();
        scratch.extend_from_slice(&out[region..]);
        out.truncate(region);
        for (i, m) in members.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&scratch[m.start - region..m.end - region]);
        }
    }
}

/// What is known of an open object's keys.
struct Order {
    /// Every key so far came after the one before it.
    ascending: bool,
    /// Its keys, once it has more than [`LINEAR`] and they came out of order.
    table: Option<KeyTable>,
}

/// Open addressing over an object's members (1 + their index; 0 is free), by a hash of the key
/// as written (the canonical escaping is one-to-one, so equal bytes are equal keys).
struct KeyTable {
    slots: Vec<u32>,
    used: usize,
}

impl KeyTable {
    fn new(hasher: &RandomState, out: &[u8], members: &[Span]) -> KeyTable {
        let mut t = KeyTable {
            slots: vec![0; (members.len() * 2 + 2).next_power_of_two()],
            used: 0,
        };
        for (i, m) in members.iter().enumerate() {
            t.place(hasher, key_at(out, m.start), i);
        }
        t
    }

    fn place(&mut self, hasher: &RandomState, key: &[u8], index: usize) {
        let mask = self.slots.len() - 1;
        let mut at = hasher.hash_one(key) as usize & mask;
        while self.slots[at] != 0 {
            at = (at + 1) & mask;
        }
        // An object of 2^32 members would take a file of over 20 GB.
        self.slots[at] = u32::try_from(index + 1).unwrap_or(u32::MAX);
        self.used += 1;
    }

    /// Add the key written at `start` (the member after `members`); whether it was there.
    fn insert(&mut self, hasher: &RandomState, out: &[u8], members: &[Span], start: usize) -> bool {
        let key = key_at(out, start);
        let mask = self.slots.len() - 1;
        let mut at = hasher.hash_one(key) as usize & mask;
        while let Some(i) = self.slots[at].checked_sub(1) {
            if key_at(out, members[i as usize].start) == key {
                return true;
            }
            at = (at + 1) & mask;
        }
        if (self.used + 1) * 2 > self.slots.len() {
            *self = KeyTable::new(hasher, out, members);
        }
        self.place(hasher, key, members.len());
        false
    }
}

/// The content (between the quotes, as escaped) of the canonical key string written at `start`.
fn key_at(out: &[u8], start: usize) -> &[u8] {
    let s = &out[start + 1..];
    let mut i = 0;
    // Only `\"` and `\\` are escaped: a quote not after a backslash ends it.
    while let Some(j) = memchr::memchr2(b'"', b'\\', &s[i..]) {
        if s[i + j] == b'"' {
            return &s[..i + j];
        }
        i += j + 2;
    }
    s
}

/// Canonical string contents in raw (unescaped) byte order, the canonical key order.
fn raw_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    if memchr::memchr(b'\\', a).is_none() && memchr::memchr(b'\\', b).is_none() {
        return a.cmp(b);
    }
    raw(a).cmp(raw(b))
}

/// The raw bytes of canonical string content.
fn raw(s: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut it = s.iter();
    std::iter::from_fn(move || {
        let c = *it.next()?;
        Some(if c == b'\\' { *it.next()? } else { c })
    })
}

fn unescape(s: &[u8]) -> String {
    String::from_utf8_lossy(&raw(s).collect::<Vec<u8>>()).into_owned()
}

/// Reads a key: writes it (after a comma unless `first`) and returns which of `names` it is and
/// where it starts.
struct KeySeed<'e, 'n> {
    enc: &'e mut Encoder,
    names: &'n [&'n str],
    first: bool,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_> {
    type Value = (Option<usize>, usize);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        // As `String` reads a key: serde_json's key reader takes strings only.
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, '_> {
    type Value = (Option<usize>, usize);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let out = &mut self.enc.out;
        if !self.first {
            out.push(b',');
        }
        let start = out.len();
        write_str(v, out);
        Ok((self.names.iter().position(|n| *n == v), start))
    }
}

/// How a reader takes a value: each kind is written in canonical form unless the shape reads it
/// itself (its map, array or string); [`Shape::other`] then says what the reader makes of a
/// value of that kind.
pub(super) trait Shape<'de>: Sized {
    type Out;

    /// The result for a value of `kind` (its canonical form written).
    fn other(kind: &'static str) -> Self::Out;

    fn map<A: MapAccess<'de>>(self, enc: &mut Encoder, map: A) -> Result<Self::Out, A::Error> {
        enc.object(map, &[], true, |enc, map, _| {
            map.next_value_seed(Read::new(enc, Plain)).map(drop)
        })?;
        Ok(Self::other("object"))
    }

    fn seq<A: SeqAccess<'de>>(self, enc: &mut Encoder, seq: A) -> Result<Self::Out, A::Error> {
        enc.array(seq)?;
        Ok(Self::other("array"))
    }

    fn str<E: de::Error>(self, enc: &mut Encoder, v: &str) -> Result<Self::Out, E> {
        if !enc.discard {
            write_str(v, &mut enc.out);
        }
        Ok(Self::other("string"))
    }
}

/// Any value, in canonical form; its kind is returned.
pub(super) struct Plain;

impl Shape<'_> for Plain {
    type Out = &'static str;
    fn other(kind: &'static str) -> &'static str {
        kind
    }
}

/// A value read with `shape` into an encoder: a serde seed and visitor.
pub(super) struct Read<'e, S> {
    enc: &'e mut Encoder,
    shape: S,
}

impl<'e, S> Read<'e, S> {
    pub(super) fn new(enc: &'e mut Encoder, shape: S) -> Read<'e, S> {
        Read { enc, shape }
    }
}

impl<'de, S: Shape<'de>> DeserializeSeed<'de> for Read<'_, S> {
    type Value = S::Out;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Out, D::Error> {
        // As `Value` reads a value.
        d.deserialize_any(self)
    }
}

impl<'de, S: Shape<'de>> Visitor<'de> for Read<'_, S> {
    type Value = S::Out;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<S::Out, E> {
        self.enc.put(if v { b"true" } else { b"false" });
        Ok(S::other("boolean"))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<S::Out, E> {
        let n = json::int_from_i64(v)?;
        Ok(S::other(self.enc.int(n)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<S::Out, E> {
        let n = json::int_from_u64(v)?;
        Ok(S::other(self.enc.int(n)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<S::Out, E> {
        let n = json::int_from_f64(v)?;
        Ok(S::other(self.enc.int(n)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<S::Out, E> {
        self.shape.str(self.enc, v)
    }

    fn visit_unit<E: de::Error>(self) -> Result<S::Out, E> {
        self.enc.put(b"null");
        Ok(S::other("null"))
    }

    fn visit_none<E: de::Error>(self) -> Result<S::Out, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<S::Out, A::Error> {
        self.shape.seq(self.enc, seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<S::Out, A::Error> {
        self.shape.map(self.enc, map)
    }
}

/// The canonical form of a whole JSON text, or why [`json::parse`] refuses it.
#[cfg(test)]
pub(super) fn encode(bytes: &[u8]) -> Result<Vec<u8>, json::JsonError> {
    let mut enc = Encoder::new(bytes.len());
    json::parse_seed(bytes, Read::new(&mut enc, Plain))?;
    let n = enc.len();
    Ok(enc.into_range(0..n))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::tuf::canonical::{self, test_rng::Rng};

    /// The tree path: what [`encode`] must agree with, bytes or error message.
    fn reference(bytes: &[u8]) -> Result<Vec<u8>, String> {
        json::parse(bytes)
            .map(|v| canonical::encode(&v))
            .map_err(|e| e.to_string())
    }

    fn agree(bytes: &[u8]) -> bool {
        let got = encode(bytes).map_err(|e| e.to_string());
        let want = reference(bytes);
        assert_eq!(
            got,
            want,
            "{}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(400)])
        );
        want.is_ok()
    }

    #[test]
    fn writes_what_the_tree_path_writes() {
        for ok in [
            &br#"{ "b" : 1, "a" : [ true, null ] }"#[..],
            br#"{"q#uote":1,"q\"uote":2}"#,
            br#"{"v1!":1,"v1 x":2}"#,
            br#""\u003c\u003e\u0026\u2028""#,
            br#""tab\there\nnl\/""#,
            b"[1.0, -5, 1e2, 0, -0, 9007199254740992]",
            br#"{"z":{"b":{"d":1,"c":2},"a":[]},"y":"\u00e9","\u0041":0}"#,
            br#"{"a\\":1,"a":2,"a\"":3}"#,
            b"{}",
            b" [ ] ",
        ] {
            assert!(agree(ok), "{}", String::from_utf8_lossy(ok));
        }
    }

    #[test]
    fn refuses_what_the_tree_path_refuses_with_its_message() {
        for bad in [
            &br#"{"a":{"b":1,"b":2}}"#[..],
            br#"{"a":1,"a":1}"#,
            br#"{"b":1,"a":1,"b":3}"#,
            br#"{"\u0061":1,"a":1}"#,
            b"1.5",
            b"1e400",
            b"9007199254740993",
            b"-9007199254740993",
            br#"{"a":1} x"#,
            b"",
            b"\xff",
            br#""\ud800""#,
            b"[1,]",
            br#"{"a":1,}"#,
            br#"{1:2}"#,
            b"\"\n\"",
        ] {
            assert!(!agree(bad), "{}", String::from_utf8_lossy(bad));
        }
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(!agree(deep.as_bytes()));
        let at_limit = "[".repeat(127) + &"]".repeat(127);
        assert!(agree(at_limit.as_bytes()));
        let over = "[".repeat(128) + &"]".repeat(128);
        assert!(!agree(over.as_bytes()));
    }

    #[test]
    fn wide_objects_out_of_order_use_the_table_and_still_find_duplicates() {
        // Keys in descending order: every one is checked against all before it.
        let keys: Vec<String> = (0..500).rev().map(|i| format!("\"k{i}\":{i}")).collect();
        let doc = format!("{{{}}}", keys.join(","));
        assert!(agree(doc.as_bytes()));
        for dup in ["k0", "k250", "k499"] {
            let doc = format!("{{{},\"{dup}\":1}}", keys.join(","));
            assert!(!agree(doc.as_bytes()), "{dup}");
            // And a duplicate met before the object ends, with an error after it: the
            // duplicate wins, as in the tree path.
            let doc = format!("{{{},\"{dup}\":1,\"x\":1.5}}", keys.join(","));
            assert!(!agree(doc.as_bytes()), "{dup}");
        }
    }

    /// Random JSON text of the kinds a server might write: whitespace, keys in any order,
    /// escapes canonical form drops, numbers in other notations, the odd duplicate.
    pub(in crate::tuf::metadata) fn random_text(r: &mut Rng, depth: u32, out: &mut String) {
        const STRINGS: [&str; 14] = [
            "a",
            "b",
            "\\\"",
            "\\\\",
            "é",
            "\\u00e9",
            "\\u003c",
            "\\u2028",
            "\\/",
            "\\n",
            " ",
            "#",
            "z",
            "\\ud83d\\ude00",
        ];
        const NUMBERS: [&str; 10] = ["0", "-0", "1", "-5", "1.0", "1e2", "2E+1", "-1e0", "7", "9"];
        let ws = |r: &mut Rng, out: &mut String| {
            if r.below(4) == 0 {
                out.push_str(r.pick(&[" ", "\n", "\t", "  "]));
            }
        };
        let string = |r: &mut Rng, out: &mut String| {
            out.push('"');
            for _ in 0..r.below(4) {
                out.push_str(r.pick(&STRINGS));
            }
            out.push('"');
        };
        ws(r, out);
        match r.below(if depth > 3 { 5 } else { 7 }) {
            0 => out.push_str("null"),
            1 => out.push_str(r.pick(&["true", "false"])),
            2 | 3 => out.push_str(r.pick(&NUMBERS)),
            4 => string(r, out),
            5 => {
                out.push('[');
                for i in 0..r.below(4) {
                    if i > 0 {
                        out.push(',');
                    }
                    random_text(r, depth + 1, out);
                }
                out.push(']');
            }
            _ => {
                out.push('{');
                for i in 0..r.below(6) {
                    if i > 0 {
                        out.push(',');
                    }
                    ws(r, out);
                    string(r, out);
                    ws(r, out);
                    out.push(':');
                    random_text(r, depth + 1, out);
                }
                out.push('}');
            }
        }
        ws(r, out);
    }

    #[test]
    fn agrees_with_the_tree_path_on_random_and_mutated_text() {
        const MUTANTS: &[u8] = b" \"\\{}[],:0129-.eE\n\xc3\xa9\xffntu";
        let (mut ok, mut err) = (0, 0);
        let doc = |r: &mut Rng| {
            let mut doc = String::new();
            random_text(r, 0, &mut doc);
            doc.into_bytes()
        };
        Rng(0x6a09_e667_f3bc_c908).mutation_rounds(4000, 6, MUTANTS, true, doc, |d, _| {
            if agree(d) {
                ok += 1;
            } else {
                err += 1;
            }
        });
        assert!(ok > 5000 && err > 5000, "{ok} encoded, {err} refused");
    }
}
