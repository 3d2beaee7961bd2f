//! MongoDB sink against `SecantusDB` on 127.0.0.1 (a MongoDB wire-protocol server, started per
//! test by `scripts/services/mongodb.sh` and stopped when the test ends) and, when
//! `KOLLECT_IT_MONGODB_URI` is set, against that real server.
#![cfg(feature = "mongodb")]
#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::panic,
    clippy::print_stderr
)]

#[path = "mongodb/checks.rs"]
mod checks;
#[path = "mongodb/docs.rs"]
mod docs;
#[path = "mongodb/harness.rs"]
mod harness;
#[path = "mongodb/server.rs"]
mod server;

mod conformance {
    kollect_export::conformance_tests!(super::harness::Conformance::secantus().await);
}

use std::{error::Error as _, net::TcpListener, sync::Arc, time::Instant};

use kollect_api::v1alpha1::{CaBundle, TlsSpec};
use kollect_export::{
    ErrorClass, Sink as _, SinkError, SinkFactory as _, SinkRegistry, SinkType, Snapshot,
};
use kollect_sinks::database::mongodb::MongoDbSinkFactory;
use mongodb::bson::doc;

use crate::{
    checks::{apps, batch, export, row, snapshot, v1},
    harness::{COLLECTION, Env, REAL_URI_VARIABLE, resolved, secrets},
    server::{Options, Server},
};

#[tokio::test]
async fn ensure_creates_the_collection_and_the_unique_index() {
    checks::ensure_creates_the_collection_and_the_unique_index(&Env::secantus().await).await;
}

#[tokio::test]
async fn existing_mode_against_a_missing_collection_fails_and_creates_nothing() {
    checks::existing_mode_creates_nothing(&Env::secantus().await).await;
}

#[tokio::test]
async fn documents_have_the_fields_and_types_of_the_spec() {
    checks::documents_have_the_fields_and_types_of_the_spec(&Env::secantus().await).await;
}

#[tokio::test]
async fn deletes_and_empty_snapshots_stay_in_their_partition() {
    checks::deletes_and_empty_snapshots_stay_in_their_partition(&Env::secantus().await).await;
}

#[tokio::test]
async fn reexports_keep_the_count_and_the_ids() {
    checks::reexports_keep_the_count_and_the_ids(&Env::secantus().await).await;
}

#[tokio::test]
async fn another_clusters_document_with_the_same_key_fails_terminally() {
    checks::another_clusters_document_with_the_same_key_fails_terminally(&Env::secantus().await)
        .await;
}

#[tokio::test]
async fn a_validator_refusal_is_terminal() {
    checks::a_validator_refusal_is_terminal(&Env::secantus().await).await;
}

/// The conformance suite and the §17.8 checks against a real MongoDB, when
/// `KOLLECT_IT_MONGODB_URI` names one (`SecantusDB` is a reimplementation: this is the check
/// that the sink works against mongod itself). The user needs `readWrite` on the test
/// databases (`kit_*` and the conformance cases' prefixes), `dropDatabase`, and `top`
/// (`clusterMonitor`) to count writes.
#[tokio::test]
async fn real_mongodb_conformance_and_checks() {
    let Some(env) = Env::real().await else {
        eprintln!(
            "SKIPPED: set {REAL_URI_VARIABLE}=mongodb://USER:PASSWORD@HOST:27017/?authSource=admin \
             to run the MongoDB sink's conformance suite and §17.8 checks against a real server"
        );
        return;
    };
    checks::all(&env).await;
    let harness = harness::Conformance::on(env);
    kollect_export::conformance::run_all(&harness).await;
    harness.cleanup().await;
}

#[tokio::test]
async fn the_factory_registers_for_mongodb_and_builds_database_sinks() {
    let env = Env::secantus().await;
    let registry = MongoDbSinkFactory::new().register(SinkRegistry::new());
    assert_eq!(
        registry.supported().collect::<Vec<_>>(),
        [SinkType::Mongodb]
    );
    let database = Env::database("registry");
    let sink = registry
        .build(&env.resolved(&database, |_| {}))
        .expect("a valid spec");
    assert_eq!(
        sink.to_string(),
        format!("mongodb({database}.{COLLECTION})")
    );
    sink.probe().await.expect("the probe passes");
}

