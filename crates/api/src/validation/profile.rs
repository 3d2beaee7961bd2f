//! `KollectProfile` rules (API spec §3.3, DECISIONS API 25).

use std::collections::BTreeSet;

use super::{
    FieldPath, Report,
    path::{AttributePath, has_filter, secret_material_reached},
};
use crate::v1alpha1::{
    ANNOTATION_ALLOW_FULL_RESOURCE_EXPORT, ANNOTATION_ALLOW_SECRET_EXTRACTION, ExportMode,
    KollectProfile, ProfileSpec,
};

/// Most labels one metric may copy from attributes.
const MAX_METRIC_LABELS: usize = 5;

pub(super) fn validate(profile: &KollectProfile, report: &mut Report) {
    let spec = &profile.spec;
    let root = FieldPath::root("spec");
    let gvk = root.child("targetGVK");
    if spec.target_gvk.version.trim().is_empty() {
        report.required(
            &gvk.child("version"),
            "the API version of the collected kind, e.g. v1",
        );
    }
    if spec.target_gvk.kind.trim().is_empty() {
        report.required(&gvk.child("kind"), "the collected kind, e.g. Deployment");
    }
    let allow_secret_data = annotation_is_true(profile, ANNOTATION_ALLOW_SECRET_EXTRACTION);
    let attribute_names = validate_attributes(spec, &root, allow_secret_data, report);
    validate_metrics(spec, &root, &attribute_names, report);
    validate_export(profile, &root, &attribute_names, report);
}

fn annotation_is_true(profile: &KollectProfile, key: &str) -> bool {
    profile
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .is_some_and(|v| v == "true")
}

/// Checks each attribute; returns the set of declared (non-empty) names.
fn validate_attributes<'a>(
    spec: &'a ProfileSpec,
    root: &FieldPath,
    allow_secret_data: bool,
    report: &mut Report,
) -> BTreeSet<&'a str> {
    let mut names = BTreeSet::new();
    let list = root.child("attributes");
    for (index, attribute) in spec.attributes().iter().enumerate() {
        let field = list.index(index);
        let name = attribute.name.as_str();
        if name.trim().is_empty() {
            report.required(
                &field.child("name"),
                "the key the value is stored under in each row",
            );
        } else if !names.insert(name) {
            report.duplicate(&field.child("name"), name);
        }
        let path_field = field.child("path");
        if attribute.path.trim().is_empty() {
            report.required(
                &path_field,
                "a JSONPath ('$.spec.replicas') or 'cel:' expression",
            );
            continue;
        }
        if let Err(error) = AttributePath::parse(&attribute.path) {
            report.invalid(&path_field, &attribute.path, error.to_string());
            continue;
        }
        if spec.targets_secrets() && !allow_secret_data && secret_material_reached(&attribute.path)
        {
            report.forbidden(
                &path_field,
                format!(
                    "reads Secret data; add the annotation {ANNOTATION_ALLOW_SECRET_EXTRACTION}: \
                     \"true\" to the profile to allow it"
                ),
            );
        }
        if has_filter(&attribute.path) {
            report.warn(
                Some(&path_field),
                format!(
                    "attribute {name:?} uses a JSONPath filter '[?(...)]'; filters may be \
                     rejected by a later API version, prefer a 'cel:' expression"
                ),
            );
        }
    }
    names
}

fn validate_metrics(
    spec: &ProfileSpec,
    root: &FieldPath,
    attribute_names: &BTreeSet<&str>,
    report: &mut Report,
) {
    let mut names = BTreeSet::new();
    let list = root.child("metrics");
    for (index, metric) in spec.metrics().iter().enumerate() {
        let field = list.index(index);
        if metric.name.trim().is_empty() {
            report.required(&field.child("name"), "the series identifier");
        } else if !names.insert(metric.name.as_str()) {
            report.duplicate(&field.child("name"), &metric.name);
        }
        if metric.path.trim().is_empty() {
            report.required(
                &field.child("path"),
                "the name of the attribute to aggregate",
            );
            continue;
        }
        if !attribute_names.contains(metric.path.as_str()) {
            report.invalid(
                &field.child("path"),
                &metric.path,
                "must name an attribute of spec.attributes",
            );
        }
        let labels = metric.labels.as_deref().unwrap_or_default();
        if labels.len() > MAX_METRIC_LABELS {
            report.error(
                super::FieldError::new(
                    super::ErrorType::TooMany,
                    &field.child("labels"),
                    format!("must have at most {MAX_METRIC_LABELS} labels"),
                )
                .with_value(labels.len()),
            );
        }
        for (label_index, label) in labels.iter().enumerate() {
            let label_field = field.child("labels").index(label_index);
            if label.trim().is_empty() {
                report.required(&label_field, "the name of an attribute");
            } else if !attribute_names.contains(label.as_str()) {
                report.invalid(
                    &label_field,
                    label,
                    "must name an attribute of spec.attributes",
                );
            }
        }
    }
}

