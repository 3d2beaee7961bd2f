//! The row store: for every target, the rows of the objects it currently selects, sharded by
//! target namespace (pipeline spec §1.6, §3.2). Nothing of the Kubernetes objects is kept but
//! their identity and extracted attributes.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use kollect_api::row::{Gvk, Row, TargetRow};
use tokio::sync::broadcast;

/// Namespaced and cluster targets have separate key spaces (DECISIONS API 24).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TargetScope {
    /// A `KollectTarget`; the key's namespace is the target's own.
    Namespaced,
    /// A `KollectClusterTarget` registration; the key's namespace is the workload namespace.
    Cluster,
}

/// Which target rows belong to: the store key's first two parts (the third is the object uid).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetKey {
    /// Namespaced target or cluster-target registration.
    pub scope: TargetScope,
    /// Target namespace (the workload namespace for cluster targets): the shard.
    pub namespace: Arc<str>,
    /// Target name.
    pub name: Arc<str>,
}

impl TargetKey {
    /// A `KollectTarget`'s key.
    pub fn namespaced(namespace: &str, name: &str) -> Self {
        Self {
            scope: TargetScope::Namespaced,
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The key of a `KollectClusterTarget`'s registration for one workload namespace.
    pub fn cluster(workload_namespace: &str, name: &str) -> Self {
        Self {
            scope: TargetScope::Cluster,
            namespace: workload_namespace.into(),
            name: name.into(),
        }
    }
}

#[derive(Debug)]
struct TargetEntry {
    gvk: Gvk,
    /// Rows by uid.
    rows: HashMap<Box<str>, Arc<Row>>,
    /// The same rows in canonical order within a target, so snapshots need no sort.
    ordered: BTreeSet<Ordered>,
}

impl TargetEntry {
    fn new(gvk: &Gvk) -> Self {
        Self {
            gvk: gvk.clone(),
            rows: HashMap::new(),
            ordered: BTreeSet::new(),
        }
    }

    /// An entry holding `rows` (a later row of the same uid wins). The order is built in one
    /// sort and a bulk load rather than row by row.
    fn from_rows(gvk: &Gvk, rows: Vec<Row>) -> Self {
        let rows: HashMap<Box<str>, Arc<Row>> = rows
            .into_iter()
            .map(|row| (row.uid.clone(), Arc::new(row)))
            .collect();
        let ordered = rows.values().map(|row| Ordered(Arc::clone(row))).collect();
        Self {
            gvk: gvk.clone(),
            rows,
            ordered,
        }
    }

    fn insert(&mut self, row: Arc<Row>) {
        if let Some(old) = self.rows.insert(row.uid.clone(), Arc::clone(&row)) {
            self.ordered.remove(&Ordered(old));
        }
        self.ordered.insert(Ordered(row));
    }

    fn remove(&mut self, uid: &str) -> bool {
        self.rows
            .remove(uid)
            .map(|old| self.ordered.remove(&Ordered(old)))
            .is_some()
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// A row ordered as items of one target are in an export: by namespace, name, then uid
/// (pipeline spec §3.6; the target and kind are the same for all of them).
#[derive(Debug)]
struct Ordered(Arc<Row>);

impl Ordered {
    fn key(&self) -> [&[u8]; 3] {
        [
            self.0.namespace.as_bytes(),
            self.0.name.as_bytes(),
            self.0.uid.as_bytes(),
        ]
    }
}

impl PartialEq for Ordered {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Ordered {}

impl PartialOrd for Ordered {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

#[derive(Debug, Default)]
struct Shard {
    /// Changes to the shard: a value from the store-wide sequence, so it never repeats even
    /// when the shard is removed and created again.
    counter: u64,
    targets: BTreeMap<TargetKey, TargetEntry>,
}

#[derive(Debug, Default)]
struct Inner {
    shards: BTreeMap<Arc<str>, Shard>,
    sequence: u64,
}

impl Inner {
    fn touch(&mut self, namespace: &Arc<str>) -> &mut Shard {
        self.sequence += 1;
        let sequence = self.sequence;
        let shard = self.shards.entry(Arc::clone(namespace)).or_default();
        shard.counter = sequence;
        shard
    }
}

/// How many namespace notifications a slow subscriber may miss before it is told it lagged
/// (it then re-reads every shard it cares about).
const NOTIFY_BUFFER: usize = 4096;

/// Rows of every target, sharded by target namespace. Cheap to share (`Arc<Store>`); all
/// methods take `&self`.
#[derive(Debug)]
pub struct Store {
    inner: RwLock<Inner>,
    changes: broadcast::Sender<Arc<str>>,
}

impl Default for Store {
    fn default() -> Self {
        Self {
            inner: RwLock::default(),
            changes: broadcast::channel(NOTIFY_BUFFER).0,
        }
    }
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn notify(&self, namespace: &Arc<str>) {
        // No subscriber is not an error.
        let _ = self.changes.send(Arc::clone(namespace));
    }

    /// Inserts or replaces the row of `row.uid` for `target`. The shard's counter moves even
    /// when the row is identical (a change was observed).
    pub fn upsert(&self, target: &TargetKey, gvk: &Gvk, row: Row) {
        {
            let mut inner = self.write();
            let shard = inner.touch(&target.namespace);
            let entry = shard
                .targets
                .entry(target.clone())
                .or_insert_with(|| TargetEntry::new(gvk));
            entry.gvk = gvk.clone();
            entry.insert(Arc::new(row));
        }
        self.notify(&target.namespace);
    }

    /// Runs `remove` on a shard; when it removed something, the shard's counter moves and
    /// subscribers hear of it. Emptied shards stay, so their counters never fall back to 0.
    fn remove_from(&self, namespace: &Arc<str>, remove: impl FnOnce(&mut Shard) -> bool) -> bool {
        let removed = {
            let mut inner = self.write();
            let removed = inner.shards.get_mut(namespace).is_some_and(remove);
            if removed {
                inner.touch(namespace);
            }
            removed
        };
        if removed {
            self.notify(namespace);
        }
        removed
    }

    /// Removes the row of `uid` for `target`; returns whether there was one.
    pub fn remove(&self, target: &TargetKey, uid: &str) -> bool {
        self.remove_from(&target.namespace, |shard| {
            shard
                .targets
                .get_mut(target)
                .is_some_and(|entry| entry.remove(uid))
        })
    }

    /// Replaces every row of `target` at once (after a relist): rows not in `rows` leave, so a
    /// relist never duplicates nor loses rows.
    pub fn replace_target(&self, target: &TargetKey, gvk: &Gvk, rows: Vec<Row>) {
        {
            let mut inner = self.write();
            let shard = inner.touch(&target.namespace);
            shard
                .targets
                .insert(target.clone(), TargetEntry::from_rows(gvk, rows));
        }
        self.notify(&target.namespace);
    }

    /// Removes every row of a target (unregistered, suspended, denied by its scope).
    pub fn remove_target(&self, target: &TargetKey) {
        self.remove_from(&target.namespace, |shard| {
            shard.targets.remove(target).is_some()
        });
    }

    /// Removes a whole shard (its namespace was deleted); other shards are untouched.
    pub fn remove_namespace(&self, namespace: &str) {
        self.remove_from(&Arc::from(namespace), |shard| {
            !std::mem::take(&mut shard.targets).is_empty()
        });
    }

    /// Rows in a shard.
    pub fn count(&self, namespace: &str) -> usize {
        self.read().shards.get(namespace).map_or(0, |shard| {
            shard.targets.values().map(TargetEntry::len).sum()
        })
    }

    /// The shard's change counter: changes whenever its rows may have; 0 for an unknown shard.
    /// Strictly increasing over the store's life, also across removal and re-creation.
    pub fn counter(&self, namespace: &str) -> u64 {
        self.read()
            .shards
            .get(namespace)
            .map_or(0, |shard| shard.counter)
    }

    /// Every row of a shard (all its targets): in canonical order within each target, targets
    /// in key order.
    pub fn snapshot(&self, namespace: &str) -> Vec<TargetRow> {
        self.versioned_snapshot(namespace).1
    }

    /// The rows of one target.
    pub fn target_rows(&self, target: &TargetKey) -> Vec<TargetRow> {
        let inner = self.read();
        inner
            .shards
            .get(&target.namespace)
            .and_then(|shard| shard.targets.get(target))
            .map(|entry| rows_of(target, entry).collect())
            .unwrap_or_default()
    }

    /// The shards that hold rows, in ascending order.
    pub fn namespaces(&self) -> Vec<Arc<str>> {
        self.read()
            .shards
            .iter()
            .filter(|(_, shard)| shard.targets.values().any(|e| !e.is_empty()))
            .map(|(namespace, _)| Arc::clone(namespace))
            .collect()
    }

    /// The rows of a shard that come from one kind of target: a `KollectInventory` exports only
    /// its namespace's namespaced targets (DECISIONS API 24).
    pub fn snapshot_of(&self, namespace: &str, scope: TargetScope) -> Vec<TargetRow> {
        self.read()
            .shards
            .get(namespace)
            .map(|shard| shard_rows(shard, Some(scope)))
            .unwrap_or_default()
    }

    /// The shard's counter and rows read together, so a cache keyed on the counter never holds
    /// rows of another state.
    pub fn versioned_snapshot(&self, namespace: &str) -> (u64, Vec<TargetRow>) {
        self.read()
            .shards
            .get(namespace)
            .map_or((0, Vec::new()), |shard| {
                (shard.counter, shard_rows(shard, None))
            })
    }

    /// Receives the target namespace of every change, for schedulers.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.changes.subscribe()
    }
}

/// The rows of a shard's targets, of one scope or of all.
fn shard_rows(shard: &Shard, scope: Option<TargetScope>) -> Vec<TargetRow> {
    shard
        .targets
        .iter()
        .filter(|(target, _)| scope.is_none_or(|scope| target.scope == scope))
        .flat_map(|(target, entry)| rows_of(target, entry))
        .collect()
}

fn rows_of<'a>(
    target: &'a TargetKey,
    entry: &'a TargetEntry,
) -> impl Iterator<Item = TargetRow> + 'a {
    entry.ordered.iter().map(move |Ordered(row)| TargetRow {
        target_namespace: Arc::clone(&target.namespace),
        target_name: Arc::clone(&target.name),
        kind: entry.gvk.clone(),
        row: Arc::clone(row),
    })
}

#[cfg(test)]
mod tests {
    use kollect_api::row::Attributes;

    use super::*;

    fn row(uid: &str, value: &str) -> Row {
        Row {
            namespace: "team-a".into(),
            name: format!("obj-{uid}").into(),
            uid: uid.into(),
            resource_version: "1".into(),
            attributes: Attributes::from_canonical(format!("{{\"v\":\"{value}\"}}")),
        }
    }

    fn gvk() -> Gvk {
        Gvk::new("apps", "v1", "Deployment")
    }

    #[test]
    fn sto_01_upsert_count_snapshot_remove_target() {
        let store = Store::new();
        let target = TargetKey::namespaced("team-a", "deployments");
        store.upsert(&target, &gvk(), row("u1", "a"));
        assert_eq!(store.count("team-a"), 1);
        assert_eq!(store.snapshot("team-a").len(), 1);
        store.remove_target(&target);
        assert_eq!(store.count("team-a"), 0);
    }

    #[test]
    fn sto_02_counters_move_on_every_change_and_never_repeat() {
        let store = Store::new();
        let a = TargetKey::namespaced("team-a", "t");
        let b = TargetKey::namespaced("team-b", "t");
        store.upsert(&a, &gvk(), row("u1", "a"));
        let first = store.counter("team-a");
        store.upsert(&a, &gvk(), row("u1", "a"));
        let second = store.counter("team-a");
        assert!(second > first, "identical upserts count too");
        store.upsert(&b, &gvk(), row("u2", "a"));
        assert_eq!(
            store.counter("team-a"),
            second,
            "other shards do not move it"
        );
        assert!(store.remove(&a, "u1"));
        assert!(!store.remove(&a, "u1"));
        let third = store.counter("team-a");
        assert!(third > second);
        store.remove_namespace("team-a");
        let emptied = store.counter("team-a");
        assert!(emptied > third, "removing a shard is a change too");
        assert_eq!(store.count("team-a"), 0);
        store.upsert(&a, &gvk(), row("u1", "a"));
        assert!(
            store.counter("team-a") > emptied,
            "a re-created shard never repeats a counter"
        );
    }

    #[test]
    fn sto_03_05_06_shards_are_isolated() {
        let store = Store::new();
        store.upsert(
            &TargetKey::namespaced("team-a", "t"),
            &gvk(),
            row("u1", "a"),
        );
        store.upsert(
            &TargetKey::namespaced("team-b", "t"),
            &gvk(),
            row("u2", "b"),
        );
        let a: Vec<_> = store
            .snapshot("team-a")
            .iter()
            .map(|r| r.row.uid.to_string())
            .collect();
        assert_eq!(a, ["u1"]);
        assert!(
            store
                .target_rows(&TargetKey::namespaced("team-a", "unknown"))
                .is_empty()
        );
        store.remove_namespace("team-a");
        assert_eq!(store.count("team-b"), 1);
        assert_eq!(store.namespaces(), vec![Arc::from("team-b")]);
    }

    #[test]
    fn sto_04_subscribers_get_the_target_namespace() {
        let store = Store::new();
        let mut changes = store.subscribe();
        store.upsert(
            &TargetKey::cluster("workload", "ct"),
            &gvk(),
            row("u1", "a"),
        );
        assert_eq!(&*changes.try_recv().unwrap(), "workload");
    }

    #[test]
    fn namespaced_and_cluster_targets_do_not_collide() {
        let store = Store::new();
        store.upsert(
            &TargetKey::namespaced("team-a", "same"),
            &gvk(),
            row("u1", "a"),
        );
        store.upsert(
            &TargetKey::cluster("team-a", "same"),
            &gvk(),
            row("u1", "b"),
        );
        assert_eq!(store.count("team-a"), 2);
    }

    #[test]
    fn rows_come_out_in_canonical_order_within_a_target() {
        let store = Store::new();
        let target = TargetKey::namespaced("team-a", "t");
        let named = |uid: &str, namespace: &str, name: &str| Row {
            namespace: namespace.into(),
            name: name.into(),
            ..row(uid, "x")
        };
        for (uid, namespace, name) in [
            ("u9", "b", "web"),
            ("u1", "a", "web"),
            ("u5", "a", "api"),
            ("u2", "a", "web"),
            ("u7", "", "node"),
        ] {
            store.upsert(&target, &gvk(), named(uid, namespace, name));
        }
        // A uid seen again under another name moves; a removed uid leaves the order too.
        store.upsert(&target, &gvk(), named("u9", "a", "aaa"));
        assert!(store.remove(&target, "u2"));
        let order: Vec<String> = store
            .snapshot("team-a")
            .iter()
            .map(|r| format!("{}/{}/{}", r.row.namespace, r.row.name, r.row.uid))
            .collect();
        assert_eq!(order, ["/node/u7", "a/aaa/u9", "a/api/u5", "a/web/u1"]);
        assert_eq!(store.count("team-a"), 4);
    }

    #[test]
    fn replacing_a_target_drops_rows_that_left() {
        let store = Store::new();
        let target = TargetKey::namespaced("team-a", "t");
        store.upsert(&target, &gvk(), row("gone", "a"));
        store.upsert(&target, &gvk(), row("kept", "a"));
        store.replace_target(&target, &gvk(), vec![row("kept", "b"), row("new", "c")]);
        let uids: Vec<_> = store
            .target_rows(&target)
            .iter()
            .map(|r| r.row.uid.to_string())
            .collect();
        assert_eq!(uids, ["kept", "new"]);
    }
}
