//! `KollectSnapshotSink`: Git, GitLab, S3 and GCS destinations for inventory snapshots.

use std::fmt;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    common::SecretReference,
    sink::{SerializationFormat, SinkCommonSpec},
    sink_status::FamilySinkStatus,
};

/// A destination for inventory snapshots: a Git history that diffs cleanly, or files in object
/// storage.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "kollect.dev",
    version = "v1alpha1",
    derive = "PartialEq",
    kind = "KollectSnapshotSink",
    plural = "kollectsnapshotsinks",
    namespaced,
    status = "FamilySinkStatus",
    shortname = "ksnap",
    doc = "KollectSnapshotSink is a snapshot destination (Git, GitLab, S3 or GCS). Inventories in \
           the same namespace bind it through snapshotSinkRefs."
)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotSinkSpec {
    /// Backend: `git`, `gitlab`, `s3` or `gcs`.
    #[serde(rename = "type")]
    pub sink_type: SnapshotSinkType,
    /// Fields shared by all sinks.
    #[serde(flatten)]
    pub common: SinkCommonSpec,
    /// Git settings (`type: git`; an omitted block means all defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSpec>,
    /// GitLab settings (`type: gitlab`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitlab: Option<GitLabSpec>,
    /// Object-store settings (`type: s3` or `gcs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_store: Option<ObjectStoreSpec>,
    /// Reserved for an HTTP sink type, which is not supported. Setting it is rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpSinkSpec>,
}

impl SnapshotSinkSpec {
    /// The effective serialization format: `serialization.format`, else `objectStore.format`,
    /// else `yaml` for git/gitlab and `json` for object stores.
    pub fn effective_format(&self) -> SerializationFormat {
        if let Some(format) = self.common.serialization_format() {
            return format;
        }
        if let Some(format) = self.object_store.as_ref().and_then(|o| o.format) {
            return format.into();
        }
        if self.sink_type.is_git() {
            SerializationFormat::Yaml
        } else {
            SerializationFormat::Json
        }
    }
}

/// Snapshot sink backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotSinkType {
    /// A Git remote.
    Git,
    /// A GitLab project (REST API).
    Gitlab,
    /// S3 or an S3-compatible store.
    S3,
    /// Google Cloud Storage.
    Gcs,
}

impl SnapshotSinkType {
    /// Every type, in the order error messages list them.
    pub const ALL: [Self; 4] = [Self::Git, Self::Gitlab, Self::S3, Self::Gcs];

    /// The lower-case name used in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Git => "git",
            Self::Gitlab => "gitlab",
            Self::S3 => "s3",
            Self::Gcs => "gcs",
        }
    }

    /// True for `git` and `gitlab`.
    pub fn is_git(self) -> bool {
        matches!(self, Self::Git | Self::Gitlab)
    }

    /// Formats this type can write.
    pub fn accepted_formats(self) -> &'static [SerializationFormat] {
        use SerializationFormat::{Csv, Json, Ndjson, Parquet, Yaml};
        if self.is_git() {
            &[Json, Yaml, Ndjson]
        } else {
            &[Json, Ndjson, Csv, Parquet]
        }
    }
}

impl fmt::Display for SnapshotSinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Git settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitSpec {
    /// Branch to commit to (default: the remote's default branch). A short name such as `main`,
    /// not `refs/heads/main`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 255),
        regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
    )]
    pub branch: Option<String>,
    /// `Commit` (default) appends commits; `ForcePush` replaces the branch with one snapshot
    /// commit (history is lost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_policy: Option<PushPolicy>,
    /// Credentials for the remote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<GitAuthSpec>,
    /// Commit subject template. Placeholders: `{namespace}`, `{name}`, `{cluster}`,
    /// `{generation}`, `{itemCount}`, `{checksum}`, `{checksumShort}`, `{exportedAt}`, `{sink}`,
    /// `{path}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_message: Option<String>,
    /// Commit body template; same placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_body: Option<String>,
    /// Extra commit trailers, e.g. `Kollect-Checksum: {checksum}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_trailers: Option<Vec<String>>,
    /// Commit author (default `kollect <kollect@kollect.dev>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<GitAuthor>,
    /// Fetch depth when reading the remote (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub clone_depth: Option<i32>,
    /// Delete files Kollect wrote earlier that are no longer part of the snapshot (always on for
    /// tree layouts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
    /// Git implementation. Only `go-git` (Kollect's in-process Git) is supported; `cli` is
    /// rejected because Kollect never runs a `git` binary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<GitEngine>,
    /// Send the HTTPS credentials with the first request instead of waiting for a challenge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_basic_auth: Option<bool>,
}

/// How commits reach the branch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum PushPolicy {
    /// Append a commit.
    #[default]
    Commit,
    /// Overwrite the branch.
    ForcePush,
}

/// Git credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitAuthSpec {
    /// `token` (HTTPS token or basic auth; default for HTTPS remotes) or `ssh` (default for SSH
    /// remotes).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<GitAuthType>,
    /// Secret with `username`/`password`/`token`, or `ssh-privatekey` and `known_hosts`.
    /// Overrides `spec.secretRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretReference>,
}

/// Git credential type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GitAuthType {
    /// HTTPS token or basic auth.
    Token,
    /// SSH key.
    Ssh,
}

/// Commit author.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitAuthor {
    /// Author name (default `kollect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Author email (default `kollect@kollect.dev`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// Git implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum GitEngine {
    /// The in-process implementation.
    #[serde(rename = "go-git")]
    GoGit,
    /// The `git` command-line tool (not supported).
    #[serde(rename = "cli")]
    Cli,
}

/// GitLab settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitLabSpec {
    /// How changes reach the target branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_request: Option<MergeRequestSpec>,
}

/// GitLab merge-request settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MergeRequestSpec {
    /// `direct` commits to the branch; `merge_request` opens a merge request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<MergeRequestMode>,
    /// Branch the merge request targets. Required with `mode: merge_request`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_branch: Option<String>,
    /// Prefix of the source branch name (default `kollect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_prefix: Option<String>,
    /// Merge-request title template; placeholders `{namespace}`, `{name}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_template: Option<String>,
    /// Merge automatically once the pipeline succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_merge: Option<bool>,
}

/// GitLab delivery mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MergeRequestMode {
    /// Commit to the branch.
    Direct,
    /// Open a merge request.
    MergeRequest,
}

/// Object-store settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStoreSpec {
    /// Legacy format switch; `spec.serialization.format` takes precedence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ObjectStoreFormat>,
    /// Attribute keys promoted to typed Parquet columns (default `image`, `version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub hot_attributes: Option<Vec<String>>,
}

/// Legacy object-store format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ObjectStoreFormat {
    /// JSON.
    Json,
    /// Apache Parquet.
    Parquet,
}

impl From<ObjectStoreFormat> for SerializationFormat {
    fn from(format: ObjectStoreFormat) -> Self {
        match format {
            ObjectStoreFormat::Json => Self::Json,
            ObjectStoreFormat::Parquet => Self::Parquet,
        }
    }
}

/// Reserved HTTP sink settings (not supported).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpSinkSpec {
    /// Reserved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}
