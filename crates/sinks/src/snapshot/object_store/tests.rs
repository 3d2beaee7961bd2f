//! Unit tests of the pure parts: endpoints, keys, cells, the schema, markers, error
//! classification and the text encoders. Behaviour against real stores is in
//! `crates/sinks/tests/object_store.rs`.

use std::{collections::BTreeMap, sync::Arc};

use kollect_api::{
    row::{Attributes, Row},
    v1alpha1::{
        Compression as ApiCompression, SerializationFormat, SerializationSpec, SinkCommonSpec,
        SnapshotSinkSpec, SnapshotSinkType,
    },
};
use kollect_export::{
    ExportBatch, Gvk, ResolvedSinkSpec, Secrets, SinkError, SinkSpec, Snapshot, TargetRow,
};
use rstest::rstest;
use serde_json::json;

use super::{
    client::AmbientCredentials,
    config::{Compression, Config, Format, HotAttribute},
    encode::{KnownRows, PartJob, split_rows},
    error::classify,
    key::{KeyPlan, hive_value, part_name},
    location::{Location, clean_key},
    marker::{MARKER_VERSION, MarkedObject, Marker},
    parquet::arrow_schema,
    schema::{
        AttributeType, Cell, Columns, RowContext, StaticTypeHints, TypeHints as _, go_float,
        hot_values,
    },
};

fn resolved(
    sink_type: SnapshotSinkType,
    endpoint: &str,
    configure: impl FnOnce(&mut SnapshotSinkSpec),
    secrets: &[(&str, &str)],
) -> ResolvedSinkSpec {
    let mut spec = SnapshotSinkSpec {
        sink_type,
        common: SinkCommonSpec {
            endpoint: Some(endpoint.to_owned()),
            ..SinkCommonSpec::default()
        },
        git: None,
        gitlab: None,
        object_store: None,
        http: None,
    };
    configure(&mut spec);
    let data: BTreeMap<String, Vec<u8>> = secrets
        .iter()
        .map(|(key, value)| ((*key).to_owned(), value.as_bytes().to_vec()))
        .collect();
    ResolvedSinkSpec::new(
        "team-a".parse().unwrap(),
        "exports".parse().unwrap(),
        SinkSpec::Snapshot(spec),
    )
    .with_secrets(Secrets::new(data))
}

fn config(endpoint: &str, configure: impl FnOnce(&mut SnapshotSinkSpec)) -> Config {
    Config::from_spec(&resolved(SnapshotSinkType::S3, endpoint, configure, &[])).unwrap()
}

fn format(
    format: SerializationFormat,
    compression: Option<ApiCompression>,
) -> impl FnOnce(&mut SnapshotSinkSpec) {
    move |spec| {
        spec.common.serialization = Some(SerializationSpec {
            format: Some(format),
            compression,
        });
    }
}

fn row(group: &str, name: &str, attributes: &str) -> TargetRow {
    TargetRow {
        target_namespace: "team-a".into(),
        target_name: "workloads".into(),
        kind: Gvk::new(
            group,
            "v1",
            if group.is_empty() {
                "ConfigMap"
            } else {
                "Deployment"
            },
        ),
        row: Arc::new(Row {
            namespace: "team-a".into(),
            name: name.into(),
            uid: format!("uid-{name}").into(),
            resource_version: "".into(),
            attributes: Attributes::from_canonical(attributes),
        }),
    }
}

// ---- Endpoints and credentials -------------------------------------------------------------

#[test]
fn endpoints_parse_into_locations_and_prefixes() {
    let local = config("file:///var/lib/kollect/exports", |_| {});
    assert!(matches!(
        local.location(),
        Location::Local { root, create_missing: true } if root.as_os_str() == "/var/lib/kollect/exports"
    ));
    assert_eq!(local.prefix(), "");

    let aws = config("s3://exports/team-a/inventories/", |_| {});
    assert!(matches!(
        aws.location(),
        Location::S3 { bucket, endpoint: None, region, credentials: None }
            if bucket == "exports" && region == "us-east-1"
    ));
    assert_eq!(aws.prefix(), "team-a/inventories");
    assert_eq!(config("exports", |_| {}).prefix(), "");

    let minio = config("http://minio.internal:9000/exports//a/./b", |_| {});
    let Location::S3 {
        endpoint: Some(url),
        bucket,
        ..
    } = minio.location()
    else {
        panic!("{minio:?}");
    };
    assert_eq!(
        (url.as_str(), bucket.as_str()),
        ("http://minio.internal:9000/", "exports")
    );
    assert_eq!(minio.prefix(), "a/b");

    let regional = config("https://s3.eu-west-1.amazonaws.com/exports", |_| {});
    assert!(matches!(regional.location(), Location::S3 { region, .. } if region == "eu-west-1"));
}

