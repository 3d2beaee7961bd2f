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
/// `<schema>.kollect_writes` (what the conformance suite's `writes` reads; one counter per
/// schema, shared by its tables).
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
CREATE TABLE IF NOT EXISTS "{schema}".kollect_writes (n BIGINT NOT NULL);
INSERT INTO "{schema}".kollect_writes SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM "{schema}".kollect_writes);
CREATE OR REPLACE FUNCTION "{schema}".count_write() RETURNS trigger LANGUAGE plpgsql AS $$
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

/// A row of target `deployments` in namespace `conformance` (`namespace` empty: cluster-scoped).
pub fn row(namespace: &str, name: &str, attributes: &str) -> TargetRow {
    TargetRow {
        target_namespace: "conformance".into(),
        target_name: "deployments".into(),
        kind: kollect_export::Gvk::new("apps", "v1", "Deployment"),
        row: Arc::new(kollect_api::row::Row {
            namespace: namespace.into(),
            name: name.into(),
            uid: format!("uid-{name}").into(),
            resource_version: "".into(),
            attributes: kollect_api::row::Attributes::from_canonical(attributes),
        }),
    }
}

/// `n` Deployments `app-0..n` with `version` in their attributes.
pub fn rows(n: usize, version: u32) -> Vec<TargetRow> {
    (0..n)
        .map(|i| {
            row(
                "conformance",
                &format!("app-{i:05}"),
                &format!(r#"{{"image":"app:{version}","replicas":{}}}"#, i % 5),
            )
        })
        .collect()
}

/// The namespaced inventory `name` of namespace `conformance`.
pub fn inventory(name: &str) -> InventoryKey {
    InventoryKey::namespaced("conformance".parse().unwrap(), name.parse().unwrap())
}

/// An export of `rows` for `inventory` at `at` (seconds after 2026-01-15T12:00:00Z).
pub fn batch(
    sink: &dyn Sink,
    inventory: &InventoryKey,
    rows: Vec<TargetRow>,
    at: i64,
) -> kollect_export::ExportBatch {
    kollect_export::ExportBatch::builder(
        inventory.clone(),
        kollect_export::SinkId::new(
            "conformance".parse().unwrap(),
            sink.role(),
            "inventory-db".parse().unwrap(),
        ),
        Arc::new(kollect_export::Snapshot::new(rows)),
    )
    .generation(1)
    .exported_at(exported_at(at))
    .build()
}

/// Exports `rows` of `inventory` at `at` to `sink` (see [`batch`]); panics with the error.
pub async fn export(
    sink: &dyn Sink,
    inventory: &InventoryKey,
    rows: Vec<TargetRow>,
    at: i64,
) -> kollect_export::ExportReceipt {
    sink.export(&batch(sink, inventory, rows, at))
        .await
        .unwrap_or_else(|error| panic!("export {inventory} to {sink}: {error}"))
}

/// 2026-01-15T12:00:00Z plus `seconds`.
pub fn exported_at(seconds: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_768_478_400 + seconds, 0).unwrap()
}

/// A throw-away Postgres server with password authentication (scram-sha-256), on a free port:
/// the shared test server trusts every local connection, so wrong passwords need their own.
pub struct ScramServer {
    dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl ScramServer {
    /// Password of the `postgres` user.
    pub const PASSWORD: &'static str = "kollect-scram-pw";

    /// Creates and starts it (initdb as the `postgres` OS user when run as root).
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries under /usr/lib/postgresql (apt install postgresql)")
            .filter_map(Result::ok)
            .map(|entry| entry.path().join("bin"))
            .max()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, Self::PASSWORD).unwrap();
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
        if root {
            std::process::Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
        }
        let run = |program: &str, args: &[&str]| {
            let mut command = if root {
                let mut c = std::process::Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(bin.join(program));
                c
            } else {
                std::process::Command::new(bin.join(program))
            };
            let out = command.args(args).output().unwrap();
            assert!(
                out.status.success(),
                "{program} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let data = dir.path().join("data");
        let data = data.to_str().unwrap();
        run(
            "initdb",
            &[
                "-D",
                data,
                "-A",
                "scram-sha-256",
                "-U",
                "postgres",
                "--pwfile",
                pwfile.to_str().unwrap(),
            ],
        );
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1",
            dir.path().display()
        );
        let log = dir.path().join("log");
        run(
            "pg_ctl",
            &[
                "-D",
                data,
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
        Self { dir, port }
    }
}

impl Drop for ScramServer {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|dirs| {
                dirs.filter_map(Result::ok)
                    .map(|e| e.path().join("bin"))
                    .max()
            });
        if let Some(bin) = bin {
            let mut command = std::process::Command::new("runuser");
            let root = std::process::Command::new("id")
                .arg("-u")
                .output()
                .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
            if root {
                command
                    .args(["-u", "postgres", "--"])
                    .arg(bin.join("pg_ctl"));
            } else {
                command = std::process::Command::new(bin.join("pg_ctl"));
            }
            let _ = command
                .arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "stop"])
                .output();
        }
    }
}
