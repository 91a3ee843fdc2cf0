//! cargo fuzz target: arbitrary bytes through the SIP codec (`callsim_fuzz::sip`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| callsim_fuzz::sip(data));