#[test]
fn gcs_picks_its_api_from_the_secret() {
    let native = Config::from_spec(&resolved(
        SnapshotSinkType::Gcs,
        "gs://exports/p",
        |_| {},
        &[("credentials.json", r#"{"client_email":"x"}"#)],
    ))
    .unwrap();
    assert!(matches!(
        native.location(),
        Location::Gcs {
            service_account: Some(_),
            ..
        }
    ));
    let hmac = Config::from_spec(&resolved(
        SnapshotSinkType::Gcs,
        "gs://exports/p",
        |_| {},
        &[
            ("AWS_ACCESS_KEY_ID", "GOOG1"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ],
    ))
    .unwrap();
    let Location::S3 {
        endpoint: Some(url),
        credentials: Some(keys),
        ..
    } = hmac.location()
    else {
        panic!("{hmac:?}");
    };
    assert_eq!(url.as_str(), "https://storage.googleapis.com/");
    assert_eq!(keys.access_key_id, "GOOG1");
    let default_credentials = Config::from_spec(&resolved(
        SnapshotSinkType::Gcs,
        "gs://exports",
        |_| {},
        &[],
    ))
    .unwrap();
    assert!(matches!(
        default_credentials.location(),
        Location::Gcs {
            service_account: None,
            ..
        }
    ));
}

#[rstest]
#[case("a//b/./c/", Ok("a/b/c"))]
#[case("", Ok(""))]
#[case("/x/", Ok("x"))]
#[case("a/../b", Err(()))]
fn keys_are_cleaned(#[case] key: &str, #[case] expected: Result<&str, ()>) {
    assert_eq!(clean_key(key).map_err(|_| ()), expected.map(str::to_owned));
}

#[test]
fn ambient_credentials_keep_only_credential_variables() {
    let ambient = AmbientCredentials::from_pairs([
        (
            "AWS_ROLE_ARN".to_owned(),
            "arn:aws:iam::1:role/x".to_owned(),
        ),
        ("AWS_ENDPOINT_URL".to_owned(), "http://elsewhere".to_owned()),
        ("AWS_SESSION_TOKEN".to_owned(), String::new()),
        (
            "GOOGLE_APPLICATION_CREDENTIALS".to_owned(),
            "/key.json".to_owned(),
        ),
        ("HOME".to_owned(), "/root".to_owned()),
    ]);
    assert_eq!(
        format!("{ambient:?}"),
        r#"{"AWS_ROLE_ARN", "GOOGLE_APPLICATION_CREDENTIALS"}"#
    );
}

// ---- Formats, compression, templates ------------------------------------------------------

#[test]
fn compression_defaults_follow_the_format() {
    let parquet = config("s3://bkt", format(SerializationFormat::Parquet, None));
    assert_eq!(parquet.compression(), Compression::Snappy);
    let explicit = config(
        "s3://bkt",
        format(SerializationFormat::Parquet, Some(ApiCompression::None)),
    );
    assert_eq!(explicit.compression(), Compression::None);
    let csv = config("s3://bkt", format(SerializationFormat::Csv, None));
    assert_eq!(csv.compression(), Compression::None);
    assert_eq!(Compression::Gzip.key_suffix(Format::Csv), ".gz");
    assert_eq!(Compression::Zstd.key_suffix(Format::Parquet), "");
    assert_eq!(
        Compression::Zstd.content_type(Format::Ndjson),
        "application/zstd"
    );
    assert_eq!(
        Compression::Zstd.content_type(Format::Parquet),
        "application/vnd.apache.parquet"
    );
}

#[test]
fn the_legacy_object_store_format_applies_when_serialization_is_unset() {
    let legacy = config("s3://bkt", |spec| {
        spec.object_store = Some(kollect_api::v1alpha1::ObjectStoreSpec {
            format: Some(kollect_api::v1alpha1::ObjectStoreFormat::Parquet),
            hot_attributes: None,
        });
    });
    assert_eq!(legacy.format(), Format::Parquet);
    assert_eq!(config("s3://bkt", |_| {}).format(), Format::Json);
}

#[rstest]
#[case(&[], &["image", "version"])]
#[case(&[" Image ", "image", "", "replicas"], &["Image", "replicas"])]
#[case(&["z", "a", "M"], &["M", "a", "z"])]
fn hot_attributes_are_trimmed_deduplicated_and_sorted(
    #[case] configured: &[&str],
    #[case] expected: &[&str],
) {
    let config = config("s3://bkt", |spec| {
        spec.object_store = Some(kollect_api::v1alpha1::ObjectStoreSpec {
            format: None,
            hot_attributes: Some(configured.iter().map(|s| (*s).to_owned()).collect()),
        });
    });
    let keys: Vec<&str> = config
        .hot_attributes()
        .iter()
        .map(HotAttribute::key)
        .collect();
    assert_eq!(keys, expected);
}

#[rstest]
#[case("image", "attr_image")]
#[case("App.Version", "attr_app_version")]
#[case("kollect.dev/team-name", "attr_kollect_devteam_name")]
#[case("ünï", "attr_n")]
#[case("!!!", "attr_unknown")]
fn hot_attribute_columns_are_sanitised(#[case] key: &str, #[case] column: &str) {
    assert_eq!(HotAttribute::new(key).column(), column);
}

#[rstest]
#[case("prod west/1", "prod_west_1")]
#[case("  a  b  ", "a_b")]
#[case("team-a", "team-a")]
#[case("name.part-0001-of-0002", "name.part-0001-of-0002")]
#[case("ünï", "_n_")]
fn hive_values_keep_safe_characters(#[case] value: &str, #[case] expected: &str) {
    assert_eq!(hive_value(value), expected);
}

#[test]
fn key_plans_name_parts_and_the_marker() {
    let snapshot = Arc::new(Snapshot::default());
    let batch = ExportBatch::builder(
        "team-a/apps".parse().unwrap(),
        "team-a/snapshot/s".parse().unwrap(),
        snapshot,
    )
    .generation(7)
    .build();
    let json = config(
        "s3://bkt/pre/fix",
        format(SerializationFormat::Json, Some(ApiCompression::Gzip)),
    );
    let plan = KeyPlan::new(&json, &batch, 2).unwrap();
    assert_eq!(plan.base, "pre/fix/inventory/team-a/apps.json.gz");
    assert_eq!(
        plan.marker,
        "pre/fix/.kollect/inventory/team-a/apps.json.gz.export.json"
    );
    let keys: Vec<&str> = plan.parts.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "pre/fix/inventory/team-a/apps.part-0001-of-0002.json.gz",
            "pre/fix/inventory/team-a/apps.part-0002-of-0002.json.gz",
        ]
    );
    let parquet = config("s3://bkt", format(SerializationFormat::Parquet, None));
    let plan = KeyPlan::new(&parquet, &batch, 1).unwrap();
    assert_eq!(
        plan.parts[0].key,
        "inventory/cluster=default/ns=team-a/name=apps/generation=7.parquet"
    );
    assert_eq!(plan.parts[0].inventory_name, "apps");
    assert_eq!(part_name("apps", 3, 12), "apps.part-0003-of-0012");
}

// ---- Cells -----------------------------------------------------------------------------

#[rstest]
#[case(2.0, "2")]
#[case(0.5, "0.5")]
#[case(100_000.0, "100000")]
#[case(1_000_000.0, "1e+06")]
#[case(1_234_567.0, "1.234567e+06")]
#[case(123_456.7, "123456.7")]
#[case(0.0001, "0.0001")]
#[case(0.000_01, "1e-05")]
#[case(-2.5, "-2.5")]
#[case(1e21, "1e+21")]
#[case(1.5e300, "1.5e+300")]
#[case(0.0, "0")]
fn numbers_print_as_gos_percent_v(#[case] value: f64, #[case] text: &str) {
    assert_eq!(go_float(value), text);
}

#[test]
fn text_cells_follow_the_go_original() {
    let text = |value: serde_json::Value| Cell::new(AttributeType::Text, Some(&value));
    assert_eq!(Cell::new(AttributeType::Text, None), Cell::Null);
    assert_eq!(text(json!(null)), Cell::Null);
    assert_eq!(text(json!("")), Cell::Null);
    assert_eq!(text(json!("nginx")), Cell::Text("nginx".into()));
    assert_eq!(text(json!(true)), Cell::Text("true".into()));
    assert_eq!(text(json!(1_000_000)), Cell::Text("1e+06".into()));
    assert_eq!(
        text(json!({"b": [1, "<x>"], "a": null})),
        Cell::Text(r#"{"a":null,"b":[1,"\u003cx\u003e"]}"#.into())
    );
}

#[test]
fn typed_cells_convert_what_fits_and_leave_the_rest_null() {
    let cell = |ty, value: serde_json::Value| Cell::new(ty, Some(&value));
    assert_eq!(cell(AttributeType::Integer, json!(3)), Cell::Integer(3));
    assert_eq!(cell(AttributeType::Integer, json!(3.0)), Cell::Integer(3));
    assert_eq!(cell(AttributeType::Integer, json!(" 7 ")), Cell::Integer(7));
    assert_eq!(cell(AttributeType::Integer, json!(3.5)), Cell::Null);
    assert_eq!(cell(AttributeType::Integer, json!(u64::MAX)), Cell::Null);
    assert_eq!(cell(AttributeType::Integer, json!("x")), Cell::Null);
    assert_eq!(cell(AttributeType::Float, json!(2)), Cell::Float(2.0));
    assert_eq!(cell(AttributeType::Float, json!("0.25")), Cell::Float(0.25));
    assert_eq!(cell(AttributeType::Float, json!("NaN")), Cell::Null);
    assert_eq!(
        cell(AttributeType::Boolean, json!(false)),
        Cell::Boolean(false)
    );
    assert_eq!(
        cell(AttributeType::Boolean, json!("true")),
        Cell::Boolean(true)
    );
    assert_eq!(cell(AttributeType::Boolean, json!(1)), Cell::Null);
    assert_eq!(Cell::Float(0.5).to_text(), "0.5");
    assert_eq!(Cell::Null.to_text(), "");
}

#[rstest]
#[case("int", AttributeType::Integer)]
#[case(" Int64 ", AttributeType::Integer)]
#[case("number", AttributeType::Float)]
#[case("double", AttributeType::Float)]
#[case("boolean", AttributeType::Boolean)]
#[case("string", AttributeType::Text)]
#[case("map", AttributeType::Text)]
#[case("list", AttributeType::Text)]
fn profile_type_hints_map_to_column_types(#[case] hint: &str, #[case] ty: AttributeType) {
    assert_eq!(AttributeType::from_hint(hint), ty);
}

#[test]
fn profiles_that_disagree_on_a_type_get_text() {
    let profile = |ty: &str| -> kollect_api::v1alpha1::ProfileSpec {
        serde_json::from_value(json!({
            "targetGVK": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "attributes": [
                {"name": "replicas", "path": "$.spec.replicas", "type": ty},
                {"name": "ready", "path": "$.status.ready", "type": "bool"},
                {"name": "image", "path": "$.spec.image"},
            ],
        }))
        .unwrap()
    };
    let (a, b) = (profile("int"), profile("string"));
    let agreeing = StaticTypeHints::from_profiles([&a, &a]);
    let disagreeing = StaticTypeHints::from_profiles([&a, &b]);
    let inventory = "team-a/apps".parse().unwrap();
    assert_eq!(
        agreeing.attribute_type(&inventory, "replicas"),
        Some(AttributeType::Integer)
    );
    assert_eq!(
        disagreeing.attribute_type(&inventory, "replicas"),
        Some(AttributeType::Text)
    );
    assert_eq!(
        disagreeing.attribute_type(&inventory, "ready"),
        Some(AttributeType::Boolean)
    );
    assert_eq!(disagreeing.attribute_type(&inventory, "image"), None);
}

#[test]
fn only_promoted_keys_are_read_from_the_attributes() {
    let columns = Columns::new(
        &[HotAttribute::new("b"), HotAttribute::new("a")],
        None,
        &"team-a/apps".parse().unwrap(),
    );
    let values = hot_values(r#"{"a":1,"big":{"nested":[1,2,3]},"b":"x"}"#, columns.hot());
    assert_eq!(values, [Some(json!(1)), Some(json!("x"))]);
    assert_eq!(hot_values("null", columns.hot()), [None, None]);
}

#[test]
fn the_arrow_schema_lists_columns_in_name_order() {
    let columns = Columns::new(
        &[HotAttribute::new("version"), HotAttribute::new("image")],
        Some(&StaticTypeHints::new().with("version", AttributeType::Integer)),
        &"team-a/apps".parse().unwrap(),
    );
    let schema = arrow_schema(&columns);
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "api_version",
            "attr_image",
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
        ]
    );
    assert_eq!(
        schema.field_with_name("attr_version").unwrap().data_type(),
        &arrow_schema::DataType::Int64
    );
    assert_eq!(
        columns.describe(),
        "attr_image=image:string,attr_version=version:int64"
    );
}

// ---- Markers ---------------------------------------------------------------------------

#[test]
fn markers_record_one_export_and_name_its_leftovers() {
    let marker = Marker {
        version: MARKER_VERSION,
        inventory: "team-a/apps".into(),
        generation: 3,
        digest: "d".repeat(64),
        encoding: "format=json".into(),
        exported_at: "2026-01-15T12:00:00Z".into(),
        objects: ["a.part-0001-of-0002.json", "a.part-0002-of-0002.json"]
            .iter()
            .map(|key| MarkedObject {
                key: (*key).to_owned(),
                bytes: 10,
            })
            .collect(),
    };
    let keys = ["a.part-0001-of-0002.json", "a.part-0002-of-0002.json"];
    assert!(marker.records(3, &"d".repeat(64), "format=json", &keys));
    assert!(!marker.records(4, &"d".repeat(64), "format=json", &keys));
    assert!(!marker.records(3, &"e".repeat(64), "format=json", &keys));
    assert!(!marker.records(3, &"d".repeat(64), "format=csv", &keys));
    assert!(!marker.records(3, &"d".repeat(64), "format=json", &["a.json"]));
    assert_eq!(marker.leftovers(&["a.json"]).collect::<Vec<_>>(), keys);
    assert_eq!(Marker::parse(&marker.to_bytes()), Some(marker.clone()));
    let mut future = marker;
    future.version = MARKER_VERSION + 1;
    assert_eq!(Marker::parse(&future.to_bytes()), None);
    assert_eq!(Marker::parse(b"not json"), None);
}

// ---- Error classification --------------------------------------------------------------

#[derive(Debug)]
struct Remote(&'static str);

impl std::fmt::Display for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Remote {}

#[rstest]
#[case::throttled(
    object_store::Error::Generic { store: "S3", source: Box::new(Remote("Server returned non-2xx status code: 503 Service Unavailable: <Code>SlowDown</Code>")) },
    "Throttled"
)]
#[case::gateway(
    object_store::Error::Generic { store: "S3", source: Box::new(Remote("Server returned non-2xx status code: 502 Bad Gateway: ")) },
    "Unreachable"
)]
#[case::bad_request(
    object_store::Error::Generic { store: "S3", source: Box::new(Remote("Server returned non-2xx status code: 400 Bad Request: ")) },
    "InvalidPayload"
)]
#[case::no_bucket(
    object_store::Error::NotFound { path: "x".into(), source: Box::new(Remote("<Code>NoSuchBucket</Code>")) },
    "Misconfigured"
)]
#[case::bad_key(
    object_store::Error::PermissionDenied { path: "x".into(), source: Box::new(Remote("<Code>InvalidAccessKeyId</Code>")) },
    "Unauthenticated"
)]
#[case::denied(
    object_store::Error::PermissionDenied { path: "x".into(), source: Box::new(Remote("<Code>AccessDenied</Code>")) },
    "PermissionDenied"
)]
#[case::precondition(
    object_store::Error::Precondition { path: "x".into(), source: Box::new(Remote("etag")) },
    "Conflict"
)]
#[case::disk_full(
    object_store::Error::Generic { store: "LocalFileSystem", source: Box::new(std::io::Error::from(std::io::ErrorKind::PermissionDenied)) },
    "PermissionDenied"
)]
#[case::unknown(
    object_store::Error::Generic { store: "S3", source: Box::new(Remote("something odd")) },
    "Other"
)]
fn store_errors_are_classified(#[case] error: object_store::Error, #[case] kind: &str) {
    let classified = classify("failed to upload x".into(), error);
    assert!(
        format!("{classified:?}").starts_with(kind),
        "{classified:?}"
    );
    assert!(
        std::error::Error::source(&classified).is_some(),
        "the store's error stays the source"
    );
    assert!(!matches!(classified, SinkError::CircuitOpen { .. }));
}

