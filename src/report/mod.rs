//! What auditors read: who signed what ([`inspect`]), every signature of an image of both
//! generations ([`signatures`]) and a repository's root keys ([`rootkey`]).

pub mod inspect;
pub mod rootkey;
pub mod signatures;
