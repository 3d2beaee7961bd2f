//! `.kollect/manifest.json`: which paths of the branch the Git sink manages, per (sink, cluster,
//! inventory), with the generation, digest and layout of the export that wrote them
//! (DECISIONS D11).
//!
//! * **Pruning** deletes exactly the paths an inventory's previous export wrote and its current
//!   one does not, unless another entry still claims them. Files Kollect never wrote are never
//!   touched.
//! * **Idempotency**: an export whose generation, digest and layout equal the entry's, with
//!   every listed path present, writes nothing (per (inventory, generation, digest)).
//!
//! The file is pretty JSON with sorted entries, so it diffs cleanly. A manifest that does not
//! parse is treated as empty (with a warning): nothing is pruned, which is the safe side.

use std::collections::BTreeSet;

use kollect_export::SCHEMA_VERSION;
use serde::{Deserialize, Serialize};

/// Where the manifest lives in the branch.
pub(super) const PATH: &str = ".kollect/manifest.json";
/// The manifest's `kind`.
const KIND: &str = "KollectGitManifest";

/// The manifest of one branch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Manifest {
    schema_version: String,
    kind: String,
    /// One entry per (sink, cluster, inventory), sorted.
    exports: Vec<Entry>,
}

/// What one sink wrote for one inventory of one cluster.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Entry {
    /// The sink object, `<namespace>/snapshot/<name>`.
    pub(super) sink: String,
    /// The cluster the export came from (`default` when unset).
    pub(super) cluster: String,
    /// The inventory: `<namespace>/<name>`, or `<name>` for a cluster inventory.
    pub(super) inventory: String,
    /// The inventory generation exported.
    pub(super) generation: i64,
    /// The export digest.
    pub(super) digest: String,
    /// Fingerprint of the sink's layout settings.
    pub(super) layout: String,
    /// The paths written, sorted.
    pub(super) paths: Vec<String>,
}

/// The identity of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Key {
    pub(super) sink: String,
    pub(super) cluster: String,
    pub(super) inventory: String,
}

impl Entry {
    fn is(&self, key: &Key) -> bool {
        self.sink == key.sink && self.cluster == key.cluster && self.inventory == key.inventory
    }
}

impl Manifest {
    /// Reads the manifest from the branch; unreadable content counts as no manifest.
    pub(super) fn read(bytes: Option<&[u8]>) -> Self {
        let Some(bytes) = bytes else {
            return Self::default();
        };
        match serde_json::from_slice::<Self>(bytes) {
            Ok(manifest) if manifest.kind == KIND => manifest,
            Ok(manifest) => {
                tracing::warn!(
                    path = PATH,
                    kind = %manifest.kind,
                    "The Git manifest has an unexpected kind; nothing will be pruned."
                );
                Self::default()
            }
            Err(error) => {
                tracing::warn!(
                    path = PATH,
                    error = &error as &dyn std::error::Error,
                    "The Git manifest does not parse; nothing will be pruned."
                );
                Self::default()
            }
        }
    }

    /// The entry of `key`.
    pub(super) fn entry(&self, key: &Key) -> Option<&Entry> {
        self.exports.iter().find(|entry| entry.is(key))
    }

    /// Paths claimed by every entry but `key`'s.
    pub(super) fn claimed_by_others(&self, key: &Key) -> BTreeSet<&str> {
        self.exports
            .iter()
            .filter(|entry| !entry.is(key))
            .flat_map(|entry| entry.paths.iter().map(String::as_str))
            .collect()
    }

    /// Replaces (or adds) the entry of its key.
    pub(super) fn upsert(&mut self, entry: Entry) {
        self.exports.retain(|existing| {
            !(existing.sink == entry.sink
                && existing.cluster == entry.cluster
                && existing.inventory == entry.inventory)
        });
        self.exports.push(entry);
        self.exports.sort();
    }

    /// The manifest as pretty JSON with a trailing newline.
    pub(super) fn to_bytes(&self) -> Vec<u8> {
        let manifest = Self {
            schema_version: SCHEMA_VERSION.to_owned(),
            kind: KIND.to_owned(),
            exports: self.exports.clone(),
        };
        // Serialising plain strings, numbers and lists into memory cannot fail.
        let mut bytes = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(inventory: &str, paths: &[&str]) -> Entry {
        Entry {
            sink: "team-a/snapshot/git".into(),
            cluster: "default".into(),
            inventory: inventory.into(),
            generation: 1,
            digest: "d".into(),
            layout: "l".into(),
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    fn key(inventory: &str) -> Key {
        Key {
            sink: "team-a/snapshot/git".into(),
            cluster: "default".into(),
            inventory: inventory.into(),
        }
    }

    #[test]
    fn entries_round_trip_sorted_and_claims_exclude_the_own_key() {
        let mut manifest = Manifest::default();
        manifest.upsert(entry("team-a/web", &["a/web.yaml", "shared.yaml"]));
        manifest.upsert(entry("team-a/apps", &["a/apps.yaml", "shared.yaml"]));
        manifest.upsert(entry("team-a/web", &["a/web2.yaml"]));
        let bytes = manifest.to_bytes();
        let read = Manifest::read(Some(&bytes));
        assert_eq!(read.exports.len(), 2);
        assert_eq!(read.exports[0].inventory, "team-a/apps");
        assert_eq!(
            read.entry(&key("team-a/web")).unwrap().paths,
            ["a/web2.yaml"]
        );
        let others = read.claimed_by_others(&key("team-a/web"));
        assert!(others.contains("shared.yaml") && !others.contains("a/web2.yaml"));
        assert!(
            String::from_utf8(bytes)
                .unwrap()
                .starts_with("{\n  \"schemaVersion\"")
        );
    }

    #[test]
    fn an_unreadable_manifest_counts_as_empty() {
        assert_eq!(Manifest::read(Some(b"{not json")), Manifest::default());
        assert_eq!(
            Manifest::read(Some(
                br#"{"schemaVersion":"x","kind":"Other","exports":[]}"#
            )),
            Manifest::default()
        );
        assert_eq!(Manifest::read(None), Manifest::default());
    }
}
