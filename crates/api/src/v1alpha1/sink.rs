//! Fields shared by the three family sink kinds: endpoint, credentials, TLS, serialization,
//! layout and provisioning.

use std::{borrow::Cow, collections::BTreeMap, fmt};

use base64::Engine as _;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::common::SecretReference;
use crate::duration::Duration;

/// Largest inline CA bundle accepted (64 KiB of PEM).
pub const MAX_CA_BUNDLE_BYTES: usize = 64 * 1024;

/// Fields inlined into every family sink spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SinkCommonSpec {
    /// Where data goes. Git: a remote URL (`https://host/org/repo.git`, `ssh://git@host/repo.git`
    /// or `git@host:org/repo.git`). S3: `s3://bucket/prefix` or `https://host[:port]/bucket/prefix`.
    /// GCS: `gs://bucket/prefix`. NATS: the server URL when `nats.url` is empty. Kafka: a broker
    /// when `kafka.brokers` is empty. Loopback, link-local, metadata and (by default) private
    /// addresses are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Secret holding the credentials (keys depend on the sink type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretReference>,
    /// Outbound TLS trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSpec>,
    /// Probe the backend on every reconcile of the sink (default true). The annotation
    /// `kollect.dev/test-connection: "true"` forces one probe when this is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_test: Option<bool>,
    /// Cluster name stamped on exports and used for `{cluster}` in paths (multi-cluster fan-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Snapshot sinks only: document or object path template. Placeholders `{cluster}`,
    /// `{namespace}`, `{name}`, `{generation}`, `{extension}`; must contain `{namespace}` and
    /// `{name}`. Default `inventory/{namespace}/{name}{extension}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub path_template: Option<String>,
    /// Default minimum time between exports of an unchanged snapshot for inventories that bind
    /// this sink without their own `exportMinInterval`. At most 24h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_min_interval: Option<Duration>,
    /// Wire format and compression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serialization: Option<SerializationSpec>,
    /// Git and GitLab sinks only: how the snapshot is laid out in the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<LayoutSpec>,
    /// Whether Kollect may create the destination (`ensure`) or only uses an existing one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning: Option<ProvisioningSpec>,
    /// Not supported: backend pass-through options. Setting any key is rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
}

impl SinkCommonSpec {
    /// Whether the sink is probed on every reconcile.
    pub fn connection_test(&self) -> bool {
        self.connection_test.unwrap_or(true)
    }

    /// The explicitly requested serialization format, if any.
    pub fn serialization_format(&self) -> Option<SerializationFormat> {
        self.serialization.as_ref().and_then(|s| s.format)
    }

    /// The requested compression (`none` when unset).
    pub fn compression(&self) -> Compression {
        self.serialization
            .as_ref()
            .and_then(|s| s.compression)
            .unwrap_or_default()
    }

    /// The provisioning mode (`ensure` when unset).
    pub fn provisioning_mode(&self) -> ProvisioningMode {
        self.provisioning
            .as_ref()
            .and_then(|p| p.mode)
            .unwrap_or_default()
    }
}

/// Outbound TLS trust.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TlsSpec {
    /// Skip certificate verification. Unsafe; the sink reports `TLSInsecure=True`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_verify: Option<bool>,
    /// Inline PEM CA bundle (base64 in JSON/YAML), at most 64 KiB. Not together with
    /// `caSecretRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<CaBundle>,
    /// Secret holding a PEM CA bundle under `ca.crt`, `tls.crt` or `ca.pem`. Not together with
    /// `caBundle`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretReference>,
}

/// PEM bytes carried base64-encoded (`format: byte`).
#[derive(Clone, PartialEq, Eq)]
pub struct CaBundle(pub Vec<u8>);

impl fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CaBundle({} bytes)", self.0.len())
    }
}

impl Serialize for CaBundle {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for CaBundle {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map(Self)
            .map_err(|error| {
                serde::de::Error::custom(format!(
                    "is not valid base64 ({error}); encode the PEM bundle, e.g. `base64 -w0 ca.pem`"
                ))
            })
    }
}

impl JsonSchema for CaBundle {
    fn schema_name() -> Cow<'static, str> {
        "CaBundle".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "byte",
            // Base64 of MAX_CA_BUNDLE_BYTES: 4 characters per started 3 bytes.
            "maxLength": MAX_CA_BUNDLE_BYTES.div_ceil(3) * 4,
        })
    }
}

