//! Pipeline spec §8.11–§8.13 cases of this crate and the Appendix B vectors, byte for byte.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use chrono::{DateTime, Utc};
use kollect_aggregate::{
    ChangeSet, ClusterTargetLabels, DecodeError, Dedupe, EnvelopeMeta, Gvk, NamespaceLabels,
    Registration, Snapshot, TargetRow, cluster_composite, decode, normalize_schema_version,
    part_path, parts_digest, read_header, rollup, select_cluster_targets, select_namespaces,
    sha256_hex,
};
use kollect_api::row::{Attributes, Row};
use proptest::prelude::*;
use serde_json::{Value, json};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn meta(generation: i64, exported_at: &str, cluster: &str) -> EnvelopeMeta {
    EnvelopeMeta {
        generation,
        exported_at: at(exported_at),
        cluster: cluster.into(),
    }
}

fn item(
    target: (&str, &str),
    kind: (&str, &str, &str),
    object: (&str, &str, &str),
    attributes: &Value,
) -> TargetRow {
    TargetRow {
        target_namespace: target.0.into(),
        target_name: target.1.into(),
        kind: Gvk::new(kind.0, kind.1, kind.2),
        row: Arc::new(Row {
            namespace: object.0.into(),
            name: object.1.into(),
            uid: object.2.into(),
            resource_version: "1".into(),
            attributes: Attributes::from_map(attributes.as_object().unwrap()),
        }),
    }
}

fn golden() -> TargetRow {
    item(
        ("team-a", "deployments"),
        ("apps", "v1", "Deployment"),
        ("team-a", "api", "uid-abc"),
        &json!({"replicas": 2}),
    )
}

#[test]
fn env_01_b1_golden_envelope_bytes() {
    let snapshot = Snapshot::new(vec![golden()]);
    assert_eq!(
        snapshot.fingerprint(),
        "2f200886f0143234b5ca316d0afe302370a44c34549027d0d5dfe24a9acd7d62"
    );
    assert_eq!(
        snapshot.envelope(&meta(3, "2026-01-15T12:00:00Z", "prod-west")),
        r#"{"schemaVersion":"kollect.dev/v1alpha1","checksum":"2f200886f0143234b5ca316d0afe302370a44c34549027d0d5dfe24a9acd7d62","generation":3,"itemCount":1,"exportedAt":"2026-01-15T12:00:00Z","cluster":"prod-west","items":[{"targetNamespace":"team-a","targetName":"deployments","namespace":"team-a","name":"api","group":"apps","version":"v1","kind":"Deployment","uid":"uid-abc","attributes":{"replicas":2}}]}"#
    );
    // Operator mode: no cluster member.
    assert!(
        !snapshot
            .envelope(&meta(3, "2026-01-15T12:00:00Z", ""))
            .contains("cluster")
    );
    let parts = snapshot
        .partition(&meta(3, "2026-01-15T12:00:00Z", ""), 0)
        .unwrap();
    assert_eq!(
        parts.digest(),
        "53acb1aec38de506dd615a75025b86912be26e17d4016290d7b2344d0760f31f"
    );
    assert_eq!(
        cluster_composite([("team-a", snapshot.fingerprint().as_str())]),
        "b3facb69f650ae4dd022eb2b411f39fc6674b76cff16f27a0843f34373272fbc"
    );
}

fn b2_items() -> Vec<TargetRow> {
    let uid = |n: u8| format!("7f0c1b2a-0000-4000-8000-00000000000{n}");
    let mut settings = serde_json::Map::new();
    settings.insert("owner".into(), json!("R&D"));
    settings.insert(
        "big".into(),
        Value::Number(serde_json::Number::from_f64(1e21).unwrap()),
    );
    settings.insert(
        "tiny".into(),
        Value::Number(serde_json::Number::from_f64(1e-7).unwrap()),
    );
    settings.insert(
        "whole".into(),
        Value::Number(serde_json::Number::from_f64(4.0).unwrap()),
    );
    vec![
        item(
            ("team-a", "web"),
            ("apps", "v1", "Deployment"),
            ("team-a", "web", &uid(2)),
            &json!({"image": "nginx:1.27", "labels": {"tier": "<frontend>", "app.kubernetes.io/name": "web"},
                "replicas": 3, "ratio": 0.25, "ready": true, "missing": null, "images": ["nginx:1.27", "envoy:1.30"]}),
        ),
        item(
            ("team-a", "web"),
            ("apps", "v1", "Deployment"),
            ("team-a", "api", &uid(1)),
            &json!({}),
        ),
        item(
            ("team-a", "cms"),
            ("", "v1", "ConfigMap"),
            ("team-a", "settings", &uid(3)),
            &Value::Object(settings),
        ),
    ]
}

