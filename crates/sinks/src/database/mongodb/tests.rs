//! Unit tests of the pure stages: the exact documents and commands an export sends, and the
//! plan of what to send given what the collection holds.

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Utc};
use kollect_api::row::{Attributes, Gvk, Row, TargetRow};
use kollect_export::{ExportBatch, InventoryKey, SinkError, Snapshot};
use mongodb::bson::{self, Bson, Document, RawBson, RawDocumentBuf, doc, oid::ObjectId, rawdoc};

use super::encode::{
    self, Command, EncodedRow, MAX_COMMAND_BYTES, MAX_STATEMENTS, Plan, StoredDoc, WriteError,
    WriteReply, delete_all_command, encode_rows, insert_commands, partition_filter,
    payload_document, replace_statement, stale_delete_commands, update_commands,
};
use crate::database::Partition;

/// 2026-01-15T12:00:00.5Z.
fn exported_at() -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(1_768_478_400_500_000_000)
}

fn item(namespace: &str, name: &str, attributes: &str) -> TargetRow {
    TargetRow {
        target_namespace: "team-a".into(),
        target_name: "deployments".into(),
        kind: Gvk::new("apps", "v1", "Deployment"),
        row: Arc::new(Row {
            namespace: namespace.into(),
            name: name.into(),
            uid: format!("uid-{name}").into(),
            resource_version: "".into(),
            attributes: Attributes::from_canonical(attributes),
        }),
    }
}

fn batch(inventory: &str, cluster: &str, items: Vec<TargetRow>) -> ExportBatch {
    ExportBatch::builder(
        inventory.parse::<InventoryKey>().expect("inventory"),
        "team-a/database/mongo".parse().expect("sink"),
        Arc::new(Snapshot::new(items)),
    )
    .cluster(cluster)
    .exported_at(exported_at())
    .build()
}

fn encode(batch: &ExportBatch, sink_cluster: Option<&str>) -> (Partition, Vec<EncodedRow>) {
    let partition = Partition::of(batch, sink_cluster);
    let (rows, duplicates) = encode_rows(
        batch.snapshot().items(),
        &partition,
        &batch.row_cap(),
        batch.exported_at(),
    )
    .expect("encodes");
    assert_eq!(duplicates, 0);
    (partition, rows)
}

fn document(raw: &RawDocumentBuf) -> Document {
    Document::try_from(raw).expect("valid BSON")
}

fn keys(document: &Document) -> Vec<&str> {
    document.keys().map(String::as_str).collect()
}

#[test]
fn a_row_becomes_the_document_of_the_spec() {
    let batch = batch(
        "team-a/apps",
        "",
        vec![item(
            "team-a",
            "api",
            r#"{"enabled":true,"image":"api:1.0","labels":{"app.kubernetes.io/name":"api"},"none":null,"ports":[80,443],"ratio":0.5,"replicas":2}"#,
        )],
    );
    let (_, rows) = encode(&batch, Some(" prod-west "));
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].key,
        ("deployments".to_owned(), "uid-api".to_owned())
    );
    let payload = doc! {
        "targetNamespace": "team-a",
        "targetName": "deployments",
        "namespace": "team-a",
        "name": "api",
        "group": "apps",
        "version": "v1",
        "kind": "Deployment",
        "uid": "uid-api",
        "attributes": {
            "enabled": true,
            "image": "api:1.0",
            "labels": { "app.kubernetes.io/name": "api" },
            "none": Bson::Null,
            "ports": [80.0, 443.0],
            "ratio": 0.5,
            "replicas": 2.0,
        },
    };
    let document = document(&rows[0].document);
    assert_eq!(
        document,
        doc! {
            "inventory_namespace": "team-a",
            "inventory_name": "apps",
            "target_name": "deployments",
            "source_uid": "uid-api",
            "cluster": "prod-west",
            "resource_namespace": "team-a",
            "payload": payload.clone(),
            "exported_at": bson::DateTime::from_millis(1_768_478_400_500),
        }
    );
    // Order is part of the contract where it is visible: §12.3 fields, the item's key order.
    assert_eq!(
        keys(&document),
        [
            "inventory_namespace",
            "inventory_name",
            "target_name",
            "source_uid",
            "cluster",
            "resource_namespace",
            "payload",
            "exported_at"
        ]
    );
    assert_eq!(
        keys(document.get_document("payload").expect("payload")),
        keys(&payload)
    );
    // Every JSON number is a double (§12.3), the instant a BSON datetime.
    let attributes = document
        .get_document("payload")
        .and_then(|p| p.get_document("attributes"))
        .expect("attributes");
    assert_eq!(attributes.get("replicas"), Some(&Bson::Double(2.0)));
    assert!(
        matches!(attributes.get("ports"), Some(Bson::Array(p)) if matches!(p[0], Bson::Double(_)))
    );
    assert!(matches!(
        document.get("exported_at"),
        Some(Bson::DateTime(_))
    ));
    assert!(document.get("_id").is_none(), "the server assigns _id");
}

