//! [`CircuitBreaker`]: stops calling a backend that keeps failing, and [`Breakers`], the
//! process-wide registry that shares one breaker per sink object between every inventory that
//! exports to it (pipeline spec §6.7, sinks spec §3.6, DECISIONS D18).
//!
//! ```text
//!            5 consecutive failures (within one 60 s window)
//!  Closed ───────────────────────────────────────────────> Open ── calls fail fast with
//!    ^                                                      │      SinkError::CircuitOpen
//!    │ trial succeeds                      30 s later       v
//!    └──────────────────────────────────────────────── HalfOpen ── one trial call at a time;
//!                                  trial fails: Open again         others fail fast
//! ```
//!
//! One export call is one outcome, whatever its parts and retries. Errors about one
//! inventory's data (`InvalidPayload`, `PayloadTooLarge`) are neither failures nor successes:
//! they must not block the other inventories of the sink. Probes bypass the breaker, so a
//! connection test always reaches the backend.

use std::{
    collections::BTreeMap,
    fmt,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric as _},
    metrics::{MetricType, gauge::ConstGauge},
    registry::Registry,
};
use tokio::time::Instant;

use crate::{
    batch::{ExportBatch, ExportReceipt},
    error::SinkError,
    id::SinkId,
    metrics::{SINK_CIRCUIT_BREAKERS, StateLabel},
    sink::{Sink, SinkRole},
};

/// Consecutive failures that open the breaker: 5, as the Go original (DECISIONS, pipeline spec
/// Appendix A). Fewer would open it on one bad minute of a flaky network; more would keep
/// hammering a backend that is down.
pub const TRIP_AFTER_FAILURES: u32 = 5;

/// How long an open breaker fails calls before letting one trial through: 30 s, as the Go
/// original — one default export interval, so a recovered backend is used again by the next
/// export.
pub const OPEN_FOR: Duration = Duration::from_secs(30);

/// The closed state forgets failures this often: 60 s, as the Go original, so that five failures
/// spread over hours of otherwise healthy exports do not open the breaker.
pub const CLOSED_WINDOW: Duration = Duration::from_secs(60);

/// The breaker's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker (0 is treated as 1).
    pub trip_after: u32,
    /// How long the breaker stays open.
    pub open_for: Duration,
    /// How often the closed state forgets its failures.
    pub closed_window: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            trip_after: TRIP_AFTER_FAILURES,
            open_for: OPEN_FOR,
            closed_window: CLOSED_WINDOW,
        }
    }
}

/// A breaker's state, as status and metrics show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed {
        /// Failures in a row so far in the current window.
        consecutive_failures: u32,
    },
    /// Calls fail fast.
    Open {
        /// Time left before a trial call goes through.
        retry_in: Duration,
    },
    /// The next call is a trial.
    HalfOpen,
}

impl BreakerState {
    /// `closed`, `open` or `half_open` (the `state` metric label).
    pub fn as_str(self) -> &'static str {
        StateLabel::from(self).as_str()
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed {
                consecutive_failures: 0,
            } => f.write_str("closed"),
            Self::Closed {
                consecutive_failures,
            } => write!(f, "closed ({consecutive_failures} failure(s) in a row)"),
            Self::Open { retry_in } => write!(f, "open (trial in {}s)", retry_in.as_secs()),
            Self::HalfOpen => f.write_str("half-open"),
        }
    }
}

#[derive(Debug)]
enum Phase {
    Closed { failures: u32, window_ends: Instant },
    Open { until: Instant },
    HalfOpen { trial_in_flight: bool },
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    /// Bumped on every transition; outcomes of calls admitted in another generation are ignored.
    generation: u64,
}

/// The shared state of one sink's breaker.
#[derive(Debug)]
struct Breaker {
    sink: SinkId,
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

/// How one call ended, for the breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Success,
    Failure,
    /// Says nothing about the backend.
    Neutral,
}

