//! Snapshots of store shards, built once per shard state (pipeline spec §8.14 DEB-10).
//!
//! A store shard's counter moves on every change, so `(shard, counter)` names one set of rows.
//! Every binding and every retry that asks for the same state gets the same snapshot and
//! fingerprint without sorting, encoding or hashing again.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use kollect_api::row::TargetRow;

use crate::snapshot::Snapshot;

/// One shard state: its snapshot and fingerprint.
#[derive(Clone, Debug)]
pub struct CachedSnapshot {
    /// The shard counter the rows were read at.
    pub counter: u64,
    /// The rows, in canonical order.
    pub snapshot: Arc<Snapshot>,
    /// The items fingerprint of the rows.
    pub fingerprint: Arc<str>,
}

/// Snapshots keyed by shard (`K`, e.g. a namespace), each valid for one counter value.
#[derive(Debug)]
pub struct SnapshotCache<K> {
    entries: Mutex<HashMap<K, CachedSnapshot>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<K> Default for SnapshotCache<K> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }
}

impl<K: Hash + Eq + Clone> SnapshotCache<K> {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The snapshot of `shard` at `counter`. On a miss, `read` returns the rows together with the
    /// counter they were read at (the store may have moved on since `counter` was read); the
    /// result is kept under that counter. No lock is held while `read` runs or the snapshot is
    /// built, so other shards are never held up.
    pub fn get(
        &self,
        shard: &K,
        counter: u64,
        read: impl FnOnce() -> (u64, Vec<TargetRow>),
    ) -> CachedSnapshot {
        let cached = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(shard)
            .filter(|cached| cached.counter == counter)
            .cloned();
        if let Some(cached) = cached {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return cached;
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let (counter, rows) = read();
        let snapshot = Snapshot::new(rows);
        let built = CachedSnapshot {
            counter,
            fingerprint: snapshot.fingerprint().into(),
            snapshot: Arc::new(snapshot),
        };
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        // Never replace a newer state with an older one built concurrently.
        match entries.get(shard) {
            Some(newer) if newer.counter > built.counter => newer.clone(),
            _ => {
                entries.insert(shard.clone(), built.clone());
                built
            }
        }
    }

    /// Drops a shard (its namespace or inventory went away).
    pub fn forget(&self, shard: &K) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(shard);
    }

    /// `(hits, misses)` so far, for metrics.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::{cell::Cell, sync::Arc};

    use kollect_api::row::{Attributes, Gvk, Row, TargetRow};

    use super::*;

    fn rows(value: &str) -> Vec<TargetRow> {
        vec![TargetRow {
            target_namespace: "team-a".into(),
            target_name: "t".into(),
            kind: Gvk::new("", "v1", "ConfigMap"),
            row: Arc::new(Row {
                namespace: "team-a".into(),
                name: "c".into(),
                uid: "u".into(),
                resource_version: "1".into(),
                attributes: Attributes::from_canonical(format!("{{\"v\":\"{value}\"}}")),
            }),
        }]
    }

    #[test]
    fn deb_10_one_build_per_shard_state() {
        let cache = SnapshotCache::new();
        let reads = Cell::new(0);
        let read = |counter: u64, value: &'static str| {
            let reads = &reads;
            move || {
                reads.set(reads.get() + 1);
                (counter, rows(value))
            }
        };
        // Two reconciles without a change: one miss, one hit, one build.
        let first = cache.get(&"team-a", 1, read(1, "a"));
        let again = cache.get(&"team-a", 1, read(1, "a"));
        assert_eq!(reads.get(), 1);
        assert_eq!(cache.stats(), (1, 1));
        assert!(Arc::ptr_eq(&first.snapshot, &again.snapshot));
        // The counter moved: built again, and the fingerprint follows the rows.
        let moved = cache.get(&"team-a", 2, read(2, "b"));
        assert_eq!(reads.get(), 2);
        assert_ne!(moved.fingerprint, first.fingerprint);
        // Shards are independent.
        cache.get(&"team-b", 2, read(2, "a"));
        assert_eq!(reads.get(), 3);
        assert_eq!(cache.get(&"team-a", 2, read(2, "b")).counter, 2);
        assert_eq!(cache.stats(), (2, 3));
    }

    #[test]
    fn rows_read_later_than_asked_are_kept_under_their_own_counter() {
        let cache = SnapshotCache::new();
        // Asked at 4, the store had moved to 5 when read.
        let built = cache.get(&"ns", 4, || (5, rows("x")));
        assert_eq!(built.counter, 5);
        let hit = cache.get(&"ns", 5, || unreachable!("kept under counter 5"));
        assert_eq!(hit.fingerprint, built.fingerprint);
        // An older state built concurrently never replaces the newer one.
        let older = cache.get(&"ns", 3, || (3, rows("old")));
        assert_eq!(older.counter, 5);
        cache.forget(&"ns");
        assert_eq!(cache.get(&"ns", 5, || (5, rows("y"))).counter, 5);
        assert_eq!(cache.stats().1, 3);
    }
}