// ---- Text encoders ---------------------------------------------------------------------

fn encode(format_: Format, compression: Compression, snapshot: &Arc<Snapshot>) -> Vec<u8> {
    let batch = ExportBatch::builder(
        "team-a/apps".parse().unwrap(),
        "team-a/snapshot/s".parse().unwrap(),
        Arc::clone(snapshot),
    )
    .exported_at(chrono::DateTime::from_timestamp_nanos(
        1_768_478_400_000_000_000,
    ))
    .build();
    let job = PartJob {
        format: format_,
        compression,
        columns: Arc::new(Columns::new(
            &[HotAttribute::new("image")],
            None,
            batch.inventory(),
        )),
        context: RowContext {
            cluster: "default".into(),
            inventory_namespace: "team-a".into(),
            inventory_name: "apps".into(),
            exported_at: batch.exported_at(),
        },
        parts: batch.parts().unwrap(),
        index: 0,
        rows: Some(KnownRows::Whole(Arc::clone(snapshot))),
    };
    let mut out = Vec::new();
    job.encode(&mut out).unwrap();
    out
}

#[test]
fn empty_snapshots_encode_to_empty_objects() {
    let empty = Arc::new(Snapshot::default());
    assert!(encode(Format::Ndjson, Compression::None, &empty).is_empty());
    assert_eq!(
        String::from_utf8(encode(Format::Csv, Compression::None, &empty)).unwrap(),
        "api_version,attr_image,attributes,cluster,exported_at,group,inventory_name,\
         inventory_namespace,kind,name,namespace,target_name,target_namespace,uid\n"
    );
    let parquet = encode(Format::Parquet, Compression::Snappy, &empty);
    assert_eq!(&parquet[..4], b"PAR1");
}