fn validate_export(
    profile: &KollectProfile,
    root: &FieldPath,
    attribute_names: &BTreeSet<&str>,
    report: &mut Report,
) {
    let spec = &profile.spec;
    let Some(export) = &spec.export else {
        if spec.attributes().is_empty() {
            report.required(
                &root.child("attributes"),
                "a profile needs attributes, or spec.export with mode Resource; without either \
                 every row would be empty",
            );
        }
        return;
    };
    let export_field = root.child("export");
    let resource_mode = export.mode == ExportMode::Resource;
    if !resource_mode && spec.attributes().is_empty() {
        report.required(
            &root.child("attributes"),
            "attributes are required when spec.export.mode is Attributes",
        );
    }
    if resource_mode && attribute_names.contains(export.as_key.as_str()) {
        report.error(
            super::FieldError::new(
                super::ErrorType::Duplicate,
                &export_field.child("as"),
                "the embedded object is stored under this key; rename the attribute or set \
                 spec.export.as to another key",
            )
            .with_value(&export.as_key),
        );
    }
    if resource_mode
        && spec.targets_secrets()
        && !annotation_is_true(profile, ANNOTATION_ALLOW_FULL_RESOURCE_EXPORT)
    {
        report.forbidden(
            &export_field.child("mode"),
            format!(
                "exporting whole Secrets needs the annotation \
                 {ANNOTATION_ALLOW_FULL_RESOURCE_EXPORT}: \"true\" on the profile"
            ),
        );
    }
    if export.as_key.trim().is_empty() {
        report.required(
            &export_field.child("as"),
            "the attribute key of the embedded object",
        );
    }
    let Some(prune) = &export.prune else { return };
    let prune_field = export_field.child("prune");
    for (index, pointer) in prune
        .json_pointers
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if let Err(problem) = check_json_pointer(pointer) {
            report.invalid(
                &prune_field.child("jsonPointers").index(index),
                pointer,
                problem,
            );
        }
    }
    for (index, path) in prune
        .json_paths
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if path.contains("[?(") || path.contains("[*]") {
            report.warn(
                Some(&prune_field.child("jsonPaths").index(index)),
                "filters and wildcards are not applied when pruning; this entry removes nothing",
            );
        }
    }
    for (index, _) in prune.cel.as_deref().unwrap_or_default().iter().enumerate() {
        report.warn(
            Some(&prune_field.child("cel").index(index)),
            "CEL pruning is reserved for a later release and is not applied yet",
        );
    }
}

/// RFC 6901: non-empty, starts with `/`, and `~` is only used as `~0` or `~1`.
fn check_json_pointer(pointer: &str) -> Result<(), &'static str> {
    let pointer = pointer.trim();
    if pointer.is_empty() {
        return Err("must not be empty");
    }
    if !pointer.starts_with('/') {
        return Err("must start with '/', e.g. /metadata/annotations/example.com~1note");
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err("'~' must be followed by 0 (for '~') or 1 (for '/')");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_json_pointer;

    #[test]
    fn json_pointers() {
        assert!(check_json_pointer("/metadata/annotations/a~1b").is_ok());
        assert!(check_json_pointer("/a~0b").is_ok());
        assert!(check_json_pointer("metadata/name").is_err());
        assert!(check_json_pointer("/a~2b").is_err());
        assert!(check_json_pointer("/a~").is_err());
        assert!(check_json_pointer(" ").is_err());
    }
}
