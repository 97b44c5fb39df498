//! Notary's wire format, read from a [`Value`](json::Value) into typed roles. Every field is
//! checked for type and range here, and errors name the field's path
//! (`signed.meta.snapshot.length`), so nothing downstream handles untyped server data. A file is
//! read in two phases: first cut into what its signatures cover and its signatures
//! ([`Signed::split`], no tree of anything in it: `signed`, `stream`), and only once the caller
//! has checked those signatures read as its role ([`Role::from_signed`]: `roles`, `targets`).

use crate::tuf::json;
use crate::tuf::keys::KeyError;

mod envelope;
mod fast;
mod fields;
mod file_meta;
mod roles;
mod signed;
mod stream;
mod targets;

pub use envelope::{Envelope, Signature, SignedBytes, MAX_SIGNATURES};
pub use file_meta::FileMeta;
pub use roles::{Common, RoleKeys, Root, Snapshot, Timestamp, MAX_KEYS};
pub use signed::Signed;
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

/// A role read from a cut file ([`Signed`]) once its signatures are checked.
pub trait Role: Sized {
    /// Its `_type`.
    const TYPE: &'static str;
    fn from_signed(signed: &Signed) -> Result<Self>;
    /// The fields every role has (version, expiry).
    fn common(&self) -> &Common;
}

macro_rules! role {
    ($t:ty, $name:literal) => {
        impl Role for $t {
            const TYPE: &'static str = $name;
            fn from_signed(signed: &Signed) -> Result<Self> {
                <$t>::from_signed(signed)
            }
            fn common(&self) -> &Common {
                &self.common
            }
        }
    };
}

role!(Root, "Root");
role!(Timestamp, "Timestamp");
role!(Snapshot, "Snapshot");
role!(Targets, "Targets");
