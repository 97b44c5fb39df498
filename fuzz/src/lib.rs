//! The fuzz properties, shared with tests/hostile_fuzz.rs (which compiles props.rs directly).
#[path = "props.rs"]
pub mod props;

pub use libfuzzer_sys;

/// A fuzz target over a fixture of fuzz/fixtures: `props::PROPERTY(fixture, data)`, the fixture
/// `NAME` loaded once (its unchanged files verified) by [`props::fixture_for`].
#[macro_export]
macro_rules! fixture_target {
    ($property:ident, $fixture:literal) => {
        static FIXTURE: std::sync::OnceLock<$crate::props::Fixture> = std::sync::OnceLock::new();

        $crate::libfuzzer_sys::fuzz_target!(|data: &[u8]| {
            let fx = FIXTURE.get_or_init(|| {
                let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
                $crate::props::fixture_for(
                    std::path::Path::new(dir),
                    $fixture,
                    stringify!($property),
                )
            });
            $crate::props::$property(fx, data);
        });
    };
}
