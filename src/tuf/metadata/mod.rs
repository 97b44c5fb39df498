//! Notary's wire format, read from a [`Value`](json::Value) into typed roles. Every field is
//! checked for type and range here, and errors name the field's path
//! (`signed.meta.snapshot.length`), so nothing downstream handles untyped server data. A file is
//! first cut into its signed envelope (`envelope`), then read as its role (`roles`, `targets`).

use crate::tuf::json;
use crate::tuf::keys::KeyError;

mod envelope;
mod fast;
mod fields;
mod file_meta;
mod roles;
mod targets;

pub use envelope::{Envelope, Signature, SignedBytes, MAX_SIGNATURES};
pub use file_meta::FileMeta;
pub use roles::{Common, RoleKeys, Root, Snapshot, Timestamp, MAX_KEYS};
pub use targets::{Delegation, TargetMap, Targets, MAX_DELEGATIONS};

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

type Result<T, E = MetadataError> = std::result::Result<T, E>;
