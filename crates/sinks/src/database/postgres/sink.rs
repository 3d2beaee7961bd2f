//! [`PostgresSink`]: one transaction per export, incremental by default (ADR 0011).

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures::future::try_join_all;
use kollect_api::v1alpha1::ProvisioningMode;
use kollect_export::{
    ChangeSet, Digest, ExportBatch, ExportReceipt, ResolvedSinkSpec, Sink, SinkError, SinkFactory,
    SinkRole, Snapshot, TargetRow,
};
use sha2::{Digest as _, Sha256};
use tokio_postgres::{
    binary_copy::BinaryCopyInWriter,
    types::{ToSql, Type},
};
use tracing::{Instrument as _, debug, info_span, warn};

use super::{
    config::{Config, quote_ident},
    error::{classify, pool_error},
    sql::{HISTORY_COLUMNS, REQUIRED_COLUMNS, Sql},
    tls,
};
use crate::database::{DatabaseRow, Partition};

/// Change sets smaller than this are written one statement per row (pipelined on one
/// connection); larger ones are copied into a staging table first (sinks spec §11.3).
pub const BULK_THRESHOLD: usize = 32;

/// How long the sink trusts its memory of a partition before it checks the table again (the
/// verify pass, which also runs after a restart, a failed export, or when another writer held
/// the partition's lock).
pub const VERIFY_EVERY: Duration = Duration::from_secs(600);

/// Bound of the probe (DECISIONS D33).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// Connections per sink.
const POOL_SIZE: usize = 4;

/// Builds [`PostgresSink`]s (`type: postgres`).
#[derive(Clone, Debug, Default)]
pub struct PostgresSinkFactory;

impl SinkFactory for PostgresSinkFactory {
    fn build(&self, spec: &ResolvedSinkSpec) -> Result<Arc<dyn Sink>, SinkError> {
        Ok(Arc::new(PostgresSink::new(spec)?))
    }
}

/// The Postgres database sink: the Go original's table (sinks spec §11.2), written one
/// transaction per export, incrementally, with an optional history table.
pub struct PostgresSink {
    config: Config,
    sql: Sql,
    pool: Pool,
    provisioned: tokio::sync::OnceCell<()>,
    partitions: Mutex<HashMap<Partition, Arc<tokio::sync::Mutex<Option<Applied>>>>>,
    label: String,
}

/// What the sink last wrote to a partition, as far as it knows.
struct Applied {
    snapshot: Arc<Snapshot>,
    fingerprint: Digest,
    max_part_bytes: usize,
    verified_at: Instant,
    /// The transaction id of the export, as text: rows written later by anyone else are
    /// younger than it, which the next export checks before trusting this memory.
    xid: String,
}

impl fmt::Display for PostgresSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

impl fmt::Debug for PostgresSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresSink")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// How an export reaches the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    /// The change set since the last export, one statement per row.
    Rows,
    /// The change set since the last export, through the staging table.
    Bulk,
    /// Every row through the staging table, compared with the table server-side: only rows
    /// that differ are written, rows missing from the snapshot deleted.
    Verify,
}

impl Path {
    fn as_str(self) -> &'static str {
        match self {
            Self::Rows => "rows",
            Self::Bulk => "bulk",
            Self::Verify => "verify",
        }
    }
}

/// What one export wrote.
#[derive(Debug, Default)]
struct Written {
    upserted: u64,
    deleted: u64,
    bytes: u64,
}

