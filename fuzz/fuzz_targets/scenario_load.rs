//! cargo fuzz target: arbitrary bytes as a scenario file (`callsim_fuzz::scenario`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| callsim_fuzz::scenario(data));
