//! The [`Sink`] trait every backend implements, the [`SinkFactory`] that builds sinks from
//! resolved specs, and [`SinkExt`] conveniences.
//!
//! ```text
//!  controller ──ResolvedSinkSpec──> dyn SinkFactory (kollect-sinks, injected by the bin)
//!       │                                 │ build
//!       │                                 v
//!       └──&ExportBatch──> Instrumented<CircuitBreaker<Retrying<Timed<backend>>>>  ──> receipt
//! ```
//!
//! A sink classifies its errors and never retries, times out or counts: the decorators in this
//! crate do, and implement [`Sink`] themselves.

use std::{collections::BTreeMap, fmt, sync::Arc};

use async_trait::async_trait;
use kollect_aggregate::TargetRow;
use kollect_api::{
    names::{NamespaceName, ObjectName},
    v1alpha1::{DatabaseSinkSpec, EventSinkSpec, SinkCommonSpec, SinkFamily, SnapshotSinkSpec},
};

use crate::{
    batch::{ExportBatch, ExportReceipt},
    breaker::{Breakers, CircuitBreaker},
    error::SinkError,
    id::{SinkId, SinkType},
    metrics::{ExportMetrics, Instrumented},
    retry::{RetryPolicy, Retrying},
    timeout::{Timed, Timeouts},
};

/// The role a sink plays: the family it serves (snapshot store, database, event stream). The
/// same three values as the sink families of the API.
pub use kollect_api::v1alpha1::SinkFamily as SinkRole;

/// A destination for inventory exports.
///
/// * `Display` names the sink for logs and status without secrets: `postgres(db/table)`.
/// * [`Sink::export`] is idempotent per (inventory, generation, digest): when the sink already
///   holds that generation and digest for the inventory it writes nothing and returns a receipt
///   with `wrote: false`, so retries are safe. It computes [`ExportBatch::parts`] before writing
///   anything, so a row over the cap fails the export with nothing written.
/// * Errors are classified ([`SinkError`]); the sink never retries or sleeps.
#[async_trait]
pub trait Sink: fmt::Display + Send + Sync + 'static {
    /// The role this sink plays.
    fn role(&self) -> SinkRole;

    /// Does what an export would do without writing data: connect, authenticate, check the
    /// destination exists. When in doubt it passes: a false alarm is worse than a late failure.
    async fn probe(&self) -> Result<(), SinkError>;

    /// Writes the batch's state of its inventory.
    async fn export(&self, batch: &ExportBatch) -> Result<ExportReceipt, SinkError>;

    /// What the destination holds now for the batch's inventory (and cluster), read back as
    /// rows without writing anything: `kollect collect --dry-run` compares it with the batch to
    /// say what an export would add, change and remove. `Ok(None)` when this backend cannot
    /// read its destination back (the default).
    async fn stored(&self, batch: &ExportBatch) -> Result<Option<Vec<TargetRow>>, SinkError> {
        let _ = batch;
        Ok(None)
    }
}

#[async_trait]
impl<S: Sink + ?Sized> Sink for Arc<S> {
    fn role(&self) -> SinkRole {
        (**self).role()
    }

    async fn probe(&self) -> Result<(), SinkError> {
        (**self).probe().await
    }

    async fn export(&self, batch: &ExportBatch) -> Result<ExportReceipt, SinkError> {
        (**self).export(batch).await
    }

    async fn stored(&self, batch: &ExportBatch) -> Result<Option<Vec<TargetRow>>, SinkError> {
        (**self).stored(batch).await
    }
}

#[async_trait]
impl<S: Sink + ?Sized> Sink for Box<S> {
    fn role(&self) -> SinkRole {
        (**self).role()
    }

    async fn probe(&self) -> Result<(), SinkError> {
        (**self).probe().await
    }

    async fn export(&self, batch: &ExportBatch) -> Result<ExportReceipt, SinkError> {
        (**self).export(batch).await
    }

    async fn stored(&self, batch: &ExportBatch) -> Result<Option<Vec<TargetRow>>, SinkError> {
        (**self).stored(batch).await
    }
}

