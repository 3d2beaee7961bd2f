//! The destinations of the tests (`SecantusDB` started by the test, or the real server of
//! `KOLLECT_IT_MONGODB_URI`), sink specs pointing at them, and reading back what a sink wrote
//! with a client of the test's own.
//!
//! *Writes* are what the server itself counts: the `top` command's per-collection counters of
//! `insert`, `update` and `remove` operations. Every test uses its own database, so the counters
//! of its collection see only its own sink's writes; reads (`find`) and provisioning commands
//! are not writes there.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use kollect_api::v1alpha1::{
    DatabaseSinkSpec, DatabaseSinkType, MongoDbSpec, SecretReference, SinkCommonSpec,
};
use kollect_export::{
    BoxError, InventoryKey, ResolvedSinkSpec, Secrets, Sink, SinkSpec, TargetRow,
    conformance::Harness,
};
use kollect_sinks::database::mongodb::{MongoDbSink, MongoDbSinkFactory};
use mongodb::{
    Client,
    bson::{Bson, Document, doc},
};
use serde_json::Value;

use super::server::Server;

/// The collection every test writes to (each test has its own database).
pub const COLLECTION: &str = "inventory";

/// The variable naming a real MongoDB server for the gated tests.
pub const REAL_URI_VARIABLE: &str = "KOLLECT_IT_MONGODB_URI";

/// A MongoDB server the test writes to, and a client of the test's own on it.
pub struct Env {
    uri: String,
    client: Client,
    /// Kept running as long as the environment lives.
    _server: Option<Server>,
}

impl Env {
    /// Starts `SecantusDB` for this test.
    pub async fn secantus() -> Self {
        let server = Server::start();
        let uri = server.uri("");
        Self::connect(uri, Some(server)).await
    }

    /// The real server of `KOLLECT_IT_MONGODB_URI`, when the variable is set.
    pub async fn real() -> Option<Self> {
        let uri = std::env::var(REAL_URI_VARIABLE)
            .ok()
            .filter(|uri| !uri.trim().is_empty())?;
        Some(Self::connect(uri.trim().to_owned(), None).await)
    }

    /// A client on `uri`, with `server` kept running as long as the environment lives.
    pub async fn connect(uri: String, server: Option<Server>) -> Self {
        let client = Client::with_uri_str(&uri)
            .await
            .expect("the test's own client");
        Self {
            uri,
            client,
            _server: server,
        }
    }

    /// The server's URI, as the sink's Secret holds it.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The test's own client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A database name of its own for `case`: `kit_<case>_<random>`, at most 60 bytes.
    pub fn database(case: &str) -> String {
        let nonce = std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), case) >> 32;
        let case: String = case.chars().take(44).collect();
        format!("kit_{case}_{nonce:08x}")
    }

    /// The spec of a sink writing to `database`.`COLLECTION`, its Secret holding this server's
    /// URI under `MONGODB_URI` (the key the Go operator never resolved, D4), changed by
    /// `configure`.
    pub fn resolved(
        &self,
        database: &str,
        configure: impl FnOnce(&mut DatabaseSinkSpec),
    ) -> ResolvedSinkSpec {
        resolved(&self.uri, database, configure)
    }

    /// The sink of [`Env::resolved`].
    pub fn sink(
        &self,
        database: &str,
        configure: impl FnOnce(&mut DatabaseSinkSpec),
    ) -> MongoDbSink {
        MongoDbSinkFactory::new()
            .build_mongodb(&self.resolved(database, configure))
            .expect("a valid spec")
    }

    /// The collection of `database`, for reading back and setting up.
    pub fn collection(&self, database: &str) -> mongodb::Collection<Document> {
        self.client.database(database).collection(COLLECTION)
    }

    /// Every document of `database`.`COLLECTION` matching `filter`, sorted by `_id`.
    pub async fn documents(&self, database: &str, filter: Document) -> Vec<Document> {
        let mut cursor = self
            .collection(database)
            .find(filter)
            .sort(doc! { "_id": 1 })
            .await
            .expect("find");
        let mut documents = Vec::new();
        while cursor.advance().await.expect("next document") {
            documents.push(cursor.deserialize_current().expect("a document"));
        }
        documents
    }

    /// The rows `database` holds for `inventory` in `cluster`, decoded from the documents'
    /// payloads by the export decoder (numbers back to canonical JSON).
    pub async fn read_back(
        &self,
        database: &str,
        inventory: &InventoryKey,
        cluster: &str,
    ) -> Result<Vec<TargetRow>, BoxError> {
        let documents = self
            .documents(
                database,
                doc! {
                    "inventory_namespace": inventory.path_namespace(),
                    "inventory_name": inventory.name().as_str(),
                    "cluster": cluster,
                },
            )
            .await;
        let payloads: Vec<Value> = documents
            .into_iter()
            .map(|document| {
                document
                    .get("payload")
                    .cloned()
                    .ok_or_else(|| BoxError::from("a document without payload"))
                    .and_then(json)
            })
            .collect::<Result<_, _>>()?;
        let array = serde_json::to_vec(&payloads)?;
        Ok(kollect_export::decode(&array)?.items)
    }

    /// Writes the server counted on `database`.`COLLECTION` (`top`: insert + update + remove).
    pub async fn writes(&self, database: &str) -> Result<u64, BoxError> {
        let top = self
            .client
            .database("admin")
            .run_command(doc! { "top": 1 })
            .await?;
        let namespace = format!("{database}.{COLLECTION}");
        let Ok(counters) = top
            .get_document("totals")
            .and_then(|totals| totals.get_document(&namespace))
        else {
            return Ok(0);
        };
        let mut writes = 0;
        for operation in ["insert", "update", "remove"] {
            let count = counters
                .get_document(operation)
                .ok()
                .and_then(|o| o.get("count"))
                .and_then(|count| match count {
                    Bson::Int32(n) => u64::try_from(*n).ok(),
                    Bson::Int64(n) => u64::try_from(*n).ok(),
                    _ => None,
                })
                .ok_or_else(|| format!("top has no {operation} count for {namespace}"))?;
            writes += count;
        }
        Ok(writes)
    }

    /// Drops `database` (the real server keeps what tests leave behind).
    pub async fn drop_database(&self, database: &str) {
        let _ = self.client.database(database).drop().await;
    }
}

