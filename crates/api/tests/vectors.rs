//! Appendix B of the pipeline spec: canonical item encoding and checksums, byte for byte.

use kollect_api::row::{Attributes, Item, Row, encode_items};
use serde_json::json;
use sha2::{Digest as _, Sha256};

fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    Sha256::digest(bytes)
        .iter()
        .fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

fn row(namespace: &str, name: &str, uid: &str, attributes: &serde_json::Value) -> Row {
    Row {
        namespace: namespace.into(),
        name: name.into(),
        uid: uid.into(),
        resource_version: "".into(),
        attributes: Attributes::from_map(attributes.as_object().expect("a map")),
    }
}

#[test]
fn b1_golden_envelope_items() {
    let web = row("team-a", "api", "uid-abc", &json!({"replicas": 2}));
    let item = Item {
        target_namespace: "team-a",
        target_name: "deployments",
        group: "apps",
        version: "v1",
        kind: "Deployment",
        row: &web,
    };
    let items = encode_items(&[item]);
    assert_eq!(
        items,
        r#"[{"targetNamespace":"team-a","targetName":"deployments","namespace":"team-a","name":"api","group":"apps","version":"v1","kind":"Deployment","uid":"uid-abc","attributes":{"replicas":2}}]"#
    );
    assert_eq!(
        sha256_hex(items.as_bytes()),
        "2f200886f0143234b5ca316d0afe302370a44c34549027d0d5dfe24a9acd7d62"
    );
}

#[test]
fn b2_ordering_escaping_floats_and_omitted_group() {
    let web = row(
        "team-a",
        "web",
        "7f0c1b2a-0000-4000-8000-000000000002",
        &json!({
            "image": "nginx:1.27",
            "labels": {"tier": "<frontend>", "app.kubernetes.io/name": "web"},
            "replicas": 3,
            "ratio": 0.25,
            "ready": true,
            "missing": null,
            "images": ["nginx:1.27", "envoy:1.30"],
        }),
    );
    let api = row(
        "team-a",
        "api",
        "7f0c1b2a-0000-4000-8000-000000000001",
        &json!({}),
    );
    let settings = row(
        "team-a",
        "settings",
        "7f0c1b2a-0000-4000-8000-000000000003",
        &json!({"owner": "R&D", "big": 1e21, "tiny": 1e-7, "whole": 4.0}),
    );
    let deployment = |row| Item {
        target_namespace: "team-a",
        target_name: "web",
        group: "apps",
        version: "v1",
        kind: "Deployment",
        row,
    };
    let mut items = vec![
        deployment(&web),
        deployment(&api),
        Item {
            target_namespace: "team-a",
            target_name: "cms",
            group: "",
            version: "v1",
            kind: "ConfigMap",
            row: &settings,
        },
    ];
    items.sort_by(Item::canonical_cmp);
    let encoded = encode_items(&items);
    assert_eq!(
        encoded,
        r#"[{"targetNamespace":"team-a","targetName":"cms","namespace":"team-a","name":"settings","version":"v1","kind":"ConfigMap","uid":"7f0c1b2a-0000-4000-8000-000000000003","attributes":{"big":1e+21,"owner":"R\u0026D","tiny":1e-7,"whole":4}},{"targetNamespace":"team-a","targetName":"web","namespace":"team-a","name":"api","group":"apps","version":"v1","kind":"Deployment","uid":"7f0c1b2a-0000-4000-8000-000000000001","attributes":{}},{"targetNamespace":"team-a","targetName":"web","namespace":"team-a","name":"web","group":"apps","version":"v1","kind":"Deployment","uid":"7f0c1b2a-0000-4000-8000-000000000002","attributes":{"image":"nginx:1.27","images":["nginx:1.27","envoy:1.30"],"labels":{"app.kubernetes.io/name":"web","tier":"\u003cfrontend\u003e"},"missing":null,"ratio":0.25,"ready":true,"replicas":3}}]"#
    );
    assert_eq!(
        sha256_hex(encoded.as_bytes()),
        "626ffaa205196f97e7456dc4e44945108e5466ff1ac56ea89d348d4353f72387"
    );
}

#[test]
fn b4_empty_snapshot_fingerprint() {
    assert_eq!(encode_items(&[]), "[]");
    assert_eq!(
        sha256_hex(b"[]"),
        "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
    );
}