#[tokio::test]
async fn every_secret_key_works_end_to_end() {
    let env = Env::secantus().await;
    for key in ["uri", "url", "connectionString", "MONGODB_URI"] {
        let database = Env::database(&format!("key_{key}"));
        let resolved = resolved(env.uri(), &database, |_| {}).with_secrets(secrets(key, env.uri()));
        let sink = MongoDbSinkFactory::new()
            .build_mongodb(&resolved)
            .expect("valid");
        export(&sink, &batch(&apps(), &v1(), 0)).await;
        assert_eq!(
            env.read_back(&database, &apps(), "").await.unwrap().len(),
            2,
            "{key}"
        );
    }
}

/// The examples of `docs/sinks/mongodb.md`, run against the fleet the document describes.
#[tokio::test]
async fn the_documented_queries_return_what_the_document_shows() {
    let env = Env::secantus().await;
    let database = Env::database("docs");
    let sink = env.sink(&database, |spec| {
        spec.common.cluster = Some("prod-west".into());
    });
    let deployment = |namespace: &str, name: &str, image: &str, replicas: u32| {
        let mut row = row(
            name,
            &format!(r#"{{"image":"{image}","replicas":{replicas}}}"#),
        );
        row.target_namespace = namespace.into();
        let inner = Arc::make_mut(&mut row.row);
        inner.namespace = namespace.into();
        inner.uid = format!("uid-{namespace}-{name}").into();
        row
    };
    let fleet = snapshot(vec![
        deployment("team-a", "api", "nginx:1.27", 3),
        deployment("team-a", "web", "nginx:1.25", 1),
        deployment("team-b", "batch", "busybox:1.36", 1),
        deployment("team-b", "cron", "nginx:1.27", 2),
    ]);
    export(&sink, &batch(&"fleet".parse().unwrap(), &fleet, 0)).await;

    let markdown = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/sinks/mongodb.md"),
    )
    .unwrap();
    let examples = docs::examples(&markdown);
    assert!(examples.len() >= 4, "the checked examples: {examples:?}");
    let collection = env.collection(&database);
    let canonical = |value: &serde_json::Value| {
        let mut text = String::new();
        kollect_api::canonical::write_value(&mut text, value);
        text
    };
    for example in examples {
        let documents = match &example.command {
            docs::Command::Count(filter) => {
                let count = collection.count_documents(filter.clone()).await.unwrap();
                vec![serde_json::Value::from(count)]
            }
            docs::Command::Aggregate(pipeline) => {
                let mut cursor = collection.aggregate(pipeline.clone()).await.unwrap();
                let mut documents = Vec::new();
                while cursor.advance().await.unwrap() {
                    let document = cursor.deserialize_current().unwrap();
                    documents.push(harness::json(mongodb::bson::Bson::Document(document)).unwrap());
                }
                documents
            }
            docs::Command::Find {
                filter,
                projection,
                sort,
            } => {
                let mut cursor = collection
                    .find(filter.clone())
                    .with_options(
                        mongodb::options::FindOptions::builder()
                            .projection(projection.clone())
                            .sort(sort.clone())
                            .build(),
                    )
                    .await
                    .unwrap();
                let mut documents = Vec::new();
                while cursor.advance().await.unwrap() {
                    let document = cursor.deserialize_current().unwrap();
                    documents.push(harness::json(mongodb::bson::Bson::Document(document)).unwrap());
                }
                documents
            }
        };
        let actual: Vec<String> = documents.iter().map(canonical).collect();
        let expected: Vec<String> = example.expected.iter().map(canonical).collect();
        assert_eq!(actual, expected, "{}", example.text);
    }
}

/// A server with two users: `kollect` (readWrite on `kollect`) and `reader` (read on
/// `kollect`), password `right`, started with authentication on.
fn server_with_users(dir: &std::path::Path) -> Server {
    let mut setup = Server::start_with(&Options {
        storage: Some(dir.to_owned()),
        ..Options::default()
    });
    let uri = setup.uri("");
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Runtime::new().unwrap().block_on(async {
                    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
                    for (user, role) in [("kollect", "readWrite"), ("reader", "read")] {
                        client
                            .database("admin")
                            .run_command(doc! {
                                "createUser": user,
                                "pwd": "right",
                                "roles": [{ "role": role, "db": "kollect" }],
                            })
                            .await
                            .unwrap();
                    }
                });
            })
            .join()
            .unwrap();
    });
    setup.stop();
    Server::start_with(&Options {
        storage: Some(dir.to_owned()),
        auth: true,
        ..Options::default()
    })
}

