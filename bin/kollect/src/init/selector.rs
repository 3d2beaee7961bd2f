//! Label selectors typed as `kubectl -l` takes them (`app=web,tier in (front,back),!legacy`),
//! turned into the `LabelSelector` a manifest holds.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// Parses a selector string; `Ok(None)` for an empty one. Requirements are comma-separated:
/// `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` (exists), `!k` (does not exist).
pub(crate) fn parse(text: &str) -> Result<Option<Value>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let mut labels = BTreeMap::new();
    let mut expressions = Vec::new();
    for requirement in split_requirements(text)? {
        let requirement = requirement.trim();
        if let Some(key) = requirement.strip_prefix('!') {
            expressions.push(json!({"key": key_of(key)?, "operator": "DoesNotExist"}));
        } else if let Some((key, value)) = requirement.split_once("!=") {
            expressions.push(
                json!({"key": key_of(key)?, "operator": "NotIn", "values": [value_of(value)?]}),
            );
        } else if let Some((key, value)) = requirement
            .split_once("==")
            .or_else(|| requirement.split_once('='))
        {
            labels.insert(key_of(key)?, value_of(value)?);
        } else if let Some((key, operator, values)) = set_requirement(requirement)? {
            expressions.push(json!({"key": key, "operator": operator, "values": values}));
        } else {
            expressions.push(json!({"key": key_of(requirement)?, "operator": "Exists"}));
        }
    }
    let mut selector = serde_json::Map::new();
    if !labels.is_empty() {
        selector.insert("matchLabels".into(), json!(labels));
    }
    if !expressions.is_empty() {
        selector.insert("matchExpressions".into(), Value::Array(expressions));
    }
    Ok(Some(Value::Object(selector)))
}

/// Whether `labels` satisfy the parsed `selector`.
pub(crate) fn matches(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    serde_json::from_value::<kollect_api::k8s::LabelSelector>(selector.clone())
        .is_ok_and(|s| kollect_api::selector::selector_matches(&s, labels))
}

/// Splits on commas outside parentheses.
fn split_requirements(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0_i32, 0);
    for (index, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
        if depth < 0 {
            return Err(format!("{text:?}: `)` without `(`"));
        }
    }
    if depth != 0 {
        return Err(format!("{text:?}: `(` without `)`"));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

/// A set requirement: key, operator, values.
type SetRequirement = (String, &'static str, Vec<String>);

/// `k in (a,b)` / `k notin (a,b)`.
fn set_requirement(requirement: &str) -> Result<Option<SetRequirement>, String> {
    let Some(open) = requirement.find('(') else {
        return Ok(None);
    };
    let head: Vec<&str> = requirement[..open].split_whitespace().collect();
    let operator = match head.as_slice() {
        [_, "in"] => "In",
        [_, "notin"] => "NotIn",
        _ => {
            return Err(format!(
                "{requirement:?}: expected `key in (a,b)` or `key notin (a,b)`"
            ));
        }
    };
    let inner = requirement[open + 1..]
        .strip_suffix(')')
        .ok_or_else(|| format!("{requirement:?}: text after `)`"))?;
    let values = inner
        .split(',')
        .map(value_of)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some((key_of(head[0])?, operator, values)))
}

/// A label key: `[prefix/]name`, name 1–63 characters of alphanumerics, `-`, `_`, `.`.
fn key_of(key: &str) -> Result<String, String> {
    let key = key.trim();
    let name = key.rsplit_once('/').map_or(key, |(_, name)| name);
    if name.is_empty() || name.len() > 63 || !name.chars().all(label_char) {
        return Err(format!(
            "{key:?} is not a label key (letters, digits, `-`, `_`, `.`, optionally prefix/)"
        ));
    }
    Ok(key.to_owned())
}

/// A label value: empty, or up to 63 alphanumerics, `-`, `_`, `.`.
fn value_of(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.len() > 63 || !value.chars().all(label_char) {
        return Err(format!(
            "{value:?} is not a label value (up to 63 letters, digits, `-`, `_`, `.`)"
        ));
    }
    Ok(value.to_owned())
}

fn label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_selectors_become_label_selectors() {
        assert_eq!(parse("  ").unwrap(), None);
        assert_eq!(
            parse("app=web, tier in (front, back),!legacy,team,env!=dev,x==y").unwrap(),
            Some(json!({
                "matchLabels": {"app": "web", "x": "y"},
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["front", "back"]},
                    {"key": "legacy", "operator": "DoesNotExist"},
                    {"key": "team", "operator": "Exists"},
                    {"key": "env", "operator": "NotIn", "values": ["dev"]},
                ],
            }))
        );
        let selector = parse("team=payments").unwrap().unwrap();
        let labels = BTreeMap::from([("team".to_owned(), "payments".to_owned())]);
        assert!(matches(&selector, &labels));
        assert!(!matches(&selector, &BTreeMap::new()));
    }

    #[test]
    fn malformed_selectors_say_what_is_wrong() {
        for (text, message) in [
            ("app=we b", "is not a label value"),
            ("tier in (a", "`(` without `)`"),
            ("tier within (a)", "expected `key in (a,b)`"),
            ("a b", "is not a label key"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(message), "{text}: {error}");
        }
    }
}
