//! The conformance suite every sink backend runs: the export contract, checked against what the
//! backend really stored.
//!
//! A backend's test implements [`Harness`] — build the sink for a test prefix, read back what
//! it stored for an inventory as rows, count its writes — and runs the suite, case by case,
//! all at once with [`run_all`], or with [`conformance_tests!`](crate::conformance_tests), which
//! expands to one `#[tokio::test]` per case:
//!
//! ```
//! use std::{collections::HashMap, sync::{Arc, Mutex}};
//!
//! use kollect_aggregate::TargetRow;
//! use kollect_export::{
//!     BoxError, InMemorySink, InventoryKey, Sink, SinkRole, conformance::{self, Harness},
//! };
//!
//! /// One `InMemorySink` per prefix; a real backend builds a sink writing under the prefix and
//! /// reads the destination back.
//! #[derive(Default)]
//! struct Memory(Mutex<HashMap<String, Arc<InMemorySink>>>);
//!
//! impl Memory {
//!     fn get(&self, prefix: &str) -> Result<Arc<InMemorySink>, BoxError> {
//!         let sinks = self.0.lock().map_err(|_| "poisoned")?;
//!         Ok(Arc::clone(sinks.get(prefix).ok_or("no sink for the prefix")?))
//!     }
//! }
//!
//! #[async_trait::async_trait]
//! impl Harness for Memory {
//!     async fn sink(&self, prefix: &str) -> Result<Arc<dyn Sink>, BoxError> {
//!         let sink = Arc::new(InMemorySink::new(SinkRole::Database));
//!         self.0.lock().map_err(|_| "poisoned")?.insert(prefix.to_owned(), Arc::clone(&sink));
//!         Ok(sink)
//!     }
//!
//!     async fn read_back(
//!         &self,
//!         prefix: &str,
//!         inventory: &InventoryKey,
//!     ) -> Result<Vec<TargetRow>, BoxError> {
//!         Ok(self.get(prefix)?.rows(inventory))
//!     }
//!
//!     async fn writes(&self, prefix: &str) -> Result<u64, BoxError> {
//!         Ok(self.get(prefix)?.writes())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime").block_on(async {
//! conformance::run_all(&Memory::default()).await;
//! # });
//! ```
//!
//! In a test file, `kollect_export::conformance_tests!(Memory::default());` expands to one
//! `#[tokio::test]` per case instead.
//!
//! | Case | Contract |
//! |---|---|
//! | [`probe_succeeds`] | a reachable, well-configured backend passes its probe |
//! | [`first_export_writes`] | the first export writes the snapshot |
//! | [`unchanged_export_does_not_write`] | same generation and digest: no write, `wrote: false` |
//! | [`changed_export_writes_new_state`] | added, changed and removed rows all land |
//! | [`emptied_inventory_writes_empty_state`] | an emptied inventory is written as empty (DECISIONS D14) |
//! | [`multipart_export_reads_back_whole`] | a snapshot split into parts reads back whole |
//! | [`oversize_row_fails_without_partial_write`] | `PayloadTooLarge`, nothing written or claimed (Q1) |
//! | [`retry_after_transient_failure_lands_once`] | a retried export lands exactly once |
//! | [`concurrent_exports_do_not_interfere`] | two inventories exported at once keep their own state |
//! | [`stored_rows_are_what_was_exported`] | a backend that reads back ([`Sink::stored`]) reads what it holds, and writes nothing doing so |
//!
//! Each case uses its own prefix (`<case>_<random>`: lowercase letters, digits and `_`), so
//! cases can run in parallel against one server, and a re-run never sees an old run's data.
//! The suite never sleeps and measures no time.

// A broken contract is reported the way assertions report it, by panicking with the case's
// context; this module runs only inside backends' tests (feature `test-support`).
#![allow(clippy::panic)]