#[test]
fn new_rows_are_inserted_as_their_documents() {
    let batch = batch(
        "team-a/apps",
        "",
        vec![
            item("team-a", "api", r#"{"replicas":2}"#),
            item("team-a", "web", r#"{"replicas":3}"#),
        ],
    );
    let (_, rows) = encode(&batch, Some("prod-west"));
    let commands = insert_commands(
        "inventory",
        rows.iter().map(|row| row.document.as_ref()),
        None,
    );
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0].statements, 2);
    let command = document(&commands[0].document);
    assert_eq!(keys(&command), ["insert", "documents", "ordered"]);
    assert_eq!(
        command,
        doc! {
            "insert": "inventory",
            "documents": [document(&rows[0].document), document(&rows[1].document)],
            "ordered": true,
        }
    );
}

#[test]
fn a_changed_document_is_replaced_by_id_within_its_partition_and_key() {
    let batch = batch(
        "team-a/apps",
        "",
        vec![item("team-a", "api", r#"{"replicas":2}"#)],
    );
    let (partition, rows) = encode(&batch, Some("prod-west"));
    let id = ObjectId::new();
    let statement = document(&replace_statement(
        &partition,
        &rows[0],
        &RawBson::ObjectId(id),
    ));
    assert_eq!(
        statement,
        doc! {
            "q": {
                "_id": id,
                "inventory_namespace": "team-a",
                "inventory_name": "apps",
                "cluster": "prod-west",
                "target_name": "deployments",
                "source_uid": "uid-api",
            },
            "u": document(&rows[0].document),
            "upsert": false,
            "multi": false,
        }
    );
    assert_eq!(keys(&statement), ["q", "u", "upsert", "multi"]);
    assert_eq!(
        keys(statement.get_document("q").expect("q")),
        [
            "_id",
            "inventory_namespace",
            "inventory_name",
            "cluster",
            "target_name",
            "source_uid"
        ]
    );
}

#[test]
fn cluster_scoped_objects_take_the_inventory_namespace_and_cluster_inventories_cluster() {
    let batch = batch("fleet", "", vec![item("", "node-1", "{}")]);
    let (partition, rows) = encode(&batch, None);
    assert_eq!(
        partition,
        Partition {
            namespace: "cluster".into(),
            name: "fleet".into(),
            cluster: String::new(),
        }
    );
    let document = document(&rows[0].document);
    assert_eq!(
        document.get_str("inventory_namespace").ok(),
        Some("cluster")
    );
    assert_eq!(document.get_str("resource_namespace").ok(), Some("cluster"));
    assert_eq!(
        document.get_str("cluster").ok(),
        Some(""),
        "unset is empty, not default"
    );
    assert_eq!(
        partition_filter(&partition),
        doc! { "inventory_namespace": "cluster", "inventory_name": "fleet", "cluster": "" }
    );
}

#[test]
fn the_batch_cluster_wins_over_the_sink_cluster() {
    let batch = batch(
        "team-a/apps",
        "cli-cluster",
        vec![item("team-a", "api", "{}")],
    );
    let (partition, rows) = encode(&batch, Some("prod-west"));
    assert_eq!(partition.cluster, "cli-cluster");
    assert_eq!(
        document(&rows[0].document).get_str("cluster").ok(),
        Some("cli-cluster")
    );
}

fn partition() -> Partition {
    Partition {
        namespace: "team-a".into(),
        name: "apps".into(),
        cluster: "prod-west".into(),
    }
}

#[test]
fn an_empty_snapshot_deletes_its_partition_only() {
    let command = delete_all_command("inventory", &partition(), None);
    assert_eq!(command.statements, 1);
    let command = document(&command.document);
    assert_eq!(
        command,
        doc! {
            "delete": "inventory",
            "deletes": [{
                "q": {
                    "inventory_namespace": "team-a",
                    "inventory_name": "apps",
                    "cluster": "prod-west",
                },
                "limit": 0,
            }],
            "ordered": true,
        }
    );
    assert_eq!(keys(&command)[0], "delete", "the command name comes first");
}

#[test]
fn stale_documents_are_deleted_by_id_within_the_partition() {
    let ids = [ObjectId::new(), ObjectId::new()];
    let stale: Vec<RawBson> = ids.iter().map(|id| RawBson::ObjectId(*id)).collect();
    let commands = stale_delete_commands("inventory", &partition(), &stale, None);
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0].statements, 2);
    let statement = |id: ObjectId| {
        doc! {
            "q": {
                "_id": id,
                "inventory_namespace": "team-a",
                "inventory_name": "apps",
                "cluster": "prod-west",
            },
            "limit": 1,
        }
    };
    assert_eq!(
        document(&commands[0].document),
        doc! {
            "delete": "inventory",
            "deletes": [statement(ids[0]), statement(ids[1])],
            "ordered": true,
        }
    );
    assert!(stale_delete_commands("inventory", &partition(), &[], None).is_empty());
}

