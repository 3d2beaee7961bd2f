//! [`MongoDbSink`]: the [`Sink`] of `mongodb` database sinks, and [`MongoDbSinkFactory`], which
//! builds it from a resolved spec.
//!
//! One export:
//!
//! ```text
//!  lock the partition          one export of a partition at a time (per sink)
//!  same fingerprint as its     unchanged: the rows are checked against the byte cap (Q1),
//!   last successful export     nothing is sent (wrote: false)
//!  encode every row            byte cap (Q1), 16 MiB documents: fails before any I/O
//!  first use of the sink       connect, ping, provision (ensure | existing), ≤ 30 s, once
//!  empty snapshot              delete the partition (D14)
//!  otherwise                   read the partition (whole documents after a restart or a
//!                              failure, else keys only) → plan → delete stale documents by
//!                              _id → replace changed documents by _id → insert new ones
//!  success                     remember the fingerprint and every row's content hash
//! ```

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use kollect_api::v1alpha1::ProvisioningMode;
use kollect_export::{
    Digest, ExportBatch, ExportReceipt, ResolvedSinkSpec, Sink, SinkError, SinkFactory,
    SinkRegistry, SinkRole, SinkType, TargetRow,
};
use tokio::sync::OnceCell;
use tracing::Instrument as _;

use super::{
    client::{Connection, WriteKind},
    config::Config,
    encode::{
        self, Command, EncodedRow, RowKey, WriteError, WriteReply, delete_all_command,
        insert_commands, replace_statement, stale_delete_commands, update_commands,
    },
    error::{Error, Kind},
};
use crate::database::Partition;

/// How long a probe may take (DECISIONS D33; the Go original's MongoDB probe used 15 s too).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// How long connecting, `ping` and provisioning may take on first use (sinks spec §12.1: 30 s
/// when the caller sets no deadline).
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A MongoDB collection holding the current rows of every inventory exported to it, one
/// document per item (sinks spec §12).
pub struct MongoDbSink {
    config: Config,
    connection: OnceCell<Connection>,
    provisioned: OnceCell<()>,
    partitions: Mutex<HashMap<Partition, Arc<tokio::sync::Mutex<Memory>>>>,
}

/// What the sink knows about a partition after its last successful export: the snapshot's
/// fingerprint, and the content hash of every document it holds. Forgotten when an export
/// fails (the next one reads the partition whole).
#[derive(Default)]
struct Memory {
    fingerprint: Option<Digest>,
    rows: Option<HashMap<RowKey, u64>>,
}

/// What an export sent.
#[derive(Debug, Default)]
struct Outcome {
    commands: u64,
    bytes: u64,
    upserted: u64,
    deleted: u64,
}

impl Outcome {
    fn receipt(&self) -> ExportReceipt {
        if self.commands == 0 {
            return ExportReceipt::unchanged();
        }
        ExportReceipt {
            wrote: true,
            parts: 1,
            bytes_written: self.bytes,
            rows_upserted: self.upserted,
            rows_deleted: self.deleted,
            ..ExportReceipt::default()
        }
    }
}

