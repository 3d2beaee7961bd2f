//! Validation of one decoded manifest document, in the order the API server applies its layers:
//! kind resolution, metadata, schema (with defaults), then Kollect's admission rules.

use serde_json::{Map, Value};

use super::{ErrorType, FieldError, FieldPath, Report, Settings, validate};
use crate::{
    names::{
        check_dns1123_label, check_dns1123_subdomain, check_label_value, check_qualified_name,
    },
    schema::Schema,
    v1alpha1::{API_VERSION, GROUP, Kind, KollectObject},
};

/// Kinds that are not Kollect's but belong next to Kollect manifests: Secrets referenced by
/// sinks, and Namespaces (e.g. a namespace labelled for opt-in collection).
pub const COMPANION_KINDS: [&str; 2] = ["Secret", "Namespace"];

/// Total size limit of annotations, as the API server enforces it.
const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

/// Kinds of the Go original that no longer exist, with what replaced them.
const REMOVED_KINDS: [(&str, &str); 8] = [
    (
        "KollectSink",
        "use KollectSnapshotSink, KollectDatabaseSink or KollectEventSink",
    ),
    (
        "KollectClusterProfile",
        "cluster targets reference a namespaced KollectProfile by name and namespace",
    ),
    (
        "KollectClusterSnapshotSink",
        "cluster inventories reference namespaced sinks by name and namespace",
    ),
    (
        "KollectClusterDatabaseSink",
        "cluster inventories reference namespaced sinks by name and namespace",
    ),
    (
        "KollectClusterEventSink",
        "cluster inventories reference namespaced sinks by name and namespace",
    ),
    (
        "KollectRemoteCluster",
        "run one operator per cluster and set spec.cluster on the sinks",
    ),
    (
        "KollectPublication",
        "publishing documents is outside Kollect; read the sinks instead",
    ),
    ("KollectHub", "it was never part of the product"),
];

/// What a document turned out to be.
#[derive(Clone, Debug, PartialEq)]
pub enum Subject {
    /// A Kollect object; `None` when it could not be decoded.
    Kollect(Kind, Option<Box<KollectObject>>),
    /// A companion object (`v1/Secret`, `v1/Namespace`), checked shallowly.
    Companion(&'static str),
    /// Not identifiable: missing or unknown `apiVersion`/`kind`.
    Unknown,
}

/// The result of [`check`].
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    /// What the document is.
    pub subject: Subject,
    /// Errors and warnings, with field paths.
    pub report: Report,
}

impl Checked {
    /// The decoded Kollect object, when there is one.
    pub fn object(&self) -> Option<&KollectObject> {
        match &self.subject {
            Subject::Kollect(_, object) => object.as_deref(),
            _ => None,
        }
    }
}

/// Checks one manifest document: `apiVersion`/`kind`, `metadata`, the CRD schema (after
/// applying its defaults, as the API server does) and every single-object admission rule.
pub fn check(value: &Value, settings: &Settings) -> Checked {
    let mut report = Report::default();
    let subject = identify(value, &mut report);
    match &subject {
        Subject::Kollect(kind, _) => {
            check_metadata(value, kind.is_namespaced(), &mut report);
            let object = check_kollect(*kind, value, settings, &mut report);
            Checked {
                subject: Subject::Kollect(*kind, object.map(Box::new)),
                report,
            }
        }
        Subject::Companion(kind) => {
            check_metadata(value, *kind != "Namespace", &mut report);
            if *kind == "Secret" {
                check_secret(value, &mut report);
            }
            Checked { subject, report }
        }
        Subject::Unknown => Checked { subject, report },
    }
}

