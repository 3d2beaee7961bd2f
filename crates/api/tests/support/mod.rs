//! Loading of the table-driven fixtures under `tests/fixtures/api`.
#![allow(dead_code)] // shared by several test binaries; each uses a part
#![allow(clippy::panic)] // a malformed fixture file fails the test run

use std::path::{Path, PathBuf};

use kollect_api::{manifest, validation::Settings};
use serde_json::{Value, json};

/// One case of a fixture file.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) file: String,
    pub(crate) id: String,
    pub(crate) layer: String,
    pub(crate) settings: Settings,
    pub(crate) setup: Vec<Value>,
    pub(crate) objects: Vec<Value>,
    pub(crate) expect: Value,
}

impl Case {
    pub(crate) fn label(&self) -> String {
        format!("{}#{}", self.file, self.id)
    }

    pub(crate) fn single_object_layer(&self) -> bool {
        self.layer == "webhook" || self.layer == "schema"
    }

    pub(crate) fn expect_accept(&self) -> bool {
        self.expect
            .get("accept")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every case of every fixture file.
pub(crate) fn load_cases() -> Vec<Case> {
    let dir = repo_root().join("tests/fixtures/api");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixture directory exists")
        .map(|entry| entry.expect("readable").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 8,
        "fixture files missing in {}",
        dir.display()
    );
    let mut cases = Vec::new();
    for path in files {
        let file = path
            .file_name()
            .expect("named")
            .to_string_lossy()
            .into_owned();
        let bytes = std::fs::read(&path).expect("readable");
        let documents = manifest::parse(&bytes);
        assert_eq!(documents.len(), 1, "{file}: one document expected");
        let document = documents
            .into_iter()
            .next()
            .expect("one")
            .expect("fixture file parses");
        let default_kind = document.value["kind"]
            .as_str()
            .expect("file names a default kind")
            .to_owned();
        for raw in document.value["cases"].as_array().expect("cases list") {
            cases.push(build_case(&file, &default_kind, raw));
        }
    }
    cases
}

fn build_case(file: &str, default_kind: &str, raw: &Value) -> Case {
    let id = raw["id"].as_str().expect("case id").to_owned();
    let settings_value = raw.get("settings").cloned().unwrap_or(json!({}));
    let settings = Settings {
        tenant_mode: settings_value["tenantMode"].as_bool().unwrap_or(false),
        allow_private_sinks: settings_value["allowPrivateSinks"]
            .as_bool()
            .unwrap_or(false),
        allow_local_endpoints: settings_value["allowLocalEndpoints"]
            .as_bool()
            .unwrap_or(false),
        max_export_bytes: settings_value["maxExportBytes"]
            .as_u64()
            .unwrap_or(Settings::default().max_export_bytes),
    };
    let objects = match (raw.get("object"), raw.get("objects")) {
        (Some(object), None) => vec![object.clone()],
        (None, Some(Value::Array(objects))) => objects.clone(),
        _ => panic!("{file}#{id}: give object or objects"),
    };
    let complete = |object: &Value, index: usize| complete_object(object, default_kind, &id, index);
    Case {
        file: file.to_owned(),
        layer: raw
            .get("layer")
            .and_then(Value::as_str)
            .unwrap_or("webhook")
            .to_owned(),
        settings,
        setup: raw
            .get("setup")
            .and_then(Value::as_array)
            .map(|setup| {
                setup
                    .iter()
                    .enumerate()
                    .map(|(i, o)| complete(o, 100 + i))
                    .collect()
            })
            .unwrap_or_default(),
        objects: objects
            .iter()
            .enumerate()
            .map(|(i, o)| complete(o, i))
            .collect(),
        expect: raw.get("expect").cloned().unwrap_or(json!({})),
        id,
    }
}

/// Fills in `apiVersion`, `kind` and `metadata` when a case leaves them out.
fn complete_object(object: &Value, default_kind: &str, id: &str, index: usize) -> Value {
    let mut object = object.clone();
    let map = object.as_object_mut().expect("objects are mappings");
    let kind = map
        .entry("kind")
        .or_insert_with(|| json!(default_kind))
        .as_str()
        .unwrap_or_default()
        .to_owned();
    map.entry("apiVersion")
        .or_insert_with(|| json!("kollect.dev/v1alpha1"));
    let cluster_scoped = matches!(
        kind.as_str(),
        "KollectClusterTarget" | "KollectClusterInventory" | "KollectClusterScope" | "Namespace"
    );
    map.entry("metadata").or_insert_with(|| {
        let name = format!("{}-{index}", id.to_ascii_lowercase());
        if cluster_scoped {
            json!({"name": name})
        } else {
            json!({"name": name, "namespace": "default"})
        }
    });
    object
}

/// Whether `actual` contains everything `expected` has (objects compared key by key).
pub(crate) fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(actual), Value::Object(expected)) => expected
            .iter()
            .all(|(key, value)| actual.get(key).is_some_and(|found| contains(found, value))),
        _ => actual == expected,
    }
}