/// The spec of a mongodb sink on `uri`, `database`.`COLLECTION`.
pub fn resolved(
    uri: &str,
    database: &str,
    configure: impl FnOnce(&mut DatabaseSinkSpec),
) -> ResolvedSinkSpec {
    let mut spec = DatabaseSinkSpec {
        sink_type: DatabaseSinkType::Mongodb,
        common: SinkCommonSpec::default(),
        postgres: None,
        bigquery: None,
        mongodb: Some(MongoDbSpec {
            database_ref: SecretReference {
                name: "mongo".parse().expect("name"),
                namespace: None,
            },
            database: database.to_owned(),
            collection: COLLECTION.to_owned(),
        }),
    };
    configure(&mut spec);
    ResolvedSinkSpec::new(
        "conformance".parse().expect("namespace"),
        "mongo".parse().expect("name"),
        SinkSpec::Database(spec),
    )
    .with_secrets(secrets("MONGODB_URI", uri))
}

/// A Secret with `value` under `key`.
pub fn secrets(key: &str, value: &str) -> Secrets {
    Secrets::new(BTreeMap::from([(
        key.to_owned(),
        value.as_bytes().to_vec(),
    )]))
}

/// A BSON value as JSON: what the payload decodes back to (doubles as JSON numbers).
pub fn json(value: Bson) -> Result<Value, BoxError> {
    Ok(match value {
        Bson::Null => Value::Null,
        Bson::Boolean(b) => Value::Bool(b),
        Bson::Double(n) => serde_json::Number::from_f64(n)
            .map(Value::Number)
            .ok_or("a non-finite double")?,
        Bson::Int32(n) => Value::from(n),
        Bson::Int64(n) => Value::from(n),
        Bson::String(s) => Value::String(s),
        Bson::Array(items) => Value::Array(items.into_iter().map(json).collect::<Result<_, _>>()?),
        Bson::Document(document) => Value::Object(
            document
                .into_iter()
                .map(|(key, value)| Ok((key, json(value)?)))
                .collect::<Result<_, BoxError>>()?,
        ),
        other => return Err(format!("unexpected BSON in a payload: {other:?}").into()),
    })
}

/// The conformance suite's harness: one database per case (its prefix), collection
/// `COLLECTION`, no `spec.cluster`.
pub struct Conformance {
    env: Env,
    databases: Mutex<Vec<String>>,
}

impl Conformance {
    /// The harness on a `SecantusDB` of its own.
    pub async fn secantus() -> Self {
        Self::on(Env::secantus().await)
    }

    /// The harness on `env`.
    pub fn on(env: Env) -> Self {
        Self {
            env,
            databases: Mutex::default(),
        }
    }

    /// Drops every database the suite used (for the real server).
    pub async fn cleanup(&self) {
        let databases = self.databases.lock().expect("not poisoned").clone();
        for database in databases {
            self.env.drop_database(&database).await;
        }
    }
}

#[async_trait]
impl Harness for Conformance {
    async fn sink(&self, prefix: &str) -> Result<Arc<dyn Sink>, BoxError> {
        self.databases
            .lock()
            .map_err(|_| "poisoned")?
            .push(prefix.to_owned());
        Ok(Arc::new(self.env.sink(prefix, |_| {})))
    }

    async fn read_back(
        &self,
        prefix: &str,
        inventory: &InventoryKey,
    ) -> Result<Vec<TargetRow>, BoxError> {
        self.env.read_back(prefix, inventory, "").await
    }

    async fn writes(&self, prefix: &str) -> Result<u64, BoxError> {
        self.env.writes(prefix).await
    }
}
