//! Object-store sink against real destinations on 127.0.0.1: a temporary directory, moto (S3)
//! and fake-gcs-server (GCS), each started by the test and stopped when it ends.
#![cfg(feature = "object-store")]
#![allow(missing_docs, unreachable_pub, clippy::unwrap_used, clippy::panic)]

#[path = "object_store/counting.rs"]
mod counting;
#[path = "object_store/fixtures.rs"]
mod fixtures;
#[path = "object_store/gcs_xml.rs"]
mod gcs_xml;
#[path = "object_store/harness.rs"]
mod harness;
#[path = "object_store/readers.rs"]
mod readers;
#[path = "object_store/servers.rs"]
mod servers;

mod conformance {
    use kollect_api::v1alpha1::{Compression, SerializationFormat};

    use super::harness::{Backend, Conformance};

    mod local_json {
        kollect_export::conformance_tests!(
            super::Conformance::new(
                super::Backend::Local,
                super::SerializationFormat::Json,
                None
            )
            .await
        );
    }
    mod local_ndjson {
        kollect_export::conformance_tests!(
            super::Conformance::new(
                super::Backend::Local,
                super::SerializationFormat::Ndjson,
                None
            )
            .await
        );
    }
    mod local_csv {
        kollect_export::conformance_tests!(
            super::Conformance::new(super::Backend::Local, super::SerializationFormat::Csv, None)
                .await
        );
    }
    mod local_parquet {
        kollect_export::conformance_tests!(
            super::Conformance::new(
                super::Backend::Local,
                super::SerializationFormat::Parquet,
                None
            )
            .await
        );
    }
    mod s3_json {
        kollect_export::conformance_tests!(
            super::Conformance::new(super::Backend::S3, super::SerializationFormat::Json, None)
                .await
        );
    }
    mod s3_parquet {
        kollect_export::conformance_tests!(
            super::Conformance::new(
                super::Backend::S3,
                super::SerializationFormat::Parquet,
                None
            )
            .await
        );
    }
    mod s3_csv_gzip {
        kollect_export::conformance_tests!(
            super::Conformance::new(
                super::Backend::S3,
                super::SerializationFormat::Csv,
                Some(super::Compression::Gzip)
            )
            .await
        );
    }
    mod gcs_json {
        kollect_export::conformance_tests!(
            super::Conformance::new(super::Backend::Gcs, super::SerializationFormat::Json, None)
                .await
        );
    }
    mod gcs_parquet {
        kollect_export::conformance_tests!(
            super::Conformance::new(
                super::Backend::Gcs,
                super::SerializationFormat::Parquet,
                None
            )
            .await
        );
    }
    mod gcs_ndjson_zstd {
        kollect_export::conformance_tests!(
            super::Conformance::new(
                super::Backend::Gcs,
                super::SerializationFormat::Ndjson,
                Some(super::Compression::Zstd)
            )
            .await
        );
    }
}

use std::{sync::Arc, time::Duration};

use arrow_array::{
    Array, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use bytes::Bytes;
use kollect_api::v1alpha1::{
    Compression, GitSpec, LayoutSpec, ObjectStoreSpec, ProvisioningMode, ProvisioningSpec,
    SerializationFormat, SnapshotSinkType, TlsSpec,
};
use kollect_export::{
    ErrorClass, Layers, ResolvedSinkSpec, RetryPolicy, Sink, SinkError, SinkExt as _,
    SinkFactory as _, SinkRegistry, SinkRole, SinkSpec, SinkType, Snapshot,
};
use kollect_sinks::snapshot::object_store::{
    AttributeType, Config, ObjectStoreSinkFactory, StaticTypeHints,
};
use object_store::{Attribute, ObjectStoreExt as _, path::Path};
use parquet::{
    arrow::arrow_reader::ParquetRecordBatchReaderBuilder,
    file::reader::{FileReader as _, SerializedFileReader},
};
use rstest::rstest;

use crate::{
    fixtures::{batch, exported_at, inventory, many, mixed},
    harness::{Backend, Env, decode, decompress, read_back},
};

fn parquet_batches(bytes: &Bytes) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(bytes.clone())
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> &'a T {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("column {name}"))
        .as_any()
        .downcast_ref::<T>()
        .unwrap_or_else(|| panic!("column {name} has another type"))
}

fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let array: &StringArray = column(batch, name);
    (0..array.len())
        .map(|i| (!array.is_null(i)).then(|| array.value(i).to_owned()))
        .collect()
}

/// The sink of `resolved` built through the public factory.
fn build(resolved: &ResolvedSinkSpec) -> Arc<dyn Sink> {
    ObjectStoreSinkFactory::new().build(resolved).unwrap()
}

// ---- What each format writes ---------------------------------------------------------------

#[tokio::test]
async fn json_objects_are_the_envelope_byte_for_byte() {
    let env = Env::start(Backend::S3).await;
    let sink = build(&env.resolved("json", SerializationFormat::Json, None, |_| {}));
    let snapshot = mixed();
    let batch = batch("team-a/apps", &snapshot, 3).build();
    let receipt = sink.export(&batch).await.unwrap();
    assert_eq!(receipt.object_keys, ["json/inventory/team-a/apps.json"]);
    let object = env
        .root_store()
        .get(&Path::from("json/inventory/team-a/apps.json"))
        .await
        .unwrap();
    assert_eq!(
        object
            .attributes
            .get(&Attribute::ContentType)
            .map(AsRef::as_ref),
        Some("application/json")
    );
    let bytes = object.bytes().await.unwrap();
    assert_eq!(bytes, batch.parts().unwrap().parts[0].envelope.as_bytes());
    assert_eq!(receipt.bytes_written, bytes.len() as u64);
}

#[tokio::test]
async fn ndjson_lines_are_the_items_of_the_envelope() {
    let env = Env::start(Backend::Local).await;
    let sink = build(&env.resolved("nd", SerializationFormat::Ndjson, None, |_| {}));
    let snapshot = mixed();
    let receipt = sink
        .export(&batch("team-a/apps", &snapshot, 3).build())
        .await
        .unwrap();
    assert_eq!(receipt.object_keys, ["inventory/team-a/apps.ndjson"]);
    let written =
        std::fs::read_to_string(env.dir().join("nd/inventory/team-a/apps.ndjson")).unwrap();
    let expected: String = snapshot
        .items()
        .iter()
        .map(|row| row.encode() + "\n")
        .collect();
    assert_eq!(written, expected);
}

