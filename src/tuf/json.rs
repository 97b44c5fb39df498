//! A JSON value that is safe to sign over: duplicate object keys are refused (languages disagree
//! on which copy wins), numbers are integers only (Go's canonical encoder signs no fractions), and
//! nesting is bounded by serde_json's recursion limit (128), so hostile input cannot overflow the
//! stack. Objects are kept sorted by raw UTF-8 bytes, the order the canonical form needs.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// The largest integer magnitude accepted: beyond 2^53 Go decodes numbers into float64 and loses
/// precision, so the signed form could not be reproduced.
pub const MAX_SAFE_INT: i64 = 1 << 53;

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Array(Vec<Value>),
    Object(BTreeMap<String, Value>),
}

/// Why bytes are not acceptable JSON.
#[derive(Debug, thiserror::Error)]
#[error("invalid JSON: {0}")]
pub struct JsonError(String);

/// Parse bytes into a [`Value`]; trailing data, duplicate keys, fractions and unsafe integers are
/// refused.
pub fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    serde_json::from_slice(bytes).map_err(|e| JsonError(e.to_string()))
}

/// Read bytes with `seed` as [`parse`] reads them with [`Value`]'s own deserializer (the same
/// tokens, trailing data refused, errors worded and placed alike), for readers that must not
/// build a tree.
pub(crate) fn parse_seed<'de, S: de::DeserializeSeed<'de>>(
    bytes: &'de [u8],
    seed: S,
) -> Result<S::Value, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = seed
        .deserialize(&mut de)
        .map_err(|e| JsonError(e.to_string()))?;
    de.end().map_err(|e| JsonError(e.to_string()))?;
    Ok(value)
}

/// The integer a JSON number stands for, if it is one that can be signed (see [`MAX_SAFE_INT`]
/// and [`int_from_f64`]); the rule every reader of numbers shares.
pub(crate) fn int_from_i64<E: de::Error>(v: i64) -> Result<i64, E> {
    if v.unsigned_abs() > MAX_SAFE_INT as u64 {
        return Err(E::custom(format!("integer {v} is outside ±2^53")));
    }
    Ok(v)
}

/// As [`int_from_i64`], for a number serde_json read as unsigned.
pub(crate) fn int_from_u64<E: de::Error>(v: u64) -> Result<i64, E> {
    if v > MAX_SAFE_INT as u64 {
        return Err(E::custom(format!("integer {v} is outside ±2^53")));
    }
    Ok(v as i64)
}

/// As [`int_from_i64`], for a number serde_json read as a float. Go decodes every number as
/// float64 and its canonical encoder prints whole numbers as integers: `1.0` and `1e3` sign as
/// `1` and `1000`. Anything else cannot be signed.
pub(crate) fn int_from_f64<E: de::Error>(v: f64) -> Result<i64, E> {
    if v.is_finite() && v.fract() == 0.0 && v.abs() <= MAX_SAFE_INT as f64 {
        Ok(v as i64)
    } else {
        Err(E::custom(format!(
            "number {v} is not a whole number within ±2^53"
        )))
    }
}

/// The error for a key met twice in one object, as every reader words it.
pub(crate) fn duplicate_key<E: de::Error>(key: &str) -> E {
    E::custom(format!("duplicate object key {key:?}"))
}

impl Value {
    /// A short name of the value's type, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Str(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    pub fn as_object(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object().and_then(|m| m.get(key))
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        int_from_i64(v).map(Value::Int)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        int_from_u64(v).map(Value::Int)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        int_from_f64(v).map(Value::Int)
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            // One lookup per key (entry), not two (contains_key + insert): maps of thousands of
            // targets are most of the parsing time.
            match out.entry(key) {
                std::collections::btree_map::Entry::Occupied(e) => {
                    return Err(duplicate_key(e.key()));
                }
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(map.next_value::<Value>()?);
                }
            }
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        let err = parse(br#"{"a":{"b":1,"b":2}}"#).unwrap_err();
        assert!(
            err.to_string().contains("duplicate object key \"b\""),
            "{err}"
        );
        assert!(parse(br#"{"a":1,"a":1}"#).is_err());
    }

    #[test]
    fn whole_floats_become_integers_and_fractions_are_refused() {
        assert_eq!(parse(b"1.0").unwrap(), Value::Int(1));
        assert_eq!(parse(b"1e3").unwrap(), Value::Int(1000));
        assert_eq!(parse(b"-0").unwrap(), Value::Int(0));
        for bad in ["1.5", "1e-3", "1e20"] {
            let err = parse(bad.as_bytes()).unwrap_err();
            assert!(
                err.to_string().contains("not a whole number"),
                "{bad}: {err}"
            );
        }
        // Beyond f64 serde_json refuses by itself.
        assert!(parse(b"1e400")
            .unwrap_err()
            .to_string()
            .contains("out of range"));
    }

    #[test]
    fn integers_beyond_2_pow_53_are_refused() {
        assert_eq!(parse(b"9007199254740992").unwrap(), Value::Int(1 << 53));
        for bad in [
            "9007199254740993",
            "9223372036854775808",
            "-9007199254740993",
        ] {
            let err = parse(bad.as_bytes()).unwrap_err();
            assert!(err.to_string().contains("2^53"), "{bad}: {err}");
        }
        assert_eq!(parse(b"2147483647").unwrap(), Value::Int(2147483647));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        let err = parse(deep.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("recursion limit"), "{err}");
        let deep_obj = r#"{"a":"#.repeat(10_000) + "1" + &"}".repeat(10_000);
        assert!(parse(deep_obj.as_bytes()).is_err());
    }

    #[test]
    fn trailing_data_and_garbage_are_refused() {
        assert!(parse(br#"{"a":1} x"#).is_err());
        assert!(parse(b"").is_err());
        assert!(parse(b"\xff").is_err());
        assert!(parse(br#""\ud800""#).is_err(), "lone surrogate");
    }

    #[test]
    fn escapes_are_decoded() {
        assert_eq!(
            parse(br#""\u003c\u2028\"\\""#).unwrap(),
            Value::Str("<\u{2028}\"\\".into())
        );
    }
}
