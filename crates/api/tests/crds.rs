//! The generated CRDs: names and printer columns as specified, structural schemas by the
//! Kubernetes rules, valid defaults, and checked-in files that match the generator.

#![allow(clippy::panic)] // helpers fail the test with a message

mod support;

use kollect_api::{crd, schema::Schema, v1alpha1::Kind};
use serde_json::{Value, json};
use support::repo_root;

/// Keywords a structural schema must not use (or, for `uniqueItems`, not set to true).
const FORBIDDEN: [&str; 10] = [
    "$ref",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "definitions",
    "dependencies",
    "additionalItems",
    "patternProperties",
    "$schema",
];

fn crd_value(kind: Kind) -> Value {
    serde_json::to_value(kind.crd()).expect("encodes")
}

/// Kind, plural, scope, short names, status subresource (api.md §1, DECISIONS API 8).
const EXPECTED: [(&str, &str, &str, &[&str], bool); 11] = [
    (
        "KollectProfile",
        "kollectprofiles",
        "Namespaced",
        &["kprof"],
        true,
    ),
    (
        "KollectTarget",
        "kollecttargets",
        "Namespaced",
        &["ktgt"],
        true,
    ),
    (
        "KollectClusterTarget",
        "kollectclustertargets",
        "Cluster",
        &["kctgt"],
        true,
    ),
    (
        "KollectInventory",
        "kollectinventories",
        "Namespaced",
        &["kinv"],
        true,
    ),
    (
        "KollectClusterInventory",
        "kollectclusterinventories",
        "Cluster",
        &["kcinv"],
        true,
    ),
    (
        "KollectSnapshotSink",
        "kollectsnapshotsinks",
        "Namespaced",
        &["ksnap"],
        true,
    ),
    (
        "KollectDatabaseSink",
        "kollectdatabasesinks",
        "Namespaced",
        &["kdb"],
        true,
    ),
    (
        "KollectEventSink",
        "kollecteventsinks",
        "Namespaced",
        &["kevt"],
        true,
    ),
    (
        "KollectScope",
        "kollectscopes",
        "Namespaced",
        &["kscope"],
        false,
    ),
    (
        "KollectClusterScope",
        "kollectclusterscopes",
        "Cluster",
        &["kcscope"],
        false,
    ),
    (
        "KollectConnectionTest",
        "kollectconnectiontests",
        "Namespaced",
        &["kconn", "kconntest"],
        true,
    ),
];

#[test]
fn eleven_kinds_with_the_specified_names() {
    let crds = crd::crds();
    assert_eq!(crds.len(), 11);
    for ((kind, plural, scope, short, status), crd) in EXPECTED.into_iter().zip(crds) {
        let crd = serde_json::to_value(crd).expect("encodes");
        assert_eq!(crd["metadata"]["name"], format!("{plural}.kollect.dev"));
        assert_eq!(crd["spec"]["group"], "kollect.dev");
        assert_eq!(crd["spec"]["names"]["kind"], kind);
        assert_eq!(crd["spec"]["names"]["plural"], plural);
        assert_eq!(crd["spec"]["names"]["shortNames"], json!(short), "{kind}");
        assert_eq!(crd["spec"]["scope"], scope, "{kind}");
        assert!(
            crd["spec"]["names"].get("categories").is_none(),
            "{kind}: no categories"
        );
        let version = &crd["spec"]["versions"][0];
        assert_eq!(version["name"], "v1alpha1");
        assert_eq!(version["served"], true);
        assert_eq!(version["storage"], true);
        assert_eq!(
            version["subresources"].get("status").is_some(),
            status,
            "{kind} status subresource"
        );
        let has_status_schema = version["schema"]["openAPIV3Schema"]["properties"]
            .get("status")
            .is_some();
        assert_eq!(has_status_schema, status, "{kind}: status schema");
        assert_eq!(
            version["schema"]["openAPIV3Schema"]["required"],
            json!(["spec"]),
            "{kind}"
        );
    }
}

