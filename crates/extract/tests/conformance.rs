//! Extraction conformance (pipeline spec §8.1–§8.7): every case runs three ways — on the parsed
//! object, on the object trimmed to the extractor's plan, and in one pass from the JSON bytes —
//! and all three must give the same row.

use base64::Engine as _;
use kollect_api::v1alpha1::{
    AttributeSpec, ExportInclude, ExportMode, ExportSpec, GroupVersionKind, ProfileSpec, PruneSpec,
};
use kollect_extract::{ExtractError, ExtractOptions, ExtractWarning, Extractor, WatchShape};
use rstest::rstest;
use serde_json::{Value, json};

fn attribute(name: &str, path: &str, optional: bool) -> AttributeSpec {
    AttributeSpec {
        name: name.into(),
        path: path.into(),
        type_hint: None,
        optional: Some(optional),
    }
}

fn spec(gvk: GroupVersionKind, attributes: Vec<AttributeSpec>) -> ProfileSpec {
    ProfileSpec {
        target_gvk: gvk,
        attributes: Some(attributes),
        export: None,
        metrics: None,
    }
}

fn pods(attributes: Vec<AttributeSpec>) -> ProfileSpec {
    spec(GroupVersionKind::new("", "v1", "ConfigMap"), attributes)
}

/// Extracts three ways, checks they agree, and returns the attribute map or the error text.
fn run_with(
    spec: &ProfileSpec,
    allow_secret: bool,
    options: &ExtractOptions,
    object: &Value,
) -> Result<(Value, Vec<ExtractWarning>), String> {
    let extractor =
        Extractor::compile_spec(spec, allow_secret, options).map_err(|e| format!("{e:?}"))?;
    let direct = extractor.extract(object);
    let trimmed = extractor.extract(&extractor.plan().trim(object));
    let bytes = serde_json::to_vec(object).expect("encodes");
    let one_pass = extractor.extract_from_slice(&bytes);
    assert_eq!(direct, trimmed, "trimming changed the result for {object}");
    assert_eq!(direct, one_pass, "one pass disagrees for {object}");
    let extracted = direct.map_err(|e| e.to_string())?;
    let attributes: Value =
        serde_json::from_str(extracted.row.attributes.as_json()).expect("canonical JSON");
    Ok((attributes, extracted.warnings))
}

fn run(spec: &ProfileSpec, object: &Value) -> Result<Value, String> {
    run_with(spec, false, &ExtractOptions::default(), object).map(|(a, _)| a)
}

/// Object C: `ConfigMap` `demo` in `default` with label `app=kollect` and `data.key=value`.
fn object_c() -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "demo", "namespace": "default", "uid": "uid-c", "resourceVersion": "7", "labels": {"app": "kollect"}}, "data": {"key": "value"}})
}

/// Object D: Deployment `demo` with containers app and sidecar.
fn object_d() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "demo", "namespace": "default", "uid": "uid-d"},
           "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:1.0"}, {"name": "sidecar", "image": "sidecar:2.0"}]}}}})
}

#[rstest]
#[case::ext01("{.metadata.name}", json!("demo"))]
#[case::ext02("$.metadata.namespace", json!("default"))]
#[case::ext03("cel:'app' in object.metadata.labels", json!(true))]
#[case::ext04("cel:object.metadata.namespace + '/' + object.metadata.name", json!("default/demo"))]
#[case::ext06("{.metadata.annotations.missing}", Value::Null)]
fn ext_single_attribute_on_c(#[case] path: &str, #[case] expected: Value) {
    let attributes = run(&pods(vec![attribute("v", path, false)]), &object_c()).expect("extracts");
    assert_eq!(attributes, json!({"v": expected}));
}

#[test]
fn ext05_optional_missing_attributes_are_left_out() {
    let profile = pods(vec![
        attribute("missing", "{.metadata.annotations.missing}", true),
        attribute("name", "{.metadata.name}", false),
    ]);
    assert_eq!(run(&profile, &object_c()), Ok(json!({"name": "demo"})));
}

