//! Identifier newtypes and the Kubernetes name rules behind them.
//!
//! Object and namespace names are validated when they are deserialised, so code holding an
//! [`ObjectName`] never has to re-check it. The CRD schema carries the same rules as `pattern` and
//! `maxLength`, so the API server refuses what these types would refuse, even without the webhook.
//! [`KnownFormat`] links each pattern back to its checker, so offline validation can explain a
//! failure in words instead of printing a regular expression.

use std::{borrow::Cow, fmt, ops::Deref, str::FromStr};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize};

use crate::duration::{DURATION_PATTERN, Duration};

/// Pattern of an RFC 1123 subdomain (object names).
pub const DNS1123_SUBDOMAIN_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// Pattern of an RFC 1123 label (namespace names).
pub const DNS1123_LABEL_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// Longest RFC 1123 subdomain.
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;
/// Longest RFC 1123 label.
pub const DNS1123_LABEL_MAX_LENGTH: usize = 63;

/// A validation failure of a name, with a message that says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct NameError {
    /// True when the value was empty (reported as "Required" rather than "Invalid").
    pub empty: bool,
    /// Human-readable explanation.
    pub message: String,
}

impl NameError {
    fn empty() -> Self {
        Self {
            empty: true,
            message: "must not be empty".to_owned(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self {
            empty: false,
            message: message.into(),
        }
    }
}

/// Checks an RFC 1123 subdomain (the rule for most Kubernetes object names).
pub fn check_dns1123_subdomain(value: &str) -> Result<(), NameError> {
    if value.trim().is_empty() {
        return Err(NameError::empty());
    }
    if value.contains('/') {
        return Err(NameError::invalid(
            "must be the bare name of an object (a 'namespace/name' pair is not allowed here)",
        ));
    }
    if value.trim() != value {
        return Err(NameError::invalid(
            "must not have leading or trailing whitespace",
        ));
    }
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        return Err(NameError::invalid(format!(
            "must be no more than {DNS1123_SUBDOMAIN_MAX_LENGTH} characters"
        )));
    }
    if value.split('.').all(is_dns1123_label_body) {
        Ok(())
    } else {
        Err(NameError::invalid(
            "must be a lowercase RFC 1123 subdomain: lowercase letters, digits, '-' and '.', \
             starting and ending with a letter or digit (e.g. 'my-name' or 'example.com')",
        ))
    }
}

/// Checks an RFC 1123 label (the rule for namespace names).
pub fn check_dns1123_label(value: &str) -> Result<(), NameError> {
    if value.trim().is_empty() {
        return Err(NameError::empty());
    }
    if value.trim() != value {
        return Err(NameError::invalid(
            "must not have leading or trailing whitespace",
        ));
    }
    if value.len() > DNS1123_LABEL_MAX_LENGTH {
        return Err(NameError::invalid(format!(
            "must be no more than {DNS1123_LABEL_MAX_LENGTH} characters"
        )));
    }
    if is_dns1123_label_body(value) {
        Ok(())
    } else {
        Err(NameError::invalid(
            "must be a lowercase RFC 1123 label: lowercase letters, digits and '-', starting and \
             ending with a letter or digit (e.g. 'team-a')",
        ))
    }
}

fn is_dns1123_label_body(part: &str) -> bool {
    let bytes = part.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            bytes.len() <= DNS1123_LABEL_MAX_LENGTH
                && alnum(first)
                && alnum(last)
                && bytes.iter().all(|b| alnum(b) || *b == b'-')
        }
        _ => false,
    }
}

/// Checks a label or annotation key: an optional DNS subdomain prefix and `/`, then a name of at
/// most 63 characters made of alphanumerics, `-`, `_` and `.`, starting and ending alphanumeric.
pub fn check_qualified_name(key: &str) -> Result<(), NameError> {
    if key.is_empty() {
        return Err(NameError::empty());
    }
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        check_dns1123_subdomain(prefix).map_err(|error| {
            NameError::invalid(format!("prefix {prefix:?} before '/' {}", error.message))
        })?;
    }
    if name.is_empty() {
        return Err(NameError::invalid(
            "the name part after '/' must not be empty",
        ));
    }
    if name.len() > 63 || !is_label_value_body(name) {
        return Err(NameError::invalid(
            "the name part must be at most 63 characters of letters, digits, '-', '_' or '.', \
             starting and ending with a letter or digit (e.g. 'app.kubernetes.io/name')",
        ));
    }
    Ok(())
}

/// Checks a label value: empty, or at most 63 characters of alphanumerics, `-`, `_` and `.`,
/// starting and ending alphanumeric.
pub fn check_label_value(value: &str) -> Result<(), NameError> {
    if value.is_empty() || (value.len() <= 63 && is_label_value_body(value)) {
        Ok(())
    } else {
        Err(NameError::invalid(
            "a label value must be empty or at most 63 characters of letters, digits, '-', '_' \
             or '.', starting and ending with a letter or digit",
        ))
    }
}