#[test]
fn printer_columns_as_specified() {
    let target = crd_value(Kind::Target);
    assert_eq!(
        target["spec"]["versions"][0]["additionalPrinterColumns"],
        json!([
            {"name": "Collected", "type": "integer", "jsonPath": ".status.collectedCount"},
            {"name": "Updated", "type": "date", "jsonPath": ".status.collectedCountUpdatedAt"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ])
    );
    let test = crd_value(Kind::ConnectionTest);
    assert_eq!(
        test["spec"]["versions"][0]["additionalPrinterColumns"],
        json!([
            {"name": "Sink", "type": "string", "jsonPath": ".spec.sinkRef"},
            {"name": "Verified", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"ConnectionVerified\")].status"},
        ])
    );
}

/// Walks every schema node with its JSON pointer.
fn walk<'a>(node: &'a Value, pointer: &str, visit: &mut dyn FnMut(&str, &'a Value)) {
    visit(pointer, node);
    if let Some(properties) = node.get("properties").and_then(Value::as_object) {
        for (name, child) in properties {
            walk(child, &format!("{pointer}/properties/{name}"), visit);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = node.get(key).filter(|c| c.is_object()) {
            walk(child, &format!("{pointer}/{key}"), visit);
        }
    }
}

#[test]
fn schemas_are_structural() {
    for kind in Kind::ALL {
        let crd = crd_value(kind);
        let root = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        walk(root, "", &mut |pointer, node| {
            let map = node
                .as_object()
                .unwrap_or_else(|| panic!("{kind}{pointer}: not an object"));
            let escape_hatch = map.get("x-kubernetes-int-or-string") == Some(&json!(true))
                || map.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
            assert!(
                map.contains_key("type") || escape_hatch,
                "{kind}{pointer}: untyped node"
            );
            for keyword in FORBIDDEN {
                assert!(
                    !map.contains_key(keyword),
                    "{kind}{pointer}: forbidden keyword {keyword}"
                );
            }
            assert_ne!(
                map.get("uniqueItems"),
                Some(&json!(true)),
                "{kind}{pointer}: uniqueItems"
            );
            assert!(
                !(map.contains_key("properties") && map.contains_key("additionalProperties")),
                "{kind}{pointer}: properties and additionalProperties together"
            );
            if let Some(items) = map.get("items") {
                assert!(
                    items.is_object(),
                    "{kind}{pointer}: items must be one schema"
                );
            }
            match map.get("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("map") => {
                    let keys = map["x-kubernetes-list-map-keys"]
                        .as_array()
                        .expect("map keys");
                    let required = map["items"]["required"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    for key in keys {
                        let defaulted = map["items"]["properties"]
                            [key.as_str().unwrap_or_default()]
                        .get("default")
                        .is_some();
                        assert!(
                            required.contains(key) || defaulted,
                            "{kind}{pointer}: map key {key} must be required"
                        );
                    }
                }
                Some("set") => {
                    let item_type = map["items"]["type"].as_str().unwrap_or_default();
                    assert!(
                        matches!(item_type, "string" | "integer" | "number" | "boolean"),
                        "{kind}{pointer}: set of {item_type}"
                    );
                }
                Some("atomic") | None => {}
                Some(other) => panic!("{kind}{pointer}: unknown list type {other}"),
            }
            if pointer == "/properties/metadata" {
                assert_eq!(
                    node,
                    &json!({"type": "object"}),
                    "{kind}: metadata may not be constrained"
                );
            }
            assert!(
                map.get("description")
                    .and_then(Value::as_str)
                    .is_none_or(|d| !d.trim().is_empty())
            );
        });
    }
}

#[test]
fn every_spec_field_is_documented_for_kubectl_explain() {
    for kind in Kind::ALL {
        let crd = crd_value(kind);
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        walk(spec, "/spec", &mut |pointer, node| {
            let described = node
                .get("description")
                .and_then(Value::as_str)
                .is_some_and(|d| d.len() > 3);
            let is_item = pointer.ends_with("/items") || pointer.ends_with("/additionalProperties");
            assert!(described || is_item, "{kind}{pointer}: no description");
        });
    }
}

#[test]
fn defaults_are_exactly_the_specified_ones_and_valid() {
    let mut found = Vec::new();
    for kind in Kind::ALL {
        let crd = crd_value(kind);
        let root = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        walk(root, "", &mut |pointer, node| {
            if let Some(default) = node.get("default") {
                found.push(format!("{kind}{}", pointer.replace("/properties/", ".")));
                let mut without = node.clone();
                without.as_object_mut().expect("object").remove("default");
                let schema = Schema::new(&without).expect("node compiles");
                let errors = schema.validate(default);
                assert!(
                    errors.is_empty(),
                    "{kind}{pointer}: default {default} is invalid: {errors:?}"
                );
            }
        });
    }
    found.sort();
    let mut expected = vec![
        "KollectClusterInventory.spec.dedupe",
        "KollectClusterInventory.spec.deletionPolicy",
        "KollectClusterInventory.spec.sinkNamespace",
        "KollectConnectionTest.spec.ttlSecondsAfterFinished",
        "KollectInventory.spec.deletionPolicy",
        "KollectProfile.spec.export.as",
        "KollectProfile.spec.export.include",
        "KollectProfile.spec.export.mode",
        "KollectTarget.spec.watchMode",
    ];
    for sink in [
        "KollectDatabaseSink",
        "KollectEventSink",
        "KollectSnapshotSink",
    ] {
        for field in ["content", "mode"] {
            expected.push(Box::leak(
                format!("{sink}.spec.layout.{field}").into_boxed_str(),
            ));
        }
    }
    expected.sort_unstable();
    assert_eq!(found, expected);
}

#[test]
fn checked_in_files_match_the_generator() {
    let root = repo_root();
    let hint = "run `cargo xtask crdgen` and commit the result";
    for kind in Kind::ALL {
        let path = root.join("deploy/crds").join(crd::file_name(kind));
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == crd::to_yaml(kind),
            "{} is out of date: {hint}",
            path.display()
        );
    }
    let count = std::fs::read_dir(root.join("deploy/crds"))
        .expect("deploy/crds exists")
        .count();
    assert_eq!(count, 11, "deploy/crds holds stale files: {hint}");
    let reference =
        std::fs::read_to_string(root.join("docs/reference/crds.md")).unwrap_or_default();
    assert!(
        reference == crd::reference_markdown(),
        "docs/reference/crds.md is out of date: {hint}"
    );
}

#[test]
fn generated_yaml_reads_back_as_the_crd() {
    for kind in Kind::ALL {
        let documents = kollect_api::manifest::parse(crd::to_yaml(kind).as_bytes());
        let document = documents
            .into_iter()
            .next()
            .expect("one document")
            .expect("parses");
        assert_eq!(document.value, crd_value(kind), "{kind}");
    }
}
