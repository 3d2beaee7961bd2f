//! `KollectInventory` and `KollectClusterInventory`: aggregation of target rows and the sink
//! bindings they export to.

use std::fmt;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Conditions, NamespacedObjectReference, conditions_schema};
use crate::{
    duration::Duration,
    k8s::{LabelSelector, Time},
    names::{NamespaceName, ObjectName},
};

/// Most family sink refs one inventory may hold, across its three lists.
pub const MAX_SINK_REFS: usize = 20;

/// Namespace of cluster-inventory sink refs that name no namespace.
pub const DEFAULT_SINK_NAMESPACE: &str = "kollect-system";

/// A binding from an inventory to one family sink.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InventorySinkRef {
    /// Name of the sink. Namespaced inventories resolve it in their own namespace.
    pub name: ObjectName,
    /// Namespace of the sink. Only for `KollectClusterInventory` (default: `spec.sinkNamespace`);
    /// forbidden on `KollectInventory`, whose sinks must live in its own namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<NamespaceName>,
    /// Minimum time between two exports of an unchanged snapshot to this sink. Overrides the
    /// sink's and the inventory's interval. `0s` re-exports only on change. At most 24h and not
    /// below the scope's `minExportInterval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_min_interval: Option<Duration>,
    /// Size ceiling in bytes for one export part to this sink. Replaces the inventory-wide
    /// ceiling. Must be positive and at most the operator's `--max-export-bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_export_bytes: Option<i64>,
}

/// The sink family a binding points at; also the name of its list in the inventory spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SinkFamily {
    /// `KollectSnapshotSink`, bound through `snapshotSinkRefs`.
    Snapshot,
    /// `KollectDatabaseSink`, bound through `databaseSinkRefs`.
    Database,
    /// `KollectEventSink`, bound through `eventSinkRefs`.
    Event,
}

impl SinkFamily {
    /// The three families in binding order.
    pub const ALL: [Self; 3] = [Self::Snapshot, Self::Database, Self::Event];

    /// Lower-case family id used in binding keys (`database/warehouse`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Snapshot => "snapshot",
            Self::Database => "database",
            Self::Event => "event",
        }
    }

    /// Name of the inventory (and scope) list holding refs of this family.
    pub fn list_field(self) -> &'static str {
        match self {
            Self::Snapshot => "snapshotSinkRefs",
            Self::Database => "databaseSinkRefs",
            Self::Event => "eventSinkRefs",
        }
    }

    /// Kind of the sinks of this family.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Snapshot => "KollectSnapshotSink",
            Self::Database => "KollectDatabaseSink",
            Self::Event => "KollectEventSink",
        }
    }
}

impl fmt::Display for SinkFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The three family ref lists, inlined into both inventory specs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SinkRefLists {
    /// `KollectSnapshotSink` bindings (Git, GitLab, S3, GCS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 20),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])
    )]
    pub snapshot_sink_refs: Option<Vec<InventorySinkRef>>,
    /// `KollectDatabaseSink` bindings (Postgres, MongoDB, BigQuery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 20),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])
    )]
    pub database_sink_refs: Option<Vec<InventorySinkRef>>,
    /// `KollectEventSink` bindings (Kafka, NATS). At most 20 refs across the three lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 20),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])
    )]
    pub event_sink_refs: Option<Vec<InventorySinkRef>>,
}

impl SinkRefLists {
    /// The refs of one family, empty when the list is unset.
    pub fn refs(&self, family: SinkFamily) -> &[InventorySinkRef] {
        let list = match family {
            SinkFamily::Snapshot => &self.snapshot_sink_refs,
            SinkFamily::Database => &self.database_sink_refs,
            SinkFamily::Event => &self.event_sink_refs,
        };
        list.as_deref().unwrap_or_default()
    }

    /// Every binding as `(family, ref)`, in family order then list order.
    pub fn bindings(&self) -> Vec<(SinkFamily, &InventorySinkRef)> {
        SinkFamily::ALL
            .into_iter()
            .flat_map(|family| self.refs(family).iter().map(move |r| (family, r)))
            .collect()
    }
}

/// What happens to exported data when an inventory is deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    /// Keep the exported data as it is.
    #[default]
    Retain,
    /// Export an empty snapshot to every bound sink before the inventory goes away.
    Delete,
}

/// Team-scoped aggregation of the rows of the targets in its namespace.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "kollect.dev",
    version = "v1alpha1",
    derive = "PartialEq",
    kind = "KollectInventory",
    plural = "kollectinventories",
    namespaced,
    status = "InventoryStatus",
    shortname = "kinv",
    doc = "KollectInventory aggregates the rows collected by the KollectTargets of its namespace \
           into one snapshot and exports it to the family sinks it binds (same namespace only)."
)]
#[serde(rename_all = "camelCase")]
pub struct InventorySpec {
    /// The sinks this inventory exports to, in its own namespace.
    #[serde(flatten)]
    pub sinks: SinkRefLists,
    /// Default minimum time between two exports of an unchanged snapshot (default 30s, raised to
    /// the scope's `minExportInterval` when that is larger). At most 24h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_min_interval: Option<Duration>,
    /// Size ceiling in bytes for one export part (default: the operator's `--max-export-bytes`).
    /// Larger snapshots are split into parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_export_bytes: Option<i64>,
    /// Pause exports; the inventory reports `Degraded/Suspended`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// Not supported: the read-only HTTP API is configured by operator flags. Setting it is
    /// rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_endpoint: Option<HttpEndpointSpec>,
    /// `Retain` (default) leaves exported data in place when the inventory is deleted; `Delete`
    /// exports an empty snapshot to every bound sink first.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// Reserved HTTP endpoint settings of an inventory (not supported).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpEndpointSpec {
    /// Reserved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Reserved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
}