#[test]
fn compressed_encodings_are_deterministic() {
    let snapshot = Arc::new(Snapshot::new(vec![
        row("apps", "api", r#"{"image":"api:1.0"}"#),
        row("", "settings", r#"{"image":""}"#),
    ]));
    for compression in [Compression::Gzip, Compression::Zstd] {
        let first = encode(Format::Json, compression, &snapshot);
        assert_eq!(
            first,
            encode(Format::Json, compression, &snapshot),
            "{compression}"
        );
    }
    let parquet = encode(Format::Parquet, Compression::Snappy, &snapshot);
    assert_eq!(
        parquet,
        encode(Format::Parquet, Compression::Snappy, &snapshot)
    );
}

#[test]
fn split_rows_finds_each_parts_rows_without_reading_envelopes() {
    let snapshot = Arc::new(Snapshot::new(
        (0..40)
            .map(|i| {
                row(
                    if i % 3 == 0 { "" } else { "apps" },
                    &format!("obj-{i:02}"),
                    &format!(r#"{{"image":"app:{i}","pad":"{}"}}"#, "x".repeat(i * 7)),
                )
            })
            .collect(),
    ));
    let batch = ExportBatch::builder(
        "team-a/apps".parse().unwrap(),
        "team-a/snapshot/s".parse().unwrap(),
        Arc::clone(&snapshot),
    )
    .max_part_bytes(2_000)
    .build();
    let parts = batch.parts().unwrap();
    assert!(parts.parts.len() > 3);
    let split = split_rows(&snapshot, &parts).expect("the parts check out");
    for (rows, part) in split.iter().zip(&parts.parts) {
        let decoded = kollect_export::decode(part.envelope.as_bytes())
            .unwrap()
            .items;
        assert_eq!(**rows, decoded, "part {}", part.index);
    }
    // A partitioning the split does not reproduce is detected, never guessed.
    let mut changed = (*parts).clone();
    changed.parts[0].checksum = "0".repeat(64);
    assert!(split_rows(&snapshot, &changed).is_none());
    changed = (*parts).clone();
    changed.parts[1].item_count += 1;
    assert!(split_rows(&snapshot, &changed).is_none());
}

#[test]
fn parquet_exports_read_back_into_the_same_rows() {
    let snapshot = Arc::new(Snapshot::new(vec![
        row(
            "apps",
            "api",
            r#"{"image":"api:1.0","ports":[80,443],"ratio":0.5}"#,
        ),
        // Canonical text escapes <, > and &.
        row(
            "",
            "settings",
            r#"{"image":"","note":"\u003c\u0026\u003e \u2028"}"#,
        ),
    ]));
    for compression in [Compression::Snappy, Compression::Zstd, Compression::None] {
        let bytes = encode(Format::Parquet, compression, &snapshot);
        let rows = super::read_parquet(bytes::Bytes::from(bytes)).unwrap();
        assert_eq!(
            Snapshot::new(rows).items_json(),
            snapshot.items_json(),
            "{compression}"
        );
    }
    let error = super::read_parquet(bytes::Bytes::from_static(b"PAR1 not really")).unwrap_err();
    assert!(error.to_string().contains("not a Parquet file"), "{error}");
    let csv = encode(Format::Csv, Compression::None, &snapshot);
    assert!(super::read_parquet(bytes::Bytes::from(csv)).is_err());
}