fn identify(value: &Value, report: &mut Report) -> Subject {
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(str::trim);
    let kind = value.get("kind").and_then(Value::as_str).map(str::trim);
    let (Some(api_version), Some(kind)) = (api_version, kind) else {
        for (field, present) in [
            ("apiVersion", api_version.is_some()),
            ("kind", kind.is_some()),
        ] {
            if !present {
                report.required(
                    &FieldPath::root(field),
                    "every manifest names its apiVersion and kind, e.g. apiVersion: \
                     kollect.dev/v1alpha1 and kind: KollectProfile",
                );
            }
        }
        return Subject::Unknown;
    };
    if let Some(version) = api_version.strip_prefix(&format!("{GROUP}/")) {
        if version != "v1alpha1" {
            report.invalid(
                &FieldPath::root("apiVersion"),
                api_version,
                format!("Kollect serves only {API_VERSION}; change apiVersion to {API_VERSION}"),
            );
            return Subject::Unknown;
        }
        return if let Ok(kind) = kind.parse::<Kind>() {
            Subject::Kollect(kind, None)
        } else {
            unknown_kollect_kind(kind, report);
            Subject::Unknown
        };
    }
    if api_version == "v1"
        && let Some(companion) = COMPANION_KINDS.iter().find(|c| **c == kind)
    {
        return Subject::Companion(companion);
    }
    report.error(
        FieldError::new(
            ErrorType::NotSupported,
            &FieldPath::root("kind"),
            format!(
                "not a Kollect object: expected apiVersion {API_VERSION} (or a v1 Secret or \
                 Namespace next to Kollect objects), found {api_version}"
            ),
        )
        .with_value(kind),
    );
    Subject::Unknown
}

fn unknown_kollect_kind(kind: &str, report: &mut Report) {
    let field = FieldPath::root("kind");
    if let Some((_, replacement)) = REMOVED_KINDS.iter().find(|(removed, _)| *removed == kind) {
        report.error(
            FieldError::new(
                ErrorType::NotSupported,
                &field,
                format!("{kind} was removed: {replacement}"),
            )
            .with_value(kind),
        );
        return;
    }
    let known: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    report.not_supported(&field, kind, &known);
}

fn check_kollect(
    kind: Kind,
    value: &Value,
    settings: &Settings,
    report: &mut Report,
) -> Option<KollectObject> {
    let schema = Schema::for_kind(kind);
    let mut defaulted = value.clone();
    schema.apply_defaults(&mut defaulted);
    let schema_errors = schema.validate(&defaulted);
    let decoded = KollectObject::from_value(kind, &defaulted);
    match decoded {
        Ok(object) => {
            let mut semantic = validate(&object, settings);
            // Rule errors first (their messages are the specific ones), then schema errors on
            // other fields or of other types.
            semantic.merge(Report {
                errors: schema_errors,
                warnings: Vec::new(),
            });
            report.merge(semantic);
            Some(object)
        }
        Err(error) => {
            let field = FieldPath::parse(&error.path().to_string());
            let reported = field.to_string();
            let related = |a: &str, b: &str| {
                a == b
                    || a.strip_prefix(b)
                        .is_some_and(|rest| rest.starts_with(['.', '[']))
            };
            let covered = !schema_errors.is_empty()
                && (reported.is_empty()
                    || schema_errors
                        .iter()
                        .any(|e| related(&reported, &e.field) || related(&e.field, &reported)));
            report.merge(Report {
                errors: schema_errors,
                warnings: Vec::new(),
            });
            if !covered {
                report.error(FieldError::new(
                    ErrorType::Invalid,
                    &field,
                    decode_message(error.inner()),
                ));
            }
            None
        }
    }
}

/// serde's message without its trailing position (`at line 1 column 5`), which refers to an
/// internal JSON buffer, not to the file.
fn decode_message(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(cut) => message[..cut].to_owned(),
        None => message,
    }
}

/// Fields of `metadata` a manifest may carry.
const METADATA_FIELDS: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "labels",
    "annotations",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
    "finalizers",
    "managedFields",
    "selfLink",
];

