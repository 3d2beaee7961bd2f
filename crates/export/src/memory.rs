//! [`InMemorySink`]: a sink that keeps what it is given, for tests of everything above the sink
//! layer and as the reference the conformance suite is checked against.

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use kollect_aggregate::{ChangeSet, Snapshot, TargetRow};

use crate::{
    batch::{ExportBatch, ExportReceipt},
    error::SinkError,
    id::{Digest, InventoryKey},
    sink::{Sink, SinkRole},
};

/// One part as the sink stored it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPart {
    /// The object path of the part.
    pub path: String,
    /// The envelope bytes.
    pub envelope: String,
}

/// What the sink holds for one inventory: its last written export.
#[derive(Clone, Debug)]
pub struct StoredExport {
    /// Generation of the export.
    pub generation: i64,
    /// Digest of the export.
    pub digest: Digest,
    /// The rows, in canonical order.
    pub snapshot: Arc<Snapshot>,
    /// The parts written, in order.
    pub parts: Vec<StoredPart>,
}

type MakeError = Arc<dyn Fn() -> SinkError + Send + Sync>;

#[derive(Default)]
struct State {
    inventories: HashMap<InventoryKey, StoredExport>,
    writes: u64,
    calls: u64,
    failures: VecDeque<MakeError>,
}

/// A [`Sink`] that stores each inventory's last export in memory.
///
/// * It writes nothing when the batch's generation and digest equal the inventory's last
///   written export (`wrote: false`).
/// * Each part written counts as one write ([`InMemorySink::writes`]).
/// * [`InMemorySink::fail_next`] makes the next calls (probes or exports) fail before touching
///   anything, for retry and breaker tests; [`InMemorySink::with_latency`] makes every call take
///   time, for timeout and concurrency tests (use paused time).
pub struct InMemorySink {
    role: SinkRole,
    name: String,
    part_cap: usize,
    latency: Duration,
    state: Mutex<State>,
}

impl InMemorySink {
    /// An empty sink playing `role`.
    pub fn new(role: SinkRole) -> Self {
        Self {
            role,
            name: "memory".to_owned(),
            part_cap: 0,
            latency: Duration::ZERO,
            state: Mutex::default(),
        }
    }

    /// Names the sink in its `Display` (`memory(<name>)`).
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The backend's own cap on one part (as [`crate::INLINE_MAX_PART_BYTES`] for backends
    /// that are not object stores); 0, the default, leaves only the binding's ceiling.
    #[must_use]
    pub fn with_part_cap(mut self, bytes: usize) -> Self {
        self.part_cap = bytes;
        self
    }

    /// Every call waits this long first (on the tokio clock).
    #[must_use]
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update below is complete before the guard drops; a panicking test thread
        // leaves nothing half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next `n` calls fail with the error `make` returns, without storing anything.
    pub fn fail_next(&self, n: usize, make: impl Fn() -> SinkError + Send + Sync + 'static) {
        let make: MakeError = Arc::new(make);
        self.lock().failures.extend(std::iter::repeat_n(make, n));
    }

    /// Parts written so far, over all inventories.
    pub fn writes(&self) -> u64 {
        self.lock().writes
    }

    /// Calls received so far (probes and exports, failed ones included).
    pub fn calls(&self) -> u64 {
        self.lock().calls
    }

    /// The last export written for `inventory`.
    pub fn stored(&self, inventory: &InventoryKey) -> Option<StoredExport> {
        self.lock().inventories.get(inventory).cloned()
    }

    /// The rows held for `inventory`, in canonical order (none when nothing was written).
    pub fn rows(&self, inventory: &InventoryKey) -> Vec<TargetRow> {
        self.stored(inventory)
            .map(|stored| stored.snapshot.items().to_vec())
            .unwrap_or_default()
    }

    /// Counts a call and takes the failure planned for it, if any.
    async fn begin(&self) -> Result<(), SinkError> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let mut state = self.lock();
        state.calls += 1;
        match state.failures.pop_front() {
            Some(make) => Err(make()),
            None => Ok(()),
        }
    }

    fn store(&self, batch: &ExportBatch) -> Result<ExportReceipt, SinkError> {
        let parts = batch.parts_within(self.part_cap)?;
        let mut state = self.lock();
        let previous = state.inventories.get(batch.inventory());
        if previous
            .is_some_and(|p| p.generation == batch.generation() && p.digest == *batch.digest())
        {
            return Ok(ExportReceipt::unchanged());
        }
        let (upserted, deleted) = match (batch.changes(), previous) {
            (Some(changes), _) => counts(changes),
            (None, Some(previous)) => {
                counts(&ChangeSet::between(&previous.snapshot, batch.snapshot()))
            }
            (None, None) => (batch.snapshot().len(), 0),
        };
        let stored: Vec<StoredPart> = parts
            .parts
            .iter()
            .map(|part| StoredPart {
                path: batch.part_path(part),
                envelope: part.envelope.clone(),
            })
            .collect();
        let written = stored.len() as u64;
        state.writes += written;
        let receipt = self.receipt(&stored, (upserted, deleted), state.writes);
        state.inventories.insert(
            batch.inventory().clone(),
            StoredExport {
                generation: batch.generation(),
                digest: batch.digest().clone(),
                snapshot: Arc::clone(batch.snapshot()),
                parts: stored,
            },
        );
        Ok(receipt)
    }

    /// What a backend of this sink's role would report for `parts`, with the rows
    /// `(upserted, deleted)`.
    fn receipt(&self, parts: &[StoredPart], rows: (usize, usize), sequence: u64) -> ExportReceipt {
        let mut receipt = ExportReceipt {
            wrote: true,
            parts: parts.len(),
            bytes_written: parts.iter().map(|p| p.envelope.len() as u64).sum(),
            ..ExportReceipt::default()
        };
        match self.role {
            SinkRole::Snapshot => {
                receipt.object_keys = parts.iter().map(|p| p.path.clone()).collect();
            }
            SinkRole::Database => {
                receipt.rows_upserted = rows.0 as u64;
                receipt.rows_deleted = rows.1 as u64;
            }
            SinkRole::Event => receipt.stream_sequence = Some(sequence),
        }
        receipt
    }
}

/// Rows to upsert and to delete for `changes`.
fn counts(changes: &ChangeSet) -> (usize, usize) {
    (
        changes.added.len() + changes.updated.len(),
        changes.removed.len(),
    )
}

impl fmt::Display for InMemorySink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "memory({})", self.name)
    }
}

impl fmt::Debug for InMemorySink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("InMemorySink")
            .field("role", &self.role)
            .field("name", &self.name)
            .field("inventories", &state.inventories.len())
            .field("writes", &state.writes)
            .field("calls", &state.calls)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Sink for InMemorySink {
    fn role(&self) -> SinkRole {
        self.role
    }

    async fn probe(&self) -> Result<(), SinkError> {
        self.begin().await
    }

    async fn export(&self, batch: &ExportBatch) -> Result<ExportReceipt, SinkError> {
        self.begin().await?;
        self.store(batch)
    }

    async fn stored(&self, batch: &ExportBatch) -> Result<Option<Vec<TargetRow>>, SinkError> {
        Ok(Some(self.rows(batch.inventory())))
    }
}