#[test]
fn many_stale_ids_are_split_into_commands() {
    let stale: Vec<RawBson> = (0..25_000).map(RawBson::Int32).collect();
    let commands = stale_delete_commands("inventory", &partition(), &stale, None);
    let counts: Vec<usize> = commands.iter().map(|c| c.statements).collect();
    assert_eq!(counts, [10_000, 10_000, 5_000]);
    let lengths: Vec<usize> = commands
        .iter()
        .map(|c| {
            document(&c.document)
                .get_array("deletes")
                .expect("deletes")
                .len()
        })
        .collect();
    assert_eq!(lengths, counts);
}

#[test]
fn update_commands_carry_the_statements_in_order_with_the_write_concern() {
    let batch = batch(
        "team-a/apps",
        "",
        vec![
            item("team-a", "api", r#"{"replicas":2}"#),
            item("team-a", "web", r#"{"replicas":3}"#),
        ],
    );
    let (partition, rows) = encode(&batch, None);
    let statements: Vec<RawDocumentBuf> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            replace_statement(
                &partition,
                row,
                &RawBson::Int32(i32::try_from(i).expect("small")),
            )
        })
        .collect();
    let concern = rawdoc! { "w": "majority" };
    let commands = update_commands(
        "inventory",
        statements.iter().map(AsRef::as_ref),
        Some(&concern),
    );
    assert_eq!(commands.len(), 1);
    let command = document(&commands[0].document);
    assert_eq!(
        keys(&command),
        ["update", "updates", "ordered", "writeConcern"]
    );
    assert_eq!(command.get_str("update").ok(), Some("inventory"));
    assert_eq!(command.get_bool("ordered").ok(), Some(true));
    assert_eq!(
        command.get_document("writeConcern").ok(),
        Some(&doc! { "w": "majority" })
    );
    let updates = command.get_array("updates").expect("updates");
    assert_eq!(updates.len(), 2);
    for (sent, statement) in updates.iter().zip(&statements) {
        assert_eq!(sent.as_document(), Some(&document(statement)));
    }
}

