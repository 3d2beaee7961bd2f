//! [`Kind`] lists the eleven kinds with their API metadata; [`KollectObject`] holds any one
//! object of them.

use std::{fmt, str::FromStr};

use kube::core::CustomResourceExt;

use super::{
    KollectClusterInventory, KollectClusterScope, KollectClusterTarget, KollectConnectionTest,
    KollectDatabaseSink, KollectEventSink, KollectInventory, KollectProfile, KollectScope,
    KollectSnapshotSink, KollectTarget, UnknownValue,
};
use crate::k8s::{CustomResourceDefinition, ObjectMeta};

/// One of the eleven kinds of `kollect.dev/v1alpha1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `KollectProfile`.
    Profile,
    /// `KollectTarget`.
    Target,
    /// `KollectClusterTarget`.
    ClusterTarget,
    /// `KollectInventory`.
    Inventory,
    /// `KollectClusterInventory`.
    ClusterInventory,
    /// `KollectSnapshotSink`.
    SnapshotSink,
    /// `KollectDatabaseSink`.
    DatabaseSink,
    /// `KollectEventSink`.
    EventSink,
    /// `KollectScope`.
    Scope,
    /// `KollectClusterScope`.
    ClusterScope,
    /// `KollectConnectionTest`.
    ConnectionTest,
}

impl Kind {
    /// Every kind, in the order the specification lists them.
    pub const ALL: [Self; 11] = [
        Self::Profile,
        Self::Target,
        Self::ClusterTarget,
        Self::Inventory,
        Self::ClusterInventory,
        Self::SnapshotSink,
        Self::DatabaseSink,
        Self::EventSink,
        Self::Scope,
        Self::ClusterScope,
        Self::ConnectionTest,
    ];

    /// The kind name, e.g. `KollectProfile`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Profile => "KollectProfile",
            Self::Target => "KollectTarget",
            Self::ClusterTarget => "KollectClusterTarget",
            Self::Inventory => "KollectInventory",
            Self::ClusterInventory => "KollectClusterInventory",
            Self::SnapshotSink => "KollectSnapshotSink",
            Self::DatabaseSink => "KollectDatabaseSink",
            Self::EventSink => "KollectEventSink",
            Self::Scope => "KollectScope",
            Self::ClusterScope => "KollectClusterScope",
            Self::ConnectionTest => "KollectConnectionTest",
        }
    }

    /// The finished CustomResourceDefinition of the kind (see [`crate::crd`]).
    pub fn crd(self) -> CustomResourceDefinition {
        crate::crd::crd(self)
    }

    /// The CRD exactly as kube-derive generates it, before [`crate::crd`] finishes it.
    pub(crate) fn derived_crd(self) -> CustomResourceDefinition {
        match self {
            Self::Profile => KollectProfile::crd(),
            Self::Target => KollectTarget::crd(),
            Self::ClusterTarget => KollectClusterTarget::crd(),
            Self::Inventory => KollectInventory::crd(),
            Self::ClusterInventory => KollectClusterInventory::crd(),
            Self::SnapshotSink => KollectSnapshotSink::crd(),
            Self::DatabaseSink => KollectDatabaseSink::crd(),
            Self::EventSink => KollectEventSink::crd(),
            Self::Scope => KollectScope::crd(),
            Self::ClusterScope => KollectClusterScope::crd(),
            Self::ConnectionTest => KollectConnectionTest::crd(),
        }
    }

    /// Whether objects of the kind live in a namespace.
    pub fn is_namespaced(self) -> bool {
        !matches!(
            self,
            Self::ClusterTarget | Self::ClusterInventory | Self::ClusterScope
        )
    }

    /// Path of the kind's validating webhook.
    pub fn webhook_path(self) -> String {
        format!(
            "/validate-kollect-dev-v1alpha1-{}",
            self.as_str().to_ascii_lowercase()
        )
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = UnknownValue;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == value)
            .ok_or_else(|| UnknownValue(value.to_owned()))
    }
}

