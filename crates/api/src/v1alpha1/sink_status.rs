//! Status shared by the three family sink kinds, including the preview block.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Conditions, conditions_schema};
use crate::k8s::Time;

/// Observed state of a family sink.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FamilySinkStatus {
    /// `ConnectionVerified`, `Degraded` and `TLSInsecure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Option<Conditions>,
    /// What an export would write, rendered from synthetic input while the annotation
    /// `kollect.dev/preview: "true"` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<SinkPreviewStatus>,
}

/// A rendered preview of what a sink would write.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SinkPreviewStatus {
    /// When the preview was rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_at: Option<Time>,
    /// Where the sample input came from (`synthetic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_sample_source: Option<String>,
    /// Effective provisioning mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_mode: Option<String>,
    /// Effective serialization format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serialization_format: Option<String>,
    /// Document path (git/gitlab) or object key (s3/gcs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_path: Option<String>,
    /// Git commit preview.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitPreview>,
    /// Git layout preview.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<LayoutPreview>,
    /// Postgres preview.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<PostgresPreview>,
    /// MongoDB preview.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mongodb: Option<MongoDbPreview>,
    /// Kafka preview.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka: Option<KafkaPreview>,
    /// Notes about the destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub warnings: Option<Vec<String>>,
}

/// Git commit preview.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitPreview {
    /// Commit subject for the sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_commit_subject: Option<String>,
    /// Commit body for the sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_commit_body: Option<String>,
}

/// Git layout preview.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LayoutPreview {
    /// Effective layout mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Effective layout content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Whether stale files are pruned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
    /// Up to three sample file paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 3), extend("x-kubernetes-list-type" = "atomic"))]
    pub sample_paths: Option<Vec<String>>,
}

/// Postgres preview.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PostgresPreview {
    /// The DDL an `ensure` sink would run.
    #[serde(
        default,
        rename = "expectedDDL",
        skip_serializing_if = "Option::is_none"
    )]
    pub expected_ddl: Option<String>,
}

/// MongoDB preview.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MongoDbPreview {
    /// Keys of the unique index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub expected_index_keys: Option<Vec<String>>,
}

/// Kafka preview.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaPreview {
    /// Destination topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
}
