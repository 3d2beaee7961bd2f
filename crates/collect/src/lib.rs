//! `kollect-collect`: where rows live between extraction and aggregation, and where cluster
//! state comes from when there is no cluster.
//!
//! * [`Store`]: the rows of every target, sharded by target namespace, with change counters and
//!   change notifications for schedulers. Namespaced targets and cluster-target registrations
//!   have separate keys ([`TargetKey`]). Rows are [`kollect_api::row::TargetRow`]s, the type
//!   aggregation consumes.
//! * [`StaticSource`]: objects read from folders of manifests and `kubectl get` dumps (YAML,
//!   JSON, `kind: List`, gzip), for the offline CLI and for fixtures.
//!
//! * [`filter`]: the namespace sets, label selectors and watch opt-in/opt-out labels a target
//!   collects by (pipeline spec §2.9).
//! * [`matcher`]: whether an object belongs to a target — namespace check, resource rules or
//!   legacy names and selector, watch labels — with `matchPolicy` supplied by the caller.
//! * [`TargetRows`]: the watch consumer that keeps one target's rows in the store, with the
//!   caller's row maker (the extractor's one-pass path).
//! * [`Watches`]: shared lean watches — one list+watch per (resource, shape, namespace scope)
//!   for any number of subscribers, metadata-only when asked, raw bytes to subscribers, 410
//!   relists without lost or duplicated rows, back-off, bookmarks and per-watch status.
//!
//! The crate depends on `kollect-api` only; extraction is the caller's (the wiring crates turn
//! objects into rows with `kollect-extract`).

pub mod filter;
pub mod matcher;
mod source;
mod store;
mod target;
mod watch;

pub use crate::{
    source::{SourceError, StaticObject, StaticSource, synthetic_uid},
    store::{Store, TargetKey, TargetScope},
    target::TargetRows,
    watch::{
        Consumer, RawObject, Shape, Subscription, WatchError, WatchScope, WatchStatus, Watches,
    },
};
