//! Collection filters evaluated per target (pipeline spec §2.9): the namespace sets a target
//! collects from, label selectors in their structured form, and the watch opt-in/opt-out labels.

use std::collections::BTreeMap;

pub use kollect_api::selector::{selector_is_valid, selector_matches};
use kollect_api::{
    k8s::LabelSelector,
    names::NamespaceName,
    v1alpha1::{CollectionFilterSpec, WatchMode},
};

/// A namespace as the filters see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceInfo {
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
}

/// Sorted, de-duplicated, without empty names.
pub fn sorted_unique(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = names.into_iter().filter(|n| !n.is_empty()).collect();
    out.sort();
    out.dedup();
    out
}

/// What decides a target's namespaces besides the namespaces themselves.
#[derive(Clone, Copy, Debug)]
pub struct NamespaceIntent<'a> {
    /// The target's collection filter.
    pub filter: &'a CollectionFilterSpec,
    /// The target's `namespaceSelector` (absent: every namespace).
    pub namespace_selector: Option<&'a LabelSelector>,
    /// The operator's `--default-included-namespaces` (used when the target lists none).
    pub default_included: &'a [String],
    /// The operator's `--default-excluded-namespaces`.
    pub default_excluded: &'a [String],
}

/// The scope ceiling: `allowedNamespaces` (empty: no limit) and `deniedNamespaces`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ceiling<'a> {
    /// Only these namespaces, when non-empty.
    pub allowed: &'a [String],
    /// Never these.
    pub denied: &'a [String],
}

/// A target's namespaces: its own intent, and what the scope leaves of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceSets {
    /// Existing namespaces the target's intent selects (status `matchedNamespaces`).
    pub matched: Vec<String>,
    /// What it collects from (status `effectiveNamespaces`). Empty means nothing is collected
    /// (DECISIONS Q2; the Go original collected everywhere instead).
    pub effective: Vec<String>,
}

/// Computes a target's namespace sets over the existing `namespaces` (§2.9.1).
pub fn namespace_sets(
    intent: &NamespaceIntent<'_>,
    namespaces: &[NamespaceInfo],
    ceiling: &Ceiling<'_>,
) -> NamespaceSets {
    let own_included: Vec<&str> = intent
        .filter
        .included_namespaces()
        .iter()
        .map(NamespaceName::as_str)
        .collect();
    let included: Vec<&str> = if own_included.is_empty() {
        intent.default_included.iter().map(String::as_str).collect()
    } else {
        own_included
    };
    let excluded: Vec<&str> = intent
        .filter
        .excluded_namespaces()
        .iter()
        .map(NamespaceName::as_str)
        .chain(intent.default_excluded.iter().map(String::as_str))
        .collect();
    let matched = sorted_unique(
        namespaces
            .iter()
            .filter(|ns| included.is_empty() || included.contains(&ns.name.as_str()))
            .filter(|ns| {
                intent
                    .namespace_selector
                    .is_none_or(|s| selector_matches(s, &ns.labels))
            })
            .filter(|ns| !excluded.contains(&ns.name.as_str()))
            .filter(|ns| {
                intent
                    .filter
                    .namespace_exclude_selector
                    .as_ref()
                    // An invalid exclude selector excludes everything (fail closed, DECISIONS Q10).
                    .is_none_or(|s| selector_is_valid(s) && !selector_matches(s, &ns.labels))
            })
            .map(|ns| ns.name.clone()),
    );
    let effective = sorted_unique(
        matched
            .iter()
            .filter(|ns| !excluded.contains(&ns.as_str()) && !ceiling.denied.contains(ns))
            .filter(|ns| ceiling.allowed.is_empty() || ceiling.allowed.contains(ns))
            .cloned(),
    );
    NamespaceSets { matched, effective }
}

/// Whether a target wants every namespace, present and future: no include list (its own or the
/// operator's default), no namespace selector, no scope allowlist. Such a target needs a
/// cluster-wide watch; any other is bounded by its effective set, which the engine recomputes
/// when namespaces change.
pub fn is_unrestricted(intent: &NamespaceIntent<'_>, ceiling: &Ceiling<'_>) -> bool {
    intent.filter.included_namespaces().is_empty()
        && intent.default_included.is_empty()
        && intent.namespace_selector.is_none()
        && ceiling.allowed.is_empty()
}

