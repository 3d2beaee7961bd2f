//! Fuzz target `jsonpath_parse`: UTF-8 text as a kubectl JSONPath, parsed and evaluated on a fixed
//! Pod, and as an attribute path. The body, `fuzz_support::jsonpath_parse`, is shared with the
//! corpus replay test `tests/fuzz_corpus.rs`.
#![no_main]

#[allow(dead_code)] // Each target uses one of the bodies.
#[path = "../../tests/fuzz_support/mod.rs"]
mod fuzz_support;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_support::jsonpath_parse(data));
