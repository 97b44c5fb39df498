#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use trustpin_fuzz::props::{verify_chain, Base};

static BASE: OnceLock<Base> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let base = BASE.get_or_init(|| {
        let dir = std::env::var_os("TRUSTPIN_TRUST_DATA")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/trust-data").into()
            });
        Base::load_from(&dir)
            .unwrap_or_else(|e| panic!("verify_chain needs ../shared/trust-data: {e}"))
    });
    verify_chain(base, data);
});
