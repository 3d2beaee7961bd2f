//! Composing inventory snapshots from the rows of targets (pipeline spec §4, §3.5; DECISIONS
//! API 24, Q5).
//!
//! * A namespaced `KollectInventory` exports every row of the namespaced targets of its
//!   namespace, without dedupe: build it with [`Snapshot::new`].
//! * A `KollectClusterInventory` rolls up the rows of its selected targets per workload
//!   namespace ([`rollup`]): shards per namespace, optional dedupe by resource uid, a rollup
//!   snapshot and the cluster composite digest its bindings debounce on.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kollect_api::{k8s::LabelSelector, row::TargetRow, selector::selector_matches};

use crate::snapshot::{Snapshot, sha256_hex};

/// How a cluster inventory treats one object collected by several targets (`spec.dedupe`;
/// absent means [`Dedupe::KeepAll`]).
pub use kollect_api::v1alpha1::Dedupe;

/// Collapses rows of the same object (object namespace, uid): the survivor keeps the position
/// and target of the first occurrence and takes the row of the last (§3.5).
pub fn dedupe_by_resource_uid(items: Vec<TargetRow>) -> Vec<TargetRow> {
    let mut out: Vec<TargetRow> = Vec::with_capacity(items.len());
    let mut index: HashMap<(Box<str>, Box<str>), usize> = HashMap::with_capacity(items.len());
    for item in items {
        let key = (item.row.namespace.clone(), item.row.uid.clone());
        if let Some(&at) = index.get(&key) {
            out[at].row = item.row;
            out[at].kind = item.kind;
        } else {
            index.insert(key, out.len());
            out.push(item);
        }
    }
    out
}

/// `rows` after the dedupe mode.
fn apply(dedupe: Dedupe, rows: Vec<TargetRow>) -> Vec<TargetRow> {
    match dedupe {
        Dedupe::KeepAll => rows,
        Dedupe::ByResourceUid => dedupe_by_resource_uid(rows),
    }
}

/// A namespace as cluster inventories select them.
#[derive(Clone, Copy, Debug)]
pub struct NamespaceLabels<'a> {
    /// Name.
    pub name: &'a str,
    /// Labels.
    pub labels: &'a BTreeMap<String, String>,
}

/// The namespaces a cluster inventory covers (pipeline spec §4.2 step 1): those named in
/// `spec.namespaces` (every one when empty; entries trimmed) whose labels match
/// `spec.namespaceSelector`. An absent selector matches nothing, as in Kubernetes (DECISIONS
/// Q8; admission warns about it); `{}` matches everything.
pub fn select_namespaces(
    listed: &[String],
    selector: Option<&LabelSelector>,
    namespaces: &[NamespaceLabels<'_>],
) -> BTreeSet<String> {
    let Some(selector) = selector else {
        return BTreeSet::new();
    };
    let listed: BTreeSet<&str> = listed.iter().map(|n| n.trim()).collect();
    namespaces
        .iter()
        .filter(|ns| listed.is_empty() || listed.contains(ns.name))
        .filter(|ns| selector_matches(selector, ns.labels))
        .map(|ns| ns.name.to_owned())
        .collect()
}

/// A `KollectClusterTarget` as cluster inventories select them.
#[derive(Clone, Copy, Debug)]
pub struct ClusterTargetLabels<'a> {
    /// Name.
    pub name: &'a str,
    /// Labels.
    pub labels: &'a BTreeMap<String, String>,
    /// The target's own `namespaceSelector`.
    pub namespace_selector: Option<&'a LabelSelector>,
}

