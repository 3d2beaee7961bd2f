//! Redaction of sensitive keys in extracted values and embedded objects (pipeline spec §2.7).

use std::collections::BTreeSet;

use kollect_api::canonical::Redact;
use serde_json::Value;

use crate::node::{JsonNode, NodeKind};

/// Keys redacted by default, after trimming and lower-casing.
pub const BUILT_IN_KEYS: [&str; 12] = [
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "privatekey",
    "private_key",
    "credential",
    "auth",
    "clientsecret",
    "connectionstring",
];

/// Decides which map entries are replaced by `{"redacted":true,"reason":"sensitive-key"}`.
///
/// An entry is redacted when its normalised key is in the set, ends with a key of the set
/// longer than two bytes (`API_TOKEN`, `clientSecret`, `basicAuth`), or carries credentials
/// (`valueFrom` holding a `secretKeyRef`, a `secretKeyRef` or `secretRef` map, a `tls` map with
/// a `key`). Scalars are never altered, and attribute names themselves are not checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scrubber {
    keys: BTreeSet<String>,
}

impl Scrubber {
    /// The built-in keys plus `extra` (operator `--scrub-keys` and profile `scrubKeys`).
    pub fn new<'a>(extra: impl IntoIterator<Item = &'a str>) -> Self {
        let keys = BUILT_IN_KEYS
            .into_iter()
            .chain(extra)
            .map(|key| key.trim().to_lowercase())
            .filter(|key| !key.is_empty())
            .collect();
        Self { keys }
    }

    /// Whether an entry is redacted.
    pub fn is_sensitive(&self, key: &str, value: &Value) -> bool {
        self.is_sensitive_node(key, value)
    }

    /// Whether an entry is redacted, for any JSON view.
    pub(crate) fn is_sensitive_node<'a, N: JsonNode<'a>>(&self, key: &str, value: N) -> bool {
        let key = key.trim().to_lowercase();
        if self.keys.contains(&key) {
            return true;
        }
        if self
            .keys
            .iter()
            .any(|known| known.len() > 2 && key.ends_with(known.as_str()))
        {
            return true;
        }
        let is_map = value.kind() == NodeKind::Object;
        match key.as_str() {
            "valuefrom" => is_map && value.member("secretKeyRef").is_some(),
            "secretkeyref" | "secretref" => is_map,
            "tls" => is_map && value.member("key").is_some(),
            _ => false,
        }
    }
}

impl Redact for Scrubber {
    fn redact(&self, key: &str, value: &Value) -> bool {
        self.is_sensitive(key, value)
    }
}

#[cfg(test)]
mod tests {
    use kollect_api::canonical::write_value_redacted;
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    fn scrub(value: &Value, extra: &[&str]) -> Value {
        let mut out = String::new();
        write_value_redacted(&mut out, value, &Scrubber::new(extra.iter().copied()));
        serde_json::from_str(&out).expect("valid JSON")
    }

    const R: &str = r#"{"redacted":true,"reason":"sensitive-key"}"#;

    fn redacted() -> Value {
        serde_json::from_str(R).expect("marker")
    }

    #[rstest]
    #[case::scr01(json!({"password": "hunter2", "replicas": 3}), json!({"password": redacted(), "replicas": 3}))]
    #[case::scr02(
        json!({"database": {"host": "db", "password": "p"}, "image": {"tag": "1"}}),
        json!({"database": {"host": "db", "password": redacted()}, "image": {"tag": "1"}})
    )]
    #[case::scr03(json!({"API_TOKEN": "abc"}), json!({"API_TOKEN": redacted()}))]
    #[case::scr04(
        json!({"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}),
        json!({"env": [{"name": "A", "valueFrom": redacted()}]})
    )]
    #[case::scr05(json!({"envFrom": [{"secretRef": {"name": "s"}}]}), json!({"envFrom": [{"secretRef": redacted()}]}))]
    #[case::scr06(json!({"tls": {"key": "k", "crt": "c"}}), json!({"tls": redacted()}))]
    #[case::suffixes(
        json!({"clientSecret": 1, "oauth": 2, "basicAuth": 3, "credentials": 4, "secretName": 5, "tokenExpiry": 6}),
        json!({"clientSecret": redacted(), "oauth": redacted(), "basicAuth": redacted(), "credentials": 4, "secretName": 5, "tokenExpiry": 6})
    )]
    #[case::tls_without_key(json!({"tls": {"hosts": ["a"]}}), json!({"tls": {"hosts": ["a"]}}))]
    #[case::scalars_untouched(json!(["password", "token"]), json!(["password", "token"]))]
    fn built_in_rules(#[case] input: Value, #[case] expected: Value) {
        assert_eq!(scrub(&input, &[]), expected);
    }

    #[test]
    fn scr07_operator_keys() {
        let value = json!({"internalId": 1, "public": 2});
        assert_eq!(
            scrub(&value, &[" InternalID ", ""]),
            json!({"internalId": redacted(), "public": 2})
        );
    }
}
