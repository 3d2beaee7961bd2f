//! Label selector rules. The API server checks selectors of built-in kinds but not of custom
//! resources, so Kollect checks them itself: an invalid selector is refused at admission instead
//! of silently matching everything or nothing later (DECISIONS Q10).

use std::collections::BTreeMap;

use super::{ErrorType, FieldError, FieldPath, Report};
use crate::{
    k8s::{LabelSelector, LabelSelectorRequirement},
    names::{check_label_value, check_qualified_name},
};

const OPERATORS: [&str; 4] = ["In", "NotIn", "Exists", "DoesNotExist"];

/// Checks a `LabelSelector`.
pub(super) fn validate_selector(selector: &LabelSelector, field: &FieldPath, report: &mut Report) {
    validate_requirements(
        selector.match_labels.as_ref(),
        selector.match_expressions.as_deref(),
        field,
        report,
    );
}

/// Checks `matchLabels` and `matchExpressions` found at `field`.
pub(super) fn validate_requirements(
    match_labels: Option<&BTreeMap<String, String>>,
    match_expressions: Option<&[LabelSelectorRequirement]>,
    field: &FieldPath,
    report: &mut Report,
) {
    for (key, value) in match_labels.into_iter().flatten() {
        let entry = field.child("matchLabels").key(key);
        if let Err(error) = check_qualified_name(key) {
            report.invalid(&entry, key, format!("label key {}", error.message));
        }
        if let Err(error) = check_label_value(value) {
            report.invalid(&entry, value, error.message);
        }
    }
    for (index, requirement) in match_expressions.into_iter().flatten().enumerate() {
        let entry = field.child("matchExpressions").index(index);
        if let Err(error) = check_qualified_name(&requirement.key) {
            report.invalid(
                &entry.child("key"),
                &requirement.key,
                format!("label key {}", error.message),
            );
        }
        let values = requirement.values.as_deref().unwrap_or_default();
        match requirement.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => report.required(
                &entry.child("values"),
                format!("operator {} needs at least one value", requirement.operator),
            ),
            "Exists" | "DoesNotExist" if !values.is_empty() => report.forbidden(
                &entry.child("values"),
                format!(
                    "operator {} takes no values; remove them",
                    requirement.operator
                ),
            ),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => report.not_supported(&entry.child("operator"), other, &OPERATORS),
        }
        for (value_index, value) in values.iter().enumerate() {
            if let Err(error) = check_label_value(value) {
                report.error(
                    FieldError::new(
                        ErrorType::Invalid,
                        &entry.child("values").index(value_index),
                        error.message,
                    )
                    .with_value(value),
                );
            }
        }
    }
}

/// A selector that must be present with at least one requirement: an empty one would select
/// everything. `why` completes the message.
pub(super) fn require_selector(
    selector: Option<&LabelSelector>,
    field: &FieldPath,
    why: &str,
    report: &mut Report,
) {
    match selector {
        Some(selector) if !selects_nothing_specific(Some(selector)) => {
            validate_selector(selector, field, report);
        }
        _ => report.required(
            field,
            format!("select namespaces with at least one matchLabels entry or matchExpressions item; {why}"),
        ),
    }
}

/// True when the selector is absent or has no requirement (it would match everything).
fn selects_nothing_specific(selector: Option<&LabelSelector>) -> bool {
    selector.is_none_or(|selector| {
        selector
            .match_labels
            .as_ref()
            .is_none_or(BTreeMap::is_empty)
            && selector
                .match_expressions
                .as_ref()
                .is_none_or(Vec::is_empty)
    })
}
