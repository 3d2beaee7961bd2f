//! [`ExportBatch`]: everything a backend of any family needs for one export of one inventory to
//! one sink, and [`ExportReceipt`]: what the export did.
//!
//! A batch is built once per (reconcile, binding) and shared by reference with the sink and its
//! decorators. The rows are an `Arc<Snapshot>` shared by every binding of the reconcile; the
//! parts below the byte cap are computed on first use and cached.

use std::{
    sync::{Arc, OnceLock},
    time::SystemTime,
};

use chrono::{DateTime, Utc};
use kollect_aggregate::{ChangeSet, EnvelopeMeta, Part, Parts, RowCap, Snapshot, part_path};

use crate::{
    error::SinkError,
    id::{Digest, InventoryKey, SinkId},
};

/// Default byte ceiling of one part (`--max-export-bytes`, pipeline spec §6.10): 1.5 MiB, the
/// Go original's default, which keeps a part well below etcd's and most brokers' 2 MiB limits.
pub const DEFAULT_MAX_PART_BYTES: usize = 1_572_864;

/// Largest part a backend that is not an object store writes (Git file, database transaction,
/// event message): 1 MiB, the Go original's spill threshold. The Go original silently skipped
/// larger envelopes; here they are split below this cap instead (DECISIONS Q1, D10). Object
/// stores take parts up to the binding's ceiling.
pub const INLINE_MAX_PART_BYTES: usize = 1_048_576;

/// One export of one inventory to one sink. Exports are idempotent per (inventory, generation,
/// digest): a sink that already holds this generation and digest for the inventory writes
/// nothing and says so in its receipt.
#[derive(Clone, Debug)]
pub struct ExportBatch {
    inventory: InventoryKey,
    sink: SinkId,
    cluster: String,
    generation: i64,
    exported_at: DateTime<Utc>,
    snapshot: Arc<Snapshot>,
    digest_source: DigestSource,
    digest: OnceLock<Digest>,
    fingerprint: OnceLock<Digest>,
    changes: Option<Arc<ChangeSet>>,
    max_part_bytes: usize,
    parts: OnceLock<Result<Arc<Parts>, kollect_aggregate::PayloadTooLarge>>,
}

impl ExportBatch {
    /// Starts a batch of `snapshot` for `inventory` to `sink`.
    pub fn builder(
        inventory: InventoryKey,
        sink: SinkId,
        snapshot: Arc<Snapshot>,
    ) -> ExportBatchBuilder {
        ExportBatchBuilder {
            inventory,
            sink,
            snapshot,
            cluster: String::new(),
            generation: 0,
            exported_at: None,
            digest: DigestSource::Fingerprint,
            changes: None,
            max_part_bytes: DEFAULT_MAX_PART_BYTES,
        }
    }

    /// The inventory exported.
    pub fn inventory(&self) -> &InventoryKey {
        &self.inventory
    }

    /// The sink exported to.
    pub fn sink(&self) -> &SinkId {
        &self.sink
    }

    /// The envelope's `cluster`: set in CLI mode, empty in operator mode (pipeline spec §3.7).
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// The cluster name for paths, commits and partitions (`{cluster}`, sinks spec §3.4 step 7,
    /// §15): the envelope's cluster, else the sink's `spec.cluster`, else `default`. Database
    /// columns and event envelopes keep an unset cluster empty instead.
    pub fn cluster_or<'a>(&'a self, sink_cluster: Option<&'a str>) -> &'a str {
        [Some(self.cluster.as_str()), sink_cluster]
            .into_iter()
            .flatten()
            .find(|c| !c.is_empty())
            .unwrap_or("default")
    }

    /// `metadata.generation` of the inventory (0 in CLI mode).
    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// When the export happened: one instant per reconcile, shared by every binding and part.
    pub fn exported_at(&self) -> DateTime<Utc> {
        self.exported_at
    }

