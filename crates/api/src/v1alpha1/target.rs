//! `KollectTarget` and `KollectClusterTarget`: which objects a profile is applied to.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    common::{Conditions, NamespacedObjectReference, conditions_schema},
    filter::{CollectionFilterSpec, CollectionFilterStatus},
};
use crate::{
    k8s::{LabelSelector, Time},
    names::ObjectName,
};

/// Team-scoped collection: binds a profile in the same namespace to the objects it collects.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "kollect.dev",
    version = "v1alpha1",
    derive = "PartialEq",
    kind = "KollectTarget",
    plural = "kollecttargets",
    namespaced,
    status = "TargetStatus",
    shortname = "ktgt",
    printcolumn = r#"{"name":"Collected","type":"integer","jsonPath":".status.collectedCount"}"#,
    printcolumn = r#"{"name":"Updated","type":"date","jsonPath":".status.collectedCountUpdatedAt"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    doc = "KollectTarget applies a KollectProfile of its own namespace to the objects selected by \
           its namespace and label filters. Without includedNamespaces or namespaceSelector it \
           covers every namespace the operator watches; KollectScope narrows that."
)]
#[serde(rename_all = "camelCase")]
pub struct TargetSpec {
    /// Name of a `KollectProfile` in the same namespace as this target.
    pub profile_ref: ObjectName,
    /// Workload namespaces to collect from, selected by their labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Namespace and resource filters.
    #[serde(flatten)]
    pub filter: CollectionFilterSpec,
    /// Legacy mode only (no `resourceRules`): label filter on the collected objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// Legacy mode only: restrict collection to objects with these names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<String>>,
    /// Pause collection: the target stops contributing rows and reports `Degraded/Suspended`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// Watch-label policy. `All` collects unless an object or namespace opts out with the label
    /// `kollect.dev/watch: disabled`; `OptIn` collects only in namespaces labelled or annotated
    /// `enabled`.
    #[serde(default)]
    pub watch_mode: WatchMode,
}

impl TargetSpec {
    /// Whether collection is paused.
    pub fn is_suspended(&self) -> bool {
        self.suspend.unwrap_or(false)
    }
}

/// Watch-label policy of a target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum WatchMode {
    /// Collect unless opted out.
    #[default]
    All,
    /// Collect only where opted in.
    OptIn,
}

/// Observed state of a `KollectTarget`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetStatus {
    /// `Ready`, `Synced`, `SinkReachable` and `Degraded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Option<Conditions>,
    /// Generation last reconciled to Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Number of objects currently failing attribute extraction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extraction_failures: Option<i64>,
    /// Most recent extraction error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_extraction_error: Option<String>,
    /// Number of objects currently collected. Absent means never computed; 0 is a real count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collected_count: Option<i64>,
    /// When `collectedCount` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collected_count_updated_at: Option<Time>,
    /// Namespace resolution results.
    #[serde(flatten)]
    pub filter: CollectionFilterStatus,
}

/// Platform-wide collection across namespaces with a namespaced profile referenced by name and
/// namespace.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "kollect.dev",
    version = "v1alpha1",
    derive = "PartialEq",
    kind = "KollectClusterTarget",
    plural = "kollectclustertargets",
    status = "ClusterTargetStatus",
    shortname = "kctgt",
    doc = "KollectClusterTarget collects across the namespaces its namespaceSelector selects, \
           using a KollectProfile referenced by name and namespace. Rejected in tenant mode."
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterTargetSpec {
    /// The `KollectProfile` to use, by name and namespace (there is no fallback namespace).
    pub profile_ref: NamespacedObjectReference,
    /// Namespaces to collect from. Required and non-empty: an empty selector would collect
    /// cluster-wide and is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Namespace and resource filters.
    #[serde(flatten)]
    pub filter: CollectionFilterSpec,
    /// Pause collection in every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
}

impl ClusterTargetSpec {
    /// Whether collection is paused.
    pub fn is_suspended(&self) -> bool {
        self.suspend.unwrap_or(false)
    }
}

/// Observed state of a `KollectClusterTarget`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterTargetStatus {
    /// `Ready`, `Synced` and `Degraded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Option<Conditions>,
    /// Generation last reconciled to Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Namespace resolution results.
    #[serde(flatten)]
    pub filter: CollectionFilterStatus,
}