use std::{
    hash::{BuildHasher as _, RandomState},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use chrono::DateTime;
use kollect_aggregate::{Gvk, Snapshot, TargetRow};
use kollect_api::row::{Attributes, Row};

use crate::{
    batch::{ExportBatch, ExportReceipt},
    error::{BoxError, SinkError},
    id::{InventoryKey, SinkId},
    retry::{RetryPolicy, Retrying},
    sink::{Sink, SinkRole},
};

/// What a backend's test provides to run the suite.
#[async_trait]
pub trait Harness: Send + Sync {
    /// Builds the sink under test, configured to write under `prefix` only: its own schema or
    /// table, bucket prefix, branch or temporary repository, subject or topic. Called once per
    /// case.
    async fn sink(&self, prefix: &str) -> Result<Arc<dyn Sink>, BoxError>;

    /// Everything the destination holds for `inventory` under `prefix`, decoded back into rows
    /// (any order; every part of a multipart export; the latest state for event streams). No
    /// rows when nothing was written.
    async fn read_back(
        &self,
        prefix: &str,
        inventory: &InventoryKey,
    ) -> Result<Vec<TargetRow>, BoxError>;

    /// Write operations performed under `prefix` so far: commits, object writes, transactions,
    /// published messages (as the destination, or a counting test double of the backend's
    /// client, sees them).
    async fn writes(&self, prefix: &str) -> Result<u64, BoxError>;
}

/// Generates one `#[tokio::test]` per conformance case, each running against the harness
/// `$harness` evaluates to (evaluated once per test). The calling crate needs `tokio` with the
/// `macros` and `rt` features.
#[macro_export]
macro_rules! conformance_tests {
    ($harness:expr) => {
        $crate::conformance_tests!(@cases $harness;
            probe_succeeds,
            first_export_writes,
            unchanged_export_does_not_write,
            changed_export_writes_new_state,
            emptied_inventory_writes_empty_state,
            multipart_export_reads_back_whole,
            oversize_row_fails_without_partial_write,
            retry_after_transient_failure_lands_once,
            concurrent_exports_do_not_interfere,
            stored_rows_are_what_was_exported,
        );
    };
    (@cases $harness:expr; $($case:ident,)+) => {
        $(
            #[tokio::test]
            async fn $case() {
                let harness = $harness;
                $crate::conformance::$case(&harness).await;
            }
        )+
    };
}

/// Runs every case in turn.
pub async fn run_all(harness: &dyn Harness) {
    probe_succeeds(harness).await;
    first_export_writes(harness).await;
    unchanged_export_does_not_write(harness).await;
    changed_export_writes_new_state(harness).await;
    emptied_inventory_writes_empty_state(harness).await;
    multipart_export_reads_back_whole(harness).await;
    oversize_row_fails_without_partial_write(harness).await;
    retry_after_transient_failure_lands_once(harness).await;
    concurrent_exports_do_not_interfere(harness).await;
    stored_rows_are_what_was_exported(harness).await;
}

/// A reachable, well-configured backend passes its probe.
pub async fn probe_succeeds(harness: &dyn Harness) {
    let case = Case::new(harness, "probe_succeeds").await;
    case.sink.probe().await.expect("the probe passes");
}

/// The first export of an inventory writes its snapshot.
pub async fn first_export_writes(harness: &dyn Harness) {
    let case = Case::new(harness, "first_export_writes").await;
    let apps = inventory("apps");
    let snapshot = apps_v1();
    let before = case.writes().await;
    let receipt = case.export(&case.batch(&apps, &snapshot, 1)).await;
    assert!(receipt.wrote, "the first export writes: {receipt:?}");
    assert!(receipt.bytes_written > 0, "bytes are reported: {receipt:?}");
    assert!(case.writes().await > before, "a write reached the backend");
    case.assert_holds(&apps, &snapshot).await;
}

/// Exporting the same generation and digest again writes nothing and says so.
pub async fn unchanged_export_does_not_write(harness: &dyn Harness) {
    let case = Case::new(harness, "unchanged_export_does_not_write").await;
    let apps = inventory("apps");
    let snapshot = apps_v1();
    case.export(&case.batch(&apps, &snapshot, 1)).await;
    let before = case.writes().await;
    let again = case.export(&case.batch(&apps, &snapshot, 1)).await;
    assert!(
        !again.wrote,
        "an unchanged export reports no write: {again:?}"
    );
    assert_eq!(
        case.writes().await,
        before,
        "an unchanged export writes nothing"
    );
    case.assert_holds(&apps, &snapshot).await;
}

/// A changed snapshot (a row added, one changed, one removed) replaces the stored state.
pub async fn changed_export_writes_new_state(harness: &dyn Harness) {
    let case = Case::new(harness, "changed_export_writes_new_state").await;
    let apps = inventory("apps");
    case.export(&case.batch(&apps, &apps_v1(), 1)).await;
    let before = case.writes().await;
    let v2 = apps_v2();
    let receipt = case.export(&case.batch(&apps, &v2, 1)).await;
    assert!(receipt.wrote, "a changed export writes: {receipt:?}");
    assert!(case.writes().await > before, "a write reached the backend");
    case.assert_holds(&apps, &v2).await;
}

/// An inventory whose rows are all gone is written as an empty state (DECISIONS D14): an empty
/// list file, zero rows, an event with zero items — never skipped.
pub async fn emptied_inventory_writes_empty_state(harness: &dyn Harness) {
    let case = Case::new(harness, "emptied_inventory_writes_empty_state").await;
    let apps = inventory("apps");
    case.export(&case.batch(&apps, &apps_v1(), 1)).await;
    let before = case.writes().await;
    let empty = Arc::new(Snapshot::default());
    let receipt = case.export(&case.batch(&apps, &empty, 1)).await;
    assert!(
        receipt.wrote,
        "an emptied inventory is written: {receipt:?}"
    );
    assert!(case.writes().await > before, "a write reached the backend");
    case.assert_holds(&apps, &empty).await;
}

/// A snapshot larger than the binding's ceiling is split into parts, and reads back whole; an
/// unchanged re-export of it writes nothing.
pub async fn multipart_export_reads_back_whole(harness: &dyn Harness) {
    let case = Case::new(harness, "multipart_export_reads_back_whole").await;
    let apps = inventory("apps");
    let snapshot = Arc::new(Snapshot::new(
        (0..3)
            .map(|i| row(&format!("nginx-{i}"), &payload(220)))
            .collect(),
    ));
    let batch = || {
        ExportBatch::builder(apps.clone(), case.sink_id(), Arc::clone(&snapshot))
            .generation(7)
            .exported_at(exported_at())
            .max_part_bytes(MULTIPART_CEILING)
            .build()
    };
    let first = batch();
    let parts = first.parts().expect("every row fits the ceiling");
    assert!(parts.parts.len() >= 2, "the ceiling forces several parts");
    let receipt = case.export(&first).await;
    assert!(receipt.wrote, "a multipart export writes: {receipt:?}");
    case.assert_holds(&apps, &snapshot).await;
    let before = case.writes().await;
    let again = case.export(&batch()).await;
    assert!(
        !again.wrote,
        "an unchanged multipart export reports no write"
    );
    assert_eq!(case.writes().await, before, "and writes nothing");
}

/// A row larger than the ceiling fails the export with `PayloadTooLarge`; no part is written,
/// so nothing partial is ever claimed (DECISIONS Q1).
pub async fn oversize_row_fails_without_partial_write(harness: &dyn Harness) {
    let case = Case::new(harness, "oversize_row_fails_without_partial_write").await;
    let apps = inventory("apps");
    let mut rows: Vec<TargetRow> = apps_v1().items().to_vec();
    rows.push(row("huge", &payload(2 * MULTIPART_CEILING)));
    let batch = ExportBatch::builder(apps.clone(), case.sink_id(), Arc::new(Snapshot::new(rows)))
        .generation(1)
        .exported_at(exported_at())
        .max_part_bytes(MULTIPART_CEILING)
        .build();
    let before = case.writes().await;
    match case.sink.export(&batch).await {
        Err(error @ SinkError::PayloadTooLarge { .. }) => {
            assert!(!error.is_retriable(), "an oversize row is not retried");
        }
        other => panic!("an oversize row must fail with PayloadTooLarge, got {other:?}"),
    }
    assert_eq!(case.writes().await, before, "no part is written");
    case.assert_holds(&apps, &Snapshot::default()).await;
}

/// An export retried after a transient failure lands exactly once: whether the failure came
/// before the backend was reached, or after it wrote (a lost acknowledgement), the retry writes
/// no duplicate and the backend performs as many writes as a clean export.
pub async fn retry_after_transient_failure_lands_once(harness: &dyn Harness) {
    let case = Case::new(harness, "retry_after_transient_failure_lands_once").await;
    let snapshot = apps_v1();
    let clean = inventory("clean");
    let before = case.writes().await;
    case.export(&case.batch(&clean, &snapshot, 1)).await;
    let clean_writes = case.writes().await - before;
    let policy = RetryPolicy::default().with_initial_backoff(Duration::ZERO);
    for (inventory, fault) in [
        (inventory("refused"), Fault::BeforeBackend),
        (inventory("lost-ack"), Fault::AfterBackend),
    ] {
        let flaky = Retrying::new(Flaky::new(Arc::clone(&case.sink), fault), policy.clone());
        let before = case.writes().await;
        flaky
            .export(&case.batch(&inventory, &snapshot, 1))
            .await
            .unwrap_or_else(|error| panic!("{fault:?}: the retry succeeds: {error}"));
        assert_eq!(
            case.writes().await - before,
            clean_writes,
            "{fault:?}: the retried export writes as much as a clean one"
        );
        case.assert_holds(&inventory, &snapshot).await;
    }
}

/// Two inventories exported at the same time to one sink each get their own state, and a later
/// export of one leaves the other alone.
pub async fn concurrent_exports_do_not_interfere(harness: &dyn Harness) {
    let case = Case::new(harness, "concurrent_exports_do_not_interfere").await;
    let apps = inventory("apps");
    let fleet = InventoryKey::cluster(name("fleet"));
    let (apps_rows, fleet_rows) = (apps_v1(), apps_v2());
    let (apps_batch, fleet_batch) = (
        case.batch(&apps, &apps_rows, 1),
        case.batch(&fleet, &fleet_rows, 3),
    );
    let (a, b) = futures::future::join(
        case.sink.export(&apps_batch),
        case.sink.export(&fleet_batch),
    )
    .await;
    assert!(a.expect("the first export succeeds").wrote);
    assert!(b.expect("the second export succeeds").wrote);
    case.assert_holds(&apps, &apps_rows).await;
    case.assert_holds(&fleet, &fleet_rows).await;
    let empty = Arc::new(Snapshot::default());
    case.export(&case.batch(&apps, &empty, 1)).await;
    case.assert_holds(&apps, &empty).await;
    case.assert_holds(&fleet, &fleet_rows).await;
}

/// A backend that can read its destination back ([`Sink::stored`]) returns exactly the rows it
/// holds — none before the first export — and reading writes nothing. Backends that cannot
/// (`Ok(None)`) pass.
pub async fn stored_rows_are_what_was_exported(harness: &dyn Harness) {
    let case = Case::new(harness, "stored_rows_are_what_was_exported").await;
    let apps = inventory("apps");
    let v1 = apps_v1();
    let before = case
        .sink
        .stored(&case.batch(&apps, &v1, 1))
        .await
        .unwrap_or_else(|error| panic!("read back before any export: {error}"));
    let Some(before) = before else {
        return;
    };
    assert!(
        before.is_empty(),
        "nothing is stored before the first export: {before:?}"
    );
    case.export(&case.batch(&apps, &v1, 1)).await;
    let writes = case.writes().await;
    let v2 = apps_v2();
    let stored = case
        .sink
        .stored(&case.batch(&apps, &v2, 1))
        .await
        .unwrap_or_else(|error| panic!("read back: {error}"))
        .expect("a backend that read back once reads back again");
    assert_eq!(
        Snapshot::new(stored).items_json(),
        v1.items_json(),
        "the stored rows are the last export's, not the batch's"
    );
    assert_eq!(case.writes().await, writes, "reading back writes nothing");
}

/// Ceiling that splits the multipart snapshot (three 220-byte payloads) into parts.
const MULTIPART_CEILING: usize = 900;

/// One case's sink and prefix.
struct Case<'h> {
    harness: &'h dyn Harness,
    prefix: String,
    sink: Arc<dyn Sink>,
}

