//! The decorators — retries, timeouts, the circuit breaker and metrics — and fan-out, on the
//! tokio clock (paused: no test sleeps for real or depends on how fast it runs).

mod common;

use std::{sync::Arc, time::Duration};

use common::{batch, row, sink_id, snapshot};
use kollect_export::{
    BreakerState, Breakers, ErrorClass, ExportMetrics, InMemorySink, RetryPolicy, Sink, SinkError,
    SinkExt as _, SinkRole, SinkType, Timeouts, fan_out,
};
use prometheus_client::{encoding::text::encode, registry::Registry};
use tokio::time::Instant;

fn pg_batch() -> kollect_export::ExportBatch {
    batch(
        "team-a/apps",
        "team-a/database/pg",
        snapshot(vec![row("a", 1)]),
    )
    .build()
}

fn refused() -> SinkError {
    SinkError::unreachable("connect to postgres://db:5432")
}

#[tokio::test(start_paused = true)]
async fn retrying_rides_over_transient_failures_with_bounded_backoff() {
    let backend = Arc::new(InMemorySink::new(SinkRole::Database));
    backend.fail_next(2, refused);
    let policy = RetryPolicy::default();
    let sink = Arc::clone(&backend).retrying(policy.clone());
    let started = Instant::now();
    let receipt = sink.export(&pg_batch()).await.unwrap();
    assert!(receipt.wrote);
    assert_eq!(backend.calls(), 3);
    let waited = started.elapsed();
    let least = policy.backoff(1, 0.0) + policy.backoff(2, 0.0);
    let most = policy.backoff(1, 1.0) + policy.backoff(2, 1.0);
    assert!(least <= waited && waited <= most, "{waited:?}");
}

#[tokio::test(start_paused = true)]
async fn retrying_gives_up_after_the_last_attempt() {
    let backend = Arc::new(InMemorySink::new(SinkRole::Database));
    backend.fail_next(5, refused);
    let sink = Arc::clone(&backend).retrying(RetryPolicy::default().with_max_attempts(3));
    let error = sink.export(&pg_batch()).await.unwrap_err();
    assert!(matches!(error, SinkError::Unreachable { .. }));
    assert_eq!(backend.calls(), 3);
    // The two failures left over belong to the next export, whose third attempt succeeds.
    assert!(sink.export(&pg_batch()).await.unwrap().wrote);
    assert_eq!(backend.calls(), 6);
}

#[tokio::test(start_paused = true)]
async fn retrying_leaves_terminal_forbidden_and_open_breaker_errors_alone() {
    let breaker_open = || SinkError::CircuitOpen {
        sink: sink_id("team-a/database/pg"),
    };
    let errors: [fn() -> SinkError; 3] = [
        || SinkError::misconfigured("table inventory does not exist"),
        || SinkError::permission_denied("insert into inventory"),
        breaker_open,
    ];
    for make in errors {
        let backend = Arc::new(InMemorySink::new(SinkRole::Database));
        backend.fail_next(1, make);
        let sink = Arc::clone(&backend).retrying(RetryPolicy::default());
        let started = Instant::now();
        let error = sink.export(&pg_batch()).await.unwrap_err();
        assert_eq!(backend.calls(), 1, "{error}");
        assert_eq!(started.elapsed(), Duration::ZERO, "{error}: no back-off");
    }
}

