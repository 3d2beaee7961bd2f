//! Object-store snapshot sink: local filesystem, S3 (and S3-compatible stores, path-style) and
//! GCS (`gs://`, native JSON API), in JSON, NDJSON, CSV and Parquet (sinks spec §9).
//!
//! ```text
//!  ResolvedSinkSpec ──ObjectStoreSinkFactory──> ObjectStoreSink ──object_store──> file:// | S3 | GCS
//!                        Config::from_spec         export(batch):
//!                                                    parts → keys → marker check → encode (blocking
//!                                                    thread) → PUT / multipart → delete leftovers
//!                                                    → marker
//! ```
//!
//! * [`config`]: the spec, parsed once; every error names its field; [`location`]: the
//!   endpoint and credentials.
//! * [`client`]: the `object_store` client (ring-based TLS, no retries); `upload`: streamed
//!   single and multipart uploads.
//! * `encode`, `parquet`, [`schema`]: rows into bytes; the Parquet/CSV schema.
//! * `sink`: [`ObjectStoreSink`] and [`ObjectStoreSinkFactory`]; `key` and `marker`: where
//!   objects go and how an unchanged export is recognised.
//!
//! Idempotency: after writing every part of an export the sink writes a small marker object
//! (`<prefix>/.kollect/<key>.export.json`) naming the generation, digest, encoding and the
//! objects with their sizes. An export whose marker matches, with every object still in place,
//! writes nothing; the marker's other keys are leftover parts and are deleted (DECISIONS D9).
//! The user documentation is `docs/sinks/object-store.md`, the schema
//! `docs/reference/parquet.md`, the decisions ADR 0010.
//!
//! A local directory is an endpoint like any other, `file:///abs/dir`:
//!
//! ```
//! use std::sync::Arc;
//!
//! use kollect_api::v1alpha1::{
//!     SerializationFormat, SerializationSpec, SinkCommonSpec, SnapshotSinkSpec, SnapshotSinkType,
//! };
//! use kollect_export::{ExportBatch, ResolvedSinkSpec, SinkFactory as _, SinkSpec, Snapshot};
//! use kollect_sinks::snapshot::object_store::ObjectStoreSinkFactory;
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime").block_on(async {
//! let dir = tempfile::tempdir().expect("a temporary directory");
//! let spec = SnapshotSinkSpec {
//!     sink_type: SnapshotSinkType::S3,
//!     common: SinkCommonSpec {
//!         endpoint: Some(format!("file://{}", dir.path().display())),
//!         serialization: Some(SerializationSpec {
//!             format: Some(SerializationFormat::Parquet),
//!             compression: None,
//!         }),
//!         ..SinkCommonSpec::default()
//!     },
//!     git: None,
//!     gitlab: None,
//!     object_store: None,
//!     http: None,
//! };
//! let resolved = ResolvedSinkSpec::new(
//!     "team-a".parse().expect("namespace"),
//!     "local".parse().expect("name"),
//!     SinkSpec::Snapshot(spec),
//! );
//! let sink = ObjectStoreSinkFactory::new().build(&resolved).expect("a valid spec");
//! let batch = ExportBatch::builder(
//!     "team-a/apps".parse().expect("inventory"),
//!     resolved.id().clone(),
//!     Arc::new(Snapshot::default()),
//! )
//! .generation(3)
//! .build();
//! let receipt = sink.export(&batch).await.expect("exported");
//! assert_eq!(
//!     receipt.object_keys,
//!     ["inventory/cluster=default/ns=team-a/name=apps/generation=3.parquet"]
//! );
//! assert!(!sink.export(&batch).await.expect("exported").wrote, "unchanged: nothing written");
//! # });
//! ```

pub mod client;
pub mod config;
mod encode;
mod error;
mod key;
pub mod location;
mod marker;
mod parquet;
mod read;
pub mod schema;
mod sink;
#[cfg(test)]
mod tests;
mod upload;

pub use self::{
    client::{AmbientCredentials, connect},
    config::{Compression, Config, Format, HotAttribute, PathTemplate},
    location::Location,
    read::{ReadError, read_parquet},
    schema::{AttributeType, StaticTypeHints, TypeHints},
    sink::{ObjectStoreSink, ObjectStoreSinkFactory, PROBE_TIMEOUT},
    upload::MULTIPART_PART_BYTES,
};
