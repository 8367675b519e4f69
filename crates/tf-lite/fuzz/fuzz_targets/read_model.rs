//! Any byte string: reading must return Ok or Err, never panic; a model that reads must
//! prepare and run (on zero inputs) without panicking either.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = tf_lite::format::read_model(data)
        && let Ok(mut it) = tf_lite::Interpreter::new(model)
        && it.allocate_tensors().is_ok()
        && it.arena_bytes().is_some_and(|b| b < 1 << 26)
    {
        let _ = it.invoke();
    }
});
