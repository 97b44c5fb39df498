//! trustpin: which image digest does this tag stand for, according to Notary v1 (TUF) trust data
//! whose signatures chain up to a root key the user pinned?
//!
//! Data flows one way: bytes → [`json`] value → [`canonical`] bytes of `signed` → signatures
//! checked ([`verify`]) → typed [`metadata`] → [`chain`] of verified roles → [`select`] one digest.
//! Everything up to `select` is sans-IO; [`source`] and [`resolve`] do the fetching.

pub mod app;
pub mod archive;
pub mod cache;
pub mod canonical;
pub mod chain;
pub mod credentials;
pub mod inspect;
pub mod json;
pub mod keys;
pub mod level;
pub mod metadata;
pub mod policy;
pub mod reference;
pub mod resolve;
pub mod rootkey;
pub mod select;
pub mod source;
pub mod verify;
