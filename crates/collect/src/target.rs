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
