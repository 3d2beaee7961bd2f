//! Whether one object belongs to one target (pipeline spec §2.9.2–§2.9.5, §2.9.7): the
//! namespace check, resource rules or the legacy `names`/`labelSelector`, then the watch labels.
//!
//! A [`Matcher`] is compiled once per target registration and asked per object. `matchPolicy`
//! is CEL, which this crate does not evaluate: the caller compiles it into a [`Policy`] (the
//! binary uses `kollect-extract`), so the collector stays independent of the extraction engine.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Arc,
};

use kollect_api::{
    k8s::LabelSelector,
    row::Gvk,
    v1alpha1::{ResourceRule, WatchMode},
};
use serde::Deserialize;
use serde_json::Value;

use crate::filter::{NamespaceInfo, selector_is_valid, selector_matches, watch_labels_allow};

/// A compiled `matchPolicy`: `Ok(true)` selects the object; `Ok(false)`, or an error (a
/// non-boolean result, a missing field), does not (§2.9.4).
pub type Policy = Arc<dyn Fn(&Value) -> Result<bool, String> + Send + Sync>;

/// The namespace every namespace-based check uses for cluster-scoped objects (§2.9.7).
pub const CLUSTER_SCOPED_NAMESPACE: &str = "default";

/// What a target asks of objects.
#[derive(Clone, Debug, Default)]
pub struct MatcherSpec<'a> {
    /// The kind the watch delivers (the profile's `targetGVK`).
    pub gvk: Option<&'a Gvk>,
    /// The target's effective namespaces (empty: nothing is collected, DECISIONS Q2).
    pub effective_namespaces: &'a [String],
    /// `spec.resourceRules`; when non-empty, `names` and `label_selector` are ignored.
    pub resource_rules: &'a [ResourceRule],
    /// `spec.names` (legacy).
    pub names: &'a [String],
    /// `spec.labelSelector` (legacy).
    pub label_selector: Option<&'a LabelSelector>,
    /// `spec.watchMode`.
    pub watch_mode: WatchMode,
}

/// A resource rule that cannot be used: the target's registration fails with this message
/// (`compile resourceRules: …`, reason `InformerRegistrationFailed`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("compile resourceRules: {field}: {message}")]
pub struct RuleError {
    /// The field, e.g. `spec.resourceRules[1].matchExpressions`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Why an object is not collected, for counters and debug logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The target collects the object.
    Collect,
    /// The object's namespace is outside the target's effective set (a namespace mismatch).
    NamespaceMismatch,
    /// No resource rule, or the legacy names or label selector, selects it.
    Filtered,
    /// A `kollect.dev/watch` label or namespace annotation opts it out.
    OptedOut,
}

/// The parts of an object a matcher reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectView {
    /// `metadata.namespace`; empty for cluster-scoped objects.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
}

impl ObjectView {
    /// Reads namespace, name and labels from an object's JSON (full or `PartialObjectMetadata`);
    /// every other member is skipped unread.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        struct Object {
            #[serde(default)]
            metadata: Metadata,
        }
        #[derive(Default, Deserialize)]
        struct Metadata {
            #[serde(default)]
            namespace: String,
            #[serde(default)]
            name: String,
            #[serde(default)]
            labels: Option<BTreeMap<String, String>>,
        }
        let object: Object = serde_json::from_str(json)?;
        Ok(Self {
            namespace: object.metadata.namespace,
            name: object.metadata.name,
            labels: object.metadata.labels.unwrap_or_default(),
        })
    }

    /// Reads namespace, name and labels from a parsed object.
    pub fn from_value(object: &Value) -> Self {
        let text = |pointer: &str| {
            object
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let labels = object
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .map(|labels| {
                labels
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            namespace: text("/metadata/namespace"),
            name: text("/metadata/name"),
            labels,
        }
    }

    /// The namespace namespace-based checks use.
    fn check_namespace(&self) -> &str {
        if self.namespace.is_empty() {
            CLUSTER_SCOPED_NAMESPACE
        } else {
            &self.namespace
        }
    }
}

/// Namespace metadata by name, refreshed by the caller (a namespace LIST per target reconcile,
/// or a namespace watch).
pub type Namespaces = HashMap<String, NamespaceInfo>;

struct Rule {
    gvk: Gvk,
    namespace_selector: Option<LabelSelector>,
    selector: LabelSelector,
    policy: Option<Policy>,
}

enum Selection {
    Legacy {
        names: BTreeSet<String>,
        selector: Option<LabelSelector>,
    },
    Rules(Vec<Rule>),
}

/// A target's object filter, compiled once per registration.
pub struct Matcher {
    gvk: Option<Gvk>,
    effective: BTreeSet<String>,
    selection: Selection,
    watch_mode: WatchMode,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matcher")
            .field("gvk", &self.gvk)
            .field("effective", &self.effective)
            .field("watch_mode", &self.watch_mode)
            .finish_non_exhaustive()
    }
}

