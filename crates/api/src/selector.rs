//! Kubernetes label selectors in their structured form (`matchLabels` + `matchExpressions`),
//! matched as the API server matches them, failing closed on malformed requirements.

use std::collections::BTreeMap;

use crate::k8s::LabelSelector;

/// Whether a selector is well-formed: known operators, values where they belong.
pub fn selector_is_valid(selector: &LabelSelector) -> bool {
    selector
        .match_expressions
        .iter()
        .flatten()
        .all(|requirement| {
            let values = requirement.values.as_deref().unwrap_or_default();
            match requirement.operator.as_str() {
                "In" | "NotIn" => !values.is_empty(),
                "Exists" | "DoesNotExist" => values.is_empty(),
                _ => false,
            }
        })
}

/// Whether a (present) label selector matches `labels`. A selector with an unknown operator or
/// malformed values matches nothing (fail closed, DECISIONS Q10). `{}` matches everything.
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let exact = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    exact
        && selector
            .match_expressions
            .iter()
            .flatten()
            .all(|requirement| {
                let values = requirement.values.as_deref().unwrap_or_default();
                let value = labels.get(&requirement.key);
                match requirement.operator.as_str() {
                    "In" => !values.is_empty() && value.is_some_and(|v| values.contains(v)),
                    "NotIn" => !values.is_empty() && value.is_none_or(|v| !values.contains(v)),
                    "Exists" => values.is_empty() && value.is_some(),
                    "DoesNotExist" => values.is_empty() && value.is_none(),
                    _ => false,
                }
            })
}
