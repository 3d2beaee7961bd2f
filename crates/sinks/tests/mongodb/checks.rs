//! The MongoDB checks of the sinks spec §17.8 (1–4 and 6; 5 needs the operator), written
//! against an [`Env`] so that they run on `SecantusDB` and on a real server alike. Each check
//! uses a database of its own and drops it at the end.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use kollect_api::{
    row::{Attributes, Row},
    v1alpha1::{DatabaseSinkSpec, ProvisioningMode, ProvisioningSpec},
};
use kollect_export::{
    ErrorClass, ExportBatch, ExportReceipt, Gvk, InventoryKey, Sink, SinkError, Snapshot, TargetRow,
};
use kollect_sinks::database::mongodb::{INDEX_NAME, MongoDbSink};
use mongodb::bson::{Bson, Document, doc};

use super::harness::{COLLECTION, Env};

/// 2026-01-15T12:00:00.5Z, and later instants by whole seconds.
pub fn instant(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(1_768_478_400_500_000_000 + seconds * 1_000_000_000)
}

/// A Deployment `name` in `team-a`, collected by target `deployments`, uid `uid-<name>`.
pub fn row(name: &str, attributes: &str) -> TargetRow {
    TargetRow {
        target_namespace: "team-a".into(),
        target_name: "deployments".into(),
        kind: Gvk::new("apps", "v1", "Deployment"),
        row: Arc::new(Row {
            namespace: "team-a".into(),
            name: name.into(),
            uid: format!("uid-{name}").into(),
            resource_version: "".into(),
            attributes: Attributes::from_canonical(attributes),
        }),
    }
}

/// A snapshot of `rows`.
pub fn snapshot(rows: Vec<TargetRow>) -> Arc<Snapshot> {
    Arc::new(Snapshot::new(rows))
}

/// `team-a/apps`.
pub fn apps() -> InventoryKey {
    "team-a/apps".parse().expect("inventory")
}

/// An export of `snapshot` for `inventory` at [`instant`]`(seconds)`.
pub fn batch(inventory: &InventoryKey, snapshot: &Arc<Snapshot>, seconds: i64) -> ExportBatch {
    ExportBatch::builder(
        inventory.clone(),
        "conformance/database/mongo".parse().expect("sink"),
        Arc::clone(snapshot),
    )
    .generation(1)
    .exported_at(instant(seconds))
    .build()
}

