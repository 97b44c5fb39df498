//! The canonical JSON form Notary signs (Go's docker/go/canonical/json): object keys sorted by
//! raw UTF-8 bytes, no whitespace, strings escaping only `"` and `\` (everything else raw, no
//! Unicode normalisation), integers only. Signatures cover this form, not the bytes on the wire,
//! which the server writes with `<`, `>`, `&` and U+2028 escaped.

use std::collections::BTreeMap;

use crate::tuf::json::Value;

/// Encode a value in canonical form.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write(value, &mut out);
    out
}

/// Encode an object's fields in canonical form.
pub fn encode_object(map: &BTreeMap<String, Value>) -> Vec<u8> {
    encode_object_sized(map, 256)
}

/// As [`encode_object`], with room for `hint` bytes reserved up front (the wire size is a good
/// guess: the canonical form is rarely larger).
pub fn encode_object_sized(map: &BTreeMap<String, Value>, hint: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(hint);
    write_object(map, &mut out);
    out
}

fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::Str(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(map, out),
    }
}

/// BTreeMap<String, _> iterates in byte order of the keys: exactly the canonical order.
fn write_object(map: &BTreeMap<String, Value>, out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, (key, item)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(key, out);
        out.push(b':');
        write(item, out);
    }
    out.push(b'}');
}

