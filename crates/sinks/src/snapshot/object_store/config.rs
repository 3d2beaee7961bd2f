//! [`Config`]: a `KollectSnapshotSink` of type `s3` or `gcs`, parsed and validated once.
//!
//! ```text
//!  ResolvedSinkSpec ──Config::from_spec──> Config { location, prefix, format, compression,
//!   (spec, Secret, CA)                              path template, cluster, hot attributes, tls }
//! ```
//!
//! Every error names the field it comes from (`spec.endpoint: …`) and is a
//! [`SinkError::Misconfigured`]: a configuration that cannot work is terminal until the spec
//! changes.

use std::fmt;

use kollect_api::v1alpha1::{Compression as ApiCompression, SerializationFormat, SnapshotSinkSpec};
use kollect_export::{ResolvedSinkSpec, SinkError, SinkSpec, SinkType};
use rustls_pki_types::CertificateDer;

use super::{
    error::ConfigError,
    location::{Endpoint, Location},
};

/// Default object path for JSON, NDJSON and CSV (DECISIONS API 20).
pub const DEFAULT_PATH_TEMPLATE: &str = "inventory/{namespace}/{name}{extension}";

/// Attributes promoted to Parquet/CSV columns when `objectStore.hotAttributes` is empty.
pub const DEFAULT_HOT_ATTRIBUTES: [&str; 2] = ["image", "version"];

/// The placeholders a path template may use.
const PLACEHOLDERS: [&str; 5] = ["cluster", "namespace", "name", "generation", "extension"];

/// A validated object-store sink configuration.
#[derive(Clone, Debug)]
pub struct Config {
    sink_type: SinkType,
    location: Location,
    prefix: String,
    format: Format,
    compression: Compression,
    path_template: PathTemplate,
    cluster: Option<String>,
    hot_attributes: Vec<HotAttribute>,
    tls: Tls,
}

impl Config {
    /// Parses and validates the spec of a `KollectSnapshotSink` of type `s3` or `gcs`, with its
    /// resolved Secret and CA bundle.
    pub fn from_spec(resolved: &ResolvedSinkSpec) -> Result<Self, SinkError> {
        Self::parse(resolved).map_err(SinkError::from)
    }

    fn parse(resolved: &ResolvedSinkSpec) -> Result<Self, ConfigError> {
        let SinkSpec::Snapshot(spec) = resolved.spec() else {
            return Err(ConfigError::new(
                "spec.type",
                format!(
                    "the object-store backend builds snapshot sinks, not {} sinks",
                    resolved.spec().family()
                ),
            ));
        };
        let sink_type = SinkType::from(spec.sink_type);
        if !sink_type.is_object_store() {
            return Err(ConfigError::new(
                "spec.type",
                format!("the object-store backend builds s3 and gcs sinks, not {sink_type}"),
            ));
        }
        reject_foreign_blocks(spec)?;
        let endpoint = Endpoint::parse(sink_type, spec.common.endpoint.as_deref())?;
        let format = Format::from_effective(spec.effective_format())?;
        let compression = Compression::parse(
            format,
            spec.common
                .serialization
                .as_ref()
                .and_then(|s| s.compression),
        )?;
        let path_template = PathTemplate::parse(spec.common.path_template.as_deref())?;
        let hot_attributes = HotAttribute::parse_list(
            spec.object_store
                .as_ref()
                .and_then(|o| o.hot_attributes.as_deref()),
        )?;
        let tls = Tls::parse(spec, resolved.ca_bundle())?;
        let location = endpoint.into_location(
            sink_type,
            resolved.secrets(),
            spec.common.provisioning_mode(),
        )?;
        let cluster = spec
            .common
            .cluster
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        Ok(Self {
            sink_type,
            location: location.0,
            prefix: location.1,
            format,
            compression,
            path_template,
            cluster,
            hot_attributes,
            tls,
        })
    }

