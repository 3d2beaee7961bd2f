//! MongoDB database sink (sinks spec §12): one document per item in one collection, reconciled
//! within the inventory's partition `(inventory_namespace, inventory_name, cluster)`.
//!
//! ```text
//!  ResolvedSinkSpec ──MongoDbSinkFactory──> MongoDbSink ──mongodb driver──> <db>.<collection>
//!                        Config::from_spec      export(batch):
//!                        (no I/O)                 encode rows (cap, doubles) → unchanged?
//!                                                 → connect + provision once → read partition
//!                                                 → delete stale by _id → upsert changed rows
//! ```
//!
//! * [`config`]: the spec, the Secret's URI (DECISIONS D4) and `spec.tls` (D12), parsed once;
//!   errors never show the URI, its hosts or credentials.
//! * `encode`: pure — documents (payload numbers as doubles), the `update`/`delete` command
//!   documents, and the plan of what to send given what the collection holds.
//! * `client`: the driver (connect lazily, provision, read the partition, send commands);
//!   `error`: the backend's errors and their classification (D29).
//! * `sink`: [`MongoDbSink`] and [`MongoDbSinkFactory`].
//!
//! An export is one unit, never split into parts (rows carry the inventory's own name). It is
//! convergent but not atomic (sinks spec §12.5): a failure midway leaves the earlier commands
//! applied, and the next export completes the partition. Only documents whose content changed
//! are sent; an unchanged snapshot sends nothing. The user documentation is
//! `docs/sinks/mongodb.md`, the decisions ADR 0012.
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! use kollect_api::v1alpha1::{
//!     DatabaseSinkSpec, DatabaseSinkType, MongoDbSpec, SecretReference, SinkCommonSpec,
//! };
//! use kollect_export::{ResolvedSinkSpec, Secrets, SinkFactory as _, SinkSpec};
//! use kollect_sinks::database::mongodb::MongoDbSinkFactory;
//!
//! let spec = DatabaseSinkSpec {
//!     sink_type: DatabaseSinkType::Mongodb,
//!     common: SinkCommonSpec {
//!         cluster: Some("prod-west".into()),
//!         ..SinkCommonSpec::default()
//!     },
//!     postgres: None,
//!     bigquery: None,
//!     mongodb: Some(MongoDbSpec {
//!         database_ref: SecretReference { name: "mongo".parse().expect("name"), namespace: None },
//!         database: "kollect".into(),
//!         collection: "inventory".into(),
//!     }),
//! };
//! let secret = BTreeMap::from([(
//!     "MONGODB_URI".to_owned(),
//!     b"mongodb://kollect:secret@mongo.example:27017/?authSource=admin".to_vec(),
//! )]);
//! let resolved = ResolvedSinkSpec::new(
//!     "team-a".parse().expect("namespace"),
//!     "inventory-db".parse().expect("name"),
//!     SinkSpec::Database(spec),
//! )
//! .with_secrets(Secrets::new(secret));
//! // `build` does no I/O: the client connects on the first probe or export.
//! let sink = MongoDbSinkFactory::new().build(&resolved).expect("a valid spec");
//! assert_eq!(sink.to_string(), "mongodb(kollect.inventory)");
//! ```

mod client;
pub mod config;
mod encode;
mod error;
mod sink;
#[cfg(test)]
mod tests;

pub use self::{
    config::{Config, SERVER_SELECTION_TIMEOUT, Tls, URI_KEYS},
    encode::{INDEX_NAME, MAX_COMMAND_BYTES, MAX_DOCUMENT_BYTES, MAX_STATEMENTS},
    sink::{MongoDbSink, MongoDbSinkFactory, PROBE_TIMEOUT, SETUP_TIMEOUT},
};
