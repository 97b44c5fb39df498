#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use trustpin_fuzz::props::{rotation_walk, Fixture};

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let fx = FIXTURE.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
        let fx = Fixture::load(std::path::Path::new(dir), "rotation")
            .unwrap_or_else(|e| panic!("rotation_walk needs fuzz/fixtures: {e}"));
        assert!(fx.expected.is_ok(), "the unchanged fixture must verify: {:?}", fx.expected);
        fx
    });
    rotation_walk(fx, data);
});