/// Any object of `kollect.dev/v1alpha1`.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // objects are decoded one at a time; boxing buys nothing
pub enum KollectObject {
    /// A `KollectProfile`.
    Profile(KollectProfile),
    /// A `KollectTarget`.
    Target(KollectTarget),
    /// A `KollectClusterTarget`.
    ClusterTarget(KollectClusterTarget),
    /// A `KollectInventory`.
    Inventory(KollectInventory),
    /// A `KollectClusterInventory`.
    ClusterInventory(KollectClusterInventory),
    /// A `KollectSnapshotSink`.
    SnapshotSink(KollectSnapshotSink),
    /// A `KollectDatabaseSink`.
    DatabaseSink(KollectDatabaseSink),
    /// A `KollectEventSink`.
    EventSink(KollectEventSink),
    /// A `KollectScope`.
    Scope(KollectScope),
    /// A `KollectClusterScope`.
    ClusterScope(KollectClusterScope),
    /// A `KollectConnectionTest`.
    ConnectionTest(KollectConnectionTest),
}

macro_rules! for_each_object {
    ($value:expr, $object:ident => $body:expr) => {
        match $value {
            KollectObject::Profile($object) => $body,
            KollectObject::Target($object) => $body,
            KollectObject::ClusterTarget($object) => $body,
            KollectObject::Inventory($object) => $body,
            KollectObject::ClusterInventory($object) => $body,
            KollectObject::SnapshotSink($object) => $body,
            KollectObject::DatabaseSink($object) => $body,
            KollectObject::EventSink($object) => $body,
            KollectObject::Scope($object) => $body,
            KollectObject::ClusterScope($object) => $body,
            KollectObject::ConnectionTest($object) => $body,
        }
    };
}

impl KollectObject {
    /// Decodes a JSON object of the given kind. The error carries the path of the failing field.
    pub fn from_value(
        kind: Kind,
        value: &serde_json::Value,
    ) -> Result<Self, serde_path_to_error::Error<serde_json::Error>> {
        fn decode<T: serde::de::DeserializeOwned>(
            value: &serde_json::Value,
        ) -> Result<T, serde_path_to_error::Error<serde_json::Error>> {
            serde_path_to_error::deserialize(value)
        }
        Ok(match kind {
            Kind::Profile => Self::Profile(decode(value)?),
            Kind::Target => Self::Target(decode(value)?),
            Kind::ClusterTarget => Self::ClusterTarget(decode(value)?),
            Kind::Inventory => Self::Inventory(decode(value)?),
            Kind::ClusterInventory => Self::ClusterInventory(decode(value)?),
            Kind::SnapshotSink => Self::SnapshotSink(decode(value)?),
            Kind::DatabaseSink => Self::DatabaseSink(decode(value)?),
            Kind::EventSink => Self::EventSink(decode(value)?),
            Kind::Scope => Self::Scope(decode(value)?),
            Kind::ClusterScope => Self::ClusterScope(decode(value)?),
            Kind::ConnectionTest => Self::ConnectionTest(decode(value)?),
        })
    }

    /// The kind of the object.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Profile(_) => Kind::Profile,
            Self::Target(_) => Kind::Target,
            Self::ClusterTarget(_) => Kind::ClusterTarget,
            Self::Inventory(_) => Kind::Inventory,
            Self::ClusterInventory(_) => Kind::ClusterInventory,
            Self::SnapshotSink(_) => Kind::SnapshotSink,
            Self::DatabaseSink(_) => Kind::DatabaseSink,
            Self::EventSink(_) => Kind::EventSink,
            Self::Scope(_) => Kind::Scope,
            Self::ClusterScope(_) => Kind::ClusterScope,
            Self::ConnectionTest(_) => Kind::ConnectionTest,
        }
    }

    /// The object's metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        for_each_object!(self, object => &object.metadata)
    }

    /// The object's name (empty when unset).
    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }

    /// The object's namespace, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.metadata().namespace.as_deref()
    }

    /// The object encoded as JSON.
    pub fn to_value(&self) -> serde_json::Value {
        let encoded = for_each_object!(self, object => serde_json::to_value(object));
        encoded.expect("Kollect API types always encode to JSON: keys are strings, no NaN floats")
    }
}
