//! Kollect's extraction engine.
#![deny(missing_docs)]

pub mod cel;
pub mod helm;
pub mod jsonpath;
pub mod prune;
pub mod scrub;
