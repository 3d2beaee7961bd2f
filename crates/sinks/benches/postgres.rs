//! Postgres export against the local server (127.0.0.1:5432, database `test`, or
//! `KOLLECT_IT_POSTGRES_DSN`), run by hand:
//!
//! ```text
//! cargo bench -p kollect-sinks --features postgres --bench postgres
//! ```
//!
//! One run measures, each in its own schema: the floor (a raw binary `COPY` of 100k rows into
//! an empty table of the same layout), the sink's initial load of the same 100k rows, a one-row
//! change in that 100k-row inventory (with the sink's memory of the last export, and after a
//! restart, when it verifies against the table), an unchanged export, and a 1k-row inventory
//! exported repeatedly (by a fresh sink each time, which compares every row like the Go
//! original rewrote every row, and incrementally with 10 changed rows each time). Prints a
//! Markdown table for `docs/performance.md`.
// A measuring harness: casts between counts, indexes and seconds are all small.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::too_many_lines,
    missing_docs
)]

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::DateTime;
use kollect_api::{
    row::{Attributes, Gvk, Row},
    v1alpha1::DatabaseSinkSpec,
};
use kollect_export::{
    ExportBatch, ExportReceipt, InventoryKey, ResolvedSinkSpec, Secrets, Sink, SinkId, SinkRole,
    SinkSpec, Snapshot, TargetRow,
};
use kollect_sinks::database::postgres::PostgresSink;
use tokio_postgres::{NoTls, binary_copy::BinaryCopyInWriter, types::Type};

const BIG: usize = 100_000;
const SMALL: usize = 1_000;
const RUNS: usize = 20;
const REPEATS: usize = 100;

fn dsn() -> String {
    std::env::var("KOLLECT_IT_POSTGRES_DSN")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn rows(n: usize, version: usize, changed: &[usize]) -> Vec<TargetRow> {
    (0..n)
        .map(|i| {
            let image = if changed.contains(&i) {
                format!("app:{version}")
            } else {
                "app:1".to_owned()
            };
            TargetRow {
                target_namespace: "team-a".into(),
                target_name: "deployments".into(),
                kind: Gvk::new("apps", "v1", "Deployment"),
                row: Arc::new(Row {
                    namespace: format!("ns-{:02}", i % 50).into(),
                    name: format!("app-{i:06}").into(),
                    uid: format!("0000{i:06}-aaaa-bbbb-cccc-{i:012}").into(),
                    resource_version: "".into(),
                    attributes: Attributes::from_canonical(format!(
                        r#"{{"image":"{image}","labels":{{"app":"app-{i:06}","team":"team-{}"}},"replicas":{},"tier":"backend"}}"#,
                        i % 7,
                        i % 5
                    )),
                }),
            }
        })
        .collect()
}

/// `base` with the rows at `changed` replaced by new versions: the other rows stay the same
/// allocations, as in the collector's store.
fn with_changes(base: &[TargetRow], version: usize, changed: &[usize]) -> Vec<TargetRow> {
    let fresh = rows(base.len(), version, changed);
    let mut out = base.to_vec();
    for &i in changed {
        out[i] = fresh[i].clone();
    }
    out
}

fn sink(schema: &str) -> PostgresSink {
    let spec: DatabaseSinkSpec = serde_json::from_value(serde_json::json!({
        "type": "postgres",
        "postgres": {"databaseRef": {"name": "db"}, "table": "inventory", "schema": schema},
    }))
    .unwrap();
    let spec = ResolvedSinkSpec::new(
        "bench".parse().unwrap(),
        "db".parse().unwrap(),
        SinkSpec::Database(spec),
    )
    .with_secrets(Secrets::new(BTreeMap::from([(
        "dsn".to_owned(),
        dsn().into_bytes(),
    )])));
    PostgresSink::new(&spec).unwrap()
}

fn batch(rows: Vec<TargetRow>, at: i64) -> ExportBatch {
    ExportBatch::builder(
        InventoryKey::namespaced("team-a".parse().unwrap(), "apps".parse().unwrap()),
        SinkId::new(
            "bench".parse().unwrap(),
            SinkRole::Database,
            "db".parse().unwrap(),
        ),
        Arc::new(Snapshot::new(rows)),
    )
    .generation(1)
    .exported_at(DateTime::from_timestamp(1_768_478_400 + at, 0).unwrap())
    .build()
}

/// Times one export. The pipeline computes the batch's fingerprint before it calls any sink
/// (it decides whether to export at all), so the clock starts after it.
async fn timed(sink: &PostgresSink, batch: &ExportBatch) -> (Duration, ExportReceipt) {
    let _ = batch.fingerprint();
    let start = Instant::now();
    let receipt = sink.export(batch).await.unwrap();
    (start.elapsed(), receipt)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

async fn fresh_schema(client: &tokio_postgres::Client, name: &str) {
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
        ))
        .await
        .unwrap();
}

