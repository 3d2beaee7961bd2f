//! Single-object admission rules, as pure functions.
//!
//! The webhook, `kollect validate` and the controllers all call [`validate`]: it checks every rule
//! of the API specification that needs only the object itself (and the operator's
//! [`Settings`]). Rules that read other objects (scopes, profiles) belong to the admission layer;
//! rules that compile JSONPath or CEL belong to the extraction crate.
//!
//! Errors carry the exact field path (`spec.attributes[2].path`) and say how to fix the problem.
//! Warnings are kept apart: an object with warnings only is admitted.

mod connection_test;
mod document;
mod endpoint;
mod field;
mod inventory;
mod path;
mod profile;
mod scope;
mod selector;
mod sink;
mod target;

use std::fmt;

pub use self::{
    document::{COMPANION_KINDS, Checked, Subject, check, check_metadata},
    endpoint::{EndpointPolicy, check_host},
    field::FieldPath,
    path::{AttributePath, CEL_PREFIX, HELM_PREFIX, HelmField, PathError, secret_material_reached},
};
use crate::v1alpha1::KollectObject;

/// The global export cap (`--max-export-bytes`) default: 1.5 MiB.
pub const DEFAULT_MAX_EXPORT_BYTES: u64 = 1_572_864;

/// Longest duration any interval field accepts.
pub const MAX_INTERVAL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Operator settings that change admission outcomes. They are flags, never object fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `--tenant-mode`: cluster-scoped targets and inventories are refused.
    pub tenant_mode: bool,
    /// `--max-export-bytes`: ceiling for every `maxExportBytes` field.
    pub max_export_bytes: u64,
    /// `--allow-private-sinks`: admit RFC 1918 and IPv6 ULA endpoint addresses.
    pub allow_private_sinks: bool,
    /// Admit `file://` endpoints and local paths. Only the pipeline CLI sets this: it writes to
    /// the user's own disk, where there is nothing to protect from a tenant.
    pub allow_local_endpoints: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            tenant_mode: false,
            max_export_bytes: DEFAULT_MAX_EXPORT_BYTES,
            allow_private_sinks: false,
            allow_local_endpoints: false,
        }
    }
}

/// The kind of a field error, named as Kubernetes names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorType {
    /// A required value is missing or empty.
    Required,
    /// A value is malformed or out of range.
    Invalid,
    /// A value repeats one that must be unique.
    Duplicate,
    /// A value is not allowed here (by policy or by the object's type).
    Forbidden,
    /// A value is not one of the supported values.
    NotSupported,
    /// A list has too many items.
    TooMany,
    /// A value is too long.
    TooLong,
    /// A value has the wrong JSON type.
    TypeInvalid,
    /// The field does not exist in the schema.
    UnknownField,
    /// The check itself failed.
    Internal,
}

impl ErrorType {
    /// The wording Kubernetes uses in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Required => "Required value",
            Self::Invalid => "Invalid value",
            Self::Duplicate => "Duplicate value",
            Self::Forbidden => "Forbidden",
            Self::NotSupported => "Unsupported value",
            Self::TooMany => "Too many",
            Self::TooLong => "Too long",
            Self::TypeInvalid => "Invalid type",
            Self::UnknownField => "Unknown field",
            Self::Internal => "Internal error",
        }
    }

    /// Short machine-readable name (`Required`, `Invalid`, ...), used in JSON output.
    pub fn code(self) -> &'static str {
        match self {
            Self::Required => "Required",
            Self::Invalid => "Invalid",
            Self::Duplicate => "Duplicate",
            Self::Forbidden => "Forbidden",
            Self::NotSupported => "NotSupported",
            Self::TooMany => "TooMany",
            Self::TooLong => "TooLong",
            Self::TypeInvalid => "TypeInvalid",
            Self::UnknownField => "UnknownField",
            Self::Internal => "Internal",
        }
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem with one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// What kind of problem.
    pub error_type: ErrorType,
    /// Path of the field, e.g. `spec.attributes[2].path`.
    pub field: String,
    /// The offending value, rendered for the message (quoted strings, numbers), if useful.
    pub value: Option<String>,
    /// What is wrong and how to fix it.
    pub detail: String,
}

impl FieldError {
    /// Builds an error.
    pub fn new(error_type: ErrorType, field: &FieldPath, detail: impl Into<String>) -> Self {
        Self {
            error_type,
            field: field.to_string(),
            value: None,
            detail: detail.into(),
        }
    }

    /// Attaches the offending value, rendered as JSON.
    #[must_use]
    pub fn with_value(mut self, value: impl serde::Serialize) -> Self {
        self.value = serde_json::to_string(&value)
            .ok()
            .map(|text| truncate(&text, 120));
        self
    }

    /// The message without the field path: `Invalid value: "x": must be ...`.
    pub fn message(&self) -> String {
        match &self.value {
            Some(value) if !self.detail.is_empty() => {
                format!("{}: {value}: {}", self.error_type, self.detail)
            }
            Some(value) => format!("{}: {value}", self.error_type),
            None if self.detail.is_empty() => self.error_type.to_string(),
            None => format!("{}: {}", self.error_type, self.detail),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message())
    }
}

