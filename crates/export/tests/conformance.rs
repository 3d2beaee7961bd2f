//! The conformance suite against `InMemorySink`, once per role — and against deliberately
//! broken sinks, to show that the suite catches what it claims to.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use kollect_aggregate::TargetRow;
use kollect_export::{
    BoxError, ExportBatch, ExportReceipt, INLINE_MAX_PART_BYTES, InMemorySink, InventoryKey, Sink,
    SinkError, SinkRole, conformance::Harness,
};

/// Builds one `InMemorySink` per prefix and reads back what it stored.
struct Memory {
    role: SinkRole,
    part_cap: usize,
    sinks: Mutex<HashMap<String, Arc<InMemorySink>>>,
}

impl Memory {
    fn new(role: SinkRole, part_cap: usize) -> Self {
        Self {
            role,
            part_cap,
            sinks: Mutex::default(),
        }
    }

    fn get(&self, prefix: &str) -> Result<Arc<InMemorySink>, BoxError> {
        let sinks = self.sinks.lock().map_err(|_| "poisoned")?;
        Ok(Arc::clone(
            sinks
                .get(prefix)
                .ok_or("no sink was built for the prefix")?,
        ))
    }
}

#[async_trait]
impl Harness for Memory {
    async fn sink(&self, prefix: &str) -> Result<Arc<dyn Sink>, BoxError> {
        let sink = Arc::new(
            InMemorySink::new(self.role)
                .named(prefix)
                .with_part_cap(self.part_cap),
        );
        self.sinks
            .lock()
            .map_err(|_| "poisoned")?
            .insert(prefix.to_owned(), Arc::clone(&sink));
        Ok(sink)
    }

    async fn read_back(
        &self,
        prefix: &str,
        inventory: &InventoryKey,
    ) -> Result<Vec<TargetRow>, BoxError> {
        Ok(self.get(prefix)?.rows(inventory))
    }

    async fn writes(&self, prefix: &str) -> Result<u64, BoxError> {
        Ok(self.get(prefix)?.writes())
    }
}

mod snapshot_role {
    kollect_export::conformance_tests!(super::Memory::new(
        kollect_export::SinkRole::Snapshot,
        kollect_export::INLINE_MAX_PART_BYTES
    ));
}

mod database_role {
    kollect_export::conformance_tests!(super::Memory::new(kollect_export::SinkRole::Database, 0));
}

mod event_role {
    kollect_export::conformance_tests!(super::Memory::new(kollect_export::SinkRole::Event, 0));
}

#[tokio::test]
async fn run_all_passes_for_an_object_store_like_sink() {
    kollect_export::conformance::run_all(&Memory::new(SinkRole::Snapshot, 0)).await;
}

#[test]
fn the_inline_cap_is_one_mebibyte() {
    assert_eq!(INLINE_MAX_PART_BYTES, 1024 * 1024);
}

/// How a [`Broken`] sink misbehaves.
#[derive(Clone, Copy, Debug)]
enum Defect {
    /// Writes every export, even an unchanged one.
    NotIdempotent,
    /// Skips empty snapshots and reports them written (the Go original's behaviour, D14).
    SkipsEmpty,
    /// Writes the rows that fit and drops the rest.
    DropsOversizeRows,
}

#[derive(Default)]
struct Stored {
    rows: HashMap<InventoryKey, (String, Vec<TargetRow>)>,
    writes: u64,
}

/// A sink with one [`Defect`].
struct Broken {
    defect: Defect,
    stored: Arc<Mutex<Stored>>,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "broken({:?})", self.defect)
    }
}

#[async_trait]
impl Sink for Broken {
    fn role(&self) -> SinkRole {
        SinkRole::Database
    }

    async fn probe(&self) -> Result<(), SinkError> {
        Ok(())
    }

    async fn export(&self, batch: &ExportBatch) -> Result<ExportReceipt, SinkError> {
        let written = ExportReceipt {
            wrote: true,
            bytes_written: 1,
            ..ExportReceipt::default()
        };
        let rows: Vec<TargetRow> = if let Defect::DropsOversizeRows = self.defect {
            batch
                .snapshot()
                .items()
                .iter()
                .filter(|row| row.row.attributes.encoded_len() < batch.max_part_bytes())
                .cloned()
                .collect()
        } else {
            batch.parts()?;
            batch.snapshot().items().to_vec()
        };
        let mut stored = self.stored.lock().expect("not poisoned");
        match self.defect {
            Defect::SkipsEmpty if batch.is_empty() => return Ok(written),
            Defect::NotIdempotent => {}
            _ => {
                if stored
                    .rows
                    .get(batch.inventory())
                    .is_some_and(|(digest, _)| digest == batch.digest().as_str())
                {
                    return Ok(ExportReceipt::unchanged());
                }
            }
        }
        stored.writes += 1;
        stored.rows.insert(
            batch.inventory().clone(),
            (batch.digest().to_string(), rows),
        );
        Ok(written)
    }
}

/// One shared store per harness: every prefix sees the same (each case builds one sink).
struct BrokenHarness {
    defect: Defect,
    stored: Arc<Mutex<Stored>>,
}

impl BrokenHarness {
    fn new(defect: Defect) -> Self {
        Self {
            defect,
            stored: Arc::default(),
        }
    }
}

#[async_trait]
impl Harness for BrokenHarness {
    async fn sink(&self, _prefix: &str) -> Result<Arc<dyn Sink>, BoxError> {
        Ok(Arc::new(Broken {
            defect: self.defect,
            stored: Arc::clone(&self.stored),
        }))
    }

    async fn read_back(
        &self,
        _prefix: &str,
        inventory: &InventoryKey,
    ) -> Result<Vec<TargetRow>, BoxError> {
        let stored = self.stored.lock().map_err(|_| "poisoned")?;
        Ok(stored
            .rows
            .get(inventory)
            .map(|(_, rows)| rows.clone())
            .unwrap_or_default())
    }

    async fn writes(&self, _prefix: &str) -> Result<u64, BoxError> {
        Ok(self.stored.lock().map_err(|_| "poisoned")?.writes)
    }
}

#[tokio::test]
#[should_panic(expected = "an unchanged export reports no write")]
async fn the_suite_catches_a_sink_that_rewrites_unchanged_exports() {
    kollect_export::conformance::unchanged_export_does_not_write(&BrokenHarness::new(
        Defect::NotIdempotent,
    ))
    .await;
}

#[tokio::test]
#[should_panic(expected = "the retried export writes as much as a clean one")]
async fn the_suite_catches_a_duplicate_write_on_retry() {
    kollect_export::conformance::retry_after_transient_failure_lands_once(&BrokenHarness::new(
        Defect::NotIdempotent,
    ))
    .await;
}

#[tokio::test]
#[should_panic(expected = "a write reached the backend")]
async fn the_suite_catches_a_sink_that_skips_empty_snapshots() {
    kollect_export::conformance::emptied_inventory_writes_empty_state(&BrokenHarness::new(
        Defect::SkipsEmpty,
    ))
    .await;
}

#[tokio::test]
#[should_panic(expected = "an oversize row must fail with PayloadTooLarge")]
async fn the_suite_catches_a_sink_that_drops_oversize_rows() {
    kollect_export::conformance::oversize_row_fails_without_partial_write(&BrokenHarness::new(
        Defect::DropsOversizeRows,
    ))
    .await;
}
