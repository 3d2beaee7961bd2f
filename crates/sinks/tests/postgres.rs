//! Postgres sink against the real server at 127.0.0.1:5432 (database `test`, started by
//! `.ci/run`), each test in its own schema: the conformance suite, the §17.7 checks, history,
//! concurrency and failures.
#![cfg(feature = "postgres")]
#![allow(missing_docs, unreachable_pub, clippy::unwrap_used, clippy::panic)]

#[path = "postgres/support.rs"]
mod support;

mod conformance {
    use std::sync::Arc;

    use kollect_export::{BoxError, InventoryKey, Sink, TargetRow, conformance::Harness};
    use serde_json::json;

    use super::support;

    struct Postgres;

    #[async_trait::async_trait]
    impl Harness for Postgres {
        async fn sink(&self, prefix: &str) -> Result<Arc<dyn Sink>, BoxError> {
            let client = support::admin().await;
            support::schema(&client, prefix).await;
            support::table_with_write_counter(&client, prefix, "inventory").await;
            Ok(support::sink(prefix, "inventory", &json!({})))
        }

        async fn read_back(
            &self,
            prefix: &str,
            inventory: &InventoryKey,
        ) -> Result<Vec<TargetRow>, BoxError> {
            let client = support::admin().await;
            Ok(support::read_back(&client, prefix, "inventory", inventory).await)
        }

        async fn writes(&self, prefix: &str) -> Result<u64, BoxError> {
            Ok(support::writes(&support::admin().await, prefix).await)
        }
    }

    kollect_export::conformance_tests!(Postgres);
}

/// The checks of sinks spec §17.7, and the incremental behaviour.
mod table {
    use kollect_export::{ErrorClass, SinkError};
    use serde_json::json;

    use super::support::{self, batch, inventory, row, rows};