impl MongoDbSink {
    /// The sink of `config`. Nothing is connected until the first probe or export.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            connection: OnceCell::new(),
            provisioned: OnceCell::new(),
            partitions: Mutex::default(),
        }
    }

    /// The sink's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    async fn connection(&self) -> Result<&Connection, SinkError> {
        self.connection
            .get_or_try_init(|| Connection::open(&self.config))
            .await
            .map_err(SinkError::from)
    }

    /// The connection, provisioned once (sinks spec §12.2), within [`SETUP_TIMEOUT`]. A failed
    /// provisioning is tried again on the next call; `existing` mode creates nothing.
    async fn ready(&self) -> Result<&Connection, SinkError> {
        let setup = async {
            let connection = self.connection().await?;
            self.provisioned
                .get_or_try_init(|| async {
                    connection.ping().await?;
                    match self.config.provisioning_mode() {
                        ProvisioningMode::Existing => connection.verify().await,
                        ProvisioningMode::Ensure => connection.ensure().await,
                    }
                })
                .await
                .map_err(SinkError::from)?;
            Ok::<_, SinkError>(connection)
        };
        tokio::time::timeout(SETUP_TIMEOUT, setup)
            .await
            .unwrap_or_else(|_| {
                Err(Error::Deadline {
                    what: "connect, ping and provisioning",
                    seconds: SETUP_TIMEOUT.as_secs(),
                }
                .into_sink_error())
            })
    }

    fn memory_of(&self, partition: &Partition) -> Arc<tokio::sync::Mutex<Memory>> {
        let mut partitions = self
            .partitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(partitions.entry(partition.clone()).or_default())
    }

    async fn export_partition(
        &self,
        batch: &ExportBatch,
        partition: Partition,
    ) -> Result<ExportReceipt, SinkError> {
        // One export per partition at a time: the memory is the partition's state.
        let memory = self.memory_of(&partition);
        let mut memory = memory.lock().await;
        if memory.fingerprint.as_ref() == Some(batch.fingerprint()) {
            // The rows are still held to this binding's byte cap (Q1), which may have changed.
            check_snapshot(batch, &partition).await?;
            tracing::debug!(partition = %partition, "Export unchanged; nothing written.");
            return Ok(ExportReceipt::unchanged());
        }
        let rows = encode_snapshot(batch, &partition).await?;
        let known = memory.rows.take();
        memory.fingerprint = None;
        let outcome = self.write(&partition, &rows, known.as_ref()).await?;
        *memory = Memory {
            fingerprint: Some(batch.fingerprint().clone()),
            rows: Some(encode::memory_of(&rows)),
        };
        tracing::debug!(
            partition = %partition,
            commands = outcome.commands,
            bytes = outcome.bytes,
            upserted = outcome.upserted,
            deleted = outcome.deleted,
            "Export written."
        );
        Ok(outcome.receipt())
    }

    /// Makes the partition hold exactly `rows`, sending only what differs from what it holds.
    async fn write(
        &self,
        partition: &Partition,
        rows: &[EncodedRow],
        known: Option<&HashMap<RowKey, u64>>,
    ) -> Result<Outcome, SinkError> {
        let connection = self.ready().await?;
        let collection = self.config.collection();
        let concern = connection.write_concern();
        let mut outcome = Outcome::default();
        if rows.is_empty() {
            let command = delete_all_command(collection, partition, concern);
            let reply = outcome
                .send(connection, WriteKind::DeleteAll, command)
                .await?;
            outcome.deleted += reply.n;
            return Ok(outcome);
        }
        let stored = connection
            .read_partition(partition, known.is_none())
            .await?;
        let plan = encode::plan(rows, &stored, known);
        tracing::debug!(
            partition = %partition,
            stored = stored.len(),
            whole = known.is_none(),
            deletes = plan.deletes.len(),
            replaces = plan.replaces.len(),
            inserts = plan.inserts.len(),
            "Export planned."
        );
        for command in stale_delete_commands(collection, partition, &plan.deletes, concern) {
            // Fewer deleted than asked: another writer deleted them first, as wanted.
            let reply = outcome
                .send(connection, WriteKind::DeleteStale, command)
                .await?;
            outcome.deleted += reply.n;
        }
        let replaces: Vec<_> = plan
            .replaces
            .iter()
            .map(|(index, id)| replace_statement(partition, &rows[*index], id))
            .collect();
        for command in update_commands(collection, replaces.iter().map(AsRef::as_ref), concern) {
            let statements = command.statements as u64;
            let reply = outcome.send(connection, WriteKind::Upsert, command).await?;
            outcome.upserted += reply.n;
            if reply.n < statements {
                return Err(connection
                    .partition_changed(partition, "a document to replace")
                    .into_sink_error());
            }
        }
        let documents = plan
            .inserts
            .iter()
            .map(|&index| rows[index].document.as_ref());
        let mut offset = 0;
        for command in insert_commands(collection, documents, concern) {
            let statements = command.statements;
            let reply = outcome
                .send_unchecked(connection, WriteKind::Upsert, command)
                .await?;
            outcome.upserted += reply.n;
            if let Some(error) = reply.error {
                let row = error
                    .index
                    .and_then(|index| plan.inserts.get(offset + index))
                    .map(|&index| &rows[index]);
                return Err(refused_insert(connection, partition, row, error).await);
            }
            offset += statements;
        }
        Ok(outcome)
    }
}

/// The error of a refused insert. A duplicate key is another cluster's document of the same
/// inventory, target and uid (terminal, sinks spec §12.5) — unless the partition itself holds
/// the key now: then another writer inserted it after the partition was read, and a new
/// attempt replaces it (transient `Conflict`).
async fn refused_insert(
    connection: &Connection,
    partition: &Partition,
    row: Option<&EncodedRow>,
    error: WriteError,
) -> SinkError {
    if Kind::of_code(error.code) == Kind::DuplicateKey
        && let Some(row) = row
    {
        match connection.holds(partition, &row.key).await {
            Ok(true) => {
                return connection
                    .partition_changed(partition, "a document to insert")
                    .into_sink_error();
            }
            Ok(false) => {}
            Err(check) => return check.into_sink_error(),
        }
    }
    connection
        .refused(WriteKind::Upsert, error)
        .into_sink_error()
}

impl Outcome {
    /// Sends one write command, counting it and its bytes; a refused statement fails it.
    async fn send(
        &mut self,
        connection: &Connection,
        kind: WriteKind,
        command: Command,
    ) -> Result<WriteReply, SinkError> {
        let mut reply = self.send_unchecked(connection, kind, command).await?;
        match reply.error.take() {
            Some(error) => Err(connection.refused(kind, error).into_sink_error()),
            None => Ok(reply),
        }
    }

    /// Sends one write command, counting it and its bytes; the reply may hold a refusal.
    async fn send_unchecked(
        &mut self,
        connection: &Connection,
        kind: WriteKind,
        command: Command,
    ) -> Result<WriteReply, SinkError> {
        self.commands += 1;
        self.bytes += command.document.as_bytes().len() as u64;
        Ok(connection.write(kind, command.document).await?)
    }
}

