use kollect_api::v1alpha1::{ExportMode, PruneSpec};
use serde_json::json;

use super::*;

/// Object P of pipeline spec §8.7.
fn object_p() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web", "namespace": "team-a", "uid": "abc-123", "resourceVersion": "42", "generation": 7,
            "managedFields": [{"manager": "kubectl"}],
            "labels": {"app": "web", "pod-template-hash": "deadbeef"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "platform"},
        },
        "spec": {"replicas": 3, "template": {"spec": {"env": {"password": "hunter2", "host": "db"}}}},
        "status": {"readyReplicas": 3, "conditions": [{"type": "Available"}]},
    })
}

fn export(include: ExportInclude, dedupe: Option<bool>, prune: PruneSpec) -> ResourceExport {
    ResourceExport::new(&ExportSpec {
        mode: ExportMode::Resource,
        as_key: "resource".into(),
        include,
        dedupe_identity: dedupe,
        prune: Some(prune),
    })
}

fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .expect("map")
        .keys()
        .map(String::as_str)
        .collect()
}

fn no_defaults() -> PruneSpec {
    PruneSpec {
        defaults: Some(false),
        ..PruneSpec::default()
    }
}

#[test]
fn prn01_defaults_keep_spec_and_status() {
    let pruned =
        export(ExportInclude::SpecAndStatus, None, PruneSpec::default()).prune(&object_p());
    assert_eq!(keys(&pruned), ["apiVersion", "kind", "spec", "status"]);
}

#[test]
fn prn02_include_sections() {
    for (include, last) in [
        (ExportInclude::SpecOnly, "spec"),
        (ExportInclude::StatusOnly, "status"),
        (ExportInclude::MetadataOnly, "metadata"),
    ] {
        let pruned = export(include, None, no_defaults()).prune(&object_p());
        let mut expected = vec!["apiVersion", "kind", last];
        expected.sort_unstable();
        assert_eq!(keys(&pruned), expected);
    }
}

#[test]
fn prn03_all_without_defaults_keeps_resource_version() {
    let pruned = export(ExportInclude::All, None, no_defaults()).prune(&object_p());
    assert_eq!(pruned["metadata"]["resourceVersion"], "42");
}

#[test]
fn prn04_built_in_noise_is_removed() {
    let pruned = export(ExportInclude::All, Some(false), PruneSpec::default()).prune(&object_p());
    let metadata = &pruned["metadata"];
    for gone in ["resourceVersion", "generation", "managedFields"] {
        assert!(metadata.get(gone).is_none(), "{gone}");
    }
    assert!(
        metadata["annotations"]
            .get("kubectl.kubernetes.io/last-applied-configuration")
            .is_none()
    );
    assert_eq!(metadata["annotations"]["team"], "platform");
    assert_eq!(metadata["name"], "web", "identity kept without dedupe");
}

#[test]
fn prn05_user_pointers() {
    let prune = PruneSpec {
        json_pointers: Some(vec![
            "/status/conditions".into(),
            "/metadata/annotations/team".into(),
        ]),
        ..no_defaults()
    };
    let pruned = export(ExportInclude::All, None, prune).prune(&object_p());
    assert!(pruned["status"].get("conditions").is_none());
    assert!(pruned["metadata"]["annotations"].get("team").is_none());
}

#[test]
fn prn06_json_path_with_quoted_key() {
    let prune = PruneSpec {
        json_paths: Some(vec![r#"$.metadata.labels["pod-template-hash"]"#.into()]),
        ..no_defaults()
    };
    let pruned = export(ExportInclude::All, None, prune).prune(&object_p());
    assert_eq!(pruned["metadata"]["labels"], json!({"app": "web"}));
}

#[test]
fn prn07_metadata_only_dedupes_identity() {
    let pruned = export(ExportInclude::MetadataOnly, None, PruneSpec::default()).prune(&object_p());
    for gone in ["name", "namespace", "uid"] {
        assert!(pruned["metadata"].get(gone).is_none(), "{gone}");
    }
    assert_eq!(pruned["apiVersion"], "apps/v1");
}

#[test]
fn prn09_source_is_unchanged() {
    let source = object_p();
    let _ = export(ExportInclude::All, None, PruneSpec::default()).prune(&source);
    assert_eq!(source, object_p());
}

#[test]
fn prn10_unusable_pointers_are_no_ops() {
    let prune = PruneSpec {
        json_pointers: Some(
            ["", "   ", "/", "relative/path", "no-leading-slash"]
                .map(String::from)
                .to_vec(),
        ),
        ..no_defaults()
    };
    assert_eq!(
        export(ExportInclude::All, Some(false), prune).prune(&object_p()),
        object_p()
    );
}

#[test]
fn prn11_to_13_list_elements() {
    let null_element = PruneSpec {
        json_pointers: Some(vec!["/status/conditions/0".into()]),
        ..no_defaults()
    };
    assert_eq!(
        export(ExportInclude::All, Some(false), null_element).prune(&object_p())["status"]["conditions"],
        json!([null])
    );
    let bad = PruneSpec {
        json_pointers: Some(
            [
                "/status/conditions/9",
                "/status/conditions/first",
                "/status/conditions/-1",
            ]
            .map(String::from)
            .to_vec(),
        ),
        ..no_defaults()
    };
    assert_eq!(
        export(ExportInclude::All, Some(false), bad).prune(&object_p()),
        object_p()
    );
    let inside = PruneSpec {
        json_pointers: Some(vec!["/status/conditions/0/type".into()]),
        ..no_defaults()
    };
    assert_eq!(
        export(ExportInclude::All, Some(false), inside).prune(&object_p())["status"]["conditions"],
        json!([{}])
    );
}

#[test]
fn prn14_wildcards_and_filters_are_no_ops() {
    let prune = PruneSpec {
        json_paths: Some(
            [
                "$.metadata.labels[*]",
                "$.*",
                "$.status.conditions[?(@.type=='Available')]",
            ]
            .map(String::from)
            .to_vec(),
        ),
        ..no_defaults()
    };
    assert_eq!(
        export(ExportInclude::All, Some(false), prune).prune(&object_p()),
        object_p()
    );
}

#[test]
fn prn15_tokenizer() {
    assert_eq!(
        json_path_tokens(r#"$.metadata.labels["pod-template-hash"]"#),
        Some(vec![
            "metadata".into(),
            "labels".into(),
            "pod-template-hash".into()
        ])
    );
    assert_eq!(
        json_path_tokens("$.spec.containers[0]"),
        Some(vec!["spec".into(), "containers".into(), "0".into()])
    );
    for unsupported in ["$.a[*]", "$.a[?(@.b)]", "$.a[0", "$.*", "$.a.*.b"] {
        assert_eq!(json_path_tokens(unsupported), None, "{unsupported}");
    }
}

#[test]
fn prn16_non_objects_are_returned_as_they_are() {
    assert_eq!(
        export(ExportInclude::All, None, PruneSpec::default()).prune(&Value::Null),
        Value::Null
    );
}
