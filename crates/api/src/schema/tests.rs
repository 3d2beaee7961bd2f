use serde_json::json;

use super::*;

fn errors(kind: Kind, value: Value) -> Vec<FieldError> {
    let schema = Schema::for_kind(kind);
    let mut value = value;
    schema.apply_defaults(&mut value);
    schema.validate(&value)
}

fn rendered(errors: &[FieldError]) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

#[test]
fn every_kind_schema_compiles() {
    for kind in Kind::ALL {
        Schema::new(&crate::crd::schema(kind)).expect("compiles");
    }
}

#[test]
fn unknown_fields_are_reported_with_a_suggestion() {
    let found = errors(
        Kind::Target,
        json!({"apiVersion": "kollect.dev/v1alpha1", "kind": "KollectTarget", "metadata": {"name": "t"},
               "spec": {"profileRef": "p", "profilRef2": "x", "includedNamespace": ["a"]}}),
    );
    let text = rendered(&found).join("\n");
    assert!(
        text.contains(
            "spec.includedNamespace: Unknown field: did you mean \"includedNamespaces\"?"
        ),
        "{text}"
    );
    assert!(text.contains("spec.profilRef2: Unknown field"), "{text}");
}

#[test]
fn wrong_types_say_what_was_expected() {
    let found = errors(
        Kind::Inventory,
        json!({"apiVersion": "kollect.dev/v1alpha1", "kind": "KollectInventory", "metadata": {"name": "i"},
               "spec": {"databaseSinkRefs": ["warehouse"], "suspend": "yes", "maxExportBytes": 1.5}}),
    );
    let text = rendered(&found).join("\n");
    assert!(text.contains("spec.databaseSinkRefs[0]: Invalid type: \"warehouse\": must be an object, not a string; write it as an object: {name: warehouse}"), "{text}");
    assert!(text.contains("spec.suspend: Invalid type"), "{text}");
    assert!(text.contains("spec.maxExportBytes: Invalid type: 1.5: must be an integer, not a number; use a whole number"), "{text}");
}

#[test]
fn missing_required_fields_and_enums() {
    let found = errors(
        Kind::SnapshotSink,
        json!({"apiVersion": "kollect.dev/v1alpha1", "kind": "KollectSnapshotSink", "metadata": {"name": "s"},
               "spec": {"type": "minio", "serialization": {"format": "avro"}}}),
    );
    let text = rendered(&found).join("\n");
    assert!(text.contains("spec.type: Unsupported value: \"minio\": supported values: \"git\", \"gitlab\", \"s3\", \"gcs\""), "{text}");
    assert!(
        text.contains("spec.serialization.format: Unsupported value: \"avro\""),
        "{text}"
    );
    let found = errors(
        Kind::Profile,
        json!({"apiVersion": "kollect.dev/v1alpha1", "kind": "KollectProfile", "metadata": {"name": "p"}, "spec": {}}),
    );
    assert!(
        rendered(&found)
            .iter()
            .any(|e| e == "spec.targetGVK: Required value: is required"),
        "{found:?}"
    );
}

#[test]
fn patterns_explain_themselves() {
    let found = errors(
        Kind::Target,
        json!({"apiVersion": "kollect.dev/v1alpha1", "kind": "KollectTarget", "metadata": {"name": "t"},
               "spec": {"profileRef": "other-ns/profile", "excludedNamespaces": [""]}}),
    );
    let text = rendered(&found).join("\n");
    assert!(text.contains("spec.profileRef: Invalid value: \"other-ns/profile\": must be the bare name of an object"), "{text}");
    assert!(
        text.contains("spec.excludedNamespaces[0]: Required value"),
        "{text}"
    );
}

#[test]
fn list_types_catch_duplicates() {
    let found = errors(
        Kind::Profile,
        json!({"apiVersion": "kollect.dev/v1alpha1", "kind": "KollectProfile", "metadata": {"name": "p"},
               "spec": {"targetGVK": {"version": "v1", "kind": "Pod"},
                        "attributes": [{"name": "x", "path": "$.a"}, {"name": "x", "path": "$.b"}],
                        "metrics": [{"name": "m", "path": "x", "labels": ["x", "x", "a", "b", "c", "d"]}]}}),
    );
    let text = rendered(&found).join("\n");
    assert!(
        text.contains("spec.attributes[1].name: Duplicate value: \"x\""),
        "{text}"
    );
    assert!(
        text.contains("spec.metrics[0].labels[1]: Duplicate value"),
        "{text}"
    );
    assert!(
        text.contains("spec.metrics[0].labels: Too many: 6: must have at most 5 items"),
        "{text}"
    );
}

#[test]
fn defaults_are_applied_and_nulls_pruned() {
    let schema = Schema::for_kind(Kind::ClusterInventory);
    let mut value =
        json!({"spec": {"namespaceSelector": {"matchLabels": {"a": "b"}}, "suspend": null}});
    schema.apply_defaults(&mut value);
    assert_eq!(value["spec"]["sinkNamespace"], "kollect-system");
    assert_eq!(value["spec"]["dedupe"], "keepAll");
    assert_eq!(value["spec"]["deletionPolicy"], "Retain");
    assert!(value["spec"].get("suspend").is_none());
    assert!(
        value["spec"].get("exportMinInterval").is_none(),
        "no default interval (DECISIONS API 6)"
    );
    let schema = Schema::for_kind(Kind::Profile);
    let mut value = json!({"spec": {"export": {}}});
    schema.apply_defaults(&mut value);
    assert_eq!(
        value["spec"]["export"],
        json!({"mode": "Attributes", "as": "resource", "include": "SpecAndStatus"})
    );
}

#[test]
fn ranges_and_formats() {
    let found = errors(
        Kind::ConnectionTest,
        json!({"apiVersion": "kollect.dev/v1alpha1", "kind": "KollectConnectionTest", "metadata": {"name": "c"},
               "spec": {"sinkRef": {"eventSinkRef": "e"}, "ttlSecondsAfterFinished": -1},
               "status": {"completedAt": "yesterday"}}),
    );
    let text = rendered(&found).join("\n");
    assert!(
        text.contains("spec.ttlSecondsAfterFinished: Invalid value: -1: must be at least 0"),
        "{text}"
    );
    assert!(
        text.contains("status.completedAt: Invalid value: \"yesterday\": must be an RFC 3339 time"),
        "{text}"
    );
    let found = errors(
        Kind::SnapshotSink,
        json!({"spec": {"type": "git", "tls": {"caBundle": "not base64!"}}}),
    );
    assert!(
        rendered(&found)
            .iter()
            .any(|e| e.starts_with("spec.tls.caBundle: Invalid value")),
        "{found:?}"
    );
}

#[test]
fn edit_distance_works() {
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("same", "same"), 0);
}