#[rstest]
#[case::ext10("$.spec.template.spec.containers[0].image", json!("app:1.0"))]
#[case::ext11("$.spec.template.spec.containers[*].image", json!(["app:1.0", "sidecar:2.0"]))]
#[case::filter(r#"$.spec.template.spec.containers[?(@.name=="sidecar")].image"#, json!("sidecar:2.0"))]
#[case::recursive("$..image", json!(["app:1.0", "sidecar:2.0"]))]
#[case::root_members("$.spec.template.spec.containers[-1]", json!({"name": "sidecar", "image": "sidecar:2.0"}))]
fn ext_on_d(#[case] path: &str, #[case] expected: Value) {
    let profile = spec(
        GroupVersionKind::new("apps", "v1", "Deployment"),
        vec![attribute("v", path, false)],
    );
    assert_eq!(run(&profile, &object_d()), Ok(json!({"v": expected})));
}

#[test]
fn ext07_ext08_ext09_ext13_compile_errors_name_the_attribute() {
    let profile = pods(vec![
        attribute("a", "{.metadata.name", false),
        attribute("b", "cel:object..metadata.name", false),
        attribute("c", "   ", false),
        attribute("empty", "cel:   ", false),
    ]);
    let errors =
        Extractor::compile_spec(&profile, false, &ExtractOptions::default()).expect_err("refused");
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 4, "{text:?}");
    assert!(
        text[0]
            .starts_with("spec.attributes[0].path: parse JSONPath: unterminated '{' at column 1"),
        "{}",
        text[0]
    );
    assert!(
        text[1].starts_with("spec.attributes[1].path: compile CEL:"),
        "{}",
        text[1]
    );
    assert!(
        text[2].starts_with("spec.attributes[2].path: must not be empty"),
        "{}",
        text[2]
    );
    assert!(text[3].contains("empty CEL expression"), "{}", text[3]);
    assert_eq!(errors[3].name, "empty");
}

#[test]
fn compile_errors_carry_columns_in_the_path_as_written() {
    let profile = pods(vec![
        attribute("a", "$.spec.template.containers[0.image", false),
        attribute("b", "cel: object.metadata.name ==", false),
    ]);
    let errors =
        Extractor::compile_spec(&profile, false, &ExtractOptions::default()).expect_err("refused");
    assert!(
        errors[0]
            .to_string()
            .ends_with("unterminated '[' at column 27"),
        "{}",
        errors[0]
    );
    assert!(errors[1].message.contains("at column"), "{}", errors[1]);
}

#[test]
fn ext12_optional_attributes_do_not_hide_required_ones() {
    // `cel:object.metadata ==` does not compile: with a bad optional path the profile is still
    // refused at compile time (admission refuses it too), unlike Go which skipped it at runtime.
    let profile = spec(
        GroupVersionKind::new("", "v1", "ConfigMap"),
        vec![
            attribute("bad", "cel:object.metadata ==", true),
            attribute("name", "$.metadata.name", false),
        ],
    );
    assert!(Extractor::compile_spec(&profile, false, &ExtractOptions::default()).is_err());
}

#[test]
fn ext14_index_into_a_string_is_an_error() {
    let error = run(
        &pods(vec![attribute("bad", "{.metadata.name[0]}", false)]),
        &object_c(),
    )
    .expect_err("fails");
    assert!(
        error.starts_with("attribute \"bad\": eval JSONPath:"),
        "{error}"
    );
}

#[test]
fn ext15_empty_list_wildcard_is_null() {
    let object = json!({"metadata": {"name": "l", "uid": "u"}, "items": []});
    assert_eq!(
        run(
            &pods(vec![attribute("items", "$.items[*]", false)]),
            &object
        ),
        Ok(json!({"items": null}))
    );
}

#[test]
fn ext16_cel_null_and_strings() {
    let profile = pods(vec![
        attribute("nothing", "cel:null", true),
        attribute("null", "cel:null", false),
        attribute("x", "cel:'x'", false),
    ]);
    assert_eq!(
        run(&profile, &object_c()),
        Ok(json!({"null": null, "x": "x"}))
    );
}

#[test]
fn ext18_missing_map_keys_fail_required_cel_attributes() {
    let profile = spec(
        GroupVersionKind::new("", "v1", "Secret"),
        vec![attribute(
            "chart",
            "cel:object.metadata.annotations.chart",
            false,
        )],
    );
    let good = json!({"metadata": {"name": "good-release", "uid": "g", "annotations": {"chart": "myapp-1.0"}}});
    let bad = json!({"metadata": {"name": "bad-release", "uid": "b"}});
    assert_eq!(run(&profile, &good), Ok(json!({"chart": "myapp-1.0"})));
    let error = run(&profile, &bad).expect_err("fails");
    assert!(
        error.starts_with("attribute \"chart\": eval CEL"),
        "{error}"
    );
}

