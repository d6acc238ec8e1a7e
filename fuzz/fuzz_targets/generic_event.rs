//! Any bytes: the parser answers Ok or Err, never panics.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = muster_server::intake::generic::parse(data);
});
