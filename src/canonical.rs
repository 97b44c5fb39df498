//! The canonical JSON form Notary signs (Go's docker/go/canonical/json): object keys sorted by
//! raw UTF-8 bytes, no whitespace, strings escaping only `"` and `\` (everything else raw, no
//! Unicode normalisation), integers only. Signatures cover this form, not the bytes on the wire,
//! which the server writes with `<`, `>`, `&` and U+2028 escaped.

use std::collections::BTreeMap;

use crate::json::Value;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

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
}
