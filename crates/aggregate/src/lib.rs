//! `kollect-aggregate`: from target rows to inventory snapshots, and from snapshots to what is
//! exported.
//!
//! * [`Snapshot`]: rows in canonical order (pipeline spec §3.6), their fingerprint (§3.4) and the
//!   export envelope (§5.1–§5.3), byte-compatible with the Go original (Appendix B).
//! * [`Snapshot::partition`]: envelopes below a sink's byte cap, with deterministic part
//!   boundaries (DECISIONS Q6); a row that cannot fit fails the export with
//!   [`PayloadTooLarge`] instead of being dropped (Q1).
//! * [`ChangeSet`]: rows added, updated and removed since an older snapshot, for sinks that write
//!   incrementally.
//! * [`schedule::Schedule`]: when to export to one sink — sync gate, debounce window with a
//!   maximum delay, interval and scope floor, requests, and never re-sending an unchanged payload.
//! * [`decode`]: exports read back — envelopes and legacy item arrays into rows, tolerant
//!   metadata readers (§5.7).
//! * [`SnapshotCache`]: one snapshot and fingerprint per store shard state (DEB-10).
//! * [`rollup`]: cluster inventories — shards per namespace, dedupe by resource uid with a
//!   deterministic winner (Q5), the cluster composite digest.
//!
//! The crate depends on `kollect-api` only and does no I/O, so other tools can embed it.

mod cache;
mod change;
mod compose;
mod decode;
pub mod schedule;
mod snapshot;

pub use kollect_api::row::{Gvk, TargetRow};

pub use crate::{
    cache::{CachedSnapshot, SnapshotCache},
    change::ChangeSet,
    compose::{
        ClusterTargetLabels, Dedupe, NamespaceLabels, Registration, Rollup, Shard,
        cluster_composite, dedupe_by_resource_uid, rollup, select_cluster_targets,
        select_namespaces,
    },
    decode::{DecodeError, Decoded, EnvelopeHeader, decode, normalize_schema_version, read_header},
    snapshot::{
        EnvelopeMeta, Part, Parts, PayloadTooLarge, RowCap, SCHEMA_VERSION, Snapshot,
        format_exported_at, part_path, parts_digest, sha256_hex,
    },
};
