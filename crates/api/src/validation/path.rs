//! Classification of attribute paths (`cel:`, `helm:release.`, JSONPath) without compiling them.
//!
//! Compiling CEL and JSONPath is the extraction crate's job; this module only decides which
//! engine a path belongs to and checks the rules that need no compiler, so the API crate can
//! reject obviously wrong paths and apply the Secret-data guard.

use std::fmt;

/// Prefix of CEL attribute paths.
pub const CEL_PREFIX: &str = "cel:";
/// Prefix of Helm release attribute paths.
pub const HELM_PREFIX: &str = "helm:release.";

/// Helm release field aliases: `helm:release.<alias>` reads `<target>`.
const HELM_ALIASES: [(&str, &str); 9] = [
    ("releaseName", "name"),
    ("chartName", "chart.metadata.name"),
    ("chartVersion", "chart.metadata.version"),
    ("appVersion", "chart.metadata.appVersion"),
    ("revision", "version"),
    ("status", "info.status"),
    ("lastDeployed", "info.last_deployed"),
    ("namespace", "namespace"),
    ("config", "config"),
];

/// Helm release fields (and everything below them) that are never exported: they hold rendered
/// manifests, templates and raw chart files, which may embed secrets.
const HELM_DENIED: [&str; 6] = [
    "manifest",
    "hooks",
    "chart.templates",
    "chart.files",
    "chart.values",
    "chart.raw",
];

/// An attribute path, classified by engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttributePath {
    /// A CEL expression over the variable `object` (prefix removed, trimmed).
    Cel(String),
    /// A field of a decoded Helm 3 release Secret.
    Helm(HelmField),
    /// A kubectl JSONPath template, normalised to the `{...}` form.
    JsonPath(String),
}

/// A `helm:release.<field>` path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelmField {
    /// The field as written after the prefix.
    pub written: String,
    /// The dotted path read from the release after alias resolution.
    pub resolved: String,
}

/// Why a path cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is blank.
    #[error("must not be empty")]
    Empty,
    /// `cel:` with nothing after it.
    #[error("the CEL expression after 'cel:' is empty")]
    EmptyCel,
    /// A CEL-looking expression without the prefix.
    #[error(
        "CEL expressions must use the 'cel:' prefix: write 'cel:{0}' (or a JSONPath such as \
         '$.metadata.name')"
    )]
    CelWithoutPrefix(String),
    /// `helm:` followed by something other than `release.`.
    #[error(
        "unknown path prefix: Helm paths have the form 'helm:release.<field>', e.g. 'helm:release.chartVersion'"
    )]
    UnknownHelmPrefix,
    /// `helm:release.` with no field.
    #[error("names no Helm release field: write e.g. 'helm:release.chartVersion'")]
    EmptyHelmField,
    /// A Helm field that must never be exported.
    #[error(
        "helm release field {0:?} is not exportable (manifest, hooks and chart templates, files, \
         values and raw data may contain secrets)"
    )]
    HelmNotExportable(String),
    /// Not a JSONPath template.
    #[error(
        "is not a path: start JSONPath with '$.' or '{{' (e.g. '$.spec.replicas'), CEL with \
         'cel:' or Helm fields with 'helm:release.'"
    )]
    NotAPath,
}

impl AttributePath {
    /// Classifies a path as written in a profile.
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        let path = raw.trim();
        if path.is_empty() {
            return Err(PathError::Empty);
        }
        if let Some(expression) = path.strip_prefix(CEL_PREFIX) {
            let expression = expression.trim();
            if expression.is_empty() {
                return Err(PathError::EmptyCel);
            }
            return Ok(Self::Cel(expression.to_owned()));
        }
        if let Some(field) = path.strip_prefix(HELM_PREFIX) {
            return helm_field(field).map(Self::Helm);
        }
        if path.starts_with("helm:") {
            return Err(PathError::UnknownHelmPrefix);
        }
        if path.starts_with("object.") || path.starts_with("object[") {
            return Err(PathError::CelWithoutPrefix(path.to_owned()));
        }
        if let Some(rest) = path.strip_prefix('$') {
            if rest.starts_with('.') || rest.starts_with('[') {
                return Ok(Self::JsonPath(format!("{{{rest}}}")));
            }
            return Err(PathError::NotAPath);
        }
        if path.starts_with('{') {
            return Ok(Self::JsonPath(path.to_owned()));
        }
        Err(PathError::NotAPath)
    }
}

impl fmt::Display for AttributePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cel(expression) => write!(f, "{CEL_PREFIX}{expression}"),
            Self::Helm(field) => write!(f, "{HELM_PREFIX}{}", field.written),
            Self::JsonPath(template) => f.write_str(template),
        }
    }
}

fn helm_field(field: &str) -> Result<HelmField, PathError> {
    let field = field.trim();
    if field.is_empty() {
        return Err(PathError::EmptyHelmField);
    }
    let resolved = HELM_ALIASES
        .iter()
        .find(|(alias, _)| *alias == field)
        .map_or(field, |(_, target)| *target);
    let denied = HELM_DENIED.iter().any(|denied| {
        resolved == *denied
            || resolved
                .strip_prefix(denied)
                .is_some_and(|r| r.starts_with('.'))
    });
    if denied {
        return Err(PathError::HelmNotExportable(resolved.to_owned()));
    }
    Ok(HelmField {
        written: field.to_owned(),
        resolved: resolved.to_owned(),
    })
}

