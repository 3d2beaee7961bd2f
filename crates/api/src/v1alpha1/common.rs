//! Value types shared by several kinds: GVKs, references and the condition list.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    k8s::Condition,
    names::{NamespaceName, ObjectName},
};

/// Identifies a Kubernetes kind by API group, version and kind.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct GroupVersionKind {
    /// API group of the kind. Leave empty (or omit) for the core group, e.g. for `ConfigMap`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// API version, for example `v1`.
    #[schemars(length(min = 1))]
    pub version: String,
    /// Kind, for example `Deployment`. Case-sensitive.
    #[schemars(length(min = 1))]
    pub kind: String,
}

impl GroupVersionKind {
    /// Builds a GVK; an empty group means the core group.
    pub fn new(group: &str, version: &str, kind: &str) -> Self {
        Self {
            group: (!group.is_empty()).then(|| group.to_owned()),
            version: version.to_owned(),
            kind: kind.to_owned(),
        }
    }

    /// The API group, `""` for the core group.
    pub fn group(&self) -> &str {
        self.group.as_deref().unwrap_or_default()
    }

    /// True for the core group (`""`, or `core` as some manifests write it).
    pub fn is_core_group(&self) -> bool {
        matches!(self.group(), "" | "core")
    }

    /// `apiVersion` as written in manifests: `v1` for the core group, else `group/version`.
    pub fn api_version(&self) -> String {
        if self.group().is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group(), self.version)
        }
    }

    /// Case-insensitive comparison on all three parts, as scope allowlists compare GVKs.
    pub fn matches_ignore_case(&self, other: &Self) -> bool {
        self.group().eq_ignore_ascii_case(other.group())
            && self.version.eq_ignore_ascii_case(&other.version)
            && self.kind.eq_ignore_ascii_case(&other.kind)
    }
}

impl fmt::Display for GroupVersionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.api_version(), self.kind)
    }
}

/// A reference from a cluster-scoped object to a namespaced one, by name and namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedObjectReference {
    /// Name of the referenced object.
    pub name: ObjectName,
    /// Namespace of the referenced object. Required: there is no fallback namespace.
    pub namespace: NamespaceName,
}

impl fmt::Display for NamespacedObjectReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A reference to a Secret.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretReference {
    /// Name of the Secret.
    pub name: ObjectName,
    /// Namespace of the Secret. When omitted, the namespace of the object holding the reference
    /// is used. Whether a Secret in another namespace can be read is decided by the operator's
    /// RBAC, not by admission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<NamespaceName>,
}

/// The standard `conditions` list: one entry per condition type.
pub type Conditions = Vec<Condition>;

/// Schema extension for a `conditions` list: a map keyed by `type`.
pub(crate) fn conditions_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = generator.subschema_for::<Vec<Condition>>();
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert(
        "x-kubernetes-list-map-keys".into(),
        serde_json::json!(["type"]),
    );
    schema
}