#[tokio::test]
async fn csv_objects_have_a_header_and_one_record_per_item() {
    let env = Env::start(Backend::Local).await;
    let sink = build(
        &env.resolved("csv", SerializationFormat::Csv, None, |spec| {
            spec.common.cluster = Some(" prod-west ".into());
        }),
    );
    sink.export(&batch("team-a/apps", &mixed(), 3).build())
        .await
        .unwrap();
    let written = std::fs::read_to_string(env.dir().join("csv/inventory/team-a/apps.csv")).unwrap();
    let expected = concat!(
        "api_version,attr_image,attr_version,attributes,cluster,exported_at,group,inventory_name,inventory_namespace,kind,name,namespace,target_name,target_namespace,uid\n",
        r#"v1,api:1.0,,"{""big"":1000000,""image"":""api:1.0"",""labels"":{""app"":""api""},""ratio"":0.5,""ready"":true,""replicas"":2}",prod-west,2026-01-15T12:00:00.123456Z,apps,apps,team-a,Deployment,api,team-a,workloads,team-a,uid-api"#,
        "\n",
        r#"v1,,,"{""Image"":""caps"",""image"":"""",""note"":""a,b \""quoted\""\nline \u003ctag\u003e ü"",""replicas"":""3""}",prod-west,2026-01-15T12:00:00.123456Z,,apps,team-a,ConfigMap,settings,team-a,workloads,team-a,uid-settings"#,
        "\n",
        r#"v1,nginx:1.27,1.27,"{""image"":""nginx:1.27"",""ratio"":""n/a"",""ready"":""false"",""replicas"":1000000,""version"":""1.27""}",prod-west,2026-01-15T12:00:00.123456Z,apps,apps,team-a,Deployment,web,team-a,workloads,team-a,uid-web"#,
        "\n",
    );
    assert_eq!(written, expected);
}

#[tokio::test]
async fn parquet_objects_have_the_documented_schema_and_go_compatible_cells() {
    let env = Env::start(Backend::S3).await;
    let sink = build(
        &env.resolved("pq", SerializationFormat::Parquet, None, |spec| {
            spec.common.cluster = Some("prod-west".into());
            // Sinks spec §17.6 check 4: the lookup is case-sensitive, the column name lower-case.
            spec.object_store = Some(ObjectStoreSpec {
                format: None,
                hot_attributes: Some(vec!["Image".into(), "replicas".into()]),
            });
        }),
    );
    let receipt = sink
        .export(&batch("team-a/apps", &mixed(), 3).build())
        .await
        .unwrap();
    let key = "pq/inventory/cluster=prod-west/ns=team-a/name=apps/generation=3.parquet";
    assert_eq!(receipt.object_keys, [key]);
    let object = env.root_store().get(&Path::from(key)).await.unwrap();
    assert_eq!(
        object
            .attributes
            .get(&Attribute::ContentType)
            .map(AsRef::as_ref),
        Some("application/vnd.apache.parquet")
    );
    let bytes = object.bytes().await.unwrap();
    let reader = SerializedFileReader::new(bytes.clone()).unwrap();
    let mut schema = Vec::new();
    parquet::schema::printer::print_schema(&mut schema, reader.metadata().file_metadata().schema());
    assert_eq!(
        String::from_utf8(schema).unwrap(),
        "message inventory {
  REQUIRED BYTE_ARRAY api_version (STRING);
  OPTIONAL BYTE_ARRAY attr_image (STRING);
  OPTIONAL BYTE_ARRAY attr_replicas (STRING);
  REQUIRED BYTE_ARRAY attributes;
  REQUIRED BYTE_ARRAY cluster (STRING);
  REQUIRED INT64 exported_at (TIMESTAMP(MICROS,true));
  OPTIONAL BYTE_ARRAY group (STRING);
  REQUIRED BYTE_ARRAY inventory_name (STRING);
  REQUIRED BYTE_ARRAY inventory_namespace (STRING);
  REQUIRED BYTE_ARRAY kind (STRING);
  REQUIRED BYTE_ARRAY name (STRING);
  REQUIRED BYTE_ARRAY namespace (STRING);
  REQUIRED BYTE_ARRAY target_name (STRING);
  REQUIRED BYTE_ARRAY target_namespace (STRING);
  REQUIRED BYTE_ARRAY uid (STRING);
}
"
    );
    let batches = parquet_batches(&bytes);
    assert_eq!(batches.len(), 1);
    let rows = &batches[0];
    assert_eq!(rows.num_rows(), 3);
    assert_eq!(
        strings(rows, "name"),
        [
            Some("api".into()),
            Some("settings".into()),
            Some("web".into())
        ]
    );
    assert_eq!(
        strings(rows, "group"),
        [Some("apps".into()), None, Some("apps".into())]
    );
    assert_eq!(
        strings(rows, "attr_image"),
        [None, Some("caps".into()), None]
    );
    assert_eq!(
        strings(rows, "attr_replicas"),
        [Some("2".into()), Some("3".into()), Some("1e+06".into())]
    );
    assert_eq!(
        strings(rows, "cluster"),
        vec![Some("prod-west".to_owned()); 3]
    );
    let at: &TimestampMicrosecondArray = column(rows, "exported_at");
    assert_eq!(at.value(0), exported_at().timestamp_micros());
    assert_eq!(
        decode(SerializationFormat::Parquet, None, &bytes).unwrap(),
        mixed().items()
    );
}

