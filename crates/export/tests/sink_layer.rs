//! Sink-layer conformance cases of pipeline spec §8.16 (SNK-01 … SNK-08), as DECISIONS settles
//! them: empty snapshots are exported to every role (D14) and oversize envelopes are split, not
//! skipped (Q1, D10).

mod common;

use std::{sync::Arc, time::Duration};

use common::{batch, noon_with_nanos, row, snapshot};
use kollect_api::v1alpha1::{
    DatabaseSinkSpec, DatabaseSinkType, Reason, SinkCommonSpec, SnapshotSinkSpec, SnapshotSinkType,
};
use kollect_export::{
    Breakers, DEFAULT_MAX_PART_BYTES, ErrorClass, ExportBatch, INLINE_MAX_PART_BYTES, InMemorySink,
    Layers, ResolvedSinkSpec, RetryPolicy, Sink, SinkError, SinkExt as _, SinkFactory,
    SinkRegistry, SinkRole, SinkSpec, SinkType,
};

const EMPTY_FINGERPRINT: &str = "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945";

/// Exports two rows, then the emptied inventory; returns the sink.
async fn export_then_empty(role: SinkRole, sink_name: &str) -> InMemorySink {
    let sink = InMemorySink::new(role);
    let full = batch(
        "team-a/apps",
        sink_name,
        snapshot(vec![row("a", 10), row("b", 10)]),
    )
    .generation(1)
    .build();
    assert!(sink.export(&full).await.expect("exported").wrote);
    let empty = batch("team-a/apps", sink_name, snapshot(vec![]))
        .generation(1)
        .build();
    let receipt = sink.export(&empty).await.expect("exported");
    assert!(receipt.wrote, "{role}: the empty snapshot is written");
    assert_eq!(receipt.parts, 1);
    sink
}

