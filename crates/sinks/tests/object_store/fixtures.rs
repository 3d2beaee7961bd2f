//! Rows, snapshots and batches shared by the object-store tests.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use kollect_api::row::{Attributes, Row};
use kollect_export::{
    ExportBatch, ExportBatchBuilder, Gvk, InventoryKey, SinkId, Snapshot, TargetRow,
};

/// 2026-01-15T12:00:00.123456Z: microseconds, as the Parquet column keeps them.
pub fn exported_at() -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(1_768_478_400_123_456_000)
}

/// A row of target `team-a/workloads`.
pub fn row(kind: Gvk, namespace: &str, name: &str, attributes: &str) -> TargetRow {
    TargetRow {
        target_namespace: "team-a".into(),
        target_name: "workloads".into(),
        kind,
        row: Arc::new(Row {
            namespace: namespace.into(),
            name: name.into(),
            uid: format!("uid-{name}").into(),
            resource_version: "".into(),
            attributes: Attributes::from_canonical(attributes),
        }),
    }
}

pub fn deployment() -> Gvk {
    Gvk::new("apps", "v1", "Deployment")
}

pub fn config_map() -> Gvk {
    Gvk::new("", "v1", "ConfigMap")
}

/// Three rows that exercise the encoders: a core kind (no group), nested values, numbers that
/// Go prints in exponent form, characters CSV and JSON must escape, an empty string and a key
/// that differs from a hot attribute only in case.
pub fn mixed() -> Arc<Snapshot> {
    Arc::new(Snapshot::new(vec![
        row(
            deployment(),
            "team-a",
            "api",
            r#"{"big":1000000,"image":"api:1.0","labels":{"app":"api"},"ratio":0.5,"ready":true,"replicas":2}"#,
        ),
        row(
            config_map(),
            "team-a",
            "settings",
            r#"{"Image":"caps","image":"","note":"a,b \"quoted\"\nline \u003ctag\u003e ü","replicas":"3"}"#,
        ),
        row(
            deployment(),
            "team-a",
            "web",
            r#"{"image":"nginx:1.27","ratio":"n/a","ready":"false","replicas":1000000,"version":"1.27"}"#,
        ),
    ]))
}

/// `count` rows of about `payload` bytes each.
pub fn many(count: usize, payload: usize) -> Arc<Snapshot> {
    Arc::new(Snapshot::new(
        (0..count)
            .map(|i| {
                row(
                    config_map(),
                    &format!("ns-{:02}", i % 50),
                    &format!("cm-{i:07}"),
                    &format!(
                        r#"{{"image":"registry/app:{i}","payload":"{}","replicas":{}}}"#,
                        "x".repeat(payload),
                        i % 5
                    ),
                )
            })
            .collect(),
    ))
}

pub fn inventory(text: &str) -> InventoryKey {
    text.parse().expect("an inventory key")
}

pub fn sink_id() -> SinkId {
    "conformance/snapshot/object-store"
        .parse()
        .expect("a sink id")
}

/// A batch of `snapshot` for `inventory` at `generation`, exported at [`exported_at`].
pub fn batch(inventory: &str, snapshot: &Arc<Snapshot>, generation: i64) -> ExportBatchBuilder {
    ExportBatch::builder(self::inventory(inventory), sink_id(), Arc::clone(snapshot))
        .generation(generation)
        .exported_at(exported_at())
}

/// Rows the independent readers can all read: no two keys that differ only in case (DuckDB's
/// JSON reader folds struct field names) and one JSON type per key across rows (pyarrow's JSON
/// reader infers one type per field). Still a core kind, nesting, escapes and non-ASCII text.
pub fn readable() -> Arc<Snapshot> {
    Arc::new(Snapshot::new(vec![
        row(
            deployment(),
            "team-a",
            "api",
            r#"{"image":"api:1.0","labels":{"app":"api"},"ratio":0.5,"ready":true,"replicas":2}"#,
        ),
        row(
            config_map(),
            "team-a",
            "settings",
            r#"{"image":"","note":"a,b \"quoted\"\nline \u003ctag\u003e ü","replicas":3}"#,
        ),
        row(
            deployment(),
            "team-a",
            "web",
            r#"{"image":"nginx:1.27","ratio":1.5,"ready":false,"replicas":1000000,"version":"1.27"}"#,
        ),
    ]))
}