impl<'h> Case<'h> {
    async fn new(harness: &'h dyn Harness, case: &str) -> Self {
        let nonce = RandomState::new().hash_one(case) >> 32;
        let prefix = format!("{case}_{nonce:08x}");
        let sink = harness
            .sink(&prefix)
            .await
            .unwrap_or_else(|error| panic!("build the sink for {prefix}: {error}"));
        Self {
            harness,
            prefix,
            sink,
        }
    }

    fn sink_id(&self) -> SinkId {
        SinkId::new(namespace(), self.sink.role(), name("conformance"))
    }

    fn batch(
        &self,
        inventory: &InventoryKey,
        snapshot: &Arc<Snapshot>,
        generation: i64,
    ) -> ExportBatch {
        ExportBatch::builder(inventory.clone(), self.sink_id(), Arc::clone(snapshot))
            .generation(generation)
            .exported_at(exported_at())
            .build()
    }

    async fn export(&self, batch: &ExportBatch) -> ExportReceipt {
        self.sink.export(batch).await.unwrap_or_else(|error| {
            panic!("export {} to {}: {error}", batch.inventory(), self.sink)
        })
    }

    async fn writes(&self) -> u64 {
        self.harness
            .writes(&self.prefix)
            .await
            .unwrap_or_else(|error| panic!("count the writes under {}: {error}", self.prefix))
    }

