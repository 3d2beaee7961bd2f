//! Fuzz target `cel`: `EXPRESSION[\0JSON]`, a CEL expression compiled and evaluated on a fixed Pod
//! and on the JSON after the first NUL byte. The body, `fuzz_support::cel`, is shared with the
//! corpus replay test `tests/fuzz_corpus.rs`.
#![no_main]

#[allow(dead_code)] // Each target uses one of the bodies.
#[path = "../../tests/fuzz_support/mod.rs"]
mod fuzz_support;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_support::cel(data));