/// Whether a path reaches Secret material (`data`, or a Helm release's `config` values), which
/// needs the profile annotation `kollect.dev/allow-secret-extraction: "true"` on Secret targets.
pub fn secret_material_reached(raw: &str) -> bool {
    let path = raw.trim();
    if let Some(field) = path.strip_prefix(HELM_PREFIX) {
        let resolved = helm_field(field).map(|f| f.resolved).unwrap_or_default();
        return resolved == "config" || resolved.starts_with("config.");
    }
    if let Some(expression) = path.strip_prefix(CEL_PREFIX) {
        let expression = expression.trim();
        let expression = expression.strip_prefix("object").unwrap_or(expression);
        let expression = expression.strip_prefix('.').unwrap_or(expression);
        return expression
            .split(['.', '[', ']', '(', ')', ' ', '\t'])
            .any(|token| token.eq_ignore_ascii_case("data"));
    }
    let path = path
        .strip_prefix("$.")
        .or_else(|| path.strip_prefix('$'))
        .unwrap_or(path);
    let path = path.strip_prefix('.').unwrap_or(path);
    path.split('.').any(|segment| {
        let end = segment.find(['[', '(']).unwrap_or(segment.len());
        segment[..end].eq_ignore_ascii_case("data")
    })
}

/// Whether a path uses a JSONPath filter (`[?(`), which is admitted with a warning.
pub(crate) fn has_filter(path: &str) -> bool {
    path.contains("[?(")
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case("$.metadata.name", AttributePath::JsonPath("{.metadata.name}".into()))]
    #[case("{.metadata.name}", AttributePath::JsonPath("{.metadata.name}".into()))]
    #[case("  $.spec.rules[*].host ", AttributePath::JsonPath("{.spec.rules[*].host}".into()))]
    #[case("$['metadata']", AttributePath::JsonPath("{['metadata']}".into()))]
    #[case("cel:object.metadata.name", AttributePath::Cel("object.metadata.name".into()))]
    #[case("cel: size(object.spec.ports) ", AttributePath::Cel("size(object.spec.ports)".into()))]
    fn classifies_paths(#[case] raw: &str, #[case] expected: AttributePath) {
        assert_eq!(AttributePath::parse(raw), Ok(expected));
    }

    #[rstest]
    #[case("", PathError::Empty)]
    #[case("   ", PathError::Empty)]
    #[case("cel:", PathError::EmptyCel)]
    #[case("cel:   ", PathError::EmptyCel)]
    #[case("helm:release.", PathError::EmptyHelmField)]
    #[case("helm:other.field", PathError::UnknownHelmPrefix)]
    #[case("helm:release.manifest", PathError::HelmNotExportable("manifest".into()))]
    #[case("helm:release.hooks", PathError::HelmNotExportable("hooks".into()))]
    #[case("helm:release.chart.templates.foo", PathError::HelmNotExportable("chart.templates.foo".into()))]
    #[case("helm:release.chart.values", PathError::HelmNotExportable("chart.values".into()))]
    #[case("metadata.name", PathError::NotAPath)]
    #[case("$", PathError::NotAPath)]
    fn rejects_paths(#[case] raw: &str, #[case] expected: PathError) {
        assert_eq!(AttributePath::parse(raw), Err(expected));
    }

    #[rstest]
    #[case("object.metadata.name")]
    #[case("object['metadata']['name']")]
    #[case("object.metadata.namespace")]
    fn cel_without_prefix_names_the_prefix(#[case] raw: &str) {
        let error = AttributePath::parse(raw).expect_err("rejected");
        assert!(
            error.to_string().starts_with("CEL expressions must use"),
            "{error}"
        );
    }

    #[test]
    fn helm_aliases_resolve() {
        let AttributePath::Helm(field) =
            AttributePath::parse("helm:release.chartVersion").expect("valid")
        else {
            panic!("not a helm path");
        };
        assert_eq!(field.resolved, "chart.metadata.version");
        // The chart metadata itself is fine; only templates, files, values and raw are denied.
        assert!(AttributePath::parse("helm:release.chart.metadata.version").is_ok());
        assert!(AttributePath::parse("helm:release.chart.valuesX").is_ok());
    }

    #[rstest]
    #[case("$.data.release", true)]
    #[case("$.DATA", true)]
    #[case("{.data.password}", true)]
    #[case("$.data['tls.crt']", true)]
    #[case("cel:object.data.release", true)]
    #[case("cel:size(object.data)", true)]
    #[case("cel:object.metadata['data']", false)]
    #[case("helm:release.config", true)]
    #[case("helm:release.config.replicaCount", true)]
    #[case("helm:release.chartVersion", false)]
    #[case("$.metadata.name", false)]
    #[case("$.metadata.labels['app.data']", false)]
    #[case("$.metadata.annotations.database", false)]
    fn secret_guard(#[case] raw: &str, #[case] reached: bool) {
        assert_eq!(secret_material_reached(raw), reached, "{raw}");
    }
}