impl Breaker {
    fn new(sink: SinkId, config: BreakerConfig, now: Instant) -> Self {
        Self {
            sink,
            config,
            inner: Mutex::new(Inner {
                phase: Phase::Closed {
                    failures: 0,
                    window_ends: now + config.closed_window,
                },
                generation: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The state stays consistent across a panic elsewhere: every update is one assignment.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies the transitions that time alone causes.
    fn refresh(&self, inner: &mut Inner, now: Instant) {
        match inner.phase {
            Phase::Open { until } if now >= until => {
                inner.phase = Phase::HalfOpen {
                    trial_in_flight: false,
                };
                inner.generation += 1;
            }
            Phase::Closed { window_ends, .. } if now >= window_ends => {
                inner.phase = Phase::Closed {
                    failures: 0,
                    window_ends: now + self.config.closed_window,
                };
                inner.generation += 1;
            }
            _ => {}
        }
    }

    fn state(&self, now: Instant) -> BreakerState {
        let mut inner = self.lock();
        self.refresh(&mut inner, now);
        match inner.phase {
            Phase::Closed { failures, .. } => BreakerState::Closed {
                consecutive_failures: failures,
            },
            Phase::Open { until } => BreakerState::Open {
                retry_in: until - now,
            },
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Admits a call, or fails fast.
    fn acquire(&self, now: Instant) -> Result<Permit<'_>, SinkError> {
        let mut inner = self.lock();
        self.refresh(&mut inner, now);
        let trial = match &mut inner.phase {
            Phase::Closed { .. } => false,
            Phase::HalfOpen { trial_in_flight } if !*trial_in_flight => {
                *trial_in_flight = true;
                true
            }
            Phase::Open { .. } | Phase::HalfOpen { .. } => {
                return Err(SinkError::CircuitOpen {
                    sink: self.sink.clone(),
                });
            }
        };
        Ok(Permit {
            breaker: self,
            generation: inner.generation,
            trial,
            settled: false,
        })
    }

    fn record(&self, generation: u64, outcome: Outcome, now: Instant) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        let trip_after = self.config.trip_after.max(1);
        let next = match (&mut inner.phase, outcome) {
            (Phase::Closed { failures, .. }, Outcome::Success) => {
                *failures = 0;
                None
            }
            (Phase::Closed { failures, .. }, Outcome::Failure) => {
                *failures += 1;
                (*failures >= trip_after).then_some(Phase::Open {
                    until: now + self.config.open_for,
                })
            }
            (Phase::HalfOpen { .. }, Outcome::Success) => Some(Phase::Closed {
                failures: 0,
                window_ends: now + self.config.closed_window,
            }),
            (Phase::HalfOpen { .. }, Outcome::Failure) => Some(Phase::Open {
                until: now + self.config.open_for,
            }),
            (Phase::HalfOpen { trial_in_flight }, Outcome::Neutral) => {
                *trial_in_flight = false;
                None
            }
            (Phase::Closed { .. } | Phase::Open { .. }, Outcome::Neutral)
            | (Phase::Open { .. }, _) => None,
        };
        if let Some(phase) = next {
            if matches!(phase, Phase::Open { .. }) {
                tracing::warn!(
                    sink = %self.sink,
                    open_for = ?self.config.open_for,
                    "Sink circuit breaker open; calls fail fast until a trial succeeds."
                );
            } else {
                tracing::info!(sink = %self.sink, "Sink circuit breaker closed.");
            }
            inner.phase = phase;
            inner.generation += 1;
        }
    }

    /// A trial that ended without an outcome (its future was dropped) frees the trial slot.
    fn abandon(&self, generation: u64) {
        let mut inner = self.lock();
        if inner.generation == generation
            && let Phase::HalfOpen { trial_in_flight } = &mut inner.phase
        {
            *trial_in_flight = false;
        }
    }
}

/// One admitted call.
struct Permit<'a> {
    breaker: &'a Breaker,
    generation: u64,
    trial: bool,
    settled: bool,
}

impl Permit<'_> {
    fn settle(mut self, outcome: Outcome) {
        self.settled = true;
        self.breaker
            .record(self.generation, outcome, Instant::now());
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.trial && !self.settled {
            self.breaker.abandon(self.generation);
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    config: BreakerConfig,
    breakers: Mutex<BTreeMap<SinkId, Arc<Breaker>>>,
}

/// The process-wide breaker registry: one breaker per sink object, keyed by [`SinkId`]
/// (`<namespace>/<family>/<name>`, DECISIONS D18), shared by every inventory and by every
/// rebuild of the sink's backend. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Breakers {
    shared: Arc<Shared>,
}

impl Breakers {
    /// A registry whose breakers use `config`.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                breakers: Mutex::default(),
            }),
        }
    }

    fn map(&self) -> MutexGuard<'_, BTreeMap<SinkId, Arc<Breaker>>> {
        // Entries are inserted or removed whole: a panic elsewhere leaves the map consistent.
        self.shared
            .breakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn breaker(&self, sink: &SinkId) -> Arc<Breaker> {
        Arc::clone(self.map().entry(sink.clone()).or_insert_with(|| {
            Arc::new(Breaker::new(
                sink.clone(),
                self.shared.config,
                Instant::now(),
            ))
        }))
    }

    /// Wraps `inner`, the backend of `sink`, in the sink's breaker.
    pub fn wrap<S>(&self, sink: &SinkId, inner: S) -> CircuitBreaker<S> {
        CircuitBreaker {
            inner,
            breaker: self.breaker(sink),
        }
    }

    /// The state of `sink`'s breaker; `None` when the sink was never wrapped.
    pub fn state(&self, sink: &SinkId) -> Option<BreakerState> {
        let breaker = self.map().get(sink).cloned()?;
        Some(breaker.state(Instant::now()))
    }

    /// Every breaker's state, by sink.
    pub fn states(&self) -> Vec<(SinkId, BreakerState)> {
        let breakers: Vec<Arc<Breaker>> = self.map().values().cloned().collect();
        let now = Instant::now();
        breakers
            .into_iter()
            .map(|breaker| (breaker.sink.clone(), breaker.state(now)))
            .collect()
    }

    /// Forgets `sink`'s breaker (the sink object was deleted). Sinks still wrapped keep using
    /// the old one.
    pub fn remove(&self, sink: &SinkId) {
        self.map().remove(sink);
    }

    /// Registers the `kollect_sink_circuit_breakers{state}` gauge: how many sinks' breakers are
    /// in each state, read at scrape time. Per-sink state goes to status, not to labels.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register_collector(Box::new(BreakerCollector {
            breakers: self.clone(),
        }));
    }
}

