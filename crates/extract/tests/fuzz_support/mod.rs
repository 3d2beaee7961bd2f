//! The bodies of the cargo-fuzz targets in `crates/extract/fuzz`, in one place: the targets
//! include this file (`#[path = "../../tests/fuzz_support/mod.rs"]`) and `tests/fuzz_corpus.rs`
//! replays every corpus file through it, so a corpus file runs exactly what the fuzzer ran.
//!
//! A function may only panic on a broken invariant (the assertions below); any other panic, and
//! any hang, is a bug in `kollect-extract`.

use std::sync::LazyLock;

use kollect_api::v1alpha1::{
    AttributeSpec, ExportInclude, ExportMode, ExportSpec, GroupVersionKind, ProfileSpec, PruneSpec,
};
use kollect_extract::{ExtractOptions, Extractor, WatchEvent, cel::CelExpr, jsonpath::JsonPath};
use serde_json::{Value, json};

/// A small Pod with the shapes paths trip over: dotted label keys, nested lists, integers and
/// floats, `null`, an empty list and status conditions.
static POD: LazyLock<Value> = LazyLock::new(|| {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-0",
            "namespace": "team-a",
            "uid": "uid-0",
            "resourceVersion": "42",
            "creationTimestamp": "2024-01-15T10:30:00Z",
            "labels": {"app": "web", "app.kubernetes.io/name": "web"},
            "annotations": {"example.com/note": "n", "token": "t"},
        },
        "spec": {
            "replicas": 3,
            "ratio": 0.5,
            "nothing": null,
            "empty": [],
            "containers": [
                {"name": "app", "image": "app:1.0", "ports": [{"containerPort": 8080}], "restarts": 2},
                {"name": "sidecar", "image": "sidecar:2.0", "env": {"password": "p", "host": "db"}},
            ],
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "False"}],
        },
    })
});

fn attribute(name: &str, path: &str, optional: bool) -> AttributeSpec {
    AttributeSpec {
        name: name.into(),
        path: path.into(),
        type_hint: None,
        optional: Some(optional),
    }
}

fn profile(kind: &str, attributes: Vec<AttributeSpec>) -> ProfileSpec {
    ProfileSpec {
        target_gvk: GroupVersionKind::new("", "v1", kind),
        attributes: Some(attributes),
        export: None,
        metrics: None,
    }
}

fn compile(spec: &ProfileSpec, options: &ExtractOptions) -> Extractor {
    Extractor::compile_spec(spec, false, options).expect("the fuzz profiles compile")
}

/// The extractors the `extract` target runs every input through.
static EXTRACTORS: LazyLock<Vec<Extractor>> = LazyLock::new(|| {
    let defaults = ExtractOptions::default();
    let metadata = profile(
        "Pod",
        vec![
            attribute("name", "{.metadata.name}", false),
            attribute("namespace", "$.metadata.namespace", false),
            attribute("app", "$.metadata.labels.app", true),
            attribute(
                "k8sName",
                r"{.metadata.labels.app\.kubernetes\.io/name}",
                true,
            ),
            attribute("quoted", "{.metadata.labels['app']}", true),
            attribute("annotations", "$.metadata.annotations", true),
            attribute("key", "{.metadata.namespace}/{.metadata.name}", true),
        ],
    );
    let deep = profile(
        "Pod",
        vec![
            attribute(
                "sidecar",
                r#"$.spec.containers[?(@.name=="sidecar")].image"#,
                true,
            ),
            attribute("images", "$..image", true),
            attribute("names", "$..name", true),
            attribute("ports", "$.spec.containers[*].ports[*].containerPort", true),
            attribute(
                "ready",
                "$.status.conditions[?(@.status=='True')].type",
                true,
            ),
            attribute("restarted", "$.spec.containers[?(@.restarts>1)].name", true),
            attribute("withImage", "$.spec.containers[?(@.image)].name", true),
            attribute("last", "$.spec.containers[-1:]", true),
            attribute("every", "$.spec.containers[::2].name", true),
            attribute("union", "$.spec.containers[0,1].name", true),
            attribute("spec", "$.spec.*", true),
            attribute("first", "$.spec.containers[0].name", false),
        ],
    );
    let cel = profile(
        "Pod",
        vec![
            attribute(
                "key",
                "cel:object.metadata.namespace + '/' + object.metadata.name",
                false,
            ),
            attribute("names", "cel:object.spec.containers.map(c, c.name)", true),
            attribute(
                "running",
                "cel:has(object.status) && object.status.phase == 'Running'",
                true,
            ),
            attribute(
                "appImage",
                "cel:object.spec.containers.exists(c, c.image.startsWith('app'))",
                true,
            ),
            attribute("app", "cel:object.metadata.labels['app']", true),
            attribute(
                "withPorts",
                "cel:object.spec.containers.filter(c, has(c.ports)).size()",
                true,
            ),
            attribute("half", "cel:double(object.spec.replicas) / 2.0", true),
            attribute("firstImage", "cel:object.spec.containers[0].image", true),
            attribute(
                "conditions",
                "cel:object.status.conditions.all(c, c.type != '')",
                true,
            ),
            attribute(
                "created",
                "cel:timestamp(object.metadata.creationTimestamp)",
                true,
            ),
            attribute(
                "map",
                "cel:{'n': object.metadata.name, 'r': object.spec.replicas}",
                true,
            ),
        ],
    );
    let resource = ProfileSpec {
        target_gvk: GroupVersionKind::new("apps", "v1", "Deployment"),
        attributes: Some(vec![
            attribute("fields", "cel:size(object)", true),
            attribute("uid", "$.metadata.uid", true),
        ]),
        export: Some(ExportSpec {
            mode: ExportMode::Resource,
            as_key: "resource".into(),
            include: ExportInclude::All,
            dedupe_identity: None,
            prune: Some(PruneSpec {
                defaults: Some(true),
                json_pointers: Some(vec!["/metadata/annotations/example.com~1note".into()]),
                json_paths: Some(vec!["$.status.conditions".into()]),
                scrub_keys: Some(vec!["internalId".into()]),
                cel: None,
            }),
        }),
        metrics: None,
    };
    let secret = profile(
        "Secret",
        vec![
            attribute("release", "helm:release.releaseName", true),
            attribute("chart", "helm:release.chartVersion", true),
            attribute("revision", "helm:release.revision", true),
            attribute("data", "$.data", true),
            attribute("stringData", "cel:object.stringData", true),
        ],
    );
    vec![
        compile(&metadata, &defaults),
        compile(
            &deep,
            &ExtractOptions {
                max_row_bytes: 1024,
                ..ExtractOptions::default()
            },
        ),
        compile(&cel, &defaults),
        compile(
            &resource,
            &ExtractOptions {
                scrub_keys: vec!["token".into()],
                ..ExtractOptions::default()
            },
        ),
        compile(&secret, &defaults),
    ]
});