/// `api` (2 replicas) and `web`.
pub fn v1() -> Arc<Snapshot> {
    snapshot(vec![
        row("api", r#"{"image":"api:1.0","replicas":2}"#),
        row("web", r#"{"image":"nginx:1.27","replicas":3}"#),
    ])
}

pub async fn export(sink: &MongoDbSink, batch: &ExportBatch) -> ExportReceipt {
    sink.export(batch)
        .await
        .unwrap_or_else(|error| panic!("export {}: {error:?}", batch.inventory()))
}

fn with_cluster(cluster: &'static str) -> impl FnOnce(&mut DatabaseSinkSpec) {
    move |spec| spec.common.cluster = Some(cluster.to_owned())
}

fn existing(spec: &mut DatabaseSinkSpec) {
    spec.common.provisioning = Some(ProvisioningSpec {
        mode: Some(ProvisioningMode::Existing),
        ..ProvisioningSpec::default()
    });
}

async fn collection_names(env: &Env, database: &str) -> Vec<String> {
    env.client()
        .database(database)
        .list_collection_names()
        .await
        .expect("list collections")
}

async fn count(env: &Env, database: &str, filter: Document) -> u64 {
    env.collection(database)
        .count_documents(filter)
        .await
        .expect("count")
}

/// §17.8 check 1, `ensure`: the collection and its unique index exist after the first export;
/// provisioning again (another sink on the same collection) changes nothing.
pub async fn ensure_creates_the_collection_and_the_unique_index(env: &Env) {
    let database = Env::database("ensure");
    assert!(collection_names(env, &database).await.is_empty());
    let sink = env.sink(&database, |_| {});
    sink.probe().await.expect("the probe passes");
    assert!(
        collection_names(env, &database).await.is_empty(),
        "the probe creates nothing"
    );
    export(&sink, &batch(&apps(), &v1(), 0)).await;
    assert_eq!(collection_names(env, &database).await, [COLLECTION]);
    let again = env.sink(&database, |_| {});
    export(
        &again,
        &batch(&"team-a/other".parse().expect("inventory"), &v1(), 0),
    )
    .await;
    let mut cursor = env
        .collection(&database)
        .list_indexes()
        .await
        .expect("list indexes");
    let mut indexes = Vec::new();
    while cursor.advance().await.expect("next index") {
        let index = Document::try_from(cursor.current()).expect("an index");
        indexes.push(index);
    }
    assert_eq!(indexes.len(), 2, "_id_ and ours: {indexes:?}");
    let ours = indexes
        .iter()
        .find(|index| index.get_str("name").ok() == Some(INDEX_NAME))
        .unwrap_or_else(|| panic!("the unique index: {indexes:?}"));
    let keys: Vec<(&str, i64)> = ours
        .get_document("key")
        .expect("key")
        .iter()
        .map(|(field, order)| (field.as_str(), integer(order)))
        .collect();
    assert_eq!(
        keys,
        [
            ("inventory_namespace", 1),
            ("inventory_name", 1),
            ("target_name", 1),
            ("source_uid", 1)
        ]
    );
    assert_eq!(ours.get_bool("unique").ok(), Some(true), "{ours:?}");
    env.drop_database(&database).await;
}

fn integer(value: &Bson) -> i64 {
    match value {
        Bson::Int32(n) => i64::from(*n),
        Bson::Int64(n) => *n,
        #[allow(clippy::cast_possible_truncation)]
        Bson::Double(n) => *n as i64,
        other => panic!("not a number: {other:?}"),
    }
}

/// §17.8 check 1, `existing`: against a missing collection the probe and the export fail with
/// the spec's message and nothing is created; once the collection exists, exports work and
/// still create nothing (no index).
pub async fn existing_mode_creates_nothing(env: &Env) {
    let database = Env::database("existing");
    let sink = env.sink(&database, existing);
    let message = format!(
        "mongodb collection {database}.{COLLECTION} does not exist (provisioning.mode=existing)"
    );
    let probe = sink.probe().await.expect_err("the collection is missing");
    assert!(
        matches!(probe, SinkError::Misconfigured { .. }),
        "{probe:?}"
    );
    assert!(probe.to_string().contains(&message), "{probe}");
    let error = sink
        .export(&batch(&apps(), &v1(), 0))
        .await
        .expect_err("the collection is missing");
    assert!(
        matches!(error, SinkError::Misconfigured { .. }),
        "{error:?}"
    );
    assert_eq!(error.class(), ErrorClass::Terminal);
    assert!(error.to_string().contains(&message), "{error}");
    let stored = sink
        .stored(&batch(&apps(), &v1(), 0))
        .await
        .expect("a read back of a missing collection");
    assert_eq!(stored.map(|rows| rows.len()), Some(0));
    let databases = env
        .client()
        .list_database_names()
        .await
        .expect("list databases");
    assert!(!databases.contains(&database), "nothing was created");
    env.client()
        .database(&database)
        .create_collection(COLLECTION)
        .await
        .expect("create by hand");
    sink.probe().await.expect("the collection exists now");
    export(&sink, &batch(&apps(), &v1(), 0)).await;
    assert_eq!(count(env, &database, doc! {}).await, 2);
    let indexes = env
        .collection(&database)
        .list_index_names()
        .await
        .expect("indexes");
    assert_eq!(indexes, ["_id_"], "existing mode creates no index");
    env.drop_database(&database).await;
}

/// §17.8 check 2: the fields of §12.3, `payload.attributes.replicas` a double and `exported_at`
/// a date, as the server itself sees them (`$type` queries).
pub async fn documents_have_the_fields_and_types_of_the_spec(env: &Env) {
    let database = Env::database("fields");
    let sink = env.sink(&database, with_cluster("prod-west"));
    let rows = snapshot(vec![row(
        "api",
        r#"{"image":"api:1.0","ports":[80,443],"replicas":2}"#,
    )]);
    let receipt = export(&sink, &batch(&apps(), &rows, 0)).await;
    assert_eq!(
        (
            receipt.wrote,
            receipt.parts,
            receipt.rows_upserted,
            receipt.rows_deleted
        ),
        (true, 1, 1, 0)
    );
    assert!(receipt.bytes_written > 0);
    for (filter, what) in [
        (
            doc! { "payload.attributes.replicas": { "$type": "double" } },
            "replicas a double",
        ),
        (
            doc! { "payload.attributes.ports": { "$type": "double" } },
            "ports doubles",
        ),
        (
            doc! { "exported_at": { "$type": "date" } },
            "exported_at a date",
        ),
        (doc! { "_id": { "$type": "objectId" } }, "_id an ObjectId"),
        (
            doc! { "payload.attributes.replicas": 2 },
            "a plain numeric query matches",
        ),
    ] {
        assert_eq!(count(env, &database, filter).await, 1, "{what}");
    }
    let documents = env.documents(&database, doc! {}).await;
    assert_eq!(documents.len(), 1);
    let mut document = documents[0].clone();
    document.remove("_id");
    assert_eq!(
        document,
        doc! {
            "inventory_namespace": "team-a",
            "inventory_name": "apps",
            "target_name": "deployments",
            "source_uid": "uid-api",
            "cluster": "prod-west",
            "resource_namespace": "team-a",
            "payload": {
                "targetNamespace": "team-a",
                "targetName": "deployments",
                "namespace": "team-a",
                "name": "api",
                "group": "apps",
                "version": "v1",
                "kind": "Deployment",
                "uid": "uid-api",
                "attributes": { "image": "api:1.0", "ports": [80.0, 443.0], "replicas": 2.0 },
            },
            "exported_at": mongodb::bson::DateTime::from_millis(1_768_478_400_500),
        }
    );
    env.drop_database(&database).await;
}

/// §17.8 check 3: a deleted object's document goes at the next export; an empty snapshot
/// removes the inventory's documents of this cluster only (other clusters and other
/// inventories keep theirs).
pub async fn deletes_and_empty_snapshots_stay_in_their_partition(env: &Env) {
    let database = Env::database("partition");
    let west = env.sink(&database, with_cluster("prod-west"));
    let east = env.sink(&database, with_cluster("prod-east"));
    let other: InventoryKey = "team-a/other".parse().expect("inventory");
    export(&west, &batch(&apps(), &v1(), 0)).await;
    export(&west, &batch(&other, &snapshot(vec![row("cron", "{}")]), 0)).await;
    export(
        &east,
        &batch(&apps(), &snapshot(vec![row("east-db", "{}")]), 0),
    )
    .await;
    assert_eq!(count(env, &database, doc! {}).await, 4);

    let receipt = export(
        &west,
        &batch(
            &apps(),
            &snapshot(vec![row("web", r#"{"image":"nginx:1.27","replicas":3}"#)]),
            1,
        ),
    )
    .await;
    assert_eq!(
        (receipt.rows_upserted, receipt.rows_deleted),
        (0, 1),
        "{receipt:?}"
    );
    assert_eq!(
        count(env, &database, doc! { "source_uid": "uid-api" }).await,
        0,
        "the deleted object's document is gone"
    );

    let receipt = export(&west, &batch(&apps(), &snapshot(vec![]), 2)).await;
    assert!(receipt.wrote);
    assert_eq!(receipt.rows_deleted, 1, "{receipt:?}");
    assert_eq!(
        count(
            env,
            &database,
            doc! { "cluster": "prod-west", "inventory_name": "apps" }
        )
        .await,
        0
    );
    assert_eq!(
        env.read_back(&database, &apps(), "prod-east")
            .await
            .expect("read")
            .len(),
        1,
        "the other cluster's documents survive"
    );
    assert_eq!(
        env.read_back(&database, &other, "prod-west")
            .await
            .expect("read")
            .len(),
        1,
        "the other inventory's documents survive"
    );
    env.drop_database(&database).await;
}

/// §17.8 check 4: re-exporting keeps the document count and the `_id`s — unchanged documents
/// are not even rewritten (their `exported_at` stays), also by a new sink (a restart); a
/// changed row keeps its `_id`.
pub async fn reexports_keep_the_count_and_the_ids(env: &Env) {
    let database = Env::database("reexport");
    let first = env.sink(&database, |_| {});
    export(&first, &batch(&apps(), &v1(), 0)).await;
    let before = env.documents(&database, doc! {}).await;
    assert_eq!(before.len(), 2);

    // A new sink (as after a restart) reads the partition and finds nothing to write.
    let restarted = env.sink(&database, |_| {});
    let writes = env.writes(&database).await.expect("writes");
    let receipt = export(&restarted, &batch(&apps(), &v1(), 10)).await;
    assert!(!receipt.wrote, "nothing changed: {receipt:?}");
    assert_eq!(env.writes(&database).await.expect("writes"), writes);
    assert_eq!(env.documents(&database, doc! {}).await, before);

    // One row changes: one document is rewritten, in place.
    let v2 = snapshot(vec![
        row("api", r#"{"image":"api:1.1","replicas":2}"#),
        row("web", r#"{"image":"nginx:1.27","replicas":3}"#),
    ]);
    let receipt = export(&restarted, &batch(&apps(), &v2, 20)).await;
    assert_eq!(
        (receipt.rows_upserted, receipt.rows_deleted),
        (1, 0),
        "{receipt:?}"
    );
    let after = env.documents(&database, doc! {}).await;
    assert_eq!(after.len(), 2);
    let ids = |documents: &[Document]| -> Vec<Bson> {
        documents
            .iter()
            .map(|d| d.get("_id").cloned().expect("_id"))
            .collect()
    };
    assert_eq!(ids(&after), ids(&before), "the _ids are kept");
    let exported_at = |documents: &[Document], uid: &str| {
        documents
            .iter()
            .find(|d| d.get_str("source_uid").ok() == Some(uid))
            .and_then(|d| d.get_datetime("exported_at").ok().copied())
            .expect("exported_at")
    };
    assert_eq!(
        exported_at(&after, "uid-web"),
        exported_at(&before, "uid-web")
    );
    assert_eq!(
        exported_at(&after, "uid-api").timestamp_millis(),
        instant(20).timestamp_millis()
    );
    env.drop_database(&database).await;
}

/// §17.8 check 6: a document inserted by hand with the key of an exported item but another
/// cluster makes the export fail with a terminal duplicate-key error; once it is gone, the next
/// export converges.
pub async fn another_clusters_document_with_the_same_key_fails_terminally(env: &Env) {
    let database = Env::database("duplicate");
    let west = env.sink(&database, with_cluster("prod-west"));
    // Provisions the collection and the unique index.
    export(&west, &batch(&apps(), &snapshot(vec![]), 0)).await;
    env.collection(&database)
        .insert_one(doc! {
            "inventory_namespace": "team-a",
            "inventory_name": "apps",
            "target_name": "deployments",
            "source_uid": "uid-api",
            "cluster": "prod-east",
            "resource_namespace": "team-a",
            "payload": {},
        })
        .await
        .expect("insert by hand");
    let error = west
        .export(&batch(&apps(), &v1(), 1))
        .await
        .expect_err("a duplicate key");
    assert!(
        matches!(error, SinkError::InvalidPayload { .. }),
        "{error:?}"
    );
    assert_eq!(error.class(), ErrorClass::Terminal);
    assert!(!error.is_retriable());
    let text = error.to_string();
    assert!(text.contains("mongodb upsert"), "{text}");
    assert!(text.contains("duplicate key"), "{text}");
    assert_eq!(
        count(env, &database, doc! { "cluster": "prod-east" }).await,
        1,
        "the other cluster's document is untouched"
    );
    env.collection(&database)
        .delete_many(doc! { "cluster": "prod-east" })
        .await
        .expect("remove it");
    export(&west, &batch(&apps(), &v1(), 2)).await;
    assert_eq!(
        env.read_back(&database, &apps(), "prod-west")
            .await
            .expect("read")
            .len(),
        2
    );
    env.drop_database(&database).await;
}

/// A collection validator refusing the documents (code 121) fails the export terminally.
pub async fn a_validator_refusal_is_terminal(env: &Env) {
    let database = Env::database("validator");
    env.client()
        .database(&database)
        .create_collection(COLLECTION)
        .validator(doc! { "$jsonSchema": { "required": ["owner"] } })
        .await
        .expect("create with a validator");
    let sink = env.sink(&database, existing);
    let error = sink
        .export(&batch(&apps(), &v1(), 0))
        .await
        .expect_err("refused");
    assert!(
        matches!(error, SinkError::InvalidPayload { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("validator"), "{error}");
    env.drop_database(&database).await;
}

/// Every check, in turn (the gated real-server test).
pub async fn all(env: &Env) {
    ensure_creates_the_collection_and_the_unique_index(env).await;
    existing_mode_creates_nothing(env).await;
    documents_have_the_fields_and_types_of_the_spec(env).await;
    deletes_and_empty_snapshots_stay_in_their_partition(env).await;
    reexports_keep_the_count_and_the_ids(env).await;
    another_clusters_document_with_the_same_key_fails_terminally(env).await;
    a_validator_refusal_is_terminal(env).await;
}
