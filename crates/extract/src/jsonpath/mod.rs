//! kubectl's JSONPath template dialect (client-go `util/jsonpath`), not RFC 9535.
//!
//! `serde_json_path` implements RFC 9535, whose results differ from kubectl's on the cases
//! profiles rely on (a one-element match is a scalar, `['a.b']` is split on dots, filters with a
//! missing field void the whole path, out-of-range indexes are errors, `{.a} {.b}` templates).
//! This module is a small parser and evaluator of exactly that dialect (ADR 0005).

mod eval;
mod parse;

pub use self::{
    eval::EvalError,
    parse::{JsonPath, ParseError},
};
pub(crate) use self::{eval::Item, parse::Step};

#[cfg(test)]
mod tests;
