//! Secrets of the config folder (operations spec §3.3): `data` (base64) first, `stringData`
//! overlaid, then every value that is exactly `${env:NAME}` replaced from the environment, so
//! credentials stay out of the files.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

/// Secret data by (namespace, name).
#[derive(Debug, Default)]
pub(crate) struct SecretStore {
    secrets: BTreeMap<(String, String), BTreeMap<String, Vec<u8>>>,
}

impl SecretStore {
    /// Adds a `v1/Secret` manifest, resolving `${env:NAME}` values with `env`. `namespace` is
    /// the Secret's (or `default`).
    pub(crate) fn add(
        &mut self,
        namespace: &str,
        value: &Value,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), String> {
        let name = value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .ok_or("metadata.name: required")?;
        let mut data = BTreeMap::new();
        for (key, encoded) in value
            .get("data")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let text = encoded
                .as_str()
                .ok_or_else(|| format!("data.{key}: must be a base64 string"))?;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| {
                    format!("data.{key}: not base64 ({e}); put plain text under stringData")
                })?;
            data.insert(key.clone(), decoded);
        }
        for (key, text) in value
            .get("stringData")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let text = text
                .as_str()
                .ok_or_else(|| format!("stringData.{key}: must be a string"))?;
            data.insert(key.clone(), text.as_bytes().to_vec());
        }
        for (key, bytes) in &mut data {
            if let Some(variable) = placeholder(bytes) {
                let resolved = env(&variable).filter(|v| !v.is_empty()).ok_or_else(|| {
                    format!(
                        "key {key}: environment variable {variable} is not set (the value is ${{env:{variable}}}); export it before running"
                    )
                })?;
                *bytes = resolved.into_bytes();
            }
        }
        self.secrets
            .insert((namespace.to_owned(), name.to_owned()), data);
        Ok(())
    }

    /// The data of Secret `name` in `namespace`.
    pub(crate) fn get(&self, namespace: &str, name: &str) -> Option<&BTreeMap<String, Vec<u8>>> {
        self.secrets.get(&(namespace.to_owned(), name.to_owned()))
    }
}

/// `NAME` when `bytes` is exactly `${env:NAME}` with `NAME` = `[A-Za-z_][A-Za-z0-9_]*`; partial
/// placeholders stay literal.
fn placeholder(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    let name = text.strip_prefix("${env:")?.strip_suffix('}')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    let valid = (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "GIT_TOKEN" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn data_then_string_data_then_environment() {
        let mut store = SecretStore::default();
        store
            .add(
                "ci",
                &json!({
                    "metadata": {"name": "git"},
                    "data": {"username": "Ym90", "token": "b2xk"},
                    "stringData": {"token": "${env:GIT_TOKEN}", "note": "a ${env:GIT_TOKEN} inside", "odd": "${env:1X}"},
                }),
                &env,
            )
            .unwrap();
        let data = store.get("ci", "git").unwrap();
        assert_eq!(data["username"], b"bot");
        assert_eq!(data["token"], b"s3cret");
        assert_eq!(
            data["note"], b"a ${env:GIT_TOKEN} inside",
            "partial placeholders stay"
        );
        assert_eq!(data["odd"], b"${env:1X}", "invalid names stay literal");
        assert!(store.get("other", "git").is_none());
    }

    #[test]
    fn unset_empty_and_malformed_values_are_refused_with_the_key() {
        let add = |secret: Value| SecretStore::default().add("ci", &secret, &env).unwrap_err();
        let error =
            add(json!({"metadata": {"name": "s"}, "stringData": {"password": "${env:MISSING}"}}));
        assert!(
            error.contains("key password: environment variable MISSING is not set"),
            "{error}"
        );
        let error =
            add(json!({"metadata": {"name": "s"}, "stringData": {"password": "${env:EMPTY}"}}));
        assert!(error.contains("EMPTY is not set"), "{error}");
        let error = add(json!({"metadata": {"name": "s"}, "data": {"token": "%%%"}}));
        assert!(error.starts_with("data.token: not base64"), "{error}");
        assert_eq!(add(json!({"metadata": {}})), "metadata.name: required");
    }
}