#[tokio::test]
async fn type_hints_give_promoted_columns_their_types() {
    let env = Env::start(Backend::Local).await;
    let hints = StaticTypeHints::new()
        .with("replicas", AttributeType::Integer)
        .with("ratio", AttributeType::Float)
        .with("ready", AttributeType::Boolean);
    let factory = ObjectStoreSinkFactory::new().with_type_hints(Arc::new(hints));
    let configure = |spec: &mut kollect_api::v1alpha1::SnapshotSinkSpec| {
        spec.object_store = Some(ObjectStoreSpec {
            format: None,
            hot_attributes: Some(vec![
                "ready".into(),
                "ratio".into(),
                "replicas".into(),
                "labels".into(),
            ]),
        });
    };
    let parquet = factory
        .build(&env.resolved("pq", SerializationFormat::Parquet, None, configure))
        .unwrap();
    let csv = factory
        .build(&env.resolved("csv", SerializationFormat::Csv, None, configure))
        .unwrap();
    let batch = batch("team-a/apps", &mixed(), 1).build();
    parquet.export(&batch).await.unwrap();
    csv.export(&batch).await.unwrap();

    let bytes = Bytes::from(
        std::fs::read(
            env.dir()
                .join("pq/inventory/cluster=default/ns=team-a/name=apps/generation=1.parquet"),
        )
        .unwrap(),
    );
    let rows = &parquet_batches(&bytes)[0];
    let replicas: &Int64Array = column(rows, "attr_replicas");
    assert_eq!(
        replicas.iter().collect::<Vec<_>>(),
        [Some(2), Some(3), Some(1_000_000)]
    );
    let ratio: &Float64Array = column(rows, "attr_ratio");
    assert_eq!(ratio.iter().collect::<Vec<_>>(), [Some(0.5), None, None]);
    let ready: &BooleanArray = column(rows, "attr_ready");
    assert_eq!(
        ready.iter().collect::<Vec<_>>(),
        [Some(true), None, Some(false)]
    );
    assert_eq!(
        strings(rows, "attr_labels"),
        [Some(r#"{"app":"api"}"#.into()), None, None]
    );

    let text = std::fs::read_to_string(env.dir().join("csv/inventory/team-a/apps.csv")).unwrap();
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("api_version,attr_labels,attr_ratio,attr_ready,attr_replicas,attributes,")
    );
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with(r#"v1,"{""app"":""api""}",0.5,true,2,"#)
    );
    assert!(lines.next().unwrap().starts_with("v1,,,,3,"));
    assert!(lines.next().unwrap().starts_with("v1,,,false,1000000,"));
}

// ---- Where objects go -----------------------------------------------------------------------

#[tokio::test]
async fn parquet_keys_are_hive_partitions_per_generation() {
    let env = Env::start(Backend::Local).await;
    let sink = build(
        &env.resolved("hive", SerializationFormat::Parquet, None, |spec| {
            spec.common.cluster = Some("prod west/1".into());
        }),
    );
    let snapshot = mixed();
    let apps4 = sink
        .export(&batch("team-a/apps", &snapshot, 4).build())
        .await
        .unwrap();
    let fleet = sink
        .export(&batch("fleet", &snapshot, 2).build())
        .await
        .unwrap();
    let cli = sink
        .export(&batch("team-a/cli", &snapshot, 0).cluster("laptop").build())
        .await
        .unwrap();
    assert_eq!(
        apps4.object_keys,
        ["inventory/cluster=prod_west_1/ns=team-a/name=apps/generation=4.parquet"]
    );
    assert_eq!(
        fleet.object_keys,
        ["inventory/cluster=prod_west_1/ns=cluster/name=fleet/generation=2.parquet"]
    );
    assert_eq!(
        cli.object_keys,
        ["inventory/cluster=laptop/ns=team-a/name=cli/generation=0.parquet"]
    );
    // A new generation is a new object; the old one stays (sinks spec §9.2).
    let apps5 = sink
        .export(&batch("team-a/apps", &snapshot, 5).build())
        .await
        .unwrap();
    assert_eq!(
        apps5.object_keys,
        ["inventory/cluster=prod_west_1/ns=team-a/name=apps/generation=5.parquet"]
    );
    let objects = env.data_objects("hive").await;
    assert_eq!(
        objects.keys().collect::<Vec<_>>(),
        [
            "inventory/cluster=laptop/ns=team-a/name=cli/generation=0.parquet",
            "inventory/cluster=prod_west_1/ns=cluster/name=fleet/generation=2.parquet",
            "inventory/cluster=prod_west_1/ns=team-a/name=apps/generation=4.parquet",
            "inventory/cluster=prod_west_1/ns=team-a/name=apps/generation=5.parquet",
        ]
    );
    let fleet_rows = &parquet_batches(
        &objects["inventory/cluster=prod_west_1/ns=cluster/name=fleet/generation=2.parquet"],
    )[0];
    // The column keeps the cluster as configured; only the partition value is sanitised.
    assert_eq!(
        strings(fleet_rows, "cluster")[0].as_deref(),
        Some("prod west/1")
    );
    assert_eq!(
        strings(fleet_rows, "inventory_namespace")[0].as_deref(),
        Some("cluster")
    );
    assert_eq!(
        strings(fleet_rows, "inventory_name")[0].as_deref(),
        Some("fleet")
    );
}

#[tokio::test]
async fn path_templates_render_every_placeholder() {
    let env = Env::start(Backend::Local).await;
    let template = "clusters/{cluster}/{namespace}/{name}-g{generation}{extension}";
    let with_cluster = build(&env.resolved(
        "t1",
        SerializationFormat::Csv,
        Some(Compression::Gzip),
        |spec| {
            spec.common.path_template = Some(template.into());
            spec.common.cluster = Some("prod-west".into());
        },
    ));
    let without = build(
        &env.resolved("t2", SerializationFormat::Json, None, |spec| {
            spec.common.path_template = Some(template.into());
        }),
    );
    let snapshot = mixed();
    let batch = batch("team-a/apps", &snapshot, 3).build();
    assert_eq!(
        with_cluster.export(&batch).await.unwrap().object_keys,
        ["clusters/prod-west/team-a/apps-g3.csv.gz"]
    );
    assert_eq!(
        without.export(&batch).await.unwrap().object_keys,
        ["clusters/default/team-a/apps-g3.json"]
    );
}

#[tokio::test]
async fn leftover_parts_of_a_larger_export_are_deleted_in_the_same_export() {
    let env = Env::start(Backend::S3).await;
    let resolved = env.resolved("left", SerializationFormat::Json, None, |_| {});
    let (sink, counters) = harness::counted_sink(&resolved);
    let big = many(30, 400);
    let first = sink
        .export(&batch("team-a/apps", &big, 1).max_part_bytes(4000).build())
        .await
        .unwrap();
    let parts = first.parts;
    assert!(parts >= 3, "the ceiling splits the export: {first:?}");
    assert_eq!(env.data_objects("left").await.len(), parts);
    let small = many(3, 400);
    let second = sink
        .export(&batch("team-a/apps", &small, 1).max_part_bytes(4000).build())
        .await
        .unwrap();
    assert_eq!(second.object_keys, ["left/inventory/team-a/apps.json"]);
    let objects = env.data_objects("left").await;
    assert_eq!(
        objects.keys().collect::<Vec<_>>(),
        ["inventory/team-a/apps.json"]
    );
    assert_eq!(
        counters.deletes.load(std::sync::atomic::Ordering::SeqCst),
        parts as u64,
        "every earlier part went in the same export"
    );
    let rows = read_back(
        &env,
        "left",
        &inventory("team-a/apps"),
        SerializationFormat::Json,
        None,
    )
    .await
    .unwrap();
    assert!(
        Snapshot::new(rows) == *small,
        "the object reads back as the smaller snapshot"
    );
}

#[tokio::test]
async fn parquet_parts_of_an_earlier_generation_are_kept() {
    let env = Env::start(Backend::Local).await;
    let sink = build(&env.resolved("gen", SerializationFormat::Parquet, None, |_| {}));
    let big = many(30, 400);
    let small = many(3, 400);
    let split = sink
        .export(&batch("team-a/apps", &big, 1).max_part_bytes(4000).build())
        .await
        .unwrap();
    assert!(split.parts >= 3);
    assert!(split.object_keys[0].ends_with(&format!(
        "name=apps.part-0001-of-{:04}/generation=1.parquet",
        split.parts
    )));
    // Same generation, fewer parts: the earlier parts go.
    sink.export(&batch("team-a/apps", &small, 1).max_part_bytes(4000).build())
        .await
        .unwrap();
    // A new generation: generation 1 stays for readers of history.
    sink.export(&batch("team-a/apps", &big, 2).build())
        .await
        .unwrap();
    let objects = env.data_objects("gen").await;
    assert_eq!(
        objects.keys().collect::<Vec<_>>(),
        [
            "inventory/cluster=default/ns=team-a/name=apps/generation=1.parquet",
            "inventory/cluster=default/ns=team-a/name=apps/generation=2.parquet",
        ]
    );
}

#[tokio::test]
async fn large_parts_go_up_as_multipart_uploads_on_s3() {
    large_parts_go_up_as_multipart_uploads(Backend::S3, SerializationFormat::Json).await;
}

#[tokio::test]
async fn large_parts_go_up_as_multipart_uploads_on_gcs() {
    large_parts_go_up_as_multipart_uploads(Backend::Gcs, SerializationFormat::Csv).await;
}

async fn large_parts_go_up_as_multipart_uploads(backend: Backend, format: SerializationFormat) {
    use std::sync::atomic::Ordering;
    let env = Env::start(backend).await;
    let resolved = env.resolved("big", format, None, |_| {});
    let (sink, counters) = harness::counted_sink(&resolved);
    // About 22 MB of envelope: three parts of 8 MiB.
    let snapshot = many(2_200, 10_000);
    let receipt = sink
        .export(&batch("team-a/apps", &snapshot, 1).max_part_bytes(0).build())
        .await
        .unwrap();
    assert_eq!(receipt.parts, 1);
    assert!(receipt.bytes_written > 20_000_000, "{receipt:?}");
    assert_eq!(counters.multipart_uploads.load(Ordering::SeqCst), 1);
    assert_eq!(counters.multipart_parts.load(Ordering::SeqCst), 3);
    assert_eq!(
        counters.puts.load(Ordering::SeqCst),
        1,
        "only the marker is a single PUT"
    );
    let rows = read_back(&env, "big", &inventory("team-a/apps"), format, None)
        .await
        .unwrap();
    assert!(
        Snapshot::new(rows) == *snapshot,
        "the object reads back as the snapshot"
    );
}

#[tokio::test]
async fn compressed_objects_decompress_to_the_plain_encoding() {
    let env = Env::start(Backend::Local).await;
    let snapshot = mixed();
    let batch = batch("team-a/apps", &snapshot, 1).build();
    for (format, extension) in [
        (SerializationFormat::Json, ".json"),
        (SerializationFormat::Ndjson, ".ndjson"),
        (SerializationFormat::Csv, ".csv"),
    ] {
        let plain_prefix = format!("plain-{format}");
        build(&env.resolved(&plain_prefix, format, None, |_| {}))
            .export(&batch)
            .await
            .unwrap();
        let plain = std::fs::read(
            env.dir()
                .join(format!("{plain_prefix}/inventory/team-a/apps{extension}")),
        )
        .unwrap();
        for (compression, suffix) in [(Compression::Gzip, ".gz"), (Compression::Zstd, ".zst")] {
            let prefix = format!("{format}-{suffix}");
            let receipt = build(&env.resolved(&prefix, format, Some(compression), |_| {}))
                .export(&batch)
                .await
                .unwrap();
            let key = format!("inventory/team-a/apps{extension}{suffix}");
            assert_eq!(receipt.object_keys, std::slice::from_ref(&key));
            let packed = std::fs::read(env.dir().join(&prefix).join(&key)).unwrap();
            assert!(
                packed.len() < plain.len() || plain.len() < 300,
                "{format} {suffix}"
            );
            assert_eq!(
                decompress(Some(compression), &packed).unwrap(),
                plain,
                "{format} {suffix}"
            );
        }
    }
    // Parquet compresses its column chunks instead: the codec is in the file's metadata.
    for (compression, codec) in [
        (None, parquet::basic::Compression::SNAPPY),
        (
            Some(Compression::None),
            parquet::basic::Compression::UNCOMPRESSED,
        ),
        (
            Some(Compression::Zstd),
            parquet::basic::Compression::ZSTD(parquet::basic::ZstdLevel::default()),
        ),
        (
            Some(Compression::Gzip),
            parquet::basic::Compression::GZIP(parquet::basic::GzipLevel::default()),
        ),
    ] {
        let prefix = format!("pq-{compression:?}");
        let receipt =
            build(&env.resolved(&prefix, SerializationFormat::Parquet, compression, |_| {}))
                .export(&batch)
                .await
                .unwrap();
        let bytes = Bytes::from(
            std::fs::read(env.dir().join(&prefix).join(&receipt.object_keys[0])).unwrap(),
        );
        let reader = SerializedFileReader::new(bytes).unwrap();
        assert_eq!(
            reader.metadata().row_group(0).column(0).compression(),
            codec,
            "{compression:?}"
        );
    }
}

// ---- Idempotency across restarts ----------------------------------------------------------

#[tokio::test]
async fn a_new_sink_instance_recognises_an_unchanged_export() {
    let env = Env::start(Backend::Local).await;
    let resolved = env.resolved("restart", SerializationFormat::Parquet, None, |_| {});
    let snapshot = mixed();
    let batch = batch("team-a/apps", &snapshot, 2).build();
    assert!(build(&resolved).export(&batch).await.unwrap().wrote);
    // A restarted operator builds a new sink: the marker, not memory, says what was written.
    let (restarted, counters) = harness::counted_sink(&resolved);
    assert!(!restarted.export(&batch).await.unwrap().wrote);
    assert_eq!(counters.writes(), 0);
    // An object removed behind the sink's back is written again.
    let key = "restart/inventory/cluster=default/ns=team-a/name=apps/generation=2.parquet";
    std::fs::remove_file(env.dir().join(key)).unwrap();
    assert!(restarted.export(&batch).await.unwrap().wrote);
    assert!(env.dir().join(key).exists());
    // So is a different digest in the same generation.
    let changed = Arc::new(Snapshot::new(mixed().items()[..2].to_vec()));
    let receipt = restarted
        .export(&fixtures::batch("team-a/apps", &changed, 2).build())
        .await
        .unwrap();
    assert!(receipt.wrote);
    let rows = read_back(
        &env,
        "restart",
        &inventory("team-a/apps"),
        SerializationFormat::Parquet,
        None,
    )
    .await
    .unwrap();
    assert_eq!(Snapshot::new(rows), *changed);
}

// ---- Configuration ------------------------------------------------------------------------

fn resolved_spec(
    sink_type: SnapshotSinkType,
    endpoint: Option<&str>,
    configure: impl FnOnce(&mut kollect_api::v1alpha1::SnapshotSinkSpec),
    secrets: &[(&str, &str)],
) -> ResolvedSinkSpec {
    let mut spec = kollect_api::v1alpha1::SnapshotSinkSpec {
        sink_type,
        common: kollect_api::v1alpha1::SinkCommonSpec {
            endpoint: endpoint.map(str::to_owned),
            ..Default::default()
        },
        git: None,
        gitlab: None,
        object_store: None,
        http: None,
    };
    configure(&mut spec);
    let data = secrets
        .iter()
        .map(|(key, value)| ((*key).to_owned(), value.as_bytes().to_vec()))
        .collect();
    ResolvedSinkSpec::new(
        "team-a".parse().unwrap(),
        "exports".parse().unwrap(),
        SinkSpec::Snapshot(spec),
    )
    .with_secrets(kollect_export::Secrets::new(data))
}

fn serialization(
    format: SerializationFormat,
    compression: Option<Compression>,
) -> kollect_api::v1alpha1::SerializationSpec {
    kollect_api::v1alpha1::SerializationSpec {
        format: Some(format),
        compression,
    }
}

#[rstest]
#[case::no_endpoint(SnapshotSinkType::S3, None, "spec.endpoint: required for type s3")]
#[case::no_bucket(
    SnapshotSinkType::S3,
    Some("s3://"),
    "spec.endpoint: the endpoint must include a bucket"
)]
#[case::bad_bucket(
    SnapshotSinkType::S3,
    Some("s3://Bad_Bucket!/x"),
    "is not a valid bucket name"
)]
#[case::scheme(
    SnapshotSinkType::S3,
    Some("ftp://host/bucket"),
    "spec.endpoint: unsupported scheme \"ftp\""
)]
#[case::relative_file(
    SnapshotSinkType::S3,
    Some("file://exports"),
    "spec.endpoint: a file:// endpoint needs an absolute path"
)]
#[case::dot_dot(
    SnapshotSinkType::S3,
    Some("s3://bucket/a/../b"),
    "must not contain \"..\""
)]
#[case::gs_for_s3(
    SnapshotSinkType::S3,
    Some("gs://bucket/x"),
    "spec.endpoint: gs:// endpoints need type gcs"
)]
#[case::s3_for_gcs(
    SnapshotSinkType::Gcs,
    Some("s3://bucket/x"),
    "spec.endpoint: s3:// and bare bucket endpoints need type s3"
)]
#[case::url_credentials(
    SnapshotSinkType::S3,
    Some("https://key:secret@minio.example/bucket"),
    "credentials in the URL are not allowed"
)]
#[case::git(
    SnapshotSinkType::Git,
    Some("s3://bucket"),
    "spec.type: the object-store backend builds s3 and gcs sinks, not git"
)]
fn bad_endpoints_are_refused_naming_the_field(
    #[case] sink_type: SnapshotSinkType,
    #[case] endpoint: Option<&str>,
    #[case] message: &str,
) {
    let error = Config::from_spec(&resolved_spec(sink_type, endpoint, |_| {}, &[])).unwrap_err();
    assert!(
        matches!(error, SinkError::Misconfigured { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(message), "{error}");
    assert_eq!(error.class(), ErrorClass::Terminal);
}

#[rstest]
#[case::yaml(
    |s: &mut kollect_api::v1alpha1::SnapshotSinkSpec| s.common.serialization = Some(serialization(SerializationFormat::Yaml, None)),
    "spec.serialization.format: yaml is not supported"
)]
#[case::snappy_csv(
    |s: &mut kollect_api::v1alpha1::SnapshotSinkSpec| s.common.serialization = Some(serialization(SerializationFormat::Csv, Some(Compression::Snappy))),
    "spec.serialization.compression: snappy is only supported with format parquet"
)]
#[case::absolute_template(
    |s: &mut kollect_api::v1alpha1::SnapshotSinkSpec| s.common.path_template = Some("/x/{namespace}/{name}".into()),
    "spec.pathTemplate: must not start with '/'"
)]
#[case::template_without_namespace(
    |s: &mut kollect_api::v1alpha1::SnapshotSinkSpec| s.common.path_template = Some("x/{name}.json".into()),
    "spec.pathTemplate: must contain {namespace}"
)]
#[case::unknown_placeholder(
    |s: &mut kollect_api::v1alpha1::SnapshotSinkSpec| s.common.path_template = Some("{namespace}/{name}/{uid}".into()),
    "spec.pathTemplate: unknown placeholder {uid}"
)]
#[case::colliding_columns(
    |s: &mut kollect_api::v1alpha1::SnapshotSinkSpec| s.object_store = Some(ObjectStoreSpec { format: None, hot_attributes: Some(vec!["a.b".into(), "a-b".into()]) }),
    "spec.objectStore.hotAttributes: \"a-b\" and \"a.b\" both map to column attr_a_b"
)]
#[case::layout(
    |s: &mut kollect_api::v1alpha1::SnapshotSinkSpec| s.common.layout = Some(LayoutSpec::default()),
    "spec.layout: not allowed for type s3"
)]
#[case::git_block(
    |s: &mut kollect_api::v1alpha1::SnapshotSinkSpec| s.git = Some(GitSpec::default()),
    "spec.git: not allowed for type s3"
)]
fn bad_settings_are_refused_naming_the_field(
    #[case] configure: fn(&mut kollect_api::v1alpha1::SnapshotSinkSpec),
    #[case] message: &str,
) {
    let error = Config::from_spec(&resolved_spec(
        SnapshotSinkType::S3,
        Some("s3://bucket/x"),
        configure,
        &[],
    ))
    .unwrap_err();
    assert!(
        matches!(error, SinkError::Misconfigured { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(message), "{error}");
}

#[test]
fn bad_credentials_and_trust_are_refused_naming_the_field() {
    let half = resolved_spec(
        SnapshotSinkType::S3,
        Some("s3://bucket"),
        |_| {},
        &[("accessKeyID", "AKIA")],
    );
    let error = Config::from_spec(&half).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("spec.secretRef: the Secret has accessKeyID but no secretAccessKey"),
        "{error}"
    );
    let broken_key = resolved_spec(
        SnapshotSinkType::Gcs,
        Some("gs://bucket"),
        |_| {},
        &[("credentials.json", "not json")],
    );
    let error = Config::from_spec(&broken_key).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("spec.secretRef: the Secret's credentials.json is not a JSON object"),
        "{error}"
    );
    let ca = resolved_spec(
        SnapshotSinkType::S3,
        Some("https://minio.example/bucket"),
        |spec| {
            spec.common.tls = Some(TlsSpec::default());
        },
        &[],
    )
    .with_ca_bundle(b"not a certificate".to_vec());
    let error = Config::from_spec(&ca).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("spec.tls: the CA bundle: it holds no CERTIFICATE block"),
        "{error}"
    );
    let dir = tempfile::tempdir().unwrap();
    let missing = resolved_spec(
        SnapshotSinkType::S3,
        Some(&format!("file://{}/missing", dir.path().display())),
        |spec| {
            spec.common.provisioning = Some(ProvisioningSpec {
                mode: Some(ProvisioningMode::Existing),
                naming: None,
            });
        },
        &[],
    );
    let error = Config::from_spec(&missing).unwrap_err();
    assert!(
        error.to_string().contains("spec.endpoint: directory"),
        "{error}"
    );
}