#[test]
fn update_commands_stay_below_the_statement_and_byte_limits() {
    let small = rawdoc! { "q": { "k": 1 }, "u": { "k": 1 }, "upsert": true };
    let statements = vec![small; MAX_STATEMENTS + 1];
    let commands = update_commands("inventory", statements.iter().map(AsRef::as_ref), None);
    let counts: Vec<usize> = commands
        .iter()
        .map(|c| {
            document(&c.document)
                .get_array("updates")
                .expect("updates")
                .len()
        })
        .collect();
    assert_eq!(counts, [MAX_STATEMENTS, 1]);

    let big = rawdoc! { "q": { "k": 1 }, "u": { "blob": "x".repeat(3 * 1024 * 1024) } };
    let statements = vec![big; 5];
    let commands: Vec<Command> =
        update_commands("inventory", statements.iter().map(AsRef::as_ref), None);
    let counts: Vec<usize> = commands.iter().map(|c| c.statements).collect();
    assert_eq!(counts, [2, 2, 1]);
    for command in &commands {
        assert!(command.document.as_bytes().len() <= MAX_COMMAND_BYTES + 1024);
    }
}

#[test]
fn payload_numbers_are_doubles_and_members_keep_their_order() {
    let payload = payload_document(
        r#"{"z":1,"a":[1,2.5,-3,18446744073709551615,1e300],"m":{"b":false,"a":null},"s":"\u003c"}"#,
    )
    .expect("valid JSON");
    assert_eq!(keys(&payload), ["z", "a", "m", "s"]);
    assert_eq!(
        payload,
        doc! {
            "z": 1.0,
            "a": [1.0, 2.5, -3.0, 18_446_744_073_709_551_615_f64, 1e300],
            "m": { "b": false, "a": Bson::Null },
            "s": "<",
        }
    );
    assert!(payload_document("[1,2]").is_err(), "not an object");
    assert!(payload_document("{\"a\":").is_err(), "not JSON");
    assert!(payload_document("{} {}").is_err(), "trailing data");
}

#[test]
fn an_oversize_row_fails_with_payload_too_large_before_anything_is_encoded() {
    let batch = ExportBatch::builder(
        "team-a/apps".parse().expect("inventory"),
        "team-a/database/mongo".parse().expect("sink"),
        Arc::new(Snapshot::new(vec![
            item("team-a", "api", "{}"),
            item(
                "team-a",
                "huge",
                &format!("{{\"blob\":\"{}\"}}", "x".repeat(2_000)),
            ),
        ])),
    )
    .max_part_bytes(900)
    .build();
    let partition = Partition::of(&batch, None);
    let error = encode_rows(
        batch.snapshot().items(),
        &partition,
        &batch.row_cap(),
        batch.exported_at(),
    )
    .expect_err("a row over the cap");
    assert!(
        matches!(error, SinkError::PayloadTooLarge { .. }),
        "{error:?}"
    );
}