    /// The rows, in canonical order.
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snapshot
    }

    /// Whether the inventory holds no row. An empty snapshot is still exported (DECISIONS D14):
    /// an empty list file, zero rows, an event with zero items.
    pub fn is_empty(&self) -> bool {
        self.snapshot.is_empty()
    }

    /// The digest the binding debounces on and status records as `lastChecksum`: the parts
    /// digest for snapshot bindings, the cluster composite for cluster inventories, the items
    /// fingerprint otherwise (see [`ExportBatchBuilder::digest`]).
    pub fn digest(&self) -> &Digest {
        self.digest.get_or_init(|| match &self.digest_source {
            DigestSource::Given(digest) => digest.clone(),
            DigestSource::Parts => match self.partitioned() {
                Ok(parts) => Digest::from_sha256_hex(parts.digest()),
                Err(_) => self.fingerprint().clone(),
            },
            DigestSource::Fingerprint => self.fingerprint().clone(),
        })
    }

    /// The items fingerprint of the snapshot (pipeline spec §3.4), computed once.
    pub fn fingerprint(&self) -> &Digest {
        self.fingerprint
            .get_or_init(|| Digest::from_sha256_hex(self.snapshot.fingerprint()))
    }

    /// The rows added, updated and removed since the last successful export to this sink, when
    /// known; `None` when unknown (after a restart, or a failed export): write the whole state.
    pub fn changes(&self) -> Option<&ChangeSet> {
        self.changes.as_deref()
    }

    /// The binding's byte ceiling for one part (0: no cap).
    pub fn max_part_bytes(&self) -> usize {
        self.max_part_bytes
    }

    /// The envelope metadata shared by every part.
    pub fn envelope_meta(&self) -> EnvelopeMeta {
        EnvelopeMeta {
            generation: self.generation,
            exported_at: self.exported_at,
            cluster: self.cluster.clone(),
        }
    }

    /// The envelopes below the binding's ceiling (pipeline spec §5.5), computed once. A row
    /// whose envelope alone exceeds the ceiling fails the whole export with
    /// [`SinkError::PayloadTooLarge`] before anything is written (DECISIONS Q1).
    pub fn parts(&self) -> Result<Arc<Parts>, SinkError> {
        self.partitioned().clone().map_err(SinkError::from)
    }

    fn partitioned(&self) -> &Result<Arc<Parts>, kollect_aggregate::PayloadTooLarge> {
        self.parts.get_or_init(|| {
            self.snapshot
                .partition(&self.envelope_meta(), self.max_part_bytes)
                .map(Arc::new)
        })
    }

    /// The envelopes below both the binding's ceiling and the backend's own cap (0: none), such
    /// as [`INLINE_MAX_PART_BYTES`] for backends that are not object stores.
    pub fn parts_within(&self, backend_cap: usize) -> Result<Arc<Parts>, SinkError> {
        let cap = effective_cap(self.max_part_bytes, backend_cap);
        if cap == self.max_part_bytes {
            return self.parts();
        }
        self.snapshot
            .partition(&self.envelope_meta(), cap)
            .map(Arc::new)
            .map_err(SinkError::from)
    }

    /// The binding's ceiling applied row by row, for backends that store rows rather than
    /// envelopes (databases write one transaction per export and never split it): a row whose
    /// envelope alone exceeds the ceiling fails the export with
    /// [`SinkError::PayloadTooLarge`], as [`ExportBatch::parts`] would (DECISIONS Q1).
    pub fn row_cap(&self) -> RowCap {
        RowCap::new(
            &self.envelope_meta(),
            self.max_part_bytes,
            self.snapshot.len(),
        )
    }

    /// The base object path of the inventory (`inventory/<namespace>/<name>.json`).
    pub fn base_path(&self) -> String {
        self.inventory.base_path()
    }

    /// The object path of `part`: the base path, with `.part-NNNN-of-MMMM` before the extension
    /// when the set has several parts.
    pub fn part_path(&self, part: &Part) -> String {
        part_path(&self.base_path(), part.index, part.total)
    }
}

/// The smaller of two caps, where 0 means "no cap".
fn effective_cap(a: usize, b: usize) -> usize {
    match (a, b) {
        (0, cap) | (cap, 0) => cap,
        (a, b) => a.min(b),
    }
}

/// Where a batch's digest comes from.
#[derive(Clone, Debug)]
enum DigestSource {
    Fingerprint,
    Parts,
    Given(Digest),
}

/// Builds an [`ExportBatch`]; every setting has a default.
#[derive(Debug)]
#[must_use]
pub struct ExportBatchBuilder {
    inventory: InventoryKey,
    sink: SinkId,
    snapshot: Arc<Snapshot>,
    cluster: String,
    generation: i64,
    exported_at: Option<DateTime<Utc>>,
    digest: DigestSource,
    changes: Option<Arc<ChangeSet>>,
    max_part_bytes: usize,
}

