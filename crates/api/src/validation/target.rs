//! `KollectTarget` and `KollectClusterTarget` rules (API spec §4.1, §5.2, §6.2).

use super::{
    FieldPath, Report, Settings, check_unique_entries,
    selector::{require_selector, validate_requirements, validate_selector},
};
use crate::{
    names::NamespaceName,
    v1alpha1::{CollectionFilterSpec, KollectClusterTarget, KollectTarget},
};

pub(super) fn validate_target(target: &KollectTarget, report: &mut Report) {
    let spec = &target.spec;
    let root = FieldPath::root("spec");
    validate_filter(&spec.filter, &root, report);
    if let Some(selector) = &spec.namespace_selector {
        validate_selector(selector, &root.child("namespaceSelector"), report);
    }
    if let Some(selector) = &spec.label_selector {
        validate_selector(selector, &root.child("labelSelector"), report);
    }
    for (index, name) in spec.names.as_deref().unwrap_or_default().iter().enumerate() {
        if name.trim().is_empty() {
            report.required(&root.child("names").index(index), "an object name");
        }
    }
    if !spec.filter.resource_rules().is_empty() {
        // In rules mode the legacy filters are ignored; refuse them rather than drop them.
        for (field, set) in [
            ("labelSelector", spec.label_selector.is_some()),
            ("names", spec.names.as_ref().is_some_and(|n| !n.is_empty())),
        ] {
            if set {
                report.forbidden(
                    &root.child(field),
                    format!(
                        "{field} only applies without resourceRules; express it in \
                         spec.resourceRules[] (matchLabels, matchExpressions or matchPolicy)"
                    ),
                );
            }
        }
    }
}

pub(super) fn validate_cluster_target(
    target: &KollectClusterTarget,
    settings: &Settings,
    report: &mut Report,
) {
    let spec = &target.spec;
    let root = FieldPath::root("spec");
    if settings.tenant_mode {
        report.forbidden(
            &root,
            "the operator runs with tenantMode=true: KollectClusterTarget needs cluster-wide \
             RBAC, which tenant mode does not grant; use a KollectTarget in your namespace",
        );
    }
    require_selector(
        spec.namespace_selector.as_ref(),
        &root.child("namespaceSelector"),
        "an empty selector would collect from every namespace",
        report,
    );
    validate_filter(&spec.filter, &root, report);
}

/// Rules of the collection intent shared by both target kinds.
fn validate_filter(filter: &CollectionFilterSpec, root: &FieldPath, report: &mut Report) {
    check_unique_entries(
        report,
        &root.child("includedNamespaces"),
        filter
            .included_namespaces()
            .iter()
            .map(NamespaceName::as_str),
    );
    check_unique_entries(
        report,
        &root.child("excludedNamespaces"),
        filter
            .excluded_namespaces()
            .iter()
            .map(NamespaceName::as_str),
    );
    if let Some(selector) = &filter.namespace_exclude_selector {
        validate_selector(selector, &root.child("namespaceExcludeSelector"), report);
    }
    for (index, rule) in filter.resource_rules().iter().enumerate() {
        let field = root.child("resourceRules").index(index);
        let gvk = field.child("gvk");
        if rule.gvk.version.trim().is_empty() {
            report.required(
                &gvk.child("version"),
                "the API version of the kind, e.g. v1",
            );
        }
        if rule.gvk.kind.trim().is_empty() {
            report.required(&gvk.child("kind"), "the kind, e.g. Deployment");
        }
        if let Some(selector) = &rule.namespace_selector {
            validate_selector(selector, &field.child("namespaceSelector"), report);
        }
        validate_requirements(
            rule.match_labels.as_ref(),
            rule.match_expressions.as_deref(),
            &field,
            report,
        );
        if rule
            .match_policy
            .as_deref()
            .is_some_and(|p| p.trim().is_empty())
        {
            report.required(
                &field.child("matchPolicy"),
                "a CEL predicate over `object`, or remove the field",
            );
        }
    }
}