/// Beyond this many namespaces one cluster-wide watch is cheaper than one watch per namespace
/// (each watch is a long-lived request and a relist on expiry; 16 keeps tenant installs of a few
/// teams namespaced while a platform-wide selector goes cluster-wide).
pub const MAX_NAMESPACED_WATCHES: usize = 16;

/// The namespaces a shared watch must cover (pipeline spec §1.3.2, FLT-20): `None` for one
/// cluster-wide watch, when a subscriber is unrestricted (`None`) or the union is large;
/// otherwise the sorted union of the subscribers' effective sets.
pub fn watch_namespaces<'a>(
    subscribers: impl IntoIterator<Item = Option<&'a [String]>>,
) -> Option<Vec<String>> {
    let mut union = Vec::new();
    for subscriber in subscribers {
        union.extend(subscriber?.iter().cloned());
    }
    let union = sorted_unique(union);
    (union.len() <= MAX_NAMESPACED_WATCHES).then_some(union)
}

/// The label that opts resources and namespaces in or out.
pub const WATCH_LABEL: &str = "kollect.dev/watch";
/// The namespace annotation that opts a namespace in or out.
pub const NAMESPACE_WATCH_ANNOTATION: &str = "kollect.dev/namespace-watch";

/// The watch opt-in/opt-out decision (§2.9.5), evaluated last. `namespace` is the object's
/// namespace (`default` for cluster-scoped objects), `None` when unknown.
pub fn watch_labels_allow(
    object_labels: &BTreeMap<String, String>,
    namespace: Option<&NamespaceInfo>,
    mode: WatchMode,
) -> bool {
    match object_labels.get(WATCH_LABEL).map(String::as_str) {
        Some("disabled") => return false,
        Some("enabled") => return true,
        _ => {}
    }
    let namespace_label = namespace
        .and_then(|ns| ns.labels.get(WATCH_LABEL))
        .map(String::as_str);
    let namespace_annotation = namespace
        .and_then(|ns| ns.annotations.get(NAMESPACE_WATCH_ANNOTATION))
        .map(String::as_str);
    if namespace_label == Some("disabled") || namespace_annotation == Some("disabled") {
        return false;
    }
    match mode {
        WatchMode::OptIn => {
            namespace_label == Some("enabled") || namespace_annotation == Some("enabled")
        }
        WatchMode::All => true,
    }
}

#[cfg(test)]
mod tests {
    use kollect_api::k8s::LabelSelectorRequirement;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn ns(name: &str, l: &[(&str, &str)], a: &[(&str, &str)]) -> NamespaceInfo {
        NamespaceInfo {
            name: name.into(),
            labels: labels(l),
            annotations: labels(a),
        }
    }

    fn filter(json: serde_json::Value) -> CollectionFilterSpec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn flt_01_to_06_watch_labels() {
        let enabled_ns = ns("a", &[], &[(NAMESPACE_WATCH_ANNOTATION, "enabled")]);
        let disabled_ns = ns("a", &[], &[(NAMESPACE_WATCH_ANNOTATION, "disabled")]);
        let disabled_label_ns = ns("a", &[(WATCH_LABEL, "disabled")], &[]);
        let enabled_label_ns = ns("a", &[(WATCH_LABEL, "enabled")], &[]);
        let none = labels(&[]);
        let off = labels(&[(WATCH_LABEL, "disabled")]);
        let on = labels(&[(WATCH_LABEL, "enabled")]);
        assert!(
            !watch_labels_allow(&off, Some(&enabled_ns), WatchMode::All),
            "FLT-01"
        );
        assert!(
            watch_labels_allow(&on, Some(&disabled_ns), WatchMode::All),
            "FLT-02"
        );
        assert!(
            !watch_labels_allow(&none, Some(&disabled_ns), WatchMode::All),
            "FLT-03"
        );
        assert!(watch_labels_allow(&none, None, WatchMode::All), "FLT-04");
        assert!(
            !watch_labels_allow(&none, Some(&ns("a", &[], &[])), WatchMode::OptIn),
            "FLT-05 no signals"
        );
        assert!(
            watch_labels_allow(&none, Some(&enabled_ns), WatchMode::OptIn),
            "FLT-05 annotation"
        );
        assert!(
            watch_labels_allow(&on, None, WatchMode::OptIn),
            "FLT-05 resource label"
        );
        assert!(
            watch_labels_allow(&none, Some(&enabled_label_ns), WatchMode::OptIn),
            "FLT-05 namespace label"
        );
        assert!(
            !watch_labels_allow(&none, Some(&disabled_label_ns), WatchMode::All),
            "FLT-06"
        );
        assert!(
            watch_labels_allow(&labels(&[(WATCH_LABEL, "Disabled")]), None, WatchMode::All),
            "case-sensitive"
        );
    }