#[derive(Debug)]
struct BreakerCollector {
    breakers: Breakers,
}

impl Collector for BreakerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let mut counts: BTreeMap<StateLabel, i64> = StateLabel::ALL
            .into_iter()
            .map(|state| (state, 0))
            .collect();
        for (_, state) in self.breakers.states() {
            *counts.entry(StateLabel::from(state)).or_default() += 1;
        }
        let mut family = encoder.encode_descriptor(
            SINK_CIRCUIT_BREAKERS,
            "Sink circuit breakers by state.",
            None,
            MetricType::Gauge,
        )?;
        for (state, count) in counts {
            let labels = [("state", state.as_str())];
            ConstGauge::new(count).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// A sink whose exports go through its sink object's circuit breaker.
pub struct CircuitBreaker<S> {
    inner: S,
    breaker: Arc<Breaker>,
}

impl<S> CircuitBreaker<S> {
    /// The breaker's current state.
    pub fn state(&self) -> BreakerState {
        self.breaker.state(Instant::now())
    }

    /// The wrapped sink.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for CircuitBreaker<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("inner", &self.inner)
            .field("sink", &self.breaker.sink)
            .finish_non_exhaustive()
    }
}

impl<S: Sink> fmt::Display for CircuitBreaker<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
impl<S: Sink> Sink for CircuitBreaker<S> {
    fn role(&self) -> SinkRole {
        self.inner.role()
    }

    async fn probe(&self) -> Result<(), SinkError> {
        self.inner.probe().await
    }

    async fn stored(
        &self,
        batch: &ExportBatch,
    ) -> Result<Option<Vec<kollect_aggregate::TargetRow>>, SinkError> {
        self.inner.stored(batch).await
    }

    async fn export(&self, batch: &ExportBatch) -> Result<ExportReceipt, SinkError> {
        let permit = self.breaker.acquire(Instant::now())?;
        let result = self.inner.export(batch).await;
        permit.settle(match &result {
            Ok(_) => Outcome::Success,
            Err(error) if error.is_backend_failure() => Outcome::Failure,
            Err(_) => Outcome::Neutral,
        });
        result
    }
}