/// Encodes the batch's rows on a blocking thread (a 10 000-row snapshot is a few megabytes of
/// BSON); fails with `PayloadTooLarge` before anything is sent.
async fn encode_snapshot(
    batch: &ExportBatch,
    partition: &Partition,
) -> Result<Vec<EncodedRow>, SinkError> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let snapshot = Arc::clone(batch.snapshot());
    let (partition, cap, exported_at) = (partition.clone(), batch.row_cap(), batch.exported_at());
    let (rows, duplicates) = tokio::task::spawn_blocking(move || {
        encode::encode_rows(snapshot.items(), &partition, &cap, exported_at)
    })
    .await
    .map_err(|error| Error::EncoderTask(error).into_sink_error())??;
    if duplicates > 0 {
        tracing::warn!(
            inventory = %batch.inventory(),
            duplicates,
            "Items share a target name and uid; one document is kept for each (the last)."
        );
    }
    Ok(rows)
}

/// Checks every row of the batch against its byte cap without encoding documents (an
/// unchanged export): `PayloadTooLarge` as [`encode_snapshot`] would fail.
async fn check_snapshot(batch: &ExportBatch, partition: &Partition) -> Result<(), SinkError> {
    let snapshot = Arc::clone(batch.snapshot());
    let (partition, cap) = (partition.clone(), batch.row_cap());
    tokio::task::spawn_blocking(move || encode::check_rows(snapshot.items(), &partition, &cap))
        .await
        .map_err(|error| Error::EncoderTask(error).into_sink_error())?
}

impl fmt::Display for MongoDbSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.config.fmt(f)
    }
}

impl fmt::Debug for MongoDbSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoDbSink")
            .field("config", &self.config)
            .field("connected", &self.connection.initialized())
            .field("provisioned", &self.provisioned.initialized())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Sink for MongoDbSink {
    fn role(&self) -> SinkRole {
        SinkRole::Database
    }

    /// Connects and pings within [`PROBE_TIMEOUT`]; in `existing` mode also checks that the
    /// collection exists. Writes nothing and creates nothing.
    async fn probe(&self) -> Result<(), SinkError> {
        let span = tracing::debug_span!("mongodb_probe", sink = %self);
        let probe = async {
            let connection = self.connection().await?;
            connection.ping().await?;
            if self.config.provisioning_mode() == ProvisioningMode::Existing {
                connection.verify().await?;
            }
            Ok::<_, SinkError>(())
        };
        tokio::time::timeout(PROBE_TIMEOUT, probe)
            .instrument(span)
            .await
            .unwrap_or_else(|_| {
                Err(Error::Deadline {
                    what: "probe",
                    seconds: PROBE_TIMEOUT.as_secs(),
                }
                .into_sink_error())
            })
    }

    /// The rows the partition of `batch` holds, decoded from the payloads; connects (once) but
    /// neither provisions nor writes: a missing collection holds nothing.
    async fn stored(&self, batch: &ExportBatch) -> Result<Option<Vec<TargetRow>>, SinkError> {
        let partition = Partition::of(batch, self.config.cluster());
        let connection = self.connection().await?;
        let payloads = connection.read_payloads(&partition).await?;
        encode::rows_of(payloads)
            .map(Some)
            .map_err(|reason| SinkError::invalid_payload(format!("mongodb read back: {reason}")))
    }

    async fn export(&self, batch: &ExportBatch) -> Result<ExportReceipt, SinkError> {
        let partition = Partition::of(batch, self.config.cluster());
        let span = tracing::info_span!(
            "mongodb_export",
            sink = %self,
            inventory = %batch.inventory(),
            generation = batch.generation(),
            cluster = %partition.cluster,
            rows = batch.snapshot().len(),
        );
        self.export_partition(batch, partition)
            .instrument(span)
            .await
    }
}

/// Builds [`MongoDbSink`]s (`spec.type: mongodb`).
#[derive(Clone, Copy, Debug, Default)]
pub struct MongoDbSinkFactory;

impl MongoDbSinkFactory {
    /// The factory.
    pub fn new() -> Self {
        Self
    }

    /// Builds the sink of `spec` with its configuration parsed (no I/O).
    pub fn build_mongodb(&self, spec: &ResolvedSinkSpec) -> Result<MongoDbSink, SinkError> {
        let config = Config::from_spec(spec)?;
        if config.tls().insecure_skip_verify() {
            tracing::warn!(
                sink = %spec.id(),
                "TLS certificate verification is disabled for this sink; use only for development."
            );
        }
        Ok(MongoDbSink::new(config))
    }

    /// `registry` with this factory registered for `mongodb`.
    pub fn register(self, registry: SinkRegistry) -> SinkRegistry {
        registry.with(SinkType::Mongodb, Arc::new(self))
    }
}

impl SinkFactory for MongoDbSinkFactory {
    fn build(&self, spec: &ResolvedSinkSpec) -> Result<Arc<dyn Sink>, SinkError> {
        Ok(Arc::new(self.build_mongodb(spec)?))
    }
}