    #[test]
    fn flt_07_08_scope_ceiling() {
        let spaces = [
            ns("team-a", &[], &[]),
            ns("team-b", &[], &[]),
            ns("kube-system", &[], &[]),
            ns("team-c", &[], &[]),
        ];
        let f =
            filter(serde_json::json!({"includedNamespaces": ["team-a", "team-b", "kube-system"]}));
        let intent = NamespaceIntent {
            filter: &f,
            namespace_selector: None,
            default_included: &[],
            default_excluded: &[],
        };
        let allowed = ["team-a".to_owned(), "team-b".to_owned()];
        let denied = ["kube-system".to_owned()];
        let sets = namespace_sets(
            &intent,
            &spaces,
            &Ceiling {
                allowed: &allowed,
                denied: &denied,
            },
        );
        assert_eq!(sets.matched, ["kube-system", "team-a", "team-b"]);
        assert_eq!(sets.effective, ["team-a", "team-b"], "FLT-07");
        let f = filter(serde_json::json!({"includedNamespaces": ["team-a", "team-b"]}));
        let intent = NamespaceIntent {
            filter: &f,
            ..intent
        };
        let allowed = ["team-b".to_owned(), "team-c".to_owned()];
        let sets = namespace_sets(
            &intent,
            &spaces,
            &Ceiling {
                allowed: &allowed,
                denied: &[],
            },
        );
        assert_eq!(sets.effective, ["team-b"], "FLT-08");
    }

    #[test]
    fn flt_09_namespace_intent() {
        let spaces = [
            ns("team-a", &[("tier", "app")], &[]),
            ns("team-b", &[("tier", "app"), ("skip", "true")], &[]),
            ns("infra-x", &[("tier", "infra")], &[]),
        ];
        let selector: LabelSelector =
            serde_json::from_value(serde_json::json!({"matchLabels": {"tier": "app"}})).unwrap();
        let run = |f: serde_json::Value, selector: Option<&LabelSelector>| {
            let f = filter(f);
            let intent = NamespaceIntent {
                filter: &f,
                namespace_selector: selector,
                default_included: &[],
                default_excluded: &[],
            };
            namespace_sets(&intent, &spaces, &Ceiling::default()).matched
        };
        assert_eq!(
            run(serde_json::json!({"includedNamespaces": ["team-a"]}), None),
            ["team-a"]
        );
        assert_eq!(
            run(serde_json::json!({}), Some(&selector)),
            ["team-a", "team-b"]
        );
        assert_eq!(
            run(
                serde_json::json!({"namespaceExcludeSelector": {"matchLabels": {"skip": "true"}}}),
                None
            ),
            ["infra-x", "team-a"]
        );
        assert_eq!(
            run(serde_json::json!({"excludedNamespaces": ["infra-x"]}), None),
            ["team-a", "team-b"]
        );
        assert!(
            run(serde_json::json!({"namespaceExcludeSelector": {}}), None).is_empty(),
            "{{}} excludes everything"
        );
        let invalid = serde_json::json!({"namespaceExcludeSelector": {"matchExpressions": [{"key": "skip", "operator": "Bogus"}]}});
        assert!(
            run(invalid, None).is_empty(),
            "an invalid exclude selector fails closed"
        );
    }

