//! Condition types, reasons, annotations, labels and finalizers of the API.
//!
//! These strings are part of the contract (dashboards, alerts and scripts match on them), so they
//! are enums and constants, never literals at call sites.

use std::fmt;

macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+ }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The string written to the API.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownValue;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|known| known.as_str() == value)
                    .ok_or_else(|| UnknownValue(value.to_owned()))
            }
        }
    };
}

/// A string that names no known condition type or reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value {0:?}")]
pub struct UnknownValue(pub String);

string_enum!(
    /// Condition types written by Kollect.
    ConditionType {
        /// The object does what it is for.
        Ready => "Ready",
        /// Something needs attention; the reason says what.
        Degraded => "Degraded",
        /// Collection or export is in sync.
        Synced => "Synced",
        /// Bound sinks are reachable.
        SinkReachable => "SinkReachable",
        /// A sink probe succeeded.
        ConnectionVerified => "ConnectionVerified",
        /// TLS verification is disabled for a sink.
        TlsInsecure => "TLSInsecure",
        /// Legacy alias of a successful cluster-inventory export.
        ExportSucceeded => "ExportSucceeded",
        /// The inventory approaches the export size cap.
        ExportShardWarning => "ExportShardWarning",
        /// A target keeps its last rows after a transient API error.
        Stale => "Stale",
    }
);

string_enum!(
    /// Condition and Event reasons written by Kollect.
    Reason {
        /// Target collects.
        Collecting => "Collecting",
        /// RBAC denied listing in some scoped namespaces.
        ScopeForbidden => "ScopeForbidden",
        /// No inventory in the target's namespace binds a sink.
        NoSinksInNamespace => "NoSinksInNamespace",
        /// Every bound sink resolved and is verified.
        SinksReachable => "SinksReachable",
        /// `spec.suspend` is true.
        Suspended => "Suspended",
        /// The target has no profile reference.
        MissingProfileRef => "MissingProfileRef",
        /// The referenced profile does not exist.
        ProfileNotFound => "ProfileNotFound",
        /// The operator may not read the referenced profile.
        ProfileForbidden => "ProfileForbidden",
        /// Listing scopes failed.
        ScopeLookupFailed => "ScopeLookupFailed",
        /// A collected kind is outside the scope's `allowedGVKs`.
        ScopeGvkDenied => "ScopeGVKDenied",
        /// A namespace is denied by the scope.
        ScopeNamespaceDenied => "ScopeNamespaceDenied",
        /// A binding is outside the scope's sink allowlist.
        ScopeSinkDenied => "ScopeSinkDenied",
        /// A static-ref namespace is outside the cluster scope.
        SinkNamespaceDenied => "SinkNamespaceDenied",
        /// Another scope object in the namespace takes precedence.
        ShadowedScope => "ShadowedScope",
        /// The effective namespace set is empty; nothing is collected.
        NoNamespacesInScope => "NoNamespacesInScope",
        /// A watch could not be registered.
        InformerRegistrationFailed => "InformerRegistrationFailed",
        /// A watch did not finish its first sync in time.
        SyncTimeout => "SyncTimeout",
        /// The RBAC access review failed.
        AccessCheckFailed => "AccessCheckFailed",
        /// Objects fail attribute extraction.
        ExtractionFailed => "ExtractionFailed",
        /// Listing inventories failed.
        InventoryListFailed => "InventoryListFailed",
        /// A bound sink does not exist.
        SinkNotFound => "SinkNotFound",
        /// The operator may not read a bound sink.
        SinkForbidden => "SinkForbidden",
        /// Reading a sink's conditions failed.
        SinkLookupFailed => "SinkLookupFailed",
        /// A bound sink failed its probe.
        SinkUnreachable => "SinkUnreachable",
        /// The snapshot was exported.
        Exported => "Exported",
        /// Some bindings exported, others failed or were debounced.
        PartiallySynced => "PartiallySynced",
        /// Export failed transiently; retrying.
        Progressing => "Progressing",
        /// Export failed permanently; needs a fix.
        ExportTerminal => "ExportTerminal",
        /// The inventory binds no sink.
        NoExport => "NoExport",
        /// The inventory binds no sink (reachability view).
        NoSinksConfigured => "NoSinksConfigured",
        /// An export succeeded.
        ExportSucceeded => "ExportSucceeded",
        /// An export failed.
        ExportFailed => "ExportFailed",
        /// The export is waiting for its interval.
        Debounced => "Debounced",
        /// The payload exceeds the size ceiling.
        PayloadTooLarge => "PayloadTooLarge",
        /// The payload needs an object-store sink.
        SpillRequired => "SpillRequired",
        /// The inventory approaches the size cap.
        ApproachingExportCap => "ApproachingExportCap",
        /// Cleanup on deletion failed permanently.
        CleanupTerminal => "CleanupTerminal",
        /// No cluster target matches the cluster inventory.
        NoTargets => "NoTargets",
        /// A contributing cluster target is not Ready.
        TargetDegraded => "TargetDegraded",
        /// No sink backend is available.
        ExportUnavailable => "ExportUnavailable",
        /// A cluster rollup without bindings is up to date.
        RolledUp => "RolledUp",
        /// A Secret or CA could not be resolved.
        SecretResolveFailed => "SecretResolveFailed",
        /// The backend probe failed.
        ConnectionTestFailed => "ConnectionTestFailed",
        /// The backend probe succeeded.
        ConnectionOk => "ConnectionOK",
        /// TLS verification is disabled.
        InsecureSkipVerify => "InsecureSkipVerify",
        /// A connection test names no sink or several.
        InvalidSinkRef => "InvalidSinkRef",
        /// A connection test probe succeeded.
        ProbeSucceeded => "ProbeSucceeded",
        /// A reconcile panicked and was recovered.
        ReconcilePanic => "ReconcilePanic",
    }
);

