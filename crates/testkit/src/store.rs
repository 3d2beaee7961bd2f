//! Object storage: one global resourceVersion counter, objects kept as serialized JSON, and a
//! bounded event history per resource that serves watches, consistent pagination and exact
//! reads at an older resourceVersion.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    ops::Bound::{Excluded, Included, Unbounded},
    sync::{Arc, OnceLock},
};

use bytes::Bytes;
use serde_json::{Map, Value};
use tokio::sync::broadcast;

use crate::resources::{GroupResource, Registry};

/// (namespace, name); namespace is empty for cluster-scoped objects.
pub(crate) type Key = (String, String);

/// Fields a field selector may use besides `metadata.name` and `metadata.namespace`.
pub(crate) const POD_FIELDS: &[&str] = &[
    "status.phase",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "status.podIP",
    "status.nominatedNodeName",
];

/// An object as stored: its JSON bytes plus what selectors need without parsing.
#[derive(Debug)]
pub(crate) struct Stored {
    /// The object's resourceVersion.
    pub(crate) rv: u64,
    /// The whole object, serialized.
    pub(crate) json: Bytes,
    /// `metadata.labels`, when any.
    pub(crate) labels: Option<Map<String, Value>>,
    /// Selectable fields beyond name and namespace (pods), as (field, value).
    pub(crate) fields: Vec<(&'static str, String)>,
    /// The `PartialObjectMetadata` form, made on first use.
    metadata: OnceLock<Bytes>,
}

impl Stored {
    /// Stores `object`, whose `metadata.resourceVersion` must already be `rv`.
    pub(crate) fn new(object: &Value, rv: u64) -> Self {
        let json = Bytes::from(serde_json::to_vec(object).unwrap_or_default());
        let labels = object
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .filter(|m| !m.is_empty())
            .cloned();
        let fields = if object.get("kind").and_then(Value::as_str) == Some("Pod") {
            POD_FIELDS
                .iter()
                .map(|field| {
                    let pointer = format!("/{}", field.replace('.', "/"));
                    let value = object
                        .pointer(&pointer)
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    (*field, value.to_owned())
                })
                .collect()
        } else {
            Vec::new()
        };
        Self {
            rv,
            json,
            labels,
            fields,
            metadata: OnceLock::new(),
        }
    }

    /// The object, parsed.
    pub(crate) fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }

    /// The object as `PartialObjectMetadata`.
    pub(crate) fn metadata_json(&self) -> Bytes {
        self.metadata
            .get_or_init(|| {
                let object = self.value();
                let meta = serde_json::json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": object.get("metadata").cloned().unwrap_or(Value::Null),
                });
                Bytes::from(serde_json::to_vec(&meta).unwrap_or_default())
            })
            .clone()
    }

    /// The value of a selectable field.
    pub(crate) fn field(&self, key: &Key, field: &str) -> String {
        match field {
            "metadata.name" => key.1.clone(),
            "metadata.namespace" => key.0.clone(),
            _ => self
                .fields
                .iter()
                .find(|(name, _)| *name == field)
                .map(|(_, value)| value.clone())
                .unwrap_or_default(),
        }
    }
}

/// What happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventKind {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
}