#[test]
fn endpoints_select_the_client_and_display_no_secret() {
    let cases = [
        (
            SnapshotSinkType::S3,
            "s3://exports/team-a/",
            &[("accessKeyID", "AKIA"), ("secretAccessKey", "s3cr3t")][..],
            "s3(exports/team-a)",
        ),
        (SnapshotSinkType::S3, "exports", &[][..], "s3(exports)"),
        (
            SnapshotSinkType::S3,
            "https://minio.example:9000/exports/a//b/./c",
            &[("accessKeyID", "AKIA"), ("secretAccessKey", "s3cr3t")][..],
            "s3(exports/a/b/c)",
        ),
        (
            SnapshotSinkType::Gcs,
            "gs://exports/x",
            &[("accessKeyID", "GOOG"), ("secretAccessKey", "hmac")][..],
            "gcs(exports/x)",
        ),
        (
            SnapshotSinkType::Gcs,
            "https://storage.googleapis.com/exports/x",
            &[("accessKeyID", "GOOG"), ("secretAccessKey", "hmac")][..],
            "gcs(exports/x)",
        ),
        (
            SnapshotSinkType::S3,
            "file:///var/lib/kollect",
            &[][..],
            "file(/var/lib/kollect)",
        ),
    ];
    for (sink_type, endpoint, secrets, shown) in cases {
        let config =
            Config::from_spec(&resolved_spec(sink_type, Some(endpoint), |_| {}, secrets)).unwrap();
        assert_eq!(config.to_string(), shown, "{endpoint}");
        assert!(!format!("{config:?}").contains("s3cr3t"), "{config:?}");
        assert!(!format!("{config:?}").contains("hmac"), "{config:?}");
    }
}

