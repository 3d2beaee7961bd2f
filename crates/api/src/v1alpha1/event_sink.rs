//! `KollectEventSink`: NATS JetStream and Kafka destinations.

use std::fmt;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{common::SecretReference, sink::SinkCommonSpec, sink_status::FamilySinkStatus};

/// A stream that receives each exported snapshot as an event.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "kollect.dev",
    version = "v1alpha1",
    derive = "PartialEq",
    kind = "KollectEventSink",
    plural = "kollecteventsinks",
    namespaced,
    status = "FamilySinkStatus",
    shortname = "kevt",
    doc = "KollectEventSink is an event destination (NATS JetStream or Kafka). Inventories in \
           the same namespace bind it through eventSinkRefs."
)]
#[serde(rename_all = "camelCase")]
pub struct EventSinkSpec {
    /// Backend: `nats` or `kafka`. The block of the same name is required.
    #[serde(rename = "type")]
    pub sink_type: EventSinkType,
    /// Fields shared by all sinks.
    #[serde(flatten)]
    pub common: SinkCommonSpec,
    /// NATS settings (`type: nats`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nats: Option<NatsSpec>,
    /// Kafka settings (`type: kafka`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka: Option<KafkaSpec>,
}

/// Event sink backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventSinkType {
    /// NATS JetStream.
    Nats,
    /// Apache Kafka or a Kafka-protocol broker.
    Kafka,
}

impl EventSinkType {
    /// Every type, in the order error messages list them.
    pub const ALL: [Self; 2] = [Self::Nats, Self::Kafka];

    /// The lower-case name used in manifests (also the name of its settings block).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nats => "nats",
            Self::Kafka => "kafka",
        }
    }
}

impl fmt::Display for EventSinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// NATS JetStream settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NatsSpec {
    /// Server URL, e.g. `nats://nats.example.org:4222` (default: `spec.endpoint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// JetStream subject events are published to.
    #[schemars(length(min = 1))]
    pub subject: String,
    /// JetStream stream (default `kollect_events`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub stream: Option<String>,
    /// Secret with `token`, or `username` and `password`. Overrides `spec.secretRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretReference>,
}

/// Kafka settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaSpec {
    /// Bootstrap brokers as `host:port`. When empty, `spec.endpoint` is used.
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub brokers: Vec<String>,
    /// Destination topic.
    #[schemars(length(min = 1))]
    pub topic: String,
    /// Secret with SASL `username` and `password` (or `token`). Overrides `spec.secretRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretReference>,
}
