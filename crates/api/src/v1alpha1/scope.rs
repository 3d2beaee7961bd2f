//! `KollectScope` and `KollectClusterScope`: tenancy ceilings.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{common::GroupVersionKind, inventory::SinkFamily};
use crate::{
    duration::Duration,
    names::{NamespaceName, ObjectName},
};

/// The ceiling fields both scope kinds share.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScopeCeilingSpec {
    /// Kinds targets may collect. Empty means any kind. Compared case-insensitively.
    #[serde(
        default,
        rename = "allowedGVKs",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub allowed_gvks: Option<Vec<GroupVersionKind>>,
    /// Workload namespaces targets may collect from. Empty means any namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub allowed_namespaces: Option<Vec<NamespaceName>>,
    /// Namespaces no target may collect from, whatever it asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub denied_namespaces: Option<Vec<NamespaceName>>,
    /// Floor for every export interval governed by this scope. At most 24h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_export_interval: Option<Duration>,
}

impl ScopeCeilingSpec {
    /// The allowed GVKs, empty meaning "any".
    pub fn allowed_gvks(&self) -> &[GroupVersionKind] {
        self.allowed_gvks.as_deref().unwrap_or_default()
    }

    /// The allowed namespaces, empty meaning "any".
    pub fn allowed_namespaces(&self) -> &[NamespaceName] {
        self.allowed_namespaces.as_deref().unwrap_or_default()
    }

    /// The denied namespaces.
    pub fn denied_namespaces(&self) -> &[NamespaceName] {
        self.denied_namespaces.as_deref().unwrap_or_default()
    }
}

/// The tenancy boundary of one namespace: caps what its targets, inventories and sinks may do.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "kollect.dev",
    version = "v1alpha1",
    derive = "PartialEq",
    kind = "KollectScope",
    plural = "kollectscopes",
    namespaced,
    shortname = "kscope",
    doc = "KollectScope caps what the targets, inventories and sinks of its namespace may do. \
           When several exist in one namespace, the one with the lexicographically smallest \
           name applies."
)]
#[serde(rename_all = "camelCase")]
pub struct ScopeSpec {
    /// The ceiling.
    #[serde(flatten)]
    pub ceiling: ScopeCeilingSpec,
    /// Sink names the inventories of this namespace may bind.
    #[serde(flatten)]
    pub sinks: SinkAllowlists,
}

/// The platform policy boundary for cluster-scoped targets and inventories.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "kollect.dev",
    version = "v1alpha1",
    derive = "PartialEq",
    kind = "KollectClusterScope",
    plural = "kollectclusterscopes",
    shortname = "kcscope",
    doc = "KollectClusterScope caps what KollectClusterTargets and KollectClusterInventories may \
           do. When several exist, the one with the lexicographically smallest name applies."
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterScopeSpec {
    /// The ceiling.
    #[serde(flatten)]
    pub ceiling: ScopeCeilingSpec,
    /// Sink names cluster inventories may bind, whatever the sink's namespace.
    #[serde(flatten)]
    pub sinks: SinkAllowlists,
    /// Namespaces cluster kinds may reference for profiles and sinks. Empty means any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub allowed_static_ref_namespaces: Option<Vec<String>>,
}

/// The three sink allowlists of a scope, inlined into both scope specs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SinkAllowlists {
    /// `KollectSnapshotSink` names that may be bound. Empty means any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub snapshot_sink_refs: Option<Vec<ObjectName>>,
    /// `KollectDatabaseSink` names that may be bound. Empty means any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub database_sink_refs: Option<Vec<ObjectName>>,
    /// `KollectEventSink` names that may be bound. Empty means any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub event_sink_refs: Option<Vec<ObjectName>>,
}

impl SinkAllowlists {
    /// The allowlist of one family; empty means any sink of that family.
    pub fn allowed(&self, family: SinkFamily) -> &[ObjectName] {
        let list = match family {
            SinkFamily::Snapshot => &self.snapshot_sink_refs,
            SinkFamily::Database => &self.database_sink_refs,
            SinkFamily::Event => &self.event_sink_refs,
        };
        list.as_deref().unwrap_or_default()
    }
}
