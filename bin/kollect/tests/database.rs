//! `kollect collect` into the database sinks of the config folder: Postgres against the local
//! server (127.0.0.1:5432, database `test`, started by `.ci/run`; `KOLLECT_IT_POSTGRES_DSN`
//! overrides it), each test in its own schema; MongoDB against a `SecantusDB` server the test
//! starts.
#![allow(missing_docs, clippy::unwrap_used, clippy::panic)]

mod support;

use std::{
    hash::{BuildHasher as _, RandomState},
    path::Path,
    process::Command,
};

use support::{kollect, quickstart, quickstart_config, run};

fn dsn() -> String {
    std::env::var("KOLLECT_IT_POSTGRES_DSN")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Runs `sql` with psql and returns its unaligned output.
fn psql(sql: &str) -> String {
    let out = Command::new("psql")
        .arg(dsn())
        .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql (apt install postgresql-client)");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The quickstart's config without its snapshot sinks, plus a Postgres sink writing
/// `<schema>.inventory` with the DSN from `KOLLECT_TEST_DB_URI`.
fn config_with_postgres(root: &Path, schema: &str, sink_type: &str) -> std::path::PathBuf {
    let config = quickstart_config(root, false);
    let block = if sink_type == "postgres" {
        format!(
            "postgres:\n    databaseRef: {{name: inventory-db}}\n    schema: {schema}\n    table: inventory\n    history: true\n"
        )
    } else {
        format!(
            "{sink_type}:\n    databaseRef: {{name: inventory-db}}\n    database: {schema}\n    collection: inventory\n"
        )
    };
    std::fs::write(
        config.join("database.yaml"),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: inventory-db, namespace: inventory}}\n\
             stringData:\n  dsn: ${{env:KOLLECT_TEST_DB_URI}}\n  uri: ${{env:KOLLECT_TEST_DB_URI}}\n---\n\
             apiVersion: kollect.dev/v1alpha1\nkind: KollectDatabaseSink\n\
             metadata: {{name: inventory-db, namespace: inventory}}\n\
             spec:\n  type: {sink_type}\n  cluster: quickstart\n  {block}"
        ),
    )
    .unwrap();
    config
}

/// A copy of the quickstart's cluster under `root/cluster` with its first Service left out.
fn without_one_service(root: &Path) -> std::path::PathBuf {
    let mut removed = false;
    let edited = support::edited_cluster(root, |_, text| {
        if removed {
            return text;
        }
        let documents: Vec<&str> = text.split("\n---\n").collect();
        let Some(at) = documents
            .iter()
            .position(|d| d.contains("\nkind: Service\n"))
        else {
            return text;
        };
        removed = true;
        let kept: Vec<&str> = documents
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != at)
            .map(|(_, d)| *d)
            .collect();
        kept.join("\n---\n")
    });
    assert!(removed, "the dump has a Service manifest");
    edited
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{:06x}", RandomState::new().hash_one(prefix) >> 40)
}

#[test]
fn collect_writes_the_inventory_into_postgres_and_only_changes_later() {
    let root = tempfile::tempdir().unwrap();
    let schema = unique("kt_cli_pg");
    psql(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    ));
    let config = config_with_postgres(root.path(), &schema, "postgres");
    let collect = |cluster: &Path| {
        run(kollect()
            .env("KOLLECT_TEST_DB_URI", dsn())
            .arg("collect")
            .arg("--config")
            .arg(&config)
            .arg("--from-dir")
            .arg(cluster))
    };
    let first = collect(&quickstart("cluster"));
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first
            .stderr
            .contains("sink inventory/database/inventory-db: 7 target(s) written, 0 unchanged"),
        "{}",
        first.stderr
    );
    let rows = |sql: &str| psql(&sql.replace("{t}", &format!("{schema}.inventory")));
    assert_eq!(rows("SELECT count(*) FROM {t}"), "134");
    assert_eq!(
        rows(
            "SELECT count(DISTINCT inventory_name) || ' ' || min(cluster) || ' ' || min(inventory_namespace) FROM {t}"
        ),
        "7 quickstart inventory"
    );
    let exported_at = rows("SELECT max(exported_at) FROM {t}");
    // Nothing changed: nothing written (a new process verifies against the table).
    let second = collect(&quickstart("cluster"));
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(
        second
            .stderr
            .contains("sink inventory/database/inventory-db: 0 target(s) written, 7 unchanged"),
        "{}",
        second.stderr
    );
    assert_eq!(rows("SELECT max(exported_at) FROM {t}"), exported_at);
    // One Service fewer: its row leaves, and the history keeps it.
    let edited = without_one_service(root.path());
    // A dry run says what would change, and writes nothing.
    let before = rows("SELECT count(*) FROM {t}");
    let dry = run(kollect()
        .env("KOLLECT_TEST_DB_URI", dsn())
        .arg("collect")
        .arg("--dry-run")
        .arg("--config")
        .arg(&config)
        .arg("--from-dir")
        .arg(&edited));
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stderr.contains(
            "dry run: context cluster: sink inventory/database/inventory-db: target inventory/services: would add 0, change 0, remove 1 row(s)"
        ),
        "{}",
        dry.stderr
    );
    assert!(
        dry.stderr
            .contains("target inventory/deployments: unchanged ("),
        "{}",
        dry.stderr
    );
    assert_eq!(
        rows("SELECT count(*) FROM {t}"),
        before,
        "a dry run writes nothing"
    );
    let third = collect(&edited);
    assert_eq!(third.code, 0, "{}", third.stderr);
    let gone = rows("SELECT count(*) FROM {t}_history WHERE valid_to IS NOT NULL")
        .parse::<u32>()
        .unwrap();
    assert_eq!(gone, 1, "the history closed the removed row");
    assert_eq!(
        rows("SELECT count(*) FROM {t}").parse::<u32>().unwrap() + gone,
        134,
        "the removed rows are gone from the table"
    );
    psql(&format!("DROP SCHEMA {schema} CASCADE"));
}

