//! Kollect's extraction engine.
#![deny(missing_docs)]

pub mod cel;
pub mod jsonpath;