/// The spec of one family sink.
#[derive(Clone, Debug, PartialEq)]
pub enum SinkSpec {
    /// A `KollectSnapshotSink`.
    Snapshot(SnapshotSinkSpec),
    /// A `KollectDatabaseSink`.
    Database(DatabaseSinkSpec),
    /// A `KollectEventSink`.
    Event(EventSinkSpec),
}

impl SinkSpec {
    /// The family of the sink.
    pub fn family(&self) -> SinkFamily {
        match self {
            Self::Snapshot(_) => SinkFamily::Snapshot,
            Self::Database(_) => SinkFamily::Database,
            Self::Event(_) => SinkFamily::Event,
        }
    }

    /// The backend type (`spec.type`).
    pub fn sink_type(&self) -> SinkType {
        match self {
            Self::Snapshot(spec) => spec.sink_type.into(),
            Self::Database(spec) => spec.sink_type.into(),
            Self::Event(spec) => spec.sink_type.into(),
        }
    }

    /// The fields every family shares.
    pub fn common(&self) -> &SinkCommonSpec {
        match self {
            Self::Snapshot(spec) => &spec.common,
            Self::Database(spec) => &spec.common,
            Self::Event(spec) => &spec.common,
        }
    }
}

/// Secret data resolved by the controller, key → bytes. `Debug` lists the keys only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(BTreeMap<String, Vec<u8>>);

impl Secrets {
    /// Secret data from a Secret's `data` map.
    pub fn new(data: BTreeMap<String, Vec<u8>>) -> Self {
        Self(data)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.0.get(key).map(Vec::as_slice)
    }

    /// The first of `keys` whose value is not empty (sinks spec §2.5 fallback chains such as
    /// `dsn`, `url`, `connectionString`).
    pub fn first_non_empty(&self, keys: &[&str]) -> Option<&[u8]> {
        keys.iter()
            .filter_map(|key| self.get(key))
            .find(|value| !value.is_empty())
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// A sink object ready to build: its identity and spec, with Secrets and CA material already
/// read by the controller (sinks never read Secrets).
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedSinkSpec {
    id: SinkId,
    uid: Option<String>,
    spec: SinkSpec,
    secrets: Secrets,
    ca_bundle: Option<Vec<u8>>,
}

impl ResolvedSinkSpec {
    /// The sink `name` in `namespace` with `spec`; the family comes from the spec.
    pub fn new(namespace: NamespaceName, name: ObjectName, spec: SinkSpec) -> Self {
        Self {
            id: SinkId::new(namespace, spec.family(), name),
            uid: None,
            spec,
            secrets: Secrets::default(),
            ca_bundle: None,
        }
    }

    /// The sink object's `metadata.uid`.
    #[must_use]
    pub fn with_uid(mut self, uid: impl Into<String>) -> Self {
        self.uid = Some(uid.into());
        self
    }

    /// The resolved credentials.
    #[must_use]
    pub fn with_secrets(mut self, secrets: Secrets) -> Self {
        self.secrets = secrets;
        self
    }

    /// The resolved PEM CA bundle.
    #[must_use]
    pub fn with_ca_bundle(mut self, pem: Vec<u8>) -> Self {
        self.ca_bundle = Some(pem);
        self
    }

    /// The sink's identity (and breaker key).
    pub fn id(&self) -> &SinkId {
        &self.id
    }

    /// The sink object's uid, when known.
    pub fn uid(&self) -> Option<&str> {
        self.uid.as_deref()
    }

    /// The spec.
    pub fn spec(&self) -> &SinkSpec {
        &self.spec
    }

    /// The backend type.
    pub fn sink_type(&self) -> SinkType {
        self.spec.sink_type()
    }

    /// The resolved credentials.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// The resolved CA bundle.
    pub fn ca_bundle(&self) -> Option<&[u8]> {
        self.ca_bundle.as_deref()
    }
}

/// Builds sinks from resolved specs. Implemented in `kollect-sinks`, injected by the bin;
/// controllers only see `dyn SinkFactory`.
pub trait SinkFactory: Send + Sync {
    /// Builds the sink of `spec`. Errors are classified like export errors (DECISIONS D29): a
    /// bad DSN is `Misconfigured`, a refused connection `Unreachable`.
    fn build(&self, spec: &ResolvedSinkSpec) -> Result<Arc<dyn Sink>, SinkError>;
}

/// A [`SinkFactory`] that dispatches on the sink type to the factories registered for it
/// (one per backend compiled in).
#[derive(Clone, Default)]
pub struct SinkRegistry {
    factories: BTreeMap<SinkType, Arc<dyn SinkFactory>>,
}

impl SinkRegistry {
    /// A registry without backends.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the factory of `sink_type`, replacing any earlier one.
    #[must_use]
    pub fn with(mut self, sink_type: SinkType, factory: Arc<dyn SinkFactory>) -> Self {
        self.factories.insert(sink_type, factory);
        self
    }

    /// The types that have a factory, in [`SinkType::ALL`] order.
    pub fn supported(&self) -> impl Iterator<Item = SinkType> + '_ {
        self.factories.keys().copied()
    }
}

impl fmt::Debug for SinkRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.supported()).finish()
    }
}

