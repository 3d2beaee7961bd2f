//! [`Instrumented`]: metrics, logs and a tracing span for every call of a sink, with the metric
//! names of pipeline spec §7.5 and operations spec §5.1 (dashboards and the shipped alerts use
//! them). Labels are bounded enums — sink type, error class, result — never object names.
//!
//! | Metric | Type | Labels |
//! |---|---|---|
//! | `kollect_export_duration_seconds` | histogram, buckets .005 … 10 s | `sink_type` |
//! | `kollect_export_bytes_total` | counter | `sink_type` |
//! | `kollect_sink_errors_total` | counter | `reason` (`transient`, `terminal`, `forbidden`, `payload_too_large`) |
//! | `kollect_sink_connection_test_total` | counter | `type`, `result` (`success`, `failure`) |
//! | `kollect_sink_circuit_breakers` | gauge | `state` (`closed`, `open`, `half_open`), see [`crate::Breakers::register_metrics`] |

use std::fmt;

use async_trait::async_trait;
use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder},
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};
use tokio::time::Instant;
use tracing::Instrument as _;

use crate::{
    batch::{ExportBatch, ExportReceipt},
    breaker::BreakerState,
    error::{ErrorClass, SinkError},
    id::SinkType,
    sink::{Sink, SinkRole},
};

/// Histogram of export call durations, by `sink_type`.
pub const EXPORT_DURATION_SECONDS: &str = "kollect_export_duration_seconds";
/// Counter of envelope bytes written, by `sink_type` (exposed with the `_total` suffix).
pub const EXPORT_BYTES: &str = "kollect_export_bytes";
/// Counter of failed exports, by `reason` (exposed with the `_total` suffix).
pub const SINK_ERRORS: &str = "kollect_sink_errors";
/// Counter of probes, by `type` and `result` (exposed with the `_total` suffix).
pub const SINK_CONNECTION_TEST: &str = "kollect_sink_connection_test";
/// Gauge of sink circuit breakers, by `state`.
pub const SINK_CIRCUIT_BREAKERS: &str = "kollect_sink_circuit_breakers";

/// Buckets of [`EXPORT_DURATION_SECONDS`], in seconds: the Go original's layout (operations
/// spec §5.1), from a 5 ms database upsert to the 10 s of the latency alert.
pub const EXPORT_DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl EncodeLabelValue for SinkType {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// The `reason` label of [`SINK_ERRORS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum ErrorReason {
    Class(ErrorClass),
    PayloadTooLarge,
}

impl From<&SinkError> for ErrorReason {
    fn from(error: &SinkError) -> Self {
        match error {
            SinkError::PayloadTooLarge { .. } => Self::PayloadTooLarge,
            other => Self::Class(other.class()),
        }
    }
}

impl EncodeLabelValue for ErrorReason {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), fmt::Error> {
        let text = match self {
            Self::Class(class) => class.as_str(),
            Self::PayloadTooLarge => "payload_too_large",
        };
        EncodeLabelValue::encode(&text, encoder)
    }
}

/// The result of a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum ProbeResult {
    Success,
    Failure,
}

impl EncodeLabelValue for ProbeResult {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), fmt::Error> {
        let text = match self {
            Self::Success => "success",
            Self::Failure => "failure",
        };
        EncodeLabelValue::encode(&text, encoder)
    }
}

/// The `state` label of [`SINK_CIRCUIT_BREAKERS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum StateLabel {
    Closed,
    Open,
    HalfOpen,
}