#[test]
fn only_the_first_failing_required_attribute_is_reported() {
    let profile = pods(vec![
        attribute("first", "{.metadata.name[0]}", false),
        attribute("second", "cel:object.nope", false),
    ]);
    let error = run(&profile, &object_c()).expect_err("fails");
    assert!(error.starts_with("attribute \"first\""), "{error}");
}

#[test]
fn con01_argo_application() {
    let object = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "demo-app", "namespace": "argocd", "uid": "a1"},
        "spec": {"source": {"chart": "nginx", "targetRevision": "14.3.0"}},
        "status": {"sync": {"revision": "14.3.0"}, "history": [{"id": 3}, {"id": 2}], "summary": {"images": ["nginx:2.1.0"]}}});
    let profile = spec(
        GroupVersionKind::new("argoproj.io", "v1alpha1", "Application"),
        vec![
            attribute("chartVersion", "$.status.sync.revision", true),
            attribute("appVersion", "$.status.summary.images[0]", true),
            attribute("revision", "$.status.history[0].id", true),
            attribute("chart", "$.spec.source.chart", true),
            attribute("targetRevision", "$.spec.source.targetRevision", true),
        ],
    );
    assert_eq!(
        run(&profile, &object),
        Ok(
            json!({"chartVersion": "14.3.0", "appVersion": "nginx:2.1.0", "revision": 3, "chart": "nginx", "targetRevision": "14.3.0"})
        )
    );
}