/// Label that opts an object or namespace in (`enabled`) or out (`disabled`) of collection.
pub const LABEL_WATCH: &str = "kollect.dev/watch";
/// Namespace annotation with the same meaning as [`LABEL_WATCH`].
pub const ANNOTATION_NAMESPACE_WATCH: &str = "kollect.dev/namespace-watch";
/// Profile annotation (`"true"`) that permits attribute paths into `Secret.data`.
pub const ANNOTATION_ALLOW_SECRET_EXTRACTION: &str = "kollect.dev/allow-secret-extraction";
/// Profile annotation (`"true"`) that permits `export.mode: Resource` for Secret targets.
pub const ANNOTATION_ALLOW_FULL_RESOURCE_EXPORT: &str = "kollect.dev/allow-full-resource-export";
/// Sink annotation (`"true"`) that forces one probe when `spec.connectionTest` is false.
pub const ANNOTATION_TEST_CONNECTION: &str = "kollect.dev/test-connection";
/// Sink annotation (`"true"`) that renders `status.preview`.
pub const ANNOTATION_PREVIEW: &str = "kollect.dev/preview";
/// Inventory annotation; changing its value triggers an immediate export.
pub const ANNOTATION_REQUESTED_AT: &str = "kollect.dev/requestedAt";

/// Finalizer of `KollectTarget`.
pub const FINALIZER_TARGET: &str = "kollect.dev/target-cleanup";
/// Finalizer of `KollectClusterTarget`.
pub const FINALIZER_CLUSTER_TARGET: &str = "kollect.dev/cluster-target-cleanup";
/// Finalizer of `KollectInventory`.
pub const FINALIZER_INVENTORY: &str = "kollect.dev/inventory-cleanup";
/// Finalizer of `KollectClusterInventory`.
pub const FINALIZER_CLUSTER_INVENTORY: &str = "kollect.dev/cluster-inventory-cleanup";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_and_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for reason in Reason::ALL {
            assert_eq!(reason.as_str().parse::<Reason>(), Ok(*reason));
            assert!(seen.insert(reason.as_str()), "duplicate reason {reason}");
        }
        for condition in ConditionType::ALL {
            assert_eq!(condition.as_str().parse::<ConditionType>(), Ok(*condition));
        }
        assert!("Bogus".parse::<Reason>().is_err());
    }
}
