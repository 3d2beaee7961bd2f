//! The config folder of `kollect collect` (operations spec §3.3): profiles, targets, sinks and
//! Secrets as manifests, checked with the webhook's rules before anything touches a cluster.

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
};

use kollect_api::{
    manifest::{self, MAX_FILE_BYTES},
    v1alpha1::{
        KollectDatabaseSink, KollectObject, KollectProfile, KollectSnapshotSink, KollectTarget,
    },
    validation::{self, FieldPath, Settings, Subject},
};
use serde_json::Value;

use super::secrets::SecretStore;

/// A problem that stops the run before any cluster is contacted (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError {
    /// `file:line` or the folder.
    pub(crate) place: String,
    /// `Kind/namespace/name`, when known.
    pub(crate) object: Option<String>,
    /// What is wrong and how to fix it.
    pub(crate) message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.object {
            Some(object) => write!(f, "{}: {object}: {}", self.place, self.message),
            None => write!(f, "{}: {}", self.place, self.message),
        }
    }
}

/// A profile or target with where it was read.
#[derive(Debug, Clone)]
pub(crate) struct Located<T> {
    pub(crate) object: T,
    /// `file:line` of the document.
    pub(crate) place: String,
}

/// A loaded config folder.
#[derive(Debug, Default)]
pub(crate) struct Config {
    /// Profiles by (namespace, name).
    pub(crate) profiles: BTreeMap<(String, String), Located<KollectProfile>>,
    /// Targets in (namespace, name) order.
    pub(crate) targets: Vec<Located<KollectTarget>>,
    /// Warnings (unknown kinds, admission warnings), one line each.
    pub(crate) warnings: Vec<String>,
    /// Snapshot sinks, in file order.
    pub(crate) sinks: Vec<Located<KollectSnapshotSink>>,
    /// Database sinks, in file order.
    pub(crate) database_sinks: Vec<Located<KollectDatabaseSink>>,
    /// The Secrets, `${env:NAME}` values resolved.
    pub(crate) secrets: SecretStore,
}

impl Config {
    /// Number of sinks of every family.
    pub(crate) fn sink_count(&self) -> usize {
        self.sinks.len() + self.database_sinks.len()
    }

    /// The profile a target uses.
    pub(crate) fn profile_of(&self, target: &KollectTarget) -> Option<&KollectProfile> {
        let key = (
            namespace_of(&target.metadata),
            target.spec.profile_ref.to_string(),
        );
        self.profiles.get(&key).map(|p| &p.object)
    }
}

/// The namespace of an object in the config folder (`default` when the manifest gives none).
pub(crate) fn namespace_of(meta: &kollect_api::k8s::ObjectMeta) -> String {
    meta.namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

/// Loads `dir`: every `*.yaml` / `*.yml` file directly in it (not below), several documents per
/// file. All problems are returned together.
pub(crate) fn load(dir: &Path, settings: &Settings) -> Result<Config, Vec<ConfigError>> {
    let folder_error = |message: String| {
        vec![ConfigError {
            place: dir.display().to_string(),
            object: None,
            message,
        }]
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            return Err(folder_error(format!(
                "cannot read the config folder ({error}); --config takes a folder of KollectProfile and KollectTarget manifests"
            )));
        }
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.is_file()
                && path
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| e == "yaml" || e == "yml")
        })
        .collect();
    files.sort();
    let mut config = Config::default();
    let mut errors = Vec::new();
    for file in &files {
        read_file(file, settings, &mut config, &mut errors);
    }
    check_references(&config, &mut errors);
    if config.profiles.is_empty() {
        errors.extend(folder_error(
            "no KollectProfile found: the folder needs at least one (deploy/examples/kinds/kollectprofile.yaml is one)".into(),
        ));
    }
    if config.targets.is_empty() {
        errors.extend(folder_error(
            "no KollectTarget found: the folder needs at least one (deploy/examples/kinds/kollecttarget.yaml is one)".into(),
        ));
    }
    config.targets.sort_by_key(|t| {
        (
            namespace_of(&t.object.metadata),
            t.object.metadata.name.clone(),
        )
    });
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(errors)
    }
}

