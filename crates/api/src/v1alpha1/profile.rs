//! `KollectProfile`: which kind to collect and how to turn each object into a row.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Conditions, GroupVersionKind, conditions_schema};

/// Extraction schema: names the kind to collect and how each matching object becomes an
/// inventory row (curated attributes, optionally a pruned copy of the whole object) plus optional
/// Prometheus series. Static configuration: no controller writes its status.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "kollect.dev",
    version = "v1alpha1",
    derive = "PartialEq",
    kind = "KollectProfile",
    plural = "kollectprofiles",
    namespaced,
    status = "ProfileStatus",
    shortname = "kprof",
    doc = "KollectProfile declares which kind Kollect collects and which attributes it extracts \
           from each object. Targets reference a profile by name."
)]
#[serde(rename_all = "camelCase")]
pub struct ProfileSpec {
    /// The kind this profile extracts from, for example `{group: apps, version: v1, kind:
    /// Deployment}`. Leave `group` empty for core kinds such as `ConfigMap`.
    #[serde(rename = "targetGVK")]
    pub target_gvk: GroupVersionKind,

    /// Values extracted into each row's `attributes`, in order. Names must be unique. Required
    /// unless `export.mode` is `Resource`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 256),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])
    )]
    pub attributes: Option<Vec<AttributeSpec>>,

    /// Full-resource export: embeds a pruned copy of each object in its row. Without this block
    /// the profile behaves as `mode: Attributes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<ExportSpec>,

    /// Prometheus series computed from attribute values (kube-state-metrics style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 64),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])
    )]
    pub metrics: Option<Vec<MetricSpec>>,
}

impl ProfileSpec {
    /// The attributes, empty when none are declared.
    pub fn attributes(&self) -> &[AttributeSpec] {
        self.attributes.as_deref().unwrap_or_default()
    }

    /// The metrics, empty when none are declared.
    pub fn metrics(&self) -> &[MetricSpec] {
        self.metrics.as_deref().unwrap_or_default()
    }

    /// The effective export mode (`Attributes` when there is no `export` block).
    pub fn export_mode(&self) -> ExportMode {
        self.export
            .as_ref()
            .map_or(ExportMode::Attributes, |export| export.mode)
    }

    /// True when the profile targets core `v1/Secret` objects (group `""` or `core`).
    pub fn targets_secrets(&self) -> bool {
        self.target_gvk.kind == "Secret" && self.target_gvk.is_core_group()
    }
}

/// One extracted attribute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttributeSpec {
    /// Key under which the value is stored in the row. Unique within the profile.
    #[schemars(length(min = 1, max = 128))]
    pub name: String,
    /// Extraction expression: a kubectl JSONPath (`$.spec.replicas`, `{.metadata.name}`), a CEL
    /// expression with the `cel:` prefix and the variable `object` (`cel:size(object.spec.ports)`),
    /// or a Helm release field (`helm:release.chartVersion`) for Helm release Secrets.
    #[schemars(length(min = 1))]
    pub path: String,
    /// Documentary type hint (`string`, `int`, `bool`, `list`, `map`, ...). Not enforced.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_hint: Option<String>,
    /// When true, a missing value or an extraction error leaves the attribute out of the row
    /// instead of failing the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

impl AttributeSpec {
    /// Whether the attribute may be missing.
    pub fn is_optional(&self) -> bool {
        self.optional.unwrap_or(false)
    }
}

/// Full-resource export settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportSpec {
    /// `Attributes` (default) exports only the attributes; `Resource` also embeds a pruned copy of
    /// the object under the attribute key named by `as`.
    #[serde(default)]
    pub mode: ExportMode,
    /// Attribute key of the embedded object. Must not equal an attribute name in `Resource` mode.
    #[serde(default = "default_export_as", rename = "as")]
    #[schemars(length(min = 1, max = 128))]
    pub as_key: String,
    /// Top-level sections of the object that are kept.
    #[serde(default)]
    pub include: ExportInclude,
    /// Strip the object's name, namespace and uid, which the row already carries (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedupe_identity: Option<bool>,
    /// Paths removed from the embedded object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<PruneSpec>,
}

fn default_export_as() -> String {
    "resource".to_owned()
}

impl ExportSpec {
    /// Whether identity fields are stripped from the embedded object.
    pub fn dedupe_identity(&self) -> bool {
        self.dedupe_identity.unwrap_or(true)
    }
}

/// What a row carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ExportMode {
    /// Only the profile's attributes.
    #[default]
    Attributes,
    /// The attributes plus a pruned copy of the object.
    Resource,
}

/// Top-level sections of an embedded object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ExportInclude {
    /// `metadata` only.
    MetadataOnly,
    /// `metadata` and `spec`.
    SpecOnly,
    /// `metadata` and `status`.
    StatusOnly,
    /// `metadata`, `spec` and `status`.
    #[default]
    SpecAndStatus,
    /// Every top-level field.
    All,
}

/// Path exclusions applied to the embedded object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PruneSpec {
    /// Drop built-in noise: `metadata.managedFields`, `metadata.resourceVersion`,
    /// `metadata.generation` and the `kubectl.kubernetes.io/last-applied-configuration` and
    /// `argocd.argoproj.io/tracking-id` annotations (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<bool>,
    /// RFC 6901 JSON pointers to remove, e.g. `/metadata/annotations/example.com~1note`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(inner(regex(pattern = r"^\s*/([^~]|~[01])*$")))]
    pub json_pointers: Option<Vec<String>>,
    /// kubectl-style JSONPath keys to remove, e.g. `$.status.conditions`. Filters and wildcards
    /// are accepted with a warning but not applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_paths: Option<Vec<String>>,
    /// Keys redacted at any depth (case-insensitive), added to the operator's `--scrub-keys`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrub_keys: Option<Vec<String>>,
    /// Reserved for CEL-based pruning. Accepted with a warning; not applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cel: Option<Vec<String>>,
}

impl PruneSpec {
    /// Whether the built-in noise paths are removed.
    pub fn defaults(&self) -> bool {
        self.defaults.unwrap_or(true)
    }
}

/// A Prometheus series computed from attribute values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricSpec {
    /// Series identifier. Unique within the profile.
    #[schemars(length(min = 1, max = 128))]
    pub name: String,
    /// Name of the attribute whose numeric values are aggregated.
    #[schemars(length(min = 1, max = 128))]
    pub path: String,
    /// Attribute names copied to the series as labels (at most 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 5),
        inner(length(min = 1, max = 128)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub labels: Option<Vec<String>>,
}

/// Status of a profile. No controller writes it; admission failures show as API errors.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileStatus {
    /// Standard conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Option<Conditions>,
}
