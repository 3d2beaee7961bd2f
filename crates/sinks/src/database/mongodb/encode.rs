//! Pure functions (no I/O): rows into documents (sinks spec §12.3), the command documents an
//! export sends, and the plan of what to send given what the collection holds (ADR 0012).
//!
//! ```text
//!  TargetRow ──DatabaseRow::encode (byte cap, Q1)──> item JSON ──numbers as doubles──> payload
//!  document  {inventory_namespace, inventory_name, target_name, source_uid, cluster,
//!             resource_namespace, payload, exported_at}
//!  stored documents of the partition (+ memory) ──plan──> deletes, replaces, inserts
//!  deletes   {delete: coll, deletes: [{q: {_id, inventory_namespace, inventory_name, cluster},
//!             limit: 1}, …]}
//!  replaces  {update: coll, updates: [{q: {_id, inventory_namespace, inventory_name, cluster,
//!             target_name, source_uid}, u: document, upsert: false, multi: false}, …]}
//!  inserts   {insert: coll, documents: [document, …]}
//!  each batched below 10 000 statements and 8 MiB, ordered
//! ```
//!
//! A document's *content hash* covers every field except `_id` and `exported_at`, in order; the
//! sink compares it with what it wrote (or what the collection holds) and sends only documents
//! whose content changed.

use std::{
    collections::HashMap,
    fmt,
    hash::{DefaultHasher, Hasher as _},
};

use chrono::{DateTime, Utc};
use kollect_api::row::TargetRow;
use kollect_export::{RowCap, SinkError};
use mongodb::bson::{
    self, Bson, Document, RawArrayBuf, RawBson, RawDocument, RawDocumentBuf, doc,
    raw::{CStr, cstr},
};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::error::Error;
use crate::database::{DatabaseRow, Partition};

/// The unique index of sinks spec §12.2, by its default generated name.
pub const INDEX_NAME: &str = "inventory_namespace_1_inventory_name_1_target_name_1_source_uid_1";

/// MongoDB's document size limit (`maxBsonObjectSize`): a larger document cannot be stored.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// Bytes of statements per write command: half of the 16 MiB a command document may have, so
/// that a command never meets the limit whatever the envelope around the statements.
pub const MAX_COMMAND_BYTES: usize = 8 * 1024 * 1024;

/// Statements per write command: a tenth of `maxWriteBatchSize` (100 000 since MongoDB 3.6), so
/// that a 10 000-row inventory is one command.
pub const MAX_STATEMENTS: usize = 10_000;

/// A document's identity within its partition: `(target_name, source_uid)`.
pub(crate) type RowKey = (String, String);

/// The keys of the unique index, in order.
pub(crate) fn index_keys() -> Document {
    doc! {
        "inventory_namespace": 1,
        "inventory_name": 1,
        "target_name": 1,
        "source_uid": 1,
    }
}

/// One item ready to send: its key, its content hash and its document.
pub(crate) struct EncodedRow {
    pub(crate) key: RowKey,
    pub(crate) hash: u64,
    pub(crate) document: RawDocumentBuf,
}

impl fmt::Debug for EncodedRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodedRow")
            .field("key", &self.key)
            .field("hash", &self.hash)
            .field("bytes", &self.document.as_bytes().len())
            .finish()
    }
}

/// The rows of a snapshot, encoded; a row over the byte cap fails the whole export before
/// anything is sent (DECISIONS Q1), as does a document over MongoDB's 16 MiB. Items sharing a
/// `(target_name, source_uid)` key keep the last one (the Go original's sequential
/// `replaceOne`s left the last one too); the second value counts the items dropped so.
pub(crate) fn encode_rows(
    items: &[TargetRow],
    partition: &Partition,
    cap: &RowCap,
    exported_at: DateTime<Utc>,
) -> Result<(Vec<EncodedRow>, usize), SinkError> {
    let exported_at = bson::DateTime::from_millis(exported_at.timestamp_millis());
    let mut rows: Vec<EncodedRow> = Vec::with_capacity(items.len());
    let mut position: HashMap<RowKey, usize> = HashMap::with_capacity(items.len());
    let mut duplicates = 0;
    for item in items {
        let row = DatabaseRow::encode(cap, partition, item)?;
        let encoded = encode_row(partition, &row, exported_at)?;
        if let Some(&at) = position.get(&encoded.key) {
            rows[at] = encoded;
            duplicates += 1;
        } else {
            position.insert(encoded.key.clone(), rows.len());
            rows.push(encoded);
        }
    }
    Ok((rows, duplicates))
}