impl EventKind {
    /// The watch event type.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One change, kept in the history and sent to watchers.
#[derive(Debug)]
pub(crate) struct Event {
    /// resourceVersion of the change.
    pub(crate) rv: u64,
    /// What happened.
    pub(crate) kind: EventKind,
    /// Which object.
    pub(crate) key: Key,
    /// The object after the change (for deletions: the last state, with the deletion's rv).
    pub(crate) object: Arc<Stored>,
    /// The object before the change, if it existed.
    pub(crate) prev: Option<Arc<Stored>>,
}

/// One page of a list.
#[derive(Debug, Default)]
pub(crate) struct Page {
    /// The objects, in key order.
    pub(crate) items: Vec<Arc<Stored>>,
    /// Key of the last object, where the next page starts.
    pub(crate) last: Option<Key>,
    /// Objects after this page.
    pub(crate) remaining: usize,
}

/// The objects of one resource.
#[derive(Debug)]
pub(crate) struct Collection {
    /// Current objects.
    pub(crate) objects: BTreeMap<Key, Arc<Stored>>,
    /// Recent events, oldest first.
    history: VecDeque<Arc<Event>>,
    /// Events with an rv at or below this are gone from the history.
    compacted: u64,
    /// Live watchers.
    pub(crate) tx: broadcast::Sender<Arc<Event>>,
}

/// How many events a slow watcher may fall behind before its watch is closed (it then re-watches
/// from its last resourceVersion, as clients of a real apiserver do).
const WATCH_BUFFER: usize = 16 * 1024;

impl Collection {
    fn new(compacted: u64) -> Self {
        Self {
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            compacted,
            tx: broadcast::channel(WATCH_BUFFER).0,
        }
    }

    /// Events after `rv`, or `None` when the history no longer reaches back to `rv`.
    pub(crate) fn events_after(&self, rv: u64) -> Option<Vec<Arc<Event>>> {
        if rv < self.compacted {
            return None;
        }
        let start = self.history.partition_point(|event| event.rv <= rv);
        Some(self.history.range(start..).cloned().collect())
    }

    /// One page of a list: the objects as they were at `at` (now for `None`) that `accept`
    /// passes, in key order, after the key `after`, within `namespace`, at most `limit` of
    /// them, and how many more there are. `None` when the history no longer reaches back to
    /// `at`. Costs one walk of the keys from `after` on, with no copies beyond the page.
    pub(crate) fn page(
        &self,
        at: Option<u64>,
        after: Option<&Key>,
        namespace: Option<&str>,
        accept: &dyn Fn(&Key, &Stored) -> bool,
        limit: Option<usize>,
    ) -> Option<Page> {
        // The state at `at` of every key changed since: the `prev` of its first later event.
        let mut overlay: BTreeMap<Key, Option<Arc<Stored>>> = BTreeMap::new();
        if let Some(rv) = at {
            for event in self.events_after(rv)?.iter().rev() {
                overlay.insert(event.key.clone(), event.prev.clone());
            }
        }
        let lower = match (after, namespace) {
            (Some(after), Some(ns)) if after.0.as_str() < ns => {
                Included((ns.to_owned(), String::new()))
            }
            (Some(after), _) => Excluded(after.clone()),
            (None, Some(ns)) => Included((ns.to_owned(), String::new())),
            (None, None) => Unbounded,
        };
        let mut current = self.objects.range((lower.clone(), Unbounded)).peekable();
        let mut changed = overlay.range((lower, Unbounded)).peekable();
        let limit = limit.unwrap_or(usize::MAX);
        let mut page = Page::default();
        loop {
            let from_overlay = match (current.peek(), changed.peek()) {
                (None, None) => break,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some((now, _)), Some((then, _))) => then <= now,
            };
            let (key, object) = if from_overlay {
                let Some((key, object)) = changed.next() else {
                    break;
                };
                if current.peek().is_some_and(|(now, _)| *now == key) {
                    current.next();
                }
                (key, object.as_ref())
            } else {
                let Some((key, object)) = current.next() else {
                    break;
                };
                (key, Some(object))
            };
            // Keys sort by namespace first: the first key outside it ends the walk.
            if namespace.is_some_and(|ns| key.0 != ns) {
                break;
            }
            let Some(object) = object else { continue };
            if !accept(key, object) {
                continue;
            }
            if page.items.len() < limit {
                page.items.push(Arc::clone(object));
                page.last = Some(key.clone());
            } else {
                page.remaining += 1;
            }
        }
        Some(page)
    }

    /// The rv below which history is gone.
    pub(crate) fn compacted(&self) -> u64 {
        self.compacted
    }
}