    #[tokio::test]
    async fn ensure_creates_the_go_table_exactly_and_leaves_an_existing_one_alone() {
        let client = support::admin().await;
        let schema = support::unique("kt_ddl");
        support::schema(&client, &schema).await;
        let sink = support::sink(&schema, "inventory", &json!({}));
        sink.probe().await.unwrap();
        let tables: i64 = client
            .query_one(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1",
                &[&schema],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(tables, 0, "the probe creates nothing");
        support::export(&*sink, &inventory("apps"), rows(2, 1), 0).await;
        let columns: Vec<(String, String, String, Option<String>)> = client
            .query(
                "SELECT column_name::text, data_type::text, is_nullable::text, column_default::text \
                 FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'inventory' \
                 ORDER BY ordinal_position",
                &[&schema],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        let expected = [
            ("inventory_namespace", "text", "NO", None),
            ("inventory_name", "text", "NO", None),
            ("target_name", "text", "NO", None),
            ("source_uid", "text", "NO", None),
            ("cluster", "text", "NO", Some("''::text")),
            ("resource_namespace", "text", "NO", Some("''::text")),
            ("payload", "jsonb", "NO", None),
            ("exported_at", "timestamp with time zone", "NO", None),
        ]
        .map(|(n, t, null, d)| {
            (
                n.to_owned(),
                t.to_owned(),
                null.to_owned(),
                d.map(str::to_owned),
            )
        });
        assert_eq!(columns, expected);
        let key: Vec<String> = client
            .query(
                "SELECT a.attname::text FROM pg_index i JOIN pg_attribute a \
                 ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                 WHERE i.indrelid = format('%I.inventory', $1::text)::regclass AND i.indisprimary \
                 ORDER BY array_position(i.indkey::int2[], a.attnum)",
                &[&schema],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(
            key,
            [
                "inventory_namespace",
                "inventory_name",
                "target_name",
                "source_uid"
            ]
        );
        let indexes: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_indexes WHERE schemaname = $1",
                &[&schema],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(indexes, 1, "no index besides the primary key");
        // A second sink on the existing table changes nothing in it.
        let oid_sql = format!("SELECT '\"{schema}\".inventory'::regclass::oid");
        let before: u32 = client.query_one(&oid_sql, &[]).await.unwrap().get(0);
        let again = support::sink(&schema, "inventory", &json!({}));
        support::export(&*again, &inventory("apps"), rows(2, 1), 0).await;
        let after: u32 = client.query_one(&oid_sql, &[]).await.unwrap().get(0);
        assert_eq!(after, before);
    }

    #[tokio::test]
    async fn rows_carry_the_cluster_the_resource_namespace_and_one_export_time() {
        let client = support::admin().await;
        let schema = support::unique("kt_cols");
        support::schema(&client, &schema).await;
        let sink = support::sink(&schema, "inventory", &json!({"cluster": " prod-west "}));
        let items = vec![
            row("conformance", "api", r#"{"replicas":2}"#),
            row("", "node-a", r#"{"zone":"z1"}"#),
        ];
        let export = batch(&*sink, &inventory("apps"), items.clone(), 7);
        let receipt = sink.export(&export).await.unwrap();
        assert_eq!((receipt.rows_upserted, receipt.rows_deleted), (2, 0));
        let stored = client
            .query(
                &format!(
                    "SELECT source_uid, cluster, resource_namespace, exported_at, \
                     payload = $1::text::jsonb AS same FROM \"{schema}\".inventory \
                     ORDER BY source_uid"
                ),
                &[&items[0].encode()],
            )
            .await
            .unwrap();
        let at = support::exported_at(7);
        let got: Vec<(String, String, String, chrono::DateTime<chrono::Utc>)> = stored
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "uid-api".into(),
                    "prod-west".into(),
                    "conformance".into(),
                    at
                ),
                (
                    "uid-node-a".into(),
                    "prod-west".into(),
                    "conformance".into(),
                    at
                ),
            ]
        );
        assert!(stored[0].get::<_, bool>(4), "the payload is the item JSON");
    }

    #[tokio::test]
    async fn an_unchanged_reexport_writes_nothing_and_keeps_exported_at() {
        let client = support::admin().await;
        let schema = support::unique("kt_same");
        support::schema(&client, &schema).await;
        support::table_with_write_counter(&client, &schema, "inventory").await;
        let sink = support::sink(&schema, "inventory", &json!({}));
        support::export(&*sink, &inventory("apps"), rows(40, 1), 0).await;
        let before = support::writes(&client, &schema).await;
        // A later export of the same rows, by this sink and by a fresh one (unknown state).
        let again = support::export(&*sink, &inventory("apps"), rows(40, 1), 60).await;
        assert!(!again.wrote);
        let fresh = support::sink(&schema, "inventory", &json!({}));
        let verified = support::export(&*fresh, &inventory("apps"), rows(40, 1), 120).await;
        assert!(!verified.wrote, "the verify pass finds nothing to write");
        assert_eq!(support::writes(&client, &schema).await, before);
        let latest: chrono::DateTime<chrono::Utc> = client
            .query_one(
                &format!("SELECT max(exported_at) FROM \"{schema}\".inventory"),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            latest,
            support::exported_at(0),
            "rows keep the time they last changed"
        );
    }

    #[tokio::test]
    async fn an_unchanged_inventory_runs_no_statement_at_all() {
        let client = support::admin().await;
        let schema = support::unique("kt_nostmt");
        support::schema(&client, &schema).await;
        let app = format!("kollect-{schema}");
        let dsn = format!("{}?application_name={app}", support::server_dsn());
        let postgres =
            json!({"databaseRef": {"name": "db"}, "table": "inventory", "schema": schema});
        let sink = support::build(&support::resolved(&postgres, &json!({}), &dsn));
        let apps = inventory("apps");
        support::export(&*sink, &apps, rows(100, 1), 0).await;
        // Close the sink's sessions: any statement would have to open a new one.
        let sessions = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1";
        client
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                &[&app],
            )
            .await
            .unwrap();
        for _ in 0..100 {
            let open: i64 = client.query_one(sessions, &[&app]).await.unwrap().get(0);
            if open == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        for at in 1..=3 {
            let receipt = support::export(&*sink, &apps, rows(100, 1), at).await;
            assert!(!receipt.wrote);
        }
        let open: i64 = client.query_one(sessions, &[&app]).await.unwrap().get(0);
        assert_eq!(open, 0, "no session was opened for the unchanged exports");
    }

    #[tokio::test]
    async fn one_changed_row_writes_one_row_with_or_without_memory() {
        let client = support::admin().await;
        let schema = support::unique("kt_one");
        support::schema(&client, &schema).await;
        support::table_with_write_counter(&client, &schema, "inventory").await;
        let sink = support::sink(&schema, "inventory", &json!({}));
        support::export(&*sink, &inventory("apps"), rows(500, 1), 0).await;
        for (round, exporter) in [
            (1_i64, sink.clone()),
            (2, support::sink(&schema, "inventory", &json!({}))),
        ] {
            let before = support::writes(&client, &schema).await;
            let mut changed = rows(500, 1);
            changed[usize::try_from(round).unwrap()] = row(
                "conformance",
                &format!("app-{round:05}"),
                r#"{"image":"app:2"}"#,
            );
            let receipt =
                support::export(&*exporter, &inventory("apps"), changed, round * 60).await;
            assert_eq!(
                (receipt.rows_upserted, receipt.rows_deleted),
                (1, 0),
                "round {round}"
            );
            assert_eq!(
                support::writes(&client, &schema).await - before,
                1,
                "round {round}"
            );
            // Leave the table as `rows(500, 1)` again for the next round.
            support::export(&*exporter, &inventory("apps"), rows(500, 1), round * 60 + 1).await;
        }
    }

    #[tokio::test]
    async fn emptying_an_inventory_removes_only_this_clusters_rows() {
        let client = support::admin().await;
        let schema = support::unique("kt_fleet");
        support::schema(&client, &schema).await;
        let west = support::sink(&schema, "inventory", &json!({"cluster": "prod-west"}));
        let east = support::sink(&schema, "inventory", &json!({"cluster": "prod-east"}));
        support::export(
            &*west,
            &inventory("apps"),
            vec![row("conformance", "w", "{}")],
            0,
        )
        .await;
        support::export(
            &*east,
            &inventory("apps"),
            vec![row("conformance", "e", "{}")],
            0,
        )
        .await;
        let receipt = support::export(&*west, &inventory("apps"), Vec::new(), 10).await;
        assert_eq!(receipt.rows_deleted, 1);
        let left: Vec<(String, String)> = client
            .query(
                &format!("SELECT cluster, source_uid FROM \"{schema}\".inventory"),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        assert_eq!(left, [("prod-east".to_owned(), "uid-e".to_owned())]);
    }

    #[tokio::test]
    async fn bulk_and_row_paths_store_identical_rows_and_delete_exactly_the_removed() {
        let client = support::admin().await;
        let schema = support::unique("kt_bulk");
        support::schema(&client, &schema).await;
        for table in ["by_rows", "by_copy"] {
            support::table_with_write_counter(&client, &schema, table).await;
        }
        let mut items = rows(31, 3);
        items.push(row(
            "",
            "cluster-scoped",
            r#"{"text":"<&>\u2028 \"q\" \\"}"#,
        ));
        // 32 rows through one statement each: an empty first export, then a 32-row change set
        // would be bulk, so the row path gets 31 and the last row alone.
        let by_rows = support::sink(&schema, "by_rows", &json!({}));
        support::export(&*by_rows, &inventory("apps"), Vec::new(), 0).await;
        support::export(&*by_rows, &inventory("apps"), items[..31].to_vec(), 0).await;
        support::export(&*by_rows, &inventory("apps"), items.clone(), 0).await;
        // The same rows copied through the staging table (first export of a fresh sink).
        let by_copy = support::sink(&schema, "by_copy", &json!({}));
        support::export(&*by_copy, &inventory("apps"), items.clone(), 0).await;
        let dump = |table: &'static str| {
            let client = &client;
            let schema = schema.clone();
            async move {
                client
                    .query(
                        &format!(
                            "SELECT {} FROM \"{schema}\".{table} ORDER BY source_uid",
                            "inventory_namespace, inventory_name, target_name, source_uid, \
                             cluster, resource_namespace, payload::text, exported_at::text"
                        ),
                        &[],
                    )
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| (0..8).map(|i| r.get::<_, String>(i)).collect::<Vec<_>>())
                    .collect::<Vec<_>>()
            }
        };
        let copied = dump("by_copy").await;
        assert_eq!(copied.len(), 32);
        assert_eq!(dump("by_rows").await, copied);
        // Five rows gone: exactly five deletes.
        let before = support::writes(&client, &schema).await;
        let kept: Vec<_> = items.iter().skip(5).cloned().collect();
        let receipt = support::export(&*by_copy, &inventory("apps"), kept, 10).await;
        assert_eq!((receipt.rows_upserted, receipt.rows_deleted), (0, 5));
        assert_eq!(support::writes(&client, &schema).await - before, 5);
        assert_eq!(dump("by_copy").await.len(), 27);
    }

    #[tokio::test]
    async fn a_failure_inside_the_transaction_leaves_the_table_as_before() {
        let client = support::admin().await;
        let schema = support::unique("kt_atomic");
        support::schema(&client, &schema).await;
        let sink = support::sink(&schema, "inventory", &json!({}));
        let v1 = rows(40, 1);
        support::export(&*sink, &inventory("apps"), v1.clone(), 0).await;
        client
            .batch_execute(&format!(
                r#"CREATE FUNCTION "{schema}".refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                   BEGIN IF NEW.payload->>'name' = 'poison' THEN RAISE EXCEPTION 'refused'; END IF;
                   RETURN NEW; END $$;
                   CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON "{schema}".inventory
                   FOR EACH ROW EXECUTE FUNCTION "{schema}".refuse();"#
            ))
            .await
            .unwrap();
        let snapshot = || async {
            client
                .query(
                    &format!(
                        "SELECT source_uid, payload::text FROM \"{schema}\".inventory ORDER BY 1"
                    ),
                    &[],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
                .collect::<Vec<_>>()
        };
        let before = snapshot().await;
        // Small and large change sets: both rolled back whole.
        for v2 in [
            {
                let mut v = rows(38, 2);
                v.push(row("conformance", "poison", "{}"));
                v
            },
            {
                let mut v = v1[1..].to_vec();
                v[0] = row("conformance", "app-00001", r#"{"image":"app:9"}"#);
                v.push(row("conformance", "poison", "{}"));
                v
            },
        ] {
            let error = sink
                .export(&batch(&*sink, &inventory("apps"), v2, 5))
                .await
                .unwrap_err();
            assert!(matches!(error, SinkError::InvalidPayload { .. }), "{error}");
            assert!(error.to_string().contains("refused"), "{error}");
            assert_eq!(
                snapshot().await,
                before,
                "nothing of the failed export is visible"
            );
        }
        client
            .batch_execute(&format!("DROP TRIGGER refuse ON \"{schema}\".inventory"))
            .await
            .unwrap();
        let mut v3 = rows(38, 2);
        v3.push(row("conformance", "poison", "{}"));
        support::export(&*sink, &inventory("apps"), v3.clone(), 6).await;
        assert_eq!(
            support::read_back(&client, &schema, "inventory", &inventory("apps"))
                .await
                .len(),
            39
        );
    }

    #[tokio::test]
    async fn another_writer_of_the_same_inventory_is_noticed_and_the_last_snapshot_wins() {
        let client = support::admin().await;
        let schema = support::unique("kt_writers");
        support::schema(&client, &schema).await;
        let a = support::sink(&schema, "inventory", &json!({}));
        let b = support::sink(&schema, "inventory", &json!({}));
        let apps = inventory("apps");
        support::export(&*a, &apps, rows(50, 1), 0).await;
        // B replaces half the rows; A's memory of the table is now wrong.
        let mut s2 = rows(25, 2);
        s2.push(row("conformance", "only-b", "{}"));
        support::export(&*b, &apps, s2, 1).await;
        let s3 = rows(50, 1)
            .into_iter()
            .chain([row("conformance", "only-a", "{}")])
            .collect::<Vec<_>>();
        support::export(&*a, &apps, s3.clone(), 2).await;
        let stored = kollect_export::Snapshot::new(
            support::read_back(&client, &schema, "inventory", &apps).await,
        );
        assert_eq!(
            stored.items_json(),
            kollect_export::Snapshot::new(s3).items_json()
        );
        // At the same time, many times: the table always ends as one whole snapshot.
        for round in 0..5 {
            let (left, right) = (rows(60, 10 + round), rows(45, 20 + round));
            let (x, y) = futures::future::join(
                a.export(&batch(&*a, &apps, left.clone(), 10 + i64::from(round))),
                b.export(&batch(&*b, &apps, right.clone(), 10 + i64::from(round))),
            )
            .await;
            x.unwrap();
            y.unwrap();
            let stored = kollect_export::Snapshot::new(
                support::read_back(&client, &schema, "inventory", &apps).await,
            )
            .items_json();
            let whole = [left, right].map(|r| kollect_export::Snapshot::new(r).items_json());
            assert!(
                whole.contains(&stored),
                "round {round}: a mix of two snapshots"
            );
        }
    }

    #[tokio::test]
    async fn a_connection_killed_mid_transaction_keeps_the_previous_state_and_the_retry_lands() {
        let client = support::admin().await;
        let schema = support::unique("kt_kill");
        support::schema(&client, &schema).await;
        let app = format!("kollect-{schema}");
        let dsn = format!("{}?application_name={app}", support::server_dsn());
        let postgres =
            json!({"databaseRef": {"name": "db"}, "table": "inventory", "schema": schema});
        let sink = support::build(&support::resolved(&postgres, &json!({}), &dsn));
        let apps = inventory("apps");
        let v1 = rows(40, 1);
        support::export(&*sink, &apps, v1.clone(), 0).await;
        client
            .batch_execute(&format!(
                r#"CREATE FUNCTION "{schema}".slow() RETURNS trigger LANGUAGE plpgsql AS $$
                   BEGIN IF NEW.payload->>'name' = 'slow' THEN PERFORM pg_sleep(30); END IF;
                   RETURN NEW; END $$;
                   CREATE TRIGGER slow BEFORE INSERT OR UPDATE ON "{schema}".inventory
                   FOR EACH ROW EXECUTE FUNCTION "{schema}".slow();"#
            ))
            .await
            .unwrap();
        let mut v2 = rows(40, 2);
        v2.push(row("conformance", "slow", "{}"));
        let export = {
            let sink = sink.clone();
            let batch = batch(&*sink, &apps, v2.clone(), 5);
            tokio::spawn(async move { sink.export(&batch).await })
        };
        // Wait until the export sleeps inside its transaction, then kill its backend.
        let mut killed = false;
        for _ in 0..200 {
            let n: i64 = client
                .query_one(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE application_name = $1 AND wait_event = 'PgSleep'",
                    &[&app],
                )
                .await
                .unwrap()
                .get(0);
            if n > 0 {
                killed = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(killed, "the export reached the sleeping trigger");
        let error = export.await.unwrap().unwrap_err();
        assert!(
            error.is_retriable(),
            "a killed connection is transient: {error}"
        );
        let stored = kollect_export::Snapshot::new(
            support::read_back(&client, &schema, "inventory", &apps).await,
        );
        assert_eq!(
            stored.items_json(),
            kollect_export::Snapshot::new(v1).items_json()
        );
        client
            .batch_execute(&format!("DROP TRIGGER slow ON \"{schema}\".inventory"))
            .await
            .unwrap();
        let receipt = support::export(&*sink, &apps, v2.clone(), 6).await;
        assert!(receipt.wrote);
        let stored = kollect_export::Snapshot::new(
            support::read_back(&client, &schema, "inventory", &apps).await,
        );
        assert_eq!(
            stored.items_json(),
            kollect_export::Snapshot::new(v2).items_json()
        );
    }

    /// Classifies `error` and checks its text names no secret.
    fn assert_error(error: &SinkError, class: ErrorClass, contains: &str) {
        let text = error.to_string();
        assert_eq!(error.class(), class, "{text}");
        assert!(
            text.contains(contains),
            "{text:?} should contain {contains:?}"
        );
        for secret in ["s3cret", "kollect-scram-pw", "wrong-password"] {
            assert!(!text.contains(secret), "{text:?} leaks the password");
        }
    }

    async fn export_error(
        dsn: &str,
        extra: &serde_json::Value,
        table: &str,
        schema: &str,
    ) -> SinkError {
        let postgres = json!({"databaseRef": {"name": "db"}, "table": table, "schema": schema});
        let sink = support::build(&support::resolved(&postgres, extra, dsn));
        let error = sink
            .export(&batch(&*sink, &inventory("apps"), rows(2, 1), 0))
            .await
            .unwrap_err();
        let probe = sink.probe().await.unwrap_err();
        assert_eq!(
            probe.class(),
            error.class(),
            "probe: {probe}; export: {error}"
        );
        error
    }

    #[tokio::test]
    async fn bad_connection_strings_and_unreachable_servers_reveal_nothing() {
        let postgres = json!({"databaseRef": {"name": "db"}, "table": "inventory"});
        for dsn in [
            "postgres://kollect:s3cret@db.internal.example:5432/inv?bogus=1",
            "host=db.internal.example user=kollect password=s3cret port=notaport",
            "host='db.internal.example user=kollect password=s3cret",
        ] {
            let error = kollect_sinks::database::postgres::PostgresSink::new(&support::resolved(
                &postgres,
                &json!({}),
                dsn,
            ))
            .unwrap_err();
            assert_error(&error, ErrorClass::Terminal, "invalid connection string");
            for leak in ["db.internal", "kollect:", "user=kollect"] {
                assert!(!error.to_string().contains(leak), "{error}");
            }
        }
        let error = export_error(
            "postgres://kollect:s3cret@127.0.0.1:1/test",
            &json!({}),
            "inventory",
            "public",
        )
        .await;
        assert_error(&error, ErrorClass::Transient, "connection failed");
        assert!(!error.to_string().contains("127.0.0.1"), "{error}");
        assert!(!error.to_string().contains("kollect:"), "{error}");
    }

    #[tokio::test]
    async fn missing_secrets_are_refused_with_the_keys_to_use() {
        let postgres = json!({"databaseRef": {"name": "db"}, "table": "inventory"});
        let spec: kollect_api::v1alpha1::DatabaseSinkSpec =
            serde_json::from_value(json!({"type": "postgres", "postgres": postgres})).unwrap();
        let bare = kollect_export::ResolvedSinkSpec::new(
            "conformance".parse().unwrap(),
            "db".parse().unwrap(),
            kollect_export::SinkSpec::Database(spec),
        );
        let error = kollect_sinks::database::postgres::PostgresSink::new(&bare).unwrap_err();
        assert_error(
            &error,
            ErrorClass::Terminal,
            "postgres databaseRef secret is empty",
        );
        let other = bare.clone().with_secrets(kollect_export::Secrets::new(
            [
                ("password".to_owned(), b"x".to_vec()),
                ("dsn".to_owned(), b"  ".to_vec()),
            ]
            .into(),
        ));
        let error = kollect_sinks::database::postgres::PostgresSink::new(&other).unwrap_err();
        assert_error(
            &error,
            ErrorClass::Terminal,
            "dsn, url, connectionString, DATABASE_URL",
        );
    }

    #[tokio::test]
    async fn a_table_of_another_layout_is_refused_with_the_column() {
        let client = support::admin().await;
        let schema = support::unique("kt_layout");
        support::schema(&client, &schema).await;
        client
            .batch_execute(&format!(
                "CREATE TABLE \"{schema}\".inventory (inventory_namespace TEXT, inventory_name TEXT, \
                 target_name TEXT, source_uid TEXT, cluster TEXT, resource_namespace TEXT, \
                 payload TEXT, exported_at TIMESTAMPTZ)"
            ))
            .await
            .unwrap();
        let error = export_error(&support::server_dsn(), &json!({}), "inventory", &schema).await;
        assert_error(
            &error,
            ErrorClass::Terminal,
            "column payload is text, the sink writes jsonb",
        );
        client
            .batch_execute(&format!(
                "ALTER TABLE \"{schema}\".inventory DROP COLUMN cluster"
            ))
            .await
            .unwrap();
        let error = export_error(&support::server_dsn(), &json!({}), "inventory", &schema).await;
        assert_error(&error, ErrorClass::Terminal, "has no column cluster (text)");
    }

    #[tokio::test]
    async fn authentication_database_table_and_permission_failures_are_classified() {
        let client = support::admin().await;
        let schema = support::unique("kt_fail");
        support::schema(&client, &schema).await;
        // Wrong password, against a server that checks passwords.
        let server = tokio::task::spawn_blocking(support::ScramServer::start)
            .await
            .unwrap();
        let error = export_error(
            &format!(
                "postgres://postgres:wrong-password@127.0.0.1:{}/postgres",
                server.port
            ),
            &json!({}),
            "inventory",
            "public",
        )
        .await;
        assert_error(&error, ErrorClass::Terminal, "authentication failed");
        assert!(matches!(error, SinkError::Unauthenticated { .. }));
        assert!(!error.to_string().contains("postgres\""), "{error}");
        let good = format!(
            "postgres://postgres:{}@127.0.0.1:{}/postgres",
            support::ScramServer::PASSWORD,
            server.port
        );
        let postgres = json!({"databaseRef": {"name": "db"}, "table": "inventory"});
        let sink = support::build(&support::resolved(&postgres, &json!({}), &good));
        sink.probe().await.unwrap();
        drop(server);
        // A role that does not exist.
        let error = export_error(
            "postgres://kollect_no_such_role@127.0.0.1:5432/test",
            &json!({}),
            "inventory",
            &schema,
        )
        .await;
        assert_error(&error, ErrorClass::Terminal, "authentication failed");
        // A database that does not exist.
        let error = export_error(
            "postgres://postgres@127.0.0.1:5432/kollect_no_such_db",
            &json!({}),
            "inventory",
            &schema,
        )
        .await;
        assert_error(&error, ErrorClass::Terminal, "does not exist");
        assert!(matches!(error, SinkError::Misconfigured { .. }), "{error}");
        // provisioning.mode existing against a missing table: refused, nothing created.
        let error = export_error(
            &support::server_dsn(),
            &json!({"provisioning": {"mode": "existing"}}),
            "missing",
            &schema,
        )
        .await;
        assert_error(&error, ErrorClass::Terminal, "(provisioning.mode=existing)");
        let tables: i64 = client
            .query_one(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1",
                &[&schema],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(tables, 0, "existing mode creates nothing");
        // A schema that does not exist.
        let error = export_error(
            &support::server_dsn(),
            &json!({}),
            "inventory",
            "kollect_no_such_schema",
        )
        .await;
        assert_error(&error, ErrorClass::Terminal, "schema");
        // A user that may read the table but not write it.
        let role = format!("{schema}_ro");
        support::table_with_write_counter(&client, &schema, "inventory").await;
        client
            .batch_execute(&format!(
                "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN; \
                 GRANT USAGE ON SCHEMA \"{schema}\" TO {role}; \
                 GRANT SELECT ON \"{schema}\".inventory TO {role};"
            ))
            .await
            .unwrap();
        let postgres =
            json!({"databaseRef": {"name": "db"}, "table": "inventory", "schema": schema});
        let sink = support::build(&support::resolved(
            &postgres,
            &json!({"provisioning": {"mode": "existing"}}),
            &format!("postgres://{role}@127.0.0.1:5432/test"),
        ));
        sink.probe().await.unwrap();
        let error = sink
            .export(&batch(&*sink, &inventory("apps"), rows(2, 1), 0))
            .await
            .unwrap_err();
        assert_error(&error, ErrorClass::Forbidden, "permission denied");
        client
            .batch_execute(&format!(
                "DROP SCHEMA \"{schema}\" CASCADE; DROP ROLE {role};"
            ))
            .await
            .unwrap();
    }
}

/// `spec.postgres.history: true`: every version of every row, in the export's transaction.
mod history {
    use serde_json::json;

    use super::support::{self, inventory, row, rows};

    /// `(name, image, valid_from offset, valid_to offset)` of every version, offsets in seconds
    /// after the first export.
    async fn versions(
        client: &tokio_postgres::Client,
        schema: &str,
    ) -> Vec<(String, String, i64, Option<i64>)> {
        client
            .query(
                &format!(
                    "SELECT payload->>'name', coalesce(payload->'attributes'->>'image', ''), \
                     extract(epoch FROM valid_from - $1)::bigint, \
                     extract(epoch FROM valid_to - $1)::bigint \
                     FROM \"{schema}\".inventory_history ORDER BY 1, 3"
                ),
                &[&support::exported_at(0)],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect()
    }

    async fn names_and_images(
        client: &tokio_postgres::Client,
        schema: &str,
        from: &str,
    ) -> Vec<(String, String)> {
        client
            .query(
                &format!(
                    "SELECT payload->>'name', payload->'attributes'->>'image' FROM \"{schema}\".{from} \
                     ORDER BY 1"
                ),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }

    fn app(name: &str, image: &str) -> kollect_export::TargetRow {
        row("conformance", name, &format!(r#"{{"image":"{image}"}}"#))
    }

    #[tokio::test]
    async fn changes_close_the_old_version_and_open_a_new_one() {
        let client = support::admin().await;
        let schema = support::unique("kt_hist");
        support::schema(&client, &schema).await;
        let with_history = json!({"databaseRef": {"name": "db"}, "table": "inventory", "schema": schema, "history": true});
        let sink = support::build(&support::resolved(
            &with_history,
            &json!({}),
            &support::server_dsn(),
        ));
        let apps = inventory("apps");
        support::export(
            &*sink,
            &apps,
            vec![app("a", "a:1"), app("b", "b:1"), app("c", "c:1")],
            0,
        )
        .await;
        // b changes, c goes, d comes.
        support::export(
            &*sink,
            &apps,
            vec![app("a", "a:1"), app("b", "b:2"), app("d", "d:1")],
            100,
        )
        .await;
        // b changes twice in one instant: one version, the latest content.
        support::export(
            &*sink,
            &apps,
            vec![app("a", "a:1"), app("b", "b:3"), app("d", "d:1")],
            200,
        )
        .await;
        support::export(
            &*sink,
            &apps,
            vec![app("a", "a:1"), app("b", "b:4"), app("d", "d:1")],
            200,
        )
        .await;
        let s = |x: &str| x.to_owned();
        assert_eq!(
            versions(&client, &schema).await,
            [
                (s("a"), s("a:1"), 0, None),
                (s("b"), s("b:1"), 0, Some(100)),
                (s("b"), s("b:2"), 100, Some(200)),
                (s("b"), s("b:4"), 200, None),
                (s("c"), s("c:1"), 0, Some(100)),
                (s("d"), s("d:1"), 100, None),
            ]
        );
        // A fresh sink (unknown state) changing a row through the verify pass, and the bulk path.
        let fresh = support::build(&support::resolved(
            &with_history,
            &json!({}),
            &support::server_dsn(),
        ));
        support::export(
            &*fresh,
            &apps,
            vec![app("a", "a:2"), app("b", "b:4"), app("d", "d:1")],
            300,
        )
        .await;
        let mut many = rows(40, 1);
        many.push(app("a", "a:2"));
        support::export(&*fresh, &apps, many, 400).await;
        let open =
            names_and_images(&client, &schema, "inventory_history WHERE valid_to IS NULL").await;
        let current = names_and_images(&client, &schema, "inventory").await;
        assert_eq!(open, current, "the open versions are the current rows");
        assert_eq!(current.len(), 41);
        let closed_at_400: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM \"{schema}\".inventory_history WHERE valid_to = $1"),
                &[&support::exported_at(400)],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(closed_at_400, 2, "b and d closed by the last export");
    }

    #[tokio::test]
    async fn turning_history_on_later_opens_a_version_for_every_existing_row() {
        let client = support::admin().await;
        let schema = support::unique("kt_hist_late");
        support::schema(&client, &schema).await;
        let plain = support::sink(&schema, "inventory", &json!({}));
        let apps = inventory("apps");
        support::export(&*plain, &apps, vec![app("a", "a:1"), app("b", "b:1")], 0).await;
        let with_history = json!({"databaseRef": {"name": "db"}, "table": "inventory", "schema": schema, "history": true});
        let sink = support::build(&support::resolved(
            &with_history,
            &json!({}),
            &support::server_dsn(),
        ));
        let receipt =
            support::export(&*sink, &apps, vec![app("a", "a:1"), app("b", "b:2")], 50).await;
        assert_eq!(receipt.rows_upserted, 1, "only b changed");
        let s = |x: &str| x.to_owned();
        assert_eq!(
            versions(&client, &schema).await,
            [
                (s("a"), s("a:1"), 0, None),
                (s("b"), s("b:1"), 0, Some(50)),
                (s("b"), s("b:2"), 50, None),
            ]
        );
    }

    #[tokio::test]
    async fn existing_mode_needs_the_history_table_too() {
        let client = support::admin().await;
        let schema = support::unique("kt_hist_existing");
        support::schema(&client, &schema).await;
        support::table_with_write_counter(&client, &schema, "inventory").await;
        let spec = json!({"databaseRef": {"name": "db"}, "table": "inventory", "schema": schema, "history": true});
        let sink = support::build(&support::resolved(
            &spec,
            &json!({"provisioning": {"mode": "existing"}}),
            &support::server_dsn(),
        ));
        let error = sink.probe().await.unwrap_err();
        assert!(
            error
                .to_string()
                .contains("inventory_history\" does not exist (provisioning.mode=existing)"),
            "{error}"
        );
    }
}

/// TLS per libpq's `sslmode`, with the CA from `spec.tls` (DECISIONS D12). The local server
/// runs with Debian's snakeoil certificate: self-signed, valid for `localhost` only.
mod tls {
    use kollect_export::{ErrorClass, Sink as _};
    use serde_json::json;

    use super::support::{self, batch, inventory, rows};

    const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

    /// Exports through `dsn` (with a unique application name) and returns whether the session
    /// was encrypted, or the export's error.
    async fn session_ssl(
        dsn: &str,
        extra: &serde_json::Value,
        ca: bool,
    ) -> Result<bool, kollect_export::SinkError> {
        let client = support::admin().await;
        let schema = support::unique("kt_tls");
        support::schema(&client, &schema).await;
        let app = format!("kollect-{schema}");
        let separator = if dsn.contains('?') { '&' } else { '?' };
        let dsn = format!("{dsn}{separator}application_name={app}");
        let postgres =
            json!({"databaseRef": {"name": "db"}, "table": "inventory", "schema": schema});
        let mut spec = support::resolved(&postgres, extra, &dsn);
        if ca {
            spec = spec.with_ca_bundle(std::fs::read(SNAKEOIL).expect("the snakeoil certificate"));
        }
        let sink = kollect_sinks::database::postgres::PostgresSink::new(&spec)?;
        sink.export(&batch(&sink, &inventory("apps"), rows(1, 1), 0))
            .await?;
        let ssl: Vec<bool> = client
            .query(
                "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                 WHERE a.application_name = $1",
                &[&app],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(!ssl.is_empty(), "the sink's session is visible");
        Ok(ssl.iter().all(|s| *s))
    }

    #[tokio::test]
    async fn sslmode_is_honoured_with_the_ca_from_the_spec() {
        let ip = "postgres://postgres@127.0.0.1:5432/test";
        let name = "postgres://postgres@localhost:5432/test";
        assert!(
            !session_ssl(&format!("{ip}?sslmode=disable"), &json!({}), false)
                .await
                .unwrap()
        );
        assert!(
            session_ssl(&format!("{ip}?sslmode=require"), &json!({}), false)
                .await
                .unwrap()
        );
        assert!(
            session_ssl(ip, &json!({}), false).await.unwrap(),
            "prefer is the default"
        );
        assert!(
            session_ssl(&format!("{ip}?sslmode=verify-ca"), &json!({}), true)
                .await
                .unwrap()
        );
        assert!(
            session_ssl(&format!("{name}?sslmode=verify-full"), &json!({}), true)
                .await
                .unwrap()
        );
        // The certificate names localhost, not 127.0.0.1.
        let error = session_ssl(&format!("{ip}?sslmode=verify-full"), &json!({}), true)
            .await
            .unwrap_err();
        assert_eq!(error.class(), ErrorClass::Terminal, "{error}");
        assert!(
            error.to_string().contains("TLS handshake failed"),
            "{error}"
        );
        // No CA: verification cannot work, said before connecting.
        let error = session_ssl(&format!("{name}?sslmode=verify-full"), &json!({}), false)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("need the server's CA"),
            "{error}"
        );
        // insecureSkipVerify: encrypted, not verified.
        let insecure = json!({"tls": {"insecureSkipVerify": true}});
        assert!(
            session_ssl(&format!("{ip}?sslmode=verify-full"), &insecure, false)
                .await
                .unwrap()
        );
        // A CA that did not sign the server's certificate.
        let error = {
            let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
            let postgres = json!({"databaseRef": {"name": "db"}, "table": "inventory"});
            let spec = support::resolved(
                &postgres,
                &json!({}),
                &format!("{name}?sslmode=verify-full"),
            )
            .with_ca_bundle(other.cert.pem().into_bytes());
            let sink = support::build(&spec);
            sink.probe().await.unwrap_err()
        };
        assert!(
            error.to_string().contains("TLS handshake failed"),
            "{error}"
        );
    }
}

/// The `psql` queries of `docs/sinks/postgres.md` run against a table this test fills, and print
/// what the document shows.
mod docs {
    use std::sync::Arc;

    use kollect_export::{ExportBatch, InventoryKey, Sink, SinkId, SinkRole, Snapshot, TargetRow};
    use serde_json::json;

    use super::support;

    const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/sinks/postgres.md");
    const MARK: &str = "<!-- checked by crates/sinks/tests/postgres.rs -->";

    fn workload(namespace: &str, name: &str, image: &str) -> TargetRow {
        TargetRow {
            target_namespace: namespace.into(),
            target_name: "workloads".into(),
            kind: kollect_export::Gvk::new("apps", "v1", "Deployment"),
            row: Arc::new(kollect_api::row::Row {
                namespace: namespace.into(),
                name: name.into(),
                uid: format!("uid-{namespace}-{name}").into(),
                resource_version: "".into(),
                attributes: kollect_api::row::Attributes::from_canonical(format!(
                    r#"{{"image":"{image}","replicas":2}}"#
                )),
            }),
        }
    }

    /// `(sql, expected output)` of every checked query of the document.
    fn checked_queries(doc: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut rest = doc;
        while let Some(at) = rest.find(MARK) {
            rest = &rest[at + MARK.len()..];
            let block = |text: &str, fence: &str| -> (String, usize) {
                let start = text.find(fence).expect("a fenced block after the mark") + fence.len();
                let end = start + text[start..].find("\n```").expect("a closing fence");
                (
                    text[start..end].trim_start_matches('\n').to_owned(),
                    end + 4,
                )
            };
            let (sql, used) = block(rest, "```sql");
            let (expected, _) = block(&rest[used..], "```text");
            out.push((sql, expected));
        }
        out
    }

    #[tokio::test]
    async fn the_documented_queries_return_what_the_document_shows() {
        let client = support::admin().await;
        let schema = support::unique("kt_docs");
        support::schema(&client, &schema).await;
        let postgres = json!({"databaseRef": {"name": "db"}, "table": "inventory", "schema": schema, "history": true});
        let sink = support::build(&support::resolved(
            &postgres,
            &json!({"cluster": "prod-west"}),
            &support::server_dsn(),
        ));
        let fleet = InventoryKey::cluster("fleet".parse().unwrap());
        let export = |rows: Vec<TargetRow>, minutes_ago: i64| {
            ExportBatch::builder(
                fleet.clone(),
                SinkId::new(
                    "platform".parse().unwrap(),
                    SinkRole::Database,
                    "db".parse().unwrap(),
                ),
                Arc::new(Snapshot::new(rows)),
            )
            .exported_at(chrono::Utc::now() - chrono::Duration::minutes(minutes_ago))
            .build()
        };
        sink.export(&export(
            vec![
                workload("team-a", "api", "nginx:1.25"),
                workload("team-a", "web", "web:2.0"),
                workload("team-b", "worker", "worker:1.0"),
                workload("team-b", "cron", "nginx:1.25"),
            ],
            120,
        ))
        .await
        .unwrap();
        sink.export(&export(
            vec![
                workload("team-a", "api", "nginx:1.27"),
                workload("team-a", "web", "web:2.0"),
                workload("team-b", "worker", "worker:1.0"),
                workload("team-b", "batch", "batch:0.9"),
            ],
            30,
        ))
        .await
        .unwrap();
        let doc = std::fs::read_to_string(DOC).unwrap();
        let queries = checked_queries(&doc);
        assert!(queries.len() >= 3, "the document has its checked queries");
        let print = std::env::var_os("KOLLECT_PRINT_DOC_QUERIES").is_some();
        for (sql, expected) in queries {
            let output = std::process::Command::new("psql")
                .arg(support::server_dsn())
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c"])
                .arg(format!("SET search_path TO \"{schema}\""))
                .arg("-c")
                .arg(&sql)
                .output()
                .expect("psql (apt install postgresql-client)");
            assert!(
                output.status.success(),
                "{sql}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let actual = String::from_utf8(output.stdout)
                .unwrap()
                .lines()
                .map(str::trim_end)
                .collect::<Vec<_>>()
                .join("\n")
                .trim_end()
                .to_owned();
            if print {
                eprintln!("----\n{sql}\n{actual}");
                continue;
            }
            let expected = expected
                .lines()
                .map(str::trim_end)
                .collect::<Vec<_>>()
                .join("\n");
            assert_eq!(actual, expected.trim_end(), "the output of\n{sql}");
        }
    }
}