    /// `s3` or `gcs`.
    pub fn sink_type(&self) -> SinkType {
        self.sink_type
    }

    /// Where objects go.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The key prefix inside the bucket (or directory): no leading or trailing `/`, `""` for
    /// none.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The effective format (DECISIONS D1).
    pub fn format(&self) -> Format {
        self.format
    }

    /// The effective compression: of the whole object for JSON, NDJSON and CSV, of column
    /// chunks for Parquet.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The object path template of JSON, NDJSON and CSV exports (Parquet uses Hive-style keys).
    pub fn path_template(&self) -> &PathTemplate {
        &self.path_template
    }

    /// `spec.cluster`, trimmed; `None` when unset or blank.
    pub fn cluster(&self) -> Option<&str> {
        self.cluster.as_deref()
    }

    /// Attributes promoted to their own columns, in column order.
    pub fn hot_attributes(&self) -> &[HotAttribute] {
        &self.hot_attributes
    }

    /// Outbound TLS trust.
    pub fn tls(&self) -> &Tls {
        &self.tls
    }

    /// The bucket (or directory) and prefix, for display: `bucket/prefix`, no credentials.
    pub fn destination(&self) -> String {
        let root = match &self.location {
            Location::Local { root, .. } => root.display().to_string(),
            Location::S3 { bucket, .. } | Location::Gcs { bucket, .. } => bucket.clone(),
        };
        if self.prefix.is_empty() {
            root
        } else {
            format!("{root}/{}", self.prefix)
        }
    }
}

impl TryFrom<&ResolvedSinkSpec> for Config {
    type Error = SinkError;

    fn try_from(resolved: &ResolvedSinkSpec) -> Result<Self, Self::Error> {
        Self::from_spec(resolved)
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.location {
            Location::Local { .. } => "file",
            Location::S3 { .. } | Location::Gcs { .. } => self.sink_type.as_str(),
        };
        write!(f, "{kind}({})", self.destination())
    }
}

/// Blocks of other sink types, and layouts, do nothing here: refuse them rather than ignore
/// them (DECISIONS, "admit only what works").
fn reject_foreign_blocks(spec: &SnapshotSinkSpec) -> Result<(), ConfigError> {
    let foreign = [
        ("spec.git", spec.git.is_some()),
        ("spec.gitlab", spec.gitlab.is_some()),
        ("spec.http", spec.http.is_some()),
        ("spec.layout", spec.common.layout.is_some()),
    ];
    match foreign.into_iter().find(|(_, set)| *set) {
        Some((field, _)) => Err(ConfigError::new(
            field,
            format!("not allowed for type {}", spec.sink_type),
        )),
        None => Ok(()),
    }
}

/// The format objects are written in (DECISIONS D1: the effective format).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// The export envelope, as is.
    Json,
    /// One item per line.
    Ndjson,
    /// One row per item, with a header.
    Csv,
    /// Apache Parquet, one row per item.
    Parquet,
}

impl Format {
    fn from_effective(format: SerializationFormat) -> Result<Self, ConfigError> {
        match format {
            SerializationFormat::Json => Ok(Self::Json),
            SerializationFormat::Ndjson => Ok(Self::Ndjson),
            SerializationFormat::Csv => Ok(Self::Csv),
            SerializationFormat::Parquet => Ok(Self::Parquet),
            SerializationFormat::Yaml => Err(ConfigError::new(
                "spec.serialization.format",
                "yaml is not supported by object-store sinks (json, ndjson, csv, parquet)",
            )),
        }
    }

    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Ndjson => "ndjson",
            Self::Csv => "csv",
            Self::Parquet => "parquet",
        }
    }

    /// The file extension, with its dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Json => ".json",
            Self::Ndjson => ".ndjson",
            Self::Csv => ".csv",
            Self::Parquet => ".parquet",
        }
    }

    /// The `Content-Type` of an uncompressed object.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Ndjson => "application/x-ndjson",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Parquet => "application/vnd.apache.parquet",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compression: of the whole object for JSON, NDJSON and CSV; of the column chunks for Parquet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// None.
    None,
    /// gzip (`.gz`; Parquet: GZIP codec).
    Gzip,
    /// Zstandard (`.zst`; Parquet: ZSTD codec).
    Zstd,
    /// Snappy: Parquet only, and its default.
    Snappy,
}