fn read_file(file: &Path, settings: &Settings, config: &mut Config, errors: &mut Vec<ConfigError>) {
    let name = file.display().to_string();
    let too_large = std::fs::metadata(file).is_ok_and(|m| m.len() > MAX_FILE_BYTES as u64);
    let bytes = match std::fs::read(file) {
        Ok(_) if too_large => vec![0; MAX_FILE_BYTES + 1],
        Ok(bytes) => bytes,
        Err(error) => {
            errors.push(ConfigError {
                place: name,
                object: None,
                message: format!("cannot read: {error}"),
            });
            return;
        }
    };
    for parsed in manifest::parse(&bytes) {
        let document = match parsed {
            Ok(document) => document,
            Err(error) => {
                errors.push(ConfigError {
                    place: format!("{name}:{}", error.location.line),
                    object: None,
                    message: error.message.clone(),
                });
                continue;
            }
        };
        let place = format!("{name}:{}", document.start.line);
        let mut document = document;
        if let Some(folder) = file.parent() {
            resolve_local_endpoint(&mut document.value, folder);
        }
        let mut checked = validation::check(&document.value, settings);
        // The webhook also compiles every expression (CEL, JSONPath, matchPolicy).
        if checked.report.is_valid()
            && let Subject::Kollect(_, Some(object)) = &checked.subject
        {
            kollect_extract::check_expressions(object, &mut checked.report);
        }
        let label = label(&document.value);
        let at = |field: &str| {
            let line = document.locate(&FieldPath::parse(field).to_pointer()).line;
            format!("{name}:{line}")
        };
        for error in &checked.report.errors {
            errors.push(ConfigError {
                place: at(&error.field),
                object: label.clone(),
                message: error.to_string(),
            });
        }
        for warning in &checked.report.warnings {
            config.warnings.push(format!(
                "{place}: {}: {warning}",
                label.as_deref().unwrap_or("object")
            ));
        }
        if !checked.report.is_valid() {
            continue;
        }
        match checked.subject {
            Subject::Kollect(_, Some(object)) => add(*object, place, label, config, errors),
            Subject::Companion("Secret") => {
                let namespace = document
                    .value
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("default");
                let env = |name: &str| std::env::var(name).ok();
                if let Err(message) = config.secrets.add(namespace, &document.value, &env) {
                    errors.push(ConfigError {
                        place,
                        object: label,
                        message,
                    });
                }
            }
            Subject::Companion(kind) => config.warnings.push(format!(
                "{place}: {kind} is not used by `kollect collect`; ignored"
            )),
            Subject::Kollect(_, None) | Subject::Unknown => config
                .warnings
                .push(format!("{place}: not a Kollect manifest; ignored")),
        }
    }
}

fn add(
    object: KollectObject,
    place: String,
    label: Option<String>,
    config: &mut Config,
    errors: &mut Vec<ConfigError>,
) {
    match object {
        KollectObject::Profile(profile) => {
            let key = (
                namespace_of(&profile.metadata),
                profile.metadata.name.clone().unwrap_or_default(),
            );
            if let Some(first) = config.profiles.get(&key) {
                errors.push(ConfigError {
                    place,
                    object: label,
                    message: format!("defined twice (first at {})", first.place),
                });
            } else {
                config.profiles.insert(
                    key,
                    Located {
                        object: profile,
                        place,
                    },
                );
            }
        }
        KollectObject::Target(target) => {
            let key = (namespace_of(&target.metadata), target.metadata.name.clone());
            if let Some(first) = config.targets.iter().find(|t| {
                (
                    namespace_of(&t.object.metadata),
                    t.object.metadata.name.clone(),
                ) == key
            }) {
                errors.push(ConfigError {
                    place,
                    object: label,
                    message: format!("defined twice (first at {})", first.place),
                });
            } else {
                config.targets.push(Located {
                    object: target,
                    place,
                });
            }
        }
        KollectObject::SnapshotSink(sink) => config.sinks.push(Located {
            object: sink,
            place,
        }),
        KollectObject::DatabaseSink(sink) => config.database_sinks.push(Located {
            object: sink,
            place,
        }),
        KollectObject::EventSink(_) => {
            errors.push(ConfigError {
                place,
                object: label,
                message: "event sinks (kafka, nats) are not available in this build of `kollect collect` yet (they come with their backends); use a KollectSnapshotSink (git, s3, gcs), a KollectDatabaseSink (postgres) or --output".into(),
            });
        }
        KollectObject::ClusterTarget(_)
        | KollectObject::Inventory(_)
        | KollectObject::ClusterInventory(_)
        | KollectObject::Scope(_)
        | KollectObject::ClusterScope(_)
        | KollectObject::ConnectionTest(_) => config.warnings.push(format!(
            "{place}: {}: operator-only kind, ignored by `kollect collect`",
            label.as_deref().unwrap_or("object")
        )),
    }
}