    #[test]
    fn empty_effective_sets_collect_nothing_and_defaults_apply() {
        let spaces = [ns("team-a", &[], &[]), ns("kube-system", &[], &[])];
        let f = filter(
            serde_json::json!({"includedNamespaces": ["team-a"], "excludedNamespaces": ["team-a"]}),
        );
        let intent = NamespaceIntent {
            filter: &f,
            namespace_selector: None,
            default_included: &[],
            default_excluded: &[],
        };
        assert!(
            namespace_sets(&intent, &spaces, &Ceiling::default())
                .effective
                .is_empty(),
            "DECISIONS Q2"
        );
        let f = filter(serde_json::json!({}));
        let excluded = ["kube-system".to_owned()];
        let intent = NamespaceIntent {
            filter: &f,
            namespace_selector: None,
            default_included: &[],
            default_excluded: &excluded,
        };
        assert_eq!(
            namespace_sets(&intent, &spaces, &Ceiling::default()).effective,
            ["team-a"]
        );
    }

    #[test]
    fn flt_20_watch_scope_follows_the_subscribers() {
        let team_a = vec!["team-a".to_owned()];
        let team_b = vec!["team-b".to_owned(), "team-a".to_owned()];
        assert_eq!(
            watch_namespaces([Some(team_a.as_slice())]),
            Some(team_a.clone())
        );
        assert_eq!(
            watch_namespaces([Some(team_a.as_slice()), Some(team_b.as_slice())]),
            Some(vec!["team-a".to_owned(), "team-b".to_owned()])
        );
        assert_eq!(watch_namespaces([Some(team_a.as_slice()), None]), None);
        let many: Vec<String> = (0..=MAX_NAMESPACED_WATCHES)
            .map(|i| format!("ns-{i}"))
            .collect();
        assert_eq!(watch_namespaces([Some(many.as_slice())]), None);
        // A target with a selector is bounded by its effective set; one without anything is not.
        let open = filter(serde_json::json!({}));
        let selector = LabelSelector::default();
        let intent = |namespace_selector| NamespaceIntent {
            filter: &open,
            namespace_selector,
            default_included: &[],
            default_excluded: &[],
        };
        assert!(is_unrestricted(&intent(None), &Ceiling::default()));
        assert!(!is_unrestricted(
            &intent(Some(&selector)),
            &Ceiling::default()
        ));
        let allowed = team_a.clone();
        let ceiling = Ceiling {
            allowed: &allowed,
            denied: &[],
        };
        assert!(!is_unrestricted(&intent(None), &ceiling));
    }

    #[test]
    fn flt_16_sorted_unique() {
        let input = ["zeta", "", "alpha", "zeta", "mid", ""].map(String::from);
        assert_eq!(sorted_unique(input), ["alpha", "mid", "zeta"]);
        assert!(sorted_unique(Vec::new()).is_empty());
    }

    #[test]
    fn selectors_match_like_kubernetes_and_fail_closed() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        let expression = |key: &str, operator: &str, values: Option<&[&str]>| LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: key.into(),
                operator: operator.into(),
                values: values.map(|v| v.iter().map(|s| (*s).to_owned()).collect()),
            }]),
            ..LabelSelector::default()
        };
        assert!(selector_matches(&LabelSelector::default(), &l));
        assert!(selector_matches(
            &expression("app", "In", Some(&["web", "api"])),
            &l
        ));
        assert!(!selector_matches(
            &expression("app", "NotIn", Some(&["web"])),
            &l
        ));
        assert!(selector_matches(
            &expression("missing", "NotIn", Some(&["x"])),
            &l
        ));
        assert!(selector_matches(&expression("tier", "Exists", None), &l));
        assert!(selector_matches(
            &expression("missing", "DoesNotExist", None),
            &l
        ));
        assert!(
            !selector_matches(&expression("app", "Matches", Some(&["web"])), &l),
            "unknown operator"
        );
        assert!(
            !selector_matches(&expression("app", "In", Some(&[])), &l),
            "In without values"
        );
        assert!(
            !selector_matches(&expression("app", "Exists", Some(&["web"])), &l),
            "Exists with values"
        );
    }
}
