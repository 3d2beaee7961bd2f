//! Identifiers of the export contract: which inventory ([`InventoryKey`]), which sink object
//! ([`SinkId`], also the circuit-breaker key of DECISIONS D18), which backend ([`SinkType`]) and
//! which content ([`Digest`]).
//!
//! Each is validated once, in `FromStr`/`TryFrom`, and is cheap to compare and hash.

use std::{fmt, str::FromStr};

use kollect_api::{
    names::{NameError, NamespaceName, ObjectName},
    v1alpha1::{DatabaseSinkType, EventSinkType, SinkFamily, SnapshotSinkType},
};

/// An identifier that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// One segment is not a valid Kubernetes name.
    #[error("invalid {what} {value:?}")]
    Name {
        /// Which segment (`namespace`, `name`).
        what: &'static str,
        /// The rejected text.
        value: String,
        /// Why the name is invalid.
        #[source]
        source: NameError,
    },
    /// The text does not have the expected shape.
    #[error("expected {expected}, got {value:?}")]
    Shape {
        /// The accepted shape.
        expected: &'static str,
        /// The rejected text.
        value: String,
    },
}

fn object_name(what: &'static str, value: &str) -> Result<ObjectName, IdError> {
    value.parse().map_err(|source| IdError::Name {
        what,
        value: value.to_owned(),
        source,
    })
}

fn namespace_name(value: &str) -> Result<NamespaceName, IdError> {
    value.parse().map_err(|source| IdError::Name {
        what: "namespace",
        value: value.to_owned(),
        source,
    })
}

/// The inventory an export belongs to: a `KollectInventory` (`<namespace>/<name>`) or a
/// `KollectClusterInventory` (`<name>`, no namespace).
///
/// The two kinds have separate key spaces (DECISIONS API 24): `Display` writes `team-a/apps`
/// for a namespaced inventory and `fleet` for a cluster inventory, and `FromStr` reads both
/// back (object names never contain `/`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InventoryKey {
    namespace: Option<NamespaceName>,
    name: ObjectName,
}

/// The path segment that stands for the namespace of a cluster inventory (pipeline spec §5.5,
/// sinks spec §1.8; kept for compatibility, DECISIONS D31).
pub const CLUSTER_PATH_NAMESPACE: &str = "cluster";

impl InventoryKey {
    /// A namespaced `KollectInventory`.
    pub fn namespaced(namespace: NamespaceName, name: ObjectName) -> Self {
        Self {
            namespace: Some(namespace),
            name,
        }
    }

    /// A `KollectClusterInventory`.
    pub fn cluster(name: ObjectName) -> Self {
        Self {
            namespace: None,
            name,
        }
    }

    /// The namespace; `None` for a cluster inventory.
    pub fn namespace(&self) -> Option<&NamespaceName> {
        self.namespace.as_ref()
    }

    /// The inventory's name.
    pub fn name(&self) -> &ObjectName {
        &self.name
    }

    /// Whether this is a `KollectClusterInventory`.
    pub fn is_cluster(&self) -> bool {
        self.namespace.is_none()
    }

    /// The namespace as it appears in object paths and database rows: the inventory namespace,
    /// or `cluster` for a cluster inventory.
    pub fn path_namespace(&self) -> &str {
        self.namespace
            .as_ref()
            .map_or(CLUSTER_PATH_NAMESPACE, NamespaceName::as_str)
    }

    /// The base object path (pipeline spec §5.5): `inventory/<namespace>/<name>.json`, or
    /// `inventory/cluster/<name>.json` for a cluster inventory.
    pub fn base_path(&self) -> String {
        format!("inventory/{}/{}.json", self.path_namespace(), self.name)
    }
}

impl fmt::Display for InventoryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{namespace}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl FromStr for InventoryKey {
    type Err = IdError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.split_once('/') {
            None => Ok(Self::cluster(object_name("name", value)?)),
            Some((namespace, name)) if !name.contains('/') => Ok(Self::namespaced(
                namespace_name(namespace)?,
                object_name("name", name)?,
            )),
            Some(_) => Err(IdError::Shape {
                expected: "<namespace>/<name> or <name>",
                value: value.to_owned(),
            }),
        }
    }
}

/// One sink object: namespace, family and name.
///
/// `Display` writes `<namespace>/<family>/<name>` (`team-a/database/warehouse`): the key of the
/// sink's circuit breaker (DECISIONS D18: a snapshot sink and a database sink of the same name
/// do not share a breaker). [`SinkId::export_key`] is the `<family>/<name>` key of
/// `status.sinkExports[]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SinkId {
    namespace: NamespaceName,
    family: SinkFamily,
    name: ObjectName,
}

