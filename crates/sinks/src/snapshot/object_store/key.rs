//! Object keys (sinks spec §9.2): where each part of an export goes, and where the export
//! marker of the series lives.
//!
//! ```text
//! Parquet                <prefix>/inventory/cluster=<C>/ns=<NS>/name=<NAME>/generation=<G>.parquet
//! JSON, NDJSON, CSV      <prefix>/<pathTemplate>     default inventory/{namespace}/{name}{extension}
//! part i of n (n > 1)    NAME becomes <name>.part-000i-of-000n                       (§1.8, D9)
//! export marker          <prefix>/.kollect/<key of the single-part export>.export.json
//! ```

use kollect_export::ExportBatch;

use super::{
    config::{Config, Format, PathVars},
    location::clean_key,
};

/// The directory of export markers under the prefix: hidden from Hive-style readers (Spark,
/// DuckDB and pyarrow skip `.`-prefixed directories) and from the data's key layout.
pub(crate) const MARKER_DIRECTORY: &str = ".kollect";

/// The suffix of an export marker's key.
pub(crate) const MARKER_SUFFIX: &str = ".export.json";

/// The keys of one export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyPlan {
    /// The key a single-part export would have: names the series the marker tracks.
    pub(crate) base: String,
    /// The export marker's key.
    pub(crate) marker: String,
    /// One key per part, in part order, with the inventory name the part's rows carry.
    pub(crate) parts: Vec<PartKey>,
}

/// The key of one part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PartKey {
    pub(crate) key: String,
    /// The inventory name of the part (`apps.part-0001-of-0003` for a part of several).
    pub(crate) inventory_name: String,
}

impl KeyPlan {
    /// The keys of `batch` split into `total` parts.
    pub(crate) fn new(config: &Config, batch: &ExportBatch, total: usize) -> Result<Self, String> {
        let name = batch.inventory().name().as_str();
        let base = object_key(config, batch, name)?;
        let relative_base = base
            .strip_prefix(config.prefix())
            .unwrap_or(&base)
            .trim_start_matches('/');
        let marker = join(
            config.prefix(),
            &format!("{MARKER_DIRECTORY}/{relative_base}{MARKER_SUFFIX}"),
        )?;
        let parts = (1..=total.max(1))
            .map(|index| {
                let inventory_name = part_name(name, index, total);
                object_key(config, batch, &inventory_name).map(|key| PartKey {
                    key,
                    inventory_name,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            base,
            marker,
            parts,
        })
    }
}

/// `<name>.part-NNNN-of-MMMM` for a part of several, else `<name>` (sinks spec §1.7, §1.8).
pub(crate) fn part_name(name: &str, index: usize, total: usize) -> String {
    if total <= 1 {
        name.to_owned()
    } else {
        format!("{name}.part-{index:04}-of-{total:04}")
    }
}

/// The key of the object holding inventory `name` (a part name for parts of several).
fn object_key(config: &Config, batch: &ExportBatch, name: &str) -> Result<String, String> {
    let cluster = batch.cluster_or(config.cluster());
    let namespace = batch.inventory().path_namespace();
    let relative = match config.format() {
        Format::Parquet => format!(
            "inventory/cluster={}/ns={}/name={}/generation={}.parquet",
            hive_value(cluster),
            hive_value(namespace),
            hive_value(name),
            batch.generation()
        ),
        format => {
            let extension = format!(
                "{}{}",
                format.extension(),
                config.compression().key_suffix(format)
            );
            let rendered = config.path_template().render(&PathVars {
                cluster,
                namespace,
                name,
                generation: batch.generation(),
                extension: &extension,
            });
            if clean_key(&rendered)?.is_empty() {
                format!("inventory/latest{extension}")
            } else {
                rendered
            }
        }
    };
    join(config.prefix(), &relative)
}

/// A Hive partition value (sinks spec §9.2): trimmed, every run of characters outside
/// `[A-Za-z0-9._-]` replaced by one `_`.
pub(crate) fn hive_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut in_run = false;
    for c in value.trim().chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    out
}

/// `prefix/relative`, cleaned of `.` segments and duplicate separators.
fn join(prefix: &str, relative: &str) -> Result<String, String> {
    clean_key(&format!("{prefix}/{relative}"))
}