impl SinkFactory for SinkRegistry {
    fn build(&self, spec: &ResolvedSinkSpec) -> Result<Arc<dyn Sink>, SinkError> {
        let sink_type = spec.sink_type();
        let Some(factory) = self.factories.get(&sink_type) else {
            let supported: Vec<&str> = self.supported().map(SinkType::as_str).collect();
            return Err(SinkError::misconfigured(format!(
                "unknown sink type \"{sink_type}\" (supported: {})",
                supported.join(", ")
            )));
        };
        let sink = factory.build(spec)?;
        if sink.role() != spec.id().family() {
            return Err(SinkError::misconfigured(format!(
                "the {sink_type} backend built a sink of role {} for sink {}",
                sink.role(),
                spec.id()
            )));
        }
        Ok(sink)
    }
}

/// Conveniences on every [`Sink`].
pub trait SinkExt: Sink + Sized {
    /// Retries retriable failures with back-off.
    fn retrying(self, policy: RetryPolicy) -> Retrying<Self> {
        Retrying::new(self, policy)
    }

    /// Bounds every call.
    fn timed(self, timeouts: Timeouts) -> Timed<Self> {
        Timed::new(self, timeouts)
    }

    /// Fails fast while the breaker of `sink` (shared through `breakers`) is open.
    fn with_breaker(self, breakers: &Breakers, sink: &SinkId) -> CircuitBreaker<Self> {
        breakers.wrap(sink, self)
    }

    /// Records metrics, logs and a span for every call.
    fn instrumented(self, sink_type: SinkType, metrics: &ExportMetrics) -> Instrumented<Self> {
        Instrumented::new(self, sink_type, metrics.clone())
    }

    /// The standard stack, outermost first: metrics and span, circuit breaker, retries,
    /// timeout per attempt. The breaker sees one outcome per export (after retries); metrics
    /// see what the binding saw, open breaker included.
    fn layered(self, layers: &Layers, sink: &SinkId, sink_type: SinkType) -> Arc<dyn Sink> {
        Arc::new(
            self.timed(layers.timeouts)
                .retrying(layers.retry.clone())
                .with_breaker(&layers.breakers, sink)
                .instrumented(sink_type, &layers.metrics),
        )
    }

    /// The sink as a shared trait object, as controllers hold it.
    fn into_dyn(self) -> Arc<dyn Sink> {
        Arc::new(self)
    }
}

impl<S: Sink> SinkExt for S {}

/// What [`SinkExt::layered`] wraps a backend in; one per process, shared by every sink.
#[derive(Clone, Debug, Default)]
pub struct Layers {
    /// Timeouts per attempt.
    pub timeouts: Timeouts,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// The process-wide breaker registry.
    pub breakers: Breakers,
    /// The export metrics.
    pub metrics: ExportMetrics,
}

/// Exports every `(sink, batch)` pair concurrently and returns their outcomes in order
/// (pipeline spec §6.6): a failing binding neither blocks nor rolls back the others. The future
/// runs the exports itself; it spawns nothing.
pub async fn fan_out<'a>(
    jobs: impl IntoIterator<Item = (&'a dyn Sink, &'a ExportBatch)>,
) -> Vec<Result<ExportReceipt, SinkError>> {
    futures::future::join_all(jobs.into_iter().map(|(sink, batch)| sink.export(batch))).await
}