#[test]
fn con02_certificate() {
    let object = json!({"metadata": {"name": "example-tls", "namespace": "web", "uid": "c2"},
        "spec": {"commonName": "example.com", "dnsNames": ["example.com"], "secretName": "example-tls-secret", "issuerRef": {"name": "letsencrypt-prod", "kind": "ClusterIssuer"}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Issuing", "status": "False"}], "notAfter": "2026-07-01T00:00:00Z", "revision": 2}});
    let profile = spec(
        GroupVersionKind::new("cert-manager.io", "v1", "Certificate"),
        vec![
            attribute("commonName", "$.spec.commonName", true),
            attribute("secretName", "$.spec.secretName", true),
            attribute("issuer", "$.spec.issuerRef.name", true),
            attribute("issuerKind", "$.spec.issuerRef.kind", true),
            attribute("primaryDNS", "$.spec.dnsNames[0]", true),
            attribute("notAfter", "$.status.notAfter", true),
            attribute("revision", "$.status.revision", true),
            attribute("ready", "$.status.conditions[0].status", true),
        ],
    );
    assert_eq!(
        run(&profile, &object),
        Ok(
            json!({"commonName": "example.com", "secretName": "example-tls-secret", "issuer": "letsencrypt-prod", "issuerKind": "ClusterIssuer", "primaryDNS": "example.com", "notAfter": "2026-07-01T00:00:00Z", "revision": 2, "ready": "True"})
        )
    );
}

fn helm_release() -> Value {
    json!({"metadata": {"name": "demo-app", "namespace": "apps", "uid": "h3"},
        "spec": {"values": {"image": {"tag": "1.2.3"}, "database": {"host": "postgres.internal", "password": "super-secret"}, "auth": {"token": "bearer-abc"}}},
        "status": {"lastAttemptedRevision": "14.3.0", "lastAttemptedConfigDigest": "sha256:abc123", "history": [{"appVersion": "2.1.0", "version": 3}]}})
}

#[test]
fn con03_flux_helm_release() {
    let profile = spec(
        GroupVersionKind::new("helm.toolkit.fluxcd.io", "v2", "HelmRelease"),
        vec![
            attribute("chartVersion", "$.status.lastAttemptedRevision", true),
            attribute("appVersion", "$.status.history[0].appVersion", true),
            attribute("revision", "$.status.history[0].version", true),
            attribute("valuesChecksum", "$.status.lastAttemptedConfigDigest", true),
        ],
    );
    assert_eq!(
        run(&profile, &helm_release()),
        Ok(
            json!({"chartVersion": "14.3.0", "appVersion": "2.1.0", "revision": 3, "valuesChecksum": "sha256:abc123"})
        )
    );
}

fn redacted() -> Value {
    json!({"redacted": true, "reason": "sensitive-key"})
}

#[test]
fn con04_values_are_scrubbed() {
    let profile = spec(
        GroupVersionKind::new("helm.toolkit.fluxcd.io", "v2", "HelmRelease"),
        vec![attribute("values", "$.spec.values", true)],
    );
    assert_eq!(
        run(&profile, &helm_release()),
        Ok(
            json!({"values": {"auth": redacted(), "database": {"host": "postgres.internal", "password": redacted()}, "image": {"tag": "1.2.3"}}})
        )
    );
}

fn helm_secret() -> Value {
    use std::io::Write as _;
    let release = json!({"name": "my-app", "version": 2, "info": {"status": "deployed", "last_deployed": "2024-01-15T10:30:00Z"}, "chart": {"metadata": {"name": "nginx", "version": "14.3.0", "appVersion": "2.1.0"}}, "config": {"token": "t"}});
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(release.to_string().as_bytes())
        .expect("gzip");
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let inner = b64(&encoder.finish().expect("gzip"));
    json!({"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1", "metadata": {"name": "sh.helm.release.v1.my-app.v2", "namespace": "apps", "uid": "s5"}, "data": {"release": b64(inner.as_bytes())}})
}

#[test]
fn con05_helm_release_secret() {
    let profile = spec(
        GroupVersionKind::new("", "v1", "Secret"),
        vec![
            attribute("releaseName", "helm:release.releaseName", true),
            attribute("chartVersion", "helm:release.chartVersion", true),
            attribute("appVersion", "helm:release.appVersion", true),
            attribute("revision", "helm:release.revision", true),
            attribute("status", "helm:release.status", true),
            attribute("lastDeployed", "helm:release.lastDeployed", true),
        ],
    );
    assert_eq!(
        run(&profile, &helm_secret()),
        Ok(
            json!({"releaseName": "my-app", "chartVersion": "14.3.0", "appVersion": "2.1.0", "revision": 2, "status": "deployed", "lastDeployed": "2024-01-15T10:30:00Z"})
        )
    );
}

#[test]
fn scr08_and_scr09_nested_keys_are_redacted_top_level_names_are_not() {
    let object = json!({"metadata": {"name": "s", "uid": "u", "annotations": {"password": "p", "note": "n"}}, "spec": {"values": {"token": "t"}, "chartVersion": "1"}});
    let profile = pods(vec![
        attribute("values", "$.spec.values", false),
        attribute("chartVersion", "$.spec.chartVersion", false),
        attribute("meta", "$.metadata.annotations", false),
        attribute("password", "$.metadata.annotations.password", false),
    ]);
    assert_eq!(
        run(&profile, &object),
        Ok(
            json!({"values": {"token": redacted()}, "chartVersion": "1", "meta": {"note": "n", "password": redacted()}, "password": "p"})
        )
    );
}

#[test]
fn scr07_operator_keys_apply() {
    let options = ExtractOptions {
        scrub_keys: vec!["internalId".into()],
        ..ExtractOptions::default()
    };
    let object =
        json!({"metadata": {"name": "s", "uid": "u"}, "spec": {"internalId": 1, "public": 2}});
    let (attributes, _) = run_with(
        &pods(vec![attribute("spec", "$.spec", false)]),
        false,
        &options,
        &object,
    )
    .expect("extracts");
    assert_eq!(
        attributes,
        json!({"spec": {"internalId": redacted(), "public": 2}})
    );
}

fn object_p() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "team-a", "uid": "abc-123", "resourceVersion": "9", "generation": 7, "managedFields": [{}], "labels": {"app": "web"}},
        "spec": {"replicas": 3, "template": {"spec": {"env": {"password": "hunter2", "host": "db"}, "containers": [{"name": "a"}, {"name": "b"}]}}},
        "status": {"readyReplicas": 3}})
}

fn resource_profile(
    include: ExportInclude,
    prune: Option<PruneSpec>,
    attributes: Vec<AttributeSpec>,
) -> ProfileSpec {
    ProfileSpec {
        target_gvk: GroupVersionKind::new("apps", "v1", "Deployment"),
        attributes: Some(attributes),
        export: Some(ExportSpec {
            mode: ExportMode::Resource,
            as_key: "resource".into(),
            include,
            dedupe_identity: None,
            prune,
        }),
        metrics: None,
    }
}