impl SinkId {
    /// The sink `name` of `family` in `namespace`.
    pub fn new(namespace: NamespaceName, family: SinkFamily, name: ObjectName) -> Self {
        Self {
            namespace,
            family,
            name,
        }
    }

    /// The sink object's namespace.
    pub fn namespace(&self) -> &NamespaceName {
        &self.namespace
    }

    /// The sink family (its kind).
    pub fn family(&self) -> SinkFamily {
        self.family
    }

    /// The sink object's name.
    pub fn name(&self) -> &ObjectName {
        &self.name
    }

    /// The export key of the binding in inventory status: `<family>/<name>`.
    pub fn export_key(&self) -> String {
        format!("{}/{}", self.family, self.name)
    }
}

impl fmt::Display for SinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.family, self.name)
    }
}

impl FromStr for SinkId {
    type Err = IdError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let shape = || IdError::Shape {
            expected: "<namespace>/<snapshot|database|event>/<name>",
            value: value.to_owned(),
        };
        let mut segments = value.split('/');
        let (Some(namespace), Some(family), Some(name), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(shape());
        };
        let family = SinkFamily::ALL
            .into_iter()
            .find(|known| known.as_str() == family)
            .ok_or_else(shape)?;
        Ok(Self::new(
            namespace_name(namespace)?,
            family,
            object_name("name", name)?,
        ))
    }
}

/// A backend type: the `spec.type` of a family sink. A bounded set, so it is also the
/// `sink_type` metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SinkType {
    /// Git remote (snapshot).
    Git,
    /// GitLab project (snapshot).
    Gitlab,
    /// S3 or S3-compatible object store (snapshot).
    S3,
    /// Google Cloud Storage (snapshot).
    Gcs,
    /// PostgreSQL (database).
    Postgres,
    /// MongoDB (database).
    Mongodb,
    /// BigQuery (database).
    Bigquery,
    /// Kafka (event).
    Kafka,
    /// NATS JetStream (event).
    Nats,
}

impl SinkType {
    /// Every type, grouped by family.
    pub const ALL: [Self; 9] = [
        Self::Git,
        Self::Gitlab,
        Self::S3,
        Self::Gcs,
        Self::Postgres,
        Self::Mongodb,
        Self::Bigquery,
        Self::Kafka,
        Self::Nats,
    ];

    /// The lower-case name used in manifests and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Git => "git",
            Self::Gitlab => "gitlab",
            Self::S3 => "s3",
            Self::Gcs => "gcs",
            Self::Postgres => "postgres",
            Self::Mongodb => "mongodb",
            Self::Bigquery => "bigquery",
            Self::Kafka => "kafka",
            Self::Nats => "nats",
        }
    }

    /// The family whose kind admits this type.
    pub fn family(self) -> SinkFamily {
        match self {
            Self::Git | Self::Gitlab | Self::S3 | Self::Gcs => SinkFamily::Snapshot,
            Self::Postgres | Self::Mongodb | Self::Bigquery => SinkFamily::Database,
            Self::Kafka | Self::Nats => SinkFamily::Event,
        }
    }

    /// Whether the backend is an object store, which takes parts up to the binding's ceiling;
    /// other backends keep parts within [`crate::INLINE_MAX_PART_BYTES`].
    pub fn is_object_store(self) -> bool {
        matches!(self, Self::S3 | Self::Gcs)
    }
}

impl fmt::Display for SinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SinkType {
    type Err = IdError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|known| known.as_str() == value)
            .ok_or_else(|| IdError::Shape {
                expected: "a sink type (git, gitlab, s3, gcs, postgres, mongodb, bigquery, kafka, nats)",
                value: value.to_owned(),
            })
    }
}

impl From<SnapshotSinkType> for SinkType {
    fn from(value: SnapshotSinkType) -> Self {
        match value {
            SnapshotSinkType::Git => Self::Git,
            SnapshotSinkType::Gitlab => Self::Gitlab,
            SnapshotSinkType::S3 => Self::S3,
            SnapshotSinkType::Gcs => Self::Gcs,
        }
    }
}

impl From<DatabaseSinkType> for SinkType {
    fn from(value: DatabaseSinkType) -> Self {
        match value {
            DatabaseSinkType::Postgres => Self::Postgres,
            DatabaseSinkType::Mongodb => Self::Mongodb,
            DatabaseSinkType::Bigquery => Self::Bigquery,
        }
    }
}

impl From<EventSinkType> for SinkType {
    fn from(value: EventSinkType) -> Self {
        match value {
            EventSinkType::Kafka => Self::Kafka,
            EventSinkType::Nats => Self::Nats,
        }
    }
}

/// A content digest: 64 lowercase hex digits of SHA-256 (an items fingerprint, a parts digest or
/// a cluster composite, pipeline spec §3.4). Exports are idempotent per (inventory, generation,
/// digest).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(String);