impl PostgresSink {
    /// A sink for `spec`. Nothing is contacted yet: the table is ensured (or checked, in
    /// `existing` mode) by the first probe or export.
    pub fn new(spec: &ResolvedSinkSpec) -> Result<Self, SinkError> {
        let config = Config::from_spec(spec)?;
        let connector = tls::connector(&config.tls)?;
        if config.tls.insecure_skip_verify {
            warn!(sink = %spec.id(), "spec.tls.insecureSkipVerify: the server certificate is not checked");
        }
        let manager = Manager::from_config(
            config.pg.clone(),
            connector,
            ManagerConfig {
                // A pooled connection the server closed meanwhile (restart, `pg_terminate_backend`)
                // is replaced before use, not handed to the next export.
                recycling_method: RecyclingMethod::Verified,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(30)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|error| SinkError::misconfigured(format!("postgres pool: {error}")))?;
        let label = format!("postgres({}.{})", config.schema, config.table);
        Ok(Self {
            sql: Sql::new(&config),
            config,
            pool,
            provisioned: tokio::sync::OnceCell::new(),
            partitions: Mutex::new(HashMap::new()),
            label,
        })
    }

    /// The DDL an `ensure` sink runs (for previews and docs).
    pub fn expected_ddl(&self) -> String {
        if self.config.history {
            format!("{};\n{};", self.sql.create_table, self.sql.create_history)
        } else {
            format!("{};", self.sql.create_table)
        }
    }

    async fn client(&self, context: &str) -> Result<deadpool_postgres::Object, SinkError> {
        self.pool
            .get()
            .await
            .map_err(|error| pool_error(context, error))
    }

    /// Ensures (or, in `existing` mode, checks) the table, once per sink.
    async fn provision(&self) -> Result<(), SinkError> {
        self.provisioned
            .get_or_try_init(|| async {
                let mut client = self.client("connect postgres").await?;
                if self.config.mode == ProvisioningMode::Ensure {
                    let tx = client
                        .transaction()
                        .await
                        .map_err(|e| classify("postgres ensure table: begin tx", &e))?;
                    // Two sinks creating one table at once would collide in the catalog.
                    let key = lock_key(&["ddl", &self.config.schema, &self.config.table]);
                    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&key])
                        .await
                        .map_err(|e| classify("postgres ensure table: lock", &e))?;
                    tx.batch_execute(&self.sql.create_table)
                        .await
                        .map_err(|e| classify("postgres ensure table", &e))?;
                    if self.config.history {
                        tx.batch_execute(&self.sql.create_history)
                            .await
                            .map_err(|e| classify("postgres ensure history table", &e))?;
                    }
                    tx.commit()
                        .await
                        .map_err(|e| classify("postgres ensure table: commit tx", &e))?;
                }
                self.check_layout(&client, false).await
            })
            .await?;
        Ok(())
    }

    /// Checks that the table (and the history table) exist with the columns the sink writes;
    /// with `allow_missing`, only the tables that exist are checked.
    async fn check_layout(
        &self,
        client: &tokio_postgres::Client,
        allow_missing: bool,
    ) -> Result<(), SinkError> {
        let mut tables = vec![(self.config.table.clone(), self.config.table_ref(), false)];
        if self.config.history {
            tables.push((
                format!(
                    "{}{}",
                    self.config.table,
                    kollect_api::v1alpha1::PostgresSpec::HISTORY_SUFFIX
                ),
                self.config.history_ref(),
                true,
            ));
        }
        for (name, reference, history) in tables {
            let rows = client
                .query(
                    "SELECT column_name::text, data_type::text FROM information_schema.columns \
                     WHERE table_schema = $1 AND table_name = $2",
                    &[&self.config.schema, &name],
                )
                .await
                .map_err(|e| classify("postgres check table", &e))?;
            if rows.is_empty() && allow_missing {
                continue;
            }
            if rows.is_empty() {
                return Err(SinkError::misconfigured(format!(
                    "postgres table {reference} does not exist (provisioning.mode={}){}",
                    self.config.mode.as_str(),
                    if self.config.mode == ProvisioningMode::Existing {
                        ": create it with the DDL of docs/sinks/postgres.md or use mode ensure"
                    } else {
                        ": the sink's user cannot see it"
                    }
                )));
            }
            let found: HashMap<String, String> =
                rows.iter().map(|row| (row.get(0), row.get(1))).collect();
            let required = REQUIRED_COLUMNS
                .iter()
                .filter(|(column, _)| !history || *column != "exported_at");
            let extra = HISTORY_COLUMNS.iter().filter(|_| history);
            for (column, data_type) in required.chain(extra) {
                match found.get(*column) {
                    Some(actual) if actual == data_type => {}
                    Some(actual) => {
                        return Err(SinkError::misconfigured(format!(
                            "postgres table {reference}: column {column} is {actual}, the sink \
                             writes {data_type}"
                        )));
                    }
                    None => {
                        return Err(SinkError::misconfigured(format!(
                            "postgres table {reference} has no column {column} ({data_type}); \
                             see docs/sinks/postgres.md for the layout"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    fn partition_state(&self, partition: &Partition) -> Arc<tokio::sync::Mutex<Option<Applied>>> {
        let mut partitions = self
            .partitions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(partitions.entry(partition.clone()).or_default())
    }

    async fn export_partition(
        &self,
        batch: &ExportBatch,
        partition: &Partition,
        state: &mut Option<Applied>,
    ) -> Result<ExportReceipt, SinkError> {
        let fingerprint = batch.fingerprint().clone();
        let cap = batch.row_cap();
        let known = state.as_ref().filter(|applied| {
            applied.max_part_bytes == batch.max_part_bytes()
                && applied.verified_at.elapsed() < VERIFY_EVERY
        });
        if let Some(applied) = known
            && applied.fingerprint == fingerprint
        {
            debug!(%partition, "unchanged since the last export: nothing to write");
            return Ok(ExportReceipt::unchanged());
        }
        // Rows are encoded and checked against the cap before any statement (DECISIONS Q1).
        let changes = known.map(|applied| ChangeSet::between(&applied.snapshot, batch.snapshot()));
        let upserts: Vec<DatabaseRow<'_>> = match &changes {
            Some(changes) => changes
                .added
                .iter()
                .chain(&changes.updated)
                .map(|item| DatabaseRow::encode(&cap, partition, item))
                .collect::<Result<_, _>>()?,
            None => batch
                .snapshot()
                .items()
                .iter()
                .map(|item| DatabaseRow::encode(&cap, partition, item))
                .collect::<Result<_, _>>()?,
        };
        let removed: &[TargetRow] = changes.as_ref().map_or(&[], |c| c.removed.as_slice());
        let mut path = match &changes {
            None => Path::Verify,
            Some(_) if upserts.len() < BULK_THRESHOLD => Path::Rows,
            Some(_) => Path::Bulk,
        };
        let mut client = self.client("connect postgres").await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| classify("postgres export: begin tx", &e))?;
        let (contended, xid) = self.lock(&tx, partition, known).await?;
        if contended {
            path = Path::Verify;
        }
        let all_rows;
        let upserts = if path == Path::Verify && changes.is_some() {
            all_rows = batch
                .snapshot()
                .items()
                .iter()
                .map(|item| DatabaseRow::encode(&cap, partition, item))
                .collect::<Result<Vec<_>, _>>()?;
            &all_rows
        } else {
            &upserts
        };
        let now = batch.exported_at();
        let written = match path {
            Path::Rows => {
                let mut written = self.upsert_rows(&tx, partition, upserts, now).await?;
                written.deleted = self.delete_keys(&tx, partition, removed, now).await?;
                written
            }
            Path::Bulk => {
                let mut written = self
                    .upsert_staged(&tx, partition, upserts, now, false)
                    .await?;
                written.deleted = self.delete_keys(&tx, partition, removed, now).await?;
                written
            }
            Path::Verify => {
                self.upsert_staged(&tx, partition, upserts, now, true)
                    .await?
            }
        };
        tx.commit()
            .await
            .map_err(|e| classify("postgres export: commit tx", &e))?;
        let verified_at = match (path, known) {
            (Path::Verify, _) | (_, None) => Instant::now(),
            (_, Some(applied)) => applied.verified_at,
        };
        *state = Some(Applied {
            snapshot: Arc::clone(batch.snapshot()),
            fingerprint,
            max_part_bytes: batch.max_part_bytes(),
            verified_at,
            xid,
        });
        tracing::Span::current().record("path", path.as_str());
        Ok(receipt(&written))
    }

    /// Takes the partition's advisory lock in `tx`. Returns whether the table must be verified
    /// rather than trusted to hold our last export (another writer held the lock, or the
    /// partition changed since; `known` is our memory of it, if any), and the transaction's id.
    async fn lock(
        &self,
        tx: &Transaction<'_>,
        partition: &Partition,
        known: Option<&Applied>,
    ) -> Result<(bool, String), SinkError> {
        let key = lock_key(&[
            "export",
            &self.config.schema,
            &self.config.table,
            &partition.namespace,
            &partition.name,
            &partition.cluster,
        ]);
        // The transaction id is assigned now: every row this export writes carries it.
        let row = tx
            .query_one(
                "SELECT pg_try_advisory_xact_lock($1), pg_current_xact_id()::xid::text",
                &[&key],
            )
            .await
            .map_err(|e| classify("postgres export: lock", &e))?;
        let (free, xid): (bool, String) = (row.get(0), row.get(1));
        if !free {
            // Another writer holds this partition: wait for it, then trust the table, not the
            // memory of our last export.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&key])
                .await
                .map_err(|e| classify("postgres export: lock", &e))?;
            debug!(%partition, "another writer held the partition: verifying against the table");
            return Ok((true, xid));
        }
        if let Some(applied) = known
            && !self.untouched_since(tx, partition, applied).await?
        {
            debug!(%partition, "the partition changed since our last export: verifying");
            return Ok((true, xid));
        }
        Ok((false, xid))
    }

    /// Whether the partition still holds exactly what our last export left: as many rows, none
    /// written after it (row versions younger than its transaction id). One scan of the
    /// partition, no write.
    async fn untouched_since(
        &self,
        tx: &Transaction<'_>,
        partition: &Partition,
        applied: &Applied,
    ) -> Result<bool, SinkError> {
        let row = tx
            .query_one(
                &self.sql.stamp,
                &[
                    &partition.namespace,
                    &partition.name,
                    &partition.cluster,
                    &applied.xid,
                ],
            )
            .await
            .map_err(|e| classify("postgres export: check the partition", &e))?;
        let count: i64 = row.get(0);
        let untouched: bool = row.get(1);
        Ok(untouched && usize::try_from(count).ok() == Some(applied.snapshot.len()))
    }

    async fn upsert_rows(
        &self,
        tx: &Transaction<'_>,
        partition: &Partition,
        rows: &[DatabaseRow<'_>],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Written, SinkError> {
        let statement = if self.config.history {
            &self.sql.upsert_one_history
        } else {
            &self.sql.upsert_one
        };
        let statement = tx
            .prepare_typed(
                statement,
                &[
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::JSONB,
                    Type::TIMESTAMPTZ,
                ],
            )
            .await
            .map_err(|e| classify("postgres upsert", &e))?;
        // Sent together: tokio-postgres pipelines the statements on the connection.
        let values: Vec<RowValues<'_>> = rows.iter().map(RowValues::of).collect();
        let params: Vec<[&(dyn ToSql + Sync); 8]> = values
            .iter()
            .map(|row| {
                [
                    &partition.namespace as &(dyn ToSql + Sync),
                    &partition.name,
                    &row.target_name,
                    &row.source_uid,
                    &partition.cluster,
                    &row.resource_namespace,
                    &row.payload,
                    &now,
                ]
            })
            .collect();
        try_join_all(params.iter().map(|p| tx.execute(&statement, p)))
            .await
            .map_err(|e| classify("postgres upsert", &e))?;
        Ok(Written {
            upserted: rows.len() as u64,
            deleted: 0,
            bytes: rows.iter().map(|row| row.payload.len() as u64).sum(),
        })
    }

    /// Copies `rows` into the staging table, then upserts them. With `verify`, rows the
    /// table already holds unchanged are dropped from the staging table first, and the
    /// partition's rows missing from it are deleted.
    async fn upsert_staged(
        &self,
        tx: &Transaction<'_>,
        partition: &Partition,
        rows: &[DatabaseRow<'_>],
        now: chrono::DateTime<chrono::Utc>,
        verify: bool,
    ) -> Result<Written, SinkError> {
        let context = "postgres bulk upsert";
        tx.batch_execute(&self.sql.create_staging)
            .await
            .map_err(|e| classify(&format!("{context}: create staging"), &e))?;
        let sink = tx
            .copy_in(&self.sql.copy_staging)
            .await
            .map_err(|e| classify(&format!("{context}: copy"), &e))?;
        let types = [
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::JSONB,
            Type::TIMESTAMPTZ,
        ];
        let writer = BinaryCopyInWriter::new(sink, &types);
        futures::pin_mut!(writer);
        for row in rows.iter().map(RowValues::of) {
            writer
                .as_mut()
                .write(&[
                    &partition.namespace,
                    &partition.name,
                    &row.target_name,
                    &row.source_uid,
                    &partition.cluster,
                    &row.resource_namespace,
                    &row.payload,
                    &now,
                ])
                .await
                .map_err(|e| classify(&format!("{context}: copy"), &e))?;
        }
        writer
            .finish()
            .await
            .map_err(|e| classify(&format!("{context}: copy"), &e))?;
        let mut written = Written::default();
        if rows.len() >= BULK_THRESHOLD {
            tx.batch_execute(&self.sql.analyze_staging)
                .await
                .map_err(|e| classify(&format!("{context}: index"), &e))?;
        }
        if verify {
            let base: [&(dyn ToSql + Sync); 3] =
                [&partition.namespace, &partition.name, &partition.cluster];
            if self.config.history {
                tx.execute(&self.sql.seed_history, &base)
                    .await
                    .map_err(|e| classify("postgres history: seed", &e))?;
            }
            let mut params = base.to_vec();
            if self.config.history {
                params.push(&now);
            }
            let deleted: i64 = tx
                .query_one(&self.sql.delete_unstaged, &params)
                .await
                .map_err(|e| classify("postgres delete stale", &e))?
                .get(0);
            written.deleted = u64::try_from(deleted).unwrap_or_default();
            tx.execute(&self.sql.prune_unchanged, &[])
                .await
                .map_err(|e| classify(&format!("{context}: compare"), &e))?;
        }
        if self.config.history {
            tx.execute(&self.sql.close_history_staged, &[])
                .await
                .map_err(|e| classify("postgres history: close versions", &e))?;
            tx.execute(&self.sql.open_history_staged, &[])
                .await
                .map_err(|e| classify("postgres history: open versions", &e))?;
        }
        let upserted = tx
            .execute(&self.sql.upsert_staged, &[])
            .await
            .map_err(|e| classify(&format!("{context}: merge"), &e))?;
        written.upserted = upserted;
        // What was sent to the server: every staged row.
        written.bytes = rows.iter().map(|row| row.payload.len() as u64).sum();
        Ok(written)
    }

    async fn delete_keys(
        &self,
        tx: &Transaction<'_>,
        partition: &Partition,
        removed: &[TargetRow],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, SinkError> {
        if removed.is_empty() {
            return Ok(0);
        }
        let targets: Vec<&str> = removed.iter().map(|r| r.target_name.as_ref()).collect();
        let uids: Vec<&str> = removed.iter().map(|r| r.row.uid.as_ref()).collect();
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![
            &partition.namespace,
            &partition.name,
            &partition.cluster,
            &targets,
            &uids,
        ];
        if self.config.history {
            params.push(&now);
        }
        let deleted: i64 = tx
            .query_one(&self.sql.delete_keys, &params)
            .await
            .map_err(|e| classify("postgres delete stale", &e))?
            .get(0);
        Ok(u64::try_from(deleted).unwrap_or_default())
    }
}

fn receipt(written: &Written) -> ExportReceipt {
    if written.upserted == 0 && written.deleted == 0 {
        return ExportReceipt::unchanged();
    }
    ExportReceipt {
        wrote: true,
        parts: 1,
        bytes_written: written.bytes.max(1),
        rows_upserted: written.upserted,
        rows_deleted: written.deleted,
        ..ExportReceipt::default()
    }
}

/// A 64-bit advisory lock key for `parts` (hashed; collisions only serialise unrelated work).
fn lock_key(parts: &[&str]) -> i64 {
    let mut hash = Sha256::new();
    hash.update(b"kollect");
    for part in parts {
        hash.update([0]);
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// The per-row parameters of a row, borrowed.
struct RowValues<'a> {
    target_name: &'a str,
    source_uid: &'a str,
    resource_namespace: &'a str,
    payload: Jsonb<'a>,
}

impl<'a> RowValues<'a> {
    fn of(row: &'a DatabaseRow<'a>) -> Self {
        Self {
            target_name: row.target_name(),
            source_uid: row.source_uid(),
            resource_namespace: row.resource_namespace,
            payload: Jsonb(&row.payload),
        }
    }
}

/// Canonical JSON text sent as `jsonb` without a parse and re-encode on our side.
#[derive(Debug)]
struct Jsonb<'a>(&'a str);

impl ToSql for Jsonb<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        if *ty == Type::JSONB {
            // jsonb's binary format: a version byte, then the text.
            out.extend_from_slice(&[1]);
        }
        out.extend_from_slice(self.0.as_bytes());
        Ok(tokio_postgres::types::IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::JSONB | Type::JSON | Type::TEXT)
    }

    tokio_postgres::types::to_sql_checked!();
}

#[async_trait]
impl Sink for PostgresSink {
    fn role(&self) -> SinkRole {
        SinkRole::Database
    }

    async fn probe(&self) -> Result<(), SinkError> {
        let probe = async {
            let client = self.client("connect postgres").await?;
            client
                .simple_query("SELECT 1")
                .await
                .map_err(|e| classify("postgres ping", &e))?;
            match self.config.mode {
                ProvisioningMode::Existing => self.check_layout(&client, false).await,
                ProvisioningMode::Ensure => {
                    let exists = client
                        .query_opt(
                            "SELECT 1 FROM pg_namespace WHERE nspname = $1",
                            &[&self.config.schema],
                        )
                        .await
                        .map_err(|e| classify("postgres check schema", &e))?;
                    if exists.is_none() {
                        return Err(SinkError::misconfigured(format!(
                            "postgres schema {} does not exist: create it or set \
                             spec.postgres.schema",
                            quote_ident(&self.config.schema)
                        )));
                    }
                    // A table that exists must have the layout the export writes.
                    self.check_layout(&client, true).await
                }
            }
        };
        tokio::time::timeout(PROBE_TIMEOUT, probe)
            .await
            .map_err(|_| {
                SinkError::timeout(format!(
                    "postgres probe did not finish within {}s",
                    PROBE_TIMEOUT.as_secs()
                ))
            })?
    }

    async fn stored(&self, batch: &ExportBatch) -> Result<Option<Vec<TargetRow>>, SinkError> {
        let partition = Partition::of(batch, Some(&self.config.cluster));
        let client = self.client("connect postgres").await?;
        // Read only: a table that does not exist yet holds nothing (it is not created here).
        let exists: bool = client
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL",
                &[&self.config.table_ref()],
            )
            .await
            .map_err(|e| classify("postgres read back", &e))?
            .get(0);
        if !exists {
            return Ok(Some(Vec::new()));
        }
        let rows = client
            .query(
                &format!(
                    "SELECT payload::text FROM {} WHERE inventory_namespace = $1 \
                     AND inventory_name = $2 AND cluster = $3",
                    self.config.table_ref()
                ),
                &[&partition.namespace, &partition.name, &partition.cluster],
            )
            .await
            .map_err(|e| classify("postgres read back", &e))?;
        let mut array = String::from("[");
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                array.push(',');
            }
            array.push_str(row.get::<_, &str>(0));
        }
        array.push(']');
        kollect_export::decode(array.as_bytes())
            .map(|decoded| Some(decoded.items))
            .map_err(|error| {
                SinkError::invalid_payload(format!(
                    "postgres read back: a stored payload is not an export item: {error}"
                ))
            })
    }

    async fn export(&self, batch: &ExportBatch) -> Result<ExportReceipt, SinkError> {
        let partition = Partition::of(batch, Some(&self.config.cluster));
        let span = info_span!(
            "postgres_export",
            sink = %self.label,
            partition = %partition,
            rows = batch.snapshot().len(),
            path = tracing::field::Empty,
        );
        async {
            self.provision().await?;
            let state = self.partition_state(&partition);
            let mut state = state.lock().await;
            let result = self.export_partition(batch, &partition, &mut state).await;
            if result.is_err() {
                // The outcome is unknown (a lost commit acknowledgement looks like a failure):
                // the next export compares with the table.
                *state = None;
            }
            result
        }
        .instrument(span)
        .await
    }
}
