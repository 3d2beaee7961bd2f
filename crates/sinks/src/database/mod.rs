//! Database sinks: one row or document per item, reconciled within the inventory's partition
//! (sinks spec §10): Postgres (feature `postgres`) and MongoDB (feature `mongodb`).
//!
//! Both backends share the row model of this module: the partition an export owns, each row's
//! column values, and the byte cap applied row by row. A database export is **one** write of
//! the whole snapshot (one transaction in Postgres, one pair of bulk commands in MongoDB): it is
//! never split into parts, so rows always carry the inventory's own name, never a
//! `.part-NNNN-of-MMMM` suffix (a divergence from the Go original, `docs/compatibility.md`).

#[cfg(feature = "mongodb")]
pub mod mongodb;
#[cfg(feature = "postgres")]
pub mod postgres;

mod rows;

pub(crate) use rows::connection_string;
pub use rows::{DatabaseRow, Partition};