#[test]
fn prn08_embedded_objects_are_scrubbed() {
    let attributes = run(
        &resource_profile(ExportInclude::SpecOnly, None, vec![]),
        &object_p(),
    )
    .expect("extracts");
    assert_eq!(
        attributes["resource"]["spec"]["template"]["spec"]["env"],
        json!({"host": "db", "password": redacted()})
    );
    assert_eq!(attributes["resource"]["apiVersion"], "apps/v1");
}

#[test]
fn prn17_resource_mode_with_attributes() {
    let profile = resource_profile(
        ExportInclude::SpecAndStatus,
        None,
        vec![attribute(
            "containerCount",
            "cel:size(object.spec.template.spec.containers)",
            false,
        )],
    );
    let extractor =
        Extractor::compile_spec(&profile, false, &ExtractOptions::default()).expect("compiles");
    let extracted = extractor.extract(&object_p()).expect("extracts");
    assert_eq!(
        (
            &*extracted.row.name,
            &*extracted.row.namespace,
            &*extracted.row.uid
        ),
        ("web", "team-a", "abc-123")
    );
    let attributes: Value = serde_json::from_str(extracted.row.attributes.as_json()).expect("JSON");
    assert_eq!(attributes["containerCount"], 2);
    assert!(attributes["resource"].get("metadata").is_none());
    assert_eq!(run(&profile, &object_p()).expect("agrees"), attributes);
}

#[test]
fn prn18_profile_scrub_keys_apply_to_the_embedded_object() {
    let prune = PruneSpec {
        scrub_keys: Some(vec!["host".into()]),
        ..PruneSpec::default()
    };
    let attributes = run(
        &resource_profile(ExportInclude::SpecOnly, Some(prune), vec![]),
        &object_p(),
    )
    .expect("extracts");
    assert_eq!(
        attributes["resource"]["spec"]["template"]["spec"]["env"],
        json!({"host": redacted(), "password": redacted()})
    );
}

#[test]
fn secret_data_never_leaves_without_the_opt_in() {
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n", "uid": "u"}, "data": {"password": "aHVudGVyMg=="}, "stringData": {"x": "y"}});
    let gvk = GroupVersionKind::new("", "v1", "Secret");
    let profile = spec(
        gvk.clone(),
        vec![
            attribute("data", "$.data", false),
            attribute("all", "cel:object.stringData", false),
            attribute("one", "$.data.password", false),
        ],
    );
    let marker = json!({"redacted": true, "reason": "secret-data"});
    assert_eq!(
        run(&profile, &secret),
        Ok(json!({"data": marker.clone(), "all": marker, "one": null}))
    );
    let (opted_in, _) =
        run_with(&profile, true, &ExtractOptions::default(), &secret).expect("extracts");
    assert_eq!(opted_in["one"], "aHVudGVyMg==");
    let mut resource = ProfileSpec {
        target_gvk: gvk,
        attributes: None,
        export: Some(ExportSpec {
            mode: ExportMode::Resource,
            as_key: "resource".into(),
            include: ExportInclude::All,
            dedupe_identity: None,
            prune: None,
        }),
        metrics: None,
    };
    let masked = run(&resource, &secret).expect("extracts");
    assert_eq!(
        masked["resource"]["data"],
        json!({"redacted": true, "reason": "secret-data"})
    );
    resource.export.as_mut().expect("export").include = ExportInclude::SpecAndStatus;
    assert!(
        run(&resource, &secret).expect("extracts")["resource"]
            .get("data")
            .is_none()
    );
}

#[test]
fn non_finite_cel_results_warn() {
    let (attributes, warnings) = run_with(
        &pods(vec![attribute("ratio", "cel:double('NaN')", false)]),
        false,
        &ExtractOptions::default(),
        &object_c(),
    )
    .expect("extracts");
    assert_eq!(attributes, json!({"ratio": null}));
    assert_eq!(
        warnings,
        [ExtractWarning::NonFiniteNumber {
            attribute: "ratio".into()
        }]
    );
}

#[test]
fn rows_above_the_limit_fail() {
    let options = ExtractOptions {
        max_row_bytes: 20,
        ..ExtractOptions::default()
    };
    let extractor = Extractor::compile_spec(
        &pods(vec![attribute("labels", "$.metadata.labels", false)]),
        false,
        &options,
    )
    .expect("compiles");
    let object = json!({"metadata": {"name": "x", "uid": "u", "labels": {"a": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}}});
    assert!(matches!(
        extractor.extract(&object),
        Err(ExtractError::RowTooLarge { limit: 20, .. })
    ));
}

