//! Collection intent shared by `KollectTarget` and `KollectClusterTarget`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::GroupVersionKind;
use crate::{
    k8s::{LabelSelector, LabelSelectorRequirement},
    names::NamespaceName,
};

/// Which namespaces and resources a target collects from. Inlined into both target specs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionFilterSpec {
    /// Static namespace allowlist. Empty means no extra restriction (the operator's default
    /// included namespaces apply instead, if configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub included_namespaces: Option<Vec<NamespaceName>>,
    /// Static namespace denylist, added to the operator's default excluded namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub excluded_namespaces: Option<Vec<NamespaceName>>,
    /// Namespaces whose labels match this selector are excluded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_exclude_selector: Option<LabelSelector>,
    /// Kind-scoped collection rules, OR-ed together. When empty, the profile's `targetGVK` is
    /// collected, filtered by the target's `labelSelector` and `names` (legacy mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub resource_rules: Option<Vec<ResourceRule>>,
}

impl CollectionFilterSpec {
    /// The included namespaces, empty when unset.
    pub fn included_namespaces(&self) -> &[NamespaceName] {
        self.included_namespaces.as_deref().unwrap_or_default()
    }

    /// The excluded namespaces, empty when unset.
    pub fn excluded_namespaces(&self) -> &[NamespaceName] {
        self.excluded_namespaces.as_deref().unwrap_or_default()
    }

    /// The resource rules, empty in legacy mode.
    pub fn resource_rules(&self) -> &[ResourceRule] {
        self.resource_rules.as_deref().unwrap_or_default()
    }
}

/// One kind-scoped collection rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRule {
    /// The kind this rule selects.
    pub gvk: GroupVersionKind,
    /// Further restricts the rule to namespaces whose labels match. Cluster-scoped objects are
    /// treated as living in namespace `default` for this test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Label equality requirements on the objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// Label expressions on the objects, AND-ed with `matchLabels`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_expressions: Option<Vec<LabelSelectorRequirement>>,
    /// CEL predicate over the variable `object` (no `cel:` prefix here), evaluated per object
    /// before it is stored; it must yield a boolean. Errors and non-booleans count as "no match".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_policy: Option<String>,
}

/// Namespace resolution results, inlined into both target statuses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionFilterStatus {
    /// Namespaces matched by the target's own intent, before any scope ceiling. Sorted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub matched_namespaces: Option<Vec<String>>,
    /// Namespaces actually collected after the scope ceiling and deny lists. Sorted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub effective_namespaces: Option<Vec<String>>,
    /// Number of `resourceRules` entries (0 in legacy mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_resource_rules: Option<i32>,
}
