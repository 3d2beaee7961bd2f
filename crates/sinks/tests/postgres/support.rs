//! The Postgres test server (127.0.0.1:5432, trust, database `test`, started by `.ci/run`), a
//! schema per test, and sinks built from JSON specs.

use std::{
    collections::BTreeMap,
    hash::{BuildHasher as _, RandomState},
    sync::Arc,
};

use kollect_api::v1alpha1::DatabaseSinkSpec;
use kollect_export::{
    InventoryKey, ResolvedSinkSpec, Secrets, Sink, SinkFactory as _, SinkSpec, TargetRow,
};
use kollect_sinks::database::postgres::PostgresSinkFactory;
use serde_json::{Value, json};
use tokio_postgres::{Client, NoTls};

/// The server's address; `KOLLECT_IT_POSTGRES_DSN` overrides it.
pub fn server_dsn() -> String {
    std::env::var("KOLLECT_IT_POSTGRES_DSN")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// An administrative connection (fails loudly with the way to start the server).
pub async fn admin() -> Client {
    let (client, connection) = tokio_postgres::connect(&server_dsn(), NoTls)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "cannot reach the test Postgres at {} ({error}); start it with \
                 `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
                 (as .ci/run does)",
                server_dsn()
            )
        });
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// A unique lowercase name starting with `prefix`.
pub fn unique(prefix: &str) -> String {
    let nonce = RandomState::new().hash_one(prefix) >> 40;
    format!("{prefix}_{nonce:06x}")
}

/// A fresh schema for one test.
pub async fn schema(client: &Client, name: &str) {
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS \"{name}\" CASCADE; CREATE SCHEMA \"{name}\""
        ))
        .await
        .unwrap();
}

/// The Go original's DDL (sinks spec §11.2), and a row-level trigger counting every write into
/// `<schema>.kollect_writes` (what the conformance suite's `writes` reads).
pub async fn table_with_write_counter(client: &Client, schema: &str, table: &str) {
    client
        .batch_execute(&format!(
            r#"
CREATE TABLE "{schema}"."{table}" (
    inventory_namespace TEXT        NOT NULL,
    inventory_name      TEXT        NOT NULL,
    target_name         TEXT        NOT NULL,
    source_uid          TEXT        NOT NULL,
    cluster             TEXT        NOT NULL DEFAULT '',
    resource_namespace  TEXT        NOT NULL DEFAULT '',
    payload             JSONB       NOT NULL,
    exported_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (inventory_namespace, inventory_name, target_name, source_uid)
);
CREATE TABLE "{schema}".kollect_writes (n BIGINT NOT NULL);
INSERT INTO "{schema}".kollect_writes VALUES (0);
CREATE FUNCTION "{schema}".count_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE "{schema}".kollect_writes SET n = n + 1; RETURN NULL; END $$;
CREATE TRIGGER count_writes AFTER INSERT OR UPDATE OR DELETE ON "{schema}"."{table}"
    FOR EACH ROW EXECUTE FUNCTION "{schema}".count_write();
"#
        ))
        .await
        .unwrap();
}

/// Rows written to `<schema>.<table>` so far (inserts, updates and deletes).
pub async fn writes(client: &Client, schema: &str) -> u64 {
    let n: i64 = client
        .query_one(&format!("SELECT n FROM \"{schema}\".kollect_writes"), &[])
        .await
        .unwrap()
        .get(0);
    u64::try_from(n).unwrap()
}

/// The resolved spec of a Postgres sink: `postgres` holds the block, `extra` other spec fields.
pub fn resolved(postgres: &Value, extra: &Value, dsn: &str) -> ResolvedSinkSpec {
    let mut spec = json!({"type": "postgres", "postgres": postgres});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    let spec: DatabaseSinkSpec = serde_json::from_value(spec).unwrap();
    ResolvedSinkSpec::new(
        "conformance".parse().unwrap(),
        "inventory-db".parse().unwrap(),
        SinkSpec::Database(spec),
    )
    .with_secrets(Secrets::new(BTreeMap::from([(
        "dsn".to_owned(),
        dsn.as_bytes().to_vec(),
    )])))
}

/// A sink writing `schema.table` on the test server.
pub fn sink(schema: &str, table: &str, extra: &Value) -> Arc<dyn Sink> {
    let postgres = json!({"databaseRef": {"name": "db"}, "table": table, "schema": schema});
    build(&resolved(&postgres, extra, &server_dsn()))
}

/// Builds `spec` (panics with the error).
pub fn build(spec: &ResolvedSinkSpec) -> Arc<dyn Sink> {
    PostgresSinkFactory
        .build(spec)
        .unwrap_or_else(|error| panic!("build the sink: {error}"))
}

/// The payloads stored for `inventory`, decoded back into rows.
pub async fn read_back(
    client: &Client,
    schema: &str,
    table: &str,
    inventory: &InventoryKey,
) -> Vec<TargetRow> {
    let rows = client
        .query(
            &format!(
                "SELECT payload::text FROM \"{schema}\".\"{table}\" \
                 WHERE inventory_namespace = $1 AND inventory_name = $2"
            ),
            &[&inventory.path_namespace(), &inventory.name().to_string()],
        )
        .await
        .unwrap();
    let array = format!(
        "[{}]",
        rows.iter()
            .map(|row| row.get::<_, String>(0))
            .collect::<Vec<_>>()
            .join(",")
    );
    kollect_export::decode(array.as_bytes()).unwrap().items
}