/// The cluster targets a cluster inventory rolls up (§4.2 step 2), in ascending name order: named
/// in `targetRefs` (when non-empty), else matching `targetSelector` (absent: all); and whose own
/// `namespaceSelector` matches at least one selected namespace (an absent one matches none,
/// DECISIONS Q8).
pub fn select_cluster_targets<'a>(
    target_refs: &[String],
    target_selector: Option<&LabelSelector>,
    targets: &[ClusterTargetLabels<'a>],
    selected: &BTreeSet<String>,
    namespaces: &[NamespaceLabels<'_>],
) -> Vec<&'a str> {
    let refs: BTreeSet<&str> = target_refs.iter().map(|n| n.trim()).collect();
    let mut chosen: Vec<&str> = targets
        .iter()
        .filter(|t| {
            if refs.is_empty() {
                target_selector.is_none_or(|s| selector_matches(s, t.labels))
            } else {
                refs.contains(t.name)
            }
        })
        .filter(|t| {
            t.namespace_selector.is_some_and(|s| {
                namespaces
                    .iter()
                    .any(|ns| selected.contains(ns.name) && selector_matches(s, ns.labels))
            })
        })
        .map(|t| t.name)
        .collect();
    chosen.sort_unstable();
    chosen.dedup();
    chosen
}

/// The rows one cluster target contributes, per workload namespace.
#[derive(Clone, Debug, Default)]
pub struct Registration {
    /// Name of the target.
    pub target: String,
    /// Rows per workload namespace.
    pub namespaces: BTreeMap<String, Vec<TargetRow>>,
}

/// One namespace's share of a cluster inventory (its `status.namespaceShards[]` entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Workload namespace.
    pub namespace: String,
    /// Rows after dedupe.
    pub item_count: usize,
    /// Targets that contributed rows.
    pub target_count: usize,
    /// Items fingerprint of the shard.
    pub checksum: String,
}

/// A cluster inventory's composed state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rollup {
    /// Shards in ascending namespace order (namespaces with rows only).
    pub shards: Vec<Shard>,
    /// The rollup snapshot (after dedupe).
    pub snapshot: Snapshot,
}

impl Rollup {
    /// The cluster composite digest (§3.4) every binding of the inventory debounces on.
    pub fn composite(&self) -> String {
        cluster_composite(
            self.shards
                .iter()
                .map(|s| (s.namespace.as_str(), s.checksum.as_str())),
        )
    }
}

/// SHA-256 of `<namespace>:<fingerprint>\n` for every shard, in the order given (ascending
/// namespace); `sha256("")` for none.
pub fn cluster_composite<'a>(shards: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut input = String::new();
    for (namespace, checksum) in shards {
        input.push_str(namespace);
        input.push(':');
        input.push_str(checksum);
        input.push('\n');
    }
    sha256_hex(input.as_bytes())
}

/// Rolls up registrations (§4.2 steps 5–7). Targets are processed in ascending name order and
/// namespaces in ascending order whatever order they are given in, so the dedupe winner is
/// deterministic (DECISIONS Q5). With a non-empty `selected` set, namespaces outside it are left
/// out.
pub fn rollup(
    registrations: &[Registration],
    selected: &BTreeSet<String>,
    dedupe: Dedupe,
) -> Rollup {
    let mut ordered: Vec<&Registration> = registrations.iter().collect();
    ordered.sort_by(|a, b| a.target.cmp(&b.target));
    let mut shards: BTreeMap<&str, (Vec<TargetRow>, BTreeSet<&str>)> = BTreeMap::new();
    for registration in ordered {
        for (namespace, rows) in &registration.namespaces {
            if rows.is_empty() || (!selected.is_empty() && !selected.contains(namespace)) {
                continue;
            }
            let shard = shards.entry(namespace.as_str()).or_default();
            shard.0.extend(rows.iter().cloned());
            shard.1.insert(registration.target.as_str());
        }
    }
    let mut composed = Vec::new();
    let mut summaries = Vec::with_capacity(shards.len());
    for (namespace, (rows, targets)) in shards {
        let rows = apply(dedupe, rows);
        let shard = Snapshot::new(rows.clone());
        summaries.push(Shard {
            namespace: namespace.to_owned(),
            item_count: shard.len(),
            target_count: targets.len(),
            checksum: shard.fingerprint(),
        });
        composed.extend(rows);
    }
    let composed = apply(dedupe, composed);
    Rollup {
        shards: summaries,
        snapshot: Snapshot::new(composed),
    }
}