impl Matcher {
    /// Compiles a target's filter. `compile_policy` turns a `matchPolicy` into a [`Policy`] or
    /// says why it does not compile.
    pub fn compile(
        spec: &MatcherSpec<'_>,
        compile_policy: impl Fn(&str) -> Result<Policy, String>,
    ) -> Result<Self, RuleError> {
        let selection = if spec.resource_rules.is_empty() {
            Selection::Legacy {
                names: spec.names.iter().cloned().collect(),
                selector: spec.label_selector.cloned(),
            }
        } else {
            Selection::Rules(
                spec.resource_rules
                    .iter()
                    .enumerate()
                    .map(|(index, rule)| compile_rule(index, rule, &compile_policy))
                    .collect::<Result<_, _>>()?,
            )
        };
        Ok(Self {
            gvk: spec.gvk.cloned(),
            effective: spec.effective_namespaces.iter().cloned().collect(),
            selection,
            watch_mode: spec.watch_mode,
        })
    }

    /// Whether the matcher evaluates a `matchPolicy`, which needs the object's fields (not only
    /// its metadata).
    pub fn needs_object(&self) -> bool {
        matches!(&self.selection, Selection::Rules(rules) if rules.iter().any(|r| r.policy.is_some()))
    }

    /// Decides for one object. `object` is the parsed object, needed only when a rule has a
    /// `matchPolicy` (`None` then means "not available" and such rules do not match).
    pub fn check(
        &self,
        view: &ObjectView,
        object: Option<&Value>,
        namespaces: &Namespaces,
    ) -> Verdict {
        let namespace = view.check_namespace();
        if !self.effective.contains(namespace) {
            return Verdict::NamespaceMismatch;
        }
        let info = namespaces.get(namespace);
        if !self.selects(view, object, info) {
            return Verdict::Filtered;
        }
        if !watch_labels_allow(&view.labels, info, self.watch_mode) {
            return Verdict::OptedOut;
        }
        Verdict::Collect
    }

    fn selects(
        &self,
        view: &ObjectView,
        object: Option<&Value>,
        info: Option<&NamespaceInfo>,
    ) -> bool {
        match &self.selection {
            Selection::Legacy { names, selector } => {
                (names.is_empty() || names.contains(&view.name))
                    && selector
                        .as_ref()
                        .is_none_or(|s| selector_is_valid(s) && selector_matches(s, &view.labels))
            }
            Selection::Rules(rules) => rules.iter().any(|rule| {
                self.gvk.as_ref().is_none_or(|gvk| *gvk == rule.gvk)
                    && rule.namespace_selector.as_ref().is_none_or(|s| {
                        let empty = BTreeMap::new();
                        selector_matches(s, info.map_or(&empty, |ns| &ns.labels))
                    })
                    && selector_matches(&rule.selector, &view.labels)
                    && rule
                        .policy
                        .as_ref()
                        .is_none_or(|policy| object.is_some_and(|o| policy(o) == Ok(true)))
            }),
        }
    }
}