/// An attribute path through the whole compiler (classification, then JSONPath or CEL), then
/// one extraction from the Pod.
fn compile_and_extract(path: &str) {
    let spec = profile("Pod", vec![attribute("v", path, false)]);
    match Extractor::compile_spec(&spec, false, &ExtractOptions::default()) {
        Ok(extractor) => {
            let _ = extractor.extract(&POD);
        }
        Err(errors) => {
            let _ = errors.iter().map(ToString::to_string).collect::<Vec<_>>();
        }
    }
}

/// Target `jsonpath_parse`: UTF-8 text as a kubectl JSONPath, evaluated on the Pod when it
/// parses; the same text as an attribute path.
pub(crate) fn jsonpath_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match JsonPath::parse(text) {
        Ok(path) => {
            if let Err(error) = path.evaluate(&POD) {
                let _ = error.to_string();
            }
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
    compile_and_extract(text);
}

/// Target `cel`: `EXPRESSION[\0JSON]`. The expression (UTF-8) is compiled and, when it
/// compiles, evaluated on the Pod and on the JSON after the first NUL byte, when that parses.
pub(crate) fn cel(data: &[u8]) {
    let (source, object) = match data.iter().position(|&b| b == 0) {
        Some(nul) => (&data[..nul], Some(&data[nul + 1..])),
        None => (data, None),
    };
    let Ok(source) = std::str::from_utf8(source) else {
        return;
    };
    compile_and_extract(&format!("cel:{source}"));
    let expression = match CelExpr::compile(source) {
        Ok(expression) => expression,
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
    let _ = expression.references();
    let _ = expression.evaluate(&POD);
    let _ = expression.evaluate_bool(&POD);
    if let Some(Ok(object)) = object.map(serde_json::from_slice::<Value>) {
        let _ = expression.evaluate(&object);
    }
}

/// Target `extract`: bytes as an object and as a watch event, through every extractor in one
/// pass; when they parse, also in two steps (parse, then extract; and on the object trimmed to
/// the plan), which must agree with the one-pass row whenever both succeed.
pub(crate) fn extract(data: &[u8]) {
    let parsed = serde_json::from_slice::<Value>(data).ok();
    for extractor in EXTRACTORS.iter() {
        let one_pass = extractor.extract_from_slice(data);
        let event = extractor.extract_event_from_slice(data);
        let Some(value) = &parsed else {
            continue;
        };
        let two_step = extractor.extract(value);
        if let (Ok(one_pass), Ok(two_step)) = (&one_pass, &two_step) {
            assert_eq!(one_pass, two_step, "one pass and two steps disagree");
        }
        let trimmed = extractor.extract(&extractor.plan().trim(value));
        if let (Ok(trimmed), Ok(two_step)) = (&trimmed, &two_step) {
            assert_eq!(trimmed, two_step, "trimming to the plan changed the row");
        }
        let Some(object) = value.get("object") else {
            continue;
        };
        match (&event, extractor.extract(object)) {
            (Ok(WatchEvent::Applied(Ok(applied))), Ok(direct)) => {
                assert_eq!(
                    applied, &direct,
                    "the event's row and the object's row disagree"
                );
            }
            (Ok(WatchEvent::Deleted(row)), Ok(direct)) => {
                assert_eq!(
                    row, &direct.row,
                    "the deleted row and the object's row disagree"
                );
            }
            _ => {}
        }
    }
}