#[test]
fn number_normalisation_and_empty_profiles() {
    let object = json!({"metadata": {"name": "n", "uid": "u"}, "spec": {"big": 18_446_744_073_709_551_615_u64, "one": 1.0, "kilo": 1e3}});
    let profile = pods(vec![
        attribute("big", "$.spec.big", false),
        attribute("one", "$.spec.one", false),
        attribute("kilo", "$.spec.kilo", false),
    ]);
    let extractor =
        Extractor::compile_spec(&profile, false, &ExtractOptions::default()).expect("compiles");
    let row = extractor.extract(&object).expect("extracts").row;
    assert_eq!(
        row.attributes.as_json(),
        r#"{"big":18446744073709552000,"kilo":1000,"one":1}"#
    );
    let empty = Extractor::compile_spec(&pods(vec![]), false, &ExtractOptions::default())
        .expect("compiles");
    assert_eq!(
        empty
            .extract(&object)
            .expect("extracts")
            .row
            .attributes
            .as_json(),
        "{}"
    );
}

#[test]
fn watch_shapes() {
    let metadata = pods(vec![
        attribute("name", "$.metadata.name", false),
        attribute("app", "cel:object.metadata.labels.app", true),
    ]);
    let extractor =
        Extractor::compile_spec(&metadata, false, &ExtractOptions::default()).expect("compiles");
    assert_eq!(extractor.watch_shape(), WatchShape::MetadataOnly);
    let whole = pods(vec![attribute("size", "cel:size(object)", false)]);
    assert_eq!(
        Extractor::compile_spec(&whole, false, &ExtractOptions::default())
            .expect("compiles")
            .watch_shape(),
        WatchShape::Full
    );
    let trimmed = pods(vec![attribute(
        "image",
        "$.spec.template.spec.containers[*].image",
        false,
    )]);
    let shape = Extractor::compile_spec(&trimmed, false, &ExtractOptions::default())
        .expect("compiles")
        .watch_shape();
    let WatchShape::Trimmed(plan) = shape else {
        panic!("trimmed expected")
    };
    assert_eq!(
        plan.paths(),
        [
            ".metadata.name",
            ".metadata.namespace",
            ".metadata.resourceVersion",
            ".metadata.uid",
            ".spec.template.spec.containers"
        ]
    );
}

#[test]
fn one_pass_handles_bad_input() {
    let extractor = Extractor::compile_spec(
        &pods(vec![attribute("name", "$.metadata.name", false)]),
        false,
        &ExtractOptions::default(),
    )
    .expect("compiles");
    assert!(matches!(
        extractor.extract_from_slice(b"[1,2]"),
        Err(ExtractError::NotAnObject)
    ));
    assert!(matches!(
        extractor.extract_from_slice(b"{\"metadata\": "),
        Err(ExtractError::Decode(_))
    ));
    assert!(matches!(
        extractor.extract_from_slice(b""),
        Err(ExtractError::Decode(_))
    ));
    assert!(matches!(
        extractor.extract_from_slice(&[0xff, 0xfe]),
        Err(ExtractError::Decode(_))
    ));
    assert!(matches!(
        extractor.extract_from_slice(b"{} trailing"),
        Err(ExtractError::Decode(_))
    ));
}

