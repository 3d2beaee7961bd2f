//! Per-object change sets between two snapshots: what a sink that writes incrementally (a
//! database table, a per-object event stream) must add, update and remove.

use std::{
    cmp::Ordering,
    collections::{HashMap, HashSet},
};

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
    ///
    /// Both snapshots are in canonical order, so one merge walk pairs most rows without
    /// hashing (a 100k-row comparison is a few milliseconds); the few rows left over on each
    /// side are then paired by store key, which catches an object whose exported namespace or
    /// name changed under the same uid.
    pub fn between(old: &Snapshot, new: &Snapshot) -> Self {
        let (before, after) = (old.items(), new.items());
        let mut changes = Self::default();
        let mut gone: Vec<&TargetRow> = Vec::new();
        let mut came: Vec<&TargetRow> = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < before.len() && j < after.len() {
            let (a, b) = (&before[i], &after[j]);
            // The same allocation from the store: the same object, unchanged.
            if std::sync::Arc::ptr_eq(&a.row, &b.row)
                && a.target_name == b.target_name
                && a.target_namespace == b.target_namespace
                && a.kind == b.kind
            {
                i += 1;
                j += 1;
                continue;
            }
            match a.item().canonical_cmp(&b.item()) {
                Ordering::Less => {
                    gone.push(a);
                    i += 1;
                }
                Ordering::Greater => {
                    came.push(b);
                    j += 1;
                }
                Ordering::Equal => {
                    if !same_export(a, b) {
                        changes.updated.push(b.clone());
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        gone.extend(&before[i..]);
        came.extend(&after[j..]);
        if gone.is_empty() || came.is_empty() {
            changes.removed = gone.into_iter().cloned().collect();
            changes.added = came.into_iter().cloned().collect();
            return changes;
        }
        let left: HashMap<(&str, &str, &str), &TargetRow> =
            gone.iter().map(|item| (item.key(), *item)).collect();
        let mut paired = HashSet::new();
        let mut moved = false;
        for item in came {
            match left.get(&item.key()) {
                Some(previous) => {
                    paired.insert(item.key());
                    if !same_export(previous, item) {
                        changes.updated.push(item.clone());
                        moved = true;
                    }
                }
                None => changes.added.push(item.clone()),
            }
        }
        if moved {
            changes
                .updated
                .sort_by(|a, b| a.item().canonical_cmp(&b.item()));
        }
        changes.removed = gone
            .into_iter()
            .filter(|item| !paired.contains(&item.key()))
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
