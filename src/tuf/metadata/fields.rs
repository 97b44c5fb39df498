//! Typed reads of a JSON tree, each naming the path of what was wrong
//! (`signed.meta.snapshot.length`), so that every error about server data says which field it was.

use std::collections::BTreeMap;

use super::{MetadataError, Result};
use crate::tuf::json::Value;

pub(super) fn missing(path: &str) -> MetadataError {
    MetadataError::Missing {
        path: path.to_owned(),
    }
}

pub(super) fn invalid(path: &str, reason: String) -> MetadataError {
    MetadataError::Invalid {
        path: path.to_owned(),
        reason,
    }
}

pub(super) fn type_err(path: &str, expected: &'static str, got: &Value) -> MetadataError {
    type_kind(path, expected, got.kind())
}

/// As [`type_err`], for a value known only by its kind ([`Value::kind`]'s names).
pub(super) fn type_kind(path: &str, expected: &'static str, got: &str) -> MetadataError {
    MetadataError::Type {
        path: path.to_owned(),
        expected,
        got: got.to_owned(),
    }
}

pub(super) fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

pub(super) fn field<'a>(
    o: &'a BTreeMap<String, Value>,
    parent: &str,
    name: &str,
) -> Result<&'a Value> {
    o.get(name).ok_or_else(|| missing(&join(parent, name)))
}

pub(super) fn obj<'a>(v: &'a Value, path: &str) -> Result<&'a BTreeMap<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(type_err(
            if path.is_empty() { "(top level)" } else { path },
            "object",
            other,
        )),
    }
}

pub(super) fn arr<'a>(v: &'a Value, path: &str) -> Result<&'a [Value]> {
    match v {
        Value::Array(a) => Ok(a),
        other => Err(type_err(path, "array", other)),
    }
}

pub(super) fn string<'a>(v: &'a Value, path: &str) -> Result<&'a str> {
    match v {
        Value::Str(s) => Ok(s),
        other => Err(type_err(path, "string", other)),
    }
}

pub(super) fn int(v: &Value, path: &str) -> Result<i64> {
    match v {
        Value::Int(n) => Ok(*n),
        other => Err(type_err(path, "integer", other)),
    }
}

/// The objects of the array `items` at `path`, each read by `read` with its own path
/// (`path[i]`). More than `max` of them (`what` names them) are refused before any is read.
pub(super) fn objects<T>(
    items: &[Value],
    path: &str,
    max: usize,
    what: &str,
    mut read: impl FnMut(&BTreeMap<String, Value>, &str) -> Result<T>,
) -> Result<Vec<T>> {
    if items.len() > max {
        return Err(invalid(
            path,
            format!("{} {what}, at most {max} accepted", items.len()),
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        out.push(read(obj(item, &item_path)?, &item_path)?);
    }
    Ok(out)
}

/// The strings of the array `items` at `path`.
pub(super) fn strings(items: &[Value], path: &str) -> Result<Vec<String>> {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| string(v, &format!("{path}[{i}]")).map(str::to_owned))
        .collect()
}
