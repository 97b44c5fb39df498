//! What auditors read: who signed what ([`inspect`]) and a repository's root keys ([`rootkey`]).

pub mod inspect;
pub mod rootkey;
