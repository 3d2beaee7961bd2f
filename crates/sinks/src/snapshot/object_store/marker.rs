//! The export marker: a small JSON object written after every part of an export, which makes
//! exports idempotent and finds leftover parts (DECISIONS D9) across restarts.
//!
//! ```json
//! {"version":1,"inventory":"team-a/apps","generation":3,"digest":"<64 hex>",
//!  "encoding":"format=parquet;compression=snappy;cluster=default;maxPartBytes=1572864;columns=…",
//!  "exportedAt":"2026-01-15T12:00:00Z",
//!  "objects":[{"key":"…/generation=3.parquet","bytes":18311}]}
//! ```
//!
//! * **Unchanged export.** The marker names the same generation, digest, encoding and keys,
//!   and every object still has its recorded size: nothing is written.
//! * **Leftovers.** The marker's keys that this export does not write are parts of an earlier,
//!   larger part count of the same series: they are deleted before the new marker is written.
//! * **Crash safety.** The marker is written last: an export that stopped half-way leaves the
//!   previous marker, so the next export rewrites everything and still knows the old keys.

use serde::{Deserialize, Serialize};

/// The marker format's version; a marker of another version is ignored (everything is
/// rewritten).
pub(crate) const MARKER_VERSION: u32 = 1;

/// What the last complete export of a series wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Marker {
    pub(crate) version: u32,
    /// `<namespace>/<name>` or `<name>`.
    pub(crate) inventory: String,
    pub(crate) generation: i64,
    /// The batch digest the export was idempotent on.
    pub(crate) digest: String,
    /// Everything besides the rows that shapes the objects' bytes and keys.
    pub(crate) encoding: String,
    /// When the objects were written.
    pub(crate) exported_at: String,
    /// The objects, in part order.
    pub(crate) objects: Vec<MarkedObject>,
}

/// One object of an export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MarkedObject {
    pub(crate) key: String,
    pub(crate) bytes: u64,
}

impl Marker {
    /// Reads a stored marker; `None` for anything that is not a marker of this version (it is
    /// then treated as absent, which only costs a rewrite).
    pub(crate) fn parse(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Self>(bytes)
            .ok()
            .filter(|marker| marker.version == MARKER_VERSION)
    }

    /// The marker as stored.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a struct of strings and integers always serialises")
    }

    /// Whether this marker records exactly the export described by the arguments.
    pub(crate) fn records(
        &self,
        generation: i64,
        digest: &str,
        encoding: &str,
        keys: &[&str],
    ) -> bool {
        self.generation == generation
            && self.digest == digest
            && self.encoding == encoding
            && self.objects.len() == keys.len()
            && self
                .objects
                .iter()
                .zip(keys)
                .all(|(object, key)| object.key == *key)
    }

    /// The keys of this marker that are not among `keys`.
    pub(crate) fn leftovers<'a>(&'a self, keys: &[&str]) -> impl Iterator<Item = &'a str> {
        let keys: Vec<String> = keys.iter().map(|key| (*key).to_owned()).collect();
        self.objects
            .iter()
            .map(|object| object.key.as_str())
            .filter(move |key| !keys.iter().any(|kept| kept == key))
    }
}