/// Wire format and compression.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SerializationSpec {
    /// Format of exported files or messages. Default: `yaml` for git/gitlab, `json` otherwise.
    /// git/gitlab accept `json`, `yaml`, `ndjson`; s3/gcs accept `json`, `ndjson`, `csv`,
    /// `parquet`; database and event sinks accept only `json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<SerializationFormat>,
    /// Compression of exported files: `none` (default), `gzip` or `zstd`; `snappy` only with
    /// `parquet`. Snapshot sinks only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<Compression>,
}

/// Serialization format of exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SerializationFormat {
    /// One JSON document.
    Json,
    /// One YAML document (git/gitlab).
    Yaml,
    /// Apache Parquet (s3/gcs).
    Parquet,
    /// Comma-separated values (s3/gcs).
    Csv,
    /// Newline-delimited JSON.
    Ndjson,
}

impl SerializationFormat {
    /// The lower-case name used in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Yaml => "yaml",
            Self::Parquet => "parquet",
            Self::Csv => "csv",
            Self::Ndjson => "ndjson",
        }
    }

    /// File extension including the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Json => ".json",
            Self::Yaml => ".yaml",
            Self::Parquet => ".parquet",
            Self::Csv => ".csv",
            Self::Ndjson => ".ndjson",
        }
    }
}

impl fmt::Display for SerializationFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compression of exported files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// gzip.
    Gzip,
    /// Snappy (Parquet only).
    Snappy,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// The lower-case name used in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Zstd => "zstd",
        }
    }
}

/// Destination ownership.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningSpec {
    /// `ensure` (default) creates the destination if missing, never destructively; `existing`
    /// never creates anything and fails when the destination is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<ProvisioningMode>,
    /// Not supported: templated destination names. Setting it is rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub naming: Option<NamingSpec>,
}

/// Whether Kollect may create the destination.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProvisioningMode {
    /// Create the destination if missing.
    #[default]
    Ensure,
    /// Use an existing destination only.
    Existing,
}

impl ProvisioningMode {
    /// The lower-case name used in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ensure => "ensure",
            Self::Existing => "existing",
        }
    }
}

/// Reserved destination naming settings (not supported).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamingSpec {
    /// Reserved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

/// Repository layout of a Git or GitLab snapshot sink.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LayoutSpec {
    /// `document`: one file per inventory; `perResource`: one file per row; `split`: an index
    /// file plus one file per row. Tree layouts prune files of rows that left.
    #[serde(default)]
    pub mode: LayoutMode,
    /// Per-file payload: the full row (`item`), its attributes only (`attributes`) or the native
    /// object (`manifest`, needs a profile with `export.mode: Resource`).
    #[serde(default)]
    pub content: LayoutContent,
    /// Per-row path in `perResource`/`split` mode. Placeholders `{cluster}`, `{namespace}`,
    /// `{name}`, `{targetNamespace}`, `{targetName}`, `{sourceNamespace}`, `{sourceName}`,
    /// `{group}`, `{kind}`, `{uid}`, `{generation}`, `{extension}`; must contain `{sourceName}`,
    /// `{name}` or `{uid}`. Default `{cluster}/{sourceNamespace}/{kind}/{sourceName}{extension}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub path_template: Option<String>,
    /// Index sidecar settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<LayoutIndexSpec>,
    /// File name rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<FilenameSpec>,
}

/// Git layout mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum LayoutMode {
    /// One file per inventory.
    #[default]
    Document,
    /// One file per row.
    PerResource,
    /// An index file plus one file per row.
    Split,
}

impl LayoutMode {
    /// The name used in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Document => "document",
            Self::PerResource => "perResource",
            Self::Split => "split",
        }
    }
}

/// Per-file payload of a Git layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum LayoutContent {
    /// The full row.
    #[default]
    Item,
    /// The attribute map only.
    Attributes,
    /// The native object.
    Manifest,
}

/// Index sidecar of a Git layout.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LayoutIndexSpec {
    /// Write the index file (default: true in `split` mode, else false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Index path; same placeholders and rules as `spec.pathTemplate`. Default
    /// `inventory/{namespace}/{name}{extension}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub path_template: Option<String>,
}

/// File name rules of a Git layout.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FilenameSpec {
    /// `{group}` segment policy: `auto` (default) omits it for core kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_in_path: Option<GroupInPath>,
    /// Lower-case `{kind}` (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lowercase_kind: Option<bool>,
    /// Longest path segment before truncation (default 63).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_segment_length: Option<i32>,
}

/// `{group}` segment policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupInPath {
    /// Omit the group for core kinds.
    #[default]
    Auto,
    /// Always write the group.
    Always,
    /// Never write the group.
    Never,
}