/// A note about an admitted object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Field the warning is about, if any.
    pub field: Option<String>,
    /// The warning.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Outcome of validating one object: errors (the object is refused) and warnings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Reasons to refuse the object.
    pub errors: Vec<FieldError>,
    /// Notes for an admitted object.
    pub warnings: Vec<Warning>,
}

impl Report {
    /// True when there are no errors.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// Records an error.
    pub fn error(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    /// Records a `Required` error.
    pub fn required(&mut self, field: &FieldPath, detail: impl Into<String>) {
        self.error(FieldError::new(ErrorType::Required, field, detail));
    }

    /// Records an `Invalid` error with the offending value.
    pub fn invalid(
        &mut self,
        field: &FieldPath,
        value: impl serde::Serialize,
        detail: impl Into<String>,
    ) {
        self.error(FieldError::new(ErrorType::Invalid, field, detail).with_value(value));
    }

    /// Records a `Forbidden` error.
    pub fn forbidden(&mut self, field: &FieldPath, detail: impl Into<String>) {
        self.error(FieldError::new(ErrorType::Forbidden, field, detail));
    }

    /// Records a `Duplicate` error with the repeated value.
    pub fn duplicate(&mut self, field: &FieldPath, value: impl serde::Serialize) {
        self.error(
            FieldError::new(ErrorType::Duplicate, field, "must be unique").with_value(value),
        );
    }

    /// Records an `Unsupported value` error listing the supported values.
    pub fn not_supported(
        &mut self,
        field: &FieldPath,
        value: impl serde::Serialize,
        supported: &[&str],
    ) {
        let list = supported
            .iter()
            .map(|v| format!("{v:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        self.error(
            FieldError::new(
                ErrorType::NotSupported,
                field,
                format!("supported values: {list}"),
            )
            .with_value(value),
        );
    }

    /// Records a warning about a field.
    pub fn warn(&mut self, field: Option<&FieldPath>, message: impl Into<String>) {
        self.warnings.push(Warning {
            field: field.map(ToString::to_string),
            message: message.into(),
        });
    }

    /// Appends another report, skipping errors on fields this report already has an error for
    /// (two layers flagging one field would only repeat the problem).
    pub fn merge(&mut self, other: Report) {
        for error in other.errors {
            let known = self.errors.iter().any(|e| e.field == error.field);
            if !known {
                self.errors.push(error);
            }
        }
        for warning in other.warnings {
            if !self.warnings.contains(&warning) {
                self.warnings.push(warning);
            }
        }
    }
}

/// Validates one object with the rules that need nothing but the object and the settings.
pub fn validate(object: &KollectObject, settings: &Settings) -> Report {
    let mut report = Report::default();
    match object {
        KollectObject::Profile(profile) => profile::validate(profile, &mut report),
        KollectObject::Target(target) => target::validate_target(target, &mut report),
        KollectObject::ClusterTarget(target) => {
            target::validate_cluster_target(target, settings, &mut report);
        }
        KollectObject::Inventory(inventory) => {
            inventory::validate_inventory(inventory, settings, &mut report);
        }
        KollectObject::ClusterInventory(inventory) => {
            inventory::validate_cluster_inventory(inventory, settings, &mut report);
        }
        KollectObject::SnapshotSink(sink) => sink::validate_snapshot(sink, settings, &mut report),
        KollectObject::DatabaseSink(sink) => sink::validate_database(sink, &mut report),
        KollectObject::EventSink(sink) => sink::validate_event(sink, settings, &mut report),
        KollectObject::Scope(scope) => scope::validate_scope(scope, &mut report),
        KollectObject::ClusterScope(scope) => scope::validate_cluster_scope(scope, &mut report),
        KollectObject::ConnectionTest(test) => connection_test::validate(test, &mut report),
    }
    report
}

/// Checks a duration field: `0 ≤ d ≤ 24h`.
fn check_interval(report: &mut Report, field: &FieldPath, value: &crate::duration::Duration) {
    if value.as_nanos() < 0 {
        report.invalid(
            field,
            value.as_str(),
            "must not be negative; use 0s to export only on change",
        );
    } else if value.to_std().is_some_and(|d| d > MAX_INTERVAL) {
        report.invalid(field, value.as_str(), "must be at most 24h");
    }
}

/// Reports empty and repeated entries of a list that must hold unique, non-empty strings.
fn check_unique_entries<'a>(
    report: &mut Report,
    field: &FieldPath,
    values: impl IntoIterator<Item = &'a str>,
) {
    let mut seen = std::collections::BTreeSet::new();
    for (index, value) in values.into_iter().enumerate() {
        let entry = field.index(index);
        if value.trim().is_empty() {
            report.required(&entry, "must not be empty");
        } else if !seen.insert(value) {
            report.duplicate(&entry, value);
        }
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}…")
}