/// Checks every item against the byte cap, as [`encode_rows`] does, without building documents.
pub(crate) fn check_rows(
    items: &[TargetRow],
    partition: &Partition,
    cap: &RowCap,
) -> Result<(), SinkError> {
    for item in items {
        DatabaseRow::encode(cap, partition, item)?;
    }
    Ok(())
}

/// `<targetNamespace>/<targetName> <namespace>/<name> (uid <uid>)`, for messages.
fn describe(item: &TargetRow) -> String {
    format!(
        "{}/{} {}/{} (uid {})",
        item.target_namespace, item.target_name, item.row.namespace, item.row.name, item.row.uid
    )
}

/// The document of one row (sinks spec §12.3) and its content hash.
fn encode_row(
    partition: &Partition,
    row: &DatabaseRow<'_>,
    exported_at: bson::DateTime,
) -> Result<EncodedRow, Error> {
    let described = || describe(row.item);
    let payload = payload_document(&row.payload).map_err(|reason| Error::Encode {
        row: described(),
        reason,
    })?;
    let content = content_document(partition, row, payload);
    let mut document = RawDocumentBuf::try_from(&content).map_err(|error| Error::Encode {
        row: described(),
        reason: error.to_string(),
    })?;
    let hash = hash_bytes(document.as_bytes());
    document.append(cstr!("exported_at"), exported_at);
    let size = document.as_bytes().len();
    if size > MAX_DOCUMENT_BYTES {
        return Err(Error::DocumentTooLarge {
            row: described(),
            bytes: size,
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    Ok(EncodedRow {
        key: (row.target_name().to_owned(), row.source_uid().to_owned()),
        hash,
        document,
    })
}

/// The document of a row without `_id` (the server's) and `exported_at` (added last): the
/// fields of sinks spec §12.3 in its order.
fn content_document(partition: &Partition, row: &DatabaseRow<'_>, payload: Document) -> Document {
    doc! {
        "inventory_namespace": &partition.namespace,
        "inventory_name": &partition.name,
        "target_name": row.target_name(),
        "source_uid": row.source_uid(),
        "cluster": &partition.cluster,
        "resource_namespace": row.resource_namespace,
        "payload": payload,
    }
}

/// The filter selecting a whole partition: what the sink reads back before a write.
pub(crate) fn partition_filter(partition: &Partition) -> Document {
    doc! {
        "inventory_namespace": &partition.namespace,
        "inventory_name": &partition.name,
        "cluster": &partition.cluster,
    }
}

/// The item JSON as an embedded document, every number a BSON double (sinks spec §12.3: the Go
/// original encodes the item and decodes it back into a document, which makes every JSON
/// number a double). Object members keep their order.
pub(crate) fn payload_document(json: &str) -> Result<Document, String> {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let value = DoubleBson
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value))
        .map_err(|error| format!("the item is not valid JSON: {error}"))?;
    match value {
        Bson::Document(document) => Ok(document),
        _ => Err("the item is not a JSON object".to_owned()),
    }
}

/// Deserializes JSON into [`Bson`] with every number a double and objects in member order.
struct DoubleBson;

impl<'de> DeserializeSeed<'de> for DoubleBson {
    type Value = Bson;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Bson, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DoubleBson {
    type Value = Bson;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Bson, E> {
        Ok(Bson::Boolean(value))
    }

    // JSON numbers are doubles in the stored document, integers above 2^53 lose precision as
    // in the Go original (sinks spec §1.3, §12.3).
    #[allow(clippy::cast_precision_loss)]
    fn visit_i64<E>(self, value: i64) -> Result<Bson, E> {
        Ok(Bson::Double(value as f64))
    }

    #[allow(clippy::cast_precision_loss)]
    fn visit_u64<E>(self, value: u64) -> Result<Bson, E> {
        Ok(Bson::Double(value as f64))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Bson, E> {
        Ok(Bson::Double(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Bson, E> {
        Ok(Bson::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Bson, E> {
        Ok(Bson::String(value))
    }

    fn visit_unit<E>(self) -> Result<Bson, E> {
        Ok(Bson::Null)
    }

    fn visit_none<E>(self) -> Result<Bson, E> {
        Ok(Bson::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bson, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(DoubleBson)? {
            items.push(item);
        }
        Ok(Bson::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Bson, A::Error> {
        let mut document = Document::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(DoubleBson)?;
            document.insert(key, value);
        }
        Ok(Bson::Document(document))
    }
}

fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    hasher.write(bytes);
    hasher.finish()
}

/// A document of the partition as read back: its `_id`, its key (`None` when the document has
/// no string `target_name`/`source_uid`, so it cannot be one of ours), and its content hash
/// when the read included the content.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StoredDoc {
    pub(crate) id: RawBson,
    pub(crate) key: Option<RowKey>,
    pub(crate) hash: Option<u64>,
}

impl StoredDoc {
    /// Reads a document returned by the partition query; `with_content` when the query
    /// returned whole documents (not only the keys). A document without `_id` is an error of
    /// the server.
    pub(crate) fn read(document: &RawDocument, with_content: bool) -> Result<Self, String> {
        let id = document
            .get("_id")
            .map_err(|error| error.to_string())?
            .ok_or("a document without _id")?;
        let text = |field: &str| document.get_str(field).ok().map(str::to_owned);
        let key = text("target_name").zip(text("source_uid"));
        let hash = if with_content {
            Some(stored_content_hash(document).map_err(|error| error.to_string())?)
        } else {
            None
        };
        Ok(Self {
            id: RawBson::from(id),
            key,
            hash,
        })
    }
}

/// The content hash of a stored document: its elements except `_id` and `exported_at`, in
/// their order, as [`encode_rows`] hashes the document it sends.
fn stored_content_hash(document: &RawDocument) -> bson::error::Result<u64> {
    let mut content = RawDocumentBuf::new();
    for element in document {
        let (key, value) = element?;
        if key == "_id" || key == "exported_at" {
            continue;
        }
        content.append(key, value);
    }
    Ok(hash_bytes(content.as_bytes()))
}

/// What an export sends: the rows to insert (indices into the encoded rows), the stored
/// documents to replace (row index and the document's `_id`), and the documents to delete.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Plan {
    pub(crate) inserts: Vec<usize>,
    pub(crate) replaces: Vec<(usize, RawBson)>,
    pub(crate) deletes: Vec<RawBson>,
}

/// Decides what to write so that the partition holds exactly `rows`:
///
/// * a row whose key the partition lacks is inserted;
/// * a stored document is replaced (by `_id`) when its content differs from the row's (read
///   back whole), or — when only keys were read — when `memory` (the hashes of the last export
///   this sink wrote) does not have the row's hash;
/// * a stored document is deleted when its key is not a row's, when it has no key, or when it
///   repeats a key (possible only without the unique index).
pub(crate) fn plan(
    rows: &[EncodedRow],
    stored: &[StoredDoc],
    memory: Option<&HashMap<RowKey, u64>>,
) -> Plan {
    let wanted: HashMap<&RowKey, u64> = rows.iter().map(|row| (&row.key, row.hash)).collect();
    let mut seen: HashMap<&RowKey, (&RawBson, Option<u64>)> = HashMap::with_capacity(stored.len());
    let mut plan = Plan::default();
    for document in stored {
        match &document.key {
            Some(key) if wanted.contains_key(key) && !seen.contains_key(key) => {
                seen.insert(key, (&document.id, document.hash));
            }
            _ => plan.deletes.push(document.id.clone()),
        }
    }
    for (index, row) in rows.iter().enumerate() {
        match seen.get(&row.key) {
            None => plan.inserts.push(index),
            Some((id, stored)) => {
                let same = match stored {
                    Some(stored) => *stored == row.hash,
                    None => memory.and_then(|m| m.get(&row.key)) == Some(&row.hash),
                };
                if !same {
                    plan.replaces.push((index, (*id).clone()));
                }
            }
        }
    }
    plan
}

/// The hashes to remember after `rows` were written.
pub(crate) fn memory_of(rows: &[EncodedRow]) -> HashMap<RowKey, u64> {
    rows.iter().map(|row| (row.key.clone(), row.hash)).collect()
}

/// One write command and how many statements (or documents) it carries.
#[derive(Debug)]
pub(crate) struct Command {
    pub(crate) document: RawDocumentBuf,
    pub(crate) statements: usize,
}

/// `{insert: <collection>, documents: [<documents>], ordered: true[, writeConcern]}` commands.
/// Ordered: the first refused document stops the command, as the Go original's sequence of
/// `replaceOne`s stopped.
pub(crate) fn insert_commands<'a>(
    collection: &str,
    documents: impl IntoIterator<Item = &'a RawDocument>,
    write_concern: Option<&RawDocumentBuf>,
) -> Vec<Command> {
    batch(
        cstr!("insert"),
        cstr!("documents"),
        collection,
        documents,
        write_concern,
    )
}

/// The statement replacing the stored document `id` of `partition` by `row`'s document. The
/// filter names the partition and the key besides the `_id`, so that a document another
/// writer moved or changed meanwhile is not matched (the command then reports fewer matches);
/// no upsert: new documents are only ever inserted.
pub(crate) fn replace_statement(
    partition: &Partition,
    row: &EncodedRow,
    id: &RawBson,
) -> RawDocumentBuf {
    let mut filter = RawDocumentBuf::new();
    filter.append(cstr!("_id"), id.clone());
    append_partition(&mut filter, partition);
    filter.append(cstr!("target_name"), row.key.0.as_str());
    filter.append(cstr!("source_uid"), row.key.1.as_str());
    let mut statement = RawDocumentBuf::new();
    statement.append(cstr!("q"), filter);
    statement.append(cstr!("u"), &row.document);
    statement.append(cstr!("upsert"), false);
    statement.append(cstr!("multi"), false);
    statement
}

/// `{update: <collection>, updates: [<statements>], ordered: true[, writeConcern]}` commands.
pub(crate) fn update_commands<'a>(
    collection: &str,
    statements: impl IntoIterator<Item = &'a RawDocument>,
    write_concern: Option<&RawDocumentBuf>,
) -> Vec<Command> {
    batch(
        cstr!("update"),
        cstr!("updates"),
        collection,
        statements,
        write_concern,
    )
}

/// Delete commands removing the documents `ids` of `partition`, one statement per document
/// (an `_id` lookup each; a long `$in` list is scanned per document by some servers). The
/// filter names the partition besides the `_id`, so that a delete never reaches another
/// cluster's or inventory's documents, whatever the ids.
pub(crate) fn stale_delete_commands(
    collection: &str,
    partition: &Partition,
    ids: &[RawBson],
    write_concern: Option<&RawDocumentBuf>,
) -> Vec<Command> {
    let statements: Vec<RawDocumentBuf> = ids
        .iter()
        .map(|id| {
            let mut filter = RawDocumentBuf::new();
            filter.append(cstr!("_id"), id.clone());
            append_partition(&mut filter, partition);
            delete_statement(filter, 1)
        })
        .collect();
    batch(
        cstr!("delete"),
        cstr!("deletes"),
        collection,
        statements.iter().map(AsRef::as_ref),
        write_concern,
    )
}

/// The command deleting every document of `partition` (an empty snapshot, DECISIONS D14).
pub(crate) fn delete_all_command(
    collection: &str,
    partition: &Partition,
    write_concern: Option<&RawDocumentBuf>,
) -> Command {
    let mut filter = RawDocumentBuf::new();
    append_partition(&mut filter, partition);
    let statement = delete_statement(filter, 0);
    let mut commands = batch(
        cstr!("delete"),
        cstr!("deletes"),
        collection,
        [statement.as_ref()],
        write_concern,
    );
    commands.pop().unwrap_or(Command {
        document: RawDocumentBuf::new(),
        statements: 0,
    })
}

/// `inventory_namespace`, `inventory_name`, `cluster`: the partition's fields.
fn append_partition(filter: &mut RawDocumentBuf, partition: &Partition) {
    filter.append(cstr!("inventory_namespace"), partition.namespace.as_str());
    filter.append(cstr!("inventory_name"), partition.name.as_str());
    filter.append(cstr!("cluster"), partition.cluster.as_str());
}

/// `{q: <filter>, limit: <limit>}` (0: every match).
fn delete_statement(filter: RawDocumentBuf, limit: i32) -> RawDocumentBuf {
    let mut statement = RawDocumentBuf::new();
    statement.append(cstr!("q"), filter);
    statement.append(cstr!("limit"), limit);
    statement
}

fn batch<'a>(
    command: &CStr,
    field: &CStr,
    collection: &str,
    statements: impl IntoIterator<Item = &'a RawDocument>,
    write_concern: Option<&RawDocumentBuf>,
) -> Vec<Command> {
    let finish = |list: RawArrayBuf, statements: usize| {
        let mut document = RawDocumentBuf::new();
        document.append(command, collection);
        document.append(field, list);
        document.append(cstr!("ordered"), true);
        if let Some(write_concern) = write_concern {
            document.append(cstr!("writeConcern"), write_concern);
        }
        Command {
            document,
            statements,
        }
    };
    let mut commands = Vec::new();
    let (mut list, mut count, mut bytes) = (RawArrayBuf::new(), 0, 0);
    for statement in statements {
        let size = statement.as_bytes().len();
        if count > 0 && (count == MAX_STATEMENTS || bytes + size > MAX_COMMAND_BYTES) {
            commands.push(finish(std::mem::take(&mut list), count));
            (count, bytes) = (0, 0);
        }
        list.push(statement);
        count += 1;
        bytes += size;
    }
    if count > 0 {
        commands.push(finish(list, count));
    }
    commands
}

/// What a write command's reply says: documents inserted, matched or deleted, and the first
/// refused statement (`writeErrors`, with its index in the command) or write-concern failure,
/// with the server's code and message.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct WriteReply {
    pub(crate) n: u64,
    pub(crate) error: Option<WriteError>,
}

/// A statement the server refused, or a write concern it could not satisfy.
#[derive(Debug, PartialEq)]
pub(crate) struct WriteError {
    pub(crate) code: i32,
    pub(crate) message: String,
    /// The refused statement's index in the command (`None`: a write-concern failure).
    pub(crate) index: Option<usize>,
}

impl WriteReply {
    /// Reads an `ok: 1` reply of `insert`, `update` or `delete`.
    pub(crate) fn read(reply: &Document) -> Self {
        let n = reply.get("n").and_then(number).unwrap_or(0);
        let read = |error: &Document, with_index: bool| WriteError {
            code: error
                .get("code")
                .and_then(number)
                .and_then(|code| i32::try_from(code).ok())
                .unwrap_or(0),
            message: error.get_str("errmsg").unwrap_or_default().to_owned(),
            index: error
                .get("index")
                .filter(|_| with_index)
                .and_then(number)
                .and_then(|index| usize::try_from(index).ok()),
        };
        let write_error = reply
            .get_array("writeErrors")
            .ok()
            .and_then(|errors| errors.first())
            .and_then(Bson::as_document)
            .map(|error| read(error, true));
        let concern_error = reply
            .get_document("writeConcernError")
            .ok()
            .map(|error| read(error, false));
        Self {
            n,
            error: write_error.or(concern_error),
        }
    }
}

/// Stored payloads back as rows: each payload as JSON (doubles as JSON numbers, which the
/// canonical encoding prints as Go does: `2.0` as `2`), read by the export decoder.
pub(crate) fn rows_of(payloads: Vec<Bson>) -> Result<Vec<TargetRow>, String> {
    let items = payloads
        .into_iter()
        .map(json_of)
        .collect::<Result<Vec<_>, _>>()?;
    let bytes =
        serde_json::to_vec(&serde_json::Value::Array(items)).map_err(|error| error.to_string())?;
    kollect_export::decode(&bytes)
        .map(|decoded| decoded.items)
        .map_err(|error| format!("a stored payload is not an export item: {error}"))
}

/// A payload value as JSON; types JSON cannot hold (dates, ids, binaries) are refused.
fn json_of(value: Bson) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    Ok(match value {
        Bson::Null => Value::Null,
        Bson::Boolean(value) => Value::Bool(value),
        Bson::Double(value) => serde_json::Number::from_f64(value)
            .map(Value::Number)
            .ok_or("a stored payload holds a non-finite number")?,
        Bson::Int32(value) => Value::from(value),
        Bson::Int64(value) => Value::from(value),
        Bson::String(value) => Value::String(value),
        Bson::Array(items) => {
            Value::Array(items.into_iter().map(json_of).collect::<Result<_, _>>()?)
        }
        Bson::Document(document) => Value::Object(
            document
                .into_iter()
                .map(|(key, value)| Ok((key, json_of(value)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => {
            return Err(format!(
                "a stored payload holds a {:?}, which JSON cannot",
                other.element_type()
            ));
        }
    })
}

/// A non-negative count of any numeric BSON type.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn number(value: &Bson) -> Option<u64> {
    match value {
        Bson::Int32(n) => u64::try_from(*n).ok(),
        Bson::Int64(n) => u64::try_from(*n).ok(),
        // Counts are integers; a double holding one converts exactly.
        Bson::Double(n) if *n >= 0.0 && n.fract() == 0.0 => Some(*n as u64),
        _ => None,
    }
}