/// Checks `metadata` as the API server does for any object: a valid name (or `generateName`), a
/// valid namespace, valid label and annotation keys and values, and no unknown fields.
pub fn check_metadata(value: &Value, namespaced: bool, report: &mut Report) {
    let root = FieldPath::root("metadata");
    let Some(metadata) = value.get("metadata").and_then(Value::as_object) else {
        report.required(&root, "every object needs metadata with at least a name");
        return;
    };
    for key in metadata.keys() {
        if !METADATA_FIELDS.contains(&key.as_str()) {
            report.error(FieldError::new(
                ErrorType::UnknownField,
                &root.child(key),
                format!("known fields here: {}", METADATA_FIELDS.join(", ")),
            ));
        }
    }
    check_name(metadata, &root, report);
    match metadata.get("namespace") {
        Some(Value::String(namespace)) if namespaced => {
            if let Err(error) = check_dns1123_label(namespace) {
                report.invalid(&root.child("namespace"), namespace, error.message);
            }
        }
        Some(Value::String(_)) => report.warn(
            Some(&root.child("namespace")),
            "ignored: this kind is cluster-scoped",
        ),
        Some(other) => report.invalid(&root.child("namespace"), other, "must be a string"),
        None => {}
    }
    check_string_map(metadata.get("labels"), &root.child("labels"), true, report);
    check_string_map(
        metadata.get("annotations"),
        &root.child("annotations"),
        false,
        report,
    );
}

fn check_name(metadata: &Map<String, Value>, root: &FieldPath, report: &mut Report) {
    match metadata.get("name") {
        Some(Value::String(name)) => {
            if let Err(error) = check_dns1123_subdomain(name) {
                if error.empty {
                    report.required(&root.child("name"), "every object needs a name");
                } else {
                    report.invalid(&root.child("name"), name, error.message);
                }
            }
        }
        Some(other) => report.invalid(&root.child("name"), other, "must be a string"),
        None if metadata.get("generateName").is_some_and(Value::is_string) => {}
        None => report.required(&root.child("name"), "every object needs a name"),
    }
}

fn check_string_map(value: Option<&Value>, field: &FieldPath, labels: bool, report: &mut Report) {
    let Some(value) = value else { return };
    let Some(map) = value.as_object() else {
        report.invalid(field, value, "must be a mapping of strings to strings");
        return;
    };
    let mut total = 0;
    for (key, entry) in map {
        let entry_field = field.key(key);
        if let Err(error) = check_qualified_name(key) {
            report.invalid(&entry_field, key, format!("key {}", error.message));
        }
        match entry {
            Value::String(text) => {
                total += key.len() + text.len();
                if labels && let Err(error) = check_label_value(text) {
                    report.invalid(&entry_field, text, error.message);
                }
            }
            other => report.error(
                FieldError::new(
                    ErrorType::TypeInvalid,
                    &entry_field,
                    format!("must be a string; quote it: \"{other}\""),
                )
                .with_value(other),
            ),
        }
    }
    if !labels && total > MAX_ANNOTATIONS_BYTES {
        report.error(FieldError::new(
            ErrorType::TooLong,
            field,
            format!("annotations may hold at most {MAX_ANNOTATIONS_BYTES} bytes in total"),
        ));
    }
}

/// A Secret's `data` must be base64 strings, `stringData` plain strings.
fn check_secret(value: &Value, report: &mut Report) {
    use base64::Engine as _;
    for (field, base64) in [("data", true), ("stringData", false)] {
        let Some(entries) = value.get(field) else {
            continue;
        };
        let root = FieldPath::root(field);
        let Some(entries) = entries.as_object() else {
            report.invalid(&root, entries, "must be a mapping of keys to strings");
            continue;
        };
        for (key, entry) in entries {
            match entry {
                Value::String(text) if base64 => {
                    if base64::engine::general_purpose::STANDARD
                        .decode(text.trim())
                        .is_err()
                    {
                        report.invalid(
                            &root.key(key),
                            "<redacted>",
                            "must be base64; use stringData for plain text",
                        );
                    }
                }
                Value::String(_) => {}
                _ => report.invalid(&root.key(key), "<redacted>", "must be a string"),
            }
        }
    }
}
