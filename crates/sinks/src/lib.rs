//! `kollect-sinks`: the backends behind the `kollect-export` contract, one feature each.
//!
//! Backends are grouped by role, then vendor (STYLE §2):
//!
//! * [`snapshot`] — snapshot sinks: Git (feature `git`) and object stores (feature
//!   `object-store`: local filesystem, S3, GCS).
//! * `database` — database sinks: Postgres (feature `postgres`) and MongoDB (feature
//!   `mongodb`).
//!
//! Every backend implements [`kollect_export::Sink`] and [`kollect_export::SinkFactory`], classifies
//! its errors into [`kollect_export::SinkError`] and never retries (the export decorators do), and
//! passes the conformance suite of `kollect_export::conformance` against a real server in its
//! integration tests. Only the `kollect` binary links this crate.
#![deny(missing_docs)]

#[cfg(any(feature = "postgres", feature = "mongodb"))]
pub mod database;
pub mod snapshot;
#[cfg(any(feature = "object-store", feature = "postgres", feature = "mongodb"))]
mod tls;
