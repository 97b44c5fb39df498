//! trustpin: which image digest does this tag stand for, according to Notary v1 (TUF) trust data
//! whose signatures chain up to a root key the user pinned?
//!
//! Layers, each a folder:
//! - [`tuf`]: Notary v1, sans-IO. Bytes → [`tuf::json`] value → [`tuf::canonical`] bytes of
//!   `signed` → signatures checked ([`tuf::verify`]) → typed [`tuf::metadata`] → [`tuf::chain`]
//!   of verified roles → [`tuf::select`] one digest.
//! - [`fetch`]: where bytes come from (the [`fetch::Source`] trait: a folder, a Notary server),
//!   credentials, the trust cache and archives.
//! - [`resolve`]: one repository fetched and verified; batches.
//! - [`report`]: what auditors read (inspect, root keys).
//! - [`policy`]: trust policy files, shared by every verifier.

pub mod failure;
pub mod fetch;
pub mod pin;
pub mod policy;
pub mod reference;
pub mod report;
pub mod resolve;
pub mod tuf;

#[doc(hidden)]
pub mod cli;
