//! `KollectConnectionTest`: a one-shot, auditable probe of one family sink.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    common::{Conditions, conditions_schema},
    inventory::SinkFamily,
};
use crate::{k8s::Time, names::ObjectName};

/// Default time a finished test object is kept before it deletes itself.
pub const DEFAULT_TTL_SECONDS_AFTER_FINISHED: i32 = 300;

/// Probes one family sink of its namespace once and records the outcome; deleted automatically
/// after a TTL.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "kollect.dev",
    version = "v1alpha1",
    derive = "PartialEq",
    kind = "KollectConnectionTest",
    plural = "kollectconnectiontests",
    namespaced,
    status = "ConnectionTestStatus",
    shortname = "kconn",
    shortname = "kconntest",
    printcolumn = r#"{"name":"Sink","type":"string","jsonPath":".spec.sinkRef"}"#,
    printcolumn = r#"{"name":"Verified","type":"string","jsonPath":".status.conditions[?(@.type==\"ConnectionVerified\")].status"}"#,
    doc = "KollectConnectionTest probes one family sink in its namespace once, records the result \
           in its status and deletes itself ttlSecondsAfterFinished seconds later."
)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionTestSpec {
    /// The sink to probe: set exactly one of the three fields.
    pub sink_ref: ConnectionTestSinkRef,
    /// Not supported (reserved for probes that also check a profile). Setting it is rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_ref: Option<ObjectName>,
    /// Make the sink the owner of this test, so the test is deleted with the sink (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_sink: Option<bool>,
    /// Seconds to keep the finished test before it is deleted.
    #[serde(default = "default_ttl")]
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: i32,
}

fn default_ttl() -> i32 {
    DEFAULT_TTL_SECONDS_AFTER_FINISHED
}

impl ConnectionTestSpec {
    /// Whether the sink becomes the controller owner of the test.
    pub fn owner_sink(&self) -> bool {
        self.owner_sink.unwrap_or(true)
    }
}

/// Which sink a connection test probes (exactly one field set).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionTestSinkRef {
    /// Name of a `KollectSnapshotSink` in the same namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_sink_ref: Option<ObjectName>,
    /// Name of a `KollectDatabaseSink` in the same namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_sink_ref: Option<ObjectName>,
    /// Name of a `KollectEventSink` in the same namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_sink_ref: Option<ObjectName>,
}

impl ConnectionTestSinkRef {
    /// Every ref that is set, with its family.
    pub fn refs(&self) -> Vec<(SinkFamily, &ObjectName)> {
        [
            (SinkFamily::Snapshot, &self.snapshot_sink_ref),
            (SinkFamily::Database, &self.database_sink_ref),
            (SinkFamily::Event, &self.event_sink_ref),
        ]
        .into_iter()
        .filter_map(|(family, name)| name.as_ref().map(|name| (family, name)))
        .collect()
    }
}

/// Observed state of a connection test.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionTestStatus {
    /// `ConnectionVerified` and `Ready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Option<Conditions>,
    /// Generation of the last completed probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Duration of the last probe in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<i64>,
    /// True once a probe finished, successfully or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<bool>,
    /// When the probe finished; the TTL counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
}