#[tokio::test]
async fn wrong_credentials_and_missing_privileges_are_classified() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_users(dir.path());
    let build = |uri: String| {
        MongoDbSinkFactory::new()
            .build_mongodb(&resolved(&uri, "kollect", |_| {}))
            .unwrap()
    };

    let wrong = build(server.uri_as("kollect", "wrong"));
    for error in [
        wrong.probe().await.expect_err("wrong password"),
        wrong
            .export(&batch(&apps(), &v1(), 0))
            .await
            .expect_err("wrong password"),
    ] {
        assert!(
            matches!(error, SinkError::Unauthenticated { .. }),
            "{error:?}"
        );
        assert_eq!(error.class(), ErrorClass::Terminal);
        assert_secrets_hidden(
            &error,
            &["kollect:wrong", "wrong", &server.port().to_string()],
        );
    }

    let reader = build(server.uri_as("reader", "right"));
    reader.probe().await.expect("ping needs no privilege");
    let error = reader
        .export(&batch(&apps(), &v1(), 0))
        .await
        .expect_err("read-only");
    assert!(
        matches!(error, SinkError::PermissionDenied { .. }),
        "{error:?}"
    );
    assert_eq!(error.class(), ErrorClass::Forbidden);
    assert!(error.to_string().contains("mongodb"), "{error}");

    let writer = build(server.uri_as("kollect", "right"));
    writer.probe().await.expect("the right password");
    export(&writer, &batch(&apps(), &v1(), 0)).await;
}

/// Neither the message nor the source of `error` contains any of `secrets`.
fn assert_secrets_hidden(error: &SinkError, secrets: &[&str]) {
    let mut texts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        texts.push(cause.to_string());
        source = cause.source();
    }
    for text in &texts {
        for secret in secrets {
            assert!(!text.contains(secret), "{secret:?} leaked in {text:?}");
        }
    }
}

#[tokio::test]
async fn an_unreachable_server_is_unreachable_and_reveals_no_host() {
    let port = server::free_port();
    let uri = format!(
        "mongodb://kollect:hunter2@127.0.0.1:{port}/?directConnection=true&serverSelectionTimeoutMS=1000"
    );
    let sink = MongoDbSinkFactory::new()
        .build_mongodb(&resolved(&uri, "kollect", |_| {}))
        .unwrap();
    let started = Instant::now();
    for error in [
        sink.probe().await.expect_err("nothing listens"),
        sink.export(&batch(&apps(), &v1(), 0))
            .await
            .expect_err("nothing listens"),
    ] {
        assert!(matches!(error, SinkError::Unreachable { .. }), "{error:?}");
        assert!(error.is_retriable());
        assert!(error.source().is_some(), "the driver's reason is kept");
        assert_secrets_hidden(
            &error,
            &["127.0.0.1", &port.to_string(), "hunter2", "kollect:"],
        );
    }
    assert!(
        started.elapsed().as_secs() < 10,
        "bounded by the URI's selection timeout"
    );
}

/// A server that accepts connections and never answers: the probe gives up after 15 s (in
/// paused time) with `Timeout`.
#[tokio::test(start_paused = true)]
async fn a_server_that_never_answers_times_the_probe_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let uri = format!(
        "mongodb://127.0.0.1:{port}/?directConnection=true&serverSelectionTimeoutMS=600000&connectTimeoutMS=600000"
    );
    let sink = MongoDbSinkFactory::new()
        .build_mongodb(&resolved(&uri, "kollect", |_| {}))
        .unwrap();
    let error = sink.probe().await.expect_err("no answer");
    assert!(matches!(error, SinkError::Timeout { .. }), "{error:?}");
    assert!(error.to_string().contains("within 15 s"), "{error}");
    drop(listener);
}

/// A private CA, and a server certificate for 127.0.0.1 signed by it, written to `dir`.
fn private_ca(dir: &std::path::Path) -> (String, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let cert = params
        .signed_by(&key, &rcgen::Issuer::new(ca_params, ca_key))
        .unwrap();
    let (cert_path, key_path) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (ca.pem(), cert_path, key_path)
}

