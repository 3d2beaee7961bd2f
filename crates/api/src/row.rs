//! Rows and export items: what the extraction engine produces for one object, and how an item is
//! written in an export (pipeline spec §3).
//!
//! A [`Row`] keeps no part of the Kubernetes object but its identity and its attributes, and the
//! attributes are stored already encoded as canonical JSON ([`crate::canonical`]): one compact
//! allocation per row, ready to hash and to concatenate into an envelope.

use std::{cmp::Ordering, fmt, sync::Arc};

use serde_json::{Map, Value};

use crate::canonical;

/// The attribute map of a row, as canonical JSON (`{"image":"nginx:1.27","replicas":3}`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Attributes(Box<str>);

impl Attributes {
    /// The empty map, `{}`.
    pub fn empty() -> Self {
        Self("{}".into())
    }

    /// Wraps text that is already the canonical encoding of a JSON object. Callers guarantee the
    /// encoding (the extraction engine writes it with [`crate::canonical`]).
    pub fn from_canonical(json: impl Into<Box<str>>) -> Self {
        Self(json.into())
    }

    /// Encodes a map canonically.
    pub fn from_map(map: &Map<String, Value>) -> Self {
        let mut out = String::new();
        canonical::write_value(&mut out, &Value::Object(map.clone()));
        Self(out.into())
    }

    /// The canonical JSON text.
    pub fn as_json(&self) -> &str {
        &self.0
    }

    /// Decodes the map (for consumers that need typed values, such as table sinks).
    pub fn to_map(&self) -> Map<String, Value> {
        serde_json::from_str(&self.0).unwrap_or_default()
    }

    /// Size of the encoded map in bytes.
    pub fn encoded_len(&self) -> usize {
        self.0.len()
    }
}

impl Default for Attributes {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One object as extracted by one profile: identity plus attributes, nothing else.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Row {
    /// Namespace of the object (`""` for cluster-scoped objects).
    pub namespace: Box<str>,
    /// Name of the object.
    pub name: Box<str>,
    /// `metadata.uid`: the row's identity.
    pub uid: Box<str>,
    /// `metadata.resourceVersion` the row was extracted from (`""` when unknown).
    pub resource_version: Box<str>,
    /// The extracted attributes.
    pub attributes: Attributes,
}

/// One row as it appears in an export: the row with its target and kind (pipeline §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item<'a> {
    /// Namespace of the target (the workload namespace for cluster targets).
    pub target_namespace: &'a str,
    /// Name of the target.
    pub target_name: &'a str,
    /// API group of the profile's kind (`""` for the core group: the member is then omitted).
    pub group: &'a str,
    /// API version of the profile's kind.
    pub version: &'a str,
    /// Kind of the profile.
    pub kind: &'a str,
    /// The row.
    pub row: &'a Row,
}

impl Item<'_> {
    /// The canonical sort key of pipeline §3.2, compared byte-wise field by field.
    fn key(&self) -> [&str; 8] {
        [
            self.target_namespace,
            self.target_name,
            &self.row.namespace,
            &self.row.name,
            &self.row.uid,
            self.group,
            self.version,
            self.kind,
        ]
    }

    /// Canonical order of items inside envelopes and fingerprints.
    pub fn canonical_cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.key(), other.key());
        a.iter()
            .map(|s| s.as_bytes())
            .cmp(b.iter().map(|s| s.as_bytes()))
    }

    /// Appends the item's canonical encoding (members in the fixed order of §3.1).
    pub fn write(&self, out: &mut String) {
        out.push_str("{\"targetNamespace\":");
        canonical::write_str(out, self.target_namespace);
        out.push_str(",\"targetName\":");
        canonical::write_str(out, self.target_name);
        out.push_str(",\"namespace\":");
        canonical::write_str(out, &self.row.namespace);
        out.push_str(",\"name\":");
        canonical::write_str(out, &self.row.name);
        if !self.group.is_empty() {
            out.push_str(",\"group\":");
            canonical::write_str(out, self.group);
        }
        out.push_str(",\"version\":");
        canonical::write_str(out, self.version);
        out.push_str(",\"kind\":");
        canonical::write_str(out, self.kind);
        out.push_str(",\"uid\":");
        canonical::write_str(out, &self.row.uid);
        out.push_str(",\"attributes\":");
        out.push_str(self.row.attributes.as_json());
        out.push('}');
    }
}

/// The canonical JSON array of `items`, in the order given (sort them with
/// [`Item::canonical_cmp`] first for fingerprints).
pub fn encode_items(items: &[Item<'_>]) -> String {
    encode_array(items, Item::write)
}

/// The canonical JSON array of rows collected by targets, in the order given.
pub fn encode_target_rows(rows: &[TargetRow]) -> String {
    encode_array(rows, TargetRow::write)
}

fn encode_array<T>(items: &[T], write: impl Fn(&T, &mut String)) -> String {
    let mut out = String::with_capacity(items.len() * 256 + 2);
    out.push('[');
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        write(item, &mut out);
    }
    out.push(']');
    out
}

/// The kind a row was collected as (the profile's `targetGVK`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gvk {
    /// API group, `""` for the core group.
    pub group: Arc<str>,
    /// API version.
    pub version: Arc<str>,
    /// Kind.
    pub kind: Arc<str>,
}

impl Gvk {
    /// A kind from its parts.
    pub fn new(group: &str, version: &str, kind: &str) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
        }
    }
}

/// One row as collected by one target: what stores hand to aggregation and snapshots hold.
/// Cheap to clone.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TargetRow {
    /// Namespace of the target (the workload namespace for cluster targets).
    pub target_namespace: Arc<str>,
    /// Name of the target.
    pub target_name: Arc<str>,
    /// The kind collected.
    pub kind: Gvk,
    /// The row.
    pub row: Arc<Row>,
}

impl TargetRow {
    /// The export item view of this row.
    pub fn item(&self) -> Item<'_> {
        Item {
            target_namespace: &self.target_namespace,
            target_name: &self.target_name,
            group: &self.kind.group,
            version: &self.kind.version,
            kind: &self.kind.kind,
            row: &self.row,
        }
    }

    /// The store key (target namespace, target name, uid): the identity of a row in change sets.
    pub fn key(&self) -> (&str, &str, &str) {
        (&self.target_namespace, &self.target_name, &self.row.uid)
    }

    /// Appends the item's canonical encoding.
    pub fn write(&self, out: &mut String) {
        self.item().write(out);
    }

    /// The item's canonical encoding.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }
}
