//! The `kollect.dev/v1alpha1` kinds.
//!
//! ```text
//!  KollectProfile ──> KollectTarget ──┐                      ┌─> KollectSnapshotSink
//!         │                           ├─> KollectInventory ──┼─> KollectDatabaseSink
//!         └────> KollectClusterTarget ┴─> KollectCluster-    └─> KollectEventSink
//!                                          Inventory               ▲
//!  KollectScope / KollectClusterScope: ceilings       KollectConnectionTest ─┘ (probe)
//! ```

mod common;
mod connection_test;
mod database_sink;
mod event_sink;
mod filter;
mod inventory;
mod object;
mod profile;
mod scope;
mod sink;
mod sink_status;
mod snapshot_sink;
mod target;
mod wellknown;

pub use common::{Conditions, GroupVersionKind, NamespacedObjectReference, SecretReference};
pub use connection_test::{
    ConnectionTestSinkRef, ConnectionTestSpec, ConnectionTestStatus,
    DEFAULT_TTL_SECONDS_AFTER_FINISHED, KollectConnectionTest,
};
pub use database_sink::{
    BigQuerySpec, DatabaseSinkSpec, DatabaseSinkType, KollectDatabaseSink, MongoDbSpec,
    PostgresSpec,
};
pub use event_sink::{EventSinkSpec, EventSinkType, KafkaSpec, KollectEventSink, NatsSpec};
pub use filter::{CollectionFilterSpec, CollectionFilterStatus, ResourceRule};
pub use inventory::{
    ClusterInventorySpec, ClusterInventoryStatus, DEFAULT_SINK_NAMESPACE, Dedupe, DeletionPolicy,
    HttpEndpointSpec, InventorySinkRef, InventorySpec, InventoryStatus, KollectClusterInventory,
    KollectInventory, MAX_SINK_REFS, NamespaceShardStatus, SinkExportStatus, SinkFamily,
    SinkRefLists,
};
pub use object::{Kind, KollectObject};
pub use profile::{
    AttributeSpec, ExportInclude, ExportMode, ExportSpec, KollectProfile, MetricSpec, ProfileSpec,
    ProfileStatus, PruneSpec,
};
pub use scope::{
    ClusterScopeSpec, KollectClusterScope, KollectScope, ScopeCeilingSpec, ScopeSpec,
    SinkAllowlists,
};
pub use sink::{
    CaBundle, Compression, FilenameSpec, GroupInPath, LayoutContent, LayoutIndexSpec, LayoutMode,
    LayoutSpec, MAX_CA_BUNDLE_BYTES, NamingSpec, ProvisioningMode, ProvisioningSpec,
    SerializationFormat, SerializationSpec, SinkCommonSpec, TlsSpec,
};
pub use sink_status::{
    FamilySinkStatus, GitPreview, KafkaPreview, LayoutPreview, MongoDbPreview, PostgresPreview,
    SinkPreviewStatus,
};
pub use snapshot_sink::{
    GitAuthSpec, GitAuthType, GitAuthor, GitEngine, GitLabSpec, GitSpec, HttpSinkSpec,
    KollectSnapshotSink, MergeRequestMode, MergeRequestSpec, ObjectStoreFormat, ObjectStoreSpec,
    PushPolicy, SnapshotSinkSpec, SnapshotSinkType,
};
pub use target::{
    ClusterTargetSpec, ClusterTargetStatus, KollectClusterTarget, KollectTarget, TargetSpec,
    TargetStatus, WatchMode,
};
pub use wellknown::{
    ANNOTATION_ALLOW_FULL_RESOURCE_EXPORT, ANNOTATION_ALLOW_SECRET_EXTRACTION,
    ANNOTATION_NAMESPACE_WATCH, ANNOTATION_PREVIEW, ANNOTATION_REQUESTED_AT,
    ANNOTATION_TEST_CONNECTION, ConditionType, FINALIZER_CLUSTER_INVENTORY,
    FINALIZER_CLUSTER_TARGET, FINALIZER_INVENTORY, FINALIZER_TARGET, LABEL_WATCH, Reason,
    UnknownValue,
};

/// API group of every Kollect kind.
pub const GROUP: &str = "kollect.dev";
/// The one served version.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of every Kollect object.
pub const API_VERSION: &str = "kollect.dev/v1alpha1";
