//! `KollectInventory` and `KollectClusterInventory` rules (API spec §7.1, §8.2, §9.2).

use std::collections::BTreeSet;

use super::{
    FieldPath, Report, Settings, check_interval, check_unique_entries,
    selector::{require_selector, validate_selector},
};
use crate::names::NamespaceName;
use crate::v1alpha1::{
    InventorySinkRef, KollectClusterInventory, KollectInventory, MAX_SINK_REFS, SinkFamily,
    SinkRefLists,
};

/// Where a sink ref may name a namespace.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RefNamespace {
    /// Namespaced inventories: sinks live in the inventory's namespace.
    Forbidden,
    /// Cluster inventories: any namespace, default `spec.sinkNamespace`.
    Allowed,
}

pub(super) fn validate_inventory(
    inventory: &KollectInventory,
    settings: &Settings,
    report: &mut Report,
) {
    let spec = &inventory.spec;
    let root = FieldPath::root("spec");
    validate_bindings(
        &spec.sinks,
        &root,
        RefNamespace::Forbidden,
        settings,
        report,
    );
    if let Some(interval) = &spec.export_min_interval {
        check_interval(report, &root.child("exportMinInterval"), interval);
    }
    if let Some(bytes) = spec.max_export_bytes {
        check_export_bytes(report, &root.child("maxExportBytes"), bytes, settings);
    }
    if spec.http_endpoint.is_some() {
        report.forbidden(
            &root.child("httpEndpoint"),
            "not supported: the read-only HTTP API is configured with operator flags \
             (--inventory-http-enabled); remove the field",
        );
    }
}

pub(super) fn validate_cluster_inventory(
    inventory: &KollectClusterInventory,
    settings: &Settings,
    report: &mut Report,
) {
    let spec = &inventory.spec;
    let root = FieldPath::root("spec");
    if settings.tenant_mode {
        report.forbidden(
            &root,
            "the operator runs with tenantMode=true: KollectClusterInventory needs cluster-wide \
             RBAC, which tenant mode does not grant; use a KollectInventory in your namespace",
        );
    }
    if spec.profile_ref.is_some() {
        report.forbidden(
            &root.child("profileRef"),
            "not supported yet: a cluster inventory exports the rows its cluster targets \
             extract; remove the field",
        );
    }
    let mut seen = BTreeSet::new();
    for (index, name) in spec
        .target_refs
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if !seen.insert(name.as_str()) {
            report.duplicate(&root.child("targetRefs").index(index), name.as_str());
        }
    }
    if let Some(selector) = &spec.target_selector {
        validate_selector(selector, &root.child("targetSelector"), report);
    }
    require_selector(
        spec.namespace_selector.as_ref(),
        &root.child("namespaceSelector"),
        "an empty selector would roll up every namespace",
        report,
    );
    check_unique_entries(
        report,
        &root.child("namespaces"),
        spec.namespaces
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(NamespaceName::as_str),
    );
    validate_bindings(&spec.sinks, &root, RefNamespace::Allowed, settings, report);
    if let Some(interval) = &spec.export_min_interval {
        check_interval(report, &root.child("exportMinInterval"), interval);
    }
}

fn validate_bindings(
    sinks: &SinkRefLists,
    root: &FieldPath,
    namespace: RefNamespace,
    settings: &Settings,
    report: &mut Report,
) {
    let total = sinks.bindings().len();
    if total > MAX_SINK_REFS {
        report.invalid(
            root,
            total,
            format!(
                "an inventory binds at most {MAX_SINK_REFS} sinks across snapshotSinkRefs, \
                 databaseSinkRefs and eventSinkRefs; split it into several inventories"
            ),
        );
        return;
    }
    for family in SinkFamily::ALL {
        let list = root.child(family.list_field());
        let mut seen = BTreeSet::new();
        for (index, sink_ref) in sinks.refs(family).iter().enumerate() {
            let field = list.index(index);
            if !seen.insert(sink_ref.name.as_str()) {
                report.duplicate(&field.child("name"), sink_ref.name.as_str());
            }
            validate_ref(sink_ref, &field, family, namespace, settings, report);
        }
    }
}

fn validate_ref(
    sink_ref: &InventorySinkRef,
    field: &FieldPath,
    family: SinkFamily,
    namespace: RefNamespace,
    settings: &Settings,
    report: &mut Report,
) {
    if namespace == RefNamespace::Forbidden && sink_ref.namespace.is_some() {
        report.forbidden(
            &field.child("namespace"),
            format!(
                "a KollectInventory binds {} objects of its own namespace only; remove namespace",
                family.kind()
            ),
        );
    }
    if let Some(interval) = &sink_ref.export_min_interval {
        check_interval(report, &field.child("exportMinInterval"), interval);
    }
    if let Some(bytes) = sink_ref.max_export_bytes {
        check_export_bytes(report, &field.child("maxExportBytes"), bytes, settings);
    }
}

fn check_export_bytes(report: &mut Report, field: &FieldPath, bytes: i64, settings: &Settings) {
    if bytes <= 0 {
        report.invalid(field, bytes, "must be positive");
    } else if u64::try_from(bytes).is_ok_and(|b| b > settings.max_export_bytes) {
        report.invalid(
            field,
            bytes,
            format!(
                "exceeds the operator's export cap of {} bytes (--max-export-bytes)",
                settings.max_export_bytes
            ),
        );
    }
}
