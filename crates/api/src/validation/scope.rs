//! `KollectScope` and `KollectClusterScope` rules (API spec §12.2–§12.4).

use super::{FieldPath, Report, check_interval, check_unique_entries};
use crate::names::{NamespaceName, ObjectName};
use crate::v1alpha1::{
    KollectClusterScope, KollectScope, ScopeCeilingSpec, SinkAllowlists, SinkFamily,
};

pub(super) fn validate_scope(scope: &KollectScope, report: &mut Report) {
    let root = FieldPath::root("spec");
    validate_ceiling(&scope.spec.ceiling, &root, report);
    validate_sink_lists(&scope.spec.sinks, &root, report);
}

pub(super) fn validate_cluster_scope(scope: &KollectClusterScope, report: &mut Report) {
    let root = FieldPath::root("spec");
    validate_ceiling(&scope.spec.ceiling, &root, report);
    validate_sink_lists(&scope.spec.sinks, &root, report);
}

fn validate_ceiling(ceiling: &ScopeCeilingSpec, root: &FieldPath, report: &mut Report) {
    for (index, gvk) in ceiling.allowed_gvks().iter().enumerate() {
        let field = root.child("allowedGVKs").index(index);
        if gvk.version.trim().is_empty() {
            report.required(&field.child("version"), "the API version, e.g. v1");
        }
        if gvk.kind.trim().is_empty() {
            report.required(&field.child("kind"), "the kind, e.g. Deployment");
        }
    }
    check_unique_entries(
        report,
        &root.child("allowedNamespaces"),
        ceiling
            .allowed_namespaces()
            .iter()
            .map(NamespaceName::as_str),
    );
    check_unique_entries(
        report,
        &root.child("deniedNamespaces"),
        ceiling
            .denied_namespaces()
            .iter()
            .map(NamespaceName::as_str),
    );
    for denied in ceiling.denied_namespaces() {
        if ceiling.allowed_namespaces().contains(denied) {
            report.warn(
                Some(&root.child("allowedNamespaces")),
                format!("namespace {denied:?} is both allowed and denied; denied wins"),
            );
        }
    }
    if let Some(interval) = &ceiling.min_export_interval {
        check_interval(report, &root.child("minExportInterval"), interval);
    }
}

fn validate_sink_lists(sinks: &SinkAllowlists, root: &FieldPath, report: &mut Report) {
    for family in SinkFamily::ALL {
        check_unique_entries(
            report,
            &root.child(family.list_field()),
            sinks.allowed(family).iter().map(ObjectName::as_str),
        );
    }
}
