//! The database row model shared by the database backends (sinks spec §10).

use kollect_api::row::TargetRow;
use kollect_export::{ExportBatch, RowCap, Secrets, SinkError};

/// The rows an export owns: everything of one inventory for one cluster. Deletes never reach
/// past it, so two clusters (or two inventories) sharing a table never remove each other's rows.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    /// `inventory_namespace`: the inventory's namespace, `cluster` for cluster inventories
    /// (DECISIONS D31).
    pub namespace: String,
    /// `inventory_name`: the inventory's name (never a part suffix: database exports are not
    /// split).
    pub name: String,
    /// `cluster`: the batch's cluster (CLI mode), else the sink's trimmed `spec.cluster`, else
    /// the empty string (not `default`, sinks spec §10).
    pub cluster: String,
}

impl Partition {
    /// The partition `batch` writes, for a sink whose `spec.cluster` is `sink_cluster`.
    pub fn of(batch: &ExportBatch, sink_cluster: Option<&str>) -> Self {
        let cluster = [Some(batch.cluster()), sink_cluster]
            .into_iter()
            .flatten()
            .map(str::trim)
            .find(|c| !c.is_empty())
            .unwrap_or_default();
        Self {
            namespace: batch.inventory().path_namespace().to_owned(),
            name: batch.inventory().name().to_string(),
            cluster: cluster.to_owned(),
        }
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)?;
        if !self.cluster.is_empty() {
            write!(f, " (cluster {})", self.cluster)?;
        }
        Ok(())
    }
}

/// One item as a database row: the columns of sinks spec §10 except the partition's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseRow<'a> {
    /// The item.
    pub item: &'a TargetRow,
    /// `resource_namespace`: the object's namespace, or the inventory's for cluster-scoped
    /// objects.
    pub resource_namespace: &'a str,
    /// `payload`: the item's canonical JSON (§1.1), exactly the bytes an envelope carries.
    pub payload: String,
}

impl<'a> DatabaseRow<'a> {
    /// The row of `item` in `partition`, checked against the batch's byte cap: an item whose
    /// envelope alone would exceed it fails with [`SinkError::PayloadTooLarge`] (DECISIONS Q1).
    pub fn encode(
        cap: &RowCap,
        partition: &'a Partition,
        item: &'a TargetRow,
    ) -> Result<Self, SinkError> {
        let payload = item.encode();
        cap.check(item, payload.len()).map_err(SinkError::from)?;
        Ok(Self {
            item,
            resource_namespace: resource_namespace(item, partition),
            payload,
        })
    }

    /// `target_name`.
    pub fn target_name(&self) -> &str {
        &self.item.target_name
    }

    /// `source_uid`.
    pub fn source_uid(&self) -> &str {
        &self.item.row.uid
    }
}

/// `resource_namespace` of `item`: its namespace, or the inventory namespace when it has none.
fn resource_namespace<'a>(item: &'a TargetRow, partition: &'a Partition) -> &'a str {
    if item.row.namespace.is_empty() {
        &partition.namespace
    } else {
        &item.row.namespace
    }
}

/// The first non-empty value of `keys` in the sink's Secret, trimmed, as text. `what` names the
/// reference (`postgres databaseRef`) in the errors, which never show a value.
pub(crate) fn connection_string(
    secrets: &Secrets,
    keys: &[&str],
    what: &str,
) -> Result<String, SinkError> {
    if secrets == &Secrets::default() {
        return Err(SinkError::misconfigured(format!(
            "{what} secret is empty: put the connection string under one of the keys {}",
            keys.join(", ")
        )));
    }
    // The first key whose value is not blank (sinks spec §2.5, trimmed).
    let value = keys
        .iter()
        .filter_map(|key| secrets.get(key))
        .find(|value| !value.trim_ascii().is_empty());
    let Some(value) = value else {
        return Err(SinkError::misconfigured(format!(
            "{what} secret must contain one of the keys {} (none is set or all are blank)",
            keys.join(", ")
        )));
    };
    let text = std::str::from_utf8(value)
        .map_err(|_| {
            SinkError::misconfigured(format!(
                "{what} secret: the connection string is not UTF-8 text"
            ))
        })?
        .trim();
    Ok(text.to_owned())
}