impl StateLabel {
    pub(crate) const ALL: [Self; 3] = [Self::Closed, Self::Open, Self::HalfOpen];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

impl From<BreakerState> for StateLabel {
    fn from(state: BreakerState) -> Self {
        match state {
            BreakerState::Closed { .. } => Self::Closed,
            BreakerState::Open { .. } => Self::Open,
            BreakerState::HalfOpen => Self::HalfOpen,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SinkTypeLabels {
    sink_type: SinkType,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ErrorLabels {
    reason: ErrorReason,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ProbeLabels {
    r#type: SinkType,
    result: ProbeResult,
}

fn duration_histogram() -> Histogram {
    Histogram::new(EXPORT_DURATION_BUCKETS)
}

/// The export metrics, shared by every [`Instrumented`] sink. Cheap to clone; register once.
#[derive(Clone, Debug)]
pub struct ExportMetrics {
    duration: Family<SinkTypeLabels, Histogram, fn() -> Histogram>,
    bytes: Family<SinkTypeLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    probes: Family<ProbeLabels, Counter>,
}

impl Default for ExportMetrics {
    fn default() -> Self {
        Self {
            duration: Family::new_with_constructor(duration_histogram),
            bytes: Family::default(),
            errors: Family::default(),
            probes: Family::default(),
        }
    }
}

impl ExportMetrics {
    /// Metrics not registered anywhere yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers every metric in `registry` (unprefixed: the names carry `kollect_`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            EXPORT_DURATION_SECONDS,
            "Duration of sink export calls, retries included.",
            self.duration.clone(),
        );
        registry.register(
            EXPORT_BYTES,
            "Envelope bytes written to sinks.",
            self.bytes.clone(),
        );
        registry.register(
            SINK_ERRORS,
            "Failed sink exports, by error class.",
            self.errors.clone(),
        );
        registry.register(
            SINK_CONNECTION_TEST,
            "Sink probes, by sink type and result.",
            self.probes.clone(),
        );
    }
}

/// A sink whose calls are measured, logged and traced.
///
/// Exports run in a DEBUG span `export` with the inventory, sink, generation and row count; a
/// completed export logs at DEBUG, a failed one at WARN (ERROR when terminal: an operator must
/// act).
#[derive(Debug)]
pub struct Instrumented<S> {
    inner: S,
    sink_type: SinkType,
    metrics: ExportMetrics,
}

impl<S> Instrumented<S> {
    /// Wraps `inner`, a backend of `sink_type`.
    pub fn new(inner: S, sink_type: SinkType, metrics: ExportMetrics) -> Self {
        Self {
            inner,
            sink_type,
            metrics,
        }
    }

    /// The wrapped sink.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn labels(&self) -> SinkTypeLabels {
        SinkTypeLabels {
            sink_type: self.sink_type,
        }
    }

    /// One typed event: the log line and the counters of a finished export.
    fn record(&self, result: &Result<ExportReceipt, SinkError>) {
        match result {
            Ok(receipt) => {
                self.metrics
                    .bytes
                    .get_or_create(&self.labels())
                    .inc_by(receipt.bytes_written);
                tracing::debug!(
                    wrote = receipt.wrote,
                    parts = receipt.parts,
                    bytes = receipt.bytes_written,
                    "Export completed."
                );
            }
            Err(error) => {
                self.metrics
                    .errors
                    .get_or_create(&ErrorLabels {
                        reason: ErrorReason::from(error),
                    })
                    .inc();
                let error_class = error.class();
                let reason = error.reason().as_str();
                let error = error as &dyn std::error::Error;
                if error_class == ErrorClass::Terminal {
                    tracing::error!(
                        error_class = error_class.as_str(),
                        reason,
                        error,
                        "Export failed."
                    );
                } else {
                    tracing::warn!(
                        error_class = error_class.as_str(),
                        reason,
                        error,
                        "Export failed."
                    );
                }
            }
        }
    }
}

impl<S: Sink> fmt::Display for Instrumented<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
impl<S: Sink> Sink for Instrumented<S> {
    fn role(&self) -> SinkRole {
        self.inner.role()
    }

    async fn stored(
        &self,
        batch: &ExportBatch,
    ) -> Result<Option<Vec<kollect_aggregate::TargetRow>>, SinkError> {
        self.inner.stored(batch).await
    }

    async fn probe(&self) -> Result<(), SinkError> {
        let result = self.inner.probe().await;
        let outcome = if result.is_ok() {
            ProbeResult::Success
        } else {
            ProbeResult::Failure
        };
        self.metrics
            .probes
            .get_or_create(&ProbeLabels {
                r#type: self.sink_type,
                result: outcome,
            })
            .inc();
        if let Err(error) = &result {
            tracing::warn!(
                sink = %self.inner,
                error = error as &dyn std::error::Error,
                "Sink probe failed."
            );
        }
        result
    }

    async fn export(&self, batch: &ExportBatch) -> Result<ExportReceipt, SinkError> {
        let span = tracing::debug_span!(
            "export",
            inventory = %batch.inventory(),
            sink = %batch.sink(),
            sink_type = %self.sink_type,
            generation = batch.generation(),
            rows = batch.snapshot().len(),
        );
        async {
            let started = Instant::now();
            let result = self.inner.export(batch).await;
            self.metrics
                .duration
                .get_or_create(&self.labels())
                .observe(started.elapsed().as_secs_f64());
            self.record(&result);
            result
        }
        .instrument(span)
        .await
    }
}