#[tokio::test]
async fn tls_servers_are_verified_against_the_sinks_ca_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, cert, key) = private_ca(dir.path());
    let other_dir = dir.path().join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let (other_ca, _, _) = private_ca(&other_dir);
    let server = Server::start_with(&Options {
        tls: Some((cert, key)),
        ..Options::default()
    });
    let uri = server.uri("&serverSelectionTimeoutMS=2000");
    let sink = |database: &str, ca: Option<&str>, tls: Option<TlsSpec>| {
        let mut resolved = resolved(&uri, database, |spec| spec.common.tls = tls);
        if let Some(ca) = ca {
            resolved = resolved.with_ca_bundle(ca.as_bytes().to_vec());
        }
        MongoDbSinkFactory::new().build_mongodb(&resolved).unwrap()
    };
    let ca_spec = |pem: &str| TlsSpec {
        insecure_skip_verify: None,
        ca_bundle: Some(CaBundle(pem.as_bytes().to_vec())),
        ca_secret_ref: None,
    };

    // The right CA: TLS is turned on by spec.tls alone, and stays usable after the CA file the
    // driver read at construction is gone.
    let trusted = sink("kollect", Some(&ca_pem), Some(ca_spec(&ca_pem)));
    trusted.probe().await.expect("the CA bundle is trusted");
    export(&trusted, &batch(&apps(), &v1(), 0)).await;
    let changed = snapshot(vec![row("api", r#"{"replicas":5}"#)]);
    export(&trusted, &batch(&apps(), &changed, 1)).await;
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with(&format!("kollect-mongodb-ca-{}-", std::process::id()))
        })
        .collect();
    assert!(
        leftovers.is_empty(),
        "the CA file is removed: {leftovers:?}"
    );

    // Another CA: the handshake fails, as Unreachable, with the certificate problem kept.
    let untrusted = sink("kollect", Some(&other_ca), Some(ca_spec(&other_ca)));
    let error = untrusted.probe().await.expect_err("an unknown issuer");
    assert!(matches!(error, SinkError::Unreachable { .. }), "{error:?}");
    let source = error.source().map(ToString::to_string).unwrap_or_default();
    assert!(source.to_lowercase().contains("certificate"), "{source}");

    // insecureSkipVerify accepts it.
    let insecure = sink(
        "kollect",
        Some(&other_ca),
        Some(TlsSpec {
            insecure_skip_verify: Some(true),
            ..ca_spec(&other_ca)
        }),
    );
    insecure.probe().await.expect("verification is off");

    // Without spec.tls the URI's own TLS options work: tls=true&tlsCAFile=<file>.
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let uri_tls = format!(
        "{}&tls=true&tlsCAFile={}",
        server.uri("&serverSelectionTimeoutMS=2000"),
        ca_file.display()
    );
    let by_uri = MongoDbSinkFactory::new()
        .build_mongodb(&resolved(&uri_tls, "kollect", |_| {}))
        .unwrap();
    by_uri.probe().await.expect("the URI's CA file is used");
}

/// Measures (does not assert) a 10 000-row export and re-exports against `SecantusDB`:
/// `cargo nextest run -p kollect-sinks --features mongodb --run-ignored only -E 'test(measure)' --no-capture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by hand"]
async fn measure_ten_thousand_rows() {
    let env = Env::secantus().await;
    let database = Env::database("measure");
    let rows = |changed: Option<usize>| {
        snapshot(
            (0..10_000)
                .map(|i| {
                    let image = if Some(i) == changed { "app:2.0" } else { "app:1.0" };
                    row(
                        &format!("app-{i:05}"),
                        &format!(
                            r#"{{"image":"{image}","labels":{{"app.kubernetes.io/name":"app-{i:05}","team":"a"}},"ports":[8080,9090],"replicas":{}}}"#,
                            i % 7
                        ),
                    )
                })
                .collect(),
        )
    };
    let (v1, v2) = (rows(None), rows(Some(4_242)));
    let timed = |label: &'static str, receipt: kollect_export::ExportReceipt, started: Instant| {
        eprintln!(
            "{label}: {:?} (wrote {}, upserted {}, deleted {}, {} bytes)",
            started.elapsed(),
            receipt.wrote,
            receipt.rows_upserted,
            receipt.rows_deleted,
            receipt.bytes_written
        );
    };
    let sink = env.sink(&database, |_| {});
    let started = Instant::now();
    let receipt = export(&sink, &batch(&apps(), &v1, 0)).await;
    timed("first export, 10 000 rows", receipt, started);
    let started = Instant::now();
    let receipt = export(&sink, &batch(&apps(), &v2, 1)).await;
    timed("re-export, one row changed (memory)", receipt, started);
    let started = Instant::now();
    let receipt = export(&sink, &batch(&apps(), &v2, 2)).await;
    timed("re-export, unchanged (memory)", receipt, started);
    let restarted = env.sink(&database, |_| {});
    let started = Instant::now();
    let receipt = export(&restarted, &batch(&apps(), &v1, 3)).await;
    timed(
        "new sink, one row changed (reads the partition)",
        receipt,
        started,
    );
    let started = Instant::now();
    let receipt = export(
        &restarted,
        &batch(&apps(), &Arc::new(Snapshot::default()), 4),
    )
    .await;
    timed("empty snapshot, 10 000 deleted", receipt, started);
}