impl Compression {
    /// Text formats default to none; Parquet defaults to Snappy, the Parquet ecosystem's default,
    /// and `none` written out means uncompressed.
    fn parse(format: Format, requested: Option<ApiCompression>) -> Result<Self, ConfigError> {
        let compression = match requested {
            None if format == Format::Parquet => Self::Snappy,
            None | Some(ApiCompression::None) => Self::None,
            Some(ApiCompression::Gzip) => Self::Gzip,
            Some(ApiCompression::Zstd) => Self::Zstd,
            Some(ApiCompression::Snappy) => Self::Snappy,
        };
        if compression == Self::Snappy && format != Format::Parquet {
            return Err(ConfigError::new(
                "spec.serialization.compression",
                format!("snappy is only supported with format parquet, not {format}"),
            ));
        }
        Ok(compression)
    }

    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
            Self::Snappy => "snappy",
        }
    }

    /// The suffix a compressed text object's key gets (`.gz`, `.zst`); Parquet keys get none.
    pub fn key_suffix(self, format: Format) -> &'static str {
        match (format, self) {
            (Format::Parquet, _) | (_, Self::None | Self::Snappy) => "",
            (_, Self::Gzip) => ".gz",
            (_, Self::Zstd) => ".zst",
        }
    }

    /// The `Content-Type` of an object of `format` compressed this way.
    pub fn content_type(self, format: Format) -> &'static str {
        match (format, self) {
            (Format::Parquet, _) | (_, Self::None | Self::Snappy) => format.content_type(),
            (_, Self::Gzip) => "application/gzip",
            (_, Self::Zstd) => "application/zstd",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated `spec.pathTemplate`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathTemplate(String);

/// The values a [`PathTemplate`] is rendered with.
#[derive(Clone, Copy, Debug)]
pub struct PathVars<'a> {
    /// `{cluster}`.
    pub cluster: &'a str,
    /// `{namespace}`: the inventory namespace, `cluster` for a cluster inventory.
    pub namespace: &'a str,
    /// `{name}`: the inventory name, with `.part-NNNN-of-MMMM` for a part of several.
    pub name: &'a str,
    /// `{generation}`.
    pub generation: i64,
    /// `{extension}`: the format's extension and the compression suffix (`.csv.gz`).
    pub extension: &'a str,
}

impl PathTemplate {
    const FIELD: &'static str = "spec.pathTemplate";

    fn parse(template: Option<&str>) -> Result<Self, ConfigError> {
        let template = template.map(str::trim).unwrap_or_default();
        if template.is_empty() {
            return Ok(Self(DEFAULT_PATH_TEMPLATE.to_owned()));
        }
        if template.starts_with('/') {
            return Err(ConfigError::new(Self::FIELD, "must not start with '/'"));
        }
        if template.contains("..") {
            return Err(ConfigError::new(Self::FIELD, "must not contain \"..\""));
        }
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or_else(|| {
                ConfigError::new(Self::FIELD, "has a '{' without its closing '}'")
            })?;
            let placeholder = &after[..close];
            if !PLACEHOLDERS.contains(&placeholder) {
                return Err(ConfigError::new(
                    Self::FIELD,
                    format!(
                        "unknown placeholder {{{placeholder}}} (allowed: {{cluster}}, \
                         {{namespace}}, {{name}}, {{generation}}, {{extension}})"
                    ),
                ));
            }
            rest = &after[close + 1..];
        }
        for required in ["{namespace}", "{name}"] {
            if !template.contains(required) {
                return Err(ConfigError::new(
                    Self::FIELD,
                    format!("must contain {required}"),
                ));
            }
        }
        Ok(Self(template.to_owned()))
    }

    /// The template text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Substitutes every placeholder (sinks spec §9.2 step 2).
    pub fn render(&self, vars: &PathVars<'_>) -> String {
        self.0
            .replace("{cluster}", vars.cluster)
            .replace("{namespace}", vars.namespace)
            .replace("{name}", vars.name)
            .replace("{generation}", &vars.generation.to_string())
            .replace("{extension}", vars.extension)
    }
}

