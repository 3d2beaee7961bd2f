//! Fuzz target `extract`: bytes as an object and as a watch event through a fixed set of
//! extractors, one pass against two steps. The body, `fuzz_support::extract`, is shared with the
//! corpus replay test `tests/fuzz_corpus.rs`.
#![no_main]

#[allow(dead_code)] // Each target uses one of the bodies.
#[path = "../../tests/fuzz_support/mod.rs"]
mod fuzz_support;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_support::extract(data));