/// Per-binding export state (`status.sinkExports[]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SinkExportStatus {
    /// Binding key `<family>/<name>`, e.g. `database/warehouse`.
    pub name: String,
    /// Resolved sink namespace (cluster inventories only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Last successful export to this binding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_export_time: Option<Time>,
    /// Lower-case hex SHA-256 fingerprint of that export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checksum: Option<String>,
    /// A single `Synced` condition: `Exported`, `Debounced` or `ExportFailed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Option<Conditions>,
}

/// Observed state of a `KollectInventory`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InventoryStatus {
    /// `Ready`, `Synced`, `SinkReachable`, `Degraded` and `ExportShardWarning`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Option<Conditions>,
    /// Generation of the last status write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Rows in the snapshot at the last reconcile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_count: Option<i64>,
    /// Newest successful export among the bindings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_export_time: Option<Time>,
    /// Per-binding export state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 20),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])
    )]
    pub sink_exports: Option<Vec<SinkExportStatus>>,
}

/// Platform rollup of the rows of cluster targets, sharded by namespace.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "kollect.dev",
    version = "v1alpha1",
    derive = "PartialEq",
    kind = "KollectClusterInventory",
    plural = "kollectclusterinventories",
    status = "ClusterInventoryStatus",
    shortname = "kcinv",
    doc = "KollectClusterInventory rolls up the rows of KollectClusterTargets in the namespaces \
           its namespaceSelector selects and exports them to family sinks referenced by name and \
           namespace. Rejected in tenant mode."
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInventorySpec {
    /// Not supported (reserved for a rollup-specific extraction schema). Setting it is rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_ref: Option<NamespacedObjectReference>,
    /// Names of the `KollectClusterTargets` to include. Empty: use `targetSelector`, else all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_refs: Option<Vec<ObjectName>>,
    /// Selects cluster targets by label. Ignored when `targetRefs` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_selector: Option<LabelSelector>,
    /// Namespaces that may contribute rows. Required and non-empty: an empty selector would
    /// roll up the whole cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Explicit namespace allowlist, intersected with `namespaceSelector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub namespaces: Option<Vec<NamespaceName>>,
    /// The sinks this inventory exports to, by name and namespace (default `sinkNamespace`).
    #[serde(flatten)]
    pub sinks: SinkRefLists,
    /// Namespace of sink refs that name no namespace; its `KollectScope` also sets the interval
    /// floor.
    #[serde(default = "default_sink_namespace")]
    pub sink_namespace: NamespaceName,
    /// Default minimum time between two exports of an unchanged snapshot (default 30s). At most
    /// 24h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_min_interval: Option<Duration>,
    /// `keepAll`: one row per (target, object). `byResourceUID`: rows of the same object collected
    /// by several targets collapse into one (the target with the smallest name wins).
    #[serde(default)]
    pub dedupe: Dedupe,
    /// Pause the rollup; the inventory reports `Degraded/Suspended`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// `Retain` (default) leaves exported data in place when the inventory is deleted; `Delete`
    /// exports an empty snapshot to every bound sink first.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

fn default_sink_namespace() -> NamespaceName {
    NamespaceName::try_from(DEFAULT_SINK_NAMESPACE).expect("the default sink namespace is valid")
}

/// Row deduplication in a cluster rollup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Dedupe {
    /// One row per (target, object).
    #[default]
    #[serde(rename = "keepAll")]
    KeepAll,
    /// One row per object.
    #[serde(rename = "byResourceUID")]
    ByResourceUid,
}

/// One namespace shard of a cluster rollup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceShardStatus {
    /// The namespace.
    pub namespace: String,
    /// Rows in the shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_count: Option<i64>,
    /// Cluster targets contributing to the shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_count: Option<i64>,
    /// Hex digest of the shard rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

/// Observed state of a `KollectClusterInventory`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInventoryStatus {
    /// `Ready`, `ExportSucceeded`, `Synced`, `SinkReachable` and `Degraded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Option<Conditions>,
    /// Generation of the last status write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Rows in the last rollup, after dedupe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_count: Option<i64>,
    /// Cluster targets included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_count: Option<i64>,
    /// Number of namespace shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_shard_count: Option<i64>,
    /// Per-namespace shard summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend(
        "x-kubernetes-list-type" = "map",
        "x-kubernetes-list-map-keys" = ["namespace"]
    ))]
    pub namespace_shards: Option<Vec<NamespaceShardStatus>>,
    /// Newest successful binding export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_export_time: Option<Time>,
    /// Per-binding export state, with the resolved sink namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 20),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])
    )]
    pub sink_exports: Option<Vec<SinkExportStatus>>,
}
