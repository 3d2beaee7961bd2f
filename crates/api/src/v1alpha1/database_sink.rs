//! `KollectDatabaseSink`: Postgres, MongoDB and BigQuery destinations.

use std::fmt;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{common::SecretReference, sink::SinkCommonSpec, sink_status::FamilySinkStatus};

/// A relational or document database that holds the current inventory as rows.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "kollect.dev",
    version = "v1alpha1",
    derive = "PartialEq",
    kind = "KollectDatabaseSink",
    plural = "kollectdatabasesinks",
    namespaced,
    status = "FamilySinkStatus",
    shortname = "kdb",
    doc = "KollectDatabaseSink is a database destination (Postgres, MongoDB or BigQuery). \
           Inventories in the same namespace bind it through databaseSinkRefs."
)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseSinkSpec {
    /// Backend: `postgres`, `mongodb` or `bigquery`. The block of the same name is required.
    #[serde(rename = "type")]
    pub sink_type: DatabaseSinkType,
    /// Fields shared by all sinks.
    #[serde(flatten)]
    pub common: SinkCommonSpec,
    /// Postgres settings (`type: postgres`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<PostgresSpec>,
    /// BigQuery settings (`type: bigquery`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bigquery: Option<BigQuerySpec>,
    /// MongoDB settings (`type: mongodb`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mongodb: Option<MongoDbSpec>,
}

/// Database sink backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseSinkType {
    /// PostgreSQL.
    Postgres,
    /// Google BigQuery.
    Bigquery,
    /// MongoDB.
    Mongodb,
}

impl DatabaseSinkType {
    /// Every type, in the order error messages list them.
    pub const ALL: [Self; 3] = [Self::Postgres, Self::Bigquery, Self::Mongodb];

    /// The lower-case name used in manifests (also the name of its settings block).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Bigquery => "bigquery",
            Self::Mongodb => "mongodb",
        }
    }
}

impl fmt::Display for DatabaseSinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Postgres settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostgresSpec {
    /// Secret with the connection string under `dsn`, `url`, `connectionString` or
    /// `DATABASE_URL`.
    pub database_ref: SecretReference,
    /// Destination table.
    #[schemars(length(min = 1, max = 63))]
    pub table: String,
    /// Schema of the table (default `public`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub schema: Option<String>,
    /// Keep every version of every row in a second table, `<table>_history`, beside the
    /// current-state table (default false). Each change closes the row's open version
    /// (`valid_to`) and opens a new one (`valid_from`) in the export's transaction, and a
    /// deletion closes it, so "the inventory as of time T" and "what changed between T1 and T2"
    /// are plain SQL. With `provisioning.mode: existing` the history table must exist too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<bool>,
}

impl PostgresSpec {
    /// The history table suffix (`<table>_history`).
    pub const HISTORY_SUFFIX: &'static str = "_history";

    /// Whether the history table is kept.
    pub fn history(&self) -> bool {
        self.history.unwrap_or(false)
    }

    /// The schema, `public` when unset (trimmed).
    pub fn schema_or_default(&self) -> &str {
        self.schema
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or("public")
    }
}

/// BigQuery settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BigQuerySpec {
    /// GCP project.
    #[schemars(length(min = 1))]
    pub project: String,
    /// Dataset; it must already exist.
    #[schemars(length(min = 1))]
    pub dataset: String,
    /// Table.
    #[schemars(length(min = 1))]
    pub table: String,
    /// Job location (default: the dataset's location).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Secret with a service-account JSON key under `credentials.json`. Absent: Application
    /// Default Credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretReference>,
}

/// MongoDB settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MongoDbSpec {
    /// Secret with the connection URI under `uri`, `url`, `connectionString` or `MONGODB_URI`.
    pub database_ref: SecretReference,
    /// Database.
    #[schemars(length(min = 1))]
    pub database: String,
    /// Collection.
    #[schemars(length(min = 1))]
    pub collection: String,
}