/// An attribute promoted to its own column (`objectStore.hotAttributes`, sinks spec §9.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HotAttribute {
    key: String,
    column: String,
}

impl HotAttribute {
    const FIELD: &'static str = "spec.objectStore.hotAttributes";

    /// Trims, drops empty entries, removes case-insensitive duplicates (first spelling kept),
    /// sorts byte-wise; `[image, version]` when nothing is left. Two attributes that map to the
    /// same column are refused (the Go original silently kept one).
    fn parse_list(list: Option<&[String]>) -> Result<Vec<Self>, ConfigError> {
        let mut keys: Vec<&str> = Vec::new();
        for key in list.unwrap_or_default().iter().map(|k| k.trim()) {
            if !key.is_empty() && !keys.iter().any(|k| k.eq_ignore_ascii_case(key)) {
                keys.push(key);
            }
        }
        if keys.is_empty() {
            keys = DEFAULT_HOT_ATTRIBUTES.to_vec();
        }
        keys.sort_unstable();
        let attributes: Vec<Self> = keys.into_iter().map(Self::new).collect();
        for (index, attribute) in attributes.iter().enumerate() {
            if let Some(other) = attributes[..index]
                .iter()
                .find(|other| other.column == attribute.column)
            {
                return Err(ConfigError::new(
                    Self::FIELD,
                    format!(
                        "{:?} and {:?} both map to column {}",
                        other.key, attribute.key, attribute.column
                    ),
                ));
            }
        }
        Ok(attributes)
    }

    /// The attribute `key` and its column name.
    pub fn new(key: &str) -> Self {
        Self {
            key: key.to_owned(),
            column: column_name(key),
        }
    }

    /// The attribute key, looked up exactly (case-sensitive).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The column: `attr_` + the key lower-cased, `-`, `_` and `.` as `_`, other characters
    /// outside `a-z0-9` dropped; `attr_unknown` when nothing is left.
    pub fn column(&self) -> &str {
        &self.column
    }
}

fn column_name(key: &str) -> String {
    let mut name: String = key
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' => Some(c),
            '-' | '_' | '.' => Some('_'),
            _ => None,
        })
        .collect();
    if name.is_empty() {
        name.push_str("unknown");
    }
    format!("attr_{name}")
}

/// Outbound TLS trust for HTTPS endpoints (DECISIONS D12).
#[derive(Clone, Debug, Default)]
pub struct Tls {
    extra_roots: Vec<CertificateDer<'static>>,
    insecure_skip_verify: bool,
}

impl Tls {
    fn parse(spec: &SnapshotSinkSpec, ca_bundle: Option<&[u8]>) -> Result<Self, ConfigError> {
        let insecure_skip_verify = crate::tls::insecure_skip_verify(&spec.common);
        let extra_roots = match ca_bundle {
            None => Vec::new(),
            Some(pem) => crate::tls::pem_roots(pem)
                .map_err(|error| ConfigError::new("spec.tls", format!("the CA bundle: {error}")))?,
        };
        Ok(Self {
            extra_roots,
            insecure_skip_verify,
        })
    }

    /// CA certificates trusted besides the system's.
    pub fn extra_roots(&self) -> &[CertificateDer<'static>] {
        &self.extra_roots
    }

    /// Whether server certificates go unchecked (`spec.tls.insecureSkipVerify`).
    pub fn insecure_skip_verify(&self) -> bool {
        self.insecure_skip_verify
    }
}