impl ExportBatchBuilder {
    /// The envelope's cluster (CLI mode); default empty, as in operator mode.
    pub fn cluster(mut self, cluster: impl Into<String>) -> Self {
        self.cluster = cluster.into();
        self
    }

    /// The inventory's `metadata.generation`; default 0 (omitted from the envelope).
    pub fn generation(mut self, generation: i64) -> Self {
        self.generation = generation;
        self
    }

    /// The reconcile's instant; default now.
    pub fn exported_at(mut self, at: DateTime<Utc>) -> Self {
        self.exported_at = Some(at);
        self
    }

    /// The binding's debounce digest (a cluster inventory's composite, say); default the items
    /// fingerprint. Pass the value the schedule decided on, so that the sink's idempotency and
    /// status agree.
    pub fn digest(mut self, digest: Digest) -> Self {
        self.digest = DigestSource::Given(digest);
        self
    }

    /// Makes the digest the parts digest of the binding's parts (snapshot bindings, pipeline
    /// spec §5.5 step 5); the parts are computed once, for the digest and the export alike.
    /// When a row does not fit there are no parts: the digest is then the items fingerprint,
    /// and the export fails with [`SinkError::PayloadTooLarge`].
    pub fn parts_digest(mut self) -> Self {
        self.digest = DigestSource::Parts;
        self
    }

    /// The changes since the last successful export to this sink; default unknown. A wrong
    /// change set makes incremental backends write the wrong rows: pass it only when it is
    /// relative to that export.
    pub fn changes(mut self, changes: Arc<ChangeSet>) -> Self {
        self.changes = Some(changes);
        self
    }

    /// The binding's byte ceiling for one part; default [`DEFAULT_MAX_PART_BYTES`]; 0 disables
    /// partitioning (one envelope, whatever its size).
    pub fn max_part_bytes(mut self, bytes: usize) -> Self {
        self.max_part_bytes = bytes;
        self
    }

    /// The batch.
    pub fn build(self) -> ExportBatch {
        ExportBatch {
            inventory: self.inventory,
            sink: self.sink,
            cluster: self.cluster,
            generation: self.generation,
            exported_at: self
                .exported_at
                .unwrap_or_else(|| DateTime::<Utc>::from(SystemTime::now())),
            snapshot: self.snapshot,
            digest_source: self.digest,
            digest: OnceLock::new(),
            fingerprint: OnceLock::new(),
            changes: self.changes,
            max_part_bytes: self.max_part_bytes,
            parts: OnceLock::new(),
        }
    }
}

/// What an export did; goes into status (summaries only, never the payload). Fields a backend
/// has no use for stay at their defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportReceipt {
    /// Whether anything was written. `false`: the sink already held this generation and digest
    /// for the inventory ("unchanged, no write").
    pub wrote: bool,
    /// Parts written.
    pub parts: usize,
    /// Bytes sent to the backend.
    pub bytes_written: u64,
    /// Git: the commit of the last part.
    pub commit: Option<String>,
    /// Object stores and Git: the keys or paths written, in part order.
    pub object_keys: Vec<String>,
    /// Databases: rows inserted or updated.
    pub rows_upserted: u64,
    /// Databases: rows deleted because they left the snapshot.
    pub rows_deleted: u64,
    /// Event streams: the sequence number or offset of the last message.
    pub stream_sequence: Option<u64>,
}

impl ExportReceipt {
    /// The receipt of an export that found the sink up to date.
    pub fn unchanged() -> Self {
        Self::default()
    }
}

#[cfg(test)]
mod tests {
    use kollect_aggregate::{Gvk, TargetRow};
    use kollect_api::row::{Attributes, Row};

    use super::*;

    fn row(name: &str, payload: usize) -> TargetRow {
        TargetRow {
            target_namespace: "team-a".into(),
            target_name: "deployments".into(),
            kind: Gvk::new("apps", "v1", "Deployment"),
            row: Arc::new(Row {
                namespace: "team-a".into(),
                name: name.into(),
                uid: format!("uid-{name}").into(),
                resource_version: "".into(),
                attributes: Attributes::from_canonical(format!(
                    "{{\"payload\":\"{}\"}}",
                    "x".repeat(payload)
                )),
            }),
        }
    }