    /// The destination holds exactly `expected` for `inventory`.
    async fn assert_holds(&self, inventory: &InventoryKey, expected: &Snapshot) {
        let rows = self
            .harness
            .read_back(&self.prefix, inventory)
            .await
            .unwrap_or_else(|error| panic!("read back {inventory}: {error}"));
        assert_eq!(
            Snapshot::new(rows).items_json(),
            expected.items_json(),
            "what {} holds for {inventory}",
            self.sink
        );
    }
}

/// Where [`Flaky`] fails.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// The first call fails before reaching the backend (a refused connection).
    BeforeBackend,
    /// The first call reaches the backend, then fails (a lost acknowledgement).
    AfterBackend,
}

/// Fails its first export transiently, at the point its [`Fault`] says.
struct Flaky {
    inner: Arc<dyn Sink>,
    fault: Fault,
    failed: AtomicBool,
}

impl Flaky {
    fn new(inner: Arc<dyn Sink>, fault: Fault) -> Self {
        Self {
            inner,
            fault,
            failed: AtomicBool::new(false),
        }
    }

    fn fail_now(&self) -> bool {
        !self.failed.swap(true, Ordering::SeqCst)
    }
}

impl std::fmt::Display for Flaky {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
impl Sink for Flaky {
    fn role(&self) -> SinkRole {
        self.inner.role()
    }