/// Write a canonical string: only `"` and `\` are escaped.
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    // Copy runs between the two bytes that need a backslash, not byte by byte.
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'"' || b == b'\\' {
            out.extend_from_slice(&bytes[start..i]);
            out.push(b'\\');
            start = i;
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Deeper than this the scanner gives up (the caller then takes the parse-and-encode path);
/// it stays below serde_json's recursion limit of 128 so whatever it accepts also parses.
const MAX_SCAN_DEPTH: usize = 100;

/// The length of the JSON value at the start of `bytes` if those bytes are already exactly
/// what [`encode`] would write for it (no whitespace, keys strictly ascending by raw bytes,
/// only `\"` and `\\` escaped, integers within ±2^53 written plainly, valid UTF-8); `None` if
/// anything differs. Notary servers return the bytes the client signed, so this usually holds
/// for `signed` and the signatures can be checked over the wire bytes without a parse tree.
pub fn canonical_len(bytes: &[u8]) -> Option<usize> {
    // All of it valid UTF-8 (JSON must be anyway) means every string in it is: a string ends
    // at an ASCII `"`, never inside a multi-byte character. One pass here, none per string.
    let mut s = Scanner::new(std::str::from_utf8(bytes).ok()?);
    s.value(0)?;
    Some(s.i)
}

/// A cursor over canonical JSON that checks what it reads. [`canonical_len`] checks a whole
/// value with it; the fast targets path reads a targets file's `signed` with its readers in the
/// same single pass, so what it accepts is canonical by the same rules.
#[derive(Clone, Copy)]
pub(crate) struct Scanner<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(text: &'a str) -> Scanner<'a> {
        Scanner {
            text,
            b: text.as_bytes(),
            i: 0,
        }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.i
    }

    /// Bytes not consumed yet.
    pub(crate) fn remaining(&self) -> usize {
        self.b.len() - self.i
    }

    /// Consume `word` if the bytes here are exactly it.
    pub(crate) fn eat_literal(&mut self, word: &[u8]) -> bool {
        self.literal(word).is_some()
    }

    /// One canonical value, skipped; returns its bytes. Its depth is counted from 2, as for a
    /// member of the object [`canonical_len`] scans.
    pub(crate) fn skip_value(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        self.value(2)?;
        Some(&self.b[start..self.i])
    }

    /// A canonical integer; returns it.
    pub(crate) fn read_integer(&mut self) -> Option<i64> {
        let start = self.i;
        self.integer()?;
        self.text.get(start..self.i)?.parse().ok()
    }

    /// The content of a string whose bytes only `accept` may judge (it must refuse `"`, `\` and
    /// control characters, as base64 does), up to its closing quote; the quotes are consumed.
    pub(crate) fn read_plain_string<T>(
        &mut self,
        accept: impl FnOnce(&'a [u8]) -> Option<T>,
    ) -> Option<T> {
        if self.b.get(self.i) != Some(&b'"') {
            return None;
        }
        let start = self.i + 1;
        let end = start + memchr::memchr(b'"', self.b.get(start..)?)?;
        let value = accept(&self.b[start..end])?;
        self.i = end + 1;
        Some(value)
    }

    /// A canonical object whose members `member` reads: it gets each key (unescaped; borrowed
    /// unless it had escapes) with the cursor on the value, and must consume exactly one
    /// canonical value with these readers. Keys are checked to ascend strictly.
    pub(crate) fn object_with(
        &mut self,
        mut member: impl FnMut(&mut Self, std::borrow::Cow<'a, str>) -> Option<()>,
    ) -> Option<()> {
        if self.next()? != b'{' {
            return None;
        }
        if self.b.get(self.i)? == &b'}' {
            self.i += 1;
            return Some(());
        }
        let mut prev: Option<(&[u8], bool)> = None;
        loop {
            if self.b.get(self.i)? != &b'"' {
                return None;
            }
            let key = self.string()?;
            if prev.is_some_and(|p| !unescaped_less(p, key)) {
                return None;
            }
            prev = Some(key);
            let (content, escaped) = key;
            let name = if escaped {
                std::borrow::Cow::Owned(String::from_utf8(unescape(content)).ok()?)
            } else {
                // Both ends are ASCII quotes: a character boundary check, not a scan.
                let end = self.i - 1;
                std::borrow::Cow::Borrowed(self.text.get(end - content.len()..end)?)
            };
            if self.next()? != b':' {
                return None;
            }
            member(self, name)?;
            match self.next()? {
                b',' => {}
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    fn next(&mut self) -> Option<u8> {
        let c = *self.b.get(self.i)?;
        self.i += 1;
        Some(c)
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        match *self.b.get(self.i)? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.integer(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// `0` or `-?[1-9][0-9]*` of at most 16 digits and magnitude at most 2^53: what an `i64`
    /// prints as. (`-0`, leading zeros, fractions and exponents are not canonical.)
    fn integer(&mut self) -> Option<()> {
        if self.b[self.i] == b'-' {
            self.i += 1;
            if !matches!(self.b.get(self.i)?, b'1'..=b'9') {
                return None;
            }
        }
        let start = self.i;
        if self.b[self.i] == b'0' {
            self.i += 1;
            return (!self.b.get(self.i).is_some_and(u8::is_ascii_digit)).then_some(());
        }
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        let digits = &self.b[start..self.i];
        if digits.len() > 16 {
            return None;
        }
        let n = digits
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        (n <= crate::tuf::json::MAX_SAFE_INT as u64).then_some(())
    }

    /// A string at `self.i` (a `"`); returns its escaped content between the quotes and
    /// whether it has escapes.
    fn string(&mut self) -> Option<(&'a [u8], bool)> {
        let start = self.i + 1;
        let mut j = start;
        let mut escaped = false;
        loop {
            j = special_from(self.b, j);
            match *self.b.get(j)? {
                b'"' => break,
                b'\\' => {}
                _ => return None, // a raw control character: not JSON
            }
            match self.b.get(j + 1)? {
                b'"' | b'\\' => {
                    j += 2;
                    escaped = true;
                }
                _ => return None,
            }
        }
        let content = &self.b[start..j];
        self.i = j + 1;
        Some((content, escaped))
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_SCAN_DEPTH {
            return None;
        }
        self.i += 1;
        if self.b.get(self.i)? == &b']' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.value(depth)?;
            match self.next()? {
                b',' => {}
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_SCAN_DEPTH {
            return None;
        }
        self.object_with(|s, _| s.value(depth))
    }
}

/// The index of the first byte at or after `from` that is `"`, `\` or a control character
/// (`b.len()` if none): eight bytes per step (SWAR), since most of a targets file is strings.
fn special_from(b: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // High bit set in each byte of `v` that is zero (exact for the first such byte, which is
    // all that is used: a borrow only runs upwards).
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut i = from;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        // A byte below 0x20 borrows into its high bit when 0x20 is taken from it (and `!w`
        // leaves out bytes whose own high bit is set).
        let hits = zero(w ^ (ONES * u64::from(b'"')))
            | zero(w ^ (ONES * u64::from(b'\\')))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGH);
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while b
        .get(i)
        .is_some_and(|c| !matches!(c, b'"' | b'\\' | 0..=0x1f))
    {
        i += 1;
    }
    i
}

/// Whether canonical string content `a` sorts strictly before `b` by raw (unescaped) bytes,
/// the canonical key order. Each comes with whether it has escapes.
fn unescaped_less((a, a_esc): (&[u8], bool), (b, b_esc): (&[u8], bool)) -> bool {
    if !a_esc && !b_esc {
        return a < b;
    }
    unescape(a) < unescape(b)
}

/// Canonical string content without its escapes (`\"` and `\\` are the only ones).
fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut it = s.iter();
    while let Some(&c) = it.next() {
        out.push(if c == b'\\' {
            *it.next().unwrap_or(&c)
        } else {
            c
        });
    }
    out
}

/// A small deterministic generator (xorshift), so the property tests over canonical JSON (here
/// and in `metadata`) need no crate.
#[cfg(test)]
pub(crate) mod test_rng {
    pub(crate) struct Rng(pub(crate) u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// A number in `0..n`.
        pub(crate) fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        /// One of `xs`.
        pub(crate) fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
            xs[self.below(xs.len() as u64) as usize]
        }

        /// `doc` with one byte of `mutants` changed into, removed from or inserted into it at a
        /// random place (`at_end`: the place may also be just past the end, for an insertion).
        pub(crate) fn mutate(&mut self, doc: &[u8], mutants: &[u8], at_end: bool) -> Vec<u8> {
            let mut m = doc.to_vec();
            let at = self.below(m.len() as u64 + u64::from(at_end)) as usize;
            let byte = mutants[self.below(mutants.len() as u64) as usize];
            match self.below(3) {
                0 if at < m.len() => m[at] = byte,
                1 if at < m.len() => {
                    m.remove(at);
                }
                _ => m.insert(at, byte),
            }
            m
        }

        /// The property tests' loop: `rounds` times, a document from `doc`, then `mutations`
        /// mutations of it ([`Rng::mutate`]); `check` is given the document (`true`: the
        /// unmutated one) and each mutation, in that order.
        pub(crate) fn mutation_rounds(
            &mut self,
            rounds: usize,
            mutations: usize,
            mutants: &[u8],
            at_end: bool,
            mut doc: impl FnMut(&mut Rng) -> Vec<u8>,
            mut check: impl FnMut(&[u8], bool),
        ) {
            for _ in 0..rounds {
                let doc = doc(self);
                let mutated: Vec<Vec<u8>> = (0..mutations)
                    .map(|_| self.mutate(&doc, mutants, at_end))
                    .collect();
                check(&doc, true);
                for m in &mutated {
                    check(m, false);
                }
            }
        }
    }

    /// Every `.json` file under testdata/ and ../shared/trust-data/, read.
    pub(crate) fn real_json_files() -> Vec<Vec<u8>> {
        fn walk(dir: &std::path::Path, out: &mut Vec<Vec<u8>>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "json") {
                    out.push(std::fs::read(&p).unwrap());
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        walk(&root.join("testdata"), &mut files);
        walk(&root.join("../shared/trust-data"), &mut files);
        files
    }
}

#[cfg(test)]
mod tests {
    use super::test_rng::Rng;
    use super::*;
    use crate::tuf::json::parse;

    fn canon(input: &str) -> String {
        String::from_utf8(encode(&parse(input.as_bytes()).unwrap())).unwrap()
    }

    #[test]
    fn keys_sort_by_raw_bytes_and_whitespace_goes() {
        assert_eq!(
            canon(r#"{ "b" : 1, "a" : [ true, null ] }"#),
            r#"{"a":[true,null],"b":1}"#
        );
        // Upper case sorts before lower case; é (0xC3..) after ASCII.
        assert_eq!(canon(r#"{"é":1,"z":2,"Z":3}"#), r#"{"Z":3,"z":2,"é":1}"#);
    }

    #[test]
    fn sorting_is_by_raw_not_escaped_bytes() {
        // olpc-cjson sorts by the escaped form, putting `q"uote` (q\") after `q#uote`; Go sorts
        // by raw bytes: `"` (0x22) before `#` (0x23). Likewise space (0x20) before `!` (0x21).
        assert_eq!(
            canon(r#"{"q#uote":1,"q\"uote":2}"#),
            r#"{"q\"uote":2,"q#uote":1}"#
        );
        assert_eq!(canon(r#"{"v1!":1,"v1 x":2}"#), r#"{"v1 x":2,"v1!":1}"#);
    }

    #[test]
    fn only_quote_and_backslash_are_escaped() {
        assert_eq!(canon(r#""\u003c\u003e\u0026\u2028""#), "\"<>&\u{2028}\"");
        assert_eq!(canon(r#""a\"b\\c""#), r#""a\"b\\c""#);
        assert_eq!(canon(r#""tab\there\nnl""#), "\"tab\there\nnl\"");
    }

    #[test]
    fn no_unicode_normalisation() {
        // Decomposed café (e + U+0301) stays decomposed.
        let decomposed = "\"cafe\u{301}\"";
        assert_eq!(canon(decomposed), decomposed);
        assert_ne!(canon(decomposed), "\"caf\u{e9}\"");
    }

    #[test]
    fn numbers_are_plain_integers() {
        assert_eq!(canon("[1.0, -5, 1e2, 0]"), "[1,-5,100,0]");
    }

    #[test]
    fn encoding_is_stable_under_reparse() {
        let input = r#"{"signed":{"x":["<",{"b":"\u2028","a":-1}],"é":"q\"\\"}}"#;
        let once = canon(input);
        assert_eq!(canon(&once), once);
    }

    fn scans_whole(input: &[u8]) -> bool {
        canonical_len(input) == Some(input.len())
    }

    #[test]
    fn scanner_accepts_canonical_forms() {
        for ok in [
            &br#"{"a":[true,null],"b":1}"#[..],
            "{\"Z\":3,\"z\":2,\"\u{e9}\":1}".as_bytes(),
            br#"{"q\"uote":2,"q#uote":1}"#,
            br#"{"v1 x":2,"v1!":1}"#,
            "\"<>&\u{2028}\u{7f}\"".as_bytes(),
            b"[-5,0,9007199254740992,-9007199254740992]",
            b"{}",
            b"[]",
            br#""a\"b\\c""#,
        ] {
            assert!(scans_whole(ok), "{}", String::from_utf8_lossy(ok));
            assert_eq!(
                encode(&parse(ok).unwrap()),
                ok,
                "the test case itself is canonical"
            );
        }
        // Only the first value is measured: the caller checks what follows.
        assert_eq!(canonical_len(br#"{"a":1},"signatures":[]"#), Some(7));
    }

    #[test]
    fn scanner_refuses_everything_encode_would_change() {
        for bad in [
            &br#"{ "a":1}"#[..],
            br#"{"a": 1}"#,
            br#"{"b":1,"a":2}"#,
            br#"{"a":1,"a":1}"#,
            br#"{"q#uote":1,"q\"uote":2}"#,
            br#""\n""#,
            br#""\u003c""#,
            br#""\/""#,
            b"\"\n\"",
            b"\"\xff\"",
            b"1.0",
            b"1e3",
            b"-0",
            b"01",
            b"9007199254740993",
            b"12345678901234567",
            b"[1,]",
            br#"{"a":1,}"#,
            b"tru",
            b"",
            br#"{"a"}"#,
        ] {
            assert!(!scans_whole(bad), "{}", String::from_utf8_lossy(bad));
        }
        let deep = "[".repeat(MAX_SCAN_DEPTH + 1) + &"]".repeat(MAX_SCAN_DEPTH + 1);
        assert_eq!(canonical_len(deep.as_bytes()), None);
        let ok_deep = "[".repeat(MAX_SCAN_DEPTH) + &"]".repeat(MAX_SCAN_DEPTH);
        assert!(scans_whole(ok_deep.as_bytes()));
    }

    /// String pieces: the two escapes, non-ASCII, a combining accent (no normalisation), line
    /// separators, characters HTML-escaping encoders change, the highest code point, an emoji.
    const PIECES: &[&str] = &[
        "a",
        "Z",
        "\"",
        "\\",
        "é",
        "e\u{301}",
        "\u{2028}",
        "\u{2029}",
        "\u{7f}",
        "<",
        "&",
        " ",
        "#",
        "/",
        "\u{10ffff}",
        "😀",
    ];
    /// Control characters, which the canonical form writes raw (as Go's encoder does).
    const CONTROL: &[&str] = &["\u{0}", "\t", "\n", "\u{1f}"];

    /// A random value, nested at most six deep; with `control`, strings may hold control
    /// characters.
    fn random_value(r: &mut Rng, depth: u32, control: bool) -> Value {
        let string = |r: &mut Rng| -> String {
            (0..r.below(4))
                .map(|_| match r.below(8) {
                    0 if control => r.pick(CONTROL),
                    _ => r.pick(PIECES),
                })
                .collect()
        };
        match r.below(if depth > 5 { 4 } else { 6 }) {
            0 => Value::Null,
            1 => Value::Bool(r.below(2) == 1),
            2 => Value::Int(match r.below(4) {
                0 => 0,
                1 => -(r.below(1000) as i64),
                2 => (1i64 << 53) - r.below(3) as i64,
                _ => r.below(2_000_001) as i64 - 1_000_000,
            }),
            3 => Value::Str(string(r)),
            4 => Value::Array(
                (0..r.below(5))
                    .map(|_| random_value(r, depth + 1, control))
                    .collect(),
            ),
            _ => Value::Object(
                (0..r.below(6))
                    .map(|_| (string(r), random_value(r, depth + 1, control)))
                    .collect(),
            ),
        }
    }

    #[test]
    fn encoding_of_random_values_is_stable_and_matches_serde_json() {
        // parse(encode(v)) == v and encoding again gives the same bytes; and serde_json, an
        // independent parser and encoder (sorted maps, compact), writes the very same bytes back.
        // With control characters the bytes are raw, which JSON parsers refuse: they are only
        // ever hashed, so only that is asked of them.
        let mut r = Rng(0x5eed_0004);
        let mut with_control = 0;
        for _ in 0..3000 {
            let v = random_value(&mut r, 0, true);
            let enc = encode(&v);
            let shown = String::from_utf8_lossy(&enc).into_owned();
            let has_control = enc.iter().any(|b| *b < 0x20);
            with_control += usize::from(has_control);
            match parse(&enc) {
                Ok(again) => {
                    assert_eq!(again, v, "{shown}");
                    assert_eq!(encode(&again), enc, "{shown}");
                }
                Err(e) => assert!(has_control, "{e}: {shown}"),
            }
            if !has_control {
                let oracle: serde_json::Value = serde_json::from_slice(&enc).unwrap();
                assert_eq!(serde_json::to_vec(&oracle).unwrap(), enc, "{shown}");
            }
        }
        assert!(with_control > 100, "{with_control}");
    }

    #[test]
    fn scanner_accepts_exactly_fixed_points_of_encode_under_mutation() {
        // The property the fast path relies on: whatever the scanner accepts parses, and
        // encodes back to the very same bytes. Random canonical documents, then each mutated
        // at random (a byte changed, inserted or removed), must keep it.
        const MUTANTS: &[u8] = b" \"\\{}[],:0129-.eE\n\xc3\xa9\xffnt";
        let (mut accepted, mut refused) = (0, 0);
        let doc = |r: &mut Rng| encode(&random_value(r, 0, false));
        Rng(0x9e37_79b9_7f4a_7c15).mutation_rounds(3000, 10, MUTANTS, true, doc, |m, original| {
            if original {
                assert!(scans_whole(m), "{}", String::from_utf8_lossy(m));
            } else if scans_whole(m) {
                accepted += 1;
                let v = parse(m).unwrap_or_else(|e| {
                    panic!(
                        "accepted but unparsable {}: {e}",
                        String::from_utf8_lossy(m)
                    )
                });
                assert_eq!(encode(&v), m, "{}", String::from_utf8_lossy(m));
            } else {
                refused += 1;
                if let Ok(v) = parse(m) {
                    assert_ne!(
                        encode(&v),
                        m,
                        "canonical but refused: {}",
                        String::from_utf8_lossy(m)
                    );
                }
            }
        });
        assert!(
            accepted > 1000 && refused > 1000,
            "{accepted} accepted, {refused} refused"
        );
    }

    #[test]
    fn special_byte_search_matches_the_plain_loop() {
        let mut r = Rng(0x1234_5678_9abc_def1);
        for _ in 0..20_000 {
            let len = r.below(40) as usize;
            let b: Vec<u8> = (0..len)
                .map(|_| match r.below(6) {
                    0 => b'"',
                    1 => b'\\',
                    2 => r.below(0x20) as u8,
                    3 => 0x80 + r.below(0x80) as u8,
                    _ => 0x20 + r.below(0x60) as u8,
                })
                .collect();
            let from = r.below(len as u64 + 1) as usize;
            let plain = (from..len)
                .find(|&i| matches!(b[i], b'"' | b'\\' | 0..=0x1f))
                .unwrap_or(len);
            assert_eq!(special_from(&b, from), plain, "{b:?} from {from}");
        }
    }
}
