//! [`Retrying`]: retries retriable failures of a sink with bounded exponential back-off and
//! jitter.
//!
//! Export failures are mostly retried by the next export (pipeline spec §6.7); this decorator
//! only rides over short hiccups — a dropped connection, a backend fail-over — inside one
//! export, so that the binding's status does not flap. Probes are retried too (DECISIONS D33).

use std::{
    hash::{BuildHasher as _, RandomState},
    time::Duration,
};

use async_trait::async_trait;

use crate::{
    batch::{ExportBatch, ExportReceipt},
    error::SinkError,
    sink::{Sink, SinkRole},
};

/// Attempts per call, the first included: one try and two retries ride over a dropped
/// connection or a backend fail-over; more would hold a failing binding's status back for
/// longer than one export interval (30 s by default) with the timeouts of [`crate::Timeouts`].
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// Back-off before the first retry: long enough for a restarted connection pool or a
/// re-elected leader to answer, short against the 30 s export cadence.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(500);

/// Longest back-off between two attempts; with doubling from 500 ms it is reached at the fourth
/// retry, so only policies with more attempts than the default ever wait this long.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How [`Retrying`] retries. The delay before retry `n` (1-based) is
/// `min(max_backoff, initial_backoff × 2^(n-1))`, of which a random part of up to one half is
/// taken off ("equal jitter"), so that sinks failing together do not retry in lockstep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
        }
    }
}

impl RetryPolicy {
    /// Attempts per call, the first included. 0 is treated as 1 (never retry); a large value
    /// keeps a failing binding busy for `attempts × (timeout + back-off)`.
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Back-off before the first retry. Zero retries at once (tests against real backends).
    #[must_use]
    pub fn with_initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// Cap on any one back-off; below the initial back-off, it wins.
    #[must_use]
    pub fn with_max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// Attempts per call.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The back-off before retry `retry` (1-based) for a random `unit` in `[0, 1)`: between
    /// half and all of the exponential delay. Out-of-range `unit`s are clamped.
    pub fn backoff(&self, retry: u32, unit: f64) -> Duration {
        let doublings = retry.saturating_sub(1).min(31);
        let full = self
            .initial_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff);
        let unit = if unit.is_nan() {
            0.0
        } else {
            unit.clamp(0.0, 1.0)
        };
        full / 2 + (full / 2).mul_f64(unit)
    }
}

/// A uniformly random number in `[0, 1)`, from the standard library's per-instance random
/// hasher keys (jitter needs no cryptographic quality and no extra dependency).
fn random_unit() -> f64 {
    let bits = RandomState::new().hash_one(0_u8) >> 11;
    #[allow(clippy::cast_precision_loss)] // 53 bits fit an f64 mantissa exactly.
    let unit = bits as f64 / (1_u64 << 53) as f64;
    unit
}

/// A sink whose retriable failures ([`SinkError::is_retriable`]) are retried with back-off.
/// Safe because exports are idempotent per (inventory, generation, digest).
#[derive(Debug)]
pub struct Retrying<S> {
    inner: S,
    policy: RetryPolicy,
}

impl<S> Retrying<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, policy: RetryPolicy) -> Self {
        Self { inner, policy }
    }

    /// The wrapped sink.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    async fn run<T, F>(
        &self,
        what: &'static str,
        mut call: impl FnMut() -> F,
    ) -> Result<T, SinkError>
    where
        F: Future<Output = Result<T, SinkError>>,
        S: Sink,
    {
        let mut attempt = 1;
        loop {
            match call().await {
                Err(error) if error.is_retriable() && attempt < self.policy.max_attempts => {
                    let delay = self.policy.backoff(attempt, random_unit());
                    tracing::debug!(
                        sink = %self.inner,
                        operation = what,
                        attempt,
                        ?delay,
                        error = &error as &dyn std::error::Error,
                        "Sink call failed; retrying."
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }
}

impl<S: Sink> std::fmt::Display for Retrying<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
impl<S: Sink> Sink for Retrying<S> {
    fn role(&self) -> SinkRole {
        self.inner.role()
    }

    async fn probe(&self) -> Result<(), SinkError> {
        self.run("probe", || self.inner.probe()).await
    }

    async fn export(&self, batch: &ExportBatch) -> Result<ExportReceipt, SinkError> {
        self.run("export", || self.inner.export(batch)).await
    }

    async fn stored(
        &self,
        batch: &ExportBatch,
    ) -> Result<Option<Vec<kollect_aggregate::TargetRow>>, SinkError> {
        self.run("read back", || self.inner.stored(batch)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_takes_at_most_half() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1, 0.0), Duration::from_millis(250));
        assert_eq!(policy.backoff(1, 1.0), Duration::from_millis(500));
        assert_eq!(policy.backoff(2, 1.0), Duration::from_secs(1));
        assert_eq!(policy.backoff(3, 1.0), Duration::from_secs(2));
        assert_eq!(policy.backoff(4, 1.0), Duration::from_secs(4));
        assert_eq!(policy.backoff(5, 1.0), Duration::from_secs(5));
        assert_eq!(policy.backoff(5, 0.0), Duration::from_millis(2500));
        assert_eq!(policy.backoff(u32::MAX, 1.0), Duration::from_secs(5));
    }

    #[test]
    fn odd_jitter_inputs_are_clamped() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1, f64::NAN), Duration::from_millis(250));
        assert_eq!(policy.backoff(1, -3.0), Duration::from_millis(250));
        assert_eq!(policy.backoff(1, 7.0), Duration::from_millis(500));
        assert_eq!(policy.backoff(0, 1.0), Duration::from_millis(500));
    }

    #[test]
    fn zero_attempts_mean_one_and_a_low_cap_wins() {
        let policy = RetryPolicy::default()
            .with_max_attempts(0)
            .with_max_backoff(Duration::from_millis(100));
        assert_eq!(policy.max_attempts(), 1);
        assert_eq!(policy.backoff(1, 1.0), Duration::from_millis(100));
    }

    #[test]
    fn random_units_stay_in_range() {
        for _ in 0..1000 {
            let unit = random_unit();
            assert!((0.0..1.0).contains(&unit), "{unit}");
        }
    }
}