    async fn probe(&self) -> Result<(), SinkError> {
        self.inner.probe().await
    }

    async fn stored(&self, batch: &ExportBatch) -> Result<Option<Vec<TargetRow>>, SinkError> {
        self.inner.stored(batch).await
    }

    async fn export(&self, batch: &ExportBatch) -> Result<ExportReceipt, SinkError> {
        match self.fault {
            Fault::BeforeBackend if self.fail_now() => Err(SinkError::unreachable(
                "connection refused (conformance fault)",
            )),
            Fault::BeforeBackend => self.inner.export(batch).await,
            Fault::AfterBackend => {
                let receipt = self.inner.export(batch).await?;
                if self.fail_now() {
                    return Err(SinkError::unreachable(
                        "acknowledgement lost (conformance fault)",
                    ));
                }
                Ok(receipt)
            }
        }
    }
}

fn namespace() -> kollect_api::names::NamespaceName {
    "conformance".parse().expect("a valid namespace literal")
}

fn name(text: &str) -> kollect_api::names::ObjectName {
    text.parse().expect("a valid name literal")
}

fn inventory(text: &str) -> InventoryKey {
    InventoryKey::namespaced(namespace(), name(text))
}

/// 2026-01-15T12:00:00Z, the instant of the spec's worked example.
fn exported_at() -> DateTime<chrono::Utc> {
    DateTime::from_timestamp_nanos(1_768_478_400_000_000_000)
}

fn payload(bytes: usize) -> String {
    format!("{{\"payload\":\"{}\"}}", "x".repeat(bytes))
}

fn row(name: &str, attributes: &str) -> TargetRow {
    TargetRow {
        target_namespace: "conformance".into(),
        target_name: "deployments".into(),
        kind: Gvk::new("apps", "v1", "Deployment"),
        row: Arc::new(Row {
            namespace: "conformance".into(),
            name: name.into(),
            uid: format!("uid-{name}").into(),
            resource_version: "".into(),
            attributes: Attributes::from_canonical(attributes),
        }),
    }
}

/// Two Deployments, one with characters the canonical encoding escapes.
fn apps_v1() -> Arc<Snapshot> {
    Arc::new(Snapshot::new(vec![
        row("api", r#"{"image":"api:1.0","replicas":2}"#),
        row(
            "web",
            r#"{"image":"nginx:1.27","tier":"\u003cfrontend\u003e"}"#,
        ),
    ]))
}

/// `apps_v1` with `api` changed, `web` removed and `worker` added.
fn apps_v2() -> Arc<Snapshot> {
    Arc::new(Snapshot::new(vec![
        row("api", r#"{"image":"api:1.1","replicas":3}"#),
        row("worker", r#"{"image":"worker:2.0","replicas":1}"#),
    ]))
}