fn compile_rule(
    index: usize,
    rule: &ResourceRule,
    compile_policy: &impl Fn(&str) -> Result<Policy, String>,
) -> Result<Rule, RuleError> {
    let field = |name: &str| format!("spec.resourceRules[{index}].{name}");
    let error = |name: &str, message: &str| RuleError {
        field: field(name),
        message: message.to_owned(),
    };
    if rule.gvk.version.is_empty() {
        return Err(error("gvk.version", "required"));
    }
    if rule.gvk.kind.is_empty() {
        return Err(error("gvk.kind", "required"));
    }
    if let Some(selector) = &rule.namespace_selector
        && !selector_is_valid(selector)
    {
        return Err(error(
            "namespaceSelector",
            "invalid selector: operators are In, NotIn (with values), Exists, DoesNotExist (without)",
        ));
    }
    let selector = LabelSelector {
        match_labels: rule.match_labels.clone(),
        match_expressions: rule.match_expressions.clone(),
    };
    if !selector_is_valid(&selector) {
        return Err(error(
            "matchExpressions",
            "invalid requirement: operators are In, NotIn (with values), Exists, DoesNotExist (without)",
        ));
    }
    let policy = rule
        .match_policy
        .as_deref()
        .map(|source| compile_policy(source).map_err(|message| error("matchPolicy", &message)))
        .transpose()?;
    Ok(Rule {
        gvk: Gvk::new(
            rule.gvk.group.as_deref().unwrap_or_default(),
            &rule.gvk.version,
            &rule.gvk.kind,
        ),
        namespace_selector: rule.namespace_selector.clone(),
        selector,
        policy,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn view(namespace: &str, name: &str, l: &[(&str, &str)]) -> ObjectView {
        ObjectView {
            namespace: namespace.into(),
            name: name.into(),
            labels: labels(l),
        }
    }

    fn namespaces(list: &[(&str, &[(&str, &str)])]) -> Namespaces {
        list.iter()
            .map(|(name, l)| {
                (
                    (*name).to_owned(),
                    NamespaceInfo {
                        name: (*name).to_owned(),
                        labels: labels(l),
                        annotations: BTreeMap::new(),
                    },
                )
            })
            .collect()
    }

    fn rules(value: Value) -> Vec<ResourceRule> {
        serde_json::from_value(value).unwrap()
    }

    /// A stand-in for the CEL policy `has(object.status.summary) &&
    /// object.status.summary.criticalCount > 0` (the real one is compiled by kollect-extract).
    #[allow(clippy::unnecessary_wraps)] // the shape `Matcher::compile` takes
    fn critical(_: &str) -> Result<Policy, String> {
        Ok(Arc::new(|object: &Value| {
            match object.pointer("/status/summary/criticalCount") {
                Some(Value::Number(n)) => Ok(n.as_i64().unwrap_or(0) > 0),
                Some(_) => Err("no such overload".to_owned()),
                None => Ok(false),
            }
        }))
    }

    fn no_policy(_: &str) -> Result<Policy, String> {
        Err("unexpected policy".to_owned())
    }

    fn everywhere() -> Vec<String> {
        vec!["default".into(), "team-a".into(), "team-b".into()]
    }

    #[test]
    fn flt_10_rules_are_ored_with_policies() {
        let gvk = Gvk::new("aquasecurity.github.io", "v1alpha1", "VulnerabilityReport");
        let rules = rules(json!([
            {"gvk": {"group": "aquasecurity.github.io", "version": "v1alpha1", "kind": "VulnerabilityReport"},
             "matchLabels": {"trivy-operator.resource.criticality": "high"}},
            {"gvk": {"group": "aquasecurity.github.io", "version": "v1alpha1", "kind": "VulnerabilityReport"},
             "matchPolicy": "has(object.status.summary) && object.status.summary.criticalCount > 0"},
        ]));
        let effective = everywhere();
        let spec = MatcherSpec {
            gvk: Some(&gvk),
            effective_namespaces: &effective,
            resource_rules: &rules,
            ..MatcherSpec::default()
        };
        let matcher = Matcher::compile(&spec, critical).unwrap();
        assert!(matcher.needs_object());
        let ns = namespaces(&[("team-a", &[])]);
        let labelled = view(
            "team-a",
            "r1",
            &[("trivy-operator.resource.criticality", "high")],
        );
        assert_eq!(matcher.check(&labelled, None, &ns), Verdict::Collect);
        let plain = view("team-a", "r2", &[]);
        let report = |count: i64| json!({"status": {"summary": {"criticalCount": count}}});
        assert_eq!(
            matcher.check(&plain, Some(&report(2)), &ns),
            Verdict::Collect
        );
        assert_eq!(
            matcher.check(&plain, Some(&report(0)), &ns),
            Verdict::Filtered
        );
        // An evaluation error is "no match", silently.
        let odd = json!({"status": {"summary": {"criticalCount": "many"}}});
        assert_eq!(matcher.check(&plain, Some(&odd), &ns), Verdict::Filtered);
    }

    #[test]
    fn flt_11_14_18_legacy_names_and_selector() {
        let effective = everywhere();
        let billing = LabelSelector {
            match_labels: Some(labels(&[("app", "billing")])),
            match_expressions: None,
        };
        let ns = namespaces(&[]);
        // FLT-11: no rules, labelSelector app=billing.
        let spec = MatcherSpec {
            effective_namespaces: &effective,
            label_selector: Some(&billing),
            ..MatcherSpec::default()
        };
        let matcher = Matcher::compile(&spec, no_policy).unwrap();
        assert!(!matcher.needs_object());
        assert_eq!(
            matcher.check(&view("team-a", "x", &[("app", "billing")]), None, &ns),
            Verdict::Collect
        );
        assert_eq!(
            matcher.check(&view("team-a", "x", &[("app", "web")]), None, &ns),
            Verdict::Filtered
        );
        // FLT-18: names [web, api] + app=billing.
        let names = vec!["web".to_owned(), "api".to_owned()];
        let spec = MatcherSpec {
            names: &names,
            ..spec
        };
        let matcher = Matcher::compile(&spec, no_policy).unwrap();
        assert_eq!(
            matcher.check(&view("team-a", "web", &[("app", "billing")]), None, &ns),
            Verdict::Collect
        );
        assert_eq!(
            matcher.check(&view("team-a", "worker", &[("app", "billing")]), None, &ns),
            Verdict::Filtered
        );
        // FLT-14: an invalid legacy selector matches nothing (fail closed).
        let invalid = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![kollect_api::k8s::LabelSelectorRequirement {
                key: "app".into(),
                operator: "Exists".into(),
                values: Some(vec!["x".into()]),
            }]),
        };
        let spec = MatcherSpec {
            effective_namespaces: &effective,
            label_selector: Some(&invalid),
            ..MatcherSpec::default()
        };
        let matcher = Matcher::compile(&spec, no_policy).unwrap();
        assert_eq!(
            matcher.check(&view("team-a", "x", &[("app", "y")]), None, &ns),
            Verdict::Filtered
        );
    }

    #[test]
    fn flt_12_rule_errors_name_the_field() {
        let effective = everywhere();
        let cases = [
            (
                json!([{"gvk": {"group": "", "version": "", "kind": "Pod"}}]),
                "spec.resourceRules[0].gvk.version",
            ),
            (
                json!([{"gvk": {"group": "", "version": "v1", "kind": ""}}]),
                "spec.resourceRules[0].gvk.kind",
            ),
            (
                json!([{"gvk": {"version": "v1", "kind": "Pod"}},
                       {"gvk": {"version": "v1", "kind": "Pod"}, "namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}}]),
                "spec.resourceRules[1].namespaceSelector",
            ),
            (
                json!([{"gvk": {"version": "v1", "kind": "Pod"}, "matchExpressions": [{"key": "a", "operator": "In"}]}]),
                "spec.resourceRules[0].matchExpressions",
            ),
            (
                json!([{"gvk": {"version": "v1", "kind": "Pod"}, "matchPolicy": "object.("}]),
                "spec.resourceRules[0].matchPolicy",
            ),
        ];
        for (value, field) in cases {
            let rules = rules(value);
            let spec = MatcherSpec {
                effective_namespaces: &effective,
                resource_rules: &rules,
                ..MatcherSpec::default()
            };
            let error =
                Matcher::compile(&spec, |_| Err("syntax error at 1:8".to_owned())).unwrap_err();
            assert_eq!(error.field, field);
            assert!(
                error
                    .to_string()
                    .starts_with("compile resourceRules: spec.resourceRules["),
                "{error}"
            );
        }
    }

    #[test]
    fn flt_13_rules_check_kind_and_namespace_labels() {
        let pods = Gvk::new("", "v1", "Pod");
        let rules = rules(json!([
            {"gvk": {"group": "apps", "version": "v1", "kind": "Deployment"}},
            {"gvk": {"version": "v1", "kind": "Pod"}, "namespaceSelector": {"matchLabels": {"env": "prod"}}},
        ]));
        let effective = vec![
            "default".to_owned(),
            "prod".to_owned(),
            "dev".to_owned(),
            "ghost".to_owned(),
        ];
        let spec = MatcherSpec {
            gvk: Some(&pods),
            effective_namespaces: &effective,
            resource_rules: &rules,
            ..MatcherSpec::default()
        };
        let matcher = Matcher::compile(&spec, no_policy).unwrap();
        let ns = namespaces(&[
            ("prod", &[("env", "prod")]),
            ("dev", &[("env", "dev")]),
            ("default", &[("env", "prod")]),
        ]);
        // The Deployment rule never matches a Pod watch; the Pod rule needs prod namespaces.
        assert_eq!(
            matcher.check(&view("prod", "p", &[]), None, &ns),
            Verdict::Collect
        );
        assert_eq!(
            matcher.check(&view("dev", "p", &[]), None, &ns),
            Verdict::Filtered
        );
        assert_eq!(
            matcher.check(&view("ghost", "p", &[]), None, &ns),
            Verdict::Filtered,
            "an unknown namespace has no labels"
        );
        // A cluster-scoped object is checked as if it lived in `default`.
        assert_eq!(
            matcher.check(&view("", "node-1", &[]), None, &ns),
            Verdict::Collect
        );
        let deployments = Gvk::new("apps", "v1", "Deployment");
        let spec = MatcherSpec {
            gvk: Some(&deployments),
            ..spec
        };
        let matcher = Matcher::compile(&spec, no_policy).unwrap();
        assert_eq!(
            matcher.check(&view("dev", "d", &[]), None, &ns),
            Verdict::Collect
        );
    }

    #[test]
    fn flt_19_21_namespace_checks_come_first_then_filters_then_labels() {
        let effective = vec!["team-a".to_owned()];
        let names = vec!["web".to_owned()];
        let spec = MatcherSpec {
            effective_namespaces: &effective,
            names: &names,
            ..MatcherSpec::default()
        };
        let matcher = Matcher::compile(&spec, no_policy).unwrap();
        let ns = namespaces(&[("team-a", &[]), ("team-b", &[])]);
        // FLT-21: outside the effective set → namespace mismatch, whatever else.
        assert_eq!(
            matcher.check(&view("team-b", "web", &[]), None, &ns),
            Verdict::NamespaceMismatch
        );
        // Names filter excludes → filtered.
        assert_eq!(
            matcher.check(&view("team-a", "api", &[]), None, &ns),
            Verdict::Filtered
        );
        // Resource opt-out → opted out.
        assert_eq!(
            matcher.check(
                &view("team-a", "web", &[("kollect.dev/watch", "disabled")]),
                None,
                &ns
            ),
            Verdict::OptedOut
        );
        assert_eq!(
            matcher.check(&view("team-a", "web", &[]), None, &ns),
            Verdict::Collect
        );
        // FLT-19: cluster-scoped objects need `default` in the effective set.
        assert_eq!(
            matcher.check(&view("", "web", &[]), None, &ns),
            Verdict::NamespaceMismatch
        );
        // An empty effective set collects nothing (DECISIONS Q2).
        let spec = MatcherSpec {
            effective_namespaces: &[],
            ..spec
        };
        let matcher = Matcher::compile(&spec, no_policy).unwrap();
        assert_eq!(
            matcher.check(&view("team-a", "web", &[]), None, &ns),
            Verdict::NamespaceMismatch
        );
    }

    #[test]
    fn object_views_read_metadata_only_and_refuse_bad_json() {
        let view = ObjectView::from_json(
            r#"{"kind":"Pod","metadata":{"name":"p","namespace":"a","labels":{"x":"1"},"annotations":{"big":"..."}},"spec":{"containers":[]}}"#,
        )
        .unwrap();
        assert_eq!(
            view,
            ObjectView {
                namespace: "a".into(),
                name: "p".into(),
                labels: labels(&[("x", "1")])
            }
        );
        let bare = ObjectView::from_json(r#"{"metadata":{"name":"n","labels":null}}"#).unwrap();
        assert!(bare.namespace.is_empty() && bare.labels.is_empty());
        assert!(ObjectView::from_json("{").is_err());
        let value: Value =
            serde_json::from_str(r#"{"metadata":{"name":"p","namespace":"a","labels":{"x":"1"}}}"#)
                .unwrap();
        assert_eq!(ObjectView::from_value(&value), view);
        assert!(ObjectView::from_json(r#"{"metadata":{"labels":{"x":1}}}"#).is_err());
    }
}
