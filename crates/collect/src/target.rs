//! The consumer that keeps one target's rows in the store: objects from a shared watch become
//! rows through the caller's row maker (normally the extractor's one-pass path).

use std::sync::{Arc, Mutex, PoisonError};

use kollect_api::row::{Gvk, Row};

use crate::{
    store::{Store, TargetKey},
    watch::{Consumer, RawObject},
};

/// Feeds one target's rows: relists replace them atomically when complete (a failed relist keeps
/// the previous rows), changes upsert, deletions remove. An object the row maker refuses
/// (`None`: it does not match, or extraction failed) has no row, so an object that stops
/// matching leaves the store (pipeline spec ENG-03).
pub struct TargetRows<F> {
    store: Arc<Store>,
    target: TargetKey,
    gvk: Gvk,
    make_row: F,
    relisted: Mutex<Vec<Row>>,
}

impl<F> TargetRows<F>
where
    F: Fn(&RawObject<'_>) -> Option<Row> + Send + Sync + 'static,
{
    /// Rows of `target`, of kind `gvk`, made by `make_row`.
    pub fn new(store: Arc<Store>, target: TargetKey, gvk: Gvk, make_row: F) -> Arc<Self> {
        Arc::new(Self {
            store,
            target,
            gvk,
            make_row,
            relisted: Mutex::new(Vec::new()),
        })
    }

    fn relisted(&self) -> std::sync::MutexGuard<'_, Vec<Row>> {
        self.relisted.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<F> Consumer for TargetRows<F>
where
    F: Fn(&RawObject<'_>) -> Option<Row> + Send + Sync + 'static,
{
    fn relist_begin(&self) {
        self.relisted().clear();
    }

    fn listed(&self, object: &RawObject<'_>) {
        if let Some(row) = (self.make_row)(object) {
            self.relisted().push(row);
        }
    }

    fn relist_end(&self, complete: bool) {
        let rows = std::mem::take(&mut *self.relisted());
        if complete {
            self.store.replace_target(&self.target, &self.gvk, rows);
        }
    }

    fn upsert(&self, object: &RawObject<'_>) {
        match (self.make_row)(object) {
            Some(row) => self.store.upsert(&self.target, &self.gvk, row),
            None => {
                self.store.remove(&self.target, &object.uid);
            }
        }
    }

    fn delete(&self, object: &RawObject<'_>) {
        self.store.remove(&self.target, &object.uid);
    }
}

#[cfg(test)]
mod tests {
    use std::{
        borrow::Cow,
        sync::atomic::{AtomicBool, Ordering},
    };

    use kollect_api::row::{Attributes, TargetRow};

    use super::*;

    fn object(uid: &str, value: &str) -> (String, String) {
        (uid.to_owned(), value.to_owned())
    }

    fn raw<'a>(json: &'a str, uid: &'a str) -> RawObject<'a> {
        RawObject {
            json,
            namespace: Cow::Borrowed("team-a"),
            name: Cow::Owned(format!("cm-{uid}")),
            uid: Cow::Borrowed(uid),
            resource_version: Cow::Borrowed("1"),
        }
    }

    /// Rows carry the object's JSON as their only attribute; `broken` makes extraction fail.
    fn consumer(store: &Arc<Store>, broken: Arc<AtomicBool>) -> Arc<impl Consumer> {
        TargetRows::new(
            Arc::clone(store),
            TargetKey::namespaced("team-a", "t"),
            Gvk::new("", "v1", "ConfigMap"),
            move |object: &RawObject<'_>| {
                (!broken.load(Ordering::SeqCst)).then(|| Row {
                    namespace: object.namespace.clone().into_owned().into(),
                    name: object.name.clone().into_owned().into(),
                    uid: object.uid.clone().into_owned().into(),
                    resource_version: object.resource_version.clone().into_owned().into(),
                    attributes: Attributes::from_canonical(format!("{{\"v\":{}}}", object.json)),
                })
            },
        )
    }

    fn fingerprint(rows: &[TargetRow]) -> String {
        kollect_api::row::encode_target_rows(rows)
    }

    #[test]
    fn eng_03_a_row_leaves_while_extraction_fails_and_comes_back() {
        let store = Arc::new(Store::new());
        let broken = Arc::new(AtomicBool::new(false));
        let rows = consumer(&store, Arc::clone(&broken));
        let (uid, value) = object("u1", "1");
        rows.upsert(&raw(&value, &uid));
        let present = store.snapshot("team-a");
        assert_eq!(present.len(), 1);
        let counter = store.counter("team-a");
        broken.store(true, Ordering::SeqCst);
        rows.upsert(&raw(&value, &uid));
        assert!(
            store.snapshot("team-a").is_empty(),
            "a refused object has no row"
        );
        assert!(store.counter("team-a") > counter);
        assert_ne!(
            fingerprint(&store.snapshot("team-a")),
            fingerprint(&present)
        );
        broken.store(false, Ordering::SeqCst);
        rows.upsert(&raw(&value, &uid));
        assert_eq!(store.snapshot("team-a"), present);
    }

    #[test]
    fn eng_04_add_then_delete() {
        let store = Arc::new(Store::new());
        let rows = consumer(&store, Arc::default());
        let (uid, value) = object("u1", "1");
        rows.upsert(&raw(&value, &uid));
        assert_eq!(store.count("team-a"), 1);
        rows.delete(&raw(&value, &uid));
        assert_eq!(store.count("team-a"), 0);
    }

    #[test]
    fn relists_replace_the_rows_only_when_complete() {
        let store = Arc::new(Store::new());
        let rows = consumer(&store, Arc::default());
        let (a, b, c) = (object("a", "1"), object("b", "2"), object("c", "3"));
        rows.relist_begin();
        rows.listed(&raw(&a.1, &a.0));
        rows.listed(&raw(&b.1, &b.0));
        rows.relist_end(true);
        assert_eq!(store.count("team-a"), 2);
        // A list that broke half-way changes nothing.
        rows.relist_begin();
        rows.listed(&raw(&c.1, &c.0));
        rows.relist_end(false);
        let uids = |store: &Store| -> Vec<String> {
            store
                .snapshot("team-a")
                .iter()
                .map(|r| r.row.uid.to_string())
                .collect()
        };
        assert_eq!(uids(&store), ["a", "b"]);
        // A complete one: what was not listed is gone.
        rows.relist_begin();
        rows.listed(&raw(&b.1, &b.0));
        rows.listed(&raw(&c.1, &c.0));
        rows.relist_end(true);
        assert_eq!(uids(&store), ["b", "c"]);
    }
}
