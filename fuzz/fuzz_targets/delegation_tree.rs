#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use trustpin_fuzz::props::{delegation_tree, Fixture};

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let fx = FIXTURE.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
        let fx = Fixture::load(std::path::Path::new(dir), "delegations")
            .unwrap_or_else(|e| panic!("delegation_tree needs fuzz/fixtures: {e}"));
        assert!(fx.expected.is_ok(), "the unchanged fixture must verify: {:?}", fx.expected);
        fx
    });
    delegation_tree(fx, data);
});