async fn copy_floor(client: &mut tokio_postgres::Client, items: &[TargetRow]) -> Duration {
    fresh_schema(client, "kbench_floor").await;
    client
        .batch_execute(
            "CREATE TABLE kbench_floor.inventory (inventory_namespace TEXT NOT NULL, \
             inventory_name TEXT NOT NULL, target_name TEXT NOT NULL, source_uid TEXT NOT NULL, \
             cluster TEXT NOT NULL DEFAULT '', resource_namespace TEXT NOT NULL DEFAULT '', \
             payload JSONB NOT NULL, exported_at TIMESTAMPTZ NOT NULL, PRIMARY KEY \
             (inventory_namespace, inventory_name, target_name, source_uid))",
        )
        .await
        .unwrap();
    let now = chrono::Utc::now();
    // The payloads are encoded before the clock starts: the floor is the server's work.
    let payloads: Vec<String> = items.iter().map(TargetRow::encode).collect();
    let start = Instant::now();
    let tx = client.transaction().await.unwrap();
    let sink = tx
        .copy_in(
            "COPY kbench_floor.inventory (inventory_namespace, inventory_name, target_name, \
             source_uid, cluster, resource_namespace, payload, exported_at) FROM STDIN (FORMAT binary)",
        )
        .await
        .unwrap();
    let types = [
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::JSONB,
        Type::TIMESTAMPTZ,
    ];
    let writer = BinaryCopyInWriter::new(sink, &types);
    futures::pin_mut!(writer);
    for (item, payload) in items.iter().zip(&payloads) {
        let json: serde_json::Value = serde_json::from_str(payload).unwrap();
        writer
            .as_mut()
            .write(&[
                &"team-a",
                &"apps",
                &item.target_name.as_ref(),
                &item.row.uid.as_ref(),
                &"",
                &item.row.namespace.as_ref(),
                &json,
                &now,
            ])
            .await
            .unwrap();
    }
    writer.finish().await.unwrap();
    tx.commit().await.unwrap();
    start.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (mut client, connection) = tokio_postgres::connect(&dsn(), NoTls).await.unwrap();
    tokio::spawn(connection);
    let big = rows(BIG, 1, &[]);
    let floor = copy_floor(&mut client, &big).await;

    fresh_schema(&client, "kbench_load").await;
    let loader = sink("kbench_load");
    let (load, receipt) = timed(&loader, &batch(big.clone(), 0)).await;
    assert_eq!(receipt.rows_upserted as usize, BIG);

    // One row changed, RUNS times, with the sink's memory (rows path).
    let mut one = Vec::new();
    for run in 1..=RUNS {
        let (took, receipt) = timed(
            &loader,
            &batch(with_changes(&big, run + 1, &[4242]), run as i64),
        )
        .await;
        assert_eq!((receipt.rows_upserted, receipt.rows_deleted), (1, 0));
        one.push(took);
    }
    one.sort();
    // Unchanged: no statement.
    let unchanged_batch = batch(with_changes(&big, RUNS + 1, &[4242]), 1000);
    let (unchanged, receipt) = timed(&loader, &unchanged_batch).await;
    assert!(!receipt.wrote);
    // One row changed after a restart: a fresh sink verifies every row against the table.
    let mut restarted = Vec::new();
    for run in 1..=3 {
        let fresh = sink("kbench_load");
        let (took, receipt) = timed(
            &fresh,
            &batch(
                with_changes(&big, RUNS + 10 + run, &[4242]),
                2000 + run as i64,
            ),
        )
        .await;
        assert_eq!((receipt.rows_upserted, receipt.rows_deleted), (1, 0));
        restarted.push(took);
    }
    restarted.sort();

    // 1k rows exported repeatedly.
    fresh_schema(&client, "kbench_small").await;
    let mut full = Vec::new();
    for run in 0..REPEATS {
        let fresh = sink("kbench_small");
        let (took, _) = timed(&fresh, &batch(rows(SMALL, run, &[run % SMALL]), run as i64)).await;
        full.push(took);
    }
    full.sort();
    let incremental_sink = sink("kbench_small");
    let small = rows(SMALL, 0, &[]);
    incremental_sink
        .export(&batch(small.clone(), 0))
        .await
        .unwrap();
    let mut incremental = Vec::new();
    for run in 1..=REPEATS {
        let changed: Vec<usize> = (0..10).map(|k| (run * 10 + k * 97) % SMALL).collect();
        let (took, receipt) = timed(
            &incremental_sink,
            &batch(with_changes(&small, run + 1, &changed), 10_000 + run as i64),
        )
        .await;
        assert!(receipt.rows_upserted >= 10);
        incremental.push(took);
    }
    incremental.sort();
    let mean = |d: &[Duration]| d.iter().sum::<Duration>() / d.len() as u32;

    let rate = |d: Duration| format!("{:.0} rows/s", BIG as f64 / d.as_secs_f64());
    println!("| Case | Time | Rows written | Note |");
    println!("|---|---|---|---|");
    println!(
        "| raw `COPY` of 100k rows (floor) | {} | 100 000 | {} |",
        ms(floor),
        rate(floor)
    );
    println!(
        "| initial load, 100k rows | {} | 100 000 | {} |",
        ms(load),
        rate(load)
    );
    println!(
        "| 1 row changed in 100k (sink's memory) | p50 {}, p99 {} | 1 | {RUNS} runs |",
        ms(percentile(&one, 0.5)),
        ms(percentile(&one, 0.99))
    );
    println!(
        "| 1 row changed in 100k after a restart (verify pass) | median {} | 1 | 3 runs |",
        ms(percentile(&restarted, 0.5))
    );
    println!(
        "| unchanged 100k inventory | {:.3} ms | 0 | no statement, no connection |",
        unchanged.as_secs_f64() * 1000.0
    );
    println!(
        "| 1k rows by a fresh sink each time (compares every row) | mean {}, p50 {}, p99 {} | 1 | {REPEATS} runs |",
        ms(mean(&full)),
        ms(percentile(&full, 0.5)),
        ms(percentile(&full, 0.99))
    );
    println!(
        "| 1k rows, 10 changed each time (incremental) | mean {}, p50 {}, p99 {} | 10 | {REPEATS} runs |",
        ms(mean(&incremental)),
        ms(percentile(&incremental, 0.5)),
        ms(percentile(&incremental, 0.99))
    );
    for schema in ["kbench_floor", "kbench_load", "kbench_small"] {
        client
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .unwrap();
    }
}