/// Everything the server stores.
#[derive(Debug)]
pub(crate) struct State {
    /// The last resourceVersion handed out.
    pub(crate) rv: u64,
    /// What is served.
    pub(crate) registry: Registry,
    /// Objects by resource.
    collections: HashMap<GroupResource, Collection>,
    /// Events kept per resource.
    history_limit: usize,
    /// Bumped on every write to an RBAC kind, so authorizers can cache.
    pub(crate) rbac_generation: u64,
    /// The resourceVersion at which each dropped collection went away.
    dropped: HashMap<GroupResource, u64>,
}

impl State {
    /// An empty store serving the built-in kinds.
    pub(crate) fn new(history_limit: usize) -> Self {
        Self {
            rv: 1,
            registry: Registry::new(),
            collections: HashMap::new(),
            history_limit: history_limit.max(1),
            rbac_generation: 0,
            dropped: HashMap::new(),
        }
    }

    /// The collection of a resource, created empty on first use.
    pub(crate) fn collection(&mut self, gr: &GroupResource) -> &mut Collection {
        // A new collection has lost no events: its history reaches back to the beginning, or
        // to when an earlier collection of the same resource was dropped (a CRD deleted and
        // created again), so older resourceVersions get 410 instead of a silent gap.
        let compacted = self.dropped.get(gr).copied().unwrap_or(0);
        self.collections
            .entry(gr.clone())
            .or_insert_with(|| Collection::new(compacted))
    }

    /// The collection of a resource if it has ever been used.
    #[cfg(test)]
    pub(crate) fn existing(&self, gr: &GroupResource) -> Option<&Collection> {
        self.collections.get(gr)
    }

    /// The current object.
    pub(crate) fn get(&self, gr: &GroupResource, key: &Key) -> Option<Arc<Stored>> {
        self.collections.get(gr)?.objects.get(key).cloned()
    }

    /// The resource type objects of `gr` are served as.
    pub(crate) fn registry_type(
        &self,
        gr: &GroupResource,
    ) -> Option<Arc<crate::resources::ResourceType>> {
        self.registry.by_group_resource(&gr.group, &gr.resource)
    }

    /// Hands out the next resourceVersion.
    pub(crate) fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// Stores `object` (already carrying resourceVersion `rv`) and tells watchers.
    pub(crate) fn put(
        &mut self,
        gr: &GroupResource,
        key: Key,
        object: &Value,
        rv: u64,
    ) -> Arc<Stored> {
        let stored = Arc::new(Stored::new(object, rv));
        self.bump_rbac(gr);
        let limit = self.history_limit;
        let collection = self.collection(gr);
        let prev = collection.objects.insert(key.clone(), Arc::clone(&stored));
        let kind = if prev.is_some() {
            EventKind::Modified
        } else {
            EventKind::Added
        };
        record(
            collection,
            limit,
            Event {
                rv,
                kind,
                key,
                object: Arc::clone(&stored),
                prev,
            },
        );
        stored
    }

    /// Removes an object; `last` is its final state (carrying the deletion's rv).
    pub(crate) fn remove(
        &mut self,
        gr: &GroupResource,
        key: &Key,
        last: &Value,
        rv: u64,
    ) -> Option<Arc<Stored>> {
        self.bump_rbac(gr);
        let limit = self.history_limit;
        let collection = self.collections.get_mut(gr)?;
        let prev = collection.objects.remove(key)?;
        let stored = Arc::new(Stored::new(last, rv));
        record(
            collection,
            limit,
            Event {
                rv,
                kind: EventKind::Deleted,
                key: key.clone(),
                object: Arc::clone(&stored),
                prev: Some(prev),
            },
        );
        Some(stored)
    }

    /// Drops a whole resource (its CRD was deleted): watchers see their stream end.
    pub(crate) fn drop_collection(&mut self, gr: &GroupResource) {
        self.collections.remove(gr);
        self.dropped.insert(gr.clone(), self.rv);
    }