#[test]
fn b2_ordering_escaping_floats_and_omitted_group() {
    let snapshot = Snapshot::new(b2_items());
    assert_eq!(
        snapshot.fingerprint(),
        "626ffaa205196f97e7456dc4e44945108e5466ff1ac56ea89d348d4353f72387"
    );
    let envelope = snapshot.envelope(&meta(12, "2026-03-02T09:30:00.1234Z", ""));
    assert!(envelope.starts_with(r#"{"schemaVersion":"kollect.dev/v1alpha1","checksum":"626ffaa205196f97e7456dc4e44945108e5466ff1ac56ea89d348d4353f72387","generation":12,"itemCount":3,"exportedAt":"2026-03-02T09:30:00.1234Z","items":[{"targetNamespace":"team-a","targetName":"cms","#));
    assert!(envelope.ends_with(&format!("{}}}", snapshot.items_json())));
}

fn b3_items() -> Vec<TargetRow> {
    (0..3)
        .map(|i| {
            item(
                ("default", "nginx-deployments"),
                ("", "v1", "Deployment"),
                ("default", &format!("nginx-{i}"), &format!("uid-{i}")),
                &json!({"payload": "x".repeat(220)}),
            )
        })
        .collect()
}

#[test]
fn b3_multipart_vector_and_part_08_ceiling() {
    let snapshot = Snapshot::new(b3_items());
    let meta = meta(7, "2026-01-15T12:00:00Z", "");
    assert_eq!(snapshot.envelope(&meta).len(), 1390);
    let parts = snapshot.partition(&meta, 900).unwrap();
    let checksums: Vec<&str> = parts.parts.iter().map(|p| p.checksum.as_str()).collect();
    assert_eq!(
        checksums,
        [
            "81568eb263db48ed28bc35630c316fae097baf7d4757b648625cca2cb136bb16",
            "093f6c92dd11f574be08e9b0dbac71f0402faaea7d946670e22660af3971701e",
            "2c30344f05e9f3bb33ce36cbb67adb6e1c3831343ca6f391bfa5d39c4e842ab3",
        ]
    );
    assert_eq!(
        parts.digest(),
        "8d969dfea4866b5b894bcd35ffbd376860b65cb4014e22f77da8d9818277cb14"
    );
    for part in &parts.parts {
        assert_eq!(part.envelope.len(), 620);
        assert!(part.envelope.len() <= 900);
    }
    assert!(parts.parts[0].envelope.starts_with(r#"{"schemaVersion":"kollect.dev/v1alpha1","checksum":"81568eb263db48ed28bc35630c316fae097baf7d4757b648625cca2cb136bb16","generation":7,"partIndex":1,"partTotal":3,"itemCount":1,"exportedAt":"2026-01-15T12:00:00Z","items":[{"targetNamespace":"default","#));
    let paths: Vec<String> = parts
        .parts
        .iter()
        .map(|p| part_path("inventory/default/team-inventory.json", p.index, p.total))
        .collect();
    assert_eq!(
        paths,
        [
            "inventory/default/team-inventory.part-0001-of-0003.json",
            "inventory/default/team-inventory.part-0002-of-0003.json",
            "inventory/default/team-inventory.part-0003-of-0003.json",
        ]
    );
}

#[test]
fn b4_fixed_digests() {
    let empty = Snapshot::default();
    assert_eq!(
        empty.fingerprint(),
        "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
    );
    let parts = empty
        .partition(&meta(0, "2026-01-15T12:00:00Z", ""), 64)
        .unwrap();
    assert_eq!(
        parts.digest(),
        "15fdd87526b71675244c858c912952e26a41888acbbe29ac2814472acce55851"
    );
    assert_eq!(
        cluster_composite([]),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        parts_digest(["4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"]),
        parts.digest()
    );
}

#[test]
fn env_03_04_fingerprint_is_stable_and_order_free() {
    let items = b2_items();
    let reversed: Vec<TargetRow> = items.iter().rev().cloned().collect();
    let a = Snapshot::new(items);
    assert_eq!(a.fingerprint(), a.fingerprint());
    assert_eq!(a.fingerprint(), Snapshot::new(reversed).fingerprint());
    assert_eq!(a.fingerprint().len(), 64);
}

#[test]
fn env_06_07_part_markers_and_empty_envelopes() {
    let snapshot = Snapshot::new(b3_items());
    let single = snapshot.envelope(&meta(7, "2026-01-15T12:00:00Z", ""));
    assert!(!single.contains("partIndex") && !single.contains("partTotal"));
    let empty = Snapshot::default().envelope(&meta(0, "2026-01-15T12:00:00Z", ""));
    assert_eq!(
        empty,
        r#"{"schemaVersion":"kollect.dev/v1alpha1","checksum":"4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945","itemCount":0,"exportedAt":"2026-01-15T12:00:00Z","items":[]}"#
    );
}

/// Rows read back carry no resourceVersion; compare everything else.
fn without_version(rows: &[TargetRow]) -> Vec<String> {
    rows.iter().map(TargetRow::encode).collect()
}

#[test]
fn env_02_envelopes_and_legacy_arrays_decode_to_the_same_item() {
    let snapshot = Snapshot::new(vec![golden()]);
    let envelope = snapshot.envelope(&meta(3, "2026-01-15T12:00:00Z", "prod-west"));
    let from_envelope = decode(envelope.as_bytes()).unwrap();
    let from_array = decode(snapshot.items_json().as_bytes()).unwrap();
    assert_eq!(
        without_version(&from_envelope.items),
        without_version(snapshot.items())
    );
    assert_eq!(
        without_version(&from_array.items),
        without_version(snapshot.items())
    );
    assert!(from_array.header.is_none());
    let header = from_envelope.header.unwrap();
    assert_eq!((header.generation, header.item_count), (3, 1));
    assert_eq!(header.checksum, snapshot.fingerprint());
}

#[test]
fn decoding_then_encoding_gives_the_same_bytes() {
    // Escaping, floats, the omitted group and multipart markers survive a round trip: a sink can
    // compare what it reads back with what it is about to write.
    for items in [b2_items(), b3_items()] {
        let snapshot = Snapshot::new(items);
        let m = meta(7, "2026-01-15T12:00:00Z", "");
        for part in snapshot.partition(&m, 900).unwrap().parts {
            let decoded = decode(part.envelope.as_bytes()).unwrap();
            let again = Snapshot::new(decoded.items.clone());
            assert_eq!(again.fingerprint(), part.checksum);
            let header = decoded.header.unwrap();
            assert_eq!(usize::try_from(header.item_count).unwrap(), part.item_count);
            if part.total > 1 {
                assert_eq!(
                    (header.part_index, header.part_total),
                    (
                        i64::try_from(part.index).unwrap(),
                        i64::try_from(part.total).unwrap()
                    )
                );
            }
        }
    }
}

#[test]
fn env_05_empty_inputs_and_unknown_schema_versions() {
    for input in ["", "  \n", "[]", "null"] {
        let decoded = decode(input.as_bytes()).unwrap();
        assert!(
            decoded.items.is_empty() && decoded.header.is_none(),
            "{input:?}"
        );
    }
    let error = decode(br#"{"schemaVersion":"kollect.dev/v99","items":[]}"#).unwrap_err();
    assert!(
        matches!(error, DecodeError::UnsupportedSchemaVersion(ref v) if v == "kollect.dev/v99")
    );
    assert_eq!(
        error.to_string(),
        r#"unsupported schemaVersion "kollect.dev/v99" (this version reads "kollect.dev/v1alpha1")"#
    );
    // An envelope without a schemaVersion is read as the current one.
    let decoded = decode(br#"{"items":[]}"#).unwrap();
    assert_eq!(
        decoded.header.unwrap().schema_version,
        "kollect.dev/v1alpha1"
    );
}

#[test]
fn bad_exports_name_the_place_and_the_problem() {
    let cases: [(&str, &str); 5] = [
        (r#"{"items":[{"targetNamespace":"a"}]}"#, "items[0]"),
        (
            r#"[{"targetNamespace":"a","targetName":"t","namespace":"n","name":"x","version":"v1","kind":"K","uid":7,"attributes":{}}]"#,
            "[0].uid",
        ),
        (r#"{"items":[] "#, "."),
        ("[] trailing", "."),
        (r#"{"itemCount":"three"}"#, "itemCount"),
    ];
    for (input, path) in cases {
        match decode(input.as_bytes()) {
            Err(DecodeError::Invalid { path: at, message }) => {
                assert_eq!(at, path, "{input}: {message}");
                assert!(message.contains("line 1 column"), "{message}");
            }
            other => panic!("{input}: {other:?}"),
        }
    }
    for (input, found) in [
        ("42", "a number"),
        ("\"x\"", "a string"),
        ("true", "a boolean"),
    ] {
        let error = decode(input.as_bytes()).unwrap_err();
        assert!(error.to_string().ends_with(found), "{error}");
    }
}

#[test]
fn env_08_10_metadata_readers_tolerate_anything() {
    let header = read_header(
        br#"{"schemaVersion":"kollect.dev/v1alpha1","checksum":"abc","generation":7,"partIndex":2,"partTotal":3,"itemCount":4,"exportedAt":"2026-06-07T08:15:30.123456789Z","cluster":"prod","items":[]}"#,
    );
    assert_eq!(
        (
            header.generation,
            header.part_index,
            header.part_total,
            header.item_count
        ),
        (7, 2, 3, 4)
    );
    assert_eq!(
        (header.checksum.as_str(), header.cluster.as_str()),
        ("abc", "prod")
    );
    assert_eq!(
        header.exported_at.unwrap(),
        at("2026-06-07T08:15:30.123456789Z")
    );
    // ENV-10: not JSON, not an object, members of the wrong type → zero values.
    for input in [
        &b"not json"[..],
        b"[1,2]",
        br#"{"generation":"7","exportedAt":"yesterday"}"#,
    ] {
        let header = read_header(input);
        assert_eq!(header.generation, 0);
        assert!(header.exported_at.is_none());
    }
}

#[test]
fn env_09_schema_version_helpers() {
    assert_eq!(
        normalize_schema_version("").unwrap(),
        "kollect.dev/v1alpha1"
    );
    assert_eq!(
        normalize_schema_version("kollect.dev/v1alpha1").unwrap(),
        "kollect.dev/v1alpha1"
    );
    assert!(normalize_schema_version("kollect.dev/v99").is_err());
}

#[test]
fn part_07_part_paths() {
    assert_eq!(part_path("inv/api.json", 1, 1), "inv/api.json");
    assert_eq!(
        part_path("inv/api.json", 2, 3),
        "inv/api.part-0002-of-0003.json"
    );
}

#[test]
fn part_01_to_06_partitioning() {
    let m = meta(5, "2026-01-15T12:00:00Z", "");
    // PART-01: no items, max 64 → one part.
    let parts = Snapshot::default().partition(&m, 64).unwrap();
    assert_eq!(
        (
            parts.parts.len(),
            parts.parts[0].index,
            parts.parts[0].total,
            parts.parts[0].item_count
        ),
        (1, 1, 1, 0)
    );
    // PART-02: one item, max = its envelope length → one part. Sizes are measured with the
    // longest `exportedAt` (30 bytes; this one has 20), so boundaries never depend on the clock
    // (DECISIONS Q6): the envelope "fits" at its length plus that difference.
    let one = Snapshot::new(vec![golden()]);
    let full = one.envelope(&m).len() + 10;
    assert_eq!(one.partition(&m, full).unwrap().parts.len(), 1);
    assert!(
        one.partition(&m, full - 1).is_err(),
        "a single row that cannot fit is refused"
    );
    // PART-05: max 0 → single marker-less part.
    let parts = one.partition(&m, 0).unwrap();
    assert!(!parts.parts[0].envelope.contains("partIndex"));
    // PART-03/04: three items of 280/400-character payloads, max = half the full envelope.
    for size in [280, 400] {
        let items: Vec<TargetRow> = (0..3)
            .map(|i| {
                item(
                    ("ns", "t"),
                    ("", "v1", "ConfigMap"),
                    ("ns", &format!("c{i}"), &format!("u{i}")),
                    &json!({"p": "y".repeat(size)}),
                )
            })
            .collect();
        let snapshot = Snapshot::new(items);
        let max = (snapshot.envelope(&m).len() / 2).max(256);
        let parts = snapshot.partition(&m, max).unwrap();
        assert!(parts.parts.len() >= 2);
        for (i, part) in parts.parts.iter().enumerate() {
            assert!(
                part.envelope.len() <= max,
                "part {} is {} > {max}",
                i + 1,
                part.envelope.len()
            );
            assert_eq!((part.index, part.total), (i + 1, parts.parts.len()));
            assert!(part.envelope.contains(&format!(
                "\"partIndex\":{},\"partTotal\":{}",
                i + 1,
                parts.parts.len()
            )));
            assert!(part.envelope.contains("\"generation\":5"));
        }
        assert_eq!(parts.parts.iter().map(|p| p.item_count).sum::<usize>(), 3);
        assert_eq!(parts.digest().len(), 64);
    }
    // PART-06: same items at generation 5 and 4: same boundaries, different generation bytes.
    let snapshot = Snapshot::new(b3_items());
    let five = snapshot
        .partition(&meta(5, "2026-01-15T12:00:00Z", ""), 900)
        .unwrap();
    let four = snapshot
        .partition(&meta(4, "2026-01-15T12:00:00Z", ""), 900)
        .unwrap();
    assert_eq!(five.parts.len(), four.parts.len());
    assert_ne!(five.parts[0].envelope, four.parts[0].envelope);
}

#[test]
fn part_boundaries_do_not_depend_on_the_timestamp_length() {
    // DECISIONS Q6: the Go original measured with the real `exportedAt`; we never do.
    let snapshot = Snapshot::new(b3_items());
    let short = snapshot
        .partition(&meta(7, "2026-01-15T12:00:00Z", ""), 1040)
        .unwrap();
    let long = snapshot
        .partition(&meta(7, "2026-01-15T12:00:00.123456789Z", ""), 1040)
        .unwrap();
    let counts = |parts: &kollect_aggregate::Parts| {
        parts.parts.iter().map(|p| p.item_count).collect::<Vec<_>>()
    };
    assert_eq!(counts(&short), counts(&long));
    assert_eq!(short.digest(), long.digest());
}

#[test]
fn a_row_larger_than_the_cap_fails_the_export() {
    let snapshot = Snapshot::new(vec![
        golden(),
        item(
            ("team-a", "deployments"),
            ("apps", "v1", "Deployment"),
            ("team-a", "huge", "uid-huge"),
            &json!({"blob": "z".repeat(5000)}),
        ),
    ]);
    let error = snapshot
        .partition(&meta(1, "2026-01-15T12:00:00Z", ""), 2000)
        .unwrap_err();
    assert_eq!(
        (error.name.as_str(), error.uid.as_str(), error.max_bytes),
        ("huge", "uid-huge", 2000)
    );
    assert!(error.needed > 5000);
    assert!(
        error
            .to_string()
            .starts_with("single item export envelope exceeds maxExportBytes (2000)"),
        "{error}"
    );
}

#[test]
fn agg_01_content_hash() {
    let a = sha256_hex(br#"{"items":1}"#);
    assert_eq!(a, sha256_hex(br#"{"items":1}"#));
    assert_ne!(a, sha256_hex(br#"{"items":2}"#));
    assert!(
        a.len() == 64
            && a.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    );
}

fn deployment(target: &str, namespace: &str, uid: &str, replicas: i64) -> TargetRow {
    item(
        (namespace, target),
        ("apps", "v1", "Deployment"),
        (namespace, "api", uid),
        &json!({"replicas": replicas}),
    )
}

#[test]
fn agg_02_03_05_06_dedupe_by_resource_uid() {
    let registrations = vec![
        // Given out of order on purpose: the rollup sorts targets by name.
        Registration {
            target: "deployments-alt".into(),
            namespaces: BTreeMap::from([(
                "team-a".to_owned(),
                vec![deployment("deployments-alt", "team-a", "u1", 3)],
            )]),
        },
        Registration {
            target: "deployments".into(),
            namespaces: BTreeMap::from([(
                "team-a".to_owned(),
                vec![deployment("deployments", "team-a", "u1", 1)],
            )]),
        },
    ];
    let keep = rollup(&registrations, &BTreeSet::new(), Dedupe::KeepAll);
    assert_eq!(keep.snapshot.len(), 2);
    let one = rollup(&registrations, &BTreeSet::new(), Dedupe::ByResourceUid);
    assert_eq!(one.snapshot.len(), 1);
    let survivor = &one.snapshot.items()[0];
    assert_eq!(
        survivor.row.attributes.as_json(),
        r#"{"replicas":3}"#,
        "the greatest target name's content wins"
    );
    assert_eq!(
        &*survivor.target_name, "deployments",
        "the survivor keeps the first target"
    );
    assert_eq!(one.shards[0].item_count, 1);
    // AGG-03: absent and keepAll mean no dedupe.
    let parse = |v: Value| {
        serde_json::from_value::<Option<Dedupe>>(v)
            .unwrap()
            .unwrap_or_default()
    };
    assert_eq!(parse(Value::Null), Dedupe::KeepAll);
    assert_eq!(parse(json!("keepAll")), Dedupe::KeepAll);
    assert_eq!(parse(json!("byResourceUID")), Dedupe::ByResourceUid);
}

#[test]
fn agg_07_compose_shards() {
    let registrations = vec![
        Registration {
            target: "target-a".into(),
            namespaces: BTreeMap::from([
                (
                    "team-a".to_owned(),
                    vec![deployment("target-a", "team-a", "a1", 1)],
                ),
                (
                    "team-b".to_owned(),
                    vec![deployment("target-a", "team-b", "b1", 1)],
                ),
                ("team-c".to_owned(), Vec::new()),
            ]),
        },
        Registration {
            target: "target-b".into(),
            namespaces: BTreeMap::from([(
                "team-a".to_owned(),
                vec![deployment("target-b", "team-a", "a2", 1)],
            )]),
        },
    ];
    let rolled = rollup(&registrations, &BTreeSet::new(), Dedupe::KeepAll);
    assert_eq!(rolled.snapshot.len(), 3);
    let shards: Vec<(&str, usize, usize)> = rolled
        .shards
        .iter()
        .map(|s| (s.namespace.as_str(), s.item_count, s.target_count))
        .collect();
    assert_eq!(
        shards,
        [("team-a", 2, 2), ("team-b", 1, 1)],
        "empty registrations make no shard"
    );
    let expected = cluster_composite(
        rolled
            .shards
            .iter()
            .map(|s| (s.namespace.as_str(), s.checksum.as_str())),
    );
    assert_eq!(rolled.composite(), expected);
    // A selected-namespace set leaves the others out.
    let only_b = rollup(
        &registrations,
        &BTreeSet::from(["team-b".to_owned()]),
        Dedupe::KeepAll,
    );
    assert_eq!(only_b.snapshot.len(), 1);
}

#[test]
fn agg_04_identity_and_resource_keys() {
    let row = deployment("deployments", "team-a", "u1", 2);
    assert_eq!(row.key(), ("team-a", "deployments", "u1"));
    let item = row.item();
    assert_eq!(
        (
            item.target_namespace,
            item.target_name,
            item.group,
            item.version,
            item.kind
        ),
        ("team-a", "deployments", "apps", "v1", "Deployment")
    );
    assert_eq!((&*item.row.namespace, &*item.row.uid), ("team-a", "u1"));
}

#[test]
fn agg_08_cluster_inventory_selection() {
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let (prod, dev, none) = (map(&[("env", "prod")]), map(&[("env", "dev")]), map(&[]));
    let namespaces = [
        NamespaceLabels {
            name: "team-a",
            labels: &prod,
        },
        NamespaceLabels {
            name: "team-b",
            labels: &dev,
        },
        NamespaceLabels {
            name: "kube-system",
            labels: &none,
        },
    ];
    let selector =
        |json: Value| -> kollect_api::k8s::LabelSelector { serde_json::from_value(json).unwrap() };
    let everything = selector(json!({}));
    let only_prod = selector(json!({"matchLabels": {"env": "prod"}}));
    // Namespaces: listed ∩ selector; an absent selector selects nothing (DECISIONS Q8).
    let all = select_namespaces(&[], Some(&everything), &namespaces);
    assert_eq!(
        all.iter().collect::<Vec<_>>(),
        ["kube-system", "team-a", "team-b"]
    );
    let listed = select_namespaces(
        &[" team-b ".into(), "team-a".into()],
        Some(&only_prod),
        &namespaces,
    );
    assert_eq!(listed.iter().collect::<Vec<_>>(), ["team-a"]);
    assert!(select_namespaces(&[], None, &namespaces).is_empty());
    // Targets: refs win over the selector; the target's own namespace selector must match a
    // selected namespace; an absent one never does.
    let (web, batch) = (map(&[("tier", "web")]), map(&[("tier", "batch")]));
    let targets = [
        ClusterTargetLabels {
            name: "z-web",
            labels: &web,
            namespace_selector: Some(&everything),
        },
        ClusterTargetLabels {
            name: "a-batch",
            labels: &batch,
            namespace_selector: Some(&only_prod),
        },
        ClusterTargetLabels {
            name: "m-open",
            labels: &web,
            namespace_selector: None,
        },
    ];
    assert_eq!(
        select_cluster_targets(&[], None, &targets, &all, &namespaces),
        ["a-batch", "z-web"]
    );
    let web_selector = selector(json!({"matchLabels": {"tier": "web"}}));
    assert_eq!(
        select_cluster_targets(&[], Some(&web_selector), &targets, &all, &namespaces),
        ["z-web"]
    );
    assert_eq!(
        select_cluster_targets(
            &["a-batch".into(), "m-open".into()],
            Some(&web_selector),
            &targets,
            &all,
            &namespaces
        ),
        ["a-batch"],
        "refs ignore the selector; m-open has no namespace selector"
    );
    let dev_only: BTreeSet<String> = ["team-b".to_owned()].into();
    assert_eq!(
        select_cluster_targets(&[], None, &targets, &dev_only, &namespaces),
        ["z-web"]
    );
}

#[test]
fn change_sets_name_added_updated_and_removed_rows() {
    let old = Snapshot::new(vec![
        deployment("t", "ns", "keep", 1),
        deployment("t", "ns", "change", 1),
        deployment("t", "ns", "gone", 1),
    ]);
    let mut bumped = deployment("t", "ns", "keep", 1);
    Arc::make_mut(&mut bumped.row).resource_version = "99".into();
    let new = Snapshot::new(vec![
        bumped,
        deployment("t", "ns", "change", 2),
        deployment("t", "ns", "new", 1),
    ]);
    let changes = ChangeSet::between(&old, &new);
    let uids = |items: &[TargetRow]| {
        items
            .iter()
            .map(|i| i.row.uid.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(uids(&changes.added), ["new"]);
    assert_eq!(uids(&changes.updated), ["change"]);
    assert_eq!(uids(&changes.removed), ["gone"]);
    assert_eq!(changes.len(), 3);
    assert!(ChangeSet::between(&new, &new).is_empty());
}

fn arbitrary_items() -> impl Strategy<Value = Vec<TargetRow>> {
    let one = (0..3u8, 0..3u8, 0..6u8, 0..4i64).prop_map(|(target, namespace, object, value)| {
        item(
            (&format!("ns{namespace}"), &format!("t{target}")),
            ("apps", "v1", "Deployment"),
            (
                &format!("ns{namespace}"),
                &format!("o{object}"),
                &format!("uid-{namespace}-{object}"),
            ),
            &json!({"v": value, "s": "a<b>&\u{2028}"}),
        )
    });
    proptest::collection::vec(one, 0..24).prop_map(|mut items| {
        // One row per (target, uid), as the store holds them.
        items.sort_by(|a, b| a.key().cmp(&b.key()));
        items.dedup_by(|a, b| a.key() == b.key());
        items
    })
}

/// The change set by hashing every store key: the definition `ChangeSet::between` must match.
fn reference_changes(old: &Snapshot, new: &Snapshot) -> [Vec<String>; 3] {
    let same = |a: &TargetRow, b: &TargetRow| a.encode() == b.encode();
    let before: BTreeMap<_, _> = old.items().iter().map(|i| (i.key(), i)).collect();
    let after: BTreeMap<_, _> = new.items().iter().map(|i| (i.key(), i)).collect();
    let ids = |items: Vec<&TargetRow>| items.iter().map(|i| i.encode()).collect::<Vec<_>>();
    let added = new
        .items()
        .iter()
        .filter(|i| !before.contains_key(&i.key()))
        .collect();
    let updated = new
        .items()
        .iter()
        .filter(|i| before.get(&i.key()).is_some_and(|p| !same(p, i)))
        .collect();
    let removed = old
        .items()
        .iter()
        .filter(|i| !after.contains_key(&i.key()))
        .collect();
    [ids(added), ids(updated), ids(removed)]
}

proptest! {
    /// The merge walk of `ChangeSet::between` finds exactly what pairing rows by store key
    /// finds, renamed objects (same uid, new name or namespace) included.
    #[test]
    fn change_sets_match_pairing_by_store_key(
        old in arbitrary_items(),
        new in arbitrary_items(),
        renames in proptest::collection::vec(any::<bool>(), 24),
    ) {
        // Rename some of the old rows into the new snapshot under the same uid.
        let mut new = new;
        for (item, rename) in old.iter().zip(&renames) {
            if *rename && !new.iter().any(|n| n.key() == item.key()) {
                let mut moved = item.clone();
                Arc::make_mut(&mut moved.row).name = format!("{}-renamed", item.row.name).into();
                new.push(moved);
            }
        }
        let (old, new) = (Snapshot::new(old), Snapshot::new(new));
        let changes = ChangeSet::between(&old, &new);
        let ids = |items: &[TargetRow]| items.iter().map(TargetRow::encode).collect::<Vec<_>>();
        prop_assert_eq!(
            [ids(&changes.added), ids(&changes.updated), ids(&changes.removed)],
            reference_changes(&old, &new)
        );
    }

    /// Digests, envelopes, parts and rollups do not depend on the order rows arrive in.
    #[test]
    fn digests_are_deterministic_whatever_the_event_order(items in arbitrary_items(), seed in any::<u64>()) {
        let mut shuffled = items.clone();
        let len = shuffled.len();
        let mut state = seed | 1;
        for i in (1..len).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            let j = usize::try_from(state % (i as u64 + 1)).unwrap();
            shuffled.swap(i, j);
        }
        let a = Snapshot::new(items.clone());
        let b = Snapshot::new(shuffled.clone());
        let m = meta(2, "2026-01-15T12:00:00Z", "");
        prop_assert_eq!(a.fingerprint(), b.fingerprint());
        prop_assert_eq!(a.envelope(&m), b.envelope(&m));
        prop_assert_eq!(a.partition(&m, 700).map(|p| p.digest()), b.partition(&m, 700).map(|p| p.digest()));
        let registrations = |items: &[TargetRow]| {
            let mut by_target: BTreeMap<String, Registration> = BTreeMap::new();
            for item in items {
                let registration = by_target.entry(item.target_name.to_string()).or_insert_with(|| Registration { target: item.target_name.to_string(), ..Registration::default() });
                registration.namespaces.entry(item.target_namespace.to_string()).or_default().push(item.clone());
            }
            by_target.into_values().rev().collect::<Vec<_>>()
        };
        for dedupe in [Dedupe::KeepAll, Dedupe::ByResourceUid] {
            let x = rollup(&registrations(&items), &BTreeSet::new(), dedupe);
            let y = rollup(&registrations(&shuffled), &BTreeSet::new(), dedupe);
            prop_assert_eq!(x.composite(), y.composite());
            prop_assert_eq!(x.snapshot.fingerprint(), y.snapshot.fingerprint());
        }
    }
}
