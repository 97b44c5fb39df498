//! Notary v1 (TUF), sans-IO: pure functions from fetched bytes, pinned keys and a time to
//! verified roles and one selected digest. Nothing here does IO.

pub mod budget;
pub mod canonical;
pub mod chain;
pub mod delegations;
pub mod json;
pub mod keys;
pub mod level;
pub mod metadata;
pub mod role;
pub mod rotation;
pub mod select;
pub mod verify;
