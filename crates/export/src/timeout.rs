//! [`Timed`]: bounds every call of a sink, so that a hung connection fails the attempt with
//! [`SinkError::Timeout`] (transient) instead of holding the binding forever.
//!
//! A timed-out export is dropped mid-way; the next attempt is safe because exports are
//! idempotent per (inventory, generation, digest), and a multipart export that stopped after
//! part *k* is completed by it.

use std::time::Duration;

use async_trait::async_trait;

use crate::{
    batch::{ExportBatch, ExportReceipt},
    error::SinkError,
    sink::{Sink, SinkRole},
};

/// Longest one probe may take: 15 s, as every probe is bounded (DECISIONS D33; the Go
/// original's MongoDB and BigQuery probes already used 15 s).
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// Longest one export attempt may take: one default export interval (30 s). A healthy backend
/// writes a 1.5 MiB part in well under a second, and the export latency alert fires at a p95 of
/// 10 s, so only a hung connection reaches this.
pub const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(30);

/// The bounds [`Timed`] applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Per probe.
    pub probe: Duration,
    /// Per export attempt.
    pub export: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            probe: DEFAULT_PROBE_TIMEOUT,
            export: DEFAULT_EXPORT_TIMEOUT,
        }
    }
}

/// A sink whose calls fail with [`SinkError::Timeout`] when they take longer than allowed.
#[derive(Debug)]
pub struct Timed<S> {
    inner: S,
    timeouts: Timeouts,
}

impl<S> Timed<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, timeouts: Timeouts) -> Self {
        Self { inner, timeouts }
    }

    /// The wrapped sink.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: Sink> std::fmt::Display for Timed<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
impl<S: Sink> Sink for Timed<S> {
    fn role(&self) -> SinkRole {
        self.inner.role()
    }

    async fn probe(&self) -> Result<(), SinkError> {
        let limit = self.timeouts.probe;
        tokio::time::timeout(limit, self.inner.probe())
            .await
            .map_err(|elapsed| {
                SinkError::timeout(format!(
                    "probe of {} did not finish within {limit:?}",
                    self.inner
                ))
                .with_source(elapsed)
            })?
    }

    async fn stored(
        &self,
        batch: &ExportBatch,
    ) -> Result<Option<Vec<kollect_aggregate::TargetRow>>, SinkError> {
        let limit = self.timeouts.export;
        tokio::time::timeout(limit, self.inner.stored(batch))
            .await
            .map_err(|elapsed| {
                SinkError::timeout(format!(
                    "reading back {} did not finish within {limit:?}",
                    self.inner
                ))
                .with_source(elapsed)
            })?
    }

    async fn export(&self, batch: &ExportBatch) -> Result<ExportReceipt, SinkError> {
        let limit = self.timeouts.export;
        tokio::time::timeout(limit, self.inner.export(batch))
            .await
            .map_err(|elapsed| {
                SinkError::timeout(format!(
                    "export of {} to {} did not finish within {limit:?}",
                    batch.inventory(),
                    self.inner
                ))
                .with_source(elapsed)
            })?
    }
}