#[tokio::test]
async fn snk_01_empty_snapshot_is_written_to_snapshot_and_event_sinks() {
    for (role, sink) in [
        (SinkRole::Snapshot, "team-a/snapshot/git"),
        (SinkRole::Event, "team-a/event/nats"),
    ] {
        let memory = export_then_empty(role, sink).await;
        let stored = memory.stored(&common::inventory("team-a/apps")).unwrap();
        assert!(stored.snapshot.is_empty(), "{role}");
        assert!(
            stored.parts[0]
                .envelope
                .ends_with(r#""itemCount":0,"exportedAt":"2026-01-15T12:00:00Z","items":[]}"#),
            "{role}: {}",
            stored.parts[0].envelope
        );
        assert_eq!(memory.writes(), 2, "{role}: never skipped");
    }
}

#[tokio::test]
async fn snk_02_empty_snapshot_reaches_a_database_sink_as_an_empty_array() {
    let memory = InMemorySink::new(SinkRole::Database);
    let sink_name = "team-a/database/pg";
    let full = batch(
        "team-a/apps",
        sink_name,
        snapshot(vec![row("a", 10), row("b", 10)]),
    )
    .build();
    let first = memory.export(&full).await.unwrap();
    assert_eq!((first.rows_upserted, first.rows_deleted), (2, 0));
    let empty = batch("team-a/apps", sink_name, snapshot(vec![])).build();
    assert_eq!(empty.digest().as_str(), EMPTY_FINGERPRINT);
    let receipt = memory.export(&empty).await.unwrap();
    assert!(receipt.wrote);
    assert_eq!((receipt.rows_upserted, receipt.rows_deleted), (0, 2));
    let stored = memory.stored(&common::inventory("team-a/apps")).unwrap();
    assert!(stored.parts[0].envelope.contains(r#""items":[]"#));
    assert!(memory.rows(&common::inventory("team-a/apps")).is_empty());
}

#[tokio::test]
async fn snk_03_an_empty_envelope_keeps_generation_cluster_and_exported_at() {
    let empty = batch("team-a/apps", "team-a/database/pg", snapshot(vec![]))
        .generation(7)
        .cluster("prod-west")
        .build();
    let parts = empty.parts().unwrap();
    // An empty snapshot is always one marker-less part; `items` is `[]`, never `null`.
    assert_eq!(parts.parts.len(), 1);
    assert_eq!(
        parts.parts[0].envelope,
        format!(
            r#"{{"schemaVersion":"kollect.dev/v1alpha1","checksum":"{EMPTY_FINGERPRINT}","generation":7,"itemCount":0,"exportedAt":"2026-01-15T12:00:00Z","cluster":"prod-west","items":[]}}"#
        )
    );
    // Without an explicit instant, exportedAt is filled with the time of the build.
    let before = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now());
    let unset = ExportBatch::builder(
        common::inventory("team-a/apps"),
        common::sink_id("team-a/database/pg"),
        snapshot(vec![]),
    )
    .build();
    assert!(unset.exported_at() >= before);
    assert!(
        unset.parts().unwrap().parts[0]
            .envelope
            .contains(r#""exportedAt":""#)
    );
}

/// Rows whose single envelope (at `exported_at` with nine fractional digits) is exactly
/// `target` bytes: `count` rows, the last one padded.
fn rows_totalling(target: usize, count: usize) -> Vec<kollect_aggregate::TargetRow> {
    let meta = kollect_aggregate::EnvelopeMeta {
        generation: 0,
        exported_at: noon_with_nanos(),
        cluster: String::new(),
    };
    let measure = |rows: &[kollect_aggregate::TargetRow]| {
        kollect_aggregate::Snapshot::new(rows.to_vec())
            .envelope(&meta)
            .len()
    };
    let payload = target / count / 2;
    let mut rows: Vec<_> = (0..count)
        .map(|i| row(&format!("r{i:03}"), payload))
        .collect();
    let short = target - measure(&rows);
    let last = count - 1;
    rows[last] = row(&format!("r{last:03}"), payload + short);
    assert_eq!(measure(&rows), target);
    rows
}

#[tokio::test]
async fn snk_04_an_envelope_over_one_mebibyte_is_split_for_git_not_skipped() {
    let rows = rows_totalling(INLINE_MAX_PART_BYTES + 64, 16);
    let git = InMemorySink::new(SinkRole::Snapshot).with_part_cap(INLINE_MAX_PART_BYTES);
    let batch = batch("team-a/apps", "team-a/snapshot/git", snapshot(rows))
        .exported_at(noon_with_nanos())
        .build();
    assert_eq!(batch.max_part_bytes(), DEFAULT_MAX_PART_BYTES);
    let receipt = git.export(&batch).await.unwrap();
    assert!(receipt.wrote, "written, not silently skipped");
    assert!(receipt.parts >= 2, "{receipt:?}");
    let stored = git.stored(batch.inventory()).unwrap();
    for part in &stored.parts {
        assert!(
            part.envelope.len() <= INLINE_MAX_PART_BYTES,
            "{}",
            part.path
        );
    }
    assert_eq!(
        stored.parts[0].path,
        format!(
            "inventory/team-a/apps.part-0001-of-{:04}.json",
            stored.parts.len()
        )
    );
    assert_eq!(git.rows(batch.inventory()).len(), 16, "every row landed");
}

#[test]
fn snk_05_inline_backends_take_up_to_one_mebibyte_object_stores_the_ceiling() {
    let build = |total: usize| {
        batch(
            "team-a/apps",
            "team-a/snapshot/git",
            snapshot(rows_totalling(total, 2)),
        )
        .exported_at(noon_with_nanos())
        .build()
    };
    let at_limit = build(INLINE_MAX_PART_BYTES);
    assert_eq!(
        at_limit
            .parts_within(INLINE_MAX_PART_BYTES)
            .unwrap()
            .parts
            .len(),
        1
    );
    let over = build(INLINE_MAX_PART_BYTES + 1);
    assert_eq!(
        over.parts_within(INLINE_MAX_PART_BYTES)
            .unwrap()
            .parts
            .len(),
        2
    );
    // An object store has no cap of its own: the binding's 1.5 MiB ceiling decides.
    assert_eq!(over.parts_within(0).unwrap().parts.len(), 1);
    assert!(SinkType::S3.is_object_store() && SinkType::Gcs.is_object_store());
    for inline in [
        SinkType::Git,
        SinkType::Gitlab,
        SinkType::Postgres,
        SinkType::Kafka,
    ] {
        assert!(!inline.is_object_store(), "{inline}");
    }
}

#[tokio::test]
async fn snk_06_five_consecutive_failures_open_the_breaker_for_the_sixth_call() {
    let backend = Arc::new(InMemorySink::new(SinkRole::Database));
    backend.fail_next(10, || {
        SinkError::unreachable("connect to postgres://db:5432")
    });
    let breakers = Breakers::default();
    let id = common::sink_id("team-a/database/pg");
    let sink = Arc::clone(&backend).with_breaker(&breakers, &id);
    let batch = batch(
        "team-a/apps",
        "team-a/database/pg",
        snapshot(vec![row("a", 1)]),
    )
    .build();
    for call in 1..=5 {
        let error = sink.export(&batch).await.unwrap_err();
        assert!(
            matches!(error, SinkError::Unreachable { .. }),
            "{call}: {error}"
        );
        assert_eq!(error.class(), ErrorClass::Transient);
    }
    let error = sink.export(&batch).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient);
    assert_eq!(
        error.to_string(),
        "sink circuit breaker open for \"team-a/database/pg\""
    );
    assert_eq!(
        backend.calls(),
        5,
        "the sixth call never reached the backend"
    );
}

#[tokio::test(start_paused = true)]
async fn snk_07_terminal_errors_stay_terminal_and_other_backend_errors_are_transient() {
    let layers = Layers::default();
    let id = common::sink_id("team-a/snapshot/git");
    let batch = batch(
        "team-a/apps",
        "team-a/snapshot/git",
        snapshot(vec![row("a", 1)]),
    )
    .build();

    let backend = Arc::new(InMemorySink::new(SinkRole::Snapshot));
    let sink = Arc::clone(&backend).layered(&layers, &id, SinkType::Git);
    backend.fail_next(1, || {
        SinkError::unauthenticated("push to https://git.example/org/repo.git")
    });
    let error = sink.export(&batch).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Terminal);
    assert_eq!(error.reason(), Reason::ExportTerminal);
    assert_eq!(backend.calls(), 1, "a terminal error is not retried");

    let attempts = RetryPolicy::default().max_attempts();
    backend.fail_next(attempts as usize, || {
        SinkError::other("unexpected reply from the remote")
    });
    let error = sink.export(&batch).await.unwrap_err();
    assert!(matches!(error, SinkError::Other { .. }), "{error:?}");
    assert_eq!(error.class(), ErrorClass::Transient);
    assert_eq!(error.reason(), Reason::ExportFailed);
    assert_eq!(
        backend.calls(),
        1 + u64::from(attempts),
        "transient errors are retried"
    );
}

struct Nowhere;

impl SinkFactory for Nowhere {
    fn build(&self, spec: &ResolvedSinkSpec) -> Result<Arc<dyn Sink>, SinkError> {
        Ok(Arc::new(InMemorySink::new(spec.id().family())))
    }
}

fn git_spec() -> ResolvedSinkSpec {
    ResolvedSinkSpec::new(
        "team-a".parse().expect("a valid namespace"),
        "audit".parse().expect("a valid name"),
        SinkSpec::Snapshot(SnapshotSinkSpec {
            sink_type: SnapshotSinkType::Git,
            common: SinkCommonSpec::default(),
            git: None,
            gitlab: None,
            object_store: None,
            http: None,
        }),
    )
}

fn postgres_spec() -> ResolvedSinkSpec {
    ResolvedSinkSpec::new(
        "team-a".parse().expect("a valid namespace"),
        "warehouse".parse().expect("a valid name"),
        SinkSpec::Database(DatabaseSinkSpec {
            sink_type: DatabaseSinkType::Postgres,
            common: SinkCommonSpec::default(),
            postgres: None,
            bigquery: None,
            mongodb: None,
        }),
    )
}

#[test]
fn snk_08_the_registry_rejects_an_unknown_sink_type_listing_the_supported_ones() {
    let registry = SinkRegistry::new()
        .with(SinkType::S3, Arc::new(Nowhere))
        .with(SinkType::Git, Arc::new(Nowhere));
    let error = registry.build(&postgres_spec()).err().unwrap();
    assert_eq!(
        error.to_string(),
        "sink misconfigured: unknown sink type \"postgres\" (supported: git, s3)"
    );
    assert_eq!(error.class(), ErrorClass::Terminal);
    let sink = registry.build(&git_spec()).unwrap();
    assert_eq!(sink.role(), SinkRole::Snapshot);
}

#[test]
fn the_registry_refuses_a_backend_of_the_wrong_role() {
    struct Confused;
    impl SinkFactory for Confused {
        fn build(&self, _spec: &ResolvedSinkSpec) -> Result<Arc<dyn Sink>, SinkError> {
            Ok(Arc::new(InMemorySink::new(SinkRole::Event)))
        }
    }
    let registry = SinkRegistry::new().with(SinkType::Postgres, Arc::new(Confused));
    let error = registry.build(&postgres_spec()).err().unwrap();
    assert_eq!(error.class(), ErrorClass::Terminal);
    assert!(
        error.to_string().contains("a sink of role event"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_attempt_is_transient_and_retried() {
    let layers = Layers::default();
    let id = common::sink_id("team-a/event/nats");
    let backend =
        Arc::new(InMemorySink::new(SinkRole::Event).with_latency(Duration::from_secs(3600)));
    let sink = Arc::clone(&backend).layered(&layers, &id, SinkType::Nats);
    let batch = batch("team-a/apps", "team-a/event/nats", snapshot(vec![])).build();
    let error = sink.export(&batch).await.unwrap_err();
    assert!(matches!(error, SinkError::Timeout { .. }), "{error:?}");
    assert!(error.is_retriable());
    assert_eq!(backend.calls(), 0, "every attempt was cut short");
}