    /// Objects of a resource in a namespace (all namespaces for `None`).
    pub(crate) fn objects_in(
        &self,
        gr: &GroupResource,
        namespace: Option<&str>,
    ) -> Vec<(Key, Arc<Stored>)> {
        let Some(collection) = self.collections.get(gr) else {
            return Vec::new();
        };
        match namespace {
            None => collection
                .objects
                .iter()
                .map(|(k, v)| (k.clone(), Arc::clone(v)))
                .collect(),
            Some(ns) => collection
                .objects
                .range((ns.to_owned(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(k, v)| (k.clone(), Arc::clone(v)))
                .collect(),
        }
    }

    /// Whether a resource has any object in a namespace (without copying anything).
    pub(crate) fn has_objects_in(&self, gr: &GroupResource, namespace: &str) -> bool {
        self.collections.get(gr).is_some_and(|collection| {
            collection
                .objects
                .range((namespace.to_owned(), String::new())..)
                .next()
                .is_some_and(|((ns, _), _)| ns == namespace)
        })
    }

    /// Every resource that has objects in a namespace.
    pub(crate) fn namespaced_resources(&self) -> Vec<GroupResource> {
        let mut out: Vec<GroupResource> = self.collections.keys().cloned().collect();
        out.sort();
        out
    }

    fn bump_rbac(&mut self, gr: &GroupResource) {
        if gr.group == "rbac.authorization.k8s.io" {
            self.rbac_generation += 1;
        }
    }
}

fn record(collection: &mut Collection, limit: usize, event: Event) {
    let event = Arc::new(event);
    // No receivers is not an error: nobody is watching.
    let _ = collection.tx.send(Arc::clone(&event));
    collection.history.push_back(event);
    while collection.history.len() > limit {
        if let Some(old) = collection.history.pop_front() {
            collection.compacted = old.rv;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cm(name: &str, rv: u64, data: &str) -> Value {
        json!({"kind": "ConfigMap", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": "a", "resourceVersion": rv.to_string()},
            "data": {"v": data}})
    }

    fn gr() -> GroupResource {
        GroupResource {
            group: String::new(),
            resource: "configmaps".into(),
        }
    }

    #[test]
    fn snapshot_at_an_older_rv_undoes_later_changes() {
        let mut state = State::new(100);
        let key = |n: &str| ("a".to_owned(), n.to_owned());
        for name in ["x", "y", "z"] {
            let rv = state.next_rv();
            state.put(&gr(), key(name), &cm(name, rv, "1"), rv);
        }
        let at = state.rv;
        let rv = state.next_rv();
        state.put(&gr(), key("y"), &cm("y", rv, "2"), rv);
        let rv = state.next_rv();
        state.remove(&gr(), &key("x"), &cm("x", rv, "1"), rv);
        let rv = state.next_rv();
        state.put(&gr(), key("w"), &cm("w", rv, "1"), rv);

        let collection = state.existing(&gr()).unwrap();
        let all = |_: &Key, _: &Stored| true;
        let page = collection.page(Some(at), None, None, &all, None).unwrap();
        let names: Vec<_> = page.items.iter().map(|s| s.rv).collect();
        assert_eq!(names, [2, 3, 4], "x, y and z as they were");
        let page = collection
            .page(Some(at), Some(&key("x")), None, &all, Some(1))
            .unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!((page.last, page.remaining), (Some(key("y")), 1));
        let now = collection.page(None, None, Some("a"), &all, None).unwrap();
        let names: Vec<_> = now.items.iter().map(|s| s.rv).collect();
        assert_eq!(names, [7, 5, 4], "w, y (changed) and z now");
        assert_eq!(
            collection
                .page(None, None, Some("b"), &all, None)
                .unwrap()
                .items
                .len(),
            0
        );
    }

    #[test]
    fn history_beyond_the_limit_is_compacted() {
        let mut state = State::new(2);
        for i in 0..5 {
            let rv = state.next_rv();
            state.put(
                &gr(),
                ("a".into(), "x".into()),
                &cm("x", rv, &i.to_string()),
                rv,
            );
        }
        let collection = state.existing(&gr()).unwrap();
        assert!(collection.events_after(2).is_none());
        assert_eq!(
            collection
                .events_after(collection.compacted())
                .unwrap()
                .len(),
            2
        );
    }
}
