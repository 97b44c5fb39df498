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
//! - [`failure`]: what every error means (refused, bad input, could not check) and its exit code.
//! - [`pin`]: finding and rewriting image references in manifests and Dockerfiles.
//!
//! The command line (`cli`, hidden from these docs) is a thin layer over these.
//!
//! # Example
//!
//! Resolve a tag offline from the real notary-made trust data shipped in `testdata/`, against the
//! root key pinned for it, as of the time that data was made (its timestamp expires 14 days
//! later, and from then on it is rightly refused as expired):
//!
//! ```
//! use trustpin::fetch::dir::DirSource;
//! use trustpin::resolve::{resolve, Options};
//! use trustpin::tuf::keys::PinnedKey;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
//! let key_file = std::fs::read(data.join("keys/delegated.pub"))?;
//! let pinned = PinnedKey::parse_all(&key_file, "delegated.pub")?;
//! let at = time::macros::datetime!(2026-11-22 03:06:24 UTC);
//!
//! let image = trustpin::reference::parse("example.com/trustpin/delegated:v1")?;
//! let answer = resolve(&DirSource::new(data), &image, &Options::new(pinned, at))?;
//! assert_eq!(
//!     answer.selection.digest.to_string(),
//!     "sha256:c93f7e4ee5e26dffa0a6efdf7a36186a545783d7002e9d53a86b3881672e3976"
//! );
//! assert_eq!(answer.selection.decided_by, ["targets/releases"]);
//! # Ok(())
//! # }
//! ```

/// The string traits of a validated name newtype (`struct X(String)` with `X::new(&str) ->
/// Result<X, E>`): read as a `str` everywhere, built only through `new`.
macro_rules! validated_str {
    ($t:ident, $err:ty) => {
        impl std::ops::Deref for $t {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl std::borrow::Borrow<str> for $t {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{:?}", self.0)
            }
        }
        impl std::str::FromStr for $t {
            type Err = $err;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $t::new(s)
            }
        }
    };
}

pub mod failure;
pub mod fetch;
pub mod notation;
pub mod pin;
pub mod policy;
pub mod reference;
pub mod report;
pub mod resolve;
pub mod serve;
pub mod tuf;

/// What one repository may cost: file sizes, the whole-run budget, the deadline.
pub use resolve::Limits;

#[doc(hidden)]
pub mod cli;
