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

/// The selector in the query form list and watch requests take (`app=web,tier in (a,b),!old`),
/// or `None` when it is malformed (send nothing and filter locally, failing closed). `{}` is the
/// empty string: everything.
pub fn to_query(selector: &LabelSelector) -> Option<String> {
    if !selector_is_valid(selector) {
        return None;
    }
    let mut terms: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    for requirement in selector.match_expressions.iter().flatten() {
        let values = requirement.values.as_deref().unwrap_or_default().join(",");
        let key = &requirement.key;
        terms.push(match requirement.operator.as_str() {
            "In" => format!("{key} in ({values})"),
            "NotIn" => format!("{key} notin ({values})"),
            "Exists" => key.clone(),
            _ => format!("!{key}"),
        });
    }
    Some(terms.join(","))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn cli_08_selectors_render_as_queries() {
        let selector: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["a", "b"]},
                {"key": "env", "operator": "NotIn", "values": ["dev"]},
                {"key": "owner", "operator": "Exists"},
                {"key": "old", "operator": "DoesNotExist"},
            ],
        }))
        .unwrap();
        assert_eq!(
            to_query(&selector).unwrap(),
            "app=web,tier in (a,b),env notin (dev),owner,!old"
        );
        assert_eq!(to_query(&LabelSelector::default()).unwrap(), "");
        let sorted: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"zeta": "2", "alpha": "1", "mid": "3"},
        }))
        .unwrap();
        assert_eq!(to_query(&sorted).unwrap(), "alpha=1,mid=3,zeta=2");
        let broken: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchExpressions": [{"key": "a", "operator": "In"}],
        }))
        .unwrap();
        assert_eq!(to_query(&broken), None);
    }
}
