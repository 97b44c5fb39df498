//! The fuzz properties, shared with tests/hostile_fuzz.rs (which compiles props.rs directly).
#[path = "props.rs"]
pub mod props;
