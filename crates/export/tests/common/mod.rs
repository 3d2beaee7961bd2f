//! Rows, snapshots and batches shared by the integration tests.

#![allow(dead_code, unreachable_pub)] // each test file uses a different subset

use std::sync::Arc;

use chrono::{DateTime, Utc};
use kollect_aggregate::{Gvk, Snapshot, TargetRow};
use kollect_api::row::{Attributes, Row};
use kollect_export::{ExportBatch, ExportBatchBuilder, InventoryKey, SinkId};

/// 2026-01-15T12:00:00Z.
pub fn noon() -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(1_768_478_400_000_000_000)
}

/// An instant whose `exportedAt` has all nine fractional digits: the longest timestamp, which
/// is what part sizes are measured with, so measured and actual sizes agree.
pub fn noon_with_nanos() -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(1_768_478_400_123_456_789)
}

pub fn row(name: &str, payload: usize) -> TargetRow {
    TargetRow {
        target_namespace: "team-a".into(),
        target_name: "deployments".into(),
        kind: Gvk::new("apps", "v1", "Deployment"),
        row: Arc::new(Row {
            namespace: "team-a".into(),
            name: name.into(),
            uid: format!("uid-{name}").into(),
            resource_version: "".into(),
            attributes: Attributes::from_canonical(format!(
                "{{\"payload\":\"{}\"}}",
                "x".repeat(payload)
            )),
        }),
    }
}

pub fn snapshot(rows: Vec<TargetRow>) -> Arc<Snapshot> {
    Arc::new(Snapshot::new(rows))
}

pub fn inventory(text: &str) -> InventoryKey {
    text.parse().expect("a valid inventory key literal")
}

pub fn sink_id(text: &str) -> SinkId {
    text.parse().expect("a valid sink id literal")
}

pub fn batch(inventory: &str, sink: &str, snapshot: Arc<Snapshot>) -> ExportBatchBuilder {
    ExportBatch::builder(self::inventory(inventory), sink_id(sink), snapshot).exported_at(noon())
}
