//! `kollect-export`: the export contract every sink backend implements.
//!
//! * [`Sink`] — `role`, `probe`, `export(&ExportBatch) -> ExportReceipt`; dyn-safe, idempotent
//!   per (inventory, generation, digest). [`SinkFactory`] builds sinks from a
//!   [`ResolvedSinkSpec`]; [`SinkRegistry`] dispatches on the [`SinkType`].
//! * [`ExportBatch`] — one export of one inventory to one sink: identities, generation,
//!   `exportedAt`, the rows (`Arc<Snapshot>`), their digest, the change set since the sink's last
//!   export when known, and the byte cap its [`parts`](ExportBatch::parts) respect.
//! * [`SinkError`] — semantic kinds mapped onto the pipeline's error taxonomy ([`ErrorClass`]),
//!   with classification helpers for I/O errors and HTTP statuses.
//! * Decorators that implement [`Sink`] themselves: [`Retrying`], [`Timed`], [`CircuitBreaker`]
//!   (shared per sink object through [`Breakers`]) and [`Instrumented`] (metrics, logs, span);
//!   [`SinkExt::layered`] stacks them in the standard order.
//! * With the `test-support` feature: [`InMemorySink`] and the [`conformance`] suite every
//!   backend runs.
//!
//! The envelope, digests, partitioning and change sets come from `kollect-aggregate`; this crate
//! adds no second encoding. The contract in prose, and how a backend plugs in, is in
//! `docs/export.md`.
//!
//! A backend implements [`Sink`]; everything else wraps it:
//!
//! ```
//! use std::sync::{Arc, Mutex};
//!
//! use kollect_aggregate::Snapshot;
//! use kollect_export::{
//!     ExportBatch, ExportReceipt, Layers, Sink, SinkError, SinkExt as _, SinkId, SinkRole,
//!     SinkType,
//! };
//!
//! /// Keeps the envelopes it is given, and the digest of the last export.
//! #[derive(Default)]
//! struct Envelopes {
//!     written: Mutex<Vec<String>>,
//!     last: Mutex<Option<String>>,
//! }
//!
//! impl std::fmt::Display for Envelopes {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         f.write_str("envelopes")
//!     }
//! }
//!
//! #[async_trait::async_trait]
//! impl Sink for Envelopes {
//!     fn role(&self) -> SinkRole {
//!         SinkRole::Snapshot
//!     }
//!
//!     async fn probe(&self) -> Result<(), SinkError> {
//!         Ok(())
//!     }
//!
//!     async fn export(&self, batch: &ExportBatch) -> Result<ExportReceipt, SinkError> {
//!         let parts = batch.parts()?; // before any write: an oversize row fails here
//!         let mut last = self.last.lock().expect("not poisoned");
//!         if last.as_deref() == Some(batch.digest().as_str()) {
//!             return Ok(ExportReceipt::unchanged());
//!         }
//!         let mut written = self.written.lock().expect("not poisoned");
//!         let mut receipt = ExportReceipt { wrote: true, ..ExportReceipt::default() };
//!         for part in &parts.parts {
//!             written.push(part.envelope.clone());
//!             receipt.parts += 1;
//!             receipt.bytes_written += part.envelope.len() as u64;
//!             receipt.object_keys.push(batch.part_path(part));
//!         }
//!         *last = Some(batch.digest().to_string());
//!         Ok(receipt)
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime").block_on(async {
//! let sink_id: SinkId = "team-a/snapshot/audit".parse().expect("valid id");
//! let layers = Layers::default();
//! let sink = Envelopes::default().layered(&layers, &sink_id, SinkType::Git);
//! let batch = ExportBatch::builder(
//!     "team-a/apps".parse().expect("valid key"),
//!     sink_id,
//!     Arc::new(Snapshot::default()),
//! )
//! .generation(3)
//! .build();
//!
//! let receipt = sink.export(&batch).await.expect("exported");
//! assert!(receipt.wrote);
//! assert_eq!(receipt.object_keys, ["inventory/team-a/apps.json"]);
//! // Idempotent per (inventory, generation, digest): the same batch writes nothing.
//! assert!(!sink.export(&batch).await.expect("exported").wrote);
//! # });
//! ```
#![deny(missing_docs)]

mod batch;
mod breaker;
#[cfg(feature = "test-support")]
pub mod conformance;
mod error;
mod id;
#[cfg(feature = "test-support")]
mod memory;
mod metrics;
mod retry;
mod sink;
mod timeout;

#[cfg(feature = "test-support")]
pub use crate::memory::{InMemorySink, StoredExport, StoredPart};
pub use crate::{
    batch::{
        DEFAULT_MAX_PART_BYTES, ExportBatch, ExportBatchBuilder, ExportReceipt,
        INLINE_MAX_PART_BYTES,
    },
    breaker::{
        BreakerConfig, BreakerState, Breakers, CLOSED_WINDOW, CircuitBreaker, OPEN_FOR,
        TRIP_AFTER_FAILURES,
    },
    error::{BoxError, ErrorClass, Result, SinkError},
    id::{CLUSTER_PATH_NAMESPACE, Digest, IdError, InventoryKey, SinkId, SinkType},
    metrics::{
        EXPORT_BYTES, EXPORT_DURATION_BUCKETS, EXPORT_DURATION_SECONDS, ExportMetrics,
        Instrumented, SINK_CIRCUIT_BREAKERS, SINK_CONNECTION_TEST, SINK_ERRORS,
    },
    retry::{
        DEFAULT_INITIAL_BACKOFF, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_BACKOFF, RetryPolicy, Retrying,
    },
    sink::{
        Layers, ResolvedSinkSpec, Secrets, Sink, SinkExt, SinkFactory, SinkRegistry, SinkRole,
        SinkSpec, fan_out,
    },
    timeout::{DEFAULT_EXPORT_TIMEOUT, DEFAULT_PROBE_TIMEOUT, Timed, Timeouts},
};
/// The payload types backends work with, from `kollect-aggregate` (backends depend on this crate
/// only, STYLE §1): snapshots, parts, change sets, and reading exports back.
pub use kollect_aggregate::{
    ChangeSet, DecodeError, Decoded, EnvelopeHeader, EnvelopeMeta, Gvk, Part, Parts,
    PayloadTooLarge, RowCap, SCHEMA_VERSION, Snapshot, TargetRow, decode, format_exported_at,
    part_path, read_header,
};