    fn batch(rows: Vec<TargetRow>) -> ExportBatchBuilder {
        ExportBatch::builder(
            "team-a/apps".parse().unwrap(),
            "team-a/snapshot/git".parse().unwrap(),
            Arc::new(Snapshot::new(rows)),
        )
        .exported_at(DateTime::from_timestamp_nanos(1_768_478_400_000_000_000))
    }

    #[test]
    fn the_digest_defaults_to_the_items_fingerprint() {
        let batch = batch(vec![]).build();
        assert_eq!(
            batch.digest().as_str(),
            "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
        );
        assert_eq!(batch.fingerprint(), batch.digest());
        let parts_digest: Digest =
            "15fdd87526b71675244c858c912952e26a41888acbbe29ac2814472acce55851"
                .parse()
                .unwrap();
        let batch = self::batch(vec![]).digest(parts_digest.clone()).build();
        assert_eq!(batch.digest(), &parts_digest);
        assert_eq!(
            batch.fingerprint().as_str(),
            "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
        );
    }

    #[test]
    fn a_parts_digest_reuses_the_parts_of_the_export() {
        let rows = vec![row("a", 300), row("b", 300), row("c", 300)];
        let batch = batch(rows.clone())
            .max_part_bytes(900)
            .parts_digest()
            .build();
        let parts = batch.parts().unwrap();
        assert_eq!(batch.digest().as_str(), parts.digest());
        assert_ne!(batch.digest(), batch.fingerprint());
        // The B.4 vector: the parts digest of an empty single-part snapshot.
        let empty = self::batch(vec![]).parts_digest().build();
        assert_eq!(
            empty.digest().as_str(),
            "15fdd87526b71675244c858c912952e26a41888acbbe29ac2814472acce55851"
        );
        // No parts when a row does not fit: the fingerprint stands in, the export fails.
        let oversize = self::batch(vec![row("big", 2000)])
            .max_part_bytes(900)
            .parts_digest()
            .build();
        assert_eq!(oversize.digest(), oversize.fingerprint());
        assert!(oversize.parts().is_err());
    }

    #[test]
    fn parts_are_cached_and_paths_carry_the_part_suffix() {
        let batch = batch(vec![row("a", 300), row("b", 300), row("c", 300)])
            .max_part_bytes(900)
            .build();
        let parts = batch.parts().unwrap();
        assert!(Arc::ptr_eq(&parts, &batch.parts().unwrap()));
        assert!(parts.parts.len() >= 2);
        let paths: Vec<String> = parts.parts.iter().map(|p| batch.part_path(p)).collect();
        assert_eq!(
            paths[0],
            format!(
                "inventory/team-a/apps.part-0001-of-{:04}.json",
                parts.parts.len()
            )
        );
    }

    #[test]
    fn the_smaller_cap_wins_and_zero_means_none() {
        assert_eq!(effective_cap(0, 0), 0);
        assert_eq!(effective_cap(0, 10), 10);
        assert_eq!(effective_cap(10, 0), 10);
        assert_eq!(effective_cap(10, 5), 5);
        let batch = batch(vec![row("a", 300), row("b", 300)])
            .max_part_bytes(0)
            .build();
        assert_eq!(batch.parts().unwrap().parts.len(), 1);
        assert_eq!(batch.parts_within(700).unwrap().parts.len(), 2);
    }

    #[test]
    fn an_oversize_row_fails_before_any_part() {
        let batch = batch(vec![row("small", 10), row("big", 2000)])
            .max_part_bytes(900)
            .build();
        let error = batch.parts().unwrap_err();
        assert!(
            matches!(error, SinkError::PayloadTooLarge { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn the_stamped_cluster_falls_back_to_the_sink_then_default() {
        let operator = batch(vec![]).build();
        assert_eq!(operator.cluster_or(None), "default");
        assert_eq!(operator.cluster_or(Some("")), "default");
        assert_eq!(operator.cluster_or(Some("prod-west")), "prod-west");
        let cli = batch(vec![]).cluster("prod-eu-1").build();
        assert_eq!(cli.cluster_or(Some("prod-west")), "prod-eu-1");
    }
}