#[tokio::test]
async fn the_factory_serves_s3_and_gcs_through_a_registry() {
    let registry = ObjectStoreSinkFactory::new().register(SinkRegistry::new());
    assert_eq!(
        registry.supported().collect::<Vec<_>>(),
        [SinkType::S3, SinkType::Gcs]
    );
    let dir = tempfile::tempdir().unwrap();
    let sink = registry
        .build(&resolved_spec(
            SnapshotSinkType::Gcs,
            Some(&format!("file://{}", dir.path().display())),
            |_| {},
            &[],
        ))
        .unwrap();
    assert_eq!(sink.role(), SinkRole::Snapshot);
    sink.probe().await.unwrap();
}

// ---- Failures ------------------------------------------------------------------------------

/// moto with IAM checks on: the first six calls (the setup) go unchecked, every later call
/// must be signed by a key moto issued. Returns the server and the keys of a user allowed
/// `s3:*` and of one allowed nothing.
fn moto_with_iam() -> (servers::Server, (String, String), (String, String)) {
    let server = servers::Server::start_with_env(
        servers::Kind::S3,
        &[("INITIAL_NO_AUTH_ACTION_COUNT", "6")],
    );
    let script = r#"
import boto3, json, sys
url = sys.argv[1]
iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1",
                   aws_access_key_id="setup", aws_secret_access_key="setup")
