//! Reading exports back (pipeline spec §5.7): envelopes and legacy bare item arrays into rows,
//! and tolerant readers for envelope metadata. Sinks use it to compare what they wrote with
//! what they are about to write; `kollect diff` uses it to compare two exports.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use kollect_api::row::{Attributes, Gvk, Row, TargetRow};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::snapshot::SCHEMA_VERSION;

/// Why an export could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The input is not JSON, or an item lacks a member or has one of the wrong type.
    #[error("invalid export at {path}: {message}")]
    Invalid {
        /// Where in the document (`items[3].uid`, or `.` for the document itself).
        path: String,
        /// What is wrong, with line and column.
        message: String,
    },
    /// An envelope of a schema this version cannot read.
    #[error("unsupported schemaVersion {0:?} (this version reads {SCHEMA_VERSION:?})")]
    UnsupportedSchemaVersion(String),
    /// Valid JSON that is neither an envelope nor an array of items.
    #[error("not an export: expected an envelope object or an array of items, found {0}")]
    NotAnExport(&'static str),
}

/// An export read back: its items and, for an envelope, its metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    /// Envelope metadata; `None` for a legacy bare array or an empty input.
    pub header: Option<EnvelopeHeader>,
    /// The items, in the order of the document. Rows read back have no resourceVersion.
    pub items: Vec<TargetRow>,
}

/// The members of an envelope other than its items.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvelopeHeader {
    /// `schemaVersion`, normalised (empty reads as the current version).
    pub schema_version: String,
    /// `checksum`, the fingerprint of this envelope's items.
    pub checksum: String,
    /// `generation`; 0 when absent.
    pub generation: i64,
    /// `partIndex`; 0 when absent (a single-part export).
    pub part_index: i64,
    /// `partTotal`; 0 when absent.
    pub part_total: i64,
    /// `itemCount`.
    pub item_count: i64,
    /// `exportedAt`, when present and valid RFC 3339.
    pub exported_at: Option<DateTime<Utc>>,
    /// `cluster`; empty when absent.
    pub cluster: String,
}

/// The schema version an envelope declares, normalised: empty means the current version
/// (ENV-09); any other value than the current one is refused.
pub fn normalize_schema_version(declared: &str) -> Result<&'static str, DecodeError> {
    match declared {
        "" | SCHEMA_VERSION => Ok(SCHEMA_VERSION),
        other => Err(DecodeError::UnsupportedSchemaVersion(other.to_owned())),
    }
}

/// Reads an export: an envelope, a legacy bare array of items, or nothing (§5.7). Empty input
/// (or only whitespace), `[]` and `null` hold no items.
pub fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Decoded::default());
    }
    let document: Document = parse(bytes)?;
    match document {
        Document::Null => Ok(Decoded::default()),
        Document::Items(items) => Ok(Decoded {
            header: None,
            items: rows(items),
        }),
        Document::Envelope(envelope) => {
            let schema_version = normalize_schema_version(&envelope.schema_version)?;
            let exported_at = envelope.exported_at.as_deref().and_then(parse_exported_at);
            Ok(Decoded {
                header: Some(EnvelopeHeader {
                    schema_version: schema_version.to_owned(),
                    checksum: envelope.checksum,
                    generation: envelope.generation,
                    part_index: envelope.part_index,
                    part_total: envelope.part_total,
                    item_count: envelope.item_count,
                    exported_at,
                    cluster: envelope.cluster,
                }),
                items: rows(envelope.items.unwrap_or_default()),
            })
        }
        Document::Other(found) => Err(DecodeError::NotAnExport(found)),
    }
}

/// Reads the metadata of an envelope without judging it: anything unreadable (not JSON, not an
/// object, a member of the wrong type) reads as zero values (§5.7, ENV-08, ENV-10).
pub fn read_header(bytes: &[u8]) -> EnvelopeHeader {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(bytes) else {
        return EnvelopeHeader::default();
    };
    let text = |key: &str| {
        map.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let number = |key: &str| map.get(key).and_then(Value::as_i64).unwrap_or_default();
    let declared = text("schemaVersion");
    EnvelopeHeader {
        schema_version: if declared.is_empty() {
            SCHEMA_VERSION.to_owned()
        } else {
            declared
        },
        checksum: text("checksum"),
        generation: number("generation"),
        part_index: number("partIndex"),
        part_total: number("partTotal"),
        item_count: number("itemCount"),
        exported_at: parse_exported_at(&text("exportedAt")),
        cluster: text("cluster"),
    }
}

fn parse_exported_at(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

fn parse(bytes: &[u8]) -> Result<Document, DecodeError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let document = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        // The path reads `?` where the parser stopped before reaching a member.
        let path = match error.path().to_string() {
            path if path == "?" => ".".to_owned(),
            path => path,
        };
        DecodeError::Invalid {
            path,
            message: error.into_inner().to_string(),
        }
    })?;
    deserializer.end().map_err(|error| DecodeError::Invalid {
        path: ".".to_owned(),
        message: error.to_string(),
    })?;
    Ok(document)
}

enum Document {
    Null,
    Items(Vec<Item>),
    Envelope(Envelope),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DocumentVisitor)
    }
}

struct DocumentVisitor;

impl<'de> serde::de::Visitor<'de> for DocumentVisitor {
    type Value = Document;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an export envelope or an array of items")
    }

    fn visit_unit<E>(self) -> Result<Document, E> {
        Ok(Document::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Document, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Document::Items(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Document, A::Error> {
        Envelope::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            .map(Document::Envelope)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Document, E> {
        Ok(Document::Other("a boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Document, E> {
        Ok(Document::Other("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Document, E> {
        Ok(Document::Other("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Document, E> {
        Ok(Document::Other("a number"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Document, E> {
        Ok(Document::Other("a string"))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    #[serde(default)]
    schema_version: String,
    #[serde(default)]
    checksum: String,
    #[serde(default)]
    generation: i64,
    #[serde(default)]
    part_index: i64,
    #[serde(default)]
    part_total: i64,
    #[serde(default)]
    item_count: i64,
    #[serde(default)]
    exported_at: Option<String>,
    #[serde(default)]
    cluster: String,
    #[serde(default)]
    items: Option<Vec<Item>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    target_namespace: String,
    target_name: String,
    namespace: String,
    name: String,
    #[serde(default)]
    group: String,
    version: String,
    kind: String,
    uid: String,
    attributes: Option<Map<String, Value>>,
}

fn rows(items: Vec<Item>) -> Vec<TargetRow> {
    items
        .into_iter()
        .map(|item| TargetRow {
            target_namespace: item.target_namespace.into(),
            target_name: item.target_name.into(),
            kind: Gvk::new(&item.group, &item.version, &item.kind),
            row: Arc::new(Row {
                namespace: item.namespace.into(),
                name: item.name.into(),
                uid: item.uid.into(),
                resource_version: "".into(),
                attributes: item
                    .attributes
                    .as_ref()
                    .map_or_else(|| Attributes::from_canonical("null"), Attributes::from_map),
            }),
        })
        .collect()
}
