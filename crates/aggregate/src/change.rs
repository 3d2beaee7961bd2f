//! Per-object change sets between two snapshots: what a sink that writes incrementally (a
//! database table, a per-object event stream) must add, update and remove.

use std::collections::{HashMap, HashSet};

use kollect_api::row::TargetRow;

use crate::snapshot::Snapshot;

/// Rows added, updated and removed since an older snapshot, each in canonical order.
///
/// Rows are identified by their store key (target namespace, target name, uid), as in the
/// store: a deleted and recreated object is a removal plus an addition. A row counts as updated
/// when anything exported about it changed (object namespace or name, kind, attributes); a new
/// resourceVersion alone is not a change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// Rows only in the newer snapshot.
    pub added: Vec<TargetRow>,
    /// Rows in both whose exported content differs (the newer version).
    pub updated: Vec<TargetRow>,
    /// Rows only in the older snapshot (their last version).
    pub removed: Vec<TargetRow>,
}

impl ChangeSet {
    /// The changes that turn `old` into `new`.
    pub fn between(old: &Snapshot, new: &Snapshot) -> Self {
        let before: HashMap<(&str, &str, &str), &TargetRow> =
            old.items().iter().map(|item| (item.key(), item)).collect();
        let mut seen = HashSet::with_capacity(new.len());
        let mut changes = Self::default();
        for item in new.items() {
            seen.insert(item.key());
            match before.get(&item.key()) {
                None => changes.added.push(item.clone()),
                Some(previous) if !same_export(previous, item) => {
                    changes.updated.push(item.clone());
                }
                Some(_) => {}
            }
        }
        changes.removed = old
            .items()
            .iter()
            .filter(|item| !seen.contains(&item.key()))
            .cloned()
            .collect();
        changes
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.updated.is_empty() && self.removed.is_empty()
    }

    /// Number of rows that changed.
    pub fn len(&self) -> usize {
        self.added.len() + self.updated.len() + self.removed.len()
    }
}

/// Whether two versions of a row export identically.
fn same_export(a: &TargetRow, b: &TargetRow) -> bool {
    // Rows that did not change are the store's same allocation in both snapshots.
    std::sync::Arc::ptr_eq(&a.row, &b.row) && a.kind == b.kind
        || a.kind == b.kind
            && a.row.namespace == b.row.namespace
            && a.row.name == b.row.name
            && a.row.attributes == b.row.attributes
}