keys = {}
for user in ["writer", "nobody"]:
    iam.create_user(UserName=user)
    keys[user] = iam.create_access_key(UserName=user)["AccessKey"]
policy = iam.create_policy(PolicyName="s3-all", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
iam.attach_user_policy(UserName="writer", PolicyArn=policy["Policy"]["Arn"])
writer = keys["writer"]
boto3.client("s3", endpoint_url=url, region_name="us-east-1",
             aws_access_key_id=writer["AccessKeyId"],
             aws_secret_access_key=writer["SecretAccessKey"]).create_bucket(Bucket="kollect-test")
print(json.dumps({u: [k["AccessKeyId"], k["SecretAccessKey"]] for u, k in keys.items()}))
"#;
    let venv = std::process::Command::new("bash")
        .arg(servers::services_dir().join("python-venv.sh"))
        .output()
        .unwrap();
    let python = format!(
        "{}/bin/python",
        String::from_utf8_lossy(&venv.stdout).trim()
    );
    let output = std::process::Command::new(python)
        .args(["-c", script, &server.url()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let keys: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let pair = |user: &str| {
        (
            keys[user][0].as_str().unwrap().to_owned(),
            keys[user][1].as_str().unwrap().to_owned(),
        )
    };
    (server, pair("writer"), pair("nobody"))
}

#[tokio::test]
async fn wrong_credentials_are_refused_as_unauthenticated() {
    let (server, (id, secret), (nobody_id, nobody_secret)) = moto_with_iam();
    let endpoint = format!("{}/kollect-test/creds", server.url());
    let sink_with = |id: &str, secret: &str| {
        build(&resolved_spec(
            SnapshotSinkType::S3,
            Some(&endpoint),
            |_| {},
            &[("accessKeyID", id), ("secretAccessKey", secret)],
        ))
    };
    let snapshot = mixed();
    let batch = batch("team-a/apps", &snapshot, 1).build();
    let good = sink_with(&id, &secret);
    good.probe().await.unwrap();
    assert!(good.export(&batch).await.unwrap().wrote);
    for (what, sink) in [
        ("wrong secret", sink_with(&id, "not-the-secret")),
        ("unknown key", sink_with("AKIAUNKNOWNKEY000000", &secret)),
    ] {
        let error = sink.probe().await.unwrap_err();
        assert!(
            matches!(error, SinkError::Unauthenticated { .. }),
            "{what}: {error:?}"
        );
        let error = sink.export(&batch).await.unwrap_err();
        assert!(
            matches!(error, SinkError::Unauthenticated { .. }),
            "{what}: {error:?}"
        );
        assert_eq!(error.class(), ErrorClass::Terminal);
        assert!(
            std::error::Error::source(&error).is_some(),
            "the backend error is the source"
        );
    }
    let denied = sink_with(&nobody_id, &nobody_secret);
    let error = denied.export(&batch).await.unwrap_err();
    assert!(
        matches!(error, SinkError::PermissionDenied { .. }),
        "{error:?}"
    );
    assert_eq!(error.class(), ErrorClass::Forbidden);
}

#[tokio::test]
async fn the_probe_fails_for_a_missing_bucket() {
    for backend in [Backend::S3, Backend::Gcs] {
        let env = Env::start(backend).await;
        let mut resolved = env.resolved("x", SerializationFormat::Json, None, |_| {});
        let SinkSpec::Snapshot(spec) = resolved.spec().clone() else {
            unreachable!()
        };
        let mut spec = spec;
        let endpoint = spec
            .common
            .endpoint
            .take()
            .unwrap()
            .replace(harness::BUCKET, "no-such-bucket");
        spec.common.endpoint = Some(endpoint);
        resolved = ResolvedSinkSpec::new(
            "conformance".parse().unwrap(),
            "object-store".parse().unwrap(),
            SinkSpec::Snapshot(spec),
        )
        .with_secrets(env.secrets());
        let (sink, counters) = harness::counted_sink(&resolved);
        let error = sink.probe().await.unwrap_err();
        assert!(
            matches!(error, SinkError::Misconfigured { .. }),
            "{backend:?}: {error:?}"
        );
        assert_eq!(counters.writes(), 0, "a probe writes nothing");
        harness::counted_sink(&env.resolved("x", SerializationFormat::Json, None, |_| {}))
            .0
            .probe()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_probe_fails_when_nothing_listens_or_the_host_is_unknown() {
    let closed = servers::free_port();
    for endpoint in [
        format!("http://127.0.0.1:{closed}/kollect-test"),
        "https://kollect-test.invalid/kollect-test".to_owned(),
    ] {
        let sink = build(&resolved_spec(
            SnapshotSinkType::S3,
            Some(&endpoint),
            |_| {},
            &[("accessKeyID", "a"), ("secretAccessKey", "b")],
        ));
        let error = sink.probe().await.unwrap_err();
        assert!(
            matches!(error, SinkError::Unreachable { .. }),
            "{endpoint}: {error:?}"
        );
        assert!(error.is_retriable());
    }
}

#[tokio::test(start_paused = true)]
async fn the_probe_gives_up_after_its_bound() {
    // Accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let sink = build(&resolved_spec(
        SnapshotSinkType::S3,
        Some(&format!("http://127.0.0.1:{port}/kollect-test")),
        |_| {},
        &[("accessKeyID", "a"), ("secretAccessKey", "b")],
    ));
    let error = sink.probe().await.unwrap_err();
    assert!(matches!(error, SinkError::Timeout { .. }), "{error:?}");
    assert!(
        error.to_string().contains("did not finish within 15 s"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outage_fails_transiently_and_the_next_export_lands_once() {
    use kollect_export::BreakerState;
    let mut env = Env::start(Backend::S3).await;
    let resolved = env.resolved("outage", SerializationFormat::Parquet, None, |_| {});
    let (sink, counters) = harness::counted_sink(&resolved);
    let layers = Layers {
        retry: RetryPolicy::default()
            .with_max_attempts(2)
            .with_initial_backoff(Duration::from_millis(10)),
        ..Layers::default()
    };
    let id = fixtures::sink_id();
    let layered = sink.layered(&layers, &id, SinkType::S3);
    let v1 = mixed();
    let v2 = Arc::new(Snapshot::new(mixed().items()[1..].to_vec()));
    assert!(
        layered
            .export(&batch("team-a/apps", &v1, 1).build())
            .await
            .unwrap()
            .wrote
    );

    env.server().stop();
    let error = layered
        .export(&batch("team-a/apps", &v2, 1).build())
        .await
        .unwrap_err();
    assert!(matches!(error, SinkError::Unreachable { .. }), "{error:?}");
    assert_eq!(error.class(), ErrorClass::Transient);
    assert_eq!(
        layers.breakers.state(&id),
        Some(BreakerState::Closed {
            consecutive_failures: 1
        }),
        "the failed export is visible on the sink's breaker"
    );

    // moto keeps nothing across a restart: the bucket comes back empty.
    env.server().restart();
    env.server().create_bucket(harness::BUCKET);
    let before = counters.writes();
    let receipt = layered
        .export(&batch("team-a/apps", &v2, 1).build())
        .await
        .unwrap();
    assert!(receipt.wrote);
    assert_eq!(
        counters.writes() - before,
        2,
        "one object and its marker, once"
    );
    assert_eq!(
        layers.breakers.state(&id),
        Some(BreakerState::Closed {
            consecutive_failures: 0
        })
    );
    assert!(
        !layered
            .export(&batch("team-a/apps", &v2, 1).build())
            .await
            .unwrap()
            .wrote
    );
    assert_eq!(counters.writes() - before, 2, "and never again");
    let rows = read_back(
        &env,
        "outage",
        &inventory("team-a/apps"),
        SerializationFormat::Parquet,
        None,
    )
    .await
    .unwrap();
    assert_eq!(Snapshot::new(rows), *v2);
    let objects = env.data_objects("outage").await;
    assert_eq!(objects.len(), 1);
}

// ---- Independent readers --------------------------------------------------------------------

/// The identity columns of the schema, with the value each row of `snapshot` must have.
fn expected_columns(row: &kollect_export::TargetRow) -> Vec<(&'static str, serde_json::Value)> {
    let text = |value: &str| serde_json::Value::String(value.to_owned());
    let group = if row.kind.group.is_empty() {
        serde_json::Value::Null
    } else {
        text(&row.kind.group)
    };
    vec![
        ("api_version", text(&row.kind.version)),
        ("cluster", text("default")),
        ("group", group),
        ("inventory_name", text("apps")),
        ("inventory_namespace", text("team-a")),
        ("kind", text(&row.kind.kind)),
        ("name", text(&row.row.name)),
        ("namespace", text(&row.row.namespace)),
        ("target_name", text(&row.target_name)),
        ("target_namespace", text(&row.target_namespace)),
        ("uid", text(&row.row.uid)),
    ]
}

const PARQUET_COLUMNS: [&str; 16] = [
    "api_version",
    "attr_image",
    "attr_replicas",
    "attr_version",
    "attributes",
    "cluster",
    "exported_at",
    "group",
    "inventory_name",
    "inventory_namespace",
    "kind",
    "name",
    "namespace",
    "target_name",
    "target_namespace",
    "uid",
];

fn attributes_of(row: &kollect_export::TargetRow) -> serde_json::Value {
    serde_json::Value::Object(row.row.attributes.to_map())
}

/// Checks one reader's table of the Parquet or CSV object against the snapshot. CSV has no
/// null: an empty field may come back as null or as "" (`blank_is_null`).
fn check_row_table(
    reader: &str,
    table: &serde_json::Value,
    snapshot: &Snapshot,
    blank_is_null: bool,
) {
    let records = readers::records(table);
    assert_eq!(records.len(), snapshot.len(), "{reader}: row count");
    let columns: Vec<&str> = table["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(columns, PARQUET_COLUMNS, "{reader}: columns");
    let normal = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) if blank_is_null && text.is_empty() => {
            serde_json::Value::Null
        }
        other => other.clone(),
    };
    for (record, row) in records.iter().zip(snapshot.items()) {
        for (name, expected) in expected_columns(row) {
            assert_eq!(
                normal(&record[name]),
                expected,
                "{reader}: {name} of {}",
                row.row.name
            );
        }
        let attributes: serde_json::Value =
            serde_json::from_str(record["attributes"].as_str().unwrap()).unwrap();
        assert_eq!(
            attributes,
            attributes_of(row),
            "{reader}: attributes of {}",
            row.row.name
        );
        let at = record["exported_at"].as_str().unwrap();
        assert!(
            at.starts_with("2026-01-15") && at.contains("12:00:00.123456"),
            "{reader}: {at}"
        );
        let image = row
            .row
            .attributes
            .to_map()
            .get("image")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned();
        let image = if image.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::Value::String(image)
        };
        assert_eq!(
            normal(&record["attr_image"]),
            image,
            "{reader}: attr_image of {}",
            row.row.name
        );
        let replicas = row
            .row
            .attributes
            .to_map()
            .get("replicas")
            .cloned()
            .map(|v| match v {
                serde_json::Value::String(text) => {
                    serde_json::Value::from(text.parse::<i64>().unwrap())
                }
                other => other,
            });
        assert_eq!(
            record["attr_replicas"],
            replicas.unwrap_or(serde_json::Value::Null),
            "{reader}: attr_replicas of {}",
            row.row.name
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn duckdb_and_pyarrow_read_what_the_sink_wrote() {
    let env = Env::start(Backend::Local).await;
    let hints = Arc::new(StaticTypeHints::new().with("replicas", AttributeType::Integer));
    let factory = ObjectStoreSinkFactory::new().with_type_hints(hints);
    let hot = |spec: &mut kollect_api::v1alpha1::SnapshotSinkSpec| {
        spec.object_store = Some(ObjectStoreSpec {
            format: None,
            hot_attributes: Some(vec!["image".into(), "version".into(), "replicas".into()]),
        });
    };
    let snapshot = fixtures::readable();
    let batch = batch("team-a/apps", &snapshot, 1).build();
    for (prefix, format) in [
        ("pq", SerializationFormat::Parquet),
        ("csv", SerializationFormat::Csv),
        ("nd", SerializationFormat::Ndjson),
    ] {
        factory
            .build(&env.resolved(prefix, format, None, hot))
            .unwrap()
            .export(&batch)
            .await
            .unwrap();
    }
    let dir = env.dir();
    let read = readers::read(
        &dir.join("pq/inventory/cluster=default/ns=team-a/name=apps/generation=1.parquet"),
        &dir.join("csv/inventory/team-a/apps.csv"),
        &dir.join("nd/inventory/team-a/apps.ndjson"),
        &dir.join("pq"),
    );
    assert_eq!(
        readers::records(&read["duckdb"]["parquet_dataset"]),
        [serde_json::json!({
            "inventory_namespace": "team-a",
            "inventory_name": "apps",
            "generation": 1,
            "row_count": 3,
        })
        .as_object()
        .unwrap()
        .clone()],
        "duckdb reads the Hive-partitioned dataset by glob, the export marker left out"
    );

    check_parquet_readers(&read, &snapshot);
    // CSV: same columns and values; the readers infer the types themselves.
    check_row_table("duckdb csv", &read["duckdb"]["csv"], &snapshot, true);
    check_row_table("pyarrow csv", &read["pyarrow"]["csv"], &snapshot, true);

    check_ndjson_readers(&read, &snapshot);
}

/// Both readers see the documented Parquet types and the snapshot's values.
fn check_parquet_readers(read: &serde_json::Value, snapshot: &Snapshot) {
    let duck_parquet = &read["duckdb"]["parquet"];
    let types = readers::types(duck_parquet);
    let type_of = |name: &str| {
        types
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
    };
    assert_eq!(type_of("attributes"), Some("BLOB"));
    assert_eq!(type_of("exported_at"), Some("TIMESTAMP WITH TIME ZONE"));
    assert_eq!(type_of("attr_replicas"), Some("BIGINT"));
    for name in ["api_version", "attr_image", "group", "name", "uid"] {
        assert_eq!(type_of(name), Some("VARCHAR"), "duckdb type of {name}");
    }
    check_row_table("duckdb parquet", duck_parquet, snapshot, false);
    let arrow_parquet = &read["pyarrow"]["parquet"];
    let types = readers::types(arrow_parquet);
    let type_of = |name: &str| {
        types
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
    };
    assert_eq!(type_of("attributes"), Some("binary"));
    assert_eq!(type_of("exported_at"), Some("timestamp[us, tz=UTC]"));
    assert_eq!(type_of("attr_replicas"), Some("int64"));
    assert_eq!(type_of("name"), Some("string"));
    let nullable: Vec<bool> = arrow_parquet["nullable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_bool().unwrap())
        .collect();
    let optional: Vec<bool> = PARQUET_COLUMNS
        .iter()
        .map(|name| name.starts_with("attr_") || *name == "group")
        .collect();
    assert_eq!(nullable, optional, "required and optional columns");
    check_row_table("pyarrow parquet", arrow_parquet, snapshot, false);
    for column in read["pyarrow"]["parquet_schema"].as_array().unwrap() {
        let logical = column["logical"].as_str().unwrap();
        match column["name"].as_str().unwrap() {
            "attributes" | "attr_replicas" => assert_eq!(logical, "None"),
            "exported_at" => assert!(
                logical.contains("Timestamp")
                    && logical.contains("isAdjustedToUTC=true")
                    && logical.contains("microseconds"),
                "{logical}"
            ),
            name => assert_eq!(logical, "String", "{name}"),
        }
    }
}

/// NDJSON: one object per item, exactly the envelope's items.
fn check_ndjson_readers(read: &serde_json::Value, snapshot: &Snapshot) {
    let objects = readers::records(&read["duckdb"]["ndjson_objects"]);
    assert_eq!(objects.len(), snapshot.len());
    for (object, row) in objects.iter().zip(snapshot.items()) {
        let line: serde_json::Value =
            serde_json::from_str(object["json"].as_str().unwrap()).unwrap();
        let expected: serde_json::Value = serde_json::from_str(&row.encode()).unwrap();
        assert_eq!(line, expected, "duckdb ndjson line of {}", row.row.name);
    }
    for reader in ["duckdb", "pyarrow"] {
        let table = &read[reader]["ndjson"];
        let columns: Vec<&str> = table["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(
            columns,
            [
                "targetNamespace",
                "targetName",
                "namespace",
                "name",
                "group",
                "version",
                "kind",
                "uid",
                "attributes"
            ],
            "{reader} ndjson columns"
        );
        for (record, row) in readers::records(table).iter().zip(snapshot.items()) {
            assert_eq!(
                record["name"],
                serde_json::Value::from(&*row.row.name),
                "{reader}"
            );
            assert_eq!(
                record["version"],
                serde_json::Value::from(&*row.kind.version),
                "{reader}"
            );
            let group = if row.kind.group.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::Value::from(&*row.kind.group)
            };
            assert_eq!(record["group"], group, "{reader} group of {}", row.row.name);
            // Readers merge the attribute maps of all lines into one struct: keys a line lacks
            // come back null.
            let mut attributes = record["attributes"].as_object().unwrap().clone();
            attributes.retain(|_, value| !value.is_null());
            assert_eq!(
                serde_json::Value::Object(attributes),
                attributes_of(row),
                "{reader} attributes of {}",
                row.row.name
            );
        }
    }
}

// ---- TLS ------------------------------------------------------------------------------------

/// A private CA and a server certificate for 127.0.0.1 it signed (PEM files in `dir`).
fn private_ca(dir: &std::path::Path) -> (String, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let cert = params
        .signed_by(&key, &rcgen::Issuer::new(ca_params, ca_key))
        .unwrap();
    let (cert_path, key_path) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (ca.pem(), cert_path, key_path)
}

#[tokio::test(flavor = "multi_thread")]
async fn https_endpoints_are_verified_against_the_sinks_ca_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, cert, key) = private_ca(dir.path());
    let server = servers::Server::start_with_env(
        servers::Kind::S3,
        &[
            ("KOLLECT_S3_TLS_CERT", cert.to_str().unwrap()),
            ("KOLLECT_S3_TLS_KEY", key.to_str().unwrap()),
        ],
    );
    assert!(server.serves_tls());
    // The bucket, created with an unverified client (the test's own setup, not the sink).
    let create = format!(
        "import ssl, urllib.request; urllib.request.urlopen(urllib.request.Request(\
         'https://127.0.0.1:{}/{}', method='PUT'), context=ssl._create_unverified_context())",
        server.port(),
        harness::BUCKET
    );
    let status = std::process::Command::new("python3")
        .args(["-c", &create])
        .status()
        .unwrap();
    assert!(status.success());
    let endpoint = format!(
        "https://127.0.0.1:{}/{}/tls",
        server.port(),
        harness::BUCKET
    );
    let keys = [("accessKeyID", "a"), ("secretAccessKey", "b")];
    let trusted = build(
        &resolved_spec(SnapshotSinkType::S3, Some(&endpoint), |_| {}, &keys)
            .with_ca_bundle(ca_pem.into_bytes()),
    );
    trusted.probe().await.unwrap();
    let snapshot = mixed();
    assert!(
        trusted
            .export(&batch("team-a/apps", &snapshot, 1).build())
            .await
            .unwrap()
            .wrote
    );
    let untrusted = build(&resolved_spec(
        SnapshotSinkType::S3,
        Some(&endpoint),
        |_| {},
        &keys,
    ));
    let error = untrusted.probe().await.unwrap_err();
    assert!(matches!(error, SinkError::Unreachable { .. }), "{error:?}");
    let insecure = build(&resolved_spec(
        SnapshotSinkType::S3,
        Some(&endpoint),
        |spec| {
            spec.common.tls = Some(TlsSpec {
                insecure_skip_verify: Some(true),
                ..TlsSpec::default()
            });
        },
        &keys,
    ));
    insecure.probe().await.unwrap();
}