impl Digest {
    /// The digest as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps the output of [`kollect_aggregate::sha256_hex`] and the digests built from it,
    /// which are 64 lowercase hex digits by construction.
    pub(crate) fn from_sha256_hex(hex: String) -> Self {
        debug_assert!(is_sha256_hex(&hex), "not a SHA-256 hex digest: {hex:?}");
        Self(hex)
    }
}

fn is_sha256_hex(value: &str) -> bool {
    value.len() == 64
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Digest {
    type Err = IdError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        if is_sha256_hex(value) {
            Ok(Self(value.to_owned()))
        } else {
            Err(IdError::Shape {
                expected: "64 lowercase hex digits",
                value: value.to_owned(),
            })
        }
    }
}

impl TryFrom<String> for Digest {
    type Error = IdError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        if is_sha256_hex(&value) {
            Ok(Self(value))
        } else {
            Err(IdError::Shape {
                expected: "64 lowercase hex digits",
                value,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[test]
    fn inventory_keys_round_trip_and_keep_cluster_inventories_apart() {
        let namespaced: InventoryKey = "team-a/apps".parse().unwrap();
        assert_eq!(namespaced.to_string(), "team-a/apps");
        assert_eq!(namespaced.base_path(), "inventory/team-a/apps.json");
        let cluster: InventoryKey = "fleet".parse().unwrap();
        assert!(cluster.is_cluster());
        assert_eq!(cluster.to_string(), "fleet");
        assert_eq!(cluster.base_path(), "inventory/cluster/fleet.json");
        // A namespace called `cluster` shares the path (D31) but never the key.
        let lookalike: InventoryKey = "cluster/fleet".parse().unwrap();
        assert_eq!(lookalike.base_path(), cluster.base_path());
        assert_ne!(lookalike, cluster);
    }

    #[rstest]
    #[case("")]
    #[case("/apps")]
    #[case("team-a/")]
    #[case("a/b/c")]
    #[case("Team-A/apps")]
    #[case("team_a/apps")]
    fn odd_inventory_keys_are_rejected(#[case] text: &str) {
        assert!(text.parse::<InventoryKey>().is_err(), "{text:?}");
    }

    #[test]
    fn sink_ids_carry_the_family_in_the_breaker_key() {
        let id: SinkId = "team-a/database/warehouse".parse().unwrap();
        assert_eq!(id.family(), SinkFamily::Database);
        assert_eq!(id.to_string(), "team-a/database/warehouse");
        assert_eq!(id.export_key(), "database/warehouse");
        let other: SinkId = "team-a/snapshot/warehouse".parse().unwrap();
        assert_ne!(id, other);
    }

    #[rstest]
    #[case("team-a/warehouse")]
    #[case("team-a/databases/warehouse")]
    #[case("team-a/database/warehouse/extra")]
    #[case("team-a/database/")]
    #[case("/database/warehouse")]
    fn odd_sink_ids_are_rejected(#[case] text: &str) {
        assert!(text.parse::<SinkId>().is_err(), "{text:?}");
    }

    #[test]
    fn sink_types_cover_every_api_type_and_name_their_family() {
        for sink_type in SinkType::ALL {
            assert_eq!(sink_type.as_str().parse::<SinkType>(), Ok(sink_type));
        }
        for t in [
            SnapshotSinkType::Git,
            SnapshotSinkType::Gitlab,
            SnapshotSinkType::S3,
            SnapshotSinkType::Gcs,
        ] {
            assert_eq!(SinkType::from(t).as_str(), t.as_str());
            assert_eq!(SinkType::from(t).family(), SinkFamily::Snapshot);
        }
        for t in DatabaseSinkType::ALL {
            assert_eq!(SinkType::from(t).as_str(), t.as_str());
            assert_eq!(SinkType::from(t).family(), SinkFamily::Database);
        }
        for t in EventSinkType::ALL {
            assert_eq!(SinkType::from(t).as_str(), t.as_str());
            assert_eq!(SinkType::from(t).family(), SinkFamily::Event);
        }
        assert!("azureblob".parse::<SinkType>().is_err());
    }

    #[rstest]
    #[case(
        "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
        true
    )]
    #[case(
        "4F53CDA18C2BAA0C0354BB5F9A3ECBE5ED12AB4D8E11BA873C2F11161202B945",
        false
    )]
    #[case("4f53cda1", false)]
    #[case("", false)]
    #[case(
        "zz53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
        false
    )]
    fn digests_are_64_lowercase_hex_digits(#[case] text: &str, #[case] valid: bool) {
        assert_eq!(text.parse::<Digest>().is_ok(), valid);
        assert_eq!(Digest::try_from(text.to_owned()).is_ok(), valid);
    }
}