fn is_label_value_body(value: &str) -> bool {
    let bytes = value.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

macro_rules! name_newtype {
    (
        $(#[$meta:meta])*
        $name:ident, $check:path, $pattern:expr, $max:expr
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Consumes the name and returns the inner string.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl FromStr for $name {
            type Err = NameError;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                $check(value)?;
                Ok(Self(value.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                $check(&value)?;
                Ok(Self(value))
            }
        }

        impl TryFrom<&str> for $name {
            type Error = NameError;

            fn try_from(value: &str) -> Result<Self, Self::Error> {
                value.parse()
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                Self::try_from(value).map_err(|error| {
                    serde::de::Error::custom(error.message)
                })
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn inline_schema() -> bool {
                true
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "pattern": $pattern,
                    "maxLength": $max,
                })
            }
        }
    };
}

name_newtype!(
    /// The name of a Kubernetes object: an RFC 1123 subdomain of at most 253 characters.
    ObjectName,
    check_dns1123_subdomain,
    DNS1123_SUBDOMAIN_PATTERN,
    DNS1123_SUBDOMAIN_MAX_LENGTH
);

name_newtype!(
    /// The name of a namespace: an RFC 1123 label of at most 63 characters.
    NamespaceName,
    check_dns1123_label,
    DNS1123_LABEL_PATTERN,
    DNS1123_LABEL_MAX_LENGTH
);

/// A string format the CRD schema expresses as a `pattern`, linked to the checker that explains a
/// failure. Offline validation uses it to print a sentence instead of the regular expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownFormat {
    /// [`ObjectName`].
    ObjectName,
    /// [`NamespaceName`].
    NamespaceName,
    /// [`Duration`].
    Duration,
}

impl KnownFormat {
    /// Every known format.
    pub const ALL: [Self; 3] = [Self::ObjectName, Self::NamespaceName, Self::Duration];

    /// Finds the format whose schema pattern is `pattern`.
    pub fn from_pattern(pattern: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|format| format.pattern() == pattern)
    }

    /// The schema pattern of the format.
    pub fn pattern(self) -> &'static str {
        match self {
            Self::ObjectName => DNS1123_SUBDOMAIN_PATTERN,
            Self::NamespaceName => DNS1123_LABEL_PATTERN,
            Self::Duration => DURATION_PATTERN,
        }
    }

    /// Checks a value, returning whether it was empty and a message when it fails.
    pub fn check(self, value: &str) -> Result<(), NameError> {
        match self {
            Self::ObjectName => check_dns1123_subdomain(value),
            Self::NamespaceName => check_dns1123_label(value),
            Self::Duration => value
                .parse::<Duration>()
                .map(drop)
                .map_err(|error| NameError {
                    empty: value.is_empty(),
                    message: error.to_string(),
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case("a")]
    #[case("my-name")]
    #[case("example.com")]
    #[case("0abc")]
    #[case("a.b-c.d")]
    fn accepts_subdomains(#[case] value: &str) {
        assert!(check_dns1123_subdomain(value).is_ok());
        assert!(value.parse::<ObjectName>().is_ok());
    }

    #[rstest]
    #[case("", true)]
    #[case("Bad_Name", false)]
    #[case("kollect-system/x", false)]
    #[case("-a", false)]
    #[case("a-", false)]
    #[case("a..b", false)]
    #[case(" a", false)]
    #[case("UPPER", false)]
    fn rejects_bad_subdomains(#[case] value: &str, #[case] empty: bool) {
        let error = check_dns1123_subdomain(value).expect_err("invalid");
        assert_eq!(error.empty, empty);
    }

    #[test]
    fn slash_message_mentions_namespace_pairs() {
        let error = check_dns1123_subdomain("team-a/x").expect_err("invalid");
        assert!(
            error.message.contains("namespace/name"),
            "{}",
            error.message
        );
    }

    #[test]
    fn subdomain_length_limit() {
        let long = format!("{}.{}", "a".repeat(63), "b".repeat(63));
        assert!(check_dns1123_subdomain(&long).is_ok());
        let too_long = vec!["a".repeat(63); 5].join(".");
        assert!(check_dns1123_subdomain(&too_long).is_err());
        assert!(
            check_dns1123_subdomain(&"a".repeat(64)).is_err(),
            "labels are at most 63"
        );
    }

    #[rstest]
    #[case("team-a", true)]
    #[case("Team_B", false)]
    #[case("a.b", false)]
    #[case("", false)]
    fn label_rules(#[case] value: &str, #[case] ok: bool) {
        assert_eq!(check_dns1123_label(value).is_ok(), ok);
    }

    #[rstest]
    #[case("app", true)]
    #[case("app.kubernetes.io/name", true)]
    #[case("kollect.dev/watch", true)]
    #[case("a_b.c-d", true)]
    #[case("/name", false)]
    #[case("prefix/", false)]
    #[case("Bad_Prefix/name", false)]
    #[case("-app", false)]
    #[case("", false)]
    fn qualified_names(#[case] key: &str, #[case] ok: bool) {
        assert_eq!(check_qualified_name(key).is_ok(), ok, "{key}");
    }

    #[rstest]
    #[case("", true)]
    #[case("v1.2_3-x", true)]
    #[case("-x", false)]
    #[case("a b", false)]
    fn label_values(#[case] value: &str, #[case] ok: bool) {
        assert_eq!(check_label_value(value).is_ok(), ok);
    }

    #[test]
    fn patterns_agree_with_checkers() {
        let cases = [
            "a", "my-name", "a.b", "Bad", "-a", "a-", "a/b", "", "a..b", "x1", "1x",
        ];
        for format in KnownFormat::ALL {
            let pattern = regex::Regex::new(format.pattern()).expect("pattern compiles");
            for case in cases {
                assert_eq!(
                    pattern.is_match(case),
                    format.check(case).is_ok(),
                    "{format:?} disagrees on {case:?}"
                );
            }
        }
    }

    #[test]
    fn deserialisation_validates() {
        let error = serde_json::from_str::<NamespaceName>("\"Team_B\"").expect_err("invalid");
        assert!(error.to_string().contains("RFC 1123 label"), "{error}");
        let ok: NamespaceName = serde_json::from_str("\"team-b\"").expect("valid");
        assert_eq!(ok, "team-b");
    }
}