fn check_references(config: &Config, errors: &mut Vec<ConfigError>) {
    for target in &config.targets {
        if config.profile_of(&target.object).is_none() {
            let namespace = namespace_of(&target.object.metadata);
            errors.push(ConfigError {
                place: target.place.clone(),
                object: Some(format!(
                    "KollectTarget/{namespace}/{}",
                    target.object.metadata.name.as_deref().unwrap_or_default()
                )),
                message: format!(
                    "spec.profileRef: KollectProfile {namespace}/{} is not in the config folder",
                    target.object.spec.profile_ref
                ),
            });
        }
    }
}

/// `Kind/namespace/name` of a document, as far as it says.
fn label(value: &Value) -> Option<String> {
    let kind = value.get("kind")?.as_str()?;
    let metadata = value.get("metadata");
    let name = metadata
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)?;
    Some(
        match metadata
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
        {
            Some(namespace) => format!("{kind}/{namespace}/{name}"),
            None => format!("{kind}/{name}"),
        },
    )
}

/// In the config folder a snapshot sink may name a local destination relative to the folder:
/// `endpoint: file:../out/inventory.git` becomes `file:///<absolute path>` (a `file://` URL is
/// absolute by definition, which would make the folder unportable).
fn resolve_local_endpoint(value: &mut Value, folder: &Path) {
    if value.get("kind").and_then(Value::as_str) != Some("KollectSnapshotSink") {
        return;
    }
    let Some(endpoint) = value.pointer_mut("/spec/endpoint") else {
        return;
    };
    let Some(relative) = endpoint
        .as_str()
        .and_then(|e| e.strip_prefix("file:"))
        .filter(|rest| !rest.starts_with('/'))
    else {
        return;
    };
    let joined = folder.join(relative);
    let absolute = std::path::absolute(&joined).unwrap_or(joined);
    *endpoint = Value::String(format!("file://{}", normalize(&absolute).display()));
}

/// `a/b/../c` → `a/c`, without touching the disk (the destination may not exist yet).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn relative_file_endpoints_resolve_against_the_folder() {
        let mut sink = json!({"kind": "KollectSnapshotSink", "spec": {"endpoint": "file:../out/inventory.git"}});
        resolve_local_endpoint(&mut sink, Path::new("/work/config"));
        assert_eq!(sink["spec"]["endpoint"], "file:///work/out/inventory.git");
        for endpoint in [
            "file:///abs/repo.git",
            "https://example.com/r.git",
            "s3://bucket/prefix",
        ] {
            let mut sink = json!({"kind": "KollectSnapshotSink", "spec": {"endpoint": endpoint}});
            resolve_local_endpoint(&mut sink, Path::new("/work/config"));
            assert_eq!(sink["spec"]["endpoint"], endpoint);
        }
        let mut other = json!({"kind": "KollectTarget", "spec": {"endpoint": "file:x"}});
        resolve_local_endpoint(&mut other, Path::new("/w"));
        assert_eq!(other["spec"]["endpoint"], "file:x");
    }
}