#[test]
fn database_sinks_without_a_backend_in_this_build_are_refused_before_collecting() {
    let root = tempfile::tempdir().unwrap();
    let config = config_with_postgres(root.path(), "unused", "bigquery");
    std::fs::write(
        config.join("database.yaml"),
        std::fs::read_to_string(config.join("database.yaml"))
            .unwrap()
            .replace(
                "bigquery:\n    databaseRef: {name: inventory-db}\n    database: unused\n    collection: inventory\n",
                "bigquery: {project: p, dataset: d, table: t}\n",
            ),
    )
    .unwrap();
    let out = run(kollect()
        .env("KOLLECT_TEST_DB_URI", dsn())
        .arg("collect")
        .arg("--config")
        .arg(&config)
        .arg("--from-dir")
        .arg(quickstart("cluster")));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "KollectDatabaseSink/inventory/inventory-db: type bigquery is not available in this build"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn a_wrong_connection_string_fails_the_run_without_revealing_it() {
    let root = tempfile::tempdir().unwrap();
    let config = config_with_postgres(root.path(), "public", "postgres");
    let out = run(kollect()
        .env(
            "KOLLECT_TEST_DB_URI",
            "postgres://kollect:s3cret@127.0.0.1:1/test",
        )
        .arg("collect")
        .arg("--config")
        .arg(&config)
        .arg("--from-dir")
        .arg(quickstart("cluster")));
    assert_eq!(out.code, 2, "nothing could be exported: {}", out.stderr);
    assert!(
        out.stderr.contains("connect postgres: connection failed"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("s3cret"), "{}", out.stderr);
}

/// A `SecantusDB` server (MongoDB wire protocol) on a free port, started by
/// `scripts/services/mongodb.sh` and stopped on drop.
struct MongoServer {
    pidfile: tempfile::NamedTempFile,
    port: u16,
}

impl MongoServer {
    fn start() -> Self {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/services/mongodb.sh");
        let pidfile = tempfile::NamedTempFile::new().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = Command::new("bash")
            .arg(&script)
            .args(["start", &port.to_string()])
            .arg(pidfile.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "start SecantusDB with {}: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Self { pidfile, port }
    }

    fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }
}

impl Drop for MongoServer {
    fn drop(&mut self) {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/services/mongodb.sh");
        let _ = Command::new("bash")
            .arg(script)
            .arg("stop")
            .arg(self.pidfile.path())
            .output();
    }
}

#[test]
fn collect_writes_the_inventory_into_mongodb_and_only_changes_later() {
    let server = MongoServer::start();
    let root = tempfile::tempdir().unwrap();
    let config = config_with_postgres(root.path(), "kollect_cli", "mongodb");
    let collect = |cluster: &Path, dry_run: bool| {
        let mut command = kollect();
        command
            .env("KOLLECT_TEST_DB_URI", server.uri())
            .arg("collect");
        if dry_run {
            command.arg("--dry-run");
        }
        run(command
            .arg("--config")
            .arg(&config)
            .arg("--from-dir")
            .arg(cluster))
    };
    let first = collect(&quickstart("cluster"), false);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first
            .stderr
            .contains("sink inventory/database/inventory-db: 7 target(s) written, 0 unchanged"),
        "{}",
        first.stderr
    );
    let second = collect(&quickstart("cluster"), false);
    assert!(
        second
            .stderr
            .contains("sink inventory/database/inventory-db: 0 target(s) written, 7 unchanged"),
        "{}",
        second.stderr
    );
    let edited = without_one_service(root.path());
    let dry = collect(&edited, true);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stderr.contains(
            "sink inventory/database/inventory-db: target inventory/services: would add 0, change 0, remove 1 row(s)"
        ),
        "{}",
        dry.stderr
    );
    let third = collect(&edited, false);
    assert!(
        third
            .stderr
            .contains("sink inventory/database/inventory-db: 1 target(s) written, 6 unchanged"),
        "{}",
        third.stderr
    );
}
