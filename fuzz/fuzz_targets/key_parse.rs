#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    trustpin_fuzz::props::key_parse(data);
});