#[test]
fn a_document_over_mongodbs_limit_fails_with_payload_too_large() {
    let batch = ExportBatch::builder(
        "team-a/apps".parse().expect("inventory"),
        "team-a/database/mongo".parse().expect("sink"),
        Arc::new(Snapshot::new(vec![item(
            "team-a",
            "huge",
            &format!("{{\"blob\":\"{}\"}}", "x".repeat(17 * 1024 * 1024)),
        )])),
    )
    .max_part_bytes(0)
    .build();
    let partition = Partition::of(&batch, None);
    let error = encode_rows(
        batch.snapshot().items(),
        &partition,
        &batch.row_cap(),
        batch.exported_at(),
    )
    .expect_err("over 16 MiB");
    assert!(
        matches!(error, SinkError::PayloadTooLarge { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("16777216"), "{error}");
}

#[test]
fn a_key_bson_cannot_hold_is_an_invalid_payload() {
    let batch = batch(
        "team-a/apps",
        "",
        vec![item("team-a", "api", r#"{"a\u0000b":1}"#)],
    );
    let partition = Partition::of(&batch, None);
    let error = encode_rows(
        batch.snapshot().items(),
        &partition,
        &batch.row_cap(),
        batch.exported_at(),
    )
    .expect_err("NUL in a key");
    assert!(
        matches!(error, SinkError::InvalidPayload { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("mongodb encode team-a/deployments team-a/api"),
        "{error}"
    );
}

#[test]
fn items_sharing_a_key_keep_the_last() {
    let mut first = item("team-a", "api", r#"{"v":1}"#);
    let mut second = item("team-b", "api", r#"{"v":2}"#);
    // Same target name and uid from two namespaces (a cluster inventory, say).
    Arc::make_mut(&mut first.row).uid = "same".into();
    Arc::make_mut(&mut second.row).uid = "same".into();
    let batch = batch("fleet", "", vec![first, second]);
    let partition = Partition::of(&batch, None);
    let (rows, duplicates) = encode_rows(
        batch.snapshot().items(),
        &partition,
        &batch.row_cap(),
        batch.exported_at(),
    )
    .expect("encodes");
    assert_eq!((rows.len(), duplicates), (1, 1));
    assert_eq!(
        document(&rows[0].document)
            .get_str("resource_namespace")
            .ok(),
        Some("team-b")
    );
}

/// What the server stores for a row: `_id` first, then the document's fields.
fn stored(row: &EncodedRow, id: i32, exported_at_millis: i64) -> RawDocumentBuf {
    let mut replacement = document(&row.document);
    replacement.insert(
        "exported_at",
        bson::DateTime::from_millis(exported_at_millis),
    );
    let mut stored = doc! { "_id": id };
    stored.extend(replacement);
    RawDocumentBuf::try_from(&stored).expect("valid")
}

fn rows() -> Vec<EncodedRow> {
    let batch = batch(
        "team-a/apps",
        "",
        vec![
            item("team-a", "api", r#"{"replicas":2}"#),
            item("team-a", "web", r#"{"replicas":3}"#),
        ],
    );
    encode(&batch, Some("prod-west")).1
}

#[test]
fn a_stored_document_hashes_like_the_row_it_came_from() {
    let rows = rows();
    let raw = stored(&rows[0], 7, 1);
    let read = StoredDoc::read(&raw, true).expect("readable");
    assert_eq!(read.id, RawBson::Int32(7));
    assert_eq!(read.key, Some(("deployments".into(), "uid-api".into())));
    assert_eq!(
        read.hash,
        Some(rows[0].hash),
        "exported_at and _id do not count"
    );
    assert_ne!(rows[0].hash, rows[1].hash);
    let keys_only = StoredDoc::read(&raw, false).expect("readable");
    assert_eq!(keys_only.hash, None);
}

#[test]
fn plans() {
    let rows = rows();
    let id = RawBson::Int32;
    let whole = |row: &EncodedRow, id: i32| StoredDoc::read(&stored(row, id, 1), true).expect("ok");
    let key_only = |row: &EncodedRow, id: i32| StoredDoc {
        id: RawBson::Int32(id),
        key: Some(row.key.clone()),
        hash: None,
    };
    let stray = |id: i32, key: Option<(&str, &str)>| StoredDoc {
        id: RawBson::Int32(id),
        key: key.map(|(t, u)| (t.to_owned(), u.to_owned())),
        hash: Some(1),
    };
    // Nothing stored: every row is inserted.
    assert_eq!(
        encode::plan(&rows, &[], None),
        Plan {
            inserts: vec![0, 1],
            ..Plan::default()
        }
    );
    // The same content stored (after a restart): nothing is sent.
    assert_eq!(
        encode::plan(&rows, &[whole(&rows[0], 1), whole(&rows[1], 2)], None),
        Plan::default()
    );
    // Changed content, a stray, a document without a key, a duplicate key.
    let mut changed = whole(&rows[1], 2);
    changed.hash = Some(rows[1].hash ^ 1);
    let plan = encode::plan(
        &rows,
        &[
            whole(&rows[0], 1),
            changed,
            stray(3, Some(("deployments", "uid-gone"))),
            stray(4, None),
            whole(&rows[0], 5),
        ],
        None,
    );
    assert_eq!(
        plan,
        Plan {
            inserts: vec![],
            replaces: vec![(1, id(2))],
            deletes: vec![id(3), id(4), id(5)],
        }
    );
    // Keys only, with the memory of the last export: only rows whose hash changed.
    let mut memory: HashMap<_, _> = encode::memory_of(&rows);
    memory.insert(rows[1].key.clone(), rows[1].hash ^ 1);
    let plan = encode::plan(
        &rows,
        &[key_only(&rows[0], 1), key_only(&rows[1], 2)],
        Some(&memory),
    );
    assert_eq!(plan.replaces, [(1, id(2))]);
    assert!(plan.inserts.is_empty() && plan.deletes.is_empty());
    // A document deleted by hand is inserted again even though the memory knows it.
    let plan = encode::plan(
        &rows,
        &[key_only(&rows[1], 2)],
        Some(&encode::memory_of(&rows)),
    );
    assert_eq!(
        plan,
        Plan {
            inserts: vec![0],
            ..Plan::default()
        }
    );
    // No memory and no content: every stored row is replaced.
    let plan = encode::plan(&rows, &[key_only(&rows[0], 1), key_only(&rows[1], 2)], None);
    assert_eq!(plan.replaces, [(0, id(1)), (1, id(2))]);
}

#[test]
fn write_replies_are_read() {
    assert_eq!(
        WriteReply::read(&doc! { "ok": 1.0, "n": 3, "nModified": 1 }),
        WriteReply { n: 3, error: None }
    );
    assert_eq!(
        WriteReply::read(&doc! {
            "ok": 1.0,
            "n": 1_i64,
            "writeErrors": [
                { "index": 1, "code": 11000, "errmsg": "E11000 duplicate key error" },
                { "index": 2, "code": 121, "errmsg": "validation" },
            ],
        }),
        WriteReply {
            n: 1,
            error: Some(WriteError {
                code: 11000,
                message: "E11000 duplicate key error".into(),
                index: Some(1),
            }),
        }
    );
    assert_eq!(
        WriteReply::read(&doc! {
            "ok": 1.0,
            "n": 2.0,
            "writeConcernError": { "code": 64, "errmsg": "waiting for replication timed out" },
        }),
        WriteReply {
            n: 2,
            error: Some(WriteError {
                code: 64,
                message: "waiting for replication timed out".into(),
                index: None,
            }),
        }
    );
    assert_eq!(WriteReply::read(&doc! { "ok": 1.0 }), WriteReply::default());
}

#[test]
fn stored_payloads_read_back_as_the_rows_they_came_from() {
    let items = vec![
        item(
            "team-a",
            "api",
            r#"{"image":"api:1.0","ports":[80,443],"ratio":0.5,"replicas":2}"#,
        ),
        item(
            "",
            "node",
            r#"{"big":1e+21,"labels":{"a":"\u003cb\u003e"},"none":null}"#,
        ),
    ];
    let expected = Snapshot::new(items.clone());
    let batch = batch("team-a/apps", "", items);
    let (_, rows) = encode(&batch, None);
    let payloads: Vec<Bson> = rows
        .iter()
        .map(|row| {
            document(&row.document)
                .remove("payload")
                .expect("a payload")
        })
        .collect();
    let read = encode::rows_of(payloads).expect("decodes");
    assert_eq!(Snapshot::new(read).items_json(), expected.items_json());
    let error = encode::rows_of(vec![Bson::Document(doc! { "at": bson::DateTime::now() })])
        .expect_err("a date is not JSON");
    assert!(error.contains("DateTime"), "{error}");
}