#[tokio::test(start_paused = true)]
async fn retrying_retries_probes() {
    let backend = Arc::new(InMemorySink::new(SinkRole::Event));
    backend.fail_next(1, || {
        SinkError::timeout("account info from nats://nats:4222")
    });
    let sink = Arc::clone(&backend).retrying(RetryPolicy::default());
    sink.probe().await.unwrap();
    assert_eq!(backend.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn timed_cuts_an_export_at_its_bound() {
    let backend = InMemorySink::new(SinkRole::Snapshot).with_latency(Duration::from_secs(600));
    let timeouts = Timeouts {
        export: Duration::from_secs(30),
        ..Timeouts::default()
    };
    let sink = backend.timed(timeouts);
    let started = Instant::now();
    let batch = batch("team-a/apps", "team-a/snapshot/git", snapshot(vec![])).build();
    let error = sink.export(&batch).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    assert_eq!(
        error.to_string(),
        "sink timed out: export of team-a/apps to memory(memory) did not finish within 30s"
    );
    assert_eq!(error.class(), ErrorClass::Transient);
}

#[tokio::test(start_paused = true)]
async fn timed_bounds_probes_at_fifteen_seconds_by_default() {
    let sink = InMemorySink::new(SinkRole::Snapshot)
        .with_latency(Duration::from_secs(20))
        .timed(Timeouts::default());
    let started = Instant::now();
    let error = sink.probe().await.unwrap_err();
    assert!(matches!(error, SinkError::Timeout { .. }));
    assert_eq!(started.elapsed(), Duration::from_secs(15));
    // A backend that answers in time passes through untouched.
    let quick = InMemorySink::new(SinkRole::Snapshot)
        .with_latency(Duration::from_secs(14))
        .timed(Timeouts::default());
    quick.probe().await.unwrap();
}

/// Opens the breaker of `sink` with five refused calls.
async fn open(sink: &(impl Sink + ?Sized), backend: &InMemorySink) {
    backend.fail_next(5, refused);
    for _ in 0..5 {
        sink.export(&pg_batch())
            .await
            .expect_err("the backend refuses");
    }
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_lets_one_trial_through_after_thirty_seconds() {
    let backend = Arc::new(InMemorySink::new(SinkRole::Database));
    let sink =
        Arc::clone(&backend).with_breaker(&Breakers::default(), &sink_id("team-a/database/pg"));
    open(&sink, &backend).await;
    assert_eq!(
        sink.state(),
        BreakerState::Open {
            retry_in: Duration::from_secs(30)
        }
    );
    tokio::time::advance(Duration::from_secs(29)).await;
    assert!(matches!(
        sink.export(&pg_batch()).await,
        Err(SinkError::CircuitOpen { .. })
    ));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(sink.state(), BreakerState::HalfOpen);
    assert!(sink.export(&pg_batch()).await.unwrap().wrote);
    assert_eq!(
        sink.state(),
        BreakerState::Closed {
            consecutive_failures: 0
        }
    );
    assert_eq!(backend.calls(), 6);
}

#[tokio::test(start_paused = true)]
async fn a_failed_trial_opens_the_breaker_again() {
    let backend = Arc::new(InMemorySink::new(SinkRole::Database));
    let sink =
        Arc::clone(&backend).with_breaker(&Breakers::default(), &sink_id("team-a/database/pg"));
    open(&sink, &backend).await;
    tokio::time::advance(Duration::from_secs(30)).await;
    backend.fail_next(1, refused);
    assert!(matches!(
        sink.export(&pg_batch()).await,
        Err(SinkError::Unreachable { .. })
    ));
    assert!(matches!(sink.state(), BreakerState::Open { .. }));
    assert!(matches!(
        sink.export(&pg_batch()).await,
        Err(SinkError::CircuitOpen { .. })
    ));
    assert_eq!(backend.calls(), 6);
}

#[tokio::test(start_paused = true)]
async fn a_half_open_breaker_admits_a_single_trial_at_a_time() {
    let backend =
        Arc::new(InMemorySink::new(SinkRole::Database).with_latency(Duration::from_secs(1)));
    let sink =
        Arc::clone(&backend).with_breaker(&Breakers::default(), &sink_id("team-a/database/pg"));
    open(&sink, &backend).await;
    tokio::time::advance(Duration::from_secs(30)).await;
    let (trial, second) =
        futures::future::join(sink.export(&pg_batch()), sink.export(&pg_batch())).await;
    assert!(trial.unwrap().wrote);
    assert!(matches!(second, Err(SinkError::CircuitOpen { .. })));
    assert_eq!(backend.calls(), 6);
    assert_eq!(
        sink.state(),
        BreakerState::Closed {
            consecutive_failures: 0
        }
    );
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_trial_frees_the_trial_slot() {
    let backend =
        Arc::new(InMemorySink::new(SinkRole::Database).with_latency(Duration::from_secs(10)));
    let sink =
        Arc::clone(&backend).with_breaker(&Breakers::default(), &sink_id("team-a/database/pg"));
    open(&sink, &backend).await;
    tokio::time::advance(Duration::from_secs(30)).await;
    let abandoned = tokio::time::timeout(Duration::from_secs(1), sink.export(&pg_batch())).await;
    assert!(abandoned.is_err(), "the trial was dropped mid-call");
    assert_eq!(sink.state(), BreakerState::HalfOpen);
    assert!(sink.export(&pg_batch()).await.unwrap().wrote);
}

#[tokio::test(start_paused = true)]
async fn failures_must_be_consecutive_within_one_window_to_trip() {
    let backend = Arc::new(InMemorySink::new(SinkRole::Database));
    let sink =
        Arc::clone(&backend).with_breaker(&Breakers::default(), &sink_id("team-a/database/pg"));
    let batch = pg_batch();
    backend.fail_next(4, refused);
    for _ in 0..4 {
        sink.export(&batch).await.unwrap_err();
    }
    // A success breaks the streak.
    sink.export(&batch).await.unwrap();
    backend.fail_next(4, refused);
    for _ in 0..4 {
        sink.export(&batch).await.unwrap_err();
    }
    assert_eq!(
        sink.state(),
        BreakerState::Closed {
            consecutive_failures: 4
        }
    );
    // The closed window forgets failures after 60 s.
    tokio::time::advance(Duration::from_secs(60)).await;
    backend.fail_next(1, refused);
    sink.export(&batch).await.unwrap_err();
    assert_eq!(
        sink.state(),
        BreakerState::Closed {
            consecutive_failures: 1
        }
    );
}

#[tokio::test(start_paused = true)]
async fn an_oversize_row_does_not_count_against_the_sink() {
    let backend = Arc::new(InMemorySink::new(SinkRole::Database));
    let sink =
        Arc::clone(&backend).with_breaker(&Breakers::default(), &sink_id("team-a/database/pg"));
    let oversize = batch(
        "team-a/apps",
        "team-a/database/pg",
        snapshot(vec![row("big", 4096)]),
    )
    .max_part_bytes(1024)
    .build();
    for _ in 0..10 {
        let error = sink.export(&oversize).await.unwrap_err();
        assert!(
            matches!(error, SinkError::PayloadTooLarge { .. }),
            "{error:?}"
        );
    }
    assert_eq!(
        sink.state(),
        BreakerState::Closed {
            consecutive_failures: 0
        }
    );
}

#[tokio::test(start_paused = true)]
async fn breakers_are_shared_per_sink_object_and_keyed_by_family() {
    let breakers = Breakers::default();
    let database = sink_id("team-a/database/warehouse");
    let snapshot_sink = sink_id("team-a/snapshot/warehouse");
    let backend = Arc::new(InMemorySink::new(SinkRole::Database));
    let first = Arc::clone(&backend).with_breaker(&breakers, &database);
    open(&first, &backend).await;
    // A rebuilt backend of the same sink object shares the open breaker …
    let rebuilt =
        Arc::new(InMemorySink::new(SinkRole::Database)).with_breaker(&breakers, &database);
    assert!(matches!(
        rebuilt.export(&pg_batch()).await,
        Err(SinkError::CircuitOpen { .. })
    ));
    // … a sink of another family with the same name does not (DECISIONS D18).
    let git =
        Arc::new(InMemorySink::new(SinkRole::Snapshot)).with_breaker(&breakers, &snapshot_sink);
    let git_batch = batch("team-a/apps", "team-a/snapshot/warehouse", snapshot(vec![])).build();
    assert!(git.export(&git_batch).await.is_ok());
    assert!(matches!(
        breakers.state(&database),
        Some(BreakerState::Open { .. })
    ));
    assert_eq!(breakers.states().len(), 2);
    assert_eq!(breakers.state(&sink_id("team-a/event/warehouse")), None);
    breakers.remove(&database);
    assert_eq!(breakers.state(&database), None);
}

#[tokio::test(start_paused = true)]
async fn probes_bypass_an_open_breaker() {
    let backend = Arc::new(InMemorySink::new(SinkRole::Database));
    let sink =
        Arc::clone(&backend).with_breaker(&Breakers::default(), &sink_id("team-a/database/pg"));
    open(&sink, &backend).await;
    sink.probe().await.unwrap();
    assert_eq!(backend.calls(), 6);
}

#[tokio::test(start_paused = true)]
async fn instrumented_sinks_record_the_spec_metrics() {
    let metrics = ExportMetrics::new();
    let breakers = Breakers::default();
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    breakers.register_metrics(&mut registry);

    let backend =
        Arc::new(InMemorySink::new(SinkRole::Snapshot).with_latency(Duration::from_millis(30)));
    let id = sink_id("team-a/snapshot/git");
    let sink = Arc::clone(&backend)
        .with_breaker(&breakers, &id)
        .instrumented(SinkType::Git, &metrics);
    let ok = batch(
        "team-a/apps",
        "team-a/snapshot/git",
        snapshot(vec![row("a", 1)]),
    )
    .build();
    let receipt = sink.export(&ok).await.unwrap();
    backend.fail_next(1, || SinkError::unauthenticated("push"));
    sink.export(&ok).await.unwrap_err();
    let oversize = batch(
        "team-a/apps",
        "team-a/snapshot/git",
        snapshot(vec![row("big", 4096)]),
    )
    .max_part_bytes(1024)
    .build();
    sink.export(&oversize).await.unwrap_err();
    sink.probe().await.unwrap();
    backend.fail_next(1, refused);
    sink.probe().await.unwrap_err();

    let mut text = String::new();
    encode(&mut text, &registry).unwrap();
    for line in [
        format!(
            "kollect_export_bytes_total{{sink_type=\"git\"}} {}",
            receipt.bytes_written
        ),
        "kollect_export_duration_seconds_count{sink_type=\"git\"} 3".to_owned(),
        "kollect_export_duration_seconds_bucket{le=\"0.05\",sink_type=\"git\"} 3".to_owned(),
        "kollect_export_duration_seconds_bucket{le=\"0.025\",sink_type=\"git\"} 0".to_owned(),
        "kollect_sink_errors_total{reason=\"terminal\"} 1".to_owned(),
        "kollect_sink_errors_total{reason=\"payload_too_large\"} 1".to_owned(),
        "kollect_sink_connection_test_total{type=\"git\",result=\"success\"} 1".to_owned(),
        "kollect_sink_connection_test_total{type=\"git\",result=\"failure\"} 1".to_owned(),
        "kollect_sink_circuit_breakers{state=\"closed\"} 1".to_owned(),
        "kollect_sink_circuit_breakers{state=\"open\"} 0".to_owned(),
        "kollect_sink_circuit_breakers{state=\"half_open\"} 0".to_owned(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[tokio::test]
async fn fan_out_isolates_a_failing_binding() {
    let healthy = InMemorySink::new(SinkRole::Snapshot);
    let failing = InMemorySink::new(SinkRole::Database);
    failing.fail_next(1, || {
        SinkError::misconfigured("table inventory does not exist")
    });
    let rows = snapshot(vec![row("a", 1)]);
    let to_git = batch("team-a/apps", "team-a/snapshot/git", Arc::clone(&rows)).build();
    let to_pg = batch("team-a/apps", "team-a/database/pg", rows).build();
    let outcomes = fan_out([
        (&failing as &dyn Sink, &to_pg),
        (&healthy as &dyn Sink, &to_git),
    ])
    .await;
    assert!(outcomes[0].is_err());
    assert!(outcomes[1].as_ref().unwrap().wrote);
    assert_eq!(healthy.rows(to_git.inventory()).len(), 1);
    let classes = outcomes
        .iter()
        .filter_map(|o| o.as_ref().err())
        .map(SinkError::class);
    assert_eq!(ErrorClass::aggregate(classes), Some(ErrorClass::Terminal));
}