#[test]
fn watch_events_decode_in_one_pass() {
    use kollect_extract::WatchEvent;
    let extractor = Extractor::compile_spec(
        &pods(vec![attribute("app", "$.metadata.labels.app", false)]),
        false,
        &ExtractOptions::default(),
    )
    .expect("compiles");
    let added = format!(r#"{{"type":"ADDED","object":{}}}"#, object_c());
    let WatchEvent::Applied(Ok(extracted)) = extractor
        .extract_event_from_slice(added.as_bytes())
        .expect("decodes")
    else {
        panic!("applied")
    };
    assert_eq!(extracted.row.attributes.as_json(), r#"{"app":"kollect"}"#);
    assert_eq!(&*extracted.row.resource_version, "7");
    let deleted = format!(
        r#"{{"object":{},"type":"DELETED"}}"#,
        json!({"metadata": {"name": "gone", "uid": "g"}})
    );
    let WatchEvent::Deleted(row) = extractor
        .extract_event_from_slice(deleted.as_bytes())
        .expect("decodes")
    else {
        panic!("deleted")
    };
    assert_eq!(&*row.uid, "g");
    let bookmark = r#"{"type":"BOOKMARK","object":{"kind":"ConfigMap","metadata":{"resourceVersion":"12345"}}}"#;
    assert_eq!(
        extractor.extract_event_from_slice(bookmark.as_bytes()),
        Ok(WatchEvent::Bookmark("12345".into()))
    );
    let gone = r#"{"type":"ERROR","object":{"kind":"Status","code":410,"message":"too old resource version"}}"#;
    assert_eq!(
        extractor.extract_event_from_slice(gone.as_bytes()),
        Ok(WatchEvent::Error {
            code: Some(410),
            message: "too old resource version".into()
        })
    );
    assert!(
        extractor
            .extract_event_from_slice(br#"{"type":"WAT","object":{}}"#)
            .is_err()
    );
}

/// Object J of pipeline spec §8.2.
fn object_j() -> Value {
    json!({
        "metadata": {"name": "demo", "uid": "j", "labels": {"app": "kollect", "app.kubernetes.io/name": "web"}},
        "spec": {"replicas": 3, "ratio": 0.5, "containers": [{"name": "app", "image": "app:1.0"}, {"name": "sidecar", "image": "sidecar:2.0"}],
                 "empty": [], "one": [{"image": "solo:1"}], "nothing": null, "mixed": [{"image": "a"}, {"name": "no-image"}]},
    })
}

/// Paths exercising the whole dialect and CEL; used by the agreement tests below.
const PATHS: [&str; 32] = [
    "$.spec.one[*].image",
    "$.spec.empty[*].image",
    "$.spec.containers[5].image",
    "$.spec.containers[-1].image",
    "$.spec.containers[0:1].image",
    "$.spec.nothing[0]",
    "$.spec.nothing.x",
    "$.spec.mixed[*].image",
    "$.spec.replicas",
    "$.metadata.labels",
    r"{.metadata.labels.app\.kubernetes\.io/name}",
    "{.metadata.labels['app.kubernetes.io/name']}",
    "$.spec.containers.image",
    r#"$.spec.containers[?(@.name=="sidecar")].image"#,
    r#"$.spec.mixed[?(@.name=="no-image")].name"#,
    "{.spec.containers[0].image} {.metadata.name}",
    "$.spec.containers[*]",
    "$.spec.containers[0,1].name",
    "$..image",
    "$.spec.*",
    "$.metadata.name.*",
    "{.}",
    "$.spec.containers[?(@.image)].name",
    "$.spec[?(@.x)]",
    "$.spec.containers[::2]",
    "cel:object.spec.containers.map(c, c.name)",
    "cel:has(object.spec.nothing)",
    "cel:object.spec.replicas + 1",
    "cel:object.metadata.labels['app']",
    "cel:size(object.spec)",
    "cel:object.spec.containers[1].image",
    "cel:object.spec.missing.x",
];

#[test]
fn jp_vectors_agree_across_the_three_paths() {
    for path in PATHS {
        // Each path as a required attribute: the outcome (value or error) must agree; `run`
        // asserts the agreement.
        let _ = run(&pods(vec![attribute("v", path, false)]), &object_j());
    }
}

fn arbitrary_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-5i64..5).prop_map(Value::from),
        (-2.0f64..2.0).prop_map(|f| json!(f)),
        "[a-c]{0,3}".prop_map(Value::String),
        Just(json!("app")),
        Just(json!("sidecar")),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("name".to_owned()),
                    Just("image".to_owned()),
                    Just("spec".to_owned()),
                    Just("containers".to_owned()),
                    Just("x".to_owned()),
                    "[a-c]{1,2}"
                ],
                inner,
                0..4,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Whatever the object, the three extraction paths agree on every path.
    #[test]
    fn the_three_paths_agree_on_arbitrary_objects(spec_value in arbitrary_json(), metadata in arbitrary_json()) {
        let object = json!({"metadata": metadata, "spec": spec_value});
        let attributes: Vec<AttributeSpec> = PATHS.iter().enumerate().map(|(i, p)| attribute(&format!("a{i:02}"), p, true)).collect();
        let _ = run(&pods(attributes), &object);
        for path in PATHS {
            let _ = run(&pods(vec![attribute("v", path, false)]), &object);
        }
    }
}
